//! Issue 16 item 4: fork evidence names only validators whose signatures on both conflicting
//! headers were verified, and a conflict in the ring certified by an older set is detected.
//!
//! Before the fix, evidence with junk under the bit of a validator that signed nothing
//! verified and listed it as a double signer; the client's own evidence did the same after it
//! accepted a genuine header carrying a junk extra signature; and a conflicting header just
//! below an epoch change was answered `StaleHeader` (the fork went unnoticed). Each test below
//! failed on that code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use itc_crypto::{Signature, ValidatorSet};
use itc_pbft::certificate::CompactCommitCertificate;
use itc_pbft::BlockHeader;
use itc_spv::server::Certificate;
use itc_spv::testkit::TestChain;
use itc_spv::{CertifiedHeader, Config, ForkEvidence, LightClient, Request, Response, SpvError};

type Client = LightClient<16, 8>;
const JUNK: Signature = Signature::from_bytes([7; 64]);

/// Positions (in epoch 0's key list) of every validator but the one at set index `index`.
fn all_but(chain: &mut TestChain, index: usize) -> Vec<usize> {
    let set = chain.set_of_epoch(0);
    let keys = chain.keys_of_epoch(0).to_vec();
    (0..keys.len())
        .filter(|p| set.index_of(&keys[*p].public_key()) != Some(index))
        .collect()
}

/// Block 1 and a conflicting block 1, each signed by validators 0, 1, 2 (by set index) with
/// junk under validator 3's bit: validator 3 signed nothing.
fn framed(
    chain: &mut TestChain,
) -> (
    CertifiedHeader<Vec<Signature>>,
    CertifiedHeader<Vec<Signature>>,
) {
    chain.extend(1);
    let ours = *chain.server().store().header(1).unwrap();
    let (theirs, _) = chain.conflicting(1).unwrap();
    let signers = all_but(chain, 3);
    let mut a = chain.sign(&ours, &signers);
    let mut b = chain.sign(&theirs, &signers);
    a.insert(3, JUNK).unwrap();
    b.insert(3, JUNK).unwrap();
    (
        CertifiedHeader {
            header: ours,
            certificate: a,
        },
        CertifiedHeader {
            header: theirs,
            certificate: b,
        },
    )
}

#[test]
fn evidence_with_junk_under_an_innocent_bit_does_not_verify() {
    let mut chain = TestChain::new(4, 10);
    let (a, b) = framed(&mut chain);
    let set = chain.set_of_epoch(0);
    let evidence = ForkEvidence::new(a.clone(), b.clone());
    assert_eq!(
        evidence.verify(&set),
        Err(SpvError::ForgedSignature { index: 3 })
    );
    // Junk on one side only (validator 3 genuinely signed the other): still refused, so 3 is
    // never named for a header it did not sign.
    let mut honest_b = b;
    honest_b.certificate = chain.sign_all(&honest_b.header);
    assert_eq!(
        ForkEvidence::new(a.clone(), honest_b.clone()).verify(&set),
        Err(SpvError::ForgedSignature { index: 3 })
    );
    // Without the junk, the evidence verifies and names exactly 0, 1, 2.
    let mut clean_a = a;
    let signers = all_but(&mut chain, 3);
    clean_a.certificate = chain.sign(&clean_a.header, &signers);
    let proven = ForkEvidence::new(clean_a, honest_b).verify(&set).unwrap();
    assert_eq!(
        proven.double_signers().iter_ones().collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!((proven.double_signer_power(), proven.total_power()), (3, 4));
}

#[test]
fn the_clients_own_evidence_names_only_what_it_verified() {
    let mut chain = TestChain::new(4, 10);
    let (a, b) = framed(&mut chain);
    let set = chain.set_of_epoch(0);
    let now = chain.now_ms();
    let mut client = Client::new(chain.anchor(), Config::new(10), now).unwrap();
    // Both certificates pass the quorum check: three genuine signatures are enough.
    client
        .verify_header(&a.header, &a.certificate, None::<&ValidatorSet<8>>, now)
        .unwrap();
    assert_eq!(
        client.verify_header(&b.header, &b.certificate, None::<&ValidatorSet<8>>, now),
        Err(SpvError::ConflictingHeader { height: 1 })
    );
    let evidence = client.fork_evidence().unwrap();
    // Only verified signatures were kept: the junk is not in the evidence.
    assert!(!evidence.first().certificate.signers().get(3));
    assert!(!evidence.second().certificate.signers().get(3));
    let proven = evidence.verify(&set).unwrap();
    assert!(!proven.double_signers().get(3));
    assert_eq!(proven.double_signers().count(), 3);
}

fn compact(cert: &Certificate) -> CompactCommitCertificate<8> {
    let mut c = CompactCommitCertificate::<8>::new(cert.view());
    for (i, s) in cert.votes().iter() {
        c.insert(i, *s).unwrap();
    }
    c
}

/// A client that verified headers 1..=`tip` one by one.
fn synced(chain: &mut TestChain, tip: u64) -> Client {
    let mut client = Client::new(chain.anchor(), Config::new(5), chain.now_ms()).unwrap();
    for h in 1..=tip {
        let r = Request::CertifiedHeader {
            height: h,
            with_validators: false,
        };
        chain.ensure_certificate(&r);
        let answer: Response<8> = chain.server().answer(&r);
        client.handle_response(&answer, chain.now_ms()).unwrap();
    }
    client
}

fn conflict_response(
    chain: &mut TestChain,
    height: u64,
    with_set: bool,
) -> (BlockHeader, Response<8>) {
    let (header, cert) = chain.conflicting(height).unwrap();
    let epoch = chain.epoch_of(height);
    let validators = with_set.then(|| chain.set_of_epoch(epoch).with_capacity().unwrap());
    let next_validators = (header.next_validator_set_hash != header.validator_set_hash)
        .then(|| chain.set_of_epoch(epoch + 1).with_capacity().unwrap());
    (
        header,
        Response::CertifiedHeader {
            header,
            certificate: compact(&cert),
            validators,
            next_validators,
        },
    )
}

#[test]
fn a_conflict_certified_by_the_previous_epochs_set_halts_the_client() {
    // Epochs of 5 blocks: header 5 is certified by epoch 0's set, 6 by epoch 1's.
    let mut chain = TestChain::new(4, 5);
    chain.extend(8);
    let mut client = synced(&mut chain, 6);
    let (fork, response) = conflict_response(&mut chain, 5, false);
    assert_eq!(
        client.handle_response(&response, chain.now_ms()),
        Err(SpvError::ConflictingHeader { height: 5 })
    );
    assert_eq!(client.halted_at(), Some(5));
    assert_eq!(client.poll_request(), None);
    // The conflicting header is kept; with our header 5's certificate it is evidence.
    let theirs = client.conflicting_header().unwrap();
    assert_eq!(theirs.header, fork);
    let ours = CertifiedHeader {
        header: *chain.server().store().header(5).unwrap(),
        certificate: chain.certificate(5).unwrap(),
    };
    let theirs = CertifiedHeader {
        header: theirs.header,
        certificate: theirs.certificate.votes().iter().fold(
            Certificate::new(theirs.certificate.view()),
            |mut c, (i, s)| {
                c.insert(i, *s).unwrap();
                c
            },
        ),
    };
    let proven = ForkEvidence::new(ours, theirs)
        .verify(&chain.set_of_epoch(0))
        .unwrap();
    assert_eq!(proven.height(), 5);
}

#[test]
fn an_older_conflict_is_judged_with_the_set_sent_along() {
    // Ring of 16 spans three epochs (0..=15): the client keeps epochs 1 and 2's sets.
    let mut chain = TestChain::new(4, 5);
    chain.extend(16);
    let mut client = synced(&mut chain, 15);
    let before = client.clone();
    // Without its set, the header at 3 cannot be judged: said so, not called stale.
    let (_, bare) = conflict_response(&mut chain, 3, false);
    assert_eq!(
        client.handle_response(&bare, chain.now_ms()),
        Err(SpvError::SigningSetUnknown { height: 3 })
    );
    assert_eq!(client, before);
    // A set that is not the one our header 3 names is not taken.
    let (_, mut wrong) = conflict_response(&mut chain, 3, false);
    if let Response::CertifiedHeader { validators, .. } = &mut wrong {
        *validators = Some(chain.set_of_epoch(2).with_capacity().unwrap());
    }
    assert_eq!(
        client.handle_response(&wrong, chain.now_ms()),
        Err(SpvError::SigningSetUnknown { height: 3 })
    );
    assert_eq!(client, before);
    // With its own set, the fork is found.
    let (_, full) = conflict_response(&mut chain, 3, true);
    assert_eq!(
        client.handle_response(&full, chain.now_ms()),
        Err(SpvError::ConflictingHeader { height: 3 })
    );
    assert_eq!(client.halted_at(), Some(3));
}

#[test]
fn a_replay_below_an_epoch_change_is_still_just_stale() {
    let mut chain = TestChain::new(4, 5);
    chain.extend(8);
    let mut client = synced(&mut chain, 6);
    let before = client.clone();
    let r = Request::CertifiedHeader {
        height: 5,
        with_validators: true,
    };
    let answer: Response<8> = chain.server().answer(&r);
    assert_eq!(
        client.handle_response(&answer, chain.now_ms()),
        Err(SpvError::StaleHeader { height: 5, tip: 6 })
    );
    assert_eq!(client, before);
}
