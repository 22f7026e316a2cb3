//! Answering light clients: every [`Request`] of `itc_spv`, from the full node's RAM where the
//! data is recent and from the [`BlockStore`] where it is old.
//!
//! Stateless per request: the same request to the same node and store gets the same answer.
//! Anything the node cannot answer (a height past the tip, a state version no longer retained,
//! a set larger than the client's capacity `N`, a value over `MAX_STATE_VALUE`) is
//! [`Response::Unavailable`]; a store failure is the store's error, passed through.

use itc_crypto::quorum::{QuorumCertificate, ValidatorSet};
use itc_crypto::{Decode, Hash, Signature};
use itc_ledger::{AnchorRecord, StateKey};
use itc_pbft::certificate::CompactCommitCertificate;
use itc_pbft::{BlockHeader, CommitCertificate};
use itc_spv::messages::{MAX_HEADERS_PER_RESPONSE, MAX_STATE_VALUE};
use itc_spv::{Request, Response};

use crate::accumulator;
use crate::full_node::{Certificate, CommittedBlock, FullNode};
use crate::store::BlockStore;

/// Copies a certificate into a client's fixed capacity (`None` if it has more than `N` votes).
fn compact<const N: usize>(c: &Certificate) -> Option<CompactCommitCertificate<N>> {
    let mut q = QuorumCertificate::<heapless::Vec<Signature, N>>::new();
    for (index, sig) in c.votes().iter() {
        q.insert(index, *sig).ok()?;
    }
    Some(CommitCertificate::from_votes(c.view(), q))
}

/// What an answer needs: `Ok(None)` becomes `Unavailable`.
type Lookup<T, E> = Result<Option<T>, E>;

impl FullNode {
    /// Answers `request` for a light client of validator capacity `N`, reading old data from
    /// `store` (which must hold every step's committed writes).
    ///
    /// ```
    /// use itc_chain::full_node::{FullNode, FullNodeConfig};
    /// use itc_chain::store::{MemoryStore, Store};
    /// use itc_chain::testkit::TestChain;
    /// use itc_spv::{Request, Response};
    ///
    /// let mut chain = TestChain::new(4, 8, &[]);
    /// let mut store = MemoryStore::new();
    /// let (mut node, w) = FullNode::new(FullNodeConfig::new(8), chain.genesis_state(), chain.genesis_time_ms()).unwrap();
    /// store.commit(w).unwrap();
    /// store.commit(node.handle_block(chain.next_block(vec![])).unwrap().writes).unwrap();
    /// let far = node.answer::<8, _>(&store, &Request::Headers { from: 5, count: 2 }).unwrap();
    /// assert!(matches!(far, Response::Unavailable(_)));
    /// ```
    pub fn answer<const N: usize, S: BlockStore>(
        &self,
        store: &S,
        request: &Request,
    ) -> Result<Response<N>, S::Error> {
        Ok(self
            .try_answer(store, request)?
            .unwrap_or(Response::Unavailable(*request)))
    }

    fn try_answer<const N: usize, S: BlockStore>(
        &self,
        store: &S,
        request: &Request,
    ) -> Lookup<Response<N>, S::Error> {
        match *request {
            Request::CertifiedHeader {
                height,
                with_validators,
            } => {
                let Some((header, certificate)) = self.certified_header(store, height)? else {
                    return Ok(None);
                };
                let Some(certificate) = compact::<N>(&certificate) else {
                    return Ok(None);
                };
                let validators = if with_validators {
                    match self.sized_set::<N, S>(store, &header.validator_set_hash)? {
                        Some(s) => Some(s),
                        None => return Ok(None),
                    }
                } else {
                    None
                };
                let next_validators = if header.next_validator_set_hash != header.validator_set_hash
                {
                    match self.sized_set::<N, S>(store, &header.next_validator_set_hash)? {
                        Some(s) => Some(s),
                        None => return Ok(None),
                    }
                } else {
                    None
                };
                Ok(Some(Response::CertifiedHeader {
                    header,
                    certificate,
                    validators,
                    next_validators,
                }))
            }
            Request::Headers { from, count } => {
                let n = usize::from(count).min(MAX_HEADERS_PER_RESPONSE);
                let mut headers = heapless::Vec::new();
                for height in (from..=self.tip().height).take(n) {
                    let Some(h) = self.header(store, height)? else {
                        return Ok(None);
                    };
                    if headers.push(h).is_err() {
                        break;
                    }
                }
                Ok((!headers.is_empty()).then_some(Response::Headers(headers)))
            }
            Request::HeaderProof { height, leaf_count } => {
                if leaf_count > self.leaf_count() {
                    return Ok(None);
                }
                let Some(header) = self.header(store, height)? else {
                    return Ok(None);
                };
                let Some(proof) = accumulator::prove(store, height, leaf_count)? else {
                    return Ok(None);
                };
                Ok(Some(Response::HeaderProof { header, proof }))
            }
            Request::StateProof { height, key } => {
                let Some(header) = self.header(store, height)? else {
                    return Ok(None);
                };
                let Some(version) = self.version_for_header(height) else {
                    return Ok(None);
                };
                if version.root() != header.state_root {
                    return Ok(None);
                }
                let Ok(entry) = version.prove(&key) else {
                    return Ok(None);
                };
                let value = match entry.value {
                    None => None,
                    Some(v) if v.len() <= MAX_STATE_VALUE => match heapless::Vec::from_slice(&v) {
                        Ok(v) => Some(v),
                        Err(()) => return Ok(None),
                    },
                    Some(_) => return Ok(None),
                };
                Ok(Some(Response::StateProof {
                    height,
                    key,
                    value,
                    proof: entry.proof,
                }))
            }
            Request::TransactionProof { height, leaf } => {
                let proof = match self.recent_block(height) {
                    Some(block) => block.prove_request(&leaf),
                    None => match store.block(height)? {
                        Some(block) => CommittedBlock::from(&block).prove_request(&leaf),
                        None => None,
                    },
                };
                Ok(proof.map(|proof| Response::TransactionProof {
                    height,
                    leaf,
                    proof,
                }))
            }
            Request::DagTransactionProof { height, anchor, tx } => {
                let Some(header) = self.header(store, height)? else {
                    return Ok(None);
                };
                let Some(version) = self.version_for_header(height) else {
                    return Ok(None);
                };
                if version.root() != header.state_root {
                    return Ok(None);
                }
                let Ok(entry) = version.prove(&StateKey::Anchor(anchor)) else {
                    return Ok(None);
                };
                let Some(Ok(record)) = entry.value.as_deref().map(AnchorRecord::decode_bytes)
                else {
                    return Ok(None);
                };
                let Some(snapshot) = self.dag_snapshot(anchor) else {
                    return Ok(None);
                };
                if snapshot.root() != record.snapshot_root {
                    return Ok(None);
                }
                let leaf = itc_dag::snapshot::tx_leaf(&itc_dag::TxId(tx));
                Ok(snapshot
                    .prove(&leaf)
                    .map(|tx_proof| Response::DagTransactionProof {
                        height,
                        anchor,
                        record,
                        anchor_proof: entry.proof,
                        tx,
                        tx_proof,
                    }))
            }
        }
    }

    /// The header at `height`, from RAM if recent.
    pub(crate) fn header<S: BlockStore>(
        &self,
        store: &S,
        height: u64,
    ) -> Lookup<BlockHeader, S::Error> {
        if height > self.tip().height {
            return Ok(None);
        }
        if height == 0 {
            return Ok(Some(*self.genesis()));
        }
        if let Some(b) = self.recent_block(height) {
            return Ok(Some(*b.header()));
        }
        store.header(height)
    }

    /// The header at `height ≥ 1` and its certificate.
    fn certified_header<S: BlockStore>(
        &self,
        store: &S,
        height: u64,
    ) -> Lookup<(BlockHeader, Certificate), S::Error> {
        if height == 0 || height > self.tip().height {
            return Ok(None);
        }
        if let Some(b) = self.recent_block(height) {
            return Ok(Some((*b.header(), b.certificate().clone())));
        }
        Ok(store.block(height)?.map(|b| (b.header, b.certificate)))
    }

    /// A validator set by hash at the client's capacity.
    fn sized_set<const N: usize, S: BlockStore>(
        &self,
        store: &S,
        hash: &Hash,
    ) -> Lookup<ValidatorSet<N>, S::Error> {
        let sized = match self.known_set(hash) {
            Some(set) => set.with_capacity::<N>().ok(),
            None => store
                .validator_set(hash)?
                .and_then(|set| set.with_capacity::<N>().ok()),
        };
        Ok(sized)
    }
}
