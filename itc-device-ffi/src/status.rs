//! The one result type of the C API: an integer code, stable across releases.
//!
//! Numbers are grouped by concern (API misuse 1–19, input encoding 20–29, command refusals
//! 100–149, ownership state 150–169, light client 200–249, firmware 250–269, storage 300–319,
//! signer 320–329). A number, once published in `itc_device.h`, never changes meaning; new
//! refusals the SDK learns get new numbers in their group. Every SDK error maps to exactly one
//! code here, so a C program can `switch` on the result without parsing text.

use itc_device_sdk::error::{CommandError, FirmwareError, StateError, StorageError};
use itc_device_sdk::light_client::SpvError;

/// Result of every `itc_*` function. `ITC_STATUS_OK` (0) is success; anything else says what
/// was wrong, and a call that fails changes nothing (except where a function documents that a
/// refusal consumes a stream).
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItcStatus {
    /// Success; for a command: obey it.
    Ok = 0,

    // ---- API misuse (a bug in the calling C code) -----------------------------------------
    /// A required pointer argument was NULL.
    NullPointer = 1,
    /// A caller-provided buffer is shorter than the size the header names for it.
    BufferTooSmall = 2,
    /// A handle buffer is not aligned to the header's alignment constant.
    BadAlignment = 3,
    /// The handle was never initialised, was de-initialised, or (an image verifier) already
    /// finished or refused.
    NotInitialized = 4,
    /// A light-client call before `itc_device_set_trust_anchor` succeeded.
    NoTrustAnchor = 5,
    /// A configuration value is out of range (zero epoch length, non-zero reserved field,
    /// flash pages smaller than `ITC_FLASH_RECORD_LEN` or fewer than two).
    InvalidConfig = 6,
    /// Key bytes are not a valid secp256k1 secret key / x-only public key.
    InvalidKey = 7,
    /// An input length is beyond what the API accepts (more than `PTRDIFF_MAX`, or an image
    /// chunk over 4 GiB).
    InputTooLong = 8,
    /// An input buffer overlaps the handle it is passed with.
    BufferOverlap = 9,

    // ---- input encoding ------------------------------------------------------------------
    /// The bytes are not the canonical encoding of what the function expects (truncated,
    /// trailing bytes, unknown version, over a capacity of this build such as
    /// `ITC_MAX_VALIDATORS`).
    Malformed = 20,

    // ---- command refusals (the command is not executed; the device is unchanged) --------
    /// The command is addressed to another device.
    WrongDevice = 100,
    /// The issuer's signature does not verify.
    InvalidSignature = 101,
    /// The issuer is neither the owner nor a grantee.
    NotAuthorized = 102,
    /// The issuer's grant does not cover the action.
    ActionNotGranted = 103,
    /// The issuer's grant has lapsed (by the chain height the device assumes).
    GrantExpired = 104,
    /// The command's own expiry has passed.
    Expired = 105,
    /// The counter is not above the last accepted one (a replay); the result's
    /// `replay_floor` says which counter to exceed.
    Replayed = 106,
    /// No ownership proof has been accepted yet: the device obeys nobody.
    NoVerifiedState = 107,
    /// The last verified state is older than the device's offline tolerance.
    StaleState = 108,
    /// The device clock is further behind the verified header than the policy allows.
    ClockBehind = 109,
    /// The command expires no later than its issuer's expiry floor (left when the replay slot
    /// of a principal the record no longer lists was freed); the result's `replay_floor`
    /// holds that floor (ms): re-sign with an expiry after it.
    ExpiryBelowFloor = 110,
    /// The command expires later than `max_command_lifetime_ms` after the device's time.
    ExpiresTooLate = 111,
    /// Every replay slot belongs to a principal the ownership record lists (unreachable with
    /// a valid record: it lists at most the owner and 8 grantees, one slot each).
    ReplayTableFull = 112,
    /// A command refusal this version of the header has no specific code for.
    CommandRefused = 149,

    // ---- ownership state ------------------------------------------------------------------
    /// The ownership record is another device's.
    StateWrongDevice = 150,
    /// The state proof does not prove the record under the verified header's state root.
    ProofMismatch = 151,
    /// The proof is against a header not newer than the one already held.
    StateNotNewer = 152,
    /// The light client holds no verified header at the height asked for.
    HeaderNotVerified = 153,
    /// A proven entry says the chain holds no ownership record for this device.
    StateNotRegistered = 154,

    // ---- light client (headers, certificates, trust anchor) ------------------------------
    /// The trusted header is older than the trusting period: a fresh trust anchor is needed.
    TrustExpired = 200,
    /// Skipping: too little of the trusted set signed the header; verify one in between.
    InsufficientTrust = 201,
    /// The certificate carries less than a quorum of the header's validator set.
    InsufficientQuorum = 202,
    /// A certificate signature does not verify.
    ForgedSignature = 203,
    /// The header claims a time beyond the device clock plus the tolerated drift.
    HeaderFromFuture = 204,
    /// The device clock is behind the newest verified header by more than the drift.
    ClockBehindChain = 205,
    /// The header is not above the verified tip (a replay or an old header).
    StaleHeader = 206,
    /// A validly certified header conflicts with a verified one: the client halts (fork).
    ConflictingHeader = 207,
    /// The client halted on fork evidence earlier; it needs a new trust anchor.
    Halted = 208,
    /// The trust anchor is inconsistent (its set or accumulator does not match its header).
    AnchorInvalid = 209,
    /// A validator set given with the header is not the one the header or the chain names.
    ValidatorSetMismatch = 210,
    /// The header does not continue the verified chain (height gap, parent, time, view, or a
    /// set change off an epoch boundary).
    ChainMismatch = 211,
    /// A validator set or certificate exceeds this build's capacity (`ITC_MAX_VALIDATORS`).
    CapacityExceeded = 212,
    /// The header hands over to a new validator set: pass that set as `next_validators`.
    MissingNextValidatorSet = 213,
    /// A light-client refusal this version of the header has no specific code for.
    HeaderRejected = 249,

    // ---- firmware update ------------------------------------------------------------------
    /// The manifest names a vendor key the device does not trust.
    UnknownVendor = 250,
    /// The vendor's signature on the manifest does not verify.
    InvalidManifestSignature = 251,
    /// The image is for another product.
    WrongProduct = 252,
    /// The offered version is not newer than the installed one (anti-rollback).
    Downgrade = 253,
    /// The image requires a newer installed version than the one running.
    InstalledTooOld = 254,
    /// The image does not fit the download slot.
    ImageTooLarge = 255,
    /// More bytes arrived than the manifest declares (the stream stays refused).
    ImageTooLong = 256,
    /// The stream ended before the declared size.
    ImageTruncated = 257,
    /// The image's hash differs from the manifest's (tampered or corrupted).
    ImageHashMismatch = 258,
    /// A firmware refusal this version of the header has no specific code for.
    FirmwareRejected = 269,

    // ---- storage (the integrator's flash callbacks) --------------------------------------
    /// The flash read callback failed.
    StorageReadFailed = 300,
    /// The flash erase/program callback failed, or read-back differed (the command, if any,
    /// is refused).
    StorageWriteFailed = 301,
    /// The stored replay table is corrupt (it names one issuer twice) and no older copy is
    /// valid.
    StorageCorrupt = 302,

    // ---- signer ----------------------------------------------------------------------------
    /// The signing callback (secure element) reported failure.
    SignerFailed = 320,
}

impl ItcStatus {
    /// Every code, for tests and `itc_status_name`.
    pub(crate) const ALL: [ItcStatus; 59] = [
        ItcStatus::Ok,
        ItcStatus::NullPointer,
        ItcStatus::BufferTooSmall,
        ItcStatus::BadAlignment,
        ItcStatus::NotInitialized,
        ItcStatus::NoTrustAnchor,
        ItcStatus::InvalidConfig,
        ItcStatus::InvalidKey,
        ItcStatus::InputTooLong,
        ItcStatus::BufferOverlap,
        ItcStatus::Malformed,
        ItcStatus::WrongDevice,
        ItcStatus::InvalidSignature,
        ItcStatus::NotAuthorized,
        ItcStatus::ActionNotGranted,
        ItcStatus::GrantExpired,
        ItcStatus::Expired,
        ItcStatus::Replayed,
        ItcStatus::NoVerifiedState,
        ItcStatus::StaleState,
        ItcStatus::ClockBehind,
        ItcStatus::ExpiryBelowFloor,
        ItcStatus::ExpiresTooLate,
        ItcStatus::ReplayTableFull,
        ItcStatus::CommandRefused,
        ItcStatus::StateWrongDevice,
        ItcStatus::ProofMismatch,
        ItcStatus::StateNotNewer,
        ItcStatus::HeaderNotVerified,
        ItcStatus::StateNotRegistered,
        ItcStatus::TrustExpired,
        ItcStatus::InsufficientTrust,
        ItcStatus::InsufficientQuorum,
        ItcStatus::ForgedSignature,
        ItcStatus::HeaderFromFuture,
        ItcStatus::ClockBehindChain,
        ItcStatus::StaleHeader,
        ItcStatus::ConflictingHeader,
        ItcStatus::Halted,
        ItcStatus::AnchorInvalid,
        ItcStatus::ValidatorSetMismatch,
        ItcStatus::ChainMismatch,
        ItcStatus::CapacityExceeded,
        ItcStatus::MissingNextValidatorSet,
        ItcStatus::HeaderRejected,
        ItcStatus::UnknownVendor,
        ItcStatus::InvalidManifestSignature,
        ItcStatus::WrongProduct,
        ItcStatus::Downgrade,
        ItcStatus::InstalledTooOld,
        ItcStatus::ImageTooLarge,
        ItcStatus::ImageTooLong,
        ItcStatus::ImageTruncated,
        ItcStatus::ImageHashMismatch,
        ItcStatus::FirmwareRejected,
        ItcStatus::StorageReadFailed,
        ItcStatus::StorageWriteFailed,
        ItcStatus::StorageCorrupt,
        ItcStatus::SignerFailed,
    ];

    /// The code's name as in the header, NUL-terminated (for C logs).
    pub const fn name_nul(self) -> &'static [u8] {
        match self {
            ItcStatus::Ok => b"ITC_STATUS_OK\0",
            ItcStatus::NullPointer => b"ITC_STATUS_NULL_POINTER\0",
            ItcStatus::BufferTooSmall => b"ITC_STATUS_BUFFER_TOO_SMALL\0",
            ItcStatus::BadAlignment => b"ITC_STATUS_BAD_ALIGNMENT\0",
            ItcStatus::NotInitialized => b"ITC_STATUS_NOT_INITIALIZED\0",
            ItcStatus::NoTrustAnchor => b"ITC_STATUS_NO_TRUST_ANCHOR\0",
            ItcStatus::InvalidConfig => b"ITC_STATUS_INVALID_CONFIG\0",
            ItcStatus::InvalidKey => b"ITC_STATUS_INVALID_KEY\0",
            ItcStatus::InputTooLong => b"ITC_STATUS_INPUT_TOO_LONG\0",
            ItcStatus::BufferOverlap => b"ITC_STATUS_BUFFER_OVERLAP\0",
            ItcStatus::Malformed => b"ITC_STATUS_MALFORMED\0",
            ItcStatus::WrongDevice => b"ITC_STATUS_WRONG_DEVICE\0",
            ItcStatus::InvalidSignature => b"ITC_STATUS_INVALID_SIGNATURE\0",
            ItcStatus::NotAuthorized => b"ITC_STATUS_NOT_AUTHORIZED\0",
            ItcStatus::ActionNotGranted => b"ITC_STATUS_ACTION_NOT_GRANTED\0",
            ItcStatus::GrantExpired => b"ITC_STATUS_GRANT_EXPIRED\0",
            ItcStatus::Expired => b"ITC_STATUS_EXPIRED\0",
            ItcStatus::Replayed => b"ITC_STATUS_REPLAYED\0",
            ItcStatus::NoVerifiedState => b"ITC_STATUS_NO_VERIFIED_STATE\0",
            ItcStatus::StaleState => b"ITC_STATUS_STALE_STATE\0",
            ItcStatus::ClockBehind => b"ITC_STATUS_CLOCK_BEHIND\0",
            ItcStatus::ExpiryBelowFloor => b"ITC_STATUS_EXPIRY_BELOW_FLOOR\0",
            ItcStatus::ExpiresTooLate => b"ITC_STATUS_EXPIRES_TOO_LATE\0",
            ItcStatus::ReplayTableFull => b"ITC_STATUS_REPLAY_TABLE_FULL\0",
            ItcStatus::CommandRefused => b"ITC_STATUS_COMMAND_REFUSED\0",
            ItcStatus::StateWrongDevice => b"ITC_STATUS_STATE_WRONG_DEVICE\0",
            ItcStatus::ProofMismatch => b"ITC_STATUS_PROOF_MISMATCH\0",
            ItcStatus::StateNotNewer => b"ITC_STATUS_STATE_NOT_NEWER\0",
            ItcStatus::HeaderNotVerified => b"ITC_STATUS_HEADER_NOT_VERIFIED\0",
            ItcStatus::StateNotRegistered => b"ITC_STATUS_STATE_NOT_REGISTERED\0",
            ItcStatus::TrustExpired => b"ITC_STATUS_TRUST_EXPIRED\0",
            ItcStatus::InsufficientTrust => b"ITC_STATUS_INSUFFICIENT_TRUST\0",
            ItcStatus::InsufficientQuorum => b"ITC_STATUS_INSUFFICIENT_QUORUM\0",
            ItcStatus::ForgedSignature => b"ITC_STATUS_FORGED_SIGNATURE\0",
            ItcStatus::HeaderFromFuture => b"ITC_STATUS_HEADER_FROM_FUTURE\0",
            ItcStatus::ClockBehindChain => b"ITC_STATUS_CLOCK_BEHIND_CHAIN\0",
            ItcStatus::StaleHeader => b"ITC_STATUS_STALE_HEADER\0",
            ItcStatus::ConflictingHeader => b"ITC_STATUS_CONFLICTING_HEADER\0",
            ItcStatus::Halted => b"ITC_STATUS_HALTED\0",
            ItcStatus::AnchorInvalid => b"ITC_STATUS_ANCHOR_INVALID\0",
            ItcStatus::ValidatorSetMismatch => b"ITC_STATUS_VALIDATOR_SET_MISMATCH\0",
            ItcStatus::ChainMismatch => b"ITC_STATUS_CHAIN_MISMATCH\0",
            ItcStatus::CapacityExceeded => b"ITC_STATUS_CAPACITY_EXCEEDED\0",
            ItcStatus::MissingNextValidatorSet => b"ITC_STATUS_MISSING_NEXT_VALIDATOR_SET\0",
            ItcStatus::HeaderRejected => b"ITC_STATUS_HEADER_REJECTED\0",
            ItcStatus::UnknownVendor => b"ITC_STATUS_UNKNOWN_VENDOR\0",
            ItcStatus::InvalidManifestSignature => b"ITC_STATUS_INVALID_MANIFEST_SIGNATURE\0",
            ItcStatus::WrongProduct => b"ITC_STATUS_WRONG_PRODUCT\0",
            ItcStatus::Downgrade => b"ITC_STATUS_DOWNGRADE\0",
            ItcStatus::InstalledTooOld => b"ITC_STATUS_INSTALLED_TOO_OLD\0",
            ItcStatus::ImageTooLarge => b"ITC_STATUS_IMAGE_TOO_LARGE\0",
            ItcStatus::ImageTooLong => b"ITC_STATUS_IMAGE_TOO_LONG\0",
            ItcStatus::ImageTruncated => b"ITC_STATUS_IMAGE_TRUNCATED\0",
            ItcStatus::ImageHashMismatch => b"ITC_STATUS_IMAGE_HASH_MISMATCH\0",
            ItcStatus::FirmwareRejected => b"ITC_STATUS_FIRMWARE_REJECTED\0",
            ItcStatus::StorageReadFailed => b"ITC_STATUS_STORAGE_READ_FAILED\0",
            ItcStatus::StorageWriteFailed => b"ITC_STATUS_STORAGE_WRITE_FAILED\0",
            ItcStatus::StorageCorrupt => b"ITC_STATUS_STORAGE_CORRUPT\0",
            ItcStatus::SignerFailed => b"ITC_STATUS_SIGNER_FAILED\0",
        }
    }
}

/// Converts a `Result` of the glue into the C return value.
pub(crate) fn status(r: Result<(), ItcStatus>) -> ItcStatus {
    match r {
        Ok(()) => ItcStatus::Ok,
        Err(s) => s,
    }
}

impl From<StorageError> for ItcStatus {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::ReadFailed => ItcStatus::StorageReadFailed,
            StorageError::WriteFailed => ItcStatus::StorageWriteFailed,
            StorageError::Corrupt => ItcStatus::StorageCorrupt,
        }
    }
}

impl From<CommandError> for ItcStatus {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Malformed(_) | CommandError::ArgumentTooLong { .. } => {
                ItcStatus::Malformed
            }
            CommandError::WrongDevice => ItcStatus::WrongDevice,
            CommandError::InvalidSignature => ItcStatus::InvalidSignature,
            CommandError::NotAuthorized => ItcStatus::NotAuthorized,
            CommandError::ActionNotGranted => ItcStatus::ActionNotGranted,
            CommandError::GrantExpired { .. } => ItcStatus::GrantExpired,
            CommandError::Expired { .. } => ItcStatus::Expired,
            CommandError::Replayed { .. } => ItcStatus::Replayed,
            CommandError::NoVerifiedState => ItcStatus::NoVerifiedState,
            CommandError::StaleState { .. } => ItcStatus::StaleState,
            CommandError::ClockBehind { .. } => ItcStatus::ClockBehind,
            CommandError::ExpiryBelowFloor { .. } => ItcStatus::ExpiryBelowFloor,
            CommandError::ExpiresTooLate { .. } => ItcStatus::ExpiresTooLate,
            CommandError::ReplayTableFull => ItcStatus::ReplayTableFull,
            CommandError::Storage(s) => s.into(),
            // Builder-side errors (signing a command): not reachable from the device path.
            CommandError::NoAction
            | CommandError::IssuerKeyMismatch
            | CommandError::SigningFailed => ItcStatus::CommandRefused,
            // Command sessions are not in the C API yet (only signed commands): unreachable
            // from it today; a session API would add their own status codes.
            CommandError::UnknownSession
            | CommandError::SessionExpired { .. }
            | CommandError::ActionNotInSession
            | CommandError::InvalidSessionTag
            | CommandError::KeyAgreementFailed
            | CommandError::SessionTableFull
            | CommandError::SessionIdInUse => ItcStatus::CommandRefused,
        }
    }
}

impl From<StateError> for ItcStatus {
    fn from(e: StateError) -> Self {
        match e {
            StateError::Malformed(_) => ItcStatus::Malformed,
            StateError::WrongDevice => ItcStatus::StateWrongDevice,
            StateError::ProofMismatch => ItcStatus::ProofMismatch,
            StateError::NotNewer { .. } => ItcStatus::StateNotNewer,
            StateError::HeaderNotVerified { .. } => ItcStatus::HeaderNotVerified,
            StateError::NotRegistered => ItcStatus::StateNotRegistered,
        }
    }
}

impl From<FirmwareError> for ItcStatus {
    fn from(e: FirmwareError) -> Self {
        match e {
            FirmwareError::UnknownVendor => ItcStatus::UnknownVendor,
            FirmwareError::InvalidManifestSignature => ItcStatus::InvalidManifestSignature,
            FirmwareError::WrongProduct { .. } => ItcStatus::WrongProduct,
            FirmwareError::Downgrade { .. } => ItcStatus::Downgrade,
            FirmwareError::InstalledTooOld { .. } => ItcStatus::InstalledTooOld,
            FirmwareError::ImageTooLarge { .. } => ItcStatus::ImageTooLarge,
            FirmwareError::ImageTooLong { .. } => ItcStatus::ImageTooLong,
            FirmwareError::ImageTruncated { .. } => ItcStatus::ImageTruncated,
            FirmwareError::ImageHashMismatch => ItcStatus::ImageHashMismatch,
            FirmwareError::SigningFailed => ItcStatus::FirmwareRejected,
        }
    }
}

impl From<SpvError> for ItcStatus {
    fn from(e: SpvError) -> Self {
        match e {
            SpvError::TrustExpired { .. } => ItcStatus::TrustExpired,
            SpvError::InsufficientTrust { .. } => ItcStatus::InsufficientTrust,
            SpvError::InsufficientQuorum { .. } => ItcStatus::InsufficientQuorum,
            SpvError::ForgedSignature { .. } => ItcStatus::ForgedSignature,
            SpvError::HeaderFromFuture { .. } => ItcStatus::HeaderFromFuture,
            SpvError::ClockBehind { .. } => ItcStatus::ClockBehindChain,
            SpvError::StaleHeader { .. } => ItcStatus::StaleHeader,
            SpvError::ConflictingHeader { .. } => ItcStatus::ConflictingHeader,
            SpvError::Halted { .. } => ItcStatus::Halted,
            SpvError::AnchorSetMismatch | SpvError::AnchorHistoryMismatch { .. } => {
                ItcStatus::AnchorInvalid
            }
            SpvError::WrongValidatorSet { .. }
            | SpvError::NextValidatorSetMismatch { .. }
            | SpvError::HeaderValidatorSetMismatch { .. }
            | SpvError::SigningSetUnknown { .. } => ItcStatus::ValidatorSetMismatch,
            SpvError::MissingNextValidatorSet { .. } => ItcStatus::MissingNextValidatorSet,
            SpvError::HeightGap { .. }
            | SpvError::WrongParent { .. }
            | SpvError::SetChangeOffBoundary { .. }
            | SpvError::TimestampNotIncreasing { .. }
            | SpvError::ViewDecreases { .. }
            | SpvError::HeightOverflow => ItcStatus::ChainMismatch,
            SpvError::CapacityExceeded { .. } => ItcStatus::CapacityExceeded,
            SpvError::Decode(_) => ItcStatus::Malformed,
            _ => ItcStatus::HeaderRejected,
        }
    }
}
