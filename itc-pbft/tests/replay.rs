//! Replays one simulator schedule with a trace:
//! `ITC_PBFT_SEED=<seed> ITC_PBFT_POWERS=1,1,1,1 ITC_PBFT_BEHAVIOUR=Silent ITC_PBFT_TRACE=1
//! cargo test -p itc-pbft --test replay -- --ignored --nocapture`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod sim;

use sim::{run, Behaviour, SimConfig};

#[test]
#[ignore = "replays the schedule named by ITC_PBFT_SEED; run with --ignored"]
fn replay_one_seed() {
    let seed: u64 = std::env::var("ITC_PBFT_SEED")
        .expect("set ITC_PBFT_SEED")
        .parse()
        .unwrap();
    let powers: Vec<u64> = std::env::var("ITC_PBFT_POWERS")
        .unwrap_or_else(|_| "1,1,1,1".into())
        .split(',')
        .map(|p| p.trim().parse().unwrap())
        .collect();
    let name = std::env::var("ITC_PBFT_BEHAVIOUR").unwrap_or_else(|_| "None".into());
    let behaviour = Behaviour::ALL
        .into_iter()
        .chain(Behaviour::EXTRA)
        .chain(Behaviour::ISSUE_16)
        .find(|b| format!("{b:?}") == name)
        .unwrap();
    match run(&SimConfig::new(seed, powers, behaviour)) {
        Ok(o) => eprintln!("ok: {o:?}"),
        Err(f) => panic!("{f}"),
    }
}
