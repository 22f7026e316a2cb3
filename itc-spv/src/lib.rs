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
//! * [`commit`] — certificate checks that verify each needed signature once, in descending
//!   power, batched: one pass for the 1/3-trust and 2/3-quorum tests.
//! * [`ring`] — the last `K` [`VerifiedHeader`]s.
//! * [`history`] — back-fill of skipped headers into the accumulator; old-header proofs.
//! * [`mmr`] — the header accumulator: a Merkle Mountain Range, O(log n) peaks, short proofs of
//!   old headers; strict about sizes and overflow.
//! * [`proofs`] — batch-transaction inclusion, state entries (present or absent), DAG
//!   transactions through ledger anchors, confirmations.
//! * [`evidence`] — [`ForkEvidence`]: two certified headers at one height.
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
//! let mut device: LightClient<16, 8> = LightClient::new(chain.anchor(), Config::new(100)).unwrap();
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
pub mod commit;
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
pub use commit::Tally;
pub use error::SpvError;
pub use evidence::{CertifiedHeader, ForkEvidence};
pub use messages::{Request, Response};
pub use mmr::{Mmr, MmrProof};
pub use proofs::DagTxId;
pub use ring::VerifiedHeader;
#[cfg(feature = "alloc")]
pub use server::{ChainStore, ProofServer};
pub use sync::Event;
