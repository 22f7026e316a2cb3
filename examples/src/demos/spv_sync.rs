//! `spv_sync`: `itc-spv` on its own, against its reference test chain (`itc_spv::testkit`,
//! lazily signed, so 30,000 blocks cost signatures only where the device asks).
//!
//! A device anchored at genesis syncs a long chain whose validator set is replaced every epoch:
//! it skips (1/3 trust), bisects where trust runs out, back-fills the skipped headers into its
//! Merkle Mountain Range, and ends holding a few kilobytes whatever the chain's length. It then
//! proves a state entry at the tip, an old header through the accumulator and a command inside
//! that old block; finally a conflicting certified header halts it with fork evidence.

use std::time::Instant;

use itc_crypto::{Address, Encode};
use itc_ledger::{Account, StateKey};
use itc_spv::proofs::request_leaf;
use itc_spv::server::{BatchRequest, StateSnapshot};
use itc_spv::testkit::TestChain;
use itc_spv::{Config, Event, LightClient, Request, Response, SpvError};

use super::Scale;
use crate::error::StoryError;
use crate::report::Report;

/// Blocks per validator-set epoch.
const EPOCH: u64 = 1_000;

type Device = LightClient<16, 8>;

/// Runs the demo.
pub fn run(report: &mut Report, scale: Scale) -> Result<(), StoryError> {
    report.phase("A device syncs a long chain with rotating validator sets");
    let blocks = scale.pick(30_000, 2_500) as u64;
    let started = Instant::now();
    let mut chain = TestChain::new(7, EPOCH);
    let cmd = BatchRequest {
        client: 3,
        request_id: 9,
        payload: b"lamp 7: on".to_vec(),
    };
    chain.extend(4);
    chain
        .push_block(vec![cmd.clone()], None)
        .map_err(StoryError::TestChain)?; // block 5
    chain.extend(blocks - 15);
    let key = StateKey::Account(Address([7; 20]));
    let funded = Account {
        balance: 1_234,
        nonce: 5,
    }
    .encode_to_vec();
    chain
        .push_block(
            Vec::new(),
            Some(StateSnapshot::from_records([(key, funded.clone())])),
        )
        .map_err(StoryError::TestChain)?;
    chain.extend(9);
    let built = started.elapsed();
    report.say(format!(
        "{} blocks, 7 validators replaced every {EPOCH} blocks (built in {:.1} s)",
        chain.tip_height(),
        built.as_secs_f64()
    ));

    let mut device: Box<Device> = Box::new(
        Device::new(chain.anchor(), Config::new(EPOCH), chain.now_ms()).map_err(StoryError::Spv)?,
    );
    device.sync_to(chain.tip_height());
    let (mut verified, mut bisections, mut backfills, mut requests, mut bytes) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let synced = Instant::now();
    while let Some(request) = device.poll_request() {
        requests += 1;
        if requests > 100_000 {
            return Err(StoryError::SyncStuck);
        }
        chain.ensure_certificate(&request);
        let response: Response<8> = chain.server().answer(&request);
        bytes += response.encoded_len() as u64;
        match device
            .handle_response(&response, chain.now_ms())
            .map_err(StoryError::Spv)?
        {
            Event::HeaderVerified(_) => verified += 1,
            Event::Bisecting { .. } => bisections += 1,
            Event::Backfilled { .. } => backfills += 1,
            _ => {}
        }
    }
    let sync_s = synced.elapsed().as_secs_f64();
    let tip = chain.tip_height();
    report.expect(
        "the device reaches the tip by skipping, verifying only a handful of certificates",
        device.tip().height() == tip
            && device.tip().hash() == chain.server().store().tip().hash()
            && verified < tip / 50,
        format!(
            "{verified} certificates checked, {bisections} bisections, {backfills} back-fill batches, {requests} requests, {} KiB, {:.2} s",
            bytes / 1024,
            sync_s
        ),
    );
    report.expect(
        "its accumulator covers every header, in a few peaks",
        device.accumulated_height() == tip + 1
            && device.history().peaks().len() == (tip + 1).count_ones() as usize,
        format!(
            "{} peaks for {} headers; client state {} B",
            device.history().peaks().len(),
            tip + 1,
            Device::STATE_BYTES
        ),
    );
    report.figure(
        "spv_state_bytes",
        "light client state (K = 16, N = 8)",
        Device::STATE_BYTES as f64,
        "B",
        0,
    );
    report.figure(
        "spv_sync_kib",
        "download to sync from genesis",
        (bytes / 1024) as f64,
        "KiB",
        0,
    );
    report.figure(
        "spv_headers_per_s",
        "headers synced per second (host)",
        tip as f64 / sync_s.max(1e-9),
        "headers/s",
        0,
    );

    // A state entry at the tip.
    let answer: Response<8> = chain
        .server()
        .answer(&Request::StateProof { height: tip, key });
    let value = match device
        .handle_response(&answer, chain.now_ms())
        .map_err(StoryError::Spv)?
    {
        Event::State(entry) => entry.value().map(<[u8]>::to_vec),
        _ => None,
    };
    report.expect(
        "the account's balance is proven under the tip's state root",
        value.as_deref() == Some(&funded[..]),
        format!("{} B response", answer.encoded_len()),
    );

    // An old header through the accumulator, and the command inside its block.
    let request = Request::HeaderProof {
        height: 5,
        leaf_count: device.accumulated_height(),
    };
    let answer: Response<8> = chain.server().answer(&request);
    let Event::OldHeader(old) = device
        .handle_response(&answer, chain.now_ms())
        .map_err(StoryError::Spv)?
    else {
        return Err(StoryError::Unexpected("no old header"));
    };
    let leaf = request_leaf(cmd.client, cmd.request_id, &cmd.payload);
    let Response::<8>::TransactionProof { proof, .. } = chain
        .server()
        .answer(&Request::TransactionProof { height: 5, leaf })
    else {
        return Err(StoryError::Unexpected("no transaction proof"));
    };
    let included = old.verify_transaction(&leaf, &proof).is_ok();
    let forged = old.verify_request(3, 9, b"lamp 7: off", &proof).is_err();
    report.expect(
        "block 5 is proven through the accumulator, and the command in it",
        included && forged && device.confirmations(5).ok() == Some(tip - 5),
        format!(
            "header proof {} B; a forged command does not verify",
            answer.encoded_len()
        ),
    );

    // A second, validly certified header at the tip: the device halts with evidence.
    let Some((other, cert)) = chain.conflicting(tip) else {
        return Err(StoryError::Unexpected("no conflicting header"));
    };
    let verdict = device.verify_header(
        &other,
        &cert,
        None::<&itc_crypto::ValidatorSet<8>>,
        chain.now_ms(),
    );
    let evidence = device.fork_evidence();
    report.expect(
        "a conflicting certified header halts the device, with fork evidence",
        matches!(verdict, Err(SpvError::ConflictingHeader { .. }))
            && device.halted_at().is_some()
            && evidence.is_some()
            && device.poll_request().is_none(),
        format!("halted at {:?}", device.halted_at()),
    );
    Ok(())
}
