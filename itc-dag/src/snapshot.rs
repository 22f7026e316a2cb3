//! DAG snapshots: what the PBFT main chain commits to anchor the tangle, and the proofs light
//! clients check against it.
//!
//! Snapshots are numbered by their **sequence** (`snapshot_seq`: 0 is genesis, each anchor
//! the next; not a validator epoch). Snapshot `s` lists the transactions **finalised by it** (a past-closed
//! set: every parent is in it or was final before) in canonical order, the snapshot's tip set
//! and the ledger's balances root after applying its transfers. Its [`DagSnapshot::root`] is
//! a Merkle root (itc-crypto's RFC 6962-shaped tree) over
//!
//! ```text
//! leaf 0       = leaf_hash(header)            header = "itc/dag/snapshot/v1" ‖ snapshot_seq u64 ‖ prev_root
//!                                                      ‖ tip_set_hash ‖ balances_root ‖ count u64  (131 bytes)
//! leaf 1 + i   = leaf_hash(finalized[i].as_bytes())   (the 32 raw id bytes)
//! ```
//!
//! so one 32-byte value both commits to the whole snapshot and proves membership: a light
//! client checks `proof.verify(&root, &leaf_hash(tx_id.as_bytes()))` ([`verify_inclusion`]).
//! The header leaf is 131 bytes and a transaction leaf 32, so neither can pose as the other.
//!
//! Canonical order: Kahn's topological order over the set (parents first), ties broken by the
//! smallest id — computed by [`crate::Tangle`] and checked when an anchor arrives.
//!
//! ```
//! use itc_dag::{snapshot::verify_inclusion, DagSnapshot, TxId};
//! use itc_crypto::Hash;
//! let ids: Vec<TxId> = (1..=5u8).map(|i| TxId(Hash([i; 32]))).collect();
//! let snap = DagSnapshot {
//!     snapshot_seq: 1, prev_root: Hash::ZERO, tips: vec![ids[4]], finalized: ids.clone(),
//!     balances_root: Hash::ZERO,
//! };
//! let proof = snap.prove(&ids[2]).unwrap();
//! assert!(verify_inclusion(&snap.root(), &ids[2], &proof).is_ok());
//! assert!(verify_inclusion(&snap.root(), &ids[3], &proof).is_err());
//! ```

#[cfg(feature = "alloc")]
use alloc::collections::BTreeSet;
#[cfg(feature = "alloc")]
use alloc::vec::Vec;

#[cfg(feature = "alloc")]
use itc_crypto::encoding::{write_seq, write_varint, Decode, DecodeError, Encode, Reader, Writer};
#[cfg(feature = "alloc")]
use itc_crypto::hash::TaggedHasher;
use itc_crypto::hash::{DomainTag, Hash};
use itc_crypto::merkle::{leaf_hash, InclusionProof, MerkleError};
#[cfg(feature = "alloc")]
use itc_crypto::{merkle::merkle_root_of_hashes, MerkleTree};

use crate::tx::TxId;

/// Prefix of the header leaf.
pub const SNAPSHOT_HEADER_PREFIX: &[u8; 19] = b"itc/dag/snapshot/v1";
/// Length of the header leaf in bytes.
pub const SNAPSHOT_HEADER_LEN: usize = 19 + 8 + 32 + 32 + 32 + 8;
/// Tag of the tip-set hash.
pub const TIP_SET_TAG: DomainTag = DomainTag::new(b"itc/dag/snapshot-tips/v1");
/// Most transactions one snapshot may finalise (bounds decoding and anchor work).
pub const MAX_SNAPSHOT_TXS: usize = 100_000;
/// Most tips a snapshot may list.
pub const MAX_SNAPSHOT_TIPS: usize = 4_096;

/// A DAG snapshot committed by the main chain.
#[cfg(feature = "alloc")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagSnapshot {
    /// Sequence number (0 is genesis; each anchor is the next).
    pub snapshot_seq: u64,
    /// Root of the previous snapshot (zero for genesis).
    pub prev_root: Hash,
    /// The snapshot's tips, ascending: finalised transactions no other finalised one approves
    /// (or the previous tips when nothing was finalised). Random walks start here.
    pub tips: Vec<TxId>,
    /// Transactions this snapshot finalises, in canonical order.
    pub finalized: Vec<TxId>,
    /// [`crate::DagBalances::root`] after applying the finalised transfers.
    pub balances_root: Hash,
}

#[cfg(feature = "alloc")]
impl DagSnapshot {
    /// `hash_ids(TIP_SET_TAG, tips)`.
    pub fn tip_set_hash(&self) -> Hash {
        hash_ids(TIP_SET_TAG, &self.tips)
    }

    /// The 131-byte header leaf.
    pub fn header_leaf(&self) -> [u8; SNAPSHOT_HEADER_LEN] {
        let mut out = [0u8; SNAPSHOT_HEADER_LEN];
        let tips = self.tip_set_hash();
        let count = self.finalized.len() as u64;
        let parts: [&[u8]; 6] = [
            SNAPSHOT_HEADER_PREFIX,
            &self.snapshot_seq.to_be_bytes(),
            self.prev_root.as_bytes(),
            tips.as_bytes(),
            self.balances_root.as_bytes(),
            &count.to_be_bytes(),
        ];
        let mut pos = 0;
        for p in parts {
            if let Some(dst) = out.get_mut(pos..pos + p.len()) {
                dst.copy_from_slice(p);
            }
            pos += p.len();
        }
        out
    }

    fn leaf_hashes(&self) -> Vec<Hash> {
        let mut v = Vec::with_capacity(self.finalized.len() + 1);
        v.push(leaf_hash(&self.header_leaf()));
        v.extend(self.finalized.iter().map(tx_leaf));
        v
    }

    /// The 32-byte value the main chain stores: Merkle root over header and finalised ids.
    pub fn root(&self) -> Hash {
        merkle_root_of_hashes(&self.leaf_hashes())
    }

    /// Proof that `id` was finalised by this snapshot (leaf index = position + 1).
    pub fn prove(&self, id: &TxId) -> Option<InclusionProof> {
        let pos = self.finalized.iter().position(|x| x == id)?;
        MerkleTree::from_leaf_hashes(self.leaf_hashes()).prove(pos + 1)
    }

    /// Proof for the header leaf (lets a light client learn sequence, balances root, tip set).
    pub fn prove_header(&self) -> Option<InclusionProof> {
        MerkleTree::from_leaf_hashes(self.leaf_hashes()).prove(0)
    }

    /// The genesis snapshot over the entry points and the genesis balances.
    pub fn genesis(entry_points: &[TxId], balances_root: Hash) -> Self {
        let mut tips = entry_points.to_vec();
        tips.sort_unstable();
        tips.dedup();
        DagSnapshot {
            snapshot_seq: 0,
            prev_root: Hash::ZERO,
            tips,
            finalized: Vec::new(),
            balances_root,
        }
    }
}

/// `TaggedHasher(tag) ‖ varint(count) ‖ ids…`: a commitment to an id list.
#[cfg(feature = "alloc")]
fn hash_ids(tag: DomainTag, ids: &[TxId]) -> Hash {
    let mut h = TaggedHasher::new(tag);
    write_varint(&mut h, ids.len() as u64);
    for id in ids {
        h.update(id.as_bytes());
    }
    h.finalize()
}

/// Leaf hash of a transaction id in a snapshot tree: `leaf_hash(id.as_bytes())` (what a full
/// node proves a DAG transaction against).
pub fn tx_leaf(id: &TxId) -> Hash {
    leaf_hash(id.as_bytes())
}

/// Checks that `id` is in the snapshot with root `root` (no allocator needed).
pub fn verify_inclusion(root: &Hash, id: &TxId, proof: &InclusionProof) -> Result<(), MerkleError> {
    if proof.leaf_index == 0 {
        // Leaf 0 is the header; an id can never sit there.
        return Err(MerkleError::RootMismatch);
    }
    proof.verify(root, &tx_leaf(id))
}

#[cfg(feature = "alloc")]
impl Encode for DagSnapshot {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.snapshot_seq.encode(w);
        self.prev_root.encode(w);
        write_seq(w, &self.tips);
        write_seq(w, &self.finalized);
        self.balances_root.encode(w);
    }
}

#[cfg(feature = "alloc")]
impl Decode for DagSnapshot {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let snapshot_seq = u64::decode(r)?;
        let prev_root = Hash::decode(r)?;
        let n = r.read_count(MAX_SNAPSHOT_TIPS, 32)?;
        let mut tips: Vec<TxId> = Vec::with_capacity(n);
        for _ in 0..n {
            let id = TxId::decode(r)?;
            if tips.last().is_some_and(|p| *p >= id) {
                return Err(DecodeError::NonCanonical {
                    type_name: "DagSnapshot.tips",
                });
            }
            tips.push(id);
        }
        let n = r.read_count(MAX_SNAPSHOT_TXS, 32)?;
        let mut finalized = Vec::with_capacity(n);
        let mut seen = BTreeSet::new();
        for _ in 0..n {
            let id = TxId::decode(r)?;
            if !seen.insert(id) {
                return Err(DecodeError::NonCanonical {
                    type_name: "DagSnapshot.finalized",
                });
            }
            finalized.push(id);
        }
        Ok(DagSnapshot {
            snapshot_seq,
            prev_root,
            tips,
            finalized,
            balances_root: Hash::decode(r)?,
        })
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    fn ids(n: usize) -> Vec<TxId> {
        (0..n)
            .map(|i| TxId(itc_crypto::keccak256(&(i as u64).to_be_bytes())))
            .collect()
    }

    #[test]
    fn header_leaf_cannot_be_proved_as_a_transaction() {
        let s = DagSnapshot {
            snapshot_seq: 3,
            prev_root: Hash([1; 32]),
            tips: vec![],
            finalized: ids(4),
            balances_root: Hash([2; 32]),
        };
        let p = s.prove_header().unwrap();
        // Even knowing the header, nobody can present it as an id.
        let fake = TxId(leaf_hash(&s.header_leaf()));
        assert!(verify_inclusion(&s.root(), &fake, &p).is_err());
        assert!(p.verify(&s.root(), &leaf_hash(&s.header_leaf())).is_ok());
    }

    #[test]
    fn root_commits_to_every_field() {
        let base = DagSnapshot {
            snapshot_seq: 1,
            prev_root: Hash::ZERO,
            tips: ids(2),
            finalized: ids(3),
            balances_root: Hash::ZERO,
        };
        let r = base.root();
        let mut s = base.clone();
        s.snapshot_seq = 2;
        assert_ne!(s.root(), r);
        let mut s = base.clone();
        s.prev_root = Hash([1; 32]);
        assert_ne!(s.root(), r);
        let mut s = base.clone();
        s.tips.pop();
        assert_ne!(s.root(), r);
        let mut s = base.clone();
        s.finalized.swap(0, 1);
        assert_ne!(s.root(), r);
        let mut s = base.clone();
        s.balances_root = Hash([1; 32]);
        assert_ne!(s.root(), r);
    }

    #[test]
    fn decoding_rejects_unsorted_tips_and_repeated_ids() {
        let mut s = DagSnapshot {
            snapshot_seq: 1,
            prev_root: Hash::ZERO,
            tips: ids(3),
            finalized: ids(3),
            balances_root: Hash::ZERO,
        };
        s.tips.sort();
        s.tips.reverse();
        assert!(matches!(
            DagSnapshot::decode_bytes(&s.encode_to_vec()),
            Err(DecodeError::NonCanonical { .. })
        ));
        s.tips.sort();
        s.finalized[2] = s.finalized[0];
        assert!(matches!(
            DagSnapshot::decode_bytes(&s.encode_to_vec()),
            Err(DecodeError::NonCanonical { .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn every_finalized_id_proves_and_round_trips(n in 0usize..40, seq: u64) {
            let mut tips = ids(n.min(3));
            tips.sort();
            let s = DagSnapshot { snapshot_seq: seq, prev_root: Hash([7; 32]), tips, finalized: ids(n), balances_root: Hash([9; 32]) };
            let bytes = s.encode_to_vec();
            prop_assert_eq!(DagSnapshot::decode_bytes(&bytes).unwrap(), s.clone());
            let root = s.root();
            for id in &s.finalized {
                let p = s.prove(id).unwrap();
                prop_assert!(verify_inclusion(&root, id, &p).is_ok());
            }
            prop_assert!(s.prove(&TxId(Hash([0xee; 32]))).is_none());
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = DagSnapshot::decode_bytes(&data);
        }
    }
}
