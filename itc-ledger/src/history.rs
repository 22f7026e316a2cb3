//! Retained ledger versions: the state at each of the last `R` heights, for a full node that
//! proves against any recent header without a copy of the state per block.
//!
//! Versions share structure ([`StateVersion`]), so `R` versions cost the current state plus
//! the paths the last `R` blocks rewrote — a bound set by `R` and the block size, never by the
//! chain's length. The oldest version is evicted when a newer one would exceed `R`.
//!
//! ```
//! use itc_crypto::quorum::{Validator, ValidatorSet};
//! use itc_crypto::{Address, SecretKey};
//! use itc_ledger::{GenesisState, Ledger, StateHistory};
//!
//! let set = ValidatorSet::new([Validator { key: SecretKey::from_bytes(&[9; 32]).unwrap().public_key(), power: 1 }]).unwrap();
//! let genesis = GenesisState { chain_id: 7, validators: set, balances: vec![(Address([1; 20]), 10)], vendors: vec![] };
//! let mut ledger = Ledger::from_genesis(&genesis).unwrap();
//! let mut history = StateHistory::new(2);
//! history.record(ledger.version()).unwrap();
//! for height in 1..=3 {
//!     ledger.execute::<Vec<u8>>(&[], height).unwrap();
//!     history.record(ledger.version()).unwrap();
//! }
//! assert!(history.at_height(1).is_none()); // evicted
//! assert_eq!(history.at_height(2).unwrap().height(), 2);
//! assert_eq!(history.at_height(3).unwrap().root(), ledger.root());
//! ```

use alloc::collections::VecDeque;

use itc_crypto::{Blame, Hash};

use crate::ledger::StateVersion;

/// Why a version was not recorded (the history is unchanged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// Versions are recorded at strictly increasing heights.
    #[error("version at height {given} is not above the newest retained height {newest}")]
    HeightNotIncreasing {
        /// Newest retained height.
        newest: u64,
        /// Height offered.
        given: u64,
    },
}

impl HistoryError {
    /// Who must act: recording out of order is the integrator's mistake ([`Blame::Local`]).
    pub fn blame(&self) -> Blame {
        match self {
            HistoryError::HeightNotIncreasing { .. } => Blame::Local,
        }
    }
}

/// The last `retain` ledger versions, by height.
#[derive(Debug, Clone)]
pub struct StateHistory {
    retain: usize,
    versions: VecDeque<StateVersion>,
}

impl StateHistory {
    /// An empty history keeping at most `retain` versions (at least one).
    pub fn new(retain: usize) -> Self {
        let retain = retain.max(1);
        StateHistory {
            retain,
            versions: VecDeque::with_capacity(retain.min(1024)),
        }
    }

    /// How many versions are kept at most.
    pub fn retain(&self) -> usize {
        self.retain
    }

    /// Number of versions held.
    pub fn len(&self) -> usize {
        self.versions.len()
    }

    /// True when no version is held.
    pub fn is_empty(&self) -> bool {
        self.versions.is_empty()
    }

    /// Adds the newest version, evicting the oldest beyond the retention. Returns the evicted
    /// version, if any (drop it, or persist it elsewhere).
    pub fn record(&mut self, version: StateVersion) -> Result<Option<StateVersion>, HistoryError> {
        if let Some(newest) = self.versions.back() {
            if version.height() <= newest.height() {
                return Err(HistoryError::HeightNotIncreasing {
                    newest: newest.height(),
                    given: version.height(),
                });
            }
        }
        self.versions.push_back(version);
        Ok(if self.versions.len() > self.retain {
            self.versions.pop_front()
        } else {
            None
        })
    }

    /// The version after executing the block at `height` (genesis = 0), if retained.
    pub fn at_height(&self, height: u64) -> Option<&StateVersion> {
        let i = self
            .versions
            .binary_search_by_key(&height, StateVersion::height)
            .ok()?;
        self.versions.get(i)
    }

    /// The newest retained version whose root is `root`.
    pub fn by_root(&self, root: &Hash) -> Option<&StateVersion> {
        self.versions.iter().rev().find(|v| v.root() == *root)
    }

    /// The newest version.
    pub fn newest(&self) -> Option<&StateVersion> {
        self.versions.back()
    }

    /// The oldest retained version.
    pub fn oldest(&self) -> Option<&StateVersion> {
        self.versions.front()
    }

    /// Drops every version above `height` (e.g. after a restart restored an older snapshot).
    pub fn truncate_above(&mut self, height: u64) {
        while self.versions.back().is_some_and(|v| v.height() > height) {
            self.versions.pop_back();
        }
    }

    /// Retained versions, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &StateVersion> {
        self.versions.iter()
    }
}
