//! # itc-dag
//!
//! The tangle side chain: transactions that approve earlier tips and carry per-device proof-of-work, confirmed by cumulative weight and finally by main-chain anchors; tip selection, conflict resolution and bounded storage, as a sans-I/O state machine.
#![no_std]
#![forbid(unsafe_code)]
