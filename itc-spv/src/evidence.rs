//! Fork evidence: two headers at one height, each carrying a valid commit certificate from the
//! same validator set.
//!
//! Two quorums of more than 2/3 of one set intersect in more than 1/3 of its power, so the
//! evidence names validators that signed both — at least one third of the set broke the
//! protocol. Anyone holding the set can check it ([`ForkEvidence::verify`]) and list the
//! double signers ([`ForkEvidence::double_signers`]); a light client that sees a fork outputs
//! it and halts ([`crate::LightClient::fork_evidence`]) rather than pick a side.

use itc_crypto::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::hash::{hash_encoded, DomainTag, Hash};
use itc_crypto::quorum::{SignatureStore, SignerBitmap, ValidatorSet};
use itc_pbft::certificate::CommitCertificate;
use itc_pbft::BlockHeader;

use crate::commit::check_commit;
use crate::error::SpvError;

/// Tag of [`ForkEvidence::hash`].
pub const FORK_EVIDENCE_TAG: DomainTag = DomainTag::new(b"itc/spv/fork-evidence/v1");

/// A header with its commit certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertifiedHeader<S: SignatureStore> {
    /// The header.
    pub header: BlockHeader,
    /// Its commit certificate.
    pub certificate: CommitCertificate<S>,
}

impl<S: SignatureStore> Encode for CertifiedHeader<S> {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.header.encode(w);
        self.certificate.encode(w);
    }
}

impl<S: SignatureStore> Decode for CertifiedHeader<S> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(CertifiedHeader {
            header: BlockHeader::decode(r)?,
            certificate: CommitCertificate::decode(r)?,
        })
    }
}

/// Two conflicting certified headers. Canonical order: `first` has the smaller header hash, so
/// the same fork always encodes (and hashes) the same way whoever found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkEvidence<S: SignatureStore> {
    first: CertifiedHeader<S>,
    second: CertifiedHeader<S>,
}

impl<S: SignatureStore> ForkEvidence<S> {
    /// Pairs two certified headers (in either order; stored in canonical order).
    pub fn new(a: CertifiedHeader<S>, b: CertifiedHeader<S>) -> Self {
        if a.header.hash() <= b.header.hash() {
            ForkEvidence {
                first: a,
                second: b,
            }
        } else {
            ForkEvidence {
                first: b,
                second: a,
            }
        }
    }

    /// The header with the smaller hash.
    pub fn first(&self) -> &CertifiedHeader<S> {
        &self.first
    }

    /// The header with the larger hash.
    pub fn second(&self) -> &CertifiedHeader<S> {
        &self.second
    }

    /// The height of the fork.
    pub fn height(&self) -> u64 {
        self.first.header.height
    }

    /// Identity of the evidence (for de-duplication when gossiped).
    pub fn hash(&self) -> Hash {
        hash_encoded(FORK_EVIDENCE_TAG, self)
    }

    /// Checks that this is a fork of `set`: one height, two different headers, both naming
    /// `set`, both certified by more than 2/3 of it.
    ///
    /// ```
    /// # use itc_spv::testkit::TestChain;
    /// let mut chain = TestChain::new(4, 10);
    /// chain.extend(1);
    /// let (evidence, set) = chain.fork_at(1);
    /// assert!(evidence.verify(&set).is_ok());
    /// assert!(evidence.double_signers().count() >= 2); // > 1/3 of 4 equal validators
    /// ```
    pub fn verify<const N: usize>(&self, set: &ValidatorSet<N>) -> Result<(), SpvError> {
        let (a, b) = (&self.first.header, &self.second.header);
        if a.height != b.height || a.hash() == b.hash() {
            return Err(SpvError::NotAFork);
        }
        let set_hash = set.hash();
        for h in [a, b] {
            if h.validator_set_hash != set_hash {
                return Err(SpvError::WrongValidatorSet { height: h.height });
            }
        }
        check_commit::<S, N, N>(a, &self.first.certificate, set, None)?;
        check_commit::<S, N, N>(b, &self.second.certificate, set, None)?;
        Ok(())
    }

    /// Validators (by signer index) whose signatures are on both certificates.
    pub fn double_signers(&self) -> SignerBitmap {
        let mut both = SignerBitmap::new();
        let second = self.second.certificate.signers();
        for i in self.first.certificate.signers().iter_ones() {
            if second.get(i) {
                both.set(i);
            }
        }
        both
    }
}

impl<S: SignatureStore> Encode for ForkEvidence<S> {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.first.encode(w);
        self.second.encode(w);
    }
}

impl<S: SignatureStore> Decode for ForkEvidence<S> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let first = CertifiedHeader::decode(r)?;
        let second = CertifiedHeader::decode(r)?;
        if first.header.hash() > second.header.hash() {
            return Err(DecodeError::NonCanonical {
                type_name: "ForkEvidence",
            });
        }
        Ok(ForkEvidence { first, second })
    }
}
