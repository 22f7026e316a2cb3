//! Adversarial table: every bad input is refused with its own typed error, nothing is
//! released, nothing is paid, and the aggregator's final outcome is exactly what it would have
//! been had the bad input never arrived.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use itc_chaincode::aggregator::{Aggregator, AggregatorConfig, CloseOutcome, WithholdReason};
use itc_chaincode::budget::PrivacyBudget;
use itc_chaincode::contribution::{Contribution, ContributionHeader, Payload, Sealed, ValueProof};
use itc_chaincode::error::{
    CloseError, CommitmentProofError, ContributionError, ExecError, PlanError,
};
use itc_chaincode::executor::LocalExecutor;
use itc_chaincode::hll::HyperLogLog;
use itc_chaincode::pedersen::{Opening, PedersenGens};
use itc_chaincode::plan::{Aggregation, Clamp, Fuel, Plan, Policy, Privacy, Record};
use itc_chaincode::range_proof::RangeProof;
use itc_crypto::{Address, Decode, Encode, Hash, SecretKey, Signature};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const BEACON: Hash = Hash([0x5e; 32]);

fn sum_plan() -> Plan {
    plan(
        Aggregation::Sum {
            field: 0,
            clamp: Clamp { lo: 0, bits: 8 },
        },
        50,
        20,
    )
}

#[test]
fn plans_that_ask_too_much_are_refused() {
    let p = Policy::default();
    let cases: Vec<(Plan, PlanError)> = vec![
        (
            Plan {
                aggregation: Aggregation::RawFields { fields: vec![0, 1] },
                ..sum_plan()
            },
            PlanError::RawDataRequested,
        ),
        (
            Plan {
                privacy: Privacy {
                    epsilon_milli: 5000,
                    min_contributors: 50,
                },
                ..sum_plan()
            },
            PlanError::EpsilonOutOfRange {
                milli: 5000,
                max: 1000,
            },
        ),
        (
            Plan {
                privacy: Privacy {
                    epsilon_milli: 1000,
                    min_contributors: 2,
                },
                ..sum_plan()
            },
            PlanError::CohortTooSmall { k: 2, min: 50 },
        ),
        (
            Plan {
                fuel: Fuel {
                    per_record: 16,
                    per_plan: 10_000_000_000,
                },
                ..sum_plan()
            },
            PlanError::FuelPerPlanOutOfRange {
                limit: 10_000_000_000,
                min: 8_506,
                max: 50_000_000,
            },
        ),
        (
            Plan {
                deadline_ms: 100 * 24 * 3_600_000,
                ..sum_plan()
            },
            PlanError::DeadlineTooFar {
                deadline: 100 * 24 * 3_600_000,
                max: 30 * 24 * 3_600_000,
            },
        ),
    ];
    for (plan, err) in cases {
        // Refused both as a value and from its wire bytes (what the chain receives).
        assert_eq!(plan.clone().validate(&p, ACTIVATION, 0).unwrap_err(), err);
        assert_eq!(
            Plan::from_bytes(&plan.encode_to_vec(), &p, ACTIVATION, 0).unwrap_err(),
            err
        );
    }
    // Garbage bytes are a typed decode error.
    assert!(matches!(
        Plan::from_bytes(&[1, 2, 3], &p, ACTIVATION, 0),
        Err(PlanError::Decode(_))
    ));
}

#[test]
fn device_refuses_over_budget_expired_and_unaffordable_plans() {
    let mut devs = devices(1, 1, 10, 100);
    let d = &mut devs[0];
    let records = d.data.records();
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    // Budget ε = 3 per window: three ε = 1 plans pass, the fourth is refused.
    for nonce in 0..3 {
        let p = valid(Plan {
            nonce,
            ..sum_plan()
        });
        d.exec
            .run(&p, records.iter().copied(), d.payout, 10, &mut rng)
            .unwrap();
    }
    let ledger_before = d.exec.ledger().clone();
    let p4 = valid(Plan {
        nonce: 3,
        ..sum_plan()
    });
    assert_eq!(
        d.exec
            .run(&p4, records.iter().copied(), d.payout, 10, &mut rng)
            .unwrap_err(),
        ExecError::BudgetExceeded {
            requested: 1000,
            remaining: 0
        }
    );
    // Repeating a plan already answered.
    let p0 = valid(Plan {
        nonce: 0,
        ..sum_plan()
    });
    assert_eq!(
        d.exec
            .run(&p0, records.iter().copied(), d.payout, 10, &mut rng)
            .unwrap_err(),
        ExecError::AlreadyAnswered
    );
    // Expired plan.
    let mut fresh = LocalExecutor::new(d.key.clone(), PrivacyBudget::default(), Policy::default());
    assert_eq!(
        fresh
            .run(&p4, records.iter().copied(), d.payout, DEADLINE, &mut rng)
            .unwrap_err(),
        ExecError::PlanExpired {
            deadline: DEADLINE,
            now: DEADLINE
        }
    );
    // A device whose own policy is stricter than the chain's refuses the plan.
    let strict = Policy {
        max_epsilon_milli: 500,
        ..Policy::default()
    };
    let mut cautious = LocalExecutor::new(d.key.clone(), PrivacyBudget::default(), strict);
    assert_eq!(
        cautious
            .run(&p4, records.iter().copied(), d.payout, 10, &mut rng)
            .unwrap_err(),
        ExecError::PlanRefused(PlanError::EpsilonOutOfRange {
            milli: 1000,
            max: 500
        })
    );
    // Fuel: a plan whose fuel cannot cover this device's records produces nothing.
    let tight = valid(Plan {
        nonce: 9,
        fuel: Fuel {
            per_record: 16,
            per_plan: 8_506,
        },
        ..sum_plan()
    });
    let many: Vec<Record<'_>> = (0..20)
        .map(|i| Record {
            kind: KIND,
            time_ms: i,
            tags: 0,
            fields: &[1],
            key: b"",
        })
        .collect();
    assert!(matches!(
        fresh.run(&tight, many.iter().copied(), d.payout, 10, &mut rng),
        Err(ExecError::FuelExhausted { .. })
    ));
    // None of the refusals charged anything.
    assert_eq!(d.exec.ledger(), &ledger_before);
    assert!(fresh.ledger().spends().is_empty());
    assert!(cautious.ledger().spends().is_empty());
}

/// Re-signs a (tampered) header with the device's key, as a malicious device would.
fn resign(key: &SecretKey, header: ContributionHeader, sealed: Sealed) -> Contribution {
    Contribution::sign(header, sealed, key).unwrap()
}

#[test]
fn aggregator_rejects_each_bad_contribution_and_stays_unchanged() {
    let p = valid(sum_plan());
    let gens = PedersenGens::new();
    let mut devs = devices(3, 60, 8, 1000);
    let honest: Vec<Contribution> = devs
        .iter_mut()
        .enumerate()
        .map(|(i, d)| contribute(d, &p, 100, i as u64))
        .collect();
    let mut control = Aggregator::new(p.clone(), AggregatorConfig::default());
    let mut agg = Aggregator::new(p.clone(), AggregatorConfig::default());
    for c in &honest {
        control.submit(c, 100).unwrap();
        agg.submit(c, 100).unwrap();
    }

    let victim = &honest[0];
    let dev = &devs[0];
    let outsider = SecretKey::from_bytes(&[0x77; 32]).unwrap();
    let mut outsider_exec = LocalExecutor::new(
        outsider.clone(),
        PrivacyBudget::default(),
        Policy::default(),
    );
    let records = dev.data.records();
    let mut rng = ChaCha20Rng::seed_from_u64(99);
    let fresh = outsider_exec
        .run(&p, records.iter().copied(), Address([1; 20]), 100, &mut rng)
        .unwrap();

    let mut bad: Vec<(&str, Contribution, u64, ContributionError)> = Vec::new();

    bad.push((
        "duplicate",
        victim.clone(),
        100,
        ContributionError::DuplicateDevice,
    ));

    let mut forged = fresh.clone();
    forged.signature = Signature([7u8; 64]);
    bad.push((
        "forged signature",
        forged,
        100,
        ContributionError::InvalidSignature,
    ));

    let mut redirected = fresh.clone();
    redirected.header.payout_to = Address([0xee; 20]); // steal the reward after signing
    bad.push((
        "tampered header",
        redirected,
        100,
        ContributionError::InvalidSignature,
    ));

    let mut resealed = fresh.clone();
    resealed.sealed.noise_share = [0u8; 32];
    bad.push((
        "tampered sealed part",
        resealed,
        100,
        ContributionError::SealedDigestMismatch,
    ));

    bad.push((
        "expired",
        fresh.clone(),
        DEADLINE,
        ContributionError::DeadlineExpired {
            deadline: DEADLINE,
            now: DEADLINE,
        },
    ));

    let other_plan = valid(Plan {
        nonce: 1000,
        ..sum_plan()
    });
    let mut other_exec = LocalExecutor::new(
        outsider.clone(),
        PrivacyBudget::default(),
        Policy::default(),
    );
    let wrong = other_exec
        .run(
            &other_plan,
            records.iter().copied(),
            Address([1; 20]),
            100,
            &mut rng,
        )
        .unwrap();
    bad.push(("wrong plan", wrong, 100, ContributionError::WrongPlan));

    // Out-of-range value: commit to 10,000 (range is [0, 255]) and attach a proof made for 5.
    let huge = Opening::random(10_000, &mut rng);
    let ctx = ContributionHeader::proof_context(&p.id(), &outsider.public_key());
    let small_proof =
        RangeProof::prove(&gens, &Opening::random(5, &mut rng), 8, &ctx, &mut rng).unwrap();
    let sealed = Sealed {
        payload: Payload::Value(huge),
        noise_share: [1; 32],
    };
    let header = ContributionHeader {
        plan: p.id(),
        device: outsider.public_key(),
        payout_to: Address([1; 20]),
        matched: 3,
        sealed_digest: sealed.digest(),
        value: Some(ValueProof {
            commitment: gens.commit(&huge),
            range: small_proof,
        }),
    };
    let poison = resign(&outsider, header.clone(), sealed.clone());
    let err = agg.submit(&poison, 100).unwrap_err();
    assert!(
        matches!(
            err,
            ContributionError::RangeProof(CommitmentProofError::BitProofInvalid { .. })
        ),
        "{err:?}"
    );

    // A valid range proof lifted from another device's contribution (context-bound).
    let mut lifted_header = fresh.header.clone();
    let lifted_sealed = victim.sealed.clone();
    lifted_header.value = victim.header.value.clone();
    lifted_header.sealed_digest = lifted_sealed.digest();
    let lifted = resign(&outsider, lifted_header, lifted_sealed);
    let err = agg.submit(&lifted, 100).unwrap_err();
    assert!(matches!(err, ContributionError::RangeProof(_)), "{err:?}");

    // The sealed opening does not open the public commitment.
    let other_opening = Sealed {
        payload: Payload::Value(Opening::random(5, &mut rng)),
        noise_share: [1; 32],
    };
    let mut h2 = fresh.header.clone();
    h2.sealed_digest = other_opening.digest();
    bad.push((
        "opening mismatch",
        resign(&outsider, h2, other_opening),
        100,
        ContributionError::CommitmentMismatch,
    ));

    // Wrong payload kind (an HLL for a sum plan).
    let hll = Sealed {
        payload: Payload::Distinct(HyperLogLog::new(10).unwrap()),
        noise_share: [1; 32],
    };
    let mut h3 = fresh.header.clone();
    h3.sealed_digest = hll.digest();
    h3.value = None;
    bad.push((
        "wrong payload",
        resign(&outsider, h3, hll),
        100,
        ContributionError::PayloadMismatch,
    ));

    // Claiming more matched records than the cap, to inflate the payout.
    let mut h4 = fresh.header.clone();
    h4.matched = 21;
    bad.push((
        "matched over cap",
        resign(&outsider, h4, fresh.sealed.clone()),
        100,
        ContributionError::MatchedOverCap {
            matched: 21,
            cap: 20,
        },
    ));

    for (name, c, now, expected) in bad {
        assert_eq!(agg.submit(&c, now).unwrap_err(), expected, "{name}");
        // Round-tripping through the wire keeps the verdict (decoding is not the defence).
        let decoded = Contribution::decode_bytes(&c.encode_to_vec()).unwrap();
        assert_eq!(
            agg.submit(&decoded, now).unwrap_err(),
            expected,
            "{name} (decoded)"
        );
        assert_eq!(agg.contributors(), honest.len(), "{name} changed the state");
    }

    // Closing early is refused; after the deadline both aggregators produce identical bytes.
    assert_eq!(
        agg.close(BEACON, DEADLINE - 1).unwrap_err(),
        CloseError::DeadlineNotReached {
            deadline: DEADLINE,
            now: DEADLINE - 1
        }
    );
    let a = agg.close(BEACON, DEADLINE).unwrap();
    let b = control.close(BEACON, DEADLINE).unwrap();
    assert_eq!(a, b);
    assert!(matches!(a, CloseOutcome::Released { .. }));
    assert_eq!(
        agg.close(BEACON, DEADLINE).unwrap_err(),
        CloseError::AlreadyClosed
    );
    assert_eq!(
        agg.submit(&fresh, DEADLINE + 1).unwrap_err(),
        ContributionError::Closed
    );
}

#[test]
fn fewer_than_k_contributors_release_nothing_and_pay_nothing() {
    let p = valid(plan(Aggregation::DistinctCount { precision: 10 }, 50, 10));
    let mut devs = devices(4, 49, 10, 500);
    let mut agg = Aggregator::new(p.clone(), AggregatorConfig::default());
    for (i, d) in devs.iter_mut().enumerate() {
        agg.submit(&contribute(d, &p, 5, i as u64), 5).unwrap();
    }
    match agg.close(BEACON, DEADLINE).unwrap() {
        CloseOutcome::Withheld { reason, settlement } => {
            assert_eq!(reason, WithholdReason::TooFewContributors { count: 49 });
            assert!(settlement.payouts.is_empty());
            assert_eq!(settlement.refund, BUDGET);
            assert_eq!(settlement.total, BUDGET);
        }
        CloseOutcome::Released { .. } => panic!("released below k"),
    }
}

#[test]
fn noised_threshold_sometimes_withholds_just_above_k() {
    // With k = 50 and exactly 50 contributors the threshold k + Geom(e^-1/4) exceeds 50 for
    // most beacons: the vendor cannot know in advance whether k contributors suffice.
    let p = valid(plan(Aggregation::Count, 50, 10));
    let mut devs = devices(5, 50, 5, 10);
    let mut agg = Aggregator::new(p.clone(), AggregatorConfig::default());
    for (i, d) in devs.iter_mut().enumerate() {
        agg.submit(&contribute(d, &p, 5, i as u64), 5).unwrap();
    }
    let mut released = 0;
    for b in 0..64u8 {
        if let CloseOutcome::Released { .. } = agg.clone().close(Hash([b; 32]), DEADLINE).unwrap() {
            released += 1;
        }
    }
    // P(Geom = 0) = 1 − e^{−1/4} ≈ 0.22.
    assert!(
        (4..=30).contains(&released),
        "released for {released} of 64 beacons"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn arbitrary_bytes_never_panic_the_decoder_or_the_aggregator(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(c) = Contribution::decode_bytes(&data) {
            let p = valid(sum_plan());
            let mut agg = Aggregator::new(p, AggregatorConfig::default());
            prop_assert!(agg.submit(&c, 1).is_err());
            prop_assert_eq!(agg.contributors(), 0);
        }
    }
}

#[test]
fn batch_submission_gives_exactly_the_sequential_verdicts() {
    let p = valid(plan(Aggregation::DistinctCount { precision: 8 }, 50, 10));
    let mut devs = devices(6, 70, 10, 300);
    let mut list: Vec<Contribution> = devs
        .iter_mut()
        .enumerate()
        .map(|(i, d)| contribute(d, &p, 5, i as u64))
        .collect();
    // Interleave bad ones: forged signatures, a tampered header, duplicates.
    let mut forged = list[3].clone();
    forged.signature.0[10] ^= 1;
    let mut tampered = list[7].clone();
    tampered.header.payout_to = Address([0xee; 20]);
    let dup = list[0].clone();
    list.insert(2, forged.clone());
    list.insert(20, tampered);
    list.insert(40, dup);
    list.push(forged);
    let mut seq = Aggregator::new(p.clone(), AggregatorConfig::default());
    let expected: Vec<_> = list.iter().map(|c| seq.submit(c, 6)).collect();
    let mut bat = Aggregator::new(p.clone(), AggregatorConfig::default());
    let got = bat.submit_batch(&list, 6);
    assert_eq!(got, expected);
    assert_eq!(
        got.iter().filter(|r| r.is_err()).count(),
        4,
        "{:?}",
        got.iter().filter(|r| r.is_err()).collect::<Vec<_>>()
    );
    assert_eq!(
        seq.close(BEACON, DEADLINE).unwrap(),
        bat.close(BEACON, DEADLINE).unwrap()
    );
}
