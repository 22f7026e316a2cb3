//! `tangle_load`: see [`itc_examples::demos::tangle_load`]. Run with
//! `cargo run --release -p itc-examples --bin tangle_load` (`--small` for a quick run, `--json` for a
//! report); exits non-zero if any expectation fails.

fn main() -> std::process::ExitCode {
    itc_examples::demos::main("tangle_load", itc_examples::demos::tangle_load::run)
}
