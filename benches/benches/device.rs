//! itc-device-sdk hot paths on the host: the command gate (signature + grant + replay), the
//! embedded light client's header check (skipping to a header 3 of 4 validators signed), the ownership state proof, and the
//! streaming firmware-image hash. Device figures (Cortex-M4 under QEMU) are in the README.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use itc_crypto::quorum::{Validator, ValidatorSet};
use itc_crypto::{Encode, Hash, SecretKey, Signer};
use itc_device_sdk::firmware::{FirmwareManifest, UpdatePolicy};
use itc_device_sdk::light_client::{DeviceLightClient, LightClientConfig, TrustAnchor};
use itc_device_sdk::replay::MemoryCounterStore;
use itc_device_sdk::{Actions, Command, Device, DeviceConfig, DeviceIdentity};
use itc_ledger::smt::{value_hash, SparseMerkleTree};
use itc_ledger::{OwnershipRecord, StateKey, VendorId};
use itc_pbft::certificate::commit_digest;
use itc_pbft::{BlockHeader, CompactCommitCertificate};

fn key(i: u8) -> SecretKey {
    SecretKey::from_bytes(&[i; 32]).unwrap()
}

fn bench_device(c: &mut Criterion) {
    let t0 = 1_750_000_000_000u64;
    let validators: Vec<SecretKey> = (1..=4).map(key).collect();
    let set: ValidatorSet<4> = ValidatorSet::new(validators.iter().map(|k| Validator {
        key: k.public_key(),
        power: 1,
    }))
    .unwrap();
    let trusted = BlockHeader::genesis(Hash::ZERO, set.hash(), t0);

    let (device_key, owner) = (key(20), key(21));
    let record = OwnershipRecord::new(device_key.public_key(), VendorId(1), 1, owner.public_key());
    let mut tree = SparseMerkleTree::new();
    for i in 0..1000u32 {
        tree.insert(&i.to_be_bytes(), &i.to_le_bytes());
    }
    let k = StateKey::Device(record.device_id());
    tree.insert_hashed(k.key_hash(), value_hash(&record.encode_to_vec()));
    let proof = tree.prove_hashed(&k.key_hash()).unwrap();
    let header = BlockHeader {
        height: 100,
        state_root: tree.root(),
        timestamp_ms: t0 + 100_000,
        ..trusted
    };
    let digest = commit_digest(0, header.height, &header.hash());
    let mut cert = CompactCommitCertificate::<4>::new(0);
    for v in &validators {
        cert.insert(
            set.index_of(&v.public_key()).unwrap(),
            v.sign_digest(&digest).unwrap(),
        )
        .unwrap();
    }

    let mut g = c.benchmark_group("device");
    let now = header.timestamp_ms + 1_000;
    let client = || -> Box<DeviceLightClient<4>> {
        Box::new(
            DeviceLightClient::new(
                TrustAnchor::genesis(trusted, set.clone()),
                LightClientConfig::new(100),
                now,
            )
            .unwrap(),
        )
    };
    let none = None::<&ValidatorSet<4>>;
    g.bench_function("light_client_skip_header_4_validators", |b| {
        b.iter_batched(
            client,
            |mut a| a.verify_skipping(&header, &cert, &set, none, now).unwrap(),
            BatchSize::SmallInput,
        )
    });
    let state = itc_device_sdk::VerifiedState::from(
        &client()
            .verify_skipping(&header, &cert, &set, none, now)
            .unwrap(),
    );
    let mut store = MemoryCounterStore::default();
    let mut device = Device::new(
        DeviceIdentity::new(device_key.clone()),
        DeviceConfig::default(),
        &mut store,
    )
    .unwrap();
    g.bench_function("update_ownership_state_proof", |b| {
        b.iter_batched(
            || device.clone(),
            |mut d| d.update_ownership(&state, record.clone(), &proof).unwrap(),
            BatchSize::SmallInput,
        )
    });
    device
        .update_ownership(&state, record.clone(), &proof)
        .unwrap();
    let mut counter = 0u64;
    g.bench_function("handle_command_cached_proof", |b| {
        b.iter_batched(
            || {
                counter += 1;
                Command::new(
                    record.device_id(),
                    owner.public_key(),
                    Actions::CONTROL,
                    b"on",
                    counter,
                    t0 + 160_000,
                )
                .unwrap()
                .sign(&owner)
                .unwrap()
            },
            |cmd| {
                device
                    .handle_command(&cmd, t0 + 100_001, &mut store)
                    .unwrap()
            },
            BatchSize::SmallInput,
        )
    });

    let vendor = key(30);
    let image: Vec<u8> = (0..32 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let manifest = FirmwareManifest::for_image(vendor.public_key(), 1, 2, 0, &image)
        .sign(&vendor)
        .unwrap();
    let policy = UpdatePolicy {
        vendor: vendor.public_key(),
        product: 1,
        installed_version: 1,
        max_image_size: 64 * 1024,
    };
    g.bench_function("firmware_manifest_check", |b| {
        b.iter(|| policy.check(&manifest).unwrap())
    });
    let verifier = policy.check(&manifest).unwrap();
    g.throughput(Throughput::Bytes(image.len() as u64));
    g.bench_function("firmware_image_stream_32k", |b| {
        b.iter(|| {
            let mut v = verifier.clone();
            for chunk in image.chunks(256) {
                v.update(chunk).unwrap();
            }
            v.finish()
        })
    });
    g.finish();
}

criterion_group!(benches, bench_device);
criterion_main!(benches);
