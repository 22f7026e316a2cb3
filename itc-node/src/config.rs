//! Configuration (TOML, with `ITC_*` environment overrides), key files and the genesis file.

use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use itc_crypto::quorum::{Validator, ValidatorSet};
use itc_crypto::{Address, PublicKey, SecretKey};
use itc_ledger::GenesisState;
use serde::{Deserialize, Serialize};

/// What can go wrong reading configuration, keys or genesis.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
    /// A TOML file does not parse.
    #[error("{path}: {error}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        error: toml::de::Error,
    },
    /// An environment override does not parse.
    #[error("environment variable {name}: {value:?} is not valid")]
    Env {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
    },
    /// A key file is not 64 hex digits of a valid secret key.
    #[error("key file {0}: not a valid secret key")]
    BadKey(PathBuf),
    /// A key file is readable by others than its owner.
    #[error("key file {0}: mode allows group/other access (chmod 600)")]
    KeyPermissions(PathBuf),
    /// The genesis file names an invalid key, address or set.
    #[error("genesis: {0}")]
    Genesis(&'static str),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ConfigError + '_ {
    move |error| ConfigError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// A node's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Votes in consensus (needs `itc_chain::Validator`).
    Validator,
    /// Follows certified blocks, verifies, stores and serves.
    Full,
}

/// `node.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Validator or full node.
    pub role: Role,
    /// Directory of the database (`chain.redb`).
    pub data_dir: PathBuf,
    /// The genesis TOML file.
    pub genesis: PathBuf,
    /// The chain key (validators; hex, mode 0600).
    #[serde(default)]
    pub validator_key: Option<PathBuf>,
    /// The libp2p identity key (hex ed25519 secret, mode 0600).
    pub node_key: PathBuf,
    /// libp2p listen multiaddr, e.g. `/ip4/127.0.0.1/tcp/0`.
    pub listen: String,
    /// Peers to dial (multiaddrs).
    #[serde(default)]
    pub peers: Vec<String>,
    /// HTTP API (status, submit).
    pub api_addr: SocketAddr,
    /// Prometheus metrics.
    pub metrics_addr: SocketAddr,
    /// PBFT checkpoint interval (validator sets change only at its multiples).
    #[serde(default = "default_interval")]
    pub checkpoint_interval: u64,
    /// Ledger snapshot every this many blocks.
    #[serde(default = "default_snapshot")]
    pub snapshot_interval: u64,
    /// Idle blocks (ms; 0: off): with nothing to order, the primary proposes an empty block
    /// this long after the last one, so every state change is provable within one interval
    /// of its commit and an idle chain still certifies headers (a primary that stops
    /// producing them is replaced by a view change).
    #[serde(default = "default_idle")]
    pub idle_block_interval_ms: u64,
    /// How long a primary waits to fill a batch before proposing a partial one (ms; 0:
    /// propose as soon as it may). Latency against block count: see benches/README.md.
    #[serde(default = "default_batch_delay")]
    pub batch_delay_ms: u64,
}

fn default_interval() -> u64 {
    64
}
fn default_idle() -> u64 {
    1_000
}
fn default_batch_delay() -> u64 {
    itc_pbft::Config::default().batch_delay_ms
}
fn default_snapshot() -> u64 {
    256
}

impl NodeConfig {
    /// Reads `path`, then applies `ITC_*` overrides (`ITC_ROLE`, `ITC_DATA_DIR`, `ITC_LISTEN`,
    /// `ITC_PEERS` comma-separated, `ITC_API_ADDR`, `ITC_METRICS_ADDR`). Relative paths in the
    /// file are relative to the file's directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = fs::read_to_string(path).map_err(io(path))?;
        let mut c: NodeConfig = toml::from_str(&text).map_err(|error| ConfigError::Toml {
            path: path.to_path_buf(),
            error,
        })?;
        c.apply_env(|k| std::env::var(k).ok())?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [&mut c.data_dir, &mut c.genesis, &mut c.node_key] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        if let Some(p) = c.validator_key.as_mut() {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(c)
    }

    /// Applies environment overrides read through `get`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("ITC_ROLE") {
            self.role = match v.as_str() {
                "validator" => Role::Validator,
                "full" => Role::Full,
                _ => {
                    return Err(ConfigError::Env {
                        name: "ITC_ROLE",
                        value: v,
                    })
                }
            };
        }
        if let Some(v) = get("ITC_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = get("ITC_LISTEN") {
            self.listen = v;
        }
        if let Some(v) = get("ITC_PEERS") {
            self.peers = v
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
        }
        for (name, slot) in [
            ("ITC_API_ADDR", &mut self.api_addr),
            ("ITC_METRICS_ADDR", &mut self.metrics_addr),
        ] {
            if let Some(v) = get(name) {
                *slot = v.parse().map_err(|_| ConfigError::Env { name, value: v })?;
            }
        }
        Ok(())
    }
}

/// Writes `bytes` as hex to a new file of mode 0600 (refusing to overwrite).
pub fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), ConfigError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    f.write_all(hex::encode(bytes).as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(io(path))
}

/// Reads a 32-byte hex secret from a file that only its owner can read.
pub fn read_secret(path: &Path) -> Result<[u8; 32], ConfigError> {
    let meta = fs::metadata(path).map_err(io(path))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(ConfigError::KeyPermissions(path.to_path_buf()));
    }
    let text = fs::read_to_string(path).map_err(io(path))?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut out)
        .map_err(|_| ConfigError::BadKey(path.to_path_buf()))?;
    Ok(out)
}

/// Reads a validator's chain key.
pub fn read_validator_key(path: &Path) -> Result<SecretKey, ConfigError> {
    SecretKey::from_bytes(&read_secret(path)?).map_err(|_| ConfigError::BadKey(path.to_path_buf()))
}

/// The genesis file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisFile {
    /// Chain id.
    pub chain_id: u32,
    /// Genesis timestamp (ms since the Unix epoch).
    pub genesis_time_ms: u64,
    /// The first validator set.
    pub validators: Vec<GenesisValidator>,
    /// Initial balances.
    #[serde(default)]
    pub balances: Vec<GenesisBalance>,
}

/// A validator in the genesis file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GenesisValidator {
    /// x-only public key, hex.
    pub key: String,
    /// Voting power.
    pub power: u64,
}

/// A funded account in the genesis file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisBalance {
    /// 20-byte address, hex.
    pub address: String,
    /// Amount.
    pub amount: u64,
}

impl GenesisFile {
    /// Reads a genesis TOML file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = fs::read_to_string(path).map_err(io(path))?;
        toml::from_str(&text).map_err(|error| ConfigError::Toml {
            path: path.to_path_buf(),
            error,
        })
    }

    /// The ledger genesis state it describes.
    pub fn state(&self) -> Result<GenesisState, ConfigError> {
        let mut validators = Vec::new();
        for v in &self.validators {
            let mut k = [0u8; 32];
            hex::decode_to_slice(&v.key, &mut k)
                .map_err(|_| ConfigError::Genesis("validator key is not 64 hex digits"))?;
            let key = PublicKey::from_bytes(&k)
                .map_err(|_| ConfigError::Genesis("validator key is not a curve point"))?;
            validators.push(Validator {
                key,
                power: v.power,
            });
        }
        let validators = ValidatorSet::new(validators)
            .map_err(|_| ConfigError::Genesis("validators do not form a set"))?;
        let mut balances = Vec::new();
        for b in &self.balances {
            let mut a = [0u8; 20];
            hex::decode_to_slice(&b.address, &mut a)
                .map_err(|_| ConfigError::Genesis("address is not 40 hex digits"))?;
            balances.push((Address(a), b.amount));
        }
        Ok(GenesisState {
            chain_id: self.chain_id,
            validators,
            balances,
            vendors: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample() -> NodeConfig {
        toml::from_str(
            r#"
role = "full"
data_dir = "db"
genesis = "genesis.toml"
node_key = "node.key"
listen = "/ip4/127.0.0.1/tcp/0"
api_addr = "127.0.0.1:0"
metrics_addr = "127.0.0.1:0"
"#,
        )
        .unwrap()
    }

    #[test]
    fn env_overrides_and_bad_values() {
        let mut c = sample();
        c.apply_env(|k| match k {
            "ITC_PEERS" => Some("/ip4/127.0.0.1/tcp/1,/ip4/127.0.0.1/tcp/2".into()),
            "ITC_ROLE" => Some("validator".into()),
            "ITC_API_ADDR" => Some("127.0.0.1:9000".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.peers.len(), 2);
        assert_eq!(c.role, Role::Validator);
        assert_eq!(c.api_addr.port(), 9000);
        let before = sample();
        let mut c = sample();
        assert!(matches!(
            c.apply_env(|k| (k == "ITC_ROLE").then(|| "king".into())),
            Err(ConfigError::Env { .. })
        ));
        assert_eq!(c, before);
        assert!(toml::from_str::<NodeConfig>("role = \"full\"\nbogus = 1").is_err());
    }

    #[test]
    fn secrets_are_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        write_secret(&p, &[7; 32]).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(read_secret(&p).unwrap(), [7; 32]);
        assert!(write_secret(&p, &[8; 32]).is_err());
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            read_secret(&p),
            Err(ConfigError::KeyPermissions(_))
        ));
    }
}
