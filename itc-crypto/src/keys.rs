//! secp256k1 keys and BIP340 Schnorr signatures — the protocol's signature scheme.
//!
//! Every protocol signature is a BIP340 signature over a **domain-separated digest**:
//! `digest = tagged_hash(tag, message)`, so a signature made for one structure (a PBFT prepare)
//! can never be replayed as another (a ledger transfer). Public keys are x-only (32 bytes) and
//! signatures 64 bytes, as in BIP340.
//!
//! Signing is deterministic by default (BIP340 with an all-zero auxiliary value, which the BIP
//! allows): the same key and message give the same bytes on every platform. Integrators who
//! want side-channel hardening pass fresh randomness through [`SecretKey::sign_digest_with_aux`].

use core::fmt;

use k256::schnorr;
use zeroize::Zeroizing;

use crate::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use crate::error::CryptoError;
use crate::hash::{tagged_hash, DomainTag, Hash};

/// Something that can produce protocol signatures: an in-memory [`SecretKey`], a secure
/// element, an HSM. Implement [`Signer::sign_digest`]; [`Signer::sign`] adds the domain tag.
///
/// ```
/// use itc_crypto::{DomainTag, Hash, PublicKey, SecretKey, Signature, Signer, CryptoError};
///
/// /// A stand-in for a secure element that keeps the key behind an API.
/// struct SecureElement(SecretKey);
/// impl Signer for SecureElement {
///     fn public_key(&self) -> PublicKey { self.0.public_key() }
///     fn sign_digest(&self, d: &Hash) -> Result<Signature, CryptoError> { self.0.sign_digest(d) }
/// }
/// const T: DomainTag = DomainTag::new(b"itc/doc/v1");
/// let se = SecureElement(SecretKey::from_bytes(&[1u8; 32]).unwrap());
/// let sig = se.sign(T, b"msg").unwrap();
/// assert!(se.public_key().verify(T, b"msg", &sig).is_ok());
/// ```
pub trait Signer {
    /// The x-only public key whose signatures this signer produces.
    fn public_key(&self) -> PublicKey;

    /// Signs a 32-byte digest (already domain-separated by the caller).
    fn sign_digest(&self, digest: &Hash) -> Result<Signature, CryptoError>;

    /// Signs `message` under `tag`: BIP340 over `tagged_hash(tag, message)`.
    fn sign(&self, tag: DomainTag, message: &[u8]) -> Result<Signature, CryptoError> {
        self.sign_digest(&tagged_hash(tag, message))
    }
}

/// A secp256k1 secret key. Zeroized on drop; `Debug` never prints it.
#[derive(Clone)]
pub struct SecretKey {
    // k256's SigningKey zeroizes its scalar on drop.
    inner: schnorr::SigningKey,
}

impl SecretKey {
    /// Parses a 32-byte big-endian scalar; rejects zero and values ≥ the curve order.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, CryptoError> {
        schnorr::SigningKey::from_bytes(bytes)
            .map(|inner| SecretKey { inner })
            .map_err(|_| CryptoError::InvalidSecretKey)
    }

    /// Draws a fresh key from the caller's cryptographic RNG (there is no hidden RNG here).
    pub fn generate<R: k256::elliptic_curve::rand_core::CryptoRngCore + ?Sized>(
        rng: &mut R,
    ) -> Self {
        loop {
            let mut b = Zeroizing::new([0u8; 32]);
            rng.fill_bytes(b.as_mut());
            if let Ok(k) = Self::from_bytes(&b) {
                return k;
            }
        }
    }

    /// The secret scalar's bytes, wiped when the returned value is dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.inner.to_bytes().into())
    }

    /// The x-only public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_verifying_key(*self.inner.verifying_key())
    }

    /// BIP340-signs a digest with caller-supplied auxiliary randomness.
    pub fn sign_digest_with_aux(
        &self,
        digest: &Hash,
        aux_rand: &[u8; 32],
    ) -> Result<Signature, CryptoError> {
        self.sign_raw(digest.as_bytes(), aux_rand)
    }

    /// BIP340-signs an arbitrary-length raw message (BIP340 allows any length; the protocol
    /// itself always signs 32-byte tagged digests). Exposed for the BIP340 test vectors.
    pub fn sign_raw(&self, message: &[u8], aux_rand: &[u8; 32]) -> Result<Signature, CryptoError> {
        #[cfg(fuzzing)]
        {
            let _ = aux_rand;
            return Ok(fuzz_signature(self.public_key().as_bytes(), message));
        }
        #[cfg(not(fuzzing))]
        {
            self.inner
                .sign_raw(message, aux_rand)
                .map(|s| Signature(s.to_bytes()))
                .map_err(|_| CryptoError::SigningFailed)
        }
    }

    /// The secret as a k256 scalar, for sibling modules (ECDSA).
    pub(crate) fn nonzero_scalar(&self) -> k256::NonZeroScalar {
        *self.inner.as_nonzero_scalar()
    }
}

impl Signer for SecretKey {
    fn public_key(&self) -> PublicKey {
        SecretKey::public_key(self)
    }

    fn sign_digest(&self, digest: &Hash) -> Result<Signature, CryptoError> {
        self.sign_digest_with_aux(digest, &[0u8; 32])
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// An x-only secp256k1 public key (BIP340). Constructing one proves the bytes are the x
/// coordinate of a curve point, so a `PublicKey` value is always usable for verification.
#[derive(Clone, Copy)]
pub struct PublicKey {
    bytes: [u8; 32],
    key: schnorr::VerifyingKey,
}

impl PublicKey {
    /// Parses 32 bytes of x coordinate; rejects values that are not on the curve (or ≥ p).
    ///
    /// Never inlined: the square root's temporaries (~1 KiB) then live in a frame of their
    /// own, not in a caller's frame that stays live through a later signature check.
    #[inline(never)]
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, CryptoError> {
        let key =
            schnorr::VerifyingKey::from_bytes(bytes).map_err(|_| CryptoError::InvalidPublicKey)?;
        Ok(PublicKey { bytes: *bytes, key })
    }

    fn from_verifying_key(key: schnorr::VerifyingKey) -> Self {
        PublicKey {
            bytes: key.to_bytes().into(),
            key,
        }
    }

    /// The 32 x-only bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The curve point (even y), for batch verification and other arithmetic.
    pub fn as_affine(&self) -> &k256::AffinePoint {
        self.key.as_affine()
    }

    /// Verifies a protocol signature over `message` under `tag`.
    pub fn verify(
        &self,
        tag: DomainTag,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), CryptoError> {
        self.verify_digest(&tagged_hash(tag, message), signature)
    }

    /// Verifies a signature over a 32-byte digest.
    pub fn verify_digest(&self, digest: &Hash, signature: &Signature) -> Result<(), CryptoError> {
        self.verify_raw(digest.as_bytes(), signature)
    }

    /// Verifies a BIP340 signature over an arbitrary raw message.
    pub fn verify_raw(&self, message: &[u8], signature: &Signature) -> Result<(), CryptoError> {
        #[cfg(fuzzing)]
        return match fuzz_signature(&self.bytes, message) == *signature {
            true => Ok(()),
            false => Err(CryptoError::InvalidSignature),
        };
        #[cfg(not(fuzzing))]
        {
            let sig = schnorr::Signature::try_from(&signature.0[..])
                .map_err(|_| CryptoError::MalformedSignature)?;
            self.key
                .verify_raw(message, &sig)
                .map_err(|_| CryptoError::InvalidSignature)
        }
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}
impl Eq for PublicKey {}
impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.bytes.cmp(&other.bytes)
    }
}
impl core::hash::Hash for PublicKey {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PublicKey(")?;
        crate::hex::write_hex(f, &self.bytes)?;
        f.write_str(")")
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::hex::write_hex(f, &self.bytes)
    }
}

impl Encode for PublicKey {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        w.write(&self.bytes);
    }
    fn encoded_len(&self) -> usize {
        32
    }
}

impl Decode for PublicKey {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PublicKey::from_bytes(&r.read_array()?)?)
    }
}

/// A 64-byte BIP340 signature `(r, s)`.
///
/// **Decoding does not check ranges.** Any 64 bytes decode; `r ≥ p` or `s ≥ n` surfaces only at
/// verification, as [`CryptoError::MalformedSignature`] (never as a valid signature). This keeps
/// certificates and batches decodable in one pass and lets a batch verifier name the bad index;
/// a boundary that wants to refuse such bytes early (an API, a mempool) calls
/// [`Signature::is_well_formed`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 64]);

impl Signature {
    /// Wraps raw bytes.
    pub const fn from_bytes(bytes: [u8; 64]) -> Self {
        Signature(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }

    /// Whether `r` is below the field prime and `s` below the group order (BIP340's ranges).
    /// A signature that is not well formed never verifies.
    ///
    /// ```
    /// use itc_crypto::Signature;
    /// assert!(Signature::from_bytes([7; 64]).is_well_formed());
    /// assert!(!Signature::from_bytes([0xff; 64]).is_well_formed());
    /// ```
    pub fn is_well_formed(&self) -> bool {
        k256::schnorr::Signature::try_from(&self.0[..]).is_ok()
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Signature(")?;
        crate::hex::write_hex(f, &self.0)?;
        f.write_str(")")
    }
}

impl Encode for Signature {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        w.write(&self.0);
    }
    fn encoded_len(&self) -> usize {
        64
    }
}

impl Decode for Signature {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Signature(r.read_array()?))
    }
}

/// Fuzz builds only: the "signature" of `message` under `key` is the key followed by the
/// message folded (XOR) into 32 bytes. Signatures stop a fuzzer cold (it cannot forge them), so
/// with `--cfg fuzzing` — which cargo-fuzz sets and a normal cargo build never does — both
/// [`SecretKey::sign_raw`] and [`PublicKey::verify_raw`] use this cheap deterministic check
/// instead, as rust-secp256k1 does. Targets can then reach the code behind a signature check.
/// The test `fuzz_bypass_is_off_in_normal_builds` proves it is off in ordinary builds.
#[cfg(fuzzing)]
fn fuzz_signature(key: &[u8; 32], message: &[u8]) -> Signature {
    let mut sig = [0u8; 64];
    for (out, k) in sig.iter_mut().zip(key.iter()) {
        *out = *k;
    }
    for (i, m) in message.iter().enumerate() {
        if let Some(out) = sig.get_mut(32 + i % 32) {
            *out ^= *m;
        }
    }
    Signature(sig)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The fuzzing signature bypass (`cfg(fuzzing)`) must never be on outside cargo-fuzz: the
    /// cfg is off and a bypass-shaped forgery (key ‖ folded message) is rejected.
    #[test]
    fn fuzz_bypass_is_off_in_normal_builds() {
        #[cfg(fuzzing)]
        compile_error!("cfg(fuzzing) is for cargo-fuzz builds only");
        let k = SecretKey::from_bytes(&[7u8; 32]).unwrap();
        let pk = k.public_key();
        let digest = [0x5au8; 32];
        let mut forged = [0u8; 64];
        forged[..32].copy_from_slice(pk.as_bytes());
        forged[32..].copy_from_slice(&digest);
        assert!(pk.verify_raw(&digest, &Signature(forged)).is_err());
        let real = k.sign_raw(&digest, &[0u8; 32]).unwrap();
        assert_ne!(real, Signature(forged));
        assert!(pk.verify_raw(&digest, &real).is_ok());
    }

    const T: DomainTag = DomainTag::new(b"itc/test/keys/v1");

    #[test]
    fn secret_key_debug_is_redacted() {
        let k = SecretKey::from_bytes(&[3u8; 32]).unwrap();
        let s = std::format!("{k:?}");
        assert_eq!(s, "SecretKey(<redacted>)");
    }

    #[test]
    fn invalid_secret_keys_are_rejected() {
        assert_eq!(
            SecretKey::from_bytes(&[0u8; 32]).unwrap_err(),
            CryptoError::InvalidSecretKey
        );
        assert_eq!(
            SecretKey::from_bytes(&[0xffu8; 32]).unwrap_err(),
            CryptoError::InvalidSecretKey
        );
    }

    #[test]
    fn signing_is_deterministic() {
        let k = SecretKey::from_bytes(&[9u8; 32]).unwrap();
        assert_eq!(k.sign(T, b"a").unwrap(), k.sign(T, b"a").unwrap());
    }

    #[test]
    fn generate_uses_the_given_rng() {
        use rand_core::SeedableRng;
        let mut a = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let mut b = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        assert_eq!(
            SecretKey::generate(&mut a).public_key(),
            SecretKey::generate(&mut b).public_key()
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn any_bit_flip_breaks_a_signature(seed in 1u8..=254, msg in proptest::collection::vec(any::<u8>(), 0..40), bit in 0usize..512) {
            let k = SecretKey::from_bytes(&[seed; 32]).unwrap();
            let pk = k.public_key();
            let sig = k.sign(T, &msg).unwrap();
            prop_assert!(pk.verify(T, &msg, &sig).is_ok());
            let mut bad = sig;
            bad.0[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(pk.verify(T, &msg, &bad).is_err());
            // A flipped message bit breaks it too.
            let mut m2 = msg.clone();
            m2.push(0);
            prop_assert!(pk.verify(T, &m2, &sig).is_err());
            if !msg.is_empty() {
                let mut m3 = msg.clone();
                let i = bit % msg.len();
                m3[i] ^= 1 << (bit % 8);
                prop_assert!(pk.verify(T, &m3, &sig).is_err());
            }
        }

        #[test]
        fn keys_and_signatures_round_trip(seed in 1u8..=254) {
            let k = SecretKey::from_bytes(&[seed; 32]).unwrap();
            let pk = k.public_key();
            let bytes = pk.encode_to_vec();
            prop_assert_eq!(PublicKey::decode_bytes(&bytes).unwrap(), pk);
            let sig = k.sign(T, b"m").unwrap();
            prop_assert_eq!(Signature::decode_bytes(&sig.encode_to_vec()).unwrap(), sig);
            prop_assert_eq!(SecretKey::from_bytes(&k.to_bytes()).unwrap().public_key(), pk);
        }
    }
}
