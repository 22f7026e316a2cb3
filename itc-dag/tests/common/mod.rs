//! Shared fixtures for the integration tests: keys, a transaction factory, byte surgery.
#![allow(dead_code)]

use itc_crypto::hash::tagged_hash;
use itc_crypto::{Address, SecretKey};
use itc_dag::tx::ESSENCE_TAG;
use itc_dag::{
    pow, IssuerPolicy, IssuerProfile, MemoryStore, Payload, Tangle, TangleConfig, TangleGenesis,
    Transaction, TransactionBuilder, Transfer, TxId,
};

/// Minimum difficulty the test policy requires of everyone.
pub const MIN_D: u8 = 3;

/// Deterministic key number `i` (i ≥ 1).
pub fn key(i: u64) -> SecretKey {
    let mut b = [0u8; 32];
    b[24..].copy_from_slice(&i.to_be_bytes());
    SecretKey::from_bytes(&b).unwrap()
}

pub fn addr(k: &SecretKey) -> Address {
    Address::from_public_key(&k.public_key())
}

pub fn policy() -> IssuerPolicy {
    IssuerPolicy::new(IssuerProfile::device(MIN_D, 1_000))
}

pub fn config() -> TangleConfig {
    TangleConfig {
        confirmation_threshold: 8,
        ..TangleConfig::default()
    }
}

pub fn tangle_with(config: TangleConfig, balances: Vec<(Address, u64)>) -> Tangle<MemoryStore> {
    Tangle::new(
        config,
        policy(),
        TangleGenesis {
            timestamp: 0,
            balances,
        },
        MemoryStore::default(),
    )
}

/// A signed transaction with solved PoW.
pub fn tx(
    k: &SecretKey,
    seq: u64,
    ts: u64,
    parents: &[TxId],
    payload: Payload,
    difficulty: u8,
) -> Transaction {
    let mut b = TransactionBuilder::new(k.public_key(), seq, ts)
        .parents(parents)
        .unwrap()
        .payload(payload);
    b.solve_pow(difficulty, 0, u64::MAX).unwrap();
    b.sign(k).unwrap()
}

pub fn data(s: &[u8]) -> Payload {
    Payload::data(s).unwrap()
}

pub fn transfer(to: Address, amount: u64, spend_nonce: u64) -> Payload {
    Payload::Transfer(Transfer {
        to,
        amount,
        spend_nonce,
    })
}

pub fn genesis_parents() -> [TxId; 2] {
    TangleGenesis::roots()
}

/// Length of the essence inside an encoded transaction (everything before nonce and signature).
pub fn essence_len(bytes: &[u8]) -> usize {
    bytes.len() - 8 - 64
}

/// After editing essence bytes, re-grinds the nonce so the PoW is valid again (what an attacker
/// without the key can still do) — the signature is left as it was.
pub fn regrind(bytes: &mut [u8], difficulty: u8) {
    let e = essence_len(bytes);
    let h = tagged_hash(ESSENCE_TAG, &bytes[..e]);
    let n = pow::solve(&h, difficulty, 0, u64::MAX).unwrap();
    bytes[e..e + 8].copy_from_slice(&n.to_be_bytes());
}
