//! The full node answers every request exactly as the `itc_spv::ProofServer` it replaces
//! answers it over the same chain (a chain with transfers, a validator rotation and a DAG
//! anchor), for every request kind at every height.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use itc_chain::testkit::validator_key;
use itc_chain::FullNodeConfig;
use itc_crypto::{keccak256, Encode, Hash};
use itc_dag::{DagSnapshot, TxId};
use itc_ledger::StateKey;
use itc_spv::server::{BatchRequest, ChainStore, CommittedBlock, ProofServer};
use itc_spv::Request;

#[test]
fn same_answers_as_the_spv_proof_server() {
    const K: u64 = 4;
    let mut w = World::new(4, K, FullNodeConfig::new(K));
    let ids: Vec<TxId> = (0..5u8).map(|i| TxId(keccak256(&[i]))).collect();
    let snapshot = DagSnapshot {
        snapshot_seq: 1,
        prev_root: Hash::ZERO,
        tips: vec![ids[4]],
        finalized: ids.clone(),
        balances_root: Hash([3; 32]),
    };
    let genesis = *w.node.genesis();
    let mut store = ChainStore::new(
        genesis,
        w.chain.genesis_state().validators.clone(),
        itc_spv::server::StateSnapshot::new(),
    )
    .unwrap();
    store.add_ledger(w.chain.ledger());
    let fid: Vec<Hash> = ids.iter().map(|i| i.0).collect();
    store.add_dag_snapshot(1, &snapshot.header_leaf(), &fid);
    w.node.add_dag_snapshot(&snapshot);
    for height in 1..=14u64 {
        let mut txs = vec![w.transfer(height as usize % USERS, 0, 3)];
        if height == 3 {
            txs.push(w.chain.rotation((1..=4).map(validator_key).collect()));
        }
        if height == 6 {
            let set = w.chain.ledger().validator_set().clone();
            let keys = w.chain.ledger_keys().to_vec();
            let tx = w
                .chain
                .builder()
                .anchor_dag(1, snapshot.root(), &set, &keys)
                .unwrap();
            txs.push(tx.encode_to_vec());
        }
        let accepted = w.step(txs);
        let block = itc_chain::BlockStore::block(&w.store, height)
            .unwrap()
            .unwrap();
        assert_eq!(accepted.height, height);
        let next_validators = (block.header.next_validator_set_hash
            != block.header.validator_set_hash)
            .then(|| w.node.handover().in_force().clone());
        store
            .push_block(CommittedBlock {
                header: block.header,
                certificate: Some(block.certificate.clone()),
                batch: block
                    .batch
                    .requests()
                    .iter()
                    .map(BatchRequest::from)
                    .collect(),
                next_validators,
            })
            .unwrap();
        store.add_ledger(w.chain.ledger());
    }
    let server = ProofServer::new(store);
    let tip = w.node.tip().height;
    let mut requests = vec![];
    for height in 0..=tip + 1 {
        requests.push(Request::CertifiedHeader {
            height,
            with_validators: false,
        });
        requests.push(Request::CertifiedHeader {
            height,
            with_validators: true,
        });
        requests.push(Request::Headers {
            from: height,
            count: 5,
        });
        requests.push(Request::Headers {
            from: height,
            count: 40,
        });
        for leaf_count in [height, height + 1, tip + 1, tip + 2] {
            requests.push(Request::HeaderProof { height, leaf_count });
        }
        for key in [
            StateKey::Meta,
            StateKey::Validators,
            StateKey::Account(user_addr(0)),
            StateKey::Account(itc_crypto::Address([9; 20])),
            StateKey::Anchor(1),
        ] {
            requests.push(Request::StateProof { height, key });
        }
        if let Some(block) = itc_chain::BlockStore::block(&w.store, height).unwrap() {
            for r in block.batch.requests() {
                requests.push(Request::TransactionProof {
                    height,
                    leaf: r.leaf_hash(),
                });
            }
        }
        requests.push(Request::TransactionProof {
            height,
            leaf: Hash([7; 32]),
        });
        for tx in [ids[0].0, ids[3].0, Hash([8; 32])] {
            requests.push(Request::DagTransactionProof {
                height,
                anchor: 1,
                tx,
            });
            requests.push(Request::DagTransactionProof {
                height,
                anchor: 2,
                tx,
            });
        }
    }
    let mut answered = 0;
    for request in &requests {
        let theirs = server.answer::<8>(request);
        let ours = w.answer(request);
        assert_eq!(ours, theirs, "{request:?}");
        answered += usize::from(!matches!(ours, itc_spv::Response::Unavailable(_)));
    }
    // Most requests have an answer (the rest are past the tip, absent leaves, unknown anchors).
    assert!(
        answered * 2 > requests.len(),
        "{answered} of {}",
        requests.len()
    );
}
