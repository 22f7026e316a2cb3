//! itc-pbft consensus messages and everything inside them.
#![no_main]
use itc_pbft::evidence::Evidence;
use itc_pbft::message::{
    BatchRequest, CertifiedBlock, CheckpointCertificate, CheckpointVote, Message, NewView, Phase,
    PrePrepare, PreparedCertificate, ViewChange, Vote,
};
use itc_pbft::request::{Batch, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    itc_fuzz::dispatch!(data;
        Message, Phase, Vote, PrePrepare, CheckpointVote, CheckpointCertificate,
        PreparedCertificate, ViewChange, NewView, CertifiedBlock, Request, Batch, Evidence,
        BatchRequest,
    );
});
