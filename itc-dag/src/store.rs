//! Transaction bodies behind a trait, so an integrator can keep them in flash or a database.
//!
//! The tangle keeps a compact metadata graph in memory (parents, approvers, weights, status —
//! see [`crate::MemoryReport`]) and hands every attached body to a [`TxStore`]. The store is
//! written synchronously inside [`crate::Tangle::handle_transaction`], before the transaction is
//! announced in an event, so a persistent store is durable before anything is gossiped.

#[cfg(feature = "alloc")]
use alloc::{boxed::Box, collections::BTreeMap};

#[cfg(feature = "alloc")]
use itc_crypto::encoding::{Decode, Encode};

use crate::tx::{Transaction, TxId};

/// Where attached transaction bodies live.
pub trait TxStore {
    /// Stores an attached transaction (called once per id).
    fn insert(&mut self, id: TxId, tx: &Transaction);
    /// The transaction, if stored.
    fn get(&self, id: &TxId) -> Option<Transaction>;
    /// Forgets a pruned transaction.
    fn remove(&mut self, id: &TxId);
    /// Number of stored bodies.
    fn len(&self) -> usize;
    /// True when nothing is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Bytes of memory the store itself holds (0 for off-chip stores).
    fn memory_bytes(&self) -> usize;
}

/// In-memory store keeping each body in its canonical encoding (about 200–600 bytes per
/// transaction instead of the ~700-byte decoded form).
///
/// ```
/// use itc_dag::{MemoryStore, TxStore};
/// let store = MemoryStore::default();
/// assert!(store.is_empty());
/// ```
#[cfg(feature = "alloc")]
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    bodies: BTreeMap<TxId, Box<[u8]>>,
    bytes: usize,
}

/// Approximate per-entry cost of a `BTreeMap` slot beyond key and value (node headers, edges).
#[cfg(feature = "alloc")]
pub(crate) const BTREE_ENTRY_OVERHEAD: usize = 16;

#[cfg(feature = "alloc")]
impl TxStore for MemoryStore {
    fn insert(&mut self, id: TxId, tx: &Transaction) {
        let bytes: Box<[u8]> = tx.encode_to_vec().into_boxed_slice();
        let cost = entry_cost(bytes.len());
        if self.bodies.insert(id, bytes).is_none() {
            self.bytes = self.bytes.saturating_add(cost);
        }
    }

    fn get(&self, id: &TxId) -> Option<Transaction> {
        // Stored bytes were produced by our own encoder; decoding cannot fail short of memory
        // corruption, in which case "not stored" is the honest answer.
        self.bodies
            .get(id)
            .and_then(|b| Transaction::decode_bytes(b).ok())
    }

    fn remove(&mut self, id: &TxId) {
        if let Some(b) = self.bodies.remove(id) {
            self.bytes = self.bytes.saturating_sub(entry_cost(b.len()));
        }
    }

    fn len(&self) -> usize {
        self.bodies.len()
    }

    fn memory_bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(feature = "alloc")]
fn entry_cost(body_len: usize) -> usize {
    body_len
        .saturating_add(core::mem::size_of::<TxId>())
        .saturating_add(core::mem::size_of::<Box<[u8]>>())
        .saturating_add(BTREE_ENTRY_OVERHEAD)
}
