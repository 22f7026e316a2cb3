//! serde across the protocol crates (feature `serde`): the data types an API exposes — blocks,
//! headers, certificates, transactions, records, proofs, DAG transactions and snapshots, light-
//! client messages — round-trip through JSON, and a tampered value is refused by the decoder's
//! own checks.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use itc_chain::testkit::TestChain;
use itc_crypto::{Address, Encode, SecretKey};
use itc_dag::{Payload, TangleGenesis, TransactionBuilder};
use itc_ledger::{Account, SignedTransaction, StateKey};
use itc_pbft::message::CertifiedBlock;
use itc_pbft::BlockHeader;
use serde::de::DeserializeOwned;
use serde::Serialize;

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + core::fmt::Debug>(v: &T) -> String {
    let json = serde_json::to_string(v).unwrap();
    let back: T = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, v, "{json}");
    json
}

#[test]
fn protocol_types_round_trip_through_json() {
    let alice = SecretKey::from_bytes(&[1; 32]).unwrap();
    let alice_addr = Address::from_public_key(&alice.public_key());
    let mut chain = TestChain::new(4, 8, &[(alice_addr, 100)]);
    let pay = chain
        .builder()
        .transfer(&alice, 0, Address([2; 20]), 40)
        .unwrap();
    round_trip(&pay);
    let block: CertifiedBlock = chain.next_block(vec![pay.encode_to_vec()]);
    round_trip(&block);
    round_trip(&block.certificate);
    // Plain records are structured JSON with hex hashes.
    let header_json = round_trip(&block.header);
    assert!(header_json.starts_with("{\"height\":1,"), "{header_json}");
    let account_json = round_trip(&Account {
        balance: 60,
        nonce: 1,
    });
    assert_eq!(account_json, "{\"balance\":60,\"nonce\":1}");
    round_trip(&StateKey::Account(alice_addr));
    round_trip(&chain.genesis_state().validators);

    let key = SecretKey::from_bytes(&[9; 32]).unwrap();
    let tx = TransactionBuilder::new(key.public_key(), 0, 100)
        .parents(&TangleGenesis::roots())
        .unwrap()
        .payload(Payload::data(b"reading").unwrap())
        .sign(&key)
        .unwrap();
    round_trip(&tx);
    round_trip(&tx.id());

    let request = itc_spv::Request::StateProof {
        height: 1,
        key: StateKey::Account(alice_addr),
    };
    round_trip(&request);
}

#[test]
fn tampered_json_is_refused_by_the_decoders_checks() {
    let mut chain = TestChain::new(4, 8, &[]);
    let block = chain.next_block(vec![]);
    let json = serde_json::to_string(&block).unwrap();
    // One extra byte at the end: trailing bytes are refused, as by `Decode`.
    let longer = format!("{}00\"", json.trim_end_matches('"'));
    assert!(serde_json::from_str::<CertifiedBlock>(&longer).is_err());
    // A header with a field missing is refused.
    assert!(serde_json::from_str::<BlockHeader>("{\"height\":1}").is_err());
    // A transaction whose tag byte is unknown.
    let bad = format!("\"ff{}\"", "00".repeat(40));
    assert!(serde_json::from_str::<SignedTransaction>(&bad).is_err());
}
