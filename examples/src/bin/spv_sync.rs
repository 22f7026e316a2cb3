//! `spv_sync`: see [`itc_examples::demos::spv_sync`]. Run with
//! `cargo run --release -p itc-examples --bin spv_sync` (`--small` for a quick run, `--json` for a
//! report); exits non-zero if any expectation fails.

fn main() -> std::process::ExitCode {
    itc_examples::demos::main("spv_sync", itc_examples::demos::spv_sync::run)
}
