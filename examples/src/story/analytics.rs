//! Phase 5: privacy-preserving analytics. Lumen asks "how many distinct homes used dimming this
//! week, and what is the mean brightness?" as two chaincode plans funded into ledger escrow.
//! Each lamp runs the plans over its own usage log and answers with a signed sketch; the
//! validators' aggregator releases only the noised aggregates (over at least k = 50 devices)
//! and the settlement pays the contributors — wired here into a ledger `SettlePlan`.

use std::collections::BTreeSet;
use std::time::Instant;

use itc_chaincode::aggregator::{Aggregator, AggregatorConfig, Outcome, ReleasedValue};
use itc_chaincode::budget::PrivacyBudget;
use itc_chaincode::contribution::Contribution;
use itc_chaincode::error::{ContributionError, ExecError, PlanError};
use itc_chaincode::executor::LocalExecutor;
use itc_chaincode::payout::Settlement;
use itc_chaincode::plan::{
    Aggregation, Clamp, Filter, Fuel, Plan, Policy, Privacy, Record, ValidPlan,
};
use itc_crypto::{Address, Encode, SecretKey};
use itc_ledger::system::Payouts;
use itc_ledger::{StateKey, SystemCall};
use rand_core::RngCore;

use super::{addr, client, reason, Story, VENDOR};
use crate::error::StoryError;
use crate::report::mean;

/// Record kind: the lamp was dimmed (key: the home's id; field 0: the level).
const KIND_DIM: u32 = 1;
/// Record kind: the lamp's weekly summary (field 0: mean brightness while on, %).
const KIND_SUMMARY: u32 = 2;
const WEEK_MS: u64 = 7 * 24 * 3_600_000;
/// How long the plans stay open (simulated ms).
const OPEN_MS: u64 = 10 * 60_000;
/// Budgets, in ITC base units.
const BUDGET_DIMMING: u64 = 6_000;
const BUDGET_BRIGHTNESS: u64 = 4_000;

/// One lamp of the cohort and its week of data (which never leaves it).
struct CohortLamp {
    key: SecretKey,
    home: u32,
    owner: Address,
    dims: Vec<(u64, i64)>,
    mean_brightness: i64,
}

impl CohortLamp {
    fn records(&self) -> (Vec<[i64; 1]>, [i64; 1], [u8; 4], [u8; 4]) {
        let dims = self.dims.iter().map(|(_, l)| [*l]).collect();
        (
            dims,
            [self.mean_brightness],
            self.home.to_be_bytes(),
            [0; 4],
        )
    }
}

impl Story {
    fn cohort(&mut self, week_start: u64, now: u64) -> Vec<CohortLamp> {
        let homes = self.opts.homes as u32;
        let mut lamps = Vec::new();
        // Home 0 is Alice's: her lamp's real usage log.
        let usage = &self.lamp.usage;
        let dims: Vec<(u64, i64)> = usage
            .iter()
            .filter(|u| u.level > 0 && u.level < 100)
            .map(|u| (u.at_ms, i64::from(u.level)))
            .collect();
        let on: Vec<u64> = usage
            .iter()
            .filter(|u| u.level > 0)
            .map(|u| u64::from(u.level))
            .collect();
        let mean_on = if on.is_empty() {
            0
        } else {
            on.iter().sum::<u64>() / on.len() as u64
        };
        lamps.push(CohortLamp {
            key: self.lamp.signer().clone(),
            home: 0,
            owner: addr(&self.cast.alice),
            dims,
            mean_brightness: mean_on as i64,
        });
        for home in 1..homes {
            let owner = addr(&SecretKey::generate(&mut self.rng));
            let dimmer = self.rng.next_u32() % 100 < 55;
            // One home in five has a second lamp (and counts once as a home).
            let count = if home % 5 == 0 { 2 } else { 1 };
            for _ in 0..count {
                let n = if dimmer {
                    1 + self.rng.next_u32() % 4
                } else {
                    0
                };
                let dims = (0..n)
                    .map(|_| {
                        let at = week_start + self.rng.next_u64() % (now - week_start);
                        (at, i64::from(10 + self.rng.next_u32() % 80))
                    })
                    .collect();
                lamps.push(CohortLamp {
                    key: SecretKey::generate(&mut self.rng),
                    home,
                    owner,
                    dims,
                    mean_brightness: i64::from(20 + self.rng.next_u32() % 81),
                });
            }
        }
        lamps
    }

    fn plan(
        &self,
        nonce: u64,
        kinds: u32,
        aggregation: Aggregation,
        budget: u64,
        week_start: u64,
        now: u64,
    ) -> Plan {
        Plan {
            vendor: addr(&self.cast.vendor),
            nonce,
            filter: Filter {
                kinds: vec![kinds],
                since_ms: week_start,
                until_ms: now,
                tags_all: 0,
                max_records: 1,
            },
            aggregation,
            privacy: Privacy {
                epsilon_milli: 1000,
                min_contributors: 50,
            },
            budget,
            deadline_ms: now + OPEN_MS,
            fuel: Fuel {
                per_record: 16,
                per_plan: 100_000,
            },
        }
    }

    /// Phase 5.
    pub(crate) fn phase_analytics(&mut self) -> Result<(), StoryError> {
        self.report
            .phase("Privacy-preserving analytics: a vendor's question, answered by the lamps");
        let now = self.chain.now();
        let week_start = now.saturating_sub(WEEK_MS);
        let dimming = self.plan(
            1,
            KIND_DIM,
            Aggregation::DistinctCount { precision: 12 },
            BUDGET_DIMMING,
            week_start,
            now,
        );
        let brightness = self.plan(
            2,
            KIND_SUMMARY,
            Aggregation::Mean {
                field: 0,
                clamp: Clamp { lo: 0, bits: 7 },
            },
            BUDGET_BRIGHTNESS,
            week_start,
            now,
        );
        self.report.say(
            "plan 1: distinct homes whose lamps were dimmed this week (HyperLogLog, ε = 1, k ≥ 50)",
        );
        self.report.say(
            "plan 2: mean brightness while on (Pedersen-committed, range-proven, ε = 1, k ≥ 50)",
        );

        // Lumen funds both plans into escrow on the ledger.
        let b = self.chain.builder();
        let n = self.nonce(&self.cast.vendor);
        let f1 = b
            .fund_plan(&self.cast.vendor, n, dimming.id().0, VENDOR, BUDGET_DIMMING)
            .map_err(StoryError::Crypto)?;
        let f2 = b
            .fund_plan(
                &self.cast.vendor,
                n + 1,
                brightness.id().0,
                VENDOR,
                BUDGET_BRIGHTNESS,
            )
            .map_err(StoryError::Crypto)?;
        let t1 = self.chain.submit(client::VENDOR, &f1);
        let t2 = self.chain.submit(client::VENDOR, &f2);
        let outs = self.chain.wait(&[t1, t2], 120_000)?;
        let funded = outs.iter().all(|o| o.result.is_ok());
        let height = outs.iter().map(|o| o.height).max().unwrap_or(0);
        let header = *self
            .chain
            .server()
            .store()
            .header(height)
            .ok_or(StoryError::Unexpected("funding block missing"))?;
        let (activation, at) = (header.hash(), header.timestamp_ms);
        self.report.expect(
            "Lumen funds both plans into ledger escrow (FundPlan)",
            funded
                && self
                    .chain
                    .full_node_ledger()
                    .escrow(&dimming.id().0)
                    .map(|e| e.held)
                    == Some(BUDGET_DIMMING)
                && self
                    .chain
                    .full_node_ledger()
                    .escrow(&brightness.id().0)
                    .map(|e| e.held)
                    == Some(BUDGET_BRIGHTNESS),
            format!("{BUDGET_DIMMING} + {BUDGET_BRIGHTNESS} ITC held from block {height}"),
        );
        let policy = Policy::default();
        let p1 = dimming
            .clone()
            .validate(&policy, activation, at)
            .map_err(StoryError::Plan)?;
        let p2 = brightness
            .clone()
            .validate(&policy, activation, at)
            .map_err(StoryError::Plan)?;

        // What a device's policy refuses outright.
        let mut raw = dimming.clone();
        raw.aggregation = Aggregation::RawFields { fields: vec![0] };
        let mut tiny = brightness.clone();
        tiny.privacy.min_contributors = 5;
        for (what, plan, want) in [
            (
                "a plan asking for raw brightness values",
                raw,
                PlanError::RawDataRequested,
            ),
            (
                "a plan over a cohort of only 5 devices",
                tiny,
                PlanError::CohortTooSmall { k: 5, min: 50 },
            ),
        ] {
            let r = plan.validate(&policy, activation, at);
            self.report.expect(
                format!("{what} is refused by the lamps' policy"),
                r.as_ref().err() == Some(&want),
                match r {
                    Ok(_) => "accepted!".into(),
                    Err(e) => reason(&e),
                },
            );
        }

        // The lamps answer.
        let cohort = self.cohort(week_start, at);
        let mut agg1 = Aggregator::new(p1.clone(), AggregatorConfig::default());
        let mut agg2 = Aggregator::new(p2.clone(), AggregatorConfig::default());
        let mut exec_us = Vec::new();
        let mut submit_us = Vec::new();
        let mut sizes = Vec::new();
        let mut first: Option<(Contribution, Contribution)> = None;
        let total = cohort.len();
        for (i, lamp) in cohort.iter().enumerate() {
            let t = at + 1_000 + i as u64;
            let (dims, summary, home_key, lamp_key) = lamp.records();
            let dim_records: Vec<Record<'_>> = lamp
                .dims
                .iter()
                .zip(&dims)
                .map(|((time, _), f)| Record {
                    kind: KIND_DIM,
                    time_ms: *time,
                    tags: 0,
                    fields: f,
                    key: &home_key,
                })
                .collect();
            let summary_record = Record {
                kind: KIND_SUMMARY,
                time_ms: now.saturating_sub(1),
                tags: 0,
                fields: &summary,
                key: &lamp_key,
            };
            let mut exec = LocalExecutor::new(
                lamp.key.clone(),
                PrivacyBudget::default(),
                Policy::default(),
            );
            let started = Instant::now();
            let c1 = exec
                .run(
                    &p1,
                    dim_records.iter().copied(),
                    lamp.owner,
                    t,
                    &mut self.rng,
                )
                .map_err(StoryError::Exec)?;
            let c2 = exec
                .run(&p2, [summary_record], lamp.owner, t, &mut self.rng)
                .map_err(StoryError::Exec)?;
            exec_us.push(started.elapsed().as_micros() as u64 / 2);
            if i == 0 {
                // The same plan twice from one lamp: its privacy ledger says no.
                let again = exec.run(
                    &p1,
                    dim_records.iter().copied(),
                    lamp.owner,
                    t,
                    &mut self.rng,
                );
                self.report.expect(
                    "Alice's lamp refuses to answer plan 1 a second time",
                    matches!(again, Err(ExecError::AlreadyAnswered)),
                    match again {
                        Ok(_) => "answered!".into(),
                        Err(e) => reason(&e),
                    },
                );
            }
            sizes.push(c1.encoded_len() as u64);
            sizes.push(c2.encoded_len() as u64);
            let started = Instant::now();
            agg1.submit(&c1, t).map_err(StoryError::Contribution)?;
            agg2.submit(&c2, t).map_err(StoryError::Contribution)?;
            submit_us.push(started.elapsed().as_micros() as u64 / 2);
            if first.is_none() {
                first = Some((c1, c2));
            }
            self.report.progress("lamps answering", i + 1, total);
        }
        self.report.expect(
            format!("{total} lamps in {} homes answer both plans with signed sketches", self.opts.homes),
            agg1.contributors() == total && agg2.contributors() == total,
            format!(
                "{:.0} B per answer, {:.1} ms to compute on the host, {:.1} ms for the aggregator to check",
                mean(&sizes),
                mean(&exec_us) / 1000.0,
                mean(&submit_us) / 1000.0
            ),
        );
        self.report.figure(
            "contribution_bytes",
            "contribution size (mean)",
            mean(&sizes),
            "B",
            0,
        );
        self.report.figure(
            "contribution_check_us",
            "aggregator check per contribution",
            mean(&submit_us),
            "µs",
            0,
        );

        // Bad submissions change nothing.
        if let Some((c1, c2)) = &first {
            let before = (agg1.contributors(), agg2.contributors());
            let dup = agg1.submit(c1, at + 5_000);
            let wrong = agg1.submit(c2, at + 5_000);
            self.report.expect(
                "a duplicate answer and an answer to the wrong plan are refused",
                dup == Err(ContributionError::DuplicateDevice)
                    && wrong == Err(ContributionError::WrongPlan)
                    && before == (agg1.contributors(), agg2.contributors()),
                format!(
                    "{}, {}",
                    dup.err().map(|e| reason(&e)).unwrap_or_default(),
                    wrong.err().map(|e| reason(&e)).unwrap_or_default()
                ),
            );
        }

        // The deadline passes; the first block after it fixes the noise beacon.
        let deadline = p1.plan().deadline_ms;
        self.pass_time(deadline.saturating_sub(self.chain.now()))?;
        if let Some((c1, _)) = &first {
            let late = agg2.submit(c1, self.chain.now());
            self.report.expect(
                "an answer after the deadline is refused",
                matches!(late, Err(ContributionError::DeadlineExpired { .. })),
                late.err()
                    .map(|e| reason(&e))
                    .unwrap_or_else(|| "accepted!".into()),
            );
        }
        let beacon_height = self.heartbeat()?;
        let beacon_header = *self
            .chain
            .server()
            .store()
            .header(beacon_height)
            .ok_or(StoryError::Unexpected("beacon block missing"))?;
        if beacon_header.timestamp_ms < deadline {
            return Err(StoryError::Unexpected("beacon block before the deadline"));
        }
        let beacon = beacon_header.hash();
        let close_at = beacon_header.timestamp_ms;
        let o1 = agg1.close(beacon, close_at).map_err(StoryError::Close)?;
        let o2 = agg2.close(beacon, close_at).map_err(StoryError::Close)?;

        // Truth, known only to this simulation.
        let dim_homes: BTreeSet<u32> = cohort
            .iter()
            .filter(|l| !l.dims.is_empty())
            .map(|l| l.home)
            .collect();
        let truth_mean = cohort.iter().map(|l| l.mean_brightness).sum::<i64>() as f64
            / cohort.len().max(1) as f64;
        let (s1, s2) = match (&o1, &o2) {
            (
                Outcome::Released {
                    release: r1,
                    settlement: s1,
                },
                Outcome::Released {
                    release: r2,
                    settlement: s2,
                },
            ) => {
                let distinct = match r1.value {
                    ReleasedValue::DistinctCount(v) => v,
                    _ => i64::MIN,
                };
                let m = r2.mean().unwrap_or(i64::MIN);
                let truth = dim_homes.len() as i64;
                self.report.expect(
                    "released: distinct homes that dimmed (noised) is close to the truth",
                    (distinct - truth).abs() <= (truth / 10).max(5),
                    format!(
                        "released {distinct}, true {truth} (of {} homes)",
                        self.opts.homes
                    ),
                );
                self.report.expect(
                    "released: mean brightness (noised) is close to the truth",
                    (m as f64 - truth_mean).abs() <= 10.0,
                    format!("released {m} %, true {truth_mean:.1} %"),
                );
                self.report.figure(
                    "release_distinct_homes",
                    "released distinct dimming homes",
                    distinct as f64,
                    "",
                    0,
                );
                self.report.figure(
                    "release_mean_brightness",
                    "released mean brightness",
                    m as f64,
                    "%",
                    0,
                );
                (s1.clone(), s2.clone())
            }
            _ => {
                self.report
                    .expect("both plans are released", false, "withheld");
                return Ok(());
            }
        };
        for (name, s, budget) in [
            ("plan 1", &s1, BUDGET_DIMMING),
            ("plan 2", &s2, BUDGET_BRIGHTNESS),
        ] {
            let paid: u64 = s.payouts.iter().map(|p| p.amount).sum();
            self.report.expect(
                format!(
                    "{name}: payouts to {} contributors add up to the budget",
                    s.payouts.len()
                ),
                paid + s.refund == budget && s.total == budget && s.refund == 0,
                format!("{paid} + refund {} = {budget}", s.refund),
            );
        }

        // Settlement on the ledger, certified by the validators.
        self.settle(&[(&p1, &s1), (&p2, &s2)])
    }

    /// A block after everything so far (used as the noise beacon).
    fn heartbeat(&mut self) -> Result<u64, StoryError> {
        let gw = self.cast.gateway.clone();
        let tx = self
            .chain
            .builder()
            .transfer(&gw, self.nonce(&gw), addr(&gw), 1)
            .map_err(StoryError::Crypto)?;
        let (_, o) = self.commit(client::GATEWAY, &tx)?;
        Ok(o.height)
    }

    fn settle(&mut self, plans: &[(&ValidPlan, &Settlement)]) -> Result<(), StoryError> {
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
            let mut entries: Vec<(Address, u64)> =
                s.payouts.iter().map(|p| (p.to, p.amount)).collect();
            if s.refund > 0 {
                entries.push((s.vendor, s.refund));
            }
            expected += s.payouts.iter().map(|p| p.amount).sum::<u64>();
            let payouts = Payouts::new(entries).map_err(StoryError::Ledger)?;
            let tx = self.chain.certify(SystemCall::SettlePlan {
                plan_id: plan.id().0,
                payouts,
            })?;
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
