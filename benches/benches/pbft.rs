//! itc-pbft: committed requests per second on one core (n = 4, in-memory network, real
//! signatures, batches of 100 and 1,000 requests), CPU time per committed batch split into
//! signature work, batch hashing and the protocol's own bookkeeping, cost per batch as n
//! grows, and messages/bytes/latency per batch.
//!
//! Everything runs on the bench thread: on an idle machine wall time is CPU time.
//!
//! The "no signatures" figures come from the same bench built with
//! `RUSTFLAGS="--cfg itc_pbft_insecure_no_sig"` (see `itc_pbft::sig`): the ids then end in
//! `/nosig` instead of `/sig`.

use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use itc_crypto::{Hash, Signer};
use itc_pbft::cluster::{test_key, Application, Cluster};
use itc_pbft::sig::SIGNATURE_CHECKS_ENABLED;
use itc_pbft::{Batch, CertifiedBlock, ClientId, Config, Executed, Request, VoteCheck};

const PAYLOAD: usize = 100;

/// Runs `f` `iters` times and returns the time it took. Everything runs on this one thread,
/// so on an idle machine this is the CPU time; on a shared one, other jobs' time slices and
/// SMT contention inflate it (the README gives the load and `perf stat` task-clock figures).
fn cpu_time(iters: u64, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed()
}

fn mode() -> &'static str {
    if SIGNATURE_CHECKS_ENABLED {
        "sig"
    } else {
        "nosig"
    }
}

fn config(batch: usize) -> Config {
    Config {
        // The primary proposes as soon as a batch is full (the delay only matters for a
        // partial batch, which these benches never leave).
        batch_delay_ms: 1_000,
        max_batch_requests: batch,
        max_batch_bytes: 4 * 1024 * 1024,
        max_pending_requests: 1_000_000,
        ..Config::default()
    }
}

/// An application that executes nothing: these benches measure the replicas, not the ledger.
struct NullApp;

impl Application for NullApp {
    fn execute(&mut self, block: &CertifiedBlock) -> Executed {
        Executed::new(block.header.height, Hash::ZERO)
    }
}

fn cluster(n: usize, batch: usize) -> Cluster<NullApp> {
    cluster_with(n, config(batch))
}

fn cluster_with(n: usize, config: Config) -> Cluster<NullApp> {
    let keys = (0..n).map(|i| test_key(i).expect("key")).collect();
    let apps = (0..n).map(|_| NullApp).collect();
    let mut c = Cluster::new(keys, &vec![1; n], config, apps).expect("cluster");
    c.count_bytes = false;
    c.retain_blocks = 4;
    c
}

fn requests(next_id: &mut u64, count: usize) -> Vec<Request> {
    (0..count)
        .map(|_| {
            *next_id += 1;
            Request::new(ClientId(*next_id % 64), *next_id, vec![0xab; PAYLOAD])
        })
        .collect()
}

/// Commits one batch of `batch` requests (sent to the primary, as a PBFT client does).
fn commit_one_batch(c: &mut Cluster<NullApp>, next_id: &mut u64, batch: usize) {
    let primary = c.primary().expect("primary");
    let before = c.committed_heights()[0];
    for r in requests(next_id, batch) {
        c.submit_to(primary, r);
    }
    c.run_until_idle();
    debug_assert!(c.committed_heights().iter().all(|h| *h == before + 1));
}

fn throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("pbft/commit_batch/n4");
    g.sample_size(10);
    for batch in [1usize, 100, 1000] {
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(BenchmarkId::new(format!("b{batch}"), mode()), |b| {
            b.iter_custom(|iters| {
                let mut cl = cluster(4, batch);
                let mut id = 0u64;
                cpu_time(iters, || commit_one_batch(&mut cl, &mut id, batch))
            })
        });
    }
    g.finish();
}

fn scaling(c: &mut Criterion) {
    let mut g = c.benchmark_group("pbft/commit_batch/b1");
    g.sample_size(10);
    for n in [4usize, 16, 64] {
        g.bench_function(BenchmarkId::new(format!("n{n}"), mode()), |b| {
            b.iter_custom(|iters| {
                let mut cl = cluster(n, 1);
                let mut id = 0u64;
                cpu_time(iters, || commit_one_batch(&mut cl, &mut id, 1))
            })
        });
    }
    g.finish();
}

/// Committed requests per second before and after batch verification of votes (issue 12):
/// `on_arrival` checks each prepare and commit signature as it arrives, `at_quorum` holds them
/// until they could complete the quorum and batch-verifies them together
/// ([`VoteCheck`](itc_pbft::VoteCheck)). Batches of 100 requests; the whole cluster runs on
/// this thread, so the figure is the throughput of n replicas sharing one core (per replica,
/// multiply by n).
fn vote_check(c: &mut Criterion) {
    let mut g = c.benchmark_group("pbft/vote_check/b100");
    g.sample_size(10);
    let batch = 100usize;
    g.throughput(Throughput::Elements(batch as u64));
    for n in [4usize, 16] {
        for (name, check) in [
            ("on_arrival", VoteCheck::OnArrival),
            ("at_quorum", VoteCheck::AtQuorum),
        ] {
            g.bench_function(BenchmarkId::new(format!("n{n}"), name), |b| {
                b.iter_custom(|iters| {
                    let mut cl = cluster_with(
                        n,
                        Config {
                            vote_check: check,
                            ..config(batch)
                        },
                    );
                    let mut id = 0u64;
                    cpu_time(iters, || commit_one_batch(&mut cl, &mut id, batch))
                })
            });
        }
    }
    g.finish();
}

/// The signature work one committed batch at n = 4 must do (the exact sign/verify counts the
/// replicas performed), and the batch hashing (each replica computes the batch root once).
fn split(c: &mut Criterion) {
    let mut g = c.benchmark_group("pbft/split/n4");
    g.sample_size(10);
    for batch in [100usize, 1000] {
        if !wanted(&format!("pbft/split/n4/signature_work/b{batch}"))
            && !wanted(&format!("pbft/split/n4/batch_hashing/b{batch}"))
        {
            continue;
        }
        // Count what one batch costs in signature operations, across the four replicas.
        let mut cl = cluster(4, batch);
        let mut id = 0u64;
        commit_one_batch(&mut cl, &mut id, batch);
        let before: (u64, u64) = totals(&cl);
        let rounds = 16u64;
        for _ in 0..rounds {
            commit_one_batch(&mut cl, &mut id, batch);
        }
        let after = totals(&cl);
        let signs = (after.0 - before.0) as f64 / rounds as f64;
        let verifies = (after.1 - before.1) as f64 / rounds as f64;
        let t = cl.traffic();
        eprintln!(
            "pbft n=4 batch={batch}: per committed batch {signs:.2} signatures, {verifies:.2} verifications, \
             {:.2} messages",
            t.messages as f64 / (rounds + 1) as f64
        );
        let key = test_key(0).expect("key");
        let pk = key.public_key();
        let digest = Hash([7; 32]);
        let sig = key.sign_digest(&digest).expect("sign");
        let (s, v) = (signs.round() as usize, verifies.round() as usize);
        g.bench_function(
            BenchmarkId::new(format!("signature_work/b{batch}"), mode()),
            |b| {
                b.iter(|| {
                    for _ in 0..s {
                        black_box(key.sign_digest(black_box(&digest)).ok());
                    }
                    for _ in 0..v {
                        black_box(
                            pk.verify_digest(black_box(&digest), black_box(&sig))
                                .is_ok(),
                        );
                    }
                })
            },
        );
        let reqs = requests(&mut 0, batch);
        let b4 = Batch::new(reqs);
        g.bench_function(
            BenchmarkId::new(format!("batch_hashing/b{batch}"), mode()),
            |b| {
                b.iter(|| {
                    for _ in 0..4 {
                        black_box(black_box(&b4).root());
                    }
                })
            },
        );
    }
    g.finish();
}

/// Criterion's name filter, applied to the parts of this bench that only print (they would
/// otherwise run, and pollute a profile, whatever the filter).
fn wanted(name: &str) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-') && a.parse::<f64>().is_err())
        .collect();
    filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
}

fn totals(c: &Cluster<NullApp>) -> (u64, u64) {
    c.nodes().iter().fold((0, 0), |acc, n| {
        let s = n.replica.sig_stats();
        (acc.0 + s.signed, acc.1 + s.verified)
    })
}

/// Messages, bytes and latency (in message delays) per committed batch; printed, not timed.
fn traffic_and_latency(_: &mut Criterion) {
    if !wanted("pbft/traffic_and_latency") {
        return;
    }
    for batch in [1usize, 100, 1000] {
        let mut cl = cluster(4, batch);
        cl.count_bytes = true;
        let mut id = 0u64;
        let rounds = 32u64;
        for _ in 0..rounds {
            commit_one_batch(&mut cl, &mut id, batch);
        }
        let t = cl.traffic();
        eprintln!(
            "pbft n=4 batch={batch}: {:.2} messages and {:.0} bytes per committed batch \
             (pre-prepare {}, prepare {}, commit {}, checkpoint {} over {rounds} batches)",
            t.messages as f64 / rounds as f64,
            t.bytes as f64 / rounds as f64,
            t.pre_prepares,
            t.prepares,
            t.commits,
            t.checkpoints
        );
    }
    for n in [4usize, 16, 64] {
        let mut cl = cluster(n, 1);
        cl.latency_ms = 10;
        let primary = cl.primary().expect("primary");
        let t0 = cl.now();
        cl.submit_to(primary, Request::new(ClientId(1), 1, vec![1; PAYLOAD]));
        let cpu = Instant::now();
        cl.run_until_idle();
        let cpu = cpu.elapsed();
        let worst = cl
            .nodes()
            .iter()
            .filter_map(|node| node.commit_times.first().map(|(_, t)| t - t0))
            .max()
            .unwrap_or(0);
        eprintln!(
            "pbft n={n}: request committed at every replica {worst} ms after the primary got it \
             = {} one-way delays of 10 ms (CPU for the whole batch: {cpu:?})",
            worst / 10
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = throughput, scaling, vote_check, split, traffic_and_latency
}
criterion_main!(benches);
