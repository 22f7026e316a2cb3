//! Issue 21: command sessions. One signed open (checked like a signed command), then MAC'd
//! commands. Every bad open and every bad session command is refused with its own typed error
//! and changes nothing; a transfer or revocation ends sessions at once; a restart ends them
//! all, and nothing recorded before it is accepted again; no principal's counters, revoked or
//! not, refuse another principal's commands.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeSet;

use common::*;
use itc_crypto::{Encode, Hash, SecretKey};
use itc_device_sdk::identity::ProvisionedKey;
use itc_device_sdk::replay::MemoryCounterStore;
use itc_device_sdk::session::{SessionRequest, SessionTable};
use itc_device_sdk::{
    Access, Actions, Command, CommandError, Device, DeviceConfig, DeviceId, DeviceIdentity,
    PhoneSession, SessionCommand, SessionId, SessionOpen,
};
use itc_ledger::{Grant, OwnershipRecord};
use proptest::prelude::*;

type Snapshot = (
    itc_device_sdk::ReplayTable,
    Option<(itc_device_sdk::VerifiedState, OwnershipRecord)>,
    MemoryCounterStore,
    SessionTable<{ itc_device_sdk::SESSION_SLOTS }>,
);

fn snapshot(d: &Device<SecretKey>, s: &MemoryCounterStore) -> Snapshot {
    (
        d.replay_table().clone(),
        d.ownership().map(|(a, b)| (*a, b.clone())),
        s.clone(),
        d.sessions().clone(),
    )
}

const LIFE: u64 = 10 * 60 * 1000;

fn open(
    w: &World,
    signer: &SecretKey,
    actions: Actions,
    counter: u64,
    eph: u8,
) -> (SessionOpen, PhoneSession) {
    PhoneSession::open(
        signer,
        w.device_key.public_key(),
        actions,
        counter,
        T0 + LIFE,
        key(eph),
    )
    .unwrap()
}

fn install(w: &World, d: &mut Device<SecretKey>, record: &OwnershipRecord, height: u64) {
    let (state, proof) = w.prove(record, height, T0);
    d.update_ownership(&state, record.clone(), &proof).unwrap();
}

/// A provisioned device with an owner session (counter 5) that accepted command 1, and a
/// grantee session (counter 1).
fn warmed_up(
    w: &World,
) -> (
    Device<SecretKey>,
    MemoryCounterStore,
    PhoneSession,
    PhoneSession,
) {
    let mut store = MemoryCounterStore::default();
    let mut d = w.provisioned(&mut store);
    let (o, mut owner) = open(w, &w.owner, Actions::ALL, 5, 50);
    let opened = d.open_session(&o, T0 + 1, &mut store).unwrap();
    assert_eq!(opened.access, Access::Owner);
    owner.confirm(&opened.confirmation).unwrap();
    let c = owner.command(Actions::CONTROL, b"on", T0 + 60_000).unwrap();
    d.handle_session_command(&c, T0 + 1).unwrap();
    let (g, guest) = open(w, &w.grantee, Actions::CONTROL, 1, 51);
    d.open_session(&g, T0 + 1, &mut store).unwrap();
    (d, store, owner, guest)
}

fn resign(req: SessionRequest, signer: &SecretKey) -> SessionOpen {
    req.sign(signer).unwrap()
}

#[test]
fn bad_opens_are_refused_with_their_error_and_change_nothing() {
    let w = World::new();
    let (good, _) = open(&w, &w.owner, Actions::CONTROL, 6, 60);
    let req = good.request.clone();
    let forged = {
        let mut s = resign(
            SessionRequest {
                issuer: w.stranger.public_key(),
                ..req.clone()
            },
            &w.stranger,
        );
        s.request.issuer = w.owner.public_key();
        s
    };
    let grant_lapse_time = T0 + 90 * 1000;
    let table: Vec<(&str, SessionOpen, u64, CommandError)> = vec![
        (
            "wrong device id",
            resign(
                SessionRequest {
                    device: DeviceId::from_hash(Hash([0x55; 32])),
                    ..req.clone()
                },
                &w.owner,
            ),
            T0 + 2,
            CommandError::WrongDevice,
        ),
        (
            "stranger opens as itself",
            open(&w, &w.stranger, Actions::CONTROL, 1, 61).0,
            T0 + 2,
            CommandError::NotAuthorized,
        ),
        (
            "stranger signs as the owner",
            forged,
            T0 + 2,
            CommandError::InvalidSignature,
        ),
        (
            "grantee asks for actions outside its grant",
            open(
                &w,
                &w.grantee,
                Actions::CONTROL.union(Actions::CONFIGURE),
                2,
                62,
            )
            .0,
            T0 + 2,
            CommandError::ActionNotGranted,
        ),
        (
            "grant lapsed",
            resign(
                SessionRequest {
                    issuer: w.grantee.public_key(),
                    counter: 2,
                    expires_at_ms: grant_lapse_time + 1,
                    ..req.clone()
                },
                &w.grantee,
            ),
            grant_lapse_time,
            CommandError::GrantExpired {
                expires_at: GRANT_EXPIRES_AT,
            },
        ),
        (
            "the owner's open replayed",
            open(&w, &w.owner, Actions::ALL, 5, 50).0,
            T0 + 2,
            CommandError::Replayed {
                counter: 5,
                last_accepted: 5,
            },
        ),
        (
            "an older owner counter",
            open(&w, &w.owner, Actions::CONTROL, 4, 63).0,
            T0 + 2,
            CommandError::Replayed {
                counter: 4,
                last_accepted: 5,
            },
        ),
        (
            "session longer than the command lifetime",
            resign(
                SessionRequest {
                    expires_at_ms: T0 + 2 + 3_600_000 + 1,
                    ..req.clone()
                },
                &w.owner,
            ),
            T0 + 2,
            CommandError::ExpiresTooLate {
                expires_at_ms: T0 + 2 + 3_600_000 + 1,
                latest_ms: T0 + 2 + 3_600_000,
            },
        ),
        (
            "expired open",
            resign(
                SessionRequest {
                    expires_at_ms: T0,
                    ..req.clone()
                },
                &w.owner,
            ),
            T0 + 2,
            CommandError::Expired {
                expires_at_ms: T0,
                now_ms: T0 + 2,
            },
        ),
        (
            "stale proof",
            resign(
                SessionRequest {
                    expires_at_ms: T0 + 24 * 3600 * 1000 + 60_000,
                    ..req.clone()
                },
                &w.owner,
            ),
            T0 + 24 * 3600 * 1000 + 1,
            CommandError::StaleState {
                age_ms: 24 * 3600 * 1000 + 1,
                max_age_ms: 24 * 3600 * 1000,
            },
        ),
        (
            "device clock far behind the header",
            good.clone(),
            T0 - 10 * 60 * 1000,
            CommandError::ClockBehind {
                now_ms: T0 - 10 * 60 * 1000,
                header_ms: T0,
            },
        ),
    ];
    for (name, o, now, want) in table {
        let (mut d, mut store, _, _) = warmed_up(&w);
        let before = snapshot(&d, &store);
        assert_eq!(d.open_session(&o, now, &mut store), Err(want), "{name}");
        assert_eq!(snapshot(&d, &store), before, "{name}: state changed");
        assert_eq!(
            d.open_session_bytes(&o.encode_to_vec(), now, &mut store),
            Err(want),
            "{name} (bytes)"
        );
        assert_eq!(
            snapshot(&d, &store),
            before,
            "{name}: state changed (bytes)"
        );
    }

    // Bytes that are no open at all, and a device with no verified state.
    let (mut d, mut store, _, _) = warmed_up(&w);
    let before = snapshot(&d, &store);
    let mut bytes = good.encode_to_vec();
    bytes.push(0);
    assert!(matches!(
        d.open_session_bytes(&bytes, T0 + 2, &mut store),
        Err(CommandError::Malformed(_))
    ));
    assert!(matches!(
        d.open_session_bytes(&bytes[..40], T0 + 2, &mut store),
        Err(CommandError::Malformed(_))
    ));
    assert_eq!(snapshot(&d, &store), before);
    let mut fresh = w.device(&mut MemoryCounterStore::default());
    assert_eq!(
        fresh.open_session(&good, T0 + 2, &mut store),
        Err(CommandError::NoVerifiedState)
    );
    assert!(fresh.sessions().is_empty());

    // A failed counter write refuses the open and stores no session.
    let (mut d, mut store, _, _) = warmed_up(&w);
    let (newcomer, _) = {
        let mut r = w.record.clone();
        r.upsert_grant(Grant {
            grantee: w.stranger.public_key(),
            actions: Actions::CONTROL,
            expires_at: 1_000,
        })
        .unwrap();
        install(&w, &mut d, &r, 11);
        open(&w, &w.stranger, Actions::CONTROL, 1, 64)
    };
    store.set_fail_writes(true);
    let before = snapshot(&d, &store);
    assert!(matches!(
        d.open_session(&newcomer, T0 + 2, &mut store),
        Err(CommandError::Storage(_))
    ));
    assert_eq!(snapshot(&d, &store), before);

    // The good open passes on the same warmed-up device.
    let (mut d, mut store, _, _) = warmed_up(&w);
    let opened = d.open_session(&good, T0 + 2, &mut store).unwrap();
    assert_eq!(opened.id, good.session_id());
    assert_eq!(
        d.sessions().len(),
        2,
        "the owner's new session replaced its old one"
    );
}

#[test]
fn bad_session_commands_are_refused_with_their_error_and_change_nothing() {
    let w = World::new();
    let (_, _, owner, guest) = warmed_up(&w);
    let mut o = owner.clone();
    let good = o.command(Actions::CONTROL, b"dim", T0 + 60_000).unwrap(); // counter 2
    let tampered = SessionCommand {
        argument: heapless::Vec::from_slice(b"off").unwrap(),
        ..good.clone()
    };
    let other_session = SessionCommand {
        id: guest.id(),
        ..good.clone()
    };
    let unknown = SessionCommand {
        id: SessionId([7; 16]),
        ..good.clone()
    };
    let replayed = owner
        .clone()
        .command_at(1, Actions::CONTROL, b"on", T0 + 60_000)
        .unwrap();
    let mut g = guest.clone();
    let guest_configures = g.command(Actions::CONFIGURE, b"x", T0 + 60_000).unwrap();
    let mut g = guest.clone();
    let guest_late = g.command(Actions::CONTROL, b"on", T0 + 200_000).unwrap();
    let mut e = owner.clone();
    e.command(Actions::CONTROL, b"skip", T0).unwrap();
    let expired = e.command(Actions::CONTROL, b"on", T0).unwrap();
    let table: Vec<(&str, SessionCommand, u64, CommandError)> = vec![
        (
            "no such session",
            unknown,
            T0 + 2,
            CommandError::UnknownSession,
        ),
        (
            "tampered argument",
            tampered,
            T0 + 2,
            CommandError::InvalidSessionTag,
        ),
        (
            "tagged for another session",
            other_session,
            T0 + 2,
            CommandError::InvalidSessionTag,
        ),
        (
            "replayed counter",
            replayed,
            T0 + 2,
            CommandError::Replayed {
                counter: 1,
                last_accepted: 1,
            },
        ),
        (
            "action outside the session",
            guest_configures,
            T0 + 2,
            CommandError::ActionNotInSession,
        ),
        (
            "command expired",
            expired,
            T0 + 2,
            CommandError::Expired {
                expires_at_ms: T0,
                now_ms: T0 + 2,
            },
        ),
        (
            "session expired",
            good.clone(),
            T0 + LIFE + 1,
            CommandError::SessionExpired {
                expires_at_ms: T0 + LIFE,
                now_ms: T0 + LIFE + 1,
            },
        ),
        (
            "grant lapsed during the session",
            guest_late,
            T0 + 90 * 1000,
            CommandError::GrantExpired {
                expires_at: GRANT_EXPIRES_AT,
            },
        ),
        (
            "device clock far behind the header",
            good.clone(),
            T0 - 10 * 60 * 1000,
            CommandError::ClockBehind {
                now_ms: T0 - 10 * 60 * 1000,
                header_ms: T0,
            },
        ),
    ];
    for (name, c, now, want) in table {
        let (mut d, store, _, _) = warmed_up(&w);
        let before = snapshot(&d, &store);
        assert_eq!(d.handle_session_command(&c, now), Err(want), "{name}");
        assert_eq!(snapshot(&d, &store), before, "{name}: state changed");
        assert_eq!(
            d.handle_session_command_bytes(&c.encode_to_vec(), now),
            Err(want),
            "{name} (bytes)"
        );
        assert_eq!(
            snapshot(&d, &store),
            before,
            "{name}: state changed (bytes)"
        );
    }
    let (mut d, store, _, _) = warmed_up(&w);
    let before = snapshot(&d, &store);
    let mut bytes = good.encode_to_vec();
    bytes[0] = 9;
    assert!(matches!(
        d.handle_session_command_bytes(&bytes, T0 + 2),
        Err(CommandError::Malformed(_))
    ));
    assert_eq!(snapshot(&d, &store), before);

    // The good one passes, once, and writes nothing to flash.
    let (mut d, store, _, _) = warmed_up(&w);
    let writes = store.writes();
    let ok = d.handle_session_command(&good, T0 + 2).unwrap();
    assert_eq!(
        (ok.access, ok.counter, ok.argument.as_slice()),
        (Access::Owner, 2, &b"dim"[..])
    );
    assert_eq!(store.writes(), writes);
    assert!(matches!(
        d.handle_session_command(&good, T0 + 2),
        Err(CommandError::Replayed { .. })
    ));
}

#[test]
fn revocation_and_transfer_end_sessions_at_once_and_a_regrant_does_not_revive_them() {
    let w = World::new();
    let (mut d, mut store, mut owner, mut guest) = warmed_up(&w);
    let guest_cmd = guest.command(Actions::CONTROL, b"on", T0 + 60_000).unwrap();

    // Revoked: the guest's session is gone from the table at once.
    let mut record = w.record.clone();
    record.remove_grant(&w.grantee.public_key()).unwrap();
    record.revocations += 1;
    install(&w, &mut d, &record, 11);
    assert_eq!(d.sessions().len(), 1);
    assert_eq!(
        d.handle_session_command(&guest_cmd, T0 + 2),
        Err(CommandError::UnknownSession)
    );
    // Re-granted before it sent anything: its old session stays dead; it opens a new one.
    record
        .upsert_grant(Grant {
            grantee: w.grantee.public_key(),
            actions: Actions::CONTROL,
            expires_at: 1_000,
        })
        .unwrap();
    install(&w, &mut d, &record, 12);
    assert_eq!(
        d.handle_session_command(&guest_cmd, T0 + 2),
        Err(CommandError::UnknownSession)
    );
    // The owner never noticed.
    let c = owner.command(Actions::CONTROL, b"on", T0 + 60_000).unwrap();
    d.handle_session_command(&c, T0 + 2).unwrap();

    // Transferred: the former owner's session ends; the new owner opens one.
    let new_owner = key(9);
    let mut sold = record.clone();
    sold.owner = new_owner.public_key();
    sold.clear_grants();
    install(&w, &mut d, &sold, 13);
    assert!(d.sessions().is_empty());
    let c = owner.command(Actions::CONTROL, b"on", T0 + 60_000).unwrap();
    assert_eq!(
        d.handle_session_command(&c, T0 + 2),
        Err(CommandError::UnknownSession)
    );
    // The former owner cannot open a new one either.
    let (o, _) = open(&w, &w.owner, Actions::CONTROL, 100, 70);
    assert_eq!(
        d.open_session(&o, T0 + 2, &mut store),
        Err(CommandError::NotAuthorized)
    );
    let (o, mut s) = open(&w, &new_owner, Actions::CONTROL, 1, 71);
    d.open_session(&o, T0 + 2, &mut store).unwrap();
    let c = s.command(Actions::CONTROL, b"on", T0 + 60_000).unwrap();
    assert_eq!(
        d.handle_session_command(&c, T0 + 2).unwrap().access,
        Access::Owner
    );
}

#[test]
fn a_narrowed_grant_ends_a_wider_session() {
    let w = World::new();
    let mut store = MemoryCounterStore::default();
    let mut d = w.provisioned(&mut store);
    let (o, _) = open(&w, &w.grantee, Actions::CONTROL.union(Actions::READ), 1, 52);
    d.open_session(&o, T0 + 1, &mut store).unwrap();
    let mut record = w.record.clone();
    record
        .upsert_grant(Grant {
            grantee: w.grantee.public_key(),
            actions: Actions::READ,
            expires_at: GRANT_EXPIRES_AT,
        })
        .unwrap();
    install(&w, &mut d, &record, 11);
    assert!(d.sessions().is_empty());
}

#[test]
fn a_revoked_guests_counters_lock_no_one_out() {
    let w = World::new();
    let (mut d, mut store, mut owner, mut guest) = warmed_up(&w);
    // The guest burns its counters on both paths, within its rights: its session's and its
    // signed commands'.
    let max = guest
        .command_at(u64::MAX, Actions::CONTROL, b"on", T0 + 60_000)
        .unwrap();
    d.handle_session_command(&max, T0 + 2).unwrap();
    assert!(matches!(
        d.handle_session_command(&max, T0 + 2),
        Err(CommandError::Replayed { .. })
    ));
    // A counter changed in flight is a forgery, not a lock-out.
    let mut bumped = owner
        .clone()
        .command(Actions::CONTROL, b"on", T0 + 60_000)
        .unwrap();
    bumped.counter = u64::MAX;
    assert_eq!(
        d.handle_session_command(&bumped, T0 + 2),
        Err(CommandError::InvalidSessionTag)
    );
    let signed_max = Command::new(
        w.id(),
        w.grantee.public_key(),
        Actions::CONTROL,
        b"on",
        u64::MAX,
        T0 + 60_000,
    )
    .unwrap()
    .sign(&w.grantee)
    .unwrap();
    d.handle_command(&signed_max, T0 + 2, &mut store).unwrap();
    // The owner carries on, on both paths.
    let c = owner.command(Actions::CONTROL, b"on", T0 + 60_000).unwrap();
    d.handle_session_command(&c, T0 + 2).unwrap();
    // Revoked; a newcomer is granted. The owner carries on on both paths, the newcomer opens
    // a session and uses it.
    let mut record = w.record.clone();
    record.remove_grant(&w.grantee.public_key()).unwrap();
    record.revocations += 1;
    let newcomer = key(12);
    record
        .upsert_grant(Grant {
            grantee: newcomer.public_key(),
            actions: Actions::CONTROL,
            expires_at: 1_000,
        })
        .unwrap();
    install(&w, &mut d, &record, 11);
    let c = owner.command(Actions::CONTROL, b"on", T0 + 60_000).unwrap();
    d.handle_session_command(&c, T0 + 3).unwrap();
    d.handle_command(
        &w.command(&w.owner, Actions::CONTROL, 6),
        T0 + 3,
        &mut store,
    )
    .unwrap();
    let (o, mut n) = open(&w, &newcomer, Actions::CONTROL, 1, 72);
    d.open_session(&o, T0 + 3, &mut store).unwrap();
    let c = n.command(Actions::CONTROL, b"on", T0 + 60_000).unwrap();
    d.handle_session_command(&c, T0 + 3).unwrap();
    // And across a power loss too.
    drop(d);
    let mut d = w.device(&mut store);
    install(&w, &mut d, &record, 12);
    // The owner's counters resume above its own persisted reservation (its window), not
    // above anything the guest sent.
    let next = d.replay_floor(&w.owner.public_key()).last_accepted + 1;
    assert_eq!(next, 6 + 64);
    d.handle_command(
        &w.command(&w.owner, Actions::CONTROL, next),
        T0 + 4,
        &mut store,
    )
    .unwrap();
    let (o, mut s) = open(&w, &w.owner, Actions::CONTROL, next + 1, 73);
    d.open_session(&o, T0 + 4, &mut store).unwrap();
    let c = s.command(Actions::CONTROL, b"on", T0 + 60_000).unwrap();
    d.handle_session_command(&c, T0 + 4).unwrap();
}

#[test]
fn a_smaller_table_never_gives_the_owners_slot_to_a_guest() {
    let w = World::new();
    let mut store = MemoryCounterStore::default();
    let mut d: Device<SecretKey, 2> = Device::with_session_slots(
        DeviceIdentity::new(w.device_key.clone()),
        DeviceConfig::default(),
        &mut store,
    )
    .unwrap();
    let other = key(13);
    let mut record = w.record.clone();
    record
        .upsert_grant(Grant {
            grantee: other.public_key(),
            actions: Actions::CONTROL,
            expires_at: GRANT_EXPIRES_AT,
        })
        .unwrap();
    let (state, proof) = w.prove(&record, 10, T0);
    d.update_ownership(&state, record, &proof).unwrap();
    let (o, mut owner) = open(&w, &w.owner, Actions::CONTROL, 1, 80);
    d.open_session(&o, T0 + 1, &mut store).unwrap();
    let (g, mut guest) = open(&w, &w.grantee, Actions::CONTROL, 1, 81);
    d.open_session(&g, T0 + 1, &mut store).unwrap();
    // A second guest takes the first guest's slot, never the owner's.
    let (g2, mut guest2) = open(&w, &other, Actions::CONTROL, 1, 82);
    d.open_session(&g2, T0 + 1, &mut store).unwrap();
    let c = owner.command(Actions::CONTROL, b"on", T0 + 60_000).unwrap();
    d.handle_session_command(&c, T0 + 2).unwrap();
    let c = guest2
        .command(Actions::CONTROL, b"on", T0 + 60_000)
        .unwrap();
    d.handle_session_command(&c, T0 + 2).unwrap();
    let c = guest.command(Actions::CONTROL, b"on", T0 + 60_000).unwrap();
    assert_eq!(
        d.handle_session_command(&c, T0 + 2),
        Err(CommandError::UnknownSession)
    );
    // The displaced guest's signed commands still work.
    d.handle_command(
        &w.command(&w.grantee, Actions::CONTROL, 2),
        T0 + 2,
        &mut store,
    )
    .unwrap();
}

#[test]
fn a_provisioned_key_device_agrees_with_the_phone() {
    let w = World::new();
    let mut store = MemoryCounterStore::default();
    let secret = [1u8; 32];
    let key = ProvisionedKey::new(secret, w.device_key.public_key());
    let mut d = Device::new(
        DeviceIdentity::new(key),
        DeviceConfig::default(),
        &mut store,
    )
    .unwrap();
    let (state, proof) = w.prove(&w.record, 10, T0);
    d.update_ownership(&state, w.record.clone(), &proof)
        .unwrap();
    let (o, mut s) = open(&w, &w.owner, Actions::CONTROL, 1, 90);
    let opened = d.open_session(&o, T0 + 1, &mut store).unwrap();
    s.confirm(&opened.confirmation).unwrap();
    let c = s.command(Actions::CONTROL, b"on", T0 + 60_000).unwrap();
    d.handle_session_command(&c, T0 + 1).unwrap();
}

/// A recorded message, by kind, for replay.
#[derive(Clone)]
enum Sent {
    Open(Box<SessionOpen>),
    Cmd(SessionCommand),
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever principals open sessions and send (fresh or replayed), wherever power is lost
    /// and whenever the guest is revoked or re-granted: no open and no session command is ever
    /// accepted twice, nothing sent before a restart is accepted after it, a revoked guest's
    /// sessions never accept again, and the owner's next command is always accepted.
    #[test]
    fn replay_and_revocation_across_power_loss(
        steps in proptest::collection::vec((0u8..8, 0u8..3, any::<u16>(), 1u64..4), 1..120),
    ) {
        let w = World::new();
        let mut store = MemoryCounterStore::default();
        let mut d = w.provisioned(&mut store);
        let mut record = w.record.clone();
        let mut height = 10;
        let mut now = T0 + 1;
        let principals = [w.owner.clone(), w.grantee.clone(), w.stranger.clone()];
        let mut counters = [100u64, 1, 1];
        let mut phones: [Option<PhoneSession>; 3] = [None, None, None];
        let mut sent: Vec<Sent> = Vec::new();
        let mut accepted: BTreeSet<Vec<u8>> = BTreeSet::new();
        let mut before_restart: BTreeSet<Vec<u8>> = BTreeSet::new();
        // Sessions the guest opened before its latest revocation.
        let mut revoked_ids: BTreeSet<SessionId> = BTreeSet::new();
        let mut eph = 0u16;
        let mut guest_listed = true;
        for (op, who, pick, skip) in steps {
            now += 50;
            let who = usize::from(who);
            match op {
                // Open a session.
                0 | 1 => {
                    // The app continues above the floor the device reports (after a power
                    // loss: its own reserved window).
                    let floor = d.replay_floor(&principals[who].public_key()).last_accepted;
                    counters[who] = counters[who].max(floor.min(u64::MAX - 8)) + skip;
                    eph = eph.wrapping_add(1);
                    let mut b = [0x42u8; 32];
                    b[..2].copy_from_slice(&eph.to_be_bytes());
                    let e = SecretKey::from_bytes(&b).unwrap();
                    let (o, s) = PhoneSession::open(&principals[who], w.device_key.public_key(), Actions::CONTROL, counters[who], now + LIFE, e).unwrap();
                    let r = d.open_session(&o, now, &mut store);
                    let bytes = o.encode_to_vec();
                    if r.is_ok() {
                        prop_assert!(accepted.insert(bytes.clone()), "open accepted twice");
                        prop_assert!(who == 0 || (who == 1 && guest_listed), "unauthorized open accepted");
                        phones[who] = Some(s);
                    }
                    sent.push(Sent::Open(Box::new(o)));
                }
                // A session command.
                2 | 3 => {
                    if let Some(s) = phones[who].as_mut() {
                        let c = s.command_at(s.next_counter() + skip - 1, Actions::CONTROL, b"on", now + 60_000).unwrap();
                        let r = d.handle_session_command(&c, now);
                        if who == 0 {
                            // The owner's live session always works (it is never displaced).
                            prop_assert!(r.is_ok(), "owner refused: {:?}", r);
                        }
                        if r.is_ok() {
                            prop_assert!(accepted.insert(c.encode_to_vec()), "command accepted twice");
                            prop_assert!(!revoked_ids.contains(&c.id), "revoked session accepted");
                        }
                        sent.push(Sent::Cmd(c));
                    }
                }
                // Replay something recorded.
                4 => {
                    if !sent.is_empty() {
                        let m = sent[usize::from(pick) % sent.len()].clone();
                        let (bytes, ok) = match &m {
                            Sent::Open(o) => (o.encode_to_vec(), d.open_session(o, now, &mut store).is_ok()),
                            Sent::Cmd(c) => (c.encode_to_vec(), d.handle_session_command(c, now).is_ok()),
                        };
                        if ok {
                            prop_assert!(accepted.insert(bytes.clone()), "replay accepted");
                        }
                        prop_assert!(!(ok && before_restart.contains(&bytes)), "pre-restart session command accepted");
                    }
                }
                // Power loss: sessions are gone, the replay marks are not.
                5 => {
                    before_restart.extend(sent.iter().filter_map(|m| match m { Sent::Open(_) => None, Sent::Cmd(c) => Some(c.encode_to_vec()) }));
                    d = Device::new(DeviceIdentity::new(w.device_key.clone()), DeviceConfig::default(), &mut store).unwrap();
                    let (state, proof) = w.prove(&record, height, T0);
                    d.update_ownership(&state, record.clone(), &proof).unwrap();
                    prop_assert!(d.sessions().is_empty());
                    phones = [None, None, None];
                }
                // Revoke or re-grant the guest.
                6 => {
                    height += 1;
                    if guest_listed {
                        record.remove_grant(&w.grantee.public_key()).unwrap();
                        record.revocations += 1;
                        if let Some(s) = &phones[1] { revoked_ids.insert(s.id()); }
                    } else {
                        record.upsert_grant(Grant { grantee: w.grantee.public_key(), actions: Actions::CONTROL, expires_at: 1_000_000 }).unwrap();
                    }
                    guest_listed = !guest_listed;
                    let (state, proof) = w.prove(&record, height, T0);
                    d.update_ownership(&state, record.clone(), &proof).unwrap();
                }
                // The owner's signed path, with its next counter: always accepted.
                _ => {
                    counters[0] = counters[0].max(d.replay_floor(&w.owner.public_key()).last_accepted) + skip;
                    let c = Command::new(w.id(), w.owner.public_key(), Actions::CONTROL, b"on", counters[0], now + 60_000).unwrap().sign(&w.owner).unwrap();
                    let r = d.handle_command(&c, now, &mut store);
                    prop_assert!(r.is_ok(), "owner's signed command refused: {:?}", r);
                }
            }
        }
    }
}
