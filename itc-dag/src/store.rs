//! Durable state behind a trait: what an integrator must keep so a tangle survives a restart.
//!
//! The tangle keeps a compact metadata graph in memory and everything it must not lose in a
//! [`TangleStore`], a plain key-value store the integrator implements (a redb table, a flash
//! log, or the shipped [`MemoryStore`]). Keys and values are opaque bytes to the store: the
//! tangle encodes and decodes them.
//!
//! **One write batch per step.** Every input ([`crate::Tangle::handle_transaction`],
//! [`crate::Tangle::handle_transactions`], [`crate::Tangle::handle_anchor`],
//! [`crate::Tangle::handle_timeout`]) ends by handing the store one [`WriteBatch`]: the
//! records the step created, changed or deleted (each accepted transaction's body and
//! metadata, the weights and statuses it moved, the pool, conflicts, issuer rates, balances,
//! anchored snapshots, pruning). The rule, as in raft-rs's `Ready`: **what a step applied
//! must be durable before the integrator acts on that step's events** (gossips an attached
//! transaction, answers a request). A store may commit each batch itself or stage batches
//! and commit (one fsync) before the integrator drains the events.
//!
//! **Restore** ([`crate::Tangle::restore`]) reads back exactly what the store holds, which is
//! bounded by the tangle's capacities (pruned records are deleted, not kept). Restored records
//! are trusted: they were validated before they were written, so no time check runs on them.
//!
//! ```
//! use itc_dag::{MemoryStore, StoreTable, TangleStore};
//! let store = MemoryStore::default();
//! assert_eq!(store.count(StoreTable::Body), 0);
//! let mut records = 0;
//! store.scan(&mut |_key, _value| records += 1).unwrap();
//! assert_eq!(records, 0);
//! ```

#[cfg(feature = "alloc")]
use alloc::{borrow::Cow, boxed::Box, collections::BTreeMap, vec::Vec};

#[cfg(feature = "alloc")]
use itc_crypto::encoding::Encode;
use itc_crypto::Address;

#[cfg(feature = "alloc")]
use crate::graph::SpendKey;
use crate::tx::TxId;

/// The kinds of record a tangle stores; the first byte of every [`StoreKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StoreTable {
    /// The single bookkeeping record: genesis time, attach counter, latest node, the last
    /// timeout, counters.
    Meta,
    /// An attached transaction: its attach order, own weight and body (written once).
    Body,
    /// An attached transaction's (or genesis root's) cumulative weight, status and tip flag.
    Node,
    /// A transaction waiting for its parents.
    Waiting,
    /// A transaction an anchor named that this node asked peers for.
    Wanted,
    /// The claimants and winner of one spend key.
    Spend,
    /// One issuer's last sequence, timestamp and rate window.
    Issuer,
    /// One side-chain account.
    Account,
    /// One kept anchored snapshot.
    Snapshot,
}

impl StoreTable {
    const ALL: [StoreTable; 9] = [
        StoreTable::Meta,
        StoreTable::Body,
        StoreTable::Node,
        StoreTable::Waiting,
        StoreTable::Wanted,
        StoreTable::Spend,
        StoreTable::Issuer,
        StoreTable::Account,
        StoreTable::Snapshot,
    ];

    /// The table's tag byte.
    pub const fn tag(self) -> u8 {
        match self {
            StoreTable::Meta => 0,
            StoreTable::Body => 1,
            StoreTable::Node => 2,
            StoreTable::Waiting => 3,
            StoreTable::Wanted => 4,
            StoreTable::Spend => 5,
            StoreTable::Issuer => 6,
            StoreTable::Account => 7,
            StoreTable::Snapshot => 8,
        }
    }

    /// Length of the key after the tag byte.
    const fn key_len(self) -> usize {
        match self {
            StoreTable::Meta => 0,
            StoreTable::Body
            | StoreTable::Node
            | StoreTable::Waiting
            | StoreTable::Wanted
            | StoreTable::Issuer => 32,
            StoreTable::Spend => 28,
            StoreTable::Account => 20,
            StoreTable::Snapshot => 8,
        }
    }

    fn from_tag(tag: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.tag() == tag)
    }
}

const MAX_KEY: usize = 33;

/// A record's key: the table's tag byte, then the record's id in a fixed width (32-byte ids
/// and keys, 20-byte addresses, `address ‖ nonce` for spend keys, the big-endian sequence for
/// snapshots). Keys of one table sort together; a store may treat them as opaque bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StoreKey {
    len: u8,
    bytes: [u8; MAX_KEY],
}

impl Ord for StoreKey {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl PartialOrd for StoreKey {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl core::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "StoreKey({:?}, ", self.table())?;
        for b in self.as_bytes().iter().skip(1).take(6) {
            write!(f, "{b:02x}")?;
        }
        f.write_str("…)")
    }
}

#[cfg_attr(not(feature = "alloc"), allow(dead_code))]
impl StoreKey {
    fn new(table: StoreTable, parts: &[&[u8]]) -> Self {
        let mut bytes = [0u8; MAX_KEY];
        let mut len = 1;
        if let Some(b) = bytes.first_mut() {
            *b = table.tag();
        }
        for p in parts {
            if let Some(dst) = bytes.get_mut(len..len + p.len()) {
                dst.copy_from_slice(p);
                len += p.len();
            }
        }
        StoreKey {
            len: len as u8,
            bytes,
        }
    }

    pub(crate) fn meta() -> Self {
        Self::new(StoreTable::Meta, &[])
    }
    pub(crate) fn body(id: &TxId) -> Self {
        Self::new(StoreTable::Body, &[id.as_bytes()])
    }
    pub(crate) fn node(id: &TxId) -> Self {
        Self::new(StoreTable::Node, &[id.as_bytes()])
    }
    pub(crate) fn waiting(id: &TxId) -> Self {
        Self::new(StoreTable::Waiting, &[id.as_bytes()])
    }
    pub(crate) fn wanted(id: &TxId) -> Self {
        Self::new(StoreTable::Wanted, &[id.as_bytes()])
    }
    #[cfg(feature = "alloc")]
    pub(crate) fn spend(key: &SpendKey) -> Self {
        Self::new(StoreTable::Spend, &[&key.from.0, &key.nonce.to_be_bytes()])
    }
    pub(crate) fn issuer(key: &[u8; 32]) -> Self {
        Self::new(StoreTable::Issuer, &[key])
    }
    pub(crate) fn account(a: &Address) -> Self {
        Self::new(StoreTable::Account, &[&a.0])
    }
    pub(crate) fn snapshot(seq: u64) -> Self {
        Self::new(StoreTable::Snapshot, &[&seq.to_be_bytes()])
    }

    /// The key's bytes (what a store indexes by).
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The table the key belongs to.
    pub fn table(&self) -> StoreTable {
        self.bytes
            .first()
            .and_then(|&t| StoreTable::from_tag(t))
            .unwrap_or(StoreTable::Meta)
    }

    /// Parses stored key bytes; `None` if they are not a key this crate writes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (&tag, rest) = bytes.split_first()?;
        let table = StoreTable::from_tag(tag)?;
        (rest.len() == table.key_len()).then(|| Self::new(table, &[rest]))
    }

    /// The id part of the key (after the tag byte).
    pub(crate) fn id_bytes(&self) -> &[u8] {
        self.as_bytes().get(1..).unwrap_or(&[])
    }
}

#[cfg(feature = "alloc")]
/// One write of a [`WriteBatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOp<'a> {
    /// Store `value` under `key`, replacing what was there.
    Put {
        /// The key.
        key: &'a StoreKey,
        /// The value's bytes.
        value: &'a [u8],
    },
    /// Remove `key` (absent keys are fine).
    Delete {
        /// The key.
        key: &'a StoreKey,
    },
}

#[cfg(feature = "alloc")]
/// The writes of one step, to apply in order and atomically (one transaction).
#[derive(Debug, Clone, Default)]
pub struct WriteBatch {
    ops: Vec<(StoreKey, Option<(usize, usize)>)>,
    data: Vec<u8>,
}

#[cfg(feature = "alloc")]
impl WriteBatch {
    /// The writes, in the order to apply them.
    pub fn ops(&self) -> impl Iterator<Item = StoreOp<'_>> + '_ {
        self.ops.iter().map(|(key, value)| match value {
            Some((start, end)) => StoreOp::Put {
                key,
                value: self.data.get(*start..*end).unwrap_or(&[]),
            },
            None => StoreOp::Delete { key },
        })
    }

    /// Number of writes.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when the step changed nothing durable.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub(crate) fn put<T: Encode + ?Sized>(&mut self, key: StoreKey, value: &T) {
        let start = self.data.len();
        value.encode(&mut self.data);
        self.ops.push((key, Some((start, self.data.len()))));
    }

    pub(crate) fn delete(&mut self, key: StoreKey) {
        self.ops.push((key, None));
    }

    pub(crate) fn clear(&mut self) {
        self.ops.clear();
        self.data.clear();
    }

    /// Bytes of values in the batch (for reports).
    pub fn value_bytes(&self) -> usize {
        self.data.len()
    }
}

/// The store could not be read (an I/O error, a closed database); the store's own log says
/// why. Restoring from a store that cannot be read fully is refused rather than guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the tangle store could not be read")]
pub struct StoreUnavailable;

#[cfg(feature = "alloc")]
/// Where a tangle's durable state lives. Implement it on your database; [`MemoryStore`] is the
/// in-memory implementation (tests, simulations, nodes that do not persist).
pub trait TangleStore {
    /// Applies one step's writes, in order, as one atomic unit. What was applied must be
    /// durable before the integrator acts on that step's events (see the module notes). A
    /// store that cannot write must stop the node: the tangle cannot undo a step.
    fn apply(&mut self, batch: &WriteBatch);

    /// The value under `key`; reads see every batch applied so far. `None` when absent (or
    /// unreadable: the tangle then treats the record as missing).
    fn get(&self, key: &StoreKey) -> Option<Cow<'_, [u8]>>;

    /// Calls `visit` once with every stored record's key and value, in any order (restore).
    fn scan(&self, visit: &mut dyn FnMut(&[u8], &[u8])) -> Result<(), StoreUnavailable>;

    /// Bytes of memory the store itself holds (0 for stores off the heap).
    fn memory_bytes(&self) -> usize {
        0
    }
}

#[cfg(feature = "alloc")]
/// In-memory [`TangleStore`]: a sorted map of records. Cloning it is what "the disk at the
/// instant of a crash" means in the crash-recovery tests.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    records: BTreeMap<StoreKey, Box<[u8]>>,
    bytes: usize,
}

#[cfg(feature = "alloc")]
/// Approximate per-entry cost of a `BTreeMap` slot beyond key and value (node headers, edges).
pub(crate) const BTREE_ENTRY_OVERHEAD: usize = 16;

#[cfg(feature = "alloc")]
impl MemoryStore {
    /// Number of records held in `table`.
    pub fn count(&self, table: StoreTable) -> usize {
        let from = StoreKey::new(table, &[]);
        self.records
            .range(from..)
            .take_while(|(k, _)| k.table() == table)
            .count()
    }

    /// Number of records held.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(feature = "alloc")]
fn entry_cost(value_len: usize) -> usize {
    value_len
        .saturating_add(core::mem::size_of::<StoreKey>())
        .saturating_add(core::mem::size_of::<Box<[u8]>>())
        .saturating_add(BTREE_ENTRY_OVERHEAD)
}

#[cfg(feature = "alloc")]
impl TangleStore for MemoryStore {
    fn apply(&mut self, batch: &WriteBatch) {
        for op in batch.ops() {
            match op {
                StoreOp::Put { key, value } => {
                    self.bytes = self.bytes.saturating_add(entry_cost(value.len()));
                    if let Some(old) = self.records.insert(*key, value.into()) {
                        self.bytes = self.bytes.saturating_sub(entry_cost(old.len()));
                    }
                }
                StoreOp::Delete { key } => {
                    if let Some(old) = self.records.remove(key) {
                        self.bytes = self.bytes.saturating_sub(entry_cost(old.len()));
                    }
                }
            }
        }
    }

    fn get(&self, key: &StoreKey) -> Option<Cow<'_, [u8]>> {
        self.records.get(key).map(|v| Cow::Borrowed(&v[..]))
    }

    fn scan(&self, visit: &mut dyn FnMut(&[u8], &[u8])) -> Result<(), StoreUnavailable> {
        for (k, v) in &self.records {
            visit(k.as_bytes(), v);
        }
        Ok(())
    }

    fn memory_bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;
    use itc_crypto::Hash;

    #[test]
    fn keys_round_trip_and_sort_by_table() {
        let id = TxId(Hash([7; 32]));
        let keys = [
            StoreKey::meta(),
            StoreKey::body(&id),
            StoreKey::node(&id),
            StoreKey::waiting(&id),
            StoreKey::wanted(&id),
            StoreKey::spend(&SpendKey {
                from: Address([1; 20]),
                nonce: 9,
            }),
            StoreKey::issuer(&[3; 32]),
            StoreKey::account(&Address([2; 20])),
            StoreKey::snapshot(5),
        ];
        for (k, t) in keys.iter().zip(StoreTable::ALL) {
            assert_eq!(k.table(), t);
            assert_eq!(StoreKey::from_bytes(k.as_bytes()), Some(*k));
        }
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(StoreKey::from_bytes(&[1, 2, 3]), None);
        assert_eq!(StoreKey::from_bytes(&[42]), None);
        assert_eq!(StoreKey::from_bytes(&[]), None);
    }

    #[test]
    fn memory_store_applies_puts_and_deletes_in_order() {
        let id = TxId(Hash([7; 32]));
        let mut s = MemoryStore::default();
        let mut b = WriteBatch::default();
        b.put(StoreKey::body(&id), &5u64);
        b.put(StoreKey::node(&id), &6u64);
        b.delete(StoreKey::node(&id));
        s.apply(&b);
        assert_eq!(s.count(StoreTable::Body), 1);
        assert_eq!(s.count(StoreTable::Node), 0);
        assert_eq!(
            s.get(&StoreKey::body(&id)).as_deref(),
            Some(&5u64.to_be_bytes()[..])
        );
        assert!(s.memory_bytes() > 8);
        let mut b = WriteBatch::default();
        b.delete(StoreKey::body(&id));
        s.apply(&b);
        assert!(s.is_empty());
        assert_eq!(s.memory_bytes(), 0);
    }
}
