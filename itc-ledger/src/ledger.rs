//! The replicated state a validator keeps: typed records in ordered maps, mirrored into the
//! sparse Merkle tree whose root the main chain commits.
//!
//! Token rule: the total supply is the sum of the genesis balances and never changes.
//! `Transfer` moves tokens between accounts, `FundPlan` moves them from a vendor's account into
//! a plan's escrow, and `SettlePlan` moves an escrow out to accounts in full. Nothing mints or
//! burns, so `Σ balances + Σ escrows = total_supply` after every transaction.

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
use crate::smt::{self, ProofError, SparseMerkleTree, StateProof};
use crate::state_key::StateKey;

/// Largest record encoding a proof may carry (a 256-validator set is about 10 KiB).
pub const MAX_VALUE_BYTES: usize = 16 * 1024;

/// What a chain starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Genesis {
    /// The chain's id (signatures cover it).
    pub chain_id: u32,
    /// The first validator set (epoch 0).
    pub validators: ValidatorSet,
    /// Initial balances; their sum is the fixed total supply.
    pub balances: Vec<(Address, u64)>,
    /// Vendors admitted from the start.
    pub vendors: Vec<(VendorId, VendorRecord)>,
}

/// One record change, applied to the maps and the tree together.
// Short-lived (built and applied within one transaction), so a few hundred bytes per variant
// cost less than another allocation; only the really large records are boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(crate) enum Change {
    Account(Address, Account),
    Device(DeviceId, Box<OwnershipRecord>),
    Vendor(VendorId, VendorRecord),
    Anchor(u64, AnchorRecord),
    Plan(Hash, Escrow),
    Meta(ChainMeta),
    Validators(Box<ValidatorRecord>),
}

/// The ledger state machine: genesis in, batches in, roots and receipts out.
///
/// Deterministic: ordered maps only, no clock, no randomness; the same batches at the same
/// heights give the same roots on every platform.
///
/// ```
/// use itc_crypto::quorum::{Validator, ValidatorSet};
/// use itc_crypto::{Address, Encode, SecretKey};
/// use itc_ledger::builder::TxBuilder;
/// use itc_ledger::{Genesis, Ledger, StateKey};
///
/// let alice = SecretKey::from_bytes(&[1; 32]).unwrap();
/// let val = SecretKey::from_bytes(&[9; 32]).unwrap();
/// let set: ValidatorSet = ValidatorSet::new([Validator { key: val.public_key(), power: 1 }]).unwrap();
/// let alice_addr = Address::from_public_key(&alice.public_key());
/// let mut ledger = Ledger::from_genesis(&Genesis {
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
    pub(crate) meta: ChainMeta,
    pub(crate) validators: ValidatorRecord,
    pub(crate) accounts: BTreeMap<Address, Account>,
    pub(crate) devices: BTreeMap<DeviceId, OwnershipRecord>,
    pub(crate) vendors: BTreeMap<VendorId, VendorRecord>,
    pub(crate) anchors: BTreeMap<u64, AnchorRecord>,
    pub(crate) plans: BTreeMap<Hash, Escrow>,
    tree: SparseMerkleTree,
    /// `(key hash, value hash)` writes of the running batch, folded into the tree once at its
    /// end ([`Ledger::commit_writes`]): shared upper nodes are hashed once per batch, not once
    /// per write. Empty between batches.
    pending: Vec<(Hash, Hash)>,
}

fn record_hash<R: Encode + ?Sized>(record: &R) -> Hash {
    hash_encoded(smt::VALUE_TAG, record)
}

impl Ledger {
    /// Builds the state at height 0. Fails on duplicate accounts or vendors, or a supply that
    /// does not fit in u64.
    pub fn from_genesis(genesis: &Genesis) -> Result<Self, GenesisError> {
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
        let mut ledger = Ledger {
            meta: ChainMeta {
                chain_id: genesis.chain_id,
                total_supply: supply,
                height: 0,
                last_anchor: None,
            },
            validators: ValidatorRecord {
                epoch: 0,
                set: genesis.validators.clone(),
            },
            accounts,
            devices: BTreeMap::new(),
            vendors,
            anchors: BTreeMap::new(),
            plans: BTreeMap::new(),
            tree: SparseMerkleTree::new(),
            pending: Vec::new(),
        };
        ledger.tree = SparseMerkleTree::from_hashed(ledger.hashed_entries());
        Ok(ledger)
    }

    /// Every `(key hash, value hash)` of the state, recomputed from the records.
    fn hashed_entries(&self) -> Vec<(Hash, Hash)> {
        let mut out = Vec::new();
        out.push((StateKey::Meta.key_hash(), record_hash(&self.meta)));
        out.push((
            StateKey::Validators.key_hash(),
            record_hash(&self.validators),
        ));
        for (a, r) in &self.accounts {
            out.push((StateKey::Account(*a).key_hash(), record_hash(r)));
        }
        for (d, r) in &self.devices {
            out.push((StateKey::Device(*d).key_hash(), record_hash(r)));
        }
        for (v, r) in &self.vendors {
            out.push((StateKey::Vendor(*v).key_hash(), record_hash(r)));
        }
        for (s, r) in &self.anchors {
            out.push((StateKey::Anchor(*s).key_hash(), record_hash(r)));
        }
        for (p, r) in &self.plans {
            out.push((StateKey::Plan(*p).key_hash(), record_hash(r)));
        }
        out
    }

    /// Recomputes the root from the records alone (a consistency check for tests and audits:
    /// it must always equal [`Ledger::root`]).
    pub fn recompute_root(&self) -> Hash {
        SparseMerkleTree::from_hashed(self.hashed_entries()).root()
    }

    pub(crate) fn apply(&mut self, change: Change) {
        let (key, value) = match change {
            Change::Account(a, r) => {
                let v = record_hash(&r);
                self.accounts.insert(a, r);
                (StateKey::Account(a), v)
            }
            Change::Device(d, r) => {
                let v = record_hash(&*r);
                self.devices.insert(d, *r);
                (StateKey::Device(d), v)
            }
            Change::Vendor(id, r) => {
                let v = record_hash(&r);
                self.vendors.insert(id, r);
                (StateKey::Vendor(id), v)
            }
            Change::Anchor(s, r) => {
                let v = record_hash(&r);
                self.anchors.insert(s, r);
                (StateKey::Anchor(s), v)
            }
            Change::Plan(p, r) => {
                let v = record_hash(&r);
                self.plans.insert(p, r);
                (StateKey::Plan(p), v)
            }
            Change::Meta(m) => {
                self.meta = m;
                (StateKey::Meta, record_hash(&m))
            }
            Change::Validators(r) => {
                let v = record_hash(&*r);
                self.validators = *r;
                (StateKey::Validators, v)
            }
        };
        self.pending.push((key.key_hash(), value));
    }

    /// Folds the running batch's writes into the tree.
    pub(crate) fn commit_writes(&mut self) {
        let writes = core::mem::take(&mut self.pending);
        self.tree
            .apply_batch(writes.into_iter().map(|(k, v)| (k, Some(v))));
    }

    /// The state root committed by the last executed batch (or genesis).
    pub fn root(&self) -> Hash {
        debug_assert!(self.pending.is_empty(), "root read inside a batch");
        self.tree.root()
    }

    /// The chain id.
    pub fn chain_id(&self) -> u32 {
        self.meta.chain_id
    }

    /// Height of the last executed batch (0 at genesis).
    pub fn height(&self) -> u64 {
        self.meta.height
    }

    /// Chain metadata (id, supply, height, last anchor).
    pub fn meta(&self) -> &ChainMeta {
        &self.meta
    }

    /// The fixed total supply.
    pub fn total_supply(&self) -> u64 {
        self.meta.total_supply
    }

    /// The current validator set: hand it to the PBFT replica after a batch that changed it.
    pub fn validator_set(&self) -> &ValidatorSet {
        &self.validators.set
    }

    /// How many times the validator set changed since genesis.
    pub fn validator_epoch(&self) -> u64 {
        self.validators.epoch
    }

    /// An address's account (an empty one if it never held tokens or signed).
    pub fn account(&self, address: &Address) -> Account {
        self.accounts.get(address).copied().unwrap_or_default()
    }

    /// The nonce the address's next transaction must carry.
    pub fn next_nonce(&self, address: &Address) -> u64 {
        self.account(address).nonce
    }

    /// A device's record.
    pub fn device(&self, id: &DeviceId) -> Option<&OwnershipRecord> {
        self.devices.get(id)
    }

    /// A vendor's record.
    pub fn vendor(&self, id: &VendorId) -> Option<&VendorRecord> {
        self.vendors.get(id)
    }

    /// The anchor at a sequence.
    pub fn anchor(&self, sequence: u64) -> Option<&AnchorRecord> {
        self.anchors.get(&sequence)
    }

    /// A plan's escrow.
    pub fn escrow(&self, plan_id: &Hash) -> Option<&Escrow> {
        self.plans.get(plan_id)
    }

    /// All accounts in address order.
    pub fn accounts(&self) -> impl Iterator<Item = (&Address, &Account)> {
        self.accounts.iter()
    }

    /// All escrows in plan-id order.
    pub fn escrows(&self) -> impl Iterator<Item = (&Hash, &Escrow)> {
        self.plans.iter()
    }

    /// All devices in id order.
    pub fn devices(&self) -> impl Iterator<Item = (&DeviceId, &OwnershipRecord)> {
        self.devices.iter()
    }

    /// Number of records under the root.
    pub fn state_len(&self) -> usize {
        self.tree.len()
    }

    /// The encoding of the record at `key`, if there is one.
    pub fn value(&self, key: &StateKey) -> Option<Vec<u8>> {
        match key {
            StateKey::Meta => Some(self.meta.encode_to_vec()),
            StateKey::Validators => Some(self.validators.encode_to_vec()),
            StateKey::Account(a) => self.accounts.get(a).map(Encode::encode_to_vec),
            StateKey::Vendor(v) => self.vendors.get(v).map(Encode::encode_to_vec),
            StateKey::Device(d) => self.devices.get(d).map(Encode::encode_to_vec),
            StateKey::Anchor(s) => self.anchors.get(s).map(Encode::encode_to_vec),
            StateKey::Plan(p) => self.plans.get(p).map(Encode::encode_to_vec),
        }
    }

    /// The record at `key` (or its absence) with a proof against [`Ledger::root`].
    pub fn prove(&self, key: &StateKey) -> Result<EntryProof, ProofError> {
        Ok(EntryProof {
            key: *key,
            value: self.value(key),
            proof: self.tree.prove_hashed(&key.key_hash())?,
        })
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
    pub fn verify(&self, root: &Hash) -> Result<(), ProofError> {
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
