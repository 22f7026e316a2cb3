//! What differs between the two cores the firmware runs on, behind one small surface: the
//! entry attribute, static cells (`singleton!`), semihosting output and exit, the instruction
//! counter, the stack pointer and a calibration loop of known length. Everything else — the
//! operations, their fixtures and verdicts, the stack painting — is one copy in `main.rs` and
//! `measure.rs`.
//!
//! - `arm`: Cortex-M4F on QEMU `mps2-an386`; SysTick counts the 25 MHz core clock, which under
//!   `-icount shift=0` is 40 instructions per tick.
//! - `riscv`: RV32IMC on QEMU `virt`; the `minstret` CSR counts retired instructions exactly
//!   (QEMU derives it from icount under `-icount shift=0`).

#[cfg(target_arch = "arm")]
mod arm;
#[cfg(target_arch = "arm")]
pub use arm::*;

#[cfg(target_arch = "riscv32")]
mod riscv;
#[cfg(target_arch = "riscv32")]
pub use riscv::*;
