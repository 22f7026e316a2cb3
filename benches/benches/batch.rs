//! Issue 12: signature verification at the speed limit, side by side with libsecp256k1.
//!
//! * `verify/*` — cost per signature (criterion's throughput is in signatures, so the
//!   "thrpt" column reads directly as signatures per second): k256 single verification,
//!   the itc batch equation at 4, 16, 64 and 256 signatures, libsecp256k1 single verification.
//! * `certificate/*` — a whole commit certificate (n validators signing one digest) with each
//!   method, including libsecp256k1 driven through itc's `Backend::Libsecp256k1` (the issue's
//!   "no overhead on top" check is `certificate/libsecp_raw/67` vs `certificate/libsecp_backend/67`).
//!
//! Figures and ratios: `benches/README.md`.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use itc_crypto::batch::{self, Backend, BatchItem};
use itc_crypto::{keccak256, Signer};

fn items(n: usize, same_digest: bool) -> Vec<BatchItem> {
    itc_benches::keys(n)
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let digest = if same_digest {
                keccak256(b"itc/bench/commit")
            } else {
                keccak256(&(i as u64).to_be_bytes())
            };
            BatchItem::new(k.public_key(), digest, k.sign_digest(&digest).unwrap())
        })
        .collect()
}

/// libsecp256k1's own inputs, parsed once outside the timed loop (its best case).
fn libsecp_inputs(
    items: &[BatchItem],
) -> Vec<(
    secp256k1::XOnlyPublicKey,
    secp256k1::Message,
    secp256k1::schnorr::Signature,
)> {
    items
        .iter()
        .map(|it| {
            (
                secp256k1::XOnlyPublicKey::from_slice(it.public_key.as_bytes()).unwrap(),
                secp256k1::Message::from_digest(it.digest.0),
                secp256k1::schnorr::Signature::from_slice(it.signature.as_bytes()).unwrap(),
            )
        })
        .collect()
}

fn per_signature(c: &mut Criterion) {
    let mut g = c.benchmark_group("verify");
    let one = items(1, false);
    let item = &one[0];
    g.throughput(Throughput::Elements(1));
    g.bench_function("k256_single", |b| {
        b.iter(|| {
            black_box(&item.public_key)
                .verify_digest(black_box(&item.digest), black_box(&item.signature))
                .unwrap()
        })
    });
    let secp = secp256k1::Secp256k1::verification_only();
    let raw = libsecp_inputs(&one);
    g.bench_function("libsecp_single", |b| {
        b.iter(|| {
            let (pk, msg, sig) = black_box(&raw[0]);
            secp.verify_schnorr(sig, msg, pk).unwrap()
        })
    });
    for n in [4usize, 16, 64, 256] {
        let batch_items = items(n, false);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("itc_batch", n), &batch_items, |b, it| {
            b.iter(|| batch::verify_all(black_box(&it[..])).unwrap())
        });
    }
    g.finish();
}

fn certificates(c: &mut Criterion) {
    let mut g = c.benchmark_group("certificate");
    let secp = secp256k1::Secp256k1::verification_only();
    for n in [4usize, 16, 64, 67, 100] {
        let cert = items(n, true);
        let raw = libsecp_inputs(&cert);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("k256_single", n), &cert, |b, it| {
            b.iter(|| batch::verify_all_with(Backend::Single, black_box(&it[..])).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("itc_batch", n), &cert, |b, it| {
            b.iter(|| batch::verify_all_with(Backend::Batch, black_box(&it[..])).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("libsecp_raw", n), &raw, |b, r| {
            b.iter(|| {
                for (pk, msg, sig) in black_box(r) {
                    secp.verify_schnorr(sig, msg, pk).unwrap();
                }
            })
        });
        g.bench_with_input(BenchmarkId::new("libsecp_backend", n), &cert, |b, it| {
            b.iter(|| batch::verify_all_with(Backend::Libsecp256k1, black_box(&it[..])).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, per_signature, certificates);
criterion_main!(benches);
