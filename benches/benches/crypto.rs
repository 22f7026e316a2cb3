//! itc-crypto hot paths: hashing, Schnorr sign/verify, ECDSA verify, Merkle root and proofs.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use itc_crypto::ecdsa::{EcdsaPublicKey, RecoverableSignature};
use itc_crypto::merkle::{leaf_hash, MerkleTree};
use itc_crypto::{keccak256, merkle_root, DomainTag, Signer};

const TAG: DomainTag = DomainTag::new(b"itc/bench/v1");

fn hashing(c: &mut Criterion) {
    let mut g = c.benchmark_group("keccak256");
    for size in [64usize, 1024] {
        let data = vec![0xabu8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::from_parameter(size), &data, |b, d| {
            b.iter(|| keccak256(black_box(d)))
        });
    }
    g.finish();
}

fn signatures(c: &mut Criterion) {
    let key = &itc_benches::keys(1)[0];
    let pk = key.public_key();
    let msg = [7u8; 100];
    let sig = key.sign(TAG, &msg).unwrap();
    c.bench_function("schnorr/sign", |b| {
        b.iter(|| key.sign(TAG, black_box(&msg)))
    });
    c.bench_function("schnorr/verify", |b| {
        b.iter(|| pk.verify(TAG, black_box(&msg), black_box(&sig)))
    });
    let digest = keccak256(&msg);
    let esig = RecoverableSignature::sign_prehash(key, &digest).unwrap();
    let epk = EcdsaPublicKey::from_secret(key);
    c.bench_function("ecdsa/verify", |b| {
        b.iter(|| epk.verify(black_box(&digest), black_box(&esig)))
    });
    c.bench_function("ecdsa/recover", |b| {
        b.iter(|| esig.recover(black_box(&digest)))
    });
}

fn merkle(c: &mut Criterion) {
    let leaves: Vec<[u8; 32]> = (0..1024u32)
        .map(|i| keccak256(&i.to_be_bytes()).0)
        .collect();
    c.bench_function("merkle/root_1024", |b| {
        b.iter(|| merkle_root(black_box(&leaves)))
    });
    // Depth 20: a tree of 2^20 leaves, built once from hashes.
    let hashes = (0..(1u32 << 20))
        .map(|i| leaf_hash(&i.to_be_bytes()))
        .collect::<Vec<_>>();
    let tree = MerkleTree::from_leaf_hashes(hashes.clone());
    let proof = tree.prove(123_456).unwrap();
    assert_eq!(proof.path.len(), 20);
    let root = tree.root();
    c.bench_function("merkle/verify_depth_20", |b| {
        b.iter(|| proof.verify(black_box(&root), black_box(&hashes[123_456])))
    });
}

criterion_group!(benches, hashing, signatures, merkle);
criterion_main!(benches);
