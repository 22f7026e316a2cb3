//! The main job: IoT Chain end to end in one process. A smart lamp obeys only its owner, with
//! no central server: a PBFT main chain (optionally with a Byzantine validator) over a simulated
//! network, a DAG side chain for telemetry, SPV on the lamp, privacy-preserving analytics that
//! pay users, and a verified firmware update. Exits non-zero if any expectation fails.
//!
//! ```text
//! cargo run --release -p itc-examples --bin smart_light -- [--seed N] [--byzantine] [--json]
//! ```

use std::process::ExitCode;

use itc_examples::args::{Options, USAGE};
use itc_examples::report::Output;
use itc_examples::story::Story;

fn main() -> ExitCode {
    let opts = match Options::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if opts.help {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let output = if opts.json {
        Output::Stderr
    } else {
        Output::Stdout
    };
    let started = std::time::Instant::now();
    let mut story = match Story::new(opts, output) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("could not set the stage: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !opts.json {
        println!(
            "IoT Chain — the smart light (seed {}{})",
            opts.seed,
            if opts.byzantine {
                ", Byzantine validator"
            } else {
                ""
            }
        );
    }
    let passed = story.run();
    let wall_ms = started.elapsed().as_millis();
    if opts.json {
        let context = [
            ("program", "smart_light".to_string()),
            ("seed", opts.seed.to_string()),
            ("byzantine", opts.byzantine.to_string()),
            ("wall_ms", wall_ms.to_string()),
        ];
        println!("{}", story.report.to_json(&context));
    } else {
        println!(
            "   finished in {:.1} s of wall time",
            wall_ms as f64 / 1000.0
        );
    }
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
