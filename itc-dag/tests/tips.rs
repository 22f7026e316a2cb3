//! Tip selection: bounds hold and fall back as stated, the walk follows weight and leaves lazy
//! tips alone, and the same seed picks the same tips.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeSet;

use common::*;
use itc_dag::tips::WalkEnd;
use itc_dag::{
    DagSnapshot, RandomWalk, Tangle, TangleConfig, TipSelector, TxId, TxStatus, UniformRandom,
};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

/// A tangle of `n` honest transactions (uniform tips, anchored every 50) plus `lazy` lazy
/// transactions that approve 5-second-old transactions. Returns the lazy ids.
fn grow_with(selector: &dyn TipSelector, n: u64, lazy: u64) -> (Tangle, BTreeSet<TxId>, u64) {
    let config = TangleConfig {
        confirmation_threshold: 10,
        ..config()
    };
    let mut t = tangle_with(config, vec![]);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let issuers: Vec<_> = (1..=10).map(key).collect();
    let mut seq = [0u64; 10];
    let mut history: Vec<(u64, TxId)> = vec![];
    let mut lazy_ids = BTreeSet::new();
    let mut now = 1_000;
    // Rounds of ten issuers who pick parents at the same moment, as concurrent devices would:
    // this keeps a realistically wide tip set.
    for round in 0..n / 10 {
        now += 500;
        let picks: Vec<_> = (0..10)
            .map(|_| t.select_parents(selector, &mut rng, now, 2).unwrap())
            .collect();
        for (who, parents) in picks.into_iter().enumerate() {
            let x = tx(&issuers[who], seq[who], now, &parents, data(b"h"), MIN_D);
            seq[who] += 1;
            history.push((now, x.id()));
            t.handle_transaction(x, now).unwrap();
        }
        if round % 5 == 4 {
            let s: DagSnapshot = t.propose_snapshot(10_000);
            t.handle_anchor(&s, now).unwrap();
        }
        let k = round * 10;
        if k >= 200 && (lazy_ids.len() as u64) < lazy && round % (n / 10 / lazy.max(1)).max(1) == 0
        {
            let old: Vec<TxId> = history
                .iter()
                .filter(|(ts, _)| now - ts >= 5_000)
                .rev()
                .take(2)
                .map(|(_, id)| *id)
                .collect();
            let l = tx(&key(1_000 + k), 0, now, &old, data(b"lazy"), MIN_D);
            lazy_ids.insert(l.id());
            t.handle_transaction(l, now).unwrap();
        }
    }
    (t, lazy_ids, now)
}

fn grow(n: u64, lazy: u64) -> (Tangle, BTreeSet<TxId>, u64) {
    grow_with(&UniformRandom::default(), n, lazy)
}

#[test]
fn the_walk_leaves_lazy_tips_alone_where_uniform_selection_does_not() {
    // Honest devices that pick tips uniformly end up approving the lazy transactions (and so
    // pull them into the confirmed region); devices that walk from the anchor leave them.
    let approved = |selector: &dyn TipSelector| {
        let (t, lazy, _) = grow_with(selector, 1_500, 40);
        assert!(lazy.len() >= 30, "{}", lazy.len());
        lazy.iter()
            .filter(|id| t.graph().approvers(id).next().is_some())
            .count()
    };
    let uniform = approved(&UniformRandom::default());
    let walk = approved(&RandomWalk::default());
    println!("lazy transactions approved by honest devices: uniform {uniform}, walk {walk}");
    assert!(
        uniform >= 20,
        "uniform approved {uniform} lazy transactions"
    );
    assert!(
        walk * 10 <= uniform,
        "walk approved {walk}, uniform {uniform}"
    );
}

#[test]
fn walks_respect_their_bounds_and_fall_back() {
    let (t, _, now) = grow(600, 0);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    // A one-step budget cannot reach a tip from the anchor.
    let short = RandomWalk {
        max_steps: 1,
        ..RandomWalk::default()
    };
    assert_eq!(short.walk(t.graph(), &mut rng, now), WalkEnd::Fallback);
    let narrow = RandomWalk {
        max_examined: 1,
        ..RandomWalk::default()
    };
    assert_eq!(narrow.walk(t.graph(), &mut rng, now), WalkEnd::Fallback);
    // The fallback still yields an eligible tip.
    let tip = short.select_tip(t.graph(), &mut rng, now).unwrap();
    assert!(t.graph().is_approvable(&tip, now));
    assert_eq!(t.graph().approvers(&tip).count(), 0);
    // Unbounded enough, walks end on real tips in few steps (they start at the last anchor).
    let walk = RandomWalk::default();
    for _ in 0..100 {
        match walk.walk(t.graph(), &mut rng, now) {
            WalkEnd::Tip(id, steps) => {
                assert!(steps < 100, "{steps} steps");
                assert_ne!(t.status(&id), Some(TxStatus::Conflicting));
                assert!(t.graph().is_approvable(&id, now));
            }
            WalkEnd::Fallback => panic!("walk fell back on a healthy tangle"),
        }
    }
    // Ten minutes without traffic: max depth counts from the newest transaction, so the tips
    // the tangle stopped at are still offered (it can be re-entered).
    let far = now + 10 * 60_000;
    let tip = UniformRandom::default()
        .select_tip(t.graph(), &mut rng, far)
        .unwrap();
    assert!(t.graph().is_approvable(&tip, far));
    assert_eq!(
        t.graph().depth_reference(far),
        t.graph().depth_reference(now)
    );
}

#[test]
fn the_same_seed_picks_the_same_tips() {
    let (t, _, now) = grow(300, 0);
    let pick = |seed| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..20)
            .map(|_| {
                t.select_parents(&RandomWalk::default(), &mut rng, now, 2)
                    .unwrap()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(pick(3), pick(3));
    assert_ne!(pick(3), pick(4));
}
