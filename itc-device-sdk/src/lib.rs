//! # itc-device-sdk
//!
//! Glue for microcontroller firmware: device identity, offline verification of owner commands against SPV-verified state proofs, DAG telemetry transactions, and streaming verification of signed firmware updates.
#![no_std]
#![forbid(unsafe_code)]
