//! Pedersen commitments on secp256k1 and a proof of knowledge of an opening.
//!
//! `C = v·G + r·H` hides `v` perfectly and binds it computationally, as long as nobody knows
//! `log_G(H)`. We get `H` by **hash-to-curve** (RFC 9380 `secp256k1_XMD:SHA3-256_SSWU_RO_`
//! style, via k256's `hash2curve`, with domain tag [`H_DST`]): `H` is the image of a public
//! string under a random-oracle map, so its discrete log relative to `G` is unknown to
//! everyone, us included. `G` is the standard secp256k1 base point.
//!
//! Commitments add: `C(v1, r1) + C(v2, r2) = C(v1 + v2, r1 + r2)`, which is what lets a sum
//! be checked without seeing the summands.
//!
//! ```
//! use itc_chaincode::pedersen::{PedersenGens, Opening};
//! use rand_core::SeedableRng;
//! let gens = PedersenGens::new();
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
//! let o = Opening::random(42, &mut rng);
//! let c = gens.commit(&o);
//! assert!(gens.opens_to(&c, &o));
//! let proof = gens.prove_opening(&c, &o, b"ctx", &mut rng);
//! assert!(gens.verify_opening(&c, &proof, b"ctx").is_ok());
//! assert!(gens.verify_opening(&c, &proof, b"other ctx").is_err());
//! ```

use k256::elliptic_curve::group::GroupEncoding;
use k256::elliptic_curve::hash2curve::{ExpandMsgXmd, GroupDigest};
use k256::elliptic_curve::ops::{LinearCombination, MulByGenerator, Reduce};
use k256::elliptic_curve::{Field, PrimeField};
use k256::{AffinePoint, FieldBytes, ProjectivePoint, Scalar, Secp256k1, U256};
use rand_core::RngCore;

use itc_crypto::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::hash::{DomainTag, Hash, TaggedHasher};

use crate::error::CommitmentProofError;

/// Hash-to-curve domain separation tag for the generator `H`.
pub const H_DST: &[u8] = b"itc/chaincode/pedersen/H/v1";
/// Fiat–Shamir tag of the opening proof.
pub const OPENING_PROOF_TAG: DomainTag = DomainTag::new(b"itc/chaincode/opening-proof/v1");

/// The two generators. Build once ([`PedersenGens::new`] runs hash-to-curve) and reuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PedersenGens {
    /// The value generator (secp256k1's base point).
    pub g: ProjectivePoint,
    /// The blinding generator, from hash-to-curve of [`H_DST`].
    pub h: ProjectivePoint,
}

impl Default for PedersenGens {
    fn default() -> Self {
        Self::new()
    }
}

impl PedersenGens {
    /// Derives `H` by hash-to-curve; `G` is the standard generator.
    pub fn new() -> Self {
        let h = Secp256k1::hash_from_bytes::<ExpandMsgXmd<sha3::Sha3_256>>(
            &[b"pedersen generator H"],
            &[H_DST],
        )
        // The XMD expander only fails for DSTs/lengths far outside what we pass; fall back
        // to a hash-derived point on the (impossible) error path rather than panic.
        .unwrap_or_else(|_| ProjectivePoint::GENERATOR * hash_to_scalar(&Hash::ZERO));
        PedersenGens {
            g: ProjectivePoint::GENERATOR,
            h,
        }
    }

    /// `v·G + r·H`.
    pub fn commit(&self, opening: &Opening) -> Commitment {
        Commitment(ProjectivePoint::lincomb(
            &self.g,
            &Scalar::from(opening.value),
            &self.h,
            &opening.blinding,
        ))
    }

    /// Whether `c` is the commitment of `opening` (what an aggregator that was handed the
    /// opening checks).
    pub fn opens_to(&self, c: &Commitment, opening: &Opening) -> bool {
        self.commit(opening) == *c
    }

    /// Proves knowledge of `(v, r)` with `C = v·G + r·H`, bound to `context` (Okamoto's
    /// Σ-protocol made non-interactive with Fiat–Shamir).
    pub fn prove_opening<R: RngCore + ?Sized>(
        &self,
        c: &Commitment,
        opening: &Opening,
        context: &[u8],
        rng: &mut R,
    ) -> OpeningProof {
        let a = Scalar::random(&mut *rng);
        let b = Scalar::random(&mut *rng);
        let t = ProjectivePoint::lincomb(&self.g, &a, &self.h, &b);
        let e = opening_challenge(c, &t, context);
        OpeningProof {
            t: Commitment(t),
            z1: a + e * Scalar::from(opening.value),
            z2: b + e * opening.blinding,
        }
    }

    /// Verifies an [`OpeningProof`]: `z1·G + z2·H == T + e·C`.
    pub fn verify_opening(
        &self,
        c: &Commitment,
        proof: &OpeningProof,
        context: &[u8],
    ) -> Result<(), CommitmentProofError> {
        let e = opening_challenge(c, &proof.t.0, context);
        // z1·G uses k256's fixed-base tables; the rest is one double-scalar multiplication:
        // z1·G + (z2·H − e·C) == T.
        let lhs = ProjectivePoint::mul_by_generator(&proof.z1)
            + ProjectivePoint::lincomb(&self.h, &proof.z2, &c.0, &(-e));
        if lhs == proof.t.0 {
            Ok(())
        } else {
            Err(CommitmentProofError::OpeningInvalid)
        }
    }
}

fn opening_challenge(c: &Commitment, t: &ProjectivePoint, context: &[u8]) -> Scalar {
    let mut h = TaggedHasher::new(OPENING_PROOF_TAG);
    itc_crypto::encoding::write_bytes(&mut h, context);
    h.update_encoded(c).update(&point_bytes(t));
    hash_to_scalar(&h.finalize())
}

/// A hash reduced modulo the group order (bias ≤ 2^-128: the order is within 2^128 of 2^256).
pub(crate) fn hash_to_scalar(h: &Hash) -> Scalar {
    <Scalar as Reduce<U256>>::reduce_bytes(&FieldBytes::from(h.0))
}

pub(crate) fn point_bytes(p: &ProjectivePoint) -> [u8; 33] {
    let enc = AffinePoint::from(*p).to_bytes();
    let mut out = [0u8; 33];
    out.copy_from_slice(&enc[..]);
    out
}

pub(crate) fn decode_point(r: &mut Reader<'_>) -> Result<ProjectivePoint, DecodeError> {
    let bytes: [u8; 33] = r.read_array()?;
    itc_crypto::point::decode_compressed(&bytes, "curve point").map(ProjectivePoint::from)
}

pub(crate) fn encode_scalar<W: Writer + ?Sized>(w: &mut W, s: &Scalar) {
    w.write(&s.to_bytes()[..]);
}

pub(crate) fn decode_scalar(r: &mut Reader<'_>) -> Result<Scalar, DecodeError> {
    let bytes: [u8; 32] = r.read_array()?;
    Option::from(Scalar::from_repr(FieldBytes::from(bytes))).ok_or(DecodeError::NonCanonical {
        type_name: "scalar",
    })
}

/// A Pedersen commitment (a non-identity curve point; 33 bytes compressed on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Commitment(pub(crate) ProjectivePoint);

impl Commitment {
    /// The curve point.
    pub fn as_point(&self) -> &ProjectivePoint {
        &self.0
    }

    /// Homomorphic sum of commitments.
    ///
    /// ```
    /// use itc_chaincode::pedersen::{PedersenGens, Opening, Commitment};
    /// use k256::Scalar;
    /// let g = PedersenGens::new();
    /// let a = Opening::new(3, Scalar::from(5u64));
    /// let b = Opening::new(4, Scalar::from(6u64));
    /// let sum = Commitment::sum([g.commit(&a), g.commit(&b)].iter());
    /// assert_eq!(sum, g.commit(&Opening::new(7, Scalar::from(11u64))));
    /// ```
    pub fn sum<'a>(items: impl Iterator<Item = &'a Commitment>) -> Commitment {
        Commitment(items.fold(ProjectivePoint::IDENTITY, |acc, c| acc + c.0))
    }
}

impl Encode for Commitment {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        w.write(&point_bytes(&self.0));
    }
    fn encoded_len(&self) -> usize {
        33
    }
}

impl Decode for Commitment {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Commitment(decode_point(r)?))
    }
}

/// The secret behind a commitment: the value and the blinding scalar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opening {
    /// The committed value.
    pub value: u64,
    /// The blinding factor `r`.
    pub blinding: Scalar,
}

impl Opening {
    /// An opening with a chosen blinding.
    pub fn new(value: u64, blinding: Scalar) -> Self {
        Opening { value, blinding }
    }

    /// An opening with a fresh random blinding from the caller's RNG.
    pub fn random<R: RngCore + ?Sized>(value: u64, rng: &mut R) -> Self {
        Opening {
            value,
            blinding: Scalar::random(&mut *rng),
        }
    }
}

impl Encode for Opening {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.value.encode(w);
        encode_scalar(w, &self.blinding);
    }
    fn encoded_len(&self) -> usize {
        40
    }
}

impl Decode for Opening {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Opening {
            value: u64::decode(r)?,
            blinding: decode_scalar(r)?,
        })
    }
}

/// A proof of knowledge of a commitment's opening: 97 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpeningProof {
    t: Commitment,
    z1: Scalar,
    z2: Scalar,
}

impl Encode for OpeningProof {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.t.encode(w);
        encode_scalar(w, &self.z1);
        encode_scalar(w, &self.z2);
    }
    fn encoded_len(&self) -> usize {
        97
    }
}

impl Decode for OpeningProof {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(OpeningProof {
            t: Commitment::decode(r)?,
            z1: decode_scalar(r)?,
            z2: decode_scalar(r)?,
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
    fn h_is_fixed_and_not_g() {
        let gens = PedersenGens::new();
        assert_ne!(gens.h, gens.g);
        assert_ne!(gens.h, ProjectivePoint::IDENTITY);
        // Pin H so an accidental change of the derivation is caught.
        assert_eq!(PedersenGens::new().h, gens.h);
        let hex = hex::encode(point_bytes(&gens.h));
        assert_eq!(hex.len(), 66);
        assert_eq!(hex, H_EXPECTED);
    }

    const H_EXPECTED: &str = "02ce651cb79015999ea71a2255fd38e20356d65552728a500bce6a4cc659a1aa0f";

    #[test]
    fn commitments_are_hiding_in_form_and_binding_in_value() {
        let gens = PedersenGens::new();
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let a = Opening::random(7, &mut rng);
        let b = Opening::random(7, &mut rng);
        assert_ne!(gens.commit(&a), gens.commit(&b));
        assert!(!gens.opens_to(&gens.commit(&a), &Opening::new(8, a.blinding)));
    }

    #[test]
    fn forged_opening_proofs_fail() {
        let gens = PedersenGens::new();
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let o = Opening::random(9, &mut rng);
        let c = gens.commit(&o);
        let proof = gens.prove_opening(&c, &o, b"x", &mut rng);
        let other = gens.commit(&Opening::random(9, &mut rng));
        assert_eq!(
            gens.verify_opening(&other, &proof, b"x"),
            Err(CommitmentProofError::OpeningInvalid)
        );
        let mut bad = proof;
        bad.z1 += Scalar::ONE;
        assert_eq!(
            gens.verify_opening(&c, &bad, b"x"),
            Err(CommitmentProofError::OpeningInvalid)
        );
        // A prover who does not know the opening (wrong value) fails.
        let wrong = gens.prove_opening(&c, &Opening::new(10, o.blinding), b"x", &mut rng);
        assert!(gens.verify_opening(&c, &wrong, b"x").is_err());
    }

    #[test]
    fn encodings_reject_bad_points_and_scalars() {
        assert!(Commitment::decode_bytes(&[0u8; 33]).is_err());
        assert!(Commitment::decode_bytes(&[0xff; 33]).is_err());
        let mut o = [0u8; 40];
        o[8..].copy_from_slice(&[0xff; 32]); // ≥ group order
        assert!(Opening::decode_bytes(&o).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn round_trips(value: u64, seed: u64) {
            let gens = PedersenGens::new();
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let o = Opening::random(value, &mut rng);
            let c = gens.commit(&o);
            prop_assert_eq!(Commitment::decode_bytes(&c.encode_to_vec()).unwrap(), c);
            prop_assert_eq!(Opening::decode_bytes(&o.encode_to_vec()).unwrap(), o);
            let p = gens.prove_opening(&c, &o, b"c", &mut rng);
            let bytes = p.encode_to_vec();
            prop_assert_eq!(bytes.len(), 97);
            prop_assert_eq!(OpeningProof::decode_bytes(&bytes).unwrap(), p);
            prop_assert!(gens.verify_opening(&c, &p, b"c").is_ok());
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = Commitment::decode_bytes(&data);
            let _ = OpeningProof::decode_bytes(&data);
            let _ = Opening::decode_bytes(&data);
        }
    }
}
