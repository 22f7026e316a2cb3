//! Phase 5: telemetry on the tangle. Lamps (mains-powered: PoW is their credential) work their
//! proof of work themselves; battery sensors (vouched for by the gateway's stake: little PoW)
//! hand it to the gateway — both through `itc-device-sdk`'s `TelemetryTx`. The gateway's tangle
//! node confirms readings by approving weight; the main chain anchors a snapshot (the seam
//! `DagSnapshot::root` → ledger `AnchorDag` → `Tangle::handle_anchor` and the full node's
//! `FullNode::add_dag_snapshot` is wired here); the lamp's light client proves one of its readings
//! final.

use std::collections::BTreeMap;
use std::time::Instant;

use itc_chain::cosign::{Approvals, SystemProposal, ValidatorPolicy};
use itc_crypto::{PublicKey, SecretKey};
use itc_dag::{
    DagError, Event, IssuerPolicy, IssuerProfile, MemoryStore, Payload, RandomWalk, Tangle,
    TangleConfig, TangleGenesis, Transaction, TransactionBuilder, TxId, TxStatus,
};
use itc_device_sdk::telemetry::{TelemetryError, TelemetryTx};
use itc_device_sdk::DeviceIdentity;
use rand_core::RngCore;

use super::{client, reason, short, Story};
use crate::error::StoryError;
use crate::lamp::POW_SLICE;
use crate::report::{mean, percentile};

/// Difficulty an unknown key pays (bits of leading zeros).
pub const UNKNOWN_BITS: u8 = 16;
/// Difficulty of a registered mains-powered lamp.
pub const LAMP_BITS: u8 = 10;
/// Difficulty of a battery sensor vouched for by the gateway's stake.
pub const SENSOR_BITS: u8 = 6;
/// How long the readings flow (simulated ms).
const WINDOW_MS: u64 = 40_000;

/// A device posting telemetry (index 0 is Alice's lamp, which posts through its own SDK).
pub(crate) struct Issuer {
    id: DeviceIdentity<SecretKey>,
    name: String,
    lamp: bool,
    period_ms: u64,
}

/// Who works a reading's proof of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pow {
    /// The device itself, in bounded slices of its main loop (mains-powered lamps).
    OnDevice,
    /// The gateway, from the device's `PowJob`; the device checks the nonce before signing
    /// (battery sensors).
    Gateway,
}

/// What phase 4 leaves for the later phases.
pub(crate) struct Tangled {
    /// The gateway's tangle node.
    pub tangle: Tangle,
    /// Next sequence number per issuer.
    pub sequences: BTreeMap<[u8; 32], u64>,
}

impl Tangled {
    /// The gateway's tip selection: parents for a reading issued at `now`.
    pub fn parents(&self, now: u64, rng: &mut dyn RngCore) -> Result<Vec<TxId>, StoryError> {
        self.tangle
            .select_parents(&RandomWalk::default(), rng, now, 2)
            .map(|p| p.to_vec())
            .map_err(StoryError::Dag)
    }

    /// Builds a reading with `itc-device-sdk`'s `TelemetryTx` for `id` at `now`, has its PoW
    /// done as `pow` says, signs it and attaches it; returns it and the nonces tried.
    pub fn post(
        &mut self,
        id: &DeviceIdentity<SecretKey>,
        data: &[u8],
        now: u64,
        rng: &mut dyn RngCore,
        pow: Pow,
    ) -> Result<(Transaction, u64), StoryError> {
        let parents = self.parents(now, rng)?;
        let pk = id.public_key();
        let seq = self.sequences.get(pk.as_bytes()).copied().unwrap_or(0);
        let difficulty = self.tangle.required_difficulty(&pk, now);
        let mut tx = TelemetryTx::new(pk, seq, now, &parents, data, difficulty)
            .map_err(StoryError::Telemetry)?;
        match pow {
            Pow::OnDevice => while !tx.work(POW_SLICE) {},
            Pow::Gateway => {
                let job = tx.pow_job();
                let nonce = itc_dag::pow::solve(&job.essence_hash, job.difficulty, 0, 1 << 30)
                    .ok_or(StoryError::Unexpected("proof of work not found"))?;
                tx.accept_nonce(nonce).map_err(StoryError::Telemetry)?;
            }
        }
        let signed = tx.sign(id).map_err(StoryError::Telemetry)?;
        self.attach(&signed, now)?;
        self.sequences.insert(*pk.as_bytes(), seq + 1);
        let tries = signed.nonce().saturating_add(1);
        Ok((signed, tries))
    }

    /// Hands a finished transaction to the gateway's tangle node.
    pub fn attach(&mut self, tx: &Transaction, now: u64) -> Result<(), StoryError> {
        self.tangle
            .handle_transaction(tx.clone(), now)
            .map(|_| ())
            .map_err(StoryError::Dag)
    }
}

/// A junk transaction, what it is, and the refusal expected.
type JunkCase = (&'static str, Transaction, fn(&DagError) -> bool);

impl Story {
    /// Lets `ms` of simulated time pass on the main chain. The gateway's tangle sits idle
    /// (no keep-alive traffic: an idle tangle takes new transactions again) and only runs its
    /// housekeeping when its deadline comes.
    pub(crate) fn pass_time(&mut self, ms: u64) -> Result<(), StoryError> {
        self.chain.advance(ms);
        let now = self.chain.now();
        if let Some(t) = self.telemetry.as_mut() {
            if t.tangle.poll_timeout().is_some_and(|d| d <= now) {
                t.tangle.handle_timeout(now);
            }
            t.tangle.take_events();
        }
        Ok(())
    }

    /// Phase 5.
    pub(crate) fn phase_telemetry(&mut self) -> Result<(), StoryError> {
        self.report
            .phase("Telemetry on the DAG side chain, anchored on the main chain, proven by SPV");
        let start = self.chain.now();
        let mut policy = IssuerPolicy::new(IssuerProfile::device(UNKNOWN_BITS, 10));

        // The fleet: the story lamp, eleven more lamps, eight battery sensors.
        let mut issuers = vec![Issuer {
            id: DeviceIdentity::new(self.lamp.signer().clone()),
            name: "Alice's lamp".into(),
            lamp: true,
            period_ms: 2_000,
        }];
        for i in 1..12 {
            issuers.push(Issuer {
                id: DeviceIdentity::new(SecretKey::generate(&mut self.rng)),
                name: format!("lamp {i}"),
                lamp: true,
                period_ms: 2_000,
            });
        }
        for i in 0..8 {
            issuers.push(Issuer {
                id: DeviceIdentity::new(SecretKey::generate(&mut self.rng)),
                name: format!("sensor {i}"),
                lamp: false,
                period_ms: 3_000,
            });
        }
        for is in &issuers {
            let profile = if is.lamp {
                IssuerProfile::device(LAMP_BITS, 50)
            } else {
                IssuerProfile::staked(SENSOR_BITS, 50_000, 50)
            };
            policy.register(&is.id.public_key(), profile);
        }
        self.report.say(format!(
            "{} lamps work {LAMP_BITS}-bit PoW themselves, {} battery sensors hand {SENSOR_BITS}-bit PoW to the gateway (staked for them); unknown keys pay {UNKNOWN_BITS} bits",
            issuers.iter().filter(|i| i.lamp).count(),
            issuers.iter().filter(|i| !i.lamp).count()
        ));
        let config = TangleConfig::default();
        let threshold = config.confirmation_threshold;
        let mut t = Tangled {
            tangle: Tangle::new(
                config,
                policy,
                TangleGenesis {
                    timestamp: start,
                    balances: Vec::new(),
                },
                MemoryStore::default(),
            ),
            sequences: BTreeMap::new(),
        };

        // The schedule: each device posts every period, starting at a random offset.
        let mut schedule: BTreeMap<(u64, usize), ()> = BTreeMap::new();
        for (i, is) in issuers.iter().enumerate() {
            let mut at = start + 1 + self.rng.next_u64() % is.period_ms;
            while at < start + WINDOW_MS {
                schedule.insert((at, i), ());
                at += is.period_ms;
            }
        }
        let total = schedule.len();
        let mut attached_at: BTreeMap<TxId, u64> = BTreeMap::new();
        let mut confirm_ms: BTreeMap<TxId, u64> = BTreeMap::new();
        let mut attempts: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
        let mut lamp_txs: Vec<TxId> = Vec::new();
        let wall = Instant::now();
        for (done, (at, i)) in schedule.keys().copied().enumerate() {
            self.chain.advance(at.saturating_sub(self.chain.now()));
            let now = at;
            let Some(is) = issuers.get_mut(i) else {
                continue;
            };
            let reading = if is.lamp {
                format!(
                    "{} level={} W={}",
                    is.name,
                    self.lamp.level,
                    1 + (now / 1000) % 9
                )
            } else {
                format!(
                    "{} lux={} t={}",
                    is.name,
                    200 + (now / 7) % 300,
                    18 + (now / 1000) % 6
                )
            };
            if t.tangle.poll_timeout().is_some_and(|d| d <= now) {
                t.tangle.handle_timeout(now);
            }
            let (tx, tries) = if i == 0 {
                // Alice's lamp: its own firmware path (device SDK), parents from the gateway.
                let parents = t.parents(now, &mut self.rng)?;
                let difficulty = t.tangle.required_difficulty(&is.id.public_key(), now);
                let (tx, _slices) =
                    self.lamp
                        .telemetry(&parents, reading.as_bytes(), now, difficulty)?;
                t.attach(&tx, now)?;
                let tries = tx.nonce().saturating_add(1);
                (tx, tries)
            } else {
                let pow = if is.lamp { Pow::OnDevice } else { Pow::Gateway };
                t.post(&is.id, reading.as_bytes(), now, &mut self.rng, pow)?
            };
            if let Some(a) = attempts.get_mut(usize::from(!is.lamp)) {
                a.push(tries);
            }
            attached_at.insert(tx.id(), now);
            if i == 0 {
                lamp_txs.push(tx.id());
            }
            while let Some(e) = t.tangle.poll_event() {
                if let Event::Confirmed(id) = e {
                    if let Some(a) = attached_at.get(&id) {
                        confirm_ms.insert(id, now.saturating_sub(*a));
                    }
                }
            }
            self.report.progress("posting telemetry", done + 1, total);
        }
        let wall_s = wall.elapsed().as_secs_f64();
        let conf: Vec<u64> = confirm_ms.values().copied().collect();
        self.report.expect(
            format!("{} readings attached; most confirmed by approving weight ≥ {threshold}", attached_at.len()),
            attached_at.len() == total && conf.len() * 2 >= total,
            format!(
                "{} confirmed, median {} ms, p90 {} ms after attach (simulated); {:.0} tx/s on this host",
                conf.len(),
                percentile(&conf, 50),
                percentile(&conf, 90),
                total as f64 / wall_s.max(1e-9)
            ),
        );
        self.report.figure(
            "dag_confirm_ms_p50",
            "DAG confirmation (median, simulated)",
            percentile(&conf, 50) as f64,
            "ms",
            0,
        );
        self.report.figure(
            "dag_confirm_ms_p90",
            "DAG confirmation (p90, simulated)",
            percentile(&conf, 90) as f64,
            "ms",
            0,
        );
        let [lamp_pow, sensor_pow] = &attempts;
        self.report.figure(
            "pow_attempts_lamp",
            "PoW attempts per lamp reading (mean)",
            mean(lamp_pow),
            "",
            0,
        );
        self.report.figure(
            "pow_attempts_sensor",
            "PoW attempts per sensor reading (mean)",
            mean(sensor_pow),
            "",
            0,
        );
        self.report.figure(
            "dag_tx_per_s",
            "tangle throughput (PoW + sign + attach, host)",
            total as f64 / wall_s.max(1e-9),
            "tx/s",
            0,
        );
        let mem = t.tangle.memory_usage();
        self.report.figure(
            "dag_bytes_per_tx",
            "tangle memory per transaction",
            mem.bytes_per_transaction as f64,
            "B",
            0,
        );

        // Junk at the gate: refused cheaply, nothing changes.
        self.adversarial_telemetry(&mut t, &issuers)?;

        // The gateway anchors a snapshot of the confirmed region on the main chain.
        let snapshot = t.tangle.propose_snapshot(10_000);
        let seq = snapshot.snapshot_seq;
        let root = snapshot.root();
        // Each validator co-signs only if its tangle would take the snapshot as its next anchor.
        let proposal = SystemProposal::anchor(self.chain.chain_id(), snapshot.clone());
        let settlements = BTreeMap::new();
        let approvals = Approvals::new();
        let mut policy = ValidatorPolicy {
            tangle: Some(&t.tangle),
            settlements: &settlements,
            approvals: &approvals,
        };
        let tx = self.chain.certify_with(proposal, &mut policy)?;
        let (_, o) = self.commit(client::GATEWAY, &tx)?;
        let now = self.chain.now();
        let anchored = t.tangle.handle_anchor(&snapshot, now);
        let stored = self.chain.server_mut().add_dag_snapshot(&snapshot);
        let finalized: Vec<u64> = snapshot
            .finalized
            .iter()
            .filter_map(|id| attached_at.get(id).map(|a| now.saturating_sub(*a)))
            .collect();
        self.report.expect(
            format!("the main chain anchors DAG snapshot {seq}; the tangle finalises it"),
            o.result.is_ok() && anchored.is_ok() && stored == root,
            format!(
                "{} transactions final in block {}, root {}",
                snapshot.finalized.len(),
                o.height,
                short(root.as_bytes())
            ),
        );
        self.report.figure(
            "dag_finality_ms_mean",
            "DAG attach → anchored (mean, simulated)",
            mean(&finalized),
            "ms",
            0,
        );

        // The lamp's light client proves one of its own readings final.
        let Some(reading) = lamp_txs
            .iter()
            .find(|id| t.tangle.status(id) == Some(TxStatus::Final))
            .copied()
        else {
            return Err(StoryError::Unexpected(
                "none of the lamp's readings was anchored",
            ));
        };
        self.seal()?;
        self.lamp.spv.sync(self.chain.server(), self.chain.now())?;
        let proof = self.lamp.spv.prove_dag_transaction(
            self.chain.server(),
            seq,
            reading.0,
            self.chain.now(),
        )?;
        self.report.expect(
            "the lamp's light client proves its reading is in the anchored snapshot",
            proof.height == o.height && proof.confirmations >= 1,
            format!(
                "tx {} via anchor {seq} in block {}, proof {} B, checked in {} µs",
                short(reading.0.as_bytes()),
                proof.height,
                proof.response_bytes,
                proof.verify_us
            ),
        );
        self.report.figure(
            "dag_proof_bytes",
            "DAG inclusion proof (anchor + snapshot)",
            proof.response_bytes as f64,
            "B",
            0,
        );
        self.report.figure(
            "dag_proof_verify_us",
            "DAG inclusion proof verification",
            proof.verify_us as f64,
            "µs",
            0,
        );
        self.telemetry = Some(t);
        Ok(())
    }

    fn adversarial_telemetry(
        &mut self,
        t: &mut Tangled,
        issuers: &[Issuer],
    ) -> Result<(), StoryError> {
        let now = self.chain.now();
        let (Some(lamp), Some(sensor)) = (issuers.get(1), issuers.last()) else {
            return Err(StoryError::Unexpected("no issuers"));
        };

        // A gateway that returns a nonce which does not solve the sensor's job: the sensor
        // checks it before signing, so the bad work never gets a signature.
        let spk = sensor.id.public_key();
        let sseq = t.sequences.get(spk.as_bytes()).copied().unwrap_or(0);
        let sparents = t.parents(now, &mut self.rng)?;
        let difficulty = t.tangle.required_difficulty(&spk, now);
        let mut job = TelemetryTx::new(spk, sseq, now, &sparents, b"lux=1", difficulty)
            .map_err(StoryError::Telemetry)?;
        let e = job.pow_job().essence_hash;
        let bad = (0..)
            .find(|n| itc_dag::pow::check(&e, *n, difficulty).is_err())
            .unwrap_or(0);
        let r = job.accept_nonce(bad);
        self.report.expect(
            "a sensor refuses a gateway's nonce that does not solve its PoW job",
            matches!(r, Err(TelemetryError::BadNonce { .. })) && !job.is_solved(),
            r.err()
                .map(|e| reason(&e))
                .unwrap_or_else(|| "accepted!".into()),
        );
        let digest = t.tangle.state_digest();
        let parents = t
            .tangle
            .select_parents(&RandomWalk::default(), &mut self.rng, now, 2)
            .map_err(StoryError::Dag)?;
        let build =
            |key: &SecretKey, seq: u64, bits: u8, solve: bool| -> Result<Transaction, StoryError> {
                let mut b = TransactionBuilder::new(key.public_key(), seq, now)
                    .parents(&parents)
                    .map_err(StoryError::Dag)?
                    .payload(Payload::data(b"junk").map_err(StoryError::Dag)?)
                    .difficulty(bits);
                if solve {
                    b.solve_pow(bits, 0, 1 << 30)
                        .ok_or(StoryError::Unexpected("proof of work not found"))?;
                } else {
                    // A nonce that does not meet the declared difficulty.
                    let e = b.essence_hash();
                    let bad = (0..)
                        .find(|n| itc_dag::pow::check(&e, *n, bits).is_err())
                        .unwrap_or(0);
                    b = b.nonce(bad);
                }
                b.sign(key).map_err(StoryError::Dag)
            };
        let pk: PublicKey = lamp.id.public_key();
        let seq = t.sequences.get(pk.as_bytes()).copied().unwrap_or(0);
        let required = t.tangle.required_difficulty(&pk, now);
        let cases: Vec<JunkCase> = vec![
            (
                "a lamp reading whose nonce does not meet its declared PoW",
                build(lamp.id.signer(), seq, required, false)?,
                |e| matches!(e, DagError::InsufficientPow { .. }),
            ),
            (
                "Mallory's unregistered key posting at sensor difficulty",
                build(&self.cast.mallory, 0, SENSOR_BITS, true)?,
                |e| matches!(e, DagError::DifficultyTooLow { .. }),
            ),
        ];
        for (what, tx, want) in cases {
            let r = t.tangle.handle_transaction(tx, now);
            let unchanged = t.tangle.state_digest() == digest;
            match r {
                Ok(_) => self
                    .report
                    .expect(format!("{what} is refused"), false, "accepted!"),
                Err(e) => self.report.expect(
                    format!("{what} is refused"),
                    want(&e) && unchanged,
                    format!("{}; tangle unchanged", reason(&e)),
                ),
            };
        }
        Ok(())
    }
}
