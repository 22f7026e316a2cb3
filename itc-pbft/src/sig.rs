//! The one place the replica signs and checks signatures.
//!
//! Routing every signature operation through here lets benches measure what the protocol's
//! bookkeeping costs *without* the signatures: when the crate is compiled with
//! `RUSTFLAGS="--cfg itc_pbft_insecure_no_sig"`, signing returns an all-zero signature and every
//! check passes. That switch is a compiler `cfg`, not a Cargo feature, on purpose: features are
//! unified across a workspace build, so a feature enabled by the bench crate could silently
//! leak into the node binary built in the same `cargo build`; a `--cfg` only exists when
//! someone types it into `RUSTFLAGS` for that build. [`SIGNATURE_CHECKS_ENABLED`] reports which
//! build you have, and a normal build can never turn the checks off.
//!
//! Checks are remembered in a small bounded cache: the same prepare signature reaches a
//! replica once as a message and again inside every view-change and new-view that carries a
//! prepared certificate, and re-verifying it each time would make view changes cost `O(n²)`
//! signature checks per certificate. A cache hit requires the same key, digest and signature
//! bytes, so it never accepts anything that was not verified.
//!
//! Every operation also bumps a counter ([`SigStats`]) so benches can split CPU time between
//! signature work and the rest.

use alloc::collections::{BTreeSet, VecDeque};

use itc_crypto::batch::{self, BatchError, BatchItem};
use itc_crypto::{CryptoError, Hash, PublicKey, Signature, Signer};

/// False only in a build made with `--cfg itc_pbft_insecure_no_sig` (benches only).
pub const SIGNATURE_CHECKS_ENABLED: bool = !cfg!(itc_pbft_insecure_no_sig);

/// How many verified signatures are remembered (128 bytes each).
pub const VERIFIED_CACHE_SIZE: usize = 4096;

/// Counts of signature operations a replica performed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SigStats {
    /// Signatures produced.
    pub signed: u64,
    /// Signatures checked (cryptographically).
    pub verified: u64,
    /// Checks answered from the cache of already-verified signatures.
    pub cache_hits: u64,
    /// Votes dropped because their signature failed a batch check
    /// ([`VoteCheck::AtQuorum`](crate::VoteCheck)).
    pub rejected: u64,
}

/// A verified (key, digest, signature) triple, compared exactly: no hash to compute and no
/// collision to worry about.
type Verified = ([u8; 32], [u8; 32], [u8; 64]);

/// Signs and verifies, counting, with a bounded cache of verified signatures.
#[derive(Debug, Clone, Default)]
pub struct SigChecker {
    stats: SigStats,
    seen: BTreeSet<Verified>,
    order: VecDeque<Verified>,
}

impl SigChecker {
    /// Counters so far.
    pub fn stats(&self) -> SigStats {
        self.stats
    }

    pub(crate) fn sign<S: Signer + ?Sized>(
        &mut self,
        signer: &S,
        digest: &Hash,
    ) -> Result<Signature, CryptoError> {
        self.stats.signed = self.stats.signed.saturating_add(1);
        if SIGNATURE_CHECKS_ENABLED {
            signer.sign_digest(digest)
        } else {
            Ok(Signature([0u8; 64]))
        }
    }

    /// [`SigChecker::sign`] with the digest computed only if a signature is really made
    /// (hashing the message is part of the signature work the no-signature build skips).
    pub(crate) fn sign_lazy<S: Signer + ?Sized>(
        &mut self,
        signer: &S,
        digest: impl FnOnce() -> Hash,
    ) -> Result<Signature, CryptoError> {
        if SIGNATURE_CHECKS_ENABLED {
            self.sign(signer, &digest())
        } else {
            self.stats.signed = self.stats.signed.saturating_add(1);
            Ok(Signature([0u8; 64]))
        }
    }

    /// [`SigChecker::verify`] with the digest computed only if the check really happens.
    pub(crate) fn verify_lazy(
        &mut self,
        key: &PublicKey,
        digest: impl FnOnce() -> Hash,
        sig: &Signature,
    ) -> bool {
        if SIGNATURE_CHECKS_ENABLED {
            self.verify(key, &digest(), sig)
        } else {
            self.stats.verified = self.stats.verified.saturating_add(1);
            true
        }
    }

    /// [`SigChecker::verify_remembered`] with the digest computed only if needed.
    pub(crate) fn verify_remembered_lazy(
        &mut self,
        key: &PublicKey,
        digest: impl FnOnce() -> Hash,
        sig: &Signature,
    ) -> bool {
        if SIGNATURE_CHECKS_ENABLED {
            self.verify_remembered(key, &digest(), sig)
        } else {
            self.stats.verified = self.stats.verified.saturating_add(1);
            true
        }
    }

    /// Checks a signature (no caching: for messages seen once).
    pub(crate) fn verify(&mut self, key: &PublicKey, digest: &Hash, sig: &Signature) -> bool {
        self.stats.verified = self.stats.verified.saturating_add(1);
        if SIGNATURE_CHECKS_ENABLED {
            key.verify_digest(digest, sig).is_ok()
        } else {
            true
        }
    }

    /// Checks several signatures at once (one multi-scalar multiplication with
    /// [`itc_crypto::batch`], about 0.4× the cost of checking them one by one) and remembers
    /// them. `Err(i)`: item `i` is the first that does not verify.
    pub(crate) fn verify_batch(&mut self, items: &[BatchItem]) -> Result<(), usize> {
        if items.is_empty() {
            return Ok(());
        }
        self.stats.verified = self.stats.verified.saturating_add(items.len() as u64);
        if SIGNATURE_CHECKS_ENABLED {
            if let Err(BatchError::InvalidSignatures { first, .. }) = batch::verify_all(items) {
                return Err(first);
            }
        }
        for item in items {
            self.remember(cache_id(&item.public_key, &item.digest, &item.signature));
        }
        Ok(())
    }

    /// Checks a batch of votes in one multi-scalar multiplication and returns the indices of
    /// the bad ones (bisection finds them when the batch fails; nothing is remembered: each
    /// vote arrives once).
    pub(crate) fn verify_votes(&mut self, items: &[BatchItem]) -> alloc::vec::Vec<usize> {
        self.stats.verified = self.stats.verified.saturating_add(items.len() as u64);
        if !SIGNATURE_CHECKS_ENABLED || items.is_empty() {
            return alloc::vec::Vec::new();
        }
        let bad: alloc::vec::Vec<usize> = batch::invalid_indices(items).collect();
        self.stats.rejected = self.stats.rejected.saturating_add(bad.len() as u64);
        bad
    }

    /// Counts a vote dropped for a bad signature found outside [`Self::verify_votes`].
    pub(crate) fn count_rejected(&mut self) {
        self.stats.rejected = self.stats.rejected.saturating_add(1);
    }

    /// True if this exact signature was verified before (no counting, no checking).
    pub(crate) fn is_remembered(&self, key: &PublicKey, digest: &Hash, sig: &Signature) -> bool {
        self.seen.contains(&cache_id(key, digest, sig))
    }

    fn remember(&mut self, id: Verified) {
        if self.seen.contains(&id) {
            return;
        }
        if self.order.len() >= VERIFIED_CACHE_SIZE {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.seen.insert(id);
        self.order.push_back(id);
    }

    /// Checks a signature and remembers it, for signatures that come back inside
    /// certificates.
    pub(crate) fn verify_remembered(
        &mut self,
        key: &PublicKey,
        digest: &Hash,
        sig: &Signature,
    ) -> bool {
        let id = cache_id(key, digest, sig);
        if self.seen.contains(&id) {
            self.stats.cache_hits = self.stats.cache_hits.saturating_add(1);
            return true;
        }
        if !self.verify(key, digest, sig) {
            return false;
        }
        self.remember(id);
        true
    }
}

fn cache_id(key: &PublicKey, digest: &Hash, sig: &Signature) -> Verified {
    (*digest.as_bytes(), *key.as_bytes(), *sig.as_bytes())
}
