//! One-call builders for every transaction type — for tests, demos and tools.
//!
//! Validators sign system calls independently in production; here [`TxBuilder`] collects the
//! signatures from keys it is handed, which is what an end-to-end example or a simulation needs.

use itc_crypto::quorum::ValidatorSet;
use itc_crypto::{Address, CryptoError, Hash, PublicKey, SecretKey, Signer};

use crate::device::{DeviceId, Grant, VendorId, VendorRecord};
use crate::system::{CertifyError, Payouts, SignedTransaction, SystemCall};
use crate::tx::{AccountCall, AccountTx};

/// Builds signed transactions for one chain.
///
/// ```
/// use itc_crypto::SecretKey;
/// use itc_ledger::builder::TxBuilder;
/// use itc_ledger::{Actions, DeviceId, Grant};
/// let owner = SecretKey::from_bytes(&[1; 32]).unwrap();
/// let guest = SecretKey::from_bytes(&[2; 32]).unwrap().public_key();
/// let lamp = DeviceId::from_key(&SecretKey::from_bytes(&[3; 32]).unwrap().public_key());
/// let b = TxBuilder::new(7);
/// let tx = b
///     .grant_access(&owner, 4, lamp, Grant { grantee: guest, actions: Actions::CONTROL, expires_at: 100 })
///     .unwrap();
/// # let _ = tx;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxBuilder {
    /// The chain the transactions are for.
    pub chain_id: u32,
}

impl TxBuilder {
    /// A builder for chain `chain_id`.
    pub const fn new(chain_id: u32) -> Self {
        TxBuilder { chain_id }
    }

    /// Signs any account call.
    pub fn account<S: Signer + ?Sized>(
        &self,
        signer: &S,
        nonce: u64,
        call: AccountCall,
    ) -> Result<SignedTransaction, CryptoError> {
        let tx = AccountTx {
            signer: signer.public_key(),
            nonce,
            call,
        };
        Ok(SignedTransaction::Account(tx.sign(self.chain_id, signer)?))
    }

    /// `Transfer` of `amount` to `to`.
    pub fn transfer<S: Signer + ?Sized>(
        &self,
        from: &S,
        nonce: u64,
        to: Address,
        amount: u64,
    ) -> Result<SignedTransaction, CryptoError> {
        self.account(from, nonce, AccountCall::Transfer { to, amount })
    }

    /// `RegisterDevice`, signed by the vendor's registry key.
    pub fn register_device<S: Signer + ?Sized>(
        &self,
        vendor_key: &S,
        nonce: u64,
        vendor: VendorId,
        device_key: PublicKey,
        model: u32,
        owner: Option<PublicKey>,
    ) -> Result<SignedTransaction, CryptoError> {
        let call = AccountCall::RegisterDevice {
            vendor,
            device_key,
            model,
            owner,
        };
        self.account(vendor_key, nonce, call)
    }

    /// `TransferOwnership` of `device` to `new_owner`, signed by the current owner.
    pub fn transfer_ownership<S: Signer + ?Sized>(
        &self,
        owner: &S,
        nonce: u64,
        device: DeviceId,
        new_owner: PublicKey,
    ) -> Result<SignedTransaction, CryptoError> {
        self.account(
            owner,
            nonce,
            AccountCall::TransferOwnership { device, new_owner },
        )
    }

    /// `GrantAccess`, signed by the owner.
    pub fn grant_access<S: Signer + ?Sized>(
        &self,
        owner: &S,
        nonce: u64,
        device: DeviceId,
        grant: Grant,
    ) -> Result<SignedTransaction, CryptoError> {
        self.account(owner, nonce, AccountCall::GrantAccess { device, grant })
    }

    /// `RevokeAccess`, signed by the owner.
    pub fn revoke_access<S: Signer + ?Sized>(
        &self,
        owner: &S,
        nonce: u64,
        device: DeviceId,
        grantee: PublicKey,
    ) -> Result<SignedTransaction, CryptoError> {
        self.account(owner, nonce, AccountCall::RevokeAccess { device, grantee })
    }

    /// `FundPlan`, signed by the vendor's registry key.
    pub fn fund_plan<S: Signer + ?Sized>(
        &self,
        vendor_key: &S,
        nonce: u64,
        plan_id: Hash,
        vendor: VendorId,
        amount: u64,
    ) -> Result<SignedTransaction, CryptoError> {
        let call = AccountCall::FundPlan {
            plan_id,
            vendor,
            amount,
        };
        self.account(vendor_key, nonce, call)
    }

    /// Any system call, certified by `signers` (members of `set`, the current set).
    pub fn system(
        &self,
        call: SystemCall,
        set: &ValidatorSet,
        signers: &[SecretKey],
    ) -> Result<SignedTransaction, CertifyError> {
        Ok(SignedTransaction::System(call.certify(
            self.chain_id,
            set,
            signers,
        )?))
    }

    /// `SetValidators` to `next` at `epoch` (current epoch + 1).
    pub fn set_validators(
        &self,
        epoch: u64,
        next: ValidatorSet,
        current: &ValidatorSet,
        signers: &[SecretKey],
    ) -> Result<SignedTransaction, CertifyError> {
        let call = SystemCall::SetValidators {
            epoch,
            validators: alloc::boxed::Box::new(next),
        };
        self.system(call, current, signers)
    }

    /// `AnchorDag` of a snapshot root at `sequence`.
    pub fn anchor_dag(
        &self,
        sequence: u64,
        snapshot_root: Hash,
        set: &ValidatorSet,
        signers: &[SecretKey],
    ) -> Result<SignedTransaction, CertifyError> {
        let call = SystemCall::AnchorDag {
            sequence,
            snapshot_root,
        };
        self.system(call, set, signers)
    }

    /// `RegisterVendor`.
    pub fn register_vendor(
        &self,
        vendor: VendorId,
        record: VendorRecord,
        set: &ValidatorSet,
        signers: &[SecretKey],
    ) -> Result<SignedTransaction, CertifyError> {
        self.system(SystemCall::RegisterVendor { vendor, record }, set, signers)
    }

    /// `SettlePlan` paying `payouts`.
    pub fn settle_plan(
        &self,
        plan_id: Hash,
        payouts: Payouts,
        set: &ValidatorSet,
        signers: &[SecretKey],
    ) -> Result<SignedTransaction, CertifyError> {
        self.system(SystemCall::SettlePlan { plan_id, payouts }, set, signers)
    }
}
