//! A `SetValidators` rotation across processes: every operator approves it on their own node
//! over the HTTP API, one proposes; the co-signed transaction commits, and at the next epoch
//! boundary a fifth validator (started late, synced from its peers) is in the set and the first
//! one is out. Then two of the old validators are killed: the remaining three of the new set —
//! the newcomer among them — keep committing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::{Cluster, N};
use itc_crypto::SecretKey;
use itc_node::api::SetValidatorsRequest;
use itc_node::config::{GenesisFile, GenesisValidator};

#[test]
fn a_fifth_validator_joins_and_one_leaves_by_a_co_signed_set_validators() {
    let mut c = Cluster::init();
    c.set_checkpoint_interval(8);
    let newcomer_key = SecretKey::from_bytes(&[0x33; 32]).unwrap();
    let newcomer = c.add_validator(&newcomer_key);
    for i in 0..N {
        c.start(i);
    }
    let old: Vec<usize> = (0..N).collect();
    c.wait("validators up and bound", Duration::from_secs(30), |c| {
        (0..N).all(|i| c.status(i).is_some_and(|s| s.bound_peers >= N - 1))
    });
    c.submit(&old, 30);
    c.wait("30 transfers", Duration::from_secs(60), |c| {
        c.converged(&old, 30)
    });

    // The newcomer starts late, outside the set: it syncs the chain from its peers.
    c.start(newcomer);
    let mut everyone = old.clone();
    everyone.push(newcomer);
    c.wait("the newcomer synced", Duration::from_secs(60), |c| {
        c.converged(&everyone, 30)
    });
    assert!(!c.status(newcomer).unwrap().in_set);

    // New set: validators 1, 2, 3 and the newcomer (validator 0 leaves).
    let genesis = GenesisFile::load(&c.dir.path().join("net/genesis.toml")).unwrap();
    let leaving = c.status(0).unwrap().validator;
    let mut validators: Vec<GenesisValidator> = genesis
        .validators
        .iter()
        .filter(|v| v.key != leaving)
        .cloned()
        .collect();
    validators.push(GenesisValidator {
        key: hex::encode(newcomer_key.public_key().as_bytes()),
        power: 1,
    });
    assert_eq!(validators.len(), N);
    for i in [0, 2, 3, 1] {
        let request = SetValidatorsRequest {
            epoch: None,
            validators: validators.clone(),
            propose: i == 1,
        };
        let (code, body) = itc_node::client::request(
            c.apis[i],
            "POST",
            "/v1/admin/set-validators",
            serde_json::to_string(&request).unwrap().as_bytes(),
        )
        .unwrap();
        assert_eq!(code, 200, "node{i}: {}", String::from_utf8_lossy(&body));
    }

    // Blocks until the next epoch boundary puts the new set in force (bounded).
    let start = Instant::now();
    let mut nonce = 30;
    loop {
        let rotated =
            c.status(newcomer).is_some_and(|s| s.in_set) && c.status(0).is_some_and(|s| !s.in_set);
        if rotated {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no rotation");
        let apis: Vec<_> = everyone.iter().map(|&i| c.apis[i]).collect();
        itc_node::client::submit_transfers(&apis, c.chain_id, &c.faucet, 5, 1, 1).unwrap();
        nonce += 5;
        c.wait("transfers", Duration::from_secs(60), |c| {
            c.converged(&everyone, nonce)
        });
    }
    eprintln!(
        "rotated at height {} after {:.1} s",
        c.status(1).unwrap().height,
        start.elapsed().as_secs_f64()
    );

    // The old validator 0 and validator 1 go: 2, 3 and the newcomer are 3 of the 4 in force.
    c.kill9(0);
    c.kill9(1);
    let rest = [2, 3, newcomer];
    c.submit(&rest, 40);
    nonce += 40;
    c.wait(
        "the new set (newcomer voting) commits without two old validators",
        Duration::from_secs(60),
        |c| c.converged(&rest, nonce),
    );
    for &i in &rest {
        assert_eq!(c.status(i).unwrap().evidence, 0);
    }
}
