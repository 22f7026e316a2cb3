//! # itc-chaincode
//!
//! Privacy-preserving analytics contracts ("ChainCode"): a vendor who wants statistics over
//! users' device data submits a **plan** — a query that may only produce aggregates — the query
//! travels to the data, each device answers with a signed, mergeable sketch, the chain merges the
//! sketches, releases a noised result only over at least `k` devices, and pays the contributors.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod error;
pub mod noise;
pub mod pedersen;
pub mod siphash;

#[cfg(feature = "alloc")]
pub mod bloom;
#[cfg(feature = "alloc")]
pub mod hll;
#[cfg(feature = "alloc")]
pub mod plan;
#[cfg(feature = "alloc")]
pub mod range_proof;
#[cfg(feature = "alloc")]
pub mod aggregator;
#[cfg(feature = "alloc")]
pub mod budget;
#[cfg(feature = "alloc")]
pub mod contribution;
#[cfg(feature = "alloc")]
pub mod executor;
#[cfg(feature = "alloc")]
pub mod payout;
