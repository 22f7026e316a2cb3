//! Everything the light client can refuse, by what went wrong.
//!
//! One enum for the crate, so a device's error handling is one `match`. Every variant names a
//! fact about the input (no strings); whatever the variant, the client's state is exactly what
//! it was before the call — except [`SpvError::ConflictingHeader`], which halts the client on
//! purpose, and [`SpvError::BackfillMismatch`], which drops unconfirmed back-fill headers.
//!
//! [`SpvError::blame`] says who must act, the same way every itc crate does: a full node whose
//! response is forged or malformed ([`Blame::Peer`]: score it down, ask another), an input that
//! is merely stale or not yet usable ([`Blame::Ignorable`]), or the integrator's own side
//! ([`Blame::Local`]: a wrong clock, an expired anchor, a call against the contract).
//!
//! ```
//! use itc_crypto::Blame;
//! use itc_spv::SpvError;
//! assert_eq!(SpvError::ForgedSignature { index: 2 }.blame(), Blame::Peer);
//! assert_eq!(SpvError::StaleHeader { height: 4, tip: 9 }.blame(), Blame::Ignorable);
//! assert_eq!(SpvError::TrustExpired { trusted_ms: 0, now_ms: 1 }.blame(), Blame::Local);
//! ```

use itc_crypto::{Blame, DecodeError, MerkleError, QuorumError};
use itc_ledger::StateProofError;

use crate::mmr::MmrError;

/// Why the light client (or a proof check) refused an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SpvError {
    // ---- trust anchor -------------------------------------------------------------------
    /// The anchor's validator set does not hash to the anchor header's `next_validator_set_hash`.
    #[error("trust anchor's validator set is not the one its header names as next")]
    AnchorSetMismatch,
    /// The anchor's accumulator does not hold exactly the headers below the anchor's height.
    #[error("anchor history holds {leaf_count} headers, the anchor is at height {height}")]
    AnchorHistoryMismatch {
        /// Leaves in the shipped accumulator.
        leaf_count: u64,
        /// Height of the anchor header.
        height: u64,
    },
    /// A validator set could not be built (capacity, duplicates, zero power, overflow).
    #[error("invalid validator set: {0}")]
    InvalidValidatorSet(QuorumError),

    // ---- chaining -----------------------------------------------------------------------
    /// A header at or below a height we already trust, with the hash we already hold (replay),
    /// or below the window of recent headers we can compare against.
    #[error("header {height} is not above the trusted tip {tip}")]
    StaleHeader {
        /// The header's height.
        height: u64,
        /// Our tip.
        tip: u64,
    },
    /// Sequential verification needs the header right after the tip.
    #[error("expected height {expected}, got {found}")]
    HeightGap {
        /// Tip + 1.
        expected: u64,
        /// The header's height.
        found: u64,
    },
    /// The header's `previous` is not the hash of the header before it.
    #[error("header {height} does not link to its parent")]
    WrongParent {
        /// The header's height.
        height: u64,
    },
    /// The header names another validator set than the one the chain hands over to it.
    #[error("header {height} names a validator set the trusted chain did not hand over")]
    WrongValidatorSet {
        /// The header's height.
        height: u64,
    },
    /// The header changes the validator set away from an epoch boundary.
    #[error("header {height} changes the validator set off an epoch boundary")]
    SetChangeOffBoundary {
        /// The header's height.
        height: u64,
    },
    /// The header's timestamp is not after the trusted header's.
    #[error("header {height} does not move time forward")]
    TimestampNotIncreasing {
        /// The header's height.
        height: u64,
    },
    /// The header's view is below its parent's.
    #[error("header {height} has a view below its parent's")]
    ViewDecreases {
        /// The header's height.
        height: u64,
    },
    /// Height arithmetic would leave `u64`.
    #[error("height counter would overflow")]
    HeightOverflow,
    /// The header hands over to a new set but the new set was not supplied.
    #[error("header {height} changes the validator set; the next set is needed")]
    MissingNextValidatorSet {
        /// The header's height.
        height: u64,
    },
    /// The supplied next set does not hash to the header's `next_validator_set_hash`.
    #[error("supplied next validator set does not match header {height}")]
    NextValidatorSetMismatch {
        /// The header's height.
        height: u64,
    },
    /// The supplied set for a skipped-to header does not hash to its `validator_set_hash`.
    #[error("supplied validator set does not match header {height}")]
    HeaderValidatorSetMismatch {
        /// The header's height.
        height: u64,
    },

    // ---- certificates -------------------------------------------------------------------
    /// The commit votes were cast in a view before the header was proposed.
    #[error("certificate view {cert_view} precedes header view {header_view}")]
    ViewBeforeProposal {
        /// View of the certificate.
        cert_view: u64,
        /// View of the header.
        header_view: u64,
    },
    /// Signer bitmap and signatures disagree (e.g. one signer's bit carrying two signatures).
    #[error("{bits} signer bits but {signatures} signatures")]
    SignatureCountMismatch {
        /// Bits set.
        bits: usize,
        /// Signatures carried.
        signatures: usize,
    },
    /// The bitmap names a validator the set does not have.
    #[error("signer {index} is outside a set of {len}")]
    SignerOutOfRange {
        /// Offending index.
        index: usize,
        /// Set size.
        len: usize,
    },
    /// The signers do not hold more than 2/3 of the header's own set.
    #[error("signers hold {have} power, more than {need_above} needed for a quorum")]
    InsufficientQuorum {
        /// Power of the signers.
        have: u64,
        /// Power to exceed.
        need_above: u64,
    },
    /// Skipping: the signers do not hold more than the trust threshold of the trusted set.
    /// Not an attack by itself — bisect (ask for a header in between).
    #[error("signers hold {have} of the trusted set's power, more than {need_above} needed")]
    InsufficientTrust {
        /// Trusted power among the signers.
        have: u64,
        /// Power to exceed.
        need_above: u64,
    },
    /// A signature that was needed does not verify.
    #[error("signature of validator #{index} does not verify")]
    ForgedSignature {
        /// Signer index in the header's set.
        index: usize,
    },

    // ---- time ---------------------------------------------------------------------------
    /// The trusted header (the tip, or an anchor) is older than the trusting period at the
    /// caller's clock: extending trust from it is no longer safe (validators that signed it may
    /// have left and sold their keys). Re-anchor on a fresh checkpoint.
    #[error("trusted header from {trusted_ms} ms has expired at {now_ms} ms")]
    TrustExpired {
        /// Timestamp of our newest trusted header.
        trusted_ms: u64,
        /// The time given.
        now_ms: u64,
    },
    /// The header claims a time further ahead of the caller's clock than the tolerated drift.
    #[error("header time {timestamp_ms} ms is ahead of now {now_ms} ms")]
    HeaderFromFuture {
        /// The header's time.
        timestamp_ms: u64,
        /// The time given.
        now_ms: u64,
    },
    /// The caller's clock is behind a header already trusted by more than the tolerated drift:
    /// the clock is wrong (reset, never set), and a clock that runs late would stretch the
    /// trusting period. Nothing is extended until the time is right.
    #[error("clock {now_ms} ms is behind the trusted header's time {trusted_ms} ms")]
    ClockBehind {
        /// The time given.
        now_ms: u64,
        /// Timestamp of the trusted header.
        trusted_ms: u64,
    },

    // ---- forks --------------------------------------------------------------------------
    /// Two validly certified headers at one height: the client halts; see
    /// [`crate::LightClient::fork_evidence`].
    #[error("conflicting certified header at height {height}; client halted")]
    ConflictingHeader {
        /// The height of the fork.
        height: u64,
    },
    /// A header at a height the client holds differs from ours, and the client no longer
    /// keeps the set that certified ours: it cannot tell a fork from a forgery. Hand the
    /// header back with its own validator set (ask with `with_validators`) to have it judged.
    #[error("header {height} conflicts with a verified one; its validator set is needed")]
    SigningSetUnknown {
        /// The header's height.
        height: u64,
    },
    /// Evidence whose two headers are not at one height, or are the same header.
    #[error("the two headers are not a fork")]
    NotAFork,
    /// The client halted on a fork and accepts nothing more.
    #[error("client halted on a fork at height {height}")]
    Halted {
        /// The height of the fork.
        height: u64,
    },

    // ---- accumulator and back-fill ------------------------------------------------------
    /// The header accumulator refused a proof or an append.
    #[error("accumulator: {0}")]
    Accumulator(#[from] MmrError),
    /// A back-filled header does not hash-link to the one before it, or the chain of them
    /// does not arrive at the certified header we hold. The one error that changes state: the
    /// unconfirmed (pending) back-fill headers are dropped, since forward links cannot tell
    /// which of them lied; nothing verified is touched.
    #[error("back-filled header {height} does not link into the trusted chain")]
    BackfillMismatch {
        /// The offending height.
        height: u64,
    },
    /// Back-fill headers must start where the accumulator stops.
    #[error("back-fill must continue at height {expected}, got {found}")]
    BackfillOutOfOrder {
        /// Next height the accumulator needs.
        expected: u64,
        /// Height offered.
        found: u64,
    },

    // ---- proofs -------------------------------------------------------------------------
    /// No trusted header at that height is held (prove it through the accumulator first).
    #[error("no trusted header at height {height}")]
    HeaderNotTrusted {
        /// Height asked for.
        height: u64,
    },
    /// A batch or DAG-snapshot inclusion proof was rejected.
    #[error("inclusion proof: {0}")]
    InclusionProof(MerkleError),
    /// A sparse-Merkle state proof was rejected.
    #[error("state proof: {0}")]
    StateProof(StateProofError),
    /// The inclusion height is above the tip (not yet included, so no confirmations).
    #[error("height {height} is above the tip {tip}")]
    AboveTip {
        /// Inclusion height.
        height: u64,
        /// Our tip.
        tip: u64,
    },
    /// The anchor record proven is not the one the DAG proof needs.
    #[error("anchor record does not commit to the snapshot")]
    AnchorMismatch,

    // ---- wire ---------------------------------------------------------------------------
    /// Bytes from the network are not a canonical message.
    #[error("decode: {0}")]
    Decode(#[from] DecodeError),
    /// A value does not fit in the fixed capacity of this client build (`N` or a buffer).
    #[error("value exceeds this build's capacity of {capacity}")]
    CapacityExceeded {
        /// The capacity.
        capacity: usize,
    },
}

impl SpvError {
    /// Who must act on this refusal.
    ///
    /// * [`Blame::Peer`] — what a full node sent cannot come from an honest one on the chain we
    ///   follow: a forged or short certificate, a header that does not chain, a bad proof,
    ///   bytes that do not decode, a header from the future, a fork (the validators the
    ///   evidence names equivocated; the client halted).
    /// * [`Blame::Ignorable`] — a replay ([`SpvError::StaleHeader`]), a far header that needs a
    ///   header in between first ([`SpvError::InsufficientTrust`]; the driver bisects), an
    ///   accumulator proof made for a size we have since outgrown.
    /// * [`Blame::Local`] — this side must act: trust expired (re-anchor), the clock is wrong,
    ///   the anchor is inconsistent, the build's capacity is too small, a call against the
    ///   contract (sequential verification of a non-adjacent header, a proof against a header
    ///   the client does not hold, confirmations above the tip, feeding a halted client).
    pub fn blame(&self) -> Blame {
        use SpvError::*;
        match self {
            StaleHeader { .. } | InsufficientTrust { .. } => Blame::Ignorable,
            AnchorSetMismatch
            | AnchorHistoryMismatch { .. }
            | HeightGap { .. }
            | TrustExpired { .. }
            | ClockBehind { .. }
            | Halted { .. }
            | HeaderNotTrusted { .. }
            | AboveTip { .. }
            | CapacityExceeded { .. } => Blame::Local,
            Accumulator(e) => e.blame(),
            InvalidValidatorSet(_)
            | WrongParent { .. }
            | WrongValidatorSet { .. }
            | SetChangeOffBoundary { .. }
            | TimestampNotIncreasing { .. }
            | ViewDecreases { .. }
            | HeightOverflow
            | MissingNextValidatorSet { .. }
            | NextValidatorSetMismatch { .. }
            | HeaderValidatorSetMismatch { .. }
            | ViewBeforeProposal { .. }
            | SignatureCountMismatch { .. }
            | SignerOutOfRange { .. }
            | InsufficientQuorum { .. }
            | ForgedSignature { .. }
            | HeaderFromFuture { .. }
            | ConflictingHeader { .. }
            | SigningSetUnknown { .. }
            | NotAFork
            | BackfillMismatch { .. }
            | BackfillOutOfOrder { .. }
            | InclusionProof(_)
            | StateProof(_)
            | AnchorMismatch
            | Decode(_) => Blame::Peer,
        }
    }
}

impl From<MerkleError> for SpvError {
    fn from(e: MerkleError) -> Self {
        SpvError::InclusionProof(e)
    }
}

impl From<StateProofError> for SpvError {
    fn from(e: StateProofError) -> Self {
        SpvError::StateProof(e)
    }
}
