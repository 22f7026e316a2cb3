//! Real processes: an idle localnet still certifies a block about every
//! `idle_block_interval_ms` (1 s by default), so the last state change is provable within one
//! interval and a primary that stops producing blocks is noticed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::{Cluster, N};

#[test]
fn an_idle_localnet_keeps_certifying_empty_blocks() {
    let mut c = Cluster::init();
    c.start_all();
    let start = c.status(0).unwrap().height;
    // No transaction at all: 4 more blocks within 15 s (one a second expected).
    c.wait(
        "4 idle blocks on every node",
        Duration::from_secs(15),
        |c| (0..N).all(|i| c.status(i).is_some_and(|s| s.height >= start + 4)),
    );
    // And a transfer submitted now is executed and sealed by the next (idle) header.
    c.submit(&(0..N).collect::<Vec<_>>(), 1);
    c.wait(
        "the transfer executed on every node",
        Duration::from_secs(15),
        |c| (0..N).all(|i| c.faucet_nonce(i) == Some(1)),
    );
    let h = c.status(0).unwrap().height;
    c.wait("a header above it", Duration::from_secs(5), |c| {
        c.status(0).is_some_and(|s| s.height > h)
    });
    for i in 0..N {
        assert_eq!(c.status(i).unwrap().evidence, 0);
    }
}
