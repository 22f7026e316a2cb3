//! The in-memory compact sparse Merkle tree (needs `alloc`).
//!
//! Shaped like Diem/Aptos's Jellyfish tree, binary: a subtree holding one leaf *is* that leaf
//! (at whatever depth it sits), an empty subtree is [`EMPTY_SUBTREE`], and only subtrees with
//! two or more leaves become branches. So a key's path is as long as the prefix it shares with
//! its nearest neighbour (≈ log₂ n), not 256 levels. Branch hashes are cached and an update
//! rehashes only its own path.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::mem;

use itc_crypto::Hash;

use super::hashing::{branch_hash, key_bit, key_hash, leaf_hash, value_hash, EMPTY_SUBTREE};
use super::proof::{PathEnd, ProofError, StateProof, MAX_DEPTH};

#[derive(Clone, Default)]
enum Node {
    #[default]
    Empty,
    Leaf(Box<Leaf>),
    Branch(Box<Branch>),
}

#[derive(Clone)]
struct Leaf {
    key: Hash,
    value: Hash,
}

#[derive(Clone)]
struct Branch {
    hash: Hash,
    left: Node,
    right: Node,
}

impl Node {
    fn hash(&self) -> Hash {
        match self {
            Node::Empty => EMPTY_SUBTREE,
            Node::Leaf(l) => leaf_hash(&l.key, &l.value),
            Node::Branch(b) => b.hash,
        }
    }

    fn branch(left: Node, right: Node) -> Node {
        let hash = branch_hash(&left.hash(), &right.hash());
        Node::Branch(Box::new(Branch { hash, left, right }))
    }
}

/// An authenticated map from 256-bit key hashes to value hashes with a single 32-byte root.
///
/// Keys and values are arbitrary bytes hashed with [`key_hash`] / [`value_hash`]; the tree
/// stores only the hashes (the caller keeps the values), so it is small: about 150 bytes per
/// key, including branches.
///
/// ```
/// use itc_ledger::smt::{SparseMerkleTree, EMPTY_SUBTREE};
/// let mut tree = SparseMerkleTree::new();
/// assert_eq!(tree.root(), EMPTY_SUBTREE);
/// tree.insert(b"balance/alice", &100u64.to_be_bytes());
/// let with_alice = tree.root();
/// tree.insert(b"balance/bob", &5u64.to_be_bytes());
/// tree.remove(b"balance/bob");
/// // The root depends only on the contents, not on the history.
/// assert_eq!(tree.root(), with_alice);
/// ```
#[derive(Clone, Default)]
pub struct SparseMerkleTree {
    root: Node,
    len: usize,
}

impl fmt::Debug for SparseMerkleTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SparseMerkleTree")
            .field("root", &self.root())
            .field("len", &self.len)
            .finish()
    }
}

impl SparseMerkleTree {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a tree from `(key hash, value hash)` pairs in one pass: O(n log n) for the sort,
    /// one hash per node — much faster than n inserts. A repeated key keeps its last value.
    pub fn from_hashed(entries: impl IntoIterator<Item = (Hash, Hash)>) -> Self {
        let mut v: Vec<(Hash, Hash)> = entries.into_iter().collect();
        // Stable sort, then keep the last entry of each run of equal keys.
        v.sort_by_key(|a| a.0);
        let mut unique: Vec<(Hash, Hash)> = Vec::with_capacity(v.len());
        for e in v {
            match unique.last_mut() {
                Some(last) if last.0 == e.0 => *last = e,
                _ => unique.push(e),
            }
        }
        SparseMerkleTree {
            len: unique.len(),
            root: build(&unique, 0),
        }
    }

    /// Builds a tree from raw key and value bytes (see [`SparseMerkleTree::from_hashed`]).
    pub fn from_entries<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self::from_hashed(
            entries
                .into_iter()
                .map(|(k, v)| (key_hash(k.as_ref()), value_hash(v.as_ref()))),
        )
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no key is present.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The root hash ([`EMPTY_SUBTREE`] for the empty tree).
    pub fn root(&self) -> Hash {
        self.root.hash()
    }

    /// Sets `key` to `value`; returns the previous value hash.
    pub fn insert(&mut self, key: &[u8], value: &[u8]) -> Option<Hash> {
        self.insert_hashed(key_hash(key), value_hash(value))
    }

    /// Sets a pre-hashed key to a pre-hashed value; returns the previous value hash.
    pub fn insert_hashed(&mut self, key: Hash, value: Hash) -> Option<Hash> {
        let prev = insert_at(&mut self.root, 0, key, value);
        if prev.is_none() {
            self.len = self.len.saturating_add(1);
        }
        prev
    }

    /// Applies many updates at once — `Some(value)` sets, `None` removes — hashing every
    /// touched node once instead of once per update. For a batch touching k keys this costs
    /// about as many hashes as the touched part of the tree, not k × depth. A key updated
    /// several times keeps its last update.
    ///
    /// ```
    /// use itc_ledger::smt::{key_hash, value_hash, SparseMerkleTree};
    /// let mut one_by_one = SparseMerkleTree::new();
    /// let mut batched = SparseMerkleTree::new();
    /// let updates: Vec<_> = (0u32..100)
    ///     .map(|i| (key_hash(&i.to_be_bytes()), Some(value_hash(b"v"))))
    ///     .collect();
    /// for (k, v) in &updates {
    ///     one_by_one.insert_hashed(*k, v.unwrap());
    /// }
    /// batched.apply_batch(updates);
    /// assert_eq!(batched.root(), one_by_one.root());
    /// ```
    pub fn apply_batch(&mut self, updates: impl IntoIterator<Item = (Hash, Option<Hash>)>) {
        let mut v: Vec<(Hash, Option<Hash>)> = updates.into_iter().collect();
        v.sort_by_key(|u| u.0);
        let mut unique: Vec<(Hash, Option<Hash>)> = Vec::with_capacity(v.len());
        for u in v {
            match unique.last_mut() {
                Some(last) if last.0 == u.0 => *last = u,
                _ => unique.push(u),
            }
        }
        update_at(&mut self.root, 0, &unique, &mut self.len);
    }

    /// Removes `key`; returns its value hash if it was present.
    pub fn remove(&mut self, key: &[u8]) -> Option<Hash> {
        self.remove_hashed(&key_hash(key))
    }

    /// Removes a pre-hashed key; returns its value hash if it was present.
    pub fn remove_hashed(&mut self, key: &Hash) -> Option<Hash> {
        let prev = remove_at(&mut self.root, 0, key);
        if prev.is_some() {
            self.len = self.len.saturating_sub(1);
        }
        prev
    }

    /// The value hash stored under `key`.
    pub fn get(&self, key: &[u8]) -> Option<Hash> {
        self.get_hashed(&key_hash(key))
    }

    /// The value hash stored under a pre-hashed key.
    pub fn get_hashed(&self, key: &Hash) -> Option<Hash> {
        let mut node = &self.root;
        let mut level = 0usize;
        loop {
            match node {
                Node::Empty => return None,
                Node::Leaf(l) => return (l.key == *key).then_some(l.value),
                Node::Branch(b) => {
                    node = if key_bit(key, level) {
                        &b.right
                    } else {
                        &b.left
                    };
                    level = level.saturating_add(1);
                }
            }
        }
    }

    /// An inclusion proof if `key` is present, else a non-inclusion proof.
    pub fn prove(&self, key: &[u8]) -> Result<StateProof, ProofError> {
        self.prove_hashed(&key_hash(key))
    }

    /// A proof for a pre-hashed key. Fails only with [`ProofError::TooManySiblings`], on a
    /// path ground to be longer than any honest one (see [`super::MAX_PROOF_SIBLINGS`]).
    pub fn prove_hashed(&self, key: &Hash) -> Result<StateProof, ProofError> {
        let mut siblings: Vec<Hash> = Vec::new();
        let mut node = &self.root;
        let mut level = 0usize;
        let end = loop {
            match node {
                Node::Empty => break PathEnd::Empty,
                Node::Leaf(l) if l.key == *key => break PathEnd::Queried,
                Node::Leaf(l) => {
                    break PathEnd::Other {
                        key_hash: l.key,
                        value_hash: l.value,
                    }
                }
                Node::Branch(b) => {
                    let (next, sibling) = if key_bit(key, level) {
                        (&b.right, &b.left)
                    } else {
                        (&b.left, &b.right)
                    };
                    siblings.push(sibling.hash());
                    node = next;
                    level = level.saturating_add(1);
                }
            }
        };
        StateProof::from_path(siblings, end)
    }

    /// All `(key hash, value hash)` pairs in key-hash order.
    pub fn entries(&self) -> Vec<(Hash, Hash)> {
        let mut out = Vec::with_capacity(self.len);
        let mut stack: Vec<&Node> = alloc::vec![&self.root];
        while let Some(node) = stack.pop() {
            match node {
                Node::Empty => {}
                Node::Leaf(l) => out.push((l.key, l.value)),
                Node::Branch(b) => {
                    stack.push(&b.right);
                    stack.push(&b.left);
                }
            }
        }
        out
    }
}

/// Builds the subtree at `level` over entries sorted by key hash, all sharing the path so far.
fn build(entries: &[(Hash, Hash)], level: usize) -> Node {
    match entries {
        [] => Node::Empty,
        [(key, value)] => Node::Leaf(Box::new(Leaf {
            key: *key,
            value: *value,
        })),
        _ if level >= MAX_DEPTH => Node::Empty, // unreachable: keys are unique
        _ => {
            let split = entries.partition_point(|(k, _)| !key_bit(k, level));
            let (l, r) = entries.split_at(split);
            let next = level.saturating_add(1);
            Node::branch(build(l, next), build(r, next))
        }
    }
}

/// Applies sorted, unique `updates` (all on this node's path) to the subtree at `level`.
fn update_at(node: &mut Node, level: usize, updates: &[(Hash, Option<Hash>)], len: &mut usize) {
    if updates.is_empty() {
        return;
    }
    if let Node::Branch(b) = node {
        let split = updates.partition_point(|(k, _)| !key_bit(k, level));
        let (l, r) = updates.split_at(split);
        let next = level.saturating_add(1);
        update_at(&mut b.left, next, l, len);
        update_at(&mut b.right, next, r, len);
        match (&b.left, &b.right) {
            (Node::Empty, Node::Empty) => *node = Node::Empty,
            (Node::Empty, Node::Leaf(_)) | (Node::Leaf(_), Node::Empty) => {
                if let Node::Branch(b) = mem::take(node) {
                    let Branch { left, right, .. } = *b;
                    *node = if matches!(left, Node::Empty) {
                        right
                    } else {
                        left
                    };
                }
            }
            _ => b.hash = branch_hash(&b.left.hash(), &b.right.hash()),
        }
        return;
    }
    // An empty slot or a single leaf: merge the leaf with the updates and rebuild here.
    let mut old = match mem::take(node) {
        Node::Leaf(l) => Some(*l),
        _ => None,
    };
    let before = usize::from(old.is_some());
    let mut entries: Vec<(Hash, Hash)> = Vec::with_capacity(updates.len().saturating_add(1));
    for (k, v) in updates {
        if let Some(l) = &old {
            if l.key < *k {
                entries.push((l.key, l.value));
                old = None;
            } else if l.key == *k {
                old = None; // replaced or removed by this update
            }
        }
        if let Some(v) = v {
            entries.push((*k, *v));
        }
    }
    if let Some(l) = old {
        entries.push((l.key, l.value));
    }
    *len = len.saturating_sub(before).saturating_add(entries.len());
    *node = build(&entries, level);
}

fn insert_at(node: &mut Node, level: usize, key: Hash, value: Hash) -> Option<Hash> {
    match node {
        Node::Empty => {
            *node = Node::Leaf(Box::new(Leaf { key, value }));
            None
        }
        Node::Leaf(leaf) if leaf.key == key => Some(mem::replace(&mut leaf.value, value)),
        Node::Leaf(_) => {
            if let Node::Leaf(old) = mem::take(node) {
                *node = split(old, Box::new(Leaf { key, value }), level);
            }
            None
        }
        Node::Branch(b) => {
            let prev = if key_bit(&key, level) {
                insert_at(&mut b.right, level.saturating_add(1), key, value)
            } else {
                insert_at(&mut b.left, level.saturating_add(1), key, value)
            };
            if prev != Some(value) {
                b.hash = branch_hash(&b.left.hash(), &b.right.hash());
            }
            prev
        }
    }
}

/// The subtree at `level` holding two distinct leaves that share the path down to `level`.
fn split(a: Box<Leaf>, b: Box<Leaf>, level: usize) -> Node {
    let diverge = first_differing_bit(&a.key, &b.key).max(level);
    let a_right = key_bit(&a.key, diverge);
    let (left, right) = if a_right { (b, a) } else { (a, b) };
    let mut node = Node::branch(Node::Leaf(left), Node::Leaf(right));
    // Wrap in single-child branches back up to `level`; the empty side is off both paths.
    let Node::Branch(inner) = &node else {
        return node;
    };
    let key = match &inner.left {
        Node::Leaf(l) => l.key,
        _ => Hash::ZERO,
    };
    for lvl in (level..diverge).rev() {
        node = if key_bit(&key, lvl) {
            Node::branch(Node::Empty, node)
        } else {
            Node::branch(node, Node::Empty)
        };
    }
    node
}

fn first_differing_bit(a: &Hash, b: &Hash) -> usize {
    for (i, (x, y)) in a.0.iter().zip(b.0.iter()).enumerate() {
        let d = x ^ y;
        if d != 0 {
            return i * 8 + d.leading_zeros() as usize;
        }
    }
    MAX_DEPTH
}

fn remove_at(node: &mut Node, level: usize, key: &Hash) -> Option<Hash> {
    match node {
        Node::Empty => None,
        Node::Leaf(l) => {
            if l.key != *key {
                return None;
            }
            let v = l.value;
            *node = Node::Empty;
            Some(v)
        }
        Node::Branch(b) => {
            let removed = if key_bit(key, level) {
                remove_at(&mut b.right, level.saturating_add(1), key)
            } else {
                remove_at(&mut b.left, level.saturating_add(1), key)
            }?;
            // A branch left with one leaf and an empty side *is* that leaf now.
            let collapse = matches!(
                (&b.left, &b.right),
                (Node::Empty, Node::Leaf(_) | Node::Empty) | (Node::Leaf(_), Node::Empty)
            );
            if collapse {
                if let Node::Branch(b) = mem::take(node) {
                    let Branch { left, right, .. } = *b;
                    *node = if matches!(left, Node::Empty) {
                        right
                    } else {
                        left
                    };
                }
            } else {
                b.hash = branch_hash(&b.left.hash(), &b.right.hash());
            }
            Some(removed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;
    use proptest::prelude::*;

    fn h(i: u64) -> Hash {
        itc_crypto::tagged_hash(
            itc_crypto::DomainTag::new(b"itc/test/smt/v1"),
            &i.to_be_bytes(),
        )
    }

    #[test]
    fn single_leaf_is_the_root() {
        let mut t = SparseMerkleTree::new();
        t.insert_hashed(h(1), h(2));
        assert_eq!(t.root(), leaf_hash(&h(1), &h(2)));
        let p = t.prove_hashed(&h(1)).unwrap();
        assert_eq!(p.depth(), 0);
        assert!(p.verify_hashed(&t.root(), &h(1), Some(&h(2))).is_ok());
        let q = t.prove_hashed(&h(3)).unwrap();
        assert!(matches!(q.end(), PathEnd::Other { .. }));
        assert!(q.verify_hashed(&t.root(), &h(3), None).is_ok());
    }

    #[test]
    fn keys_sharing_a_long_prefix() {
        // Two keys that differ only in the last bit: a path of 256 levels, 255 of them empty.
        let a = Hash([0x5a; 32]);
        let mut b = a;
        b.0[31] ^= 1;
        let mut t = SparseMerkleTree::new();
        t.insert_hashed(a, h(1));
        t.insert_hashed(b, h(2));
        let p = t.prove_hashed(&a).unwrap();
        assert_eq!(p.depth(), 256);
        assert!(p.verify_hashed(&t.root(), &a, Some(&h(1))).is_ok());
        assert_eq!(
            t.root(),
            SparseMerkleTree::from_hashed([(b, h(2)), (a, h(1))]).root()
        );
        t.remove_hashed(&b);
        assert_eq!(t.root(), leaf_hash(&a, &h(1)));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Batched updates land on the same tree as the same updates one at a time.
        #[test]
        fn batches_match_single_updates(
            start in proptest::collection::btree_map(0u64..60, 0u64..4, 0..40),
            batch in proptest::collection::vec((0u64..70, proptest::option::of(0u64..4)), 0..60),
        ) {
            let mut single = SparseMerkleTree::from_hashed(start.iter().map(|(k, v)| (h(*k), h(100 + v))));
            let mut batched = single.clone();
            for (k, v) in &batch {
                match v {
                    Some(v) => { single.insert_hashed(h(*k), h(100 + v)); }
                    None => { single.remove_hashed(&h(*k)); }
                }
            }
            batched.apply_batch(batch.iter().map(|(k, v)| (h(*k), v.map(|v| h(100 + v)))));
            prop_assert_eq!(batched.root(), single.root());
            prop_assert_eq!(batched.len(), single.len());
            prop_assert_eq!(batched.entries(), single.entries());
        }

        /// Random inserts/updates/removes agree with a model map rebuilt from scratch, and every
        /// proof (present or absent key) verifies against its root and no other.
        #[test]
        fn matches_model_and_proofs_hold(ops in proptest::collection::vec((0u64..40, 0u64..4, any::<bool>()), 1..120)) {
            let mut t = SparseMerkleTree::new();
            let mut model: BTreeMap<Hash, Hash> = BTreeMap::new();
            let mut roots = alloc::vec![t.root()];
            for (k, v, del) in ops {
                if del {
                    prop_assert_eq!(t.remove_hashed(&h(k)), model.remove(&h(k)));
                } else {
                    prop_assert_eq!(t.insert_hashed(h(k), h(100 + v)), model.insert(h(k), h(100 + v)));
                }
                prop_assert_eq!(t.len(), model.len());
                roots.push(t.root());
            }
            let rebuilt = SparseMerkleTree::from_hashed(model.iter().map(|(k, v)| (*k, *v)));
            prop_assert_eq!(t.root(), rebuilt.root());
            let mut sorted: alloc::vec::Vec<_> = model.iter().map(|(k, v)| (*k, *v)).collect();
            sorted.sort();
            prop_assert_eq!(t.entries(), sorted);
            let root = t.root();
            for k in 0u64..45 {
                let p = t.prove_hashed(&h(k)).unwrap();
                let value = model.get(&h(k));
                prop_assert_eq!(t.get_hashed(&h(k)), value.copied());
                prop_assert!(p.verify_hashed(&root, &h(k), value).is_ok());
                // The opposite claim fails.
                let wrong = if value.is_some() { None } else { Some(h(999)) };
                prop_assert!(p.verify_hashed(&root, &h(k), wrong.as_ref()).is_err());
                // Any other root fails.
                for other in roots.iter().filter(|r| **r != root) {
                    prop_assert!(p.verify_hashed(other, &h(k), value).is_err());
                }
            }
        }
    }
}
