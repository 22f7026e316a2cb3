//! Which validator set certifies which heights.
//!
//! An epoch is a run of heights certified by one set. The application reports set changes
//! after executing a block; the change is named by the next boundary header (a multiple of
//! the checkpoint interval `K`) and takes effect at the height after it — the rule spelled
//! out in [`crate::header`]. The replica keeps the epoch of its stable checkpoint and the
//! ones after it (at most a few), so memory stays bounded.

use alloc::boxed::Box;
use alloc::vec::Vec;

use itc_crypto::quorum::ValidatorSet;
use itc_crypto::Hash;

/// One epoch: the first height it certifies and its set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Epoch {
    /// First height certified by `set`.
    pub start: u64,
    /// The validators.
    pub set: ValidatorSet,
    /// `set.hash()`, cached.
    pub hash: Hash,
}

/// Known epochs, ascending, plus a change the application decided but no header named yet.
#[derive(Debug, Clone)]
pub(crate) struct Epochs {
    list: Vec<Epoch>,
    /// Set reported by the application, to be named by the next boundary header (boxed: a
    /// set is large and most replicas never have one scheduled).
    pub scheduled: Option<Box<Epoch>>,
}

impl Epochs {
    /// The given epochs (ascending starts, each before `last.start`) followed by `last`.
    pub(crate) fn from_list(mut list: Vec<Epoch>, last: Epoch) -> Self {
        list.retain(|e| e.start < last.start);
        list.push(last);
        Epochs {
            list,
            scheduled: None,
        }
    }

    /// The epoch certifying `height`, if known.
    pub(crate) fn for_height(&self, height: u64) -> Option<&Epoch> {
        self.list.iter().rev().find(|e| e.start <= height)
    }

    /// The epoch certifying `height` if `height <= known_until` (beyond it the set may still
    /// change).
    pub(crate) fn get(&self, height: u64, known_until: u64) -> Option<&Epoch> {
        if height > known_until {
            None
        } else {
            self.for_height(height)
        }
    }

    /// The latest known epoch.
    pub(crate) fn latest(&self) -> Option<&Epoch> {
        self.list.last()
    }

    /// The hash the header at `height` must name as next set, given what was scheduled.
    pub(crate) fn next_hash_for(&self, height: u64, k: u64) -> Option<Hash> {
        let current = self.for_height(height)?.hash;
        if crate::header::BlockHeader::is_epoch_boundary(height, k) {
            Some(self.scheduled.as_ref().map_or(current, |e| e.hash))
        } else {
            Some(current)
        }
    }

    /// Starts the scheduled epoch at `start` (after its boundary block executed).
    pub(crate) fn begin(&mut self, start: u64, expected_hash: Hash) -> bool {
        match self.scheduled.take() {
            Some(mut e) if e.hash == expected_hash => {
                e.start = start;
                self.list.push(*e);
                true
            }
            other => {
                self.scheduled = other;
                false
            }
        }
    }

    /// Drops epochs that ended below `low`. The epoch certifying `low` itself stays: the
    /// stable checkpoint at `low` is certified by it, and a view change carries that
    /// certificate; when `low` is an epoch boundary that is the *previous* set (issue: a
    /// view change right after a rotation was refused as `OtherEpoch`).
    pub(crate) fn prune(&mut self, low: u64) {
        while self.list.len() > 1 && self.list.get(1).is_some_and(|e| e.start <= low) {
            self.list.remove(0);
        }
    }
}
