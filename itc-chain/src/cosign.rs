//! Co-signed system transactions: `SetValidators`, `RegisterVendor`, `AnchorDag` and
//! `SettlePlan` need signatures of more than 2/3 of the validator set's power, and each
//! validator signs **from its own view, with its own key**. No process ever holds another
//! validator's key.
//!
//! The flow, one [`CoSigner`] per validator:
//!
//! 1. A validator proposes ([`CoSigner::propose`]): its [`CosignPolicy`] reviews the call, it
//!    signs, and broadcasts a [`CosignMessage::Propose`] — the [`SystemProposal`] with its own
//!    [`CoSignature`].
//! 2. Every validator reviews the proposal with its own policy ("sign an `AnchorDag` only for a
//!    snapshot my tangle holds", "a `SettlePlan` only if it equals the settlement I computed",
//!    "`SetValidators` / `RegisterVendor` only if my operator approved it"), and if it agrees
//!    broadcasts its [`CosignMessage::Share`].
//! 3. Shares are collected; once the verified signers hold more than 2/3 of the power, the
//!    certified `itc_ledger` transaction comes out — once per collector — for submission.
//!
//! A co-signature is a BIP340 signature over `SystemCall::digest(chain_id)` (tag
//! `itc/ledger/system-tx/v1`), exactly what the ledger's certificate check verifies, so shares
//! collected here can never certify anything but that call on that chain. Shares are verified
//! on arrival; a forged share, a share from a key outside the set, a duplicate, or one for a
//! proposal already certified is refused with a typed [`CosignError`] (with its
//! [`Blame`]). Pending proposals are bounded per proposer, early shares in a
//! small per-signer buffer.
//!
//! ```
//! use itc_chain::cosign::{Approvals, CoSigner, CosignConfig, CosignMessage, SystemProposal};
//! use itc_chain::testkit::{set_of, validator_key};
//! use itc_ledger::{SystemCall, VendorId, VendorRecord};
//!
//! let keys: Vec<_> = (0..4).map(validator_key).collect();
//! let set = set_of(&keys);
//! let call = SystemCall::RegisterVendor {
//!     vendor: VendorId(9),
//!     record: VendorRecord { registry_key: keys[0].public_key(), firmware_key: keys[1].public_key() },
//! };
//! let proposal = SystemProposal::new(7, call.clone()).unwrap();
//! // Each validator's operator approved the admission; each validator holds only its own key.
//! let mut approvals = Approvals::new();
//! approvals.approve(7, &call);
//! let mut signers: Vec<CoSigner<_>> = keys
//!     .iter()
//!     .map(|k| CoSigner::new(7, k.clone(), set.clone(), CosignConfig::default()))
//!     .collect();
//! let propose = signers[0].propose(proposal, &mut approvals.clone()).unwrap();
//! let mut certified = None;
//! for v in 1..3 {
//!     let out = signers[v].handle(propose.clone(), &mut approvals.clone()).unwrap();
//!     let share = out.broadcast.unwrap();
//!     certified = certified.or(signers[0].handle(share, &mut approvals.clone()).unwrap().certified);
//! }
//! let tx = certified.expect("three of four signed");
//! assert!(matches!(tx, itc_ledger::SignedTransaction::System(ref s) if s.verify(7, &set).is_ok()));
//! ```

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;

use itc_crypto::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::quorum::{QuorumCertificate, ValidatorSet};
use itc_crypto::{Blame, Hash, PublicKey, Signature, Signer, Threshold};
use itc_dag::{DagSnapshot, TangleStore};
use itc_ledger::system::{Payouts, SystemTx};
use itc_ledger::{SignedTransaction, SystemCall};

/// Encoding version of [`SystemProposal`], [`CoSignature`] and [`CosignMessage`].
pub const COSIGN_VERSION: u8 = 1;

/// A system call put to the validators for co-signing, with what they need to judge it (for an
/// `AnchorDag`, the DAG snapshot itself: the call carries only its root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemProposal {
    chain_id: u32,
    call: SystemCall,
    dag_snapshot: Option<Box<DagSnapshot>>,
}

impl SystemProposal {
    /// A proposal for any call but `AnchorDag` (use [`SystemProposal::anchor`], which carries
    /// the snapshot validators check).
    pub fn new(chain_id: u32, call: SystemCall) -> Result<Self, CosignError> {
        if matches!(call, SystemCall::AnchorDag { .. }) {
            return Err(CosignError::AnchorWithoutSnapshot);
        }
        Ok(SystemProposal {
            chain_id,
            call,
            dag_snapshot: None,
        })
    }

    /// The proposal to anchor `snapshot`: `AnchorDag { sequence: snapshot.snapshot_seq,
    /// snapshot_root: snapshot.root() }` — the DAG snapshot → `AnchorDag` seam.
    pub fn anchor(chain_id: u32, snapshot: DagSnapshot) -> Self {
        SystemProposal {
            chain_id,
            call: SystemCall::AnchorDag {
                sequence: snapshot.snapshot_seq,
                snapshot_root: snapshot.root(),
            },
            dag_snapshot: Some(Box::new(snapshot)),
        }
    }

    /// The chain it is for.
    pub fn chain_id(&self) -> u32 {
        self.chain_id
    }

    /// The call.
    pub fn call(&self) -> &SystemCall {
        &self.call
    }

    /// The DAG snapshot of an `AnchorDag` proposal (its root and sequence match the call).
    pub fn dag_snapshot(&self) -> Option<&DagSnapshot> {
        self.dag_snapshot.as_deref()
    }

    /// What every validator signs: `SystemCall::digest(chain_id)`.
    pub fn digest(&self) -> Hash {
        self.call.digest(self.chain_id)
    }
}

impl Encode for SystemProposal {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        w.write(&[COSIGN_VERSION]);
        self.chain_id.encode(w);
        self.call.encode(w);
        // The snapshot is present exactly for `AnchorDag`: no flag needed.
        if let Some(s) = &self.dag_snapshot {
            s.encode(w);
        }
    }
}

impl Decode for SystemProposal {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_version(r, "SystemProposal")?;
        let chain_id = u32::decode(r)?;
        let call = SystemCall::decode(r)?;
        let dag_snapshot = match &call {
            SystemCall::AnchorDag {
                sequence,
                snapshot_root,
            } => {
                let s = DagSnapshot::decode(r)?;
                if s.snapshot_seq != *sequence || s.root() != *snapshot_root {
                    return Err(DecodeError::NonCanonical {
                        type_name: "SystemProposal",
                    });
                }
                Some(Box::new(s))
            }
            _ => None,
        };
        Ok(SystemProposal {
            chain_id,
            call,
            dag_snapshot,
        })
    }
}

fn read_version(r: &mut Reader<'_>, type_name: &'static str) -> Result<(), DecodeError> {
    match r.read_u8()? {
        COSIGN_VERSION => Ok(()),
        found => Err(DecodeError::UnsupportedVersion {
            type_name,
            found: u64::from(found),
        }),
    }
}

/// One validator's signature on a proposal, made with its own key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoSignature {
    digest: Hash,
    signer: PublicKey,
    signature: Signature,
}

impl CoSignature {
    /// Signs `proposal` with `key`.
    pub fn sign<K: Signer + ?Sized>(
        proposal: &SystemProposal,
        key: &K,
    ) -> Result<Self, CosignError> {
        let digest = proposal.digest();
        let signature = key
            .sign_digest(&digest)
            .map_err(|_| CosignError::SigningFailed)?;
        Ok(CoSignature {
            digest,
            signer: key.public_key(),
            signature,
        })
    }

    /// The proposal digest it signs.
    pub fn digest(&self) -> Hash {
        self.digest
    }

    /// Who signed.
    pub fn signer(&self) -> PublicKey {
        self.signer
    }

    /// The signature.
    pub fn signature(&self) -> Signature {
        self.signature
    }

    /// True if the signature verifies for the signer over the digest.
    pub fn is_valid(&self) -> bool {
        self.signer
            .verify_digest(&self.digest, &self.signature)
            .is_ok()
    }
}

impl Encode for CoSignature {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        w.write(&[COSIGN_VERSION]);
        self.digest.encode(w);
        self.signer.encode(w);
        self.signature.encode(w);
    }
}

impl Decode for CoSignature {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_version(r, "CoSignature")?;
        Ok(CoSignature {
            digest: Hash::decode(r)?,
            signer: PublicKey::decode(r)?,
            signature: Signature::decode(r)?,
        })
    }
}

/// What validators send each other about system transactions.
// Short-lived (decoded, handled, dropped); a proposal is a few hundred bytes (its large parts,
// a validator set or a DAG snapshot, are already boxed), so boxing it would cost more than it
// saves.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CosignMessage {
    /// A proposal and its proposer's own share.
    Propose {
        /// The proposal.
        proposal: SystemProposal,
        /// The proposer's co-signature on it.
        share: CoSignature,
    },
    /// A validator's co-signature.
    Share(CoSignature),
}

impl Encode for CosignMessage {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        match self {
            CosignMessage::Propose { proposal, share } => {
                w.write(&[0]);
                proposal.encode(w);
                share.encode(w);
            }
            CosignMessage::Share(share) => {
                w.write(&[1]);
                share.encode(w);
            }
        }
    }
}

impl Decode for CosignMessage {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.read_u8()? {
            0 => CosignMessage::Propose {
                proposal: SystemProposal::decode(r)?,
                share: CoSignature::decode(r)?,
            },
            1 => CosignMessage::Share(CoSignature::decode(r)?),
            tag => {
                return Err(DecodeError::UnknownVariant {
                    type_name: "CosignMessage",
                    tag: u64::from(tag),
                })
            }
        })
    }
}

/// Why a validator's policy refused to co-sign (judged from its own view).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// This validator's tangle would not accept the snapshot as its next anchor (it lacks a
    /// transaction, is at another sequence, or disagrees on the snapshot's contents): the
    /// tangle's own verdict from [`itc_dag::Tangle::check_snapshot_proposal`].
    #[error("this tangle would not anchor the snapshot: {0}")]
    Anchor(itc_dag::DagError),
    /// This validator computed no settlement for the plan.
    #[error("no settlement computed here for plan {plan_id}")]
    SettlementUnknown {
        /// The plan.
        plan_id: Hash,
    },
    /// The proposed payouts differ from the settlement computed here.
    #[error("payouts for plan {plan_id} differ from the settlement computed here")]
    SettlementDiffers {
        /// The plan.
        plan_id: Hash,
    },
    /// The operator did not approve this call.
    #[error("the operator has not approved call {digest}")]
    NotApproved {
        /// The call's digest.
        digest: Hash,
    },
    /// This policy never signs this kind of call.
    #[error("this validator does not co-sign this kind of call")]
    NotHandled,
}

impl Refusal {
    /// Who must act: proposing a settlement that differs from the rule's result is a peer's
    /// fault ([`Blame::Peer`]); everything else may be an honest difference of timing or of
    /// operator decisions ([`Blame::Ignorable`]).
    pub fn blame(&self) -> Blame {
        match self {
            Refusal::SettlementDiffers { .. } => Blame::Peer,
            // A tangle that lags (or is ahead) is an honest difference of timing; even a
            // snapshot that contradicts this tangle may come from an honest proposer whose
            // tangle has not converged yet, so it is never scored.
            Refusal::Anchor(_)
            | Refusal::SettlementUnknown { .. }
            | Refusal::NotApproved { .. }
            | Refusal::NotHandled => Blame::Ignorable,
        }
    }
}

/// Why a co-signing input was refused (nothing changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CosignError {
    /// A proposal for another chain.
    #[error("proposal for chain {found}, this is chain {expected}")]
    WrongChain {
        /// This chain.
        expected: u32,
        /// The proposal's.
        found: u32,
    },
    /// An `AnchorDag` proposal must carry its snapshot ([`SystemProposal::anchor`]).
    #[error("an AnchorDag proposal must carry its snapshot")]
    AnchorWithoutSnapshot,
    /// A share signed by a key outside the validator set.
    #[error("share from {signer}, not a validator")]
    NotAValidator {
        /// The signer.
        signer: PublicKey,
    },
    /// A share whose signature does not verify.
    #[error("forged share from {signer}")]
    ForgedShare {
        /// The claimed signer.
        signer: PublicKey,
    },
    /// A proposal whose proposer share signs another digest.
    #[error("proposer share signs {found}, the proposal is {expected}")]
    ShareMismatch {
        /// The proposal's digest.
        expected: Hash,
        /// The share's.
        found: Hash,
    },
    /// This signer's share is already counted.
    #[error("duplicate share from {signer}")]
    DuplicateShare {
        /// The signer.
        signer: PublicKey,
    },
    /// The proposal is already certified.
    #[error("proposal {digest} is already certified")]
    AlreadyCertified {
        /// The proposal.
        digest: Hash,
    },
    /// The proposer has as many proposals pending as it may.
    #[error("{proposer} has too many pending proposals")]
    TooManyPending {
        /// The proposer.
        proposer: PublicKey,
    },
    /// This validator's policy refused to co-sign.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// This validator's key failed to sign.
    #[error("signing failed")]
    SigningFailed,
}

impl CosignError {
    /// Who must act.
    pub fn blame(&self) -> Blame {
        match self {
            CosignError::WrongChain { .. }
            | CosignError::NotAValidator { .. }
            | CosignError::ForgedShare { .. }
            | CosignError::ShareMismatch { .. }
            | CosignError::TooManyPending { .. } => Blame::Peer,
            CosignError::DuplicateShare { .. } | CosignError::AlreadyCertified { .. } => {
                Blame::Ignorable
            }
            CosignError::Refused(r) => r.blame(),
            CosignError::AnchorWithoutSnapshot | CosignError::SigningFailed => Blame::Local,
        }
    }
}

/// A validator's own judgement of a proposal: implement it over what the validator knows.
pub trait CosignPolicy {
    /// `Ok(())` to co-sign, or why not.
    fn review(&mut self, proposal: &SystemProposal) -> Result<(), Refusal>;
}

/// The anchor rule of a validator's policy: sign an `AnchorDag` only for a snapshot this
/// validator's own tangle would accept as its next anchor (itc-dag decides; nothing is written).
pub fn tangle_holds_snapshot<S: TangleStore>(
    tangle: &itc_dag::Tangle<S>,
    snapshot: &DagSnapshot,
) -> Result<(), Refusal> {
    tangle
        .check_snapshot_proposal(snapshot)
        .map_err(Refusal::Anchor)
}

/// Calls the operator approved, by digest (for `SetValidators` and `RegisterVendor`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Approvals {
    digests: BTreeSet<Hash>,
}

impl Approvals {
    /// None approved.
    pub fn new() -> Self {
        Self::default()
    }

    /// Approves `call` on chain `chain_id`.
    pub fn approve(&mut self, chain_id: u32, call: &SystemCall) {
        self.digests.insert(call.digest(chain_id));
    }

    /// Withdraws an approval.
    pub fn revoke(&mut self, chain_id: u32, call: &SystemCall) {
        self.digests.remove(&call.digest(chain_id));
    }

    /// True if approved.
    pub fn is_approved(&self, digest: &Hash) -> bool {
        self.digests.contains(digest)
    }
}

impl CosignPolicy for Approvals {
    /// Signs only what the operator approved, whatever its kind.
    fn review(&mut self, proposal: &SystemProposal) -> Result<(), Refusal> {
        let digest = proposal.digest();
        if self.is_approved(&digest) {
            Ok(())
        } else {
            Err(Refusal::NotApproved { digest })
        }
    }
}

/// The policy a validator wires from its own view: anchors its tangle holds, settlements it
/// computed itself, and operator-approved set changes and vendor admissions.
#[derive(Debug)]
pub struct ValidatorPolicy<'a, S: TangleStore> {
    /// The validator's tangle (no tangle: never sign an anchor).
    pub tangle: Option<&'a itc_dag::Tangle<S>>,
    /// Settlements this validator computed, by plan id (the chaincode rule's result).
    pub settlements: &'a BTreeMap<Hash, Payouts>,
    /// What the operator approved.
    pub approvals: &'a Approvals,
}

impl<S: TangleStore> CosignPolicy for ValidatorPolicy<'_, S> {
    fn review(&mut self, proposal: &SystemProposal) -> Result<(), Refusal> {
        match proposal.call() {
            SystemCall::AnchorDag { .. } => match (self.tangle, proposal.dag_snapshot()) {
                (Some(tangle), Some(snapshot)) => tangle_holds_snapshot(tangle, snapshot),
                _ => Err(Refusal::NotHandled),
            },
            SystemCall::SettlePlan { plan_id, payouts } => match self.settlements.get(plan_id) {
                None => Err(Refusal::SettlementUnknown { plan_id: *plan_id }),
                Some(mine) if mine == payouts => Ok(()),
                Some(_) => Err(Refusal::SettlementDiffers { plan_id: *plan_id }),
            },
            SystemCall::SetValidators { .. } | SystemCall::RegisterVendor { .. } => {
                let digest = proposal.digest();
                if self.approvals.is_approved(&digest) {
                    Ok(())
                } else {
                    Err(Refusal::NotApproved { digest })
                }
            }
        }
    }
}

/// Bounds of a [`CoSigner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CosignConfig {
    /// Most proposals one proposer may have pending here.
    pub max_pending_per_proposer: usize,
    /// Most early shares (for proposals not seen yet) kept per signer.
    pub max_early_shares_per_signer: usize,
}

impl Default for CosignConfig {
    fn default() -> Self {
        CosignConfig {
            max_pending_per_proposer: 4,
            max_early_shares_per_signer: 4,
        }
    }
}

/// What one co-signing input produced: at most a message to broadcast and a certified
/// transaction to submit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct CosignOutput {
    /// Broadcast to the other validators (this validator's share).
    pub broadcast: Option<CosignMessage>,
    /// The certified transaction, produced once, when the quorum is reached here.
    pub certified: Option<SignedTransaction>,
}

#[derive(Debug, Clone)]
struct Pending {
    proposal: SystemProposal,
    proposer: PublicKey,
    certificate: QuorumCertificate<Vec<Signature>>,
    power: u64,
    certified: bool,
}

/// One validator's co-signing state: its own key, the set that certifies system transactions
/// (the ledger's current set), pending proposals and early shares. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct CoSigner<K: Signer> {
    chain_id: u32,
    key: K,
    set: Box<ValidatorSet>,
    config: CosignConfig,
    pending: BTreeMap<Hash, Pending>,
    early: BTreeMap<PublicKey, VecDeque<CoSignature>>,
}

impl<K: Signer> CoSigner<K> {
    /// A co-signer for chain `chain_id` holding this validator's own `key`; `set` is the
    /// ledger's current validator set.
    pub fn new(chain_id: u32, key: K, set: ValidatorSet, config: CosignConfig) -> Self {
        CoSigner {
            chain_id,
            key,
            set: Box::new(set),
            config,
            pending: BTreeMap::new(),
            early: BTreeMap::new(),
        }
    }

    /// The ledger's set changed (a `SetValidators` executed): pending certificates answered to
    /// the old set, so they are dropped; propose again under the new one.
    pub fn set_validators(&mut self, set: ValidatorSet) {
        *self.set = set;
        self.pending.clear();
        self.early.clear();
    }

    /// Forgets a proposal (its call executed, or it is abandoned).
    pub fn forget(&mut self, digest: &Hash) {
        self.pending.remove(digest);
    }

    /// Number of pending proposals.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The voting power whose shares are counted for `digest`.
    pub fn collected_power(&self, digest: &Hash) -> Option<u64> {
        self.pending.get(digest).map(|p| p.power)
    }

    /// Proposes `proposal`: reviews it with `policy`, signs it, and returns the
    /// [`CosignMessage::Propose`] to broadcast.
    pub fn propose<P: CosignPolicy + ?Sized>(
        &mut self,
        proposal: SystemProposal,
        policy: &mut P,
    ) -> Result<CosignMessage, CosignError> {
        let share = CoSignature::sign(&proposal, &self.key)?;
        let out = self.handle_proposal(proposal.clone(), share, policy, false)?;
        debug_assert!(out.broadcast.is_none());
        Ok(CosignMessage::Propose { proposal, share })
    }

    /// Handles a message from another validator.
    pub fn handle<P: CosignPolicy + ?Sized>(
        &mut self,
        message: CosignMessage,
        policy: &mut P,
    ) -> Result<CosignOutput, CosignError> {
        match message {
            CosignMessage::Propose { proposal, share } => {
                self.handle_proposal(proposal, share, policy, true)
            }
            CosignMessage::Share(share) => self.handle_share(share),
        }
    }

    /// Checks a share's signer and signature; returns the signer's index and power.
    fn check_share(&self, share: &CoSignature) -> Result<(usize, u64), CosignError> {
        let signer = share.signer;
        let index = self
            .set
            .index_of(&signer)
            .ok_or(CosignError::NotAValidator { signer })?;
        if !share.is_valid() {
            return Err(CosignError::ForgedShare { signer });
        }
        let power = self.set.get(index).map_or(0, |v| v.power);
        Ok((index, power))
    }

    fn handle_proposal<P: CosignPolicy + ?Sized>(
        &mut self,
        proposal: SystemProposal,
        share: CoSignature,
        policy: &mut P,
        sign_own: bool,
    ) -> Result<CosignOutput, CosignError> {
        if proposal.chain_id != self.chain_id {
            return Err(CosignError::WrongChain {
                expected: self.chain_id,
                found: proposal.chain_id,
            });
        }
        if matches!(proposal.call, SystemCall::AnchorDag { .. }) && proposal.dag_snapshot.is_none()
        {
            return Err(CosignError::AnchorWithoutSnapshot);
        }
        let digest = proposal.digest();
        if share.digest != digest {
            return Err(CosignError::ShareMismatch {
                expected: digest,
                found: share.digest,
            });
        }
        self.check_share(&share)?;
        if self.pending.contains_key(&digest) {
            // Already reviewed (and signed if agreed): the proposer's share is just a share.
            return self.handle_share(share);
        }
        let proposer = share.signer;
        let by_proposer = self
            .pending
            .values()
            .filter(|p| p.proposer == proposer)
            .count();
        if by_proposer >= self.config.max_pending_per_proposer {
            return Err(CosignError::TooManyPending { proposer });
        }
        policy.review(&proposal).map_err(CosignError::Refused)?;
        let own = if sign_own {
            Some(CoSignature::sign(&proposal, &self.key)?)
        } else {
            None
        };
        // ---- accepted: record it with every share known so far ----
        self.pending.insert(
            digest,
            Pending {
                proposal,
                proposer,
                certificate: QuorumCertificate::new(),
                power: 0,
                certified: false,
            },
        );
        let mut certified = None;
        let mut shares: Vec<CoSignature> = alloc::vec![share];
        shares.extend(own);
        for queue in self.early.values_mut() {
            if let Some(i) = queue.iter().position(|s| s.digest == digest) {
                shares.extend(queue.remove(i));
            }
        }
        self.early.retain(|_, q| !q.is_empty());
        for s in shares {
            // Early shares were verified on arrival; a duplicate is simply not counted twice.
            if let Ok(Some(tx)) = self.count(&digest, &s) {
                certified = Some(tx);
            }
        }
        Ok(CosignOutput {
            broadcast: own.map(CosignMessage::Share),
            certified,
        })
    }

    fn handle_share(&mut self, share: CoSignature) -> Result<CosignOutput, CosignError> {
        self.check_share(&share)?;
        if !self.pending.contains_key(&share.digest) {
            // An early share: keep a few per signer until the proposal arrives.
            let queue = self.early.entry(share.signer).or_default();
            if !queue.contains(&share) {
                queue.push_back(share);
                while queue.len() > self.config.max_early_shares_per_signer.max(1) {
                    queue.pop_front();
                }
            }
            return Ok(CosignOutput::default());
        }
        let certified = self.count(&share.digest, &share)?;
        Ok(CosignOutput {
            broadcast: None,
            certified,
        })
    }

    /// Counts a verified share; returns the certified transaction the first time the quorum
    /// is reached.
    fn count(
        &mut self,
        digest: &Hash,
        share: &CoSignature,
    ) -> Result<Option<SignedTransaction>, CosignError> {
        let (index, power) = self.check_share(share)?;
        let total = self.set.total_power();
        let Some(p) = self.pending.get_mut(digest) else {
            return Ok(None);
        };
        if p.certified {
            return Err(CosignError::AlreadyCertified { digest: *digest });
        }
        if p.certificate.signers().get(index) {
            return Err(CosignError::DuplicateShare {
                signer: share.signer,
            });
        }
        p.certificate
            .insert(index, share.signature)
            .map_err(|_| CosignError::DuplicateShare {
                signer: share.signer,
            })?;
        p.power = p.power.saturating_add(power);
        if !Threshold::TwoThirds.is_met(p.power, total) {
            return Ok(None);
        }
        p.certified = true;
        let tx = SystemTx {
            call: p.proposal.call.clone(),
            certificate: p.certificate.clone(),
        };
        debug_assert!(tx.verify(self.chain_id, &self.set).is_ok());
        Ok(Some(SignedTransaction::System(tx)))
    }
}
