//! `serde` support (feature `serde`), by the one rule of
//! [`itc_crypto::serde_impl`]: a value that carries an invariant or a signature serializes as
//! its canonical encoding (hex in JSON) and deserializes through `Decode`, with every check the
//! decoder makes; plain records without an invariant derive field by field.

itc_crypto::serde_via_encoding!(
    crate::snapshot::DagSnapshot,
    crate::tx::TxId,
    crate::tx::Payload,
    crate::tx::Essence,
    crate::tx::Transaction,
);
