//! Bloom filter with keyed hashing.
//!
//! A standard (unblocked) Bloom filter of `m` bits and `k` probes, probes derived by enhanced
//! double hashing (Kirsch & Mitzenmacher 2006) from **one** keyed SipHash of the item
//! ([`SketchKey`]). Keyed, because with a public hash an adversary who chooses inputs can aim
//! them at the same bits and push the false-positive rate up at will; without the key they
//! cannot tell which bits an item sets. The false-positive rate therefore tracks the textbook
//! `(1 − e^{−kn/m})^k` (checked by a fixed-seed test to within 10 %).
//!
//! Filters merge by bitwise OR (set union) when their shapes match, and have one canonical
//! encoding (bits beyond `m` in the last word must be zero).
//!
//! ```
//! use itc_chaincode::bloom::BloomFilter;
//! use itc_chaincode::siphash::SketchKey;
//! let key = SketchKey::from_bytes([5u8; 16]);
//! let mut f = BloomFilter::for_capacity(100, 10).unwrap();
//! f.insert(&key, b"store-42");
//! assert!(f.contains(&key, b"store-42"));
//! assert!(!f.contains(&key, b"store-43")); // (with probability ≈ 99 %)
//! ```

use alloc::vec;
use alloc::vec::Vec;

use itc_crypto::encoding::{write_varint, Decode, DecodeError, Encode, Reader, Writer};

use crate::error::SketchError;
use crate::siphash::SketchKey;

/// Smallest filter, in bits.
pub const MIN_BITS: u32 = 64;
/// Largest filter, in bits (2 MiB).
pub const MAX_BITS: u32 = 1 << 24;
/// Most probes per item.
pub const MAX_HASHES: u8 = 16;
const WIRE_VERSION: u8 = 1;

/// A Bloom filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BloomFilter {
    bits: u32,
    hashes: u8,
    words: Vec<u64>,
}

impl BloomFilter {
    /// An empty filter of `bits` bits and `hashes` probes per item.
    pub fn new(bits: u32, hashes: u8) -> Result<Self, SketchError> {
        if !(MIN_BITS..=MAX_BITS).contains(&bits) {
            return Err(SketchError::BloomSizeOutOfRange { bits });
        }
        if hashes == 0 || hashes > MAX_HASHES {
            return Err(SketchError::BloomHashesOutOfRange { hashes });
        }
        Ok(BloomFilter {
            bits,
            hashes,
            words: vec![0u64; bits.div_ceil(64) as usize],
        })
    }

    /// A filter for `items` items at `bits_per_item` bits each, with the optimal probe count
    /// `k = round(bits_per_item · ln 2)` (integer arithmetic: ln 2 ≈ 693/1000).
    ///
    /// ```
    /// use itc_chaincode::bloom::BloomFilter;
    /// let f = BloomFilter::for_capacity(1000, 10).unwrap();
    /// assert_eq!((f.bits(), f.hashes()), (10_000, 7));
    /// ```
    pub fn for_capacity(items: u32, bits_per_item: u32) -> Result<Self, SketchError> {
        let bits = items.saturating_mul(bits_per_item).max(MIN_BITS);
        let k = (u64::from(bits_per_item) * 693 + 500) / 1000;
        let hashes = u8::try_from(k.clamp(1, u64::from(MAX_HASHES))).unwrap_or(MAX_HASHES);
        Self::new(bits, hashes)
    }

    /// Number of bits `m`.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// Number of probes `k`.
    pub fn hashes(&self) -> u8 {
        self.hashes
    }

    /// Number of set bits.
    pub fn count_ones(&self) -> u32 {
        self.words.iter().map(|w| w.count_ones()).sum()
    }

    #[inline]
    fn probes(&self, hash: u64) -> impl Iterator<Item = usize> {
        let m = u64::from(self.bits);
        let mut h1 = hash;
        let mut h2 = hash.rotate_left(32).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..self.hashes).map(move |i| {
            // Lemire's multiply-shift reduction to [0, m), then enhanced double hashing.
            let idx = ((u128::from(h1) * u128::from(m)) >> 64) as usize;
            h1 = h1.wrapping_add(h2);
            h2 = h2.wrapping_add(u64::from(i));
            idx
        })
    }

    /// Adds an item.
    #[inline]
    pub fn insert(&mut self, key: &SketchKey, item: &[u8]) {
        self.insert_hash(key.hash(item));
    }

    /// Adds an already keyed hash.
    #[inline]
    pub fn insert_hash(&mut self, hash: u64) {
        for idx in self.probes(hash) {
            if let Some(w) = self.words.get_mut(idx / 64) {
                *w |= 1 << (idx % 64);
            }
        }
    }

    /// Whether the item may be in the set (no false negatives; false positives at the rate above).
    #[inline]
    pub fn contains(&self, key: &SketchKey, item: &[u8]) -> bool {
        self.contains_hash(key.hash(item))
    }

    /// [`BloomFilter::contains`] for an already keyed hash.
    #[inline]
    pub fn contains_hash(&self, hash: u64) -> bool {
        self.probes(hash).all(|idx| {
            self.words
                .get(idx / 64)
                .is_some_and(|w| w & (1 << (idx % 64)) != 0)
        })
    }

    /// Set union (bitwise OR). Fails, leaving `self` unchanged, if the shapes differ.
    pub fn merge(&mut self, other: &BloomFilter) -> Result<(), SketchError> {
        if other.bits != self.bits || other.hashes != self.hashes {
            return Err(SketchError::BloomShapeMismatch);
        }
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= *b;
        }
        Ok(())
    }
}

impl Encode for BloomFilter {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        w.write(&[WIRE_VERSION, self.hashes]);
        write_varint(w, u64::from(self.bits));
        for word in &self.words {
            word.encode(w);
        }
    }
}

impl Decode for BloomFilter {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.read_u8()?;
        if version != WIRE_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                type_name: "BloomFilter",
                found: u64::from(version),
            });
        }
        let hashes = r.read_u8()?;
        let bits = r.read_len(MAX_BITS as usize)? as u32;
        let mut f = BloomFilter::new(bits, hashes).map_err(|_| DecodeError::NonCanonical {
            type_name: "BloomFilter",
        })?;
        let n = f.words.len();
        if r.remaining() < n * 8 {
            return Err(DecodeError::UnexpectedEnd {
                needed: n * 8,
                remaining: r.remaining(),
            });
        }
        for w in f.words.iter_mut() {
            *w = u64::decode(r)?;
        }
        let tail = bits % 64;
        if tail != 0 && f.words.last().is_some_and(|w| w >> tail != 0) {
            return Err(DecodeError::NonCanonical {
                type_name: "BloomFilter",
            });
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> SketchKey {
        SketchKey::from_bytes([77; 16])
    }

    fn measured_fpr(bits: u32, hashes: u8, items: u32, queries: u32) -> (f64, f64) {
        let mut f = BloomFilter::new(bits, hashes).unwrap();
        for i in 0..items {
            f.insert(&key(), &i.to_le_bytes());
        }
        for i in 0..items {
            assert!(f.contains(&key(), &i.to_le_bytes()), "false negative");
        }
        let fp = (0..queries)
            .filter(|i| f.contains(&key(), &(u64::from(*i) | 1 << 40).to_le_bytes()))
            .count();
        let k = f64::from(hashes);
        let theory = (1.0 - (-k * f64::from(items) / f64::from(bits)).exp()).powf(k);
        (fp as f64 / f64::from(queries), theory)
    }

    #[test]
    fn false_positive_rate_within_ten_percent_of_theory() {
        // (bits, k, items): optimal load for 10 bits/item, and an overloaded 4 bits/item.
        for (bits, k, items, queries) in [
            (1u32 << 17, 7u8, 13_107u32, 400_000u32),
            (1 << 16, 3, 16_384, 100_000),
            (100_000, 5, 10_000, 200_000),
        ] {
            let (fpr, theory) = measured_fpr(bits, k, items, queries);
            assert!(
                (fpr / theory - 1.0).abs() < 0.10,
                "m={bits} k={k} n={items}: measured {fpr:.5} vs theory {theory:.5}"
            );
        }
    }

    #[test]
    fn shapes_are_validated() {
        assert_eq!(
            BloomFilter::new(10, 3),
            Err(SketchError::BloomSizeOutOfRange { bits: 10 })
        );
        assert_eq!(
            BloomFilter::new(64, 0),
            Err(SketchError::BloomHashesOutOfRange { hashes: 0 })
        );
        let mut a = BloomFilter::new(128, 3).unwrap();
        let b = BloomFilter::new(128, 4).unwrap();
        assert_eq!(a.merge(&b), Err(SketchError::BloomShapeMismatch));
    }

    #[test]
    fn stray_tail_bits_are_non_canonical() {
        let f = BloomFilter::new(100, 2).unwrap();
        let mut bytes = f.encode_to_vec();
        let last = bytes.len() - 1;
        bytes[last - 7] = 0x80; // top bit of the last word: bit 127 ≥ m
        assert!(BloomFilter::decode_bytes(&bytes).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn round_trip_and_union(
            bits in 64u32..2000, k in 1u8..8,
            a in proptest::collection::vec(any::<u32>(), 0..100),
            b in proptest::collection::vec(any::<u32>(), 0..100),
        ) {
            let mut fa = BloomFilter::new(bits, k).unwrap();
            let mut fb = BloomFilter::new(bits, k).unwrap();
            for i in &a { fa.insert(&key(), &i.to_le_bytes()); }
            for i in &b { fb.insert(&key(), &i.to_le_bytes()); }
            prop_assert_eq!(BloomFilter::decode_bytes(&fa.encode_to_vec()).unwrap(), fa.clone());
            let mut ab = fa.clone(); ab.merge(&fb).unwrap();
            let mut ba = fb.clone(); ba.merge(&fa).unwrap();
            prop_assert_eq!(&ab, &ba);
            for i in a.iter().chain(&b) { prop_assert!(ab.contains(&key(), &i.to_le_bytes())); }
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = BloomFilter::decode_bytes(&data);
        }
    }
}
