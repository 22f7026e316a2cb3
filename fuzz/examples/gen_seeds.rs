//! Writes valid examples of every fuzzed input into `<out>/<target>/` so campaigns start deep.
//!
//! Run with `--cfg fuzzing` (see `run-all.sh`) so signatures use the same stand-in as the fuzz
//! build; decoder seeds are `[selector byte] ++ encoding`, the selector being the type's index
//! in the target's `dispatch!` list (keep the two in step).
use std::fs;
use std::path::{Path, PathBuf};

use itc_crypto::quorum::{Validator, ValidatorSet};
use itc_crypto::{Address, Encode, Hash, MerkleTree, SecretKey, Signer};
use itc_pbft::cluster::{test_key, Cluster};
use itc_pbft::request::ClientId;
use itc_pbft::{Action, Config, ChainGenesis, Message, Replica, Request};

struct Out {
    dir: PathBuf,
    count: usize,
}

impl Out {
    fn put(&mut self, target: &str, selector: u8, value: &impl Encode) {
        let mut bytes = vec![selector];
        bytes.extend(value.encode_to_vec());
        self.raw(target, &bytes);
    }
    fn raw(&mut self, target: &str, bytes: &[u8]) {
        let dir = self.dir.join(target);
        fs::create_dir_all(&dir).unwrap();
        let name = format!("{:016x}", fxhash(bytes));
        fs::write(dir.join(name), bytes).unwrap();
        self.count += 1;
    }
}

fn fxhash(b: &[u8]) -> u64 {
    itc_crypto::keccak256(b).0[..8]
        .iter()
        .fold(0u64, |a, x| (a << 8) | u64::from(*x))
}

fn key(i: u8) -> SecretKey {
    let mut b = [0u8; 32];
    b[0] = 0x33;
    b[31] = i + 1;
    SecretKey::from_bytes(&b).unwrap()
}

/// A 4-replica network driven directly, recording every message (normal case, then a view
/// change after the primary goes silent).
fn pbft_messages() -> Vec<Message> {
    let keys: Vec<SecretKey> = (0..4).map(|i| test_key(i).unwrap()).collect();
    let set = ValidatorSet::new(keys.iter().map(|k| Validator {
        key: k.public_key(),
        power: 1,
    }))
    .unwrap();
    let genesis = ChainGenesis {
        validators: set.clone(),
        state_root: Hash::ZERO,
        timestamp_ms: 0,
    };
    let config = Config {
        batch_delay_ms: 0,
        checkpoint_interval: 2,
        ..Config::default()
    };
    let mut keys = keys;
    keys.sort_by_key(|k| set.index_of(&k.public_key()));
    let pubs: Vec<_> = keys.iter().map(|k| k.public_key()).collect();
    let mut nodes: Vec<Replica<SecretKey>> = keys
        .into_iter()
        .map(|k| Replica::new(config, k, &genesis).unwrap())
        .collect();
    let mut seen = Vec::new();
    let mut queue: std::collections::VecDeque<(usize, Message)> = Default::default();
    let mut roots = vec![Hash::ZERO; 4];
    let mut now = 1;
    let mut pump = |nodes: &mut Vec<Replica<SecretKey>>,
                    queue: &mut std::collections::VecDeque<(usize, Message)>,
                    i: usize,
                    now: u64,
                    seen: &mut Vec<Message>,
                    silent: Option<usize>| {
        let mut work = vec![i];
        while let Some(i) = work.pop() {
            let actions: Vec<Action> = nodes[i].drain_actions().collect();
            for a in actions {
                match a {
                    Action::Broadcast(m) => {
                        seen.push(m.clone());
                        for j in (0..4).filter(|j| *j != i) {
                            queue.push_back((j, m.clone()));
                        }
                    }
                    Action::Send { to, message } => {
                        seen.push(message.clone());
                        if let Some(j) = pubs.iter().position(|p| *p == to) {
                            queue.push_back((j, message));
                        }
                    }
                    Action::Commit(b) => {
                        let mut h =
                            itc_crypto::TaggedHasher::new(itc_pbft::cluster::HASH_CHAIN_TAG);
                        h.update(roots[i].as_bytes())
                            .update(b.header.batch_root.as_bytes());
                        roots[i] = h.finalize();
                        let _ = nodes[i]
                            .handle_executed(itc_pbft::Executed::new(b.header.height, roots[i]));
                        work.push(i);
                    }
                    _ => {}
                }
            }
        }
        while let Some((to, m)) = queue.pop_front() {
            if Some(to) == silent {
                continue;
            }
            let _ = nodes[to].handle_message(m, now);
            let actions: Vec<Action> = nodes[to].drain_actions().collect();
            for a in actions {
                match a {
                    Action::Broadcast(m) => {
                        seen.push(m.clone());
                        for j in (0..4).filter(|j| *j != to) {
                            queue.push_back((j, m.clone()));
                        }
                    }
                    Action::Send { to: peer, message } => {
                        seen.push(message.clone());
                        if let Some(j) = pubs.iter().position(|p| *p == peer) {
                            queue.push_back((j, message));
                        }
                    }
                    Action::Commit(b) => {
                        let mut h =
                            itc_crypto::TaggedHasher::new(itc_pbft::cluster::HASH_CHAIN_TAG);
                        h.update(roots[to].as_bytes())
                            .update(b.header.batch_root.as_bytes());
                        roots[to] = h.finalize();
                        let _ = nodes[to]
                            .handle_executed(itc_pbft::Executed::new(b.header.height, roots[to]));
                    }
                    _ => {}
                }
            }
        }
    };
    for r in 0..4u64 {
        for i in 0..4 {
            let _ = nodes[i].handle_request(Request::new(ClientId(7), r, vec![r as u8; 8]), now);
            pump(&mut nodes, &mut queue, i, now, &mut seen, None);
        }
        now += 10;
    }
    // The primary goes silent; backups time out and change view.
    let primary = (0..4).find(|i| nodes[*i].is_primary()).unwrap_or(0);
    let _ = nodes[(primary + 1) % 4].handle_request(Request::new(ClientId(8), 0, vec![9; 4]), now);
    for step in 0..6 {
        now += 20_000;
        for i in (0..4).filter(|i| *i != primary) {
            let _ = nodes[i].handle_timeout(now);
            pump(&mut nodes, &mut queue, i, now, &mut seen, Some(primary));
        }
        let _ = step;
    }
    seen
}

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "seeds".into());
    let mut o = Out {
        dir: Path::new(&dir).to_path_buf(),
        count: 0,
    };

    // ---- itc-crypto ----
    let k = key(0);
    let pk = k.public_key();
    o.put("decode_crypto", 0, &Address::from_public_key(&pk));
    o.put("decode_crypto", 1, &itc_crypto::keccak256(b"seed"));
    o.put("decode_crypto", 2, &pk);
    o.put(
        "decode_crypto",
        3,
        &k.sign(itc_crypto::DomainTag::new(b"itc/fuzz/seed/v1"), b"m")
            .unwrap(),
    );
    let tree = MerkleTree::from_leaves(&[b"a".as_slice(), b"b", b"c", b"d", b"e"]);
    for i in 0..5 {
        o.put("decode_crypto", 4, &tree.prove(i).unwrap());
    }
    let vset = ValidatorSet::new((0..4).map(|i| Validator {
        key: key(i).public_key(),
        power: u64::from(i) + 1,
    }))
    .unwrap();
    o.put("decode_crypto", 5, &Validator { key: pk, power: 3 });
    o.put("decode_crypto", 6, &vset);

    // ---- itc-pbft ----
    let msgs = pbft_messages();
    let mut kinds = std::collections::BTreeMap::new();
    for m in &msgs {
        let n = kinds.entry(m.kind()).or_insert(0usize);
        *n += 1;
        if *n > 6 {
            continue;
        }
        o.put("decode_pbft_message", 0, m);
        match m {
            Message::PrePrepare { pre_prepare, batch } => {
                o.put("decode_pbft_message", 3, pre_prepare);
                o.put("decode_pbft_message", 11, batch);
            }
            Message::Prepare(v) | Message::Commit(v) => {
                o.put("decode_pbft_message", 2, v);
            }
            Message::Checkpoint(c) => o.put("decode_pbft_message", 4, c),
            Message::ViewChange(vc) => o.put("decode_pbft_message", 7, vc),
            Message::NewView(nv) => o.put("decode_pbft_message", 8, nv),
            Message::BatchRequest(r) => o.put("decode_pbft_message", 13, r),
            Message::BatchResponse { batch, .. } => o.put("decode_pbft_message", 11, batch),
        }
    }
    eprintln!("pbft message kinds: {kinds:?}");
    let mut cluster = Cluster::with_equal_power(4).unwrap();
    for r in 0..6u64 {
        cluster.submit(Request::new(ClientId(1), r, vec![r as u8; 16]));
        cluster.run_for(50, 10);
    }
    if let Some(n) = cluster.node(0) {
        for b in n.blocks.iter().take(4) {
            o.put("decode_pbft_message", 9, b);
            o.put("decode_pbft_message", 11, &b.batch);
            for r in b.batch.requests() {
                o.put("decode_pbft_message", 10, r);
            }
            o.put("decode_pbft_certificate", 0, &b.header);
            o.put("decode_pbft_certificate", 1, &b.certificate);
        }
        o.put("decode_pbft_certificate", 4, n.replica.safety_record());
    }

    // ---- itc-dag ----
    let mut parents = itc_dag::TangleGenesis::roots().to_vec();
    for i in 0..6u64 {
        let payload = if i % 2 == 0 {
            itc_dag::Payload::data(&[i as u8; 12]).unwrap()
        } else {
            itc_dag::Payload::Transfer(itc_dag::Transfer {
                to: Address([i as u8; 20]),
                amount: 5,
                spend_nonce: i,
            })
        };
        let tx = itc_dag::TransactionBuilder::new(k.public_key(), i, 1_000 + i)
            .parents(&parents[parents.len() - 2..])
            .unwrap()
            .payload(payload.clone())
            .difficulty(0)
            .sign(&k)
            .unwrap();
        o.put("decode_dag", 0, &tx);
        o.put("decode_dag", 1, &tx.id());
        o.put("decode_dag", 2, &payload);
        parents.push(tx.id());
    }

    // ---- itc-ledger ----
    let b = itc_ledger::builder::TxBuilder::new(42);
    for i in 0..4u8 {
        let t = b
            .transfer(&key(i), u64::from(i), Address([i; 20]), 100)
            .unwrap();
        o.put("decode_ledger_tx", 5, &t);
        if let itc_ledger::SignedTransaction::Account(a) = &t {
            o.put("decode_ledger_tx", 2, a);
        }
    }
    let vendor = key(9);
    let genesis = itc_ledger::GenesisState {
        chain_id: 42,
        validators: vset.clone(),
        balances: (0..4)
            .map(|i| (Address::from_public_key(&key(i).public_key()), 1_000))
            .collect(),
        vendors: vec![(
            itc_ledger::VendorId(1),
            itc_ledger::VendorRecord {
                registry_key: vendor.public_key(),
                firmware_key: vendor.public_key(),
            },
        )],
    };
    let ledger = itc_ledger::Ledger::from_genesis(&genesis).unwrap();
    for i in 0..4u8 {
        let a = Address::from_public_key(&key(i).public_key());
        let sk = itc_ledger::StateKey::Account(a);
        o.put("decode_ledger_proof", 2, &sk);
        o.put("decode_ledger_proof", 3, &ledger.account(&a));
        if let Ok(p) = ledger.prove(&sk) {
            o.put("decode_ledger_proof", 1, &p);
        }
    }
    o.put("decode_ledger_proof", 6, ledger.meta());
    o.put("decode_ledger_proof", 9, &itc_ledger::VendorId(1));
    let rec = itc_ledger::OwnershipRecord::new(
        key(5).public_key(),
        itc_ledger::VendorId(1),
        9,
        key(6).public_key(),
    );
    o.put("decode_ledger_proof", 12, &rec);
    o.put("decode_ledger_proof", 8, &rec.device_id());

    // ---- itc-spv ----
    let mut chain = itc_spv::testkit::TestChain::new(4, 8);
    chain.extend(20);
    let anchor: itc_spv::TrustAnchor<16> = chain.anchor();
    o.put("decode_spv", 2, &anchor);
    let reqs = [
        itc_spv::Request::CertifiedHeader {
            height: 1,
            with_validators: false,
        },
        itc_spv::Request::CertifiedHeader {
            height: 9,
            with_validators: true,
        },
        itc_spv::Request::CertifiedHeader {
            height: 17,
            with_validators: true,
        },
        itc_spv::Request::Headers { from: 1, count: 8 },
        itc_spv::Request::HeaderProof {
            height: 3,
            leaf_count: 10,
        },
    ];
    for r in &reqs {
        o.put("decode_spv", 0, r);
        let resp: itc_spv::Response<16> = chain.server().answer(r);
        o.put("decode_spv", 1, &resp);
    }
    let (fork, _) = chain.fork_at(5);
    o.put("decode_spv", 6, &fork);

    // ---- itc-device-sdk ----
    let dev = itc_device_sdk::DeviceIdentity::new(key(5));
    for (i, action) in [itc_ledger::Actions::CONTROL, itc_ledger::Actions::READ]
        .into_iter()
        .enumerate()
    {
        let c = itc_device_sdk::Command::new(
            dev.device_id(),
            key(6).public_key(),
            action,
            b"on",
            i as u64,
            99,
        )
        .unwrap();
        o.put("decode_device", 0, &c);
        o.put("decode_device", 1, &c.sign(&key(6)).unwrap());
    }
    let m = itc_device_sdk::firmware::FirmwareManifest::for_image(
        vendor.public_key(),
        3,
        2,
        1,
        &[7u8; 300],
    );
    o.put("decode_device", 2, &m);
    o.put("decode_device", 3, &m.sign(&vendor).unwrap());

    // ---- itc-chaincode ----
    {
        use itc_chaincode::plan::{
            Aggregation, Clamp, Filter, Fuel, Plan, Policy, Privacy, Record,
        };
        use rand_core::SeedableRng;
        let aggs = [
            Aggregation::Count,
            Aggregation::Sum {
                field: 0,
                clamp: Clamp { lo: 0, bits: 8 },
            },
            Aggregation::Mean {
                field: 1,
                clamp: Clamp { lo: -50, bits: 10 },
            },
            Aggregation::DistinctCount { precision: 10 },
            Aggregation::RawFields { fields: vec![0, 1] },
        ];
        for agg in aggs {
            let plan = Plan {
                vendor: Address([0xaa; 20]),
                nonce: 42,
                filter: Filter {
                    kinds: vec![7],
                    since_ms: 0,
                    until_ms: u64::MAX,
                    tags_all: 0,
                    max_records: 8,
                },
                aggregation: agg.clone(),
                privacy: Privacy {
                    epsilon_milli: 1000,
                    min_contributors: 50,
                },
                budget: 1_000_000_007,
                deadline_ms: 1_000_000,
                fuel: Fuel {
                    per_record: 16,
                    per_plan: 1_000_000,
                },
            };
            o.put("decode_chaincode_plan", 0, &plan);
            o.put("decode_chaincode_plan", 3, &agg);
            o.put("decode_chaincode_plan", 4, &plan.filter);
            let Ok(valid) = plan.validate(&Policy::default(), Hash([0x11; 32]), 0) else {
                continue;
            };
            for i in 0..2u8 {
                let dk = key(20 + i);
                let payout = Address::from_public_key(&dk.public_key());
                let mut exec = itc_chaincode::executor::LocalExecutor::new(
                    dk,
                    itc_chaincode::budget::PrivacyBudget::default(),
                    Policy::default(),
                );
                let fields = [i64::from(i) * 10, 1];
                let records = [Record {
                    kind: 7,
                    time_ms: 10,
                    tags: 0,
                    fields: &fields,
                    key: b"k",
                }];
                let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(u64::from(i));
                if let Ok(c) = exec.run(&valid, records.iter().copied(), payout, 100, &mut rng) {
                    o.put("decode_chaincode_contribution", 0, &c);
                    o.put("decode_chaincode_contribution", 1, &c.header);
                    o.put("decode_chaincode_contribution", 3, &c.sealed);
                }
                o.put("decode_chaincode_contribution", 13, exec.ledger());
            }
        }
    }

    eprintln!("wrote {} seeds into {}", o.count, dir);
}
