//! `pbft_cluster`: see [`itc_examples::demos::pbft_cluster`]. Run with
//! `cargo run --release -p itc-examples --bin pbft_cluster` (`--small` for a quick run, `--json` for a
//! report); exits non-zero if any expectation fails.

fn main() -> std::process::ExitCode {
    itc_examples::demos::main("pbft_cluster", itc_examples::demos::pbft_cluster::run)
}
