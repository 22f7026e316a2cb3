//! Proof of equivocation: two signed votes by one validator for different headers in the same
//! phase, view and height. Anyone holding the validator set of that height can check it, so
//! the application can slash or eject the offender through an ordinary transaction.
//!
//! ```
//! use itc_crypto::quorum::{Validator, ValidatorSet};
//! use itc_crypto::{Hash, SecretKey, Signer};
//! use itc_pbft::evidence::Evidence;
//! use itc_pbft::message::{vote_digest, Phase};
//!
//! let k = SecretKey::from_bytes(&[1; 32]).unwrap();
//! let set: ValidatorSet = ValidatorSet::new([Validator { key: k.public_key(), power: 1 }]).unwrap();
//! let sign = |h: Hash| k.sign_digest(&vote_digest(Phase::Commit, 0, 5, &h)).unwrap();
//! let ev = Evidence {
//!     phase: Phase::Commit, view: 0, height: 5, sender: 0,
//!     first: (Hash([1; 32]), sign(Hash([1; 32]))),
//!     second: (Hash([2; 32]), sign(Hash([2; 32]))),
//! };
//! assert_eq!(ev.verify(&set).unwrap(), k.public_key());
//! ```

use itc_crypto::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::quorum::ValidatorSet;
use itc_crypto::{Hash, PublicKey, Signature};

use crate::message::{primary_index, vote_digest, Phase, ReplicaIndex};
use crate::sig::SigChecker;

/// Why evidence does not prove equivocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// Both votes name the same header: no conflict.
    #[error("the two votes agree")]
    NoConflict,
    /// The sender is not in the set (or a pre-prepare's sender is not the view's primary).
    #[error("sender is not the right validator")]
    WrongSender,
    /// One of the signatures does not verify.
    #[error("a signature does not verify")]
    BadSignature,
}

/// Two conflicting signed votes of one validator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evidence {
    /// The phase both votes are in.
    pub phase: Phase,
    /// The view both votes are in.
    pub view: u64,
    /// The height both votes are for.
    pub height: u64,
    /// Signer index of the offender in the set of `height`.
    pub sender: ReplicaIndex,
    /// The first header hash and its signature.
    pub first: (Hash, Signature),
    /// The conflicting header hash and its signature.
    pub second: (Hash, Signature),
}

impl Evidence {
    /// Checks the evidence against the validator set of `height`; returns the offender's key.
    pub fn verify<const N: usize>(
        &self,
        set: &ValidatorSet<N>,
    ) -> Result<PublicKey, EvidenceError> {
        if self.first.0 == self.second.0 {
            return Err(EvidenceError::NoConflict);
        }
        if self.phase == Phase::PrePrepare && primary_index(self.view, set.len()) != self.sender {
            return Err(EvidenceError::WrongSender);
        }
        let key = set
            .get(usize::from(self.sender))
            .ok_or(EvidenceError::WrongSender)?
            .key;
        let mut stats = SigChecker::default();
        for (hash, sig) in [&self.first, &self.second] {
            let digest = vote_digest(self.phase, self.view, self.height, hash);
            if !stats.verify(&key, &digest, sig) {
                return Err(EvidenceError::BadSignature);
            }
        }
        Ok(key)
    }
}

impl Encode for Evidence {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.phase.encode(w);
        self.view.encode(w);
        self.height.encode(w);
        self.sender.encode(w);
        self.first.0.encode(w);
        self.first.1.encode(w);
        self.second.0.encode(w);
        self.second.1.encode(w);
    }
}

impl Decode for Evidence {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Evidence {
            phase: Phase::decode(r)?,
            view: u64::decode(r)?,
            height: u64::decode(r)?,
            sender: u16::decode(r)?,
            first: (Hash::decode(r)?, Signature::decode(r)?),
            second: (Hash::decode(r)?, Signature::decode(r)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use itc_crypto::quorum::Validator;
    use itc_crypto::{SecretKey, Signer};

    #[test]
    fn forged_or_agreeing_evidence_is_rejected() {
        let k = SecretKey::from_bytes(&[1; 32]).unwrap();
        let other = SecretKey::from_bytes(&[2; 32]).unwrap();
        let set: ValidatorSet = ValidatorSet::new([
            Validator {
                key: k.public_key(),
                power: 1,
            },
            Validator {
                key: other.public_key(),
                power: 1,
            },
        ])
        .unwrap();
        let idx = set.index_of(&k.public_key()).unwrap() as u16;
        let sign = |key: &SecretKey, h: Hash| {
            key.sign_digest(&vote_digest(Phase::Prepare, 1, 2, &h))
                .unwrap()
        };
        let good = Evidence {
            phase: Phase::Prepare,
            view: 1,
            height: 2,
            sender: idx,
            first: (Hash([1; 32]), sign(&k, Hash([1; 32]))),
            second: (Hash([2; 32]), sign(&k, Hash([2; 32]))),
        };
        assert_eq!(good.verify(&set), Ok(k.public_key()));
        let bytes = good.encode_to_vec();
        assert_eq!(Evidence::decode_bytes(&bytes).unwrap(), good);
        let same = Evidence {
            second: good.first,
            ..good
        };
        assert_eq!(same.verify(&set), Err(EvidenceError::NoConflict));
        let framed = Evidence {
            second: (Hash([2; 32]), sign(&other, Hash([2; 32]))),
            ..good
        };
        assert_eq!(framed.verify(&set), Err(EvidenceError::BadSignature));
        let other_view = Evidence { view: 2, ..good };
        assert_eq!(other_view.verify(&set), Err(EvidenceError::BadSignature));
        let nobody = Evidence { sender: 7, ..good };
        assert_eq!(nobody.verify(&set), Err(EvidenceError::WrongSender));
    }
}
