//! Protocol-level properties on small in-memory clusters: message counts, latency in message
//! delays, weighted quorums, validator-set hand-over, crash recovery without equivocation,
//! evidence, bounded buffers and the view-change storm guard.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use itc_crypto::encoding::{Decode, Encode};
use itc_crypto::quorum::{Validator, ValidatorSet};
use itc_crypto::{Hash, SecretKey, Signature, Signer};
use itc_pbft::cluster::{test_key, Application, Cluster, HashChainApp};
use itc_pbft::message::{vote_digest, Phase, PrePrepare, ViewChange, Vote};
use itc_pbft::{
    Action, CertifiedBlock, ChainTip, ClientId, Config, Executed, Message, PbftError, Replica,
    Request, VoteCheck,
};

fn config() -> Config {
    Config {
        batch_delay_ms: 0,
        ..Config::default()
    }
}

/// The evidence among a replica's pending actions.
fn evidence_from(r: &mut Replica<SecretKey>) -> itc_pbft::Evidence {
    r.drain_actions()
        .find_map(|a| match a {
            Action::Evidence(e) => Some(e),
            _ => None,
        })
        .expect("evidence")
}

fn keys_by_index(c: &Cluster<impl Application>) -> Vec<SecretKey> {
    c.nodes()
        .iter()
        .map(|n| {
            (0..64)
                .map(|i| test_key(i).unwrap())
                .find(|k| k.public_key() == n.replica.public_key())
                .unwrap()
        })
        .collect()
}

#[test]
fn normal_case_sends_exactly_24_messages_per_batch() {
    let mut c = Cluster::with_powers(&[1, 1, 1, 1], config()).unwrap();
    let primary = c.primary().unwrap();
    c.submit_to(primary, Request::new(ClientId(1), 1, b"lamp on".to_vec()));
    c.run_until_idle();
    let t = c.traffic();
    assert_eq!(c.committed_heights(), vec![1; 4]);
    assert_eq!((t.pre_prepares, t.prepares, t.commits), (3, 9, 12));
    assert_eq!(t.messages, 24);
    // Over a checkpoint interval (K = 16) the checkpoint traffic adds 4 × 3 messages.
    for id in 2..=16 {
        c.submit_to(primary, Request::new(ClientId(1), id, b"x".to_vec()));
        c.run_until_idle();
    }
    let t = c.traffic();
    assert_eq!(c.committed_heights(), vec![16; 4]);
    assert_eq!(t.checkpoints, 12);
    assert_eq!(t.messages, 16 * 24 + 12);
    assert_eq!(t.view_changes, 0);
    // The stable checkpoint garbage-collected the log.
    assert!(c.nodes().iter().all(|n| n.replica.low_watermark() == 16));
    assert!(c.nodes().iter().all(|n| n.replica.log_len() == 0));
}

#[test]
fn a_request_commits_three_message_delays_after_the_primary_gets_it() {
    for n in [4usize, 16] {
        let powers = vec![1; n];
        let mut c = Cluster::with_powers(&powers, config()).unwrap();
        c.latency_ms = 10;
        let primary = c.primary().unwrap();
        let t0 = c.now();
        c.submit_to(primary, Request::new(ClientId(1), 1, b"x".to_vec()));
        c.run_until_idle();
        for node in c.nodes() {
            assert_eq!(node.commit_times, vec![(1, t0 + 30)], "n = {n}");
        }
        // With a batching delay, latency is the delay plus three message delays.
        let mut c = Cluster::with_powers(
            &powers,
            Config {
                batch_delay_ms: 5,
                ..config()
            },
        )
        .unwrap();
        c.latency_ms = 10;
        let primary = c.primary().unwrap();
        let t0 = c.now();
        c.submit_to(primary, Request::new(ClientId(1), 1, b"x".to_vec()));
        c.run_for(100, 5);
        for node in c.nodes() {
            assert_eq!(node.commit_times, vec![(1, t0 + 5 + 30)], "n = {n}");
        }
    }
}

#[test]
fn weighted_quorum_commits_with_a_verifiable_certificate() {
    let powers = [5, 3, 2, 2, 1, 1, 1];
    let mut c = Cluster::with_powers(&powers, config()).unwrap();
    for id in 1..=3 {
        c.submit(Request::new(ClientId(2), id, vec![id as u8]));
        c.run_until_idle();
    }
    let set = c.node(0).unwrap().replica.validators().unwrap().clone();
    for node in c.nodes() {
        for b in &node.blocks {
            let power = b.certificate.verify(&b.header, &set).unwrap();
            assert!(3 * power > 2 * set.total_power());
        }
    }
    assert!(c.committed_heights().iter().all(|h| *h == 3));
}

/// An application that, after executing block 2, schedules new voting powers.
struct Reweigh {
    inner: HashChainApp,
    next: ValidatorSet,
}

impl Application for Reweigh {
    fn execute(&mut self, block: &CertifiedBlock) -> Executed {
        let mut e = self.inner.execute(block);
        if block.header.height == 2 {
            e.next_validator_set = Some(Box::new(self.next.clone()));
        }
        e
    }
}

#[test]
fn validator_set_change_takes_effect_after_the_epoch_boundary() {
    let k = 4u64;
    let keys: Vec<SecretKey> = (0..4).map(|i| test_key(i).unwrap()).collect();
    let next = ValidatorSet::new(keys.iter().enumerate().map(|(i, k)| Validator {
        key: k.public_key(),
        power: if i == 0 { 4 } else { 1 },
    }))
    .unwrap();
    let apps = (0..4)
        .map(|_| Reweigh {
            inner: HashChainApp::default(),
            next: next.clone(),
        })
        .collect();
    let cfg = Config {
        checkpoint_interval: k,
        window: 2 * k,
        ..config()
    };
    let mut c = Cluster::new(keys, &[1, 1, 1, 1], cfg, apps).unwrap();
    let old = c.node(0).unwrap().replica.validators().unwrap().clone();
    for id in 1..=(2 * k) {
        c.submit(Request::new(ClientId(3), id, vec![1]));
        c.run_until_idle();
    }
    assert!(c.committed_heights().iter().all(|h| *h == 2 * k));
    let blocks: Vec<&CertifiedBlock> = c.node(1).unwrap().blocks.iter().collect();
    for b in &blocks {
        let h = b.header.height;
        // The rule light clients follow.
        let (set, named_next) = match h {
            _ if h < k => (&old, old.hash()),
            _ if h == k => (&old, next.hash()),
            _ => (&next, next.hash()),
        };
        assert_eq!(b.header.validator_set_hash, set.hash(), "height {h}");
        assert_eq!(b.header.next_validator_set_hash, named_next, "height {h}");
        assert!(b.certificate.verify(&b.header, set).is_ok(), "height {h}");
    }
    // After the boundary, the old set no longer certifies anything.
    let after = blocks.iter().find(|b| b.header.height == k + 1).unwrap();
    assert!(after.certificate.verify(&after.header, &old).is_err());
    // Chain rules with the interval hold across the hand-over.
    for w in blocks.windows(2) {
        w[1].header.follows_with_interval(&w[0].header, k).unwrap();
    }
    assert_eq!(
        c.node(2).unwrap().replica.validators().unwrap().hash(),
        next.hash()
    );
}

#[test]
fn a_restored_replica_never_signs_a_conflicting_vote() {
    let c = Cluster::with_powers(&[1, 1, 1, 1], config()).unwrap();
    let keys = keys_by_index(&c);
    let primary = c.primary().unwrap();
    let backup = (primary + 1) % 4;
    // The backup receives the primary's proposal for height 1 and prepares it, then crashes
    // before anything else happens.
    let genesis_header = *c.node(backup).unwrap().replica.last_committed();
    let set = c
        .node(backup)
        .unwrap()
        .replica
        .validators()
        .unwrap()
        .clone();
    let mut b = Replica::new(
        config(),
        keys[backup].clone(),
        &itc_pbft::ChainGenesis {
            validators: set.clone(),
            state_root: Hash::ZERO,
            timestamp_ms: 0,
        },
    )
    .unwrap();
    let mut record = itc_pbft::SafetyRecord::default();
    let header = |batch_root: Hash| itc_pbft::BlockHeader {
        height: 1,
        view: 0,
        previous: genesis_header.hash(),
        batch_root,
        state_root: Hash::ZERO,
        validator_set_hash: set.hash(),
        next_validator_set_hash: set.hash(),
        timestamp_ms: 5,
    };
    let propose = |batch: itc_pbft::Batch| {
        let h = header(batch.root());
        Message::PrePrepare {
            pre_prepare: PrePrepare {
                view: 0,
                header: h,
                signature: keys[primary]
                    .sign_digest(&vote_digest(Phase::PrePrepare, 0, 1, &h.hash()))
                    .unwrap(),
            },
            batch,
        }
    };
    let first = itc_pbft::Batch::new(vec![Request::new(ClientId(1), 1, b"first".to_vec())]);
    let second = itc_pbft::Batch::new(vec![Request::new(ClientId(1), 1, b"second".to_vec())]);
    b.handle_message(propose(first.clone()), 10).unwrap();
    let mut prepared_for = None;
    for a in b.drain_actions() {
        match a {
            Action::Persist(f) => record.apply(&f),
            Action::Broadcast(Message::Prepare(v)) => {
                // The durable record already holds the vote when the message goes out.
                assert_eq!(record.vote_entries(), 1);
                prepared_for = Some(v.header_hash);
            }
            _ => {}
        }
    }
    assert_eq!(prepared_for, Some(header(first.root()).hash()));
    // Crash. Restart from the durable record; an equivocating primary now sends another
    // proposal for the same slot.
    let mut restored = Replica::restore(
        config(),
        keys[backup].clone(),
        record.clone(),
        ChainTip {
            header: genesis_header,
            state_root: Hash::ZERO,
            validators: set.clone(),
            epochs: Vec::new(),
            scheduled: None,
        },
    )
    .unwrap();
    let res = restored.handle_message(propose(second.clone()), 20);
    assert!(
        matches!(res, Err(PbftError::Guard(_))),
        "the guard must refuse: {res:?}"
    );
    assert!(!restored
        .drain_actions()
        .any(|a| matches!(a, Action::Broadcast(Message::Prepare(_)))));
    // The same proposal again is fine: re-signing the same vote is not equivocation.
    let mut again = Replica::restore(
        config(),
        keys[backup].clone(),
        record,
        ChainTip {
            header: genesis_header,
            state_root: Hash::ZERO,
            validators: set.clone(),
            epochs: Vec::new(),
            scheduled: None,
        },
    )
    .unwrap();
    again.handle_message(propose(first), 20).unwrap();
    assert!(again.drain_actions().any(
        |a| matches!(a, Action::Broadcast(Message::Prepare(v)) if Some(v.header_hash) == prepared_for)
    ));
}

#[test]
fn conflicting_votes_produce_evidence_anyone_can_verify() {
    let mut c = Cluster::with_powers(&[1, 1, 1, 1], config()).unwrap();
    let keys = keys_by_index(&c);
    let set = c.node(0).unwrap().replica.validators().unwrap().clone();
    let vote = |hash: Hash| Vote {
        view: 0,
        height: 1,
        header_hash: hash,
        sender: 2,
        signature: keys[2]
            .sign_digest(&vote_digest(Phase::Commit, 0, 1, &hash))
            .unwrap(),
    };
    let r = &mut c.node_mut(1).unwrap().replica;
    r.handle_message(Message::Commit(vote(Hash([1; 32]))), 1)
        .unwrap();
    let res = r.handle_message(Message::Commit(vote(Hash([2; 32]))), 2);
    assert_eq!(res, Err(PbftError::Equivocation(2)));
    let ev = evidence_from(r);
    assert_eq!(ev.verify(&set), Ok(keys[2].public_key()));
    let bytes = ev.encode_to_vec();
    assert_eq!(itc_pbft::Evidence::decode_bytes(&bytes).unwrap(), ev);
    // A forged second vote (bad signature) is not evidence against anyone.
    let forged = Vote {
        signature: Signature([9; 64]),
        ..vote(Hash([3; 32]))
    };
    let res = r.handle_message(Message::Commit(forged), 3);
    assert_eq!(res, Err(PbftError::InvalidSignature(2)));
    assert!(!r.drain_actions().any(|a| matches!(a, Action::Evidence(_))));
}

#[test]
fn future_view_messages_are_capped_per_sender() {
    let cfg = Config {
        max_future_per_sender: 4,
        ..config()
    };
    let mut c = Cluster::with_powers(&[1, 1, 1, 1], cfg).unwrap();
    let r = &mut c.node_mut(1).unwrap().replica;
    for view in 1..=4u64 {
        let v = Vote {
            view,
            height: 1,
            header_hash: Hash([0; 32]),
            sender: 2,
            signature: Signature([0; 64]),
        };
        r.handle_message(Message::Prepare(v), 1).unwrap();
    }
    let v = Vote {
        view: 5,
        height: 1,
        header_hash: Hash([0; 32]),
        sender: 2,
        signature: Signature([0; 64]),
    };
    assert_eq!(
        r.handle_message(Message::Prepare(v), 1),
        Err(PbftError::FutureBufferFull(2))
    );
    assert_eq!(r.buffered_len(), 4);
}

#[test]
fn a_huge_view_number_from_a_few_validators_moves_nobody() {
    let mut c = Cluster::with_powers(&[1, 1, 1, 1], config()).unwrap();
    let keys = keys_by_index(&c);
    let vc = |sender: u16, new_view: u64| {
        let mut vc = ViewChange {
            new_view,
            checkpoint: None,
            prepared: vec![],
            sender,
            signature: Signature([0; 64]),
        };
        vc.signature = keys[sender as usize].sign_digest(&vc.digest()).unwrap();
        Message::ViewChange(vc)
    };
    // One validator (f = 1) asks for view 2^63: a valid, signed message — and nobody moves.
    let r = &mut c.node_mut(1).unwrap().replica;
    r.handle_message(vc(3, 1 << 63), 1).unwrap();
    assert_eq!(r.view(), 0);
    assert!(r.is_view_active());
    // A second validator asking for view 7 makes f + 1: the replica joins the *smallest*
    // view asked for, not the huge one.
    r.handle_message(vc(2, 7), 2).unwrap();
    assert_eq!(r.view(), 7);
    assert!(!r.is_view_active());
}

#[test]
fn view_change_messages_round_trip_through_bytes() {
    // Block 1 commits in view 0; then the backups get a request the primary never sees, time
    // out and move to view 1. The new-view re-proposes block 1 from the prepared certificates
    // the view-changes carry. Every message survives encode → decode unchanged.
    let mut c = Cluster::with_powers(
        &[1, 1, 1, 1],
        Config {
            view_change_timeout_ms: 50,
            ..config()
        },
    )
    .unwrap();
    c.capture = true;
    c.submit(Request::new(ClientId(1), 1, b"a".to_vec()));
    c.run_until_idle();
    for i in 1..4 {
        c.submit_to(i, Request::new(ClientId(1), 2, b"b".to_vec()));
    }
    c.run_for(400, 10);
    assert!(c.nodes().iter().all(|n| n.replica.view() == 1));
    assert!(c.committed_heights().iter().all(|h| *h == 2));
    let mut kinds = std::collections::BTreeSet::new();
    for m in &c.captured {
        kinds.insert(m.kind());
        let bytes = m.encode_to_vec();
        assert_eq!(bytes.len(), m.encoded_len());
        assert_eq!(&Message::decode_bytes(&bytes).unwrap(), m);
    }
    assert!(
        kinds.contains("view-change") && kinds.contains("new-view"),
        "{kinds:?}"
    );
    let nv = c
        .captured
        .iter()
        .find_map(|m| match m {
            Message::NewView(nv) => Some(nv),
            _ => None,
        })
        .unwrap();
    assert_eq!(nv.pre_prepares.len(), 1);
    assert!(nv.view_changes.iter().any(|vc| !vc.prepared.is_empty()));
}

fn at_quorum() -> Config {
    Config {
        vote_check: VoteCheck::AtQuorum,
        ..config()
    }
}

#[test]
fn at_quorum_checking_commits_with_the_same_messages_and_batched_checks() {
    for n in [4usize, 7, 16] {
        let mut eager = Cluster::with_powers(&vec![1; n], config()).unwrap();
        let mut lazy = Cluster::with_powers(&vec![1; n], at_quorum()).unwrap();
        for c in [&mut eager, &mut lazy] {
            for id in 1..=5 {
                c.submit(Request::new(ClientId(1), id, b"lamp on".to_vec()));
                c.run_until_idle();
            }
            assert_eq!(c.committed_heights(), vec![5; n]);
        }
        assert_eq!(eager.traffic().messages, lazy.traffic().messages);
        // Same blocks, same certificates' signer counts.
        let (e, l) = (
            eager.node(0).unwrap().last_block().unwrap(),
            lazy.node(0).unwrap().last_block().unwrap(),
        );
        assert_eq!(e.header.hash(), l.header.hash());
        assert_eq!(
            e.certificate.signers().count(),
            l.certificate.signers().count()
        );
        for i in 0..n {
            let s = lazy.node(i).unwrap().replica.sig_stats();
            assert_eq!(s.rejected, 0);
        }
    }
}

/// A 4-node AtQuorum cluster whose primary (node 0) proposed height 1 and whose proposal has
/// reached nobody yet; returns the cluster, keys by signer index, the pre-prepare message and
/// the proposed header hash.
fn lazy_cluster_with_proposal() -> (Cluster, Vec<SecretKey>, Message, Hash) {
    let mut c = Cluster::with_powers(&[1, 1, 1, 1], at_quorum()).unwrap();
    let keys = keys_by_index(&c);
    assert_eq!(c.primary(), Some(0));
    let r0 = &mut c.node_mut(0).unwrap().replica;
    r0.handle_request(Request::new(ClientId(1), 1, b"lamp on".to_vec()), 1)
        .unwrap();
    let pp = r0
        .drain_actions()
        .find_map(|a| match a {
            Action::Broadcast(m @ Message::PrePrepare { .. }) => Some(m),
            _ => None,
        })
        .unwrap();
    let hash = match &pp {
        Message::PrePrepare { pre_prepare, .. } => pre_prepare.header.hash(),
        _ => unreachable!(),
    };
    (c, keys, pp, hash)
}

/// [`lazy_cluster_with_proposal`] with the proposal delivered to backup 3 (which prepared it)
/// and no vote yet.
fn lazy_backup_with_proposal() -> (Cluster, Vec<SecretKey>, Hash) {
    let (mut c, keys, pp, hash) = lazy_cluster_with_proposal();
    let r3 = &mut c.node_mut(3).unwrap().replica;
    r3.handle_message(pp, 2).unwrap();
    let _ = r3.take_actions();
    (c, keys, hash)
}

fn signed_vote(keys: &[SecretKey], phase: Phase, sender: u16, hash: Hash) -> Vote {
    Vote {
        view: 0,
        height: 1,
        header_hash: hash,
        sender,
        signature: keys[sender as usize]
            .sign_digest(&vote_digest(phase, 0, 1, &hash))
            .unwrap(),
    }
}

fn sent_commit(actions: &[Action]) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, Action::Broadcast(Message::Commit(_))))
}

#[test]
fn at_quorum_a_forged_vote_never_counts_and_cannot_crowd_out_the_real_one() {
    let (mut c, keys, hash) = lazy_backup_with_proposal();
    let r = &mut c.node_mut(3).unwrap().replica;
    // Backup 3 prepared (its own vote) and holds the primary's pre-prepare: one more prepare
    // completes 2f + 1 = 3. A forged prepare in node 1's name arrives first...
    let forged = Vote {
        signature: Signature([7; 64]),
        ..signed_vote(&keys, Phase::Prepare, 1, hash)
    };
    // ...completes the quorum on paper, is batch-checked, refused, and prepares nothing.
    assert_eq!(
        r.handle_message(Message::Prepare(forged), 3),
        Err(PbftError::InvalidSignature(1))
    );
    assert!(!sent_commit(&r.take_actions()));
    assert_eq!(r.sig_stats().rejected, 1);
    // The real prepare of node 1 is still accepted and completes the quorum.
    r.handle_message(
        Message::Prepare(signed_vote(&keys, Phase::Prepare, 1, hash)),
        4,
    )
    .unwrap();
    assert!(sent_commit(&r.take_actions()));
}

#[test]
fn at_quorum_an_unchecked_forgery_is_settled_when_its_sender_speaks() {
    let (mut c, keys, hash) = lazy_backup_with_proposal();
    let r = &mut c.node_mut(3).unwrap().replica;
    r.handle_message(
        Message::Prepare(signed_vote(&keys, Phase::Prepare, 1, hash)),
        3,
    )
    .unwrap();
    let _ = r.take_actions();
    // Commits: own + 2 more needed. A forged commit in node 2's name waits unchecked
    // (own + it = 2 of 3)...
    let forged = Vote {
        signature: Signature([9; 64]),
        ..signed_vote(&keys, Phase::Commit, 2, hash)
    };
    r.handle_message(Message::Commit(forged), 4).unwrap();
    assert_eq!(r.last_committed().height, 0);
    // ...the same bytes again are a duplicate, not a second slot...
    assert_eq!(
        r.handle_message(Message::Commit(forged), 4),
        Err(PbftError::Duplicate)
    );
    // ...and node 2's real commit settles it: the forgery is checked and dropped, the real
    // vote takes its place.
    r.handle_message(
        Message::Commit(signed_vote(&keys, Phase::Commit, 2, hash)),
        5,
    )
    .unwrap();
    assert_eq!(r.sig_stats().rejected, 1);
    assert_eq!(r.last_committed().height, 0);
    r.handle_message(
        Message::Commit(signed_vote(&keys, Phase::Commit, 1, hash)),
        6,
    )
    .unwrap();
    assert_eq!(r.last_committed().height, 1);
}

#[test]
fn at_quorum_equivocation_is_still_caught_and_proven() {
    let (mut c, keys, hash) = lazy_backup_with_proposal();
    let set = c.node(0).unwrap().replica.validators().unwrap().clone();
    let r = &mut c.node_mut(3).unwrap().replica;
    // Node 2 commits to the real header (held unchecked), then to another one.
    r.handle_message(
        Message::Commit(signed_vote(&keys, Phase::Commit, 2, hash)),
        3,
    )
    .unwrap();
    let other = Hash([0x55; 32]);
    assert_eq!(
        r.handle_message(
            Message::Commit(signed_vote(&keys, Phase::Commit, 2, other)),
            4
        ),
        Err(PbftError::Equivocation(2))
    );
    let ev = evidence_from(r);
    assert_eq!(ev.verify(&set), Ok(keys[2].public_key()));
}

#[test]
fn at_quorum_votes_that_arrive_before_the_proposal_are_settled_by_our_own_vote() {
    let (mut c, keys, pp, hash) = lazy_cluster_with_proposal();
    let r = &mut c.node_mut(3).unwrap().replica;
    // Node 1's prepare and nodes 1 and 2's commits overtake the proposal: held unchecked
    // (1 prepare + the primary's 1 < 3; 2 commits < 3).
    r.handle_message(
        Message::Prepare(signed_vote(&keys, Phase::Prepare, 1, hash)),
        2,
    )
    .unwrap();
    for s in [1, 2] {
        r.handle_message(
            Message::Commit(signed_vote(&keys, Phase::Commit, s, hash)),
            2,
        )
        .unwrap();
    }
    assert_eq!(r.sig_stats().verified, 0);
    // The proposal arrives: our own prepare completes the prepare quorum, our own commit
    // the commit quorum; no further message is needed to commit.
    r.handle_message(pp, 3).unwrap();
    assert_eq!(r.last_committed().height, 1);
    assert!(sent_commit(&r.take_actions()));
    assert_eq!(r.sig_stats().rejected, 0);
}

/// Issue 16.1: a replica restored at tip 1 must be a full participant at once: it sends its
/// own view change when the primary is silent, and accepts its peers' (before the fix it
/// resolved no validator set at or below its tip: no view change was sent, and peers' were
/// refused as `OtherEpoch` / `UnknownValidatorSet`).
#[test]
fn a_replica_restored_at_its_tip_takes_part_in_view_changes() {
    let mut c = Cluster::with_powers(&[1, 1, 1, 1], config()).unwrap();
    let keys = keys_by_index(&c);
    c.submit(Request::new(ClientId(1), 1, b"first".to_vec()));
    c.run_until_idle();
    assert_eq!(c.committed_heights(), vec![1; 4]);
    let primary = c.primary().unwrap();
    let (b, other) = {
        let mut backups = (0..4).filter(|i| *i != primary);
        (backups.next().unwrap(), backups.next().unwrap())
    };
    let node = c.node(b).unwrap();
    let block = node.last_block().unwrap().clone();
    let set = node.replica.validators().unwrap().clone();
    let tip = ChainTip {
        header: block.header,
        state_root: node.app.root,
        validators: set,
        epochs: Vec::new(),
        scheduled: None,
    };
    let mut restored =
        Replica::restore(config(), keys[b].clone(), node.record.clone(), tip).unwrap();
    let now = c.now();
    let request = Request::new(ClientId(1), 2, b"second".to_vec());
    restored.handle_request(request.clone(), now).unwrap();
    let _ = restored.drain_actions().count();
    // The primary is silent: after the timeout the restored replica asks for view 1.
    restored.handle_timeout(now + 60_000).unwrap();
    let sent_view_change = restored
        .drain_actions()
        .any(|a| matches!(a, Action::Broadcast(Message::ViewChange(ref vc)) if vc.new_view == 1));
    assert!(sent_view_change, "the restored replica sent no view change");
    // A peer's view change for view 1 is accepted, not refused for an unknown epoch.
    let peer = &mut c.node_mut(other).unwrap().replica;
    peer.handle_request(request, now).unwrap();
    let _ = peer.drain_actions().count();
    peer.handle_timeout(now + 60_000).unwrap();
    let vc = peer
        .drain_actions()
        .find_map(|a| match a {
            Action::Broadcast(Message::ViewChange(vc)) => Some(vc),
            _ => None,
        })
        .expect("the peer asks for view 1 too");
    let res = restored.handle_message(Message::ViewChange(vc), now + 60_001);
    assert_eq!(res, Ok(()), "a peer's view change refused");
}

#[test]
fn an_idle_chain_emits_empty_certified_blocks_at_the_configured_interval() {
    // Off by default: an idle chain stays where it is.
    let mut c = Cluster::with_powers(&[1, 1, 1, 1], config()).unwrap();
    c.submit(Request::new(ClientId(1), 1, b"owner := alice".to_vec()));
    c.run_until_idle();
    c.run_for(2_000, 10);
    assert_eq!(c.committed_heights(), vec![1; 4]);

    let interval = 200;
    let mut c = Cluster::with_powers(
        &[1, 1, 1, 1],
        Config {
            idle_block_interval_ms: interval,
            ..config()
        },
    )
    .unwrap();
    c.run_for(100, 10);
    c.submit(Request::new(ClientId(1), 1, b"owner := alice".to_vec()));
    c.run_until_idle();
    c.run_for(2_000, 10);
    let set = c.node(0).unwrap().replica.validators().unwrap().clone();
    let blocks: Vec<CertifiedBlock> = c.node(0).unwrap().blocks.iter().cloned().collect();
    // The request's block, then an empty block every interval (timestamps of consecutive
    // blocks one interval apart, give or take the 10 ms ticks of the simulation).
    assert!(blocks.len() >= 9, "only {} blocks", blocks.len());
    assert_eq!(blocks.iter().map(|b| b.batch.len()).sum::<usize>(), 1);
    for pair in blocks.windows(2) {
        assert_eq!(pair[1].header.height, pair[0].header.height + 1);
        let gap = pair[1].header.timestamp_ms - pair[0].header.timestamp_ms;
        assert!((interval..interval + 20).contains(&gap), "gap {gap}");
    }
    // Each is certified, and the block after the request's one (which carries the state root
    // after it) follows within one interval: the state change is provable by then.
    for b in &blocks {
        b.certificate.verify(&b.header, &set).unwrap();
    }
    let i = blocks.iter().position(|b| b.batch.len() == 1).unwrap();
    let gap = blocks[i + 1].header.timestamp_ms - blocks[i].header.timestamp_ms;
    assert!(gap <= interval + 20);
    let last = blocks.last().unwrap().header.height;
    assert!(c.committed_heights().iter().all(|h| *h == last));
}

/// Issue 16 (restore and the quorum-intersection argument, `safety` module docs): a replica
/// restored at a tip at or above a height it was prepared for still carries that prepared
/// certificate in its view-changes, until a stable checkpoint covers the height — exactly
/// what it would have carried without the crash. Before, `restore` dropped certificates at or
/// below the tip, which lets a view-change quorum miss a committed header.
#[test]
fn a_restored_replica_still_carries_its_prepared_certificates_at_or_below_its_tip() {
    let mut c = Cluster::with_powers(&[1, 1, 1, 1], config()).unwrap();
    let keys = keys_by_index(&c);
    c.submit(Request::new(ClientId(1), 1, b"first".to_vec()));
    c.run_until_idle();
    assert_eq!(c.committed_heights(), vec![1; 4]);
    let b = (c.primary().unwrap() + 1) % 4;
    let node = c.node(b).unwrap();
    let block = node.last_block().unwrap().clone();
    assert_eq!(
        node.record
            .prepared()
            .map(|p| p.height())
            .collect::<Vec<_>>(),
        [1]
    );
    let tip = ChainTip {
        header: block.header,
        state_root: node.app.root,
        validators: node.replica.validators().unwrap().clone(),
        epochs: Vec::new(),
        scheduled: None,
    };
    let mut restored =
        Replica::restore(config(), keys[b].clone(), node.record.clone(), tip).unwrap();
    let now = c.now();
    restored
        .handle_request(Request::new(ClientId(1), 2, b"second".to_vec()), now)
        .unwrap();
    let _ = restored.drain_actions().count();
    restored.handle_timeout(now + 60_000).unwrap();
    let vc = restored
        .drain_actions()
        .find_map(|a| match a {
            Action::Broadcast(Message::ViewChange(vc)) => Some(vc),
            _ => None,
        })
        .expect("a view change");
    let carried: Vec<(u64, Hash)> = vc
        .prepared
        .iter()
        .map(|p| (p.height(), p.pre_prepare.header.hash()))
        .collect();
    assert_eq!(carried, [(1, block.header.hash())]);
}
