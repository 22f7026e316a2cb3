//! Multi-scalar multiplication `Σ kᵢ·Pᵢ` by Straus's method with width-w NAF digits.
//!
//! Every point gets a small table of its odd multiples (built with mixed additions and brought
//! to affine form together, one inversion for the whole batch); all points then share one chain
//! of 256 doublings, and each non-zero digit costs one mixed addition. A 256-bit scalar with
//! w = 5 has about 256/6 ≈ 43 non-zero digits, a 128-bit one with w = 4 about 26: that, not the
//! doublings, is what a batch costs per signature.

use k256::FieldElement as Fe;

use super::group::{normalize_all, odd_multiples, Affine, Jacobian};

/// Digits of a 256-bit scalar in width-w NAF (one more than the bit length, for the carry).
pub(crate) const NAF_LEN: usize = 257;

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
/// significant (index of the top non-zero digit + 1; 0 for k = 0). libsecp256k1's algorithm:
/// skip bits equal to the carry, otherwise take a w-bit window and recentre it.
pub(crate) fn wnaf(k: &Limbs, w: usize, naf: &mut Naf) -> usize {
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
    top
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
}

impl Term {
    /// An unused slot.
    pub(crate) const EMPTY: Term = Term { offset: 0, top: 0 };
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
    n_terms: usize,
    used: usize,
    ok: bool,
}

impl<'w, 'a> Msm<'w, 'a> {
    /// Starts an empty sum in `ws`.
    pub(crate) fn new(ws: &'a mut Workspace<'w>) -> Self {
        Msm {
            ws,
            n_terms: 0,
            used: 0,
            ok: true,
        }
    }

    /// Adds the term `k·P` using a width-`w` NAF. If the workspace is too small the sum is
    /// marked failed (and [`Msm::sums_to_identity`] answers `false`): never a wrong accept.
    pub(crate) fn push(&mut self, p: &Affine, k: &Limbs, w: usize) {
        let len = table_len(w);
        let offset = self.used;
        let (Some(table), Some(naf), Some(term)) = (
            self.ws.tables.get_mut(offset..offset + len),
            self.ws.nafs.get_mut(self.n_terms),
            self.ws.terms.get_mut(self.n_terms),
        ) else {
            self.ok = false;
            return;
        };
        if !odd_multiples(p, table) {
            self.ok = false;
            return;
        }
        *term = Term {
            offset,
            top: wnaf(k, w, naf),
        };
        self.used += len;
        self.n_terms += 1;
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
                let q = entry.xy();
                acc = acc.add_affine(&if d > 0 { q } else { q.neg() });
            }
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
    use alloc::vec;
    use alloc::vec::Vec;
    use k256::elliptic_curve::ops::MulByGenerator;
    use k256::elliptic_curve::Field;
    use k256::{ProjectivePoint, Scalar};
    use rand_core::SeedableRng;

    fn naf_value(naf: &Naf) -> Scalar {
        let mut acc = Scalar::ZERO;
        for &d in naf.iter().rev() {
            acc = acc.double();
            let m = Scalar::from(d.unsigned_abs() as u64);
            acc += if d < 0 { -m } else { m };
        }
        acc
    }

    #[test]
    fn wnaf_reconstructs_the_scalar_and_respects_the_width() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let mut naf = [0i8; NAF_LEN];
        let mut specials = vec![Scalar::ZERO, Scalar::ONE, -Scalar::ONE, Scalar::from(15u64)];
        specials.extend((0..200).map(|_| Scalar::random(&mut rng)));
        for w in 2..=8 {
            for k in &specials {
                let top = wnaf(&limbs(k), w, &mut naf);
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

    #[test]
    fn msm_matches_k256() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(11);
        for n in [1usize, 2, 5, 9] {
            let pts: Vec<ProjectivePoint> = (0..n)
                .map(|_| ProjectivePoint::mul_by_generator(&Scalar::random(&mut rng)))
                .collect();
            let ks: Vec<Scalar> = (0..n).map(|_| Scalar::random(&mut rng)).collect();
            let mut tables = vec![Jacobian::INFINITY; 8 * n];
            let mut scratch = vec![Fe::ZERO; 8 * n];
            let mut nafs = vec![[0i8; NAF_LEN]; n];
            let mut terms = vec![Term::EMPTY; n];
            let mut ws = Workspace {
                tables: &mut tables,
                scratch: &mut scratch,
                nafs: &mut nafs,
                terms: &mut terms,
            };
            let mut msm = Msm::new(&mut ws);
            let mut expected = ProjectivePoint::IDENTITY;
            for (i, (p, k)) in pts.iter().zip(&ks).enumerate() {
                msm.push(&to_affine(p), &limbs(k), 3 + i % 4);
                expected += p * k;
            }
            let got = msm.evaluate().unwrap();
            assert!(got.eq_point(&to_jacobian(&expected)), "n = {n}");
        }
    }

    #[test]
    fn msm_with_a_full_workspace_fails_closed() {
        let mut tables = vec![Jacobian::INFINITY; 4];
        let mut scratch = vec![Fe::ZERO; 4];
        let mut nafs = vec![[0i8; NAF_LEN]; 1];
        let mut terms = vec![Term::EMPTY; 1];
        let mut ws = Workspace {
            tables: &mut tables,
            scratch: &mut scratch,
            nafs: &mut nafs,
            terms: &mut terms,
        };
        let mut msm = Msm::new(&mut ws);
        let g = Affine::generator().unwrap();
        // Table of width 5 needs 8 entries: does not fit.
        msm.push(&g, &[0, 0, 0, 0], 5);
        assert!(
            !msm.sums_to_identity(),
            "0·G is the identity, but the workspace overflowed"
        );
    }

    #[test]
    fn zero_scalars_sum_to_the_identity() {
        let mut tables = vec![Jacobian::INFINITY; 8];
        let mut scratch = vec![Fe::ZERO; 8];
        let mut nafs = vec![[0i8; NAF_LEN]; 1];
        let mut terms = vec![Term::EMPTY; 1];
        let mut ws = Workspace {
            tables: &mut tables,
            scratch: &mut scratch,
            nafs: &mut nafs,
            terms: &mut terms,
        };
        let mut msm = Msm::new(&mut ws);
        msm.push(&Affine::generator().unwrap(), &[0, 0, 0, 0], 5);
        assert!(msm.sums_to_identity());
    }
}
