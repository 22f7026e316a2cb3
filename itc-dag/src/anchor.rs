//! Anchoring: proposing a snapshot of the confirmed region, checking one, and finalising one
//! the main chain committed.
//!
//! The anchoring gateway calls [`Tangle::propose_snapshot`] and sends the snapshot to the
//! validators. Each validator co-signs the ledger's `AnchorDag { sequence, snapshot_root }`
//! only if [`Tangle::check_snapshot_proposal`] accepts the snapshot against its own tangle.
//! When the chain commits it, every node calls [`Tangle::handle_anchor`], which re-derives
//! everything the snapshot states from its own view — closure, canonical order, tip set,
//! conflict-freedom, balances root — before making the covered transactions final. An anchor
//! overrides local conflict decisions: the anchored rival wins. Final transactions are pruned
//! after `retention_ms` ([`Tangle::handle_timeout`]).

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use itc_crypto::merkle::InclusionProof;

use crate::balances::DagBalances;
use crate::error::DagError;
use crate::graph::{NodeIdx, SpendKey, TxStatus};
use crate::snapshot::{DagSnapshot, MAX_SNAPSHOT_TXS};
use crate::store::TangleStore;
use crate::tangle::{Event, Tangle};
use crate::tx::TxId;

/// What [`Tangle::verify_anchor`] established: enough to commit without checking again.
struct VerifiedAnchor {
    /// Members in canonical order.
    order: Vec<NodeIdx>,
    /// The spend keys the snapshot finalises, with their claimant.
    keys: BTreeMap<SpendKey, TxId>,
    /// Balances after the snapshot's transfers.
    balances: DagBalances,
}

impl<S: TangleStore> Tangle<S> {
    /// The latest anchored snapshot (genesis before the first anchor).
    pub fn latest_snapshot(&self) -> Option<&DagSnapshot> {
        self.anchored.back()
    }

    /// A kept anchored snapshot by sequence.
    pub fn snapshot(&self, snapshot_seq: u64) -> Option<&DagSnapshot> {
        self.anchored
            .iter()
            .find(|s| s.snapshot_seq == snapshot_seq)
    }

    /// Sequence and inclusion proof of a transaction finalised by a kept snapshot (what a
    /// full node serves to light clients).
    pub fn prove_finalized(&self, id: &TxId) -> Option<(u64, InclusionProof)> {
        self.anchored
            .iter()
            .rev()
            .find_map(|s| s.prove(id).map(|p| (s.snapshot_seq, p)))
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
        let mut balances = self.balances.clone();
        // Bodies of confirmed transactions are in the store; a missing one cannot happen.
        let _ = self.apply_transfers(&mut balances, &finalized);
        let prev = self.anchored.back();
        DagSnapshot {
            snapshot_seq: prev.map_or(0, |s| s.snapshot_seq.saturating_add(1)),
            prev_root: prev.map(DagSnapshot::root).unwrap_or_default(),
            tips,
            finalized,
            balances_root: balances.root(),
        }
    }

    /// Whether this tangle holds `snapshot`: a validator co-signs the ledger's
    /// `AnchorDag { sequence: snapshot.snapshot_seq, snapshot_root: snapshot.root() }` only on
    /// `Ok`.
    ///
    /// `Ok` when `snapshot` is exactly the next snapshot this tangle would finalise
    /// ([`Tangle::handle_anchor`] would accept it: it extends the latest anchor, every
    /// transaction in it is held, confirmed-or-closed, in canonical order, with the right
    /// tips, no conflicting spends and the balances root this tangle computes), or exactly a
    /// snapshot it already finalised and still keeps. Otherwise the refusal `handle_anchor`
    /// would give: [`DagError::AnchorUnknownTx`] when this tangle has not seen everything yet
    /// (ignorable: ask again later), [`DagError::AnchorSequence`] for a sequence it does not
    /// expect, a [`Blame::Peer`](itc_crypto::Blame::Peer) error for a snapshot that
    /// contradicts its view.
    ///
    /// Pure (no event, no request, nothing stored) and cheap: `O(n log n)` in the snapshot's
    /// size plus one pass over the balances for the root; no signature is checked.
    ///
    /// ```
    /// use itc_dag::{DagError, IssuerPolicy, IssuerProfile, MemoryStore, Payload, Tangle,
    ///               TangleConfig, TangleGenesis, TransactionBuilder};
    /// use itc_crypto::{Hash, SecretKey};
    ///
    /// let config = TangleConfig { confirmation_threshold: 2, ..TangleConfig::default() };
    /// let policy = IssuerPolicy::new(IssuerProfile::device(0, 100));
    /// let mut gateway = Tangle::new(config, policy.clone(), TangleGenesis::default(),
    ///                               MemoryStore::default());
    /// let mut validator = Tangle::new(config, policy, TangleGenesis::default(),
    ///                                 MemoryStore::default());
    /// let key = SecretKey::from_bytes(&[9u8; 32]).unwrap();
    /// let mut parents = TangleGenesis::roots().to_vec();
    /// let mut txs = Vec::new();
    /// for seq in 0..3u64 {
    ///     let tx = TransactionBuilder::new(key.public_key(), seq, 100 + seq)
    ///         .parents(&parents).unwrap()
    ///         .payload(Payload::data(b"x").unwrap())
    ///         .sign(&key).unwrap();
    ///     parents = vec![tx.id(), TangleGenesis::roots()[0]];
    ///     gateway.handle_transaction(tx.clone(), 100 + seq).unwrap();
    ///     txs.push(tx);
    /// }
    /// let proposal = gateway.propose_snapshot(1_000);
    /// assert_eq!(proposal.finalized, [txs[0].id(), txs[1].id()]);
    /// assert!(gateway.check_snapshot_proposal(&proposal).is_ok());
    /// // The validator has not seen everything the proposal finalises: it does not co-sign yet.
    /// validator.handle_transaction(txs[0].clone(), 110).unwrap();
    /// let missing = validator.check_snapshot_proposal(&proposal);
    /// assert_eq!(missing, Err(DagError::AnchorUnknownTx(txs[1].id())));
    /// validator.handle_transaction(txs[1].clone(), 110).unwrap();
    /// assert_eq!(validator.check_snapshot_proposal(&proposal), Ok(()));
    /// // A proposal with a made-up balances root is refused outright.
    /// let mut forged = proposal.clone();
    /// forged.balances_root = Hash([7; 32]);
    /// assert_eq!(gateway.check_snapshot_proposal(&forged), Err(DagError::AnchorBalancesMismatch));
    /// ```
    pub fn check_snapshot_proposal(&self, snapshot: &DagSnapshot) -> Result<(), DagError> {
        let expected = self.next_snapshot_seq();
        if snapshot.snapshot_seq < expected {
            return match self.snapshot(snapshot.snapshot_seq) {
                Some(kept) if kept == snapshot => Ok(()),
                Some(_) => Err(DagError::AnchorNotCanonical),
                None => Err(DagError::AnchorSequence {
                    expected,
                    got: snapshot.snapshot_seq,
                }),
            };
        }
        self.verify_anchor(snapshot).map(|_| ())
    }

    fn next_snapshot_seq(&self) -> u64 {
        self.anchored
            .back()
            .map_or(0, |s| s.snapshot_seq.saturating_add(1))
    }

    /// The main chain committed `snapshot`: verify it against the local view and finalise.
    ///
    /// Refused (nothing changed) if it is not the next in sequence, names a transaction this
    /// node does not hold (`RequestMissing` events are emitted; retry after fetching), is not
    /// closed, not canonical, finalises conflicting transfers, or its balances root differs.
    ///
    /// ```
    /// use itc_dag::{snapshot::verify_inclusion, IssuerPolicy, IssuerProfile, MemoryStore,
    ///               Payload, Tangle, TangleConfig, TangleGenesis, TransactionBuilder, TxStatus};
    /// use itc_crypto::SecretKey;
    ///
    /// let config = TangleConfig { confirmation_threshold: 2, ..TangleConfig::default() };
    /// let policy = IssuerPolicy::new(IssuerProfile::device(0, 100));
    /// let mut tangle = Tangle::new(config, policy, TangleGenesis::default(), MemoryStore::default());
    /// let key = SecretKey::from_bytes(&[9u8; 32]).unwrap();
    /// let mut parents = TangleGenesis::roots().to_vec();
    /// let mut first = None;
    /// for seq in 0..3u64 {
    ///     let tx = TransactionBuilder::new(key.public_key(), seq, 100 + seq)
    ///         .parents(&parents).unwrap()
    ///         .payload(Payload::data(b"x").unwrap())
    ///         .sign(&key).unwrap();
    ///     first.get_or_insert(tx.id());
    ///     parents = vec![tx.id(), TangleGenesis::roots()[0]];
    ///     tangle.handle_transaction(tx, 100 + seq).unwrap();
    /// }
    /// let first = first.unwrap();
    /// // The anchoring gateway proposes; the main chain commits `snapshot.root()`; every node:
    /// let snapshot = tangle.propose_snapshot(1_000);
    /// tangle.handle_anchor(&snapshot, 200).unwrap();
    /// assert_eq!(tangle.status(&first), Some(TxStatus::Final));
    /// // What a light client checks against the 32-byte root stored on the main chain:
    /// let (_seq, proof) = tangle.prove_finalized(&first).unwrap();
    /// assert!(verify_inclusion(&snapshot.root(), &first, &proof).is_ok());
    /// ```
    pub fn handle_anchor(&mut self, snapshot: &DagSnapshot, now_ms: u64) -> Result<(), DagError> {
        let r = self.anchor_step(snapshot, now_ms);
        self.finish_step();
        r
    }

    fn anchor_step(&mut self, snapshot: &DagSnapshot, now_ms: u64) -> Result<(), DagError> {
        self.check_backlog()?;
        let verified = match self.verify_anchor(snapshot) {
            Ok(v) => v,
            Err(e @ DagError::AnchorUnknownTx(_)) => {
                let unknown: Vec<TxId> = snapshot
                    .finalized
                    .iter()
                    .filter(|id| !self.graph.contains(id) && !self.pool.contains(id))
                    .copied()
                    .collect();
                for id in unknown {
                    if self.pool.want(id, now_ms) {
                        self.push_event(Event::RequestMissing(id));
                    }
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        self.commit_anchor(snapshot, verified);
        Ok(())
    }

    /// Every check of an anchor, without changing anything.
    fn verify_anchor(&self, snapshot: &DagSnapshot) -> Result<VerifiedAnchor, DagError> {
        let prev = self.anchored.back();
        let expected = self.next_snapshot_seq();
        if snapshot.snapshot_seq != expected {
            return Err(DagError::AnchorSequence {
                expected,
                got: snapshot.snapshot_seq,
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
        let mut first_unknown = None;
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
                None => {
                    first_unknown.get_or_insert(*id);
                }
            }
        }
        if let Some(first) = first_unknown {
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
                || key.nonce < self.balances.next_spend(&key.from)
            {
                return Err(DagError::AnchorConflict(n.id));
            }
        }
        // Balances.
        let mut balances = self.balances.clone();
        self.apply_transfers(&mut balances, &snapshot.finalized)?;
        if balances.root() != snapshot.balances_root {
            return Err(DagError::AnchorBalancesMismatch);
        }
        Ok(VerifiedAnchor {
            order,
            keys,
            balances,
        })
    }

    /// Finalises a verified anchor.
    fn commit_anchor(&mut self, snapshot: &DagSnapshot, verified: VerifiedAnchor) {
        let VerifiedAnchor {
            order,
            keys,
            balances,
        } = verified;
        // Every account a finalised transfer touched (the sender's nonce moves even when the
        // funds do not).
        for &m in &order {
            let Some((id, key)) = self.graph.node(m).and_then(|n| n.spend.map(|k| (n.id, k)))
            else {
                continue;
            };
            self.dirty.accounts.push(key.from);
            if let Some(t) = self
                .get(&id)
                .and_then(|tx| tx.payload().as_transfer().copied())
            {
                self.dirty.accounts.push(t.to);
            }
        }
        self.balances = balances;
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
        self.dirty.snapshots.push(snapshot.snapshot_seq);
        while self.anchored.len() > self.config.kept_snapshots.max(1) {
            if let Some(old) = self.anchored.pop_front() {
                self.dirty.snapshots.push(old.snapshot_seq);
            }
        }
        self.dirty.meta = true;
        self.push_event(Event::Finalized {
            snapshot_seq: snapshot.snapshot_seq,
            root,
            count: order.len(),
        });
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
                    || key.nonce < self.balances.next_spend(&key.from)
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
                self.push_event(Event::Conflicting(id));
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

    /// Applies the transfers among `ids` (in order) to `balances`.
    fn apply_transfers(&self, balances: &mut DagBalances, ids: &[TxId]) -> Result<(), DagError> {
        for id in ids {
            let is_transfer = self
                .graph
                .lookup(id)
                .and_then(|i| self.graph.node(i))
                .is_some_and(|n| n.spend.is_some());
            if !is_transfer {
                continue;
            }
            let tx = self.get(id).ok_or(DagError::MissingBody(*id))?;
            if let Some(t) = tx.payload().as_transfer() {
                balances.apply(tx.issuer_address(), t);
            }
        }
        Ok(())
    }
}
