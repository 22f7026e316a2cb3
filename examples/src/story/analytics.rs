//! Phase 6: privacy-preserving analytics. Lumen asks "how many distinct homes used dimming this
//! week, and what is the mean brightness?" as two chaincode plans funded into ledger escrow.
//! Each lamp runs the plans over its own usage log and answers with a signed sketch; the
//! validators' aggregator releases only the noised aggregates (over at least k = 50 devices)
//! and the settlement pays the contributors — wired here into a ledger `SettlePlan`.

use std::collections::BTreeSet;

use itc_chaincode::aggregator::{CloseOutcome, ReleasedValue};
use itc_chaincode::error::{ContributionError, PlanError};
use itc_chaincode::plan::{Aggregation, Clamp, Filter, Fuel, Plan, Policy, Privacy};

use super::cohort::Answers;
use super::{addr, client, reason, Story, VENDOR};
use crate::error::StoryError;

/// Record kind: the lamp was dimmed (key: the home's id; field 0: the level).
pub(crate) const KIND_DIM: u32 = 1;
/// Record kind: the lamp's weekly summary (field 0: mean brightness while on, %).
pub(crate) const KIND_SUMMARY: u32 = 2;
const WEEK_MS: u64 = 7 * 24 * 3_600_000;
/// How long the plans stay open (simulated ms).
const OPEN_MS: u64 = 10 * 60_000;
/// Budgets, in ITC base units.
const BUDGET_DIMMING: u64 = 6_000;
const BUDGET_BRIGHTNESS: u64 = 4_000;

impl Story {
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

    /// Phase 6.
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
        let header = self
            .chain
            .server()
            .header(height)
            .ok_or(StoryError::Unexpected("funding block missing"))?;
        // The activation rule is itc-chaincode's: the funding block keys the plan.
        let itc_chaincode::Activation {
            key: activation,
            at_ms: at,
        } = itc_chaincode::activation(itc_chaincode::BlockRef {
            hash: header.hash(),
            timestamp_ms: header.timestamp_ms,
        });
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

        // The lamps answer; bad submissions change nothing.
        let Answers {
            cohort,
            mut agg1,
            mut agg2,
            first,
        } = self.answer(&p1, &p2, week_start, at, now)?;

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
        let beacon_header = self
            .chain
            .server()
            .header(beacon_height)
            .ok_or(StoryError::Unexpected("beacon block missing"))?;
        // The beacon rule is itc-chaincode's: the first block at or after the deadline.
        let parent_ts = beacon_height
            .checked_sub(1)
            .and_then(|h| self.chain.server().header(h))
            .map(|h| h.timestamp_ms);
        let itc_chaincode::Beacon {
            seed: beacon,
            close_at_ms: close_at,
        } = itc_chaincode::beacon(
            deadline,
            parent_ts,
            itc_chaincode::BlockRef {
                hash: beacon_header.hash(),
                timestamp_ms: beacon_header.timestamp_ms,
            },
        )
        .ok_or(StoryError::Unexpected(
            "that block is not the plan's beacon",
        ))?;
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
                CloseOutcome::Released {
                    release: r1,
                    settlement: s1,
                },
                CloseOutcome::Released {
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
}
