//! Settlement: the aggregator's `Settlement` becomes a ledger `SettlePlan` certified by the
//! validators (the seam between `itc-chaincode` and `itc-ledger`), and the noise beacon block.

use std::collections::BTreeSet;

use itc_chaincode::payout::Settlement;
use itc_chaincode::plan::ValidPlan;
use itc_crypto::Address;
use itc_ledger::StateKey;

use super::{addr, client, Story};
use crate::error::StoryError;

impl Story {
    /// A block after everything so far (used as the noise beacon).
    pub(crate) fn heartbeat(&mut self) -> Result<u64, StoryError> {
        let gw = self.cast.gateway.clone();
        let tx = self
            .chain
            .builder()
            .transfer(&gw, self.nonce(&gw), addr(&gw), 1)
            .map_err(StoryError::Crypto)?;
        let (_, o) = self.commit(client::GATEWAY, &tx)?;
        Ok(o.height)
    }

    pub(crate) fn settle(&mut self, plans: &[(&ValidPlan, &Settlement)]) -> Result<(), StoryError> {
        let ledger = self.chain.full_node_ledger();
        let supply = ledger.total_supply();
        let payees: BTreeSet<Address> = plans
            .iter()
            .flat_map(|(_, s)| s.payouts.iter().map(|p| p.to))
            .collect();
        let before: u64 = payees.iter().map(|a| ledger.account(a).balance).sum();
        let alice_before = ledger.account(&addr(&self.cast.alice)).balance;
        let mut tickets = Vec::new();
        let mut expected = 0u64;
        for (plan, s) in plans {
            debug_assert_eq!(s.plan, plan.id());
            expected += s.payouts.iter().map(|p| p.amount).sum::<u64>();
            // The chaincode -> ledger seam is itc-chaincode's own conversion.
            let call = s.to_system_call().map_err(StoryError::Ledger)?;
            let tx = self.chain.certify(call)?;
            tickets.push(self.chain.submit(client::VALIDATORS, &tx));
        }
        let outs = self.chain.wait(&tickets, 120_000)?;
        let ledger = self.chain.full_node_ledger();
        let after: u64 = payees.iter().map(|a| ledger.account(a).balance).sum();
        let settled = plans
            .iter()
            .all(|(p, _)| ledger.escrow(&p.id().0).is_some_and(|e| e.settled));
        let held: u64 = ledger
            .escrows()
            .filter(|(_, e)| !e.settled)
            .map(|(_, e)| e.held)
            .sum();
        let balances: u64 = ledger.accounts().map(|(_, a)| a.balance).sum();
        self.report.expect(
            "validators settle both plans on the ledger (SettlePlan); contributors are paid",
            outs.iter().all(|o| o.result.is_ok()) && settled && after - before == expected,
            format!("{expected} ITC to {} owners", payees.len()),
        );
        self.report.expect(
            "the token supply is unchanged (balances + open escrows)",
            balances + held == supply,
            format!("{supply} ITC"),
        );

        // Alice checks her reward from her phone, by SPV.
        let gain = ledger
            .account(&addr(&self.cast.alice))
            .balance
            .saturating_sub(alice_before);
        self.seal()?;
        self.alice_spv.sync(self.chain.server(), self.chain.now())?;
        let proven = self.alice_spv.prove_state(
            self.chain.server(),
            StateKey::Account(addr(&self.cast.alice)),
            self.chain.now(),
        )?;
        let balance = proven
            .value
            .as_deref()
            .and_then(|v| <itc_ledger::Account as itc_crypto::Decode>::decode_bytes(v).ok())
            .map(|a| a.balance);
        let expected_balance = self
            .chain
            .full_node_ledger()
            .account(&addr(&self.cast.alice))
            .balance;
        self.report.expect(
            "Alice's phone proves her new balance, reward included",
            balance == Some(expected_balance) && gain > 0,
            format!(
                "+{gain} ITC, balance {expected_balance} proven in {} µs",
                proven.verify_us
            ),
        );
        Ok(())
    }
}
