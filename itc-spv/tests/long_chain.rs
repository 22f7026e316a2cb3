//! The long-chain test: 100,000 headers with a validator-set change every 1,000, followed by a
//! device-sized client (`K = 16`, `N = 8`) through the sans-I/O driver. Memory stays under the
//! configured bound the whole way, every header ends up in the accumulator, and an early header
//! — and a transaction in it — is still provable at the end.
//!
//! The client skips (Tendermint-style) as far as the trust threshold allows — one validator of
//! four rotates per epoch, so a skip spans at most two epochs — and bisects when it cannot; the
//! headers it skips are back-filled into the accumulator by hash linkage alone. Certificates are
//! signed lazily, so only the headers the client actually asks for cost signatures.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Instant;

use itc_spv::messages::Request;
use itc_spv::proofs::request_leaf;
use itc_spv::server::BatchRequest;
use itc_spv::testkit::TestChain;
use itc_spv::{Config, Event, LightClient, Response};

const BLOCKS: u64 = 100_000;
const EPOCH: u64 = 1_000;
/// The configured bound: the 16 KiB for `K = 16`.
const MEMORY_BOUND: usize = 16 * 1024;

type Device = LightClient<16, 8>;

// The client never allocates: its size is its memory, whatever the chain length. Checked at
// compile time.
const _: () = assert!(Device::STATE_BYTES <= MEMORY_BOUND);

#[test]
fn hundred_thousand_headers_with_set_changes_every_thousand() {
    let started = Instant::now();
    let mut chain = TestChain::new(4, EPOCH);
    // A command in an early block, to prove at the end.
    let cmd = BatchRequest {
        client: 3,
        request_id: 9,
        payload: b"unlock door 2".to_vec(),
    };
    chain.extend(4);
    chain.push_block(vec![cmd], None).unwrap(); // block 5
    chain.extend(BLOCKS - 5);
    assert_eq!(chain.tip_height(), BLOCKS);
    let built = started.elapsed();

    let mut client: Box<Device> =
        Box::new(Device::new(chain.anchor(), Config::new(EPOCH), chain.now_ms()).unwrap());
    client.sync_to(chain.tip_height());

    let (mut verified, mut bisections, mut backfills, mut set_changes) = (0u64, 0u64, 0u64, 0u64);
    let mut last_set = client.validators().clone();
    let mut steps = 0u64;
    while let Some(request) = client.poll_request() {
        steps += 1;
        assert!(steps < 20_000, "sync does not converge");
        chain.ensure_certificate(&request);
        let response: Response<8> = chain.server().answer(&request);
        match client.handle_response(&response, chain.now_ms()).unwrap() {
            Event::HeaderVerified(_) => verified += 1,
            Event::Bisecting { .. } => bisections += 1,
            Event::Backfilled { .. } => backfills += 1,
            other => panic!("unexpected event {other:?}"),
        }
        if client.validators() != &last_set {
            set_changes += 1;
            last_set = client.validators().clone();
        }
        // Bounded whatever the chain length: the ring never exceeds K and the accumulator
        // keeps one peak per set bit of its size.
        assert!(client.recent_headers().count() <= 16);
        assert!(
            client.history().peaks().len()
                <= 64 - client.accumulated_height().leading_zeros() as usize
        );
    }
    let synced = started.elapsed() - built;

    assert_eq!(client.tip().height(), BLOCKS);
    assert_eq!(client.tip().hash(), chain.server().store().tip().hash());
    assert_eq!(client.accumulated_height(), BLOCKS + 1);
    assert_eq!(
        client.history().peaks().len(),
        (BLOCKS + 1).count_ones() as usize
    );
    assert_eq!(
        client.history(),
        &chain.server().store().history_at(BLOCKS + 1).unwrap()
    );
    // 99 hand-overs happened; skipping crosses up to two per accepted header.
    assert!(set_changes >= 45, "only {set_changes} set changes observed");
    assert!(
        verified < 200,
        "{verified} headers verified: skipping should need far fewer"
    );

    // An early header is still provable, and so is the command in it.
    let request = Request::HeaderProof {
        height: 5,
        leaf_count: client.accumulated_height(),
    };
    let response: Response<8> = chain.server().answer(&request);
    let Event::OldHeader(old) = client.handle_response(&response, chain.now_ms()).unwrap() else {
        panic!("expected the old header");
    };
    assert_eq!(old.height(), 5);
    let leaf = request_leaf(3, 9, b"unlock door 2");
    let Response::<8>::TransactionProof { proof, .. } = chain
        .server()
        .answer(&Request::TransactionProof { height: 5, leaf })
    else {
        panic!("the server keeps batches");
    };
    old.verify_transaction(&leaf, &proof).unwrap();
    assert!(old.verify_request(3, 9, b"unlock door 3", &proof).is_err());
    assert_eq!(client.confirmations(old.height()).unwrap(), BLOCKS - 5);
    // A proof of the same height for a forged header does not pass.
    let mut forged = *old.header();
    forged.batch_root = leaf;
    let Response::<8>::HeaderProof {
        proof: mmr_proof, ..
    } = response
    else {
        panic!()
    };
    assert!(client.verify_old_header(&forged, &mmr_proof).is_err());

    std::eprintln!(
        "long chain: {BLOCKS} headers built in {built:?}, synced in {synced:?} \
         ({steps} requests: {verified} verified, {bisections} bisections, {backfills} back-fill batches); \
         client state {} bytes",
        Device::STATE_BYTES
    );
}

#[test]
fn sequential_following_across_set_changes() {
    // Every header verified in turn with real certificates, through three hand-overs.
    let mut chain = TestChain::new(4, 100);
    chain.extend(350);
    let mut client: Box<Device> =
        Box::new(Device::new(chain.anchor(), Config::new(100), chain.now_ms()).unwrap());
    let started = Instant::now();
    for height in 1..=350 {
        let header = *chain.server().store().header(height).unwrap();
        let cert = chain.certificate(height).unwrap();
        let next = (header.next_validator_set_hash != header.validator_set_hash)
            .then(|| chain.set_of_epoch(chain.epoch_of(height + 1)));
        client
            .verify_header(&header, &cert, next.as_ref(), chain.now_ms())
            .unwrap();
        assert_eq!(client.accumulated_height(), height + 1);
    }
    assert_eq!(client.tip().height(), 350);
    assert_eq!(client.validators().hash(), chain.set_hash_of_epoch(3));
    std::eprintln!(
        "sequential: 350 headers signed and verified in {:?}",
        started.elapsed()
    );
}
