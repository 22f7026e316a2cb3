//! Typed errors: one enum per concern, variants named for what went wrong.

use itc_crypto::DecodeError;

/// Why the integrator's non-volatile storage failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The stored record could not be read.
    #[error("non-volatile storage read failed")]
    ReadFailed,
    /// The write did not complete (worn sector, brown-out).
    #[error("non-volatile storage write failed")]
    WriteFailed,
    /// The stored record fails its checksum and no older copy is valid.
    #[error("non-volatile record is corrupt")]
    Corrupt,
}

/// Why a command was refused. A refused command changes nothing on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The command bytes are not a canonical signed command.
    #[error("malformed command: {0}")]
    Malformed(DecodeError),
    /// Building a command with an argument over the limit.
    #[error("argument of {len} bytes is over the limit")]
    ArgumentTooLong {
        /// Length offered.
        len: usize,
    },
    /// A command must ask for at least one action.
    #[error("command asks for no action")]
    NoAction,
    /// Signing with a key that is not the command's issuer.
    #[error("signer key is not the command's issuer")]
    IssuerKeyMismatch,
    /// The signer could not sign.
    #[error("signing failed")]
    SigningFailed,
    /// The command is for another device.
    #[error("command is addressed to another device")]
    WrongDevice,
    /// The issuer's signature does not verify.
    #[error("command signature does not verify")]
    InvalidSignature,
    /// The issuer is neither the owner nor a grantee (a stranger).
    #[error("issuer is neither the owner nor a grantee")]
    NotAuthorized,
    /// The issuer's grant does not cover the action.
    #[error("grant does not cover the action")]
    ActionNotGranted,
    /// The issuer's grant lapsed at chain height `expires_at`.
    #[error("grant expired at height {expires_at}")]
    GrantExpired {
        /// First height at which the grant no longer held.
        expires_at: u64,
    },
    /// The command's own expiry has passed.
    #[error("command expired at {expires_at_ms} ms, now {now_ms} ms")]
    Expired {
        /// The command's expiry.
        expires_at_ms: u64,
        /// The device's time.
        now_ms: u64,
    },
    /// The counter is not above the last accepted one.
    #[error("counter {counter} replayed: last accepted {last_accepted}")]
    Replayed {
        /// Counter offered.
        counter: u64,
        /// The device's floor: use a counter above it.
        last_accepted: u64,
    },
    /// The command expires no later than its issuer's expiry floor (left by the eviction of a
    /// former principal's replay slot, see [`crate::replay`]): re-sign it with an expiry after
    /// `floor_ms` (and within the device's command lifetime).
    #[error("command expires at {expires_at_ms} ms, not after the expiry floor {floor_ms} ms")]
    ExpiryBelowFloor {
        /// The command's expiry.
        expires_at_ms: u64,
        /// Commands of this issuer must expire after this.
        floor_ms: u64,
    },
    /// The command expires later than the device allows
    /// ([`crate::StalenessPolicy::max_command_lifetime_ms`] after its time).
    #[error("command expires at {expires_at_ms} ms, later than the allowed {latest_ms} ms")]
    ExpiresTooLate {
        /// The command's expiry.
        expires_at_ms: u64,
        /// The latest expiry the device accepts now.
        latest_ms: u64,
    },
    /// Every replay slot belongs to an issuer the ownership record still lists, so none can be
    /// given to this issuer. Unreachable with a valid record (it lists at most
    /// [`crate::replay::REPLAY_SLOTS`] principals).
    #[error("replay table full: every slot belongs to a listed principal")]
    ReplayTableFull,
    /// The device has no verified ownership state yet.
    #[error("no verified ownership state")]
    NoVerifiedState,
    /// The last verified state is older than the staleness policy allows.
    #[error("verified state is {age_ms} ms old, policy allows {max_age_ms} ms")]
    StaleState {
        /// Age of the verified header.
        age_ms: u64,
        /// Policy limit.
        max_age_ms: u64,
    },
    /// The device's clock is behind the verified header's timestamp by more than
    /// [`crate::StalenessPolicy::max_clock_behind_ms`]: set the clock (at least to the header's
    /// time) before obeying anyone.
    #[error("device clock {now_ms} ms is behind the verified header's time {header_ms} ms")]
    ClockBehind {
        /// The device's time.
        now_ms: u64,
        /// The verified header's timestamp.
        header_ms: u64,
    },
    /// Persisting the replay counter failed, so the command is refused.
    #[error("storage: {0}")]
    Storage(StorageError),
    /// No session with this id: never opened, ended (revocation, transfer, replaced by a newer
    /// open of its issuer, its slot reused after its end) or lost at the device's restart.
    /// Open a new one.
    #[error("no such session")]
    UnknownSession,
    /// The session ended at `expires_at_ms`.
    #[error("session expired at {expires_at_ms} ms, now {now_ms} ms")]
    SessionExpired {
        /// The session's end.
        expires_at_ms: u64,
        /// The device's time.
        now_ms: u64,
    },
    /// The command asks for an action the session was not opened for.
    #[error("action is outside the session's actions")]
    ActionNotInSession,
    /// The session command's tag does not verify under the session key (forged or altered).
    #[error("session command tag does not verify")]
    InvalidSessionTag,
    /// The device key could not agree on a session secret (a secure element refused).
    #[error("key agreement failed")]
    KeyAgreementFailed,
    /// Every session slot holds the owner's session (a table of one slot).
    #[error("session table full")]
    SessionTableFull,
    /// Another issuer's session has this id (a 2^-128 coincidence): open another.
    #[error("session id in use")]
    SessionIdInUse,
}

/// Why new ownership state was refused. A refused update keeps the previous state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The record bytes are not a canonical ownership record.
    #[error("malformed record: {0}")]
    Malformed(DecodeError),
    /// The record is another device's.
    #[error("record belongs to another device")]
    WrongDevice,
    /// The state proof does not prove the record under the verified state root (a proof made
    /// for another header, or a forged record).
    #[error("state proof does not match the verified state root")]
    ProofMismatch,
    /// The state is older than (or as old as) the one the device already holds.
    #[error("state at height {offered} is not newer than held height {held}")]
    NotNewer {
        /// Height already held.
        held: u64,
        /// Height offered.
        offered: u64,
    },
    /// The light client holds no verified header at that height (never verified, or already
    /// dropped from its recent headers): fetch a proof against a header it holds.
    #[error("no verified header at height {height}")]
    HeaderNotVerified {
        /// Height asked for.
        height: u64,
    },
    /// The proven entry says the chain holds no record for this device (proven absent).
    #[error("the chain holds no ownership record for this device")]
    NotRegistered,
}

/// Why a firmware update was refused. The running image is never touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FirmwareError {
    /// The manifest names a vendor key the device does not trust.
    #[error("manifest is from an untrusted vendor key")]
    UnknownVendor,
    /// The vendor's signature on the manifest does not verify.
    #[error("manifest signature does not verify")]
    InvalidManifestSignature,
    /// The image is for another product.
    #[error("image is for product {found}, device is {expected}")]
    WrongProduct {
        /// This device's product.
        expected: u32,
        /// The manifest's product.
        found: u32,
    },
    /// The offered version is not newer than the installed one (anti-rollback).
    #[error("version {offered} is not newer than installed {installed}")]
    Downgrade {
        /// Installed version.
        installed: u32,
        /// Offered version.
        offered: u32,
    },
    /// The image may only be installed over a newer version than the one running.
    #[error("installed version {installed} is below the required {required}")]
    InstalledTooOld {
        /// Installed version.
        installed: u32,
        /// Minimum installed version the manifest requires.
        required: u32,
    },
    /// The image does not fit the download slot.
    #[error("image of {size} bytes exceeds the {max}-byte slot")]
    ImageTooLarge {
        /// Declared size.
        size: u32,
        /// Slot size.
        max: u32,
    },
    /// More bytes arrived than the manifest declares.
    #[error("image longer than the declared {expected} bytes")]
    ImageTooLong {
        /// Declared size.
        expected: u32,
    },
    /// The stream ended early.
    #[error("image truncated: {received} of {expected} bytes")]
    ImageTruncated {
        /// Declared size.
        expected: u32,
        /// Bytes received.
        received: u32,
    },
    /// The image's hash differs from the manifest's (tampered or corrupted).
    #[error("image hash does not match the manifest")]
    ImageHashMismatch,
    /// The vendor signer could not sign (tooling side).
    #[error("signing failed")]
    SigningFailed,
}

/// Short, allocation-free names for logs on devices that do not link `core::fmt` formatting
/// of every field: the variant's name.
macro_rules! variant_names {
    ($ty:ident { $($variant:ident $( ( $($p:tt)* ) )? $( { $($f:tt)* } )?),* $(,)? }) => {
        impl $ty {
            /// The variant's name, for compact logs.
            pub fn name(&self) -> &'static str {
                match self {
                    $( $ty::$variant $( ( $($p)* ) )? $( { $($f)* } )? => stringify!($variant), )*
                }
            }
        }
    };
}

variant_names!(StorageError {
    ReadFailed,
    WriteFailed,
    Corrupt
});
variant_names!(CommandError {
    Malformed(_),
    ArgumentTooLong { .. },
    NoAction,
    IssuerKeyMismatch,
    SigningFailed,
    WrongDevice,
    InvalidSignature,
    NotAuthorized,
    ActionNotGranted,
    GrantExpired { .. },
    Expired { .. },
    Replayed { .. },
    ExpiryBelowFloor { .. },
    ExpiresTooLate { .. },
    ReplayTableFull,
    NoVerifiedState,
    StaleState { .. },
    ClockBehind { .. },
    Storage(_),
    UnknownSession,
    SessionExpired { .. },
    ActionNotInSession,
    InvalidSessionTag,
    KeyAgreementFailed,
    SessionTableFull,
    SessionIdInUse,
});
variant_names!(StateError {
    Malformed(_),
    WrongDevice,
    ProofMismatch,
    NotNewer { .. },
    HeaderNotVerified { .. },
    NotRegistered,
});
variant_names!(FirmwareError {
    UnknownVendor,
    InvalidManifestSignature,
    WrongProduct { .. },
    Downgrade { .. },
    InstalledTooOld { .. },
    ImageTooLarge { .. },
    ImageTooLong { .. },
    ImageTruncated { .. },
    ImageHashMismatch,
    SigningFailed,
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_variant_names() {
        assert_eq!(CommandError::NotAuthorized.name(), "NotAuthorized");
        assert_eq!(
            CommandError::Replayed {
                counter: 1,
                last_accepted: 1
            }
            .name(),
            "Replayed"
        );
        assert_eq!(StateError::ProofMismatch.name(), "ProofMismatch");
        assert_eq!(FirmwareError::ImageHashMismatch.name(), "ImageHashMismatch");
        assert_eq!(StorageError::Corrupt.name(), "Corrupt");
    }
}
