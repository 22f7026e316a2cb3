//! Device identity: the key comes from the integrator, the id is derived from it.
//!
//! The key may sit in flash (an in-memory [`itc_crypto::SecretKey`]) or inside a secure
//! element that only exposes "sign this digest" — both implement [`Signer`]. The SDK never
//! sees more than the public key and signatures. The device id is the ledger's
//! [`DeviceId::from_key`], so the id the chain records and the id the device answers to are
//! the same function of the same key.

use core::cell::OnceCell;

use itc_crypto::ecdh::{KeyAgreement, SharedSecret};
use itc_crypto::{CryptoError, Hash, PublicKey, SecretKey, Signature, Signer};
use itc_ledger::DeviceId;

/// A device's signer and the identity derived from it (computed once at boot).
#[derive(Debug, Clone)]
pub struct DeviceIdentity<S: Signer> {
    signer: S,
    public_key: PublicKey,
    device_id: DeviceId,
}

impl<S: Signer> DeviceIdentity<S> {
    /// Wraps the integrator's signer.
    ///
    /// ```
    /// use itc_crypto::SecretKey;
    /// use itc_device_sdk::{DeviceId, DeviceIdentity};
    /// let key = SecretKey::from_bytes(&[42; 32]).unwrap();
    /// let pk = key.public_key();
    /// let me = DeviceIdentity::new(key);
    /// assert_eq!(me.device_id(), DeviceId::from_key(&pk));
    /// ```
    pub fn new(signer: S) -> Self {
        let public_key = signer.public_key();
        DeviceIdentity {
            device_id: DeviceId::from_key(&public_key),
            public_key,
            signer,
        }
    }

    /// The id the chain records for this device.
    pub fn device_id(&self) -> DeviceId {
        self.device_id
    }

    /// The device's public key.
    pub fn public_key(&self) -> PublicKey {
        self.public_key
    }

    /// The signer, for outgoing transactions and attestations.
    pub fn signer(&self) -> &S {
        &self.signer
    }
}

/// A device key stored with its public key at provisioning, so that boot derives nothing.
///
/// Deriving the public key from the secret is a scalar multiplication: about 4.1 M
/// instructions on a Cortex-M4, at every boot. A `ProvisionedKey` takes the public key the
/// factory computed and stored next to the secret, and builds the signing key only when the
/// device first signs (telemetry, attestations) — commands and proofs never need it. At that
/// first signature the derived public key is compared with the stored one: a secret that does
/// not belong to the stored public key signs nothing (`CryptoError::InvalidSecretKey`), so a
/// corrupted or mismatched provisioning record cannot make the device sign for another
/// identity. Until then the device answers to the stored public key's id, which is what the
/// chain recorded at registration.
///
/// ```
/// use itc_crypto::{DomainTag, SecretKey, Signer};
/// use itc_device_sdk::identity::ProvisionedKey;
/// let secret = [42u8; 32];
/// let public = SecretKey::from_bytes(&secret).unwrap().public_key(); // at the factory
/// let key = ProvisionedKey::new(secret, public); // at boot: no curve arithmetic
/// assert_eq!(key.public_key(), public);
/// let sig = key.sign(DomainTag::new(b"itc/doc/v1"), b"reading").unwrap();
/// assert!(public.verify(DomainTag::new(b"itc/doc/v1"), b"reading", &sig).is_ok());
///
/// // A record whose public key is not the secret's signs nothing.
/// let other = SecretKey::from_bytes(&[7; 32]).unwrap().public_key();
/// assert!(ProvisionedKey::new(secret, other).sign(DomainTag::new(b"itc/doc/v1"), b"x").is_err());
/// ```
pub struct ProvisionedKey {
    secret: [u8; 32],
    public: PublicKey,
    signing: OnceCell<SecretKey>,
}

impl ProvisionedKey {
    /// The secret and the public key stored with it (no curve arithmetic).
    pub fn new(secret: [u8; 32], public: PublicKey) -> Self {
        ProvisionedKey {
            secret,
            public,
            signing: OnceCell::new(),
        }
    }

    fn signing_key(&self) -> Result<&SecretKey, CryptoError> {
        if let Some(k) = self.signing.get() {
            return Ok(k);
        }
        let k = SecretKey::from_bytes(&self.secret)?;
        if k.public_key() != self.public {
            return Err(CryptoError::InvalidSecretKey);
        }
        Ok(self.signing.get_or_init(|| k))
    }
}

impl Signer for ProvisionedKey {
    fn public_key(&self) -> PublicKey {
        self.public
    }

    fn sign_digest(&self, digest: &Hash) -> Result<Signature, CryptoError> {
        self.signing_key()?.sign_digest(digest)
    }
}

/// Session keys (see [`crate::session`]): ECDH with the stored scalar as it is — no public
/// key derived, one scalar multiplication. A scalar that does not belong to the stored public
/// key agrees on a secret no phone computes, so its sessions never verify a command.
impl KeyAgreement for ProvisionedKey {
    fn agree(&self, peer: &PublicKey) -> Result<SharedSecret, CryptoError> {
        itc_crypto::ecdh::diffie_hellman(&self.secret, peer)
    }
}

impl core::fmt::Debug for ProvisionedKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ProvisionedKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl Drop for ProvisionedKey {
    fn drop(&mut self) {
        // The secret's bytes do not outlive the key (the signing key wipes its own).
        zeroize::Zeroize::zeroize(&mut self.secret);
    }
}
