#!/usr/bin/env bash
# Line and region coverage of the itc crates reached by each target's corpus (seeds + what the
# campaigns found), via `cargo fuzz coverage` and llvm-cov. Writes coverage/<target>/ and a table
# to coverage/summary.txt. Needs `rustup component add llvm-tools --toolchain nightly`.
#   fuzz/coverage.sh                   # every target
#   fuzz/coverage.sh decode_dag        # some
set -uo pipefail
cd "$(dirname "$0")"
targets="${*:-$(cargo +nightly fuzz list)}"
sysroot=$(rustc +nightly --print sysroot)
llvm_cov=$(find "$sysroot" -name llvm-cov -type f | head -1)
[ -x "$llvm_cov" ] || { echo "llvm-cov missing: rustup component add llvm-tools --toolchain nightly" >&2; exit 1; }
mkdir -p coverage
summary=coverage/summary.txt
printf '%-32s %8s %8s %8s  %s\n' target inputs lines regions "(itc crates only: *src/ of itc-*)" >"$summary"
for t in $targets; do
  mkdir -p "corpus/$t"
  cargo +nightly fuzz coverage "$t" "corpus/$t" "seeds/$t" >"coverage/$t.log" 2>&1 || {
    echo "$t: coverage run failed, see coverage/$t.log" >&2; continue; }
  bin=target/x86_64-unknown-linux-gnu/coverage/x86_64-unknown-linux-gnu/release/$t
  prof=coverage/$t/coverage.profdata
  "$llvm_cov" report "$bin" -instr-profile="$prof" \
    -ignore-filename-regex='(\.cargo|rustc|/fuzz/|/library/)' >"coverage/$t/report.txt" 2>/dev/null
  total=$(grep '^TOTAL' "coverage/$t/report.txt")
  # TOTAL regions missed cover% functions missed exec% lines missed cover% ...
  regions=$(echo "$total" | awk '{print $4}')
  lines=$(echo "$total" | awk '{print $10}')
  inputs=$(find "corpus/$t" "seeds/$t" -type f | wc -l)
  printf '%-32s %8s %8s %8s\n' "$t" "$inputs" "$lines" "$regions" | tee -a "$summary"
done
