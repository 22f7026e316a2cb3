//! [`DagBalances`]: the side chain's token balances, changed only by finalised (anchored)
//! transfers. (Not the main chain's `itc_ledger::Ledger`: these are the tangle's own accounts,
//! committed to by a snapshot's `balances_root`.)
//!
//! Transfers are applied when an anchor finalises them, in the snapshot's canonical order, so
//! every node that saw the same anchors holds the same balances whatever order transactions
//! arrived in. A transfer is **applied** when its `spend_nonce` is the account's next nonce and
//! the balance covers it; an in-order transfer the balance does not cover still consumes its
//! nonce (it was final) but moves nothing; an out-of-order one is void. The balances root
//! commits to every account as `address ‖ balance ‖ next_spend` leaves, sorted by address.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use itc_crypto::merkle::merkle_root;
use itc_crypto::{Address, Hash};

use crate::tx::Transfer;

/// One side-chain account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DagAccount {
    /// Balance in base units.
    pub balance: u64,
    /// The `spend_nonce` the next applied transfer from this account must carry.
    pub next_spend: u64,
}

/// What finalising a transfer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferOutcome {
    /// Funds moved.
    Applied,
    /// In order, but the balance did not cover it: nonce consumed, nothing moved.
    InsufficientBalance,
    /// Not the account's next nonce: nothing happened.
    WrongNonce,
}

/// Balances and spend nonces.
///
/// ```
/// use itc_dag::{DagBalances, Transfer, TransferOutcome};
/// use itc_crypto::Address;
/// let (a, b) = (Address([1; 20]), Address([2; 20]));
/// let mut l = DagBalances::from_balances(&[(a, 100)]);
/// let t = Transfer { to: b, amount: 60, spend_nonce: 0 };
/// assert_eq!(l.apply(a, &t), TransferOutcome::Applied);
/// assert_eq!(l.apply(a, &t), TransferOutcome::WrongNonce);   // replay does nothing
/// assert_eq!((l.balance(&a), l.balance(&b)), (40, 60));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DagBalances {
    accounts: BTreeMap<Address, DagAccount>,
}

/// Prefix of a balances-root leaf, so it cannot be mistaken for another structure's leaf.
const ACCOUNT_LEAF_PREFIX: &[u8] = b"itc/dag/account/v1";

impl DagBalances {
    /// Genesis balances (later entries for the same address add up, saturating).
    pub fn from_balances(balances: &[(Address, u64)]) -> Self {
        let mut accounts: BTreeMap<Address, DagAccount> = BTreeMap::new();
        for (a, v) in balances {
            let acc = accounts.entry(*a).or_default();
            acc.balance = acc.balance.saturating_add(*v);
        }
        DagBalances { accounts }
    }

    /// Balance of `a` (0 if unknown).
    pub fn balance(&self, a: &Address) -> u64 {
        self.accounts.get(a).map_or(0, |x| x.balance)
    }

    /// Next spend nonce of `a`.
    pub fn next_spend(&self, a: &Address) -> u64 {
        self.accounts.get(a).map_or(0, |x| x.next_spend)
    }

    /// The account, if it exists.
    pub fn account(&self, a: &Address) -> Option<&DagAccount> {
        self.accounts.get(a)
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// True when there are no accounts.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// Every account, by address.
    pub fn iter(&self) -> impl Iterator<Item = (&Address, &DagAccount)> {
        self.accounts.iter()
    }

    /// Puts back a stored account (restore).
    pub(crate) fn restore_account(&mut self, a: Address, acc: DagAccount) {
        self.accounts.insert(a, acc);
    }

    /// Sum of all balances (conserved by transfers).
    pub fn total_supply(&self) -> u128 {
        self.accounts.values().map(|a| u128::from(a.balance)).sum()
    }

    /// Applies a finalised transfer from `from`.
    pub fn apply(&mut self, from: Address, t: &Transfer) -> TransferOutcome {
        // An account that never held funds has nothing to spend; no state is created for it.
        let Some(sender) = self.accounts.get(&from).copied() else {
            return TransferOutcome::InsufficientBalance;
        };
        if t.spend_nonce != sender.next_spend {
            return TransferOutcome::WrongNonce;
        }
        let next_spend = sender.next_spend.saturating_add(1);
        let receiver_balance = self.balance(&t.to);
        let (Some(new_from), Some(new_to)) = (
            sender.balance.checked_sub(t.amount),
            receiver_balance.checked_add(t.amount),
        ) else {
            self.accounts.insert(
                from,
                DagAccount {
                    balance: sender.balance,
                    next_spend,
                },
            );
            return TransferOutcome::InsufficientBalance;
        };
        self.accounts.insert(
            from,
            DagAccount {
                balance: new_from,
                next_spend,
            },
        );
        let to = self.accounts.entry(t.to).or_default();
        to.balance = new_to;
        TransferOutcome::Applied
    }

    /// Merkle root over `address ‖ balance ‖ next_spend` leaves in address order.
    pub fn root(&self) -> Hash {
        let leaves: Vec<[u8; 54]> = self
            .accounts
            .iter()
            .map(|(a, acc)| account_leaf(a, acc))
            .collect();
        merkle_root(&leaves)
    }

    /// Approximate heap bytes held.
    pub fn memory_bytes(&self) -> usize {
        self.accounts.len()
            * (core::mem::size_of::<Address>()
                + core::mem::size_of::<DagAccount>()
                + crate::store::BTREE_ENTRY_OVERHEAD)
    }
}

/// The leaf bytes of one account in the balances root.
fn account_leaf(a: &Address, acc: &DagAccount) -> [u8; 54] {
    let mut leaf = [0u8; 54];
    let parts: [&[u8]; 4] = [
        ACCOUNT_LEAF_PREFIX,
        &a.0,
        &acc.balance.to_be_bytes(),
        &acc.next_spend.to_be_bytes(),
    ];
    let mut pos = 0;
    for p in parts {
        if let Some(dst) = leaf.get_mut(pos..pos + p.len()) {
            dst.copy_from_slice(p);
        }
        pos += p.len();
    }
    leaf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supply_is_conserved_and_nonces_consumed_in_order() {
        let (a, b) = (Address([1; 20]), Address([2; 20]));
        let mut l = DagBalances::from_balances(&[(a, 100), (b, 5)]);
        let root0 = l.root();
        let big = Transfer {
            to: b,
            amount: 500,
            spend_nonce: 0,
        };
        assert_eq!(l.apply(a, &big), TransferOutcome::InsufficientBalance);
        assert_eq!(l.next_spend(&a), 1);
        assert_ne!(l.root(), root0, "nonce consumption changes the root");
        let skip = Transfer {
            to: b,
            amount: 1,
            spend_nonce: 5,
        };
        assert_eq!(l.apply(a, &skip), TransferOutcome::WrongNonce);
        let ok = Transfer {
            to: b,
            amount: 100,
            spend_nonce: 1,
        };
        assert_eq!(l.apply(a, &ok), TransferOutcome::Applied);
        assert_eq!(l.balance(&a), 0);
        assert_eq!(l.total_supply(), 105);
        let ghost = Address([9; 20]);
        let t = Transfer {
            to: a,
            amount: 1,
            spend_nonce: 0,
        };
        assert_eq!(l.apply(ghost, &t), TransferOutcome::InsufficientBalance);
        assert_eq!(l.total_supply(), 105);
        assert!(l.account(&ghost).is_none());
    }
}
