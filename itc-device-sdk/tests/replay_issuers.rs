//! Issue 16.5: replay state per issuer. No principal, whatever it sends within its rights, can
//! make another principal's commands fail; the table survives power loss (torn flash writes
//! included); a principal whose slot was freed and who is listed again cannot have its old
//! commands replayed; a former owner hears `NotAuthorized`, never `Replayed`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeMap;

use common::*;
use itc_crypto::SecretKey;
use itc_device_sdk::device::DEFAULT_MAX_COMMAND_LIFETIME_MS as LIFE;
use itc_device_sdk::flash::{FlashCounterStore, RamFlash, RECORD_LEN};
use itc_device_sdk::replay::MemoryCounterStore;
use itc_device_sdk::{
    Actions, Command, CommandError, CounterStore, Device, DeviceConfig, DeviceIdentity,
    SignedCommand, REPLAY_SLOTS,
};
use itc_ledger::{Grant, OwnershipRecord, MAX_GRANTS};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

fn cmd(w: &World, signer: &SecretKey, counter: u64, expires_at_ms: u64) -> SignedCommand {
    Command::new(
        w.id(),
        signer.public_key(),
        Actions::CONTROL,
        b"on",
        counter,
        expires_at_ms,
    )
    .unwrap()
    .sign(signer)
    .unwrap()
}

fn grant(record: &mut OwnershipRecord, who: &SecretKey) {
    record
        .upsert_grant(Grant {
            grantee: who.public_key(),
            actions: Actions::CONTROL,
            expires_at: 1_000_000,
        })
        .unwrap();
}

fn revoke(record: &mut OwnershipRecord, who: &SecretKey) {
    record.remove_grant(&who.public_key()).unwrap();
    record.revocations += 1;
}

/// Installs `record` proven at `height` (header time `T0`).
fn install(w: &World, d: &mut Device<SecretKey>, record: &OwnershipRecord, height: u64) {
    let (state, proof) = w.prove(record, height, T0);
    d.update_ownership(&state, record.clone(), &proof).unwrap();
}

fn device<C: CounterStore>(
    w: &World,
    store: &mut C,
    record: &OwnershipRecord,
    height: u64,
) -> Device<SecretKey> {
    let mut d = Device::new(
        DeviceIdentity::new(w.device_key.clone()),
        DeviceConfig::default(),
        store,
    )
    .unwrap();
    install(w, &mut d, record, height);
    d
}

/// The scenario. On the shared floor the owner was refused (`Replayed`) at every
/// counter after the guest's `u64::MAX`, before and after the guest's revocation.
#[test]
fn a_guest_sending_counter_max_cannot_lock_out_the_owner() {
    let w = World::new();
    let mut store = MemoryCounterStore::default();
    let mut record = w.record.clone();
    let mut d = device(&w, &mut store, &record, 10);
    let now = T0 + 1;
    d.handle_command(&cmd(&w, &w.owner, 5, now + 60_000), now, &mut store)
        .unwrap();
    // The guest, within its grant, burns its counters.
    d.handle_command(
        &cmd(&w, &w.grantee, u64::MAX, now + 60_000),
        now,
        &mut store,
    )
    .unwrap();
    assert!(matches!(
        d.handle_command(
            &cmd(&w, &w.grantee, u64::MAX, now + 60_000),
            now,
            &mut store
        ),
        Err(CommandError::Replayed { .. })
    ));
    // The owner carries on with its own next counter.
    d.handle_command(&cmd(&w, &w.owner, 6, now + 60_000), now, &mut store)
        .unwrap();
    // Revoked: the guest hears NotAuthorized, the owner is unaffected, across a power loss too.
    revoke(&mut record, &w.grantee);
    install(&w, &mut d, &record, 11);
    assert_eq!(
        d.handle_command(&cmd(&w, &w.grantee, 1, now + 60_000), now, &mut store),
        Err(CommandError::NotAuthorized)
    );
    d.handle_command(&cmd(&w, &w.owner, 7, now + 60_000), now, &mut store)
        .unwrap();
    drop(d);
    let mut d = device(&w, &mut store, &record, 12);
    assert_eq!(
        d.handle_command(&cmd(&w, &w.owner, 7, now + 60_000), now, &mut store),
        Err(CommandError::Replayed {
            counter: 7,
            last_accepted: 5 + 64
        }),
        "after a power loss the owner's own reservation stands, nobody else's"
    );
    d.handle_command(&cmd(&w, &w.owner, 70, now + 60_000), now, &mut store)
        .unwrap();
    // A new guest starts from counter 1, whatever the old guest did.
    let guest2 = key(9);
    grant(&mut record, &guest2);
    install(&w, &mut d, &record, 13);
    d.handle_command(&cmd(&w, &guest2, 1, now + 60_000), now, &mut store)
        .unwrap();
    // The owner sells the device: the former owner, whatever its counter, is NotAuthorized.
    record.owner = key(10).public_key();
    record.clear_grants();
    record.revocations += 1;
    install(&w, &mut d, &record, 14);
    for c in [1, 70, 71, u64::MAX] {
        assert_eq!(
            d.handle_command(&cmd(&w, &w.owner, c, now + 60_000), now, &mut store),
            Err(CommandError::NotAuthorized)
        );
    }
    d.handle_command(&cmd(&w, &key(10), 1, now + 60_000), now, &mut store)
        .unwrap();
}

/// Owner and every grantee a record can hold, interleaved: each is judged by its own floor
/// only, and the floor a refusal reports is the issuer's own.
#[test]
fn owner_and_grantees_count_independently() {
    let w = World::new();
    let mut store = MemoryCounterStore::default();
    let mut record = OwnershipRecord::new(
        w.device_key.public_key(),
        w.record.vendor,
        w.record.model,
        w.owner.public_key(),
    );
    let guests: Vec<SecretKey> = (20..20 + MAX_GRANTS as u8).map(key).collect();
    for g in &guests {
        grant(&mut record, g);
    }
    let mut d = device(&w, &mut store, &record, 10);
    let now = T0 + 1;
    let everyone: Vec<&SecretKey> = std::iter::once(&w.owner).chain(guests.iter()).collect();
    assert_eq!(everyone.len(), REPLAY_SLOTS);
    for round in 1..=3u64 {
        for (i, who) in everyone.iter().enumerate() {
            // Issuer i counts in steps of i + 1: the same counters recur across issuers.
            let c = round * (i as u64 + 1);
            d.handle_command(&cmd(&w, who, c, now + 60_000), now, &mut store)
                .unwrap();
        }
    }
    for (i, who) in everyone.iter().enumerate() {
        let last = 3 * (i as u64 + 1);
        assert_eq!(
            d.handle_command(&cmd(&w, who, last, now + 60_000), now, &mut store),
            Err(CommandError::Replayed {
                counter: last,
                last_accepted: last
            })
        );
        assert_eq!(d.replay_floor(&who.public_key()).last_accepted, last);
    }
    // One slot per principal, one write each (the window of 64 covers the rest).
    assert_eq!(store.value().unwrap().marks.len(), REPLAY_SLOTS);
    assert_eq!(store.writes(), REPLAY_SLOTS as u64);
}

/// Power cut at every few byte operations of the flash write that opens a guest's slot: after
/// the reboot, every command accepted before is still refused (owner's and guest's), and the
/// device still works.
#[test]
fn a_torn_flash_write_keeps_the_table() {
    let w = World::new();
    let record = w.record.clone();
    let now = T0 + 1;
    let owner_cmd = cmd(&w, &w.owner, 5, now + 60_000);
    let guest_cmd = cmd(&w, &w.grantee, u64::MAX, now + 60_000);
    let third = key(30);
    let mut record3 = record.clone();
    grant(&mut record3, &third);
    let third_cmd = cmd(&w, &third, 1, now + 60_000);
    for cut in (0..2 * RECORD_LEN as u32).step_by(13) {
        let mut store = FlashCounterStore::new(RamFlash::default());
        let mut d = device(&w, &mut store, &record3, 10);
        d.handle_command(&owner_cmd, now, &mut store).unwrap();
        d.handle_command(&guest_cmd, now, &mut store).unwrap();
        let mut flash = store.into_inner();
        flash.cut_power_after(cut);
        let mut store = FlashCounterStore::new(flash);
        assert_eq!(
            d.handle_command(&third_cmd, now, &mut store),
            Err(CommandError::Storage(
                itc_device_sdk::StorageError::WriteFailed
            )),
            "cut {cut}"
        );
        let mut flash = store.into_inner();
        flash.restore_power();
        let mut store = FlashCounterStore::new(flash);
        let mut d = device(&w, &mut store, &record3, 11);
        for old in [&owner_cmd, &guest_cmd] {
            assert!(
                matches!(
                    d.handle_command(old, now, &mut store),
                    Err(CommandError::Replayed { .. })
                ),
                "cut {cut}: replay accepted after a torn write"
            );
        }
        // The torn write never accepted the third principal's command: it may run now, once.
        d.handle_command(&third_cmd, now, &mut store).unwrap();
        assert!(d.handle_command(&third_cmd, now, &mut store).is_err());
        d.handle_command(&cmd(&w, &w.owner, 70, now + 60_000), now, &mut store)
            .unwrap();
    }
}

/// Fill every slot, revoke a guest, grant a newcomer (whose first command frees the revoked
/// guest's slot), re-grant the guest: its old commands stay dead; its new ones, the owner's
/// and the newcomer's work. A slot freed after its reservation lapsed constrains nobody.
#[test]
fn a_regranted_principal_cannot_have_its_old_commands_replayed() {
    let w = World::new();
    let mut store = MemoryCounterStore::default();
    let mut record = OwnershipRecord::new(
        w.device_key.public_key(),
        w.record.vendor,
        w.record.model,
        w.owner.public_key(),
    );
    let guests: Vec<SecretKey> = (40..40 + MAX_GRANTS as u8).map(key).collect();
    for g in &guests {
        grant(&mut record, g);
    }
    let mut height = 10;
    let mut d = device(&w, &mut store, &record, height);
    let t1 = T0 + 1;
    d.handle_command(&cmd(&w, &w.owner, 1, t1 + 60_000), t1, &mut store)
        .unwrap();
    let old: Vec<SignedCommand> = (1..=3)
        .map(|c| cmd(&w, &guests[0], c * 10, t1 + 60_000))
        .collect();
    for c in &old {
        d.handle_command(c, t1, &mut store).unwrap();
    }
    for g in &guests[1..] {
        d.handle_command(&cmd(&w, g, 1, t1 + 60_000), t1, &mut store)
            .unwrap();
    }
    assert_eq!(store.value().unwrap().marks.len(), REPLAY_SLOTS);

    // Revoke guest 0, grant a newcomer: its first command needs a slot, guest 0's is freed.
    let newcomer = key(60);
    revoke(&mut record, &guests[0]);
    grant(&mut record, &newcomer);
    height += 1;
    install(&w, &mut d, &record, height);
    let t2 = t1 + 1_000;
    // The freed slot reserved expiries up to t1 + lifetime: the newcomer's first command must
    // expire after that (it hears the floor), then counts from 1 as usual.
    let floor = t1 + LIFE;
    assert_eq!(
        d.handle_command(&cmd(&w, &newcomer, 1, t2 + 60_000), t2, &mut store),
        Err(CommandError::ExpiryBelowFloor {
            expires_at_ms: t2 + 60_000,
            floor_ms: floor
        })
    );
    d.handle_command(&cmd(&w, &newcomer, 1, t2 + LIFE), t2, &mut store)
        .unwrap();
    // The owner never notices.
    d.handle_command(&cmd(&w, &w.owner, 2, t2 + 60_000), t2, &mut store)
        .unwrap();

    // Re-grant guest 0 (revoking guest 1 for room): every old command is refused, from the
    // device that saw the eviction and from one rebooted from flash.
    revoke(&mut record, &guests[1]);
    grant(&mut record, &guests[0]);
    height += 1;
    install(&w, &mut d, &record, height);
    for rebooted in [false, true] {
        if rebooted {
            height += 1;
            d = device(&w, &mut store, &record, height);
        }
        for c in &old {
            assert!(
                matches!(
                    d.handle_command(c, t2, &mut store),
                    Err(CommandError::ExpiryBelowFloor { .. })
                ),
                "old command replayed after re-grant (rebooted: {rebooted})"
            );
        }
    }
    // Its new commands (any counter, an expiry after the floor) work.
    d.handle_command(&cmd(&w, &guests[0], 1, t2 + LIFE), t2, &mut store)
        .unwrap();

    // Much later (the freed slots' reservations have lapsed) another newcomer's first command,
    // with a short expiry, goes straight through: the floor is in the past.
    let late = key(61);
    revoke(&mut record, &guests[2]);
    grant(&mut record, &late);
    height += 1;
    let (state, proof) = w.prove(&record, height, T0 + 3 * LIFE);
    d.update_ownership(&state, record.clone(), &proof).unwrap();
    let t3 = T0 + 3 * LIFE;
    d.handle_command(&cmd(&w, &late, 1, t3 + 60_000), t3, &mut store)
        .unwrap();
}

/// Seeded schedules: a changing record (grants, revocations, re-grants, sales) over more
/// people than the table has slots, guests that send `u64::MAX`, random counters and expiries,
/// replays of every command ever accepted, power losses. Invariants:
/// * no signed command is ever accepted twice;
/// * a principal's floor depends only on its own commands: its counter floor is at most its own
///   highest accepted counter plus the window (0 if it never had one), and some expiry within
///   the device's lifetime always clears its expiry floor;
/// * so a listed principal's command above its own floor, within its rights, is accepted.
#[test]
fn random_schedules_never_accept_twice_and_never_lock_anyone_out() {
    let w = World::new();
    let people: Vec<SecretKey> = (70..84).map(key).collect(); // 14 people, 9 slots
    let (mut total_accepted, mut total_replays) = (0, 0);
    for seed in 0..24u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut store = MemoryCounterStore::default();
        let mut record = OwnershipRecord::new(
            w.device_key.public_key(),
            w.record.vendor,
            w.record.model,
            people[0].public_key(),
        );
        let mut height = 10;
        let mut d = device(&w, &mut store, &record, height);
        let mut now = T0 + 1;
        let mut accepted: Vec<SignedCommand> = Vec::new();
        // Highest counter ever accepted per person (model of "its own commands").
        let mut own_high: BTreeMap<usize, u64> = BTreeMap::new();
        let mut replays_in_time = 0u32;
        let mut slotted = std::collections::BTreeSet::new();
        for _ in 0..500 {
            now += 1 + u64::from(rng.next_u32() % 20_000);
            match rng.next_u32() % 12 {
                0..=2 => {
                    // Grant someone (if room), revoke someone, or sell the device.
                    let p = rng.next_u32() as usize % people.len();
                    let pk = people[p].public_key();
                    match rng.next_u32() % 4 {
                        0 if record.grants().len() < MAX_GRANTS && pk != record.owner => {
                            grant(&mut record, &people[p])
                        }
                        1 if record.grant_for(&pk).is_some() => revoke(&mut record, &people[p]),
                        2 => {
                            record.owner = pk;
                            record.clear_grants();
                            record.revocations += 1;
                        }
                        _ => grant_if_room(&mut record, &people[p]),
                    }
                    height += 1;
                    let (state, proof) = w.prove(&record, height, now);
                    d.update_ownership(&state, record.clone(), &proof).unwrap();
                }
                3 => {
                    // Power loss.
                    height += 1;
                    let (state, proof) = w.prove(&record, height, now);
                    d = Device::new(
                        DeviceIdentity::new(w.device_key.clone()),
                        DeviceConfig::default(),
                        &mut store,
                    )
                    .unwrap();
                    d.update_ownership(&state, record.clone(), &proof).unwrap();
                }
                4 | 5 if !accepted.is_empty() => {
                    // Replay something accepted before (any time, any record).
                    // Mostly one that could still run: unexpired, by someone listed now
                    // (perhaps listed again after its slot was freed).
                    let live: Vec<&SignedCommand> = accepted
                        .iter()
                        .filter(|c| {
                            c.command.expires_at_ms >= now
                                && (c.command.issuer == record.owner
                                    || record.grant_for(&c.command.issuer).is_some())
                        })
                        .collect();
                    let old = if live.is_empty() || rng.next_u32() % 4 == 0 {
                        &accepted[rng.next_u32() as usize % accepted.len()]
                    } else {
                        live[rng.next_u32() as usize % live.len()]
                    };
                    let r = d.handle_command(old, now, &mut store);
                    assert!(
                        r.is_err(),
                        "seed {seed}: replay of {:?} accepted",
                        old.command
                    );
                    if old.command.expires_at_ms >= now {
                        replays_in_time += 1;
                    }
                }
                _ => {
                    // Mostly someone listed, sometimes anyone.
                    let listed_people: Vec<usize> = (0..people.len())
                        .filter(|i| {
                            let k = people[*i].public_key();
                            k == record.owner || record.grant_for(&k).is_some()
                        })
                        .collect();
                    let p = if rng.next_u32() % 4 == 0 {
                        rng.next_u32() as usize % people.len()
                    } else {
                        listed_people[rng.next_u32() as usize % listed_people.len()]
                    };
                    let pk = people[p].public_key();
                    let floor = d.replay_floor(&pk);
                    let listed = pk == record.owner || record.grant_for(&pk).is_some();
                    if listed {
                        // Own floor never exceeds own history, and some expiry clears it.
                        let own = own_high.get(&p).map_or(0, |h| h.saturating_add(64));
                        assert!(
                            floor.last_accepted <= own,
                            "seed {seed}: person {p}'s floor {} above its own history {own}",
                            floor.last_accepted
                        );
                        assert!(
                            floor.min_expiry_ms < now + LIFE,
                            "seed {seed}: no expiry can clear person {p}'s floor"
                        );
                    }
                    let counter = match rng.next_u32() % 4 {
                        0 => u64::MAX,
                        1 => floor
                            .last_accepted
                            .saturating_sub(u64::from(rng.next_u32() % 3)),
                        _ => floor
                            .last_accepted
                            .saturating_add(1 + u64::from(rng.next_u32() % 50)),
                    };
                    // Expiry: short, or the longest allowed.
                    let expiry = if rng.next_u32() % 2 == 0 {
                        now + 30_000
                    } else {
                        now + LIFE
                    };
                    let c = cmd(&w, &people[p], counter, expiry);
                    let r = d.handle_command(&c, now, &mut store);
                    let clears = counter > floor.last_accepted && expiry > floor.min_expiry_ms;
                    match r {
                        Ok(_) => {
                            assert!(listed && clears, "seed {seed}");
                            slotted.insert(p);
                            let h = own_high.entry(p).or_insert(0);
                            *h = (*h).max(counter);
                            accepted.push(c);
                        }
                        Err(e) => {
                            assert!(
                                !(listed && clears),
                                "seed {seed}: person {p} refused above its own floor: {e:?}"
                            );
                            if !listed {
                                assert_eq!(e, CommandError::NotAuthorized, "seed {seed}");
                            }
                        }
                    }
                }
            }
        }
        assert!(
            accepted.len() >= 25,
            "seed {seed}: only {} accepted",
            accepted.len()
        );
        assert!(
            replays_in_time >= 5,
            "seed {seed}: only {replays_in_time} live replays"
        );
        // More people had slots than the table holds: evictions happened.
        assert!(
            slotted.len() > REPLAY_SLOTS,
            "seed {seed}: {} issuers",
            slotted.len()
        );
        total_accepted += accepted.len();
        total_replays += replays_in_time;
    }
    eprintln!("{total_accepted} commands accepted, {total_replays} live replays refused over 24 schedules");
}

fn grant_if_room(record: &mut OwnershipRecord, who: &SecretKey) {
    if record.grants().len() < MAX_GRANTS && who.public_key() != record.owner {
        grant(record, who);
    }
}
