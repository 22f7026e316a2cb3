//! The GLV split: `k·P = k₁·P + k₂·(λ·P)` with `|k₁|, |k₂| < 2¹²⁸`, where `λ·(x, y) = (β·x, y)`
//! costs one field multiplication. Every scalar of the batch equation then has at most 128
//! bits, so all points share 129 doublings instead of 257 — the fixed cost of an equation,
//! which is what small certificates pay most for.
//!
//! The decomposition is libsecp256k1's (as ported in k256's `mul.rs`, whose comment proves the
//! 128-bit bounds): `c₁ = round(k·g₁ / 2³⁸⁴)`, `c₂ = round(k·g₂ / 2³⁸⁴)`,
//! `k₂ = c₁·(−b₁) + c₂·(−b₂)`, `k₁ = k − k₂·λ (mod n)`.

use k256::elliptic_curve::ff::PrimeField;
use k256::elliptic_curve::scalar::IsHigh;
use k256::{FieldElement as Fe, Scalar};

use super::msm::{limbs, Limbs};

/// β: a primitive cube root of unity mod p, with `λ·(x, y) = (β·x, y)`.
const BETA: [u8; 32] = [
    0x7a, 0xe9, 0x6a, 0x2b, 0x65, 0x7c, 0x07, 0x10, 0x6e, 0x64, 0x47, 0x9e, 0xac, 0x34, 0x34, 0xe9,
    0x9c, 0xf0, 0x49, 0x75, 0x12, 0xf5, 0x89, 0x95, 0xc1, 0x39, 0x6c, 0x28, 0x71, 0x95, 0x01, 0xee,
];
/// −λ mod n.
const MINUS_LAMBDA: [u8; 32] = [
    0xac, 0x9c, 0x52, 0xb3, 0x3f, 0xa3, 0xcf, 0x1f, 0x5a, 0xd9, 0xe3, 0xfd, 0x77, 0xed, 0x9b, 0xa4,
    0xa8, 0x80, 0xb9, 0xfc, 0x8e, 0xc7, 0x39, 0xc2, 0xe0, 0xcf, 0xc8, 0x10, 0xb5, 0x12, 0x83, 0xcf,
];
/// −b₁.
const MINUS_B1: [u8; 32] = [
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xe4, 0x43, 0x7e, 0xd6, 0x01, 0x0e, 0x88, 0x28, 0x6f, 0x54, 0x7f, 0xa9, 0x0a, 0xbf, 0xe4, 0xc3,
];
/// −b₂ mod n.
const MINUS_B2: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0x8a, 0x28, 0x0a, 0xc5, 0x07, 0x74, 0x34, 0x6d, 0xd7, 0x65, 0xcd, 0xa8, 0x3d, 0xb1, 0x56, 0x2c,
];
/// g₁ = round(2³⁸⁴·b₂/n).
const G1: [u8; 32] = [
    0x30, 0x86, 0xd2, 0x21, 0xa7, 0xd4, 0x6b, 0xcd, 0xe8, 0x6c, 0x90, 0xe4, 0x92, 0x84, 0xeb, 0x15,
    0x3d, 0xaa, 0x8a, 0x14, 0x71, 0xe8, 0xca, 0x7f, 0xe8, 0x93, 0x20, 0x9a, 0x45, 0xdb, 0xb0, 0x31,
];
/// g₂ = round(2³⁸⁴·(−b₁)/n).
const G2: [u8; 32] = [
    0xe4, 0x43, 0x7e, 0xd6, 0x01, 0x0e, 0x88, 0x28, 0x6f, 0x54, 0x7f, 0xa9, 0x0a, 0xbf, 0xe4, 0xc4,
    0x22, 0x12, 0x08, 0xac, 0x9d, 0xf5, 0x06, 0xc6, 0x15, 0x71, 0xb4, 0xae, 0x8a, 0xc4, 0x7f, 0x71,
];

/// Big-endian bytes to little-endian limbs.
fn be_limbs(be: &[u8; 32]) -> Limbs {
    let mut out = [0u64; 4];
    for (limb, chunk) in out.iter_mut().zip(be.rchunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *limb = u64::from_be_bytes(b);
    }
    out
}

/// Little-endian limbs (a value below n) to a scalar.
fn limbs_scalar(l: &Limbs) -> Option<Scalar> {
    let mut be = [0u8; 32];
    for (chunk, limb) in be.rchunks_exact_mut(8).zip(l.iter()) {
        chunk.copy_from_slice(&limb.to_be_bytes());
    }
    Option::from(Scalar::from_repr(be.into()))
}

/// `round(a·b / 2³⁸⁴)` for 256-bit `a`, `b` (the result has at most 128 bits).
fn mul_shift_384(a: &Limbs, b: &Limbs) -> Limbs {
    let mut prod = [0u64; 8];
    for (i, &ai) in a.iter().enumerate() {
        let mut carry = 0u128;
        for (j, &bj) in b.iter().enumerate() {
            if let Some(p) = prod.get_mut(i + j) {
                let t = u128::from(*p) + u128::from(ai) * u128::from(bj) + carry;
                *p = t as u64;
                carry = t >> 64;
            }
        }
        if let Some(p) = prod.get_mut(i + 4) {
            *p = carry as u64;
        }
    }
    let [_, _, _, _, _, l5, l6, l7] = prod;
    let (lo, c) = l6.overflowing_add(l5 >> 63);
    [lo, l7.wrapping_add(u64::from(c)), 0, 0]
}

/// The constants, parsed once per batch.
pub(crate) struct Glv {
    pub(crate) beta: Fe,
    minus_lambda: Scalar,
    minus_b1: Scalar,
    minus_b2: Scalar,
    g1: Limbs,
    g2: Limbs,
}

/// One half of a split scalar: magnitude (< 2¹²⁸) and whether it stands for its negation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Half {
    pub(crate) magnitude: Limbs,
    pub(crate) negative: bool,
}

impl Half {
    fn of(k: Scalar) -> Self {
        let negative = bool::from(k.is_high());
        Half {
            magnitude: limbs(&if negative { -k } else { k }),
            negative,
        }
    }
}

impl Glv {
    /// `None` only if a constant above were mistyped (a test pins them).
    pub(crate) fn new() -> Option<Self> {
        let s = |b: &[u8; 32]| Option::<Scalar>::from(Scalar::from_repr((*b).into()));
        Some(Glv {
            beta: Option::from(Fe::from_bytes(&BETA.into()))?,
            minus_lambda: s(&MINUS_LAMBDA)?,
            minus_b1: s(&MINUS_B1)?,
            minus_b2: s(&MINUS_B2)?,
            g1: be_limbs(&G1),
            g2: be_limbs(&G2),
        })
    }

    /// Splits `k` into `(k₁, k₂)` with `k ≡ k₁ + k₂·λ (mod n)`, both halves below 2¹²⁸.
    pub(crate) fn split(&self, k: &Scalar) -> Option<(Half, Half)> {
        let kl = limbs(k);
        let c1 = limbs_scalar(&mul_shift_384(&kl, &self.g1))? * self.minus_b1;
        let c2 = limbs_scalar(&mul_shift_384(&kl, &self.g2))? * self.minus_b2;
        let k2 = c1 + c2;
        let k1 = *k + k2 * self.minus_lambda;
        Some((Half::of(k1), Half::of(k2)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use k256::elliptic_curve::ops::MulByGenerator;
    use k256::elliptic_curve::Field;
    use k256::ProjectivePoint;
    use rand_core::SeedableRng;

    fn value(h: &Half) -> Scalar {
        let v = limbs_scalar(&h.magnitude).unwrap();
        if h.negative {
            -v
        } else {
            v
        }
    }

    #[test]
    fn split_recombines_with_halves_below_2_128() {
        let glv = Glv::new().unwrap();
        let lambda = -Scalar::from_repr(MINUS_LAMBDA.into()).unwrap();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let mut ks = vec![Scalar::ZERO, Scalar::ONE, -Scalar::ONE, lambda, -lambda];
        ks.extend((0..500).map(|_| Scalar::random(&mut rng)));
        for k in ks {
            let (h1, h2) = glv.split(&k).unwrap();
            assert_eq!(value(&h1) + value(&h2) * lambda, k);
            for h in [h1, h2] {
                assert_eq!(h.magnitude[2], 0);
                assert_eq!(h.magnitude[3], 0);
            }
        }
    }

    #[test]
    fn beta_is_the_endomorphism_of_lambda() {
        use k256::elliptic_curve::sec1::ToEncodedPoint;
        let glv = Glv::new().unwrap();
        let lambda = -Scalar::from_repr(MINUS_LAMBDA.into()).unwrap();
        let g = ProjectivePoint::GENERATOR
            .to_affine()
            .to_encoded_point(false);
        let lg = ProjectivePoint::mul_by_generator(&lambda)
            .to_affine()
            .to_encoded_point(false);
        let gx = Fe::from_bytes(g.x().unwrap()).unwrap();
        assert_eq!(
            (gx * glv.beta).normalize().to_bytes(),
            *lg.x().unwrap(),
            "λ·G = (β·x, y)"
        );
        assert_eq!(g.y(), lg.y());
    }
}
