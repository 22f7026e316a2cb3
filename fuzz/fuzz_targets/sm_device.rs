//! A provisioned device fed arbitrary commands (raw bytes, and well-formed commands signed by
//! its owner, a grantee or a stranger with fuzzer-chosen actions, counters and expiry),
//! command sessions (raw open and session-command bytes, well-formed opens by any of them,
//! session commands with fuzzer-chosen counters, expiries and altered bytes), restarts, and
//! arbitrary ownership updates (record and proof bytes), with the clock moving.
//!
//! Invariants: no panic; a stranger is never obeyed, on either path; each issuer's accepted
//! signed-command counters, and each session's accepted counters, strictly increase (no
//! replay); the session table stays within its capacity; the verified ownership height never
//! goes back.
#![no_main]
use arbitrary::Arbitrary;
use itc_crypto::{Decode, Encode, SecretKey};
use itc_device_sdk::replay::MemoryCounterStore;
use itc_device_sdk::{
    Actions, Command, Device, DeviceConfig, DeviceIdentity, PhoneSession, SessionId,
    VerifiedState, SESSION_SLOTS,
};
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
    OpenBytes(Vec<u8>),
    SessionBytes(Vec<u8>),
    Open {
        signer: u8,
        action: u8,
        counter: u16,
        expires_in: i32,
        ephemeral: u8,
    },
    SessionCommand {
        signer: u8,
        action: u8,
        argument: Vec<u8>,
        skip: u8,
        expires_in: i32,
        flip: Option<u8>,
    },
    Restart,
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
    // The phones' sessions, per signer, and each session's last accepted counter.
    let mut phones: [Option<PhoneSession>; 3] = [None, None, None];
    let mut session_last: std::collections::BTreeMap<SessionId, u64> = Default::default();
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
            Op::OpenBytes(b) => {
                let _ = device.open_session_bytes(&b, now, &mut store);
                None
            }
            Op::SessionBytes(b) => {
                if let Ok(a) = device.handle_session_command_bytes(&b, now) {
                    assert_ne!(a.issuer, stranger.public_key(), "a stranger was obeyed");
                }
                None
            }
            Op::Open {
                signer,
                action,
                counter,
                expires_in,
                ephemeral,
            } => {
                let i = usize::from(signer) % signers.len();
                let (Some(s), Some(e)) = (signers.get(i), key(ephemeral.max(5))) else {
                    continue;
                };
                let Ok((open, phone)) = PhoneSession::open(
                    s,
                    device_key.public_key(),
                    Actions::from_bits(u32::from(action)),
                    u64::from(counter),
                    now.saturating_add_signed(i64::from(expires_in)),
                    e,
                ) else {
                    continue;
                };
                if let Ok(opened) = device.open_session(&open, now, &mut store) {
                    assert_ne!(opened.issuer, stranger.public_key(), "a stranger opened");
                    assert!(phone.confirm(&opened.confirmation).is_ok());
                    if let Some(p) = phones.get_mut(i) {
                        *p = Some(phone);
                    }
                }
                None
            }
            Op::SessionCommand {
                signer,
                action,
                argument,
                skip,
                expires_in,
                flip,
            } => {
                let Some(Some(phone)) = phones.get_mut(usize::from(signer) % 3) else {
                    continue;
                };
                let counter = phone.next_counter().saturating_add(u64::from(skip));
                let Ok(cmd) = phone.command_at(
                    counter,
                    Actions::from_bits(u32::from(action)),
                    &argument,
                    now.saturating_add_signed(i64::from(expires_in)),
                ) else {
                    continue;
                };
                let mut bytes = cmd.encode_to_vec();
                if let Some(f) = flip {
                    let n = bytes.len();
                    if let Some(b) = bytes.get_mut(usize::from(f) % n) {
                        *b ^= 1;
                    }
                }
                if let Ok(a) = device.handle_session_command_bytes(&bytes, now) {
                    assert_ne!(a.issuer, stranger.public_key(), "a stranger was obeyed");
                    assert!(flip.is_none(), "an altered session command was accepted");
                    if let Some(last) = session_last.get(&cmd.id) {
                        assert!(a.counter > *last, "session counter replayed");
                    }
                    session_last.insert(cmd.id, a.counter);
                }
                None
            }
            Op::Restart => {
                // Power loss: sessions are gone, the replay marks and the proof (re-sent by
                // the gateway) are not.
                let Ok(d) = Device::new(
                    DeviceIdentity::new(device_key.clone()),
                    DeviceConfig::default(),
                    &mut store,
                ) else {
                    return;
                };
                let held = device.ownership().map(|(s, r)| (*s, r.clone()));
                device = d;
                if let Some((s, r)) = held {
                    let mut t = SparseMerkleTree::new();
                    t.insert_hashed(k.key_hash(), value_hash(&r.encode_to_vec()));
                    if let Ok(p) = t.prove_hashed(&k.key_hash()) {
                        let st = VerifiedState::unverified(s.height(), t.root(), s.timestamp_ms());
                        let _ = device.update_ownership(&st, r, &p);
                    }
                }
                held_height = device.ownership().map_or(held_height, |(s, _)| s.height());
                assert!(device.sessions().is_empty());
                None
            }
        };
        itc_fuzz::assert_bounded("sessions", device.sessions().len(), SESSION_SLOTS);
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
