//! The batch equation: BIP340 signatures combined with coefficients derived from the batch.
//!
//! For signatures `(rᵢ, sᵢ)` by keys `Pᵢ` on messages `mᵢ`, with `Rᵢ = lift_x(rᵢ)` (even y) and
//! `eᵢ = H_BIP0340/challenge(rᵢ ‖ Pᵢ ‖ mᵢ)`, each signature is valid iff `sᵢ·G − Rᵢ − eᵢ·Pᵢ = 0`.
//! The batch checks one equation instead:
//!
//! ```text
//! (Σ aᵢ·sᵢ)·G + Σ aᵢ·(−Rᵢ) + Σ (aᵢ·eᵢ)·(−Pᵢ) = 0
//! ```
//!
//! with 128-bit coefficients `aᵢ`. Valid signatures always pass. If some `Dⱼ = sⱼ·G − Rⱼ −
//! eⱼ·Pⱼ ≠ 0`, the sum is zero only when `aⱼ` hits the one value mod n that cancels the other
//! terms: probability 2⁻¹²⁸ per batch *if `aⱼ` is unpredictable when the batch is fixed*.
//!
//! Why the coefficients need no RNG: `aᵢ = Keccak(tag ‖ seed ‖ i)` where `seed` hashes every
//! key, message and signature of the whole batch (and its length). The adversary commits to all
//! of the batch before the coefficients exist; changing any byte changes every coefficient. In
//! the random-oracle model each attempt is a fresh 2⁻¹²⁸ lottery ticket, and buying a ticket
//! costs a hash — the same bound as random coefficients against an adversary that may retry,
//! and the result is reproducible (same batch, same verdict, on every platform).

use core::ops::Range;

use k256::elliptic_curve::ff::PrimeField;
use k256::elliptic_curve::ops::Reduce;
use k256::sha2::{Digest, Sha256};
use k256::{Scalar, U256};

use super::glv::Glv;
use super::group::Affine;
use super::msm::{limbs, Msm, Workspace};
use super::{ItemRef, Source};
use crate::encoding::{write_bytes, write_varint};
use crate::hash::{DomainTag, Hash, TaggedHasher};

/// Tag of the hash that binds the coefficients to the whole batch.
pub(crate) const BATCH_SEED: DomainTag = DomainTag::new(b"itc/crypto/batch-seed/v1");
/// Tag of the per-item coefficient derivation.
pub(crate) const BATCH_COEFFICIENT: DomainTag = DomainTag::new(b"itc/crypto/batch-coefficient/v1");

/// NAF width for the 128-bit coefficients on `Rᵢ` (4 odd multiples per table).
pub(crate) const R_WINDOW: usize = 4;
/// NAF width for the GLV-split scalars on `Pᵢ` and `G` (8 odd multiples per table, read by
/// both halves).
pub(crate) const P_WINDOW: usize = 5;
/// Table entries one signature needs: `R` and `P` tables.
pub(crate) const ENTRIES_PER_SIGNATURE: usize =
    super::msm::table_len(R_WINDOW) + super::msm::table_len(P_WINDOW);
/// Table entries of the generator term.
pub(crate) const GENERATOR_ENTRIES: usize = super::msm::table_len(P_WINDOW);

/// Workspace sizes for a chunk of `k` signatures: (table entries, terms). A signature has
/// three terms (`R`, and `P` split in two halves), the generator two.
pub(crate) const fn workspace_len(k: usize) -> (usize, usize) {
    (k * ENTRIES_PER_SIGNATURE + GENERATOR_ENTRIES, 3 * k + 2)
}

/// Everything a batch check needs besides the items: the batch seed and the BIP340 challenge
/// hasher with its tag prefix already absorbed.
pub(crate) struct Equation {
    seed: Hash,
    challenge: Sha256,
    glv: Option<Glv>,
}

impl Equation {
    /// Hashes the whole batch: `seed = H(BATCH_SEED, n ‖ (pk ‖ len ‖ msg ‖ sig)*)`.
    pub(crate) fn new<S: Source + ?Sized>(items: &S) -> Self {
        let n = items.count();
        let mut h = TaggedHasher::new(BATCH_SEED);
        write_varint(&mut h, n as u64);
        for i in 0..n {
            match items.item(i) {
                Some(item) => {
                    h.update(item.public_key.as_bytes());
                    write_bytes(&mut h, item.message);
                    h.update(item.signature.as_bytes());
                }
                // A missing item is invalid anyway; mark its place so positions stay bound.
                None => {
                    h.update(&[0xff]);
                }
            }
        }
        let tag = Sha256::digest(b"BIP0340/challenge");
        let mut challenge = Sha256::new();
        challenge.update(tag);
        challenge.update(tag);
        Equation {
            seed: h.finalize(),
            challenge,
            glv: Glv::new(),
        }
    }

    /// `aᵢ`: 128 bits of `H(BATCH_COEFFICIENT, seed ‖ i)`, never zero.
    fn coefficient(&self, index: usize) -> Scalar {
        let mut h = TaggedHasher::new(BATCH_COEFFICIENT);
        h.update(self.seed.as_bytes());
        h.update(&(index as u64).to_be_bytes());
        let d = h.finalize();
        let mut b = [0u8; 16];
        b.copy_from_slice(d.as_bytes().get(..16).unwrap_or(&[1u8; 16]));
        match u128::from_be_bytes(b) {
            0 => Scalar::ONE,
            a => Scalar::from(a),
        }
    }

    /// BIP340's `e = int(hash_BIP0340/challenge(r ‖ P ‖ m)) mod n`.
    fn challenge(&self, r: &[u8], pk: &[u8; 32], msg: &[u8]) -> Scalar {
        let digest = self
            .challenge
            .clone()
            .chain_update(r)
            .chain_update(pk)
            .chain_update(msg)
            .finalize();
        <Scalar as Reduce<U256>>::reduce_bytes(&digest)
    }

    /// Whether every item in `range` verifies (one equation; skipped items count as valid).
    /// Any malformed item — r not below p or not an x coordinate, s not below n — makes the
    /// range fail, and bisection then finds it with a single verification.
    pub(crate) fn holds<S: Source + ?Sized>(
        &self,
        items: &S,
        range: Range<usize>,
        ws: &mut Workspace<'_>,
    ) -> bool {
        let (Some(g), Some(glv)) = (Affine::generator(), self.glv.as_ref()) else {
            return false;
        };
        let mut msm = Msm::new(ws, glv.beta);
        let mut g_scalar = Scalar::ZERO;
        let mut first = true;
        for i in range {
            if items.known_valid(i) {
                continue;
            }
            let Some(item) = items.item(i) else {
                return false;
            };
            let Some(mut term) = self.prepare(i, &item) else {
                return false;
            };
            if first {
                // The first signature of each equation gets a = 1 (as in BIP340's batch
                // verification): −R is then one addition, no table. Still sound: if only this
                // signature is bad the sum is its non-zero error; if another is, that one's
                // random coefficient decides.
                term.a = Scalar::ONE;
                msm.add(&term.minus_r);
                first = false;
            } else {
                msm.push(&term.minus_r, &limbs(&term.a), R_WINDOW);
            }
            g_scalar += term.a * term.s;
            let Some(halves) = glv.split(&(term.a * term.e)) else {
                return false;
            };
            msm.push_split(&term.minus_p, halves, P_WINDOW);
        }
        if first {
            return true;
        }
        let Some(halves) = glv.split(&g_scalar) else {
            return false;
        };
        msm.push_split(&g, halves, P_WINDOW);
        msm.sums_to_identity()
    }

    fn prepare(&self, index: usize, item: &ItemRef<'_>) -> Option<Prepared> {
        let sig = item.signature.as_bytes();
        let (r, s) = sig.split_at(32);
        let r: &[u8; 32] = r.try_into().ok()?;
        let s: [u8; 32] = s.try_into().ok()?;
        let minus_r = Affine::lift_x(r)?.neg();
        let s = Option::<Scalar>::from(Scalar::from_repr(s.into()))?;
        let minus_p = Affine::from_k256(item.public_key.as_affine())?.neg();
        let e = self.challenge(r, item.public_key.as_bytes(), item.message);
        Some(Prepared {
            minus_r,
            minus_p,
            s,
            e,
            a: self.coefficient(index),
        })
    }
}

/// One signature, parsed and lifted.
struct Prepared {
    minus_r: Affine,
    minus_p: Affine,
    s: Scalar,
    e: Scalar,
    a: Scalar,
}

#[cfg(test)]
#[cfg(feature = "alloc")]
mod tests {
    use super::*;
    use crate::batch::BatchItem;
    use crate::{keccak256, SecretKey, Signer};
    use alloc::vec::Vec;

    fn items() -> Vec<BatchItem> {
        (1u8..=3)
            .map(|i| {
                let k = SecretKey::from_bytes(&[i; 32]).unwrap();
                let d = keccak256(&[i]);
                BatchItem::new(k.public_key(), d, k.sign_digest(&d).unwrap())
            })
            .collect()
    }

    #[test]
    fn the_seed_binds_every_byte_and_the_length() {
        let base = items();
        let seed = Equation::new(&base[..]).seed;
        for i in 0..base.len() {
            for part in 0..3 {
                let mut b = base.clone();
                match part {
                    0 => b[i].public_key = SecretKey::from_bytes(&[9; 32]).unwrap().public_key(),
                    1 => b[i].digest.0[31] ^= 1,
                    _ => b[i].signature.0[63] ^= 1,
                }
                assert_ne!(Equation::new(&b[..]).seed, seed, "item {i} part {part}");
            }
        }
        assert_ne!(Equation::new(&base[..2]).seed, seed);
        let mut swapped = base.clone();
        swapped.swap(0, 1);
        assert_ne!(Equation::new(&swapped[..]).seed, seed);
    }

    #[test]
    fn coefficients_are_deterministic_distinct_and_128_bit() {
        let e = Equation::new(&items()[..]);
        let again = Equation::new(&items()[..]);
        let mut seen = Vec::new();
        for i in 0..64 {
            let a = e.coefficient(i);
            assert_eq!(a, again.coefficient(i));
            assert!(!bool::from(a.is_zero()));
            let bytes = a.to_bytes();
            assert!(bytes[..16].iter().all(|&b| b == 0), "fits in 128 bits");
            assert!(!seen.contains(&a));
            seen.push(a);
        }
    }

    #[test]
    fn challenge_matches_k256_bip340() {
        // A signature verifies in the batch iff the challenge is BIP340's: check against
        // k256's verifier on a valid signature with a non-32-byte message.
        let k = SecretKey::from_bytes(&[4; 32]).unwrap();
        let msg = b"seventeen bytes!!";
        let sig = k.sign_raw(msg, &[0; 32]).unwrap();
        let pk = k.public_key();
        let item = [crate::batch::ItemRef {
            public_key: &pk,
            message: msg,
            signature: &sig,
        }];
        let e = Equation::new(&item[..]);
        let (mut tables, mut scratch) = (
            [super::super::group::Jacobian::INFINITY; 20],
            [k256::FieldElement::ZERO; 20],
        );
        let (mut nafs, mut terms) = (
            [[0i8; super::super::msm::NAF_LEN]; 5],
            [super::super::msm::Term::EMPTY; 5],
        );
        let mut ws = Workspace {
            tables: &mut tables,
            scratch: &mut scratch,
            nafs: &mut nafs,
            terms: &mut terms,
        };
        assert!(e.holds(&item[..], 0..1, &mut ws));
    }
}
