//! Time passing: the housekeeping deadline ([`Tangle::poll_timeout`]) and what happens when it
//! passes ([`Tangle::handle_timeout`]): waiting transactions expire, stale tips stop being
//! offered, final and orphaned transactions are pruned, idle issuers are forgotten.
//!
//! Memory stays bounded because (1) final transactions are pruned `retention_ms` after their
//! timestamp (balances live on in [`crate::DagBalances`] and the snapshot's balances root), (2)
//! orphans — pending or conflicting transactions nothing approves — are pruned once older than
//! the retention, measured like max depth from the depth reference (while the tangle is idle
//! nothing ages, so it resumes where it stopped), and (3) the graph and the unsolid pool have
//! hard capacities. Confirmed transactions wait for their anchor; roots and entry points are
//! kept so the tangle can always be re-entered.

use alloc::vec::Vec;

use crate::error::DagError;
use crate::graph::{NodeIdx, TxStatus};
use crate::store::TangleStore;
use crate::tangle::{Event, Tangle};

impl<S: TangleStore> Tangle<S> {
    /// The next instant (absolute ms) at which [`Tangle::handle_timeout`] has work:
    /// `housekeeping_ms` after the last run, or `None` when nothing held can change with time
    /// (only roots and entry points, no waiting transaction, no issuer to forget).
    ///
    /// ```
    /// use itc_dag::{IssuerPolicy, IssuerProfile, MemoryStore, Tangle, TangleConfig, TangleGenesis};
    /// let genesis = TangleGenesis { timestamp: 1_000, balances: vec![] };
    /// let mut t = Tangle::new(TangleConfig::default(), IssuerPolicy::new(IssuerProfile::device(8, 10)),
    ///                         genesis, MemoryStore::default());
    /// // Only the genesis roots: time changes nothing, so there is no deadline.
    /// assert_eq!(t.poll_timeout(), None);
    /// t.handle_timeout(1_000_000);
    /// // The roots are kept however old: the tangle can always be re-entered.
    /// assert_eq!(t.len(), 2);
    /// ```
    pub fn poll_timeout(&self) -> Option<u64> {
        let anchorages = self.graph.root_indices().len()
            + self
                .graph
                .entry_indices()
                .iter()
                .filter(|&&e| !self.graph.is_root(e))
                .count();
        let idle = self.pool.len() == 0
            && self.pool.wanted_len() == 0
            && self.issuers.is_empty()
            && self.graph.len() <= anchorages;
        (!idle).then(|| {
            self.last_timeout_ms
                .saturating_add(self.config.housekeeping_ms.max(1))
        })
    }

    /// Runs housekeeping if the deadline [`Tangle::poll_timeout`] reported has passed
    /// (`now_ms` at or after it); otherwise does nothing. Reports `Dropped` for waiting
    /// transactions that timed out and `Pruned` for what left memory and the store.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.poll_timeout().is_none_or(|d| now_ms < d) {
            return;
        }
        for id in self.pool.expire(now_ms, self.config.unsolid_timeout_ms) {
            self.push_event(Event::Dropped {
                id,
                reason: DagError::UnsolidTimeout,
            });
        }
        self.drop_stale_tips(now_ms);
        let pruned = self.prune(now_ms);
        if pruned > 0 {
            self.push_event(Event::Pruned { count: pruned });
        }
        let retention = self.config.retention_ms;
        let forgotten: Vec<[u8; 32]> = self
            .issuers
            .iter()
            .filter(|(_, s)| s.last_ts.saturating_add(retention) < now_ms)
            .map(|(k, _)| *k)
            .collect();
        for k in forgotten {
            self.issuers.remove(&k);
            self.dirty.issuers.push(k);
        }
        self.last_timeout_ms = now_ms;
        self.dirty.meta = true;
        self.finish_step();
    }

    /// Tips below max depth can never be approved again; stop offering them.
    fn drop_stale_tips(&mut self, now_ms: u64) {
        let stale: Vec<NodeIdx> = self
            .graph
            .tip_slots()
            .filter(|&t| !self.graph.approvable(t, now_ms))
            .collect();
        for t in stale {
            self.graph.remove_tip(t);
        }
    }

    /// Removes final transactions older than the retention, and orphans older than the
    /// retention measured from the depth reference. Returns how many.
    fn prune(&mut self, now_ms: u64) -> usize {
        let retention = self.config.retention_ms;
        let cutoff = now_ms.saturating_sub(retention);
        let orphan_cutoff = self.graph.depth_reference(now_ms).saturating_sub(retention);
        let mut count = 0;
        // Youngest first, so an orphan's parents see it gone before their own turn.
        for i in self.graph.older_than(cutoff) {
            if self.graph.is_anchorage(i) {
                continue;
            }
            let prunable = self.graph.node(i).is_some_and(|n| match n.status {
                TxStatus::Final => true,
                TxStatus::Pending | TxStatus::Conflicting => {
                    n.approvers.is_empty() && n.timestamp < orphan_cutoff
                }
                TxStatus::Confirmed => false,
            });
            if !prunable {
                continue;
            }
            if let Some(node) = self.graph.remove(i) {
                if let Some(key) = node.spend {
                    self.conflicts.forget(&key, &node.id);
                }
                count += 1;
            }
        }
        count
    }
}
