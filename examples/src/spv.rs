//! A light client as a device or a phone runs it: an `itc-spv` [`LightClient`] that talks to
//! a full node's [`Server`] (here directly, bytes counted as if they went over a link) and
//! measures what verification costs.
//!
//! ```
//! use itc_examples::chain::{Chain, ChainConfig};
//! use itc_examples::spv::PhoneSpv;
//! use itc_crypto::{Address, SecretKey};
//! use itc_ledger::StateKey;
//!
//! let alice = SecretKey::from_bytes(&[1; 32]).unwrap();
//! let addr = Address::from_public_key(&alice.public_key());
//! let mut chain = Chain::new(ChainConfig::new(3), vec![(addr, 100)]).unwrap();
//! let tx = chain.builder().transfer(&alice, 0, addr, 1).unwrap();
//! chain.execute(1, &tx).unwrap();
//! chain.execute(1, &chain.builder().transfer(&alice, 1, addr, 1).unwrap()).unwrap();
//!
//! let mut phone = PhoneSpv::for_chain(&chain).unwrap();
//! phone.sync(chain.server(), chain.now()).unwrap();
//! let proven = phone.prove_state(chain.server(), StateKey::Account(addr), chain.now()).unwrap();
//! assert!(proven.value.is_some());
//! ```

use std::time::Instant;

use itc_crypto::{Encode, Hash};
use itc_device_sdk::VerifiedState;
use itc_ledger::{StateKey, StateProof};
use itc_spv::{Config, Event, LightClient, Request, Response, TrustAnchor};

use crate::chain::{Chain, Server};
use crate::error::StoryError;

/// Largest validator set a device or phone can follow.
pub const MAX_SET: usize = 8;

/// Recent headers a phone keeps (a lamp keeps what `itc-device-sdk` embeds: 2).
pub const PHONE_HEADERS: usize = 16;

/// The light client a lamp embeds: `itc-device-sdk`'s, as in firmware.
pub type LampSpv = SpvNode<{ itc_device_sdk::light_client::RECENT_HEADERS }>;

/// A phone's light client: more recent headers, so older blocks stay provable directly.
pub type PhoneSpv = SpvNode<PHONE_HEADERS>;

/// What the client exchanged and how long verification took.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpvStats {
    /// Requests sent.
    pub requests: u64,
    /// Bytes of requests.
    pub bytes_up: u64,
    /// Bytes of responses.
    pub bytes_down: u64,
    /// Headers verified with their certificate (sequentially or by skipping).
    pub headers_verified: u64,
    /// Headers accumulated by back-fill (hash-linked, no signatures).
    pub headers_backfilled: u64,
    /// Wall-clock µs spent verifying certified headers, one entry per header.
    pub header_verify_us: Vec<u64>,
}

/// A state entry proven under a verified header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenState {
    /// The header it was proven against (what a device-sdk `Device` accepts).
    pub state: VerifiedState,
    /// The record's encoding (`None`: proven absent).
    pub value: Option<Vec<u8>>,
    /// The proof, to hand on to the device's command gate.
    pub proof: StateProof,
    /// Encoded response size.
    pub response_bytes: usize,
    /// Wall-clock µs to verify it.
    pub verify_us: u64,
}

/// An inclusion proven under a verified header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProvenInclusion {
    /// Block that holds it (for DAG transactions: the block that anchored it).
    pub height: u64,
    /// Verified headers above it.
    pub confirmations: u64,
    /// Encoded response size.
    pub response_bytes: usize,
    /// Wall-clock µs to verify it.
    pub verify_us: u64,
}

/// A light client keeping `K` recent headers, and its counters.
#[derive(Debug, Clone)]
pub struct SpvNode<const K: usize> {
    client: Box<LightClient<K, MAX_SET>>,
    /// Counters.
    pub stats: SpvStats,
}

fn micros(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

impl<const K: usize> SpvNode<K> {
    /// A client anchored at genesis, as shipped in firmware, built at time `now_ms`.
    pub fn new(
        anchor: TrustAnchor<MAX_SET>,
        epoch_length: u64,
        now_ms: u64,
    ) -> Result<Self, StoryError> {
        Ok(SpvNode {
            client: Box::new(
                LightClient::new(anchor, Config::new(epoch_length), now_ms)
                    .map_err(StoryError::Spv)?,
            ),
            stats: SpvStats::default(),
        })
    }

    /// A client for `chain`, anchored at its genesis header and validator set.
    pub fn for_chain(chain: &Chain) -> Result<Self, StoryError> {
        let set = chain
            .validator_set()
            .with_capacity::<MAX_SET>()
            .map_err(StoryError::Quorum)?;
        Self::new(
            TrustAnchor::genesis(chain.genesis_header(), set),
            chain.config().pbft.checkpoint_interval,
            chain.now(),
        )
    }

    /// The light client.
    pub fn client(&self) -> &LightClient<K, MAX_SET> {
        &self.client
    }

    /// Height of the newest verified header.
    pub fn tip_height(&self) -> u64 {
        self.client.tip().height()
    }

    /// The newest verified header as a device-sdk [`VerifiedState`].
    pub fn verified_state(&self) -> VerifiedState {
        VerifiedState::from(self.client.tip())
    }

    fn exchange(&mut self, server: &Server, request: &Request) -> Response<MAX_SET> {
        let response = server.answer::<MAX_SET>(request);
        self.stats.requests += 1;
        self.stats.bytes_up += request.encoded_len() as u64;
        self.stats.bytes_down += response.encoded_len() as u64;
        response
    }

    /// Follows the full node to its tip; returns how many headers were verified.
    pub fn sync(&mut self, server: &Server, now_ms: u64) -> Result<u64, StoryError> {
        let before = self.stats.headers_verified;
        self.client.sync_to(server.tip().height);
        for _ in 0..10_000 {
            let Some(request) = self.client.poll_request() else {
                return Ok(self.stats.headers_verified - before);
            };
            let response = self.exchange(server, &request);
            let started = Instant::now();
            let event = self.client.handle_response(&response, now_ms);
            let us = micros(started);
            match event.map_err(StoryError::Spv)? {
                Event::HeaderVerified(_) => {
                    self.stats.headers_verified += 1;
                    self.stats.header_verify_us.push(us);
                }
                Event::Backfilled { .. } => {
                    if let Response::Headers(h) = &response {
                        self.stats.headers_backfilled += h.len() as u64;
                    }
                }
                Event::Unavailable(_) => {
                    return Err(StoryError::Unexpected(
                        "full node could not answer a sync request",
                    ))
                }
                _ => {}
            }
        }
        Err(StoryError::SyncStuck)
    }

    /// Proves `key` under the newest verified header.
    pub fn prove_state(
        &mut self,
        server: &Server,
        key: StateKey,
        now_ms: u64,
    ) -> Result<ProvenState, StoryError> {
        self.prove_state_then(server, key, now_ms, |_| ())
            .map(|(proven, ())| proven)
    }

    /// [`SpvNode::prove_state`], handing the verified entry to `use_entry` (a device installs
    /// it with `Device::install_ownership`: proven once, here, never again).
    pub fn prove_state_then<T>(
        &mut self,
        server: &Server,
        key: StateKey,
        now_ms: u64,
        use_entry: impl FnOnce(&itc_spv::VerifiedEntry<'_>) -> T,
    ) -> Result<(ProvenState, T), StoryError> {
        let height = self.tip_height();
        let request = Request::StateProof { height, key };
        let response = self.exchange(server, &request);
        let response_bytes = response.encoded_len();
        let started = Instant::now();
        let (value, used) = match self
            .client
            .handle_response(&response, now_ms)
            .map_err(StoryError::Spv)?
        {
            Event::State(entry) => (entry.value().map(<[u8]>::to_vec), use_entry(&entry)),
            _ => {
                return Err(StoryError::Unexpected(
                    "state proof answered with something else",
                ))
            }
        };
        let verify_us = micros(started);
        let Response::StateProof { proof, .. } = response else {
            return Err(StoryError::Unexpected(
                "state proof answered with something else",
            ));
        };
        Ok((
            ProvenState {
                state: self.verified_state(),
                value,
                proof,
                response_bytes,
                verify_us,
            },
            used,
        ))
    }

    /// Proves that the request with batch leaf `leaf` is in block `height`.
    pub fn prove_transaction(
        &mut self,
        server: &Server,
        height: u64,
        leaf: Hash,
        now_ms: u64,
    ) -> Result<ProvenInclusion, StoryError> {
        let request = Request::TransactionProof { height, leaf };
        let response = self.exchange(server, &request);
        let response_bytes = response.encoded_len();
        let started = Instant::now();
        match self
            .client
            .handle_response(&response, now_ms)
            .map_err(StoryError::Spv)?
        {
            Event::Transaction { confirmations, .. } => Ok(ProvenInclusion {
                height,
                confirmations,
                response_bytes,
                verify_us: micros(started),
            }),
            _ => Err(StoryError::Unexpected(
                "transaction proof answered with something else",
            )),
        }
    }

    /// Proves that DAG transaction `tx` was finalised by anchor `anchor`, under the newest
    /// verified header's state root.
    pub fn prove_dag_transaction(
        &mut self,
        server: &Server,
        anchor: u64,
        tx: Hash,
        now_ms: u64,
    ) -> Result<ProvenInclusion, StoryError> {
        let request = Request::DagTransactionProof {
            height: self.tip_height(),
            anchor,
            tx,
        };
        let response = self.exchange(server, &request);
        let response_bytes = response.encoded_len();
        let started = Instant::now();
        match self
            .client
            .handle_response(&response, now_ms)
            .map_err(StoryError::Spv)?
        {
            Event::DagTransaction {
                transaction,
                confirmations,
            } => Ok(ProvenInclusion {
                height: transaction.height(),
                confirmations,
                response_bytes,
                verify_us: micros(started),
            }),
            _ => Err(StoryError::Unexpected(
                "DAG proof answered with something else",
            )),
        }
    }
}
