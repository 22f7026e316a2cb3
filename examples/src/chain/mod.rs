//! The main chain of the story: validators over a [`SimNet`], each one an
//! [`itc_chain::Validator`] (its PBFT replica, its own ledger, its co-signer) with its own
//! [`MemoryStore`], and a full node ([`Server`]: an `itc_chain::FullNode` over its own store) fed the blocks one
//! honest validator committed. This module
//! only simulates the network and the clock (`integrator`): every rule is `itc-chain`'s.
//! System transactions are co-signed by the validators, each with its own key, after its
//! operator approved the call ([`Chain::certify`]); nothing here holds a quorum of keys.
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

use std::collections::{BTreeMap, VecDeque};

use itc_chain::cosign::{Approvals, CosignPolicy, SystemProposal};
use itc_chain::validator::Validator as ChainValidator;
use itc_chain::{MemoryStore, PeerMessage, Store, ValidatorConfig};
use itc_crypto::quorum::{Validator, ValidatorSet};
use itc_crypto::{Address, Encode, Hash, SecretKey};
use itc_ledger::builder::TxBuilder;
use itc_ledger::{GenesisState, Ledger, SignedTransaction, SystemCall, TxError};
use itc_pbft::{BlockHeader, CertifiedBlock, ClientId, Config as PbftConfig, Evidence, Request};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::error::StoryError;
use crate::net::{NetConfig, SimNet};

mod byzantine;
mod integrator;
mod server;

pub use server::Server;

/// Start of the simulated clock: 2024-01-01T00:00:00Z in ms (any fixed value would do).
pub const GENESIS_MS: u64 = 1_704_067_200_000;

/// The story's idle-block interval: with no transaction waiting, the primary proposes an
/// empty block this long after the previous one, so every state change is provable (by the next
/// header's state root) within this long of its commit, with no keep-alive transaction.
pub const IDLE_BLOCK_MS: u64 = 1_000;

/// How the chain is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainConfig {
    /// Number of validators at genesis (equal power). One more node runs beside them, outside
    /// the set, until [`Chain::rotate`] lets it join.
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
    /// Four honest validators, the default network, PBFT defaults with a 2 ms batching delay
    /// and an empty block after [`IDLE_BLOCK_MS`] without one.
    pub fn new(seed: u64) -> Self {
        ChainConfig {
            validators: 4,
            byzantine: false,
            net: NetConfig::default(),
            pbft: PbftConfig {
                batch_delay_ms: 2,
                idle_block_interval_ms: IDLE_BLOCK_MS,
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
    Peer(Box<PeerMessage>),
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

/// One validator: the `itc-chain` core, its store, and what the story observes of it.
pub struct ValidatorNode {
    /// Replica, ledger and co-signer behind one driver.
    pub validator: ChainValidator<SecretKey>,
    /// Its durable store (every step's writes land here before its messages leave).
    store: MemoryStore,
    /// The system calls its operator approved (its co-signing policy).
    approvals: Approvals,
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
}

/// What [`Chain::rotate`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Height of the block holding the `SetValidators`.
    pub committed_at: u64,
    /// The first block the new set certified (the one after the epoch boundary).
    pub first_block: u64,
    /// Its certificate verifies against the new set.
    pub certified: bool,
    /// The first block whose certificate carries the joining validator's signature.
    pub joiner_signed: Option<u64>,
    /// The leaving validator is still in the new set (must be false).
    pub leaver_in_set: bool,
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
    /// Commits a client accepted at a height where the full node does not have the
    /// transaction (must stay 0).
    pub lies_believed: u64,
    /// Blocks the full node refused (certificate, linkage, execution) or executed to another
    /// root than the validator, and store failures (must stay 0).
    pub store_errors: u64,
}

/// The validators, the network, the clients and the full node.
pub struct Chain {
    config: ChainConfig,
    nodes: Vec<ValidatorNode>,
    keys: Vec<SecretKey>,
    /// The set in force (for clients: whom to ask, how many replies to wait for).
    set: ValidatorSet,
    /// Every set the chain has had, genesis first (evidence names a signer of one of them).
    sets: Vec<ValidatorSet>,
    genesis_header: BlockHeader,
    net: SimNet<Envelope>,
    now: u64,
    rng: ChaCha8Rng,
    clients: BTreeMap<u64, ClientState>,
    observer: usize,
    receipts: BTreeMap<Hash, (u64, Result<(), TxError>)>,
    server: Server,
    stats: ChainStats,
    latencies: Vec<u64>,
    /// System transactions the validators certified by co-signing, as collected.
    certified: Vec<SignedTransaction>,
}

/// Deterministic validator key `i` for `seed`.
fn validator_key(seed: u64, i: usize) -> SecretKey {
    let mut first = ChaCha8Rng::seed_from_u64(seed ^ 0x7a11_da70 ^ ((i as u64) << 32));
    SecretKey::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(
        first.next_u64(),
    ))
}

impl Chain {
    /// Starts a chain at [`GENESIS_MS`] with the given genesis balances.
    pub fn new(config: ChainConfig, balances: Vec<(Address, u64)>) -> Result<Self, StoryError> {
        let n = config.validators.max(1);
        let mut keys: Vec<SecretKey> = (0..n).map(|i| validator_key(config.seed, i)).collect();
        let standby = validator_key(config.seed, n);
        let set = ValidatorSet::new(keys.iter().map(|k| Validator {
            key: k.public_key(),
            power: 1,
        }))
        .map_err(StoryError::Quorum)?;
        // Node i is signer i: sort keys by their index in the set.
        keys.sort_by_key(|k| set.index_of(&k.public_key()));
        // The standby node, last: it follows the chain and may join later.
        keys.push(standby);
        let genesis = GenesisState {
            chain_id: config.chain_id,
            validators: set.clone(),
            balances,
            vendors: Vec::new(),
        };
        let ledger = Ledger::from_genesis(&genesis).map_err(StoryError::Genesis)?;
        let server = Server::new(config.pbft.checkpoint_interval, &genesis, GENESIS_MS)?;
        let validator_config = ValidatorConfig::new(config.chain_id).with_pbft(config.pbft);
        let mut nodes = Vec::with_capacity(n + 1);
        for (i, key) in keys.iter().enumerate() {
            let (validator, ready) =
                ChainValidator::new(validator_config, key.clone(), &genesis, GENESIS_MS)
                    .map_err(|e| StoryError::Validator(Box::new(e)))?;
            let mut store = MemoryStore::new();
            let Ok(()) = store.commit(ready.writes);
            nodes.push(ValidatorNode {
                validator,
                store,
                approvals: Approvals::new(),
                byzantine: config.byzantine && i == 0,
                evidence: Vec::new(),
                refused: 0,
                headers: BTreeMap::new(),
                roots: BTreeMap::new(),
            });
        }
        let observer = nodes.iter().position(|v| !v.byzantine).unwrap_or(0);
        let genesis_header = BlockHeader::genesis(ledger.root(), set.hash(), GENESIS_MS);
        Ok(Chain {
            net: SimNet::new(config.net, config.seed ^ 0x0e7),
            rng: ChaCha8Rng::seed_from_u64(config.seed ^ 0xb12a),
            config,
            nodes,
            keys,
            sets: vec![set.clone()],
            set,
            genesis_header,
            now: GENESIS_MS,
            clients: BTreeMap::new(),
            observer,
            receipts: BTreeMap::new(),
            server,
            stats: ChainStats::default(),
            latencies: Vec::new(),
            certified: Vec::new(),
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

    /// The full node.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// The full node, mutably (to add DAG snapshots).
    pub fn server_mut(&mut self) -> &mut Server {
        &mut self.server
    }

    /// The full node's ledger (it re-executes the blocks an honest validator hands it).
    pub fn full_node_ledger(&self) -> &Ledger {
        self.server.ledger()
    }

    /// Height of the newest block the full node holds.
    pub fn tip_height(&self) -> u64 {
        self.server.tip().height
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

    /// Node indices of the validators in force, as a client knows them.
    fn members(&self) -> Vec<usize> {
        self.set
            .validators()
            .iter()
            .filter_map(|v| self.index_of(&v.key))
            .collect()
    }

    /// Replaces validator node `leave` by node `join` (the standby, `ChainConfig::validators`):
    /// the validators co-sign a `SetValidators` for the ledger's next epoch, `client` submits
    /// it, and the network runs until the full node holds the first block certified by the new
    /// set (PBFT's rule: named by the next epoch-boundary header, in force after it).
    pub fn rotate(
        &mut self,
        client: u64,
        leave: usize,
        join: usize,
    ) -> Result<Rotation, StoryError> {
        let (Some(leaving), Some(joining)) = (self.keys.get(leave), self.keys.get(join)) else {
            return Err(StoryError::Unexpected("no such validator node"));
        };
        let (leaving, joining) = (leaving.public_key(), joining.public_key());
        let members = self
            .set
            .validators()
            .iter()
            .filter(|v| v.key != leaving)
            .copied()
            .chain([Validator {
                key: joining,
                power: 1,
            }]);
        let new_set = ValidatorSet::new(members).map_err(StoryError::Quorum)?;
        let new_hash = new_set.hash();
        let epoch = self.server.ledger().validator_epoch().saturating_add(1);
        let tx = self.certify(SystemCall::SetValidators {
            epoch,
            validators: Box::new(new_set.clone()),
        })?;
        let (_, outcome) = self.execute(client, &tx)?;
        if let Err(e) = outcome.result {
            return Err(StoryError::Ledger(e));
        }
        let limit = self.now.saturating_add(120_000);
        if !self.run_until(limit, |c| c.server.tip().validator_set_hash == new_hash) {
            return Err(StoryError::Unexpected(
                "the new validator set never took force",
            ));
        }
        let first = self.server.tip().height;
        let block = self
            .server
            .block(first)
            .ok_or(StoryError::Unexpected("the full node lost its tip block"))?;
        let certified = block.certificate.verify(&block.header, &new_set).is_ok();
        // A quorum needs three of four: the joiner, still catching up, may be missing from the
        // first certificates. Run on until a block carries its signature.
        let joiner = new_set.index_of(&joining);
        let signed_by_joiner = |c: &Chain, h: u64| {
            c.server
                .block(h)
                .is_some_and(|b| joiner.is_some_and(|i| b.certificate.signers().get(i)))
        };
        let mut joiner_signed = None;
        let limit = self.now.saturating_add(60_000);
        let mut next = first;
        while joiner_signed.is_none() {
            while next <= self.tip_height() {
                if signed_by_joiner(self, next) {
                    joiner_signed = Some(next);
                    break;
                }
                next += 1;
            }
            if joiner_signed.is_some() || !self.run_until(limit, |c| c.tip_height() >= next) {
                break;
            }
        }
        let rotation = Rotation {
            committed_at: outcome.height,
            first_block: first,
            certified,
            joiner_signed,
            leaver_in_set: new_set.index_of(&leaving).is_some(),
        };
        self.set = new_set.clone();
        self.sets.push(new_set);
        Ok(rotation)
    }

    /// Highest view an honest replica is in (0 if no view change happened).
    pub fn max_honest_view(&self) -> u64 {
        self.honest().map(|n| n.validator.view()).max().unwrap_or(0)
    }

    fn honest(&self) -> impl Iterator<Item = &ValidatorNode> {
        self.nodes.iter().filter(|n| !n.byzantine)
    }

    /// A system call every honest validator's operator approves, co-signed by the validators
    /// (each reviews it and signs with its own key; see [`Chain::certify_with`]).
    pub fn certify(&mut self, call: SystemCall) -> Result<SignedTransaction, StoryError> {
        let chain_id = self.config.chain_id;
        for n in self.nodes.iter_mut().filter(|n| !n.byzantine) {
            n.approvals.approve(chain_id, &call);
        }
        let proposal =
            SystemProposal::new(chain_id, call).map_err(|e| StoryError::Cosign(Box::new(e)))?;
        let mut approvals = Approvals::new();
        approvals.approve(chain_id, proposal.call());
        self.certify_with(proposal, &mut approvals)
    }

    /// Proposes `proposal` from the first honest validator; every validator reviews it and
    /// signs with its own key. `policy` is each honest validator's review: the story has one
    /// tangle standing for every validator's copy, so its verdict (e.g. "my tangle holds this
    /// snapshot", [`itc_chain::cosign::ValidatorPolicy`]) is the same at each, and a validator
    /// that approves records it in its own approvals. Runs the network until the proposer
    /// holds the quorum's certificate.
    pub fn certify_with(
        &mut self,
        proposal: SystemProposal,
        policy: &mut dyn CosignPolicy,
    ) -> Result<SignedTransaction, StoryError> {
        let digest = proposal.digest();
        let chain_id = self.config.chain_id;
        if policy.review(&proposal).is_ok() {
            for n in self.nodes.iter_mut().filter(|n| !n.byzantine) {
                n.approvals.approve(chain_id, proposal.call());
            }
        }
        let proposer = self.observer;
        let ready = {
            let node = self
                .nodes
                .get_mut(proposer)
                .ok_or(StoryError::Unexpected("no proposer"))?;
            node.validator
                .propose_system(proposal, policy)
                .map_err(|e| StoryError::Validator(Box::new(e)))?;
            node.validator.take_ready()
        };
        self.finish(proposer, ready);
        let limit = self.now.saturating_add(10_000);
        let found = |c: &Chain| {
            c.certified.iter().any(|tx| match tx {
                SignedTransaction::System(s) => s.call.digest(chain_id) == digest,
                _ => false,
            })
        };
        if !self.run_until(limit, found) {
            return Err(StoryError::Unexpected(
                "the validators did not co-sign the call",
            ));
        }
        let position = self
            .certified
            .iter()
            .position(|tx| match tx {
                SignedTransaction::System(s) => s.call.digest(chain_id) == digest,
                _ => false,
            })
            .ok_or(StoryError::Unexpected("certificate vanished"))?;
        Ok(self.certified.remove(position))
    }

    /// Checks that every pair of honest validators committed the same header and reached the
    /// same ledger root at every height both have; returns the lowest height an honest
    /// validator of the set in force reached.
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
        // The height every honest validator of the set in force reached (a node outside the
        // set only follows, and may lag).
        let members = self.members();
        Ok(self
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| !n.byzantine && members.contains(i))
            .map(|(_, n)| n.validator.height())
            .min()
            .unwrap_or(0))
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
        for i in self.members() {
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
                self.stats.lies_believed += 1;
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

    /// Runs the network until the full node holds a block at `height` (at most `max_ms` of
    /// simulated time).
    pub fn wait_for_height(&mut self, height: u64, max_ms: u64) -> Result<(), StoryError> {
        let limit = self.now.saturating_add(max_ms);
        if self.run_until(limit, |c| c.tip_height() >= height) {
            Ok(())
        } else {
            Err(StoryError::NotCommitted { waited_ms: max_ms })
        }
    }

    /// Lets `ms` of simulated time pass (timers fire, messages arrive).
    pub fn advance(&mut self, ms: u64) {
        let end = self.now.saturating_add(ms);
        self.run_until(end, |_| false);
        self.now = self.now.max(end);
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
        assert_eq!(chain.stats().lies_believed, 0);
        assert!(chain.verified_evidence().contains(&0));
    }
}
