//! Account transactions: signed by one key, ordered by that key's account nonce.
//!
//! The signature is BIP340 over `hash_encoded(ACCOUNT_TX_TAG, chain_id ‖ tx)`: the tag keeps it
//! from ever being valid as another structure's signature, the chain id keeps a testnet
//! transaction from replaying on mainnet, and the nonce keeps it from replaying on this chain.
//! Everything here works without an allocator, so a phone app or a gateway MCU can build and
//! sign ownership transactions.

use itc_crypto::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::{
    Address, CryptoError, DomainTag, Hash, PublicKey, Signature, Signer, TaggedHasher,
};

use crate::device::{DeviceId, Grant, VendorId};
use crate::error::TxError;

/// Tag of an account transaction's signing digest.
pub const ACCOUNT_TX_TAG: DomainTag = DomainTag::new(b"itc/ledger/account-tx/v1");

/// Longest encoded transaction accepted in a batch (a full validator-set change with its
/// certificate is about 27 KiB).
pub const MAX_TX_BYTES: usize = 64 * 1024;

/// What an account transaction does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountCall {
    /// A vendor registers a device it made; the owner is `owner`, or the vendor if `None`.
    /// Signed by the vendor's registry key.
    RegisterDevice {
        /// The registering vendor.
        vendor: VendorId,
        /// The device's key (its id is the hash of it).
        device_key: PublicKey,
        /// The vendor's model number.
        model: u32,
        /// The first owner, if not the vendor.
        owner: Option<PublicKey>,
    },
    /// The owner hands the device over; grants are cleared and the epoch bumped.
    TransferOwnership {
        /// The device.
        device: DeviceId,
        /// Its new owner.
        new_owner: PublicKey,
    },
    /// The owner delegates actions to a key until a height (replacing any grant it held).
    GrantAccess {
        /// The device.
        device: DeviceId,
        /// The delegation.
        grant: Grant,
    },
    /// The owner withdraws a delegation; the epoch is bumped.
    RevokeAccess {
        /// The device.
        device: DeviceId,
        /// Whose grant to drop.
        grantee: PublicKey,
    },
    /// Moves tokens between accounts.
    Transfer {
        /// The receiving address.
        to: Address,
        /// Base units (> 0).
        amount: u64,
    },
    /// A vendor moves tokens into escrow for a chaincode plan's payouts. Signed by the
    /// vendor's registry key; may top up a plan the same vendor funded.
    FundPlan {
        /// The plan's id (chosen by the chaincode side).
        plan_id: Hash,
        /// The funding vendor.
        vendor: VendorId,
        /// Base units (> 0).
        amount: u64,
    },
}

impl Encode for AccountCall {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        match self {
            AccountCall::RegisterDevice {
                vendor,
                device_key,
                model,
                owner,
            } => {
                w.write(&[0]);
                vendor.encode(w);
                device_key.encode(w);
                model.encode(w);
                owner.encode(w);
            }
            AccountCall::TransferOwnership { device, new_owner } => {
                w.write(&[1]);
                device.encode(w);
                new_owner.encode(w);
            }
            AccountCall::GrantAccess { device, grant } => {
                w.write(&[2]);
                device.encode(w);
                grant.encode(w);
            }
            AccountCall::RevokeAccess { device, grantee } => {
                w.write(&[3]);
                device.encode(w);
                grantee.encode(w);
            }
            AccountCall::Transfer { to, amount } => {
                w.write(&[4]);
                to.encode(w);
                amount.encode(w);
            }
            AccountCall::FundPlan {
                plan_id,
                vendor,
                amount,
            } => {
                w.write(&[5]);
                plan_id.encode(w);
                vendor.encode(w);
                amount.encode(w);
            }
        }
    }
}

impl Decode for AccountCall {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.read_u8()? {
            0 => AccountCall::RegisterDevice {
                vendor: VendorId::decode(r)?,
                device_key: PublicKey::decode(r)?,
                model: u32::decode(r)?,
                owner: Option::<PublicKey>::decode(r)?,
            },
            1 => AccountCall::TransferOwnership {
                device: DeviceId::decode(r)?,
                new_owner: PublicKey::decode(r)?,
            },
            2 => AccountCall::GrantAccess {
                device: DeviceId::decode(r)?,
                grant: Grant::decode(r)?,
            },
            3 => AccountCall::RevokeAccess {
                device: DeviceId::decode(r)?,
                grantee: PublicKey::decode(r)?,
            },
            4 => AccountCall::Transfer {
                to: Address::decode(r)?,
                amount: u64::decode(r)?,
            },
            5 => AccountCall::FundPlan {
                plan_id: Hash::decode(r)?,
                vendor: VendorId::decode(r)?,
                amount: u64::decode(r)?,
            },
            tag => {
                return Err(DecodeError::UnknownVariant {
                    type_name: "AccountCall",
                    tag: u64::from(tag),
                })
            }
        })
    }
}

/// An unsigned account transaction: who, with which nonce, does what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountTx {
    /// The signing key; its [`Address`] is the account that pays and whose nonce counts.
    pub signer: PublicKey,
    /// Must equal the account's next nonce.
    pub nonce: u64,
    /// The action.
    pub call: AccountCall,
}

impl AccountTx {
    /// The digest signed on chain `chain_id`.
    pub fn signing_digest(&self, chain_id: u32) -> Hash {
        let mut h = TaggedHasher::new(ACCOUNT_TX_TAG);
        h.update_encoded(&chain_id).update_encoded(self);
        h.finalize()
    }

    /// Signs for chain `chain_id` with `signer`, which must hold `self.signer`'s key.
    ///
    /// ```
    /// use itc_crypto::{Address, SecretKey};
    /// use itc_ledger::tx::{AccountCall, AccountTx};
    /// let alice = SecretKey::from_bytes(&[1; 32]).unwrap();
    /// let tx = AccountTx {
    ///     signer: alice.public_key(),
    ///     nonce: 0,
    ///     call: AccountCall::Transfer { to: Address([2; 20]), amount: 10 },
    /// };
    /// let signed = tx.sign(7, &alice).unwrap();
    /// assert!(signed.verify(7).is_ok());
    /// assert!(signed.verify(8).is_err()); // another chain
    /// ```
    pub fn sign<S: Signer + ?Sized>(
        self,
        chain_id: u32,
        signer: &S,
    ) -> Result<SignedAccountTx, CryptoError> {
        let signature = signer.sign_digest(&self.signing_digest(chain_id))?;
        Ok(SignedAccountTx {
            tx: self,
            signature,
        })
    }
}

impl Encode for AccountTx {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.signer.encode(w);
        self.nonce.encode(w);
        self.call.encode(w);
    }
}

impl Decode for AccountTx {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(AccountTx {
            signer: PublicKey::decode(r)?,
            nonce: u64::decode(r)?,
            call: AccountCall::decode(r)?,
        })
    }
}

/// An account transaction with its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedAccountTx {
    /// The signed body.
    pub tx: AccountTx,
    /// BIP340 signature by `tx.signer` over [`AccountTx::signing_digest`].
    pub signature: Signature,
}

impl SignedAccountTx {
    /// Checks the signature for chain `chain_id`.
    pub fn verify(&self, chain_id: u32) -> Result<(), TxError> {
        self.tx
            .signer
            .verify_digest(&self.tx.signing_digest(chain_id), &self.signature)
            .map_err(|_| TxError::InvalidSignature)
    }

    /// The signer's account address.
    pub fn sender(&self) -> Address {
        Address::from_public_key(&self.tx.signer)
    }
}

impl Encode for SignedAccountTx {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.tx.encode(w);
        self.signature.encode(w);
    }
}

impl Decode for SignedAccountTx {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SignedAccountTx {
            tx: AccountTx::decode(r)?,
            signature: Signature::decode(r)?,
        })
    }
}
