//! Command sessions: one signature to open, then commands checked with a MAC and no curve
//! arithmetic.
//!
//! A signed command costs the device a BIP340 verification (≈ 3.4 M instructions on a
//! Cortex-M4, ≈ 42 ms at 80 MHz). A phone that sends many commands — a dimmer slider, a colour
//! wheel — opens a **session** instead: one signed [`SessionOpen`], checked exactly like a
//! signed command, then any number of [`SessionCommand`]s, each checked in well under a
//! millisecond.
//!
//! # Messages
//!
//! **Open** ([`SessionOpen`], signed by the issuer under [`SESSION_OPEN_TAG`]; integers
//! big-endian, at most [`MAX_SESSION_OPEN_LEN`] bytes):
//!
//! ```text
//! version u8 = 1 ‖ device 32 ‖ issuer 32 ‖ actions u32 ‖ ephemeral 32 ‖ counter u64
//!   ‖ expires_at_ms u64 ‖ signature 64
//! ```
//!
//! `ephemeral` is the x-only public key `E = e·G` of a key the phone draws for this session
//! only; `actions` is what the session may be used for; `counter` and `expires_at_ms` are the
//! issuer's replay counter and the session's end.
//!
//! **Command** ([`SessionCommand`], at most [`MAX_SESSION_COMMAND_LEN`] bytes):
//!
//! ```text
//! version u8 = 1 ‖ session id 16 ‖ counter u64 ‖ expires_at_ms u64 ‖ action u32
//!   ‖ argument (varint len ≤ 32, bytes) ‖ tag 16
//! ```
//!
//! # Keys
//!
//! * **Key agreement: the phone's ephemeral key with the device's static key** (x-only ECDH,
//!   [`itc_crypto::ecdh`]): `Z = x(e·D) = x(d·E)`. One scalar multiplication on the device, one
//!   message from the phone, no RNG on the device.
//! * **Key derivation: HKDF-SHA256** (RFC 5869): `PRK = HKDF-Extract(salt =
//!   "itc/device/session/v1", Z)`, `K = HKDF-Expand(PRK, "itc/device/session/v1/mac-key" ‖
//!   digest, 32)`, where `digest` is the open's signing digest: the key is bound to the whole
//!   signed transcript (device, issuer, actions, ephemeral key, counter, expiry).
//! * **Session id**: the first 16 bytes of that digest (public; both sides compute it, so the
//!   device needs to send nothing back).
//! * **Tag: HMAC-SHA256** (RFC 2104) under `K` over `"itc/device/session/v1/command"` ‖ the
//!   command's bytes before the tag, truncated to its first 16 bytes (128 bits), compared in
//!   constant time.
//! * **Key confirmation** (optional): the device returns
//!   `HMAC(K, "itc/device/session/v1/confirm" ‖ id)[..16]` in [`OpenedSession`]; a phone that
//!   checks it ([`PhoneSession::confirm`]) knows it talks to the holder of the device key.
//!
//! Why **static-ephemeral** and not ephemeral keys on both sides (forward secrecy): session
//! commands are authenticated, not encrypted (arguments travel in clear, as in signed
//! commands), so forward secrecy would protect no past secret — a recovered key of a dead
//! session forges nothing, since its session no longer exists. What a leaked device key does
//! expose is the key of a session still *live* (at most one command lifetime, one hour by
//! default, and gone at the device's restart) — but whoever holds the device key can
//! impersonate the device anyway. A device ephemeral would cost a second scalar
//! multiplication (≈ 4 M instructions, over the 8 M open budget with the signature check), an
//! RNG on the device and a reply message before the first command.
//!
//! Why **HKDF/HMAC-SHA256** and not a Keccak construction over the `sha3` already linked:
//! SHA-256 is linked anyway (BIP340 hashes with it), so the two RustCrypto crates add little
//! flash; HKDF and HMAC are the standard KDF and MAC for this job, with the crates'
//! constant-time tag check. A keyed Keccak (KMAC) would be standard too, but `sha3` ships no
//! KMAC, and its framing would be ours to write.
//!
//! # Checks, and what each prevents
//!
//! Opening ([`crate::Device::open_session`]) runs the signed command's checks, shared code,
//! cheapest first: device id (`WrongDevice`: a session for another lamp), a verified, fresh
//! ownership record (`NoVerifiedState`, `StaleState`, `ClockBehind`), expiry (`Expired`,
//! `ExpiresTooLate`: the session lasts at most a command lifetime), authorization of the
//! issuer for **all** of `actions` under the record in force (`NotAuthorized`,
//! `GrantExpired`, `ActionNotGranted`), the issuer's replay counter (`Replayed`,
//! `ExpiryBelowFloor`: a recorded open is never accepted again, before or after a power
//! loss), then the signature (`InvalidSignature`), then the ECDH. The counter is committed to
//! the persisted per-issuer replay table like a signed command's, and only then is the session
//! stored.
//!
//! A session command ([`crate::Device::handle_session_command`]): a known session
//! (`UnknownSession`: never opened, ended, or lost at a restart), a fresh ownership record
//! (`StaleState`, `ClockBehind`), the session's end (`SessionExpired`) and the command's own
//! expiry (`Expired`: a command held back by an attacker dies with it), an action the session
//! was opened for (`ActionNotInSession`), the issuer's authorization **under the record in
//! force now** (`NotAuthorized`, `GrantExpired`, `ActionNotGranted`: a transfer, revocation
//! or lapsed grant ends the session at the next command), a counter above the session's last
//! (`Replayed`), and last the tag (`InvalidSessionTag`: a forged or altered command). No
//! elliptic-curve operation: ≈ 5 SHA-256 blocks.
//!
//! A refused open or command changes nothing on the device.
//!
//! # Replay and power loss
//!
//! Each session keeps its own last counter, **in RAM only**; no session's counters can refuse
//! another session's commands, or any signed command. What survives a power loss is exactly
//! what survives it for signed commands: the per-issuer replay marks in flash, which include
//! every accepted open's counter. Session keys and counters do not survive: after a restart
//! every session is gone (`UnknownSession`), and since a recorded open is refused by the
//! persisted marks (`Replayed`), no session — hence no recorded session command — can ever be
//! brought back. The phone opens a new session.
//!
//! # Revocation
//!
//! When a newer ownership proof is installed ([`crate::Device::update_ownership`] and its
//! siblings), every session whose issuer the new record no longer authorizes for all of the
//! session's actions is ended at once — so a revocation followed by a re-grant does not revive
//! it — and every session command is checked against the record in force anyway.
//!
//! # Capacity
//!
//! The table holds one session per principal (a new open by the same issuer replaces its
//! session) in a fixed number of slots, [`SESSION_SLOTS`] by default: one per principal a
//! record can name, so no principal's open ever ends another principal's session. A firmware
//! short of RAM picks fewer (`Device::with_session_slots`); a full table then reuses an ended
//! slot (expired, or no longer authorized), else the **guest** session that ends first — the
//! owner's session is never taken by anyone else's open. Signed commands work whatever the
//! table holds.
//!
//! ```
//! use itc_crypto::SecretKey;
//! use itc_device_sdk::replay::MemoryCounterStore;
//! use itc_device_sdk::session::PhoneSession;
//! use itc_device_sdk::{Actions, CommandError, Device, DeviceConfig, DeviceIdentity};
//!
//! let device_key = SecretKey::from_bytes(&[1; 32]).unwrap();
//! let owner = SecretKey::from_bytes(&[2; 32]).unwrap();
//! let mut store = MemoryCounterStore::default();
//! let mut lamp = Device::new(DeviceIdentity::new(device_key.clone()), DeviceConfig::default(), &mut store).unwrap();
//!
//! // The phone: a fresh ephemeral key, the device's public key (from the ownership record).
//! let ephemeral = SecretKey::from_bytes(&[3; 32]).unwrap();
//! let (open, mut session) =
//!     PhoneSession::open(&owner, device_key.public_key(), Actions::CONTROL, 1, 60_000, ephemeral).unwrap();
//! // Until an ownership proof arrives the device obeys nobody, sessions included.
//! assert_eq!(lamp.open_session(&open, 5_000, &mut store), Err(CommandError::NoVerifiedState));
//! let cmd = session.command(Actions::CONTROL, b"on", 10_000).unwrap();
//! assert_eq!(lamp.handle_session_command(&cmd, 5_000), Err(CommandError::UnknownSession));
//! ```

use core::fmt;

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use itc_crypto::ecdh::{KeyAgreement, SharedSecret};
use itc_crypto::encoding::{write_bytes, Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::hash::hash_encoded;
use itc_crypto::{DomainTag, Hash, PublicKey, SecretKey, Signature, Signer};
use itc_ledger::{Access, Actions, DeviceId};
use sha2::Sha256;
use zeroize::Zeroize;

use crate::command::MAX_ARGUMENT_LEN;
use crate::error::CommandError;
use crate::replay::REPLAY_SLOTS;

/// Domain tag of the signed session-open body.
pub const SESSION_OPEN_TAG: DomainTag = DomainTag::new(b"itc/device/session-open/v1");

/// Encoding version of both session messages.
pub const SESSION_VERSION: u8 = 1;

/// Bytes of a session id.
pub const SESSION_ID_LEN: usize = 16;

/// Bytes of a session command's tag (HMAC-SHA256 truncated).
pub const SESSION_TAG_LEN: usize = 16;

/// Largest encoded [`SessionOpen`].
pub const MAX_SESSION_OPEN_LEN: usize = 1 + 32 + 32 + 4 + 32 + 8 + 8 + 64;

/// Largest encoded [`SessionCommand`]: what a firmware receive buffer must hold.
pub const MAX_SESSION_COMMAND_LEN: usize =
    1 + SESSION_ID_LEN + 8 + 8 + 4 + 1 + MAX_ARGUMENT_LEN + SESSION_TAG_LEN;

/// Session slots of a [`crate::Device`] by default: one per principal an ownership record
/// can name (the owner and [`itc_ledger::MAX_GRANTS`] grantees).
pub const SESSION_SLOTS: usize = REPLAY_SLOTS;

const KDF_SALT: &[u8] = b"itc/device/session/v1";
const KEY_INFO: &[u8] = b"itc/device/session/v1/mac-key";
const COMMAND_LABEL: &[u8] = b"itc/device/session/v1/command";
const CONFIRM_LABEL: &[u8] = b"itc/device/session/v1/confirm";

/// A session's id: the first [`SESSION_ID_LEN`] bytes of its open's signing digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub [u8; SESSION_ID_LEN]);

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(")?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))?;
        f.write_str(")")
    }
}

impl Encode for SessionId {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        w.write(&self.0);
    }
    fn encoded_len(&self) -> usize {
        SESSION_ID_LEN
    }
}

impl Decode for SessionId {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SessionId(r.read_array()?))
    }
}

/// The signed body of a session open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRequest {
    /// The device the session is with.
    pub device: DeviceId,
    /// Who opens it: the owner or a grantee, who signs.
    pub issuer: PublicKey,
    /// Every action the session's commands may use; the issuer must hold all of them. Never
    /// empty.
    pub actions: Actions,
    /// The phone's ephemeral public key for this session only.
    pub ephemeral: PublicKey,
    /// The issuer's replay counter (shared with its signed commands).
    pub counter: u64,
    /// When the open — and the session — expires (chain clock, ms).
    pub expires_at_ms: u64,
}

impl SessionRequest {
    /// The digest the issuer signs: the canonical encoding under [`SESSION_OPEN_TAG`].
    pub fn signing_digest(&self) -> Hash {
        hash_encoded(SESSION_OPEN_TAG, self)
    }

    /// Signs the request; [`CommandError::IssuerKeyMismatch`] if the signer's key is not the
    /// issuer, [`CommandError::NoAction`] for an empty action set.
    pub fn sign<S: Signer + ?Sized>(self, signer: &S) -> Result<SessionOpen, CommandError> {
        if self.actions.is_empty() {
            return Err(CommandError::NoAction);
        }
        if signer.public_key() != self.issuer {
            return Err(CommandError::IssuerKeyMismatch);
        }
        let signature = signer
            .sign_digest(&self.signing_digest())
            .map_err(|_| CommandError::SigningFailed)?;
        Ok(SessionOpen {
            request: self,
            signature,
        })
    }
}

pub(crate) fn id_of(digest: &Hash) -> SessionId {
    let mut id = [0u8; SESSION_ID_LEN];
    if let Some(head) = digest.as_bytes().first_chunk::<SESSION_ID_LEN>() {
        id = *head;
    }
    SessionId(id)
}

impl Encode for SessionRequest {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        SESSION_VERSION.encode(w);
        self.device.encode(w);
        self.issuer.encode(w);
        self.actions.encode(w);
        self.ephemeral.encode(w);
        self.counter.encode(w);
        self.expires_at_ms.encode(w);
    }
}

impl Decode for SessionRequest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_version(r, "SessionRequest")?;
        let device = DeviceId::decode(r)?;
        let issuer = PublicKey::decode(r)?;
        let actions = Actions::decode(r)?;
        if actions.is_empty() {
            return Err(DecodeError::NonCanonical {
                type_name: "SessionRequest",
            });
        }
        Ok(SessionRequest {
            device,
            issuer,
            actions,
            ephemeral: PublicKey::decode(r)?,
            counter: u64::decode(r)?,
            expires_at_ms: u64::decode(r)?,
        })
    }
}

fn read_version(r: &mut Reader<'_>, type_name: &'static str) -> Result<(), DecodeError> {
    match r.read_u8()? {
        SESSION_VERSION => Ok(()),
        found => Err(DecodeError::UnsupportedVersion {
            type_name,
            found: u64::from(found),
        }),
    }
}

/// A session open with its issuer's BIP340 signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOpen {
    /// The signed body.
    pub request: SessionRequest,
    /// Signature over [`SessionRequest::signing_digest`] by [`SessionRequest::issuer`].
    pub signature: Signature,
}

impl SessionOpen {
    /// The id the session gets if the device accepts it.
    pub fn session_id(&self) -> SessionId {
        id_of(&self.request.signing_digest())
    }

    /// Checks the signature (who opens, not whether they may).
    pub fn verify_signature(&self) -> Result<(), CommandError> {
        verify_digest(
            &self.request,
            &self.request.signing_digest(),
            &self.signature,
        )
    }
}

pub(crate) fn verify_digest(
    req: &SessionRequest,
    digest: &Hash,
    signature: &Signature,
) -> Result<(), CommandError> {
    req.issuer
        .verify_digest(digest, signature)
        .map_err(|_| CommandError::InvalidSignature)
}

impl Encode for SessionOpen {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.request.encode(w);
        self.signature.encode(w);
    }
}

impl Decode for SessionOpen {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SessionOpen {
            request: SessionRequest::decode(r)?,
            signature: Signature::decode(r)?,
        })
    }
}

/// A command within a session, tagged with the session key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCommand {
    /// The session.
    pub id: SessionId,
    /// Strictly increasing within the session (start at 1).
    pub counter: u64,
    /// After this (device time, ms) the command is void, whatever the session's expiry.
    pub expires_at_ms: u64,
    /// The rights the command needs (within the session's actions). Never empty.
    pub action: Actions,
    /// What to do, in the vendor's terms (at most [`MAX_ARGUMENT_LEN`] bytes).
    pub argument: heapless::Vec<u8, MAX_ARGUMENT_LEN>,
    /// HMAC-SHA256 of the rest under the session key, truncated.
    pub tag: [u8; SESSION_TAG_LEN],
}

impl SessionCommand {
    fn encode_body<W: Writer + ?Sized>(&self, w: &mut W) {
        SESSION_VERSION.encode(w);
        self.id.encode(w);
        self.counter.encode(w);
        self.expires_at_ms.encode(w);
        self.action.encode(w);
        write_bytes(w, &self.argument);
    }
}

impl Encode for SessionCommand {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.encode_body(w);
        w.write(&self.tag);
    }
}

impl Decode for SessionCommand {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_version(r, "SessionCommand")?;
        let id = SessionId::decode(r)?;
        let counter = u64::decode(r)?;
        let expires_at_ms = u64::decode(r)?;
        let (action, argument) = crate::command::read_action_and_argument(r, "SessionCommand")?;
        Ok(SessionCommand {
            id,
            counter,
            expires_at_ms,
            action,
            argument,
            tag: r.read_array()?,
        })
    }
}

/// The MAC key of one session. Wiped on drop; `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SessionKey([u8; 32]);

impl Drop for SessionKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(<redacted>)")
    }
}

/// Feeds the canonical encoding straight into the MAC (no buffer on the stack).
struct MacWriter<'a>(&'a mut Hmac<Sha256>);

impl Writer for MacWriter<'_> {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl SessionKey {
    /// `HKDF-SHA256(salt, Z)` expanded under the open's digest.
    pub(crate) fn derive(shared: &SharedSecret, digest: &Hash) -> Result<Self, CommandError> {
        let kdf = Hkdf::<Sha256>::new(Some(KDF_SALT), shared.as_bytes());
        let mut key = [0u8; 32];
        kdf.expand_multi_info(&[KEY_INFO, digest.as_bytes()], &mut key)
            .map_err(|_| CommandError::KeyAgreementFailed)?;
        Ok(SessionKey(key))
    }

    fn mac(&self, label: &[u8]) -> Result<Hmac<Sha256>, CommandError> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .map_err(|_| CommandError::KeyAgreementFailed)?;
        mac.update(label);
        Ok(mac)
    }

    pub(crate) fn tag(&self, cmd: &SessionCommand) -> Result<[u8; SESSION_TAG_LEN], CommandError> {
        let mut mac = self.mac(COMMAND_LABEL)?;
        cmd.encode_body(&mut MacWriter(&mut mac));
        Ok(truncate(&mac.finalize().into_bytes()))
    }

    /// Constant-time check of `cmd.tag`.
    pub(crate) fn verify(&self, cmd: &SessionCommand) -> Result<(), CommandError> {
        let mut mac = self.mac(COMMAND_LABEL)?;
        cmd.encode_body(&mut MacWriter(&mut mac));
        mac.verify_truncated_left(&cmd.tag)
            .map_err(|_| CommandError::InvalidSessionTag)
    }

    /// Never inlined: its MAC state (two SHA-256 states) would otherwise sit in the session
    /// open's frame, which is under the open's signature check.
    #[inline(never)]
    pub(crate) fn confirmation(
        &self,
        id: &SessionId,
    ) -> Result<[u8; SESSION_TAG_LEN], CommandError> {
        let mut mac = self.mac(CONFIRM_LABEL)?;
        mac.update(&id.0);
        Ok(truncate(&mac.finalize().into_bytes()))
    }

    fn verify_confirmation(&self, id: &SessionId, tag: &[u8]) -> Result<(), CommandError> {
        let mut mac = self.mac(CONFIRM_LABEL)?;
        mac.update(&id.0);
        mac.verify_truncated_left(tag)
            .map_err(|_| CommandError::InvalidSessionTag)
    }
}

fn truncate(full: &[u8]) -> [u8; SESSION_TAG_LEN] {
    let mut t = [0u8; SESSION_TAG_LEN];
    if let Some(head) = full.first_chunk::<SESSION_TAG_LEN>() {
        t = *head;
    }
    t
}

/// What the device tells the phone when it accepts an open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenedSession {
    /// The session's id (the phone computes it too).
    pub id: SessionId,
    /// Who opened it.
    pub issuer: PublicKey,
    /// As owner or as delegate (under the record in force at the open).
    pub access: Access,
    /// What the session may be used for.
    pub actions: Actions,
    /// When it ends.
    pub expires_at_ms: u64,
    /// Key confirmation for the phone ([`PhoneSession::confirm`]): proves the device holds the
    /// device key. Optional to send.
    pub confirmation: [u8; SESSION_TAG_LEN],
}

/// One live session on the device (RAM only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    pub(crate) id: SessionId,
    pub(crate) key: SessionKey,
    pub(crate) issuer: [u8; 32],
    pub(crate) actions: Actions,
    pub(crate) expires_at_ms: u64,
    pub(crate) last_counter: u64,
}

/// What a device shows of one session (never its key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionInfo {
    /// Its id.
    pub id: SessionId,
    /// The issuer's x-only key.
    pub issuer: [u8; 32],
    /// What it may be used for.
    pub actions: Actions,
    /// When it ends.
    pub expires_at_ms: u64,
    /// The last counter accepted in it (0 before its first command).
    pub last_counter: u64,
}

/// Where an open goes in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionSlot {
    Replace(usize),
    Free,
}

/// The device's live sessions: at most `N`, in RAM, one per issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTable<const N: usize> {
    slots: heapless::Vec<Session, N>,
}

impl<const N: usize> Default for SessionTable<N> {
    fn default() -> Self {
        SessionTable {
            slots: heapless::Vec::new(),
        }
    }
}

impl<const N: usize> SessionTable<N> {
    /// Sessions held (live or not yet found ended).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// No session held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The sessions, without their keys.
    pub fn iter(&self) -> impl Iterator<Item = SessionInfo> + '_ {
        self.slots.iter().map(|s| SessionInfo {
            id: s.id,
            issuer: s.issuer,
            actions: s.actions,
            expires_at_ms: s.expires_at_ms,
            last_counter: s.last_counter,
        })
    }

    /// The session `id`, if held.
    pub fn get(&self, id: &SessionId) -> Option<SessionInfo> {
        self.iter().find(|s| s.id == *id)
    }

    pub(crate) fn find(&self, id: &SessionId) -> Option<usize> {
        self.slots.iter().position(|s| s.id == *id)
    }

    pub(crate) fn session(&self, i: usize) -> Option<&Session> {
        self.slots.get(i)
    }

    pub(crate) fn session_mut(&mut self, i: usize) -> Option<&mut Session> {
        self.slots.get_mut(i)
    }

    /// Where a new session of `issuer` goes: its own slot, a free one, an ended one (expired at
    /// `now_ms`, or `alive` false), else the non-owner session that ends first. `id` already
    /// held by another issuer's session is refused (`SessionIdInUse`, a 2⁻¹²⁸ event).
    pub(crate) fn place<A: Fn(&Session) -> bool>(
        &self,
        issuer: &[u8; 32],
        id: &SessionId,
        owner: &[u8; 32],
        now_ms: u64,
        alive: A,
    ) -> Result<SessionSlot, CommandError> {
        if self
            .slots
            .iter()
            .any(|s| s.id == *id && s.issuer != *issuer)
        {
            return Err(CommandError::SessionIdInUse);
        }
        if let Some(i) = self.slots.iter().position(|s| s.issuer == *issuer) {
            return Ok(SessionSlot::Replace(i));
        }
        if !self.slots.is_full() {
            return Ok(SessionSlot::Free);
        }
        if let Some(i) = self
            .slots
            .iter()
            .position(|s| now_ms > s.expires_at_ms || !alive(s))
        {
            return Ok(SessionSlot::Replace(i));
        }
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.issuer != *owner)
            .min_by_key(|(_, s)| s.expires_at_ms)
            .map(|(i, _)| SessionSlot::Replace(i))
            .ok_or(CommandError::SessionTableFull)
    }

    pub(crate) fn insert(&mut self, slot: SessionSlot, session: Session) {
        match slot {
            SessionSlot::Replace(i) => {
                if let Some(s) = self.slots.get_mut(i) {
                    *s = session;
                }
            }
            SessionSlot::Free => {
                // `place` found room; a full table here would be our bug, and drops the open.
                let pushed = self.slots.push(session);
                debug_assert!(pushed.is_ok());
            }
        }
    }

    /// Keeps only the sessions `keep` approves.
    pub(crate) fn retain<F: FnMut(&Session) -> bool>(&mut self, keep: F) {
        self.slots.retain(keep);
    }

    /// Ends every session (a firmware that wants them gone before its next restart).
    pub fn clear(&mut self) {
        self.slots.clear();
    }
}

/// The phone's side of a session: the key and the next counter.
///
/// Build it with [`PhoneSession::open`], send the [`SessionOpen`], then one
/// [`PhoneSession::command`] per command. Its counter is in the app's memory: an app that
/// restarts opens a new session (the device would refuse a counter it already saw anyway).
#[derive(Debug, Clone)]
pub struct PhoneSession {
    id: SessionId,
    key: SessionKey,
    next_counter: u64,
    expires_at_ms: u64,
}

impl PhoneSession {
    /// Signs a session open for the device with public key `device_key` and derives the
    /// session key from `ephemeral` — a key drawn fresh for this session
    /// (`SecretKey::generate` with the app's RNG) and dropped with it. `counter` and
    /// `expires_at_ms` are as for a signed command of `signer` (the same counter sequence).
    pub fn open<S: Signer + ?Sized>(
        signer: &S,
        device_key: PublicKey,
        actions: Actions,
        counter: u64,
        expires_at_ms: u64,
        ephemeral: SecretKey,
    ) -> Result<(SessionOpen, PhoneSession), CommandError> {
        let request = SessionRequest {
            device: DeviceId::from_key(&device_key),
            issuer: signer.public_key(),
            actions,
            ephemeral: ephemeral.public_key(),
            counter,
            expires_at_ms,
        };
        let digest = request.signing_digest();
        let open = request.sign(signer)?;
        let shared = ephemeral
            .agree(&device_key)
            .map_err(|_| CommandError::KeyAgreementFailed)?;
        let key = SessionKey::derive(&shared, &digest)?;
        let session = PhoneSession {
            id: id_of(&digest),
            key,
            next_counter: 1,
            expires_at_ms,
        };
        Ok((open, session))
    }

    /// The session's id.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// When the session ends.
    pub fn expires_at_ms(&self) -> u64 {
        self.expires_at_ms
    }

    /// The counter the next command will carry.
    pub fn next_counter(&self) -> u64 {
        self.next_counter
    }

    /// Checks the device's key confirmation ([`OpenedSession::confirmation`]):
    /// `InvalidSessionTag` if the device does not hold the device key (or the open was not
    /// this one).
    pub fn confirm(&self, confirmation: &[u8; SESSION_TAG_LEN]) -> Result<(), CommandError> {
        self.key.verify_confirmation(&self.id, confirmation)
    }

    /// The next command: tagged, with the next counter (`NoAction`, `ArgumentTooLong` as for
    /// a signed command).
    pub fn command(
        &mut self,
        action: Actions,
        argument: &[u8],
        expires_at_ms: u64,
    ) -> Result<SessionCommand, CommandError> {
        self.command_at(self.next_counter, action, argument, expires_at_ms)
    }

    /// A command with a counter of the caller's choice (the device only needs them strictly
    /// increasing within the session; skipped counters are never usable later). The next
    /// [`PhoneSession::command`] continues above it.
    pub fn command_at(
        &mut self,
        counter: u64,
        action: Actions,
        argument: &[u8],
        expires_at_ms: u64,
    ) -> Result<SessionCommand, CommandError> {
        if action.is_empty() {
            return Err(CommandError::NoAction);
        }
        let argument =
            heapless::Vec::from_slice(argument).map_err(|()| CommandError::ArgumentTooLong {
                len: argument.len(),
            })?;
        let mut cmd = SessionCommand {
            id: self.id,
            counter,
            expires_at_ms,
            action,
            argument,
            tag: [0; SESSION_TAG_LEN],
        };
        cmd.tag = self.key.tag(&cmd)?;
        self.next_counter = self.next_counter.max(counter.saturating_add(1));
        Ok(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use itc_crypto::Encode;
    use proptest::prelude::*;

    fn key(b: u8) -> SecretKey {
        SecretKey::from_bytes(&[b; 32]).unwrap()
    }

    fn pair() -> (SessionOpen, PhoneSession) {
        PhoneSession::open(
            &key(2),
            key(1).public_key(),
            Actions::CONTROL,
            1,
            1_000,
            key(3),
        )
        .unwrap()
    }

    #[test]
    fn wire_length_bounds_hold() {
        let (open, mut s) = pair();
        assert_eq!(open.encode_to_vec().len(), MAX_SESSION_OPEN_LEN);
        let cmd = s
            .command(Actions::CONTROL, &[7; MAX_ARGUMENT_LEN], u64::MAX)
            .unwrap();
        assert_eq!(cmd.encode_to_vec().len(), MAX_SESSION_COMMAND_LEN);
    }

    #[test]
    fn device_and_phone_derive_the_same_key_and_id() {
        let (open, mut phone) = pair();
        assert_eq!(open.session_id(), phone.id());
        open.verify_signature().unwrap();
        // The device's side: its raw provisioned scalar with the phone's ephemeral key.
        let shared = itc_crypto::ecdh::diffie_hellman(&[1; 32], &open.request.ephemeral).unwrap();
        let device_key = SessionKey::derive(&shared, &open.request.signing_digest()).unwrap();
        let cmd = phone.command(Actions::CONTROL, b"on", 10).unwrap();
        device_key.verify(&cmd).unwrap();
        phone
            .confirm(&device_key.confirmation(&phone.id()).unwrap())
            .unwrap();
        assert_eq!(
            phone.confirm(&[0; SESSION_TAG_LEN]),
            Err(CommandError::InvalidSessionTag)
        );
    }

    #[test]
    fn the_tag_binds_every_byte() {
        let (_, mut phone) = pair();
        let cmd = phone.command(Actions::CONTROL, b"level=80", 10).unwrap();
        let bytes = cmd.encode_to_vec();
        for i in 1..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            if let Ok(d) = SessionCommand::decode_bytes(&b) {
                assert_eq!(
                    phone.key.verify(&d),
                    Err(CommandError::InvalidSessionTag),
                    "byte {i}"
                );
            }
        }
    }

    #[test]
    fn decoders_reject_versions_empty_actions_long_arguments_and_trailing_bytes() {
        let (open, mut phone) = pair();
        let mut o = open.encode_to_vec();
        o[0] = 2;
        assert!(matches!(
            SessionOpen::decode_bytes(&o),
            Err(DecodeError::UnsupportedVersion { found: 2, .. })
        ));
        let mut o = open.encode_to_vec();
        o[1 + 32 + 32..1 + 32 + 32 + 4].copy_from_slice(&[0; 4]);
        assert!(matches!(
            SessionOpen::decode_bytes(&o),
            Err(DecodeError::NonCanonical { .. })
        ));
        let cmd = phone
            .command(Actions::CONTROL, b"x", 10)
            .unwrap()
            .encode_to_vec();
        let mut t = cmd.clone();
        t.push(0);
        assert_eq!(
            SessionCommand::decode_bytes(&t),
            Err(DecodeError::TrailingBytes { count: 1 })
        );
        let mut l = cmd.clone();
        l[1 + 16 + 8 + 8 + 4] = 33;
        assert!(matches!(
            SessionCommand::decode_bytes(&l),
            Err(DecodeError::LengthOverLimit { len: 33, .. })
        ));
        let mut e = cmd.clone();
        e[1 + 16 + 8 + 8..1 + 16 + 8 + 8 + 4].copy_from_slice(&[0; 4]);
        assert!(matches!(
            SessionCommand::decode_bytes(&e),
            Err(DecodeError::NonCanonical { .. })
        ));
    }

    #[test]
    fn building_refuses_empty_actions_long_arguments_and_a_wrong_signer() {
        assert_eq!(
            PhoneSession::open(&key(2), key(1).public_key(), Actions::NONE, 1, 1, key(3))
                .unwrap_err(),
            CommandError::NoAction
        );
        let (open, mut phone) = pair();
        assert_eq!(
            open.request.clone().sign(&key(9)).unwrap_err(),
            CommandError::IssuerKeyMismatch
        );
        assert_eq!(
            phone.command(Actions::CONTROL, &[0; 33], 1).unwrap_err(),
            CommandError::ArgumentTooLong { len: 33 }
        );
        assert_eq!(
            phone.command(Actions::NONE, &[], 1).unwrap_err(),
            CommandError::NoAction
        );
        assert_eq!(phone.next_counter(), 1);
    }

    #[test]
    fn debug_never_prints_the_key() {
        let (_, phone) = pair();
        let s = std::format!("{phone:?}");
        assert!(s.contains("SessionKey(<redacted>)"), "{s}");
    }

    proptest! {
        #[test]
        fn round_trips(counter: u64, expiry: u64, action in 1u32.., arg in proptest::collection::vec(any::<u8>(), 0..=MAX_ARGUMENT_LEN)) {
            let (open, mut phone) = pair();
            prop_assert_eq!(SessionOpen::decode_bytes(&open.encode_to_vec()).unwrap(), open);
            let mut cmd = phone.command(Actions::from_bits(action), &arg, expiry).unwrap();
            cmd.counter = counter;
            let bytes = cmd.encode_to_vec();
            prop_assert!(bytes.len() <= MAX_SESSION_COMMAND_LEN);
            prop_assert_eq!(SessionCommand::decode_bytes(&bytes).unwrap(), cmd);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..MAX_SESSION_OPEN_LEN + 8)) {
            let _ = SessionOpen::decode_bytes(&data);
            let _ = SessionCommand::decode_bytes(&data);
            let (open, mut phone) = pair();
            for real in [open.encode_to_vec(), phone.command(Actions::CONTROL, b"on", 1).unwrap().encode_to_vec()] {
                let mut real: Vec<u8> = real;
                real.truncate(data.len().min(real.len()));
                real.extend_from_slice(&data);
                let _ = SessionOpen::decode_bytes(&real);
                let _ = SessionCommand::decode_bytes(&real);
            }
        }
    }
}
