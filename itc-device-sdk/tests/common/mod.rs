//! Shared test world: a device, its owner, a grantee, a stranger, and a ledger state tree that
//! proves the device's ownership record under a root.
#![allow(dead_code)]

use itc_crypto::{Encode, Hash, SecretKey};
use itc_device_sdk::replay::MemoryCounterStore;
use itc_device_sdk::{
    Actions, Command, Device, DeviceConfig, DeviceIdentity, SignedCommand, VerifiedState,
};
use itc_ledger::smt::{value_hash, SparseMerkleTree};
use itc_ledger::{Grant, OwnershipRecord, StateKey, StateProof, VendorId};

pub const T0: u64 = 1_700_000_000_000;
pub const GRANT_EXPIRES_AT: u64 = 100;

pub fn key(i: u8) -> SecretKey {
    SecretKey::from_bytes(&[i; 32]).unwrap()
}

pub struct World {
    pub device_key: SecretKey,
    pub owner: SecretKey,
    pub grantee: SecretKey,
    pub stranger: SecretKey,
    pub record: OwnershipRecord,
}

impl World {
    pub fn new() -> Self {
        let device_key = key(1);
        let owner = key(2);
        let grantee = key(3);
        let stranger = key(4);
        let mut record =
            OwnershipRecord::new(device_key.public_key(), VendorId(7), 42, owner.public_key());
        record
            .upsert_grant(Grant {
                grantee: grantee.public_key(),
                actions: Actions::CONTROL.union(Actions::READ),
                expires_at: GRANT_EXPIRES_AT,
            })
            .unwrap();
        World {
            device_key,
            owner,
            grantee,
            stranger,
            record,
        }
    }

    /// A state tree holding `record` (plus some other entries), its proof and a verified
    /// header state at `height`, `timestamp_ms`.
    pub fn prove(
        &self,
        record: &OwnershipRecord,
        height: u64,
        timestamp_ms: u64,
    ) -> (VerifiedState, StateProof) {
        let mut tree = SparseMerkleTree::new();
        for i in 0..20u8 {
            tree.insert(&[i, height as u8], &[i; 8]);
        }
        let k = StateKey::Device(record.device_id());
        tree.insert_hashed(k.key_hash(), value_hash(&record.encode_to_vec()));
        let proof = tree.prove_hashed(&k.key_hash()).unwrap();
        (
            VerifiedState::unverified(height, tree.root(), timestamp_ms),
            proof,
        )
    }

    pub fn device(&self, store: &mut MemoryCounterStore) -> Device<SecretKey> {
        Device::new(
            DeviceIdentity::new(self.device_key.clone()),
            DeviceConfig::default(),
            store,
        )
        .unwrap()
    }

    /// A device that has accepted the world's record at height 10, time T0.
    pub fn provisioned(&self, store: &mut MemoryCounterStore) -> Device<SecretKey> {
        let mut d = self.device(store);
        let (state, proof) = self.prove(&self.record, 10, T0);
        d.update_ownership(&state, self.record.clone(), &proof)
            .unwrap();
        d
    }

    pub fn command(&self, signer: &SecretKey, action: Actions, counter: u64) -> SignedCommand {
        Command::new(
            self.record.device_id(),
            signer.public_key(),
            action,
            b"on",
            counter,
            T0 + 60_000,
        )
        .unwrap()
        .sign(signer)
        .unwrap()
    }

    pub fn id(&self) -> itc_ledger::DeviceId {
        self.record.device_id()
    }
}

pub fn other_hash() -> Hash {
    Hash([0xee; 32])
}
