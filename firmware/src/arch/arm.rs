//! Cortex-M4F (thumbv7em-none-eabihf) under QEMU `mps2-an386`.

use cortex_m::peripheral::{syst::SystClkSource, SYST};

pub use cortex_m::singleton;
pub use cortex_m_rt::entry;
pub use cortex_m_semihosting::{debug, hprintln};

/// Shown in the figures (`arch=` line).
pub const NAME: &str = "cortex-m4";

/// SysTick counts the 25 MHz system clock; at icount shift 0 an instruction takes 1 ns.
const INSTRUCTIONS_PER_TICK: u64 = 40;
const RELOAD: u32 = 0x00FF_FFFF;

/// Instruction counter: SysTick, core clock, full 24-bit reload, no interrupt.
pub struct Counter {
    syst: SYST,
}

impl Counter {
    /// Takes SysTick; `None` if the peripherals were already taken.
    pub fn take() -> Option<Self> {
        let mut syst = cortex_m::Peripherals::take()?.SYST;
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(RELOAD);
        syst.clear_current();
        syst.enable_counter();
        Some(Counter { syst })
    }

    /// Starts a measurement.
    pub fn restart(&mut self) {
        self.syst.clear_current();
        // Reading COUNTFLAG clears it.
        let _ = self.syst.has_wrapped();
    }

    /// Instructions since `restart`; `None` if the 24-bit counter wrapped (> 671 M).
    pub fn elapsed(&mut self) -> Option<u64> {
        let now = SYST::get_current();
        if self.syst.has_wrapped() {
            return None;
        }
        Some(u64::from(RELOAD - now).saturating_add(1) * INSTRUCTIONS_PER_TICK)
    }
}

/// Runs `n` iterations of a two-instruction countdown (`subs` + `bne`).
pub fn count_down(n: u32) {
    // SAFETY: a register-only countdown loop; touches no memory.
    unsafe {
        core::arch::asm!(
            "2:",
            "subs {0}, #1",
            "bne 2b",
            inout(reg) n => _,
            options(nomem, nostack)
        );
    }
}

/// The current (main) stack pointer.
pub fn stack_pointer() -> usize {
    cortex_m::register::msp::read() as usize
}
