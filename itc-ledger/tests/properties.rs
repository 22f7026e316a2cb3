//! Property tests: random sequences of valid and invalid transactions against a small model
//! (balances, nonces, owners, grants, escrows), the supply and one-owner invariants, proofs for
//! any key against the root they were made for (and no other), determinism, and decoders that
//! never panic and accept only canonical bytes.
#![cfg(feature = "alloc")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use itc_crypto::{Address, Decode, Encode, Hash, PublicKey, SecretKey};
use itc_ledger::system::{Payouts, SignedTransaction as Stx, SystemTx};
use itc_ledger::tx::{AccountCall, AccountTx, SignedAccountTx};
use itc_ledger::{
    Actions, DeviceId, EntryProof, Escrow, Grant, Ledger, OwnershipRecord, StateKey, StateProof,
    VendorId, VendorRecord,
};
use proptest::prelude::*;

/// Signers: the five users and the vendor (index 5).
const ACTORS: usize = USERS + 1;
const DEVICES: u32 = 4;
const PLANS: u8 = 2;

#[derive(Debug, Clone)]
enum Op {
    Transfer {
        from: usize,
        to: usize,
        amount: u64,
        skew: i8,
        corrupt: bool,
    },
    Register {
        device: u32,
        owner: Option<usize>,
        by_vendor: bool,
    },
    // `signer: None` means "the device's current owner" (the interesting case).
    Handover {
        signer: Option<usize>,
        device: u32,
        to: usize,
    },
    Grant {
        signer: Option<usize>,
        device: u32,
        grantee: usize,
        ttl: i8,
        actions: u32,
    },
    Revoke {
        signer: Option<usize>,
        device: u32,
        grantee: usize,
    },
    Fund {
        plan: u8,
        amount: u64,
    },
    Settle {
        plan: u8,
        exact: bool,
    },
    Garbage(Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    let actor = 0..ACTORS;
    let skew = prop_oneof![8 => Just(0i8), 1 => Just(1i8), 1 => Just(-1i8)];
    let signer = prop_oneof![4 => Just(None), 1 => actor.clone().prop_map(Some)];
    let grantee = 0..3usize;
    prop_oneof![
        6 => (actor.clone(), 0..ACTORS + 2, 0u64..1_400, skew, proptest::bool::weighted(0.1))
            .prop_map(|(from, to, amount, skew, corrupt)| Op::Transfer { from, to, amount, skew, corrupt }),
        2 => (0..DEVICES, proptest::option::of(0..USERS), proptest::bool::weighted(0.8))
            .prop_map(|(device, owner, by_vendor)| Op::Register { device, owner, by_vendor }),
        2 => (signer.clone(), 0..DEVICES, actor.clone())
            .prop_map(|(signer, device, to)| Op::Handover { signer, device, to }),
        4 => (signer.clone(), 0..DEVICES, grantee.clone(), -2i8..6, 0u32..4)
            .prop_map(|(signer, device, grantee, ttl, actions)| Op::Grant { signer, device, grantee, ttl, actions }),
        3 => (signer, 0..DEVICES, grantee)
            .prop_map(|(signer, device, grantee)| Op::Revoke { signer, device, grantee }),
        2 => (0..PLANS, 0u64..300).prop_map(|(plan, amount)| Op::Fund { plan, amount }),
        1 => (0..PLANS, proptest::bool::weighted(0.7)).prop_map(|(plan, exact)| Op::Settle { plan, exact }),
        1 => proptest::collection::vec(any::<u8>(), 0..120).prop_map(Op::Garbage),
    ]
}

/// What the ledger should hold, tracked independently of it.
#[derive(Default)]
struct Model {
    balances: BTreeMap<Address, u64>,
    nonces: BTreeMap<Address, u64>,
    owners: BTreeMap<DeviceId, PublicKey>,
    revocations: BTreeMap<DeviceId, u32>,
    grants: BTreeMap<(DeviceId, PublicKey), u64>,
    escrows: BTreeMap<Hash, (u64, bool)>,
}

struct Sim {
    w: World,
    actors: Vec<SecretKey>,
    extra: Vec<Address>,
    model: Model,
    roots: Vec<Hash>,
    log: Vec<Vec<u8>>,
}

fn plan_id(p: u8) -> Hash {
    Hash([0xa0 + p; 32])
}

impl Sim {
    fn new() -> Self {
        let w = world();
        let mut actors = w.users.clone();
        actors.push(w.vendor.clone());
        let mut model = Model::default();
        for (a, acct) in w.ledger.accounts() {
            model.balances.insert(*a, acct.balance);
        }
        let roots = vec![w.ledger.root()];
        Sim {
            w,
            actors,
            extra: vec![addr(&key(900)), addr(&key(901))],
            model,
            roots,
            log: vec![],
        }
    }

    fn address(&self, i: usize) -> Address {
        self.actors
            .get(i)
            .map_or_else(|| self.extra[i - ACTORS], addr)
    }

    fn sign(&self, signer: usize, skew: i8, call: AccountCall) -> Stx {
        let k = &self.actors[signer];
        let nonce = self
            .w
            .ledger
            .next_nonce(&addr(k))
            .wrapping_add_signed(i64::from(skew));
        let tx = AccountTx {
            signer: k.public_key(),
            nonce,
            call,
        };
        Stx::Account(tx.sign(CHAIN, k).unwrap())
    }

    /// The actor index for a device op's signer: the given one, or the current owner.
    fn resolve(&self, signer: Option<usize>, device: &DeviceId) -> usize {
        signer.unwrap_or_else(|| {
            let owner = self.model.owners.get(device);
            self.actors
                .iter()
                .position(|k| Some(&k.public_key()) == owner)
                .unwrap_or(0)
        })
    }

    fn bal(&self, a: &Address) -> u64 {
        self.model.balances.get(a).copied().unwrap_or(0)
    }

    /// Runs one op; checks the receipt against the model's prediction and updates the model.
    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let height = self.w.ledger.height() + 1;
        let vendor = ACTORS - 1;
        let (bytes, expect_ok): (Vec<u8>, bool) = match op {
            Op::Transfer {
                from,
                to,
                amount,
                skew,
                corrupt,
            } => {
                let to_addr = self.address(*to);
                let mut tx = self.sign(
                    *from,
                    *skew,
                    AccountCall::Transfer {
                        to: to_addr,
                        amount: *amount,
                    },
                );
                if *corrupt {
                    if let Stx::Account(t) = &mut tx {
                        t.signature.0[40] ^= 0x10;
                    }
                }
                let ok = *skew == 0
                    && !*corrupt
                    && *amount > 0
                    && self.bal(&addr(&self.actors[*from])) >= *amount;
                (tx.encode_to_vec(), ok)
            }
            Op::Register {
                device,
                owner,
                by_vendor,
            } => {
                let signer = if *by_vendor {
                    vendor
                } else {
                    owner.unwrap_or(0)
                };
                let call = AccountCall::RegisterDevice {
                    vendor: VENDOR,
                    device_key: device_key(*device),
                    model: 1,
                    owner: owner.map(|o| self.actors[o].public_key()),
                };
                let id = DeviceId::from_key(&device_key(*device));
                let ok = *by_vendor && !self.model.owners.contains_key(&id);
                (self.sign(signer, 0, call).encode_to_vec(), ok)
            }
            Op::Handover { signer, device, to } => {
                let id = DeviceId::from_key(&device_key(*device));
                let signer = &self.resolve(*signer, &id);
                let call = AccountCall::TransferOwnership {
                    device: id,
                    new_owner: self.actors[*to].public_key(),
                };
                let ok = self.model.owners.get(&id) == Some(&self.actors[*signer].public_key());
                (self.sign(*signer, 0, call).encode_to_vec(), ok)
            }
            Op::Grant {
                signer,
                device,
                grantee,
                ttl,
                actions,
            } => {
                let id = DeviceId::from_key(&device_key(*device));
                let signer = &self.resolve(*signer, &id);
                let expires_at = height.wrapping_add_signed(i64::from(*ttl));
                let grant = Grant {
                    grantee: self.actors[*grantee].public_key(),
                    actions: Actions::from_bits(*actions),
                    expires_at,
                };
                let ok = self.model.owners.get(&id) == Some(&self.actors[*signer].public_key())
                    && *ttl > 0
                    && *actions != 0;
                (
                    self.sign(*signer, 0, AccountCall::GrantAccess { device: id, grant })
                        .encode_to_vec(),
                    ok,
                )
            }
            Op::Revoke {
                signer,
                device,
                grantee,
            } => {
                let id = DeviceId::from_key(&device_key(*device));
                let signer = &self.resolve(*signer, &id);
                let g = self.actors[*grantee].public_key();
                let ok = self.model.owners.get(&id) == Some(&self.actors[*signer].public_key())
                    && self.model.grants.contains_key(&(id, g));
                (
                    self.sign(
                        *signer,
                        0,
                        AccountCall::RevokeAccess {
                            device: id,
                            grantee: g,
                        },
                    )
                    .encode_to_vec(),
                    ok,
                )
            }
            Op::Fund { plan, amount } => {
                let call = AccountCall::FundPlan {
                    plan_id: plan_id(*plan),
                    vendor: VENDOR,
                    amount: *amount,
                };
                let settled = self.model.escrows.get(&plan_id(*plan)).is_some_and(|e| e.1);
                let ok = *amount > 0 && !settled && self.bal(&addr(&self.w.vendor)) >= *amount;
                (self.sign(vendor, 0, call).encode_to_vec(), ok)
            }
            Op::Settle { plan, exact } => {
                let held = self.model.escrows.get(&plan_id(*plan)).map_or(0, |e| e.0);
                let total = if *exact { held } else { held + 1 };
                // Split among users 0..3 (fewer when the amount is small).
                let mut payouts = vec![];
                let mut left = total;
                for i in 0..3u64 {
                    let share = if i == 2 { left } else { total / 3 };
                    if share > 0 {
                        payouts.push((addr(&self.actors[i as usize]), share));
                    }
                    left -= share;
                }
                let payouts = Payouts::new(payouts).unwrap();
                let tx = self
                    .w
                    .b
                    .settle_plan(
                        plan_id(*plan),
                        payouts,
                        &self.w.set,
                        &self.w.validators[..3],
                    )
                    .unwrap();
                let ok = *exact
                    && self
                        .model
                        .escrows
                        .get(&plan_id(*plan))
                        .is_some_and(|e| !e.1);
                (tx.encode_to_vec(), ok)
            }
            Op::Garbage(b) => (b.clone(), false),
        };
        let result = run_bytes(&mut self.w.ledger, &bytes);
        prop_assert_eq!(result.is_ok(), expect_ok, "op {:?} gave {:?}", op, result);
        if result.is_ok() {
            self.apply_to_model(&bytes, height);
        }
        self.log.push(bytes);
        self.roots.push(self.w.ledger.root());
        self.check_invariants()
    }

    fn apply_to_model(&mut self, bytes: &[u8], height: u64) {
        let m = &mut self.model;
        match Stx::decode_bytes(bytes).unwrap() {
            Stx::Account(SignedAccountTx { tx, .. }) => {
                let from = Address::from_public_key(&tx.signer);
                *m.nonces.entry(from).or_default() += 1;
                match tx.call {
                    AccountCall::Transfer { to, amount } => {
                        *m.balances.get_mut(&from).unwrap() -= amount;
                        *m.balances.entry(to).or_default() += amount;
                    }
                    AccountCall::RegisterDevice {
                        device_key, owner, ..
                    } => {
                        let id = DeviceId::from_key(&device_key);
                        m.owners.insert(id, owner.unwrap_or(tx.signer));
                        m.revocations.insert(id, 0);
                    }
                    AccountCall::TransferOwnership { device, new_owner } => {
                        m.owners.insert(device, new_owner);
                        *m.revocations.get_mut(&device).unwrap() += 1;
                        m.grants.retain(|(d, _), _| *d != device);
                    }
                    AccountCall::GrantAccess { device, grant } => {
                        m.grants.retain(|(d, _), exp| *d != device || *exp > height);
                        m.grants.insert((device, grant.grantee), grant.expires_at);
                    }
                    AccountCall::RevokeAccess { device, grantee } => {
                        m.grants.remove(&(device, grantee));
                        *m.revocations.get_mut(&device).unwrap() += 1;
                    }
                    AccountCall::FundPlan {
                        plan_id, amount, ..
                    } => {
                        *m.balances.get_mut(&from).unwrap() -= amount;
                        m.escrows.entry(plan_id).or_insert((0, false)).0 += amount;
                    }
                }
            }
            Stx::System(SystemTx {
                call: itc_ledger::SystemCall::SettlePlan { plan_id, payouts },
                ..
            }) => {
                for p in payouts.as_slice() {
                    *m.balances.entry(p.to).or_default() += p.amount;
                }
                m.escrows.insert(plan_id, (0, true));
            }
            Stx::System(_) => {}
        }
    }

    fn check_invariants(&self) -> Result<(), TestCaseError> {
        let l = &self.w.ledger;
        // Tokens are neither created nor destroyed.
        prop_assert_eq!(tokens(l), u128::from(l.total_supply()));
        // Balances and nonces match the model exactly (so none went negative or skipped).
        for (a, acct) in l.accounts() {
            prop_assert_eq!(acct.balance, self.bal(a));
            prop_assert_eq!(acct.nonce, self.model.nonces.get(a).copied().unwrap_or(0));
        }
        // One owner per device, the one the model says; revocations and grants agree.
        let devices: BTreeSet<DeviceId> = l.devices().map(|(d, _)| *d).collect();
        prop_assert_eq!(
            &devices,
            &self.model.owners.keys().copied().collect::<BTreeSet<_>>()
        );
        for (d, rec) in l.devices() {
            prop_assert_eq!(Some(&rec.owner), self.model.owners.get(d));
            prop_assert_eq!(Some(&rec.revocations), self.model.revocations.get(d));
            let grants: BTreeMap<PublicKey, u64> = rec
                .grants()
                .iter()
                .map(|g| (g.grantee, g.expires_at))
                .collect();
            let model: BTreeMap<PublicKey, u64> = self
                .model
                .grants
                .iter()
                .filter(|((dd, _), _)| dd == d)
                .map(|((_, g), e)| (*g, *e))
                .collect();
            prop_assert_eq!(grants, model);
        }
        for (p, e) in l.escrows() {
            let (held, settled) = self.model.escrows[p];
            prop_assert_eq!(
                *e,
                Escrow {
                    vendor: VENDOR,
                    held,
                    settled
                }
            );
        }
        Ok(())
    }

    fn all_keys(&self) -> Vec<StateKey> {
        let mut keys = vec![
            StateKey::Meta,
            StateKey::Validators,
            StateKey::Vendor(VENDOR),
            StateKey::Vendor(VendorId(77)),
        ];
        keys.extend((0..ACTORS + 2).map(|i| StateKey::Account(self.address(i))));
        keys.extend((0..DEVICES + 1).map(|d| StateKey::Device(DeviceId::from_key(&device_key(d)))));
        keys.extend((0..PLANS + 1).map(|p| StateKey::Plan(plan_id(p))));
        keys.extend((0..2).map(StateKey::Anchor));
        keys
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_transaction_sequences_keep_the_invariants(ops in proptest::collection::vec(op(), 1..60)) {
        let mut sim = Sim::new();
        for op in &ops {
            sim.step(op)?;
        }
        // Every key, present or absent, proves against the final root and no earlier one.
        let root = sim.w.ledger.root();
        for key in sim.all_keys() {
            let entry = sim.w.ledger.prove(&key).unwrap();
            prop_assert!(entry.verify(&root).is_ok(), "{:?}", key);
            let wire = EntryProof::decode_bytes(&entry.encode_to_vec()).unwrap();
            prop_assert_eq!(&wire, &entry);
            for old in sim.roots.iter().filter(|r| **r != root) {
                prop_assert!(entry.verify(old).is_err());
            }
            // The opposite claim fails against the right root.
            let flipped = match &entry.value {
                Some(_) => None,
                None => Some(vec![0u8]),
            };
            prop_assert!(entry.proof.verify_entry(&root, &key, flipped.as_deref()).is_err());
        }
        // Replaying the same bytes at the same heights reproduces the same root.
        let mut replay = world().ledger;
        for (h, bytes) in sim.log.iter().enumerate() {
            replay.execute(std::slice::from_ref(bytes), h as u64 + 1).unwrap();
        }
        prop_assert_eq!(replay.root(), root);
    }
}

fn record_strategy() -> impl Strategy<Value = OwnershipRecord> {
    (
        0u32..50,
        0u32..50,
        any::<u32>(),
        any::<u32>(),
        proptest::collection::btree_map(0u32..50, (1u32.., any::<u64>()), 0..=8),
    )
        .prop_map(|(dk, owner, model, epoch, grants)| {
            let mut r = OwnershipRecord::new(
                key(dk).public_key(),
                VendorId(model % 7),
                model,
                key(owner).public_key(),
            );
            r.revocations = epoch;
            for (g, (actions, expires_at)) in grants {
                r.upsert_grant(Grant {
                    grantee: key(g).public_key(),
                    actions: Actions::from_bits(actions),
                    expires_at,
                })
                .unwrap();
            }
            r
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn records_and_transactions_round_trip(rec in record_strategy(), nonce: u64, amount: u64) {
        let bytes = rec.encode_to_vec();
        prop_assert_eq!(bytes.len(), rec.encoded_len());
        prop_assert_eq!(OwnershipRecord::decode_bytes(&bytes).unwrap(), rec.clone());
        let k = key(3);
        let calls = [
            AccountCall::Transfer { to: Address([9; 20]), amount },
            AccountCall::GrantAccess { device: rec.device_id(), grant: Grant { grantee: rec.owner, actions: Actions::READ, expires_at: amount } },
            AccountCall::RegisterDevice { vendor: rec.vendor, device_key: rec.device_key, model: rec.model, owner: Some(rec.owner) },
        ];
        for call in calls {
            let tx = AccountTx { signer: k.public_key(), nonce, call }.sign(CHAIN, &k).unwrap();
            let wire = Stx::Account(tx).encode_to_vec();
            let back = Stx::decode_bytes(&wire).unwrap();
            prop_assert_eq!(back, Stx::Account(tx));
        }
    }

    /// Arbitrary bytes never panic any decoder, and whatever decodes re-encodes to the very
    /// same bytes (each value has exactly one encoding).
    #[test]
    fn decoders_never_panic_and_are_canonical(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        fn canon<T: Decode + Encode>(data: &[u8]) -> Result<(), TestCaseError> {
            if let Ok(v) = T::decode_bytes(data) {
                prop_assert_eq!(v.encode_to_vec(), data.to_vec());
            }
            Ok(())
        }
        canon::<Stx>(&data)?;
        canon::<StateProof>(&data)?;
        canon::<OwnershipRecord>(&data)?;
        canon::<VendorRecord>(&data)?;
        canon::<EntryProof>(&data)?;
        canon::<StateKey>(&data)?;
        canon::<Payouts>(&data)?;
        canon::<itc_ledger::ChainMeta>(&data)?;
        canon::<Escrow>(&data)?;
    }

    /// A structurally valid proof with random contents verifies against nothing but the root
    /// it computes, and decoding the mutated bytes of a real proof never panics.
    #[test]
    fn mutated_proofs_fail(bit in 0usize..2048, k in 0u32..30) {
        let w = world();
        let key = StateKey::Account(addr(&common::key(k)));
        let entry = w.ledger.prove(&key).unwrap();
        let mut bytes = entry.proof.encode_to_vec();
        prop_assume!(bit < bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        if let Ok(p) = StateProof::decode_bytes(&bytes) {
            prop_assert!(p.verify_entry(&w.ledger.root(), &key, entry.value.as_deref()).is_err());
        }
    }

    /// Arbitrary batches of junk: every transaction gets a Malformed-or-rejected receipt and the
    /// state ends exactly where an empty batch leaves it.
    #[test]
    fn junk_batches_change_nothing(batch in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..8)) {
        let w = world();
        let mut a = w.ledger.clone();
        let mut b = w.ledger.clone();
        let out = a.execute(&batch, 1).unwrap();
        prop_assert!(out.receipts.iter().all(|r| r.result.is_err()));
        prop_assert_eq!(out.state_root, b.execute::<Vec<u8>>(&[], 1).unwrap().state_root);
    }
}

#[test]
fn genesis_is_provable_at_scale() {
    // 2,000 accounts at genesis: every account and a few absent ones prove against the root.
    let set = world().set;
    let balances: Vec<(Address, u64)> = (0..2_000u32)
        .map(|i| {
            let mut a = [0u8; 20];
            a[..4].copy_from_slice(&i.to_be_bytes());
            (Address(a), u64::from(i) + 1)
        })
        .collect();
    let l = Ledger::from_genesis(&itc_ledger::GenesisState {
        chain_id: 1,
        validators: set,
        balances: balances.clone(),
        vendors: vec![],
    })
    .unwrap();
    let root = l.root();
    let mut longest = 0;
    for (a, _) in balances.iter().step_by(7) {
        let e = l.prove(&StateKey::Account(*a)).unwrap();
        e.verify(&root).unwrap();
        longest = longest.max(e.proof.encode_to_vec().len());
    }
    // ~11 levels at 2,000 keys: well under a kilobyte.
    assert!(longest < 700, "longest proof {longest} bytes");
    let absent = l.prove(&StateKey::Account(Address([0xff; 20]))).unwrap();
    assert_eq!(absent.value, None);
    absent.verify(&root).unwrap();
}
