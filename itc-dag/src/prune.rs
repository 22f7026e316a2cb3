//! Time passing: expire waiting transactions, drop stale tips, prune below the anchors.
//!
//! Memory stays bounded because (1) final transactions are pruned `retention_ms` after their
//! timestamp (balances live on in the ledger and the snapshot's balances root), (2) orphans —
//! pending or conflicting transactions nothing approves — are pruned once older than the
//! retention, when nothing can approve them any more, and (3) the graph and the unsolid pool
//! have hard capacities. Confirmed transactions wait for their anchor; anchor entry points
//! are kept so the tangle can always be re-entered after an idle period.

use alloc::vec::Vec;

use crate::error::DagError;
use crate::graph::{NodeIdx, TxStatus};
use crate::store::TxStore;
use crate::tangle::{DagEvent, Tangle};

impl<S: TxStore> Tangle<S> {
    /// Advances time to `now`. Call periodically (e.g. every second).
    ///
    /// ```
    /// use itc_dag::{Genesis, IssuerPolicy, IssuerProfile, MemoryStore, Tangle, TangleConfig};
    /// let mut t = Tangle::new(TangleConfig::default(), IssuerPolicy::new(IssuerProfile::device(8, 10)),
    ///                         Genesis::default(), MemoryStore::default());
    /// t.handle_tick(1_000_000);
    /// // Genesis entry points are kept however old: the tangle can always be re-entered.
    /// assert_eq!(t.len(), 2);
    /// ```
    pub fn handle_tick(&mut self, now: u64) {
        for id in self.pool.expire(now, self.config.unsolid_timeout_ms) {
            self.push_event(DagEvent::Dropped {
                id,
                reason: DagError::UnsolidTimeout,
            });
        }
        self.drop_stale_tips(now);
        let pruned = self.prune(now);
        if pruned > 0 {
            self.push_event(DagEvent::Pruned { count: pruned });
        }
        let retention = self.config.retention_ms;
        self.issuers
            .retain(|_, s| s.last_ts.saturating_add(retention) >= now);
    }

    /// Tips below max depth can never be approved again; stop offering them.
    fn drop_stale_tips(&mut self, now: u64) {
        let stale: Vec<NodeIdx> = self
            .graph
            .tip_indices()
            .iter()
            .copied()
            .filter(|&t| !self.graph.approvable(t, now))
            .collect();
        for t in stale {
            self.graph.remove_tip(t);
        }
    }

    /// Removes final and orphaned transactions older than the retention. Returns how many.
    fn prune(&mut self, now: u64) -> usize {
        let cutoff = now.saturating_sub(self.config.retention_ms);
        let mut count = 0;
        // Youngest first, so an orphan's parents see it gone before their own turn.
        for i in self.graph.older_than(cutoff) {
            if self.graph.is_entry(i) {
                continue;
            }
            let prunable = self.graph.node(i).is_some_and(|n| match n.status {
                TxStatus::Final => true,
                TxStatus::Pending | TxStatus::Conflicting => n.approvers.is_empty(),
                TxStatus::Confirmed => false,
            });
            if !prunable {
                continue;
            }
            if let Some(node) = self.graph.remove(i) {
                self.store.remove(&node.id);
                if let Some(key) = node.spend {
                    self.conflicts.forget(&key, &node.id);
                }
                count += 1;
            }
        }
        count
    }
}
