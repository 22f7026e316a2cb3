//! Link check for CI: a `#![no_std]`, `#![no_main]` binary that calls into every itc library
//! crate with default features off. `ci/targets.sh` builds it for every supported MCU target
//! (thumbv7em-none-eabihf, thumbv6m-none-eabi, thumbv8m.main-none-eabihf,
//! riscv32imc-unknown-none-elf). If any dependency pulls in `std`, needs an allocator or an
//! atomic compare-and-swap on these paths, or leaves an undefined symbol, this fails to build
//! or link.
#![no_std]
#![no_main]

use core::hint::black_box;
use core::panic::PanicInfo;

use itc_crypto::quorum::ValidatorSet;
use itc_crypto::{merkle, tagged_hash, Decode, DomainTag, Hash, PublicKey, Signature};
use itc_pbft::{BlockHeader, CompactCommitCertificate};

use itc_chaincode::pedersen::{Commitment, OpeningProof, PedersenGens};
use itc_spv::{Config, LightClient, Response, TrustAnchor};

// The entry point exercises the no-alloc verification paths that light clients and devices
// run: signatures, Merkle and state proofs, certificates, the light client's trust anchor and
// response handling, DAG transactions, commands, a chaincode commitment opening. The inputs
// are opaque (`black_box`), so none of these calls can be optimised away.

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
    if let Ok(anchor) = TrustAnchor::<4>::decode_bytes(input) {
        let mut slot: Option<LightClient<2, 4>> = None;
        if let Ok(client) = LightClient::init_in(&mut slot, &anchor, Config::new(100), black_box(0)) {
            if let Ok(response) = Response::<4>::decode_bytes(input) {
                black_box(client.handle_response(&response, black_box(0)).is_ok());
            }
        }
    }
    black_box(itc_device_sdk::SignedCommand::decode_bytes(input).is_ok());
    if let (Ok(c), Ok(proof)) = (
        Commitment::decode_bytes(input),
        OpeningProof::decode_bytes(input),
    ) {
        black_box(
            PedersenGens::new()
                .verify_opening(&c, &proof, b"ctx")
                .is_ok(),
        );
    }
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
