//! Shared fixture: a small chain with four validators, five funded users and one vendor.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code
)]

use itc_crypto::quorum::{Validator, ValidatorSet};
use itc_crypto::{Address, Encode, PublicKey, SecretKey};
use itc_ledger::builder::TxBuilder;
use itc_ledger::{
    BlockOutcome, GenesisState, Ledger, SignedTransaction, TxError, VendorId, VendorRecord,
};

pub const CHAIN: u32 = 42;
pub const VENDOR: VendorId = VendorId(1);
pub const USERS: usize = 5;
pub const USER_FUNDS: u64 = 1_000;
pub const VENDOR_FUNDS: u64 = 500;

/// Deterministic key number `i` (never zero).
pub fn key(i: u32) -> SecretKey {
    let mut b = [0u8; 32];
    b[28..].copy_from_slice(&(i + 1).to_be_bytes());
    b[0] = 0x11;
    SecretKey::from_bytes(&b).unwrap()
}

pub fn addr(k: &SecretKey) -> Address {
    Address::from_public_key(&k.public_key())
}

pub struct World {
    pub b: TxBuilder,
    pub validators: Vec<SecretKey>,
    pub set: ValidatorSet,
    pub users: Vec<SecretKey>,
    pub vendor: SecretKey,
    pub firmware: SecretKey,
    pub ledger: Ledger,
}

pub fn validator_set(keys: &[SecretKey]) -> ValidatorSet {
    ValidatorSet::new(keys.iter().map(|k| Validator {
        key: k.public_key(),
        power: 1,
    }))
    .unwrap()
}

pub fn world() -> World {
    let validators: Vec<SecretKey> = (100..104).map(key).collect();
    let set = validator_set(&validators);
    let users: Vec<SecretKey> = (0..USERS as u32).map(key).collect();
    let vendor = key(200);
    let firmware = key(201);
    let mut balances: Vec<(Address, u64)> = users.iter().map(|u| (addr(u), USER_FUNDS)).collect();
    balances.push((addr(&vendor), VENDOR_FUNDS));
    let genesis = GenesisState {
        chain_id: CHAIN,
        validators: set.clone(),
        balances,
        vendors: vec![(
            VENDOR,
            VendorRecord {
                registry_key: vendor.public_key(),
                firmware_key: firmware.public_key(),
            },
        )],
    };
    World {
        b: TxBuilder::new(CHAIN),
        validators,
        set,
        users,
        vendor,
        firmware,
        ledger: Ledger::from_genesis(&genesis).unwrap(),
    }
}

/// Device key number `i`.
pub fn device_key(i: u32) -> PublicKey {
    key(1_000 + i).public_key()
}

/// Runs one transaction as its own batch at the next height; asserts the outcome is either
/// applied, or rejected with the state exactly as an empty batch would leave it.
pub fn run(ledger: &mut Ledger, tx: &SignedTransaction) -> Result<(), TxError> {
    run_bytes(ledger, &tx.encode_to_vec())
}

pub fn run_bytes(ledger: &mut Ledger, bytes: &[u8]) -> Result<(), TxError> {
    let height = ledger.height() + 1;
    let mut empty = ledger.clone();
    let empty_root = empty.execute::<Vec<u8>>(&[], height).unwrap().state_root;
    let out: BlockOutcome = ledger.execute(&[bytes.to_vec()], height).unwrap();
    assert_eq!(out.receipts.len(), 1);
    let result = out.receipts[0].result;
    if result.is_err() {
        assert_eq!(
            out.state_root, empty_root,
            "a rejected tx changed the state"
        );
    } else {
        assert_ne!(out.state_root, empty_root, "an applied tx changed nothing");
    }
    assert_eq!(out.state_root, ledger.recompute_root());
    result
}

/// Sum of all balances and escrows.
pub fn tokens(ledger: &Ledger) -> u128 {
    let a: u128 = ledger.accounts().map(|(_, a)| u128::from(a.balance)).sum();
    let e: u128 = ledger.escrows().map(|(_, e)| u128::from(e.held)).sum();
    a + e
}
