//! The device handle: identity, replay table in the integrator's flash, the embedded light
//! client, and the command gate — one opaque value in a buffer the caller owns.

use core::ffi::c_void;
use core::mem::size_of;
use core::ptr::addr_of_mut;

use itc_crypto::{Decode, Hash, Reader, Signer, ValidatorSet};
use itc_device_sdk::device::{StalenessPolicy, DEFAULT_MAX_COMMAND_LIFETIME_MS};
use itc_device_sdk::flash::FlashCounterStore;
use itc_device_sdk::light_client::{LightClientConfig, TrustAnchor, RECENT_HEADERS};
use itc_device_sdk::{Access, CommandError, Device, DeviceConfig, DeviceIdentity, WearPolicy};
use itc_ledger::{OwnershipRecord, StateProof};
use itc_pbft::{BlockHeader, CompactCommitCertificate};
use itc_spv::mmr::Mmr;
use itc_spv::LightClient;

use crate::callbacks::{CFlash, FfiSigner, ItcFlash, ItcSigner};
use crate::raw::{self, Handle};
use crate::status::{status, ItcStatus};
use crate::{
    ITC_ACCESS_DELEGATE, ITC_ACCESS_OWNER, ITC_DEVICE_ALIGN, ITC_DEVICE_SIZE, ITC_HEIGHT_TIP,
    ITC_MAX_ARGUMENT_LEN, ITC_MAX_VALIDATORS,
};

/// cbindgen:ignore
/// The light client inside a handle: the SDK's two recent headers, validator sets of up to
/// [`ITC_MAX_VALIDATORS`].
type Client = LightClient<RECENT_HEADERS, ITC_MAX_VALIDATORS>;
/// cbindgen:ignore
type Set = ValidatorSet<ITC_MAX_VALIDATORS>;
/// cbindgen:ignore
type Certificate = CompactCommitCertificate<ITC_MAX_VALIDATORS>;

/// Settings of a device handle. Fill it with `itc_device_config_default`, then change what
/// differs; fields a later version adds are taken from the `reserved` words, which must be 0.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItcDeviceConfig {
    /// Commands are refused once the verified header is older than this (ms of device clock
    /// against the header's timestamp). Default: one day.
    pub max_offline_ms: u64,
    /// The fastest the chain produces blocks (ms), for judging grant expiry while offline;
    /// 0 uses the proof's height only. Default: 1000.
    pub min_block_interval_ms: u64,
    /// How far the device clock may be behind the verified header before commands are
    /// refused (`ITC_STATUS_CLOCK_BEHIND`). Default: five minutes.
    pub max_clock_behind_ms: u64,
    /// Replay counters reserved per flash write, per issuer (≥ 1; 0 is taken as 1).
    /// Default: 64.
    pub replay_window: u64,
    /// The chain's epoch length in blocks (validator sets change only at its multiples).
    /// Required: no default (0 is refused with `ITC_STATUS_INVALID_CONFIG`).
    pub epoch_length: u64,
    /// Trust is not extended from a verified header older than this (ms). Default: 14 days.
    pub trusting_period_ms: u64,
    /// Tolerated disagreement between the device clock and chain timestamps (ms).
    /// Default: 10 s.
    pub max_clock_drift_ms: u64,
    /// The latest a command may expire after the device's time (ms): later ones are refused
    /// with `ITC_STATUS_EXPIRES_TOO_LATE`. It bounds what the replay table must remember of a
    /// principal whose slot it frees. 0 (what a caller that zeroed the former reserved word
    /// passes) means the default: one hour.
    pub max_command_lifetime_ms: u64,
    /// Must be zero.
    pub reserved: [u64; 4],
}

impl ItcDeviceConfig {
    fn defaults() -> Self {
        let staleness = StalenessPolicy::default();
        let spv = LightClientConfig::new(0);
        ItcDeviceConfig {
            max_offline_ms: staleness.max_age_ms,
            min_block_interval_ms: staleness.min_block_interval_ms,
            max_clock_behind_ms: staleness.max_clock_behind_ms,
            replay_window: WearPolicy::default().window,
            epoch_length: 0,
            trusting_period_ms: spv.trusting_period_ms,
            max_clock_drift_ms: spv.max_clock_drift_ms,
            max_command_lifetime_ms: staleness.max_command_lifetime_ms,
            reserved: [0; 4],
        }
    }

    fn sdk(&self) -> Result<(DeviceConfig, LightClientConfig), ItcStatus> {
        if self.epoch_length == 0 || self.reserved != [0; 4] {
            return Err(ItcStatus::InvalidConfig);
        }
        let device = DeviceConfig {
            staleness: StalenessPolicy {
                max_age_ms: self.max_offline_ms,
                min_block_interval_ms: self.min_block_interval_ms,
                max_clock_behind_ms: self.max_clock_behind_ms,
                max_command_lifetime_ms: match self.max_command_lifetime_ms {
                    0 => DEFAULT_MAX_COMMAND_LIFETIME_MS,
                    ms => ms,
                },
            },
            wear: WearPolicy {
                window: self.replay_window.max(1),
            },
        };
        let mut spv = LightClientConfig::new(self.epoch_length);
        spv.trusting_period_ms = self.trusting_period_ms;
        spv.max_clock_drift_ms = self.max_clock_drift_ms;
        // The handle verifies what it is given; it never plans downloads.
        spv.backfill = false;
        Ok((device, spv))
    }
}

/// What `itc_device_handle_command` reports. On `ITC_STATUS_OK` every field but
/// `replay_floor` describes the accepted command; on `ITC_STATUS_REPLAYED` only
/// `replay_floor` is set (send a counter above the issuer's own floor), on
/// `ITC_STATUS_EXPIRY_BELOW_FLOOR` only `replay_floor` is set (sign an expiry after it, in ms);
/// otherwise all fields are zero.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItcCommandResult {
    /// The issuer's x-only public key.
    pub issuer: [u8; 32],
    /// The command's counter (now consumed).
    pub counter: u64,
    /// On `ITC_STATUS_REPLAYED`: the highest counter of this issuer the device counts as used.
    /// On `ITC_STATUS_EXPIRY_BELOW_FLOOR`: the time (ms) the command must expire after.
    pub replay_floor: u64,
    /// For a delegate: the chain height at which its grant lapses (0 for the owner).
    pub grant_expires_at: u64,
    /// The action bits the command used (`ITC_ACTION_*`).
    pub action: u32,
    /// `ITC_ACCESS_OWNER` or `ITC_ACCESS_DELEGATE`.
    pub access: u32,
    /// Bytes of `argument` in use.
    pub argument_len: u32,
    /// The vendor-defined argument ("on", "level=40", …).
    pub argument: [u8; ITC_MAX_ARGUMENT_LEN],
}

impl ItcCommandResult {
    const ZERO: ItcCommandResult = ItcCommandResult {
        issuer: [0; 32],
        counter: 0,
        replay_floor: 0,
        grant_expires_at: 0,
        action: 0,
        access: 0,
        argument_len: 0,
        argument: [0; ITC_MAX_ARGUMENT_LEN],
    };
}

/// cbindgen:ignore
/// Room in the handle where one call decodes its large inputs (a trust anchor, a header's
/// certificate and validator sets, an ownership proof), so they never sit on the caller's
/// stack under the signature checks. Nothing in it outlives the call that filled it.
// A fixed region of the handle by design (no allocator to box into): its size is the largest
// variant's, asserted with the whole state below.
#[allow(clippy::large_enum_variant)]
enum Scratch {
    Empty,
    /// A trust anchor being decoded part by part.
    AnchorParts {
        header: BlockHeader,
        set: Option<Set>,
        history: Option<Mmr>,
    },
    /// A decoded trust anchor, borrowed while the light client is built from it.
    Anchor(TrustAnchor<ITC_MAX_VALIDATORS>),
    /// The inputs of a header verification.
    Header(HeaderSlots),
    /// The inputs of an ownership update.
    Ownership(OwnershipSlots),
}

/// cbindgen:ignore
/// Decoded inputs of `itc_device_verify_header`.
struct HeaderSlots {
    header: Option<BlockHeader>,
    certificate: Option<Certificate>,
    validators: Option<Set>,
    next_validators: Option<Set>,
}

/// cbindgen:ignore
/// Decoded inputs of `itc_device_update_ownership`.
struct OwnershipSlots {
    record: Option<OwnershipRecord>,
    proof: Option<StateProof>,
}

/// cbindgen:ignore
/// What lives in the caller's device buffer.
#[repr(C)]
pub(crate) struct DeviceState {
    magic: u32,
    store: FlashCounterStore<CFlash>,
    // No session slots: command sessions are not in the C API yet (they would cost the
    // handle ~1 KiB for the default nine).
    device: Device<FfiSigner, 0>,
    spv_config: LightClientConfig,
    client: Option<Client>,
    scratch: Scratch,
}

// SAFETY: `#[repr(C)]` with the `u32` magic first; the size and alignment bounds are asserted
// below; `init` writes the magic last.
unsafe impl Handle for DeviceState {
    const MAGIC: u32 = 0x4954_4344; // "ITCD"
    const BUFFER_SIZE: usize = ITC_DEVICE_SIZE;
    const BUFFER_ALIGN: usize = ITC_DEVICE_ALIGN;
}

const _: () = assert!(size_of::<DeviceState>() <= ITC_DEVICE_SIZE);
const _: () = assert!(core::mem::align_of::<DeviceState>() <= ITC_DEVICE_ALIGN);
const _: () = assert!(ITC_DEVICE_ALIGN >= 4);
const _: () = assert!(ITC_MAX_ARGUMENT_LEN == itc_device_sdk::command::MAX_ARGUMENT_LEN);

/// Borrows the handle and refuses inputs that overlap it.
struct Dev<'a> {
    state: &'a mut DeviceState,
    base: *const c_void,
}

impl Dev<'_> {
    /// # Safety
    /// As [`raw::handle`].
    unsafe fn open(buf: *mut c_void) -> Result<Self, ItcStatus> {
        // SAFETY: forwarded contract.
        let state = unsafe { raw::handle::<DeviceState>(buf) }?;
        Ok(Dev { state, base: buf })
    }

    /// # Safety
    /// As [`raw::input`].
    unsafe fn input<'i>(&self, ptr: *const u8, len: usize) -> Result<&'i [u8], ItcStatus> {
        if raw::overlaps(self.base, size_of::<DeviceState>(), ptr, len) {
            return Err(ItcStatus::BufferOverlap);
        }
        // SAFETY: forwarded contract.
        unsafe { raw::input(ptr, len) }
    }

    /// # Safety
    /// As [`raw::input`].
    unsafe fn optional_input<'i>(
        &self,
        ptr: *const u8,
        len: usize,
    ) -> Result<Option<&'i [u8]>, ItcStatus> {
        if ptr.is_null() {
            return Ok(None);
        }
        // SAFETY: forwarded contract.
        unsafe { self.input(ptr, len) }.map(Some)
    }
}

/// Decodes all of `bytes` into `slot` (in the handle's scratch) in a frame of its own, so the
/// decoded value's temporaries are gone before the checks that use it run.
#[inline(never)]
fn decode_into<T: Decode>(slot: &mut Option<T>, bytes: &[u8]) -> Result<(), ItcStatus> {
    // As `T::decode_bytes`, without its by-value copies of `T`.
    let mut r = Reader::new(bytes);
    decode_next(slot, &mut r)?;
    r.finish().map_err(|_| ItcStatus::Malformed)
}

/// Decodes the next value of `r` into `slot`, in a frame of its own.
#[inline(never)]
fn decode_next<T: Decode>(slot: &mut Option<T>, r: &mut Reader<'_>) -> Result<(), ItcStatus> {
    *slot = Some(T::decode(r).map_err(|_| ItcStatus::Malformed)?);
    Ok(())
}

/// Fills `out` with the defaults (`epoch_length` stays 0: set it to the chain's).
///
/// # Safety
/// `out` must be NULL or point to a writable `ItcDeviceConfig`.
#[no_mangle]
pub unsafe extern "C" fn itc_device_config_default(out: *mut ItcDeviceConfig) -> ItcStatus {
    // SAFETY: forwarded contract.
    status(unsafe { raw::write_out(out, ItcDeviceConfig::defaults()) })
}

/// Builds the state in place; the magic goes in last.
///
/// # Safety
/// `p` is aligned and points to at least `size_of::<DeviceState>()` writable bytes.
unsafe fn init(
    p: *mut DeviceState,
    config: DeviceConfig,
    spv_config: LightClientConfig,
    signer: FfiSigner,
    flash: CFlash,
) -> Result<(), ItcStatus> {
    // SAFETY: `p` is valid for writes (contract); the magic comes first in the struct.
    unsafe { addr_of_mut!((*p).magic).write(0) };
    // SAFETY: field of the valid, aligned `*p`; written without reading the old bytes.
    unsafe { addr_of_mut!((*p).store).write(FlashCounterStore::new(flash)) };
    // SAFETY: `store` was just initialised, and nothing else refers to it.
    let store = unsafe { &mut *addr_of_mut!((*p).store) };
    let device = Device::with_session_slots(DeviceIdentity::new(signer), config, store)?;
    // SAFETY: fields of the valid, aligned `*p`, written without reading the old bytes.
    unsafe { addr_of_mut!((*p).device).write(device) };
    // SAFETY: as above.
    unsafe { addr_of_mut!((*p).spv_config).write(spv_config) };
    // SAFETY: as above.
    unsafe { addr_of_mut!((*p).client).write(None) };
    // SAFETY: as above.
    unsafe { addr_of_mut!((*p).scratch).write(Scratch::Empty) };
    // SAFETY: every other field is initialised: the handle is now valid.
    unsafe { addr_of_mut!((*p).magic).write(DeviceState::MAGIC) };
    Ok(())
}

/// Shared part of the two constructors.
///
/// # Safety
/// `buf`, `config`, `flash`: as for `itc_device_init_with_key`.
unsafe fn init_common(
    buf: *mut c_void,
    buf_len: usize,
    config: *const ItcDeviceConfig,
    flash: *const ItcFlash,
    signer: impl FnOnce() -> Result<FfiSigner, ItcStatus>,
) -> Result<(), ItcStatus> {
    let p = raw::check_buffer::<DeviceState>(buf, buf_len)?;
    if config.is_null() || flash.is_null() {
        return Err(ItcStatus::NullPointer);
    }
    // SAFETY: non-NULL; readable `ItcDeviceConfig` per the contract (plain integers: every
    // bit pattern is valid).
    let (device_config, spv_config) = unsafe { config.read_unaligned() }.sdk()?;
    // SAFETY: non-NULL; readable `ItcFlash` per the contract (pointers and `Option<fn>`:
    // NULL is `None`, any other value is the caller's promise of a valid function).
    let flash = CFlash::new(&unsafe { flash.read_unaligned() })?;
    let signer = signer()?;
    // SAFETY: `check_buffer` proved `p` non-NULL, aligned and long enough; the caller owns it.
    unsafe { init(p, device_config, spv_config, signer, flash) }
}

/// Initialises a device handle in `buf` from the device's 32-byte secret key (copied into the
/// handle; wipe your copy). Reads the replay table through `flash` (its callbacks are kept and
/// used by later calls). On failure `buf` holds no handle.
///
/// # Safety
/// `buf` must be NULL or point to `buf_len` writable bytes aligned to `ITC_DEVICE_ALIGN`,
/// used by nothing else until `itc_device_deinit`; `config` and `flash` NULL or readable;
/// `secret_key` NULL or 32 readable bytes; the flash callbacks valid for `flash->ctx` for as
/// long as the handle is used.
#[no_mangle]
pub unsafe extern "C" fn itc_device_init_with_key(
    buf: *mut c_void,
    buf_len: usize,
    config: *const ItcDeviceConfig,
    secret_key: *const u8,
    flash: *const ItcFlash,
) -> ItcStatus {
    let signer = || {
        // SAFETY: `secret_key` is NULL or 32 readable bytes (contract).
        let bytes = unsafe { raw::array::<32>(secret_key) }?;
        itc_crypto::SecretKey::from_bytes(bytes)
            .map(FfiSigner::Key)
            .map_err(|_| ItcStatus::InvalidKey)
    };
    // SAFETY: forwarded contract.
    status(unsafe { init_common(buf, buf_len, config, flash, signer) })
}

/// Initialises a device handle whose key stays in a secure element: `signer` gives its public
/// key and a signing callback (kept, with its `ctx`, for the handle's lifetime).
///
/// # Safety
/// As `itc_device_init_with_key`; `signer` NULL or readable, its callback valid for its `ctx`
/// for as long as the handle is used.
#[no_mangle]
pub unsafe extern "C" fn itc_device_init_with_signer(
    buf: *mut c_void,
    buf_len: usize,
    config: *const ItcDeviceConfig,
    signer: *const ItcSigner,
    flash: *const ItcFlash,
) -> ItcStatus {
    let signer = || {
        if signer.is_null() {
            return Err(ItcStatus::NullPointer);
        }
        // SAFETY: non-NULL and readable (contract); `Option<fn>` is NULL or the caller's
        // promise of a valid function.
        FfiSigner::external(&unsafe { signer.read_unaligned() })
    };
    // SAFETY: forwarded contract.
    status(unsafe { init_common(buf, buf_len, config, flash, signer) })
}

/// Ends a handle: wipes the secret key it holds (if any) and marks the buffer unused.
///
/// # Safety
/// `dev` must be NULL or a buffer as for `itc_device_init_with_key`.
#[no_mangle]
pub unsafe extern "C" fn itc_device_deinit(dev: *mut c_void) -> ItcStatus {
    // SAFETY: forwarded contract.
    status(unsafe { raw::handle::<DeviceState>(dev) }.map(|state| {
        let p: *mut DeviceState = state;
        // SAFETY: `p` is a valid, initialised state we hold exclusively; after the drop only
        // the magic is written, never read as a state again (it no longer matches).
        unsafe { core::ptr::drop_in_place(p) };
        // SAFETY: as above; the magic field is a plain `u32`.
        unsafe { addr_of_mut!((*p).magic).write(0) };
    }))
}

/// Writes the device id the chain records for this device (32 bytes) to `out`.
///
/// # Safety
/// `dev` as for `itc_device_deinit`; `out` NULL or 32 writable bytes.
#[no_mangle]
pub unsafe extern "C" fn itc_device_id(dev: *mut c_void, out: *mut u8) -> ItcStatus {
    // SAFETY: forwarded contract.
    status(unsafe { Dev::open(dev) }.and_then(|d| {
        let id = d.state.device.identity().device_id().as_hash().0;
        // SAFETY: `out` is NULL or 32 writable bytes (contract); `[u8; 32]` has alignment 1.
        unsafe { raw::write_out(out.cast::<[u8; 32]>(), id) }
    }))
}

/// Writes the device's 32-byte x-only public key to `out`.
///
/// # Safety
/// As `itc_device_id`.
#[no_mangle]
pub unsafe extern "C" fn itc_device_public_key(dev: *mut c_void, out: *mut u8) -> ItcStatus {
    // SAFETY: forwarded contract.
    status(unsafe { Dev::open(dev) }.and_then(|d| {
        let pk = *d.state.device.identity().public_key().as_bytes();
        // SAFETY: `out` is NULL or 32 writable bytes (contract).
        unsafe { raw::write_out(out.cast::<[u8; 32]>(), pk) }
    }))
}

/// Signs a 32-byte digest with the device's signer (its key, or the secure-element callback),
/// writing the 64-byte BIP340 signature to `signature_out`. For the vendor's own attestations;
/// the digest must already be domain-separated.
///
/// # Safety
/// `dev` as for `itc_device_deinit`; `digest` NULL or 32 readable bytes; `signature_out` NULL
/// or 64 writable bytes.
#[no_mangle]
pub unsafe extern "C" fn itc_device_sign_digest(
    dev: *mut c_void,
    digest: *const u8,
    signature_out: *mut u8,
) -> ItcStatus {
    // SAFETY: forwarded contract.
    status(unsafe { Dev::open(dev) }.and_then(|d| {
        if signature_out.is_null() {
            return Err(ItcStatus::NullPointer);
        }
        // SAFETY: 32 readable bytes or NULL (contract).
        let digest = Hash(*unsafe { raw::array::<32>(digest) }?);
        let sig = d
            .state
            .device
            .identity()
            .signer()
            .sign_digest(&digest)
            .map_err(|_| ItcStatus::SignerFailed)?;
        // SAFETY: non-NULL, 64 writable bytes (contract).
        unsafe { raw::write_out(signature_out.cast::<[u8; 64]>(), sig.0) }
    }))
}

/// Decodes a trust anchor into the handle's scratch space and starts the light client from
/// it in the handle (in place): neither the anchor nor the client is ever on the stack.
#[inline(never)]
fn start_client(state: &mut DeviceState, bytes: &[u8], now_ms: u64) -> Result<(), ItcStatus> {
    let started = decode_anchor(&mut state.scratch, bytes).and_then(|()| match &state.scratch {
        Scratch::Anchor(anchor) => {
            Client::init_in(&mut state.client, anchor, state.spv_config, now_ms)?;
            Ok(())
        }
        _ => Err(ItcStatus::Malformed),
    });
    state.scratch = Scratch::Empty;
    started
}

/// Decodes a trust anchor (`TrustAnchor::decode_bytes`) part by part into `scratch`: the
/// validator set's key decompression (deep curve frames) runs while only the set's slot is
/// being written, and the accumulator is decoded after it returns.
#[inline(never)]
fn decode_anchor(scratch: &mut Scratch, bytes: &[u8]) -> Result<(), ItcStatus> {
    let mut r = Reader::new(bytes);
    let header = BlockHeader::decode(&mut r).map_err(|_| ItcStatus::Malformed)?;
    *scratch = Scratch::AnchorParts {
        header,
        set: None,
        history: None,
    };
    let Scratch::AnchorParts { set, history, .. } = scratch else {
        return Err(ItcStatus::Malformed);
    };
    decode_next(set, &mut r)?;
    decode_next(history, &mut r)?;
    r.finish().map_err(|_| ItcStatus::Malformed)?;
    assemble_anchor(scratch)
}

/// Turns the decoded parts in `scratch` into the `TrustAnchor` the light client borrows.
#[inline(never)]
fn assemble_anchor(scratch: &mut Scratch) -> Result<(), ItcStatus> {
    let Scratch::AnchorParts {
        header,
        set,
        history,
    } = core::mem::replace(scratch, Scratch::Empty)
    else {
        return Err(ItcStatus::Malformed);
    };
    let (Some(next_validators), Some(history)) = (set, history) else {
        return Err(ItcStatus::Malformed);
    };
    *scratch = Scratch::Anchor(TrustAnchor {
        header,
        next_validators,
        history,
    });
    Ok(())
}

/// Starts (or restarts) the embedded light client from a trust anchor (genesis or a
/// checkpoint shipped in firmware) at device time `now_ms`. A refused anchor leaves the
/// previous light client, if any, in place.
///
/// # Safety
/// `dev` as for `itc_device_deinit`; `anchor` NULL or `anchor_len` readable bytes outside the
/// handle.
#[no_mangle]
pub unsafe extern "C" fn itc_device_set_trust_anchor(
    dev: *mut c_void,
    anchor: *const u8,
    anchor_len: usize,
    now_ms: u64,
) -> ItcStatus {
    // SAFETY: forwarded contract.
    status(unsafe { Dev::open(dev) }.and_then(|d| {
        // SAFETY: forwarded contract.
        let bytes = unsafe { d.input(anchor, anchor_len) }?;
        start_client(d.state, bytes, now_ms)
    }))
}

/// The decoded inputs of a header verification.
struct HeaderInput<'a> {
    header: &'a [u8],
    certificate: &'a [u8],
    validators: Option<&'a [u8]>,
    next_validators: Option<&'a [u8]>,
}

/// Decodes the inputs of one header verification into the handle's scratch space, each in a
/// frame of its own, then verifies the header with them borrowed from there.
#[inline(never)]
fn verify(state: &mut DeviceState, input: &HeaderInput<'_>, now_ms: u64) -> Result<u64, ItcStatus> {
    let client = state.client.as_mut().ok_or(ItcStatus::NoTrustAnchor)?;
    let slots = header_slots(&mut state.scratch)?;
    let verified = decode_header_input(slots, input).and_then(|()| {
        let (Some(header), Some(certificate)) = (&slots.header, &slots.certificate) else {
            return Err(ItcStatus::Malformed);
        };
        let next = slots.next_validators.as_ref();
        Ok(match &slots.validators {
            Some(set) => client.verify_skipping(header, certificate, set, next, now_ms)?,
            None => client.verify_header(header, certificate, next, now_ms)?,
        }
        .height())
    });
    state.scratch = Scratch::Empty;
    verified
}

/// Empties `scratch` for a header's inputs.
#[inline(never)]
fn header_slots(scratch: &mut Scratch) -> Result<&mut HeaderSlots, ItcStatus> {
    *scratch = Scratch::Header(HeaderSlots {
        header: None,
        certificate: None,
        validators: None,
        next_validators: None,
    });
    match scratch {
        Scratch::Header(slots) => Ok(slots),
        _ => Err(ItcStatus::Malformed),
    }
}

fn decode_header_input(slots: &mut HeaderSlots, input: &HeaderInput<'_>) -> Result<(), ItcStatus> {
    decode_into(&mut slots.header, input.header)?;
    decode_into(&mut slots.certificate, input.certificate)?;
    if let Some(bytes) = input.next_validators {
        decode_into(&mut slots.next_validators, bytes)?;
    }
    if let Some(bytes) = input.validators {
        decode_into(&mut slots.validators, bytes)?;
    }
    Ok(())
}

/// Verifies a block header and its commit certificate against the light client's trust and
/// makes it the new tip.
///
/// * `validators` (optional): the validator set that signed the header. With it, a header far
///   above the tip is verified by skipping; without it, the header must be the tip's
///   successor (sequential verification).
/// * `next_validators` (optional): the set the header hands over to, needed when the header
///   changes the set (`ITC_STATUS_MISSING_NEXT_VALIDATOR_SET` otherwise).
/// * `height_out` (optional): the verified height.
///
/// # Safety
/// `dev` as for `itc_device_deinit`; each input NULL or readable for its length and outside
/// the handle; `height_out` NULL or a writable, aligned `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn itc_device_verify_header(
    dev: *mut c_void,
    header: *const u8,
    header_len: usize,
    certificate: *const u8,
    certificate_len: usize,
    validators: *const u8,
    validators_len: usize,
    next_validators: *const u8,
    next_validators_len: usize,
    now_ms: u64,
    height_out: *mut u64,
) -> ItcStatus {
    // SAFETY: forwarded contract.
    status(unsafe { Dev::open(dev) }.and_then(|d| {
        // SAFETY: forwarded contract (each pointer with its own length).
        let input = unsafe {
            HeaderInput {
                header: d.input(header, header_len)?,
                certificate: d.input(certificate, certificate_len)?,
                validators: d.optional_input(validators, validators_len)?,
                next_validators: d.optional_input(next_validators, next_validators_len)?,
            }
        };
        let height = verify(d.state, &input, now_ms)?;
        // SAFETY: NULL or a writable, aligned u64 (contract).
        unsafe { raw::write_optional(height_out, height) }
    }))
}

/// Writes the light client's verified tip height to `height_out`.
///
/// # Safety
/// `dev` as for `itc_device_deinit`; `height_out` NULL or a writable, aligned `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn itc_device_tip_height(
    dev: *mut c_void,
    height_out: *mut u64,
) -> ItcStatus {
    // SAFETY: forwarded contract.
    status(unsafe { Dev::open(dev) }.and_then(|d| {
        let client = d.state.client.as_ref().ok_or(ItcStatus::NoTrustAnchor)?;
        // SAFETY: NULL or a writable, aligned u64 (contract).
        unsafe { raw::write_out(height_out, client.tip().height()) }
    }))
}

/// Decodes an ownership record and its proof into the handle's scratch space and installs
/// the record.
#[inline(never)]
fn install_ownership(
    state: &mut DeviceState,
    height: u64,
    record: &[u8],
    proof: &[u8],
) -> Result<(), ItcStatus> {
    let client = state.client.as_ref().ok_or(ItcStatus::NoTrustAnchor)?;
    let height = if height == ITC_HEIGHT_TIP {
        client.tip().height()
    } else {
        height
    };
    state.scratch = Scratch::Ownership(OwnershipSlots {
        record: None,
        proof: None,
    });
    let installed = match &mut state.scratch {
        Scratch::Ownership(slots) => decode_into(&mut slots.record, record)
            .and_then(|()| decode_into(&mut slots.proof, proof))
            .and_then(|()| match (slots.record.take(), &slots.proof) {
                (Some(record), Some(proof)) => Ok(state
                    .device
                    .update_ownership_at(client, height, record, proof)?),
                _ => Err(ItcStatus::Malformed),
            }),
        _ => Err(ItcStatus::Malformed),
    };
    state.scratch = Scratch::Empty;
    installed
}

/// Installs the device's ownership record (its canonical bytes) with its state proof against
/// the verified header at `height` (`ITC_HEIGHT_TIP` for the tip). From then on the device
/// obeys that owner and its grantees; an ownership transfer or revocation takes effect the
/// moment a newer proof is installed.
///
/// # Safety
/// `dev` as for `itc_device_deinit`; `record` and `proof` NULL or readable for their lengths
/// and outside the handle.
#[no_mangle]
pub unsafe extern "C" fn itc_device_update_ownership(
    dev: *mut c_void,
    height: u64,
    record: *const u8,
    record_len: usize,
    proof: *const u8,
    proof_len: usize,
) -> ItcStatus {
    // SAFETY: forwarded contract.
    status(unsafe { Dev::open(dev) }.and_then(|d| {
        // SAFETY: forwarded contract.
        let (record, proof) = unsafe { (d.input(record, record_len)?, d.input(proof, proof_len)?) };
        install_ownership(d.state, height, record, proof)
    }))
}

/// Decides on a command from the wire at device time `now_ms`. `ITC_STATUS_OK` means obey it
/// (`result_out`, if given, says who asked for what); any other code is a refusal that
/// changed nothing on the device. The replay table is written through the flash callbacks
/// only when a command is accepted and it opens its issuer's slot or uses up that slot's
/// reserved window (of counters or of expiry time).
///
/// # Safety
/// `dev` as for `itc_device_deinit`; `command` NULL or `command_len` readable bytes outside
/// the handle; `result_out` NULL or a writable, aligned `ItcCommandResult`.
#[no_mangle]
pub unsafe extern "C" fn itc_device_handle_command(
    dev: *mut c_void,
    command: *const u8,
    command_len: usize,
    now_ms: u64,
    result_out: *mut ItcCommandResult,
) -> ItcStatus {
    // SAFETY: forwarded contract.
    status(unsafe { Dev::open(dev) }.and_then(|d| {
        // SAFETY: forwarded contract.
        let bytes = unsafe { d.input(command, command_len) }?;
        let state = &mut *d.state;
        let mut result = ItcCommandResult::ZERO;
        let outcome = state
            .device
            .handle_command_bytes(bytes, now_ms, &mut state.store);
        let code = match outcome {
            Ok(accepted) => {
                result.issuer = *accepted.issuer.as_bytes();
                result.counter = accepted.counter;
                result.action = accepted.action.bits();
                (result.access, result.grant_expires_at) = match accepted.access {
                    Access::Owner => (ITC_ACCESS_OWNER, 0),
                    Access::Delegate { expires_at } => (ITC_ACCESS_DELEGATE, expires_at),
                };
                for (slot, b) in result.argument.iter_mut().zip(accepted.argument.iter()) {
                    *slot = *b;
                }
                result.argument_len = u32::try_from(accepted.argument.len()).unwrap_or(0);
                Ok(())
            }
            Err(e) => {
                match e {
                    CommandError::Replayed { last_accepted, .. } => {
                        result.replay_floor = last_accepted;
                    }
                    CommandError::ExpiryBelowFloor { floor_ms, .. } => {
                        result.replay_floor = floor_ms;
                    }
                    _ => {}
                }
                Err(ItcStatus::from(e))
            }
        };
        // SAFETY: NULL or a writable, aligned ItcCommandResult (contract).
        unsafe { raw::write_optional(result_out, result) }?;
        code
    }))
}

/// Bytes of `ITC_DEVICE_SIZE` this build really uses (the rest is headroom for later SDK
/// versions, so the constant need not change).
#[no_mangle]
pub extern "C" fn itc_device_state_size() -> usize {
    size_of::<DeviceState>()
}
