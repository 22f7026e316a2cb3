//! Issue 16.2, deterministically: a prepared header whose batch reached one honest replica
//! that later overwrote it (a later-view proposal for the same height) and a Byzantine one that
//! withholds it, while the only other holder crashed and lost its memory. Before the fix the new
//! primaries re-proposed the prepared header, the replicas voted for it without its batch, and
//! delivery waited forever on a fetch nobody could answer. Now the batch was persisted before
//! the votes on it, is kept by header hash (not by slot), and is served to whoever lacks it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::VecDeque;

use itc_crypto::quorum::{Validator, ValidatorSet};
use itc_crypto::{Hash, SecretKey, Signature, Signer};
use itc_pbft::cluster::{test_key, Application, HashChainApp};
use itc_pbft::message::ViewChange;
use itc_pbft::{
    Action, CertifiedBlock, ChainGenesis, ChainTip, ClientId, Config, Message, Replica, Request,
    SafetyRecord,
};

const BYZANTINE: usize = 3;

struct Net {
    keys: Vec<SecretKey>,
    set: ValidatorSet,
    genesis: ChainGenesis,
    nodes: Vec<Replica<SecretKey>>,
    records: Vec<SafetyRecord>,
    apps: Vec<HashChainApp>,
    blocks: Vec<Vec<CertifiedBlock>>,
    inbox: VecDeque<(usize, usize, Message)>,
    fetches: VecDeque<(usize, usize, u64, u64)>,
    now: u64,
}

fn config() -> Config {
    Config {
        batch_delay_ms: 0,
        ..Config::default()
    }
}

impl Net {
    fn new() -> Self {
        let mut keys: Vec<SecretKey> = (0..4).map(|i| test_key(i).unwrap()).collect();
        let set = ValidatorSet::new(keys.iter().map(|k| Validator {
            key: k.public_key(),
            power: 1,
        }))
        .unwrap();
        keys.sort_by_key(|k| set.index_of(&k.public_key()));
        let genesis = ChainGenesis {
            validators: set.clone(),
            state_root: Hash::ZERO,
            timestamp_ms: 0,
        };
        let nodes = keys
            .iter()
            .map(|k| Replica::new(config(), k.clone(), &genesis).unwrap())
            .collect();
        Net {
            keys,
            set,
            genesis,
            nodes,
            records: vec![SafetyRecord::default(); 4],
            apps: vec![HashChainApp::default(); 4],
            blocks: vec![Vec::new(); 4],
            inbox: VecDeque::new(),
            fetches: VecDeque::new(),
            now: 10,
        }
    }

    /// Carries out node `i`'s actions as its integrator.
    fn flush(&mut self, i: usize) {
        loop {
            let actions = self.nodes[i].take_actions();
            if actions.is_empty() {
                return;
            }
            for a in actions {
                match a {
                    Action::Persist(f) => self.records[i].apply(&f),
                    Action::Broadcast(m) => {
                        for j in (0..4).filter(|j| *j != i) {
                            self.inbox.push_back((i, j, m.clone()));
                        }
                    }
                    Action::Send { to, message } => {
                        let j = self.set.index_of(&to).unwrap();
                        self.inbox.push_back((i, j, message));
                    }
                    Action::Commit(b) => {
                        let executed = self.apps[i].execute(&b);
                        self.blocks[i].push(b);
                        self.nodes[i].handle_executed(executed).unwrap();
                    }
                    Action::Fetch { peer, from, to } => {
                        let p = self.set.index_of(&peer).unwrap();
                        self.fetches.push_back((i, p, from, to));
                    }
                    _ => {}
                }
            }
        }
    }

    /// Delivers queued messages that `pass` lets through (the others are lost), and serves
    /// fetches from every honest block store, until nothing moves.
    fn run(&mut self, mut pass: impl FnMut(usize, usize, &Message) -> bool) {
        loop {
            if let Some((from, to, m)) = self.inbox.pop_front() {
                if pass(from, to, &m) {
                    let _ = self.nodes[to].handle_message(m, self.now);
                    self.flush(to);
                }
            } else if let Some((requester, peer, from, to)) = self.fetches.pop_front() {
                if peer == BYZANTINE {
                    continue; // withholds
                }
                let blocks: Vec<CertifiedBlock> = self.blocks[peer]
                    .iter()
                    .filter(|b| (from..=to).contains(&b.header.height))
                    .cloned()
                    .collect();
                for b in blocks {
                    let _ = self.nodes[requester].handle_fetched_block(b, self.now);
                    self.flush(requester);
                }
            } else {
                return;
            }
        }
    }

    fn tick(&mut self, nodes: &[usize]) {
        self.now += 70_000;
        for &i in nodes {
            let _ = self.nodes[i].handle_timeout(self.now);
            self.flush(i);
        }
    }

    fn request(&mut self, nodes: &[usize], r: &Request) {
        for &i in nodes {
            let _ = self.nodes[i].handle_request(r.clone(), self.now);
            self.flush(i);
        }
    }

    /// The Byzantine validator's view-change: valid, but it hides the certificate it holds.
    fn lying_view_change(&self, new_view: u64) -> Message {
        let mut vc = ViewChange {
            new_view,
            checkpoint: None,
            prepared: vec![],
            sender: BYZANTINE as u16,
            signature: Signature([0; 64]),
        };
        vc.signature = self.keys[BYZANTINE].sign_digest(&vc.digest()).unwrap();
        Message::ViewChange(vc)
    }
}

#[test]
fn a_prepared_header_whose_batch_was_overwritten_withheld_and_lost_still_commits() {
    let mut net = Net::new();
    let r1 = Request::new(ClientId(1), 1, b"unlock door 7".to_vec());

    // View 0 (primary 0, honest): the proposal of H reaches backups 1 and 3 only; prepares
    // reach the primary only, commits nobody. Replica 0 is prepared (certificate), replica 1
    // voted for H without becoming prepared, the Byzantine 3 is prepared and will hide it.
    net.request(&[0], &r1);
    net.run(|from, to, m| match m {
        Message::PrePrepare { .. } => to == 1 || to == 3,
        Message::Prepare(_) => to == 0 && (from == 1 || from == 3),
        _ => false,
    });
    assert!(net.blocks.iter().all(Vec::is_empty));

    // View 1 (primary 1): replica 0 is cut off; replicas 1 and 2 time out, the Byzantine one
    // joins with a view-change that hides its certificate. No certificate at height 1 in the
    // quorum, so replica 1 proposes a fresh header at height 1: before the fix this overwrote
    // H's batch in its only slot. That proposal is lost.
    net.request(&[1, 2], &r1);
    net.tick(&[1, 2]);
    let lie = net.lying_view_change(1);
    net.inbox.push_back((BYZANTINE, 1, lie.clone()));
    net.inbox.push_back((BYZANTINE, 2, lie));
    // (Only the Byzantine replica's lie leaves it: it was never ticked.)
    net.run(|from, to, m| {
        from != 0
            && to != 0
            && to != BYZANTINE
            && matches!(m, Message::ViewChange(_) | Message::NewView(_))
    });
    assert!(net.nodes[1].is_view_active() && net.nodes[1].view() == 1);

    // Replica 0 crashes: only its durable record survives (before the fix: no batch).
    let tip = ChainTip {
        header: net.genesis.header(),
        state_root: net.genesis.state_root,
        validators: net.set.clone(),
        epochs: Vec::new(),
        scheduled: None,
    };
    net.nodes[0] =
        Replica::restore(config(), net.keys[0].clone(), net.records[0].clone(), tip).unwrap();
    net.flush(0);
    net.request(&[0], &r1);

    // From now on the network is reliable among the honest replicas, and the Byzantine one
    // answers nobody (no batch, no block). The primaries of the next views re-propose H.
    for _ in 0..12 {
        net.tick(&[0, 1, 2]);
        net.run(|from, to, _| from != BYZANTINE && to != BYZANTINE);
        if (0..3).all(|i| !net.blocks[i].is_empty()) {
            break;
        }
    }
    for i in 0..3 {
        let b = net.blocks[i].first().unwrap_or_else(|| {
            panic!(
                "replica {i} never delivered height 1 (views {:?})",
                net.nodes.iter().map(|r| r.view()).collect::<Vec<_>>()
            )
        });
        assert_eq!(b.header.height, 1);
        assert_eq!(b.batch.requests(), std::slice::from_ref(&r1));
        assert_eq!(b.header.view, 0, "the header prepared in view 0 committed");
    }
}

#[test]
fn batch_requests_get_typed_errors_and_are_rate_limited_per_peer() {
    use itc_pbft::message::BatchRequest;
    use itc_pbft::PbftError;
    let mut net = Net::new();
    let r1 = Request::new(ClientId(1), 1, b"lamp on".to_vec());
    net.request(&[0, 1, 2, 3], &r1);
    net.run(|_, _, _| true);
    assert!(net.blocks.iter().all(|b| b.len() == 1));
    let block = net.blocks[1][0].clone();
    let request = |net: &Net, sender: u16, hash: Hash, key: usize| {
        let mut r = BatchRequest {
            height: 1,
            header_hash: hash,
            sender,
            signature: Signature([0; 64]),
        };
        r.signature = net.keys[key].sign_digest(&r.digest()).unwrap();
        Message::BatchRequest(r)
    };
    let hash = block.header.hash();
    let now = net.now;
    let served = |net: &mut Net| {
        net.nodes[1].take_actions().into_iter().any(|a| {
            matches!(a, Action::Send { message: Message::BatchResponse { header, ref batch }, .. }
                if header == block.header && *batch == block.batch)
        })
    };
    // A committed (or prepared) batch is served to whoever asks, signed.
    let good = request(&net, 2, hash, 2);
    assert_eq!(net.nodes[1].handle_message(good.clone(), now), Ok(()));
    assert!(served(&mut net));
    // Bad inputs: typed errors, nothing served.
    let table = [
        (request(&net, 2, hash, 3), PbftError::InvalidSignature(2)),
        (
            request(&net, 2, Hash([7; 32]), 2),
            PbftError::UnknownBatch(1),
        ),
        (request(&net, 9, hash, 2), PbftError::UnknownSender(9)),
        (request(&net, 1, hash, 1), PbftError::Duplicate),
        (
            Message::BatchResponse {
                header: block.header,
                batch: block.batch.clone(),
            },
            PbftError::UnexpectedBatch,
        ),
    ];
    for (m, want) in table {
        assert_eq!(net.nodes[1].handle_message(m, now), Err(want));
        assert!(!served(&mut net));
    }
    // The serve budget: `max_batch_serves_per_peer` per peer and fetch interval.
    for _ in 1..config().max_batch_serves_per_peer {
        assert_eq!(net.nodes[1].handle_message(good.clone(), now), Ok(()));
    }
    assert_eq!(
        net.nodes[1].handle_message(good.clone(), now),
        Err(PbftError::BatchServeLimit(2))
    );
    let _ = net.nodes[1].take_actions();
    // Another peer has its own budget; the next interval refills it.
    let from_3 = request(&net, 3, hash, 3);
    assert_eq!(net.nodes[1].handle_message(from_3, now), Ok(()));
    let later = now + config().fetch_timeout_ms;
    assert_eq!(net.nodes[1].handle_message(good, later), Ok(()));
    assert!(served(&mut net));
}
