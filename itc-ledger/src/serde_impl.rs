//! `serde` support (feature `serde`), by the one rule of
//! [`itc_crypto::serde_impl`]: a value that carries an invariant or a signature serializes as
//! its canonical encoding (hex in JSON) and deserializes through `Decode`, with every check the
//! decoder makes; plain records without an invariant derive field by field.

itc_crypto::serde_via_encoding!(
    crate::device::DeviceId,
    crate::device::VendorId,
    crate::device::Actions,
    crate::device::Grant,
    crate::device::OwnershipRecord,
    crate::device::VendorRecord,
    crate::execute::CommittedReceipt,
    crate::ledger::EntryProof,
    crate::records::AnchorRecord,
    crate::records::Escrow,
    crate::records::ChainMeta,
    crate::records::ValidatorRecord,
    crate::state_key::StateKey,
    crate::system::Payouts,
    crate::system::SystemCall,
    crate::system::SystemTx,
    crate::system::SignedTransaction,
    crate::tx::AccountCall,
    crate::tx::AccountTx,
    crate::tx::SignedAccountTx,
);
