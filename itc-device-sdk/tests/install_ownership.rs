//! `Device::install_ownership`: a record the light client proved is installed without a second
//! verification; every other entry gets a typed refusal and changes nothing (issue 23: verified
//! facts are constructible only by the code that verified them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use itc_crypto::{Address, Encode, SecretKey};
use itc_device_sdk::light_client::{DeviceLightClient, LightClientConfig};
use itc_device_sdk::replay::MemoryCounterStore;
use itc_device_sdk::{Device, DeviceConfig, DeviceIdentity, StateError};
use itc_ledger::{OwnershipRecord, StateKey, VendorId};
use itc_spv::server::StateSnapshot;
use itc_spv::testkit::TestChain;
use itc_spv::{Event, Request};

fn key(i: u8) -> SecretKey {
    SecretKey::from_bytes(&[i; 32]).unwrap()
}

#[test]
fn only_this_devices_proven_newer_record_is_installed() {
    let (lamp_key, other_lamp, alice, bob) = (key(1), key(3), key(5), key(6));
    let mine = OwnershipRecord::new(lamp_key.public_key(), VendorId(7), 42, alice.public_key());
    let theirs = OwnershipRecord::new(other_lamp.public_key(), VendorId(7), 42, bob.public_key());
    let (k_mine, k_theirs) = (
        StateKey::Device(mine.device_id()),
        StateKey::Device(theirs.device_id()),
    );
    let mut chain = TestChain::new(4, 10);
    chain
        .push_block(
            vec![],
            Some(StateSnapshot::from_records([
                (k_mine, mine.encode_to_vec()),
                (k_theirs, theirs.encode_to_vec()),
            ])),
        )
        .unwrap();
    chain.extend(3);
    let mut client: DeviceLightClient<8> =
        DeviceLightClient::new(chain.anchor(), LightClientConfig::new(10), chain.now_ms()).unwrap();
    client.sync_to(4);
    while let Some(r) = client.poll_request() {
        chain.ensure_certificate(&r);
        client
            .handle_response(&chain.server().answer::<8>(&r), chain.now_ms())
            .unwrap();
    }
    let mut store = MemoryCounterStore::default();
    let mut lamp = Device::new(
        DeviceIdentity::new(lamp_key),
        DeviceConfig::default(),
        &mut store,
    )
    .unwrap();
    let answers: Vec<_> = [
        (3, k_theirs),
        (3, StateKey::Account(Address([9; 20]))),
        (
            3,
            StateKey::Device(itc_ledger::DeviceId::from_key(&key(8).public_key())),
        ),
        (4, k_mine),
        (3, k_mine),
    ]
    .into_iter()
    .map(|(height, key)| {
        chain
            .server()
            .answer::<8>(&Request::StateProof { height, key })
    })
    .collect();
    let mut entry = |i: usize| match client.handle_response(&answers[i], chain.now_ms()).unwrap() {
        Event::State(e) => e,
        other => panic!("{other:?}"),
    };

    // Another device's record, an account, an absent device: refused, nothing installed.
    assert_eq!(
        lamp.install_ownership(&entry(0)),
        Err(StateError::WrongDevice)
    );
    assert_eq!(
        lamp.install_ownership(&entry(1)),
        Err(StateError::WrongDevice)
    );
    assert!(lamp.ownership().is_none());
    let absent = entry(2);
    assert!(absent.value().is_none());
    assert_eq!(
        lamp.install_ownership(&absent),
        Err(StateError::WrongDevice)
    );
    // The unregistered device itself learns it is not registered.
    let mut store8 = MemoryCounterStore::default();
    let mut unregistered = Device::new(
        DeviceIdentity::new(key(8)),
        DeviceConfig::default(),
        &mut store8,
    )
    .unwrap();
    assert_eq!(
        unregistered.install_ownership(&absent),
        Err(StateError::NotRegistered)
    );
    assert!(unregistered.ownership().is_none());
    // Its own record under header 4: installed, no proof checked again.
    lamp.install_ownership(&entry(3)).unwrap();
    assert_eq!(lamp.ownership().unwrap().0.height(), 4);
    assert_eq!(lamp.ownership().unwrap().1.owner, alice.public_key());
    // The same record under the older header 3: not newer, state unchanged.
    assert_eq!(
        lamp.install_ownership(&entry(4)),
        Err(StateError::NotNewer {
            held: 4,
            offered: 3
        })
    );
    assert_eq!(lamp.ownership().unwrap().0.height(), 4);
}
