//! The hash rules of the tree: how keys, values, leaves and branches are hashed.
//!
//! Four domain tags keep the four kinds of hash apart, so a branch can never be passed off as
//! a leaf, nor a value hash as a key hash. A leaf commits to its full key hash, so a leaf can
//! only ever sit on its own key's path.

use itc_crypto::{tagged_hash, DomainTag, Hash, TaggedHasher};

/// Tag of [`key_hash`]: the 256-bit path of a key.
pub const KEY_TAG: DomainTag = DomainTag::new(b"itc/ledger/smt/key/v1");
/// Tag of [`value_hash`].
pub const VALUE_TAG: DomainTag = DomainTag::new(b"itc/ledger/smt/value/v1");
/// Tag of [`leaf_hash`].
pub const LEAF_TAG: DomainTag = DomainTag::new(b"itc/ledger/smt/leaf/v1");
/// Tag of [`branch_hash`].
pub const BRANCH_TAG: DomainTag = DomainTag::new(b"itc/ledger/smt/branch/v1");

/// The hash of an empty subtree, and the root of the empty tree.
///
/// A constant rather than a hash so "no keys here" costs nothing to compute and is elided
/// from proofs.
pub const EMPTY_SUBTREE: Hash = Hash::ZERO;

/// The path of a key: the tagged hash of its bytes.
pub fn key_hash(key: &[u8]) -> Hash {
    tagged_hash(KEY_TAG, key)
}

/// The commitment to a value's bytes.
pub fn value_hash(value: &[u8]) -> Hash {
    tagged_hash(VALUE_TAG, value)
}

/// A leaf: `H(LEAF_TAG, key_hash ‖ value_hash)`.
pub fn leaf_hash(key_hash: &Hash, value_hash: &Hash) -> Hash {
    let mut h = TaggedHasher::new(LEAF_TAG);
    h.update(&key_hash.0).update(&value_hash.0);
    h.finalize()
}

/// A branch with at least two leaves below it: `H(BRANCH_TAG, left ‖ right)`.
pub fn branch_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = TaggedHasher::new(BRANCH_TAG);
    h.update(&left.0).update(&right.0);
    h.finalize()
}

/// Bit `level` of a key hash, most significant first: `false` goes left, `true` right.
pub fn key_bit(key_hash: &Hash, level: usize) -> bool {
    key_hash
        .0
        .get(level / 8)
        .is_some_and(|b| b & (0x80 >> (level % 8)) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_msb_first() {
        let mut h = Hash::ZERO;
        h.0[0] = 0b1000_0001;
        h.0[31] = 0b0000_0001;
        assert!(key_bit(&h, 0));
        assert!(!key_bit(&h, 1));
        assert!(key_bit(&h, 7));
        assert!(key_bit(&h, 255));
        assert!(!key_bit(&h, 256));
    }

    #[test]
    fn leaf_and_branch_differ_on_same_bytes() {
        let a = Hash([1; 32]);
        let b = Hash([2; 32]);
        assert_ne!(leaf_hash(&a, &b), branch_hash(&a, &b));
        assert_ne!(key_hash(b"k"), value_hash(b"k"));
    }
}
