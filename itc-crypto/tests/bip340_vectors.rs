//! The official BIP340 test-vector table (bitcoin/bips `bip-0340/test-vectors.csv`, all 19
//! rows including the variable-length-message rows added in 2022-12): every signing row must
//! reproduce the exact signature, every row must verify or fail as the table says.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use itc_crypto::{PublicKey, SecretKey, Signature};

fn hex_bytes(s: &str) -> Vec<u8> {
    hex::decode(s).expect("vector hex is valid")
}

#[test]
fn bip340_official_table() {
    let csv = include_str!("vectors/bip340.csv");
    let mut rows = 0;
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.splitn(8, ',').collect();
        let [index, sk, pk, aux, msg, sig, result, _comment] = f[..] else {
            panic!("malformed row {line}");
        };
        rows += 1;
        let msg = hex_bytes(msg);
        let sig_bytes: [u8; 64] = hex_bytes(sig).try_into().unwrap();
        let expected_ok = result == "TRUE";

        if !sk.is_empty() {
            let key = SecretKey::from_bytes(&hex_bytes(sk).try_into().unwrap()).unwrap();
            assert_eq!(
                key.public_key().as_bytes().to_vec(),
                hex_bytes(pk),
                "row {index}: public key"
            );
            let aux: [u8; 32] = hex_bytes(aux).try_into().unwrap();
            let produced = key.sign_raw(&msg, &aux).unwrap();
            assert_eq!(produced, Signature(sig_bytes), "row {index}: signature");
        }

        let pk_bytes: [u8; 32] = hex_bytes(pk).try_into().unwrap();
        let verified = match PublicKey::from_bytes(&pk_bytes) {
            Ok(pk) => pk.verify_raw(&msg, &Signature(sig_bytes)).is_ok(),
            Err(_) => false,
        };
        assert_eq!(verified, expected_ok, "row {index}: verification result");
    }
    assert_eq!(rows, 19, "the whole table ran");
}
