//! # itc-device-ffi
//!
//! The device path of `itc-device-sdk` as a C ABI, for chip vendors whose SDKs are C. The
//! header `include/itc_device.h` is generated from this crate by `cbindgen` (see
//! `check-header.sh`); the static library is `libitc_device_ffi.a`.
//!
//! * **Handles in caller-owned buffers.** A device ([`device`]) and a firmware image verifier
//!   ([`firmware`]) live in buffers the caller provides (`ITC_DEVICE_SIZE` /
//!   `ITC_IMAGE_VERIFIER_SIZE` bytes, aligned to the matching `_ALIGN`), typically `static`.
//!   Their layout is private: a later SDK may change it without changing the header (the
//!   sizes carry headroom; [`device::itc_device_state_size`] tells the bytes really used).
//! * **No allocation.** The SDK is built without its `alloc` feature; nothing here allocates.
//! * **Integer results.** Every function returns an [`ItcStatus`]; the numbers are stable and
//!   documented in the header. A refused call changes nothing.
//! * **No panic crosses the boundary.** The code is panic-free by construction (no indexing,
//!   unwrapping or unchecked arithmetic: `clippy::indexing_slicing`, `unwrap_used`,
//!   `arithmetic_side_effects` are denied), NULL pointers, misaligned or short buffers and
//!   overlapping inputs are refused with codes. Nothing is caught: firmware builds use the
//!   workspace's `release-size` profile, which has `panic = "abort"`, and in any build Rust
//!   aborts rather than unwind out of an `extern "C"` function. Without the `std` feature
//!   (MCU builds) the crate brings a `#[panic_handler]` that parks the core (a watchdog
//!   resets it); it is unreachable unless a dependency breaks its own invariants.
//! * **Callbacks** for what the integrator owns: flash pages for the replay table
//!   ([`callbacks::ItcFlash`]) and, optionally, a secure element that signs
//!   ([`callbacks::ItcSigner`]).
//!
//! `unsafe` is allowed in this crate only (the workspace forbids it elsewhere); every block
//! carries a `// SAFETY:` comment (`clippy::undocumented_unsafe_blocks` is denied) and the
//! pointer checks live in one module (`raw`). Host tests run under Miri.
//!
//! Threading: a handle is used by one thread at a time; the callbacks are called only from
//! inside the calls on their handle and must not re-enter the API with it.
#![no_std]

#[cfg(any(feature = "std", test))]
extern crate std;

pub mod callbacks;
pub mod device;
pub mod firmware;
mod raw;
pub mod status;

pub use callbacks::{ItcFlash, ItcSigner};
pub use device::{ItcCommandResult, ItcDeviceConfig};
pub use firmware::{ItcFirmwareInstall, ItcUpdatePolicy};
pub use status::ItcStatus;

/// Version of this C API (major × 10000 + minor × 100 + patch). Numbers of status codes never
/// change within a major version.
pub const ITC_API_VERSION: u32 = 100;

/// Bytes a device handle buffer must have (this build uses `itc_device_state_size()`; the rest
/// is headroom so SDK changes do not change the header).
pub const ITC_DEVICE_SIZE: usize = 16384;
/// Alignment a device handle buffer must have.
pub const ITC_DEVICE_ALIGN: usize = 8;
/// Bytes an image verifier buffer must have.
pub const ITC_IMAGE_VERIFIER_SIZE: usize = 768;
/// Alignment an image verifier buffer must have.
pub const ITC_IMAGE_VERIFIER_ALIGN: usize = 8;
/// Largest validator set the embedded light client follows (trust anchors, `validators`
/// and `next_validators` beyond it are refused).
pub const ITC_MAX_VALIDATORS: usize = 8;
/// Largest command argument, in bytes.
pub const ITC_MAX_ARGUMENT_LEN: usize = 32;
/// Largest signed command on the wire: what a receive buffer must hold.
pub const ITC_MAX_COMMAND_LEN: usize = 182;
/// Length of a signed firmware manifest.
pub const ITC_SIGNED_MANIFEST_LEN: usize = 145;
/// Bytes of one replay-table record (owner and grantees, one slot each): the least a flash
/// page must hold.
pub const ITC_FLASH_RECORD_LEN: usize = 541;
/// `height` argument of `itc_device_update_ownership`: the light client's tip.
pub const ITC_HEIGHT_TIP: u64 = 0xFFFF_FFFF_FFFF_FFFF;
/// `ItcCommandResult::access`: the issuer is the owner.
pub const ITC_ACCESS_OWNER: u32 = 1;
/// `ItcCommandResult::access`: the issuer is a delegate (grantee).
pub const ITC_ACCESS_DELEGATE: u32 = 2;
/// Action bit: switch, dim, run.
pub const ITC_ACTION_CONTROL: u32 = 1;
/// Action bit: read state.
pub const ITC_ACTION_READ: u32 = 2;
/// Action bit: change settings.
pub const ITC_ACTION_CONFIGURE: u32 = 4;
/// Action bit: install firmware.
pub const ITC_ACTION_UPDATE_FIRMWARE: u32 = 8;

const _: () = assert!(ITC_MAX_COMMAND_LEN == itc_device_sdk::command::MAX_SIGNED_COMMAND_LEN);
const _: () = assert!(ITC_FLASH_RECORD_LEN == itc_device_sdk::flash::RECORD_LEN);
const _: () = assert!(ITC_ACTION_CONTROL == itc_device_sdk::Actions::CONTROL.bits());
const _: () = assert!(ITC_ACTION_READ == itc_device_sdk::Actions::READ.bits());
const _: () = assert!(ITC_ACTION_CONFIGURE == itc_device_sdk::Actions::CONFIGURE.bits());
const _: () =
    assert!(ITC_ACTION_UPDATE_FIRMWARE == itc_device_sdk::Actions::UPDATE_FIRMWARE.bits());

/// The name of a status code as a NUL-terminated static string ("ITC_STATUS_REPLAYED"), or
/// "ITC_STATUS_UNKNOWN" for a number this build does not define. Never NULL.
#[no_mangle]
pub extern "C" fn itc_status_name(status: i32) -> *const core::ffi::c_char {
    let name = ItcStatus::ALL
        .iter()
        .find(|s| **s as i32 == status)
        .map_or(&b"ITC_STATUS_UNKNOWN\0"[..], |s| s.name_nul());
    name.as_ptr().cast()
}

/// The version of the C API this library implements (`ITC_API_VERSION` of its header).
#[no_mangle]
pub extern "C" fn itc_api_version() -> u32 {
    ITC_API_VERSION
}

/// MCU builds (no `std`): the code is panic-free, so this is unreachable unless a dependency
/// breaks its own invariants; it parks the core so a watchdog can reset it. Never unwinds.
#[cfg(all(not(feature = "std"), not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
