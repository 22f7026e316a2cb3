//! Writes the conformance vectors (`itc_examples::vectors`) into a directory:
//! `cargo run -p itc-examples --bin spec_vectors -- docs/spec/vectors`.
//! The test `spec_vectors` re-derives them and fails on any difference.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: spec_vectors DIR   (e.g. docs/spec/vectors)");
        return ExitCode::from(2);
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("{}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let files = match itc_examples::vectors::all() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    for (name, value) in files {
        let path = dir.join(name);
        let text = match serde_json::to_string_pretty(&value) {
            Ok(t) => t + "\n",
            Err(e) => {
                eprintln!("{name}: {e}");
                return ExitCode::FAILURE;
            }
        };
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("{}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("wrote {}", path.display());
    }
    ExitCode::SUCCESS
}
