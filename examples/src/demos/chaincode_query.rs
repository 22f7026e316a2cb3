//! `chaincode_query`: `itc-chaincode` on its own.
//!
//! A vendor asks a fleet of lamps three questions — an hour-of-day usage histogram, the number
//! of "on" events, and how many distinct rooms were lit — each under ε = 1 and k ≥ 50. Every
//! lamp answers from its own records with a signed sketch; the aggregator releases noised
//! results and splits each budget exactly. A fourth question exceeds the lamps' weekly ε
//! budget and is refused; a question too few lamps answer is withheld and refunded.

use std::time::Instant;

use itc_chaincode::aggregator::{Aggregator, AggregatorConfig, CloseOutcome, ReleasedValue};
use itc_chaincode::budget::PrivacyBudget;
use itc_chaincode::error::ExecError;
use itc_chaincode::executor::LocalExecutor;
use itc_chaincode::plan::{Aggregation, Filter, Fuel, Plan, Policy, Privacy, Record, ValidPlan};
use itc_crypto::{Address, Hash, SecretKey};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use super::Scale;
use crate::error::StoryError;
use crate::report::{mean, Report};

const KIND_ON: u32 = 1;
const DEADLINE: u64 = 1_000_000;
const BUDGET: u64 = 10_000;

struct Lamp {
    exec: LocalExecutor<SecretKey>,
    owner: Address,
    hours: Vec<[i64; 1]>,
    rooms: Vec<[u8; 2]>,
}

fn plan(nonce: u64, aggregation: Aggregation) -> Plan {
    Plan {
        vendor: Address([0xaa; 20]),
        nonce,
        filter: Filter {
            kinds: vec![KIND_ON],
            since_ms: 0,
            until_ms: DEADLINE,
            tags_all: 0,
            max_records: 40,
        },
        aggregation,
        privacy: Privacy {
            epsilon_milli: 1000,
            min_contributors: 50,
        },
        budget: BUDGET,
        deadline_ms: DEADLINE,
        fuel: Fuel {
            per_record: 16,
            per_plan: 200_000,
        },
    }
}

/// Runs the demo.
pub fn run(report: &mut Report, scale: Scale) -> Result<(), StoryError> {
    report.phase("A vendor's questions, answered by a fleet of lamps");
    let n = scale.pick(400, 70);
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let mut lamps: Vec<Lamp> = (0..n)
        .map(|i| {
            let key = SecretKey::generate(&mut rng);
            let owner = Address::from_public_key(&SecretKey::generate(&mut rng).public_key());
            let events = 5 + rng.next_u32() % 30;
            // Evenings are popular: hours 17–23 twice as likely.
            let hours = (0..events)
                .map(|_| {
                    let h = rng.next_u32() % 31;
                    [i64::from(if h >= 24 { 17 + (h - 24) } else { h })]
                })
                .collect();
            let rooms = (0..events)
                .map(|_| [(i % 200) as u8, (rng.next_u32() % 3) as u8])
                .collect();
            Lamp {
                exec: LocalExecutor::new(key, PrivacyBudget::default(), Policy::default()),
                owner,
                hours,
                rooms,
            }
        })
        .collect();
    let policy = Policy::default();
    let questions: [(&str, Aggregation); 4] = [
        (
            "usage by hour of day",
            Aggregation::Histogram {
                field: 0,
                lo: 0,
                width: 1,
                buckets: 24,
            },
        ),
        ("number of times lamps were switched on", Aggregation::Count),
        (
            "distinct rooms lit",
            Aggregation::DistinctCount { precision: 12 },
        ),
        ("one question too many", Aggregation::Count),
    ];
    for (q, (what, aggregation)) in questions.into_iter().enumerate() {
        let p: ValidPlan = plan(q as u64, aggregation)
            .validate(&policy, Hash([q as u8; 32]), 0)
            .map_err(StoryError::Plan)?;
        let mut agg = Aggregator::new(p.clone(), AggregatorConfig::default());
        let started = Instant::now();
        let mut refused = 0;
        let mut truth_hist = [0i64; 24];
        let mut truth_count = 0i64;
        let mut rooms = std::collections::BTreeSet::new();
        for (i, lamp) in lamps.iter_mut().enumerate() {
            let records: Vec<Record<'_>> = lamp
                .hours
                .iter()
                .zip(&lamp.rooms)
                .enumerate()
                .map(|(k, (h, room))| Record {
                    kind: KIND_ON,
                    time_ms: 10 + k as u64,
                    tags: 0,
                    fields: h,
                    key: room,
                })
                .collect();
            for (h, room) in lamp.hours.iter().zip(&lamp.rooms).take(40) {
                if let Some(b) = truth_hist.get_mut(h[0].clamp(0, 23) as usize) {
                    *b += 1;
                }
                truth_count += 1;
                rooms.insert(*room);
            }
            match lamp.exec.run(
                &p,
                records.iter().copied(),
                lamp.owner,
                100 + i as u64,
                &mut rng,
            ) {
                Ok(c) => agg.submit(&c, 200).map_err(StoryError::Contribution)?,
                Err(ExecError::BudgetExceeded { .. }) => refused += 1,
                Err(e) => return Err(StoryError::Exec(e)),
            }
            report.progress(what, i + 1, n);
        }
        let per_device_ms = started.elapsed().as_secs_f64() * 1000.0 / n as f64;
        if q == 3 {
            report.expect(
                "a fourth question in the same week exceeds every lamp's ε budget (3) and is refused",
                refused == n && agg.contributors() == 0,
                format!("{refused} of {n} lamps refused: BudgetExceeded"),
            );
            let outcome = agg
                .close(Hash([9; 32]), DEADLINE)
                .map_err(StoryError::Close)?;
            report.expect(
                "with nobody answering, nothing is released and the budget is refunded",
                matches!(&outcome, CloseOutcome::Withheld { settlement, .. } if settlement.refund == BUDGET && settlement.payouts.is_empty()),
                "",
            );
            continue;
        }
        let outcome = agg
            .close(Hash([9; 32]), DEADLINE)
            .map_err(StoryError::Close)?;
        let CloseOutcome::Released {
            release,
            settlement,
        } = outcome
        else {
            report.expect(format!("\"{what}\" is released"), false, "withheld");
            continue;
        };
        let paid: u64 = settlement.payouts.iter().map(|p| p.amount).sum();
        // Bounds from the noise: discrete Laplace at scale Δ/ε exceeds 10·Δ/ε with probability
        // e^-10 (per bucket); the HyperLogLog adds about 1.6 % at precision 12.
        let delta = p.sensitivity() as i64;
        let (ok, detail) = match &release.value {
            ReleasedValue::Histogram(h) => {
                let l1: i64 = h
                    .iter()
                    .zip(truth_hist.iter())
                    .map(|(a, b)| (a - b).abs())
                    .sum();
                let evening: i64 = h.iter().skip(17).sum();
                let morning: i64 = h.iter().take(7).sum();
                (
                    h.len() == 24 && l1 <= 24 * 3 * delta,
                    format!("L1 error {l1} over {truth_count} events (noise scale {delta} per bucket); evening {evening} vs early morning {morning}"),
                )
            }
            ReleasedValue::Count(c) => (
                (c - truth_count).abs() <= 10 * delta,
                format!("released {c}, true {truth_count}"),
            ),
            ReleasedValue::DistinctCount(d) => {
                let t = rooms.len() as i64;
                (
                    (d - t).abs() <= t / 10 + 10 * delta,
                    format!("released {d}, true {t}"),
                )
            }
            _ => (false, "unexpected value".into()),
        };
        report.expect(
            format!("\"{what}\": noised release close to the truth"),
            ok,
            detail,
        );
        report.expect(
            format!(
                "\"{what}\": {} payouts add up to the budget",
                settlement.payouts.len()
            ),
            paid + settlement.refund == BUDGET
                && settlement.refund == 0
                && release.contributors as usize == n,
            format!("{paid} ITC; {per_device_ms:.1} ms per device (run + check, host)"),
        );
        if q == 0 {
            report.figure(
                "chaincode_histogram_ms_per_device",
                "histogram plan, per device (run + check)",
                per_device_ms,
                "ms",
                1,
            );
        }
    }
    let spent: Vec<u64> = lamps
        .iter()
        .map(|l| u64::from(l.exec.ledger().spent(DEADLINE)))
        .collect();
    report.say(format!(
        "ε spent per lamp this week: {:.0} milli (budget 3000)",
        mean(&spent)
    ));
    Ok(())
}
