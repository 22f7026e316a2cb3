//! Seeded simulation of validators driven only through `itc_chain::Validator`: a lossy,
//! reordering network, crash-restarts from the stores (also between a step's fsync and its
//! sends), and a validator rotation (one leaves, one joins) co-signed by the validators'
//! own keys.
//!
//! Every schedule checks: honest validators never commit different blocks at a height; a
//! restarted validator resumes at the tip it had with the same hashes; after the faults heal
//! every transaction commits; with a rotation, the new set certifies blocks and the removed
//! validator's votes no longer count; a light client anchored at genesis verifies the whole
//! chain served by a validator's full node.
//!
//! `cargo test -p itc-chain --test validator_sim` runs [`SCHEDULES`] seeds; a longer run:
//! `ITC_SIM_SCHEDULES=5000 cargo test --release -p itc-chain --test validator_sim`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

use itc_chain::cosign::{Approvals, SystemProposal};
use itc_chain::testkit::{set_of, validator_key, CHAIN_ID, GENESIS_MS};
use itc_chain::{
    BlockStore, MemoryStore, PeerMessage, Ready, Recipient, Store, Validator, ValidatorConfig,
};
use itc_crypto::quorum::ValidatorSet;
use itc_crypto::{Address, Decode, Encode, Hash, SecretKey};
use itc_ledger::builder::TxBuilder;
use itc_ledger::{
    DeviceId, GenesisState, OwnershipRecord, StateKey, SystemCall, VendorId, VendorRecord,
};
use itc_pbft::{CertifiedBlock, Config as PbftConfig};
use itc_spv::{Config as SpvConfig, Event as SpvEvent, LightClient, Request, TrustAnchor};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// Schedules in `cargo test`.
const SCHEDULES: u64 = 500;
/// Validators at genesis; one more joins in rotation schedules.
const N: usize = 4;
/// Epoch length (checkpoint interval).
const K: u64 = 4;
/// Transfers per schedule (each from its own funded account).
const TXS: usize = 12;
/// Simulated time after which no fault is injected (the heal).
const HEAL_MS: u64 = 3_000;
/// Simulated time limit of a schedule.
const LIMIT_MS: u64 = 60_000;
/// Event limit of a schedule (bounds the loop whatever happens).
const MAX_EVENTS: usize = 400_000;

fn user(i: usize) -> SecretKey {
    let mut b = [0x51u8; 32];
    b[31] = i as u8 + 1;
    SecretKey::from_bytes(&b).unwrap()
}

fn addr(k: &SecretKey) -> Address {
    Address::from_public_key(&k.public_key())
}

fn sink() -> Address {
    Address([0xee; 20])
}

#[derive(Debug, Clone, Copy)]
struct Faults {
    drop_pct: u64,
    max_delay_ms: u64,
    /// (host, crash time, down for ms, crash between fsync and send)
    crash: Option<(usize, u64, u64, bool)>,
    rotation: bool,
}

enum Event {
    Peer { from: usize, bytes: Vec<u8> },
    Fetch { from: usize, lo: u64, hi: u64 },
    Blocks(Vec<CertifiedBlock>),
    Tx(Vec<u8>),
    Propose(Box<SystemCall>),
    Restart,
}

struct Host {
    key: SecretKey,
    validator: Option<Validator<SecretKey>>,
    store: MemoryStore,
    approvals: Approvals,
    /// Height and tip hash when it crashed.
    crashed_at: Option<(u64, Hash)>,
}

struct Sim {
    rng: ChaCha8Rng,
    faults: Faults,
    config: ValidatorConfig,
    genesis: GenesisState,
    hosts: Vec<Host>,
    queue: BTreeMap<(u64, u64), (usize, Event)>,
    seq: u64,
    now: u64,
    /// The one header hash committed at each height (by anyone).
    committed: BTreeMap<u64, Hash>,
    crash_pending: Option<(usize, u64, u64, bool)>,
    /// The rotation's proposer and call: its operator proposes again after a restart (a
    /// co-signer's pending proposals live in memory only).
    proposal: Option<(usize, SystemCall)>,
    /// View-change messages each host sent.
    view_changes_sent: Vec<usize>,
}

/// The simulation's PBFT settings.
fn pbft() -> PbftConfig {
    PbftConfig {
        checkpoint_interval: K,
        batch_delay_ms: 2,
        view_change_timeout_ms: 400,
        max_view_change_timeout_ms: 3_200,
        fetch_timeout_ms: 200,
        ..PbftConfig::default()
    }
}

/// Genesis: the first `N` validators, every user funded, `vendors` admitted.
fn genesis(vendors: Vec<(VendorId, VendorRecord)>) -> GenesisState {
    let keys: Vec<SecretKey> = (0..N).map(validator_key).collect();
    GenesisState {
        chain_id: CHAIN_ID,
        validators: set_of(&keys),
        balances: (0..TXS).map(|i| (addr(&user(i)), 1_000)).collect(),
        vendors,
    }
}

impl Sim {
    fn new(seed: u64, faults: Faults) -> Sim {
        let config = ValidatorConfig::new(CHAIN_ID).with_pbft(pbft());
        Sim::with(seed, faults, config, genesis(Vec::new()))
    }

    /// A fault-free network (delays of at most 5 ms) and idle blocks every `interval_ms`,
    /// started past the heal.
    fn idle(seed: u64, interval_ms: u64, genesis: GenesisState) -> Sim {
        let config = ValidatorConfig::new(CHAIN_ID).with_pbft(PbftConfig {
            idle_block_interval_ms: interval_ms,
            ..pbft()
        });
        let faults = Faults {
            drop_pct: 0,
            max_delay_ms: 5,
            crash: None,
            rotation: false,
        };
        let mut sim = Sim::with(seed, faults, config, genesis);
        sim.now = GENESIS_MS + HEAL_MS;
        sim
    }

    fn with(seed: u64, faults: Faults, config: ValidatorConfig, genesis: GenesisState) -> Sim {
        let keys: Vec<SecretKey> = (0..=N).map(validator_key).collect();
        let hosts = keys
            .iter()
            .map(|k| {
                let (v, ready) = Validator::new(config, k.clone(), &genesis, GENESIS_MS).unwrap();
                let mut store = MemoryStore::new();
                store.commit(ready.writes).unwrap();
                Host {
                    key: k.clone(),
                    validator: Some(v),
                    store,
                    approvals: Approvals::new(),
                    crashed_at: None,
                }
            })
            .collect();
        Sim {
            rng: ChaCha8Rng::seed_from_u64(seed),
            faults,
            config,
            genesis,
            hosts,
            queue: BTreeMap::new(),
            seq: 0,
            now: GENESIS_MS,
            committed: BTreeMap::new(),
            crash_pending: faults.crash,
            proposal: None,
            view_changes_sent: vec![0; N + 1],
        }
    }

    fn at(&mut self, time: u64, to: usize, event: Event) {
        self.seq += 1;
        self.queue.insert((time, self.seq), (to, event));
    }

    fn healed(&self) -> bool {
        self.now >= GENESIS_MS + HEAL_MS
    }

    /// A network send: lost, delayed, sometimes duplicated before the heal.
    fn send(&mut self, from: usize, to: usize, event: impl Fn() -> Event) {
        self.send_with(from, to, false, event);
    }

    /// `reliable`: delayed and duplicated but never lost (co-signing messages, which the
    /// co-signer does not retransmit: a node sends them over a reliable stream).
    fn send_with(&mut self, from: usize, to: usize, reliable: bool, event: impl Fn() -> Event) {
        let healed = self.healed();
        if !healed && !reliable && self.rng.next_u64() % 100 < self.faults.drop_pct {
            return;
        }
        let max = if healed { 5 } else { self.faults.max_delay_ms };
        let delay = 1 + self.rng.next_u64() % max.max(1);
        self.at(self.now + delay, to, event());
        if !healed && self.rng.next_u64() % 50 == 0 {
            let again = self.now + delay + 1 + self.rng.next_u64() % max.max(1);
            self.at(again, to, event());
        }
        let _ = from;
    }

    fn host_of(&self, key: &itc_crypto::PublicKey) -> Option<usize> {
        self.hosts.iter().position(|h| h.key.public_key() == *key)
    }

    /// The integrator's loop for one step: fsync the writes, then (unless the host crashes
    /// right here) send.
    fn finish(&mut self, i: usize, ready: Ready) {
        let Ready {
            writes,
            messages,
            fetches,
            certified,
            committed,
            refused,
            ..
        } = ready;
        if std::env::var("ITC_SIM_TRACE").is_ok() {
            for e in &refused {
                eprintln!("t={} host {i} refused: {e}", self.now - GENESIS_MS);
            }
            for c in &committed {
                eprintln!(
                    "t={} host {i} committed {} rotated {:?}",
                    self.now - GENESIS_MS,
                    c.height,
                    c.rotated_to.is_some()
                );
            }
        }
        self.hosts[i].store.commit(writes).unwrap();
        for c in &committed {
            let prior = self.committed.insert(c.height, c.header_hash);
            assert!(
                prior.is_none_or(|p| p == c.header_hash),
                "two blocks committed at height {}",
                c.height
            );
        }
        if let Some((host, time, down, mid_step)) = self.crash_pending {
            if host == i && self.now >= time && mid_step {
                self.crash(i, down);
                return;
            }
        }
        let Some(v) = self.hosts[i].validator.as_ref() else {
            return;
        };
        let peers: Vec<usize> = v
            .replica()
            .validators()
            .unwrap_or(v.validators())
            .validators()
            .iter()
            .filter_map(|m| self.host_of(&m.key))
            .filter(|j| *j != i)
            .collect();
        for out in messages {
            if matches!(
                out.message,
                PeerMessage::Consensus(itc_pbft::Message::ViewChange(_))
            ) {
                self.view_changes_sent[i] += 1;
            }
            let reliable = matches!(out.message, PeerMessage::Cosign(_));
            let bytes = out.message.encode_to_vec();
            let targets: Vec<usize> = match out.to {
                Recipient::One(k) => self.host_of(&k).into_iter().collect(),
                Recipient::Validators => peers.clone(),
            };
            for j in targets {
                let b = bytes.clone();
                self.send_with(i, j, reliable, move || Event::Peer {
                    from: i,
                    bytes: b.clone(),
                });
            }
        }
        for f in fetches {
            if let Some(j) = self.host_of(&f.peer) {
                self.send(i, j, || Event::Fetch {
                    from: i,
                    lo: f.from,
                    hi: f.to,
                });
            }
        }
        for tx in certified {
            let bytes = tx.encode_to_vec();
            for j in peers.iter().copied().chain([i]) {
                let b = bytes.clone();
                self.send(i, j, move || Event::Tx(b.clone()));
            }
        }
    }

    fn crash(&mut self, i: usize, down: u64) {
        self.crash_pending = None;
        let h = &mut self.hosts[i];
        let v = h.validator.take().unwrap();
        h.crashed_at = Some((v.height(), v.node().tip_hash()));
        let when = self.now + down;
        self.at(when, i, Event::Restart);
    }

    fn deliver(&mut self, i: usize, event: Event) {
        let now = self.now;
        if let Event::Restart = event {
            let h = &mut self.hosts[i];
            let v = Validator::restore(self.config, h.key.clone(), &self.genesis, &h.store, now)
                .unwrap();
            let (height, hash) = h.crashed_at.take().unwrap();
            // Nothing committed before the crash changed.
            assert!(v.height() >= height);
            assert_eq!(h.store.header(height).unwrap().unwrap().hash(), hash);
            h.validator = Some(v);
            let ready = h.validator.as_mut().unwrap().take_ready();
            self.finish(i, ready);
            if let Some((proposer, call)) = self.proposal.clone() {
                if proposer == i {
                    self.at(now + 50, i, Event::Propose(Box::new(call)));
                }
            }
            return;
        }
        let Some(v) = self.hosts[i].validator.as_mut() else {
            if let Event::Propose(call) = event {
                // The operator retries once its validator is back.
                self.at(now + 100, i, Event::Propose(call));
            }
            return; // down: the message is lost
        };
        let ready = match event {
            Event::Peer { from, bytes } => {
                let key = self.hosts[from].key.public_key();
                let approvals = &mut self.hosts[i].approvals.clone();
                let v = self.hosts[i].validator.as_mut().unwrap();
                v.handle_peer_bytes(key, &bytes, approvals, now)
            }
            Event::Fetch { from, lo, hi } => {
                let blocks =
                    Validator::<SecretKey>::serve_fetch(&self.hosts[i].store, lo, hi).unwrap();
                if !blocks.is_empty() {
                    self.send(i, from, || Event::Blocks(blocks.clone()));
                }
                return;
            }
            Event::Blocks(blocks) => {
                for b in blocks {
                    if v.handle_fetched_block(b, now).is_err() {
                        break;
                    }
                }
                v.take_ready()
            }
            Event::Tx(bytes) => {
                let _ = v.submit_transaction(&bytes, now);
                v.take_ready()
            }
            Event::Propose(call) => {
                let proposal = SystemProposal::new(CHAIN_ID, *call).unwrap();
                let approvals = &mut self.hosts[i].approvals.clone();
                let v = self.hosts[i].validator.as_mut().unwrap();
                let _ = v.propose_system(proposal, approvals);
                v.take_ready()
            }
            Event::Restart => unreachable!(),
        };
        self.finish(i, ready);
    }

    /// Runs events in time order until `done` or the limits.
    fn run(&mut self, done: impl Fn(&Sim) -> bool) -> bool {
        for _ in 0..MAX_EVENTS {
            if done(self) {
                return true;
            }
            if let Some((host, time, down, false)) = self.crash_pending {
                if self.now >= time {
                    if self.hosts[host].validator.is_some() {
                        self.crash(host, down);
                    } else {
                        self.crash_pending = None;
                    }
                }
            }
            let timer = self
                .hosts
                .iter()
                .enumerate()
                .filter_map(|(i, h)| h.validator.as_ref()?.poll_timeout().map(|t| (t, i)))
                .min();
            let message = self.queue.keys().next().copied();
            let next = match (timer, message) {
                (Some((t, _)), Some((m, _))) => t.min(m),
                (Some((t, _)), None) => t,
                (None, Some((m, _))) => m,
                (None, None) => return done(self),
            };
            if next > GENESIS_MS + LIMIT_MS {
                return false;
            }
            self.now = self.now.max(next);
            match (timer, message) {
                (Some((t, i)), m) if m.is_none_or(|(mt, _)| t <= mt) => {
                    let now = self.now;
                    let ready = self.hosts[i]
                        .validator
                        .as_mut()
                        .unwrap()
                        .handle_timeout(now);
                    self.finish(i, ready);
                }
                _ => {
                    let (_, (to, event)) = self.queue.pop_first().unwrap();
                    self.deliver(to, event);
                }
            }
        }
        false
    }

    fn honest_up(&self) -> impl Iterator<Item = &Validator<SecretKey>> {
        self.hosts.iter().filter_map(|h| h.validator.as_ref())
    }
}

fn faults_for(seed: u64) -> Faults {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let crash = (rng.next_u64() % 3 != 0).then(|| {
        (
            (rng.next_u64() % (N as u64)) as usize,
            GENESIS_MS + 100 + rng.next_u64() % 1_500,
            200 + rng.next_u64() % 1_500,
            rng.next_u64() % 2 == 0,
        )
    });
    Faults {
        drop_pct: rng.next_u64() % 12,
        max_delay_ms: 1 + rng.next_u64() % 40,
        crash,
        rotation: rng.next_u64() % 2 == 0,
    }
}

fn run_schedule(seed: u64) {
    let faults = faults_for(seed);
    let mut sim = Sim::new(seed, faults);
    let builder = TxBuilder::new(CHAIN_ID);
    let keys: Vec<SecretKey> = (0..=N).map(validator_key).collect();
    let new_set: ValidatorSet = set_of(&keys[1..=N]);
    let call = SystemCall::SetValidators {
        epoch: 1,
        validators: Box::new(new_set.clone()),
    };
    if faults.rotation {
        for h in &mut sim.hosts {
            h.approvals.approve(CHAIN_ID, &call);
        }
        sim.at(GENESIS_MS + 150, 1, Event::Propose(Box::new(call.clone())));
        sim.proposal = Some((1, call.clone()));
    }
    // Clients gossip every transaction to every validator of both sets.
    for t in 0..TXS {
        let tx = builder
            .transfer(&user(t), 0, sink(), 10)
            .unwrap()
            .encode_to_vec();
        let time = GENESIS_MS + 20 + 60 * t as u64;
        for j in 0..=N {
            sim.at(time, j, Event::Tx(tx.clone()));
        }
    }
    // Phase 1: every transfer (and the `SetValidators`) commits once the faults heal.
    let done = |s: &Sim| {
        s.healed()
            && s.hosts.iter().all(|h| h.validator.is_some())
            && s.honest_up().take(N).all(|v| {
                v.node().ledger().account(&sink()).balance == 10 * TXS as u64
                    && (!faults.rotation
                        || v.node().ledger().validator_set().hash() == new_set.hash())
            })
    };
    assert!(
        sim.run(done),
        "seed {seed} ({faults:?}): no liveness after the heal; (height, view, sink balance, rotated) {:?}",
        sim.honest_up()
            .map(|v| (
                v.height(),
                v.view(),
                v.node().ledger().account(&sink()).balance,
                v.validators().hash() == new_set.hash(),
                v.replica().is_view_active(),
                v.replica().pending_requests(),
                v.poll_timeout().map(|t| t.saturating_sub(GENESIS_MS))
            ))
            .collect::<Vec<_>>()
    );
    if faults.rotation {
        // Phase 2: more transfers until the next epoch boundary has named the new set and it
        // certifies blocks: the joiner signs, the removed validator's votes no longer count.
        let mut expected = 10 * TXS as u64;
        let mut rotated = false;
        for round in 1..=6u64 {
            let start = sim.now + 10;
            for t in 0..TXS {
                let tx = builder
                    .transfer(&user(t), round, sink(), 1)
                    .unwrap()
                    .encode_to_vec();
                for j in 0..=N {
                    sim.at(start + 40 * t as u64, j, Event::Tx(tx.clone()));
                }
            }
            expected += TXS as u64;
            assert!(
                sim.run(|s| s.honest_up().skip(1).all(|v| v
                    .node()
                    .ledger()
                    .account(&sink())
                    .balance
                    == expected)),
                "seed {seed}: transfers of round {round} do not commit"
            );
            let joiner = &sim.hosts[N];
            let tip = joiner.store.tip_height().unwrap().unwrap();
            let last = joiner.store.block(tip).unwrap().unwrap();
            if last.header.validator_set_hash == new_set.hash() {
                assert!(last.certificate.verify(&last.header, &new_set).is_ok());
                rotated = true;
                break;
            }
        }
        assert!(rotated, "seed {seed}: the new set never certified a block");
    }
    // A light client anchored at genesis verifies the chain a validator's full node serves.
    let host = &sim.hosts[1];
    let v = host.validator.as_ref().unwrap();
    let set = sim.genesis.validators.with_capacity::<8>().unwrap();
    let anchor = TrustAnchor::genesis(*v.node().genesis(), set);
    let mut device: LightClient<16, 8> =
        LightClient::new(anchor, SpvConfig::new(K), GENESIS_MS).unwrap();
    device.sync_to(v.height());
    let now = v.node().tip().timestamp_ms + 1;
    for _ in 0..10_000 {
        let Some(request) = device.poll_request() else {
            break;
        };
        let response = v.node().answer::<8, _>(&host.store, &request).unwrap();
        device.handle_response(&response, now).unwrap();
    }
    assert_eq!(device.tip().height(), v.height(), "seed {seed}");
}

#[test]
fn validators_agree_recover_and_rotate_under_faults() {
    let n = std::env::var("ITC_SIM_SCHEDULES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SCHEDULES);
    let first = std::env::var("ITC_SIM_FIRST")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    for seed in first..first + n {
        run_schedule(seed);
    }
}

/// Seed 2 rotates at boundary 8 and then needs a view change: PBFT had pruned the old epoch
/// once checkpoint 8 was stable, so every view change carrying that checkpoint (certified by
/// the old set) was refused as `OtherEpoch` and the chain stopped after the rotation.
#[test]
fn a_view_change_right_after_a_rotation_succeeds() {
    assert!(faults_for(2).rotation);
    run_schedule(2);
}

/// Issue 17: with `idle_block_interval_ms` set, an idle chain still produces certified (empty)
/// blocks, one per interval; an ownership change committed at height h is sealed into the
/// state root of header h + 1 within one interval, and the lamp's light client (anchored at
/// genesis, fed by a validator's full node) proves the new owner then: no keep-alive
/// transaction.
#[test]
fn an_idle_chain_seals_an_ownership_change_within_one_interval() {
    const INTERVAL: u64 = 500;
    /// Network delay (≤ 5 ms a hop) and the batching delay, three PBFT phases.
    const SLACK: u64 = 40;
    let vendor = user(20);
    let (alice, bob) = (user(0), user(1));
    let lamp_key = user(21).public_key();
    let lamp = DeviceId::from_key(&lamp_key);
    let vendors = vec![(
        VendorId(7),
        VendorRecord {
            registry_key: vendor.public_key(),
            firmware_key: vendor.public_key(),
        },
    )];
    let mut genesis = genesis(vendors);
    genesis.balances.push((addr(&vendor), 1_000));
    let mut sim = Sim::idle(1, INTERVAL, genesis);

    // Idle: empty certified blocks, one interval apart.
    let start = sim.now;
    assert!(sim.run(|s| s.now > start + 6 * INTERVAL));
    let host = &sim.hosts[0];
    let set = sim.genesis.validators.clone();
    let tip = host.store.tip_height().unwrap().unwrap();
    assert!(tip >= 5, "only {tip} idle blocks in {} ms", 6 * INTERVAL);
    let blocks: Vec<CertifiedBlock> = (1..=tip)
        .map(|h| host.store.block(h).unwrap().unwrap())
        .collect();
    for b in &blocks {
        assert!(b.batch.is_empty(), "block {} is not empty", b.header.height);
        b.certificate.verify(&b.header, &set).unwrap();
    }
    for pair in blocks.windows(2) {
        let gap = pair[1].header.timestamp_ms - pair[0].header.timestamp_ms;
        assert!((INTERVAL..INTERVAL + SLACK).contains(&gap), "gap {gap} ms");
    }

    // The vendor registers the lamp to Alice; Alice hands it to Bob.
    let builder = TxBuilder::new(CHAIN_ID);
    let register = builder
        .register_device(
            &vendor,
            0,
            VendorId(7),
            lamp_key,
            1,
            Some(alice.public_key()),
        )
        .unwrap()
        .encode_to_vec();
    let hand_over = builder
        .transfer_ownership(&alice, 0, lamp, bob.public_key())
        .unwrap()
        .encode_to_vec();
    let t0 = sim.now + 10;
    for j in 0..N {
        sim.at(t0, j, Event::Tx(register.clone()));
        sim.at(t0 + 100, j, Event::Tx(hand_over.clone()));
    }
    let owner_is_bob = |s: &Sim| {
        s.hosts[0]
            .validator
            .as_ref()
            .unwrap()
            .node()
            .ledger()
            .device(&lamp)
            .is_some_and(|r| r.owner == bob.public_key())
    };
    assert!(sim.run(owner_is_bob), "the hand-over never committed");
    let committed_at = sim.now;
    let h = sim.hosts[0].validator.as_ref().unwrap().height();
    assert!(sim.run(|s| s.hosts[0].validator.as_ref().unwrap().height() > h));
    let sealed_at = sim.now;
    assert!(
        sealed_at - committed_at <= INTERVAL + SLACK,
        "the next header came {} ms after the commit",
        sealed_at - committed_at
    );

    // The lamp's light client proves Bob's ownership under header h + 1.
    let host = &sim.hosts[0];
    let v = host.validator.as_ref().unwrap();
    let anchor = TrustAnchor::genesis(*v.node().genesis(), set.with_capacity::<8>().unwrap());
    let mut lamp_client: LightClient<2, 8> =
        LightClient::new(anchor, SpvConfig::new(K), GENESIS_MS).unwrap();
    lamp_client.sync_to(h + 1);
    for _ in 0..1_000 {
        let Some(request) = lamp_client.poll_request() else {
            break;
        };
        let response = v.node().answer::<8, _>(&host.store, &request).unwrap();
        lamp_client.handle_response(&response, sealed_at).unwrap();
    }
    assert_eq!(lamp_client.tip().height(), h + 1);
    let request = Request::StateProof {
        height: h + 1,
        key: StateKey::Device(lamp),
    };
    let response = v.node().answer::<8, _>(&host.store, &request).unwrap();
    let SpvEvent::State(entry) = lamp_client.handle_response(&response, sealed_at).unwrap() else {
        panic!("no state proof");
    };
    let record = OwnershipRecord::decode_bytes(entry.value().unwrap()).unwrap();
    assert_eq!(record.owner, bob.public_key());
}

/// With idle blocks on, a block is due every interval even with nothing to order: a primary
/// that stops producing them (crash-stop here, on an idle chain) is replaced by a view change
/// like one sitting on a request, and the empty blocks resume. Before, backups with no
/// pending request never suspected it and the idle chain stopped for good.
#[test]
fn a_silent_primary_on_an_idle_chain_is_replaced() {
    const INTERVAL: u64 = 300;
    let mut sim = Sim::idle(3, INTERVAL, genesis(Vec::new()));
    let start = sim.now;
    assert!(sim.run(|s| s.now > start + 3 * INTERVAL));
    let primary = sim
        .hosts
        .iter()
        .position(|h| {
            h.validator
                .as_ref()
                .is_some_and(|v| v.replica().is_primary())
        })
        .unwrap();
    let before = sim.hosts[primary].validator.as_ref().unwrap().height();
    assert!(before >= 2);
    // Crash-stop: down for longer than the test runs.
    sim.crash(primary, 10 * LIMIT_MS);
    let target = before + 5;
    assert!(
        sim.run(|s| s.honest_up().all(|v| v.height() >= target)),
        "no empty blocks after the primary stopped: heights {:?}",
        sim.honest_up().map(Validator::height).collect::<Vec<_>>()
    );
    // The members moved on (the standby, outside the set, has no say and stays in view 0).
    assert!(sim.hosts[..N]
        .iter()
        .filter_map(|h| h.validator.as_ref())
        .all(|v| v.view() >= 1));
}

/// A node outside the set in force (here the standby, following by fetch: it gets no consensus
/// traffic) has no say in who the primary is: with idle blocks on it must not suspect the
/// primary it cannot hear. Before, every block it fetched re-armed its idle deadline and it
/// broadcast a view change about once a second (the story measured 16.8 MB of them).
#[test]
fn a_node_outside_the_set_never_starts_a_view_change() {
    let mut sim = Sim::idle(4, 200, genesis(Vec::new()));
    let start = sim.now;
    assert!(sim.run(|s| s.now > start + 20_000));
    let standby = sim.hosts[N].validator.as_ref().unwrap();
    let tip = sim.hosts[0].validator.as_ref().unwrap().height();
    assert!(tip >= 50, "only {tip} idle blocks");
    assert!(
        standby.height() + 20 >= tip,
        "the standby does not follow: {} of {tip}",
        standby.height()
    );
    assert_eq!(sim.view_changes_sent, vec![0; N + 1]);
    assert!(sim.honest_up().all(|v| v.view() == 0));
    assert_eq!(standby.view(), 0);
}

/// Issue 16.1, the class again (found by itc-node's crash test): a validator restored after a
/// stable checkpoint knew the validator set only from that checkpoint on, so a peer's
/// view-change carrying an older checkpoint of the same epoch — or none, height 0 — was
/// refused as "checkpoint at 0 is in another epoch", and with it every new view counting it:
/// the restored validator could not enter the new view. Its epoch history now starts where
/// the epoch really started.
#[test]
fn a_restored_validator_accepts_a_view_change_with_an_older_checkpoint() {
    use itc_crypto::Signer;
    use itc_pbft::message::ViewChange;
    let mut sim = Sim::idle(5, 100, genesis(Vec::new()));
    let start = sim.now;
    assert!(sim.run(|s| s.now > start + 2_000));
    let host = &sim.hosts[1];
    let before = host.validator.as_ref().unwrap();
    assert!(before.height() >= 12, "height {}", before.height());
    let v = Validator::restore(
        sim.config,
        host.key.clone(),
        &sim.genesis,
        &host.store,
        sim.now,
    )
    .unwrap();
    let mut restored = v;
    let _ = restored.take_ready();
    // Validator 2 asks for the next view carrying no checkpoint (as a peer that never saw one
    // become stable would).
    let peer = &sim.hosts[2].key;
    let set = restored.validators().clone();
    let mut vc = ViewChange {
        new_view: restored.view() + 1,
        checkpoint: None,
        prepared: Vec::new(),
        sender: set.index_of(&peer.public_key()).unwrap() as u16,
        signature: itc_crypto::Signature([0; 64]),
    };
    vc.signature = peer.sign_digest(&vc.digest()).unwrap();
    let result = restored.handle_peer_message(
        peer.public_key(),
        PeerMessage::Consensus(itc_pbft::Message::ViewChange(vc)),
        &mut Approvals::new(),
        sim.now,
    );
    assert!(result.is_ok(), "refused: {result:?}");
}
