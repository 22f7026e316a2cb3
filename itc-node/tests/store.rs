//! RedbStore: round trip against the in-memory store, reopen after drop, restore of a full
//! node, corrupt and truncated files, and a full disk leaving the previous state intact.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use itc_chain::store::{
    BlockStore, HistoryNodeId, ReceiptStore, SafetyLog, SafetyStore, StepWrites, Store,
    StoredReceipt, TangleStore,
};
use itc_chain::testkit::TestChain;
use itc_chain::{FullNode, FullNodeConfig, MemoryStore};
use itc_crypto::{Address, Encode, Hash, SecretKey};
use itc_node::store::{RedbStore, StoreError};
use redb::backends::FileBackend;
use redb::StorageBackend;

fn chain_with_blocks(n: usize) -> (TestChain, Vec<StepWrites>, FullNode) {
    let alice = SecretKey::from_bytes(&[1; 32]).unwrap();
    let alice_addr = Address::from_public_key(&alice.public_key());
    let mut chain = TestChain::new(4, 4, &[(alice_addr, 1_000)]);
    let mut config = FullNodeConfig::new(4);
    config.snapshot_interval = 3;
    let (mut node, w) =
        FullNode::new(config, chain.genesis_state(), chain.genesis_time_ms()).unwrap();
    let mut steps = vec![w];
    for i in 0..n {
        let tx = chain
            .builder()
            .transfer(&alice, i as u64, Address([2; 20]), 1)
            .unwrap()
            .encode_to_vec();
        let accepted = node.handle_block(chain.next_block(vec![tx])).unwrap();
        steps.push(accepted.writes);
    }
    (chain, steps, node)
}

fn assert_same<A: Store, B: Store>(a: &A, b: &B, tip: u64) {
    assert_eq!(a.genesis().unwrap(), b.genesis().unwrap());
    assert_eq!(a.tip_height().unwrap(), b.tip_height().unwrap());
    for h in 0..=tip {
        assert_eq!(a.header(h).unwrap(), b.header(h).unwrap());
        assert_eq!(
            a.block(h).unwrap().map(|b| b.encode_to_vec()),
            b.block(h).unwrap().map(|b| b.encode_to_vec())
        );
        for level in 0..4u8 {
            let id = HistoryNodeId { level, index: h };
            assert_eq!(a.history_node(id).unwrap(), b.history_node(id).unwrap());
        }
    }
    assert_eq!(a.snapshot().unwrap(), b.snapshot().unwrap());
    assert_eq!(a.safety().unwrap(), b.safety().unwrap());
    assert_eq!(a.tangle().unwrap(), b.tangle().unwrap());
}

#[test]
fn round_trip_matches_memory_store_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.redb");
    let (chain, steps, node) = chain_with_blocks(7);
    let mut mem = MemoryStore::new();
    {
        let mut disk = RedbStore::open(&path).unwrap();
        for (i, w) in steps.iter().enumerate() {
            let mut w = w.clone();
            w.push_safety_fact(vec![i as u8]);
            if i == 3 {
                w.replace_safety_record(vec![9, 9]);
                w.set_tangle(vec![4, 5, 6]);
            }
            mem.commit(w.clone()).unwrap();
            disk.commit(w).unwrap();
        }
        assert_same(&mem, &disk, 7);
        let set = chain.genesis_state().validators.clone();
        assert_eq!(disk.validator_set(&set.hash()).unwrap(), Some(set));
    }
    // Reopen after drop: the same contents, and a full node restores to the same tip.
    let disk = RedbStore::open_existing(&path).unwrap();
    assert_same(&mem, &disk, 7);
    assert_eq!(
        disk.safety().unwrap(),
        SafetyLog {
            record: Some(vec![9, 9]),
            facts: vec![vec![4], vec![5], vec![6], vec![7]],
        }
    );
    let restored = FullNode::restore(*node.config(), chain.genesis_state(), &disk).unwrap();
    assert_eq!(restored.tip_hash(), node.tip_hash());
    assert_eq!(restored.ledger().root(), node.ledger().root());
}

#[test]
fn receipts_keep_the_applied_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut disk = RedbStore::open(&dir.path().join("r.redb")).unwrap();
    let id = Hash([1; 32]);
    let r = |height, code| StoredReceipt {
        tx_id: id,
        height,
        position: 0,
        code,
    };
    for rec in [r(1, 4), r(2, 0), r(3, 4)] {
        let mut w = StepWrites::new();
        w.extend_receipts([rec]);
        disk.commit(w).unwrap();
    }
    assert_eq!(disk.receipt(&id).unwrap(), Some(r(2, 0)));
}

#[test]
fn garbage_and_truncated_files_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    // Not a database at all.
    let junk = dir.path().join("junk.redb");
    std::fs::write(&junk, vec![0xA5; 8192]).unwrap();
    assert!(matches!(
        RedbStore::open_existing(&junk),
        Err(StoreError::Database(_) | StoreError::Storage(_))
    ));
    // A real database cut short at several lengths: never a panic, never a silent reset
    // (either a typed error or, where redb repairs, the same tip as before or an error).
    let path = dir.path().join("chain.redb");
    {
        let mut disk = RedbStore::open(&path).unwrap();
        for w in chain_with_blocks(5).1 {
            disk.commit(w).unwrap();
        }
    }
    let full = std::fs::read(&path).unwrap();
    for cut in [16usize, 512, 4096, full.len() / 2, full.len() - 1] {
        let p = dir.path().join(format!("cut{cut}.redb"));
        std::fs::write(&p, &full[..cut.min(full.len())]).unwrap();
        match RedbStore::open_existing(&p) {
            Err(_) => {}
            Ok(s) => {
                if let Ok(tip) = s.tip_height() {
                    assert_ne!(tip, None, "a truncated file must not read as empty");
                }
            }
        }
    }
    // A page of the file overwritten: reads give a typed error or the true data.
    let p = dir.path().join("flipped.redb");
    std::fs::write(&p, &full).unwrap();
    let mut f = OpenOptions::new().write(true).open(&p).unwrap();
    f.seek(SeekFrom::Start((full.len() / 2) as u64)).unwrap();
    f.write_all(&[0xFF; 4096]).unwrap();
    drop(f);
    if let Ok(s) = RedbStore::open_existing(&p) {
        for h in 0..=5 {
            let _ = s.block(h); // Ok or a typed error; no panic
        }
    }
}

/// A file backend that refuses to grow past a limit: a full disk, without root or a tmpfs.
#[derive(Debug)]
struct LimitedBackend {
    inner: FileBackend,
    limit: Arc<AtomicU64>,
}

impl StorageBackend for LimitedBackend {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        if len > self.limit.load(Ordering::SeqCst) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "test disk full",
            ));
        }
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        if offset.saturating_add(data.len() as u64) > self.limit.load(Ordering::SeqCst) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "test disk full",
            ));
        }
        self.inner.write(offset, data)
    }
}

#[test]
fn a_full_disk_fails_the_commit_and_keeps_the_previous_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.redb");
    let limit = Arc::new(AtomicU64::new(u64::MAX));
    let (chain, steps, _) = chain_with_blocks(3);
    {
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .unwrap();
        let backend = LimitedBackend {
            inner: FileBackend::new(file).unwrap(),
            limit: limit.clone(),
        };
        let db = redb::Database::builder()
            .create_with_backend(backend)
            .unwrap();
        let mut disk = RedbStore::from_database(db).unwrap();
        for w in steps.iter().cloned() {
            disk.commit(w).unwrap();
        }
        assert_eq!(disk.tip_height().unwrap(), Some(3));
        // The disk is now full: a big step (a 4 MiB tangle state) cannot be written.
        let now = std::fs::metadata(&path).unwrap().len();
        limit.store(now, Ordering::SeqCst);
        let mut big = StepWrites::new();
        big.set_tangle(vec![7; 4 << 20]);
        big.push_safety_fact(vec![1]);
        assert!(disk.commit(big).is_err());
        // The store still reads the state of the last good commit.
        assert_eq!(disk.tip_height().unwrap(), Some(3));
        assert_eq!(disk.tangle().unwrap(), None);
    }
    // And so does a fresh open of the file.
    let disk = RedbStore::open_existing(&path).unwrap();
    assert_eq!(disk.tip_height().unwrap(), Some(3));
    assert_eq!(disk.tangle().unwrap(), None);
    assert_eq!(disk.safety().unwrap(), SafetyLog::default());
    let config = {
        let mut c = FullNodeConfig::new(4);
        c.snapshot_interval = 3;
        c
    };
    let node = FullNode::restore(config, chain.genesis_state(), &disk).unwrap();
    assert_eq!(node.tip().height, 3);
}
