//! PBFT's normal case: the primary's proposal (pre-prepare), backups' prepares, everyone's
//! commits; the *prepared* and *committed-local* predicates; in-order delivery to the
//! application; and the primary's batching.
//!
//! A backup checks a proposal's header against its own chain (parent hash, state root after
//! the previous block, validator-set hashes, timestamp) before it prepares it — which it can
//! only do once the previous block is committed and executed, so an early proposal waits in
//! its slot. A commit quorum certifies a header even if this replica never prepared it (it
//! then delivers the block with that certificate, or fetches the batch if it lacks it).

use alloc::vec::Vec;

use itc_crypto::batch::BatchItem;
use itc_crypto::quorum::Threshold;
use itc_crypto::{Hash, PublicKey, Signer};

use crate::action::{Action, Timer};
use crate::certificate::CommitCertificate;
use crate::config::VoteCheck;
use crate::error::{PbftError, ProposalError};
use crate::evidence::Evidence;
use crate::header::BlockHeader;
use crate::log::{Prior, Tally, Unchecked};
use crate::message::{
    primary_index, vote_digest, CertifiedBlock, Message, Phase, PrePrepare, PreparedCertificate,
    ReplicaIndex, Vote,
};
use crate::replica::Replica;
use crate::request::Batch;

impl<S: Signer> Replica<S> {
    pub(crate) fn on_pre_prepare(&mut self, pp: PrePrepare, batch: Batch) -> Result<(), PbftError> {
        let h = pp.header.height;
        if h <= self.last_header.height {
            // Committed heights are only ever re-proposed inside a new-view.
            return Err(PbftError::AlreadyCommitted(h));
        }
        if self.gate(pp.view, h)? {
            let n = self.epochs.latest().map_or(1, |e| e.set.len());
            return self.buffer_future(
                primary_index(pp.view, n),
                Message::PrePrepare {
                    pre_prepare: pp,
                    batch,
                },
            );
        }
        let ku = self.known_until();
        let Some(epoch) = self.epochs.get(h, ku) else {
            return Err(PbftError::UnknownValidatorSet(h));
        };
        let set = &epoch.set;
        let primary = primary_index(pp.view, set.len());
        if set.index_of(&self.key) == Some(usize::from(primary)) {
            // Our own proposal echoed back, or a forgery in our name.
            return Err(PbftError::Duplicate);
        }
        let hash = pp.header.hash();
        if let Some(slot) = self.log.get(&h) {
            if slot.view == pp.view {
                if let Some(existing) = &slot.pre_prepare {
                    if slot.header_hash == hash {
                        return Err(PbftError::Duplicate);
                    }
                    let (existing, existing_hash) = (*existing, slot.header_hash);
                    pp.verify_hashed(&hash, set, &mut self.stats)
                        .map_err(|_| PbftError::InvalidSignature(primary))?;
                    self.push(Action::Evidence(Evidence {
                        phase: Phase::PrePrepare,
                        view: pp.view,
                        height: h,
                        sender: primary,
                        first: (existing_hash, existing.signature),
                        second: (hash, pp.signature),
                    }));
                    return Err(PbftError::Equivocation(primary));
                }
            }
        }
        if pp.header.view != pp.view {
            return Err(ProposalError::WrongView {
                header: pp.header.view,
                proposal: pp.view,
            }
            .into());
        }
        let bytes = batch.payload_bytes();
        if batch.len() > self.config.max_batch_requests || bytes > self.config.max_batch_bytes {
            return Err(ProposalError::BatchTooLarge {
                count: batch.len(),
                bytes,
            }
            .into());
        }
        pp.verify_hashed(&hash, set, &mut self.stats)
            .map_err(|_| PbftError::InvalidSignature(primary))?;
        if batch.root() != pp.header.batch_root {
            return Err(ProposalError::BatchRootMismatch.into());
        }
        if self.ready_to_validate(h) {
            self.validate_header(&pp.header)?;
        }
        let view = self.view;
        let slot = self.log.entry(h).or_default();
        slot.enter_view(view);
        slot.pre_prepare = Some(pp);
        slot.header_hash = hash;
        // Kept by header hash beside earlier views' batches (issue 16.2), not in the slot.
        self.batches
            .insert(pp.header, hash, batch, view.saturating_add(1));
        self.wanted.remove(&hash);
        self.try_accept(h)?;
        self.check_progress(h)
    }

    /// True once block `h − 1` is committed and executed here (so header `h` can be checked).
    fn ready_to_validate(&self, h: u64) -> bool {
        h == self.last_header.height.saturating_add(1) && self.executed == self.last_header.height
    }

    /// Checks a fresh proposal's header against our chain (only when ready).
    fn validate_header(&self, header: &BlockHeader) -> Result<(), ProposalError> {
        let k = self.config.checkpoint_interval;
        header.extends(&self.last_header, &self.last_hash)?;
        if header.next_validator_set_hash != header.validator_set_hash
            && !BlockHeader::is_epoch_boundary(header.height, k)
        {
            return Err(crate::header::ChainError::SetChangeOffBoundary {
                height: header.height,
            }
            .into());
        }
        if header.state_root != self.last_root {
            return Err(ProposalError::WrongStateRoot);
        }
        let h = header.height;
        let current = self.epoch_for(h).map(|e| e.hash);
        if Some(header.validator_set_hash) != current
            || Some(header.next_validator_set_hash) != self.epochs.next_hash_for(h, k)
        {
            return Err(ProposalError::WrongValidatorSets);
        }
        if header.timestamp_ms > self.now.saturating_add(self.config.max_clock_skew_ms) {
            return Err(ProposalError::TimestampAhead {
                timestamp: header.timestamp_ms,
                now: self.now,
            });
        }
        Ok(())
    }

    /// A new epoch begins only after the boundary checkpoint is stable here, so a view change
    /// never has to mix two validator sets.
    fn epoch_gate_open(&self, h: u64) -> bool {
        let prev = h.saturating_sub(1);
        let changed = match (self.epoch_for(prev), self.epoch_for(h)) {
            (Some(a), Some(b)) => a.hash != b.hash,
            // Below our known history (a restored tip): the set we were given holds.
            (None, Some(_)) => false,
            _ => return false,
        };
        !changed || self.low >= prev
    }

    /// Sends our prepare for the proposal at `h` once we can check it.
    pub(crate) fn try_accept(&mut self, h: u64) -> Result<(), PbftError> {
        let (pp, hash, accepted) = match self.log.get(&h) {
            Some(s) if s.view == self.view && !s.awaiting_batch => match s.pre_prepare {
                Some(pp) => (pp, s.header_hash, s.accepted),
                None => return Ok(()),
            },
            _ => return Ok(()),
        };
        if accepted || !self.active || !self.ready_to_validate(h) || !self.epoch_gate_open(h) {
            return Ok(());
        }
        if self.validate_header(&pp.header).is_err() {
            // Stays unaccepted: the request timer will replace the faulty primary.
            return Ok(());
        }
        // The batch is durable before the first vote on its header (issue 16.2).
        if !self.hold_durably(h, &hash) {
            self.want_batch(h, hash)?;
            return Ok(());
        }
        self.cast_vote(Phase::Prepare, h, hash)?;
        if let Some(s) = self.log.get_mut(&h) {
            s.accepted = true;
        }
        self.check_progress(h)
    }

    /// Signs, records and broadcasts our vote (through the safety guard).
    pub(crate) fn cast_vote(&mut self, phase: Phase, h: u64, hash: Hash) -> Result<(), PbftError> {
        let Some(me) = self.my_index(h) else {
            return Ok(()); // an observer follows but does not vote
        };
        let fact = self.guard.approve_vote(phase, self.view, h, hash)?;
        self.persist(fact);
        let view = self.view;
        let signature = self.stats.sign_lazy(&self.signer, || {
            crate::message::vote_digest(phase, view, h, &hash)
        })?;
        let vote = Vote {
            view: self.view,
            height: h,
            header_hash: hash,
            sender: me,
            signature,
        };
        if let Some(slot) = self.log.get_mut(&h) {
            let tally = match phase {
                Phase::Commit => &mut slot.commits,
                _ => &mut slot.prepares,
            };
            tally.insert(usize::from(me), hash, signature);
        }
        self.push(Action::Broadcast(match phase {
            Phase::Commit => Message::Commit(vote),
            _ => Message::Prepare(vote),
        }));
        Ok(())
    }

    pub(crate) fn on_vote(&mut self, phase: Phase, v: Vote) -> Result<(), PbftError> {
        let h = v.height;
        if self.gate(v.view, h)? {
            let m = match phase {
                Phase::Commit => Message::Commit(v),
                _ => Message::Prepare(v),
            };
            return self.buffer_future(v.sender, m);
        }
        let Some(epoch) = self.epoch_for(h) else {
            return Err(PbftError::UnknownValidatorSet(h));
        };
        let n = epoch.set.len();
        let Some(key) = epoch.set.get(usize::from(v.sender)).map(|x| x.key) else {
            return Err(PbftError::UnknownSender(v.sender));
        };
        if phase == Phase::Prepare && primary_index(v.view, n) == v.sender {
            return Err(PbftError::PrepareFromPrimary(v.sender));
        }
        let view = self.view;
        let late = self.log.get(&h).is_some_and(|s| {
            s.view == view
                && match phase {
                    Phase::Commit => s
                        .committed
                        .as_ref()
                        .is_some_and(|(_, hash, c)| c.view() == view && *hash == v.header_hash),
                    _ => s.commit_sent && s.header_hash == v.header_hash,
                }
        });
        if late {
            // The quorum this vote would join is already complete: checking its signature
            // would buy nothing (a conflicting vote is still checked, for evidence).
            return Err(PbftError::QuorumAlreadyReached);
        }
        let prior = {
            let slot = self.log.entry(h).or_default();
            slot.enter_view(view);
            let tally = match phase {
                Phase::Commit => &slot.commits,
                _ => &slot.prepares,
            };
            tally.prior(usize::from(v.sender), &v.header_hash)
        };
        match prior {
            Prior::Same => return Err(PbftError::Duplicate),
            Prior::Other(first_hash, first_sig) => {
                if !self
                    .stats
                    .verify_lazy(&key, || v.digest(phase), &v.signature)
                {
                    return Err(PbftError::InvalidSignature(v.sender));
                }
                self.push(Action::Evidence(Evidence {
                    phase,
                    view: v.view,
                    height: h,
                    sender: v.sender,
                    first: (first_hash, first_sig),
                    second: (v.header_hash, v.signature),
                }));
                return Err(PbftError::Equivocation(v.sender));
            }
            Prior::None => {}
        }
        if self.config.vote_check == VoteCheck::AtQuorum {
            return self.on_vote_at_quorum(phase, v, &key);
        }
        // Votes are checked once, as they arrive (not cached: caching costs more in the normal
        // case than it saves in a view change, where certificates are batch-verified).
        if !self
            .stats
            .verify_lazy(&key, || v.digest(phase), &v.signature)
        {
            self.drop_empty_slot(h);
            return Err(PbftError::InvalidSignature(v.sender));
        }
        if let Some(slot) = self.log.get_mut(&h) {
            let tally = match phase {
                Phase::Commit => &mut slot.commits,
                _ => &mut slot.prepares,
            };
            tally.insert(usize::from(v.sender), v.header_hash, v.signature);
        }
        self.check_progress(h)
    }

    /// [`VoteCheck::AtQuorum`]: holds a vote that passed every cheap check, unchecked, until
    /// the votes for its header could complete the phase's quorum, then checks all of them in
    /// one batch. Only checked votes ever count towards a quorum or enter a certificate.
    fn on_vote_at_quorum(
        &mut self,
        phase: Phase,
        v: Vote,
        key: &PublicKey,
    ) -> Result<(), PbftError> {
        let h = v.height;
        let sender = usize::from(v.sender);
        // Settle the sender's earlier unchecked vote first: one unchecked vote per sender
        // keeps the buffer bounded by n, and a forged earlier vote cannot crowd out this one.
        if let Some(earlier) = self
            .tally_mut(h, phase)
            .and_then(|t| t.take_unchecked_of(sender))
        {
            if earlier.value == v.header_hash && earlier.signature == v.signature {
                if let Some(t) = self.tally_mut(h, phase) {
                    t.hold_unchecked(earlier);
                }
                return Err(PbftError::Duplicate);
            }
            let e = Vote {
                header_hash: earlier.value,
                signature: earlier.signature,
                ..v
            };
            if self
                .stats
                .verify_lazy(key, || e.digest(phase), &e.signature)
            {
                if let Some(t) = self.tally_mut(h, phase) {
                    t.insert(sender, e.header_hash, e.signature);
                }
                // The earlier vote stands, so this one is a duplicate or an equivocation:
                // the checked path decides which (the sender now has no unchecked vote).
                return self.on_vote(phase, v);
            }
            self.stats.count_rejected();
        }
        let held = self.tally_mut(h, phase).is_some_and(|t| {
            t.hold_unchecked(Unchecked {
                sender,
                value: v.header_hash,
                signature: v.signature,
            })
        });
        if !held {
            return Err(PbftError::Duplicate);
        }
        let rejected = self.settle_unchecked(h, phase);
        self.check_progress(h)?;
        if rejected.contains(&sender) {
            return Err(PbftError::InvalidSignature(v.sender));
        }
        Ok(())
    }

    /// Batch-checks the unchecked votes of slot `h` in `phase` for every header they could now
    /// complete a quorum for (counting the checked votes, and for prepares the primary's
    /// pre-prepare, as the prepared predicate does); the good ones become checked votes.
    /// Returns the senders whose votes failed. Called whenever a vote is held and before
    /// the predicates are evaluated, so a quorum completed by this replica's own vote or by
    /// the pre-prepare's arrival is not left waiting.
    fn settle_unchecked(&mut self, h: u64, phase: Phase) -> Vec<usize> {
        let ku = self.known_until();
        let Some(epoch) = self.epochs.get(h, ku) else {
            return Vec::new();
        };
        let set = &epoch.set;
        let Some(slot) = self.log.get_mut(&h) else {
            return Vec::new();
        };
        let view = slot.view;
        let tally = match phase {
            Phase::Commit => &mut slot.commits,
            _ => &mut slot.prepares,
        };
        if !tally.has_unchecked() {
            return Vec::new();
        }
        let primary_power = match phase {
            Phase::Prepare => set
                .get(usize::from(primary_index(view, set.len())))
                .map_or(0, |x| x.power),
            _ => 0,
        };
        let mut rejected = Vec::new();
        for value in tally.unchecked_values() {
            let power = tally
                .power(&value, set)
                .saturating_add(tally.unchecked_power(&value, set))
                .saturating_add(primary_power);
            if !Threshold::TwoThirds.is_met(power, set.total_power()) {
                continue;
            }
            let digest = vote_digest(phase, view, h, &value);
            let mut votes = Vec::new();
            let mut items = Vec::new();
            for u in tally.take_unchecked_for(&value) {
                if let Some(validator) = set.get(u.sender) {
                    items.push(BatchItem::new(validator.key, digest, u.signature));
                    votes.push(u);
                }
            }
            let bad = self.stats.verify_votes(&items);
            for (i, u) in votes.into_iter().enumerate() {
                if bad.contains(&i) {
                    rejected.push(u.sender);
                } else {
                    tally.insert(u.sender, u.value, u.signature);
                }
            }
        }
        rejected
    }

    fn tally_mut(&mut self, h: u64, phase: Phase) -> Option<&mut Tally> {
        self.log.get_mut(&h).map(|slot| match phase {
            Phase::Commit => &mut slot.commits,
            _ => &mut slot.prepares,
        })
    }

    /// Removes a slot that a rejected message created and that holds nothing.
    fn drop_empty_slot(&mut self, h: u64) {
        let empty = self.log.get(&h).is_some_and(|s| {
            s.pre_prepare.is_none()
                && s.prepared.is_none()
                && s.committed.is_none()
                && s.prepares.is_empty()
                && s.commits.is_empty()
        });
        if empty {
            self.log.remove(&h);
        }
    }

    /// Applies the prepared and committed-local predicates to slot `h`.
    pub(crate) fn check_progress(&mut self, h: u64) -> Result<(), PbftError> {
        self.settle_unchecked(h, Phase::Prepare);
        let Some(epoch) = self.epoch_for(h) else {
            return Ok(());
        };
        let set = &epoch.set;
        let total = set.total_power();
        let is_primary = |view: u64, me: Option<ReplicaIndex>| {
            me.is_some_and(|m| primary_index(view, set.len()) == m)
        };
        let me = self.my_index(h);
        let Some(slot) = self.log.get(&h) else {
            return Ok(());
        };
        let view = slot.view;
        let mut send_commit = None;
        if let Some(pp) = slot.pre_prepare {
            let hash = slot.header_hash;
            let own = slot.accepted || is_primary(view, me);
            let primary_power = set
                .get(usize::from(primary_index(view, set.len())))
                .map_or(0, |v| v.power);
            let prepared_power = slot
                .prepares
                .power(&hash, set)
                .saturating_add(primary_power);
            if own && !slot.commit_sent && Threshold::TwoThirds.is_met(prepared_power, total) {
                let prepares = slot.prepares.votes(&hash).cloned().unwrap_or_default();
                send_commit = Some(PreparedCertificate {
                    pre_prepare: pp,
                    prepares,
                });
            }
        }
        if let Some(cert) = send_commit {
            let hash = self.log.get(&h).map_or(Hash::ZERO, |s| s.header_hash);
            let fact = self.guard.record_prepared(cert.clone());
            self.persist(Some(fact));
            if let Some(slot) = self.log.get_mut(&h) {
                slot.prepared = Some(cert);
                slot.commit_sent = true;
            }
            // The header our view-changes will carry: its batch is never evicted.
            self.batches.raise(h, &hash, u64::MAX);
            self.cast_vote(Phase::Commit, h, hash)?;
        }
        self.check_committed(h)
    }

    /// Committed-local: a quorum of commits in the slot's view for a header we hold.
    fn check_committed(&mut self, h: u64) -> Result<(), PbftError> {
        self.settle_unchecked(h, Phase::Commit);
        let Some(epoch) = self.epoch_for(h) else {
            return Ok(());
        };
        let set = &epoch.set;
        let Some(slot) = self.log.get(&h) else {
            return Ok(());
        };
        if slot.committed.is_some() {
            return Ok(());
        }
        let mut found = None;
        let mut missing = None;
        for (hash, qc) in slot.commits.values() {
            if !Threshold::TwoThirds.is_met(set.power_of(qc.signers()), set.total_power()) {
                continue;
            }
            // A commit quorum certifies the header whatever our own votes were.
            let pp = match (&slot.pre_prepare, &slot.prepared) {
                (Some(pp), _) if slot.header_hash == *hash => Some(*pp),
                (_, Some(c)) if c.pre_prepare.header.hash() == *hash => Some(c.pre_prepare),
                _ => None,
            };
            match pp {
                Some(pp) => {
                    found = Some((
                        pp,
                        *hash,
                        CommitCertificate::from_votes(slot.view, qc.clone()),
                    ));
                }
                None => missing = Some(h),
            }
            break;
        }
        if let Some(done) = found {
            if let Some(slot) = self.log.get_mut(&h) {
                slot.committed = Some(done);
            }
            self.deliver()?;
        } else if let Some(h) = missing {
            // The network committed a header we never saw: fetch the certified block.
            self.request_fetch(h);
        }
        Ok(())
    }

    /// Delivers committed blocks in height order.
    pub(crate) fn deliver(&mut self) -> Result<(), PbftError> {
        loop {
            let h = self.last_header.height.saturating_add(1);
            let Some(slot) = self.log.get(&h) else {
                return Ok(());
            };
            let Some((pp, hash, cert)) = &slot.committed else {
                return Ok(());
            };
            let hash = *hash;
            let Some(batch) = self.batches.batch(h, &hash).cloned() else {
                // Committed elsewhere: a certified block, or the batch from any holder.
                self.request_fetch(h);
                self.want_batch(h, hash)?;
                return Ok(());
            };
            let block = CertifiedBlock {
                header: pp.header,
                batch,
                certificate: cert.clone(),
            };
            self.deliver_block(block, hash);
        }
    }

    /// Hands one certified block (the next height, header hash `hash`) to the application.
    pub(crate) fn deliver_block(&mut self, block: CertifiedBlock, hash: Hash) {
        let h = block.header.height;
        for r in block.batch.requests() {
            let key = (r.client, r.id);
            self.pending.remove(&key);
            if self.committed_ids.len() >= self.config.max_clients
                && !self.committed_ids.contains_key(&r.client)
            {
                self.committed_ids.pop_first();
            }
            let last = self.committed_ids.entry(r.client).or_insert(r.id);
            *last = (*last).max(r.id);
            self.actions.push(Action::Reply {
                client: r.client,
                request_id: r.id,
                height: h,
            });
        }
        self.pending.compact();
        // Servable to peers that hold the header without its batch, until the next stable
        // checkpoint (a cheap clone: batches are shared).
        let rank = self.view.saturating_add(1);
        self.batches
            .insert(block.header, hash, block.batch.clone(), rank);
        self.wanted.remove(&hash);
        self.last_header = block.header;
        self.last_hash = hash;
        self.delivered_headers.insert(h, (block.header, hash));
        self.committed_hashes.insert(h, hash);
        self.push(Action::Commit(block));
        if self.fetch.is_some_and(|f| f.to <= h) {
            self.fetch = None;
            self.cancel_timer(Timer::Fetch);
        }
        // Progress: the back-off resets and the request timer restarts. (While waiting for
        // a new view the view-change timer keeps running.)
        self.vc_attempts = 0;
        if self.active {
            self.cancel_timer(Timer::ViewChange);
            self.arm_request_timer();
        }
    }

    /// The primary proposes the next block when it may.
    pub(crate) fn try_propose(&mut self) -> Result<(), PbftError> {
        if !self.active || !self.is_primary() {
            return Ok(());
        }
        let h = self.last_header.height.saturating_add(1);
        let blocked = self.executed != self.last_header.height
            || h > self.high()
            || self.pending_stable.as_ref().is_some_and(|c| h <= c.height)
            || !self.epoch_gate_open(h)
            || self
                .log
                .get(&h)
                .is_some_and(|s| s.view == self.view && s.pre_prepare.is_some());
        if blocked {
            return Ok(());
        }
        if !self.pending.has_unproposed() {
            return self.try_propose_idle(h);
        }
        self.cancel_timer(Timer::Idle);
        let (max_count, max_bytes) = (self.config.max_batch_requests, self.config.max_batch_bytes);
        if self.config.batch_delay_ms > 0 && !self.pending.fills_batch(max_count, max_bytes) {
            match self.batch_deadline {
                Some(d) if d <= self.now => {}
                Some(_) => return Ok(()),
                None => {
                    let d = self.now.saturating_add(self.config.batch_delay_ms);
                    self.batch_deadline = Some(d);
                    self.set_timer(Timer::Batch, d);
                    return Ok(());
                }
            }
        }
        self.batch_deadline = None;
        self.cancel_timer(Timer::Batch);
        let requests = self.pending.take_batch(max_count, max_bytes);
        self.propose(h, Batch::new(requests))
    }

    /// Nothing to order: an empty block once the idle interval since the last block's
    /// timestamp has passed (if configured), else wake up then.
    fn try_propose_idle(&mut self, h: u64) -> Result<(), PbftError> {
        let interval = self.config.idle_block_interval_ms;
        if interval == 0 {
            return Ok(());
        }
        let due = self.last_header.timestamp_ms.saturating_add(interval);
        if self.now < due {
            self.set_timer(Timer::Idle, due);
            return Ok(());
        }
        self.cancel_timer(Timer::Idle);
        self.propose(h, Batch::empty())
    }

    fn propose(&mut self, h: u64, batch: Batch) -> Result<(), PbftError> {
        let k = self.config.checkpoint_interval;
        let (Some(set_hash), Some(next)) = (
            self.epoch_for(h).map(|e| e.hash),
            self.epochs.next_hash_for(h, k),
        ) else {
            return Err(PbftError::UnknownValidatorSet(h));
        };
        let header = BlockHeader {
            height: h,
            view: self.view,
            previous: self.last_hash,
            batch_root: batch.root(),
            state_root: self.last_root,
            validator_set_hash: set_hash,
            next_validator_set_hash: next,
            timestamp_ms: self
                .now
                .max(self.last_header.timestamp_ms.saturating_add(1)),
        };
        let hash = header.hash();
        let fact = self
            .guard
            .approve_vote(Phase::PrePrepare, self.view, h, hash)?;
        // The proposal's batch is durable before the pre-prepare leaves (issue 16.2).
        self.batches
            .insert(header, hash, batch.clone(), self.view.saturating_add(1));
        self.hold_durably(h, &hash);
        self.persist(fact);
        let pp = PrePrepare {
            view: self.view,
            header,
            signature: {
                let view = self.view;
                self.stats.sign_lazy(&self.signer, || {
                    crate::message::vote_digest(Phase::PrePrepare, view, h, &hash)
                })?
            },
        };
        let view = self.view;
        let slot = self.log.entry(h).or_default();
        slot.enter_view(view);
        slot.pre_prepare = Some(pp);
        slot.header_hash = hash;
        slot.accepted = true;
        self.push(Action::Broadcast(Message::PrePrepare {
            pre_prepare: pp,
            batch,
        }));
        self.check_progress(h)
    }
}
