//! Protocol-level tests of execution: every transaction type's effect, the bad-input table
//! (each bad input → its typed error, root unchanged), validator-set changes, anchors,
//! chaincode payouts, and the device's offline check of a proven record.
#![cfg(feature = "alloc")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use itc_crypto::encoding::DecodeError;
use itc_crypto::quorum::QuorumError;
use itc_crypto::{Decode, Encode, Hash, SecretKey};
use itc_ledger::system::Payouts;
use itc_ledger::tx::{AccountCall, AccountTx, MAX_TX_BYTES};
use itc_ledger::{
    Access, AccessError, Actions, AnchorRecord, BlockError, DeviceId, EntryProof, Grant, Ledger,
    OwnershipRecord, SignedTransaction, StateKey, StateProof, TxError, VendorId, VendorRecord,
    MAX_GRANTS,
};

/// A world where user 0 owns device 0 and user 1 holds a CONTROL grant until height 100.
fn world_with_device() -> (World, DeviceId) {
    let mut w = world();
    let tx =
        w.b.register_device(
            &w.vendor,
            0,
            VENDOR,
            device_key(0),
            7,
            Some(w.users[0].public_key()),
        )
        .unwrap();
    run(&mut w.ledger, &tx).unwrap();
    let dev = DeviceId::from_key(&device_key(0));
    let grant = Grant {
        grantee: w.users[1].public_key(),
        actions: Actions::CONTROL,
        expires_at: 100,
    };
    let tx = w.b.grant_access(&w.users[0], 0, dev, grant).unwrap();
    run(&mut w.ledger, &tx).unwrap();
    (w, dev)
}

#[test]
fn ownership_lifecycle() {
    let (mut w, dev) = world_with_device();
    let rec = w.ledger.device(&dev).unwrap().clone();
    assert_eq!(rec.owner, w.users[0].public_key());
    assert_eq!(rec.vendor, VENDOR);
    assert_eq!(rec.model, 7);
    assert_eq!(rec.revocations, 0);
    assert_eq!(rec.grants().len(), 1);
    assert_eq!(
        rec.authorize(&w.users[1].public_key(), Actions::CONTROL, 50),
        Ok(Access::Delegate { expires_at: 100 })
    );
    assert_eq!(w.ledger.next_nonce(&addr(&w.vendor)), 1);
    assert_eq!(w.ledger.next_nonce(&addr(&w.users[0])), 1);

    // Revoke: grant gone, epoch bumped.
    let tx =
        w.b.revoke_access(&w.users[0], 1, dev, w.users[1].public_key())
            .unwrap();
    run(&mut w.ledger, &tx).unwrap();
    let rec = w.ledger.device(&dev).unwrap();
    assert!(rec.grants().is_empty());
    assert_eq!(rec.revocations, 1);

    // Grant again, then transfer: the new owner starts clean.
    let grant = Grant {
        grantee: w.users[3].public_key(),
        actions: Actions::READ,
        expires_at: 500,
    };
    run(
        &mut w.ledger,
        &w.b.grant_access(&w.users[0], 2, dev, grant).unwrap(),
    )
    .unwrap();
    let tx =
        w.b.transfer_ownership(&w.users[0], 3, dev, w.users[2].public_key())
            .unwrap();
    run(&mut w.ledger, &tx).unwrap();
    let rec = w.ledger.device(&dev).unwrap();
    assert_eq!(rec.owner, w.users[2].public_key());
    assert!(rec.grants().is_empty());
    assert_eq!(rec.revocations, 2);
    // The old owner has lost control.
    let tx =
        w.b.transfer_ownership(&w.users[0], 4, dev, w.users[0].public_key())
            .unwrap();
    assert_eq!(run(&mut w.ledger, &tx), Err(TxError::NotOwner(dev)));
}

#[test]
fn vendor_is_default_owner_and_grant_slots_are_recycled() {
    let mut w = world();
    let tx =
        w.b.register_device(&w.vendor, 0, VENDOR, device_key(5), 1, None)
            .unwrap();
    run(&mut w.ledger, &tx).unwrap();
    let dev = DeviceId::from_key(&device_key(5));
    assert_eq!(w.ledger.device(&dev).unwrap().owner, w.vendor.public_key());
    // Fill every slot with grants that lapse at height 50.
    let mut nonce = 1;
    for i in 0..MAX_GRANTS as u32 {
        let g = Grant {
            grantee: key(300 + i).public_key(),
            actions: Actions::READ,
            expires_at: 50,
        };
        run(
            &mut w.ledger,
            &w.b.grant_access(&w.vendor, nonce, dev, g).unwrap(),
        )
        .unwrap();
        nonce += 1;
    }
    let extra = Grant {
        grantee: key(400).public_key(),
        actions: Actions::READ,
        expires_at: 1_000,
    };
    let tx = w.b.grant_access(&w.vendor, nonce, dev, extra).unwrap();
    assert_eq!(run(&mut w.ledger, &tx), Err(TxError::TooManyGrants));
    // Once the old grants have lapsed, the same transaction fits.
    while w.ledger.height() < 50 {
        w.ledger
            .execute::<Vec<u8>>(&[], w.ledger.height() + 1)
            .unwrap();
    }
    run(&mut w.ledger, &tx).unwrap();
    assert_eq!(w.ledger.device(&dev).unwrap().grants().len(), 1);
}

#[test]
fn transfers_move_tokens_and_keep_supply() {
    let mut w = world();
    let supply = w.ledger.total_supply();
    assert_eq!(supply, USERS as u64 * USER_FUNDS + VENDOR_FUNDS);
    let to = addr(&w.users[1]);
    run(
        &mut w.ledger,
        &w.b.transfer(&w.users[0], 0, to, 300).unwrap(),
    )
    .unwrap();
    assert_eq!(w.ledger.account(&addr(&w.users[0])).balance, 700);
    assert_eq!(w.ledger.account(&to).balance, 1_300);
    // To a fresh address, then everything back out of it.
    let fresh = key(500);
    run(
        &mut w.ledger,
        &w.b.transfer(&w.users[1], 0, addr(&fresh), 1_300).unwrap(),
    )
    .unwrap();
    assert_eq!(w.ledger.account(&to).balance, 0);
    run(
        &mut w.ledger,
        &w.b.transfer(&fresh, 0, addr(&w.users[4]), 1_300).unwrap(),
    )
    .unwrap();
    // Self-transfer only moves the nonce.
    run(
        &mut w.ledger,
        &w.b.transfer(&w.users[4], 0, addr(&w.users[4]), 10).unwrap(),
    )
    .unwrap();
    assert_eq!(w.ledger.account(&addr(&w.users[4])).balance, 2_300);
    assert_eq!(w.ledger.next_nonce(&addr(&w.users[4])), 1);
    assert_eq!(tokens(&w.ledger), u128::from(supply));
}

/// Each bad input yields its own typed error and leaves the state exactly as an empty batch
/// would (checked inside `run`).
#[test]
fn bad_input_table() {
    let (w, dev) = world_with_device();
    let b = w.b;
    let u = &w.users;
    let height = w.ledger.height() + 1;
    let unknown = DeviceId::from_key(&device_key(99));
    let good = b.transfer(&u[2], 0, addr(&u[3]), 5).unwrap();

    let mut bad_sig = good.clone();
    if let SignedTransaction::Account(tx) = &mut bad_sig {
        tx.signature.0[5] ^= 1;
    }
    let other_chain = itc_ledger::builder::TxBuilder::new(CHAIN + 1)
        .transfer(&u[2], 0, addr(&u[3]), 5)
        .unwrap();
    let good_bytes = good.encode_to_vec();
    let mut trailing = good_bytes.clone();
    trailing.push(0);
    let mut unknown_tag = good_bytes.clone();
    unknown_tag[0] = 9;
    // A call tag byte no variant uses: right after tag(1) + signer(32) + nonce(8).
    let mut unknown_call = good_bytes.clone();
    unknown_call[41] = 77;
    let expired = Grant {
        grantee: u[3].public_key(),
        actions: Actions::READ,
        expires_at: height,
    };
    let no_actions = Grant {
        actions: Actions::NONE,
        expires_at: height + 10,
        ..expired
    };
    let three = &w.validators[..3];
    let two = &w.validators[..2];
    let outsiders: Vec<SecretKey> = (600..604).map(key).collect();
    let vendor2 = VendorRecord {
        registry_key: u[4].public_key(),
        firmware_key: u[4].public_key(),
    };

    let cases: Vec<(&str, Vec<u8>, TxError)> = vec![
        (
            "bad signature",
            bad_sig.encode_to_vec(),
            TxError::InvalidSignature,
        ),
        (
            "signed for another chain",
            other_chain.encode_to_vec(),
            TxError::InvalidSignature,
        ),
        (
            "nonce too high",
            b.transfer(&u[2], 1, addr(&u[3]), 5)
                .unwrap()
                .encode_to_vec(),
            TxError::BadNonce {
                expected: 0,
                found: 1,
            },
        ),
        (
            "replayed nonce",
            b.grant_access(
                &u[0],
                0,
                dev,
                Grant {
                    expires_at: 500,
                    ..expired
                },
            )
            .unwrap()
            .encode_to_vec(),
            TxError::BadNonce {
                expected: 1,
                found: 0,
            },
        ),
        (
            "unknown device",
            b.transfer_ownership(&u[0], 1, unknown, u[1].public_key())
                .unwrap()
                .encode_to_vec(),
            TxError::UnknownDevice(unknown),
        ),
        (
            "not the owner (a delegate cannot transfer)",
            b.transfer_ownership(&u[1], 0, dev, u[1].public_key())
                .unwrap()
                .encode_to_vec(),
            TxError::NotOwner(dev),
        ),
        (
            "not the owner revokes",
            b.revoke_access(&u[2], 0, dev, u[1].public_key())
                .unwrap()
                .encode_to_vec(),
            TxError::NotOwner(dev),
        ),
        (
            "expired grant",
            b.grant_access(&u[0], 1, dev, expired)
                .unwrap()
                .encode_to_vec(),
            TxError::GrantExpired {
                expires_at: height,
                height,
            },
        ),
        (
            "grant of nothing",
            b.grant_access(&u[0], 1, dev, no_actions)
                .unwrap()
                .encode_to_vec(),
            TxError::NoActions,
        ),
        (
            "revoke a grant that does not exist",
            b.revoke_access(&u[0], 1, dev, u[4].public_key())
                .unwrap()
                .encode_to_vec(),
            TxError::NoSuchGrant,
        ),
        (
            "overdraft",
            b.transfer(&u[2], 0, addr(&u[3]), USER_FUNDS + 1)
                .unwrap()
                .encode_to_vec(),
            TxError::InsufficientBalance {
                balance: USER_FUNDS,
                amount: USER_FUNDS + 1,
            },
        ),
        (
            "zero amount",
            b.transfer(&u[2], 0, addr(&u[3]), 0)
                .unwrap()
                .encode_to_vec(),
            TxError::ZeroAmount,
        ),
        (
            "register by a non-vendor key",
            b.register_device(&u[2], 0, VENDOR, device_key(9), 1, None)
                .unwrap()
                .encode_to_vec(),
            TxError::NotVendorKey(VENDOR),
        ),
        (
            "register under an unknown vendor",
            b.register_device(&w.vendor, 1, VendorId(9), device_key(9), 1, None)
                .unwrap()
                .encode_to_vec(),
            TxError::UnknownVendor(VendorId(9)),
        ),
        (
            "register a device twice",
            b.register_device(&w.vendor, 1, VENDOR, device_key(0), 1, None)
                .unwrap()
                .encode_to_vec(),
            TxError::DeviceAlreadyRegistered(dev),
        ),
        (
            "fund a plan from a non-vendor key",
            b.fund_plan(&u[2], 0, Hash([1; 32]), VENDOR, 5)
                .unwrap()
                .encode_to_vec(),
            TxError::NotVendorKey(VENDOR),
        ),
        (
            "fund a plan beyond the balance",
            b.fund_plan(&w.vendor, 1, Hash([1; 32]), VENDOR, VENDOR_FUNDS + 1)
                .unwrap()
                .encode_to_vec(),
            TxError::InsufficientBalance {
                balance: VENDOR_FUNDS,
                amount: VENDOR_FUNDS + 1,
            },
        ),
        (
            "malformed: truncated",
            good_bytes[..good_bytes.len() - 1].to_vec(),
            TxError::Malformed(DecodeError::UnexpectedEnd {
                needed: 64,
                remaining: 63,
            }),
        ),
        (
            "malformed: trailing byte",
            trailing,
            TxError::Malformed(DecodeError::TrailingBytes { count: 1 }),
        ),
        (
            "malformed: unknown envelope tag",
            unknown_tag,
            TxError::Malformed(DecodeError::UnknownVariant {
                type_name: "SignedTransaction",
                tag: 9,
            }),
        ),
        (
            "malformed: unknown call tag",
            unknown_call,
            TxError::Malformed(DecodeError::UnknownVariant {
                type_name: "AccountCall",
                tag: 77,
            }),
        ),
        (
            "malformed: empty",
            vec![],
            TxError::Malformed(DecodeError::UnexpectedEnd {
                needed: 1,
                remaining: 0,
            }),
        ),
        (
            "oversized",
            vec![0u8; MAX_TX_BYTES + 1],
            TxError::TooLarge {
                len: MAX_TX_BYTES + 1,
                max: MAX_TX_BYTES,
            },
        ),
        (
            "system tx without a quorum",
            b.anchor_dag(1, Hash([3; 32]), &w.set, two)
                .unwrap()
                .encode_to_vec(),
            TxError::QuorumRejected(QuorumError::InsufficientPower {
                have: 2,
                need_above: 2,
            }),
        ),
        (
            "system tx certified by another set",
            b.anchor_dag(
                1,
                Hash([3; 32]),
                &validator_set(&outsiders),
                &outsiders[..3],
            )
            .unwrap()
            .encode_to_vec(),
            TxError::QuorumRejected(QuorumError::InvalidSignature { index: 0 }),
        ),
        (
            "validator change skipping an epoch",
            b.set_validators(2, validator_set(&outsiders), &w.set, three)
                .unwrap()
                .encode_to_vec(),
            TxError::ValidatorEpochMismatch {
                expected: 1,
                found: 2,
            },
        ),
        (
            "re-register a vendor",
            b.register_vendor(VENDOR, vendor2, &w.set, three)
                .unwrap()
                .encode_to_vec(),
            TxError::VendorAlreadyRegistered(VENDOR),
        ),
        (
            "settle an unknown plan",
            b.settle_plan(Hash([8; 32]), Payouts::default(), &w.set, three)
                .unwrap()
                .encode_to_vec(),
            TxError::UnknownPlan(Hash([8; 32])),
        ),
    ];

    for (name, bytes, expected) in cases {
        let mut l = w.ledger.clone();
        assert_eq!(run_bytes(&mut l, &bytes), Err(expected), "case: {name}");
        assert_eq!(l.device(&dev), w.ledger.device(&dev), "case: {name}");
    }
    // Sanity: the good transaction the corruptions came from does apply.
    let mut l = w.ledger.clone();
    assert_eq!(run(&mut l, &good), Ok(()));
}

#[test]
fn any_bit_flip_of_a_transaction_is_rejected_without_effect() {
    let w = world();
    let tx = w.b.transfer(&w.users[0], 0, addr(&w.users[1]), 10).unwrap();
    let bytes = tx.encode_to_vec();
    // Every bit would be ~1000 executions; stride through all byte positions and bit offsets.
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 1 << (i % 8);
        let mut l = w.ledger.clone();
        let r = run_bytes(&mut l, &bad);
        // Flipping the receiver or amount still fails: the signature covers them. The only
        // flips that could apply would be a second valid encoding, which must not exist.
        assert!(r.is_err(), "flip at byte {i} was accepted");
    }
}

#[test]
fn batch_errors_change_nothing() {
    let mut w = world();
    w.ledger.execute::<Vec<u8>>(&[], 5).unwrap();
    let root = w.ledger.root();
    let tx = w.b.transfer(&w.users[0], 0, addr(&w.users[1]), 10).unwrap();
    assert_eq!(
        w.ledger.execute(&[tx.encode_to_vec()], 5),
        Err(BlockError::HeightNotIncreasing { last: 5, given: 5 })
    );
    assert_eq!(
        w.ledger.execute(&[tx.encode_to_vec()], 4),
        Err(BlockError::HeightNotIncreasing { last: 5, given: 4 })
    );
    assert_eq!(w.ledger.root(), root);
    assert_eq!(w.ledger.height(), 5);
}

#[test]
fn validator_set_change_takes_effect_within_the_batch() {
    let mut w = world();
    let next_keys: Vec<SecretKey> = (700..707).map(key).collect();
    let next = validator_set(&next_keys);
    let b = w.b;
    let change = b
        .set_validators(1, next.clone(), &w.set, &w.validators[1..])
        .unwrap();
    let anchor_old = b
        .anchor_dag(1, Hash([1; 32]), &w.set, &w.validators[..3])
        .unwrap();
    let anchor_new = b
        .anchor_dag(2, Hash([2; 32]), &next, &next_keys[..5])
        .unwrap();
    let out = w
        .ledger
        .execute_transactions(&[change.clone(), anchor_old, anchor_new], 1)
        .unwrap();
    // The change is handed to consensus as one value: the set PBFT's `Executed` takes.
    assert_eq!(out.next_validator_set.as_deref(), Some(&next));
    assert_eq!(out.receipts[0].result, Ok(()));
    assert!(matches!(
        out.receipts[1].result,
        Err(TxError::QuorumRejected(_))
    ));
    assert_eq!(out.receipts[2].result, Ok(()));
    assert_eq!(w.ledger.validator_set(), &next);
    assert_eq!(w.ledger.validator_epoch(), 1);
    // Replaying the change fails: wrong set now, and the epoch moved on.
    let out = w.ledger.execute_transactions(&[change], 2).unwrap();
    assert!(out.next_validator_set.is_none());
    assert!(out.receipts[0].result.is_err());
    // The validator record is provable.
    let p = w.ledger.prove(&StateKey::Validators).unwrap();
    assert!(p.verify(&w.ledger.root()).is_ok());
    let rec = itc_ledger::ValidatorRecord::decode_bytes(p.value.as_ref().unwrap()).unwrap();
    assert_eq!(rec.set, next);
}

#[test]
fn anchors_increase_and_are_provable() {
    let mut w = world();
    let b = w.b;
    let q = &w.validators[..3];
    run(
        &mut w.ledger,
        &b.anchor_dag(5, Hash([5; 32]), &w.set, q).unwrap(),
    )
    .unwrap();
    let at = w.ledger.height();
    for seq in [5, 4] {
        let tx = b.anchor_dag(seq, Hash([6; 32]), &w.set, q).unwrap();
        assert_eq!(
            run(&mut w.ledger, &tx),
            Err(TxError::AnchorNotIncreasing {
                last: 5,
                found: seq
            })
        );
    }
    run(
        &mut w.ledger,
        &b.anchor_dag(9, Hash([9; 32]), &w.set, q).unwrap(),
    )
    .unwrap();
    assert_eq!(w.ledger.meta().last_anchor, Some(9));

    // A light client proves "root R was anchored at sequence 5", and that 6 never was.
    let root = w.ledger.root();
    let p = w.ledger.prove(&StateKey::Anchor(5)).unwrap();
    let wire = p.encode_to_vec();
    let p = EntryProof::decode_bytes(&wire).unwrap();
    p.verify(&root).unwrap();
    let rec = AnchorRecord::decode_bytes(p.value.as_ref().unwrap()).unwrap();
    assert_eq!(
        rec,
        AnchorRecord {
            snapshot_root: Hash([5; 32]),
            height: at
        }
    );
    let absent = w.ledger.prove(&StateKey::Anchor(6)).unwrap();
    assert_eq!(absent.value, None);
    absent.verify(&root).unwrap();
    // Claiming sequence 6 holds that record fails.
    assert!(absent
        .proof
        .verify_record(&root, &StateKey::Anchor(6), Some(&rec))
        .is_err());
}

#[test]
fn plans_are_funded_and_settled_exactly_once() {
    let mut w = world();
    let b = w.b;
    let q = &w.validators[..3];
    let plan = Hash([7; 32]);
    run(
        &mut w.ledger,
        &b.fund_plan(&w.vendor, 0, plan, VENDOR, 300).unwrap(),
    )
    .unwrap();
    run(
        &mut w.ledger,
        &b.fund_plan(&w.vendor, 1, plan, VENDOR, 50).unwrap(),
    )
    .unwrap();
    assert_eq!(w.ledger.escrow(&plan).unwrap().held, 350);
    assert_eq!(
        w.ledger.account(&addr(&w.vendor)).balance,
        VENDOR_FUNDS - 350
    );
    let supply = u128::from(w.ledger.total_supply());
    assert_eq!(tokens(&w.ledger), supply);

    // A second vendor cannot top up this plan.
    let v2 = key(800);
    let rec2 = VendorRecord {
        registry_key: v2.public_key(),
        firmware_key: v2.public_key(),
    };
    run(
        &mut w.ledger,
        &b.register_vendor(VendorId(2), rec2, &w.set, q).unwrap(),
    )
    .unwrap();
    run(
        &mut w.ledger,
        &b.transfer(&w.users[0], 0, addr(&v2), 10).unwrap(),
    )
    .unwrap();
    assert_eq!(
        run(
            &mut w.ledger,
            &b.fund_plan(&v2, 0, plan, VendorId(2), 5).unwrap()
        ),
        Err(TxError::PlanVendorMismatch {
            plan,
            owner: VENDOR
        })
    );

    let payees = [addr(&w.users[3]), addr(&w.users[4]), addr(&key(900))];
    let short = Payouts::new([(payees[0], 100), (payees[1], 100)]).unwrap();
    assert_eq!(
        run(
            &mut w.ledger,
            &b.settle_plan(plan, short, &w.set, q).unwrap()
        ),
        Err(TxError::PayoutMismatch {
            held: 350,
            paid: 200
        })
    );
    let over = Payouts::new([(payees[0], u64::MAX), (payees[1], 1)]).unwrap();
    assert_eq!(
        run(
            &mut w.ledger,
            &b.settle_plan(plan, over, &w.set, q).unwrap()
        ),
        Err(TxError::PayoutMismatch {
            held: 350,
            paid: u64::MAX
        })
    );
    let exact = Payouts::new([(payees[0], 100), (payees[1], 200), (payees[2], 50)]).unwrap();
    let settle = b.settle_plan(plan, exact, &w.set, q).unwrap();
    run(&mut w.ledger, &settle).unwrap();
    assert_eq!(w.ledger.account(&payees[2]).balance, 50);
    assert_eq!(w.ledger.account(&payees[1]).balance, USER_FUNDS + 200);
    assert!(w.ledger.escrow(&plan).unwrap().settled);
    assert_eq!(tokens(&w.ledger), supply);
    // Neither the settlement nor a new funding of the same plan id goes through again.
    assert_eq!(run(&mut w.ledger, &settle), Err(TxError::PlanSettled(plan)));
    assert_eq!(
        run(
            &mut w.ledger,
            &b.fund_plan(&w.vendor, 2, plan, VENDOR, 5).unwrap()
        ),
        Err(TxError::PlanSettled(plan))
    );
    // Payout lists are canonical.
    assert_eq!(
        Payouts::new([(payees[0], 0)]),
        Err(TxError::ZeroPayout(payees[0]))
    );
}

#[test]
fn device_checks_its_record_offline() {
    let (mut w, dev) = world_with_device();
    let vendor_key = StateKey::Vendor(VENDOR);
    run(
        &mut w.ledger,
        &w.b.transfer(&w.users[2], 0, addr(&w.users[3]), 1).unwrap(),
    )
    .unwrap();
    // What the full node sends: record bytes and proof bytes; the root comes from a header.
    let root = w.ledger.root();
    let entry = w.ledger.prove(&StateKey::Device(dev)).unwrap();
    let record_bytes = entry.value.clone().unwrap();
    let proof_bytes = entry.proof.encode_to_vec();
    assert!(proof_bytes.len() < 1024);

    // What the device does, with no allocator involved.
    let proof = StateProof::decode_bytes(&proof_bytes).unwrap();
    proof
        .verify_entry(&root, &StateKey::Device(dev), Some(&record_bytes))
        .unwrap();
    let rec = OwnershipRecord::decode_bytes(&record_bytes).unwrap();
    assert_eq!(rec.device_id(), dev);
    assert_eq!(
        rec.authorize(&w.users[0].public_key(), Actions::ALL, 5),
        Ok(Access::Owner)
    );
    assert!(rec
        .authorize(&w.users[1].public_key(), Actions::CONTROL, 99)
        .is_ok());
    assert_eq!(
        rec.authorize(&w.users[1].public_key(), Actions::CONTROL, 100),
        Err(AccessError::GrantExpired { expires_at: 100 })
    );
    // A forged record (owner swapped) does not verify.
    let mut forged = rec.clone();
    forged.owner = w.users[4].public_key();
    assert!(proof
        .verify_record(&root, &StateKey::Device(dev), Some(&forged))
        .is_err());
    // The vendor's firmware key is provable the same way.
    let v = w.ledger.prove(&vendor_key).unwrap();
    v.verify(&root).unwrap();
    let vr = VendorRecord::decode_bytes(v.value.as_ref().unwrap()).unwrap();
    assert_eq!(vr.firmware_key, w.firmware.public_key());
}

#[test]
fn same_batches_same_roots_and_receipts() {
    let build = || {
        let w = world();
        let b = w.b;
        let txs = vec![
            b.transfer(&w.users[0], 0, addr(&w.users[1]), 10).unwrap(),
            b.transfer(&w.users[0], 0, addr(&w.users[1]), 10).unwrap(), // replay → BadNonce
            b.register_device(&w.vendor, 0, VENDOR, device_key(1), 3, None)
                .unwrap(),
        ];
        (w.ledger, txs)
    };
    let (mut a, txs) = build();
    let (mut c, _) = build();
    let oa = a.execute_transactions(&txs, 1).unwrap();
    let bytes: Vec<Vec<u8>> = txs.iter().map(Encode::encode_to_vec).collect();
    let oc = c.execute(&bytes, 1).unwrap();
    assert_eq!(oa, oc);
    assert_eq!(oa.receipts_root(), oc.receipts_root());
    assert_eq!(oa.applied(), 2);
    assert_eq!(
        oa.receipts[1].committed().code,
        TxError::BadNonce {
            expected: 1,
            found: 0
        }
        .code()
    );
    assert_eq!(oa.receipts[0].tx_id, txs[0].id());
    // Receipts commit to their status: a different outcome is a different root.
    let mut changed = oa.clone();
    changed.receipts[1].result = Ok(());
    assert_ne!(changed.receipts_root(), oa.receipts_root());
}

#[test]
fn genesis_rules() {
    let w = world();
    let a = addr(&w.users[0]);
    let g = |balances: Vec<(itc_crypto::Address, u64)>| itc_ledger::GenesisState {
        chain_id: 1,
        validators: w.set.clone(),
        balances,
        vendors: vec![],
    };
    assert_eq!(
        Ledger::from_genesis(&g(vec![(a, 1), (a, 2)])).unwrap_err(),
        itc_ledger::GenesisError::DuplicateAccount(a)
    );
    assert_eq!(
        Ledger::from_genesis(&g(vec![(a, u64::MAX), (addr(&w.users[1]), 1)])).unwrap_err(),
        itc_ledger::GenesisError::SupplyOverflow
    );
    let l = Ledger::from_genesis(&g(vec![(a, 5)])).unwrap();
    assert_eq!(l.root(), l.recompute_root());
    assert_eq!(l.height(), 0);
}

#[test]
fn account_tx_signing_digest_binds_every_field() {
    let k = key(1);
    let base = AccountTx {
        signer: k.public_key(),
        nonce: 3,
        call: AccountCall::Transfer {
            to: addr(&key(2)),
            amount: 9,
        },
    };
    let d = base.signing_digest(CHAIN);
    assert_ne!(d, AccountTx { nonce: 4, ..base }.signing_digest(CHAIN));
    assert_ne!(
        d,
        AccountTx {
            call: AccountCall::Transfer {
                to: addr(&key(2)),
                amount: 10
            },
            ..base
        }
        .signing_digest(CHAIN)
    );
    assert_ne!(d, base.signing_digest(CHAIN + 1));
}

/// Signatures are batch-verified up front; the verdicts must be exactly single verification's,
/// and a batch must end where executing its transactions one batch each would (bar the height
/// in the metadata, so the comparison is against a per-transaction run of the same batch).
#[test]
fn batched_signature_checks_match_one_by_one() {
    let w = world();
    let bad = [3usize, 7, 15];
    let txs: Vec<SignedTransaction> = (0..20usize)
        .map(|i| {
            let from = &w.users[i % USERS];
            let mut tx =
                w.b.transfer(
                    from,
                    (i / USERS) as u64,
                    addr(&w.users[(i + 1) % USERS]),
                    1 + i as u64,
                )
                .unwrap();
            if bad.contains(&i) {
                if let SignedTransaction::Account(t) = &mut tx {
                    t.signature.0[10] ^= 0x40;
                }
            }
            tx
        })
        .collect();
    let mut batched = w.ledger.clone();
    let out = batched.execute_transactions(&txs, 1).unwrap();
    for (i, r) in out.receipts.iter().enumerate() {
        if bad.contains(&i) {
            assert_eq!(r.result, Err(TxError::InvalidSignature), "tx {i}");
        } else if bad.iter().any(|b| b % USERS == i % USERS && *b < i) {
            // A later transaction of a signer whose earlier one failed has a nonce gap.
            assert!(matches!(r.result, Err(TxError::BadNonce { .. })), "tx {i}");
        } else {
            assert_eq!(r.result, Ok(()), "tx {i}");
        }
    }
    // The same verdicts one signature at a time.
    for (tx, r) in txs.iter().zip(&out.receipts) {
        if let SignedTransaction::Account(stx) = tx {
            assert_eq!(
                stx.verify(CHAIN).is_ok(),
                r.result != Err(TxError::InvalidSignature)
            );
        }
    }
    // Same balances as executing each transaction alone.
    let mut single = w.ledger.clone();
    for tx in &txs {
        let h = single.height() + 1;
        single
            .execute_transactions(std::slice::from_ref(tx), h)
            .unwrap();
    }
    for u in &w.users {
        assert_eq!(single.account(&addr(u)), batched.account(&addr(u)));
    }
    assert_eq!(tokens(&batched), u128::from(batched.total_supply()));
}
