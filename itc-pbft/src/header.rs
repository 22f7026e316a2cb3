//! Block headers: what a commit certificate signs and what a light client keeps.
//!
//! A [`BlockHeader`] is fixed-size (184 bytes encoded) and needs no allocator, so a light
//! client or a device can verify it on a Cortex-M4. Its fields, in encoding order:
//!
//! | field | meaning |
//! |---|---|
//! | `height` | 1 for the first block after genesis; genesis itself is height 0 |
//! | `view` | the PBFT view in which the block was **first proposed** (a block re-proposed after a view change keeps its header, so every honest replica commits the same header hash) |
//! | `previous` | [`BlockHeader::hash`] of the header at `height − 1` |
//! | `batch_root` | [`itc_crypto::merkle`] root over the batch's requests, leaf `i` = the canonical encoding of request `i` (see [`batch_leaf`]) |
//! | `state_root` | the application's state root **after executing every block of height ≤ `height − 1`** (the same lag as Tendermint's `app_hash`: block `h` cannot contain the result of executing itself) |
//! | `validator_set_hash` | [`ValidatorSet::hash`](itc_crypto::ValidatorSet::hash) of the set whose quorum certifies *this* block |
//! | `next_validator_set_hash` | hash of the set that certifies block `height + 1` |
//! | `timestamp_ms` | the proposing primary's clock, strictly increasing along the chain |
//!
//! ## Validator-set changes (the rule light clients follow)
//!
//! The application decides changes; the replica learns them through an explicit input after
//! executing a block. Sets change only at **epoch boundaries**, the heights that are multiples
//! of the checkpoint interval `K`:
//!
//! * For every header that is not the last block of an epoch, `next_validator_set_hash ==
//!   validator_set_hash`.
//! * The header at a boundary height `b` (a multiple of `K`) names the next epoch's set in
//!   `next_validator_set_hash`: the last change the application reported after executing a block
//!   of height `< b` and `≥` the previous boundary, or the current set if there was none.
//! * The header at `b + 1` has `validator_set_hash` equal to header `b`'s
//!   `next_validator_set_hash`.
//!
//! So a light client holding a trusted header and its set follows the chain by checking each
//! certificate against the set named by the header before it — see [`BlockHeader::follows`].
//!
//! ```
//! use itc_pbft::header::BlockHeader;
//! use itc_crypto::Hash;
//!
//! let genesis = BlockHeader::genesis(Hash::ZERO, Hash([7; 32]), 1_700_000_000_000);
//! let mut next = BlockHeader {
//!     height: 1,
//!     view: 0,
//!     previous: genesis.hash(),
//!     batch_root: itc_crypto::merkle::empty_root(),
//!     state_root: genesis.state_root,
//!     validator_set_hash: genesis.next_validator_set_hash,
//!     next_validator_set_hash: genesis.next_validator_set_hash,
//!     timestamp_ms: genesis.timestamp_ms + 1,
//! };
//! assert!(next.follows(&genesis).is_ok());
//! next.previous = Hash::ZERO;
//! assert!(next.follows(&genesis).is_err());
//! ```

use itc_crypto::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::hash::{hash_encoded, DomainTag, Hash};

/// Tag of [`BlockHeader::hash`].
pub const HEADER_TAG: DomainTag = DomainTag::new(b"itc/pbft/header/v1");

/// Encoded size of a header in bytes.
pub const HEADER_LEN: usize = 8 + 8 + 5 * 32 + 8;

/// The header of a main-chain block. See the [module docs](self) for each field's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct BlockHeader {
    /// Height of the block (genesis = 0).
    pub height: u64,
    /// View in which the block was first proposed.
    pub view: u64,
    /// Hash of the header at `height − 1` ([`Hash::ZERO`] for genesis).
    pub previous: Hash,
    /// Merkle root of the batch (leaves: [`batch_leaf`] encodings of the requests).
    pub batch_root: Hash,
    /// Application state root after executing all blocks of height ≤ `height − 1`.
    pub state_root: Hash,
    /// Hash of the validator set that certifies this block.
    pub validator_set_hash: Hash,
    /// Hash of the validator set that certifies the next block.
    pub next_validator_set_hash: Hash,
    /// Proposer's clock in milliseconds; strictly increasing along the chain.
    pub timestamp_ms: u64,
}

/// Why a header does not extend another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// `height` is not the parent's height plus one.
    #[error("height {found} does not follow {parent}")]
    HeightGap {
        /// The parent's height.
        parent: u64,
        /// The child's height.
        found: u64,
    },
    /// `previous` is not the parent's hash.
    #[error("previous-header hash does not match the parent")]
    WrongPrevious,
    /// `validator_set_hash` is not the set the parent named as next.
    #[error("validator set hash is not the one the parent named")]
    WrongValidatorSet,
    /// `next_validator_set_hash` changes the set away from an epoch boundary.
    #[error("validator set changes at height {height}, which is not an epoch boundary")]
    SetChangeOffBoundary {
        /// Height of the offending header.
        height: u64,
    },
    /// The timestamp does not increase.
    #[error("timestamp does not increase")]
    TimestampNotIncreasing,
    /// The view number decreased along the chain.
    #[error("view number decreases")]
    ViewDecreases,
}

impl BlockHeader {
    /// The genesis header (height 0): no parent, an empty batch, the initial application
    /// state root, and the initial validator set as both current and next set.
    pub fn genesis(state_root: Hash, validator_set_hash: Hash, timestamp_ms: u64) -> Self {
        BlockHeader {
            height: 0,
            view: 0,
            previous: Hash::ZERO,
            batch_root: itc_crypto::merkle::empty_root(),
            state_root,
            validator_set_hash,
            next_validator_set_hash: validator_set_hash,
            timestamp_ms,
        }
    }

    /// The header's identity: domain-separated Keccak-256 of its canonical encoding.
    pub fn hash(&self) -> Hash {
        hash_encoded(HEADER_TAG, self)
    }

    /// True if `height` is the last block of an epoch for checkpoint interval `k`
    /// (the only heights whose `next_validator_set_hash` may differ from the current one).
    pub fn is_epoch_boundary(height: u64, k: u64) -> bool {
        k != 0 && height != 0 && height % k == 0
    }

    /// Checks the chain rules between this header and its parent that need nothing but the
    /// two headers: height, parent hash, validator-set hand-over, monotonic time and views.
    ///
    /// Whether a set change happens at an epoch boundary needs the checkpoint interval; use
    /// [`BlockHeader::follows_with_interval`] for that (full nodes and light clients that know
    /// `K` should).
    pub fn follows(&self, parent: &BlockHeader) -> Result<(), ChainError> {
        self.extends(parent, &parent.hash())
    }

    /// [`BlockHeader::follows`] for a caller that already knows `parent_hash` (saves hashing
    /// the parent again).
    pub fn extends(&self, parent: &BlockHeader, parent_hash: &Hash) -> Result<(), ChainError> {
        if parent.height.checked_add(1) != Some(self.height) {
            return Err(ChainError::HeightGap {
                parent: parent.height,
                found: self.height,
            });
        }
        if self.previous != *parent_hash {
            return Err(ChainError::WrongPrevious);
        }
        if self.validator_set_hash != parent.next_validator_set_hash {
            return Err(ChainError::WrongValidatorSet);
        }
        if self.timestamp_ms <= parent.timestamp_ms {
            return Err(ChainError::TimestampNotIncreasing);
        }
        if self.view < parent.view {
            return Err(ChainError::ViewDecreases);
        }
        Ok(())
    }

    /// [`BlockHeader::follows`] plus the epoch rule for checkpoint interval `k`: the set may
    /// only change in the header of an epoch's last block.
    pub fn follows_with_interval(&self, parent: &BlockHeader, k: u64) -> Result<(), ChainError> {
        self.follows(parent)?;
        if self.next_validator_set_hash != self.validator_set_hash
            && !Self::is_epoch_boundary(self.height, k)
        {
            return Err(ChainError::SetChangeOffBoundary {
                height: self.height,
            });
        }
        Ok(())
    }
}

impl Encode for BlockHeader {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.height.encode(w);
        self.view.encode(w);
        self.previous.encode(w);
        self.batch_root.encode(w);
        self.state_root.encode(w);
        self.validator_set_hash.encode(w);
        self.next_validator_set_hash.encode(w);
        self.timestamp_ms.encode(w);
    }
    fn encoded_len(&self) -> usize {
        HEADER_LEN
    }
}

impl Decode for BlockHeader {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BlockHeader {
            height: u64::decode(r)?,
            view: u64::decode(r)?,
            previous: Hash::decode(r)?,
            batch_root: Hash::decode(r)?,
            state_root: Hash::decode(r)?,
            validator_set_hash: Hash::decode(r)?,
            next_validator_set_hash: Hash::decode(r)?,
            timestamp_ms: u64::decode(r)?,
        })
    }
}

/// The Merkle leaf bytes of one request in a batch, written into `w`:
/// `client (u64 BE) ‖ request_id (u64 BE) ‖ varint(len(payload)) ‖ payload` — exactly the
/// canonical encoding of a [`Request`](crate::request::Request). A light client proves that a
/// transaction is in block `h` with an [`itc_crypto::InclusionProof`] against
/// `header.batch_root` and `itc_crypto::merkle::leaf_hash(leaf bytes)`.
///
/// ```
/// use itc_pbft::header::batch_leaf;
/// let mut leaf = Vec::new();
/// batch_leaf(&mut leaf, 7, 1, b"tx");
/// assert_eq!(leaf, [0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 1, 2, b't', b'x']);
/// ```
pub fn batch_leaf<W: Writer + ?Sized>(w: &mut W, client: u64, request_id: u64, payload: &[u8]) {
    client.encode(w);
    request_id.encode(w);
    itc_crypto::encoding::write_bytes(w, payload);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header(seed: u8) -> BlockHeader {
        BlockHeader {
            height: u64::from(seed) + 1,
            view: 3,
            previous: Hash([seed; 32]),
            batch_root: Hash([1; 32]),
            state_root: Hash([2; 32]),
            validator_set_hash: Hash([3; 32]),
            next_validator_set_hash: Hash([3; 32]),
            timestamp_ms: 99,
        }
    }

    #[test]
    fn encoding_is_fixed_size_and_round_trips() {
        let h = header(5);
        let bytes = h.encode_to_vec();
        assert_eq!(bytes.len(), HEADER_LEN);
        assert_eq!(h.encoded_len(), HEADER_LEN);
        assert_eq!(BlockHeader::decode_bytes(&bytes).unwrap(), h);
        assert!(matches!(
            BlockHeader::decode_bytes(&bytes[..HEADER_LEN - 1]),
            Err(DecodeError::UnexpectedEnd { .. })
        ));
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            BlockHeader::decode_bytes(&long),
            Err(DecodeError::TrailingBytes { count: 1 })
        );
    }

    #[test]
    fn chain_rules() {
        let g = BlockHeader::genesis(Hash([9; 32]), Hash([3; 32]), 10);
        let mut c = BlockHeader {
            height: 1,
            view: 0,
            previous: g.hash(),
            batch_root: Hash::ZERO,
            state_root: g.state_root,
            validator_set_hash: Hash([3; 32]),
            next_validator_set_hash: Hash([3; 32]),
            timestamp_ms: 11,
        };
        assert_eq!(c.follows_with_interval(&g, 4), Ok(()));
        let mut bad = c;
        bad.height = 2;
        assert!(matches!(bad.follows(&g), Err(ChainError::HeightGap { .. })));
        bad = c;
        bad.timestamp_ms = 10;
        assert_eq!(bad.follows(&g), Err(ChainError::TimestampNotIncreasing));
        bad = c;
        bad.validator_set_hash = Hash([4; 32]);
        assert_eq!(bad.follows(&g), Err(ChainError::WrongValidatorSet));
        c.next_validator_set_hash = Hash([5; 32]);
        assert_eq!(
            c.follows_with_interval(&g, 4),
            Err(ChainError::SetChangeOffBoundary { height: 1 })
        );
        assert_eq!(c.follows_with_interval(&g, 1), Ok(()));
        assert!(!BlockHeader::is_epoch_boundary(0, 4));
        assert!(BlockHeader::is_epoch_boundary(8, 4));
        assert!(!BlockHeader::is_epoch_boundary(8, 0));
    }

    proptest! {
        #[test]
        fn any_field_change_changes_the_hash(seed in any::<u8>(), byte in 0usize..HEADER_LEN, bit in 0u8..8) {
            let h = header(seed);
            let mut bytes = h.encode_to_vec();
            bytes[byte] ^= 1 << bit;
            let other = BlockHeader::decode_bytes(&bytes).unwrap();
            prop_assert_ne!(other.hash(), h.hash());
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = BlockHeader::decode_bytes(&data);
        }
    }
}
