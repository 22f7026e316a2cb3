//! The main chain of the story: `itc-pbft` replicas over a [`SimNet`], each executing committed
//! batches with its own `itc-ledger` [`Ledger`], and a full node's [`ProofServer`] fed by one
//! honest validator. This module is the integrator the PBFT crate asks for: it persists
//! [`itc_pbft::Durable`] facts, routes messages, fires timers, serves catch-up and runs the
//! application.
//!
//! One validator may be **Byzantine** (`ChainConfig::byzantine`): validator 0, the primary of
//! view 0, then proposes different batches to different backups, sends conflicting prepare and
//! commit votes (one peer always gets both, so it can prove the equivocation), lies to clients
//! about commit heights and sprays corrupted message bytes. Honest replicas must still agree,
//! and clients must still learn the truth (they wait for f + 1 matching replies).
//!
//! Client links are reliable (a client retries over TCP in real life); validator links lose
//! messages at the configured rate.
//!
//! ```
//! use itc_examples::chain::{Chain, ChainConfig};
//! use itc_ledger::builder::TxBuilder;
//! use itc_crypto::{Address, SecretKey};
//!
//! let alice = SecretKey::from_bytes(&[1; 32]).unwrap();
//! let alice_addr = Address::from_public_key(&alice.public_key());
//! let mut chain = Chain::new(ChainConfig::new(7), vec![(alice_addr, 100)]).unwrap();
//! let tx = TxBuilder::new(chain.chain_id()).transfer(&alice, 0, Address([2; 20]), 40).unwrap();
//! let ticket = chain.submit(1, &tx);
//! let outcome = chain.wait(&[ticket], 10_000).unwrap();
//! assert!(outcome[0].result.is_ok());
//! assert_eq!(chain.full_node_ledger().account(&Address([2; 20])).balance, 40);
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use itc_crypto::quorum::{Validator, ValidatorSet};
use itc_crypto::{Address, Encode, Hash, SecretKey, Signer};
use itc_ledger::builder::TxBuilder;
use itc_ledger::{Genesis as LedgerGenesis, Ledger, SignedTransaction, SystemCall, TxError};
use itc_pbft::message::{vote_digest, Phase, PrePrepare, Vote};
use itc_pbft::{
    Action, Batch, BlockHeader, CertifiedBlock, ClientId, Config as PbftConfig, Evidence, Executed,
    Genesis, Message, Replica, Request, SafetyRecord, Timer,
};
use itc_spv::server::{BatchRequest, ChainStore, CommittedBlock, StateSnapshot};
use itc_spv::ProofServer;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::error::StoryError;
use crate::net::{NetConfig, SimNet};

/// Start of the simulated clock: 2024-01-01T00:00:00Z in ms (any fixed value would do).
pub const GENESIS_MS: u64 = 1_704_067_200_000;

/// How the chain is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainConfig {
    /// Number of validators (equal power).
    pub validators: usize,
    /// Validator 0 is Byzantine.
    pub byzantine: bool,
    /// Links between validators and to clients.
    pub net: NetConfig,
    /// Replica settings.
    pub pbft: PbftConfig,
    /// Chain id (signatures cover it).
    pub chain_id: u32,
    /// Seed of keys, network schedule and Byzantine choices.
    pub seed: u64,
}

impl ChainConfig {
    /// Four honest validators, the default network, PBFT defaults with a 2 ms batching delay.
    pub fn new(seed: u64) -> Self {
        ChainConfig {
            validators: 4,
            byzantine: false,
            net: NetConfig::default(),
            pbft: PbftConfig {
                batch_delay_ms: 2,
                ..PbftConfig::default()
            },
            chain_id: 0x17c,
            seed,
        }
    }
}

/// What travels on the simulated network.
#[derive(Debug, Clone)]
enum Envelope {
    Pbft(Box<Message>),
    Corrupt(Vec<u8>),
    Request(Request),
    Reply {
        replica: usize,
        request_id: u64,
        height: u64,
    },
    Fetch {
        from: u64,
        to: u64,
    },
    Blocks(Vec<CertifiedBlock>),
}

/// One validator: its replica, its ledger and what it must keep for peers and for the story.
pub struct ValidatorNode {
    /// The PBFT state machine.
    pub replica: Replica<SecretKey>,
    /// Its copy of the replicated state.
    pub ledger: Ledger,
    /// Whether it misbehaves.
    pub byzantine: bool,
    /// Evidence of equivocation it produced.
    pub evidence: Vec<Evidence>,
    /// Messages it refused with a typed error.
    pub refused: u64,
    /// Header hash of every block it committed.
    pub headers: BTreeMap<u64, Hash>,
    /// Ledger root after every block it executed.
    pub roots: BTreeMap<u64, Hash>,
    record: SafetyRecord,
    timers: BTreeMap<Timer, u64>,
    blocks: BTreeMap<u64, CertifiedBlock>,
}

/// A submitted request, to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    /// The client that sent it.
    pub client: u64,
    /// Its request id.
    pub request_id: u64,
    /// The ledger transaction id inside.
    pub tx_id: Hash,
    /// Its leaf in the block's batch tree (what a light client proves).
    pub leaf: Hash,
}

/// What happened to a submitted transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxOutcome {
    /// The block that holds it.
    pub height: u64,
    /// The ledger's verdict.
    pub result: Result<(), TxError>,
    /// Submit → f + 1 matching replies at the client (simulated ms).
    pub latency_ms: u64,
}

#[derive(Debug)]
struct InFlight {
    request_id: u64,
    sent_at: u64,
    replies: BTreeMap<usize, u64>,
}

#[derive(Debug, Default)]
struct ClientState {
    next_id: u64,
    queue: VecDeque<(u64, Vec<u8>)>,
    in_flight: Option<InFlight>,
    done: BTreeMap<u64, (u64, u64)>,
}

/// Counters of what the validators and the network went through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChainStats {
    /// Validator-to-validator protocol messages sent (copies).
    pub messages: u64,
    /// Their encoded bytes.
    pub message_bytes: u64,
    /// Corrupted byte strings the Byzantine validator sent.
    pub corrupt_sent: u64,
    /// Of which honest replicas refused with a typed error.
    pub corrupt_refused: u64,
    /// Conflicting votes or proposals the Byzantine validator sent.
    pub equivocations_sent: u64,
    /// Replies with a false height the Byzantine validator sent.
    pub lies_sent: u64,
    /// Batches the ledger refused as a whole (must stay 0).
    pub batch_errors: u64,
    /// Blocks the full node's store refused or re-executed to another root (must stay 0).
    pub store_errors: u64,
}

/// The validators, the network, the clients and the full node.
pub struct Chain {
    config: ChainConfig,
    nodes: Vec<ValidatorNode>,
    keys: Vec<SecretKey>,
    set: ValidatorSet,
    genesis_header: BlockHeader,
    net: SimNet<Envelope>,
    now: u64,
    rng: ChaCha8Rng,
    clients: BTreeMap<u64, ClientState>,
    observer: usize,
    full_node: Ledger,
    receipts: BTreeMap<Hash, (u64, Result<(), TxError>)>,
    server: ProofServer,
    stats: ChainStats,
    latencies: Vec<u64>,
}

/// Deterministic validator key `i` for `seed`.
fn validator_key(seed: u64, i: usize) -> Result<SecretKey, StoryError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7a11_da70 ^ ((i as u64) << 32));
    Ok(SecretKey::generate(
        &mut rand_chacha::ChaCha20Rng::seed_from_u64(rng.next_u64()),
    ))
}

impl Chain {
    /// Starts a chain at [`GENESIS_MS`] with the given genesis balances.
    pub fn new(config: ChainConfig, balances: Vec<(Address, u64)>) -> Result<Self, StoryError> {
        let n = config.validators.max(1);
        let mut keys = (0..n)
            .map(|i| validator_key(config.seed, i))
            .collect::<Result<Vec<_>, _>>()?;
        let set = ValidatorSet::new(keys.iter().map(|k| Validator {
            key: k.public_key(),
            power: 1,
        }))
        .map_err(StoryError::Quorum)?;
        // Node i is signer i: sort keys by their index in the set.
        keys.sort_by_key(|k| set.index_of(&k.public_key()));
        let ledger = Ledger::from_genesis(&LedgerGenesis {
            chain_id: config.chain_id,
            validators: set.clone(),
            balances,
            vendors: Vec::new(),
        })
        .map_err(StoryError::Genesis)?;
        let genesis = Genesis {
            validators: set.clone(),
            state_root: ledger.root(),
            timestamp_ms: GENESIS_MS,
        };
        let mut nodes = Vec::with_capacity(n);
        for (i, key) in keys.iter().enumerate() {
            nodes.push(ValidatorNode {
                replica: Replica::new(config.pbft, key.clone(), &genesis)
                    .map_err(StoryError::Pbft)?,
                ledger: ledger.clone(),
                byzantine: config.byzantine && i == 0,
                evidence: Vec::new(),
                refused: 0,
                headers: BTreeMap::new(),
                roots: BTreeMap::new(),
                record: SafetyRecord::default(),
                timers: BTreeMap::new(),
                blocks: BTreeMap::new(),
            });
        }
        let observer = nodes.iter().position(|v| !v.byzantine).unwrap_or(0);
        let genesis_header = genesis.header();
        let mut store = ChainStore::new(genesis_header, set.clone(), StateSnapshot::new())
            .map_err(StoryError::Store)?;
        store.add_ledger(&ledger);
        Ok(Chain {
            net: SimNet::new(config.net, config.seed ^ 0x0e7),
            rng: ChaCha8Rng::seed_from_u64(config.seed ^ 0xb12a),
            config,
            nodes,
            keys,
            set,
            genesis_header,
            now: GENESIS_MS,
            clients: BTreeMap::new(),
            observer,
            full_node: ledger,
            receipts: BTreeMap::new(),
            server: ProofServer::new(store),
            stats: ChainStats::default(),
            latencies: Vec::new(),
        })
    }

    // ---------------------------------------------------------------- queries

    /// The chain id.
    pub fn chain_id(&self) -> u32 {
        self.config.chain_id
    }

    /// A transaction builder for this chain.
    pub fn builder(&self) -> TxBuilder {
        TxBuilder::new(self.config.chain_id)
    }

    /// Simulated time (ms).
    pub fn now(&self) -> u64 {
        self.now
    }

    /// The configuration.
    pub fn config(&self) -> &ChainConfig {
        &self.config
    }

    /// The validator set.
    pub fn validator_set(&self) -> &ValidatorSet {
        &self.set
    }

    /// The genesis header (what devices ship as their trust anchor).
    pub fn genesis_header(&self) -> BlockHeader {
        self.genesis_header
    }

    /// The full node's proof server.
    pub fn server(&self) -> &ProofServer {
        &self.server
    }

    /// The full node's proof server, mutably (to add DAG snapshots).
    pub fn server_mut(&mut self) -> &mut ProofServer {
        &mut self.server
    }

    /// The full node's ledger (it re-executes the blocks an honest validator hands it).
    pub fn full_node_ledger(&self) -> &Ledger {
        &self.full_node
    }

    /// Height of the newest block the full node holds.
    pub fn tip_height(&self) -> u64 {
        self.server.store().tip().height
    }

    /// All validators.
    pub fn nodes(&self) -> &[ValidatorNode] {
        &self.nodes
    }

    /// Counters.
    pub fn stats(&self) -> ChainStats {
        self.stats
    }

    /// Network counters.
    pub fn net_stats(&self) -> crate::net::NetStats {
        self.net.stats()
    }

    /// Commit latencies (ms) of every transaction so far, in completion order.
    pub fn latencies(&self) -> &[u64] {
        &self.latencies
    }

    /// Highest view an honest replica is in (0 if no view change happened).
    pub fn max_honest_view(&self) -> u64 {
        self.honest().map(|n| n.replica.view()).max().unwrap_or(0)
    }

    fn honest(&self) -> impl Iterator<Item = &ValidatorNode> {
        self.nodes.iter().filter(|n| !n.byzantine)
    }

    /// Keys of honest validators, enough for a quorum: they certify system transactions (in
    /// production each validator signs on its own; the example holds every key).
    pub fn honest_quorum_keys(&self) -> Vec<SecretKey> {
        let need = self.set.len() - self.set.max_faulty();
        self.keys
            .iter()
            .zip(&self.nodes)
            .filter(|(_, n)| !n.byzantine)
            .map(|(k, _)| k.clone())
            .take(need)
            .collect()
    }

    /// A system call certified by an honest quorum.
    pub fn certify(&self, call: SystemCall) -> Result<SignedTransaction, StoryError> {
        self.builder()
            .system(call, &self.set, &self.honest_quorum_keys())
            .map_err(StoryError::Certify)
    }

    /// Checks that every pair of honest validators committed the same header and reached the
    /// same ledger root at every height both have; returns the lowest honest height.
    pub fn check_agreement(&self) -> Result<u64, StoryError> {
        let honest: Vec<&ValidatorNode> = self.honest().collect();
        let Some(first) = honest.first() else {
            return Err(StoryError::Unexpected("no honest validator"));
        };
        for other in honest.iter().skip(1) {
            for (h, hash) in &first.headers {
                if other.headers.get(h).is_some_and(|x| x != hash) {
                    return Err(StoryError::Disagreement { height: *h });
                }
            }
            for (h, root) in &first.roots {
                if other.roots.get(h).is_some_and(|x| x != root) {
                    return Err(StoryError::Disagreement { height: *h });
                }
            }
        }
        Ok(honest.iter().map(|n| n.ledger.height()).min().unwrap_or(0))
    }

    // ---------------------------------------------------------------- clients

    /// Queues a signed transaction from `client`. A client sends one request at a time (the
    /// next leaves when the previous one committed), so its ledger nonces arrive in order.
    pub fn submit(&mut self, client: u64, tx: &SignedTransaction) -> Ticket {
        let payload = tx.encode_to_vec();
        let state = self.clients.entry(client).or_default();
        state.next_id += 1;
        let request_id = state.next_id;
        let leaf = Request::new(ClientId(client), request_id, payload.clone()).leaf_hash();
        state.queue.push_back((request_id, payload));
        self.pump_client(client);
        Ticket {
            client,
            request_id,
            tx_id: tx.id(),
            leaf,
        }
    }

    fn client_endpoint(&self, client: u64) -> usize {
        self.nodes.len() + client as usize
    }

    fn pump_client(&mut self, client: u64) {
        let now = self.now;
        let n = self.nodes.len();
        let Some(state) = self.clients.get_mut(&client) else {
            return;
        };
        if state.in_flight.is_some() {
            return;
        }
        let Some((request_id, payload)) = state.queue.pop_front() else {
            return;
        };
        state.in_flight = Some(InFlight {
            request_id,
            sent_at: now,
            replies: BTreeMap::new(),
        });
        let request = Request::new(ClientId(client), request_id, payload);
        let bytes = request.encoded_len();
        let from = n + client as usize;
        for i in 0..n {
            self.net.send(
                from,
                i,
                Envelope::Request(request.clone()),
                now,
                bytes,
                false,
            );
        }
    }

    fn on_reply(&mut self, client: u64, replica: usize, request_id: u64, height: u64) {
        let now = self.now;
        // More than 1/3 of the power (f + 1 of 3f + 1 equal validators) vouching for the same
        // height: at least one honest replica committed it there.
        let needed = self.set.max_faulty() + 1;
        let Some(state) = self.clients.get_mut(&client) else {
            return;
        };
        let Some(flight) = state.in_flight.as_mut() else {
            return;
        };
        if flight.request_id != request_id {
            return;
        }
        flight.replies.insert(replica, height);
        let matching = flight.replies.values().filter(|h| **h == height).count();
        if matching >= needed {
            let latency = now.saturating_sub(flight.sent_at);
            state.done.insert(request_id, (height, latency));
            state.in_flight = None;
            self.latencies.push(latency);
            self.pump_client(client);
        }
    }

    fn ticket_done(&self, t: &Ticket) -> Option<(u64, u64)> {
        let (height, latency) = *self.clients.get(&t.client)?.done.get(&t.request_id)?;
        // The full node must have executed it too (replies may beat it).
        (self.full_node_ledger().height() >= height).then_some((height, latency))
    }

    /// Runs the network until every ticket committed (at most `max_ms` of simulated time) and
    /// returns the ledger's verdict on each, as the full node executed it.
    pub fn wait(&mut self, tickets: &[Ticket], max_ms: u64) -> Result<Vec<TxOutcome>, StoryError> {
        let limit = self.now.saturating_add(max_ms);
        let done = self.run_until(limit, |c| {
            tickets.iter().all(|t| c.ticket_done(t).is_some())
        });
        if !done {
            return Err(StoryError::NotCommitted { waited_ms: max_ms });
        }
        let mut out = Vec::with_capacity(tickets.len());
        for t in tickets {
            let (height, latency_ms) = self
                .ticket_done(t)
                .ok_or(StoryError::Unexpected("ticket vanished"))?;
            let (receipt_height, result) =
                self.receipts
                    .get(&t.tx_id)
                    .copied()
                    .ok_or(StoryError::Unexpected(
                        "no receipt for a committed transaction",
                    ))?;
            if receipt_height != height {
                return Err(StoryError::ClientMisled {
                    replied: height,
                    actual: receipt_height,
                });
            }
            out.push(TxOutcome {
                height,
                result,
                latency_ms,
            });
        }
        Ok(out)
    }

    /// Submits one transaction and waits for it.
    pub fn execute(
        &mut self,
        client: u64,
        tx: &SignedTransaction,
    ) -> Result<(Ticket, TxOutcome), StoryError> {
        let t = self.submit(client, tx);
        let out = self.wait(&[t], 120_000)?;
        let o = out
            .first()
            .copied()
            .ok_or(StoryError::Unexpected("no outcome"))?;
        Ok((t, o))
    }

    /// Lets `ms` of simulated time pass (timers fire, messages arrive).
    pub fn advance(&mut self, ms: u64) {
        let end = self.now.saturating_add(ms);
        self.run_until(end, |_| false);
        self.now = self.now.max(end);
    }

    // ---------------------------------------------------------------- event loop

    fn next_event(&self) -> Option<u64> {
        let timers = self
            .nodes
            .iter()
            .flat_map(|n| n.timers.values().copied())
            .min();
        match (self.net.next_time(), timers) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Processes events in time order until `done` holds (true) or nothing is left before
    /// `limit` (false).
    fn run_until(&mut self, limit: u64, done: impl Fn(&Chain) -> bool) -> bool {
        loop {
            if done(self) {
                return true;
            }
            let Some(t) = self.next_event() else {
                return false;
            };
            if t > limit {
                return false;
            }
            self.now = self.now.max(t);
            self.fire_timers();
            while let Some((from, to, env)) = self.net.pop_due(self.now) {
                self.deliver(from, to, env);
            }
        }
    }

    fn fire_timers(&mut self) {
        let now = self.now;
        for i in 0..self.nodes.len() {
            let due = self.nodes.get_mut(i).is_some_and(|n| {
                let before = n.timers.len();
                n.timers.retain(|_, d| *d > now);
                n.timers.len() != before
            });
            if due {
                if let Some(n) = self.nodes.get_mut(i) {
                    let _ = n.replica.handle_tick(now);
                }
                self.process_actions(i);
            }
        }
    }

    fn deliver(&mut self, from: usize, to: usize, env: Envelope) {
        let now = self.now;
        let n = self.nodes.len();
        if to >= n {
            if let Envelope::Reply {
                replica,
                request_id,
                height,
            } = env
            {
                self.on_reply((to - n) as u64, replica, request_id, height);
            }
            return;
        }
        let Some(node) = self.nodes.get_mut(to) else {
            return;
        };
        match env {
            Envelope::Pbft(m) => {
                if node.replica.handle_message(*m, now).is_err() {
                    node.refused += 1;
                }
            }
            Envelope::Corrupt(bytes) => {
                if node.replica.handle_message_bytes(&bytes, now).is_err() {
                    node.refused += 1;
                    if !node.byzantine {
                        self.stats.corrupt_refused += 1;
                    }
                }
            }
            Envelope::Request(r) => {
                let _ = node.replica.handle_request(r, now);
            }
            Envelope::Fetch { from: lo, to: hi } => {
                let blocks: Vec<CertifiedBlock> =
                    node.blocks.range(lo..=hi).map(|(_, b)| b.clone()).collect();
                let bytes = blocks.iter().map(Encode::encoded_len).sum();
                self.net
                    .send(to, from, Envelope::Blocks(blocks), now, bytes, true);
                return;
            }
            Envelope::Blocks(blocks) => {
                for b in blocks {
                    if node.replica.handle_fetched_block(b, now).is_err() {
                        node.refused += 1;
                    }
                }
            }
            Envelope::Reply { .. } => return,
        }
        self.process_actions(to);
    }

    fn process_actions(&mut self, i: usize) {
        loop {
            let actions: Vec<Action> = match self.nodes.get_mut(i) {
                Some(n) => n.replica.drain_actions().collect(),
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

    fn send_pbft(&mut self, from: usize, to: usize, m: Message) {
        let bytes = m.encoded_len();
        self.stats.messages += 1;
        self.stats.message_bytes += bytes as u64;
        self.net
            .send(from, to, Envelope::Pbft(Box::new(m)), self.now, bytes, true);
    }

    fn is_byzantine(&self, i: usize) -> bool {
        self.nodes.get(i).is_some_and(|n| n.byzantine)
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
                if let Some(j) = self.set.index_of(&to) {
                    self.send_pbft(i, j, message);
                }
            }
            Action::Broadcast(message) => {
                if self.is_byzantine(i) {
                    self.byzantine_broadcast(i, message);
                } else {
                    for j in (0..self.nodes.len()).filter(|j| *j != i) {
                        self.send_pbft(i, j, message.clone());
                    }
                }
            }
            Action::Commit(block) => self.execute_block(i, block),
            Action::Reply {
                client,
                request_id,
                height,
            } => {
                let lie = self.is_byzantine(i);
                if lie {
                    self.stats.lies_sent += 1;
                }
                let height = if lie {
                    height.saturating_add(1000)
                } else {
                    height
                };
                let ep = self.client_endpoint(client.0);
                self.net.send(
                    i,
                    ep,
                    Envelope::Reply {
                        replica: i,
                        request_id,
                        height,
                    },
                    now,
                    24,
                    false,
                );
            }
            Action::Evidence(e) => {
                if let Some(n) = self.nodes.get_mut(i) {
                    n.evidence.push(e);
                }
            }
            Action::Fetch { peer, from, to } => {
                if let Some(j) = self.set.index_of(&peer) {
                    self.net
                        .send(i, j, Envelope::Fetch { from, to }, now, 16, true);
                }
            }
            Action::SetTimer { timer, deadline } => {
                if let Some(n) = self.nodes.get_mut(i) {
                    n.timers.insert(timer, deadline);
                }
            }
            Action::CancelTimer(timer) => {
                if let Some(n) = self.nodes.get_mut(i) {
                    n.timers.remove(&timer);
                }
            }
        }
    }

    /// Executes a committed block with the node's ledger, feeds the full node (observer only)
    /// and reports the new state root to the replica.
    fn execute_block(&mut self, i: usize, block: CertifiedBlock) {
        let observer = i == self.observer;
        let Some(n) = self.nodes.get_mut(i) else {
            return;
        };
        let h = block.header.height;
        let payloads: Vec<&[u8]> = block
            .batch
            .requests()
            .iter()
            .map(|r| r.payload.as_slice())
            .collect();
        let root = match n.ledger.execute(&payloads, h) {
            Ok(outcome) => outcome.state_root,
            Err(_) => {
                self.stats.batch_errors += 1;
                n.ledger.root()
            }
        };
        n.headers.insert(h, block.header.hash());
        n.roots.insert(h, root);
        let _ = n.replica.handle_executed(Executed::new(h, root));
        n.blocks.insert(h, block.clone());
        if observer {
            self.feed_full_node(block, root);
        }
    }

    /// The full node: re-executes the block an honest validator committed, stores it with its
    /// certificate and keeps the resulting state for proofs.
    fn feed_full_node(&mut self, block: CertifiedBlock, validator_root: Hash) {
        let h = block.header.height;
        let payloads: Vec<&[u8]> = block
            .batch
            .requests()
            .iter()
            .map(|r| r.payload.as_slice())
            .collect();
        match self.full_node.execute(&payloads, h) {
            Ok(outcome) => {
                for r in &outcome.receipts {
                    self.receipts.insert(r.tx_id, (h, r.result));
                }
                if outcome.state_root != validator_root {
                    self.stats.store_errors += 1;
                }
            }
            Err(_) => self.stats.batch_errors += 1,
        }
        let committed = CommittedBlock {
            header: block.header,
            certificate: Some(block.certificate),
            batch: block
                .batch
                .requests()
                .iter()
                .map(|r| BatchRequest {
                    client: r.client.0,
                    request_id: r.id,
                    payload: r.payload.clone(),
                })
                .collect(),
            next_validators: None,
        };
        let store = self.server.store_mut();
        if store.push_block(committed).is_err() {
            self.stats.store_errors += 1;
        }
        store.add_ledger(&self.full_node);
    }

    // ---------------------------------------------------------------- the Byzantine validator

    fn sign_vote(
        &self,
        i: usize,
        phase: Phase,
        view: u64,
        height: u64,
        hash: &Hash,
    ) -> Option<itc_crypto::Signature> {
        let key = self.keys.get(i)?;
        key.sign_digest(&vote_digest(phase, view, height, hash))
            .ok()
    }

    fn byzantine_broadcast(&mut self, i: usize, message: Message) {
        let peers: Vec<usize> = (0..self.nodes.len()).filter(|j| *j != i).collect();
        // Now and then, a corrupted copy of what it sends: one byte flipped.
        if self.rng.next_u32() % 3 == 0 {
            let mut bytes = message.encode_to_vec();
            let len = bytes.len().max(1);
            let pos = (self.rng.next_u32() as usize) % len;
            if let Some(b) = bytes.get_mut(pos) {
                *b ^= 1 << (self.rng.next_u32() % 8);
            }
            if let Some(&to) = peers.get((self.rng.next_u32() as usize) % peers.len().max(1)) {
                self.stats.corrupt_sent += 1;
                let n = bytes.len();
                self.net
                    .send(i, to, Envelope::Corrupt(bytes), self.now, n, true);
            }
        }
        match message {
            Message::PrePrepare { pre_prepare, batch } => {
                // Equivocation: a second batch for the same slot (the requests reversed plus
                // one of its own), signed as primary; odd peers get it.
                let mut requests: Vec<Request> = batch.requests().to_vec();
                requests.reverse();
                requests.push(Request::new(
                    ClientId(u64::MAX),
                    self.now,
                    b"byzantine".to_vec(),
                ));
                let batch2 = Batch::new(requests);
                let mut header2 = pre_prepare.header;
                header2.batch_root = batch2.root();
                let Some(signature) = self.sign_vote(
                    i,
                    Phase::PrePrepare,
                    pre_prepare.view,
                    header2.height,
                    &header2.hash(),
                ) else {
                    return;
                };
                let pp2 = PrePrepare {
                    view: pre_prepare.view,
                    header: header2,
                    signature,
                };
                self.stats.equivocations_sent += 1;
                for (k, to) in peers.into_iter().enumerate() {
                    let m = if k % 2 == 0 {
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
                    self.send_pbft(i, to, m);
                }
            }
            Message::Prepare(v) => self.conflicting_votes(i, &peers, v, Phase::Prepare),
            Message::Commit(v) => self.conflicting_votes(i, &peers, v, Phase::Commit),
            other => {
                for to in peers {
                    self.send_pbft(i, to, other.clone());
                }
            }
        }
    }

    fn conflicting_votes(&mut self, i: usize, peers: &[usize], v: Vote, phase: Phase) {
        let mut fake = [0u8; 32];
        self.rng.fill_bytes(&mut fake);
        let fake_hash = Hash(fake);
        let Some(signature) = self.sign_vote(i, phase, v.view, v.height, &fake_hash) else {
            return;
        };
        let fake = Vote {
            header_hash: fake_hash,
            signature,
            ..v
        };
        let wrap = |x: Vote| match phase {
            Phase::Commit => Message::Commit(x),
            _ => Message::Prepare(x),
        };
        self.stats.equivocations_sent += 1;
        // The first peer gets both votes (and can prove the equivocation); the others one each.
        for (k, to) in peers.iter().copied().enumerate() {
            if k == 0 {
                self.send_pbft(i, to, wrap(v));
                self.send_pbft(i, to, wrap(fake));
            } else if k % 2 == 0 {
                self.send_pbft(i, to, wrap(v));
            } else {
                self.send_pbft(i, to, wrap(fake));
            }
        }
    }

    /// Evidence the honest validators gathered, verified against the validator set, as the
    /// distinct accused signer indices.
    pub fn verified_evidence(&self) -> BTreeSet<u16> {
        self.honest()
            .flat_map(|n| n.evidence.iter())
            .filter(|e| e.verify(&self.set).is_ok())
            .map(|e| e.sender)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(byzantine: bool, seed: u64) -> Chain {
        let alice = SecretKey::from_bytes(&[1; 32]).unwrap();
        let alice_addr = Address::from_public_key(&alice.public_key());
        let mut cfg = ChainConfig::new(seed);
        cfg.byzantine = byzantine;
        let mut chain = Chain::new(cfg, vec![(alice_addr, 1_000)]).unwrap();
        for nonce in 0..12u64 {
            let tx = chain
                .builder()
                .transfer(&alice, nonce, Address([2; 20]), 10)
                .unwrap();
            let (_, out) = chain.execute(1, &tx).unwrap();
            assert_eq!(out.result, Ok(()));
        }
        assert_eq!(
            chain.full_node_ledger().account(&Address([2; 20])).balance,
            120
        );
        chain.check_agreement().unwrap();
        assert_eq!(chain.stats().store_errors, 0);
        assert_eq!(chain.stats().batch_errors, 0);
        chain
    }

    #[test]
    fn honest_chain_commits_in_order() {
        let chain = run(false, 1);
        assert!(chain.tip_height() >= 12);
        assert!(
            chain.latencies().iter().all(|l| *l < 1_000),
            "{:?}",
            chain.latencies()
        );
    }

    #[test]
    fn byzantine_primary_cannot_stop_or_fool_the_honest_ones() {
        let chain = run(true, 2);
        assert!(
            chain.max_honest_view() >= 1,
            "the equivocating primary must be replaced"
        );
        assert!(chain.stats().equivocations_sent > 0);
        assert!(chain.stats().lies_sent > 0);
        assert!(chain.verified_evidence().contains(&0));
    }
}
