//! Checkpoints: every `K` blocks each replica signs `(height, block hash, state root)`; a
//! quorum of matching votes makes the checkpoint **stable**, which
//!
//! * moves the low watermark to it (the window becomes `(h, h + L]`),
//! * garbage-collects every slot, vote and durable record at or below it, and
//! * gives a lagging replica a certified target to catch up to.

use alloc::vec::Vec;

use itc_crypto::quorum::Threshold;
use itc_crypto::{Hash, Signer};

use crate::action::Action;
use crate::error::PbftError;
use crate::log::{Prior, Tally};
use crate::message::{checkpoint_digest, CheckpointCertificate, CheckpointVote, Message};
use crate::replica::Replica;

/// Checkpoint votes at one height, grouped by digest, with what each digest stands for.
#[derive(Debug, Clone, Default)]
pub(crate) struct CheckpointTally {
    votes: Tally,
    contents: Vec<(Hash, Hash, Hash)>,
}

impl<S: Signer> Replica<S> {
    /// Signs and broadcasts our checkpoint vote after executing checkpoint block `h`.
    pub(crate) fn send_checkpoint(
        &mut self,
        h: u64,
        block_hash: Hash,
        state_root: Hash,
    ) -> Result<(), PbftError> {
        let Some(me) = self.my_index(h) else {
            return Ok(());
        };
        let digest = checkpoint_digest(h, &block_hash, &state_root);
        let signature = self.stats.sign(&self.signer, &digest)?;
        let vote = CheckpointVote {
            height: h,
            block_hash,
            state_root,
            sender: me,
            signature,
        };
        self.record_checkpoint_vote(&vote, digest);
        self.push(Action::Broadcast(Message::Checkpoint(vote)));
        Ok(())
    }

    fn record_checkpoint_vote(&mut self, v: &CheckpointVote, digest: Hash) {
        let t = self.checkpoints.entry(v.height).or_default();
        if t.votes.insert(usize::from(v.sender), digest, v.signature)
            && !t.contents.iter().any(|(d, _, _)| *d == digest)
        {
            t.contents.push((digest, v.block_hash, v.state_root));
        }
    }

    pub(crate) fn on_checkpoint(&mut self, v: CheckpointVote) -> Result<(), PbftError> {
        let h = v.height;
        if h == 0 || h % self.config.checkpoint_interval != 0 {
            return Err(PbftError::NotACheckpoint(h));
        }
        // Votes up to two windows ahead are kept: that is how a lagging replica learns it is
        // behind. Further ahead is rejected, so a forger cannot make us keep many heights.
        let far = self
            .low
            .saturating_add(self.config.window.saturating_mul(2));
        if h <= self.low || h > far {
            return Err(PbftError::OutOfWindow {
                height: h,
                low: self.low,
                high: far,
            });
        }
        let ku = self.known_until();
        let Some(epoch) = self.epochs.get(h, ku) else {
            return self.buffer_future(v.sender, Message::Checkpoint(v));
        };
        let Some(key) = epoch.set.get(usize::from(v.sender)).map(|x| x.key) else {
            return Err(PbftError::UnknownSender(v.sender));
        };
        let digest = v.digest();
        if let Some(t) = self.checkpoints.get(&h) {
            match t.votes.prior(usize::from(v.sender), &digest) {
                Prior::Same => return Err(PbftError::Duplicate),
                Prior::Other(..) => return Err(PbftError::Equivocation(v.sender)),
                Prior::None => {}
            }
        }
        if !self.stats.verify_remembered(&key, &digest, &v.signature) {
            return Err(PbftError::InvalidSignature(v.sender));
        }
        self.record_checkpoint_vote(&v, digest);
        self.check_stable(h);
        Ok(())
    }

    /// If checkpoint `h` has a quorum, makes it stable (or, if we are behind, a catch-up
    /// target).
    pub(crate) fn check_stable(&mut self, h: u64) {
        let candidate = self.stable_candidate(h);
        if let Some(cert) = candidate {
            self.adopt_checkpoint(cert);
        } else if let Some(p) = self.pending_stable.clone() {
            if p.height <= self.executed {
                self.adopt_checkpoint(p);
            }
        }
    }

    fn stable_candidate(&self, h: u64) -> Option<CheckpointCertificate> {
        let set = &self.epoch_for(h)?.set;
        let t = self.checkpoints.get(&h)?;
        t.votes.values().find_map(|(digest, qc)| {
            if !Threshold::TwoThirds.is_met(set.power_of(qc.signers()), set.total_power()) {
                return None;
            }
            let (_, block_hash, state_root) = t.contents.iter().find(|(d, _, _)| d == digest)?;
            Some(CheckpointCertificate {
                height: h,
                block_hash: *block_hash,
                state_root: *state_root,
                votes: qc.clone(),
            })
        })
    }

    /// Takes a verified checkpoint certificate: stable if we executed that far with the same
    /// result, otherwise a target to fetch up to.
    pub(crate) fn adopt_checkpoint(&mut self, cert: CheckpointCertificate) {
        let h = cert.height;
        if h <= self.low {
            return;
        }
        if h > self.executed {
            if self.pending_stable.as_ref().is_none_or(|p| p.height < h) {
                self.pending_stable = Some(cert);
            }
            self.request_fetch(h);
            return;
        }
        match self.executed_roots.get(&h) {
            Some((b, r)) if *b == cert.block_hash && *r == cert.state_root => {}
            // Our execution diverged from the quorum's (or we no longer remember): keep the
            // old watermark; the integrator sees the mismatch in its own state.
            _ => return,
        }
        self.advance_low(cert);
    }

    fn advance_low(&mut self, cert: CheckpointCertificate) {
        let h = cert.height;
        let epoch_before = self.epoch_for(self.low.saturating_add(1)).map(|e| e.hash);
        self.low = h;
        let fact = self.guard.record_stable(cert.clone());
        self.persist(Some(fact));
        self.stable = Some(cert);
        if self.pending_stable.as_ref().is_some_and(|p| p.height <= h) {
            self.pending_stable = None;
        }
        self.log.retain(|height, _| *height > h);
        self.batches.prune(h);
        self.wanted.retain(|_, height| *height > h);
        self.committed_hashes.retain(|height, _| *height > h);
        self.checkpoints.retain(|height, _| *height > h);
        self.executed_roots.retain(|height, _| *height >= h);
        self.epochs.prune(h);
        let epoch_after = self.epoch_for(h.saturating_add(1)).map(|e| e.hash);
        if epoch_before != epoch_after {
            // View-change messages are counted within one epoch's set.
            self.view_changes.clear();
        }
        let next = self.last_header.height.saturating_add(1);
        let _ = self.try_accept(next);
        let _ = self.try_propose();
        self.replay_future();
    }
}
