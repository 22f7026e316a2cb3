//! The [`Replica`]: PBFT's normal case (pre-prepare, prepare, commit), in-order delivery and
//! execution hand-off. View changes, checkpoints and catch-up live in sibling modules as
//! further `impl Replica` blocks.
//!
//! ## Pipelining and the state-root lag
//!
//! Header `h` carries the state root after executing blocks `≤ h − 1`, and its `previous`
//! field is the hash of header `h − 1`. A header can therefore only be built — and checked by
//! a backup — once block `h − 1` is committed **and executed**. The primary proposes height
//! `h` only then, and a backup sends its prepare for `h` only then (a proposal that arrives
//! earlier waits in its slot). The watermark window `(low, low + L]` still bounds what is
//! accepted, so replicas that lag a few blocks keep every vote they will need.
//!
//! ## Inputs and outputs
//!
//! Inputs: [`Replica::handle_message`], [`Replica::handle_request`], [`Replica::handle_tick`],
//! [`Replica::handle_executed`], [`Replica::handle_fetched_block`]. Outputs:
//! [`Replica::drain_actions`] (see [`Action`] for the durability rule).

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;

use itc_crypto::quorum::{Threshold, ValidatorSet};
use itc_crypto::{Hash, PublicKey, Signer};

use crate::action::{Action, Timer};
use crate::certificate::CommitCertificate;
use crate::config::Config;
use crate::epoch::{Epoch, Epochs};
use crate::error::{PbftError, ProposalError};
use crate::evidence::Evidence;
use crate::header::BlockHeader;
use crate::log::{Prior, Slot};
use crate::message::{
    primary_index, CertifiedBlock, CheckpointCertificate, Message, NewView, Phase, PrePrepare,
    PreparedCertificate, ReplicaIndex, ViewChange, Vote,
};
use crate::request::{Batch, ClientId, Request};
use crate::safety::{Durable, SafetyGuard, SafetyRecord};
use crate::sig::{SigChecker, SigStats};

/// The chain's starting point, identical at every validator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Genesis {
    /// The first validator set.
    pub validators: ValidatorSet,
    /// The application's state root before any block.
    pub state_root: Hash,
    /// Genesis time in milliseconds.
    pub timestamp_ms: u64,
}

impl Genesis {
    /// The genesis header (height 0).
    pub fn header(&self) -> BlockHeader {
        BlockHeader::genesis(self.state_root, self.validators.hash(), self.timestamp_ms)
    }
}

/// The application's report after executing a delivered block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    /// Height of the block executed (must be the next one).
    pub height: u64,
    /// State root after executing it (header `height + 1` will carry it).
    pub state_root: Hash,
    /// A validator-set change this block decided; named by the next epoch-boundary header and
    /// in force after it (see [`crate::header`]).
    pub next_validator_set: Option<ValidatorSet>,
}

impl Executed {
    /// A report without a validator-set change.
    pub fn new(height: u64, state_root: Hash) -> Self {
        Executed {
            height,
            state_root,
            next_validator_set: None,
        }
    }
}

/// Where a restarted replica's chain stands (from the integrator's block store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainTip {
    /// The last block executed (the genesis header if none).
    pub header: BlockHeader,
    /// The state root after executing it.
    pub state_root: Hash,
    /// The set that certifies `header.height + 1`.
    pub validators: ValidatorSet,
}

/// Pending client requests, in arrival order, de-duplicated.
#[derive(Debug, Default)]
pub(crate) struct RequestQueue {
    order: VecDeque<Request>,
    keys: BTreeSet<(ClientId, u64)>,
    in_flight: BTreeSet<(ClientId, u64)>,
}

impl RequestQueue {
    fn len(&self) -> usize {
        self.keys.len()
    }

    fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn contains(&self, key: &(ClientId, u64)) -> bool {
        self.keys.contains(key)
    }

    fn push(&mut self, r: Request) {
        self.keys.insert((r.client, r.id));
        self.order.push_back(r);
    }

    fn remove(&mut self, key: &(ClientId, u64)) {
        self.keys.remove(key);
        self.in_flight.remove(key);
    }

    /// Drops entries that are no longer pending, keeping the deque within twice the live size.
    fn compact(&mut self) {
        while let Some(front) = self.order.front() {
            if self.keys.contains(&(front.client, front.id)) {
                break;
            }
            self.order.pop_front();
        }
        if self.order.len() > 2 * self.keys.len() + 64 {
            let keys = &self.keys;
            self.order.retain(|r| keys.contains(&(r.client, r.id)));
        }
    }

    /// Requests not yet proposed, in order.
    fn unproposed(&self) -> impl Iterator<Item = &Request> + '_ {
        self.order.iter().filter(|r| {
            let key = (r.client, r.id);
            self.keys.contains(&key) && !self.in_flight.contains(&key)
        })
    }

    /// True if the unproposed requests fill a batch (count or bytes).
    fn fills_batch(&self, max_count: usize, max_bytes: usize) -> bool {
        let mut bytes = 0usize;
        for (i, r) in self.unproposed().enumerate() {
            bytes = bytes.saturating_add(itc_crypto::Encode::encoded_len(r));
            if i + 1 >= max_count || bytes > max_bytes {
                return true;
            }
        }
        false
    }

    /// Takes up to the limits from the front, skipping requests already proposed.
    fn take_batch(&mut self, max_count: usize, max_bytes: usize) -> Vec<Request> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for r in self.unproposed() {
            let size = itc_crypto::Encode::encoded_len(r);
            if out.len() >= max_count || bytes.saturating_add(size) > max_bytes {
                break;
            }
            bytes = bytes.saturating_add(size);
            out.push(r.clone());
        }
        for r in &out {
            self.in_flight.insert((r.client, r.id));
        }
        out
    }

    /// Forgets which requests were proposed (after a view change they may be proposed again).
    pub(crate) fn clear_in_flight(&mut self) {
        self.in_flight.clear();
    }

    fn has_unproposed(&self) -> bool {
        self.keys.len() > self.in_flight.len()
    }
}

/// An outstanding catch-up request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FetchState {
    pub to: u64,
    pub attempts: u32,
}

/// A PBFT replica: feed it inputs, drain its [`Action`]s. Generic over the [`Signer`] that
/// holds its key (an in-memory `SecretKey`, a secure element, an HSM).
///
/// ```
/// use itc_crypto::quorum::{Validator, ValidatorSet};
/// use itc_crypto::{Hash, SecretKey};
/// use itc_pbft::{Action, ClientId, Config, Genesis, Replica, Request};
///
/// let keys: Vec<SecretKey> = (1..=4u8).map(|i| SecretKey::from_bytes(&[i; 32]).unwrap()).collect();
/// let set = ValidatorSet::new(keys.iter().map(|k| Validator { key: k.public_key(), power: 1 })).unwrap();
/// let genesis = Genesis { validators: set, state_root: Hash::ZERO, timestamp_ms: 0 };
/// let config = Config { batch_delay_ms: 0, ..Config::default() };
/// let primary = keys.iter().find(|k| genesis.validators.index_of(&k.public_key()) == Some(0)).unwrap();
/// let mut replica = Replica::new(config, primary.clone(), &genesis).unwrap();
/// replica.handle_request(Request::new(ClientId(1), 1, b"turn on lamp".to_vec()), 10).unwrap();
/// // The primary of view 0 proposes at once: it persists its vote, then broadcasts.
/// let actions: Vec<Action> = replica.drain_actions().collect();
/// let persist = actions.iter().position(|a| matches!(a, Action::Persist(_))).unwrap();
/// let send = actions.iter().position(|a| matches!(a, Action::Broadcast(_))).unwrap();
/// assert!(persist < send);
/// ```
pub struct Replica<S: Signer> {
    pub(crate) config: Config,
    pub(crate) signer: S,
    pub(crate) key: PublicKey,
    pub(crate) stats: SigChecker,
    pub(crate) guard: SafetyGuard,
    pub(crate) epochs: Epochs,
    pub(crate) now: u64,
    // --- view ---
    pub(crate) view: u64,
    pub(crate) active: bool,
    pub(crate) vc_attempts: u32,
    pub(crate) view_changes: BTreeMap<ReplicaIndex, ViewChange>,
    pub(crate) new_view: Option<NewView>,
    pub(crate) nv_forwarded: BTreeSet<ReplicaIndex>,
    // --- chain ---
    pub(crate) last_header: BlockHeader,
    pub(crate) delivered_headers: BTreeMap<u64, BlockHeader>,
    /// Header hash of every block delivered above the low watermark (however it arrived).
    pub(crate) committed_hashes: BTreeMap<u64, Hash>,
    pub(crate) executed: u64,
    pub(crate) last_root: Hash,
    pub(crate) executed_roots: BTreeMap<u64, (Hash, Hash)>,
    pub(crate) low: u64,
    pub(crate) stable: Option<CheckpointCertificate>,
    pub(crate) pending_stable: Option<CheckpointCertificate>,
    pub(crate) log: BTreeMap<u64, Slot>,
    pub(crate) checkpoints: BTreeMap<u64, crate::checkpoint::CheckpointTally>,
    pub(crate) fetch: Option<FetchState>,
    pub(crate) probes: u32,
    // --- requests ---
    pub(crate) pending: RequestQueue,
    pub(crate) committed_ids: BTreeMap<ClientId, u64>,
    pub(crate) batch_deadline: Option<u64>,
    // --- io ---
    pub(crate) timers: BTreeMap<Timer, u64>,
    pub(crate) future: BTreeMap<ReplicaIndex, VecDeque<Message>>,
    pub(crate) actions: Vec<Action>,
}

impl<S: Signer> Replica<S> {
    /// A fresh replica at genesis.
    pub fn new(config: Config, signer: S, genesis: &Genesis) -> Result<Self, PbftError> {
        let g = genesis.header();
        let tip = ChainTip {
            header: g,
            state_root: genesis.state_root,
            validators: genesis.validators.clone(),
        };
        Self::restore(config, signer, SafetyRecord::default(), tip)
    }

    /// A replica restarted from its durable [`SafetyRecord`] and the last block it executed.
    /// It never signs anything that contradicts what it signed before the crash.
    pub fn restore(
        config: Config,
        signer: S,
        record: SafetyRecord,
        tip: ChainTip,
    ) -> Result<Self, PbftError> {
        config.validate()?;
        let key = signer.public_key();
        let h = tip.header.height;
        let (low, stable) = match record.stable() {
            Some(c) if c.height <= h => (c.height, Some(c.clone())),
            Some(c) => {
                return Err(PbftError::TipBelowStableCheckpoint {
                    stable: c.height,
                    tip: h,
                })
            }
            None => (0, None),
        };
        let view = record.view();
        let prepared: Vec<PreparedCertificate> = record.prepared().cloned().collect();
        let mut executed_roots = BTreeMap::new();
        executed_roots.insert(h, (tip.header.hash(), tip.state_root));
        let mut r = Replica {
            config,
            signer,
            key,
            stats: SigChecker::default(),
            guard: SafetyGuard::new(record),
            epochs: Epochs::new(h.saturating_add(1), tip.validators),
            now: 0,
            view,
            active: view == 0,
            vc_attempts: 0,
            view_changes: BTreeMap::new(),
            new_view: None,
            nv_forwarded: BTreeSet::new(),
            last_header: tip.header,
            delivered_headers: BTreeMap::new(),
            committed_hashes: BTreeMap::new(),
            executed: h,
            last_root: tip.state_root,
            executed_roots,
            low,
            stable,
            pending_stable: None,
            log: BTreeMap::new(),
            checkpoints: BTreeMap::new(),
            fetch: None,
            probes: 0,
            pending: RequestQueue::default(),
            committed_ids: BTreeMap::new(),
            batch_deadline: None,
            timers: BTreeMap::new(),
            future: BTreeMap::new(),
            actions: Vec::new(),
        };
        for cert in prepared {
            if cert.height() > h && cert.height() <= r.high() {
                let slot = r.log.entry(cert.height()).or_default();
                slot.view = view;
                slot.prepared = Some(cert);
            }
        }
        if !r.active {
            // At the first tick, (re)send our view-change: whoever is in that view answers
            // with its new-view (see `on_view_change`).
            r.set_timer(Timer::ViewChange, 0);
        }
        Ok(r)
    }

    // ------------------------------------------------------------------ accessors

    /// This replica's public key.
    pub fn public_key(&self) -> PublicKey {
        self.key
    }

    /// Current view.
    pub fn view(&self) -> u64 {
        self.view
    }

    /// False while waiting for the new-view of [`Replica::view`].
    pub fn is_view_active(&self) -> bool {
        self.active
    }

    /// True if this replica is the primary of the current view for the next height.
    pub fn is_primary(&self) -> bool {
        let h = self.last_header.height.saturating_add(1);
        match (self.epoch_for(h), self.my_index(h)) {
            (Some(e), Some(me)) => primary_index(self.view, e.set.len()) == me,
            _ => false,
        }
    }

    /// The last delivered header.
    pub fn last_committed(&self) -> &BlockHeader {
        &self.last_header
    }

    /// Height of the last block executed.
    pub fn last_executed(&self) -> u64 {
        self.executed
    }

    /// Low watermark: the stable checkpoint height.
    pub fn low_watermark(&self) -> u64 {
        self.low
    }

    /// The set certifying the next height (the validators to broadcast to).
    pub fn validators(&self) -> Option<&ValidatorSet> {
        self.epoch_for(self.last_header.height.saturating_add(1))
            .map(|e| &e.set)
    }

    /// Requests waiting to be ordered here.
    pub fn pending_requests(&self) -> usize {
        self.pending.len()
    }

    /// Signature operations performed so far.
    pub fn sig_stats(&self) -> SigStats {
        self.stats.stats()
    }

    /// The durable state (what the `Persist` actions added up to).
    pub fn safety_record(&self) -> &SafetyRecord {
        self.guard.record()
    }

    /// Number of log slots held (bounded by the window).
    pub fn log_len(&self) -> usize {
        self.log.len()
    }

    /// Number of buffered future messages (bounded per sender).
    pub fn buffered_len(&self) -> usize {
        self.future.values().map(VecDeque::len).sum()
    }

    /// The outputs produced so far, in the order they must be carried out.
    #[must_use = "actions carry messages to send and state to persist"]
    pub fn drain_actions(&mut self) -> alloc::vec::Drain<'_, Action> {
        self.actions.drain(..)
    }

    // ------------------------------------------------------------------ inputs

    /// Feeds a message from a peer. Errors say why it was rejected; a rejected message changes
    /// nothing the replica has accepted.
    pub fn handle_message(&mut self, message: Message, now: u64) -> Result<(), PbftError> {
        self.now = self.now.max(now);
        match message {
            Message::PrePrepare { pre_prepare, batch } => self.on_pre_prepare(pre_prepare, batch),
            Message::Prepare(v) => self.on_vote(Phase::Prepare, v),
            Message::Commit(v) => self.on_vote(Phase::Commit, v),
            Message::Checkpoint(c) => self.on_checkpoint(c),
            Message::ViewChange(vc) => self.on_view_change(vc),
            Message::NewView(nv) => self.on_new_view(nv),
        }
    }

    /// Decodes and feeds a message received as bytes.
    pub fn handle_message_bytes(&mut self, bytes: &[u8], now: u64) -> Result<(), PbftError> {
        let m = <Message as itc_crypto::Decode>::decode_bytes(bytes)?;
        self.handle_message(m, now)
    }

    /// Feeds a client request.
    pub fn handle_request(&mut self, request: Request, now: u64) -> Result<(), PbftError> {
        self.now = self.now.max(now);
        if request.payload.len() > self.config.max_payload_bytes {
            return Err(PbftError::PayloadTooLarge(request.payload.len()));
        }
        let key = (request.client, request.id);
        if self.pending.contains(&key)
            || self
                .committed_ids
                .get(&request.client)
                .is_some_and(|last| *last >= request.id)
        {
            return Err(PbftError::DuplicateRequest);
        }
        if self.pending.len() >= self.config.max_pending_requests {
            return Err(PbftError::QueueFull);
        }
        self.pending.push(request);
        self.arm_request_timer();
        self.try_propose()
    }

    /// Feeds the current time; fires the timers that are due.
    pub fn handle_tick(&mut self, now: u64) -> Result<(), PbftError> {
        self.now = self.now.max(now);
        let due: Vec<Timer> = self
            .timers
            .iter()
            .filter(|(_, d)| **d <= self.now)
            .map(|(t, _)| *t)
            .collect();
        for t in due {
            self.timers.remove(&t);
            match t {
                Timer::Batch => self.try_propose()?,
                Timer::ViewChange => self.on_view_change_timeout()?,
                Timer::Fetch => self.on_fetch_timeout(),
            }
        }
        Ok(())
    }

    /// Reports that the application executed block `executed.height`.
    pub fn handle_executed(&mut self, executed: Executed) -> Result<(), PbftError> {
        let expected = self.executed.saturating_add(1);
        if executed.height != expected || executed.height > self.last_header.height {
            return Err(PbftError::ExecutedOutOfOrder {
                expected,
                got: executed.height,
            });
        }
        let h = executed.height;
        let header = self
            .delivered_headers
            .remove(&h)
            .ok_or(PbftError::ExecutedOutOfOrder { expected, got: h })?;
        if let Some(set) = executed.next_validator_set {
            let hash = set.hash();
            self.epochs.scheduled = Some(Epoch {
                start: 0,
                set,
                hash,
            });
        }
        self.executed = h;
        self.last_root = executed.state_root;
        let block_hash = header.hash();
        self.executed_roots
            .insert(h, (block_hash, executed.state_root));
        let k = self.config.checkpoint_interval;
        if BlockHeader::is_epoch_boundary(h, k) {
            let current = self.epoch_for(h).map(|e| e.hash);
            if Some(header.next_validator_set_hash) != current
                && !self.epochs.begin(h + 1, header.next_validator_set_hash)
            {
                return Err(PbftError::UnknownValidatorSet(h + 1));
            }
            if Some(header.next_validator_set_hash) == current {
                self.epochs.scheduled = None;
            }
            self.send_checkpoint(h, block_hash, executed.state_root)?;
            self.replay_future();
        }
        self.check_stable(h);
        self.try_accept(h + 1)?;
        self.try_propose()
    }

    // ------------------------------------------------------------------ helpers

    pub(crate) fn high(&self) -> u64 {
        self.low.saturating_add(self.config.window)
    }

    /// Heights whose validator set is known: up to the first epoch boundary after the last
    /// executed block (the set after a boundary is fixed once the boundary block executed).
    pub(crate) fn known_until(&self) -> u64 {
        let k = self.config.checkpoint_interval;
        let next = self.executed.saturating_add(1);
        next.div_ceil(k).saturating_mul(k)
    }

    pub(crate) fn epoch_for(&self, height: u64) -> Option<&Epoch> {
        self.epochs.get(height, self.known_until())
    }

    pub(crate) fn my_index(&self, height: u64) -> Option<ReplicaIndex> {
        self.epoch_for(height)?
            .set
            .index_of(&self.key)
            .map(|i| i as ReplicaIndex)
    }

    pub(crate) fn push(&mut self, a: Action) {
        self.actions.push(a);
    }

    pub(crate) fn persist(&mut self, fact: Option<Durable>) {
        if let Some(f) = fact {
            self.actions.push(Action::Persist(f));
        }
    }

    pub(crate) fn set_timer(&mut self, timer: Timer, deadline: u64) {
        if self.timers.get(&timer) != Some(&deadline) {
            self.timers.insert(timer, deadline);
            self.actions.push(Action::SetTimer { timer, deadline });
        }
    }

    pub(crate) fn cancel_timer(&mut self, timer: Timer) {
        if self.timers.remove(&timer).is_some() {
            self.actions.push(Action::CancelTimer(timer));
        }
    }

    /// Keeps the request timer armed while anything waits to commit.
    pub(crate) fn arm_request_timer(&mut self) {
        if !self.active {
            return;
        }
        if self.pending.is_empty() {
            self.cancel_timer(Timer::ViewChange);
        } else if !self.timers.contains_key(&Timer::ViewChange) {
            let d = self
                .now
                .saturating_add(self.config.view_change_timeout(self.vc_attempts));
            self.set_timer(Timer::ViewChange, d);
        }
    }

    /// Buffers a message for a view or epoch not entered yet, bounded per sender.
    pub(crate) fn buffer_future(
        &mut self,
        sender: ReplicaIndex,
        message: Message,
    ) -> Result<(), PbftError> {
        let q = self.future.entry(sender).or_default();
        if q.len() >= self.config.max_future_per_sender {
            return Err(PbftError::FutureBufferFull(sender));
        }
        q.push_back(message);
        Ok(())
    }

    /// Re-feeds buffered messages after entering a view or an epoch.
    pub(crate) fn replay_future(&mut self) {
        if self.future.is_empty() {
            return;
        }
        let buffered = core::mem::take(&mut self.future);
        for (_, q) in buffered {
            for m in q {
                let _ = self.handle_message(m, self.now);
            }
        }
    }

    /// Where a message of `view` about `height` stands relative to this replica.
    fn gate(&self, view: u64, height: u64) -> Result<bool, PbftError> {
        if view < self.view {
            return Err(PbftError::StaleView {
                view,
                current: self.view,
            });
        }
        // Votes for a committed height still count while its slot is kept: after a view
        // change, replicas that missed the commit need our votes to form their quorum.
        if height <= self.last_header.height && !self.committed_hashes.contains_key(&height) {
            return Err(PbftError::AlreadyCommitted(height));
        }
        if height > self.high() {
            return Err(PbftError::OutOfWindow {
                height,
                low: self.low,
                high: self.high(),
            });
        }
        // true: buffer for later.
        Ok(view > self.view || !self.active || self.epoch_for(height).is_none())
    }

    // ------------------------------------------------------------------ normal case

    fn on_pre_prepare(&mut self, pp: PrePrepare, batch: Batch) -> Result<(), PbftError> {
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
                    let existing = *existing;
                    pp.verify(set, &mut self.stats)
                        .map_err(|_| PbftError::InvalidSignature(primary))?;
                    self.push(Action::Evidence(Evidence {
                        phase: Phase::PrePrepare,
                        view: pp.view,
                        height: h,
                        sender: primary,
                        first: (existing.header.hash(), existing.signature),
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
        pp.verify(set, &mut self.stats)
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
        slot.batch = Some((hash, batch));
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
        header.follows_with_interval(&self.last_header, k)?;
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
        let (pp, accepted) = match self.log.get(&h) {
            Some(s) if s.view == self.view => match s.pre_prepare {
                Some(pp) => (pp, s.accepted),
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
        let hash = pp.header.hash();
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
        let digest = crate::message::vote_digest(phase, self.view, h, &hash);
        let signature = self.stats.sign(&self.signer, &digest)?;
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

    fn on_vote(&mut self, phase: Phase, v: Vote) -> Result<(), PbftError> {
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
                    Phase::Commit => s.committed.as_ref().is_some_and(|(pp, c)| {
                        c.view() == view && pp.header.hash() == v.header_hash
                    }),
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
                if !self.stats.verify(&key, &v.digest(phase), &v.signature) {
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
        if !self
            .stats
            .verify_remembered(&key, &v.digest(phase), &v.signature)
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

    /// Removes a slot that a rejected message created and that holds nothing.
    fn drop_empty_slot(&mut self, h: u64) {
        let empty = self.log.get(&h).is_some_and(|s| {
            s.pre_prepare.is_none()
                && s.prepared.is_none()
                && s.committed.is_none()
                && s.batch.is_none()
                && s.prepares.values().next().is_none()
                && s.commits.values().next().is_none()
        });
        if empty {
            self.log.remove(&h);
        }
    }

    /// Applies the prepared and committed-local predicates to slot `h`.
    pub(crate) fn check_progress(&mut self, h: u64) -> Result<(), PbftError> {
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
            let hash = cert.pre_prepare.header.hash();
            let fact = self.guard.record_prepared(cert.clone());
            self.persist(Some(fact));
            if let Some(slot) = self.log.get_mut(&h) {
                slot.prepared = Some(cert);
                slot.commit_sent = true;
            }
            self.cast_vote(Phase::Commit, h, hash)?;
        }
        self.check_committed(h)
    }

    /// Committed-local: a quorum of commits in the slot's view for a header we hold.
    fn check_committed(&mut self, h: u64) -> Result<(), PbftError> {
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
                    found = Some((pp, CommitCertificate::from_votes(slot.view, qc.clone())));
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
            let Some((pp, cert)) = &slot.committed else {
                return Ok(());
            };
            let hash = pp.header.hash();
            let Some(batch) = slot.batch_for(&hash).cloned() else {
                self.request_fetch(h);
                return Ok(());
            };
            let block = CertifiedBlock {
                header: pp.header,
                batch,
                certificate: cert.clone(),
            };
            self.deliver_block(block);
        }
    }

    /// Hands one certified block (the next height) to the application.
    pub(crate) fn deliver_block(&mut self, block: CertifiedBlock) {
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
        self.last_header = block.header;
        self.delivered_headers.insert(h, block.header);
        self.committed_hashes.insert(h, block.header.hash());
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
        if blocked || !self.pending.has_unproposed() {
            return Ok(());
        }
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
            previous: self.last_header.hash(),
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
        self.persist(fact);
        let pp = PrePrepare {
            view: self.view,
            header,
            signature: self.stats.sign(
                &self.signer,
                &crate::message::vote_digest(Phase::PrePrepare, self.view, h, &hash),
            )?,
        };
        let view = self.view;
        let slot = self.log.entry(h).or_default();
        slot.enter_view(view);
        slot.pre_prepare = Some(pp);
        slot.header_hash = hash;
        slot.accepted = true;
        slot.batch = Some((hash, batch.clone()));
        self.push(Action::Broadcast(Message::PrePrepare {
            pre_prepare: pp,
            batch,
        }));
        self.check_progress(h)
    }
}
