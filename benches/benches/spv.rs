//! itc-spv hot paths: verifying a header with its commit certificate for n = 4, 16, 64, 100
//! validators (the light client's one-pass batched tally, beside itc-pbft's one-by-one
//! `CommitCertificate::verify` as the peer), a skipping check, inclusion proofs of depth 20
//! (target < 20 µs), an accumulator proof at a 10⁶-header chain, back-fill throughput, and the
//! RAM of the client state at K = 16 (target ≤ 16 KiB; printed, it is `size_of`).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{black_box, criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use itc_crypto::quorum::ValidatorSet;
use itc_crypto::Hash;
use itc_spv::messages::Request;
use itc_spv::mmr::{header_leaf, Mmr, MmrStore};
use itc_spv::proofs::request_leaf;
use itc_spv::server::BatchRequest;
use itc_spv::testkit::TestChain;
use itc_spv::{Config, LightClient, Response};

/// Capacity large enough for the 100-validator case.
type HostClient = LightClient<16, 128>;
/// The device configuration of the issue.
type DeviceClient = LightClient<16, 8>;

fn verify_header(c: &mut Criterion) {
    let mut g = c.benchmark_group("spv/verify_header");
    for n in [4usize, 16, 64, 100] {
        let mut chain = TestChain::new(n, 1_000_000);
        chain.extend(1);
        let header = *chain.server().store().header(1).unwrap();
        let cert = chain.certificate(1).unwrap();
        let set = chain.set_of_epoch(0);
        let now = chain.now_ms();
        let client = HostClient::new(chain.anchor(), Config::new(1_000_000), now).unwrap();
        g.bench_with_input(BenchmarkId::new("light_client", n), &n, |b, _| {
            b.iter_batched(
                || client.clone(),
                |mut cl| {
                    cl.verify_header(
                        black_box(&header),
                        black_box(&cert),
                        None::<&ValidatorSet>,
                        now,
                    )
                    .unwrap()
                },
                BatchSize::LargeInput,
            )
        });
        // The peer: the same certificate through itc-pbft's one-by-one verification.
        g.bench_with_input(BenchmarkId::new("pbft_verify_one_by_one", n), &n, |b, _| {
            b.iter(|| cert.verify(black_box(&header), black_box(&set)).unwrap())
        });
        // Skipping from genesis: the 1/3-trust and 2/3-quorum tests in one pass.
        chain.extend(9);
        let far = *chain.server().store().header(10).unwrap();
        let far_cert = chain.certificate(10).unwrap();
        let now = chain.now_ms();
        g.bench_with_input(BenchmarkId::new("skipping", n), &n, |b, _| {
            b.iter_batched(
                || client.clone(),
                |mut cl| {
                    cl.verify_skipping(
                        black_box(&far),
                        black_box(&far_cert),
                        &set,
                        None::<&ValidatorSet>,
                        now,
                    )
                    .unwrap()
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

fn proofs(c: &mut Criterion) {
    // A block whose batch has 2^20 requests: inclusion proofs of depth 20.
    let mut chain = TestChain::new(4, 1_000_000);
    let batch: Vec<BatchRequest> = (0..(1u64 << 20))
        .map(|i| BatchRequest {
            client: i,
            request_id: 1,
            payload: i.to_be_bytes().to_vec(),
        })
        .collect();
    let header = chain.push_block(batch, None).unwrap();
    let cert = chain.certificate(1).unwrap();
    let now = chain.now_ms();
    let mut client = DeviceClient::new(chain.anchor(), Config::new(1_000_000), now).unwrap();
    let verified = client
        .verify_header(&header, &cert, None::<&ValidatorSet<8>>, now)
        .unwrap();
    let leaf = request_leaf(123_456, 1, &123_456u64.to_be_bytes());
    let Response::<8>::TransactionProof { proof, .. } = chain
        .server()
        .answer(&Request::TransactionProof { height: 1, leaf })
    else {
        panic!("the server proves batch leaves")
    };
    assert_eq!(proof.path.len(), 20);
    c.bench_function("spv/inclusion_depth_20", |b| {
        b.iter(|| {
            verified
                .verify_transaction(black_box(&leaf), black_box(&proof))
                .unwrap()
        })
    });
    c.bench_function("spv/inclusion_depth_20_with_leaf_hash", |b| {
        b.iter(|| {
            verified
                .verify_request(
                    123_456,
                    1,
                    black_box(&123_456u64.to_be_bytes()),
                    black_box(&proof),
                )
                .unwrap()
        })
    });

    // The accumulator at a 10^6-header chain.
    let mut store = MmrStore::new();
    for h in 0..1_000_000u64 {
        store
            .append(header_leaf(h, &Hash([(h % 251) as u8; 32])))
            .unwrap();
    }
    let acc: Mmr = store.accumulator_at(1_000_000).unwrap();
    let mmr_proof = store.prove(5, 1_000_000).unwrap();
    let old_leaf = header_leaf(5, &Hash([5; 32]));
    c.bench_function(
        &format!("spv/mmr_proof_1e6_headers_depth_{}", mmr_proof.path.len()),
        |b| {
            b.iter(|| {
                acc.verify(black_box(&mmr_proof), black_box(&old_leaf))
                    .unwrap()
            })
        },
    );
    c.bench_function("spv/mmr_append", |b| {
        b.iter_batched(
            || acc.clone(),
            |mut m| m.append(black_box(old_leaf)).unwrap(),
            BatchSize::SmallInput,
        )
    });

    eprintln!(
        "spv: client state LightClient<16, 8> = {} bytes (bound 16 KiB = 16384); \
         LightClient<16, 128> = {} bytes; accumulator at 10^6 headers: {} peaks in use \
         (capacity 64)",
        DeviceClient::STATE_BYTES,
        HostClient::STATE_BYTES,
        acc.peaks().len()
    );
}

fn backfill(c: &mut Criterion) {
    // Skip 0 -> 1000, then back-fill 1..=999 in batches of 16 (what the driver does).
    let mut chain = TestChain::new(4, 1_000_000);
    chain.extend(1_000);
    let far = *chain.server().store().header(1_000).unwrap();
    let cert = chain.certificate(1_000).unwrap();
    let set = chain.set_of_epoch(0);
    let now = chain.now_ms();
    let mut client = DeviceClient::new(chain.anchor(), Config::new(1_000_000), now).unwrap();
    client
        .verify_skipping(&far, &cert, &set, None::<&ValidatorSet>, now)
        .unwrap();
    let batches: Vec<Response<8>> = (0..63)
        .map(|i| {
            chain.server().answer(&Request::Headers {
                from: 1 + 16 * i,
                count: 16,
            })
        })
        .collect();
    c.bench_function("spv/backfill_1000_headers", |b| {
        b.iter_batched(
            || client.clone(),
            |mut cl| {
                for r in &batches {
                    cl.handle_response(r, now).unwrap();
                }
                assert_eq!(cl.accumulated_height(), 1_001);
            },
            BatchSize::LargeInput,
        )
    });
}

criterion_group!(benches, verify_header, proofs, backfill);
criterion_main!(benches);
