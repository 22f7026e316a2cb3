//! The analytics cohort: a hundred homes' lamps with a week of usage each (Alice's lamp with its
//! real log), running both plans locally and answering the validators' aggregators.

use std::time::Instant;

use itc_chaincode::aggregator::{Aggregator, AggregatorConfig};
use itc_chaincode::budget::PrivacyBudget;
use itc_chaincode::contribution::Contribution;
use itc_chaincode::error::{ContributionError, ExecError};
use itc_chaincode::executor::LocalExecutor;
use itc_chaincode::plan::{Policy, Record, ValidPlan};
use itc_crypto::{Address, Encode, SecretKey};
use rand_core::RngCore;

use super::analytics::{KIND_DIM, KIND_SUMMARY};
use super::{addr, reason, Story};
use crate::error::StoryError;
use crate::report::mean;

/// One lamp of the cohort and its week of data (which never leaves it).
pub(crate) struct CohortLamp {
    /// The lamp's key (its answers are signed with it).
    pub key: SecretKey,
    /// Its home's number (the key of its dimming records).
    pub home: u32,
    /// Where its owner's reward goes.
    pub owner: Address,
    /// Dimming events this week: (time, level).
    pub dims: Vec<(u64, i64)>,
    /// Mean brightness while on, %.
    pub mean_brightness: i64,
}

impl CohortLamp {
    /// The storage its plan records borrow from: dimming levels, the weekly summary, the
    /// home key of the dimming records and the lamp key of the summary.
    fn record_fields(&self, index: u32) -> (Vec<[i64; 1]>, [i64; 1], [u8; 4], [u8; 4]) {
        let dims = self.dims.iter().map(|(_, l)| [*l]).collect();
        (
            dims,
            [self.mean_brightness],
            self.home.to_be_bytes(),
            index.to_be_bytes(),
        )
    }
}

/// What the answering leaves: the cohort (its truth) and the two aggregators.
pub(crate) struct Answers {
    /// The lamps.
    pub cohort: Vec<CohortLamp>,
    /// Aggregator of plan 1.
    pub agg1: Aggregator,
    /// Aggregator of plan 2.
    pub agg2: Aggregator,
    /// The first lamp's two answers (to replay at the aggregators).
    pub first: Option<(Contribution, Contribution)>,
}

impl Story {
    pub(crate) fn cohort(&mut self, week_start: u64, now: u64) -> Vec<CohortLamp> {
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

    /// Every lamp of the cohort runs both plans and submits its answers; duplicates and
    /// wrong-plan answers are refused.
    pub(crate) fn answer(
        &mut self,
        p1: &ValidPlan,
        p2: &ValidPlan,
        week_start: u64,
        at: u64,
        now: u64,
    ) -> Result<Answers, StoryError> {
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
            let (dims, summary, home_key, lamp_key) = lamp.record_fields(i as u32);
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
                    p1,
                    dim_records.iter().copied(),
                    lamp.owner,
                    t,
                    &mut self.rng,
                )
                .map_err(StoryError::Exec)?;
            let c2 = exec
                .run(p2, [summary_record], lamp.owner, t, &mut self.rng)
                .map_err(StoryError::Exec)?;
            exec_us.push(started.elapsed().as_micros() as u64 / 2);
            if i == 0 {
                // The same plan twice from one lamp: its privacy ledger says no.
                let again = exec.run(
                    p1,
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

        Ok(Answers {
            cohort,
            agg1,
            agg2,
            first,
        })
    }
}
