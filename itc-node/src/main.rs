//! The `itc-node` binary.
fn main() {}
