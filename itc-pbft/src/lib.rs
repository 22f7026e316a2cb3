//! # itc-pbft
//!
//! Practical Byzantine Fault Tolerance (Castro & Liskov, OSDI 1999) for the IoT Chain main
//! chain, as a sans-I/O state machine over a weighted validator set.
//!
//! Allocation-free (build with `--no-default-features`, used by light clients and devices):
//!
//! * [`header`] — [`BlockHeader`]: fixed-size block header, the validator-set hand-over rule
//!   and the state-root lag (header `h` carries the root after executing blocks `≤ h − 1`).
//! * [`certificate`] — [`CommitCertificate`]: a quorum's commit signatures over a header,
//!   verifiable by anyone holding the validator set.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod certificate;
pub mod header;

pub use certificate::{CertificateError, CommitCertificate, CompactCommitCertificate};
pub use header::{BlockHeader, ChainError};
