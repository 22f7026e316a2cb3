//! # itc-chain
//!
//! The sans-I/O core of IoT Chain's validators and full nodes: everything a node *decides*,
//! with no sockets, no disk, no clock and no threads — the pattern of quinn-proto under quinn.
//! The node binary (`itc-node`) carries bytes, fsyncs and keeps time around it; tests and the
//! in-process story drive the same core with simulated networks and [`store::MemoryStore`].
//! The seams between the protocol crates live here, not in examples.
//!
//! * [`store`] — storage behind traits ([`BlockStore`], [`SafetyStore`], [`SnapshotStore`],
//!   [`ReceiptStore`], [`TangleStore`], and [`Store`] with its one write,
//!   [`Store::commit`]), the per-step [`StepWrites`] (one transaction, one fsync; nothing of a
//!   step leaves before they are durable), and the in-memory [`MemoryStore`].
//! * [`full_node`] — [`FullNode`]: follows the chain by verifying certificates, executes each
//!   block in its ledger, checks state roots and the validator-set hand-over; memory bounded by
//!   [`FullNodeConfig`]; resumes from a store ([`FullNode::restore`]).
//! * `serve` — [`FullNode::answer`]: every `itc_spv::Request` (certified headers, header
//!   back-fill and accumulator proofs, state proofs at any retained height, transaction
//!   inclusion, DAG transactions through anchors), old data read from the store.
//! * [`handover`] — [`Handover`]: PBFT's validator-set hand-over rule applied to the ledger's
//!   decisions (`BlockOutcome::next_validator_set`), so a full node checks each certificate
//!   against the set the validators used.
//! * [`validator`] — [`Validator`]: a validator's replica, ledger (in a full node) and co-signer
//!   behind one driver: inputs in, one [`Ready`] out per step (writes to make durable first,
//!   then messages, replies, fetches, committed blocks), the next deadline from
//!   [`Validator::poll_timeout`]; a committed `SetValidators` rotates consensus.
//! * [`cosign`] — co-signed system transactions: [`CoSigner`] per validator, its own key only,
//!   [`SystemProposal`] / [`CoSignature`] messages, a pluggable [`CosignPolicy`].
//! * `testkit` (feature `testkit`) — `testkit::TestChain`, a certified chain built the way
//!   validators build it (holds every key: tests, benches and simulations only).
//!
//! Features: `std` (default) and `alloc`; everything needs only `alloc`.
//!
//! ## A full node serving a light client
//!
//! ```
//! use itc_chain::{FullNode, FullNodeConfig, MemoryStore, Store};
//! use itc_chain::testkit::TestChain;
//! use itc_crypto::{Address, Encode, SecretKey};
//! use itc_ledger::StateKey;
//! use itc_spv::{Config, Event, LightClient, Request, TrustAnchor};
//!
//! let alice = SecretKey::from_bytes(&[1; 32]).unwrap();
//! let alice_addr = Address::from_public_key(&alice.public_key());
//! let mut chain = TestChain::new(4, 8, &[(alice_addr, 100)]);
//! let mut store = MemoryStore::new();
//! let (mut node, writes) =
//!     FullNode::new(FullNodeConfig::new(8), chain.genesis_state(), chain.genesis_time_ms()).unwrap();
//! store.commit(writes).unwrap();
//!
//! let bob = Address([2; 20]);
//! let pay = chain.builder().transfer(&alice, 0, bob, 40).unwrap().encode_to_vec();
//! for txs in [vec![pay], vec![], vec![]] {
//!     let accepted = node.handle_block(chain.next_block(txs)).unwrap();
//!     store.commit(accepted.writes).unwrap();
//! }
//!
//! // A device anchored at genesis syncs and proves Bob's balance at height 2.
//! let set = chain.genesis_state().validators.with_capacity::<8>().unwrap();
//! let anchor = TrustAnchor::genesis(*node.genesis(), set);
//! let mut device: LightClient<16, 8> = LightClient::new(anchor, Config::new(8), chain.genesis_time_ms()).unwrap();
//! device.sync_to(node.tip().height);
//! let now = node.tip().timestamp_ms + 1;
//! while let Some(request) = device.poll_request() {
//!     device.handle_response(&node.answer::<8, _>(&store, &request).unwrap(), now).unwrap();
//! }
//! let request = Request::StateProof { height: 2, key: StateKey::Account(bob) };
//! let response = node.answer::<8, _>(&store, &request).unwrap();
//! let event = device.handle_response(&response, now).unwrap();
//! assert!(matches!(event, Event::State(entry) if entry.value().is_some()));
//! ```
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

#[cfg(feature = "alloc")]
mod accumulator;
#[cfg(feature = "alloc")]
pub mod cosign;
#[cfg(feature = "alloc")]
pub mod full_node;
#[cfg(feature = "alloc")]
pub mod handover;
#[cfg(feature = "alloc")]
mod serve;
#[cfg(feature = "alloc")]
pub mod store;
#[cfg(all(feature = "alloc", feature = "testkit"))]
pub mod testkit;
#[cfg(feature = "alloc")]
pub mod validator;

#[cfg(feature = "alloc")]
pub use cosign::{
    CoSignature, CoSigner, CosignConfig, CosignError, CosignMessage, CosignOutput, CosignPolicy,
    Refusal, SystemProposal,
};
#[cfg(feature = "alloc")]
pub use full_node::{
    Accepted, BlockRejected, CommittedBlock, FullNode, FullNodeConfig, GenesisRejected,
    RestoreError,
};
#[cfg(feature = "alloc")]
pub use handover::Handover;
#[cfg(feature = "alloc")]
pub use store::{
    BlockStore, MemoryStore, ReceiptStore, SafetyStore, SnapshotStore, StepWrites, Store,
    StoreBase, TangleStore,
};
#[cfg(feature = "alloc")]
pub use validator::{
    Committed, Fetch, Outbound, PeerMessage, Ready, Recipient, Reply, Validator, ValidatorConfig,
    ValidatorError,
};
