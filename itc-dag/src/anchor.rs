//! Anchoring: proposing a snapshot of the confirmed region, and finalising one the main chain
//! committed.
//!
//! The anchoring gateway calls [`Tangle::propose_snapshot`] and submits the snapshot's root to
//! the main chain (through the ledger). When the chain commits it, every node calls
//! [`Tangle::handle_anchor`], which re-derives everything the snapshot states from its own view
//! — closure, canonical order, tip set, conflict-freedom, balances root — before making the
//! covered transactions final. An anchor overrides local conflict decisions: the anchored
//! rival wins. Final transactions are pruned after `retention_ms` ([`Tangle::handle_tick`]).

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use itc_crypto::merkle::InclusionProof;

use crate::error::DagError;
use crate::graph::{NodeIdx, SpendKey, TxStatus};
use crate::ledger::Ledger;
use crate::snapshot::{DagSnapshot, MAX_SNAPSHOT_TXS};
use crate::store::TxStore;
use crate::tangle::{DagEvent, Tangle};
use crate::tx::TxId;

impl<S: TxStore> Tangle<S> {
    /// The latest anchored snapshot (genesis before the first anchor).
    pub fn latest_snapshot(&self) -> Option<&DagSnapshot> {
        self.anchored.back()
    }

    /// A kept anchored snapshot by epoch.
    pub fn snapshot(&self, epoch: u64) -> Option<&DagSnapshot> {
        self.anchored.iter().find(|s| s.epoch == epoch)
    }

    /// Epoch and inclusion proof of a transaction finalised by a kept snapshot (what a full
    /// node serves to light clients).
    pub fn prove_finalized(&self, id: &TxId) -> Option<(u64, InclusionProof)> {
        self.anchored
            .iter()
            .rev()
            .find_map(|s| s.prove(id).map(|p| (s.epoch, p)))
    }

    /// Snapshot of up to `max_txs` confirmed, not yet final transactions (a past-closed prefix
    /// of the canonical order), for the anchoring gateway to submit to the main chain.
    pub fn propose_snapshot(&self, max_txs: usize) -> DagSnapshot {
        // Confirmed nodes whose parents are all final or themselves taken, in attach order
        // (a topological order), so the set is closed under approval.
        let mut confirmed: Vec<(u64, NodeIdx)> = self
            .graph
            .iter_nodes()
            .filter(|(_, n)| n.status == TxStatus::Confirmed)
            .map(|(i, n)| (n.order, i))
            .collect();
        confirmed.sort_unstable();
        let mut set = BTreeSet::new();
        for (_, i) in confirmed {
            let closed = self.graph.node(i).is_some_and(|n| {
                n.parents.iter().all(|p| {
                    set.contains(p)
                        || self
                            .graph
                            .node(*p)
                            .is_some_and(|pn| pn.status == TxStatus::Final)
                })
            });
            if closed {
                set.insert(i);
            }
        }
        let mut order = self.canonical_order(&set);
        order.truncate(max_txs.min(MAX_SNAPSHOT_TXS));
        let members: BTreeSet<NodeIdx> = order.iter().copied().collect();
        let finalized: Vec<TxId> = order
            .iter()
            .filter_map(|&i| self.graph.node(i).map(|n| n.id))
            .collect();
        let tips = self.snapshot_tips(&members);
        let mut ledger = self.ledger.clone();
        // Bodies of confirmed transactions are in the store; a missing one cannot happen.
        let _ = self.apply_transfers(&mut ledger, &finalized);
        let prev = self.anchored.back();
        DagSnapshot {
            epoch: prev.map_or(0, |s| s.epoch.saturating_add(1)),
            prev_root: prev.map(DagSnapshot::root).unwrap_or_default(),
            tips,
            finalized,
            balances_root: ledger.root(),
        }
    }

    /// The main chain committed `snapshot`: verify it against the local view and finalise.
    ///
    /// Refused (nothing changed) if it is not the next epoch, names a transaction this node
    /// does not hold (`RequestMissing` events are emitted; retry after fetching), is not
    /// closed, not canonical, finalises conflicting transfers, or its balances root differs.
    ///
    /// ```
    /// use itc_dag::{snapshot::verify_inclusion, Genesis, IssuerPolicy, IssuerProfile,
    ///               MemoryStore, Payload, Tangle, TangleConfig, TransactionBuilder, TxStatus};
    /// use itc_crypto::SecretKey;
    ///
    /// let config = TangleConfig { confirmation_threshold: 2, ..TangleConfig::default() };
    /// let policy = IssuerPolicy::new(IssuerProfile::device(0, 100));
    /// let mut tangle = Tangle::new(config, policy, Genesis::default(), MemoryStore::default());
    /// let key = SecretKey::from_bytes(&[9u8; 32]).unwrap();
    /// let mut parents = Genesis::entry_points().to_vec();
    /// let mut first = None;
    /// for seq in 0..3u64 {
    ///     let tx = TransactionBuilder::new(key.public_key(), seq, 100 + seq)
    ///         .parents(&parents).unwrap()
    ///         .payload(Payload::data(b"x").unwrap())
    ///         .sign(&key).unwrap();
    ///     first.get_or_insert(tx.id());
    ///     parents = vec![tx.id(), Genesis::entry_points()[0]];
    ///     tangle.handle_transaction(tx, 100 + seq).unwrap();
    /// }
    /// let first = first.unwrap();
    /// // The anchoring gateway proposes; the main chain commits `snapshot.root()`; every node:
    /// let snapshot = tangle.propose_snapshot(1_000);
    /// tangle.handle_anchor(&snapshot, 200).unwrap();
    /// assert_eq!(tangle.status(&first), Some(TxStatus::Final));
    /// // What a light client checks against the 32-byte root stored on the main chain:
    /// let (_epoch, proof) = tangle.prove_finalized(&first).unwrap();
    /// assert!(verify_inclusion(&snapshot.root(), &first, &proof).is_ok());
    /// ```
    pub fn handle_anchor(&mut self, snapshot: &DagSnapshot, now: u64) -> Result<(), DagError> {
        let prev = self.anchored.back();
        let expected = prev.map_or(0, |s| s.epoch.saturating_add(1));
        if snapshot.epoch != expected {
            return Err(DagError::AnchorEpoch {
                expected,
                got: snapshot.epoch,
            });
        }
        if prev.map(DagSnapshot::root).unwrap_or_default() != snapshot.prev_root {
            return Err(DagError::AnchorPrevMismatch);
        }
        if snapshot.finalized.len() > MAX_SNAPSHOT_TXS {
            return Err(DagError::SnapshotTooLarge {
                count: snapshot.finalized.len(),
                max: MAX_SNAPSHOT_TXS,
            });
        }
        // Every member known and not final yet.
        let mut members = BTreeSet::new();
        let mut unknown = Vec::new();
        for id in &snapshot.finalized {
            match self.graph.lookup(id) {
                Some(i) => {
                    if self
                        .graph
                        .node(i)
                        .is_some_and(|n| n.status == TxStatus::Final)
                        || !members.insert(i)
                    {
                        return Err(DagError::AnchorNotCanonical);
                    }
                }
                None => unknown.push(*id),
            }
        }
        if let Some(first) = unknown.first().copied() {
            for id in unknown {
                if !self.pool.contains(&id) {
                    self.pool.want(id, now);
                    self.push_event(DagEvent::RequestMissing(id));
                }
            }
            return Err(DagError::AnchorUnknownTx(first));
        }
        // Closed under approval.
        for &m in &members {
            let Some(n) = self.graph.node(m) else {
                continue;
            };
            for p in &n.parents {
                let final_parent = self
                    .graph
                    .node(*p)
                    .is_some_and(|pn| pn.status == TxStatus::Final);
                if !final_parent && !members.contains(p) {
                    return Err(DagError::AnchorNotClosed(n.id));
                }
            }
        }
        // Canonical order and tip set.
        let order = self.canonical_order(&members);
        let listed: Vec<Option<NodeIdx>> = snapshot
            .finalized
            .iter()
            .map(|id| self.graph.lookup(id))
            .collect();
        if order.iter().map(|&i| Some(i)).ne(listed.iter().copied()) {
            return Err(DagError::AnchorNotCanonical);
        }
        if self.snapshot_tips(&members) != snapshot.tips {
            return Err(DagError::AnchorNotCanonical);
        }
        // Conflict-free: one claimant per key, none against final funds.
        let mut keys: BTreeMap<SpendKey, TxId> = BTreeMap::new();
        for &m in &order {
            let Some(n) = self.graph.node(m) else {
                continue;
            };
            let Some(key) = n.spend else { continue };
            let final_rival = self
                .conflicts
                .winner(&key)
                .is_some_and(|w| w != n.id && self.graph.status(&w) == Some(TxStatus::Final));
            if keys.insert(key, n.id).is_some()
                || final_rival
                || key.nonce < self.ledger.next_spend(&key.from)
            {
                return Err(DagError::AnchorConflict(n.id));
            }
        }
        // Balances.
        let mut ledger = self.ledger.clone();
        self.apply_transfers(&mut ledger, &snapshot.finalized)?;
        if ledger.root() != snapshot.balances_root {
            return Err(DagError::AnchorBalancesMismatch);
        }

        // ---- accepted: commit ----------------------------------------------------------------
        self.ledger = ledger;
        let mut overridden = false;
        for &m in &order {
            if let Some(n) = self.graph.node_mut(m) {
                overridden |= n.status == TxStatus::Conflicting;
                n.status = TxStatus::Final;
            }
        }
        for (key, id) in &keys {
            self.conflicts.set_winner(*key, *id);
            for rival in self.conflicts.rivals(key, id) {
                if let Some(r) = self.graph.lookup(&rival) {
                    overridden |= self.graph.status(&rival) == Some(TxStatus::Confirmed);
                    self.mark_conflicting(r);
                }
            }
        }
        if overridden {
            self.rederive_conflicts();
        }
        self.graph.set_entry_points(&snapshot.tips);
        let root = snapshot.root();
        self.anchored.push_back(snapshot.clone());
        while self.anchored.len() > self.config.kept_snapshots.max(1) {
            self.anchored.pop_front();
        }
        self.push_event(DagEvent::Finalized {
            epoch: snapshot.epoch,
            root,
            count: order.len(),
        });
        Ok(())
    }

    /// After an anchor overrode a local decision: re-derive which non-final nodes conflict
    /// (a parent conflicts, or their spend is taken) in topological order, then rebuild tips.
    fn rederive_conflicts(&mut self) {
        let mut nodes: Vec<(u64, NodeIdx)> = self
            .graph
            .iter_nodes()
            .filter(|(_, n)| n.status != TxStatus::Final)
            .map(|(i, n)| (n.order, i))
            .collect();
        nodes.sort_unstable();
        for (_, i) in nodes {
            let Some(n) = self.graph.node(i) else {
                continue;
            };
            let parent_conflicts = n.parents.iter().any(|p| {
                self.graph
                    .node(*p)
                    .is_some_and(|pn| pn.status == TxStatus::Conflicting)
            });
            let spend_taken = n.spend.is_some_and(|key| {
                self.conflicts.winner(&key).is_some_and(|w| w != n.id)
                    || key.nonce < self.ledger.next_spend(&key.from)
            });
            let should = parent_conflicts || spend_taken;
            let (id, was) = (n.id, n.status);
            if should && was != TxStatus::Conflicting {
                if let Some(n) = self.graph.node_mut(i) {
                    n.status = TxStatus::Conflicting;
                }
                if let Some(key) = self.graph.node(i).and_then(|n| n.spend) {
                    self.conflicts.clear_winner_if(&key, &id);
                }
                self.push_event(DagEvent::Conflicting(id));
            } else if !should && was == TxStatus::Conflicting {
                if let Some(n) = self.graph.node_mut(i) {
                    n.status = TxStatus::Pending;
                }
                if let Some(key) = self.graph.node(i).and_then(|n| n.spend) {
                    self.conflicts.claim(key, id);
                }
            }
        }
        self.graph.rebuild_tips();
    }

    /// Kahn's topological order over `set` (parents first), ties by smallest id.
    pub(crate) fn canonical_order(&self, set: &BTreeSet<NodeIdx>) -> Vec<NodeIdx> {
        let mut indegree: BTreeMap<NodeIdx, usize> = BTreeMap::new();
        let mut ready: BTreeSet<(TxId, NodeIdx)> = BTreeSet::new();
        for &i in set {
            let Some(n) = self.graph.node(i) else {
                continue;
            };
            let d = n.parents.iter().filter(|p| set.contains(p)).count();
            if d == 0 {
                ready.insert((n.id, i));
            } else {
                indegree.insert(i, d);
            }
        }
        let mut out = Vec::with_capacity(set.len());
        while let Some((_, i)) = ready.pop_first() {
            out.push(i);
            let Some(n) = self.graph.node(i) else {
                continue;
            };
            for a in &n.approvers {
                if let Some(d) = indegree.get_mut(a) {
                    *d = d.saturating_sub(1);
                    if *d == 0 {
                        indegree.remove(a);
                        if let Some(an) = self.graph.node(*a) {
                            ready.insert((an.id, *a));
                        }
                    }
                }
            }
        }
        out
    }

    /// Members no other member approves, ascending; the previous tips if `members` is empty.
    fn snapshot_tips(&self, members: &BTreeSet<NodeIdx>) -> Vec<TxId> {
        if members.is_empty() {
            return self
                .anchored
                .back()
                .map(|s| s.tips.clone())
                .unwrap_or_default();
        }
        let mut approved = BTreeSet::new();
        for &m in members {
            if let Some(n) = self.graph.node(m) {
                approved.extend(n.parents.iter().copied().filter(|p| members.contains(p)));
            }
        }
        let mut tips: Vec<TxId> = members
            .difference(&approved)
            .filter_map(|&i| self.graph.node(i).map(|n| n.id))
            .collect();
        tips.sort_unstable();
        tips
    }

    /// Applies the transfers among `ids` (in order) to `ledger`.
    fn apply_transfers(&self, ledger: &mut Ledger, ids: &[TxId]) -> Result<(), DagError> {
        for id in ids {
            let is_transfer = self
                .graph
                .lookup(id)
                .and_then(|i| self.graph.node(i))
                .is_some_and(|n| n.spend.is_some());
            if !is_transfer {
                continue;
            }
            let tx = self.store.get(id).ok_or(DagError::AnchorUnknownTx(*id))?;
            if let Some(t) = tx.payload().as_transfer() {
                ledger.apply(tx.issuer_address(), t);
            }
        }
        Ok(())
    }
}
