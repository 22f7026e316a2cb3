//! Versions and snapshots: a retained version answers exactly what a ledger freshly replayed to
//! its height answers, and a snapshot restores to the same state, root and proofs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use itc_crypto::{Decode, Encode, Hash};
use itc_ledger::system::Payouts;
use itc_ledger::{
    Actions, DeviceId, Grant, Ledger, SignedTransaction, SnapshotError, SnapshotLimits,
    StateHistory, StateKey,
};
use proptest::prelude::*;

/// One generated operation (indices into the fixture's actors).
#[derive(Debug, Clone)]
enum Op {
    Transfer {
        from: usize,
        to: usize,
        amount: u64,
    },
    Register {
        device: u32,
        owner: usize,
    },
    Handover {
        device: u32,
        to: usize,
    },
    Grant {
        device: u32,
        grantee: usize,
        expires: u64,
    },
    Revoke {
        device: u32,
        grantee: usize,
    },
    Fund {
        plan: u8,
        amount: u64,
    },
    Settle {
        plan: u8,
        to: usize,
    },
    Anchor,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..USERS, 0..USERS + 2, 0u64..300).prop_map(|(from, to, amount)| Op::Transfer { from, to, amount }),
        2 => (0u32..6, 0..USERS).prop_map(|(device, owner)| Op::Register { device, owner }),
        1 => (0u32..6, 0..USERS).prop_map(|(device, to)| Op::Handover { device, to }),
        1 => (0u32..6, 0..USERS, 1u64..40).prop_map(|(device, grantee, expires)| Op::Grant { device, grantee, expires }),
        1 => (0u32..6, 0..USERS).prop_map(|(device, grantee)| Op::Revoke { device, grantee }),
        1 => (0u8..3, 1u64..100).prop_map(|(plan, amount)| Op::Fund { plan, amount }),
        1 => (0u8..3, 0..USERS).prop_map(|(plan, to)| Op::Settle { plan, to }),
        1 => Just(Op::Anchor),
    ]
}

fn plan_id(p: u8) -> Hash {
    Hash([0xa0 + p; 32])
}

fn user_addr(w: &World, i: usize) -> itc_crypto::Address {
    w.users
        .get(i)
        .map_or_else(|| itc_crypto::Address([0xe0 + i as u8; 20]), addr)
}

/// Builds the transaction for `op` against the current state (right nonces; failures are fine:
/// they get receipts like any other).
fn build(
    w: &World,
    ledger: &Ledger,
    op: &Op,
    nonces: &mut std::collections::BTreeMap<usize, u64>,
) -> SignedTransaction {
    let mut nonce = |i: usize, ledger: &Ledger| {
        let k = if i == usize::MAX {
            &w.vendor
        } else {
            &w.users[i]
        };
        let n = nonces
            .entry(i)
            .or_insert_with(|| ledger.next_nonce(&addr(k)));
        let v = *n;
        *n += 1;
        v
    };
    let b = w.b;
    match op {
        Op::Transfer { from, to, amount } => {
            let n = nonce(*from, ledger);
            b.transfer(&w.users[*from], n, user_addr(w, *to), *amount)
                .unwrap()
        }
        Op::Register { device, owner } => {
            let n = nonce(usize::MAX, ledger);
            b.register_device(
                &w.vendor,
                n,
                VENDOR,
                device_key(*device),
                1,
                Some(w.users[*owner].public_key()),
            )
            .unwrap()
        }
        Op::Handover { device, to } => {
            let id = DeviceId::from_key(&device_key(*device));
            let owner = ledger
                .device(&id)
                .and_then(|r| w.users.iter().position(|u| u.public_key() == r.owner))
                .unwrap_or(0);
            let n = nonce(owner, ledger);
            b.transfer_ownership(&w.users[owner], n, id, w.users[*to].public_key())
                .unwrap()
        }
        Op::Grant {
            device,
            grantee,
            expires,
        } => {
            let id = DeviceId::from_key(&device_key(*device));
            let owner = ledger
                .device(&id)
                .and_then(|r| w.users.iter().position(|u| u.public_key() == r.owner))
                .unwrap_or(0);
            let n = nonce(owner, ledger);
            let grant = Grant {
                grantee: w.users[*grantee].public_key(),
                actions: Actions::CONTROL,
                expires_at: ledger.height() + expires,
            };
            b.grant_access(&w.users[owner], n, id, grant).unwrap()
        }
        Op::Revoke { device, grantee } => {
            let id = DeviceId::from_key(&device_key(*device));
            let owner = ledger
                .device(&id)
                .and_then(|r| w.users.iter().position(|u| u.public_key() == r.owner))
                .unwrap_or(0);
            let n = nonce(owner, ledger);
            b.revoke_access(&w.users[owner], n, id, w.users[*grantee].public_key())
                .unwrap()
        }
        Op::Fund { plan, amount } => {
            let n = nonce(usize::MAX, ledger);
            b.fund_plan(&w.vendor, n, plan_id(*plan), VENDOR, *amount)
                .unwrap()
        }
        Op::Settle { plan, to } => {
            let held = ledger.escrow(&plan_id(*plan)).map_or(1, |e| e.held.max(1));
            let payouts = Payouts::new([(user_addr(w, *to), held)]).unwrap();
            b.settle_plan(
                plan_id(*plan),
                payouts,
                ledger.validator_set(),
                &w.validators[..3],
            )
            .unwrap()
        }
        Op::Anchor => {
            let seq = ledger.meta().last_anchor.map_or(1, |s| s + 1);
            b.anchor_dag(
                seq,
                Hash([seq as u8; 32]),
                ledger.validator_set(),
                &w.validators[..3],
            )
            .unwrap()
        }
    }
}

/// Keys worth probing: every record the generated ops can touch, present or absent.
fn probe_keys(w: &World) -> Vec<StateKey> {
    let mut keys = vec![
        StateKey::Meta,
        StateKey::Validators,
        StateKey::Vendor(VENDOR),
    ];
    keys.extend((0..USERS + 2).map(|i| StateKey::Account(user_addr(w, i))));
    keys.push(StateKey::Account(addr(&w.vendor)));
    keys.extend((0..6).map(|d| StateKey::Device(DeviceId::from_key(&device_key(d)))));
    keys.extend((0..3).map(|p| StateKey::Plan(plan_id(p))));
    keys.extend((1..5).map(StateKey::Anchor));
    keys
}

/// Runs `blocks` on a fresh world; returns the encoded blocks.
fn blocks_of(w: &World, ops: &[Vec<Op>]) -> Vec<Vec<Vec<u8>>> {
    let mut ledger = w.ledger.clone();
    let mut out = vec![];
    for (i, block) in ops.iter().enumerate() {
        let mut nonces = Default::default();
        let txs: Vec<Vec<u8>> = block
            .iter()
            .map(|op| build(w, &ledger, op, &mut nonces).encode_to_vec())
            .collect();
        ledger.execute(&txs, i as u64 + 1).unwrap();
        out.push(txs);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Every retained version proves exactly what a ledger freshly replayed to that height
    /// proves (same values, same proofs, same root), and versions past the retention are gone.
    #[test]
    fn retained_versions_answer_like_a_fresh_replay(
        ops in proptest::collection::vec(proptest::collection::vec(op(), 0..5), 1..14),
        retain in 1usize..6,
    ) {
        let w = world();
        let blocks = blocks_of(&w, &ops);
        let keys = probe_keys(&w);
        let mut ledger = w.ledger.clone();
        let mut history = StateHistory::new(retain);
        history.record(ledger.version()).unwrap();
        for (i, txs) in blocks.iter().enumerate() {
            ledger.execute(txs, i as u64 + 1).unwrap();
            history.record(ledger.version()).unwrap();
        }
        let tip = blocks.len() as u64;
        prop_assert_eq!(history.len(), retain.min(blocks.len() + 1));
        for height in 0..=tip {
            let retained = height + (retain as u64) > tip;
            let version = history.at_height(height);
            prop_assert_eq!(version.is_some(), retained);
            let Some(version) = version else { continue };
            // A fresh ledger replayed to `height`.
            let mut fresh = w.ledger.clone();
            for (i, txs) in blocks.iter().take(height as usize).enumerate() {
                fresh.execute(txs, i as u64 + 1).unwrap();
            }
            prop_assert_eq!(version.root(), fresh.root());
            prop_assert_eq!(version.height(), height);
            prop_assert_eq!(history.by_root(&fresh.root()).map(|v| v.height()), Some(height));
            for key in &keys {
                let a = version.prove(key).unwrap();
                prop_assert_eq!(&a, &fresh.prove(key).unwrap());
                prop_assert!(a.verify(&version.root()).is_ok());
            }
            prop_assert_eq!(version.encode_snapshot(), fresh.encode_snapshot());
        }
        // Newer blocks never disturbed the old versions' roots.
        prop_assert_eq!(ledger.recompute_root(), ledger.root());
    }

    /// Snapshot → restore gives the same root, the same proofs and the same snapshot bytes, at
    /// every height; the restored ledger then executes the tail to the same roots.
    #[test]
    fn snapshot_restore_round_trips(
        ops in proptest::collection::vec(proptest::collection::vec(op(), 0..5), 1..10),
        cut in any::<prop::sample::Index>(),
    ) {
        let w = world();
        let blocks = blocks_of(&w, &ops);
        let keys = probe_keys(&w);
        let cut = cut.index(blocks.len() + 1);
        let mut ledger = w.ledger.clone();
        for (i, txs) in blocks.iter().take(cut).enumerate() {
            ledger.execute(txs, i as u64 + 1).unwrap();
        }
        let bytes = ledger.encode_snapshot();
        let mut restored = Ledger::restore_verified(&bytes, &SnapshotLimits::default(), &ledger.root()).unwrap();
        prop_assert_eq!(restored.height(), cut as u64);
        prop_assert_eq!(restored.encode_snapshot(), bytes);
        prop_assert_eq!(restored.recompute_root(), restored.root());
        for key in &keys {
            prop_assert_eq!(restored.prove(key).unwrap(), ledger.prove(key).unwrap());
        }
        // Replaying the tail on the restored ledger lands on the same roots.
        for (i, txs) in blocks.iter().enumerate().skip(cut) {
            let a = ledger.execute(txs, i as u64 + 1).unwrap();
            let b = restored.execute(txs, i as u64 + 1).unwrap();
            prop_assert_eq!(a, b);
        }
        prop_assert_eq!(restored.root(), ledger.root());
    }
}

/// Any single-bit change of a snapshot is refused or restores another state (never the same
/// root from different bytes): the encoding is canonical.
#[test]
fn every_bit_flip_is_refused_or_another_state() {
    let w = world();
    let blocks = blocks_of(
        &w,
        &[
            vec![
                Op::Register {
                    device: 1,
                    owner: 2,
                },
                Op::Fund { plan: 0, amount: 9 },
            ],
            vec![
                Op::Anchor,
                Op::Grant {
                    device: 1,
                    grantee: 3,
                    expires: 9,
                },
            ],
        ],
    );
    let mut ledger = w.ledger.clone();
    for (i, txs) in blocks.iter().enumerate() {
        ledger.execute(txs, i as u64 + 1).unwrap();
    }
    let bytes = ledger.encode_snapshot();
    let root = ledger.root();
    let limits = SnapshotLimits::default();
    let mut refused = 0;
    for bit in 0..bytes.len() * 8 {
        let mut b = bytes.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        match Ledger::restore(&b, &limits) {
            Ok(other) => assert_ne!(other.root(), root, "bit {bit} restored the same root"),
            Err(_) => refused += 1,
        }
        assert!(Ledger::restore_verified(&b, &limits, &root).is_err());
    }
    assert!(
        refused > bytes.len() * 4,
        "most flips must be refused outright"
    );
    // Truncations are refused.
    for len in 0..bytes.len() {
        assert!(
            Ledger::restore(&bytes[..len], &limits).is_err(),
            "prefix {len}"
        );
    }
}

/// Bad snapshots get the error that names what is wrong.
#[test]
fn bad_snapshots_are_typed() {
    let w = world();
    let ledger = w.ledger.clone();
    let bytes = ledger.encode_snapshot();
    let limits = SnapshotLimits::default();
    let header = itc_ledger::snapshot::SNAPSHOT_MAGIC.len();

    let mut wrong_magic = bytes.clone();
    wrong_magic[header - 1] = b'2';
    assert_eq!(
        Ledger::restore(&wrong_magic, &limits).err(),
        Some(SnapshotError::UnknownFormat)
    );

    let few = SnapshotLimits { max_records: 3 };
    assert!(matches!(
        Ledger::restore(&bytes, &few),
        Err(SnapshotError::TooManyRecords { max: 3, .. })
    ));

    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(matches!(
        Ledger::restore(&trailing, &limits),
        Err(SnapshotError::Decode(
            itc_crypto::DecodeError::TrailingBytes { .. }
        ))
    ));

    // Re-encode the records in another order, drop one, or break the books.
    let records = split_records(&bytes);
    let reencode = |recs: &[(StateKey, Vec<u8>)]| {
        let mut out = itc_ledger::snapshot::SNAPSHOT_MAGIC.to_vec();
        itc_crypto::encoding::write_varint(&mut out, recs.len() as u64);
        for (k, v) in recs {
            k.encode(&mut out);
            out.extend_from_slice(v);
        }
        out
    };
    assert_eq!(reencode(&records), bytes);
    let mut swapped = records.clone();
    swapped.swap(0, 1);
    assert!(matches!(
        Ledger::restore(&reencode(&swapped), &limits),
        Err(SnapshotError::OutOfOrder { .. })
    ));
    let mut doubled = records.clone();
    doubled.insert(1, records[0].clone());
    assert!(matches!(
        Ledger::restore(&reencode(&doubled), &limits),
        Err(SnapshotError::OutOfOrder { .. })
    ));
    let no_meta: Vec<_> = records
        .iter()
        .filter(|(k, _)| *k != StateKey::Meta)
        .cloned()
        .collect();
    assert_eq!(
        Ledger::restore(&reencode(&no_meta), &limits).err(),
        Some(SnapshotError::MissingRecord(StateKey::Meta))
    );
    let no_account: Vec<_> = records
        .iter()
        .filter(|(k, _)| *k != StateKey::Account(addr(&w.users[0])))
        .cloned()
        .collect();
    assert!(matches!(
        Ledger::restore(&reencode(&no_account), &limits),
        Err(SnapshotError::SupplyMismatch { .. })
    ));
    let other_root = Hash([7; 32]);
    assert!(matches!(
        Ledger::restore_verified(&bytes, &limits, &other_root),
        Err(SnapshotError::RootMismatch { .. })
    ));
}

/// Splits a snapshot into (key, value bytes) using the record decoders.
fn split_records(bytes: &[u8]) -> Vec<(StateKey, Vec<u8>)> {
    let ledger = Ledger::restore(bytes, &SnapshotLimits::default()).unwrap();
    let mut out = vec![];
    let mut r = itc_crypto::Reader::new(&bytes[itc_ledger::snapshot::SNAPSHOT_MAGIC.len()..]);
    let n = r.read_varint().unwrap();
    for _ in 0..n {
        let key = StateKey::decode(&mut r).unwrap();
        let value = ledger.value(&key).unwrap();
        r.read_bytes(value.len()).unwrap();
        out.push((key, value));
    }
    out
}

proptest! {
    /// Arbitrary bytes (and arbitrary bytes behind a valid header) never panic the restore.
    #[test]
    fn restore_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600), framed in any::<bool>()) {
        let mut bytes = if framed { itc_ledger::snapshot::SNAPSHOT_MAGIC.to_vec() } else { vec![] };
        bytes.extend_from_slice(&data);
        let _ = Ledger::restore(&bytes, &SnapshotLimits::default());
    }
}
