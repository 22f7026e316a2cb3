//! Property tests: canonical round trips, decoders that never panic on arbitrary bytes, and a
//! client that never accepts anything but the real chain, whatever bit of a response flips.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::OnceLock;

use itc_crypto::encoding::{Decode, Encode};
use itc_crypto::{Address, Hash, Signature};
use itc_ledger::{Account, StateKey};
use itc_pbft::BlockHeader;
use itc_spv::messages::Request;
use itc_spv::server::StateSnapshot;
use itc_spv::testkit::TestChain;
use itc_spv::{CertifiedHeader, Config, ForkEvidence, LightClient, Response, TrustAnchor};
use proptest::prelude::*;

type Client = LightClient<8, 8>;

/// A 40-block chain with state, built once for all cases.
fn chain() -> &'static TestChain {
    static CHAIN: OnceLock<TestChain> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let key = StateKey::Account(Address([5; 20]));
        let state = StateSnapshot::from_records([(
            key,
            Account {
                balance: 1,
                nonce: 2,
            }
            .encode_to_vec(),
        )]);
        let mut c = TestChain::with_state(4, 10, state);
        c.extend(40);
        for h in 1..=40 {
            c.certificate(h).unwrap();
        }
        c
    })
}

fn any_request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (any::<u64>(), any::<bool>()).prop_map(|(height, with_validators)| {
            Request::CertifiedHeader {
                height,
                with_validators,
            }
        }),
        (any::<u64>(), any::<u16>()).prop_map(|(from, count)| Request::Headers { from, count }),
        (any::<u64>(), any::<u64>())
            .prop_map(|(height, leaf_count)| Request::HeaderProof { height, leaf_count }),
        (any::<u64>(), any::<u64>()).prop_map(|(height, s)| Request::StateProof {
            height,
            key: StateKey::Anchor(s)
        }),
        (any::<u64>(), any::<[u8; 32]>()).prop_map(|(height, l)| Request::TransactionProof {
            height,
            leaf: Hash(l)
        }),
        (any::<u64>(), any::<u64>(), any::<[u8; 32]>()).prop_map(|(height, anchor, t)| {
            Request::DagTransactionProof {
                height,
                anchor,
                tx: Hash(t),
            }
        }),
    ]
}

/// Every kind of response the server gives for this chain.
fn responses() -> Vec<Response<8>> {
    let c = chain();
    let s = c.server();
    [
        Request::CertifiedHeader {
            height: 10,
            with_validators: true,
        },
        Request::CertifiedHeader {
            height: 3,
            with_validators: false,
        },
        Request::Headers { from: 5, count: 16 },
        Request::HeaderProof {
            height: 7,
            leaf_count: 30,
        },
        Request::StateProof {
            height: 4,
            key: StateKey::Account(Address([5; 20])),
        },
        Request::StateProof {
            height: 4,
            key: StateKey::Meta,
        },
        Request::CertifiedHeader {
            height: 99,
            with_validators: true,
        },
    ]
    .iter()
    .map(|r| s.answer::<8>(r))
    .collect()
}

#[test]
fn every_response_kind_round_trips() {
    for r in responses() {
        let bytes = r.encode_to_vec();
        assert_eq!(Response::<8>::decode_bytes(&bytes).unwrap(), r);
        // Truncation and trailing bytes are refused.
        assert!(Response::<8>::decode_bytes(&bytes[..bytes.len() - 1]).is_err());
        let mut long = bytes.clone();
        long.push(0);
        assert!(Response::<8>::decode_bytes(&long).is_err());
    }
    let mut c = chain().clone();
    let anchor: TrustAnchor<8> = c.checkpoint(17);
    let bytes = anchor.encode_to_vec();
    assert_eq!(TrustAnchor::<8>::decode_bytes(&bytes).unwrap(), anchor);
    let (evidence, _) = c.fork_at(12);
    let bytes = evidence.encode_to_vec();
    assert_eq!(
        ForkEvidence::<Vec<Signature>>::decode_bytes(&bytes).unwrap(),
        evidence
    );
    // Swapping the two halves is the same fork in non-canonical order.
    let swapped_len = evidence.first().encoded_len();
    let mut swapped = bytes[swapped_len..].to_vec();
    swapped.extend_from_slice(&bytes[..swapped_len]);
    assert!(ForkEvidence::<Vec<Signature>>::decode_bytes(&swapped).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn requests_round_trip(r in any_request()) {
        let bytes = r.encode_to_vec();
        prop_assert_eq!(Request::decode_bytes(&bytes).unwrap(), r);
    }

    #[test]
    fn decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Request::decode_bytes(&data);
        let _ = Response::<8>::decode_bytes(&data);
        let _ = Response::<4>::decode_bytes(&data);
        let _ = TrustAnchor::<8>::decode_bytes(&data);
        let _ = ForkEvidence::<Vec<Signature>>::decode_bytes(&data);
        let _ = CertifiedHeader::<Vec<Signature>>::decode_bytes(&data);
        let _ = itc_spv::MmrProof::decode_bytes(&data);
    }

    #[test]
    fn prefixed_garbage_never_panics(tag in 0u8..8, data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut bytes = vec![tag];
        bytes.extend_from_slice(&data);
        let _ = Response::<8>::decode_bytes(&bytes);
        let _ = Request::decode_bytes(&bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Flip any bit of a certified-header response: the client either rejects it (unchanged)
    /// or accepts exactly the real header.
    #[test]
    fn bit_flipped_headers_are_rejected_or_harmless(height in 1u64..=3, pick in any::<prop::sample::Index>()) {
        let c = chain();
        let mut client: Client = Client::new(c.clone().anchor(), Config::new(10), c.now_ms()).unwrap();
        for h in 1..height {
            let r = c.server().answer::<8>(&Request::CertifiedHeader { height: h, with_validators: false });
            client.handle_response(&r, c.now_ms()).unwrap();
        }
        let real: BlockHeader = *c.server().store().header(height).unwrap();
        let r = c.server().answer::<8>(&Request::CertifiedHeader { height, with_validators: true });
        let bytes = r.encode_to_vec();
        let bit = pick.index(bytes.len() * 8);
        let mut bad = bytes.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        let before = client.clone();
        match Response::<8>::decode_bytes(&bad) {
            Err(_) => {}
            Ok(resp) => match client.handle_response(&resp, c.now_ms()) {
                Ok(_) => prop_assert_eq!(client.tip().header(), &real),
                Err(_) => prop_assert_eq!(&client, &before),
            },
        }
    }

    /// Skipping from genesis to any height either succeeds on the real header or asks for one
    /// in between; following the requests always ends at the target.
    #[test]
    fn sync_reaches_any_target(target in 1u64..=40, backfill in any::<bool>()) {
        let c = chain();
        let mut config = Config::new(10);
        config.backfill = backfill;
        let mut client: Client = Client::new(c.clone().anchor(), config, c.now_ms()).unwrap();
        client.sync_to(target);
        let mut steps = 0;
        while let Some(req) = client.poll_request() {
            steps += 1;
            prop_assert!(steps < 200);
            let r = c.server().answer::<8>(&req);
            client.handle_response(&r, c.now_ms()).unwrap();
        }
        prop_assert_eq!(client.tip().header(), c.server().store().header(target).unwrap());
        if backfill {
            prop_assert_eq!(client.accumulated_height(), target + 1);
        }
    }
}
