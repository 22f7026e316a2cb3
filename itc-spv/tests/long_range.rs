//! Issue 16 item 3: the trusting period and the clock guard every path that extends trust.
//!
//! The attack: a client anchored at genesis wakes up 30 days later (trusting period 14 days).
//! The genesis validators have long left and sold their keys; with them anyone can certify a
//! "block 1". Accepting it would also refresh the trust window and open the way to a forged
//! skip. Every test here failed on the code before the fix (the forged headers were accepted).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use itc_crypto::{keccak256, ValidatorSet};
use itc_pbft::certificate::CompactCommitCertificate;
use itc_pbft::BlockHeader;
use itc_spv::server::Certificate;
use itc_spv::testkit::{TestChain, BLOCK_INTERVAL_MS, GENESIS_MS};
use itc_spv::{Config, Event, LightClient, Request, Response, SpvError};

const DAY: u64 = 24 * 3600 * 1000;
const EPOCH: u64 = 100;
type Client = LightClient<16, 8>;

fn config() -> Config {
    Config::new(EPOCH)
}

/// A chain of 3 blocks and a client anchored at its genesis, built just after genesis.
fn setup() -> (TestChain, Client) {
    let mut chain = TestChain::new(4, EPOCH);
    chain.extend(3);
    let client = Client::new(chain.anchor(), config(), GENESIS_MS + 1).unwrap();
    (chain, client)
}

/// A header at `height` certified by all four genesis validators (whose keys an attacker
/// bought), stamped `timestamp_ms`, linking to genesis when `height` is 1.
fn forged(chain: &mut TestChain, height: u64, timestamp_ms: u64) -> (BlockHeader, Certificate) {
    let genesis = *chain.server().store().header(0).unwrap();
    let previous = if height == 1 {
        genesis.hash()
    } else {
        keccak256(b"a chain nobody has")
    };
    let header = BlockHeader {
        height,
        previous,
        batch_root: keccak256(b"forged"),
        timestamp_ms,
        ..genesis
    };
    // Genesis's epoch: the set the anchor trusts.
    let keys: Vec<usize> = (0..4).collect();
    let mut cert = Certificate::new(0);
    let set = chain.set_of_epoch(0);
    let digest = itc_pbft::certificate::commit_digest(0, height, &header.hash());
    for p in keys {
        let k = chain.keys_of_epoch(0)[p].clone();
        let i = set.index_of(&k.public_key()).unwrap();
        cert.insert(i, itc_crypto::Signer::sign_digest(&k, &digest).unwrap())
            .unwrap();
    }
    (header, cert)
}

fn response(
    header: BlockHeader,
    cert: &Certificate,
    validators: Option<ValidatorSet<8>>,
) -> Response<8> {
    let mut compact = CompactCommitCertificate::<8>::new(cert.view());
    for (i, s) in cert.votes().iter() {
        compact.insert(i, *s).unwrap();
    }
    Response::CertifiedHeader {
        header,
        certificate: compact,
        validators,
        next_validators: None,
    }
}

fn genesis_set(chain: &mut TestChain) -> ValidatorSet<8> {
    chain.set_of_epoch(0).with_capacity::<8>().unwrap()
}

#[test]
fn verify_header_refuses_a_forgery_by_expired_keys() {
    let (mut chain, mut client) = setup();
    let now = GENESIS_MS + 30 * DAY;
    let (h1, cert) = forged(&mut chain, 1, now - 1_000);
    let before = client.clone();
    assert_eq!(
        client.verify_header(&h1, &cert, None::<&ValidatorSet<8>>, now),
        Err(SpvError::TrustExpired {
            trusted_ms: GENESIS_MS,
            now_ms: now
        })
    );
    assert_eq!(client, before);
    // The genuine block 1 is refused just the same: expiry is about the trusted side.
    let real = *chain.server().store().header(1).unwrap();
    let real_cert = chain.certificate(1).unwrap();
    assert!(matches!(
        client.verify_header(&real, &real_cert, None::<&ValidatorSet<8>>, now),
        Err(SpvError::TrustExpired { .. })
    ));
    assert_eq!(client, before);
}

#[test]
fn handle_response_refuses_it_and_the_skip_it_would_open() {
    let (mut chain, mut client) = setup();
    let now = GENESIS_MS + 30 * DAY;
    let (h1, cert1) = forged(&mut chain, 1, now - 1_000);
    let r1 = response(h1, &cert1, None);
    let before = client.clone();
    assert_eq!(
        client.handle_response(&r1, now),
        Err(SpvError::TrustExpired {
            trusted_ms: GENESIS_MS,
            now_ms: now
        })
    );
    // The forged height 10,000, signed by the same keys, stamped fresh.
    let (h, cert) = forged(&mut chain, 10_000, now - 500);
    let set = genesis_set(&mut chain);
    let far = response(h, &cert, Some(set.clone()));
    assert!(matches!(
        client.handle_response(&far, now),
        Err(SpvError::TrustExpired { .. })
    ));
    assert!(matches!(
        client.verify_skipping(&h, &cert, &set, None::<&ValidatorSet<8>>, now),
        Err(SpvError::TrustExpired { .. })
    ));
    assert_eq!(client, before);
    assert_eq!(client.tip().height(), 0);
}

#[test]
fn the_driver_does_not_bisect_from_expired_trust() {
    let (mut chain, mut client) = setup();
    chain.extend(300);
    client.sync_to(300);
    let request = client.poll_request().unwrap();
    chain.ensure_certificate(&request);
    let answer: Response<8> = chain.server().answer(&request);
    let before = client.clone();
    let late = GENESIS_MS + 30 * DAY;
    assert!(matches!(
        client.handle_response(&answer, late),
        Err(SpvError::TrustExpired { .. })
    ));
    assert_eq!(client, before, "no bisection step was planned");
}

#[test]
fn headers_from_the_future_are_refused_on_every_path() {
    let (mut chain, mut client) = setup();
    let now = GENESIS_MS + 5_000;
    let drift = config().max_clock_drift_ms;
    let before = client.clone();
    // Block 1 stamped a year ahead: were it accepted, trust would last until then + 14 days.
    let (h1, cert1) = forged(&mut chain, 1, now + 365 * DAY);
    let future = Err(SpvError::HeaderFromFuture {
        timestamp_ms: now + 365 * DAY,
        now_ms: now,
    });
    assert_eq!(
        client
            .verify_header(&h1, &cert1, None::<&ValidatorSet<8>>, now)
            .map(|_| ()),
        future
    );
    assert_eq!(
        client
            .handle_response(&response(h1, &cert1, None), now)
            .map(|_| ()),
        future
    );
    let (far, cert) = forged(&mut chain, 10_000, now + 365 * DAY);
    let set = genesis_set(&mut chain);
    assert_eq!(
        client
            .verify_skipping(&far, &cert, &set, None::<&ValidatorSet<8>>, now)
            .map(|_| ()),
        future
    );
    assert_eq!(client, before);

    // The bound is exact: a genuine block 1 at most `drift` ahead of the clock is fine.
    let real = *chain.server().store().header(1).unwrap();
    let real_cert = chain.certificate(1).unwrap();
    let edge = real.timestamp_ms - drift;
    assert_eq!(
        client
            .clone()
            .verify_header(&real, &real_cert, None::<&ValidatorSet<8>>, edge - 1)
            .map(|_| ()),
        Err(SpvError::HeaderFromFuture {
            timestamp_ms: real.timestamp_ms,
            now_ms: edge - 1
        })
    );
    assert!(client
        .verify_header(&real, &real_cert, None::<&ValidatorSet<8>>, edge)
        .is_ok());
}

#[test]
fn trust_lasts_exactly_the_trusting_period() {
    let (mut chain, client) = setup();
    let real = *chain.server().store().header(1).unwrap();
    let cert = chain.certificate(1).unwrap();
    let until = client.trusted_until_ms();
    assert_eq!(until, GENESIS_MS + config().trusting_period_ms);
    assert!(client
        .clone()
        .verify_header(&real, &cert, None::<&ValidatorSet<8>>, until)
        .is_ok());
    assert_eq!(
        client
            .clone()
            .verify_header(&real, &cert, None::<&ValidatorSet<8>>, until + 1)
            .map(|_| ()),
        Err(SpvError::TrustExpired {
            trusted_ms: GENESIS_MS,
            now_ms: until + 1
        })
    );
}

#[test]
fn an_anchor_past_the_trusting_period_is_refused() {
    let mut chain = TestChain::new(4, EPOCH);
    chain.extend(250);
    let now = GENESIS_MS + 30 * DAY;
    assert_eq!(
        Client::new(chain.anchor(), config(), now).map(|_| ()),
        Err(SpvError::TrustExpired {
            trusted_ms: GENESIS_MS,
            now_ms: now
        })
    );
    let mut slot: Option<Client> = None;
    assert!(matches!(
        Client::init_in(&mut slot, &chain.anchor(), config(), now),
        Err(SpvError::TrustExpired { .. })
    ));
    assert!(slot.is_none());
    // A checkpoint from within the period is fine at the same clock.
    let fresh = chain.checkpoint::<8>(240);
    let stamp = fresh.header.timestamp_ms;
    assert!(Client::new(fresh.clone(), config(), stamp + DAY).is_ok());
    // And one stamped ahead of the clock means the clock is wrong.
    assert_eq!(
        Client::new(fresh, config(), GENESIS_MS).map(|_| ()),
        Err(SpvError::ClockBehind {
            now_ms: GENESIS_MS,
            trusted_ms: stamp
        })
    );
}

#[test]
fn a_clock_behind_the_verified_tip_extends_nothing() {
    // A device whose clock reset to zero: with `now_ms = 0` nothing would ever look expired.
    let mut chain = TestChain::new(4, EPOCH);
    chain.extend(20);
    let mut client = Client::new(chain.anchor(), config(), chain.now_ms()).unwrap();
    client.sync_to(10);
    while let Some(r) = client.poll_request() {
        chain.ensure_certificate(&r);
        client
            .handle_response(&chain.server().answer::<8>(&r), chain.now_ms())
            .unwrap();
    }
    let tip_ms = client.tip().header().timestamp_ms;
    let before = client.clone();
    let h11 = *chain.server().store().header(11).unwrap();
    let c11 = chain.certificate(11).unwrap();
    for now in [0, tip_ms - config().max_clock_drift_ms - 1] {
        assert_eq!(
            client
                .verify_header(&h11, &c11, None::<&ValidatorSet<8>>, now)
                .map(|_| ()),
            Err(SpvError::ClockBehind {
                now_ms: now,
                trusted_ms: tip_ms
            })
        );
        let r = chain.server().answer::<8>(&Request::CertifiedHeader {
            height: 11,
            with_validators: false,
        });
        assert!(matches!(
            client.handle_response(&r, now),
            Err(SpvError::ClockBehind { .. })
        ));
    }
    assert_eq!(client, before);
    // A clock within the drift behind the tip is tolerated (it was when the tip came in).
    let r = chain.server().answer::<8>(&Request::CertifiedHeader {
        height: 11,
        with_validators: false,
    });
    let ok = client.handle_response(&r, tip_ms + BLOCK_INTERVAL_MS - config().max_clock_drift_ms);
    assert!(matches!(ok, Ok(Event::HeaderVerified(h)) if h.height() == 11));
}
