//! Phase 7: a firmware update. The lamp pins the vendor's firmware key by proving the vendor's
//! record on chain; Lumen publishes a signed manifest on the tangle; the lamp checks it and
//! streams the image through its verifier. A tampered image, a forged manifest and a
//! downgrade are refused.

use std::time::Instant;

use itc_crypto::hash::hash_encoded;
use itc_crypto::{Decode, Encode, Signer};
use itc_dag::Payload;
use itc_device_sdk::firmware::{
    FirmwareManifest, SignedManifest, UpdatePolicy, Verdict, MANIFEST_TAG,
};
use itc_device_sdk::{DeviceIdentity, FirmwareError};
use itc_ledger::{StateKey, VendorRecord};
use rand_core::RngCore;

use super::telemetry::Pow;
use super::{reason, short, Story, LAMP_MODEL, VENDOR};
use crate::error::StoryError;

/// Size of the firmware image.
const IMAGE_BYTES: usize = 32 * 1024;
/// Chunk size of the download.
const CHUNK: usize = 256;

fn stream(policy: &UpdatePolicy, signed: &SignedManifest, image: &[u8]) -> (Verdict, u64) {
    let started = Instant::now();
    let verdict = match policy.check(signed) {
        Ok(mut v) => {
            for chunk in image.chunks(CHUNK) {
                if v.update(chunk).is_err() {
                    break;
                }
            }
            v.finish()
        }
        Err(e) => Verdict::Reject(e),
    };
    (verdict, started.elapsed().as_micros() as u64)
}

fn verdict_text(v: &Verdict) -> String {
    match v {
        Verdict::Install { version, .. } => format!("Install v{version}"),
        Verdict::Reject(e) => format!("Reject: {}", reason(e)),
    }
}

impl Story {
    /// Phase 7.
    pub(crate) fn phase_firmware(&mut self) -> Result<(), StoryError> {
        self.report
            .phase("Firmware update: signed, published, verified by the lamp");

        // The lamp pins the firmware key from the vendor's on-chain record.
        self.lamp.spv.sync(self.chain.server(), self.chain.now())?;
        let proven = self.lamp.spv.prove_state(
            self.chain.server(),
            StateKey::Vendor(VENDOR),
            self.chain.now(),
        )?;
        let record = proven
            .value
            .as_deref()
            .map(VendorRecord::decode_bytes)
            .transpose()?
            .ok_or(StoryError::Unexpected("vendor record absent"))?;
        let pinned = record.firmware_key;
        self.report.expect(
            "the lamp proves Lumen's vendor record and pins its firmware key",
            pinned == self.cast.firmware.public_key(),
            format!(
                "key {}, proof {} B",
                short(pinned.as_bytes()),
                proven.response_bytes
            ),
        );

        // Lumen builds v2 and publishes the signed manifest on the tangle.
        let mut image = vec![0u8; IMAGE_BYTES];
        self.rng.fill_bytes(&mut image);
        let old_image: Vec<u8> = image.iter().take(1024).copied().collect();
        let manifest =
            FirmwareManifest::for_image(self.cast.firmware.public_key(), LAMP_MODEL, 2, 1, &image);
        let signed = manifest
            .sign(&self.cast.firmware)
            .map_err(StoryError::Firmware)?;
        let old = FirmwareManifest::for_image(
            self.cast.firmware.public_key(),
            LAMP_MODEL,
            1,
            0,
            &old_image,
        )
        .sign(&self.cast.firmware)
        .map_err(StoryError::Firmware)?;
        let now = self.chain.now();
        let Some(t) = self.telemetry.as_mut() else {
            return Err(StoryError::Unexpected("no tangle"));
        };
        let publisher = DeviceIdentity::new(self.cast.vendor.clone());
        let (tx, tries) = t.post(
            &publisher,
            &signed.encode_to_vec(),
            now,
            &mut self.rng,
            Pow::OnDevice,
        )?;
        let fetched = t
            .tangle
            .get(&tx.id())
            .ok_or(StoryError::Unexpected("manifest not on the tangle"))?;
        let Payload::Data(bytes) = fetched.payload() else {
            return Err(StoryError::Unexpected(
                "manifest transaction carries no data",
            ));
        };
        let downloaded = SignedManifest::decode_bytes(bytes)?;
        self.report.say(format!(
            "Lumen publishes manifest v2 ({} B) on the tangle as tx {} ({tries} PoW attempts as an unregistered key)",
            bytes.len(),
            short(tx.id().0.as_bytes())
        ));

        let mut policy = UpdatePolicy {
            vendor: pinned,
            product: LAMP_MODEL,
            installed_version: 1,
            max_image_size: 64 * 1024,
        };
        let (v, us) = stream(&policy, &downloaded, &image);
        let installed = matches!(v, Verdict::Install { version: 2, .. });
        self.report.expect(
            "the lamp verifies manifest and 32 KiB image (256 B chunks) and installs v2",
            installed,
            format!("{}, {} µs on the host", verdict_text(&v), us),
        );
        self.report.figure(
            "firmware_verify_us",
            "firmware check (manifest + 32 KiB image, host)",
            us as f64,
            "µs",
            0,
        );

        let mut tampered = image.clone();
        if let Some(b) = tampered.get_mut(IMAGE_BYTES / 2) {
            *b ^= 0x01;
        }
        let (v, _) = stream(&policy, &downloaded, &tampered);
        self.report.expect(
            "the same image with one bit flipped is refused",
            v == Verdict::Reject(FirmwareError::ImageHashMismatch),
            verdict_text(&v),
        );

        let forged = SignedManifest {
            manifest,
            signature: self
                .cast
                .mallory
                .sign_digest(&hash_encoded(MANIFEST_TAG, &manifest))
                .map_err(StoryError::Crypto)?,
        };
        let (v, _) = stream(&policy, &forged, &image);
        self.report.expect(
            "a manifest Mallory signed in Lumen's name is refused",
            v == Verdict::Reject(FirmwareError::InvalidManifestSignature),
            verdict_text(&v),
        );

        if installed {
            policy.installed_version = 2;
        }
        let (v, _) = stream(&policy, &old, &old_image);
        self.report.expect(
            "the older, validly signed v1 is refused (anti-rollback)",
            matches!(v, Verdict::Reject(FirmwareError::Downgrade { .. })),
            verdict_text(&v),
        );
        Ok(())
    }
}
