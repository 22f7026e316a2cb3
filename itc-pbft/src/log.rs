//! The message log: one [`Slot`] per height inside the watermark window, votes kept as signer
//! bitmaps with their signatures (so a quorum becomes a certificate without copying).
//!
//! Bounds by construction: slots exist only for heights in `(low, low + L]`; a slot holds at
//! most one pre-prepare per view and one vote per sender and phase (a second, different vote
//! is equivocation and is reported, not stored); votes of views the replica has left are
//! dropped when it enters a new view.

use alloc::vec::Vec;

use itc_crypto::quorum::{QuorumCertificate, SignerBitmap, ValidatorSet};
use itc_crypto::{Hash, Signature};

use crate::certificate::CommitCertificate;
use crate::message::{PrePrepare, PreparedCertificate, Signatures};

/// What a sender already voted in a tally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prior {
    /// Nothing yet.
    None,
    /// The same hash (a duplicate).
    Same,
    /// Another hash, with the signature that proves it.
    Other(Hash, Signature),
}

/// A vote whose signature is not checked yet ([`VoteCheck::AtQuorum`](crate::VoteCheck)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unchecked {
    pub sender: usize,
    pub value: Hash,
    pub signature: Signature,
}

/// Votes of one phase, grouped by the value voted for.
///
/// `voted`/`by_value` hold checked votes only; `unchecked` holds at most one vote per sender
/// whose signature waits for a batch check (so it is bounded by the validator count).
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    voted: SignerBitmap,
    by_value: Vec<(Hash, QuorumCertificate<Signatures>)>,
    unchecked: Vec<Unchecked>,
}

impl Tally {
    /// What `sender` already voted, compared with `value`.
    pub(crate) fn prior(&self, sender: usize, value: &Hash) -> Prior {
        if !self.voted.get(sender) {
            return Prior::None;
        }
        for (v, qc) in &self.by_value {
            if qc.signers().get(sender) {
                if v == value {
                    return Prior::Same;
                }
                let sig = qc.iter().find(|(i, _)| *i == sender).map(|(_, s)| *s);
                if let Some(sig) = sig {
                    return Prior::Other(*v, sig);
                }
            }
        }
        Prior::Same
    }

    /// Records a verified vote. Returns false if the sender had already voted.
    pub(crate) fn insert(&mut self, sender: usize, value: Hash, sig: Signature) -> bool {
        if self.voted.get(sender) || !self.voted.set(sender) {
            return false;
        }
        let pos = match self.by_value.iter().position(|(v, _)| *v == value) {
            Some(p) => p,
            None => {
                self.by_value.push((value, QuorumCertificate::new()));
                self.by_value.len() - 1
            }
        };
        match self.by_value.get_mut(pos) {
            Some((_, qc)) => qc.insert(sender, sig).is_ok(),
            None => false,
        }
    }

    /// The votes for `value`.
    pub(crate) fn votes(&self, value: &Hash) -> Option<&QuorumCertificate<Signatures>> {
        self.by_value
            .iter()
            .find(|(v, _)| v == value)
            .map(|(_, qc)| qc)
    }

    /// Voting power behind `value`.
    pub(crate) fn power<const N: usize>(&self, value: &Hash, set: &ValidatorSet<N>) -> u64 {
        self.votes(value).map_or(0, |qc| set.power_of(qc.signers()))
    }

    /// Every value with its votes.
    pub(crate) fn values(&self) -> impl Iterator<Item = &(Hash, QuorumCertificate<Signatures>)> {
        self.by_value.iter()
    }

    /// True if the tally holds no vote, checked or not.
    pub(crate) fn is_empty(&self) -> bool {
        self.by_value.is_empty() && self.unchecked.is_empty()
    }

    /// True if some vote waits for a batch check.
    pub(crate) fn has_unchecked(&self) -> bool {
        !self.unchecked.is_empty()
    }

    /// The distinct values the unchecked votes are for, in first-arrival order.
    pub(crate) fn unchecked_values(&self) -> Vec<Hash> {
        let mut values: Vec<Hash> = Vec::new();
        for u in &self.unchecked {
            if !values.contains(&u.value) {
                values.push(u.value);
            }
        }
        values
    }

    /// Removes and returns `sender`'s unchecked vote.
    pub(crate) fn take_unchecked_of(&mut self, sender: usize) -> Option<Unchecked> {
        let pos = self.unchecked.iter().position(|u| u.sender == sender)?;
        Some(self.unchecked.swap_remove(pos))
    }

    /// Holds a vote for a later batch check. Returns false (and holds nothing) if `sender`
    /// already has an unchecked or checked vote here: callers settle that one first.
    pub(crate) fn hold_unchecked(&mut self, vote: Unchecked) -> bool {
        if self.voted.get(vote.sender) || self.unchecked.iter().any(|u| u.sender == vote.sender) {
            return false;
        }
        self.unchecked.push(vote);
        true
    }

    /// Voting power of the unchecked votes for `value`.
    pub(crate) fn unchecked_power<const N: usize>(
        &self,
        value: &Hash,
        set: &ValidatorSet<N>,
    ) -> u64 {
        self.unchecked
            .iter()
            .filter(|u| u.value == *value)
            .filter_map(|u| set.get(u.sender).map(|v| v.power))
            .fold(0u64, u64::saturating_add)
    }

    /// Removes and returns the unchecked votes for `value`, in arrival order.
    pub(crate) fn take_unchecked_for(&mut self, value: &Hash) -> Vec<Unchecked> {
        let (taken, kept) = core::mem::take(&mut self.unchecked)
            .into_iter()
            .partition(|u| u.value == *value);
        self.unchecked = kept;
        taken
    }
}

/// Everything the replica knows about one height.
#[derive(Debug, Clone, Default)]
pub(crate) struct Slot {
    /// View the pre-prepare and votes below belong to.
    pub view: u64,
    /// The primary's proposal in `view`.
    pub pre_prepare: Option<PrePrepare>,
    /// `pre_prepare.header.hash()`, cached.
    pub header_hash: Hash,
    /// True once this replica checked the proposal and sent its prepare (or proposed it).
    pub accepted: bool,
    /// Prepares of `view`.
    pub prepares: Tally,
    /// Commits of `view`.
    pub commits: Tally,
    /// True once this replica sent its commit in `view`.
    pub commit_sent: bool,
    /// Highest-view prepared certificate (survives view changes).
    pub prepared: Option<PreparedCertificate>,
    /// A re-proposal of `view` this replica will prepare as soon as it holds its batch
    /// (batches live in the replica's [`BatchStore`](crate::availability)).
    pub awaiting_batch: bool,
    /// The committed proposal, its header hash and certificate, once committed-local.
    pub committed: Option<(PrePrepare, Hash, CommitCertificate<Signatures>)>,
}

impl Slot {
    /// Forgets the votes of the view being left; keeps certificates.
    pub(crate) fn enter_view(&mut self, view: u64) {
        if view > self.view {
            self.view = view;
            self.pre_prepare = None;
            self.header_hash = Hash::ZERO;
            self.accepted = false;
            self.prepares = Tally::default();
            self.commits = Tally::default();
            self.commit_sent = false;
            self.awaiting_batch = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_vote_per_sender_and_conflicts_are_reported() {
        let mut t = Tally::default();
        let a = Hash([1; 32]);
        let b = Hash([2; 32]);
        assert_eq!(t.prior(3, &a), Prior::None);
        assert!(t.insert(3, a, Signature([7; 64])));
        assert_eq!(t.prior(3, &a), Prior::Same);
        assert_eq!(t.prior(3, &b), Prior::Other(a, Signature([7; 64])));
        assert!(!t.insert(3, b, Signature([8; 64])));
        assert!(t.insert(1, b, Signature([9; 64])));
        assert_eq!(t.votes(&a).unwrap().signers().count(), 1);
        assert_eq!(t.votes(&b).unwrap().signers().count(), 1);
        assert_eq!(t.values().count(), 2);
    }

    #[test]
    fn unchecked_votes_are_one_per_sender_and_taken_by_value() {
        let mut t = Tally::default();
        let (a, b) = (Hash([1; 32]), Hash([2; 32]));
        let u = |sender, value| Unchecked {
            sender,
            value,
            signature: Signature([sender as u8; 64]),
        };
        assert!(t.is_empty());
        assert!(t.hold_unchecked(u(0, a)));
        assert!(!t.hold_unchecked(u(0, b)), "one unchecked vote per sender");
        assert!(t.hold_unchecked(u(1, b)));
        assert!(t.hold_unchecked(u(2, a)));
        assert!(t.insert(3, a, Signature([3; 64])));
        assert!(
            !t.hold_unchecked(u(3, a)),
            "a checked vote blocks an unchecked one"
        );
        assert!(!t.is_empty());
        let taken = t.take_unchecked_for(&a);
        assert_eq!(taken, alloc::vec![u(0, a), u(2, a)]);
        assert_eq!(t.take_unchecked_of(1), Some(u(1, b)));
        assert_eq!(t.take_unchecked_of(1), None);
        assert_eq!(t.votes(&a).unwrap().signers().count(), 1);
    }
}
