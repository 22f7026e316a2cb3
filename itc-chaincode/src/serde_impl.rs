//! `serde` support (feature `serde`), by the one rule of
//! [`itc_crypto::serde_impl`]: a value that carries an invariant or a signature serializes as
//! its canonical encoding (hex in JSON) and deserializes through `Decode`, with every check the
//! decoder makes; plain records without an invariant derive field by field.

itc_crypto::serde_via_encoding!(
    crate::bloom::BloomFilter,
    crate::contribution::ValueProof,
    crate::contribution::ContributionHeader,
    crate::contribution::Payload,
    crate::contribution::Sealed,
    crate::contribution::Contribution,
    crate::hll::HyperLogLog,
    crate::payout::Payout,
    crate::payout::Settlement,
    crate::pedersen::Commitment,
    crate::pedersen::OpeningProof,
    crate::plan::PlanId,
    crate::plan::Clamp,
    crate::plan::Aggregation,
    crate::plan::Filter,
    crate::plan::Plan,
    crate::range_proof::RangeProof,
);
