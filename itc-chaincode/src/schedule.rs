//! When a plan starts and when it closes, as functions of the main chain — the rules every
//! validator must apply identically, so they live here and not in an integrator's loop.
//!
//! * **Activation.** A plan is activated by the block that commits its `FundPlan` (the vendor's
//!   escrow). That block's header hash keys every sketch (`siphash` key derivation in
//!   [`crate::plan::Plan::validate`]) and its timestamp is the plan's start. Nobody can know the
//!   key before the block is certified, so a device cannot precompute a sketch for a plan that
//!   does not exist yet, and the vendor cannot pick a key that collides records.
//! * **Beacon.** The release noise is seeded by the first block whose timestamp is at or after
//!   the plan's deadline. Its hash is unknown until a quorum certifies it, after the last
//!   contribution was accepted, so no contributor and no vendor can grind the noise. Exactly one
//!   block of a chain is the beacon of a deadline (timestamps strictly increase), and with idle
//!   empty blocks it arrives within one idle interval of the deadline.
//!
//! ```
//! use itc_chaincode::schedule::{beacon, BlockRef};
//! use itc_crypto::Hash;
//!
//! let deadline = 1_000;
//! let before = BlockRef { hash: Hash([1; 32]), timestamp_ms: 990 };
//! let after = BlockRef { hash: Hash([2; 32]), timestamp_ms: 1_004 };
//! let later = BlockRef { hash: Hash([3; 32]), timestamp_ms: 1_010 };
//! assert_eq!(beacon(deadline, None, before), None);
//! let b = beacon(deadline, Some(before.timestamp_ms), after).unwrap();
//! assert_eq!((b.seed, b.close_at_ms), (Hash([2; 32]), 1_004));
//! // Only the first block at or past the deadline is the beacon.
//! assert_eq!(beacon(deadline, Some(after.timestamp_ms), later), None);
//! ```

use itc_crypto::Hash;

#[cfg(feature = "alloc")]
use crate::error::PlanError;
#[cfg(feature = "alloc")]
use crate::plan::{Plan, Policy, ValidPlan};

/// A main-chain block as these rules see it: its header hash and the proposer's timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRef {
    /// Hash of the block header.
    pub hash: Hash,
    /// The header's timestamp (milliseconds).
    pub timestamp_ms: u64,
}

/// What the funding block fixes for a plan: the sketch key and the start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activation {
    /// The per-plan key every sketch hashes its inputs with (the funding block's hash).
    pub key: Hash,
    /// When the plan starts (the funding block's timestamp).
    pub at_ms: u64,
}

/// The activation a plan gets from the block that committed its `FundPlan`.
pub fn activation(funding_block: BlockRef) -> Activation {
    Activation {
        key: funding_block.hash,
        at_ms: funding_block.timestamp_ms,
    }
}

#[cfg(feature = "alloc")]
impl Activation {
    /// Validates `plan` under `policy` as activated here (the same check every validator and
    /// device makes, with the same key and time).
    pub fn validate(&self, plan: Plan, policy: &Policy) -> Result<ValidPlan, PlanError> {
        plan.validate(policy, self.key, self.at_ms)
    }
}

/// The seed of a plan's release noise and the time the plan closes at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Beacon {
    /// The beacon block's hash (passed to `Aggregator::close`).
    pub seed: Hash,
    /// The beacon block's timestamp (the `now` of `Aggregator::close`).
    pub close_at_ms: u64,
}

/// `Some` exactly when `block` is the beacon of `deadline_ms`: its timestamp is at or after the
/// deadline and its parent's (`parent_timestamp_ms`, `None` for the first block looked at after
/// activation) is before it. Call it for each committed block in order.
pub fn beacon(
    deadline_ms: u64,
    parent_timestamp_ms: Option<u64>,
    block: BlockRef,
) -> Option<Beacon> {
    let parent_before = parent_timestamp_ms.is_none_or(|t| t < deadline_ms);
    (block.timestamp_ms >= deadline_ms && parent_before).then_some(Beacon {
        seed: block.hash,
        close_at_ms: block.timestamp_ms,
    })
}
