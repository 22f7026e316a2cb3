//! itc-chaincode hot paths, with peers side by side in the same run:
//! HyperLogLog (p = 14) vs `hyperloglogplus`, Bloom filter vs `fastbloom`, Pedersen opening and
//! range proofs, and aggregator throughput for 10,000 contributors.
//!
//! Before the timings, a short table of bytes and error is printed (same keys, same run).

use std::collections::hash_map::RandomState;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use hyperloglogplus::{HyperLogLog as _, HyperLogLogPlus};
use itc_chaincode::aggregator::{Aggregator, AggregatorConfig};
use itc_chaincode::bloom::BloomFilter;
use itc_chaincode::budget::PrivacyBudget;
use itc_chaincode::contribution::Contribution;
use itc_chaincode::executor::LocalExecutor;
use itc_chaincode::hll::HyperLogLog;
use itc_chaincode::pedersen::{Opening, PedersenGens};
use itc_chaincode::plan::{
    Aggregation, Clamp, Filter, Fuel, Plan, Policy, Privacy, Record, ValidPlan,
};
use itc_chaincode::range_proof::RangeProof;
use itc_chaincode::siphash::SketchKey;
use itc_crypto::{Address, Encode, Hash, SecretKey};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const P: u8 = 14;
const BATCH: u64 = 10_000;

fn key() -> SketchKey {
    SketchKey::from_bytes([0x5a; 16])
}

/// Bytes and error of both HLLs at several cardinalities (printed once per run).
fn peer_table() {
    println!("\n== HLL p=14: itc (Ertl fixed-point, HLL_4 wire) vs hyperloglogplus 0.4.1 (HLL++, 6-bit registers) ==");
    println!(
        "{:>10} {:>12} {:>10} {:>14} {:>10}",
        "n", "itc est", "itc err", "hllp est", "hllp err"
    );
    let mut itc_err2 = 0.0;
    let mut peer_err2 = 0.0;
    let mut k = 0.0;
    for seed in 0..3u64 {
        let mut itc = HyperLogLog::new(P).unwrap();
        let mut peer: HyperLogLogPlus<u64, RandomState> =
            HyperLogLogPlus::new(P, RandomState::new()).unwrap();
        let mut n = 0u64;
        for target in [1_000u64, 100_000, 1_000_000] {
            while n < target {
                let x = n ^ (seed << 40);
                itc.insert(&key(), &x.to_le_bytes());
                peer.insert(&x);
                n += 1;
            }
            let (a, b) = (itc.estimate() as f64, peer.count());
            let (ea, eb) = (a / n as f64 - 1.0, b / n as f64 - 1.0);
            itc_err2 += ea * ea;
            peer_err2 += eb * eb;
            k += 1.0;
            println!(
                "{n:>10} {a:>12.0} {:>9.3}% {b:>14.0} {:>9.3}%",
                ea * 100.0,
                eb * 100.0
            );
        }
        if seed == 0 {
            println!(
                "itc serialized at 1e6: {} B (HLL_4); hyperloglogplus dense registers: {} B (6-bit, 5 per u32)",
                itc.encoded_len(),
                (1usize << P).div_ceil(5) * 4
            );
        }
    }
    println!(
        "RMS error over 9 points: itc {:.3}%, hyperloglogplus {:.3}%",
        (itc_err2 / k).sqrt() * 100.0,
        (peer_err2 / k).sqrt() * 100.0
    );

    println!("== Bloom 10 bits/item, k=7, 100k items: itc vs fastbloom 0.17 ==");
    let n = 100_000u64;
    let mut itc = BloomFilter::new(1_000_000, 7).unwrap();
    let mut peer = fastbloom::BloomFilter::with_num_bits(1_000_000).hashes(7);
    for i in 0..n {
        itc.insert(&key(), &i.to_le_bytes());
        peer.insert(&i);
    }
    let q = 1_000_000u64;
    let fp_itc = (n..n + q)
        .filter(|i| itc.contains(&key(), &i.to_le_bytes()))
        .count();
    let fp_peer = (n..n + q).filter(|i| peer.contains(i)).count();
    let theory = (1.0 - (-7.0 * n as f64 / 1e6).exp()).powi(7);
    println!(
        "FPR itc {:.4}%, fastbloom {:.4}%, theory {:.4}%; bytes itc {} fastbloom {}\n",
        fp_itc as f64 / q as f64 * 100.0,
        fp_peer as f64 / q as f64 * 100.0,
        theory * 100.0,
        itc.encoded_len(),
        peer.as_slice().len() * 8
    );
}

fn hll(c: &mut Criterion) {
    peer_table();
    let mut g = c.benchmark_group("hll_p14");
    g.throughput(Throughput::Elements(BATCH));
    let items: Vec<u64> = (0..BATCH)
        .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .collect();
    // Dense sketches (as after 10^6 items), so inserts measure the steady state.
    let mut itc = HyperLogLog::new(P).unwrap();
    let mut peer: HyperLogLogPlus<u64, RandomState> =
        HyperLogLogPlus::new(P, RandomState::new()).unwrap();
    for i in 0..1_000_000u64 {
        itc.insert(&key(), &i.to_le_bytes());
        peer.insert(&i);
    }
    g.bench_function("insert/itc", |b| {
        b.iter(|| {
            for x in &items {
                itc.insert(&key(), &x.to_le_bytes());
            }
        })
    });
    g.bench_function("insert/hyperloglogplus", |b| {
        b.iter(|| {
            for x in &items {
                peer.insert(x);
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("hll_p14");
    let other = {
        let mut s = HyperLogLog::new(P).unwrap();
        for i in 2_000_000..3_000_000u64 {
            s.insert(&key(), &i.to_le_bytes());
        }
        s
    };
    let mut peer_other: HyperLogLogPlus<u64, RandomState> =
        HyperLogLogPlus::new(P, RandomState::new()).unwrap();
    for i in 2_000_000..3_000_000u64 {
        peer_other.insert(&i);
    }
    g.bench_function("merge/itc", |b| {
        b.iter_batched_ref(
            || itc.clone(),
            |s| s.merge(black_box(&other)),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("merge/hyperloglogplus", |b| {
        b.iter_batched_ref(
            || peer.clone(),
            |s| s.merge(black_box(&peer_other)),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("estimate/itc", |b| b.iter(|| black_box(&itc).estimate()));
    g.bench_function("estimate/hyperloglogplus", |b| b.iter(|| peer.count()));
    let bytes = itc.encode_to_vec();
    g.bench_function("encode/itc", |b| b.iter(|| black_box(&itc).encode_to_vec()));
    g.bench_function("decode/itc", |b| {
        b.iter(|| <HyperLogLog as itc_crypto::Decode>::decode_bytes(black_box(&bytes)))
    });
    g.finish();
}

fn bloom(c: &mut Criterion) {
    let mut g = c.benchmark_group("bloom_1Mbit_k7");
    g.throughput(Throughput::Elements(BATCH));
    let items: Vec<u64> = (0..BATCH).collect();
    let mut itc = BloomFilter::new(1_000_000, 7).unwrap();
    let mut peer = fastbloom::BloomFilter::with_num_bits(1_000_000).hashes(7);
    g.bench_function("insert/itc", |b| {
        b.iter(|| {
            for x in &items {
                itc.insert(&key(), &x.to_le_bytes());
            }
        })
    });
    g.bench_function("insert/fastbloom", |b| {
        b.iter(|| {
            for x in &items {
                peer.insert(x);
            }
        })
    });
    let queries: Vec<u64> = (BATCH..2 * BATCH).collect();
    g.bench_function("query/itc", |b| {
        b.iter(|| {
            queries
                .iter()
                .filter(|x| itc.contains(&key(), &x.to_le_bytes()))
                .count()
        })
    });
    g.bench_function("query/fastbloom", |b| {
        b.iter(|| queries.iter().filter(|x| peer.contains(*x)).count())
    });
    g.finish();
}

fn proofs(c: &mut Criterion) {
    let gens = PedersenGens::new();
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let o = Opening::random(40_000, &mut rng);
    let com = gens.commit(&o);
    let mut g = c.benchmark_group("pedersen");
    // Reference point in the same run (the machine is shared): one BIP340 verification.
    let sk = SecretKey::from_bytes(&[3u8; 32]).unwrap();
    let tag = itc_crypto::DomainTag::new(b"itc/bench/ref/v1");
    let sig = itc_crypto::Signer::sign(&sk, tag, b"m").unwrap();
    let pk = sk.public_key();
    g.bench_function("reference/schnorr_verify", |b| {
        b.iter(|| pk.verify(tag, black_box(b"m"), &sig))
    });
    g.bench_function("commit", |b| b.iter(|| gens.commit(black_box(&o))));
    let op = gens.prove_opening(&com, &o, b"ctx", &mut rng);
    g.bench_function("opening/prove", |b| {
        b.iter(|| gens.prove_opening(&com, &o, b"ctx", &mut rng))
    });
    g.bench_function("opening/verify", |b| {
        b.iter(|| gens.verify_opening(&com, black_box(&op), b"ctx"))
    });
    let rp = RangeProof::prove(&gens, &o, 16, b"ctx", &mut rng).unwrap();
    println!(
        "opening proof {} B; 16-bit range proof {} B",
        op.encoded_len(),
        rp.encoded_len()
    );
    g.sample_size(20);
    g.bench_function("range16/prove", |b| {
        b.iter(|| RangeProof::prove(&gens, &o, 16, b"ctx", &mut rng))
    });
    g.bench_function("range16/verify", |b| {
        b.iter(|| rp.verify(&gens, &com, 16, b"ctx"))
    });
    g.finish();
}

fn plan(aggregation: Aggregation) -> ValidPlan {
    Plan {
        vendor: Address([1; 20]),
        nonce: 0,
        filter: Filter {
            kinds: vec![1],
            since_ms: 0,
            until_ms: u64::MAX,
            tags_all: 0,
            max_records: 100,
        },
        aggregation,
        privacy: Privacy {
            epsilon_milli: 1000,
            min_contributors: 50,
        },
        budget: 1_000_000_000,
        deadline_ms: 10_000,
        fuel: Fuel {
            per_record: 16,
            per_plan: 10_000_000,
        },
    }
    .validate(&Policy::default(), Hash::ZERO, 0)
    .unwrap()
}

fn contributions(p: &ValidPlan, n: usize) -> Vec<Contribution> {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    (0..n)
        .map(|i| {
            let key = SecretKey::generate(&mut rng);
            let mut exec = LocalExecutor::new(key, PrivacyBudget::default(), Policy::default());
            let keys: Vec<[u8; 8]> = (0..20u64)
                .map(|j| (i as u64 * 7 + j).to_le_bytes())
                .collect();
            let records: Vec<Record<'_>> = keys
                .iter()
                .map(|k| Record {
                    kind: 1,
                    time_ms: 1,
                    tags: 0,
                    fields: &[5],
                    key: k,
                })
                .collect();
            exec.run(p, records.iter().copied(), Address([2; 20]), 5, &mut rng)
                .unwrap()
        })
        .collect()
}

fn aggregator(c: &mut Criterion) {
    // 10,000 HLL contributions (p = 10), the full submit + close cycle.
    let distinct = plan(Aggregation::DistinctCount { precision: 10 });
    let hll_contribs = contributions(&distinct, 10_000);
    let mut g = c.benchmark_group("aggregator");
    g.sample_size(10);
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("distinct_p10/10k_contributors", |b| {
        b.iter(|| {
            let mut agg = Aggregator::new(distinct.clone(), AggregatorConfig::default());
            for c in &hll_contribs {
                agg.submit(c, 6).unwrap();
            }
            agg.close(Hash::ZERO, 10_000).unwrap()
        })
    });
    g.bench_function("distinct_p10/10k_contributors_batch_sigs", |b| {
        b.iter(|| {
            let mut agg = Aggregator::new(distinct.clone(), AggregatorConfig::default());
            for chunk in hll_contribs.chunks(128) {
                assert!(agg.submit_batch(chunk, 6).iter().all(Result::is_ok));
            }
            agg.close(Hash::ZERO, 10_000).unwrap()
        })
    });
    // Value contributions carry a range proof: submit cost per contribution on 200 of them
    // (10,000 would take tens of seconds per iteration); throughput extrapolates linearly.
    let sum = plan(Aggregation::Sum {
        field: 0,
        clamp: Clamp { lo: 0, bits: 16 },
    });
    let sum_contribs = contributions(&sum, 200);
    g.throughput(Throughput::Elements(200));
    g.bench_function("sum16/200_contributors", |b| {
        b.iter(|| {
            let mut agg = Aggregator::new(sum.clone(), AggregatorConfig::default());
            for c in &sum_contribs {
                agg.submit(c, 6).unwrap();
            }
            agg.close(Hash::ZERO, 10_000).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, hll, bloom, proofs, aggregator);
criterion_main!(benches);
