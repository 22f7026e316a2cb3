//! Phase 3: commands. The owner is obeyed — a one-off signed command, then a command session
//! (one signed open, then MAC'd commands: a dimmer slider); a stranger, a replay, tampered
//! commands (signed and in the session) and a guest whose grant was revoked are refused — each
//! with the reason the lamp gives. The revocation ends the guest's session at once.

use itc_crypto::SecretKey;
use itc_crypto::{Decode, Encode};
use itc_device_sdk::{
    AcceptedCommand, Access, CommandError, SessionCommand, SignedCommand, StateError,
};
use itc_ledger::{Actions, Grant};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

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

    fn session_radio(&mut self, bytes: &[u8]) -> Result<AcceptedCommand, CommandError> {
        let now = self.chain.now();
        self.lamp.receive_session(bytes, now)
    }

    /// A phone opens a command session with the lamp; true if the lamp accepted it and its
    /// key confirmation matched.
    fn open_session(&mut self, who: &str, phone: &mut Phone) -> Result<bool, StoryError> {
        // The phone's own RNG (deterministic per seed), not the story's stream: sessions change
        // no other figure of the story.
        let mut phone_rng = ChaCha20Rng::seed_from_u64(self.opts.seed ^ self.chain.now());
        let ephemeral = SecretKey::generate(&mut phone_rng);
        let bytes = phone.open_session(self.lamp.public_key(), ephemeral, self.chain.now())?;
        let now = self.chain.now();
        let verdict = self.lamp.receive_session_open(&bytes, now);
        let ok = matches!(&verdict, Ok(o) if phone.session_confirmed(o));
        self.report.expect(
            format!("{who} opens a command session (one signature; the lamp's key confirmed)"),
            ok,
            match verdict {
                Ok(o) => format!(
                    "session {}, {} B signed open, for {} min",
                    super::short(&o.id.0),
                    bytes.len(),
                    crate::lamp::SESSION_MS / 60_000
                ),
                Err(e) => format!("refused: {}", reason(&e)),
            },
        );
        Ok(ok)
    }

    /// Phase 3.
    pub(crate) fn phase_commands(&mut self) -> Result<(), StoryError> {
        self.report
            .phase("Commands: only the owner (and live guests) are obeyed");
        let lamp_id = self.lamp.id();

        // A one-off: a signed command.
        self.chain.advance(GAP_MS);
        let bytes = self.alice_phone.command(lamp_id, "on", self.chain.now())?;
        let verdict = self.radio(&bytes);
        let level = self.lamp.level;
        self.report.expect(
            "Alice's one-off \"on\" (signed command) is obeyed",
            matches!(&verdict, Ok(c) if c.access == Access::Owner),
            match verdict {
                Ok(_) => format!("lamp at {level} %, {} B signed command", bytes.len()),
                Err(e) => format!("refused: {}", reason(&e)),
            },
        );

        // Then a session: one signed open, then a dimmer slider of MAC'd commands. (The phase
        // advances the chain's clock as much as it did before sessions, so the rest of the
        // story — blocks, beacons, noise — is unchanged.)
        self.chain.advance(GAP_MS);
        let mut alice = self.alice_phone.clone();
        self.open_session("Alice", &mut alice)?;
        let mut captured = Vec::new();
        let slider: Vec<String> = (40..=90)
            .step_by(5)
            .map(|l| format!("dim {l}"))
            .chain(["off".to_string()])
            .collect();
        let (mut obeyed, mut size) = (0, 0);
        for arg in &slider {
            self.chain.advance(GAP_MS / 12);
            let bytes = alice.session_command(arg, self.chain.now())?;
            if arg == "dim 40" {
                captured = bytes.clone();
            }
            size = bytes.len();
            if matches!(self.session_radio(&bytes), Ok(c) if c.access == Access::Owner) {
                obeyed += 1;
            }
        }
        self.report.expect(
            "Alice's slider (\"dim 40\" … \"dim 90\", \"off\") in the session is obeyed",
            obeyed == slider.len() && self.lamp.level == 0,
            format!(
                "{obeyed}/{} session commands of {size} B, lamp at {} %",
                slider.len(),
                self.lamp.level
            ),
        );
        self.alice_phone = alice;

        // A stranger.
        self.chain.advance(GAP_MS);
        let mut mallory = Phone::new(self.cast.mallory.clone());
        let bytes = mallory.command(lamp_id, "on", self.chain.now())?;
        let v = self.radio(&bytes);
        self.expect_refused("Mallory's \"on\" is refused", v, |e| {
            *e == CommandError::NotAuthorized
        });

        // A replay of Alice's captured "dim 40".
        let v = self.session_radio(&captured);
        self.expect_refused(
            "a replayed copy of Alice's session \"dim 40\" is refused",
            v,
            |e| matches!(e, CommandError::Replayed { .. }),
        );
        // The same, with its argument rewritten in transit.
        let mut cmd = SessionCommand::decode_bytes(&captured)?;
        cmd.argument = heapless::Vec::from_slice(b"dim 99")
            .map_err(|_| StoryError::Unexpected("argument too long"))?;
        cmd.counter = cmd.counter.saturating_add(1_000);
        let v = self.session_radio(&cmd.encode_to_vec());
        self.expect_refused(
            "Alice's session command with its argument and counter rewritten is refused",
            v,
            |e| *e == CommandError::InvalidSessionTag,
        );

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
        // Bob opens a session too.
        self.open_session("Bob", &mut bob)?;
        let bobs_next = bob.session_command("dim 30", self.chain.now())?;

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
        let sessions = self.lamp.sessions();
        let v = self.session_radio(&bobs_next);
        self.expect_refused(
            "Bob's session ended with the revocation: his session \"dim 30\" is refused",
            v,
            |e| *e == CommandError::UnknownSession,
        );
        self.report.expect(
            "the revocation ended Bob's session at once, Alice's lives on",
            sessions == 1,
            format!("{sessions} session(s) left on the lamp"),
        );

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
        // Per accepted command: signed vs session (host wall clock; on the Cortex-M4 the
        // firmware measures instructions, README "Device figures").
        let signed = percentile(&self.lamp.signed_ok_ns, 50) as f64;
        let session = percentile(&self.lamp.session_ok_ns, 50) as f64;
        let open = percentile(&self.lamp.open_ns, 50) as f64;
        self.report.figure(
            "signed_command_us",
            "accepted signed command (median, host)",
            signed / 1e3,
            "µs",
            1,
        );
        self.report.figure(
            "session_open_us",
            "session open: signature + ECDH (median, host)",
            open / 1e3,
            "µs",
            1,
        );
        self.report.figure(
            "session_command_us",
            "accepted session command (median, host)",
            session / 1e3,
            "µs",
            2,
        );
        self.report.figure(
            "session_speedup",
            "session command vs signed command (host time ratio)",
            signed / session.max(1.0),
            "×",
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
