#!/usr/bin/env bash
# Checks the Quint model of itc-pbft (pbft.qnt). Runs from any directory; needs node + npm.
#
#   bash docs/spec/quint/check.sh
#
# 1. installs the pinned quint (package-lock.json) into docs/spec/quint/node_modules if missing;
# 2. runs the scenario tests (`quint test`): the restore schedule is safe with the fixed
#    restore and breaks agreement with today's (that test *asserts* the violation);
# 3. simulates the two profiles of the correct model (`quint run`, fixed seed, bounded samples
#    and steps) checking agreement, validity, noEquivocation and wellFormed at every state, and
#    requires each liveness witness (commits, commits after a view change, a stable checkpoint,
#    a commit after a restart) to be reached in at least one run;
# 4. shows the model is not vacuous: the broken variants (quorum 2f; a replica that forgets its
#    votes on restart) MUST produce an invariant violation, and this script fails if they do not.
#
# Simulation uses the TypeScript backend: `quint verify` and the Rust simulator backend both
# download a binary at run time, which this environment cannot. Knobs (for a longer soak):
#   QUINT_SAMPLES (default 300 per profile), QUINT_STEPS (default 100), QUINT_SEED (default 42),
#   QUINT_JOBS (default 2: parallel quint processes).
set -euo pipefail
cd "$(dirname "$0")"
start=$(date +%s)

SAMPLES=${QUINT_SAMPLES:-300}
STEPS=${QUINT_STEPS:-100}
SEED=${QUINT_SEED:-42}
JOBS=${QUINT_JOBS:-2}

if [ ! -x node_modules/.bin/quint ]; then
  echo "-- installing quint (npm ci, pinned by package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error
fi
Q=node_modules/.bin/quint
echo "-- quint $($Q --version)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

WITNESSES=(committedSomething committedTwo committedThree committedAfterViewChange stableCheckpoint committedAfterRestart)
INVARIANTS=(agreement validity noEquivocation wellFormed)

# job NAME ARGS...: runs quint in the background (at most $JOBS at once); output in $tmp/NAME.
job() {
  local name=$1
  shift
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do
    wait -n || true
  done
  (
    set +e
    t0=$(date +%s)
    "$Q" "$@" >"$tmp/$name.out" 2>&1
    echo $? >"$tmp/$name.rc"
    echo $(($(date +%s) - t0)) >"$tmp/$name.secs"
  ) &
}

sim() { # sim NAME MODULE SAMPLES EXTRA...
  local name=$1 main=$2 samples=$3
  shift 3
  job "$name" run pbft.qnt --main "$main" --backend typescript --seed "$SEED" \
    --max-samples "$samples" --max-steps "$STEPS" --verbosity 1 "$@"
}

echo "-- running (samples $SAMPLES, steps $STEPS, seed $SEED, $JOBS jobs)"
sim calm pbft_n4 "$SAMPLES" --invariants "${INVARIANTS[@]}" --witnesses "${WITNESSES[@]}"
sim stormy pbft_n4_stormy "$SAMPLES" --invariants "${INVARIANTS[@]}" --witnesses "${WITNESSES[@]}"
job scenario_fixed test pbft.qnt --main pbft_n4_stormy --backend typescript --seed "$SEED" \
  --max-samples 1 --match restoreKeepsPreparedTest
job scenario_today test pbft.qnt --main pbft_n4_restore_drops_prepared --backend typescript \
  --seed "$SEED" --max-samples 1 --match restoreDropsPreparedTest
# Broken variants stop at the first violation; the sample cap only bounds a model that lost it.
sim broken_quorum pbft_n4_quorum_2f 2000 --invariants "${INVARIANTS[@]}"
sim broken_forget pbft_n4_forget_votes 2000 --invariants "${INVARIANTS[@]}"
wait

fail=0
bad() {
  echo "FAIL: $*"
  fail=1
}
show() {
  echo "---- $1 ($(cat "$tmp/$1.secs")s, exit $(cat "$tmp/$1.rc"))"
  grep -E '^\[|❌|witnessed|passing|failed|ok |Error|error' "$tmp/$1.out" | grep -v 'Use --' || true
}

for name in calm stormy; do
  show "$name"
  if [ "$(cat "$tmp/$name.rc")" != 0 ] || ! grep -q '^\[ok\] No violation found' "$tmp/$name.out"; then
    bad "$name: an invariant of the correct model failed (or quint failed)"
    cat "$tmp/$name.out"
  fi
done
for w in "${WITNESSES[@]}"; do
  # A witness counts if either profile reached it.
  hits=$(cat "$tmp/calm.out" "$tmp/stormy.out" | sed -n "s/^$w was witnessed in \([0-9]*\) trace.*/\1/p" |
    awk '{ s += $1 } END { print s + 0 }')
  [ "$hits" -gt 0 ] || bad "witness $w was never reached: the model may be stuck"
done
for name in scenario_fixed scenario_today; do
  show "$name"
  [ "$(cat "$tmp/$name.rc")" = 0 ] || {
    bad "$name: scenario test failed"
    cat "$tmp/$name.out"
  }
done
expect_violation() { # NAME INVARIANT
  show "$1"
  if [ "$(cat "$tmp/$1.rc")" = 0 ] || ! grep -q '^\[violation\]' "$tmp/$1.out" || ! grep -q "❌ $2" "$tmp/$1.out"; then
    bad "$1: the broken variant did not violate $2: the model would not catch this bug"
    cat "$tmp/$1.out"
  fi
}
expect_violation broken_quorum agreement
expect_violation broken_forget noEquivocation

echo "-- quint model check: $(($(date +%s) - start))s wall"
if [ "$fail" != 0 ]; then
  echo "quint model check FAILED"
  exit 1
fi
echo "quint model check passed"
