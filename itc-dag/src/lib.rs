//! # itc-dag
//!
//! The tangle side chain of IoT Chain: devices issue transactions that approve earlier tips and
//! carry a small proof of work; a transaction is confirmed by the weight that approves it
//! ("heaviest", not longest) and finally when a main-chain anchor covers it. Everything is a
//! sans-I/O state machine: time (`now_ms`), randomness and storage are passed in.
//!
//! ## Device side (no allocator needed)
//!
//! * [`Transaction`], [`TxId`], [`Payload`] (`Data`, `Transfer`, `Anchor`): the wire format and
//!   its one canonical encoding; [`Transaction::from_bytes`] is the only decoder for untrusted
//!   bytes ([`tx`] has the layout and tags).
//! * [`TransactionBuilder`]: parents, payload, bounded resumable
//!   [`TransactionBuilder::solve_pow`], then sign once.
//! * [`pow`]: the Keccak proof of work, [`pow::check`] (one hash) and [`pow::solve`].
//! * [`IssuerPolicy`], [`IssuerProfile`]: per-class minimum difficulty, stake weight, gateway
//!   allowance, adaptive difficulty by recent rate.
//! * [`snapshot::verify_inclusion`]: what a light client checks against an anchored root.
//!
//! ```
//! use itc_dag::{Payload, TangleGenesis, Transaction, TransactionBuilder};
//! use itc_crypto::SecretKey;
//! let key = SecretKey::from_bytes(&[1u8; 32]).unwrap();
//! let mut b = TransactionBuilder::new(key.public_key(), 0, 5_000)
//!     .parents(&TangleGenesis::roots()).unwrap()
//!     .payload(Payload::data(b"t=21.5").unwrap());
//! b.solve_pow(4, 0, 1 << 16).unwrap();
//! let tx = b.sign(&key).unwrap();
//! assert_eq!(Transaction::from_bytes(&tx.to_bytes()).unwrap(), tx);
//! ```
//!
//! ## Node side (feature `alloc`): the [`Tangle`] and its driver loop
//!
//! One driver pattern, as in quinn-proto:
//!
//! | | |
//! |---|---|
//! | inputs | [`Tangle::handle_transaction`], [`Tangle::handle_bytes`], [`Tangle::handle_transactions`] (batch-verified backlog), [`Tangle::handle_anchor`] — each `-> Result<(), DagError>` |
//! | time | [`Tangle::poll_timeout`] `-> Option<u64>` (absolute ms) and [`Tangle::handle_timeout`]`(now_ms)` |
//! | outputs | one queue of [`Event`]s: [`Tangle::poll_event`] / [`Tangle::take_events`]; bounded by backpressure ([`DagError::EventBacklog`]), never lossy |
//! | durability | one [`WriteBatch`] per step into your [`TangleStore`] ([`MemoryStore`] shipped); durable before that step's events are acted on |
//! | restart | [`Tangle::restore`]: exact (same [`Tangle::state_digest`]), bounded by what the store holds, no time check on restored state |
//! | queries | [`Tangle::select_parents`] ([`TipSelector`]: [`UniformRandom`], [`RandomWalk`]), status, weights, [`Tangle::graph`], [`Tangle::propose_snapshot`], [`Tangle::prove_finalized`] |
//! | validators | [`Tangle::check_snapshot_proposal`]: co-sign `AnchorDag` only for a snapshot this tangle holds |
//! | errors | [`DagError`], one variant per cause; [`DagError::blame`] says who must act |
//!
//! ```
//! use itc_dag::{Event, IssuerPolicy, IssuerProfile, MemoryStore, RandomWalk, Tangle,
//!               TangleConfig, TangleGenesis, TransactionBuilder, Payload};
//! use itc_crypto::SecretKey;
//! use rand_core::SeedableRng;
//!
//! let policy = IssuerPolicy::new(IssuerProfile::device(0, 100));
//! let mut tangle = Tangle::new(TangleConfig::default(), policy, TangleGenesis::default(),
//!                              MemoryStore::default());
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
//! let key = SecretKey::from_bytes(&[2u8; 32]).unwrap();
//! let now_ms = 1_000;
//! let parents = tangle.select_parents(&RandomWalk::default(), &mut rng, now_ms, 2).unwrap();
//! let tx = TransactionBuilder::new(key.public_key(), 0, now_ms)
//!     .parents(&parents).unwrap()
//!     .payload(Payload::data(b"lux=310").unwrap())
//!     .sign(&key).unwrap();
//! tangle.handle_transaction(tx, now_ms).unwrap();
//! // The node's loop: the step's writes are already in the store (fsync them), then act.
//! while let Some(event) = tangle.poll_event() {
//!     if let Event::Attached { id, .. } = event {
//!         let _gossip = tangle.get(&id).unwrap().to_bytes();
//!     }
//! }
//! if let Some(deadline) = tangle.poll_timeout() {
//!     tangle.handle_timeout(deadline); // when the clock reaches it
//! }
//! ```
//!
//! Also: [`DagSnapshot`] (what the main chain anchors: `root()`, `prove()`), [`DagBalances`]
//! (balances moved by finalised transfers), [`Graph`] and [`TxStatus`] (read-only views).
//!
//! ## Decisions worth knowing
//!
//! * **Max depth from the frontier.** A parent may be at most `max_parent_age_ms` older than
//!   `min(now_ms, newest held timestamp)` ([`Graph::depth_reference`]): the usual rule while
//!   traffic flows, and after an idle period the first new transaction may approve the tips
//!   the tangle stopped at. The genesis roots and the latest anchor's tips are approvable at
//!   any age, so two parents always exist. A spammer gains nothing while others issue (the
//!   newest timestamp is a maximum); after a pause it can hook to the frozen region like
//!   everyone else, and at most `2 × max_parent_age_ms` behind now.
//! * **Canonical layout.** Tip order, prune order and waiting-pool release order depend on the
//!   held state and attach order only, never on memory slots, so a restored tangle selects
//!   the same parents as the one that crashed.
//!
//! Tags are `itc/dag/<structure>/v1`.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod builder;
mod error;
mod policy;
pub mod pow;
#[cfg(feature = "serde")]
mod serde_impl;
pub mod snapshot;
pub mod store;
pub mod tx;

#[cfg(feature = "alloc")]
mod anchor;
#[cfg(feature = "alloc")]
mod balances;
#[cfg(feature = "alloc")]
mod conflict;
#[cfg(feature = "alloc")]
mod graph;
#[cfg(feature = "alloc")]
mod persist;
#[cfg(feature = "alloc")]
mod select;
#[cfg(feature = "alloc")]
mod tangle;
#[cfg(feature = "alloc")]
mod timeout;
#[cfg(feature = "alloc")]
pub mod tips;
#[cfg(feature = "alloc")]
mod unsolid;

pub use builder::TransactionBuilder;
pub use error::DagError;
pub use policy::{IssuerPolicy, IssuerProfile};
pub use store::{StoreKey, StoreTable, StoreUnavailable};
pub use tx::{
    AnchorNotice, Parents, Payload, Transaction, Transfer, TxId, MAX_DATA, MAX_PARENTS, MIN_PARENTS,
};

#[cfg(feature = "alloc")]
pub use balances::{DagAccount, DagBalances, TransferOutcome};
#[cfg(feature = "alloc")]
pub use graph::{Graph, SpendKey, TxStatus};
#[cfg(feature = "alloc")]
pub use snapshot::DagSnapshot;
#[cfg(feature = "alloc")]
pub use store::{MemoryStore, StoreOp, TangleStore, WriteBatch};
#[cfg(feature = "alloc")]
pub use tangle::{
    Event, MemoryReport, Metrics, Tangle, TangleConfig, TangleGenesis, BACKLOG_CHUNK, GENESIS_TAG,
    STATE_DIGEST_TAG,
};
#[cfg(feature = "alloc")]
pub use tips::{RandomWalk, TipSelector, UniformRandom};
