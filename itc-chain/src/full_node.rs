//! The full node: follows the chain by verifying certificates (it votes on nothing), executes
//! every block in its own ledger, and serves every light-client request
//! ([`FullNode::answer`]) — with memory bounded by its [`FullNodeConfig`], not by the chain.
//!
//! **What it checks** for each [`CertifiedBlock`], in height order, before anything changes:
//! the header extends the tip (height, parent hash, set hand-over, time, view); the set may
//! change only at an epoch boundary; the certificate verifies against the set in force at that
//! height (the [hand-over rule](crate::handover)); the batch hashes to the header's
//! `batch_root`; the header's `state_root` is the root this node's ledger reached after the
//! previous block; and a boundary header names exactly the set this node's ledger decided.
//! Any failure is a [`BlockRejected`] naming what was wrong, and the node is unchanged.
//!
//! **What it keeps in RAM**: the ledger, the last [`FullNodeConfig::retained_versions`] ledger
//! versions (structurally shared, see `itc_ledger::StateVersion`), the last
//! [`FullNodeConfig::retained_blocks`] blocks as [`CommittedBlock`]s (header, certificate, batch
//! tree), the accumulator's peaks, the sets in force and scheduled, and the last
//! [`FullNodeConfig::retained_dag_snapshots`] DAG snapshots. Everything older — headers,
//! certificates, batches, accumulator nodes, validator sets — is in the
//! [`BlockStore`], written through each step's
//! [`StepWrites`] and read back when a request needs it.
//!
//! ```
//! use itc_chain::full_node::{FullNode, FullNodeConfig};
//! use itc_chain::store::{MemoryStore, Store};
//! use itc_chain::testkit::TestChain;
//! use itc_spv::{Request, Response};
//!
//! let mut chain = TestChain::new(4, 8, &[]);
//! let mut store = MemoryStore::new();
//! let (mut node, writes) =
//!     FullNode::new(FullNodeConfig::new(8), chain.genesis_state(), chain.genesis_time_ms()).unwrap();
//! store.commit(writes).unwrap();
//! for _ in 0..3 {
//!     let accepted = node.handle_block(chain.next_block(vec![])).unwrap();
//!     store.commit(accepted.writes).unwrap(); // durable before anything of the step is served
//! }
//! let answer = node.answer::<8, _>(&store, &Request::CertifiedHeader { height: 2, with_validators: true }).unwrap();
//! assert!(matches!(answer, Response::CertifiedHeader { header, .. } if header.height == 2));
//! ```

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use itc_crypto::merkle::{InclusionProof, MerkleTree};
use itc_crypto::quorum::ValidatorSet;
use itc_crypto::{Blame, Hash};
use itc_dag::DagSnapshot;
use itc_ledger::execute::MAX_BATCH_TXS;
use itc_ledger::{
    BlockError, BlockOutcome, GenesisError, GenesisState, Ledger, SnapshotError, SnapshotLimits,
    StateHistory, StateVersion,
};
use itc_pbft::certificate::CertificateError;
use itc_pbft::header::ChainError;
use itc_pbft::message::Signatures;
use itc_pbft::{BlockHeader, CertifiedBlock, CommitCertificate};
use itc_spv::mmr::{header_leaf, Mmr, MmrError};

use crate::accumulator::{self, Accumulator};
use crate::handover::Handover;
use crate::store::{BlockStore, SnapshotStore, StepWrites, StoredReceipt, StoredSnapshot};

/// A commit certificate as blocks carry it.
pub type Certificate = CommitCertificate<Signatures>;

/// What bounds a full node's memory, and how often it snapshots its ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FullNodeConfig {
    /// The PBFT checkpoint interval `K`: validator sets change only at its multiples.
    pub checkpoint_interval: u64,
    /// Ledger versions kept for state proofs: heights `tip − R + 1 ..= tip` (at least 1).
    pub retained_versions: usize,
    /// Recent blocks kept in RAM with their batch trees (older ones are read from the store).
    pub retained_blocks: usize,
    /// Put a ledger snapshot into the step's writes every this many blocks (0 = never; a
    /// restart then replays from genesis).
    pub snapshot_interval: u64,
    /// DAG snapshots kept for DAG-transaction proofs (the newest anchors).
    pub retained_dag_snapshots: usize,
    /// Bounds on a stored ledger snapshot when restoring.
    pub snapshot_limits: SnapshotLimits,
}

impl FullNodeConfig {
    /// Defaults for checkpoint interval `k`: 64 versions, 64 blocks, a snapshot every 1,024
    /// blocks, 8 DAG snapshots.
    pub fn new(checkpoint_interval: u64) -> Self {
        FullNodeConfig {
            checkpoint_interval,
            retained_versions: 64,
            retained_blocks: 64,
            snapshot_interval: 1024,
            retained_dag_snapshots: 8,
            snapshot_limits: SnapshotLimits::default(),
        }
    }
}

/// A Merkle tree over leaf hashes and where each leaf hash sits: a block's batch (request leaf
/// hashes), or a DAG snapshot (header leaf first, then `tx_leaf` of each finalised id —
/// `itc_dag::snapshot`'s layout).
#[derive(Debug, Clone)]
pub(crate) struct IndexedTree {
    tree: MerkleTree,
    positions: BTreeMap<Hash, usize>,
}

impl IndexedTree {
    /// Indexes `leaves` (leaf hashes); `skip` leading leaves are not addressable by hash.
    fn new(leaves: Vec<Hash>, skip: usize) -> Self {
        let positions = leaves
            .iter()
            .enumerate()
            .skip(skip)
            .map(|(i, l)| (*l, i))
            .collect();
        IndexedTree {
            tree: MerkleTree::from_leaf_hashes(leaves),
            positions,
        }
    }

    pub(crate) fn root(&self) -> Hash {
        self.tree.root()
    }

    pub(crate) fn prove(&self, leaf: &Hash) -> Option<InclusionProof> {
        self.tree.prove(*self.positions.get(leaf)?)
    }
}

/// A committed block as the full node keeps it in RAM to serve proofs: the header, its
/// certificate, and the batch as an indexed Merkle tree (the payloads themselves stay in the
/// store). Built from a [`CertifiedBlock`] by `From`; holding one claims nothing — the node
/// keeps only those it verified.
#[derive(Debug, Clone)]
pub struct CommittedBlock {
    header: BlockHeader,
    certificate: Certificate,
    batch: IndexedTree,
}

impl From<&CertifiedBlock> for CommittedBlock {
    fn from(block: &CertifiedBlock) -> Self {
        let leaves = block
            .batch
            .requests()
            .iter()
            .map(itc_pbft::Request::leaf_hash)
            .collect();
        CommittedBlock {
            header: block.header,
            certificate: block.certificate.clone(),
            batch: IndexedTree::new(leaves, 0),
        }
    }
}

impl CommittedBlock {
    /// The header.
    pub fn header(&self) -> &BlockHeader {
        &self.header
    }

    /// The commit certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// Root of the batch tree (equals `header().batch_root` for a block that verified).
    pub fn batch_root(&self) -> Hash {
        self.batch.root()
    }

    /// Inclusion proof of the request with this leaf hash (`itc_pbft::Request::leaf_hash`).
    pub fn prove_request(&self, leaf: &Hash) -> Option<InclusionProof> {
        self.batch.prove(leaf)
    }
}

/// Why a block was refused. The node is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlockRejected {
    /// The block is at or below the tip (a duplicate or a late copy).
    #[error("block {height} is not above the tip {tip}")]
    Stale {
        /// The block's height.
        height: u64,
        /// The node's tip.
        tip: u64,
    },
    /// The block skips heights: feed blocks in order.
    #[error("expected block {expected}, got {found}")]
    OutOfOrder {
        /// The next height.
        expected: u64,
        /// The height given.
        found: u64,
    },
    /// The header does not extend the tip (parent hash, set hand-over, time, view, or a set
    /// change away from a boundary).
    #[error("header does not extend the tip: {0}")]
    NotAChild(ChainError),
    /// The certificate does not verify against the set in force at the block's height.
    #[error("certificate of block {height} rejected: {error}")]
    BadCertificate {
        /// The block.
        height: u64,
        /// What the certificate check said.
        error: CertificateError,
    },
    /// The batch does not hash to the header's `batch_root`.
    #[error("batch does not match the batch root of block {height}")]
    BatchRootMismatch {
        /// The block.
        height: u64,
    },
    /// A certified header carries another state root than this node's ledger reached.
    #[error("block {height} carries state root {found}, this ledger reached {expected}")]
    StateRootMismatch {
        /// The block.
        height: u64,
        /// This node's root after the previous block.
        expected: Hash,
        /// The header's.
        found: Hash,
    },
    /// A certified boundary header names another next set than this node's ledger decided.
    #[error("block {height} names next set {found}, this ledger decided {expected}")]
    UnexpectedNextValidatorSet {
        /// The block.
        height: u64,
        /// The set this node expects.
        expected: Hash,
        /// The set the header names.
        found: Hash,
    },
    /// The ledger refused the block as a whole (more transactions than it executes at once).
    #[error("ledger refused block {height}: {error}")]
    Ledger {
        /// The block.
        height: u64,
        /// The ledger's reason.
        error: BlockError,
    },
    /// The header accumulator is full (2⁶⁴ headers).
    #[error("header accumulator: {0}")]
    Accumulator(MmrError),
}

impl BlockRejected {
    /// Who must act.
    ///
    /// * [`Blame::Peer`]: the sender's block cannot be the chain — it does not link, its
    ///   certificate is forged or short, or its batch is not the one certified.
    /// * [`Blame::Ignorable`]: a block already held.
    /// * [`Blame::Local`]: blocks fed out of order, or a validly certified block that this
    ///   node's own execution disagrees with (stop and investigate: a diverged ledger, or more
    ///   than a third of the validators faulty).
    pub fn blame(&self) -> Blame {
        match self {
            BlockRejected::NotAChild(_)
            | BlockRejected::BadCertificate { .. }
            | BlockRejected::BatchRootMismatch { .. } => Blame::Peer,
            BlockRejected::Stale { .. } => Blame::Ignorable,
            BlockRejected::OutOfOrder { .. }
            | BlockRejected::StateRootMismatch { .. }
            | BlockRejected::UnexpectedNextValidatorSet { .. }
            | BlockRejected::Ledger { .. }
            | BlockRejected::Accumulator(_) => Blame::Local,
        }
    }
}

/// Why a full node could not start from genesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GenesisRejected {
    /// The genesis ledger state is invalid.
    #[error("genesis state: {0}")]
    State(GenesisError),
    /// The header accumulator refused the genesis header (cannot happen).
    #[error("header accumulator: {0}")]
    Accumulator(MmrError),
}

impl GenesisRejected {
    /// Who must act: the genesis is the operator's configuration ([`Blame::Local`]).
    pub fn blame(&self) -> Blame {
        Blame::Local
    }
}

/// Why a full node could not resume from its store. Nothing is served from a store that does
/// not hold together: the operator must repair or resync it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError<E> {
    /// The store failed.
    #[error("store: {0:?}")]
    Store(E),
    /// The genesis ledger state is invalid.
    #[error("genesis state: {0}")]
    Genesis(GenesisError),
    /// The store holds no genesis header (it was never initialised).
    #[error("store holds no genesis header")]
    MissingGenesis,
    /// The stored genesis header is not the one of this genesis state.
    #[error("stored genesis header belongs to another chain")]
    GenesisMismatch,
    /// The stored ledger snapshot does not restore.
    #[error("ledger snapshot: {0}")]
    Snapshot(SnapshotError),
    /// The snapshot is at a height the stored blocks do not reach, or its state is not the one
    /// the next stored header carries.
    #[error("ledger snapshot at height {height} does not match the stored chain")]
    SnapshotMismatch {
        /// The snapshot's height.
        height: u64,
    },
    /// A block the store reports is missing.
    #[error("stored block {0} is missing")]
    MissingBlock(u64),
    /// A validator set a stored header names is missing.
    #[error("validator set {0} is missing from the store")]
    MissingValidatorSet(Hash),
    /// Header-accumulator nodes are missing.
    #[error("header accumulator nodes below {0} are missing")]
    MissingHistory(u64),
    /// A stored block no longer verifies.
    #[error("stored block does not verify: {0}")]
    Replay(BlockRejected),
}

impl<E> RestoreError<E> {
    /// Who must act: the store is this node's own ([`Blame::Local`]).
    pub fn blame(&self) -> Blame {
        Blame::Local
    }
}

/// What accepting a block produced. Commit `writes` before serving anything of the block.
#[derive(Debug, Clone)]
#[must_use = "the writes must be committed before the block is served"]
pub struct Accepted {
    /// The step's durable writes: the block, accumulator nodes, receipts, a validator set the
    /// block decided, and every [`FullNodeConfig::snapshot_interval`] blocks a ledger snapshot.
    pub writes: StepWrites,
    /// The block's height.
    pub height: u64,
    /// Its header hash.
    pub header_hash: Hash,
    /// What executing it did (state root, receipts, a decided validator set).
    pub outcome: BlockOutcome,
}

/// The full-node core. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct FullNode {
    config: FullNodeConfig,
    genesis: BlockHeader,
    tip: BlockHeader,
    tip_hash: Hash,
    ledger: Ledger,
    versions: StateHistory,
    handover: Handover,
    accumulator: Accumulator,
    recent: VecDeque<CommittedBlock>,
    dag_snapshots: VecDeque<(u64, IndexedTree)>,
}

impl FullNode {
    /// A node at genesis: the ledger from `genesis`, the genesis header at `genesis_time_ms`
    /// (what `itc_pbft`'s genesis builds from the same state root and set). The returned writes
    /// initialise the store.
    pub fn new(
        config: FullNodeConfig,
        genesis: &GenesisState,
        genesis_time_ms: u64,
    ) -> Result<(FullNode, StepWrites), GenesisRejected> {
        let ledger = Ledger::from_genesis(genesis).map_err(GenesisRejected::State)?;
        let set = genesis.validators.clone();
        let header = BlockHeader::genesis(ledger.root(), set.hash(), genesis_time_ms);
        let mut node = FullNode::at(
            config,
            header,
            ledger,
            Handover::new(config.checkpoint_interval, set.clone()),
        );
        let hash = header.hash();
        let nodes = node
            .accumulator
            .append(header_leaf(0, &hash))
            .map_err(GenesisRejected::Accumulator)?;
        let mut writes = StepWrites::new();
        writes.set_genesis(header);
        writes.push_validator_set(set);
        writes.extend_history_nodes(nodes);
        if config.snapshot_interval > 0 {
            writes.set_snapshot(node.snapshot_record());
        }
        Ok((node, writes))
    }

    fn at(config: FullNodeConfig, tip: BlockHeader, ledger: Ledger, handover: Handover) -> Self {
        let mut versions = StateHistory::new(config.retained_versions);
        // The first version of an empty history: cannot be refused.
        let _ = versions.record(ledger.version());
        FullNode {
            config,
            genesis: tip,
            tip,
            tip_hash: tip.hash(),
            ledger,
            versions,
            handover,
            accumulator: Accumulator::new(),
            recent: VecDeque::new(),
            dag_snapshots: VecDeque::new(),
        }
    }

    /// Resumes from a store: the genesis header, the latest ledger snapshot (or `genesis` if
    /// none), then every stored block after it, re-verified and re-executed. The node ends at
    /// the store's tip with the same state root it had, and serves state proofs for the heights
    /// it replayed (up to the retention).
    pub fn restore<S: BlockStore + SnapshotStore>(
        config: FullNodeConfig,
        genesis: &GenesisState,
        store: &S,
    ) -> Result<FullNode, RestoreError<S::Error>> {
        let stored_genesis = store
            .genesis()
            .map_err(RestoreError::Store)?
            .ok_or(RestoreError::MissingGenesis)?;
        let genesis_ledger = Ledger::from_genesis(genesis).map_err(RestoreError::Genesis)?;
        let expected = BlockHeader::genesis(
            genesis_ledger.root(),
            genesis.validators.hash(),
            stored_genesis.timestamp_ms,
        );
        if expected != stored_genesis {
            return Err(RestoreError::GenesisMismatch);
        }
        let tip_height = store
            .tip_height()
            .map_err(RestoreError::Store)?
            .unwrap_or(0);
        let ledger = match store.snapshot().map_err(RestoreError::Store)? {
            None => genesis_ledger,
            Some(snapshot) => {
                let ledger = Ledger::restore(&snapshot.bytes, &config.snapshot_limits)
                    .map_err(RestoreError::Snapshot)?;
                let height = snapshot.height;
                if ledger.height() != height
                    || ledger.root() != snapshot.state_root
                    || height > tip_height
                {
                    return Err(RestoreError::SnapshotMismatch { height });
                }
                ledger
            }
        };
        let start = ledger.height();
        let header = store
            .header(start)
            .map_err(RestoreError::Store)?
            .ok_or(RestoreError::MissingBlock(start))?;
        let in_force = if start == 0 {
            genesis.validators.clone()
        } else {
            store
                .validator_set(&header.next_validator_set_hash)
                .map_err(RestoreError::Store)?
                .ok_or(RestoreError::MissingValidatorSet(
                    header.next_validator_set_hash,
                ))?
        };
        let handover =
            Handover::resume(config.checkpoint_interval, in_force, ledger.validator_set());
        let mut node = FullNode::at(config, header, ledger, handover);
        node.genesis = stored_genesis;
        node.accumulator = Accumulator::from_store(store, start.saturating_add(1))
            .map_err(RestoreError::Store)?
            .ok_or(RestoreError::MissingHistory(start.saturating_add(1)))?;
        for height in start.saturating_add(1)..=tip_height {
            let block = store
                .block(height)
                .map_err(RestoreError::Store)?
                .ok_or(RestoreError::MissingBlock(height))?;
            // The writes are in the store already.
            let _ = node.handle_block(block).map_err(RestoreError::Replay)?;
        }
        Ok(node)
    }

    /// Verifies, executes and appends the next block. On success the returned writes must be
    /// committed before anything of this block is served; on error nothing changed.
    pub fn handle_block(&mut self, block: CertifiedBlock) -> Result<Accepted, BlockRejected> {
        let header = block.header;
        let height = header.height;
        self.check(&block)?;
        let leaf = header_leaf(height, &header.hash());
        let mut accumulator = self.accumulator.clone();
        let nodes = accumulator
            .append(leaf)
            .map_err(BlockRejected::Accumulator)?;
        let payloads: Vec<&[u8]> = block
            .batch
            .requests()
            .iter()
            .map(|r| r.payload.as_slice())
            .collect();
        // Checked above: the height follows the ledger's and the batch is within its limit, so
        // the ledger executes it (a failing transaction only fails its own receipt).
        let outcome = self
            .ledger
            .execute(&payloads, height)
            .map_err(|error| BlockRejected::Ledger { height, error })?;
        // ---- accepted: everything below only records it ----
        let header_hash = header.hash();
        self.accumulator = accumulator;
        self.handover.executed(
            height,
            &header.next_validator_set_hash,
            outcome.next_validator_set.clone(),
        );
        let _ = self.versions.record(self.ledger.version());
        self.recent.push_back(CommittedBlock::from(&block));
        while self.recent.len() > self.config.retained_blocks {
            self.recent.pop_front();
        }
        self.tip = header;
        self.tip_hash = header_hash;

        let mut writes = StepWrites::new();
        writes.extend_history_nodes(nodes);
        writes.extend_receipts(
            outcome
                .receipts
                .iter()
                .enumerate()
                .map(|(i, r)| StoredReceipt {
                    tx_id: r.tx_id,
                    height,
                    position: u32::try_from(i).unwrap_or(u32::MAX),
                    code: r.committed().code,
                }),
        );
        if let Some(set) = &outcome.next_validator_set {
            writes.push_validator_set((**set).clone());
        }
        let interval = self.config.snapshot_interval;
        if interval > 0 && height % interval == 0 {
            writes.set_snapshot(self.snapshot_record());
        }
        writes.push_block(block);
        Ok(Accepted {
            writes,
            height,
            header_hash,
            outcome,
        })
    }

    /// Every check of [`FullNode::handle_block`], changing nothing.
    fn check(&self, block: &CertifiedBlock) -> Result<(), BlockRejected> {
        let header = &block.header;
        let height = header.height;
        let tip = self.tip.height;
        if height <= tip {
            return Err(BlockRejected::Stale { height, tip });
        }
        let expected = tip.saturating_add(1);
        if height != expected {
            return Err(BlockRejected::OutOfOrder {
                expected,
                found: height,
            });
        }
        header
            .extends(&self.tip, &self.tip_hash)
            .map_err(BlockRejected::NotAChild)?;
        let k = self.config.checkpoint_interval;
        if header.next_validator_set_hash != header.validator_set_hash
            && !BlockHeader::is_epoch_boundary(height, k)
        {
            return Err(BlockRejected::NotAChild(ChainError::SetChangeOffBoundary {
                height,
            }));
        }
        // `extends` checked the header names the set the tip named; the hand-over holds that
        // set (it applied the same names).
        if header.validator_set_hash != self.handover.in_force_hash() {
            return Err(BlockRejected::NotAChild(ChainError::WrongValidatorSet));
        }
        block
            .certificate
            .verify_with_set_hash_checked(header, self.handover.in_force())
            .map_err(|error| BlockRejected::BadCertificate { height, error })?;
        if block.batch.root() != header.batch_root {
            return Err(BlockRejected::BatchRootMismatch { height });
        }
        let root = self.ledger.root();
        if header.state_root != root {
            return Err(BlockRejected::StateRootMismatch {
                height,
                expected: root,
                found: header.state_root,
            });
        }
        let next = self.handover.expected_next_hash(height);
        if header.next_validator_set_hash != next {
            return Err(BlockRejected::UnexpectedNextValidatorSet {
                height,
                expected: next,
                found: header.next_validator_set_hash,
            });
        }
        if block.batch.len() > MAX_BATCH_TXS {
            return Err(BlockRejected::Ledger {
                height,
                error: BlockError::TooManyTransactions {
                    len: block.batch.len(),
                    max: MAX_BATCH_TXS,
                },
            });
        }
        Ok(())
    }

    fn snapshot_record(&self) -> StoredSnapshot {
        StoredSnapshot {
            height: self.ledger.height(),
            state_root: self.ledger.root(),
            bytes: self.ledger.encode_snapshot(),
        }
    }

    /// Keeps a DAG snapshot for DAG-transaction proofs (by its sequence, the ledger anchor's
    /// key), evicting the oldest beyond [`FullNodeConfig::retained_dag_snapshots`]. Proofs are
    /// served only while the anchored root matches. Returns the snapshot's root.
    pub fn add_dag_snapshot(&mut self, snapshot: &DagSnapshot) -> Hash {
        let mut leaves = Vec::with_capacity(snapshot.finalized.len().saturating_add(1));
        leaves.push(itc_crypto::merkle::leaf_hash(&snapshot.header_leaf()));
        leaves.extend(snapshot.finalized.iter().map(itc_dag::snapshot::tx_leaf));
        let tree = IndexedTree::new(leaves, 1);
        let root = tree.root();
        self.dag_snapshots
            .retain(|(seq, _)| *seq != snapshot.snapshot_seq);
        self.dag_snapshots.push_back((snapshot.snapshot_seq, tree));
        while self.dag_snapshots.len() > self.config.retained_dag_snapshots.max(1) {
            self.dag_snapshots.pop_front();
        }
        root
    }

    /// The configuration.
    pub fn config(&self) -> &FullNodeConfig {
        &self.config
    }

    /// The genesis header.
    pub fn genesis(&self) -> &BlockHeader {
        &self.genesis
    }

    /// The newest accepted header.
    pub fn tip(&self) -> &BlockHeader {
        &self.tip
    }

    /// Its hash.
    pub fn tip_hash(&self) -> Hash {
        self.tip_hash
    }

    /// The ledger after the tip block.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The validator-set hand-over state (the set certifying the next block, a scheduled one).
    pub fn handover(&self) -> &Handover {
        &self.handover
    }

    /// The ledger version after executing block `height`, if retained.
    pub fn version_at(&self, height: u64) -> Option<&StateVersion> {
        self.versions.at_height(height)
    }

    /// The header accumulator over heights `0 ..= tip` (peaks only).
    pub fn accumulator(&self) -> &Mmr {
        self.accumulator.mmr()
    }

    /// The accumulator over heights `0 .. leaf_count` (a checkpoint's history), from the
    /// store's nodes; `None` past the tip or if nodes are missing.
    pub fn history_at<S: BlockStore>(
        &self,
        store: &S,
        leaf_count: u64,
    ) -> Result<Option<Mmr>, S::Error> {
        if leaf_count > self.accumulator.leaf_count() {
            return Ok(None);
        }
        if leaf_count == self.accumulator.leaf_count() {
            return Ok(Some(self.accumulator.mmr().clone()));
        }
        accumulator::accumulator_at(store, leaf_count)
    }

    // ------------------------------------------------------------- lookups for serving

    pub(crate) fn recent_block(&self, height: u64) -> Option<&CommittedBlock> {
        let first = self.recent.front()?.header.height;
        let i = usize::try_from(height.checked_sub(first)?).ok()?;
        self.recent.get(i)
    }

    pub(crate) fn dag_snapshot(&self, sequence: u64) -> Option<&IndexedTree> {
        self.dag_snapshots
            .iter()
            .find(|(s, _)| *s == sequence)
            .map(|(_, t)| t)
    }

    /// The state version a header at `height` carries the root of (header `h` commits to the
    /// state after block `h − 1`; genesis to the genesis state).
    pub(crate) fn version_for_header(&self, height: u64) -> Option<&StateVersion> {
        self.versions.at_height(height.saturating_sub(1))
    }

    pub(crate) fn known_set(&self, hash: &Hash) -> Option<&ValidatorSet> {
        if *hash == self.handover.in_force_hash() {
            return Some(self.handover.in_force());
        }
        self.handover.scheduled().filter(|s| s.hash() == *hash)
    }

    pub(crate) fn leaf_count(&self) -> u64 {
        self.accumulator.leaf_count()
    }
}
