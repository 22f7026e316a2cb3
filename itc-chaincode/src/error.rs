//! Typed errors, one enum per concern. Variants name what went wrong; none carries a string.

use itc_crypto::encoding::DecodeError;
use itc_crypto::CryptoError;

/// A sketch could not be built or combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SketchError {
    /// HyperLogLog precision outside `4..=18`.
    #[error("HyperLogLog precision {p} outside 4..=18")]
    PrecisionOutOfRange {
        /// The precision asked for.
        p: u8,
    },
    /// Two HyperLogLog sketches of different precision cannot be merged.
    #[error("HyperLogLog precision mismatch: {ours} vs {theirs}")]
    PrecisionMismatch {
        /// Our precision.
        ours: u8,
        /// The other sketch's precision.
        theirs: u8,
    },
    /// Bloom filter size outside the supported range.
    #[error("Bloom filter of {bits} bits is outside the supported range")]
    BloomSizeOutOfRange {
        /// Bits asked for.
        bits: u32,
    },
    /// Bloom filter probe count outside `1..=16`.
    #[error("Bloom filter with {hashes} probes is outside 1..=16")]
    BloomHashesOutOfRange {
        /// Probes asked for.
        hashes: u8,
    },
    /// Two Bloom filters of different shapes cannot be merged.
    #[error("Bloom filter shapes differ")]
    BloomShapeMismatch,
}

/// A commitment proof failed or could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CommitmentProofError {
    /// Range proofs cover `1..=32` bits.
    #[error("range of {bits} bits is not supported")]
    RangeBitsOutOfRange {
        /// Bits asked for.
        bits: u8,
    },
    /// The prover's value does not fit the range (no honest proof exists).
    #[error("value is outside the range")]
    ValueOutOfRange,
    /// The proof covers a different number of bits than the plan requires.
    #[error("proof covers {found} bits, plan requires {expected}")]
    WrongBitCount {
        /// Bits the plan requires.
        expected: u8,
        /// Bits in the proof.
        found: u8,
    },
    /// The OR-proof for one bit does not verify (the commitment is not to 0 or 1 there, or the
    /// bits do not add up to the committed value).
    #[error("bit {bit} of the range proof does not verify")]
    BitProofInvalid {
        /// Index of the failing bit.
        bit: u8,
    },
    /// An opening proof does not verify.
    #[error("opening proof does not verify")]
    OpeningInvalid,
}

/// A plan was refused at validation (by the chain or by a device's own policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The plan asks for raw record fields; only aggregates may leave a device.
    #[error("plan requests raw record fields")]
    RawDataRequested,
    /// The plan's bytes are not a canonical plan encoding.
    #[error("plan encoding is invalid: {0}")]
    Decode(#[from] DecodeError),
    /// The filter names no record kind.
    #[error("filter names no record kind")]
    NoRecordKinds,
    /// The filter's time window is empty.
    #[error("filter time window is empty")]
    EmptyTimeWindow,
    /// The per-device record cap is zero or above policy.
    #[error("per-device record cap {cap} outside 1..={max}")]
    RecordCapOutOfRange {
        /// The plan's cap.
        cap: u32,
        /// Policy maximum.
        max: u32,
    },
    /// ε is zero or above the policy maximum.
    #[error("epsilon {milli} milli outside 1..={max}")]
    EpsilonOutOfRange {
        /// The plan's ε in milli-units.
        milli: u32,
        /// Policy maximum.
        max: u32,
    },
    /// The minimum cohort is below the policy minimum.
    #[error("minimum cohort {k} below policy minimum {min}")]
    CohortTooSmall {
        /// The plan's k.
        k: u32,
        /// Policy minimum.
        min: u32,
    },
    /// The deadline is not after the activation time.
    #[error("deadline {deadline} is not after {now}")]
    DeadlineInPast {
        /// The plan's deadline (ms).
        deadline: u64,
        /// Activation time (ms).
        now: u64,
    },
    /// The deadline is further ahead than policy allows.
    #[error("deadline {deadline} is beyond {max}")]
    DeadlineTooFar {
        /// The plan's deadline (ms).
        deadline: u64,
        /// Latest allowed (ms).
        max: u64,
    },
    /// The reward budget is zero.
    #[error("reward budget is zero")]
    ZeroBudget,
    /// The per-record fuel limit cannot pay for one record of this plan.
    #[error("per-record fuel {limit} below the cost {needed} of one record")]
    FuelPerRecordTooLow {
        /// Fuel one record costs.
        needed: u64,
        /// The plan's per-record limit.
        limit: u32,
    },
    /// The per-plan fuel limit is above policy, or too low to finish the plan.
    #[error("per-plan fuel {limit} outside {min}..={max}")]
    FuelPerPlanOutOfRange {
        /// The plan's per-plan limit.
        limit: u64,
        /// Least fuel that finishes the plan.
        min: u64,
        /// Policy maximum.
        max: u64,
    },
    /// HyperLogLog precision outside what policy allows.
    #[error("HyperLogLog precision {p} outside {min}..={max}")]
    PrecisionOutOfRange {
        /// The plan's precision.
        p: u8,
        /// Smallest allowed.
        min: u8,
        /// Largest allowed.
        max: u8,
    },
    /// Clamping range width `2^bits` with bits outside `1..=32`.
    #[error("clamping range of {bits} bits outside 1..=32")]
    ClampBitsOutOfRange {
        /// The plan's bits.
        bits: u8,
    },
    /// The clamping range overflows i64.
    #[error("clamping range overflows")]
    ClampOverflow,
    /// A histogram with zero or too many buckets, or zero width.
    #[error("histogram shape invalid: {buckets} buckets (max {max}), width {width}")]
    HistogramShape {
        /// Buckets asked for.
        buckets: u16,
        /// Policy maximum.
        max: u16,
        /// Bucket width.
        width: u64,
    },
    /// A membership test with zero or too many candidates.
    #[error("membership test with {count} candidates outside 1..={max}")]
    CandidateCount {
        /// Candidates in the plan.
        count: usize,
        /// Policy maximum.
        max: usize,
    },
    /// Candidates must be sorted and distinct (canonical form).
    #[error("membership candidates are not sorted and distinct")]
    CandidatesNotCanonical,
    /// The extracted field index is beyond what records carry.
    #[error("field {field} beyond the {max} fields a record carries")]
    FieldOutOfRange {
        /// Field index.
        field: u8,
        /// Fields per record.
        max: u8,
    },
}

/// A device refused to run a plan (nothing is signed, nothing is charged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// The device's own policy refuses the plan.
    #[error("plan refused by device policy: {0}")]
    PlanRefused(PlanError),
    /// The plan's deadline has passed.
    #[error("plan expired at {deadline}, now {now}")]
    PlanExpired {
        /// Deadline (ms).
        deadline: u64,
        /// Now (ms).
        now: u64,
    },
    /// Answering would exceed the user's privacy budget in the rolling window.
    #[error("privacy budget exceeded: need {requested} milli-ε, {remaining} left")]
    BudgetExceeded {
        /// ε the plan needs (milli).
        requested: u32,
        /// ε left in the window (milli).
        remaining: u32,
    },
    /// The device already answered this plan.
    #[error("plan already answered")]
    AlreadyAnswered,
    /// The budget ledger is full of unexpired entries.
    #[error("privacy ledger full")]
    LedgerFull,
    /// The plan ran out of fuel; no contribution is produced.
    #[error("fuel exhausted: {used} used, next step needs {needed}, limit {limit}")]
    FuelExhausted {
        /// Fuel spent so far.
        used: u64,
        /// Fuel the next step needs.
        needed: u64,
        /// The plan's limit.
        limit: u64,
    },
    /// The signer failed.
    #[error("signing failed: {0}")]
    Signing(#[from] CryptoError),
    /// The commitment proof could not be made.
    #[error("proof failed: {0}")]
    Proof(#[from] CommitmentProofError),
    /// A sketch could not be built.
    #[error("sketch failed: {0}")]
    Sketch(#[from] SketchError),
}

/// A contribution was refused by the aggregator; its state is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ContributionError {
    /// The contribution is for another plan.
    #[error("contribution is for another plan")]
    WrongPlan,
    /// The plan's deadline has passed.
    #[error("deadline {deadline} passed, now {now}")]
    DeadlineExpired {
        /// Deadline (ms).
        deadline: u64,
        /// Now (ms).
        now: u64,
    },
    /// The aggregator has closed.
    #[error("aggregation already closed")]
    Closed,
    /// This device already contributed.
    #[error("device already contributed")]
    DuplicateDevice,
    /// The device signature does not verify.
    #[error("contribution signature does not verify")]
    InvalidSignature,
    /// The sealed payload does not match the digest the device signed.
    #[error("sealed payload does not match its signed digest")]
    SealedDigestMismatch,
    /// The payload is not the kind or shape the plan asks for.
    #[error("payload does not match the plan's aggregation")]
    PayloadMismatch,
    /// The matched-record count exceeds the plan's per-device cap.
    #[error("matched count {matched} above cap {cap}")]
    MatchedOverCap {
        /// Claimed matches.
        matched: u32,
        /// The plan's cap.
        cap: u32,
    },
    /// The sealed opening does not open the public commitment.
    #[error("opening does not match the commitment")]
    CommitmentMismatch,
    /// The range proof does not verify.
    #[error("range proof invalid: {0}")]
    RangeProof(CommitmentProofError),
    /// The aggregator holds its maximum number of contributions.
    #[error("contributor limit {max} reached")]
    TooManyContributors {
        /// The limit.
        max: u32,
    },
    /// The bytes are not a canonical contribution.
    #[error("contribution encoding is invalid: {0}")]
    Decode(#[from] DecodeError),
}

/// The aggregator could not close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CloseError {
    /// Contributions are still open until the deadline.
    #[error("deadline {deadline} not reached, now {now}")]
    DeadlineNotReached {
        /// Deadline (ms).
        deadline: u64,
        /// Now (ms).
        now: u64,
    },
    /// Already closed.
    #[error("already closed")]
    AlreadyClosed,
}
