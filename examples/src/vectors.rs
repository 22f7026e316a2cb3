//! Conformance vectors for `docs/spec/vectors/`: every case is built through the crates'
//! public API, so the files say what the code does. `cargo run -p itc-examples --bin
//! spec_vectors -- docs/spec/vectors` writes them; the test `spec_vectors` re-derives every
//! file and fails on any difference, so the spec and the code cannot drift apart.
//!
//! Bytes are lower-case hex. A refused input names its typed error: `error` is the variant
//! (what a second implementation must match), `message` its text (informative).
//!
//! ```
//! let files = itc_examples::vectors::all().unwrap();
//! assert!(files.iter().any(|(name, _)| *name == "hashing.json"));
//! ```

use std::fmt::Debug;

use itc_crypto::merkle::{InclusionProof, MerkleTree};
use itc_crypto::quorum::{Threshold, Validator, ValidatorSet};
use itc_crypto::{
    keccak256, sha3_256, tagged_hash, Address, Decode, DomainTag, Encode, Hash, SecretKey, Signer,
};
use itc_ledger::builder::TxBuilder;
use itc_ledger::{Account, GenesisState, Ledger, SignedTransaction, StateKey};
use itc_pbft::message::{vote_digest, Phase, Vote};
use itc_pbft::{BlockHeader, CommitCertificate, Message};
use serde_json::{json, Value};

use crate::story::reason;

/// Every vectors file: (file name, contents), or why a fixed case could not be built.
pub fn all() -> Result<Vec<(&'static str, Value)>, String> {
    Ok(vec![
        ("hashing.json", hashing()),
        ("keys.json", keys()?),
        ("merkle.json", merkle()),
        ("certificates.json", certificates()?),
        ("encoding.json", encoding()?),
        ("state_proofs.json", state_proofs()?),
        ("device_commands.json", device_commands()?),
    ])
}

fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

fn refusal<E: Debug + std::fmt::Display>(e: &E) -> Value {
    json!({ "error": reason(e), "message": e.to_string() })
}

fn key(i: u8) -> Result<SecretKey, String> {
    SecretKey::from_bytes(&[i; 32]).map_err(|e| format!("fixed key {i}: {e}"))
}

/// Every protocol domain tag (test and bench tags are not protocol).
const TAGS: &[DomainTag] = &[
    itc_crypto::merkle::LEAF_TAG,
    itc_crypto::quorum::VALIDATOR_SET_TAG,
    itc_pbft::message::PRE_PREPARE_TAG,
    itc_pbft::message::PREPARE_TAG,
    itc_pbft::message::CHECKPOINT_TAG,
    itc_pbft::message::VIEW_CHANGE_TAG,
    itc_pbft::message::NEW_VIEW_TAG,
    itc_pbft::message::BATCH_REQUEST_TAG,
    itc_pbft::header::HEADER_TAG,
    itc_pbft::certificate::COMMIT_TAG,
    itc_ledger::tx::ACCOUNT_TX_TAG,
    itc_ledger::system::SYSTEM_TX_TAG,
    itc_ledger::system::TX_ID_TAG,
    itc_ledger::smt::KEY_TAG,
    itc_ledger::smt::VALUE_TAG,
    itc_ledger::smt::LEAF_TAG,
    itc_ledger::smt::BRANCH_TAG,
    itc_ledger::device::DEVICE_ID_TAG,
    itc_dag::tx::TX_ID_TAG,
    itc_dag::tx::ESSENCE_TAG,
    itc_dag::tx::SIGNATURE_TAG,
    itc_dag::pow::POW_TAG,
    itc_dag::snapshot::TIP_SET_TAG,
    itc_dag::STATE_DIGEST_TAG,
    itc_dag::GENESIS_TAG,
    itc_device_sdk::command::COMMAND_TAG,
    itc_device_sdk::session::SESSION_OPEN_TAG,
    itc_device_sdk::flash::REPLAY_RECORD_TAG,
    itc_device_sdk::flash::COUNTER_RECORD_TAG,
    itc_device_sdk::firmware::MANIFEST_TAG,
    itc_device_sdk::firmware::IMAGE_TAG,
    itc_device_sdk::firmware::MANIFEST_ID_TAG,
];

/// Plain hashes and every domain tag's tagged hash of two inputs.
fn hashing() -> Value {
    let tags: Vec<Value> = TAGS
        .iter()
        .map(|t| {
            json!({
                "tag": String::from_utf8_lossy(t.as_bytes()),
                "tagged_hash_of_empty": tagged_hash(*t, b"").to_string(),
                "tagged_hash_of_itc": tagged_hash(*t, b"itc").to_string(),
            })
        })
        .collect();
    json!({
        "about": "Keccak-256, SHA3-256 and domain-separated hashing (docs/spec/hashing.md)",
        "keccak256": [
            { "input": "", "hash": keccak256(b"").to_string() },
            { "input_hex": hex(b"abc"), "hash": keccak256(b"abc").to_string() },
        ],
        "sha3_256": [
            { "input_hex": hex(b"abc"), "hash": sha3_256(b"abc").to_string() },
        ],
        "domain_tags": tags,
    })
}

/// Keys, addresses and deterministic BIP340 signatures (all-zero auxiliary randomness).
fn keys() -> Result<Value, String> {
    let tag = itc_device_sdk::command::COMMAND_TAG;
    let message = b"lamp 7: on";
    let mut cases = Vec::new();
    for i in 1u8..=3 {
        cases.push({
            let k = key(i)?;
            let pk = k.public_key();
            let sig = k.sign(tag, message).ok();
            let sig_hex = sig.map(|s| hex(&s.0)).unwrap_or_default();
            let mut flipped = sig;
            if let Some(s) = flipped.as_mut() {
                s.0[10] ^= 1;
            }
            let valid = sig.is_some_and(|s| pk.verify(tag, message, &s).is_ok());
            let flipped_refused = flipped.map(|s| match pk.verify(tag, message, &s) {
                Ok(()) => json!("accepted"),
                Err(e) => refusal(&e),
            });
            json!({
                "secret_key": hex(&[i; 32]),
                "public_key": hex(&pk.encode_to_vec()),
                "address": hex(&Address::from_public_key(&pk).0),
                "tag": String::from_utf8_lossy(tag.as_bytes()),
                "message_hex": hex(message),
                "digest": tagged_hash(tag, message).to_string(),
                "signature": sig_hex,
                "verifies": valid,
                "signature_with_bit_80_flipped": flipped_refused,
            })
        });
    }
    Ok(json!({
        "about": "BIP340 Schnorr over secp256k1, deterministic signing, addresses (docs/spec/keys.md)",
        "cases": cases,
    }))
}

/// Merkle roots and inclusion proofs (the root binds the leaf count).
fn merkle() -> Value {
    let cases: Vec<Value> = [1usize, 2, 3, 5, 8]
        .iter()
        .map(|&n| {
            let leaves: Vec<Vec<u8>> = (0..n).map(|i| format!("leaf-{i}").into_bytes()).collect();
            let tree = MerkleTree::from_leaves(&leaves);
            let last = n - 1;
            let proof = tree.prove(last);
            let leaf = itc_crypto::merkle::leaf_hash(leaves.get(last).map_or(&[][..], |l| l));
            let proof_hex = proof.as_ref().map(|p| hex(&p.encode_to_vec()));
            let verifies = proof.as_ref().is_some_and(|p| p.verify(&tree.root(), &leaf).is_ok());
            let wrong_leaf = proof
                .as_ref()
                .map(|p| match p.verify(&tree.root(), &itc_crypto::merkle::leaf_hash(b"x")) {
                    Ok(()) => json!("accepted"),
                    Err(e) => refusal(&e),
                });
            json!({
                "leaves_utf8": leaves.iter().map(|l| String::from_utf8_lossy(l)).collect::<Vec<_>>(),
                "root": tree.root().to_string(),
                "proof_of_last_leaf": proof_hex,
                "proof_verifies": verifies,
                "same_proof_for_another_leaf": wrong_leaf,
            })
        })
        .collect();
    let truncated = match InclusionProof::decode_bytes(&[0x00]) {
        Ok(_) => json!("decoded"),
        Err(e) => refusal(&e),
    };
    json!({
        "about": "Merkle tree over leaf hashes (docs/spec/hashing.md)",
        "empty_root": itc_crypto::merkle::empty_root().to_string(),
        "cases": cases,
        "malformed_proof_hex_00": truncated,
    })
}

/// Commit certificates at the strict 2/3 bar, and the 1/3 bar light clients trust.
fn certificates() -> Result<Value, String> {
    let mut out = Vec::new();
    for powers in [&[1u64, 1, 1, 1][..], &[1, 1, 1, 3][..]] {
        let keys: Vec<SecretKey> = (1..=powers.len() as u8)
            .map(key)
            .collect::<Result<_, _>>()?;
        let Ok(set) = ValidatorSet::<8>::new(keys.iter().zip(powers).map(|(k, p)| Validator {
            key: k.public_key(),
            power: *p,
        })) else {
            continue;
        };
        let header = BlockHeader {
            height: 1,
            view: 0,
            validator_set_hash: set.hash(),
            next_validator_set_hash: set.hash(),
            ..BlockHeader::genesis(Hash::ZERO, set.hash(), 1_000)
        };
        let digest = itc_pbft::certificate::commit_digest(0, 1, &header.hash());
        let n = set.len();
        // Every subset of signers, by set index.
        for mask in 1u32..(1 << n) {
            let signers: Vec<usize> = (0..n).filter(|i| mask & (1 << i) != 0).collect();
            let mut cert: CommitCertificate<Vec<itc_crypto::Signature>> = CommitCertificate::new(0);
            let mut power = 0;
            for &i in &signers {
                let Some(v) = set.validators().get(i) else {
                    continue;
                };
                let Some(k) = keys.iter().find(|k| k.public_key() == v.key) else {
                    continue;
                };
                if let Ok(sig) = k.sign_digest(&digest) {
                    let _ = cert.insert(i, sig);
                    power += v.power;
                }
            }
            let total = set.total_power();
            out.push(json!({
                "powers_by_index": set.validators().iter().map(|v| v.power).collect::<Vec<_>>(),
                "signers": signers,
                "signed_power": power,
                "total_power": total,
                "more_than_two_thirds": Threshold::TwoThirds.is_met(power, total),
                "more_than_one_third": Threshold::OneThird.is_met(power, total),
                "certificate": match cert.verify(&header, &set) {
                    Ok(p) => json!({ "verifies": true, "power": p }),
                    Err(e) => refusal(&e),
                },
            }));
        }
    }
    Ok(json!({
        "about": "commit certificates: signers with strictly more than 2/3 of the power (docs/spec/pbft.md, hashing.md); light clients extend trust on strictly more than 1/3",
        "header_rule": "height 1, view 0, over BlockHeader::genesis(ZERO, set, 1000) with height 1; digest = commit_digest(view, height, header hash)",
        "cases": out,
    }))
}

fn decode_case<T: Decode + Encode + Debug>(what: &str, bytes: &[u8]) -> Value {
    match T::decode_bytes(bytes) {
        Ok(v) => json!({
            "type": what,
            "bytes": hex(bytes),
            "decodes": true,
            "re_encoded": hex(&v.encode_to_vec()),
        }),
        Err(e) => {
            json!({ "type": what, "bytes": hex(bytes), "decodes": false, "refusal": refusal(&e) })
        }
    }
}

/// Valid and invalid encodings of wire types, with the decode result or typed error.
fn encoding() -> Result<Value, String> {
    let k = key(1)?;
    let set: Result<ValidatorSet, _> = ValidatorSet::new([Validator {
        key: k.public_key(),
        power: 1,
    }]);
    let header_hash = set
        .map(|s| BlockHeader::genesis(Hash::ZERO, s.hash(), 0).hash())
        .unwrap_or(Hash::ZERO);
    let signature = k
        .sign_digest(&vote_digest(Phase::Prepare, 0, 1, &header_hash))
        .unwrap_or(itc_crypto::Signature([0; 64]));
    let prepare = Message::Prepare(Vote {
        view: 0,
        height: 1,
        header_hash,
        sender: 0,
        signature,
    })
    .encode_to_vec();
    let tx = TxBuilder::new(0x17c)
        .transfer(&k, 0, Address([2; 20]), 40)
        .map(|t| t.encode_to_vec())
        .unwrap_or_default();
    let request = itc_spv::Request::StateProof {
        height: 5,
        key: StateKey::Account(Address([2; 20])),
    }
    .encode_to_vec();
    let mut cases = Vec::new();
    type DecodeCase = fn(&str, &[u8]) -> Value;
    let types: [(&str, &Vec<u8>, DecodeCase); 3] = [
        (
            "itc_pbft::Message (prepare)",
            &prepare,
            decode_case::<Message>,
        ),
        (
            "itc_ledger::SignedTransaction (transfer)",
            &tx,
            decode_case::<SignedTransaction>,
        ),
        (
            "itc_spv::Request (state proof)",
            &request,
            decode_case::<itc_spv::Request>,
        ),
    ];
    for (what, valid, decode_as) in types {
        let decode = |b: &[u8]| decode_as(what, b);
        cases.push(decode(valid));
        let mut trailing = valid.clone();
        trailing.push(0);
        cases.push(decode(&trailing));
        cases.push(decode(valid.get(..valid.len() / 2).unwrap_or(&[])));
        let mut tag = valid.clone();
        if let Some(b) = tag.first_mut() {
            *b = 0xee;
        }
        cases.push(decode(&tag));
        cases.push(decode(&[]));
    }
    Ok(json!({
        "about": "canonical encoding: valid values, and each with a trailing byte, cut in half, an unknown leading tag, empty (docs/spec/encoding.md)",
        "cases": cases,
    }))
}

/// Sparse-Merkle state proofs: presence, absence, and a proof offered for the wrong value.
fn state_proofs() -> Result<Value, String> {
    let alice = Address::from_public_key(&key(1)?.public_key());
    let bob = Address::from_public_key(&key(2)?.public_key());
    let genesis = GenesisState {
        chain_id: 0x17c,
        validators: ValidatorSet::<{ itc_crypto::quorum::MAX_VALIDATORS }>::new([Validator {
            key: key(9)?.public_key(),
            power: 1,
        }])
        .map_err(|e| e.to_string())?,
        balances: vec![(alice, 100), (bob, 5)],
        vendors: Vec::new(),
    };
    let ledger = Ledger::from_genesis(&genesis).map_err(|e| e.to_string())?;
    let root = ledger.root();
    let mut cases = Vec::new();
    for (what, state_key) in [
        ("alice's account (present)", StateKey::Account(alice)),
        (
            "an unfunded account (absent)",
            StateKey::Account(Address([7; 20])),
        ),
    ] {
        let Ok(entry) = ledger.prove(&state_key) else {
            continue;
        };
        let forged = Account {
            balance: 1_000_000,
            nonce: 0,
        }
        .encode_to_vec();
        cases.push(json!({
            "what": what,
            "key": hex(&state_key.encode_to_vec()),
            "key_hash": state_key.key_hash().to_string(),
            "value": entry.value.as_deref().map(hex),
            "proof": hex(&entry.proof.encode_to_vec()),
            "verifies": entry.verify(&root).is_ok(),
            "same_proof_for_value_1000000_itc": match entry.proof.verify_entry(&root, &state_key, Some(&forged)) {
                Ok(()) => json!("accepted"),
                Err(e) => refusal(&e),
            },
        }));
    }
    Ok(json!({
        "about": "ledger state proofs under the state root (docs/spec/ledger.md)",
        "genesis": "chain 0x17c; balances: address of key 01…01 = 100, address of key 02…02 = 5",
        "state_root": root.to_string(),
        "cases": cases,
    }))
}

/// Signed device commands and the command gate's verdict on each, in order, against one
/// device whose ownership record (owner, one CONTROL+READ grantee) was proven by its light
/// client from a certified chain (`itc_spv` test kit) and installed with
/// `Device::install_ownership`.
fn device_commands() -> Result<Value, String> {
    use itc_device_sdk::light_client::{DeviceLightClient, LightClientConfig};
    use itc_device_sdk::replay::MemoryCounterStore;
    use itc_device_sdk::{Command, Device, DeviceConfig, DeviceIdentity};
    use itc_ledger::{Actions, Grant, OwnershipRecord, VendorId};
    use itc_spv::server::StateSnapshot;
    use itc_spv::testkit::TestChain;
    use itc_spv::{Event, Request};

    let err = |e: &dyn std::fmt::Debug| format!("{e:?}");
    let (device_key, owner, grantee, stranger) = (key(11)?, key(12)?, key(13)?, key(14)?);
    let mut record =
        OwnershipRecord::new(device_key.public_key(), VendorId(7), 42, owner.public_key());
    record
        .upsert_grant(Grant {
            grantee: grantee.public_key(),
            actions: Actions::CONTROL.union(Actions::READ),
            expires_at: 1_000,
        })
        .map_err(|e| err(&e))?;
    let id = record.device_id();
    let state_key = StateKey::Device(id);
    let mut chain = TestChain::new(4, 10);
    chain
        .push_block(
            vec![],
            Some(StateSnapshot::from_records([(
                state_key,
                record.encode_to_vec(),
            )])),
        )
        .map_err(|e| err(&e))?;
    chain.extend(1);
    let now = chain.now_ms();
    let mut client: DeviceLightClient<8> =
        DeviceLightClient::new(chain.anchor(), LightClientConfig::new(10), now)
            .map_err(|e| err(&e))?;
    client.sync_to(2);
    for _ in 0..100 {
        let Some(r) = client.poll_request() else {
            break;
        };
        chain.ensure_certificate(&r);
        client
            .handle_response(&chain.server().answer::<8>(&r), now)
            .map_err(|e| err(&e))?;
    }
    let answer = chain.server().answer::<8>(&Request::StateProof {
        height: 2,
        key: state_key,
    });
    let mut store = MemoryCounterStore::default();
    let mut device = Device::new(
        DeviceIdentity::new(device_key.clone()),
        DeviceConfig::default(),
        &mut store,
    )
    .map_err(|e| err(&e))?;
    match client.handle_response(&answer, now).map_err(|e| err(&e))? {
        Event::State(entry) => device.install_ownership(&entry).map_err(|e| err(&e))?,
        other => return Err(format!("no state proof: {other:?}")),
    }

    let expires = now + 60_000;
    let signed = |signer: &SecretKey,
                  device: itc_ledger::DeviceId,
                  action,
                  arg: &[u8],
                  counter,
                  expires_at| {
        Command::new(
            device,
            signer.public_key(),
            action,
            arg,
            counter,
            expires_at,
        )
        .and_then(|c| c.sign(signer))
        .map(|c| c.encode_to_vec())
        .map_err(|e| err(&e))
    };
    let other_device = itc_ledger::DeviceId::from_key(&key(15)?.public_key());
    let on = signed(&owner, id, Actions::CONTROL, b"on", 1, expires)?;
    let mut tampered = signed(&owner, id, Actions::CONTROL, b"dim 40", 2, expires)?;
    if let Some(pos) = tampered.windows(6).position(|w| w == b"dim 40") {
        if let Some(b) = tampered.get_mut(pos + 4) {
            *b = b'9';
        }
    }
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("the owner's \"on\", counter 1", on.clone()),
        ("the same bytes again (a replay)", on.clone()),
        (
            "a stranger's \"on\"",
            signed(&stranger, id, Actions::CONTROL, b"on", 1, expires)?,
        ),
        (
            "the owner's \"dim 40\" with its argument changed in transit to \"dim 90\"",
            tampered,
        ),
        (
            "the owner's command for another device",
            signed(&owner, other_device, Actions::CONTROL, b"on", 3, expires)?,
        ),
        (
            "the owner's command that expired before now",
            signed(&owner, id, Actions::CONTROL, b"on", 4, now - 1)?,
        ),
        (
            "the grantee's \"dim 10\" (CONTROL is granted)",
            signed(&grantee, id, Actions::CONTROL, b"dim 10", 1, expires)?,
        ),
        (
            "the grantee's firmware update (not granted)",
            signed(&grantee, id, Actions::UPDATE_FIRMWARE, b"v2", 2, expires)?,
        ),
        (
            "the owner's \"off\", counter 5",
            signed(&owner, id, Actions::CONTROL, b"off", 5, expires)?,
        ),
        (
            "a command cut short",
            on.get(..on.len() / 2)
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
        ),
    ];
    let mut out = Vec::new();
    for (what, bytes) in cases {
        let verdict = match device.handle_command_bytes(&bytes, now, &mut store) {
            Ok(a) => json!({
                "accepted": true,
                "access": reason(&a.access),
                "argument_utf8": String::from_utf8_lossy(&a.argument),
                "counter": a.counter,
            }),
            Err(e) => json!({ "accepted": false, "refusal": refusal(&e) }),
        };
        out.push(json!({ "what": what, "command": hex(&bytes), "verdict": verdict }));
    }

    // Command sessions (device.md §7), on the same device: the owner opens one (its counter 6,
    // ephemeral key 16), then commands in it.
    let ephemeral = key(16)?;
    let (open, mut phone) = itc_device_sdk::PhoneSession::open(
        &owner,
        device_key.public_key(),
        Actions::CONTROL,
        6,
        now + 600_000,
        ephemeral,
    )
    .map_err(|e| err(&e))?;
    let opened = match device.open_session(&open, now, &mut store) {
        Ok(o) => json!({
            "accepted": true,
            "session_id": hex(&o.id.0),
            "confirmation": hex(&o.confirmation),
        }),
        Err(e) => json!({ "accepted": false, "refusal": refusal(&e) }),
    };
    let mut session_cmd = |arg: &[u8]| {
        phone
            .command(Actions::CONTROL, arg, expires)
            .map_err(|e| err(&e))
    };
    let dim50 = session_cmd(b"dim 50")?;
    let dim60 = session_cmd(b"dim 60")?;
    let mut rewritten = dim60.clone();
    rewritten.argument =
        heapless::Vec::from_slice(b"dim 90").map_err(|()| "argument".to_string())?;
    let mut unknown = dim60.clone();
    unknown.id = itc_device_sdk::SessionId([0; 16]);
    let session_cases: Vec<(&str, itc_device_sdk::SessionCommand)> = vec![
        ("the owner's session \"dim 50\", counter 1", dim50.clone()),
        ("the same bytes again (a replay)", dim50),
        (
            "the owner's session \"dim 60\" with its argument changed in transit to \"dim 90\"",
            rewritten,
        ),
        ("the owner's session \"dim 60\", counter 2", dim60),
        ("a command for a session the device does not hold", unknown),
    ];
    let mut sessions = Vec::new();
    for (what, cmd) in session_cases {
        let bytes = cmd.encode_to_vec();
        let verdict = match device.handle_session_command_bytes(&bytes, now) {
            Ok(a) => json!({
                "accepted": true,
                "access": reason(&a.access),
                "argument_utf8": String::from_utf8_lossy(&a.argument),
                "counter": a.counter,
            }),
            Err(e) => json!({ "accepted": false, "refusal": refusal(&e) }),
        };
        sessions.push(json!({ "what": what, "command": hex(&bytes), "verdict": verdict }));
    }
    Ok(json!({
        "about": "signed device commands and the command gate's verdicts, in order, on one device (docs/spec/device.md); the device's state is installed from a light-client-verified state proof; then a command session (§7): the owner's open and session commands with their verdicts",
        "device_secret_key": hex(&[11; 32]),
        "device_public_key": hex(&device_key.public_key().encode_to_vec()),
        "owner_public_key": hex(&owner.public_key().encode_to_vec()),
        "grantee_public_key": hex(&grantee.public_key().encode_to_vec()),
        "ownership_record": hex(&record.encode_to_vec()),
        "proven_under_header": 2,
        "now_ms": now,
        "cases": out,
        "session_open": {
            "ephemeral_secret_key": hex(&[16; 32]),
            "open": hex(&open.encode_to_vec()),
            "verdict": opened,
        },
        "session_cases": sessions,
    }))
}
