//! Tip selection behind a trait, with a hard bound on the work of every strategy.
//!
//! IOTA's reference node spent 7–60 s per MCMC tip selection in production (iri#476) because
//! its walk started deep in the past and had no budget. Here every strategy states its bound and
//! what it does when the bound is hit:
//!
//! * [`UniformRandom`]: at most `max_attempts` random draws from the tip set; fallback: the most
//!   recently attached live transaction.
//! * [`RandomWalk`]: the weighted random walk of Popov's *The Tangle* (MCMC with parameter α),
//!   started at a random entry point of the **latest anchor** (so walks are short), at most
//!   `max_steps` steps and `max_examined` approvers looked at; fallback: [`UniformRandom`].
//!
//! The walk moves from `x` to an approver `y` with probability ∝ `exp(-α (Hₘₐₓ − H_y))`,
//! computed in integer fixed point (`alpha_milli` = α × 1000, a table of `2^(-i/256)`), so two
//! platforms given the same RNG take the same path. Conflicting approvers are never entered
//! (honest selection avoids conflicting cones) and stale leaves (below max depth) are skipped.
//!
//! ```
//! use itc_dag::{RandomWalk, TipSelector, UniformRandom};
//! let walk = RandomWalk::default();
//! assert_eq!(walk.alpha_milli, 100);
//! let _uniform: &dyn TipSelector = &UniformRandom::default();
//! ```

use alloc::vec::Vec;

use rand_core::RngCore;

use crate::graph::{Graph, NodeIdx, TxStatus};
use crate::tx::TxId;

/// A tip-selection strategy. Implementations must bound their own work.
pub trait TipSelector {
    /// Picks one approvable tip at `now_ms`, or `None` if the tangle has none.
    fn select_tip(&self, graph: &Graph, rng: &mut dyn RngCore, now_ms: u64) -> Option<TxId>;
}

/// Uniformly random tip. Cheap and unbiased — which is also its weakness: lazy tips are chosen
/// as often as honest ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UniformRandom {
    /// Random draws before falling back to the latest transaction.
    pub max_attempts: u32,
}

impl Default for UniformRandom {
    fn default() -> Self {
        UniformRandom { max_attempts: 32 }
    }
}

impl UniformRandom {
    pub(crate) fn pick(
        &self,
        graph: &Graph,
        rng: &mut dyn RngCore,
        now_ms: u64,
    ) -> Option<NodeIdx> {
        let n = graph.tip_count();
        if n > 0 {
            for _ in 0..self.max_attempts {
                let k = uniform_below(rng, n as u64) as usize;
                if let Some(t) = graph.tip_slot(k) {
                    if graph.eligible_tip(t, now_ms) {
                        return Some(t);
                    }
                }
            }
        }
        // Fallback: the most recently attached live transaction is the freshest candidate.
        graph.latest().filter(|&l| graph.eligible_tip(l, now_ms))
    }
}

impl TipSelector for UniformRandom {
    fn select_tip(&self, graph: &Graph, rng: &mut dyn RngCore, now_ms: u64) -> Option<TxId> {
        self.pick(graph, rng, now_ms)
            .and_then(|i| graph.node(i))
            .map(|n| n.id)
    }
}

/// Weighted random walk (MCMC) from the latest anchor towards the tips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomWalk {
    /// α × 1000. 0 gives an unweighted walk; larger values follow weight more greedily (and
    /// leave lazy and parasite branches alone) at the price of more abandoned honest tips.
    pub alpha_milli: u32,
    /// Most steps a walk may take.
    pub max_steps: u32,
    /// Most approvers a walk may examine in total (bounds work on wide tangles).
    pub max_examined: u32,
    /// Strategy used when a bound is hit or the walk ends on a stale tip.
    pub fallback: UniformRandom,
}

impl Default for RandomWalk {
    fn default() -> Self {
        RandomWalk {
            alpha_milli: 100,
            max_steps: 1_000,
            max_examined: 20_000,
            fallback: UniformRandom::default(),
        }
    }
}

/// Outcome of one walk, for tests and benches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkEnd {
    /// Reached an eligible tip after this many steps.
    Tip(TxId, u32),
    /// A bound was hit or the walk ended on a stale tip: the fallback decides.
    Fallback,
}

impl RandomWalk {
    /// Runs one walk without the fallback (exposed so tests and benches can observe bounds).
    pub fn walk(&self, graph: &Graph, rng: &mut dyn RngCore, now_ms: u64) -> WalkEnd {
        let starts = graph.entry_indices();
        let start = if starts.is_empty() {
            graph.latest()
        } else {
            let k = uniform_below(rng, starts.len() as u64) as usize;
            starts.get(k).copied()
        };
        let Some(mut cur) = start else {
            return WalkEnd::Fallback;
        };
        let mut candidates: Vec<(NodeIdx, u64)> = Vec::new();
        let mut examined: u32 = 0;
        for step in 0..self.max_steps {
            let Some(node) = graph.node(cur) else {
                return WalkEnd::Fallback;
            };
            candidates.clear();
            for &a in &node.approvers {
                examined = examined.saturating_add(1);
                let Some(an) = graph.node(a) else { continue };
                if an.status == TxStatus::Conflicting {
                    continue;
                }
                // A leaf that can no longer be approved is a dead end: skip it.
                if an.live_approvers == 0 && !graph.approvable(a, now_ms) {
                    continue;
                }
                candidates.push((a, an.weight));
            }
            if examined > self.max_examined {
                return WalkEnd::Fallback;
            }
            if candidates.is_empty() {
                return if graph.eligible_tip(cur, now_ms) {
                    WalkEnd::Tip(node.id, step)
                } else {
                    WalkEnd::Fallback
                };
            }
            cur = match self.choose(&candidates, rng) {
                Some(next) => next,
                None => return WalkEnd::Fallback,
            };
        }
        WalkEnd::Fallback
    }

    /// One transition: approver `y` with probability ∝ `exp(-α (Hmax − H_y))`.
    fn choose(&self, candidates: &[(NodeIdx, u64)], rng: &mut dyn RngCore) -> Option<NodeIdx> {
        let h_max = candidates.iter().map(|&(_, w)| w).max()?;
        let weights = candidates
            .iter()
            .map(|&(_, w)| exp_neg_milli(self.alpha_milli, h_max.saturating_sub(w)));
        let total: u64 = weights.clone().fold(0u64, u64::saturating_add);
        if total == 0 {
            return candidates.first().map(|&(i, _)| i);
        }
        let mut r = uniform_below(rng, total);
        for (&(i, _), w) in candidates.iter().zip(weights) {
            if r < w {
                return Some(i);
            }
            r -= w;
        }
        candidates.last().map(|&(i, _)| i)
    }
}

impl TipSelector for RandomWalk {
    fn select_tip(&self, graph: &Graph, rng: &mut dyn RngCore, now_ms: u64) -> Option<TxId> {
        match self.walk(graph, rng, now_ms) {
            WalkEnd::Tip(id, _) => Some(id),
            WalkEnd::Fallback => self.fallback.select_tip(graph, rng, now_ms),
        }
    }
}

/// A uniformly distributed integer in `0..n` (`n > 0`) by 128-bit multiply-shift: no floats,
/// no modulo, the same on every platform.
pub(crate) fn uniform_below(rng: &mut dyn RngCore, n: u64) -> u64 {
    ((u128::from(rng.next_u64()) * u128::from(n)) >> 64) as u64
}

/// `2^(-i/256)` in Q31 for `i` in `0..256`, built at compile time by repeated multiplication.
// `get_mut` is not usable in const evaluation; `i < 256` is the loop bound.
#[allow(clippy::indexing_slicing)]
const EXP2_NEG_Q31: [u64; 256] = {
    // 2^(-1/256) in Q31.
    const STEP: u64 = 2_141_676_973;
    let mut t = [0u64; 256];
    let mut v: u64 = 1 << 31;
    let mut i = 0;
    while i < 256 {
        t[i] = v;
        v = (v * STEP + (1 << 30)) >> 31;
        i += 1;
    }
    t
};

/// `exp(-alpha_milli/1000 × d)` in Q31 (so `2^31` means 1.0), integer only.
fn exp_neg_milli(alpha_milli: u32, d: u64) -> u64 {
    // x·log2(e) in Q16; log2(e) = 94548 / 65536.
    let y = u128::from(alpha_milli) * u128::from(d) * 94_548 / 1_000;
    let int = y >> 16;
    if int >= 40 {
        return 0;
    }
    let frac = ((y & 0xffff) >> 8) as usize;
    EXP2_NEG_Q31.get(frac).copied().unwrap_or(0) >> int
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_exp_matches_reference_values() {
        // exp(0) = 1
        assert_eq!(exp_neg_milli(100, 0), 1 << 31);
        // exp(-1) ≈ 0.367879 → Q31 790015084; allow 0.5% error.
        let e1 = exp_neg_milli(1_000, 1) as f64 / (1u64 << 31) as f64;
        assert!((e1 - 0.367_879).abs() < 0.002, "{e1}");
        // exp(-0.1 × 25) ≈ 0.082085
        let e = exp_neg_milli(100, 25) as f64 / (1u64 << 31) as f64;
        assert!((e - 0.082_085).abs() < 0.001, "{e}");
        // Monotone non-increasing in d, and zero far out.
        let mut last = u64::MAX;
        for d in 0..400 {
            let v = exp_neg_milli(100, d);
            assert!(v <= last);
            last = v;
        }
        assert_eq!(exp_neg_milli(1_000, 100), 0);
        assert_eq!(exp_neg_milli(u32::MAX, u64::MAX), 0);
    }

    #[test]
    fn uniform_below_stays_in_range() {
        use rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut seen = [0u32; 7];
        for _ in 0..7_000 {
            let v = uniform_below(&mut rng, 7) as usize;
            seen[v] += 1;
        }
        assert!(seen.iter().all(|&c| (800..1200).contains(&c)), "{seen:?}");
    }
}
