//! Replica configuration: checkpoint interval, watermark window, batching limits, timeouts
//! and the caps that bound memory. All validators of a chain must agree on
//! `checkpoint_interval`, `window` and the batch limits; timeouts are local.

use crate::message::MAX_PREPARED_PER_VIEW_CHANGE;
use crate::request::{MAX_BATCH_BYTES, MAX_BATCH_REQUESTS, MAX_PAYLOAD_BYTES};
use crate::safety::MAX_DURABLE_BATCHES_PER_HEIGHT;

/// Why a configuration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The checkpoint interval must be at least 1.
    #[error("checkpoint interval is zero")]
    ZeroCheckpointInterval,
    /// The window must be a non-zero multiple of the checkpoint interval, at most
    /// [`MAX_PREPARED_PER_VIEW_CHANGE`].
    #[error("window must be a multiple of the checkpoint interval, at most the protocol limit")]
    BadWindow,
    /// A batch limit is zero or above the protocol limit.
    #[error("batch limits must be non-zero and within the protocol limits")]
    BadBatchLimits,
    /// The payload limit is zero or above [`MAX_PAYLOAD_BYTES`].
    #[error("payload limit must be non-zero and within the protocol limit")]
    BadPayloadLimit,
    /// Timeouts must be non-zero and the maximum at least the base.
    #[error("timeouts must be non-zero and max >= base")]
    BadTimeouts,
    /// A memory cap is zero.
    #[error("memory caps must be non-zero")]
    ZeroCap,
    /// `max_batches_per_height` is zero or above
    /// [`MAX_DURABLE_BATCHES_PER_HEIGHT`].
    #[error("batches per height must be non-zero and within the protocol limit")]
    BadBatchesPerHeight,
}

/// When a replica checks the signatures of prepare and commit votes.
///
/// Signature checks are most of a replica's CPU time (a backup checks about `2n/3` vote
/// signatures per phase per block). Checking them one by one as they arrive reports a forged
/// vote at once; checking the votes of a quorum together, once enough of them are in to
/// complete it, lets [`itc_crypto::batch`] verify them in one multi-scalar multiplication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VoteCheck {
    /// Each vote's signature is checked when it arrives; a bad one is refused at once with
    /// [`PbftError::InvalidSignature`](crate::PbftError::InvalidSignature). Predictable
    /// per-message cost and an immediate verdict for the integrator's peer scoring.
    #[default]
    OnArrival,
    /// A vote that passes every cheap check waits, unchecked, until the votes for its header
    /// could complete the phase's quorum; then all of them are batch-verified at once
    /// (about 0.5× the cost of single checks for a 16-validator quorum). A forged vote is
    /// dropped at that point (counted in [`SigStats::rejected`](crate::sig::SigStats)) and
    /// never counts towards a quorum. At most one unchecked vote per sender and phase is held:
    /// a second vote from the same sender first settles the earlier one, so a forger cannot
    /// crowd out the real vote.
    AtQuorum,
}

/// Configuration of a [`Replica`](crate::Replica).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// `K`: a checkpoint every `K` blocks; validator sets change only at multiples of `K`.
    pub checkpoint_interval: u64,
    /// `L`: heights accepted are `(low, low + L]` where `low` is the stable checkpoint.
    pub window: u64,
    /// Most requests per batch.
    pub max_batch_requests: usize,
    /// Most encoded bytes per batch.
    pub max_batch_bytes: usize,
    /// Most bytes in one request payload.
    pub max_payload_bytes: usize,
    /// How long the primary waits to fill a batch before proposing a partial one (0: propose
    /// as soon as it may).
    pub batch_delay_ms: u64,
    /// Base request timeout: a backup with a pending request that sees no commit for this long
    /// asks for a view change.
    pub view_change_timeout_ms: u64,
    /// Cap of the exponential back-off of successive view changes.
    pub max_view_change_timeout_ms: u64,
    /// How long to wait for a fetched block before asking another peer.
    pub fetch_timeout_ms: u64,
    /// How far ahead of local time a proposal's timestamp may be.
    pub max_clock_skew_ms: u64,
    /// Most requests waiting to be ordered at this replica.
    pub max_pending_requests: usize,
    /// Most buffered messages per sender for views or epochs not yet entered.
    pub max_future_per_sender: usize,
    /// Most clients whose last committed request id is remembered for de-duplication.
    pub max_clients: usize,
    /// When vote signatures are checked (local: replicas of one chain may differ).
    pub vote_check: VoteCheck,
    /// Most batches kept per height, by header hash (see [`crate::availability`]): a
    /// later-view proposal for a height adds one instead of replacing the earlier one. At most
    /// [`MAX_DURABLE_BATCHES_PER_HEIGHT`].
    pub max_batches_per_height: usize,
    /// Most batches served to one peer per `fetch_timeout_ms` interval (answers to
    /// [`Message::BatchRequest`](crate::Message::BatchRequest)).
    pub max_batch_serves_per_peer: u32,
    /// Idle-block interval (0: off, the default). When no request waits, the primary proposes
    /// an empty block once this long has passed since the last block's timestamp, so a state
    /// change is provable (by the next header's state root) within one interval of its commit
    /// and an idle chain still produces certified headers. Local to the primary.
    pub idle_block_interval_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            checkpoint_interval: 16,
            window: 32,
            max_batch_requests: 1000,
            max_batch_bytes: 1024 * 1024,
            max_payload_bytes: 4096,
            batch_delay_ms: 5,
            view_change_timeout_ms: 1000,
            max_view_change_timeout_ms: 60_000,
            fetch_timeout_ms: 500,
            max_clock_skew_ms: 5_000,
            max_pending_requests: 100_000,
            max_future_per_sender: 64,
            max_clients: 100_000,
            vote_check: VoteCheck::OnArrival,
            max_batches_per_height: 4,
            max_batch_serves_per_peer: 16,
            idle_block_interval_ms: 0,
        }
    }
}

impl Config {
    /// Checks the rules above.
    ///
    /// ```
    /// use itc_pbft::Config;
    /// assert!(Config::default().validate().is_ok());
    /// assert!(Config { window: 5, ..Config::default() }.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.checkpoint_interval == 0 {
            return Err(ConfigError::ZeroCheckpointInterval);
        }
        if self.window == 0
            || self.window % self.checkpoint_interval != 0
            || self.window > MAX_PREPARED_PER_VIEW_CHANGE as u64
        {
            return Err(ConfigError::BadWindow);
        }
        if self.max_batch_requests == 0
            || self.max_batch_requests > MAX_BATCH_REQUESTS
            || self.max_batch_bytes == 0
            || self.max_batch_bytes > MAX_BATCH_BYTES
        {
            return Err(ConfigError::BadBatchLimits);
        }
        if self.max_payload_bytes == 0 || self.max_payload_bytes > MAX_PAYLOAD_BYTES {
            return Err(ConfigError::BadPayloadLimit);
        }
        if self.view_change_timeout_ms == 0
            || self.max_view_change_timeout_ms < self.view_change_timeout_ms
            || self.fetch_timeout_ms == 0
        {
            return Err(ConfigError::BadTimeouts);
        }
        if self.max_pending_requests == 0
            || self.max_future_per_sender == 0
            || self.max_clients == 0
            || self.max_batch_serves_per_peer == 0
        {
            return Err(ConfigError::ZeroCap);
        }
        if self.max_batches_per_height == 0
            || self.max_batches_per_height > MAX_DURABLE_BATCHES_PER_HEIGHT
        {
            return Err(ConfigError::BadBatchesPerHeight);
        }
        Ok(())
    }

    /// The view-change timeout after `attempts` consecutive view changes without progress:
    /// `base · 2^attempts`, capped.
    pub fn view_change_timeout(&self, attempts: u32) -> u64 {
        let factor = 1u64.checked_shl(attempts.min(62)).unwrap_or(u64::MAX);
        self.view_change_timeout_ms
            .saturating_mul(factor)
            .min(self.max_view_change_timeout_ms)
    }
}
