//! ECDSA over secp256k1 with public-key recovery — for interop with Ethereum-style wallets and
//! tooling, not for protocol messages (those use BIP340 Schnorr, see [`crate::keys`]).
//!
//! Signatures are low-S normalised on signing and high-S signatures are rejected on
//! verification (k256's rule), so an ECDSA signature is not malleable.
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

    /// Verifies a signature over a 32-byte prehash.
    pub fn verify(&self, prehash: &Hash, sig: &RecoverableSignature) -> Result<(), CryptoError> {
        use k256::ecdsa::signature::hazmat::PrehashVerifier;
        let s = sig.signature()?;
        self.0
            .verify_prehash(prehash.as_bytes(), &s)
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
