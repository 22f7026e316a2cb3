//! itc-chaincode contributions, commitments and proofs, sketches (HLL, Bloom), payouts and the
//! privacy ledger.
#![no_main]
use itc_chaincode::bloom::BloomFilter;
use itc_chaincode::budget::PrivacyLedger;
use itc_chaincode::contribution::{Contribution, ContributionHeader, Payload, Sealed, ValueProof};
use itc_chaincode::hll::HyperLogLog;
use itc_chaincode::payout::{Payout, Settlement};
use itc_chaincode::pedersen::{Commitment, Opening, OpeningProof};
use itc_chaincode::range_proof::RangeProof;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    itc_fuzz::dispatch!(data;
        Contribution, ContributionHeader, Payload, Sealed, ValueProof, Commitment, Opening,
        OpeningProof, RangeProof, BloomFilter, HyperLogLog, Payout, Settlement, PrivacyLedger,
    );
});
