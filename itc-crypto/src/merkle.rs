//! Binary Merkle trees with inclusion proofs, shaped as in RFC 6962 / RFC 9162.
//!
//! * Leaves and inner nodes are hashed under different domain tags ([`LEAF_TAG`],
//!   [`NODE_TAG`]), so an inner node can never be passed off as a leaf (second-preimage).
//! * A level with an odd number of nodes **promotes** its last node unchanged instead of
//!   duplicating it. Bitcoin's duplication made `[a, b, c]` and `[a, b, c, c]` share a root
//!   (CVE-2012-2459); here every leaf list has its own root. The shape equals RFC 6962's
//!   "split at the largest power of two", so the RFC 9162 verification algorithm applies.
//! * The root commits to the leaf count (`root = H(ROOT_TAG, count ‖ tree)`), so a proof's
//!   claimed `(index, count)` is authenticated by the root: a proof cannot be re-labelled as
//!   "leaf 3 of 6" when it was made for "leaf 3 of 5".
//! * An [`InclusionProof`] names the leaf index and the leaf count; its path length is fully
//!   determined by them, so a proof has exactly one valid encoding, decoded without an
//!   allocator and bounded by [`MAX_PROOF_DEPTH`].
//!
//! ```
//! use itc_crypto::merkle::{leaf_hash, MerkleTree};
//! let leaves: Vec<&[u8]> = vec![b"tx0", b"tx1", b"tx2"];
//! let tree = MerkleTree::from_leaves(&leaves);
//! let proof = tree.prove(2).unwrap();
//! assert!(proof.verify(&tree.root(), &leaf_hash(b"tx2")).is_ok());
//! assert!(proof.verify(&tree.root(), &leaf_hash(b"tx1")).is_err());
//! ```

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

use crate::encoding::{write_varint, Decode, DecodeError, Encode, Reader, Writer};
use crate::hash::{tagged_hash, DomainTag, Hash, TaggedHasher};

/// Tag for leaf hashes.
pub const LEAF_TAG: DomainTag = DomainTag::new(b"itc/merkle/leaf/v1");
/// Tag for inner-node hashes.
pub const NODE_TAG: DomainTag = DomainTag::new(b"itc/merkle/node/v1");
/// Tag for the root, which binds the tree to its leaf count.
pub const ROOT_TAG: DomainTag = DomainTag::new(b"itc/merkle/root/v1");
/// Longest path a proof may carry: trees of up to 2^48 leaves.
pub const MAX_PROOF_DEPTH: usize = 48;

/// Why an inclusion proof was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// The leaf index is not below the leaf count.
    #[error("leaf index {index} out of range for {count} leaves")]
    IndexOutOfRange {
        /// Claimed index.
        index: u64,
        /// Claimed leaf count.
        count: u64,
    },
    /// The path does not have the length the index and count imply.
    #[error("proof path has {found} hashes, expected {expected}")]
    WrongPathLength {
        /// Length implied by index and count.
        expected: usize,
        /// Length present.
        found: usize,
    },
    /// The recomputed root differs from the trusted root.
    #[error("recomputed root does not match")]
    RootMismatch,
}

/// Hash of one leaf's bytes.
pub fn leaf_hash(data: &[u8]) -> Hash {
    tagged_hash(LEAF_TAG, data)
}

/// Hash of an inner node from its two children.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = TaggedHasher::new(NODE_TAG);
    h.update(&left.0).update(&right.0);
    h.finalize()
}

/// Root of the empty tree.
pub fn empty_root() -> Hash {
    finalize_root(0, &Hash::ZERO)
}

/// Binds the top node of the tree to the number of leaves.
fn finalize_root(count: u64, top: &Hash) -> Hash {
    let mut h = TaggedHasher::new(ROOT_TAG);
    h.update(&count.to_be_bytes()).update(&top.0);
    h.finalize()
}

/// Root over already-hashed leaves, without allocating (recursion depth ≤ log₂ n).
pub fn merkle_root_of_hashes(leaves: &[Hash]) -> Hash {
    finalize_root(leaves.len() as u64, &top_of_hashes(leaves))
}

/// Root over raw leaves (each hashed with [`leaf_hash`]), without allocating.
pub fn merkle_root<T: AsRef<[u8]>>(leaves: &[T]) -> Hash {
    finalize_root(leaves.len() as u64, &top_of_leaves(leaves))
}

fn top_of_hashes(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => Hash::ZERO,
        [one] => *one,
        _ => {
            let (l, r) = leaves.split_at(split_point(leaves.len()));
            node_hash(&top_of_hashes(l), &top_of_hashes(r))
        }
    }
}

fn top_of_leaves<T: AsRef<[u8]>>(leaves: &[T]) -> Hash {
    match leaves {
        [] => Hash::ZERO,
        [one] => leaf_hash(one.as_ref()),
        _ => {
            let (l, r) = leaves.split_at(split_point(leaves.len()));
            node_hash(&top_of_leaves(l), &top_of_leaves(r))
        }
    }
}

/// Largest power of two strictly below `n` (n ≥ 2).
fn split_point(n: usize) -> usize {
    let p = n.next_power_of_two();
    if p == n {
        n / 2
    } else {
        p / 2
    }
}

/// Number of path hashes for leaf `index` in a tree of `count` leaves.
pub fn path_len(index: u64, count: u64) -> Result<usize, MerkleError> {
    if index >= count {
        return Err(MerkleError::IndexOutOfRange { index, count });
    }
    let (mut i, mut last, mut len) = (index, count - 1, 0usize);
    while last > 0 {
        if i % 2 == 1 || i < last {
            len += 1;
        }
        i /= 2;
        last /= 2;
    }
    Ok(len)
}

/// Proof that a leaf sits at `leaf_index` in a tree of `leaf_count` leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// Position of the leaf.
    pub leaf_index: u64,
    /// Number of leaves in the tree.
    pub leaf_count: u64,
    /// Sibling hashes from the leaf level up.
    pub path: heapless::Vec<Hash, MAX_PROOF_DEPTH>,
}

impl InclusionProof {
    /// Recomputes the root from `leaf` (a [`leaf_hash`]) and the path (RFC 9162 §2.1.3.2).
    pub fn compute_root(&self, leaf: &Hash) -> Result<Hash, MerkleError> {
        let expected = path_len(self.leaf_index, self.leaf_count)?;
        if expected != self.path.len() {
            return Err(MerkleError::WrongPathLength {
                expected,
                found: self.path.len(),
            });
        }
        let (mut i, mut last) = (self.leaf_index, self.leaf_count - 1);
        let mut acc = *leaf;
        for sibling in &self.path {
            // Skip levels where this node is the promoted odd last node.
            while i % 2 == 0 && i == last {
                i /= 2;
                last /= 2;
            }
            if i % 2 == 1 {
                acc = node_hash(sibling, &acc);
            } else {
                acc = node_hash(&acc, sibling);
            }
            i /= 2;
            last /= 2;
        }
        Ok(finalize_root(self.leaf_count, &acc))
    }

    /// Checks the proof against a trusted root.
    pub fn verify(&self, root: &Hash, leaf: &Hash) -> Result<(), MerkleError> {
        if self.compute_root(leaf)? == *root {
            Ok(())
        } else {
            Err(MerkleError::RootMismatch)
        }
    }
}

impl Encode for InclusionProof {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        write_varint(w, self.leaf_index);
        write_varint(w, self.leaf_count);
        // The path length is implied by (index, count) and therefore not encoded.
        for h in &self.path {
            h.encode(w);
        }
    }
}

impl Decode for InclusionProof {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let leaf_index = r.read_varint()?;
        let leaf_count = r.read_varint()?;
        let n = path_len(leaf_index, leaf_count).map_err(|_| DecodeError::NonCanonical {
            type_name: "InclusionProof",
        })?;
        if n > MAX_PROOF_DEPTH {
            return Err(DecodeError::LengthOverLimit {
                len: n as u64,
                max: MAX_PROOF_DEPTH as u64,
            });
        }
        let mut path = heapless::Vec::new();
        for _ in 0..n {
            path.push(Hash::decode(r)?)
                .map_err(|_| DecodeError::LengthOverLimit {
                    len: n as u64,
                    max: MAX_PROOF_DEPTH as u64,
                })?;
        }
        Ok(InclusionProof {
            leaf_index,
            leaf_count,
            path,
        })
    }
}

/// A Merkle tree that keeps every level, so proofs cost O(log n).
#[cfg(feature = "alloc")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleTree {
    /// `levels[0]` are the leaf hashes; the last level holds the root.
    levels: Vec<Vec<Hash>>,
}

#[cfg(feature = "alloc")]
impl MerkleTree {
    /// Builds a tree over raw leaves.
    pub fn from_leaves<T: AsRef<[u8]>>(leaves: &[T]) -> Self {
        Self::from_leaf_hashes(leaves.iter().map(|l| leaf_hash(l.as_ref())).collect())
    }

    /// Builds a tree over leaf hashes.
    pub fn from_leaf_hashes(leaves: Vec<Hash>) -> Self {
        let mut levels = Vec::new();
        let mut cur = leaves;
        while cur.len() > 1 {
            let next: Vec<Hash> = cur
                .chunks(2)
                .map(|pair| match pair {
                    [l, r] => node_hash(l, r),
                    [odd] => *odd,
                    _ => Hash::ZERO, // chunks(2) yields 1 or 2 items
                })
                .collect();
            levels.push(cur);
            cur = next;
        }
        levels.push(cur);
        MerkleTree { levels }
    }

    /// Number of leaves.
    pub fn len(&self) -> usize {
        self.levels.first().map_or(0, Vec::len)
    }

    /// True for the empty tree.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The root ([`empty_root`] for no leaves).
    pub fn root(&self) -> Hash {
        match self.levels.last().map(Vec::as_slice) {
            Some([top]) => finalize_root(self.len() as u64, top),
            _ => empty_root(),
        }
    }

    /// Inclusion proof for leaf `index`, or `None` if out of range.
    pub fn prove(&self, index: usize) -> Option<InclusionProof> {
        let count = self.len();
        if index >= count {
            return None;
        }
        let mut path = heapless::Vec::new();
        let mut i = index;
        for level in self.levels.iter().take(self.levels.len().saturating_sub(1)) {
            let sibling = i ^ 1;
            if let Some(h) = level.get(sibling) {
                path.push(*h).ok()?;
            }
            i /= 2;
        }
        Some(InclusionProof {
            leaf_index: index as u64,
            leaf_count: count as u64,
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    fn leaves(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| (i as u32).to_be_bytes().to_vec()).collect()
    }

    #[test]
    fn no_duplicate_last_leaf_collision() {
        let three = leaves(3);
        let mut four = three.clone();
        four.push(three[2].clone());
        assert_ne!(merkle_root(&three), merkle_root(&four));
    }

    #[test]
    fn leaf_and_node_domains_differ() {
        let a = leaf_hash(b"a");
        let b = leaf_hash(b"b");
        let mut inner = vec![];
        inner.extend_from_slice(&a.0);
        inner.extend_from_slice(&b.0);
        assert_ne!(leaf_hash(&inner), node_hash(&a, &b));
    }

    #[test]
    fn empty_and_single() {
        let none: [&[u8]; 0] = [];
        assert_eq!(merkle_root(&none), empty_root());
        assert_eq!(MerkleTree::from_leaves(&none).root(), empty_root());
        assert_ne!(merkle_root(&[b"x"]), leaf_hash(b"x"));
        let t = MerkleTree::from_leaves(&[b"x"]);
        let p = t.prove(0).unwrap();
        assert!(p.path.is_empty());
        assert!(p.verify(&t.root(), &leaf_hash(b"x")).is_ok());
    }

    #[test]
    fn wrong_lengths_and_indices_are_typed_errors() {
        let t = MerkleTree::from_leaves(&leaves(5));
        let mut p = t.prove(1).unwrap();
        p.path.pop();
        assert!(matches!(
            p.verify(&t.root(), &leaf_hash(&leaves(5)[1])),
            Err(MerkleError::WrongPathLength { .. })
        ));
        let mut p = t.prove(1).unwrap();
        p.leaf_index = 9;
        assert!(matches!(
            p.verify(&t.root(), &leaf_hash(&leaves(5)[1])),
            Err(MerkleError::IndexOutOfRange { .. })
        ));
        // Decoding: index >= count is non-canonical; huge counts exceed the depth bound.
        let mut buf = Vec::new();
        write_varint(&mut buf, 5);
        write_varint(&mut buf, 5);
        assert!(InclusionProof::decode_bytes(&buf).is_err());
        let mut buf = Vec::new();
        write_varint(&mut buf, 0);
        write_varint(&mut buf, u64::MAX);
        assert!(matches!(
            InclusionProof::decode_bytes(&buf),
            Err(DecodeError::LengthOverLimit { .. })
        ));
    }

    proptest! {
        #[test]
        fn every_leaf_proves_and_encodes(n in 1usize..70, pick in any::<prop::sample::Index>()) {
            let ls = leaves(n);
            let t = MerkleTree::from_leaves(&ls);
            prop_assert_eq!(t.root(), merkle_root(&ls));
            let hashes: Vec<Hash> = ls.iter().map(|l| leaf_hash(l)).collect();
            prop_assert_eq!(t.root(), merkle_root_of_hashes(&hashes));
            let i = pick.index(n);
            let p = t.prove(i).unwrap();
            prop_assert_eq!(p.path.len(), path_len(i as u64, n as u64).unwrap());
            prop_assert!(p.verify(&t.root(), &hashes[i]).is_ok());
            let bytes = p.encode_to_vec();
            let q = InclusionProof::decode_bytes(&bytes).unwrap();
            prop_assert_eq!(&q, &p);
            // Any single bit flip in the encoding is rejected (decode error or bad verify).
            for bit in 0..bytes.len() * 8 {
                let mut b = bytes.clone();
                b[bit / 8] ^= 1 << (bit % 8);
                let ok = InclusionProof::decode_bytes(&b)
                    .map(|q| q.verify(&t.root(), &hashes[i]).is_ok())
                    .unwrap_or(false);
                prop_assert!(!ok, "bit {} accepted", bit);
            }
            // The proof does not verify another leaf.
            if n > 1 {
                let j = (i + 1) % n;
                prop_assert!(p.verify(&t.root(), &hashes[j]).is_err());
            }
        }
    }
}
