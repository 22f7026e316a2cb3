//! A deterministic, certified test chain with a [`ProofServer`] over it — for tests, examples,
//! benches and the device SDK's simulations (feature `alloc`).
//!
//! Validator keys are derived from their index, so every run builds the same chain. A set has
//! `size` validators of power 1; epoch `e` (heights `e·L + 1 ..= (e+1)·L` for epoch length `L`)
//! is certified by validators `e .. e + size`, so exactly one validator rotates out per epoch
//! and the boundary header `e·L` hands over to the next set. Certificates are signed lazily
//! ([`TestChain::ensure_certificate`]) so a 100,000-block chain costs signatures only where a
//! client actually asks.
//!
//! ```
//! use itc_spv::testkit::TestChain;
//! let mut chain = TestChain::new(4, 100);
//! chain.extend(250);
//! assert_eq!(chain.tip_height(), 250);
//! // Sets rotate at 100 and 200.
//! let h = |n| *chain.server().store().header(n).unwrap();
//! assert_eq!(h(100).validator_set_hash, h(1).validator_set_hash);
//! assert_ne!(h(101).validator_set_hash, h(100).validator_set_hash);
//! ```

// Test support, not protocol code: its inputs are the caller's own parameters, and the few
// `expect`s below state invariants of the kit itself (distinct derived keys always form a set).
#![allow(clippy::expect_used)]

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use itc_crypto::merkle::MerkleTree;
use itc_crypto::quorum::{Validator, ValidatorSet};
use itc_crypto::{keccak256, Hash, SecretKey, Signature, Signer};
use itc_pbft::certificate::commit_digest;
use itc_pbft::BlockHeader;

use crate::client::TrustAnchor;
use crate::evidence::{CertifiedHeader, ForkEvidence};
use crate::messages::Request;
use crate::server::{
    BatchRequest, Certificate, ChainStore, CommittedBlock, ProofServer, StateSnapshot, StoreError,
};

/// Milliseconds between blocks.
pub const BLOCK_INTERVAL_MS: u64 = 1_000;
/// Timestamp of genesis.
pub const GENESIS_MS: u64 = 1_700_000_000_000;

/// A chain with rotating validator sets, built block by block.
#[derive(Debug, Clone)]
pub struct TestChain {
    keys: Vec<SecretKey>,
    /// Sets by epoch, built once (deriving public keys is the slow part of building a chain).
    sets: BTreeMap<u64, (ValidatorSet, Hash)>,
    size: usize,
    epoch_length: u64,
    server: ProofServer,
    /// State root after the last block (the next header's `state_root`).
    state_root: Hash,
}

/// The key of validator `index`: a hash of the index (deterministic, never zero in practice).
fn derive_key(index: usize) -> SecretKey {
    let mut counter = 0u64;
    loop {
        let mut seed = Vec::with_capacity(24);
        seed.extend_from_slice(b"itc/spv/testkit");
        seed.extend_from_slice(&(index as u64).to_be_bytes());
        seed.extend_from_slice(&counter.to_be_bytes());
        if let Ok(k) = SecretKey::from_bytes(&keccak256(&seed).0) {
            return k;
        }
        counter = counter.wrapping_add(1);
    }
}

impl TestChain {
    /// Genesis with `size` validators (1 ≤ size ≤ 256) and epochs of `epoch_length` blocks,
    /// and an empty ledger state.
    pub fn new(size: usize, epoch_length: u64) -> Self {
        Self::with_state(size, epoch_length, StateSnapshot::new())
    }

    /// As [`TestChain::new`], with a genesis ledger state.
    pub fn with_state(size: usize, epoch_length: u64, state: StateSnapshot) -> Self {
        let size = size.clamp(1, 256);
        let keys: Vec<SecretKey> = (0..size).map(derive_key).collect();
        let validators = keys.iter().map(|k| Validator {
            key: k.public_key(),
            power: 1,
        });
        let set = ValidatorSet::new(validators).expect("distinct derived keys form a set");
        let genesis = BlockHeader::genesis(state.root(), set.hash(), GENESIS_MS);
        let state_root = state.root();
        let store = ChainStore::new(genesis, set, state).expect("genesis always stores");
        TestChain {
            keys,
            sets: BTreeMap::new(),
            size,
            epoch_length: epoch_length.max(1),
            server: ProofServer::new(store),
            state_root,
        }
    }

    /// The epoch whose set certifies height `h` (genesis: 0).
    pub fn epoch_of(&self, height: u64) -> u64 {
        height.saturating_sub(1) / self.epoch_length
    }

    /// The keys of epoch `e`'s validators (derived on demand).
    pub fn keys_of_epoch(&mut self, epoch: u64) -> &[SecretKey] {
        let first = usize::try_from(epoch).unwrap_or(usize::MAX / 2);
        let end = first.saturating_add(self.size);
        while self.keys.len() < end {
            self.keys.push(derive_key(self.keys.len()));
        }
        self.keys.get(first..end).unwrap_or_default()
    }

    /// The validator set of epoch `e` and its hash, built once.
    fn epoch_set(&mut self, epoch: u64) -> &(ValidatorSet, Hash) {
        if !self.sets.contains_key(&epoch) {
            let validators: Vec<Validator> = self
                .keys_of_epoch(epoch)
                .iter()
                .map(|k| Validator {
                    key: k.public_key(),
                    power: 1,
                })
                .collect();
            let set = ValidatorSet::new(validators).expect("distinct derived keys form a set");
            let hash = set.hash();
            self.sets.insert(epoch, (set, hash));
        }
        self.sets.get(&epoch).expect("inserted above")
    }

    /// The validator set of epoch `e`.
    pub fn set_of_epoch(&mut self, epoch: u64) -> ValidatorSet {
        self.epoch_set(epoch).0.clone()
    }

    /// The hash of epoch `e`'s validator set.
    pub fn set_hash_of_epoch(&mut self, epoch: u64) -> Hash {
        self.epoch_set(epoch).1
    }

    /// Height of the newest block.
    pub fn tip_height(&self) -> u64 {
        self.server.store().tip().height
    }

    /// A time just after the newest block (what a synced device's clock would say).
    pub fn now_ms(&self) -> u64 {
        self.server.store().tip().timestamp_ms.saturating_add(1)
    }

    /// The proof server over the chain.
    pub fn server(&self) -> &ProofServer {
        &self.server
    }

    /// The proof server, mutably.
    pub fn server_mut(&mut self) -> &mut ProofServer {
        &mut self.server
    }

    /// The genesis trust anchor.
    pub fn anchor<const N: usize>(&mut self) -> TrustAnchor<N> {
        self.checkpoint(0)
    }

    /// A checkpoint anchor at `height` (what firmware would ship).
    pub fn checkpoint<const N: usize>(&mut self, height: u64) -> TrustAnchor<N> {
        let header = self
            .server
            .store()
            .header(height)
            .copied()
            .unwrap_or_else(|| *self.server.store().tip());
        let next = self.set_of_epoch(self.epoch_of(header.height.saturating_add(1)));
        TrustAnchor {
            header,
            next_validators: next
                .with_capacity()
                .expect("the client's capacity must hold the test chain's sets"),
            history: self
                .server
                .store()
                .history_at(header.height)
                .unwrap_or_default(),
        }
    }

    /// The next header over `batch` (not stored).
    pub fn next_header(&mut self, batch: &[BatchRequest]) -> BlockHeader {
        let tip = *self.server.store().tip();
        let height = tip.height.saturating_add(1);
        let own = self.set_hash_of_epoch(self.epoch_of(height));
        let next = self.set_hash_of_epoch(self.epoch_of(height.saturating_add(1)));
        let leaves: Vec<Vec<u8>> = batch.iter().map(BatchRequest::leaf_bytes).collect();
        BlockHeader {
            height,
            view: 0,
            previous: tip.hash(),
            batch_root: MerkleTree::from_leaves(&leaves).root(),
            state_root: self.state_root,
            validator_set_hash: own,
            next_validator_set_hash: next,
            timestamp_ms: tip.timestamp_ms.saturating_add(BLOCK_INTERVAL_MS),
        }
    }

    /// Commits a block over `batch`; `state_after` is the ledger state after executing it
    /// (it appears in the *next* header's state root). Not certified until asked for.
    pub fn push_block(
        &mut self,
        batch: Vec<BatchRequest>,
        state_after: Option<StateSnapshot>,
    ) -> Result<BlockHeader, StoreError> {
        let header = self.next_header(&batch);
        let next_validators = (header.next_validator_set_hash != header.validator_set_hash)
            .then(|| self.set_of_epoch(self.epoch_of(header.height.saturating_add(1))));
        self.server.store_mut().push_block(CommittedBlock {
            header,
            certificate: None,
            batch,
            next_validators,
        })?;
        if let Some(state) = state_after {
            self.state_root = state.root();
            self.server.store_mut().add_state(state);
        }
        Ok(header)
    }

    /// Appends `blocks` empty blocks.
    pub fn extend(&mut self, blocks: u64) {
        for _ in 0..blocks {
            if self.push_block(Vec::new(), None).is_err() {
                return;
            }
        }
    }

    /// A certificate for `header` signed by the members at `positions` (indices into the
    /// epoch's key list) of the set that certifies it.
    pub fn sign(&mut self, header: &BlockHeader, positions: &[usize]) -> Certificate {
        let set = self.set_of_epoch(self.epoch_of(header.height));
        let digest = commit_digest(header.view, header.height, &header.hash());
        let keys: Vec<SecretKey> = self.keys_of_epoch(self.epoch_of(header.height)).to_vec();
        let mut cert = Certificate::new(header.view);
        for p in positions {
            if let Some(k) = keys.get(*p) {
                let sig: Option<Signature> = k.sign_digest(&digest).ok();
                if let (Some(i), Some(sig)) = (set.index_of(&k.public_key()), sig) {
                    let _ = cert.insert(i, sig);
                }
            }
        }
        cert
    }

    /// A certificate signed by every member of the set.
    pub fn sign_all(&mut self, header: &BlockHeader) -> Certificate {
        let all: Vec<usize> = (0..self.size).collect();
        self.sign(header, &all)
    }

    /// The certificate of the stored block at `height`, signing it now if needed.
    pub fn certificate(&mut self, height: u64) -> Option<Certificate> {
        if let Some(c) = self.server.store().certificate(height) {
            return Some(c.clone());
        }
        let header = *self.server.store().header(height)?;
        let cert = self.sign_all(&header);
        self.server
            .store_mut()
            .set_certificate(height, cert.clone())
            .ok()?;
        Some(cert)
    }

    /// Makes sure the server can answer `request` with a certificate (lazy signing).
    pub fn ensure_certificate(&mut self, request: &Request) {
        if let Request::CertifiedHeader { height, .. } = request {
            let _ = self.certificate(*height);
        }
    }

    /// A second, validly certified header at `height` (equivocation by the whole set).
    pub fn conflicting(&mut self, height: u64) -> Option<(BlockHeader, Certificate)> {
        let mut header = *self.server.store().header(height)?;
        header.batch_root = keccak256(b"itc/spv/testkit/fork");
        let cert = self.sign_all(&header);
        Some((header, cert))
    }

    /// Fork evidence at `height` and the set that equivocated.
    pub fn fork_at(&mut self, height: u64) -> (ForkEvidence<Vec<Signature>>, ValidatorSet) {
        let set = self.set_of_epoch(self.epoch_of(height));
        let ours = self.certificate(height).map(|certificate| CertifiedHeader {
            header: self.server.store().header(height).copied().unwrap_or(EMPTY),
            certificate,
        });
        let theirs = self
            .conflicting(height)
            .map(|(header, certificate)| CertifiedHeader {
                header,
                certificate,
            });
        let empty = || CertifiedHeader {
            header: EMPTY,
            certificate: Certificate::new(0),
        };
        (
            ForkEvidence::new(ours.unwrap_or_else(empty), theirs.unwrap_or_else(empty)),
            set,
        )
    }
}

const EMPTY: BlockHeader = BlockHeader {
    height: 0,
    view: 0,
    previous: Hash::ZERO,
    batch_root: Hash::ZERO,
    state_root: Hash::ZERO,
    validator_set_hash: Hash::ZERO,
    next_validator_set_hash: Hash::ZERO,
    timestamp_ms: 0,
};
