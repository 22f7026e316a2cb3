//! Commit certificates: the proof, checkable by anyone holding the validator set, that a
//! quorum committed a header.
//!
//! A replica's `Commit` vote for block `h` in view `v` is a BIP340 signature over
//! [`commit_digest`]`(v, h, header_hash)` under [`COMMIT_TAG`]. A [`CommitCertificate`] is the
//! view `v` plus the quorum's commit signatures from that **one** view (a
//! [`QuorumCertificate`] with a `bitvec` signer bitmap). Everything the signatures sign is
//! recomputed from the header and the certificate alone, so `itc-spv` and devices verify it
//! with no allocator.
//!
//! Why the certificate carries its view instead of reading it from the header: a block
//! re-proposed after a view change keeps its header (including the view it was first proposed
//! in), so every honest replica commits the *same* header hash at a height, but its commit
//! quorum may form in a later view. Requiring all signatures from one view keeps PBFT's
//! safety argument unchanged (a commit quorum in view `v` implies a prepared quorum in `v`).
//!
//! ```
//! use itc_crypto::quorum::{Validator, ValidatorSet};
//! use itc_crypto::{Hash, SecretKey, Signer};
//! use itc_pbft::certificate::{commit_digest, CommitCertificate};
//! use itc_pbft::header::BlockHeader;
//!
//! let keys: Vec<SecretKey> = (1..=4u8).map(|i| SecretKey::from_bytes(&[i; 32]).unwrap()).collect();
//! let set: ValidatorSet = ValidatorSet::new(keys.iter().map(|k| Validator { key: k.public_key(), power: 1 })).unwrap();
//! let genesis = BlockHeader::genesis(Hash::ZERO, set.hash(), 0);
//! let header = BlockHeader { height: 1, previous: genesis.hash(), timestamp_ms: 1, ..genesis };
//! let digest = commit_digest(0, header.height, &header.hash());
//! let mut cert: CommitCertificate<Vec<_>> = CommitCertificate::new(0);
//! for k in &keys[..3] {
//!     cert.insert(set.index_of(&k.public_key()).unwrap(), k.sign_digest(&digest).unwrap()).unwrap();
//! }
//! assert!(cert.verify(&header, &set).is_ok());
//! ```

use itc_crypto::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::hash::{DomainTag, Hash, TaggedHasher};
use itc_crypto::keys::Signature;
use itc_crypto::quorum::{
    QuorumCertificate, QuorumError, SignatureStore, SignerBitmap, Threshold, ValidatorSet,
};

use crate::header::BlockHeader;

/// Tag of the digest a `Commit` vote signs.
pub const COMMIT_TAG: DomainTag = DomainTag::new(b"itc/pbft/commit/v1");

/// The digest a commit vote for `header_hash` at `height` in `view` signs:
/// `tagged_hash(COMMIT_TAG, view ‖ height ‖ header_hash)` (integers big-endian).
///
/// Never inlined: the hasher's state (~350 bytes) then lives in a frame of its own, gone
/// before the caller goes on to verify a signature over the digest (a device's deepest stack).
#[inline(never)]
pub fn commit_digest(view: u64, height: u64, header_hash: &Hash) -> Hash {
    let mut h = TaggedHasher::new(COMMIT_TAG);
    h.update(&view.to_be_bytes())
        .update(&height.to_be_bytes())
        .update(header_hash.as_bytes());
    h.finalize()
}

/// Why a commit certificate does not certify a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// The header was certified by another validator set than the one given.
    #[error("header names another validator set")]
    WrongValidatorSet,
    /// The certificate's view precedes the view the header was proposed in.
    #[error("certificate view {cert_view} is before the header's view {header_view}")]
    ViewBeforeProposal {
        /// View of the commit votes.
        cert_view: u64,
        /// View the header was proposed in.
        header_view: u64,
    },
    /// The signatures do not form a quorum over the commit digest.
    #[error("commit quorum rejected: {0}")]
    Quorum(#[from] QuorumError),
}

/// A quorum's commit signatures over one header, all cast in view `view`.
///
/// `S` is the signature storage: `Vec<Signature>` with `alloc`, or
/// [`CompactCommitCertificate`] (a `heapless::Vec`) on devices.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommitCertificate<S: SignatureStore> {
    view: u64,
    votes: QuorumCertificate<S>,
}

/// A commit certificate that holds at most `N` signatures and needs no allocator.
pub type CompactCommitCertificate<const N: usize> = CommitCertificate<heapless::Vec<Signature, N>>;

impl<S: SignatureStore> CommitCertificate<S> {
    /// An empty certificate for commit votes of `view`.
    pub fn new(view: u64) -> Self {
        CommitCertificate {
            view,
            votes: QuorumCertificate::new(),
        }
    }

    /// Wraps already-collected commit signatures of `view`.
    pub fn from_votes(view: u64, votes: QuorumCertificate<S>) -> Self {
        CommitCertificate { view, votes }
    }

    /// Adds validator `index`'s commit signature.
    pub fn insert(&mut self, index: usize, signature: Signature) -> Result<(), QuorumError> {
        self.votes.insert(index, signature)
    }

    /// The view in which the commit votes were cast.
    pub fn view(&self) -> u64 {
        self.view
    }

    /// Who signed.
    pub fn signers(&self) -> &SignerBitmap {
        self.votes.signers()
    }

    /// The underlying quorum certificate.
    pub fn votes(&self) -> &QuorumCertificate<S> {
        &self.votes
    }

    /// Verifies that validators of `set` holding more than 2/3 of its power committed
    /// `header` in [`CommitCertificate::view`]. `set` must be the set the header names in
    /// `validator_set_hash` (checked). Returns the verified voting power.
    pub fn verify<const N: usize>(
        &self,
        header: &BlockHeader,
        set: &ValidatorSet<N>,
    ) -> Result<u64, CertificateError> {
        if set.hash() != header.validator_set_hash {
            return Err(CertificateError::WrongValidatorSet);
        }
        self.verify_with_set_hash_checked(header, set)
    }

    /// As [`CommitCertificate::verify`], for callers that already know `set` hashes to
    /// `header.validator_set_hash` (saves hashing the set on every block).
    pub fn verify_with_set_hash_checked<const N: usize>(
        &self,
        header: &BlockHeader,
        set: &ValidatorSet<N>,
    ) -> Result<u64, CertificateError> {
        if self.view < header.view {
            return Err(CertificateError::ViewBeforeProposal {
                cert_view: self.view,
                header_view: header.view,
            });
        }
        let digest = commit_digest(self.view, header.height, &header.hash());
        Ok(self.votes.verify(set, &digest, Threshold::TwoThirds)?)
    }
}

impl<S: SignatureStore> Encode for CommitCertificate<S> {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.view.encode(w);
        self.votes.encode(w);
    }
}

impl<S: SignatureStore> Decode for CommitCertificate<S> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(CommitCertificate {
            view: u64::decode(r)?,
            votes: QuorumCertificate::decode(r)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use itc_crypto::quorum::Validator;
    use itc_crypto::{SecretKey, Signer};
    use proptest::prelude::*;
    use std::vec::Vec;

    fn keys(n: u8) -> Vec<SecretKey> {
        (1..=n)
            .map(|i| SecretKey::from_bytes(&[i; 32]).unwrap())
            .collect()
    }

    fn setup(powers: &[u64]) -> (Vec<SecretKey>, ValidatorSet, BlockHeader) {
        let k = keys(powers.len() as u8);
        let set = ValidatorSet::new(k.iter().zip(powers).map(|(k, p)| Validator {
            key: k.public_key(),
            power: *p,
        }))
        .unwrap();
        let g = BlockHeader::genesis(Hash::ZERO, set.hash(), 0);
        let h = BlockHeader {
            height: 1,
            view: 2,
            previous: g.hash(),
            timestamp_ms: 5,
            ..g
        };
        (k, set, h)
    }

    fn certify(
        keys: &[SecretKey],
        set: &ValidatorSet,
        h: &BlockHeader,
        view: u64,
        who: &[usize],
    ) -> CommitCertificate<Vec<Signature>> {
        let d = commit_digest(view, h.height, &h.hash());
        let mut c = CommitCertificate::new(view);
        for &i in who {
            let idx = set.index_of(&keys[i].public_key()).unwrap();
            c.insert(idx, keys[i].sign_digest(&d).unwrap()).unwrap();
        }
        c
    }

    #[test]
    fn quorum_of_one_view_verifies() {
        let (k, set, h) = setup(&[1, 1, 1, 1]);
        let c = certify(&k, &set, &h, 3, &[0, 1, 2]);
        assert_eq!(c.verify(&h, &set), Ok(3));
        // Compact (no-alloc) decoding of the same bytes verifies too.
        let compact = CompactCommitCertificate::<4>::decode_bytes(&c.encode_to_vec()).unwrap();
        let small: ValidatorSet<4> = set.with_capacity().unwrap();
        assert_eq!(compact.verify(&h, &small), Ok(3));
    }

    #[test]
    fn rejections_are_typed() {
        let (k, set, h) = setup(&[1, 1, 1, 1]);
        // Too few signers.
        let c = certify(&k, &set, &h, 2, &[0, 1]);
        assert!(matches!(
            c.verify(&h, &set),
            Err(CertificateError::Quorum(
                QuorumError::InsufficientPower { .. }
            ))
        ));
        // Signatures from view 2 relabelled as view 3.
        let c = certify(&k, &set, &h, 2, &[0, 1, 2]);
        let relabelled = CommitCertificate::from_votes(3, c.votes().clone());
        assert!(matches!(
            relabelled.verify(&h, &set),
            Err(CertificateError::Quorum(
                QuorumError::InvalidSignature { .. }
            ))
        ));
        // A view before the proposal.
        let early = certify(&k, &set, &h, 1, &[0, 1, 2]);
        assert_eq!(
            early.verify(&h, &set),
            Err(CertificateError::ViewBeforeProposal {
                cert_view: 1,
                header_view: 2
            })
        );
        // Another header.
        let mut other = h;
        other.timestamp_ms += 1;
        assert!(c.verify(&other, &set).is_err());
        // Another set.
        let (_, set2, _) = setup(&[1, 1, 1, 2]);
        assert_eq!(
            c.verify(&h, &set2),
            Err(CertificateError::WrongValidatorSet)
        );
    }

    #[test]
    fn weighted_quorum() {
        let (k, set, h) = setup(&[5, 1, 1, 1]);
        let heavy = set.index_of(&k[0].public_key()).unwrap();
        let heavy_key = (0..4)
            .find(|&i| set.index_of(&k[i].public_key()) == Some(heavy))
            .unwrap();
        let alone = certify(&k, &set, &h, 2, &[heavy_key]);
        // 5 of 8 is not more than 2/3.
        assert!(alone.verify(&h, &set).is_err());
        let others: Vec<usize> = (0..4).filter(|&i| i != heavy_key).take(1).collect();
        let mut who = others.clone();
        who.push(heavy_key);
        assert_eq!(certify(&k, &set, &h, 2, &who).verify(&h, &set), Ok(6));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn decoding_arbitrary_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = CommitCertificate::<Vec<Signature>>::decode_bytes(&data);
            let _ = CompactCommitCertificate::<4>::decode_bytes(&data);
        }
    }
}
