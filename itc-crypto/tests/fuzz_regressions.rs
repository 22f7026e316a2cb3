//! Inputs that cargo-fuzz (`fuzz/`, target `decode_crypto`) found, kept as regression tests.
//! Each is the crashing input minus the target's one-byte type selector.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use itc_crypto::ecdsa::EcdsaPublicKey;
use itc_crypto::{Decode, Encode};

/// decode_crypto crash-9ea00827: a 33-byte SEC1 key with the "compact" tag 0x05 (x only, as
/// k256 accepts it) decoded, then re-encoded with tag 0x02 — two encodings of one key, so the
/// decoder was not canonical. Only 0x02/0x03 compressed keys may decode.
#[test]
fn ecdsa_public_key_rejects_sec1_compact_tag() {
    let input =
        hex::decode("053ababa732fc0dc40a503000000007cafe70032b4b4b4b4b4b4b43fbab4b4b4b4").unwrap();
    assert_eq!(input.len(), 33);
    if let Ok(key) = EcdsaPublicKey::decode_bytes(&input) {
        assert_eq!(
            key.encode_to_vec(),
            input,
            "non-canonical SEC1 tag 0x05 accepted"
        );
    }
    // Every tag other than 0x02 / 0x03 must be refused, whatever the x coordinate.
    for tag in [0x00u8, 0x01, 0x04, 0x05, 0x06, 0x07, 0xff] {
        let mut b = input.clone();
        b[0] = tag;
        assert!(
            EcdsaPublicKey::decode_bytes(&b).is_err(),
            "tag {tag:#04x} accepted"
        );
    }
}
