//! Exact, deterministic contributor payouts.
//!
//! **The rule.** When a result is released, the plan's whole budget `B` is split among payout
//! addresses in proportion to their weight `w` — the number of matching records their devices
//! used (each device capped at the plan's `max_records`; several devices paying to one address
//! add up). Amounts are integers computed by the **largest-remainder** (Hamilton) method:
//!
//! 1. every address gets `⌊B·w / W⌋` (`W = Σ w`, exact 128-bit arithmetic);
//! 2. the `L = B − Σ⌊…⌋` leftover units (`L` < number of addresses) go one each to the addresses
//!    with the largest remainders `B·w mod W`, ties broken by the **smaller address first**.
//!
//! So the amounts add up to `B` exactly — no token created or lost — every address gets its
//! quota rounded down or up, and an address with more weight never gets less than one with
//! less. Addresses whose amount is zero are left out; the list is sorted by address. If `W = 0`
//! (or nothing is released) the budget is refunded to the vendor.
//!
//! **What payouts reveal.** Settlements are public ledger transfers, and a proportional payout
//! reveals each payout address's share `w/W` of the matched records (to rounding). The DP
//! guarantee covers the released value, not the settlement. Devices should therefore pay to a
//! **fresh address per plan** (unlinkable to the device key, which appears only in contribution
//! headers that validators keep), and plans should keep `max_records` small: the weight is
//! capped there. The weights are self-reported (signed) counts, bounded by that cap; for count
//! plans the aggregator checks them against the committed, range-proved value.
//!
//! ```
//! use itc_chaincode::payout::split_budget;
//! use itc_crypto::Address;
//! let (a, b, c) = (Address([1; 20]), Address([2; 20]), Address([3; 20]));
//! let p = split_budget(10, &[(a, 1), (b, 1), (c, 1)]);
//! // 10/3 each = 3 rem 1; one leftover unit goes to the smallest address.
//! assert_eq!(p.iter().map(|x| x.amount).collect::<Vec<_>>(), vec![4, 3, 3]);
//! assert_eq!(p.iter().map(|x| x.amount).sum::<u64>(), 10);
//! ```

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use itc_crypto::encoding::{write_varint, Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::hash::{hash_encoded, DomainTag, Hash};
use itc_crypto::Address;

use crate::plan::PlanId;

/// Tag of a settlement's digest.
pub const SETTLEMENT_TAG: DomainTag = DomainTag::new(b"itc/chaincode/settlement/v1");
/// Most payouts a settlement may list on the wire.
pub const MAX_PAYOUTS: usize = 1 << 20;

/// One transfer to a contributor, in base units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Payout {
    /// Recipient.
    pub to: Address,
    /// Amount (base units).
    pub amount: u64,
}

/// What the ledger executes for a closed plan, authorised by the validator quorum:
/// `Σ payouts + refund = total = budget`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    /// The plan settled.
    pub plan: PlanId,
    /// The vendor (payer; receives the refund).
    pub vendor: Address,
    /// Payouts, sorted by address, amounts > 0.
    pub payouts: Vec<Payout>,
    /// Returned to the vendor.
    pub refund: u64,
    /// The plan's budget.
    pub total: u64,
}

impl Settlement {
    /// The ledger call that executes this settlement: `SettlePlan` paying every contributor and
    /// refunding the vendor (a vendor that is also a contributor gets one entry, the sum). The
    /// co-signed system transaction validators certify is built from this and nothing else, so
    /// every validator that computed the same settlement signs the same bytes.
    ///
    /// ```
    /// use itc_chaincode::payout::Settlement;
    /// use itc_chaincode::plan::PlanId;
    /// use itc_crypto::{Address, Hash};
    /// use itc_ledger::SystemCall;
    /// let s = Settlement::by_weight(PlanId(Hash([4; 32])), Address([9; 20]), 101,
    ///     &[(Address([1; 20]), 1), (Address([2; 20]), 1)]);
    /// let SystemCall::SettlePlan { plan_id, payouts } = s.to_system_call().unwrap() else { panic!() };
    /// assert_eq!((plan_id, payouts.total()), (Hash([4; 32]), Some(101)));
    /// ```
    pub fn to_system_call(&self) -> Result<itc_ledger::SystemCall, itc_ledger::TxError> {
        let mut entries: Vec<(Address, u64)> =
            self.payouts.iter().map(|p| (p.to, p.amount)).collect();
        if self.refund > 0 {
            match entries.iter_mut().find(|(to, _)| *to == self.vendor) {
                Some((_, amount)) => {
                    *amount = amount
                        .checked_add(self.refund)
                        .ok_or(itc_ledger::TxError::BalanceOverflow)?
                }
                None => entries.push((self.vendor, self.refund)),
            }
        }
        Ok(itc_ledger::SystemCall::SettlePlan {
            plan_id: self.plan.0,
            payouts: itc_ledger::system::Payouts::new(entries)?,
        })
    }

    /// Nothing paid, everything refunded (result withheld).
    pub fn refund_all(plan: PlanId, vendor: Address, budget: u64) -> Self {
        Settlement {
            plan,
            vendor,
            payouts: Vec::new(),
            refund: budget,
            total: budget,
        }
    }

    /// Pays `budget` out by weight (see the module docs); refunds it if total weight is zero.
    ///
    /// ```
    /// use itc_chaincode::payout::Settlement;
    /// use itc_chaincode::plan::PlanId;
    /// use itc_crypto::{Address, Decode, Encode, Hash};
    /// let s = Settlement::by_weight(PlanId(Hash::ZERO), Address([9; 20]), 100,
    ///     &[(Address([1; 20]), 3), (Address([2; 20]), 1)]);
    /// assert_eq!(s.payouts[0].amount + s.payouts[1].amount, 100);
    /// assert_eq!((s.payouts[0].amount, s.payouts[1].amount, s.refund), (75, 25, 0));
    /// // One canonical encoding: the ledger can check the digest the validators signed.
    /// let again = Settlement::decode_bytes(&s.encode_to_vec()).unwrap();
    /// assert_eq!(again.digest(), s.digest());
    /// ```
    pub fn by_weight(
        plan: PlanId,
        vendor: Address,
        budget: u64,
        weights: &[(Address, u64)],
    ) -> Self {
        let payouts = split_budget(budget, weights);
        let paid: u64 = payouts.iter().fold(0u64, |a, p| a.saturating_add(p.amount));
        Settlement {
            plan,
            vendor,
            payouts,
            refund: budget.saturating_sub(paid),
            total: budget,
        }
    }

    /// The digest the validators sign and the ledger records.
    pub fn digest(&self) -> Hash {
        hash_encoded(SETTLEMENT_TAG, self)
    }
}

/// Splits `budget` by weight with the largest-remainder method (module docs). Weights of the
/// same address are added. Returns payouts sorted by address, zero amounts omitted; empty if
/// the total weight is zero.
pub fn split_budget(budget: u64, weights: &[(Address, u64)]) -> Vec<Payout> {
    let mut per_address: BTreeMap<Address, u128> = BTreeMap::new();
    for (a, w) in weights {
        *per_address.entry(*a).or_default() += u128::from(*w);
    }
    let total: u128 = per_address.values().sum();
    if total == 0 {
        return Vec::new();
    }
    let b = u128::from(budget);
    // (address, floor, remainder); BTreeMap order = address order.
    let mut shares: Vec<(Address, u128, u128)> = per_address
        .iter()
        .map(|(a, w)| (*a, b * w / total, b * w % total))
        .collect();
    let floors: u128 = shares.iter().map(|s| s.1).sum();
    let leftover = (b - floors) as usize;
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|&i, &j| {
        let (si, sj) = (shares.get(i), shares.get(j));
        let key = |s: Option<&(Address, u128, u128)>| s.map(|s| (s.2, s.0));
        // Largest remainder first; on a tie the smaller address first.
        match (key(si), key(sj)) {
            (Some((ri, ai)), Some((rj, aj))) => rj.cmp(&ri).then(ai.cmp(&aj)),
            _ => core::cmp::Ordering::Equal,
        }
    });
    for i in order.into_iter().take(leftover) {
        if let Some(s) = shares.get_mut(i) {
            s.1 += 1;
        }
    }
    shares
        .into_iter()
        .filter(|s| s.1 > 0)
        .map(|(to, amount, _)| Payout {
            to,
            amount: u64::try_from(amount).unwrap_or(u64::MAX),
        })
        .collect()
}

impl Encode for Payout {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.to.encode(w);
        self.amount.encode(w);
    }
}

impl Decode for Payout {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Payout {
            to: Address::decode(r)?,
            amount: u64::decode(r)?,
        })
    }
}

impl Encode for Settlement {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.plan.encode(w);
        self.vendor.encode(w);
        write_varint(w, self.payouts.len() as u64);
        for p in &self.payouts {
            p.encode(w);
        }
        self.refund.encode(w);
        self.total.encode(w);
    }
}

impl Decode for Settlement {
    /// Rejects settlements that are not canonical: unsorted or repeated addresses, zero
    /// amounts, or amounts that do not add up to the total.
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let plan = PlanId::decode(r)?;
        let vendor = Address::decode(r)?;
        let n = r.read_count(MAX_PAYOUTS, 28)?;
        let mut payouts: Vec<Payout> = Vec::with_capacity(n);
        let mut sum: u64 = 0;
        for _ in 0..n {
            let p = Payout::decode(r)?;
            let bad = p.amount == 0 || payouts.last().is_some_and(|q| q.to >= p.to);
            sum = sum.checked_add(p.amount).ok_or(DecodeError::NonCanonical {
                type_name: "Settlement",
            })?;
            if bad {
                return Err(DecodeError::NonCanonical {
                    type_name: "Settlement",
                });
            }
            payouts.push(p);
        }
        let refund = u64::decode(r)?;
        let total = u64::decode(r)?;
        if sum.checked_add(refund) != Some(total) {
            return Err(DecodeError::NonCanonical {
                type_name: "Settlement",
            });
        }
        Ok(Settlement {
            plan,
            vendor,
            payouts,
            refund,
            total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    #[test]
    fn settle_call_pays_everyone_once_and_sums_to_the_budget() {
        use itc_ledger::SystemCall;
        let vendor = addr(9);
        // The vendor is also a contributor: one entry, payout + refund.
        let mut s = Settlement::by_weight(
            PlanId(Hash([1; 32])),
            vendor,
            100,
            &[(addr(1), 1), (vendor, 1)],
        );
        s.refund = 10;
        s.payouts.iter_mut().for_each(|p| p.amount -= 5);
        let SystemCall::SettlePlan { plan_id, payouts } = s.to_system_call().unwrap() else {
            panic!("not a SettlePlan")
        };
        assert_eq!(plan_id, Hash([1; 32]));
        assert_eq!(payouts.total(), Some(100));
        assert_eq!(
            payouts.as_slice().iter().filter(|p| p.to == vendor).count(),
            1
        );
        // Refund only: the vendor alone.
        let r = Settlement::refund_all(PlanId(Hash([2; 32])), vendor, 50)
            .to_system_call()
            .unwrap();
        let SystemCall::SettlePlan { payouts, .. } = r else {
            panic!("not a SettlePlan")
        };
        assert_eq!(payouts.total(), Some(50));
    }

    fn addr(i: u16) -> Address {
        let mut a = [0u8; 20];
        a[18..].copy_from_slice(&i.to_be_bytes());
        Address(a)
    }

    #[test]
    fn zero_weight_refunds_everything() {
        let s = Settlement::by_weight(PlanId(Hash::ZERO), addr(0), 500, &[(addr(1), 0)]);
        assert!(s.payouts.is_empty());
        assert_eq!(s.refund, 500);
        assert_eq!(Settlement::decode_bytes(&s.encode_to_vec()).unwrap(), s);
    }

    #[test]
    fn non_canonical_settlements_are_rejected() {
        let good = Settlement::by_weight(
            PlanId(Hash::ZERO),
            addr(0),
            10,
            &[(addr(1), 1), (addr(2), 1)],
        );
        let mut bad = good.clone();
        bad.total += 1; // token created
        assert!(Settlement::decode_bytes(&bad.encode_to_vec()).is_err());
        let mut bad = good.clone();
        bad.payouts.reverse();
        assert!(Settlement::decode_bytes(&bad.encode_to_vec()).is_err());
        let mut bad = good;
        bad.payouts.push(Payout {
            to: addr(9),
            amount: 0,
        });
        assert!(Settlement::decode_bytes(&bad.encode_to_vec()).is_err());
    }

    #[test]
    fn huge_budgets_do_not_overflow() {
        let p = split_budget(
            u64::MAX,
            &[(addr(1), u64::MAX), (addr(2), u64::MAX), (addr(3), 1)],
        );
        assert_eq!(
            p.iter().map(|x| u128::from(x.amount)).sum::<u128>(),
            u128::from(u64::MAX)
        );
    }

    proptest! {
        #[test]
        fn payouts_sum_to_budget_and_are_monotone(
            budget in 0u64..=u64::MAX,
            weights in proptest::collection::vec((0u16..40, 0u64..1_000_000), 0..60),
        ) {
            let ws: Vec<(Address, u64)> = weights.iter().map(|(a, w)| (addr(*a), *w)).collect();
            let s = Settlement::by_weight(PlanId(Hash::ZERO), addr(999), budget, &ws);
            let paid: u128 = s.payouts.iter().map(|p| u128::from(p.amount)).sum();
            prop_assert_eq!(paid + u128::from(s.refund), u128::from(budget));
            let mut per: BTreeMap<Address, u64> = BTreeMap::new();
            for (a, w) in &ws { *per.entry(*a).or_default() += *w; }
            let total: u64 = per.values().sum();
            if total > 0 { prop_assert_eq!(s.refund, 0); }
            let amount = |a: &Address| s.payouts.iter().find(|p| p.to == *a).map_or(0, |p| p.amount);
            for (a, wa) in &per {
                // Each address gets its exact quota rounded down or up.
                let quota_floor = (u128::from(budget) * u128::from(*wa) / u128::from(total.max(1))) as u64;
                prop_assert!(amount(a) == quota_floor || amount(a) == quota_floor + 1);
                for (b, wb) in &per {
                    if wa < wb { prop_assert!(amount(a) <= amount(b)); }
                    if wa == wb { prop_assert!(amount(a).abs_diff(amount(b)) <= 1); }
                }
            }
            prop_assert_eq!(Settlement::decode_bytes(&s.encode_to_vec()).unwrap(), s);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Settlement::decode_bytes(&data);
        }
    }

    #[test]
    fn ties_go_to_smaller_address() {
        let p = split_budget(2, &[(addr(3), 1), (addr(1), 1), (addr(2), 1)]);
        assert_eq!(
            p,
            vec![
                Payout {
                    to: addr(1),
                    amount: 1
                },
                Payout {
                    to: addr(2),
                    amount: 1
                }
            ]
        );
    }
}
