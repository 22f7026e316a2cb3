//! # itc-node
//!
//! The IoT Chain node: a thin I/O shell around the sans-I/O core in `itc-chain` (the split of
//! quinn around quinn-proto). It carries bytes, fsyncs and keeps time; every consensus and
//! ledger decision is `itc-chain`'s.
//!
//! * [`store`] — [`store::RedbStore`]: every `itc_chain` store trait over one redb file; one
//!   write transaction with immediate durability per step.
#![forbid(unsafe_code)]

pub mod config;
pub mod init;
pub mod store;
pub mod wire;
