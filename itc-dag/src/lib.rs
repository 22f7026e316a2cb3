//! # itc-dag
//!
//! The tangle side chain of IoT Chain: devices issue transactions that approve earlier tips and
//! carry a small proof of work; a transaction is confirmed by the weight that approves it
//! ("heaviest", not longest) and finally when a main-chain anchor covers it. Everything is a
//! sans-I/O state machine: time, randomness and storage are passed in.
//!
//! Device side (no allocator needed):
//! * [`tx`] — [`Transaction`], [`TxId`], [`Payload`] (`Data`, `Transfer`, `Anchor`), canonical
//!   encoding and the signed essence;
//! * [`builder`] — [`TransactionBuilder`]: parents, payload, bounded resumable
//!   [`TransactionBuilder::solve_pow`], sign;
//! * [`pow`] — the Keccak proof of work: [`pow::check`] (one hash) and [`pow::solve`];
//! * [`policy`] — [`IssuerPolicy`]: per-class minimum difficulty, stake weight, gateway
//!   allowance, adaptive difficulty by recent rate.
//!
//! Node side (feature `alloc`):
//! * [`tangle`] — [`Tangle`]: `handle_transaction`, `handle_anchor`, `handle_tick`,
//!   `drain_events`; validation, unsolid pool, incremental cumulative weight, confirmation;
//! * [`graph`] — the metadata graph and [`TxStatus`];
//! * [`conflict`] — double-spend detection and resolution;
//! * [`tips`] — [`TipSelector`]: [`UniformRandom`] and the MCMC [`RandomWalk`], each bounded;
//! * [`snapshot`] — [`DagSnapshot`]: what the main chain anchors; inclusion proofs for
//!   light clients ([`snapshot::verify_inclusion`] needs no allocator);
//! * [`ledger`] — [`Ledger`]: balances moved by finalised transfers;
//! * [`store`] — [`TxStore`] and the in-memory [`MemoryStore`].
//!
//! Errors are one enum, [`DagError`]. Tags are `itc/dag/<structure>/v1`.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod builder;
pub mod error;
pub mod policy;
pub mod pow;
pub mod snapshot;
pub mod store;
pub mod tx;

#[cfg(feature = "alloc")]
mod anchor;
#[cfg(feature = "alloc")]
pub mod conflict;
#[cfg(feature = "alloc")]
pub mod graph;
#[cfg(feature = "alloc")]
pub mod ledger;
#[cfg(feature = "alloc")]
mod prune;
#[cfg(feature = "alloc")]
mod select;
#[cfg(feature = "alloc")]
pub mod tangle;
#[cfg(feature = "alloc")]
pub mod tips;
#[cfg(feature = "alloc")]
mod unsolid;

pub use builder::TransactionBuilder;
pub use error::DagError;
pub use policy::{IssuerPolicy, IssuerProfile};
pub use store::TxStore;
pub use tx::{
    AnchorRecord, Payload, Transaction, Transfer, TxId, MAX_DATA, MAX_PARENTS, MIN_PARENTS,
};

#[cfg(feature = "alloc")]
pub use graph::{Graph, SpendKey, TxStatus};
#[cfg(feature = "alloc")]
pub use ledger::{Ledger, TransferOutcome};
#[cfg(feature = "alloc")]
pub use snapshot::DagSnapshot;
#[cfg(feature = "alloc")]
pub use store::MemoryStore;
#[cfg(feature = "alloc")]
pub use tangle::{
    DagEvent, Genesis, MemoryReport, Metrics, Outcome, Tangle, TangleConfig, BACKLOG_CHUNK,
};
#[cfg(feature = "alloc")]
pub use tips::{RandomWalk, TipSelector, UniformRandom};
