//! Building, working and signing a transaction with no allocator — the device side.
//!
//! Order matters: choose parents and payload, [`TransactionBuilder::solve_pow`] (bounded, resumable),
//! then [`TransactionBuilder::sign`] once. PoW and signature both bind to the essence hash, so
//! changing anything after solving invalidates the nonce.

use itc_crypto::{Hash, PublicKey, Signer};

use crate::error::DagError;
use crate::pow;
use crate::tx::{
    canonical_parents, signed_message, Essence, Parents, Payload, Transaction, TxId, SIGNATURE_TAG,
    TX_VERSION,
};

/// Assembles a [`Transaction`]. Works in `no_std` without `alloc`; the whole builder lives on
/// the stack (under 1 KiB).
///
/// ```
/// use itc_dag::{Payload, TransactionBuilder, TxId};
/// use itc_crypto::{Hash, SecretKey};
/// let key = SecretKey::from_bytes(&[1u8; 32]).unwrap();
/// let mut b = TransactionBuilder::new(key.public_key(), 5, 42_000)
///     .parents(&[TxId(Hash([2; 32])), TxId(Hash([1; 32]))]).unwrap()   // sorted for you
///     .payload(Payload::data(b"t=21.5").unwrap());
/// // Spend at most 1000 hashes per call, resuming where the last call stopped.
/// let mut start = 0;
/// while b.solve_pow(6, start, 1000).is_none() { start += 1000; }
/// let tx = b.sign(&key).unwrap();
/// assert_eq!(tx.sequence(), 5);
/// assert!(tx.verify_pow().is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct TransactionBuilder {
    essence: Essence,
    nonce: u64,
}

impl TransactionBuilder {
    /// Starts a transaction by `issuer` with its next `sequence` number, stamped `timestamp` ms.
    /// Defaults: empty `Data` payload, difficulty 0, no parents (set them before signing).
    pub fn new(issuer: PublicKey, sequence: u64, timestamp: u64) -> Self {
        TransactionBuilder {
            essence: Essence {
                version: TX_VERSION,
                difficulty: 0,
                parents: Parents::new(),
                issuer,
                sequence,
                timestamp,
                payload: Payload::Data(heapless::Vec::new()),
            },
            nonce: 0,
        }
    }

    /// Sets the approved parents (2–8 distinct ids, any order; they are sorted).
    pub fn parents(mut self, ids: &[TxId]) -> Result<Self, DagError> {
        self.essence.parents = canonical_parents(ids)?;
        Ok(self)
    }

    /// Sets the payload.
    pub fn payload(mut self, payload: Payload) -> Self {
        self.essence.payload = payload;
        self
    }

    /// Declares a difficulty without solving (for difficulty 0, or a nonce found elsewhere).
    pub fn difficulty(mut self, difficulty: u8) -> Self {
        self.essence.difficulty = difficulty;
        self
    }

    /// Sets the nonce directly (e.g. solved by a co-processor).
    pub fn nonce(mut self, nonce: u64) -> Self {
        self.nonce = nonce;
        self
    }

    /// Hash of the essence as it stands (what PoW and signature bind to).
    pub fn essence_hash(&self) -> Hash {
        self.essence.hash()
    }

    /// Declares `difficulty` and tries at most `max_iters` nonces from `start_nonce`. On success
    /// the nonce is kept and returned; on `None`, call again with `start_nonce + max_iters`.
    pub fn solve_pow(&mut self, difficulty: u8, start_nonce: u64, max_iters: u64) -> Option<u64> {
        self.essence.difficulty = difficulty;
        let found = pow::solve(&self.essence.hash(), difficulty, start_nonce, max_iters)?;
        self.nonce = found;
        Some(found)
    }

    /// Signs `essence_hash ‖ nonce` and returns the finished transaction. Fails if fewer than
    /// two parents were set, if `signer` is not the declared issuer, or if the signer fails.
    pub fn sign<S: Signer + ?Sized>(self, signer: &S) -> Result<Transaction, DagError> {
        let count = self.essence.parents.len();
        if count < crate::tx::MIN_PARENTS {
            return Err(DagError::ParentCount { count });
        }
        if signer.public_key() != self.essence.issuer {
            return Err(DagError::InvalidSignature);
        }
        let msg = signed_message(&self.essence.hash(), self.nonce);
        let signature = signer.sign(SIGNATURE_TAG, &msg)?;
        Ok(Transaction {
            essence: self.essence,
            nonce: self.nonce,
            signature,
        })
    }
}
