//! # itc-ledger
//!
//! The replicated application state the main chain commits: device ownership registry, access
//! grants, ITC token balances and DAG anchors under one sparse-Merkle state root with compact
//! inclusion and non-inclusion proofs. PBFT orders opaque batches; this crate gives them
//! meaning. Neither crate depends on the other.
//!
//! Device and light-client side (no allocator needed):
//!
//! * [`smt`] — the generic compact sparse Merkle tree; [`StateProof`] decodes and verifies
//!   anywhere, the prover [`smt::SparseMerkleTree`] needs `alloc`.
//! * [`device`] — [`DeviceId`], [`OwnershipRecord`] (owner, bounded [`Grant`]s, revocation
//!   count) with [`OwnershipRecord::authorize`], and the vendor's [`VendorRecord`].
//! * [`records`] — [`Account`], [`AnchorRecord`], [`Escrow`], [`ChainMeta`], [`ValidatorRecord`].
//! * [`state_key`] — [`StateKey`]: where each record lives; `proof.verify_entry(root, key, value)`.
//!
//! Transactions:
//!
//! * [`tx`] — account transactions ([`tx::AccountCall`]), signed by one key and ordered by its
//!   nonce; no allocator needed, so a phone or gateway can sign them.
//! * `system` (alloc) — calls certified by > 2/3 of the validator set (`SetValidators`,
//!   `AnchorDag`, `RegisterVendor`, `SettlePlan`) and the `SignedTransaction` envelope.
//! * [`error`] — [`TxError`] (one variant per reason, a stable code each), [`BlockError`],
//!   [`GenesisError`]; every error answers `blame()` ([`itc_crypto::Blame`]: whose fault).
//!
//! Validator and full-node side (feature `alloc`):
//!
//! * `ledger` — `Ledger`: `GenesisState` → state; queries; `prove(key)` → `EntryProof`;
//!   `version()` → `StateVersion`, an O(1) read-only version sharing structure with the rest.
//! * `execute` — `Ledger::execute(batch, height)` → `BlockOutcome` (new root, receipts, and
//!   `next_validator_set`: exactly what `itc_pbft::Executed::next_validator_set` takes). A
//!   failing transaction changes nothing.
//! * `history` — `StateHistory`: the versions at the last `R` heights, evicting older ones, so a
//!   full node proves against any retained height with memory bounded by `R`, not the chain.
//! * `snapshot` — the canonical, bounded snapshot encoding: `encode_snapshot()` and
//!   `Ledger::restore` give back the same state root and proofs (persist every N blocks, replay
//!   the tail).
//! * `builder` — `TxBuilder`: every transaction type built and signed in one call.
//!
//! The rules, in one place:
//!
//! * **Tokens** — the total supply is the sum of the genesis balances and is fixed: transfers
//!   move tokens, `FundPlan` moves them into a plan's escrow, `SettlePlan` pays an escrow out
//!   in full (payouts must sum to it exactly). Nothing mints or burns; balances are `u64` and
//!   a debit beyond the balance is [`TxError::InsufficientBalance`].
//! * **Nonces** — an account transaction must carry exactly its account's next nonce, which
//!   then increases by one: strictly increasing, gapless, never replayable.
//! * **Atomicity** — a failing transaction (including undecodable bytes) gets a receipt with its
//!   typed error and changes nothing, not even the nonce.
//! * **Authority** — the owner's key rules a device; delegates act through grants that expire
//!   at a height; vendors register devices; > 2/3 of the validator power authorises changes to
//!   the validator set, anchors, vendor admissions and payouts.
//!
//! ```
//! use itc_crypto::{Decode, Encode, SecretKey};
//! use itc_ledger::{OwnershipRecord, StateKey, StateProof};
//! # let rec = OwnershipRecord::new(
//! #     SecretKey::from_bytes(&[1; 32]).unwrap().public_key(), itc_ledger::VendorId(1), 1,
//! #     SecretKey::from_bytes(&[2; 32]).unwrap().public_key());
//! # let mut tree = itc_ledger::smt::SparseMerkleTree::new();
//! # let key = StateKey::Device(rec.device_id());
//! # tree.insert_hashed(key.key_hash(), itc_ledger::smt::value_hash(&rec.encode_to_vec()));
//! # let (root, record_bytes) = (tree.root(), rec.encode_to_vec());
//! # let proof_bytes = tree.prove_hashed(&key.key_hash()).unwrap().encode_to_vec();
//! // On a device: bytes from the network, the root from a verified block header.
//! let proof = StateProof::decode_bytes(&proof_bytes).unwrap();
//! proof.verify_entry(&root, &key, Some(&record_bytes)).unwrap();
//! let record = OwnershipRecord::decode_bytes(&record_bytes).unwrap();
//! assert_eq!(StateKey::Device(record.device_id()), key);
//! ```
#![no_std]
#![forbid(unsafe_code)]

#[cfg(any(feature = "alloc", test))]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

#[cfg(feature = "alloc")]
pub mod builder;
pub mod device;
pub mod error;
#[cfg(feature = "alloc")]
pub mod execute;
#[cfg(feature = "alloc")]
pub mod history;
#[cfg(feature = "alloc")]
pub mod ledger;
pub mod records;
#[cfg(feature = "serde")]
mod serde_impl;
pub mod smt;
#[cfg(feature = "alloc")]
pub mod snapshot;
pub mod state_key;
#[cfg(feature = "alloc")]
pub mod system;
pub mod tx;

pub use device::{
    Access, AccessError, Actions, DeviceId, Grant, GrantError, OwnershipRecord, VendorId,
    VendorRecord, MAX_GRANTS,
};
pub use error::{BlockError, GenesisError, TxError};
#[cfg(feature = "alloc")]
pub use execute::{BlockOutcome, CommittedReceipt, Receipt};
#[cfg(feature = "alloc")]
pub use history::{HistoryError, StateHistory};
#[cfg(feature = "alloc")]
pub use ledger::{EntryProof, GenesisState, Ledger, StateVersion};
pub use records::{Account, AnchorRecord, ChainMeta, Escrow, ValidatorRecord};
pub use smt::{StateProof, StateProofError};
#[cfg(feature = "alloc")]
pub use snapshot::{SnapshotError, SnapshotLimits};
pub use state_key::StateKey;
#[cfg(feature = "alloc")]
pub use system::{SignedTransaction, SystemCall, SystemTx};
pub use tx::{AccountCall, AccountTx, SignedAccountTx};
