//! Test doubles: flash pages in RAM behind the C callbacks, a signer callback, aligned buffers.
#![allow(dead_code, clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use core::ffi::c_void;

use itc_device_ffi::{ItcFlash, ItcSigner, ITC_DEVICE_SIZE, ITC_IMAGE_VERIFIER_SIZE};

pub const PAGE: usize = 1024;

/// Two (or more) flash pages in RAM with NOR semantics, counting erases, optionally failing.
pub struct RamFlash {
    pub pages: [[u8; PAGE]; 2],
    pub erases: u32,
    pub fail_reads: bool,
    pub fail_writes: bool,
}

impl RamFlash {
    pub fn new() -> Box<Self> {
        Box::new(RamFlash {
            pages: [[0xff; PAGE]; 2],
            erases: 0,
            fail_reads: false,
            fail_writes: false,
        })
    }

    pub fn callbacks(&mut self) -> ItcFlash {
        ItcFlash {
            ctx: (self as *mut RamFlash).cast(),
            read: Some(read),
            erase: Some(erase),
            program: Some(program),
            page_size: PAGE as u32,
            page_count: 2,
        }
    }
}

unsafe extern "C" fn read(
    ctx: *mut c_void,
    page: u32,
    offset: u32,
    out: *mut u8,
    len: usize,
) -> i32 {
    // SAFETY: ctx is the RamFlash the test registered; out has len bytes (library contract).
    let f = unsafe { &mut *ctx.cast::<RamFlash>() };
    if f.fail_reads || page > 1 || offset as usize + len > PAGE {
        return -1;
    }
    let src = &f.pages[page as usize][offset as usize..offset as usize + len];
    // SAFETY: out is writable for len bytes (library contract).
    unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), out, len) };
    0
}

unsafe extern "C" fn erase(ctx: *mut c_void, page: u32) -> i32 {
    // SAFETY: as in `read`.
    let f = unsafe { &mut *ctx.cast::<RamFlash>() };
    if f.fail_writes || page > 1 {
        return -1;
    }
    f.erases += 1;
    f.pages[page as usize] = [0xff; PAGE];
    0
}

unsafe extern "C" fn program(
    ctx: *mut c_void,
    page: u32,
    offset: u32,
    data: *const u8,
    len: usize,
) -> i32 {
    // SAFETY: as in `read`.
    let f = unsafe { &mut *ctx.cast::<RamFlash>() };
    if f.fail_writes || page > 1 || offset as usize + len > PAGE {
        return -1;
    }
    // SAFETY: data is readable for len bytes (library contract).
    let src = unsafe { core::slice::from_raw_parts(data, len) };
    for (d, s) in f.pages[page as usize][offset as usize..]
        .iter_mut()
        .zip(src)
    {
        *d &= *s;
    }
    0
}

/// A signer callback: returns a fixed pattern, or fails when ctx points to `true`.
pub unsafe extern "C" fn sign(ctx: *mut c_void, digest: *const u8, out: *mut u8) -> i32 {
    // SAFETY: ctx is a `bool` the test owns.
    if unsafe { *ctx.cast::<bool>() } {
        return 7;
    }
    // SAFETY: digest 32 readable, out 64 writable bytes (library contract).
    unsafe {
        for i in 0..32 {
            *out.add(i) = *digest.add(i);
            *out.add(32 + i) = 0xee;
        }
    }
    0
}

/// `fail` is used as the callback's context as it is (no reborrow), so the test may flip it
/// through the same pointer.
pub fn signer(public_key: [u8; 32], fail: *mut bool) -> ItcSigner {
    ItcSigner {
        ctx: fail.cast(),
        public_key,
        sign: Some(sign),
    }
}

/// A device buffer aligned like the header asks.
#[repr(C, align(8))]
pub struct DeviceBuf(pub [u8; ITC_DEVICE_SIZE]);

impl DeviceBuf {
    pub fn zeroed() -> Box<Self> {
        Box::new(DeviceBuf([0; ITC_DEVICE_SIZE]))
    }
    pub fn ptr(&mut self) -> *mut c_void {
        self.0.as_mut_ptr().cast()
    }
}

#[repr(C, align(8))]
pub struct VerifierBuf(pub [u8; ITC_IMAGE_VERIFIER_SIZE]);

impl VerifierBuf {
    pub fn zeroed() -> Box<Self> {
        Box::new(VerifierBuf([0; ITC_IMAGE_VERIFIER_SIZE]))
    }
    pub fn ptr(&mut self) -> *mut c_void {
        self.0.as_mut_ptr().cast()
    }
}

pub mod fixtures {
    pub const DEVICE_KEY: &[u8; 32] = include_bytes!("../../../firmware/fixtures/device_key.bin");
    pub const VENDOR_KEY: &[u8; 32] = include_bytes!("../../../firmware/fixtures/vendor_key.bin");
    pub const ANCHOR: &[u8] = include_bytes!("../../../firmware/fixtures/anchor.bin");
    pub const VALIDATORS: &[u8] = include_bytes!("../../../firmware/fixtures/validators.bin");
    pub const HEADER: &[u8] = include_bytes!("../../../firmware/fixtures/header.bin");
    pub const CERT: &[u8] = include_bytes!("../../../firmware/fixtures/cert.bin");
    pub const RECORD: &[u8] = include_bytes!("../../../firmware/fixtures/record.bin");
    pub const PROOF: &[u8] = include_bytes!("../../../firmware/fixtures/proof.bin");
    pub const CMD_OWNER: &[u8] = include_bytes!("../../../firmware/fixtures/cmd_owner.bin");
    pub const CMD_OWNER2: &[u8] = include_bytes!("../../../firmware/fixtures/cmd_owner2.bin");
    pub const CMD_GRANTEE: &[u8] = include_bytes!("../../../firmware/fixtures/cmd_grantee.bin");
    pub const CMD_STRANGER: &[u8] = include_bytes!("../../../firmware/fixtures/cmd_stranger.bin");
    pub const CMD_GRANTEE_MAX: &[u8] =
        include_bytes!("../../../firmware/fixtures/cmd_grantee_max.bin");
    pub const CMD_OWNER3: &[u8] = include_bytes!("../../../firmware/fixtures/cmd_owner3.bin");
    pub const MANIFEST: &[u8] = include_bytes!("../../../firmware/fixtures/manifest.bin");
    pub const MANIFEST_DOWNGRADE: &[u8] =
        include_bytes!("../../../firmware/fixtures/manifest_downgrade.bin");
    pub const NOW: &[u8; 8] = include_bytes!("../../../firmware/fixtures/now.bin");
    pub const EPOCH: u64 = 100;
    pub const IMAGE_SIZE: u32 = 32 * 1024;

    pub fn now() -> u64 {
        u64::from_be_bytes(*NOW)
    }

    pub fn image_byte(i: u32) -> u8 {
        (i.wrapping_mul(2_654_435_761) >> 24) as u8
    }
}
