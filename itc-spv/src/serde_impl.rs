//! `serde` support (feature `serde`), by the one rule of
//! [`itc_crypto::serde_impl`]: a value that carries an invariant or a signature serializes as
//! its canonical encoding (hex in JSON) and deserializes through `Decode`, with every check the
//! decoder makes; plain records without an invariant derive field by field.

itc_crypto::serde_via_encoding!(crate::messages::Request, crate::mmr::MmrProof,);

itc_crypto::serde_via_encoding!(
    [Sigs: itc_crypto::quorum::SignatureStore] crate::evidence::CertifiedHeader<Sigs>,
    [Sigs: itc_crypto::quorum::SignatureStore] crate::evidence::ForkEvidence<Sigs>,
    [const N: usize] crate::messages::Response<N>,
);
