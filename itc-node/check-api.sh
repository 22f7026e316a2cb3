#!/usr/bin/env bash
# Schemathesis (PyPI) against a running node: starts a 4-validator localnet on 127.0.0.1 (a
# fresh temporary directory, a random free port range), points schemathesis at node 0's
# served OpenAPI document with every check but one (no 5xx; every status, content type, header
# and body as documented; schema-violating input refused; unsupported methods 405), then stops
# the nodes and removes the directory, also on failure. The check left out,
# positive_data_acceptance, expects every schema-valid request to succeed: a transaction, a
# light-client request or a validator key is a canonical encoding with signatures and curve
# points that JSON Schema cannot describe, so random schema-valid bytes are rightly refused
# (typed 400s, which the other checks still verify). Needs python3 with venv; installs schemathesis into cargo's target directory
# ($CARGO_TARGET_DIR if set). ST_MAX_EXAMPLES (default 40) bounds the cases per operation.
set -euo pipefail
cd "$(dirname "$0")/.."
tdir=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
venv=$tdir/schemathesis-venv
if [[ ! -x "$venv/bin/st" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==4.32.5"
fi
cargo build -q -p itc-node
bin=$tdir/debug/itc-node

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

base=$(python3 - <<'EOF'
import random, socket
for _ in range(50):
    base = random.randrange(20000, 50000)
    try:
        for i in range(12):
            s = socket.socket(); s.bind(("127.0.0.1", base + i)); s.close()
        print(base); break
    except OSError:
        continue
EOF
)
"$bin" init --localnet 4 --base-port "$base" --dir "$work/net" >/dev/null
for i in 0 1 2 3; do
  "$bin" run --config "$work/net/node$i/node.toml" 2>"$work/node$i.log" &
  pids+=($!)
done
api="http://127.0.0.1:$((base + 1))"
for _ in $(seq 1 150); do
  if curl -sf "$api/v1/status" | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["bound_peers"] == 3 else 1)' 2>/dev/null; then
    break
  fi
  sleep 0.2
done

status=0
"$venv/bin/st" run "$api/v1/openapi.json" \
  --checks all \
  --exclude-checks positive_data_acceptance \
  --max-examples "${ST_MAX_EXAMPLES:-40}" \
  --workers 1 \
  --seed 1 \
  --max-time 90 || status=$?
if (( status != 0 )); then
  echo "schemathesis failed; node 0's log tail:"
  tail -20 "$work/node0.log"
fi
exit $status
