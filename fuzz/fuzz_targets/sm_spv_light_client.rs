//! The light client fed arbitrary responses: honest ones from a full node (a 4-validator test
//! chain with a validator-set change every 8 blocks), honest ones with a byte flipped, and raw
//! fuzzer bytes — in any order, with the clock moving.
//!
//! Invariants: no panic; the verified tip only moves forward; a response that is refused leaves
//! the client's tip unchanged; the header ring stays within its capacity; trust is extended only
//! from a tip still inside the trusting period, to a header not from the future, on a clock not
//! behind the tip (issue 16.3), whichever way the clock moves.
#![no_main]
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use itc_crypto::{Decode, Encode};
use itc_spv::testkit::TestChain;
use itc_spv::{Config, LightClient, Response, TrustAnchor};
use libfuzzer_sys::fuzz_target;

const K: usize = 16;
const N: usize = 8;
const EPOCH: u64 = 8;

struct Fixture {
    /// A fresh client at the trust anchor, syncing to the chain tip (cloned per input: keys
    /// are costly to parse under instrumentation).
    start: Option<LightClient<K, N>>,
    honest: Vec<Vec<u8>>,
    now_ms: u64,
}

/// Syncs a reference client against the test chain once, recording every honest response.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut chain = TestChain::new(4, EPOCH);
        chain.extend(40);
        let anchor: TrustAnchor<N> = chain.anchor();
        let mut honest = Vec::new();
        if let Ok(mut client) = LightClient::<K, N>::new(anchor.clone(), Config::new(EPOCH), chain.now_ms()) {
            client.sync_to(chain.tip_height());
            for _ in 0..200 {
                let Some(req) = client.poll_request() else {
                    break;
                };
                // The test chain signs lazily: without this every honest answer would be
                // `Unavailable`.
                chain.ensure_certificate(&req);
                let resp: Response<N> = chain.server().answer(&req);
                honest.push(resp.encode_to_vec());
                if client.handle_response(&resp, chain.now_ms()).is_err() {
                    break;
                }
            }
        }
        let start = TrustAnchor::<N>::decode_bytes(&anchor.encode_to_vec())
            .ok()
            .and_then(|a| LightClient::<K, N>::new(a, Config::new(EPOCH), chain.now_ms()).ok())
            .map(|mut c| {
                c.sync_to(chain.tip_height());
                c
            });
        Fixture {
            start,
            honest,
            now_ms: chain.now_ms(),
        }
    })
}

#[derive(Arbitrary, Debug)]
enum Op {
    Honest(u8),
    Mutated { index: u8, at: u16, xor: u8 },
    Bytes(Vec<u8>),
    SyncTo(u8),
    Advance(u32),
    Rewind(u32),
}

fuzz_target!(|ops: Vec<Op>| {
    let f = fixture();
    let Some(mut client) = f.start.clone() else {
        return;
    };
    let mut now = f.now_ms;
    for op in ops.into_iter().take(256) {
        let bytes: Vec<u8> = match op {
            Op::Honest(i) => match f.honest.get(usize::from(i) % f.honest.len().max(1)) {
                Some(b) => b.clone(),
                None => continue,
            },
            Op::Mutated { index, at, xor } => {
                let Some(b) = f.honest.get(usize::from(index) % f.honest.len().max(1)) else {
                    continue;
                };
                let mut b = b.clone();
                let len = b.len().max(1);
                if let Some(x) = b.get_mut(usize::from(at) % len) {
                    *x ^= xor;
                }
                b
            }
            Op::Bytes(b) => b,
            Op::SyncTo(h) => {
                client.sync_to(u64::from(h));
                let _ = client.poll_request();
                continue;
            }
            Op::Advance(ms) => {
                now = now.saturating_add(u64::from(ms));
                continue;
            }
            Op::Rewind(ms) => {
                now = now.saturating_sub(u64::from(ms));
                continue;
            }
        };
        let Ok(resp) = Response::<N>::decode_bytes(&bytes) else {
            continue;
        };
        let before = (client.tip().height(), client.tip().hash());
        let trusted_ms = client.tip().header().timestamp_ms;
        let trusted_until = client.trusted_until_ms();
        let drift = client.config().max_clock_drift_ms;
        let result = client.handle_response(&resp, now);
        let after = (client.tip().height(), client.tip().hash());
        match result {
            Ok(_) => assert!(
                after.0 >= before.0,
                "tip went back from {} to {}",
                before.0,
                after.0
            ),
            Err(_) => assert_eq!(before, after, "a refused response moved the tip"),
        }
        if after != before {
            assert!(now <= trusted_until, "trust extended from an expired tip");
            assert!(
                now.saturating_add(drift) >= trusted_ms,
                "trust extended on a clock behind the tip"
            );
            assert!(
                client.tip().header().timestamp_ms <= now.saturating_add(drift),
                "accepted a header from the future"
            );
        }
        itc_fuzz::assert_bounded("ring", client.recent_headers().count(), K);
        let _ = client.poll_request();
    }
});
