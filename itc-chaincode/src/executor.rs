//! The local executor: runs a plan over the records a device (or home gateway) holds.
//!
//! The query travels to the data. The executor
//!
//! 1. re-validates the plan against the **device's own** [`Policy`] (a device does not trust the
//!    chain's validation), refuses expired plans, and checks the [`PrivacyLedger`];
//! 2. makes one **metered** pass over the records: every record costs [`FUEL_FILTER`] to inspect
//!    and, if it matches, the plan's per-match fuel, **charged before the work**; running out is
//!    [`ExecError::FuelExhausted`] and produces nothing (a device never answers on a truncated,
//!    self-chosen subset). At most `filter.max_records` matching records are used;
//! 3. builds the sketch — a clamped value with its Pedersen commitment and range proof, an HLL
//!    of keys, a histogram, or randomized-response bits read from a keyed Bloom filter of keys;
//! 4. signs the header and only then charges ε to the ledger.
//!
//! Nothing is allocated beyond the sketch itself; it runs on `alloc` without `std`.
//!
//! ```
//! use itc_chaincode::budget::PrivacyBudget;
//! use itc_chaincode::executor::LocalExecutor;
//! use itc_chaincode::plan::{Aggregation, Filter, Fuel, Plan, Policy, Privacy, Record};
//! use itc_crypto::{Address, Hash, SecretKey};
//! use rand_core::SeedableRng;
//!
//! let plan = Plan {
//!     vendor: Address([1; 20]), nonce: 0,
//!     filter: Filter { kinds: vec![7], since_ms: 0, until_ms: u64::MAX, tags_all: 0, max_records: 1000 },
//!     aggregation: Aggregation::Count,
//!     privacy: Privacy { epsilon_milli: 500, min_contributors: 50 },
//!     budget: 100, deadline_ms: 10_000,
//!     fuel: Fuel { per_record: 8, per_plan: 100_000 },
//! }.validate(&Policy::default(), Hash::ZERO, 0).unwrap();
//! let key = SecretKey::from_bytes(&[3; 32]).unwrap();
//! let mut exec = LocalExecutor::new(key, PrivacyBudget::default(), Policy::default());
//! let records = [Record { kind: 7, time_ms: 5, tags: 0, fields: &[], key: b"" }; 3];
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
//! let c = exec.run(&plan, records.iter().copied(), Address([2; 20]), 100, &mut rng).unwrap();
//! assert_eq!(c.header.matched, 3);
//! // The same plan is not answered twice.
//! assert!(exec.run(&plan, records.iter().copied(), Address([2; 20]), 100, &mut rng).is_err());
//! ```

use alloc::vec;
use alloc::vec::Vec;

use itc_crypto::{Address, Signer};
use rand_core::RngCore;

use crate::bloom::BloomFilter;
use crate::budget::{PrivacyBudget, PrivacyLedger};
use crate::contribution::{Contribution, ContributionHeader, Payload, Sealed, ValueProof};
use crate::error::ExecError;
use crate::hll::HyperLogLog;
use crate::noise::randomized_response;
use crate::pedersen::{Opening, PedersenGens};
use crate::plan::{Aggregation, Policy, Record, ValidPlan, FUEL_FILTER, FUEL_RANGE_BIT, FUEL_SIGN};
use crate::range_proof::RangeProof;

/// Bits per record of the device-local Bloom filter used for membership tests (≈ 0.05 % FPR).
pub const MEMBERSHIP_BLOOM_BITS_PER_RECORD: u32 = 16;

/// Fuel accounting: charge, then work.
#[derive(Debug, Clone, Copy)]
struct Meter {
    used: u64,
    limit: u64,
}

impl Meter {
    fn charge(&mut self, cost: u64) -> Result<(), ExecError> {
        match self.used.checked_add(cost) {
            Some(next) if next <= self.limit => {
                self.used = next;
                Ok(())
            }
            _ => Err(ExecError::FuelExhausted {
                used: self.used,
                needed: cost,
                limit: self.limit,
            }),
        }
    }
}

/// Per-aggregation scan state.
enum Scan {
    Count,
    Sum(i64),
    Histogram(Vec<u32>),
    Distinct(HyperLogLog),
    Membership(BloomFilter),
}

/// Runs plans for one user and keeps that user's privacy ledger.
pub struct LocalExecutor<S: Signer> {
    signer: S,
    ledger: PrivacyLedger,
    policy: Policy,
    gens: PedersenGens,
}

impl<S: Signer> LocalExecutor<S> {
    /// An executor with a fresh ledger.
    pub fn new(signer: S, budget: PrivacyBudget, policy: Policy) -> Self {
        Self::with_ledger(signer, PrivacyLedger::new(budget), policy)
    }

    /// An executor resuming from a persisted ledger.
    pub fn with_ledger(signer: S, ledger: PrivacyLedger, policy: Policy) -> Self {
        LocalExecutor {
            signer,
            ledger,
            policy,
            gens: PedersenGens::new(),
        }
    }

    /// The ledger (persist it before sending the contribution).
    pub fn ledger(&self) -> &PrivacyLedger {
        &self.ledger
    }

    /// Runs `plan` over `records` and returns the signed contribution. On any error nothing is
    /// signed and no ε is charged.
    pub fn run<'r, I, R>(
        &mut self,
        plan: &ValidPlan,
        records: I,
        payout_to: Address,
        now: u64,
        rng: &mut R,
    ) -> Result<Contribution, ExecError>
    where
        I: IntoIterator<Item = Record<'r>>,
        R: RngCore + ?Sized,
    {
        let p = plan.plan();
        if now >= p.deadline_ms {
            return Err(ExecError::PlanExpired {
                deadline: p.deadline_ms,
                now,
            });
        }
        p.clone()
            .validate(&self.policy, plan.activation(), now)
            .map_err(ExecError::PlanRefused)?;
        let eps = p.privacy.epsilon_milli;
        self.ledger.check(plan.id(), eps, now)?;

        let key = plan.sketch_key();
        let mut meter = Meter {
            used: 0,
            limit: p.fuel.per_plan,
        };
        let per_match = p.fuel_per_match();
        let cap = p.filter.max_records;
        let mut scan = match &p.aggregation {
            Aggregation::RawFields { .. } => {
                return Err(ExecError::PlanRefused(
                    crate::error::PlanError::RawDataRequested,
                ))
            }
            Aggregation::Count => Scan::Count,
            Aggregation::Sum { .. } | Aggregation::Mean { .. } => Scan::Sum(0),
            Aggregation::Histogram { buckets, .. } => {
                Scan::Histogram(vec![0; usize::from(*buckets)])
            }
            Aggregation::DistinctCount { precision } => {
                Scan::Distinct(HyperLogLog::new(*precision)?)
            }
            Aggregation::Membership { .. } => Scan::Membership(BloomFilter::for_capacity(
                cap,
                MEMBERSHIP_BLOOM_BITS_PER_RECORD,
            )?),
        };
        let field_of = |r: &Record<'_>| match &p.aggregation {
            Aggregation::Sum { field, .. }
            | Aggregation::Mean { field, .. }
            | Aggregation::Histogram { field, .. } => r.fields.get(usize::from(*field)).copied(),
            _ => Some(0),
        };

        let mut matched: u32 = 0;
        for record in records {
            if matched >= cap {
                break;
            }
            meter.charge(FUEL_FILTER)?;
            if !p.filter.matches(&record) {
                continue;
            }
            let Some(value) = field_of(&record) else {
                continue; // the record lacks the field: it does not match
            };
            meter.charge(per_match)?;
            matched += 1;
            match &mut scan {
                Scan::Count => {}
                Scan::Sum(s) => *s = s.saturating_add(value),
                Scan::Histogram(b) => {
                    if let Aggregation::Histogram {
                        lo, width, buckets, ..
                    } = &p.aggregation
                    {
                        let idx = (i128::from(value) - i128::from(*lo))
                            .div_euclid(i128::from(*width))
                            .clamp(0, i128::from(*buckets) - 1)
                            as usize;
                        if let Some(c) = b.get_mut(idx) {
                            *c += 1;
                        }
                    }
                }
                Scan::Distinct(h) => h.insert(key, record.key),
                Scan::Membership(f) => f.insert(key, record.key),
            }
        }

        let device = self.signer.public_key();
        let ctx = ContributionHeader::proof_context(&plan.id(), &device);
        meter.charge(p.fuel_to_finish().saturating_sub(FUEL_SIGN))?;
        let (payload, value) = match scan {
            Scan::Count | Scan::Sum(_) => {
                let offset = match (&scan, &p.aggregation) {
                    (
                        Scan::Sum(s),
                        Aggregation::Sum { clamp, .. } | Aggregation::Mean { clamp, .. },
                    ) => clamp.offset_of(*s),
                    _ => u64::from(matched),
                };
                let bits = p.range_bits().unwrap_or(1);
                debug_assert!(FUEL_RANGE_BIT * u64::from(bits) <= p.fuel_to_finish());
                let opening = Opening::random(offset, rng);
                let commitment = self.gens.commit(&opening);
                let range = RangeProof::prove(&self.gens, &opening, bits, &ctx, rng)?;
                (
                    Payload::Value(opening),
                    Some(ValueProof { commitment, range }),
                )
            }
            Scan::Histogram(b) => (Payload::Histogram(b), None),
            Scan::Distinct(h) => (Payload::Distinct(h), None),
            Scan::Membership(f) => {
                let mut bits = 0u32;
                if let Aggregation::Membership { candidates } = &p.aggregation {
                    let per_bit = (eps / candidates.len().max(1) as u32).max(1);
                    for (i, c) in candidates.iter().enumerate() {
                        let truth = f.contains(key, c);
                        if randomized_response(rng, truth, per_bit) {
                            bits |= 1 << i;
                        }
                    }
                }
                (Payload::Membership(bits), None)
            }
        };
        let mut noise_share = [0u8; 32];
        rng.fill_bytes(&mut noise_share);
        let sealed = Sealed {
            payload,
            noise_share,
        };
        let header = ContributionHeader {
            plan: plan.id(),
            device,
            payout_to,
            matched,
            sealed_digest: sealed.digest(),
            value,
        };
        meter.charge(FUEL_SIGN)?;
        let contribution = Contribution::sign(header, sealed, &self.signer)?;
        self.ledger.charge(plan.id(), eps, now)?;
        Ok(contribution)
    }
}
