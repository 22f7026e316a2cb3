//! View changes: replacing a faulty or slow primary without losing anything committed.
//!
//! * **Trigger.** A replica with a pending request that sees no commit within the request
//!   timeout sends `ViewChange(v + 1)` with its stable checkpoint certificate and every
//!   prepared certificate above it, and stops taking ordering messages of view `v`. With idle
//!   blocks on (`Config::idle_block_interval_ms`), a block is due within one interval even
//!   with nothing to order, so no commit within interval + timeout triggers it too.
//! * **Back-off.** The timeout doubles with every view change that brings no progress (reset by
//!   the next delivered block), capped by `Config::max_view_change_timeout_ms`. A replica
//!   waiting for `NewView(v + 1)` re-sends its view-change when the timer fires and moves on
//!   to `v + 2` only after a quorum asked for `v + 1` (PBFT's rule), so an isolated replica
//!   does not race ahead through views.
//! * **Join.** Seeing view-changes for higher views from more than 1/3 of the power, a replica
//!   joins the *smallest* of those views. One forged huge view number moves nobody: it needs
//!   validators holding more than 1/3 of the power behind it, and each sender is kept only once
//!   (its latest view-change).
//! * **New view.** The primary of `v + 1`, holding view-changes from more than 2/3 of the power,
//!   re-proposes, for every height above the highest checkpoint among them, the prepared header
//!   with the highest view, and signs the result. Backups recompute the same set from the
//!   carried view-changes and refuse anything else.
//! * **Gaps.** Classic PBFT fills gaps with null requests. Here a replica prepares height `h`
//!   only after committing `h − 1` (the header chains to it), so the prepared certificates in a
//!   valid quorum are contiguous from the checkpoint; the re-proposals are that contiguous run
//!   and a certificate above a gap (possible only with more than `f` faulty replicas) is
//!   dropped. A "null request" would need a header, and a header needs its predecessor.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use itc_crypto::quorum::Threshold;
use itc_crypto::{Hash, Signer};

use crate::action::{Action, Timer};
use crate::error::{NewViewError, PbftError, ViewChangeError};
use crate::header::BlockHeader;
use crate::message::{
    primary_index, vote_digest, Message, NewView, Phase, PrePrepare, PreparedCertificate,
    ViewChange,
};
use crate::replica::Replica;
use crate::sig::SigChecker;

/// The headers a new view must re-propose, ascending from the highest checkpoint among `vcs`.
pub(crate) fn reproposals(vcs: &[ViewChange]) -> Vec<BlockHeader> {
    let min_s = vcs
        .iter()
        .map(ViewChange::checkpoint_height)
        .max()
        .unwrap_or(0);
    let mut best: BTreeMap<u64, (u64, Hash, BlockHeader)> = BTreeMap::new();
    for p in vcs.iter().flat_map(|vc| vc.prepared.iter()) {
        let h = p.height();
        if h <= min_s {
            continue;
        }
        let cand = (p.view(), p.pre_prepare.header.hash(), p.pre_prepare.header);
        match best.get(&h) {
            Some(b) if (b.0, b.1) >= (cand.0, cand.1) => {}
            _ => {
                best.insert(h, cand);
            }
        }
    }
    let mut out = Vec::new();
    let mut h = min_s.saturating_add(1);
    while let Some((_, _, header)) = best.get(&h) {
        out.push(*header);
        h = h.saturating_add(1);
    }
    out
}

impl<S: Signer> Replica<S> {
    /// Moves to `target` (if higher) and announces it.
    pub(crate) fn start_view_change(&mut self, target: u64) -> Result<(), PbftError> {
        if target < self.view || (target == self.view && self.active) {
            return Ok(());
        }
        let fact = self.guard.enter_view(target)?;
        self.persist(fact);
        if target > self.view {
            self.vc_attempts = self.vc_attempts.saturating_add(1);
        }
        self.view = target;
        self.active = false;
        self.new_view = None;
        self.nv_forwarded.clear();
        self.batch_deadline = None;
        self.cancel_timer(Timer::Batch);
        self.pending.clear_in_flight();
        self.view_changes.retain(|_, vc| vc.new_view >= target);
        self.send_view_change()?;
        let d = self
            .now
            .saturating_add(self.config.view_change_timeout(self.vc_attempts));
        self.set_timer(Timer::ViewChange, d);
        self.check_new_view_quorum()
    }

    /// Signs and broadcasts our view-change for the current (target) view.
    pub(crate) fn send_view_change(&mut self) -> Result<(), PbftError> {
        let Some(me) = self.my_index(self.low.saturating_add(1)) else {
            return Ok(());
        };
        let (low, high) = (self.low, self.high());
        let prepared: Vec<PreparedCertificate> = self
            .log
            .range(low.saturating_add(1)..=high)
            .filter_map(|(_, s)| s.prepared.clone())
            .filter(|p| p.view() < self.view)
            .collect();
        let mut vc = ViewChange {
            new_view: self.view,
            checkpoint: self.stable.clone(),
            prepared,
            sender: me,
            signature: itc_crypto::Signature([0; 64]),
        };
        vc.signature = self.stats.sign(&self.signer, &vc.digest())?;
        self.view_changes.insert(me, vc.clone());
        self.push(Action::Broadcast(Message::ViewChange(vc)));
        Ok(())
    }

    pub(crate) fn on_view_change_timeout(&mut self) -> Result<(), PbftError> {
        if self.active {
            // Nothing waits and no block is due (idle blocks off): nothing to suspect. Nor
            // for a replica outside the set of its next height (it has no vote).
            if (self.pending_requests() == 0 && self.config.idle_block_interval_ms == 0)
                || !self.votes_next()
            {
                return Ok(());
            }
            return match self.view.checked_add(1) {
                Some(v) => self.start_view_change(v),
                None => Ok(()),
            };
        }
        if self.view_change_power(self.view, true).1 {
            // A quorum asked for this view (or later ones) and its primary did not deliver:
            // next view. Counting later views too matters: a replica that already moved on
            // keeps only its newest view-change, and must not strand the others.
            if let Some(v) = self.view.checked_add(1) {
                return self.start_view_change(v);
            }
        }
        // Retransmit: view-changes may have been lost. And probe one peer for blocks past
        // ours: a replica stranded in a view nobody else is in may simply be behind.
        self.send_view_change()?;
        self.probe_fetch();
        let d = self
            .now
            .saturating_add(self.config.view_change_timeout(self.vc_attempts));
        self.set_timer(Timer::ViewChange, d);
        Ok(())
    }

    /// (power, quorum reached) of the stored view-changes for `view` (or, with `or_later`,
    /// for `view` and above).
    fn view_change_power(&self, view: u64, or_later: bool) -> (u64, bool) {
        let Some(e) = self.epoch_for(self.low.saturating_add(1)) else {
            return (0, false);
        };
        let power = self
            .view_changes
            .iter()
            .filter(|(_, vc)| vc.new_view == view || (or_later && vc.new_view > view))
            .filter_map(|(i, _)| e.set.get(usize::from(*i)))
            .fold(0u64, |a, v| a.saturating_add(v.power));
        (
            power,
            Threshold::TwoThirds.is_met(power, e.set.total_power()),
        )
    }

    /// Checks a view-change's checkpoint and prepared certificates.
    fn validate_view_change(
        &self,
        vc: &ViewChange,
        stats: &mut SigChecker,
    ) -> Result<(), ViewChangeError> {
        let c = vc.checkpoint_height();
        // Our own stable checkpoint needs no second check — and a restored replica may not
        // know the set that certified it (its history starts above it).
        let ours = |cert: &crate::message::CheckpointCertificate| {
            self.stable
                .as_ref()
                .is_some_and(|s| s.height == cert.height && s.digest() == cert.digest())
        };
        if let Some(cert) = vc.checkpoint.as_ref().filter(|c| !ours(c)) {
            let set = &self.epoch_for(c).ok_or(ViewChangeError::OtherEpoch(c))?.set;
            cert.verify(set, stats)
                .map_err(ViewChangeError::Checkpoint)?;
        }
        let mut last = c;
        let limit = c.saturating_add(self.config.window);
        for p in &vc.prepared {
            let h = p.height();
            if h <= last || h > limit {
                return Err(ViewChangeError::PreparedOutOfRange);
            }
            last = h;
            if p.view() >= vc.new_view {
                return Err(ViewChangeError::PreparedFromFuture {
                    found: p.view(),
                    new_view: vc.new_view,
                });
            }
            let set = &self.epoch_for(h).ok_or(ViewChangeError::OtherEpoch(c))?.set;
            p.verify(set, stats)
                .map_err(|reason| ViewChangeError::Prepared { height: h, reason })?;
        }
        Ok(())
    }

    /// Signature and contents of a view-change, in the epoch of our stable checkpoint.
    fn check_view_change(&mut self, vc: &ViewChange) -> Result<(), ViewChangeError> {
        let c = vc.checkpoint_height();
        let mine = self.epoch_for(self.low.saturating_add(1)).map(|e| e.hash);
        let theirs = self.epoch_for(c.saturating_add(1)).map(|e| e.hash);
        if mine.is_none() || mine != theirs {
            return Err(ViewChangeError::OtherEpoch(c));
        }
        let key = self
            .epoch_for(self.low.saturating_add(1))
            .and_then(|e| e.set.get(usize::from(vc.sender)))
            .map(|v| v.key)
            .ok_or(ViewChangeError::UnknownSender(vc.sender))?;
        let mut stats = core::mem::take(&mut self.stats);
        let ok = stats.verify_remembered(&key, &vc.digest(), &vc.signature);
        let res = if ok {
            self.validate_view_change(vc, &mut stats)
        } else {
            Err(ViewChangeError::BadSignature(vc.sender))
        };
        self.stats = stats;
        res
    }

    pub(crate) fn on_view_change(&mut self, vc: ViewChange) -> Result<(), PbftError> {
        // A checkpoint above ours is worth taking even from a view-change we then refuse.
        if let Some(cert) = &vc.checkpoint {
            if cert.height > self.low
                && self
                    .pending_stable
                    .as_ref()
                    .is_none_or(|p| p.height < cert.height)
            {
                let ku = self.known_until();
                let valid = match self.epochs.get(cert.height, ku) {
                    Some(e) => cert.verify(&e.set, &mut self.stats).is_ok(),
                    None => false,
                };
                if valid {
                    self.adopt_checkpoint(cert.clone());
                }
            }
        }
        if let Some(existing) = self.view_changes.get(&vc.sender) {
            if *existing == vc {
                return Err(PbftError::Duplicate);
            }
        }
        self.check_view_change(&vc)?;
        if vc.new_view < self.view || (vc.new_view == self.view && self.active) {
            // The sender is behind: hand it the new-view that started our view, once.
            if self.active && self.nv_forwarded.insert(vc.sender) {
                if let (Some(nv), Some(to)) = (
                    self.new_view.clone(),
                    self.epoch_for(self.low.saturating_add(1))
                        .and_then(|e| e.set.get(usize::from(vc.sender)))
                        .map(|v| v.key),
                ) {
                    self.push(Action::Send {
                        to,
                        message: Message::NewView(nv),
                    });
                }
            }
            return Err(PbftError::StaleView {
                view: vc.new_view,
                current: self.view,
            });
        }
        let newer = self
            .view_changes
            .get(&vc.sender)
            .is_none_or(|old| old.new_view < vc.new_view);
        if newer {
            self.view_changes.insert(vc.sender, vc);
        }
        self.check_join()?;
        self.check_new_view_quorum()
    }

    /// Joins the smallest higher view that validators with more than 1/3 of the power ask for.
    fn check_join(&mut self) -> Result<(), PbftError> {
        let Some(e) = self.epoch_for(self.low.saturating_add(1)) else {
            return Ok(());
        };
        let mut power = 0u64;
        let mut smallest = u64::MAX;
        for (i, vc) in &self.view_changes {
            if vc.new_view > self.view {
                power = power.saturating_add(e.set.get(usize::from(*i)).map_or(0, |v| v.power));
                smallest = smallest.min(vc.new_view);
            }
        }
        if Threshold::OneThird.is_met(power, e.set.total_power()) {
            self.start_view_change(smallest)?;
        }
        Ok(())
    }

    /// The new primary starts the view once a quorum asked for it.
    fn check_new_view_quorum(&mut self) -> Result<(), PbftError> {
        if self.active || !self.view_change_power(self.view, false).1 {
            return Ok(());
        }
        let Some(e) = self.epoch_for(self.low.saturating_add(1)) else {
            return Ok(());
        };
        let n = e.set.len();
        let me = e.set.index_of(&self.key);
        if me != Some(usize::from(primary_index(self.view, n))) {
            return Ok(());
        }
        let vcs: Vec<ViewChange> = self
            .view_changes
            .values()
            .filter(|vc| vc.new_view == self.view)
            .cloned()
            .collect();
        let mut pre_prepares = Vec::new();
        for header in reproposals(&vcs) {
            let h = header.height;
            let hash = header.hash();
            let fact = self
                .guard
                .approve_vote(Phase::PrePrepare, self.view, h, hash)?;
            self.persist(fact);
            let digest = vote_digest(Phase::PrePrepare, self.view, h, &hash);
            pre_prepares.push(PrePrepare {
                view: self.view,
                header,
                signature: self.stats.sign(&self.signer, &digest)?,
            });
        }
        let mut nv = NewView {
            view: self.view,
            view_changes: vcs,
            pre_prepares,
            signature: itc_crypto::Signature([0; 64]),
        };
        nv.signature = self.stats.sign(&self.signer, &nv.digest())?;
        self.push(Action::Broadcast(Message::NewView(nv.clone())));
        self.install_new_view(nv)
    }

    pub(crate) fn on_new_view(&mut self, nv: NewView) -> Result<(), PbftError> {
        if nv.view < self.view {
            return Err(PbftError::StaleView {
                view: nv.view,
                current: self.view,
            });
        }
        if nv.view == self.view && self.active {
            return Err(PbftError::Duplicate);
        }
        let Some(e) = self.epoch_for(self.low.saturating_add(1)) else {
            return Err(PbftError::UnknownValidatorSet(self.low.saturating_add(1)));
        };
        let n = e.set.len();
        let total = e.set.total_power();
        let primary = primary_index(nv.view, n);
        let Some(pkey) = e.set.get(usize::from(primary)).map(|v| v.key) else {
            return Err(PbftError::UnknownSender(primary));
        };
        if pkey == self.key {
            return Err(PbftError::Duplicate);
        }
        if !self
            .stats
            .verify_remembered(&pkey, &nv.digest(), &nv.signature)
        {
            return Err(PbftError::InvalidSignature(primary));
        }
        let mut senders = BTreeSet::new();
        let mut power = 0u64;
        for (index, vc) in nv.view_changes.iter().enumerate() {
            if vc.new_view != nv.view {
                return Err(NewViewError::ViewMismatch { index }.into());
            }
            if !senders.insert(vc.sender) {
                return Err(NewViewError::DuplicateSender(vc.sender).into());
            }
            let known = self.view_changes.get(&vc.sender) == Some(vc);
            if !known {
                self.check_view_change(vc)
                    .map_err(|reason| NewViewError::InvalidViewChange { index, reason })?;
            }
            power = power.saturating_add(
                self.epoch_for(self.low.saturating_add(1))
                    .and_then(|e| e.set.get(usize::from(vc.sender)))
                    .map_or(0, |v| v.power),
            );
        }
        if !Threshold::TwoThirds.is_met(power, total) {
            return Err(NewViewError::NoQuorum {
                have: power,
                need_above: Threshold::TwoThirds.bar(total),
            }
            .into());
        }
        let expected = reproposals(&nv.view_changes);
        if expected.len() != nv.pre_prepares.len()
            || expected
                .iter()
                .zip(&nv.pre_prepares)
                .any(|(h, pp)| *h != pp.header || pp.view != nv.view)
        {
            return Err(NewViewError::WrongReproposals.into());
        }
        for (index, pp) in nv.pre_prepares.iter().enumerate() {
            if !self
                .stats
                .verify_remembered(&pkey, &pp.digest(), &pp.signature)
            {
                return Err(NewViewError::BadReproposalSignature { index }.into());
            }
        }
        self.install_new_view(nv)
    }

    /// Enters the view started by `nv` (already verified) and votes on its re-proposals.
    fn install_new_view(&mut self, nv: NewView) -> Result<(), PbftError> {
        let fact = self.guard.enter_view(nv.view)?;
        self.persist(fact);
        self.view = nv.view;
        self.active = true;
        self.nv_forwarded.clear();
        self.view_changes.retain(|_, vc| vc.new_view > nv.view);
        self.pending.clear_in_flight();
        self.batch_deadline = None;
        self.cancel_timer(Timer::Batch);
        let best = nv
            .view_changes
            .iter()
            .filter_map(|vc| vc.checkpoint.as_ref())
            .max_by_key(|c| c.height)
            .cloned();
        if let Some(cert) = best {
            self.adopt_checkpoint(cert);
        }
        let view = self.view;
        for slot in self.log.values_mut() {
            slot.enter_view(view);
        }
        let n = self
            .epoch_for(self.low.saturating_add(1))
            .map_or(1, |e| e.set.len());
        let i_am_primary =
            self.my_index(self.low.saturating_add(1)) == Some(primary_index(view, n));
        for pp in &nv.pre_prepares {
            let h = pp.height();
            let hash = pp.header.hash();
            if h <= self.low || h > self.high() {
                continue;
            }
            if h <= self.last_header.height {
                // Already committed here: vote again only for the same header, so that
                // replicas that missed it can form their quorum.
                let same = self.committed_hashes.get(&h) == Some(&hash);
                if !same {
                    continue;
                }
            }
            let committed_here = h <= self.last_header.height;
            let slot = self.log.entry(h).or_default();
            slot.enter_view(view);
            slot.pre_prepare = Some(*pp);
            slot.header_hash = hash;
            // Never prepare a header whose batch we do not hold (durably): fetch it first and
            // vote when it arrives (issue 16.2). A committed header is in our block store.
            let held = committed_here || self.hold_durably(h, &hash);
            if i_am_primary || held {
                if let Some(slot) = self.log.get_mut(&h) {
                    slot.accepted = true;
                }
                if !i_am_primary {
                    self.cast_vote(Phase::Prepare, h, hash)?;
                }
            } else if let Some(slot) = self.log.get_mut(&h) {
                slot.awaiting_batch = true;
            }
            if !held {
                self.want_batch(h, hash)?;
            }
            self.check_progress(h)?;
        }
        self.new_view = Some(nv);
        self.cancel_timer(Timer::ViewChange);
        self.arm_request_timer();
        self.replay_future();
        self.try_propose()
    }
}
