//! itc-ledger hot paths: executing 10,000 transfers or device registrations in one batch
//! (transactions per second on one core), and sparse-Merkle state proofs in a state of
//! 1,000,000 keys (proof bytes, generation and verification time; target: verify < 20 µs,
//! proof < 1 KiB).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use itc_crypto::quorum::{Validator, ValidatorSet};
use itc_crypto::{Address, Decode, Encode, Hash, SecretKey, Signer};
use itc_ledger::builder::TxBuilder;
use itc_ledger::smt::{branch_hash, key_hash, value_hash, SparseMerkleTree};
use itc_ledger::{GenesisState, Ledger, StateKey, VendorId, VendorRecord};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

const CHAIN: u32 = 1;
const BATCH: usize = 10_000;
const STATE_KEYS: u32 = 1_000_000;

fn genesis(balances: Vec<(Address, u64)>, vendor: &SecretKey) -> Ledger {
    let v = itc_benches::keys(1).remove(0);
    let set: ValidatorSet = ValidatorSet::new([Validator {
        key: v.public_key(),
        power: 1,
    }])
    .unwrap();
    Ledger::from_genesis(&GenesisState {
        chain_id: CHAIN,
        validators: set,
        balances,
        vendors: vec![(
            VendorId(1),
            VendorRecord {
                registry_key: vendor.public_key(),
                firmware_key: vendor.public_key(),
            },
        )],
    })
    .unwrap()
}

fn execute(c: &mut Criterion) {
    let b = TxBuilder::new(CHAIN);
    let senders = itc_benches::keys(BATCH);
    let vendor = SecretKey::from_bytes(&[0x77; 32]).unwrap();
    let addrs: Vec<Address> = senders
        .iter()
        .map(|k| Address::from_public_key(&k.public_key()))
        .collect();
    let ledger = genesis(addrs.iter().map(|a| (*a, 1_000_000)).collect(), &vendor);

    // 10,000 distinct senders each paying a pseudo-random other account.
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let transfers: Vec<Vec<u8>> = senders
        .iter()
        .map(|k| {
            let to = addrs[rng.next_u32() as usize % BATCH];
            b.transfer(k, 0, to, 1 + u64::from(rng.next_u32() % 1000))
                .unwrap()
                .encode_to_vec()
        })
        .collect();
    // 10,000 devices registered by one vendor (nonces 0..10,000).
    let registrations: Vec<Vec<u8>> = (0..BATCH as u64)
        .map(|n| {
            let mut seed = [0x55u8; 32];
            seed[24..].copy_from_slice(&(n + 1).to_be_bytes());
            let device_key = SecretKey::from_bytes(&seed).unwrap().public_key();
            b.register_device(&vendor, n, VendorId(1), device_key, 1, None)
                .unwrap()
                .encode_to_vec()
        })
        .collect();

    let mut g = c.benchmark_group("ledger");
    g.sample_size(10);
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("execute_10k_transfers", |bch| {
        bch.iter_batched(
            || ledger.clone(),
            |mut l| {
                let out = l.execute(&transfers, 1).unwrap();
                assert_eq!(out.applied(), BATCH);
                out.state_root
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("execute_10k_registrations", |bch| {
        bch.iter_batched(
            || ledger.clone(),
            |mut l| {
                let out = l.execute(&registrations, 1).unwrap();
                assert_eq!(out.applied(), BATCH);
                out.state_root
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn proofs(c: &mut Criterion) {
    // 1,000,000 keys shaped like account records.
    let tree = SparseMerkleTree::from_hashed((0..STATE_KEYS).map(|i| {
        let mut a = [0u8; 20];
        a[..4].copy_from_slice(&i.to_be_bytes());
        (
            StateKey::Account(Address(a)).key_hash(),
            value_hash(&u64::from(i).to_be_bytes()),
        )
    }));
    assert_eq!(tree.len(), STATE_KEYS as usize);
    let root = tree.root();
    let present = |i: u32| {
        let mut a = [0u8; 20];
        a[..4].copy_from_slice(&i.to_be_bytes());
        StateKey::Account(Address(a)).key_hash()
    };
    let absent = key_hash(b"nobody");

    // Proof sizes over a sample of keys, printed once so the README can quote them.
    let (mut total, mut max, mut depth_sum) = (0usize, 0usize, 0usize);
    let n = 10_000u32;
    for i in (0..STATE_KEYS).step_by((STATE_KEYS / n) as usize) {
        let p = tree.prove_hashed(&present(i)).unwrap();
        let len = p.encode_to_vec().len();
        total += len;
        max = max.max(len);
        depth_sum += p.depth();
    }
    eprintln!(
        "smt 1M keys: proof bytes mean {} max {}, mean depth {:.1}",
        total / n as usize,
        max,
        depth_sum as f64 / f64::from(n)
    );

    let k = present(424_242);
    let v = value_hash(&424_242u64.to_be_bytes());
    let p_in = tree.prove_hashed(&k).unwrap();
    let p_out = tree.prove_hashed(&absent).unwrap();
    assert!(p_in.verify_hashed(&root, &k, Some(&v)).is_ok());
    assert!(p_out.verify_hashed(&root, &absent, None).is_ok());
    let wire = p_in.encode_to_vec();

    let mut g = c.benchmark_group("smt_1m");
    g.bench_function("prove", |b| b.iter(|| tree.prove_hashed(black_box(&k))));
    g.bench_function("verify_inclusion", |b| {
        b.iter(|| p_in.verify_hashed(black_box(&root), &k, Some(&v)))
    });
    g.bench_function("verify_non_inclusion", |b| {
        b.iter(|| p_out.verify_hashed(black_box(&root), &absent, None))
    });
    g.bench_function("decode_and_verify", |b| {
        b.iter(|| {
            itc_ledger::StateProof::decode_bytes(black_box(&wire))
                .unwrap()
                .verify_hashed(&root, &k, Some(&v))
        })
    });
    // Baselines measured in the same run, so figures taken on a busy machine can be read as
    // ratios: a verification is ~22 of these hashes; a transfer is dominated by one Schnorr
    // verification.
    let (l, r) = (Hash([1; 32]), Hash([2; 32]));
    g.bench_function("baseline_branch_hash", |b| {
        b.iter(|| branch_hash(black_box(&l), black_box(&r)))
    });
    let signer = SecretKey::from_bytes(&[3; 32]).unwrap();
    let tag = itc_crypto::DomainTag::new(b"itc/bench/ledger/v1");
    let sig = signer.sign(tag, b"m").unwrap();
    let pk = signer.public_key();
    g.bench_function("baseline_schnorr_verify", |b| {
        b.iter(|| pk.verify(tag, black_box(b"m"), black_box(&sig)))
    });
    g.bench_function("update_one_key", |b| {
        let mut t = tree.clone();
        let mut x = 0u64;
        b.iter(|| {
            x += 1;
            t.insert_hashed(k, Hash::from_bytes(value_hash(&x.to_be_bytes()).0))
        })
    });
    g.finish();
}

criterion_group!(benches, execute, proofs);
criterion_main!(benches);
