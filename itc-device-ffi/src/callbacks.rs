//! The integrator's C callbacks behind the SDK's traits: flash pages for the replay table
//! ([`itc_device_sdk::flash::FlashPages`]) and a signer for a secure element
//! ([`itc_crypto::Signer`]).
//!
//! The C structs name pages by index and carry an offset and a length, so a later SDK that
//! keeps more than one fixed record changes only this glue. Today's record is the per-issuer
//! replay table (`ITC_FLASH_RECORD_LEN` bytes at offset 0 of page 0 or 1).

use core::ffi::c_void;

use itc_crypto::{CryptoError, Hash, PublicKey, SecretKey, Signature, Signer};
use itc_device_sdk::error::StorageError;
use itc_device_sdk::flash::{FlashPages, Page, RECORD_LEN};

use crate::status::ItcStatus;

/// Reads `len` bytes at `offset` of flash page `page` into `out`. Returns 0 on success.
pub(crate) type ItcFlashReadFn =
    unsafe extern "C" fn(ctx: *mut c_void, page: u32, offset: u32, out: *mut u8, len: usize) -> i32;
/// Erases flash page `page` (every byte becomes 0xff). Returns 0 on success.
pub(crate) type ItcFlashEraseFn = unsafe extern "C" fn(ctx: *mut c_void, page: u32) -> i32;
/// Programs `len` bytes of `data` at `offset` of the erased page `page`. Returns 0 on success.
pub(crate) type ItcFlashProgramFn = unsafe extern "C" fn(
    ctx: *mut c_void,
    page: u32,
    offset: u32,
    data: *const u8,
    len: usize,
) -> i32;
/// Signs a 32-byte digest with the device key (BIP340 Schnorr over secp256k1), writing the
/// 64-byte signature to `signature_out`. Returns 0 on success.
pub(crate) type ItcSignFn =
    unsafe extern "C" fn(ctx: *mut c_void, digest: *const u8, signature_out: *mut u8) -> i32;

/// The integrator's flash driver for the replay table: `page_count` erasable pages of
/// `page_size` bytes each, addressed by index from 0. The SDK keeps its record(s) there,
/// written so that a power loss at any instant never loses the last committed mark.
///
/// The callbacks are called only from within `itc_device_*` calls on the handle that holds
/// them, never concurrently, and must not call back into the API with that handle.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ItcFlash {
    /// Passed unchanged to every callback.
    pub ctx: *mut c_void,
    /// Required. Reads `len` bytes at `offset` of page `page` into `out`; returns 0 on
    /// success, anything else is `ITC_STATUS_STORAGE_READ_FAILED`.
    pub read: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            page: u32,
            offset: u32,
            out: *mut u8,
            len: usize,
        ) -> i32,
    >,
    /// Required. Erases page `page` (every byte becomes 0xff); returns 0 on success.
    pub erase: Option<unsafe extern "C" fn(ctx: *mut c_void, page: u32) -> i32>,
    /// Required. Programs `len` bytes of `data` at `offset` of the erased page `page`;
    /// returns 0 on success.
    pub program: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            page: u32,
            offset: u32,
            data: *const u8,
            len: usize,
        ) -> i32,
    >,
    /// Bytes per page (at least `ITC_FLASH_RECORD_LEN`).
    pub page_size: u32,
    /// Pages reserved for the SDK (at least 2).
    pub page_count: u32,
}

/// A secure element (or any signer outside the SDK): the device's x-only public key and a
/// callback that signs digests with the matching private key.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ItcSigner {
    /// Passed unchanged to the callback.
    pub ctx: *mut c_void,
    /// The device's 32-byte x-only public key.
    pub public_key: [u8; 32],
    /// Required. Signs the 32-byte `digest` with the device key (BIP340 Schnorr over
    /// secp256k1) and writes the 64-byte signature to `signature_out`; returns 0 on success,
    /// anything else is `ITC_STATUS_SIGNER_FAILED`.
    pub sign: Option<
        unsafe extern "C" fn(ctx: *mut c_void, digest: *const u8, signature_out: *mut u8) -> i32,
    >,
}

/// [`ItcFlash`] with its callbacks checked present.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CFlash {
    ctx: *mut c_void,
    read: ItcFlashReadFn,
    erase: ItcFlashEraseFn,
    program: ItcFlashProgramFn,
}

impl CFlash {
    /// Checks the integrator's flash description.
    pub(crate) fn new(f: &ItcFlash) -> Result<Self, ItcStatus> {
        let (Some(read), Some(erase), Some(program)) = (f.read, f.erase, f.program) else {
            return Err(ItcStatus::NullPointer);
        };
        let record_fits = usize::try_from(f.page_size).is_ok_and(|s| s >= RECORD_LEN);
        if !record_fits || f.page_count < 2 {
            return Err(ItcStatus::InvalidConfig);
        }
        Ok(CFlash {
            ctx: f.ctx,
            read,
            erase,
            program,
        })
    }
}

fn page_index(page: Page) -> u32 {
    match page {
        Page::A => 0,
        Page::B => 1,
    }
}

impl FlashPages for CFlash {
    fn erase(&mut self, page: Page) -> Result<(), StorageError> {
        // SAFETY: the integrator promised (itc_device_init) that `erase` is a valid function
        // taking this `ctx`; page 0/1 is within the `page_count` ≥ 2 checked at init.
        let rc = unsafe { (self.erase)(self.ctx, page_index(page)) };
        if rc == 0 {
            Ok(())
        } else {
            Err(StorageError::WriteFailed)
        }
    }

    fn program(&mut self, page: Page, data: &[u8; RECORD_LEN]) -> Result<(), StorageError> {
        // SAFETY: as for `erase`; `data` is a live array of RECORD_LEN bytes for the call, and
        // RECORD_LEN ≤ page_size (checked at init).
        let rc =
            unsafe { (self.program)(self.ctx, page_index(page), 0, data.as_ptr(), RECORD_LEN) };
        if rc == 0 {
            Ok(())
        } else {
            Err(StorageError::WriteFailed)
        }
    }

    fn read(&mut self, page: Page, out: &mut [u8; RECORD_LEN]) -> Result<(), StorageError> {
        // SAFETY: as for `erase`; `out` is a live, writable array of RECORD_LEN bytes.
        let rc =
            unsafe { (self.read)(self.ctx, page_index(page), 0, out.as_mut_ptr(), RECORD_LEN) };
        if rc == 0 {
            Ok(())
        } else {
            Err(StorageError::ReadFailed)
        }
    }
}

/// The device's signer: a key the SDK holds, or the integrator's callback.
#[derive(Debug, Clone)]
pub(crate) enum FfiSigner {
    /// A secret key copied into the handle (zeroised by `itc_device_deinit`).
    Key(SecretKey),
    /// A secure element behind a callback.
    External {
        ctx: *mut c_void,
        sign: ItcSignFn,
        public_key: PublicKey,
    },
}

impl FfiSigner {
    /// Checks the integrator's signer description (parses its public key).
    pub(crate) fn external(s: &ItcSigner) -> Result<Self, ItcStatus> {
        let sign = s.sign.ok_or(ItcStatus::NullPointer)?;
        let public_key = PublicKey::from_bytes(&s.public_key).map_err(|_| ItcStatus::InvalidKey)?;
        Ok(FfiSigner::External {
            ctx: s.ctx,
            sign,
            public_key,
        })
    }
}

impl Signer for FfiSigner {
    fn public_key(&self) -> PublicKey {
        match self {
            FfiSigner::Key(k) => k.public_key(),
            FfiSigner::External { public_key, .. } => *public_key,
        }
    }

    fn sign_digest(&self, digest: &Hash) -> Result<Signature, CryptoError> {
        match self {
            FfiSigner::Key(k) => k.sign_digest(digest),
            FfiSigner::External { ctx, sign, .. } => {
                let mut out = [0u8; 64];
                // SAFETY: the integrator promised (itc_device_init_with_signer) that `sign` is
                // a valid function for this `ctx`; `digest` is 32 readable bytes and `out` 64
                // writable bytes, both live for the call.
                let rc = unsafe { sign(*ctx, digest.as_bytes().as_ptr(), out.as_mut_ptr()) };
                if rc == 0 {
                    Ok(Signature(out))
                } else {
                    Err(CryptoError::SigningFailed)
                }
            }
        }
    }
}
