//! The in-memory compact sparse Merkle tree (needs `alloc`), persistent: cloning it is O(1).
//!
//! Shaped like Diem/Aptos's Jellyfish tree, binary: a subtree holding one leaf *is* that leaf
//! (at whatever depth it sits), an empty subtree is [`EMPTY_SUBTREE`], and only subtrees with
//! two or more leaves become branches. So a key's path is as long as the prefix it shares with
//! its nearest neighbour (≈ log₂ n), not 256 levels. Branch hashes are cached and an update
//! rehashes only its own path.
//!
//! **Structural sharing.** Nodes sit behind reference-counted pointers (`Arc` where the target
//! has atomic pointers, `Rc` otherwise) and an update copies only the nodes on the paths it
//! touches (path copying). A clone taken before an update keeps answering for the old state,
//! and the two versions share every untouched subtree. A full node therefore keeps one tree per
//! retained height at the cost of the paths each block rewrote (≈ keys written × log₂ n nodes),
//! never a copy of the whole state.
//!
//! **Payloads.** Each leaf can carry a value `V` beside its hashes (`()` by default: the tree
//! then stores only hashes, about 150 bytes per key). The ledger stores its typed records there,
//! so a record and the hash the root commits to live in one place and one version.

use alloc::vec::Vec;
use core::fmt;
use core::mem;

use itc_crypto::Hash;

use super::hashing::{branch_hash, key_bit, key_hash, leaf_hash, value_hash, EMPTY_SUBTREE};
use super::proof::{PathEnd, StateProof, StateProofError, MAX_DEPTH};

/// The pointer behind which tree nodes are shared between versions: `Arc` where the target has
/// atomic pointer operations (so a ledger version can move between threads), `Rc` elsewhere
/// (e.g. `thumbv6m`, `riscv32imc`, which have no atomic compare-and-swap).
#[cfg(target_has_atomic = "ptr")]
pub(crate) type Shared<T> = alloc::sync::Arc<T>;
/// See the `target_has_atomic = "ptr"` variant.
#[cfg(not(target_has_atomic = "ptr"))]
pub(crate) type Shared<T> = alloc::rc::Rc<T>;

#[derive(Default)]
enum Node<V> {
    #[default]
    Empty,
    Leaf(Shared<Leaf<V>>),
    Branch(Shared<Branch<V>>),
}

// Cloning a node clones a pointer, never a payload: no `V: Clone` bound.
impl<V> Clone for Node<V> {
    fn clone(&self) -> Self {
        match self {
            Node::Empty => Node::Empty,
            Node::Leaf(l) => Node::Leaf(Shared::clone(l)),
            Node::Branch(b) => Node::Branch(Shared::clone(b)),
        }
    }
}

struct Leaf<V> {
    key: Hash,
    value: Hash,
    payload: V,
}

struct Branch<V> {
    hash: Hash,
    left: Node<V>,
    right: Node<V>,
}

// `Shared::make_mut` copies a shared branch before changing it (the path copy): two pointer
// clones and a hash.
impl<V> Clone for Branch<V> {
    fn clone(&self) -> Self {
        Branch {
            hash: self.hash,
            left: self.left.clone(),
            right: self.right.clone(),
        }
    }
}

impl<V> Node<V> {
    fn hash(&self) -> Hash {
        match self {
            Node::Empty => EMPTY_SUBTREE,
            Node::Leaf(l) => leaf_hash(&l.key, &l.value),
            Node::Branch(b) => b.hash,
        }
    }

    fn branch(left: Node<V>, right: Node<V>) -> Node<V> {
        let hash = branch_hash(&left.hash(), &right.hash());
        Node::Branch(Shared::new(Branch { hash, left, right }))
    }

    fn leaf(key: Hash, value: Hash, payload: V) -> Shared<Leaf<V>> {
        Shared::new(Leaf {
            key,
            value,
            payload,
        })
    }
}

/// An authenticated map from 256-bit key hashes to value hashes (and optional payloads `V`)
/// with a single 32-byte root.
///
/// Keys and values are arbitrary bytes hashed with [`key_hash`] / [`value_hash`]; the tree
/// stores the hashes (and the payload, if any). `clone()` is O(1) and versions share structure
/// (see the [module docs](self)).
///
/// ```
/// use itc_ledger::smt::{SparseMerkleTree, EMPTY_SUBTREE};
/// let mut tree = SparseMerkleTree::new();
/// assert_eq!(tree.root(), EMPTY_SUBTREE);
/// tree.insert(b"balance/alice", &100u64.to_be_bytes());
/// let with_alice = tree.root();
/// let version = tree.clone(); // O(1): shares every node
/// tree.insert(b"balance/bob", &5u64.to_be_bytes());
/// assert_eq!(version.root(), with_alice); // the old version is untouched
/// tree.remove(b"balance/bob");
/// // The root depends only on the contents, not on the history.
/// assert_eq!(tree.root(), with_alice);
/// ```
pub struct SparseMerkleTree<V = ()> {
    root: Node<V>,
    len: usize,
}

impl<V> Clone for SparseMerkleTree<V> {
    fn clone(&self) -> Self {
        SparseMerkleTree {
            root: self.root.clone(),
            len: self.len,
        }
    }
}

impl<V> Default for SparseMerkleTree<V> {
    fn default() -> Self {
        SparseMerkleTree {
            root: Node::Empty,
            len: 0,
        }
    }
}

impl<V> fmt::Debug for SparseMerkleTree<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SparseMerkleTree")
            .field("root", &self.root())
            .field("len", &self.len)
            .finish()
    }
}

/// Sorts by key and keeps the last entry of each run of equal keys (stable sort).
fn last_per_key<T>(mut v: Vec<(Hash, T)>) -> Vec<(Hash, T)> {
    v.sort_by_key(|e| e.0);
    let mut unique: Vec<(Hash, T)> = Vec::with_capacity(v.len());
    for e in v {
        match unique.last_mut() {
            Some(last) if last.0 == e.0 => *last = e,
            _ => unique.push(e),
        }
    }
    unique
}

impl SparseMerkleTree<()> {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a tree from `(key hash, value hash)` pairs in one pass: O(n log n) for the sort,
    /// one hash per node — much faster than n inserts. A repeated key keeps its last value.
    pub fn from_hashed(entries: impl IntoIterator<Item = (Hash, Hash)>) -> Self {
        Self::from_leaves(entries.into_iter().map(|(k, v)| (k, v, ())))
    }

    /// Builds a tree from raw key and value bytes (see [`SparseMerkleTree::from_hashed`]).
    pub fn from_entries<K: AsRef<[u8]>, B: AsRef<[u8]>>(
        entries: impl IntoIterator<Item = (K, B)>,
    ) -> Self {
        Self::from_hashed(
            entries
                .into_iter()
                .map(|(k, v)| (key_hash(k.as_ref()), value_hash(v.as_ref()))),
        )
    }

    /// Sets `key` to `value`; returns the previous value hash.
    pub fn insert(&mut self, key: &[u8], value: &[u8]) -> Option<Hash> {
        self.insert_hashed(key_hash(key), value_hash(value))
    }

    /// Sets a pre-hashed key to a pre-hashed value; returns the previous value hash.
    pub fn insert_hashed(&mut self, key: Hash, value: Hash) -> Option<Hash> {
        self.insert_leaf(key, value, ())
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
        self.apply_updates(updates.into_iter().map(|(k, v)| (k, v.map(|v| (v, ())))));
    }
}

impl<V> SparseMerkleTree<V> {
    /// Builds a tree from `(key hash, value hash, payload)` triples in one pass (see
    /// [`SparseMerkleTree::from_hashed`]). A repeated key keeps its last entry.
    pub fn from_leaves(entries: impl IntoIterator<Item = (Hash, Hash, V)>) -> Self {
        let v: Vec<(Hash, (Hash, V))> = entries.into_iter().map(|(k, h, p)| (k, (h, p))).collect();
        let leaves: Vec<Shared<Leaf<V>>> = last_per_key(v)
            .into_iter()
            .map(|(k, (h, p))| Node::leaf(k, h, p))
            .collect();
        SparseMerkleTree {
            len: leaves.len(),
            root: build(&leaves, 0),
        }
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

    /// Sets a pre-hashed key to a pre-hashed value carrying `payload`; returns the previous
    /// value hash. Copies only the path to the key; clones taken before keep the old leaf.
    pub fn insert_leaf(&mut self, key: Hash, value: Hash, payload: V) -> Option<Hash> {
        let prev = insert_at(&mut self.root, 0, Node::leaf(key, value, payload));
        if prev.is_none() {
            self.len = self.len.saturating_add(1);
        }
        prev
    }

    /// [`SparseMerkleTree::apply_batch`] with payloads: `Some((value hash, payload))` sets,
    /// `None` removes; each touched node is copied and hashed once.
    pub fn apply_updates(&mut self, updates: impl IntoIterator<Item = (Hash, Option<(Hash, V)>)>) {
        let unique: Vec<(Hash, Option<Shared<Leaf<V>>>)> =
            last_per_key(updates.into_iter().collect())
                .into_iter()
                .map(|(k, u)| (k, u.map(|(h, p)| Node::leaf(k, h, p))))
                .collect();
        update_at(&mut self.root, 0, &unique, &mut self.len);
    }

    /// Removes `key`; returns its value hash if it was present.
    pub fn remove(&mut self, key: &[u8]) -> Option<Hash> {
        self.remove_hashed(&key_hash(key))
    }

    /// Removes a pre-hashed key; returns its value hash if it was present.
    pub fn remove_hashed(&mut self, key: &Hash) -> Option<Hash> {
        // Look before copying: removing an absent key must not copy its path.
        self.leaf(key)?;
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
        self.leaf(key).map(|l| l.value)
    }

    /// The payload stored under a pre-hashed key.
    pub fn payload(&self, key: &Hash) -> Option<&V> {
        self.leaf(key).map(|l| &l.payload)
    }

    fn leaf(&self, key: &Hash) -> Option<&Leaf<V>> {
        let mut node = &self.root;
        let mut level = 0usize;
        loop {
            match node {
                Node::Empty => return None,
                Node::Leaf(l) => return (l.key == *key).then_some(&**l),
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
    pub fn prove(&self, key: &[u8]) -> Result<StateProof, StateProofError> {
        self.prove_hashed(&key_hash(key))
    }

    /// A proof for a pre-hashed key. Fails only with [`StateProofError::TooManySiblings`], on
    /// a path ground to be longer than any honest one (see [`super::MAX_PROOF_SIBLINGS`]).
    pub fn prove_hashed(&self, key: &Hash) -> Result<StateProof, StateProofError> {
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
        out.extend(self.iter().map(|(k, v, _)| (*k, *v)));
        out
    }

    /// Every `(key hash, value hash, payload)` in key-hash order, without allocating per leaf.
    pub fn iter(&self) -> Iter<'_, V> {
        let mut stack = Vec::with_capacity(64);
        stack.push(&self.root);
        Iter { stack }
    }

    /// True if `self` and `other` are the same version (their roots are one shared node): an
    /// O(1) check that a clone was not changed since.
    pub fn same_version(&self, other: &Self) -> bool {
        match (&self.root, &other.root) {
            (Node::Empty, Node::Empty) => true,
            (Node::Leaf(a), Node::Leaf(b)) => Shared::ptr_eq(a, b),
            (Node::Branch(a), Node::Branch(b)) => Shared::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// Iterator over a tree's leaves in key-hash order ([`SparseMerkleTree::iter`]).
pub struct Iter<'a, V> {
    stack: Vec<&'a Node<V>>,
}

impl<V> fmt::Debug for Iter<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter")
            .field("pending", &self.stack.len())
            .finish()
    }
}

impl<'a, V> Iterator for Iter<'a, V> {
    type Item = (&'a Hash, &'a Hash, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        while let Some(node) = self.stack.pop() {
            match node {
                Node::Empty => {}
                Node::Leaf(l) => return Some((&l.key, &l.value, &l.payload)),
                Node::Branch(b) => {
                    self.stack.push(&b.right);
                    self.stack.push(&b.left);
                }
            }
        }
        None
    }
}

/// Builds the subtree at `level` over leaves sorted by key hash, all sharing the path so far.
fn build<V>(leaves: &[Shared<Leaf<V>>], level: usize) -> Node<V> {
    match leaves {
        [] => Node::Empty,
        [leaf] => Node::Leaf(Shared::clone(leaf)),
        _ if level >= MAX_DEPTH => Node::Empty, // unreachable: keys are unique
        _ => {
            let split = leaves.partition_point(|l| !key_bit(&l.key, level));
            let (l, r) = leaves.split_at(split);
            let next = level.saturating_add(1);
            Node::branch(build(l, next), build(r, next))
        }
    }
}

/// Replaces a branch left with at most one leaf and an empty side by that leaf (or by the
/// empty subtree): a subtree holding one leaf *is* that leaf. Returns true if it collapsed.
fn collapse<V>(node: &mut Node<V>) -> bool {
    let survivor = match node {
        Node::Branch(b) => match (&b.left, &b.right) {
            (Node::Empty, Node::Empty) => Node::Empty,
            (Node::Empty, leaf @ Node::Leaf(_)) | (leaf @ Node::Leaf(_), Node::Empty) => {
                leaf.clone()
            }
            _ => return false,
        },
        _ => return false,
    };
    *node = survivor;
    true
}

/// Applies sorted, unique `updates` (all on this node's path) to the subtree at `level`.
fn update_at<V>(
    node: &mut Node<V>,
    level: usize,
    updates: &[(Hash, Option<Shared<Leaf<V>>>)],
    len: &mut usize,
) {
    if updates.is_empty() {
        return;
    }
    if let Node::Branch(b) = node {
        let b = Shared::make_mut(b);
        let split = updates.partition_point(|(k, _)| !key_bit(k, level));
        let (l, r) = updates.split_at(split);
        let next = level.saturating_add(1);
        update_at(&mut b.left, next, l, len);
        update_at(&mut b.right, next, r, len);
        b.hash = branch_hash(&b.left.hash(), &b.right.hash());
        collapse(node);
        return;
    }
    // An empty slot or a single leaf: merge the leaf with the updates and rebuild here.
    let mut old = match mem::take(node) {
        Node::Leaf(l) => Some(l),
        _ => None,
    };
    let before = usize::from(old.is_some());
    let mut leaves: Vec<Shared<Leaf<V>>> = Vec::with_capacity(updates.len().saturating_add(1));
    for (k, leaf) in updates {
        if let Some(l) = &old {
            if l.key < *k {
                leaves.extend(old.take());
            } else if l.key == *k {
                old = None; // replaced or removed by this update
            }
        }
        if let Some(leaf) = leaf {
            leaves.push(Shared::clone(leaf));
        }
    }
    leaves.extend(old);
    *len = len.saturating_sub(before).saturating_add(leaves.len());
    *node = build(&leaves, level);
}

fn insert_at<V>(node: &mut Node<V>, level: usize, leaf: Shared<Leaf<V>>) -> Option<Hash> {
    match node {
        Node::Empty => {
            *node = Node::Leaf(leaf);
            None
        }
        Node::Leaf(l) if l.key == leaf.key => {
            let prev = l.value;
            *node = Node::Leaf(leaf);
            Some(prev)
        }
        Node::Leaf(_) => {
            if let Node::Leaf(old) = mem::take(node) {
                *node = split(old, leaf, level);
            }
            None
        }
        Node::Branch(b) => {
            let b = Shared::make_mut(b);
            let value = leaf.value;
            let prev = if key_bit(&leaf.key, level) {
                insert_at(&mut b.right, level.saturating_add(1), leaf)
            } else {
                insert_at(&mut b.left, level.saturating_add(1), leaf)
            };
            if prev != Some(value) {
                b.hash = branch_hash(&b.left.hash(), &b.right.hash());
            }
            prev
        }
    }
}

/// The subtree at `level` holding two distinct leaves that share the path down to `level`.
fn split<V>(a: Shared<Leaf<V>>, b: Shared<Leaf<V>>, level: usize) -> Node<V> {
    let diverge = first_differing_bit(&a.key, &b.key).max(level);
    let key = a.key;
    let (left, right) = if key_bit(&a.key, diverge) {
        (b, a)
    } else {
        (a, b)
    };
    let mut node = Node::branch(Node::Leaf(left), Node::Leaf(right));
    // Wrap in single-child branches back up to `level`; the empty side is off both paths
    // (both keys agree on every bit above `diverge`).
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

fn remove_at<V>(node: &mut Node<V>, level: usize, key: &Hash) -> Option<Hash> {
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
            let b = Shared::make_mut(b);
            let removed = if key_bit(key, level) {
                remove_at(&mut b.right, level.saturating_add(1), key)
            } else {
                remove_at(&mut b.left, level.saturating_add(1), key)
            }?;
            b.hash = branch_hash(&b.left.hash(), &b.right.hash());
            // A branch left with one leaf and an empty side *is* that leaf now.
            collapse(node);
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

        /// Clones are versions: whatever happens to the tree afterwards, every clone keeps the
        /// root, entries, payloads and proofs it had when it was taken.
        #[test]
        fn clones_are_persistent_versions(
            ops in proptest::collection::vec((0u64..50, 0u64..4, 0u8..3), 1..80),
        ) {
            let mut t: SparseMerkleTree<u64> = SparseMerkleTree::default();
            type Version = (SparseMerkleTree<u64>, Hash, alloc::vec::Vec<(Hash, Hash)>);
            let mut versions: alloc::vec::Vec<Version> = alloc::vec![];
            for (i, (k, v, kind)) in ops.iter().enumerate() {
                match kind {
                    0 => { t.insert_leaf(h(*k), h(100 + v), i as u64); }
                    1 => { t.remove_hashed(&h(*k)); }
                    _ => t.apply_updates([(h(*k), Some((h(200 + v), i as u64))), (h(k + 1), None)]),
                }
                versions.push((t.clone(), t.root(), t.entries()));
            }
            for (version, root, entries) in &versions {
                prop_assert_eq!(version.root(), *root);
                prop_assert_eq!(&version.entries(), entries);
                prop_assert_eq!(version.len(), entries.len());
                for (k, v) in entries {
                    prop_assert!(version.payload(k).is_some());
                    let p = version.prove_hashed(k).unwrap();
                    prop_assert!(p.verify_hashed(root, k, Some(v)).is_ok());
                }
            }
            let last = versions.last().map(|v| v.0.clone()).unwrap();
            prop_assert!(last.same_version(&t));
            t.insert_leaf(h(999), h(1), 0);
            prop_assert!(!last.same_version(&t));
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
