//! The device's command gate: who owns me (as last proven), and may this command run?
//!
//! [`Device`] holds the last [`OwnershipRecord`] proven under a verified state root, the
//! [`ReplayTable`] (replay state per issuer) and the [`StalenessPolicy`]. Two inputs drive it:
//!
//! * [`Device::update_ownership`] — a record and its [`StateProof`] against a header the light
//!   client verified. Accepted only if the proof matches that header's state root and the header
//!   is newer than the one held, so an ownership transfer or a revocation takes effect the
//!   moment the device sees it, and an old proof can never bring a revoked grantee back.
//! * [`Device::handle_command`] — a [`SignedCommand`]; returns an [`AcceptedCommand`] for the
//!   firmware to execute, or a [`CommandError`] and no change at all.
//! * [`Device::open_session`] / [`Device::handle_session_command`] — the same gate for many
//!   commands at the price of one signature (see [`crate::session`]): both paths share the
//!   checks below; a new ownership proof ends the sessions it no longer authorizes.
//!
//! No allocator is needed: the record holds at most [`itc_ledger::MAX_GRANTS`] grants inline.

use itc_crypto::ecdh::{KeyAgreement, SharedSecret};
use itc_crypto::{Decode, Hash, PublicKey, Signer};
use itc_ledger::{Access, AccessError, Actions, OwnershipRecord, StateKey, StateProof};
use itc_spv::{LightClient, VerifiedEntry, VerifiedHeader};

use crate::command::{SignedCommand, MAX_ARGUMENT_LEN};
use crate::error::{CommandError, StateError, StorageError};
use crate::identity::DeviceIdentity;
use crate::replay::{listed_in, CounterStore, IssuerFloor, ReplayTable, WearPolicy};
use crate::session::{
    verify_digest, OpenedSession, Session, SessionCommand, SessionKey, SessionOpen, SessionTable,
    SESSION_SLOTS,
};

/// What the command gate keeps of a header the embedded light client verified: the only
/// source of state roots a device trusts. Build it with `VerifiedState::from(&VerifiedHeader)`
/// (see [`crate::light_client`]); only `itc-spv` can produce a [`VerifiedHeader`].
///
/// Its fields are private: holding one *is* the proof that a light client verified the header
/// (a hand-built state with an unverified root could otherwise install any owner).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedState {
    pub(crate) height: u64,
    pub(crate) state_root: Hash,
    pub(crate) timestamp_ms: u64,
}

impl VerifiedState {
    /// Height of the verified header.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// Its state root.
    pub fn state_root(&self) -> Hash {
        self.state_root
    }

    /// Its timestamp (chain clock, ms): what staleness is measured from.
    pub fn timestamp_ms(&self) -> u64 {
        self.timestamp_ms
    }

    /// A state nobody verified: for tests, benches and fuzzing of the command gate (feature
    /// `testkit`, or `--cfg fuzzing`). Never in a device build: there, only
    /// `VerifiedState::from(&VerifiedHeader)` makes one.
    #[cfg(any(fuzzing, feature = "testkit"))]
    pub fn unverified(height: u64, state_root: Hash, timestamp_ms: u64) -> Self {
        VerifiedState {
            height,
            state_root,
            timestamp_ms,
        }
    }
}

/// How long a device may act on its last verified proof while it cannot reach the chain.
///
/// Longer means a lamp keeps obeying through a gateway outage; shorter means a revoked grantee
/// is locked out sooner even if the device never hears of the revocation. Pure integer maths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StalenessPolicy {
    /// Commands are refused once the verified header is older than this (ms, by the device's
    /// clock against the header's timestamp).
    pub max_age_ms: u64,
    /// The fastest the chain can produce blocks (ms). Grant expiries are heights, so while
    /// offline the device assumes the chain went as fast as possible: a grant is treated as
    /// expired as soon as it *could* have expired. 0 disables the estimate (use the proof's
    /// height only).
    pub min_block_interval_ms: u64,
    /// How far the device's clock may be *behind* the verified header's timestamp before
    /// commands are refused with [`CommandError::ClockBehind`]. A verified header proves the
    /// chain's time was at least its timestamp; a device clock well behind it (reset by a power
    /// loss without a backed-up RTC, or set back on purpose) would make every state look fresh
    /// (age 0) forever, so stale ownership — a revoked guest's — would never expire. Within the
    /// tolerance the age counts as 0. A device without a reliable clock sets its clock to at
    /// least the newest verified header's timestamp before checking commands.
    pub max_clock_behind_ms: u64,
    /// The latest a command may expire, after the device's time: later ones are refused with
    /// [`CommandError::ExpiresTooLate`]. It bounds what the replay table must remember of a
    /// former principal whose slot it frees (see [`crate::replay`]): a re-granted principal's
    /// old commands stay dead without any counter floor another principal could be locked
    /// out by. Phones sign commands that expire seconds to minutes ahead.
    pub max_command_lifetime_ms: u64,
}

/// [`StalenessPolicy::max_command_lifetime_ms`] by default: one hour.
pub const DEFAULT_MAX_COMMAND_LIFETIME_MS: u64 = 60 * 60 * 1000;

impl Default for StalenessPolicy {
    /// One day offline; blocks no faster than one per second; the clock at most five minutes
    /// behind the chain; commands that expire at most one hour ahead.
    fn default() -> Self {
        StalenessPolicy {
            max_age_ms: 24 * 60 * 60 * 1000,
            min_block_interval_ms: 1000,
            max_clock_behind_ms: 5 * 60 * 1000,
            max_command_lifetime_ms: DEFAULT_MAX_COMMAND_LIFETIME_MS,
        }
    }
}

impl StalenessPolicy {
    /// Age of `state` at `now_ms`, or [`CommandError::StaleState`] past the limit.
    pub fn check(&self, state: &VerifiedState, now_ms: u64) -> Result<u64, CommandError> {
        if now_ms.saturating_add(self.max_clock_behind_ms) < state.timestamp_ms {
            return Err(CommandError::ClockBehind {
                now_ms,
                header_ms: state.timestamp_ms,
            });
        }
        let age_ms = now_ms.saturating_sub(state.timestamp_ms);
        if age_ms > self.max_age_ms {
            return Err(CommandError::StaleState {
                age_ms,
                max_age_ms: self.max_age_ms,
            });
        }
        Ok(age_ms)
    }

    /// The highest chain height plausible `age_ms` after `state` (for grant expiry).
    pub fn assumed_height(&self, state: &VerifiedState, age_ms: u64) -> u64 {
        match age_ms.checked_div(self.min_block_interval_ms) {
            Some(blocks) => state.height.saturating_add(blocks),
            None => state.height,
        }
    }
}

/// The device's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeviceConfig {
    /// Offline tolerance.
    pub staleness: StalenessPolicy,
    /// Replay-table flash wear policy.
    pub wear: WearPolicy,
}

/// A command that passed every check; the firmware executes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedCommand {
    /// Who sent it.
    pub issuer: PublicKey,
    /// As owner or as delegate.
    pub access: Access,
    /// The rights it used.
    pub action: Actions,
    /// The vendor-defined argument.
    pub argument: heapless::Vec<u8, MAX_ARGUMENT_LEN>,
    /// Its counter (now consumed).
    pub counter: u64,
}

/// The command gate of one device, with room for `N` command sessions (RAM only, see
/// [`crate::session`]; [`SESSION_SLOTS`] by default).
#[derive(Debug, Clone)]
pub struct Device<S: Signer, const N: usize = SESSION_SLOTS> {
    identity: DeviceIdentity<S>,
    config: DeviceConfig,
    proven: Option<(VerifiedState, OwnershipRecord)>,
    replay: ReplayTable,
    sessions: SessionTable<N>,
}

/// What a command (signed, or a session open) cleared before its signature is checked.
struct Admitted {
    access: Access,
    latest_ms: u64,
}

/// May `issuer` do `action` under `record` at `height`: the one authorization both command
/// paths use.
fn authorize(
    record: &OwnershipRecord,
    issuer: &PublicKey,
    action: Actions,
    height: u64,
) -> Result<Access, CommandError> {
    record
        .authorize(issuer, action, height)
        .map_err(|e| match e {
            AccessError::NoGrant => CommandError::NotAuthorized,
            AccessError::GrantExpired { expires_at } => CommandError::GrantExpired { expires_at },
            AccessError::ActionNotGranted { .. } => CommandError::ActionNotGranted,
        })
}

/// The key `record` names with these x-only bytes (owner or grantee).
fn principal<'r>(record: &'r OwnershipRecord, issuer: &[u8; 32]) -> Option<&'r PublicKey> {
    if record.owner.as_bytes() == issuer {
        return Some(&record.owner);
    }
    record
        .grants()
        .iter()
        .map(|g| &g.grantee)
        .find(|k| k.as_bytes() == issuer)
}

/// Does `record` still authorize the session's issuer for all of its actions at `height`?
fn session_authorized(record: &OwnershipRecord, s: &Session, height: u64) -> bool {
    principal(record, &s.issuer).is_some_and(|k| authorize(record, k, s.actions, height).is_ok())
}

impl<S: Signer> Device<S> {
    /// Boots a device: restores the replay table from `store`. It obeys nobody until a first
    /// ownership proof arrives. Room for [`SESSION_SLOTS`] sessions, none open (sessions do
    /// not survive a restart).
    pub fn new<C: CounterStore + ?Sized>(
        identity: DeviceIdentity<S>,
        config: DeviceConfig,
        store: &mut C,
    ) -> Result<Self, StorageError> {
        Device::with_session_slots(identity, config, store)
    }
}

impl<S: Signer, const N: usize> Device<S, N> {
    /// [`Device::new`] with room for `N` sessions (fewer than [`SESSION_SLOTS`]
    /// saves RAM, and guests' sessions may then take each other's slots, see
    /// [`crate::session`]; with 0, every open is refused with `SessionTableFull`).
    pub fn with_session_slots<C: CounterStore + ?Sized>(
        identity: DeviceIdentity<S>,
        config: DeviceConfig,
        store: &mut C,
    ) -> Result<Self, StorageError> {
        Ok(Device {
            replay: ReplayTable::open(store, config.wear)?,
            identity,
            config,
            proven: None,
            sessions: SessionTable::default(),
        })
    }

    /// The live command sessions (RAM only).
    pub fn sessions(&self) -> &SessionTable<N> {
        &self.sessions
    }

    /// Ends every session (the next session command is `UnknownSession`).
    pub fn end_sessions(&mut self) {
        self.sessions.clear();
    }

    /// Installs `(state, record)` and ends every session the new record no longer authorizes
    /// (a transfer, a revocation, a narrowed grant): at once, so a later re-grant does not
    /// revive them.
    fn install(&mut self, state: VerifiedState, record: OwnershipRecord) {
        self.sessions
            .retain(|s| session_authorized(&record, s, state.height));
        self.proven = Some((state, record));
    }

    /// The device's identity.
    pub fn identity(&self) -> &DeviceIdentity<S> {
        &self.identity
    }

    /// The ownership record in force and the header it was proven against.
    pub fn ownership(&self) -> Option<(&VerifiedState, &OwnershipRecord)> {
        self.proven.as_ref().map(|(s, r)| (s, r))
    }

    /// The replay state, per issuer ([`ReplayTable::floor`] tells an app which counter and
    /// expiry to use next).
    pub fn replay_table(&self) -> &ReplayTable {
        &self.replay
    }

    /// What a command of `issuer` must clear to pass the replay check now: a counter above
    /// `last_accepted` and an expiry after `min_expiry_ms` (its own slot's, or what a new slot
    /// would start from). Apps read it from the `Replayed` / `ExpiryBelowFloor` refusals;
    /// this is the same on the device side.
    pub fn replay_floor(&self, issuer: &PublicKey) -> IssuerFloor {
        match &self.proven {
            Some((_, record)) => self.replay.floor(issuer, |k| listed_in(record, k)),
            None => self.replay.floor(issuer, |_| true),
        }
    }

    /// Installs a newer ownership record proven under a verified header's state root.
    pub fn update_ownership(
        &mut self,
        state: &VerifiedState,
        record: OwnershipRecord,
        proof: &StateProof,
    ) -> Result<(), StateError> {
        if record.device_id() != self.identity.device_id() {
            return Err(StateError::WrongDevice);
        }
        if let Some((held, _)) = &self.proven {
            if state.height <= held.height {
                return Err(StateError::NotNewer {
                    held: held.height,
                    offered: state.height,
                });
            }
        }
        let key = StateKey::Device(self.identity.device_id());
        proof
            .verify_record(&state.state_root, &key, Some(&record))
            .map_err(|_| StateError::ProofMismatch)?;
        self.install(*state, record);
        Ok(())
    }

    /// [`Device::update_ownership`] against the light client's verified header at `height`
    /// (its tip or a recent one): the usual path, since no state root enters the device any
    /// other way. Fails with [`StateError::HeaderNotVerified`] if the client holds no such
    /// header.
    ///
    /// ```
    /// use itc_crypto::{Encode, SecretKey};
    /// use itc_device_sdk::light_client::{DeviceLightClient, LightClientConfig};
    /// use itc_device_sdk::replay::MemoryCounterStore;
    /// use itc_device_sdk::{Device, DeviceConfig, DeviceIdentity};
    /// use itc_ledger::{OwnershipRecord, StateKey, VendorId};
    /// use itc_spv::server::StateSnapshot;
    /// use itc_spv::testkit::TestChain;
    /// use itc_spv::{Request, Response};
    ///
    /// let (device_key, owner) = (SecretKey::from_bytes(&[1; 32]).unwrap(), SecretKey::from_bytes(&[2; 32]).unwrap());
    /// let record = OwnershipRecord::new(device_key.public_key(), VendorId(7), 42, owner.public_key());
    /// let key = StateKey::Device(record.device_id());
    ///
    /// // The chain registers the lamp in block 1; header 2 carries the state after it.
    /// let mut chain = TestChain::new(4, 10);
    /// chain.push_block(vec![], Some(StateSnapshot::from_records([(key, record.encode_to_vec())]))).unwrap();
    /// chain.extend(1);
    /// let mut client: DeviceLightClient<8> = DeviceLightClient::new(chain.anchor(), LightClientConfig::new(10), chain.now_ms()).unwrap();
    /// client.sync_to(2);
    /// while let Some(r) = client.poll_request() {
    ///     chain.ensure_certificate(&r);
    ///     client.handle_response(&chain.server().answer::<8>(&r), chain.now_ms()).unwrap();
    /// }
    ///
    /// let mut store = MemoryCounterStore::default();
    /// let mut lamp = Device::new(DeviceIdentity::new(device_key), DeviceConfig::default(), &mut store).unwrap();
    /// let Response::<8>::StateProof { proof, .. } = chain.server().answer(&Request::StateProof { height: 2, key }) else { panic!() };
    /// lamp.update_ownership_at(&client, 2, record, &proof).unwrap();
    /// assert_eq!(lamp.ownership().unwrap().0.height(), 2);
    /// ```
    pub fn update_ownership_at<const K: usize, const H: usize>(
        &mut self,
        client: &LightClient<K, H>,
        height: u64,
        record: OwnershipRecord,
        proof: &StateProof,
    ) -> Result<(), StateError> {
        let header: &VerifiedHeader = client
            .header(height)
            .ok_or(StateError::HeaderNotVerified { height })?;
        self.update_ownership(&VerifiedState::from(header), record, proof)
    }

    /// Installs an ownership record the light client already proved (`LightClient::
    /// verify_state` or `handle_response` → `Event::State`): the entry carries its verified
    /// header and the checked value, so nothing is verified a second time. Cheapest checks
    /// first, state written only after every check passed: the entry must be this device's
    /// record (`WrongDevice`), present (`NotRegistered`), decode (`Malformed`) and be newer
    /// than the one held (`NotNewer`).
    ///
    /// ```
    /// use itc_crypto::{Encode, SecretKey};
    /// use itc_device_sdk::light_client::{DeviceLightClient, LightClientConfig};
    /// use itc_device_sdk::replay::MemoryCounterStore;
    /// use itc_device_sdk::{Device, DeviceConfig, DeviceIdentity};
    /// use itc_ledger::{OwnershipRecord, StateKey, VendorId};
    /// use itc_spv::server::StateSnapshot;
    /// use itc_spv::testkit::TestChain;
    /// use itc_spv::{Event, Request};
    ///
    /// let (device_key, owner) = (SecretKey::from_bytes(&[1; 32]).unwrap(), SecretKey::from_bytes(&[2; 32]).unwrap());
    /// let record = OwnershipRecord::new(device_key.public_key(), VendorId(7), 42, owner.public_key());
    /// let key = StateKey::Device(record.device_id());
    /// let mut chain = TestChain::new(4, 10);
    /// chain.push_block(vec![], Some(StateSnapshot::from_records([(key, record.encode_to_vec())]))).unwrap();
    /// chain.extend(1);
    /// let mut client: DeviceLightClient<8> = DeviceLightClient::new(chain.anchor(), LightClientConfig::new(10), chain.now_ms()).unwrap();
    /// client.sync_to(2);
    /// while let Some(r) = client.poll_request() {
    ///     chain.ensure_certificate(&r);
    ///     client.handle_response(&chain.server().answer::<8>(&r), chain.now_ms()).unwrap();
    /// }
    /// let answer = chain.server().answer::<8>(&Request::StateProof { height: 2, key });
    /// let Event::State(entry) = client.handle_response(&answer, chain.now_ms()).unwrap() else { panic!() };
    ///
    /// let mut store = MemoryCounterStore::default();
    /// let mut lamp = Device::new(DeviceIdentity::new(device_key), DeviceConfig::default(), &mut store).unwrap();
    /// lamp.install_ownership(&entry).unwrap(); // proven once, by the light client
    /// assert_eq!(lamp.ownership().unwrap().1.owner, owner.public_key());
    /// ```
    pub fn install_ownership(&mut self, entry: &VerifiedEntry<'_>) -> Result<(), StateError> {
        let id = self.identity.device_id();
        if *entry.key() != StateKey::Device(id) {
            return Err(StateError::WrongDevice);
        }
        let state = VerifiedState::from(entry.header());
        if let Some((held, _)) = &self.proven {
            if state.height <= held.height {
                return Err(StateError::NotNewer {
                    held: held.height,
                    offered: state.height,
                });
            }
        }
        let bytes = entry.value().ok_or(StateError::NotRegistered)?;
        let record = OwnershipRecord::decode_bytes(bytes).map_err(StateError::Malformed)?;
        if record.device_id() != id {
            return Err(StateError::WrongDevice);
        }
        self.install(state, record);
        Ok(())
    }

    /// [`Device::update_ownership`] from the record's wire bytes.
    pub fn update_ownership_bytes(
        &mut self,
        state: &VerifiedState,
        record: &[u8],
        proof: &StateProof,
    ) -> Result<(), StateError> {
        let record = OwnershipRecord::decode_bytes(record).map_err(StateError::Malformed)?;
        self.update_ownership(state, record, proof)
    }

    /// The checks a signed command and a session open share, cheapest first, changing
    /// nothing: device id, verified and fresh state, expiry, authorization, replay.
    fn admit(
        &self,
        device: &itc_ledger::DeviceId,
        issuer: &PublicKey,
        action: Actions,
        counter: u64,
        expires_at_ms: u64,
        now_ms: u64,
    ) -> Result<Admitted, CommandError> {
        if *device != self.identity.device_id() {
            return Err(CommandError::WrongDevice);
        }
        let (state, record) = self.proven.as_ref().ok_or(CommandError::NoVerifiedState)?;
        let age_ms = self.config.staleness.check(state, now_ms)?;
        if now_ms > expires_at_ms {
            return Err(CommandError::Expired {
                expires_at_ms,
                now_ms,
            });
        }
        let latest_ms = now_ms.saturating_add(self.config.staleness.max_command_lifetime_ms);
        if expires_at_ms > latest_ms {
            return Err(CommandError::ExpiresTooLate {
                expires_at_ms,
                latest_ms,
            });
        }
        // Authorization before replay: a former owner or revoked guest learns it has no
        // right (`NotAuthorized`), not the device's replay floor.
        let height = self.config.staleness.assumed_height(state, age_ms);
        let access = authorize(record, issuer, action, height)?;
        let listed = |k: &[u8; 32]| listed_in(record, k);
        self.replay.check(issuer, counter, expires_at_ms, listed)?;
        Ok(Admitted { access, latest_ms })
    }

    /// Consumes `counter` of `issuer` in the persisted replay table (after every check).
    fn consume<C: CounterStore + ?Sized>(
        &mut self,
        issuer: &PublicKey,
        counter: u64,
        expires_at_ms: u64,
        latest_ms: u64,
        store: &mut C,
    ) -> Result<(), CommandError> {
        let (_, record) = self.proven.as_ref().ok_or(CommandError::NoVerifiedState)?;
        let listed = |k: &[u8; 32]| listed_in(record, k);
        self.replay
            .commit(issuer, counter, expires_at_ms, latest_ms, listed, store)
    }

    /// Decides on a command at device time `now_ms`. Checks run cheapest first and the
    /// signature last; the replay counter is persisted (if its window is used up) only after
    /// everything else passed, so a refused command leaves the device exactly as it was.
    pub fn handle_command<C: CounterStore + ?Sized>(
        &mut self,
        signed: &SignedCommand,
        now_ms: u64,
        store: &mut C,
    ) -> Result<AcceptedCommand, CommandError> {
        let cmd = &signed.command;
        let admitted = self.admit(
            &cmd.device,
            &cmd.issuer,
            cmd.action,
            cmd.counter,
            cmd.expires_at_ms,
            now_ms,
        )?;
        signed.verify_signature()?;
        self.consume(
            &cmd.issuer,
            cmd.counter,
            cmd.expires_at_ms,
            admitted.latest_ms,
            store,
        )?;
        Ok(AcceptedCommand {
            issuer: cmd.issuer,
            access: admitted.access,
            action: cmd.action,
            argument: cmd.argument.clone(),
            counter: cmd.counter,
        })
    }

    /// Decides on a session command at device time `now_ms` (see [`crate::session`]): no
    /// elliptic-curve operation, no flash write. Checks run cheapest first and the tag last;
    /// only the session's counter changes, and only on acceptance.
    pub fn handle_session_command(
        &mut self,
        cmd: &SessionCommand,
        now_ms: u64,
    ) -> Result<AcceptedCommand, CommandError> {
        let i = self
            .sessions
            .find(&cmd.id)
            .ok_or(CommandError::UnknownSession)?;
        let session = self
            .sessions
            .session(i)
            .ok_or(CommandError::UnknownSession)?;
        let (state, record) = self.proven.as_ref().ok_or(CommandError::NoVerifiedState)?;
        let age_ms = self.config.staleness.check(state, now_ms)?;
        if now_ms > session.expires_at_ms {
            return Err(CommandError::SessionExpired {
                expires_at_ms: session.expires_at_ms,
                now_ms,
            });
        }
        if now_ms > cmd.expires_at_ms {
            return Err(CommandError::Expired {
                expires_at_ms: cmd.expires_at_ms,
                now_ms,
            });
        }
        if !session.actions.contains(cmd.action) {
            return Err(CommandError::ActionNotInSession);
        }
        // Under the record in force now: a transfer or revocation ends the session here.
        let issuer = principal(record, &session.issuer).ok_or(CommandError::NotAuthorized)?;
        let height = self.config.staleness.assumed_height(state, age_ms);
        let access = authorize(record, issuer, cmd.action, height)?;
        if cmd.counter <= session.last_counter {
            return Err(CommandError::Replayed {
                counter: cmd.counter,
                last_accepted: session.last_counter,
            });
        }
        session.key.verify(cmd)?;
        let issuer = *issuer;
        if let Some(s) = self.sessions.session_mut(i) {
            s.last_counter = cmd.counter;
        }
        Ok(AcceptedCommand {
            issuer,
            access,
            action: cmd.action,
            argument: cmd.argument.clone(),
            counter: cmd.counter,
        })
    }

    /// [`Device::handle_session_command`] from wire bytes (at most
    /// [`crate::session::MAX_SESSION_COMMAND_LEN`]).
    pub fn handle_session_command_bytes(
        &mut self,
        bytes: &[u8],
        now_ms: u64,
    ) -> Result<AcceptedCommand, CommandError> {
        let cmd = SessionCommand::decode_bytes(bytes).map_err(CommandError::Malformed)?;
        self.handle_session_command(&cmd, now_ms)
    }

    /// [`Device::handle_command`] from wire bytes (at most
    /// [`crate::command::MAX_SIGNED_COMMAND_LEN`]).
    pub fn handle_command_bytes<C: CounterStore + ?Sized>(
        &mut self,
        bytes: &[u8],
        now_ms: u64,
        store: &mut C,
    ) -> Result<AcceptedCommand, CommandError> {
        let signed = SignedCommand::decode_bytes(bytes).map_err(CommandError::Malformed)?;
        self.handle_command(&signed, now_ms, store)
    }
}

impl<S: Signer + KeyAgreement, const N: usize> Device<S, N> {
    /// Opens a command session at device time `now_ms` (see [`crate::session`]): the signed
    /// command's checks (shared code) for the open's issuer, counter, expiry and **all** its
    /// actions, a session slot, the signature, then the ECDH with the device key. The
    /// issuer's counter is persisted like a signed command's, and only then is the session
    /// stored: a refused open changes nothing.
    pub fn open_session<C: CounterStore + ?Sized>(
        &mut self,
        open: &SessionOpen,
        now_ms: u64,
        store: &mut C,
    ) -> Result<OpenedSession, CommandError> {
        let req = &open.request;
        let admitted = self.admit(
            &req.device,
            &req.issuer,
            req.actions,
            req.counter,
            req.expires_at_ms,
            now_ms,
        )?;
        let digest = req.signing_digest();
        let id = crate::session::id_of(&digest);
        let slot = {
            let (state, record) = self.proven.as_ref().ok_or(CommandError::NoVerifiedState)?;
            let height = state.height;
            self.sessions.place(
                req.issuer.as_bytes(),
                &id,
                record.owner.as_bytes(),
                now_ms,
                |s| session_authorized(record, s, height),
            )?
        };
        verify_digest(req, &digest, &open.signature)?;
        let key = derive_key(self.identity.signer(), req, &digest)?;
        let confirmation = key.confirmation(&id)?;
        self.consume(
            &req.issuer,
            req.counter,
            req.expires_at_ms,
            admitted.latest_ms,
            store,
        )?;
        self.sessions.insert(
            slot,
            Session {
                id,
                key,
                issuer: *req.issuer.as_bytes(),
                actions: req.actions,
                expires_at_ms: req.expires_at_ms,
                last_counter: 0,
            },
        );
        Ok(OpenedSession {
            id,
            issuer: req.issuer,
            access: admitted.access,
            actions: req.actions,
            expires_at_ms: req.expires_at_ms,
            confirmation,
        })
    }

    /// [`Device::open_session`] from wire bytes (at most
    /// [`crate::session::MAX_SESSION_OPEN_LEN`]).
    pub fn open_session_bytes<C: CounterStore + ?Sized>(
        &mut self,
        bytes: &[u8],
        now_ms: u64,
        store: &mut C,
    ) -> Result<OpenedSession, CommandError> {
        let open = SessionOpen::decode_bytes(bytes).map_err(CommandError::Malformed)?;
        self.open_session(&open, now_ms, store)
    }
}

/// The ECDH and the KDF, each in a frame of its own: the scalar multiplication's temporaries
/// are gone before the session is stored, and the KDF's (two SHA-256 states, ~0.8 KiB) are
/// not on the stack under the scalar multiplication, the deepest call of a session open.
#[inline(never)]
fn derive_key<S: KeyAgreement>(
    signer: &S,
    req: &crate::session::SessionRequest,
    digest: &Hash,
) -> Result<SessionKey, CommandError> {
    let shared = agree(signer, &req.ephemeral)?;
    kdf(&shared, digest)
}

#[inline(never)]
fn agree<S: KeyAgreement>(signer: &S, peer: &PublicKey) -> Result<SharedSecret, CommandError> {
    signer
        .agree(peer)
        .map_err(|_| CommandError::KeyAgreementFailed)
}

#[inline(never)]
fn kdf(shared: &SharedSecret, digest: &Hash) -> Result<SessionKey, CommandError> {
    SessionKey::derive(shared, digest)
}
