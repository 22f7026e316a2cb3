//! The built binary: `init --localnet` writes a usable localnet.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use itc_node::config::{read_validator_key, GenesisFile, NodeConfig, Role};

#[test]
fn init_localnet_writes_private_keys_and_loadable_configs() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_itc-node"))
        .args(["init", "--localnet", "4", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 4);
    let genesis = GenesisFile::load(&dir.path().join("genesis.toml")).unwrap();
    let state = genesis.state().unwrap();
    assert_eq!(state.validators.validators().len(), 4);
    for i in 0..4 {
        let node = dir.path().join(format!("node{i}"));
        for k in ["validator.key", "node.key"] {
            let mode = std::fs::metadata(node.join(k))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{k}");
        }
        let c = NodeConfig::load(&node.join("node.toml")).unwrap();
        assert_eq!(c.role, Role::Validator);
        assert_eq!(c.peers.len(), i);
        let key = read_validator_key(c.validator_key.as_ref().unwrap()).unwrap();
        assert!(state.validators.index_of(&key.public_key()).is_some());
    }
    // A second init into the same directory refuses to overwrite keys.
    let again = Command::new(env!("CARGO_BIN_EXE_itc-node"))
        .args(["init", "--localnet", "4", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!again.status.success());
    // A corrupt database is a clear error and a refusal to start, never a silent reset.
    let db = dir.path().join("node0/db");
    std::fs::create_dir_all(&db).unwrap();
    std::fs::write(db.join("chain.redb"), vec![0x5a; 8192]).unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_itc-node"))
        .args(["run", "--config"])
        .arg(dir.path().join("node0/node.toml"))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("database"), "{stderr}");
    assert_eq!(
        std::fs::read(db.join("chain.redb")).unwrap(),
        vec![0x5a; 8192],
        "the corrupt file is left as it was"
    );
    // `status` of a node that is not running fails (no answer), it does not invent one.
    let status = Command::new(env!("CARGO_BIN_EXE_itc-node"))
        .args(["status", "--config"])
        .arg(dir.path().join("node1/node.toml"))
        .output()
        .unwrap();
    assert!(!status.status.success());
}
