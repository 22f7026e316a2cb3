//! The adversarial table: each bad input is rejected with its typed error and the client's
//! state is exactly what it was before (a proven fork, which halts the client on purpose, is
//! tested separately at the end).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use itc_crypto::encoding::{write_varint, Decode, DecodeError, Encode};
use itc_crypto::merkle::InclusionProof;
use itc_crypto::quorum::{QuorumCertificate, Validator, ValidatorSet};
use itc_crypto::{keccak256, Address, Hash, MerkleError, SecretKey, Signature, Signer};
use itc_ledger::StateProofError;
use itc_ledger::{Account, AnchorRecord, StateKey, StateProof};
use itc_pbft::certificate::{commit_digest, CommitCertificate};
use itc_pbft::BlockHeader;
use itc_spv::messages::Request;
use itc_spv::mmr::{Mmr, MmrError, MmrProof};
use itc_spv::proofs::dag_tx_id;
use itc_spv::server::{BatchRequest, Certificate, StateSnapshot};
use itc_spv::testkit::{TestChain, BLOCK_INTERVAL_MS, GENESIS_MS};
use itc_spv::{Config, LightClient, Response, SpvError, TrustAnchor};

type Client = LightClient<16, 8>;
const EPOCH: u64 = 10;
/// The clock of every call: just after the fixture's 30 blocks (one a second).
const NOW: u64 = GENESIS_MS + 30 * BLOCK_INTERVAL_MS + 1;

struct Fixture {
    chain: TestChain,
    client: Client,
    dag_ids: Vec<Hash>,
}

/// A chain of 30 blocks (sets change after 10, 20): an account and a DAG anchor in the state
/// after block 2, two commands in block 3. The client has verified headers 0..=9.
fn fixture() -> Fixture {
    let mut chain = TestChain::new(4, EPOCH);
    let dag_ids: Vec<Hash> = (0..5u8).map(|i| keccak256(&[i])).collect();
    let snapshot_root =
        chain
            .server_mut()
            .store_mut()
            .add_dag_snapshot(1, b"dag snapshot header", &dag_ids);
    chain.extend(1);
    let state = StateSnapshot::from_records([
        (
            StateKey::Account(Address([1; 20])),
            Account {
                balance: 50,
                nonce: 1,
            }
            .encode_to_vec(),
        ),
        (
            StateKey::Anchor(1),
            AnchorRecord {
                snapshot_root,
                height: 2,
            }
            .encode_to_vec(),
        ),
    ]);
    chain.push_block(vec![], Some(state)).unwrap();
    let batch = (0..2)
        .map(|i| BatchRequest {
            client: 1,
            request_id: i,
            payload: vec![i as u8; 5],
        })
        .collect();
    chain.push_block(batch, None).unwrap();
    chain.extend(27);
    let mut client = Client::new(chain.anchor(), Config::new(EPOCH), NOW).unwrap();
    for h in 1..=9 {
        let header = *chain.server().store().header(h).unwrap();
        let cert = chain.certificate(h).unwrap();
        client
            .verify_header(&header, &cert, None::<&ValidatorSet<8>>, NOW)
            .unwrap();
    }
    Fixture {
        chain,
        client,
        dag_ids,
    }
}

impl Fixture {
    fn header(&self, h: u64) -> BlockHeader {
        *self.chain.server().store().header(h).unwrap()
    }
    fn next_set(&mut self, h: u64) -> ValidatorSet {
        let e = self.chain.epoch_of(h + 1);
        self.chain.set_of_epoch(e)
    }
}

/// Runs `op` on a copy of the client and checks it fails with `expected`, leaving the copy
/// identical to the original.
fn rejects(
    client: &Client,
    expected: SpvError,
    op: impl FnOnce(&mut Client) -> Result<(), SpvError>,
) {
    let mut c = client.clone();
    assert_eq!(op(&mut c), Err(expected));
    assert_eq!(&c, client, "state changed after {expected:?}");
}

fn seq(
    c: &mut Client,
    h: &BlockHeader,
    cert: &Certificate,
    next: Option<&ValidatorSet>,
) -> Result<(), SpvError> {
    c.verify_header(h, cert, next, NOW).map(|_| ())
}

fn resign(keys: &[SecretKey], set: &ValidatorSet, h: &BlockHeader) -> Certificate {
    let d = commit_digest(h.view, h.height, &h.hash());
    let mut c = Certificate::new(h.view);
    for k in keys {
        if let Some(i) = set.index_of(&k.public_key()) {
            c.insert(i, k.sign_digest(&d).unwrap()).unwrap();
        }
    }
    c
}

#[test]
fn certificates() {
    let mut f = fixture();
    let h10 = f.header(10);
    let next = f.next_set(10);
    let good = f.chain.certificate(10).unwrap();

    // Forged certificate: one signature byte flipped.
    let mut forged = good.clone();
    let votes = forged.votes().clone();
    let mut q = QuorumCertificate::<Vec<Signature>>::new();
    for (n, (i, s)) in votes.iter().enumerate() {
        let mut s = *s;
        if n == 0 {
            s.0[10] ^= 1;
        }
        q.insert(i, s).unwrap();
    }
    forged = CommitCertificate::from_votes(forged.view(), q);
    let first = forged.signers().iter_ones().next().unwrap();
    rejects(&f.client, SpvError::ForgedSignature { index: first }, |c| {
        seq(c, &h10, &forged, Some(&next))
    });

    // Certificate from the wrong set: epoch 5's keys signing in epoch 0's slots.
    let strangers = f.chain.keys_of_epoch(5).to_vec();
    let d = commit_digest(0, 10, &h10.hash());
    let mut wrong = Certificate::new(0);
    for (i, k) in strangers.iter().enumerate().take(4) {
        wrong.insert(i, k.sign_digest(&d).unwrap()).unwrap();
    }
    rejects(&f.client, SpvError::ForgedSignature { index: 0 }, |c| {
        seq(c, &h10, &wrong, Some(&next))
    });

    // Under-quorum certificate: 2 of 4.
    let two = f.chain.sign(&h10, &[0, 1]);
    rejects(
        &f.client,
        SpvError::InsufficientQuorum {
            have: 2,
            need_above: 2,
        },
        |c| seq(c, &h10, &two, Some(&next)),
    );

    // Duplicate signer counted twice: validator A's signature in A's and B's slots.
    let a_sig = good.votes().signatures()[0];
    let mut dup = QuorumCertificate::<Vec<Signature>>::new();
    let signers: Vec<usize> = good.signers().iter_ones().collect();
    dup.insert(signers[0], a_sig).unwrap();
    dup.insert(signers[1], a_sig).unwrap();
    dup.insert(signers[2], good.votes().signatures()[2])
        .unwrap();
    let dup = CommitCertificate::from_votes(0, dup);
    let err = {
        let mut c = f.client.clone();
        let e = seq(&mut c, &h10, &dup, Some(&next)).unwrap_err();
        assert_eq!(c, f.client);
        e
    };
    assert_eq!(err, SpvError::ForgedSignature { index: signers[1] });
    // ...and the same signer twice in one bitmap cannot even be built or decoded.
    let mut once = QuorumCertificate::<Vec<Signature>>::new();
    once.insert(0, a_sig).unwrap();
    assert!(once.insert(0, a_sig).is_err());
    let mut bytes = good.encode_to_vec();
    bytes.extend_from_slice(&a_sig.0); // an extra signature for no extra bit
    assert_eq!(
        Certificate::decode_bytes(&bytes),
        Err(DecodeError::TrailingBytes { count: 64 })
    );
    // ...and a set listing one key twice is refused.
    let k = SecretKey::from_bytes(&[9; 32]).unwrap().public_key();
    assert!(ValidatorSet::<8>::new([Validator { key: k, power: 1 }; 2]).is_err());
    let mut set_bytes = vec![2u8];
    for _ in 0..2 {
        Validator { key: k, power: 1 }.encode(&mut set_bytes);
    }
    assert!(matches!(
        ValidatorSet::<8>::decode_bytes(&set_bytes),
        Err(DecodeError::NonCanonical { .. })
    ));

    // Votes from a view before the proposal.
    let mut h_view = h10;
    h_view.view = 3;
    rejects(
        &f.client,
        SpvError::ViewBeforeProposal {
            cert_view: 0,
            header_view: 3,
        },
        |c| seq(c, &h_view, &good, Some(&next)),
    );
    // A certificate naming a signer outside the set.
    let mut out = QuorumCertificate::<Vec<Signature>>::new();
    for i in [0, 1, 7] {
        out.insert(i, a_sig).unwrap();
    }
    rejects(
        &f.client,
        SpvError::SignerOutOfRange { index: 7, len: 4 },
        |c| seq(c, &h10, &CommitCertificate::from_votes(0, out), Some(&next)),
    );
}

#[test]
fn chaining_and_set_changes() {
    let mut f = fixture();
    let h10 = f.header(10);
    let next = f.next_set(10);
    let good = f.chain.certificate(10).unwrap();

    // Wrong height: block 11 offered as the next header.
    let h11 = f.header(11);
    let c11 = f.chain.certificate(11).unwrap();
    rejects(
        &f.client,
        SpvError::HeightGap {
            expected: 10,
            found: 11,
        },
        |c| seq(c, &h11, &c11, None),
    );
    // Wrong parent, validly certified.
    let mut orphan = h10;
    orphan.previous = Hash([1; 32]);
    let c = f.chain.sign_all(&orphan);
    rejects(&f.client, SpvError::WrongParent { height: 10 }, |cl| {
        seq(cl, &orphan, &c, Some(&next))
    });
    // Time must move forward.
    let mut late = h10;
    late.timestamp_ms = f.header(9).timestamp_ms;
    let c = f.chain.sign_all(&late);
    rejects(
        &f.client,
        SpvError::TimestampNotIncreasing { height: 10 },
        |cl| seq(cl, &late, &c, Some(&next)),
    );

    // A set change not signed by the old set: an attacker's set names itself.
    let evil_keys: Vec<SecretKey> = (100..104u8)
        .map(|i| SecretKey::from_bytes(&[i; 32]).unwrap())
        .collect();
    let evil: ValidatorSet = ValidatorSet::new(evil_keys.iter().map(|k| Validator {
        key: k.public_key(),
        power: 1,
    }))
    .unwrap();
    let mut usurper = h10;
    usurper.validator_set_hash = evil.hash();
    usurper.next_validator_set_hash = evil.hash();
    let c = resign(&evil_keys, &evil, &usurper);
    rejects(
        &f.client,
        SpvError::WrongValidatorSet { height: 10 },
        |cl| seq(cl, &usurper, &c, None),
    );
    // ...or keeps the old set's name but hands over to itself, signed by itself.
    let mut handover = h10;
    handover.next_validator_set_hash = evil.hash();
    let c = resign(&evil_keys, &f.chain.set_of_epoch(0), &handover);
    assert!(c.signers().count() == 0);
    let c_evil = resign(&evil_keys, &evil, &handover);
    rejects(&f.client, SpvError::ForgedSignature { index: 0 }, |cl| {
        seq(cl, &handover, &c_evil, Some(&evil))
    });
    // The next set must be supplied and must be the one the header names.
    rejects(
        &f.client,
        SpvError::MissingNextValidatorSet { height: 10 },
        |cl| seq(cl, &h10, &good, None),
    );
    rejects(
        &f.client,
        SpvError::NextValidatorSetMismatch { height: 10 },
        |cl| seq(cl, &h10, &good, Some(&evil)),
    );
    // Sets change only at epoch boundaries.
    let mut c2 = f.client.clone();
    seq(&mut c2, &h10, &good, Some(&next)).unwrap();
    let mut off = f.header(11);
    off.next_validator_set_hash = evil.hash();
    let c = f.chain.sign_all(&off);
    rejects(&c2, SpvError::SetChangeOffBoundary { height: 11 }, |cl| {
        seq(cl, &off, &c, Some(&evil))
    });
    // With the right set the hand-over goes through, and block 11 needs the new set.
    let set0 = f.chain.set_of_epoch(0);
    let h11 = f.header(11);
    let c11_old_set = resign(f.chain.keys_of_epoch(0), &set0, &h11);
    assert!(seq(&mut c2.clone(), &f.header(11), &c11_old_set, None).is_err());
    seq(
        &mut c2,
        &f.header(11),
        &f.chain.certificate(11).unwrap(),
        None,
    )
    .unwrap();

    // Replayed old header (in the ring) and an old header below it.
    let h5 = f.header(5);
    let c5 = f.chain.certificate(5).unwrap();
    rejects(
        &f.client,
        SpvError::StaleHeader { height: 5, tip: 9 },
        |cl| seq(cl, &h5, &c5, None),
    );
    let mut small: LightClient<2, 8> =
        LightClient::new(f.chain.anchor(), Config::new(EPOCH), NOW).unwrap();
    for h in 1..=4 {
        let c = f.chain.certificate(h).unwrap();
        small
            .verify_header(&f.header(h), &c, None::<&ValidatorSet<8>>, NOW)
            .unwrap();
    }
    let before = small.clone();
    let c1 = f.chain.certificate(1).unwrap();
    assert_eq!(
        small.verify_header(&f.header(1), &c1, None::<&ValidatorSet<8>>, NOW),
        Err(SpvError::StaleHeader { height: 1, tip: 4 })
    );
    assert_eq!(small, before);
}

#[test]
fn skipping() {
    let mut f = fixture();
    let now = f.chain.now_ms();
    let h25 = f.header(25);
    let set2 = f.chain.set_of_epoch(2);
    let c25 = f.chain.certificate(25).unwrap();
    let skip = |c: &mut Client, h: &BlockHeader, cert: &Certificate, set: &ValidatorSet, now| {
        c.verify_skipping(h, cert, set, None::<&ValidatorSet>, now)
            .map(|_| ())
    };
    // Signers of block 25 (epoch 2: validators 2..6) hold 2 of the trusted {0..4}: 2/4 > 1/3.
    let mut ok = f.client.clone();
    skip(&mut ok, &h25, &c25, &set2, now).unwrap();
    assert_eq!(ok.tip().height(), 25);
    // Only the two strangers and one shared signer: 1/4 of the trusted power.
    let thin = f.chain.sign(&h25, &[1, 2, 3]);
    rejects(
        &f.client,
        SpvError::InsufficientTrust {
            have: 1,
            need_above: 1,
        },
        |c| skip(c, &h25, &thin, &set2, now),
    );
    // The set offered for the far header is not the one it names.
    let set0 = f.chain.set_of_epoch(0);
    rejects(
        &f.client,
        SpvError::HeaderValidatorSetMismatch { height: 25 },
        |c| skip(c, &h25, &c25, &set0, now),
    );
    // Trust expires; headers from the future are refused.
    let expiry = f.header(9).timestamp_ms + Config::new(EPOCH).trusting_period_ms;
    rejects(
        &f.client,
        SpvError::TrustExpired {
            trusted_ms: f.header(9).timestamp_ms,
            now_ms: expiry + 1,
        },
        |c| skip(c, &h25, &c25, &set2, expiry + 1),
    );
    let early = f.header(9).timestamp_ms + 1;
    rejects(
        &f.client,
        SpvError::HeaderFromFuture {
            timestamp_ms: h25.timestamp_ms,
            now_ms: early,
        },
        |c| skip(c, &h25, &c25, &set2, early),
    );
    // Under-quorum in its own set even with trust.
    let two = f.chain.sign(&h25, &[0, 1]);
    rejects(
        &f.client,
        SpvError::InsufficientQuorum {
            have: 2,
            need_above: 2,
        },
        |c| skip(c, &h25, &two, &set2, now),
    );
}

#[test]
fn proofs() {
    let mut f = fixture();
    // Header 3 holds the state after block 2; block 3 holds the two commands.
    for h in 10..=12 {
        let header = f.header(h);
        let next = (h == 10).then(|| f.next_set(10));
        let cert = f.chain.certificate(h).unwrap();
        f.client
            .verify_header(&header, &cert, next.as_ref(), NOW)
            .unwrap();
    }
    let client = f.client.clone();
    let server = f.chain.server();
    let ask = |r: Request| -> Response<8> { server.answer(&r) };

    // Batch inclusion: good, flipped sibling, truncated, for another root.
    let leaf = itc_spv::proofs::request_leaf(1, 0, &[0; 5]);
    let Response::TransactionProof { proof, .. } =
        ask(Request::TransactionProof { height: 3, leaf })
    else {
        panic!()
    };
    let included = client.verify_transaction(3, &leaf, &proof).unwrap();
    assert_eq!((included.height(), included.leaf()), (3, leaf));
    assert_eq!(client.confirmations(included.height()), Ok(9));
    let mut flipped = proof.clone();
    flipped.path[0].0[0] ^= 1;
    let root_mismatch = SpvError::InclusionProof(MerkleError::RootMismatch);
    rejects(&client, root_mismatch, |c| {
        c.verify_transaction(3, &leaf, &flipped).map(|_| ())
    });
    let mut short = proof.clone();
    short.path.pop();
    rejects(
        &client,
        SpvError::InclusionProof(MerkleError::WrongPathLength {
            expected: 1,
            found: 0,
        }),
        |c| c.verify_transaction(3, &leaf, &short).map(|_| ()),
    );
    let bytes = proof.encode_to_vec();
    assert!(matches!(
        InclusionProof::decode_bytes(&bytes[..bytes.len() - 1]),
        Err(DecodeError::UnexpectedEnd { .. })
    ));
    rejects(&client, root_mismatch, |c| {
        c.verify_transaction(4, &leaf, &proof).map(|_| ())
    });
    // A block that is not (or no longer) held.
    rejects(&client, SpvError::HeaderNotTrusted { height: 30 }, |c| {
        c.verify_transaction(30, &leaf, &proof).map(|_| ())
    });

    // State: present, absent, wrong value, flipped, for another root.
    let key = StateKey::Account(Address([1; 20]));
    let Response::StateProof { value, proof, .. } = ask(Request::StateProof { height: 3, key })
    else {
        panic!()
    };
    let value = value.unwrap();
    let entry = client.verify_state(3, &key, Some(&value), &proof).unwrap();
    assert_eq!(entry.header(), client.header(3).unwrap());
    assert_eq!(
        entry.state_root(),
        client.header(3).unwrap().header().state_root
    );
    assert_eq!((entry.key(), entry.value()), (&key, Some(&value[..])));
    let absent_key = StateKey::Account(Address([2; 20]));
    let Response::StateProof {
        value: None,
        proof: absent,
        ..
    } = ask(Request::StateProof {
        height: 3,
        key: absent_key,
    })
    else {
        panic!()
    };
    let entry = client.verify_state(3, &absent_key, None, &absent).unwrap();
    assert_eq!((entry.height(), entry.value()), (3, None));
    rejects(
        &client,
        SpvError::StateProof(StateProofError::ProofShowsAbsent),
        |c| {
            c.verify_state(3, &absent_key, Some(&value), &absent)
                .map(|_| ())
        },
    );
    rejects(
        &client,
        SpvError::StateProof(StateProofError::RootMismatch),
        |c| {
            c.verify_state(3, &key, Some(&[0u8; 16]), &proof)
                .map(|_| ())
        },
    );
    let mut pb = proof.encode_to_vec();
    let last = pb.len() - 2;
    pb[last] ^= 1; // inside the last sibling
    let flipped_state = StateProof::decode_bytes(&pb).unwrap();
    rejects(
        &client,
        SpvError::StateProof(StateProofError::RootMismatch),
        |c| {
            c.verify_state(3, &key, Some(&value), &flipped_state)
                .map(|_| ())
        },
    );
    // Header 2 carries the state before block 2: the account is not there yet.
    rejects(
        &client,
        SpvError::StateProof(StateProofError::RootMismatch),
        |c| c.verify_state(2, &key, Some(&value), &proof).map(|_| ()),
    );

    // DAG: through the anchor record under header 3.
    let tx = f.dag_ids[3];
    let Response::DagTransactionProof {
        record,
        anchor_proof,
        tx_proof,
        ..
    } = ask(Request::DagTransactionProof {
        height: 3,
        anchor: 1,
        tx,
    })
    else {
        panic!()
    };
    let dag = |c: &mut Client, r: &AnchorRecord, ap: &StateProof, t: &Hash, tp: &InclusionProof| {
        c.verify_dag_transaction(3, 1, r, ap, &dag_tx_id(*t), tp)
            .map(|_| ())
    };
    let proven = client
        .verify_dag_transaction(3, 1, &record, &anchor_proof, &dag_tx_id(tx), &tx_proof)
        .unwrap();
    assert_eq!(
        (proven.height(), proven.anchor(), *proven.tx()),
        (2, 1, dag_tx_id(tx))
    );
    assert_eq!(proven.snapshot_root(), record.snapshot_root);
    assert_eq!(client.confirmations(proven.height()), Ok(10));
    rejects(&client, root_mismatch, |c| {
        dag(c, &record, &anchor_proof, &f.dag_ids[2], &tx_proof)
    });
    let mut at_zero = tx_proof.clone();
    at_zero.leaf_index = 0;
    rejects(&client, root_mismatch, |c| {
        dag(c, &record, &anchor_proof, &tx, &at_zero)
    });
    let mut forged_record = record;
    forged_record.snapshot_root = Hash([7; 32]);
    rejects(
        &client,
        SpvError::StateProof(StateProofError::RootMismatch),
        |c| dag(c, &forged_record, &anchor_proof, &tx, &tx_proof),
    );
    let mut future_record = record;
    future_record.height = 3;
    rejects(&client, SpvError::AnchorMismatch, |c| {
        dag(c, &future_record, &anchor_proof, &tx, &tx_proof)
    });
    rejects(
        &client,
        SpvError::AboveTip {
            height: 13,
            tip: 12,
        },
        |c| c.confirmations(13).map(|_| ()),
    );
}

#[test]
fn accumulator_and_backfill() {
    let mut f = fixture();
    // Skip to 15: heights 10..=14 are not accumulated yet.
    let h15 = f.header(15);
    let set1 = f.chain.set_of_epoch(1);
    let c15 = f.chain.certificate(15).unwrap();
    let now = f.chain.now_ms();
    f.client
        .verify_skipping(&h15, &c15, &set1, None::<&ValidatorSet>, now)
        .unwrap();
    assert_eq!(f.client.accumulated_height(), 10);
    let client = f.client.clone();
    let headers: Vec<BlockHeader> = (10..=15).map(|h| f.header(h)).collect();

    // Out of order, not linking, a fake chain that does not reach the verified header.
    rejects(
        &client,
        SpvError::BackfillOutOfOrder {
            expected: 10,
            found: 11,
        },
        |c| c.backfill(&headers[1..]).map(|_| ()),
    );
    let mut unlinked = headers.clone();
    unlinked[2].previous = Hash([3; 32]);
    rejects(&client, SpvError::BackfillMismatch { height: 12 }, |c| {
        c.backfill(&unlinked).map(|_| ())
    });
    let mut fake = headers.clone();
    fake[1].batch_root = Hash([4; 32]);
    for i in 2..fake.len() {
        fake[i].previous = fake[i - 1].hash();
    }
    rejects(&client, SpvError::BackfillMismatch { height: 15 }, |c| {
        c.backfill(&fake).map(|_| ())
    });
    // Past the tip.
    let h16 = f.header(16);
    let mut upto16 = headers.clone();
    upto16.push(h16);
    rejects(
        &client,
        SpvError::BackfillOutOfOrder {
            expected: 16,
            found: 16,
        },
        |c| c.backfill(&upto16).map(|_| ()),
    );
    // A forged suffix over two batches: the first is held as pending (it links), the second
    // (honest) exposes it; the unconfirmed headers are dropped, nothing verified changes, and the
    // honest chain then goes in from where the verified accumulator stopped.
    let mut poisoned = client.clone();
    assert_eq!(poisoned.backfill(&fake[..3]), Ok(10));
    assert_eq!(poisoned.backfill_needed(), Some((13, 15)));
    assert_eq!(
        poisoned.backfill(&headers[3..]),
        Err(SpvError::BackfillMismatch { height: 13 })
    );
    assert_eq!(poisoned, client);
    assert_eq!(poisoned.backfill(&headers[..3]), Ok(10));
    assert_eq!(poisoned.backfill(&headers[3..]), Ok(16));

    // The real chain goes in, and the skipped headers become provable and recent.
    let mut done = client.clone();
    assert_eq!(done.backfill(&headers), Ok(16));
    assert!(done.header(12).is_some());

    // Accumulator proofs: good, flipped, truncated, for another size, for another header.
    let lc = done.accumulated_height();
    let Response::HeaderProof { header, proof } =
        f.chain.server().answer::<8>(&Request::HeaderProof {
            height: 4,
            leaf_count: lc,
        })
    else {
        panic!()
    };
    assert_eq!(done.verify_old_header(&header, &proof).unwrap().height(), 4);
    let mut flipped = proof.clone();
    flipped.path[0].0[5] ^= 1;
    let old = |c: &mut Client, h: &BlockHeader, p: &MmrProof| c.verify_old_header(h, p).map(|_| ());
    // Header 4 is still in the ring of 16; use a client with a ring of 2 to force the proof.
    let mut tiny: LightClient<2, 8> =
        LightClient::new(f.chain.anchor(), Config::new(EPOCH), NOW).unwrap();
    for h in 1..=15 {
        let next = (h == 10).then(|| f.chain.set_of_epoch(1));
        let c = f.chain.certificate(h).unwrap();
        tiny.verify_header(&f.header(h), &c, next.as_ref(), NOW)
            .unwrap();
    }
    assert!(tiny.header(4).is_none());
    let tiny_before = tiny.clone();
    assert_eq!(tiny.verify_old_header(&header, &proof).unwrap().height(), 4);
    assert_eq!(
        tiny.verify_old_header(&header, &flipped),
        Err(SpvError::Accumulator(MmrError::PeakMismatch))
    );
    let mut short = proof.clone();
    short.path.pop();
    assert!(matches!(
        tiny.verify_old_header(&header, &short),
        Err(SpvError::Accumulator(MmrError::WrongPathLength { .. }))
    ));
    let stale = f.chain.server().answer::<8>(&Request::HeaderProof {
        height: 4,
        leaf_count: 8,
    });
    let Response::HeaderProof { proof: stale, .. } = stale else {
        panic!()
    };
    assert_eq!(
        tiny.verify_old_header(&header, &stale),
        Err(SpvError::Accumulator(MmrError::SizeMismatch {
            proof: 8,
            accumulator: 16
        }))
    );
    let mut other = header;
    other.state_root = Hash([9; 32]);
    assert_eq!(
        tiny.verify_old_header(&other, &proof),
        Err(SpvError::Accumulator(MmrError::PeakMismatch))
    );
    assert_eq!(
        tiny.verify_old_header(&f.header(5), &proof),
        Err(SpvError::HeaderNotTrusted { height: 5 })
    );
    assert_eq!(tiny, tiny_before);
    rejects(&done, SpvError::Accumulator(MmrError::PeakMismatch), |c| {
        old(c, &other, &proof)
    });

    // Non-canonical sizes and overflowing counters.
    assert_eq!(
        Mmr::from_parts(5, &[Hash([1; 32])]),
        Err(MmrError::NonCanonicalSize {
            leaf_count: 5,
            peaks: 1
        })
    );
    let mut anchor: TrustAnchor<8> = f.chain.checkpoint(5);
    anchor.history = f.chain.server().store().history_at(4).unwrap();
    assert_eq!(
        Client::new(anchor, Config::new(EPOCH), NOW),
        Err(SpvError::AnchorHistoryMismatch {
            leaf_count: 4,
            height: 5
        })
    );
    // An anchor at the top of the height range: the next header would overflow the counter.
    let mut top: TrustAnchor<8> = f.chain.anchor();
    top.header.height = u64::MAX - 1;
    top.history = Mmr::from_parts(u64::MAX - 1, &[Hash([1; 32]); 63]).unwrap();
    let mut top_client = Client::new(top.clone(), Config::new(EPOCH), NOW).unwrap();
    let mut last = top.header;
    last.height = u64::MAX;
    last.previous = top.header.hash();
    last.timestamp_ms += 1;
    let set0 = f.chain.set_of_epoch(0);
    let c = resign(f.chain.keys_of_epoch(0), &set0, &last);
    let before = top_client.clone();
    assert_eq!(
        top_client.verify_header(&last, &c, None::<&ValidatorSet<8>>, NOW),
        Err(SpvError::Accumulator(MmrError::CounterOverflow))
    );
    assert_eq!(top_client, before);
    // A proof claiming a huge accumulator decodes only with its full path; garbage never panics.
    let mut buf = vec![];
    write_varint(&mut buf, 3);
    write_varint(&mut buf, u64::MAX);
    assert!(MmrProof::decode_bytes(&buf).is_err());
}

#[test]
fn conflicting_headers_halt_with_evidence() {
    let mut f = fixture();
    let (fork, cert) = f.chain.conflicting(9).unwrap();
    let before = f.client.clone();
    // A conflicting header that is *not* validly certified is just rejected.
    let weak = f.chain.sign(&fork, &[0, 1]);
    assert!(matches!(
        f.client
            .verify_header(&fork, &weak, None::<&ValidatorSet<8>>, NOW),
        Err(SpvError::InsufficientQuorum { .. })
    ));
    assert_eq!(f.client, before);
    // A validly certified one is a fork: evidence, and the client halts.
    assert_eq!(
        f.client
            .verify_header(&fork, &cert, None::<&ValidatorSet<8>>, NOW),
        Err(SpvError::ConflictingHeader { height: 9 })
    );
    assert_eq!(f.client.halted_at(), Some(9));
    let evidence = f.client.fork_evidence().unwrap();
    let set = f.chain.set_of_epoch(0);
    let proven = evidence.verify(&set).unwrap();
    assert_eq!(evidence.height(), 9);
    assert_eq!(proven.height(), 9);
    assert!(proven.double_signers().count() >= 2);
    assert!(3 * proven.double_signer_power() > proven.total_power());
    // Evidence round-trips and is canonical; it does not verify for another set.
    let bytes = evidence.encode_to_vec();
    let back = itc_spv::ForkEvidence::<heapless::Vec<Signature, 8>>::decode_bytes(&bytes).unwrap();
    assert_eq!(back, evidence);
    assert!(back.verify(&f.chain.set_of_epoch(1)).is_err());
    // Nothing proceeds past the fork.
    let h10 = f.header(10);
    let c10 = f.chain.certificate(10).unwrap();
    let next = f.next_set(10);
    assert_eq!(
        f.client.verify_header(&h10, &c10, Some(&next), NOW),
        Err(SpvError::Halted { height: 9 })
    );
    assert_eq!(f.client.poll_request(), None);
}

#[test]
fn blame_says_who_must_act() {
    use itc_crypto::Blame;
    let mut f = fixture();
    // A full node's forgeries are the peer's.
    let h10 = f.header(10);
    let next = f.next_set(10);
    let mut forged = h10;
    forged.batch_root = Hash([9; 32]);
    let c10 = f.chain.certificate(10).unwrap();
    let peer = f
        .client
        .clone()
        .verify_header(&forged, &c10, Some(&next), NOW)
        .unwrap_err();
    assert_eq!(
        (peer, peer.blame()),
        (SpvError::ForgedSignature { index: 0 }, Blame::Peer)
    );
    // A replay is nobody's fault.
    let h9 = f.header(9);
    let c9 = f.chain.certificate(9).unwrap();
    let stale = f
        .client
        .clone()
        .verify_header(&h9, &c9, None::<&ValidatorSet<8>>, NOW)
        .unwrap_err();
    assert_eq!(stale.blame(), Blame::Ignorable);
    // Driving the client against its contract is ours: a non-adjacent header given to
    // sequential verification, a clock behind the tip, an expired tip, a proof against a
    // header the client does not hold, confirmations above the tip.
    let h12 = f.header(12);
    let c12 = f.chain.certificate(12).unwrap();
    let leaf = itc_spv::proofs::request_leaf(1, 0, &[0; 5]);
    let Response::<8>::TransactionProof { proof, .. } = f
        .chain
        .server()
        .answer(&Request::TransactionProof { height: 3, leaf })
    else {
        panic!()
    };
    let local = [
        f.client
            .clone()
            .verify_header(&h12, &c12, None::<&ValidatorSet<8>>, NOW)
            .unwrap_err(),
        f.client
            .clone()
            .verify_header(&h10, &c10, Some(&next), 0)
            .unwrap_err(),
        f.client
            .clone()
            .verify_header(&h10, &c10, Some(&next), NOW + 30 * 24 * 3600 * 1000)
            .unwrap_err(),
        f.client.confirmations(12).unwrap_err(),
        f.client.verify_transaction(20, &leaf, &proof).unwrap_err(),
    ];
    for e in local {
        assert_eq!(e.blame(), Blame::Local, "{e:?}");
    }
    // A halted client fed more is ours too.
    let (fork, cert) = f.chain.conflicting(9).unwrap();
    let mut halted = f.client.clone();
    let e = halted
        .verify_header(&fork, &cert, None::<&ValidatorSet<8>>, NOW)
        .unwrap_err();
    assert_eq!(e.blame(), Blame::Peer);
    let e = halted
        .verify_header(&h10, &c10, Some(&next), NOW)
        .unwrap_err();
    assert_eq!(
        (e, e.blame()),
        (SpvError::Halted { height: 9 }, Blame::Local)
    );
}
