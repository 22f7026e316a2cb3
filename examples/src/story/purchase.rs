//! Phases 1 and 2: the chain starts, a vendor is admitted, registers a lamp, Alice buys it; the
//! lamp syncs from its genesis anchor and proves who owns it.

use itc_ledger::{SystemCall, TxError, VendorRecord};

use super::{addr, client, reason, short, Story, LAMP_MODEL, LAMP_PRICE, VENDOR};
use crate::chain::IDLE_BLOCK_MS;
use crate::error::StoryError;
use crate::lamp::Lamp;
use crate::report::mean;

/// The primary proposes the idle block when the interval is up; what may come on top: its
/// batching delay and network jitter.
const IDLE_SLACK_MS: u64 = 50;

impl Story {
    /// Phase 1: validators, vendor admission, registration, purchase.
    pub(crate) fn phase_purchase(&mut self) -> Result<(), StoryError> {
        self.report
            .phase("Main chain: a vendor registers a lamp, Alice buys it");
        let net = self.chain.config().net;
        let set = self.chain.validator_set();
        self.report.say(format!(
            "{} validators (PBFT, quorum {} of {}), network {} ms ± {} ms, {}‰ loss between validators",
            set.len(),
            set.len() - set.max_faulty(),
            set.len(),
            net.latency_ms,
            net.jitter_ms,
            net.loss_permille
        ));
        if self.opts.byzantine {
            self.report.say(
                "validator 0 is Byzantine: it equivocates as primary, double-votes, lies to clients, sends garbage",
            );
        }

        // Validators admit the vendor: a system transaction certified by > 2/3 of the power.
        let record = VendorRecord {
            registry_key: self.cast.vendor.public_key(),
            firmware_key: self.cast.firmware.public_key(),
        };
        let tx = self.chain.certify(SystemCall::RegisterVendor {
            vendor: VENDOR,
            record,
        })?;
        let (_, o) = self.commit(client::VALIDATORS, &tx)?;
        self.report.expect(
            "validators admit vendor Lumen (RegisterVendor, certified by a quorum)",
            o.result.is_ok() && self.chain.full_node_ledger().vendor(&VENDOR) == Some(&record),
            format!("block {}, committed in {} ms", o.height, o.latency_ms),
        );

        // The vendor registers the lamp it built.
        let b = self.chain.builder();
        let lamp_pk = self.lamp.public_key();
        let lamp_id = self.lamp.id();
        let tx = b
            .register_device(
                &self.cast.vendor,
                self.nonce(&self.cast.vendor),
                VENDOR,
                lamp_pk,
                LAMP_MODEL,
                None,
            )
            .map_err(StoryError::Crypto)?;
        let (_, o) = self.commit(client::VENDOR, &tx)?;
        let owner = self
            .chain
            .full_node_ledger()
            .device(&lamp_id)
            .map(|r| r.owner);
        self.report.expect(
            format!(
                "Lumen registers lamp {}",
                short(lamp_id.as_hash().as_bytes())
            ),
            o.result.is_ok() && owner == Some(self.cast.vendor.public_key()),
            format!("block {}, owner: the vendor until sold", o.height),
        );

        // Mallory tries to take the lamp: refused, and nothing of hers or the lamp's changes
        // (not even her nonce: a failed transaction only leaves a receipt).
        let mallory_nonce = self.nonce(&self.cast.mallory);
        let tx = b
            .transfer_ownership(
                &self.cast.mallory,
                mallory_nonce,
                lamp_id,
                self.cast.mallory.public_key(),
            )
            .map_err(StoryError::Crypto)?;
        let (_, o) = self.commit(client::MALLORY, &tx)?;
        let owner = self
            .chain
            .full_node_ledger()
            .device(&lamp_id)
            .map(|r| r.owner);
        let unchanged = owner == Some(self.cast.vendor.public_key())
            && self.nonce(&self.cast.mallory) == mallory_nonce;
        self.report.expect(
            "Mallory's TransferOwnership of the lamp to herself is refused",
            o.result == Err(TxError::NotOwner(lamp_id)) && unchanged,
            format!(
                "{} in block {}; owner and Mallory's nonce unchanged",
                o.result
                    .err()
                    .map(|e| reason(&e))
                    .unwrap_or_else(|| "applied!".into()),
                o.height
            ),
        );

        // The purchase: Alice pays, the vendor hands the lamp over (two clients, in parallel).
        let alice_before = self
            .chain
            .full_node_ledger()
            .account(&addr(&self.cast.alice))
            .balance;
        let pay = b
            .transfer(
                &self.cast.alice,
                self.nonce(&self.cast.alice),
                addr(&self.cast.vendor),
                LAMP_PRICE,
            )
            .map_err(StoryError::Crypto)?;
        let hand_over = b
            .transfer_ownership(
                &self.cast.vendor,
                self.nonce(&self.cast.vendor),
                lamp_id,
                self.alice_pk(),
            )
            .map_err(StoryError::Crypto)?;
        let t_pay = self.chain.submit(client::ALICE, &pay);
        let t_hand = self.chain.submit(client::VENDOR, &hand_over);
        let outs = self.chain.wait(&[t_pay, t_hand], 120_000)?;
        let (Some(o_pay), Some(o_hand)) = (outs.first().copied(), outs.get(1).copied()) else {
            return Err(StoryError::Unexpected("missing outcomes"));
        };
        let ledger = self.chain.full_node_ledger();
        let owner = ledger.device(&lamp_id).map(|r| r.owner);
        let paid = alice_before.saturating_sub(ledger.account(&addr(&self.cast.alice)).balance);
        self.report.expect(
            format!("Alice pays {LAMP_PRICE} ITC and Lumen transfers the lamp to her"),
            o_pay.result.is_ok()
                && o_hand.result.is_ok()
                && owner == Some(self.alice_pk())
                && paid == LAMP_PRICE,
            format!(
                "blocks {} and {}, {} ms and {} ms",
                o_pay.height, o_hand.height, o_pay.latency_ms, o_hand.latency_ms
            ),
        );
        self.purchase = Some((t_hand, o_hand));

        let agreed = self.chain.check_agreement();
        self.report.expect(
            "honest validators agree on every block and state root",
            agreed.is_ok(),
            match agreed {
                Ok(h) => format!("through height {h}"),
                Err(e) => e.to_string(),
            },
        );
        let l = self.chain.latencies();
        self.report.say(format!(
            "commit latency so far: mean {:.0} ms over {} transactions (simulated network)",
            mean(l),
            l.len()
        ));
        Ok(())
    }

    /// Phase 2: the lamp syncs and proves its owner; Alice's phone proves the purchase.
    pub(crate) fn phase_lamp_sync(&mut self) -> Result<(), StoryError> {
        self.report
            .phase("The lamp syncs headers and proves who owns it (SPV)");
        let tip = self.seal()?;
        let (lc, gate) = Lamp::state_bytes();
        self.report.say(format!(
            "lamp boots with its factory trust anchor (genesis header + 4-validator set); state: light client {lc} B + command gate {gate} B"
        ));
        self.lamp.spv.sync(self.chain.server(), self.chain.now())?;
        let s = self.lamp.spv.stats.clone();
        self.report.expect(
            "the lamp verifies the chain up to the full node's tip",
            self.lamp.spv.tip_height() == tip,
            format!(
                "height {tip}: {} certified header(s) checked, {} back-filled by hash, {} B down in {} requests",
                s.headers_verified, s.headers_backfilled, s.bytes_down, s.requests
            ),
        );
        let (record, proven) = self.lamp.refresh_ownership(&self.chain)?;
        self.report.expect(
            "the lamp proves its ownership record: owner is Alice",
            record.owner == self.alice_pk() && record.vendor == VENDOR,
            format!(
                "state proof {} B, checked in {} µs against header {}",
                proven.response_bytes,
                proven.verify_us,
                proven.state.height()
            ),
        );
        // No keep-alive: the hand-over's state is sealed by the next header, which the
        // primary proposes (empty, if nothing else waits) within one idle interval.
        let Some((_, hand_over)) = self.purchase else {
            return Err(StoryError::Unexpected("no purchase recorded"));
        };
        let (h, server) = (hand_over.height, self.chain.server());
        let gap = match (server.header(h), server.header(h + 1)) {
            (Some(a), Some(b)) => Some(b.timestamp_ms.saturating_sub(a.timestamp_ms)),
            _ => None,
        };
        self.report.expect(
            "the hand-over is provable within one idle-block interval of its commit, with no keep-alive transaction",
            proven.state.height() > h && gap.is_some_and(|g| g <= IDLE_BLOCK_MS + IDLE_SLACK_MS),
            format!(
                "block {h} sealed by header {} {} ms later (interval {IDLE_BLOCK_MS} ms); the story sends no transaction to seal state",
                h + 1,
                gap.unwrap_or(u64::MAX)
            ),
        );
        self.report.figure(
            "ownership_proof_bytes",
            "ownership proof (response)",
            proven.response_bytes as f64,
            "B",
            0,
        );
        self.report.figure(
            "state_proof_verify_us",
            "state proof verification",
            proven.verify_us as f64,
            "µs",
            0,
        );

        // Alice's phone checks that the hand-over is in the chain, with confirmations.
        let Some((ticket, outcome)) = self.purchase else {
            return Err(StoryError::Unexpected("no purchase recorded"));
        };
        self.alice_spv.sync(self.chain.server(), self.chain.now())?;
        let inc = self.alice_spv.prove_transaction(
            self.chain.server(),
            outcome.height,
            ticket.leaf,
            self.chain.now(),
        )?;
        self.report.expect(
            "Alice's phone proves by SPV that the hand-over is in the chain",
            inc.height == outcome.height && inc.confirmations >= 1,
            format!(
                "block {}, {} confirmation(s), proof {} B, checked in {} µs",
                inc.height, inc.confirmations, inc.response_bytes, inc.verify_us
            ),
        );
        self.report.figure(
            "tx_proof_bytes",
            "batch inclusion proof (response)",
            inc.response_bytes as f64,
            "B",
            0,
        );
        Ok(())
    }
}
