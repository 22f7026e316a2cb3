//! The smart-light story, one module per phase:
//!
//! 1. `purchase` — four validators (one possibly Byzantine) start the main chain; validators
//!    admit a vendor; the vendor registers a lamp; a user buys it.
//! 2. `purchase` — the lamp syncs headers from its genesis anchor and proves its owner; the
//!    user's phone proves the purchase landed.
//! 3. `commands` — owner commands are obeyed; a stranger, a replay, a tampered command and a
//!    revoked guest are refused, each with its reason.
//! 4. `telemetry` — lamps and sensors post telemetry to the tangle with PoW at their security
//!    level; the main chain anchors a snapshot; a light client proves a reading's inclusion.
//! 5. `analytics` — a vendor's privacy-preserving plans run on the lamps (`cohort`); only
//!    the noised aggregates are released; the payouts settle on the ledger and add up to the
//!    budget (`settlement`).
//! 6. `firmware` — a signed update is published and installed; a tampered image is refused.
//! 7. `summary` — measured figures and the final checks.
//!
//! ```no_run
//! use itc_examples::args::Options;
//! use itc_examples::report::Output;
//! use itc_examples::story::Story;
//! let mut story = Story::new(Options::default(), Output::Stdout).unwrap();
//! let passed = story.run();
//! assert!(passed);
//! ```

mod analytics;
mod cohort;
mod commands;
mod firmware;
mod purchase;
mod settlement;
mod summary;
mod telemetry;
mod validators;

use std::fmt::Debug;
use std::time::Instant;

use itc_crypto::{Address, PublicKey, SecretKey};
use itc_ledger::{SignedTransaction, VendorId};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::args::Options;
use crate::chain::{Chain, ChainConfig, Ticket, TxOutcome};
use crate::error::StoryError;
use crate::lamp::{Lamp, Phone};
use crate::report::{Output, Report};
use crate::spv::PhoneSpv;

/// The vendor's id on chain.
pub const VENDOR: VendorId = VendorId(1);
/// The lamp's model (and firmware product) number.
pub const LAMP_MODEL: u32 = 0x4c41_4d50;
/// What the lamp costs, in ITC base units.
pub const LAMP_PRICE: u64 = 250;

/// Client ids: one PBFT client per actor, each with its own request sequence.
pub(crate) mod client {
    /// The validators' operations desk (system transactions).
    pub const VALIDATORS: u64 = 1;
    /// The vendor.
    pub const VENDOR: u64 = 2;
    /// Alice, the lamp's buyer.
    pub const ALICE: u64 = 3;
    /// Mallory, a stranger.
    pub const MALLORY: u64 = 5;
    /// The gateway that runs the tangle node and anchors it.
    pub const GATEWAY: u64 = 6;
}

/// Everyone's keys, derived from the seed.
pub struct Cast {
    /// The vendor's registry key (factory line; signs registrations and plan funding).
    pub vendor: SecretKey,
    /// The vendor's firmware key (offline HSM).
    pub firmware: SecretKey,
    /// Alice.
    pub alice: SecretKey,
    /// Bob.
    pub bob: SecretKey,
    /// Mallory.
    pub mallory: SecretKey,
    /// The gateway.
    pub gateway: SecretKey,
}

impl Cast {
    fn new(rng: &mut ChaCha20Rng) -> Self {
        Cast {
            vendor: SecretKey::generate(rng),
            firmware: SecretKey::generate(rng),
            alice: SecretKey::generate(rng),
            bob: SecretKey::generate(rng),
            mallory: SecretKey::generate(rng),
            gateway: SecretKey::generate(rng),
        }
    }
}

/// The address of a key.
pub fn addr(k: &SecretKey) -> Address {
    Address::from_public_key(&k.public_key())
}

/// The variant name of an error (`NotOwner(..)` → `NotOwner`): the reason printed.
pub fn reason<E: Debug>(e: &E) -> String {
    let s = format!("{e:?}");
    let end = s.find(['(', ' ', '{']).unwrap_or(s.len());
    s.get(..end).unwrap_or(&s).to_string()
}

/// Short hex of a key or hash for the narrative.
pub fn short(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        + "…"
}

/// The story's state, carried from phase to phase.
pub struct Story {
    /// The options it runs with.
    pub opts: Options,
    /// Narrative, expectations, figures.
    pub report: Report,
    pub(crate) chain: Chain,
    pub(crate) cast: Cast,
    pub(crate) rng: ChaCha20Rng,
    pub(crate) lamp: Lamp,
    pub(crate) alice_phone: Phone,
    pub(crate) alice_spv: PhoneSpv,
    pub(crate) purchase: Option<(Ticket, TxOutcome)>,
    pub(crate) telemetry: Option<telemetry::Tangled>,
    pub(crate) phase_ms: Vec<(String, u64)>,
}

impl Story {
    /// Sets the stage: keys, genesis balances, the chain, the lamp and Alice's phone.
    pub fn new(opts: Options, output: Output) -> Result<Self, StoryError> {
        let mut rng = ChaCha20Rng::seed_from_u64(opts.seed);
        let cast = Cast::new(&mut rng);
        let balances = vec![
            (addr(&cast.vendor), 1_000_000),
            (addr(&cast.alice), 5_000),
            (addr(&cast.bob), 1_000),
            (addr(&cast.mallory), 1_000),
            (addr(&cast.gateway), 10_000),
        ];
        let mut config = ChainConfig::new(opts.seed);
        config.byzantine = opts.byzantine;
        config.net = opts.net;
        let chain = Chain::new(config, balances)?;
        let lamp = Lamp::new(SecretKey::generate(&mut rng), &chain)?;
        let alice_spv = PhoneSpv::for_chain(&chain)?;
        let alice_phone = Phone::new(cast.alice.clone());
        Ok(Story {
            report: Report::new(output),
            opts,
            chain,
            cast,
            rng,
            lamp,
            alice_phone,
            alice_spv,
            purchase: None,
            telemetry: None,
            phase_ms: Vec::new(),
        })
    }

    /// Runs every phase; returns true if every expectation held. A phase that cannot go on
    /// records a failed expectation with its error and the story stops there.
    pub fn run(&mut self) -> bool {
        type Phase = fn(&mut Story) -> Result<(), StoryError>;
        let phases: [(&str, Phase); 8] = [
            ("purchase", Story::phase_purchase),
            ("lamp sync", Story::phase_lamp_sync),
            ("commands", Story::phase_commands),
            ("validators", Story::phase_validators),
            ("telemetry", Story::phase_telemetry),
            ("analytics", Story::phase_analytics),
            ("firmware", Story::phase_firmware),
            ("summary", Story::phase_summary),
        ];
        for (name, phase) in phases {
            let started = Instant::now();
            let result = phase(self);
            self.phase_ms
                .push((name.to_string(), started.elapsed().as_millis() as u64));
            if let Err(e) = result {
                self.report.expect(
                    format!("phase '{name}' runs to the end"),
                    false,
                    e.to_string(),
                );
                return false;
            }
        }
        self.report.all_passed()
    }

    /// The chain (for tests and tools).
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// Wall-clock milliseconds of each phase that ran.
    pub fn phase_times(&self) -> &[(String, u64)] {
        &self.phase_ms
    }

    /// Submits `tx` from `client` and waits until it committed.
    pub(crate) fn commit(
        &mut self,
        client: u64,
        tx: &SignedTransaction,
    ) -> Result<(Ticket, TxOutcome), StoryError> {
        self.chain.execute(client, tx)
    }

    /// Waits until the newest header carries the state after everything executed so far: a
    /// header carries the state root of the block *before* it, and the primary proposes an
    /// empty block once [`IDLE_BLOCK_MS`](crate::chain::IDLE_BLOCK_MS) passed without one, so
    /// this takes at most one idle interval (and sends nothing). Returns the tip's height.
    pub(crate) fn seal(&mut self) -> Result<u64, StoryError> {
        let executed = self.chain.full_node_ledger().height();
        self.chain
            .wait_for_height(executed + 1, 10 * crate::chain::IDLE_BLOCK_MS)?;
        Ok(self.chain.tip_height())
    }

    /// The next account nonce of `key`, as the full node sees it.
    pub(crate) fn nonce(&self, key: &SecretKey) -> u64 {
        self.chain.full_node_ledger().next_nonce(&addr(key))
    }

    /// Alice's public key.
    pub(crate) fn alice_pk(&self) -> PublicKey {
        self.cast.alice.public_key()
    }
}
