//! Inputs that cargo-fuzz (`fuzz/`, target `decode_chaincode_contribution`) found, kept as
//! regression tests. Each is the crashing input minus the target's one-byte type selector.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use itc_chaincode::pedersen::Commitment;
use itc_crypto::{Decode, Encode};

/// decode_chaincode_contribution crash-e2941d9b: `pedersen::decode_point` hands the 33 bytes
/// to `AffinePoint::from_bytes`, which also accepts the SEC1 "compact" tag 0x05; the point then
/// re-encodes with 0x02, so one commitment had two encodings (and so did every type built on
/// `decode_point`: openings proofs, range proofs, contributions). Only 0x02/0x03 may decode.
#[test]
fn commitment_rejects_sec1_compact_tag() {
    let input =
        hex::decode("057a01010000000000006565650000d101000000012f7a1c7a051d00f30000007a").unwrap();
    assert_eq!(input.len(), 33);
    if let Ok(c) = Commitment::decode_bytes(&input) {
        assert_eq!(
            c.encode_to_vec(),
            input,
            "non-canonical SEC1 tag 0x05 accepted"
        );
    }
    for tag in [0x00u8, 0x01, 0x04, 0x05, 0x06, 0x07, 0xff] {
        let mut b = input.clone();
        b[0] = tag;
        assert!(
            Commitment::decode_bytes(&b).is_err(),
            "tag {tag:#04x} accepted"
        );
    }
}
