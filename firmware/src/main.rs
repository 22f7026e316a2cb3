//! itc-device-sdk on a Cortex-M4F (QEMU `mps2-an386`) and an RV32IMC core (QEMU `virt`,
//! ESP32-C3 class) — one copy of the operations, `arch` holds what differs: boots `itc-spv`'s
//! light client from an embedded trust anchor (genesis), skips 3,600 blocks to a fresh header certified by a rotated
//! 4-validator set (following the set change), the device's ownership proof and real owner commands,
//! rejects a stranger and a replay, checks a signed firmware update — and measures each step.
//!
//! Output, one line per operation (CI parses it, see `check.sh`):
//! `op=<name> verdict=<ok|rejected:<reason>> expected=<pass|fail> instructions=<n> stack=<bytes>`
//! then `calibration ...`, `peak_stack=<bytes>` and `result=PASS|FAIL`. The exit status is the
//! result (semihosting `SYS_EXIT`).
//!
//! Instruction counts: QEMU runs with `-icount shift=0` (one instruction = 1 ns of virtual
//! time); on the Cortex-M4 SysTick counts the 25 MHz system clock, so one tick = 40
//! instructions, on RISC-V `minstret` counts retired instructions. The calibration loop (a
//! decrement/branch pair run a million times) checks the counter at boot.
//! Stack: the region below the stack pointer is painted before each operation and the deepest
//! overwritten word gives its high-water mark.
#![no_std]
#![no_main]

mod arch;
mod measure;
mod out;

use core::hint::black_box;

use itc_crypto::{Decode, PublicKey, Reader, ValidatorSet};
use itc_device_sdk::firmware::{ImageVerifier, SignedManifest, UpdatePolicy, Verdict};
use itc_device_sdk::flash::{FlashCounterStore, RamFlash};
use itc_device_sdk::light_client::{DeviceLightClient, LightClientConfig, TrustAnchor};
use itc_device_sdk::replay::ReplayMarks;
use itc_device_sdk::{
    CommandError, CounterStore, Device, DeviceConfig, DeviceIdentity, FirmwareError,
    ProvisionedKey, SessionOpen, SignedCommand, StorageError,
};
use itc_ledger::{OwnershipRecord, StateProof};
use itc_pbft::{BlockHeader, CompactCommitCertificate};
use itc_spv::mmr::Mmr;

use measure::Meter;

const DEVICE_KEY: &[u8; 32] = include_bytes!("../fixtures/device_key.bin");
/// The device's public key, stored beside the secret at provisioning (boot derives nothing).
const DEVICE_PUBLIC: &[u8; 32] = include_bytes!("../fixtures/device_public.bin");
const VENDOR_KEY: &[u8; 32] = include_bytes!("../fixtures/vendor_key.bin");
const ANCHOR: &[u8] = include_bytes!("../fixtures/anchor.bin");
const VALIDATORS: &[u8] = include_bytes!("../fixtures/validators.bin");
const HEADER: &[u8] = include_bytes!("../fixtures/header.bin");
const CERT: &[u8] = include_bytes!("../fixtures/cert.bin");
const RECORD: &[u8] = include_bytes!("../fixtures/record.bin");
const PROOF: &[u8] = include_bytes!("../fixtures/proof.bin");
const CMD_OWNER: &[u8] = include_bytes!("../fixtures/cmd_owner.bin");
const CMD_OWNER2: &[u8] = include_bytes!("../fixtures/cmd_owner2.bin");
const CMD_GRANTEE: &[u8] = include_bytes!("../fixtures/cmd_grantee.bin");
const CMD_STRANGER: &[u8] = include_bytes!("../fixtures/cmd_stranger.bin");
const CMD_GRANTEE_MAX: &[u8] = include_bytes!("../fixtures/cmd_grantee_max.bin");
const CMD_OWNER3: &[u8] = include_bytes!("../fixtures/cmd_owner3.bin");
const MANIFEST: &[u8] = include_bytes!("../fixtures/manifest.bin");
const MANIFEST_DOWNGRADE: &[u8] = include_bytes!("../fixtures/manifest_downgrade.bin");
const NOW: &[u8; 8] = include_bytes!("../fixtures/now.bin");
const SESSION_OPEN: &[u8] = include_bytes!("../fixtures/session_open.bin");
const SESSION_CMD: &[u8] = include_bytes!("../fixtures/session_cmd.bin");
const SESSION_CMD_BAD_TAG: &[u8] = include_bytes!("../fixtures/session_cmd_bad_tag.bin");

/// The image is generated, not stored, so it costs no flash: byte `i` (same formula as the
/// fixture generator in `itc-device-sdk/tests/firmware_fixtures.rs`).
const IMAGE_SIZE: u32 = 32 * 1024;
fn image_byte(i: u32) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 24) as u8
}

/// Validator-set capacity the device keeps (the set has 4 members).
const VALIDATOR_CAPACITY: usize = 4;
/// The chain's epoch length (fixtures: `itc-device-sdk/tests/firmware_fixtures.rs`).
const EPOCH: u64 = 100;

/// The replay table's "flash": the SDK's two-page record store over two RAM pages standing in
/// for the integrator's flash, counting the writes.
struct SimulatedFlash {
    store: FlashCounterStore<RamFlash>,
    writes: u32,
}

impl CounterStore for SimulatedFlash {
    fn load(&mut self) -> Result<Option<ReplayMarks>, StorageError> {
        self.store.load()
    }
    fn persist(&mut self, marks: &ReplayMarks) -> Result<(), StorageError> {
        self.writes = self.writes.saturating_add(1);
        self.store.persist(marks)
    }
}

/// Why the scenario could not even set up (fixtures that do not decode).
#[derive(Clone, Copy)]
enum Setup {
    Fixture,
}

/// Decodes into a slot (a `static` cell or the caller's local) in a frame of its own, so a
/// large value (a validator set, a trust anchor, a state proof) and its decode temporaries are
/// not kept on the stack while the signature checks that follow run.
#[inline(never)]
fn decode_into<T: Decode>(slot: &mut Option<T>, bytes: &[u8]) -> Result<(), &'static str> {
    // Straight into the slot (`ok()`), not unwrapped and rewrapped: no copies of a large value.
    *slot = T::decode_bytes(bytes).ok();
    slot.as_ref().map(|_| ()).ok_or("fixture")
}

#[arch::entry]
fn main() -> ! {
    let mut meter = Meter::start();
    let ok = meter.calibrate() && scenario(&mut meter).is_ok() && meter.all_as_expected();
    out::line(format_args!("peak_stack={}", meter.peak_stack()));
    out::line(format_args!("result={}", if ok { "PASS" } else { "FAIL" }));
    out::exit(ok)
}

/// Command-session slots the device keeps in RAM (issue 21): the owner's and one guest's
/// (the SDK's default, one per principal a record can name, would not fit 16 KiB of RAM).
const SESSION_SLOTS: usize = 2;

type Dev = Device<ProvisionedKey, SESSION_SLOTS>;
type Client = DeviceLightClient<VALIDATOR_CAPACITY>;

/// Each step is its own non-inlined function and the long-lived state lives in statics, so
/// one step's temporaries are gone before the next runs and the stack measures one step.
fn scenario(m: &mut Meter) -> Result<(), Setup> {
    let now = u64::from_be_bytes(*NOW);
    let flash = flash_cell().ok_or(Setup::Fixture)?;
    let (client, device) = boot(m, flash, now)?;
    out::line(format_args!("light_client_bytes={}", Client::STATE_BYTES));
    fresh_header(m, client, now)?;
    ownership(m, device, client);

    // Commands: the owner's, a stranger's, a replay, then two more against the cached proof.
    command(m, device, flash, now, "cmd_owner", CMD_OWNER, None);
    command(
        m,
        device,
        flash,
        now,
        "cmd_stranger",
        CMD_STRANGER,
        Some(CommandError::NotAuthorized),
    );
    let replay = CommandError::Replayed {
        counter: 1,
        last_accepted: 1,
    };
    command(m, device, flash, now, "cmd_replay", CMD_OWNER, Some(replay));
    command(m, device, flash, now, "cmd_owner_cached", CMD_OWNER2, None);
    command(
        m,
        device,
        flash,
        now,
        "cmd_grantee_cached",
        CMD_GRANTEE,
        None,
    );
    // Issue 16.5: the grantee sends counter u64::MAX (its own counters only are used up),
    // the owner's next counter still works.
    command(
        m,
        device,
        flash,
        now,
        "cmd_grantee_max",
        CMD_GRANTEE_MAX,
        None,
    );
    command(
        m,
        device,
        flash,
        now,
        "cmd_owner_after_max",
        CMD_OWNER3,
        None,
    );
    // Replay state per issuer: one "flash" write opened the owner's slot (its window covers
    // its three counters), one the grantee's, one reserved the grantee's u64::MAX.
    m.check(flash.writes == 3);
    sessions(m, device, flash, now);
    firmware_update(m)
}

/// The replay table's two pages, in a static: built in a frame of its own, so the 1 KiB
/// temporary never sits under a later step's stack.
#[inline(never)]
fn flash_cell() -> Option<&'static mut SimulatedFlash> {
    arch::singleton!(: SimulatedFlash = SimulatedFlash {
        store: FlashCounterStore::new(RamFlash::new()),
        writes: 0,
    })
}

/// Boot: the light client from the trust anchor in flash, device identity from its key. The
/// state lives in statics, as a real firmware keeps it; the light client (7 KiB) is built
/// straight into its cell so it never sits on the stack twice.
#[inline(never)]
fn boot(
    m: &mut Meter,
    flash: &mut SimulatedFlash,
    now: u64,
) -> Result<(&'static mut Client, &'static mut Dev), Setup> {
    let cell = arch::singleton!(: Option<Client> = None).ok_or(Setup::Fixture)?;
    boot_light_client(m, cell, now)?;
    let client = cell.as_mut().ok_or(Setup::Fixture)?;
    let device_cell = arch::singleton!(: Option<Dev> = None).ok_or(Setup::Fixture)?;
    boot_identity(m, flash, device_cell)?;
    let device = device_cell.as_mut().ok_or(Setup::Fixture)?;
    Ok((client, device))
}

#[inline(never)]
fn boot_light_client(m: &mut Meter, cell: &mut Option<Client>, now: u64) -> Result<(), Setup> {
    let anchor_cell =
        arch::singleton!(: Option<TrustAnchor<VALIDATOR_CAPACITY>> = None).ok_or(Setup::Fixture)?;
    m.run_verdict("boot_light_client", true, || {
        decode_anchor(anchor_cell)?;
        let anchor = anchor_cell.as_ref().ok_or("fixture")?;
        let mut config = LightClientConfig::new(EPOCH);
        // The device never serves old-header proofs: no back-fill downloads.
        config.backfill = false;
        // Built in place in its static cell: no client-sized temporaries on the stack.
        Client::init_in(cell, anchor, config, now).map_err(|_| "SpvError")?;
        Ok(())
    })
    .map_err(|_| Setup::Fixture)
}

/// Decodes the trust anchor part by part: the validator set's key decompression (deep k256
/// frames) runs while only the set is on the stack, and the 2 KiB accumulator is decoded
/// after it returns.
#[inline(never)]
fn decode_anchor(slot: &mut Option<TrustAnchor<VALIDATOR_CAPACITY>>) -> Result<(), &'static str> {
    let set_cell =
        arch::singleton!(: Option<ValidatorSet<VALIDATOR_CAPACITY>> = None).ok_or("fixture")?;
    let mut r = Reader::new(ANCHOR);
    let header = BlockHeader::decode(&mut r).map_err(|_| "fixture")?;
    decode_set(set_cell, &mut r)?;
    finish_anchor(slot, header, set_cell, r)
}

/// Second half of [`decode_anchor`]: the accumulator and the assembly, in a frame that is not
/// live while the set's keys are decompressed.
#[inline(never)]
fn finish_anchor(
    slot: &mut Option<TrustAnchor<VALIDATOR_CAPACITY>>,
    header: BlockHeader,
    set_cell: &mut Option<ValidatorSet<VALIDATOR_CAPACITY>>,
    mut r: Reader<'_>,
) -> Result<(), &'static str> {
    let history = Mmr::decode(&mut r).map_err(|_| "fixture")?;
    r.finish().map_err(|_| "fixture")?;
    let next_validators = set_cell.take().ok_or("fixture")?;
    *slot = Some(TrustAnchor {
        header,
        next_validators,
        history,
    });
    Ok(())
}

#[inline(never)]
fn decode_set(
    slot: &mut Option<ValidatorSet<VALIDATOR_CAPACITY>>,
    r: &mut Reader<'_>,
) -> Result<(), &'static str> {
    *slot = Some(ValidatorSet::decode(r).map_err(|_| "fixture")?);
    Ok(())
}

/// The device (its identity and the replay table restored from flash), straight into its
/// static cell.
#[inline(never)]
fn boot_identity(
    m: &mut Meter,
    flash: &mut SimulatedFlash,
    cell: &mut Option<Dev>,
) -> Result<(), Setup> {
    m.run_verdict("boot_identity", true, || {
        // The public key stored at provisioning: no scalar multiplication at boot (the
        // signing key is built, and checked against it, only if the device ever signs).
        let public = PublicKey::from_bytes(DEVICE_PUBLIC).map_err(|_| "device public key")?;
        let identity = DeviceIdentity::new(ProvisionedKey::new(*DEVICE_KEY, public));
        *cell = Some(
            Device::with_session_slots(identity, DeviceConfig::default(), flash)
                .map_err(|e| e.name())?,
        );
        Ok(())
    })
    .map_err(|_| Setup::Fixture)
}

/// A fresh header 3,600 blocks on, certified by the rotated 4-validator set (3 signatures are
/// a quorum of it and more than 1/3 of the genesis set): skipping verification.
#[inline(never)]
fn fresh_header(m: &mut Meter, client: &mut Client, now: u64) -> Result<(), Setup> {
    let inputs = arch::singleton!(: (
        Option<BlockHeader>,
        Option<CompactCommitCertificate<VALIDATOR_CAPACITY>>,
        Option<ValidatorSet<VALIDATOR_CAPACITY>>,
    ) = (None, None, None))
    .ok_or(Setup::Fixture)?;
    m.run_verdict("header", true, || {
        let (header, cert, set) = &mut *inputs;
        decode_into(header, HEADER)?;
        decode_into(cert, CERT)?;
        decode_into(set, VALIDATORS)?;
        let (Some(header), Some(cert), Some(set)) = (header.as_ref(), cert.as_ref(), set.as_ref())
        else {
            return Err("fixture");
        };
        client
            .verify_skipping(
                header,
                cert,
                set,
                None::<&ValidatorSet<VALIDATOR_CAPACITY>>,
                now,
            )
            .map(|_| ())
            .map_err(|_| "SpvError")
    })
    .map_err(|_| Setup::Fixture)?;
    // The client now trusts the rotated set.
    let trusted = inputs.2.as_ref().map(|s| s.hash());
    m.check(Some(client.validators().hash()) == trusted);
    Ok(())
}

/// The device's ownership record, proven under the fresh header's state root. Proof (2 KiB)
/// and record (1.3 KiB) are decoded, measured, by [`decode_into`] straight into this frame's
/// slots: one copy of each is on the stack while the proof is checked, and no decode
/// temporaries.
#[inline(never)]
fn ownership(m: &mut Meter, device: &mut Dev, client: &Client) {
    let mut proof: Option<StateProof> = None;
    let mut record: Option<OwnershipRecord> = None;
    let _ = m.run_verdict("ownership_proof", true, || {
        decode_into(&mut proof, PROOF)?;
        decode_into(&mut record, black_box(RECORD))?;
        install_ownership(device, client, &mut record, &proof)
    });
}

/// The proof check and the install, in a frame of their own: their temporaries are not under
/// the decodes (whose key parsing is the op's deepest call), and the decodes' are not under them.
#[inline(never)]
fn install_ownership(
    device: &mut Dev,
    client: &Client,
    record: &mut Option<OwnershipRecord>,
    proof: &Option<StateProof>,
) -> Result<(), &'static str> {
    let (Some(proof), Some(record)) = (proof.as_ref(), record.take()) else {
        return Err("fixture");
    };
    let height = client.tip().height();
    device
        .update_ownership_at(client, height, record, proof)
        .map_err(|e| e.name())
}

/// One command from the wire; `want` is the exact rejection expected, `None` for acceptance.
#[inline(never)]
fn command(
    m: &mut Meter,
    device: &mut Dev,
    flash: &mut SimulatedFlash,
    now: u64,
    name: &str,
    bytes: &[u8],
    want: Option<CommandError>,
) {
    // `handle_command_bytes` split in two: decoding in a frame of its own (`decode_into`),
    // so its temporaries are not under the signature check.
    let mut signed: Option<SignedCommand> = None;
    let r = m.run_verdict(name, want.is_none(), || {
        decode_into(&mut signed, black_box(bytes))?;
        let signed = signed.as_ref().ok_or("fixture")?;
        device
            .handle_command(signed, now, flash)
            .map(|_| ())
            .map_err(|e| e.name())
    });
    if let (Some(w), Err(got)) = (want, r) {
        m.check(w.name() == got);
    }
}

/// Issue 21: the owner opens a command session (one signature check and one ECDH), sends a
/// command in it (a MAC, no curve arithmetic), then one whose tag was altered. The open's
/// counter is within the owner's reserved window: no flash write.
#[inline(never)]
fn sessions(m: &mut Meter, device: &mut Dev, flash: &mut SimulatedFlash, now: u64) {
    // `open_session_bytes` split in two, as for [`command`]: the decode's temporaries are not
    // under the signature check and the ECDH.
    let mut open: Option<SessionOpen> = None;
    let _ = m.run_verdict("session_open", true, || {
        decode_into(&mut open, black_box(SESSION_OPEN))?;
        let open = open.as_ref().ok_or("fixture")?;
        device
            .open_session(open, now, flash)
            .map(|_| ())
            .map_err(|e| e.name())
    });
    session_command(m, device, now, "session_cmd", SESSION_CMD, None);
    session_command(
        m,
        device,
        now,
        "session_cmd_bad_tag",
        SESSION_CMD_BAD_TAG,
        Some(CommandError::InvalidSessionTag),
    );
    m.check(flash.writes == 3);
}

/// One session command from the wire; `want` as for [`command`].
#[inline(never)]
fn session_command(
    m: &mut Meter,
    device: &mut Dev,
    now: u64,
    name: &str,
    bytes: &[u8],
    want: Option<CommandError>,
) {
    let r = m.run_verdict(name, want.is_none(), || {
        device
            .handle_session_command_bytes(black_box(bytes), now)
            .map(|_| ())
            .map_err(|e| e.name())
    });
    if let (Some(w), Err(got)) = (want, r) {
        m.check(w.name() == got);
    }
}

/// Firmware update: manifest, the 32 KiB image streamed in 256-byte chunks, a tampered copy,
/// and a validly signed but older image. Each manifest is decoded (unmeasured) and checked in
/// a step of its own: no manifest and no image verifier sits in this frame while a signature
/// is verified.
#[inline(never)]
fn firmware_update(m: &mut Meter) -> Result<(), Setup> {
    let vendor = PublicKey::from_bytes(VENDOR_KEY).map_err(|_| Setup::Fixture)?;
    let policy = UpdatePolicy {
        vendor,
        product: 42,
        installed_version: 2,
        max_image_size: 64 * 1024,
    };
    // The decoded manifest in a static cell, not in `manifest_step`'s frame under the
    // signature check (the verifier slot, which must be there, is the larger part).
    let slot = arch::singleton!(: Option<SignedManifest> = None).ok_or(Setup::Fixture)?;
    let _ = manifest_step(m, &policy, slot, "fw_manifest", MANIFEST, true)?;
    let r = manifest_step(m, &policy, slot, "fw_downgrade", MANIFEST_DOWNGRADE, false)?;
    let want = FirmwareError::Downgrade {
        installed: 2,
        offered: 1,
    };
    m.check(r == Err(want.name()));
    Ok(())
}

/// One signed manifest from the wire against the policy; an accepted one's image is then
/// streamed whole and with one byte flipped. Returns the manifest's verdict.
#[inline(never)]
fn manifest_step(
    m: &mut Meter,
    policy: &UpdatePolicy,
    manifest: &mut Option<SignedManifest>,
    name: &str,
    bytes: &[u8],
    expect_ok: bool,
) -> Result<Result<(), &'static str>, Setup> {
    decode_into(manifest, bytes).map_err(|_| Setup::Fixture)?;
    let manifest = manifest.as_ref().ok_or(Setup::Fixture)?;
    let mut verifier = None;
    let r = m.run_verdict(name, expect_ok, || {
        policy
            .check_in(black_box(manifest), &mut verifier)
            .map_err(|e| e.name())
    });
    image_steps(m, &mut verifier);
    Ok(r)
}

/// The accepted image (if any), streamed whole and with one byte flipped.
#[inline(never)]
fn image_steps(m: &mut Meter, verifier: &mut Option<ImageVerifier>) {
    let Some(verifier) = verifier.take() else {
        return;
    };
    let tampered = verifier.clone();
    let _ = m.run_verdict("fw_image_32k", true, || stream(verifier, None));
    let r = m.run_verdict("fw_image_tampered", false, || {
        stream(tampered, Some(12_345))
    });
    m.check(r == Err(FirmwareError::ImageHashMismatch.name()));
}

/// Streams the generated image (optionally with one byte flipped) and returns the verdict.
fn stream(mut v: ImageVerifier, flip: Option<u32>) -> Result<(), &'static str> {
    let mut chunk = [0u8; 256];
    let mut i = 0u32;
    while i < IMAGE_SIZE {
        for b in chunk.iter_mut() {
            *b = image_byte(i);
            if Some(i) == flip {
                *b ^= 0x01;
            }
            i = i.wrapping_add(1);
        }
        v.update(black_box(&chunk)).map_err(|e| e.name())?;
    }
    match v.finish() {
        Verdict::Install { .. } => Ok(()),
        Verdict::Reject(e) => Err(e.name()),
    }
}

/// Reports and fails. Which panic sites survive optimisation, and whose code they are in, is
/// checked by `check_panics.py` (a `panic-never` link check cannot pass while k256, sha3 and
/// core's sort keep a few unprovable checks; see that script).
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    out::line(format_args!("result=FAIL (panic)"));
    out::exit(false)
}
