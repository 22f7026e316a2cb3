//! itc-dag transactions, ids, payloads, essences and snapshots.
#![no_main]
use itc_dag::tx::Essence;
use itc_dag::{DagSnapshot, Payload, Transaction, TxId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    itc_fuzz::dispatch!(data; Transaction, TxId, Payload, Essence, DagSnapshot);
});
