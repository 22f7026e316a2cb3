//! A localnet of real `itc-node run` processes on 127.0.0.1, killed when dropped.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code
)]

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use itc_crypto::{Address, Decode, Encode, SecretKey};
use itc_node::api::Status;
use itc_node::client;
use itc_node::config::{read_validator_key, GenesisFile, NodeConfig};

/// Validators in the localnet.
pub const N: usize = 4;

/// Kills every node it started when dropped (also when a test fails).
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub base_port: u16,
    pub configs: Vec<PathBuf>,
    pub apis: Vec<SocketAddr>,
    pub children: Vec<Option<Child>>,
    pub chain_id: u32,
    pub faucet: SecretKey,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self.children.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A base port with `3 * (N + 1)` free ports above it (the validators and one full node).
fn free_base_port() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    let seed = u64::from(std::process::id()) ^ nanos;
    for attempt in 0..50u64 {
        let base = 20_000 + ((seed.wrapping_mul(7919) + attempt * 977) % 30_000) as u16;
        let free =
            (0..3 * (N as u16 + 1)).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok());
        if free {
            return base;
        }
    }
    panic!("no free port range");
}

impl Cluster {
    pub fn init() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let base = free_base_port();
        let out = Command::new(env!("CARGO_BIN_EXE_itc-node"))
            .args([
                "init",
                "--localnet",
                "4",
                "--base-port",
                &base.to_string(),
                "--dir",
            ])
            .arg(dir.path().join("net"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let configs: Vec<PathBuf> = (0..N)
            .map(|i| dir.path().join(format!("net/node{i}/node.toml")))
            .collect();
        let apis = configs
            .iter()
            .map(|c| NodeConfig::load(c).unwrap().api_addr)
            .collect();
        let chain_id = GenesisFile::load(&dir.path().join("net/genesis.toml"))
            .unwrap()
            .chain_id;
        let faucet = read_validator_key(&dir.path().join("net/faucet.key")).unwrap();
        Cluster {
            dir,
            base_port: base,
            configs,
            apis,
            children: (0..N).map(|_| None).collect(),
            chain_id,
            faucet,
        }
    }

    /// Answers a light-client request through node `i`'s `POST /v1/spv`.
    pub fn spv(&self, i: usize, request: &itc_spv::Request) -> itc_spv::Response<8> {
        let (code, body) =
            client::request(self.apis[i], "POST", "/v1/spv", &request.encode_to_vec()).unwrap();
        assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
        itc_spv::Response::<8>::decode_bytes(&body).unwrap()
    }

    /// A light client anchored at this chain's genesis, synced through node `i` to `height`
    /// (bounded), and the clock it was synced at.
    pub fn light_client(&self, i: usize, height: u64) -> (itc_spv::LightClient<16, 8>, u64) {
        let g = GenesisFile::load(&self.dir.path().join("net/genesis.toml")).unwrap();
        let state = g.state().unwrap();
        let root = itc_ledger::Ledger::from_genesis(&state).unwrap().root();
        let genesis =
            itc_pbft::BlockHeader::genesis(root, state.validators.hash(), g.genesis_time_ms);
        let anchor =
            itc_spv::TrustAnchor::genesis(genesis, state.validators.with_capacity::<8>().unwrap());
        let now = itc_node::node::now_ms();
        let mut device = itc_spv::LightClient::new(anchor, itc_spv::Config::new(64), now).unwrap();
        device.sync_to(height);
        let mut steps = 0;
        while let Some(request) = device.poll_request() {
            steps += 1;
            assert!(steps < 10_000, "light client sync is bounded");
            device.handle_response(&self.spv(i, &request), now).unwrap();
        }
        eprintln!("light client: {steps} requests to sync to {height}");
        (device, now)
    }

    /// Rewrites every node's config through `edit` (before the nodes start).
    pub fn edit_configs(&self, edit: impl Fn(&mut NodeConfig)) {
        for path in &self.configs {
            let mut config: NodeConfig =
                toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            edit(&mut config);
            std::fs::write(path, toml::to_string(&config).unwrap()).unwrap();
        }
    }

    /// Writes the config of a full node (ports after the validators', dialling every
    /// validator) and returns its index; start it with [`Cluster::start`].
    pub fn add_full_node(&mut self) -> usize {
        self.add_node("full", None)
    }

    /// Writes the config of one more validator (key `key`, not in the genesis set) dialling
    /// every validator, and returns its index.
    pub fn add_validator(&mut self, key: &SecretKey) -> usize {
        self.add_node("extra", Some(key))
    }

    fn add_node(&mut self, name: &str, key: Option<&SecretKey>) -> usize {
        let i = self.configs.len();
        let dir = self.dir.path().join(format!("net/{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut node_key = [0u8; 32];
        node_key[..8].copy_from_slice(&u64::from(self.base_port).to_be_bytes());
        node_key[31] = 0x42;
        itc_node::config::write_secret(&dir.join("node.key"), &node_key).unwrap();
        let mut config = NodeConfig::load(&self.configs[0]).unwrap();
        let port = self.base_port + 3 * N as u16;
        match key {
            Some(k) => {
                itc_node::config::write_secret(&dir.join("validator.key"), &k.to_bytes()[..])
                    .unwrap();
                config.validator_key = Some(dir.join("validator.key"));
            }
            None => {
                config.role = itc_node::config::Role::Full;
                config.validator_key = None;
            }
        }
        config.data_dir = dir.join("db");
        config.node_key = dir.join("node.key");
        config.listen = format!("/ip4/127.0.0.1/tcp/{port}");
        config.peers = (0..N)
            .map(|j| NodeConfig::load(&self.configs[j]).unwrap().listen)
            .collect();
        config.api_addr = ([127, 0, 0, 1], port + 1).into();
        config.metrics_addr = ([127, 0, 0, 1], port + 2).into();
        let path = dir.join("node.toml");
        std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
        self.configs.push(path);
        self.apis.push(config.api_addr);
        self.children.push(None);
        i
    }

    /// Rewrites every config with another PBFT checkpoint interval (before starting nodes).
    pub fn set_checkpoint_interval(&mut self, k: u64) {
        for path in &self.configs {
            let text = std::fs::read_to_string(path).unwrap();
            let mut config: NodeConfig = toml::from_str(&text).unwrap();
            config.checkpoint_interval = k;
            std::fs::write(path, toml::to_string(&config).unwrap()).unwrap();
        }
    }

    pub fn log(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("node{i}.log"))
    }

    pub fn start(&mut self, i: usize) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log(i))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_itc-node"))
            .args(["run", "--config"])
            .arg(&self.configs[i])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.children[i] = Some(child);
    }

    /// SIGKILL (no shutdown path runs).
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.children[i].take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Starts the `N` validators and waits (30 s at most) until each is bound to the others.
    pub fn start_all(&mut self) {
        for i in 0..N {
            self.start(i);
        }
        self.wait("all nodes up and bound", Duration::from_secs(30), |c| {
            (0..N).all(|i| c.status(i).is_some_and(|s| s.bound_peers == N - 1))
        });
    }

    pub fn status(&self, i: usize) -> Option<Status> {
        client::status(self.apis[i]).ok()
    }

    pub fn faucet_nonce(&self, i: usize) -> Option<u64> {
        let a = Address::from_public_key(&self.faucet.public_key());
        client::account(self.apis[i], &a).ok().map(|a| a.nonce)
    }

    /// Lines of every node's log containing `pattern`.
    pub fn log_lines(&self, pattern: &str) -> Vec<String> {
        let mut out = Vec::new();
        for i in 0..self.configs.len() {
            let text = std::fs::read_to_string(self.log(i)).unwrap_or_default();
            out.extend(
                text.lines()
                    .filter(|l| l.contains(pattern))
                    .map(|l| format!("node{i}: {l}")),
            );
        }
        out
    }

    pub fn dump_logs(&self) {
        for i in 0..self.configs.len() {
            let text = std::fs::read_to_string(self.log(i)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            eprintln!("---- node{i} log (last lines, newest first)");
            for l in tail {
                eprintln!("{l}");
            }
        }
    }

    /// Polls `done` every 100 ms until it holds or `limit` passes; dumps logs on failure.
    pub fn wait(&self, what: &str, limit: Duration, mut done: impl FnMut(&Cluster) -> bool) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if done(self) {
                eprintln!("{what}: {:.1} s", start.elapsed().as_secs_f64());
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        for i in 0..self.configs.len() {
            eprintln!(
                "node{i}: faucet nonce {:?}, {:?}",
                self.faucet_nonce(i),
                self.status(i)
            );
        }
        self.dump_logs();
        panic!("timed out after {limit:?}: {what}");
    }

    /// Every node in `nodes` executed the faucet's transfers up to `nonce` and all report the
    /// same tip and state root.
    pub fn converged(&self, nodes: &[usize], nonce: u64) -> bool {
        let mut seen: Option<(u64, String, String)> = None;
        for &i in nodes {
            if self.faucet_nonce(i) != Some(nonce) {
                return false;
            }
            let Some(s) = self.status(i) else {
                return false;
            };
            let me = (s.height, s.tip_hash, s.state_root);
            match &seen {
                None => seen = Some(me),
                Some(other) if *other == me => {}
                Some(_) => return false,
            }
        }
        true
    }

    pub fn submit(&self, nodes: &[usize], count: u64) -> client::Submitted {
        self.submit_from(nodes, None, count)
    }

    /// Submits `count` transfers with nonces from `first_nonce` (default: the faucet's current
    /// nonce, when nothing of it is pending).
    pub fn submit_from(
        &self,
        nodes: &[usize],
        first_nonce: Option<u64>,
        count: u64,
    ) -> client::Submitted {
        let apis: Vec<SocketAddr> = nodes.iter().map(|&i| self.apis[i]).collect();
        let t = Instant::now();
        let s = match first_nonce {
            Some(n) => {
                client::submit_transfers_from(&apis, self.chain_id, &self.faucet, n, count, 1, 50)
            }
            None => client::submit_transfers(&apis, self.chain_id, &self.faucet, count, 1, 50),
        }
        .unwrap();
        eprintln!(
            "submitted {count} transfers to {} nodes in {:.1} s ({} accepted)",
            nodes.len(),
            t.elapsed().as_secs_f64(),
            s.accepted
        );
        assert!(
            s.accepted >= count,
            "every transfer reached at least one node"
        );
        s
    }
}
