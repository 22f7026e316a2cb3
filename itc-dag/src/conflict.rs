//! Double-spend bookkeeping: which transfers claim the same funds, and which one won.
//!
//! Two transfers conflict when they have the same [`SpendKey`] (sender address and
//! `spend_nonce`). Only the owner of an address can sign transfers from it, so every rival of a
//! key comes from the same issuer; the number of tracked rivals per key is capped and further
//! ones are born conflicting.
//!
//! Resolution (done by [`crate::Tangle`]):
//! * the first rival whose approving weight crosses the confirmation threshold wins — with
//!   weights grown by honest traffic this is the one with more approving weight;
//! * a main-chain anchor overrides local decisions: the anchored rival wins;
//! * the losers and their whole future cones become [`crate::TxStatus::Conflicting`] and are
//!   never confirmed; honest tip selection never enters them.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::graph::SpendKey;
use crate::tx::TxId;

/// One spend key's bookkeeping (also its stored record).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SpendEntry {
    /// Confirmed or final claimant.
    pub(crate) winner: Option<TxId>,
    /// Every tracked claimant (winner included), in claim order.
    pub(crate) claimants: Vec<TxId>,
}

/// Registry of spend keys with live claimants.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConflictRegistry {
    entries: BTreeMap<SpendKey, SpendEntry>,
    max_claimants: usize,
    /// Keys whose entry changed since the last flush (may repeat).
    dirty: Vec<SpendKey>,
}

impl ConflictRegistry {
    pub(crate) fn new(max_claimants: usize) -> Self {
        ConflictRegistry {
            entries: BTreeMap::new(),
            max_claimants: max_claimants.max(1),
            dirty: Vec::new(),
        }
    }

    /// The entry of `key`, if any claimant is tracked.
    pub(crate) fn entry(&self, key: &SpendKey) -> Option<&SpendEntry> {
        self.entries.get(key)
    }

    /// Every entry, by key.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&SpendKey, &SpendEntry)> {
        self.entries.iter()
    }

    /// Number of keys tracked.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Takes the keys changed since the last call, sorted and deduplicated.
    pub(crate) fn take_dirty(&mut self) -> Vec<SpendKey> {
        let mut d = core::mem::take(&mut self.dirty);
        d.sort_unstable();
        d.dedup();
        d
    }

    /// Puts back a stored entry (restore).
    pub(crate) fn restore(&mut self, key: SpendKey, entry: SpendEntry) {
        self.entries.insert(key, entry);
    }

    pub(crate) fn winner(&self, key: &SpendKey) -> Option<TxId> {
        self.entries.get(key).and_then(|e| e.winner)
    }

    /// Records a claimant; false if the key already has its maximum of rivals.
    pub(crate) fn claim(&mut self, key: SpendKey, id: TxId) -> bool {
        self.dirty.push(key);
        let e = self.entries.entry(key).or_default();
        if e.claimants.contains(&id) {
            return true;
        }
        if e.claimants.len() >= self.max_claimants {
            return false;
        }
        e.claimants.push(id);
        true
    }

    /// Every claimant of `key` except `id`.
    pub(crate) fn rivals(&self, key: &SpendKey, id: &TxId) -> Vec<TxId> {
        self.entries
            .get(key)
            .map(|e| e.claimants.iter().filter(|c| *c != id).copied().collect())
            .unwrap_or_default()
    }

    pub(crate) fn set_winner(&mut self, key: SpendKey, id: TxId) {
        self.dirty.push(key);
        let e = self.entries.entry(key).or_default();
        if !e.claimants.contains(&id) {
            e.claimants.push(id);
        }
        e.winner = Some(id);
    }

    /// Clears the winner if it is `id` (a confirmed winner overridden by an anchor).
    pub(crate) fn clear_winner_if(&mut self, key: &SpendKey, id: &TxId) {
        if let Some(e) = self.entries.get_mut(key) {
            self.dirty.push(*key);
            if e.winner.as_ref() == Some(id) {
                e.winner = None;
            }
        }
    }

    /// Forgets a pruned claimant; drops the key when nobody claims it any more.
    pub(crate) fn forget(&mut self, key: &SpendKey, id: &TxId) {
        let empty = match self.entries.get_mut(key) {
            Some(e) => {
                self.dirty.push(*key);
                e.claimants.retain(|c| c != id);
                if e.winner.as_ref() == Some(id) {
                    e.winner = None;
                }
                e.claimants.is_empty()
            }
            None => false,
        };
        if empty {
            self.entries.remove(key);
        }
    }

    /// Approximate heap bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.entries
            .values()
            .map(|e| {
                core::mem::size_of::<SpendKey>()
                    + core::mem::size_of::<SpendEntry>()
                    + e.claimants.capacity() * core::mem::size_of::<TxId>()
                    + crate::store::BTREE_ENTRY_OVERHEAD
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use itc_crypto::{Address, Hash};

    #[test]
    fn claimants_are_capped_and_forgotten() {
        let mut r = ConflictRegistry::new(2);
        let key = SpendKey {
            from: Address([1; 20]),
            nonce: 0,
        };
        let ids: Vec<TxId> = (0..3u8).map(|i| TxId(Hash([i; 32]))).collect();
        assert!(r.claim(key, ids[0]));
        assert!(r.claim(key, ids[1]));
        assert!(!r.claim(key, ids[2]));
        assert_eq!(r.rivals(&key, &ids[0]), [ids[1]]);
        r.set_winner(key, ids[1]);
        assert_eq!(r.winner(&key), Some(ids[1]));
        r.clear_winner_if(&key, &ids[0]);
        assert_eq!(r.winner(&key), Some(ids[1]));
        r.forget(&key, &ids[1]);
        assert_eq!(r.winner(&key), None);
        r.forget(&key, &ids[0]);
        assert_eq!(r.len(), 0);
    }
}
