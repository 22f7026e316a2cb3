//! The node's HTTP API against a running 4-validator localnet: a transaction's status from
//! pending to committed with the ledger's receipt (applied, and a typed failure), a certified
//! block, a state record whose proof a light client verifies, typed errors with stable codes,
//! and the OpenAPI document the node serves being the one in the repository.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::Cluster;
use itc_crypto::{Address, Decode, Encode};
use itc_ledger::builder::TxBuilder;
use itc_ledger::Account;
use itc_node::api::{ApiError, BlockInfo, StateAnswer, TxState, TxStatus};
use itc_node::client;
use itc_pbft::BlockHeader;
use itc_spv::{Event, Response};

fn get(c: &Cluster, path: &str) -> (u16, Vec<u8>) {
    client::request(c.apis[0], "GET", path, &[]).unwrap()
}

fn error_code(body: &[u8]) -> String {
    serde_json::from_slice::<ApiError>(body)
        .unwrap_or_else(|e| panic!("not an ApiError ({e}): {}", String::from_utf8_lossy(body)))
        .code
}

fn tx_status(c: &Cluster, id: &str) -> TxStatus {
    let (code, body) = get(c, &format!("/v1/tx/{id}"));
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

fn committed(c: &Cluster, id: &str) -> TxStatus {
    let mut last = None;
    c.wait("committed", Duration::from_secs(30), |c| {
        let s = tx_status(c, id);
        let done = s.state == TxState::Committed;
        last = Some(s);
        done
    });
    last.unwrap()
}

#[test]
fn transactions_blocks_and_proven_state_over_http_with_typed_errors() {
    let mut c = Cluster::init();
    c.start_all();
    let builder = TxBuilder::new(c.chain_id);
    let faucet = Address::from_public_key(&c.faucet.public_key());

    // Applied: pending (or already committed) at once, then committed with its receipt.
    let tx = builder
        .transfer(&c.faucet, 0, client::recipient(0), 5)
        .unwrap()
        .encode_to_vec();
    let id = client::submit(c.apis[0], &tx).unwrap();
    let first = tx_status(&c, &id);
    assert!(matches!(first.state, TxState::Pending | TxState::Committed));
    let done = committed(&c, &id);
    assert_eq!(
        (done.code, done.result.as_deref()),
        (Some(0), Some("applied"))
    );
    let height = done.height.unwrap();

    // A failure is a receipt too, named by the ledger: a nonce from the future.
    let late = builder
        .transfer(&c.faucet, 1_000, client::recipient(1), 5)
        .unwrap()
        .encode_to_vec();
    let late_id = client::submit(c.apis[1], &late).unwrap();
    let failed = committed(&c, &late_id);
    assert_eq!(
        (failed.code, failed.result.as_deref()),
        (Some(4), Some("bad_nonce"))
    );
    // Never seen anywhere.
    assert_eq!(tx_status(&c, &"ab".repeat(32)).state, TxState::Unknown);

    // The block that carried the transfer: its header bytes hash to the hash given.
    let (code, body) = get(&c, &format!("/v1/block/{height}"));
    assert_eq!(code, 200);
    let block: BlockInfo = serde_json::from_slice(&body).unwrap();
    let header = BlockHeader::decode_bytes(&hex::decode(&block.header_hex).unwrap()).unwrap();
    assert_eq!(header.height, height);
    assert_eq!(hex::encode(header.hash().0), block.hash);
    assert!(block.transactions >= 1);

    // The faucet's account, proven: a light client anchored at genesis verifies the answer.
    let (code, body) = get(&c, &format!("/v1/state/account/{}", hex::encode(faucet.0)));
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    let answer: StateAnswer = serde_json::from_slice(&body).unwrap();
    let account =
        Account::decode_bytes(&hex::decode(answer.value_hex.as_ref().unwrap()).unwrap()).unwrap();
    assert!(account.nonce >= 1);
    let (mut device, now) = c.light_client(0, answer.height);
    let proof = Response::<8>::decode_bytes(&hex::decode(&answer.proof_hex).unwrap()).unwrap();
    let event = device.handle_response(&proof, now).unwrap();
    assert!(
        matches!(&event, Event::State(entry) if entry.value().map(<[u8]>::to_vec) == Some(hex::decode(answer.value_hex.as_ref().unwrap()).unwrap())),
        "the served proof verifies and proves the served value: {event:?}"
    );

    // Typed errors with stable codes.
    for (path, status, code) in [
        ("/v1/tx/zz", 400, "malformed"),
        ("/v1/block/nine", 400, "malformed"),
        ("/v1/block/999999999", 404, "not_found"),
        ("/v1/state/planet/00", 404, "not_found"),
        ("/v1/state/vendor/4294967296", 400, "malformed"),
        ("/v1/state/account/00", 400, "malformed"),
        ("/v1/account/xyz", 400, "malformed"),
        ("/v1/no/such/route", 404, "not_found"),
    ] {
        let (got, body) = get(&c, path);
        assert_eq!(
            (got, error_code(&body)),
            (status, code.to_owned()),
            "{path}"
        );
    }
    let (got, body) = client::request(c.apis[0], "POST", "/v1/tx", &[0xff, 1, 2]).unwrap();
    assert_eq!((got, error_code(&body)), (400, "refused".to_owned()));
    let big = vec![0u8; itc_node::api::MAX_TX_BODY + 1];
    let (got, body) = client::request(c.apis[0], "POST", "/v1/tx", &big).unwrap();
    assert_eq!((got, error_code(&body)), (413, "too_large".to_owned()));
    let (got, body) = client::request(c.apis[0], "POST", "/v1/txs", &[0, 0, 0, 9, 1]).unwrap();
    assert_eq!((got, error_code(&body)), (400, "malformed".to_owned()));
    let (got, body) = client::request(c.apis[0], "POST", "/v1/admin/set-validators", b"{").unwrap();
    assert_eq!((got, error_code(&body)), (400, "malformed".to_owned()));

    // The document the node serves is the one kept in the repository.
    let (got, body) = get(&c, "/v1/openapi.json");
    assert_eq!(got, 200);
    assert_eq!(
        String::from_utf8(body).unwrap() + "\n",
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json")).unwrap()
    );
}
