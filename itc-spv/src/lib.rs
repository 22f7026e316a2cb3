//! # itc-spv
//!
//! A bounded-memory light client: keeps headers only, verifies commit certificates and validator-set changes, checks Merkle inclusion and state proofs, and counts confirmations; plus the full-node proof server that answers it.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(any(feature = "alloc", test))]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod mmr;
