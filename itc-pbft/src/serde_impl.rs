//! `serde` support (feature `serde`), by the one rule of
//! [`itc_crypto::serde_impl`]: a value that carries an invariant or a signature serializes as
//! its canonical encoding (hex in JSON) and deserializes through `Decode`, with every check the
//! decoder makes; plain records without an invariant derive field by field.

itc_crypto::serde_via_encoding!(
    crate::message::Phase,
    crate::message::Vote,
    crate::message::PrePrepare,
    crate::message::CheckpointVote,
    crate::message::CheckpointCertificate,
    crate::message::PreparedCertificate,
    crate::message::ViewChange,
    crate::message::NewView,
    crate::message::Message,
    crate::message::CertifiedBlock,
    crate::evidence::Evidence,
    crate::request::Request,
    crate::request::Batch,
    crate::safety::SafetyRecord,
);

itc_crypto::serde_via_encoding!([Sigs: itc_crypto::quorum::SignatureStore] crate::certificate::CommitCertificate<Sigs>);
