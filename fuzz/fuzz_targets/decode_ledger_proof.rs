//! itc-ledger state proofs and every record a proof can carry. Each decoded `StateProof` is also
//! checked against an arbitrary root and key: verification must fail cleanly, never panic.
#![no_main]
use itc_ledger::{
    Account, Actions, AnchorRecord, ChainMeta, DeviceId, EntryProof, Escrow, Grant,
    OwnershipRecord, StateKey, StateProof, ValidatorRecord, VendorId, VendorRecord,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    itc_fuzz::dispatch!(data;
        StateProof, EntryProof, StateKey, Account, AnchorRecord, Escrow, ChainMeta,
        ValidatorRecord, DeviceId, VendorId, Actions, Grant, OwnershipRecord, VendorRecord,
    );
});
