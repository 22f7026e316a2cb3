//! A bounded memory of signatures already verified, so bytes that come back — the same vote
//! inside a certificate and as a message, a DAG transaction gossiped twice — are not checked
//! again.

use super::ItemRef;
use crate::encoding::write_bytes;
use crate::hash::{DomainTag, Hash, TaggedHasher};

/// Tag of a cache key: the hash of one (public key, message, signature).
pub const VERIFIED_SIGNATURE: DomainTag = DomainTag::new(b"itc/crypto/verified-signature/v1");

/// Ways per set: a key may sit in any of 4 slots of its set.
const WAYS: usize = 4;

/// Remembers up to `N` verified signatures (`N` a positive multiple of 4; checked at compile
/// time). No allocation: `33·N` bytes inline, so `N` of a few thousand is fine on a host (box
/// it) and 16–64 on firmware.
///
/// The key is a Keccak-256 hash of the public key, the message and the signature, so a hit
/// means those exact bytes verified before (a false hit needs a hash collision). Entries only
/// enter through verification — [`VerifiedCache::verify`] or
/// [`verify_all_cached`](super::verify_all_cached) — so bad input can never plant one; at worst
/// an adversary evicts entries, which costs a re-verification, never a wrong answer. The
/// cache is 4-way set associative with round-robin eviction: lookups are O(1), and eviction
/// order depends only on the sequence of insertions (deterministic on every platform).
///
/// ```
/// use itc_crypto::batch::VerifiedCache;
/// use itc_crypto::{keccak256, SecretKey, Signer};
///
/// let key = SecretKey::from_bytes(&[5u8; 32]).unwrap();
/// let digest = keccak256(b"turn on lamp 3");
/// let sig = key.sign_digest(&digest).unwrap();
/// let mut cache = VerifiedCache::<16>::new();
/// assert!(cache.verify(&key.public_key(), &digest, &sig).is_ok()); // verified and remembered
/// assert!(cache.contains(&key.public_key(), digest.as_bytes(), &sig));
/// assert!(cache.verify(&key.public_key(), &digest, &sig).is_ok()); // a lookup, no curve math
/// ```
#[derive(Clone, Debug)]
pub struct VerifiedCache<const N: usize> {
    slots: [Option<Hash>; N],
    cursor: usize,
    len: usize,
}

impl<const N: usize> Default for VerifiedCache<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> VerifiedCache<N> {
    const SHAPE_OK: () = assert!(
        N > 0 && N % WAYS == 0,
        "VerifiedCache size must be a positive multiple of 4"
    );

    /// An empty cache.
    pub const fn new() -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::SHAPE_OK;
        VerifiedCache {
            slots: [None; N],
            cursor: 0,
            len: 0,
        }
    }

    /// The cache key of an item: `H(VERIFIED_SIGNATURE, pk ‖ len ‖ message ‖ signature)`.
    pub fn key(item: &ItemRef<'_>) -> Hash {
        let mut h = TaggedHasher::new(VERIFIED_SIGNATURE);
        h.update(item.public_key.as_bytes());
        write_bytes(&mut h, item.message);
        h.update(item.signature.as_bytes());
        h.finalize()
    }

    fn set_of(key: &Hash) -> core::ops::Range<usize> {
        let mut b = [0u8; 8];
        b.copy_from_slice(key.as_bytes().get(..8).unwrap_or(&[0u8; 8]));
        let sets = N / WAYS;
        let set = (u64::from_be_bytes(b) % sets.max(1) as u64) as usize;
        set * WAYS..set * WAYS + WAYS
    }

    pub(crate) fn contains_key(&self, key: &Hash) -> bool {
        self.slots
            .get(Self::set_of(key))
            .unwrap_or_default()
            .iter()
            .any(|s| s.as_ref() == Some(key))
    }

    pub(crate) fn insert_key(&mut self, key: Hash) {
        if self.contains_key(&key) {
            return;
        }
        let Some(set) = self.slots.get_mut(Self::set_of(&key)) else {
            return;
        };
        if let Some(empty) = set.iter_mut().find(|s| s.is_none()) {
            *empty = Some(key);
            self.len += 1;
            return;
        }
        if let Some(victim) = set.get_mut(self.cursor % WAYS) {
            *victim = Some(key);
        }
        self.cursor = self.cursor.wrapping_add(1);
    }

    /// Whether this exact (key, message, signature) was verified and is still remembered.
    pub fn contains(
        &self,
        public_key: &crate::PublicKey,
        message: &[u8],
        signature: &crate::Signature,
    ) -> bool {
        self.contains_key(&Self::key(&ItemRef {
            public_key,
            message,
            signature,
        }))
    }

    /// Verifies a protocol signature over `digest` unless it is already remembered; remembers
    /// it when it verifies. A failure is not remembered (bad input leaves the cache as it was).
    pub fn verify(
        &mut self,
        public_key: &crate::PublicKey,
        digest: &Hash,
        signature: &crate::Signature,
    ) -> Result<(), crate::CryptoError> {
        let key = Self::key(&ItemRef {
            public_key,
            message: digest.as_bytes(),
            signature,
        });
        if self.contains_key(&key) {
            return Ok(());
        }
        public_key.verify_digest(digest, signature)?;
        self.insert_key(key);
        Ok(())
    }

    /// How many signatures are remembered.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most signatures it can remember.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Forgets everything (e.g. when the validator set changes and old votes stop mattering).
    pub fn clear(&mut self) {
        self.slots = [None; N];
        self.cursor = 0;
        self.len = 0;
    }
}
