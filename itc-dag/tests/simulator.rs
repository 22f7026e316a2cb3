//! Seeded network simulator: several full nodes, many honest issuers at Poisson rates, an
//! anchoring gateway, and attackers — a double spend backed by a parasite chain, lazy tips
//! (some hooked below max depth), low-difficulty spam, and malformed, forged and replayed
//! transactions. Real `Tangle`s exchange real signed, proof-of-worked transactions over a
//! network with random delays, duplicates and reordering.
//!
//! Checked on every run:
//! * safety — no two transfers of the same funds are ever both confirmed or final, on any
//!   node, at any check; the confirmed region is closed under approval;
//! * liveness — every honest payload is final (anchored) within a time bound, reissued by its
//!   issuer if it ended up in a losing cone;
//! * resources — every node stays within its configured transaction, pool and byte bounds;
//! * bad input — every junk input is refused with an error and leaves the node unchanged;
//! * crash recovery — every few seconds a node dies and restarts from its store: the restored
//!   tangle has the digest of the one that died, and everything above still holds;
//! * determinism — the same seed gives the same tangle (state digests), a different seed does not.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{addr, key, regrind, tx as build};
use itc_crypto::encoding::Encode;
use itc_crypto::{Hash, SecretKey};
use itc_dag::{
    DagError, DagSnapshot, Event, IssuerPolicy, IssuerProfile, MemoryStore, Payload, RandomWalk,
    SpendKey, Tangle, TangleConfig, TangleGenesis, Transaction, Transfer, TxId, TxStatus,
};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

const STEP_MS: u64 = 10;
const NODES: usize = 3;
const HONEST: usize = 12;
/// Per-step issue probability of each honest issuer, in 1/65536: ≈ 0.8 tx/s each, ~10 tx/s total.
const HONEST_P: u64 = 65_536 / 120;
const ATTACK_PHASE_MS: u64 = 40_000;
const DRAIN_MS: u64 = 25_000;
const ANCHOR_EVERY_MS: u64 = 2_000;
const CHAIN_LATENCY_MS: u64 = 500;
/// Honest payloads must be final within this long of their first issue.
const FINALITY_BOUND_MS: u64 = 15_000;
/// Configured memory bound per node.
const MEM_BOUND_BYTES: usize = 6 << 20;
const START: u64 = 1_000;

fn tangle_config() -> TangleConfig {
    TangleConfig {
        confirmation_threshold: 30,
        max_future_drift_ms: 2_000,
        max_parent_age_ms: 20_000,
        retention_ms: 40_000,
        capacity: 4_000,
        unsolid_capacity: 500,
        unsolid_timeout_ms: 10_000,
        ..TangleConfig::default()
    }
}

/// Devices pay 4 bits with 40 transactions per 10 s at that price; two honest gateways are
/// staked (2 bits, more weight); the anchoring gateway may publish anchor records.
fn policy(gateways: &[SecretKey]) -> IssuerPolicy {
    let mut p = IssuerPolicy::new(IssuerProfile::device(4, 40));
    for g in gateways {
        p.register(&g.public_key(), IssuerProfile::staked(2, 30_000, 200));
    }
    p
}

#[derive(Debug, Clone)]
enum Msg {
    /// A transaction arriving at a node from the network.
    Tx { to: usize, bytes: Vec<u8> },
    /// Node `to` asks peers for `id` (retried until someone has it).
    Fetch { to: usize, id: TxId, tries: u32 },
    /// The main chain committed a snapshot; node `to` learns of it.
    Anchor { to: usize, snapshot: DagSnapshot },
}

struct Honest {
    key: SecretKey,
    home: usize,
    seq: u64,
    last: Option<TxId>,
    spend_nonce: u64,
}

/// An honest payload and where it stands.
struct Payment {
    issuer: usize,
    payload: Payload,
    first_issued: u64,
    current: TxId,
    final_at: Option<u64>,
    reissues: u32,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Stats {
    honest_issued: u64,
    honest_reissued: u64,
    honest_refused: u64,
    max_latency_ms: u64,
    anchors: u64,
    double_spend_winner: Option<&'static str>,
    parasite_refused_too_old: u64,
    lazy_issued: u64,
    lazy_refused_too_old: u64,
    honest_approving_lazy: u64,
    spam_sent: u64,
    spam_accepted: u64,
    junk_refused: u64,
    pruned: u64,
    restarts: u64,
    peak_len: usize,
    peak_bytes: usize,
    bytes_per_tx: usize,
    digests: Vec<Hash>,
}

struct Sim {
    rng: ChaCha8Rng,
    now: u64,
    nodes: Vec<Tangle<MemoryStore>>,
    queue: BTreeMap<(u64, u64), Msg>,
    msg_seq: u64,
    /// Anchors committed by the chain, waiting to be applied, per node.
    anchor_backlog: Vec<Vec<DagSnapshot>>,
    honest: Vec<Honest>,
    payments: Vec<Payment>,
    honest_ids: BTreeSet<TxId>,
    lazy_ids: BTreeSet<TxId>,
    gateway_waiting: bool,
    stats: Stats,
    walk: RandomWalk,
    /// The merchant payment and, once built, the rival transfer.
    pending_double_spend: Option<(TxId, Option<TxId>)>,
    /// Attacker transactions to release later: (time, node, bytes).
    scheduled_attack: Vec<(u64, usize, Vec<u8>)>,
    spam_seq: u64,
}

fn uniform(rng: &mut ChaCha8Rng, lo: u64, hi: u64) -> u64 {
    lo + rng.next_u64() % (hi - lo + 1)
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let honest_keys: Vec<SecretKey> = (0..HONEST as u64).map(|i| key(100 + i)).collect();
        let gateways = [honest_keys[0].clone(), honest_keys[1].clone()];
        let mut balances: Vec<_> = honest_keys.iter().map(|k| (addr(k), 10_000)).collect();
        balances.push((addr(&attacker_key()), 1_000));
        let genesis = TangleGenesis {
            timestamp: 0,
            balances,
        };
        let nodes = (0..NODES)
            .map(|_| {
                let mut p = policy(&gateways);
                let mut anchorer = IssuerProfile::staked(2, 0, 100);
                anchorer.may_anchor = true;
                p.register(&key(99).public_key(), anchorer);
                Tangle::new(tangle_config(), p, genesis.clone(), MemoryStore::default())
            })
            .collect();
        let honest = honest_keys
            .into_iter()
            .enumerate()
            .map(|(i, key)| Honest {
                key,
                home: i % NODES,
                seq: 0,
                last: None,
                spend_nonce: 0,
            })
            .collect();
        Sim {
            rng: ChaCha8Rng::seed_from_u64(seed),
            now: START,
            nodes,
            queue: BTreeMap::new(),
            msg_seq: 0,
            anchor_backlog: vec![Vec::new(); NODES],
            honest,
            payments: Vec::new(),
            honest_ids: BTreeSet::new(),
            lazy_ids: BTreeSet::new(),
            gateway_waiting: false,
            stats: Stats::default(),
            walk: RandomWalk::default(),
            pending_double_spend: None,
            scheduled_attack: Vec::new(),
            spam_seq: 0,
        }
    }

    fn send(&mut self, at: u64, msg: Msg) {
        self.msg_seq += 1;
        self.queue.insert((at, self.msg_seq), msg);
    }

    /// Hands a transaction to a node and turns its events into network traffic.
    fn deliver_tx(&mut self, to: usize, bytes: &[u8]) -> Result<(), DagError> {
        let r = self.nodes[to].handle_bytes(bytes, self.now).map(|_| ());
        self.pump(to);
        r
    }

    /// Drains node `i`'s events: gossip attached bodies, fetch missing ones.
    fn pump(&mut self, i: usize) {
        let events: Vec<Event> = self.nodes[i].take_events();
        for e in events {
            match e {
                Event::Attached { id, .. } => {
                    let bytes = self.nodes[i].get(&id).unwrap().encode_to_vec();
                    for j in 0..NODES {
                        if j == i {
                            continue;
                        }
                        let d = uniform(&mut self.rng, 20, 250);
                        self.send(
                            self.now + d,
                            Msg::Tx {
                                to: j,
                                bytes: bytes.clone(),
                            },
                        );
                        // 5 % of messages are delivered twice.
                        if self.rng.next_u32() % 20 == 0 {
                            let d2 = uniform(&mut self.rng, 20, 400);
                            self.send(
                                self.now + d2,
                                Msg::Tx {
                                    to: j,
                                    bytes: bytes.clone(),
                                },
                            );
                        }
                    }
                }
                Event::RequestMissing(id) => {
                    let d = uniform(&mut self.rng, 20, 100);
                    self.send(
                        self.now + d,
                        Msg::Fetch {
                            to: i,
                            id,
                            tries: 0,
                        },
                    );
                }
                Event::Pruned { count } => self.stats.pruned += count as u64,
                _ => {}
            }
        }
    }

    fn run_network(&mut self) {
        while let Some((&(at, s), _)) = self.queue.first_key_value() {
            if at > self.now {
                break;
            }
            let msg = self.queue.remove(&(at, s)).unwrap();
            match msg {
                Msg::Tx { to, bytes } => {
                    let honest = Transaction::from_bytes(&bytes)
                        .map(|t| self.honest_ids.contains(&t.id()))
                        .unwrap_or(false);
                    match self.deliver_tx(to, &bytes) {
                        Ok(()) | Err(DagError::Duplicate(_)) => {}
                        Err(e) if honest => panic!("honest transaction refused by node {to}: {e}"),
                        Err(_) => {}
                    }
                }
                Msg::Fetch { to, id, tries } => {
                    if self.nodes[to].knows(&id) {
                        continue;
                    }
                    let holder = (0..NODES).find(|&j| j != to && self.nodes[j].get(&id).is_some());
                    match holder {
                        Some(j) => {
                            let bytes = self.nodes[j].get(&id).unwrap().encode_to_vec();
                            let d = uniform(&mut self.rng, 20, 150);
                            self.send(self.now + d, Msg::Tx { to, bytes });
                        }
                        None if tries < 50 => self.send(
                            self.now + 200,
                            Msg::Fetch {
                                to,
                                id,
                                tries: tries + 1,
                            },
                        ),
                        None => {}
                    }
                }
                Msg::Anchor { to, snapshot } => {
                    self.anchor_backlog[to].push(snapshot);
                    self.apply_anchors(to);
                }
            }
        }
    }

    /// Applies committed anchors in order; an anchor naming unknown transactions waits
    /// (the node fetches them) and is retried on the next tick.
    fn apply_anchors(&mut self, i: usize) {
        while let Some(s) = self.anchor_backlog[i].first().cloned() {
            match self.nodes[i].handle_anchor(&s, self.now) {
                Ok(()) => {
                    self.anchor_backlog[i].remove(0);
                    if i == 0 {
                        self.gateway_waiting = false;
                        self.stats.anchors += 1;
                    }
                }
                Err(DagError::AnchorUnknownTx(_)) => break,
                Err(e) => panic!("node {i} refused committed anchor {}: {e}", s.snapshot_seq),
            }
        }
        self.pump(i);
    }

    /// The anchoring gateway (node 0) proposes; the chain commits it after a latency.
    fn propose_anchor(&mut self) {
        if self.gateway_waiting {
            return;
        }
        let snap = self.nodes[0].propose_snapshot(5_000);
        self.gateway_waiting = true;
        for to in 0..NODES {
            self.send(
                self.now + CHAIN_LATENCY_MS,
                Msg::Anchor {
                    to,
                    snapshot: snap.clone(),
                },
            );
        }
    }

    fn honest_issue(&mut self, who: usize, payload: Payload, payment: Option<usize>) {
        let (home, pk) = (self.honest[who].home, self.honest[who].key.public_key());
        let mut parents: Vec<TxId> = self.nodes[home]
            .select_parents(&self.walk, &mut self.rng, self.now, 2)
            .unwrap()
            .to_vec();
        // Link the issuer's previous transaction so peers see its sequence in order.
        if let Some(last) = self.honest[who].last {
            if self.nodes[home].graph().is_approvable(&last, self.now) && !parents.contains(&last) {
                parents.push(last);
            }
        }
        for p in &parents {
            if self.lazy_ids.contains(p) {
                self.stats.honest_approving_lazy += 1;
            }
        }
        let d = self.nodes[home].required_difficulty(&pk, self.now);
        let h = &mut self.honest[who];
        let t = build(&h.key, h.seq, self.now, &parents, payload.clone(), d);
        h.seq += 1;
        h.last = Some(t.id());
        let id = t.id();
        self.honest_ids.insert(id);
        self.stats.honest_issued += 1;
        match payment {
            Some(p) => {
                self.payments[p].current = id;
                self.payments[p].reissues += 1;
                self.stats.honest_reissued += 1;
            }
            None => self.payments.push(Payment {
                issuer: who,
                payload,
                first_issued: self.now,
                current: id,
                final_at: None,
                reissues: 0,
            }),
        }
        if let Err(e) = self.deliver_tx(home, &t.encode_to_vec()) {
            self.stats.honest_refused += 1;
            panic!("honest issuer {who} refused at home: {e}");
        }
    }

    fn honest_step(&mut self, issuing: bool) {
        if !issuing {
            return;
        }
        for who in 0..HONEST {
            if self.rng.next_u64() % 65_536 >= HONEST_P {
                continue;
            }
            // One in ten honest transactions is a payment to another honest issuer.
            let payload = if self.rng.next_u32() % 10 == 0 {
                let to = (who + 1 + (self.rng.next_u32() as usize % (HONEST - 1))) % HONEST;
                let t = Transfer {
                    to: addr(&self.honest[to].key),
                    amount: 1 + self.rng.next_u64() % 20,
                    spend_nonce: self.honest[who].spend_nonce,
                };
                self.honest[who].spend_nonce += 1;
                Payload::Transfer(t)
            } else {
                let reading = self.rng.next_u32().to_be_bytes();
                Payload::data(&reading).unwrap()
            };
            self.honest_issue(who, payload, None);
        }
    }

    /// Payloads whose transaction ended on a losing side are reissued; final ones are timed.
    fn follow_payments(&mut self) {
        for p in 0..self.payments.len() {
            if self.payments[p].final_at.is_some() {
                continue;
            }
            let home = self.honest[self.payments[p].issuer].home;
            match self.nodes[home].status(&self.payments[p].current) {
                Some(TxStatus::Final) => {
                    let lat = self.now - self.payments[p].first_issued;
                    self.payments[p].final_at = Some(self.now);
                    self.stats.max_latency_ms = self.stats.max_latency_ms.max(lat);
                }
                Some(TxStatus::Conflicting) => {
                    let payload = self.payments[p].payload.clone();
                    let who = self.payments[p].issuer;
                    self.honest_issue(who, payload, Some(p));
                }
                _ => {}
            }
        }
    }

    fn check_invariants(&mut self) {
        for (i, node) in self.nodes.iter().enumerate() {
            let g = node.graph();
            let mut spent: BTreeMap<SpendKey, TxId> = BTreeMap::new();
            for id in g.ids() {
                let status = g.status(&id).unwrap();
                if matches!(status, TxStatus::Confirmed | TxStatus::Final) {
                    if let Some(key) = g.spend(&id) {
                        if let Some(other) = spent.insert(key, id) {
                            panic!("node {i}: {other:?} and {id:?} both spend {key:?}");
                        }
                    }
                }
                if status == TxStatus::Confirmed {
                    for p in g.parents(&id) {
                        assert!(
                            matches!(g.status(&p), Some(TxStatus::Confirmed | TxStatus::Final)),
                            "node {i}: confirmed {id:?} approves unconfirmed {p:?}"
                        );
                    }
                }
            }
            let cfg = node.config();
            assert!(node.len() <= cfg.capacity, "node {i} over capacity");
            assert!(
                node.unsolid_len() <= cfg.unsolid_capacity,
                "node {i} pool over capacity"
            );
            let mem = node.memory_usage();
            assert!(
                mem.total() <= MEM_BOUND_BYTES,
                "node {i} uses {} bytes",
                mem.total()
            );
            self.stats.peak_len = self.stats.peak_len.max(node.len());
            self.stats.peak_bytes = self.stats.peak_bytes.max(mem.total());
            self.stats.bytes_per_tx = self.stats.bytes_per_tx.max(mem.bytes_per_transaction);
        }
    }

    fn tick(&mut self) {
        for i in 0..NODES {
            self.nodes[i].handle_timeout(self.now);
            self.pump(i);
            self.apply_anchors(i);
        }
    }

    /// A node dies and comes back from its store (its events were all acted on).
    fn crash_restart(&mut self, i: usize) {
        let node = &self.nodes[i];
        let before = node.state_digest();
        let restored =
            Tangle::restore(*node.config(), node.policy().clone(), node.store().clone()).unwrap();
        assert_eq!(
            restored.state_digest(),
            before,
            "node {i} restored differently"
        );
        self.nodes[i] = restored;
        self.stats.restarts += 1;
    }

    // ---- attackers -----------------------------------------------------------------------

    /// Double spend: pay a merchant in public, then release a rival transfer of the same funds
    /// backed by a pre-built parasite chain of Sybil transactions, hooked to older honest
    /// transactions — some of them below max depth, which is refused.
    fn double_spend(&mut self, strength: usize) {
        let a = attacker_key();
        let merchant = addr(&key(500));
        let accomplice = addr(&key(501));
        let node = 1;
        let tips = self.nodes[node]
            .select_parents(&self.walk, &mut self.rng, self.now, 2)
            .unwrap();
        let pay = build(
            &a,
            0,
            self.now,
            &tips,
            Payload::Transfer(Transfer {
                to: merchant,
                amount: 900,
                spend_nonce: 0,
            }),
            4,
        );
        let pay_id = pay.id();
        self.deliver_tx(node, &pay.encode_to_vec()).unwrap();
        self.pending_double_spend = Some((pay_id, None));
        // The rival hooks to old-but-valid transactions to hide from the honest tips.
        let old: Vec<TxId> = self.old_honest(8_000, 2);
        let rival = build(
            &a,
            1,
            self.now + 300,
            &old,
            Payload::Transfer(Transfer {
                to: accomplice,
                amount: 900,
                spend_nonce: 0,
            }),
            4,
        );
        let rival_id = rival.id();
        self.pending_double_spend = Some((pay_id, Some(rival_id)));
        let mut chain = vec![rival];
        let mut prev = rival_id;
        for k in 0..strength {
            let sybil = key(600 + k as u64);
            let hook = self.old_honest(5_000, 1)[0];
            let t = build(
                &sybil,
                0,
                self.now + 300,
                &[prev, hook],
                Payload::data(b"p").unwrap(),
                4,
            );
            prev = t.id();
            chain.push(t);
        }
        // One parasite link hooked 25 s deep: below max depth.
        if let Some(deep) = self.old_honest(25_000, 1).first().copied() {
            let t = build(
                &key(700),
                0,
                self.now + 300,
                &[prev, deep],
                Payload::data(b"d").unwrap(),
                4,
            );
            chain.push(t);
        }
        let release = self.now + 300;
        for t in chain {
            self.scheduled_attack.push((release, 2, t.encode_to_vec()));
        }
    }

    /// Honest transactions at least `age` ms old held by node 1, oldest first.
    fn old_honest(&self, age: u64, n: usize) -> Vec<TxId> {
        let g = self.nodes[1].graph();
        let mut v: Vec<(u64, TxId)> = self
            .honest_ids
            .iter()
            .filter_map(|id| g.timestamp(id).map(|ts| (ts, *id)))
            .filter(|(ts, _)| self.now.saturating_sub(*ts) >= age)
            .collect();
        v.sort();
        v.reverse();
        v.into_iter().take(n).map(|(_, id)| id).collect()
    }

    /// Lazy tips: approve transactions 10–30 s old instead of current tips.
    fn lazy(&mut self) {
        let age = uniform(&mut self.rng, 10_000, 25_000);
        let parents = self.old_honest(age, 2);
        if parents.len() < 2 {
            return;
        }
        let k = key(800 + self.stats.lazy_issued);
        let t = build(
            &k,
            0,
            self.now,
            &parents,
            Payload::data(b"lazy").unwrap(),
            4,
        );
        self.stats.lazy_issued += 1;
        let id = t.id();
        match self.deliver_tx(2, &t.encode_to_vec()) {
            Ok(()) => {
                self.lazy_ids.insert(id);
            }
            Err(DagError::ParentTooOld(_)) => self.stats.lazy_refused_too_old += 1,
            Err(e) => panic!("unexpected lazy refusal {e}"),
        }
    }

    /// Spam: one key floods at the class minimum difficulty, ignoring the adaptive price.
    fn spam(&mut self) {
        let k = key(900);
        let parents = self.nodes[0]
            .select_parents(&self.walk, &mut self.rng, self.now, 2)
            .unwrap();
        let t = build(
            &k,
            self.spam_seq,
            self.now,
            &parents,
            Payload::data(b"spam").unwrap(),
            4,
        );
        self.spam_seq += 1;
        self.stats.spam_sent += 1;
        match self.deliver_tx(0, &t.encode_to_vec()) {
            Ok(()) => self.stats.spam_accepted += 1,
            Err(DagError::DifficultyTooLow { .. }) => {}
            Err(e) => panic!("unexpected spam refusal {e}"),
        }
    }

    /// Junk: random bytes, truncated, bit-flipped, forged and replayed transactions. Each must
    /// be refused and leave the node exactly as it was.
    fn junk(&mut self) {
        let i = (self.rng.next_u32() as usize) % NODES;
        let Some(victim) = self.honest_ids.iter().next_back().copied() else {
            return;
        };
        let Some(good) = self.nodes.iter().find_map(|n| n.get(&victim)) else {
            return;
        };
        let good = good.encode_to_vec();
        let mut bytes = good.clone();
        match self.rng.next_u32() % 5 {
            0 => {
                let n = (self.rng.next_u32() % 700) as usize;
                bytes = (0..n).map(|_| self.rng.next_u32() as u8).collect();
            }
            1 => bytes.truncate((self.rng.next_u32() as usize) % bytes.len()),
            2 => {
                let bit = (self.rng.next_u32() as usize) % (bytes.len() * 8);
                bytes[bit / 8] ^= 1 << (bit % 8);
            }
            3 => {
                // Forged: claim another issuer, redo the work, keep the old signature.
                bytes[67..99].copy_from_slice(key(950).public_key().as_bytes());
                if bytes[2] == 2 {
                    regrind(&mut bytes, 4);
                }
            }
            _ => {
                // Replay of a transaction the node already holds (or has waiting).
                if !self.nodes[i].knows(&victim) {
                    return;
                }
            }
        }
        let before = self.nodes[i].state_digest();
        let r = self.nodes[i].handle_bytes(&bytes, self.now);
        assert!(r.is_err(), "junk accepted: {r:?}");
        assert_eq!(
            self.nodes[i].state_digest(),
            before,
            "junk changed node {i}"
        );
        assert_eq!(self.nodes[i].take_events().len(), 0);
        self.stats.junk_refused += 1;
    }
}

fn attacker_key() -> SecretKey {
    key(400)
}

impl Sim {
    fn run(mut self, double_spend_strength: usize) -> Stats {
        let end_attacks = START + ATTACK_PHASE_MS;
        let end = end_attacks + DRAIN_MS;
        let mut next_anchor = START + ANCHOR_EVERY_MS;
        while self.now < end {
            self.now += STEP_MS;
            let attacking = self.now < end_attacks;
            self.run_network();
            self.honest_step(true);
            self.release_attacks();
            if attacking {
                if self.now == START + 30_000 {
                    self.double_spend(double_spend_strength);
                }
                if self.now >= START + 8_000 && self.rng.next_u32() % 50 == 0 {
                    self.lazy();
                }
                if self.now >= START + 5_000 && self.now < START + 25_000 && self.now % 20 == 0 {
                    self.spam();
                }
                if self.rng.next_u32() % 40 == 0 {
                    self.junk();
                }
            }
            if self.now >= next_anchor {
                self.propose_anchor();
                next_anchor += ANCHOR_EVERY_MS;
            }
            if self.now % 100 == 0 {
                self.tick();
            }
            if self.now % 3_000 == 0 {
                let i = (self.rng.next_u32() as usize) % NODES;
                self.crash_restart(i);
            }
            if self.now % 500 == 0 {
                self.follow_payments();
                self.check_invariants();
                self.judge_double_spend();
            }
        }
        // Liveness: everything honest issued before the drain started is final.
        for p in &self.payments {
            if p.first_issued + DRAIN_MS / 2 > end {
                continue;
            }
            let lat = p.final_at.map(|f| f - p.first_issued);
            assert!(
                lat.is_some_and(|l| l <= FINALITY_BOUND_MS),
                "payment {:?} from issuer {} issued at {} not final in time ({lat:?}, {} reissues, status {:?})",
                p.current,
                p.issuer,
                p.first_issued,
                p.reissues,
                self.nodes[self.honest[p.issuer].home].status(&p.current)
            );
        }
        // All nodes agree on the anchored state.
        let root = self.nodes[0].balances().root();
        for n in &self.nodes {
            assert_eq!(n.balances().root(), root);
            assert_eq!(
                n.latest_snapshot().map(DagSnapshot::root),
                self.nodes[0].latest_snapshot().map(DagSnapshot::root)
            );
        }
        self.stats.digests = self.nodes.iter().map(|n| n.state_digest()).collect();
        self.stats
    }

    fn release_attacks(&mut self) {
        let now = self.now;
        let due: Vec<(u64, usize, Vec<u8>)> = self
            .scheduled_attack
            .iter()
            .filter(|(at, _, _)| *at <= now)
            .cloned()
            .collect();
        self.scheduled_attack.retain(|(at, _, _)| *at > now);
        for (_, node, bytes) in due {
            match self.deliver_tx(node, &bytes) {
                Ok(()) => {}
                Err(DagError::ParentTooOld(_)) => self.stats.parasite_refused_too_old += 1,
                Err(e) => panic!("parasite refused unexpectedly: {e}"),
            }
        }
    }

    fn judge_double_spend(&mut self) {
        let Some((pay, Some(rival))) = self.pending_double_spend else {
            return;
        };
        let s = |id: &TxId| self.nodes[0].status(id);
        let winner = match (s(&pay), s(&rival)) {
            (Some(TxStatus::Final), _) => Some("merchant"),
            (_, Some(TxStatus::Final)) => Some("attacker"),
            _ => None,
        };
        if winner.is_some() {
            self.stats.double_spend_winner = winner;
        }
    }
}

fn simulate(seed: u64, strength: usize) -> Stats {
    Sim::new(seed).run(strength)
}

#[test]
fn seeded_simulation_with_attacks_keeps_every_invariant() {
    // More schedules: ITC_DAG_SIM_SEEDS=200 cargo test --release -p itc-dag --test simulator
    let seeds: u64 = std::env::var("ITC_DAG_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    for seed in 1..=seeds {
        let stats = simulate(seed, 12);
        println!("seed {seed}: {stats:?}");
        assert!(stats.honest_issued > 500, "{stats:?}");
        assert!(stats.anchors >= 25, "{stats:?}");
        // The merchant was paid: honest weight beat a parasite chain of 12 Sybils.
        assert_eq!(stats.double_spend_winner, Some("merchant"), "{stats:?}");
        assert!(stats.parasite_refused_too_old >= 1, "{stats:?}");
        // Lazy tips: some refused outright, and honest walks seldom approve the rest.
        assert!(stats.lazy_issued > 20);
        assert!(stats.lazy_refused_too_old > 0);
        assert!(
            stats.honest_approving_lazy * 10 < stats.lazy_issued,
            "{stats:?}"
        );
        // Spam: at 50 tx/s for 20 s, the class price admits only a trickle.
        assert!(stats.spam_sent >= 900);
        assert!(stats.spam_accepted < 120, "{stats:?}");
        assert!(stats.junk_refused > 50);
        assert!(stats.pruned > 0);
        assert!(stats.restarts >= 20, "{stats:?}");
    }
}

#[test]
fn a_stronger_attacker_may_win_the_race_but_never_both_sides() {
    // 60 Sybil transactions released at once out-weigh the merchant's early approvals; safety
    // (checked every 500 ms inside the run) must hold either way, and honest payloads still
    // finalise.
    let stats = simulate(3, 60);
    println!("strong attacker: {stats:?}");
    assert_eq!(stats.double_spend_winner, Some("attacker"), "{stats:?}");
    // Honest transactions caught in the merchant's (losing) cone were reissued and made it.
    assert!(stats.honest_reissued > 0, "{stats:?}");
}

#[test]
fn the_same_seed_gives_the_same_tangle() {
    let a = simulate(7, 12);
    let b = simulate(7, 12);
    assert_eq!(a, b);
    let c = simulate(8, 12);
    assert_ne!(a.digests, c.digests);
}
