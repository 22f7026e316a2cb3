//! End to end (`itc-examples`): what the seams between the crates cost on the host.
//!
//! * `e2e/transfer_committed` — one signed ledger transfer from submission to f + 1 replies:
//!   four `itc_chain::Validator`s (real signatures) over the simulated network (no loss), each
//!   executing it with its own `itc-ledger`, plus the full node re-executing it and storing the
//!   certified block and the state for proofs (`itc_chain::FullNode`). One request per block,
//!   so this is the per-block cost of the whole pipeline, not a throughput figure.
//! * `e2e/lamp_refresh` — the lamp's side of a state change: verify one new certified header
//!   (`itc-device-sdk`'s embedded light client), prove its ownership record and install it.
//! * `e2e/smart_light_story` — the whole `smart_light` story (60 homes), the README's main
//!   job; its goal is "well under a minute" in release on the 2-vCPU box.

use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use itc_crypto::{Address, SecretKey};
use itc_examples::args::Options;
use itc_examples::chain::{Chain, ChainConfig};
use itc_examples::lamp::Lamp;
use itc_examples::net::NetConfig;
use itc_examples::report::Output;
use itc_examples::story::Story;
use itc_ledger::builder::TxBuilder;

fn quiet_chain(balances: Vec<(Address, u64)>) -> Chain {
    let mut config = ChainConfig::new(1);
    config.net = NetConfig {
        latency_ms: 10,
        jitter_ms: 0,
        loss_permille: 0,
    };
    match Chain::new(config, balances) {
        Ok(c) => c,
        Err(e) => panic!("chain: {e}"),
    }
}

fn transfer_committed(c: &mut Criterion) {
    let alice = SecretKey::from_bytes(&[1; 32]).unwrap_or_else(|e| panic!("{e}"));
    let addr = Address::from_public_key(&alice.public_key());
    let mut chain = quiet_chain(vec![(addr, u64::MAX / 2)]);
    let builder: TxBuilder = chain.builder();
    let mut nonce = 0u64;
    c.bench_function("e2e/transfer_committed", |b| {
        b.iter(|| {
            let tx = builder
                .transfer(&alice, nonce, Address([2; 20]), 1)
                .unwrap_or_else(|e| panic!("{e}"));
            nonce += 1;
            match chain.execute(1, &tx) {
                Ok((_, o)) if o.result.is_ok() => o.height,
                other => panic!("not applied: {other:?}"),
            }
        })
    });
}

fn lamp_refresh(c: &mut Criterion) {
    let vendor = SecretKey::from_bytes(&[3; 32]).unwrap_or_else(|e| panic!("{e}"));
    let gateway = SecretKey::from_bytes(&[4; 32]).unwrap_or_else(|e| panic!("{e}"));
    let lamp_key = SecretKey::from_bytes(&[5; 32]).unwrap_or_else(|e| panic!("{e}"));
    let v_addr = Address::from_public_key(&vendor.public_key());
    let g_addr = Address::from_public_key(&gateway.public_key());
    let mut chain = quiet_chain(vec![(v_addr, 1_000), (g_addr, u64::MAX / 2)]);
    let builder = chain.builder();
    let record = itc_ledger::VendorRecord {
        registry_key: vendor.public_key(),
        firmware_key: vendor.public_key(),
    };
    let admit = chain
        .certify(itc_ledger::SystemCall::RegisterVendor {
            vendor: itc_ledger::VendorId(1),
            record,
        })
        .unwrap_or_else(|e| panic!("{e}"));
    chain.execute(1, &admit).unwrap_or_else(|e| panic!("{e}"));
    let mut lamp = Lamp::new(lamp_key, &chain).unwrap_or_else(|e| panic!("{e}"));
    let register = builder
        .register_device(
            &vendor,
            0,
            itc_ledger::VendorId(1),
            lamp.public_key(),
            1,
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    chain
        .execute(2, &register)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut nonce = 0u64;
    let mut next_block = |chain: &mut Chain| {
        let tx = builder
            .transfer(&gateway, nonce, g_addr, 1)
            .unwrap_or_else(|e| panic!("{e}"));
        nonce += 1;
        chain.execute(3, &tx).unwrap_or_else(|e| panic!("{e}"));
    };
    next_block(&mut chain);
    c.bench_function("e2e/lamp_refresh", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                next_block(&mut chain);
                let started = Instant::now();
                let (record, _) = lamp
                    .refresh_ownership(&chain)
                    .unwrap_or_else(|e| panic!("{e}"));
                spent += started.elapsed();
                black_box(record);
            }
            spent
        })
    });
}

fn smart_light_story(c: &mut Criterion) {
    let mut g = c.benchmark_group("e2e");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("smart_light_story", |b| {
        b.iter(|| {
            let opts = Options {
                homes: 60,
                ..Options::default()
            };
            let mut story = Story::new(opts, Output::Silent).unwrap_or_else(|e| panic!("{e}"));
            assert!(story.run(), "the story failed");
        })
    });
    g.finish();
}

criterion_group!(benches, transfer_committed, lamp_refresh, smart_light_story);
criterion_main!(benches);
