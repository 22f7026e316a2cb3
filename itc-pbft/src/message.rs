//! Wire messages between replicas, the digests they sign, and the certificates they carry.
//!
//! Every message is signed with the sender's Schnorr key over a digest domain-separated per
//! message kind ([`PRE_PREPARE_TAG`], [`PREPARE_TAG`], [`COMMIT_TAG`], [`CHECKPOINT_TAG`],
//! [`VIEW_CHANGE_TAG`], [`NEW_VIEW_TAG`], [`BATCH_REQUEST_TAG`]), so a signature on one kind can never be replayed as
//! another. Votes name their sender by **signer index** in the validator set of the height they
//! are about; a pre-prepare and a new-view are signed by the primary of their view, so they name
//! no sender.
//!
//! Encoding: one tag byte per [`Message`] variant, then the fields in declaration order
//! (integers big-endian, sequences varint-counted and bounded by the `MAX_*` constants here).
//! Decoding rejects trailing bytes, unknown tags and over-limit lengths.

use alloc::vec::Vec;

use itc_crypto::batch::BatchItem;
use itc_crypto::encoding::{write_varint, Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::hash::{DomainTag, Hash, TaggedHasher};
use itc_crypto::keys::Signature;
use itc_crypto::quorum::{QuorumCertificate, QuorumError, Threshold, ValidatorSet};

pub use crate::certificate::COMMIT_TAG;
use crate::certificate::{commit_digest, CommitCertificate};
use crate::error::CertError;
use crate::header::BlockHeader;
use crate::request::Batch;
use crate::sig::SigChecker;

/// Tag of the digest a pre-prepare signs.
pub const PRE_PREPARE_TAG: DomainTag = DomainTag::new(b"itc/pbft/pre-prepare/v1");
/// Tag of the digest a prepare vote signs.
pub const PREPARE_TAG: DomainTag = DomainTag::new(b"itc/pbft/prepare/v1");
/// Tag of the digest a checkpoint vote signs.
pub const CHECKPOINT_TAG: DomainTag = DomainTag::new(b"itc/pbft/checkpoint/v1");
/// Tag of the digest a view-change message signs.
pub const VIEW_CHANGE_TAG: DomainTag = DomainTag::new(b"itc/pbft/view-change/v1");
/// Tag of the digest a new-view message signs.
pub const NEW_VIEW_TAG: DomainTag = DomainTag::new(b"itc/pbft/new-view/v1");
/// Tag of the digest a batch request signs.
pub const BATCH_REQUEST_TAG: DomainTag = DomainTag::new(b"itc/pbft/batch-request/v1");

/// Most prepared certificates one view-change may carry (bounds the log window too).
pub const MAX_PREPARED_PER_VIEW_CHANGE: usize = 1024;
/// Most view-change messages one new-view may carry (one per validator).
pub const MAX_VIEW_CHANGES: usize = itc_crypto::quorum::MAX_VALIDATORS;

/// A validator's position in the (sorted) validator set: its signer index.
pub type ReplicaIndex = u16;

/// Signatures in certificates carried by messages (allocation is fine here).
pub type Signatures = Vec<Signature>;

/// The three ordering phases of PBFT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// The primary's proposal.
    PrePrepare,
    /// A backup's echo of the proposal.
    Prepare,
    /// A replica's vote that it is prepared; commit signatures form the certificate.
    Commit,
}

impl Phase {
    fn tag(self) -> DomainTag {
        match self {
            Phase::PrePrepare => PRE_PREPARE_TAG,
            Phase::Prepare => PREPARE_TAG,
            Phase::Commit => COMMIT_TAG,
        }
    }
}

impl Encode for Phase {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        let b: u8 = match self {
            Phase::PrePrepare => 0,
            Phase::Prepare => 1,
            Phase::Commit => 2,
        };
        w.write(&[b]);
    }
}

impl Decode for Phase {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.read_u8()? {
            0 => Ok(Phase::PrePrepare),
            1 => Ok(Phase::Prepare),
            2 => Ok(Phase::Commit),
            tag => Err(DecodeError::UnknownVariant {
                type_name: "Phase",
                tag: u64::from(tag),
            }),
        }
    }
}

/// The digest a `phase` vote on `header_hash` at `height` in `view` signs.
pub fn vote_digest(phase: Phase, view: u64, height: u64, header_hash: &Hash) -> Hash {
    if phase == Phase::Commit {
        return commit_digest(view, height, header_hash);
    }
    let mut h = TaggedHasher::new(phase.tag());
    h.update(&view.to_be_bytes())
        .update(&height.to_be_bytes())
        .update(header_hash.as_bytes());
    h.finalize()
}

/// The digest a checkpoint vote signs: the block hash and the state root after executing it.
pub fn checkpoint_digest(height: u64, block_hash: &Hash, state_root: &Hash) -> Hash {
    let mut h = TaggedHasher::new(CHECKPOINT_TAG);
    h.update(&height.to_be_bytes())
        .update(block_hash.as_bytes())
        .update(state_root.as_bytes());
    h.finalize()
}

/// Primary of `view` in a set of `n` validators: round robin over signer indices.
///
/// Weighted voting changes quorums, not leadership: every validator leads one view in `n`, so
/// a low-power validator cannot be starved of proposals and a heavy one cannot monopolise them.
pub fn primary_index(view: u64, n: usize) -> ReplicaIndex {
    let n = (n as u64).max(1);
    // n <= MAX_VALIDATORS, so the remainder fits in u16.
    (view % n) as ReplicaIndex
}

/// A `Prepare` or `Commit` vote (the phase is the [`Message`] variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vote {
    /// View the vote is cast in.
    pub view: u64,
    /// Height (PBFT sequence number) of the block.
    pub height: u64,
    /// Hash of the proposed header.
    pub header_hash: Hash,
    /// Signer index of the voter.
    pub sender: ReplicaIndex,
    /// Signature over [`vote_digest`].
    pub signature: Signature,
}

impl Vote {
    /// The digest this vote signs in `phase`.
    pub fn digest(&self, phase: Phase) -> Hash {
        vote_digest(phase, self.view, self.height, &self.header_hash)
    }
}

impl Encode for Vote {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.view.encode(w);
        self.height.encode(w);
        self.header_hash.encode(w);
        self.sender.encode(w);
        self.signature.encode(w);
    }
    fn encoded_len(&self) -> usize {
        8 + 8 + 32 + 2 + 64
    }
}

impl Decode for Vote {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Vote {
            view: u64::decode(r)?,
            height: u64::decode(r)?,
            header_hash: Hash::decode(r)?,
            sender: u16::decode(r)?,
            signature: Signature::decode(r)?,
        })
    }
}

/// The primary's signed proposal of `header` at `header.height` in `view` (without the batch,
/// which travels beside it in [`Message::PrePrepare`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrePrepare {
    /// View of the proposal (≥ `header.view`; greater when re-proposed after a view change).
    pub view: u64,
    /// The proposed header.
    pub header: BlockHeader,
    /// The primary's signature over [`vote_digest`]`(PrePrepare, view, height, header hash)`.
    pub signature: Signature,
}

impl PrePrepare {
    /// The height (sequence number) proposed.
    pub fn height(&self) -> u64 {
        self.header.height
    }

    /// The digest the primary signs.
    pub fn digest(&self) -> Hash {
        vote_digest(
            Phase::PrePrepare,
            self.view,
            self.header.height,
            &self.header.hash(),
        )
    }

    /// Checks the primary's signature against `set`.
    pub fn verify<const N: usize>(
        &self,
        set: &ValidatorSet<N>,
        stats: &mut SigChecker,
    ) -> Result<(), CertError> {
        self.verify_hashed(&self.header.hash(), set, stats)
    }

    /// [`PrePrepare::verify`] for a caller that already hashed the header.
    pub fn verify_hashed<const N: usize>(
        &self,
        header_hash: &Hash,
        set: &ValidatorSet<N>,
        stats: &mut SigChecker,
    ) -> Result<(), CertError> {
        let primary = primary_index(self.view, set.len());
        let v = set
            .get(usize::from(primary))
            .ok_or(CertError::UnknownSigner(primary))?;
        let digest = || {
            vote_digest(
                Phase::PrePrepare,
                self.view,
                self.header.height,
                header_hash,
            )
        };
        if stats.verify_remembered_lazy(&v.key, digest, &self.signature) {
            Ok(())
        } else {
            Err(CertError::BadSignature(primary))
        }
    }
}

impl Encode for PrePrepare {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.view.encode(w);
        self.header.encode(w);
        self.signature.encode(w);
    }
}

impl Decode for PrePrepare {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PrePrepare {
            view: u64::decode(r)?,
            header: BlockHeader::decode(r)?,
            signature: Signature::decode(r)?,
        })
    }
}

/// A replica's signed claim that it executed block `height` (hash `block_hash`) and reached
/// `state_root`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointVote {
    /// Checkpoint height (a multiple of the checkpoint interval).
    pub height: u64,
    /// Header hash of the block at `height`.
    pub block_hash: Hash,
    /// Application state root after executing that block.
    pub state_root: Hash,
    /// Signer index of the voter.
    pub sender: ReplicaIndex,
    /// Signature over [`checkpoint_digest`].
    pub signature: Signature,
}

impl CheckpointVote {
    /// The digest signed.
    pub fn digest(&self) -> Hash {
        checkpoint_digest(self.height, &self.block_hash, &self.state_root)
    }
}

impl Encode for CheckpointVote {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.height.encode(w);
        self.block_hash.encode(w);
        self.state_root.encode(w);
        self.sender.encode(w);
        self.signature.encode(w);
    }
}

impl Decode for CheckpointVote {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(CheckpointVote {
            height: u64::decode(r)?,
            block_hash: Hash::decode(r)?,
            state_root: Hash::decode(r)?,
            sender: u16::decode(r)?,
            signature: Signature::decode(r)?,
        })
    }
}

/// Checks that the signers of `qc` plus `extra_power` exceed 2/3 of `set`'s power, verifying
/// signatures strongest first and stopping as soon as the threshold is met.
pub(crate) fn verify_quorum<const N: usize>(
    qc: &QuorumCertificate<Signatures>,
    set: &ValidatorSet<N>,
    digest: &Hash,
    extra_power: u64,
    stats: &mut SigChecker,
) -> Result<(), CertError> {
    qc.check_shape(set).map_err(CertError::Quorum)?;
    let total = set.total_power();
    let claimed = set.power_of(qc.signers()).saturating_add(extra_power);
    if !Threshold::TwoThirds.is_met(claimed, total) {
        return Err(CertError::Quorum(QuorumError::InsufficientPower {
            have: claimed,
            need_above: Threshold::TwoThirds.bar(total),
        }));
    }
    let mut order: Vec<(u64, usize, &Signature)> = qc
        .iter()
        .map(|(i, s)| (set.get(i).map_or(0, |v| v.power), i, s))
        .collect();
    order.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    // Strongest signers first, only as many as the threshold needs; signatures verified
    // before cost nothing, the rest are checked together in one batch.
    let mut have = extra_power;
    let mut pending: Vec<(usize, BatchItem)> = Vec::new();
    for (power, index, sig) in order {
        if Threshold::TwoThirds.is_met(have, total) {
            break;
        }
        let key = set
            .get(index)
            .map(|v| v.key)
            .ok_or(CertError::UnknownSigner(index as ReplicaIndex))?;
        if !stats.is_remembered(&key, digest, sig) {
            pending.push((index, BatchItem::new(key, *digest, *sig)));
        }
        have = have.saturating_add(power);
    }
    let items: Vec<BatchItem> = pending.iter().map(|(_, item)| *item).collect();
    stats.verify_batch(&items).map_err(|first| {
        let index = pending.get(first).map_or(0, |(i, _)| *i);
        CertError::BadSignature(index as ReplicaIndex)
    })
}

/// A quorum of matching checkpoint votes: proof that block `height` is executed by enough
/// replicas that everything at or below it may be garbage-collected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointCertificate {
    /// Checkpoint height.
    pub height: u64,
    /// Header hash at `height`.
    pub block_hash: Hash,
    /// State root after executing `height`.
    pub state_root: Hash,
    /// The quorum's signatures over [`checkpoint_digest`].
    pub votes: QuorumCertificate<Signatures>,
}

impl CheckpointCertificate {
    /// The digest the votes sign.
    pub fn digest(&self) -> Hash {
        checkpoint_digest(self.height, &self.block_hash, &self.state_root)
    }

    /// Verifies the quorum against `set` (the set that certified block `height`).
    pub fn verify<const N: usize>(
        &self,
        set: &ValidatorSet<N>,
        stats: &mut SigChecker,
    ) -> Result<(), CertError> {
        verify_quorum(&self.votes, set, &self.digest(), 0, stats)
    }
}

impl Encode for CheckpointCertificate {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.height.encode(w);
        self.block_hash.encode(w);
        self.state_root.encode(w);
        self.votes.encode(w);
    }
}

impl Decode for CheckpointCertificate {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(CheckpointCertificate {
            height: u64::decode(r)?,
            block_hash: Hash::decode(r)?,
            state_root: Hash::decode(r)?,
            votes: QuorumCertificate::decode(r)?,
        })
    }
}

/// Proof that a header was prepared in `pre_prepare.view`: the primary's pre-prepare plus
/// prepares from backups such that primary and backups together hold more than 2/3 of the
/// power.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedCertificate {
    /// The primary's proposal.
    pub pre_prepare: PrePrepare,
    /// Backups' prepare signatures over `vote_digest(Prepare, view, height, header hash)`.
    pub prepares: QuorumCertificate<Signatures>,
}

impl PreparedCertificate {
    /// View in which the header was prepared.
    pub fn view(&self) -> u64 {
        self.pre_prepare.view
    }

    /// Height of the prepared header.
    pub fn height(&self) -> u64 {
        self.pre_prepare.header.height
    }

    /// Verifies the pre-prepare and the prepare quorum against `set`.
    pub fn verify<const N: usize>(
        &self,
        set: &ValidatorSet<N>,
        stats: &mut SigChecker,
    ) -> Result<(), CertError> {
        let pp = &self.pre_prepare;
        let primary = primary_index(pp.view, set.len());
        if self.prepares.signers().get(usize::from(primary)) {
            return Err(CertError::PrimaryPrepared);
        }
        let hash = pp.header.hash();
        pp.verify_hashed(&hash, set, stats)?;
        let primary_power = set.get(usize::from(primary)).map_or(0, |v| v.power);
        let digest = vote_digest(Phase::Prepare, pp.view, pp.header.height, &hash);
        verify_quorum(&self.prepares, set, &digest, primary_power, stats)
    }
}

impl Encode for PreparedCertificate {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.pre_prepare.encode(w);
        self.prepares.encode(w);
    }
}

impl Decode for PreparedCertificate {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PreparedCertificate {
            pre_prepare: PrePrepare::decode(r)?,
            prepares: QuorumCertificate::decode(r)?,
        })
    }
}

/// A replica's request to move to `new_view`, carrying its stable checkpoint proof and every
/// header it has prepared above it (PBFT's `⟨VIEW-CHANGE, v+1, n, C, P, i⟩`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewChange {
    /// The view the sender wants to move to.
    pub new_view: u64,
    /// The sender's stable checkpoint (`None`: genesis, height 0).
    pub checkpoint: Option<CheckpointCertificate>,
    /// Prepared certificates above the checkpoint, ascending height, one per height.
    pub prepared: Vec<PreparedCertificate>,
    /// Signer index of the sender.
    pub sender: ReplicaIndex,
    /// Signature over [`ViewChange::digest`].
    pub signature: Signature,
}

impl ViewChange {
    /// Height of the sender's stable checkpoint.
    pub fn checkpoint_height(&self) -> u64 {
        self.checkpoint.as_ref().map_or(0, |c| c.height)
    }

    fn encode_body<W: Writer + ?Sized>(&self, w: &mut W) {
        self.new_view.encode(w);
        self.checkpoint.encode(w);
        write_varint(w, self.prepared.len() as u64);
        for p in &self.prepared {
            p.encode(w);
        }
        self.sender.encode(w);
    }

    /// The digest the sender signs: everything but the signature.
    pub fn digest(&self) -> Hash {
        let mut h = TaggedHasher::new(VIEW_CHANGE_TAG);
        self.encode_body(&mut h);
        h.finalize()
    }
}

impl Encode for ViewChange {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.encode_body(w);
        self.signature.encode(w);
    }
}

impl Decode for ViewChange {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ViewChange {
            new_view: u64::decode(r)?,
            checkpoint: Option::decode(r)?,
            prepared: r.read_vec(MAX_PREPARED_PER_VIEW_CHANGE)?,
            sender: u16::decode(r)?,
            signature: Signature::decode(r)?,
        })
    }
}

/// The new primary's announcement of `view`: the quorum of view-changes it acted on and the
/// pre-prepares it derived from them (PBFT's `⟨NEW-VIEW, v+1, V, O⟩`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewView {
    /// The view being started.
    pub view: u64,
    /// View-change messages for `view` from validators holding more than 2/3 of the power.
    pub view_changes: Vec<ViewChange>,
    /// Re-proposals of prepared headers, ascending height, signed by the new primary.
    pub pre_prepares: Vec<PrePrepare>,
    /// The new primary's signature over [`NewView::digest`].
    pub signature: Signature,
}

impl NewView {
    fn encode_body<W: Writer + ?Sized>(&self, w: &mut W) {
        self.view.encode(w);
        write_varint(w, self.view_changes.len() as u64);
        for vc in &self.view_changes {
            vc.encode(w);
        }
        write_varint(w, self.pre_prepares.len() as u64);
        for pp in &self.pre_prepares {
            pp.encode(w);
        }
    }

    /// The digest the new primary signs: everything but the signature.
    pub fn digest(&self) -> Hash {
        let mut h = TaggedHasher::new(NEW_VIEW_TAG);
        self.encode_body(&mut h);
        h.finalize()
    }
}

impl Encode for NewView {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.encode_body(w);
        self.signature.encode(w);
    }
}

impl Decode for NewView {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(NewView {
            view: u64::decode(r)?,
            view_changes: r.read_vec(MAX_VIEW_CHANGES)?,
            pre_prepares: r.read_vec(MAX_PREPARED_PER_VIEW_CHANGE)?,
            signature: Signature::decode(r)?,
        })
    }
}

/// A replica's signed request for the batch of a header it holds without its batch (a
/// re-proposal after a view change, or a header a commit quorum certified): see
/// [`crate::availability`]. Signed so that nobody can spend another validator's serve budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchRequest {
    /// Height of the header.
    pub height: u64,
    /// Hash of the header whose batch is wanted.
    pub header_hash: Hash,
    /// Signer index of the requester (in the set of `height`).
    pub sender: ReplicaIndex,
    /// Signature over [`BatchRequest::digest`].
    pub signature: Signature,
}

impl BatchRequest {
    /// The digest the requester signs.
    pub fn digest(&self) -> Hash {
        let mut h = TaggedHasher::new(BATCH_REQUEST_TAG);
        h.update(&self.height.to_be_bytes())
            .update(self.header_hash.as_bytes())
            .update(&self.sender.to_be_bytes());
        h.finalize()
    }
}

impl Encode for BatchRequest {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.height.encode(w);
        self.header_hash.encode(w);
        self.sender.encode(w);
        self.signature.encode(w);
    }
    fn encoded_len(&self) -> usize {
        8 + 32 + 2 + 64
    }
}

impl Decode for BatchRequest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BatchRequest {
            height: u64::decode(r)?,
            header_hash: Hash::decode(r)?,
            sender: u16::decode(r)?,
            signature: Signature::decode(r)?,
        })
    }
}

/// Everything replicas send one another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// The primary's proposal and the batch its header commits to.
    PrePrepare {
        /// Signed proposal.
        pre_prepare: PrePrepare,
        /// The requests, in order.
        batch: Batch,
    },
    /// A backup accepted a proposal.
    Prepare(Vote),
    /// A replica is prepared; the signature is a commit-certificate share.
    Commit(Vote),
    /// A replica executed a checkpoint block.
    Checkpoint(CheckpointVote),
    /// A replica wants a new view.
    ViewChange(ViewChange),
    /// The new primary starts a view.
    NewView(NewView),
    /// A replica asks for the batch of a header (see [`crate::availability`]).
    BatchRequest(BatchRequest),
    /// The answer to a [`Message::BatchRequest`]: the header and its batch. Unsigned: the
    /// requester checks the header is one it asked for and the batch matches its batch root.
    BatchResponse {
        /// The header.
        header: BlockHeader,
        /// The requests its `batch_root` commits to.
        batch: Batch,
    },
}

impl Message {
    /// The signer index the message claims to come from (the primary's for pre-prepares and
    /// new-views, which depends on the validator-set size `n`; [`ReplicaIndex::MAX`] for a
    /// batch response, which is unsigned).
    pub fn claimed_sender(&self, n: usize) -> ReplicaIndex {
        match self {
            Message::PrePrepare { pre_prepare, .. } => primary_index(pre_prepare.view, n),
            Message::Prepare(v) | Message::Commit(v) => v.sender,
            Message::Checkpoint(c) => c.sender,
            Message::ViewChange(vc) => vc.sender,
            Message::NewView(nv) => primary_index(nv.view, n),
            Message::BatchRequest(r) => r.sender,
            // Unsigned and claims no sender: the index no set holds.
            Message::BatchResponse { .. } => ReplicaIndex::MAX,
        }
    }

    /// A short name of the kind, for logs and statistics.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::PrePrepare { .. } => "pre-prepare",
            Message::Prepare(_) => "prepare",
            Message::Commit(_) => "commit",
            Message::Checkpoint(_) => "checkpoint",
            Message::ViewChange(_) => "view-change",
            Message::NewView(_) => "new-view",
            Message::BatchRequest(_) => "batch-request",
            Message::BatchResponse { .. } => "batch-response",
        }
    }
}

impl Encode for Message {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        match self {
            Message::PrePrepare { pre_prepare, batch } => {
                w.write(&[0]);
                pre_prepare.encode(w);
                batch.encode(w);
            }
            Message::Prepare(v) => {
                w.write(&[1]);
                v.encode(w);
            }
            Message::Commit(v) => {
                w.write(&[2]);
                v.encode(w);
            }
            Message::Checkpoint(c) => {
                w.write(&[3]);
                c.encode(w);
            }
            Message::ViewChange(vc) => {
                w.write(&[4]);
                vc.encode(w);
            }
            Message::NewView(nv) => {
                w.write(&[5]);
                nv.encode(w);
            }
            Message::BatchRequest(req) => {
                w.write(&[6]);
                req.encode(w);
            }
            Message::BatchResponse { header, batch } => {
                w.write(&[7]);
                header.encode(w);
                batch.encode(w);
            }
        }
    }
}

impl Decode for Message {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.read_u8()? {
            0 => Ok(Message::PrePrepare {
                pre_prepare: PrePrepare::decode(r)?,
                batch: Batch::decode(r)?,
            }),
            1 => Ok(Message::Prepare(Vote::decode(r)?)),
            2 => Ok(Message::Commit(Vote::decode(r)?)),
            3 => Ok(Message::Checkpoint(CheckpointVote::decode(r)?)),
            4 => Ok(Message::ViewChange(ViewChange::decode(r)?)),
            5 => Ok(Message::NewView(NewView::decode(r)?)),
            6 => Ok(Message::BatchRequest(BatchRequest::decode(r)?)),
            7 => Ok(Message::BatchResponse {
                header: BlockHeader::decode(r)?,
                batch: Batch::decode(r)?,
            }),
            tag => Err(DecodeError::UnknownVariant {
                type_name: "Message",
                tag: u64::from(tag),
            }),
        }
    }
}

/// A committed block: header, batch and the commit certificate that proves it. This is what
/// a replica hands the application, what catch-up transfers, and what `itc-spv` checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertifiedBlock {
    /// The header.
    pub header: BlockHeader,
    /// The requests the header's `batch_root` commits to.
    pub batch: Batch,
    /// The quorum's commit signatures over the header.
    pub certificate: CommitCertificate<Signatures>,
}

impl Encode for CertifiedBlock {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.header.encode(w);
        self.batch.encode(w);
        self.certificate.encode(w);
    }
}

impl Decode for CertifiedBlock {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(CertifiedBlock {
            header: BlockHeader::decode(r)?,
            batch: Batch::decode(r)?,
            certificate: CommitCertificate::decode(r)?,
        })
    }
}
