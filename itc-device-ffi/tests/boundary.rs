//! The boundary itself: NULL pointers, short and misaligned buffers, uninitialised and
//! finished handles, overlapping inputs, failing callbacks. Light on crypto so the whole file
//! runs under Miri (`cargo +nightly miri test -p itc-device-ffi --test boundary`).
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use core::ptr::{null, null_mut};

use common::{DeviceBuf, RamFlash, VerifierBuf};
use itc_device_ffi::device::*;
use itc_device_ffi::firmware::*;
use itc_device_ffi::*;

/// x coordinate of the secp256k1 generator: a valid x-only public key that costs no scalar
/// multiplication (Miri is slow at those).
const G_X: [u8; 32] = [
    0x79, 0xbe, 0x66, 0x7e, 0xf9, 0xdc, 0xbb, 0xac, 0x55, 0xa0, 0x62, 0x95, 0xce, 0x87, 0x0b, 0x07,
    0x02, 0x9b, 0xfc, 0xdb, 0x2d, 0xce, 0x28, 0xd9, 0x59, 0xf2, 0x81, 0x5b, 0x16, 0xf8, 0x17, 0x98,
];

fn config() -> ItcDeviceConfig {
    let mut c = core::mem::MaybeUninit::<ItcDeviceConfig>::uninit();
    // SAFETY: a writable ItcDeviceConfig.
    let rc = unsafe { itc_device_config_default(c.as_mut_ptr()) };
    assert_eq!(rc, ItcStatus::Ok);
    // SAFETY: just initialised.
    let mut c = unsafe { c.assume_init() };
    c.epoch_length = 100;
    c
}

/// A device on a callback signer (no key arithmetic), its flash and the fail switch. The
/// callbacks' contexts are raw pointers from `Box::into_raw`, never moved again (a moved Box
/// would invalidate them under Miri's stacked borrows); `Drop` frees them.
struct Fixture {
    buf: Box<DeviceBuf>,
    flash: *mut RamFlash,
    fail_ptr: *mut bool,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // SAFETY: both came from `Box::into_raw` in `device()` and are freed once, here.
        unsafe {
            drop(Box::from_raw(self.flash));
            drop(Box::from_raw(self.fail_ptr));
        }
    }
}

fn device() -> Fixture {
    let mut buf = DeviceBuf::zeroed();
    let flash = Box::into_raw(RamFlash::new());
    let fail_ptr = Box::into_raw(Box::new(false));
    // SAFETY: `flash` and `fail_ptr` are live allocations owned by the fixture.
    let (f, s) = unsafe { ((*flash).callbacks(), common::signer(G_X, fail_ptr)) };
    let cfg = config();
    // SAFETY: all pointers valid; the flash and the flag outlive the handle (Fixture).
    let rc = unsafe { itc_device_init_with_signer(buf.ptr(), ITC_DEVICE_SIZE, &cfg, &s, &f) };
    assert_eq!(rc, ItcStatus::Ok);
    Fixture {
        buf,
        flash,
        fail_ptr,
    }
}

#[test]
fn config_defaults_and_validation() {
    let c = config();
    assert_eq!(c.replay_window, 64);
    assert_eq!(c.reserved, [0; 4]);
    assert_eq!(c.max_command_lifetime_ms, 3_600_000);
    // SAFETY: NULL is refused before any write.
    let rc = unsafe { itc_device_config_default(null_mut()) };
    assert_eq!(rc, ItcStatus::NullPointer);
    let mut buf = DeviceBuf::zeroed();
    let mut flash = RamFlash::new();
    let f = flash.callbacks();
    let mut fail = false;
    let s = common::signer(G_X, &mut fail);
    for bad in [
        ItcDeviceConfig {
            epoch_length: 0,
            ..config()
        },
        ItcDeviceConfig {
            reserved: [0, 0, 1, 0],
            ..config()
        },
    ] {
        // SAFETY: valid pointers.
        let rc = unsafe { itc_device_init_with_signer(buf.ptr(), ITC_DEVICE_SIZE, &bad, &s, &f) };
        assert_eq!(rc, ItcStatus::InvalidConfig);
    }
    let small_pages = ItcFlash {
        page_size: (ITC_FLASH_RECORD_LEN - 1) as u32,
        ..f
    };
    let one_page = ItcFlash { page_count: 1, ..f };
    let no_read = ItcFlash { read: None, ..f };
    for (bad, want) in [
        (small_pages, ItcStatus::InvalidConfig),
        (one_page, ItcStatus::InvalidConfig),
        (no_read, ItcStatus::NullPointer),
    ] {
        // SAFETY: valid pointers.
        let rc =
            unsafe { itc_device_init_with_signer(buf.ptr(), ITC_DEVICE_SIZE, &config(), &s, &bad) };
        assert_eq!(rc, want);
    }
    // None of the failures left a handle behind.
    let mut h = 0u64;
    // SAFETY: the zeroed buffer reads as no handle.
    let rc = unsafe { itc_device_tip_height(buf.ptr(), &mut h) };
    assert_eq!(rc, ItcStatus::NotInitialized);
}

#[test]
fn init_refuses_null_short_misaligned_buffers_and_bad_keys() {
    let mut buf = DeviceBuf::zeroed();
    let mut flash = RamFlash::new();
    let f = flash.callbacks();
    let cfg = config();
    let mut fail = false;
    let s = common::signer(G_X, &mut fail);
    let key = [0x42u8; 32];
    let bp = buf.ptr();
    let cases: [(*mut core::ffi::c_void, usize, ItcStatus); 3] = [
        (null_mut(), ITC_DEVICE_SIZE, ItcStatus::NullPointer),
        (bp, ITC_DEVICE_SIZE - 1, ItcStatus::BufferTooSmall),
        (
            bp.wrapping_byte_add(1),
            ITC_DEVICE_SIZE - 1,
            ItcStatus::BadAlignment,
        ),
    ];
    for (p, len, want) in cases {
        // SAFETY: the buffer checks come before any write.
        let rc = unsafe { itc_device_init_with_signer(p, len, &cfg, &s, &f) };
        assert_eq!(rc, want);
        // SAFETY: as above; the key is never parsed.
        let rc = unsafe { itc_device_init_with_key(p, len, &cfg, key.as_ptr(), &f) };
        assert_eq!(rc, want);
    }
    // SAFETY: NULL config / flash / signer / key are refused.
    unsafe {
        let p = bp;
        let n = ITC_DEVICE_SIZE;
        assert_eq!(
            itc_device_init_with_signer(p, n, null(), &s, &f),
            ItcStatus::NullPointer
        );
        assert_eq!(
            itc_device_init_with_signer(p, n, &cfg, null(), &f),
            ItcStatus::NullPointer
        );
        assert_eq!(
            itc_device_init_with_signer(p, n, &cfg, &s, null()),
            ItcStatus::NullPointer
        );
        assert_eq!(
            itc_device_init_with_key(p, n, &cfg, null(), &f),
            ItcStatus::NullPointer
        );
        // The zero scalar is not a key; nor is an x coordinate at or above the field prime.
        assert_eq!(
            itc_device_init_with_key(p, n, &cfg, [0u8; 32].as_ptr(), &f),
            ItcStatus::InvalidKey
        );
        let mut off_curve = s;
        off_curve.public_key = [0xff; 32];
        assert_eq!(
            itc_device_init_with_signer(p, n, &cfg, &off_curve, &f),
            ItcStatus::InvalidKey
        );
        let no_sign = ItcSigner { sign: None, ..s };
        assert_eq!(
            itc_device_init_with_signer(p, n, &cfg, &no_sign, &f),
            ItcStatus::NullPointer
        );
    }
}

#[test]
fn every_call_refuses_null_zeroed_and_misaligned_handles() {
    let mut zero = DeviceBuf::zeroed();
    // One raw pointer for the whole test (a second `ptr()` would invalidate the first).
    let z = zero.ptr();
    let mut out = [0u8; 64];
    let mut h = 0u64;
    let mut r = core::mem::MaybeUninit::<ItcCommandResult>::uninit();
    let b = [0u8; 8];
    for (dev, want) in [
        (null_mut(), ItcStatus::NullPointer),
        (z, ItcStatus::NotInitialized),
        (z.wrapping_byte_add(4), ItcStatus::BadAlignment),
    ] {
        // SAFETY: every call checks the handle before touching anything else.
        unsafe {
            assert_eq!(itc_device_deinit(dev), want);
            assert_eq!(itc_device_id(dev, out.as_mut_ptr()), want);
            assert_eq!(itc_device_public_key(dev, out.as_mut_ptr()), want);
            assert_eq!(
                itc_device_sign_digest(dev, b.as_ptr(), out.as_mut_ptr()),
                want
            );
            assert_eq!(itc_device_set_trust_anchor(dev, b.as_ptr(), 8, 0), want);
            assert_eq!(
                itc_device_verify_header(
                    dev,
                    b.as_ptr(),
                    8,
                    b.as_ptr(),
                    8,
                    null(),
                    0,
                    null(),
                    0,
                    0,
                    &mut h
                ),
                want
            );
            assert_eq!(itc_device_tip_height(dev, &mut h), want);
            assert_eq!(
                itc_device_update_ownership(dev, ITC_HEIGHT_TIP, b.as_ptr(), 8, b.as_ptr(), 8),
                want
            );
            assert_eq!(
                itc_device_handle_command(dev, b.as_ptr(), 8, 0, r.as_mut_ptr()),
                want
            );
        }
    }
}

#[test]
fn an_initialised_handle_checks_its_inputs() {
    let mut fx = device();
    let dev = fx.buf.ptr();
    let mut id = [0u8; 32];
    let mut pk = [0u8; 32];
    let mut h = 0u64;
    // SAFETY: valid handle and buffers throughout; NULLs are refused.
    unsafe {
        assert_eq!(itc_device_id(dev, id.as_mut_ptr()), ItcStatus::Ok);
        assert_ne!(id, [0; 32]);
        assert_eq!(itc_device_public_key(dev, pk.as_mut_ptr()), ItcStatus::Ok);
        assert_eq!(pk, G_X);
        assert_eq!(itc_device_id(dev, null_mut()), ItcStatus::NullPointer);
        // No trust anchor yet.
        assert_eq!(itc_device_tip_height(dev, &mut h), ItcStatus::NoTrustAnchor);
        let b = [0u8; 4];
        assert_eq!(
            itc_device_update_ownership(dev, 1, b.as_ptr(), 4, b.as_ptr(), 4),
            ItcStatus::NoTrustAnchor
        );
        assert_eq!(
            itc_device_verify_header(
                dev,
                b.as_ptr(),
                4,
                b.as_ptr(),
                4,
                null(),
                0,
                null(),
                0,
                0,
                &mut h
            ),
            ItcStatus::NoTrustAnchor
        );
        assert_eq!(
            itc_device_set_trust_anchor(dev, null(), 0, 0),
            ItcStatus::NullPointer
        );
        assert_eq!(
            itc_device_set_trust_anchor(dev, b.as_ptr(), 4, 0),
            ItcStatus::Malformed
        );
        // Inputs inside the handle's own buffer are refused.
        let inside = dev.cast::<u8>().add(100).cast_const();
        assert_eq!(
            itc_device_set_trust_anchor(dev, inside, 16, 0),
            ItcStatus::BufferOverlap
        );
        assert_eq!(
            itc_device_handle_command(dev, inside, 16, 0, null_mut()),
            ItcStatus::BufferOverlap
        );
        // Garbage commands: malformed, and the result is zeroed.
        let mut r = core::mem::MaybeUninit::<ItcCommandResult>::uninit();
        assert_eq!(
            itc_device_handle_command(dev, b.as_ptr(), 4, 0, r.as_mut_ptr()),
            ItcStatus::Malformed
        );
        let r = r.assume_init();
        assert_eq!((r.counter, r.replay_floor, r.argument_len), (0, 0, 0));
        assert_eq!(
            itc_device_handle_command(dev, null(), 0, 0, null_mut()),
            ItcStatus::NullPointer
        );
    }
    // Nothing wrote flash.
    // SAFETY: the fixture's live flash; no call is running.
    assert_eq!(unsafe { (*fx.flash).erases }, 0);
}

#[test]
fn the_signer_callback_signs_and_its_failure_is_a_code() {
    let mut fx = device();
    let dev = fx.buf.ptr();
    let digest = [7u8; 32];
    let mut sig = [0u8; 64];
    // SAFETY: valid handle and buffers.
    unsafe {
        assert_eq!(
            itc_device_sign_digest(dev, digest.as_ptr(), sig.as_mut_ptr()),
            ItcStatus::Ok
        );
        assert_eq!(&sig[..32], &digest);
        assert_eq!(sig[32..], [0xee; 32]);
        *fx.fail_ptr = true;
        assert_eq!(
            itc_device_sign_digest(dev, digest.as_ptr(), sig.as_mut_ptr()),
            ItcStatus::SignerFailed
        );
        assert_eq!(
            itc_device_sign_digest(dev, null(), sig.as_mut_ptr()),
            ItcStatus::NullPointer
        );
        assert_eq!(
            itc_device_sign_digest(dev, digest.as_ptr(), null_mut()),
            ItcStatus::NullPointer
        );
    }
}

#[test]
fn a_failing_flash_read_fails_init() {
    let mut buf = DeviceBuf::zeroed();
    let mut flash = RamFlash::new();
    flash.fail_reads = true;
    let f = flash.callbacks();
    let mut fail = false;
    let s = common::signer(G_X, &mut fail);
    // SAFETY: valid pointers.
    let rc = unsafe { itc_device_init_with_signer(buf.ptr(), ITC_DEVICE_SIZE, &config(), &s, &f) };
    assert_eq!(rc, ItcStatus::StorageReadFailed);
    let mut h = 0;
    // SAFETY: no handle was left behind.
    let rc = unsafe { itc_device_tip_height(buf.ptr(), &mut h) };
    assert_eq!(rc, ItcStatus::NotInitialized);
}

#[test]
fn deinit_ends_the_handle() {
    let mut fx = device();
    let dev = fx.buf.ptr();
    let mut id = [0u8; 32];
    // SAFETY: valid handle, then a de-initialised one.
    unsafe {
        assert_eq!(itc_device_deinit(dev), ItcStatus::Ok);
        assert_eq!(itc_device_deinit(dev), ItcStatus::NotInitialized);
        assert_eq!(
            itc_device_id(dev, id.as_mut_ptr()),
            ItcStatus::NotInitialized
        );
    }
    assert!(itc_device_state_size() <= ITC_DEVICE_SIZE);
}

#[test]
fn image_verifier_boundary() {
    let mut v = VerifierBuf::zeroed();
    let vp = v.ptr();
    let policy = ItcUpdatePolicy {
        vendor_key: G_X,
        product: 42,
        installed_version: 2,
        max_image_size: 1024,
        reserved: 0,
    };
    let m = [0u8; ITC_SIGNED_MANIFEST_LEN];
    let mut install = core::mem::MaybeUninit::<ItcFirmwareInstall>::uninit();
    // SAFETY: valid pointers where given; every NULL / short / misaligned case is refused
    // before use.
    unsafe {
        let n = ITC_IMAGE_VERIFIER_SIZE;
        let mp = m.as_ptr();
        let ml = m.len();
        assert_eq!(
            itc_fw_check_manifest(null(), mp, ml, vp, n),
            ItcStatus::NullPointer
        );
        assert_eq!(
            itc_fw_check_manifest(&policy, null(), ml, vp, n),
            ItcStatus::NullPointer
        );
        assert_eq!(
            itc_fw_check_manifest(&policy, mp, ml, null_mut(), n),
            ItcStatus::NullPointer
        );
        assert_eq!(
            itc_fw_check_manifest(&policy, mp, ml, vp, n - 1),
            ItcStatus::BufferTooSmall
        );
        assert_eq!(
            itc_fw_check_manifest(&policy, mp, ml, vp.wrapping_byte_add(2), n - 8),
            ItcStatus::BadAlignment
        );
        let bad_policy = ItcUpdatePolicy {
            reserved: 1,
            ..policy
        };
        assert_eq!(
            itc_fw_check_manifest(&bad_policy, mp, ml, vp, n),
            ItcStatus::InvalidConfig
        );
        let bad_key = ItcUpdatePolicy {
            vendor_key: [0xff; 32],
            ..policy
        };
        assert_eq!(
            itc_fw_check_manifest(&bad_key, mp, ml, vp, n),
            ItcStatus::InvalidKey
        );
        // A manifest of zeros does not decode (the vendor key x = 0 is not on the curve).
        assert_eq!(
            itc_fw_check_manifest(&policy, mp, ml, vp, n),
            ItcStatus::Malformed
        );
        assert_eq!(
            itc_fw_check_manifest(&policy, mp, 3, vp, n),
            ItcStatus::Malformed
        );
        let inside = vp.cast::<u8>().add(8).cast_const();
        assert_eq!(
            itc_fw_check_manifest(&policy, inside, 16, vp, n),
            ItcStatus::BufferOverlap
        );
        // No verifier was started by any of these.
        let chunk = [0u8; 4];
        assert_eq!(
            itc_fw_image_update(vp, chunk.as_ptr(), 4),
            ItcStatus::NotInitialized
        );
        assert_eq!(
            itc_fw_image_finish(vp, install.as_mut_ptr()),
            ItcStatus::NotInitialized
        );
        assert_eq!(
            itc_fw_image_update(null_mut(), chunk.as_ptr(), 4),
            ItcStatus::NullPointer
        );
        assert_eq!(
            itc_fw_image_finish(null_mut(), null_mut()),
            ItcStatus::NullPointer
        );
    }
}

#[test]
fn status_names_are_distinct_and_unknown_numbers_have_one() {
    let name = |code: i32| {
        // SAFETY: itc_status_name returns a static NUL-terminated string, never NULL.
        unsafe { core::ffi::CStr::from_ptr(itc_status_name(code)) }
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(name(0), "ITC_STATUS_OK");
    assert_eq!(name(106), "ITC_STATUS_REPLAYED");
    assert_eq!(name(110), "ITC_STATUS_EXPIRY_BELOW_FLOOR");
    assert_eq!(name(111), "ITC_STATUS_EXPIRES_TOO_LATE");
    assert_eq!(name(112), "ITC_STATUS_REPLAY_TABLE_FULL");
    assert_eq!(name(-1), "ITC_STATUS_UNKNOWN");
    assert_eq!(name(99999), "ITC_STATUS_UNKNOWN");
    let known: Vec<String> = (0..400)
        .map(name)
        .filter(|n| n != "ITC_STATUS_UNKNOWN")
        .collect();
    let mut unique = known.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(known.len(), unique.len());
    assert_eq!(known.len(), 59);
    // The header declares each of them with the number this build uses.
    let header = include_str!("../include/itc_device.h");
    for code in 0..400 {
        let n = name(code);
        if n != "ITC_STATUS_UNKNOWN" {
            assert!(
                header.contains(&format!("{n} = {code},")),
                "{n} = {code} not in the header"
            );
        }
    }
    assert_eq!(itc_api_version(), ITC_API_VERSION);
}
