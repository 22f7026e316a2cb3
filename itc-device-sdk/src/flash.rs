//! A [`CounterStore`] on raw NOR flash: two pages written alternately, each record with a
//! sequence number and a checksum, so a write torn by power loss never loses the previous
//! high-water mark.
//!
//! The integrator implements [`FlashPages`] (erase a page, program bytes, read bytes — what
//! every MCU flash controller offers); [`FlashCounterStore`] does the rest:
//!
//! * **Record** (`RECORD_LEN` = 28 bytes at the start of a page): magic ‖ sequence u64 ‖ value
//!   u64 ‖ the first 8 bytes of `tagged_hash(COUNTER_RECORD_TAG, magic ‖ sequence ‖ value)`.
//! * **Write** ([`CounterStore::persist`]): erase the page *not* holding the newest record,
//!   program the new record there with sequence + 1, read it back. The newest record is never
//!   touched, so a power loss at any instant of the write leaves it intact.
//! * **Read** ([`CounterStore::load`]): the valid record with the highest sequence number. A
//!   torn or half-erased page fails its checksum and is ignored.
//!
//! **Guarantee across power loss**: `load` returns the value of the last `persist` that returned
//! `Ok`, or of the one in progress when power failed (never anything older, never a torn
//! value). With [`crate::ReplayGuard`] persisting *before* accepting, no counter is accepted
//! twice. Wear: one page erase per persist, spread over two pages; with the default
//! [`crate::WearPolicy`] window of 64 that is one erase of each page per 128 counters.
//!
//! Out of scope: bit rot in a page that was written completely (flash ECC's job) — it would
//! make the store fall back to the older page.

use itc_crypto::hash::tagged_hash;
use itc_crypto::DomainTag;

use crate::error::StorageError;
use crate::replay::CounterStore;

/// Domain tag of a counter record's checksum.
pub const COUNTER_RECORD_TAG: DomainTag = DomainTag::new(b"itc/device/counter-record/v1");
/// Bytes of one record.
pub const RECORD_LEN: usize = 4 + 8 + 8 + 8;
/// Marks a record page ("ITC1").
const MAGIC: [u8; 4] = *b"ITC1";

/// One of the two flash pages the store alternates between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// The first page.
    A,
    /// The second page.
    B,
}

impl Page {
    /// The other page.
    pub fn other(self) -> Page {
        match self {
            Page::A => Page::B,
            Page::B => Page::A,
        }
    }
}

/// Raw access to two erasable flash pages (the integrator's flash driver).
pub trait FlashPages {
    /// Erases `page` (all bytes become `0xff`).
    fn erase(&mut self, page: Page) -> Result<(), StorageError>;
    /// Programs `data` at the start of an erased `page`.
    fn program(&mut self, page: Page, data: &[u8; RECORD_LEN]) -> Result<(), StorageError>;
    /// Reads the first [`RECORD_LEN`] bytes of `page`.
    fn read(&mut self, page: Page, out: &mut [u8; RECORD_LEN]) -> Result<(), StorageError>;
}

/// The newest valid record: where it is, its sequence number, its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Newest {
    page: Page,
    sequence: u64,
    value: u64,
}

/// A [`CounterStore`] over two flash pages (see the module documentation for the guarantee).
#[derive(Debug, Clone)]
pub struct FlashCounterStore<F: FlashPages> {
    flash: F,
    /// `None` until the pages were scanned; `Some(None)` when neither holds a valid record.
    newest: Option<Option<Newest>>,
}

fn checksum(sequence: u64, value: u64) -> [u8; 8] {
    let mut body = [0u8; 20];
    let (magic, rest) = body.split_at_mut(4);
    magic.copy_from_slice(&MAGIC);
    let (seq, val) = rest.split_at_mut(8);
    seq.copy_from_slice(&sequence.to_be_bytes());
    val.copy_from_slice(&value.to_be_bytes());
    let h = tagged_hash(COUNTER_RECORD_TAG, &body);
    let mut out = [0u8; 8];
    for (o, b) in out.iter_mut().zip(h.as_bytes()) {
        *o = *b;
    }
    out
}

fn encode_record(sequence: u64, value: u64) -> [u8; RECORD_LEN] {
    let mut r = [0u8; RECORD_LEN];
    let parts: [&[u8]; 4] = [
        &MAGIC,
        &sequence.to_be_bytes(),
        &value.to_be_bytes(),
        &checksum(sequence, value),
    ];
    let mut at = 0usize;
    for part in parts {
        for b in part {
            if let Some(slot) = r.get_mut(at) {
                *slot = *b;
            }
            at = at.saturating_add(1);
        }
    }
    r
}

fn u64_at(r: &[u8; RECORD_LEN], at: usize) -> Option<u64> {
    let bytes: [u8; 8] = r.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// `(sequence, value)` of a valid record, `None` for an erased, torn or foreign page.
fn decode_record(r: &[u8; RECORD_LEN]) -> Option<(u64, u64)> {
    if r.get(..4)? != MAGIC {
        return None;
    }
    let sequence = u64_at(r, 4)?;
    let value = u64_at(r, 12)?;
    (r.get(20..)? == checksum(sequence, value)).then_some((sequence, value))
}

impl<F: FlashPages> FlashCounterStore<F> {
    /// Wraps the integrator's flash pages. Nothing is read until the first use.
    ///
    /// ```
    /// use itc_device_sdk::flash::{FlashCounterStore, RamFlash};
    /// use itc_device_sdk::CounterStore;
    ///
    /// let mut store = FlashCounterStore::new(RamFlash::default());
    /// assert_eq!(store.load().unwrap(), None); // factory-fresh: both pages erased
    /// store.persist(64).unwrap();
    /// store.persist(128).unwrap();
    /// // Power cycle: a new store over the same flash finds the newest record.
    /// let mut rebooted = FlashCounterStore::new(store.into_inner());
    /// assert_eq!(rebooted.load().unwrap(), Some(128));
    /// ```
    pub fn new(flash: F) -> Self {
        FlashCounterStore {
            flash,
            newest: None,
        }
    }

    /// The flash driver back (e.g. to simulate a reboot in tests).
    pub fn into_inner(self) -> F {
        self.flash
    }

    fn scan(&mut self) -> Result<Option<Newest>, StorageError> {
        if let Some(n) = self.newest {
            return Ok(n);
        }
        let mut best: Option<Newest> = None;
        for page in [Page::A, Page::B] {
            let mut buf = [0u8; RECORD_LEN];
            self.flash.read(page, &mut buf)?;
            if let Some((sequence, value)) = decode_record(&buf) {
                if best.is_none_or(|b| sequence > b.sequence) {
                    best = Some(Newest {
                        page,
                        sequence,
                        value,
                    });
                }
            }
        }
        self.newest = Some(best);
        Ok(best)
    }
}

impl<F: FlashPages> CounterStore for FlashCounterStore<F> {
    fn load(&mut self) -> Result<Option<u64>, StorageError> {
        // Always rescan on load: it is what a boot does.
        self.newest = None;
        Ok(self.scan()?.map(|n| n.value))
    }

    fn persist(&mut self, high_water: u64) -> Result<(), StorageError> {
        let current = self.scan()?;
        let (page, sequence) = match current {
            Some(n) => (
                n.page.other(),
                n.sequence.checked_add(1).ok_or(StorageError::WriteFailed)?,
            ),
            None => (Page::A, 0),
        };
        let record = encode_record(sequence, high_water);
        // Whatever happens from here on, the newest record (on the other page) is untouched;
        // forget the cache so a failed write is judged by what the flash really holds.
        self.newest = None;
        self.flash.erase(page)?;
        self.flash.program(page, &record)?;
        let mut back = [0u8; RECORD_LEN];
        self.flash.read(page, &mut back)?;
        if back != record {
            return Err(StorageError::WriteFailed);
        }
        self.newest = Some(Some(Newest {
            page,
            sequence,
            value: high_water,
        }));
        Ok(())
    }
}

/// Two flash pages in RAM with NOR semantics (erase sets `0xff`, programming can only clear
/// bits) and injectable power loss: after [`RamFlash::cut_power_after`] `n` more byte
/// operations, every erase or program stops where it is and fails, until
/// [`RamFlash::restore_power`]. For tests and simulations of torn writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamFlash {
    pages: [[u8; RECORD_LEN]; 2],
    budget: Option<u32>,
    erases: u32,
}

impl Default for RamFlash {
    /// Factory-fresh: both pages erased.
    fn default() -> Self {
        RamFlash {
            pages: [[0xff; RECORD_LEN]; 2],
            budget: None,
            erases: 0,
        }
    }
}

impl RamFlash {
    /// Power fails after `ops` more byte erases/programs (a torn write mid-way).
    pub fn cut_power_after(&mut self, ops: u32) {
        self.budget = Some(ops);
    }

    /// Power is back.
    pub fn restore_power(&mut self) {
        self.budget = None;
    }

    /// Page erases so far (the wear).
    pub fn erases(&self) -> u32 {
        self.erases
    }

    /// Flips bits of a page directly (a fault outside the write path).
    pub fn page_mut(&mut self, page: Page) -> &mut [u8; RECORD_LEN] {
        let [a, b] = &mut self.pages;
        match page {
            Page::A => a,
            Page::B => b,
        }
    }

    fn tick(&mut self) -> Result<(), StorageError> {
        match self.budget {
            Some(0) => Err(StorageError::WriteFailed),
            Some(n) => {
                self.budget = Some(n.saturating_sub(1));
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl FlashPages for RamFlash {
    fn erase(&mut self, page: Page) -> Result<(), StorageError> {
        self.erases = self.erases.saturating_add(1);
        // Real erases do not clear bytes in order, but any prefix pattern is a fine model of a
        // half-erased page: it is neither the old record nor a valid new one.
        for i in 0..RECORD_LEN {
            self.tick()?;
            if let Some(b) = self.page_mut(page).get_mut(i) {
                *b = 0xff;
            }
        }
        Ok(())
    }

    fn program(&mut self, page: Page, data: &[u8; RECORD_LEN]) -> Result<(), StorageError> {
        for (i, d) in data.iter().enumerate() {
            self.tick()?;
            if let Some(b) = self.page_mut(page).get_mut(i) {
                *b &= *d;
            }
        }
        Ok(())
    }

    fn read(&mut self, page: Page, out: &mut [u8; RECORD_LEN]) -> Result<(), StorageError> {
        *out = *self.page_mut(page);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::{ReplayGuard, WearPolicy};
    use proptest::prelude::*;

    #[test]
    fn alternates_pages_and_survives_reboot() {
        let mut s = FlashCounterStore::new(RamFlash::default());
        for v in 1..=5u64 {
            s.persist(v * 10).unwrap();
        }
        let mut flash = s.into_inner();
        assert_eq!(flash.erases(), 5);
        // Sequence 4 (value 50) is on page A, sequence 3 (value 40) on page B.
        let mut buf = [0u8; RECORD_LEN];
        flash.read(Page::A, &mut buf).unwrap();
        assert_eq!(decode_record(&buf), Some((4, 50)));
        flash.read(Page::B, &mut buf).unwrap();
        assert_eq!(decode_record(&buf), Some((3, 40)));
        assert_eq!(FlashCounterStore::new(flash).load().unwrap(), Some(50));
    }

    #[test]
    fn a_torn_write_keeps_the_previous_value() {
        for cut in 0..(2 * RECORD_LEN as u32) {
            let mut s = FlashCounterStore::new(RamFlash::default());
            s.persist(100).unwrap();
            s.persist(200).unwrap();
            let mut flash = s.into_inner();
            flash.cut_power_after(cut);
            let mut s = FlashCounterStore::new(flash);
            assert_eq!(s.persist(300), Err(StorageError::WriteFailed), "cut {cut}");
            let mut flash = s.into_inner();
            flash.restore_power();
            assert_eq!(
                FlashCounterStore::new(flash).load().unwrap(),
                Some(200),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn corrupted_or_foreign_pages_are_ignored() {
        let mut s = FlashCounterStore::new(RamFlash::default());
        s.persist(7).unwrap();
        s.persist(8).unwrap();
        let mut flash = s.into_inner();
        // The newer record (page B) loses a bit: the older one stands.
        flash.page_mut(Page::B)[15] ^= 0x01;
        assert_eq!(
            FlashCounterStore::new(flash.clone()).load().unwrap(),
            Some(7)
        );
        flash.page_mut(Page::A)[0] = b'X';
        assert_eq!(FlashCounterStore::new(flash).load().unwrap(), None);
    }

    proptest! {
        /// Commands with random counters, power cut at random byte operations of the flash
        /// writes, reboots: no counter is ever accepted twice, and after every reboot the
        /// stored mark is at least every counter accepted so far.
        #[test]
        fn torn_writes_never_let_a_counter_be_reused(
            window in 1u64..8,
            steps in proptest::collection::vec((1u64..300, proptest::option::of(0u32..60)), 1..120),
        ) {
            let policy = WearPolicy { window };
            let mut store = FlashCounterStore::new(RamFlash::default());
            let mut guard = ReplayGuard::open(&mut store, policy).unwrap();
            let mut accepted = std::collections::BTreeSet::new();
            for (counter, cut) in steps {
                if let Some(ops) = cut {
                    // Power fails somewhere in the next write (or not at all, if none comes).
                    let mut flash = store.into_inner();
                    flash.cut_power_after(ops);
                    store = FlashCounterStore::new(flash);
                }
                let ok = guard.commit(counter, &mut store).is_ok();
                if ok {
                    prop_assert!(accepted.insert(counter), "counter {} accepted twice", counter);
                }
                if cut.is_some() {
                    // Reboot: power back, guard rebuilt from flash.
                    let mut flash = store.into_inner();
                    flash.restore_power();
                    store = FlashCounterStore::new(flash);
                    guard = ReplayGuard::open(&mut store, policy).unwrap();
                    let mark = store.load().unwrap().unwrap_or(0);
                    prop_assert!(accepted.iter().all(|c| *c <= mark));
                }
            }
        }
    }
}
