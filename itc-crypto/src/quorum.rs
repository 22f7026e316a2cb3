//! Weighted validator sets and quorum certificates.
//!
//! Three crates need the same notion of "a set of validators with voting power, and a bundle
//! of their signatures that carries more than some fraction of that power": `itc-pbft` (commit
//! certificates), `itc-ledger` (validator-set changes and other system transactions authorised
//! by the current set) and `itc-spv` (light clients checking headers). They may not depend on one
//! another, so the shared logic lives here, once.
//!
//! * [`ValidatorSet`] — validators sorted by public key (so the set has one canonical encoding
//!   and one [`ValidatorSet::hash`]), each with non-zero voting power. The const parameter `N`
//!   is a *capacity* for allocation-free use (a device keeps `ValidatorSet<8>`); it never
//!   changes the encoding or the hash.
//! * Quorum is **strictly more than 2/3 of total power** (for equal power: 2f+1 of n = 3f+1,
//!   f = ⌊(n−1)/3⌋). [`Threshold`] also expresses the light client's "more than 1/3" trust test.
//! * [`QuorumCertificate`] — a signer bitmap (`bitvec`) plus the signers' signatures in index
//!   order over one digest. A validator cannot be counted twice: the bitmap has one bit each.
//!   Verification takes signers in **descending voting power** and stops as soon as the
//!   threshold is met, so a certificate with many small signers costs only what it must.
//!
//! ```
//! use itc_crypto::quorum::{QuorumCertificate, Threshold, Validator, ValidatorSet};
//! use itc_crypto::{tagged_hash, DomainTag, SecretKey, Signer};
//!
//! const VOTE: DomainTag = DomainTag::new(b"itc/doc/vote/v1");
//! let keys: Vec<SecretKey> = (1..=4u8).map(|i| SecretKey::from_bytes(&[i; 32]).unwrap()).collect();
//! let set: ValidatorSet = ValidatorSet::new(
//!     keys.iter().map(|k| Validator { key: k.public_key(), power: 1 }),
//! ).unwrap();
//! let digest = tagged_hash(VOTE, b"block 7");
//! let mut cert: QuorumCertificate<Vec<_>> = QuorumCertificate::new();
//! for k in &keys[..3] {
//!     let index = set.index_of(&k.public_key()).unwrap();
//!     cert.insert(index, k.sign_digest(&digest).unwrap()).unwrap();
//! }
//! assert!(cert.verify(&set, &digest, Threshold::TwoThirds).is_ok()); // 3 of 4 > 2/3
//! ```

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

use bitvec::prelude::{BitArray, Lsb0};

use crate::encoding::{write_varint, Decode, DecodeError, Encode, Reader, Writer};
use crate::hash::{hash_encoded, DomainTag, Hash};
use crate::keys::{PublicKey, Signature};

/// Protocol-wide upper bound on validators in one set (the signer bitmap has this many bits).
pub const MAX_VALIDATORS: usize = 256;

/// Tag of [`ValidatorSet::hash`].
pub const VALIDATOR_SET_TAG: DomainTag = DomainTag::new(b"itc/quorum/validator-set/v1");

/// Why a validator set or a certificate was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuorumError {
    /// A set needs at least one validator.
    #[error("validator set is empty")]
    EmptySet,
    /// More validators than the capacity (or [`MAX_VALIDATORS`]).
    #[error("validator set has {len} members, capacity is {max}")]
    TooManyValidators {
        /// Members offered.
        len: usize,
        /// Capacity.
        max: usize,
    },
    /// The same key appears twice (position in canonical order of the second copy).
    #[error("validator #{0} duplicates the one before it")]
    DuplicateValidator(usize),
    /// A validator with zero voting power (position in canonical order).
    #[error("validator #{0} has zero voting power")]
    ZeroPower(usize),
    /// Total voting power does not fit in 64 bits.
    #[error("total voting power overflows u64")]
    PowerOverflow,
    /// The bitmap names a signer index the set does not have.
    #[error("signer index {index} is outside a set of {len}")]
    SignerOutOfRange {
        /// Offending index.
        index: usize,
        /// Set size.
        len: usize,
    },
    /// Bitmap and signature list disagree on the number of signers.
    #[error("{bits} signer bits but {signatures} signatures")]
    SignatureCountMismatch {
        /// Bits set.
        bits: usize,
        /// Signatures carried.
        signatures: usize,
    },
    /// A signer's signature does not verify.
    #[error("signature of validator #{index} does not verify")]
    InvalidSignature {
        /// Index of the signer in the set.
        index: usize,
    },
    /// The valid signatures do not carry enough power.
    #[error("signers hold {have} voting power, more than {need_above} needed")]
    InsufficientPower {
        /// Power of the valid signers.
        have: u64,
        /// The power that must be strictly exceeded.
        need_above: u64,
    },
    /// Inserting a signer twice into a certificate being built.
    #[error("validator #{0} already signed")]
    AlreadySigned(usize),
}

/// One validator: its protocol key and voting power.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validator {
    /// The x-only key its votes are signed with.
    pub key: PublicKey,
    /// Voting power (> 0).
    pub power: u64,
}

impl Encode for Validator {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.key.encode(w);
        self.power.encode(w);
    }
    fn encoded_len(&self) -> usize {
        40
    }
}

impl Decode for Validator {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Validator {
            key: PublicKey::decode(r)?,
            power: u64::decode(r)?,
        })
    }
}

/// A fraction of total voting power that signers must **strictly exceed**.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threshold {
    /// More than 2/3: the BFT quorum.
    TwoThirds,
    /// More than 1/3: at least one honest validator among the signers (light-client trust).
    OneThird,
    /// More than `num/den` (den > 0, num ≤ den).
    Fraction {
        /// Numerator.
        num: u64,
        /// Denominator.
        den: u64,
    },
}

impl Threshold {
    fn ratio(self) -> (u64, u64) {
        match self {
            Threshold::TwoThirds => (2, 3),
            Threshold::OneThird => (1, 3),
            Threshold::Fraction { num, den } => (num.min(den.max(1)), den.max(1)),
        }
    }

    /// The largest power that does *not* pass the threshold out of `total`
    /// (signers need strictly more than this).
    pub fn bar(self, total: u64) -> u64 {
        let (num, den) = self.ratio();
        // floor(total * num / den) computed without overflow.
        ((u128::from(total) * u128::from(num)) / u128::from(den)) as u64
    }

    /// True if `power` strictly exceeds the threshold of `total`.
    pub fn is_met(self, power: u64, total: u64) -> bool {
        let (num, den) = self.ratio();
        u128::from(power) * u128::from(den) > u128::from(total) * u128::from(num)
    }
}

/// A weighted validator set in canonical order (ascending public key), with capacity `N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorSet<const N: usize = MAX_VALIDATORS> {
    validators: heapless::Vec<Validator, N>,
    total_power: u64,
}

impl<const N: usize> ValidatorSet<N> {
    /// Builds a set from validators in any order; sorts them and checks the rules (non-empty,
    /// at most `min(N, MAX_VALIDATORS)`, distinct keys, non-zero power, total fits in u64).
    pub fn new(validators: impl IntoIterator<Item = Validator>) -> Result<Self, QuorumError> {
        let cap = N.min(MAX_VALIDATORS);
        let mut v: heapless::Vec<Validator, N> = heapless::Vec::new();
        for (count, val) in validators.into_iter().enumerate() {
            if v.len() >= cap || v.push(val).is_err() {
                return Err(QuorumError::TooManyValidators {
                    len: count + 1,
                    max: cap,
                });
            }
        }
        v.sort_unstable_by_key(|a| a.key);
        Self::from_sorted(v)
    }

    fn from_sorted(validators: heapless::Vec<Validator, N>) -> Result<Self, QuorumError> {
        if validators.is_empty() {
            return Err(QuorumError::EmptySet);
        }
        let mut total: u64 = 0;
        let mut prev: Option<&PublicKey> = None;
        for (i, val) in validators.iter().enumerate() {
            if prev == Some(&val.key) {
                return Err(QuorumError::DuplicateValidator(i));
            }
            if val.power == 0 {
                return Err(QuorumError::ZeroPower(i));
            }
            total = total
                .checked_add(val.power)
                .ok_or(QuorumError::PowerOverflow)?;
            prev = Some(&val.key);
        }
        Ok(ValidatorSet {
            validators,
            total_power: total,
        })
    }

    /// Copies the set into another capacity (e.g. from a full node's set into a device's).
    pub fn with_capacity<const M: usize>(&self) -> Result<ValidatorSet<M>, QuorumError> {
        ValidatorSet::<M>::new(self.validators.iter().copied())
    }

    /// Number of validators.
    pub fn len(&self) -> usize {
        self.validators.len()
    }

    /// Always false for a constructed set (kept for API symmetry).
    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }

    /// Validators in canonical order; a validator's position is its signer index.
    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    /// The validator at signer index `index`.
    pub fn get(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }

    /// Signer index of a key (binary search: the set is sorted).
    pub fn index_of(&self, key: &PublicKey) -> Option<usize> {
        self.validators.binary_search_by(|v| v.key.cmp(key)).ok()
    }

    /// Sum of all voting power.
    pub fn total_power(&self) -> u64 {
        self.total_power
    }

    /// Smallest power that forms a quorum (strictly more than 2/3 of the total).
    pub fn quorum_power(&self) -> u64 {
        Threshold::TwoThirds.bar(self.total_power).saturating_add(1)
    }

    /// For equal power: f = ⌊(n−1)/3⌋, the number of Byzantine validators tolerated.
    pub fn max_faulty(&self) -> usize {
        self.len().saturating_sub(1) / 3
    }

    /// The set's identity: domain-separated hash of its canonical encoding (capacity-free).
    pub fn hash(&self) -> Hash {
        hash_encoded(VALIDATOR_SET_TAG, self)
    }

    /// Power of the validators whose bits are set (unknown indices are ignored).
    pub fn power_of(&self, signers: &SignerBitmap) -> u64 {
        signers
            .iter_ones()
            .filter_map(|i| self.validators.get(i))
            .fold(0u64, |acc, v| acc.saturating_add(v.power))
    }
}

impl<const N: usize> Encode for ValidatorSet<N> {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        write_varint(w, self.validators.len() as u64);
        for v in &self.validators {
            v.encode(w);
        }
    }
}

impl<const N: usize> Decode for ValidatorSet<N> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.read_count(N.min(MAX_VALIDATORS), 40)?;
        let mut v: heapless::Vec<Validator, N> = heapless::Vec::new();
        for _ in 0..n {
            let val = Validator::decode(r)?;
            if let Some(last) = v.last() {
                if last.key >= val.key {
                    return Err(DecodeError::NonCanonical {
                        type_name: "ValidatorSet",
                    });
                }
            }
            v.push(val).map_err(|_| DecodeError::LengthOverLimit {
                len: n as u64,
                max: N as u64,
            })?;
        }
        Self::from_sorted(v).map_err(|_| DecodeError::NonCanonical {
            type_name: "ValidatorSet",
        })
    }
}

/// One bit per validator of a set, by signer index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SignerBitmap(BitArray<[u8; MAX_VALIDATORS / 8], Lsb0>);

impl SignerBitmap {
    /// No signers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether validator `index` signed.
    pub fn get(&self, index: usize) -> bool {
        self.0.get(index).map(|b| *b).unwrap_or(false)
    }

    /// Marks validator `index`; returns false if the index is beyond [`MAX_VALIDATORS`].
    pub fn set(&mut self, index: usize) -> bool {
        match self.0.get_mut(index) {
            Some(mut bit) => {
                *bit = true;
                true
            }
            None => false,
        }
    }

    /// Number of signers.
    pub fn count(&self) -> usize {
        self.0.count_ones()
    }

    /// Signer indices in ascending order.
    pub fn iter_ones(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter_ones()
    }

    /// Position of `index` among the set bits (its slot in the signature list).
    fn rank(&self, index: usize) -> usize {
        self.0.get(..index).map_or(0, |s| s.count_ones())
    }

    fn used_bytes(&self) -> usize {
        let raw = self.0.as_raw_slice();
        raw.iter().rposition(|b| *b != 0).map_or(0, |p| p + 1)
    }
}

impl Encode for SignerBitmap {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        // Minimal form: only up to the last non-zero byte, so each bitmap has one encoding.
        let n = self.used_bytes();
        write_varint(w, n as u64);
        w.write(self.0.as_raw_slice().get(..n).unwrap_or_default());
    }
}

impl Decode for SignerBitmap {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let bytes = r.read_bytes_prefixed(MAX_VALIDATORS / 8)?;
        if bytes.last() == Some(&0) {
            return Err(DecodeError::NonCanonical {
                type_name: "SignerBitmap",
            });
        }
        let mut raw = [0u8; MAX_VALIDATORS / 8];
        for (d, s) in raw.iter_mut().zip(bytes) {
            *d = *s;
        }
        Ok(SignerBitmap(BitArray::new(raw)))
    }
}

/// Storage for a certificate's signatures: `Vec` with `alloc`, `heapless::Vec` without.
pub trait SignatureStore: AsRef<[Signature]> + Default {
    /// Most signatures this store can hold.
    const CAPACITY: usize;
    /// Inserts at `position`; false if full.
    fn try_insert(&mut self, position: usize, sig: Signature) -> bool;
}

#[cfg(feature = "alloc")]
impl SignatureStore for Vec<Signature> {
    const CAPACITY: usize = MAX_VALIDATORS;
    fn try_insert(&mut self, position: usize, sig: Signature) -> bool {
        if self.len() >= MAX_VALIDATORS || position > self.len() {
            return false;
        }
        self.insert(position, sig);
        true
    }
}

impl<const N: usize> SignatureStore for heapless::Vec<Signature, N> {
    const CAPACITY: usize = N;
    fn try_insert(&mut self, position: usize, sig: Signature) -> bool {
        self.insert(position, sig).is_ok()
    }
}

/// Signatures of a subset of a [`ValidatorSet`] over one digest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuorumCertificate<S: SignatureStore> {
    signers: SignerBitmap,
    signatures: S,
}

/// A certificate that needs no allocator, holding at most `N` signatures.
pub type CompactCertificate<const N: usize> = QuorumCertificate<heapless::Vec<Signature, N>>;

impl<S: SignatureStore> QuorumCertificate<S> {
    /// An empty certificate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the signature of validator `index` (kept in index order).
    pub fn insert(&mut self, index: usize, sig: Signature) -> Result<(), QuorumError> {
        if self.signers.get(index) {
            return Err(QuorumError::AlreadySigned(index));
        }
        if index >= MAX_VALIDATORS {
            return Err(QuorumError::SignerOutOfRange {
                index,
                len: MAX_VALIDATORS,
            });
        }
        let pos = self.signers.rank(index);
        if !self.signatures.try_insert(pos, sig) {
            return Err(QuorumError::TooManyValidators {
                len: self.signers.count() + 1,
                max: S::CAPACITY,
            });
        }
        self.signers.set(index);
        Ok(())
    }

    /// Who signed.
    pub fn signers(&self) -> &SignerBitmap {
        &self.signers
    }

    /// The signatures, in ascending signer index.
    pub fn signatures(&self) -> &[Signature] {
        self.signatures.as_ref()
    }

    /// `(signer index, signature)` pairs in ascending index.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &Signature)> + '_ {
        self.signers.iter_ones().zip(self.signatures.as_ref())
    }

    /// Checks structure only: every signer exists in `set`, one signature per signer.
    pub fn check_shape<const N: usize>(&self, set: &ValidatorSet<N>) -> Result<(), QuorumError> {
        let bits = self.signers.count();
        let sigs = self.signatures.as_ref().len();
        if bits != sigs {
            return Err(QuorumError::SignatureCountMismatch {
                bits,
                signatures: sigs,
            });
        }
        if let Some(index) = self.signers.iter_ones().find(|i| *i >= set.len()) {
            return Err(QuorumError::SignerOutOfRange {
                index,
                len: set.len(),
            });
        }
        Ok(())
    }

    /// Verifies that signers holding more than `threshold` of `set`'s power signed `digest`.
    ///
    /// Signers are taken in descending voting power (ties by index) and checking stops as
    /// soon as the threshold is met, so only as many signatures are verified as needed. Any
    /// invalid signature among those checked rejects the certificate: a certificate is an
    /// all-or-nothing object and a bad one points to a faulty assembler. Returns the verified
    /// power.
    pub fn verify<const N: usize>(
        &self,
        set: &ValidatorSet<N>,
        digest: &Hash,
        threshold: Threshold,
    ) -> Result<u64, QuorumError> {
        self.check_shape(set)?;
        let total = set.total_power();
        let need_above = threshold.bar(total);
        let have = set.power_of(&self.signers);
        if !threshold.is_met(have, total) {
            return Err(QuorumError::InsufficientPower { have, need_above });
        }
        // (power, index, slot) of each signer, strongest first.
        let mut order: heapless::Vec<(u64, usize, usize), N> = heapless::Vec::new();
        for (slot, index) in self.signers.iter_ones().enumerate() {
            let power = set.get(index).map_or(0, |v| v.power);
            if order.push((power, index, slot)).is_err() {
                return Err(QuorumError::SignerOutOfRange {
                    index,
                    len: set.len(),
                });
            }
        }
        // Insertion sort: sets are small, and unlike core's sort it leaves no panic path in
        // firmware builds (checked by firmware/check_panics.py).
        for i in 1..order.len() {
            let mut j = i;
            while j > 0 {
                let (Some(a), Some(b)) = (order.get(j - 1), order.get(j)) else {
                    break;
                };
                if (b.0, core::cmp::Reverse(b.1)) <= (a.0, core::cmp::Reverse(a.1)) {
                    break;
                }
                order.swap(j - 1, j);
                j -= 1;
            }
        }
        let mut verified: u64 = 0;
        for (power, index, slot) in order {
            let (Some(v), Some(sig)) = (set.get(index), self.signatures.as_ref().get(slot)) else {
                return Err(QuorumError::SignerOutOfRange {
                    index,
                    len: set.len(),
                });
            };
            v.key
                .verify_digest(digest, sig)
                .map_err(|_| QuorumError::InvalidSignature { index })?;
            verified = verified.saturating_add(power);
            if threshold.is_met(verified, total) {
                return Ok(verified);
            }
        }
        Err(QuorumError::InsufficientPower {
            have: verified,
            need_above,
        })
    }
}

impl<S: SignatureStore> Encode for QuorumCertificate<S> {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.signers.encode(w);
        // The count equals the bitmap's popcount and is not repeated.
        for s in self.signatures.as_ref() {
            s.encode(w);
        }
    }
}

impl<S: SignatureStore> Decode for QuorumCertificate<S> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let signers = SignerBitmap::decode(r)?;
        let n = signers.count();
        if n > S::CAPACITY {
            return Err(DecodeError::LengthOverLimit {
                len: n as u64,
                max: S::CAPACITY as u64,
            });
        }
        if n.saturating_mul(64) > r.remaining() {
            return Err(DecodeError::UnexpectedEnd {
                needed: n.saturating_mul(64),
                remaining: r.remaining(),
            });
        }
        let mut signatures = S::default();
        for i in 0..n {
            let sig = Signature::decode(r)?;
            if !signatures.try_insert(i, sig) {
                return Err(DecodeError::LengthOverLimit {
                    len: n as u64,
                    max: S::CAPACITY as u64,
                });
            }
        }
        Ok(QuorumCertificate {
            signers,
            signatures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::tagged_hash;
    use crate::keys::{SecretKey, Signer};
    use alloc::vec;
    use proptest::prelude::*;

    const T: DomainTag = DomainTag::new(b"itc/test/quorum/v1");

    fn keys(n: u8) -> Vec<SecretKey> {
        (1..=n)
            .map(|i| SecretKey::from_bytes(&[i; 32]).unwrap())
            .collect()
    }

    fn set_of(keys: &[SecretKey], powers: &[u64]) -> ValidatorSet {
        ValidatorSet::new(keys.iter().zip(powers).map(|(k, p)| Validator {
            key: k.public_key(),
            power: *p,
        }))
        .unwrap()
    }

    fn cert(
        set: &ValidatorSet,
        keys: &[SecretKey],
        who: &[usize],
        d: &Hash,
    ) -> QuorumCertificate<Vec<Signature>> {
        let mut c = QuorumCertificate::new();
        for &k in who {
            let idx = set.index_of(&keys[k].public_key()).unwrap();
            c.insert(idx, keys[k].sign_digest(d).unwrap()).unwrap();
        }
        c
    }

    #[test]
    fn quorum_arithmetic() {
        let k = keys(4);
        let s = set_of(&k, &[1, 1, 1, 1]);
        assert_eq!(s.quorum_power(), 3);
        assert_eq!(s.max_faulty(), 1);
        let k7 = keys(7);
        let s7 = set_of(&k7, &[1; 7]);
        assert_eq!(s7.quorum_power(), 5);
        assert_eq!(s7.max_faulty(), 2);
        assert!(!Threshold::TwoThirds.is_met(2, 3));
        assert!(Threshold::TwoThirds.is_met(3, 4));
        assert!(!Threshold::OneThird.is_met(1, 3));
        assert!(Threshold::OneThird.is_met(2, 4));
        assert!(Threshold::TwoThirds.is_met(u64::MAX, u64::MAX));
    }

    #[test]
    fn set_rules() {
        let k = keys(3);
        let pk = k[0].public_key();
        assert_eq!(
            ValidatorSet::<4>::new([]).unwrap_err(),
            QuorumError::EmptySet
        );
        assert_eq!(
            ValidatorSet::<4>::new([Validator { key: pk, power: 1 }; 2]).unwrap_err(),
            QuorumError::DuplicateValidator(1)
        );
        assert_eq!(
            ValidatorSet::<4>::new([Validator { key: pk, power: 0 }]).unwrap_err(),
            QuorumError::ZeroPower(0)
        );
        let many = k.iter().map(|k| Validator {
            key: k.public_key(),
            power: u64::MAX / 2,
        });
        assert_eq!(
            ValidatorSet::<4>::new(many).unwrap_err(),
            QuorumError::PowerOverflow
        );
        let too_many = k.iter().map(|k| Validator {
            key: k.public_key(),
            power: 1,
        });
        assert!(matches!(
            ValidatorSet::<2>::new(too_many),
            Err(QuorumError::TooManyValidators { .. })
        ));
    }

    #[test]
    fn hash_and_encoding_ignore_capacity_and_input_order() {
        let k = keys(4);
        let a = set_of(&k, &[1, 2, 3, 4]);
        let mut rev: Vec<Validator> = a.validators().to_vec();
        rev.reverse();
        let b: ValidatorSet<4> = ValidatorSet::new(rev).unwrap();
        assert_eq!(a.hash(), b.hash());
        assert_eq!(a.encode_to_vec(), b.encode_to_vec());
        let back = ValidatorSet::<4>::decode_bytes(&a.encode_to_vec()).unwrap();
        assert_eq!(back, b);
        // A set with other powers is another set.
        assert_ne!(a.hash(), set_of(&k, &[1, 2, 3, 5]).hash());
        // Unsorted encodings are rejected.
        let mut bytes = vec![2u8];
        a.validators()[1].encode(&mut bytes);
        a.validators()[0].encode(&mut bytes);
        assert!(matches!(
            ValidatorSet::<4>::decode_bytes(&bytes),
            Err(DecodeError::NonCanonical { .. })
        ));
    }

    #[test]
    fn certificate_checks() {
        let k = keys(4);
        let s = set_of(&k, &[1, 1, 1, 1]);
        let d = tagged_hash(T, b"h");
        let good = cert(&s, &k, &[0, 1, 2], &d);
        assert_eq!(good.verify(&s, &d, Threshold::TwoThirds), Ok(3));
        // Early stop: a one-third check verifies only two signatures.
        assert_eq!(good.verify(&s, &d, Threshold::OneThird), Ok(2));
        let two = cert(&s, &k, &[0, 1], &d);
        assert_eq!(
            two.verify(&s, &d, Threshold::TwoThirds),
            Err(QuorumError::InsufficientPower {
                have: 2,
                need_above: 2
            })
        );
        // Another digest fails.
        let d2 = tagged_hash(T, b"other");
        assert!(matches!(
            good.verify(&s, &d2, Threshold::TwoThirds),
            Err(QuorumError::InvalidSignature { .. })
        ));
        // Double insert is refused; the bitmap cannot count a signer twice.
        let mut c = good.clone();
        let idx = s.index_of(&k[0].public_key()).unwrap();
        assert_eq!(
            c.insert(idx, k[0].sign_digest(&d).unwrap()),
            Err(QuorumError::AlreadySigned(idx))
        );
        // A signer index beyond the set.
        let mut c = QuorumCertificate::<Vec<Signature>>::new();
        c.insert(9, k[0].sign_digest(&d).unwrap()).unwrap();
        assert!(matches!(
            c.verify(&s, &d, Threshold::TwoThirds),
            Err(QuorumError::SignerOutOfRange { index: 9, .. })
        ));
        // A signature from the wrong key in a slot.
        let mut c = QuorumCertificate::<Vec<Signature>>::new();
        for i in 0..3 {
            c.insert(i, k[3].sign_digest(&d).unwrap()).unwrap();
        }
        assert!(matches!(
            c.verify(&s, &d, Threshold::TwoThirds),
            Err(QuorumError::InvalidSignature { .. })
        ));
    }

    #[test]
    fn weighted_sets_take_strongest_first() {
        let k = keys(4);
        let s = set_of(&k, &[10, 1, 1, 1]);
        let d = tagged_hash(T, b"w");
        // 10 of 13 > 2/3 alone.
        let c = cert(&s, &k, &[0], &d);
        assert_eq!(c.verify(&s, &d, Threshold::TwoThirds), Ok(10));
        // The three small ones (3 of 13) are not a quorum.
        let c = cert(&s, &k, &[1, 2, 3], &d);
        assert!(c.verify(&s, &d, Threshold::TwoThirds).is_err());
    }

    #[test]
    fn compact_certificate_matches_vec_encoding() {
        let k = keys(4);
        let s = set_of(&k, &[1, 1, 1, 1]);
        let d = tagged_hash(T, b"c");
        let c = cert(&s, &k, &[3, 0, 2], &d);
        let bytes = c.encode_to_vec();
        let compact = CompactCertificate::<4>::decode_bytes(&bytes).unwrap();
        assert_eq!(compact.encode_to_vec(), bytes);
        let small = ValidatorSet::<4>::decode_bytes(&s.encode_to_vec()).unwrap();
        assert_eq!(compact.verify(&small, &d, Threshold::TwoThirds), Ok(3));
        // Capacity is enforced on decode.
        assert!(CompactCertificate::<2>::decode_bytes(&bytes).is_err());
        // Non-minimal bitmap is rejected.
        let mut bad = vec![2u8, 0b0000_0001, 0];
        bad.extend_from_slice(&[0u8; 64]);
        assert!(matches!(
            QuorumCertificate::<Vec<Signature>>::decode_bytes(&bad),
            Err(DecodeError::NonCanonical { .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn certificate_decoding_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = QuorumCertificate::<Vec<Signature>>::decode_bytes(&data);
            let _ = CompactCertificate::<4>::decode_bytes(&data);
            let _ = ValidatorSet::<8>::decode_bytes(&data);
        }

        #[test]
        fn any_bit_flip_in_a_certificate_is_rejected(bit in 0usize..(4 + 3 * 64) * 8) {
            let k = keys(4);
            let s = set_of(&k, &[1, 1, 1, 1]);
            let d = tagged_hash(T, b"flip");
            let c = cert(&s, &k, &[0, 1, 2], &d);
            let mut bytes = c.encode_to_vec();
            prop_assume!(bit < bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
            let ok = QuorumCertificate::<Vec<Signature>>::decode_bytes(&bytes)
                .map(|c| c.verify(&s, &d, Threshold::TwoThirds).is_ok())
                .unwrap_or(false);
            // Flipping a bitmap bit to a 4th signer would need a 4th signature; flipping a
            // signature byte breaks it. Either way the certificate must not verify as is.
            prop_assert!(!ok);
        }
    }
}
