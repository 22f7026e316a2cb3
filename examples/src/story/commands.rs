//! Phase 3: commands. The owner is obeyed; a stranger, a replay, a tampered command and a
//! guest whose grant was revoked are refused — each with the reason the lamp gives.

use itc_crypto::{Decode, Encode};
use itc_device_sdk::{AcceptedCommand, Access, CommandError, SignedCommand, StateError};
use itc_ledger::{Actions, Grant};

use super::{client, reason, Story};
use crate::error::StoryError;
use crate::lamp::Phone;
use crate::report::percentile;

/// Simulated time between two commands (ms).
const GAP_MS: u64 = 1_500;

impl Story {
    /// A command reaches the lamp over the radio at the current time.
    fn radio(&mut self, bytes: &[u8]) -> Result<AcceptedCommand, CommandError> {
        let now = self.chain.now();
        self.lamp.receive(bytes, now)
    }

    fn expect_refused(
        &mut self,
        what: &str,
        verdict: Result<AcceptedCommand, CommandError>,
        want: fn(&CommandError) -> bool,
    ) {
        let level = self.lamp.level;
        match verdict {
            Ok(_) => {
                self.report.expect(what, false, "accepted!");
            }
            Err(e) => {
                let ok = want(&e) && self.lamp.level == level;
                self.report
                    .expect(what, ok, format!("refused: {}", reason(&e)));
            }
        }
    }

    /// Phase 3.
    pub(crate) fn phase_commands(&mut self) -> Result<(), StoryError> {
        self.report
            .phase("Commands: only the owner (and live guests) are obeyed");
        let lamp_id = self.lamp.id();
        let mut captured = Vec::new();
        for arg in ["on", "dim 40", "off"] {
            self.chain.advance(GAP_MS);
            let bytes = self.alice_phone.command(lamp_id, arg, self.chain.now())?;
            if arg == "dim 40" {
                captured = bytes.clone();
            }
            let verdict = self.radio(&bytes);
            let level = self.lamp.level;
            let ok = matches!(&verdict, Ok(c) if c.access == Access::Owner);
            self.report.expect(
                format!("Alice's \"{arg}\" is obeyed"),
                ok,
                match verdict {
                    Ok(_) => format!("lamp at {level} %, {} B signed command", bytes.len()),
                    Err(e) => format!("refused: {}", reason(&e)),
                },
            );
        }

        // A stranger.
        self.chain.advance(GAP_MS);
        let mut mallory = Phone::new(self.cast.mallory.clone());
        let bytes = mallory.command(lamp_id, "on", self.chain.now())?;
        let v = self.radio(&bytes);
        self.expect_refused("Mallory's \"on\" is refused", v, |e| {
            *e == CommandError::NotAuthorized
        });

        // A replay of Alice's captured "dim 40".
        let v = self.radio(&captured);
        self.expect_refused("a replayed copy of Alice's \"dim 40\" is refused", v, |e| {
            matches!(e, CommandError::Replayed { .. })
        });

        // A radio attacker rewrites the argument of a fresh command from Alice.
        self.chain.advance(GAP_MS);
        let bytes = self
            .alice_phone
            .command(lamp_id, "dim 10", self.chain.now())?;
        let mut cmd = SignedCommand::decode_bytes(&bytes)?;
        cmd.command.argument = heapless::Vec::from_slice(b"dim 99")
            .map_err(|_| StoryError::Unexpected("argument too long"))?;
        let v = self.radio(&cmd.encode_to_vec());
        self.expect_refused(
            "Alice's command with its argument rewritten in transit is refused",
            v,
            |e| *e == CommandError::InvalidSignature,
        );

        // Alice grants Bob control, the lamp learns it from the chain, Bob is obeyed.
        let grant = Grant {
            grantee: self.cast.bob.public_key(),
            actions: Actions::CONTROL,
            expires_at: self.chain.tip_height().saturating_add(1_000),
        };
        let tx = self
            .chain
            .builder()
            .grant_access(
                &self.cast.alice,
                self.nonce(&self.cast.alice),
                lamp_id,
                grant,
            )
            .map_err(StoryError::Crypto)?;
        let (_, o) = self.commit(client::ALICE, &tx)?;
        self.seal()?;
        let (record, stale_proof) = self.lamp.refresh_ownership(&self.chain)?;
        self.report.expect(
            "Alice grants Bob CONTROL on chain; the lamp proves the new record",
            o.result.is_ok() && record.grant_for(&self.cast.bob.public_key()).is_some(),
            format!("block {}, revocations {}", o.height, record.revocations),
        );
        self.chain.advance(GAP_MS);
        let mut bob = Phone::new(self.cast.bob.clone());
        let bytes = bob.command(lamp_id, "dim 60", self.chain.now())?;
        let v = self.radio(&bytes);
        self.report.expect(
            "Bob's \"dim 60\" is obeyed while his grant is live",
            matches!(&v, Ok(c) if matches!(c.access, Access::Delegate { .. })),
            match v {
                Ok(_) => format!("lamp at {} %", self.lamp.level),
                Err(e) => format!("refused: {}", reason(&e)),
            },
        );

        // Alice revokes; the lamp learns it; Bob is refused.
        let tx = self
            .chain
            .builder()
            .revoke_access(
                &self.cast.alice,
                self.nonce(&self.cast.alice),
                lamp_id,
                self.cast.bob.public_key(),
            )
            .map_err(StoryError::Crypto)?;
        let (_, o) = self.commit(client::ALICE, &tx)?;
        self.seal()?;
        let (record, _) = self.lamp.refresh_ownership(&self.chain)?;
        self.report.expect(
            "Alice revokes Bob's grant; the lamp proves the revocation",
            o.result.is_ok() && record.grant_for(&self.cast.bob.public_key()).is_none(),
            format!("block {}, revocations {}", o.height, record.revocations),
        );
        self.chain.advance(GAP_MS);
        let bytes = bob.command(lamp_id, "off", self.chain.now())?;
        let v = self.radio(&bytes);
        self.expect_refused("Bob's \"off\" after the revocation is refused", v, |e| {
            *e == CommandError::NotAuthorized
        });

        // Bob hands the lamp the older proof that still lists his grant.
        let refused = self.lamp.offer_ownership(&stale_proof);
        self.report.expect(
            "Bob replays the older ownership proof to the lamp: refused",
            matches!(refused, Err(StateError::NotNewer { .. })),
            match refused {
                Ok(()) => "accepted!".to_string(),
                Err(e) => format!("refused: {}", reason(&e)),
            },
        );

        let us = self.lamp.command_us.clone();
        self.report.figure(
            "command_verify_us",
            "command decision (median, host)",
            percentile(&us, 50) as f64,
            "µs",
            0,
        );
        self.report.figure(
            "replay_flash_writes",
            "replay-counter flash writes",
            self.lamp.flash_writes() as f64,
            "",
            0,
        );
        Ok(())
    }
}
