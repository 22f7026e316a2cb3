//! Four short programs, one library crate each, runnable as binaries of this crate:
//!
//! | binary | crate | what it shows |
//! |---|---|---|
//! | `pbft_cluster` | `itc-pbft` | a cluster ordering a burst of requests; a Byzantine primary over a lossy network |
//! | `tangle_load` | `itc-dag` | hundreds of devices posting with PoW; confirmation, anchoring, proofs, pruning |
//! | `spv_sync` | `itc-spv` | a device syncing a long chain with rotating sets; proofs; fork halting |
//! | `chaincode_query` | `itc-chaincode` | a vendor's questions answered privately by a fleet; budgets, refunds |
//!
//! Each runs in well under a minute in release and exits non-zero if an expectation fails.
//! [`Scale::Small`] runs the same code on less data, for the debug-profile test suite.

use std::process::ExitCode;

use crate::error::StoryError;
use crate::report::{Output, Report};

pub mod chaincode_query;
pub mod pbft_cluster;
pub mod spv_sync;
pub mod tangle_load;

/// How much data a demo runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// What the binaries run.
    Full,
    /// A reduced run for tests.
    Small,
}

impl Scale {
    /// `full` or `small` depending on the scale.
    pub fn pick(self, full: usize, small: usize) -> usize {
        match self {
            Scale::Full => full,
            Scale::Small => small,
        }
    }
}

/// A demo's entry point.
pub type Demo = fn(&mut Report, Scale) -> Result<(), StoryError>;

/// Runs `demo` as a program: `--small` for the reduced run, `--json` for a JSON report on
/// stdout. Exits non-zero if an expectation failed or the demo could not finish.
pub fn main(name: &str, demo: Demo) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let scale = if args.iter().any(|a| a == "--small") {
        Scale::Small
    } else {
        Scale::Full
    };
    if let Some(bad) = args.iter().find(|a| *a != "--json" && *a != "--small") {
        eprintln!("{name}: unknown option {bad} (options: --small, --json)");
        return ExitCode::from(2);
    }
    let mut report = Report::new(if json { Output::Stderr } else { Output::Stdout });
    let started = std::time::Instant::now();
    if let Err(e) = demo(&mut report, scale) {
        report.expect(format!("{name} runs to the end"), false, e.to_string());
    }
    let wall_ms = started.elapsed().as_millis();
    if json {
        println!(
            "{}",
            report.to_json(&[
                ("program", name.to_string()),
                ("wall_ms", wall_ms.to_string())
            ])
        );
    } else {
        report.say("");
        report.print_figures();
        let failed = report.expectations().iter().filter(|e| !e.ok).count();
        report.say(format!(
            "{} of {} expectations held; {:.1} s",
            report.expectations().len() - failed,
            report.expectations().len(),
            wall_ms as f64 / 1000.0
        ));
    }
    if report.all_passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
