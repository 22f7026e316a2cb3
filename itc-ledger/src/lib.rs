//! # itc-ledger
//!
//! The replicated application state the main chain commits: device ownership registry, access grants, ITC token balances and DAG anchors under one sparse-Merkle state root with compact inclusion and non-inclusion proofs.
#![no_std]
#![forbid(unsafe_code)]
