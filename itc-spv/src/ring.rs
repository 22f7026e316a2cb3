//! The last `K` trusted headers, in a fixed-size ring.
//!
//! Recent headers are what proofs are usually checked against (a transaction in the last few
//! blocks, the state at the tip) and what a conflicting header is compared with. Older ones
//! live on only as leaves of the [accumulator](crate::mmr).

use itc_crypto::Hash;
use itc_pbft::BlockHeader;

/// A header the client has verified (certificate, hand-over, linkage) or proven through its
/// accumulator. Only this crate constructs one, so holding a `VerifiedHeader` *is* the proof
/// that its roots can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedHeader {
    header: BlockHeader,
    hash: Hash,
}

impl VerifiedHeader {
    /// Marks a header as verified; crate-internal so no caller can skip verification.
    pub(crate) fn new(header: BlockHeader) -> Self {
        VerifiedHeader {
            hash: header.hash(),
            header,
        }
    }

    /// The header.
    pub fn header(&self) -> &BlockHeader {
        &self.header
    }

    /// Its hash (cached).
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// Its height.
    pub fn height(&self) -> u64 {
        self.header.height
    }
}

/// Up to `K` verified headers in ascending height (not necessarily consecutive: skipping
/// leaves gaps). Holding more than `K` keeps the `K` highest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeaderRing<const K: usize> {
    /// Sorted by height, distinct heights. `K` is small (tens), so shifting is cheap.
    entries: heapless::Vec<VerifiedHeader, K>,
}

impl<const K: usize> Default for HeaderRing<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const K: usize> HeaderRing<K> {
    /// An empty ring.
    pub(crate) const fn new() -> Self {
        HeaderRing {
            entries: heapless::Vec::new(),
        }
    }

    /// Adds a header, keeping heights sorted and the `K` highest. A header at a height already
    /// held, or below all of a full ring, is ignored.
    pub(crate) fn insert(&mut self, header: VerifiedHeader) {
        let pos = match self
            .entries
            .binary_search_by_key(&header.height(), VerifiedHeader::height)
        {
            Ok(_) => return,
            Err(pos) => pos,
        };
        if self.entries.is_full() {
            if pos == 0 {
                return;
            }
            self.entries.remove(0);
            // Everything shifted down by one.
            let _ = self.entries.insert(pos - 1, header);
        } else {
            let _ = self.entries.insert(pos, header);
        }
    }

    /// The newest header.
    #[cfg(test)]
    pub(crate) fn tip(&self) -> Option<&VerifiedHeader> {
        self.entries.last()
    }

    /// The oldest header still held.
    pub(crate) fn oldest(&self) -> Option<&VerifiedHeader> {
        self.entries.first()
    }

    /// The header at `height`, if held.
    pub(crate) fn get(&self, height: u64) -> Option<&VerifiedHeader> {
        self.entries
            .binary_search_by_key(&height, VerifiedHeader::height)
            .ok()
            .and_then(|i| self.entries.get(i))
    }

    /// The lowest held header at or above `height`.
    pub(crate) fn first_at_or_above(&self, height: u64) -> Option<&VerifiedHeader> {
        let i = self
            .entries
            .binary_search_by_key(&height, VerifiedHeader::height)
            .unwrap_or_else(|i| i);
        self.entries.get(i)
    }

    /// Number of headers held.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Headers from oldest to newest.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &VerifiedHeader> {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vh(height: u64) -> VerifiedHeader {
        let mut h = BlockHeader::genesis(Hash::ZERO, Hash::ZERO, 0);
        h.height = height;
        VerifiedHeader::new(h)
    }

    #[test]
    fn ring_keeps_the_newest_k() {
        let mut r = HeaderRing::<3>::new();
        assert!(r.tip().is_none());
        for h in [1, 2, 5, 9] {
            r.insert(vh(h));
        }
        assert_eq!(r.len(), 3);
        assert_eq!(r.oldest().unwrap().height(), 2);
        assert_eq!(r.tip().unwrap().height(), 9);
        assert!(r.get(1).is_none());
        assert_eq!(r.get(5).unwrap().height(), 5);
        assert_eq!(r.first_at_or_above(3).unwrap().height(), 5);
        assert!(r.first_at_or_above(10).is_none());
        let heights = |r: &HeaderRing<3>| -> alloc::vec::Vec<u64> {
            r.iter().map(VerifiedHeader::height).collect()
        };
        assert_eq!(heights(&r), [2, 5, 9]);
        // Back-filled headers slot in by height; the lowest falls out; too-old ones are ignored.
        r.insert(vh(7));
        assert_eq!(heights(&r), [5, 7, 9]);
        r.insert(vh(3));
        assert_eq!(heights(&r), [5, 7, 9]);
        r.insert(vh(7));
        assert_eq!(heights(&r), [5, 7, 9]);
    }
}
