//! itc-chaincode query plans and their parts.
#![no_main]
use itc_chaincode::plan::{Aggregation, Clamp, Filter, Plan, PlanId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    itc_fuzz::dispatch!(data; Plan, PlanId, Clamp, Aggregation, Filter);
});
