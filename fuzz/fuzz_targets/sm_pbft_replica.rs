//! A 4-replica PBFT network under a fuzzer-chosen schedule: honest messages are delivered,
//! dropped, duplicated and reordered, while arbitrary bytes from "arbitrary peers" are injected
//! (signatures are forgeable in fuzz builds, so injected bytes can speak for any validator).
//!
//! Replicas 1 and 3 check votes with `VoteCheck::AtQuorum` (held, then batch-checked), 0 and 2
//! with `OnArrival`, so both paths meet every schedule. `Restart` crashes a replica and brings
//! it back with `Replica::restore` from what its `Persist` actions made durable.
//!
//! Invariants: no panic; every replica's committed height only moves forward, one block at a
//! time (also across a restart), and its last committed header never changes at a height it
//! already committed; logs, buffers and pending queues stay bounded.
#![no_main]
use std::collections::{BTreeMap, VecDeque};

use arbitrary::Arbitrary;
use itc_crypto::quorum::{Validator, ValidatorSet};
use itc_crypto::{Encode, Hash, PublicKey, SecretKey};
use itc_pbft::cluster::{test_key, Application, HashChainApp};
use itc_pbft::request::ClientId;
use itc_pbft::{
    Action, CertifiedBlock, ChainTip, Config, ChainGenesis, Message, Replica, Request, SafetyRecord,
    VoteCheck,
};
use libfuzzer_sys::fuzz_target;

const N: usize = 4;
const MAX_QUEUE: usize = 4096;

#[derive(Arbitrary, Debug)]
enum Op {
    Deliver(u16),
    Drop(u16),
    Duplicate(u16),
    Inject {
        to: u8,
        bytes: Vec<u8>,
    },
    /// Re-inject a queued honest message, re-encoded with one byte changed.
    Mutate {
        index: u16,
        at: u16,
        xor: u8,
    },
    Tick {
        node: u8,
        advance_ms: u16,
    },
    Submit {
        node: u8,
        client: u8,
        id: u8,
        payload: Vec<u8>,
    },
    DeliverAll,
    /// Crash and restore a replica from its durable record and its last committed block.
    Restart(u8),
}

struct Node {
    key: SecretKey,
    config: Config,
    record: SafetyRecord,
    replica: Replica<SecretKey>,
    app: HashChainApp,
    height: u64,
    headers: BTreeMap<u64, Hash>,
    blocks: Vec<CertifiedBlock>,
}

struct Net {
    genesis: ChainGenesis,
    nodes: Vec<Node>,
    keys: Vec<PublicKey>,
    queue: VecDeque<(usize, Message)>,
    now: u64,
}

impl Net {
    fn new() -> Option<Self> {
        static KEYS: std::sync::OnceLock<Vec<SecretKey>> = std::sync::OnceLock::new();
        let keys =
            itc_fuzz::cached_keys(&KEYS, || (0..N).filter_map(|i| test_key(i).ok()).collect());
        if keys.len() != N {
            return None;
        }
        let keys: Vec<SecretKey> = keys.to_vec();
        let set = ValidatorSet::new(keys.iter().map(|k| Validator {
            key: k.public_key(),
            power: 1,
        }))
        .ok()?;
        let genesis = ChainGenesis {
            validators: set.clone(),
            state_root: Hash::ZERO,
            timestamp_ms: 0,
        };
        let config = Config {
            batch_delay_ms: 0,
            checkpoint_interval: 4,
            window: 16,
            ..Config::default()
        };
        let mut keys = keys;
        keys.sort_by_key(|k| set.index_of(&k.public_key()));
        let pubs = keys.iter().map(|k| k.public_key()).collect();
        let nodes = keys
            .into_iter()
            .enumerate()
            .map(|(i, k)| {
                let config = Config {
                    vote_check: if i % 2 == 1 {
                        VoteCheck::AtQuorum
                    } else {
                        VoteCheck::OnArrival
                    },
                    ..config
                };
                Replica::new(config, k.clone(), &genesis)
                    .ok()
                    .map(|replica| Node {
                        key: k,
                        config,
                        record: SafetyRecord::default(),
                        replica,
                        app: HashChainApp::default(),
                        height: 0,
                        headers: BTreeMap::new(),
                        blocks: Vec::new(),
                    })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Net {
            genesis,
            nodes,
            keys: pubs,
            queue: VecDeque::new(),
            now: 1,
        })
    }

    fn push(&mut self, to: usize, m: Message) {
        if self.queue.len() >= MAX_QUEUE {
            self.queue.pop_front();
        }
        self.queue.push_back((to, m));
    }

    fn process(&mut self, i: usize) {
        for _round in 0..64 {
            let actions: Vec<Action> = match self.nodes.get_mut(i) {
                Some(n) => n.replica.drain_actions().collect(),
                None => return,
            };
            if actions.is_empty() {
                return;
            }
            for a in actions {
                self.carry_out(i, a);
            }
        }
    }

    /// Crash-restart: everything not persisted is lost.
    fn restart(&mut self, i: usize) {
        let validators = self.genesis.validators.clone();
        let genesis_tip = ChainTip {
            header: self.genesis.header(),
            state_root: self.genesis.state_root,
            validators: validators.clone(),
            epochs: Vec::new(),
            scheduled: None,
        };
        let Some(n) = self.nodes.get_mut(i) else {
            return;
        };
        let tip = match n.blocks.last() {
            Some(b) => ChainTip {
                header: b.header,
                state_root: n.app.root,
                validators,
                epochs: Vec::new(),
                scheduled: None,
            },
            None => genesis_tip,
        };
        let restored = Replica::restore(n.config, n.key.clone(), n.record.clone(), tip)
            .expect("a replica restores from its own durable record");
        assert_eq!(restored.last_committed().height, n.height);
        n.replica = restored;
        self.process(i);
    }

    fn carry_out(&mut self, i: usize, a: Action) {
        match a {
            Action::Persist(fact) => {
                if let Some(n) = self.nodes.get_mut(i) {
                    n.record.apply(&fact);
                }
            }
            Action::Send { to, message } => {
                if let Some(j) = self.keys.iter().position(|k| *k == to) {
                    self.push(j, message);
                }
            }
            Action::Broadcast(message) => {
                for j in (0..N).filter(|j| *j != i) {
                    self.push(j, message.clone());
                }
            }
            Action::Commit(block) => {
                let Some(n) = self.nodes.get_mut(i) else {
                    return;
                };
                let h = block.header.height;
                assert_eq!(
                    h,
                    n.height + 1,
                    "replica {i} committed height {h} after {}",
                    n.height
                );
                let executed = n.app.execute(&block);
                n.height = h;
                n.headers.insert(h, block.header.hash());
                n.blocks.push(block);
                let _ = n.replica.handle_executed(executed);
            }
            Action::Fetch { peer, from, to } => {
                let Some(j) = self.keys.iter().position(|k| *k == peer) else {
                    return;
                };
                let blocks: Vec<CertifiedBlock> = self
                    .nodes
                    .get(j)
                    .map(|p| {
                        p.blocks
                            .iter()
                            .filter(|b| b.header.height >= from && b.header.height <= to)
                            .take(64)
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                let now = self.now;
                if let Some(n) = self.nodes.get_mut(i) {
                    for b in blocks {
                        let _ = n.replica.handle_fetched_block(b, now);
                    }
                }
            }
            _ => {}
        }
    }

    fn deliver(&mut self, index: usize) {
        if let Some((to, m)) = self.queue.remove(index) {
            let now = self.now;
            if let Some(n) = self.nodes.get_mut(to) {
                let _ = n.replica.handle_message(m, now);
            }
            self.process(to);
        }
    }

    fn check(&self) {
        for (i, n) in self.nodes.iter().enumerate() {
            let last = n.replica.last_committed();
            assert!(last.height >= n.height.min(last.height));
            if let Some(h) = n.headers.get(&last.height) {
                assert_eq!(*h, last.hash(), "replica {i}: committed header changed");
            }
            itc_fuzz::assert_bounded("log", n.replica.log_len(), 4096);
            itc_fuzz::assert_bounded("buffered", n.replica.buffered_len(), 8192);
            itc_fuzz::assert_bounded("pending", n.replica.pending_requests(), 100_000);
        }
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let Some(mut net) = Net::new() else { return };
    for op in ops.into_iter().take(512) {
        let qlen = net.queue.len().max(1);
        match op {
            Op::Deliver(k) => net.deliver(usize::from(k) % qlen),
            Op::Drop(k) => {
                let _ = net.queue.remove(usize::from(k) % qlen);
            }
            Op::Duplicate(k) => {
                if let Some(m) = net.queue.get(usize::from(k) % qlen).cloned() {
                    net.push(m.0, m.1);
                }
            }
            Op::Inject { to, bytes } => {
                let to = usize::from(to) % N;
                let now = net.now;
                if let Some(n) = net.nodes.get_mut(to) {
                    let _ = n.replica.handle_message_bytes(&bytes, now);
                }
                net.process(to);
            }
            Op::Mutate { index, at, xor } => {
                if let Some((to, m)) = net.queue.get(usize::from(index) % qlen).cloned() {
                    let mut bytes = m.encode_to_vec();
                    let len = bytes.len().max(1);
                    if let Some(b) = bytes.get_mut(usize::from(at) % len) {
                        *b ^= xor;
                    }
                    let now = net.now;
                    if let Some(n) = net.nodes.get_mut(to) {
                        let _ = n.replica.handle_message_bytes(&bytes, now);
                    }
                    net.process(to);
                }
            }
            Op::Tick { node, advance_ms } => {
                net.now = net.now.saturating_add(u64::from(advance_ms));
                let i = usize::from(node) % N;
                let now = net.now;
                if let Some(n) = net.nodes.get_mut(i) {
                    let _ = n.replica.handle_timeout(now);
                }
                net.process(i);
            }
            Op::Submit {
                node,
                client,
                id,
                payload,
            } => {
                let i = usize::from(node) % N;
                let now = net.now;
                let req = Request::new(ClientId(u64::from(client)), u64::from(id), payload);
                if let Some(n) = net.nodes.get_mut(i) {
                    let _ = n.replica.handle_request(req, now);
                }
                net.process(i);
            }
            Op::Restart(node) => net.restart(usize::from(node) % N),
            Op::DeliverAll => {
                for _ in 0..256 {
                    if net.queue.is_empty() {
                        break;
                    }
                    net.deliver(0);
                }
            }
        }
        net.check();
    }
});
