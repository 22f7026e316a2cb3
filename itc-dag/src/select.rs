//! Choosing the parents of a new transaction: tips from a [`TipSelector`], checked so the new
//! transaction does not approve both sides of an unresolved double spend.
//!
//! A tip is only as good as its past cone: two individually fine tips may together approve
//! two rival transfers, and the new transaction would then be lost with whichever rival
//! loses. So each added tip is checked against the others by a bounded walk over the
//! *pending* region (confirmed and final transactions have no unresolved rivals). If the
//! check would exceed `max_consistency_visits`, the extra tip is dropped. When fewer than two
//! tips survive, the missing parents are a young parent of the first tip (inside its past
//! cone, so it adds no new conflict), else the entry points of the latest anchor and the
//! genesis roots (final: they bring in nothing). Those are approvable at any age, so a tangle
//! that has been idle for any length of time still yields two parents.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use rand_core::RngCore;

use crate::error::DagError;
use crate::graph::{NodeIdx, SpendKey, TxStatus};
use crate::store::TangleStore;
use crate::tangle::Tangle;
use crate::tips::TipSelector;
use crate::tx::{canonical_parents, Parents, TxId, MAX_PARENTS, MIN_PARENTS};

impl<S: TangleStore> Tangle<S> {
    /// Picks `count` (clamped to 2..=8) parents for a new transaction issued at `now_ms`.
    ///
    /// ```
    /// use itc_dag::{IssuerPolicy, IssuerProfile, MemoryStore, RandomWalk, Tangle,
    ///               TangleConfig, TangleGenesis};
    /// use rand_core::SeedableRng;
    /// let t = Tangle::new(TangleConfig::default(), IssuerPolicy::new(IssuerProfile::device(8, 10)),
    ///                     TangleGenesis::default(), MemoryStore::default());
    /// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    /// let parents = t.select_parents(&RandomWalk::default(), &mut rng, 0, 2).unwrap();
    /// assert_eq!(&parents[..], &{ let mut g = TangleGenesis::roots(); g.sort(); g }[..]);
    /// ```
    pub fn select_parents(
        &self,
        selector: &dyn TipSelector,
        rng: &mut dyn RngCore,
        now_ms: u64,
        count: usize,
    ) -> Result<Parents, DagError> {
        let want = count.clamp(MIN_PARENTS, MAX_PARENTS);
        let mut picks: Vec<NodeIdx> = Vec::with_capacity(want);
        for _ in 0..want.saturating_mul(4) {
            if picks.len() >= want {
                break;
            }
            let Some(i) = selector
                .select_tip(&self.graph, rng, now_ms)
                .and_then(|id| self.graph.lookup(&id))
            else {
                break;
            };
            if picks.contains(&i) || !self.graph.approvable(i, now_ms) {
                continue;
            }
            picks.push(i);
            // A lone tip over budget is kept (its own cone is its own risk); an extra one is not.
            match self.cone_consistent(&picks) {
                Some(false) => {
                    picks.pop();
                }
                None if picks.len() > 1 => {
                    picks.pop();
                }
                _ => {}
            }
        }
        if picks.len() < MIN_PARENTS {
            let young_parents: Vec<NodeIdx> = picks
                .first()
                .and_then(|&first| self.graph.node(first))
                .map(|n| n.parents.iter().copied().collect())
                .unwrap_or_default();
            let fallbacks = young_parents
                .into_iter()
                .chain(self.graph.entry_indices().iter().copied())
                .chain(self.graph.root_indices().iter().copied())
                .chain(self.graph.latest());
            for f in fallbacks {
                if picks.len() >= MIN_PARENTS {
                    break;
                }
                if !picks.contains(&f) && self.graph.approvable(f, now_ms) {
                    picks.push(f);
                }
            }
        }
        if picks.len() < MIN_PARENTS {
            return Err(DagError::NoTips);
        }
        let ids: Vec<TxId> = picks
            .iter()
            .filter_map(|&i| self.graph.node(i).map(|n| n.id))
            .collect();
        canonical_parents(&ids).map_err(|_| DagError::NoTips)
    }

    /// Whether the pending past cones of `picks` contain two rival transfers. `None` when the
    /// walk would exceed the visit budget.
    fn cone_consistent(&self, picks: &[NodeIdx]) -> Option<bool> {
        let mut seen: BTreeSet<NodeIdx> = BTreeSet::new();
        let mut spends: BTreeMap<SpendKey, TxId> = BTreeMap::new();
        let mut stack: Vec<NodeIdx> = picks.to_vec();
        while let Some(i) = stack.pop() {
            if !seen.insert(i) {
                continue;
            }
            if seen.len() > self.config.max_consistency_visits {
                return None;
            }
            let Some(n) = self.graph.node(i) else {
                continue;
            };
            if n.status != TxStatus::Pending {
                continue;
            }
            if let Some(key) = n.spend {
                if spends.insert(key, n.id).is_some_and(|other| other != n.id) {
                    return Some(false);
                }
            }
            stack.extend(n.parents.iter().copied());
        }
        Some(true)
    }
}
