//! # itc-chaincode
//!
//! Privacy-preserving analytics contracts ("ChainCode"). A vendor who wants statistics over
//! users' device data submits a **plan**; the query travels to the data, each device answers
//! with a signed, mergeable sketch; the chain merges the sketches, releases a noised result only
//! over at least `k` devices, and pays the contributors exactly the reward budget.
//!
//! | module | job |
//! |---|---|
//! | [`plan`] | the contract as data: [`plan::Plan`], [`plan::Policy`] (safe defaults), validation into [`plan::ValidPlan`], [`plan::Record`] |
//! | [`executor`] | device side: [`executor::LocalExecutor`] runs a plan over local records with fuel metering, builds the sketch, signs |
//! | [`budget`] | device side: [`budget::PrivacyLedger`], the per-user ε budget over a rolling window |
//! | [`contribution`] | what a device sends: signed public header (commitment + range proof) and sealed sketch |
//! | [`aggregator`] | chain side: [`aggregator::Aggregator`] checks and merges contributions, releases with noise, settles |
//! | [`payout`] | [`payout::Settlement`] / [`payout::Payout`]: largest-remainder split that sums exactly to the budget |
//! | [`hll`] | HyperLogLog: sparse/dense, Ertl's estimator in fixed point, HLL_4 wire form |
//! | [`bloom`] | keyed Bloom filter |
//! | [`siphash`] | the per-plan keyed hash every sketch uses |
//! | [`noise`] | exact integer discrete Laplace / geometric / randomized response, on-chain noise stream |
//! | [`pedersen`] | Pedersen commitments on secp256k1 (H by hash-to-curve), opening proofs |
//! | [`range_proof`] | bit-decomposition OR-proof that a committed value lies in `[0, 2^n)` |
//! | [`schedule`] | when a plan starts and closes: [`schedule::activation`] (the funding block keys the sketches) and [`schedule::beacon`] (the first block at the deadline seeds the noise) |
//! | [`error`] | typed errors |
//!
//! **Safe defaults** (see [`plan::Policy`], [`budget::PrivacyBudget`], [`aggregator`]): ε ≤ 1 per
//! query; minimum cohort k ≥ 50 with a noised release threshold; ε ≤ 3 per user per rolling 7
//! days; sketches are sealed raw data the vendor never sees; sketch inputs are hashed with a
//! per-plan key fixed at activation. Everything validators compute — merges, estimates, noise,
//! payouts — is integer or fixed-point arithmetic, bit-identical on every platform.
//!
//! **Trust model in one paragraph.** Devices trust nobody with their records: only the plan's
//! aggregate leaves them, and their own policy and ε ledger decide whether to answer. Validators
//! (the aggregator) see each device's sealed sketch, as a tallying authority does; the vendor
//! and the public see only commitments, range proofs, the noised release and the settlement.
//! Release noise is seeded by the post-deadline beacon *and* the devices' sealed noise shares,
//! so the vendor cannot recompute and subtract it. See [`aggregator`] for what a malicious
//! primary can bias.
//!
//! Features: `std` (default; k256 precomputed tables), `alloc` (everything except the noise,
//! commitment and hashing primitives needs it). `--no-default-features` builds for
//! `thumbv7em-none-eabihf`.
//!
//! ```
//! use itc_chaincode::aggregator::{Aggregator, AggregatorConfig, CloseOutcome};
//! use itc_chaincode::budget::PrivacyBudget;
//! use itc_chaincode::executor::LocalExecutor;
//! use itc_chaincode::plan::{Aggregation, Filter, Fuel, Plan, Policy, Privacy, Record};
//! use itc_crypto::{Address, Hash, SecretKey};
//! use rand_core::SeedableRng;
//!
//! // A vendor asks: how many distinct stores did lamps see this week? (k = 50, ε = 1)
//! let plan = Plan {
//!     vendor: Address([0xaa; 20]), nonce: 1,
//!     filter: Filter { kinds: vec![7], since_ms: 0, until_ms: u64::MAX, tags_all: 0, max_records: 50 },
//!     aggregation: Aggregation::DistinctCount { precision: 10 },
//!     privacy: Privacy { epsilon_milli: 1000, min_contributors: 50 },
//!     budget: 6_000, deadline_ms: 1_000,
//!     fuel: Fuel { per_record: 16, per_plan: 100_000 },
//! };
//! let plan = plan.validate(&Policy::default(), Hash([7; 32]), 0).unwrap();
//! let mut agg = Aggregator::new(plan.clone(), AggregatorConfig::default());
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
//! for d in 0..60u32 {
//!     let key = SecretKey::generate(&mut rng);
//!     let payout = Address::from_public_key(&key.public_key());
//!     let mut device = LocalExecutor::new(key, PrivacyBudget::default(), Policy::default());
//!     let ids: Vec<[u8; 4]> = (0..5).map(|i| (d * 3 + i).to_be_bytes()).collect();
//!     let records: Vec<Record> = ids.iter()
//!         .map(|k| Record { kind: 7, time_ms: 1, tags: 0, fields: &[], key: k }).collect();
//!     let c = device.run(&plan, records.iter().copied(), payout, 10, &mut rng).unwrap();
//!     agg.submit(&c, 20).unwrap();
//! }
//! match agg.close(Hash([9; 32]), 1_000).unwrap() {
//!     CloseOutcome::Released { release, settlement } => {
//!         assert_eq!(release.contributors, 60);
//!         // 60 devices × 5 records each: 100 each, exactly the budget.
//!         assert_eq!(settlement.payouts.iter().map(|p| p.amount).sum::<u64>(), 6_000);
//!     }
//!     CloseOutcome::Withheld { .. } => unreachable!("60 ≥ k + threshold noise here"),
//! }
//! ```
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod error;
pub mod noise;
pub mod pedersen;
pub mod schedule;
#[cfg(feature = "serde")]
mod serde_impl;
pub mod siphash;

#[cfg(feature = "alloc")]
pub mod aggregator;
#[cfg(feature = "alloc")]
pub mod bloom;
#[cfg(feature = "alloc")]
pub mod budget;
#[cfg(feature = "alloc")]
pub mod contribution;
#[cfg(feature = "alloc")]
pub mod executor;
#[cfg(feature = "alloc")]
pub mod hll;
#[cfg(feature = "alloc")]
pub mod payout;
#[cfg(feature = "alloc")]
pub mod plan;
#[cfg(feature = "alloc")]
pub mod range_proof;

#[cfg(feature = "alloc")]
pub use aggregator::{Aggregator, AggregatorConfig, CloseOutcome, Release, ReleasedValue};
#[cfg(feature = "alloc")]
pub use budget::PrivacyBudget;
#[cfg(feature = "alloc")]
pub use contribution::Contribution;
pub use error::{
    CloseError, CommitmentProofError, ContributionError, ExecError, PlanError, SketchError,
};
#[cfg(feature = "alloc")]
pub use executor::LocalExecutor;
#[cfg(feature = "alloc")]
pub use payout::{Payout, Settlement};
#[cfg(feature = "alloc")]
pub use plan::{Plan, PlanId, Policy, ValidPlan};
pub use schedule::{activation, beacon, Activation, Beacon, BlockRef};
