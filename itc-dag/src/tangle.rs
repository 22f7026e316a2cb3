//! The [`Tangle`] state machine: validate, attach, weigh, confirm.
//!
//! Inputs (each a method; time is always `now_ms`, passed in):
//! * [`Tangle::handle_transaction`] / [`Tangle::handle_bytes`] / [`Tangle::handle_transactions`]
//!   — transactions from peers or local devices;
//! * [`Tangle::handle_anchor`] — the main chain committed a [`crate::DagSnapshot`];
//! * [`Tangle::handle_timeout`] — the deadline [`Tangle::poll_timeout`] named has passed:
//!   expire waiting transactions, drop stale tips, prune below the anchors.
//!
//! Outputs, one channel: [`Tangle::poll_event`] (or [`Tangle::take_events`]) hands out every
//! [`Event`] in order. Inputs return only `Result<(), DagError>`: a refusal, or nothing; what
//! an accepted input caused comes out of the event queue. The queue never drops anything:
//! while it holds [`TangleConfig::max_events`] undrained events, new input is refused with
//! [`DagError::EventBacklog`] (backpressure rather than loss: an event is a gossip or a fetch
//! the network depends on). One step can still add more than that limit's headroom (a parent
//! releasing its whole waiting cone), so the queue is bounded by `max_events` plus what one
//! step can emit, which the capacities bound (see [`TangleConfig::max_events`]).
//!
//! Durability: each step ends by handing the [`TangleStore`] one [`crate::WriteBatch`]; it
//! must be durable before the step's events are acted on ([`crate::store`]).
//!
//! Validation order is cheapest-first so junk costs us little: syntax and policy, then one
//! Keccak for the PoW, then the Schnorr signature, then the checks that need the parents. A
//! refused input changes nothing.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use itc_crypto::batch::{self, BatchItem};
use itc_crypto::hash::{tagged_hash, DomainTag, Hash, TaggedHasher};
use itc_crypto::{Address, PublicKey};

use crate::balances::DagBalances;
use crate::conflict::ConflictRegistry;
use crate::error::DagError;
use crate::graph::{Graph, Node, NodeIdx, SpendKey, TxStatus};
use crate::policy::{IssuerPolicy, RateWindow};
use crate::pow;
use crate::snapshot::DagSnapshot;
use crate::store::{MemoryStore, StoreKey, TangleStore, WriteBatch};
use crate::tx::{Payload, Transaction, TxId};
use crate::unsolid::UnsolidPool;

/// Tag of [`Tangle::state_digest`].
pub const STATE_DIGEST_TAG: DomainTag = DomainTag::new(b"itc/dag/state-digest/v2");

/// Tag deriving the genesis root ids.
pub const GENESIS_TAG: DomainTag = DomainTag::new(b"itc/dag/genesis/v1");

/// Most signatures [`Tangle::handle_transactions`] batch-verifies at once (the batch engine's
/// per-signature cost is flat from about 64 on; the chunk bounds the scratch memory).
pub const BACKLOG_CHUNK: usize = 64;

/// Whether [`Tangle::admit`] verifies the signature or was told the verdict.
#[derive(Debug, Clone, Copy)]
enum SignatureCheck {
    Verify,
    Known(bool),
}

/// Knobs of the tangle. All times in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TangleConfig {
    /// Approving weight at which a transaction is confirmed.
    pub confirmation_threshold: u64,
    /// How far a timestamp may run ahead of `now_ms`.
    pub max_future_drift_ms: u64,
    /// "Max depth": the oldest a parent may be, measured from the depth reference
    /// ([`Graph::depth_reference`]; roots and entry points excepted). Stops lazy tips and
    /// parasite chains hooked deep in the past.
    pub max_parent_age_ms: u64,
    /// How long final (and orphaned) transactions are kept before pruning.
    pub retention_ms: u64,
    /// Most transactions held at once; beyond it new ones are refused (`TangleFull`).
    pub capacity: usize,
    /// Most transactions waiting for parents.
    pub unsolid_capacity: usize,
    /// How long a transaction may wait for its parents.
    pub unsolid_timeout_ms: u64,
    /// Rival transfers tracked per spend key.
    pub max_rivals: usize,
    /// Anchored snapshots kept for serving inclusion proofs.
    pub kept_snapshots: usize,
    /// Most pending transactions one parent-consistency check may visit.
    pub max_consistency_visits: usize,
    /// Undrained events at which new input is refused ([`DagError::EventBacklog`]) until the
    /// integrator drains them. Nothing is ever dropped: the queue holds at most this many
    /// plus what the one step that crossed the limit emitted — at most one `Attached` or
    /// `Waiting`, eight `RequestMissing` and one `Dropped` per transaction it attached or
    /// parked (itself and the waiting transactions it released: `1 + unsolid_capacity`),
    /// one `Confirmed` and one `Conflicting` per held transaction (`capacity`), and for an
    /// anchor one `RequestMissing` per requested transaction (`unsolid_capacity`).
    pub max_events: usize,
    /// Interval of the housekeeping deadline [`Tangle::poll_timeout`] reports.
    pub housekeeping_ms: u64,
}

impl Default for TangleConfig {
    fn default() -> Self {
        TangleConfig {
            confirmation_threshold: 30,
            max_future_drift_ms: 5_000,
            max_parent_age_ms: 60_000,
            retention_ms: 120_000,
            capacity: 200_000,
            unsolid_capacity: 2_000,
            unsolid_timeout_ms: 30_000,
            max_rivals: 8,
            kept_snapshots: 16,
            max_consistency_visits: 4_096,
            max_events: 10_000,
            housekeeping_ms: 1_000,
        }
    }
}

/// How a tangle starts: the genesis time and balances. Its two roots (bodyless, final, held
/// forever) are what the first transactions approve, and what any transaction may approve
/// however long the tangle has been idle.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TangleGenesis {
    /// Genesis time (ms).
    pub timestamp: u64,
    /// Initial balances.
    pub balances: Vec<(Address, u64)>,
}

impl TangleGenesis {
    /// The two genesis root ids: `tagged_hash(GENESIS_TAG, [i])`.
    pub fn roots() -> [TxId; 2] {
        [
            TxId(tagged_hash(GENESIS_TAG, &[0])),
            TxId(tagged_hash(GENESIS_TAG, &[1])),
        ]
    }
}

/// Something the integrator should know or do, in the order it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A transaction was attached (its body is in the store): gossip it.
    Attached {
        /// The transaction.
        id: TxId,
        /// Its status on attach (`Pending`, or `Conflicting` if born on a losing side).
        status: TxStatus,
    },
    /// A transaction passed every check that needs no parents and waits for `missing` of
    /// them (each new one is named by a `RequestMissing`).
    Waiting {
        /// The transaction.
        id: TxId,
        /// Parents still missing.
        missing: usize,
    },
    /// Approving weight crossed the threshold.
    Confirmed(TxId),
    /// Lost a conflict (or approves a loser): will never be confirmed.
    Conflicting(TxId),
    /// An anchor finalised a snapshot.
    Finalized {
        /// Snapshot sequence.
        snapshot_seq: u64,
        /// Snapshot root.
        root: Hash,
        /// Transactions finalised.
        count: usize,
    },
    /// A parent (or anchored transaction) is unknown: ask peers for it.
    RequestMissing(TxId),
    /// A waiting transaction was dropped when its parents arrived or it timed out.
    Dropped {
        /// The transaction.
        id: TxId,
        /// Why.
        reason: DagError,
    },
    /// Transactions were pruned from memory and the store.
    Pruned {
        /// How many.
        count: usize,
    },
}

/// Memory held by the tangle, by part, and per stored transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryReport {
    /// Transactions in the graph.
    pub transactions: usize,
    /// Metadata graph: arena, approver lists, id and time indices, tips.
    pub metadata_bytes: usize,
    /// Bodies and records, as reported by the store (0 for a store off the heap).
    pub store_bytes: usize,
    /// Unsolid pool.
    pub pool_bytes: usize,
    /// Conflict registry, balances, issuer states, kept snapshots, undrained events.
    pub other_bytes: usize,
    /// `(metadata + store) / transactions`.
    pub bytes_per_transaction: usize,
}

impl MemoryReport {
    /// Sum of all parts.
    pub fn total(&self) -> usize {
        self.metadata_bytes + self.store_bytes + self.pool_bytes + self.other_bytes
    }
}

/// Per-issuer state for sequence, timestamp monotonicity and rate (also its stored record).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct IssuerState {
    pub(crate) last_seq: Option<u64>,
    pub(crate) last_ts: u64,
    pub(crate) rate: RateWindow,
}

/// Counters for operators and benches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Metrics {
    /// Transactions attached.
    pub attached: u64,
    /// Transactions confirmed by weight.
    pub confirmed: u64,
    /// Nodes visited by all cumulative-weight updates.
    pub weight_visits: u64,
    /// Nodes visited by the last update (the per-attach cost).
    pub last_weight_visits: u64,
}

/// What a step changed beyond the graph, pool and conflicts (which track their own), for the
/// step's write batch.
#[derive(Debug, Clone, Default)]
pub(crate) struct Dirty {
    pub(crate) issuers: Vec<[u8; 32]>,
    pub(crate) accounts: Vec<Address>,
    pub(crate) snapshots: Vec<u64>,
    /// The meta record (counters, latest node, last timeout) changed.
    pub(crate) meta: bool,
}

/// The tangle: a sans-I/O state machine over a [`TangleStore`].
///
/// ```
/// use itc_dag::{Event, IssuerPolicy, IssuerProfile, MemoryStore, Payload, Tangle,
///               TangleConfig, TangleGenesis, TransactionBuilder, TxStatus, UniformRandom};
/// use itc_crypto::SecretKey;
/// use rand_core::SeedableRng;
///
/// let policy = IssuerPolicy::new(IssuerProfile::device(2, 100));
/// let config = TangleConfig { confirmation_threshold: 3, ..TangleConfig::default() };
/// let mut tangle = Tangle::new(config, policy, TangleGenesis::default(), MemoryStore::default());
/// let key = SecretKey::from_bytes(&[5u8; 32]).unwrap();
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
/// let mut ids = Vec::new();
/// for seq in 0..4u64 {
///     let now_ms = 1_000 + seq;
///     let parents = tangle.select_parents(&UniformRandom::default(), &mut rng, now_ms, 2).unwrap();
///     let mut b = TransactionBuilder::new(key.public_key(), seq, now_ms)
///         .parents(&parents).unwrap()
///         .payload(Payload::data(b"reading").unwrap());
///     b.solve_pow(2, 0, 1 << 12).unwrap();
///     let tx = b.sign(&key).unwrap();
///     ids.push(tx.id());
///     tangle.handle_transaction(tx, now_ms).unwrap();
/// }
/// // The first transaction is approved (directly or not) by the later ones.
/// assert!(tangle.cumulative_weight(&ids[0]).unwrap() >= 3);
/// assert_eq!(tangle.status(&ids[0]), Some(TxStatus::Confirmed));
/// // Everything that happened comes out of one queue, in order.
/// let events = tangle.take_events();
/// assert!(events.contains(&Event::Confirmed(ids[0])));
/// assert_eq!(tangle.poll_event(), None);
/// ```
#[derive(Debug, Clone)]
pub struct Tangle<S: TangleStore = MemoryStore> {
    pub(crate) config: TangleConfig,
    pub(crate) policy: IssuerPolicy,
    pub(crate) store: S,
    pub(crate) graph: Graph,
    pub(crate) conflicts: ConflictRegistry,
    pub(crate) balances: DagBalances,
    pub(crate) issuers: BTreeMap<[u8; 32], IssuerState>,
    pub(crate) pool: UnsolidPool,
    pub(crate) events: VecDeque<Event>,
    /// Anchored snapshots, oldest first; never empty (genesis first).
    pub(crate) anchored: VecDeque<DagSnapshot>,
    pub(crate) metrics: Metrics,
    pub(crate) genesis_ms: u64,
    /// When housekeeping last ran (genesis time before the first run).
    pub(crate) last_timeout_ms: u64,
    pub(crate) dirty: Dirty,
    /// The step's writes (reused between steps).
    pub(crate) batch: WriteBatch,
}

/// Result of the checks that need no parents.
struct Admission {
    own_weight: u64,
}

impl<S: TangleStore> Tangle<S> {
    /// A tangle at genesis, over an empty store, into which it writes its genesis records
    /// (the roots, the genesis snapshot and balances) as its first write batch. To resume
    /// from a store that holds a tangle, use [`Tangle::restore`].
    pub fn new(
        config: TangleConfig,
        policy: IssuerPolicy,
        genesis: TangleGenesis,
        store: S,
    ) -> Self {
        let mut graph = Graph::new(config.max_parent_age_ms);
        let roots = TangleGenesis::roots();
        for id in roots {
            let i = graph.insert(Node::new(id, genesis.timestamp, 0, TxStatus::Final), &[]);
            graph.add_root(i);
        }
        graph.set_entry_points(&roots);
        let balances = DagBalances::from_balances(&genesis.balances);
        let mut anchored = VecDeque::new();
        anchored.push_back(DagSnapshot::genesis(&roots, balances.root()));
        let dirty = Dirty {
            issuers: Vec::new(),
            accounts: balances.iter().map(|(a, _)| *a).collect(),
            snapshots: alloc::vec![0],
            meta: true,
        };
        let mut tangle = Tangle {
            conflicts: ConflictRegistry::new(config.max_rivals),
            pool: UnsolidPool::new(config.unsolid_capacity),
            config,
            policy,
            store,
            graph,
            balances,
            issuers: BTreeMap::new(),
            events: VecDeque::new(),
            anchored,
            metrics: Metrics::default(),
            genesis_ms: genesis.timestamp,
            last_timeout_ms: genesis.timestamp,
            dirty,
            batch: WriteBatch::default(),
        };
        tangle.finish_step();
        tangle
    }

    // ---- queries ----------------------------------------------------------------------------

    /// Counters: attaches, confirmations, weight-update work.
    pub fn metrics(&self) -> Metrics {
        self.metrics
    }

    /// The configuration.
    pub fn config(&self) -> &TangleConfig {
        &self.config
    }

    /// The issuer policy (read).
    pub fn policy(&self) -> &IssuerPolicy {
        &self.policy
    }

    /// The issuer policy (register issuers, tune rates). The policy is configuration, not
    /// state: it is not stored, so pass the same one to [`Tangle::restore`].
    pub fn policy_mut(&mut self) -> &mut IssuerPolicy {
        &mut self.policy
    }

    /// Read-only view of the metadata graph (for custom tip selectors and inspection).
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The side-chain balances (change only on anchors).
    pub fn balances(&self) -> &DagBalances {
        &self.balances
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Status of a transaction held in the graph.
    pub fn status(&self, id: &TxId) -> Option<TxStatus> {
        self.graph.status(id)
    }

    /// Cumulative (approving) weight of a transaction.
    pub fn cumulative_weight(&self, id: &TxId) -> Option<u64> {
        self.graph.weight(id)
    }

    /// A held transaction's body, read from the store.
    pub fn get(&self, id: &TxId) -> Option<Transaction> {
        crate::persist::read_body(&self.store, id)
    }

    /// True if the transaction is attached or waiting for parents.
    pub fn knows(&self, id: &TxId) -> bool {
        self.graph.contains(id) || self.pool.contains(id)
    }

    /// Number of transactions in the graph (the genesis roots included).
    pub fn len(&self) -> usize {
        self.graph.len()
    }

    /// True when only the genesis roots are held.
    pub fn is_empty(&self) -> bool {
        self.graph.len() <= TangleGenesis::roots().len()
    }

    /// Transactions waiting for parents.
    pub fn unsolid_len(&self) -> usize {
        self.pool.len()
    }

    /// Difficulty `issuer` must declare for a transaction stamped `timestamp` (what a device or
    /// gateway asks before solving).
    pub fn required_difficulty(&self, issuer: &PublicKey, timestamp: u64) -> u8 {
        let profile = self.policy.profile(issuer);
        let recent = self
            .issuers
            .get(issuer.as_bytes())
            .map_or(0, |s| s.rate.recent(timestamp, self.policy.window_ms));
        self.policy.required_difficulty(profile, recent)
    }

    /// A digest of everything observable about the tangle: every held transaction with its
    /// status, weights, attach order and approvers, the tips in their order, the entry points,
    /// the latest node, the waiting pool, the conflict registry, issuer states, the balances,
    /// every kept snapshot and the housekeeping clock. Two tangles fed the same inputs have the
    /// same digest on every platform, and a restored tangle has the digest of the one that
    /// crashed; tests use it to show that a refused input changed nothing. (Left out: the
    /// list of transactions an anchor made this node request, which a refused anchor does
    /// add to.)
    pub fn state_digest(&self) -> Hash {
        let mut h = TaggedHasher::new(STATE_DIGEST_TAG);
        for id in self.graph.ids() {
            h.update(id.as_bytes());
            if let Some(n) = self.graph.lookup(&id).and_then(|i| self.graph.node(i)) {
                h.update(&[n.status.to_byte(), u8::from(n.tip)]);
                h.update(&n.weight.to_be_bytes());
                h.update(&n.own_weight.to_be_bytes());
                h.update(&n.live_approvers.to_be_bytes());
                h.update(&n.order.to_be_bytes());
                for a in self.graph.approvers(&id) {
                    h.update(a.as_bytes());
                }
                h.update(&[0xff]);
            }
        }
        h.update(b"tips");
        for t in (0..self.graph.tip_count()).filter_map(|i| self.graph.tip_at(i)) {
            h.update(t.as_bytes());
        }
        h.update(b"entry");
        for e in self.graph.entry_points() {
            h.update(e.as_bytes());
        }
        h.update(b"latest");
        if let Some(l) = self.graph.latest_id() {
            h.update(l.as_bytes());
        }
        h.update(&self.graph.next_order().to_be_bytes());
        h.update(b"pool");
        for (id, w) in self.pool.iter() {
            h.update(id.as_bytes());
            h.update(&w.arrived.to_be_bytes());
            h.update(&w.own_weight.to_be_bytes());
            for m in &w.missing {
                h.update(m.as_bytes());
            }
        }
        h.update(b"spend");
        for (k, e) in self.conflicts.iter() {
            h.update(&k.from.0);
            h.update(&k.nonce.to_be_bytes());
            if let Some(w) = e.winner {
                h.update(w.as_bytes());
            }
            h.update(&(e.claimants.len() as u64).to_be_bytes());
            for c in &e.claimants {
                h.update(c.as_bytes());
            }
        }
        h.update(b"issuers");
        for (k, s) in &self.issuers {
            h.update(k);
            h.update(&s.last_seq.unwrap_or(u64::MAX).to_be_bytes());
            h.update(&s.last_ts.to_be_bytes());
            let (bucket, current, previous) = s.rate.parts();
            h.update(&bucket.to_be_bytes());
            h.update(&current.to_be_bytes());
            h.update(&previous.to_be_bytes());
        }
        h.update(self.balances.root().as_bytes());
        h.update(b"snapshots");
        for s in &self.anchored {
            h.update(s.root().as_bytes());
        }
        h.update(&self.last_timeout_ms.to_be_bytes());
        h.finalize()
    }

    // ---- output -----------------------------------------------------------------------------

    /// The next event, oldest first; `None` when the queue is empty.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Every pending event, oldest first (the same queue as [`Tangle::poll_event`]).
    pub fn take_events(&mut self) -> Vec<Event> {
        self.events.drain(..).collect()
    }

    /// Events waiting to be taken.
    pub fn pending_events(&self) -> usize {
        self.events.len()
    }

    /// Memory held, by part.
    pub fn memory_usage(&self) -> MemoryReport {
        use core::mem::size_of;
        let n = self.graph.len();
        let index_entry =
            size_of::<TxId>() + size_of::<NodeIdx>() + crate::store::BTREE_ENTRY_OVERHEAD;
        let time_entry = size_of::<(u64, u64, NodeIdx)>() + crate::store::BTREE_ENTRY_OVERHEAD;
        let metadata_bytes = self.graph.arena_slots() * size_of::<Option<Node>>()
            + self.graph.heap_bytes()
            + n * (index_entry + time_entry)
            + self.graph.tip_count() * size_of::<(u64, NodeIdx)>();
        let store_bytes = self.store.memory_bytes();
        let issuers = self.issuers.len()
            * (32 + size_of::<IssuerState>() + crate::store::BTREE_ENTRY_OVERHEAD);
        let snapshots: usize = self
            .anchored
            .iter()
            .map(|s| {
                (s.finalized.len() + s.tips.len()) * size_of::<TxId>() + size_of::<DagSnapshot>()
            })
            .sum();
        MemoryReport {
            transactions: n,
            metadata_bytes,
            store_bytes,
            pool_bytes: self.pool.memory_bytes(),
            other_bytes: self.conflicts.memory_bytes()
                + self.balances.memory_bytes()
                + issuers
                + snapshots
                + self.events.len() * size_of::<Event>(),
            bytes_per_transaction: (metadata_bytes + store_bytes).checked_div(n).unwrap_or(0),
        }
    }

    // ---- input: transactions ------------------------------------------------------------------

    /// Decodes untrusted bytes and handles the transaction.
    pub fn handle_bytes(&mut self, bytes: &[u8], now_ms: u64) -> Result<(), DagError> {
        let tx = Transaction::from_bytes(bytes)?;
        self.handle_transaction(tx, now_ms)
    }

    /// Validates a transaction and attaches it, or parks it until its parents arrive.
    ///
    /// On `Err` nothing changed. On `Ok` the transaction was attached (`Attached` event) or
    /// parked in the bounded unsolid pool (`Waiting`, with a `RequestMissing` for each parent
    /// to fetch). Attaching may release waiting children, whose fate is reported as events.
    pub fn handle_transaction(&mut self, tx: Transaction, now_ms: u64) -> Result<(), DagError> {
        let r = self.handle_checked(tx, now_ms, SignatureCheck::Verify);
        self.finish_step();
        r
    }

    /// Handles a backlog (a sync after being offline, a gossip burst) with the signatures
    /// batch-verified: [`itc_crypto::batch`] checks up to [`BACKLOG_CHUNK`] of them in one
    /// multi-scalar multiplication, about 0.35× the cost of checking them one by one.
    ///
    /// The results are exactly those of calling [`Tangle::handle_transaction`] on each
    /// transaction in order (same results, same errors, same events, same state): only the
    /// signature check moves, its verdict is computed up front. The whole backlog is one step
    /// (one write batch). Memory beyond the transactions themselves is one chunk of batch
    /// items. Transactions the tangle already holds are left out of the batch (they are
    /// refused as duplicates before any signature work, as one by one). A chunk of forgeries
    /// costs up to about 2.5× checking it one by one (bisection names every bad signature), so
    /// use this for backlogs from peers you fetched from, and [`Tangle::handle_transaction`]
    /// for unsolicited gossip.
    ///
    /// ```
    /// use itc_dag::{DagError, IssuerPolicy, IssuerProfile, MemoryStore, Tangle, TangleConfig,
    ///               TangleGenesis, TransactionBuilder};
    /// use itc_crypto::SecretKey;
    ///
    /// let policy = IssuerPolicy::new(IssuerProfile::device(0, 100));
    /// let mut tangle = Tangle::new(TangleConfig::default(), policy, TangleGenesis::default(),
    ///                              MemoryStore::default());
    /// let roots = TangleGenesis::roots();
    /// // A device's backlog of 5 transactions; the fourth's signature is corrupted.
    /// let key = SecretKey::from_bytes(&[5u8; 32]).unwrap();
    /// let mut backlog = Vec::new();
    /// for seq in 0..5u64 {
    ///     let tx = TransactionBuilder::new(key.public_key(), seq, 1_000 + seq)
    ///         .parents(&roots).unwrap()
    ///         .sign(&key).unwrap();
    ///     let mut bytes = tx.to_bytes();
    ///     if seq == 3 {
    ///         *bytes.last_mut().unwrap() ^= 1; // the signature's last byte
    ///     }
    ///     backlog.push(itc_dag::Transaction::from_bytes(&bytes).unwrap());
    /// }
    /// let results = tangle.handle_transactions(backlog, 1_010);
    /// assert_eq!(results[0], Ok(()));
    /// assert_eq!(results[3], Err(DagError::InvalidSignature));
    /// assert!(results[4].is_ok());
    /// ```
    pub fn handle_transactions(
        &mut self,
        txs: Vec<Transaction>,
        now_ms: u64,
    ) -> Vec<Result<(), DagError>> {
        let mut results = Vec::with_capacity(txs.len());
        let mut txs = txs.into_iter().peekable();
        while txs.peek().is_some() {
            let chunk: Vec<Transaction> = txs.by_ref().take(BACKLOG_CHUNK).collect();
            // Index in `chunk` of each batch item.
            let mut checked = Vec::with_capacity(chunk.len());
            let mut items: Vec<BatchItem> = Vec::with_capacity(chunk.len());
            for (i, tx) in chunk.iter().enumerate() {
                if self.knows(&tx.id()) {
                    continue;
                }
                let msg = crate::tx::signed_message(&tx.essence_hash(), tx.nonce());
                items.push(BatchItem::new(
                    *tx.issuer(),
                    tagged_hash(crate::tx::SIGNATURE_TAG, &msg),
                    *tx.signature(),
                ));
                checked.push(i);
            }
            let mut bad = batch::invalid_indices(&items[..])
                .filter_map(|k| checked.get(k).copied())
                .peekable();
            let mut in_batch = checked.iter().copied().peekable();
            for (i, tx) in chunk.into_iter().enumerate() {
                // Left out of the batch (known at the start): still checked on its own if it
                // is no longer known when its turn comes, so no verdict is ever assumed.
                let signature = if in_batch.next_if_eq(&i).is_some() {
                    SignatureCheck::Known(bad.next_if_eq(&i).is_none())
                } else {
                    SignatureCheck::Verify
                };
                results.push(self.handle_checked(tx, now_ms, signature));
            }
        }
        self.finish_step();
        results
    }

    /// Refuses new input while the integrator has not drained the event queue.
    pub(crate) fn check_backlog(&self) -> Result<(), DagError> {
        if self.events.len() >= self.config.max_events {
            return Err(DagError::EventBacklog {
                pending: self.events.len(),
                max: self.config.max_events,
            });
        }
        Ok(())
    }

    fn handle_checked(
        &mut self,
        tx: Transaction,
        now_ms: u64,
        signature: SignatureCheck,
    ) -> Result<(), DagError> {
        self.check_backlog()?;
        let id = tx.id();
        if self.knows(&id) {
            return Err(DagError::Duplicate(id));
        }
        let solicited = self.pool.is_requested(&id);
        let admission = self.admit(&tx, now_ms, solicited, signature)?;
        let mut missing: heapless::Vec<TxId, { crate::tx::MAX_PARENTS }> = heapless::Vec::new();
        for p in tx.parents() {
            match self.graph.lookup(p) {
                Some(i) => self.check_parent(&tx, p, i, now_ms, !solicited)?,
                None => {
                    let _ = missing.push(*p);
                }
            }
        }
        if !missing.is_empty() {
            if self.pool.is_full() {
                return Err(DagError::UnsolidPoolFull {
                    capacity: self.config.unsolid_capacity,
                });
            }
            self.check_capacity()?;
            for m in &missing {
                if !self.pool.is_requested(m) && !self.pool.contains(m) {
                    self.push_event(Event::RequestMissing(*m));
                }
            }
            self.pool
                .insert(id, tx, &missing, admission.own_weight, now_ms);
            self.push_event(Event::Waiting {
                id,
                missing: missing.len(),
            });
            return Ok(());
        }
        self.check_capacity()?;
        self.attach(id, &tx, admission.own_weight);
        self.release_waiting(id, now_ms);
        Ok(())
    }

    /// Checks that need no parents: semantics, time window, issuer policy, PoW, signature.
    ///
    /// `solicited` transactions — ones this node asked for because a waiting child or an
    /// anchor needs them — skip the *first-hop* rules that depend on arrival order or arrival
    /// time (adaptive difficulty, sequence and timestamp order, max depth): another node
    /// already accepted and built on them, and refusing them here would split the tangle. The
    /// objective rules (encoding, signature, declared PoW, the class minimum difficulty,
    /// anchor permission, retention horizon) always apply.
    fn admit(
        &self,
        tx: &Transaction,
        now_ms: u64,
        solicited: bool,
        signature: SignatureCheck,
    ) -> Result<Admission, DagError> {
        tx.check_semantics()?;
        let ts = tx.timestamp();
        if ts > now_ms.saturating_add(self.config.max_future_drift_ms) {
            return Err(DagError::TimestampInFuture {
                timestamp: ts,
                now: now_ms,
            });
        }
        let horizon = if solicited {
            self.config.retention_ms
        } else {
            self.config.max_parent_age_ms
        };
        if now_ms.saturating_sub(ts) > horizon {
            return Err(DagError::TooOld {
                timestamp: ts,
                now: now_ms,
            });
        }
        let admission = self.check_issuer(tx, solicited)?;
        let essence = tx.essence_hash();
        pow::check(&essence, tx.nonce(), tx.difficulty())?;
        let valid = match signature {
            SignatureCheck::Known(valid) => valid,
            SignatureCheck::Verify => {
                let msg = crate::tx::signed_message(&essence, tx.nonce());
                tx.issuer()
                    .verify(crate::tx::SIGNATURE_TAG, &msg, tx.signature())
                    .is_ok()
            }
        };
        if !valid {
            return Err(DagError::InvalidSignature);
        }
        Ok(admission)
    }

    /// Issuer rules: anchor permission, sequence, timestamp order, required difficulty.
    fn check_issuer(&self, tx: &Transaction, solicited: bool) -> Result<Admission, DagError> {
        let profile = *self.policy.profile(tx.issuer());
        if matches!(tx.payload(), Payload::Anchor(_)) && !profile.may_anchor {
            return Err(DagError::UnauthorizedAnchor);
        }
        let ts = tx.timestamp();
        let mut recent = 0;
        if let (Some(s), false) = (self.issuers.get(tx.issuer().as_bytes()), solicited) {
            if let Some(last) = s.last_seq {
                if tx.sequence() <= last {
                    return Err(DagError::SequenceReplay {
                        last,
                        got: tx.sequence(),
                    });
                }
            }
            if ts < s.last_ts {
                return Err(DagError::TimestampRegression {
                    last: s.last_ts,
                    got: ts,
                });
            }
            recent = s.rate.recent(ts, self.policy.window_ms);
        }
        let required = self.policy.required_difficulty(&profile, recent);
        if tx.difficulty() < required {
            return Err(DagError::DifficultyTooLow {
                declared: tx.difficulty(),
                required,
            });
        }
        Ok(Admission {
            own_weight: self.policy.own_weight(&profile, tx.difficulty(), required),
        })
    }

    /// A present parent: not younger than the child and (first hop only) not below max depth,
    /// measured from the depth reference (so an idle tangle can be re-entered; see
    /// [`crate::graph`]). Roots and entry points may be approved at any age.
    fn check_parent(
        &self,
        tx: &Transaction,
        id: &TxId,
        i: NodeIdx,
        now_ms: u64,
        check_age: bool,
    ) -> Result<(), DagError> {
        let Some(node) = self.graph.node(i) else {
            return Err(DagError::ParentTooOld(*id));
        };
        if tx.timestamp() < node.timestamp {
            return Err(DagError::TimestampBeforeParent(*id));
        }
        let reference = self.graph.depth_reference(now_ms);
        if check_age
            && reference.saturating_sub(node.timestamp) > self.config.max_parent_age_ms
            && !self.graph.is_anchorage(i)
        {
            return Err(DagError::ParentTooOld(*id));
        }
        Ok(())
    }

    fn check_capacity(&self) -> Result<(), DagError> {
        if self.graph.len() >= self.config.capacity {
            return Err(DagError::TangleFull {
                capacity: self.config.capacity,
            });
        }
        Ok(())
    }

    /// Attaches a transaction whose parents are all present and checked. Infallible: every
    /// refusal happened before.
    fn attach(&mut self, id: TxId, tx: &Transaction, own: u64) {
        let mut parents: heapless::Vec<NodeIdx, { crate::tx::MAX_PARENTS }> = heapless::Vec::new();
        let mut conflicting = false;
        for p in tx.parents() {
            if let Some(i) = self.graph.lookup(p) {
                conflicting |= self.graph.status(p) == Some(TxStatus::Conflicting);
                let _ = parents.push(i);
            }
        }
        let spend = tx.payload().as_transfer().map(|t| SpendKey {
            from: tx.issuer_address(),
            nonce: t.spend_nonce,
        });
        if let Some(key) = spend {
            if !conflicting {
                conflicting = key.nonce < self.balances.next_spend(&key.from)
                    || self.conflicts.winner(&key).is_some()
                    || !self.conflicts.claim(key, id);
            }
        }
        let status = if conflicting {
            TxStatus::Conflicting
        } else {
            TxStatus::Pending
        };
        let mut node = Node::new(id, tx.timestamp(), own, status);
        node.spend = spend;
        self.metrics.attached = self.metrics.attached.saturating_add(1);
        let idx = self.graph.insert(node, &parents);
        let order = self.graph.node(idx).map_or(0, |n| n.order);
        self.batch.put(
            StoreKey::body(&id),
            &crate::persist::BodyRecord::encode_parts(order, own, tx),
        );
        self.pool.fulfilled(&id);
        let window = self.policy.window_ms;
        let issuer = *tx.issuer().as_bytes();
        let st = self.issuers.entry(issuer).or_default();
        st.last_seq = Some(st.last_seq.map_or(tx.sequence(), |l| l.max(tx.sequence())));
        st.last_ts = st.last_ts.max(tx.timestamp());
        st.rate.record(tx.timestamp(), window);
        self.dirty.issuers.push(issuer);
        self.dirty.meta = true;
        self.push_event(Event::Attached { id, status });

        if status == TxStatus::Pending {
            let threshold = self.config.confirmation_threshold;
            let (mut crossed, visits) = self.graph.propagate_weight(idx, threshold);
            self.metrics.weight_visits = self.metrics.weight_visits.saturating_add(visits);
            self.metrics.last_weight_visits = visits;
            if own >= threshold {
                crossed.push(idx);
            }
            for c in crossed {
                self.decide(c);
            }
        }
    }

    /// Attaches waiting children released by `parent`, breadth-first, reporting as events.
    /// Their policy and age checks were done on arrival; only timestamp order against the
    /// late parents and capacity remain.
    fn release_waiting(&mut self, parent: TxId, now_ms: u64) {
        let mut work = VecDeque::new();
        work.push_back(parent);
        while let Some(p) = work.pop_front() {
            for (child, tx, own) in self.pool.parent_arrived(&p) {
                let checked = tx
                    .parents()
                    .iter()
                    .try_for_each(|q| match self.graph.lookup(q) {
                        Some(i) => self.check_parent(&tx, q, i, now_ms, false),
                        None => Err(DagError::ParentTooOld(*q)),
                    })
                    .and_then(|()| self.check_capacity());
                match checked {
                    Ok(()) => {
                        self.attach(child, &tx, own);
                        work.push_back(child);
                    }
                    Err(reason) => self.push_event(Event::Dropped { id: child, reason }),
                }
            }
        }
    }

    /// A pending node crossed the threshold: confirm it, or lose it to a confirmed rival.
    pub(crate) fn decide(&mut self, i: NodeIdx) {
        let Some((id, status, spend)) = self.graph.node(i).map(|n| (n.id, n.status, n.spend))
        else {
            return;
        };
        if status != TxStatus::Pending {
            return;
        }
        if let Some(key) = spend {
            let taken = self.conflicts.winner(&key).is_some_and(|w| w != id)
                || key.nonce < self.balances.next_spend(&key.from);
            if taken {
                self.mark_conflicting(i);
                return;
            }
        }
        if let Some(n) = self.graph.node_mut(i) {
            n.status = TxStatus::Confirmed;
        }
        self.metrics.confirmed = self.metrics.confirmed.saturating_add(1);
        self.push_event(Event::Confirmed(id));
        if let Some(key) = spend {
            self.conflicts.set_winner(key, id);
            for rival in self.conflicts.rivals(&key, &id) {
                if let Some(r) = self.graph.lookup(&rival) {
                    self.mark_conflicting(r);
                }
            }
        }
    }

    /// Marks a node and its future cone conflicting, with events and registry upkeep.
    pub(crate) fn mark_conflicting(&mut self, i: NodeIdx) {
        for (n, was) in self.graph.mark_conflicting_cone(i) {
            let Some((id, spend)) = self.graph.node(n).map(|x| (x.id, x.spend)) else {
                continue;
            };
            if was == TxStatus::Confirmed {
                if let Some(key) = spend {
                    self.conflicts.clear_winner_if(&key, &id);
                }
            }
            self.push_event(Event::Conflicting(id));
        }
    }

    /// Queues an event. Never drops one: the bound is enforced on input
    /// ([`Tangle::check_backlog`]).
    pub(crate) fn push_event(&mut self, e: Event) {
        self.events.push_back(e);
    }
}
