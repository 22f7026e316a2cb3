//! Shared fixtures for the integration tests: plans, devices and their records.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use itc_chaincode::budget::PrivacyBudget;
use itc_chaincode::contribution::Contribution;
use itc_chaincode::executor::LocalExecutor;
use itc_chaincode::plan::{Aggregation, Filter, Fuel, Plan, Policy, Privacy, Record, ValidPlan};
use itc_crypto::{Address, Hash, SecretKey};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

pub const KIND: u32 = 7;
pub const DEADLINE: u64 = 1_000_000;
pub const BUDGET: u64 = 1_000_000_007;
pub const VENDOR: Address = Address([0xaa; 20]);
pub const ACTIVATION: Hash = Hash([0x11; 32]);

pub fn plan(aggregation: Aggregation, k: u32, max_records: u32) -> Plan {
    Plan {
        vendor: VENDOR,
        nonce: 42,
        filter: Filter {
            kinds: vec![KIND],
            since_ms: 0,
            until_ms: u64::MAX,
            tags_all: 0,
            max_records,
        },
        aggregation,
        privacy: Privacy {
            epsilon_milli: 1000,
            min_contributors: k,
        },
        budget: BUDGET,
        deadline_ms: DEADLINE,
        fuel: Fuel {
            per_record: 16,
            per_plan: 1_000_000,
        },
    }
}

pub fn valid(p: Plan) -> ValidPlan {
    p.validate(&Policy::default(), ACTIVATION, 0).unwrap()
}

/// A device's stored data: owned records (kinds, values, keys).
#[derive(Clone, Debug)]
pub struct DeviceData {
    pub kinds: Vec<u32>,
    pub fields: Vec<[i64; 2]>,
    pub keys: Vec<Vec<u8>>,
}

impl DeviceData {
    pub fn records(&self) -> Vec<Record<'_>> {
        (0..self.kinds.len())
            .map(|i| Record {
                kind: self.kinds[i],
                time_ms: 10 + i as u64,
                tags: 0,
                fields: &self.fields[i],
                key: &self.keys[i],
            })
            .collect()
    }

    /// Records of kind KIND (the ones plans match).
    pub fn matching(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.kinds.len()).filter(|i| self.kinds[*i] == KIND)
    }
}

/// Random device data: `n` records, 3 in 4 of kind KIND, field 0 in [-50, 500), keys drawn from
/// a universe of `universe` ids.
pub fn device_data(rng: &mut ChaCha20Rng, n: usize, universe: u64) -> DeviceData {
    let mut d = DeviceData {
        kinds: vec![],
        fields: vec![],
        keys: vec![],
    };
    for _ in 0..n {
        d.kinds.push(if rng.next_u32() % 4 == 0 { 3 } else { KIND });
        d.fields.push([
            (rng.next_u64() % 550) as i64 - 50,
            (rng.next_u64() % 100) as i64,
        ]);
        d.keys
            .push(format!("store-{}", rng.next_u64() % universe).into_bytes());
    }
    d
}

pub struct Device {
    pub key: SecretKey,
    pub exec: LocalExecutor<SecretKey>,
    pub payout: Address,
    pub data: DeviceData,
}

pub fn devices(seed: u64, count: usize, records: usize, universe: u64) -> Vec<Device> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let key = SecretKey::generate(&mut rng);
            let payout = Address::from_public_key(&key.public_key());
            let n = 1 + (rng.next_u64() as usize % records);
            Device {
                exec: LocalExecutor::new(key.clone(), PrivacyBudget::default(), Policy::default()),
                key,
                payout,
                data: device_data(&mut rng, n, universe),
            }
        })
        .collect()
}

pub fn contribute(d: &mut Device, p: &ValidPlan, now: u64, seed: u64) -> Contribution {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let records = d.data.records();
    d.exec
        .run(p, records.iter().copied(), d.payout, now, &mut rng)
        .unwrap()
}
