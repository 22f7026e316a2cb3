//! Commits `N` batches of `B` requests on a 4-validator in-memory cluster and prints the
//! signature operations and messages per batch. Used to count instructions per committed
//! batch (`perf stat -e instructions:u`, run once with `N` and once with `N = 0`):
//!
//! ```sh
//! cargo run --release -p itc-pbft --example commit_cost -- 2000 1
//! RUSTFLAGS="--cfg itc_pbft_insecure_no_sig" cargo run --release -p itc-pbft --example commit_cost -- 2000 1
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use itc_pbft::cluster::Cluster;
use itc_pbft::{ClientId, Config, Request};

fn main() {
    let mut args = std::env::args().skip(1);
    let batches: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let size: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let config = Config {
        batch_delay_ms: 1_000,
        max_batch_requests: size,
        max_pending_requests: 1_000_000,
        max_batch_bytes: 4 * 1024 * 1024,
        ..Config::default()
    };
    let mut c = Cluster::with_powers(&[1, 1, 1, 1], config).unwrap();
    c.count_bytes = false;
    c.retain_blocks = 4;
    let mut id = 0u64;
    for _ in 0..batches {
        let primary = c.primary().unwrap();
        for _ in 0..size {
            id += 1;
            c.submit_to(
                primary,
                Request::new(ClientId(id % 64), id, vec![0xab; 100]),
            );
        }
        c.run_until_idle();
    }
    let (signed, verified) = c.nodes().iter().fold((0, 0), |a, n| {
        let s = n.replica.sig_stats();
        (a.0 + s.signed, a.1 + s.verified)
    });
    let per = batches.max(1) as f64;
    println!(
        "{batches} batches of {size}: height {:?}, {:.2} signatures, {:.2} verifications, {:.2} messages per batch (signature checks {})",
        c.committed_heights(),
        signed as f64 / per,
        verified as f64 / per,
        c.traffic().messages as f64 / per,
        if itc_pbft::sig::SIGNATURE_CHECKS_ENABLED { "on" } else { "OFF" }
    );
}
