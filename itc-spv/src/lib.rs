//! # itc-spv
//!
//! A bounded-memory light client for the IoT Chain main chain and its DAG anchors, and the
//! full-node side that answers it. The client keeps headers only — never blocks, state or the
//! tangle — verifies commit certificates and validator-set hand-overs, checks inclusion and
//! state proofs against verified roots, and counts confirmations. It is sans-I/O: it outputs
//! [`Request`]s and consumes [`Response`]s, and it believes nothing it cannot verify.
//!
//! Light client (no allocator; `LightClient<K, N>` is a fixed-size value):
//!
//! * [`client`] — [`LightClient`], [`TrustAnchor`] (genesis or a firmware checkpoint),
//!   [`Config`]; sequential [`LightClient::verify_header`] and Tendermint-style
//!   [`LightClient::verify_skipping`]; halting on forks.
//! * `commit` (internal) — certificate checks that verify each needed signature once, in
//!   descending power, batched: one pass for the 1/3-trust and 2/3-quorum tests.
//! * [`ring`] — the last `K` [`VerifiedHeader`]s.
//! * [`history`] — back-fill of skipped headers into the accumulator; old-header proofs.
//! * [`mmr`] — the header accumulator: a Merkle Mountain Range, O(log n) peaks, short proofs of
//!   old headers; strict about sizes and overflow.
//! * [`proofs`] — batch-transaction inclusion, state entries (present or absent), DAG
//!   transactions through ledger anchors, confirmations.
//! * [`evidence`] — [`ForkEvidence`]: two certified headers at one height;
//!   [`ForkEvidence::verify`] yields a [`ProvenFork`] naming only proven double signers.
//! * [`sync`] — the driver: [`LightClient::poll_request`] / [`LightClient::handle_response`],
//!   bisection and accumulator back-fill.
//! * [`messages`] — [`Request`] / [`Response`] and their canonical encodings.
//! * [`error`] — [`SpvError`].
//!
//! Full node (feature `alloc`):
//!
//! * [`server`] — [`ChainStore`] fed with committed blocks, [`ProofServer`] answering every
//!   request.
//! * [`testkit`] — [`testkit::TestChain`]: a deterministic certified chain with rotating
//!   validator sets and lazy signing, for tests, examples and simulations.
//!
//! ## Time: the trusting period, and devices without a reliable clock
//!
//! The client never reads a clock: every entry point that extends trust — [`LightClient::new`]
//! and [`LightClient::init_in`] (the anchor), [`LightClient::verify_header`] (sequential),
//! [`LightClient::verify_skipping`] (skipping), [`LightClient::handle_response`] (both, and
//! bisection) — takes the caller's `now_ms` (milliseconds, the chain's timestamp scale) and
//! refuses to extend trust from a header older than [`Config::trusting_period_ms`]
//! ([`SpvError::TrustExpired`]), to accept a header stamped more than
//! [`Config::max_clock_drift_ms`] past `now_ms` ([`SpvError::HeaderFromFuture`]), or to run
//! on a clock more than that drift behind the newest verified header
//! ([`SpvError::ClockBehind`]). Back-fill and old-header proofs do not extend trust (they only
//! fill in below a verified header) and need no clock; neither do proofs checked against a
//! verified header.
//!
//! The trusting period is only as good as `now_ms`. A clock that runs fast costs availability
//! (trust expires early); a clock that runs slow, or was reset, silently stretches the period —
//! and with it the window in which keys the chain retired can forge headers. So a device must
//! follow these rules (the device SDK applies them):
//!
//! 1. **No time, no new trust.** While the device does not know the time (RTC never set, or
//!    lost with power), it does not call the entry points above. It can still check proofs
//!    against headers it already holds.
//! 2. **The newest verified header's time is a lower bound on now.** Persist the highest
//!    header time seen ([`LightClient::tip`]); a clock reading below it (less the drift) is
//!    wrong, and the client refuses it with `ClockBehind` rather than believe it.
//! 3. **A lower bound is not a clock.** `max(clock, tip time)` is fit for measuring the age of
//!    state (how stale the last proof may be), never for extending trust: with `now_ms` pinned
//!    to the tip, expiry is never detected and a forger with old keys walks forward one drift
//!    at a time. After an unknown time offline, take the time from a source authenticated
//!    independently of the chain (the owner's signed time, GNSS, a vendor-signed time
//!    service), or re-anchor on a fresh checkpoint.
//! 4. **Refresh before expiry.** [`LightClient::trusted_until_ms`] says when trust from the
//!    tip runs out; past it only a new anchor helps.
//!
//! Feature `dag` types DAG transaction ids as `itc_dag::TxId`; without it they are raw
//! [`itc_crypto::Hash`]es and the tangle is not compiled.
//!
//! ## Device flow
//!
//! ```
//! use itc_crypto::quorum::ValidatorSet;
//! use itc_ledger::{Account, StateKey};
//! use itc_spv::server::{BatchRequest, StateSnapshot};
//! use itc_spv::testkit::TestChain;
//! use itc_spv::{Config, Event, LightClient, Request};
//! use itc_crypto::{Address, Encode};
//!
//! // A full node's chain: an account funded in block 1, a command in block 2's batch.
//! let key = StateKey::Account(Address([7; 20]));
//! let funded = Account { balance: 100, nonce: 0 }.encode_to_vec();
//! let mut chain = TestChain::new(4, 100);
//! chain.push_block(vec![], Some(StateSnapshot::from_records([(key, funded.clone())]))).unwrap();
//! let cmd = BatchRequest { client: 7, request_id: 1, payload: b"lamp 3: on".to_vec() };
//! chain.push_block(vec![cmd.clone()], None).unwrap();
//! chain.extend(3);
//!
//! // The device: anchored at genesis (shipped in firmware), 16 recent headers, sets of ≤ 8.
//! let mut device: LightClient<16, 8> = LightClient::new(chain.anchor(), Config::new(100), chain.now_ms()).unwrap();
//! device.sync_to(chain.tip_height());
//! while let Some(request) = device.poll_request() {
//!     chain.ensure_certificate(&request);
//!     device.handle_response(&chain.server().answer::<8>(&request), chain.now_ms()).unwrap();
//! }
//! assert_eq!(device.tip().height(), 5);
//!
//! // Was my command executed? Inclusion in block 2, and 3 confirmations.
//! let leaf = itc_spv::proofs::request_leaf(7, 1, b"lamp 3: on");
//! let answer = chain.server().answer::<8>(&Request::TransactionProof { height: 2, leaf });
//! let event = device.handle_response(&answer, chain.now_ms()).unwrap();
//! assert!(matches!(event, Event::Transaction { height: 2, confirmations: 3, .. }));
//!
//! // What is the account's balance? Header 2 carries the state after block 1.
//! let answer = chain.server().answer::<8>(&Request::StateProof { height: 2, key });
//! match device.handle_response(&answer, chain.now_ms()).unwrap() {
//!     Event::State { value: Some(bytes), .. } => assert_eq!(bytes, &funded[..]),
//!     other => panic!("unexpected {other:?}"),
//! }
//! # let _ = core::marker::PhantomData::<ValidatorSet<8>>;
//! ```
#![no_std]
#![forbid(unsafe_code)]

#[cfg(any(feature = "alloc", test))]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod client;
mod commit;
pub mod error;
pub mod evidence;
pub mod history;
pub mod messages;
pub mod mmr;
pub mod proofs;
pub mod ring;
#[cfg(feature = "alloc")]
pub mod server;
pub mod sync;
#[cfg(feature = "alloc")]
pub mod testkit;

pub use client::{Config, LightClient, TrustAnchor};
pub use error::SpvError;
pub use evidence::{CertifiedHeader, ForkEvidence, ProvenFork};
pub use messages::{Request, Response};
pub use mmr::{Mmr, MmrProof};
pub use proofs::DagTxId;
pub use ring::VerifiedHeader;
#[cfg(feature = "alloc")]
pub use server::{ChainStore, ProofServer};
pub use sync::Event;
