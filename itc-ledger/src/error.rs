//! Why a transaction, a batch or a genesis configuration was rejected.
//!
//! A rejected transaction changes nothing; its [`TxError`] goes into its receipt. Each variant
//! has a stable numeric [`TxError::code`], which is what a committed receipt records.

use itc_crypto::encoding::DecodeError;
use itc_crypto::quorum::QuorumError;
use itc_crypto::{Address, Blame, Hash};

use crate::device::{DeviceId, GrantError, VendorId};

/// Why one transaction was rejected (nothing it touched changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// The bytes are not a canonical transaction.
    #[error("malformed transaction: {0}")]
    Malformed(DecodeError),
    /// The transaction is longer than [`crate::tx::MAX_TX_BYTES`].
    #[error("transaction of {len} bytes exceeds {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The signer's signature does not verify over the transaction on this chain.
    #[error("invalid signature")]
    InvalidSignature,
    /// The nonce is not the signer's next nonce.
    #[error("wrong nonce: expected {expected}, found {found}")]
    BadNonce {
        /// The account's next nonce.
        expected: u64,
        /// The nonce carried.
        found: u64,
    },
    /// The account has used every nonce.
    #[error("account nonce exhausted")]
    NonceExhausted,
    /// The quorum certificate of a system transaction does not verify against the current set.
    #[error("quorum certificate rejected: {0}")]
    QuorumRejected(QuorumError),
    /// No device with this id is registered.
    #[error("unknown device {0}")]
    UnknownDevice(DeviceId),
    /// The device is already registered.
    #[error("device {0} already registered")]
    DeviceAlreadyRegistered(DeviceId),
    /// No vendor with this id.
    #[error("unknown {0}")]
    UnknownVendor(VendorId),
    /// A vendor with this id exists.
    #[error("{0} already registered")]
    VendorAlreadyRegistered(VendorId),
    /// The signer is not the vendor's registry key.
    #[error("signer is not the registry key of {0}")]
    NotVendorKey(VendorId),
    /// The signer does not own the device.
    #[error("signer does not own device {0}")]
    NotOwner(DeviceId),
    /// A grant whose expiry is not after the current height.
    #[error("grant expires at {expires_at}, not after height {height}")]
    GrantExpired {
        /// The grant's expiry.
        expires_at: u64,
        /// The executing height.
        height: u64,
    },
    /// A grant that allows no action.
    #[error("grant allows no action")]
    NoActions,
    /// The device already holds the most grants it may.
    #[error("device has no free grant slot")]
    TooManyGrants,
    /// The grantee holds no grant on the device.
    #[error("no grant to revoke")]
    NoSuchGrant,
    /// The device's revocation count cannot grow further.
    #[error("revocation count exhausted")]
    RevocationsExhausted,
    /// Moving zero tokens.
    #[error("amount is zero")]
    ZeroAmount,
    /// The signer's balance is below the amount.
    #[error("balance {balance} below amount {amount}")]
    InsufficientBalance {
        /// Balance held.
        balance: u64,
        /// Amount asked.
        amount: u64,
    },
    /// A credit would overflow a balance (cannot happen while the supply fits in u64).
    #[error("balance overflow")]
    BalanceOverflow,
    /// An anchor sequence not above the last one.
    #[error("anchor sequence {found} not above last {last}")]
    AnchorNotIncreasing {
        /// The last anchored sequence.
        last: u64,
        /// The sequence carried.
        found: u64,
    },
    /// `SetValidators` names the wrong epoch.
    #[error("validator epoch should be {expected}, found {found}")]
    ValidatorEpochMismatch {
        /// Current epoch + 1.
        expected: u64,
        /// The epoch carried.
        found: u64,
    },
    /// No escrow for this plan.
    #[error("unknown plan {0}")]
    UnknownPlan(Hash),
    /// The plan was paid out already.
    #[error("plan {0} already settled")]
    PlanSettled(Hash),
    /// The plan is funded by another vendor.
    #[error("plan {plan} belongs to {owner}")]
    PlanVendorMismatch {
        /// The plan.
        plan: Hash,
        /// Its funding vendor.
        owner: VendorId,
    },
    /// Payouts must sum to exactly the escrowed amount.
    #[error("payouts sum to {paid}, escrow holds {held}")]
    PayoutMismatch {
        /// Escrowed.
        held: u64,
        /// Sum of payouts (saturated).
        paid: u64,
    },
    /// A payout list names a payee twice.
    #[error("payee {0} appears twice")]
    DuplicatePayee(Address),
    /// A payout of zero tokens.
    #[error("zero payout to {0}")]
    ZeroPayout(Address),
    /// More payouts than [`crate::system::MAX_PAYOUTS`].
    #[error("too many payouts")]
    TooManyPayouts,
}

impl From<DecodeError> for TxError {
    fn from(e: DecodeError) -> Self {
        TxError::Malformed(e)
    }
}

impl From<GrantError> for TxError {
    fn from(e: GrantError) -> Self {
        match e {
            GrantError::NoActions => TxError::NoActions,
            GrantError::TooManyGrants => TxError::TooManyGrants,
        }
    }
}

impl TxError {
    /// A stable number for the variant, recorded in committed receipts (0 means success).
    pub const fn code(&self) -> u16 {
        match self {
            TxError::Malformed(_) => 1,
            TxError::TooLarge { .. } => 2,
            TxError::InvalidSignature => 3,
            TxError::BadNonce { .. } => 4,
            TxError::NonceExhausted => 5,
            TxError::QuorumRejected(_) => 6,
            TxError::UnknownDevice(_) => 10,
            TxError::DeviceAlreadyRegistered(_) => 11,
            TxError::UnknownVendor(_) => 12,
            TxError::VendorAlreadyRegistered(_) => 13,
            TxError::NotVendorKey(_) => 14,
            TxError::NotOwner(_) => 15,
            TxError::GrantExpired { .. } => 16,
            TxError::NoActions => 17,
            TxError::TooManyGrants => 18,
            TxError::NoSuchGrant => 19,
            TxError::RevocationsExhausted => 20,
            TxError::ZeroAmount => 30,
            TxError::InsufficientBalance { .. } => 31,
            TxError::BalanceOverflow => 32,
            TxError::AnchorNotIncreasing { .. } => 40,
            TxError::ValidatorEpochMismatch { .. } => 41,
            TxError::UnknownPlan(_) => 50,
            TxError::PlanSettled(_) => 51,
            TxError::PlanVendorMismatch { .. } => 52,
            TxError::PayoutMismatch { .. } => 53,
            TxError::DuplicatePayee(_) => 54,
            TxError::ZeroPayout(_) => 55,
            TxError::TooManyPayouts => 56,
        }
    }

    /// A stable snake_case name for the variant (what an API or a CLI shows beside
    /// [`TxError::code`]).
    pub const fn name(&self) -> &'static str {
        match self {
            TxError::Malformed(_) => "malformed",
            TxError::TooLarge { .. } => "too_large",
            TxError::InvalidSignature => "invalid_signature",
            TxError::BadNonce { .. } => "bad_nonce",
            TxError::NonceExhausted => "nonce_exhausted",
            TxError::QuorumRejected(_) => "quorum_rejected",
            TxError::UnknownDevice(_) => "unknown_device",
            TxError::DeviceAlreadyRegistered(_) => "device_already_registered",
            TxError::UnknownVendor(_) => "unknown_vendor",
            TxError::VendorAlreadyRegistered(_) => "vendor_already_registered",
            TxError::NotVendorKey(_) => "not_vendor_key",
            TxError::NotOwner(_) => "not_owner",
            TxError::GrantExpired { .. } => "grant_expired",
            TxError::NoActions => "no_actions",
            TxError::TooManyGrants => "too_many_grants",
            TxError::NoSuchGrant => "no_such_grant",
            TxError::RevocationsExhausted => "revocations_exhausted",
            TxError::ZeroAmount => "zero_amount",
            TxError::InsufficientBalance { .. } => "insufficient_balance",
            TxError::BalanceOverflow => "balance_overflow",
            TxError::AnchorNotIncreasing { .. } => "anchor_not_increasing",
            TxError::ValidatorEpochMismatch { .. } => "validator_epoch_mismatch",
            TxError::UnknownPlan(_) => "unknown_plan",
            TxError::PlanSettled(_) => "plan_settled",
            TxError::PlanVendorMismatch { .. } => "plan_vendor_mismatch",
            TxError::PayoutMismatch { .. } => "payout_mismatch",
            TxError::DuplicatePayee(_) => "duplicate_payee",
            TxError::ZeroPayout(_) => "zero_payout",
            TxError::TooManyPayouts => "too_many_payouts",
        }
    }

    /// The [`TxError::name`] of a receipt's [`TxError::code`] (`"applied"` for 0), or `None`
    /// for a number no variant has.
    pub const fn code_name(code: u16) -> Option<&'static str> {
        Some(match code {
            0 => "applied",
            1 => "malformed",
            2 => "too_large",
            3 => "invalid_signature",
            4 => "bad_nonce",
            5 => "nonce_exhausted",
            6 => "quorum_rejected",
            10 => "unknown_device",
            11 => "device_already_registered",
            12 => "unknown_vendor",
            13 => "vendor_already_registered",
            14 => "not_vendor_key",
            15 => "not_owner",
            16 => "grant_expired",
            17 => "no_actions",
            18 => "too_many_grants",
            19 => "no_such_grant",
            20 => "revocations_exhausted",
            30 => "zero_amount",
            31 => "insufficient_balance",
            32 => "balance_overflow",
            40 => "anchor_not_increasing",
            41 => "validator_epoch_mismatch",
            50 => "unknown_plan",
            51 => "plan_settled",
            52 => "plan_vendor_mismatch",
            53 => "payout_mismatch",
            54 => "duplicate_payee",
            55 => "zero_payout",
            56 => "too_many_payouts",
            _ => return None,
        })
    }

    /// Who must act on the rejection (for a node scoring the peer that relayed the
    /// transaction before it was ordered, or an API's status code).
    ///
    /// * [`Blame::Peer`]: bytes or signatures no honest client produces (malformed, oversized,
    ///   forged, a certificate without a quorum, a record encoding that breaks its rules).
    /// * [`Blame::Ignorable`]: an honest client racing the chain — a stale or reused nonce,
    ///   something already registered, spent, settled or expired by the time it ran, a
    ///   balance spent by an earlier transaction. Nobody is punished.
    pub fn blame(&self) -> Blame {
        match self {
            TxError::Malformed(_)
            | TxError::TooLarge { .. }
            | TxError::InvalidSignature
            | TxError::QuorumRejected(_)
            | TxError::NotVendorKey(_)
            | TxError::NotOwner(_)
            | TxError::NoActions
            | TxError::ZeroAmount
            | TxError::DuplicatePayee(_)
            | TxError::ZeroPayout(_)
            | TxError::TooManyPayouts
            | TxError::PlanVendorMismatch { .. }
            | TxError::PayoutMismatch { .. } => Blame::Peer,
            TxError::BadNonce { .. }
            | TxError::NonceExhausted
            | TxError::UnknownDevice(_)
            | TxError::DeviceAlreadyRegistered(_)
            | TxError::UnknownVendor(_)
            | TxError::VendorAlreadyRegistered(_)
            | TxError::GrantExpired { .. }
            | TxError::TooManyGrants
            | TxError::NoSuchGrant
            | TxError::RevocationsExhausted
            | TxError::InsufficientBalance { .. }
            | TxError::BalanceOverflow
            | TxError::AnchorNotIncreasing { .. }
            | TxError::ValidatorEpochMismatch { .. }
            | TxError::UnknownPlan(_)
            | TxError::PlanSettled(_) => Blame::Ignorable,
        }
    }
}

/// Why a whole block was refused before any of its transactions ran (nothing changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// Blocks execute at strictly increasing heights.
    #[error("height {given} is not above the last executed height {last}")]
    HeightNotIncreasing {
        /// Last executed height.
        last: u64,
        /// Height given.
        given: u64,
    },
    /// More transactions than [`crate::execute::MAX_BATCH_TXS`].
    #[error("batch of {len} transactions exceeds {max}")]
    TooManyTransactions {
        /// Transactions in the batch.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl BlockError {
    /// Who must act: the integrator executed a block out of order or assembled one past the
    /// limit PBFT's batch bounds keep it under ([`Blame::Local`]).
    pub fn blame(&self) -> Blame {
        match self {
            BlockError::HeightNotIncreasing { .. } | BlockError::TooManyTransactions { .. } => {
                Blame::Local
            }
        }
    }
}

/// Why a genesis configuration cannot start a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// An address is funded twice.
    #[error("address {0} funded twice")]
    DuplicateAccount(Address),
    /// A vendor id appears twice.
    #[error("{0} listed twice")]
    DuplicateVendor(VendorId),
    /// The balances sum past u64.
    #[error("total supply overflows u64")]
    SupplyOverflow,
}

impl GenesisError {
    /// Who must act: a genesis file is the operator's own configuration ([`Blame::Local`]).
    pub fn blame(&self) -> Blame {
        match self {
            GenesisError::DuplicateAccount(_)
            | GenesisError::DuplicateVendor(_)
            | GenesisError::SupplyOverflow => Blame::Local,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_one_name_and_the_variants_agree() {
        let mut seen: alloc::vec::Vec<&str> = alloc::vec::Vec::new();
        for code in 0..=u16::MAX {
            if let Some(name) = TxError::code_name(code) {
                assert!(!seen.contains(&name), "{name} named twice");
                seen.push(name);
            }
        }
        assert_eq!(seen.len(), 30);
        let h = Hash([1; 32]);
        let a = Address([2; 20]);
        for e in [
            TxError::TooLarge { len: 1, max: 0 },
            TxError::InvalidSignature,
            TxError::BadNonce {
                expected: 1,
                found: 2,
            },
            TxError::NonceExhausted,
            TxError::GrantExpired {
                expires_at: 1,
                height: 2,
            },
            TxError::NoActions,
            TxError::TooManyGrants,
            TxError::NoSuchGrant,
            TxError::RevocationsExhausted,
            TxError::ZeroAmount,
            TxError::InsufficientBalance {
                balance: 1,
                amount: 2,
            },
            TxError::BalanceOverflow,
            TxError::AnchorNotIncreasing { last: 2, found: 1 },
            TxError::ValidatorEpochMismatch {
                expected: 1,
                found: 2,
            },
            TxError::UnknownPlan(h),
            TxError::PlanSettled(h),
            TxError::PayoutMismatch { held: 1, paid: 2 },
            TxError::DuplicatePayee(a),
            TxError::ZeroPayout(a),
            TxError::TooManyPayouts,
        ] {
            assert_eq!(TxError::code_name(e.code()), Some(e.name()), "{e:?}");
        }
    }
}
