//! The smart lamp as firmware would build it from `itc-device-sdk`: the embedded `itc-spv`
//! light client (`light_client::DeviceLightClient`, two recent headers), the command gate
//! ([`Device`]), the per-issuer replay table on two alternating flash pages
//! (`flash::FlashCounterStore`) and telemetry as signed DAG transactions
//! (`telemetry::TelemetryTx`, PoW in bounded slices).
//! Also the phone app that signs commands for it, one by one or through a command session
//! (`session`: one signature to open, then MAC'd commands).
//!
//! The lamp trusts exactly one thing from the factory: the genesis header and validator set.
//! Everything else — who owns it, who may dim it, which firmware key is the vendor's — it
//! proves against headers its light client verified.

use std::time::Instant;

use itc_crypto::{Encode, PublicKey, SecretKey};
use itc_dag::{Transaction, TxId};
use itc_device_sdk::flash::{FlashCounterStore, RamFlash};
use itc_device_sdk::light_client::DeviceLightClient;
use itc_device_sdk::replay::ReplayMarks;
use itc_device_sdk::telemetry::TelemetryTx;
use itc_device_sdk::{
    AcceptedCommand, Actions, Command, CommandError, CounterStore, Device, DeviceConfig, DeviceId,
    DeviceIdentity, OpenedSession, PhoneSession, StateError, StorageError,
};
use itc_ledger::{OwnershipRecord, StateKey};

use crate::chain::Chain;
use crate::error::StoryError;
use crate::spv::{LampSpv, ProvenState, MAX_SET};

/// Nonces a lamp tries per turn of its main loop while working a telemetry PoW.
pub const POW_SLICE: u64 = 64;

/// The replay table's flash (two alternating pages), counting the writes it takes.
#[derive(Debug)]
pub struct Flash {
    store: FlashCounterStore<RamFlash>,
    writes: u64,
}

impl CounterStore for Flash {
    fn load(&mut self) -> Result<Option<ReplayMarks>, StorageError> {
        self.store.load()
    }

    fn persist(&mut self, marks: &ReplayMarks) -> Result<(), StorageError> {
        self.writes += 1;
        self.store.persist(marks)
    }
}

/// One change of brightness the lamp carried out (its local usage log: the records the
/// analytics plans run over, which never leave the lamp).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageEvent {
    /// Device time (ms).
    pub at_ms: u64,
    /// New level, 0–100 %.
    pub level: u8,
}

/// A lamp: light client, command gate, replay counter flash and usage log.
pub struct Lamp {
    /// Its light client.
    pub spv: LampSpv,
    device: Device<SecretKey>,
    flash: Flash,
    sequence: u64,
    id: DeviceId,
    key: PublicKey,
    /// Current brightness, 0–100 %.
    pub level: u8,
    /// What it did.
    pub usage: Vec<UsageEvent>,
    /// Wall-clock µs of every signed-command decision.
    pub command_us: Vec<u64>,
    /// Wall-clock ns of every accepted signed command.
    pub signed_ok_ns: Vec<u64>,
    /// Wall-clock ns of every session open.
    pub open_ns: Vec<u64>,
    /// Wall-clock ns of every accepted session command.
    pub session_ok_ns: Vec<u64>,
}

/// What a command's argument asks for: `on`, `off` or `dim <0-100>`.
pub fn parse_level(argument: &[u8]) -> Option<u8> {
    match argument {
        b"on" => Some(100),
        b"off" => Some(0),
        _ => {
            let rest = argument.strip_prefix(b"dim ")?;
            let level: u8 = std::str::from_utf8(rest).ok()?.parse().ok()?;
            (level <= 100).then_some(level)
        }
    }
}

impl Lamp {
    /// A lamp fresh from the factory line: device key, genesis anchor from `chain`.
    pub fn new(key: SecretKey, chain: &Chain) -> Result<Self, StoryError> {
        let mut flash = Flash {
            store: FlashCounterStore::new(RamFlash::default()),
            writes: 0,
        };
        let identity = DeviceIdentity::new(key);
        let id = identity.device_id();
        let pk = identity.public_key();
        let device = Device::new(identity, DeviceConfig::default(), &mut flash)
            .map_err(|e| StoryError::Command(CommandError::Storage(e)))?;
        Ok(Lamp {
            spv: LampSpv::for_chain(chain)?,
            device,
            flash,
            sequence: 0,
            id,
            key: pk,
            level: 0,
            usage: Vec::new(),
            command_us: Vec::new(),
            signed_ok_ns: Vec::new(),
            open_ns: Vec::new(),
            session_ok_ns: Vec::new(),
        })
    }

    /// The lamp's on-chain id.
    pub fn id(&self) -> DeviceId {
        self.id
    }

    /// The lamp's public key (what the vendor registers).
    pub fn public_key(&self) -> PublicKey {
        self.key
    }

    /// The lamp's signing key (its analytics answers are signed with it too).
    pub fn signer(&self) -> &SecretKey {
        self.device.identity().signer()
    }

    /// The ownership record in force, if any.
    pub fn record(&self) -> Option<&OwnershipRecord> {
        self.device.ownership().map(|(_, r)| r)
    }

    /// Replay-table writes to flash so far.
    pub fn flash_writes(&self) -> u64 {
        self.flash.writes
    }

    /// Bytes of RAM the lamp's protocol state takes: light client plus command gate.
    pub fn state_bytes() -> (usize, usize) {
        (
            DeviceLightClient::<MAX_SET>::STATE_BYTES,
            std::mem::size_of::<Device<SecretKey>>(),
        )
    }

    /// A telemetry reading as the firmware posts it: a DAG data transaction approving
    /// `parents` (from the gateway's tip selection), PoW worked on the lamp in slices of
    /// [`POW_SLICE`] nonces, signed with the device key. Returns it and the slices it took.
    pub fn telemetry(
        &mut self,
        parents: &[TxId],
        reading: &[u8],
        now_ms: u64,
        difficulty: u8,
    ) -> Result<(Transaction, u64), StoryError> {
        let identity = self.device.identity();
        let mut tx = TelemetryTx::new(
            identity.public_key(),
            self.sequence,
            now_ms,
            parents,
            reading,
            difficulty,
        )
        .map_err(StoryError::Telemetry)?;
        let mut slices = 1;
        while !tx.work(POW_SLICE) {
            slices += 1;
        }
        let signed = tx.sign(identity).map_err(StoryError::Telemetry)?;
        self.sequence += 1;
        Ok((signed, slices))
    }

    /// Syncs headers, proves its own ownership record under the newest one and installs it:
    /// the light client verifies the proof once and the command gate takes the verified entry
    /// (`Device::install_ownership`), nothing is decoded or verified twice.
    pub fn refresh_ownership(
        &mut self,
        chain: &Chain,
    ) -> Result<(OwnershipRecord, ProvenState), StoryError> {
        self.spv.sync(chain.server(), chain.now())?;
        let device = &mut self.device;
        let (proven, installed) = self.spv.prove_state_then(
            chain.server(),
            StateKey::Device(self.id),
            chain.now(),
            |entry| device.install_ownership(entry),
        )?;
        installed.map_err(StoryError::DeviceState)?;
        let record = self
            .device
            .ownership()
            .map(|(_, r)| r.clone())
            .ok_or(StoryError::Unexpected("the lamp is not registered"))?;
        Ok((record, proven))
    }

    /// Offers an ownership proof obtained elsewhere (possibly stale or forged).
    pub fn offer_ownership(&mut self, proven: &ProvenState) -> Result<(), StateError> {
        let bytes = proven.value.as_deref().unwrap_or(&[]);
        self.device
            .update_ownership_bytes(&proven.state, bytes, &proven.proof)
    }

    /// A command arrives over the radio as bytes; on acceptance the lamp sets its level.
    pub fn receive(&mut self, bytes: &[u8], now_ms: u64) -> Result<AcceptedCommand, CommandError> {
        let started = Instant::now();
        let verdict = self
            .device
            .handle_command_bytes(bytes, now_ms, &mut self.flash);
        let elapsed = started.elapsed();
        self.command_us
            .push(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
        let accepted = verdict?;
        self.signed_ok_ns
            .push(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
        self.apply(&accepted, now_ms);
        Ok(accepted)
    }

    /// A session open arrives over the radio: checked like a signed command, then the lamp
    /// derives the session key (one ECDH).
    pub fn receive_session_open(
        &mut self,
        bytes: &[u8],
        now_ms: u64,
    ) -> Result<OpenedSession, CommandError> {
        let started = Instant::now();
        let verdict = self
            .device
            .open_session_bytes(bytes, now_ms, &mut self.flash);
        self.open_ns
            .push(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
        verdict
    }

    /// A session command arrives: a MAC and a counter, no signature.
    pub fn receive_session(
        &mut self,
        bytes: &[u8],
        now_ms: u64,
    ) -> Result<AcceptedCommand, CommandError> {
        // Nanosecond clock: a session command takes a few µs on a host.
        let started = Instant::now();
        let verdict = self.device.handle_session_command_bytes(bytes, now_ms);
        let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let accepted = verdict?;
        self.session_ok_ns.push(ns);
        self.apply(&accepted, now_ms);
        Ok(accepted)
    }

    /// Live command sessions on the lamp.
    pub fn sessions(&self) -> usize {
        self.device.sessions().len()
    }

    fn apply(&mut self, accepted: &AcceptedCommand, now_ms: u64) {
        if let Some(level) = parse_level(&accepted.argument) {
            self.level = level;
            self.usage.push(UsageEvent {
                at_ms: now_ms,
                level,
            });
        }
    }
}

/// A phone app holding a user's key: signs commands for one lamp. Counters are the phone's
/// millisecond clock, so they only grow even across phones of different users.
#[derive(Clone)]
pub struct Phone {
    key: SecretKey,
    last_counter: u64,
    session: Option<PhoneSession>,
}

/// How long a phone's command session lasts (ms).
pub const SESSION_MS: u64 = 10 * 60 * 1000;

impl Phone {
    /// A phone with `key`.
    pub fn new(key: SecretKey) -> Self {
        Phone {
            key,
            last_counter: 0,
            session: None,
        }
    }

    /// The user's public key.
    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    fn next_counter(&mut self, now_ms: u64) -> u64 {
        let counter = now_ms.max(self.last_counter.saturating_add(1));
        self.last_counter = counter;
        counter
    }

    /// A signed session open for the lamp with public key `lamp` (`CONTROL`, for
    /// [`SESSION_MS`]), as wire bytes; `ephemeral` is a key drawn for this session only. The
    /// phone keeps the session for [`Phone::session_command`].
    pub fn open_session(
        &mut self,
        lamp: PublicKey,
        ephemeral: SecretKey,
        now_ms: u64,
    ) -> Result<Vec<u8>, StoryError> {
        let counter = self.next_counter(now_ms);
        let (open, session) = PhoneSession::open(
            &self.key,
            lamp,
            Actions::CONTROL,
            counter,
            now_ms.saturating_add(SESSION_MS),
            ephemeral,
        )
        .map_err(StoryError::Command)?;
        self.session = Some(session);
        Ok(open.encode_to_vec())
    }

    /// Does the lamp's key confirmation match this phone's session key (the lamp holds its
    /// device key)?
    pub fn session_confirmed(&self, opened: &OpenedSession) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| s.id() == opened.id && s.confirm(&opened.confirmation).is_ok())
    }

    /// The next `CONTROL` command in the open session, valid for a minute, as wire bytes.
    pub fn session_command(&mut self, argument: &str, now_ms: u64) -> Result<Vec<u8>, StoryError> {
        let session = self
            .session
            .as_mut()
            .ok_or(StoryError::Unexpected("no session open"))?;
        let cmd = session
            .command(
                Actions::CONTROL,
                argument.as_bytes(),
                now_ms.saturating_add(60_000),
            )
            .map_err(StoryError::Command)?;
        Ok(cmd.encode_to_vec())
    }

    /// A signed `CONTROL` command for `lamp`, valid for a minute, as wire bytes.
    pub fn command(
        &mut self,
        lamp: DeviceId,
        argument: &str,
        now_ms: u64,
    ) -> Result<Vec<u8>, StoryError> {
        let counter = self.next_counter(now_ms);
        let cmd = Command::new(
            lamp,
            self.key.public_key(),
            Actions::CONTROL,
            argument.as_bytes(),
            counter,
            now_ms.saturating_add(60_000),
        )
        .map_err(StoryError::Command)?;
        Ok(cmd
            .sign(&self.key)
            .map_err(StoryError::Command)?
            .encode_to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_level;

    #[test]
    fn levels() {
        assert_eq!(parse_level(b"on"), Some(100));
        assert_eq!(parse_level(b"off"), Some(0));
        assert_eq!(parse_level(b"dim 40"), Some(40));
        assert_eq!(parse_level(b"dim 140"), None);
        assert_eq!(parse_level(b"dim x"), None);
        assert_eq!(parse_level(b"blink"), None);
    }
}
