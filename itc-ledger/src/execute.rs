//! Executing batches: each transaction is checked against the state, then its changes are
//! applied all together — or, if any check fails, not at all.
//!
//! Every handler below only *reads* the ledger and returns the list of record changes it
//! wants; `Ledger::apply` runs only after the whole list was built. So a failing
//! transaction cannot leave half its writes behind: its receipt carries the typed error and
//! the root is unchanged.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use itc_crypto::batch::BatchVerifier;
use itc_crypto::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::{Hash, PublicKey};

use crate::device::{DeviceId, OwnershipRecord};
use crate::error::{BatchError, TxError};
use crate::ledger::{Change, Ledger};
use crate::records::{Account, AnchorRecord, Escrow, ValidatorRecord};
use crate::system::{raw_tx_id, SignedTransaction, SystemCall, SystemTx};
use crate::tx::{AccountCall, SignedAccountTx, MAX_TX_BYTES};

/// Most transactions in one batch.
pub const MAX_BATCH_TXS: usize = 65_536;

/// What happened to one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// The transaction's id ([`SignedTransaction::id`], or the tagged hash of malformed bytes).
    pub tx_id: Hash,
    /// Applied, or rejected with nothing changed.
    pub result: Result<(), TxError>,
}

impl Receipt {
    /// The receipt as committed: the id and a stable status code (0 = applied).
    pub fn committed(&self) -> CommittedReceipt {
        CommittedReceipt {
            tx_id: self.tx_id,
            code: self.result.err().map_or(0, |e| e.code()),
        }
    }
}

/// The consensus-relevant part of a receipt; [`BatchOutcome::receipts_root`] commits to these.
/// Error details beyond the code are local diagnostics, not state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommittedReceipt {
    /// The transaction's id.
    pub tx_id: Hash,
    /// 0 if applied, else [`TxError::code`].
    pub code: u16,
}

impl Encode for CommittedReceipt {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.tx_id.encode(w);
        self.code.encode(w);
    }
    fn encoded_len(&self) -> usize {
        34
    }
}

impl Decode for CommittedReceipt {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(CommittedReceipt {
            tx_id: Hash::decode(r)?,
            code: u16::decode(r)?,
        })
    }
}

/// The result of executing one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// The state root after the batch.
    pub state_root: Hash,
    /// One receipt per transaction, in batch order.
    pub receipts: Vec<Receipt>,
    /// True if a `SetValidators` was applied: fetch [`Ledger::validator_set`] and hand it to
    /// the consensus replica. Later system transactions in the same batch already answer to
    /// the new set.
    pub validator_set_changed: bool,
}

impl BatchOutcome {
    /// Merkle root (RFC 6962 shape, `itc_crypto::merkle`) over the committed receipts.
    pub fn receipts_root(&self) -> Hash {
        let leaves: Vec<Vec<u8>> = self
            .receipts
            .iter()
            .map(|r| r.committed().encode_to_vec())
            .collect();
        itc_crypto::merkle_root(&leaves)
    }

    /// Number of applied transactions.
    pub fn applied(&self) -> usize {
        self.receipts.iter().filter(|r| r.result.is_ok()).count()
    }
}

impl Ledger {
    /// Executes a batch of encoded transactions (as PBFT delivers them) at `height`.
    ///
    /// Bytes that do not decode get a [`TxError::Malformed`] receipt, like any other failing
    /// transaction. The batch as a whole is refused (nothing changes) only if `height` is not
    /// above the last executed height or the batch is over [`MAX_BATCH_TXS`].
    pub fn execute<B: AsRef<[u8]>>(
        &mut self,
        batch: &[B],
        height: u64,
    ) -> Result<BatchOutcome, BatchError> {
        self.check_batch(batch.len(), height)?;
        let decoded: Vec<Result<SignedTransaction, TxError>> =
            batch.iter().map(|raw| decode_tx(raw.as_ref())).collect();
        let txs: Vec<Result<&SignedTransaction, TxError>> =
            decoded.iter().map(|d| d.as_ref().map_err(|e| *e)).collect();
        let ids = batch.iter().map(|raw| raw_tx_id(raw.as_ref()));
        Ok(self.run_batch(ids, &txs, height))
    }

    /// Executes already-decoded transactions at `height` (same rules as [`Ledger::execute`]).
    pub fn execute_transactions(
        &mut self,
        batch: &[SignedTransaction],
        height: u64,
    ) -> Result<BatchOutcome, BatchError> {
        self.check_batch(batch.len(), height)?;
        let txs: Vec<Result<&SignedTransaction, TxError>> = batch.iter().map(Ok).collect();
        Ok(self.run_batch(batch.iter().map(SignedTransaction::id), &txs, height))
    }

    fn run_batch(
        &mut self,
        ids: impl Iterator<Item = Hash>,
        txs: &[Result<&SignedTransaction, TxError>],
        height: u64,
    ) -> BatchOutcome {
        let epoch = self.validators.epoch;
        // Account signatures do not depend on the state, so the whole batch's are checked up
        // front in one batch verification (same verdicts as one by one, several times cheaper).
        let signature_ok = signature_verdicts(self.meta.chain_id, txs);
        let mut receipts = Vec::with_capacity(txs.len());
        for ((tx_id, tx), sig_ok) in ids.zip(txs).zip(signature_ok) {
            let result = tx.and_then(|tx| self.apply_tx(tx, height, sig_ok));
            receipts.push(Receipt { tx_id, result });
        }
        let mut meta = self.meta;
        meta.height = height;
        self.apply(Change::Meta(meta));
        self.commit_writes();
        BatchOutcome {
            state_root: self.root(),
            receipts,
            validator_set_changed: self.validators.epoch != epoch,
        }
    }

    fn check_batch(&self, len: usize, height: u64) -> Result<(), BatchError> {
        if height <= self.meta.height {
            return Err(BatchError::HeightNotIncreasing {
                last: self.meta.height,
                given: height,
            });
        }
        if len > MAX_BATCH_TXS {
            return Err(BatchError::TooManyTransactions {
                len,
                max: MAX_BATCH_TXS,
            });
        }
        Ok(())
    }

    /// Checks one transaction and, only if every check passes, applies all its changes.
    fn apply_tx(
        &mut self,
        tx: &SignedTransaction,
        height: u64,
        signature_ok: bool,
    ) -> Result<(), TxError> {
        let changes = match tx {
            SignedTransaction::Account(tx) => self.plan_account_tx(tx, height, signature_ok)?,
            SignedTransaction::System(tx) => self.plan_system_tx(tx, height)?,
        };
        for change in changes {
            self.apply(change);
        }
        Ok(())
    }

    fn plan_account_tx(
        &self,
        stx: &SignedAccountTx,
        height: u64,
        signature_ok: bool,
    ) -> Result<Vec<Change>, TxError> {
        let sender = stx.sender();
        let mut account = self.account(&sender);
        // The cheap check first: replays and stale transactions never cost a verification.
        if stx.tx.nonce != account.nonce {
            return Err(TxError::BadNonce {
                expected: account.nonce,
                found: stx.tx.nonce,
            });
        }
        if !signature_ok {
            return Err(TxError::InvalidSignature);
        }
        account.nonce = account
            .nonce
            .checked_add(1)
            .ok_or(TxError::NonceExhausted)?;
        let signer = &stx.tx.signer;
        match stx.tx.call {
            AccountCall::RegisterDevice {
                vendor,
                device_key,
                model,
                owner,
            } => {
                let v = self.vendor(&vendor).ok_or(TxError::UnknownVendor(vendor))?;
                if v.registry_key != *signer {
                    return Err(TxError::NotVendorKey(vendor));
                }
                let id = DeviceId::from_key(&device_key);
                if self.devices.contains_key(&id) {
                    return Err(TxError::DeviceAlreadyRegistered(id));
                }
                let record =
                    OwnershipRecord::new(device_key, vendor, model, owner.unwrap_or(*signer));
                Ok(vec![
                    Change::Account(sender, account),
                    Change::Device(id, Box::new(record)),
                ])
            }
            AccountCall::TransferOwnership { device, new_owner } => {
                let mut record = self.owned_device(&device, signer)?;
                record.owner = new_owner;
                record.clear_grants();
                bump_epoch(&mut record)?;
                Ok(vec![
                    Change::Account(sender, account),
                    Change::Device(device, Box::new(record)),
                ])
            }
            AccountCall::GrantAccess { device, grant } => {
                let mut record = self.owned_device(&device, signer)?;
                if !grant.is_live_at(height) {
                    return Err(TxError::GrantExpired {
                        expires_at: grant.expires_at,
                        height,
                    });
                }
                // Lapsed grants free their slots before the new one is counted.
                record.prune_expired(height);
                record.upsert_grant(grant)?;
                Ok(vec![
                    Change::Account(sender, account),
                    Change::Device(device, Box::new(record)),
                ])
            }
            AccountCall::RevokeAccess { device, grantee } => {
                let mut record = self.owned_device(&device, signer)?;
                record.remove_grant(&grantee).ok_or(TxError::NoSuchGrant)?;
                bump_epoch(&mut record)?;
                Ok(vec![
                    Change::Account(sender, account),
                    Change::Device(device, Box::new(record)),
                ])
            }
            AccountCall::Transfer { to, amount } => {
                debit(&mut account, amount)?;
                if to == sender {
                    // Self-transfer: the debit is undone; only the nonce moves.
                    account.balance = account.balance.saturating_add(amount);
                    return Ok(vec![Change::Account(sender, account)]);
                }
                let mut receiver = self.account(&to);
                credit(&mut receiver, amount)?;
                Ok(vec![
                    Change::Account(sender, account),
                    Change::Account(to, receiver),
                ])
            }
            AccountCall::FundPlan {
                plan_id,
                vendor,
                amount,
            } => {
                let v = self.vendor(&vendor).ok_or(TxError::UnknownVendor(vendor))?;
                if v.registry_key != *signer {
                    return Err(TxError::NotVendorKey(vendor));
                }
                let mut escrow = match self.plans.get(&plan_id) {
                    None => Escrow {
                        vendor,
                        held: 0,
                        settled: false,
                    },
                    Some(e) if e.settled => return Err(TxError::PlanSettled(plan_id)),
                    Some(e) if e.vendor != vendor => {
                        return Err(TxError::PlanVendorMismatch {
                            plan: plan_id,
                            owner: e.vendor,
                        })
                    }
                    Some(e) => *e,
                };
                debit(&mut account, amount)?;
                escrow.held = escrow
                    .held
                    .checked_add(amount)
                    .ok_or(TxError::BalanceOverflow)?;
                Ok(vec![
                    Change::Account(sender, account),
                    Change::Plan(plan_id, escrow),
                ])
            }
        }
    }

    /// The device's record, if `signer` owns it.
    fn owned_device(
        &self,
        device: &DeviceId,
        signer: &PublicKey,
    ) -> Result<OwnershipRecord, TxError> {
        let record = self
            .devices
            .get(device)
            .ok_or(TxError::UnknownDevice(*device))?;
        if record.owner != *signer {
            return Err(TxError::NotOwner(*device));
        }
        Ok(record.clone())
    }

    fn plan_system_tx(&self, tx: &SystemTx, height: u64) -> Result<Vec<Change>, TxError> {
        tx.verify(self.meta.chain_id, &self.validators.set)?;
        match &tx.call {
            SystemCall::SetValidators { epoch, validators } => {
                let expected = self.validators.epoch.saturating_add(1);
                if *epoch != expected {
                    return Err(TxError::ValidatorEpochMismatch {
                        expected,
                        found: *epoch,
                    });
                }
                Ok(vec![Change::Validators(Box::new(ValidatorRecord {
                    epoch: *epoch,
                    set: (**validators).clone(),
                }))])
            }
            SystemCall::AnchorDag {
                sequence,
                snapshot_root,
            } => {
                if let Some(last) = self.meta.last_anchor {
                    if *sequence <= last {
                        return Err(TxError::AnchorNotIncreasing {
                            last,
                            found: *sequence,
                        });
                    }
                }
                let mut meta = self.meta;
                meta.last_anchor = Some(*sequence);
                Ok(vec![
                    Change::Anchor(
                        *sequence,
                        AnchorRecord {
                            snapshot_root: *snapshot_root,
                            height,
                        },
                    ),
                    Change::Meta(meta),
                ])
            }
            SystemCall::RegisterVendor { vendor, record } => {
                if self.vendors.contains_key(vendor) {
                    return Err(TxError::VendorAlreadyRegistered(*vendor));
                }
                Ok(vec![Change::Vendor(*vendor, *record)])
            }
            SystemCall::SettlePlan { plan_id, payouts } => {
                let escrow = self
                    .plans
                    .get(plan_id)
                    .ok_or(TxError::UnknownPlan(*plan_id))?;
                if escrow.settled {
                    return Err(TxError::PlanSettled(*plan_id));
                }
                let paid = payouts.total().unwrap_or(u64::MAX);
                if paid != escrow.held {
                    return Err(TxError::PayoutMismatch {
                        held: escrow.held,
                        paid,
                    });
                }
                let mut changes = Vec::with_capacity(payouts.as_slice().len().saturating_add(1));
                for p in payouts.as_slice() {
                    let mut acct = self.account(&p.to);
                    credit(&mut acct, p.amount)?;
                    changes.push(Change::Account(p.to, acct));
                }
                changes.push(Change::Plan(
                    *plan_id,
                    Escrow {
                        vendor: escrow.vendor,
                        held: 0,
                        settled: true,
                    },
                ));
                Ok(changes)
            }
        }
    }
}

fn decode_tx(raw: &[u8]) -> Result<SignedTransaction, TxError> {
    if raw.len() > MAX_TX_BYTES {
        return Err(TxError::TooLarge {
            len: raw.len(),
            max: MAX_TX_BYTES,
        });
    }
    SignedTransaction::decode_bytes(raw).map_err(TxError::Malformed)
}

/// For each transaction, whether its account signature verifies on `chain_id` (true for
/// anything that is not an account transaction: those are checked elsewhere or not at all).
fn signature_verdicts(chain_id: u32, txs: &[Result<&SignedTransaction, TxError>]) -> Vec<bool> {
    let mut verifier = BatchVerifier::with_capacity(txs.len());
    let mut positions = Vec::with_capacity(txs.len());
    for (i, tx) in txs.iter().enumerate() {
        if let Ok(SignedTransaction::Account(stx)) = tx {
            verifier.push(
                stx.tx.signer,
                stx.tx.signing_digest(chain_id),
                stx.signature,
            );
            positions.push(i);
        }
    }
    let mut ok = vec![true; txs.len()];
    for bad in verifier.invalid_indices() {
        if let Some(slot) = positions.get(bad).and_then(|p| ok.get_mut(*p)) {
            *slot = false;
        }
    }
    ok
}

fn debit(account: &mut Account, amount: u64) -> Result<(), TxError> {
    if amount == 0 {
        return Err(TxError::ZeroAmount);
    }
    account.balance = account
        .balance
        .checked_sub(amount)
        .ok_or(TxError::InsufficientBalance {
            balance: account.balance,
            amount,
        })?;
    Ok(())
}

fn credit(account: &mut Account, amount: u64) -> Result<(), TxError> {
    account.balance = account
        .balance
        .checked_add(amount)
        .ok_or(TxError::BalanceOverflow)?;
    Ok(())
}

fn bump_epoch(record: &mut OwnershipRecord) -> Result<(), TxError> {
    record.revocation_epoch = record
        .revocation_epoch
        .checked_add(1)
        .ok_or(TxError::EpochExhausted)?;
    Ok(())
}
