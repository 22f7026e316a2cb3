//! Contracts as data: the query plan a vendor submits, its validation and its identity.
//!
//! A ChainCode contract is **not code**. It is a small, canonical, hashable [`Plan`]: which
//! records (a [`Filter`] on record kind, time window and public tags), one [`Aggregation`], the
//! privacy parameters (ε, minimum cohort k), a reward budget, a deadline and fuel limits. There is
//! no way to express "send me the readings": the one variant that asks for raw fields,
//! [`Aggregation::RawFields`], exists on the wire only so it can be refused with a typed error.
//!
//! [`Plan::validate`] turns a plan into a [`ValidPlan`] against a [`Policy`] — the chain runs it
//! before accepting a plan, and every device runs it again with its own policy before executing
//! one. The safe defaults ([`Policy::default`]):
//!
//! | parameter | default | why |
//! |---|---|---|
//! | ε per query | ≤ 1 | each release is ε-DP for every contributor |
//! | minimum cohort k | ≥ 50 | never an aggregate of a handful of users; the threshold is noised at release |
//! | records per device | ≤ 10,000 | bounds fuel, sensitivity and payout weight |
//! | deadline | ≤ 30 days ahead | contributions cannot be held open forever |
//! | histogram buckets | ≤ 64 | a histogram with a bucket per user is a raw-data request |
//! | membership candidates | ≤ 32, each ≤ 64 bytes | same |
//!
//! A plan's [`PlanId`] is the tagged hash of its encoding. Its sketch key (for HyperLogLog and
//! Bloom hashing) is derived from the id **and the activation beacon** — the hash of the block
//! that accepted it — so a vendor cannot grind plan nonces to choose which inputs land in which
//! register.
//!
//! ```
//! use itc_chaincode::plan::{Aggregation, Clamp, Filter, Fuel, Plan, Policy, Privacy};
//! use itc_crypto::{Address, Hash};
//! let plan = Plan {
//!     vendor: Address([1; 20]),
//!     nonce: 7,
//!     filter: Filter { kinds: vec![3], since_ms: 0, until_ms: u64::MAX, tags_all: 0, max_records: 100 },
//!     aggregation: Aggregation::Sum { field: 0, clamp: Clamp { lo: 0, bits: 10 } },
//!     privacy: Privacy { epsilon_milli: 1000, min_contributors: 50 },
//!     budget: 1_000_000,
//!     deadline_ms: 86_400_000,
//!     fuel: Fuel { per_record: 16, per_plan: 1_000_000 },
//! };
//! let valid = plan.clone().validate(&Policy::default(), Hash::ZERO, 0).unwrap();
//! assert_eq!(valid.id(), plan.id());
//! // Asking for raw fields is refused.
//! let raw = Plan { aggregation: Aggregation::RawFields { fields: vec![0] }, ..plan };
//! assert!(raw.validate(&Policy::default(), Hash::ZERO, 0).is_err());
//! ```

use alloc::vec::Vec;

use itc_crypto::encoding::{
    write_bytes, write_varint, Decode, DecodeError, Encode, Reader, Writer,
};
use itc_crypto::hash::{hash_encoded, DomainTag, Hash, TaggedHasher};
use itc_crypto::Address;

use crate::error::PlanError;
use crate::siphash::SketchKey;

/// Tag of a plan's id.
pub const PLAN_TAG: DomainTag = DomainTag::new(b"itc/chaincode/plan/v1");
/// Tag of a plan's sketch key derivation.
pub const SKETCH_KEY_TAG: DomainTag = DomainTag::new(b"itc/chaincode/sketch-key/v1");
/// Numeric fields a record carries at most.
pub const MAX_FIELDS: u8 = 16;
/// Record kinds a filter may name.
pub const MAX_KINDS: usize = 16;
/// Membership candidates a plan may list (wire limit; policy may be lower).
pub const MAX_CANDIDATES: usize = 32;
/// Bytes per membership candidate.
pub const MAX_CANDIDATE_LEN: usize = 64;
const WIRE_VERSION: u8 = 1;

/// Fuel to inspect one record against the filter.
pub const FUEL_FILTER: u64 = 4;
/// Fuel to sign a contribution.
pub const FUEL_SIGN: u64 = 500;
/// Fuel per bit of a range proof (two point multiplications and two hashes per bit).
pub const FUEL_RANGE_BIT: u64 = 1_000;

/// A plan's identity: the tagged hash of its canonical encoding.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct PlanId(pub Hash);

impl Encode for PlanId {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.0.encode(w);
    }
    fn encoded_len(&self) -> usize {
        32
    }
}

impl Decode for PlanId {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PlanId(Hash::decode(r)?))
    }
}

/// One record as a device holds it. Only the plan's aggregation of these ever leaves the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Record kind (e.g. 3 = "light switched on"), public metadata.
    pub kind: u32,
    /// When it was recorded (ms).
    pub time_ms: u64,
    /// Public tag bits (room type, firmware channel...).
    pub tags: u32,
    /// Numeric readings (at most [`MAX_FIELDS`] are addressable).
    pub fields: &'a [i64],
    /// An identifier for distinct counts and membership tests (a store id, a MAC address...).
    pub key: &'a [u8],
}

/// Which records a plan reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    /// Record kinds, sorted and distinct, 1..=16 of them.
    pub kinds: Vec<u32>,
    /// Inclusive lower bound on `time_ms`.
    pub since_ms: u64,
    /// Exclusive upper bound on `time_ms`.
    pub until_ms: u64,
    /// Tag bits a record must all carry.
    pub tags_all: u32,
    /// At most this many matching records per device are used (later ones are ignored).
    pub max_records: u32,
}

impl Filter {
    /// Whether a record matches.
    pub fn matches(&self, r: &Record<'_>) -> bool {
        r.tags & self.tags_all == self.tags_all
            && r.time_ms >= self.since_ms
            && r.time_ms < self.until_ms
            && self.kinds.binary_search(&r.kind).is_ok()
    }
}

/// A clamping range `[lo, lo + 2^bits − 1]`. Widths are powers of two so the bit-decomposition
/// range proof proves exactly the range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clamp {
    /// Lower bound.
    pub lo: i64,
    /// log2 of the width, 1..=32.
    pub bits: u8,
}

impl Clamp {
    /// Upper bound (inclusive), if it fits in i64.
    pub fn hi(&self) -> Option<i64> {
        let width = 1i64.checked_shl(u32::from(self.bits))?.checked_sub(1)?;
        self.lo.checked_add(width)
    }

    /// Clamps `v` into the range and returns its offset from `lo` (what is committed).
    pub fn offset_of(&self, v: i64) -> u64 {
        let hi = self.hi().unwrap_or(i64::MAX);
        let c = v.clamp(self.lo, hi);
        (i128::from(c) - i128::from(self.lo)) as u64
    }
}

/// What a plan computes. Each variant's per-device output is a mergeable sketch, never a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Aggregation {
    /// Asks for raw field values. Always refused by [`Plan::validate`]; it has a wire tag only
    /// so such a request is named and rejected rather than silently misparsed.
    RawFields {
        /// Field indices requested.
        fields: Vec<u8>,
    },
    /// Number of matching records, summed over devices (each device at most
    /// `filter.max_records`). Committed with a range proof.
    Count,
    /// Distinct record keys across all devices (HyperLogLog union).
    DistinctCount {
        /// HyperLogLog precision.
        precision: u8,
    },
    /// Sum over devices of each device's (clamped) sum of `field`. Committed with a range proof.
    Sum {
        /// Field index.
        field: u8,
        /// Per-device clamping range.
        clamp: Clamp,
    },
    /// Mean over devices of each device's clamped sum of `field` (released as noised sum and
    /// contributor count). Committed with a range proof.
    Mean {
        /// Field index.
        field: u8,
        /// Per-device clamping range.
        clamp: Clamp,
    },
    /// Fixed-bucket histogram of `field`: bucket `i` counts values in
    /// `[lo + i·width, lo + (i+1)·width)`; values outside fall in the first or last bucket.
    Histogram {
        /// Field index.
        field: u8,
        /// Lower edge of the first bucket.
        lo: i64,
        /// Bucket width (≥ 1).
        width: u64,
        /// Number of buckets.
        buckets: u16,
    },
    /// For each candidate key: how many devices hold a matching record with that key, reported
    /// with randomized response (each device's bit vector is ε-locally private).
    Membership {
        /// Candidate keys, sorted and distinct.
        candidates: Vec<Vec<u8>>,
    },
}

impl Aggregation {
    fn tag(&self) -> u8 {
        match self {
            Aggregation::RawFields { .. } => 0,
            Aggregation::Count => 1,
            Aggregation::DistinctCount { .. } => 2,
            Aggregation::Sum { .. } => 3,
            Aggregation::Mean { .. } => 4,
            Aggregation::Histogram { .. } => 5,
            Aggregation::Membership { .. } => 6,
        }
    }
}

/// Privacy parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Privacy {
    /// ε in milli-units (1000 = ε of 1). Integer so every validator computes the same noise.
    pub epsilon_milli: u32,
    /// Minimum number of contributing devices before anything is released.
    pub min_contributors: u32,
}

/// Fuel limits: execution is metered and stops with an error instead of running unbounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fuel {
    /// Most fuel one record may cost.
    pub per_record: u32,
    /// Most fuel the whole plan may cost on one device.
    pub per_plan: u64,
}

/// A vendor's query plan (the contract).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Who pays the reward (and receives any refund).
    pub vendor: Address,
    /// Distinguishes otherwise identical plans.
    pub nonce: u64,
    /// Which records are read.
    pub filter: Filter,
    /// What is computed.
    pub aggregation: Aggregation,
    /// ε and k.
    pub privacy: Privacy,
    /// Reward in base units, split among contributors.
    pub budget: u64,
    /// Contributions close at this time (ms).
    pub deadline_ms: u64,
    /// Metering limits.
    pub fuel: Fuel,
}

/// What the chain (and each device) accepts. See the module docs for the defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Largest ε per query (milli).
    pub max_epsilon_milli: u32,
    /// Smallest minimum cohort k.
    pub min_cohort: u32,
    /// Largest per-device record cap.
    pub max_records_per_device: u32,
    /// Largest per-plan fuel.
    pub max_fuel_per_plan: u64,
    /// Longest time from activation to deadline (ms).
    pub max_deadline_ms: u64,
    /// Smallest HyperLogLog precision.
    pub min_hll_precision: u8,
    /// Largest HyperLogLog precision.
    pub max_hll_precision: u8,
    /// Most histogram buckets.
    pub max_histogram_buckets: u16,
    /// Most membership candidates.
    pub max_candidates: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_epsilon_milli: 1000,
            min_cohort: 50,
            max_records_per_device: 10_000,
            max_fuel_per_plan: 50_000_000,
            max_deadline_ms: 30 * 24 * 3_600_000,
            min_hll_precision: crate::hll::MIN_PRECISION,
            max_hll_precision: crate::hll::MAX_PRECISION,
            max_histogram_buckets: 64,
            max_candidates: MAX_CANDIDATES,
        }
    }
}

/// Bits needed to hold `v`.
fn bit_len(v: u64) -> u8 {
    (64 - v.leading_zeros()) as u8
}

impl Plan {
    /// The plan's id.
    pub fn id(&self) -> PlanId {
        PlanId(hash_encoded(PLAN_TAG, self))
    }

    /// Fuel one matching record costs beyond the filter check.
    pub fn fuel_per_match(&self) -> u64 {
        match &self.aggregation {
            Aggregation::RawFields { .. } => 0,
            Aggregation::Count => 1,
            Aggregation::Sum { .. } | Aggregation::Mean { .. } => 2,
            Aggregation::Histogram { .. } => 3,
            // One keyed hash and a register update / Bloom probes.
            Aggregation::DistinctCount { .. } | Aggregation::Membership { .. } => 8,
        }
    }

    /// Fuel to finish the plan once records are read (proofs, sketches, signature).
    pub fn fuel_to_finish(&self) -> u64 {
        let body = match &self.aggregation {
            Aggregation::RawFields { .. } => 0,
            Aggregation::DistinctCount { precision } => 1u64 << (*precision).min(18),
            Aggregation::Histogram { buckets, .. } => u64::from(*buckets),
            Aggregation::Membership { candidates } => 16 * candidates.len() as u64,
            Aggregation::Count | Aggregation::Sum { .. } | Aggregation::Mean { .. } => {
                FUEL_RANGE_BIT * u64::from(self.range_bits().unwrap_or(32))
            }
        };
        body + FUEL_SIGN
    }

    /// Bits of the committed value's range, for the aggregations that commit to a value.
    pub fn range_bits(&self) -> Option<u8> {
        match &self.aggregation {
            Aggregation::Count => Some(bit_len(u64::from(self.filter.max_records)).max(1)),
            Aggregation::Sum { clamp, .. } | Aggregation::Mean { clamp, .. } => Some(clamp.bits),
            _ => None,
        }
    }

    /// Validates the plan against `policy`, given the activation block's hash and time.
    pub fn validate(
        self,
        policy: &Policy,
        activation: Hash,
        now: u64,
    ) -> Result<ValidPlan, PlanError> {
        let f = &self.filter;
        if let Aggregation::RawFields { .. } = self.aggregation {
            return Err(PlanError::RawDataRequested);
        }
        if f.kinds.is_empty() {
            return Err(PlanError::NoRecordKinds);
        }
        if f.since_ms >= f.until_ms {
            return Err(PlanError::EmptyTimeWindow);
        }
        if f.max_records == 0 || f.max_records > policy.max_records_per_device {
            return Err(PlanError::RecordCapOutOfRange {
                cap: f.max_records,
                max: policy.max_records_per_device,
            });
        }
        let eps = self.privacy.epsilon_milli;
        if eps == 0 || eps > policy.max_epsilon_milli {
            return Err(PlanError::EpsilonOutOfRange {
                milli: eps,
                max: policy.max_epsilon_milli,
            });
        }
        if self.privacy.min_contributors < policy.min_cohort {
            return Err(PlanError::CohortTooSmall {
                k: self.privacy.min_contributors,
                min: policy.min_cohort,
            });
        }
        if self.deadline_ms <= now {
            return Err(PlanError::DeadlineInPast {
                deadline: self.deadline_ms,
                now,
            });
        }
        let latest = now.saturating_add(policy.max_deadline_ms);
        if self.deadline_ms > latest {
            return Err(PlanError::DeadlineTooFar {
                deadline: self.deadline_ms,
                max: latest,
            });
        }
        if self.budget == 0 {
            return Err(PlanError::ZeroBudget);
        }
        self.validate_aggregation(policy)?;
        let per_record = FUEL_FILTER + self.fuel_per_match();
        if per_record > u64::from(self.fuel.per_record) {
            return Err(PlanError::FuelPerRecordTooLow {
                needed: per_record,
                limit: self.fuel.per_record,
            });
        }
        let min = self.fuel_to_finish() + per_record;
        if self.fuel.per_plan < min || self.fuel.per_plan > policy.max_fuel_per_plan {
            return Err(PlanError::FuelPerPlanOutOfRange {
                limit: self.fuel.per_plan,
                min,
                max: policy.max_fuel_per_plan,
            });
        }
        let id = self.id();
        let mut h = TaggedHasher::new(SKETCH_KEY_TAG);
        h.update(id.0.as_bytes()).update(activation.as_bytes());
        let digest = h.finalize();
        let mut k = [0u8; 16];
        k.copy_from_slice(digest.0.get(..16).unwrap_or(&[0u8; 16]));
        Ok(ValidPlan {
            plan: self,
            id,
            key: SketchKey::from_bytes(k),
            activation,
        })
    }

    fn validate_aggregation(&self, policy: &Policy) -> Result<(), PlanError> {
        let field_ok = |field: u8| {
            if field >= MAX_FIELDS {
                Err(PlanError::FieldOutOfRange {
                    field,
                    max: MAX_FIELDS,
                })
            } else {
                Ok(())
            }
        };
        match &self.aggregation {
            Aggregation::RawFields { .. } => Err(PlanError::RawDataRequested),
            Aggregation::Count => Ok(()),
            Aggregation::DistinctCount { precision } => {
                if *precision < policy.min_hll_precision || *precision > policy.max_hll_precision {
                    return Err(PlanError::PrecisionOutOfRange {
                        p: *precision,
                        min: policy.min_hll_precision,
                        max: policy.max_hll_precision,
                    });
                }
                Ok(())
            }
            Aggregation::Sum { field, clamp } | Aggregation::Mean { field, clamp } => {
                field_ok(*field)?;
                if clamp.bits == 0 || clamp.bits > crate::range_proof::MAX_RANGE_BITS {
                    return Err(PlanError::ClampBitsOutOfRange { bits: clamp.bits });
                }
                clamp.hi().ok_or(PlanError::ClampOverflow)?;
                Ok(())
            }
            Aggregation::Histogram {
                field,
                width,
                buckets,
                ..
            } => {
                field_ok(*field)?;
                if *buckets == 0 || *buckets > policy.max_histogram_buckets || *width == 0 {
                    return Err(PlanError::HistogramShape {
                        buckets: *buckets,
                        max: policy.max_histogram_buckets,
                        width: *width,
                    });
                }
                Ok(())
            }
            Aggregation::Membership { candidates } => {
                if candidates.is_empty() || candidates.len() > policy.max_candidates {
                    return Err(PlanError::CandidateCount {
                        count: candidates.len(),
                        max: policy.max_candidates,
                    });
                }
                if candidates.windows(2).any(|w| w.first() >= w.get(1)) {
                    return Err(PlanError::CandidatesNotCanonical);
                }
                Ok(())
            }
        }
    }
}

/// A plan that passed validation: the only form executors and aggregators accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidPlan {
    plan: Plan,
    id: PlanId,
    key: SketchKey,
    activation: Hash,
}

impl ValidPlan {
    /// The plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The plan id.
    pub fn id(&self) -> PlanId {
        self.id
    }

    /// The per-plan key for sketch hashing.
    pub fn sketch_key(&self) -> &SketchKey {
        &self.key
    }

    /// The activation beacon the key was derived from.
    pub fn activation(&self) -> Hash {
        self.activation
    }

    /// How much one device can move the released value (add/remove one device), which
    /// calibrates the noise.
    pub fn sensitivity(&self) -> u64 {
        let cap = u64::from(self.plan.filter.max_records);
        match &self.plan.aggregation {
            Aggregation::Count => (1u64 << self.plan.range_bits().unwrap_or(1)) - 1,
            Aggregation::Sum { clamp, .. } | Aggregation::Mean { clamp, .. } => {
                let hi = clamp.hi().unwrap_or(i64::MAX);
                clamp.lo.unsigned_abs().max(hi.unsigned_abs())
            }
            _ => cap,
        }
        .max(1)
    }
}

impl Encode for Clamp {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        (self.lo as u64).encode(w);
        self.bits.encode(w);
    }
}

impl Decode for Clamp {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Clamp {
            lo: u64::decode(r)? as i64,
            bits: u8::decode(r)?,
        })
    }
}

impl Encode for Aggregation {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        w.write(&[self.tag()]);
        match self {
            Aggregation::RawFields { fields } => write_bytes(w, fields),
            Aggregation::Count => {}
            Aggregation::DistinctCount { precision } => precision.encode(w),
            Aggregation::Sum { field, clamp } | Aggregation::Mean { field, clamp } => {
                field.encode(w);
                clamp.encode(w);
            }
            Aggregation::Histogram {
                field,
                lo,
                width,
                buckets,
            } => {
                field.encode(w);
                (*lo as u64).encode(w);
                width.encode(w);
                buckets.encode(w);
            }
            Aggregation::Membership { candidates } => {
                write_varint(w, candidates.len() as u64);
                for c in candidates {
                    write_bytes(w, c);
                }
            }
        }
    }
}

impl Decode for Aggregation {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.read_u8()? {
            0 => Aggregation::RawFields {
                fields: r.read_byte_vec(usize::from(MAX_FIELDS))?,
            },
            1 => Aggregation::Count,
            2 => Aggregation::DistinctCount {
                precision: u8::decode(r)?,
            },
            3 => Aggregation::Sum {
                field: u8::decode(r)?,
                clamp: Clamp::decode(r)?,
            },
            4 => Aggregation::Mean {
                field: u8::decode(r)?,
                clamp: Clamp::decode(r)?,
            },
            5 => Aggregation::Histogram {
                field: u8::decode(r)?,
                lo: u64::decode(r)? as i64,
                width: u64::decode(r)?,
                buckets: u16::decode(r)?,
            },
            6 => {
                let n = r.read_count(MAX_CANDIDATES, 1)?;
                let mut candidates: Vec<Vec<u8>> = Vec::with_capacity(n);
                for _ in 0..n {
                    let c = r.read_byte_vec(MAX_CANDIDATE_LEN)?;
                    if candidates.last().is_some_and(|prev| *prev >= c) {
                        return Err(DecodeError::NonCanonical {
                            type_name: "membership candidates",
                        });
                    }
                    candidates.push(c);
                }
                Aggregation::Membership { candidates }
            }
            tag => {
                return Err(DecodeError::UnknownVariant {
                    type_name: "Aggregation",
                    tag: u64::from(tag),
                })
            }
        })
    }
}

impl Encode for Filter {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        write_varint(w, self.kinds.len() as u64);
        for k in &self.kinds {
            k.encode(w);
        }
        self.since_ms.encode(w);
        self.until_ms.encode(w);
        self.tags_all.encode(w);
        self.max_records.encode(w);
    }
}

impl Decode for Filter {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.read_count(MAX_KINDS, 4)?;
        let mut kinds: Vec<u32> = Vec::with_capacity(n);
        for _ in 0..n {
            let k = u32::decode(r)?;
            if kinds.last().is_some_and(|prev| *prev >= k) {
                return Err(DecodeError::NonCanonical {
                    type_name: "filter kinds",
                });
            }
            kinds.push(k);
        }
        Ok(Filter {
            kinds,
            since_ms: u64::decode(r)?,
            until_ms: u64::decode(r)?,
            tags_all: u32::decode(r)?,
            max_records: u32::decode(r)?,
        })
    }
}

impl Encode for Plan {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        w.write(&[WIRE_VERSION]);
        self.vendor.encode(w);
        self.nonce.encode(w);
        self.filter.encode(w);
        self.aggregation.encode(w);
        self.privacy.epsilon_milli.encode(w);
        self.privacy.min_contributors.encode(w);
        self.budget.encode(w);
        self.deadline_ms.encode(w);
        self.fuel.per_record.encode(w);
        self.fuel.per_plan.encode(w);
    }
}

impl Decode for Plan {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let v = r.read_u8()?;
        if v != WIRE_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                type_name: "Plan",
                found: u64::from(v),
            });
        }
        Ok(Plan {
            vendor: Address::decode(r)?,
            nonce: u64::decode(r)?,
            filter: Filter::decode(r)?,
            aggregation: Aggregation::decode(r)?,
            privacy: Privacy {
                epsilon_milli: u32::decode(r)?,
                min_contributors: u32::decode(r)?,
            },
            budget: u64::decode(r)?,
            deadline_ms: u64::decode(r)?,
            fuel: Fuel {
                per_record: u32::decode(r)?,
                per_plan: u64::decode(r)?,
            },
        })
    }
}

impl Plan {
    /// Decodes and validates a plan from untrusted bytes in one step.
    ///
    /// ```
    /// use itc_chaincode::plan::{Plan, Policy};
    /// use itc_chaincode::error::PlanError;
    /// assert!(matches!(
    ///     Plan::from_bytes(&[9, 9, 9], &Policy::default(), itc_crypto::Hash::ZERO, 0),
    ///     Err(PlanError::Decode(_))
    /// ));
    /// ```
    pub fn from_bytes(
        bytes: &[u8],
        policy: &Policy,
        activation: Hash,
        now: u64,
    ) -> Result<ValidPlan, PlanError> {
        Plan::decode_bytes(bytes)?.validate(policy, activation, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    pub(crate) fn sample() -> Plan {
        Plan {
            vendor: Address([9; 20]),
            nonce: 1,
            filter: Filter {
                kinds: vec![1, 5],
                since_ms: 0,
                until_ms: 1_000_000,
                tags_all: 0,
                max_records: 100,
            },
            aggregation: Aggregation::Sum {
                field: 0,
                clamp: Clamp { lo: -10, bits: 8 },
            },
            privacy: Privacy {
                epsilon_milli: 1000,
                min_contributors: 50,
            },
            budget: 10_000,
            deadline_ms: 500_000,
            fuel: Fuel {
                per_record: 16,
                per_plan: 100_000,
            },
        }
    }

    #[test]
    fn validation_table() {
        let p = Policy::default();
        let ok = sample();
        assert!(ok.clone().validate(&p, Hash::ZERO, 0).is_ok());
        let cases: Vec<(Plan, PlanError)> = vec![
            (
                Plan {
                    aggregation: Aggregation::RawFields { fields: vec![0, 1] },
                    ..ok.clone()
                },
                PlanError::RawDataRequested,
            ),
            (
                Plan {
                    privacy: Privacy {
                        epsilon_milli: 1001,
                        min_contributors: 50,
                    },
                    ..ok.clone()
                },
                PlanError::EpsilonOutOfRange {
                    milli: 1001,
                    max: 1000,
                },
            ),
            (
                Plan {
                    privacy: Privacy {
                        epsilon_milli: 0,
                        min_contributors: 50,
                    },
                    ..ok.clone()
                },
                PlanError::EpsilonOutOfRange {
                    milli: 0,
                    max: 1000,
                },
            ),
            (
                Plan {
                    privacy: Privacy {
                        epsilon_milli: 500,
                        min_contributors: 49,
                    },
                    ..ok.clone()
                },
                PlanError::CohortTooSmall { k: 49, min: 50 },
            ),
            (
                Plan {
                    deadline_ms: 0,
                    ..ok.clone()
                },
                PlanError::DeadlineInPast {
                    deadline: 0,
                    now: 0,
                },
            ),
            (
                Plan {
                    budget: 0,
                    ..ok.clone()
                },
                PlanError::ZeroBudget,
            ),
            (
                Plan {
                    filter: Filter {
                        kinds: vec![],
                        ..ok.filter.clone()
                    },
                    ..ok.clone()
                },
                PlanError::NoRecordKinds,
            ),
            (
                Plan {
                    filter: Filter {
                        max_records: 0,
                        ..ok.filter.clone()
                    },
                    ..ok.clone()
                },
                PlanError::RecordCapOutOfRange {
                    cap: 0,
                    max: 10_000,
                },
            ),
            (
                Plan {
                    aggregation: Aggregation::Histogram {
                        field: 0,
                        lo: 0,
                        width: 1,
                        buckets: 1000,
                    },
                    ..ok.clone()
                },
                PlanError::HistogramShape {
                    buckets: 1000,
                    max: 64,
                    width: 1,
                },
            ),
            (
                Plan {
                    aggregation: Aggregation::Sum {
                        field: 16,
                        clamp: Clamp { lo: 0, bits: 4 },
                    },
                    ..ok.clone()
                },
                PlanError::FieldOutOfRange { field: 16, max: 16 },
            ),
            (
                Plan {
                    aggregation: Aggregation::Sum {
                        field: 0,
                        clamp: Clamp { lo: 0, bits: 33 },
                    },
                    ..ok.clone()
                },
                PlanError::ClampBitsOutOfRange { bits: 33 },
            ),
            (
                Plan {
                    aggregation: Aggregation::Sum {
                        field: 0,
                        clamp: Clamp {
                            lo: i64::MAX - 5,
                            bits: 4,
                        },
                    },
                    ..ok.clone()
                },
                PlanError::ClampOverflow,
            ),
            (
                Plan {
                    fuel: Fuel {
                        per_record: 5,
                        per_plan: 100_000,
                    },
                    ..ok.clone()
                },
                PlanError::FuelPerRecordTooLow {
                    needed: 6,
                    limit: 5,
                },
            ),
            (
                Plan {
                    aggregation: Aggregation::DistinctCount { precision: 3 },
                    ..ok.clone()
                },
                PlanError::PrecisionOutOfRange {
                    p: 3,
                    min: 4,
                    max: 18,
                },
            ),
            (
                Plan {
                    aggregation: Aggregation::Membership {
                        candidates: vec![b"b".to_vec(), b"a".to_vec()],
                    },
                    ..ok.clone()
                },
                PlanError::CandidatesNotCanonical,
            ),
        ];
        for (plan, err) in cases {
            assert_eq!(plan.validate(&p, Hash::ZERO, 0).unwrap_err(), err);
        }
        // Per-plan fuel too small to finish the range proof.
        let e = Plan {
            fuel: Fuel {
                per_record: 16,
                per_plan: 1000,
            },
            ..ok
        }
        .validate(&p, Hash::ZERO, 0);
        assert!(matches!(e, Err(PlanError::FuelPerPlanOutOfRange { .. })));
    }

    #[test]
    fn sketch_key_depends_on_activation() {
        let p = Policy::default();
        let a = sample().validate(&p, Hash::ZERO, 0).unwrap();
        let b = sample().validate(&p, Hash::from_bytes([1; 32]), 0).unwrap();
        assert_eq!(a.id(), b.id());
        assert_ne!(a.sketch_key(), b.sketch_key());
    }

    #[test]
    fn raw_request_decodes_then_is_refused() {
        let raw = Plan {
            aggregation: Aggregation::RawFields { fields: vec![2] },
            ..sample()
        };
        let bytes = raw.encode_to_vec();
        assert_eq!(
            Plan::from_bytes(&bytes, &Policy::default(), Hash::ZERO, 0).unwrap_err(),
            PlanError::RawDataRequested
        );
    }

    fn arb_plan() -> impl Strategy<Value = Plan> {
        (
            any::<u64>(),
            proptest::collection::btree_set(any::<u32>(), 0..5),
            0u8..7,
            any::<i64>(),
            any::<u8>(),
            proptest::collection::btree_set(proptest::collection::vec(any::<u8>(), 0..8), 0..5),
        )
            .prop_map(|(nonce, kinds, agg, lo, b, cands)| {
                let aggregation = match agg {
                    0 => Aggregation::RawFields { fields: vec![b] },
                    1 => Aggregation::Count,
                    2 => Aggregation::DistinctCount { precision: b },
                    3 => Aggregation::Sum {
                        field: b,
                        clamp: Clamp { lo, bits: b },
                    },
                    4 => Aggregation::Mean {
                        field: b,
                        clamp: Clamp { lo, bits: b },
                    },
                    5 => Aggregation::Histogram {
                        field: b,
                        lo,
                        width: nonce,
                        buckets: u16::from(b),
                    },
                    _ => Aggregation::Membership {
                        candidates: cands.into_iter().collect(),
                    },
                };
                Plan {
                    nonce,
                    filter: Filter {
                        kinds: kinds.into_iter().collect(),
                        ..sample().filter
                    },
                    aggregation,
                    ..sample()
                }
            })
    }

    proptest! {
        #[test]
        fn round_trip(plan in arb_plan()) {
            let bytes = plan.encode_to_vec();
            prop_assert_eq!(Plan::decode_bytes(&bytes).unwrap(), plan);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Plan::from_bytes(&data, &Policy::default(), Hash::ZERO, 0);
        }
    }
}
