//! Output and exit through semihosting (QEMU `-semihosting-config target=native`).

use crate::arch::{debug, hprintln};

/// Prints one line on the host's stdout.
pub fn line(args: core::fmt::Arguments<'_>) {
    hprintln!("{}", args);
}

/// Ends the run; QEMU exits with status 0 for `ok`, 1 otherwise.
pub fn exit(ok: bool) -> ! {
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    #[allow(clippy::empty_loop)]
    loop {}
}
