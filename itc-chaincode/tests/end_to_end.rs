//! Seeded end-to-end simulations: devices run plans locally, the aggregator merges, releases
//! and settles. Checks that releases are accurate within the noise, that payouts follow the
//! stated rule, and that validators agree byte for byte whatever the submission order.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeSet;

use common::*;
use itc_chaincode::aggregator::{
    Aggregator, AggregatorConfig, CloseOutcome, Release, ReleasedValue,
};
use itc_chaincode::contribution::Contribution;
use itc_chaincode::payout::Settlement;
use itc_chaincode::plan::{Aggregation, Clamp, ValidPlan};
use itc_crypto::{Address, Decode, Encode, Hash};

const BEACON: Hash = Hash([0xbe; 32]);

fn run(p: &ValidPlan, devs: &mut [Device]) -> (Vec<Contribution>, Release, Settlement) {
    let contributions: Vec<Contribution> = devs
        .iter_mut()
        .enumerate()
        .map(|(i, d)| contribute(d, p, 100, 1000 + i as u64))
        .collect();
    let mut agg = Aggregator::new(p.clone(), AggregatorConfig::default());
    for c in &contributions {
        // Every contribution survives the wire unchanged.
        assert_eq!(&Contribution::decode_bytes(&c.encode_to_vec()).unwrap(), c);
        agg.submit(c, 200).unwrap();
    }
    match agg.close(BEACON, DEADLINE).unwrap() {
        CloseOutcome::Released {
            release,
            settlement,
        } => (contributions, release, settlement),
        CloseOutcome::Withheld { reason, .. } => panic!("withheld: {reason:?}"),
    }
}

fn capped(d: &Device, cap: u32) -> Vec<usize> {
    d.data.matching().take(cap as usize).collect()
}

/// |noise| of discrete Laplace at scale Δ/ε stays below 25·Δ/ε except with probability e^-25.
fn noise_bound(delta: u64, eps_milli: u32) -> f64 {
    25.0 * delta as f64 * 1000.0 / f64::from(eps_milli)
}

#[test]
fn sum_mean_and_count_are_accurate_within_noise() {
    let cap = 20;
    let clamp = Clamp { lo: -100, bits: 12 }; // [-100, 3995]
    let mut devs = devices(10, 120, 30, 1000);
    let truth_sum: i64 = devs
        .iter()
        .map(|d| {
            let s: i64 = capped(d, cap).iter().map(|i| d.data.fields[*i][0]).sum();
            s.clamp(clamp.lo, clamp.hi().unwrap())
        })
        .sum();
    let truth_count: u64 = devs.iter().map(|d| capped(d, cap).len() as u64).sum();

    let sum_plan = valid(plan(Aggregation::Sum { field: 0, clamp }, 50, cap));
    let (_, release, settlement) = run(&sum_plan, &mut devs);
    let ReleasedValue::Sum(s) = release.value else {
        panic!()
    };
    assert!(
        ((s - truth_sum) as f64).abs() < noise_bound(sum_plan.sensitivity(), 1000),
        "{s} vs {truth_sum}"
    );
    assert_eq!(release.contributors, 120);
    assert_eq!(
        settlement.payouts.iter().map(|p| p.amount).sum::<u64>() + settlement.refund,
        BUDGET
    );

    let mean_plan = valid(plan(Aggregation::Mean { field: 0, clamp }, 50, cap));
    let (_, release, _) = run(&mean_plan, &mut devs);
    let mean = release.mean().unwrap() as f64;
    let truth_mean = truth_sum as f64 / 120.0;
    assert!((mean - truth_mean).abs() < noise_bound(mean_plan.sensitivity(), 1000) / 120.0 + 1.0);

    let count_plan = valid(plan(Aggregation::Count, 50, cap));
    let (contribs, release, settlement) = run(&count_plan, &mut devs);
    let ReleasedValue::Count(c) = release.value else {
        panic!()
    };
    assert!(((c - truth_count as i64) as f64).abs() < noise_bound(count_plan.sensitivity(), 1000));
    // Payouts are proportional to matched records (largest remainder): check every quota.
    for d in &devs {
        let w = capped(d, cap).len() as u128;
        let quota = u128::from(BUDGET) * w / u128::from(truth_count);
        let got = settlement
            .payouts
            .iter()
            .find(|p| p.to == d.payout)
            .map_or(0, |p| p.amount);
        assert!(u128::from(got) == quota || u128::from(got) == quota + 1);
    }
    // Contributions carry no value in clear: the header has only a commitment.
    assert!(contribs.iter().all(|c| c.header.value.is_some()));
}

#[test]
fn distinct_count_over_overlapping_devices() {
    let mut devs = devices(11, 200, 200, 5_000);
    let p = valid(plan(Aggregation::DistinctCount { precision: 12 }, 50, 200));
    let truth: BTreeSet<&[u8]> = devs
        .iter()
        .flat_map(|d| {
            capped(d, 200)
                .into_iter()
                .map(move |i| d.data.keys[i].as_slice())
        })
        .collect();
    let truth = truth.len() as f64;
    let (_, release, _) = run(&p, &mut devs);
    let ReleasedValue::DistinctCount(est) = release.value else {
        panic!()
    };
    let rel = (est as f64 - truth) / truth;
    // 4 standard errors of HLL at p = 12 plus the noise (Δ = 200 at ε = 1).
    assert!(
        rel.abs() < 4.0 * 0.01625 + noise_bound(200, 1000) / truth,
        "{est} vs {truth}"
    );
}

#[test]
fn histogram_counts_every_record_once() {
    let mut devs = devices(12, 80, 40, 100);
    let p = valid(plan(
        Aggregation::Histogram {
            field: 0,
            lo: 0,
            width: 100,
            buckets: 5,
        },
        50,
        40,
    ));
    let mut truth = [0i64; 5];
    for d in &devs {
        for i in capped(d, 40) {
            let v = d.data.fields[i][0];
            truth[(v.div_euclid(100)).clamp(0, 4) as usize] += 1;
        }
    }
    let (_, release, _) = run(&p, &mut devs);
    let ReleasedValue::Histogram(h) = release.value else {
        panic!()
    };
    for (got, want) in h.iter().zip(truth) {
        assert!(
            ((got - want) as f64).abs() < noise_bound(40, 1000),
            "{h:?} vs {truth:?}"
        );
    }
}

#[test]
fn membership_reports_follow_randomized_response() {
    let mut devs = devices(13, 300, 20, 40);
    let candidates: Vec<Vec<u8>> = vec![b"store-3".to_vec(), b"store-nowhere".to_vec()];
    let p = valid(plan(
        Aggregation::Membership {
            candidates: candidates.clone(),
        },
        50,
        20,
    ));
    let holders: Vec<usize> = candidates
        .iter()
        .map(|c| {
            devs.iter()
                .filter(|d| capped(d, 20).iter().any(|i| &d.data.keys[*i] == c))
                .count()
        })
        .collect();
    let (_, release, _) = run(&p, &mut devs);
    let ReleasedValue::Membership(counts) = release.value else {
        panic!()
    };
    // ε = 1 split over 2 candidates: flip probability q = 1/(1+e^{0.5}).
    let q = 1.0 / (1.0 + 0.5f64.exp());
    let n = 300.0;
    for (s, t) in counts.iter().zip(&holders) {
        let t = *t as f64;
        let expected = t * (1.0 - q) + (n - t) * q;
        let sd = (n * q * (1.0 - q)).sqrt();
        assert!(
            (*s as f64 - expected).abs() < 5.0 * sd,
            "{s} vs {expected} (holders {t})"
        );
    }
    assert!(holders[1] == 0 && holders[0] > 0);
}

#[test]
fn validators_agree_whatever_the_order_and_outputs_are_deterministic() {
    let p = valid(plan(
        Aggregation::Sum {
            field: 1,
            clamp: Clamp { lo: 0, bits: 10 },
        },
        50,
        10,
    ));
    let mut devs = devices(14, 70, 15, 100);
    let contributions: Vec<Contribution> = devs
        .iter_mut()
        .enumerate()
        .map(|(i, d)| contribute(d, &p, 100, i as u64))
        .collect();
    let close = |order: &mut dyn Iterator<Item = &Contribution>, beacon: Hash| {
        let mut agg = Aggregator::new(p.clone(), AggregatorConfig::default());
        for c in order {
            agg.submit(c, 100).unwrap();
        }
        agg.close(beacon, DEADLINE).unwrap()
    };
    let forward = close(&mut contributions.iter(), BEACON);
    let backward = close(&mut contributions.iter().rev(), BEACON);
    assert_eq!(forward, backward);
    let (
        CloseOutcome::Released {
            release: r1,
            settlement: s1,
        },
        CloseOutcome::Released {
            release: r2,
            settlement: s2,
        },
    ) = (&forward, &backward)
    else {
        panic!()
    };
    assert_eq!(r1.digest(), r2.digest());
    assert_eq!(s1.digest(), s2.digest());
    // A different beacon gives different noise (same contributions).
    let other = close(&mut contributions.iter(), Hash([1; 32]));
    assert_ne!(forward, other);
    // Payout list is canonical: sorted by address, no zero amounts, one entry per address.
    let addrs: Vec<Address> = s1.payouts.iter().map(|p| p.to).collect();
    let mut sorted = addrs.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(addrs, sorted);
    assert!(s1.payouts.iter().all(|p| p.amount > 0));
}
