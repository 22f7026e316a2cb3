//! The full node follows a certified chain through a validator rotation and a DAG anchor,
//! serves every light-client request (the light client verifies each answer), refuses bad
//! blocks with typed errors leaving everything unchanged, keeps memory to its retention, and
//! resumes exactly from its store.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use itc_chain::testkit::{validator_key, TestChain};
use itc_chain::{BlockRejected, FullNode, FullNodeConfig, Store};
use itc_crypto::{keccak256, Encode, Hash};
use itc_dag::{DagSnapshot, TxId};
use itc_ledger::StateKey;
use itc_pbft::certificate::CertificateError;
use itc_pbft::header::ChainError;
use itc_pbft::{Batch, CertifiedBlock, ClientId, Request as PbftRequest};
use itc_spv::{Event, Request, Response};

const K: u64 = 4;

/// A 20-block chain: transfers every block, a rotation (validator 0 leaves, validator 4
/// joins) decided at height 2 and in force from 5, and a DAG anchor at height 7.
fn scenario(config: FullNodeConfig) -> (World, DagSnapshot, Vec<Vec<u8>>) {
    let mut w = World::new(4, K, config);
    let ids: Vec<TxId> = (0..9u8).map(|i| TxId(keccak256(&[i]))).collect();
    let snapshot = DagSnapshot {
        snapshot_seq: 1,
        prev_root: Hash::ZERO,
        tips: vec![ids[8]],
        finalized: ids,
        balances_root: Hash([3; 32]),
    };
    let mut log = vec![];
    for height in 1..=20u64 {
        let mut txs = vec![w.transfer(height as usize % USERS, (height as usize + 1) % USERS, 10)];
        if height == 2 {
            txs.push(w.chain.rotation((1..=4).map(validator_key).collect()));
        }
        if height == 7 {
            let set = w.chain.ledger().validator_set().clone();
            let keys = w.chain.ledger_keys().to_vec();
            let anchor = w
                .chain
                .builder()
                .anchor_dag(1, snapshot.root(), &set, &keys)
                .unwrap();
            txs.push(anchor.encode_to_vec());
            w.node.add_dag_snapshot(&snapshot);
        }
        log.push(txs[0].clone());
        let accepted = w.step(txs);
        assert!(
            accepted.outcome.receipts.iter().all(|r| r.result.is_ok()),
            "height {height}: {:?}",
            accepted.outcome.receipts
        );
        // The rotation is an explicit output at the height that decided it.
        assert_eq!(accepted.outcome.next_validator_set.is_some(), height == 2);
    }
    (w, snapshot, log)
}

#[test]
fn follows_a_rotation_and_serves_everything_the_light_client_verifies() {
    let (w, snapshot, log) = scenario(FullNodeConfig::new(K));
    // The rotation took force after boundary 4: validator 4 signs, validator 0 does not.
    let h4 = w.node.version_at(4).unwrap();
    let _ = h4;
    let new_set = w.node.handover().in_force().clone();
    assert!(new_set.index_of(&validator_key(4).public_key()).is_some());
    assert!(new_set.index_of(&validator_key(0).public_key()).is_none());

    // Sync (skipping with sets, back-fill, sequential): every answer verifies.
    let mut client = w.synced_client();
    let now = w.now_ms();

    // State at every height: present and absent keys, against each header's root.
    for height in 0..=w.node.tip().height {
        for key in [
            StateKey::Account(user_addr(1)),
            StateKey::Account(itc_crypto::Address([0xee; 20])),
            StateKey::Meta,
            StateKey::Anchor(1),
        ] {
            let response = w.answer(&Request::StateProof { height, key });
            if client.header(height).is_none() {
                continue; // the ring keeps 16 headers
            }
            let expected = w
                .node
                .version_at(height.saturating_sub(1))
                .unwrap()
                .value(&key);
            match client.handle_response(&response, now).unwrap() {
                Event::State(entry) => assert_eq!(entry.value().map(<[u8]>::to_vec), expected),
                other => panic!("height {height} {key:?}: {other:?}"),
            }
        }
    }

    // Transaction inclusion for a block the client holds a verified header of.
    let height = (1..w.node.tip().height)
        .rev()
        .find(|h| client.header(*h).is_some())
        .unwrap();
    let payload = &log[height as usize - 1];
    let leaf = itc_spv::proofs::request_leaf(1, request_id_of(&w, height, payload), payload);
    match client
        .handle_response(&w.answer(&Request::TransactionProof { height, leaf }), now)
        .unwrap()
    {
        Event::Transaction {
            transaction,
            confirmations,
        } if transaction.height() == height => {
            assert_eq!(confirmations, w.node.tip().height - height)
        }
        other => panic!("{other:?}"),
    }

    // An old header through the accumulator.
    let request = Request::HeaderProof {
        height: 2,
        leaf_count: client.accumulated_height(),
    };
    match client.handle_response(&w.answer(&request), now).unwrap() {
        Event::OldHeader(h) => assert_eq!(h.height(), 2),
        other => panic!("{other:?}"),
    }

    // A DAG transaction through the anchor committed at height 7 (root in header 8 on).
    let request = Request::DagTransactionProof {
        height: w.node.tip().height,
        anchor: 1,
        tx: snapshot.finalized[4].0,
    };
    match client.handle_response(&w.answer(&request), now).unwrap() {
        Event::DagTransaction { transaction, .. }
            if transaction.anchor() == 1 && transaction.height() == 7 => {}
        other => panic!("{other:?}"),
    }

    // What cannot be answered is Unavailable, never a wrong answer.
    for request in [
        Request::CertifiedHeader {
            height: 21,
            with_validators: false,
        },
        Request::StateProof {
            height: 21,
            key: StateKey::Meta,
        },
        Request::TransactionProof {
            height: 3,
            leaf: Hash([9; 32]),
        },
        Request::DagTransactionProof {
            height: 15,
            anchor: 2,
            tx: snapshot.finalized[4].0,
        },
        Request::HeaderProof {
            height: 2,
            leaf_count: 99,
        },
    ] {
        assert_eq!(w.answer(&request), Response::Unavailable(request));
    }
}

/// The request id `TestChain` gave the first request of the block at `height`.
fn request_id_of(w: &World, height: u64, payload: &[u8]) -> u64 {
    let block = itc_chain::BlockStore::block(&w.store, height)
        .unwrap()
        .unwrap();
    block
        .batch
        .requests()
        .iter()
        .find(|r| r.payload == payload)
        .unwrap()
        .id
}

#[test]
fn retention_bounds_ram_while_the_store_serves_old_blocks() {
    let mut config = FullNodeConfig::new(K);
    config.retained_versions = 3;
    config.retained_blocks = 2;
    let (w, _, log) = scenario(config);
    let tip = w.node.tip().height;
    assert!(w.node.version_at(tip - 3).is_none());
    assert!(w.node.version_at(tip - 2).is_some());
    // State proofs: only for headers whose state version is retained.
    let old = Request::StateProof {
        height: 5,
        key: StateKey::Meta,
    };
    assert_eq!(w.answer(&old), Response::Unavailable(old));
    assert!(matches!(
        w.answer(&Request::StateProof {
            height: tip,
            key: StateKey::Meta
        }),
        Response::StateProof { .. }
    ));
    // Receipts by transaction id, from the store.
    let id = itc_ledger::system::raw_tx_id(&log[2]);
    let receipt = itc_chain::ReceiptStore::receipt(&w.store, &id)
        .unwrap()
        .unwrap();
    assert_eq!((receipt.height, receipt.position, receipt.code), (3, 0, 0));
    // Old headers, certificates and batches come from the store and still verify.
    let mut client = w.synced_client();
    let payload = &log[2];
    let leaf = itc_spv::proofs::request_leaf(1, request_id_of(&w, 3, payload), payload);
    let answer = w.answer(&Request::TransactionProof { height: 3, leaf });
    assert!(matches!(answer, Response::TransactionProof { .. }));
    let request = Request::HeaderProof {
        height: 3,
        leaf_count: client.accumulated_height(),
    };
    assert!(matches!(
        client
            .handle_response(&w.answer(&request), w.now_ms())
            .unwrap(),
        Event::OldHeader(_)
    ));
}

/// The block `chain` would produce next over `txs`, without advancing `chain`.
fn peek(chain: &TestChain, txs: Vec<Vec<u8>>) -> CertifiedBlock {
    chain.clone().next_block(txs)
}

/// Re-certifies a tampered header with the set in force, so only the tampering is wrong.
fn recertified(
    chain: &TestChain,
    mut block: CertifiedBlock,
    f: impl FnOnce(&mut itc_pbft::BlockHeader),
) -> CertifiedBlock {
    f(&mut block.header);
    block.certificate = chain.certify(&block.header);
    block
}

#[test]
fn bad_blocks_get_typed_errors_and_change_nothing() {
    let mut w = World::new(4, K, FullNodeConfig::new(K));
    for _ in 0..3 {
        let tx = w.transfer(0, 1, 5);
        let _ = w.step(vec![tx]);
    }
    let tx = w.transfer(0, 1, 5);
    let good = peek(&w.chain, vec![tx.clone()]);
    let height = good.header.height;
    assert_eq!(height, 4); // a boundary: the next-set rule applies

    let mut short = w.chain.clone();
    short.sign_with(Some(2));
    // Keys that are not validators sign at the validators' positions.
    let strangers = {
        let digest =
            itc_pbft::certificate::commit_digest(good.header.view, height, &good.header.hash());
        let mut cert = itc_chain::full_node::Certificate::new(good.header.view);
        for i in 0..3 {
            cert.insert(
                i,
                itc_crypto::Signer::sign_digest(&validator_key(10 + i), &digest).unwrap(),
            )
            .unwrap();
        }
        cert
    };
    let mut after = w.chain.clone();
    after.next_block(vec![tx.clone()]);
    let too_far = after.next_block(vec![]);

    let cases: Vec<(&str, CertifiedBlock, BlockRejected)> = vec![
        (
            "stale copy of the tip",
            itc_chain::BlockStore::block(&w.store, 3).unwrap().unwrap(),
            BlockRejected::Stale { height: 3, tip: 3 },
        ),
        (
            "skips a height",
            too_far,
            BlockRejected::OutOfOrder {
                expected: 4,
                found: 5,
            },
        ),
        (
            "wrong parent",
            recertified(&w.chain, good.clone(), |h| h.previous = Hash([1; 32])),
            BlockRejected::NotAChild(ChainError::WrongPrevious),
        ),
        (
            "time goes back",
            recertified(&w.chain, good.clone(), |h| h.timestamp_ms = 1),
            BlockRejected::NotAChild(ChainError::TimestampNotIncreasing),
        ),
        (
            "two of four signatures",
            CertifiedBlock {
                certificate: short.certify(&good.header),
                ..good.clone()
            },
            BlockRejected::BadCertificate {
                height,
                error: CertificateError::Quorum(itc_crypto::QuorumError::InsufficientPower {
                    have: 2,
                    need_above: 2,
                }),
            },
        ),
        (
            "signed by strangers",
            CertifiedBlock {
                certificate: strangers,
                ..good.clone()
            },
            BlockRejected::BadCertificate {
                height,
                error: CertificateError::Quorum(itc_crypto::QuorumError::InvalidSignature {
                    index: 0,
                }),
            },
        ),
        (
            "batch swapped under a certified header",
            CertifiedBlock {
                batch: Batch::new(vec![PbftRequest::new(ClientId(1), 99, b"other".to_vec())]),
                ..good.clone()
            },
            BlockRejected::BatchRootMismatch { height },
        ),
        (
            "certified header with another state root",
            recertified(&w.chain, good.clone(), |h| h.state_root = Hash([5; 32])),
            BlockRejected::StateRootMismatch {
                height,
                expected: w.node.ledger().root(),
                found: Hash([5; 32]),
            },
        ),
        (
            "boundary header names a set the ledger never decided",
            recertified(&w.chain, good.clone(), |h| {
                h.next_validator_set_hash = Hash([6; 32])
            }),
            BlockRejected::UnexpectedNextValidatorSet {
                height,
                expected: w.node.handover().in_force_hash(),
                found: Hash([6; 32]),
            },
        ),
    ];
    let before = (
        *w.node.tip(),
        w.node.ledger().root(),
        w.node.accumulator().clone(),
        w.node.version_at(4).is_none(),
        w.store.commits(),
    );
    for (what, block, expected) in cases {
        let got = w.node.handle_block(block).map(|_| ()).expect_err(what);
        // The exact quorum numbers depend on the certificate; the variant is what matters.
        match (&got, &expected) {
            (
                BlockRejected::BadCertificate { error: a, .. },
                BlockRejected::BadCertificate { error: b, .. },
            ) => assert_eq!(
                core::mem::discriminant(a),
                core::mem::discriminant(b),
                "{what}: {got:?}"
            ),
            _ => assert_eq!(got, expected, "{what}"),
        }
        let now = (
            *w.node.tip(),
            w.node.ledger().root(),
            w.node.accumulator().clone(),
            w.node.version_at(4).is_none(),
            w.store.commits(),
        );
        assert_eq!(now, before, "{what} changed the node");
    }
    // Off a boundary, a set change is refused by the header rule itself.
    let _ = w.node.handle_block(good.clone()).unwrap();
    w.chain.next_block(vec![tx]);
    let next = peek(&w.chain, vec![]);
    let off = recertified(&w.chain, next.clone(), |h| {
        h.next_validator_set_hash = Hash([7; 32])
    });
    assert_eq!(
        w.node.handle_block(off).map(|_| ()),
        Err(BlockRejected::NotAChild(ChainError::SetChangeOffBoundary {
            height: 5
        }))
    );
    // And the untampered blocks are still accepted.
    let _ = w.node.handle_block(next).unwrap();
    assert_eq!(w.node.tip().height, 5);
    // Blame: a peer's fault for forged or mismatched blocks, ignorable for stale ones.
    assert_eq!(
        BlockRejected::Stale { height: 1, tip: 2 }.blame(),
        itc_crypto::Blame::Ignorable
    );
    assert_eq!(
        BlockRejected::BatchRootMismatch { height: 1 }.blame(),
        itc_crypto::Blame::Peer
    );
    assert_eq!(
        BlockRejected::OutOfOrder {
            expected: 1,
            found: 3
        }
        .blame(),
        itc_crypto::Blame::Local
    );
}

#[test]
fn after_the_rotation_the_removed_validator_no_longer_counts() {
    let mut w = World::new(4, K, FullNodeConfig::new(K));
    let rotation = w.chain.rotation((1..=4).map(validator_key).collect());
    let _ = w.step(vec![rotation]);
    for _ in 2..=4 {
        let _ = w.step(vec![]);
    }
    // Height 5 is certified by {1, 2, 3, 4}. A certificate by the old set {0, 1, 2, 3} —
    // signed by the removed validator 0 and two remaining ones — does not verify.
    let good = peek(&w.chain, vec![]);
    let mut old = TestChain::new(4, K, &[]);
    old.sign_with(Some(3));
    let forged = CertifiedBlock {
        certificate: old.certify(&good.header),
        ..good.clone()
    };
    assert!(matches!(
        w.node.handle_block(forged),
        Err(BlockRejected::BadCertificate { height: 5, .. })
    ));
    // The new validator's signature counts: certified by {1, 2, 3, 4} it is accepted.
    let _ = w.node.handle_block(good).unwrap();
    assert!(w
        .node
        .handover()
        .in_force()
        .index_of(&validator_key(4).public_key())
        .is_some());
}

#[test]
fn restart_from_the_store_resumes_exactly() {
    let mut config = FullNodeConfig::new(K);
    config.snapshot_interval = 5;
    let (w, snapshot, _) = scenario(config);
    let requests: Vec<Request> = (0..=20u64)
        .flat_map(|height| {
            [
                Request::CertifiedHeader {
                    height,
                    with_validators: true,
                },
                Request::StateProof {
                    height,
                    key: StateKey::Account(user_addr(2)),
                },
                Request::HeaderProof {
                    height,
                    leaf_count: 21,
                },
            ]
        })
        .collect();
    let restored = FullNode::restore(config, w.chain.genesis_state(), &w.store).unwrap();
    assert_eq!(restored.tip(), w.node.tip());
    assert_eq!(restored.ledger().root(), w.node.ledger().root());
    assert_eq!(restored.accumulator(), w.node.accumulator());
    assert_eq!(
        restored.handover().in_force_hash(),
        w.node.handover().in_force_hash()
    );
    for request in &requests {
        let a = w.answer(request);
        let b = restored.answer::<8, _>(&w.store, request).unwrap();
        // The restored node resumed from the snapshot at 20: it holds the versions from there
        // on, so older state proofs are unavailable; everything else answers the same.
        if matches!(request, Request::StateProof { .. }) && b == Response::Unavailable(*request) {
            continue;
        }
        assert_eq!(a, b, "{request:?}");
    }
    let _ = snapshot;
}

#[test]
fn a_crash_at_any_height_restores_the_committed_tip_and_continues_identically() {
    let mut config = FullNodeConfig::new(K);
    config.snapshot_interval = 3;
    let mut w = World::new(4, K, config);
    let rotation = w.chain.rotation((2..=5).map(validator_key).collect());
    let mut blocks = vec![];
    for height in 1..=14u64 {
        let mut txs = vec![w.transfer(height as usize % USERS, 0, 1)];
        if height == 6 {
            txs.push(rotation.clone());
        }
        blocks.push(w.chain.next_block(txs));
    }
    let mut live = World::new(4, K, config);
    let mut disks = vec![live.store.clone()];
    let mut roots = vec![live.node.ledger().root()];
    for block in &blocks {
        let accepted = live.node.handle_block(block.clone()).unwrap();
        // A crash before the commit leaves the previous disk; after it, the new one.
        disks.push({
            let mut d = disks.last().unwrap().clone();
            d.commit(accepted.writes).unwrap();
            d
        });
        roots.push(live.node.ledger().root());
    }
    for (height, disk) in disks.iter().enumerate() {
        let mut node = FullNode::restore(config, live.chain.genesis_state(), disk).unwrap();
        assert_eq!(node.tip().height, height as u64);
        assert_eq!(node.ledger().root(), roots[height]);
        // Catching up from peers: the missed blocks verify and land on the same roots.
        let mut disk = disk.clone();
        for block in &blocks[height..] {
            let accepted = node.handle_block(block.clone()).unwrap();
            disk.commit(accepted.writes).unwrap();
        }
        assert_eq!(node.tip(), live.node.tip());
        assert_eq!(node.ledger().root(), live.node.ledger().root());
        assert_eq!(node.accumulator(), live.node.accumulator());
    }
}
