//! Co-signed system transactions: certified only by a quorum of validators' own signatures,
//! and only for what each validator's own view supports.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

use itc_chain::cosign::{
    tangle_holds_snapshot, Approvals, CoSignature, CoSigner, CosignConfig, CosignError,
    CosignMessage, CosignPolicy, Refusal, SystemProposal, ValidatorPolicy,
};
use itc_chain::testkit::{set_of, validator_key, CHAIN_ID};
use itc_crypto::quorum::ValidatorSet;
use itc_crypto::{Address, Blame, Decode, Encode, Hash, SecretKey};
use itc_dag::{
    IssuerPolicy, IssuerProfile, MemoryStore as DagStore, Payload, Tangle, TangleConfig,
    TangleGenesis as DagGenesis, TransactionBuilder,
};
use itc_ledger::system::Payouts;
use itc_ledger::{
    GenesisState, Ledger, SignedTransaction, SystemCall, TxError, VendorId, VendorRecord,
};
use proptest::prelude::*;

fn keys() -> Vec<SecretKey> {
    (0..4).map(validator_key).collect()
}

fn signers(keys: &[SecretKey], set: &ValidatorSet) -> Vec<CoSigner<SecretKey>> {
    keys.iter()
        .map(|k| CoSigner::new(CHAIN_ID, k.clone(), set.clone(), CosignConfig::default()))
        .collect()
}

fn vendor_call(id: u32) -> SystemCall {
    SystemCall::RegisterVendor {
        vendor: VendorId(id),
        record: VendorRecord {
            registry_key: validator_key(50).public_key(),
            firmware_key: validator_key(51).public_key(),
        },
    }
}

fn approving(call: &SystemCall) -> Approvals {
    let mut a = Approvals::new();
    a.approve(CHAIN_ID, call);
    a
}

fn ledger(set: &ValidatorSet) -> Ledger {
    Ledger::from_genesis(&GenesisState {
        chain_id: CHAIN_ID,
        validators: set.clone(),
        balances: vec![(Address([1; 20]), 100)],
        vendors: vec![],
    })
    .unwrap()
}

fn share_of(message: &CosignMessage) -> CoSignature {
    match message {
        CosignMessage::Share(s) => *s,
        CosignMessage::Propose { share, .. } => *share,
    }
}

#[test]
fn a_system_transaction_needs_a_quorum_of_the_validators_own_signatures() {
    let keys = keys();
    let set = set_of(&keys);
    let call = vendor_call(9);
    let mut approvals = approving(&call);
    let mut v = signers(&keys, &set);
    let proposal = SystemProposal::new(CHAIN_ID, call.clone()).unwrap();
    let digest = proposal.digest();

    // Validator 0 proposes (its own share), validator 1 agrees: 2 of 4, no certificate.
    let propose = v[0]
        .propose(proposal.clone(), &mut approvals.clone())
        .unwrap();
    let out = v[1].handle(propose.clone(), &mut approvals).unwrap();
    assert!(out.certified.is_none());
    let share1 = share_of(&out.broadcast.unwrap());
    assert!(v[0]
        .handle(CosignMessage::Share(share1), &mut approvals)
        .unwrap()
        .certified
        .is_none());

    // A forged share claiming validator 2: refused, counts nothing.
    let mut forged = CoSignature::decode_bytes(&share1.encode_to_vec()).unwrap();
    let mut bytes = forged.encode_to_vec();
    bytes[1 + 32..1 + 64].copy_from_slice(validator_key(2).public_key().as_bytes());
    forged = CoSignature::decode_bytes(&bytes).unwrap();
    let err = v[0]
        .handle(CosignMessage::Share(forged), &mut approvals)
        .unwrap_err();
    assert_eq!(
        err,
        CosignError::ForgedShare {
            signer: validator_key(2).public_key()
        }
    );
    assert_eq!(err.blame(), Blame::Peer);

    // A real signature by a key outside the set: refused.
    let outsider = CoSignature::sign(&proposal, &validator_key(77)).unwrap();
    let err = v[0]
        .handle(CosignMessage::Share(outsider), &mut approvals)
        .unwrap_err();
    assert_eq!(
        err,
        CosignError::NotAValidator {
            signer: validator_key(77).public_key()
        }
    );

    // The same validator twice: refused as a duplicate.
    let err = v[0]
        .handle(CosignMessage::Share(share1), &mut approvals)
        .unwrap_err();
    assert_eq!(
        err,
        CosignError::DuplicateShare {
            signer: share1.signer()
        }
    );
    assert_eq!(err.blame(), Blame::Ignorable);
    assert_eq!(v[0].collected_power(&digest), Some(2));

    // Nothing of the above lets the ledger accept the call: a certificate of the two real
    // signatures is rejected.
    let partial = call.clone().certify(CHAIN_ID, &set, &keys[..2]).unwrap();
    let mut l = ledger(&set);
    let out = l
        .execute_transactions(&[SignedTransaction::System(partial)], 1)
        .unwrap();
    assert!(matches!(
        out.receipts[0].result,
        Err(TxError::QuorumRejected(_))
    ));

    // Validator 2's own share completes the quorum: the transaction comes out once.
    let out2 = v[2].handle(propose, &mut approvals).unwrap();
    let share2 = share_of(&out2.broadcast.unwrap());
    let tx = v[0]
        .handle(CosignMessage::Share(share2), &mut approvals)
        .unwrap()
        .certified
        .expect("3 of 4");
    let out = l.execute_transactions(&[tx], 2).unwrap();
    assert_eq!(out.receipts[0].result, Ok(()));
    assert!(l.vendor(&VendorId(9)).is_some());
    // Late shares change nothing.
    let out3 = v[3]
        .handle(
            CosignMessage::Propose {
                proposal: proposal.clone(),
                share: CoSignature::sign(&proposal, &keys[0]).unwrap(),
            },
            &mut approvals,
        )
        .unwrap();
    let share3 = share_of(&out3.broadcast.unwrap());
    assert_eq!(
        v[0].handle(CosignMessage::Share(share3), &mut approvals),
        Err(CosignError::AlreadyCertified { digest })
    );
}

#[test]
fn a_validator_signs_only_what_its_operator_approved() {
    let keys = keys();
    let set = set_of(&keys);
    let call = vendor_call(3);
    let proposal = SystemProposal::new(CHAIN_ID, call.clone()).unwrap();
    let mut v = signers(&keys, &set);
    let propose = v[0]
        .propose(proposal.clone(), &mut approving(&call))
        .unwrap();
    let err = v[1].handle(propose, &mut Approvals::new()).unwrap_err();
    assert_eq!(
        err,
        CosignError::Refused(Refusal::NotApproved {
            digest: proposal.digest()
        })
    );
    assert_eq!(v[1].pending(), 0);
}

/// A tangle with `n` data transactions from one issuer (confirmation threshold 2).
fn tangle_with(n: u64) -> (Tangle<DagStore>, Vec<itc_dag::Transaction>) {
    let config = TangleConfig {
        confirmation_threshold: 2,
        ..TangleConfig::default()
    };
    let policy = IssuerPolicy::new(IssuerProfile::device(0, 100));
    let mut tangle = Tangle::new(config, policy, DagGenesis::default(), DagStore::default());
    let key = SecretKey::from_bytes(&[9u8; 32]).unwrap();
    let mut parents = DagGenesis::roots().to_vec();
    let mut txs = vec![];
    for seq in 0..n {
        let tx = TransactionBuilder::new(key.public_key(), seq, 100 + seq)
            .parents(&parents)
            .unwrap()
            .payload(Payload::data(b"reading").unwrap())
            .sign(&key)
            .unwrap();
        parents = vec![tx.id(), DagGenesis::roots()[0]];
        tangle.handle_transaction(tx.clone(), 100 + seq).unwrap();
        txs.push(tx);
    }
    (tangle, txs)
}

#[test]
fn a_validator_refuses_to_cosign_an_anchor_its_tangle_does_not_hold() {
    let keys = keys();
    let set = set_of(&keys);
    let (full, _) = tangle_with(5);
    let snapshot = full.propose_snapshot(1_000);
    assert!(!snapshot.finalized.is_empty());
    let (behind, _) = tangle_with(1); // has seen only the first transaction
    assert_eq!(tangle_holds_snapshot(&full, &snapshot), Ok(()));
    assert!(matches!(
        tangle_holds_snapshot(&behind, &snapshot),
        Err(Refusal::Anchor(_))
    ));

    let proposal = SystemProposal::anchor(CHAIN_ID, snapshot.clone());
    assert!(matches!(
        proposal.call(),
        SystemCall::AnchorDag { sequence: 1, snapshot_root } if *snapshot_root == snapshot.root()
    ));
    let settlements = BTreeMap::new();
    let approvals = Approvals::new();
    let policy = |t| ValidatorPolicy {
        tangle: Some(t),
        settlements: &settlements,
        approvals: &approvals,
    };
    let mut v = signers(&keys, &set);
    let propose = v[0].propose(proposal.clone(), &mut policy(&full)).unwrap();
    // The lagging validator refuses; the ones holding the snapshot sign.
    let err = v[1]
        .handle(propose.clone(), &mut policy(&behind))
        .unwrap_err();
    assert!(matches!(err, CosignError::Refused(Refusal::Anchor(_))));
    assert_eq!(err.blame(), Blame::Ignorable);
    let mut certified = None;
    for i in 2..4 {
        let out = v[i].handle(propose.clone(), &mut policy(&full)).unwrap();
        let share = share_of(&out.broadcast.unwrap());
        certified = certified.or(v[0]
            .handle(CosignMessage::Share(share), &mut policy(&full))
            .unwrap()
            .certified);
    }
    let tx = certified.expect("0, 2 and 3 signed");
    let mut l = ledger(&set);
    let out = l.execute_transactions(&[tx], 1).unwrap();
    assert_eq!(out.receipts[0].result, Ok(()));
    assert_eq!(l.anchor(1).unwrap().snapshot_root, snapshot.root());
}

#[test]
fn a_settlement_is_signed_only_if_it_equals_the_one_computed_here() {
    let keys = keys();
    let set = set_of(&keys);
    let plan = Hash([0xaa; 32]);
    let mine = Payouts::new([(Address([1; 20]), 7), (Address([2; 20]), 3)]).unwrap();
    let theirs = Payouts::new([(Address([1; 20]), 8), (Address([2; 20]), 2)]).unwrap();
    let mut settlements = BTreeMap::new();
    settlements.insert(plan, mine.clone());
    let approvals = Approvals::new();
    let mut policy = ValidatorPolicy::<DagStore> {
        tangle: None,
        settlements: &settlements,
        approvals: &approvals,
    };
    let ok = SystemProposal::new(
        CHAIN_ID,
        SystemCall::SettlePlan {
            plan_id: plan,
            payouts: mine,
        },
    )
    .unwrap();
    let bad = SystemProposal::new(
        CHAIN_ID,
        SystemCall::SettlePlan {
            plan_id: plan,
            payouts: theirs,
        },
    )
    .unwrap();
    let unknown = SystemProposal::new(
        CHAIN_ID,
        SystemCall::SettlePlan {
            plan_id: Hash([1; 32]),
            payouts: Payouts::default(),
        },
    )
    .unwrap();
    assert_eq!(policy.review(&ok), Ok(()));
    assert_eq!(
        policy.review(&bad),
        Err(Refusal::SettlementDiffers { plan_id: plan })
    );
    assert_eq!(
        Refusal::SettlementDiffers { plan_id: plan }.blame(),
        Blame::Peer
    );
    assert!(matches!(
        policy.review(&unknown),
        Err(Refusal::SettlementUnknown { .. })
    ));
    // No tangle wired: anchors are never signed.
    let (t, _) = tangle_with(2);
    let anchor = SystemProposal::anchor(CHAIN_ID, t.propose_snapshot(10));
    assert_eq!(policy.review(&anchor), Err(Refusal::NotHandled));
    let mut v = signers(&keys, &set);
    let propose = v[0].propose(ok, &mut policy).unwrap();
    assert!(v[1]
        .handle(propose, &mut policy)
        .unwrap()
        .broadcast
        .is_some());
}

#[test]
fn bounds_and_early_shares() {
    let keys = keys();
    let set = set_of(&keys);
    let mut v = signers(&keys, &set);
    // A proposer may keep only so many proposals pending here.
    let mut last = None;
    for id in 0..5u32 {
        let call = vendor_call(100 + id);
        let p = SystemProposal::new(CHAIN_ID, call.clone()).unwrap();
        let share = CoSignature::sign(&p, &keys[0]).unwrap();
        let m = CosignMessage::Propose { proposal: p, share };
        last = Some(v[1].handle(m, &mut approving(&call)));
    }
    assert_eq!(
        last.unwrap(),
        Err(CosignError::TooManyPending {
            proposer: keys[0].public_key()
        })
    );
    assert_eq!(v[1].pending(), 4);
    // A share that arrives before its proposal is kept and counted when the proposal comes.
    let call = vendor_call(200);
    let p = SystemProposal::new(CHAIN_ID, call.clone()).unwrap();
    let early2 = CoSignature::sign(&p, &keys[2]).unwrap();
    let early3 = CoSignature::sign(&p, &keys[3]).unwrap();
    let mut a = approving(&call);
    assert!(v[0]
        .handle(CosignMessage::Share(early2), &mut a)
        .unwrap()
        .certified
        .is_none());
    assert!(v[0]
        .handle(CosignMessage::Share(early3), &mut a)
        .unwrap()
        .certified
        .is_none());
    let propose = v[1].propose(p.clone(), &mut a).unwrap();
    // v[0] reviews, signs, and with 1, 2, 3 already in hand the quorum is there at once.
    let out = v[0].handle(propose, &mut a).unwrap();
    assert!(out.certified.is_some());
    // Wrong chain, and an AnchorDag without its snapshot, are refused.
    let other = SystemProposal::new(CHAIN_ID + 1, call.clone()).unwrap();
    let share = CoSignature::sign(&other, &keys[1]).unwrap();
    assert_eq!(
        v[2].handle(
            CosignMessage::Propose {
                proposal: other,
                share
            },
            &mut a
        ),
        Err(CosignError::WrongChain {
            expected: CHAIN_ID,
            found: CHAIN_ID + 1
        })
    );
    assert_eq!(
        SystemProposal::new(
            CHAIN_ID,
            SystemCall::AnchorDag {
                sequence: 1,
                snapshot_root: Hash::ZERO
            }
        ),
        Err(CosignError::AnchorWithoutSnapshot)
    );
    // A proposer share over another digest.
    let share = CoSignature::sign(
        &SystemProposal::new(CHAIN_ID, vendor_call(1)).unwrap(),
        &keys[1],
    )
    .unwrap();
    assert!(matches!(
        v[2].handle(CosignMessage::Propose { proposal: p, share }, &mut a),
        Err(CosignError::ShareMismatch { .. })
    ));
}

#[test]
fn messages_round_trip_and_refuse_any_change() {
    let (t, _) = tangle_with(3);
    let snapshot = t.propose_snapshot(10);
    let anchor = SystemProposal::anchor(CHAIN_ID, snapshot);
    let vendor = SystemProposal::new(CHAIN_ID, vendor_call(5)).unwrap();
    for proposal in [anchor, vendor] {
        let share = CoSignature::sign(&proposal, &validator_key(1)).unwrap();
        let message = CosignMessage::Propose { proposal, share };
        let bytes = message.encode_to_vec();
        assert_eq!(CosignMessage::decode_bytes(&bytes).unwrap(), message);
        for len in 0..bytes.len() {
            assert!(CosignMessage::decode_bytes(&bytes[..len]).is_err());
        }
        // Any bit flip is refused or decodes to another message whose share no longer verifies
        // for its proposal (the signature binds the digest, the digest binds the call).
        for bit in (0..bytes.len() * 8).step_by(7) {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            if let Ok(CosignMessage::Propose { proposal, share }) = CosignMessage::decode_bytes(&b)
            {
                assert!(
                    !(share.is_valid() && share.digest() == proposal.digest()),
                    "bit {bit} still verifies"
                );
            }
        }
    }
}

proptest! {
    #[test]
    fn decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = CosignMessage::decode_bytes(&data);
        let _ = SystemProposal::decode_bytes(&data);
        let _ = CoSignature::decode_bytes(&data);
    }
}
