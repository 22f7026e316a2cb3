//! The bounded pool of transactions whose parents have not arrived yet ("unsolid").
//!
//! Only transactions that passed every check that does not need the parents (syntax, PoW,
//! policy, signature) get in, so filling the pool costs an attacker real work. The pool has a
//! fixed capacity (new arrivals are refused when full, so nothing already waiting is evicted by
//! a flood) and a timeout, after which a waiting transaction is dropped.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::tx::{Transaction, TxId, MAX_PARENTS};

/// One waiting transaction (also its stored record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Waiting {
    pub(crate) tx: Transaction,
    pub(crate) missing: heapless::Vec<TxId, MAX_PARENTS>,
    pub(crate) own_weight: u64,
    pub(crate) arrived: u64,
}

/// Transactions waiting for parents, indexed both ways.
#[derive(Debug, Clone, Default)]
pub(crate) struct UnsolidPool {
    waiting: BTreeMap<TxId, Waiting>,
    /// Missing parent → waiting children.
    by_parent: BTreeMap<TxId, Vec<TxId>>,
    /// Transactions requested for another reason (an anchor names them) → when.
    wanted: BTreeMap<TxId, u64>,
    capacity: usize,
    /// Waiting ids whose record changed since the last flush (may repeat).
    dirty_waiting: Vec<TxId>,
    /// Wanted ids whose record changed since the last flush (may repeat).
    dirty_wanted: Vec<TxId>,
}

impl UnsolidPool {
    pub(crate) fn new(capacity: usize) -> Self {
        UnsolidPool {
            capacity,
            ..UnsolidPool::default()
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.waiting.len() >= self.capacity
    }

    /// Every waiting transaction, by id.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&TxId, &Waiting)> {
        self.waiting.iter()
    }

    pub(crate) fn waiting(&self, id: &TxId) -> Option<&Waiting> {
        self.waiting.get(id)
    }

    pub(crate) fn wanted_at(&self, id: &TxId) -> Option<u64> {
        self.wanted.get(id).copied()
    }

    pub(crate) fn wanted_len(&self) -> usize {
        self.wanted.len()
    }

    /// Takes the waiting and wanted ids changed since the last call, each sorted and
    /// deduplicated.
    pub(crate) fn take_dirty(&mut self) -> (Vec<TxId>, Vec<TxId>) {
        let mut w = core::mem::take(&mut self.dirty_waiting);
        w.sort_unstable();
        w.dedup();
        let mut x = core::mem::take(&mut self.dirty_wanted);
        x.sort_unstable();
        x.dedup();
        (w, x)
    }

    /// Puts back a stored waiting transaction (restore; capacity checked by the caller).
    pub(crate) fn restore_waiting(&mut self, id: TxId, w: Waiting) {
        for m in &w.missing {
            self.by_parent.entry(*m).or_default().push(id);
        }
        self.waiting.insert(id, w);
    }

    /// Puts back a stored request (restore).
    pub(crate) fn restore_wanted(&mut self, id: TxId, at: u64) {
        self.wanted.insert(id, at);
    }

    pub(crate) fn contains(&self, id: &TxId) -> bool {
        self.waiting.contains_key(id)
    }

    /// True if a waiting transaction or an anchor needs `id` (we asked peers for it).
    pub(crate) fn is_requested(&self, id: &TxId) -> bool {
        self.by_parent.contains_key(id) || self.wanted.contains_key(id)
    }

    /// Remembers that an anchor needs `id` (bounded by the pool capacity); true if it is
    /// wanted now (the caller then asks peers for it), false when the request list is full.
    pub(crate) fn want(&mut self, id: TxId, now_ms: u64) -> bool {
        if self.wanted.contains_key(&id) {
            return true;
        }
        if self.wanted.len() >= self.capacity {
            return false;
        }
        self.wanted.insert(id, now_ms);
        self.dirty_wanted.push(id);
        true
    }

    /// `id` attached: it is no longer wanted.
    pub(crate) fn fulfilled(&mut self, id: &TxId) {
        if self.wanted.remove(id).is_some() {
            self.dirty_wanted.push(*id);
        }
    }

    /// Adds a transaction (caller checked capacity and duplicates).
    pub(crate) fn insert(
        &mut self,
        id: TxId,
        tx: Transaction,
        missing: &[TxId],
        own_weight: u64,
        now_ms: u64,
    ) {
        self.dirty_waiting.push(id);
        for m in missing {
            self.by_parent.entry(*m).or_default().push(id);
        }
        self.waiting.insert(
            id,
            Waiting {
                tx,
                missing: missing.iter().copied().take(MAX_PARENTS).collect(),
                own_weight,
                arrived: now_ms,
            },
        );
    }

    /// `parent` arrived: returns the children that now have every parent (ready to attach),
    /// in id order (a function of the pool's contents, not of arrival history).
    pub(crate) fn parent_arrived(&mut self, parent: &TxId) -> Vec<(TxId, Transaction, u64)> {
        let mut ready = Vec::new();
        let mut children = self.by_parent.remove(parent).unwrap_or_default();
        children.sort_unstable();
        for child in children {
            self.dirty_waiting.push(child);
            let done = match self.waiting.get_mut(&child) {
                Some(w) => {
                    w.missing.retain(|m| m != parent);
                    w.missing.is_empty()
                }
                None => false,
            };
            if done {
                if let Some(w) = self.waiting.remove(&child) {
                    ready.push((child, w.tx, w.own_weight));
                }
            }
        }
        ready
    }

    /// Drops everything that waited longer than `timeout_ms`; returns the dropped ids.
    pub(crate) fn expire(&mut self, now_ms: u64, timeout_ms: u64) -> Vec<TxId> {
        let old: Vec<TxId> = self
            .waiting
            .iter()
            .filter(|(_, w)| now_ms.saturating_sub(w.arrived) > timeout_ms)
            .map(|(id, _)| *id)
            .collect();
        for id in &old {
            self.remove(id);
        }
        let stale: Vec<TxId> = self
            .wanted
            .iter()
            .filter(|(_, at)| now_ms.saturating_sub(**at) > timeout_ms)
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            self.wanted.remove(&id);
            self.dirty_wanted.push(id);
        }
        old
    }

    /// Drops one waiting transaction and its reverse-index entries.
    pub(crate) fn remove(&mut self, id: &TxId) {
        if let Some(w) = self.waiting.remove(id) {
            self.dirty_waiting.push(*id);
            for m in &w.missing {
                let empty = match self.by_parent.get_mut(m) {
                    Some(v) => {
                        v.retain(|c| c != id);
                        v.is_empty()
                    }
                    None => false,
                };
                if empty {
                    self.by_parent.remove(m);
                }
            }
        }
    }

    /// Approximate heap bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        let per_waiting = core::mem::size_of::<TxId>()
            + core::mem::size_of::<Waiting>()
            + crate::store::BTREE_ENTRY_OVERHEAD;
        let per_parent = core::mem::size_of::<TxId>()
            + core::mem::size_of::<Vec<TxId>>()
            + crate::store::BTREE_ENTRY_OVERHEAD;
        self.waiting.len() * per_waiting
            + self.wanted.len() * (per_parent + 8)
            + self
                .by_parent
                .values()
                .map(|v| per_parent + v.capacity() * core::mem::size_of::<TxId>())
                .sum::<usize>()
    }
}
