//! Variable-time secp256k1 point arithmetic for batch verification, on k256's field.
//!
//! k256's own `ProjectivePoint` uses complete, constant-time formulas: right for signing, but
//! verification handles only public data, so here we use the cheaper Jacobian formulas
//! (doubling 3M+4S, mixed addition 8M+3S) and branch on the rare exceptional cases.
//!
//! k256's field elements carry a *magnitude* (how far from reduced a limb representation may
//! be; multiplication accepts at most 8, the 32-bit field at most 31 overall). Every coordinate
//! stored in a point here is weakly normalised (magnitude 1), so each formula can be checked
//! locally: the comments give the magnitude of each intermediate. Debug builds of k256 assert
//! them, so the unit tests check these comments.

// Field products are written `a * &b` on purpose: k256 marks only `Mul<&FieldElement>`
// `#[inline(always)]`, and inlining the 5×52 multiplication is worth ~15% of a batch.
#![allow(clippy::op_ref, clippy::assign_op_pattern)]

use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::FieldElement as Fe;

/// A finite affine point with weakly normalised coordinates.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Affine {
    pub(crate) x: Fe,
    pub(crate) y: Fe,
}

/// The curve constant: `y² = x³ + 7`.
const CURVE_B: Fe = Fe::from_u64(7);

/// The generator `G` (SEC 2), uncompressed coordinates.
const GENERATOR_X: [u8; 32] = [
    0x79, 0xbe, 0x66, 0x7e, 0xf9, 0xdc, 0xbb, 0xac, 0x55, 0xa0, 0x62, 0x95, 0xce, 0x87, 0x0b, 0x07,
    0x02, 0x9b, 0xfc, 0xdb, 0x2d, 0xce, 0x28, 0xd9, 0x59, 0xf2, 0x81, 0x5b, 0x16, 0xf8, 0x17, 0x98,
];
const GENERATOR_Y: [u8; 32] = [
    0x48, 0x3a, 0xda, 0x77, 0x26, 0xa3, 0xc4, 0x65, 0x5d, 0xa4, 0xfb, 0xfc, 0x0e, 0x11, 0x08, 0xa8,
    0xfd, 0x17, 0xb4, 0x48, 0xa6, 0x85, 0x54, 0x19, 0x9c, 0x47, 0xd0, 0x8f, 0xfb, 0x10, 0xd4, 0xb8,
];

impl Affine {
    /// The generator (`None` only if the constants above were mistyped; a test pins them).
    pub(crate) fn generator() -> Option<Self> {
        let x = Option::from(Fe::from_bytes(&GENERATOR_X.into()))?;
        let y = Option::from(Fe::from_bytes(&GENERATOR_Y.into()))?;
        Some(Affine { x, y })
    }

    /// BIP340 `lift_x`: the point with x coordinate `x` (which must be below p) and even y.
    /// Costs one square root (~255 squarings): after the multi-scalar multiplication, the
    /// largest per-signature cost of a batch.
    pub(crate) fn lift_x(x_bytes: &[u8; 32]) -> Option<Self> {
        let x: Fe = Option::from(Fe::from_bytes(&(*x_bytes).into()))?;
        // x³ + 7: (1)·(1) → 1, + 1 → 2.
        let y2 = x.square() * &x + CURVE_B;
        let y: Fe = Option::from(y2.sqrt())?;
        let y = y.normalize();
        let y = if bool::from(y.is_odd()) {
            y.negate(1).normalize_weak()
        } else {
            y
        };
        Some(Affine { x, y })
    }

    /// The coordinates of a k256 affine point, `None` for the identity.
    pub(crate) fn from_k256(p: &k256::AffinePoint) -> Option<Self> {
        let enc = p.to_encoded_point(false);
        let x = Option::from(Fe::from_bytes(enc.x()?))?;
        let y = Option::from(Fe::from_bytes(enc.y()?))?;
        Some(Affine { x, y })
    }

    /// `-P`.
    pub(crate) fn neg(&self) -> Self {
        Affine {
            x: self.x,
            y: self.y.negate(1).normalize_weak(),
        }
    }
}

/// A point in Jacobian coordinates `(X, Y, Z)` ↦ `(X/Z², Y/Z³)`, or the identity.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Jacobian {
    pub(crate) x: Fe,
    pub(crate) y: Fe,
    pub(crate) z: Fe,
    pub(crate) infinity: bool,
}

impl Jacobian {
    /// The identity (point at infinity).
    pub(crate) const INFINITY: Jacobian = Jacobian {
        x: Fe::ZERO,
        y: Fe::ONE,
        z: Fe::ZERO,
        infinity: true,
    };

    /// `(x, y, 1)`.
    pub(crate) const fn from_affine(p: &Affine) -> Self {
        Jacobian {
            x: p.x,
            y: p.y,
            z: Fe::ONE,
            infinity: false,
        }
    }

    /// The affine `(X, Y)` of a point already normalised to `Z = 1`.
    pub(crate) const fn xy(&self) -> Affine {
        Affine {
            x: self.x,
            y: self.y,
        }
    }

    /// `2·P` (dbl-2009-l shape, a = 0): 3M + 4S.
    pub(crate) fn double(&self) -> Self {
        if self.infinity {
            return *self;
        }
        let a = self.x.square(); // X²            (1)
        let b = self.y.square(); // Y²            (1)
        let c = b.square(); // Y⁴                 (1)
        let d = (self.x * &b).mul_single(4); // 4XY²  (4)
        let e = a.mul_single(3); // 3X²           (3)
                                 // X3 = E² − 2D: 1 + 2·5 = 11.
        let x3 = (e.square() + d.negate(4).double()).normalize_weak();
        // Y3 = E·(D − X3) − 8C: (3)·(4 + 2) → 1, + 9 = 10.
        let y3 = (e * &(d + x3.negate(1)) + c.mul_single(8).negate(8)).normalize_weak();
        // Z3 = 2YZ.
        let z3 = (self.y * &self.z).double().normalize_weak();
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
            infinity: false,
        }
    }

    /// `P + Q` with `Q` affine (madd, 8M + 3S); handles `P = ±Q` and the identity.
    pub(crate) fn add_affine(&self, q: &Affine) -> Self {
        if self.infinity {
            return Jacobian::from_affine(q);
        }
        let z12 = self.z.square(); // (1)
        let u2 = q.x * &z12; // (1)
        let s2 = q.y * &(z12 * &self.z); // (1)
        let h = u2 + self.x.negate(1); // U2 − X1: 1 + 2 = 3
        let r = s2 + self.y.negate(1); // S2 − Y1: 3
        if bool::from(h.normalizes_to_zero()) {
            return if bool::from(r.normalizes_to_zero()) {
                Jacobian::from_affine(q).double()
            } else {
                Jacobian::INFINITY
            };
        }
        let h2 = h.square(); // (1)
        let h3 = h * &h2; // (1)
        let v = self.x * &h2; // X1·H²  (1)
                              // X3 = R² − H³ − 2V: 1 + 2 + 3 = 6.
        let x3 = (r.square() + h3.negate(1) + v.double().negate(2)).normalize_weak();
        // Y3 = R·(V − X3) − Y1·H³: (3)·(1 + 2) → 1, + 2 = 3.
        let y3 = (r * &(v + x3.negate(1)) + (self.y * &h3).negate(1)).normalize_weak();
        let z3 = self.z * &h; // (1)
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
            infinity: false,
        }
    }

    /// Whether two points are the same group element (used by tests and cross-checks).
    #[cfg(test)]
    pub(crate) fn eq_point(&self, other: &Jacobian) -> bool {
        match (self.infinity, other.infinity) {
            (true, true) => true,
            (false, false) => {
                let z1 = self.z.square();
                let z2 = other.z.square();
                let x_eq = (self.x * z2 + (other.x * z1).negate(1)).normalizes_to_zero();
                let y_eq = (self.y * (z2 * other.z) + (other.y * (z1 * self.z)).negate(1))
                    .normalizes_to_zero();
                bool::from(x_eq & y_eq)
            }
            _ => false,
        }
    }
}

/// Fills `out` with the odd multiples `P, 3P, 5P, …` (Jacobian, not yet normalised).
///
/// Each step is one *mixed* addition thanks to the isomorphism trick of libsecp256k1: on the
/// curve `y² = x³ + 7·Z⁶` (Z of `2P`), `2P` is affine, so `T_{k+1} = T_k + 2P` is a madd there;
/// a point `(X, Y, Z')` on that curve is `(X, Y, Z'·Z)` on ours. Returns `false` if a step hit
/// the identity, which cannot happen for a point of prime order but is checked, not assumed.
pub(crate) fn odd_multiples(p: &Affine, out: &mut [Jacobian]) -> bool {
    let d = Jacobian::from_affine(p).double();
    if d.infinity {
        return false;
    }
    let zz = d.z.square();
    let zzz = zz * &d.z;
    let d_iso = d.xy();
    let mut acc = Jacobian::from_affine(&Affine {
        x: p.x * &zz,
        y: p.y * &zzz,
    });
    let mut first = true;
    for slot in out.iter_mut() {
        if first {
            *slot = Jacobian::from_affine(p);
            first = false;
            continue;
        }
        acc = acc.add_affine(&d_iso);
        if acc.infinity {
            return false;
        }
        *slot = Jacobian {
            x: acc.x,
            y: acc.y,
            z: acc.z * &d.z,
            infinity: false,
        };
    }
    true
}

/// Brings every point to `Z = 1` with one field inversion (Montgomery's trick: 3M per point,
/// then 3M + 1S to rescale). `scratch` must be at least as long as `points`. Returns `false`
/// if a point is the identity or `scratch` is short (the caller then treats the batch as
/// failed, which falls back to single verification: never a wrong accept).
pub(crate) fn normalize_all(points: &mut [Jacobian], scratch: &mut [Fe]) -> bool {
    let n = points.len();
    let Some(prefix) = scratch.get_mut(..n) else {
        return false;
    };
    let mut acc = Fe::ONE;
    for (p, pre) in points.iter().zip(prefix.iter_mut()) {
        if p.infinity {
            return false;
        }
        acc = acc * &p.z;
        *pre = acc;
    }
    let Some(mut inv) = Option::<Fe>::from(acc.invert()) else {
        return false;
    };
    // Walking backwards, the product of all earlier Zs is prefix[i-1] (1 for i = 0).
    let earlier = prefix
        .get(..n.saturating_sub(1))
        .unwrap_or_default()
        .iter()
        .rev()
        .copied()
        .chain(core::iter::once(Fe::ONE));
    for (p, before) in points.iter_mut().rev().zip(earlier) {
        let zinv = inv * &before;
        inv = inv * &p.z;
        let zinv2 = zinv.square();
        let zinv3 = zinv2 * &zinv;
        p.x = p.x * &zinv2;
        p.y = p.y * &zinv3;
        p.z = Fe::ONE;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::elliptic_curve::ops::MulByGenerator;
    use k256::elliptic_curve::Field;
    use k256::{ProjectivePoint, Scalar};
    use rand_core::SeedableRng;

    fn aff(p: &ProjectivePoint) -> Affine {
        Affine::from_k256(&p.to_affine()).unwrap()
    }

    fn jac(p: &ProjectivePoint) -> Jacobian {
        Jacobian::from_affine(&aff(p))
    }

    #[test]
    fn generator_constants_match_k256() {
        let g = Affine::generator().unwrap();
        assert!(Jacobian::from_affine(&g).eq_point(&jac(&ProjectivePoint::GENERATOR)));
    }

    #[test]
    fn formulas_match_k256_including_exceptional_cases() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        for _ in 0..50 {
            let a = ProjectivePoint::mul_by_generator(&Scalar::random(&mut rng));
            let b = ProjectivePoint::mul_by_generator(&Scalar::random(&mut rng));
            // Put `a` in a non-trivial Jacobian form (Z ≠ 1) by doubling then adding.
            let ja = jac(&a).double().add_affine(&aff(&b));
            let expect = a.double() + b;
            assert!(ja.eq_point(&jac(&expect)));
            assert!(ja.double().eq_point(&jac(&expect.double())));
            // P + P doubles, P + (−P) is the identity, O + P is P.
            let jb = Jacobian::from_affine(&aff(&b));
            assert!(jb.add_affine(&aff(&b)).eq_point(&jac(&b.double())));
            assert!(jb.add_affine(&aff(&b).neg()).infinity);
            assert!(Jacobian::INFINITY.add_affine(&aff(&b)).eq_point(&jb));
            assert!(Jacobian::INFINITY.double().infinity);
        }
    }

    #[test]
    fn odd_multiples_and_normalisation() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        let p = ProjectivePoint::mul_by_generator(&Scalar::random(&mut rng));
        let mut table = [Jacobian::INFINITY; 8];
        assert!(odd_multiples(&aff(&p), &mut table));
        let mut scratch = [Fe::ZERO; 8];
        assert!(normalize_all(&mut table, &mut scratch));
        for (k, t) in table.iter().enumerate() {
            let expect = p * Scalar::from(2 * k as u64 + 1);
            assert!(t.eq_point(&jac(&expect)), "{}·P", 2 * k + 1);
            assert_eq!(t.z.normalize(), Fe::ONE);
        }
        // Short scratch and identities fail closed.
        assert!(!normalize_all(&mut table, &mut scratch[..4]));
        let mut with_inf = [Jacobian::INFINITY; 2];
        assert!(!normalize_all(&mut with_inf, &mut scratch));
    }

    #[test]
    fn lift_x_gives_the_even_point_or_nothing() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
        for _ in 0..20 {
            let p = ProjectivePoint::mul_by_generator(&Scalar::random(&mut rng)).to_affine();
            let x: [u8; 32] = aff(&ProjectivePoint::from(p))
                .x
                .normalize()
                .to_bytes()
                .into();
            let lifted = Affine::lift_x(&x).unwrap();
            assert!(!bool::from(lifted.y.normalize().is_odd()));
            let j = Jacobian::from_affine(&lifted);
            let pp = ProjectivePoint::from(p);
            assert!(j.eq_point(&jac(&pp)) || j.eq_point(&jac(&-pp)));
        }
        // x = p (not a field element) and x = 5 (x³ + 7 = 132 is not a square mod p).
        let mut p_bytes = [0xffu8; 32];
        p_bytes[27] = 0xfe;
        p_bytes[28] = 0xff;
        p_bytes[29] = 0xfc;
        p_bytes[30] = 0x2f;
        p_bytes[31] = 0xff;
        let mut field_p = [0xffu8; 32];
        field_p[..28].copy_from_slice(&p_bytes[..28]);
        field_p[28..].copy_from_slice(&[0xff, 0xff, 0xfc, 0x2f]);
        assert!(Affine::lift_x(&field_p).is_none());
        let mut five = [0u8; 32];
        five[31] = 5;
        assert!(Affine::lift_x(&five).is_none());
    }
}
