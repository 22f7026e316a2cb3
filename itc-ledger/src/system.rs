//! System transactions, authorised by the current validator set, and the transaction envelope.
//!
//! Changes no single key may make — the validator set, DAG anchors, vendor registrations,
//! chaincode payouts — carry a [`QuorumCertificate`]: signatures of validators holding more
//! than 2/3 of the current set's power over `hash_encoded(SYSTEM_TX_TAG, chain_id ‖ call)`.
//! Each call carries something that makes a replay fail (an epoch, a strictly increasing
//! sequence, an id that can be used once).

use alloc::boxed::Box;
use alloc::vec::Vec;

use itc_crypto::encoding::{write_varint, Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::hash::hash_encoded;
use itc_crypto::quorum::{QuorumCertificate, QuorumError, ValidatorSet};
use itc_crypto::{Address, Blame, DomainTag, Hash, SecretKey, Signature, Signer, TaggedHasher};

use crate::device::{VendorId, VendorRecord};
use crate::error::TxError;
use crate::tx::SignedAccountTx;

/// Tag of a system call's certified digest.
pub const SYSTEM_TX_TAG: DomainTag = DomainTag::new(b"itc/ledger/system-tx/v1");
/// Tag of [`SignedTransaction::id`].
pub const TX_ID_TAG: DomainTag = DomainTag::new(b"itc/ledger/tx-id/v1");
/// Most payees one settlement pays.
pub const MAX_PAYOUTS: usize = 1024;

/// The certificate type system transactions carry.
pub type Certificate = QuorumCertificate<Vec<Signature>>;

/// One payee of a plan settlement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Payout {
    /// Who is paid.
    pub to: Address,
    /// Base units (> 0).
    pub amount: u64,
}

/// A settlement's payees: sorted by address, each once, none zero — one encoding per list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Payouts(Vec<Payout>);

impl Payouts {
    /// Validates and sorts `(address, amount)` pairs.
    ///
    /// ```
    /// use itc_crypto::Address;
    /// use itc_ledger::system::Payouts;
    /// let p = Payouts::new([(Address([2; 20]), 5), (Address([1; 20]), 7)]).unwrap();
    /// assert_eq!(p.total(), Some(12));
    /// assert!(Payouts::new([(Address([1; 20]), 5), (Address([1; 20]), 7)]).is_err());
    /// ```
    pub fn new(entries: impl IntoIterator<Item = (Address, u64)>) -> Result<Self, TxError> {
        let mut v: Vec<Payout> = Vec::new();
        for (to, amount) in entries {
            if v.len() >= MAX_PAYOUTS {
                return Err(TxError::TooManyPayouts);
            }
            if amount == 0 {
                return Err(TxError::ZeroPayout(to));
            }
            v.push(Payout { to, amount });
        }
        v.sort_unstable();
        if let Some(w) = v
            .windows(2)
            .find(|w| w.first().map(|p| p.to) == w.get(1).map(|p| p.to))
        {
            if let Some(p) = w.first() {
                return Err(TxError::DuplicatePayee(p.to));
            }
        }
        Ok(Payouts(v))
    }

    /// The payees in address order.
    pub fn as_slice(&self) -> &[Payout] {
        &self.0
    }

    /// The sum, or `None` on overflow.
    pub fn total(&self) -> Option<u64> {
        self.0
            .iter()
            .try_fold(0u64, |acc, p| acc.checked_add(p.amount))
    }
}

impl Encode for Payouts {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        write_varint(w, self.0.len() as u64);
        for p in &self.0 {
            p.to.encode(w);
            p.amount.encode(w);
        }
    }
}

impl Decode for Payouts {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.read_count(MAX_PAYOUTS, 28)?;
        let mut v: Vec<Payout> = Vec::with_capacity(n);
        for _ in 0..n {
            let p = Payout {
                to: Address::decode(r)?,
                amount: u64::decode(r)?,
            };
            let ascending = v.last().is_none_or(|last| last.to < p.to);
            if !ascending || p.amount == 0 {
                return Err(DecodeError::NonCanonical {
                    type_name: "Payouts",
                });
            }
            v.push(p);
        }
        Ok(Payouts(v))
    }
}

/// What a system transaction does.
// A vendor record holds two parsed public keys (~280 bytes); boxing it would cost more than
// it saves on these rare transactions. The ~37 KiB validator set is boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystemCall {
    /// Replaces the validator set; `epoch` must be the current epoch + 1.
    SetValidators {
        /// The new epoch.
        epoch: u64,
        /// The new set (boxed: a full set is ~37 KiB in memory).
        validators: Box<ValidatorSet>,
    },
    /// Commits a DAG snapshot root; sequences strictly increase.
    AnchorDag {
        /// The anchor's sequence (the DAG's snapshot epoch).
        sequence: u64,
        /// The snapshot root.
        snapshot_root: Hash,
    },
    /// Admits a vendor.
    RegisterVendor {
        /// Its new id (must be unused).
        vendor: VendorId,
        /// Its keys.
        record: VendorRecord,
    },
    /// Pays a plan's escrow out; the payouts must sum to exactly what it holds.
    SettlePlan {
        /// The plan.
        plan_id: Hash,
        /// Who gets what.
        payouts: Payouts,
    },
}

impl SystemCall {
    /// The digest validators sign for chain `chain_id`.
    pub fn digest(&self, chain_id: u32) -> Hash {
        let mut h = TaggedHasher::new(SYSTEM_TX_TAG);
        h.update_encoded(&chain_id).update_encoded(self);
        h.finalize()
    }

    /// Collects signatures from `signers` (each must be in `set`) into a certified transaction.
    /// A helper for tests, demos and tools; validators normally sign independently.
    ///
    /// ```
    /// use itc_crypto::quorum::{Validator, ValidatorSet};
    /// use itc_crypto::{Hash, SecretKey};
    /// use itc_ledger::system::SystemCall;
    /// let keys: Vec<SecretKey> = (1..=4u8).map(|i| SecretKey::from_bytes(&[i; 32]).unwrap()).collect();
    /// let set: ValidatorSet = ValidatorSet::new(keys.iter().map(|k| Validator { key: k.public_key(), power: 1 })).unwrap();
    /// let call = SystemCall::AnchorDag { sequence: 1, snapshot_root: Hash([9; 32]) };
    /// let tx = call.certify(7, &set, &keys[..3]).unwrap();
    /// assert!(tx.verify(7, &set).is_ok());
    /// ```
    pub fn certify(
        self,
        chain_id: u32,
        set: &ValidatorSet,
        signers: &[SecretKey],
    ) -> Result<SystemTx, CertifyError> {
        let digest = self.digest(chain_id);
        let mut certificate = Certificate::new();
        for key in signers {
            let index = set
                .index_of(&key.public_key())
                .ok_or(CertifyError::NotAValidator)?;
            let sig = key
                .sign_digest(&digest)
                .map_err(|_| CertifyError::SigningFailed)?;
            certificate
                .insert(index, sig)
                .map_err(CertifyError::Quorum)?;
        }
        Ok(SystemTx {
            call: self,
            certificate,
        })
    }
}

/// Why [`SystemCall::certify`] could not build a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CertifyError {
    /// A signer's key is not in the set.
    #[error("signer is not a validator of the set")]
    NotAValidator,
    /// A signer failed to sign.
    #[error("signing failed")]
    SigningFailed,
    /// The certificate refused a signature (e.g. the same signer twice).
    #[error("certificate: {0}")]
    Quorum(QuorumError),
}

impl CertifyError {
    /// Who must act: the caller passed keys that cannot certify ([`Blame::Local`]).
    pub fn blame(&self) -> Blame {
        match self {
            CertifyError::NotAValidator | CertifyError::SigningFailed | CertifyError::Quorum(_) => {
                Blame::Local
            }
        }
    }
}

impl Encode for SystemCall {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        match self {
            SystemCall::SetValidators { epoch, validators } => {
                w.write(&[0]);
                epoch.encode(w);
                validators.encode(w);
            }
            SystemCall::AnchorDag {
                sequence,
                snapshot_root,
            } => {
                w.write(&[1]);
                sequence.encode(w);
                snapshot_root.encode(w);
            }
            SystemCall::RegisterVendor { vendor, record } => {
                w.write(&[2]);
                vendor.encode(w);
                record.encode(w);
            }
            SystemCall::SettlePlan { plan_id, payouts } => {
                w.write(&[3]);
                plan_id.encode(w);
                payouts.encode(w);
            }
        }
    }
}

impl Decode for SystemCall {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.read_u8()? {
            0 => SystemCall::SetValidators {
                epoch: u64::decode(r)?,
                validators: Box::new(ValidatorSet::decode(r)?),
            },
            1 => SystemCall::AnchorDag {
                sequence: u64::decode(r)?,
                snapshot_root: Hash::decode(r)?,
            },
            2 => SystemCall::RegisterVendor {
                vendor: VendorId::decode(r)?,
                record: VendorRecord::decode(r)?,
            },
            3 => SystemCall::SettlePlan {
                plan_id: Hash::decode(r)?,
                payouts: Payouts::decode(r)?,
            },
            tag => {
                return Err(DecodeError::UnknownVariant {
                    type_name: "SystemCall",
                    tag: u64::from(tag),
                })
            }
        })
    }
}

/// A system call with the validators' certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemTx {
    /// The call.
    pub call: SystemCall,
    /// Signatures over [`SystemCall::digest`].
    pub certificate: Certificate,
}

impl SystemTx {
    /// Checks the certificate: more than 2/3 of `set`'s power signed the call for `chain_id`.
    pub fn verify(&self, chain_id: u32, set: &ValidatorSet) -> Result<u64, TxError> {
        self.certificate
            .verify(
                set,
                &self.call.digest(chain_id),
                itc_crypto::Threshold::TwoThirds,
            )
            .map_err(TxError::QuorumRejected)
    }
}

impl Encode for SystemTx {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.call.encode(w);
        self.certificate.encode(w);
    }
}

impl Decode for SystemTx {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SystemTx {
            call: SystemCall::decode(r)?,
            certificate: Certificate::decode(r)?,
        })
    }
}

/// Any ledger transaction, as carried in a PBFT batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedTransaction {
    /// Signed by one account key.
    Account(SignedAccountTx),
    /// Certified by the validator set.
    System(SystemTx),
}

impl SignedTransaction {
    /// The transaction's id: the tagged hash of its canonical encoding (receipts name it).
    pub fn id(&self) -> Hash {
        hash_encoded(TX_ID_TAG, self)
    }
}

/// The id of a transaction given as raw bytes (the same as [`SignedTransaction::id`] when the
/// bytes are canonical; defined for any bytes so malformed ones get a receipt too).
pub fn raw_tx_id(bytes: &[u8]) -> Hash {
    itc_crypto::tagged_hash(TX_ID_TAG, bytes)
}

impl From<SignedAccountTx> for SignedTransaction {
    fn from(tx: SignedAccountTx) -> Self {
        SignedTransaction::Account(tx)
    }
}

impl From<SystemTx> for SignedTransaction {
    fn from(tx: SystemTx) -> Self {
        SignedTransaction::System(tx)
    }
}

impl Encode for SignedTransaction {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        match self {
            SignedTransaction::Account(tx) => {
                w.write(&[0]);
                tx.encode(w);
            }
            SignedTransaction::System(tx) => {
                w.write(&[1]);
                tx.encode(w);
            }
        }
    }
}

impl Decode for SignedTransaction {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.read_u8()? {
            0 => SignedTransaction::Account(SignedAccountTx::decode(r)?),
            1 => SignedTransaction::System(SystemTx::decode(r)?),
            tag => {
                return Err(DecodeError::UnknownVariant {
                    type_name: "SignedTransaction",
                    tag: u64::from(tag),
                })
            }
        })
    }
}
