//! The `itc-node` binary.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "itc-node", about = "The IoT Chain node")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write keys (mode 0600), a genesis and one config per node of a localnet.
    Init {
        /// Number of validators.
        #[arg(long, default_value_t = 4)]
        localnet: usize,
        /// Directory to write into.
        #[arg(long)]
        dir: PathBuf,
        /// First port (node i uses base+3i, +1, +2).
        #[arg(long, default_value_t = 27_000)]
        base_port: u16,
    },
    /// Run a validator or full node (NOT implemented yet: see itc-node/README.md).
    Run {
        /// The node's config.
        #[arg(long)]
        config: PathBuf,
    },
    /// Query a running node's status (NOT implemented yet).
    Status {
        /// The node's config.
        #[arg(long)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Init {
            localnet,
            dir,
            base_port,
        } => match itc_node::init::localnet(&dir, localnet, base_port) {
            Ok(configs) => {
                for c in configs {
                    println!("itc-node run --config {}", c.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("itc-node init: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Run { config } | Command::Status { config } => {
            // The config is checked, so a wrong file is reported even before the loop exists.
            if let Err(e) = itc_node::config::NodeConfig::load(&config) {
                eprintln!("itc-node: {e}");
                return ExitCode::FAILURE;
            }
            eprintln!("itc-node: `run`/`status` are not implemented yet (issue 18)");
            ExitCode::from(2)
        }
    }
}
