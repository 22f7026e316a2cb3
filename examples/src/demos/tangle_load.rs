//! `tangle_load`: `itc-dag` under load.
//!
//! Hundreds of devices post readings with proof of work at a steady rate; the tangle confirms
//! them by approving weight; every ten seconds the anchoring gateway snapshots the confirmed
//! region and (as if the main chain committed it) the tangle finalises it; light-client
//! inclusion proofs are checked against the snapshot roots; finally old transactions are
//! pruned.

use std::collections::BTreeMap;
use std::time::Instant;

use itc_crypto::SecretKey;
use itc_dag::snapshot::verify_inclusion;
use itc_dag::{
    DagSnapshot, Event, IssuerPolicy, IssuerProfile, MemoryStore, Payload, RandomWalk, Tangle,
    TangleConfig, TangleGenesis, Transaction, TransactionBuilder, TxId, TxStatus,
};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use super::Scale;
use crate::error::StoryError;
use crate::report::{mean, percentile, Report};

/// Difficulty every device pays.
const BITS: u8 = 8;
/// Simulated time between anchors.
const ANCHOR_EVERY_MS: u64 = 10_000;
/// Gossip delay: a reading reaches the node this long after its device picked its parents,
/// so devices work on slightly stale views and the tangle grows wide, not a chain.
const GOSSIP_MS: u64 = 250;

/// Attaches every gossiped reading due by `now`; confirmation times count from issue.
fn deliver(
    tangle: &mut Tangle,
    in_flight: &mut BTreeMap<(u64, usize), Transaction>,
    now: u64,
    issued: &BTreeMap<TxId, u64>,
    confirmed: &mut BTreeMap<TxId, u64>,
) -> Result<(), StoryError> {
    while let Some(entry) = in_flight.first_entry() {
        if entry.key().0 > now {
            break;
        }
        let ((at, _), tx) = entry.remove_entry();
        tangle.handle_transaction(tx, at).map_err(StoryError::Dag)?;
        while let Some(e) = tangle.poll_event() {
            if let Event::Confirmed(c) = e {
                if let Some(t) = issued.get(&c) {
                    confirmed.insert(c, at.saturating_sub(*t));
                }
            }
        }
    }
    Ok(())
}

/// Runs the demo.
pub fn run(report: &mut Report, scale: Scale) -> Result<(), StoryError> {
    report.phase("A tangle under load");
    let devices = scale.pick(300, 40);
    let rate_per_s = scale.pick(150, 40) as u64;
    let seconds = scale.pick(30, 15) as u64;
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let keys: Vec<SecretKey> = (0..devices)
        .map(|_| SecretKey::generate(&mut rng))
        .collect();
    let policy = IssuerPolicy::new(IssuerProfile::device(BITS, 1_000));
    let start = 1_000_000u64;
    let config = TangleConfig::default();
    let mut tangle = Tangle::new(
        config,
        policy,
        TangleGenesis {
            timestamp: start,
            balances: Vec::new(),
        },
        MemoryStore::default(),
    );
    report.say(format!(
        "{devices} devices, {rate_per_s} readings/s for {seconds} s (simulated), {BITS}-bit PoW, confirmation at weight {}",
        config.confirmation_threshold
    ));

    let total = (rate_per_s * seconds) as usize;
    let gap = 1_000 / rate_per_s.max(1);
    let mut sequences = vec![0u64; devices];
    let mut attached: BTreeMap<TxId, u64> = BTreeMap::new();
    let mut confirmed: BTreeMap<TxId, u64> = BTreeMap::new();
    let mut snapshots: Vec<DagSnapshot> = Vec::new();
    let mut tips = Vec::new();
    let mut next_anchor = start + ANCHOR_EVERY_MS;
    let mut in_flight: BTreeMap<(u64, usize), Transaction> = BTreeMap::new();
    let started = Instant::now();
    let mut now = start;
    for n in 0..total {
        now += gap;
        deliver(&mut tangle, &mut in_flight, now, &attached, &mut confirmed)?;
        if now >= next_anchor {
            let snapshot = tangle.propose_snapshot(100_000);
            tangle
                .handle_anchor(&snapshot, now)
                .map_err(StoryError::Dag)?;
            snapshots.push(snapshot);
            next_anchor += ANCHOR_EVERY_MS;
        }
        let d = (rng.next_u32() as usize) % devices;
        let (Some(key), Some(seq)) = (keys.get(d), sequences.get_mut(d)) else {
            continue;
        };
        let parents = tangle
            .select_parents(&RandomWalk::default(), &mut rng, now, 2)
            .map_err(StoryError::Dag)?;
        let mut b = TransactionBuilder::new(key.public_key(), *seq, now)
            .parents(&parents)
            .map_err(StoryError::Dag)?
            .payload(
                Payload::data(format!("dev {d} reading {n}").as_bytes())
                    .map_err(StoryError::Dag)?,
            );
        let difficulty = tangle.required_difficulty(&key.public_key(), now);
        b.solve_pow(difficulty, 0, 1 << 30)
            .ok_or(StoryError::Unexpected("proof of work not found"))?;
        let tx = b.sign(key).map_err(StoryError::Dag)?;
        *seq += 1;
        attached.insert(tx.id(), now);
        in_flight.insert((now + GOSSIP_MS, n), tx);
        tips.push(tangle.graph().tip_count() as u64);
        if n % 500 == 0 {
            tangle.handle_timeout(now);
        }
        report.progress("attaching", n + 1, total);
    }
    now += GOSSIP_MS;
    deliver(&mut tangle, &mut in_flight, now, &attached, &mut confirmed)?;
    let wall = started.elapsed().as_secs_f64();
    let conf: Vec<u64> = confirmed.values().copied().collect();
    // The last few seconds' readings have had no time to gather weight; judge the rest.
    let settled_before = now.saturating_sub(5_000);
    let settled: Vec<&TxId> = attached
        .iter()
        .filter(|(_, t)| **t <= settled_before)
        .map(|(id, _)| id)
        .collect();
    let settled_confirmed = settled
        .iter()
        .filter(|id| confirmed.contains_key(**id))
        .count();
    report.expect(
        format!("{total} readings attached; ≥ 90 % of those older than 5 s confirmed by weight"),
        attached.len() == total
            && tangle.len() >= total
            && !settled.is_empty()
            && settled_confirmed * 10 >= settled.len() * 9,
        format!(
            "{} confirmed: median {} ms, p90 {} ms (simulated); {:.0} tx/s on this host incl. PoW, signing and verification",
            conf.len(),
            percentile(&conf, 50),
            percentile(&conf, 90),
            total as f64 / wall.max(1e-9)
        ),
    );
    report.say(format!(
        "tips: mean {:.1}, max {}",
        mean(&tips),
        percentile(&tips, 100)
    ));
    let mem = tangle.memory_usage();
    report.figure(
        "tangle_tx_per_s",
        "tangle throughput (host, incl. PoW + signature)",
        total as f64 / wall.max(1e-9),
        "tx/s",
        0,
    );
    report.figure(
        "tangle_confirm_ms_p50",
        "confirmation time p50 (simulated)",
        percentile(&conf, 50) as f64,
        "ms",
        0,
    );
    report.figure(
        "tangle_bytes_per_tx",
        "memory per transaction",
        mem.bytes_per_transaction as f64,
        "B",
        0,
    );

    // Anchors: every snapshot finalised something; proofs check against the roots.
    let finalized: usize = snapshots.iter().map(|s| s.finalized.len()).sum();
    let final_now = attached
        .keys()
        .filter(|id| tangle.status(id) == Some(TxStatus::Final))
        .count();
    report.expect(
        format!(
            "{} anchors finalise the confirmed region in order",
            snapshots.len()
        ),
        !snapshots.is_empty() && finalized == final_now && finalized > 0,
        format!("{finalized} transactions final"),
    );
    let mut checked = 0;
    let mut proof_bytes = 0;
    let mut all_ok = true;
    for s in &snapshots {
        let root = s.root();
        for id in s.finalized.iter().step_by(37) {
            match s.prove(id) {
                Some(p) => {
                    all_ok &= verify_inclusion(&root, id, &p).is_ok();
                    // The same proof for another transaction must fail.
                    let other = TxId(itc_crypto::Hash([0x42; 32]));
                    all_ok &= verify_inclusion(&root, &other, &p).is_err();
                    proof_bytes = itc_crypto::Encode::encoded_len(&p);
                    checked += 1;
                }
                None => all_ok = false,
            }
        }
    }
    report.expect(
        format!("{checked} sampled inclusion proofs verify against their snapshot roots (and not for another id)"),
        all_ok && checked > 0,
        format!("last proof {proof_bytes} B"),
    );

    // Pruning: past retention, final transactions leave memory and the store.
    let before = tangle.len();
    tangle.handle_timeout(now + config.retention_ms + 1);
    let pruned: usize = tangle
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Pruned { count } => Some(count),
            _ => None,
        })
        .sum();
    report.expect(
        "after the retention period final transactions are pruned",
        pruned > 0 && tangle.len() < before,
        format!("{before} → {} transactions held", tangle.len()),
    );
    Ok(())
}
