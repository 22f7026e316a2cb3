//! The conformance vectors in `docs/spec/vectors/` are what the code does today: every file is
//! re-derived through the public API and must match the checked-in one exactly. After an
//! intended change: `cargo run -p itc-examples --bin spec_vectors -- docs/spec/vectors`, and
//! say in the spec what changed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

#[test]
fn the_checked_in_vectors_are_what_the_code_does() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/spec/vectors");
    let files = itc_examples::vectors::all().unwrap();
    assert!(files.len() >= 7);
    for (name, derived) in files {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (generate with the spec_vectors binary)",
                path.display()
            )
        });
        let stored: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(
            stored == derived,
            "{name} differs from what the code derives: regenerate with `cargo run -p itc-examples --bin spec_vectors -- docs/spec/vectors` if the change is intended"
        );
    }
}

/// The vectors say what they claim: spot checks a second implementation would run first.
#[test]
fn the_vectors_hold_their_own_claims() {
    let files = itc_examples::vectors::all().unwrap();
    let get = |n: &str| {
        files
            .iter()
            .find(|(f, _)| *f == n)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let keys = get("keys.json");
    for c in keys["cases"].as_array().unwrap() {
        assert_eq!(c["verifies"], true);
        assert_eq!(
            c["signature_with_bit_80_flipped"]["error"],
            "InvalidSignature"
        );
    }
    let certs = get("certificates.json");
    for c in certs["cases"].as_array().unwrap() {
        let quorum = c["more_than_two_thirds"].as_bool().unwrap();
        assert_eq!(
            c["certificate"]["verifies"].as_bool().unwrap_or(false),
            quorum,
            "{c}"
        );
    }
    let enc = get("encoding.json");
    let cases = enc["cases"].as_array().unwrap();
    assert_eq!(cases.iter().filter(|c| c["decodes"] == true).count(), 3);
    for c in cases.iter().filter(|c| c["decodes"] == true) {
        assert_eq!(c["bytes"], c["re_encoded"]);
    }
    let sp = get("state_proofs.json");
    for c in sp["cases"].as_array().unwrap() {
        assert_eq!(c["verifies"], true);
        assert!(c["same_proof_for_value_1000000_itc"]["error"].is_string());
    }
    let dev = get("device_commands.json");
    let verdicts: Vec<String> = dev["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let v = &c["verdict"];
            v["access"]
                .as_str()
                .or(v["refusal"]["error"].as_str())
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            "Owner",
            "Replayed",
            "NotAuthorized",
            "InvalidSignature",
            "WrongDevice",
            "Expired",
            "Delegate",
            "ActionNotGranted",
            "Owner",
            "Malformed"
        ]
    );
}
