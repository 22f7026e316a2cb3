//! 32-byte hashes and domain-separated hashing.
//!
//! Every hash the protocol computes over a structure goes through [`tagged_hash`] (or the
//! streaming [`TaggedHasher`]) with a [`DomainTag`] naming the structure and its version, e.g.
//! `b"itc/pbft/prepare/v1"`. The tag is length-prefixed, so no tag is a prefix of another's
//! input and a header can never be mistaken for a transaction with the same bytes.

use core::fmt;

use sha3::{Digest, Keccak256, Sha3_256};

use crate::encoding::{Decode, DecodeError, Encode, Reader, Writer};

/// A 32-byte digest (Keccak-256 unless stated otherwise).
///
/// A newtype, not a `[u8; 32]`, so a hash cannot be confused with a key or a nonce.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The all-zero hash, used as "no parent" for genesis and as the empty sparse-tree node.
    pub const ZERO: Hash = Hash([0u8; 32]);

    /// Wraps raw bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Hash(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Number of leading zero bits (used by proof-of-work difficulty checks).
    pub fn leading_zero_bits(&self) -> u32 {
        let mut n = 0;
        for b in self.0 {
            if b == 0 {
                n += 8;
            } else {
                return n + b.leading_zeros();
            }
        }
        n
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<[u8; 32]> for Hash {
    fn from(b: [u8; 32]) -> Self {
        Hash(b)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hash(")?;
        crate::hex::write_hex(f, &self.0)?;
        f.write_str(")")
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::hex::write_hex(f, &self.0)
    }
}

impl Encode for Hash {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        w.write(&self.0);
    }
    fn encoded_len(&self) -> usize {
        32
    }
}

impl Decode for Hash {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Hash(r.read_array()?))
    }
}

/// Keccak-256 (the pre-standard SHA-3 used by Ethereum) of `data`.
pub fn keccak256(data: &[u8]) -> Hash {
    Hash(Keccak256::digest(data).into())
}

/// SHA3-256 (FIPS 202) of `data`.
pub fn sha3_256(data: &[u8]) -> Hash {
    Hash(Sha3_256::digest(data).into())
}

/// The name of a hashed or signed structure and its protocol version.
///
/// Tags are at most 255 bytes (checked at compile time when used in a `const`) and by
/// convention read `itc/<crate>/<structure>/v<N>`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DomainTag(&'static [u8]);

impl DomainTag {
    /// Creates a tag. Use it in a `const` so the length check happens at compile time.
    pub const fn new(tag: &'static [u8]) -> Self {
        assert!(tag.len() <= 255, "domain tags are at most 255 bytes");
        DomainTag(tag)
    }

    /// The tag bytes.
    pub const fn as_bytes(&self) -> &'static [u8] {
        self.0
    }
}

/// Streaming domain-separated Keccak-256: `Keccak256(len(tag) ‖ tag ‖ data…)`.
///
/// ```
/// use itc_crypto::{tagged_hash, DomainTag, TaggedHasher};
/// const T: DomainTag = DomainTag::new(b"itc/doc/v1");
/// let mut h = TaggedHasher::new(T);
/// h.update(b"ab");
/// h.update(b"c");
/// assert_eq!(h.finalize(), tagged_hash(T, b"abc"));
/// ```
#[derive(Clone)]
pub struct TaggedHasher(Keccak256);

impl TaggedHasher {
    /// Starts a hash under `tag`.
    pub fn new(tag: DomainTag) -> Self {
        let mut k = Keccak256::new();
        // `DomainTag::new` guarantees len <= 255.
        k.update([tag.0.len() as u8]);
        k.update(tag.0);
        TaggedHasher(k)
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) -> &mut Self {
        self.0.update(data);
        self
    }

    /// Feeds the canonical encoding of a value, without allocating.
    pub fn update_encoded<T: Encode + ?Sized>(&mut self, value: &T) -> &mut Self {
        value.encode(self);
        self
    }

    /// Finishes the hash.
    pub fn finalize(self) -> Hash {
        Hash(self.0.finalize().into())
    }
}

impl Writer for TaggedHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// Domain-separated Keccak-256 of `data` under `tag`.
///
/// Never inlined: the hasher's state (~350 bytes) then lives in a frame of its own, gone
/// before the caller goes on to verify a signature over the digest (a device's deepest stack).
#[inline(never)]
pub fn tagged_hash(tag: DomainTag, data: &[u8]) -> Hash {
    let mut h = TaggedHasher::new(tag);
    h.update(data);
    h.finalize()
}

/// Domain-separated hash of a value's canonical encoding (no allocation).
///
/// Never inlined: the hasher's state (~350 bytes) then lives in a frame of its own, gone
/// before the caller goes on to verify a signature over the digest (a device's deepest stack).
#[inline(never)]
pub fn hash_encoded<T: Encode + ?Sized>(tag: DomainTag, value: &T) -> Hash {
    let mut h = TaggedHasher::new(tag);
    h.update_encoded(value);
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> [u8; 32] {
        crate::hex::decode_hex(s).unwrap()
    }

    #[test]
    fn keccak256_known_answers() {
        assert_eq!(
            keccak256(b"").0,
            h("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
        );
        assert_eq!(
            keccak256(b"abc").0,
            h("4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45")
        );
    }

    #[test]
    fn sha3_256_known_answers() {
        assert_eq!(
            sha3_256(b"").0,
            h("a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a")
        );
        assert_eq!(
            sha3_256(b"abc").0,
            h("3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532")
        );
    }

    #[test]
    fn tags_separate_domains() {
        const A: DomainTag = DomainTag::new(b"itc/test/a/v1");
        const B: DomainTag = DomainTag::new(b"itc/test/b/v1");
        assert_ne!(tagged_hash(A, b"x"), tagged_hash(B, b"x"));
        // Moving a byte between tag and data changes the hash (length prefix).
        const AB: DomainTag = DomainTag::new(b"ab");
        const A1: DomainTag = DomainTag::new(b"a");
        assert_ne!(tagged_hash(AB, b"c"), tagged_hash(A1, b"bc"));
        // The tagged hash is not the plain hash.
        assert_ne!(tagged_hash(A, b"x"), keccak256(b"x"));
    }

    #[test]
    fn leading_zero_bits_counts() {
        let mut b = [0u8; 32];
        assert_eq!(Hash(b).leading_zero_bits(), 256);
        b[0] = 0x80;
        assert_eq!(Hash(b).leading_zero_bits(), 0);
        b[0] = 0;
        b[1] = 0x10;
        assert_eq!(Hash(b).leading_zero_bits(), 11);
    }

    #[test]
    fn display_is_hex() {
        let mut b = [0u8; 32];
        b[0] = 0xab;
        #[cfg(feature = "std")]
        {
            use std::format;
            assert!(format!("{}", Hash(b)).starts_with("ab00"));
            assert!(format!("{:?}", Hash(b)).starts_with("Hash(ab00"));
        }
    }
}
