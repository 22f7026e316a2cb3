//! # itc-node
//!
//! The IoT Chain node: a thin I/O shell around the sans-I/O core in `itc-chain` (the split of
//! quinn around quinn-proto). It carries bytes, fsyncs and keeps time; every consensus and
//! ledger decision is `itc-chain`'s.
//!
//! * [`config`] — `node.toml` (with `ITC_*` environment overrides), key files, genesis.
//! * [`init`] — `itc-node init --localnet N`: keys, genesis, one config per node.
//! * [`store`] — [`store::RedbStore`]: every `itc_chain` store trait over one redb file; one
//!   write transaction with immediate durability per step.
//! * [`wire`] — node-to-node frames (hello with a [`wire::PeerBinding`], block fetch,
//!   consensus and transaction bytes), bounded by [`wire::MAX_FRAME`].
//! * [`net`] — libp2p (TCP + Noise + Yamux, request-response over [`wire`] frames).
//! * [`node`] — `itc-node run`: the event loop around one `itc_chain::Validator`.
//! * [`api`] — the HTTP API (`POST /v1/tx`, `GET /v1/status`, `GET /v1/account/{address}`).
//! * [`client`] — a tiny blocking client of that API (`status`, `submit-transfers`, tests).
//! * [`metrics`] — Prometheus metrics on the metrics port.
#![forbid(unsafe_code)]

pub mod api;
pub mod client;
pub mod config;
pub mod init;
pub mod metrics;
pub mod net;
pub mod node;
pub mod store;
pub mod wire;
