//! The Rust firmware's scenario (firmware/src/main.rs) through the C ABI, with the same
//! fixtures and verdicts: light client from the trust anchor, a header 3,600 blocks on by a
//! rotated set, the ownership proof, owner obeyed, stranger refused, replay refused (with the
//! floor), cached-proof commands, one flash write per issuer slot, a grantee's counter
//! u64::MAX that does not block the owner, a command beyond the command lifetime; firmware
//! accepted, tampered and downgrade refused. Crypto-heavy: skipped under Miri (the boundary tests cover the pointer handling).
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use core::ptr::{null, null_mut};

use common::fixtures::*;
use common::{DeviceBuf, RamFlash, VerifierBuf};
use itc_device_ffi::device::*;
use itc_device_ffi::firmware::*;
use itc_device_ffi::*;

fn command(dev: *mut core::ffi::c_void, bytes: &[u8]) -> (ItcStatus, ItcCommandResult) {
    let mut r = core::mem::MaybeUninit::<ItcCommandResult>::uninit();
    // SAFETY: valid handle, input and output.
    let rc = unsafe {
        itc_device_handle_command(dev, bytes.as_ptr(), bytes.len(), now(), r.as_mut_ptr())
    };
    // SAFETY: the call always fills a non-NULL result.
    (rc, unsafe { r.assume_init() })
}

#[test]
#[cfg_attr(miri, ignore = "crypto under Miri takes minutes")]
fn the_firmware_scenario_through_the_c_abi() {
    let mut buf = DeviceBuf::zeroed();
    let mut flash = RamFlash::new();
    let f = flash.callbacks();
    let mut cfg = core::mem::MaybeUninit::<ItcDeviceConfig>::uninit();
    // SAFETY: valid pointers throughout this block.
    unsafe {
        assert_eq!(itc_device_config_default(cfg.as_mut_ptr()), ItcStatus::Ok);
        let mut cfg = cfg.assume_init();
        cfg.epoch_length = EPOCH;
        let dev = buf.ptr();
        assert_eq!(
            itc_device_init_with_key(dev, ITC_DEVICE_SIZE, &cfg, DEVICE_KEY.as_ptr(), &f),
            ItcStatus::Ok
        );
        // Commands before any proof: nobody is obeyed.
        assert_eq!(command(dev, CMD_OWNER).0, ItcStatus::NoVerifiedState);
        assert_eq!(
            itc_device_set_trust_anchor(dev, ANCHOR.as_ptr(), ANCHOR.len(), now()),
            ItcStatus::Ok
        );
        let mut height = 0u64;
        assert_eq!(itc_device_tip_height(dev, &mut height), ItcStatus::Ok);
        assert_eq!(height, 0);
        // Sequential verification of a far header fails; skipping with its set succeeds.
        assert_eq!(
            itc_device_verify_header(
                dev,
                HEADER.as_ptr(),
                HEADER.len(),
                CERT.as_ptr(),
                CERT.len(),
                null(),
                0,
                null(),
                0,
                now(),
                &mut height
            ),
            ItcStatus::ChainMismatch
        );
        assert_eq!(
            itc_device_verify_header(
                dev,
                HEADER.as_ptr(),
                HEADER.len(),
                CERT.as_ptr(),
                CERT.len(),
                VALIDATORS.as_ptr(),
                VALIDATORS.len(),
                null(),
                0,
                now(),
                &mut height
            ),
            ItcStatus::Ok
        );
        assert_eq!(height, 3600);
        // The same header again is stale.
        assert_eq!(
            itc_device_verify_header(
                dev,
                HEADER.as_ptr(),
                HEADER.len(),
                CERT.as_ptr(),
                CERT.len(),
                VALIDATORS.as_ptr(),
                VALIDATORS.len(),
                null(),
                0,
                now(),
                null_mut()
            ),
            ItcStatus::StaleHeader
        );
        // A truncated proof is malformed; the real one installs; again is not newer.
        assert_eq!(
            itc_device_update_ownership(
                dev,
                ITC_HEIGHT_TIP,
                RECORD.as_ptr(),
                RECORD.len(),
                PROOF.as_ptr(),
                PROOF.len() - 1
            ),
            ItcStatus::Malformed
        );
        assert_eq!(
            itc_device_update_ownership(
                dev,
                17,
                RECORD.as_ptr(),
                RECORD.len(),
                PROOF.as_ptr(),
                PROOF.len()
            ),
            ItcStatus::HeaderNotVerified
        );
        assert_eq!(
            itc_device_update_ownership(
                dev,
                ITC_HEIGHT_TIP,
                RECORD.as_ptr(),
                RECORD.len(),
                PROOF.as_ptr(),
                PROOF.len()
            ),
            ItcStatus::Ok
        );
        assert_eq!(
            itc_device_update_ownership(
                dev,
                3600,
                RECORD.as_ptr(),
                RECORD.len(),
                PROOF.as_ptr(),
                PROOF.len()
            ),
            ItcStatus::StateNotNewer
        );

        let (rc, r) = command(dev, CMD_OWNER);
        assert_eq!(rc, ItcStatus::Ok);
        assert_eq!(
            (r.access, r.counter, r.action),
            (ITC_ACCESS_OWNER, 1, ITC_ACTION_CONTROL)
        );
        assert_eq!(&r.argument[..r.argument_len as usize], b"on");
        assert_eq!(command(dev, CMD_STRANGER).0, ItcStatus::NotAuthorized);
        let (rc, r) = command(dev, CMD_OWNER);
        assert_eq!(rc, ItcStatus::Replayed);
        assert_eq!(r.replay_floor, 1);
        // CMD_OWNER2 with a flipped signature bit: refused, and its counter stays unused.
        let mut forged = CMD_OWNER2.to_vec();
        *forged.last_mut().unwrap() ^= 1;
        assert_eq!(command(dev, &forged).0, ItcStatus::InvalidSignature);
        let (rc, r) = command(dev, CMD_OWNER2);
        assert_eq!(rc, ItcStatus::Ok);
        assert_eq!(&r.argument[..r.argument_len as usize], b"level=40");
        let (rc, r) = command(dev, CMD_GRANTEE);
        assert_eq!(rc, ItcStatus::Ok);
        assert_eq!(
            (r.access, r.grant_expires_at),
            (ITC_ACCESS_DELEGATE, 1_000_000)
        );
        // Replay state per issuer: one flash erase opens the owner's slot (its window covers
        // both its counters), one the grantee's.
        assert_eq!(flash.erases, 2);

        // Power cycle: a new handle over the same flash refuses the old counters.
        assert_eq!(itc_device_deinit(dev), ItcStatus::Ok);
        assert_eq!(
            itc_device_init_with_key(dev, ITC_DEVICE_SIZE, &cfg, DEVICE_KEY.as_ptr(), &f),
            ItcStatus::Ok
        );
        assert_eq!(
            itc_device_set_trust_anchor(dev, ANCHOR.as_ptr(), ANCHOR.len(), now()),
            ItcStatus::Ok
        );
        assert_eq!(
            itc_device_verify_header(
                dev,
                HEADER.as_ptr(),
                HEADER.len(),
                CERT.as_ptr(),
                CERT.len(),
                VALIDATORS.as_ptr(),
                VALIDATORS.len(),
                null(),
                0,
                now(),
                null_mut()
            ),
            ItcStatus::Ok
        );
        assert_eq!(
            itc_device_update_ownership(
                dev,
                ITC_HEIGHT_TIP,
                RECORD.as_ptr(),
                RECORD.len(),
                PROOF.as_ptr(),
                PROOF.len()
            ),
            ItcStatus::Ok
        );
        // Each issuer's own reservation: the grantee's counter 3 plus the window of 64.
        let (rc, r) = command(dev, CMD_GRANTEE);
        assert_eq!(rc, ItcStatus::Replayed);
        assert_eq!(r.replay_floor, 3 + 64);
        let (rc, r) = command(dev, CMD_OWNER2);
        assert_eq!(rc, ItcStatus::Replayed);
        assert_eq!(r.replay_floor, 1 + 64);
        // Issue 16.5: the grantee sends counter u64::MAX; the owner is judged by its own floor.
        assert_eq!(command(dev, CMD_GRANTEE_MAX).0, ItcStatus::Ok);
        let (rc, r) = command(dev, CMD_GRANTEE_MAX);
        assert_eq!((rc, r.replay_floor), (ItcStatus::Replayed, u64::MAX));
        // (After the power cycle the owner's counters up to its own reservation, 65, count as
        // used: its floor is its own, not the grantee's u64::MAX.)
        let (rc, r) = command(dev, CMD_OWNER3);
        assert_eq!((rc, r.replay_floor), (ItcStatus::Replayed, 1 + 64));
        assert_eq!(itc_device_deinit(dev), ItcStatus::Ok);

        // A command lifetime shorter than the fixtures' five minutes: refused as too late.
        let short = ItcDeviceConfig {
            max_command_lifetime_ms: 60_000,
            ..cfg
        };
        assert_eq!(
            itc_device_init_with_key(dev, ITC_DEVICE_SIZE, &short, DEVICE_KEY.as_ptr(), &f),
            ItcStatus::Ok
        );
        assert_eq!(
            itc_device_set_trust_anchor(dev, ANCHOR.as_ptr(), ANCHOR.len(), now()),
            ItcStatus::Ok
        );
        assert_eq!(
            itc_device_verify_header(
                dev,
                HEADER.as_ptr(),
                HEADER.len(),
                CERT.as_ptr(),
                CERT.len(),
                VALIDATORS.as_ptr(),
                VALIDATORS.len(),
                null(),
                0,
                now(),
                null_mut()
            ),
            ItcStatus::Ok
        );
        assert_eq!(
            itc_device_update_ownership(
                dev,
                ITC_HEIGHT_TIP,
                RECORD.as_ptr(),
                RECORD.len(),
                PROOF.as_ptr(),
                PROOF.len()
            ),
            ItcStatus::Ok
        );
        let (rc, r) = command(dev, CMD_OWNER3);
        assert_eq!((rc, r.replay_floor), (ItcStatus::ExpiresTooLate, 0));
        assert_eq!(itc_device_deinit(dev), ItcStatus::Ok);
    }
}

fn policy() -> ItcUpdatePolicy {
    ItcUpdatePolicy {
        vendor_key: *VENDOR_KEY,
        product: 42,
        installed_version: 2,
        max_image_size: 64 * 1024,
        reserved: 0,
    }
}

fn stream(v: *mut core::ffi::c_void, flip: Option<u32>) -> (ItcStatus, ItcFirmwareInstall) {
    let mut chunk = [0u8; 256];
    let mut i = 0u32;
    while i < IMAGE_SIZE {
        for b in chunk.iter_mut() {
            *b = image_byte(i) ^ u8::from(Some(i) == flip);
            i += 1;
        }
        // SAFETY: valid verifier and chunk.
        let rc = unsafe { itc_fw_image_update(v, chunk.as_ptr(), chunk.len()) };
        assert_eq!(rc, ItcStatus::Ok);
    }
    let mut out = core::mem::MaybeUninit::<ItcFirmwareInstall>::zeroed();
    // SAFETY: valid verifier and output.
    let rc = unsafe { itc_fw_image_finish(v, out.as_mut_ptr()) };
    // SAFETY: zero-initialised plain data.
    (rc, unsafe { out.assume_init() })
}

#[test]
#[cfg_attr(miri, ignore = "crypto under Miri takes minutes")]
fn firmware_accepted_tampered_and_downgrade_refused() {
    let mut v = VerifierBuf::zeroed();
    let p = policy();
    // SAFETY: valid pointers throughout.
    unsafe {
        let check = |v: &mut VerifierBuf, m: &[u8]| {
            itc_fw_check_manifest(&p, m.as_ptr(), m.len(), v.ptr(), ITC_IMAGE_VERIFIER_SIZE)
        };
        assert_eq!(check(&mut v, MANIFEST), ItcStatus::Ok);
        let (rc, install) = stream(v.ptr(), None);
        assert_eq!(rc, ItcStatus::Ok);
        assert_eq!((install.version, install.image_size), (3, IMAGE_SIZE));
        // Finished: the verifier is gone.
        assert_eq!(
            itc_fw_image_finish(v.ptr(), null_mut()),
            ItcStatus::NotInitialized
        );

        assert_eq!(check(&mut v, MANIFEST), ItcStatus::Ok);
        assert_eq!(
            stream(v.ptr(), Some(12_345)).0,
            ItcStatus::ImageHashMismatch
        );

        assert_eq!(check(&mut v, MANIFEST), ItcStatus::Ok);
        let one = [0u8; 1];
        assert_eq!(itc_fw_image_update(v.ptr(), one.as_ptr(), 1), ItcStatus::Ok);
        assert_eq!(
            itc_fw_image_finish(v.ptr(), null_mut()),
            ItcStatus::ImageTruncated
        );

        assert_eq!(check(&mut v, MANIFEST_DOWNGRADE), ItcStatus::Downgrade);
        let other = ItcUpdatePolicy { product: 43, ..p };
        assert_eq!(
            itc_fw_check_manifest(
                &other,
                MANIFEST.as_ptr(),
                MANIFEST.len(),
                v.ptr(),
                ITC_IMAGE_VERIFIER_SIZE
            ),
            ItcStatus::WrongProduct
        );
        let mut forged = MANIFEST.to_vec();
        forged[ITC_SIGNED_MANIFEST_LEN - 1] ^= 1;
        assert_eq!(check(&mut v, &forged), ItcStatus::InvalidManifestSignature);
        let small = ItcUpdatePolicy {
            max_image_size: 1024,
            ..p
        };
        assert_eq!(
            itc_fw_check_manifest(
                &small,
                MANIFEST.as_ptr(),
                MANIFEST.len(),
                v.ptr(),
                ITC_IMAGE_VERIFIER_SIZE
            ),
            ItcStatus::ImageTooLarge
        );
    }
}

/// The inputs decoded into the handle's scratch space (issue 22): a truncated or overlong
/// anchor, header, certificate, validator set, record or proof is malformed and leaves the
/// light client as it was; the real inputs still work afterwards.
#[test]
#[cfg_attr(miri, ignore = "crypto under Miri takes minutes")]
fn malformed_inputs_leave_the_handle_as_it_was() {
    let mut buf = DeviceBuf::zeroed();
    let mut flash = RamFlash::new();
    let f = flash.callbacks();
    let long = |b: &[u8]| {
        let mut v = b.to_vec();
        v.push(0);
        v
    };
    let (anchor_long, header_long, cert_long, set_long, record_long, proof_long) = (
        long(ANCHOR),
        long(HEADER),
        long(CERT),
        long(VALIDATORS),
        long(RECORD),
        long(PROOF),
    );
    let verify = |dev, header: &[u8], cert: &[u8], set: &[u8]| {
        let mut height = 0u64;
        // SAFETY: valid handle, inputs and output.
        let rc = unsafe {
            itc_device_verify_header(
                dev,
                header.as_ptr(),
                header.len(),
                cert.as_ptr(),
                cert.len(),
                set.as_ptr(),
                set.len(),
                null(),
                0,
                now(),
                &mut height,
            )
        };
        (rc, height)
    };
    let tip = |dev| {
        let mut h = u64::MAX;
        // SAFETY: valid handle and output.
        let rc = unsafe { itc_device_tip_height(dev, &mut h) };
        (rc, h)
    };
    let own = |dev, record: &[u8], proof: &[u8]| {
        // SAFETY: valid handle and inputs.
        unsafe {
            itc_device_update_ownership(
                dev,
                ITC_HEIGHT_TIP,
                record.as_ptr(),
                record.len(),
                proof.as_ptr(),
                proof.len(),
            )
        }
    };
    let mut cfg = core::mem::MaybeUninit::<ItcDeviceConfig>::uninit();
    // SAFETY: valid pointers throughout this block.
    unsafe {
        assert_eq!(itc_device_config_default(cfg.as_mut_ptr()), ItcStatus::Ok);
        let mut cfg = cfg.assume_init();
        cfg.epoch_length = EPOCH;
        let dev = buf.ptr();
        assert_eq!(
            itc_device_init_with_key(dev, ITC_DEVICE_SIZE, &cfg, DEVICE_KEY.as_ptr(), &f),
            ItcStatus::Ok
        );
        for bad in [
            &ANCHOR[..ANCHOR.len() - 1],
            &anchor_long[..],
            &ANCHOR[..100],
        ] {
            assert_eq!(
                itc_device_set_trust_anchor(dev, bad.as_ptr(), bad.len(), now()),
                ItcStatus::Malformed
            );
            assert_eq!(tip(dev).0, ItcStatus::NoTrustAnchor);
        }
        assert_eq!(
            itc_device_set_trust_anchor(dev, ANCHOR.as_ptr(), ANCHOR.len(), now()),
            ItcStatus::Ok
        );
        assert_eq!(tip(dev), (ItcStatus::Ok, 0));
        let bad_headers: [(&[u8], &[u8], &[u8]); 6] = [
            (&HEADER[..HEADER.len() - 1], CERT, VALIDATORS),
            (&header_long, CERT, VALIDATORS),
            (HEADER, &CERT[..CERT.len() - 1], VALIDATORS),
            (HEADER, &cert_long, VALIDATORS),
            (HEADER, CERT, &VALIDATORS[..VALIDATORS.len() - 1]),
            (HEADER, CERT, &set_long),
        ];
        for (header, cert, set) in bad_headers {
            assert_eq!(verify(dev, header, cert, set).0, ItcStatus::Malformed);
            assert_eq!(tip(dev), (ItcStatus::Ok, 0));
        }
        assert_eq!(verify(dev, HEADER, CERT, VALIDATORS), (ItcStatus::Ok, 3600));
        // A refused anchor leaves the verified tip in place.
        assert_eq!(
            itc_device_set_trust_anchor(dev, anchor_long.as_ptr(), anchor_long.len(), now()),
            ItcStatus::Malformed
        );
        assert_eq!(tip(dev), (ItcStatus::Ok, 3600));
        for (record, proof) in [
            (&record_long[..], PROOF),
            (&RECORD[..RECORD.len() - 1], PROOF),
            (RECORD, &proof_long[..]),
        ] {
            assert_eq!(own(dev, record, proof), ItcStatus::Malformed);
        }
        assert_eq!(command(dev, CMD_OWNER).0, ItcStatus::NoVerifiedState);
        assert_eq!(own(dev, RECORD, PROOF), ItcStatus::Ok);
        assert_eq!(command(dev, CMD_OWNER).0, ItcStatus::Ok);
        assert_eq!(itc_device_deinit(dev), ItcStatus::Ok);
    }
}
