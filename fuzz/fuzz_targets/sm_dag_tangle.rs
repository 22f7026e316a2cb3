//! A tangle fed arbitrary transactions: raw bytes from the network and well-formed (signed,
//! zero-difficulty) transactions whose parents, issuers, timestamps and payloads the fuzzer
//! chooses, anchors of what it confirmed, housekeeping, and crashes, with time moving forward.
//!
//! Invariants: no panic; a transaction once `Final` never goes back (it may only be pruned);
//! the tangle and its unsolid pool never exceed their configured capacities; a rejected
//! transaction leaves the state digest unchanged; the store holds exactly what the tangle
//! holds; a crash (`Crash`: restore from the store) gives back a tangle with the same state
//! digest, and from then on it gives the same results, events and digests as an uncrashed
//! twin fed the same inputs.
#![no_main]
use std::collections::BTreeSet;

use arbitrary::Arbitrary;
use itc_crypto::{Address, SecretKey};
use itc_dag::{
    DagError, Event, IssuerPolicy, IssuerProfile, MemoryStore, Payload, StoreTable, Tangle,
    TangleConfig, TangleGenesis, Transaction, TransactionBuilder, Transfer, TxId, TxStatus,
};
use libfuzzer_sys::fuzz_target;

const ISSUERS: u8 = 4;
const CAPACITY: usize = 256;
const UNSOLID: usize = 32;

#[derive(Arbitrary, Debug)]
enum Body {
    Data(Vec<u8>),
    Transfer {
        to: u8,
        amount: u16,
        spend_nonce: u8,
    },
}

#[derive(Arbitrary, Debug)]
enum Op {
    Bytes(Vec<u8>),
    Tx {
        issuer: u8,
        sequence: u8,
        ts_offset: i16,
        parents: Vec<u16>,
        body: Body,
    },
    Advance(u16),
    /// Transactions (signed, or signed then with one byte flipped) handed over as one
    /// backlog: `handle_transactions` (signatures checked up front) must give exactly what
    /// `handle_transaction` one by one gives — results, events and state.
    Backlog(Vec<BacklogTx>),
    /// The main chain anchors up to this many of what the tangle confirmed (the proposal,
    /// optionally naming one more id the tangle may not hold).
    Anchor {
        max: u8,
        extra: Option<u16>,
    },
    /// Housekeeping, if its deadline has passed.
    Timeout,
    /// The process dies and restarts from its store.
    Crash,
}

#[derive(Arbitrary, Debug)]
struct BacklogTx {
    issuer: u8,
    sequence: u8,
    ts_offset: i16,
    parents: Vec<u16>,
    body: Body,
    flip: Option<(u16, u8)>,
}

/// Ids of the transactions the events say were attached or parked.
fn accepted_ids(events: &[Event]) -> Vec<TxId> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Attached { id, .. } | Event::Waiting { id, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

/// The store holds exactly the tangle's state.
fn assert_store_matches(t: &Tangle) {
    let s = t.store();
    assert_eq!(s.count(StoreTable::Node), t.len(), "node records");
    assert_eq!(s.count(StoreTable::Body), t.len() - 2, "body records");
    assert_eq!(
        s.count(StoreTable::Waiting),
        t.unsolid_len(),
        "pool records"
    );
    assert_eq!(s.count(StoreTable::Meta), 1, "meta record");
}

/// A transaction from the fuzzer's choices, signed by issuer `issuer % ISSUERS`, approving
/// known ids (`None` if the choices make no valid transaction).
#[allow(clippy::too_many_arguments)]
fn build(
    keys: &[SecretKey],
    addrs: &[Address],
    known: &[TxId],
    now: u64,
    issuer: u8,
    sequence: u8,
    ts_offset: i16,
    parents: &[u16],
    body: Body,
) -> Option<Transaction> {
    let k = keys.get(usize::from(issuer % ISSUERS))?;
    let ts = now.saturating_add_signed(i64::from(ts_offset));
    let ids: Vec<TxId> = parents
        .iter()
        .take(8)
        .filter_map(|p| known.get(usize::from(*p) % known.len().max(1)).copied())
        .collect();
    let payload = match body {
        Body::Data(d) => Payload::data(&d).ok()?,
        Body::Transfer {
            to,
            amount,
            spend_nonce,
        } => Payload::Transfer(Transfer {
            to: addrs
                .get(usize::from(to % ISSUERS))
                .copied()
                .unwrap_or(Address([0; 20])),
            amount: u64::from(amount),
            spend_nonce: u64::from(spend_nonce),
        }),
    };
    TransactionBuilder::new(k.public_key(), u64::from(sequence), ts)
        .parents(&ids)
        .ok()?
        .payload(payload)
        .difficulty(0)
        .sign(k)
        .ok()
}

fn key(i: u8) -> Option<SecretKey> {
    let mut b = [0u8; 32];
    b[31] = i.wrapping_add(1);
    b[0] = 0x42;
    SecretKey::from_bytes(&b).ok()
}

fuzz_target!(|ops: Vec<Op>| {
    static KEYS: std::sync::OnceLock<Vec<SecretKey>> = std::sync::OnceLock::new();
    let keys = itc_fuzz::cached_keys(&KEYS, || (0..ISSUERS).filter_map(key).collect());
    if keys.len() != usize::from(ISSUERS) {
        return;
    }
    let addrs: Vec<Address> = keys
        .iter()
        .map(|k| Address::from_public_key(&k.public_key()))
        .collect();
    let config = TangleConfig {
        confirmation_threshold: 3,
        capacity: CAPACITY,
        unsolid_capacity: UNSOLID,
        max_events: 1024,
        max_parent_age_ms: 20_000,
        retention_ms: 40_000,
        unsolid_timeout_ms: 10_000,
        kept_snapshots: 4,
        housekeeping_ms: 500,
        ..TangleConfig::default()
    };
    let policy = IssuerPolicy::new(IssuerProfile::device(0, 1_000));
    let mut tangle = Tangle::new(
        config,
        policy.clone(),
        TangleGenesis {
            timestamp: 0,
            balances: addrs.iter().map(|a| (*a, 1_000)).collect(),
        },
        MemoryStore::default(),
    );
    // Fed the same inputs, never crashes.
    let mut twin = tangle.clone();
    let mut known: Vec<TxId> = TangleGenesis::roots().to_vec();
    let mut finals: BTreeSet<TxId> = BTreeSet::new();
    let mut now: u64 = 1_000;
    for op in ops.into_iter().take(256) {
        let before = tangle.state_digest();
        let result: Option<Result<(), DagError>> = match op {
            Op::Bytes(bytes) => {
                let r = tangle.handle_bytes(&bytes, now);
                assert_eq!(r, twin.handle_bytes(&bytes, now));
                Some(r)
            }
            Op::Tx {
                issuer,
                sequence,
                ts_offset,
                parents,
                body,
            } => {
                let Some(tx) = build(
                    keys, &addrs, &known, now, issuer, sequence, ts_offset, &parents, body,
                ) else {
                    continue;
                };
                let r = tangle.handle_transaction(tx.clone(), now);
                assert_eq!(r, twin.handle_transaction(tx, now));
                Some(r)
            }
            Op::Advance(ms) => {
                now = now.saturating_add(u64::from(ms));
                None
            }
            Op::Backlog(raw) => {
                let txs: Vec<Transaction> = raw
                    .into_iter()
                    .take(80)
                    .filter_map(|b| {
                        let tx = build(
                            keys,
                            &addrs,
                            &known,
                            now,
                            b.issuer,
                            b.sequence,
                            b.ts_offset,
                            &b.parents,
                            b.body,
                        )?;
                        let Some((at, xor)) = b.flip else {
                            return Some(tx);
                        };
                        let mut bytes = tx.to_bytes();
                        let len = bytes.len().max(1);
                        if let Some(x) = bytes.get_mut(usize::from(at) % len) {
                            *x ^= xor;
                        }
                        Transaction::from_bytes(&bytes).ok()
                    })
                    .collect();
                let mut batched = tangle.clone();
                let together = batched.handle_transactions(txs.clone(), now);
                let one_by_one: Vec<_> = txs
                    .iter()
                    .cloned()
                    .map(|tx| tangle.handle_transaction(tx, now))
                    .collect();
                assert_eq!(together, one_by_one, "backlog differs from one by one");
                assert_eq!(batched.state_digest(), tangle.state_digest());
                let events = batched.take_events();
                assert_eq!(events, tangle.take_events());
                // The uncrashed twin takes the backlog path too.
                assert_eq!(twin.handle_transactions(txs, now), together);
                assert_eq!(twin.take_events(), events);
                known.extend(accepted_ids(&events));
                None
            }
            Op::Anchor { max, extra } => {
                let mut snap = twin.propose_snapshot(usize::from(max));
                if let Some(e) = extra {
                    if let Some(id) = known.get(usize::from(e) % known.len().max(1)) {
                        snap.finalized.push(*id);
                    }
                }
                let r = tangle.handle_anchor(&snap, now);
                assert_eq!(r, twin.handle_anchor(&snap, now));
                None
            }
            Op::Timeout => {
                tangle.handle_timeout(now);
                twin.handle_timeout(now);
                None
            }
            Op::Crash => {
                let disk = tangle.store().clone();
                tangle = match Tangle::restore(config, policy.clone(), disk) {
                    Ok(t) => t,
                    Err(e) => panic!("restore failed: {e:?}"),
                };
                assert_eq!(before, tangle.state_digest(), "restore is not exact");
                None
            }
        };
        let events = tangle.take_events();
        assert_eq!(events, twin.take_events(), "events differ from the twin");
        assert_eq!(
            tangle.state_digest(),
            twin.state_digest(),
            "state differs from the twin"
        );
        assert_eq!(tangle.poll_timeout(), twin.poll_timeout());
        known.extend(accepted_ids(&events));
        if let Some(Err(_)) = result {
            assert_eq!(
                before,
                tangle.state_digest(),
                "a rejected transaction changed state"
            );
        }
        assert_store_matches(&tangle);
        itc_fuzz::assert_bounded("tangle", tangle.len(), CAPACITY + 2);
        itc_fuzz::assert_bounded("unsolid", tangle.unsolid_len(), UNSOLID);
        for id in &finals {
            if let Some(s) = tangle.status(id) {
                assert_eq!(s, TxStatus::Final, "a final transaction rolled back");
            }
        }
        for id in &known {
            if tangle.status(id) == Some(TxStatus::Final) {
                finals.insert(*id);
            }
        }
        if known.len() > 1024 {
            known.drain(2..512);
        }
    }
});
