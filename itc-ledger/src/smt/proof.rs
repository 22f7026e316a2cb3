//! Compact sparse-Merkle proofs, verifiable with no allocator.
//!
//! A [`StateProof`] walks from the root towards the slot a key's 256-bit hash selects and says
//! how the walk ended ([`PathEnd`]): in the queried key's own leaf (inclusion), in an empty
//! subtree, or in *another* key's leaf that occupies the prefix (both non-inclusion). Siblings
//! that are the empty constant are elided behind a bitmap, so at a million keys a proof carries
//! about twenty hashes, not 256.

use itc_crypto::encoding::{write_varint, Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::{Blame, Hash};

use super::hashing::{branch_hash, key_bit, key_hash, leaf_hash, value_hash, EMPTY_SUBTREE};

/// Deepest level a path can reach: one level per bit of the key hash.
pub const MAX_DEPTH: usize = 256;

/// Most non-empty siblings a proof may carry.
///
/// Honest paths hold about log₂(n) of them (≈ 20 at a million keys; a random trie's deepest
/// path at 2³² keys is still well under 64). Exceeding 64 needs keys whose hashes share a
/// 64-bit prefix with the victim's — about 2⁶⁴ hash evaluations of grinding — and only makes
/// that one key unprovable, never changes a root. The bound keeps a decoded proof at ~2 KiB,
/// which a Cortex-M4 can hold on its stack.
pub const MAX_PROOF_SIBLINGS: usize = 64;

const BITMAP_BYTES: usize = MAX_DEPTH / 8;

/// Why a state proof does not show what the caller claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StateProofError {
    /// The caller claimed a value, but the proof ends in an empty slot or another key's leaf.
    #[error("proof shows the key is absent")]
    ProofShowsAbsent,
    /// The caller claimed absence, but the proof ends in the key's own leaf.
    #[error("proof shows the key is present")]
    ProofShowsPresent,
    /// A non-inclusion proof names a leaf for the very key queried.
    #[error("the other leaf is the queried key")]
    OtherLeafIsQueriedKey,
    /// A non-inclusion proof names a leaf that does not share the path's prefix.
    #[error("the other leaf does not lie on the queried key's path")]
    LeafOffPath,
    /// The proof recomputes to a different root.
    #[error("recomputed root does not match")]
    RootMismatch,
    /// The path has more non-empty siblings than [`MAX_PROOF_SIBLINGS`] (proof generation).
    #[error("path has more than {MAX_PROOF_SIBLINGS} non-empty siblings")]
    TooManySiblings,
}

impl StateProofError {
    /// Who must act: a proof that does not show the claim came from a faulty or lying prover
    /// ([`Blame::Peer`]); a path too long to prove is a ground key nobody here can be blamed
    /// for ([`Blame::Ignorable`]: the entry is simply unprovable).
    pub fn blame(&self) -> Blame {
        match self {
            StateProofError::TooManySiblings => Blame::Ignorable,
            StateProofError::ProofShowsAbsent
            | StateProofError::ProofShowsPresent
            | StateProofError::OtherLeafIsQueriedKey
            | StateProofError::LeafOffPath
            | StateProofError::RootMismatch => Blame::Peer,
        }
    }
}

/// How the walk down a key's path ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathEnd {
    /// An empty subtree: the key is absent.
    Empty,
    /// The queried key's own leaf: the key is present (its value is given to `verify`).
    Queried,
    /// Another key's leaf holds the whole subtree on the path: the key is absent.
    Other {
        /// Hash of the key that occupies the slot.
        key_hash: Hash,
        /// Hash of that key's value.
        value_hash: Hash,
    },
}

/// A compact inclusion or non-inclusion proof against a sparse-Merkle root.
///
/// Canonically encoded as `depth (varint ≤ 256) ‖ bitmap (⌈depth/8⌉ bytes, MSB first, unused
/// bits zero) ‖ non-empty siblings, root side first ‖ end tag (0 empty, 1 queried, 2 other)
/// [‖ key hash ‖ value hash]`. An explicit all-zero sibling is rejected: it must be elided.
///
/// ```
/// use itc_ledger::smt::{PathEnd, SparseMerkleTree};
/// let mut tree = SparseMerkleTree::new();
/// tree.insert(b"lamp-1", b"owner: alice");
/// tree.insert(b"lamp-2", b"owner: bob");
/// let root = tree.root();
///
/// let present = tree.prove(b"lamp-1").unwrap();
/// assert!(present.verify(&root, b"lamp-1", Some(b"owner: alice")).is_ok());
/// assert!(present.verify(&root, b"lamp-1", Some(b"owner: mallory")).is_err());
///
/// let absent = tree.prove(b"lamp-3").unwrap();
/// assert_ne!(absent.end(), PathEnd::Queried);
/// assert!(absent.verify(&root, b"lamp-3", None).is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateProof {
    depth: u16,
    bitmap: [u8; BITMAP_BYTES],
    siblings: heapless::Vec<Hash, MAX_PROOF_SIBLINGS>,
    end: PathEnd,
}

impl StateProof {
    /// A proof for the empty tree (root [`EMPTY_SUBTREE`]): every key is absent.
    pub const fn empty_tree() -> Self {
        StateProof {
            depth: 0,
            bitmap: [0u8; BITMAP_BYTES],
            siblings: heapless::Vec::new(),
            end: PathEnd::Empty,
        }
    }

    /// Builds a proof from the siblings along the path, root side first (empty subtrees as
    /// [`EMPTY_SUBTREE`]), and how the path ended.
    pub fn from_path<I>(siblings: I, end: PathEnd) -> Result<Self, StateProofError>
    where
        I: IntoIterator<Item = Hash>,
    {
        let mut proof = StateProof::empty_tree();
        proof.end = end;
        for (level, sibling) in siblings.into_iter().enumerate() {
            if level >= MAX_DEPTH {
                return Err(StateProofError::TooManySiblings);
            }
            if sibling != EMPTY_SUBTREE {
                proof
                    .siblings
                    .push(sibling)
                    .map_err(|_| StateProofError::TooManySiblings)?;
                if let Some(byte) = proof.bitmap.get_mut(level / 8) {
                    *byte |= 0x80 >> (level % 8);
                }
            }
            proof.depth = proof.depth.saturating_add(1);
        }
        Ok(proof)
    }

    /// Number of levels the path descends (siblings including elided empty ones).
    pub fn depth(&self) -> usize {
        usize::from(self.depth)
    }

    /// How the path ended.
    pub fn end(&self) -> PathEnd {
        self.end
    }

    /// True for an inclusion proof.
    pub fn is_inclusion(&self) -> bool {
        self.end == PathEnd::Queried
    }

    /// The sibling at `level` (0 = child of the root), with empty subtrees as [`EMPTY_SUBTREE`].
    pub fn sibling(&self, level: usize) -> Option<Hash> {
        if level >= self.depth() {
            return None;
        }
        if !self.bit_set(level) {
            return Some(EMPTY_SUBTREE);
        }
        let rank = self.rank(level);
        self.siblings.get(rank).copied()
    }

    fn bit_set(&self, level: usize) -> bool {
        self.bitmap
            .get(level / 8)
            .is_some_and(|b| b & (0x80 >> (level % 8)) != 0)
    }

    /// Number of non-empty siblings above `level`.
    fn rank(&self, level: usize) -> usize {
        let full = level / 8;
        let mut n: usize = self
            .bitmap
            .get(..full)
            .unwrap_or_default()
            .iter()
            .map(|b| b.count_ones() as usize)
            .sum();
        if let Some(b) = self.bitmap.get(full) {
            let mask = !(0xffu8 >> (level % 8));
            n = n.saturating_add((b & mask).count_ones() as usize);
        }
        n
    }

    /// Recomputes the root this proof commits to for `key_hash` holding `value_hash`
    /// (`None` = absent). Fails if the proof's ending contradicts the claim.
    pub fn compute_root(
        &self,
        key_hash: &Hash,
        value_hash: Option<&Hash>,
    ) -> Result<Hash, StateProofError> {
        let depth = self.depth();
        let mut node = match (&self.end, value_hash) {
            (PathEnd::Queried, Some(v)) => leaf_hash(key_hash, v),
            (PathEnd::Queried, None) => return Err(StateProofError::ProofShowsPresent),
            (_, Some(_)) => return Err(StateProofError::ProofShowsAbsent),
            (PathEnd::Empty, None) => EMPTY_SUBTREE,
            (
                PathEnd::Other {
                    key_hash: other,
                    value_hash: v,
                },
                None,
            ) => {
                if other == key_hash {
                    return Err(StateProofError::OtherLeafIsQueriedKey);
                }
                if !shares_prefix(other, key_hash, depth) {
                    return Err(StateProofError::LeafOffPath);
                }
                leaf_hash(other, v)
            }
        };
        // Fold upwards, consuming the non-empty siblings from the deepest.
        let mut next = self.siblings.len();
        for level in (0..depth).rev() {
            let sibling = if self.bit_set(level) {
                next = next.saturating_sub(1);
                self.siblings.get(next).copied().unwrap_or(EMPTY_SUBTREE)
            } else {
                EMPTY_SUBTREE
            };
            node = if key_bit(key_hash, level) {
                branch_hash(&sibling, &node)
            } else {
                branch_hash(&node, &sibling)
            };
        }
        Ok(node)
    }

    /// Checks the proof for pre-hashed key and value against a trusted root.
    pub fn verify_hashed(
        &self,
        root: &Hash,
        key_hash: &Hash,
        value_hash: Option<&Hash>,
    ) -> Result<(), StateProofError> {
        if self.compute_root(key_hash, value_hash)? == *root {
            Ok(())
        } else {
            Err(StateProofError::RootMismatch)
        }
    }

    /// Checks that under `root`, `key` holds `value` (`Some`) or is absent (`None`).
    pub fn verify(
        &self,
        root: &Hash,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<(), StateProofError> {
        let vh = value.map(value_hash);
        self.verify_hashed(root, &key_hash(key), vh.as_ref())
    }
}

/// True if the first `bits` bits of `a` and `b` agree.
fn shares_prefix(a: &Hash, b: &Hash, bits: usize) -> bool {
    let full = bits / 8;
    let (Some(pa), Some(pb)) = (a.0.get(..full), b.0.get(..full)) else {
        return false;
    };
    if pa != pb {
        return false;
    }
    let rest = bits % 8;
    if rest == 0 {
        return true;
    }
    let mask = !(0xffu8 >> rest);
    match (a.0.get(full), b.0.get(full)) {
        (Some(x), Some(y)) => x & mask == y & mask,
        _ => false,
    }
}

impl Encode for StateProof {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        write_varint(w, u64::from(self.depth));
        let used = self.depth().div_ceil(8);
        w.write(self.bitmap.get(..used).unwrap_or_default());
        for s in &self.siblings {
            s.encode(w);
        }
        match &self.end {
            PathEnd::Empty => w.write(&[0]),
            PathEnd::Queried => w.write(&[1]),
            PathEnd::Other {
                key_hash,
                value_hash,
            } => {
                w.write(&[2]);
                key_hash.encode(w);
                value_hash.encode(w);
            }
        }
    }
}

impl Decode for StateProof {
    /// Decodes into the value it returns: the 2 KiB of siblings are pushed straight into the
    /// proof, never built beside it and moved (a device decodes this on a small stack).
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        const NAME: &str = "StateProof";
        let depth = r.read_len(MAX_DEPTH)?;
        let mut proof = StateProof::empty_tree();
        proof.depth =
            u16::try_from(depth).map_err(|_| DecodeError::NonCanonical { type_name: NAME })?;
        let used = depth.div_ceil(8);
        for (dst, src) in proof.bitmap.iter_mut().zip(r.read_bytes(used)?) {
            *dst = *src;
        }
        // Bits past `depth` in the last byte must be zero: one encoding per proof.
        if depth % 8 != 0 {
            let last = proof
                .bitmap
                .get(used.saturating_sub(1))
                .copied()
                .unwrap_or(0);
            if last & (0xffu8 >> (depth % 8)) != 0 {
                return Err(DecodeError::NonCanonical { type_name: NAME });
            }
        }
        let count: usize = proof.bitmap.iter().map(|b| b.count_ones() as usize).sum();
        if count > MAX_PROOF_SIBLINGS {
            return Err(DecodeError::LengthOverLimit {
                len: count as u64,
                max: MAX_PROOF_SIBLINGS as u64,
            });
        }
        for _ in 0..count {
            let s = Hash::decode(r)?;
            if s == EMPTY_SUBTREE {
                return Err(DecodeError::NonCanonical { type_name: NAME });
            }
            proof
                .siblings
                .push(s)
                .map_err(|_| DecodeError::NonCanonical { type_name: NAME })?;
        }
        proof.end = match r.read_u8()? {
            0 => PathEnd::Empty,
            1 => PathEnd::Queried,
            2 => PathEnd::Other {
                key_hash: Hash::decode(r)?,
                value_hash: Hash::decode(r)?,
            },
            tag => {
                return Err(DecodeError::UnknownVariant {
                    type_name: "PathEnd",
                    tag: u64::from(tag),
                })
            }
        };
        Ok(proof)
    }
}

#[cfg(test)]
#[cfg(feature = "alloc")]
mod tests {
    use super::*;

    #[test]
    fn prefix_comparison() {
        let a = Hash([0b1010_0000; 32]);
        let mut b = a;
        b.0[1] = 0b1011_0000;
        assert!(shares_prefix(&a, &b, 8));
        assert!(shares_prefix(&a, &b, 11));
        assert!(!shares_prefix(&a, &b, 12));
        assert!(shares_prefix(&a, &a, 256));
        assert!(shares_prefix(&a, &b, 0));
    }

    #[test]
    fn sibling_lookup_matches_from_path() {
        let s = |i: u8| Hash([i; 32]);
        let path = [
            s(1),
            EMPTY_SUBTREE,
            s(3),
            EMPTY_SUBTREE,
            EMPTY_SUBTREE,
            s(6),
            s(7),
            s(8),
            s(9),
        ];
        let p = StateProof::from_path(path, PathEnd::Empty).unwrap();
        assert_eq!(p.depth(), 9);
        for (i, h) in path.iter().enumerate() {
            assert_eq!(p.sibling(i), Some(*h));
        }
        assert_eq!(p.sibling(9), None);
        let bytes = itc_crypto::Encode::encode_to_vec(&p);
        // depth, 2 bitmap bytes, 6 siblings, end tag.
        assert_eq!(bytes.len(), 1 + 2 + 6 * 32 + 1);
        assert_eq!(StateProof::decode_bytes(&bytes).unwrap(), p);
    }

    #[test]
    fn non_canonical_encodings_are_rejected() {
        // depth 1, bitmap with a bit past the depth set.
        assert!(matches!(
            StateProof::decode_bytes(&[1, 0b0100_0000, 0]),
            Err(DecodeError::NonCanonical { .. })
        ));
        // explicit zero sibling.
        let mut bytes = alloc::vec![1u8, 0b1000_0000];
        bytes.extend_from_slice(&[0u8; 32]);
        bytes.push(0);
        assert!(matches!(
            StateProof::decode_bytes(&bytes),
            Err(DecodeError::NonCanonical { .. })
        ));
        // depth above 256.
        assert!(matches!(
            StateProof::decode_bytes(&[0x81, 0x02]),
            Err(DecodeError::LengthOverLimit { .. })
        ));
        // unknown end tag, trailing bytes.
        assert!(matches!(
            StateProof::decode_bytes(&[0, 3]),
            Err(DecodeError::UnknownVariant { .. })
        ));
        assert!(matches!(
            StateProof::decode_bytes(&[0, 0, 0]),
            Err(DecodeError::TrailingBytes { .. })
        ));
        // 72 set bits: over the sibling limit before any sibling is read.
        let mut over = alloc::vec::Vec::new();
        write_varint(&mut over, 72);
        over.extend_from_slice(&[0xff; 9]);
        assert!(matches!(
            StateProof::decode_bytes(&over),
            Err(DecodeError::LengthOverLimit { len: 72, .. })
        ));
    }
}
