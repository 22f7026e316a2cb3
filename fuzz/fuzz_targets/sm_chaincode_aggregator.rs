//! The chaincode aggregator (validator side of a privacy-preserving query) fed arbitrary
//! contributions: honest ones from six devices running a Sum plan, honest ones with a byte
//! flipped, and raw bytes, in any order and repetition, one at a time or as a batch.
//!
//! Invariants: no panic; the contributor count never goes down and never exceeds the cap; a
//! refused contribution leaves the count unchanged; the same device never counts twice.
#![no_main]
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use itc_chaincode::aggregator::{Aggregator, AggregatorConfig};
use itc_chaincode::budget::PrivacyBudget;
use itc_chaincode::contribution::Contribution;
use itc_chaincode::executor::LocalExecutor;
use itc_chaincode::plan::{
    Aggregation, Clamp, Filter, Fuel, Plan, Policy, Privacy, Record, ValidPlan,
};
use itc_crypto::{Address, Decode, Encode, Hash, SecretKey};
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const MAX: u32 = 5;

/// A Sum plan over field 0 with a 2-bit clamp: range proofs stay real (the verifier's
/// arithmetic is part of what this target attacks) but cost 2 bits' worth of curve work, not 8.
pub fn plan() -> Option<ValidPlan> {
    Plan {
        vendor: Address([0xaa; 20]),
        nonce: 42,
        filter: Filter {
            kinds: vec![7],
            since_ms: 0,
            until_ms: u64::MAX,
            tags_all: 0,
            max_records: 8,
        },
        aggregation: Aggregation::Sum {
            field: 0,
            clamp: Clamp { lo: 0, bits: 2 },
        },
        privacy: Privacy {
            epsilon_milli: 1000,
            min_contributors: 50,
        },
        budget: 1_000_000_007,
        deadline_ms: 1_000_000,
        fuel: Fuel {
            per_record: 16,
            per_plan: 1_000_000,
        },
    }
    .validate(&Policy::default(), Hash([0x11; 32]), 0)
    .ok()
}

fn honest() -> &'static Vec<Vec<u8>> {
    static H: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    H.get_or_init(|| {
        let Some(p) = plan() else { return Vec::new() };
        let mut out = Vec::new();
        for i in 0..6u8 {
            let Ok(key) = SecretKey::from_bytes(&[i + 1; 32]) else {
                continue;
            };
            let payout = Address::from_public_key(&key.public_key());
            let mut exec = LocalExecutor::new(key, PrivacyBudget::default(), Policy::default());
            let fields = [i64::from(i) * 10, 1];
            let records = [Record {
                kind: 7,
                time_ms: 10,
                tags: 0,
                fields: &fields,
                key: b"k",
            }];
            let mut rng = ChaCha20Rng::seed_from_u64(u64::from(i));
            if let Ok(c) = exec.run(&p, records.iter().copied(), payout, 100, &mut rng) {
                out.push(c.encode_to_vec());
            }
        }
        out
    })
}

#[derive(Arbitrary, Debug)]
enum Op {
    Honest(u8),
    Mutated { index: u8, at: u16, xor: u8 },
    Bytes(Vec<u8>),
    Batch(Vec<u8>),
    Advance(u32),
}

fuzz_target!(|ops: Vec<Op>| {
    // A fixture that stops validating would silently turn this target into a no-op: fail loudly.
    let p = plan().expect("fixture plan validates under the default policy");
    let h = honest();
    assert!(!h.is_empty(), "fixture produced no honest contributions");
    let mut agg = Aggregator::new(
        p,
        AggregatorConfig {
            max_contributors: MAX,
        },
    );
    let mut now = 100u64;
    let mut accepted_keys = std::collections::BTreeSet::new();
    for op in ops.into_iter().take(48) {
        let bytes = match op {
            Op::Honest(i) => match h.get(usize::from(i) % h.len().max(1)) {
                Some(b) => b.clone(),
                None => continue,
            },
            Op::Mutated { index, at, xor } => {
                let Some(b) = h.get(usize::from(index) % h.len().max(1)) else {
                    continue;
                };
                let mut b = b.clone();
                let len = b.len().max(1);
                if let Some(x) = b.get_mut(usize::from(at) % len) {
                    *x ^= xor;
                }
                b
            }
            Op::Bytes(b) => b,
            Op::Batch(picks) => {
                let cs: Vec<Contribution> = picks
                    .iter()
                    .take(8)
                    .filter_map(|i| h.get(usize::from(*i) % h.len().max(1)))
                    .filter_map(|b| Contribution::decode_bytes(b).ok())
                    .collect();
                let before = agg.contributors();
                let results = agg.submit_batch(&cs, now);
                let ok = results.iter().filter(|r| r.is_ok()).count();
                assert_eq!(agg.contributors(), before + ok, "batch count mismatch");
                for (c, r) in cs.iter().zip(&results) {
                    if r.is_ok() {
                        assert!(
                            accepted_keys.insert(c.header.device),
                            "a device counted twice"
                        );
                    }
                }
                continue;
            }
            Op::Advance(ms) => {
                now = now.saturating_add(u64::from(ms));
                continue;
            }
        };
        let Ok(c) = Contribution::decode_bytes(&bytes) else {
            continue;
        };
        let before = agg.contributors();
        match agg.submit(&c, now) {
            Ok(()) => {
                assert_eq!(agg.contributors(), before + 1);
                assert!(
                    accepted_keys.insert(c.header.device),
                    "a device counted twice"
                );
            }
            Err(_) => assert_eq!(agg.contributors(), before, "a refused contribution counted"),
        }
        itc_fuzz::assert_bounded("contributors", agg.contributors(), MAX as usize);
    }
});
