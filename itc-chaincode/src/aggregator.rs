//! The on-chain aggregator: collects contributions until the deadline, releases a noised
//! result over at least `k` devices, and settles the reward.
//!
//! A pure state machine (sans-I/O): feed it [`Aggregator::submit`] with each contribution and
//! the current time, then [`Aggregator::close`] with the **beacon** — the hash of the commit
//! certificate of the first block past the deadline — and it returns a [`CloseOutcome`]. Every
//! validator runs the same machine over the same ordered inputs and gets the same bytes.
//!
//! **What `submit` checks** (cheap first; on any error the state is unchanged): open and before
//! the deadline, the right plan, one contribution per device key, the contributor limit, the
//! matched-record cap, the device signature, the sealed digest, the payload shape, and for
//! value plans that the sealed opening opens the public commitment and the range proof verifies.
//!
//! **Release** (`close`):
//! * `seed = H(plan id ‖ beacon ‖ ⊕ H(noise share_i))` seeds a [`NoiseRng`]. The beacon is fixed
//!   only after contributions close, so nobody could aim contributions at the noise; the noise
//!   shares are sealed device randomness, so the **vendor cannot recompute the noise** and
//!   subtract it (with a public seed the noise would be worthless against the vendor).
//! * the release threshold is itself noised: `T = k + Geom(e^{−1/4})` (mean ≈ 3.5), and the
//!   result is released only if the number of contributors `n ≥ T`. A vendor who controls the
//!   other contributors cannot pick "exactly k − 1 plus the victim", because `T` is unknown until
//!   after contributions close.
//! * the value gets discrete Laplace noise at the plan's ε and the plan's sensitivity
//!   ([`ValidPlan::sensitivity`]); histograms get it per bucket (L1 sensitivity = record cap);
//!   membership counts are randomized-response sums, already ε-locally private.
//! * payouts: [`crate::payout`] — integers that add up exactly to the budget; withheld results
//!   refund the vendor and pay nobody.
//!
//! **What a malicious primary can bias.** It picks which certificate becomes the beacon; by
//! delaying or re-proposing (each try costs it a view change) it can choose among a few
//! beacons, and since validators see the sealed noise shares it can predict the noise each
//! would give — so it can pick the most favourable of a handful of noise draws, or the threshold
//! outcome. It can also censor contributions before the deadline. It cannot forge contributions,
//! exceed the range bounds, change the payout rule, or make the noise non-deterministic (other
//! validators recompute it). Treat the DP guarantee as holding against the vendor and the public,
//! not against a colluding validator.
//!
//! ```
//! use itc_chaincode::aggregator::{Aggregator, AggregatorConfig, CloseOutcome};
//! use itc_chaincode::plan::{Aggregation, Filter, Fuel, Plan, Policy, Privacy};
//! use itc_crypto::{Address, Hash};
//! let plan = Plan {
//!     vendor: Address([1; 20]), nonce: 0,
//!     filter: Filter { kinds: vec![7], since_ms: 0, until_ms: u64::MAX, tags_all: 0, max_records: 10 },
//!     aggregation: Aggregation::DistinctCount { precision: 10 },
//!     privacy: Privacy { epsilon_milli: 1000, min_contributors: 50 },
//!     budget: 100, deadline_ms: 1000,
//!     fuel: Fuel { per_record: 16, per_plan: 100_000 },
//! }.validate(&Policy::default(), Hash::ZERO, 0).unwrap();
//! let mut agg = Aggregator::new(plan, AggregatorConfig::default());
//! // No contributions: nothing released, the budget goes back to the vendor.
//! match agg.close(Hash::ZERO, 1000).unwrap() {
//!     CloseOutcome::Withheld { settlement, .. } => assert_eq!(settlement.refund, 100),
//!     CloseOutcome::Released { .. } => unreachable!(),
//! }
//! ```

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec;
use alloc::vec::Vec;

use itc_crypto::batch::{self, BatchItem};
use itc_crypto::encoding::{write_varint, Encode, Writer};
use itc_crypto::hash::{hash_encoded, tagged_hash, DomainTag, Hash, TaggedHasher};
use itc_crypto::{Address, PublicKey};
use k256::{ProjectivePoint, Scalar};

use crate::contribution::{Contribution, ContributionHeader, Payload, CONTRIBUTION_TAG};
use crate::error::{CloseError, ContributionError};
use crate::hll::HyperLogLog;
use crate::noise::{discrete_laplace, geometric, NoiseRng};
use crate::payout::Settlement;
use crate::pedersen::PedersenGens;
use crate::plan::{Aggregation, PlanId, ValidPlan};

/// Tag of the release noise seed.
pub const NOISE_SEED_TAG: DomainTag = DomainTag::new(b"itc/chaincode/noise-seed/v1");
/// Tag under which each noise share is hashed before mixing.
pub const NOISE_SHARE_TAG: DomainTag = DomainTag::new(b"itc/chaincode/noise-share/v1");
/// Tag of a release's digest.
pub const RELEASE_TAG: DomainTag = DomainTag::new(b"itc/chaincode/release/v1");
/// ε (milli) of the threshold noise: `T = k + Geom(e^{−ε})`.
pub const THRESHOLD_EPSILON_MILLI: u32 = 250;

/// Limits of one aggregation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AggregatorConfig {
    /// Most contributions accepted.
    pub max_contributors: u32,
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        AggregatorConfig {
            max_contributors: 1_000_000,
        }
    }
}

/// The released, noised result. This (and the settlement) is all the vendor ever receives.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ReleasedValue {
    /// Noised number of matching records.
    Count(i64),
    /// Noised distinct-key estimate.
    DistinctCount(i64),
    /// Noised sum of per-device clamped sums.
    Sum(i64),
    /// Noised sum and the number of devices; the mean is `sum / contributors` (rounded to
    /// nearest in [`Release::mean`]).
    Mean {
        /// Noised sum.
        sum: i64,
    },
    /// Noised per-bucket counts.
    Histogram(Vec<i64>),
    /// Per-candidate sums of randomized-response bits. An unbiased estimate of the true count
    /// is `(s − n·q) / (1 − 2q)` with `q = 1/(1 + e^{ε/c})` (host-side post-processing).
    Membership(Vec<u64>),
}

/// A released result.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Release {
    /// The plan.
    pub plan: PlanId,
    /// Number of contributing devices.
    pub contributors: u32,
    /// The value.
    pub value: ReleasedValue,
}

impl Release {
    /// For mean plans, the noised mean rounded to the nearest integer (ties away from zero).
    pub fn mean(&self) -> Option<i64> {
        match self.value {
            ReleasedValue::Mean { sum } if self.contributors > 0 => {
                let n = i128::from(self.contributors);
                let s = i128::from(sum);
                let q = (2 * s + s.signum() * n) / (2 * n);
                i64::try_from(q).ok()
            }
            _ => None,
        }
    }

    /// The digest validators sign.
    pub fn digest(&self) -> Hash {
        hash_encoded(RELEASE_TAG, self)
    }
}

impl Encode for Release {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.plan.encode(w);
        self.contributors.encode(w);
        let signed = |w: &mut W, v: i64| (v as u64).encode(w);
        match &self.value {
            ReleasedValue::Count(v) => {
                w.write(&[1]);
                signed(w, *v);
            }
            ReleasedValue::DistinctCount(v) => {
                w.write(&[2]);
                signed(w, *v);
            }
            ReleasedValue::Sum(v) => {
                w.write(&[3]);
                signed(w, *v);
            }
            ReleasedValue::Mean { sum } => {
                w.write(&[4]);
                signed(w, *sum);
            }
            ReleasedValue::Histogram(b) => {
                w.write(&[5]);
                write_varint(w, b.len() as u64);
                for v in b {
                    signed(w, *v);
                }
            }
            ReleasedValue::Membership(c) => {
                w.write(&[6]);
                write_varint(w, c.len() as u64);
                for v in c {
                    v.encode(w);
                }
            }
        }
    }
}

/// Why a result was not released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WithholdReason {
    /// Fewer devices contributed than the (noised) threshold.
    TooFewContributors {
        /// Devices that contributed.
        count: u32,
    },
}

/// The result of closing an aggregation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseOutcome {
    /// Released: the result and the payouts.
    Released {
        /// The noised result.
        release: Release,
        /// Payouts to contributors.
        settlement: Settlement,
    },
    /// Withheld: nothing released, nothing paid, budget refunded.
    Withheld {
        /// Why.
        reason: WithholdReason,
        /// The refund.
        settlement: Settlement,
    },
}

#[derive(Clone, Debug)]
struct Contributor {
    payout_to: Address,
    weight: u32,
}

#[derive(Clone, Debug)]
enum Accumulator {
    /// Sum of committed offsets, with the matching blinding and commitment sums (kept so an
    /// auditor holding the openings can check the total against the public commitments).
    Value {
        total: u128,
        blinding: Scalar,
        commitment: ProjectivePoint,
    },
    Distinct(HyperLogLog),
    Histogram(Vec<u64>),
    Membership(Vec<u64>),
}

/// The aggregation state machine for one plan.
#[derive(Clone, Debug)]
pub struct Aggregator {
    plan: ValidPlan,
    gens: PedersenGens,
    config: AggregatorConfig,
    contributors: BTreeMap<PublicKey, Contributor>,
    acc: Accumulator,
    noise_mix: [u8; 32],
    closed: bool,
}

impl Aggregator {
    /// Opens an aggregation for a validated plan.
    pub fn new(plan: ValidPlan, config: AggregatorConfig) -> Self {
        let acc = match &plan.plan().aggregation {
            Aggregation::DistinctCount { precision } => match HyperLogLog::new(*precision) {
                Ok(h) => Accumulator::Distinct(h),
                // Unreachable for a ValidPlan; fall back to an empty value accumulator.
                Err(_) => Accumulator::Histogram(Vec::new()),
            },
            Aggregation::Histogram { buckets, .. } => {
                Accumulator::Histogram(vec![0; usize::from(*buckets)])
            }
            Aggregation::Membership { candidates } => {
                Accumulator::Membership(vec![0; candidates.len()])
            }
            _ => Accumulator::Value {
                total: 0,
                blinding: Scalar::ZERO,
                commitment: ProjectivePoint::IDENTITY,
            },
        };
        Aggregator {
            plan,
            gens: PedersenGens::new(),
            config,
            contributors: BTreeMap::new(),
            acc,
            noise_mix: [0u8; 32],
            closed: false,
        }
    }

    /// The plan.
    pub fn plan(&self) -> &ValidPlan {
        &self.plan
    }

    /// Number of accepted contributions.
    pub fn contributors(&self) -> usize {
        self.contributors.len()
    }

    /// Whether `close` has run.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Checks a contribution and, if valid, merges it. On error nothing changes.
    ///
    /// (See the crate-level example for a full run; here a contribution for another plan.)
    ///
    /// ```
    /// # use itc_chaincode::aggregator::{Aggregator, AggregatorConfig};
    /// # use itc_chaincode::contribution::{Contribution, ContributionHeader, Payload, Sealed};
    /// # use itc_chaincode::error::ContributionError;
    /// # use itc_chaincode::plan::{Aggregation, Filter, Fuel, Plan, PlanId, Policy, Privacy};
    /// # use itc_crypto::{Address, Hash, SecretKey};
    /// # let plan = Plan {
    /// #     vendor: Address([1; 20]), nonce: 0,
    /// #     filter: Filter { kinds: vec![7], since_ms: 0, until_ms: u64::MAX, tags_all: 0, max_records: 10 },
    /// #     aggregation: Aggregation::Membership { candidates: vec![b"x".to_vec()] },
    /// #     privacy: Privacy { epsilon_milli: 1000, min_contributors: 50 },
    /// #     budget: 100, deadline_ms: 1000, fuel: Fuel { per_record: 16, per_plan: 100_000 },
    /// # }.validate(&Policy::default(), Hash::ZERO, 0).unwrap();
    /// let mut agg = Aggregator::new(plan, AggregatorConfig::default());
    /// let key = SecretKey::from_bytes(&[5; 32]).unwrap();
    /// let sealed = Sealed { payload: Payload::Membership(1), noise_share: [0; 32] };
    /// let header = ContributionHeader {
    ///     plan: PlanId(Hash([3; 32])), device: key.public_key(), payout_to: Address([2; 20]),
    ///     matched: 1, sealed_digest: sealed.digest(), value: None,
    /// };
    /// let c = Contribution::sign(header, sealed, &key).unwrap();
    /// assert_eq!(agg.submit(&c, 10), Err(ContributionError::WrongPlan));
    /// assert_eq!(agg.contributors(), 0);
    /// ```
    pub fn submit(&mut self, c: &Contribution, now: u64) -> Result<(), ContributionError> {
        self.submit_checked(c, now, None)
    }

    /// Submits many contributions in order, checking all their signatures with one batch
    /// equation ([`itc_crypto::batch`]); the results are exactly those of calling
    /// [`Aggregator::submit`] on each in turn, only faster (validators ingest contributions a
    /// block at a time).
    ///
    /// ```
    /// # use itc_chaincode::aggregator::{Aggregator, AggregatorConfig};
    /// # use itc_chaincode::plan::{Aggregation, Filter, Fuel, Plan, Policy, Privacy};
    /// # use itc_crypto::{Address, Hash};
    /// # let plan = Plan {
    /// #     vendor: Address([1; 20]), nonce: 0,
    /// #     filter: Filter { kinds: vec![7], since_ms: 0, until_ms: u64::MAX, tags_all: 0, max_records: 10 },
    /// #     aggregation: Aggregation::Count,
    /// #     privacy: Privacy { epsilon_milli: 1000, min_contributors: 50 },
    /// #     budget: 100, deadline_ms: 1000, fuel: Fuel { per_record: 16, per_plan: 100_000 },
    /// # }.validate(&Policy::default(), Hash::ZERO, 0).unwrap();
    /// let mut agg = Aggregator::new(plan, AggregatorConfig::default());
    /// assert!(agg.submit_batch(&[], 10).is_empty());
    /// ```
    pub fn submit_batch(
        &mut self,
        contributions: &[Contribution],
        now: u64,
    ) -> Vec<Result<(), ContributionError>> {
        let items: Vec<BatchItem> = contributions
            .iter()
            .map(|c| {
                let digest = tagged_hash(CONTRIBUTION_TAG, &c.header.encode_to_vec());
                BatchItem::new(c.header.device, digest, c.signature)
            })
            .collect();
        let invalid: BTreeSet<usize> = batch::invalid_indices(&items[..]).collect();
        contributions
            .iter()
            .enumerate()
            .map(|(i, c)| self.submit_checked(c, now, Some(!invalid.contains(&i))))
            .collect()
    }

    /// `submit` with an optional precomputed signature verdict.
    fn submit_checked(
        &mut self,
        c: &Contribution,
        now: u64,
        signature_ok: Option<bool>,
    ) -> Result<(), ContributionError> {
        let plan = self.plan.plan();
        let h = &c.header;
        if self.closed {
            return Err(ContributionError::Closed);
        }
        if now >= plan.deadline_ms {
            return Err(ContributionError::DeadlineExpired {
                deadline: plan.deadline_ms,
                now,
            });
        }
        if h.plan != self.plan.id() {
            return Err(ContributionError::WrongPlan);
        }
        if self.contributors.contains_key(&h.device) {
            return Err(ContributionError::DuplicateDevice);
        }
        if self.contributors.len() >= self.config.max_contributors as usize {
            return Err(ContributionError::TooManyContributors {
                max: self.config.max_contributors,
            });
        }
        if h.matched > plan.filter.max_records {
            return Err(ContributionError::MatchedOverCap {
                matched: h.matched,
                cap: plan.filter.max_records,
            });
        }
        let signature_ok = signature_ok.unwrap_or_else(|| c.verify_signature().is_ok());
        if !signature_ok {
            return Err(ContributionError::InvalidSignature);
        }
        if c.sealed.digest() != h.sealed_digest {
            return Err(ContributionError::SealedDigestMismatch);
        }
        self.check_payload(c)?;

        // All checks passed: merge.
        match (&mut self.acc, &c.sealed.payload) {
            (
                Accumulator::Value {
                    total,
                    blinding,
                    commitment,
                },
                Payload::Value(o),
            ) => {
                *total += u128::from(o.value);
                *blinding += o.blinding;
                if let Some(v) = &h.value {
                    *commitment += v.commitment.as_point();
                }
            }
            (Accumulator::Distinct(acc), Payload::Distinct(s)) => {
                acc.merge(s)
                    .map_err(|_| ContributionError::PayloadMismatch)?;
            }
            (Accumulator::Histogram(acc), Payload::Histogram(b)) => {
                for (a, x) in acc.iter_mut().zip(b) {
                    *a += u64::from(*x);
                }
            }
            (Accumulator::Membership(acc), Payload::Membership(bits)) => {
                for (i, a) in acc.iter_mut().enumerate() {
                    *a += u64::from((bits >> i) & 1);
                }
            }
            _ => return Err(ContributionError::PayloadMismatch),
        }
        let share = tagged_hash(NOISE_SHARE_TAG, &c.sealed.noise_share);
        for (m, s) in self.noise_mix.iter_mut().zip(share.0) {
            *m ^= s;
        }
        self.contributors.insert(
            h.device,
            Contributor {
                payout_to: h.payout_to,
                weight: h.matched,
            },
        );
        Ok(())
    }

    /// Shape and proof checks of the payload against the plan (no state change).
    fn check_payload(&self, c: &Contribution) -> Result<(), ContributionError> {
        let plan = self.plan.plan();
        let h = &c.header;
        match (&plan.aggregation, &c.sealed.payload, &h.value) {
            (
                Aggregation::Count | Aggregation::Sum { .. } | Aggregation::Mean { .. },
                Payload::Value(o),
                Some(v),
            ) => {
                if !self.gens.opens_to(&v.commitment, o) {
                    return Err(ContributionError::CommitmentMismatch);
                }
                let bits = plan.range_bits().unwrap_or(1);
                let ctx = ContributionHeader::proof_context(&h.plan, &h.device);
                v.range
                    .verify(&self.gens, &v.commitment, bits, &ctx)
                    .map_err(ContributionError::RangeProof)?;
                if matches!(plan.aggregation, Aggregation::Count) && o.value != u64::from(h.matched)
                {
                    return Err(ContributionError::PayloadMismatch);
                }
                Ok(())
            }
            (Aggregation::DistinctCount { precision }, Payload::Distinct(s), None)
                if s.precision() == *precision =>
            {
                Ok(())
            }
            (Aggregation::Histogram { buckets, .. }, Payload::Histogram(b), None)
                if b.len() == usize::from(*buckets)
                    && b.iter().map(|x| u64::from(*x)).sum::<u64>() == u64::from(h.matched) =>
            {
                Ok(())
            }
            (Aggregation::Membership { candidates }, Payload::Membership(bits), None)
                if candidates.len() >= 32 || bits >> candidates.len() == 0 =>
            {
                Ok(())
            }
            _ => Err(ContributionError::PayloadMismatch),
        }
    }

    /// Closes the aggregation at or after the deadline, with the beacon fixed after it.
    pub fn close(&mut self, beacon: Hash, now: u64) -> Result<CloseOutcome, CloseError> {
        let plan = self.plan.plan();
        if self.closed {
            return Err(CloseError::AlreadyClosed);
        }
        if now < plan.deadline_ms {
            return Err(CloseError::DeadlineNotReached {
                deadline: plan.deadline_ms,
                now,
            });
        }
        self.closed = true;
        let id = self.plan.id();
        let mut seed = TaggedHasher::new(NOISE_SEED_TAG);
        seed.update(id.0.as_bytes())
            .update(beacon.as_bytes())
            .update(&self.noise_mix);
        let mut rng = NoiseRng::new(seed.finalize());

        let count = self.contributors.len() as u32;
        let threshold = u64::from(plan.privacy.min_contributors).saturating_add(geometric(
            &mut rng,
            THRESHOLD_EPSILON_MILLI,
            1,
        ));
        if u64::from(count) < threshold {
            return Ok(CloseOutcome::Withheld {
                reason: WithholdReason::TooFewContributors { count },
                settlement: Settlement::refund_all(id, plan.vendor, plan.budget),
            });
        }

        let eps = plan.privacy.epsilon_milli;
        let delta = self.plan.sensitivity();
        let mut noised = |v: i128| {
            let z = discrete_laplace(&mut rng, eps, delta);
            i64::try_from(v.saturating_add(i128::from(z))).unwrap_or(if v < 0 {
                i64::MIN
            } else {
                i64::MAX
            })
        };
        let value = match (&plan.aggregation, &self.acc) {
            (Aggregation::Count, Accumulator::Value { total, .. }) => {
                ReleasedValue::Count(noised(*total as i128))
            }
            (
                Aggregation::Sum { clamp, .. } | Aggregation::Mean { clamp, .. },
                Accumulator::Value { total, .. },
            ) => {
                let sum = (*total as i128).saturating_add(i128::from(count) * i128::from(clamp.lo));
                let s = noised(sum);
                if matches!(plan.aggregation, Aggregation::Mean { .. }) {
                    ReleasedValue::Mean { sum: s }
                } else {
                    ReleasedValue::Sum(s)
                }
            }
            (_, Accumulator::Distinct(h)) => {
                ReleasedValue::DistinctCount(noised(i128::from(h.estimate())))
            }
            (_, Accumulator::Histogram(b)) => {
                ReleasedValue::Histogram(b.iter().map(|x| noised(i128::from(*x))).collect())
            }
            (_, Accumulator::Membership(c)) => ReleasedValue::Membership(c.clone()),
            _ => ReleasedValue::Count(0),
        };
        let weights: Vec<(Address, u64)> = self
            .contributors
            .values()
            .map(|c| (c.payout_to, u64::from(c.weight)))
            .collect();
        Ok(CloseOutcome::Released {
            release: Release {
                plan: id,
                contributors: count,
                value,
            },
            settlement: Settlement::by_weight(id, plan.vendor, plan.budget, &weights),
        })
    }
}
