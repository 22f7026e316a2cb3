#!/usr/bin/env bash
# Every library crate, without default features, for every MCU target we support, and the
# bare-metal link check (ci/no-std-check) for each. Called by .ci/run; runs from any directory.
#
#   ci/targets.sh                  all targets
#   ci/targets.sh thumbv6m-none-eabi ...   only these
#
# Per target:
#   1. `cargo check -p <crate> --no-default-features`, one crate at a time, so a crate that
#      only compiles because a sibling turns on a feature of a shared dependency is caught
#      (Cargo unifies features within one invocation);
#   2. `cargo build` of all crates with `--features alloc` (and `dag`, `serde`): full code generation of
#      every crate, and it catches `alloc::sync` and other compare-and-swap users on targets
#      without CAS (thumbv6m, riscv32imc). Dependencies at opt-level 0 here (the workspace's dev
#      profile optimises them at 3 for the tests; code generation is what is checked here);
#   3. the link check: a `#![no_main]` release binary calling every crate's no-alloc
#      verification path without default features, linked with rust-lld, so an undefined
#      symbol or a `std` leak fails here. Its `.text` size is printed (opt-level "s", no LTO:
#      for comparing targets, not a firmware figure).
# Everything shares one target directory ($CARGO_TARGET_DIR, or the workspace's).
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_TARGETS=(
  thumbv7em-none-eabihf       # Cortex-M4F / M7 (the firmware example under QEMU)
  thumbv6m-none-eabi          # Cortex-M0+: no atomic compare-and-swap
  thumbv8m.main-none-eabihf   # Cortex-M33 (TrustZone-M parts)
  riscv32imc-unknown-none-elf # ESP32-C3: RV32IMC, no A extension, so no CAS either
)
LIB_CRATES=(itc-crypto itc-pbft itc-dag itc-ledger itc-spv itc-chaincode itc-device-sdk)

if [ "$#" -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi

# One target directory for the workspace and the link check's own workspace.
if [ -z "${CARGO_TARGET_DIR:-}" ]; then
  CARGO_TARGET_DIR="$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
fi
export CARGO_TARGET_DIR

rustup target add "${TARGETS[@]}" >/dev/null

start=$(date +%s)
for t in "${TARGETS[@]}"; do
  t0=$(date +%s)
  echo "--- $t: each library crate on its own, --no-default-features (cargo check)"
  for c in "${LIB_CRATES[@]}"; do
    echo "-- $c"
    cargo check -q -p "$c" --no-default-features --target "$t"
  done

  echo "--- $t: all library crates, --no-default-features --features alloc (+ dag, serde)"
  pkgs=()
  for c in "${LIB_CRATES[@]}"; do pkgs+=(-p "$c"); done
  cargo build -q "${pkgs[@]}" --no-default-features \
    --config 'profile.dev.package."*".opt-level=0' --config 'profile.dev.debug=false' \
    --features itc-crypto/alloc,itc-pbft/alloc,itc-dag/alloc,itc-ledger/alloc,itc-spv/alloc,itc-chaincode/alloc,itc-device-sdk/alloc,itc-spv/dag,itc-device-sdk/dag \
    --features itc-crypto/serde,itc-pbft/serde,itc-dag/serde,itc-ledger/serde,itc-spv/serde,itc-chaincode/serde,itc-device-sdk/serde \
    --target "$t"

  echo "--- $t: link check (ci/no-std-check)"
  (cd ci/no-std-check && cargo build -q --release --target "$t")
  bin="$CARGO_TARGET_DIR/$t/release/itc-no-std-check"
  if command -v llvm-size >/dev/null; then llvm-size "$bin"; fi
  echo "--- $t: ok in $(( $(date +%s) - t0 )) s"
done
echo "--- targets: ${#TARGETS[@]} ok in $(( $(date +%s) - start )) s"
