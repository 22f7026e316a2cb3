//! itc-crypto wire types: addresses, hashes, keys, signatures, Merkle proofs, validator sets,
//! quorum certificates (both signature stores), ECDSA keys and recoverable signatures.
#![no_main]
use itc_crypto::ecdsa::{EcdsaPublicKey, RecoverableSignature};
use itc_crypto::quorum::{CompactCertificate, SignerBitmap};
use itc_crypto::{
    Address, Hash, InclusionProof, PublicKey, QuorumCertificate, Signature, Validator, ValidatorSet,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    itc_fuzz::dispatch!(data;
        Address, Hash, PublicKey, Signature, InclusionProof, Validator, ValidatorSet,
        SignerBitmap, QuorumCertificate<Vec<Signature>>, CompactCertificate<16>,
        EcdsaPublicKey, RecoverableSignature,
    );
});
