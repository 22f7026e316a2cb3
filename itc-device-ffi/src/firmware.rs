//! Signed firmware updates: the manifest check and the streamed image check, with the
//! verifier in a caller-owned buffer (one Keccak state; no copy of the image is kept).

use core::ffi::c_void;
use core::mem::size_of;
use core::ptr::addr_of_mut;

use itc_crypto::{Decode, PublicKey};
use itc_device_sdk::firmware::{ImageVerifier, SignedManifest, UpdatePolicy, Verdict};

use crate::raw::{self, Handle};
use crate::status::{status, ItcStatus};
use crate::{ITC_IMAGE_VERIFIER_ALIGN, ITC_IMAGE_VERIFIER_SIZE};

/// What the device knows about itself when an update is offered.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItcUpdatePolicy {
    /// The vendor's 32-byte x-only firmware key the device trusts.
    pub vendor_key: [u8; 32],
    /// This device's product code.
    pub product: u32,
    /// The version now running (the anti-rollback floor).
    pub installed_version: u32,
    /// Size of the download slot in bytes.
    pub max_image_size: u32,
    /// Must be zero.
    pub reserved: u32,
}

/// What the bootloader installs after `itc_fw_image_finish` returned `ITC_STATUS_OK`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItcFirmwareInstall {
    /// The verified image hash (re-check after copying, if the bootloader can).
    pub image_hash: [u8; 32],
    /// The version to record as installed (the new anti-rollback floor).
    pub version: u32,
    /// The image size in bytes.
    pub image_size: u32,
}

/// cbindgen:ignore
/// What lives in the caller's verifier buffer.
#[repr(C)]
pub(crate) struct VerifierState {
    magic: u32,
    verifier: Option<ImageVerifier>,
}

// SAFETY: `#[repr(C)]`, `u32` magic first; size and alignment asserted below; the magic is
// written after the verifier.
unsafe impl Handle for VerifierState {
    const MAGIC: u32 = 0x4954_4657; // "ITFW"
    const BUFFER_SIZE: usize = ITC_IMAGE_VERIFIER_SIZE;
    const BUFFER_ALIGN: usize = ITC_IMAGE_VERIFIER_ALIGN;
}

const _: () = assert!(size_of::<VerifierState>() <= ITC_IMAGE_VERIFIER_SIZE);
const _: () = assert!(core::mem::align_of::<VerifierState>() <= ITC_IMAGE_VERIFIER_ALIGN);
const _: () = assert!(ITC_IMAGE_VERIFIER_ALIGN >= 4);
const _: () =
    assert!(crate::ITC_SIGNED_MANIFEST_LEN == itc_device_sdk::firmware::SIGNED_MANIFEST_LEN);

/// Checks the manifest and starts the verifier straight in `slot` (the caller's buffer), so
/// no verifier is returned by value through the frames above the signature check.
#[inline(never)]
fn check(
    policy: &ItcUpdatePolicy,
    manifest: &[u8],
    slot: &mut Option<ImageVerifier>,
) -> Result<(), ItcStatus> {
    if policy.reserved != 0 {
        return Err(ItcStatus::InvalidConfig);
    }
    let vendor = PublicKey::from_bytes(&policy.vendor_key).map_err(|_| ItcStatus::InvalidKey)?;
    let policy = UpdatePolicy {
        vendor,
        product: policy.product,
        installed_version: policy.installed_version,
        max_image_size: policy.max_image_size,
    };
    let signed = SignedManifest::decode_bytes(manifest).map_err(|_| ItcStatus::Malformed)?;
    *slot = Some(policy.check(&signed)?);
    Ok(())
}

/// Checks a signed manifest (`ITC_SIGNED_MANIFEST_LEN` bytes) against the device's policy —
/// vendor key, product, anti-rollback, slot size, then the signature — and on success starts
/// an image verifier in `verifier_buf` for the image it describes. On failure the buffer
/// holds no verifier.
///
/// # Safety
/// `policy` NULL or readable; `manifest` NULL or `manifest_len` readable bytes outside the
/// verifier buffer; `verifier_buf` NULL or `verifier_len` writable bytes aligned to
/// `ITC_IMAGE_VERIFIER_ALIGN`, used by nothing else while the verifier lives.
#[no_mangle]
pub unsafe extern "C" fn itc_fw_check_manifest(
    policy: *const ItcUpdatePolicy,
    manifest: *const u8,
    manifest_len: usize,
    verifier_buf: *mut c_void,
    verifier_len: usize,
) -> ItcStatus {
    status((|| {
        let p = raw::check_buffer::<VerifierState>(verifier_buf, verifier_len)?;
        // SAFETY: `p` is non-NULL, aligned and long enough (checked); the magic is a `u32`
        // at offset 0. Cleared first so that any failure leaves no verifier behind.
        unsafe { addr_of_mut!((*p).magic).write(0) };
        if policy.is_null() {
            return Err(ItcStatus::NullPointer);
        }
        if raw::overlaps(
            verifier_buf,
            size_of::<VerifierState>(),
            manifest,
            manifest_len,
        ) {
            return Err(ItcStatus::BufferOverlap);
        }
        // SAFETY: forwarded contract.
        let bytes = unsafe { raw::input(manifest, manifest_len) }?;
        // SAFETY: non-NULL and readable (contract); plain bytes and integers.
        let policy = unsafe { policy.read_unaligned() };
        // SAFETY: field of the valid, aligned `*p`, written without reading the old bytes.
        unsafe { addr_of_mut!((*p).verifier).write(None) };
        // SAFETY: the field was just initialised; the buffer is the caller's, used by nothing
        // else (contract), and `bytes` lies outside it (checked above), so this is the only
        // reference to it.
        let slot = unsafe { &mut *addr_of_mut!((*p).verifier) };
        check(&policy, bytes, slot)?;
        // SAFETY: the verifier is initialised: the handle is now valid.
        unsafe { addr_of_mut!((*p).magic).write(VerifierState::MAGIC) };
        Ok(())
    })())
}

/// Feeds the next chunk of the image (any size, in order). Bytes beyond the manifest's size
/// are refused at once (`ITC_STATUS_IMAGE_TOO_LONG`) and the stream stays refused.
///
/// # Safety
/// `verifier_buf` NULL or a buffer as for `itc_fw_check_manifest`; `chunk` NULL or
/// `chunk_len` readable bytes outside it.
#[no_mangle]
pub unsafe extern "C" fn itc_fw_image_update(
    verifier_buf: *mut c_void,
    chunk: *const u8,
    chunk_len: usize,
) -> ItcStatus {
    // SAFETY: forwarded contract.
    status(
        unsafe { raw::handle::<VerifierState>(verifier_buf) }.and_then(|state| {
            if raw::overlaps(verifier_buf, size_of::<VerifierState>(), chunk, chunk_len) {
                return Err(ItcStatus::BufferOverlap);
            }
            if u32::try_from(chunk_len).is_err() {
                return Err(ItcStatus::InputTooLong);
            }
            // SAFETY: forwarded contract.
            let bytes = unsafe { raw::input(chunk, chunk_len) }?;
            let verifier = state.verifier.as_mut().ok_or(ItcStatus::NotInitialized)?;
            Ok(verifier.update(bytes)?)
        }),
    )
}

/// Ends the stream and gives the verdict: `ITC_STATUS_OK` (install; `install_out`, if given,
/// says what) or the reason to keep the running image. The verifier is consumed either way.
///
/// # Safety
/// `verifier_buf` as for `itc_fw_image_update`; `install_out` NULL or a writable, aligned
/// `ItcFirmwareInstall`.
#[no_mangle]
pub unsafe extern "C" fn itc_fw_image_finish(
    verifier_buf: *mut c_void,
    install_out: *mut ItcFirmwareInstall,
) -> ItcStatus {
    // SAFETY: forwarded contract.
    status(
        unsafe { raw::handle::<VerifierState>(verifier_buf) }.and_then(|state| {
            let verifier = state.verifier.take().ok_or(ItcStatus::NotInitialized)?;
            state.magic = 0;
            match verifier.finish() {
                Verdict::Install {
                    version,
                    image_hash,
                    image_size,
                } => {
                    let install = ItcFirmwareInstall {
                        image_hash: image_hash.0,
                        version,
                        image_size,
                    };
                    // SAFETY: NULL or a writable, aligned ItcFirmwareInstall (contract).
                    unsafe { raw::write_optional(install_out, install) }
                }
                Verdict::Reject(e) => Err(e.into()),
            }
        }),
    )
}
