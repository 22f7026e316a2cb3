//! Replay protection per issuer that survives power loss without writing flash on every
//! command, and that no principal can use against another.
//!
//! # One slot per issuer
//!
//! The [`ReplayTable`] keeps one slot per issuer — at most [`REPLAY_SLOTS`] = the owner plus
//! the [`MAX_GRANTS`] grantees an ownership record can hold — each with the issuer's key, the
//! highest counter accepted from it and what is persisted for it. A command needs a counter
//! above **its own issuer's** last accepted one, so a guest that sends counter `u64::MAX` only
//! ever exhausts its own counters: the owner and the other grantees are untouched, before and
//! after the guest's revocation.
//!
//! # Reservations (flash wear)
//!
//! Keeping the counters in RAM is not enough (a power cycle would forget them and accept a
//! replay), and writing flash on every command wears it out (a NOR sector survives ~10⁵
//! erases). So each slot **reserves a window**: when an issuer's counter exceeds its persisted
//! mark `P`, the table first persists `P' = counter + window`, then accepts; that issuer's
//! counters up to `P'` are then accepted from RAM with no write. Each slot also reserves the
//! expiries it may accept without a write (`expiry_reserved_ms`, see below). The whole table
//! is one record, persisted atomically ([`CounterStore::persist`]).
//!
//! **Guarantee across power loss.** At every instant each slot's persisted mark is ≥ every
//! counter ever accepted from its issuer, and its persisted expiry reservation is ≥ the
//! expiry of every command ever accepted from it (both are written *before* the acceptance is
//! reported). After a restart every slot resumes with `last accepted = P`, so no command
//! accepted before the loss is accepted again. The price is that up to `window` unused
//! counters of each issuer may be skipped: an issuer refused with [`CommandError::Replayed`]
//! learns its floor from the error and continues above it.
//!
//! # Freeing a slot without reopening replay
//!
//! Nine slots are enough for the principals one record names, but over its life a device sees
//! more issuers than that (guests come and go, the device is sold). A slot is therefore
//! **evicted** when an issuer the verified record lists needs one and none is free — and only
//! the slot of an issuer the record in force **no longer lists** (neither owner nor grantee) is
//! ever evicted; such an issuer is refused with `NotAuthorized` before replay is even looked
//! at, so losing its slot costs it nothing today. Since at most [`REPLAY_SLOTS`] principals are
//! listed at once, and the one asking has no slot, a slot can always be found
//! ([`CommandError::ReplayTableFull`] is unreachable with a valid record).
//!
//! What must not happen is that an evicted issuer's *old* commands become acceptable again
//! when the chain lists it again (a guest re-granted, a seller who buys the device back):
//! someone who recorded them could replay them. Its counters are gone with the slot, and a
//! counter floor shared by every new slot would bring back exactly the lock-out this table
//! removes (a guest's `u64::MAX` would refuse every later new principal). So the table carries
//! the evicted commands' **expiries** instead, which the device bounds:
//!
//! 1. A command may expire at most `max_command_lifetime_ms` after the device's time
//!    ([`crate::StalenessPolicy::max_command_lifetime_ms`], else
//!    [`CommandError::ExpiresTooLate`]). Whenever a slot is written, its expiry reservation
//!    becomes `max(previous, now + lifetime)`, so it bounds every expiry accepted from the slot
//!    without a further write (a later expiry forces a write first, like a counter above the
//!    mark).
//! 2. Evicting a slot raises the table's **expiry floor** to at least that slot's expiry
//!    reservation. Every slot created afterwards records the floor at its creation as its own
//!    `min_expiry_ms` and accepts only commands expiring **after** it
//!    ([`CommandError::ExpiryBelowFloor`]).
//! 3. So every command ever accepted from an evicted slot expires no later than the floor of
//!    any slot created after the eviction, including its own issuer's next slot: it is refused,
//!    forever (the floor only grows, and the rule never consults the clock, so a clock set back
//!    does not revive anything). Slots that existed before the eviction keep their own, older
//!    `min_expiry_ms`: the owner's commands never notice an eviction.
//! 4. No principal can use this against another: the floor is the evicted slot's reservation,
//!    `now + lifetime` at the slot's last write — set by the device's clock, not by anything the
//!    evicted issuer sent (its expiries are below it by rule 1). A principal that gets a new slot
//!    at time `t` after that write can always pick an expiry in `(floor, t + lifetime]`; one
//!    whose usual expiry is shorter hears `ExpiryBelowFloor { floor_ms }` and re-signs with a
//!    later expiry, as it re-signs above the floor it hears in `Replayed`. The victim of an
//!    eviction is always the unlisted slot with the smallest expiry reservation, so a floor in
//!    the past — most evictions — constrains nobody.
//!
//! A device upgraded from the single-counter layout (`ReplayMarks::legacy_floor`) keeps the old
//! counter as the starting floor of every slot it creates, so a command accepted before the
//! upgrade stays dead; a freshly provisioned device has it at 0.
//!
//! The store must make each [`CounterStore::persist`] atomic (old or new table after a torn
//! write) — [`crate::flash::FlashCounterStore`] does so on two flash pages written alternately
//! with a sequence number and a checksum. [`MemoryCounterStore`] is the in-memory
//! implementation for tests and simulations.

use itc_crypto::PublicKey;
use itc_ledger::{OwnershipRecord, MAX_GRANTS};

use crate::error::{CommandError, StorageError};

/// Slots of the replay table: the owner plus the grantees one record can hold.
pub const REPLAY_SLOTS: usize = 1 + MAX_GRANTS;

/// What is persisted of one issuer's slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuerMark {
    /// The issuer's x-only public key.
    pub issuer: [u8; 32],
    /// Every counter of this issuer up to here counts as used.
    pub reserved_through: u64,
    /// Every command accepted from this slot expires no later than this (ms).
    pub expiry_reserved_ms: u64,
    /// Commands of this slot must expire strictly after this (the table's expiry floor when
    /// the slot was created).
    pub min_expiry_ms: u64,
}

/// The persisted replay state: one [`IssuerMark`] per slot in use, the expiry floor left by
/// evictions, and the counter floor of a device upgraded from the single-counter layout.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplayMarks {
    /// The slots in use (no two with the same issuer).
    pub marks: heapless::Vec<IssuerMark, REPLAY_SLOTS>,
    /// A slot created now accepts only commands expiring after this (ms).
    pub expiry_floor_ms: u64,
    /// A slot created now starts with this counter counted as used (0 unless the device was
    /// upgraded from the single shared counter, whose value it is).
    pub legacy_floor: u64,
}

impl ReplayMarks {
    /// The slot index of `issuer`.
    pub fn find(&self, issuer: &[u8; 32]) -> Option<usize> {
        self.marks.iter().position(|m| m.issuer == *issuer)
    }

    fn has_duplicates(&self) -> bool {
        self.marks.iter().enumerate().any(|(i, m)| {
            self.marks
                .iter()
                .skip(i.saturating_add(1))
                .any(|o| o.issuer == m.issuer)
        })
    }
}

/// Integrator-supplied non-volatile storage for the replay table.
pub trait CounterStore {
    /// Reads the last persisted table (`None` on a device never used).
    fn load(&mut self) -> Result<Option<ReplayMarks>, StorageError>;
    /// Durably and atomically stores a new table (after a torn write, `load` must return the
    /// old or the new one).
    fn persist(&mut self, marks: &ReplayMarks) -> Result<(), StorageError>;
}

/// How many counters one flash write reserves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WearPolicy {
    /// Counters reserved per write (≥ 1; 1 means write on every command).
    pub window: u64,
}

impl Default for WearPolicy {
    /// 64 counters per write: ~64× fewer erases, at most 64 counters skipped after a power loss.
    fn default() -> Self {
        WearPolicy { window: 64 }
    }
}

/// Is `issuer` the owner or a grantee (live or lapsed) of `record`? Only slots of issuers for
/// which this is false may be evicted.
pub fn listed_in(record: &OwnershipRecord, issuer: &[u8; 32]) -> bool {
    record.owner.as_bytes() == issuer
        || record
            .grants()
            .iter()
            .any(|g| g.grantee.as_bytes() == issuer)
}

/// Where a command's issuer lives in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Slot(usize),
    Free,
    Evict(usize),
}

/// The floor a command of one issuer must clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuerFloor {
    /// The counter must be above this.
    pub last_accepted: u64,
    /// The expiry must be after this (ms).
    pub min_expiry_ms: u64,
}

/// The device's replay state: the persisted [`ReplayMarks`] and, per slot, the last accepted
/// counter (in RAM only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayTable {
    marks: ReplayMarks,
    last_accepted: [u64; REPLAY_SLOTS],
    policy: WearPolicy,
}

impl ReplayTable {
    /// Resumes from storage after boot: each slot's counters up to its persisted mark count as
    /// used. A stored table naming one issuer twice is [`StorageError::Corrupt`].
    ///
    /// ```
    /// use itc_crypto::SecretKey;
    /// use itc_device_sdk::replay::{MemoryCounterStore, ReplayTable, WearPolicy};
    /// let owner = SecretKey::from_bytes(&[2; 32]).unwrap().public_key();
    /// let listed = |_: &[u8; 32]| true;
    /// let mut store = MemoryCounterStore::default();
    /// let mut table = ReplayTable::open(&mut store, WearPolicy { window: 16 }).unwrap();
    /// table.commit(&owner, 1, 1_000, 3_600_000, listed, &mut store).unwrap(); // persists 17
    /// table.commit(&owner, 2, 1_000, 3_600_000, listed, &mut store).unwrap(); // no write
    /// assert_eq!(store.writes(), 1);
    /// // Power loss: the new table refuses everything up to the reservation.
    /// let table = ReplayTable::open(&mut store, WearPolicy { window: 16 }).unwrap();
    /// assert!(table.check(&owner, 2, 1_000, listed).is_err());
    /// assert!(table.check(&owner, 18, 1_000, listed).is_ok());
    /// ```
    // Never inlined (nor `commit`): their table-sized temporaries must not add to the frames
    // of the caller's signature checks on a small MCU stack.
    #[inline(never)]
    pub fn open<C: CounterStore + ?Sized>(
        store: &mut C,
        policy: WearPolicy,
    ) -> Result<Self, StorageError> {
        let marks = store.load()?.unwrap_or_default();
        if marks.has_duplicates() {
            return Err(StorageError::Corrupt);
        }
        let mut last_accepted = [0u64; REPLAY_SLOTS];
        for (l, m) in last_accepted.iter_mut().zip(marks.marks.iter()) {
            *l = m.reserved_through;
        }
        Ok(ReplayTable {
            marks,
            last_accepted,
            policy: WearPolicy {
                window: policy.window.max(1),
            },
        })
    }

    /// The persisted state as it stands.
    pub fn marks(&self) -> &ReplayMarks {
        &self.marks
    }

    /// What a command of `issuer` must clear right now (for an issuer without a slot: what the
    /// slot it would get starts from, after the eviction it would cause). `listed` as for
    /// [`ReplayTable::check`]. Apps use it to pick the next counter and expiry.
    pub fn floor<L: Fn(&[u8; 32]) -> bool>(&self, issuer: &PublicKey, listed: L) -> IssuerFloor {
        match self.place(issuer.as_bytes(), listed) {
            Ok(place) => self.floor_at(place),
            Err(_) => IssuerFloor {
                last_accepted: u64::MAX,
                min_expiry_ms: u64::MAX,
            },
        }
    }

    fn floor_at(&self, place: Place) -> IssuerFloor {
        match place {
            Place::Slot(i) => IssuerFloor {
                last_accepted: self.last_accepted.get(i).copied().unwrap_or(u64::MAX),
                min_expiry_ms: self
                    .marks
                    .marks
                    .get(i)
                    .map_or(u64::MAX, |m| m.min_expiry_ms),
            },
            // A new slot starts from the table's floors (after an eviction, the floor the
            // eviction leaves).
            Place::Free => IssuerFloor {
                last_accepted: self.marks.legacy_floor,
                min_expiry_ms: self.marks.expiry_floor_ms,
            },
            Place::Evict(v) => IssuerFloor {
                last_accepted: self.marks.legacy_floor,
                min_expiry_ms: self.eviction_floor(v),
            },
        }
    }

    /// Where `issuer` would go: its slot, a free one, or the evictable one (an issuer
    /// `listed` says the record no longer names, with the smallest expiry reservation).
    fn place<L: Fn(&[u8; 32]) -> bool>(
        &self,
        issuer: &[u8; 32],
        listed: L,
    ) -> Result<Place, CommandError> {
        if let Some(i) = self.marks.find(issuer) {
            return Ok(Place::Slot(i));
        }
        if !self.marks.marks.is_full() {
            return Ok(Place::Free);
        }
        self.marks
            .marks
            .iter()
            .enumerate()
            .filter(|(_, m)| !listed(&m.issuer))
            .min_by_key(|(_, m)| m.expiry_reserved_ms)
            .map(|(i, _)| Place::Evict(i))
            .ok_or(CommandError::ReplayTableFull)
    }

    fn check_at(&self, counter: u64, expires_at_ms: u64, place: Place) -> Result<(), CommandError> {
        let floor = self.floor_at(place);
        if counter <= floor.last_accepted {
            return Err(CommandError::Replayed {
                counter,
                last_accepted: floor.last_accepted,
            });
        }
        if expires_at_ms <= floor.min_expiry_ms {
            return Err(CommandError::ExpiryBelowFloor {
                expires_at_ms,
                floor_ms: floor.min_expiry_ms,
            });
        }
        Ok(())
    }

    fn eviction_floor(&self, victim: usize) -> u64 {
        let m = self.marks.marks.get(victim);
        self.marks
            .expiry_floor_ms
            .max(m.map_or(u64::MAX, |m| m.expiry_reserved_ms.max(m.min_expiry_ms)))
    }

    /// Checks a command of `issuer` without changing anything. `listed` tells whether an
    /// issuer is named by the ownership record in force (see [`listed_in`]).
    pub fn check<L: Fn(&[u8; 32]) -> bool>(
        &self,
        issuer: &PublicKey,
        counter: u64,
        expires_at_ms: u64,
        listed: L,
    ) -> Result<(), CommandError> {
        let place = self.place(issuer.as_bytes(), listed)?;
        self.check_at(counter, expires_at_ms, place)
    }

    /// Records the command as used, persisting the table first if the issuer's reservations
    /// do not cover it (or it needs a new slot). `reserve_expiry_ms` is what a write reserves
    /// for expiries: the device's time plus the command lifetime it allows (the command's own
    /// expiry must not be later). Call it only after every other check passed; if the store
    /// fails, nothing changes and the command must be refused.
    #[inline(never)]
    pub fn commit<C: CounterStore + ?Sized, L: Fn(&[u8; 32]) -> bool>(
        &mut self,
        issuer: &PublicKey,
        counter: u64,
        expires_at_ms: u64,
        reserve_expiry_ms: u64,
        listed: L,
        store: &mut C,
    ) -> Result<(), CommandError> {
        let place = self.place(issuer.as_bytes(), listed)?;
        self.check_at(counter, expires_at_ms, place)?;
        let fresh = |min_expiry_ms: u64, legacy: u64| IssuerMark {
            issuer: *issuer.as_bytes(),
            reserved_through: legacy,
            expiry_reserved_ms: min_expiry_ms,
            min_expiry_ms,
        };
        let (index, mut next) = match place {
            Place::Slot(i) => (i, self.marks.clone()),
            Place::Free => {
                let mut next = self.marks.clone();
                let i = next.marks.len();
                next.marks
                    .push(fresh(next.expiry_floor_ms, next.legacy_floor))
                    .map_err(|_| CommandError::ReplayTableFull)?;
                (i, next)
            }
            Place::Evict(v) => {
                let mut next = self.marks.clone();
                next.expiry_floor_ms = self.eviction_floor(v);
                let m = fresh(next.expiry_floor_ms, next.legacy_floor);
                *next.marks.get_mut(v).ok_or(CommandError::ReplayTableFull)? = m;
                (v, next)
            }
        };
        let slot = next
            .marks
            .get_mut(index)
            .ok_or(CommandError::ReplayTableFull)?;
        let write = !matches!(place, Place::Slot(_))
            || counter > slot.reserved_through
            || expires_at_ms > slot.expiry_reserved_ms;
        if write {
            slot.reserved_through = slot
                .reserved_through
                .max(counter.saturating_add(self.policy.window));
            slot.expiry_reserved_ms = slot
                .expiry_reserved_ms
                .max(reserve_expiry_ms)
                .max(expires_at_ms);
            store.persist(&next).map_err(CommandError::Storage)?;
            self.marks = next;
        }
        if let Some(l) = self.last_accepted.get_mut(index) {
            *l = counter;
        }
        Ok(())
    }

    /// Whether accepting the command would write flash (for integrators budgeting write
    /// energy).
    pub fn needs_write<L: Fn(&[u8; 32]) -> bool>(
        &self,
        issuer: &PublicKey,
        counter: u64,
        expires_at_ms: u64,
        listed: L,
    ) -> bool {
        match self.place(issuer.as_bytes(), listed) {
            Ok(Place::Slot(i)) => self.marks.marks.get(i).is_none_or(|m| {
                counter > m.reserved_through || expires_at_ms > m.expiry_reserved_ms
            }),
            _ => true,
        }
    }
}

/// An in-memory [`CounterStore`] that counts writes and can be told to fail, for tests and
/// simulations of power loss (drop the table, keep the store, [`ReplayTable::open`] again).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryCounterStore {
    value: Option<ReplayMarks>,
    writes: u64,
    fail_writes: bool,
}

impl MemoryCounterStore {
    /// Number of successful writes so far (the wear).
    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// The persisted table.
    pub fn value(&self) -> Option<&ReplayMarks> {
        self.value.as_ref()
    }

    /// The persisted counter mark of `issuer` (`None` if it has no slot).
    pub fn reserved_through(&self, issuer: &PublicKey) -> Option<u64> {
        let marks = self.value.as_ref()?;
        marks
            .marks
            .get(marks.find(issuer.as_bytes())?)
            .map(|m| m.reserved_through)
    }

    /// Makes every following write fail (a worn-out sector, a brown-out during the write).
    pub fn set_fail_writes(&mut self, fail: bool) {
        self.fail_writes = fail;
    }
}

impl CounterStore for MemoryCounterStore {
    fn load(&mut self) -> Result<Option<ReplayMarks>, StorageError> {
        Ok(self.value.clone())
    }

    fn persist(&mut self, marks: &ReplayMarks) -> Result<(), StorageError> {
        if self.fail_writes {
            return Err(StorageError::WriteFailed);
        }
        self.value = Some(marks.clone());
        self.writes = self.writes.saturating_add(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use itc_crypto::SecretKey;
    use proptest::prelude::*;

    const LIFE: u64 = 1_000;

    fn key(i: u8) -> PublicKey {
        SecretKey::from_bytes(&[i; 32]).unwrap().public_key()
    }

    fn all(_: &[u8; 32]) -> bool {
        true
    }

    #[test]
    fn counting_by_one_writes_once_per_window() {
        let mut store = MemoryCounterStore::default();
        let mut g = ReplayTable::open(&mut store, WearPolicy { window: 10 }).unwrap();
        let k = key(1);
        for c in 1..=100 {
            g.commit(&k, c, 10, LIFE, all, &mut store).unwrap();
        }
        // Writes at 1 (→11), 12 (→22), 23, 34, 45, 56, 67, 78, 89, 100.
        assert_eq!(store.writes(), 10);
        assert_eq!(store.reserved_through(&k), Some(110));
    }

    #[test]
    fn failed_write_changes_nothing() {
        let mut store = MemoryCounterStore::default();
        let mut g = ReplayTable::open(&mut store, WearPolicy { window: 4 }).unwrap();
        let k = key(1);
        g.commit(&k, 1, 10, LIFE, all, &mut store).unwrap();
        let before = g.clone();
        store.set_fail_writes(true);
        assert_eq!(
            g.commit(&k, 9, 10, LIFE, all, &mut store),
            Err(CommandError::Storage(StorageError::WriteFailed))
        );
        // A new issuer needs a slot: a write, which fails too.
        assert_eq!(
            g.commit(&key(2), 1, 10, LIFE, all, &mut store),
            Err(CommandError::Storage(StorageError::WriteFailed))
        );
        assert_eq!(g, before);
        // Within the reservation no write is needed, so it still works.
        g.commit(&k, 3, 10, LIFE, all, &mut store).unwrap();
    }

    #[test]
    fn zero_window_is_treated_as_one() {
        let mut store = MemoryCounterStore::default();
        let mut g = ReplayTable::open(&mut store, WearPolicy { window: 0 }).unwrap();
        g.commit(&key(1), 5, 10, LIFE, all, &mut store).unwrap();
        assert_eq!(store.reserved_through(&key(1)), Some(6));
    }

    #[test]
    fn counter_max_is_usable_once_and_only_by_its_issuer() {
        let mut store = MemoryCounterStore::default();
        let mut g = ReplayTable::open(&mut store, WearPolicy::default()).unwrap();
        g.commit(&key(1), u64::MAX, 10, LIFE, all, &mut store)
            .unwrap();
        assert!(g.check(&key(1), u64::MAX, 10, all).is_err());
        g.commit(&key(2), 1, 10, LIFE, all, &mut store).unwrap();
    }

    #[test]
    fn a_later_expiry_than_reserved_forces_a_write() {
        let mut store = MemoryCounterStore::default();
        let mut g = ReplayTable::open(&mut store, WearPolicy::default()).unwrap();
        let k = key(1);
        g.commit(&k, 1, 500, 1_000, all, &mut store).unwrap();
        g.commit(&k, 2, 1_000, 1_000, all, &mut store).unwrap();
        assert_eq!(store.writes(), 1);
        assert!(g.needs_write(&k, 3, 1_001, all));
        g.commit(&k, 3, 1_001, 2_000, all, &mut store).unwrap();
        assert_eq!(store.writes(), 2);
        assert_eq!(store.value().unwrap().marks[0].expiry_reserved_ms, 2_000);
    }

    #[test]
    fn a_full_table_of_listed_issuers_is_a_typed_error() {
        let mut store = MemoryCounterStore::default();
        let mut g = ReplayTable::open(&mut store, WearPolicy::default()).unwrap();
        for i in 0..REPLAY_SLOTS as u8 {
            g.commit(&key(i + 1), 1, 10, LIFE, all, &mut store).unwrap();
        }
        assert_eq!(
            g.check(&key(100), 1, 10, all),
            Err(CommandError::ReplayTableFull)
        );
    }

    #[test]
    fn duplicate_issuers_in_storage_are_corrupt() {
        let m = IssuerMark {
            issuer: [7; 32],
            reserved_through: 1,
            expiry_reserved_ms: 1,
            min_expiry_ms: 0,
        };
        let mut marks = ReplayMarks::default();
        marks.marks.push(m).unwrap();
        marks.marks.push(m).unwrap();
        let mut store = MemoryCounterStore::default();
        store.persist(&marks).unwrap();
        assert_eq!(
            ReplayTable::open(&mut store, WearPolicy::default()),
            Err(StorageError::Corrupt)
        );
    }

    proptest! {
        /// Whatever the issuers, counters and expiries, whoever is listed, and wherever power
        /// is lost, no (issuer, counter) is ever accepted twice, and writes never exceed
        /// accepted commands.
        #[test]
        fn no_command_is_ever_accepted_twice(
            window in 1u64..50,
            steps in proptest::collection::vec(
                (0u8..14, 1u64..400, 0u64..3_000, 0u16..1 << 14, any::<bool>()),
                1..300,
            ),
        ) {
            let mut store = MemoryCounterStore::default();
            let policy = WearPolicy { window };
            let mut g = ReplayTable::open(&mut store, policy).unwrap();
            let keys: std::vec::Vec<PublicKey> = (1..=14u8).map(key).collect();
            let mut accepted = std::collections::BTreeSet::new();
            let mut now = 0u64;
            for (who, counter, expires_in, listed_bits, power_loss) in steps {
                now += 7;
                if power_loss {
                    g = ReplayTable::open(&mut store, policy).unwrap();
                }
                let issuer = keys[usize::from(who)];
                // A command replayed under a different expiry is another command: identify
                // the signed bytes by (issuer, counter, expiry).
                let expiry = now + expires_in.min(LIFE);
                let listed = |k: &[u8; 32]| {
                    k == issuer.as_bytes()
                        || keys.iter().position(|p| p.as_bytes() == k).is_some_and(|i| listed_bits & (1 << i) != 0)
                };
                if g.commit(&issuer, counter, expiry, now + LIFE, listed, &mut store).is_ok() {
                    prop_assert!(accepted.insert((who, counter, expiry)), "accepted twice");
                    let m = store.value().unwrap();
                    let slot = &m.marks[m.find(issuer.as_bytes()).unwrap()];
                    prop_assert!(slot.reserved_through >= counter);
                    prop_assert!(slot.expiry_reserved_ms >= expiry);
                }
                // The same command again is refused.
                if accepted.contains(&(who, counter, expiry)) {
                    prop_assert!(g.check(&issuer, counter, expiry, listed).is_err());
                }
            }
            prop_assert!(store.writes() <= accepted.len() as u64);
        }
    }
}
