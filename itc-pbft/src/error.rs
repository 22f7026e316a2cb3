//! Typed errors of the replica. Every rejected input maps to one variant named for what was
//! wrong with it; a rejected input never changes what the replica has accepted.

use itc_crypto::encoding::DecodeError;
use itc_crypto::quorum::QuorumError;
use itc_crypto::{Blame, CryptoError};

use crate::certificate::CertificateError;
use crate::config::ConfigError;
use crate::header::ChainError;
use crate::message::ReplicaIndex;
use crate::safety::GuardError;

/// Why a certificate or signed statement inside a message does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// A signer index outside the validator set.
    #[error("signer #{0} is not in the validator set")]
    UnknownSigner(ReplicaIndex),
    /// A signature that does not verify.
    #[error("signature of #{0} does not verify")]
    BadSignature(ReplicaIndex),
    /// The primary appears among the prepare signers (it pre-prepares instead).
    #[error("the primary cannot also prepare")]
    PrimaryPrepared,
    /// The quorum's shape or power is wrong.
    #[error("quorum: {0}")]
    Quorum(QuorumError),
}

/// Why a proposal's header was refused by a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProposalError {
    /// The header does not extend the last committed header.
    #[error("does not extend the chain: {0}")]
    Chain(#[from] ChainError),
    /// The header's state root is not this replica's root after the previous block.
    #[error("state root differs from the executed one")]
    WrongStateRoot,
    /// The header names the wrong current or next validator set.
    #[error("validator-set hashes do not follow the schedule")]
    WrongValidatorSets,
    /// The header's view is not the pre-prepare's view (fresh proposals only).
    #[error("header view {header} differs from the proposal view {proposal}")]
    WrongView {
        /// `header.view`.
        header: u64,
        /// `pre_prepare.view`.
        proposal: u64,
    },
    /// The timestamp is further in the future than the allowed clock skew.
    #[error("timestamp {timestamp} is ahead of local time {now} by more than the skew")]
    TimestampAhead {
        /// The header's timestamp.
        timestamp: u64,
        /// This replica's clock.
        now: u64,
    },
    /// The batch does not hash to the header's batch root.
    #[error("batch root mismatch")]
    BatchRootMismatch,
    /// The batch exceeds the configured count or byte limit.
    #[error("batch of {count} requests / {bytes} bytes is over the limit")]
    BatchTooLarge {
        /// Requests in the batch.
        count: usize,
        /// Encoded bytes of the batch.
        bytes: usize,
    },
}

/// Why a new-view message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NewViewError {
    /// A carried view-change is for another view.
    #[error("view-change #{index} is for another view")]
    ViewMismatch {
        /// Position in the message.
        index: usize,
    },
    /// Two carried view-changes have the same sender.
    #[error("sender #{0} appears twice")]
    DuplicateSender(ReplicaIndex),
    /// A carried view-change does not verify.
    #[error("view-change #{index} is invalid: {reason}")]
    InvalidViewChange {
        /// Position in the message.
        index: usize,
        /// What is wrong with it.
        reason: ViewChangeError,
    },
    /// The view-changes do not carry a quorum of power.
    #[error("view-changes carry {have} power, more than {need_above} needed")]
    NoQuorum {
        /// Power carried.
        have: u64,
        /// Power to exceed.
        need_above: u64,
    },
    /// The re-proposals are not the ones the view-changes imply.
    #[error("re-proposals differ from those the view-changes imply")]
    WrongReproposals,
    /// A re-proposal is not signed by the new primary.
    #[error("re-proposal #{index} is not signed by the primary")]
    BadReproposalSignature {
        /// Position in the message.
        index: usize,
    },
}

/// Why a view-change message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ViewChangeError {
    /// The checkpoint certificate does not verify.
    #[error("checkpoint certificate: {0}")]
    Checkpoint(CertError),
    /// A prepared certificate does not verify.
    #[error("prepared certificate at height {height}: {reason}")]
    Prepared {
        /// Height of the certificate.
        height: u64,
        /// What is wrong.
        reason: CertError,
    },
    /// Prepared certificates are not strictly ascending in height, or outside
    /// `(checkpoint, checkpoint + window]`.
    #[error("prepared certificates are out of order or outside the window")]
    PreparedOutOfRange,
    /// A prepared certificate is from a view not below the requested one.
    #[error("prepared certificate from view {found}, not below {new_view}")]
    PreparedFromFuture {
        /// The certificate's view.
        found: u64,
        /// The requested view.
        new_view: u64,
    },
    /// The sender is not in the validator set.
    #[error("sender #{0} is not a validator")]
    UnknownSender(ReplicaIndex),
    /// The view-change's own signature does not verify.
    #[error("signature of #{0} does not verify")]
    BadSignature(ReplicaIndex),
    /// The checkpoint is in another epoch than this replica's active one.
    #[error("checkpoint at {0} is in another epoch")]
    OtherEpoch(u64),
}

/// Why an input was rejected by a [`Replica`](crate::Replica).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PbftError {
    /// The bytes are not a canonical message.
    #[error("malformed message: {0}")]
    Malformed(#[from] DecodeError),
    /// The sender index is not in the active validator set.
    #[error("sender #{0} is not a validator")]
    UnknownSender(ReplicaIndex),
    /// The message signature does not verify.
    #[error("signature of #{0} does not verify")]
    InvalidSignature(ReplicaIndex),
    /// The message is for a view this replica has left.
    #[error("message for view {view}, replica is in view {current}")]
    StaleView {
        /// The message's view.
        view: u64,
        /// The replica's view.
        current: u64,
    },
    /// A message for a future view arrived and its sender's buffer is full.
    #[error("future-message buffer of #{0} is full")]
    FutureBufferFull(ReplicaIndex),
    /// The height is outside the watermark window `(low, high]`.
    #[error("height {height} outside window ({low}, {high}]")]
    OutOfWindow {
        /// The message's height.
        height: u64,
        /// Low watermark (stable checkpoint).
        low: u64,
        /// High watermark.
        high: u64,
    },
    /// A prepare from the primary of its view (the primary pre-prepares instead).
    #[error("prepare from the primary #{0}")]
    PrepareFromPrimary(ReplicaIndex),
    /// The exact message was already processed; nothing changed.
    #[error("duplicate message")]
    Duplicate,
    /// The vote agrees with a quorum this replica already has; it was not needed (and its
    /// signature was not checked).
    #[error("quorum already reached")]
    QuorumAlreadyReached,
    /// The sender signed a conflicting message for the same slot; an `Evidence` action was
    /// emitted.
    #[error("#{0} equivocated")]
    Equivocation(ReplicaIndex),
    /// The proposal's header or batch is invalid.
    #[error("invalid proposal: {0}")]
    InvalidProposal(#[from] ProposalError),
    /// A certificate inside the message does not verify.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(#[from] CertError),
    /// A view-change does not verify.
    #[error("invalid view-change: {0}")]
    InvalidViewChange(#[from] ViewChangeError),
    /// A new-view does not verify.
    #[error("invalid new-view: {0}")]
    InvalidNewView(#[from] NewViewError),
    /// A checkpoint vote for a height that is not a checkpoint height.
    #[error("height {0} is not a checkpoint height")]
    NotACheckpoint(u64),
    /// The replica is waiting for a new view and does not take ordering messages.
    #[error("view change in progress")]
    ViewChangeInProgress,
    /// The request's payload is over the configured limit.
    #[error("payload of {0} bytes is over the limit")]
    PayloadTooLarge(usize),
    /// The request was already committed or is already pending.
    #[error("duplicate request")]
    DuplicateRequest,
    /// The pending-request queue is full.
    #[error("request queue is full")]
    QueueFull,
    /// `handle_executed` was called out of order.
    #[error("executed height {got}, expected {expected}")]
    ExecutedOutOfOrder {
        /// The next height that may be reported.
        expected: u64,
        /// The height reported.
        got: u64,
    },
    /// A fetched block is not the next one this replica needs.
    #[error("fetched block at {got}, next needed is {expected}")]
    NotNextBlock {
        /// The height needed.
        expected: u64,
        /// The height received.
        got: u64,
    },
    /// A fetched block does not extend the chain.
    #[error("fetched block does not extend the chain: {0}")]
    Chain(#[from] ChainError),
    /// A fetched block's certificate does not verify.
    #[error("fetched block certificate: {0}")]
    Certificate(#[from] CertificateError),
    /// The fetched block's batch does not match its header.
    #[error("fetched batch does not match the header")]
    FetchedBatchMismatch,
    /// The validator set for that height is not known yet (its epoch has not begun here).
    #[error("no validator set known for height {0}")]
    UnknownValidatorSet(u64),
    /// The safety guard refused to sign (it would contradict an earlier signature).
    #[error("safety guard: {0}")]
    Guard(#[from] GuardError),
    /// The signer could not sign.
    #[error("signing failed: {0}")]
    Signing(#[from] CryptoError),
    /// A restored chain tip is below the stable checkpoint in the safety record.
    #[error("chain tip {tip} is below the stable checkpoint {stable}")]
    TipBelowStableCheckpoint {
        /// Stable checkpoint height in the record.
        stable: u64,
        /// Height of the tip.
        tip: u64,
    },
    /// The message is about a height this replica already committed.
    #[error("height {0} is already committed here")]
    AlreadyCommitted(u64),
    /// The validator set is invalid.
    #[error("invalid validator set: {0}")]
    Validators(QuorumError),
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// A batch request names a header whose batch this replica does not hold.
    #[error("no batch held for that header at height {0}")]
    UnknownBatch(u64),
    /// A batch response for a header this replica did not ask for (or no longer needs).
    #[error("batch response for a header not asked for")]
    UnexpectedBatch,
    /// The peer already had its share of served batches in this interval.
    #[error("batch serve limit of #{0} reached")]
    BatchServeLimit(ReplicaIndex),
}

impl PbftError {
    /// Who must act on the refusal (see [`Blame`]): a **peer** fault is a message no honest
    /// validator sends (malformed, forged, equivocating, an invalid proposal or certificate, a
    /// fetched block that does not chain) — score or disconnect the sender; an **ignorable**
    /// input is a duplicate, a stale or early message, or an honest race (a view change in
    /// progress, a full queue, a view-change from another epoch) — drop it; a **local** fault is the integrator driving the
    /// replica against its contract (execution out of order, a bad restore tip, a signer that
    /// fails, an invalid configuration or set) — a bug on this side, log it loudly.
    ///
    /// ```
    /// use itc_crypto::Blame;
    /// use itc_pbft::PbftError;
    /// assert_eq!(PbftError::InvalidSignature(2).blame(), Blame::Peer);
    /// assert_eq!(PbftError::Duplicate.blame(), Blame::Ignorable);
    /// // A view-change from another epoch: the sender (or we) lag a rotation, nobody lies.
    /// use itc_pbft::error::ViewChangeError;
    /// assert_eq!(PbftError::InvalidViewChange(ViewChangeError::OtherEpoch(0)).blame(), Blame::Ignorable);
    /// assert_eq!(PbftError::InvalidViewChange(ViewChangeError::BadSignature(1)).blame(), Blame::Peer);
    /// assert_eq!(PbftError::ExecutedOutOfOrder { expected: 3, got: 5 }.blame(), Blame::Local);
    /// ```
    pub fn blame(&self) -> Blame {
        use PbftError::*;
        match self {
            // A view-change in another epoch than ours (the sender lags behind a rotation, or
            // we do) is not a fault: like `UnknownValidatorSet`, an honest peer sends it.
            InvalidViewChange(ViewChangeError::OtherEpoch(_))
            | InvalidNewView(NewViewError::InvalidViewChange {
                reason: ViewChangeError::OtherEpoch(_),
                ..
            }) => Blame::Ignorable,
            Malformed(_)
            | UnknownSender(_)
            | InvalidSignature(_)
            | PrepareFromPrimary(_)
            | Equivocation(_)
            | InvalidProposal(_)
            | InvalidCertificate(_)
            | InvalidViewChange(_)
            | InvalidNewView(_)
            | NotACheckpoint(_)
            | PayloadTooLarge(_)
            | Chain(_)
            | Certificate(_)
            | FetchedBatchMismatch => Blame::Peer,
            StaleView { .. }
            | FutureBufferFull(_)
            | OutOfWindow { .. }
            | Duplicate
            | QuorumAlreadyReached
            | ViewChangeInProgress
            | DuplicateRequest
            | QueueFull
            | NotNextBlock { .. }
            | UnknownValidatorSet(_)
            | AlreadyCommitted(_)
            // Batch availability: a holder may have pruned it, a response may come late, and an
            // honest peer in a run of view changes may ask often.
            | UnknownBatch(_)
            | UnexpectedBatch
            | BatchServeLimit(_) => Blame::Ignorable,
            ExecutedOutOfOrder { .. }
            | Guard(_)
            | Signing(_)
            | TipBelowStableCheckpoint { .. }
            | Validators(_)
            | Config(_) => Blame::Local,
        }
    }
}
