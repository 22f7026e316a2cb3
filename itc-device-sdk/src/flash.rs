//! A [`CounterStore`] on raw NOR flash: two pages written alternately, each record with a
//! sequence number and a checksum, so a write torn by power loss never loses the previous
//! replay table.
//!
//! The integrator implements [`FlashPages`] (erase a page, program bytes, read bytes — what
//! every MCU flash controller offers); [`FlashCounterStore`] does the rest:
//!
//! * **Record** (`RECORD_LEN` = 541 bytes at the start of a page): magic `"ITC2"` ‖ sequence
//!   u64 ‖ legacy floor u64 ‖ expiry floor u64 ‖ slot count u8 ‖ [`REPLAY_SLOTS`] × (issuer 32
//!   ‖ reserved counter u64 ‖ expiry reservation u64 ‖ minimum expiry u64; unused slots all
//!   zero) ‖ the first 8 bytes of `tagged_hash(REPLAY_RECORD_TAG, everything before)`. Integers
//!   big-endian. See [`crate::replay`] for what the fields mean.
//! * **Write** ([`CounterStore::persist`]): erase the page *not* holding the newest record,
//!   program the new record there with sequence + 1, read it back. The newest record is never
//!   touched, so a power loss at any instant of the write leaves it intact.
//! * **Read** ([`CounterStore::load`]): the valid record with the highest sequence number. A
//!   torn or half-erased page fails its checksum and is ignored.
//! * **Upgrade**: a page still holding the single-counter record of SDK 0.1 (magic `"ITC1"` ‖
//!   sequence u64 ‖ value u64 ‖ 8 checksum bytes under [`COUNTER_RECORD_TAG`]) is read as an
//!   empty table whose legacy floor is that value, so no command accepted before the upgrade
//!   is accepted after it; the next write replaces it with a table record.
//!
//! **Guarantee across power loss**: `load` returns the table of the last `persist` that
//! returned `Ok`, or of the one in progress when power failed (never anything older, never a
//! torn table). With [`crate::ReplayTable`] persisting *before* accepting, no command is
//! accepted twice. Wear: one page erase per persist, spread over two pages; with the default
//! [`crate::WearPolicy`] window of 64 that is one erase of each page per 128 counters of an
//! issuer (plus one write per issuer and command lifetime for the expiry reservation).
//!
//! Out of scope: bit rot in a page that was written completely (flash ECC's job) — it would
//! make the store fall back to the older page.

use itc_crypto::hash::tagged_hash;
use itc_crypto::DomainTag;

use crate::error::StorageError;
use crate::replay::{CounterStore, IssuerMark, ReplayMarks, REPLAY_SLOTS};

/// Domain tag of a replay-table record's checksum.
pub const REPLAY_RECORD_TAG: DomainTag = DomainTag::new(b"itc/device/replay-table/v2");
/// Domain tag of the checksum of SDK 0.1's single-counter record (read for the upgrade only).
pub const COUNTER_RECORD_TAG: DomainTag = DomainTag::new(b"itc/device/counter-record/v1");
/// Bytes of one persisted slot.
pub const SLOT_LEN: usize = 32 + 8 + 8 + 8;
/// Bytes of one record.
pub const RECORD_LEN: usize = 4 + 8 + 8 + 8 + 1 + REPLAY_SLOTS * SLOT_LEN + 8;
/// Marks a table record page ("ITC2").
const MAGIC: [u8; 4] = *b"ITC2";
/// Marks SDK 0.1's single-counter record page ("ITC1").
const MAGIC_V1: [u8; 4] = *b"ITC1";
/// Bytes covered by a record's checksum.
const BODY_LEN: usize = RECORD_LEN - 8;

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

/// Where the newest valid record is and its sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Newest {
    page: Page,
    sequence: u64,
}

/// A [`CounterStore`] over two flash pages (see the module documentation for the guarantee).
#[derive(Debug, Clone)]
pub struct FlashCounterStore<F: FlashPages> {
    flash: F,
    /// `None` until the pages were scanned; `Some(None)` when neither holds a valid record.
    newest: Option<Option<Newest>>,
}

fn checksum8(tag: DomainTag, body: &[u8]) -> [u8; 8] {
    let h = tagged_hash(tag, body);
    let mut out = [0u8; 8];
    for (o, b) in out.iter_mut().zip(h.as_bytes()) {
        *o = *b;
    }
    out
}

/// Appends bytes to a record under construction (never past its end).
struct Cursor<'a> {
    buf: &'a mut [u8; RECORD_LEN],
    at: usize,
}

impl Cursor<'_> {
    fn put(&mut self, bytes: &[u8]) {
        for b in bytes {
            if let Some(slot) = self.buf.get_mut(self.at) {
                *slot = *b;
            }
            self.at = self.at.saturating_add(1);
        }
    }
}

#[inline(never)]
fn encode_record(sequence: u64, marks: &ReplayMarks) -> [u8; RECORD_LEN] {
    let mut r = [0u8; RECORD_LEN];
    let mut c = Cursor { buf: &mut r, at: 0 };
    c.put(&MAGIC);
    c.put(&sequence.to_be_bytes());
    c.put(&marks.legacy_floor.to_be_bytes());
    c.put(&marks.expiry_floor_ms.to_be_bytes());
    c.put(&[u8::try_from(marks.marks.len()).unwrap_or(u8::MAX)]);
    for m in &marks.marks {
        c.put(&m.issuer);
        c.put(&m.reserved_through.to_be_bytes());
        c.put(&m.expiry_reserved_ms.to_be_bytes());
        c.put(&m.min_expiry_ms.to_be_bytes());
    }
    // Unused slots stay zero.
    let sum = checksum8(REPLAY_RECORD_TAG, r.get(..BODY_LEN).unwrap_or(&[]));
    if let Some(tail) = r.get_mut(BODY_LEN..) {
        tail.copy_from_slice(&sum);
    }
    r
}

fn u64_at(r: &[u8], at: usize) -> Option<u64> {
    let bytes: [u8; 8] = r.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// The sequence number of a valid record (either layout), `None` for an erased, torn or
/// foreign page; with `out`, also its table (written only for a valid record).
#[inline(never)]
fn decode_record(r: &[u8; RECORD_LEN], out: Option<&mut ReplayMarks>) -> Option<u64> {
    let magic = r.get(..4)?;
    if magic == MAGIC_V1 {
        let sequence = u64_at(r, 4)?;
        let value = u64_at(r, 12)?;
        if r.get(20..28)? != checksum8(COUNTER_RECORD_TAG, r.get(..20)?) {
            return None;
        }
        if let Some(out) = out {
            *out = ReplayMarks {
                legacy_floor: value,
                ..ReplayMarks::default()
            };
        }
        return Some(sequence);
    }
    if magic != MAGIC || r.get(BODY_LEN..)? != checksum8(REPLAY_RECORD_TAG, r.get(..BODY_LEN)?) {
        return None;
    }
    let sequence = u64_at(r, 4)?;
    let count = usize::from(*r.get(28)?);
    if count > REPLAY_SLOTS {
        return None;
    }
    let slots = r.get(29..BODY_LEN)?;
    // One encoding per table: unused slots are zero.
    if slots
        .chunks_exact(SLOT_LEN)
        .skip(count)
        .any(|slot| slot.iter().any(|b| *b != 0))
    {
        return None;
    }
    if let Some(out) = out {
        out.legacy_floor = u64_at(r, 12)?;
        out.expiry_floor_ms = u64_at(r, 20)?;
        out.marks.clear();
        for slot in slots.chunks_exact(SLOT_LEN).take(count) {
            let issuer: [u8; 32] = slot.get(..32)?.try_into().ok()?;
            out.marks
                .push(IssuerMark {
                    issuer,
                    reserved_through: u64_at(slot, 32)?,
                    expiry_reserved_ms: u64_at(slot, 40)?,
                    min_expiry_ms: u64_at(slot, 48)?,
                })
                .ok()?;
        }
    }
    Some(sequence)
}

impl<F: FlashPages> FlashCounterStore<F> {
    /// Wraps the integrator's flash pages. Nothing is read until the first use.
    ///
    /// ```
    /// use itc_device_sdk::flash::{FlashCounterStore, RamFlash};
    /// use itc_device_sdk::replay::ReplayMarks;
    /// use itc_device_sdk::CounterStore;
    ///
    /// let mut store = FlashCounterStore::new(RamFlash::default());
    /// assert_eq!(store.load().unwrap(), None); // factory-fresh: both pages erased
    /// let mut marks = ReplayMarks::default();
    /// marks.expiry_floor_ms = 64;
    /// store.persist(&marks).unwrap();
    /// marks.expiry_floor_ms = 128;
    /// store.persist(&marks).unwrap();
    /// // Power cycle: a new store over the same flash finds the newest record.
    /// let mut rebooted = FlashCounterStore::new(store.into_inner());
    /// assert_eq!(rebooted.load().unwrap(), Some(marks));
    /// ```
    pub const fn new(flash: F) -> Self {
        FlashCounterStore {
            flash,
            newest: None,
        }
    }

    /// The flash driver back (e.g. to simulate a reboot in tests).
    pub fn into_inner(self) -> F {
        self.flash
    }

    /// Reads both pages: where the newest valid record is (and, with `out`, its table).
    #[inline(never)]
    fn read_newest(
        &mut self,
        out: Option<&mut ReplayMarks>,
    ) -> Result<Option<Newest>, StorageError> {
        let mut best: Option<Newest> = None;
        let mut buf = [0u8; RECORD_LEN];
        for page in [Page::A, Page::B] {
            self.flash.read(page, &mut buf)?;
            if let Some(sequence) = decode_record(&buf, None) {
                if best.is_none_or(|b| sequence > b.sequence) {
                    best = Some(Newest { page, sequence });
                }
            }
        }
        if let (Some(n), Some(out)) = (best, out) {
            // Read the winner again and decode it into place: no second table on the stack.
            self.flash.read(n.page, &mut buf)?;
            if decode_record(&buf, Some(out)) != Some(n.sequence) {
                return Err(StorageError::ReadFailed);
            }
        }
        self.newest = Some(best);
        Ok(best)
    }

    fn scan(&mut self) -> Result<Option<Newest>, StorageError> {
        match self.newest {
            Some(n) => Ok(n),
            None => self.read_newest(None),
        }
    }
}

impl<F: FlashPages> CounterStore for FlashCounterStore<F> {
    #[inline(never)]
    fn load(&mut self) -> Result<Option<ReplayMarks>, StorageError> {
        // Always rescan on load: it is what a boot does.
        let mut marks = ReplayMarks::default();
        Ok(self.read_newest(Some(&mut marks))?.map(|_| marks))
    }

    #[inline(never)]
    fn persist(&mut self, marks: &ReplayMarks) -> Result<(), StorageError> {
        let current = self.scan()?;
        let (page, sequence) = match current {
            Some(n) => (
                n.page.other(),
                n.sequence.checked_add(1).ok_or(StorageError::WriteFailed)?,
            ),
            None => (Page::A, 0),
        };
        let record = encode_record(sequence, marks);
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
        self.newest = Some(Some(Newest { page, sequence }));
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
        RamFlash::new()
    }
}

impl RamFlash {
    /// Factory-fresh: both pages erased.
    pub const fn new() -> Self {
        RamFlash {
            pages: [[0xff; RECORD_LEN]; 2],
            budget: None,
            erases: 0,
        }
    }

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
    use crate::replay::{ReplayTable, WearPolicy};
    use itc_crypto::{PublicKey, SecretKey};
    use proptest::prelude::*;

    fn table(n: u8, v: u64) -> ReplayMarks {
        let mut m = ReplayMarks {
            expiry_floor_ms: v,
            legacy_floor: 0,
            ..ReplayMarks::default()
        };
        for i in 0..n {
            m.marks
                .push(IssuerMark {
                    issuer: [i + 1; 32],
                    reserved_through: v + u64::from(i),
                    expiry_reserved_ms: v * 2,
                    min_expiry_ms: v / 2,
                })
                .unwrap();
        }
        m
    }

    fn v1_record(sequence: u64, value: u64) -> [u8; RECORD_LEN] {
        let mut r = [0xffu8; RECORD_LEN];
        let mut body = [0u8; 20];
        body[..4].copy_from_slice(&MAGIC_V1);
        body[4..12].copy_from_slice(&sequence.to_be_bytes());
        body[12..].copy_from_slice(&value.to_be_bytes());
        r[..20].copy_from_slice(&body);
        r[20..28].copy_from_slice(&checksum8(COUNTER_RECORD_TAG, &body));
        r
    }

    #[test]
    fn record_round_trips_at_every_fill() {
        assert_eq!(RECORD_LEN, 541);
        for n in 0..=REPLAY_SLOTS as u8 {
            let m = table(n, 1000 + u64::from(n));
            let r = encode_record(7, &m);
            let mut got = ReplayMarks::default();
            assert_eq!(decode_record(&r, Some(&mut got)), Some(7), "{n} slots");
            assert_eq!(got, m);
        }
    }

    #[test]
    fn alternates_pages_and_survives_reboot() {
        let mut s = FlashCounterStore::new(RamFlash::default());
        for v in 1..=5u64 {
            s.persist(&table(v as u8, v * 10)).unwrap();
        }
        let mut flash = s.into_inner();
        assert_eq!(flash.erases(), 5);
        // Sequence 4 (value 50) is on page A, sequence 3 (value 40) on page B.
        let mut buf = [0u8; RECORD_LEN];
        let mut got = ReplayMarks::default();
        flash.read(Page::A, &mut buf).unwrap();
        assert_eq!(decode_record(&buf, Some(&mut got)), Some(4));
        assert_eq!(got, table(5, 50));
        flash.read(Page::B, &mut buf).unwrap();
        assert_eq!(decode_record(&buf, Some(&mut got)), Some(3));
        assert_eq!(got, table(4, 40));
        assert_eq!(
            FlashCounterStore::new(flash).load().unwrap(),
            Some(table(5, 50))
        );
    }

    #[test]
    fn a_torn_write_keeps_the_previous_table() {
        for cut in (0..(2 * RECORD_LEN as u32))
            .step_by(7)
            .chain([RECORD_LEN as u32 * 2 - 1])
        {
            let mut s = FlashCounterStore::new(RamFlash::default());
            s.persist(&table(3, 100)).unwrap();
            s.persist(&table(4, 200)).unwrap();
            let mut flash = s.into_inner();
            flash.cut_power_after(cut);
            let mut s = FlashCounterStore::new(flash);
            assert_eq!(
                s.persist(&table(9, 300)),
                Err(StorageError::WriteFailed),
                "cut {cut}"
            );
            let mut flash = s.into_inner();
            flash.restore_power();
            assert_eq!(
                FlashCounterStore::new(flash).load().unwrap(),
                Some(table(4, 200)),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn corrupted_or_foreign_pages_are_ignored() {
        let mut s = FlashCounterStore::new(RamFlash::default());
        s.persist(&table(1, 7)).unwrap();
        s.persist(&table(2, 8)).unwrap();
        let mut flash = s.into_inner();
        // The newer record (page B) loses a bit: the older one stands.
        flash.page_mut(Page::B)[100] ^= 0x01;
        assert_eq!(
            FlashCounterStore::new(flash.clone()).load().unwrap(),
            Some(table(1, 7))
        );
        flash.page_mut(Page::A)[0] = b'X';
        assert_eq!(FlashCounterStore::new(flash).load().unwrap(), None);
    }

    #[test]
    fn nonzero_unused_slots_or_an_oversized_count_are_not_a_record() {
        let m = table(2, 5);
        let mut r = encode_record(1, &m);
        r[29 + 3 * SLOT_LEN] = 1;
        let sum = checksum8(REPLAY_RECORD_TAG, &r[..BODY_LEN]);
        r[BODY_LEN..].copy_from_slice(&sum);
        assert_eq!(decode_record(&r, None), None);
        let mut r = encode_record(1, &m);
        r[28] = REPLAY_SLOTS as u8 + 1;
        let sum = checksum8(REPLAY_RECORD_TAG, &r[..BODY_LEN]);
        r[BODY_LEN..].copy_from_slice(&sum);
        assert_eq!(decode_record(&r, None), None);
    }

    /// A device upgraded from SDK 0.1 keeps its single counter as every new slot's floor: a
    /// command accepted before the upgrade is refused after it; the next write is a table.
    #[test]
    fn the_single_counter_record_of_0_1_is_read_as_a_legacy_floor() {
        let mut flash = RamFlash::default();
        *flash.page_mut(Page::A) = v1_record(3, 500);
        let mut store = FlashCounterStore::new(flash);
        let loaded = store.load().unwrap().unwrap();
        assert_eq!(loaded.legacy_floor, 500);
        assert!(loaded.marks.is_empty());
        let owner: PublicKey = SecretKey::from_bytes(&[2; 32]).unwrap().public_key();
        let all = |_: &[u8; 32]| true;
        let mut t = ReplayTable::open(&mut store, WearPolicy::default()).unwrap();
        assert!(t.check(&owner, 500, 10, all).is_err());
        t.commit(&owner, 501, 10, 100, all, &mut store).unwrap();
        let mut flash = store.into_inner();
        let mut buf = [0u8; RECORD_LEN];
        flash.read(Page::B, &mut buf).unwrap();
        let mut m = ReplayMarks::default();
        let seq = decode_record(&buf, Some(&mut m)).unwrap();
        assert_eq!((seq, m.legacy_floor, m.marks.len()), (4, 500, 1));
    }

    proptest! {
        /// Commands of several issuers with random counters, power cut at random byte
        /// operations of the flash writes, reboots: no (issuer, counter) is ever accepted
        /// twice, and after every reboot each stored mark is at least every counter accepted
        /// from its issuer so far.
        #[test]
        fn torn_writes_never_let_a_counter_be_reused(
            window in 1u64..8,
            steps in proptest::collection::vec(
                (0u8..3, 1u64..300, proptest::option::of(0u32..(2 * RECORD_LEN as u32))),
                1..80,
            ),
        ) {
            let policy = WearPolicy { window };
            let keys: std::vec::Vec<PublicKey> =
                (1..=3u8).map(|i| SecretKey::from_bytes(&[i; 32]).unwrap().public_key()).collect();
            let all = |_: &[u8; 32]| true;
            let mut store = FlashCounterStore::new(RamFlash::default());
            let mut table = ReplayTable::open(&mut store, policy).unwrap();
            let mut accepted = std::collections::BTreeSet::new();
            for (who, counter, cut) in steps {
                let issuer = keys[usize::from(who)];
                if let Some(ops) = cut {
                    // Power fails somewhere in the next write (or not at all, if none comes).
                    let mut flash = store.into_inner();
                    flash.cut_power_after(ops);
                    store = FlashCounterStore::new(flash);
                }
                if table.commit(&issuer, counter, 10, 100, all, &mut store).is_ok() {
                    prop_assert!(accepted.insert((who, counter)), "counter {} accepted twice", counter);
                }
                if cut.is_some() {
                    // Reboot: power back, table rebuilt from flash.
                    let mut flash = store.into_inner();
                    flash.restore_power();
                    store = FlashCounterStore::new(flash);
                    table = ReplayTable::open(&mut store, policy).unwrap();
                    let marks = store.load().unwrap().unwrap_or_default();
                    for (w, c) in &accepted {
                        let i = marks.find(keys[usize::from(*w)].as_bytes());
                        prop_assert!(i.is_some_and(|i| marks.marks[i].reserved_through >= *c));
                    }
                }
            }
        }
    }
}
