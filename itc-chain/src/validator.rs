//! [`Validator`]: one validator's whole decision logic — its PBFT [`Replica`], its ledger (in
//! a [`FullNode`]: execution, state roots, the validator-set hand-over, proofs) and its
//! [`CoSigner`] — behind one driver in the raft-rs `Ready` shape.
//!
//! The integrator feeds inputs (a peer's bytes, a client's transaction bytes, fetched blocks,
//! the clock) and, after each, takes one [`Ready`]:
//!
//! 1. **`writes`** — commit them to the store as **one** transaction with **one** fsync
//!    ([`Store::commit`](crate::Store::commit)). They protect the signatures in this step's
//!    messages (the safety record) and hold the blocks this step committed.
//! 2. only then **`messages`**, **`replies`**, **`fetches`**, `certified` — send them.
//! 3. `committed` and `evidence` — report, index, serve.
//! 4. sleep until [`Validator::poll_timeout`] (or the next input), then
//!    [`Validator::handle_timeout`].
//!
//! There are no timer actions to mirror: the validator keeps its deadlines and reports the
//! earliest, as quinn-proto does. No clock is read: every input carries `now_ms`.
//!
//! **The application seam.** A block PBFT commits executes in the ledger; the ledger's
//! decision (`BlockOutcome::next_validator_set`, from a committed `SetValidators`) goes back to
//! the replica in [`Executed`], so a `SetValidators` really rotates consensus by PBFT's one
//! rule (named by the next epoch-boundary header, in force after it), and the co-signer
//! follows the set in force.
//!
//! ```
//! use itc_chain::testkit::{set_of, validator_key, CHAIN_ID, GENESIS_MS};
//! use itc_chain::cosign::Approvals;
//! use itc_chain::{MemoryStore, Recipient, Store, Validator, ValidatorConfig};
//! use itc_crypto::{Address, Encode, SecretKey};
//! use itc_ledger::{builder::TxBuilder, GenesisState};
//!
//! let alice = SecretKey::from_bytes(&[1; 32]).unwrap();
//! let keys: Vec<SecretKey> = (0..4).map(validator_key).collect();
//! let genesis = GenesisState {
//!     chain_id: CHAIN_ID,
//!     validators: set_of(&keys),
//!     balances: vec![(Address::from_public_key(&alice.public_key()), 100)],
//!     vendors: vec![],
//! };
//! let mut nodes = Vec::new();
//! for key in &keys {
//!     let (v, ready) = Validator::new(ValidatorConfig::new(CHAIN_ID), key.clone(), &genesis, GENESIS_MS).unwrap();
//!     let mut store = MemoryStore::new();
//!     store.commit(ready.writes).unwrap();
//!     nodes.push((v, store));
//! }
//! // A client gossips its transaction to every validator.
//! let tx = TxBuilder::new(CHAIN_ID).transfer(&alice, 0, Address([2; 20]), 40).unwrap().encode_to_vec();
//! let mut inbox = Vec::new(); // (to, from, bytes): a network that delivers everything
//! let mut now = GENESIS_MS;
//! for (i, (v, _)) in nodes.iter_mut().enumerate() {
//!     v.submit_transaction(&tx, now).unwrap();
//!     inbox.push((i, usize::MAX, Vec::new())); // wake each node once
//! }
//! while !nodes.iter().all(|(v, _)| v.height() == 1) {
//!     now += 5;
//!     let mut next = Vec::new();
//!     for (i, (v, store)) in nodes.iter_mut().enumerate() {
//!         let mut ready = v.handle_timeout(now);
//!         for (_, from, bytes) in inbox.iter().filter(|m| m.0 == i && m.1 != usize::MAX) {
//!             ready.merge(v.handle_peer_bytes(keys[*from].public_key(), bytes, &mut Approvals::new(), now));
//!         }
//!         store.commit(std::mem::take(&mut ready.writes)).unwrap(); // one fsync, then send
//!         for out in ready.messages {
//!             let bytes = out.message.encode_to_vec();
//!             for (j, key) in keys.iter().enumerate() {
//!                 let to_j = match out.to {
//!                     Recipient::One(k) => k == key.public_key(),
//!                     Recipient::Validators => j != i,
//!                 };
//!                 if to_j {
//!                     next.push((j, i, bytes.clone()));
//!                 }
//!             }
//!         }
//!     }
//!     inbox = next;
//!     assert!(now < GENESIS_MS + 10_000);
//! }
//! let (v, _) = &nodes[3];
//! assert_eq!(v.node().ledger().account(&Address([2; 20])).balance, 40);
//! ```

use alloc::boxed::Box;
use alloc::vec::Vec;

use itc_crypto::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::quorum::ValidatorSet;
use itc_crypto::{Blame, Hash, PublicKey, Signer};
use itc_ledger::{GenesisState, Receipt, SignedTransaction};
use itc_pbft::epoch::Epoch;
use itc_pbft::{
    Action, CertifiedBlock, ChainGenesis, ChainTip, ClientId, Config as PbftConfig, Durable,
    Evidence, Executed, Message, PbftError, Replica, Request, SafetyRecord,
};

use crate::cosign::{
    CoSigner, CosignConfig, CosignError, CosignMessage, CosignPolicy, SystemProposal,
};
use crate::full_node::{BlockRejected, FullNode, FullNodeConfig, GenesisRejected, RestoreError};
use crate::store::{BlockStore, SafetyStore, SnapshotStore, StepWrites};

/// Most blocks one fetch request asks for; a longer gap is fetched in several requests.
pub const MAX_FETCH_BLOCKS: u64 = 32;

/// How a validator is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidatorConfig {
    /// The chain id (signatures of system transactions cover it).
    pub chain_id: u32,
    /// The replica's settings (its `checkpoint_interval` is the epoch length).
    pub pbft: PbftConfig,
    /// The full node's retention and snapshot settings.
    pub node: FullNodeConfig,
    /// Co-signing bounds.
    pub cosign: CosignConfig,
    /// Rewrite the whole safety record after this many appended facts (compaction: the log a
    /// restart folds stays short).
    pub max_safety_facts: usize,
    /// Every this many ms the validator asks one peer (in turn) for blocks past its tip, and
    /// at once after a restart. PBFT's own catch-up starts only when a message shows it is
    /// behind; on a quiet chain a validator back from a crash would otherwise wait for the next
    /// transaction. 0 disables it.
    pub sync_interval_ms: u64,
}

impl ValidatorConfig {
    /// PBFT defaults, a full node with the same checkpoint interval, default co-signing.
    pub fn new(chain_id: u32) -> Self {
        let pbft = PbftConfig::default();
        ValidatorConfig {
            chain_id,
            pbft,
            node: FullNodeConfig::new(pbft.checkpoint_interval),
            cosign: CosignConfig::default(),
            max_safety_facts: 256,
            sync_interval_ms: 1_000,
        }
    }

    /// The same with other replica settings (the full node follows their checkpoint interval).
    pub fn with_pbft(mut self, pbft: PbftConfig) -> Self {
        self.pbft = pbft;
        self.node.checkpoint_interval = pbft.checkpoint_interval;
        self
    }
}

/// What validators send each other (the payload of a node's consensus frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerMessage {
    /// A PBFT message.
    Consensus(Message),
    /// A co-signing message for a system transaction.
    Cosign(CosignMessage),
}

impl Encode for PeerMessage {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        match self {
            PeerMessage::Consensus(m) => {
                w.write(&[0]);
                m.encode(w);
            }
            PeerMessage::Cosign(m) => {
                w.write(&[1]);
                m.encode(w);
            }
        }
    }

    fn encoded_len(&self) -> usize {
        1 + match self {
            PeerMessage::Consensus(m) => m.encoded_len(),
            PeerMessage::Cosign(m) => m.encoded_len(),
        }
    }
}

impl Decode for PeerMessage {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.read_u8()? {
            0 => Ok(PeerMessage::Consensus(Message::decode(r)?)),
            1 => Ok(PeerMessage::Cosign(CosignMessage::decode(r)?)),
            tag => Err(DecodeError::UnknownVariant {
                type_name: "PeerMessage",
                tag: u64::from(tag),
            }),
        }
    }
}

/// Who a message goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient {
    /// One validator, by its key.
    One(PublicKey),
    /// Every other validator of the set in force ([`Validator::validators`]).
    Validators,
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    /// To whom.
    pub to: Recipient,
    /// What (encode it with [`Encode::encode_to_vec`]).
    pub message: PeerMessage,
}

/// Tell a client its request committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// The client, as given to [`Validator::submit_request`].
    pub client: ClientId,
    /// The client's request id.
    pub request_id: u64,
    /// Height of the block holding it.
    pub height: u64,
}

/// Ask `peer` for certified blocks `from..=to` (at most [`MAX_FETCH_BLOCKS`]) and feed each,
/// in order, to [`Validator::handle_fetched_block`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fetch {
    /// Who to ask.
    pub peer: PublicKey,
    /// First height.
    pub from: u64,
    /// Last height.
    pub to: u64,
}

/// A block this validator committed and executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// Its height.
    pub height: u64,
    /// Its header hash.
    pub header_hash: Hash,
    /// The state root after it.
    pub state_root: Hash,
    /// One receipt per transaction, in batch order (an empty block has none).
    pub receipts: Vec<Receipt>,
    /// The set that came into force after this block (an epoch boundary that rotated).
    pub rotated_to: Option<Hash>,
}

/// One step's output. Carry it out in field order: **`writes` durable first**, then send.
#[derive(Debug, Default)]
#[must_use = "a step's writes must be committed, then its messages sent"]
pub struct Ready {
    /// Commit as one transaction, fsync, before anything below leaves the process.
    pub writes: StepWrites,
    /// Messages to other validators.
    pub messages: Vec<Outbound>,
    /// Replies to clients.
    pub replies: Vec<Reply>,
    /// Block fetches to send.
    pub fetches: Vec<Fetch>,
    /// System transactions this validator collected a quorum of co-signatures for: submit
    /// them like any client transaction (gossip to every validator, this one included, with
    /// [`Validator::submit_transaction`]); nothing is queued for ordering by itself, so the
    /// integrator decides once whether and where it goes.
    pub certified: Vec<SignedTransaction>,
    /// Blocks committed in this step, in height order.
    pub committed: Vec<Committed>,
    /// Verifiable evidence of equivocation.
    pub evidence: Vec<Evidence>,
    /// Inputs of this step that were refused, with who is to blame (the one input of a
    /// `handle_*` call is reported through its `Result` as well).
    pub refused: Vec<ValidatorError>,
}

impl Ready {
    /// Whether the step produced nothing.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
            && self.messages.is_empty()
            && self.replies.is_empty()
            && self.fetches.is_empty()
            && self.certified.is_empty()
            && self.committed.is_empty()
            && self.evidence.is_empty()
            && self.refused.is_empty()
    }

    /// Appends a later step's output (allowed while nothing of either has left).
    pub fn merge(&mut self, later: Ready) {
        self.writes.merge(later.writes);
        self.messages.extend(later.messages);
        self.replies.extend(later.replies);
        self.fetches.extend(later.fetches);
        self.certified.extend(later.certified);
        self.committed.extend(later.committed);
        self.evidence.extend(later.evidence);
        self.refused.extend(later.refused);
    }
}

/// Why a validator refused an input, or could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidatorError {
    /// The bytes are not a canonical peer message or transaction.
    #[error("malformed input: {0}")]
    Malformed(#[from] DecodeError),
    /// A consensus message came from a key outside the validator set in force.
    #[error("consensus message from a non-validator")]
    NotAValidator,
    /// The replica refused the input.
    #[error("consensus: {0}")]
    Pbft(#[from] PbftError),
    /// The co-signer refused the input (boxed: the error names digests and keys).
    #[error("co-signing: {0}")]
    Cosign(Box<CosignError>),
    /// A block PBFT committed did not execute or verify in the full node: this validator's
    /// ledger and its replica disagree (a local fault: stop and investigate).
    #[error("committed block refused by the full node: {0}")]
    Block(Box<BlockRejected>),
    /// The genesis state is invalid.
    #[error("genesis: {0}")]
    Genesis(Box<GenesisRejected>),
    /// The store does not hold a consistent chain (named part missing or corrupt).
    #[error("restore: {0}")]
    Restore(&'static str),
    /// The stored safety record does not decode.
    #[error("stored safety record: {0}")]
    SafetyRecord(DecodeError),
}

impl From<CosignError> for ValidatorError {
    fn from(e: CosignError) -> Self {
        ValidatorError::Cosign(Box::new(e))
    }
}

impl From<BlockRejected> for ValidatorError {
    fn from(e: BlockRejected) -> Self {
        ValidatorError::Block(Box::new(e))
    }
}

impl From<GenesisRejected> for ValidatorError {
    fn from(e: GenesisRejected) -> Self {
        ValidatorError::Genesis(Box::new(e))
    }
}

impl ValidatorError {
    /// Who must act (see [`Blame`]).
    pub fn blame(&self) -> Blame {
        match self {
            ValidatorError::Malformed(_) | ValidatorError::NotAValidator => Blame::Peer,
            ValidatorError::Pbft(e) => e.blame(),
            ValidatorError::Cosign(e) => e.blame(),
            ValidatorError::Block(_)
            | ValidatorError::Genesis(_)
            | ValidatorError::Restore(_)
            | ValidatorError::SafetyRecord(_) => Blame::Local,
        }
    }
}

/// One validator. See the [module docs](self).
pub struct Validator<S: Signer + Clone> {
    config: ValidatorConfig,
    replica: Replica<S>,
    node: FullNode,
    cosigner: CoSigner<S>,
    /// Safety facts appended since the last whole record.
    safety_facts: usize,
    /// The latest time any input carried.
    now_ms: u64,
    /// When the next sync probe is due, and how many were sent (picks the peer).
    next_sync_ms: u64,
    sync_probes: usize,
    ready: Ready,
}

/// The request id of a transaction submitted with [`Validator::submit_transaction`]: each
/// transaction is its own client (its id's first 8 bytes), so PBFT's per-client ordering rule
/// never delays one sender's transaction behind another's, and a transaction resubmitted after
/// it committed is refused as a duplicate while the replica remembers it (the ledger's nonces
/// make execution exactly-once in any case).
const TX_REQUEST_ID: u64 = 1;

impl<S: Signer + Clone> Validator<S> {
    /// A validator at genesis. The returned writes initialise its store.
    pub fn new(
        config: ValidatorConfig,
        signer: S,
        genesis: &GenesisState,
        genesis_time_ms: u64,
    ) -> Result<(Self, Ready), ValidatorError> {
        let (node, writes) = FullNode::new(config.node, genesis, genesis_time_ms)?;
        let pbft_genesis = ChainGenesis {
            validators: genesis.validators.clone(),
            state_root: node.ledger().root(),
            timestamp_ms: genesis_time_ms,
        };
        let replica = Replica::new(config.pbft, signer.clone(), &pbft_genesis)?;
        let cosigner = CoSigner::new(
            config.chain_id,
            signer,
            genesis.validators.clone(),
            config.cosign,
        );
        let first_sync = genesis_time_ms.saturating_add(config.sync_interval_ms);
        let mut v =
            Validator::assemble(config, replica, node, cosigner, genesis_time_ms, first_sync);
        v.ready.writes = writes;
        v.ready
            .writes
            .replace_safety_record(SafetyRecord::default().encode_to_vec());
        v.pump()?;
        let ready = core::mem::take(&mut v.ready);
        Ok((v, ready))
    }

    /// A validator restarted from its store: the full node resumes at the store's tip (same
    /// state root), the replica from its safety record, with the epochs it needs for a view
    /// change at once and the set change its ledger decided but no header named yet. It never
    /// signs anything contradicting what it signed before the crash.
    pub fn restore<St>(
        config: ValidatorConfig,
        signer: S,
        genesis: &GenesisState,
        store: &St,
        now_ms: u64,
    ) -> Result<Self, ValidatorError>
    where
        St: BlockStore + SnapshotStore + SafetyStore,
    {
        let node = FullNode::restore(config.node, genesis, store).map_err(|e| match e {
            RestoreError::Store(_) => ValidatorError::Restore("the store failed to read"),
            _ => ValidatorError::Restore("the stored chain does not replay"),
        })?;
        let log = store
            .safety()
            .map_err(|_| ValidatorError::Restore("the store failed to read"))?;
        let mut record = match &log.record {
            Some(bytes) => {
                SafetyRecord::decode_bytes(bytes).map_err(ValidatorError::SafetyRecord)?
            }
            None => SafetyRecord::default(),
        };
        for fact in &log.facts {
            record.apply(&Durable::decode_bytes(fact).map_err(ValidatorError::SafetyRecord)?);
        }
        let tip = *node.tip();
        let in_force = node.handover().in_force().clone();
        let low = record.stable().map_or(0, |c| c.height).min(tip.height);
        // The sets that certified heights [low, tip], from the headers themselves (the one of
        // `low` certified the stable checkpoint a view change carries), the first with its
        // true start: a peer's view change may carry an older checkpoint of the same epoch
        // (even none, height 0), and a replica whose history began at `low` refused it as
        // "another epoch", and with it every new view that counted it (found by itc-node's
        // crash test: a restarted validator could not enter the new view).
        let read = |height: u64| {
            store
                .header(height)
                .map_err(|_| ValidatorError::Restore("the store failed to read"))?
                .ok_or(ValidatorError::Restore("a block below the tip is missing"))
        };
        let first_start = if tip.height == 0 {
            1
        } else {
            // Sets change only after an epoch boundary (a multiple of k): walk down window by
            // window while the window before names the same set.
            let k = config.pbft.checkpoint_interval.max(1);
            let from = low.max(1);
            let hash = read(from)?.validator_set_hash;
            let mut start = (from - 1) / k * k + 1;
            while start > k && read(start - k)?.validator_set_hash == hash {
                start -= k;
            }
            start
        };
        let mut epochs: Vec<Epoch> = Vec::new();
        for height in low.max(1)..=tip.height {
            let hash = read(height)?.validator_set_hash;
            if epochs.last().is_some_and(|e| e.hash == hash) {
                continue;
            }
            let set = store
                .validator_set(&hash)
                .map_err(|_| ValidatorError::Restore("the store failed to read"))?
                .ok_or(ValidatorError::Restore("a validator set is missing"))?;
            epochs.push(Epoch {
                start: if epochs.is_empty() {
                    first_start.min(height)
                } else {
                    height
                },
                set,
                hash,
            });
        }
        let scheduled = node.handover().scheduled().cloned().map(Box::new);
        let chain_tip = ChainTip {
            header: tip,
            state_root: node.ledger().root(),
            validators: in_force.clone(),
            epochs,
            scheduled,
        };
        let replica = Replica::restore(config.pbft, signer.clone(), record, chain_tip)?;
        let cosigner = CoSigner::new(config.chain_id, signer, in_force, config.cosign);
        // Back from a crash: ask a peer for what was missed at once.
        let mut v = Validator::assemble(config, replica, node, cosigner, now_ms, now_ms);
        v.safety_facts = log.facts.len();
        v.pump()?;
        Ok(v)
    }

    fn assemble(
        config: ValidatorConfig,
        replica: Replica<S>,
        node: FullNode,
        cosigner: CoSigner<S>,
        now_ms: u64,
        next_sync_ms: u64,
    ) -> Self {
        Validator {
            config,
            replica,
            node,
            cosigner,
            safety_facts: 0,
            now_ms,
            next_sync_ms,
            sync_probes: 0,
            ready: Ready::default(),
        }
    }

    // ------------------------------------------------------------------ accessors

    /// The configuration.
    pub fn config(&self) -> &ValidatorConfig {
        &self.config
    }

    /// This validator's key.
    pub fn public_key(&self) -> PublicKey {
        self.replica.public_key()
    }

    /// The last executed height.
    pub fn height(&self) -> u64 {
        self.node.tip().height
    }

    /// The replica's current view.
    pub fn view(&self) -> u64 {
        self.replica.view()
    }

    /// The set that certifies the next height.
    pub fn validators(&self) -> &ValidatorSet {
        self.node.handover().in_force()
    }

    /// The replica (read only).
    pub fn replica(&self) -> &Replica<S> {
        &self.replica
    }

    /// The full node: ledger, tip, hand-over, proofs ([`FullNode::answer`]).
    pub fn node(&self) -> &FullNode {
        &self.node
    }

    /// The co-signer (read only).
    pub fn cosigner(&self) -> &CoSigner<S> {
        &self.cosigner
    }

    /// The earliest deadline at which [`Validator::handle_timeout`] has work, if any.
    pub fn poll_timeout(&self) -> Option<u64> {
        let sync = (self.config.sync_interval_ms > 0).then_some(self.next_sync_ms);
        self.replica.poll_timeout().into_iter().chain(sync).min()
    }

    // ------------------------------------------------------------------ inputs

    /// Takes what the inputs since the last call produced.
    pub fn take_ready(&mut self) -> Ready {
        core::mem::take(&mut self.ready)
    }

    /// The clock reached `now_ms`: fires every deadline due. Returns the step's output.
    pub fn handle_timeout(&mut self, now_ms: u64) -> Ready {
        self.now_ms = self.now_ms.max(now_ms);
        let due = self
            .replica
            .poll_timeout()
            .is_some_and(|d| d <= self.now_ms);
        if due {
            let now = self.now_ms;
            if let Err(e) = self
                .replica
                .handle_timeout(now)
                .map_err(ValidatorError::from)
            {
                self.ready.refused.push(e);
            }
            self.pump_or_refuse();
        }
        if self.config.sync_interval_ms > 0 && self.next_sync_ms <= self.now_ms {
            self.next_sync_ms = self.now_ms.saturating_add(self.config.sync_interval_ms);
            self.sync_probe();
        }
        self.take_ready()
    }

    /// Asks the next other validator of the set in force for blocks past the tip.
    fn sync_probe(&mut self) {
        let me = self.public_key();
        let others: Vec<PublicKey> = self
            .validators()
            .validators()
            .iter()
            .map(|v| v.key)
            .filter(|k| *k != me)
            .collect();
        let Some(peer) = others.get(self.sync_probes % others.len().max(1)).copied() else {
            return;
        };
        self.sync_probes = self.sync_probes.wrapping_add(1);
        let from = self.height().saturating_add(1);
        self.ready.fetches.push(Fetch {
            peer,
            from,
            to: from.saturating_add(MAX_FETCH_BLOCKS - 1),
        });
    }

    /// Bytes from validator `from` (authenticated by the transport: the node binds its peer
    /// identities to validator keys). Co-signing proposals are reviewed with the operator's
    /// `policy` (e.g. [`ValidatorPolicy`](crate::cosign::ValidatorPolicy): approvals for
    /// `SetValidators` / `RegisterVendor`, the own tangle for `AnchorDag`, the own settlement
    /// for `SettlePlan`). Returns the step's output; a refusal is in [`Ready::refused`].
    pub fn handle_peer_bytes<P: CosignPolicy + ?Sized>(
        &mut self,
        from: PublicKey,
        bytes: &[u8],
        policy: &mut P,
        now_ms: u64,
    ) -> Ready {
        let result = PeerMessage::decode_bytes(bytes)
            .map_err(ValidatorError::from)
            .and_then(|m| self.handle_peer_message(from, m, policy, now_ms));
        if let Err(e) = result {
            self.ready.refused.push(e);
        }
        self.take_ready()
    }

    /// A decoded message from validator `from` (see [`Validator::handle_peer_bytes`]). The
    /// output accumulates until [`Validator::take_ready`].
    pub fn handle_peer_message<P: CosignPolicy + ?Sized>(
        &mut self,
        from: PublicKey,
        message: PeerMessage,
        policy: &mut P,
        now_ms: u64,
    ) -> Result<(), ValidatorError> {
        self.now_ms = self.now_ms.max(now_ms);
        // A key of the set in force, or of the replica's active set (they differ for the
        // moment between a boundary's commit and its execution).
        if self.validators().index_of(&from).is_none()
            && self
                .replica
                .validators()
                .and_then(|s| s.index_of(&from))
                .is_none()
        {
            return Err(ValidatorError::NotAValidator);
        }
        let result = match message {
            PeerMessage::Consensus(m) => self
                .replica
                .handle_message(m, self.now_ms)
                .map_err(ValidatorError::from),
            PeerMessage::Cosign(m) => self.cosign(m, policy),
        };
        self.pump_or_refuse();
        result
    }

    /// Proposes a system transaction to the other validators, signed with this validator's key
    /// after its own `policy` approved it.
    pub fn propose_system<P: CosignPolicy + ?Sized>(
        &mut self,
        proposal: SystemProposal,
        policy: &mut P,
    ) -> Result<(), ValidatorError> {
        let message = self.cosigner.propose(proposal, policy)?;
        self.ready.messages.push(Outbound {
            to: Recipient::Validators,
            message: PeerMessage::Cosign(message),
        });
        Ok(())
    }

    fn cosign<P: CosignPolicy + ?Sized>(
        &mut self,
        message: CosignMessage,
        policy: &mut P,
    ) -> Result<(), ValidatorError> {
        let out = self.cosigner.handle(message, policy)?;
        if let Some(share) = out.broadcast {
            self.ready.messages.push(Outbound {
                to: Recipient::Validators,
                message: PeerMessage::Cosign(share),
            });
        }
        if let Some(tx) = out.certified {
            self.ready.certified.push(tx);
        }
        Ok(())
    }

    /// A client's encoded ledger transaction: decoded (bounded, typed error), then queued for
    /// ordering. Every validator should receive it (gossip), so a faulty primary cannot
    /// silence it: the backups' request timers force a view change.
    pub fn submit_transaction(
        &mut self,
        bytes: &[u8],
        now_ms: u64,
    ) -> Result<Hash, ValidatorError> {
        self.now_ms = self.now_ms.max(now_ms);
        let tx = SignedTransaction::decode_bytes(bytes)?;
        let id = tx.id();
        let mut client = [0u8; 8];
        client.copy_from_slice(&id.0[..8]);
        let request = Request::new(
            ClientId(u64::from_be_bytes(client)),
            TX_REQUEST_ID,
            tx.encode_to_vec(),
        );
        let result = self.replica.handle_request(request, self.now_ms);
        self.pump_or_refuse();
        result?;
        Ok(id)
    }

    /// A request from a client that numbers its own requests (PBFT's client protocol: ids
    /// increase per client; replies come back in [`Ready::replies`]).
    pub fn submit_request(&mut self, request: Request, now_ms: u64) -> Result<(), ValidatorError> {
        self.now_ms = self.now_ms.max(now_ms);
        let result = self.replica.handle_request(request, self.now_ms);
        self.pump_or_refuse();
        Ok(result?)
    }

    /// A block a peer sent in answer to a [`Fetch`], in height order.
    pub fn handle_fetched_block(
        &mut self,
        block: CertifiedBlock,
        now_ms: u64,
    ) -> Result<(), ValidatorError> {
        self.now_ms = self.now_ms.max(now_ms);
        let result = self.replica.handle_fetched_block(block, self.now_ms);
        self.pump_or_refuse();
        Ok(result?)
    }

    /// Serves a peer's [`Fetch`] from `store`: the stored blocks `from..=to` (at most
    /// [`MAX_FETCH_BLOCKS`]), stopping at the first missing one.
    pub fn serve_fetch<B: BlockStore>(
        store: &B,
        from: u64,
        to: u64,
    ) -> Result<Vec<CertifiedBlock>, B::Error> {
        let last = to.min(from.saturating_add(MAX_FETCH_BLOCKS - 1));
        let mut blocks = Vec::new();
        for height in from.max(1)..=last {
            match store.block(height)? {
                Some(b) => blocks.push(b),
                None => break,
            }
        }
        Ok(blocks)
    }

    // ------------------------------------------------------------------ the loop

    fn pump_or_refuse(&mut self) {
        if let Err(e) = self.pump() {
            self.ready.refused.push(e);
        }
    }

    /// Carries out the replica's actions until it has none: the one driver loop.
    fn pump(&mut self) -> Result<(), ValidatorError> {
        loop {
            let actions = self.replica.take_actions();
            if actions.is_empty() {
                return Ok(());
            }
            for action in actions {
                self.carry_out(action)?;
            }
        }
    }

    fn carry_out(&mut self, action: Action) -> Result<(), ValidatorError> {
        match action {
            Action::Persist(fact) => {
                self.safety_facts += 1;
                if self.safety_facts > self.config.max_safety_facts {
                    // The replica's record already holds this fact.
                    self.ready
                        .writes
                        .replace_safety_record(self.replica.safety_record().encode_to_vec());
                    self.safety_facts = 0;
                } else {
                    self.ready.writes.push_safety_fact(fact.encode_to_vec());
                }
            }
            Action::Send { to, message } => self.ready.messages.push(Outbound {
                to: Recipient::One(to),
                message: PeerMessage::Consensus(message),
            }),
            Action::Broadcast(message) => self.ready.messages.push(Outbound {
                to: Recipient::Validators,
                message: PeerMessage::Consensus(message),
            }),
            Action::Commit(block) => self.execute(block)?,
            Action::Reply {
                client,
                request_id,
                height,
            } => self.ready.replies.push(Reply {
                client,
                request_id,
                height,
            }),
            Action::Evidence(e) => self.ready.evidence.push(e),
            Action::Fetch { peer, from, to } => {
                let to = to.min(from.saturating_add(MAX_FETCH_BLOCKS - 1));
                self.ready.fetches.push(Fetch { peer, from, to });
            }
        }
        Ok(())
    }

    /// The application seam: execute in the ledger (through the full node, which checks the
    /// certificate, the state root chain and the hand-over), report back to the replica with the
    /// ledger's set decision, and follow a rotation in the co-signer.
    fn execute(&mut self, block: CertifiedBlock) -> Result<(), ValidatorError> {
        let before = self.node.handover().in_force_hash();
        let accepted = self.node.handle_block(block)?;
        let after = self.node.handover().in_force_hash();
        let outcome = accepted.outcome;
        let height = accepted.height;
        self.ready.writes.merge(accepted.writes);
        self.replica.handle_executed(Executed {
            height,
            state_root: outcome.state_root,
            next_validator_set: outcome.next_validator_set,
        })?;
        let rotated_to = (after != before).then_some(after);
        if rotated_to.is_some() {
            self.cosigner
                .set_validators(self.node.handover().in_force().clone());
        }
        self.ready.committed.push(Committed {
            height,
            header_hash: accepted.header_hash,
            state_root: outcome.state_root,
            receipts: outcome.receipts,
            rotated_to,
        });
        Ok(())
    }
}
