//! The metadata graph: who approves whom, cumulative weights, status and the tip set.
//!
//! Nodes live in an arena indexed by `u32` (a few hundred bytes each, see
//! [`crate::MemoryReport`]); bodies live in the [`crate::TangleStore`]. The attach sequence number
//! (`order`) is a topological order: a node is attached only after all its parents.
//!
//! **Cumulative weight, incrementally.** A new transaction adds its own weight to every
//! transaction in its past cone *that is still pending*; the depth-first walk stops at
//! confirmed, final and conflicting nodes. That is sound because weight only grows along
//! approval: everything in the past cone of a confirmed node crossed the threshold no later
//! than that node did, so nothing behind it still needs counting. The cost of one attach is
//! therefore the size of the pending region behind the new transaction — a few multiples of
//! the confirmation threshold — and does not grow with the total size of the tangle
//! (`benches/benches/dag.rs`, group `dag/attach_weight_update`). Confirmed weights are frozen at
//! or just above the threshold; the random walk only needs them to tell heavy from light.

//!
//! **Max depth, measured from the frontier.** A parent may be at most `max_parent_age_ms`
//! older than the *depth reference*: `min(now_ms, newest held timestamp)`. While traffic
//! flows the newest transaction is seconds old, so this is the familiar wall-clock rule that
//! stops lazy tips and parasite chains hooked deep in the past. When the tangle has been idle
//! (no transaction for longer than the max depth) the reference stays at the last activity,
//! so the first transaction after the pause may approve the tips it left off with instead of
//! finding none. What an attacker gains: nothing while others issue (the newest timestamp is
//! then recent and cannot be pulled back, since it is a maximum); after a pause it may hook to
//! the region the pause froze, exactly as every honest issuer does, and its own transaction
//! (stamped within `max_parent_age_ms` of now, or it is `TooOld`) moves the reference forward
//! again, so the window reaches at most `2 × max_parent_age_ms` behind now.
//!
//! **Roots and entry points.** The two genesis roots are held forever and may be approved at
//! any age (they are final and bodyless: approving them decides nothing), and so may the entry
//! points (the latest anchor's tips). Together they guarantee two distinct approvable parents
//! however long the tangle slept, even when the latest snapshot has a single tip.
//!
//! **Canonical layout.** Everything observable is a function of the held nodes and their
//! attach order, never of arena slots: the tip list is ordered by attach order, the time index
//! breaks ties by attach order and approver lists are in attach order. A tangle restored from
//! its store ([`crate::Tangle::restore`]) therefore selects the same parents as the one that
//! crashed.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use itc_crypto::Address;

use crate::tx::{TxId, MAX_PARENTS};

pub(crate) type NodeIdx = u32;

/// Where a transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum TxStatus {
    /// Attached, approving weight below the threshold.
    Pending,
    /// Approving weight crossed the threshold (probabilistic confirmation).
    Confirmed,
    /// Covered by a main-chain anchor: irreversible.
    Final,
    /// Lost a conflict, approves a loser, or double-spends final funds: never confirmed.
    Conflicting,
}

impl TxStatus {
    /// The status's byte in the store and the state digest.
    pub(crate) const fn to_byte(self) -> u8 {
        match self {
            TxStatus::Pending => 0,
            TxStatus::Confirmed => 1,
            TxStatus::Final => 2,
            TxStatus::Conflicting => 3,
        }
    }

    pub(crate) const fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(TxStatus::Pending),
            1 => Some(TxStatus::Confirmed),
            2 => Some(TxStatus::Final),
            3 => Some(TxStatus::Conflicting),
            _ => None,
        }
    }
}

/// The funds a transfer spends: the sender's account and which spend of it this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpendKey {
    /// Debited account.
    pub from: Address,
    /// The transfer's `spend_nonce`.
    pub nonce: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) id: TxId,
    pub(crate) parents: heapless::Vec<NodeIdx, MAX_PARENTS>,
    pub(crate) approvers: Vec<NodeIdx>,
    /// Approvers that are not conflicting.
    pub(crate) live_approvers: u32,
    pub(crate) own_weight: u64,
    pub(crate) weight: u64,
    pub(crate) timestamp: u64,
    pub(crate) order: u64,
    pub(crate) status: TxStatus,
    pub(crate) spend: Option<SpendKey>,
    /// Offered as a tip (in `Graph::tips`).
    pub(crate) tip: bool,
    mark: u32,
}

impl Node {
    pub(crate) fn new(id: TxId, timestamp: u64, own_weight: u64, status: TxStatus) -> Self {
        Node {
            id,
            parents: heapless::Vec::new(),
            approvers: Vec::new(),
            live_approvers: 0,
            own_weight,
            weight: own_weight,
            timestamp,
            order: 0,
            status,
            spend: None,
            tip: false,
            mark: 0,
        }
    }

    /// Heap bytes owned by this node beyond its inline size.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.approvers
            .capacity()
            .saturating_mul(core::mem::size_of::<NodeIdx>())
    }
}

/// The tangle's metadata graph (read-only view for tip selectors and callers).
#[derive(Debug, Default, Clone)]
pub struct Graph {
    nodes: Vec<Option<Node>>,
    free: Vec<NodeIdx>,
    index: BTreeMap<TxId, NodeIdx>,
    /// `(timestamp, order, slot)`: ties broken by attach order, never by slot.
    by_time: BTreeSet<(u64, u64, NodeIdx)>,
    /// Offered tips as `(order, slot)`, ascending by attach order.
    tips: Vec<(u64, NodeIdx)>,
    next_order: u64,
    generation: u32,
    /// The latest anchor's tips: where walks start; exempt from the age limit and pruning.
    entry_points: Vec<NodeIdx>,
    /// The genesis roots: held forever, approvable at any age.
    roots: Vec<NodeIdx>,
    /// Most recently attached non-conflicting node (tip-selection fallback).
    latest: Option<NodeIdx>,
    max_parent_age_ms: u64,
    /// Ids whose stored record (weight, status, tip flag, presence) changed since the last
    /// flush; may repeat.
    dirty: Vec<TxId>,
}

impl Graph {
    pub(crate) fn new(max_parent_age_ms: u64) -> Self {
        Graph {
            max_parent_age_ms,
            ..Graph::default()
        }
    }

    // ---- read-only view -------------------------------------------------------------------

    /// Number of transactions in the graph (including the genesis roots).
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when the graph is empty.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Number of offered tips (non-conflicting transactions no live transaction approves).
    pub fn tip_count(&self) -> usize {
        self.tips.len()
    }

    /// The `i`-th tip, in attach order.
    pub fn tip_at(&self, i: usize) -> Option<TxId> {
        self.tip_slot(i).and_then(|n| self.node(n)).map(|n| n.id)
    }

    /// Every transaction id held, ascending.
    pub fn ids(&self) -> impl Iterator<Item = TxId> + '_ {
        self.index.keys().copied()
    }

    /// Current tips, ascending by id.
    pub fn sorted_tips(&self) -> Vec<TxId> {
        let mut v: Vec<TxId> = (0..self.tips.len())
            .filter_map(|i| self.tip_at(i))
            .collect();
        v.sort_unstable();
        v
    }

    /// True if the graph holds `id`.
    pub fn contains(&self, id: &TxId) -> bool {
        self.index.contains_key(id)
    }

    /// Status of `id`.
    pub fn status(&self, id: &TxId) -> Option<TxStatus> {
        self.by_id(id).map(|n| n.status)
    }

    /// Cumulative weight of `id` (frozen once confirmed).
    pub fn weight(&self, id: &TxId) -> Option<u64> {
        self.by_id(id).map(|n| n.weight)
    }

    /// The funds `id` spends, if it is a transfer.
    pub fn spend(&self, id: &TxId) -> Option<SpendKey> {
        self.by_id(id).and_then(|n| n.spend)
    }

    /// Own weight of `id` (what it adds to everything it approves).
    pub fn own_weight(&self, id: &TxId) -> Option<u64> {
        self.by_id(id).map(|n| n.own_weight)
    }

    /// Timestamp of `id`.
    pub fn timestamp(&self, id: &TxId) -> Option<u64> {
        self.by_id(id).map(|n| n.timestamp)
    }

    /// Transactions directly approving `id`, in attach order.
    pub fn approvers(&self, id: &TxId) -> impl Iterator<Item = TxId> + '_ {
        self.by_id(id)
            .into_iter()
            .flat_map(|n| n.approvers.iter())
            .filter_map(|&a| self.node(a).map(|n| n.id))
    }

    /// Parents of `id` still held in the graph (pruned final parents are dropped).
    pub fn parents(&self, id: &TxId) -> impl Iterator<Item = TxId> + '_ {
        self.by_id(id)
            .into_iter()
            .flat_map(|n| n.parents.iter())
            .filter_map(|&p| self.node(p).map(|n| n.id))
    }

    /// The entry points (latest anchor's tips, or the genesis roots): where random walks start.
    pub fn entry_points(&self) -> impl Iterator<Item = TxId> + '_ {
        self.entry_points
            .iter()
            .filter_map(|&e| self.node(e).map(|n| n.id))
    }

    /// Whether `id` may be approved at `now_ms`: held, not conflicting, and not below max
    /// depth (measured from [`Graph::depth_reference`]); roots and entry points always are.
    pub fn is_approvable(&self, id: &TxId, now_ms: u64) -> bool {
        self.lookup(id).is_some_and(|i| self.approvable(i, now_ms))
    }

    /// What parent ages are measured from at `now_ms`: `min(now_ms, newest held timestamp)`
    /// (see the module notes on idle tangles).
    pub fn depth_reference(&self, now_ms: u64) -> u64 {
        self.by_time
            .last()
            .map_or(now_ms, |&(ts, _, _)| ts.min(now_ms))
    }

    // ---- crate-internal access ------------------------------------------------------------

    pub(crate) fn lookup(&self, id: &TxId) -> Option<NodeIdx> {
        self.index.get(id).copied()
    }

    pub(crate) fn node(&self, i: NodeIdx) -> Option<&Node> {
        self.nodes.get(i as usize).and_then(Option::as_ref)
    }

    /// Mutable access that marks the node's stored record dirty.
    pub(crate) fn node_mut(&mut self, i: NodeIdx) -> Option<&mut Node> {
        let n = self.nodes.get_mut(i as usize).and_then(Option::as_mut)?;
        self.dirty.push(n.id);
        Some(n)
    }

    /// Mutable access for fields that are not stored (approvers, live counts, marks).
    fn slot_mut(&mut self, i: NodeIdx) -> Option<&mut Node> {
        self.nodes.get_mut(i as usize).and_then(Option::as_mut)
    }

    fn by_id(&self, id: &TxId) -> Option<&Node> {
        self.lookup(id).and_then(|i| self.node(i))
    }

    pub(crate) fn tip_slot(&self, k: usize) -> Option<NodeIdx> {
        self.tips.get(k).map(|&(_, i)| i)
    }

    pub(crate) fn tip_slots(&self) -> impl Iterator<Item = NodeIdx> + '_ {
        self.tips.iter().map(|&(_, i)| i)
    }

    pub(crate) fn entry_indices(&self) -> &[NodeIdx] {
        &self.entry_points
    }

    pub(crate) fn root_indices(&self) -> &[NodeIdx] {
        &self.roots
    }

    pub(crate) fn latest(&self) -> Option<NodeIdx> {
        self.latest
    }

    pub(crate) fn latest_id(&self) -> Option<TxId> {
        self.latest.and_then(|l| self.node(l)).map(|n| n.id)
    }

    pub(crate) fn next_order(&self) -> u64 {
        self.next_order
    }

    pub(crate) fn is_entry(&self, i: NodeIdx) -> bool {
        self.entry_points.contains(&i)
    }

    pub(crate) fn is_root(&self, i: NodeIdx) -> bool {
        self.roots.contains(&i)
    }

    /// Entry points and roots: approvable at any age, never pruned.
    pub(crate) fn is_anchorage(&self, i: NodeIdx) -> bool {
        self.is_entry(i) || self.is_root(i)
    }

    /// Not conflicting and young enough relative to the depth reference (entry points and
    /// roots are always approvable).
    pub(crate) fn approvable(&self, i: NodeIdx, now_ms: u64) -> bool {
        let reference = self.depth_reference(now_ms);
        self.node(i).is_some_and(|n| {
            n.status != TxStatus::Conflicting
                && (reference.saturating_sub(n.timestamp) <= self.max_parent_age_ms
                    || self.is_anchorage(i))
        })
    }

    /// An approvable node with no live approvers.
    pub(crate) fn eligible_tip(&self, i: NodeIdx, now_ms: u64) -> bool {
        self.approvable(i, now_ms) && self.node(i).is_some_and(|n| n.live_approvers == 0)
    }

    pub(crate) fn set_entry_points(&mut self, ids: &[TxId]) {
        self.entry_points = ids.iter().filter_map(|id| self.lookup(id)).collect();
    }

    pub(crate) fn iter_nodes(&self) -> impl Iterator<Item = (NodeIdx, &Node)> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| (i as NodeIdx, n)))
    }

    /// Nodes older than `cutoff` (timestamp < cutoff), youngest first (a child before its
    /// parents, since attach order breaks timestamp ties).
    pub(crate) fn older_than(&self, cutoff: u64) -> Vec<NodeIdx> {
        self.by_time
            .range(..(cutoff, 0, 0))
            .rev()
            .map(|&(_, _, i)| i)
            .collect()
    }

    pub(crate) fn arena_slots(&self) -> usize {
        self.nodes.capacity()
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.nodes.iter().flatten().map(Node::heap_bytes).sum()
    }

    /// Takes the ids whose stored record changed since the last call, sorted, deduplicated.
    pub(crate) fn take_dirty(&mut self) -> Vec<TxId> {
        let mut d = core::mem::take(&mut self.dirty);
        d.sort_unstable();
        d.dedup();
        d
    }

    // ---- mutation -------------------------------------------------------------------------

    /// Adds a node whose parents (given as indices) are all present, as the next in attach
    /// order.
    pub(crate) fn insert(&mut self, mut node: Node, parents: &[NodeIdx]) -> NodeIdx {
        node.order = self.next_order;
        self.next_order = self.next_order.saturating_add(1);
        node.parents = parents.iter().copied().take(MAX_PARENTS).collect();
        let live = node.status != TxStatus::Conflicting;
        let idx = self.place(node);
        for &p in parents {
            let mut now_approved = false;
            if let Some(pn) = self.slot_mut(p) {
                pn.approvers.push(idx);
                if live {
                    pn.live_approvers = pn.live_approvers.saturating_add(1);
                    now_approved = pn.live_approvers == 1;
                }
            }
            if now_approved {
                self.remove_tip(p);
            }
        }
        if live {
            self.add_tip(idx);
            self.latest = Some(idx);
        }
        idx
    }

    /// Puts a node into a slot and the indices; marks it dirty.
    fn place(&mut self, node: Node) -> NodeIdx {
        let (id, ts, order) = (node.id, node.timestamp, node.order);
        let idx = match self.free.pop() {
            Some(i) => {
                if let Some(slot) = self.nodes.get_mut(i as usize) {
                    *slot = Some(node);
                }
                i
            }
            None => {
                self.nodes.push(Some(node));
                u32::try_from(self.nodes.len().saturating_sub(1)).unwrap_or(u32::MAX)
            }
        };
        self.index.insert(id, idx);
        self.by_time.insert((ts, order, idx));
        self.dirty.push(id);
        idx
    }

    /// Marks a genesis root (held forever, approvable at any age).
    pub(crate) fn add_root(&mut self, i: NodeIdx) {
        if !self.roots.contains(&i) {
            self.roots.push(i);
        }
    }

    pub(crate) fn add_tip(&mut self, i: NodeIdx) {
        let Some(order) = self
            .node(i)
            .and_then(|n| (!n.tip && n.status != TxStatus::Conflicting).then_some(n.order))
        else {
            return;
        };
        if let Some(n) = self.node_mut(i) {
            n.tip = true;
        }
        let at = self.tips.partition_point(|&(o, _)| o < order);
        self.tips.insert(at, (order, i));
    }

    pub(crate) fn remove_tip(&mut self, i: NodeIdx) {
        let Some(order) = self.node(i).and_then(|n| n.tip.then_some(n.order)) else {
            return;
        };
        if let Some(n) = self.node_mut(i) {
            n.tip = false;
        }
        if let Ok(at) = self.tips.binary_search_by_key(&order, |&(o, _)| o) {
            self.tips.remove(at);
        }
    }

    /// A fresh visit generation for depth-first walks (no per-walk allocation of a set).
    pub(crate) fn next_generation(&mut self) -> u32 {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            for n in self.nodes.iter_mut().flatten() {
                n.mark = 0;
            }
            self.generation = 1;
        }
        self.generation
    }

    /// Marks `i` visited in generation `g`; false if it already was (or is absent).
    pub(crate) fn visit(&mut self, i: NodeIdx, g: u32) -> bool {
        match self.slot_mut(i) {
            Some(n) if n.mark != g => {
                n.mark = g;
                true
            }
            _ => false,
        }
    }

    /// Adds `new`'s own weight to every pending node in its past cone and returns those that
    /// crossed `threshold`, in topological order, with the number of nodes visited.
    pub(crate) fn propagate_weight(&mut self, new: NodeIdx, threshold: u64) -> (Vec<NodeIdx>, u64) {
        let Some((w, parents)) = self.node(new).map(|n| (n.own_weight, n.parents.clone())) else {
            return (Vec::new(), 0);
        };
        let mut visits = 0u64;
        let g = self.next_generation();
        let mut stack: Vec<NodeIdx> = parents.iter().copied().collect();
        let mut crossed = Vec::new();
        while let Some(i) = stack.pop() {
            if !self.visit(i, g) {
                continue;
            }
            visits += 1;
            if self.node(i).is_none_or(|n| n.status != TxStatus::Pending) {
                continue;
            }
            let Some(n) = self.node_mut(i) else { continue };
            let before = n.weight;
            n.weight = n.weight.saturating_add(w);
            if before < threshold && n.weight >= threshold {
                crossed.push((n.order, i));
            }
            stack.extend(n.parents.iter().copied());
        }
        crossed.sort_unstable();
        (crossed.into_iter().map(|(_, i)| i).collect(), visits)
    }

    /// Marks `start` and its whole future cone conflicting (final nodes excepted) and returns
    /// the nodes whose status changed, each with its previous status.
    pub(crate) fn mark_conflicting_cone(&mut self, start: NodeIdx) -> Vec<(NodeIdx, TxStatus)> {
        let g = self.next_generation();
        let mut stack = alloc::vec![start];
        let mut changed = Vec::new();
        while let Some(i) = stack.pop() {
            if !self.visit(i, g) {
                continue;
            }
            if self
                .node(i)
                .is_none_or(|n| matches!(n.status, TxStatus::Conflicting | TxStatus::Final))
            {
                continue;
            }
            let Some(n) = self.node_mut(i) else { continue };
            let was = n.status;
            n.status = TxStatus::Conflicting;
            let parents = n.parents.clone();
            stack.extend(n.approvers.iter().copied());
            changed.push((i, was));
            self.remove_tip(i);
            if self.latest == Some(i) {
                self.latest = None;
            }
            for p in parents {
                let mut orphaned = false;
                if let Some(pn) = self.slot_mut(p) {
                    pn.live_approvers = pn.live_approvers.saturating_sub(1);
                    orphaned = pn.live_approvers == 0 && pn.status != TxStatus::Conflicting;
                }
                if orphaned {
                    self.add_tip(p);
                }
            }
        }
        changed
    }

    /// Recomputes live-approver counts and the tip set from scratch (after an anchor overrode
    /// local conflict decisions; rare, O(graph)).
    pub(crate) fn rebuild_tips(&mut self) {
        let idxs: Vec<NodeIdx> = self.iter_nodes().map(|(i, _)| i).collect();
        for &i in &idxs {
            if let Some(n) = self.slot_mut(i) {
                n.live_approvers = 0;
            }
        }
        for &i in &idxs {
            let (live, parents) = match self.node(i) {
                Some(n) => (n.status != TxStatus::Conflicting, n.parents.clone()),
                None => continue,
            };
            if live {
                for p in parents {
                    if let Some(pn) = self.slot_mut(p) {
                        pn.live_approvers = pn.live_approvers.saturating_add(1);
                    }
                }
            }
        }
        let mut by_order: Vec<(u64, NodeIdx)> = idxs
            .iter()
            .filter_map(|&i| self.node(i).map(|n| (n.order, i)))
            .collect();
        by_order.sort_unstable();
        self.latest = None;
        for (_, i) in by_order {
            let (live, free) = match self.node(i) {
                Some(n) => (n.status != TxStatus::Conflicting, n.live_approvers == 0),
                None => continue,
            };
            if live && free {
                self.add_tip(i);
            } else {
                self.remove_tip(i);
            }
            if live {
                self.latest = Some(i);
            }
        }
    }

    /// Removes a node (pruning), unlinking it from parents and approvers.
    pub(crate) fn remove(&mut self, i: NodeIdx) -> Option<Node> {
        self.remove_tip(i);
        let node = self.nodes.get_mut(i as usize).and_then(Option::take)?;
        self.dirty.push(node.id);
        self.index.remove(&node.id);
        self.by_time.remove(&(node.timestamp, node.order, i));
        self.entry_points.retain(|&e| e != i);
        if self.latest == Some(i) {
            self.latest = None;
        }
        let live = node.status != TxStatus::Conflicting;
        for &p in &node.parents {
            let mut orphaned = false;
            if let Some(pn) = self.slot_mut(p) {
                pn.approvers.retain(|&a| a != i);
                if live {
                    pn.live_approvers = pn.live_approvers.saturating_sub(1);
                    orphaned = pn.live_approvers == 0 && pn.status != TxStatus::Conflicting;
                }
            }
            if orphaned {
                self.add_tip(p);
            }
        }
        for &a in &node.approvers {
            if let Some(an) = self.slot_mut(a) {
                an.parents.retain(|p| *p != i);
            }
        }
        self.free.push(i);
        Some(node)
    }

    // ---- restore --------------------------------------------------------------------------

    /// Re-inserts a stored node (restore): `node.order`, status, weights and tip flag come
    /// from the store; `parents` are the held parents attached before it. Nodes must come in
    /// attach order. Nothing is marked dirty (it is already stored).
    pub(crate) fn restore_node(&mut self, mut node: Node, parents: &[NodeIdx]) -> NodeIdx {
        node.parents = parents.iter().copied().take(MAX_PARENTS).collect();
        let live = node.status != TxStatus::Conflicting;
        let tip = core::mem::replace(&mut node.tip, false);
        let order = node.order;
        let idx = self.place(node);
        for &p in parents {
            if let Some(pn) = self.slot_mut(p) {
                pn.approvers.push(idx);
                if live {
                    pn.live_approvers = pn.live_approvers.saturating_add(1);
                }
            }
        }
        if tip {
            if let Some(n) = self.slot_mut(idx) {
                n.tip = true;
            }
            self.tips.push((order, idx));
        }
        self.next_order = self.next_order.max(order.saturating_add(1));
        idx
    }

    /// Finishes a restore: attach counter, latest node, entry points; clears the dirty list.
    pub(crate) fn finish_restore(&mut self, next_order: u64, latest: Option<TxId>, entry: &[TxId]) {
        self.next_order = self.next_order.max(next_order);
        self.latest = latest.and_then(|id| self.lookup(&id));
        self.set_entry_points(entry);
        self.tips.sort_unstable();
        self.dirty.clear();
    }
}
