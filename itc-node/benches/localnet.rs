//! Four validator processes on 127.0.0.1 (real signatures, redb with fsync per step, libp2p
//! over loopback), measured, beside the in-memory `itc-chain` validators of the story's chain
//! in the same run (the peer of the ratio).
//!
//! `cargo bench -p itc-node --bench localnet` (release build of `itc-node`; ~1 min):
//!
//! * **throughput** — 20,000 transfers signed beforehand, posted in batches of 500 to node 0
//!   (which gossips them to the others): committed transfers per second from the first post to
//!   the last commit on all four;
//! * **latency at a fixed rate** — 1,000 transfers/s for 5 s (10 every 10 ms): per transfer,
//!   post → executed on node 0 (its faucet nonce passes it, polled every 2 ms), p50 / p99;
//! * **peer** — the same 20,000 transfers through the four in-memory `itc_chain::Validator`s of
//!   `itc_examples::chain::Chain` (zero-latency simulated links, 200 clients with one request in
//!   flight each): committed transfers per second of wall clock.
//!
//! `cargo bench -p itc-node --bench localnet -- --test` (CI's smoke): 500 transfers, 1 s of
//! the fixed rate, no figures claimed. `BENCH_BATCH_DELAY_MS=N` sets the nodes'
//! `batch_delay_ms` (default: PBFT's); `BENCH_POST_ALL=1` posts every batch to every node (the
//! client of the one-hop design before gossip), for comparison.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Cluster, N};
use itc_crypto::{Address, Encode, SecretKey};
use itc_ledger::builder::TxBuilder;
use itc_node::client;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p / 100.0).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn sign_transfers(chain_id: u32, faucet: &SecretKey, first: u64, count: u64) -> Vec<Vec<u8>> {
    let b = TxBuilder::new(chain_id);
    (first..first + count)
        .map(|n| {
            b.transfer(faucet, n, client::recipient(n), 1)
                .unwrap()
                .encode_to_vec()
        })
        .collect()
}

/// Posts to one node: it gossips what it accepts to the others (one sender's nonces stay in
/// order because one node relays them all). With `BENCH_POST_ALL=1`, to every node (the
/// others' copies are refused as duplicates when gossip was first): the gossip hop's share of
/// the latency.
fn post(apis: &[SocketAddr], txs: &[Vec<u8>]) {
    let all = std::env::var_os("BENCH_POST_ALL").is_some();
    for api in if all { apis } else { &apis[..1] } {
        let _ = client::submit_batch(*api, txs);
    }
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--test");
    let (count, rate_secs) = if smoke { (500u64, 1u64) } else { (20_000, 5) };

    let mut c = Cluster::init();
    let batch_delay_ms: Option<u64> = std::env::var("BENCH_BATCH_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok());
    if let Some(ms) = batch_delay_ms {
        c.edit_configs(|config| config.batch_delay_ms = ms);
    }
    c.start_all();
    let all: Vec<usize> = (0..N).collect();
    let apis: Vec<SocketAddr> = c.apis.clone();

    // Throughput.
    let t = Instant::now();
    let txs = sign_transfers(c.chain_id, &c.faucet, 0, count);
    let sign_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for chunk in txs.chunks(500) {
        post(&apis, chunk);
    }
    let post_s = t.elapsed().as_secs_f64();
    c.wait(
        "throughput run committed on 4 nodes",
        Duration::from_secs(600),
        |c| c.converged(&all, count),
    );
    let secs = t.elapsed().as_secs_f64();
    let height = c.status(0).map_or(0, |s| s.height);
    let tps = count as f64 / secs;

    // Latency at 1,000 transfers/s.
    let per_tick = 10u64;
    let ticks = rate_secs * 100;
    let first = count;
    let paced = sign_transfers(c.chain_id, &c.faucet, first, per_tick * ticks);
    let faucet = Address::from_public_key(&c.faucet.public_key());
    let mut sent_at: Vec<Instant> = Vec::with_capacity(paced.len());
    let mut done_at: Vec<Option<Instant>> = vec![None; paced.len()];
    let start = Instant::now();
    let mut next_tick = 0u64;
    let deadline = start + Duration::from_secs(rate_secs + 60);
    let mut committed = 0usize;
    while committed < paced.len() && Instant::now() < deadline {
        let now = Instant::now();
        if next_tick < ticks && now >= start + Duration::from_millis(10 * next_tick) {
            let lo = (next_tick * per_tick) as usize;
            let hi = lo + per_tick as usize;
            post(&apis, &paced[lo..hi]);
            let at = Instant::now();
            sent_at.extend(std::iter::repeat_n(at, per_tick as usize));
            next_tick += 1;
            continue;
        }
        if let Ok(a) = client::account(apis[0], &faucet) {
            let upto = (a.nonce.saturating_sub(first) as usize).min(sent_at.len());
            let at = Instant::now();
            for slot in done_at.iter_mut().take(upto).skip(committed) {
                *slot = Some(at);
            }
            committed = committed.max(upto);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut lat: Vec<f64> = sent_at
        .iter()
        .zip(&done_at)
        .filter_map(|(s, d)| d.map(|d| d.duration_since(*s).as_secs_f64() * 1e3))
        .collect();
    lat.sort_by(f64::total_cmp);
    let final_status = c.status(0);
    drop(c);

    // Peer: the in-memory validators of the story's chain.
    let peer_tps = in_memory(count);

    println!(
        "itc-node localnet bench ({} transfers{})",
        count,
        if smoke { ", smoke" } else { "" }
    );
    println!("  signing {count} transfers (client, 1 core): {sign_s:.2} s");
    if std::env::var_os("BENCH_POST_ALL").is_some() {
        println!("  posting them to every node: {post_s:.2} s");
    } else {
        println!("  posting them to node 0 (it gossips them): {post_s:.2} s");
    }
    println!(
        "  batch_delay_ms: {}",
        batch_delay_ms.map_or_else(|| "default".to_owned(), |ms| ms.to_string())
    );
    println!(
        "  4 processes: {tps:.0} committed transfers/s ({count} in {secs:.2} s, {height} blocks)"
    );
    println!(
        "  at 1,000 transfers/s for {rate_secs} s: commit latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} of {} measured)",
        percentile(&lat, 50.0),
        percentile(&lat, 99.0),
        percentile(&lat, 100.0),
        lat.len(),
        paced.len()
    );
    println!("  in-memory itc-chain validators (peer, same run): {peer_tps:.0} committed transfers/s; processes / in-memory = {:.2}", tps / peer_tps);
    println!("  final node0 status: {final_status:?}");
    if !smoke {
        assert_eq!(lat.len(), paced.len(), "every paced transfer committed");
    }
}

/// Committed transfers per second of wall clock through `itc_examples::chain::Chain`: four
/// `itc_chain::Validator`s over zero-latency simulated links, 200 clients each with one request
/// in flight.
fn in_memory(count: u64) -> f64 {
    use itc_examples::chain::{Chain, ChainConfig};
    use itc_examples::net::NetConfig;
    let clients = 200u64;
    let keys: Vec<SecretKey> = (0..clients)
        .map(|i| {
            let mut b = [0x42u8; 32];
            b[..8].copy_from_slice(&(i + 1).to_be_bytes());
            SecretKey::from_bytes(&b).unwrap()
        })
        .collect();
    let mut config = ChainConfig::new(3);
    config.net = NetConfig {
        latency_ms: 0,
        jitter_ms: 0,
        loss_permille: 0,
    };
    let balances = keys
        .iter()
        .map(|k| (Address::from_public_key(&k.public_key()), 1_000_000))
        .collect();
    let mut chain = Chain::new(config, balances).unwrap();
    let builder = chain.builder();
    let per = count.div_ceil(clients);
    let mut signed = Vec::with_capacity(count as usize);
    for nonce in 0..per {
        for (i, k) in keys.iter().enumerate() {
            let tx = builder
                .transfer(k, nonce, client::recipient(nonce), 1)
                .unwrap();
            signed.push((i as u64 + 1, tx));
        }
    }
    // Signed beforehand, as in the process run: the clock covers ordering and execution.
    let mut tickets = Vec::with_capacity(signed.len());
    let t = Instant::now();
    for (client, tx) in &signed {
        tickets.push(chain.submit(*client, tx));
    }
    let outcomes = chain.wait(&tickets, 3_600_000).unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert!(outcomes.iter().all(|o| o.result.is_ok()));
    outcomes.len() as f64 / secs
}
