//! The validator-set hand-over, followed from the application side: which set certifies the
//! next height, and which set the next epoch-boundary header must name.
//!
//! The rule is PBFT's (`itc_pbft::header`), stated once there: a change the application
//! decides while executing blocks `[b − K, b − 1]` is named in `next_validator_set_hash` of the
//! boundary header `b` (a multiple of the checkpoint interval `K`) and certifies every height
//! from `b + 1` on; a change decided by block `b` itself waits for boundary `b + K`; the last
//! change before a boundary wins. A replica learns changes through
//! `itc_pbft::Executed::next_validator_set`, which is exactly
//! `itc_ledger::BlockOutcome::next_validator_set`; this type applies the same rule to the same
//! value so a full node checks every certificate against the set the validators used.
//!
//! ```
//! use itc_chain::handover::Handover;
//! use itc_crypto::quorum::{Validator, ValidatorSet};
//! use itc_crypto::SecretKey;
//!
//! let set = |seed: u8| ValidatorSet::new([Validator {
//!     key: SecretKey::from_bytes(&[seed; 32]).unwrap().public_key(),
//!     power: 1,
//! }]).unwrap();
//! let (a, b) = (set(1), set(2));
//! let mut handover = Handover::new(4, a.clone());
//! // Block 2 executes a `SetValidators` to `b`:
//! handover.executed(2, &a.hash(), Some(Box::new(b.clone())));
//! assert_eq!(handover.expected_next_hash(3), a.hash()); // not a boundary
//! assert_eq!(handover.expected_next_hash(4), b.hash()); // boundary 4 names b …
//! handover.executed(3, &a.hash(), None);
//! handover.executed(4, &b.hash(), None);
//! assert_eq!(handover.in_force().hash(), b.hash()); // … which certifies height 5 on
//! ```

use alloc::boxed::Box;

use itc_crypto::quorum::ValidatorSet;
use itc_crypto::Hash;
use itc_pbft::BlockHeader;

/// The hand-over state after executing some block `t`: the set certifying `t + 1`, and a change
/// decided since the last boundary that no header has named yet.
#[derive(Debug, Clone)]
pub struct Handover {
    interval: u64,
    in_force: Box<ValidatorSet>,
    in_force_hash: Hash,
    scheduled: Option<(Box<ValidatorSet>, Hash)>,
}

impl Handover {
    /// At genesis: `set` certifies height 1, nothing scheduled. `interval` is the PBFT
    /// checkpoint interval `K` (the epoch length).
    pub fn new(interval: u64, set: ValidatorSet) -> Self {
        let in_force_hash = set.hash();
        Handover {
            interval,
            in_force: Box::new(set),
            in_force_hash,
            scheduled: None,
        }
    }

    /// Resumes after a restart at some executed height `t`: `in_force` is the set named by
    /// header `t` as next (it certifies `t + 1`), `ledger_set` the set the ledger holds after
    /// `t`. The ledger's set differs from the one in force exactly when a change is decided but
    /// not named yet (a change named by a boundary is in force by the time a later block
    /// executes), so that difference is the scheduled change.
    pub fn resume(interval: u64, in_force: ValidatorSet, ledger_set: &ValidatorSet) -> Self {
        let mut h = Handover::new(interval, in_force);
        let ledger_hash = ledger_set.hash();
        if ledger_hash != h.in_force_hash {
            h.scheduled = Some((Box::new(ledger_set.clone()), ledger_hash));
        }
        h
    }

    /// The checkpoint interval `K`.
    pub fn interval(&self) -> u64 {
        self.interval
    }

    /// The set that certifies the next height.
    pub fn in_force(&self) -> &ValidatorSet {
        &self.in_force
    }

    /// Its hash.
    pub fn in_force_hash(&self) -> Hash {
        self.in_force_hash
    }

    /// The change decided but not yet named by a boundary header, if any.
    pub fn scheduled(&self) -> Option<&ValidatorSet> {
        self.scheduled.as_ref().map(|(s, _)| &**s)
    }

    /// The `next_validator_set_hash` the header at `height` (the next height) must carry: the
    /// scheduled change at a boundary, the set in force otherwise.
    pub fn expected_next_hash(&self, height: u64) -> Hash {
        if BlockHeader::is_epoch_boundary(height, self.interval) {
            self.scheduled
                .as_ref()
                .map_or(self.in_force_hash, |(_, h)| *h)
        } else {
            self.in_force_hash
        }
    }

    /// Block `height`, whose header named `named_next` as next set (already checked against
    /// [`Handover::expected_next_hash`]), executed and decided `change` (the ledger's
    /// `next_validator_set`). Returns the set that comes into force, if this was a boundary
    /// that changed it.
    pub fn executed(
        &mut self,
        height: u64,
        named_next: &Hash,
        change: Option<Box<ValidatorSet>>,
    ) -> Option<&ValidatorSet> {
        let mut rotated = false;
        if BlockHeader::is_epoch_boundary(height, self.interval) {
            match self.scheduled.take() {
                Some((set, hash)) if hash == *named_next && hash != self.in_force_hash => {
                    self.in_force = set;
                    self.in_force_hash = hash;
                    rotated = true;
                }
                _ => {}
            }
        }
        if let Some(set) = change {
            let hash = set.hash();
            self.scheduled = Some((set, hash));
        }
        rotated.then_some(&*self.in_force)
    }
}
