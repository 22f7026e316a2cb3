//! # itc-spv
//!
//! A bounded-memory light client for the IoT Chain main chain and its DAG anchors. The client
//! keeps headers only — never blocks, state or the tangle — verifies commit certificates and
//! validator-set hand-overs, checks inclusion and state proofs against verified roots, and
//! counts confirmations. It is sans-I/O: it outputs [`Request`]s and consumes [`Response`]s,
//! takes the time as an argument (`now_ms`), and believes nothing it cannot verify.
//!
//! Light client (no allocator; `LightClient<K, N>` is a fixed-size value):
//!
//! * **Trust** — [`TrustAnchor`] (genesis or a firmware checkpoint) and [`Config`];
//!   [`LightClient::new`] / [`LightClient::init_in`] (built in place on firmware). Every
//!   entry point that extends trust takes the caller's clock — see *Time* below.
//! * **Headers** — [`LightClient::verify_header`] (sequential) and
//!   [`LightClient::verify_skipping`] (Tendermint-style, far ahead); each yields a
//!   [`VerifiedHeader`], a value only this crate constructs. Certificate checks verify each
//!   needed signature once, strongest first, batched, in one pass for the 1/3-trust and
//!   2/3-quorum tests.
//! * **Driver** — [`LightClient::sync_to`], [`LightClient::poll_request`],
//!   [`LightClient::handle_response`] → [`Event`]: bisection and accumulator back-fill.
//! * **Proofs** — [`LightClient::verify_state`] → [`VerifiedEntry`],
//!   [`LightClient::verify_transaction`] → [`VerifiedTransaction`],
//!   [`LightClient::verify_dag_transaction`] → [`VerifiedDagTransaction`], and
//!   [`LightClient::confirmations`]; the same checks on a [`VerifiedHeader`] directly
//!   ([`proofs`]). Each result carries what it proved, with private fields: holding one is the
//!   proof, so nothing downstream re-verifies it and nothing hand-built passes for it.
//! * **Old headers** — [`LightClient::backfill`] keeps the header accumulator ([`Mmr`])
//!   complete after skipping; [`LightClient::verify_old_header`] proves a header the ring
//!   has forgotten with an [`MmrProof`] ([`mmr`]).
//! * **Forks** — the client halts on a second certified header at a height it holds;
//!   [`LightClient::fork_evidence`] gives [`ForkEvidence`], whose
//!   [`verify`](ForkEvidence::verify) yields a [`ProvenFork`] naming only validators whose
//!   signatures on both headers verified ([`evidence`]).
//! * **Wire** — [`Request`] / [`Response`] and their canonical, bounded encodings
//!   ([`messages`]).
//! * **Errors** — [`SpvError`], one enum; [`SpvError::blame`] says who must act ([`error`]).
//!
//! Serving light clients is the full node's job: `itc_chain::FullNode` answers every [`Request`]
//! from its store, with memory bounded by configuration.
//!
//! Test kit (feature `testkit`, not part of the protocol surface): `testkit::TestChain`, a
//! deterministic certified chain with rotating validator sets and lazy signing, served by the
//! reference `server::ProofServer` (an in-memory chain store that keeps everything) for the
//! light client's own tests, examples and simulations; `itc-chain`'s parity test checks that
//! both servers give the same answers.
//!
//! Feature `dag` types DAG transaction ids as `itc_dag::TxId`; without it they are raw
//! [`itc_crypto::Hash`]es and the tangle is not compiled.
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
//! let Event::Transaction { transaction, confirmations } = event else { panic!() };
//! assert_eq!((transaction.height(), confirmations), (2, 3));
//!
//! // What is the account's balance? Header 2 carries the state after block 1. The entry
//! // carries its proof: pass it on, nothing checks it twice.
//! let answer = chain.server().answer::<8>(&Request::StateProof { height: 2, key });
//! let Event::State(entry) = device.handle_response(&answer, chain.now_ms()).unwrap() else {
//!     panic!("a state proof yields a state entry")
//! };
//! assert_eq!((entry.height(), entry.key(), entry.value()), (2, &key, Some(&funded[..])));
//! assert_eq!(entry.decode_value::<Account>(), Some(Ok(Account { balance: 100, nonce: 0 })));
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
mod history;
pub mod messages;
pub mod mmr;
pub mod proofs;
mod ring;
#[cfg(feature = "serde")]
mod serde_impl;
#[cfg(feature = "testkit")]
pub mod server;
mod sync;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use client::{Config, LightClient, TrustAnchor};
pub use error::SpvError;
pub use evidence::{CertifiedHeader, ForkEvidence, ProvenFork};
pub use messages::{Request, Response};
pub use mmr::{Mmr, MmrProof};
pub use proofs::{DagTxId, VerifiedDagTransaction, VerifiedEntry, VerifiedTransaction};
pub use ring::VerifiedHeader;
pub use sync::{Event, MAX_BISECTION_DEPTH};
