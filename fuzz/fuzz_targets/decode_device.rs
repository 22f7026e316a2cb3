//! itc-device-sdk device commands, session messages and firmware manifests.
#![no_main]
use itc_device_sdk::firmware::{FirmwareManifest, SignedManifest};
use itc_device_sdk::session::SessionRequest;
use itc_device_sdk::{Command, SessionCommand, SessionOpen, SignedCommand};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    itc_fuzz::dispatch!(data; Command, SignedCommand, FirmwareManifest, SignedManifest,
        SessionRequest, SessionOpen, SessionCommand);
});
