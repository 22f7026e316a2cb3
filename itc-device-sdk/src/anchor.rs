//! Where a device's state roots come from: a header certified by the validator set it trusts.
//!
//! A device is provisioned with a **trust anchor**: a header (a checkpoint or genesis) and the
//! validator set that header names. [`TrustAnchor::verify_header`] accepts a later header when a
//! commit certificate of that set — more than 2/3 of its voting power, checked with
//! `itc_pbft::CommitCertificate::verify` — signs it, and yields the [`VerifiedState`] the
//! command gate needs. It keeps one header and one set: constant RAM, no allocator.
//!
//! It follows headers **within the anchor's validator epoch** only: a header certified by
//! another set is refused ([`StateError::HeaderRejected`]). Following set changes across epochs
//! is the light client's job (`itc-spv`); a device that needs it feeds the [`VerifiedState`]
//! that client returns into [`crate::Device::update_ownership`] instead.

use itc_crypto::ValidatorSet;
use itc_pbft::{BlockHeader, CompactCommitCertificate};

use crate::device::VerifiedState;
use crate::error::StateError;

/// A trusted validator set (capacity `N`) and the newest header it has certified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustAnchor<const N: usize> {
    set: ValidatorSet<N>,
    latest: VerifiedState,
}

impl<const N: usize> TrustAnchor<N> {
    /// Starts from an embedded trusted header and the set it names as the certifier of the
    /// next block. Fails if `set` is not that set.
    ///
    /// ```
    /// use itc_crypto::quorum::{Validator, ValidatorSet};
    /// use itc_crypto::{Hash, SecretKey, Signer};
    /// use itc_device_sdk::anchor::TrustAnchor;
    /// use itc_pbft::certificate::{commit_digest, CompactCommitCertificate};
    /// use itc_pbft::BlockHeader;
    ///
    /// let keys: Vec<SecretKey> = (1..=4u8).map(|i| SecretKey::from_bytes(&[i; 32]).unwrap()).collect();
    /// let set: ValidatorSet<4> = ValidatorSet::new(keys.iter().map(|k| Validator { key: k.public_key(), power: 1 })).unwrap();
    /// let genesis = BlockHeader::genesis(Hash::ZERO, set.hash(), 0);
    /// let mut anchor = TrustAnchor::new(&genesis, set.clone()).unwrap();
    ///
    /// let header = BlockHeader { height: 7, state_root: Hash([3; 32]), timestamp_ms: 70, ..genesis };
    /// let digest = commit_digest(0, 7, &header.hash());
    /// let mut cert = CompactCommitCertificate::<4>::new(0);
    /// for k in &keys[..3] {
    ///     cert.insert(set.index_of(&k.public_key()).unwrap(), k.sign_digest(&digest).unwrap()).unwrap();
    /// }
    /// let state = anchor.verify_header(&header, &cert).unwrap();
    /// assert_eq!((state.height, state.state_root), (7, Hash([3; 32])));
    /// ```
    pub fn new(trusted: &BlockHeader, set: ValidatorSet<N>) -> Result<Self, StateError> {
        if set.hash() != trusted.next_validator_set_hash {
            return Err(StateError::HeaderRejected);
        }
        Ok(TrustAnchor {
            set,
            latest: VerifiedState {
                height: trusted.height,
                state_root: trusted.state_root,
                timestamp_ms: trusted.timestamp_ms,
            },
        })
    }

    /// The newest verified header's state.
    pub fn latest(&self) -> &VerifiedState {
        &self.latest
    }

    /// The trusted validator set.
    pub fn validator_set(&self) -> &ValidatorSet<N> {
        &self.set
    }

    /// Verifies a newer header of the same epoch and its commit certificate; on success it
    /// becomes the latest. A refused header changes nothing.
    pub fn verify_header(
        &mut self,
        header: &BlockHeader,
        cert: &CompactCommitCertificate<N>,
    ) -> Result<VerifiedState, StateError> {
        if header.height <= self.latest.height {
            return Err(StateError::NotNewer {
                held: self.latest.height,
                offered: header.height,
            });
        }
        if header.timestamp_ms <= self.latest.timestamp_ms {
            return Err(StateError::HeaderRejected);
        }
        cert.verify(header, &self.set)
            .map_err(|_| StateError::HeaderRejected)?;
        self.latest = VerifiedState {
            height: header.height,
            state_root: header.state_root,
            timestamp_ms: header.timestamp_ms,
        };
        Ok(self.latest)
    }
}
