//! serde (feature `serde`): commands and firmware manifests round-trip through JSON by their
//! canonical encoding, and a tampered one is refused by the decoder's checks.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use itc_crypto::Encode;
use itc_device_sdk::{Actions, SignedCommand};

#[test]
fn signed_commands_round_trip_and_tampering_is_refused() {
    let w = World::new();
    let cmd = w.command(&w.owner, Actions::CONTROL, 7);
    let json = serde_json::to_string(&cmd).unwrap();
    assert_eq!(json, format!("\"{}\"", hex_of(&cmd.encode_to_vec())));
    let back: SignedCommand = serde_json::from_str(&json).unwrap();
    assert_eq!(back, cmd);
    assert!(back.verify_signature().is_ok());
    // An unknown version byte is refused at decode.
    let mut bytes = cmd.encode_to_vec();
    bytes[0] = 9;
    assert!(serde_json::from_str::<SignedCommand>(&format!("\"{}\"", hex_of(&bytes))).is_err());
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
