//! # itc-pbft
//!
//! Practical Byzantine Fault Tolerance (Castro & Liskov, OSDI 1999) for the IoT Chain main
//! chain, as a sans-I/O state machine over a weighted validator set: quorum is strictly more
//! than 2/3 of the voting power (2f + 1 of n = 3f + 1 for equal power).
//!
//! Allocation-free (build with `--no-default-features`; used by light clients and devices):
//!
//! * [`header`] — [`BlockHeader`]: the fixed-size block header, the validator-set hand-over
//!   rule and the state-root lag (header `h` carries the root after executing blocks `≤ h − 1`).
//! * [`certificate`] — [`CommitCertificate`]: a quorum's commit signatures over a header,
//!   verifiable by anyone holding the validator set.
//!
//! With `alloc` (default):
//!
//! * [`request`] — client [`Request`]s and [`Batch`]es (the Merkle leaf of a request).
//! * [`message`] — wire messages, the digests they sign, prepared and checkpoint certificates.
//! * [`replica`] — the [`Replica`] state machine: feed it inputs, drain its [`Action`]s. Its
//!   protocol parts live in private modules (they only hold `impl Replica` blocks): the normal
//!   case (pre-prepare, prepare, commit, delivery, batching, idle blocks), view change,
//!   checkpoints and garbage collection, catch-up by fetching certified blocks. The rules are
//!   written down in `docs/spec/pbft.md`.
//! * [`availability`] — batches kept by header hash, persisted before the first vote and
//!   served to peers, so a prepared header's batch is never lost (issue 16.2).
//! * [`epoch`] — which validator set certifies which heights.
//! * [`config`] — the [`Config`]: checkpoint interval, window, batch limits, timeouts, caps,
//!   and [`VoteCheck`]: check each vote's signature on arrival (default) or hold votes until
//!   they could complete a quorum and batch-verify them together (1.8× committed requests per
//!   second at n = 16; `benches/README.md`).
//! * [`sig`] — where every signature is made and checked (and counted).
//! * [`safety`] — the one module that decides whether the replica may sign, and what must be
//!   persisted before it sends.
//! * [`evidence`] — verifiable proof that a validator signed two conflicting votes.
//! * `cluster` (feature `testkit`) — an in-memory cluster: four validators in a few lines
//!   (examples, benches, tests; it plays the integrator for every node).
//!
//! ## The integrator's loop
//!
//! Feed a [`Replica`] (`handle_message`, `handle_request`, `handle_executed`,
//! `handle_fetched_block`, and `handle_timeout(now_ms)` once the clock reaches
//! [`Replica::poll_timeout`]) and carry out what [`Replica::drain_actions`] returns, **in
//! order**:
//!
//! * [`Action::Persist`] — make it durable before carrying out any later action (it protects
//!   the vote or view in the message that follows). What must survive a crash is exactly the
//!   accumulated [`SafetyRecord`] (own votes, entered view, prepared certificates, stable
//!   checkpoint) plus the blocks the application executed; [`Replica::restore`] takes both.
//! * [`Action::Send`] / [`Action::Broadcast`] — to one validator / to all peers.
//! * [`Action::Commit`] — a block with its [`CommitCertificate`], in height order: execute
//!   it, then report the state root with `handle_executed` (header `h + 1` carries it).
//! * [`Action::Reply`], [`Action::Evidence`], [`Action::Fetch`].
//!
//! After each input, ask [`Replica::poll_timeout`] again: it is the one deadline to wait for.
//!
//! ```
//! use itc_pbft::cluster::Cluster;
//! use itc_pbft::{ClientId, Request};
//!
//! let mut cluster = Cluster::with_equal_power(4).unwrap();
//! cluster.submit(Request::new(ClientId(1), 1, b"unlock door 7".to_vec()));
//! cluster.run_until_idle();
//! // Every replica delivered the same block 1, with a certificate that verifies.
//! assert!(cluster.committed_heights().iter().all(|h| *h == 1));
//! ```
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod certificate;
pub mod header;
#[cfg(feature = "serde")]
mod serde_impl;

#[cfg(feature = "alloc")]
pub mod action;
#[cfg(feature = "alloc")]
pub mod availability;
#[cfg(feature = "alloc")]
mod catchup;
#[cfg(feature = "alloc")]
mod checkpoint;
#[cfg(feature = "testkit")]
pub mod cluster;
#[cfg(feature = "alloc")]
pub mod config;
#[cfg(feature = "alloc")]
pub mod epoch;
#[cfg(feature = "alloc")]
pub mod error;
#[cfg(feature = "alloc")]
pub mod evidence;
#[cfg(feature = "alloc")]
mod log;
#[cfg(feature = "alloc")]
pub mod message;
#[cfg(feature = "alloc")]
mod normal_case;
#[cfg(feature = "alloc")]
mod queue;
#[cfg(feature = "alloc")]
pub mod replica;
#[cfg(feature = "alloc")]
pub mod request;
#[cfg(feature = "alloc")]
pub mod safety;
#[cfg(feature = "alloc")]
pub mod sig;
#[cfg(feature = "alloc")]
mod view_change;

pub use certificate::{CertificateError, CommitCertificate, CompactCommitCertificate};
pub use header::{BlockHeader, ChainError};

#[cfg(feature = "alloc")]
pub use action::Action;
#[cfg(feature = "alloc")]
pub use config::{Config, ConfigError, VoteCheck};
#[cfg(feature = "alloc")]
pub use error::PbftError;
#[cfg(feature = "alloc")]
pub use evidence::Evidence;
#[cfg(feature = "alloc")]
pub use message::{CertifiedBlock, Message};
#[cfg(feature = "alloc")]
pub use replica::{ChainGenesis, ChainTip, Executed, Replica};
#[cfg(feature = "alloc")]
pub use request::{Batch, ClientId, Request};
#[cfg(feature = "alloc")]
pub use safety::{Durable, SafetyRecord};
