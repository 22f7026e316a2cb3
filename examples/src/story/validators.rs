//! Phase 4: the validator set changes mid-story. One validator leaves and the standby node
//! joins: the validators co-sign a `SetValidators` (each with its own key), the ledger commits
//! it, the next epoch-boundary header names the new set and it certifies the blocks after. The
//! lamp, which shipped knowing only the genesis set, follows the hand-over by verifying
//! certificates, and still obeys its owner.

use super::{client, reason, short, Story};
use crate::error::StoryError;

impl Story {
    /// Phase 4.
    pub(crate) fn phase_validators(&mut self) -> Result<(), StoryError> {
        self.report
            .phase("Validators rotate mid-story: one leaves, one joins");
        let n = self.chain.config().validators.max(1);
        let (leave, join) = (n - 1, n);
        let before = self.chain.validator_set().hash();
        let r = self.chain.rotate(client::VALIDATORS, leave, join)?;
        let after = self.chain.validator_set().hash();
        let k = self.chain.config().pbft.checkpoint_interval;
        self.report.expect(
            format!(
                "validator {leave} leaves and validator {join} joins: the co-signed SetValidators takes force after the next epoch boundary"
            ),
            r.certified && r.joiner_signed.is_some() && !r.leaver_in_set && after != before,
            format!(
                "committed in block {}, boundary {} names set {}, block {} is the first it certifies; the joiner signs from block {}",
                r.committed_at,
                r.first_block.saturating_sub(1),
                short(&after.0),
                r.first_block,
                r.joiner_signed.map_or("never".to_string(), |h| h.to_string())
            ),
        );

        // The lamp follows: its light client verifies the boundary header and the new set's
        // certificates, then proves its record under a header the new set signed.
        let (record, proven) = self.lamp.refresh_ownership(&self.chain)?;
        let lamp_id = self.lamp.id();
        let bytes = self.alice_phone.command(lamp_id, "on", self.chain.now())?;
        let verdict = self.lamp.receive(&bytes, self.chain.now());
        self.report.expect(
            "the lamp follows the hand-over to the new set and still obeys Alice",
            proven.state.height() >= r.first_block
                && record.owner == self.alice_pk()
                && verdict.is_ok(),
            format!(
                "ownership proven under header {} (epoch length {k}); \"on\": {}",
                proven.state.height(),
                match verdict {
                    Ok(_) => format!("lamp at {} %", self.lamp.level),
                    Err(e) => format!("refused: {}", reason(&e)),
                }
            ),
        );
        Ok(())
    }
}
