//! itc-pbft block headers, commit certificates (Vec and fixed-capacity stores) and the durable
//! safety record a replica reloads after a crash.
#![no_main]
use itc_crypto::Signature;
use itc_pbft::safety::{Durable, SafetyRecord};
use itc_pbft::{BlockHeader, CommitCertificate, CompactCommitCertificate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    itc_fuzz::dispatch!(data;
        BlockHeader, CommitCertificate<Vec<Signature>>, CompactCommitCertificate<16>,
        Durable, SafetyRecord,
    );
});
