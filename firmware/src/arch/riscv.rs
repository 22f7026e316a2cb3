//! RV32IMC (riscv32imc-unknown-none-elf, ESP32-C3 class) under QEMU `virt`, machine mode.

pub use riscv_rt::entry;
pub use riscv_semihosting::{debug, hprintln};

/// `cortex_m::singleton!`'s contract — a `&'static mut` to a value placed in a static at most
/// once, `None` the second time — over `static_cell`, whose cell is zero-initialised and lives
/// in `.bss`. (`riscv::singleton!` keeps an `Option<T>` static instead, whose `None` is not all
/// zeros for most `T`: the firmware's cells, 15.7 KB, would sit in `.data`, their image in
/// flash.)
macro_rules! singleton {
    (: $ty:ty = $expr:expr) => {{
        static CELL: static_cell::StaticCell<$ty> = static_cell::StaticCell::new();
        CELL.try_init($expr)
    }};
}
pub(crate) use singleton;

/// Shown in the figures (`arch=` line).
pub const NAME: &str = "rv32imc";

/// Instruction counter: the `minstret` CSR (64 bits through `minstreth`), which counts
/// retired instructions exactly; it never wraps in a run.
pub struct Counter {
    start: u64,
}

impl Counter {
    /// Always available in machine mode.
    pub fn take() -> Option<Self> {
        Some(Counter { start: read() })
    }

    /// Starts a measurement.
    pub fn restart(&mut self) {
        self.start = read();
    }

    /// Instructions retired since `restart` (the counter reads included, a handful).
    pub fn elapsed(&mut self) -> Option<u64> {
        read().checked_sub(self.start)
    }
}

fn read() -> u64 {
    riscv::register::minstret::read64()
}

/// Runs `n` iterations of a two-instruction countdown (`addi` + `bnez`).
pub fn count_down(n: u32) {
    // SAFETY: a register-only countdown loop; touches no memory.
    unsafe {
        core::arch::asm!(
            "2:",
            "addi {0}, {0}, -1",
            "bnez {0}, 2b",
            inout(reg) n => _,
            options(nomem, nostack)
        );
    }
}

/// The current stack pointer.
pub fn stack_pointer() -> usize {
    let sp: usize;
    // SAFETY: reads a register.
    unsafe { core::arch::asm!("mv {}, sp", out(reg) sp, options(nomem, nostack)) };
    sp
}
