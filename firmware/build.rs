//! Puts the target's memory layout on the linker search path as `memory.x`, where the
//! runtime's `link.x` includes it (cortex-m-rt always; riscv-rt with its `memory` feature).
//!
//! (The layouts are named per architecture: a file called `memory.x` in this directory would be
//! found by the linker before the generated one.)
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let layout: &[u8] = match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("riscv32") => include_bytes!("memory-riscv32.x"),
        _ => include_bytes!("memory-arm.x"),
    };
    fs::write(out.join("memory.x"), layout).expect("write memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory-arm.x");
    println!("cargo:rerun-if-changed=memory-riscv32.x");
    println!("cargo:rerun-if-changed=fixtures");
}
