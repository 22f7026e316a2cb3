//! Seeded simulations: a client syncs from a random anchor to a random target while a
//! Byzantine full node (no validator keys) answers a share of its requests with the wrong
//! height, corrupted bytes, replays or silence. Whatever happens, every header the client holds
//! is the real chain's, every rejection leaves the client unchanged, and it reaches the target
//! with every header below its tip in the accumulator.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use itc_crypto::encoding::{Decode, Encode};
use itc_crypto::Blame;
use itc_spv::messages::Request;
use itc_spv::testkit::TestChain;
use itc_spv::{Config, LightClient, Response, SpvError};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

type Client = LightClient<8, 8>;

fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    rng.next_u64() % n.max(1)
}

fn run(seed: u64) -> (u64, u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let size = 4 + below(&mut rng, 4) as usize;
    let epoch = 5 + below(&mut rng, 16);
    let blocks = 50 + below(&mut rng, 150);
    let mut chain = TestChain::new(size, epoch);
    chain.extend(blocks);
    let anchor_at = if rng.next_u32() % 2 == 0 {
        0
    } else {
        below(&mut rng, blocks / 2)
    };
    let target = anchor_at + 1 + below(&mut rng, blocks - anchor_at);
    let anchor = chain.checkpoint(anchor_at);
    let mut client = Client::new(anchor, Config::new(epoch), chain.now_ms()).unwrap();
    client.sync_to(target);

    let mut replay: Option<Response<8>> = None;
    let (mut rejected, mut steps) = (0u64, 0u64);
    while let Some(request) = client.poll_request() {
        steps += 1;
        assert!(steps < 5_000, "seed {seed}: no progress");
        chain.ensure_certificate(&request);
        let honest: Response<8> = chain.server().answer(&request);
        let response = match below(&mut rng, 10) {
            0 => {
                // Another height's answer.
                let h = below(&mut rng, blocks + 1);
                let r = Request::CertifiedHeader {
                    height: h,
                    with_validators: rng.next_u32() % 2 == 0,
                };
                chain.ensure_certificate(&r);
                chain.server().answer(&r)
            }
            1 => {
                // A flipped bit (if it still decodes).
                let mut bytes = honest.encode_to_vec();
                let bit = below(&mut rng, bytes.len() as u64 * 8) as usize;
                bytes[bit / 8] ^= 1 << (bit % 8);
                Response::decode_bytes(&bytes).unwrap_or(Response::Unavailable(request))
            }
            2 => replay.clone().unwrap_or(Response::Unavailable(request)),
            3 => Response::Unavailable(request),
            _ => honest.clone(),
        };
        replay = Some(honest);
        let mut before = client.clone();
        match client.handle_response(&response, chain.now_ms()) {
            Ok(_) => {}
            Err(e) => {
                rejected += 1;
                // The integrator drives the client by the book: whatever the full node does,
                // the fault is never ours.
                assert_ne!(e.blame(), Blame::Local, "seed {seed}: {e:?} blamed on us");
                if matches!(e, SpvError::BackfillMismatch { .. }) {
                    // The one error that drops unconfirmed (never verified) back-fill headers.
                    before.discard_backfill();
                }
                assert_eq!(client, before, "seed {seed}: state changed by {e:?}");
            }
        }
        assert!(client.halted_at().is_none(), "seed {seed}: no fork exists");
        for h in client.recent_headers() {
            let real = chain.server().store().header(h.height()).unwrap();
            assert_eq!(
                h.header(),
                real,
                "seed {seed}: accepted a header off the real chain"
            );
        }
    }
    // An unsolicited but valid header above the target may have been accepted: still real.
    let tip = client.tip().height();
    assert!(tip >= target, "seed {seed}");
    assert_eq!(client.accumulated_height(), tip + 1, "seed {seed}");
    assert_eq!(
        client.history(),
        &chain.server().store().history_at(tip + 1).unwrap(),
        "seed {seed}"
    );
    (steps, rejected)
}

#[test]
fn byzantine_full_node_cannot_mislead_the_client() {
    let (mut steps, mut rejected) = (0, 0);
    for seed in 0..40 {
        let (s, r) = run(seed);
        steps += s;
        rejected += r;
    }
    // The adversary did get its say.
    assert!(
        rejected > 20,
        "only {rejected} of {steps} responses rejected"
    );
}
