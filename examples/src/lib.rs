//! # itc-examples
//!
//! Runnable programs over the whole workspace. The main job, `smart_light`, tells the seed's
//! story end to end; four short programs show one crate each (`pbft_cluster`, `tangle_load`,
//! `spv_sync`, `chaincode_query`).
//!
//! | module | job |
//! |---|---|
//! | [`story`] | the smart-light story, phase by phase, with its expectations |
//! | [`chain`] | PBFT validators executing ledger batches over the network; the full node |
//! | [`lamp`] | the lamp (light client + command gate) and the phone that commands it |
//! | [`spv`] | a light client against a full node, with byte and time counters |
//! | [`demos`] | the four one-crate programs |
//! | [`net`] | deterministic simulated network: latency, jitter, loss |
//! | [`report`] | narrative, expectations, figures, JSON report |
//! | [`args`] | command-line options |
//! | [`json`] | a minimal JSON writer |
//! | [`error`] | [`error::StoryError`]: why a run stopped |
//! | [`vectors`] | the conformance vectors of `docs/spec/vectors/`, built through the public API |

pub mod args;
pub mod chain;
pub mod demos;
pub mod error;
pub mod json;
pub mod lamp;
pub mod net;
pub mod report;
pub mod spv;
pub mod story;
pub mod vectors;
