//! A provisioned device fed arbitrary commands (raw bytes, and well-formed commands signed by
//! its owner, a grantee or a stranger with fuzzer-chosen actions, counters and expiry) and
//! arbitrary ownership updates (record and proof bytes), with the clock moving.
//!
//! Invariants: no panic; a stranger is never obeyed; each issuer's accepted counters strictly
//! increase (no replay); the verified ownership height never goes back.
#![no_main]
use arbitrary::Arbitrary;
use itc_crypto::{Decode, Encode, SecretKey};
use itc_device_sdk::replay::MemoryCounterStore;
use itc_device_sdk::{Actions, Command, Device, DeviceConfig, DeviceIdentity, VerifiedState};
use itc_ledger::smt::{value_hash, SparseMerkleTree};
use itc_ledger::{Grant, OwnershipRecord, StateKey, StateProof, VendorId};
use libfuzzer_sys::fuzz_target;

const T0: u64 = 1_700_000_000_000;

#[derive(Arbitrary, Debug)]
enum Op {
    Bytes(Vec<u8>),
    Command {
        signer: u8,
        action: u8,
        argument: Vec<u8>,
        counter: u16,
        expires_in: i32,
    },
    Ownership {
        height: u8,
        record: Vec<u8>,
        proof: Vec<u8>,
        root_from_tree: bool,
    },
    Advance(u32),
}

fn key(i: u8) -> Option<SecretKey> {
    SecretKey::from_bytes(&[i; 32]).ok()
}

fuzz_target!(|ops: Vec<Op>| {
    static KEYS: std::sync::OnceLock<Vec<SecretKey>> = std::sync::OnceLock::new();
    let all = itc_fuzz::cached_keys(&KEYS, || (1..=4).filter_map(key).collect());
    let [device_key, owner, grantee, stranger] = all else {
        return;
    };
    let (owner, grantee) = (owner.clone(), grantee.clone());
    let mut record =
        OwnershipRecord::new(device_key.public_key(), VendorId(7), 42, owner.public_key());
    if record
        .upsert_grant(Grant {
            grantee: grantee.public_key(),
            actions: Actions::CONTROL.union(Actions::READ),
            expires_at: 100,
        })
        .is_err()
    {
        return;
    }
    let device_id = record.device_id();
    let mut tree = SparseMerkleTree::new();
    let k = StateKey::Device(device_id);
    tree.insert_hashed(k.key_hash(), value_hash(&record.encode_to_vec()));
    let Ok(proof) = tree.prove_hashed(&k.key_hash()) else {
        return;
    };
    let state = VerifiedState::unverified(10, tree.root(), T0);
    let mut store = MemoryCounterStore::default();
    let Ok(mut device) = Device::new(
        DeviceIdentity::new(device_key.clone()),
        DeviceConfig::default(),
        &mut store,
    ) else {
        return;
    };
    if device
        .update_ownership(&state, record.clone(), &proof)
        .is_err()
    {
        return;
    }
    let signers = [owner, grantee, stranger.clone()];
    let mut now = T0;
    // Counters are per issuer (issue 16.5): each issuer's accepted counters only grow.
    let mut last_counter: std::collections::BTreeMap<[u8; 32], u64> = Default::default();
    let mut held_height = 10u64;
    for op in ops.into_iter().take(256) {
        let result = match op {
            Op::Bytes(b) => Some(device.handle_command_bytes(&b, now, &mut store)),
            Op::Command {
                signer,
                action,
                argument,
                counter,
                expires_in,
            } => {
                let Some(s) = signers.get(usize::from(signer) % signers.len()) else {
                    continue;
                };
                let Ok(cmd) = Command::new(
                    device_id,
                    s.public_key(),
                    Actions::from_bits(u32::from(action)),
                    &argument,
                    u64::from(counter),
                    now.saturating_add_signed(i64::from(expires_in)),
                ) else {
                    continue;
                };
                let Ok(signed) = cmd.sign(s) else { continue };
                Some(device.handle_command(&signed, now, &mut store))
            }
            Op::Ownership {
                height,
                record: r,
                proof: p,
                root_from_tree,
            } => {
                let Ok(p) = StateProof::decode_bytes(&p) else {
                    continue;
                };
                let root = if root_from_tree {
                    tree.root()
                } else {
                    itc_crypto::Hash([height; 32])
                };
                let st = VerifiedState::unverified(u64::from(height), root, now);
                if device.update_ownership_bytes(&st, &r, &p).is_ok() {
                    assert!(st.height() > held_height, "ownership went back");
                    held_height = st.height();
                }
                None
            }
            Op::Advance(ms) => {
                now = now.saturating_add(u64::from(ms));
                None
            }
        };
        if let Some(Ok(accepted)) = result {
            assert_ne!(
                accepted.issuer,
                stranger.public_key(),
                "a stranger was obeyed"
            );
            let issuer = *accepted.issuer.as_bytes();
            if let Some(last) = last_counter.get(&issuer) {
                assert!(
                    accepted.counter > *last,
                    "counter {} replayed after {last}",
                    accepted.counter
                );
            }
            last_counter.insert(issuer, accepted.counter);
        }
        if let Some((s, _)) = device.ownership() {
            assert_eq!(s.height(), held_height);
        }
    }
});
