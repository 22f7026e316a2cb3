//! `Tangle::handle_transactions` (signatures batch-verified) is indistinguishable from handing
//! the same transactions to `handle_transaction` one at a time: same results, same events, same
//! state — whatever the order, the duplicates and the forged signatures in the backlog.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use itc_dag::{DagError, Transaction, TxId, BACKLOG_CHUNK};
use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// `n` honest transactions from three issuers, each approving two earlier ones (or genesis).
fn honest(n: usize, seed: u64) -> Vec<Transaction> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let keys = [key(1), key(2), key(3)];
    let mut seqs = [0u64; 3];
    let mut ids: Vec<TxId> = genesis_parents().to_vec();
    let mut out = Vec::new();
    for i in 0..n {
        let k = (rng.next_u32() % 3) as usize;
        let a = ids[(rng.next_u32() as usize) % ids.len()];
        let mut b = ids[(rng.next_u32() as usize) % ids.len()];
        if a == b {
            b = if a == ids[0] { ids[1] } else { ids[0] };
        }
        seqs[k] += 1;
        let t = tx(
            &keys[k],
            seqs[k],
            1_000 + i as u64,
            &[a, b],
            data(&[i as u8]),
            MIN_D,
        );
        ids.push(t.id());
        out.push(t);
    }
    out
}

fn corrupt_signature(t: &Transaction) -> Transaction {
    let mut bytes = t.to_bytes();
    *bytes.last_mut().unwrap() ^= 0x01;
    Transaction::from_bytes(&bytes).unwrap()
}

fn run_both(stream: Vec<Transaction>, now: u64) {
    let mut one = tangle_with(config(), vec![]);
    let mut batch = tangle_with(config(), vec![]);
    let singles: Vec<_> = stream
        .iter()
        .cloned()
        .map(|t| one.handle_transaction(t, now))
        .collect();
    let batched = batch.handle_transactions(stream, now);
    assert_eq!(singles, batched);
    assert_eq!(one.state_digest(), batch.state_digest());
    let (e1, e2): (Vec<_>, Vec<_>) = (one.take_events(), batch.take_events());
    assert_eq!(e1, e2);
}

#[test]
fn a_backlog_longer_than_a_chunk_with_forgeries_matches_one_by_one() {
    let mut stream = honest(BACKLOG_CHUNK + 20, 7);
    for i in [
        0usize,
        5,
        BACKLOG_CHUNK - 1,
        BACKLOG_CHUNK,
        BACKLOG_CHUNK + 19,
    ] {
        stream[i] = corrupt_signature(&stream[i]);
    }
    let forged = stream
        .iter()
        .filter(|t| t.verify_signature().is_err())
        .count();
    assert_eq!(forged, 5);
    let mut tangle = tangle_with(config(), vec![]);
    let results = tangle.handle_transactions(stream.clone(), 5_000);
    let refused = results
        .iter()
        .filter(|r| **r == Err(DagError::InvalidSignature))
        .count();
    assert_eq!(refused, 5);
    run_both(stream, 5_000);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn batched_backlog_equals_sequential(
        seed in any::<u64>(),
        n in 1usize..80,
        order in proptest::collection::vec(any::<u16>(), 0..100),
        forge in proptest::collection::vec(any::<u16>(), 0..6),
        dups in proptest::collection::vec(any::<u16>(), 0..6),
    ) {
        let base = honest(n, seed);
        let mut stream = base.clone();
        for f in forge {
            let i = usize::from(f) % stream.len();
            stream[i] = corrupt_signature(&stream[i]);
        }
        for d in dups {
            let t = stream[usize::from(d) % stream.len()].clone();
            stream.push(t);
        }
        // A partial shuffle: children before parents end up waiting for them.
        for (k, o) in order.iter().enumerate() {
            let len = stream.len();
            stream.swap(k % len, usize::from(*o) % len);
        }
        run_both(stream, 1_000 + n as u64 + 10);
    }
}
