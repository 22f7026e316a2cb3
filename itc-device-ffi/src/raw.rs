//! Turning C pointers into Rust references: every check the boundary makes, in one place.
//!
//! Rules (the header repeats them): a pointer parameter not documented as optional must be
//! non-NULL, whatever its length; an input buffer must be readable for its length and must not
//! overlap the handle it is passed with; a handle buffer must be aligned and at least as long
//! as the header says, and only the functions of its kind may touch it.

use core::ffi::c_void;
use core::mem::{align_of, size_of};

use crate::status::ItcStatus;

/// Largest length a slice may have (`isize::MAX`, the limit of `core::slice::from_raw_parts`).
const MAX_LEN: usize = isize::MAX as usize;

/// Borrows `len` input bytes at `ptr`.
///
/// # Safety
/// If `ptr` is non-NULL it must be valid for reads of `len` bytes for `'a`, and nothing may
/// write those bytes during `'a`.
pub(crate) unsafe fn input<'a>(ptr: *const u8, len: usize) -> Result<&'a [u8], ItcStatus> {
    if ptr.is_null() {
        return Err(ItcStatus::NullPointer);
    }
    if len > MAX_LEN {
        return Err(ItcStatus::InputTooLong);
    }
    // SAFETY: non-NULL (checked), `len` within `isize::MAX` (checked); readability for `len`
    // bytes and the absence of writers are the caller's contract. `u8` has alignment 1.
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// Borrows a fixed-size input array (a key, a digest).
///
/// # Safety
/// If `ptr` is non-NULL it must be valid for reads of `N` bytes for `'a`.
pub(crate) unsafe fn array<'a, const N: usize>(ptr: *const u8) -> Result<&'a [u8; N], ItcStatus> {
    if ptr.is_null() {
        return Err(ItcStatus::NullPointer);
    }
    // SAFETY: non-NULL (checked); `[u8; N]` has alignment 1 and the caller guarantees `N`
    // readable bytes.
    Ok(unsafe { &*ptr.cast::<[u8; N]>() })
}

/// Writes a value through an output pointer the caller provided.
///
/// # Safety
/// If `ptr` is non-NULL it must be valid for writes of a `T` and aligned for it.
pub(crate) unsafe fn write_out<T>(ptr: *mut T, value: T) -> Result<(), ItcStatus> {
    if ptr.is_null() {
        return Err(ItcStatus::NullPointer);
    }
    if !aligned(ptr as usize, align_of::<T>()) {
        return Err(ItcStatus::BadAlignment);
    }
    // SAFETY: non-NULL and aligned (checked); writable per the caller's contract. `write`
    // does not read or drop the old contents (which may be uninitialised).
    unsafe { ptr.write(value) };
    Ok(())
}

/// Writes through an optional output pointer (NULL: the caller does not want it).
///
/// # Safety
/// As [`write_out`].
pub(crate) unsafe fn write_optional<T>(ptr: *mut T, value: T) -> Result<(), ItcStatus> {
    if ptr.is_null() {
        return Ok(());
    }
    // SAFETY: forwarded contract.
    unsafe { write_out(ptr, value) }
}

/// Whether `addr` is a multiple of `align` (false for a zero alignment).
fn aligned(addr: usize, align: usize) -> bool {
    addr.checked_rem(align) == Some(0)
}

/// Whether `[a, a + a_len)` and `[b, b + b_len)` share a byte.
pub(crate) fn overlaps(a: *const c_void, a_len: usize, b: *const u8, b_len: usize) -> bool {
    let (a, b) = (a as usize, b as usize);
    let a_end = a.saturating_add(a_len);
    let b_end = b.saturating_add(b_len);
    a_len != 0 && b_len != 0 && a < b_end && b < a_end
}

/// What a handle kind must provide: a magic word at offset 0 (`#[repr(C)]`, first field)
/// telling an initialised handle from stray memory, and its buffer size from the header.
///
/// # Safety
/// Implementors must be `#[repr(C)]` with a `u32` magic as the first field, must fit
/// [`Handle::BUFFER_SIZE`] and [`Handle::BUFFER_ALIGN`], and the magic must only be written
/// with [`Handle::MAGIC`] once every other field is initialised.
pub(crate) unsafe trait Handle: Sized {
    /// The word an initialised handle starts with.
    const MAGIC: u32;
    /// The buffer size the header promises is enough.
    const BUFFER_SIZE: usize;
    /// The buffer alignment the header asks for.
    const BUFFER_ALIGN: usize;
}

/// Checks a handle buffer about to be initialised: non-NULL, aligned, long enough.
pub(crate) fn check_buffer<T: Handle>(buf: *mut c_void, len: usize) -> Result<*mut T, ItcStatus> {
    if buf.is_null() {
        return Err(ItcStatus::NullPointer);
    }
    if !aligned(buf as usize, T::BUFFER_ALIGN) {
        return Err(ItcStatus::BadAlignment);
    }
    if len < T::BUFFER_SIZE || size_of::<T>() > len {
        return Err(ItcStatus::BufferTooSmall);
    }
    Ok(buf.cast::<T>())
}

/// Borrows an initialised handle.
///
/// # Safety
/// If `buf` is non-NULL and aligned it must point to `T::BUFFER_SIZE` bytes the caller owns,
/// that no other reference (and no other thread) uses during `'a`, and that are either a `T`
/// initialised by this crate or bytes whose first word is not `T::MAGIC` (e.g. zeroed).
pub(crate) unsafe fn handle<'a, T: Handle>(buf: *mut c_void) -> Result<&'a mut T, ItcStatus> {
    if buf.is_null() {
        return Err(ItcStatus::NullPointer);
    }
    if !aligned(buf as usize, T::BUFFER_ALIGN) {
        return Err(ItcStatus::BadAlignment);
    }
    // SAFETY: non-NULL and aligned for `u32` (BUFFER_ALIGN ≥ 4, asserted per handle kind);
    // the buffer is at least BUFFER_SIZE ≥ 4 bytes owned by the caller (contract).
    let magic = unsafe { buf.cast::<u32>().read() };
    if magic != T::MAGIC {
        return Err(ItcStatus::NotInitialized);
    }
    // SAFETY: the magic says this crate initialised a `T` here (only written last, trait
    // contract); aligned and exclusively ours for `'a` by the caller's contract.
    Ok(unsafe { &mut *buf.cast::<T>() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_is_exact() {
        let buf = [0u8; 16];
        let p = buf.as_ptr();
        let a = p.cast::<c_void>();
        assert!(overlaps(a, 8, p, 1));
        assert!(overlaps(a, 8, p.wrapping_add(7), 4));
        assert!(!overlaps(a, 8, p.wrapping_add(8), 4));
        assert!(!overlaps(a, 0, p, 4));
        assert!(!overlaps(a, 8, p, 0));
    }

    #[test]
    fn null_and_huge_inputs_are_refused() {
        // SAFETY: NULL is checked before any use.
        let null = unsafe { input(core::ptr::null(), 0) };
        assert_eq!(null, Err(ItcStatus::NullPointer));
        let b = [1u8];
        // SAFETY: the length check comes before the slice is made.
        let huge = unsafe { input(b.as_ptr(), usize::MAX) };
        assert_eq!(huge, Err(ItcStatus::InputTooLong));
        // SAFETY: `b` is readable for 1 byte.
        let ok = unsafe { input(b.as_ptr(), 1) };
        assert_eq!(ok, Ok(&b[..]));
    }
}
