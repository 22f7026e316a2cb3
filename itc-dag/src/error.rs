//! The one error type of the crate: every way a transaction, an anchor or a request can be
//! refused, named for what went wrong, and [`DagError::blame`]: who must act on it.
//!
//! A refusal never changes the tangle: validation runs to completion before anything is
//! written, so the caller can drop the input and carry on. (The one deliberate exception:
//! an anchor naming transactions this node lacks records that it asked peers for them.)

use itc_crypto::{Blame, CryptoError, DecodeError};

use crate::store::{StoreTable, StoreUnavailable};
use crate::tx::TxId;

/// Why the tangle (or a builder) refused an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DagError {
    // --- bytes and syntax -------------------------------------------------------------
    /// The bytes are not the canonical encoding of a transaction or snapshot.
    #[error("malformed encoding: {0}")]
    Decode(#[from] DecodeError),
    /// The input is longer than any valid transaction can be; refused before decoding.
    #[error("input of {len} bytes exceeds the {max}-byte limit")]
    Oversized {
        /// Length received.
        len: usize,
        /// Largest accepted length.
        max: usize,
    },
    /// A transaction must name between 2 and 8 parents.
    #[error("{count} parents, expected 2..=8")]
    ParentCount {
        /// Number of parents given.
        count: usize,
    },
    /// The same parent was named twice.
    #[error("parent {0:?} named twice")]
    DuplicateParent(TxId),
    /// A transfer of zero tokens (it could only be used to grind ids or spam conflicts).
    #[error("transfer amount is zero")]
    ZeroAmount,
    /// A transfer whose recipient is its own sender.
    #[error("transfer to the sending address")]
    TransferToSelf,

    // --- authenticity and work ------------------------------------------------------------
    /// The Schnorr signature does not verify for the issuer key.
    #[error("signature does not verify")]
    InvalidSignature,
    /// The proof-of-work hash has fewer leading zero bits than the transaction declares.
    #[error("proof of work has {achieved} leading zero bits, declared {declared}")]
    InsufficientPow {
        /// Difficulty declared in the transaction.
        declared: u8,
        /// Leading zero bits of the PoW hash.
        achieved: u32,
    },
    /// The declared difficulty is below what the issuer policy requires right now.
    #[error("declared difficulty {declared} below required {required}")]
    DifficultyTooLow {
        /// Difficulty declared in the transaction.
        declared: u8,
        /// Difficulty the issuer's class and recent rate require.
        required: u8,
    },
    /// An `Anchor` payload from an issuer the policy does not allow to anchor.
    #[error("issuer may not publish anchor payloads")]
    UnauthorizedAnchor,
    /// The signer (key, secure element) failed to sign.
    #[error("signer failed: {0}")]
    Signing(CryptoError),

    // --- position in the tangle -------------------------------------------------------------
    /// The transaction is already attached or already waiting for its parents.
    #[error("transaction {0:?} already known")]
    Duplicate(TxId),
    /// The timestamp is further in the future than the allowed clock drift.
    #[error("timestamp {timestamp} is ahead of now {now} by more than the allowed drift")]
    TimestampInFuture {
        /// Transaction timestamp (ms).
        timestamp: u64,
        /// Local time (ms).
        now: u64,
    },
    /// The transaction is older than the attach horizon (replays and pruned history).
    #[error("timestamp {timestamp} is too old at now {now}")]
    TooOld {
        /// Transaction timestamp (ms).
        timestamp: u64,
        /// Local time (ms).
        now: u64,
    },
    /// A parent is older than the maximum depth: lazy tips and deep parasite chains.
    #[error("parent {0:?} is below max depth")]
    ParentTooOld(TxId),
    /// The transaction claims to be older than one of its parents.
    #[error("timestamp precedes parent {0:?}")]
    TimestampBeforeParent(TxId),
    /// The per-issuer sequence number does not increase.
    #[error("sequence {got} does not follow the issuer's last sequence {last}")]
    SequenceReplay {
        /// Last accepted sequence of this issuer.
        last: u64,
        /// Sequence in the transaction.
        got: u64,
    },
    /// The timestamp is earlier than the issuer's previous transaction.
    #[error("timestamp {got} is before the issuer's previous timestamp {last}")]
    TimestampRegression {
        /// Issuer's last accepted timestamp.
        last: u64,
        /// Timestamp in the transaction.
        got: u64,
    },

    // --- resource bounds ------------------------------------------------------------------
    /// The tangle holds its configured maximum of live transactions.
    #[error("tangle is full ({capacity} transactions)")]
    TangleFull {
        /// Configured capacity.
        capacity: usize,
    },
    /// The pool of transactions waiting for parents is full.
    #[error("unsolid pool is full ({capacity} transactions)")]
    UnsolidPoolFull {
        /// Configured capacity.
        capacity: usize,
    },
    /// A transaction waited for its parents longer than the unsolid timeout.
    #[error("parents did not arrive in time")]
    UnsolidTimeout,
    /// No transaction is eligible as a tip (empty or fully stale tangle).
    #[error("no eligible tips")]
    NoTips,

    // --- anchors ----------------------------------------------------------------------------
    /// The anchor is not the next snapshot in sequence.
    #[error("anchor sequence {got}, expected {expected}")]
    AnchorSequence {
        /// Next snapshot sequence this tangle expects.
        expected: u64,
        /// Sequence in the snapshot.
        got: u64,
    },
    /// The anchor does not chain to the previous anchored snapshot.
    #[error("anchor does not extend the previous snapshot")]
    AnchorPrevMismatch,
    /// The anchor names a transaction this tangle does not hold (request it, then retry).
    #[error("anchor covers unknown transaction {0:?}")]
    AnchorUnknownTx(TxId),
    /// The anchor covers a transaction but not one of its (unfinalised) parents.
    #[error("anchor is not closed under approval at {0:?}")]
    AnchorNotClosed(TxId),
    /// The anchor's list is not in the canonical order, or its tip set is wrong.
    #[error("anchor transaction list is not canonical")]
    AnchorNotCanonical,
    /// The anchor finalises two transfers of the same funds, or a rival of final funds.
    #[error("anchor finalises conflicting transaction {0:?}")]
    AnchorConflict(TxId),
    /// Applying the anchored transfers does not give the balances root the anchor states.
    #[error("anchor balances root does not match the local balances")]
    AnchorBalancesMismatch,
    /// The snapshot has more transactions than the protocol allows.
    #[error("snapshot of {count} transactions exceeds the {max} limit")]
    SnapshotTooLarge {
        /// Transactions in the snapshot.
        count: usize,
        /// Limit.
        max: usize,
    },

    // --- the integrator's side ---------------------------------------------------------------
    /// The integrator has not taken the events of earlier steps: new input is refused until
    /// it does, so no event is ever dropped (see [`crate::TangleConfig::max_events`]).
    #[error("{pending} undrained events (limit {max}): drain them before new input")]
    EventBacklog {
        /// Events waiting.
        pending: usize,
        /// Configured limit.
        max: usize,
    },
    /// The store lost the body of a transaction the tangle holds.
    #[error("the store has no body for held transaction {0:?}")]
    MissingBody(TxId),
    /// The store could not be read.
    #[error("the store could not be read")]
    StoreUnavailable,
    /// Restore found an empty store: start with `Tangle::new` instead.
    #[error("the store holds no tangle")]
    StoreEmpty,
    /// A stored record does not decode.
    #[error("corrupt {table:?} record: {error}")]
    CorruptRecord {
        /// Which kind of record.
        table: StoreTable,
        /// What was wrong with its bytes.
        error: DecodeError,
    },
    /// Stored records contradict each other (a node without its body, a gap in the kept
    /// snapshots, a key this crate never writes).
    #[error("inconsistent {0:?} records in the store")]
    StoreInconsistent(StoreTable),
    /// The store holds more records of a kind than the configuration allows (a store from
    /// another configuration, or not a tangle's).
    #[error("store holds more than {max} {table:?} records")]
    StoreOverCapacity {
        /// Which kind of record.
        table: StoreTable,
        /// The configured bound.
        max: usize,
    },
}

impl DagError {
    /// Who must act on this refusal: the peer that sent the input ([`Blame::Peer`]: forged,
    /// malformed, not worked, or a snapshot that contradicts the tangle), nobody
    /// ([`Blame::Ignorable`]: duplicates, stale or early inputs, full pools, transactions still
    /// missing: honest nodes produce these through timing alone), or the integrator
    /// ([`Blame::Local`]: anchors fed out of order, undrained events, a broken store, a signer
    /// that failed).
    ///
    /// ```
    /// use itc_crypto::Blame;
    /// use itc_dag::{DagError, TxId};
    /// assert_eq!(DagError::InvalidSignature.blame(), Blame::Peer);
    /// assert_eq!(DagError::Duplicate(TxId::default()).blame(), Blame::Ignorable);
    /// assert_eq!(DagError::EventBacklog { pending: 9, max: 8 }.blame(), Blame::Local);
    /// // An anchor behind ours is stale; one ahead of ours means we skipped one.
    /// assert_eq!(DagError::AnchorSequence { expected: 5, got: 4 }.blame(), Blame::Ignorable);
    /// assert_eq!(DagError::AnchorSequence { expected: 5, got: 6 }.blame(), Blame::Local);
    /// ```
    pub fn blame(&self) -> Blame {
        use DagError::*;
        match self {
            Decode(_)
            | Oversized { .. }
            | ParentCount { .. }
            | DuplicateParent(_)
            | ZeroAmount
            | TransferToSelf
            | InvalidSignature
            | InsufficientPow { .. }
            | DifficultyTooLow { .. }
            | UnauthorizedAnchor
            | TimestampBeforeParent(_)
            | AnchorPrevMismatch
            | AnchorNotClosed(_)
            | AnchorNotCanonical
            | AnchorConflict(_)
            | AnchorBalancesMismatch
            | SnapshotTooLarge { .. } => Blame::Peer,
            Duplicate(_)
            | TimestampInFuture { .. }
            | TooOld { .. }
            | ParentTooOld(_)
            | SequenceReplay { .. }
            | TimestampRegression { .. }
            | TangleFull { .. }
            | UnsolidPoolFull { .. }
            | UnsolidTimeout
            | AnchorUnknownTx(_) => Blame::Ignorable,
            AnchorSequence { expected, got } => {
                if got < expected {
                    Blame::Ignorable
                } else {
                    Blame::Local
                }
            }
            Signing(_)
            | NoTips
            | EventBacklog { .. }
            | MissingBody(_)
            | StoreUnavailable
            | StoreEmpty
            | CorruptRecord { .. }
            | StoreInconsistent(_)
            | StoreOverCapacity { .. } => Blame::Local,
        }
    }
}

impl From<StoreUnavailable> for DagError {
    fn from(_: StoreUnavailable) -> Self {
        DagError::StoreUnavailable
    }
}

impl From<CryptoError> for DagError {
    fn from(e: CryptoError) -> Self {
        DagError::Signing(e)
    }
}
