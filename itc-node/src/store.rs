//! [`RedbStore`]: every `itc_chain` store trait over one redb database file.
//!
//! [`Store::commit`] is **one** redb write transaction with [`Durability::Immediate`]: when it
//! returns, the step's writes are on disk (fsync), so the node's loop may send the step's
//! messages. Every record is stored in the protocol crates' canonical encoding and decoded
//! strictly on the way back: a record that does not decode is [`StoreError::Corrupt`], never a
//! panic and never a silent default.

use std::path::Path;

use itc_chain::store::{
    BlockStore, HistoryNodeId, ReceiptStore, SafetyLog, SafetyStore, SnapshotStore, StepWrites,
    Store, StoreBase, StoredReceipt, StoredSnapshot, TangleStore,
};
use itc_crypto::quorum::ValidatorSet;
use itc_crypto::{Decode, DecodeError, Encode, Hash};
use itc_pbft::{BlockHeader, CertifiedBlock};
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
const SETS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("validator_sets");
const HISTORY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("history_nodes");
const RECEIPTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("receipts");
const SAFETY_FACTS: TableDefinition<u64, &[u8]> = TableDefinition::new("safety_facts");

const SCHEMA_KEY: &str = "schema";
const SCHEMA_VERSION: &[u8] = b"itc-node/store/v1";
const GENESIS_KEY: &str = "genesis";
const SNAPSHOT_KEY: &str = "snapshot";
const SAFETY_RECORD_KEY: &str = "safety_record";
const TANGLE_KEY: &str = "tangle";

/// What went wrong with the database. Every variant means: stop, do not serve from this store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file could not be opened or created (also: it is not a redb file, or it is
    /// truncated or corrupt beyond what redb repairs).
    #[error("database: {0}")]
    Database(#[from] redb::DatabaseError),
    /// A transaction could not begin.
    #[error("transaction: {0}")]
    Transaction(#[from] redb::TransactionError),
    /// A table could not be opened.
    #[error("table: {0}")]
    Table(#[from] redb::TableError),
    /// Reading or writing pages failed (I/O, a full disk, corruption).
    #[error("storage: {0}")]
    Storage(#[from] redb::StorageError),
    /// The commit failed (nothing of the step is durable).
    #[error("commit: {0}")]
    Commit(#[from] redb::CommitError),
    /// Durability could not be set.
    #[error("durability: {0}")]
    Durability(#[from] redb::SetDurabilityError),
    /// A stored record does not decode.
    #[error("corrupt record in table {table}: {error}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What the decoder said.
        error: DecodeError,
    },
    /// The file was written by another schema.
    #[error("database schema is not {expected:?}")]
    Schema {
        /// The schema this node reads.
        expected: &'static str,
    },
}

/// Every `itc_chain` store over one redb file. See the [module docs](self).
#[derive(Debug)]
pub struct RedbStore {
    db: Database,
}

fn decode<T: Decode>(table: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    T::decode_bytes(bytes).map_err(|error| StoreError::Corrupt { table, error })
}

fn history_key(id: HistoryNodeId) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = id.level;
    k[1..].copy_from_slice(&id.index.to_be_bytes());
    k
}

impl RedbStore {
    /// Opens the database at `path`, creating it (and its tables) if it does not exist.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::from_database(Database::create(path)?)
    }

    /// Opens an existing database only (a node that was initialised).
    pub fn open_existing(path: &Path) -> Result<Self, StoreError> {
        Self::from_database(Database::open(path)?)
    }

    /// Wraps an opened database (a custom backend, e.g. a size-limited one in tests).
    pub fn from_database(db: Database) -> Result<Self, StoreError> {
        let store = RedbStore { db };
        store.init_schema()?;
        Ok(store)
    }

    fn init_schema(&self) -> Result<(), StoreError> {
        {
            let tx = self.db.begin_read()?;
            match tx.open_table(META) {
                Ok(meta) => {
                    return match meta.get(SCHEMA_KEY)? {
                        Some(v) if v.value() == SCHEMA_VERSION => Ok(()),
                        _ => Err(StoreError::Schema {
                            expected: "itc-node/store/v1",
                        }),
                    }
                }
                Err(redb::TableError::TableDoesNotExist(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut tx = self.db.begin_write()?;
        tx.set_durability(Durability::Immediate)?;
        {
            let mut meta = tx.open_table(META)?;
            meta.insert(SCHEMA_KEY, SCHEMA_VERSION)?;
            tx.open_table(BLOCKS)?;
            tx.open_table(SETS)?;
            tx.open_table(HISTORY)?;
            tx.open_table(RECEIPTS)?;
            tx.open_table(SAFETY_FACTS)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(META)?;
        Ok(t.get(key)?.map(|v| v.value().to_vec()))
    }

    /// Number of blocks stored (for status and tests).
    pub fn block_count(&self) -> Result<u64, StoreError> {
        let tx = self.db.begin_read()?;
        Ok(tx.open_table(BLOCKS)?.len()?)
    }
}

impl StoreBase for RedbStore {
    type Error = StoreError;
}

impl BlockStore for RedbStore {
    fn genesis(&self) -> Result<Option<BlockHeader>, StoreError> {
        self.meta(GENESIS_KEY)?
            .map(|b| decode("meta.genesis", &b))
            .transpose()
    }

    fn block(&self, height: u64) -> Result<Option<CertifiedBlock>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(BLOCKS)?;
        let v = t.get(height)?;
        v.map(|v| decode("blocks", v.value())).transpose()
    }

    fn tip_height(&self) -> Result<Option<u64>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(BLOCKS)?;
        if let Some((k, _)) = t.last()? {
            return Ok(Some(k.value()));
        }
        drop(t);
        drop(tx);
        Ok(self.meta(GENESIS_KEY)?.map(|_| 0))
    }

    fn validator_set(&self, hash: &Hash) -> Result<Option<ValidatorSet>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(SETS)?;
        let v = t.get(hash.0.as_slice())?;
        v.map(|v| decode("validator_sets", v.value())).transpose()
    }

    fn history_node(&self, id: HistoryNodeId) -> Result<Option<Hash>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(HISTORY)?;
        let v = t.get(history_key(id).as_slice())?;
        v.map(|v| decode("history_nodes", v.value())).transpose()
    }
}

impl SafetyStore for RedbStore {
    fn safety(&self) -> Result<SafetyLog, StoreError> {
        let record = self.meta(SAFETY_RECORD_KEY)?;
        let tx = self.db.begin_read()?;
        let t = tx.open_table(SAFETY_FACTS)?;
        let mut facts = Vec::new();
        for item in t.iter()? {
            let (_, v) = item?;
            facts.push(v.value().to_vec());
        }
        Ok(SafetyLog { record, facts })
    }
}

impl SnapshotStore for RedbStore {
    fn snapshot(&self) -> Result<Option<StoredSnapshot>, StoreError> {
        self.meta(SNAPSHOT_KEY)?
            .map(|b| decode("meta.snapshot", &b))
            .transpose()
    }
}

impl ReceiptStore for RedbStore {
    fn receipt(&self, tx_id: &Hash) -> Result<Option<StoredReceipt>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(RECEIPTS)?;
        let v = t.get(tx_id.0.as_slice())?;
        v.map(|v| decode("receipts", v.value())).transpose()
    }
}

impl TangleStore for RedbStore {
    fn tangle(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.meta(TANGLE_KEY)
    }
}

impl Store for RedbStore {
    fn commit(&mut self, writes: StepWrites) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_write()?;
        tx.set_durability(Durability::Immediate)?;
        {
            let mut meta = tx.open_table(META)?;
            if let Some(g) = writes.genesis() {
                meta.insert(GENESIS_KEY, g.encode_to_vec().as_slice())?;
            }
            if let Some(s) = writes.snapshot() {
                meta.insert(SNAPSHOT_KEY, s.encode_to_vec().as_slice())?;
            }
            if let Some(t) = writes.tangle() {
                meta.insert(TANGLE_KEY, t)?;
            }
            let mut facts = tx.open_table(SAFETY_FACTS)?;
            if let Some(update) = writes.safety() {
                if let Some(record) = &update.replace {
                    meta.insert(SAFETY_RECORD_KEY, record.as_slice())?;
                    facts.retain(|_, _| false)?;
                }
                let mut next = match facts.last()? {
                    Some((k, _)) => k.value().saturating_add(1),
                    None => 0,
                };
                for fact in &update.append {
                    facts.insert(next, fact.as_slice())?;
                    next = next.saturating_add(1);
                }
            }
            let mut blocks = tx.open_table(BLOCKS)?;
            for b in writes.blocks() {
                blocks.insert(b.header.height, b.encode_to_vec().as_slice())?;
            }
            let mut sets = tx.open_table(SETS)?;
            for s in writes.validator_sets() {
                sets.insert(s.hash().0.as_slice(), s.encode_to_vec().as_slice())?;
            }
            let mut history = tx.open_table(HISTORY)?;
            for (id, h) in writes.history_nodes() {
                history.insert(history_key(*id).as_slice(), h.0.as_slice())?;
            }
            let mut receipts = tx.open_table(RECEIPTS)?;
            for r in writes.receipts() {
                let keep_old = match receipts.get(r.tx_id.0.as_slice())? {
                    Some(old) => {
                        let old: StoredReceipt = decode("receipts", old.value())?;
                        !r.supersedes(&old)
                    }
                    None => false,
                };
                if !keep_old {
                    receipts.insert(r.tx_id.0.as_slice(), r.encode_to_vec().as_slice())?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}
