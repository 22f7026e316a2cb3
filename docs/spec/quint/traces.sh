#!/usr/bin/env bash
# Regenerates the ITF traces in traces/ (see README.md, "Traces"). Deterministic: quint 0.33.1
# (package-lock.json), fixed seeds. Runs from any directory; installs quint like check.sh.
set -euo pipefail
cd "$(dirname "$0")"
[ -x node_modules/.bin/quint ] || npm ci --no-audit --no-fund --loglevel=error
Q=node_modules/.bin/quint
SEED=${QUINT_SEED:-42}
mkdir -p traces
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The two restore scenarios (fixed schedules, quint test).
$Q test pbft.qnt --main pbft_n4_stormy --backend typescript --seed "$SEED" --max-samples 1 \
  --match restoreKeepsPreparedTest --out-itf "$tmp/keeps_{test}_{seq}.itf.json" >/dev/null
$Q test pbft.qnt --main pbft_n4_restore_drops_prepared --backend typescript --seed "$SEED" \
  --max-samples 1 --match restoreDropsPreparedTest --out-itf "$tmp/drops_{test}_{seq}.itf.json" >/dev/null
mv "$(ls "$tmp"/keeps_*.itf.json | head -1)" traces/restore_keeps_prepared.itf.json
mv "$(ls "$tmp"/drops_*.itf.json | head -1)" traces/restore_drops_prepared.itf.json

# Witness traces: the first random run (in seed order) that reaches each property, found by
# asking quint to falsify its negation. Exit code 1 is the expected "violation".
witness() { # NAME MODULE NEGATED-PROPERTY MAX-STEPS
  set +e
  $Q run pbft.qnt --main "$2" --backend typescript --seed "$SEED" --max-samples 2000 \
    --max-steps "$4" --invariant "$3" --mbt --verbosity 0 --out-itf "traces/$1.itf.json"
  local rc=$?
  set -e
  [ "$rc" = 1 ] || { echo "no trace reaches not($3) in $2"; exit 1; }
}
witness commit pbft_n4 noCommit 40
witness stable_checkpoint pbft_n4 noStableCheckpoint 80
witness commit_after_restart pbft_n4 noCommitAfterRestart 60
witness commit_after_view_change pbft_n4_stormy noCommitAfterViewChange 60

node slim.js traces/*.itf.json
ls -la traces
