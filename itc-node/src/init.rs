//! `itc-node init --localnet N --dir DIR`: keys (mode 0600), one genesis, one config per node
//! on 127.0.0.1 ports.

use std::fs;
use std::path::{Path, PathBuf};

use itc_crypto::{Address, SecretKey};
use rand_core::{OsRng, RngCore};

use crate::config::{
    write_secret, ConfigError, GenesisBalance, GenesisFile, GenesisValidator, NodeConfig, Role,
};

/// Chain id of a localnet.
pub const LOCALNET_CHAIN_ID: u32 = 0x17c0_0001;
/// Balance of the localnet's funded account (whose key is written to `faucet.key`).
pub const FAUCET_BALANCE: u64 = 1_000_000_000;

fn fresh_secret() -> SecretKey {
    loop {
        let mut b = [0u8; 32];
        OsRng.fill_bytes(&mut b);
        if let Ok(k) = SecretKey::from_bytes(&b) {
            return k;
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ConfigError + '_ {
    move |error| ConfigError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Writes a localnet of `validators` nodes under `dir` (which must not hold one already):
/// `genesis.toml`, `faucet.key`, and `nodeI/{validator.key,node.key,node.toml}`. Node `i`
/// listens on `base_port + 3i` (libp2p), `+1` (API), `+2` (metrics), and dials the nodes before
/// it. Returns the config paths.
pub fn localnet(
    dir: &Path,
    validators: usize,
    base_port: u16,
) -> Result<Vec<PathBuf>, ConfigError> {
    if validators == 0 || validators > 64 {
        return Err(ConfigError::Genesis("a localnet has 1..=64 validators"));
    }
    fs::create_dir_all(dir).map_err(io(dir))?;
    let genesis_time_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let faucet = fresh_secret();
    write_secret(&dir.join("faucet.key"), &faucet.to_bytes()[..])?;
    let keys: Vec<SecretKey> = (0..validators).map(|_| fresh_secret()).collect();
    let genesis = GenesisFile {
        chain_id: LOCALNET_CHAIN_ID,
        genesis_time_ms,
        validators: keys
            .iter()
            .map(|k| GenesisValidator {
                key: hex::encode(k.public_key().as_bytes()),
                power: 1,
            })
            .collect(),
        balances: vec![GenesisBalance {
            address: hex::encode(Address::from_public_key(&faucet.public_key()).0),
            amount: FAUCET_BALANCE,
        }],
    };
    // Checks the set before anything names it.
    genesis.state()?;
    let genesis_path = dir.join("genesis.toml");
    let text = toml::to_string(&genesis).map_err(|_| ConfigError::Genesis("genesis encoding"))?;
    fs::write(&genesis_path, text).map_err(io(&genesis_path))?;
    let port = |i: usize, k: usize| -> Result<u16, ConfigError> {
        u16::try_from(usize::from(base_port) + 3 * i + k)
            .map_err(|_| ConfigError::Genesis("base port too high for this many nodes"))
    };
    let mut configs = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let node_dir = dir.join(format!("node{i}"));
        fs::create_dir_all(&node_dir).map_err(io(&node_dir))?;
        write_secret(&node_dir.join("validator.key"), &key.to_bytes()[..])?;
        let mut node_key = [0u8; 32];
        OsRng.fill_bytes(&mut node_key);
        write_secret(&node_dir.join("node.key"), &node_key)?;
        let mut peers = Vec::new();
        for j in 0..i {
            peers.push(format!("/ip4/127.0.0.1/tcp/{}", port(j, 0)?));
        }
        let config = NodeConfig {
            role: Role::Validator,
            data_dir: "db".into(),
            genesis: "../genesis.toml".into(),
            validator_key: Some("validator.key".into()),
            node_key: "node.key".into(),
            listen: format!("/ip4/127.0.0.1/tcp/{}", port(i, 0)?),
            peers,
            api_addr: ([127, 0, 0, 1], port(i, 1)?).into(),
            metrics_addr: ([127, 0, 0, 1], port(i, 2)?).into(),
            checkpoint_interval: 64,
            idle_block_interval_ms: 1_000,
            snapshot_interval: 256,
            batch_delay_ms: itc_pbft::Config::default().batch_delay_ms,
        };
        let path = node_dir.join("node.toml");
        let text = toml::to_string(&config).map_err(|_| ConfigError::Genesis("config encoding"))?;
        fs::write(&path, text).map_err(io(&path))?;
        configs.push(path);
    }
    Ok(configs)
}
