//! The tangle's durable records: how each step's changes become one [`WriteBatch`]
//! ([`Tangle::finish_step`]) and how a tangle is rebuilt from them ([`Tangle::restore`]).
//!
//! Records (keys in [`crate::store`]; every value is the canonical `itc-crypto` encoding):
//!
//! ```text
//! Meta            version u8 ‖ genesis_ms ‖ next_order ‖ latest Option<TxId> ‖ last_timeout_ms
//!                 ‖ attached ‖ confirmed ‖ weight_visits ‖ last_weight_visits        (u64s)
//! Body(id)        order u64 ‖ own_weight u64 ‖ transaction                (written once)
//! Node(id)        weight u64 ‖ status u8 ‖ tip bool                       (genesis roots too)
//! Waiting(id)     arrived u64 ‖ own_weight u64 ‖ missing (varint ≤ 8, ids) ‖ transaction
//! Wanted(id)      requested_at u64
//! Spend(key)      winner Option<TxId> ‖ claimants (varint, ids)
//! Issuer(key)     last_seq Option<u64> ‖ last_ts u64 ‖ bucket u64 ‖ current u32 ‖ previous u32
//! Account(addr)   balance u64 ‖ next_spend u64
//! Snapshot(seq)   DagSnapshot
//! ```
//!
//! Everything else is derived on restore: parents and approvers (from the bodies, keeping
//! only parents attached before the child), live-approver counts, spend keys, the time index,
//! the entry points (the latest snapshot's tips). Because the in-memory layout is canonical
//! (see [`crate::graph`]), the derived parts come out exactly as they were.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use itc_crypto::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::Address;

use crate::balances::{DagAccount, DagBalances};
use crate::conflict::{ConflictRegistry, SpendEntry};
use crate::error::DagError;
use crate::graph::{Graph, Node, NodeIdx, SpendKey, TxStatus};
use crate::policy::{IssuerPolicy, RateWindow};
use crate::snapshot::DagSnapshot;
use crate::store::{StoreKey, StoreTable, TangleStore, WriteBatch};
use crate::tangle::{Dirty, IssuerState, Metrics, Tangle, TangleConfig, TangleGenesis};
use crate::tx::{Transaction, TxId, MAX_PARENTS};
use crate::unsolid::{UnsolidPool, Waiting};

/// Version byte of the meta record.
const META_VERSION: u8 = 1;

// ---- record encodings ---------------------------------------------------------------------

/// A body record to encode (borrowing the transaction).
pub(crate) struct BodyRecord<'a> {
    order: u64,
    own_weight: u64,
    tx: &'a Transaction,
}

impl<'a> BodyRecord<'a> {
    pub(crate) fn encode_parts(order: u64, own_weight: u64, tx: &'a Transaction) -> Self {
        BodyRecord {
            order,
            own_weight,
            tx,
        }
    }
}

impl Encode for BodyRecord<'_> {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.order.encode(w);
        self.own_weight.encode(w);
        self.tx.encode(w);
    }
}

/// `(order, own_weight, transaction)` from a body record.
fn decode_body(bytes: &[u8]) -> Result<(u64, u64, Transaction), DecodeError> {
    let mut r = Reader::new(bytes);
    let order = u64::decode(&mut r)?;
    let own = u64::decode(&mut r)?;
    let tx = Transaction::decode(&mut r)?;
    r.finish()?;
    Ok((order, own, tx))
}

/// A held transaction's body, read from the store.
pub(crate) fn read_body<S: TangleStore>(store: &S, id: &TxId) -> Option<Transaction> {
    let bytes = store.get(&StoreKey::body(id))?;
    decode_body(&bytes).ok().map(|(_, _, tx)| tx)
}

/// The changing part of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NodeState {
    weight: u64,
    status: TxStatus,
    tip: bool,
}

impl Encode for NodeState {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.weight.encode(w);
        self.status.to_byte().encode(w);
        self.tip.encode(w);
    }
}

impl Decode for NodeState {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let weight = u64::decode(r)?;
        let b = r.read_u8()?;
        let status = TxStatus::from_byte(b).ok_or(DecodeError::UnknownVariant {
            type_name: "TxStatus",
            tag: u64::from(b),
        })?;
        Ok(NodeState {
            weight,
            status,
            tip: r.read_bool()?,
        })
    }
}

impl Encode for Waiting {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.arrived.encode(w);
        self.own_weight.encode(w);
        itc_crypto::encoding::write_seq(w, &self.missing);
        self.tx.encode(w);
    }
}

impl Decode for Waiting {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let arrived = u64::decode(r)?;
        let own_weight = u64::decode(r)?;
        let missing = r.read_heapless_vec::<TxId, MAX_PARENTS>()?;
        Ok(Waiting {
            tx: Transaction::decode(r)?,
            missing,
            own_weight,
            arrived,
        })
    }
}

impl Encode for SpendEntry {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.winner.encode(w);
        itc_crypto::encoding::write_seq(w, &self.claimants);
    }
}

fn decode_spend(bytes: &[u8], max_claimants: usize) -> Result<SpendEntry, DecodeError> {
    let mut r = Reader::new(bytes);
    let winner = Option::<TxId>::decode(&mut r)?;
    let n = r.read_count(max_claimants, 32)?;
    let mut claimants = Vec::with_capacity(n);
    for _ in 0..n {
        claimants.push(TxId::decode(&mut r)?);
    }
    r.finish()?;
    Ok(SpendEntry { winner, claimants })
}

impl Encode for IssuerState {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.last_seq.encode(w);
        self.last_ts.encode(w);
        let (bucket, current, previous) = self.rate.parts();
        bucket.encode(w);
        current.encode(w);
        previous.encode(w);
    }
}

impl Decode for IssuerState {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(IssuerState {
            last_seq: Option::<u64>::decode(r)?,
            last_ts: u64::decode(r)?,
            rate: RateWindow::from_parts(u64::decode(r)?, u32::decode(r)?, u32::decode(r)?),
        })
    }
}

impl Encode for DagAccount {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.balance.encode(w);
        self.next_spend.encode(w);
    }
}

impl Decode for DagAccount {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(DagAccount {
            balance: u64::decode(r)?,
            next_spend: u64::decode(r)?,
        })
    }
}

/// The meta record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Meta {
    genesis_ms: u64,
    next_order: u64,
    latest: Option<TxId>,
    last_timeout_ms: u64,
    metrics: Metrics,
}

impl Encode for Meta {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        META_VERSION.encode(w);
        self.genesis_ms.encode(w);
        self.next_order.encode(w);
        self.latest.encode(w);
        self.last_timeout_ms.encode(w);
        self.metrics.attached.encode(w);
        self.metrics.confirmed.encode(w);
        self.metrics.weight_visits.encode(w);
        self.metrics.last_weight_visits.encode(w);
    }
}

impl Decode for Meta {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.read_u8()?;
        if version != META_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                type_name: "tangle meta record",
                found: u64::from(version),
            });
        }
        Ok(Meta {
            genesis_ms: u64::decode(r)?,
            next_order: u64::decode(r)?,
            latest: Option::<TxId>::decode(r)?,
            last_timeout_ms: u64::decode(r)?,
            metrics: Metrics {
                attached: u64::decode(r)?,
                confirmed: u64::decode(r)?,
                weight_visits: u64::decode(r)?,
                last_weight_visits: u64::decode(r)?,
            },
        })
    }
}

fn id_of(key: &StoreKey) -> Option<TxId> {
    let b: [u8; 32] = key.id_bytes().try_into().ok()?;
    Some(TxId(itc_crypto::Hash(b)))
}

// ---- flush --------------------------------------------------------------------------------

impl<S: TangleStore> Tangle<S> {
    /// Ends a step: turns everything it changed into one write batch and hands it to the
    /// store (nothing when the step changed nothing durable).
    pub(crate) fn finish_step(&mut self) {
        let mut batch = core::mem::take(&mut self.batch);
        for id in self.graph.take_dirty() {
            match self.graph.lookup(&id).and_then(|i| self.graph.node(i)) {
                Some(n) => batch.put(
                    StoreKey::node(&id),
                    &NodeState {
                        weight: n.weight,
                        status: n.status,
                        tip: n.tip,
                    },
                ),
                None => {
                    batch.delete(StoreKey::node(&id));
                    batch.delete(StoreKey::body(&id));
                }
            }
        }
        let (waiting, wanted) = self.pool.take_dirty();
        for id in waiting {
            match self.pool.waiting(&id) {
                Some(w) => batch.put(StoreKey::waiting(&id), w),
                None => batch.delete(StoreKey::waiting(&id)),
            }
        }
        for id in wanted {
            match self.pool.wanted_at(&id) {
                Some(at) => batch.put(StoreKey::wanted(&id), &at),
                None => batch.delete(StoreKey::wanted(&id)),
            }
        }
        for key in self.conflicts.take_dirty() {
            match self.conflicts.entry(&key) {
                Some(e) => batch.put(StoreKey::spend(&key), e),
                None => batch.delete(StoreKey::spend(&key)),
            }
        }
        let Dirty {
            mut issuers,
            mut accounts,
            mut snapshots,
            meta,
        } = core::mem::take(&mut self.dirty);
        issuers.sort_unstable();
        issuers.dedup();
        for k in issuers {
            match self.issuers.get(&k) {
                Some(s) => batch.put(StoreKey::issuer(&k), s),
                None => batch.delete(StoreKey::issuer(&k)),
            }
        }
        accounts.sort_unstable();
        accounts.dedup();
        for a in accounts {
            match self.balances.account(&a) {
                Some(acc) => batch.put(StoreKey::account(&a), acc),
                None => batch.delete(StoreKey::account(&a)),
            }
        }
        snapshots.sort_unstable();
        snapshots.dedup();
        for seq in snapshots {
            match self.snapshot(seq) {
                Some(s) => batch.put(StoreKey::snapshot(seq), s),
                None => batch.delete(StoreKey::snapshot(seq)),
            }
        }
        if meta || !batch.is_empty() {
            batch.put(
                StoreKey::meta(),
                &Meta {
                    genesis_ms: self.genesis_ms,
                    next_order: self.graph.next_order(),
                    latest: self.graph.latest_id(),
                    last_timeout_ms: self.last_timeout_ms,
                    metrics: self.metrics,
                },
            );
        }
        if !batch.is_empty() {
            self.store.apply(&batch);
        }
        batch.clear();
        self.batch = batch;
    }
}

// ---- restore ------------------------------------------------------------------------------

/// Everything read back from a store, before it is assembled.
#[derive(Default)]
struct Loaded {
    records: usize,
    meta: Option<Meta>,
    bodies: Vec<(TxId, u64, u64, Transaction)>,
    nodes: BTreeMap<TxId, NodeState>,
    waiting: Vec<(TxId, Waiting)>,
    wanted: Vec<(TxId, u64)>,
    spends: Vec<(SpendKey, SpendEntry)>,
    issuers: Vec<([u8; 32], IssuerState)>,
    accounts: Vec<(Address, DagAccount)>,
    snapshots: Vec<DagSnapshot>,
}

/// The bounds a store's contents must respect under `config`.
struct Bounds {
    nodes: usize,
    pool: usize,
    snapshots: usize,
    claimants: usize,
}

impl Bounds {
    fn of(config: &TangleConfig) -> Self {
        Bounds {
            nodes: config.capacity.max(TangleGenesis::roots().len()),
            pool: config.unsolid_capacity,
            snapshots: config.kept_snapshots.max(1),
            claimants: config.max_rivals.max(1).saturating_add(1),
        }
    }
}

fn corrupt(table: StoreTable) -> impl Fn(DecodeError) -> DagError {
    move |error| DagError::CorruptRecord { table, error }
}

fn bounded(table: StoreTable, len: usize, max: usize) -> Result<(), DagError> {
    if len >= max {
        return Err(DagError::StoreOverCapacity { table, max });
    }
    Ok(())
}

impl Loaded {
    fn add(&mut self, key: &[u8], value: &[u8], b: &Bounds) -> Result<(), DagError> {
        self.records += 1;
        let key = StoreKey::from_bytes(key).ok_or(DagError::StoreInconsistent(StoreTable::Meta))?;
        let table = key.table();
        let id = || id_of(&key).ok_or(DagError::StoreInconsistent(table));
        match table {
            StoreTable::Meta => {
                self.meta = Some(Meta::decode_bytes(value).map_err(corrupt(table))?);
            }
            StoreTable::Body => {
                bounded(table, self.bodies.len(), b.nodes)?;
                let (order, own, tx) = decode_body(value).map_err(corrupt(table))?;
                let id = id()?;
                if tx.id() != id {
                    return Err(DagError::StoreInconsistent(table));
                }
                self.bodies.push((id, order, own, tx));
            }
            StoreTable::Node => {
                bounded(table, self.nodes.len(), b.nodes)?;
                let st = NodeState::decode_bytes(value).map_err(corrupt(table))?;
                self.nodes.insert(id()?, st);
            }
            StoreTable::Waiting => {
                bounded(table, self.waiting.len(), b.pool)?;
                let w = Waiting::decode_bytes(value).map_err(corrupt(table))?;
                let id = id()?;
                if w.tx.id() != id {
                    return Err(DagError::StoreInconsistent(table));
                }
                self.waiting.push((id, w));
            }
            StoreTable::Wanted => {
                bounded(table, self.wanted.len(), b.pool)?;
                self.wanted
                    .push((id()?, u64::decode_bytes(value).map_err(corrupt(table))?));
            }
            StoreTable::Spend => {
                bounded(table, self.spends.len(), b.nodes)?;
                let k = key.id_bytes();
                let (from, nonce) = k
                    .split_at_checked(20)
                    .ok_or(DagError::StoreInconsistent(table))?;
                let from = Address(
                    from.try_into()
                        .map_err(|_| DagError::StoreInconsistent(table))?,
                );
                let nonce = u64::from_be_bytes(
                    nonce
                        .try_into()
                        .map_err(|_| DagError::StoreInconsistent(table))?,
                );
                let e = decode_spend(value, b.claimants).map_err(corrupt(table))?;
                self.spends.push((SpendKey { from, nonce }, e));
            }
            StoreTable::Issuer => {
                bounded(table, self.issuers.len(), b.nodes)?;
                let k: [u8; 32] = key
                    .id_bytes()
                    .try_into()
                    .map_err(|_| DagError::StoreInconsistent(table))?;
                let s = IssuerState::decode_bytes(value).map_err(corrupt(table))?;
                self.issuers.push((k, s));
            }
            StoreTable::Account => {
                let a: [u8; 20] = key
                    .id_bytes()
                    .try_into()
                    .map_err(|_| DagError::StoreInconsistent(table))?;
                let acc = DagAccount::decode_bytes(value).map_err(corrupt(table))?;
                self.accounts.push((Address(a), acc));
            }
            StoreTable::Snapshot => {
                bounded(table, self.snapshots.len(), b.snapshots)?;
                let seq = u64::from_be_bytes(
                    key.id_bytes()
                        .try_into()
                        .map_err(|_| DagError::StoreInconsistent(table))?,
                );
                let s = DagSnapshot::decode_bytes(value).map_err(corrupt(table))?;
                if s.snapshot_seq != seq {
                    return Err(DagError::StoreInconsistent(table));
                }
                self.snapshots.push(s);
            }
        }
        Ok(())
    }
}

impl<S: TangleStore> Tangle<S> {
    /// Rebuilds the tangle a store holds, exactly as it was after the last step the store
    /// received: the same tips (in the same order), weights, statuses, conflicts, waiting
    /// pool, issuer rates, balances, kept snapshots and housekeeping clock, so
    /// [`Tangle::state_digest`] is unchanged and the restored tangle continues exactly as the
    /// one that crashed would have. No event is pending afterwards (what a crash interrupted
    /// before it was acted on is recovered by peers' requests and gossip).
    ///
    /// Restored records are trusted: they were validated before they were stored, so no
    /// signature, proof of work or time check runs on them and a tangle restored after any
    /// downtime accepts new transactions (checked against their own `now_ms`) at once.
    /// Restore reads what the store holds and nothing else, which the configuration bounds
    /// (transactions, pool, requests, spend keys and issuers by `capacity` and
    /// `unsolid_capacity`, snapshots by `kept_snapshots`; accounts, like any ledger's, by the
    /// accounts that exist). It refuses a store that holds more than `config` allows
    /// ([`DagError::StoreOverCapacity`]), records that do not decode
    /// ([`DagError::CorruptRecord`]) or contradict each other
    /// ([`DagError::StoreInconsistent`]), and an empty store ([`DagError::StoreEmpty`]: start
    /// with [`Tangle::new`]). Pass the `config` and `policy` the tangle ran with.
    ///
    /// ```
    /// use itc_dag::{IssuerPolicy, IssuerProfile, MemoryStore, Payload, Tangle, TangleConfig,
    ///               TangleGenesis, TransactionBuilder};
    /// use itc_crypto::SecretKey;
    ///
    /// let policy = IssuerPolicy::new(IssuerProfile::device(0, 100));
    /// let config = TangleConfig::default();
    /// let mut tangle = Tangle::new(config, policy.clone(), TangleGenesis::default(),
    ///                              MemoryStore::default());
    /// let key = SecretKey::from_bytes(&[3u8; 32]).unwrap();
    /// let tx = TransactionBuilder::new(key.public_key(), 0, 1_000)
    ///     .parents(&TangleGenesis::roots()).unwrap()
    ///     .payload(Payload::data(b"21.5C").unwrap())
    ///     .sign(&key).unwrap();
    /// tangle.handle_transaction(tx, 1_000).unwrap();
    /// // The process dies; the store is what survives it.
    /// let disk: MemoryStore = tangle.store().clone();
    /// let restored = Tangle::restore(config, policy, disk).unwrap();
    /// assert_eq!(restored.state_digest(), tangle.state_digest());
    /// ```
    pub fn restore(config: TangleConfig, policy: IssuerPolicy, store: S) -> Result<Self, DagError> {
        let bounds = Bounds::of(&config);
        let mut loaded = Loaded::default();
        let mut failure = None;
        store.scan(&mut |k, v| {
            if failure.is_none() {
                if let Err(e) = loaded.add(k, v, &bounds) {
                    failure = Some(e);
                }
            }
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
        if loaded.records == 0 {
            return Err(DagError::StoreEmpty);
        }
        let meta = loaded
            .meta
            .ok_or(DagError::StoreInconsistent(StoreTable::Meta))?;

        // Kept snapshots: consecutive, oldest first, at least one.
        loaded.snapshots.sort_unstable_by_key(|s| s.snapshot_seq);
        let consecutive = loaded
            .snapshots
            .windows(2)
            .all(|w| matches!(w, [a, b] if a.snapshot_seq.checked_add(1) == Some(b.snapshot_seq)));
        let Some(latest) = loaded.snapshots.last() else {
            return Err(DagError::StoreInconsistent(StoreTable::Snapshot));
        };
        if !consecutive {
            return Err(DagError::StoreInconsistent(StoreTable::Snapshot));
        }
        let entry = latest.tips.clone();

        // Nodes, in attach order: the genesis roots, then every stored body.
        let mut nodes: Vec<(Node, heapless::Vec<TxId, MAX_PARENTS>)> =
            Vec::with_capacity(loaded.bodies.len() + 2);
        for (order, id) in (0u64..).zip(TangleGenesis::roots()) {
            let st = loaded
                .nodes
                .remove(&id)
                .ok_or(DagError::StoreInconsistent(StoreTable::Node))?;
            let mut n = Node::new(id, meta.genesis_ms, 0, st.status);
            n.order = order;
            n.weight = st.weight;
            n.tip = st.tip;
            nodes.push((n, heapless::Vec::new()));
        }
        for (id, order, own, tx) in loaded.bodies {
            let st = loaded
                .nodes
                .remove(&id)
                .ok_or(DagError::StoreInconsistent(StoreTable::Body))?;
            let mut n = Node::new(id, tx.timestamp(), own, st.status);
            n.order = order;
            n.weight = st.weight;
            n.tip = st.tip;
            n.spend = tx.payload().as_transfer().map(|t| SpendKey {
                from: tx.issuer_address(),
                nonce: t.spend_nonce,
            });
            let parents = tx.parents().iter().copied().collect();
            nodes.push((n, parents));
        }
        if !loaded.nodes.is_empty() {
            return Err(DagError::StoreInconsistent(StoreTable::Node));
        }
        nodes.sort_unstable_by_key(|(n, _)| n.order);
        if nodes
            .windows(2)
            .any(|w| matches!(w, [a, b] if a.0.order == b.0.order))
        {
            return Err(DagError::StoreInconsistent(StoreTable::Body));
        }
        let mut graph = Graph::new(config.max_parent_age_ms);
        for (node, parent_ids) in nodes {
            let order = node.order;
            let parents: heapless::Vec<NodeIdx, MAX_PARENTS> = parent_ids
                .iter()
                .filter_map(|p| graph.lookup(p))
                .filter(|&p| graph.node(p).is_some_and(|pn| pn.order < order))
                .collect();
            let is_root = TangleGenesis::roots().contains(&node.id);
            let i = graph.restore_node(node, &parents);
            if is_root {
                graph.add_root(i);
            }
        }
        graph.finish_restore(meta.next_order, meta.latest, &entry);

        let mut pool = UnsolidPool::new(config.unsolid_capacity);
        for (id, w) in loaded.waiting {
            pool.restore_waiting(id, w);
        }
        for (id, at) in loaded.wanted {
            pool.restore_wanted(id, at);
        }
        pool.take_dirty();
        let mut conflicts = ConflictRegistry::new(config.max_rivals);
        for (k, e) in loaded.spends {
            conflicts.restore(k, e);
        }
        let mut balances = DagBalances::default();
        for (a, acc) in loaded.accounts {
            balances.restore_account(a, acc);
        }
        Ok(Tangle {
            config,
            policy,
            store,
            graph,
            conflicts,
            balances,
            issuers: loaded.issuers.into_iter().collect(),
            pool,
            events: VecDeque::new(),
            anchored: loaded.snapshots.into_iter().collect(),
            metrics: meta.metrics,
            genesis_ms: meta.genesis_ms,
            last_timeout_ms: meta.last_timeout_ms,
            dirty: Dirty::default(),
            batch: WriteBatch::default(),
        })
    }
}
