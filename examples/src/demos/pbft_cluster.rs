//! `pbft_cluster`: `itc-pbft` on its own.
//!
//! Part 1 runs the crate's in-memory [`Cluster`] (four validators, reliable FIFO network):
//! a burst of client requests is ordered into certified blocks; every replica delivers the same
//! blocks and every certificate verifies against the validator set.
//!
//! Part 2 runs the same replicas over this crate's lossy simulated network with a Byzantine
//! primary (see [`crate::chain`]), executing ledger transfers: the honest three still agree,
//! the primary is replaced, and its equivocation is proven.

use std::time::Instant;

use itc_crypto::{Address, SecretKey};
use itc_pbft::cluster::Cluster;
use itc_pbft::{ClientId, Request};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::Scale;
use crate::chain::{Chain, ChainConfig};
use crate::error::StoryError;
use crate::net::NetConfig;
use crate::report::{percentile, Report};

/// Runs both parts.
pub fn run(report: &mut Report, scale: Scale) -> Result<(), StoryError> {
    in_memory_cluster(report, scale)?;
    byzantine_over_lossy_network(report, scale)
}

fn in_memory_cluster(report: &mut Report, scale: Scale) -> Result<(), StoryError> {
    report.phase("In-memory cluster: 4 validators, a burst of requests");
    let requests = scale.pick(4_000, 400);
    let mut cluster = Cluster::with_equal_power(4).map_err(StoryError::Pbft)?;
    let started = Instant::now();
    for i in 0..requests {
        let client = ClientId((i % 16) as u64);
        let id = (i / 16) as u64 + 1;
        let payload = vec![(i % 251) as u8; 96];
        cluster.submit(Request::new(client, id, payload));
    }
    cluster.run_until_idle();
    let wall = started.elapsed().as_secs_f64();
    let heights = cluster.committed_heights();
    let Some(node) = cluster.node(0) else {
        return Err(StoryError::Unexpected("no node 0"));
    };
    let delivered: usize = node.blocks.iter().map(|b| b.batch.len()).sum();
    report.expect(
        format!("{requests} requests ordered into blocks; every replica at the same height"),
        heights.iter().all(|h| *h == node.height) && delivered == requests,
        format!(
            "{} blocks, {:.0} requests/s on this host",
            node.height,
            requests as f64 / wall.max(1e-9)
        ),
    );
    let set = node
        .replica
        .validators()
        .ok_or(StoryError::Unexpected("no validator set"))?;
    let all_verify = cluster.nodes().iter().all(|n| {
        n.blocks
            .iter()
            .all(|b| b.certificate.verify(&b.header, set).is_ok())
    });
    let same = cluster.nodes().iter().all(|n| {
        n.blocks
            .iter()
            .zip(node.blocks.iter())
            .all(|(a, b)| a.header.hash() == b.header.hash())
    });
    report.expect(
        "every block's commit certificate verifies; all replicas hold identical headers",
        all_verify && same,
        "",
    );
    let t = cluster.traffic();
    let blocks = node.height.max(1);
    report.say(format!(
        "traffic: {} messages ({} per block), {} KiB ({} B per request)",
        t.messages,
        t.messages / blocks,
        t.bytes / 1024,
        t.bytes / requests.max(1) as u64
    ));
    report.figure(
        "cluster_requests_per_s",
        "in-memory cluster throughput (host)",
        requests as f64 / wall.max(1e-9),
        "req/s",
        0,
    );
    report.figure(
        "cluster_messages_per_block",
        "messages per block",
        (t.messages / blocks) as f64,
        "",
        0,
    );
    Ok(())
}

fn byzantine_over_lossy_network(report: &mut Report, scale: Scale) -> Result<(), StoryError> {
    report.phase("Lossy network, Byzantine primary, ledger transfers");
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let payers: Vec<SecretKey> = (0..4).map(|_| SecretKey::generate(&mut rng)).collect();
    let balances = payers
        .iter()
        .map(|k| (Address::from_public_key(&k.public_key()), 1_000))
        .collect();
    let mut config = ChainConfig::new(7);
    config.byzantine = true;
    config.net = NetConfig {
        latency_ms: 30,
        jitter_ms: 20,
        loss_permille: 20,
    };
    let mut chain = Chain::new(config, balances)?;
    report.say("validator 0 equivocates as primary, double-votes, lies to clients; 2 % of messages are lost");
    let per_payer = scale.pick(12, 4) as u64;
    let sink = Address([0x5e; 20]);
    let mut tickets = Vec::new();
    for nonce in 0..per_payer {
        for (c, key) in payers.iter().enumerate() {
            let tx = chain
                .builder()
                .transfer(key, nonce, sink, 1)
                .map_err(StoryError::Crypto)?;
            tickets.push(chain.submit(10 + c as u64, &tx));
        }
    }
    let outcomes = chain.wait(&tickets, 600_000)?;
    let applied = outcomes.iter().filter(|o| o.result.is_ok()).count();
    report.expect(
        format!(
            "{} transfers from 4 clients all commit and apply",
            tickets.len()
        ),
        applied == tickets.len()
            && chain.full_node_ledger().account(&sink).balance == tickets.len() as u64,
        format!("{} blocks", chain.tip_height()),
    );
    let agreed = chain.check_agreement();
    report.expect(
        "honest validators agree on every block and state root",
        agreed.is_ok(),
        "",
    );
    report.expect(
        "the Byzantine primary is replaced and its equivocation proven",
        chain.max_honest_view() >= 1 && chain.verified_evidence().contains(&0),
        format!(
            "view {}, evidence against {:?}",
            chain.max_honest_view(),
            chain.verified_evidence()
        ),
    );
    let lat = chain.latencies();
    report.say(format!(
        "commit latency (simulated): p50 {} ms, p90 {} ms, max {} ms; {} messages lost",
        percentile(lat, 50),
        percentile(lat, 90),
        percentile(lat, 100),
        chain.net_stats().dropped
    ));
    report.figure(
        "byzantine_commit_ms_p50",
        "commit latency p50, Byzantine + 2 % loss (simulated)",
        percentile(lat, 50) as f64,
        "ms",
        0,
    );
    report.figure(
        "byzantine_commit_ms_p90",
        "commit latency p90, Byzantine + 2 % loss (simulated)",
        percentile(lat, 90) as f64,
        "ms",
        0,
    );
    Ok(())
}
