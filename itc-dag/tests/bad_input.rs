//! Adversarial table: every malformed, forged, under-worked, badly placed, duplicate or
//! oversized input is refused with its own typed error and leaves the tangle exactly as it was
//! (same state digest, no events).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use itc_crypto::encoding::{DecodeError, Encode};
use itc_crypto::CryptoError;
use itc_dag::tx::MAX_TX_BYTES;
use itc_dag::{
    AnchorNotice, DagError, Event, IssuerProfile, Payload, Tangle, TangleConfig, Transaction,
    TransactionBuilder, TxId, TxStatus,
};

const NOW: u64 = 10_000;

struct Fixture {
    tangle: Tangle,
    /// Attached at t=1000 (old enough to become "too old" later).
    old: TxId,
    /// Attached at t=9000 by issuer 1 (sequence 1).
    fresh: TxId,
    last_tx: Transaction,
}

fn setup(config: TangleConfig) -> Fixture {
    let mut tangle = tangle_with(config, vec![(addr(&key(1)), 1_000)]);
    let a = key(1);
    let t0 = tx(&a, 0, 1_000, &genesis_parents(), data(b"a0"), MIN_D);
    let old = t0.id();
    tangle.handle_transaction(t0, 1_000).unwrap();
    let g = genesis_parents();
    let t1 = tx(&a, 1, 9_000, &[old, g[0]], data(b"a1"), MIN_D);
    let fresh = t1.id();
    tangle.handle_transaction(t1.clone(), 9_000).unwrap();
    tangle.take_events();
    Fixture {
        tangle,
        old,
        fresh,
        last_tx: t1,
    }
}

enum Input {
    Tx(Box<Transaction>),
    Bytes(Vec<u8>),
}

fn tx_input(t: Transaction) -> Input {
    Input::Tx(Box::new(t))
}

struct Case {
    name: &'static str,
    config: fn(&mut TangleConfig),
    input: fn(&Fixture) -> Input,
    now: u64,
    expected: fn(&Fixture) -> DagError,
}

fn keep(_: &mut TangleConfig) {}

fn valid_bytes(f: &Fixture) -> Vec<u8> {
    let b = key(2);
    tx(&b, 0, NOW, &[f.fresh, f.old], data(b"ok"), MIN_D).encode_to_vec()
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "truncated encoding",
            config: keep,
            input: |f| {
                let mut v = valid_bytes(f);
                v.truncate(v.len() - 1);
                Input::Bytes(v)
            },
            now: NOW,
            expected: |_| {
                DagError::Decode(DecodeError::UnexpectedEnd {
                    needed: 64,
                    remaining: 63,
                })
            },
        },
        Case {
            name: "trailing byte",
            config: keep,
            input: |f| {
                let mut v = valid_bytes(f);
                v.push(0);
                Input::Bytes(v)
            },
            now: NOW,
            expected: |_| DagError::Decode(DecodeError::TrailingBytes { count: 1 }),
        },
        Case {
            name: "unknown version",
            config: keep,
            input: |f| {
                let mut v = valid_bytes(f);
                v[0] = 9;
                Input::Bytes(v)
            },
            now: NOW,
            expected: |_| {
                DagError::Decode(DecodeError::UnsupportedVersion {
                    type_name: "Transaction",
                    found: 9,
                })
            },
        },
        Case {
            name: "parents not sorted",
            config: keep,
            input: |f| {
                let mut v = valid_bytes(f);
                let (p0, p1) = (v[3..35].to_vec(), v[35..67].to_vec());
                v[3..35].copy_from_slice(&p1);
                v[35..67].copy_from_slice(&p0);
                Input::Bytes(v)
            },
            now: NOW,
            expected: |_| {
                DagError::Decode(DecodeError::NonCanonical {
                    type_name: "Transaction.parents",
                })
            },
        },
        Case {
            name: "duplicate parent",
            config: keep,
            input: |f| {
                let mut v = valid_bytes(f);
                let p0 = v[3..35].to_vec();
                v[35..67].copy_from_slice(&p0);
                Input::Bytes(v)
            },
            now: NOW,
            expected: |_| {
                DagError::Decode(DecodeError::NonCanonical {
                    type_name: "Transaction.parents",
                })
            },
        },
        Case {
            name: "one parent",
            config: keep,
            input: |f| {
                let mut v = valid_bytes(f);
                v[2] = 1;
                v.drain(35..67);
                Input::Bytes(v)
            },
            now: NOW,
            expected: |_| {
                DagError::Decode(DecodeError::NonCanonical {
                    type_name: "Transaction.parents",
                })
            },
        },
        Case {
            name: "nine parents",
            config: keep,
            input: |f| {
                let mut v = valid_bytes(f);
                v[2] = 9;
                Input::Bytes(v)
            },
            now: NOW,
            expected: |_| DagError::Decode(DecodeError::LengthOverLimit { len: 9, max: 8 }),
        },
        Case {
            name: "unknown payload kind",
            config: keep,
            input: |f| {
                let mut v = valid_bytes(f);
                v[67 + 32 + 16] = 7;
                Input::Bytes(v)
            },
            now: NOW,
            expected: |_| {
                DagError::Decode(DecodeError::UnknownVariant {
                    type_name: "Payload",
                    tag: 7,
                })
            },
        },
        Case {
            name: "data longer than MAX_DATA",
            config: keep,
            input: |f| {
                let mut v = valid_bytes(f);
                let at = 67 + 32 + 16 + 1;
                // Length varint 300 = 0xac 0x02 in place of 2.
                v.splice(at..at + 1, [0xac, 0x02]);
                Input::Bytes(v)
            },
            now: NOW,
            expected: |_| DagError::Decode(DecodeError::LengthOverLimit { len: 300, max: 256 }),
        },
        Case {
            name: "issuer key not on the curve",
            config: keep,
            input: |f| {
                let mut v = valid_bytes(f);
                v[67..99].copy_from_slice(&[0xff; 32]);
                Input::Bytes(v)
            },
            now: NOW,
            expected: |_| DagError::Decode(DecodeError::Crypto(CryptoError::InvalidPublicKey)),
        },
        Case {
            name: "oversized input",
            config: keep,
            input: |_| Input::Bytes(vec![1u8; MAX_TX_BYTES + 1]),
            now: NOW,
            expected: |_| DagError::Oversized {
                len: MAX_TX_BYTES + 1,
                max: MAX_TX_BYTES,
            },
        },
        Case {
            name: "forged: signature bit flipped",
            config: keep,
            input: |f| {
                let mut v = valid_bytes(f);
                let n = v.len();
                v[n - 1] ^= 1;
                Input::Bytes(v)
            },
            now: NOW,
            expected: |_| DagError::InvalidSignature,
        },
        Case {
            name: "forged: victim's key, work redone, old signature",
            config: keep,
            input: |f| {
                let mut v = valid_bytes(f);
                v[67..99].copy_from_slice(key(5).public_key().as_bytes());
                regrind(&mut v, MIN_D);
                Input::Bytes(v)
            },
            now: NOW,
            expected: |_| DagError::InvalidSignature,
        },
        Case {
            name: "forged: payload edited, work redone",
            config: keep,
            input: |f| {
                let mut v = valid_bytes(f);
                let e = essence_len(&v);
                v[e - 1] ^= 0x20;
                regrind(&mut v, MIN_D);
                Input::Bytes(v)
            },
            now: NOW,
            expected: |_| DagError::InvalidSignature,
        },
        Case {
            name: "under-PoW: nonce does not meet declared difficulty",
            config: keep,
            input: |f| {
                let b = key(2);
                let builder = TransactionBuilder::new(b.public_key(), 0, NOW)
                    .parents(&[f.fresh, f.old])
                    .unwrap()
                    .difficulty(20);
                let h = builder.essence_hash();
                let bad = (0..)
                    .find(|&n| itc_dag::pow::check(&h, n, 20).is_err())
                    .unwrap();
                tx_input(builder.nonce(bad).sign(&b).unwrap())
            },
            now: NOW,
            expected: |f| {
                let Input::Tx(t) = (cases()[14].input)(f) else {
                    unreachable!()
                };
                DagError::InsufficientPow {
                    declared: 20,
                    achieved: itc_dag::pow::pow_hash(&t.essence_hash(), t.nonce())
                        .leading_zero_bits(),
                }
            },
        },
        Case {
            name: "difficulty below the issuer's class",
            config: keep,
            input: |f| tx_input(tx(&key(2), 0, NOW, &[f.fresh, f.old], data(b"x"), 1)),
            now: NOW,
            expected: |_| DagError::DifficultyTooLow {
                declared: 1,
                required: MIN_D,
            },
        },
        Case {
            // Max depth counts from the newest held transaction (`fresh`, at 9 000): `old` is
            // 8 s behind it. (Measured from `now` alone, an idle tangle could not be re-entered.)
            name: "parent below max depth",
            config: |c| c.max_parent_age_ms = 5_000,
            input: |f| {
                let g = genesis_parents();
                tx_input(tx(&key(2), 0, NOW, &[f.old, g[1]], data(b"x"), MIN_D))
            },
            now: NOW,
            expected: |f| DagError::ParentTooOld(f.old),
        },
        Case {
            name: "timestamp before a parent",
            config: keep,
            input: |f| tx_input(tx(&key(2), 0, 8_000, &[f.fresh, f.old], data(b"x"), MIN_D)),
            now: NOW,
            expected: |f| DagError::TimestampBeforeParent(f.fresh),
        },
        Case {
            name: "timestamp in the future",
            config: keep,
            input: |f| {
                tx_input(tx(
                    &key(2),
                    0,
                    NOW + 5_001,
                    &[f.fresh, f.old],
                    data(b"x"),
                    MIN_D,
                ))
            },
            now: NOW,
            expected: |_| DagError::TimestampInFuture {
                timestamp: NOW + 5_001,
                now: NOW,
            },
        },
        Case {
            name: "transaction itself too old (replay of pruned history)",
            config: keep,
            input: |f| tx_input(tx(&key(2), 0, 9_500, &[f.fresh, f.old], data(b"x"), MIN_D)),
            now: 9_500 + 60_001,
            expected: |_| DagError::TooOld {
                timestamp: 9_500,
                now: 9_500 + 60_001,
            },
        },
        Case {
            name: "duplicate",
            config: keep,
            input: |f| tx_input(f.last_tx.clone()),
            now: NOW,
            expected: |f| DagError::Duplicate(f.fresh),
        },
        Case {
            name: "sequence replay",
            config: keep,
            input: |f| {
                tx_input(tx(
                    &key(1),
                    1,
                    NOW,
                    &[f.fresh, f.old],
                    data(b"other"),
                    MIN_D,
                ))
            },
            now: NOW,
            expected: |_| DagError::SequenceReplay { last: 1, got: 1 },
        },
        Case {
            name: "issuer timestamp regression",
            config: keep,
            input: |f| {
                let g = genesis_parents();
                tx_input(tx(&key(1), 2, 8_999, &[f.old, g[1]], data(b"x"), MIN_D))
            },
            now: NOW,
            expected: |_| DagError::TimestampRegression {
                last: 9_000,
                got: 8_999,
            },
        },
        Case {
            name: "anchor payload from a device",
            config: keep,
            input: |f| {
                let p = Payload::Anchor(AnchorNotice {
                    snapshot_seq: 1,
                    snapshot_root: itc_crypto::Hash([1; 32]),
                    chain_height: 5,
                });
                tx_input(tx(&key(2), 0, NOW, &[f.fresh, f.old], p, MIN_D))
            },
            now: NOW,
            expected: |_| DagError::UnauthorizedAnchor,
        },
        Case {
            name: "zero-amount transfer",
            config: keep,
            input: |f| {
                tx_input(tx(
                    &key(1),
                    2,
                    NOW,
                    &[f.fresh, f.old],
                    transfer(addr(&key(3)), 0, 0),
                    MIN_D,
                ))
            },
            now: NOW,
            expected: |_| DagError::ZeroAmount,
        },
        Case {
            name: "transfer to self",
            config: keep,
            input: |f| {
                tx_input(tx(
                    &key(1),
                    2,
                    NOW,
                    &[f.fresh, f.old],
                    transfer(addr(&key(1)), 5, 0),
                    MIN_D,
                ))
            },
            now: NOW,
            expected: |_| DagError::TransferToSelf,
        },
        Case {
            name: "unknown parent with a full unsolid pool",
            config: |c| c.unsolid_capacity = 0,
            input: |f| {
                let ghost = TxId(itc_crypto::Hash([0x42; 32]));
                tx_input(tx(&key(2), 0, NOW, &[f.fresh, ghost], data(b"x"), MIN_D))
            },
            now: NOW,
            expected: |_| DagError::UnsolidPoolFull { capacity: 0 },
        },
        Case {
            name: "tangle at capacity",
            config: |c| c.capacity = 4,
            input: |f| tx_input(tx(&key(2), 0, NOW, &[f.fresh, f.old], data(b"x"), MIN_D)),
            now: NOW,
            expected: |_| DagError::TangleFull { capacity: 4 },
        },
    ]
}

#[test]
fn every_bad_input_has_its_error_and_changes_nothing() {
    for case in cases() {
        let mut config = config();
        (case.config)(&mut config);
        let mut f = setup(config);
        let before = f.tangle.state_digest();
        let store_len = f.tangle.store().len();
        let input = (case.input)(&f);
        let got = match input {
            Input::Tx(t) => f.tangle.handle_transaction(*t, case.now),
            Input::Bytes(b) => f.tangle.handle_bytes(&b, case.now),
        };
        let expected = (case.expected)(&f);
        assert_eq!(got, Err(expected), "case: {}", case.name);
        assert_eq!(
            f.tangle.state_digest(),
            before,
            "case {} changed state",
            case.name
        );
        assert_eq!(f.tangle.store().len(), store_len, "case {}", case.name);
        assert_eq!(
            f.tangle.take_events().len(),
            0,
            "case {} emitted events",
            case.name
        );
    }
}

#[test]
fn the_valid_input_the_table_mutates_is_accepted() {
    // Guards the table: without the mutation each case's base input attaches.
    let mut f = setup(config());
    f.tangle.handle_bytes(&valid_bytes(&f), NOW).unwrap();
    assert!(matches!(
        f.tangle.take_events()[..],
        [Event::Attached {
            status: TxStatus::Pending,
            ..
        }]
    ));
    // A gateway allowed to anchor may publish the record the device was refused.
    let mut f = setup(config());
    let gw = key(2);
    let mut p = IssuerProfile::staked(MIN_D, 0, 10);
    p.may_anchor = true;
    f.tangle.policy_mut().register(&gw.public_key(), p);
    let rec = Payload::Anchor(AnchorNotice {
        snapshot_seq: 1,
        snapshot_root: itc_crypto::Hash([1; 32]),
        chain_height: 5,
    });
    let t = tx(&gw, 0, NOW, &[f.fresh, f.old], rec, MIN_D);
    assert!(f.tangle.handle_transaction(t, NOW).is_ok());
}

#[test]
fn unknown_parent_waits_requests_and_attaches_when_the_parent_arrives() {
    let mut f = setup(config());
    let b = key(2);
    let parent = tx(&b, 0, NOW, &[f.fresh, f.old], data(b"late"), MIN_D);
    let child = tx(
        &b,
        1,
        NOW + 1,
        &[parent.id(), f.fresh],
        data(b"early"),
        MIN_D,
    );
    f.tangle.handle_transaction(child.clone(), NOW + 1).unwrap();
    let events: Vec<_> = f.tangle.take_events();
    assert_eq!(
        events,
        vec![
            Event::RequestMissing(parent.id()),
            Event::Waiting {
                id: child.id(),
                missing: 1
            }
        ]
    );
    // The same child again is a duplicate while it waits.
    assert_eq!(
        f.tangle.handle_transaction(child.clone(), NOW + 1),
        Err(DagError::Duplicate(child.id()))
    );
    f.tangle
        .handle_transaction(parent.clone(), NOW + 2)
        .unwrap();
    assert_eq!(f.tangle.status(&child.id()), Some(TxStatus::Pending));
    assert_eq!(f.tangle.unsolid_len(), 0);
}

#[test]
fn waiting_transactions_expire_and_are_reported() {
    let mut f = setup(config());
    let ghost = TxId(itc_crypto::Hash([0x42; 32]));
    let t = tx(&key(2), 0, NOW, &[f.fresh, ghost], data(b"x"), MIN_D);
    f.tangle.handle_transaction(t.clone(), NOW).unwrap();
    f.tangle.take_events();
    f.tangle.handle_timeout(NOW + 30_001);
    let events: Vec<_> = f.tangle.take_events();
    assert!(events.contains(&Event::Dropped {
        id: t.id(),
        reason: DagError::UnsolidTimeout
    }));
    assert!(!f.tangle.knows(&t.id()));
}

#[test]
fn age_is_judged_on_arrival_so_a_late_parent_does_not_strand_its_child() {
    let mut f = setup(config());
    let b = key(2);
    // The child approves `old` (fine at NOW) and a parent that is still missing.
    let g = genesis_parents();
    let parent = tx(&b, 0, NOW, &[f.fresh, g[0]], data(b"p"), MIN_D);
    let child = tx(&b, 1, NOW, &[parent.id(), f.old], data(b"c"), MIN_D);
    f.tangle.handle_transaction(child.clone(), NOW).unwrap();
    // The parent arrives when `old` is below max depth: the child still attaches, because
    // other nodes that had the parent in time accepted it.
    let late = 1_000 + 60_001;
    let parent_id = parent.id();
    f.tangle.handle_transaction(parent, late).unwrap();
    assert_eq!(f.tangle.status(&child.id()), Some(TxStatus::Pending));
    // Traffic goes on at `late` (max depth is measured from the newest transaction)...
    let current = tx(
        &key(4),
        0,
        late,
        &[child.id(), parent_id],
        data(b"now"),
        MIN_D,
    );
    f.tangle.handle_transaction(current, late).unwrap();
    // ...and sent afresh at that time, the same shape as the child is refused.
    let lazy = tx(&key(3), 0, late, &[f.fresh, f.old], data(b"lazy"), MIN_D);
    assert_eq!(
        f.tangle.handle_transaction(lazy, late),
        Err(DagError::ParentTooOld(f.old))
    );
}

#[test]
fn a_requested_transaction_skips_first_hop_order_rules() {
    let mut f = setup(config());
    let x = key(4);
    let g = genesis_parents();
    // Issuer 4 publishes seq 0 then seq 1 without linking them; this node sees seq 1 first.
    let s0 = tx(&x, 0, NOW, &[f.fresh, g[0]], data(b"s0"), MIN_D);
    let s1 = tx(&x, 1, NOW + 1, &[f.fresh, g[1]], data(b"s1"), MIN_D);
    f.tangle.handle_transaction(s1, NOW + 1).unwrap();
    // Pushed unsolicited, seq 0 is now out of order and refused.
    assert_eq!(
        f.tangle.handle_transaction(s0.clone(), NOW + 2),
        Err(DagError::SequenceReplay { last: 1, got: 0 })
    );
    // But another node accepted it and someone built on it: once we ask for it, it is taken.
    let child = tx(&key(2), 0, NOW + 3, &[s0.id(), f.fresh], data(b"c"), MIN_D);
    f.tangle.handle_transaction(child.clone(), NOW + 3).unwrap();
    assert!(f.tangle.take_events().contains(&Event::Waiting {
        id: child.id(),
        missing: 1
    }));
    f.tangle.handle_transaction(s0.clone(), NOW + 4).unwrap();
    assert_eq!(f.tangle.status(&s0.id()), Some(TxStatus::Pending));
    assert_eq!(f.tangle.status(&child.id()), Some(TxStatus::Pending));
    // Objective rules still apply to requested transactions: below the class minimum is out.
    let cheap = tx(&key(6), 0, NOW, &[f.fresh, g[0]], data(b"cheap"), 1);
    let child2 = tx(
        &key(2),
        1,
        NOW + 5,
        &[cheap.id(), f.fresh],
        data(b"c2"),
        MIN_D,
    );
    f.tangle.handle_transaction(child2, NOW + 5).unwrap();
    assert_eq!(
        f.tangle.handle_transaction(cheap, NOW + 6),
        Err(DagError::DifficultyTooLow {
            declared: 1,
            required: MIN_D
        })
    );
}

mod arbitrary_input {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Arbitrary edits of a valid transaction never panic the tangle, and whatever it
        /// refuses leaves it unchanged.
        #[test]
        fn mutated_transactions_never_panic_and_refusals_change_nothing(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            cut in proptest::option::of(any::<prop::sample::Index>()),
        ) {
            let mut f = setup(config());
            let mut bytes = valid_bytes(&f);
            for (at, v) in edits {
                let i = at.index(bytes.len());
                bytes[i] = v;
            }
            if let Some(c) = cut {
                let n = c.index(bytes.len());
                bytes.truncate(n);
            }
            let before = f.tangle.state_digest();
            if f.tangle.handle_bytes(&bytes, NOW).is_err() {
                prop_assert_eq!(f.tangle.state_digest(), before);
                prop_assert_eq!(f.tangle.take_events().len(), 0);
            }
        }
    }
}
