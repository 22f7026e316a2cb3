//! The header accumulator of a full node, with its nodes in the [`BlockStore`].
//!
//! The light client's accumulator (`itc_spv::mmr`) is a Merkle Mountain Range of header
//! hashes: leaf `i` is the header at height `i`. A full node proves any old header against any
//! size a client reached, so it needs every node — but not in RAM. Here only the peaks stay in
//! memory (≤ 64 hashes); each append returns the nodes it completed, which go into the step's
//! [`crate::StepWrites`], and proofs read the (immutable) nodes back from the store.

use alloc::vec::Vec;

use itc_crypto::Hash;
use itc_spv::mmr::{mmr_node, Mmr, MmrError, MmrProof, MAX_MMR_PATH, MAX_PEAKS};

use crate::store::{BlockStore, HistoryNodeId};

/// Where leaf `index` lives in an accumulator of `leaf_count` leaves: the mountain's height and
/// the first leaf it covers. Mountains are the set bits of `leaf_count`, tallest first.
fn locate(index: u64, leaf_count: u64) -> Option<(u8, u64)> {
    if index >= leaf_count {
        return None;
    }
    let mut start: u64 = 0;
    for height in (0..64u8).rev() {
        let size = 1u64 << height;
        if leaf_count & size == 0 {
            continue;
        }
        let end = start.checked_add(size)?;
        if index < end {
            return Some((height, start));
        }
        start = end;
    }
    None
}

/// The peaks of the accumulator over the headers accepted so far.
#[derive(Debug, Clone, Default)]
pub(crate) struct Accumulator {
    mmr: Mmr,
}

impl Accumulator {
    /// The empty accumulator.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Number of leaves (the next height to append).
    pub(crate) fn leaf_count(&self) -> u64 {
        self.mmr.leaf_count()
    }

    /// The peaks-only accumulator (what a checkpoint ships).
    pub(crate) fn mmr(&self) -> &Mmr {
        &self.mmr
    }

    /// Appends a leaf; returns every node it completed (the leaf first, then each parent it
    /// closed), to be stored. Nothing changes on error.
    pub(crate) fn append(&mut self, leaf: Hash) -> Result<Vec<(HistoryNodeId, Hash)>, MmrError> {
        let n = self.leaf_count();
        let mut peaks: heapless::Vec<Hash, MAX_PEAKS> =
            heapless::Vec::from_slice(self.mmr.peaks()).map_err(|()| MmrError::CounterOverflow)?;
        let mut next = self.mmr.clone();
        next.append(leaf)?;
        let mut out = Vec::with_capacity(8);
        out.push((HistoryNodeId { level: 0, index: n }, leaf));
        let (mut node, mut level, mut index) = (leaf, 0u8, n);
        // Each trailing one bit of `n` is a complete mountain to the left that this leaf's
        // mountain now merges with: its peak is the left child.
        while index & 1 == 1 {
            let Some(left) = peaks.pop() else { break };
            node = mmr_node(&left, &node);
            level = level.saturating_add(1);
            index >>= 1;
            out.push((HistoryNodeId { level, index }, node));
        }
        debug_assert_eq!(next.peaks().last(), Some(&node));
        self.mmr = next;
        Ok(out)
    }

    /// Rebuilds the peaks over the first `leaf_count` leaves from stored nodes (`None` if a
    /// node is missing from the store).
    pub(crate) fn from_store<S: BlockStore>(
        store: &S,
        leaf_count: u64,
    ) -> Result<Option<Self>, S::Error> {
        Ok(accumulator_at(store, leaf_count)?.map(|mmr| Accumulator { mmr }))
    }
}

/// The peaks-only accumulator of the first `leaf_count` leaves, from stored nodes.
pub(crate) fn accumulator_at<S: BlockStore>(
    store: &S,
    leaf_count: u64,
) -> Result<Option<Mmr>, S::Error> {
    let mut peaks: heapless::Vec<Hash, MAX_PEAKS> = heapless::Vec::new();
    let mut start: u64 = 0;
    for height in (0..64u8).rev() {
        let size = 1u64 << height;
        if leaf_count & size == 0 {
            continue;
        }
        let id = HistoryNodeId {
            level: height,
            index: start >> height,
        };
        let Some(peak) = store.history_node(id)? else {
            return Ok(None);
        };
        if peaks.push(peak).is_err() {
            return Ok(None);
        }
        start = start.saturating_add(size);
    }
    Ok(Mmr::from_parts(leaf_count, &peaks).ok())
}

/// Proof of leaf `index` against the accumulator of the first `leaf_count` leaves, from stored
/// nodes (`None` if out of range or a node is missing).
pub(crate) fn prove<S: BlockStore>(
    store: &S,
    index: u64,
    leaf_count: u64,
) -> Result<Option<MmrProof>, S::Error> {
    let Some((height, _start)) = locate(index, leaf_count) else {
        return Ok(None);
    };
    let mut path: heapless::Vec<Hash, MAX_MMR_PATH> = heapless::Vec::new();
    for level in 0..height {
        let id = HistoryNodeId {
            level,
            index: (index >> level) ^ 1,
        };
        let Some(sibling) = store.history_node(id)? else {
            return Ok(None);
        };
        if path.push(sibling).is_err() {
            return Ok(None);
        }
    }
    Ok(Some(MmrProof {
        leaf_index: index,
        leaf_count,
        path,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MemoryStore, StepWrites, Store};
    use itc_spv::mmr::{header_leaf, MmrStore};

    #[test]
    fn stored_nodes_prove_like_the_light_clients_reference() {
        let mut acc = Accumulator::new();
        let mut store = MemoryStore::new();
        let mut reference = MmrStore::new();
        for i in 0..300u64 {
            let leaf = header_leaf(i, &Hash([(i % 251) as u8; 32]));
            let mut w = StepWrites::new();
            w.extend_history_nodes(acc.append(leaf).unwrap());
            store.commit(w).unwrap();
            reference.append(leaf).unwrap();
            assert_eq!(acc.mmr(), &reference.accumulator_at(i + 1).unwrap());
        }
        for size in [1u64, 2, 3, 7, 64, 65, 200, 300] {
            let at = accumulator_at(&store, size).unwrap().unwrap();
            assert_eq!(at, reference.accumulator_at(size).unwrap());
            for index in [0, size / 2, size - 1] {
                let p = prove(&store, index, size).unwrap().unwrap();
                assert_eq!(p, reference.prove(index, size).unwrap());
                let leaf = header_leaf(index, &Hash([(index % 251) as u8; 32]));
                assert!(at.verify(&p, &leaf).is_ok());
            }
        }
        assert_eq!(prove(&store, 300, 300).unwrap(), None);
        let restored = Accumulator::from_store(&store, 300).unwrap().unwrap();
        assert_eq!(restored.mmr(), acc.mmr());
    }
}
