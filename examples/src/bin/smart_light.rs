//! The main job. For now: sign and verify an owner command and print a Merkle proof that the
//! command is in a batch. The full end-to-end story (PBFT, DAG, SPV, chaincode, firmware)
//! replaces this as the crates land.

use std::process::ExitCode;

use itc_crypto::merkle::{leaf_hash, MerkleTree};
use itc_crypto::{Address, DomainTag, Encode, SecretKey, Signer};

const COMMAND: DomainTag = DomainTag::new(b"itc/example/command/v1");

fn main() -> ExitCode {
    let owner = match SecretKey::from_bytes(&[0x42; 32]) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("bad key: {e}");
            return ExitCode::FAILURE;
        }
    };
    let pk = owner.public_key();
    println!("owner public key : {pk}");
    println!("owner address    : {}", Address::from_public_key(&pk));

    let command = b"lamp-1: on";
    let Ok(sig) = owner.sign(COMMAND, command) else {
        eprintln!("signing failed");
        return ExitCode::FAILURE;
    };
    let accepted = pk.verify(COMMAND, command, &sig).is_ok();
    let forged = pk.verify(COMMAND, b"lamp-1: off", &sig).is_ok();
    println!("command signed   : {sig:?}");
    println!("verify(command)  : {}", if accepted { "accepted" } else { "REJECTED" });
    println!("verify(tampered) : {}", if forged { "ACCEPTED" } else { "rejected" });

    let batch: Vec<&[u8]> = vec![b"register lamp-1", b"transfer lamp-1", command, b"dim lamp-1"];
    let tree = MerkleTree::from_leaves(&batch);
    let Some(proof) = tree.prove(2) else {
        eprintln!("no proof");
        return ExitCode::FAILURE;
    };
    let included = proof.verify(&tree.root(), &leaf_hash(command)).is_ok();
    println!("batch root       : {}", tree.root());
    println!(
        "inclusion proof  : leaf {} of {}, {} siblings, {} bytes",
        proof.leaf_index,
        proof.leaf_count,
        proof.path.len(),
        proof.encoded_len()
    );
    for (i, h) in proof.path.iter().enumerate() {
        println!("  sibling[{i}]    : {h}");
    }
    println!("proof verifies   : {included}");

    if accepted && !forged && included {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
