//! Signed firmware updates: manifest check, streaming image verification, a verdict the
//! bootloader acts on.
//!
//! The vendor signs a [`FirmwareManifest`] (product, version, minimum installed version, image
//! size and hash) under [`MANIFEST_TAG`]. The device checks it against its [`UpdatePolicy`]
//! (trusted vendor key, product, installed version, slot size) with [`UpdatePolicy::check`],
//! which yields an [`ImageVerifier`]. The image then streams through
//! [`ImageVerifier::update`] in chunks of any size — RAM use is one Keccak state (~200 bytes)
//! whatever the image size — and [`ImageVerifier::finish`] gives a [`Verdict`]: install, or
//! reject with a typed reason. Nothing here writes flash; the bootloader does, after `Install`.
//!
//! **Chain anchoring.** [`FirmwareManifest::id`] is what a vendor would record on chain, but
//! `itc-ledger` has no state key for manifest ids yet (its `VendorRecord` holds only the
//! registry and firmware keys), so there is nothing to prove a manifest against. What the chain
//! does record — the vendor's current `firmware_key` under `StateKey::Vendor` — can be proven
//! with the light client (`LightClient::verify_state`) and used as [`UpdatePolicy::vendor`].
//!
//! Anti-rollback is by version: an image must be strictly newer than the installed one, so an
//! old, vulnerable but validly signed image cannot be replayed onto the device.
//!
//! ```
//! use itc_crypto::{SecretKey, Signer};
//! use itc_device_sdk::firmware::{FirmwareManifest, UpdatePolicy, Verdict};
//!
//! let vendor = SecretKey::from_bytes(&[7; 32]).unwrap();
//! let image = [0xabu8; 3000];
//! let manifest = FirmwareManifest::for_image(vendor.public_key(), 42, 5, 3, &image);
//! let signed = manifest.sign(&vendor).unwrap();
//!
//! let policy = UpdatePolicy { vendor: vendor.public_key(), product: 42, installed_version: 4, max_image_size: 64 * 1024 };
//! let mut verifier = policy.check(&signed).unwrap();
//! for chunk in image.chunks(256) {
//!     verifier.update(chunk).unwrap();
//! }
//! assert!(matches!(verifier.finish(), Verdict::Install { version: 5, .. }));
//! ```

use itc_crypto::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::hash::hash_encoded;
use itc_crypto::{DomainTag, Hash, PublicKey, Signature, Signer, TaggedHasher};

use crate::error::FirmwareError;

/// Domain tag of the vendor's manifest signature.
pub const MANIFEST_TAG: DomainTag = DomainTag::new(b"itc/device/firmware-manifest/v1");
/// Domain tag of the image hash (streaming Keccak-256 over the raw image bytes).
pub const IMAGE_TAG: DomainTag = DomainTag::new(b"itc/device/firmware-image/v1");
/// Domain tag of the manifest's identity, as anchored on chain by the vendor.
pub const MANIFEST_ID_TAG: DomainTag = DomainTag::new(b"itc/device/firmware-manifest-id/v1");
/// Encoding version of [`FirmwareManifest`].
pub const MANIFEST_VERSION: u8 = 1;
/// Encoded length of a [`SignedManifest`] (fixed: every field has a fixed width).
pub const SIGNED_MANIFEST_LEN: usize = 1 + 32 + 4 + 4 + 4 + 4 + 32 + 64;

/// What the vendor signs about one firmware image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirmwareManifest {
    /// The vendor's signing key; must be the key the device trusts.
    pub vendor: PublicKey,
    /// Vendor's product (hardware) code, so a lamp image never lands on a lock.
    pub product: u32,
    /// Version of this image; must be strictly above the installed version.
    pub version: u32,
    /// The oldest installed version this image may update from (an upgrade path step).
    pub min_installed_version: u32,
    /// Exact image size in bytes.
    pub image_size: u32,
    /// `tagged_hash(IMAGE_TAG, image)`.
    pub image_hash: Hash,
}

impl FirmwareManifest {
    /// Describes `image` (computes its size and hash). For vendor tooling and tests.
    pub fn for_image(
        vendor: PublicKey,
        product: u32,
        version: u32,
        min_installed_version: u32,
        image: &[u8],
    ) -> Self {
        let mut h = TaggedHasher::new(IMAGE_TAG);
        h.update(image);
        FirmwareManifest {
            vendor,
            product,
            version,
            min_installed_version,
            image_size: u32::try_from(image.len()).unwrap_or(u32::MAX),
            image_hash: h.finalize(),
        }
    }

    /// The manifest's identity, for anchoring on chain and proving it to a device.
    pub fn id(&self) -> Hash {
        hash_encoded(MANIFEST_ID_TAG, self)
    }

    /// Signs with the vendor key; refuses a signer whose key is not [`FirmwareManifest::vendor`].
    pub fn sign<S: Signer + ?Sized>(self, vendor: &S) -> Result<SignedManifest, FirmwareError> {
        if vendor.public_key() != self.vendor {
            return Err(FirmwareError::UnknownVendor);
        }
        let signature = vendor
            .sign_digest(&hash_encoded(MANIFEST_TAG, &self))
            .map_err(|_| FirmwareError::SigningFailed)?;
        Ok(SignedManifest {
            manifest: self,
            signature,
        })
    }
}

impl Encode for FirmwareManifest {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        MANIFEST_VERSION.encode(w);
        self.vendor.encode(w);
        self.product.encode(w);
        self.version.encode(w);
        self.min_installed_version.encode(w);
        self.image_size.encode(w);
        self.image_hash.encode(w);
    }
}

impl Decode for FirmwareManifest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let v = r.read_u8()?;
        if v != MANIFEST_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                type_name: "FirmwareManifest",
                found: u64::from(v),
            });
        }
        Ok(FirmwareManifest {
            vendor: PublicKey::decode(r)?,
            product: u32::decode(r)?,
            version: u32::decode(r)?,
            min_installed_version: u32::decode(r)?,
            image_size: u32::decode(r)?,
            image_hash: Hash::decode(r)?,
        })
    }
}

/// A manifest with the vendor's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedManifest {
    /// The signed body.
    pub manifest: FirmwareManifest,
    /// BIP340 signature by `manifest.vendor` over the manifest under [`MANIFEST_TAG`].
    pub signature: Signature,
}

impl Encode for SignedManifest {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.manifest.encode(w);
        self.signature.encode(w);
    }
    fn encoded_len(&self) -> usize {
        SIGNED_MANIFEST_LEN
    }
}

impl Decode for SignedManifest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SignedManifest {
            manifest: FirmwareManifest::decode(r)?,
            signature: Signature::decode(r)?,
        })
    }
}

/// What the device knows about itself when an update is offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdatePolicy {
    /// The vendor key the device trusts (burnt in, or proven from chain by the caller).
    pub vendor: PublicKey,
    /// This device's product code.
    pub product: u32,
    /// Version now running (the anti-rollback floor).
    pub installed_version: u32,
    /// Size of the download slot: larger images are refused before any byte is read.
    pub max_image_size: u32,
}

impl UpdatePolicy {
    /// Checks a signed manifest; on success returns the verifier for the image it describes.
    /// Checks are ordered cheapest first: the signature is verified only for a manifest that
    /// would otherwise be acceptable.
    pub fn check(&self, signed: &SignedManifest) -> Result<ImageVerifier, FirmwareError> {
        self.admit(signed)?;
        Ok(ImageVerifier::new(&signed.manifest))
    }

    /// [`UpdatePolicy::check`] for a small stack: the verifier is built straight into `slot`
    /// (left `None` after a refusal), so no verifier-sized result (~550 bytes) waits in the
    /// caller's frame through the signature check, the deepest stack a device sees. What
    /// `LightClient::init_in` is to `LightClient::new`.
    ///
    /// ```
    /// use itc_crypto::SecretKey;
    /// use itc_device_sdk::firmware::{FirmwareManifest, UpdatePolicy};
    /// use itc_device_sdk::FirmwareError;
    ///
    /// let vendor = SecretKey::from_bytes(&[7; 32]).unwrap();
    /// let signed = FirmwareManifest::for_image(vendor.public_key(), 42, 5, 3, &[1; 100])
    ///     .sign(&vendor)
    ///     .unwrap();
    /// let policy = UpdatePolicy { vendor: vendor.public_key(), product: 42, installed_version: 4, max_image_size: 1024 };
    /// let mut slot = None;
    /// policy.check_in(&signed, &mut slot).unwrap();
    /// assert_eq!(slot.unwrap().manifest().version, 5);
    ///
    /// let newer = UpdatePolicy { installed_version: 5, ..policy };
    /// let mut slot = None;
    /// assert!(matches!(newer.check_in(&signed, &mut slot), Err(FirmwareError::Downgrade { .. })));
    /// assert!(slot.is_none());
    /// ```
    pub fn check_in(
        &self,
        signed: &SignedManifest,
        slot: &mut Option<ImageVerifier>,
    ) -> Result<(), FirmwareError> {
        *slot = None;
        self.admit(signed)?;
        *slot = Some(ImageVerifier::new(&signed.manifest));
        Ok(())
    }

    /// Everything [`UpdatePolicy::check`] checks, cheapest first.
    fn admit(&self, signed: &SignedManifest) -> Result<(), FirmwareError> {
        let m = &signed.manifest;
        if m.vendor != self.vendor {
            return Err(FirmwareError::UnknownVendor);
        }
        if m.product != self.product {
            return Err(FirmwareError::WrongProduct {
                expected: self.product,
                found: m.product,
            });
        }
        if m.version <= self.installed_version {
            return Err(FirmwareError::Downgrade {
                installed: self.installed_version,
                offered: m.version,
            });
        }
        if self.installed_version < m.min_installed_version {
            return Err(FirmwareError::InstalledTooOld {
                installed: self.installed_version,
                required: m.min_installed_version,
            });
        }
        if m.image_size > self.max_image_size {
            return Err(FirmwareError::ImageTooLarge {
                size: m.image_size,
                max: self.max_image_size,
            });
        }
        self.verify_signature(signed)
    }

    /// The vendor's signature over the manifest. Never inlined: the deepest stack a device
    /// sees is a signature check, and this frame holds only the digest, not the verifier
    /// built afterwards.
    #[inline(never)]
    fn verify_signature(&self, signed: &SignedManifest) -> Result<(), FirmwareError> {
        self.vendor
            .verify_digest(
                &hash_encoded(MANIFEST_TAG, &signed.manifest),
                &signed.signature,
            )
            .map_err(|_| FirmwareError::InvalidManifestSignature)
    }
}

/// Streams an image through the hash, in constant RAM, against a checked manifest.
#[derive(Clone)]
pub struct ImageVerifier {
    manifest: FirmwareManifest,
    hasher: TaggedHasher,
    received: u32,
    failed: Option<FirmwareError>,
}

impl core::fmt::Debug for ImageVerifier {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ImageVerifier")
            .field("manifest", &self.manifest)
            .field("received", &self.received)
            .field("failed", &self.failed)
            .finish()
    }
}

impl ImageVerifier {
    /// A verifier for a checked manifest's image. Never inlined, like
    /// `UpdatePolicy::verify_signature`: the hasher is built after the signature check, in a
    /// frame that is not live during it.
    #[inline(never)]
    fn new(manifest: &FirmwareManifest) -> Self {
        ImageVerifier {
            manifest: *manifest,
            hasher: TaggedHasher::new(IMAGE_TAG),
            received: 0,
            failed: None,
        }
    }

    /// The manifest being verified against.
    pub fn manifest(&self) -> &FirmwareManifest {
        &self.manifest
    }

    /// Bytes received so far.
    pub fn received(&self) -> u32 {
        self.received
    }

    /// Feeds the next chunk. Bytes beyond the manifest's size are refused at once (and the
    /// verdict stays a rejection), so a download that runs long is cut off early.
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), FirmwareError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let total = u32::try_from(chunk.len())
            .ok()
            .and_then(|n| self.received.checked_add(n))
            .filter(|t| *t <= self.manifest.image_size);
        match total {
            Some(t) => {
                self.hasher.update(chunk);
                self.received = t;
                Ok(())
            }
            None => {
                let e = FirmwareError::ImageTooLong {
                    expected: self.manifest.image_size,
                };
                self.failed = Some(e);
                Err(e)
            }
        }
    }

    /// Ends the stream and gives the verdict.
    pub fn finish(self) -> Verdict {
        if let Some(e) = self.failed {
            return Verdict::Reject(e);
        }
        if self.received != self.manifest.image_size {
            return Verdict::Reject(FirmwareError::ImageTruncated {
                expected: self.manifest.image_size,
                received: self.received,
            });
        }
        if self.hasher.finalize() != self.manifest.image_hash {
            return Verdict::Reject(FirmwareError::ImageHashMismatch);
        }
        Verdict::Install {
            version: self.manifest.version,
            image_hash: self.manifest.image_hash,
            image_size: self.manifest.image_size,
        }
    }
}

/// What the bootloader does with a downloaded image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The image is the vendor's, newer, complete and intact: swap it in and record `version`
    /// as the new anti-rollback floor.
    Install {
        /// The version to record as installed.
        version: u32,
        /// The verified image hash (the bootloader may re-check it after copying).
        image_hash: Hash,
        /// Image size in bytes.
        image_size: u32,
    },
    /// Keep the running image; erase the download slot.
    Reject(FirmwareError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use itc_crypto::SecretKey;
    use proptest::prelude::*;

    fn vendor() -> SecretKey {
        SecretKey::from_bytes(&[7; 32]).unwrap()
    }

    fn policy() -> UpdatePolicy {
        UpdatePolicy {
            vendor: vendor().public_key(),
            product: 1,
            installed_version: 10,
            max_image_size: 4096,
        }
    }

    #[test]
    fn manifest_round_trips_with_fixed_length() {
        let m = FirmwareManifest::for_image(vendor().public_key(), 1, 11, 0, b"img");
        let s = m.sign(&vendor()).unwrap();
        let bytes = s.encode_to_vec();
        assert_eq!(bytes.len(), SIGNED_MANIFEST_LEN);
        assert_eq!(SignedManifest::decode_bytes(&bytes).unwrap(), s);
    }

    #[test]
    fn a_long_stream_is_cut_off_and_stays_rejected() {
        let image = [1u8; 100];
        let m = FirmwareManifest::for_image(vendor().public_key(), 1, 11, 0, &image);
        let mut v = policy().check(&m.sign(&vendor()).unwrap()).unwrap();
        v.update(&image).unwrap();
        assert_eq!(
            v.update(&[0]),
            Err(FirmwareError::ImageTooLong { expected: 100 })
        );
        assert_eq!(
            v.update(&[]),
            Err(FirmwareError::ImageTooLong { expected: 100 })
        );
        assert_eq!(
            v.finish(),
            Verdict::Reject(FirmwareError::ImageTooLong { expected: 100 })
        );
    }

    /// `check_in` gives `check`'s verdict for every refusal and the acceptance, and a
    /// refusal leaves the slot empty even when it held an earlier verifier.
    #[test]
    fn check_in_agrees_with_check_and_empties_the_slot_on_refusal() {
        let image = [3u8; 100];
        let stranger = SecretKey::from_bytes(&[9; 32]).unwrap();
        let good = FirmwareManifest::for_image(vendor().public_key(), 1, 11, 0, &image);
        let mut forged = good.sign(&vendor()).unwrap();
        forged.signature.0[40] ^= 1;
        let cases = [
            good.sign(&vendor()).unwrap(),
            FirmwareManifest::for_image(stranger.public_key(), 1, 11, 0, &image)
                .sign(&stranger)
                .unwrap(),
            FirmwareManifest::for_image(vendor().public_key(), 2, 11, 0, &image)
                .sign(&vendor())
                .unwrap(),
            FirmwareManifest::for_image(vendor().public_key(), 1, 10, 0, &image)
                .sign(&vendor())
                .unwrap(),
            FirmwareManifest::for_image(vendor().public_key(), 1, 11, 11, &image)
                .sign(&vendor())
                .unwrap(),
            FirmwareManifest::for_image(vendor().public_key(), 1, 11, 0, &[0; 5000])
                .sign(&vendor())
                .unwrap(),
            forged,
        ];
        let earlier = policy().check(&cases[0]).unwrap();
        let refusals = cases.iter().filter(|c| policy().check(c).is_err()).count();
        assert_eq!(
            refusals,
            cases.len() - 1,
            "one acceptance, six kinds of refusal"
        );
        for signed in &cases {
            let mut slot = Some(earlier.clone());
            let got = policy().check_in(signed, &mut slot);
            match policy().check(signed) {
                Ok(v) => {
                    assert_eq!(got, Ok(()));
                    assert_eq!(slot.as_ref().map(|s| *s.manifest()), Some(*v.manifest()));
                }
                Err(e) => {
                    assert_eq!(got, Err(e));
                    assert!(slot.is_none());
                }
            }
        }
    }

    #[test]
    fn a_short_stream_is_truncated() {
        let image = [1u8; 100];
        let m = FirmwareManifest::for_image(vendor().public_key(), 1, 11, 0, &image);
        let mut v = policy().check(&m.sign(&vendor()).unwrap()).unwrap();
        v.update(&image[..99]).unwrap();
        assert_eq!(
            v.finish(),
            Verdict::Reject(FirmwareError::ImageTruncated {
                expected: 100,
                received: 99
            })
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Chunking never changes the verdict, and any single flipped bit is caught.
        #[test]
        fn chunking_is_irrelevant_and_bit_flips_are_caught(
            image in proptest::collection::vec(any::<u8>(), 1..2000),
            chunk in 1usize..300,
            flip in any::<proptest::sample::Index>(),
        ) {
            let m = FirmwareManifest::for_image(vendor().public_key(), 1, 11, 0, &image);
            let s = m.sign(&vendor()).unwrap();
            let mut v = policy().check(&s).unwrap();
            for c in image.chunks(chunk) { v.update(c).unwrap(); }
            let install = matches!(v.finish(), Verdict::Install { version: 11, .. });
            prop_assert!(install);

            let mut bad = image.clone();
            let i = flip.index(bad.len());
            bad[i] ^= 0x10;
            let mut v = policy().check(&s).unwrap();
            for c in bad.chunks(chunk) { v.update(c).unwrap(); }
            prop_assert_eq!(v.finish(), Verdict::Reject(FirmwareError::ImageHashMismatch));
        }

        #[test]
        fn arbitrary_manifest_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..SIGNED_MANIFEST_LEN + 4)) {
            if let Ok(s) = SignedManifest::decode_bytes(&data) {
                let _ = policy().check(&s);
            }
        }
    }
}
