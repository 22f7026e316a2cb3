//! Full-node memory: a measurement, not a timed test (`cargo bench -p itc-benches --bench
//! full_node_memory`; with `-- --test`, as CI runs benches, a 40-block smoke run). A counting
//! global allocator reports the live heap of an `itc_chain::FullNode` following a certified
//! chain of `ITC_MEMORY_BLOCKS` blocks (default 10,000) over a 10,000-account ledger, 20
//! transfers per block, for several retention settings. Figures and their reading are in
//! `benches/README.md`.
//!
//! The chain is generated first into a temporary file and the generator dropped, so the live
//! heap during the measurement is the full node's own (plus one block being decoded). The
//! store's writes are dropped after each step: they are what moves *out* of RAM (a disk store
//! in `itc-node`), which is the point of measuring the node alone.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufReader, BufWriter, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

use itc_chain::testkit::TestChain;
use itc_chain::{FullNode, FullNodeConfig};
use itc_crypto::{Address, Decode, Encode, SecretKey};
use itc_ledger::{Ledger, SnapshotLimits};
use itc_pbft::CertifiedBlock;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// Counts live heap bytes (and the peak) on top of the system allocator.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to `System` unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            let now = LIVE.fetch_add(new_size, Ordering::Relaxed) + new_size;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const ACCOUNTS: usize = 10_000;
const TRANSFERS_PER_BLOCK: usize = 20;
const INTERVAL: u64 = 64;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn account_key(i: usize) -> SecretKey {
    let mut b = [0x5au8; 32];
    b[24..].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    SecretKey::from_bytes(&b).expect("valid key")
}

/// Writes `blocks` certified blocks to `path` (u32 length ‖ encoding each); returns the chain's
/// genesis so the node can start from it.
fn generate(path: &std::path::Path, blocks: u64) -> (itc_ledger::GenesisState, u64) {
    let keys: Vec<SecretKey> = (0..ACCOUNTS).map(account_key).collect();
    let addrs: Vec<Address> = keys
        .iter()
        .map(|k| Address::from_public_key(&k.public_key()))
        .collect();
    let balances: Vec<(Address, u64)> = addrs.iter().map(|a| (*a, 1_000_000)).collect();
    let mut chain = TestChain::new(4, INTERVAL, &balances);
    let mut nonces = vec![0u64; ACCOUNTS];
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(17);
    let mut out = BufWriter::new(std::fs::File::create(path).expect("temp file"));
    for _ in 0..blocks {
        let txs: Vec<Vec<u8>> = (0..TRANSFERS_PER_BLOCK)
            .map(|_| {
                let from = rng.next_u32() as usize % ACCOUNTS;
                let to = rng.next_u32() as usize % ACCOUNTS;
                let n = nonces[from];
                nonces[from] += 1;
                chain
                    .builder()
                    .transfer(&keys[from], n, addrs[to], 1)
                    .expect("sign")
                    .encode_to_vec()
            })
            .collect();
        let bytes = chain.next_block(txs).encode_to_vec();
        out.write_all(&(bytes.len() as u32).to_be_bytes())
            .expect("write");
        out.write_all(&bytes).expect("write");
    }
    out.flush().expect("flush");
    (chain.genesis_state().clone(), chain.genesis_time_ms())
}

/// Follows the chain in `path` with retention `retain`; returns (height, live bytes) samples.
fn follow(
    path: &std::path::Path,
    genesis: &itc_ledger::GenesisState,
    genesis_ms: u64,
    retain: usize,
    samples: &[u64],
) -> Vec<(u64, usize)> {
    let base = live();
    let mut config = FullNodeConfig::new(INTERVAL);
    config.retained_versions = retain;
    config.retained_blocks = retain;
    let (mut node, _) = FullNode::new(config, genesis, genesis_ms).expect("genesis");
    let mut input = BufReader::new(std::fs::File::open(path).expect("open"));
    let mut out = vec![(0, live().saturating_sub(base))];
    let mut len = [0u8; 4];
    let mut buf = Vec::new();
    while input.read_exact(&mut len).is_ok() {
        buf.resize(u32::from_be_bytes(len) as usize, 0);
        input.read_exact(&mut buf).expect("read");
        let block = CertifiedBlock::decode_bytes(&buf).expect("decode");
        let accepted = node.handle_block(block).expect("the chain verifies");
        let height = accepted.height;
        drop(accepted); // the writes go to disk in a real node
        if samples.contains(&height) {
            out.push((height, live().saturating_sub(base)));
        }
    }
    drop(node);
    out
}

fn main() {
    // `cargo bench -- --test` (CI) runs a smoke version; `cargo bench` the full measurement.
    let smoke = std::env::args().any(|a| a == "--test");
    let blocks: u64 = std::env::var("ITC_MEMORY_BLOCKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 40 } else { 10_000 });
    let path =
        std::env::temp_dir().join(format!("itc-full-node-memory-{}.bin", std::process::id()));
    eprintln!(
        "generating {blocks} blocks of {TRANSFERS_PER_BLOCK} transfers over {ACCOUNTS} accounts…"
    );
    let (genesis, genesis_ms) = generate(&path, blocks);

    // The peer: what a full copy of the ledger state costs (what retaining a version cost
    // before versions shared structure).
    let ledger = Ledger::from_genesis(&genesis).expect("genesis");
    let before = live();
    let copy =
        Ledger::restore(&ledger.encode_snapshot(), &SnapshotLimits::default()).expect("restore");
    let full_copy = live() - before;
    drop(copy);
    let shared_before = live();
    let shared = ledger.version();
    let shared_cost = live() - shared_before;
    drop(shared);
    drop(ledger);

    let samples: Vec<u64> = [1_000, 2_500, 5_000, 7_500, 10_000]
        .into_iter()
        .filter(|h| *h <= blocks)
        .chain(std::iter::once(blocks))
        .collect::<std::collections::BTreeSet<u64>>()
        .into_iter()
        .collect();
    println!("full-node live heap (MiB), {ACCOUNTS} accounts, {TRANSFERS_PER_BLOCK} transfers/block, R = retained versions = retained blocks");
    print!("{:>6}", "R");
    for h in std::iter::once(0).chain(samples.iter().copied()) {
        print!(" {:>9}", format!("h={h}"));
    }
    println!();
    let mut per_r = vec![];
    let retentions: &[usize] = if smoke { &[1, 8] } else { &[1, 16, 64, 256] };
    for &retain in retentions {
        let s = follow(&path, &genesis, genesis_ms, retain, &samples);
        print!("{retain:>6}");
        for (_, bytes) in &s {
            print!(" {:>9.2}", mib(*bytes));
        }
        println!();
        per_r.push((retain, s.last().map_or(0, |x| x.1)));
    }
    println!();
    println!("one full copy of the ledger state: {:.2} MiB; one shared version (O(1) clone): {shared_cost} bytes", mib(full_copy));
    if let (Some((r1, m1)), Some((r256, m256))) = (per_r.first(), per_r.last()) {
        let per_version = (*m256 as f64 - *m1 as f64) / (*r256 - *r1) as f64;
        println!(
            "marginal cost of a retained height (version + block): {:.1} KiB = 1/{:.0} of a full copy",
            per_version / 1024.0,
            full_copy as f64 / per_version.max(1.0)
        );
    }
    println!(
        "peak live heap of the whole run: {:.2} MiB",
        mib(PEAK.load(Ordering::Relaxed))
    );
    let _ = std::fs::remove_file(&path);
}
