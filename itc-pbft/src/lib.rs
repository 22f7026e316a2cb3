//! # itc-pbft
//!
//! Practical Byzantine Fault Tolerance for the IoT Chain main chain, as a sans-I/O state machine: pre-prepare, prepare, commit, checkpoints and view change over a weighted validator set, emitting blocks with commit certificates that light clients verify.
#![no_std]
#![forbid(unsafe_code)]
