//! # itc-chaincode
//!
//! Privacy-preserving analytics contracts: query plans that only ever see aggregates (HyperLogLog, Bloom filters, noised sums, Pedersen commitments with range proofs), a metered executor, an aggregator and exact contributor payouts.
#![no_std]
#![forbid(unsafe_code)]
