//! What a device checks on its own: who owns it, whom the owner delegated to, and which key
//! signs its firmware.
//!
//! A smart light obeys its owner because the chain, not a vendor's server, says who that is.
//! The device fetches its [`OwnershipRecord`] (and its vendor's [`VendorRecord`]) with a state
//! proof, decodes it without an allocator and answers "may this key do this action now?" with
//! [`OwnershipRecord::authorize`]. Encodings are small (78 bytes + 44 per grant), versioned
//! and canonical (grants sorted by grantee, no duplicates).

use core::fmt;

use itc_crypto::encoding::{write_varint, Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::hash::hash_encoded;
use itc_crypto::{Blame, DomainTag, Hash, PublicKey};

/// Tag of [`DeviceId::from_key`].
pub const DEVICE_ID_TAG: DomainTag = DomainTag::new(b"itc/ledger/device-id/v1");

/// Most access grants one device carries (bounded so a device can hold its record in RAM).
pub const MAX_GRANTS: usize = 8;

/// Encoding version of [`OwnershipRecord`] and [`VendorRecord`].
pub const RECORD_VERSION: u8 = 1;

/// A device's identity on chain: the domain-separated hash of its public key.
///
/// ```
/// use itc_crypto::SecretKey;
/// use itc_ledger::DeviceId;
/// let device_key = SecretKey::from_bytes(&[9u8; 32]).unwrap().public_key();
/// let id = DeviceId::from_key(&device_key);
/// assert_ne!(id.as_hash().0, *device_key.as_bytes());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceId(Hash);

impl DeviceId {
    /// The id of the device holding `key`.
    pub fn from_key(key: &PublicKey) -> Self {
        DeviceId(hash_encoded(DEVICE_ID_TAG, key))
    }

    /// The underlying hash.
    pub fn as_hash(&self) -> &Hash {
        &self.0
    }

    /// Wraps a hash already known to be a device id (e.g. read from a record).
    pub const fn from_hash(hash: Hash) -> Self {
        DeviceId(hash)
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({})", self.0)
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Encode for DeviceId {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.0.encode(w);
    }
    fn encoded_len(&self) -> usize {
        32
    }
}

impl Decode for DeviceId {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(DeviceId(Hash::decode(r)?))
    }
}

/// A vendor's number, assigned at genesis or by a quorum-authorised `RegisterVendor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VendorId(pub u32);

impl fmt::Display for VendorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vendor#{}", self.0)
    }
}

impl Encode for VendorId {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.0.encode(w);
    }
    fn encoded_len(&self) -> usize {
        4
    }
}

impl Decode for VendorId {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(VendorId(u32::decode(r)?))
    }
}

/// A set of actions a delegate may perform, one bit each.
///
/// Bits 0–7 are named here; bits 8–31 are left to vendors for device-specific actions. The
/// owner implicitly holds every action.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Actions(u32);

impl Actions {
    /// No action.
    pub const NONE: Actions = Actions(0);
    /// Operate the device (switch on/off, dim, lock/unlock).
    pub const CONTROL: Actions = Actions(1 << 0);
    /// Read its state and telemetry.
    pub const READ: Actions = Actions(1 << 1);
    /// Change its settings.
    pub const CONFIGURE: Actions = Actions(1 << 2);
    /// Trigger a firmware update (the image itself must still carry the vendor's signature).
    pub const UPDATE_FIRMWARE: Actions = Actions(1 << 3);
    /// Every action.
    pub const ALL: Actions = Actions(u32::MAX);

    /// From raw bits.
    pub const fn from_bits(bits: u32) -> Self {
        Actions(bits)
    }

    /// The raw bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// True if every action in `other` is in `self`.
    pub const fn contains(self, other: Actions) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of two sets.
    #[must_use]
    pub const fn union(self, other: Actions) -> Actions {
        Actions(self.0 | other.0)
    }

    /// True for the empty set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Debug for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Actions({:#x})", self.0)
    }
}

impl Encode for Actions {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.0.encode(w);
    }
    fn encoded_len(&self) -> usize {
        4
    }
}

impl Decode for Actions {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Actions(u32::decode(r)?))
    }
}

/// A delegation: `grantee` may perform `actions` while the chain height is below `expires_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The delegate's key (commands to the device are signed with it).
    pub grantee: PublicKey,
    /// What the delegate may do (never empty in a record).
    pub actions: Actions,
    /// First height at which the grant no longer holds.
    pub expires_at: u64,
}

impl Grant {
    /// True while `height` is below the expiry.
    pub fn is_live_at(&self, height: u64) -> bool {
        height < self.expires_at
    }
}

impl Encode for Grant {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.grantee.encode(w);
        self.actions.encode(w);
        self.expires_at.encode(w);
    }
    fn encoded_len(&self) -> usize {
        44
    }
}

impl Decode for Grant {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Grant {
            grantee: PublicKey::decode(r)?,
            actions: Actions::decode(r)?,
            expires_at: u64::decode(r)?,
        })
    }
}

/// Who may command a key holder, as [`OwnershipRecord::authorize`] answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The owner: every action.
    Owner,
    /// A delegate whose grant covers the action until `expires_at`.
    Delegate {
        /// First height at which the grant lapses.
        expires_at: u64,
    },
}

/// Why a key may not perform an action on a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// The key is neither the owner nor a grantee.
    #[error("key holds no grant on this device")]
    NoGrant,
    /// The key's grant lapsed at `expires_at`.
    #[error("grant expired at height {expires_at}")]
    GrantExpired {
        /// First height at which the grant no longer held.
        expires_at: u64,
    },
    /// The grant exists but does not cover the action.
    #[error("grant does not cover the action")]
    ActionNotGranted {
        /// What the grant does cover.
        granted: Actions,
    },
}

impl AccessError {
    /// Who must act: a command signed by a key without the right is the commander's fault
    /// ([`Blame::Peer`]); a grant that lapsed is an honest race with the chain height
    /// ([`Blame::Ignorable`]).
    pub fn blame(&self) -> Blame {
        match self {
            AccessError::NoGrant | AccessError::ActionNotGranted { .. } => Blame::Peer,
            AccessError::GrantExpired { .. } => Blame::Ignorable,
        }
    }
}

/// The on-chain record of one device: identity, vendor, owner, delegations.
///
/// `revocations` counts every ownership transfer and every revocation, so a device (or a
/// delegate credential issued off-chain) can tell that commands authorised under an older
/// count no longer count.
///
/// ```
/// use itc_crypto::{Decode, Encode, SecretKey};
/// use itc_ledger::{Access, AccessError, Actions, Grant, OwnershipRecord, VendorId};
/// let key = |i: u8| SecretKey::from_bytes(&[i; 32]).unwrap().public_key();
/// let mut rec = OwnershipRecord::new(key(1), VendorId(7), 100, key(2));
/// rec.upsert_grant(Grant { grantee: key(3), actions: Actions::CONTROL, expires_at: 50 }).unwrap();
///
/// let bytes = rec.encode_to_vec();
/// let on_device = OwnershipRecord::decode_bytes(&bytes).unwrap();
/// assert_eq!(on_device.authorize(&key(2), Actions::UPDATE_FIRMWARE, 10), Ok(Access::Owner));
/// assert!(on_device.authorize(&key(3), Actions::CONTROL, 49).is_ok());
/// assert_eq!(
///     on_device.authorize(&key(3), Actions::CONTROL, 50),
///     Err(AccessError::GrantExpired { expires_at: 50 })
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnershipRecord {
    /// The device's own key (its [`DeviceId`] is the hash of it).
    pub device_key: PublicKey,
    /// The vendor that registered it.
    pub vendor: VendorId,
    /// The vendor's model number.
    pub model: u32,
    /// The owner's key: commands signed by it are obeyed.
    pub owner: PublicKey,
    /// How many ownership transfers and revocations the record has seen (only grows).
    pub revocations: u32,
    grants: heapless::Vec<Grant, MAX_GRANTS>,
}

/// Why a grant could not be added to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// A grant must allow at least one action.
    #[error("grant allows no action")]
    NoActions,
    /// The record already holds [`MAX_GRANTS`] other grants.
    #[error("device already has {MAX_GRANTS} grants")]
    TooManyGrants,
}

impl GrantError {
    /// Who must act: an empty grant is malformed ([`Blame::Peer`]); a full record is an honest
    /// race with other grants ([`Blame::Ignorable`]).
    pub fn blame(&self) -> Blame {
        match self {
            GrantError::NoActions => Blame::Peer,
            GrantError::TooManyGrants => Blame::Ignorable,
        }
    }
}

impl OwnershipRecord {
    /// A fresh record with no grants and no revocations.
    pub fn new(device_key: PublicKey, vendor: VendorId, model: u32, owner: PublicKey) -> Self {
        OwnershipRecord {
            device_key,
            vendor,
            model,
            owner,
            revocations: 0,
            grants: heapless::Vec::new(),
        }
    }

    /// The device's id.
    pub fn device_id(&self) -> DeviceId {
        DeviceId::from_key(&self.device_key)
    }

    /// Grants, sorted by grantee key.
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// The grant held by `grantee`, if any (live or expired).
    pub fn grant_for(&self, grantee: &PublicKey) -> Option<&Grant> {
        self.grants
            .binary_search_by(|g| g.grantee.cmp(grantee))
            .ok()
            .and_then(|i| self.grants.get(i))
    }

    /// Adds a grant or replaces the grantee's existing one, keeping grants sorted.
    pub fn upsert_grant(&mut self, grant: Grant) -> Result<(), GrantError> {
        if grant.actions.is_empty() {
            return Err(GrantError::NoActions);
        }
        match self
            .grants
            .binary_search_by(|g| g.grantee.cmp(&grant.grantee))
        {
            Ok(i) => {
                if let Some(slot) = self.grants.get_mut(i) {
                    *slot = grant;
                }
                Ok(())
            }
            Err(i) => self
                .grants
                .insert(i, grant)
                .map_err(|_| GrantError::TooManyGrants),
        }
    }

    /// Removes `grantee`'s grant; returns it if there was one.
    pub fn remove_grant(&mut self, grantee: &PublicKey) -> Option<Grant> {
        let i = self
            .grants
            .binary_search_by(|g| g.grantee.cmp(grantee))
            .ok()?;
        Some(self.grants.remove(i))
    }

    /// Drops grants that have lapsed by `height`; returns how many.
    pub fn prune_expired(&mut self, height: u64) -> usize {
        let before = self.grants.len();
        self.grants.retain(|g| g.is_live_at(height));
        before.saturating_sub(self.grants.len())
    }

    /// Drops every grant (done on ownership transfer).
    pub fn clear_grants(&mut self) {
        self.grants.clear();
    }

    /// May `key` perform `action` at chain height `height`? The owner may do anything; a
    /// delegate only what a live grant covers.
    pub fn authorize(
        &self,
        key: &PublicKey,
        action: Actions,
        height: u64,
    ) -> Result<Access, AccessError> {
        if *key == self.owner {
            return Ok(Access::Owner);
        }
        let grant = self.grant_for(key).ok_or(AccessError::NoGrant)?;
        if !grant.is_live_at(height) {
            return Err(AccessError::GrantExpired {
                expires_at: grant.expires_at,
            });
        }
        if !grant.actions.contains(action) {
            return Err(AccessError::ActionNotGranted {
                granted: grant.actions,
            });
        }
        Ok(Access::Delegate {
            expires_at: grant.expires_at,
        })
    }
}

fn read_version(r: &mut Reader<'_>, type_name: &'static str) -> Result<(), DecodeError> {
    match r.read_u8()? {
        RECORD_VERSION => Ok(()),
        found => Err(DecodeError::UnsupportedVersion {
            type_name,
            found: u64::from(found),
        }),
    }
}

impl Encode for OwnershipRecord {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        w.write(&[RECORD_VERSION]);
        self.device_key.encode(w);
        self.vendor.encode(w);
        self.model.encode(w);
        self.owner.encode(w);
        self.revocations.encode(w);
        write_varint(w, self.grants.len() as u64);
        for g in &self.grants {
            g.encode(w);
        }
    }
}

impl Decode for OwnershipRecord {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        const NAME: &str = "OwnershipRecord";
        read_version(r, NAME)?;
        let mut rec = OwnershipRecord::new(
            PublicKey::decode(r)?,
            VendorId::decode(r)?,
            u32::decode(r)?,
            PublicKey::decode(r)?,
        );
        rec.revocations = u32::decode(r)?;
        let n = r.read_count(MAX_GRANTS, 44)?;
        for _ in 0..n {
            let g = Grant::decode(r)?;
            // Strictly ascending grantees and non-empty actions: one encoding per record.
            let sorted = rec
                .grants
                .last()
                .is_none_or(|last| last.grantee < g.grantee);
            if !sorted || g.actions.is_empty() {
                return Err(DecodeError::NonCanonical { type_name: NAME });
            }
            rec.grants
                .push(g)
                .map_err(|_| DecodeError::NonCanonical { type_name: NAME })?;
        }
        Ok(rec)
    }
}

/// A device vendor: the key that registers its devices and the key that signs its firmware.
///
/// Two keys because they live in different places: registration runs on the factory line,
/// firmware signing in an offline HSM. A device pins `firmware_key` after proving this record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VendorRecord {
    /// Signs `RegisterDevice` and `FundPlan` transactions (its address pays and receives).
    pub registry_key: PublicKey,
    /// Signs firmware images; devices check updates against it.
    pub firmware_key: PublicKey,
}

impl Encode for VendorRecord {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        w.write(&[RECORD_VERSION]);
        self.registry_key.encode(w);
        self.firmware_key.encode(w);
    }
    fn encoded_len(&self) -> usize {
        65
    }
}

impl Decode for VendorRecord {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_version(r, "VendorRecord")?;
        Ok(VendorRecord {
            registry_key: PublicKey::decode(r)?,
            firmware_key: PublicKey::decode(r)?,
        })
    }
}

#[cfg(test)]
#[cfg(feature = "alloc")]
mod tests {
    use super::*;
    use itc_crypto::SecretKey;

    fn key(i: u8) -> PublicKey {
        SecretKey::from_bytes(&[i; 32]).unwrap().public_key()
    }

    fn grant(i: u8, expires_at: u64) -> Grant {
        Grant {
            grantee: key(i),
            actions: Actions::CONTROL.union(Actions::READ),
            expires_at,
        }
    }

    #[test]
    fn grants_stay_sorted_bounded_and_replaceable() {
        let mut rec = OwnershipRecord::new(key(1), VendorId(1), 1, key(2));
        for i in (10..10 + MAX_GRANTS as u8).rev() {
            rec.upsert_grant(grant(i, 5)).unwrap();
        }
        assert!(rec.grants().windows(2).all(|w| w[0].grantee < w[1].grantee));
        assert_eq!(
            rec.upsert_grant(grant(99, 5)),
            Err(GrantError::TooManyGrants)
        );
        // Replacing an existing grantee does not need a free slot.
        rec.upsert_grant(grant(10, 9)).unwrap();
        assert_eq!(rec.grant_for(&key(10)).unwrap().expires_at, 9);
        assert_eq!(rec.prune_expired(5), MAX_GRANTS - 1);
        assert_eq!(
            rec.upsert_grant(Grant {
                actions: Actions::NONE,
                ..grant(11, 9)
            }),
            Err(GrantError::NoActions)
        );
    }

    #[test]
    fn authorize_rules() {
        let mut rec = OwnershipRecord::new(key(1), VendorId(1), 1, key(2));
        rec.upsert_grant(grant(3, 100)).unwrap();
        assert_eq!(
            rec.authorize(&key(4), Actions::READ, 0),
            Err(AccessError::NoGrant)
        );
        assert_eq!(
            rec.authorize(&key(3), Actions::CONFIGURE, 0),
            Err(AccessError::ActionNotGranted {
                granted: Actions::CONTROL.union(Actions::READ)
            })
        );
        assert_eq!(
            rec.authorize(&key(3), Actions::READ, 99),
            Ok(Access::Delegate { expires_at: 100 })
        );
        assert_eq!(
            rec.authorize(&key(3), Actions::READ, 100),
            Err(AccessError::GrantExpired { expires_at: 100 })
        );
        // The device key itself holds no rights.
        assert_eq!(
            rec.authorize(&key(1), Actions::READ, 0),
            Err(AccessError::NoGrant)
        );
    }

    #[test]
    fn record_encodings_are_small_and_strict() {
        let mut rec = OwnershipRecord::new(key(1), VendorId(7), 42, key(2));
        rec.upsert_grant(grant(3, 100)).unwrap();
        rec.upsert_grant(grant(4, 100)).unwrap();
        let bytes = rec.encode_to_vec();
        assert_eq!(bytes.len(), 78 + 2 * 44);
        assert_eq!(OwnershipRecord::decode_bytes(&bytes).unwrap(), rec);
        // Swap the two grants: unsorted is rejected.
        let mut swapped = bytes.clone();
        let (a, b) = (78..122, 122..166);
        let ga = bytes[a.clone()].to_vec();
        swapped[a].copy_from_slice(&bytes[b.clone()]);
        swapped[b].copy_from_slice(&ga);
        assert!(matches!(
            OwnershipRecord::decode_bytes(&swapped),
            Err(DecodeError::NonCanonical { .. })
        ));
        // Unknown version.
        let mut v2 = bytes.clone();
        v2[0] = 2;
        assert!(matches!(
            OwnershipRecord::decode_bytes(&v2),
            Err(DecodeError::UnsupportedVersion { found: 2, .. })
        ));
        let vendor = VendorRecord {
            registry_key: key(5),
            firmware_key: key(6),
        };
        assert_eq!(
            VendorRecord::decode_bytes(&vendor.encode_to_vec()).unwrap(),
            vendor
        );
        assert_eq!(vendor.encode_to_vec().len(), vendor.encoded_len());
    }
}
