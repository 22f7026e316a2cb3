//! Fork evidence: two headers at one height, each carrying a valid commit certificate from the
//! same validator set.
//!
//! Two quorums of more than 2/3 of one set intersect in more than 1/3 of its power, so the
//! evidence names validators that signed both — at least one third of the set broke the
//! protocol. Anyone holding the set can check it: [`ForkEvidence::verify`] returns a
//! [`ProvenFork`], the only way to learn who double-signed. A light client that sees a fork
//! outputs it and halts ([`crate::LightClient::fork_evidence`]) rather than pick a side.
//!
//! Evidence accuses, so it is checked harder than a certificate that merely admits a header:
//! **every** signature on both certificates must verify (a quorum check verifies only what the
//! quorum needs, and junk under the bit of a validator who signed nothing would otherwise
//! name it a double signer). The client builds its own evidence only from signatures it
//! verified, so its evidence always passes.

use itc_crypto::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::hash::{hash_encoded, DomainTag, Hash};
use itc_crypto::quorum::{SignatureStore, SignerBitmap, ValidatorSet};
use itc_pbft::certificate::CommitCertificate;
use itc_pbft::BlockHeader;

use crate::commit::check_every_signature;
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
    /// `set`, both certified by more than 2/3 of it, and every signature on both certificates
    /// valid. The result names the double signers — validators whose signatures on *both*
    /// headers were verified, and nobody else.
    ///
    /// ```
    /// # use itc_spv::testkit::TestChain;
    /// let mut chain = TestChain::new(4, 10);
    /// chain.extend(1);
    /// let (evidence, set) = chain.fork_at(1);
    /// let proven = evidence.verify(&set).unwrap();
    /// assert_eq!(proven.height(), 1);
    /// assert_eq!(proven.double_signers().count(), 4); // the whole set signed both
    /// assert!(evidence.verify(&chain.set_of_epoch(1)).is_err()); // not a fork of that set
    /// ```
    pub fn verify<const N: usize>(&self, set: &ValidatorSet<N>) -> Result<ProvenFork, SpvError> {
        let (a, b) = (&self.first.header, &self.second.header);
        let (first, second) = (a.hash(), b.hash());
        if a.height != b.height || first == second {
            return Err(SpvError::NotAFork);
        }
        let set_hash = set.hash();
        for h in [a, b] {
            if h.validator_set_hash != set_hash {
                return Err(SpvError::WrongValidatorSet { height: h.height });
            }
        }
        let ta = check_every_signature(a, &self.first.certificate, set)?;
        let tb = check_every_signature(b, &self.second.certificate, set)?;
        let mut double_signers = SignerBitmap::new();
        for i in ta.verified.iter_ones().filter(|i| tb.verified.get(*i)) {
            double_signers.set(i);
        }
        Ok(ProvenFork {
            height: a.height,
            set_hash,
            headers: [first, second],
            double_signer_power: set.power_of(&double_signers),
            total_power: set.total_power(),
            double_signers,
        })
    }
}

/// A fork proven against a validator set: what [`ForkEvidence::verify`] established. Only
/// that check constructs one, so holding a `ProvenFork` means every validator it names signed
/// both conflicting headers (both signatures verified).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProvenFork {
    height: u64,
    set_hash: Hash,
    headers: [Hash; 2],
    double_signers: SignerBitmap,
    double_signer_power: u64,
    total_power: u64,
}

impl ProvenFork {
    /// The height of the fork.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// The hash of the validator set that equivocated.
    pub fn set_hash(&self) -> Hash {
        self.set_hash
    }

    /// The two conflicting headers' hashes, smaller first.
    pub fn headers(&self) -> [Hash; 2] {
        self.headers
    }

    /// The validators (by index in the set) whose signatures on both headers verified.
    pub fn double_signers(&self) -> &SignerBitmap {
        &self.double_signers
    }

    /// Their combined power: always more than 1/3 of the set's (two quorums intersect).
    pub fn double_signer_power(&self) -> u64 {
        self.double_signer_power
    }

    /// The set's total power.
    pub fn total_power(&self) -> u64 {
        self.total_power
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
