//! Protocol-level tests of the tangle: incremental cumulative weight against a brute-force
//! recount, confirmation, double-spend resolution, anchoring (including an anchor overriding a
//! local decision), bad anchors, pruning and memory.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeSet;

use common::*;
use itc_crypto::Hash;
use itc_dag::snapshot::verify_inclusion;
use itc_dag::{
    DagError, DagSnapshot, Event, MemoryStore, StoreTable, Tangle, TangleConfig, Transaction, TxId,
    TxStatus, UniformRandom,
};
use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// Attaches `tx` and returns its status on attach (from its `Attached` event).
fn attach(t: &mut Tangle, tx: Transaction, now: u64) -> TxStatus {
    let id = tx.id();
    t.handle_transaction(tx, now).unwrap();
    let status = t.take_events().into_iter().find_map(|e| match e {
        Event::Attached { id: a, status } if a == id => Some(status),
        _ => None,
    });
    status.unwrap_or_else(|| panic!("{id:?} not attached"))
}

/// Own weight of `id` plus that of its whole future cone, by brute force.
fn exact_weight(t: &Tangle, id: &TxId) -> u64 {
    let g = t.graph();
    let mut seen = BTreeSet::new();
    let mut stack = vec![*id];
    let mut w = 0;
    while let Some(x) = stack.pop() {
        if !seen.insert(x) {
            continue;
        }
        w += g.own_weight(&x).unwrap();
        stack.extend(g.approvers(&x));
    }
    w
}

/// Issues `n` data transactions from fresh issuers, each approving `target` and the previous one.
fn pile_on(t: &mut Tangle, target: TxId, first_key: u64, n: u64, start: u64) -> Vec<TxId> {
    let g = genesis_parents();
    let mut prev = g[0];
    let mut ids = vec![];
    for k in 0..n {
        let parents = if prev == g[0] {
            [target, g[0]]
        } else {
            [target, prev]
        };
        let x = tx(
            &key(first_key + k),
            0,
            start + k,
            &parents,
            data(b"w"),
            MIN_D,
        );
        prev = x.id();
        ids.push(prev);
        t.handle_transaction(x, start + k).unwrap();
    }
    ids
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Pending weights equal the brute-force future-cone sum, confirmation happens exactly at
    /// the threshold, and the confirmed region is closed under approval.
    #[test]
    fn incremental_weight_matches_brute_force(seed: u64, n in 5usize..50, threshold in 3u64..30) {
        let config = TangleConfig { confirmation_threshold: threshold, ..config() };
        let mut t = tangle_with(config, vec![]);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut ids: Vec<TxId> = genesis_parents().to_vec();
        let mut seqs = [0u64; 4];
        for k in 0..n {
            let now = 1_000 + k as u64;
            let want = 2 + (rng.next_u32() % 2) as usize;
            let mut parents = vec![];
            while parents.len() < want.min(ids.len()) {
                let p = ids[(rng.next_u64() % ids.len() as u64) as usize];
                if !parents.contains(&p) { parents.push(p); }
            }
            let who = k % 4;
            let d = MIN_D + (rng.next_u32() % 3) as u8;
            let x = tx(&key(1 + who as u64), seqs[who], now, &parents, data(&[k as u8]), d);
            seqs[who] += 1;
            ids.push(x.id());
            let id = x.id();
            prop_assert!(t.handle_transaction(x, now).is_ok());
            prop_assert!(t.graph().contains(&id));
        }
        for id in &ids[2..] {
            let exact = exact_weight(&t, id);
            let status = t.status(id).unwrap();
            let w = t.cumulative_weight(id).unwrap();
            match status {
                TxStatus::Pending => {
                    prop_assert_eq!(w, exact);
                    prop_assert!(exact < threshold);
                }
                TxStatus::Confirmed => {
                    prop_assert!(w >= threshold && w <= exact);
                    for p in t.graph().parents(id) {
                        prop_assert!(matches!(t.status(&p), Some(TxStatus::Confirmed | TxStatus::Final)));
                    }
                }
                other => prop_assert!(false, "unexpected status {:?}", other),
            }
        }
    }
}

#[test]
fn heavier_rival_wins_and_the_loser_cone_is_never_confirmed() {
    let (a, m1, m2) = (key(1), key(2), key(3));
    let mut t = tangle_with(config(), vec![(addr(&a), 100)]);
    let g = genesis_parents();
    let t1 = tx(&a, 0, 1_000, &g, transfer(addr(&m1), 50, 0), MIN_D);
    let t2 = tx(&a, 1, 1_001, &g, transfer(addr(&m2), 70, 0), MIN_D);
    assert_eq!(attach(&mut t, t1.clone(), 1_000), TxStatus::Pending);
    assert_eq!(attach(&mut t, t2.clone(), 1_001), TxStatus::Pending);
    // Someone builds on the double spend.
    let c2 = tx(&key(4), 0, 1_002, &[t2.id(), g[0]], data(b"c2"), MIN_D);
    attach(&mut t, c2.clone(), 1_002);
    // A node approving both rivals: valid now, lost when the conflict resolves.
    let both = tx(&key(5), 0, 1_003, &[t1.id(), t2.id()], data(b"both"), MIN_D);
    attach(&mut t, both.clone(), 1_003);
    t.take_events();
    // Honest traffic piles on t1 until it crosses the threshold (8).
    pile_on(&mut t, t1.id(), 100, 8, 1_010);
    assert_eq!(t.status(&t1.id()), Some(TxStatus::Confirmed));
    for lost in [t2.id(), c2.id(), both.id()] {
        assert_eq!(t.status(&lost), Some(TxStatus::Conflicting), "{lost:?}");
    }
    let events: Vec<_> = t.take_events();
    assert!(events.contains(&Event::Confirmed(t1.id())));
    assert!(events.contains(&Event::Conflicting(t2.id())));
    assert!(events.contains(&Event::Conflicting(c2.id())));
    // Whatever approves the loser is born conflicting and adds no weight anywhere.
    let w_g = t.cumulative_weight(&c2.id()).unwrap();
    let late = tx(&key(6), 0, 1_100, &[c2.id(), t1.id()], data(b"late"), MIN_D);
    assert_eq!(attach(&mut t, late.clone(), 1_100), TxStatus::Conflicting);
    assert_eq!(t.cumulative_weight(&c2.id()).unwrap(), w_g);
    // A third spend of the same funds is born conflicting, however heavy it later gets.
    let t3 = tx(
        &a,
        2,
        1_101,
        &[t1.id(), g[1]],
        transfer(addr(&m2), 10, 0),
        MIN_D,
    );
    assert_eq!(attach(&mut t, t3.clone(), 1_101), TxStatus::Conflicting);
    // Invariant: at most one confirmed claimant per spend key.
    let confirmed: Vec<_> = [t1.id(), t2.id(), t3.id()]
        .into_iter()
        .filter(|id| t.status(id) == Some(TxStatus::Confirmed))
        .collect();
    assert_eq!(confirmed, vec![t1.id()]);
    // No conflicting transaction is a tip.
    for tip in t.graph().sorted_tips() {
        assert_ne!(t.status(&tip), Some(TxStatus::Conflicting));
    }
}

#[test]
fn parent_selection_never_approves_both_sides_of_an_open_conflict() {
    let a = key(1);
    let mut t = tangle_with(config(), vec![(addr(&a), 100)]);
    let g = genesis_parents();
    let t1 = tx(&a, 0, 1_000, &g, transfer(addr(&key(2)), 50, 0), MIN_D);
    let t2 = tx(&a, 1, 1_001, &g, transfer(addr(&key(3)), 70, 0), MIN_D);
    attach(&mut t, t1.clone(), 1_000);
    attach(&mut t, t2.clone(), 1_001);
    // Children on each side, so the rivals hide one level down.
    let c1 = tx(&key(4), 0, 1_002, &[t1.id(), g[0]], data(b"1"), MIN_D);
    let c2 = tx(&key(5), 0, 1_002, &[t2.id(), g[1]], data(b"2"), MIN_D);
    attach(&mut t, c1.clone(), 1_002);
    attach(&mut t, c2.clone(), 1_002);
    let side1: BTreeSet<TxId> = [t1.id(), c1.id()].into();
    let side2: BTreeSet<TxId> = [t2.id(), c2.id()].into();
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut saw = [false; 2];
    for _ in 0..300 {
        let p = t
            .select_parents(&UniformRandom::default(), &mut rng, 1_003, 2)
            .unwrap();
        let on1 = p.iter().any(|x| side1.contains(x));
        let on2 = p.iter().any(|x| side2.contains(x));
        assert!(!(on1 && on2), "{p:?}");
        saw[0] |= on1;
        saw[1] |= on2;
        assert_eq!(p.len(), 2);
    }
    assert_eq!(
        saw,
        [true, true],
        "both sides stay selectable while the conflict is open"
    );
}

/// Builds a tangle where `n` data transactions from `n` issuers form a confirmed region.
fn confirmed_tangle(n: u64) -> (Tangle, Vec<TxId>) {
    let (a, m) = (key(1), key(2));
    let mut t = tangle_with(config(), vec![(addr(&a), 1_000)]);
    let g = genesis_parents();
    let pay = tx(&a, 0, 1_000, &g, transfer(addr(&m), 400, 0), MIN_D);
    let pay_id = pay.id();
    attach(&mut t, pay, 1_000);
    let mut ids = vec![pay_id];
    ids.extend(pile_on(&mut t, pay_id, 100, n, 1_001));
    (t, ids)
}

#[test]
fn anchors_finalise_prove_and_move_funds_identically_on_every_replica() {
    let (mut t, ids) = confirmed_tangle(20);
    // A replica fed the same transactions in the same order.
    let mut replica = tangle_with(config(), vec![(addr(&key(1)), 1_000)]);
    for id in &ids {
        replica
            .handle_transaction(t.get(id).unwrap(), 1_100)
            .unwrap();
    }
    let snap = t.propose_snapshot(10_000);
    assert_eq!(snap.snapshot_seq, 1);
    assert!(snap.finalized.contains(&ids[0]));
    assert!(!snap.finalized.is_empty());
    for id in &snap.finalized {
        assert_eq!(t.status(id), Some(TxStatus::Confirmed));
    }
    t.take_events();
    t.handle_anchor(&snap, 1_100).unwrap();
    replica.handle_anchor(&snap, 1_100).unwrap();
    let events: Vec<_> = t.take_events();
    assert!(events.contains(&Event::Finalized {
        snapshot_seq: 1,
        root: snap.root(),
        count: snap.finalized.len()
    }));
    for id in &snap.finalized {
        assert_eq!(t.status(id), Some(TxStatus::Final));
        let (seq, proof) = t.prove_finalized(id).unwrap();
        assert_eq!(seq, 1);
        verify_inclusion(&snap.root(), id, &proof).unwrap();
    }
    assert_eq!(t.balances().balance(&addr(&key(2))), 400);
    assert_eq!(t.balances().balance(&addr(&key(1))), 600);
    assert_eq!(t.balances().root(), snap.balances_root);
    assert_eq!(t.state_digest(), replica.state_digest());
    // The next proposal chains to this one and holds only what was confirmed since.
    let next = t.propose_snapshot(10_000);
    assert_eq!(next.snapshot_seq, 2);
    assert_eq!(next.prev_root, snap.root());
    assert!(next.finalized.iter().all(|id| !snap.finalized.contains(id)));
    // Re-using the funds after finality is born conflicting.
    let again = tx(
        &key(1),
        1,
        1_200,
        &[ids[5], ids[6]],
        transfer(addr(&key(3)), 1, 0),
        MIN_D,
    );
    assert_eq!(attach(&mut t, again, 1_200), TxStatus::Conflicting);
}

#[test]
fn a_prefix_proposal_is_closed_and_accepted() {
    let (mut t, _) = confirmed_tangle(20);
    let snap = t.propose_snapshot(3);
    assert_eq!(snap.finalized.len(), 3);
    t.handle_anchor(&snap, 1_100).unwrap();
    let rest = t.propose_snapshot(1_000);
    assert!(!rest.finalized.is_empty());
    t.handle_anchor(&rest, 1_100).unwrap();
    assert!(t.propose_snapshot(1_000).finalized.is_empty());
}

#[test]
fn bad_anchors_are_refused_and_change_nothing() {
    let a = key(1);
    let build = || {
        let (mut t, ids) = confirmed_tangle(20);
        // An open double spend, for the conflict case.
        let g = genesis_parents();
        let r1 = tx(&a, 1, 1_050, &g, transfer(addr(&key(7)), 1, 1), MIN_D);
        let r2 = tx(&a, 2, 1_051, &g, transfer(addr(&key(8)), 1, 1), MIN_D);
        attach(&mut t, r1.clone(), 1_050);
        attach(&mut t, r2.clone(), 1_051);
        t.take_events();
        (t, ids, r1.id(), r2.id())
    };
    type Mutation = fn(&mut DagSnapshot, &[TxId], TxId, TxId) -> DagError;
    let cases: Vec<(&str, Mutation)> = vec![
        ("wrong sequence", |s, _, _, _| {
            s.snapshot_seq = 2;
            DagError::AnchorSequence {
                expected: 1,
                got: 2,
            }
        }),
        ("does not chain", |s, _, _, _| {
            s.prev_root = Hash([1; 32]);
            DagError::AnchorPrevMismatch
        }),
        ("unknown transaction", |s, _, _, _| {
            let ghost = TxId(Hash([0x99; 32]));
            s.finalized.push(ghost);
            DagError::AnchorUnknownTx(ghost)
        }),
        ("not closed", |s, ids, _, _| {
            s.finalized.retain(|x| *x != ids[0]);
            // The first transaction any remaining member approves directly.
            DagError::AnchorNotClosed(TxId::default())
        }),
        ("not canonical order", |s, _, _, _| {
            let n = s.finalized.len();
            s.finalized.swap(n - 1, n - 2);
            DagError::AnchorNotCanonical
        }),
        ("wrong tip set", |s, _, _, _| {
            s.tips.pop();
            DagError::AnchorNotCanonical
        }),
        ("repeated id", |s, _, _, _| {
            let first = s.finalized[0];
            s.finalized.push(first);
            DagError::AnchorNotCanonical
        }),
        ("balances root", |s, _, _, _| {
            s.balances_root = Hash([3; 32]);
            DagError::AnchorBalancesMismatch
        }),
        ("finalises both sides of a double spend", |s, _, r1, r2| {
            s.finalized.extend([r1.min(r2), r1.max(r2)]);
            s.tips.clear();
            DagError::AnchorConflict(r1.max(r2))
        }),
    ];
    for (name, mutate) in cases {
        let (mut t, ids, r1, r2) = build();
        let mut snap = t.propose_snapshot(10_000);
        let expected = mutate(&mut snap, &ids, r1, r2);
        let before = t.state_digest();
        let got = t.handle_anchor(&snap, 1_100);
        match expected {
            DagError::AnchorNotClosed(_) => {
                assert!(
                    matches!(got, Err(DagError::AnchorNotClosed(_))),
                    "{name}: {got:?}"
                )
            }
            DagError::AnchorConflict(_) => {
                // The conflict check may also trip the tip or order check first; all refuse.
                assert!(
                    matches!(
                        got,
                        Err(DagError::AnchorConflict(_) | DagError::AnchorNotCanonical)
                    ),
                    "{name}: {got:?}"
                )
            }
            e => assert_eq!(got, Err(e), "{name}"),
        }
        assert_eq!(t.state_digest(), before, "{name} changed state");
        let events: Vec<_> = t.take_events();
        assert!(
            events.iter().all(|e| matches!(e, Event::RequestMissing(_))),
            "{name}: {events:?}"
        );
        // The unmutated proposal is still accepted.
        let good = t.propose_snapshot(10_000);
        t.handle_anchor(&good, 1_100).unwrap();
    }
}

#[test]
fn an_anchor_for_the_conflict_with_the_correct_tips_reports_the_conflict() {
    // Construct the double-spend anchor fully canonical so only the conflict rule can refuse it.
    let a = key(1);
    let mut t = tangle_with(config(), vec![(addr(&a), 100)]);
    let g = genesis_parents();
    let r1 = tx(&a, 0, 1_000, &g, transfer(addr(&key(7)), 1, 0), MIN_D);
    let r2 = tx(&a, 1, 1_001, &g, transfer(addr(&key(8)), 1, 0), MIN_D);
    attach(&mut t, r1.clone(), 1_000);
    attach(&mut t, r2.clone(), 1_001);
    let (lo, hi) = (r1.id().min(r2.id()), r1.id().max(r2.id()));
    let snap = DagSnapshot {
        snapshot_seq: 1,
        prev_root: t.latest_snapshot().unwrap().root(),
        tips: vec![lo, hi],
        finalized: vec![lo, hi],
        balances_root: Hash::ZERO,
    };
    let before = t.state_digest();
    assert_eq!(
        t.handle_anchor(&snap, 1_100),
        Err(DagError::AnchorConflict(hi))
    );
    assert_eq!(t.state_digest(), before);
}

#[test]
fn an_anchor_overrides_the_local_conflict_decision() {
    let a = key(1);
    let g = genesis_parents();
    let t1 = tx(&a, 0, 1_000, &g, transfer(addr(&key(2)), 50, 0), MIN_D);
    let t2 = tx(&a, 1, 1_001, &g, transfer(addr(&key(3)), 70, 0), MIN_D);
    // Node A saw t1 win.
    let mut node_a = tangle_with(config(), vec![(addr(&a), 100)]);
    attach(&mut node_a, t1.clone(), 1_000);
    attach(&mut node_a, t2.clone(), 1_001);
    let side1 = pile_on(&mut node_a, t1.id(), 100, 8, 1_010);
    assert_eq!(node_a.status(&t1.id()), Some(TxStatus::Confirmed));
    assert_eq!(node_a.status(&t2.id()), Some(TxStatus::Conflicting));
    // The anchoring gateway's node saw only t2, and its weight.
    let mut gateway = tangle_with(config(), vec![(addr(&a), 100)]);
    gateway.handle_transaction(t2.clone(), 1_001).unwrap();
    let side2 = pile_on(&mut gateway, t2.id(), 200, 10, 1_020);
    let snap = gateway.propose_snapshot(1_000);
    assert!(snap.finalized.contains(&t2.id()));
    // A receives the gateway's transactions (born conflicting there), then the anchor.
    for id in &side2 {
        node_a
            .handle_transaction(gateway.get(id).unwrap(), 1_040)
            .unwrap();
    }
    node_a.handle_anchor(&snap, 1_050).unwrap();
    assert_eq!(node_a.status(&t2.id()), Some(TxStatus::Final));
    assert_eq!(node_a.status(&t1.id()), Some(TxStatus::Conflicting));
    for id in &side1 {
        assert_eq!(node_a.status(id), Some(TxStatus::Conflicting));
    }
    // Gateway-side transactions not yet anchored are no longer conflicting on A.
    for id in side2.iter().filter(|id| !snap.finalized.contains(id)) {
        assert_ne!(node_a.status(id), Some(TxStatus::Conflicting), "{id:?}");
    }
    assert_eq!(node_a.balances().balance(&addr(&key(3))), 70);
    assert_eq!(node_a.balances().balance(&addr(&key(2))), 0);
    assert_eq!(node_a.balances().root(), snap.balances_root);
}

#[test]
fn an_anchor_naming_unknown_transactions_requests_them_and_succeeds_after() {
    let (gateway, ids) = confirmed_tangle(12);
    let snap = gateway.propose_snapshot(1_000);
    let mut late = tangle_with(config(), vec![(addr(&key(1)), 1_000)]);
    // The late node only has the first two transactions.
    let half = 2;
    assert!(snap.finalized.len() > half);
    for id in &ids[..half] {
        late.handle_transaction(gateway.get(id).unwrap(), 1_100)
            .unwrap();
    }
    late.take_events();
    let got = late.handle_anchor(&snap, 1_100);
    assert!(matches!(got, Err(DagError::AnchorUnknownTx(_))), "{got:?}");
    let requested: Vec<TxId> = late
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::RequestMissing(id) => Some(id),
            _ => None,
        })
        .collect();
    assert!(!requested.is_empty());
    // Delivered in reverse order: children first wait, then everything solidifies.
    for id in ids[half..].iter().rev() {
        late.handle_transaction(gateway.get(id).unwrap(), 1_100)
            .unwrap();
    }
    late.handle_anchor(&snap, 1_101).unwrap();
    assert_eq!(late.balances().root(), snap.balances_root);
}

#[test]
fn pruning_keeps_memory_bounded_over_a_long_run() {
    let config = TangleConfig {
        confirmation_threshold: 6,
        max_parent_age_ms: 5_000,
        retention_ms: 10_000,
        ..config()
    };
    let mut t: Tangle<MemoryStore> = tangle_with(config, vec![]);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let issuers: Vec<_> = (1..=8).map(key).collect();
    let mut seq = [0u64; 8];
    let mut peak = 0;
    let mut peak_bytes = 0;
    let mut now = 1_000;
    for step in 0..600u64 {
        now += 100;
        let who = (step % 8) as usize;
        let parents = t
            .select_parents(&UniformRandom::default(), &mut rng, now, 2)
            .unwrap();
        let x = tx(&issuers[who], seq[who], now, &parents, data(b"m"), MIN_D);
        seq[who] += 1;
        t.handle_transaction(x, now).unwrap();
        if step % 20 == 19 {
            let snap = t.propose_snapshot(10_000);
            t.handle_anchor(&snap, now).unwrap();
            t.handle_timeout(now);
        }
        peak = peak.max(t.len());
        peak_bytes = peak_bytes.max(t.memory_usage().total());
    }
    // 10 tx/s for 60 s = 600 issued; retention 10 s holds ~100 plus the unanchored tail.
    assert!(peak < 200, "peak {peak}");
    // Every graph node has its body in the store, except the (bodyless) genesis roots.
    let bodies = t.store().count(StoreTable::Body);
    assert_eq!(t.len() - bodies, 2);
    assert_eq!(t.store().count(StoreTable::Node), t.len());
    let report = t.memory_usage();
    assert!(
        report.bytes_per_transaction > 200 && report.bytes_per_transaction < 2_000,
        "{report:?}"
    );
    assert!(peak_bytes < 200 * 2_000, "{peak_bytes}");
    let events: Vec<_> = t.take_events();
    assert!(events.iter().any(|e| matches!(e, Event::Pruned { .. })));
}

#[test]
fn a_validator_co_signs_only_a_snapshot_its_tangle_holds() {
    let (gateway, ids) = confirmed_tangle(12);
    let proposal = gateway.propose_snapshot(1_000);
    // A validator that has seen everything holds the proposal.
    let mut validator = tangle_with(config(), vec![(addr(&key(1)), 1_000)]);
    for id in &ids {
        validator
            .handle_transaction(gateway.get(id).unwrap(), 1_100)
            .unwrap();
    }
    validator.take_events();
    assert_eq!(validator.check_snapshot_proposal(&proposal), Ok(()));
    // One that lacks a transaction does not, and the check asks nobody for anything.
    let mut late = tangle_with(config(), vec![(addr(&key(1)), 1_000)]);
    late.handle_transaction(gateway.get(&ids[0]).unwrap(), 1_100)
        .unwrap();
    late.take_events();
    let before = late.state_digest();
    assert!(matches!(
        late.check_snapshot_proposal(&proposal),
        Err(e @ DagError::AnchorUnknownTx(_)) if e.blame() == itc_crypto::Blame::Ignorable
    ));
    assert_eq!(late.state_digest(), before);
    assert_eq!(late.pending_events(), 0);
    // Proposals that contradict the validator's view are the proposer's fault.
    type Mutation = fn(&mut DagSnapshot);
    let forged: Vec<(&str, Mutation)> = vec![
        ("balances", |s| s.balances_root = Hash([3; 32])),
        ("previous root", |s| s.prev_root = Hash([4; 32])),
        ("tips", |s| s.tips.clear()),
        ("order", |s| s.finalized.reverse()),
        ("not closed", |s| {
            s.finalized.remove(0);
        }),
    ];
    for (what, mutate) in forged {
        let mut s = proposal.clone();
        mutate(&mut s);
        let before = validator.state_digest();
        let got = validator.check_snapshot_proposal(&s);
        assert!(
            got.as_ref()
                .is_err_and(|e| e.blame() == itc_crypto::Blame::Peer),
            "{what}: {got:?}"
        );
        assert_eq!(validator.state_digest(), before, "{what}");
    }
    // A sequence it does not expect.
    let mut ahead = proposal.clone();
    ahead.snapshot_seq += 1;
    assert_eq!(
        validator.check_snapshot_proposal(&ahead),
        Err(DagError::AnchorSequence {
            expected: 1,
            got: 2
        })
    );
    // Once finalised, the same snapshot is still held (a late co-signature request); a
    // different one under the same sequence is not.
    validator.handle_anchor(&proposal, 1_200).unwrap();
    assert_eq!(validator.check_snapshot_proposal(&proposal), Ok(()));
    let mut other = proposal.clone();
    other.balances_root = Hash([5; 32]);
    assert_eq!(
        validator.check_snapshot_proposal(&other),
        Err(DagError::AnchorNotCanonical)
    );
    // So is the genesis snapshot, while it is kept.
    let genesis = validator.snapshot(0).cloned().unwrap();
    assert_eq!(validator.check_snapshot_proposal(&genesis), Ok(()));
}

#[test]
fn undrained_events_hold_back_new_input_instead_of_being_dropped() {
    // Before: past `max_events` the oldest events were silently dropped (a lost gossip or
    // fetch). Now input is refused until the integrator drains, and nothing is lost.
    let config = TangleConfig {
        max_events: 3,
        ..config()
    };
    let mut t = tangle_with(config, vec![]);
    let g = genesis_parents();
    let mut ids = vec![];
    let mut refused = None;
    for k in 0..6u64 {
        let x = tx(&key(10 + k), 0, 1_000 + k, &g, data(b"e"), MIN_D);
        match t.handle_transaction(x.clone(), 1_000 + k) {
            Ok(()) => ids.push(x.id()),
            Err(e) => {
                refused = Some((e, x));
                break;
            }
        }
    }
    let (e, x) = refused.expect("input refused once the queue is full");
    assert_eq!(e, DagError::EventBacklog { pending: 3, max: 3 });
    assert_eq!(e.blame(), itc_crypto::Blame::Local);
    // Every event of every accepted input is still there, oldest first.
    let attached: Vec<TxId> = t
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Attached { id, .. } => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(attached, ids);
    // Drained: the refused input is taken now.
    t.handle_transaction(x, 1_010).unwrap();
    assert_eq!(t.pending_events(), 1);
}
