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
//! Inputs: [`Replica::handle_message`], [`Replica::handle_request`],
//! [`Replica::handle_timeout`] (when the clock reaches [`Replica::poll_timeout`]),
//! [`Replica::handle_executed`], [`Replica::handle_fetched_block`]. Outputs:
//! [`Replica::drain_actions`] (see [`Action`] for the durability rule).

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;

use itc_crypto::quorum::ValidatorSet;
use itc_crypto::{Hash, PublicKey, Signer};

use crate::action::{Action, Timer};
use crate::availability::BatchStore;
use crate::config::Config;
use crate::epoch::{Epoch, Epochs};
use crate::error::PbftError;
use crate::header::BlockHeader;
use crate::log::Slot;
use crate::message::{
    primary_index, CheckpointCertificate, Message, NewView, Phase, PreparedCertificate,
    ReplicaIndex, ViewChange,
};
use crate::queue::RequestQueue;
use crate::request::{ClientId, Request};
use crate::safety::{Durable, SafetyGuard, SafetyRecord};
use crate::sig::{SigChecker, SigStats};

/// The chain's starting point, identical at every validator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainGenesis {
    /// The first validator set.
    pub validators: ValidatorSet,
    /// The application's state root before any block.
    pub state_root: Hash,
    /// Genesis time in milliseconds.
    pub timestamp_ms: u64,
}

impl ChainGenesis {
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
    /// in force after it (see [`crate::header`]). Boxed: a full-capacity set is ~28 KiB and
    /// this report is passed by value for every block.
    pub next_validator_set: Option<Box<ValidatorSet>>,
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
    /// The epochs that certified heights up to `header.height`, ascending, the first with its
    /// true start (from the integrator's block store: each header names its set's hash; at
    /// least from the start of the epoch of the stable checkpoint, whose older checkpoints a
    /// peer's view-change may carry). Empty means `validators` certified every height up to
    /// the tip (when `header` names it): all a chain without a rotation needs. With them the
    /// restored replica resolves the set of every height it may be asked about in a view
    /// change or new view, so it is a full participant at once (issue 16.1).
    pub epochs: Vec<Epoch>,
    /// A validator-set change the application decided at or before `header` that no
    /// epoch-boundary header has named yet (what [`Executed::next_validator_set`] reported,
    /// the last one if several). A replica restored without it would propose, and vote for,
    /// a boundary header naming the old set. `None` when nothing is pending: the application
    /// knows it as "the set my ledger holds differs from `validators`".
    pub scheduled: Option<Box<ValidatorSet>>,
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
/// use itc_pbft::{Action, ClientId, Config, ChainGenesis, Replica, Request};
///
/// let keys: Vec<SecretKey> = (1..=4u8).map(|i| SecretKey::from_bytes(&[i; 32]).unwrap()).collect();
/// let set = ValidatorSet::new(keys.iter().map(|k| Validator { key: k.public_key(), power: 1 })).unwrap();
/// let genesis = ChainGenesis { validators: set, state_root: Hash::ZERO, timestamp_ms: 0 };
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
    pub(crate) delivered_headers: BTreeMap<u64, (BlockHeader, Hash)>,
    /// `last_header.hash()`, cached.
    pub(crate) last_hash: Hash,
    /// Header hash of every block delivered above the low watermark (however it arrived).
    pub(crate) committed_hashes: BTreeMap<u64, Hash>,
    pub(crate) executed: u64,
    pub(crate) last_root: Hash,
    pub(crate) executed_roots: BTreeMap<u64, (Hash, Hash)>,
    pub(crate) low: u64,
    pub(crate) stable: Option<CheckpointCertificate>,
    pub(crate) pending_stable: Option<CheckpointCertificate>,
    /// Slots are boxed: they are large and the map moves its values when it rebalances.
    pub(crate) log: BTreeMap<u64, Box<Slot>>,
    pub(crate) checkpoints: BTreeMap<u64, crate::checkpoint::CheckpointTally>,
    pub(crate) fetch: Option<FetchState>,
    pub(crate) probes: u32,
    // --- batch availability (issue 16.2) ---
    /// Batches by height and header hash.
    pub(crate) batches: BatchStore,
    /// Batches asked for: header hash → height.
    pub(crate) wanted: BTreeMap<Hash, u64>,
    /// Batches served per peer in the current interval: (interval start, count).
    pub(crate) serves: BTreeMap<ReplicaIndex, (u64, u32)>,
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
    pub fn new(config: Config, signer: S, genesis: &ChainGenesis) -> Result<Self, PbftError> {
        let g = genesis.header();
        let tip = ChainTip {
            header: g,
            state_root: genesis.state_root,
            validators: genesis.validators.clone(),
            epochs: Vec::new(),
            scheduled: None,
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
        // The guard needs views and votes only; the batches go to the batch store.
        let mut record = record;
        let record_batches = record.take_batches();
        let mut executed_roots = BTreeMap::new();
        executed_roots.insert(h, (tip.header.hash(), tip.state_root));
        let mut r = Replica {
            config,
            signer,
            key,
            stats: SigChecker::default(),
            guard: SafetyGuard::new(record),
            epochs: restored_epochs(&tip.header, tip.validators, tip.epochs, tip.scheduled),
            now: 0,
            view,
            active: view == 0,
            vc_attempts: 0,
            view_changes: BTreeMap::new(),
            new_view: None,
            nv_forwarded: BTreeSet::new(),
            last_header: tip.header,
            delivered_headers: BTreeMap::new(),
            last_hash: tip.header.hash(),
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
            batches: BatchStore::new(config.max_batches_per_height),
            wanted: BTreeMap::new(),
            serves: BTreeMap::new(),
            pending: RequestQueue::default(),
            committed_ids: BTreeMap::new(),
            batch_deadline: None,
            timers: BTreeMap::new(),
            future: BTreeMap::new(),
            actions: Vec::new(),
        };
        // Every prepared certificate above the stable checkpoint comes back, also those at or
        // below the tip: the view-changes of a restored replica carry exactly what they would
        // have carried without the crash (see the quorum-intersection argument in
        // [`crate::safety`]; dropping those at or below the tip could lose a committed header).
        for cert in prepared {
            if cert.height() > low && cert.height() <= r.high() {
                let slot = r.log.entry(cert.height()).or_default();
                slot.view = view;
                slot.prepared = Some(cert);
            }
        }
        // The durable batches: what this replica voted for stays retrievable (issue 16.2).
        for (header, batch) in record_batches {
            let hh = header.hash();
            if header.height > low && header.height <= r.high() {
                r.batches.insert(header, hh, batch, 1);
                let _ = r.batches.mark_durable(header.height, &hh);
            }
        }
        let pinned: Vec<(u64, Hash)> = r
            .log
            .iter()
            .filter_map(|(h, s)| {
                s.prepared
                    .as_ref()
                    .map(|c| (*h, c.pre_prepare.header.hash()))
            })
            .collect();
        for (h, hh) in pinned {
            r.batches.raise(h, &hh, u64::MAX);
        }
        if h > low {
            r.committed_hashes.insert(h, r.last_hash);
        }
        if !r.active {
            // At the first tick, (re)send our view-change: whoever is in that view answers
            // with its new-view (see `on_view_change`).
            r.set_timer(Timer::ViewChange, 0);
        } else if config.idle_block_interval_ms > 0 {
            // Idle blocks on: at the first tick the primary proposes (or schedules) the next
            // empty block and every replica starts expecting one, so even a chain that never
            // sees a request moves (and a silent primary is replaced).
            r.set_timer(Timer::Idle, 0);
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

    /// The safety guard's state: entered view, own votes and stable checkpoint (the
    /// `Persist` actions also carry prepared certificates, which only the integrator keeps).
    pub fn safety_record(&self) -> &SafetyRecord {
        self.guard.record()
    }

    /// Number of log slots held (bounded by the window).
    pub fn log_len(&self) -> usize {
        self.log.len()
    }

    /// Number of batches held by header hash (bounded by the window times
    /// `Config::max_batches_per_height`).
    pub fn batches_held(&self) -> usize {
        self.batches.len()
    }

    /// Number of batches asked for and not received yet.
    pub fn batches_wanted(&self) -> usize {
        self.wanted.len()
    }

    /// Number of buffered future messages (bounded per sender).
    pub fn buffered_len(&self) -> usize {
        self.future.values().map(VecDeque::len).sum()
    }

    /// The earliest time (ms) at which [`Replica::handle_timeout`] has work, if any: the one
    /// deadline an integrator waits for. Ask again after every input (it moves when the
    /// replica arms, re-arms or drops a deadline); a deadline in the past means "now".
    pub fn poll_timeout(&self) -> Option<u64> {
        self.timers.values().copied().min()
    }

    /// The outputs produced so far, in the order they must be carried out.
    #[must_use = "actions carry messages to send and state to persist"]
    pub fn drain_actions(&mut self) -> alloc::vec::Drain<'_, Action> {
        self.actions.drain(..)
    }

    /// The outputs produced so far, as an owned vector (no per-action move; handy when the
    /// integrator needs `&mut` access to other state while carrying them out).
    #[must_use = "actions carry messages to send and state to persist"]
    pub fn take_actions(&mut self) -> Vec<Action> {
        core::mem::take(&mut self.actions)
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
            Message::BatchRequest(req) => self.on_batch_request(req),
            Message::BatchResponse { header, batch } => self.on_batch_response(header, batch),
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

    /// The clock reached `now_ms`: fires every deadline due (see [`Replica::poll_timeout`]).
    pub fn handle_timeout(&mut self, now_ms: u64) -> Result<(), PbftError> {
        self.now = self.now.max(now_ms);
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
                Timer::BatchFetch => self.on_batch_fetch_timeout()?,
                Timer::Idle => {
                    self.arm_request_timer();
                    self.try_propose()?;
                }
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
        let Some((header, block_hash)) = self.delivered_headers.get(&h).copied() else {
            return Err(PbftError::ExecutedOutOfOrder { expected, got: h });
        };
        // At an epoch boundary the header names the next set; it was proposed before this
        // block executed, so it names what was scheduled *before* this report.
        let k = self.config.checkpoint_interval;
        let boundary = BlockHeader::is_epoch_boundary(h, k);
        let current = self.epoch_for(h).map(|e| e.hash);
        let changes = boundary && Some(header.next_validator_set_hash) != current;
        if changes
            && self.epochs.scheduled.as_ref().map(|e| e.hash)
                != Some(header.next_validator_set_hash)
        {
            return Err(PbftError::UnknownValidatorSet(h.saturating_add(1)));
        }
        // Checks done: record the execution.
        self.delivered_headers.remove(&h);
        if boundary {
            if changes {
                self.epochs
                    .begin(h.saturating_add(1), header.next_validator_set_hash);
            } else {
                self.epochs.scheduled = None;
            }
        }
        if let Some(set) = executed.next_validator_set {
            let hash = set.hash();
            self.epochs.scheduled = Some(Box::new(Epoch {
                start: 0,
                set: *set,
                hash,
            }));
        }
        self.executed = h;
        self.last_root = executed.state_root;
        self.executed_roots
            .insert(h, (block_hash, executed.state_root));
        if boundary {
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

    /// Whether this replica may vote on its next height: false only once the set certifying
    /// it is settled (the boundary block executed) and does not hold this replica's key (it
    /// rotated out, or has not joined yet). Until then it may still be needed, e.g. in a view
    /// change over the heights its set certifies. Asked again when the deadline fires.
    pub(crate) fn votes_next(&self) -> bool {
        let next = self.last_header.height.saturating_add(1);
        self.epoch_for(next)
            .is_none_or(|e| e.set.index_of(&self.key).is_some())
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
        self.timers.insert(timer, deadline);
    }

    pub(crate) fn cancel_timer(&mut self, timer: Timer) {
        self.timers.remove(&timer);
    }

    /// Keeps the request timer armed while anything waits to commit, and, with idle blocks on
    /// ([`Config::idle_block_interval_ms`]), while nothing does: a block is then due within one
    /// interval whatever the load, so a primary that stops producing the empty ones is
    /// suspected like one that sits on a request (else a silent primary would stall an idle
    /// chain, and its last state change would never become provable).
    pub(crate) fn arm_request_timer(&mut self) {
        if !self.active {
            return;
        }
        if !self.votes_next() {
            // Outside the set that certifies the next height (not yet joined, or rotated
            // out and only following by fetch): it has no say in who the primary is.
            self.cancel_timer(Timer::ViewChange);
            return;
        }
        let idle = self.config.idle_block_interval_ms;
        if self.pending.is_empty() && idle == 0 {
            self.cancel_timer(Timer::ViewChange);
        } else if !self.timers.contains_key(&Timer::ViewChange) {
            let wait = self.config.view_change_timeout(self.vc_attempts);
            let d = if self.pending.is_empty() {
                self.now.saturating_add(idle).saturating_add(wait)
            } else {
                self.now.saturating_add(wait)
            };
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
    pub(crate) fn gate(&self, view: u64, height: u64) -> Result<bool, PbftError> {
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
}

/// The epochs a restored replica knows: every height in `(low, tip]` and the next one.
///
/// Before issue 16.1 the tip's set was assumed to start at `tip + 1`, so a restored replica
/// could resolve no set for heights at or below its tip: it silently sent no view change and
/// refused its peers' (`OtherEpoch`, `UnknownValidatorSet`) until a checkpoint above its tip
/// became stable — a liveness loss with one crash-stop and one restart among four.
fn restored_epochs(
    tip: &BlockHeader,
    next: ValidatorSet,
    given: Vec<Epoch>,
    scheduled: Option<Box<ValidatorSet>>,
) -> Epochs {
    let h = tip.height;
    let next_hash = next.hash();
    let mut list: Vec<Epoch> = given.into_iter().filter(|e| e.start <= h).collect();
    list.sort_by_key(|e| e.start);
    list.dedup_by_key(|e| e.start);
    let start = match list.last() {
        // The tip's set continues the last given epoch.
        Some(last) if last.hash == next_hash => {
            let start = last.start;
            list.pop();
            start
        }
        // The set changes after the tip (the tip is a boundary naming another set).
        Some(_) => h.saturating_add(1),
        // Nothing given: the tip's set certified the tip too and, as documented, every height
        // before it — so also the older checkpoint a peer's view-change may carry (taking it
        // from `low + 1` only refused those as "another epoch"; a wrong guess can only make a
        // certificate fail to verify, never pass). Or it starts after the tip.
        None if tip.validator_set_hash == next_hash => 1,
        None => h.saturating_add(1),
    };
    let mut epochs = Epochs::from_list(
        list,
        Epoch {
            start,
            set: next,
            hash: next_hash,
        },
    );
    epochs.scheduled = scheduled.map(|set| {
        let hash = set.hash();
        // `start` is set when the boundary naming it executes (`Epochs::begin`).
        Box::new(Epoch {
            start: 0,
            set: *set,
            hash,
        })
    });
    epochs
}
