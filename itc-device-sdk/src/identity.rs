//! Device identity: the key comes from the integrator, the id is derived from it.
//!
//! The key may sit in flash (an in-memory [`itc_crypto::SecretKey`]) or inside a secure
//! element that only exposes "sign this digest" — both implement [`Signer`]. The SDK never
//! sees more than the public key and signatures. The device id is the ledger's
//! [`DeviceId::from_key`], so the id the chain records and the id the device answers to are
//! the same function of the same key.

use itc_crypto::{PublicKey, Signer};
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
