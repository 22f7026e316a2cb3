//! itc-spv wire types: light-client requests and responses, trust anchors, MMR and proofs,
//! certified headers and fork evidence.
#![no_main]
use itc_crypto::Signature;
use itc_spv::{CertifiedHeader, ForkEvidence, Mmr, MmrProof, Request, Response, TrustAnchor};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    itc_fuzz::dispatch!(data;
        Request, Response<16>, TrustAnchor<16>, Mmr, MmrProof,
        CertifiedHeader<Vec<Signature>>, ForkEvidence<Vec<Signature>>,
    );
});
