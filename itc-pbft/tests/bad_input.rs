//! Table-driven bad input: every malformed, truncated, wrong-view, out-of-window,
//! wrong-signature and unknown-sender input gets its typed error, and the replica's committed
//! state (chain tip, executed height, low watermark, view, durable record) is unchanged.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use itc_crypto::encoding::{DecodeError, Encode};
use itc_crypto::{Hash, SecretKey, Signature, Signer};
use itc_pbft::cluster::{test_key, Cluster};
use itc_pbft::error::{NewViewError, ProposalError, ViewChangeError};
use itc_pbft::message::{
    vote_digest, CheckpointVote, NewView, Phase, PrePrepare, PreparedCertificate, ViewChange, Vote,
};
use itc_pbft::{
    Batch, BlockHeader, ClientId, Config, Executed, Message, PbftError, Replica, Request,
};
use proptest::prelude::*;

/// Everything a bad input must leave alone.
#[derive(Debug, PartialEq)]
struct Committed {
    tip: BlockHeader,
    executed: u64,
    low: u64,
    view: u64,
    active: bool,
    record: itc_pbft::SafetyRecord,
}

fn committed(r: &Replica<SecretKey>) -> Committed {
    Committed {
        tip: *r.last_committed(),
        executed: r.last_executed(),
        low: r.low_watermark(),
        view: r.view(),
        active: r.is_view_active(),
        record: r.safety_record().clone(),
    }
}

/// A 4-node cluster that went through a view change (view 1) and committed 3 blocks.
fn setup() -> (Cluster, Vec<SecretKey>) {
    let config = Config {
        batch_delay_ms: 0,
        checkpoint_interval: 16,
        window: 32,
        view_change_timeout_ms: 100,
        ..Config::default()
    };
    let mut c = Cluster::with_powers(&[1, 1, 1, 1], config).unwrap();
    // Requests only to the backups: the primary of view 0 never sees them, so the backups'
    // timers fire and view 1 starts.
    for i in 1..4 {
        c.submit_to(i, Request::new(ClientId(1), 1, b"a".to_vec()));
    }
    c.run_for(1_000, 10);
    assert!(c.nodes().iter().all(|n| n.replica.view() == 1));
    for id in 2..4 {
        c.submit(Request::new(ClientId(1), id, b"b".to_vec()));
        c.run_until_idle();
    }
    assert_eq!(c.committed_heights(), vec![3, 3, 3, 3]);
    // Keys in node (signer index) order.
    let keys: Vec<SecretKey> = c
        .nodes()
        .iter()
        .map(|n| {
            (0..4)
                .map(|i| test_key(i).unwrap())
                .find(|k| k.public_key() == n.replica.public_key())
                .unwrap()
        })
        .collect();
    (c, keys)
}

fn vote(keys: &[SecretKey], phase: Phase, sender: u16, view: u64, height: u64, hash: Hash) -> Vote {
    Vote {
        view,
        height,
        header_hash: hash,
        sender,
        signature: keys[sender as usize]
            .sign_digest(&vote_digest(phase, view, height, &hash))
            .unwrap(),
    }
}

#[test]
fn each_bad_input_gets_its_typed_error_and_changes_nothing() {
    let (mut c, keys) = setup();
    // Node 3 is a backup in view 1 (the primary of view 1 is node 1).
    let target = 3usize;
    let root = c.node(target).unwrap().app.root;
    // Node 0 hands its new-view to whoever asks for view 1 (that is how laggards catch up).
    let ask = signed_vc(
        &keys[target],
        ViewChange {
            new_view: 1,
            checkpoint: None,
            prepared: vec![],
            sender: target as u16,
            signature: Signature([0; 64]),
        },
    );
    let n0 = &mut c.node_mut(0).unwrap().replica;
    let _ = n0.drain_actions().count();
    assert!(matches!(
        n0.handle_message(Message::ViewChange(ask), 10_000),
        Err(PbftError::StaleView { .. })
    ));
    let nv = n0
        .drain_actions()
        .find_map(|a| match a {
            itc_pbft::Action::Send {
                message: Message::NewView(nv),
                ..
            } => Some(nv),
            _ => None,
        })
        .expect("a replica in view 1 forwards its new-view");
    let r = &mut c.node_mut(target).unwrap().replica;
    let _ = r.drain_actions().count();
    assert_eq!(r.view(), 1);
    assert!(r.is_view_active());

    let tip = *r.last_committed();
    let h = tip.height + 1;
    let view = 1u64;
    let primary = 1u16; // view 1 mod 4
    let set = r.validators().unwrap().clone();
    let good_hash = Hash([0x42; 32]);

    // A proposal the primary could make at the next height, and variations of it.
    let batch = Batch::new(vec![Request::new(ClientId(5), 1, b"x".to_vec())]);
    let header = BlockHeader {
        height: h,
        view,
        previous: tip.hash(),
        batch_root: batch.root(),
        state_root: root,
        validator_set_hash: set.hash(),
        next_validator_set_hash: set.hash(),
        timestamp_ms: tip.timestamp_ms + 1,
    };
    let sign_pp = |k: &SecretKey, view: u64, header: BlockHeader| PrePrepare {
        view,
        header,
        signature: k
            .sign_digest(&vote_digest(
                Phase::PrePrepare,
                view,
                header.height,
                &header.hash(),
            ))
            .unwrap(),
    };

    let valid_prepare = Message::Prepare(vote(&keys, Phase::Prepare, 2, view, h, good_hash));
    let valid_bytes = valid_prepare.encode_to_vec();

    type Check = fn(&PbftError) -> bool;
    let cases: Vec<(&str, Input, Check)> = vec![
        (
            "truncated prepare",
            Input::Bytes(valid_bytes[..valid_bytes.len() - 1].to_vec()),
            |e| matches!(e, PbftError::Malformed(DecodeError::UnexpectedEnd { .. })),
        ),
        (
            "trailing byte",
            Input::Bytes([valid_bytes.clone(), vec![0]].concat()),
            |e| {
                matches!(
                    e,
                    PbftError::Malformed(DecodeError::TrailingBytes { count: 1 })
                )
            },
        ),
        (
            "unknown message tag",
            Input::Bytes([vec![9u8], valid_bytes[1..].to_vec()].concat()),
            |e| matches!(e, PbftError::Malformed(DecodeError::UnknownVariant { .. })),
        ),
        ("empty input", Input::Bytes(vec![]), |e| {
            matches!(e, PbftError::Malformed(DecodeError::UnexpectedEnd { .. }))
        }),
        (
            "prepare from an old view",
            Input::Msg(Message::Prepare(vote(
                &keys,
                Phase::Prepare,
                2,
                0,
                h,
                good_hash,
            ))),
            |e| {
                matches!(
                    e,
                    PbftError::StaleView {
                        view: 0,
                        current: 1
                    }
                )
            },
        ),
        (
            "prepare above the window",
            Input::Msg(Message::Prepare(vote(
                &keys,
                Phase::Prepare,
                2,
                view,
                33,
                good_hash,
            ))),
            |e| {
                matches!(
                    e,
                    PbftError::OutOfWindow {
                        height: 33,
                        low: 0,
                        high: 32
                    }
                )
            },
        ),
        (
            "commit for a height committed and forgotten",
            Input::Msg(Message::Commit(vote(
                &keys,
                Phase::Commit,
                2,
                view,
                0,
                good_hash,
            ))),
            |e| matches!(e, PbftError::AlreadyCommitted(0)),
        ),
        (
            "prepare with another validator's signature",
            Input::Msg(Message::Prepare(Vote {
                signature: keys[0]
                    .sign_digest(&vote_digest(Phase::Prepare, view, h, &good_hash))
                    .unwrap(),
                ..vote(&keys, Phase::Prepare, 2, view, h, good_hash)
            })),
            |e| matches!(e, PbftError::InvalidSignature(2)),
        ),
        (
            "commit signed as a prepare (cross-kind replay)",
            Input::Msg(Message::Commit(vote(
                &keys,
                Phase::Prepare,
                2,
                view,
                h,
                good_hash,
            ))),
            |e| matches!(e, PbftError::InvalidSignature(2)),
        ),
        (
            "prepare with garbage signature bytes",
            Input::Msg(Message::Prepare(Vote {
                signature: Signature([0xff; 64]),
                ..vote(&keys, Phase::Prepare, 2, view, h, good_hash)
            })),
            |e| matches!(e, PbftError::InvalidSignature(2)),
        ),
        (
            "prepare from an unknown sender",
            Input::Msg(Message::Prepare(Vote {
                sender: 9,
                ..vote(&keys, Phase::Prepare, 2, view, h, good_hash)
            })),
            |e| matches!(e, PbftError::UnknownSender(9)),
        ),
        (
            "prepare from the primary",
            Input::Msg(Message::Prepare(vote(
                &keys,
                Phase::Prepare,
                primary,
                view,
                h,
                good_hash,
            ))),
            |e| matches!(e, PbftError::PrepareFromPrimary(1)),
        ),
        (
            "pre-prepare whose batch does not match its header",
            Input::Msg(Message::PrePrepare {
                pre_prepare: sign_pp(&keys[1], view, header),
                batch: Batch::empty(),
            }),
            |e| {
                matches!(
                    e,
                    PbftError::InvalidProposal(ProposalError::BatchRootMismatch)
                )
            },
        ),
        (
            "pre-prepare with a wrong state root",
            Input::Msg(Message::PrePrepare {
                pre_prepare: sign_pp(
                    &keys[1],
                    view,
                    BlockHeader {
                        state_root: Hash([1; 32]),
                        ..header
                    },
                ),
                batch: batch.clone(),
            }),
            |e| matches!(e, PbftError::InvalidProposal(ProposalError::WrongStateRoot)),
        ),
        (
            "pre-prepare that does not extend the chain",
            Input::Msg(Message::PrePrepare {
                pre_prepare: sign_pp(
                    &keys[1],
                    view,
                    BlockHeader {
                        previous: Hash::ZERO,
                        ..header
                    },
                ),
                batch: batch.clone(),
            }),
            |e| matches!(e, PbftError::InvalidProposal(ProposalError::Chain(_))),
        ),
        (
            "pre-prepare with a header view other than its own",
            Input::Msg(Message::PrePrepare {
                pre_prepare: sign_pp(&keys[1], view, BlockHeader { view: 0, ..header }),
                batch: batch.clone(),
            }),
            |e| {
                matches!(
                    e,
                    PbftError::InvalidProposal(ProposalError::WrongView { .. })
                )
            },
        ),
        (
            "pre-prepare from a backup, not the primary",
            Input::Msg(Message::PrePrepare {
                pre_prepare: sign_pp(&keys[2], view, header),
                batch: batch.clone(),
            }),
            |e| matches!(e, PbftError::InvalidSignature(1)),
        ),
        (
            "pre-prepare with a timestamp far ahead",
            Input::Msg(Message::PrePrepare {
                pre_prepare: sign_pp(
                    &keys[1],
                    view,
                    BlockHeader {
                        timestamp_ms: u64::MAX / 2,
                        ..header
                    },
                ),
                batch: batch.clone(),
            }),
            |e| {
                matches!(
                    e,
                    PbftError::InvalidProposal(ProposalError::TimestampAhead { .. })
                )
            },
        ),
        (
            "checkpoint at a height that is not a checkpoint",
            Input::Msg(Message::Checkpoint(CheckpointVote {
                height: 3,
                block_hash: good_hash,
                state_root: good_hash,
                sender: 2,
                signature: Signature([1; 64]),
            })),
            |e| matches!(e, PbftError::NotACheckpoint(3)),
        ),
        (
            "checkpoint with a bad signature",
            Input::Msg(Message::Checkpoint(CheckpointVote {
                height: 16,
                block_hash: good_hash,
                state_root: good_hash,
                sender: 2,
                signature: Signature([1; 64]),
            })),
            |e| matches!(e, PbftError::InvalidSignature(2)),
        ),
        (
            "view-change with a bad signature",
            Input::Msg(Message::ViewChange(ViewChange {
                new_view: 2,
                checkpoint: None,
                prepared: vec![],
                sender: 2,
                signature: Signature([3; 64]),
            })),
            |e| {
                matches!(
                    e,
                    PbftError::InvalidViewChange(ViewChangeError::BadSignature(2))
                )
            },
        ),
        (
            "view-change from an unknown sender",
            Input::Msg(Message::ViewChange(signed_vc(
                &keys[2],
                ViewChange {
                    new_view: 2,
                    checkpoint: None,
                    prepared: vec![],
                    sender: 7,
                    signature: Signature([0; 64]),
                },
            ))),
            |e| {
                matches!(
                    e,
                    PbftError::InvalidViewChange(ViewChangeError::UnknownSender(7))
                )
            },
        ),
        (
            "view-change whose prepared certificate is at or below its checkpoint",
            Input::Msg(Message::ViewChange(signed_vc(
                &keys[2],
                ViewChange {
                    new_view: 2,
                    checkpoint: None,
                    prepared: vec![PreparedCertificate {
                        pre_prepare: sign_pp(
                            &keys[1],
                            1,
                            BlockHeader {
                                height: 0,
                                ..header
                            },
                        ),
                        prepares: Default::default(),
                    }],
                    sender: 2,
                    signature: Signature([0; 64]),
                },
            ))),
            |e| {
                matches!(
                    e,
                    PbftError::InvalidViewChange(ViewChangeError::PreparedOutOfRange)
                )
            },
        ),
        (
            "view-change carrying a prepared certificate from its own future",
            Input::Msg(Message::ViewChange(signed_vc(
                &keys[2],
                ViewChange {
                    new_view: 2,
                    checkpoint: None,
                    prepared: vec![PreparedCertificate {
                        pre_prepare: sign_pp(&keys[2], 2, BlockHeader { view: 2, ..header }),
                        prepares: Default::default(),
                    }],
                    sender: 2,
                    signature: Signature([0; 64]),
                },
            ))),
            |e| {
                matches!(
                    e,
                    PbftError::InvalidViewChange(ViewChangeError::PreparedFromFuture { .. })
                )
            },
        ),
        (
            "new-view not signed by its primary",
            Input::Msg(Message::NewView(signed_nv(
                &keys[3],
                NewView {
                    view: 2,
                    view_changes: vec![],
                    pre_prepares: vec![],
                    signature: Signature([0; 64]),
                },
            ))),
            |e| matches!(e, PbftError::InvalidSignature(2)),
        ),
        (
            "new-view without a quorum of view-changes",
            Input::Msg(Message::NewView(signed_nv(
                &keys[2],
                NewView {
                    view: 2,
                    view_changes: vec![],
                    pre_prepares: vec![],
                    signature: Signature([0; 64]),
                },
            ))),
            |e| matches!(e, PbftError::InvalidNewView(NewViewError::NoQuorum { .. })),
        ),
        (
            "new-view carrying a view-change for another view",
            Input::Msg(Message::NewView(signed_nv(
                &keys[2],
                NewView {
                    view: 2,
                    view_changes: vec![signed_vc(
                        &keys[0],
                        ViewChange {
                            new_view: 3,
                            checkpoint: None,
                            prepared: vec![],
                            sender: 0,
                            signature: Signature([0; 64]),
                        },
                    )],
                    pre_prepares: vec![],
                    signature: Signature([0; 64]),
                },
            ))),
            |e| {
                matches!(
                    e,
                    PbftError::InvalidNewView(NewViewError::ViewMismatch { index: 0 })
                )
            },
        ),
        (
            "new-view that re-proposes a header no view-change prepared",
            Input::Msg(Message::NewView(signed_nv(
                &keys[2],
                NewView {
                    view: 2,
                    view_changes: nv
                        .view_changes
                        .iter()
                        .map(|vc| {
                            let k = &keys[vc.sender as usize];
                            signed_vc(
                                k,
                                ViewChange {
                                    new_view: 2,
                                    ..vc.clone()
                                },
                            )
                        })
                        .collect(),
                    pre_prepares: vec![sign_pp(&keys[2], 2, BlockHeader { view: 2, ..header })],
                    signature: Signature([0; 64]),
                },
            ))),
            |e| matches!(e, PbftError::InvalidNewView(NewViewError::WrongReproposals)),
        ),
        (
            "a replayed new-view of the current view",
            Input::Msg(Message::NewView(nv.clone())),
            |e| matches!(e, PbftError::Duplicate),
        ),
        (
            "request over the payload limit",
            Input::Request(Request::new(ClientId(1), 99, vec![0; 5000])),
            |e| matches!(e, PbftError::PayloadTooLarge(5000)),
        ),
        (
            "request already committed",
            Input::Request(Request::new(ClientId(1), 2, b"b".to_vec())),
            |e| matches!(e, PbftError::DuplicateRequest),
        ),
        (
            "execution reported out of order",
            Input::Executed(Box::new(Executed::new(tip.height + 5, Hash::ZERO))),
            |e| matches!(e, PbftError::ExecutedOutOfOrder { .. }),
        ),
        (
            "fetched block that is not the next one",
            Input::Fetched(tip.height + 2),
            |e| matches!(e, PbftError::NotNextBlock { .. }),
        ),
        (
            "fetched block already committed",
            Input::Fetched(tip.height),
            |e| matches!(e, PbftError::AlreadyCommitted(_)),
        ),
    ];

    let blocks: Vec<_> = (1..=tip.height + 2)
        .map(|height| itc_pbft::CertifiedBlock {
            header: BlockHeader { height, ..tip },
            batch: Batch::empty(),
            certificate: itc_pbft::CommitCertificate::new(1),
        })
        .collect();
    for (name, input, check) in cases {
        let before = committed(r);
        let res = match input {
            Input::Bytes(b) => r.handle_message_bytes(&b, 20_000),
            Input::Msg(m) => r.handle_message(m, 20_000),
            Input::Request(q) => r.handle_request(q, 20_000),
            Input::Executed(e) => r.handle_executed(*e),
            Input::Fetched(height) => {
                r.handle_fetched_block(blocks[(height - 1) as usize].clone(), 20_000)
            }
        };
        let err = res.expect_err(name);
        assert!(check(&err), "{name}: unexpected error {err:?}");
        assert_eq!(committed(r), before, "{name}: committed state changed");
        // No vote may have been cast because of a bad input.
        let sent_votes = r
            .drain_actions()
            .filter(|a| {
                matches!(
                    a,
                    itc_pbft::Action::Broadcast(Message::Prepare(_) | Message::Commit(_))
                )
            })
            .count();
        assert_eq!(sent_votes, 0, "{name}: a bad input made the replica vote");
    }

    // The valid proposal is still accepted afterwards (nothing was poisoned).
    r.handle_message(
        Message::PrePrepare {
            pre_prepare: sign_pp(&keys[1], view, header),
            batch,
        },
        20_000,
    )
    .unwrap();
    assert!(r
        .drain_actions()
        .any(|a| matches!(a, itc_pbft::Action::Broadcast(Message::Prepare(v)) if v.height == h)));
}

#[allow(clippy::large_enum_variant)]
enum Input {
    Bytes(Vec<u8>),
    Msg(Message),
    Request(Request),
    Executed(Box<Executed>),
    Fetched(u64),
}

fn signed_vc(k: &SecretKey, mut vc: ViewChange) -> ViewChange {
    vc.signature = k.sign_digest(&vc.digest()).unwrap();
    vc
}

fn signed_nv(k: &SecretKey, mut nv: NewView) -> NewView {
    nv.signature = k.sign_digest(&nv.digest()).unwrap();
    nv
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Arbitrary bytes never panic a replica and never change what it committed.
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut c = Cluster::with_equal_power(4).unwrap();
        c.submit(Request::new(ClientId(1), 1, b"a".to_vec()));
        c.run_until_idle();
        let node = c.node_mut(1).unwrap();
        let before = committed(&node.replica);
        let _ = node.replica.handle_message_bytes(&data, 5);
        prop_assert_eq!(committed(&node.replica), before);
    }

    /// Any single bit flip in a valid vote is rejected or, if it lands in the view field,
    /// parked unverified for a later view — never counted now.
    #[test]
    fn bit_flips_in_a_vote_are_never_counted(bit in 0usize..(1 + 114) * 8) {
        let mut c = Cluster::with_equal_power(4).unwrap();
        let keys: Vec<SecretKey> = (0..4).map(|i| test_key(i).unwrap()).collect();
        let idx = |k: &SecretKey| c.node(0).unwrap().replica.validators().unwrap().index_of(&k.public_key()).unwrap();
        let sender = keys.iter().find(|k| idx(k) == 2).unwrap();
        let v = Vote {
            view: 0,
            height: 1,
            header_hash: Hash([7; 32]),
            sender: 2,
            signature: sender.sign_digest(&vote_digest(Phase::Prepare, 0, 1, &Hash([7; 32]))).unwrap(),
        };
        let mut bytes = Message::Prepare(v).encode_to_vec();
        prop_assume!(bit < bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        let node = c.node_mut(1).unwrap();
        let res = node.replica.handle_message_bytes(&bytes, 5);
        if res.is_ok() {
            // Only a message parked for a future view may be accepted, unverified.
            prop_assert!(node.replica.buffered_len() == 1);
        }
        prop_assert_eq!(node.replica.log_len(), 0);
    }
}
