//! A deterministic, seeded network simulator that runs real replicas.
//!
//! Everything random comes from one ChaCha stream seeded by the run's seed, and events are
//! ordered by (time, sequence number), so a seed replays exactly. The network delays, drops,
//! duplicates and reorders messages and partitions the validators until `heal_at`; after that
//! it is reliable (delays and duplicates remain). Faulty validators (power < 1/3 in total)
//! follow one [`Behaviour`].
//!
//! Checked on every run: safety (all honest replicas commit the same header at each height,
//! every certificate they emit verifies, every evidence they emit verifies and names a faulty
//! validator, memory stays within its bounds) and liveness (after the network heals, every
//! request commits at every live honest replica within `liveness_bound_ms`).

#![allow(dead_code)]

use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::fmt;

use itc_crypto::quorum::{Validator, ValidatorSet};
use itc_crypto::{Hash, SecretKey, Signature, Signer};
use itc_pbft::cluster::{test_key, Application, HashChainApp};
use itc_pbft::message::{
    vote_digest, CheckpointVote, NewView, Phase, PrePrepare, ViewChange, Vote,
};
use itc_pbft::{
    Action, Batch, CertifiedBlock, ChainGenesis, ChainTip, ClientId, Config, Message, Replica,
    Request, SafetyRecord, VoteCheck,
};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// What the faulty validators do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// No faulty validator: only the network misbehaves.
    None,
    /// Faulty validators never send anything.
    Silent,
    /// The faulty primary of view 0 sends different batches to different backups.
    EquivocatingPrimary,
    /// Faulty validators send conflicting prepares and commits.
    ConflictingVotes,
    /// Faulty validators replay old messages (other views, old heights) to everyone.
    Replay,
    /// Faulty validators forge messages in others' names and tamper with fetched blocks.
    ForgedSignatures,
    /// The faulty validators send bogus new-views when primary, and view-changes for huge views.
    BogusNewView,
    /// No Byzantine validator: f honest validators crash and restart from their durable state.
    CrashRestart,
    /// The primary of view 0 (and up to f − 1 others) crash-stops for good, and one honest
    /// validator crashes and restarts from its durable record meanwhile: the restored replica
    /// must take part in the view change at once (issue 16.1: before the fix it could resolve
    /// no validator set at or below its tip, and with n = 4 the cluster sat in view 1).
    PrimaryCrashStopAndRestart,
    /// Twins: every faulty validator runs two honest-looking instances under one key, one on
    /// each side of the partition (each instance hears and reaches only its side until the
    /// heal, then both hear everyone), so it equivocates without meaning to.
    Twins,
    /// No Byzantine validator: f honest validators crash *between two actions of a step*
    /// (only the durable writes carried out before the crash survive) and restart from their
    /// record, up to three times each.
    CrashMidStep,
    /// Issue 16.2: faulty validators withhold batches (they answer no batch request and serve
    /// no block; as primary they send their proposal to one honest backup only), later-view
    /// proposals overwrite slots, and one honest validator loses its memory in a crash.
    WithheldBatches,
}

impl Behaviour {
    /// Behaviours run by their own tests (and replayable by name).
    pub const EXTRA: [Behaviour; 1] = [Behaviour::PrimaryCrashStopAndRestart];

    /// The behaviours of issue 16's "Done when" (two-instance partitions, crashes between any
    /// two actions, withheld, overwritten and lost batches).
    pub const ISSUE_16: [Behaviour; 3] = [
        Behaviour::Twins,
        Behaviour::CrashMidStep,
        Behaviour::WithheldBatches,
    ];

    /// Every behaviour the sweep runs (`PrimaryCrashStopAndRestart` runs on its own, see
    /// `tests/simulation.rs`).
    pub const ALL: [Behaviour; 8] = [
        Behaviour::None,
        Behaviour::Silent,
        Behaviour::EquivocatingPrimary,
        Behaviour::ConflictingVotes,
        Behaviour::Replay,
        Behaviour::ForgedSignatures,
        Behaviour::BogusNewView,
        Behaviour::CrashRestart,
    ];
}

/// One simulation run's parameters.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Voting power of each validator (the length is n).
    pub powers: Vec<u64>,
    /// What the faulty validators do.
    pub behaviour: Behaviour,
    /// Client requests submitted before the heal.
    pub requests: usize,
    /// Time the network becomes reliable.
    pub heal_at: u64,
    /// After the heal, every request must commit within this bound.
    pub liveness_bound_ms: u64,
    /// Probability (per mille) of dropping a message before the heal.
    pub drop_per_mille: u32,
    /// Probability (per mille) of duplicating a message.
    pub dup_per_mille: u32,
    /// Largest one-way delay in ms (delays are uniform in 1..=max).
    pub max_delay_ms: u64,
    /// Whether the network partitions before the heal.
    pub partitions: bool,
    /// Replica configuration.
    pub replica: Config,
}

impl SimConfig {
    /// Defaults tuned for short runs.
    pub fn new(seed: u64, powers: Vec<u64>, behaviour: Behaviour) -> Self {
        SimConfig {
            seed,
            powers,
            behaviour,
            requests: 4,
            heal_at: 800,
            liveness_bound_ms: 12_000,
            drop_per_mille: 60,
            dup_per_mille: 30,
            max_delay_ms: 15,
            partitions: true,
            replica: Config {
                checkpoint_interval: 2,
                window: 4,
                max_batch_requests: 3,
                max_batch_bytes: 4096,
                max_payload_bytes: 256,
                batch_delay_ms: 20,
                view_change_timeout_ms: 150,
                max_view_change_timeout_ms: 1_200,
                fetch_timeout_ms: 80,
                max_clock_skew_ms: 2_000,
                max_pending_requests: 1_000,
                max_future_per_sender: 16,
                max_clients: 1_000,
                // Odd seeds batch-check votes at quorum time, even seeds check on arrival:
                // every behaviour meets both.
                // ITC_PBFT_VOTE_CHECK=OnArrival|AtQuorum overrides this for a replay.
                vote_check: match std::env::var("ITC_PBFT_VOTE_CHECK").as_deref() {
                    Ok("OnArrival") => VoteCheck::OnArrival,
                    Ok("AtQuorum") => VoteCheck::AtQuorum,
                    _ if seed % 2 == 1 => VoteCheck::AtQuorum,
                    _ => VoteCheck::OnArrival,
                },
                max_batches_per_height: 4,
                max_batch_serves_per_peer: 16,
                idle_block_interval_ms: 0,
            },
        }
    }
}

/// What a run observed.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Messages delivered.
    pub delivered: u64,
    /// Messages the replicas rejected (typed errors).
    pub rejected: u64,
    /// Highest view reached by an honest replica.
    pub max_view: u64,
    /// Blocks committed at the most advanced honest replica.
    pub height: u64,
    /// Time after the heal at which the last request committed everywhere (0: before).
    pub settle_after_heal_ms: u64,
    /// Evidence items emitted by honest replicas.
    pub evidence: usize,
    /// Signature checks performed by honest replicas.
    pub verifications: u64,
    /// Signatures made by honest replicas.
    pub signatures: u64,
}

/// Why a run failed.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The run's configuration (replay it with `run(&config)`).
    pub config: SimConfig,
    /// What went wrong.
    pub what: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {} (n = {}, powers {:?}, {:?}): {}\n  replay: ITC_PBFT_SEED={} ITC_PBFT_POWERS={} ITC_PBFT_BEHAVIOUR={:?} ITC_PBFT_TRACE=1 cargo test -p itc-pbft --test replay -- --ignored --nocapture",
            self.config.seed,
            self.config.powers.len(),
            self.config.powers,
            self.config.behaviour,
            self.what,
            self.config.seed,
            self.config
                .powers
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(","),
            self.config.behaviour
        )
    }
}

#[derive(Debug, Clone)]
enum Event {
    Msg {
        to: usize,
        msg: Message,
    },
    Tick {
        node: usize,
    },
    Request {
        node: usize,
        req: Request,
    },
    FetchReq {
        peer: usize,
        requester: usize,
        from: u64,
        to: u64,
    },
    Block {
        to: usize,
        block: CertifiedBlock,
    },
    Crash {
        node: usize,
    },
    Restart {
        node: usize,
    },
    CrashMidStep {
        node: usize,
    },
    Forge {
        node: usize,
    },
}

struct Queued {
    at: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        // Min-heap on (at, seq).
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

struct Node {
    key: SecretKey,
    faulty: bool,
    replica: Option<Replica<SecretKey>>,
    app: HashChainApp,
    record: SafetyRecord,
    /// Durable block store (survives crashes): every committed block in order.
    blocks: Vec<CertifiedBlock>,
    crashed: bool,
    /// CrashMidStep: crash after the next step's `k`-th action (chosen when it runs).
    crash_mid_step: bool,
    /// Twins: the validator index whose key this instance shares (itself if not a twin).
    validator: usize,
    /// Messages seen (for replaying attackers).
    seen: VecDeque<Message>,
    /// When the next `Tick` for it is queued (its replica's `poll_timeout` when last asked).
    tick_at: Option<u64>,
}

struct Sim {
    trace: bool,
    /// Commit signatures already checked by the safety checker: (signer, digest, signature).
    checked: std::collections::BTreeSet<(usize, Hash, [u8; 64])>,
    /// Heights whose certificate went through the full `CommitCertificate::verify` API.
    api_checked: std::collections::BTreeSet<u64>,
    cfg: SimConfig,
    rng: ChaCha8Rng,
    nodes: Vec<Node>,
    set: ValidatorSet,
    genesis: ChainGenesis,
    queue: BinaryHeap<Queued>,
    seq: u64,
    now: u64,
    partition: Option<Vec<bool>>,
    requests: Vec<Request>,
    outcome: Outcome,
}

/// Picks faulty validators holding strictly less than 1/3 of the power: `f` of them for equal
/// power, as many as fit otherwise. Some behaviours need particular validators faulty.
fn pick_faulty(rng: &mut ChaCha8Rng, powers: &[u64], behaviour: Behaviour) -> Vec<bool> {
    let n = powers.len();
    let total: u64 = powers.iter().sum();
    let mut faulty = vec![false; n];
    let mut power = 0u64;
    let mut order: Vec<usize> = (0..n).collect();
    // Shuffle deterministically.
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    // The primary of view 0 (index 0) or view 1 (index 1) must be faulty for some behaviours.
    let first = match behaviour {
        Behaviour::EquivocatingPrimary
        | Behaviour::PrimaryCrashStopAndRestart
        | Behaviour::WithheldBatches => Some(0),
        Behaviour::BogusNewView => Some(1),
        _ => None,
    };
    if let Some(i) = first {
        order.retain(|x| *x != i);
        order.insert(0, i);
    }
    for i in order {
        if 3 * (power + powers[i]) < total {
            faulty[i] = true;
            power += powers[i];
        }
    }
    faulty
}

/// Runs one schedule and checks it.
pub fn run(cfg: &SimConfig) -> Result<Outcome, Box<Failure>> {
    let fail = |what: String| {
        Box::new(Failure {
            config: cfg.clone(),
            what,
        })
    };
    let mut sim = Sim::new(cfg.clone()).map_err(fail)?;
    sim.run().map_err(fail)
}

impl Sim {
    fn new(cfg: SimConfig) -> Result<Self, String> {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let keys: Vec<SecretKey> = (0..cfg.powers.len())
            .map(|i| test_key(i).map_err(|e| format!("{e}")))
            .collect::<Result<_, _>>()?;
        let set = ValidatorSet::new(keys.iter().zip(&cfg.powers).map(|(k, p)| Validator {
            key: k.public_key(),
            power: *p,
        }))
        .map_err(|e| format!("{e}"))?;
        // Node i has signer index i.
        let mut keys = keys;
        keys.sort_by_key(|k| set.index_of(&k.public_key()));
        let powers: Vec<u64> = set.validators().iter().map(|v| v.power).collect();
        let faulty = if matches!(cfg.behaviour, Behaviour::None) {
            vec![false; powers.len()]
        } else {
            pick_faulty(&mut rng, &powers, cfg.behaviour)
        };
        let genesis = ChainGenesis {
            validators: set.clone(),
            state_root: Hash::ZERO,
            timestamp_ms: 0,
        };
        let mut nodes = Vec::new();
        for (i, key) in keys.into_iter().enumerate() {
            let is_faulty = faulty[i]
                && !matches!(
                    cfg.behaviour,
                    Behaviour::CrashRestart | Behaviour::CrashMidStep
                );
            let replica = if is_faulty && cfg.behaviour == Behaviour::Silent {
                None
            } else {
                Some(Replica::new(cfg.replica, key.clone(), &genesis).map_err(|e| format!("{e}"))?)
            };
            nodes.push(Node {
                key,
                faulty: is_faulty,
                replica,
                app: HashChainApp::default(),
                record: SafetyRecord::default(),
                blocks: Vec::new(),
                crashed: false,
                crash_mid_step: false,
                validator: i,
                seen: VecDeque::new(),
                tick_at: None,
            });
        }
        // Twins: a second instance of every faulty validator, under the same key.
        if cfg.behaviour == Behaviour::Twins {
            for i in 0..nodes.len() {
                if nodes[i].faulty {
                    let key = nodes[i].key.clone();
                    nodes.push(Node {
                        replica: Some(
                            Replica::new(cfg.replica, key.clone(), &genesis)
                                .map_err(|e| format!("{e}"))?,
                        ),
                        key,
                        faulty: true,
                        app: HashChainApp::default(),
                        record: SafetyRecord::default(),
                        blocks: Vec::new(),
                        crashed: false,
                        crash_mid_step: false,
                        validator: i,
                        seen: VecDeque::new(),
                        tick_at: None,
                    });
                }
            }
        }
        let mut sim = Sim {
            trace: std::env::var("ITC_PBFT_TRACE").is_ok(),
            checked: Default::default(),
            api_checked: Default::default(),
            cfg: cfg.clone(),
            rng,
            nodes,
            set,
            genesis,
            queue: BinaryHeap::new(),
            seq: 0,
            now: 0,
            partition: None,
            requests: Vec::new(),
            outcome: Outcome::default(),
        };
        // Client requests at random times before the heal; each client's ids increase with
        // time (PBFT's timestamps), so requests are issued in time order.
        let mut times: Vec<u64> = (0..cfg.requests)
            .map(|_| 1 + sim.rng.next_u64() % cfg.heal_at.max(2))
            .collect();
        times.sort_unstable();
        for (r, at) in times.into_iter().enumerate() {
            let client = ClientId(1 + (r % 3) as u64);
            let req = Request::new(client, r as u64 + 1, vec![r as u8; 1 + r % 7]);
            sim.requests.push(req.clone());
            for node in 0..sim.nodes.len() {
                sim.push(
                    at,
                    Event::Request {
                        node,
                        req: req.clone(),
                    },
                );
            }
        }
        // Clients retry every request once the network healed.
        for req in sim.requests.clone() {
            for node in 0..sim.nodes.len() {
                sim.push(
                    cfg.heal_at + 1,
                    Event::Request {
                        node,
                        req: req.clone(),
                    },
                );
            }
        }
        if cfg.behaviour == Behaviour::CrashMidStep {
            for (i, f) in faulty.iter().enumerate() {
                if *f {
                    let mut at = 0;
                    for _ in 0..3 {
                        let down = at + 1 + sim.rng.next_u64() % (cfg.heal_at / 3);
                        let up = down + 1 + sim.rng.next_u64() % (cfg.heal_at / 4);
                        sim.push(down, Event::CrashMidStep { node: i });
                        sim.push(up, Event::Restart { node: i });
                        at = up;
                    }
                }
            }
        }
        if cfg.behaviour == Behaviour::WithheldBatches {
            // One honest validator loses everything but its durable record, once.
            if let Some(j) = (0..faulty.len()).find(|j| !faulty[*j]) {
                let down = 100 + sim.rng.next_u64() % (cfg.heal_at / 2);
                sim.push(down, Event::Crash { node: j });
                let up = down + 1 + sim.rng.next_u64() % (cfg.heal_at / 3);
                sim.push(up, Event::Restart { node: j });
            }
        }
        // Crashes and restarts of f honest validators.
        if cfg.behaviour == Behaviour::CrashRestart {
            for (i, f) in faulty.iter().enumerate() {
                if *f {
                    let down = 1 + sim.rng.next_u64() % (cfg.heal_at / 2);
                    let up = down + 1 + sim.rng.next_u64() % (cfg.heal_at / 2);
                    sim.push(down, Event::Crash { node: i });
                    sim.push(up, Event::Restart { node: i });
                }
            }
        }
        if cfg.behaviour == Behaviour::PrimaryCrashStopAndRestart {
            // The faulty ones stop early and never return; one honest replica restarts while
            // the cluster needs it for the view change.
            let down = 1 + sim.rng.next_u64() % (cfg.heal_at / 2);
            for (i, f) in faulty.iter().enumerate() {
                if *f {
                    sim.push(down, Event::Crash { node: i });
                }
            }
            if let Some(j) = (0..faulty.len()).rev().find(|j| !faulty[*j]) {
                let at = down + 1 + sim.rng.next_u64() % (cfg.heal_at / 2);
                sim.push(at, Event::Crash { node: j });
                let up = at + 1 + sim.rng.next_u64() % 50;
                sim.push(up, Event::Restart { node: j });
            }
        }
        if matches!(
            cfg.behaviour,
            Behaviour::ForgedSignatures | Behaviour::BogusNewView | Behaviour::Replay
        ) {
            for (i, n) in sim.nodes.iter().enumerate() {
                if n.faulty {
                    let at = 1 + i as u64;
                    sim.queue.push(Queued {
                        at,
                        seq: u64::MAX - i as u64,
                        event: Event::Forge { node: i },
                    });
                }
            }
        }
        Ok(sim)
    }

    fn push(&mut self, at: u64, event: Event) {
        self.seq += 1;
        self.queue.push(Queued {
            at,
            seq: self.seq,
            event,
        });
    }

    fn n(&self) -> usize {
        self.nodes.len()
    }

    fn healed(&self) -> bool {
        self.now >= self.cfg.heal_at
    }

    fn rand(&mut self, bound: u64) -> u64 {
        self.rng.next_u64() % bound.max(1)
    }

    /// Sends over the simulated network (delay, drop, duplicate, partition).
    fn send(&mut self, from: usize, to: usize, msg: Message) {
        if from == to {
            return;
        }
        // Twins: a message for a twinned validator reaches the instance on the sender's side
        // before the heal and both instances after it.
        let twins: Vec<usize> = (0..self.nodes.len())
            .filter(|t| *t != to && self.nodes[*t].validator == to)
            .collect();
        if !twins.is_empty() {
            if self.healed() {
                for t in twins {
                    self.send_one(from, t, msg.clone());
                }
                self.send_one(from, to, msg);
                return;
            }
            let target = std::iter::once(to)
                .chain(twins)
                .find(|x| self.side(*x) == self.side(from))
                .unwrap_or(to);
            return self.send_one(from, target, msg);
        }
        self.send_one(from, to, msg)
    }

    /// The partition side of node `x` (without a partition, twins still sit apart).
    fn side(&self, x: usize) -> bool {
        match &self.partition {
            Some(p) => p[x],
            None => {
                let v = self.nodes[x].validator;
                if v != x {
                    v % 2 != 0
                } else {
                    x % 2 == 0
                }
            }
        }
    }

    fn send_one(&mut self, from: usize, to: usize, msg: Message) {
        if self.nodes[from].validator == self.nodes[to].validator {
            return;
        }
        if !self.healed() {
            if let Some(p) = &self.partition {
                if p[from] != p[to] {
                    return;
                }
            }
            if self.rand(1000) < u64::from(self.cfg.drop_per_mille) {
                return;
            }
        }
        let delay = 1 + self.rand(self.cfg.max_delay_ms);
        let at = self.now + delay;
        if self.rand(1000) < u64::from(self.cfg.dup_per_mille) {
            let extra = 1 + self.rand(self.cfg.max_delay_ms * 2);
            self.push(
                at + extra,
                Event::Msg {
                    to,
                    msg: msg.clone(),
                },
            );
        }
        self.push(at, Event::Msg { to, msg });
    }

    fn broadcast(&mut self, from: usize, msg: &Message) {
        for to in 0..self.set.len() {
            if to != from {
                self.send(from, to, msg.clone());
            }
        }
    }

    fn run(&mut self) -> Result<Outcome, String> {
        let end = self.cfg.heal_at + self.cfg.liveness_bound_ms;
        let mut next_partition = 200;
        let mut settled_at = None;
        while let Some(q) = self.queue.pop() {
            if q.at > end {
                break;
            }
            self.now = q.at;
            if self.cfg.partitions && !self.healed() && self.now >= next_partition {
                self.reshape_partition();
                next_partition = self.now + 150 + self.rand(400);
            }
            if self.healed() {
                self.partition = None;
            }
            self.handle(q.event)?;
            if settled_at.is_none() && self.healed() && self.all_committed() {
                settled_at = Some(self.now);
                // Keep running a little to let stragglers and checks settle, then stop.
                break;
            }
        }
        self.check_safety()?;
        match settled_at {
            Some(t) => {
                self.outcome.settle_after_heal_ms = t.saturating_sub(self.cfg.heal_at);
            }
            None => {
                return Err(format!(
                    "liveness: not every request committed at every live honest replica within {} ms of the heal (heights {:?}, views {:?})",
                    self.cfg.liveness_bound_ms,
                    self.heights(),
                    self.views()
                ))
            }
        }
        self.outcome.height = self.heights().into_iter().max().unwrap_or(0);
        self.outcome.max_view = self.views().into_iter().max().unwrap_or(0);
        self.outcome.verifications = self
            .nodes
            .iter()
            .filter(|n| !n.faulty)
            .filter_map(|n| n.replica.as_ref())
            .map(|r| r.sig_stats().verified)
            .sum();
        self.outcome.signatures = self
            .nodes
            .iter()
            .filter(|n| !n.faulty)
            .filter_map(|n| n.replica.as_ref())
            .map(|r| r.sig_stats().signed)
            .sum();
        Ok(self.outcome.clone())
    }

    fn reshape_partition(&mut self) {
        if self.rand(3) == 0 {
            self.partition = None;
            return;
        }
        let mut p: Vec<bool> = (0..self.n()).map(|_| self.rand(2) == 0).collect();
        // A twin sits on the other side from its sibling.
        for t in 0..self.n() {
            let v = self.nodes[t].validator;
            if v != t {
                p[t] = !p[v];
            }
        }
        self.partition = Some(p);
    }

    fn heights(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .map(|n| n.blocks.last().map_or(0, |b| b.header.height))
            .collect()
    }

    fn views(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .map(|n| n.replica.as_ref().map_or(0, |r| r.view()))
            .collect()
    }

    fn all_committed(&self) -> bool {
        self.nodes
            .iter()
            .filter(|n| !n.faulty && !n.crashed)
            .all(|n| {
                self.requests.iter().all(|r| {
                    n.blocks.iter().any(|b| {
                        b.batch
                            .requests()
                            .iter()
                            .any(|x| x.client == r.client && x.id == r.id)
                    })
                })
            })
    }

    fn handle(&mut self, event: Event) -> Result<(), String> {
        match event {
            Event::Msg { to, msg } => {
                let node = &mut self.nodes[to];
                if node.crashed {
                    return Ok(());
                }
                if node.faulty && self.cfg.behaviour == Behaviour::Replay && node.seen.len() < 400 {
                    node.seen.push_back(msg.clone());
                }
                let Some(r) = node.replica.as_mut() else {
                    return Ok(());
                };
                self.outcome.delivered += 1;
                let summary = if self.trace {
                    summarize(&msg)
                } else {
                    String::new()
                };
                let res = r.handle_message(msg, self.now);
                if self.trace {
                    eprintln!(
                        "{:>6} n{to} v{}{} h{} <- {summary}: {:?}",
                        self.now,
                        r.view(),
                        if r.is_view_active() { "" } else { "*" },
                        r.last_committed().height,
                        res
                    );
                }
                if res.is_err() {
                    self.outcome.rejected += 1;
                }
                self.process(to)?;
            }
            Event::Tick { node } => {
                if self.nodes[node].tick_at.is_some_and(|t| t <= self.now) {
                    self.nodes[node].tick_at = None;
                }
                if self.nodes[node].crashed {
                    return Ok(());
                }
                if let Some(r) = self.nodes[node].replica.as_mut() {
                    let _ = r.handle_timeout(self.now);
                    if self.trace {
                        eprintln!(
                            "{:>6} n{node} tick v{} active {} h{} pending {}",
                            self.now,
                            r.view(),
                            r.is_view_active(),
                            r.last_committed().height,
                            r.pending_requests()
                        );
                    }
                }
                self.process(node)?;
            }
            Event::Request { node, req } => {
                if self.nodes[node].crashed {
                    return Ok(());
                }
                if let Some(r) = self.nodes[node].replica.as_mut() {
                    let _ = r.handle_request(req, self.now);
                }
                self.process(node)?;
            }
            Event::FetchReq {
                peer,
                requester,
                from,
                to,
            } => {
                let p = &self.nodes[peer];
                if p.crashed
                    || (p.faulty
                        && matches!(
                            self.cfg.behaviour,
                            Behaviour::Silent | Behaviour::WithheldBatches
                        ))
                {
                    return Ok(());
                }
                let tamper = p.faulty && self.cfg.behaviour == Behaviour::ForgedSignatures;
                let blocks: Vec<CertifiedBlock> = p
                    .blocks
                    .iter()
                    .filter(|b| b.header.height >= from && b.header.height <= to)
                    .cloned()
                    .collect();
                for mut b in blocks {
                    if tamper {
                        b.batch = Batch::new(vec![Request::new(ClientId(666), 1, vec![6])]);
                    }
                    self.send_block(peer, requester, b);
                }
            }
            Event::Block { to, block } => {
                if self.nodes[to].crashed {
                    return Ok(());
                }
                if let Some(r) = self.nodes[to].replica.as_mut() {
                    let h = block.header.height;
                    let res = r.handle_fetched_block(block, self.now);
                    if self.trace {
                        eprintln!("{:>6} n{to} fetched block {h}: {res:?}", self.now);
                    }
                }
                self.process(to)?;
            }
            Event::CrashMidStep { node } => {
                if !self.nodes[node].crashed {
                    self.nodes[node].crash_mid_step = true;
                }
            }
            Event::Crash { node } => {
                let n = &mut self.nodes[node];
                n.crashed = true;
                n.replica = None;
            }
            Event::Restart { node } => {
                let n = &mut self.nodes[node];
                let tip = match n.blocks.last() {
                    Some(b) => ChainTip {
                        header: b.header,
                        state_root: n.app.root,
                        validators: self.set.clone(),
                        epochs: Vec::new(),
                        scheduled: None,
                    },
                    None => ChainTip {
                        header: self.genesis.header(),
                        state_root: self.genesis.state_root,
                        validators: self.set.clone(),
                        epochs: Vec::new(),
                        scheduled: None,
                    },
                };
                let r = Replica::restore(self.cfg.replica, n.key.clone(), n.record.clone(), tip)
                    .map_err(|e| format!("restore failed: {e}"))?;
                n.replica = Some(r);
                n.crashed = false;
                self.process(node)?;
                // A restarted replica re-reads its pending requests from its clients.
                for req in self.requests.clone() {
                    self.push(self.now + 1, Event::Request { node, req });
                }
            }
            Event::Forge { node } => {
                self.forge(node);
                if !self.healed() || self.now < self.cfg.heal_at + 2_000 {
                    let at = self.now + 20 + self.rand(60);
                    self.push(at, Event::Forge { node });
                }
            }
        }
        Ok(())
    }

    fn send_block(&mut self, from: usize, to: usize, block: CertifiedBlock) {
        if !self.healed() && self.rand(1000) < u64::from(self.cfg.drop_per_mille) {
            return;
        }
        let at = self.now + 1 + self.rand(self.cfg.max_delay_ms);
        let _ = from;
        self.push(at, Event::Block { to, block });
    }

    /// Carries out a node's actions as its integrator, applying its behaviour if faulty.
    fn process(&mut self, i: usize) -> Result<(), String> {
        loop {
            let actions: Vec<Action> = match self.nodes[i].replica.as_mut() {
                Some(r) => r.drain_actions().collect(),
                None => return Ok(()),
            };
            if actions.is_empty() {
                break;
            }
            // CrashMidStep: carry out the first k actions of this step, then lose the replica
            // (only the `Persist`s among those k are in its record).
            let cut = if self.nodes[i].crash_mid_step && actions.len() >= 2 {
                Some(1 + self.rand(actions.len() as u64 - 1) as usize)
            } else {
                None
            };
            for (k, a) in actions.into_iter().enumerate() {
                if cut == Some(k) {
                    if self.trace {
                        eprintln!("{:>6} n{i} CRASH after {k} actions of a step", self.now);
                    }
                    let n = &mut self.nodes[i];
                    n.crash_mid_step = false;
                    n.crashed = true;
                    n.replica = None;
                    return Ok(());
                }
                self.carry_out(i, a)?;
            }
        }
        // The replica's next deadline: queue a tick for it unless one is queued by then (an
        // early tick finds nothing due and is harmless).
        let deadline = self.nodes[i]
            .replica
            .as_ref()
            .and_then(Replica::poll_timeout);
        if let Some(d) = deadline {
            let d = d.max(self.now);
            if self.nodes[i].tick_at.is_none_or(|t| t > d) {
                self.nodes[i].tick_at = Some(d);
                self.push(d, Event::Tick { node: i });
            }
        }
        // Memory bounds hold at all times.
        if let Some(r) = self.nodes[i].replica.as_ref() {
            let c = &self.cfg.replica;
            if r.log_len() as u64 > c.window + 1 {
                return Err(format!(
                    "node {i}: log holds {} slots, window is {}",
                    r.log_len(),
                    c.window
                ));
            }
            let batches = 2 * c.window as usize * c.max_batches_per_height;
            if r.batches_held() > batches || r.batches_wanted() > batches / 2 {
                return Err(format!(
                    "node {i}: {} batches held, {} wanted",
                    r.batches_held(),
                    r.batches_wanted()
                ));
            }
            if r.buffered_len() > self.n() * c.max_future_per_sender {
                return Err(format!("node {i}: {} buffered messages", r.buffered_len()));
            }
            if r.safety_record().vote_entries() as u64 > 3 * (c.window + 1) {
                return Err(format!(
                    "node {i}: {} durable vote entries",
                    r.safety_record().vote_entries()
                ));
            }
        }
        Ok(())
    }

    fn carry_out(&mut self, i: usize, a: Action) -> Result<(), String> {
        let faulty = self.nodes[i].faulty;
        match a {
            Action::Persist(fact) => self.nodes[i].record.apply(&fact),
            Action::Send { to, message } => {
                let withheld = faulty
                    && self.cfg.behaviour == Behaviour::WithheldBatches
                    && matches!(message, Message::BatchResponse { .. });
                if let (Some(j), false) = (self.index_of(&to), withheld) {
                    self.send(i, j, message);
                }
            }
            Action::Broadcast(message) => {
                if faulty {
                    self.byzantine_broadcast(i, message);
                } else {
                    self.broadcast(i, &message);
                }
            }
            Action::Commit(block) => {
                if self.trace {
                    eprintln!(
                        "{:>6} n{i} COMMIT h{} reqs {}",
                        self.now,
                        block.header.height,
                        block.batch.len()
                    );
                }
                if !faulty {
                    self.check_block(i, &block)?;
                }
                let node = &mut self.nodes[i];
                let executed = node.app.execute(&block);
                node.blocks.push(block);
                if let Some(r) = node.replica.as_mut() {
                    r.handle_executed(executed)
                        .map_err(|e| format!("node {i}: handle_executed: {e}"))?;
                }
            }
            Action::Reply { .. } => {}
            Action::Evidence(e) => {
                if !faulty {
                    let offender = e.sender as usize;
                    e.verify(&self.set).map_err(|err| {
                        format!("node {i} emitted evidence that does not verify: {err}")
                    })?;
                    if !self.nodes.get(offender).is_some_and(|n| n.faulty) {
                        return Err(format!("node {i} accused honest node {offender}"));
                    }
                    self.outcome.evidence += 1;
                }
            }
            Action::Fetch { peer, from, to } => {
                if self.trace {
                    eprintln!(
                        "{:>6} n{i} fetch {from}..={to} from {:?}",
                        self.now,
                        self.index_of(&peer)
                    );
                }
                if let Some(p) = self.index_of(&peer) {
                    let at = self.now + 1 + self.rand(self.cfg.max_delay_ms);
                    if self.healed() || self.rand(1000) >= u64::from(self.cfg.drop_per_mille) {
                        self.push(
                            at,
                            Event::FetchReq {
                                peer: p,
                                requester: i,
                                from,
                                to,
                            },
                        );
                    }
                }
            }
        }
        Ok(())
    }

    fn index_of(&self, key: &itc_crypto::PublicKey) -> Option<usize> {
        self.set.index_of(key)
    }

    /// A certificate an honest replica emits must verify, and its chain must link. The first
    /// certificate at each height goes through `CommitCertificate::verify`; later ones are
    /// checked signature by signature with a cache, since most of their signatures repeat.
    fn check_block(&mut self, i: usize, block: &CertifiedBlock) -> Result<(), String> {
        let h = block.header.height;
        let bad = |e: String| format!("node {i}: certificate at height {h} does not verify: {e}");
        if self.api_checked.insert(h) {
            block
                .certificate
                .verify(&block.header, &self.set)
                .map_err(|e| bad(e.to_string()))?;
        } else {
            if block.header.validator_set_hash != self.set.hash() {
                return Err(bad("wrong set".into()));
            }
            let digest = itc_pbft::certificate::commit_digest(
                block.certificate.view(),
                h,
                &block.header.hash(),
            );
            let votes = block.certificate.votes();
            votes
                .check_shape(&self.set)
                .map_err(|e| bad(e.to_string()))?;
            let power = self.set.power_of(votes.signers());
            if !itc_crypto::quorum::Threshold::TwoThirds.is_met(power, self.set.total_power()) {
                return Err(bad("not a quorum".into()));
            }
            for (idx, sig) in votes.iter() {
                if self.checked.contains(&(idx, digest, sig.0)) {
                    continue;
                }
                let key = self
                    .set
                    .get(idx)
                    .map(|v| v.key)
                    .ok_or_else(|| bad("signer".into()))?;
                key.verify_digest(&digest, sig)
                    .map_err(|e| bad(e.to_string()))?;
                self.checked.insert((idx, digest, sig.0));
            }
        }
        if block.batch.root() != block.header.batch_root {
            return Err(format!("node {i}: batch does not match header {h}"));
        }
        let parent = self.nodes[i]
            .blocks
            .last()
            .map_or_else(|| self.genesis.header(), |b| b.header);
        block
            .header
            .follows(&parent)
            .map_err(|e| format!("node {i}: block {h} does not extend its chain: {e}"))?;
        Ok(())
    }

    fn check_safety(&self) -> Result<(), String> {
        let mut by_height: BTreeMap<u64, (usize, Hash)> = BTreeMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if n.faulty {
                continue;
            }
            for b in &n.blocks {
                let h = b.header.hash();
                match by_height.get(&b.header.height) {
                    Some((j, other)) if *other != h => {
                        return Err(format!(
                            "safety: nodes {j} and {i} committed different headers at height {}",
                            b.header.height
                        ))
                    }
                    Some(_) => {}
                    None => {
                        by_height.insert(b.header.height, (i, h));
                    }
                }
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------ Byzantine behaviour

    fn sign_vote(&self, i: usize, phase: Phase, view: u64, height: u64, hash: &Hash) -> Signature {
        self.nodes[i]
            .key
            .sign_digest(&vote_digest(phase, view, height, hash))
            .unwrap_or(Signature([0; 64]))
    }

    fn byzantine_broadcast(&mut self, i: usize, message: Message) {
        match (self.cfg.behaviour, message) {
            (Behaviour::EquivocatingPrimary, Message::PrePrepare { pre_prepare, batch }) => {
                // A second batch for the same slot: the requests reversed plus one more.
                let mut reqs: Vec<Request> = batch.requests().to_vec();
                reqs.reverse();
                reqs.push(Request::new(ClientId(999), self.now, vec![9]));
                let batch2 = Batch::new(reqs);
                let mut header2 = pre_prepare.header;
                header2.batch_root = batch2.root();
                let sig2 = self.sign_vote(
                    i,
                    Phase::PrePrepare,
                    pre_prepare.view,
                    header2.height,
                    &header2.hash(),
                );
                let pp2 = PrePrepare {
                    view: pre_prepare.view,
                    header: header2,
                    signature: sig2,
                };
                for to in 0..self.n() {
                    if to == i {
                        continue;
                    }
                    let m = if to % 2 == 0 {
                        Message::PrePrepare {
                            pre_prepare,
                            batch: batch.clone(),
                        }
                    } else {
                        Message::PrePrepare {
                            pre_prepare: pp2,
                            batch: batch2.clone(),
                        }
                    };
                    self.send(i, to, m);
                }
            }
            (Behaviour::WithheldBatches, Message::PrePrepare { pre_prepare, batch }) => {
                // The batch reaches one honest backup (and the other faulty validators) only.
                let honest: Vec<usize> = (0..self.set.len())
                    .filter(|j| *j != i && !self.nodes[*j].faulty)
                    .collect();
                let pick = honest[self.rand(honest.len() as u64) as usize];
                for to in 0..self.set.len() {
                    if to != i && (to == pick || self.nodes[to].faulty) {
                        self.send(
                            i,
                            to,
                            Message::PrePrepare {
                                pre_prepare,
                                batch: batch.clone(),
                            },
                        );
                    }
                }
            }
            (Behaviour::ConflictingVotes, Message::Prepare(v)) => {
                self.conflicting_votes(i, v, Phase::Prepare)
            }
            (Behaviour::ConflictingVotes, Message::Commit(v)) => {
                self.conflicting_votes(i, v, Phase::Commit)
            }
            (Behaviour::BogusNewView, Message::NewView(nv)) => {
                let bogus = self.bogus_new_view(i, nv);
                self.broadcast(i, &Message::NewView(bogus));
            }
            (_, m) => self.broadcast(i, &m),
        }
    }

    fn conflicting_votes(&mut self, i: usize, v: Vote, phase: Phase) {
        // Send the real vote to half the peers and a conflicting one to the others; one peer
        // gets both (so it can produce evidence).
        let mut fake_hash = [0u8; 32];
        self.rng.fill_bytes(&mut fake_hash);
        let fake_hash = Hash(fake_hash);
        let fake = Vote {
            header_hash: fake_hash,
            signature: self.sign_vote(i, phase, v.view, v.height, &fake_hash),
            ..v
        };
        let wrap = |x: Vote| {
            if phase == Phase::Commit {
                Message::Commit(x)
            } else {
                Message::Prepare(x)
            }
        };
        let both = (i + 1) % self.n();
        for to in 0..self.n() {
            if to == i {
                continue;
            }
            if to == both {
                self.send(i, to, wrap(v));
                self.send(i, to, wrap(fake));
            } else if to % 2 == 0 {
                self.send(i, to, wrap(v));
            } else {
                self.send(i, to, wrap(fake));
            }
        }
    }

    fn bogus_new_view(&mut self, i: usize, mut nv: NewView) -> NewView {
        match self.rand(3) {
            0 => nv.pre_prepares.clear(),
            1 => nv.view_changes.truncate(1),
            _ => {
                if let Some(pp) = nv.pre_prepares.first_mut() {
                    pp.header.timestamp_ms += 1;
                    pp.signature = self.sign_vote(
                        i,
                        Phase::PrePrepare,
                        pp.view,
                        pp.header.height,
                        &pp.header.hash(),
                    );
                } else {
                    nv.view_changes.truncate(1);
                }
            }
        }
        nv.signature = self.nodes[i]
            .key
            .sign_digest(&nv.digest())
            .unwrap_or(Signature([0; 64]));
        nv
    }

    /// Periodic attacks that do not need an incoming trigger.
    fn forge(&mut self, i: usize) {
        let n = self.n() as u16;
        let view = self.views().into_iter().max().unwrap_or(0);
        let height = self.heights().into_iter().max().unwrap_or(0) + 1;
        match self.cfg.behaviour {
            Behaviour::ForgedSignatures => {
                let victim = (self.rand(u64::from(n))) as u16;
                let mut sig = [0u8; 64];
                self.rng.fill_bytes(&mut sig);
                let mut hash = [0u8; 32];
                self.rng.fill_bytes(&mut hash);
                let vote = Vote {
                    view,
                    height,
                    header_hash: Hash(hash),
                    sender: victim,
                    signature: Signature(sig),
                };
                let m = match self.rand(5) {
                    0 => Message::Prepare(vote),
                    1 => Message::Commit(vote),
                    2 => Message::Checkpoint(CheckpointVote {
                        height: height.div_ceil(2) * 2,
                        block_hash: Hash(hash),
                        state_root: Hash(hash),
                        sender: victim,
                        signature: Signature(sig),
                    }),
                    3 => Message::ViewChange(ViewChange {
                        new_view: view + 1 + self.rand(1 << 40),
                        checkpoint: None,
                        prepared: vec![],
                        sender: victim,
                        signature: Signature(sig),
                    }),
                    _ => {
                        // A pre-prepare in the primary's name with a garbage signature.
                        let header = self.genesis.header();
                        Message::PrePrepare {
                            pre_prepare: PrePrepare {
                                view,
                                header: itc_pbft::BlockHeader {
                                    height,
                                    view,
                                    ..header
                                },
                                signature: Signature(sig),
                            },
                            batch: Batch::empty(),
                        }
                    }
                };
                self.broadcast(i, &m);
            }
            Behaviour::BogusNewView => {
                // A properly signed view-change for a huge view: nobody may follow it alone.
                let mut vc = ViewChange {
                    new_view: (u64::MAX / 2) + self.rand(1 << 20),
                    checkpoint: None,
                    prepared: vec![],
                    sender: i as u16,
                    signature: Signature([0; 64]),
                };
                vc.signature = self.nodes[i]
                    .key
                    .sign_digest(&vc.digest())
                    .unwrap_or(Signature([0; 64]));
                self.broadcast(i, &Message::ViewChange(vc));
            }
            Behaviour::Replay => {
                let len = self.nodes[i].seen.len() as u64;
                if len > 0 {
                    let k = self.rand(len) as usize;
                    if let Some(m) = self.nodes[i].seen.get(k).cloned() {
                        self.broadcast(i, &m);
                    }
                }
            }
            _ => {}
        }
    }
}

fn summarize(m: &Message) -> String {
    match m {
        Message::PrePrepare { pre_prepare, batch } => format!(
            "PP v{} h{} #{} ({} reqs)",
            pre_prepare.view,
            pre_prepare.header.height,
            &pre_prepare.header.hash().to_string()[..6],
            batch.len()
        ),
        Message::Prepare(v) => format!(
            "P v{} h{} #{} from {}",
            v.view,
            v.height,
            &v.header_hash.to_string()[..6],
            v.sender
        ),
        Message::Commit(v) => format!(
            "C v{} h{} #{} from {}",
            v.view,
            v.height,
            &v.header_hash.to_string()[..6],
            v.sender
        ),
        Message::Checkpoint(c) => format!("CP h{} from {}", c.height, c.sender),
        Message::ViewChange(vc) => format!(
            "VC v{} cp{} certs {:?} from {}",
            vc.new_view,
            vc.checkpoint_height(),
            vc.prepared
                .iter()
                .map(|p| (p.height(), p.view()))
                .collect::<Vec<_>>(),
            vc.sender
        ),
        Message::NewView(nv) => format!(
            "NV v{} vcs {} pps {:?}",
            nv.view,
            nv.view_changes.len(),
            nv.pre_prepares
                .iter()
                .map(|p| p.height())
                .collect::<Vec<_>>()
        ),
        Message::BatchRequest(r) => format!(
            "BREQ h{} #{} from {}",
            r.height,
            &r.header_hash.to_string()[..6],
            r.sender
        ),
        Message::BatchResponse { header, batch } => format!(
            "BRESP h{} #{} ({} reqs)",
            header.height,
            &header.hash().to_string()[..6],
            batch.len()
        ),
    }
}
