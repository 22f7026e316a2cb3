//! A zero-knowledge proof that a Pedersen commitment hides a value in `[0, 2^n)`.
//!
//! Bit decomposition with one OR-proof per bit (the classic construction, e.g. Camenisch &
//! Stadler's survey, §5): the prover commits to each bit, `C_j = b_j·G + r_j·H`, with blindings
//! chosen so that `Σ 2^j·C_j = C`; then for every bit it proves "`C_j` is a commitment to 0
//! **or** to 1" with a two-member AOS ring signature over `H` (keys `C_j` and `C_j − G`). The
//! verifier never learns which branch is real, so it learns nothing about `v` beyond the range.
//!
//! Size: `n` ring signatures (3 scalars each) and `n − 1` bit commitments (the last is implied
//! by `C`), i.e. `1 + 96·n + 33·(n − 1)` bytes: 2,032 bytes for 16 bits. Verification costs two
//! double-scalar multiplications per bit. (Bulletproofs would be ~700 bytes but need an inner
//! product argument and many more generators; for 16-bit values the simple proof meets the
//! verification-time target and is far easier to audit.)
//!
//! Every challenge hashes a caller-given `context` (plan id and device key in
//! [`crate::contribution`]), so a proof cannot be lifted into another contribution.
//!
//! ```
//! use itc_chaincode::pedersen::{Opening, PedersenGens};
//! use itc_chaincode::range_proof::RangeProof;
//! use rand_core::SeedableRng;
//! let gens = PedersenGens::new();
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
//! let opening = Opening::random(1234, &mut rng);
//! let c = gens.commit(&opening);
//! let proof = RangeProof::prove(&gens, &opening, 16, b"ctx", &mut rng).unwrap();
//! assert!(proof.verify(&gens, &c, 16, b"ctx").is_ok());
//! // The value does not fit in 8 bits: no proof can be made.
//! assert!(RangeProof::prove(&gens, &opening, 8, b"ctx", &mut rng).is_err());
//! ```

use alloc::vec::Vec;

use k256::elliptic_curve::ops::LinearCombination;
use k256::elliptic_curve::Field;
use k256::{ProjectivePoint, Scalar};
use rand_core::RngCore;

use itc_crypto::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::hash::{DomainTag, TaggedHasher};

use crate::error::CommitmentProofError;
use crate::pedersen::{
    decode_point, decode_scalar, encode_scalar, hash_to_scalar, point_bytes, Commitment, Opening,
    PedersenGens,
};

/// Fiat–Shamir tag of the per-bit ring signatures.
pub const RANGE_PROOF_TAG: DomainTag = DomainTag::new(b"itc/chaincode/range-proof/v1");
/// Widest range supported.
pub const MAX_RANGE_BITS: u8 = 32;

/// One bit's ring signature `(e0, s0, s1)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BitProof {
    e0: Scalar,
    s0: Scalar,
    s1: Scalar,
}

/// A proof that a commitment opens to a value below `2^bits`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeProof {
    /// Bit commitments `C_0 … C_{n−2}` (`C_{n−1}` is implied by the value commitment).
    bit_commitments: Vec<Commitment>,
    bits: Vec<BitProof>,
}

/// `cj` is the compressed bit commitment (normalised once per bit: each affine conversion is
/// a field inversion).
fn ring_challenge(
    context: &[u8],
    j: usize,
    cj: &[u8; 33],
    branch: u8,
    a: &ProjectivePoint,
) -> Scalar {
    let mut h = TaggedHasher::new(RANGE_PROOF_TAG);
    itc_crypto::encoding::write_bytes(&mut h, context);
    h.update(&(j as u32).to_be_bytes())
        .update(cj)
        .update(&[branch])
        .update(&point_bytes(a));
    hash_to_scalar(&h.finalize())
}

/// 2^j as a scalar.
fn pow2(j: usize) -> Scalar {
    Scalar::from(1u64 << j.min(63))
}

impl RangeProof {
    /// Proves `opening.value < 2^bits` for the commitment `gens.commit(opening)`.
    pub fn prove<R: RngCore + ?Sized>(
        gens: &PedersenGens,
        opening: &Opening,
        bits: u8,
        context: &[u8],
        rng: &mut R,
    ) -> Result<RangeProof, CommitmentProofError> {
        if bits == 0 || bits > MAX_RANGE_BITS {
            return Err(CommitmentProofError::RangeBitsOutOfRange { bits });
        }
        let n = usize::from(bits);
        if opening.value >> n != 0 {
            return Err(CommitmentProofError::ValueOutOfRange);
        }
        // Blindings: random for all but the last bit, the last one fixes Σ 2^j r_j = r.
        let mut blindings = Vec::with_capacity(n);
        let mut acc = Scalar::ZERO;
        for j in 0..n - 1 {
            let r = Scalar::random(&mut *rng);
            acc += pow2(j) * r;
            blindings.push(r);
        }
        let inv_last = Option::<Scalar>::from(pow2(n - 1).invert()).unwrap_or(Scalar::ZERO);
        blindings.push((opening.blinding - acc) * inv_last);

        let mut bit_commitments = Vec::with_capacity(n - 1);
        let mut proofs = Vec::with_capacity(n);
        for (j, r) in blindings.iter().enumerate() {
            let b = (opening.value >> j) & 1;
            let cj = gens.g * Scalar::from(b) + gens.h * r;
            let cj_bytes = point_bytes(&cj);
            let p1 = cj - gens.g;
            let k = Scalar::random(&mut *rng);
            let fake_s = Scalar::random(&mut *rng);
            let proof = if b == 0 {
                let a0 = gens.h * k;
                let e1 = ring_challenge(context, j, &cj_bytes, 1, &a0);
                let a1 = ProjectivePoint::lincomb(&gens.h, &fake_s, &p1, &(-e1));
                let e0 = ring_challenge(context, j, &cj_bytes, 0, &a1);
                BitProof {
                    e0,
                    s0: k + e0 * r,
                    s1: fake_s,
                }
            } else {
                let a1 = gens.h * k;
                let e0 = ring_challenge(context, j, &cj_bytes, 0, &a1);
                let a0 = ProjectivePoint::lincomb(&gens.h, &fake_s, &cj, &(-e0));
                let e1 = ring_challenge(context, j, &cj_bytes, 1, &a0);
                BitProof {
                    e0,
                    s0: fake_s,
                    s1: k + e1 * r,
                }
            };
            if j + 1 < n {
                bit_commitments.push(Commitment(cj));
            }
            proofs.push(proof);
        }
        Ok(RangeProof {
            bit_commitments,
            bits: proofs,
        })
    }

    /// Number of bits this proof covers.
    pub fn bits(&self) -> u8 {
        self.bits.len() as u8
    }

    /// Verifies that `c` commits to a value in `[0, 2^bits)`.
    pub fn verify(
        &self,
        gens: &PedersenGens,
        c: &Commitment,
        bits: u8,
        context: &[u8],
    ) -> Result<(), CommitmentProofError> {
        let n = usize::from(bits);
        if bits == 0 || bits > MAX_RANGE_BITS {
            return Err(CommitmentProofError::RangeBitsOutOfRange { bits });
        }
        if self.bits.len() != n || self.bit_commitments.len() + 1 != n {
            return Err(CommitmentProofError::WrongBitCount {
                expected: bits,
                found: self.bits.len() as u8,
            });
        }
        // C_{n−1} = (C − Σ_{j<n−1} 2^j C_j) / 2^{n−1}
        let mut partial = ProjectivePoint::IDENTITY;
        for cj in self.bit_commitments.iter().rev() {
            partial = partial.double() + cj.0;
        }
        let inv_last = Option::<Scalar>::from(pow2(n - 1).invert()).unwrap_or(Scalar::ZERO);
        let last = (c.0 - partial) * inv_last;
        let commitments = self
            .bit_commitments
            .iter()
            .map(|c| c.0)
            .chain(core::iter::once(last));
        for (j, (cj, proof)) in commitments.zip(&self.bits).enumerate() {
            let cj_bytes = point_bytes(&cj);
            let a0 = ProjectivePoint::lincomb(&gens.h, &proof.s0, &cj, &(-proof.e0));
            let e1 = ring_challenge(context, j, &cj_bytes, 1, &a0);
            let p1 = cj - gens.g;
            let a1 = ProjectivePoint::lincomb(&gens.h, &proof.s1, &p1, &(-e1));
            let e0 = ring_challenge(context, j, &cj_bytes, 0, &a1);
            if e0 != proof.e0 {
                return Err(CommitmentProofError::BitProofInvalid { bit: j as u8 });
            }
        }
        Ok(())
    }
}

impl Encode for RangeProof {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        w.write(&[self.bits.len() as u8]);
        for c in &self.bit_commitments {
            c.encode(w);
        }
        for b in &self.bits {
            encode_scalar(w, &b.e0);
            encode_scalar(w, &b.s0);
            encode_scalar(w, &b.s1);
        }
    }
    fn encoded_len(&self) -> usize {
        1 + 33 * self.bit_commitments.len() + 96 * self.bits.len()
    }
}

impl Decode for RangeProof {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.read_u8()?;
        if n == 0 || n > MAX_RANGE_BITS {
            return Err(DecodeError::LengthOverLimit {
                len: u64::from(n),
                max: u64::from(MAX_RANGE_BITS),
            });
        }
        let n = usize::from(n);
        let needed = 33 * (n - 1) + 96 * n;
        if r.remaining() < needed {
            return Err(DecodeError::UnexpectedEnd {
                needed,
                remaining: r.remaining(),
            });
        }
        let mut bit_commitments = Vec::with_capacity(n - 1);
        for _ in 0..n - 1 {
            bit_commitments.push(Commitment(decode_point(r)?));
        }
        let mut bits = Vec::with_capacity(n);
        for _ in 0..n {
            bits.push(BitProof {
                e0: decode_scalar(r)?,
                s0: decode_scalar(r)?,
                s1: decode_scalar(r)?,
            });
        }
        Ok(RangeProof {
            bit_commitments,
            bits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn boundary_values_prove_and_verify() {
        let gens = PedersenGens::new();
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        for (v, bits) in [
            (0u64, 1u8),
            (1, 1),
            (0, 8),
            (255, 8),
            (65_535, 16),
            (1 << 31, 32),
        ] {
            let o = Opening::random(v, &mut rng);
            let c = gens.commit(&o);
            let p = RangeProof::prove(&gens, &o, bits, b"t", &mut rng).unwrap();
            assert_eq!(p.encoded_len(), p.encode_to_vec().len());
            assert!(
                p.verify(&gens, &c, bits, b"t").is_ok(),
                "{v} in {bits} bits"
            );
            assert_eq!(RangeProof::decode_bytes(&p.encode_to_vec()).unwrap(), p);
        }
        let o = Opening::random(3, &mut rng);
        let p = RangeProof::prove(&gens, &o, 16, b"t", &mut rng).unwrap();
        assert_eq!(p.encoded_len(), 2032);
    }

    #[test]
    fn out_of_range_commitment_is_rejected() {
        // A cheating prover proves a small value, then swaps in a commitment to a huge one.
        let gens = PedersenGens::new();
        let mut rng = ChaCha20Rng::seed_from_u64(12);
        let small = Opening::random(5, &mut rng);
        let proof = RangeProof::prove(&gens, &small, 8, b"t", &mut rng).unwrap();
        let huge = gens.commit(&Opening::new(1 << 40, small.blinding));
        assert!(matches!(
            proof.verify(&gens, &huge, 8, b"t"),
            Err(CommitmentProofError::BitProofInvalid { .. })
        ));
        // Same proof under a different context or bit count fails.
        let c = gens.commit(&small);
        assert!(proof.verify(&gens, &c, 8, b"u").is_err());
        assert_eq!(
            proof.verify(&gens, &c, 9, b"t"),
            Err(CommitmentProofError::WrongBitCount {
                expected: 9,
                found: 8
            })
        );
        // A negative value (v = −1 mod n) has no bit decomposition: a forged "all ones" bit set
        // does not sum to C.
        let neg = Opening::new(u64::MAX, small.blinding);
        assert_eq!(
            RangeProof::prove(&gens, &neg, 8, b"t", &mut rng),
            Err(CommitmentProofError::ValueOutOfRange)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        #[test]
        fn proofs_verify_and_tampering_fails(v in 0u64..1024, seed: u64, flip in 0usize..200) {
            let gens = PedersenGens::new();
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let o = Opening::random(v, &mut rng);
            let c = gens.commit(&o);
            let p = RangeProof::prove(&gens, &o, 10, b"ctx", &mut rng).unwrap();
            prop_assert!(p.verify(&gens, &c, 10, b"ctx").is_ok());
            let mut bytes = p.encode_to_vec();
            let i = 1 + flip % (bytes.len() - 1);
            bytes[i] ^= 0x01;
            if let Ok(q) = RangeProof::decode_bytes(&bytes) {
                prop_assert!(q.verify(&gens, &c, 10, b"ctx").is_err());
            }
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = RangeProof::decode_bytes(&data);
        }
    }
}
