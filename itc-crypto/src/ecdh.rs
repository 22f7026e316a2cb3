//! x-only elliptic-curve Diffie–Hellman on secp256k1, for session keys (`itc-device-sdk`'s
//! command sessions).
//!
//! Both keys are the protocol's x-only (BIP340) keys. A point and its negation share their x
//! coordinate, so `x(a·B) = x(b·A)` holds whichever of `±a`, `±b` each side holds (an x-only
//! key stands for two points; BIP340 secrets are normalised to the even one, a raw provisioned
//! scalar may not be): the **shared secret is that x coordinate** (32 bytes, as SEC1/`k256`'s
//! `diffie_hellman` gives it). It is not a key: derive keys from it with a KDF (HKDF), bound to
//! the transcript.
//!
//! The scalar multiplication is `k256`'s (`k256::ecdh::diffie_hellman`, constant time in the
//! secret); nothing here is hand-written curve arithmetic.
//!
//! ```
//! use itc_crypto::ecdh::KeyAgreement;
//! use itc_crypto::SecretKey;
//! let (a, b) = (SecretKey::from_bytes(&[1; 32]).unwrap(), SecretKey::from_bytes(&[2; 32]).unwrap());
//! let ab = a.agree(&b.public_key()).unwrap();
//! let ba = b.agree(&a.public_key()).unwrap();
//! assert_eq!(ab.as_bytes(), ba.as_bytes());
//! ```

use core::fmt;

use zeroize::Zeroizing;

use crate::error::CryptoError;
use crate::keys::{PublicKey, SecretKey};

/// The x coordinate both sides of an ECDH compute. Wiped on drop; `Debug` never prints it.
pub struct SharedSecret(Zeroizing<[u8; 32]>);

impl SharedSecret {
    /// The 32 bytes (input keying material for a KDF, never a key by itself).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret(<redacted>)")
    }
}

/// A key that can agree on a shared secret with a peer's public key: an in-memory
/// [`SecretKey`], a raw provisioned scalar, a secure element with an ECDH command.
pub trait KeyAgreement {
    /// `x(secret · peer)`.
    fn agree(&self, peer: &PublicKey) -> Result<SharedSecret, CryptoError>;
}

/// `x(secret · peer)` from a raw 32-byte big-endian scalar (a key stored at provisioning,
/// without deriving its public key: no scalar multiplication besides this one). Rejects zero
/// and values ≥ the curve order ([`CryptoError::InvalidSecretKey`]).
pub fn diffie_hellman(secret: &[u8; 32], peer: &PublicKey) -> Result<SharedSecret, CryptoError> {
    let scalar: Option<k256::NonZeroScalar> =
        k256::NonZeroScalar::from_repr((*secret).into()).into();
    let scalar = scalar.ok_or(CryptoError::InvalidSecretKey)?;
    Ok(shared(&scalar, peer))
}

fn shared(scalar: &k256::NonZeroScalar, peer: &PublicKey) -> SharedSecret {
    let s = k256::ecdh::diffie_hellman(scalar, peer.as_affine());
    let mut x = Zeroizing::new([0u8; 32]);
    x.copy_from_slice(s.raw_secret_bytes());
    SharedSecret(x)
}

impl KeyAgreement for SecretKey {
    fn agree(&self, peer: &PublicKey) -> Result<SharedSecret, CryptoError> {
        Ok(shared(&self.nonzero_scalar(), peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_agree_whatever_the_sign_of_the_raw_scalar() {
        let a = SecretKey::from_bytes(&[3; 32]).unwrap();
        let b = SecretKey::from_bytes(&[4; 32]).unwrap();
        let ab = a.agree(&b.public_key()).unwrap();
        // The raw bytes of `b` (not normalised) and the normalised key agree with `a`.
        let raw = diffie_hellman(&[4; 32], &a.public_key()).unwrap();
        assert_eq!(ab.as_bytes(), raw.as_bytes());
        assert_eq!(b.agree(&a.public_key()).unwrap().as_bytes(), ab.as_bytes());
        // The negated scalar n - 4·… gives the same x: use the normalised key's bytes too.
        let nb = diffie_hellman(&b.to_bytes(), &a.public_key()).unwrap();
        assert_eq!(nb.as_bytes(), ab.as_bytes());
    }

    #[test]
    fn another_peer_gives_another_secret() {
        let a = SecretKey::from_bytes(&[3; 32]).unwrap();
        let b = SecretKey::from_bytes(&[4; 32]).unwrap().public_key();
        let c = SecretKey::from_bytes(&[5; 32]).unwrap().public_key();
        assert_ne!(
            a.agree(&b).unwrap().as_bytes(),
            a.agree(&c).unwrap().as_bytes()
        );
    }

    #[test]
    fn zero_and_over_order_scalars_are_refused() {
        let p = SecretKey::from_bytes(&[4; 32]).unwrap().public_key();
        assert_eq!(
            diffie_hellman(&[0; 32], &p).unwrap_err(),
            CryptoError::InvalidSecretKey
        );
        assert_eq!(
            diffie_hellman(&[0xff; 32], &p).unwrap_err(),
            CryptoError::InvalidSecretKey
        );
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let a = SecretKey::from_bytes(&[3; 32]).unwrap();
        let s = a.agree(&a.public_key()).unwrap();
        assert_eq!(std::format!("{s:?}"), "SharedSecret(<redacted>)");
    }
}
