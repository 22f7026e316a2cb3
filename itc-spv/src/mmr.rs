//! The header accumulator: a Merkle Mountain Range of header hashes.
//!
//! A light client forgets old headers (it keeps a ring of the last `K`), yet a device may later
//! need to check a proof against a block it accepted long ago. The accumulator is what lets it:
//! every accepted header is appended as a leaf, the client keeps only the **peaks** — one hash per
//! set bit of the leaf count, so at most 64 and about log₂ n — and a full node proves an old
//! header with the ~log₂ n siblings from that header up to its peak.
//!
//! * Leaf `i` is the header at height `i` ([`header_leaf`] binds both), so the leaf count is
//!   always "the next height to accept" and a proof names the height it is about.
//! * Leaves, inner nodes and the bagged root use three domain tags; an inner node can never be
//!   passed off as a leaf.
//! * Sizes are **leaf counts**, never node positions. Every `u64` is a valid leaf count, its peak
//!   count is `count.count_ones()`, and the path length of a proof is implied by `(index,
//!   count)`, so a size cannot be non-canonical on the wire. Where peaks come in from outside
//!   ([`Mmr::from_parts`]) a mismatch is [`MmrError::NonCanonicalSize`], and all index arithmetic
//!   is checked (an MMR verifier elsewhere accepted a non-canonical size and then panicked on an
//!   overflow, grovedb#974; here both are typed errors).
//!
//! ```
//! use itc_crypto::Hash;
//! use itc_spv::mmr::{header_leaf, Mmr};
//! # #[cfg(feature = "alloc")] {
//! use itc_spv::mmr::MmrStore;
//!
//! let mut client = Mmr::new(); // what a device keeps: peaks only
//! let mut server = MmrStore::new(); // what a full node keeps: every node
//! for height in 0..1000u64 {
//!     let leaf = header_leaf(height, &Hash([height as u8; 32]));
//!     client.append(leaf).unwrap();
//!     server.append(leaf).unwrap();
//! }
//! assert!(client.peaks().len() <= 10);
//! // Much later, prove the header at height 7 against the client's accumulator.
//! let proof = server.prove(7, client.leaf_count()).unwrap();
//! assert!(client.verify(&proof, &header_leaf(7, &Hash([7; 32]))).is_ok());
//! assert!(client.verify(&proof, &header_leaf(7, &Hash([8; 32]))).is_err());
//! # }
//! ```

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

use itc_crypto::encoding::{write_varint, Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::hash::{DomainTag, Hash, TaggedHasher};
use itc_crypto::Blame;

/// Tag of an accumulator leaf: `H(height ‖ header hash)`.
pub const MMR_LEAF_TAG: DomainTag = DomainTag::new(b"itc/spv/mmr-leaf/v1");
/// Tag of an inner node of a mountain.
pub const MMR_NODE_TAG: DomainTag = DomainTag::new(b"itc/spv/mmr-node/v1");
/// Tag of the bagged root (leaf count ‖ peaks).
pub const MMR_ROOT_TAG: DomainTag = DomainTag::new(b"itc/spv/mmr-root/v1");

/// Most peaks an accumulator can have: one per bit of a `u64` leaf count.
pub const MAX_PEAKS: usize = 64;
/// Longest proof path: the tallest mountain a `u64` count allows is 2⁶³ leaves.
pub const MAX_MMR_PATH: usize = 63;

/// Why the accumulator refused an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MmrError {
    /// The number of peaks is not the popcount of the leaf count: no accumulator has that shape.
    #[error("{peaks} peaks cannot describe {leaf_count} leaves")]
    NonCanonicalSize {
        /// Leaf count claimed.
        leaf_count: u64,
        /// Peaks offered.
        peaks: usize,
    },
    /// Appending would take the leaf count past `u64::MAX`.
    #[error("leaf counter would overflow")]
    CounterOverflow,
    /// The proof's leaf index is not below its leaf count.
    #[error("leaf {index} is outside an accumulator of {leaf_count} leaves")]
    LeafOutOfRange {
        /// Index claimed.
        index: u64,
        /// Leaf count claimed.
        leaf_count: u64,
    },
    /// The proof was made for an accumulator of another size than ours.
    #[error("proof is for {proof} leaves, the accumulator holds {accumulator}")]
    SizeMismatch {
        /// Size the proof was made for.
        proof: u64,
        /// Our size.
        accumulator: u64,
    },
    /// The path does not have the length its index and count imply.
    #[error("proof path has {found} hashes, expected {expected}")]
    WrongPathLength {
        /// Implied length.
        expected: usize,
        /// Length present.
        found: usize,
    },
    /// The path recomputes to a peak we do not hold.
    #[error("recomputed peak does not match")]
    PeakMismatch,
}

impl MmrError {
    /// Who must act: a proof made for an accumulator size we have since outgrown is a race
    /// ([`Blame::Ignorable`]: ask again); every other refusal is a malformed or forged input
    /// ([`Blame::Peer`]).
    pub fn blame(&self) -> Blame {
        match self {
            MmrError::SizeMismatch { .. } => Blame::Ignorable,
            MmrError::NonCanonicalSize { .. }
            | MmrError::CounterOverflow
            | MmrError::LeafOutOfRange { .. }
            | MmrError::WrongPathLength { .. }
            | MmrError::PeakMismatch => Blame::Peer,
        }
    }
}

/// The accumulator leaf for the header at `height` with hash `header_hash`.
pub fn header_leaf(height: u64, header_hash: &Hash) -> Hash {
    let mut h = TaggedHasher::new(MMR_LEAF_TAG);
    h.update(&height.to_be_bytes()).update(&header_hash.0);
    h.finalize()
}

/// An inner node of a mountain.
pub fn mmr_node(left: &Hash, right: &Hash) -> Hash {
    let mut h = TaggedHasher::new(MMR_NODE_TAG);
    h.update(&left.0).update(&right.0);
    h.finalize()
}

/// Where leaf `index` lives in an accumulator of `leaf_count` leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mountain {
    /// Which peak (0 = leftmost, tallest).
    peak: usize,
    /// Height of the mountain (its path length).
    height: usize,
    /// Index of the leaf within the mountain.
    offset: u64,
}

/// Finds the mountain holding `index`: mountains are the set bits of `leaf_count`, tallest first.
fn locate(index: u64, leaf_count: u64) -> Result<Mountain, MmrError> {
    if index >= leaf_count {
        return Err(MmrError::LeafOutOfRange { index, leaf_count });
    }
    let mut start: u64 = 0;
    let mut peak = 0usize;
    for height in (0..64usize).rev() {
        let size = 1u64 << height;
        if leaf_count & size == 0 {
            continue;
        }
        // `start + size <= leaf_count`: the sum of distinct set bits of `leaf_count`.
        let end = start
            .checked_add(size)
            .ok_or(MmrError::LeafOutOfRange { index, leaf_count })?;
        if index < end {
            return Ok(Mountain {
                peak,
                height,
                offset: index.saturating_sub(start),
            });
        }
        start = end;
        peak = peak.saturating_add(1);
    }
    // Unreachable for index < leaf_count; answered with the same typed error regardless.
    Err(MmrError::LeafOutOfRange { index, leaf_count })
}

/// Number of path hashes a proof for leaf `index` of `leaf_count` carries.
pub fn mmr_path_len(index: u64, leaf_count: u64) -> Result<usize, MmrError> {
    locate(index, leaf_count).map(|m| m.height)
}

/// The accumulator a light client keeps: leaf count and peaks, no allocator, ≤ 2 KiB.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mmr {
    leaf_count: u64,
    peaks: heapless::Vec<Hash, MAX_PEAKS>,
}

impl Mmr {
    /// The empty accumulator.
    pub const fn new() -> Self {
        Mmr {
            leaf_count: 0,
            peaks: heapless::Vec::new(),
        }
    }

    /// Rebuilds an accumulator from a leaf count and its peaks (tallest first), e.g. shipped
    /// in firmware with a checkpoint. The peak count must be `leaf_count.count_ones()`.
    pub fn from_parts(leaf_count: u64, peaks: &[Hash]) -> Result<Self, MmrError> {
        let err = MmrError::NonCanonicalSize {
            leaf_count,
            peaks: peaks.len(),
        };
        if peaks.len() != leaf_count.count_ones() as usize {
            return Err(err);
        }
        let peaks = heapless::Vec::from_slice(peaks).map_err(|()| err)?;
        Ok(Mmr { leaf_count, peaks })
    }

    /// Number of leaves appended so far.
    pub fn leaf_count(&self) -> u64 {
        self.leaf_count
    }

    /// The peaks, tallest (leftmost) first.
    pub fn peaks(&self) -> &[Hash] {
        &self.peaks
    }

    /// Appends a leaf (see [`header_leaf`]). Amortised two hashes; never more than 64.
    pub fn append(&mut self, leaf: Hash) -> Result<(), MmrError> {
        let next = self
            .leaf_count
            .checked_add(1)
            .ok_or(MmrError::CounterOverflow)?;
        // Every trailing one bit of the old count is a mountain of the same height as the one
        // being carried: merge them, as in binary addition.
        let mut carry = leaf;
        let mut merges = self.leaf_count.trailing_ones();
        let mut peaks = self.peaks.clone();
        while merges > 0 {
            let left = peaks.pop().ok_or(MmrError::NonCanonicalSize {
                leaf_count: self.leaf_count,
                peaks: self.peaks.len(),
            })?;
            carry = mmr_node(&left, &carry);
            merges -= 1;
        }
        peaks.push(carry).map_err(|_| MmrError::NonCanonicalSize {
            leaf_count: self.leaf_count,
            peaks: self.peaks.len(),
        })?;
        self.peaks = peaks;
        self.leaf_count = next;
        Ok(())
    }

    /// One hash committing to the whole accumulator: `H(leaf count ‖ peaks)`.
    pub fn root(&self) -> Hash {
        let mut h = TaggedHasher::new(MMR_ROOT_TAG);
        h.update(&self.leaf_count.to_be_bytes());
        for p in &self.peaks {
            h.update(&p.0);
        }
        h.finalize()
    }

    /// Checks that `leaf` is leaf `proof.leaf_index` of this accumulator.
    pub fn verify(&self, proof: &MmrProof, leaf: &Hash) -> Result<(), MmrError> {
        if proof.leaf_count != self.leaf_count {
            return Err(MmrError::SizeMismatch {
                proof: proof.leaf_count,
                accumulator: self.leaf_count,
            });
        }
        let peak = proof.compute_peak(leaf)?;
        match self.peaks.get(proof.mountain()?.peak) {
            Some(p) if *p == peak => Ok(()),
            _ => Err(MmrError::PeakMismatch),
        }
    }
}

impl Encode for Mmr {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        write_varint(w, self.leaf_count);
        // The peak count is implied by the leaf count and not repeated.
        for p in &self.peaks {
            p.encode(w);
        }
    }
}

impl Decode for Mmr {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let leaf_count = r.read_varint()?;
        let n = leaf_count.count_ones() as usize;
        let mut peaks: heapless::Vec<Hash, MAX_PEAKS> = heapless::Vec::new();
        for _ in 0..n {
            peaks
                .push(Hash::decode(r)?)
                .map_err(|_| DecodeError::NonCanonical { type_name: "Mmr" })?;
        }
        Ok(Mmr { leaf_count, peaks })
    }
}

/// Proof that a leaf sits at `leaf_index` of an accumulator of `leaf_count` leaves: the
/// siblings from the leaf up to its mountain's peak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MmrProof {
    /// Position of the leaf (for headers: the height).
    pub leaf_index: u64,
    /// Size of the accumulator the proof is for.
    pub leaf_count: u64,
    /// Siblings, leaf level first.
    pub path: heapless::Vec<Hash, MAX_MMR_PATH>,
}

impl MmrProof {
    fn mountain(&self) -> Result<Mountain, MmrError> {
        locate(self.leaf_index, self.leaf_count)
    }

    /// The peak this proof leads to from `leaf`.
    pub fn compute_peak(&self, leaf: &Hash) -> Result<Hash, MmrError> {
        let m = self.mountain()?;
        if self.path.len() != m.height {
            return Err(MmrError::WrongPathLength {
                expected: m.height,
                found: self.path.len(),
            });
        }
        let mut acc = *leaf;
        for (level, sibling) in self.path.iter().enumerate() {
            acc = if (m.offset >> level) & 1 == 1 {
                mmr_node(sibling, &acc)
            } else {
                mmr_node(&acc, sibling)
            };
        }
        Ok(acc)
    }
}

impl Encode for MmrProof {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        write_varint(w, self.leaf_index);
        write_varint(w, self.leaf_count);
        for h in &self.path {
            h.encode(w);
        }
    }
}

impl Decode for MmrProof {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        const NAME: &str = "MmrProof";
        let leaf_index = r.read_varint()?;
        let leaf_count = r.read_varint()?;
        let n = mmr_path_len(leaf_index, leaf_count)
            .map_err(|_| DecodeError::NonCanonical { type_name: NAME })?;
        if n.saturating_mul(32) > r.remaining() {
            return Err(DecodeError::UnexpectedEnd {
                needed: n.saturating_mul(32),
                remaining: r.remaining(),
            });
        }
        let mut path = heapless::Vec::new();
        for _ in 0..n {
            path.push(Hash::decode(r)?)
                .map_err(|_| DecodeError::NonCanonical { type_name: NAME })?;
        }
        Ok(MmrProof {
            leaf_index,
            leaf_count,
            path,
        })
    }
}

/// The full node's accumulator: every node, by level, so it can prove any leaf against any
/// size the client has reached (older sizes are prefixes of the same node arrays).
#[cfg(feature = "alloc")]
#[derive(Debug, Clone, Default)]
pub struct MmrStore {
    /// `levels[h][j]` is the node over leaves `j·2ʰ .. (j+1)·2ʰ`, present once complete.
    levels: Vec<Vec<Hash>>,
    leaf_count: u64,
}

#[cfg(feature = "alloc")]
impl MmrStore {
    /// The empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves.
    pub fn leaf_count(&self) -> u64 {
        self.leaf_count
    }

    /// Appends a leaf, completing every mountain it closes.
    pub fn append(&mut self, leaf: Hash) -> Result<(), MmrError> {
        let next = self
            .leaf_count
            .checked_add(1)
            .ok_or(MmrError::CounterOverflow)?;
        let mut node = leaf;
        let mut level = 0usize;
        loop {
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            let Some(row) = self.levels.get_mut(level) else {
                return Err(MmrError::CounterOverflow);
            };
            row.push(node);
            // A row of even length just completed a pair: build the parent.
            if row.len() % 2 != 0 {
                break;
            }
            let (Some(l), Some(r)) = (row.get(row.len() - 2), row.last()) else {
                break;
            };
            node = mmr_node(l, r);
            level += 1;
        }
        self.leaf_count = next;
        Ok(())
    }

    /// The peaks-only accumulator of the first `leaf_count` leaves.
    pub fn accumulator_at(&self, leaf_count: u64) -> Result<Mmr, MmrError> {
        if leaf_count > self.leaf_count {
            return Err(MmrError::SizeMismatch {
                proof: leaf_count,
                accumulator: self.leaf_count,
            });
        }
        let mut peaks: heapless::Vec<Hash, MAX_PEAKS> = heapless::Vec::new();
        let mut start: u64 = 0;
        for height in (0..64usize).rev() {
            let size = 1u64 << height;
            if leaf_count & size == 0 {
                continue;
            }
            let peak = self.node(height, start >> height)?;
            peaks.push(peak).map_err(|_| MmrError::NonCanonicalSize {
                leaf_count,
                peaks: MAX_PEAKS + 1,
            })?;
            start = start.saturating_add(size);
        }
        Ok(Mmr { leaf_count, peaks })
    }

    fn node(&self, level: usize, index: u64) -> Result<Hash, MmrError> {
        let i = usize::try_from(index).map_err(|_| MmrError::CounterOverflow)?;
        self.levels
            .get(level)
            .and_then(|row| row.get(i))
            .copied()
            .ok_or(MmrError::LeafOutOfRange {
                index,
                leaf_count: self.leaf_count,
            })
    }

    /// Proof for leaf `index` against the accumulator of the first `leaf_count` leaves.
    pub fn prove(&self, index: u64, leaf_count: u64) -> Result<MmrProof, MmrError> {
        if leaf_count > self.leaf_count {
            return Err(MmrError::SizeMismatch {
                proof: leaf_count,
                accumulator: self.leaf_count,
            });
        }
        let m = locate(index, leaf_count)?;
        let mut path = heapless::Vec::new();
        for level in 0..m.height {
            let sibling = self.node(level, (index >> level) ^ 1)?;
            path.push(sibling).map_err(|_| MmrError::WrongPathLength {
                expected: m.height,
                found: MAX_MMR_PATH + 1,
            })?;
        }
        Ok(MmrProof {
            leaf_index: index,
            leaf_count,
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    fn leaf(i: u64) -> Hash {
        header_leaf(i, &Hash([(i % 251) as u8; 32]))
    }

    /// Reference: the peaks of `n` leaves computed from scratch, mountain by mountain.
    fn reference_peaks(n: u64) -> Vec<Hash> {
        fn top(lo: u64, size: u64) -> Hash {
            if size == 1 {
                leaf(lo)
            } else {
                mmr_node(&top(lo, size / 2), &top(lo + size / 2, size / 2))
            }
        }
        let mut out = vec![];
        let mut start = 0;
        for h in (0..64).rev() {
            if n & (1 << h) != 0 {
                out.push(top(start, 1 << h));
                start += 1 << h;
            }
        }
        out
    }

    #[test]
    fn peaks_match_reference_and_popcount() {
        let mut m = Mmr::new();
        let mut s = MmrStore::new();
        for i in 0..130u64 {
            assert_eq!(m.peaks(), &reference_peaks(i)[..]);
            assert_eq!(s.accumulator_at(i).unwrap(), m);
            m.append(leaf(i)).unwrap();
            s.append(leaf(i)).unwrap();
        }
        assert_eq!(m.peaks().len(), 130u64.count_ones() as usize);
    }

    #[test]
    fn non_canonical_sizes_and_overflow_are_typed() {
        let p = [Hash([1; 32])];
        assert_eq!(
            Mmr::from_parts(3, &p),
            Err(MmrError::NonCanonicalSize {
                leaf_count: 3,
                peaks: 1
            })
        );
        assert_eq!(
            Mmr::from_parts(0, &p),
            Err(MmrError::NonCanonicalSize {
                leaf_count: 0,
                peaks: 1
            })
        );
        let full = [Hash([2; 32]); 64];
        let mut m = Mmr::from_parts(u64::MAX, &full).unwrap();
        let before = m.clone();
        assert_eq!(m.append(leaf(0)), Err(MmrError::CounterOverflow));
        assert_eq!(m, before);
        // Proofs at the extreme end of the range are handled without overflow.
        assert_eq!(mmr_path_len(u64::MAX - 1, u64::MAX), Ok(0));
        assert_eq!(mmr_path_len(0, u64::MAX), Ok(63));
        assert_eq!(
            mmr_path_len(u64::MAX, u64::MAX),
            Err(MmrError::LeafOutOfRange {
                index: u64::MAX,
                leaf_count: u64::MAX
            })
        );
        // A proof naming the maximal count decodes only if it carries the full path.
        let mut buf = vec![];
        write_varint(&mut buf, 0);
        write_varint(&mut buf, u64::MAX);
        assert!(matches!(
            MmrProof::decode_bytes(&buf),
            Err(DecodeError::UnexpectedEnd { .. })
        ));
        // index >= count is not a proof.
        let mut buf = vec![];
        write_varint(&mut buf, 5);
        write_varint(&mut buf, 5);
        assert!(matches!(
            MmrProof::decode_bytes(&buf),
            Err(DecodeError::NonCanonical { .. })
        ));
    }

    #[test]
    fn wrong_proofs_are_rejected_by_kind() {
        let mut m = Mmr::new();
        let mut s = MmrStore::new();
        for i in 0..21 {
            m.append(leaf(i)).unwrap();
            s.append(leaf(i)).unwrap();
        }
        let p = s.prove(5, 21).unwrap();
        assert!(m.verify(&p, &leaf(5)).is_ok());
        assert_eq!(m.verify(&p, &leaf(6)), Err(MmrError::PeakMismatch));
        let mut flipped = p.clone();
        flipped.path[1].0[0] ^= 1;
        assert_eq!(m.verify(&flipped, &leaf(5)), Err(MmrError::PeakMismatch));
        let mut short = p.clone();
        short.path.pop();
        assert!(matches!(
            m.verify(&short, &leaf(5)),
            Err(MmrError::WrongPathLength { .. })
        ));
        let old = s.prove(5, 16).unwrap();
        assert_eq!(
            m.verify(&old, &leaf(5)),
            Err(MmrError::SizeMismatch {
                proof: 16,
                accumulator: 21
            })
        );
        assert!(s.prove(21, 21).is_err());
        assert!(s.prove(0, 22).is_err());
    }

    proptest! {
        #[test]
        fn every_leaf_proves_at_every_size(n in 1u64..300, pick in any::<prop::sample::Index>(), at in any::<prop::sample::Index>()) {
            let mut s = MmrStore::new();
            for i in 0..n {
                s.append(leaf(i)).unwrap();
            }
            let size = at.index(n as usize) as u64 + 1;
            let i = pick.index(size as usize) as u64;
            let acc = s.accumulator_at(size).unwrap();
            prop_assert_eq!(acc.peaks(), &reference_peaks(size)[..]);
            let p = s.prove(i, size).unwrap();
            prop_assert!(acc.verify(&p, &leaf(i)).is_ok());
            let bytes = p.encode_to_vec();
            prop_assert_eq!(MmrProof::decode_bytes(&bytes).unwrap(), p.clone());
            let acc_bytes = acc.encode_to_vec();
            prop_assert_eq!(Mmr::decode_bytes(&acc_bytes).unwrap(), acc.clone());
            for bit in 0..bytes.len() * 8 {
                let mut b = bytes.clone();
                b[bit / 8] ^= 1 << (bit % 8);
                let ok = MmrProof::decode_bytes(&b).map(|q| acc.verify(&q, &leaf(i)).is_ok()).unwrap_or(false);
                prop_assert!(!ok, "bit {} accepted", bit);
            }
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = MmrProof::decode_bytes(&data);
            let _ = Mmr::decode_bytes(&data);
        }
    }
}
