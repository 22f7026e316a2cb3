//! A compact sparse Merkle tree: an authenticated map from byte keys to byte values under one
//! 32-byte root, with logarithmic inclusion **and** non-inclusion proofs.
//!
//! Generic (bytes in, hashes out) so a light client or another crate can use it for any map.
//!
//! * [`hashing`] — the domain-separated hash rules (keys, values, leaves, branches).
//! * [`proof`] — [`StateProof`]: decode and verify with no allocator (Cortex-M4 friendly).
//! * [`tree`] — [`SparseMerkleTree`], the prover side (needs `alloc`).

pub mod hashing;
pub mod proof;
#[cfg(feature = "alloc")]
pub mod tree;

pub use hashing::{
    branch_hash, key_hash, leaf_hash, value_hash, BRANCH_TAG, EMPTY_SUBTREE, KEY_TAG, LEAF_TAG,
    VALUE_TAG,
};
pub use proof::{PathEnd, StateProof, StateProofError, MAX_DEPTH, MAX_PROOF_SIBLINGS};
#[cfg(feature = "alloc")]
pub use tree::{Iter, SparseMerkleTree};
