//! Multi-scalar multiplication `Σ kᵢ·Pᵢ` by Straus's method with width-w NAF digits.
//!
//! Every point gets a small table of its odd multiples (built with mixed additions and brought
//! to affine form together, one inversion for the whole batch); all points then share one chain
//! of doublings, and each non-zero digit costs one mixed addition. Scalars are at most 128
//! bits (256-bit ones are GLV-split first, the λ half reading the same table with x·β), so
//! the chain is 129 doublings. A 128-bit scalar has about 128/(w+1) non-zero digits: those
//! additions, not the doublings, are what a batch costs per signature.

use k256::FieldElement as Fe;

use super::glv::Half;
use super::group::{normalize_all, odd_multiples, Affine, Jacobian};

/// Digits of a scalar below 2¹²⁹ in width-w NAF (one more than the bit length, for the
/// carry). Larger scalars are refused, never truncated.
pub(crate) const NAF_LEN: usize = 130;

/// One scalar's NAF digits, least significant first; each is 0 or odd with `|d| < 2^(w-1)`.
pub(crate) type Naf = [i8; NAF_LEN];

/// A scalar as four little-endian 64-bit limbs (the reduced value below the group order).
pub(crate) type Limbs = [u64; 4];

/// Converts a k256 scalar to little-endian limbs.
pub(crate) fn limbs(s: &k256::Scalar) -> Limbs {
    let be: [u8; 32] = s.to_bytes().into();
    let mut out = [0u64; 4];
    for (limb, chunk) in out.iter_mut().zip(be.rchunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *limb = u64::from_be_bytes(b);
    }
    out
}

/// `count` (≤ 32) bits of `k` starting at bit `pos`; bits past 255 read as zero.
fn bits(k: &Limbs, pos: usize, count: usize) -> u32 {
    let limb = pos / 64;
    let shift = pos % 64;
    let lo = k.get(limb).copied().unwrap_or(0) >> shift;
    let hi = match shift {
        0 => 0,
        s => k.get(limb + 1).copied().unwrap_or(0) << (64 - s),
    };
    let mask = (1u64 << count) - 1;
    ((lo | hi) & mask) as u32
}

/// Writes the width-`w` NAF (2 ≤ w ≤ 8) of `k` into `naf` and returns how many digits are
/// significant (index of the top non-zero digit + 1; 0 for k = 0), or `None` if `k` does not
/// fit below 2^(NAF_LEN − 1). libsecp256k1's algorithm: skip bits equal to the carry,
/// otherwise take a w-bit window and recentre it.
pub(crate) fn wnaf(k: &Limbs, w: usize, naf: &mut Naf) -> Option<usize> {
    let fits = (NAF_LEN - 1..256)
        .step_by(32)
        .all(|pos| bits(k, pos, 32) == 0);
    if !fits {
        return None;
    }
    naf.fill(0);
    let mut carry = 0u32;
    let mut bit = 0usize;
    let mut top = 0usize;
    while bit < NAF_LEN {
        if bits(k, bit, 1) == carry {
            bit += 1;
            continue;
        }
        let now = w.min(NAF_LEN - bit);
        let mut word = bits(k, bit, now) as i32 + carry as i32;
        carry = ((word >> (w - 1)) & 1) as u32;
        word -= (carry as i32) << w;
        if let Some(d) = naf.get_mut(bit) {
            // |word| < 2^(w-1) ≤ 128.
            *d = word as i8;
        }
        top = bit + 1;
        bit += now;
    }
    Some(top)
}

/// Table sizes: a width-w NAF needs the odd multiples up to `(2^(w-1) - 1)·P`.
pub(crate) const fn table_len(w: usize) -> usize {
    1 << (w - 2)
}

/// One term `k·P` of a multi-scalar multiplication, as laid out in a [`Workspace`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Term {
    /// First table entry of this term in `Workspace::tables`.
    offset: usize,
    /// Number of significant NAF digits.
    top: usize,
    /// The term is `−k·P`: digits are read with the opposite sign.
    negative: bool,
    /// The term is `k·(λ·P)`: table entries are read with x multiplied by β.
    endo: bool,
}

impl Term {
    /// An unused slot.
    pub(crate) const EMPTY: Term = Term {
        offset: 0,
        top: 0,
        negative: false,
        endo: false,
    };
}

/// Caller-provided memory for one multi-scalar multiplication, so the same code runs on a
/// heap-allocated workspace (hosts) or a fixed stack array (firmware).
pub(crate) struct Workspace<'w> {
    /// Odd-multiple tables of all terms, back to back.
    pub(crate) tables: &'w mut [Jacobian],
    /// Scratch for the shared inversion; at least as long as `tables`.
    pub(crate) scratch: &'w mut [Fe],
    /// NAF digits, one row per term.
    pub(crate) nafs: &'w mut [Naf],
    /// Layout of each term.
    pub(crate) terms: &'w mut [Term],
}

/// Accumulates terms into a workspace and evaluates `Σ kᵢ·Pᵢ`.
pub(crate) struct Msm<'w, 'a> {
    ws: &'a mut Workspace<'w>,
    beta: Fe,
    extra: Option<Affine>,
    n_terms: usize,
    used: usize,
    ok: bool,
}

impl<'w, 'a> Msm<'w, 'a> {
    /// Starts an empty sum in `ws`; `beta` is the endomorphism constant for split terms.
    pub(crate) fn new(ws: &'a mut Workspace<'w>, beta: Fe) -> Self {
        Msm {
            ws,
            beta,
            extra: None,
            n_terms: 0,
            used: 0,
            ok: true,
        }
    }

    /// Adds `k·P` for `k` below 2¹²⁹ using a width-`w` NAF. If the workspace is too small or
    /// `k` too large the sum is marked failed (and [`Msm::sums_to_identity`] answers `false`):
    /// never a wrong accept.
    pub(crate) fn push(&mut self, p: &Affine, k: &Limbs, w: usize) {
        let half = Half {
            magnitude: *k,
            negative: false,
        };
        self.push_terms(p, w, &[(half, false)]);
    }

    /// Adds the point `P` itself (scalar 1): one addition at the end, no table.
    pub(crate) fn add(&mut self, p: &Affine) {
        if self.extra.replace(*p).is_some() {
            // One slot is all the equation needs; a second use is a bug, so fail closed.
            self.ok = false;
        }
    }

    /// Adds `k·P` for a GLV-split `k = k₁ + k₂·λ`: one table of `P` serves both halves.
    pub(crate) fn push_split(&mut self, p: &Affine, (k1, k2): (Half, Half), w: usize) {
        self.push_terms(p, w, &[(k1, false), (k2, true)]);
    }

    fn push_terms(&mut self, p: &Affine, w: usize, halves: &[(Half, bool)]) {
        if !self.ok {
            return;
        }
        let len = table_len(w);
        let offset = self.used;
        let Some(table) = self.ws.tables.get_mut(offset..offset + len) else {
            self.ok = false;
            return;
        };
        if !odd_multiples(p, table) {
            self.ok = false;
            return;
        }
        for (half, endo) in halves {
            let (Some(naf), Some(term)) = (
                self.ws.nafs.get_mut(self.n_terms),
                self.ws.terms.get_mut(self.n_terms),
            ) else {
                self.ok = false;
                return;
            };
            let Some(top) = wnaf(&half.magnitude, w, naf) else {
                self.ok = false;
                return;
            };
            *term = Term {
                offset,
                top,
                negative: half.negative,
                endo: *endo,
            };
            self.n_terms += 1;
        }
        self.used += len;
    }

    /// Evaluates the sum; `None` if anything failed along the way.
    pub(crate) fn evaluate(self) -> Option<Jacobian> {
        if !self.ok {
            return None;
        }
        let tables = self.ws.tables.get_mut(..self.used)?;
        if !normalize_all(tables, self.ws.scratch) {
            return None;
        }
        let terms = self.ws.terms.get(..self.n_terms)?;
        let nafs = self.ws.nafs.get(..self.n_terms)?;
        let top = terms.iter().map(|t| t.top).max().unwrap_or(0);
        let mut acc = Jacobian::INFINITY;
        for i in (0..top).rev() {
            acc = acc.double();
            for (term, naf) in terms.iter().zip(nafs) {
                let d = naf.get(i).copied().unwrap_or(0);
                if d == 0 {
                    continue;
                }
                let entry = tables.get(term.offset + (d.unsigned_abs() as usize >> 1))?;
                let mut q = entry.xy();
                if term.endo {
                    // `* &` keeps k256's inlined multiplication (see group.rs).
                    #[allow(clippy::op_ref, clippy::assign_op_pattern)]
                    {
                        q.x = q.x * &self.beta;
                    }
                }
                acc = acc.add_affine(&if (d < 0) != term.negative { q.neg() } else { q });
            }
        }
        if let Some(p) = &self.extra {
            acc = acc.add_affine(p);
        }
        Some(acc)
    }

    /// Whether the sum is the identity (`false` if the evaluation failed).
    pub(crate) fn sums_to_identity(self) -> bool {
        self.evaluate().is_some_and(|p| p.infinity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::glv::Glv;
    use alloc::vec;
    use alloc::vec::Vec;
    use k256::elliptic_curve::ops::MulByGenerator;
    use k256::elliptic_curve::Field;
    use k256::{ProjectivePoint, Scalar};
    use rand_core::{RngCore, SeedableRng};

    fn naf_value(naf: &Naf) -> Scalar {
        let mut acc = Scalar::ZERO;
        for &d in naf.iter().rev() {
            acc = acc.double();
            let m = Scalar::from(d.unsigned_abs() as u64);
            acc += if d < 0 { -m } else { m };
        }
        acc
    }

    fn random_128(rng: &mut impl RngCore) -> Scalar {
        Scalar::from((u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64()))
    }

    #[test]
    fn wnaf_reconstructs_the_scalar_and_respects_the_width() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let mut naf = [0i8; NAF_LEN];
        let mut specials = vec![
            Scalar::ZERO,
            Scalar::ONE,
            Scalar::from(15u64),
            Scalar::from(u128::MAX),
        ];
        specials.extend((0..200).map(|_| random_128(&mut rng)));
        for w in 2..=8 {
            for k in &specials {
                let top = wnaf(&limbs(k), w, &mut naf).unwrap();
                assert_eq!(naf_value(&naf), *k, "w = {w}");
                assert!(naf[top..].iter().all(|&d| d == 0));
                let mut last: Option<usize> = None;
                for (i, &d) in naf.iter().enumerate() {
                    if d != 0 {
                        assert!(d % 2 != 0 && (d.unsigned_abs() as u32) < (1 << (w - 1)));
                        if let Some(l) = last {
                            assert!(i - l >= w, "non-zero digits at least w apart");
                        }
                        last = Some(i);
                    }
                }
            }
        }
    }

    #[test]
    fn wnaf_refuses_scalars_that_do_not_fit() {
        let mut naf = [0i8; NAF_LEN];
        assert!(wnaf(&[0, 0, 1, 0], 4, &mut naf).is_some(), "2^128 fits");
        assert!(wnaf(&[0, 0, 2, 0], 4, &mut naf).is_none(), "2^129 does not");
        assert!(wnaf(&limbs(&-Scalar::ONE), 5, &mut naf).is_none());
    }

    fn to_affine(p: &ProjectivePoint) -> Affine {
        Affine::from_k256(&p.to_affine()).unwrap()
    }

    fn to_jacobian(p: &ProjectivePoint) -> Jacobian {
        if bool::from(k256::elliptic_curve::group::Group::is_identity(p)) {
            Jacobian::INFINITY
        } else {
            Jacobian::from_affine(&to_affine(p))
        }
    }

    struct Buffers {
        tables: Vec<Jacobian>,
        scratch: Vec<Fe>,
        nafs: Vec<Naf>,
        terms: Vec<Term>,
    }

    impl Buffers {
        fn new(entries: usize, terms: usize) -> Self {
            Buffers {
                tables: vec![Jacobian::INFINITY; entries],
                scratch: vec![Fe::ZERO; entries],
                nafs: vec![[0i8; NAF_LEN]; terms],
                terms: vec![Term::EMPTY; terms],
            }
        }
        fn ws(&mut self) -> Workspace<'_> {
            Workspace {
                tables: &mut self.tables,
                scratch: &mut self.scratch,
                nafs: &mut self.nafs,
                terms: &mut self.terms,
            }
        }
    }

    #[test]
    fn msm_matches_k256_for_short_and_split_scalars() {
        let glv = Glv::new().unwrap();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(11);
        for n in [1usize, 2, 5, 9] {
            let mut buf = Buffers::new(8 * n, 2 * n);
            let mut ws = buf.ws();
            let mut msm = Msm::new(&mut ws, glv.beta);
            let mut expected = ProjectivePoint::IDENTITY;
            for i in 0..n {
                let p = ProjectivePoint::mul_by_generator(&Scalar::random(&mut rng));
                let w = 3 + i % 4;
                if i % 2 == 0 {
                    let k = random_128(&mut rng);
                    msm.push(&to_affine(&p), &limbs(&k), w);
                    expected += p * k;
                } else {
                    let k = Scalar::random(&mut rng);
                    msm.push_split(&to_affine(&p), glv.split(&k).unwrap(), w);
                    expected += p * k;
                }
            }
            let q = ProjectivePoint::mul_by_generator(&Scalar::random(&mut rng));
            msm.add(&to_affine(&q));
            expected += q;
            let got = msm.evaluate().unwrap();
            assert!(got.eq_point(&to_jacobian(&expected)), "n = {n}");
        }
    }

    #[test]
    fn msm_fails_closed_when_the_workspace_or_scalar_does_not_fit() {
        let glv = Glv::new().unwrap();
        let g = Affine::generator().unwrap();
        // A width-5 table needs 8 entries: 4 do not fit.
        let mut buf = Buffers::new(4, 1);
        let mut ws = buf.ws();
        let mut msm = Msm::new(&mut ws, glv.beta);
        msm.push(&g, &[0, 0, 0, 0], 5);
        assert!(
            !msm.sums_to_identity(),
            "0·G is the identity, but it overflowed"
        );
        // A split needs two term slots.
        let mut buf = Buffers::new(8, 1);
        let mut ws = buf.ws();
        let mut msm = Msm::new(&mut ws, glv.beta);
        msm.push_split(&g, glv.split(&Scalar::ZERO).unwrap(), 5);
        assert!(!msm.sums_to_identity());
        // The single extra-point slot used twice.
        let mut buf = Buffers::new(8, 2);
        let mut ws = buf.ws();
        let mut msm = Msm::new(&mut ws, glv.beta);
        msm.add(&g);
        msm.add(&g.neg());
        assert!(
            !msm.sums_to_identity(),
            "G − G is the identity, but the slot overflowed"
        );
        // A 256-bit scalar without a split is refused.
        let mut buf = Buffers::new(8, 1);
        let mut ws = buf.ws();
        let mut msm = Msm::new(&mut ws, glv.beta);
        msm.push(&g, &limbs(&-Scalar::ONE), 5);
        assert!(!msm.sums_to_identity());
    }

    #[test]
    fn zero_scalars_sum_to_the_identity() {
        let glv = Glv::new().unwrap();
        let mut buf = Buffers::new(8, 2);
        let mut ws = buf.ws();
        let mut msm = Msm::new(&mut ws, glv.beta);
        msm.push_split(
            &Affine::generator().unwrap(),
            glv.split(&Scalar::ZERO).unwrap(),
            5,
        );
        assert!(msm.sums_to_identity());
    }
}
