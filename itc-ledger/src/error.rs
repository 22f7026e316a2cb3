//! Why a transaction, a batch or a genesis configuration was rejected.
//!
//! A rejected transaction changes nothing; its [`TxError`] goes into its receipt. Each variant
//! has a stable numeric [`TxError::code`], which is what a committed receipt records.

use itc_crypto::encoding::DecodeError;
use itc_crypto::quorum::QuorumError;
use itc_crypto::{Address, Hash};

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
    /// The device's revocation epoch cannot grow further.
    #[error("revocation epoch exhausted")]
    EpochExhausted,
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
            TxError::EpochExhausted => 20,
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
}

/// Why a whole batch was refused before any transaction ran (nothing changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// Batches execute at strictly increasing heights.
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
