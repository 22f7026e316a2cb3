//! Batch verification of BIP340 signatures: many signatures for much less than the price of
//! checking each one.
//!
//! A replica checks O(n) signatures per block, a light client 2f+1 per header, a node catching
//! up a backlog of DAG transactions thousands. [`verify_all`] checks a whole batch with one
//! multi-scalar multiplication (random linear combination, coefficients derived from a hash of
//! the batch — see [`equation`](self#soundness) below) and, when the batch fails, finds the bad
//! signatures by bisection so the caller learns *which* ones, exactly as single verification
//! would have told it.
//!
//! * [`verify_all`] / [`verify_all_with`] — a slice (or anything implementing [`SignedItems`])
//!   in, `Ok(())` or [`BatchError::InvalidSignatures`] with the first bad index and the count.
//! * [`invalid_indices`] — every bad index, lazily, in increasing order, without allocating.
//! * [`BatchVerifier`] (`alloc`) and [`FixedBatchVerifier`] (fixed capacity, no allocator) —
//!   builders for code that collects signatures as messages arrive.
//! * [`VerifiedCache`] and [`verify_all_cached`] — never verify the same bytes twice.
//! * [`Backend`] — the k256 batch equation (default, the only one on firmware), k256 one by
//!   one, or libsecp256k1 (feature `libsecp256k1`, hosts only).
//!
//! Messages are raw bytes as in BIP340; protocol signatures are over 32-byte domain-separated
//! digests ([`BatchItem`]), but [`ItemRef`] takes any message so the BIP340 test vectors run
//! through the same code.
//!
//! # Soundness
//!
//! All valid signatures always pass (the equation is exact). A batch containing an invalid
//! signature passes with probability at most 2⁻¹²⁸: the 128-bit coefficients are a hash of
//! *every* key, message and signature in the batch, fixed only after the adversary has
//! committed to all of them, so no RNG is needed and the verdict is reproducible. Details in
//! the `equation` module.
//!
//! # Memory
//!
//! With `alloc`, one equation covers up to 128 signatures (≈320 KiB of scratch, freed on
//! return). Without it, equations of 4 signatures run in a fixed ≈11 KiB stack buffer (on top
//! of the items themselves).
//!
//! ```
//! use itc_crypto::batch::{self, BatchError, BatchItem};
//! use itc_crypto::{keccak256, SecretKey, Signer};
//!
//! let digest = keccak256(b"block 7");
//! let mut items: Vec<BatchItem> = (1u8..=5)
//!     .map(|i| {
//!         let key = SecretKey::from_bytes(&[i; 32]).unwrap();
//!         BatchItem::new(key.public_key(), digest, key.sign_digest(&digest).unwrap())
//!     })
//!     .collect();
//! assert_eq!(batch::verify_all(&items[..]), Ok(()));
//!
//! items[3].signature.0[63] ^= 1; // corrupt one
//! assert_eq!(
//!     batch::verify_all(&items[..]),
//!     Err(BatchError::InvalidSignatures { first: 3, count: 1 })
//! );
//! ```

mod cache;
mod engine;
mod equation;
mod glv;
mod group;
#[cfg(feature = "libsecp256k1")]
mod libsecp;
mod msm;

pub use cache::{VerifiedCache, VERIFIED_SIGNATURE};

use crate::hash::Hash;
use crate::keys::{PublicKey, Signature};
use engine::{Bisect, Engine};

/// Why a batch did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// Some signatures do not verify: exactly the ones single verification would reject.
    #[error("{count} signature(s) do not verify; the first is at index {first}")]
    InvalidSignatures {
        /// Index of the first bad signature.
        first: usize,
        /// How many are bad.
        count: usize,
    },
    /// The batch failed as a whole but no single item did: the [`SignedItems`] source
    /// returned different items on different calls. Nothing is accepted.
    #[error("batch failed but no single signature did: the item source is inconsistent")]
    InconsistentSource,
    /// A [`FixedBatchVerifier`] is full.
    #[error("the batch holds at most {capacity} signatures")]
    CapacityExceeded {
        /// Its capacity.
        capacity: usize,
    },
}

/// How signatures are checked. All backends give the same verdicts on every input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// The batch equation on k256's field arithmetic (default; firmware's only choice).
    Batch,
    /// k256's single verification, one by one: the reference the others are tested against.
    Single,
    /// libsecp256k1 single verification, one by one (feature `libsecp256k1`).
    #[cfg(feature = "libsecp256k1")]
    Libsecp256k1,
}

impl Backend {
    /// What [`verify_all`] uses: the k256 batch equation. From a batch of 16 on it needs fewer
    /// instructions per signature than even libsecp256k1's single verification (≈350 k vs
    /// ≈430 k at 64; k256 single is ≈1,040 k), so it stays the default with the feature on.
    #[cfg(not(fuzzing))]
    pub const DEFAULT: Backend = Backend::Batch;
    /// Fuzz builds (`--cfg fuzzing`, set only by cargo-fuzz) verify one by one so every check
    /// goes through the cheap deterministic stand-in in [`PublicKey::verify_raw`](crate::PublicKey::verify_raw).
    #[cfg(fuzzing)]
    pub const DEFAULT: Backend = Backend::Single;
}

impl Default for Backend {
    fn default() -> Self {
        Backend::DEFAULT
    }
}

/// One signature to check, borrowed: a key, the exact signed bytes, a signature.
///
/// ```
/// use itc_crypto::batch::{self, ItemRef};
/// use itc_crypto::SecretKey;
///
/// let key = SecretKey::from_bytes(&[9u8; 32]).unwrap();
/// let (pk, msg) = (key.public_key(), b"any length, as BIP340 allows".as_slice());
/// let sig = key.sign_raw(msg, &[0u8; 32]).unwrap();
/// let items = [ItemRef { public_key: &pk, message: msg, signature: &sig }];
/// assert!(batch::verify_all(&items[..]).is_ok());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ItemRef<'a> {
    /// The signer.
    pub public_key: &'a PublicKey,
    /// The signed message (for protocol signatures, the 32-byte tagged digest).
    pub message: &'a [u8],
    /// The signature.
    pub signature: &'a Signature,
}

/// An owned protocol signature to check: a key, a 32-byte digest, a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchItem {
    /// The signer.
    pub public_key: PublicKey,
    /// The signed digest (already domain-separated).
    pub digest: Hash,
    /// The signature.
    pub signature: Signature,
}

impl BatchItem {
    /// Bundles the three parts.
    ///
    /// ```
    /// use itc_crypto::batch::BatchItem;
    /// use itc_crypto::{keccak256, SecretKey, Signer};
    /// let key = SecretKey::from_bytes(&[1u8; 32]).unwrap();
    /// let d = keccak256(b"m");
    /// let item = BatchItem::new(key.public_key(), d, key.sign_digest(&d).unwrap());
    /// assert_eq!(item.digest, d);
    /// ```
    pub const fn new(public_key: PublicKey, digest: Hash, signature: Signature) -> Self {
        BatchItem {
            public_key,
            digest,
            signature,
        }
    }
}

/// Something that can be viewed as one [`ItemRef`].
pub trait AsItem {
    /// The borrowed view.
    fn as_item(&self) -> ItemRef<'_>;
}

impl AsItem for ItemRef<'_> {
    fn as_item(&self) -> ItemRef<'_> {
        *self
    }
}

impl AsItem for BatchItem {
    fn as_item(&self) -> ItemRef<'_> {
        ItemRef {
            public_key: &self.public_key,
            message: self.digest.as_bytes(),
            signature: &self.signature,
        }
    }
}

impl AsItem for (PublicKey, Hash, Signature) {
    fn as_item(&self) -> ItemRef<'_> {
        ItemRef {
            public_key: &self.0,
            message: self.1.as_bytes(),
            signature: &self.2,
        }
    }
}

/// An indexable batch of signatures. Implemented for slices, arrays, `Vec` and `heapless::Vec`
/// of [`AsItem`] types; implement it on your own structure (say, a certificate and its
/// validator set) to batch-verify it without copying. Must return the same item for the same
/// index for the duration of one call.
///
/// ```
/// use itc_crypto::batch::{self, ItemRef, SignedItems};
/// use itc_crypto::{keccak256, Hash, PublicKey, SecretKey, Signature, Signer};
///
/// /// Votes that all sign the same digest, stored without repeating it.
/// struct Votes { digest: Hash, votes: Vec<(PublicKey, Signature)> }
/// impl SignedItems for Votes {
///     fn count(&self) -> usize { self.votes.len() }
///     fn item(&self, i: usize) -> Option<ItemRef<'_>> {
///         let (pk, sig) = self.votes.get(i)?;
///         Some(ItemRef { public_key: pk, message: self.digest.as_bytes(), signature: sig })
///     }
/// }
/// let digest = keccak256(b"header 12");
/// let votes = (1u8..=4).map(|i| {
///     let k = SecretKey::from_bytes(&[i; 32]).unwrap();
///     (k.public_key(), k.sign_digest(&digest).unwrap())
/// }).collect();
/// assert!(batch::verify_all(&Votes { digest, votes }).is_ok());
/// ```
pub trait SignedItems {
    /// Number of items.
    fn count(&self) -> usize;
    /// Item `index`, or `None` past the end (a `None` below `count` counts as invalid).
    fn item(&self, index: usize) -> Option<ItemRef<'_>>;
}

impl<T: AsItem> SignedItems for [T] {
    fn count(&self) -> usize {
        self.len()
    }
    fn item(&self, index: usize) -> Option<ItemRef<'_>> {
        self.get(index).map(AsItem::as_item)
    }
}

impl<T: AsItem, const N: usize> SignedItems for [T; N] {
    fn count(&self) -> usize {
        N
    }
    fn item(&self, index: usize) -> Option<ItemRef<'_>> {
        self.get(index).map(AsItem::as_item)
    }
}

#[cfg(feature = "alloc")]
impl<T: AsItem> SignedItems for alloc::vec::Vec<T> {
    fn count(&self) -> usize {
        self.len()
    }
    fn item(&self, index: usize) -> Option<ItemRef<'_>> {
        self.get(index).map(AsItem::as_item)
    }
}

impl<T: AsItem, const N: usize> SignedItems for heapless::Vec<T, N> {
    fn count(&self) -> usize {
        self.len()
    }
    fn item(&self, index: usize) -> Option<ItemRef<'_>> {
        self.get(index).map(AsItem::as_item)
    }
}

/// The engine's view of a batch: [`SignedItems`] plus items already known to be valid.
pub(crate) trait Source {
    fn count(&self) -> usize;
    fn item(&self, index: usize) -> Option<ItemRef<'_>>;
    /// Whether item `index` is already known to verify (and so left out of the equation).
    fn known_valid(&self, _index: usize) -> bool {
        false
    }
}

impl<S: SignedItems + ?Sized> Source for S {
    fn count(&self) -> usize {
        SignedItems::count(self)
    }
    fn item(&self, index: usize) -> Option<ItemRef<'_>> {
        SignedItems::item(self, index)
    }
}

/// A batch seen through a cache: remembered items count as valid.
struct Cached<'a, S: ?Sized, const N: usize> {
    items: &'a S,
    cache: &'a VerifiedCache<N>,
}

impl<S: SignedItems + ?Sized, const N: usize> Source for Cached<'_, S, N> {
    fn count(&self) -> usize {
        self.items.count()
    }
    fn item(&self, index: usize) -> Option<ItemRef<'_>> {
        self.items.item(index)
    }
    fn known_valid(&self, index: usize) -> bool {
        self.items
            .item(index)
            .is_some_and(|it| self.cache.contains_key(&VerifiedCache::<N>::key(&it)))
    }
}

/// Verifies every signature with the default [`Backend`]; on failure reports the first bad
/// index and how many are bad (the same set single verification rejects).
///
/// See the [module documentation](self) for an example.
///
/// Without the `alloc` feature (firmware) this checks signatures one at a time: the batch
/// equation's fixed workspace (~12 KiB) would otherwise sit in the caller's stack frame, and a
/// device verifies only a handful of certificate signatures. Verdicts are identical; callers
/// that can afford the stack use [`FixedBatchVerifier`] or [`verify_all_with`] explicitly.
pub fn verify_all<S: SignedItems + ?Sized>(items: &S) -> Result<(), BatchError> {
    #[cfg(not(feature = "alloc"))]
    {
        verify_one_by_one(items)
    }
    #[cfg(feature = "alloc")]
    {
        verify_all_with(Backend::DEFAULT, items)
    }
}

/// Single verification of every item, with a stack frame of a few hundred bytes.
#[cfg_attr(feature = "alloc", allow(dead_code))]
fn verify_one_by_one<S: SignedItems + ?Sized>(items: &S) -> Result<(), BatchError> {
    let mut first = None;
    let mut count = 0usize;
    for i in 0..items.count() {
        let ok = items
            .item(i)
            .is_some_and(|it| it.public_key.verify_raw(it.message, it.signature).is_ok());
        if !ok {
            first.get_or_insert(i);
            count += 1;
        }
    }
    match first {
        None => Ok(()),
        Some(first) => Err(BatchError::InvalidSignatures { first, count }),
    }
}

/// [`verify_all`] with an explicit backend.
///
/// ```
/// use itc_crypto::batch::{self, Backend, BatchItem};
/// use itc_crypto::{keccak256, SecretKey, Signer};
/// let d = keccak256(b"x");
/// let k = SecretKey::from_bytes(&[3u8; 32]).unwrap();
/// let items = [BatchItem::new(k.public_key(), d, k.sign_digest(&d).unwrap())];
/// assert!(batch::verify_all_with(Backend::Single, &items).is_ok());
/// assert!(batch::verify_all_with(Backend::Batch, &items).is_ok());
/// ```
pub fn verify_all_with<S: SignedItems + ?Sized>(
    backend: Backend,
    items: &S,
) -> Result<(), BatchError> {
    run(Engine::new(items, backend))
}

fn run<S: Source + ?Sized>(mut engine: Engine<'_, S>) -> Result<(), BatchError> {
    let n = engine.len();
    let whole_known_bad = if engine.is_batch() {
        if engine.range_ok(0..n) {
            return Ok(());
        }
        true
    } else {
        false
    };
    let mut bad = Bisect::new(engine, whole_known_bad);
    match bad.next() {
        None if whole_known_bad => Err(BatchError::InconsistentSource),
        None => Ok(()),
        Some(first) => Err(BatchError::InvalidSignatures {
            first,
            count: 1 + bad.count(),
        }),
    }
}

/// Every index whose signature does not verify, in increasing order, computed lazily by
/// bisection (no allocation). Useful when the good items of a backlog should still be
/// accepted.
///
/// ```
/// use itc_crypto::batch::{self, BatchItem};
/// use itc_crypto::{keccak256, SecretKey, Signer};
/// let d = keccak256(b"tx");
/// let mut items: Vec<BatchItem> = (1u8..=8).map(|i| {
///     let k = SecretKey::from_bytes(&[i; 32]).unwrap();
///     BatchItem::new(k.public_key(), d, k.sign_digest(&d).unwrap())
/// }).collect();
/// items[2].digest = keccak256(b"other");
/// items[6].signature.0[0] ^= 0x40;
/// assert_eq!(batch::invalid_indices(&items[..]).collect::<Vec<_>>(), vec![2, 6]);
/// ```
pub fn invalid_indices<S: SignedItems + ?Sized>(items: &S) -> InvalidIndices<'_, S> {
    invalid_indices_with(Backend::DEFAULT, items)
}

/// [`invalid_indices`] with an explicit backend.
///
/// ```
/// use itc_crypto::batch::{self, Backend, BatchItem};
/// let items: [BatchItem; 0] = [];
/// assert_eq!(batch::invalid_indices_with(Backend::Single, &items).count(), 0);
/// ```
pub fn invalid_indices_with<S: SignedItems + ?Sized>(
    backend: Backend,
    items: &S,
) -> InvalidIndices<'_, S> {
    InvalidIndices {
        inner: Bisect::new(Engine::new(items, backend), false),
    }
}

/// Iterator returned by [`invalid_indices`].
pub struct InvalidIndices<'a, S: SignedItems + ?Sized> {
    inner: Bisect<'a, S>,
}

impl<S: SignedItems + ?Sized> Iterator for InvalidIndices<'_, S> {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        self.inner.next()
    }
}

impl<S: SignedItems + ?Sized> core::fmt::Debug for InvalidIndices<'_, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("InvalidIndices")
    }
}

/// [`verify_all`], skipping items the cache already holds and remembering the batch when it
/// all verifies. A failing batch leaves the cache unchanged.
///
/// ```
/// use itc_crypto::batch::{self, BatchItem, VerifiedCache};
/// use itc_crypto::{keccak256, SecretKey, Signer};
/// let d = keccak256(b"commit 9");
/// let items: Vec<BatchItem> = (1u8..=3).map(|i| {
///     let k = SecretKey::from_bytes(&[i; 32]).unwrap();
///     BatchItem::new(k.public_key(), d, k.sign_digest(&d).unwrap())
/// }).collect();
/// let mut cache = VerifiedCache::<64>::new();
/// assert!(batch::verify_all_cached(&items[..], &mut cache).is_ok());
/// assert_eq!(cache.len(), 3);
/// // The same certificate again: three lookups, no curve arithmetic.
/// assert!(batch::verify_all_cached(&items[..], &mut cache).is_ok());
/// ```
pub fn verify_all_cached<S: SignedItems + ?Sized, const N: usize>(
    items: &S,
    cache: &mut VerifiedCache<N>,
) -> Result<(), BatchError> {
    let view = Cached {
        items,
        cache: &*cache,
    };
    let n = items.count();
    if (0..n).all(|i| view.known_valid(i)) {
        return Ok(());
    }
    run(Engine::new(&view, Backend::DEFAULT))?;
    for i in 0..n {
        if let Some(item) = items.item(i) {
            cache.insert_key(VerifiedCache::<N>::key(&item));
        }
    }
    Ok(())
}

/// Collects protocol signatures as they arrive and verifies them together (`alloc`).
///
/// ```
/// use itc_crypto::batch::BatchVerifier;
/// use itc_crypto::{keccak256, SecretKey, Signer};
/// let mut v = BatchVerifier::new();
/// for i in 1u8..=3 {
///     let k = SecretKey::from_bytes(&[i; 32]).unwrap();
///     let d = keccak256(&[i]);
///     v.push(k.public_key(), d, k.sign_digest(&d).unwrap());
/// }
/// assert_eq!(v.len(), 3);
/// assert!(v.verify().is_ok());
/// ```
#[cfg(feature = "alloc")]
#[derive(Debug, Clone, Default)]
pub struct BatchVerifier {
    items: alloc::vec::Vec<BatchItem>,
}

#[cfg(feature = "alloc")]
impl BatchVerifier {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty batch with room for `n` signatures.
    pub fn with_capacity(n: usize) -> Self {
        BatchVerifier {
            items: alloc::vec::Vec::with_capacity(n),
        }
    }

    /// Adds a signature over `digest`.
    pub fn push(&mut self, public_key: PublicKey, digest: Hash, signature: Signature) {
        self.items
            .push(BatchItem::new(public_key, digest, signature));
    }

    /// Number of signatures collected.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing was collected.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The collected items, in push order (indices in errors refer to this order).
    pub fn items(&self) -> &[BatchItem] {
        &self.items
    }

    /// Verifies everything collected (see [`verify_all`]).
    pub fn verify(&self) -> Result<(), BatchError> {
        verify_all(&self.items[..])
    }

    /// The indices that do not verify (see [`invalid_indices`]).
    pub fn invalid_indices(&self) -> InvalidIndices<'_, [BatchItem]> {
        invalid_indices(&self.items[..])
    }

    /// Empties the batch, keeping its memory.
    pub fn clear(&mut self) {
        self.items.clear();
    }
}

/// Collects up to `N` protocol signatures with no allocator (firmware, SPV on devices).
///
/// ```
/// use itc_crypto::batch::{BatchError, FixedBatchVerifier};
/// use itc_crypto::{keccak256, SecretKey, Signer};
/// let mut v = FixedBatchVerifier::<2>::new();
/// let d = keccak256(b"header");
/// let k = SecretKey::from_bytes(&[4u8; 32]).unwrap();
/// let sig = k.sign_digest(&d).unwrap();
/// v.push(k.public_key(), d, sig).unwrap();
/// v.push(k.public_key(), d, sig).unwrap();
/// assert_eq!(v.push(k.public_key(), d, sig), Err(BatchError::CapacityExceeded { capacity: 2 }));
/// assert!(v.verify().is_ok());
/// ```
#[derive(Debug, Clone, Default)]
pub struct FixedBatchVerifier<const N: usize> {
    items: heapless::Vec<BatchItem, N>,
}

impl<const N: usize> FixedBatchVerifier<N> {
    /// An empty batch.
    pub const fn new() -> Self {
        FixedBatchVerifier {
            items: heapless::Vec::new(),
        }
    }

    /// Adds a signature over `digest`; a full batch is left unchanged.
    pub fn push(
        &mut self,
        public_key: PublicKey,
        digest: Hash,
        signature: Signature,
    ) -> Result<(), BatchError> {
        self.items
            .push(BatchItem::new(public_key, digest, signature))
            .map_err(|_| BatchError::CapacityExceeded { capacity: N })
    }

    /// Number of signatures collected.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing was collected.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The collected items, in push order.
    pub fn items(&self) -> &[BatchItem] {
        &self.items
    }

    /// Verifies everything collected (see [`verify_all`]).
    pub fn verify(&self) -> Result<(), BatchError> {
        verify_all(&self.items[..])
    }

    /// The indices that do not verify (see [`invalid_indices`]).
    pub fn invalid_indices(&self) -> InvalidIndices<'_, [BatchItem]> {
        invalid_indices(&self.items[..])
    }

    /// Empties the batch.
    pub fn clear(&mut self) {
        self.items.clear();
    }
}

#[cfg(test)]
mod one_by_one_tests {
    use super::*;
    use crate::{keccak256, SecretKey, Signer};

    /// The firmware path gives the same verdicts as the batch path.
    #[test]
    fn one_by_one_matches_batch_verdicts() {
        let d = keccak256(b"cert");
        let mut items: alloc::vec::Vec<BatchItem> = (1..=5u8)
            .map(|i| {
                let k = SecretKey::from_bytes(&[i; 32]).unwrap();
                BatchItem::new(k.public_key(), d, k.sign_digest(&d).unwrap())
            })
            .collect();
        assert_eq!(verify_one_by_one(&items[..]), Ok(()));
        items[1].signature.0[5] ^= 1;
        items[3].signature.0[40] ^= 1;
        let expected = Err(BatchError::InvalidSignatures { first: 1, count: 2 });
        assert_eq!(verify_one_by_one(&items[..]), expected);
        assert_eq!(verify_all_with(Backend::Batch, &items[..]), expected);
    }
}
