//! itc-dag transactions, ids, payloads, essences and snapshots (canonical round trip), and
//! restoring a tangle from a store whose records the fuzzer corrupted.
//!
//! Restore reads trusted records, but a disk can rot: from a real tangle's store with one
//! record's bytes flipped, replaced, deleted, duplicated under another key or re-keyed,
//! `Tangle::restore` must return a typed error or a tangle that works (queries, housekeeping,
//! new input), never panic or allocate without bound.
#![no_main]
use std::borrow::Cow;

use itc_crypto::SecretKey;
use itc_dag::tx::Essence;
use itc_dag::{
    DagSnapshot, IssuerPolicy, IssuerProfile, MemoryStore, Payload, RandomWalk, StoreKey,
    StoreUnavailable, Tangle, TangleConfig, TangleGenesis, TangleStore, Transaction,
    TransactionBuilder, Transfer, TxId, WriteBatch,
};
use libfuzzer_sys::fuzz_target;
use rand_core::SeedableRng;

/// A store that is just a list of records (what a disk hands back).
struct Records(Vec<(Vec<u8>, Vec<u8>)>);

impl TangleStore for Records {
    fn apply(&mut self, _batch: &WriteBatch) {}
    fn get(&self, key: &StoreKey) -> Option<Cow<'_, [u8]>> {
        self.0
            .iter()
            .find(|(k, _)| k.as_slice() == key.as_bytes())
            .map(|(_, v)| Cow::Borrowed(v.as_slice()))
    }
    fn scan(&self, visit: &mut dyn FnMut(&[u8], &[u8])) -> Result<(), StoreUnavailable> {
        for (k, v) in &self.0 {
            visit(k, v);
        }
        Ok(())
    }
}

fn config() -> TangleConfig {
    TangleConfig {
        confirmation_threshold: 2,
        capacity: 64,
        unsolid_capacity: 8,
        kept_snapshots: 3,
        ..TangleConfig::default()
    }
}

fn policy() -> IssuerPolicy {
    IssuerPolicy::new(IssuerProfile::device(0, 1_000))
}

/// The records of a small real tangle: readings, a transfer, an anchor, a waiting child.
fn base() -> Vec<(Vec<u8>, Vec<u8>)> {
    let key = |i: u8| SecretKey::from_bytes(&[i; 32]).ok();
    let (Some(a), Some(b)) = (key(3), key(4)) else {
        return Vec::new();
    };
    let addr = |k: &SecretKey| itc_crypto::Address::from_public_key(&k.public_key());
    let genesis = TangleGenesis {
        timestamp: 0,
        balances: vec![(addr(&a), 100)],
    };
    let mut t = Tangle::new(config(), policy(), genesis, MemoryStore::default());
    let mut parents = TangleGenesis::roots().to_vec();
    for seq in 0..6u64 {
        let payload = if seq == 2 {
            Payload::Transfer(Transfer {
                to: addr(&b),
                amount: 5,
                spend_nonce: 0,
            })
        } else {
            match Payload::data(&[seq as u8]) {
                Ok(p) => p,
                Err(_) => return Vec::new(),
            }
        };
        let Some(tx) = TransactionBuilder::new(a.public_key(), seq, 1_000 + seq)
            .parents(&parents)
            .ok()
            .and_then(|x| x.payload(payload).sign(&a).ok())
        else {
            return Vec::new();
        };
        parents = vec![tx.id(), TangleGenesis::roots()[0]];
        let _ = t.handle_transaction(tx, 1_000 + seq);
    }
    let snap = t.propose_snapshot(3);
    let _ = t.handle_anchor(&snap, 1_010);
    if let Some(child) = TransactionBuilder::new(b.public_key(), 0, 1_011)
        .parents(&[TxId(itc_crypto::Hash([9; 32])), parents[0]])
        .ok()
        .and_then(|x| x.sign(&b).ok())
    {
        let _ = t.handle_transaction(child, 1_011);
    }
    let mut out = Vec::new();
    let _ = t
        .store()
        .scan(&mut |k, v| out.push((k.to_vec(), v.to_vec())));
    out
}

fn restore_corrupted(data: &[u8]) {
    static BASE: std::sync::OnceLock<Vec<(Vec<u8>, Vec<u8>)>> = std::sync::OnceLock::new();
    let base = BASE.get_or_init(base);
    let [which, mode, a, b, rest @ ..] = data else {
        return;
    };
    let mut records = base.clone();
    let n = records.len().max(1);
    let i = usize::from(*which) % n;
    match (mode % 6, records.get_mut(i)) {
        (0, Some((_, v))) => {
            let at = usize::from(*a) % v.len().max(1);
            if let Some(x) = v.get_mut(at) {
                *x ^= *b | 1;
            }
        }
        (1, Some((_, v))) => *v = rest.to_vec(),
        (2, Some(_)) => {
            records.remove(i);
        }
        (3, Some((k, _))) => {
            let mut k2 = k.clone();
            if let Some(x) = k2.last_mut() {
                *x ^= *a | 1;
            }
            records.push((k2, rest.to_vec()));
        }
        (4, Some((k, _))) => {
            let at = usize::from(*a) % k.len().max(1);
            if let Some(x) = k.get_mut(at) {
                *x ^= *b | 1;
            }
        }
        (_, Some((k, v))) => {
            // Truncate or extend a value.
            let keep = usize::from(*a) % (v.len() + 1);
            v.truncate(keep);
            v.extend_from_slice(rest);
            let _ = k;
        }
        _ => {}
    }
    if let Ok(mut t) = Tangle::restore(config(), policy(), Records(records)) {
        let _ = t.state_digest();
        let _ = t.propose_snapshot(10);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let _ = t.select_parents(&RandomWalk::default(), &mut rng, 2_000, 2);
        if let Some(d) = t.poll_timeout() {
            t.handle_timeout(d);
        }
        t.handle_timeout(1_000_000);
        let _ = t.take_events();
    }
}

fuzz_target!(|data: &[u8]| {
    // One input in eight (first byte ≡ 7 mod 8) corrupts a store instead: a restore costs a
    // few hundred decodes, and the decoders should keep most of the executions.
    match data.split_first() {
        Some((sel, rest)) if sel % 8 == 7 => restore_corrupted(rest),
        _ => itc_fuzz::dispatch!(data; Transaction, TxId, Payload, Essence, DagSnapshot),
    }
});
