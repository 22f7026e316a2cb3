//! Storage behind traits: what a validator or full node keeps across a restart, read through
//! small traits and written as one [`StepWrites`] value per step.
//!
//! The core never writes by itself. Each step it takes (a block accepted, a vote signed) returns
//! the writes that step depends on, grouped in one [`StepWrites`]; the integrator commits them
//! with [`Store::commit`] — **one transaction, one fsync** — and only then lets anything of
//! that step leave the process (messages, replies, served proofs). Reads go through the
//! traits, so an integrator implements them once over its engine (`itc-node` over redb) and the
//! in-memory [`MemoryStore`] serves tests and simulations.
//!
//! | trait | holds |
//! |---|---|
//! | [`BlockStore`] | the genesis header, certified blocks by height, validator sets by hash, the header accumulator's nodes |
//! | [`SafetyStore`] | the PBFT safety record, as opaque bytes (the replica's own encoding) |
//! | [`SnapshotStore`] | the latest ledger snapshot and the height it is at |
//! | [`ReceiptStore`] | receipts by transaction id |
//! | [`TangleStore`] | the tangle's durable state, as opaque bytes (placeholder for the DAG's restore API) |
//!
//! ```
//! use itc_chain::store::{BlockStore, MemoryStore, SnapshotStore, StepWrites, Store, StoredSnapshot};
//! use itc_crypto::Hash;
//! use itc_pbft::BlockHeader;
//!
//! let mut store = MemoryStore::new();
//! let mut writes = StepWrites::new();
//! writes.set_genesis(BlockHeader::genesis(Hash::ZERO, Hash([1; 32]), 1_000));
//! writes.set_snapshot(StoredSnapshot { height: 0, state_root: Hash::ZERO, bytes: vec![1, 2, 3] });
//! // The integrator's loop: commit the step's writes in one transaction, then act on the step.
//! store.commit(writes).unwrap();
//! assert_eq!(store.tip_height().unwrap(), Some(0));
//! assert_eq!(store.snapshot().unwrap().unwrap().bytes, vec![1, 2, 3]);
//! ```

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::convert::Infallible;
use core::fmt;

use itc_crypto::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::quorum::ValidatorSet;
use itc_crypto::Hash;
use itc_pbft::{BlockHeader, CertifiedBlock};

/// Largest ledger snapshot [`StoredSnapshot`] decodes (1 GiB; the ledger's own
/// `SnapshotLimits` bound what is inside).
pub const MAX_SNAPSHOT_BYTES: usize = 1 << 30;

/// Position of a node in the header accumulator (a Merkle Mountain Range over header hashes):
/// level 0 holds the leaves (leaf `i` is the header at height `i`), level `l` the node over
/// leaves `index·2ˡ .. (index+1)·2ˡ`. Nodes are written once, when complete, and never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HistoryNodeId {
    /// Height of the node in its mountain (0 = a leaf).
    pub level: u8,
    /// Index of the node within its level.
    pub index: u64,
}

/// Where a transaction landed and how it ended: what [`ReceiptStore`] keeps by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredReceipt {
    /// The transaction's id (`itc_ledger` `SignedTransaction::id`, or the tagged hash of
    /// malformed bytes).
    pub tx_id: Hash,
    /// Height of the block that carried it.
    pub height: u64,
    /// Its position in that block's batch.
    pub position: u32,
    /// 0 if applied, else the ledger's stable `TxError::code`.
    pub code: u16,
}

impl StoredReceipt {
    /// The stored receipts of a block executed at `height` (`BlockOutcome::receipts`, in batch
    /// order): the one conversion a validator and a full node both use.
    pub fn for_block(
        height: u64,
        receipts: &[itc_ledger::Receipt],
    ) -> impl Iterator<Item = StoredReceipt> + '_ {
        receipts
            .iter()
            .enumerate()
            .map(move |(i, r)| StoredReceipt {
                tx_id: r.tx_id,
                height,
                position: u32::try_from(i).unwrap_or(u32::MAX),
                code: r.committed().code,
            })
    }

    /// Whether this receipt replaces `old` for the same id: an applied transaction's receipt is
    /// kept for good (a later replay of the same bytes fails and must not hide it); a failed
    /// one is replaced by any later receipt. Every [`Store`] implementation follows this rule.
    pub fn supersedes(&self, old: &StoredReceipt) -> bool {
        old.code != 0
    }
}

impl Encode for StoredReceipt {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.tx_id.encode(w);
        self.height.encode(w);
        self.position.encode(w);
        self.code.encode(w);
    }
    fn encoded_len(&self) -> usize {
        46
    }
}

impl Decode for StoredReceipt {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(StoredReceipt {
            tx_id: Hash::decode(r)?,
            height: u64::decode(r)?,
            position: u32::decode(r)?,
            code: u16::decode(r)?,
        })
    }
}

/// A ledger snapshot (`itc_ledger`'s canonical encoding) and the height it is at: the state
/// after executing the block at `height`, whose root is `state_root` (the next header carries
/// it). Restart = restore it, then replay the stored blocks after `height`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSnapshot {
    /// Height of the last block executed into the snapshot (0 = genesis).
    pub height: u64,
    /// The snapshot's state root.
    pub state_root: Hash,
    /// `itc_ledger::Ledger::encode_snapshot` bytes.
    pub bytes: Vec<u8>,
}

impl Encode for StoredSnapshot {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.height.encode(w);
        self.state_root.encode(w);
        itc_crypto::encoding::write_bytes(w, &self.bytes);
    }
}

impl Decode for StoredSnapshot {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(StoredSnapshot {
            height: u64::decode(r)?,
            state_root: Hash::decode(r)?,
            bytes: r.read_byte_vec(MAX_SNAPSHOT_BYTES)?,
        })
    }
}

/// The PBFT safety record as stored: a base record and the facts appended since, each in the
/// replica's own encoding (opaque here, so the replica can change its encoding freely). A
/// restarted replica folds `facts` into `record`, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SafetyLog {
    /// The last whole record written (`None` before the first).
    pub record: Option<Vec<u8>>,
    /// Facts appended after it, oldest first.
    pub facts: Vec<Vec<u8>>,
}

/// How one step changes the safety log: optionally replace the whole record (which clears the
/// appended facts), then append facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SafetyUpdate {
    /// A new whole record (compaction), applied first.
    pub replace: Option<Vec<u8>>,
    /// Facts to append, in order.
    pub append: Vec<Vec<u8>>,
}

impl SafetyLog {
    /// Applies an update: the one rule every [`Store`] follows for the safety log.
    pub fn apply(&mut self, update: &SafetyUpdate) {
        if let Some(record) = &update.replace {
            self.record = Some(record.clone());
            self.facts.clear();
        }
        self.facts.extend(update.append.iter().cloned());
    }
}

/// Everything one step must make durable, grouped so it is committed as **one** transaction
/// with **one** fsync ([`Store::commit`]).
///
/// **The rule: nothing of a step leaves the process before its writes are durable.** A vote
/// sent before the safety fact protecting it is on disk lets a crash turn an honest validator
/// into an equivocator; a proof served for a block the store does not yet hold is a proof the
/// node may deny after a restart. So the integrator's loop is always: feed an input → take the
/// step's output → `store.commit(output.writes)` → fsync → only then send, reply, serve.
///
/// Several steps' writes may be merged ([`StepWrites::merge`]) and committed together, as long
/// as no output of any of them has left yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use = "a step's writes must be committed before anything of the step leaves"]
pub struct StepWrites {
    genesis: Option<BlockHeader>,
    blocks: Vec<CertifiedBlock>,
    validator_sets: Vec<ValidatorSet>,
    history_nodes: Vec<(HistoryNodeId, Hash)>,
    receipts: Vec<StoredReceipt>,
    snapshot: Option<StoredSnapshot>,
    safety: Option<SafetyUpdate>,
    tangle: Option<Vec<u8>>,
}

impl StepWrites {
    /// No writes.
    pub fn new() -> Self {
        Self::default()
    }

    /// True if the step has nothing to persist (no fsync needed).
    pub fn is_empty(&self) -> bool {
        self.genesis.is_none()
            && self.blocks.is_empty()
            && self.validator_sets.is_empty()
            && self.history_nodes.is_empty()
            && self.receipts.is_empty()
            && self.snapshot.is_none()
            && self.safety.is_none()
            && self.tangle.is_none()
    }

    /// The genesis header, written once when a chain is created.
    pub fn genesis(&self) -> Option<&BlockHeader> {
        self.genesis.as_ref()
    }

    /// Certified blocks to store by height, ascending.
    pub fn blocks(&self) -> &[CertifiedBlock] {
        &self.blocks
    }

    /// Validator sets to store by hash (each set the chain named, once).
    pub fn validator_sets(&self) -> &[ValidatorSet] {
        &self.validator_sets
    }

    /// Header-accumulator nodes completed by this step.
    pub fn history_nodes(&self) -> &[(HistoryNodeId, Hash)] {
        &self.history_nodes
    }

    /// Receipts to store by transaction id (apply [`StoredReceipt::supersedes`]).
    pub fn receipts(&self) -> &[StoredReceipt] {
        &self.receipts
    }

    /// A ledger snapshot replacing the stored one.
    pub fn snapshot(&self) -> Option<&StoredSnapshot> {
        self.snapshot.as_ref()
    }

    /// The safety-log update (apply with [`SafetyLog::apply`]).
    pub fn safety(&self) -> Option<&SafetyUpdate> {
        self.safety.as_ref()
    }

    /// The tangle's durable state, replacing the stored one.
    pub fn tangle(&self) -> Option<&[u8]> {
        self.tangle.as_deref()
    }

    /// Records the genesis header.
    pub fn set_genesis(&mut self, header: BlockHeader) {
        self.genesis = Some(header);
    }

    /// Adds a certified block.
    pub fn push_block(&mut self, block: CertifiedBlock) {
        self.blocks.push(block);
    }

    /// Adds a validator set.
    pub fn push_validator_set(&mut self, set: ValidatorSet) {
        self.validator_sets.push(set);
    }

    /// Adds accumulator nodes.
    pub fn extend_history_nodes(&mut self, nodes: impl IntoIterator<Item = (HistoryNodeId, Hash)>) {
        self.history_nodes.extend(nodes);
    }

    /// Adds receipts.
    pub fn extend_receipts(&mut self, receipts: impl IntoIterator<Item = StoredReceipt>) {
        self.receipts.extend(receipts);
    }

    /// Replaces the stored ledger snapshot.
    pub fn set_snapshot(&mut self, snapshot: StoredSnapshot) {
        self.snapshot = Some(snapshot);
    }

    /// Appends one safety fact (the replica's encoding of a `Durable`).
    pub fn push_safety_fact(&mut self, fact: Vec<u8>) {
        self.safety
            .get_or_insert_with(SafetyUpdate::default)
            .append
            .push(fact);
    }

    /// Replaces the whole safety record (compaction); facts pushed after this are appended to
    /// the new record.
    pub fn replace_safety_record(&mut self, record: Vec<u8>) {
        self.safety = Some(SafetyUpdate {
            replace: Some(record),
            append: Vec::new(),
        });
    }

    /// Replaces the tangle's durable state.
    pub fn set_tangle(&mut self, state: Vec<u8>) {
        self.tangle = Some(state);
    }

    /// Appends a later step's writes to these (commit both in one transaction): lists are
    /// concatenated, replaced values take the later step's, safety updates compose in order.
    pub fn merge(&mut self, later: StepWrites) {
        if later.genesis.is_some() {
            self.genesis = later.genesis;
        }
        self.blocks.extend(later.blocks);
        self.validator_sets.extend(later.validator_sets);
        self.history_nodes.extend(later.history_nodes);
        self.receipts.extend(later.receipts);
        if later.snapshot.is_some() {
            self.snapshot = later.snapshot;
        }
        if let Some(update) = later.safety {
            if update.replace.is_some() {
                self.safety = Some(update);
            } else {
                self.safety
                    .get_or_insert_with(SafetyUpdate::default)
                    .append
                    .extend(update.append);
            }
        }
        if later.tangle.is_some() {
            self.tangle = later.tangle;
        }
    }
}

/// What every store trait shares: the error of the integrator's engine (I/O, a corrupt
/// record). The core passes it through untouched, so no detail is lost.
pub trait StoreBase {
    /// The engine's error (`core::convert::Infallible` for [`MemoryStore`]).
    type Error: fmt::Debug;
}

/// Blocks and certificates by height, validator sets by hash, the header accumulator.
pub trait BlockStore: StoreBase {
    /// The genesis header (height 0), if the chain was created.
    fn genesis(&self) -> Result<Option<BlockHeader>, Self::Error>;

    /// The certified block at `height ≥ 1`.
    fn block(&self, height: u64) -> Result<Option<CertifiedBlock>, Self::Error>;

    /// The header at `height` (genesis for 0). Override to read a headers table instead of
    /// whole blocks.
    fn header(&self, height: u64) -> Result<Option<BlockHeader>, Self::Error> {
        if height == 0 {
            self.genesis()
        } else {
            Ok(self.block(height)?.map(|b| b.header))
        }
    }

    /// Height of the highest stored block (0 if only genesis, `None` for an empty store).
    fn tip_height(&self) -> Result<Option<u64>, Self::Error>;

    /// A validator set by its hash.
    fn validator_set(&self, hash: &Hash) -> Result<Option<ValidatorSet>, Self::Error>;

    /// A node of the header accumulator.
    fn history_node(&self, id: HistoryNodeId) -> Result<Option<Hash>, Self::Error>;
}

/// The PBFT safety record, as opaque bytes.
pub trait SafetyStore: StoreBase {
    /// The stored log (empty if nothing was written).
    fn safety(&self) -> Result<SafetyLog, Self::Error>;
}

/// The latest ledger snapshot.
pub trait SnapshotStore: StoreBase {
    /// The stored snapshot, if any.
    fn snapshot(&self) -> Result<Option<StoredSnapshot>, Self::Error>;
}

/// Receipts by transaction id.
pub trait ReceiptStore: StoreBase {
    /// The receipt kept for `tx_id` (see [`StoredReceipt::supersedes`]).
    fn receipt(&self, tx_id: &Hash) -> Result<Option<StoredReceipt>, Self::Error>;
}

/// The tangle's durable state. A placeholder: opaque bytes the DAG's restore API will define
/// (the tangle persists itself through `itc_dag::TangleStore`).
pub trait TangleStore: StoreBase {
    /// The stored tangle state, if any.
    fn tangle(&self) -> Result<Option<Vec<u8>>, Self::Error>;
}

/// Every store in one, and the one way to write to it.
pub trait Store: BlockStore + SafetyStore + SnapshotStore + ReceiptStore + TangleStore {
    /// Makes all of `writes` durable **atomically** (one transaction, one fsync): after a crash
    /// either all of a step's writes are there or none. Return only once durable.
    fn commit(&mut self, writes: StepWrites) -> Result<(), Self::Error>;
}

/// An in-memory [`Store`] for tests, examples and simulations. `clone()` is what a disk would
/// hold at that instant (simulate a crash by dropping the node and keeping the clone).
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    genesis: Option<BlockHeader>,
    blocks: BTreeMap<u64, CertifiedBlock>,
    validator_sets: BTreeMap<Hash, ValidatorSet>,
    history_nodes: BTreeMap<HistoryNodeId, Hash>,
    receipts: BTreeMap<Hash, StoredReceipt>,
    snapshot: Option<StoredSnapshot>,
    safety: SafetyLog,
    tangle: Option<Vec<u8>>,
    commits: u64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many times [`Store::commit`] ran (one fsync each on a disk store).
    pub fn commits(&self) -> u64 {
        self.commits
    }

    /// Number of stored accumulator nodes (a measure of what moved out of RAM).
    pub fn history_node_count(&self) -> usize {
        self.history_nodes.len()
    }
}

impl StoreBase for MemoryStore {
    type Error = Infallible;
}

impl BlockStore for MemoryStore {
    fn genesis(&self) -> Result<Option<BlockHeader>, Infallible> {
        Ok(self.genesis)
    }

    fn block(&self, height: u64) -> Result<Option<CertifiedBlock>, Infallible> {
        Ok(self.blocks.get(&height).cloned())
    }

    fn header(&self, height: u64) -> Result<Option<BlockHeader>, Infallible> {
        Ok(if height == 0 {
            self.genesis
        } else {
            self.blocks.get(&height).map(|b| b.header)
        })
    }

    fn tip_height(&self) -> Result<Option<u64>, Infallible> {
        Ok(match self.blocks.last_key_value() {
            Some((h, _)) => Some(*h),
            None => self.genesis.map(|_| 0),
        })
    }

    fn validator_set(&self, hash: &Hash) -> Result<Option<ValidatorSet>, Infallible> {
        Ok(self.validator_sets.get(hash).cloned())
    }

    fn history_node(&self, id: HistoryNodeId) -> Result<Option<Hash>, Infallible> {
        Ok(self.history_nodes.get(&id).copied())
    }
}

impl SafetyStore for MemoryStore {
    fn safety(&self) -> Result<SafetyLog, Infallible> {
        Ok(self.safety.clone())
    }
}

impl SnapshotStore for MemoryStore {
    fn snapshot(&self) -> Result<Option<StoredSnapshot>, Infallible> {
        Ok(self.snapshot.clone())
    }
}

impl ReceiptStore for MemoryStore {
    fn receipt(&self, tx_id: &Hash) -> Result<Option<StoredReceipt>, Infallible> {
        Ok(self.receipts.get(tx_id).copied())
    }
}

impl TangleStore for MemoryStore {
    fn tangle(&self) -> Result<Option<Vec<u8>>, Infallible> {
        Ok(self.tangle.clone())
    }
}

impl Store for MemoryStore {
    fn commit(&mut self, writes: StepWrites) -> Result<(), Infallible> {
        let StepWrites {
            genesis,
            blocks,
            validator_sets,
            history_nodes,
            receipts,
            snapshot,
            safety,
            tangle,
        } = writes;
        if genesis.is_some() {
            self.genesis = genesis;
        }
        for block in blocks {
            self.blocks.insert(block.header.height, block);
        }
        for set in validator_sets {
            self.validator_sets.insert(set.hash(), set);
        }
        self.history_nodes.extend(history_nodes);
        for receipt in receipts {
            let keep_old = self
                .receipts
                .get(&receipt.tx_id)
                .is_some_and(|old| !receipt.supersedes(old));
            if !keep_old {
                self.receipts.insert(receipt.tx_id, receipt);
            }
        }
        if snapshot.is_some() {
            self.snapshot = snapshot;
        }
        if let Some(update) = safety {
            self.safety.apply(&update);
        }
        if tangle.is_some() {
            self.tangle = tangle;
        }
        self.commits = self.commits.saturating_add(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn receipts_keep_the_applied_one() {
        let mut store = MemoryStore::new();
        let id = Hash([1; 32]);
        let r = |height, code| StoredReceipt {
            tx_id: id,
            height,
            position: 0,
            code,
        };
        let mut w = StepWrites::new();
        w.extend_receipts([r(1, 4)]);
        store.commit(w).unwrap();
        let mut w = StepWrites::new();
        w.extend_receipts([r(2, 0)]);
        store.commit(w).unwrap();
        let mut w = StepWrites::new();
        w.extend_receipts([r(3, 4)]); // a replay fails later: the applied receipt stays
        store.commit(w).unwrap();
        assert_eq!(store.receipt(&id).unwrap(), Some(r(2, 0)));
        assert_eq!(
            StoredReceipt::decode_bytes(&r(2, 0).encode_to_vec()),
            Ok(r(2, 0))
        );
    }

    #[test]
    fn safety_updates_compose_like_one_log() {
        let mut a = StepWrites::new();
        a.push_safety_fact(vec![1]);
        let mut b = StepWrites::new();
        b.replace_safety_record(vec![9]);
        b.push_safety_fact(vec![2]);
        let mut c = StepWrites::new();
        c.push_safety_fact(vec![3]);
        // Committed one by one, or merged into one transaction: the same log.
        let mut one = MemoryStore::new();
        for w in [a.clone(), b.clone(), c.clone()] {
            one.commit(w).unwrap();
        }
        let mut merged = a;
        merged.merge(b);
        merged.merge(c);
        let mut two = MemoryStore::new();
        two.commit(merged).unwrap();
        let expected = SafetyLog {
            record: Some(vec![9]),
            facts: vec![vec![2], vec![3]],
        };
        assert_eq!(one.safety().unwrap(), expected);
        assert_eq!(two.safety().unwrap(), expected);
        assert_eq!((one.commits(), two.commits()), (3, 1));
    }

    #[test]
    fn snapshot_records_round_trip_and_are_bounded() {
        let s = StoredSnapshot {
            height: 9,
            state_root: Hash([3; 32]),
            bytes: vec![7; 100],
        };
        let bytes = s.encode_to_vec();
        assert_eq!(StoredSnapshot::decode_bytes(&bytes), Ok(s));
        assert!(StoredSnapshot::decode_bytes(&bytes[..bytes.len() - 1]).is_err());
    }
}
