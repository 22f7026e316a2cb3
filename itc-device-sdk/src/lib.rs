//! # itc-device-sdk
//!
//! What a chip vendor links into firmware so a plain microcontroller takes part in IoT Chain
//! without protocol code of its own. Everything on the command and firmware paths runs with no
//! allocator, no clock and no RNG of its own, and never panics on outside input.
//!
//! * [`identity`] — [`DeviceIdentity`]: the integrator's [`itc_crypto::Signer`] (flash key or
//!   secure element) and the [`DeviceId`] the chain records for it.
//! * [`command`] — [`Command`] / [`SignedCommand`]: device id, action, argument, monotonic
//!   counter, expiry; canonical encoding, signed under its own domain tag.
//! * [`device`] — [`Device`]: the command gate. It holds the [`itc_ledger::OwnershipRecord`]
//!   last proven under a header the light client verified ([`VerifiedState`]), obeys the owner
//!   and grantees within their grants, applies the [`StalenessPolicy`] while offline.
//! * [`light_client`] — `itc-spv`'s no-alloc light client, embedded
//!   ([`light_client::DeviceLightClient`]): from a trust anchor shipped in firmware it verifies
//!   headers and commit certificates, follows validator-set changes, and yields the
//!   [`VerifiedState`] the command gate needs.
//! * [`session`] — command sessions: one signed [`session::SessionOpen`] (checked like a
//!   signed command), an ECDH + HKDF-SHA256 session key, then [`session::SessionCommand`]s
//!   with an HMAC-SHA256 tag and a per-session counter: no curve arithmetic per command.
//!   [`session::PhoneSession`] is the phone's side.
//! * [`replay`] — [`ReplayTable`]: replay protection per issuer (owner and grantees, so no
//!   principal can lock out another), persisted through the integrator's [`CounterStore`] with
//!   a wear-aware window (power loss may skip counters, never reuse one).
//! * [`flash`] — [`flash::FlashCounterStore`]: the replay table on two raw flash pages written
//!   alternately (sequence number + checksum), so a torn write never loses it.
//! * [`firmware`] — signed [`firmware::FirmwareManifest`], streaming image verification in
//!   constant RAM, anti-rollback, and a [`firmware::Verdict`] for the bootloader.
//! * `telemetry` (feature `dag`) — `TelemetryTx`: readings as signed DAG transactions, PoW
//!   worked in bounded slices on the device or handed to a gateway and checked.
//! * [`error`] — the typed errors of each concern.
//!
//! ```
//! use itc_crypto::SecretKey;
//! use itc_device_sdk::replay::MemoryCounterStore;
//! use itc_device_sdk::{Actions, Command, CommandError, Device, DeviceConfig, DeviceIdentity};
//!
//! let mut store = MemoryCounterStore::default();
//! let identity = DeviceIdentity::new(SecretKey::from_bytes(&[1; 32]).unwrap());
//! let lamp = identity.device_id();
//! let mut device = Device::new(identity, DeviceConfig::default(), &mut store).unwrap();
//!
//! // Until a proof of ownership arrives the device obeys nobody.
//! let owner = SecretKey::from_bytes(&[2; 32]).unwrap();
//! let cmd = Command::new(lamp, owner.public_key(), Actions::CONTROL, b"on", 1, 10_000).unwrap();
//! let signed = cmd.sign(&owner).unwrap();
//! assert_eq!(device.handle_command(&signed, 5_000, &mut store), Err(CommandError::NoVerifiedState));
//! ```
#![no_std]
#![forbid(unsafe_code)]

#[cfg(any(feature = "alloc", test))]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod command;
pub mod device;
pub mod error;
pub mod firmware;
pub mod flash;
pub mod identity;
pub mod light_client;
pub mod replay;
#[cfg(feature = "serde")]
mod serde_impl;
pub mod session;
#[cfg(feature = "dag")]
pub mod telemetry;

pub use command::{Command, SignedCommand};
pub use device::{AcceptedCommand, Device, DeviceConfig, StalenessPolicy, VerifiedState};
pub use error::{CommandError, FirmwareError, StateError, StorageError};
pub use identity::{DeviceIdentity, ProvisionedKey};
pub use itc_ledger::{Access, Actions, DeviceId};
pub use replay::{CounterStore, ReplayTable, WearPolicy, REPLAY_SLOTS};
pub use session::{
    OpenedSession, PhoneSession, SessionCommand, SessionId, SessionOpen, SESSION_SLOTS,
};
