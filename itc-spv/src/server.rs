//! The reference server (feature `testkit`): a chain store fed with committed blocks, and the
//! [`ProofServer`] that answers every [`Request`] a light client makes. It keeps everything in
//! memory and exists to test the light client against; a real full node is
//! `itc_chain::FullNode`, whose answers `itc-chain`'s parity test compares with these.
//!
//! The store keeps what a light client may ask about: every header (and the accumulator over
//! them), certificates, validator sets by hash, each block's batch as a Merkle tree, ledger
//! state snapshots by state root, and DAG snapshots by anchor sequence. A full node feeds it
//! as blocks commit ([`ChainStore::push_block`]); the store checks each block against the one
//! before (linkage, set hand-over, batch root), so it never serves a chain that does not hold
//! together.
//!
//! ```
//! use itc_spv::testkit::TestChain;
//! use itc_spv::{Request, Response};
//!
//! let mut chain = TestChain::new(4, 10);
//! chain.extend(3);
//! chain.ensure_certificate(&Request::CertifiedHeader { height: 2, with_validators: false });
//! let answer = chain.server().answer::<8>(&Request::CertifiedHeader { height: 2, with_validators: false });
//! assert!(matches!(answer, Response::CertifiedHeader { header, .. } if header.height == 2));
//! let none = chain.server().answer::<8>(&Request::CertifiedHeader { height: 9, with_validators: false });
//! assert!(matches!(none, Response::Unavailable(_)));
//! ```

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use itc_crypto::merkle::{leaf_hash, MerkleTree};
use itc_crypto::quorum::ValidatorSet;
use itc_crypto::{Decode, Hash, Signature};
use itc_ledger::smt::{value_hash, SparseMerkleTree};
use itc_ledger::{AnchorRecord, Ledger, StateKey, StateProof};
use itc_pbft::certificate::CommitCertificate;
use itc_pbft::header::{batch_leaf, ChainError};
use itc_pbft::BlockHeader;

use crate::client::{compact, resize};
use crate::messages::{Request, Response, MAX_HEADERS_PER_RESPONSE, MAX_STATE_VALUE};
use crate::mmr::{header_leaf, MmrError, MmrStore};

/// A certificate as a full node stores it.
pub type Certificate = CommitCertificate<Vec<Signature>>;

/// Why the store refused a block or a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The block does not extend the stored chain.
    #[error("block does not extend the chain: {0}")]
    NotAChild(ChainError),
    /// The block hands over to a set that was not supplied.
    #[error("the next validator set of block {height} is unknown")]
    UnknownNextSet {
        /// The block.
        height: u64,
    },
    /// The batch does not hash to the header's `batch_root`.
    #[error("batch does not match the batch root of block {height}")]
    BatchRootMismatch {
        /// The block.
        height: u64,
    },
    /// No header at that height.
    #[error("no block at height {height}")]
    UnknownHeight {
        /// The height.
        height: u64,
    },
    /// The accumulator refused the header.
    #[error("accumulator: {0}")]
    Accumulator(MmrError),
}

/// One request of a batch, as a leaf: `itc_pbft::header::batch_leaf` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRequest {
    /// Client id.
    pub client: u64,
    /// Client's request number.
    pub request_id: u64,
    /// The transaction bytes.
    pub payload: Vec<u8>,
}

impl BatchRequest {
    /// The Merkle leaf bytes.
    pub fn leaf_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        batch_leaf(&mut v, self.client, self.request_id, &self.payload);
        v
    }
}

impl From<&itc_pbft::request::Request> for BatchRequest {
    /// The request as PBFT ordered it (same leaf bytes: `batch_leaf` is its canonical encoding).
    fn from(r: &itc_pbft::request::Request) -> Self {
        BatchRequest {
            client: r.client.0,
            request_id: r.id,
            payload: r.payload.clone(),
        }
    }
}

/// A committed block as a full node hands it to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedBlock {
    /// The header.
    pub header: BlockHeader,
    /// Its commit certificate (may be added later with [`ChainStore::set_certificate`]).
    pub certificate: Option<Certificate>,
    /// The batch, in order.
    pub batch: Vec<BatchRequest>,
    /// The set the header hands over to, if it changes the set.
    pub next_validators: Option<ValidatorSet>,
}

/// Ledger state at one state root: the sparse Merkle tree and the values it commits to.
///
/// ```
/// use itc_crypto::{Address, Encode};
/// use itc_ledger::{Account, StateKey};
/// use itc_spv::server::StateSnapshot;
/// let key = StateKey::Account(Address([3; 20]));
/// let value = Account { balance: 1, nonce: 0 }.encode_to_vec();
/// let state = StateSnapshot::from_records([(key, value.clone())]);
/// let (found, proof) = state.prove(&key).unwrap();
/// assert_eq!(found, Some(&value[..]));
/// assert!(proof.verify_entry(&state.root(), &key, Some(&value)).is_ok());
/// ```
#[derive(Debug, Clone, Default)]
pub struct StateSnapshot {
    tree: SparseMerkleTree,
    values: BTreeMap<StateKey, Vec<u8>>,
}

impl StateSnapshot {
    /// The empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// A state holding `records` (key, encoded value).
    pub fn from_records(records: impl IntoIterator<Item = (StateKey, Vec<u8>)>) -> Self {
        let mut s = Self::new();
        for (k, v) in records {
            s.insert(k, v);
        }
        s
    }

    /// Sets a record.
    pub fn insert(&mut self, key: StateKey, value: Vec<u8>) {
        self.tree.insert_hashed(key.key_hash(), value_hash(&value));
        self.values.insert(key, value);
    }

    /// The state root.
    pub fn root(&self) -> Hash {
        self.tree.root()
    }

    /// The value of `key` (if any) and a proof of it.
    pub fn prove(&self, key: &StateKey) -> Option<(Option<&[u8]>, StateProof)> {
        let proof = self.tree.prove_hashed(&key.key_hash()).ok()?;
        Some((self.values.get(key).map(Vec::as_slice), proof))
    }
}

/// A ledger state the store can prove from: a [`StateSnapshot`] or a copy of a full node's
/// `itc_ledger::Ledger` taken after the block that produced its root.
#[derive(Debug, Clone)]
enum State {
    Snapshot(StateSnapshot),
    Ledger(Box<Ledger>),
}

impl State {
    fn prove(&self, key: &StateKey) -> Option<(Option<Vec<u8>>, StateProof)> {
        match self {
            State::Snapshot(s) => s.prove(key).map(|(v, p)| (v.map(<[u8]>::to_vec), p)),
            State::Ledger(l) => l.prove(key).ok().map(|e| (e.value, e.proof)),
        }
    }
}

/// A Merkle tree and where each leaf sits: a block's batch (keyed by leaf hash) or a DAG
/// snapshot (header leaf, then the finalised ids — the layout `itc_dag::snapshot` defines;
/// keyed by id).
#[derive(Debug, Clone)]
struct IndexedTree {
    tree: MerkleTree,
    positions: BTreeMap<Hash, usize>,
}

/// Everything a [`ProofServer`] answers from.
#[derive(Debug, Clone)]
pub struct ChainStore {
    headers: Vec<BlockHeader>,
    certificates: BTreeMap<u64, Certificate>,
    validator_sets: BTreeMap<Hash, ValidatorSet>,
    batches: BTreeMap<u64, IndexedTree>,
    states: BTreeMap<Hash, State>,
    dag_snapshots: BTreeMap<u64, IndexedTree>,
    history: MmrStore,
}

impl ChainStore {
    /// A store holding the genesis header, its validator set and the genesis state.
    pub fn new(
        genesis: BlockHeader,
        validators: ValidatorSet,
        state: StateSnapshot,
    ) -> Result<Self, StoreError> {
        let mut history = MmrStore::new();
        history
            .append(header_leaf(genesis.height, &genesis.hash()))
            .map_err(StoreError::Accumulator)?;
        let mut store = ChainStore {
            headers: alloc::vec![genesis],
            certificates: BTreeMap::new(),
            validator_sets: BTreeMap::new(),
            batches: BTreeMap::new(),
            states: BTreeMap::new(),
            dag_snapshots: BTreeMap::new(),
            history,
        };
        store.add_validator_set(validators);
        store.add_state(state);
        Ok(store)
    }

    /// The newest header.
    pub fn tip(&self) -> &BlockHeader {
        // `new` stores genesis and nothing removes headers.
        self.headers.last().unwrap_or(&EMPTY_HEADER)
    }

    /// The header at `height`.
    pub fn header(&self, height: u64) -> Option<&BlockHeader> {
        self.headers.get(usize::try_from(height).ok()?)
    }

    /// The certificate of the block at `height`, if stored.
    pub fn certificate(&self, height: u64) -> Option<&Certificate> {
        self.certificates.get(&height)
    }

    /// A validator set by hash.
    pub fn validator_set(&self, hash: &Hash) -> Option<&ValidatorSet> {
        self.validator_sets.get(hash)
    }

    /// The accumulator over heights `0..leaf_count` (a checkpoint's history).
    pub fn history_at(&self, leaf_count: u64) -> Option<crate::mmr::Mmr> {
        self.history.accumulator_at(leaf_count).ok()
    }

    /// Remembers a validator set.
    pub fn add_validator_set(&mut self, set: ValidatorSet) {
        self.validator_sets.insert(set.hash(), set);
    }

    /// Remembers a ledger state (served for every header carrying its root).
    pub fn add_state(&mut self, state: StateSnapshot) {
        self.states.insert(state.root(), State::Snapshot(state));
    }

    /// Remembers a full node's ledger as it is now (call after executing a block; its root
    /// appears in the next header). Proofs come from `Ledger::prove`.
    pub fn add_ledger(&mut self, ledger: &Ledger) {
        self.states
            .insert(ledger.root(), State::Ledger(Box::new(ledger.clone())));
    }

    /// Remembers a DAG snapshot anchored as `anchor`: its header-leaf bytes and finalised ids
    /// in canonical order (`DagSnapshot::header_leaf()` and `finalized`). Returns its root.
    pub fn add_dag_snapshot(
        &mut self,
        anchor: u64,
        header_leaf: &[u8],
        finalized: &[Hash],
    ) -> Hash {
        let mut leaves = Vec::with_capacity(finalized.len().saturating_add(1));
        leaves.push(leaf_hash(header_leaf));
        leaves.extend(finalized.iter().map(|id| leaf_hash(id.as_bytes())));
        let positions = finalized
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, i.saturating_add(1)))
            .collect();
        let tree = MerkleTree::from_leaf_hashes(leaves);
        let root = tree.root();
        self.dag_snapshots
            .insert(anchor, IndexedTree { tree, positions });
        root
    }

    /// [`ChainStore::add_dag_snapshot`] for an `itc_dag` snapshot.
    #[cfg(feature = "dag")]
    pub fn add_snapshot(&mut self, anchor: u64, snapshot: &itc_dag::DagSnapshot) -> Hash {
        let ids: Vec<Hash> = snapshot.finalized.iter().map(|id| id.0).collect();
        self.add_dag_snapshot(anchor, &snapshot.header_leaf(), &ids)
    }

    /// Appends a committed block after checking it extends the tip.
    pub fn push_block(&mut self, block: CommittedBlock) -> Result<(), StoreError> {
        let h = block.header;
        h.follows(self.tip()).map_err(StoreError::NotAChild)?;
        if h.next_validator_set_hash != h.validator_set_hash
            && !self.validator_sets.contains_key(&h.next_validator_set_hash)
            && block
                .next_validators
                .as_ref()
                .is_none_or(|s| s.hash() != h.next_validator_set_hash)
        {
            return Err(StoreError::UnknownNextSet { height: h.height });
        }
        let leaves: Vec<Vec<u8>> = block.batch.iter().map(BatchRequest::leaf_bytes).collect();
        let tree = MerkleTree::from_leaves(&leaves);
        if tree.root() != h.batch_root {
            return Err(StoreError::BatchRootMismatch { height: h.height });
        }
        self.history
            .append(header_leaf(h.height, &h.hash()))
            .map_err(StoreError::Accumulator)?;
        self.headers.push(h);
        if !tree.is_empty() {
            let positions = leaves
                .iter()
                .enumerate()
                .map(|(i, l)| (leaf_hash(l), i))
                .collect();
            self.batches
                .insert(h.height, IndexedTree { tree, positions });
        }
        if let Some(c) = block.certificate {
            self.certificates.insert(h.height, c);
        }
        if let Some(s) = block.next_validators {
            self.add_validator_set(s);
        }
        Ok(())
    }

    /// Stores (or replaces) the certificate of an existing block.
    pub fn set_certificate(
        &mut self,
        height: u64,
        certificate: Certificate,
    ) -> Result<(), StoreError> {
        if self.header(height).is_none() {
            return Err(StoreError::UnknownHeight { height });
        }
        self.certificates.insert(height, certificate);
        Ok(())
    }
}

const EMPTY_HEADER: BlockHeader = BlockHeader {
    height: 0,
    view: 0,
    previous: Hash::ZERO,
    batch_root: Hash::ZERO,
    state_root: Hash::ZERO,
    validator_set_hash: Hash::ZERO,
    next_validator_set_hash: Hash::ZERO,
    timestamp_ms: 0,
};

/// Answers light-client requests from a [`ChainStore`]. Stateless: the same request always
/// gets the same answer from the same store.
#[derive(Debug, Clone)]
pub struct ProofServer {
    store: ChainStore,
}

impl ProofServer {
    /// Serves `store`.
    pub fn new(store: ChainStore) -> Self {
        ProofServer { store }
    }

    /// The store (to feed it new blocks).
    pub fn store(&self) -> &ChainStore {
        &self.store
    }

    /// The store, mutably.
    pub fn store_mut(&mut self) -> &mut ChainStore {
        &mut self.store
    }

    /// Answers `request` for a client of validator capacity `N`; anything it cannot answer
    /// (unknown height, missing certificate, a set larger than `N`) is
    /// [`Response::Unavailable`].
    pub fn answer<const N: usize>(&self, request: &Request) -> Response<N> {
        self.try_answer(request)
            .unwrap_or(Response::Unavailable(*request))
    }

    fn try_answer<const N: usize>(&self, request: &Request) -> Option<Response<N>> {
        let s = &self.store;
        match *request {
            Request::CertifiedHeader {
                height,
                with_validators,
            } => {
                let header = *s.header(height)?;
                let certificate = compact(s.certificate(height)?).ok()?;
                let validators = if with_validators {
                    Some(resize(s.validator_set(&header.validator_set_hash)?).ok()?)
                } else {
                    None
                };
                let next_validators = if header.next_validator_set_hash != header.validator_set_hash
                {
                    Some(resize(s.validator_set(&header.next_validator_set_hash)?).ok()?)
                } else {
                    None
                };
                Some(Response::CertifiedHeader {
                    header,
                    certificate,
                    validators,
                    next_validators,
                })
            }
            Request::Headers { from, count } => {
                let n = usize::from(count).min(MAX_HEADERS_PER_RESPONSE);
                let start = usize::try_from(from).ok()?;
                let end = start.saturating_add(n).min(s.headers.len());
                let slice = s.headers.get(start..end)?;
                if slice.is_empty() {
                    return None;
                }
                Some(Response::Headers(heapless::Vec::from_slice(slice).ok()?))
            }
            Request::HeaderProof { height, leaf_count } => {
                let header = *s.header(height)?;
                let proof = s.history.prove(height, leaf_count).ok()?;
                Some(Response::HeaderProof { header, proof })
            }
            Request::StateProof { height, key } => {
                let header = s.header(height)?;
                let (value, proof) = s.states.get(&header.state_root)?.prove(&key)?;
                let value = match value {
                    None => None,
                    Some(v) if v.len() <= MAX_STATE_VALUE => {
                        Some(heapless::Vec::from_slice(&v).ok()?)
                    }
                    Some(_) => return None,
                };
                Some(Response::StateProof {
                    height,
                    key,
                    value,
                    proof,
                })
            }
            Request::TransactionProof { height, leaf } => {
                let batch = s.batches.get(&height)?;
                let proof = batch.tree.prove(*batch.positions.get(&leaf)?)?;
                Some(Response::TransactionProof {
                    height,
                    leaf,
                    proof,
                })
            }
            Request::DagTransactionProof { height, anchor, tx } => {
                let header = s.header(height)?;
                let state = s.states.get(&header.state_root)?;
                let (value, anchor_proof) = state.prove(&StateKey::Anchor(anchor))?;
                let record = AnchorRecord::decode_bytes(&value?).ok()?;
                let snapshot = s.dag_snapshots.get(&anchor)?;
                let tx_proof = snapshot.tree.prove(*snapshot.positions.get(&tx)?)?;
                Some(Response::DagTransactionProof {
                    height,
                    anchor,
                    record,
                    anchor_proof,
                    tx,
                    tx_proof,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::TestChain;
    use itc_crypto::Encode;

    #[test]
    fn pbft_requests_become_the_same_leaves() {
        let r =
            itc_pbft::request::Request::new(itc_pbft::request::ClientId(7), 3, alloc::vec![1, 2]);
        assert_eq!(BatchRequest::from(&r).leaf_bytes(), r.encode_to_vec());
    }

    #[test]
    fn the_store_refuses_blocks_that_do_not_hold_together() {
        let mut chain = TestChain::new(4, 10);
        chain.extend(1);
        let good = chain.next_header(&[]);
        let block = |header| CommittedBlock {
            header,
            certificate: None,
            batch: Vec::new(),
            next_validators: None,
        };
        let store = chain.server_mut().store_mut();
        let mut orphan = good;
        orphan.previous = Hash::ZERO;
        assert_eq!(
            store.push_block(block(orphan)),
            Err(StoreError::NotAChild(ChainError::WrongPrevious))
        );
        let mut wrong_batch = good;
        wrong_batch.batch_root = Hash([1; 32]);
        assert_eq!(
            store.push_block(block(wrong_batch)),
            Err(StoreError::BatchRootMismatch { height: 2 })
        );
        let mut unknown_next = good;
        unknown_next.next_validator_set_hash = Hash([2; 32]);
        assert_eq!(
            store.push_block(block(unknown_next)),
            Err(StoreError::UnknownNextSet { height: 2 })
        );
        assert_eq!(store.tip().height, 1);
        assert_eq!(
            store.set_certificate(5, Certificate::new(0)),
            Err(StoreError::UnknownHeight { height: 5 })
        );
    }
}
