//! `chaincode_query`: see [`itc_examples::demos::chaincode_query`]. Run with
//! `cargo run --release -p itc-examples --bin chaincode_query` (`--small` for a quick run, `--json` for a
//! report); exits non-zero if any expectation fails.

fn main() -> std::process::ExitCode {
    itc_examples::demos::main("chaincode_query", itc_examples::demos::chaincode_query::run)
}
