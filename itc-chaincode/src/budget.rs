//! The per-user privacy-budget ledger a device keeps.
//!
//! Differential privacy composes: answering the same question `n` times at ε each costs `n·ε`,
//! and with enough answers a vendor averages the noise away. So each device keeps a ledger of
//! the ε it has spent and refuses a plan whose ε would push the total spent in the **rolling
//! window** (default: 7 days) above the budget (default: ε = 3), and refuses to answer the same
//! plan twice. The ledger is bounded ([`MAX_LEDGER_ENTRIES`]) and allocation-free.
//!
//! The device must persist the ledger (it has a canonical encoding) **before** it sends a
//! contribution, or a crash-and-retry would let it spend ε it did not record.
//!
//! ```
//! use itc_chaincode::budget::{PrivacyBudget, PrivacyLedger};
//! use itc_chaincode::plan::PlanId;
//! use itc_crypto::Hash;
//! let mut ledger = PrivacyLedger::new(PrivacyBudget { window_ms: 1000, epsilon_milli: 1500 });
//! let (a, b) = (PlanId(Hash::from_bytes([1; 32])), PlanId(Hash::from_bytes([2; 32])));
//! ledger.charge(a, 1000, 0).unwrap();
//! assert!(ledger.charge(b, 1000, 10).is_err()); // 2.0 > 1.5 within the window
//! assert!(ledger.charge(b, 1000, 1000).is_ok()); // the first spend has left the window
//! ```

use itc_crypto::encoding::{Decode, DecodeError, Encode, Reader, Writer};

use crate::error::ExecError;
use crate::plan::PlanId;

/// Most spends the ledger remembers.
pub const MAX_LEDGER_ENTRIES: usize = 64;

/// A privacy budget: at most `epsilon_milli` of ε spent in any window of `window_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrivacyBudget {
    /// Length of the rolling window (ms).
    pub window_ms: u64,
    /// ε allowed in the window (milli).
    pub epsilon_milli: u32,
}

impl Default for PrivacyBudget {
    /// ε = 3 per rolling 7 days: three full-strength queries a week.
    fn default() -> Self {
        PrivacyBudget {
            window_ms: 7 * 24 * 3_600_000,
            epsilon_milli: 3000,
        }
    }
}

/// One recorded spend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spend {
    /// The plan answered.
    pub plan: PlanId,
    /// When (ms).
    pub at_ms: u64,
    /// ε spent (milli).
    pub epsilon_milli: u32,
}

/// The ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrivacyLedger {
    budget: PrivacyBudget,
    spends: heapless::Vec<Spend, MAX_LEDGER_ENTRIES>,
}

impl PrivacyLedger {
    /// An empty ledger.
    pub fn new(budget: PrivacyBudget) -> Self {
        PrivacyLedger {
            budget,
            spends: heapless::Vec::new(),
        }
    }

    /// The budget.
    pub fn budget(&self) -> PrivacyBudget {
        self.budget
    }

    /// The spends still remembered.
    pub fn spends(&self) -> &[Spend] {
        &self.spends
    }

    fn in_window(&self, s: &Spend, now: u64) -> bool {
        s.at_ms.saturating_add(self.budget.window_ms) > now
    }

    /// ε spent in the window ending at `now` (milli).
    pub fn spent(&self, now: u64) -> u32 {
        self.spends
            .iter()
            .filter(|s| self.in_window(s, now))
            .fold(0u32, |acc, s| acc.saturating_add(s.epsilon_milli))
    }

    /// ε left in the window ending at `now` (milli).
    pub fn remaining(&self, now: u64) -> u32 {
        self.budget.epsilon_milli.saturating_sub(self.spent(now))
    }

    /// Whether `charge(plan, epsilon_milli, now)` would succeed. Changes nothing.
    pub fn check(&self, plan: PlanId, epsilon_milli: u32, now: u64) -> Result<(), ExecError> {
        if self.spends.iter().any(|s| s.plan == plan) {
            return Err(ExecError::AlreadyAnswered);
        }
        let remaining = self.remaining(now);
        if epsilon_milli > remaining {
            return Err(ExecError::BudgetExceeded {
                requested: epsilon_milli,
                remaining,
            });
        }
        let live = self
            .spends
            .iter()
            .filter(|s| self.in_window(s, now))
            .count();
        if live >= MAX_LEDGER_ENTRIES {
            return Err(ExecError::LedgerFull);
        }
        Ok(())
    }

    /// Records a spend, forgetting spends that have left the window. Fails, changing nothing,
    /// if the plan was answered before or the budget would be exceeded.
    pub fn charge(&mut self, plan: PlanId, epsilon_milli: u32, now: u64) -> Result<(), ExecError> {
        self.check(plan, epsilon_milli, now)?;
        let budget = self.budget;
        self.spends
            .retain(|s| s.at_ms.saturating_add(budget.window_ms) > now);
        self.spends
            .push(Spend {
                plan,
                at_ms: now,
                epsilon_milli,
            })
            .map_err(|_| ExecError::LedgerFull)
    }
}

impl Encode for PrivacyLedger {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.budget.window_ms.encode(w);
        self.budget.epsilon_milli.encode(w);
        itc_crypto::encoding::write_varint(w, self.spends.len() as u64);
        for s in &self.spends {
            s.plan.encode(w);
            s.at_ms.encode(w);
            s.epsilon_milli.encode(w);
        }
    }
}

impl Decode for PrivacyLedger {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let budget = PrivacyBudget {
            window_ms: u64::decode(r)?,
            epsilon_milli: u32::decode(r)?,
        };
        let n = r.read_count(MAX_LEDGER_ENTRIES, 44)?;
        let mut spends = heapless::Vec::new();
        for _ in 0..n {
            let s = Spend {
                plan: PlanId::decode(r)?,
                at_ms: u64::decode(r)?,
                epsilon_milli: u32::decode(r)?,
            };
            spends.push(s).map_err(|_| DecodeError::LengthOverLimit {
                len: n as u64,
                max: MAX_LEDGER_ENTRIES as u64,
            })?;
        }
        Ok(PrivacyLedger { budget, spends })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use itc_crypto::Hash;

    fn id(i: u8) -> PlanId {
        PlanId(Hash::from_bytes([i; 32]))
    }

    #[test]
    fn refusals_change_nothing() {
        let mut l = PrivacyLedger::new(PrivacyBudget {
            window_ms: 100,
            epsilon_milli: 1000,
        });
        l.charge(id(1), 600, 0).unwrap();
        let before = l.clone();
        assert_eq!(l.charge(id(1), 1, 200), Err(ExecError::AlreadyAnswered));
        assert_eq!(
            l.charge(id(2), 500, 50),
            Err(ExecError::BudgetExceeded {
                requested: 500,
                remaining: 400
            })
        );
        assert_eq!(l, before);
        assert_eq!(l.remaining(100), 1000);
    }

    #[test]
    fn ledger_is_bounded_and_round_trips() {
        let mut l = PrivacyLedger::new(PrivacyBudget {
            window_ms: 1_000_000,
            epsilon_milli: 1_000_000,
        });
        for i in 0..MAX_LEDGER_ENTRIES {
            l.charge(id(i as u8), 1, i as u64).unwrap();
        }
        assert_eq!(l.charge(id(200), 1, 100), Err(ExecError::LedgerFull));
        let bytes = l.encode_to_vec();
        assert_eq!(PrivacyLedger::decode_bytes(&bytes).unwrap(), l);
        // After the window passes, old entries are forgotten and room is made.
        assert!(l.charge(id(201), 1, 2_000_000).is_ok());
        assert_eq!(l.spends().len(), 1);
    }
}
