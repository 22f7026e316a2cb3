//! Instruction counts (the core's counter under `-icount shift=0`, see [`crate::arch`]) and
//! stack high-water marks (painting).

use core::ptr::{addr_of, read_volatile, write_volatile};

use crate::arch::{self, Counter};
use crate::out;

/// How far below the top of RAM the stack is painted (more than any budget).
const PAINT_BYTES: usize = 48 * 1024;
const PATTERN: u32 = 0xC0FF_EE11;

extern "C" {
    /// Top of the stack, provided by the runtime's `link.x` (cortex-m-rt and riscv-rt alike).
    static _stack_start: u32;
}

fn stack_top() -> usize {
    // Only the symbol's address is taken, never its value.
    addr_of!(_stack_start) as usize
}

/// Measures operations and remembers whether every verdict was the expected one.
pub struct Meter {
    counter: Counter,
    failures: u32,
    peak_stack: usize,
}

impl Meter {
    /// Takes the instruction counter.
    pub fn start() -> Self {
        let Some(counter) = Counter::take() else {
            out::exit(false)
        };
        Meter {
            counter,
            failures: 0,
            peak_stack: 0,
        }
    }

    fn restart(&mut self) {
        self.counter.restart();
    }

    fn elapsed(&mut self) -> Option<u64> {
        self.counter.elapsed()
    }

    /// Checks the counter against a loop of known length: 1,000,000 × (decrement + branch) =
    /// 2,000,000 instructions.
    pub fn calibrate(&mut self) -> bool {
        self.restart();
        arch::count_down(1_000_000);
        let got = self.elapsed().unwrap_or(0);
        let ok = (1_999_900..=2_000_200).contains(&got);
        out::line(format_args!(
            "calibration arch={} loop_instructions=2000000 measured={} ok={}",
            arch::NAME,
            got,
            ok
        ));
        ok
    }

    /// Runs one operation, measured, and prints its line.
    pub fn run_verdict<T>(
        &mut self,
        name: &str,
        expect_ok: bool,
        f: impl FnOnce() -> Result<T, &'static str>,
    ) -> Result<T, &'static str> {
        paint();
        self.restart();
        let r = f();
        let instructions = self.elapsed();
        let stack = high_water();
        self.peak_stack = self.peak_stack.max(stack);
        let as_expected = r.is_ok() == expect_ok;
        if !as_expected || instructions.is_none() {
            self.failures += 1;
        }
        let verdict = match &r {
            Ok(_) => "ok",
            Err(e) => e,
        };
        out::line(format_args!(
            "op={} verdict={}{} expected={} instructions={} stack={}{}",
            name,
            if r.is_ok() { "" } else { "rejected:" },
            verdict,
            if expect_ok { "pass" } else { "fail" },
            instructions.unwrap_or(u64::MAX),
            stack,
            if as_expected { "" } else { " UNEXPECTED" },
        ));
        r
    }

    /// Records an extra expectation (e.g. the exact rejection reason).
    pub fn check(&mut self, ok: bool) {
        if !ok {
            self.failures += 1;
            out::line(format_args!("check failed"));
        }
    }

    /// True if every operation behaved as expected.
    pub fn all_as_expected(&self) -> bool {
        self.failures == 0
    }

    /// Deepest stack use seen, in bytes from the top of RAM.
    pub fn peak_stack(&self) -> usize {
        self.peak_stack
    }
}

/// Fills the unused stack below the current stack pointer with [`PATTERN`].
#[inline(never)]
fn paint() {
    let sp = arch::stack_pointer();
    let bottom = stack_top() - PAINT_BYTES;
    let mut addr = bottom;
    // Leave a margin below this function's own frame.
    while addr + 64 < sp {
        // SAFETY: [bottom, sp - 64) is RAM below the live stack, unused by anything else
        // (no heap; statics live at the bottom of RAM, far below).
        unsafe { write_volatile(addr as *mut u32, PATTERN) };
        addr += 4;
    }
}

/// Bytes of stack ever used since the last [`paint`]: from the top of RAM down to the lowest
/// word no longer holding the pattern.
#[inline(never)]
fn high_water() -> usize {
    let top = stack_top();
    let mut addr = top - PAINT_BYTES;
    // SAFETY: reads RAM inside the painted region.
    while addr < top && unsafe { read_volatile(addr as *const u32) } == PATTERN {
        addr += 4;
    }
    top - addr
}
