#!/usr/bin/env bash
# Line and region coverage reached by each target's corpus (seeds + what the campaigns found),
# via `cargo fuzz coverage` and llvm-cov: of the crate the target attacks, and of all itc crates
# linked into it. Writes coverage/<target>/report.txt (per file) and coverage/summary.txt.
# Needs `rustup component add llvm-tools --toolchain nightly`.
#   fuzz/coverage.sh                   # every target
#   fuzz/coverage.sh decode_dag        # some
#   REPORT_ONLY=1 fuzz/coverage.sh     # re-read existing profiles, no corpus replay
set -uo pipefail
cd "$(dirname "$0")"
targets="${*:-$(cargo +nightly fuzz list)}"
sysroot=$(rustc +nightly --print sysroot)
llvm_cov=$(find "$sysroot" -name llvm-cov -type f | head -1)
[ -x "$llvm_cov" ] || { echo "llvm-cov missing: rustup component add llvm-tools --toolchain nightly" >&2; exit 1; }
root=$(cd .. && pwd)
owner() {
  case "$1" in
    *crypto*) echo itc-crypto ;; *pbft*) echo itc-pbft ;; *dag*) echo itc-dag ;;
    *ledger*) echo itc-ledger ;; *spv*) echo itc-spv ;; *chaincode*) echo itc-chaincode ;;
    *device*) echo itc-device-sdk ;;
  esac
}
mkdir -p coverage
summary=coverage/summary.txt
printf '%-30s %7s  %-15s %7s %8s  %9s %9s\n' target inputs crate lines regions "all-lines" "all-regns" | tee "$summary"
for t in $targets; do
  mkdir -p "corpus/$t" "coverage/$t"
  prof=coverage/$t/coverage.profdata
  if [ "${REPORT_ONLY:-0}" != 1 ] || [ ! -f "$prof" ]; then
    cargo +nightly fuzz coverage "$t" "corpus/$t" "seeds/$t" >"coverage/$t.log" 2>&1 || {
      echo "$t: coverage run failed, see coverage/$t.log" >&2; continue; }
  fi
  bin=target/x86_64-unknown-linux-gnu/coverage/x86_64-unknown-linux-gnu/release/$t
  ignore='(\.cargo|rustc|/fuzz/|/library/)'
  "$llvm_cov" report "$bin" -instr-profile="$prof" -ignore-filename-regex="$ignore" \
    >"coverage/$t/report.txt" 2>/dev/null
  crate=$(owner "$t")
  "$llvm_cov" report "$bin" -instr-profile="$prof" -ignore-filename-regex="$ignore" \
    "$root/$crate/src" >"coverage/$t/report-$crate.txt" 2>/dev/null
  # TOTAL  regions missed cover%  functions missed exec%  lines missed cover%  branches ...
  all=$(grep '^TOTAL' "coverage/$t/report.txt")
  own=$(grep '^TOTAL' "coverage/$t/report-$crate.txt")
  inputs=$(find "corpus/$t" "seeds/$t" -type f | wc -l)
  printf '%-30s %7s  %-15s %7s %8s  %9s %9s\n' "$t" "$inputs" "$crate" \
    "$(echo "$own" | awk '{print $10}')" "$(echo "$own" | awk '{print $4}')" \
    "$(echo "$all" | awk '{print $10}')" "$(echo "$all" | awk '{print $4}')" | tee -a "$summary"
done
