#![no_std]
#![no_main]

use core::hint::black_box;
use cortex_m::peripheral::{syst::SystClkSource, SYST};
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use itc_crypto::{DomainTag, SecretKey, Signer};

const T: DomainTag = DomainTag::new(b"itc/fw/test/v1");

fn ticks(syst: &SYST) -> u32 { SYST::get_current() }

#[entry]
fn main() -> ! {
    let mut cp = cortex_m::Peripherals::take().unwrap();
    cp.SYST.set_clock_source(SystClkSource::Core);
    cp.SYST.set_reload(0x00FF_FFFF);
    cp.SYST.clear_current();
    cp.SYST.enable_counter();
    let a = ticks(&cp.SYST);
    unsafe { core::arch::asm!("1: subs {0}, #1", "bne 1b", inout(reg) 1_000_000u32 => _); }
    let b = ticks(&cp.SYST);
    hprintln!("loop 2M instr: {} ticks", a - b);
    let k = SecretKey::from_bytes(&black_box([7u8; 32])).unwrap();
    let pk = k.public_key();
    let sig = k.sign(T, b"hello").unwrap();
    let a = ticks(&cp.SYST);
    let ok = pk.verify(T, black_box(b"hello"), &sig).is_ok();
    let b = ticks(&cp.SYST);
    hprintln!("verify ok={} ticks={} instr={}", ok, a - b, (a - b) * 40);
    debug::exit(debug::EXIT_SUCCESS);
    loop {}
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    debug::exit(debug::EXIT_FAILURE);
    loop {}
}
