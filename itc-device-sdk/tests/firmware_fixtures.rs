//! The fixtures the QEMU firmware (`/firmware`) verifies, built with the real crates from fixed
//! seeds: a trust anchor (genesis and its 4-validator set), a fresh header 3,600 blocks later
//! certified by a *rotated* set (one validator replaced: the light client skips to it and
//! follows the change) with a real commit certificate, the device's ownership record with its sparse-Merkle proof under that header's
//! state root, owner/stranger commands, and a signed firmware manifest.
//!
//! The test fails if the committed files differ from what the crates produce today (an
//! encoding changed: the firmware would fail too). Regenerate with
//! `ITC_WRITE_FIXTURES=1 cargo test -p itc-device-sdk --test firmware_fixtures`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use itc_crypto::quorum::{Validator, ValidatorSet};
use itc_crypto::{Encode, Hash, SecretKey, Signer};
use itc_device_sdk::firmware::{FirmwareManifest, UpdatePolicy, Verdict};
use itc_device_sdk::light_client::{DeviceLightClient, LightClientConfig, TrustAnchor};
use itc_device_sdk::replay::MemoryCounterStore;
use itc_device_sdk::{
    Actions, Command, CommandError, Device, DeviceConfig, DeviceIdentity, PhoneSession,
};
use itc_ledger::smt::{value_hash, SparseMerkleTree};
use itc_ledger::{Grant, OwnershipRecord, StateKey, VendorId};
use itc_pbft::certificate::commit_digest;
use itc_pbft::{BlockHeader, CompactCommitCertificate};

const T0: u64 = 1_750_000_000_000;
/// The firmware's clock when it runs: one minute after the fresh header.
const NOW: u64 = T0 + 3_600_000 + 60_000;
const IMAGE_SIZE: u32 = 32 * 1024;
/// The chain's epoch length (validator sets change only at multiples of it).
const EPOCH: u64 = 100;

fn key(tag: u8) -> SecretKey {
    let mut b = [tag; 32];
    b[0] = 0x42;
    SecretKey::from_bytes(&b).unwrap()
}

/// Firmware image byte `i`: generated on the device too, so the image costs no flash.
fn image_byte(i: u32) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 24) as u8
}

fn set_of(keys: &[SecretKey]) -> ValidatorSet<4> {
    ValidatorSet::new(keys.iter().map(|k| Validator {
        key: k.public_key(),
        power: 1,
    }))
    .unwrap()
}

struct Fixtures(Vec<(&'static str, Vec<u8>)>);

fn build() -> Fixtures {
    let genesis_validators: Vec<SecretKey> = (1..=4).map(|i| key(0x10 + i)).collect();
    let genesis_set = set_of(&genesis_validators);
    let trusted = BlockHeader::genesis(Hash([0x01; 32]), genesis_set.hash(), T0);
    let anchor = TrustAnchor::genesis(trusted, genesis_set);
    // By height 3600 validator 1 has been replaced by validator 5.
    let validators: Vec<SecretKey> = (2..=5).map(|i| key(0x10 + i)).collect();
    let set = set_of(&validators);

    let device = key(0x20);
    let owner = key(0x21);
    let grantee = key(0x22);
    let stranger = key(0x23);
    let vendor = key(0x24);

    let mut record = OwnershipRecord::new(device.public_key(), VendorId(7), 42, owner.public_key());
    record
        .upsert_grant(Grant {
            grantee: grantee.public_key(),
            actions: Actions::CONTROL,
            expires_at: 1_000_000,
        })
        .unwrap();
    // A ledger with a thousand other entries, so the proof has a realistic depth.
    let mut tree = SparseMerkleTree::new();
    for i in 0..1000u32 {
        tree.insert(&i.to_be_bytes(), &i.to_le_bytes());
    }
    let k = StateKey::Device(record.device_id());
    tree.insert_hashed(k.key_hash(), value_hash(&record.encode_to_vec()));
    let proof = tree.prove_hashed(&k.key_hash()).unwrap();

    let header = BlockHeader {
        height: 3600,
        view: 2,
        previous: Hash([0x33; 32]),
        batch_root: itc_crypto::merkle::empty_root(),
        state_root: tree.root(),
        validator_set_hash: set.hash(),
        next_validator_set_hash: set.hash(),
        timestamp_ms: T0 + 3_600_000,
    };
    let digest = commit_digest(2, header.height, &header.hash());
    let mut cert = CompactCommitCertificate::<4>::new(2);
    // Three of the new set, all of them also in the genesis set: > 2/3 of the header's set and
    // > 1/3 of the trusted one, so skipping verification accepts it.
    for v in &validators[..3] {
        cert.insert(
            set.index_of(&v.public_key()).unwrap(),
            v.sign_digest(&digest).unwrap(),
        )
        .unwrap();
    }

    let cmd = |signer: &SecretKey, counter: u64, arg: &[u8]| {
        Command::new(
            record.device_id(),
            signer.public_key(),
            Actions::CONTROL,
            arg,
            counter,
            NOW + 300_000,
        )
        .unwrap()
        .sign(signer)
        .unwrap()
        .encode_to_vec()
    };

    // Issue 21: a command session of the owner (its counter 4, after cmd_owner3), one
    // command in it, and the next command with its tag altered.
    let (open, mut phone) = PhoneSession::open(
        &owner,
        device.public_key(),
        Actions::CONTROL,
        4,
        NOW + 300_000,
        key(0x60),
    )
    .unwrap();
    let session_cmd = phone
        .command(Actions::CONTROL, b"level=60", NOW + 300_000)
        .unwrap();
    let mut bad_tag = phone
        .command(Actions::CONTROL, b"level=70", NOW + 300_000)
        .unwrap();
    bad_tag.tag[0] ^= 0x01;

    let image: Vec<u8> = (0..IMAGE_SIZE).map(image_byte).collect();
    let manifest = FirmwareManifest::for_image(vendor.public_key(), 42, 3, 2, &image)
        .sign(&vendor)
        .unwrap();
    let downgrade = FirmwareManifest::for_image(vendor.public_key(), 42, 1, 0, &image)
        .sign(&vendor)
        .unwrap();

    Fixtures(vec![
        ("device_key.bin", device.to_bytes().to_vec()),
        // Stored at provisioning beside the secret: boot derives nothing (`ProvisionedKey`).
        ("device_public.bin", device.public_key().as_bytes().to_vec()),
        ("vendor_key.bin", vendor.public_key().as_bytes().to_vec()),
        ("anchor.bin", anchor.encode_to_vec()),
        ("validators.bin", set.encode_to_vec()),
        ("header.bin", header.encode_to_vec()),
        ("cert.bin", cert.encode_to_vec()),
        ("record.bin", record.encode_to_vec()),
        ("proof.bin", proof.encode_to_vec()),
        ("cmd_owner.bin", cmd(&owner, 1, b"on")),
        ("cmd_owner2.bin", cmd(&owner, 2, b"level=40")),
        ("cmd_grantee.bin", cmd(&grantee, 3, b"off")),
        ("cmd_stranger.bin", cmd(&stranger, 4, b"on")),
        // Issue 16.5 on the device: the grantee burns its counters, the owner carries on.
        ("cmd_grantee_max.bin", cmd(&grantee, u64::MAX, b"off")),
        ("cmd_owner3.bin", cmd(&owner, 3, b"on")),
        ("session_open.bin", open.encode_to_vec()),
        ("session_cmd.bin", session_cmd.encode_to_vec()),
        ("session_cmd_bad_tag.bin", bad_tag.encode_to_vec()),
        ("manifest.bin", manifest.encode_to_vec()),
        ("manifest_downgrade.bin", downgrade.encode_to_vec()),
        ("now.bin", NOW.to_be_bytes().to_vec()),
    ])
}

impl Fixtures {
    fn get(&self, name: &str) -> &[u8] {
        &self.0.iter().find(|(n, _)| *n == name).unwrap().1
    }
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../firmware/fixtures")
}

#[test]
fn committed_fixtures_match_the_crates() {
    let f = build();
    if std::env::var_os("ITC_WRITE_FIXTURES").is_some() {
        std::fs::create_dir_all(dir()).unwrap();
        for (name, bytes) in &f.0 {
            std::fs::write(dir().join(name), bytes).unwrap();
        }
    }
    for (name, bytes) in &f.0 {
        let on_disk = std::fs::read(dir().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}; regenerate with ITC_WRITE_FIXTURES=1"));
        assert!(
            on_disk == *bytes,
            "{name} is stale; regenerate with ITC_WRITE_FIXTURES=1"
        );
    }
}

/// The firmware's scenario, run on the host: same bytes, same verdicts.
#[test]
fn the_firmware_scenario_holds_on_the_host() {
    use itc_crypto::Decode;
    let f = build();
    let anchor = TrustAnchor::<4>::decode_bytes(f.get("anchor.bin")).unwrap();
    let mut client: DeviceLightClient<4> =
        DeviceLightClient::new(anchor, LightClientConfig::new(EPOCH), NOW).unwrap();
    let set = ValidatorSet::<4>::decode_bytes(f.get("validators.bin")).unwrap();
    let header = BlockHeader::decode_bytes(f.get("header.bin")).unwrap();
    let cert = CompactCommitCertificate::<4>::decode_bytes(f.get("cert.bin")).unwrap();
    let verified = client
        .verify_skipping(&header, &cert, &set, None::<&ValidatorSet<4>>, NOW)
        .unwrap();
    // The light client now trusts the rotated set.
    assert_eq!(client.validators().hash(), set.hash());
    let state = itc_device_sdk::VerifiedState::from(&verified);

    let device_key = SecretKey::from_bytes(f.get("device_key.bin").try_into().unwrap()).unwrap();
    let mut store = MemoryCounterStore::default();
    let mut device = Device::new(
        DeviceIdentity::new(device_key),
        DeviceConfig::default(),
        &mut store,
    )
    .unwrap();
    let proof = itc_ledger::StateProof::decode_bytes(f.get("proof.bin")).unwrap();
    device
        .update_ownership_bytes(&state, f.get("record.bin"), &proof)
        .unwrap();

    assert!(device
        .handle_command_bytes(f.get("cmd_owner.bin"), NOW, &mut store)
        .is_ok());
    assert_eq!(
        device.handle_command_bytes(f.get("cmd_stranger.bin"), NOW, &mut store),
        Err(CommandError::NotAuthorized)
    );
    assert!(matches!(
        device.handle_command_bytes(f.get("cmd_owner.bin"), NOW, &mut store),
        Err(CommandError::Replayed {
            counter: 1,
            last_accepted: 1
        })
    ));
    assert!(device
        .handle_command_bytes(f.get("cmd_owner2.bin"), NOW, &mut store)
        .is_ok());
    assert!(device
        .handle_command_bytes(f.get("cmd_grantee.bin"), NOW, &mut store)
        .is_ok());
    // A grantee at counter u64::MAX exhausts only its own counters.
    assert!(device
        .handle_command_bytes(f.get("cmd_grantee_max.bin"), NOW, &mut store)
        .is_ok());
    assert!(device
        .handle_command_bytes(f.get("cmd_owner3.bin"), NOW, &mut store)
        .is_ok());
    assert_eq!(store.writes(), 3);
    // The owner's session: open (counter 4, within its reserved window: no write), one
    // command, one with a bad tag.
    device
        .open_session_bytes(f.get("session_open.bin"), NOW, &mut store)
        .unwrap();
    assert!(device
        .handle_session_command_bytes(f.get("session_cmd.bin"), NOW)
        .is_ok());
    assert_eq!(
        device.handle_session_command_bytes(f.get("session_cmd_bad_tag.bin"), NOW),
        Err(CommandError::InvalidSessionTag)
    );
    assert_eq!(store.writes(), 3);

    let vendor =
        itc_crypto::PublicKey::from_bytes(f.get("vendor_key.bin").try_into().unwrap()).unwrap();
    let policy = UpdatePolicy {
        vendor,
        product: 42,
        installed_version: 2,
        max_image_size: 64 * 1024,
    };
    let m = itc_device_sdk::firmware::SignedManifest::decode_bytes(f.get("manifest.bin")).unwrap();
    let mut v = policy.check(&m).unwrap();
    let mut buf = [0u8; 256];
    let mut i = 0u32;
    while i < IMAGE_SIZE {
        for b in buf.iter_mut() {
            *b = image_byte(i);
            i += 1;
        }
        v.update(&buf).unwrap();
    }
    assert!(matches!(v.finish(), Verdict::Install { version: 3, .. }));
    let d = itc_device_sdk::firmware::SignedManifest::decode_bytes(f.get("manifest_downgrade.bin"))
        .unwrap();
    assert!(policy.check(&d).is_err());
}
