//! Link check for CI: a `#![no_std]`, `#![no_main]` binary for `thumbv7em-none-eabihf` that
//! calls into every itc library crate with default features off. If any dependency pulls in
//! `std` (or needs an allocator on these paths), this fails to build or link.
#![no_std]
#![no_main]

use core::hint::black_box;
use core::panic::PanicInfo;

use itc_crypto::{merkle, tagged_hash, DomainTag, Hash, PublicKey, Signature};

// Each crate is linked in; the entry point below exercises the no-alloc verification paths.
use itc_chaincode as _;
use itc_dag as _;
use itc_device_sdk as _;
use itc_ledger as _;
use itc_pbft as _;
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
