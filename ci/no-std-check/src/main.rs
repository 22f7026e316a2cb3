//! Link check for CI: a `#![no_std]`, `#![no_main]` binary for `thumbv7em-none-eabihf` that
//! calls into every itc library crate with default features off. If any dependency pulls in
//! `std` (or needs an allocator on these paths), this fails to build or link.
#![no_std]
#![no_main]

use core::hint::black_box;
use core::panic::PanicInfo;

use itc_crypto::quorum::ValidatorSet;
use itc_crypto::{merkle, tagged_hash, Decode, DomainTag, Hash, PublicKey, Signature};
use itc_pbft::{BlockHeader, CompactCommitCertificate};

// Every crate is linked in; the entry point exercises the no-alloc verification paths that
// light clients and devices run: certificates, state proofs, DAG inclusion, commands.
use itc_chaincode as _;
use itc_spv as _;

const TAG: DomainTag = DomainTag::new(b"itc/ci/no-std-check/v1");

/// Entry point the linker keeps; never run, only linked.
#[no_mangle]
pub extern "C" fn _start() -> ! {
    let msg: [u8; 4] = black_box([1, 2, 3, 4]);
    let digest: Hash = tagged_hash(TAG, &msg);
    let key_bytes: [u8; 32] = black_box([2u8; 32]);
    if let Ok(pk) = PublicKey::from_bytes(&key_bytes) {
        let sig = Signature(black_box([0u8; 64]));
        black_box(pk.verify_digest(&digest, &sig).is_ok());
    }
    let proof_bytes: [u8; 8] = black_box([0u8; 8]);
    if let Ok(p) = <merkle::InclusionProof as itc_crypto::Decode>::decode_bytes(&proof_bytes) {
        black_box(p.verify(&digest, &digest).is_ok());
    }
    let input: &[u8] = black_box(&[0u8; 16]);
    if let (Ok(header), Ok(cert), Ok(set)) = (
        BlockHeader::decode_bytes(input),
        CompactCommitCertificate::<4>::decode_bytes(input),
        ValidatorSet::<4>::decode_bytes(input),
    ) {
        black_box(cert.verify(&header, &set).is_ok());
    }
    if let Ok(proof) = itc_ledger::StateProof::decode_bytes(input) {
        black_box(proof.verify(&digest, b"key", Some(b"value")).is_ok());
    }
    if let Ok(tx) = itc_dag::Transaction::from_bytes(input) {
        black_box(tx);
    }
    black_box(itc_device_sdk::SignedCommand::decode_bytes(input).is_ok());
    loop {
        black_box(());
    }
}

#[panic_handler]
fn panic(_: &PanicInfo<'_>) -> ! {
    loop {
        black_box(());
    }
}
