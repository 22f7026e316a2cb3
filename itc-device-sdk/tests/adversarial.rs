//! The adversarial table: every bad input is refused with its own typed error, and a
//! refused input changes nothing — not the device's state, not what is persisted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use itc_crypto::{Encode, Hash, SecretKey};
use itc_device_sdk::firmware::{FirmwareManifest, UpdatePolicy, Verdict};
use itc_device_sdk::replay::MemoryCounterStore;
use itc_device_sdk::{
    Access, Actions, Command, CommandError, Device, DeviceId, FirmwareError, SignedCommand,
    StateError,
};
use itc_ledger::OwnershipRecord;

type Snapshot = (
    itc_device_sdk::ReplayTable,
    Option<(itc_device_sdk::VerifiedState, OwnershipRecord)>,
    MemoryCounterStore,
);

fn snapshot(d: &Device<SecretKey>, s: &MemoryCounterStore) -> Snapshot {
    (
        d.replay_table().clone(),
        d.ownership().map(|(a, b)| (*a, b.clone())),
        s.clone(),
    )
}

/// A device that accepted one owner command (counter 5), so replays have something to hit.
fn warmed_up(w: &World) -> (Device<SecretKey>, MemoryCounterStore) {
    let mut store = MemoryCounterStore::default();
    let mut d = w.provisioned(&mut store);
    d.handle_command(
        &w.command(&w.owner, Actions::CONTROL, 5),
        T0 + 1,
        &mut store,
    )
    .unwrap();
    (d, store)
}

#[test]
fn bad_commands_are_refused_with_their_error_and_change_nothing() {
    let w = World::new();
    let forged_owner: SignedCommand = {
        // Claims to be the owner, signed by the stranger.
        let cmd = w.command(&w.owner, Actions::CONTROL, 6).command;
        let sig = w.stranger.clone();
        let mut s = Command {
            issuer: sig.public_key(),
            ..cmd.clone()
        }
        .sign(&sig)
        .unwrap();
        s.command.issuer = w.owner.public_key();
        s
    };
    let other_device = {
        let mut c = w.command(&w.owner, Actions::CONTROL, 6).command;
        c.device = DeviceId::from_hash(Hash([0x55; 32]));
        c.sign(&w.owner).unwrap()
    };
    let expired_cmd = {
        let mut c = w.command(&w.owner, Actions::CONTROL, 6).command;
        c.expires_at_ms = T0;
        c.sign(&w.owner).unwrap()
    };
    // 90 blocks after the proof's height 10 the grant (expires at 100) may have lapsed.
    let grant_lapse_time = T0 + 90 * 1000;

    let table: Vec<(&str, SignedCommand, u64, CommandError)> = vec![
        (
            "wrong device id",
            other_device,
            T0 + 2,
            CommandError::WrongDevice,
        ),
        (
            "stranger signs as itself",
            w.command(&w.stranger, Actions::CONTROL, 6),
            T0 + 2,
            CommandError::NotAuthorized,
        ),
        (
            "stranger signs as the owner",
            forged_owner,
            T0 + 2,
            CommandError::InvalidSignature,
        ),
        (
            "grantee outside its actions",
            w.command(&w.grantee, Actions::CONFIGURE, 6),
            T0 + 2,
            CommandError::ActionNotGranted,
        ),
        (
            "expired grant",
            {
                let mut c = w.command(&w.grantee, Actions::CONTROL, 6).command;
                c.expires_at_ms = grant_lapse_time + 60_000;
                c.sign(&w.grantee).unwrap()
            },
            grant_lapse_time,
            CommandError::GrantExpired {
                expires_at: GRANT_EXPIRES_AT,
            },
        ),
        (
            "replayed counter",
            w.command(&w.owner, Actions::CONTROL, 5),
            T0 + 2,
            CommandError::Replayed {
                counter: 5,
                last_accepted: 5,
            },
        ),
        (
            "older counter",
            w.command(&w.owner, Actions::CONTROL, 3),
            T0 + 2,
            CommandError::Replayed {
                counter: 3,
                last_accepted: 5,
            },
        ),
        (
            "expires beyond the command lifetime",
            {
                let mut c = w.command(&w.owner, Actions::CONTROL, 6).command;
                c.expires_at_ms = T0 + 2 + 3_600_000 + 1;
                c.sign(&w.owner).unwrap()
            },
            T0 + 2,
            CommandError::ExpiresTooLate {
                expires_at_ms: T0 + 2 + 3_600_000 + 1,
                latest_ms: T0 + 2 + 3_600_000,
            },
        ),
        (
            "expired command",
            expired_cmd,
            T0 + 2,
            CommandError::Expired {
                expires_at_ms: T0,
                now_ms: T0 + 2,
            },
        ),
        (
            "stale proof beyond policy",
            {
                let mut c = w.command(&w.owner, Actions::CONTROL, 6).command;
                c.expires_at_ms = T0 + 24 * 3600 * 1000 + 60_000;
                c.sign(&w.owner).unwrap()
            },
            T0 + 24 * 3600 * 1000 + 1,
            CommandError::StaleState {
                age_ms: 24 * 3600 * 1000 + 1,
                max_age_ms: 24 * 3600 * 1000,
            },
        ),
    ];

    for (name, cmd, now, want) in table {
        let (mut d, mut store) = warmed_up(&w);
        let before = snapshot(&d, &store);
        assert_eq!(d.handle_command(&cmd, now, &mut store), Err(want), "{name}");
        assert_eq!(snapshot(&d, &store), before, "{name}: state changed");
        // Same through the wire path.
        assert_eq!(
            d.handle_command_bytes(&cmd.encode_to_vec(), now, &mut store),
            Err(want),
            "{name} (bytes)"
        );
        assert_eq!(
            snapshot(&d, &store),
            before,
            "{name}: state changed (bytes)"
        );
    }

    // And the good ones pass, as owner and as delegate, on the same warmed-up device.
    let (mut d, mut store) = warmed_up(&w);
    let ok = d
        .handle_command(
            &w.command(&w.grantee, Actions::CONTROL, 6),
            T0 + 2,
            &mut store,
        )
        .unwrap();
    assert_eq!(
        ok.access,
        Access::Delegate {
            expires_at: GRANT_EXPIRES_AT
        }
    );
    let ok = d
        .handle_command(
            &w.command(&w.owner, Actions::CONFIGURE, 7),
            T0 + 2,
            &mut store,
        )
        .unwrap();
    assert_eq!(ok.access, Access::Owner);
    assert_eq!(
        store.writes(),
        2,
        "the grantee's first command opens its slot (one write); the owner's reservation \
         (counters 5..=69) covers its second"
    );
}

#[test]
fn counter_rollback_after_power_loss_is_refused() {
    let w = World::new();
    let (d, mut store) = warmed_up(&w);
    assert_eq!(store.reserved_through(&w.owner.public_key()), Some(5 + 64));
    drop(d); // power loss: RAM is gone, the store survives
    let mut d = w.provisioned(&mut store);
    for counter in [5, 6, 69] {
        let before = snapshot(&d, &store);
        assert_eq!(
            d.handle_command(
                &w.command(&w.owner, Actions::CONTROL, counter),
                T0 + 2,
                &mut store
            ),
            Err(CommandError::Replayed {
                counter,
                last_accepted: 69
            }),
        );
        assert_eq!(snapshot(&d, &store), before);
    }
    d.handle_command(
        &w.command(&w.owner, Actions::CONTROL, 70),
        T0 + 2,
        &mut store,
    )
    .unwrap();
}

#[test]
fn a_failed_counter_write_refuses_the_command() {
    let w = World::new();
    let (mut d, mut store) = warmed_up(&w);
    store.set_fail_writes(true);
    let before = snapshot(&d, &store);
    assert_eq!(
        d.handle_command(
            &w.command(&w.owner, Actions::CONTROL, 1000),
            T0 + 2,
            &mut store
        ),
        Err(CommandError::Storage(
            itc_device_sdk::StorageError::WriteFailed
        ))
    );
    assert_eq!(snapshot(&d, &store), before);
}

#[test]
fn bad_ownership_updates_are_refused_and_keep_the_old_record() {
    let w = World::new();
    let (mut d, mut store) = warmed_up(&w);
    let before = snapshot(&d, &store);

    // A proof made for another header: valid against its own root, not this header's.
    let (state, _) = w.prove(&w.record, 20, T0 + 10);
    let (_, proof_for_other_header) = w.prove(&w.record, 21, T0 + 10);
    assert_eq!(
        d.update_ownership(&state, w.record.clone(), &proof_for_other_header),
        Err(StateError::ProofMismatch)
    );
    // A forged record (stranger as owner) with the genuine proof.
    let (state, proof) = w.prove(&w.record, 20, T0 + 10);
    let mut forged = w.record.clone();
    forged.owner = w.stranger.public_key();
    assert_eq!(
        d.update_ownership(&state, forged, &proof),
        Err(StateError::ProofMismatch)
    );
    // Another device's record.
    let other = OwnershipRecord::new(
        key(9).public_key(),
        itc_ledger::VendorId(7),
        42,
        w.stranger.public_key(),
    );
    let (state, proof) = w.prove(&other, 20, T0 + 10);
    assert_eq!(
        d.update_ownership(&state, other, &proof),
        Err(StateError::WrongDevice)
    );
    // An older (or equal) header.
    let (state, proof) = w.prove(&w.record, 10, T0 + 10);
    assert_eq!(
        d.update_ownership(&state, w.record.clone(), &proof),
        Err(StateError::NotNewer {
            held: 10,
            offered: 10
        })
    );
    // Garbage record bytes.
    let (state, proof) = w.prove(&w.record, 20, T0 + 10);
    assert!(matches!(
        d.update_ownership_bytes(&state, &[1, 2, 3], &proof),
        Err(StateError::Malformed(_))
    ));
    assert_eq!(snapshot(&d, &store), before);
    d.handle_command(
        &w.command(&w.owner, Actions::CONTROL, 6),
        T0 + 2,
        &mut store,
    )
    .unwrap();
}

#[test]
fn transfer_and_revocation_take_effect_with_the_newer_proof() {
    let w = World::new();
    let (mut d, mut store) = warmed_up(&w);
    // Transfer to the stranger (now the new owner); grants are cleared by the ledger.
    let mut transferred = w.record.clone();
    transferred.owner = w.stranger.public_key();
    transferred.revocations += 1;
    transferred.clear_grants();
    let (state, proof) = w.prove(&transferred, 11, T0 + 100);
    d.update_ownership(&state, transferred.clone(), &proof)
        .unwrap();

    assert_eq!(
        d.handle_command(
            &w.command(&w.owner, Actions::CONTROL, 6),
            T0 + 200,
            &mut store
        ),
        Err(CommandError::NotAuthorized)
    );
    assert_eq!(
        d.handle_command(
            &w.command(&w.grantee, Actions::CONTROL, 6),
            T0 + 200,
            &mut store
        ),
        Err(CommandError::NotAuthorized)
    );
    d.handle_command(
        &w.command(&w.stranger, Actions::CONTROL, 6),
        T0 + 200,
        &mut store,
    )
    .unwrap();
    // The old record's proof (height 10) cannot bring the old owner back.
    let (state, proof) = w.prove(&w.record, 10, T0 + 300);
    assert_eq!(
        d.update_ownership(&state, w.record.clone(), &proof),
        Err(StateError::NotNewer {
            held: 11,
            offered: 10
        })
    );
}

#[test]
fn bad_firmware_is_rejected_with_its_reason() {
    let vendor = key(20);
    let other_vendor = key(21);
    let image: Vec<u8> = (0..5000u32).map(|i| (i * 7 + 3) as u8).collect();
    let policy = UpdatePolicy {
        vendor: vendor.public_key(),
        product: 42,
        installed_version: 10,
        max_image_size: 8192,
    };
    let good = FirmwareManifest::for_image(vendor.public_key(), 42, 11, 9, &image);

    let run = |m: &itc_device_sdk::firmware::SignedManifest, img: &[u8]| -> Verdict {
        match policy.check(m) {
            Err(e) => Verdict::Reject(e),
            Ok(mut v) => {
                for c in img.chunks(512) {
                    if let Err(e) = v.update(c) {
                        return Verdict::Reject(e);
                    }
                }
                v.finish()
            }
        }
    };

    let mut tampered = image.clone();
    tampered[4321] ^= 0x80;
    let forged_sig = {
        // Right vendor named, signed with another vendor's key.
        let mut s = FirmwareManifest {
            vendor: other_vendor.public_key(),
            ..good
        }
        .sign(&other_vendor)
        .unwrap();
        s.manifest.vendor = vendor.public_key();
        s
    };
    let table: Vec<(
        &str,
        itc_device_sdk::firmware::SignedManifest,
        &[u8],
        FirmwareError,
    )> = vec![
        (
            "tampered image",
            good.sign(&vendor).unwrap(),
            &tampered,
            FirmwareError::ImageHashMismatch,
        ),
        (
            "downgraded version",
            FirmwareManifest { version: 9, ..good }
                .sign(&vendor)
                .unwrap(),
            &image,
            FirmwareError::Downgrade {
                installed: 10,
                offered: 9,
            },
        ),
        (
            "same version replayed",
            FirmwareManifest {
                version: 10,
                ..good
            }
            .sign(&vendor)
            .unwrap(),
            &image,
            FirmwareError::Downgrade {
                installed: 10,
                offered: 10,
            },
        ),
        (
            "manifest of another vendor",
            FirmwareManifest {
                vendor: other_vendor.public_key(),
                ..good
            }
            .sign(&other_vendor)
            .unwrap(),
            &image,
            FirmwareError::UnknownVendor,
        ),
        (
            "manifest signed by another vendor",
            forged_sig,
            &image,
            FirmwareError::InvalidManifestSignature,
        ),
        (
            "another product",
            FirmwareManifest {
                product: 43,
                ..good
            }
            .sign(&vendor)
            .unwrap(),
            &image,
            FirmwareError::WrongProduct {
                expected: 42,
                found: 43,
            },
        ),
        (
            "needs a newer base",
            FirmwareManifest {
                min_installed_version: 11,
                version: 12,
                ..good
            }
            .sign(&vendor)
            .unwrap(),
            &image,
            FirmwareError::InstalledTooOld {
                installed: 10,
                required: 11,
            },
        ),
        (
            "bigger than the slot",
            FirmwareManifest {
                image_size: 9000,
                ..good
            }
            .sign(&vendor)
            .unwrap(),
            &image,
            FirmwareError::ImageTooLarge {
                size: 9000,
                max: 8192,
            },
        ),
        (
            "truncated download",
            good.sign(&vendor).unwrap(),
            &image[..4999],
            FirmwareError::ImageTruncated {
                expected: 5000,
                received: 4999,
            },
        ),
    ];
    for (name, m, img, want) in table {
        assert_eq!(run(&m, img), Verdict::Reject(want), "{name}");
    }
    assert_eq!(
        run(&good.sign(&vendor).unwrap(), &image),
        Verdict::Install {
            version: 11,
            image_hash: good.image_hash,
            image_size: 5000
        }
    );
}

/// Issue 16.5: a former owner whose counter is also stale learns it has no right
/// (`NotAuthorized`), not the device's replay floor (`Replayed`): authorization comes first.
#[test]
fn a_former_owner_with_a_stale_counter_is_not_authorized() {
    let w = World::new();
    let mut store = MemoryCounterStore::default();
    let mut d = w.provisioned(&mut store);
    d.handle_command(
        &w.command(&w.owner, Actions::CONTROL, 50),
        T0 + 10,
        &mut store,
    )
    .unwrap();
    let mut transferred = w.record.clone();
    transferred.owner = w.stranger.public_key();
    transferred.revocations += 1;
    transferred.clear_grants();
    let (state, proof) = w.prove(&transferred, 11, T0 + 100);
    d.update_ownership(&state, transferred, &proof).unwrap();
    assert_eq!(
        d.handle_command(
            &w.command(&w.owner, Actions::CONTROL, 3),
            T0 + 200,
            &mut store
        ),
        Err(CommandError::NotAuthorized)
    );
}

/// Issue 16.5: a device clock behind the verified header's time (a reset RTC) does not make
/// the state look fresh forever: beyond the tolerance commands are refused with
/// `ClockBehind`, and nothing changes; within it the state's age is 0.
#[test]
fn a_device_clock_behind_the_verified_header_is_refused() {
    let w = World::new();
    let mut store = MemoryCounterStore::default();
    let mut d = w.provisioned(&mut store);
    let before = snapshot(&d, &store);
    let behind = itc_device_sdk::DeviceConfig::default()
        .staleness
        .max_clock_behind_ms;
    // The clock was reset to 0 by a power loss.
    assert_eq!(
        d.handle_command(&w.command(&w.owner, Actions::CONTROL, 1), 0, &mut store),
        Err(CommandError::ClockBehind {
            now_ms: 0,
            header_ms: T0
        })
    );
    assert_eq!(
        d.handle_command(
            &w.command(&w.owner, Actions::CONTROL, 1),
            T0 - behind - 1,
            &mut store
        ),
        Err(CommandError::ClockBehind {
            now_ms: T0 - behind - 1,
            header_ms: T0
        })
    );
    assert_eq!(snapshot(&d, &store), before);
    // Slightly behind (within the tolerance): obeyed.
    d.handle_command(
        &w.command(&w.owner, Actions::CONTROL, 1),
        T0 - 1_000,
        &mut store,
    )
    .unwrap();
}
