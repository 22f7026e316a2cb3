//! Replay protection that survives power loss without writing flash on every command.
//!
//! Every accepted command carries a counter strictly above the last accepted one. Keeping that
//! in RAM is not enough (a power cycle would forget it and accept a replay), and writing flash
//! on every command wears it out (a NOR sector survives ~10⁵ erases). So the guard **reserves a
//! window**: when a command's counter exceeds the persisted high-water mark `P`, it first
//! persists `P' = counter + window`, then accepts. Counters up to `P'` are then accepted from RAM
//! with no write at all.
//!
//! **Guarantee across power loss.** At every instant the persisted mark is ≥ every counter
//! ever accepted (it is written *before* the acceptance is reported). After a restart the guard
//! resumes with `last accepted = P`, so no counter accepted before the loss is accepted again.
//! The price is that up to `window` unused counters may be skipped: an issuer that is refused
//! with [`CommandError::Replayed`] learns the device's floor from the error and continues above
//! it. Issuers that count by one cause one write per `window` commands; issuers that use their
//! millisecond clock as the counter cause at most one write per `window` ms.
//!
//! The store must make each [`CounterStore::persist`] atomic (old or new value after a torn
//! write) — e.g. two flash pages written alternately with a sequence number and a checksum.
//! [`MemoryCounterStore`] is the in-memory implementation for tests and simulations.

use crate::error::{CommandError, StorageError};

/// Integrator-supplied non-volatile storage for the replay high-water mark.
pub trait CounterStore {
    /// Reads the last persisted high-water mark (`None` on a device never used).
    fn load(&mut self) -> Result<Option<u64>, StorageError>;
    /// Durably and atomically stores a new high-water mark.
    fn persist(&mut self, high_water: u64) -> Result<(), StorageError>;
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

/// The device's replay state: last accepted counter and the persisted reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayGuard {
    last_accepted: u64,
    reserved_through: u64,
    policy: WearPolicy,
}

impl ReplayGuard {
    /// Resumes from storage after boot: everything up to the persisted mark counts as used.
    ///
    /// ```
    /// use itc_device_sdk::replay::{CounterStore, MemoryCounterStore, ReplayGuard, WearPolicy};
    /// let mut store = MemoryCounterStore::default();
    /// let mut guard = ReplayGuard::open(&mut store, WearPolicy { window: 16 }).unwrap();
    /// guard.check(1).unwrap();
    /// guard.commit(1, &mut store).unwrap();      // persists 17
    /// guard.commit(2, &mut store).unwrap();      // no write
    /// assert_eq!(store.writes(), 1);
    /// // Power loss: the new guard refuses everything up to the reservation.
    /// let guard = ReplayGuard::open(&mut store, WearPolicy { window: 16 }).unwrap();
    /// assert!(guard.check(2).is_err());
    /// assert!(guard.check(18).is_ok());
    /// ```
    pub fn open<C: CounterStore + ?Sized>(
        store: &mut C,
        policy: WearPolicy,
    ) -> Result<Self, StorageError> {
        let mark = store.load()?.unwrap_or(0);
        Ok(ReplayGuard {
            last_accepted: mark,
            reserved_through: mark,
            policy: WearPolicy {
                window: policy.window.max(1),
            },
        })
    }

    /// The highest counter accepted (or skipped); a command needs a counter above it.
    pub fn last_accepted(&self) -> u64 {
        self.last_accepted
    }

    /// The persisted high-water mark.
    pub fn reserved_through(&self) -> u64 {
        self.reserved_through
    }

    /// Checks a counter without changing anything.
    pub fn check(&self, counter: u64) -> Result<(), CommandError> {
        if counter > self.last_accepted {
            Ok(())
        } else {
            Err(CommandError::Replayed {
                counter,
                last_accepted: self.last_accepted,
            })
        }
    }

    /// Records `counter` as used, persisting a new reservation first if needed. Call it only
    /// after every other check passed; if the store fails, nothing changes and the command must
    /// be refused.
    pub fn commit<C: CounterStore + ?Sized>(
        &mut self,
        counter: u64,
        store: &mut C,
    ) -> Result<(), CommandError> {
        self.check(counter)?;
        if counter > self.reserved_through {
            let mark = counter.saturating_add(self.policy.window);
            store.persist(mark).map_err(CommandError::Storage)?;
            self.reserved_through = mark;
        }
        self.last_accepted = counter;
        Ok(())
    }

    /// Whether accepting `counter` would write flash (for integrators budgeting write energy).
    pub fn needs_write(&self, counter: u64) -> bool {
        counter > self.reserved_through
    }
}

/// An in-memory [`CounterStore`] that counts writes and can be told to fail, for tests and
/// simulations of power loss (drop the guard, keep the store, [`ReplayGuard::open`] again).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryCounterStore {
    value: Option<u64>,
    writes: u64,
    fail_writes: bool,
}

impl MemoryCounterStore {
    /// Number of successful writes so far (the wear).
    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// The persisted value.
    pub fn value(&self) -> Option<u64> {
        self.value
    }

    /// Makes every following write fail (a worn-out sector, a brown-out during the write).
    pub fn set_fail_writes(&mut self, fail: bool) {
        self.fail_writes = fail;
    }
}

impl CounterStore for MemoryCounterStore {
    fn load(&mut self) -> Result<Option<u64>, StorageError> {
        Ok(self.value)
    }

    fn persist(&mut self, high_water: u64) -> Result<(), StorageError> {
        if self.fail_writes {
            return Err(StorageError::WriteFailed);
        }
        self.value = Some(high_water);
        self.writes = self.writes.saturating_add(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn counting_by_one_writes_once_per_window() {
        let mut store = MemoryCounterStore::default();
        let mut g = ReplayGuard::open(&mut store, WearPolicy { window: 10 }).unwrap();
        for c in 1..=100 {
            g.commit(c, &mut store).unwrap();
        }
        // Writes at 1 (→11), 12 (→22), 23, 34, 45, 56, 67, 78, 89, 100.
        assert_eq!(store.writes(), 10);
        assert_eq!(store.value(), Some(110));
    }

    #[test]
    fn failed_write_changes_nothing() {
        let mut store = MemoryCounterStore::default();
        let mut g = ReplayGuard::open(&mut store, WearPolicy { window: 4 }).unwrap();
        g.commit(1, &mut store).unwrap();
        let before = g.clone();
        store.set_fail_writes(true);
        assert_eq!(
            g.commit(9, &mut store),
            Err(CommandError::Storage(StorageError::WriteFailed))
        );
        assert_eq!(g, before);
        // Within the reservation no write is needed, so it still works.
        g.commit(3, &mut store).unwrap();
    }

    #[test]
    fn zero_window_is_treated_as_one() {
        let mut store = MemoryCounterStore::default();
        let mut g = ReplayGuard::open(&mut store, WearPolicy { window: 0 }).unwrap();
        g.commit(5, &mut store).unwrap();
        assert_eq!(store.value(), Some(6));
    }

    #[test]
    fn counter_max_is_usable_once() {
        let mut store = MemoryCounterStore::default();
        let mut g = ReplayGuard::open(&mut store, WearPolicy::default()).unwrap();
        g.commit(u64::MAX, &mut store).unwrap();
        assert!(g.check(u64::MAX).is_err());
    }

    proptest! {
        /// Whatever the counters and wherever power is lost, no counter is ever accepted twice,
        /// and writes never exceed accepted commands.
        #[test]
        fn no_counter_is_ever_accepted_twice(
            window in 1u64..50,
            steps in proptest::collection::vec((1u64..400, any::<bool>()), 1..200),
        ) {
            let mut store = MemoryCounterStore::default();
            let policy = WearPolicy { window };
            let mut g = ReplayGuard::open(&mut store, policy).unwrap();
            let mut accepted = std::collections::BTreeSet::new();
            for (counter, power_loss) in steps {
                if power_loss {
                    g = ReplayGuard::open(&mut store, policy).unwrap();
                }
                if g.commit(counter, &mut store).is_ok() {
                    prop_assert!(accepted.insert(counter), "counter {} accepted twice", counter);
                    prop_assert!(store.value().unwrap() >= counter);
                }
            }
            prop_assert!(store.writes() <= accepted.len() as u64);
        }
    }
}
