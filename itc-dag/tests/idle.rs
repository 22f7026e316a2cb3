//! An idle tangle takes new transactions again, with no keep-alive traffic, and what that
//! allows an attacker stays bounded.
//!
//! Before: tips older than `max_parent_age_ms` (measured from `now`) could not be approved,
//! so after a quiet spell `select_parents` found nothing (`NoTips`) and a hand-picked old
//! parent was refused (`ParentTooOld`); the story kept a "pulsing sensor" alive to avoid it.
//! Now max depth is measured from the newest held transaction, and the genesis roots and the
//! latest anchor's tips are approvable at any age.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use itc_dag::{DagError, RandomWalk, Tangle, TangleConfig, TangleGenesis, TxId, TxStatus};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

/// Issues `n` readings from issuers `first_key..`, each approving what the walk selects.
fn traffic(t: &mut Tangle, rng: &mut ChaCha8Rng, first_key: u64, n: u64, start: u64) -> Vec<TxId> {
    (0..n)
        .map(|k| {
            let now = start + 10 * k;
            let p = t
                .select_parents(&RandomWalk::default(), rng, now, 2)
                .unwrap();
            let x = tx(&key(first_key + k), 0, now, &p, data(b"r"), MIN_D);
            let id = x.id();
            t.handle_transaction(x, now).unwrap();
            id
        })
        .collect()
}

/// Lets `ms` pass the way a node does: housekeeping at every deadline `poll_timeout` names.
fn sleep(t: &mut Tangle, from: u64, ms: u64) -> u64 {
    let end = from + ms;
    let mut wakeups = 0;
    while let Some(d) = t.poll_timeout().filter(|d| *d <= end) {
        t.handle_timeout(d.max(from));
        wakeups += 1;
        assert!(wakeups < 100_000, "housekeeping deadline does not advance");
    }
    t.take_events();
    end
}

#[test]
fn after_ten_times_max_depth_of_silence_a_new_transaction_attaches_and_confirms() {
    let cfg = config();
    let mut t = tangle_with(cfg, vec![]);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    traffic(&mut t, &mut rng, 1, 40, 1_000);
    // Part of it is anchored; the rest (the frontier) is still pending.
    let snap = t.propose_snapshot(1_000);
    assert!(!snap.finalized.is_empty());
    t.handle_anchor(&snap, 1_400).unwrap();
    let frontier = t.graph().sorted_tips();
    assert!(frontier
        .iter()
        .any(|id| t.status(id) == Some(TxStatus::Pending)));
    let now = sleep(&mut t, 1_400, 10 * cfg.max_parent_age_ms);
    let first = traffic(&mut t, &mut rng, 100, 1, now)[0];
    assert_eq!(t.status(&first), Some(TxStatus::Pending));
    // The tangle resumed where it stopped: the new reading approves the old frontier.
    assert!(t.graph().parents(&first).any(|p| frontier.contains(&p)));
    let revived: Vec<TxId> = t
        .graph()
        .parents(&first)
        .filter(|p| t.status(p) == Some(TxStatus::Pending))
        .collect();
    traffic(&mut t, &mut rng, 200, 12, now + 10);
    assert_eq!(t.status(&first), Some(TxStatus::Confirmed));
    // ...and what it approved that was pending at the pause confirms with it.
    assert!(revived
        .iter()
        .all(|id| t.status(id) == Some(TxStatus::Confirmed)));
}

#[test]
fn a_fully_pruned_tangle_is_re_entered_through_its_anchor_and_the_roots() {
    // Everything confirmed (threshold 1) and anchored as a chain, so the snapshot has a single
    // tip; then silence for longer than the retention: all that is left is that one tip and
    // the genesis roots. (Before, the roots were pruned too and `select_parents` found one
    // parent where two are needed: `NoTips`.)
    let cfg = TangleConfig {
        confirmation_threshold: 1,
        ..config()
    };
    let mut t = tangle_with(cfg, vec![]);
    let roots = genesis_parents();
    let mut prev = roots[0];
    let mut chain = vec![];
    for k in 0..6u64 {
        let x = tx(&key(1), k, 1_000 + k, &[prev, roots[1]], data(b"c"), MIN_D);
        prev = x.id();
        chain.push(prev);
        t.handle_transaction(x, 1_000 + k).unwrap();
    }
    let snap = t.propose_snapshot(1_000);
    assert_eq!(snap.tips.len(), 1, "{snap:?}");
    t.handle_anchor(&snap, 1_100).unwrap();
    assert_eq!(snap.finalized, chain);
    let now = sleep(&mut t, 1_100, 10 * cfg.retention_ms);
    let mut held: Vec<TxId> = t.graph().ids().collect();
    held.sort();
    let mut expected = vec![roots[0], roots[1], prev];
    expected.sort();
    assert_eq!(held, expected);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let p = t
        .select_parents(&RandomWalk::default(), &mut rng, now, 2)
        .unwrap();
    assert!(
        p.contains(&prev) && p.iter().any(|x| roots.contains(x)),
        "{p:?}"
    );
    let x = tx(&key(7), 0, now, &p, data(b"back"), MIN_D);
    let first = x.id();
    t.handle_transaction(x, now).unwrap();
    assert_eq!(t.status(&first), Some(TxStatus::Confirmed));
    // Traffic goes on from there.
    traffic(&mut t, &mut rng, 300, 6, now + 10);
    assert!(t.graph().approvers(&first).count() > 0);
}

#[test]
fn the_idle_window_closes_with_the_first_new_transaction() {
    // What a spammer gets from the rule: after a pause it may hook to the frozen frontier like
    // any honest issuer; once anything new is attached (its own transaction included, since a
    // transaction must be stamped within max depth of now) the old region is below max depth
    // again.
    let cfg = config();
    let mut t = tangle_with(cfg, vec![]);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let old = traffic(&mut t, &mut rng, 1, 20, 1_000);
    let stale_pick = *old.last().unwrap();
    let other = old[old.len() - 2];
    let now = sleep(&mut t, 1_200, 10 * cfg.max_parent_age_ms);
    // Back-dated as far as the time window allows, hooked to the frozen frontier: accepted.
    let backdated = now - cfg.max_parent_age_ms;
    let s1 = tx(
        &key(900),
        0,
        backdated,
        &[stale_pick, other],
        data(b"s1"),
        MIN_D,
    );
    t.handle_transaction(s1.clone(), now).unwrap();
    // The frontier moved to `backdated`; the old region is now far below max depth.
    let s2 = tx(&key(901), 0, now, &[old[0], s1.id()], data(b"s2"), MIN_D);
    assert_eq!(
        t.handle_transaction(s2, now),
        Err(DagError::ParentTooOld(old[0]))
    );
    // While traffic flows, max depth is the wall-clock rule: nothing older than
    // `max_parent_age_ms` behind the newest transaction.
    assert!(t.graph().depth_reference(now) >= now - cfg.max_parent_age_ms);
}

#[test]
fn an_idle_tangle_with_nothing_to_expire_sets_no_deadline() {
    let mut t = tangle_with(config(), vec![]);
    assert_eq!(t.poll_timeout(), None);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    traffic(&mut t, &mut rng, 1, 3, 1_000);
    let d = t.poll_timeout().unwrap();
    // Early calls do nothing; the deadline moves only when housekeeping ran.
    t.handle_timeout(d - 1);
    assert_eq!(t.poll_timeout(), Some(d));
    t.handle_timeout(d);
    assert_eq!(t.poll_timeout(), Some(d + config().housekeeping_ms));
    assert_eq!(
        t.graph().entry_points().count(),
        TangleGenesis::roots().len()
    );
}
