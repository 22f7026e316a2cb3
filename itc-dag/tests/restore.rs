//! Crash recovery: a tangle restored from its store is the tangle that crashed.
//!
//! Random schedules (honest readings, double spends, children before their parents, lazy and
//! junk transactions, batch-verified backlogs, anchors — some naming transactions not yet
//! seen — housekeeping, idle gaps) drive two tangles with the same inputs. One of them
//! crashes at random points: between steps (it is rebuilt from a copy of its store) or in
//! the middle of one (the step's write batch never reached the disk: it is rebuilt from the
//! store as it was before the step, and its uncrashed twin is rewound to match). After every
//! restore the state digests are equal, and from then on both produce the same results, the
//! same events, the same parent selections and the same digests at every step. The store
//! stays bounded: it holds exactly what the tangle holds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{addr, key, transfer, tx as build};
use itc_crypto::encoding::Encode;
use itc_crypto::SecretKey;
use itc_dag::{
    DagError, Event, IssuerPolicy, IssuerProfile, MemoryStore, Payload, RandomWalk, StoreTable,
    Tangle, TangleConfig, TangleGenesis, Transaction, TxId, TxStatus, UniformRandom,
};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

const ISSUERS: u64 = 6;
const D: u8 = 1;

fn config() -> TangleConfig {
    TangleConfig {
        confirmation_threshold: 4,
        max_future_drift_ms: 500,
        max_parent_age_ms: 1_500,
        retention_ms: 3_000,
        capacity: 400,
        unsolid_capacity: 12,
        unsolid_timeout_ms: 1_000,
        max_rivals: 3,
        kept_snapshots: 3,
        housekeeping_ms: 200,
        ..TangleConfig::default()
    }
}

fn policy() -> IssuerPolicy {
    IssuerPolicy::new(IssuerProfile::device(D, 1_000))
}

fn genesis(keys: &[SecretKey]) -> TangleGenesis {
    TangleGenesis {
        timestamp: 0,
        balances: keys.iter().map(|k| (addr(k), 500)).collect(),
    }
}

/// Two tangles fed the same inputs; `b` is the one that crashes.
struct Twins {
    a: Tangle,
    b: Tangle,
    crashes: u32,
    lost_steps: u32,
    /// How often each kind of event occurred (coverage of the schedules).
    seen: std::collections::BTreeMap<&'static str, u64>,
}

impl Twins {
    fn check(&mut self, what: &str) -> Vec<Event> {
        let (ea, eb) = (self.a.take_events(), self.b.take_events());
        assert_eq!(ea, eb, "events differ after {what}");
        assert_eq!(
            self.a.state_digest(),
            self.b.state_digest(),
            "digests differ after {what}"
        );
        assert_eq!(self.a.poll_timeout(), self.b.poll_timeout(), "{what}");
        for e in &ea {
            let kind = match e {
                Event::Attached { .. } => "attached",
                Event::Waiting { .. } => "waiting",
                Event::Confirmed(_) => "confirmed",
                Event::Conflicting(_) => "conflicting",
                Event::Finalized { .. } => "finalized",
                Event::RequestMissing(_) => "request",
                Event::Dropped { .. } => "dropped",
                Event::Pruned { .. } => "pruned",
            };
            *self.seen.entry(kind).or_default() += 1;
        }
        ea
    }

    fn both<R: PartialEq + std::fmt::Debug>(
        &mut self,
        what: &str,
        f: impl Fn(&mut Tangle) -> R,
    ) -> (R, Vec<Event>) {
        let ra = f(&mut self.a);
        let rb = f(&mut self.b);
        assert_eq!(ra, rb, "results differ for {what}");
        let events = self.check(what);
        (ra, events)
    }

    /// The crashed tangle comes back from what its store holds.
    fn crash(&mut self) {
        let disk = self.b.store().clone();
        self.b = Tangle::restore(config(), policy(), disk).unwrap();
        self.crashes += 1;
        assert_eq!(
            self.a.state_digest(),
            self.b.state_digest(),
            "restore is not exact"
        );
    }
}

/// The store holds exactly the tangle's state, nothing pruned.
fn assert_store_matches(t: &Tangle) {
    let s = t.store();
    assert_eq!(s.count(StoreTable::Node), t.len());
    assert_eq!(s.count(StoreTable::Body), t.len() - 2);
    assert_eq!(s.count(StoreTable::Waiting), t.unsolid_len());
    assert!(s.count(StoreTable::Snapshot) <= config().kept_snapshots);
    assert_eq!(s.count(StoreTable::Meta), 1);
}

struct Driver {
    rng: ChaCha8Rng,
    now: u64,
    keys: Vec<SecretKey>,
    seqs: Vec<u64>,
    spends: Vec<u64>,
    known: Vec<TxId>,
    /// Transactions built but not delivered yet (parents of early children).
    held_back: Vec<Transaction>,
    lazy_seq: u64,
}

impl Driver {
    fn pick(&mut self, n: usize) -> usize {
        (self.rng.next_u64() % n.max(1) as u64) as usize
    }

    fn parents(&mut self, t: &mut Twins) -> Vec<TxId> {
        let walk = self.rng.next_u32() % 2 == 0;
        let mut ra = self.rng.clone();
        let mut rb = self.rng.clone();
        let (pa, pb) = if walk {
            (
                t.a.select_parents(&RandomWalk::default(), &mut ra, self.now, 2),
                t.b.select_parents(&RandomWalk::default(), &mut rb, self.now, 2),
            )
        } else {
            (
                t.a.select_parents(&UniformRandom::default(), &mut ra, self.now, 2),
                t.b.select_parents(&UniformRandom::default(), &mut rb, self.now, 2),
            )
        };
        assert_eq!(pa, pb, "restored tangle selects other parents");
        self.rng = ra;
        pa.unwrap().to_vec()
    }

    fn next_tx(&mut self, who: usize, parents: &[TxId], payload: Payload) -> Transaction {
        let k = self.keys[who].clone();
        let tx = build(&k, self.seqs[who], self.now, parents, payload, D);
        self.seqs[who] += 1;
        tx
    }

    fn note(&mut self, events: &[Event]) {
        for e in events {
            if let Event::Attached { id, .. } | Event::Waiting { id, .. } = e {
                self.known.push(*id);
            }
        }
        if self.known.len() > 600 {
            self.known.drain(..300);
        }
    }

    fn step(&mut self, t: &mut Twins) {
        let roll = self.rng.next_u32() % 100;
        let now = self.now;
        match roll {
            0..=39 => {
                let who = self.pick(ISSUERS as usize);
                let parents = self.parents(t);
                let tx = self.next_tx(who, &parents, Payload::data(&now.to_be_bytes()).unwrap());
                let (r, ev) = t.both("reading", |x| x.handle_transaction(tx.clone(), now));
                assert!(r.is_ok(), "{r:?}");
                self.note(&ev);
            }
            40..=49 => {
                // Transfers, sometimes reusing a spend nonce: double spends and conflicts.
                let who = self.pick(ISSUERS as usize);
                let to = (who + 1 + self.pick(ISSUERS as usize - 1)) % ISSUERS as usize;
                let nonce = self.spends[who].saturating_sub(self.rng.next_u64() % 2);
                self.spends[who] = self.spends[who].max(nonce + 1);
                let parents = self.parents(t);
                let p = transfer(addr(&self.keys[to]), 1 + self.rng.next_u64() % 200, nonce);
                let tx = self.next_tx(who, &parents, p);
                let (_, ev) = t.both("transfer", |x| x.handle_transaction(tx.clone(), now));
                self.note(&ev);
            }
            50..=57 => {
                // A child arrives before its parent (which may never come).
                let who = self.pick(ISSUERS as usize);
                let parents = self.parents(t);
                let parent = self.next_tx(who, &parents, Payload::data(b"late").unwrap());
                let at = self.pick(self.known.len());
                let other = self.known.get(at).copied();
                let mut cp = vec![parent.id()];
                cp.extend(other.filter(|o| *o != parent.id()).or(Some(parents[0])));
                let child = self.next_tx(who, &cp, Payload::data(b"early").unwrap());
                let (_, ev) = t.both("early child", |x| x.handle_transaction(child.clone(), now));
                self.note(&ev);
                if self.rng.next_u32() % 4 != 0 {
                    self.held_back.push(parent);
                }
            }
            58..=62 => {
                // Held-back parents arrive (as a batch-verified backlog).
                let n = self.pick(self.held_back.len() + 1);
                let batch: Vec<Transaction> = self
                    .held_back
                    .drain(..n.min(self.held_back.len()))
                    .collect();
                let (_, ev) = t.both("backlog", |x| x.handle_transactions(batch.clone(), now));
                self.note(&ev);
            }
            63..=66 => {
                // Lazy: approve old known transactions (refused below max depth).
                if self.known.len() >= 2 {
                    let (i, j) = (self.pick(self.known.len()), self.pick(self.known.len()));
                    if self.known[i] != self.known[j] {
                        let k = key(900 + self.lazy_seq % 7);
                        self.lazy_seq += 1;
                        let lazy = build(
                            &k,
                            self.lazy_seq,
                            now,
                            &[self.known[i], self.known[j]],
                            Payload::data(b"lazy").unwrap(),
                            D,
                        );
                        let (_, ev) = t.both("lazy", |x| x.handle_transaction(lazy.clone(), now));
                        self.note(&ev);
                    }
                }
            }
            67..=70 => {
                // Junk: a known transaction with one byte flipped, or a replay.
                if let Some(id) = self.known.last().copied() {
                    if let Some(good) = t.a.get(&id) {
                        let mut bytes = good.encode_to_vec();
                        if self.rng.next_u32() % 3 != 0 {
                            let at = self.pick(bytes.len());
                            bytes[at] ^= 1 << (self.rng.next_u32() % 8);
                        }
                        let (r, _) = t.both("junk", |x| x.handle_bytes(&bytes, now));
                        assert!(r.is_err());
                    }
                }
            }
            71..=79 => {
                // The main chain anchors what the gateway (tangle `a`) proposes.
                let max = 1 + self.pick(40);
                let mut snap = t.a.propose_snapshot(max);
                if !self.held_back.is_empty() && self.rng.next_u32() % 4 == 0 {
                    // An anchor naming a transaction neither has: requested, refused.
                    snap.finalized.push(self.held_back[0].id());
                }
                let (_, ev) = t.both("anchor", |x| x.handle_anchor(&snap, now));
                self.note(&ev);
            }
            80..=95 => self.now += self.rng.next_u64() % 300,
            _ => self.now += 3 * config().max_parent_age_ms,
        }
        if t.a.poll_timeout().is_some_and(|d| d <= self.now) {
            let now = self.now;
            let (_, ev) = t.both("timeout", |x| x.handle_timeout(now));
            self.note(&ev);
        }
    }
}

fn run(seed: u64, steps: usize) -> Twins {
    let keys: Vec<SecretKey> = (1..=ISSUERS).map(key).collect();
    let a = Tangle::new(config(), policy(), genesis(&keys), MemoryStore::default());
    let mut twins = Twins {
        b: a.clone(),
        a,
        crashes: 0,
        lost_steps: 0,
        seen: Default::default(),
    };
    let mut d = Driver {
        rng: ChaCha8Rng::seed_from_u64(seed),
        now: 1_000,
        keys,
        seqs: vec![0; ISSUERS as usize],
        spends: vec![0; ISSUERS as usize],
        known: TangleGenesis::roots().to_vec(),
        held_back: Vec::new(),
        lazy_seq: 0,
    };
    for _ in 0..steps {
        match d.rng.next_u32() % 100 {
            0..=3 => twins.crash(),
            4..=5 => {
                // A crash in the middle of the next step: its batch never reaches the disk.
                let (a_before, disk_before) = (twins.a.clone(), twins.b.store().clone());
                let rng_before = d.rng.clone();
                d.step(&mut twins);
                twins.b = Tangle::restore(config(), policy(), disk_before).unwrap();
                twins.a = a_before;
                d.rng = rng_before;
                d.rng.next_u64();
                twins.lost_steps += 1;
                assert_eq!(twins.a.state_digest(), twins.b.state_digest(), "lost step");
            }
            _ => d.step(&mut twins),
        }
        assert_store_matches(&twins.a);
        assert_store_matches(&twins.b);
    }
    twins
}

#[test]
fn restore_is_exact_and_continues_like_the_uncrashed_twin() {
    // More schedules: ITC_DAG_RESTORE_SEEDS=500 cargo test --release -p itc-dag --test restore
    let seeds: u64 = std::env::var("ITC_DAG_RESTORE_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    let (mut crashes, mut lost) = (0, 0);
    let mut seen = std::collections::BTreeMap::new();
    for seed in 0..seeds {
        let t = run(seed, 250);
        crashes += t.crashes;
        lost += t.lost_steps;
        for (k, v) in t.seen {
            *seen.entry(k).or_insert(0u64) += v;
        }
    }
    println!("{crashes} crashes, {lost} lost steps, events {seen:?}");
    assert!(crashes >= seeds as u32 * 4, "{crashes} crashes");
    assert!(lost >= seeds as u32, "{lost} lost steps");
    // Every kind of state change happened around the crashes.
    for kind in [
        "attached",
        "waiting",
        "confirmed",
        "conflicting",
        "finalized",
        "request",
        "dropped",
        "pruned",
    ] {
        assert!(
            seen.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} events: {seen:?}"
        );
    }
}

#[test]
fn a_restored_tangle_accepts_new_transactions_after_any_downtime() {
    // Old transactions would fail every time check if they were re-validated at restart;
    // restored state is trusted, only new input is checked against its own `now_ms`.
    let keys: Vec<SecretKey> = (1..=ISSUERS).map(key).collect();
    let mut t = Tangle::new(config(), policy(), genesis(&keys), MemoryStore::default());
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut now = 1_000;
    let mut seqs = [0u64; ISSUERS as usize];
    let mut last = None;
    for i in 0..30usize {
        now += 50;
        let who = i % ISSUERS as usize;
        let p = t
            .select_parents(&RandomWalk::default(), &mut rng, now, 2)
            .unwrap();
        let x = build(
            &keys[who],
            seqs[who],
            now,
            &p,
            Payload::data(b"r").unwrap(),
            D,
        );
        seqs[who] += 1;
        last = Some(x.id());
        t.handle_transaction(x, now).unwrap();
    }
    let before = t.state_digest();
    let pending_tip = last.unwrap();
    assert_eq!(t.status(&pending_tip), Some(TxStatus::Pending));
    // Down for a day.
    let later = now + 86_400_000;
    let mut r = Tangle::restore(config(), policy(), t.store().clone()).unwrap();
    assert_eq!(r.state_digest(), before);
    assert_eq!(r.status(&pending_tip), Some(TxStatus::Pending));
    // Traffic resumes where it stopped: the first new reading approves the old tips.
    let p = r
        .select_parents(&RandomWalk::default(), &mut rng, later, 2)
        .unwrap();
    let x = build(
        &keys[0],
        seqs[0],
        later,
        &p,
        Payload::data(b"back").unwrap(),
        D,
    );
    let back = x.id();
    r.handle_transaction(x, later).unwrap();
    for k in 0..8u64 {
        let now = later + 10 * (k + 1);
        let p = r
            .select_parents(&RandomWalk::default(), &mut rng, now, 2)
            .unwrap();
        let x = build(&key(50 + k), 0, now, &p, Payload::data(b"r").unwrap(), D);
        r.handle_transaction(x, now).unwrap();
    }
    assert_eq!(r.status(&back), Some(TxStatus::Confirmed));
}

#[test]
fn restore_refuses_what_is_not_a_tangle_store() {
    let keys: Vec<SecretKey> = (1..=ISSUERS).map(key).collect();
    assert_eq!(
        Tangle::restore(config(), policy(), MemoryStore::default()).err(),
        Some(DagError::StoreEmpty)
    );
    let mut t = Tangle::new(config(), policy(), genesis(&keys), MemoryStore::default());
    let x = build(
        &keys[0],
        0,
        1_000,
        &TangleGenesis::roots(),
        Payload::data(b"r").unwrap(),
        D,
    );
    t.handle_transaction(x, 1_000).unwrap();
    // A store from a tangle configured with more room than this one.
    let tiny = TangleConfig {
        capacity: 2,
        ..config()
    };
    assert!(matches!(
        Tangle::restore(tiny, policy(), t.store().clone()).err(),
        Some(DagError::StoreOverCapacity {
            table: StoreTable::Body | StoreTable::Node,
            ..
        })
    ));
}

#[test]
fn what_an_anchor_made_this_node_request_survives_a_restart() {
    // The chain anchors A and B from one issuer; this node saw only B (sequence 1), so A
    // (sequence 0) pushed at it unsolicited would be a replay. The anchor makes it ask for
    // A; after a crash, A fetched on that request must still be taken.
    let k = key(1);
    let cfg = TangleConfig {
        confirmation_threshold: 1,
        ..config()
    };
    let roots = TangleGenesis::roots();
    let a = build(&k, 0, 1_000, &roots, Payload::data(b"a").unwrap(), D);
    let b = build(&k, 1, 1_001, &roots, Payload::data(b"b").unwrap(), D);
    let mut gateway = Tangle::new(
        cfg,
        policy(),
        TangleGenesis::default(),
        MemoryStore::default(),
    );
    gateway.handle_transaction(a.clone(), 1_000).unwrap();
    gateway.handle_transaction(b.clone(), 1_001).unwrap();
    let snap = gateway.propose_snapshot(10);
    assert_eq!(snap.finalized.len(), 2);
    let mut node = Tangle::new(
        cfg,
        policy(),
        TangleGenesis::default(),
        MemoryStore::default(),
    );
    node.handle_transaction(b, 1_001).unwrap();
    assert_eq!(
        node.clone().handle_transaction(a.clone(), 1_002),
        Err(DagError::SequenceReplay { last: 1, got: 0 })
    );
    assert_eq!(
        node.handle_anchor(&snap, 1_002),
        Err(DagError::AnchorUnknownTx(a.id()))
    );
    assert!(node.take_events().contains(&Event::RequestMissing(a.id())));
    let mut node = Tangle::restore(cfg, policy(), node.store().clone()).unwrap();
    node.handle_transaction(a, 1_003).unwrap();
    node.handle_anchor(&snap, 1_004).unwrap();
    assert_eq!(node.balances().root(), snap.balances_root);
}
