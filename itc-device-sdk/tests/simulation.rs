//! Seeded simulation: random commands from owners, grantees and strangers, random counters,
//! power losses and ownership transfers. Whatever the schedule: only the owner or a grantee
//! within its grant (per the newest proof) is obeyed, no (issuer, counter) is accepted twice, a
//! refused command persists nothing, and a principal can always get through with a counter above
//! its own floor.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeSet;

use common::*;
use itc_device_sdk::replay::MemoryCounterStore;
use itc_device_sdk::{Actions, CommandError};
use itc_ledger::{Grant, OwnershipRecord};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

#[test]
fn random_schedules_keep_the_invariants() {
    let w = World::new();
    let people = [key(2), key(3), key(4), key(5)]; // key(6..) never appear in any record
    let strangers = [key(6), key(7)];
    for seed in 0..12u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut store = MemoryCounterStore::default();
        let mut device = w.provisioned(&mut store);
        let mut record: OwnershipRecord = w.record.clone();
        let mut height = 10u64;
        let mut accepted = BTreeSet::new();
        let now = T0 + 1;
        for _ in 0..120 {
            match rng.next_u32() % 10 {
                0 => {
                    // Power loss: RAM state gone; re-provision from the newest proof.
                    let (state, proof) = w.prove(&record, height, T0);
                    device = w.device(&mut store);
                    device
                        .update_ownership(&state, record.clone(), &proof)
                        .unwrap();
                }
                1 => {
                    // Transfer to a random person and grant another CONTROL only.
                    height += 1;
                    record.owner = people[rng.next_u32() as usize % 4].public_key();
                    record.clear_grants();
                    let g = &people[rng.next_u32() as usize % 4];
                    if g.public_key() != record.owner {
                        record
                            .upsert_grant(Grant {
                                grantee: g.public_key(),
                                actions: Actions::CONTROL,
                                expires_at: 1_000,
                            })
                            .unwrap();
                    }
                    let (state, proof) = w.prove(&record, height, T0);
                    device
                        .update_ownership(&state, record.clone(), &proof)
                        .unwrap();
                }
                _ => {
                    let stranger = rng.next_u32() % 5 == 0;
                    let signer = if stranger {
                        &strangers[rng.next_u32() as usize % 2]
                    } else {
                        &people[rng.next_u32() as usize % 4]
                    };
                    let action = if rng.next_u32() % 2 == 0 {
                        Actions::CONTROL
                    } else {
                        Actions::CONFIGURE
                    };
                    let floor = device.replay_floor(&signer.public_key()).last_accepted;
                    let counter = match rng.next_u32() % 3 {
                        0 => floor + 1,
                        1 => floor.saturating_sub(u64::from(rng.next_u32() % 4)),
                        _ => floor + 1 + u64::from(rng.next_u32() % 200),
                    };
                    let before = (store.clone(), device.replay_table().clone());
                    let r =
                        device.handle_command(&w.command(signer, action, counter), now, &mut store);
                    let pk = signer.public_key();
                    let may = pk == record.owner
                        || record
                            .grant_for(&pk)
                            .is_some_and(|g| g.actions.contains(action));
                    match r {
                        Ok(a) => {
                            assert!(may, "seed {seed}: obeyed someone without rights");
                            assert!(
                                accepted.insert((*pk.as_bytes(), a.counter)),
                                "seed {seed}: counter {} twice",
                                a.counter
                            );
                            assert!(store.reserved_through(&pk).unwrap() >= a.counter);
                        }
                        Err(e) => {
                            assert_eq!(
                                (store.clone(), device.replay_table().clone()),
                                before,
                                "seed {seed}: {e:?} changed state"
                            );
                            if may && counter > floor {
                                panic!("seed {seed}: rightful command refused: {e:?}");
                            }
                            // Authorization is judged before replay: a principal without
                            // the right hears so, whatever its counter.
                            if counter <= floor && may {
                                assert!(
                                    matches!(e, CommandError::Replayed { .. }),
                                    "seed {seed}: {e:?}"
                                );
                            }
                            if !may {
                                assert!(
                                    !matches!(e, CommandError::Replayed { .. }),
                                    "seed {seed}: no right, but told the replay floor: {e:?}"
                                );
                            }
                        }
                    }
                }
            }
        }
        assert!(
            accepted.len() >= 10,
            "seed {seed}: only {} accepted",
            accepted.len()
        );
        assert!(store.writes() <= accepted.len() as u64);
    }
}
