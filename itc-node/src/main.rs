//! The `itc-node` binary.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use itc_node::config::{read_validator_key, GenesisFile, NodeConfig};

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
        /// Print JSON (the config paths).
        #[arg(long)]
        json: bool,
    },
    /// Run a validator (role = "validator" in the config) until SIGINT/SIGTERM.
    Run {
        /// The node's config.
        #[arg(long)]
        config: PathBuf,
    },
    /// Print a running node's status (height, view, peers, last commit time).
    Status {
        /// The node's config.
        #[arg(long)]
        config: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sign `count` ledger transfers from the genesis faucet and post them, in nonce order, to
    /// every node given (one is enough: it gossips them).
    SubmitTransfers {
        /// Node configs (repeat to post to several: each gets every transfer, in nonce order).
        #[arg(long, required = true)]
        config: Vec<PathBuf>,
        /// The faucet key (`faucet.key` from `init`).
        #[arg(long)]
        faucet: PathBuf,
        /// Number of transfers.
        #[arg(long, default_value_t = 1)]
        count: u64,
        /// Amount per transfer.
        #[arg(long, default_value_t = 1)]
        amount: u64,
        /// First nonce (default: the faucet account's next nonce on the first node; give it
        /// when earlier transfers may still be pending).
        #[arg(long)]
        first_nonce: Option<u64>,
        /// Transfers per HTTP request (`POST /v1/txs`).
        #[arg(long, default_value_t = 100)]
        batch: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn load(config: &Path) -> Result<NodeConfig, ExitCode> {
    NodeConfig::load(config).map_err(|e| {
        eprintln!("itc-node: {e}");
        ExitCode::FAILURE
    })
}

fn run(config: PathBuf) -> ExitCode {
    let config = match load(&config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("itc-node: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(itc_node::node::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(itc_node::node::NodeError::Unsupported(what)) => {
            eprintln!("itc-node: not supported yet: {what}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("itc-node: {e}");
            ExitCode::FAILURE
        }
    }
}

fn status(config: PathBuf, json: bool) -> ExitCode {
    let config = match load(&config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match itc_node::client::status(config.api_addr) {
        Ok(s) if json => match serde_json::to_string_pretty(&s) {
            Ok(text) => {
                println!("{text}");
                ExitCode::SUCCESS
            }
            Err(_) => ExitCode::FAILURE,
        },
        Ok(s) => {
            println!("validator   {}", s.validator);
            println!("peer id     {}", s.peer_id);
            println!("height      {}", s.height);
            println!(
                "view        {}{}",
                s.view,
                if s.primary { " (primary)" } else { "" }
            );
            println!("tip         {}", s.tip_hash);
            println!("state root  {}", s.state_root);
            println!("peers       {} ({} bound)", s.peers, s.bound_peers);
            println!("mempool     {}", s.mempool);
            println!("last commit {} ms since the epoch", s.last_commit_ms);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("itc-node status: {e}");
            ExitCode::FAILURE
        }
    }
}

fn submit_transfers(
    configs: &[PathBuf],
    faucet: &Path,
    count: u64,
    amount: u64,
    first_nonce: Option<u64>,
    batch: usize,
    json: bool,
) -> ExitCode {
    let mut apis: Vec<SocketAddr> = Vec::new();
    let mut genesis = None;
    for c in configs {
        let c = match load(c) {
            Ok(c) => c,
            Err(code) => return code,
        };
        apis.push(c.api_addr);
        genesis.get_or_insert(c.genesis);
    }
    let Some(genesis) = genesis else {
        return ExitCode::FAILURE;
    };
    let chain_id = match GenesisFile::load(&genesis) {
        Ok(g) => g.chain_id,
        Err(e) => {
            eprintln!("itc-node: {e}");
            return ExitCode::FAILURE;
        }
    };
    let key = match read_validator_key(faucet) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("itc-node: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match first_nonce {
        Some(n) => {
            itc_node::client::submit_transfers_from(&apis, chain_id, &key, n, count, amount, batch)
        }
        None => itc_node::client::submit_transfers(&apis, chain_id, &key, count, amount, batch),
    };
    match result {
        Ok(s) => {
            if json {
                println!(
                    "{{\"first_nonce\":{},\"count\":{},\"accepted\":{}}}",
                    s.first_nonce, s.count, s.accepted
                );
            } else {
                println!(
                    "signed {} transfers (nonces {}..{}), {} submissions accepted by {} node(s)",
                    s.count,
                    s.first_nonce,
                    s.first_nonce + s.count,
                    s.accepted,
                    apis.len()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("itc-node submit-transfers: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Init {
            localnet,
            dir,
            base_port,
            json,
        } => match itc_node::init::localnet(&dir, localnet, base_port) {
            Ok(configs) if json => {
                let paths: Vec<String> = configs.iter().map(|c| c.display().to_string()).collect();
                match serde_json::to_string(&paths) {
                    Ok(text) => {
                        println!("{{\"configs\":{text}}}");
                        ExitCode::SUCCESS
                    }
                    Err(_) => ExitCode::FAILURE,
                }
            }
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
        Command::Run { config } => run(config),
        Command::Status { config, json } => status(config, json),
        Command::SubmitTransfers {
            config,
            faucet,
            count,
            amount,
            first_nonce,
            batch,
            json,
        } => submit_transfers(&config, &faucet, count, amount, first_nonce, batch, json),
    }
}
