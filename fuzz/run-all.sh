#!/usr/bin/env bash
# Fuzz every target for DURATION seconds each, JOBS at a time (default 2: this machine has 2
# cores). Corpora grow in corpus/<target> (git-ignored), starting from seeds/<target>.
# Crashes land in artifacts/<target>/ and make the script exit non-zero.
#   fuzz/run-all.sh 10          # CI smoke (17 targets x 10 s / 2 jobs = 85 s + build)
#   fuzz/run-all.sh 3600        # an auditor's campaign (1 h per target)
#   RUNS=10000000 TARGETS="decode_dag sm_device" JOBS=1 fuzz/run-all.sh 3600
#                               # stop each at 10 M executions or 1 h, whichever comes first
# Per-target results (execs, cov, ft) are written to fuzz/last-run.txt.
set -uo pipefail
cd "$(dirname "$0")"
DURATION="${1:-60}"
JOBS="${JOBS:-2}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo +nightly fuzz build >/dev/null || exit 1
# REGEN_SEEDS=1 regenerates seeds/ from the library builders (after a wire-format change;
# a separate ~10 min build with --cfg fuzzing, so CI uses the committed seeds).
if [ "${REGEN_SEEDS:-0}" = 1 ]; then
  RUSTFLAGS="--cfg fuzzing" CARGO_TARGET_DIR=target/seedgen \
    cargo +nightly run -q --release --example gen_seeds -- seeds || exit 1
fi
targets="${TARGETS:-$(cargo +nightly fuzz list)}"
RUNS="${RUNS:--1}"
bindir=target/x86_64-unknown-linux-gnu/release
logdir="${LOGDIR:-target/fuzz-logs}"
mkdir -p "$logdir"
run_one() {
  t="$1"
  mkdir -p "corpus/$t" "seeds/$t" "artifacts/$t"
  # The binaries `cargo fuzz build` made, run directly: `cargo fuzz run` would take cargo's
  # build lock for every target, serialising parallel jobs.
  "$bindir/$t" "corpus/$t" "seeds/$t" \
    -max_total_time="$DURATION" -runs="$RUNS" -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="artifacts/$t/" -print_final_stats=1 \
    >"$logdir/$t.log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$logdir/$t.log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$logdir/$t.log" | tail -1 | grep -o '[0-9]*')
  ft=$(grep -o 'ft: [0-9]*' "$logdir/$t.log" | tail -1 | grep -o '[0-9]*')
  secs=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$logdir/$t.log" | grep -o '[0-9]*$')
  printf '%-32s rc=%s execs=%s exec/s=%s cov=%s ft=%s\n' "$t" "$rc" "${execs:-?}" "${secs:-?}" "${cov:-?}" "${ft:-?}"
  return $rc
}
export -f run_one
export DURATION RUNS bindir logdir
status=0
printf '%s\n' $targets | xargs -P "$JOBS" -I{} bash -c 'run_one {}' | tee last-run.txt || status=1
if grep -q 'rc=[1-9]' last-run.txt; then
  echo "fuzz: crash or failure; see $logdir/ and artifacts/" >&2
  status=1
fi
exit $status
