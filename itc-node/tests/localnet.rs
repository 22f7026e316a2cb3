//! Real processes on 127.0.0.1: a 4-validator localnet from `itc-node init`, four
//! `itc-node run` processes, transfers over the HTTP API; every node ends with the same tip and
//! state root; a validator killed with SIGKILL and restarted catches up to the same root; the
//! primary killed mid-load: a view change, commits resume; the whole cluster killed and
//! restarted from its databases; the same localnet over QUIC.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::{Cluster, N};

#[test]
fn four_processes_commit_transfers_and_a_killed_validator_catches_up() {
    let mut c = Cluster::init();
    c.start_all();
    let all: Vec<usize> = (0..N).collect();

    // 200 transfers, every node holds the same chain at the end.
    let t = Instant::now();
    c.submit(&all, 200);
    c.wait(
        "200 transfers committed on 4 nodes",
        Duration::from_secs(60),
        |c| c.converged(&all, 200),
    );
    let s0 = c.status(0).unwrap();
    eprintln!(
        "200 transfers: height {}, {:.1} s from the first submission",
        s0.height,
        t.elapsed().as_secs_f64()
    );
    assert!(s0.height >= 1);

    // SIGKILL node 3; the other three keep committing.
    c.kill9(3);
    let live = [0, 1, 2];
    c.submit(&live, 100);
    c.wait(
        "100 more on the 3 live nodes",
        Duration::from_secs(60),
        |c| c.converged(&live, 300),
    );
    assert!((c.dir.path().join("net/node3/db/chain.redb")).exists());

    // Restart it: it reopens its database and catches up to the same tip and root.
    c.start(3);
    c.wait(
        "node3 caught up after kill -9",
        Duration::from_secs(60),
        |c| c.converged(&all, 300),
    );

    // SIGKILL the primary between two submissions: the backups' request timers force a view
    // change and the other three commit everything (nonces given: the first 20 may still be
    // pending when the next 80 are signed).
    let view_before = c.status(0).unwrap().view;
    let primary = (0..N)
        .find(|&i| c.status(i).is_some_and(|s| s.primary))
        .expect("one node is the primary");
    let others: Vec<usize> = (0..N).filter(|&i| i != primary).collect();
    c.submit_from(&all, Some(300), 20);
    c.kill9(primary);
    c.submit_from(&others, Some(320), 80);
    c.wait(
        "view change and 100 more on the 3 others after the primary's kill -9",
        Duration::from_secs(60),
        |c| c.converged(&others, 400),
    );
    let view_after = c.status(others[0]).unwrap().view;
    assert!(view_after > view_before, "a view change happened");
    c.start(primary);
    c.wait("the old primary caught up", Duration::from_secs(60), |c| {
        c.converged(&all, 400)
    });

    // Stop everything with SIGKILL and restart: the same tip and root from the databases, and
    // the cluster commits again.
    let before = c.status(0).unwrap();
    for i in 0..N {
        c.kill9(i);
    }
    for i in 0..N {
        c.start(i);
    }
    c.wait("restarted cluster bound", Duration::from_secs(30), |c| {
        (0..N).all(|i| c.status(i).is_some_and(|s| s.bound_peers == N - 1))
    });
    for i in 0..N {
        let s = c.status(i).unwrap();
        assert!(
            s.height >= before.height,
            "node{i} resumed at or above the tip"
        );
    }
    c.submit(&all, 50);
    c.wait(
        "50 more after a whole-cluster restart",
        Duration::from_secs(60),
        |c| c.converged(&all, 450),
    );
    for i in 0..N {
        let s = c.status(i).unwrap();
        assert_eq!(s.evidence, 0, "node{i}: no equivocation evidence");
    }
    eprintln!("final: {:?}", c.status(0).unwrap());
}

#[test]
fn four_processes_commit_ten_thousand_transfers_with_identical_chains() {
    let mut c = Cluster::init();
    c.start_all();
    let all: Vec<usize> = (0..N).collect();
    let t = Instant::now();
    let apis: Vec<_> = all.iter().map(|&i| c.apis[i]).collect();
    let s =
        itc_node::client::submit_transfers(&apis, c.chain_id, &c.faucet, 10_000, 1, 200).unwrap();
    assert!(s.accepted >= 10_000);
    c.wait(
        "10,000 transfers committed on 4 nodes",
        Duration::from_secs(120),
        |c| c.converged(&all, 10_000),
    );
    let secs = t.elapsed().as_secs_f64();
    let s0 = c.status(0).unwrap();
    eprintln!(
        "10,000 transfers: height {}, {secs:.1} s from the first signature ({:.0} transfers/s, \
         signing and submission included)",
        s0.height,
        10_000.0 / secs
    );
    // Same tip hash on every node: the hash chain makes every block identical; same root.
    for i in 0..N {
        let s = c.status(i).unwrap();
        assert_eq!(
            (s.tip_hash, s.state_root),
            (s0.tip_hash.clone(), s0.state_root.clone())
        );
        assert_eq!(s.evidence, 0);
    }
}

/// The `/tcp/` address of `init`'s config as QUIC on the same port number.
fn quic(addr: &str) -> String {
    addr.replace("/tcp/", "/udp/") + "/quic-v1"
}

#[test]
fn a_quic_localnet_commits_transfers_and_a_restarted_validator_catches_up() {
    let mut c = Cluster::init();
    c.edit_configs(|config| {
        config.listen = quic(&config.listen);
        config.peers = config.peers.iter().map(|p| quic(p)).collect();
    });
    c.start_all();
    let all: Vec<usize> = (0..N).collect();
    c.submit(&[0], 100);
    c.wait("100 transfers over QUIC", Duration::from_secs(60), |c| {
        c.converged(&all, 100)
    });
    c.kill9(2);
    c.submit_from(&[0], Some(100), 50);
    c.start(2);
    c.wait(
        "the restarted validator caught up over QUIC",
        Duration::from_secs(60),
        |c| c.converged(&all, 150),
    );
}
