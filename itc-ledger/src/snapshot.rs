//! Ledger snapshots: one canonical, bounded encoding of the whole state, so a node can persist
//! the state every N blocks and, after a restart, restore it and replay only the blocks after
//! it.
//!
//! ```text
//! snapshot = SNAPSHOT_MAGIC ("itc/ledger/snapshot/v1", 22 bytes)
//!          ‖ varint n ‖ n × (StateKey ‖ record encoding)      keys in strictly ascending key-hash order
//! ```
//!
//! The records are exactly the leaves of the state tree in tree order, so the encoding of a
//! state is unique and [`Ledger::restore`] rebuilds the same tree and the same root. Decoding is
//! strict: unknown magic, trailing bytes, records out of order or repeated, a device record
//! under another device's id, a missing chain record, or books that do not balance (the token
//! supply, the last anchor) are typed [`SnapshotError`]s, and nothing is allocated beyond what
//! the input length and [`SnapshotLimits`] allow.
//!
//! ```
//! use itc_crypto::quorum::{Validator, ValidatorSet};
//! use itc_crypto::{Address, SecretKey};
//! use itc_ledger::{GenesisState, Ledger, SnapshotLimits, StateKey};
//!
//! let set = ValidatorSet::new([Validator { key: SecretKey::from_bytes(&[9; 32]).unwrap().public_key(), power: 1 }]).unwrap();
//! let genesis = GenesisState { chain_id: 7, validators: set, balances: vec![(Address([1; 20]), 10)], vendors: vec![] };
//! let ledger = Ledger::from_genesis(&genesis).unwrap();
//! let bytes = ledger.encode_snapshot();
//! let restored = Ledger::restore_verified(&bytes, &SnapshotLimits::default(), &ledger.root()).unwrap();
//! assert_eq!(restored.root(), ledger.root());
//! let key = StateKey::Account(Address([1; 20]));
//! assert_eq!(restored.prove(&key), ledger.prove(&key));
//! assert!(Ledger::restore(&bytes[..bytes.len() - 1], &SnapshotLimits::default()).is_err());
//! ```

use alloc::vec::Vec;

use itc_crypto::encoding::{write_varint, Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::{Blame, Hash};

use crate::device::DeviceId;
use crate::ledger::{Ledger, Record, StateVersion};
use crate::records::ChainMeta;
use crate::smt::tree::Shared;
use crate::state_key::StateKey;

/// The first bytes of every snapshot: format name and version.
pub const SNAPSHOT_MAGIC: &[u8; 22] = b"itc/ledger/snapshot/v1";

/// Smallest encoded record (the chain metadata: a one-byte key and 21 bytes); bounds the
/// record count a snapshot of a given length can claim before anything is allocated.
const MIN_RECORD_BYTES: usize = 22;

/// Bounds on what a snapshot may hold, checked before allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotLimits {
    /// Most records (accounts, devices, vendors, anchors, plans and the two chain records).
    pub max_records: usize,
}

impl Default for SnapshotLimits {
    /// 16 Mi records (≈ 1 GiB of snapshot, a few GiB of state in memory).
    fn default() -> Self {
        SnapshotLimits {
            max_records: 1 << 24,
        }
    }
}

/// Why bytes are not a ledger snapshot, or not the expected one (nothing was restored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The bytes do not start with [`SNAPSHOT_MAGIC`] (another format or version).
    #[error("not a ledger snapshot of a known version")]
    UnknownFormat,
    /// A record or the framing did not decode (includes trailing bytes and over-long counts).
    #[error("snapshot does not decode: {0}")]
    Decode(DecodeError),
    /// More records than [`SnapshotLimits::max_records`].
    #[error("snapshot holds {count} records, more than {max}")]
    TooManyRecords {
        /// Records claimed.
        count: u64,
        /// The limit.
        max: usize,
    },
    /// A record's key does not come after the previous one in key-hash order (or repeats it).
    #[error("record {key:?} is out of order or repeated")]
    OutOfOrder {
        /// The offending record's key.
        key: StateKey,
    },
    /// The chain metadata or the validator record is missing.
    #[error("snapshot has no {0:?} record")]
    MissingRecord(StateKey),
    /// A device record stored under an id that is not its key's.
    #[error("device record under {0} belongs to another device")]
    DeviceKeyMismatch(DeviceId),
    /// Balances and escrows do not add up to the total supply.
    #[error("tokens held sum to {held}, the supply is {total_supply}")]
    SupplyMismatch {
        /// The supply the metadata states.
        total_supply: u64,
        /// What the accounts and escrows hold.
        held: u128,
    },
    /// The metadata's last anchor is not the highest anchor record.
    #[error("last anchor {last_anchor:?} does not match the highest anchor record {highest:?}")]
    AnchorMismatch {
        /// What the metadata says.
        last_anchor: Option<u64>,
        /// The highest anchor sequence stored.
        highest: Option<u64>,
    },
    /// The snapshot restores, but to another state than the one expected.
    #[error("snapshot restores root {found}, expected {expected}")]
    RootMismatch {
        /// The root asked for (e.g. from a certified header).
        expected: Hash,
        /// The root the snapshot gives.
        found: Hash,
    },
}

impl SnapshotError {
    /// Who must act. A snapshot is the node's own store (a corrupt or foreign file there is
    /// [`Blame::Local`]); an integrator that fetched it from a peer blames that peer instead.
    pub fn blame(&self) -> Blame {
        match self {
            SnapshotError::UnknownFormat
            | SnapshotError::Decode(_)
            | SnapshotError::TooManyRecords { .. }
            | SnapshotError::OutOfOrder { .. }
            | SnapshotError::MissingRecord(_)
            | SnapshotError::DeviceKeyMismatch(_)
            | SnapshotError::SupplyMismatch { .. }
            | SnapshotError::AnchorMismatch { .. }
            | SnapshotError::RootMismatch { .. } => Blame::Local,
        }
    }
}

impl From<DecodeError> for SnapshotError {
    fn from(e: DecodeError) -> Self {
        SnapshotError::Decode(e)
    }
}

impl StateVersion {
    /// Writes the canonical snapshot of this version (see the [module docs](self)).
    pub fn write_snapshot<W: Writer + ?Sized>(&self, w: &mut W) {
        w.write(SNAPSHOT_MAGIC);
        write_varint(w, self.state_len() as u64);
        for record in self.records() {
            record.key().encode(w);
            record.encode_value(w);
        }
    }

    /// The canonical snapshot of this version as bytes.
    pub fn encode_snapshot(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_snapshot(&mut out);
        out
    }
}

impl Ledger {
    /// The canonical snapshot of the current state (call between blocks).
    pub fn encode_snapshot(&self) -> Vec<u8> {
        self.state().encode_snapshot()
    }

    /// Rebuilds a ledger from a snapshot: the same records, the same tree, the same root and
    /// proofs as the ledger that wrote it. Checks everything the bytes can say about
    /// themselves; compare the root with a trusted one, or use [`Ledger::restore_verified`].
    pub fn restore(bytes: &[u8], limits: &SnapshotLimits) -> Result<Ledger, SnapshotError> {
        let mut r = Reader::new(bytes);
        if r.read_bytes(SNAPSHOT_MAGIC.len()).ok() != Some(&SNAPSHOT_MAGIC[..]) {
            return Err(SnapshotError::UnknownFormat);
        }
        let claimed = r.read_varint()?;
        if usize::try_from(claimed).map_or(true, |n| n > limits.max_records) {
            return Err(SnapshotError::TooManyRecords {
                count: claimed,
                max: limits.max_records,
            });
        }
        // Bounded by the bytes present as well as by the limit.
        let count = usize::try_from(claimed).unwrap_or(usize::MAX);
        if count > r.remaining() / MIN_RECORD_BYTES {
            return Err(SnapshotError::Decode(DecodeError::UnexpectedEnd {
                needed: count.saturating_mul(MIN_RECORD_BYTES),
                remaining: r.remaining(),
            }));
        }
        let mut records: Vec<Record> = Vec::with_capacity(count);
        let mut last: Option<Hash> = None;
        let mut meta: Option<ChainMeta> = None;
        let mut validators = None;
        let mut held: u128 = 0;
        let mut highest_anchor: Option<u64> = None;
        for _ in 0..count {
            let key = StateKey::decode(&mut r)?;
            let key_hash = key.key_hash();
            if last.is_some_and(|l| l >= key_hash) {
                return Err(SnapshotError::OutOfOrder { key });
            }
            last = Some(key_hash);
            let record = Record::decode_value(key, &mut r)?;
            match &record {
                Record::Meta(m) => meta = Some(*m),
                Record::Validators(v) => validators = Some(Shared::clone(v)),
                Record::Account(_, a) => held = held.saturating_add(u128::from(a.balance)),
                Record::Plan(_, e) => held = held.saturating_add(u128::from(e.held)),
                Record::Device(id, rec) => {
                    if rec.device_id() != *id {
                        return Err(SnapshotError::DeviceKeyMismatch(*id));
                    }
                }
                Record::Anchor(s, _) => {
                    highest_anchor = Some(highest_anchor.map_or(*s, |h| h.max(*s)));
                }
                Record::Vendor(..) => {}
            }
            records.push(record);
        }
        r.finish()?;
        let meta = meta.ok_or(SnapshotError::MissingRecord(StateKey::Meta))?;
        let validators = validators.ok_or(SnapshotError::MissingRecord(StateKey::Validators))?;
        if held != u128::from(meta.total_supply) {
            return Err(SnapshotError::SupplyMismatch {
                total_supply: meta.total_supply,
                held,
            });
        }
        if meta.last_anchor != highest_anchor {
            return Err(SnapshotError::AnchorMismatch {
                last_anchor: meta.last_anchor,
                highest: highest_anchor,
            });
        }
        Ok(Ledger::from_records(meta, validators, records))
    }

    /// [`Ledger::restore`], then checks the root against a trusted one (a certified header's
    /// `state_root` for the snapshot's height).
    pub fn restore_verified(
        bytes: &[u8],
        limits: &SnapshotLimits,
        expected_root: &Hash,
    ) -> Result<Ledger, SnapshotError> {
        let ledger = Ledger::restore(bytes, limits)?;
        let found = ledger.root();
        if found != *expected_root {
            return Err(SnapshotError::RootMismatch {
                expected: *expected_root,
                found,
            });
        }
        Ok(ledger)
    }
}
