//! An in-memory cluster of replicas over a reliable FIFO network: the shortest way to run the
//! protocol end to end (examples, benches, tests). It plays the integrator for every node:
//! persists [`Durable`](crate::safety::Durable) facts into a [`SafetyRecord`], routes messages, executes committed
//! blocks with an [`Application`], serves catch-up fetches from each node's block store and
//! calls `handle_timeout` when time reaches a replica's `poll_timeout`.
//!
//! ```
//! use itc_pbft::cluster::Cluster;
//! use itc_pbft::{ClientId, Request};
//!
//! let mut cluster = Cluster::with_equal_power(4).unwrap();
//! for id in 1..=3 {
//!     cluster.submit(Request::new(ClientId(9), id, vec![id as u8; 16]));
//! }
//! cluster.run_until_idle();
//! let node = cluster.node(0).unwrap();
//! let block = node.last_block().unwrap();
//! let set = node.replica.validators().unwrap();
//! assert!(block.certificate.verify(&block.header, &set).is_ok());
//! // The first request was proposed alone (no batching delay); the other two waited for it.
//! assert_eq!(node.height, 2);
//! assert_eq!(node.blocks.iter().map(|b| b.batch.len()).sum::<usize>(), 3);
//! ```

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use itc_crypto::encoding::Encode;
use itc_crypto::hash::{DomainTag, Hash, TaggedHasher};
use itc_crypto::quorum::{Validator, ValidatorSet};
use itc_crypto::{PublicKey, SecretKey};

use crate::action::Action;
use crate::config::Config;
use crate::error::PbftError;
use crate::evidence::Evidence;
use crate::message::{CertifiedBlock, Message};
use crate::replica::{ChainGenesis, Executed, Replica};
use crate::request::Request;
use crate::safety::SafetyRecord;

/// What a node runs on committed blocks: returns the state root after executing the block (and
/// any validator-set change it decided).
pub trait Application {
    /// Executes `block` (delivered in height order) and reports the result.
    fn execute(&mut self, block: &CertifiedBlock) -> Executed;
}

/// Tag of [`HashChainApp`]'s state root.
pub const HASH_CHAIN_TAG: DomainTag = DomainTag::new(b"itc/pbft/hash-chain-app/v1");

/// A stand-in application whose state root is a hash chain over the executed batch roots.
#[derive(Debug, Clone, Default)]
pub struct HashChainApp {
    /// Current state root.
    pub root: Hash,
}

impl Application for HashChainApp {
    fn execute(&mut self, block: &CertifiedBlock) -> Executed {
        let mut h = TaggedHasher::new(HASH_CHAIN_TAG);
        h.update(self.root.as_bytes())
            .update(block.header.batch_root.as_bytes());
        self.root = h.finalize();
        Executed::new(block.header.height, self.root)
    }
}

/// One node: its replica, application, durable record and recent blocks.
pub struct Node<A> {
    /// The replica.
    pub replica: Replica<SecretKey>,
    /// The application it executes.
    pub app: A,
    /// Everything persisted so far.
    pub record: SafetyRecord,
    /// Recent committed blocks (the newest `Cluster::retain_blocks`).
    pub blocks: VecDeque<CertifiedBlock>,
    /// Height of the last block committed here.
    pub height: u64,
    /// Evidence this node reported.
    pub evidence: Vec<Evidence>,
    /// Replies this node sent to clients.
    pub replies: u64,
    /// (height, time) of every block committed here.
    pub commit_times: Vec<(u64, u64)>,
}

impl<A> Node<A> {
    /// The newest committed block, if any.
    pub fn last_block(&self) -> Option<&CertifiedBlock> {
        self.blocks.back()
    }
}

/// Messages and bytes sent between replicas.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Messages delivered to one recipient (a broadcast to 3 peers counts 3).
    pub messages: u64,
    /// Of which pre-prepares.
    pub pre_prepares: u64,
    /// Of which prepares.
    pub prepares: u64,
    /// Of which commits.
    pub commits: u64,
    /// Of which checkpoints.
    pub checkpoints: u64,
    /// Of which view-changes and new-views.
    pub view_changes: u64,
    /// Of which batch requests and responses (issue 16.2).
    pub batch_fetches: u64,
    /// Encoded bytes (when byte counting is on).
    pub bytes: u64,
}

/// An in-memory cluster over a reliable FIFO network.
pub struct Cluster<A: Application = HashChainApp> {
    nodes: Vec<Node<A>>,
    /// In flight: (delivery time, recipient, message). The delay is the same for every
    /// message, so arrival order is send order and a FIFO queue suffices.
    queue: VecDeque<(u64, usize, Message)>,
    now: u64,
    traffic: Traffic,
    /// Count encoded bytes of every message (costs an encoding pass).
    pub count_bytes: bool,
    /// How many recent blocks each node keeps.
    pub retain_blocks: usize,
    /// One-way message delay: a message sent at `t` arrives at `t + latency_ms` (0: the
    /// network is an instant FIFO queue).
    pub latency_ms: u64,
    /// Keep a copy of every message sent in [`Cluster::captured`] (for tests).
    pub capture: bool,
    /// Messages sent while [`Cluster::capture`] was on.
    pub captured: Vec<Message>,
}

/// Deterministic key number `i` (for tests, examples and benches only — never for a chain).
pub fn test_key(i: usize) -> Result<SecretKey, PbftError> {
    let mut b = [0u8; 32];
    b[0] = 0x17;
    for (d, s) in b
        .iter_mut()
        .skip(24)
        .zip((i as u64).wrapping_add(1).to_be_bytes())
    {
        *d = s;
    }
    Ok(SecretKey::from_bytes(&b)?)
}

impl Cluster<HashChainApp> {
    /// `n` validators of power 1 with [`test_key`]s, batching off (propose at once).
    pub fn with_equal_power(n: usize) -> Result<Self, PbftError> {
        let config = Config {
            batch_delay_ms: 0,
            ..Config::default()
        };
        let powers: Vec<u64> = (0..n).map(|_| 1).collect();
        Self::with_powers(&powers, config)
    }

    /// Validators with the given powers ([`test_key`]s) running [`HashChainApp`].
    pub fn with_powers(powers: &[u64], config: Config) -> Result<Self, PbftError> {
        let keys = (0..powers.len())
            .map(test_key)
            .collect::<Result<Vec<SecretKey>, PbftError>>()?;
        let apps = (0..powers.len()).map(|_| HashChainApp::default()).collect();
        Self::new(keys, powers, config, apps)
    }
}

impl<A: Application> Cluster<A> {
    /// A cluster of `keys` with `powers`, each node running its app. Nodes are ordered like
    /// the validator set (node `i` has signer index `i`).
    pub fn new(
        keys: Vec<SecretKey>,
        powers: &[u64],
        config: Config,
        apps: Vec<A>,
    ) -> Result<Self, PbftError> {
        let validators: Vec<Validator> = keys
            .iter()
            .zip(powers)
            .map(|(k, p)| Validator {
                key: k.public_key(),
                power: *p,
            })
            .collect();
        let set = ValidatorSet::new(validators).map_err(PbftError::Validators)?;
        let genesis = ChainGenesis {
            validators: set.clone(),
            state_root: Hash::ZERO,
            timestamp_ms: 0,
        };
        let mut pairs: Vec<(SecretKey, A)> = keys.into_iter().zip(apps).collect();
        pairs.sort_by_key(|(k, _)| set.index_of(&k.public_key()));
        let mut nodes = Vec::with_capacity(pairs.len());
        for (k, app) in pairs {
            nodes.push(Node {
                replica: Replica::new(config, k, &genesis)?,
                app,
                record: SafetyRecord::default(),
                blocks: VecDeque::new(),
                height: 0,
                evidence: Vec::new(),
                replies: 0,
                commit_times: Vec::new(),
            });
        }
        Ok(Cluster {
            nodes,
            queue: VecDeque::new(),
            latency_ms: 0,
            capture: false,
            captured: Vec::new(),
            now: 1,
            traffic: Traffic::default(),
            count_bytes: true,
            retain_blocks: 1024,
        })
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> Option<&Node<A>> {
        self.nodes.get(i)
    }

    /// All nodes.
    pub fn nodes(&self) -> &[Node<A>] {
        &self.nodes
    }

    /// Mutable access to node `i`.
    pub fn node_mut(&mut self, i: usize) -> Option<&mut Node<A>> {
        self.nodes.get_mut(i)
    }

    /// Current cluster time (ms).
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Traffic so far.
    pub fn traffic(&self) -> Traffic {
        self.traffic
    }

    /// Resets the traffic counters.
    pub fn reset_traffic(&mut self) {
        self.traffic = Traffic::default();
    }

    /// Committed height of every node.
    pub fn committed_heights(&self) -> Vec<u64> {
        self.nodes.iter().map(|n| n.height).collect()
    }

    /// Index of the node that is primary for the next block, if any.
    pub fn primary(&self) -> Option<usize> {
        self.nodes.iter().position(|n| n.replica.is_primary())
    }

    /// Sends a request to every node (as a client that broadcasts).
    pub fn submit(&mut self, request: Request) {
        let now = self.now;
        for i in 0..self.nodes.len() {
            if let Some(n) = self.nodes.get_mut(i) {
                let _ = n.replica.handle_request(request.clone(), now);
            }
            self.process_actions(i);
        }
    }

    /// Sends a request to node `i` only (as a client that knows the primary).
    pub fn submit_to(&mut self, i: usize, request: Request) {
        let now = self.now;
        if let Some(n) = self.nodes.get_mut(i) {
            let _ = n.replica.handle_request(request, now);
        }
        self.process_actions(i);
    }

    /// Delivers messages until the network is empty. Time advances by the message delays,
    /// and by 1 ms once the network is idle, so the clock keeps moving as blocks commit
    /// (replicas refuse headers stamped too far ahead of their own clock).
    pub fn run_until_idle(&mut self) {
        while let Some((at, to, m)) = self.queue.pop_front() {
            self.now = self.now.max(at);
            let now = self.now;
            if let Some(n) = self.nodes.get_mut(to) {
                let _ = n.replica.handle_message(m, now);
            }
            self.process_actions(to);
        }
        self.now = self.now.saturating_add(1);
    }

    /// Advances time by `ms` in steps of `step` ms, firing timers and draining the network.
    pub fn run_for(&mut self, ms: u64, step: u64) {
        let end = self.now.saturating_add(ms);
        while self.now < end {
            self.now = self.now.saturating_add(step.max(1)).min(end);
            for i in 0..self.nodes.len() {
                let due = self
                    .nodes
                    .get(i)
                    .and_then(|n| n.replica.poll_timeout())
                    .is_some_and(|d| d <= self.now);
                if due {
                    let now = self.now;
                    if let Some(n) = self.nodes.get_mut(i) {
                        let _ = n.replica.handle_timeout(now);
                    }
                    self.process_actions(i);
                }
            }
            self.run_until_idle();
        }
    }

    fn count(&mut self, m: &Message, copies: u64) {
        if self.capture {
            self.captured.push(m.clone());
        }
        let t = &mut self.traffic;
        t.messages += copies;
        match m {
            Message::PrePrepare { .. } => t.pre_prepares += copies,
            Message::Prepare(_) => t.prepares += copies,
            Message::Commit(_) => t.commits += copies,
            Message::Checkpoint(_) => t.checkpoints += copies,
            Message::ViewChange(_) | Message::NewView(_) => t.view_changes += copies,
            Message::BatchRequest(_) | Message::BatchResponse { .. } => t.batch_fetches += copies,
        }
        if self.count_bytes {
            t.bytes += copies * m.encoded_len() as u64;
        }
    }

    fn enqueue(&mut self, to: usize, message: Message) {
        let at = self.now.saturating_add(self.latency_ms);
        self.queue.push_back((at, to, message));
    }

    fn index_of(&self, key: &PublicKey) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| n.replica.public_key() == *key)
    }

    /// Carries out node `i`'s actions (and those they cause) as its integrator.
    fn process_actions(&mut self, i: usize) {
        loop {
            let actions: Vec<Action> = match self.nodes.get_mut(i) {
                Some(n) => n.replica.take_actions(),
                None => return,
            };
            if actions.is_empty() {
                return;
            }
            for a in actions {
                self.carry_out(i, a);
            }
        }
    }

    fn carry_out(&mut self, i: usize, a: Action) {
        let now = self.now;
        match a {
            Action::Persist(fact) => {
                if let Some(n) = self.nodes.get_mut(i) {
                    n.record.apply(&fact);
                }
            }
            Action::Send { to, message } => {
                if let Some(j) = self.index_of(&to) {
                    self.count(&message, 1);
                    self.enqueue(j, message);
                }
            }
            Action::Broadcast(message) => {
                let n = self.nodes.len();
                self.count(&message, n.saturating_sub(1) as u64);
                for j in (0..n).filter(|j| *j != i) {
                    self.enqueue(j, message.clone());
                }
            }
            Action::Commit(block) => {
                let retain = self.retain_blocks.max(1);
                if let Some(n) = self.nodes.get_mut(i) {
                    let executed = n.app.execute(&block);
                    n.height = block.header.height;
                    n.commit_times.push((n.height, now));
                    n.blocks.push_back(block);
                    while n.blocks.len() > retain {
                        n.blocks.pop_front();
                    }
                    let _ = n.replica.handle_executed(executed);
                }
            }
            Action::Reply { .. } => {
                if let Some(n) = self.nodes.get_mut(i) {
                    n.replies += 1;
                }
            }
            Action::Evidence(e) => {
                if let Some(n) = self.nodes.get_mut(i) {
                    n.evidence.push(e);
                }
            }
            Action::Fetch { peer, from, to } => {
                let blocks: Vec<CertifiedBlock> = self
                    .index_of(&peer)
                    .and_then(|j| self.nodes.get(j))
                    .map(|p| {
                        p.blocks
                            .iter()
                            .filter(|b| b.header.height >= from && b.header.height <= to)
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                if let Some(n) = self.nodes.get_mut(i) {
                    for b in blocks {
                        let _ = n.replica.handle_fetched_block(b, now);
                    }
                }
            }
        }
    }
}
