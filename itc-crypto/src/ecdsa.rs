//! ECDSA over secp256k1 with public-key recovery — for interop with Ethereum-style wallets and
//! tooling, not for protocol messages (those use BIP340 Schnorr, see [`crate::keys`]).
//!
//! Signatures are low-S normalised on signing and high-S signatures are rejected on
//! verification with their own error, [`CryptoError::HighS`] (a policy refusal of the malleated
//! form, distinct from [`CryptoError::InvalidSignature`], a forgery), so an ECDSA signature is
//! not malleable. Foreign signatures come in two shapes: [`RecoverableSignature`] (`r ‖ s ‖ v`,
//! Ethereum style) and [`EcdsaSignature`] (plain 64-byte `r ‖ s`, as most HSMs, secure elements
//! and TLS stacks produce after DER decoding), verified against a known key without inventing a
//! recovery byte.
//!
//! ```
//! use itc_crypto::{ecdsa::RecoverableSignature, keccak256, SecretKey};
//! let key = SecretKey::from_bytes(&[5u8; 32]).unwrap();
//! let digest = keccak256(b"pay 5 ITC");
//! let sig = RecoverableSignature::sign_prehash(&key, &digest).unwrap();
//! let who = sig.recover(&digest).unwrap();
//! assert_eq!(who, itc_crypto::ecdsa::EcdsaPublicKey::from_secret(&key));
//! assert!(who.verify(&digest, &sig).is_ok());
//! ```

use core::fmt;

use k256::ecdsa::{RecoveryId, Signature as K256Signature, SigningKey, VerifyingKey};

use crate::address::Address;
use crate::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use crate::error::CryptoError;
use crate::hash::{keccak256, Hash};
use crate::keys::SecretKey;

/// An ECDSA public key (SEC1 point). Encoded compressed (33 bytes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct EcdsaPublicKey(VerifyingKey);

impl EcdsaPublicKey {
    /// The public key of a secret key.
    pub fn from_secret(key: &SecretKey) -> Self {
        EcdsaPublicKey(*SigningKey::from(key.nonzero_scalar()).verifying_key())
    }

    /// Parses a SEC1 encoded point (compressed or uncompressed).
    pub fn from_sec1_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        VerifyingKey::from_sec1_bytes(bytes)
            .map(EcdsaPublicKey)
            .map_err(|_| CryptoError::InvalidPublicKey)
    }

    /// The compressed SEC1 encoding.
    pub fn to_compressed(&self) -> [u8; 33] {
        let p = self.0.to_encoded_point(true);
        let mut out = [0u8; 33];
        out.copy_from_slice(p.as_bytes());
        out
    }

    /// The Ethereum-compatible address: last 20 bytes of Keccak-256 of the uncompressed
    /// point without its `0x04` prefix.
    pub fn eth_address(&self) -> Address {
        let p = self.0.to_encoded_point(false);
        let xy = p.as_bytes().get(1..).unwrap_or_default();
        Address::from_hash(&keccak256(xy))
    }

    /// Verifies a recoverable signature over a 32-byte prehash (the recovery byte is ignored).
    pub fn verify(&self, prehash: &Hash, sig: &RecoverableSignature) -> Result<(), CryptoError> {
        self.verify_k256(prehash, &sig.signature()?)
    }

    /// Verifies a plain `r ‖ s` signature over a 32-byte prehash.
    ///
    /// ```
    /// use itc_crypto::ecdsa::{EcdsaPublicKey, EcdsaSignature, RecoverableSignature};
    /// use itc_crypto::{keccak256, CryptoError, SecretKey};
    /// let key = SecretKey::from_bytes(&[5u8; 32]).unwrap();
    /// let digest = keccak256(b"unlock");
    /// let rsv = RecoverableSignature::sign_prehash(&key, &digest).unwrap();
    /// let rs = EcdsaSignature::from_bytes(rsv.0[..64].try_into().unwrap());
    /// let pk = EcdsaPublicKey::from_secret(&key);
    /// assert!(pk.verify_rs(&digest, &rs).is_ok());
    /// // The malleated twin (s -> n - s) is a policy refusal, not a forgery.
    /// assert_eq!(pk.verify_rs(&digest, &rs.to_high_s()), Err(CryptoError::HighS));
    /// ```
    pub fn verify_rs(&self, prehash: &Hash, sig: &EcdsaSignature) -> Result<(), CryptoError> {
        self.verify_k256(prehash, &sig.signature()?)
    }

    fn verify_k256(&self, prehash: &Hash, sig: &K256Signature) -> Result<(), CryptoError> {
        use k256::ecdsa::signature::hazmat::PrehashVerifier;
        if sig.normalize_s().is_some() {
            return Err(CryptoError::HighS);
        }
        self.0
            .verify_prehash(prehash.as_bytes(), sig)
            .map_err(|_| CryptoError::InvalidSignature)
    }
}

impl fmt::Debug for EcdsaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EcdsaPublicKey(")?;
        crate::hex::write_hex(f, &self.to_compressed())?;
        f.write_str(")")
    }
}

impl Encode for EcdsaPublicKey {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        w.write(&self.to_compressed());
    }
    fn encoded_len(&self) -> usize {
        33
    }
}

impl Decode for EcdsaPublicKey {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let b: [u8; 33] = r.read_array()?;
        // Canonical form is compressed SEC1 (0x02/0x03), decoded by the one shared rule.
        let point = crate::point::decode_compressed(&b, "EcdsaPublicKey")?;
        VerifyingKey::from_affine(point)
            .map(EcdsaPublicKey)
            .map_err(|_| DecodeError::NonCanonical {
                type_name: "EcdsaPublicKey",
            })
    }
}

/// A plain 64-byte ECDSA signature `r ‖ s` (big-endian scalars), without a recovery byte: what
/// HSMs, secure elements and most non-Ethereum stacks hand out. `r` and `s` must be in
/// `1..n` ([`CryptoError::MalformedSignature`] otherwise) and `s ≤ n/2` ([`CryptoError::HighS`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct EcdsaSignature([u8; 64]);

impl EcdsaSignature {
    /// Wraps `r ‖ s` (range checks happen at verification, with typed errors).
    pub const fn from_bytes(bytes: [u8; 64]) -> Self {
        EcdsaSignature(bytes)
    }

    /// The raw `r ‖ s` bytes.
    pub const fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }

    fn signature(&self) -> Result<K256Signature, CryptoError> {
        K256Signature::from_slice(&self.0).map_err(|_| CryptoError::MalformedSignature)
    }

    /// The same signature with `s` replaced by `n − s` (its malleated twin); for tests of the
    /// high-S rule. Returns `self` unchanged if the bytes are malformed.
    pub fn to_high_s(&self) -> Self {
        let Ok(sig) = self.signature() else {
            return *self;
        };
        let (r, s) = sig.split_scalars();
        let flipped = -*s;
        match K256Signature::from_scalars(r.to_bytes(), flipped.to_bytes()) {
            Ok(twin) => {
                let mut out = [0u8; 64];
                out.copy_from_slice(&twin.to_bytes());
                EcdsaSignature(out)
            }
            Err(_) => *self,
        }
    }
}

impl fmt::Debug for EcdsaSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EcdsaSignature(")?;
        crate::hex::write_hex(f, &self.0)?;
        f.write_str(")")
    }
}

impl Encode for EcdsaSignature {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        w.write(&self.0);
    }
    fn encoded_len(&self) -> usize {
        64
    }
}

impl Decode for EcdsaSignature {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(EcdsaSignature(r.read_array()?))
    }
}

/// A 65-byte recoverable ECDSA signature: `r ‖ s ‖ v` with `v` the recovery id (0..=3).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RecoverableSignature(pub [u8; 65]);

impl RecoverableSignature {
    /// Signs a 32-byte prehash (RFC 6979 deterministic nonce, low-S).
    pub fn sign_prehash(key: &SecretKey, prehash: &Hash) -> Result<Self, CryptoError> {
        let sk = SigningKey::from(key.nonzero_scalar());
        let (sig, recid) = sk
            .sign_prehash_recoverable(prehash.as_bytes())
            .map_err(|_| CryptoError::SigningFailed)?;
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&sig.to_bytes());
        out[64] = recid.to_byte();
        Ok(RecoverableSignature(out))
    }

    fn signature(&self) -> Result<K256Signature, CryptoError> {
        let rs = self.0.get(..64).ok_or(CryptoError::MalformedSignature)?;
        K256Signature::from_slice(rs).map_err(|_| CryptoError::MalformedSignature)
    }

    /// Recovers the signer's public key from a prehash.
    pub fn recover(&self, prehash: &Hash) -> Result<EcdsaPublicKey, CryptoError> {
        let sig = self.signature()?;
        let v = self.0.get(64).copied().ok_or(CryptoError::RecoveryFailed)?;
        let recid = RecoveryId::from_byte(v).ok_or(CryptoError::RecoveryFailed)?;
        VerifyingKey::recover_from_prehash(prehash.as_bytes(), &sig, recid)
            .map(EcdsaPublicKey)
            .map_err(|_| CryptoError::RecoveryFailed)
    }
}

impl fmt::Debug for RecoverableSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoverableSignature(")?;
        crate::hex::write_hex(f, &self.0)?;
        f.write_str(")")
    }
}

impl Encode for RecoverableSignature {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        w.write(&self.0);
    }
    fn encoded_len(&self) -> usize {
        65
    }
}

impl Decode for RecoverableSignature {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RecoverableSignature(r.read_array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn high_s_is_a_policy_refusal_not_a_forgery() {
        let key = SecretKey::from_bytes(&[0x33; 32]).unwrap();
        let pk = EcdsaPublicKey::from_secret(&key);
        let d = keccak256(b"open");
        let rsv = RecoverableSignature::sign_prehash(&key, &d).unwrap();
        let mut rs_bytes = [0u8; 64];
        rs_bytes.copy_from_slice(&rsv.0[..64]);
        let rs = EcdsaSignature::from_bytes(rs_bytes);
        assert_eq!(pk.verify_rs(&d, &rs), Ok(()));
        let high = rs.to_high_s();
        assert_ne!(high, rs);
        assert_eq!(pk.verify_rs(&d, &high), Err(CryptoError::HighS));
        let mut high_rsv = rsv;
        high_rsv.0[..64].copy_from_slice(high.as_bytes());
        assert_eq!(pk.verify(&d, &high_rsv), Err(CryptoError::HighS));
        // A forgery and malformed scalars keep their own errors.
        assert_eq!(
            pk.verify_rs(&keccak256(b"other"), &rs),
            Err(CryptoError::InvalidSignature)
        );
        assert_eq!(
            pk.verify_rs(&d, &EcdsaSignature::from_bytes([0; 64])),
            Err(CryptoError::MalformedSignature)
        );
        assert_eq!(
            pk.verify_rs(&d, &EcdsaSignature::from_bytes([0xff; 64])),
            Err(CryptoError::MalformedSignature)
        );
        assert_eq!(
            EcdsaSignature::decode_bytes(&rs.encode_to_vec()).unwrap(),
            rs
        );
    }

    #[test]
    fn recovers_signer_and_rejects_tampering() {
        let key = SecretKey::from_bytes(&[0x11; 32]).unwrap();
        let pk = EcdsaPublicKey::from_secret(&key);
        let d = keccak256(b"hello");
        let sig = RecoverableSignature::sign_prehash(&key, &d).unwrap();
        assert_eq!(sig.recover(&d).unwrap(), pk);
        assert!(pk.verify(&d, &sig).is_ok());
        let d2 = keccak256(b"hellp");
        assert!(pk.verify(&d2, &sig).is_err());
        assert_ne!(sig.recover(&d2).ok(), Some(pk));
        let mut bad = sig;
        bad.0[64] = 9;
        assert_eq!(bad.recover(&d), Err(CryptoError::RecoveryFailed));
        for bit in 0..512 {
            let mut b = sig;
            b.0[bit / 8] ^= 1 << (bit % 8);
            assert!(pk.verify(&d, &b).is_err(), "bit {bit}");
        }
    }

    #[test]
    fn ethereum_address_known_answer() {
        // Private key 1: address 0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf.
        let mut one = [0u8; 32];
        one[31] = 1;
        let key = SecretKey::from_bytes(&one).unwrap();
        let a = EcdsaPublicKey::from_secret(&key).eth_address();
        assert_eq!(
            a.0,
            crate::hex::decode_hex::<20>("7e5f4552091a69125d5dfcb7b8c2659029395bdf").unwrap()
        );
    }

    #[test]
    fn public_key_round_trips() {
        let key = SecretKey::from_bytes(&[0x22; 32]).unwrap();
        let pk = EcdsaPublicKey::from_secret(&key);
        assert_eq!(
            EcdsaPublicKey::decode_bytes(&pk.encode_to_vec()).unwrap(),
            pk
        );
        assert!(EcdsaPublicKey::decode_bytes(&[0x05; 33]).is_err());
    }
}
