//! The smart-light story and the four one-crate demos, run in-process as tests: every
//! expectation of the story must hold (honest and with a Byzantine validator), the same seed
//! must tell the same story, and the binaries must report failure through their exit code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;

use itc_examples::args::Options;
use itc_examples::demos::{self, Scale};
use itc_examples::report::{Output, Report};
use itc_examples::story::Story;

fn run_story(opts: Options) -> Story {
    let mut story = Story::new(opts, Output::Silent).unwrap();
    let passed = story.run();
    let failed: Vec<String> = story
        .report
        .expectations()
        .iter()
        .filter(|e| !e.ok)
        .map(|e| format!("phase {}: {} — {}", e.phase, e.what, e.detail))
        .collect();
    assert!(
        passed && failed.is_empty(),
        "failed expectations:\n{}",
        failed.join("\n")
    );
    story
}

/// Figures that come from the simulation (not from the host's clock).
const SIMULATED: &[&str] = &[
    "ownership_proof_bytes",
    "tx_proof_bytes",
    "dag_confirm_ms_p50",
    "dag_confirm_ms_p90",
    "pow_attempts_lamp",
    "dag_proof_bytes",
    "release_distinct_homes",
    "release_mean_brightness",
    "commit_ms_p50",
    "commit_ms_max",
    "transactions",
    "blocks",
    "pbft_view",
    "net_dropped",
    "lamp_sync_bytes",
];

#[test]
fn the_story_holds_and_the_same_seed_tells_it_the_same_way() {
    let opts = Options {
        homes: 60,
        ..Options::default()
    };
    let a = run_story(opts);
    // Every phase ran and said something checkable.
    assert_eq!(
        a.phase_times().len(),
        8,
        "phases run: {:?}",
        a.phase_times()
    );
    assert!(a.report.expectations().len() >= 40);
    let b = run_story(opts);
    for key in SIMULATED {
        assert_eq!(
            a.report.figure_value(key),
            b.report.figure_value(key),
            "figure {key} differs between two runs of the same seed"
        );
        assert!(a.report.figure_value(key).is_some(), "figure {key} missing");
    }
    let tip = |s: &Story| s.chain().server().tip().hash();
    assert_eq!(tip(&a), tip(&b), "same seed, same chain");
    // Another seed tells another (still successful) story.
    let c = run_story(Options { seed: 2, ..opts });
    assert_ne!(tip(&a), tip(&c));
}

#[test]
fn the_story_holds_with_a_byzantine_validator() {
    let story = run_story(Options {
        seed: 7,
        byzantine: true,
        homes: 60,
        ..Options::default()
    });
    let stats = story.chain().stats();
    assert!(stats.equivocations_sent > 0 && stats.lies_sent > 0);
    assert!(story.chain().max_honest_view() >= 1);
    // The Byzantine-only expectations were made (and held).
    assert!(story
        .report
        .expectations()
        .iter()
        .any(|e| e.what.contains("equivocation is proven")));
}

#[test]
fn the_json_report_carries_every_expectation() {
    let mut r = Report::new(Output::Silent);
    r.phase("p");
    r.expect("a \"quoted\" claim", true, "line\nbreak");
    r.figure("x", "x", 1.5, "ms", 1);
    let j = r.to_json(&[("seed", "1".into())]);
    assert!(j.starts_with('{') && j.ends_with('}'));
    assert!(j.contains(r#""passed":true"#));
    assert!(j.contains(r#""what":"a \"quoted\" claim""#));
    assert!(j.contains(r#""detail":"line\nbreak""#));
    assert!(j.contains(r#""x":{"label":"x","value":1.5,"unit":"ms"}"#));
    assert_eq!(j.matches('{').count(), j.matches('}').count());
}

#[test]
fn demos_hold_at_small_scale() {
    for (name, demo) in [
        ("pbft_cluster", demos::pbft_cluster::run as demos::Demo),
        ("tangle_load", demos::tangle_load::run),
        ("spv_sync", demos::spv_sync::run),
        ("chaincode_query", demos::chaincode_query::run),
    ] {
        let mut report = Report::new(Output::Silent);
        demo(&mut report, Scale::Small).unwrap_or_else(|e| panic!("{name}: {e}"));
        let failed: Vec<_> = report.expectations().iter().filter(|e| !e.ok).collect();
        assert!(failed.is_empty(), "{name}: {failed:#?}");
        assert!(report.expectations().len() >= 4, "{name} checks too little");
    }
}

#[test]
fn the_binary_reports_bad_arguments_and_help_through_its_exit_code() {
    let bin = env!("CARGO_BIN_EXE_smart_light");
    let bad = Command::new(bin).arg("--seed").output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("USAGE"));
    let help = Command::new(bin).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--byzantine"));
}
