//! `itc-node run`: the event loop around one [`itc_chain::Validator`] (`role = "validator"`)
//! or one [`itc_chain::FullNode`] (`role = "full"`: it follows the chain by fetching certified
//! blocks from its peers, verifies and executes each, stores it and serves blocks and light
//! client answers).
//!
//! Every input (a peer's frame, a client's transaction, a fetched block, the clock) goes to the
//! validator; each step's [`Ready`] is carried out in field order: its `writes` are committed to
//! the [`RedbStore`] (one transaction, fsync) **before** any of its messages is handed to
//! libp2p, then messages, fetches, certified system transactions, commits, evidence and
//! refusals. Nothing here decides anything about consensus or the ledger.
//!
//! Peers prove their validator key with a [`PeerBinding`] in the first frame (`Hello`) of a
//! connection; consensus frames go only to, and are accepted only from, bound peers. Client
//! transactions travel by gossipsub ([`net::tx_topic`]): a node publishes what its API accepted,
//! and relays a peer's batch only after checking it (a validator: the core admitted every
//! transaction or refused none as the peer's fault; a full node: each decodes strictly). A peer
//! whose frames are malformed, oversized, or refused by the core as its fault collects strikes
//! and is disconnected (and refused for a while) at [`STRIKE_LIMIT`]. Queues are bounded: the
//! API channel, the requests in flight per peer ([`MAX_IN_FLIGHT`]), requests accepted per
//! peer per second ([`MAX_REQUESTS_PER_SEC`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use itc_chain::cosign::Approvals;
use itc_chain::{
    BlockStore, FullNode, Ready, ReceiptStore, Recipient, Store, Validator, ValidatorConfig,
    ValidatorError,
};
use itc_crypto::{Blame, Decode, Encode, Hash, PublicKey, SecretKey};
use itc_ledger::{GenesisState, SignedTransaction};
use itc_pbft::CertifiedBlock;
use itc_pbft::Config as PbftConfig;
use libp2p::gossipsub::{self, MessageAcceptance};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, InboundFailure, Message, OutboundRequestId};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm};
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, warn};

use crate::api::{
    self, codes, AccountInfo, ApiCommand, ApiError, BatchAnswer, BlockInfo, StateAnswer, Status,
    SubmitAnswer, TxState, TxStatus,
};
use crate::config::{read_secret, read_validator_key, ConfigError, GenesisFile, NodeConfig, Role};
use crate::metrics::Metrics;
use crate::net::{self, Behaviour, Framed, NetError};
use crate::store::{RedbStore, StoreError};
use crate::wire::{
    NodeRequest, NodeResponse, PeerBinding, TxBatch, MAX_BLOCKS_PER_FETCH, MAX_CONSENSUS_BYTES,
    MAX_FRAME,
};

/// Strikes (malformed frames, refused inputs the core blames on the peer) before a peer is
/// disconnected.
pub const STRIKE_LIMIT: u32 = 5;
/// How long a disconnected peer is refused.
pub const BAN: Duration = Duration::from_secs(60);
/// Most outbound requests in flight to one peer; more are dropped (consensus tolerates loss:
/// retransmission, view changes, catch-up).
pub const MAX_IN_FLIGHT: usize = 1024;
/// Most inbound requests served per peer per second; more are answered `Refused`.
pub const MAX_REQUESTS_PER_SEC: u32 = 20_000;
/// How often configured peers that are not connected are dialled again.
const REDIAL: Duration = Duration::from_secs(2);
/// How often a full node asks a peer for blocks past its tip (at once again after a full
/// answer).
const FOLLOW_POLL_MS: u64 = 200;
/// How long a full node waits for a block fetch before asking another peer.
const FETCH_TIMEOUT: Duration = Duration::from_secs(2);
/// Validator capacity of light-client answers served on `POST /v1/spv`.
pub const SPV_CAPACITY: usize = 64;
/// Most transaction ids remembered as pending (accepted by this API, not committed yet); the
/// oldest is forgotten first (it then reads as unknown until its receipt is stored).
pub const MAX_PENDING_IDS: usize = 100_000;

/// The ids this node's API accepted that no committed block carried yet (bounded).
#[derive(Debug, Default)]
struct PendingIds {
    set: HashSet<Hash>,
    order: VecDeque<Hash>,
}

impl PendingIds {
    fn insert(&mut self, id: Hash) {
        if self.set.insert(id) {
            self.order.push_back(id);
            while self.order.len() > MAX_PENDING_IDS {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }

    /// Forgets committed ids (the order queue drops them lazily, as they reach its front).
    fn committed(&mut self, ids: impl IntoIterator<Item = Hash>) {
        for id in ids {
            self.set.remove(&id);
        }
        while self.order.front().is_some_and(|id| !self.set.contains(id)) {
            self.order.pop_front();
        }
    }
}

/// Why the node stopped.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Configuration, keys or genesis.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database (open, read or commit). A corrupt database is never reset.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The core refused to start (genesis, or a stored chain that does not restore).
    #[error("validator: {0}")]
    Validator(#[from] ValidatorError),
    /// The full node could not start (genesis, or a stored chain that does not restore).
    #[error("full node: {0}")]
    FullNode(String),
    /// Networking.
    #[error("network: {0}")]
    Net(#[from] NetError),
    /// A listen address or peer address is invalid or cannot be bound.
    #[error("address: {0}")]
    Address(String),
    /// A local I/O error (signals, sockets).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The configuration asks for something this node cannot do yet.
    #[error("not supported yet: {0}")]
    Unsupported(&'static str),
}

/// Wall-clock milliseconds since the Unix epoch (the only clock the core sees).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The validator settings a node config implies (PBFT defaults otherwise).
pub fn validator_config(config: &NodeConfig, chain_id: u32) -> ValidatorConfig {
    let k = config.checkpoint_interval.max(1);
    let pbft = PbftConfig {
        checkpoint_interval: k,
        window: k.saturating_mul(2),
        idle_block_interval_ms: config.idle_block_interval_ms,
        batch_delay_ms: config.batch_delay_ms,
        ..PbftConfig::default()
    };
    let mut v = ValidatorConfig::new(chain_id).with_pbft(pbft);
    v.node.snapshot_interval = config.snapshot_interval;
    v
}

/// The database file in a data directory.
pub fn database_path(config: &NodeConfig) -> PathBuf {
    config.data_dir.join("chain.redb")
}

#[derive(Debug)]
struct Peer {
    key: Option<PublicKey>,
    strikes: u32,
    in_flight: usize,
    window: Instant,
    window_requests: u32,
}

impl Peer {
    fn new() -> Self {
        Peer {
            key: None,
            strikes: 0,
            in_flight: 0,
            window: Instant::now(),
            window_requests: 0,
        }
    }

    /// Counts one inbound request; false when over the per-second budget.
    fn admit(&mut self) -> bool {
        if self.window.elapsed() >= Duration::from_secs(1) {
            self.window = Instant::now();
            self.window_requests = 0;
        }
        self.window_requests = self.window_requests.saturating_add(1);
        self.window_requests <= MAX_REQUESTS_PER_SEC
    }
}

struct DialTarget {
    addr: Multiaddr,
    peer: Option<PeerId>,
    last_attempt: Option<Instant>,
}

fn without_p2p(a: &Multiaddr) -> Multiaddr {
    a.iter()
        .filter(|p| !matches!(p, Protocol::P2p(_)))
        .collect()
}

/// What a node runs.
enum Core {
    /// A voting validator.
    Validator(Box<Validator<SecretKey>>),
    /// A full node following certified blocks.
    Full(Box<Follower>),
}

/// A full node and its one outstanding block fetch.
struct Follower {
    node: FullNode,
    fetching: Option<Instant>,
    next_peer: usize,
}

impl Core {
    fn node(&self) -> &FullNode {
        match self {
            Core::Validator(v) => v.node(),
            Core::Full(f) => &f.node,
        }
    }
}

/// A running node.
pub struct Node {
    swarm: Swarm<Behaviour>,
    core: Core,
    store: RedbStore,
    policy: Approvals,
    genesis_hash: Hash,
    topic: gossipsub::IdentTopic,
    binding: Option<PeerBinding>,
    peers: HashMap<PeerId, Peer>,
    by_key: HashMap<PublicKey, PeerId>,
    in_flight: HashMap<OutboundRequestId, PeerId>,
    banned: HashMap<PeerId, Instant>,
    dial: Vec<DialTarget>,
    status: watch::Sender<Status>,
    metrics: Metrics,
    tip_hash: Hash,
    state_root: Hash,
    last_commit_ms: u64,
    refused: u64,
    evidence: u64,
    pending: PendingIds,
}

/// Runs the node of `config` until SIGINT/SIGTERM (Ok) or a fatal error.
pub async fn run(config: NodeConfig) -> Result<(), NodeError> {
    let genesis_file = GenesisFile::load(&config.genesis)?;
    let genesis: GenesisState = genesis_file.state()?;
    let keypair = net::keypair(read_secret(&config.node_key)?)?;
    std::fs::create_dir_all(&config.data_dir).map_err(|error| ConfigError::Io {
        path: config.data_dir.clone(),
        error,
    })?;
    let db_path = database_path(&config);
    let mut store = RedbStore::open(&db_path).map_err(|e| {
        error!("{}: cannot open the database: {e}", db_path.display());
        e
    })?;
    let vconfig = validator_config(&config, genesis.chain_id);
    let now = now_ms();
    let restoring = store.genesis()?.is_some();
    let (core, mut first, key) = match config.role {
        Role::Validator => {
            let key_path = config
                .validator_key
                .as_ref()
                .ok_or(NodeError::Unsupported("a validator without validator_key"))?;
            let key = read_validator_key(key_path)?;
            let (v, first) = if restoring {
                let mut v = Validator::restore(vconfig, key.clone(), &genesis, &store, now)?;
                let ready = v.take_ready();
                (v, ready)
            } else {
                Validator::new(vconfig, key.clone(), &genesis, genesis_file.genesis_time_ms)?
            };
            (Core::Validator(Box::new(v)), first, Some(key))
        }
        Role::Full => {
            let node = if restoring {
                FullNode::restore(vconfig.node, &genesis, &store)
                    .map_err(|e| NodeError::FullNode(e.to_string()))?
            } else {
                let (node, writes) =
                    FullNode::new(vconfig.node, &genesis, genesis_file.genesis_time_ms)
                        .map_err(|e| NodeError::FullNode(e.to_string()))?;
                store.commit(writes)?;
                node
            };
            let follower = Follower {
                node,
                fetching: None,
                next_peer: 0,
            };
            (Core::Full(Box::new(follower)), Ready::default(), None)
        }
    };
    if restoring {
        info!(
            height = core.node().tip().height,
            "restored the chain from {}",
            db_path.display()
        );
    } else {
        info!("new chain from genesis in {}", db_path.display());
    }
    // The first step's writes (genesis, or what the restore produced) before anything else.
    store.commit(std::mem::take(&mut first.writes))?;

    let genesis_hash = core.node().genesis().hash();
    let local_peer = keypair.public().to_peer_id();
    let binding = match &key {
        Some(key) => Some(
            PeerBinding::sign(key, &genesis_hash, &local_peer.to_bytes())
                .map_err(|_| NodeError::Unsupported("the validator key cannot sign"))?,
        ),
        None => None,
    };
    let mut swarm = net::swarm(keypair)?;
    let topic = net::tx_topic(&genesis_hash);
    swarm
        .behaviour_mut()
        .gossip
        .subscribe(&topic)
        .map_err(|e| NetError::Transport(format!("gossipsub subscribe: {e}")))?;
    let listen: Multiaddr = config
        .listen
        .parse()
        .map_err(|e| NodeError::Address(format!("listen {:?}: {e}", config.listen)))?;
    swarm
        .listen_on(listen)
        .map_err(|e| NodeError::Address(format!("listen {:?}: {e}", config.listen)))?;
    let mut dial = Vec::new();
    for p in &config.peers {
        let addr: Multiaddr = p
            .parse()
            .map_err(|e| NodeError::Address(format!("peer {p:?}: {e}")))?;
        dial.push(DialTarget {
            addr,
            peer: None,
            last_attempt: None,
        });
    }

    let (commands_tx, commands) = mpsc::channel(api::API_QUEUE);
    let (status, status_rx) = watch::channel(Status::default());
    let listener = api::bind(config.api_addr)
        .await
        .map_err(|e| NodeError::Address(format!("api_addr {}: {e}", config.api_addr)))?;
    tokio::spawn(async move {
        if let Err(e) = api::serve(listener, api::router(commands_tx, status_rx)).await {
            error!("api server stopped: {e}");
        }
    });
    let metrics = Metrics::new();
    let metrics_listener = api::bind(config.metrics_addr)
        .await
        .map_err(|e| NodeError::Address(format!("metrics_addr {}: {e}", config.metrics_addr)))?;
    let registry = metrics.registry();
    tokio::spawn(async move {
        if let Err(e) = crate::metrics::serve(metrics_listener, registry).await {
            error!("metrics server stopped: {e}");
        }
    });

    let tip_hash = core.node().tip_hash();
    let state_root = core.node().ledger().root();
    let mut node = Node {
        swarm,
        core,
        store,
        policy: Approvals::new(),
        genesis_hash,
        topic,
        binding,
        peers: HashMap::new(),
        by_key: HashMap::new(),
        in_flight: HashMap::new(),
        banned: HashMap::new(),
        dial,
        status,
        metrics,
        tip_hash,
        state_root,
        last_commit_ms: 0,
        refused: 0,
        evidence: 0,
        pending: PendingIds::default(),
    };
    info!(
        peer_id = %local_peer,
        validator = %key.map_or_else(|| "none (full node)".to_owned(), |k| hex::encode(k.public_key().as_bytes())),
        height = node.core.node().tip().height,
        "node started"
    );
    node.finish(first, None)?;
    node.redial();
    node.event_loop(commands).await
}

impl Node {
    async fn event_loop(
        &mut self,
        mut commands: mpsc::Receiver<ApiCommand>,
    ) -> Result<(), NodeError> {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let mut redial = tokio::time::interval(REDIAL);
        redial.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let now = now_ms();
            let mut wait = 1_000;
            match &mut self.core {
                Core::Validator(v) => {
                    if let Some(deadline) = v.poll_timeout() {
                        if deadline <= now {
                            let ready = v.handle_timeout(now);
                            self.finish(ready, None)?;
                            // Whatever is still due waits a millisecond: inputs never starve.
                            wait = 1;
                        } else {
                            wait = (deadline - now).min(1_000);
                        }
                    }
                }
                Core::Full(_) => {
                    self.follow();
                    wait = FOLLOW_POLL_MS;
                }
            }
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm(event)?,
                command = commands.recv() => {
                    if let Some(command) = command {
                        self.on_api(command)?;
                    }
                }
                _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
                _ = redial.tick() => self.redial(),
                _ = &mut ctrl_c => {
                    info!("SIGINT: stopping");
                    return Ok(());
                }
                _ = term.recv() => {
                    info!("SIGTERM: stopping");
                    return Ok(());
                }
            }
        }
    }

    // ------------------------------------------------------------------ one step's output

    /// Carries out `ready` (and whatever the certified system transactions it holds produce):
    /// writes durable first, then everything else. `source` is the peer whose input this was.
    fn finish(&mut self, ready: Ready, source: Option<PeerId>) -> Result<(), NodeError> {
        let mut next = Some(ready);
        let mut rounds = 0;
        while let Some(ready) = next.take() {
            rounds += 1;
            let Ready {
                writes,
                messages,
                replies: _,
                fetches,
                certified,
                committed,
                evidence,
                refused,
            } = ready;
            if !writes.is_empty() {
                let t = Instant::now();
                self.store.commit(writes).map_err(|e| {
                    error!("commit failed, stopping (nothing of this step was sent): {e}");
                    e
                })?;
                self.metrics.fsync.observe(t.elapsed().as_secs_f64());
            }
            let me = match &self.core {
                Core::Validator(v) => Some(v.public_key()),
                Core::Full(_) => None,
            };
            for out in messages {
                let bytes = out.message.encode_to_vec();
                if bytes.len() > MAX_CONSENSUS_BYTES {
                    warn!(
                        len = bytes.len(),
                        "consensus message too large for a frame; dropped"
                    );
                    continue;
                }
                match out.to {
                    Recipient::One(key) => self.send_consensus(key, bytes),
                    Recipient::Validators => {
                        let keys: Vec<PublicKey> = self
                            .core
                            .node()
                            .handover()
                            .in_force()
                            .validators()
                            .iter()
                            .map(|v| v.key)
                            .filter(|k| Some(*k) != me)
                            .collect();
                        for key in keys {
                            self.send_consensus(key, bytes.clone());
                        }
                    }
                }
            }
            for f in fetches {
                let Some(peer) = self.by_key.get(&f.peer).copied() else {
                    continue;
                };
                let count =
                    f.to.saturating_sub(f.from)
                        .saturating_add(1)
                        .min(u64::from(MAX_BLOCKS_PER_FETCH));
                let count = u16::try_from(count).unwrap_or(MAX_BLOCKS_PER_FETCH);
                self.send(
                    peer,
                    NodeRequest::GetBlocks {
                        from: f.from,
                        count,
                    },
                );
            }
            let now = now_ms();
            for c in &committed {
                self.pending.committed(c.receipts.iter().map(|r| r.tx_id));
                self.tip_hash = c.header_hash;
                self.state_root = c.state_root;
                self.last_commit_ms = now;
                self.metrics.committed_txs.inc_by(c.receipts.len() as u64);
                debug!(height = c.height, txs = c.receipts.len(), "committed");
            }
            for e in &evidence {
                self.evidence += 1;
                warn!("equivocation evidence: {e:?}");
            }
            for e in refused {
                self.on_refused(&e, source);
            }
            for tx in certified {
                // A co-signed system transaction: order it here and gossip it like a client's.
                let bytes = tx.encode_to_vec();
                if let Err(e) = self.submit_one(&bytes, now) {
                    debug!("certified system transaction not queued: {e}");
                }
                if let Err(e) = self.gossip(vec![bytes]) {
                    debug!("certified system transaction not gossiped: {e}");
                }
            }
            // What submitting certified transactions produced (bounded: the rest stays in the
            // core and leaves with the next step).
            if rounds < 64 {
                let more = self.take_ready();
                if !more.is_empty() {
                    next = Some(more);
                }
            }
        }
        self.publish();
        Ok(())
    }

    /// The core's accumulated output (a full node has none).
    fn take_ready(&mut self) -> Ready {
        match &mut self.core {
            Core::Validator(v) => v.take_ready(),
            Core::Full(_) => Ready::default(),
        }
    }

    /// A client transaction: a validator queues it for ordering; a full node checks that it
    /// decodes (strictly) and only forwards it.
    fn submit_one(&mut self, tx: &[u8], now: u64) -> Result<Hash, ValidatorError> {
        match &mut self.core {
            Core::Validator(v) => v.submit_transaction(tx, now),
            Core::Full(_) => Ok(SignedTransaction::decode_bytes(tx)?.id()),
        }
    }

    /// The operator approves (and maybe proposes) a `SetValidators`; the co-signer and the
    /// ledger decide whether it is valid.
    fn set_validators(&mut self, request: api::SetValidatorsRequest) -> Result<(), String> {
        let genesis = crate::config::GenesisFile {
            chain_id: 0,
            genesis_time_ms: 0,
            validators: request.validators,
            balances: Vec::new(),
        };
        let validators = genesis.state().map_err(|e| e.to_string())?.validators;
        let Core::Validator(v) = &mut self.core else {
            return Err("a full node has no validator key".to_owned());
        };
        let chain_id = v.config().chain_id;
        let epoch = request
            .epoch
            .unwrap_or_else(|| v.node().ledger().validator_epoch().saturating_add(1));
        let call = itc_ledger::SystemCall::SetValidators {
            epoch,
            validators: Box::new(validators),
        };
        self.policy.approve(chain_id, &call);
        if request.propose {
            let proposal =
                itc_chain::SystemProposal::new(chain_id, call).map_err(|e| e.to_string())?;
            v.propose_system(proposal, &mut self.policy)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// An input the core refused. One it blames on the peer is a strike, except from a
    /// validator of the set in force: the core has already dropped the message, and cutting a
    /// validator off costs the cluster a vote it may need for liveness (with 4 validators, all
    /// of the 3 others) — so a voter is logged and counted, never disconnected for what it
    /// says in consensus (malformed frames and forged bindings still disconnect anyone, and
    /// the per-peer rate limits bound a voter too). Honest races are `Ignorable` in the core
    /// itself (e.g. a view-change from another epoch), so a count here means a real fault.
    fn on_refused(&mut self, e: &ValidatorError, source: Option<PeerId>) {
        self.refused += 1;
        match e.blame() {
            Blame::Peer => {
                let Some(p) = source else {
                    debug!("refused (peer's fault): {e}");
                    return;
                };
                let voter = self
                    .peers
                    .get(&p)
                    .and_then(|peer| peer.key)
                    .is_some_and(|k| {
                        self.core
                            .node()
                            .handover()
                            .in_force()
                            .index_of(&k)
                            .is_some()
                    });
                if voter {
                    self.metrics.voter_refusals.inc();
                    warn!(peer = %p, "a validator's input refused by the core: {e}");
                } else {
                    self.strike(p, &format!("refused by the core: {e}"));
                }
            }
            Blame::Ignorable => debug!("ignored: {e}"),
            Blame::Local => error!("refused (local fault, a bug on this side): {e}"),
        }
    }

    fn publish(&mut self) {
        let bound = self.peers.values().filter(|p| p.key.is_some()).count();
        let (validator, view, primary, mempool, in_set) = match &self.core {
            Core::Validator(v) => (
                hex::encode(v.public_key().as_bytes()),
                v.view(),
                v.replica().is_primary(),
                v.replica().pending_requests(),
                v.validators().index_of(&v.public_key()).is_some(),
            ),
            Core::Full(_) => (String::new(), 0, false, 0, false),
        };
        let status = Status {
            validator,
            peer_id: self.swarm.local_peer_id().to_string(),
            height: self.core.node().tip().height,
            view,
            primary,
            validators: self.core.node().handover().in_force().validators().len(),
            in_set,
            tip_hash: hex::encode(self.tip_hash.0),
            state_root: hex::encode(self.state_root.0),
            peers: self.peers.len(),
            bound_peers: bound,
            mempool,
            last_commit_ms: self.last_commit_ms,
            refused: self.refused,
            evidence: self.evidence,
        };
        self.metrics.update(&status);
        self.status.send_replace(status);
    }

    // ------------------------------------------------------------------ sending

    fn send(&mut self, peer: PeerId, request: NodeRequest) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if p.in_flight >= MAX_IN_FLIGHT {
            debug!(%peer, "too many requests in flight; dropped");
            return;
        }
        p.in_flight += 1;
        let id = self
            .swarm
            .behaviour_mut()
            .rr
            .send_request(&peer, Framed::Message(request));
        self.in_flight.insert(id, peer);
    }

    fn send_consensus(&mut self, key: PublicKey, bytes: Vec<u8>) {
        if let Some(peer) = self.by_key.get(&key).copied() {
            self.metrics.bytes_out.inc_by(bytes.len() as u64);
            self.send(peer, NodeRequest::Consensus(bytes));
        }
    }

    /// Publishes client transactions, in order, on the transaction topic (as few batches as
    /// the bounds allow). Fails when no peer is subscribed (nothing left this node); a batch
    /// published before (a client retrying) is not an error.
    fn gossip(&mut self, txs: Vec<Vec<u8>>) -> Result<(), gossipsub::PublishError> {
        for batch in TxBatch::split(txs) {
            let bytes = batch.encode_to_vec();
            let len = bytes.len() as u64;
            match self
                .swarm
                .behaviour_mut()
                .gossip
                .publish(self.topic.clone(), bytes)
            {
                Ok(_) => {
                    self.metrics.bytes_out.inc_by(len);
                }
                Err(gossipsub::PublishError::Duplicate) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// A full node only relays: a transaction its API accepted but could not publish reached
    /// no validator, and the client must hear so. A validator has it in its own queue.
    fn relays_only(&self) -> bool {
        matches!(self.core, Core::Full(_))
    }

    fn strike(&mut self, peer: PeerId, why: &str) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        p.strikes += 1;
        warn!(%peer, strikes = p.strikes, "strike: {why}");
        if p.strikes >= STRIKE_LIMIT {
            warn!(%peer, "disconnecting a misbehaving peer");
            self.banned.insert(peer, Instant::now());
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    fn redial(&mut self) {
        let connected: Vec<PeerId> = self.peers.keys().copied().collect();
        for t in &mut self.dial {
            if t.peer.is_some_and(|p| connected.contains(&p)) {
                continue;
            }
            t.peer = None;
            if t.last_attempt.is_some_and(|at| at.elapsed() < REDIAL) {
                continue;
            }
            t.last_attempt = Some(Instant::now());
            if let Err(e) = self.swarm.dial(t.addr.clone()) {
                debug!("dial {}: {e}", t.addr);
            }
        }
    }

    // ------------------------------------------------------------------ inputs

    fn on_api(&mut self, command: ApiCommand) -> Result<(), NodeError> {
        match command {
            ApiCommand::Submit(bytes, reply) => {
                let result = self.submit_one(&bytes, now_ms());
                let ready = self.take_ready();
                self.finish(ready, None)?;
                let answer = match result {
                    Ok(id) => match self.gossip(vec![bytes]) {
                        Err(e) if self.relays_only() => SubmitAnswer {
                            id: None,
                            error: Some(format!("{}: {e}", api::NOT_FORWARDED_PREFIX)),
                        },
                        _ => {
                            self.pending.insert(id);
                            SubmitAnswer {
                                id: Some(hex::encode(id.0)),
                                error: None,
                            }
                        }
                    },
                    Err(e) => SubmitAnswer {
                        id: None,
                        error: Some(e.to_string()),
                    },
                };
                let _ = reply.send(answer);
            }
            ApiCommand::SubmitBatch(txs, reply) => {
                let now = now_ms();
                let mut answer = BatchAnswer::default();
                let mut accepted = Vec::new();
                let mut ids = Vec::new();
                for tx in txs {
                    match self.submit_one(&tx, now) {
                        Ok(id) => {
                            answer.accepted += 1;
                            accepted.push(tx);
                            ids.push(id);
                        }
                        Err(e) => {
                            answer.refused += 1;
                            answer.first_error.get_or_insert_with(|| e.to_string());
                        }
                    }
                }
                let ready = self.take_ready();
                self.finish(ready, None)?;
                if !accepted.is_empty() {
                    match self.gossip(accepted) {
                        Err(e) if self.relays_only() => {
                            answer.refused += answer.accepted;
                            answer.accepted = 0;
                            answer.first_error =
                                Some(format!("{}: {e}", api::NOT_FORWARDED_PREFIX));
                        }
                        _ => {
                            for id in ids {
                                self.pending.insert(id);
                            }
                        }
                    }
                }
                let _ = reply.send(answer);
            }
            ApiCommand::SetValidators(request, reply) => {
                let answer = self.set_validators(request);
                let ready = self.take_ready();
                self.finish(ready, None)?;
                let _ = reply.send(answer);
            }
            ApiCommand::Spv(bytes, reply) => {
                let answer = match itc_spv::Request::decode_bytes(&bytes) {
                    Ok(request) => self
                        .core
                        .node()
                        .answer::<SPV_CAPACITY, _>(&self.store, &request)
                        .map(|r| r.encode_to_vec())
                        .map_err(|e| format!("store: {e}")),
                    Err(e) => Err(format!("malformed request: {e}")),
                };
                let _ = reply.send(answer);
            }
            ApiCommand::TxStatus(id, reply) => {
                let _ = reply.send(self.tx_status(id));
            }
            ApiCommand::Block(height, reply) => {
                let _ = reply.send(self.block_info(height));
            }
            ApiCommand::State(key, reply) => {
                let _ = reply.send(self.state_answer(key));
            }
            ApiCommand::Account(address, reply) => {
                let a = self.core.node().ledger().account(&address);
                let _ = reply.send(AccountInfo {
                    balance: a.balance,
                    nonce: a.nonce,
                });
            }
        }
        Ok(())
    }

    fn tx_status(&self, id: Hash) -> Result<TxStatus, ApiError> {
        let receipt = self
            .store
            .receipt(&id)
            .map_err(|e| ApiError::new(codes::STORE, e.to_string()))?;
        let mut status = TxStatus {
            id: hex::encode(id.0),
            state: TxState::Unknown,
            height: None,
            position: None,
            code: None,
            result: None,
        };
        if let Some(r) = receipt {
            status.state = TxState::Committed;
            status.height = Some(r.height);
            status.position = Some(r.position);
            status.code = Some(r.code);
            status.result = Some(
                itc_ledger::TxError::code_name(r.code)
                    .map_or_else(|| format!("code {}", r.code), str::to_owned),
            );
        } else if self.pending.set.contains(&id) {
            status.state = TxState::Pending;
        }
        Ok(status)
    }

    fn block_info(&self, height: u64) -> Result<Option<BlockInfo>, ApiError> {
        let block = self
            .store
            .block(height)
            .map_err(|e| ApiError::new(codes::STORE, e.to_string()))?;
        Ok(block.map(|b| {
            let h = &b.header;
            BlockInfo {
                height: h.height,
                hash: hex::encode(h.hash().0),
                view: h.view,
                previous: hex::encode(h.previous.0),
                batch_root: hex::encode(h.batch_root.0),
                state_root: hex::encode(h.state_root.0),
                validator_set_hash: hex::encode(h.validator_set_hash.0),
                next_validator_set_hash: hex::encode(h.next_validator_set_hash.0),
                timestamp_ms: h.timestamp_ms,
                transactions: b.batch.len(),
                header_hex: hex::encode(h.encode_to_vec()),
                certificate_hex: hex::encode(b.certificate.encode_to_vec()),
            }
        }))
    }

    /// A record as of the tip's certified header, with the light-client answer proving it.
    fn state_answer(&self, key: itc_ledger::StateKey) -> Result<StateAnswer, ApiError> {
        let height = self.core.node().tip().height;
        let request = itc_spv::Request::StateProof { height, key };
        let response = self
            .core
            .node()
            .answer::<SPV_CAPACITY, _>(&self.store, &request)
            .map_err(|e| ApiError::new(codes::STORE, e.to_string()))?;
        let itc_spv::Response::StateProof { height, value, .. } = &response else {
            return Err(ApiError::new(
                codes::NOT_FOUND,
                format!("no state proof at height {height}"),
            ));
        };
        Ok(StateAnswer {
            height: *height,
            value_hex: value.as_ref().map(hex::encode),
            proof_hex: hex::encode(response.encode_to_vec()),
        })
    }

    fn on_swarm(&mut self, event: SwarmEvent<net::Event>) -> Result<(), NodeError> {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => info!("listening on {address}"),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                if let Some(at) = self.banned.get(&peer_id) {
                    if at.elapsed() < BAN {
                        let _ = self.swarm.disconnect_peer_id(peer_id);
                        return Ok(());
                    }
                    self.banned.remove(&peer_id);
                }
                if endpoint.is_dialer() {
                    let addr = without_p2p(endpoint.get_remote_address());
                    for t in &mut self.dial {
                        if without_p2p(&t.addr) == addr {
                            t.peer = Some(peer_id);
                        }
                    }
                }
                self.peers.entry(peer_id).or_insert_with(Peer::new);
                if num_established.get() == 1 {
                    debug!(%peer_id, "connected");
                    self.send(peer_id, NodeRequest::Hello(self.binding));
                }
                self.publish();
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                debug!(%peer_id, "disconnected");
                if let Some(p) = self.peers.remove(&peer_id) {
                    if let Some(k) = p.key {
                        if self.by_key.get(&k) == Some(&peer_id) {
                            self.by_key.remove(&k);
                        }
                    }
                }
                self.in_flight.retain(|_, p| *p != peer_id);
                self.publish();
            }
            SwarmEvent::Behaviour(net::Event::Rr(event)) => self.on_request_response(event)?,
            SwarmEvent::Behaviour(net::Event::Gossip(event)) => self.on_gossip(event)?,
            _ => {}
        }
        Ok(())
    }

    fn bind(&mut self, peer: PeerId, binding: Option<PeerBinding>) {
        let Some(b) = binding else {
            return;
        };
        if !b.verify(&self.genesis_hash, &peer.to_bytes()) {
            // Another chain, or a forged binding: nothing this peer says can be trusted.
            for _ in 0..STRIKE_LIMIT {
                self.strike(peer, "invalid peer binding");
            }
            return;
        }
        if let Some(p) = self.peers.get_mut(&peer) {
            if p.key.is_none() {
                info!(%peer, validator = %hex::encode(b.key.as_bytes()), "peer bound");
            }
            p.key = Some(b.key);
            self.by_key.insert(b.key, peer);
            self.publish();
        }
    }

    /// A gossiped batch: checked, then reported to gossipsub (only accepted batches are relayed).
    fn on_gossip(&mut self, event: gossipsub::Event) -> Result<(), NodeError> {
        let gossipsub::Event::Message {
            propagation_source: peer,
            message_id,
            message,
        } = event
        else {
            return Ok(());
        };
        let verdict = self.check_gossip(peer, &message.data)?;
        self.swarm
            .behaviour_mut()
            .gossip
            .report_message_validation_result(&message_id, &peer, verdict);
        Ok(())
    }

    fn check_gossip(&mut self, peer: PeerId, data: &[u8]) -> Result<MessageAcceptance, NodeError> {
        let admitted = self.peers.get_mut(&peer).is_some_and(Peer::admit);
        if !admitted {
            return Ok(MessageAcceptance::Ignore);
        }
        self.metrics.bytes_in.inc_by(data.len() as u64);
        let batch = match TxBatch::decode_bytes(data) {
            Ok(b) => b,
            Err(e) => {
                self.metrics.malformed.inc();
                self.strike(peer, &format!("malformed transaction batch: {e}"));
                return Ok(MessageAcceptance::Reject);
            }
        };
        // The API's path: a validator queues each transaction, a full node decodes it.
        let now = now_ms();
        let mut faulty = None;
        for tx in &batch.0 {
            if let Err(e) = self.submit_one(tx, now) {
                if e.blame() == Blame::Peer {
                    faulty.get_or_insert(e.to_string());
                }
            }
        }
        let ready = self.take_ready();
        self.finish(ready, Some(peer))?;
        Ok(match faulty {
            Some(why) => {
                self.strike(peer, &format!("relayed a bad transaction: {why}"));
                MessageAcceptance::Reject
            }
            None => MessageAcceptance::Accept,
        })
    }

    fn on_request_response(&mut self, event: net::RequestEvent) -> Result<(), NodeError> {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                Message::Request {
                    request, channel, ..
                } => self.on_request(peer, request, channel)?,
                Message::Response {
                    request_id,
                    response,
                } => {
                    self.done(request_id);
                    self.on_response(peer, response)?;
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                self.done(request_id);
                if let request_response::OutboundFailure::Io(e) = &error {
                    if e.kind() == std::io::ErrorKind::InvalidData {
                        self.strike(peer, "malformed response");
                        return Ok(());
                    }
                }
                debug!(%peer, "request failed: {error}");
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                if let InboundFailure::Io(e) = &error {
                    if e.kind() == std::io::ErrorKind::InvalidData {
                        self.metrics.malformed.inc();
                        self.strike(peer, "malformed or oversized frame");
                        return Ok(());
                    }
                }
                debug!(%peer, "inbound request failed: {error}");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
        Ok(())
    }

    fn done(&mut self, id: OutboundRequestId) {
        if let Some(peer) = self.in_flight.remove(&id) {
            if let Some(p) = self.peers.get_mut(&peer) {
                p.in_flight = p.in_flight.saturating_sub(1);
            }
        }
    }

    fn respond(
        &mut self,
        channel: request_response::ResponseChannel<Framed<NodeResponse>>,
        response: NodeResponse,
    ) {
        let _ = self
            .swarm
            .behaviour_mut()
            .rr
            .send_response(channel, Framed::Message(response));
    }

    fn on_request(
        &mut self,
        peer: PeerId,
        request: Framed<NodeRequest>,
        channel: request_response::ResponseChannel<Framed<NodeResponse>>,
    ) -> Result<(), NodeError> {
        let request = match request {
            Framed::Message(r) => r,
            Framed::Malformed(why) => {
                self.metrics.malformed.inc();
                self.strike(peer, &format!("malformed frame: {why}"));
                self.respond(channel, NodeResponse::Refused);
                return Ok(());
            }
        };
        let admitted = self.peers.get_mut(&peer).is_some_and(Peer::admit);
        if !admitted {
            self.respond(channel, NodeResponse::Refused);
            return Ok(());
        }
        let now = now_ms();
        match request {
            NodeRequest::Hello(binding) => {
                self.bind(peer, binding);
                let mine = self.binding;
                self.respond(channel, NodeResponse::Hello(mine));
            }
            NodeRequest::Status => {
                let tip = self.core.node().tip().height;
                self.respond(channel, NodeResponse::Status { tip });
            }
            NodeRequest::GetBlocks { from, count } => {
                let count = u64::from(count.clamp(1, MAX_BLOCKS_PER_FETCH));
                let to = from.saturating_add(count - 1);
                match Validator::<SecretKey>::serve_fetch(&self.store, from, to) {
                    Ok(mut blocks) => {
                        // Fit the answer in one frame.
                        let mut size = 16;
                        let mut keep = 0;
                        for b in &blocks {
                            size += b.encoded_len();
                            if size > MAX_FRAME {
                                break;
                            }
                            keep += 1;
                        }
                        blocks.truncate(keep);
                        self.respond(channel, NodeResponse::Blocks(blocks));
                    }
                    Err(e) => {
                        error!("serving blocks: {e}");
                        self.respond(channel, NodeResponse::Refused);
                    }
                }
            }
            NodeRequest::Consensus(bytes) => {
                let Some(key) = self.peers.get(&peer).and_then(|p| p.key) else {
                    self.respond(channel, NodeResponse::Refused);
                    return Ok(());
                };
                self.respond(channel, NodeResponse::Ack);
                self.metrics.bytes_in.inc_by(bytes.len() as u64);
                let Core::Validator(v) = &mut self.core else {
                    return Ok(());
                };
                let ready = v.handle_peer_bytes(key, &bytes, &mut self.policy, now);
                self.finish(ready, Some(peer))?;
            }
        }
        Ok(())
    }

    fn on_response(
        &mut self,
        peer: PeerId,
        response: Framed<NodeResponse>,
    ) -> Result<(), NodeError> {
        let response = match response {
            Framed::Message(r) => r,
            Framed::Malformed(why) => {
                self.metrics.malformed.inc();
                self.strike(peer, &format!("malformed response: {why}"));
                return Ok(());
            }
        };
        match response {
            NodeResponse::Hello(binding) => self.bind(peer, binding),
            NodeResponse::Blocks(blocks) => {
                let now = now_ms();
                let Core::Validator(v) = &mut self.core else {
                    return self.apply_blocks(peer, blocks);
                };
                for b in blocks {
                    if let Err(e) = v.handle_fetched_block(b, now) {
                        if e.blame() == Blame::Peer {
                            self.strike(peer, "bad fetched block");
                        } else {
                            debug!("fetched block not used: {e}");
                        }
                        break;
                    }
                }
                let ready = self.take_ready();
                self.finish(ready, Some(peer))?;
            }
            NodeResponse::Status { .. } | NodeResponse::Ack | NodeResponse::Refused => {}
        }
        Ok(())
    }

    // ------------------------------------------------------------------ full node

    /// Asks one bound peer (in turn) for the blocks past the tip, unless a fetch is out.
    fn follow(&mut self) {
        let Core::Full(f) = &mut self.core else {
            return;
        };
        if f.fetching.is_some_and(|at| at.elapsed() < FETCH_TIMEOUT) {
            return;
        }
        let peers: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.key.is_some())
            .map(|(id, _)| *id)
            .collect();
        let Some(peer) = peers.get(f.next_peer % peers.len().max(1)).copied() else {
            return;
        };
        f.next_peer = f.next_peer.wrapping_add(1);
        f.fetching = Some(Instant::now());
        let from = f.node.tip().height.saturating_add(1);
        self.send(
            peer,
            NodeRequest::GetBlocks {
                from,
                count: MAX_BLOCKS_PER_FETCH,
            },
        );
    }

    /// A full node's fetched blocks: each verified and executed by the core, then stored
    /// (fsync) before anything of it is served.
    fn apply_blocks(&mut self, peer: PeerId, blocks: Vec<CertifiedBlock>) -> Result<(), NodeError> {
        let full = blocks.len() == usize::from(MAX_BLOCKS_PER_FETCH);
        let mut applied = 0usize;
        for b in blocks {
            let Core::Full(f) = &mut self.core else {
                return Ok(());
            };
            if b.header.height <= f.node.tip().height {
                continue;
            }
            match f.node.handle_block(b) {
                Ok(accepted) => {
                    let t = Instant::now();
                    self.store.commit(accepted.writes)?;
                    self.metrics.fsync.observe(t.elapsed().as_secs_f64());
                    self.pending
                        .committed(accepted.outcome.receipts.iter().map(|r| r.tx_id));
                    self.tip_hash = accepted.header_hash;
                    self.state_root = accepted.outcome.state_root;
                    self.last_commit_ms = now_ms();
                    self.metrics
                        .committed_txs
                        .inc_by(accepted.outcome.receipts.len() as u64);
                    applied += 1;
                }
                Err(e) => {
                    if e.blame() == Blame::Peer {
                        self.strike(peer, "bad block");
                    } else {
                        debug!("block not applied: {e}");
                    }
                    break;
                }
            }
        }
        if let Core::Full(f) = &mut self.core {
            f.fetching = None;
        }
        if full && applied > 0 {
            self.follow();
        }
        self.publish();
        Ok(())
    }
}
