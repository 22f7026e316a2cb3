//! A full node (`role = "full"`) joins a running 4-validator localnet late, syncs from genesis
//! by fetching certified blocks, follows new ones, relays its own clients' transactions to the
//! validators (gossipsub), resumes from its database after SIGKILL, and serves a state proof
//! that the light client verifies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::{Cluster, N};
use itc_ledger::StateKey;
use itc_spv::{Event, Request};

#[test]
fn a_late_full_node_syncs_follows_restarts_and_serves_a_verified_state_proof() {
    let mut c = Cluster::init();
    for i in 0..N {
        c.start(i);
    }
    let validators: Vec<usize> = (0..N).collect();
    c.wait("validators up and bound", Duration::from_secs(30), |c| {
        (0..N).all(|i| c.status(i).is_some_and(|s| s.bound_peers == N - 1))
    });
    c.submit(&validators, 300);
    c.wait("300 transfers", Duration::from_secs(60), |c| {
        c.converged(&validators, 300)
    });

    // Joins late: syncs from genesis.
    let full = c.add_full_node();
    c.start(full);
    let mut everyone = validators.clone();
    everyone.push(full);
    c.wait("the full node synced", Duration::from_secs(60), |c| {
        c.converged(&everyone, 300)
    });
    assert!(c.status(full).unwrap().validator.is_empty());

    // Follows what is committed next (submitted to validators only).
    c.submit(&validators, 100);
    c.wait("the full node follows", Duration::from_secs(60), |c| {
        c.converged(&everyone, 400)
    });

    // A client of the full node only: it relays by gossip, the validators commit.
    c.submit(&[full], 50);
    c.wait(
        "transfers posted to the full node only committed",
        Duration::from_secs(60),
        |c| c.converged(&everyone, 450),
    );

    // SIGKILL and restart: resumes from its database.
    let before = c.status(full).unwrap().height;
    c.kill9(full);
    c.submit(&validators, 50);
    c.start(full);
    c.wait(
        "the full node resumed and caught up",
        Duration::from_secs(60),
        |c| c.converged(&everyone, 500),
    );
    assert!(c.status(full).unwrap().height >= before);

    // A light client anchored at genesis syncs through the full node and verifies a balance.
    let tip = c.status(full).unwrap().height;
    let (mut device, now) = c.light_client(full, tip);
    let recipient = itc_node::client::recipient(7);
    let request = Request::StateProof {
        height: tip,
        key: StateKey::Account(recipient),
    };
    let response = c.spv(full, &request);
    let event = device.handle_response(&response, now).unwrap();
    assert!(
        matches!(event, Event::State(entry) if entry.value().is_some()),
        "the proof of a transfer's recipient verifies against a certified header"
    );
}
