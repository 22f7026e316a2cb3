//! The replicated state a validator keeps: typed records in the leaves of one persistent
//! sparse Merkle tree, whose root the main chain commits.
//!
//! Token rule: the total supply is the sum of the genesis balances and never changes.
//! `Transfer` moves tokens between accounts, `FundPlan` moves them from a vendor's account into
//! a plan's escrow, and `SettlePlan` moves an escrow out to accounts in full. Nothing mints or
//! burns, so `Σ balances + Σ escrows = total_supply` after every transaction.
//!
//! **One structure, many versions.** Each record lives in the tree leaf that commits to it, so
//! a record and the hash under the root can never disagree, and [`Ledger::version`] takes an
//! O(1) read-only [`StateVersion`] of the whole state: versions share every subtree a later
//! block did not rewrite. A full node keeps one per retained height ([`crate::StateHistory`])
//! and proves against any of them without a copy of the state.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use itc_crypto::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::hash::hash_encoded;
use itc_crypto::quorum::ValidatorSet;
use itc_crypto::{Address, Hash};

use crate::device::{DeviceId, OwnershipRecord, VendorId, VendorRecord};
use crate::error::GenesisError;
use crate::records::{Account, AnchorRecord, ChainMeta, Escrow, ValidatorRecord};
use crate::smt::tree::Shared;
use crate::smt::{self, SparseMerkleTree, StateProof, StateProofError};
use crate::state_key::StateKey;

/// Largest record encoding a proof may carry (a 256-validator set is about 10 KiB).
pub const MAX_VALUE_BYTES: usize = 16 * 1024;

/// The ledger state a chain starts from (the main chain's own genesis, with its header and
/// validator set, is `itc_pbft`'s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenesisState {
    /// The chain's id (signatures cover it).
    pub chain_id: u32,
    /// The first validator set (epoch 0).
    pub validators: ValidatorSet,
    /// Initial balances; their sum is the fixed total supply.
    pub balances: Vec<(Address, u64)>,
    /// Vendors admitted from the start.
    pub vendors: Vec<(VendorId, VendorRecord)>,
}

/// One record of the state together with the key it lives under, as a tree leaf holds it.
///
/// Large records are boxed so a leaf stays small (a parsed public key is ~140 bytes and an
/// ownership record holds up to ten of them); the validator record is shared with the ledger's
/// cached copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Record {
    Meta(ChainMeta),
    Validators(Shared<ValidatorRecord>),
    Account(Address, Account),
    Vendor(VendorId, Box<VendorRecord>),
    Device(DeviceId, Box<OwnershipRecord>),
    Anchor(u64, AnchorRecord),
    Plan(Hash, Escrow),
}

impl Record {
    /// Where the record lives.
    pub(crate) fn key(&self) -> StateKey {
        match self {
            Record::Meta(_) => StateKey::Meta,
            Record::Validators(_) => StateKey::Validators,
            Record::Account(a, _) => StateKey::Account(*a),
            Record::Vendor(v, _) => StateKey::Vendor(*v),
            Record::Device(d, _) => StateKey::Device(*d),
            Record::Anchor(s, _) => StateKey::Anchor(*s),
            Record::Plan(p, _) => StateKey::Plan(*p),
        }
    }

    /// The value hash the tree commits to: `H(VALUE_TAG, encoding)`.
    pub(crate) fn value_hash(&self) -> Hash {
        match self {
            Record::Meta(r) => record_hash(r),
            Record::Validators(r) => record_hash(&**r),
            Record::Account(_, r) => record_hash(r),
            Record::Vendor(_, r) => record_hash(&**r),
            Record::Device(_, r) => record_hash(&**r),
            Record::Anchor(_, r) => record_hash(r),
            Record::Plan(_, r) => record_hash(r),
        }
    }

    /// Writes the record's canonical encoding (its value, without the key).
    pub(crate) fn encode_value<W: Writer + ?Sized>(&self, w: &mut W) {
        match self {
            Record::Meta(r) => r.encode(w),
            Record::Validators(r) => r.encode(w),
            Record::Account(_, r) => r.encode(w),
            Record::Vendor(_, r) => r.encode(w),
            Record::Device(_, r) => r.encode(w),
            Record::Anchor(_, r) => r.encode(w),
            Record::Plan(_, r) => r.encode(w),
        }
    }

    /// Decodes the value stored under `key`.
    pub(crate) fn decode_value(key: StateKey, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match key {
            StateKey::Meta => Record::Meta(ChainMeta::decode(r)?),
            StateKey::Validators => Record::Validators(Shared::new(ValidatorRecord::decode(r)?)),
            StateKey::Account(a) => Record::Account(a, Account::decode(r)?),
            StateKey::Vendor(v) => Record::Vendor(v, Box::new(VendorRecord::decode(r)?)),
            StateKey::Device(d) => Record::Device(d, Box::new(OwnershipRecord::decode(r)?)),
            StateKey::Anchor(s) => Record::Anchor(s, AnchorRecord::decode(r)?),
            StateKey::Plan(p) => Record::Plan(p, Escrow::decode(r)?),
        })
    }

    fn value_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode_value(&mut v);
        v
    }
}

pub(crate) fn record_hash<R: Encode + ?Sized>(record: &R) -> Hash {
    hash_encoded(smt::VALUE_TAG, record)
}

/// The state tree of the ledger: records in the leaves.
pub(crate) type StateTree = SparseMerkleTree<Record>;

/// A read-only version of the whole ledger state at one height: O(1) to take
/// ([`Ledger::version`]), sharing structure with every other version of the same chain.
///
/// It answers what a full node serves for that height (records and proofs against its root),
/// and cannot be changed: a newer block makes a newer version.
///
/// ```
/// use itc_crypto::quorum::{Validator, ValidatorSet};
/// use itc_crypto::{Address, Encode, SecretKey};
/// use itc_ledger::builder::TxBuilder;
/// use itc_ledger::{GenesisState, Ledger, StateKey};
///
/// let alice = SecretKey::from_bytes(&[1; 32]).unwrap();
/// let set = ValidatorSet::new([Validator { key: SecretKey::from_bytes(&[9; 32]).unwrap().public_key(), power: 1 }]).unwrap();
/// let alice_addr = Address::from_public_key(&alice.public_key());
/// let genesis = GenesisState { chain_id: 7, validators: set, balances: vec![(alice_addr, 10)], vendors: vec![] };
/// let mut ledger = Ledger::from_genesis(&genesis).unwrap();
/// let before = ledger.version(); // height 0, O(1)
/// let tx = TxBuilder::new(7).transfer(&alice, 0, Address([2; 20]), 4).unwrap();
/// ledger.execute(&[tx.encode_to_vec()], 1).unwrap();
/// // The old version still proves the old balance against the old root.
/// let proof = before.prove(&StateKey::Account(alice_addr)).unwrap();
/// assert!(proof.verify(&before.root()).is_ok());
/// assert_eq!(before.account(&alice_addr).balance, 10);
/// assert_eq!(ledger.account(&alice_addr).balance, 6);
/// ```
#[derive(Debug, Clone)]
pub struct StateVersion {
    tree: StateTree,
    meta: ChainMeta,
    validators: Shared<ValidatorRecord>,
}

impl StateVersion {
    /// The state root of this version.
    pub fn root(&self) -> Hash {
        self.tree.root()
    }

    /// Height of the last block executed into this version (0 at genesis).
    pub fn height(&self) -> u64 {
        self.meta.height
    }

    /// Chain metadata (id, supply, height, last anchor).
    pub fn meta(&self) -> &ChainMeta {
        &self.meta
    }

    /// The validator record (set and change count) of this version.
    pub fn validator_record(&self) -> &ValidatorRecord {
        &self.validators
    }

    /// Number of records under the root.
    pub fn state_len(&self) -> usize {
        self.tree.len()
    }

    /// True if both are the same version of the state (an O(1) pointer check).
    pub fn same_version(&self, other: &StateVersion) -> bool {
        self.tree.same_version(&other.tree)
    }

    pub(crate) fn record(&self, key: &StateKey) -> Option<&Record> {
        self.tree.payload(&key.key_hash())
    }

    /// An address's account (an empty one if it never held tokens or signed).
    pub fn account(&self, address: &Address) -> Account {
        match self.record(&StateKey::Account(*address)) {
            Some(Record::Account(_, a)) => *a,
            _ => Account::default(),
        }
    }

    /// A device's record.
    pub fn device(&self, id: &DeviceId) -> Option<&OwnershipRecord> {
        match self.record(&StateKey::Device(*id)) {
            Some(Record::Device(_, r)) => Some(r),
            _ => None,
        }
    }

    /// The encoding of the record at `key`, if there is one.
    pub fn value(&self, key: &StateKey) -> Option<Vec<u8>> {
        self.record(key).map(Record::value_bytes)
    }

    /// The record at `key` (or its absence) with a proof against [`StateVersion::root`].
    pub fn prove(&self, key: &StateKey) -> Result<EntryProof, StateProofError> {
        let key_hash = key.key_hash();
        Ok(EntryProof {
            key: *key,
            value: self.tree.payload(&key_hash).map(Record::value_bytes),
            proof: self.tree.prove_hashed(&key_hash)?,
        })
    }

    pub(crate) fn records(&self) -> impl Iterator<Item = &Record> {
        self.tree.iter().map(|(_, _, r)| r)
    }
}

/// The ledger state machine: genesis in, blocks in, roots and receipts out.
///
/// Deterministic: no clock, no randomness, no hash-map iteration; the same blocks at the same
/// heights give the same roots on every platform. `clone()` is O(1) (see [`StateVersion`]).
///
/// ```
/// use itc_crypto::quorum::{Validator, ValidatorSet};
/// use itc_crypto::{Address, Encode, SecretKey};
/// use itc_ledger::builder::TxBuilder;
/// use itc_ledger::{GenesisState, Ledger, StateKey};
///
/// let alice = SecretKey::from_bytes(&[1; 32]).unwrap();
/// let val = SecretKey::from_bytes(&[9; 32]).unwrap();
/// let set: ValidatorSet = ValidatorSet::new([Validator { key: val.public_key(), power: 1 }]).unwrap();
/// let alice_addr = Address::from_public_key(&alice.public_key());
/// let mut ledger = Ledger::from_genesis(&GenesisState {
///     chain_id: 7,
///     validators: set,
///     balances: vec![(alice_addr, 1_000)],
///     vendors: vec![],
/// }).unwrap();
///
/// let bob = Address([2; 20]);
/// let tx = TxBuilder::new(7).transfer(&alice, 0, bob, 250).unwrap();
/// let out = ledger.execute(&[tx.encode_to_vec()], 1).unwrap();
/// assert!(out.receipts[0].result.is_ok());
/// assert_eq!(ledger.account(&bob).balance, 250);
///
/// // A light client checks Bob's balance against the committed root.
/// let proof = ledger.prove(&StateKey::Account(bob)).unwrap();
/// assert!(proof.verify(&out.state_root).is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct Ledger {
    state: StateVersion,
    /// The running block's writes by key hash, folded into the tree once at its end
    /// ([`Ledger::commit_writes`]): shared upper nodes are copied and hashed once per block,
    /// not once per write, and reads inside the block see earlier transactions' writes here.
    /// Empty between blocks.
    pending: BTreeMap<Hash, Record>,
}

impl Ledger {
    /// Builds the state at height 0. Fails on duplicate accounts or vendors, or a supply that
    /// does not fit in u64.
    pub fn from_genesis(genesis: &GenesisState) -> Result<Self, GenesisError> {
        let mut accounts = BTreeMap::new();
        let mut supply: u64 = 0;
        for (addr, balance) in &genesis.balances {
            supply = supply
                .checked_add(*balance)
                .ok_or(GenesisError::SupplyOverflow)?;
            let acct = Account {
                balance: *balance,
                nonce: 0,
            };
            if accounts.insert(*addr, acct).is_some() {
                return Err(GenesisError::DuplicateAccount(*addr));
            }
        }
        let mut vendors = BTreeMap::new();
        for (id, rec) in &genesis.vendors {
            if vendors.insert(*id, *rec).is_some() {
                return Err(GenesisError::DuplicateVendor(*id));
            }
        }
        let meta = ChainMeta {
            chain_id: genesis.chain_id,
            total_supply: supply,
            height: 0,
            last_anchor: None,
        };
        let validators = Shared::new(ValidatorRecord {
            epoch: 0,
            set: genesis.validators.clone(),
        });
        let mut records = Vec::with_capacity(accounts.len().saturating_add(vendors.len()) + 2);
        records.push(Record::Meta(meta));
        records.push(Record::Validators(Shared::clone(&validators)));
        records.extend(accounts.into_iter().map(|(a, r)| Record::Account(a, r)));
        records.extend(
            vendors
                .into_iter()
                .map(|(v, r)| Record::Vendor(v, Box::new(r))),
        );
        Ok(Ledger::from_records(meta, validators, records))
    }

    /// The ledger over `records` (which must hold `meta` and `validators` among them).
    pub(crate) fn from_records(
        meta: ChainMeta,
        validators: Shared<ValidatorRecord>,
        records: Vec<Record>,
    ) -> Self {
        let tree = SparseMerkleTree::from_leaves(
            records
                .into_iter()
                .map(|r| (r.key().key_hash(), r.value_hash(), r)),
        );
        Ledger {
            state: StateVersion {
                tree,
                meta,
                validators,
            },
            pending: BTreeMap::new(),
        }
    }

    /// The current state as an O(1) read-only version (call between blocks).
    pub fn version(&self) -> StateVersion {
        debug_assert!(self.pending.is_empty(), "version taken inside a block");
        self.state.clone()
    }

    /// Recomputes the root from the records alone, re-encoding and re-hashing every one (a
    /// consistency check for tests and audits: it must always equal [`Ledger::root`]).
    pub fn recompute_root(&self) -> Hash {
        SparseMerkleTree::from_hashed(
            self.state
                .records()
                .map(|r| (r.key().key_hash(), r.value_hash())),
        )
        .root()
    }

    /// The record at `key` as the running block sees it.
    fn record(&self, key: &StateKey) -> Option<&Record> {
        let key_hash = key.key_hash();
        self.pending
            .get(&key_hash)
            .or_else(|| self.state.tree.payload(&key_hash))
    }

    /// Writes one record (visible to later reads of the block; hashed at its end).
    pub(crate) fn apply(&mut self, record: Record) {
        match &record {
            Record::Meta(m) => self.state.meta = *m,
            Record::Validators(v) => self.state.validators = Shared::clone(v),
            _ => {}
        }
        self.pending.insert(record.key().key_hash(), record);
    }

    /// Folds the running block's writes into the tree.
    pub(crate) fn commit_writes(&mut self) {
        let writes = core::mem::take(&mut self.pending);
        self.state.tree.apply_updates(
            writes
                .into_iter()
                .map(|(k, r)| (k, Some((r.value_hash(), r)))),
        );
    }

    /// The state root committed by the last executed block (or genesis).
    pub fn root(&self) -> Hash {
        debug_assert!(self.pending.is_empty(), "root read inside a block");
        self.state.root()
    }

    /// The chain id.
    pub fn chain_id(&self) -> u32 {
        self.state.meta.chain_id
    }

    /// Height of the last executed block (0 at genesis).
    pub fn height(&self) -> u64 {
        self.state.meta.height
    }

    /// Chain metadata (id, supply, height, last anchor).
    pub fn meta(&self) -> &ChainMeta {
        &self.state.meta
    }

    /// The fixed total supply.
    pub fn total_supply(&self) -> u64 {
        self.state.meta.total_supply
    }

    /// The validator set the ledger holds now (the one system transactions answer to). A
    /// change reaches consensus through [`crate::BlockOutcome::next_validator_set`].
    pub fn validator_set(&self) -> &ValidatorSet {
        &self.state.validators.set
    }

    /// How many times the validator set changed since genesis.
    pub fn validator_epoch(&self) -> u64 {
        self.state.validators.epoch
    }

    /// An address's account (an empty one if it never held tokens or signed).
    pub fn account(&self, address: &Address) -> Account {
        match self.record(&StateKey::Account(*address)) {
            Some(Record::Account(_, a)) => *a,
            _ => Account::default(),
        }
    }

    /// The nonce the address's next transaction must carry.
    pub fn next_nonce(&self, address: &Address) -> u64 {
        self.account(address).nonce
    }

    /// A device's record.
    pub fn device(&self, id: &DeviceId) -> Option<&OwnershipRecord> {
        match self.record(&StateKey::Device(*id)) {
            Some(Record::Device(_, r)) => Some(r),
            _ => None,
        }
    }

    /// A vendor's record.
    pub fn vendor(&self, id: &VendorId) -> Option<&VendorRecord> {
        match self.record(&StateKey::Vendor(*id)) {
            Some(Record::Vendor(_, r)) => Some(r),
            _ => None,
        }
    }

    /// The anchor at a sequence.
    pub fn anchor(&self, sequence: u64) -> Option<&AnchorRecord> {
        match self.record(&StateKey::Anchor(sequence)) {
            Some(Record::Anchor(_, r)) => Some(r),
            _ => None,
        }
    }

    /// A plan's escrow.
    pub fn escrow(&self, plan_id: &Hash) -> Option<&Escrow> {
        match self.record(&StateKey::Plan(*plan_id)) {
            Some(Record::Plan(_, r)) => Some(r),
            _ => None,
        }
    }

    /// All accounts, in state-tree (key-hash) order.
    pub fn accounts(&self) -> impl Iterator<Item = (&Address, &Account)> {
        self.state.records().filter_map(|r| match r {
            Record::Account(a, r) => Some((a, r)),
            _ => None,
        })
    }

    /// All escrows, in state-tree (key-hash) order.
    pub fn escrows(&self) -> impl Iterator<Item = (&Hash, &Escrow)> {
        self.state.records().filter_map(|r| match r {
            Record::Plan(p, r) => Some((p, r)),
            _ => None,
        })
    }

    /// All devices, in state-tree (key-hash) order.
    pub fn devices(&self) -> impl Iterator<Item = (&DeviceId, &OwnershipRecord)> {
        self.state.records().filter_map(|r| match r {
            Record::Device(d, r) => Some((d, &**r)),
            _ => None,
        })
    }

    /// Number of records under the root.
    pub fn state_len(&self) -> usize {
        self.state.state_len()
    }

    /// The encoding of the record at `key`, if there is one.
    pub fn value(&self, key: &StateKey) -> Option<Vec<u8>> {
        self.record(key).map(Record::value_bytes)
    }

    /// The record at `key` (or its absence) with a proof against [`Ledger::root`].
    pub fn prove(&self, key: &StateKey) -> Result<EntryProof, StateProofError> {
        debug_assert!(self.pending.is_empty(), "proof asked inside a block");
        self.state.prove(key)
    }

    pub(crate) fn state(&self) -> &StateVersion {
        &self.state
    }
}

/// A record (or its absence) and the proof tying it to a state root: what a full node sends a
/// light client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryProof {
    /// Which record.
    pub key: StateKey,
    /// Its encoding, or `None` for a proof of absence.
    pub value: Option<Vec<u8>>,
    /// The path to the root.
    pub proof: StateProof,
}

impl EntryProof {
    /// Checks the entry against a trusted state root.
    pub fn verify(&self, root: &Hash) -> Result<(), StateProofError> {
        self.proof
            .verify_entry(root, &self.key, self.value.as_deref())
    }
}

impl Encode for EntryProof {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.key.encode(w);
        match &self.value {
            None => w.write(&[0]),
            Some(v) => {
                w.write(&[1]);
                itc_crypto::encoding::write_bytes(w, v);
            }
        }
        self.proof.encode(w);
    }
}

impl Decode for EntryProof {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let key = StateKey::decode(r)?;
        let value = match r.read_u8()? {
            0 => None,
            1 => Some(r.read_byte_vec(MAX_VALUE_BYTES)?),
            tag => {
                return Err(DecodeError::UnknownVariant {
                    type_name: "Option",
                    tag: u64::from(tag),
                })
            }
        };
        Ok(EntryProof {
            key,
            value,
            proof: StateProof::decode(r)?,
        })
    }
}
