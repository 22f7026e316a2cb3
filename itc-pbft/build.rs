//! Declares the bench-only `itc_pbft_insecure_no_sig` cfg so rustc's `unexpected_cfgs` check
//! knows it (see `src/sig.rs`: it is set only through `RUSTFLAGS`, never by a feature).
fn main() {
    println!("cargo::rustc-check-cfg=cfg(itc_pbft_insecure_no_sig)");
    println!("cargo::rerun-if-changed=build.rs");
}
