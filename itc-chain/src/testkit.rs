//! A deterministic certified chain, built the way validators build it (feature `testkit`): a
//! ledger executes every block, the [hand-over rule](crate::handover) decides the sets, and the
//! keys of the set in force certify each header. For tests, benches and simulations of full
//! nodes and light clients; not for production (it holds every validator's key).
//!
//! ```
//! use itc_chain::testkit::TestChain;
//! let mut chain = TestChain::new(4, 8, &[]);
//! let block = chain.next_block(vec![]);
//! assert_eq!(block.header.height, 1);
//! assert!(block.certificate.verify(&block.header, &chain.genesis_state().validators).is_ok());
//! ```

// Test support, not protocol code: its inputs are the caller's own parameters, and the few
// `expect`s state invariants of the kit itself (distinct derived keys always form a set).
#![allow(clippy::expect_used)]

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use itc_crypto::quorum::{Validator, ValidatorSet};
use itc_crypto::{keccak256, Address, Hash, SecretKey, Signer};
use itc_ledger::builder::TxBuilder;
use itc_ledger::{GenesisState, Ledger};
use itc_pbft::certificate::commit_digest;
use itc_pbft::{Batch, BlockHeader, CertifiedBlock, ClientId, Request};

use crate::full_node::Certificate;
use crate::handover::Handover;

/// Chain id of test chains.
pub const CHAIN_ID: u32 = 7;
/// Timestamp of genesis.
pub const GENESIS_MS: u64 = 1_700_000_000_000;
/// Milliseconds between blocks.
pub const BLOCK_INTERVAL_MS: u64 = 1_000;

/// The key of test validator `index` (deterministic).
pub fn validator_key(index: usize) -> SecretKey {
    let mut counter = 0u64;
    loop {
        let mut seed = Vec::with_capacity(40);
        seed.extend_from_slice(b"itc/chain/testkit");
        seed.extend_from_slice(&(index as u64).to_be_bytes());
        seed.extend_from_slice(&counter.to_be_bytes());
        if let Ok(k) = SecretKey::from_bytes(&keccak256(&seed).0) {
            return k;
        }
        counter = counter.wrapping_add(1);
    }
}

/// An equal-power set over `keys`.
pub fn set_of(keys: &[SecretKey]) -> ValidatorSet {
    ValidatorSet::new(keys.iter().map(|k| Validator {
        key: k.public_key(),
        power: 1,
    }))
    .expect("distinct derived keys form a set")
}

/// A chain built block by block. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct TestChain {
    genesis: GenesisState,
    keys: BTreeMap<Hash, Vec<SecretKey>>,
    ledger: Ledger,
    handover: Handover,
    tip: BlockHeader,
    next_request: u64,
    signers: Option<usize>,
}

impl TestChain {
    /// Genesis with `validators` equal-power validators (keys 0..validators), epochs of
    /// `interval` blocks, and `balances` funded.
    pub fn new(validators: usize, interval: u64, balances: &[(Address, u64)]) -> Self {
        let keys: Vec<SecretKey> = (0..validators.max(1)).map(validator_key).collect();
        let set = set_of(&keys);
        let genesis = GenesisState {
            chain_id: CHAIN_ID,
            validators: set.clone(),
            balances: balances.to_vec(),
            vendors: Vec::new(),
        };
        let ledger = Ledger::from_genesis(&genesis).expect("test genesis is valid");
        let tip = BlockHeader::genesis(ledger.root(), set.hash(), GENESIS_MS);
        let mut by_set = BTreeMap::new();
        by_set.insert(set.hash(), keys);
        TestChain {
            handover: Handover::new(interval, set),
            genesis,
            keys: by_set,
            ledger,
            tip,
            next_request: 1,
            signers: None,
        }
    }

    /// The ledger genesis.
    pub fn genesis_state(&self) -> &GenesisState {
        &self.genesis
    }

    /// The genesis timestamp.
    pub fn genesis_time_ms(&self) -> u64 {
        GENESIS_MS
    }

    /// A transaction builder for this chain.
    pub fn builder(&self) -> TxBuilder {
        TxBuilder::new(CHAIN_ID)
    }

    /// The validators' ledger after the tip block.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The newest header.
    pub fn tip(&self) -> &BlockHeader {
        &self.tip
    }

    /// The hand-over state (the set certifying the next block).
    pub fn handover(&self) -> &Handover {
        &self.handover
    }

    /// The keys of the set that certifies the next block.
    pub fn keys_in_force(&self) -> &[SecretKey] {
        self.keys_of(&self.handover.in_force_hash())
    }

    /// The keys of the set the ledger holds now (they certify system transactions).
    pub fn ledger_keys(&self) -> &[SecretKey] {
        self.keys_of(&self.ledger.validator_set().hash())
    }

    /// The keys of a set this chain knows.
    pub fn keys_of(&self, set_hash: &Hash) -> &[SecretKey] {
        self.keys.get(set_hash).map_or(&[], Vec::as_slice)
    }

    /// Certify with only the first `n` keys of each set from now on (`None`: all).
    pub fn sign_with(&mut self, n: Option<usize>) {
        self.signers = n;
    }

    /// A `SetValidators` to the equal-power set over `keys`, certified by the ledger's current
    /// set (the chain remembers `keys` to certify with once the set is in force).
    pub fn rotation(&mut self, keys: Vec<SecretKey>) -> Vec<u8> {
        let next = set_of(&keys);
        let epoch = self.ledger.validator_epoch().saturating_add(1);
        let current = self.ledger.validator_set().clone();
        let signers = self.ledger_keys().to_vec();
        self.keys.insert(next.hash(), keys);
        let tx = self
            .builder()
            .set_validators(epoch, next, &current, &signers)
            .expect("current keys certify");
        itc_crypto::Encode::encode_to_vec(&tx)
    }

    /// The header the next block over `batch` gets.
    pub fn next_header(&self, batch: &Batch) -> BlockHeader {
        let height = self.tip.height.saturating_add(1);
        BlockHeader {
            height,
            view: 0,
            previous: self.tip.hash(),
            batch_root: batch.root(),
            state_root: self.ledger.root(),
            validator_set_hash: self.handover.in_force_hash(),
            next_validator_set_hash: self.handover.expected_next_hash(height),
            timestamp_ms: self.tip.timestamp_ms.saturating_add(BLOCK_INTERVAL_MS),
        }
    }

    /// A commit certificate for `header` by the set in force (all keys, or see
    /// [`TestChain::sign_with`]).
    pub fn certify(&self, header: &BlockHeader) -> Certificate {
        let set = self.handover.in_force();
        let digest = commit_digest(header.view, header.height, &header.hash());
        let mut cert = Certificate::new(header.view);
        let keys = self.keys_in_force();
        let n = self.signers.unwrap_or(keys.len()).min(keys.len());
        for k in keys.iter().take(n) {
            if let (Some(i), Ok(sig)) = (set.index_of(&k.public_key()), k.sign_digest(&digest)) {
                let _ = cert.insert(i, sig);
            }
        }
        cert
    }

    /// Builds, certifies and executes the next block over `txs` (encoded ledger
    /// transactions); returns it as validators would deliver it.
    pub fn next_block(&mut self, txs: Vec<Vec<u8>>) -> CertifiedBlock {
        let requests: Vec<Request> = txs
            .into_iter()
            .map(|payload| {
                let id = self.next_request;
                self.next_request = id.saturating_add(1);
                Request::new(ClientId(1), id, payload)
            })
            .collect();
        let batch = Batch::new(requests);
        let header = self.next_header(&batch);
        let certificate = self.certify(&header);
        let payloads: Vec<&[u8]> = batch
            .requests()
            .iter()
            .map(|r| r.payload.as_slice())
            .collect();
        let outcome = self
            .ledger
            .execute(&payloads, header.height)
            .expect("heights follow");
        self.handover.executed(
            header.height,
            &header.next_validator_set_hash,
            outcome.next_validator_set,
        );
        self.tip = header;
        CertifiedBlock {
            header,
            batch,
            certificate,
        }
    }
}
