//! With feature `dag`: the store's snapshot trees are exactly `itc_dag`'s, and a DAG
//! transaction proven through a ledger anchor checks out with `itc_dag::TxId`.
#![cfg(feature = "dag")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use itc_crypto::{keccak256, Encode, Hash};
use itc_dag::{DagSnapshot, TxId};
use itc_ledger::{AnchorRecord, StateKey};
use itc_spv::messages::Request;
use itc_spv::server::StateSnapshot;
use itc_spv::testkit::TestChain;
use itc_spv::{Config, Event, LightClient, Response};

#[test]
fn anchored_dag_transaction_is_proven_with_itc_dag_types() {
    let ids: Vec<TxId> = (0..7u8).map(|i| TxId(keccak256(&[i]))).collect();
    let snapshot = DagSnapshot {
        snapshot_seq: 1,
        prev_root: Hash::ZERO,
        tips: vec![ids[6]],
        finalized: ids.clone(),
        balances_root: Hash([3; 32]),
    };
    let mut chain = TestChain::new(4, 50);
    let root = chain.server_mut().store_mut().add_snapshot(1, &snapshot);
    assert_eq!(root, snapshot.root());
    let record = AnchorRecord {
        snapshot_root: root,
        height: 1,
    };
    let state = StateSnapshot::from_records([(StateKey::Anchor(1), record.encode_to_vec())]);
    chain.push_block(vec![], Some(state)).unwrap();
    chain.extend(4);

    let mut client: LightClient<8, 8> =
        LightClient::new(chain.anchor(), Config::new(50), chain.now_ms()).unwrap();
    client.sync_to(chain.tip_height());
    while let Some(r) = client.poll_request() {
        chain.ensure_certificate(&r);
        client
            .handle_response(&chain.server().answer::<8>(&r), chain.now_ms())
            .unwrap();
    }
    let request = Request::DagTransactionProof {
        height: 3,
        anchor: 1,
        tx: ids[4].0,
    };
    let response: Response<8> = chain.server().answer(&request);
    let Response::DagTransactionProof { tx_proof, .. } = &response else {
        panic!()
    };
    // The same proof passes itc-dag's own check.
    itc_dag::snapshot::verify_inclusion(&root, &ids[4], tx_proof).unwrap();
    let event = client.handle_response(&response, chain.now_ms()).unwrap();
    let Event::DagTransaction {
        transaction,
        confirmations,
    } = event
    else {
        panic!("{event:?}")
    };
    assert_eq!(
        (
            transaction.anchor(),
            *transaction.tx(),
            transaction.height()
        ),
        (1, ids[4], 1)
    );
    assert_eq!(confirmations, 4);
    // Typed check straight on a verified header.
    let Response::DagTransactionProof {
        record,
        anchor_proof,
        tx_proof,
        ..
    } = response
    else {
        panic!()
    };
    let header = *client.header(3).unwrap();
    assert_eq!(
        header
            .verify_dag_transaction(1, &record, &anchor_proof, &ids[4], &tx_proof)
            .map(|t| t.height()),
        Ok(1)
    );
    assert!(header
        .verify_dag_transaction(1, &record, &anchor_proof, &ids[5], &tx_proof)
        .is_err());
}
