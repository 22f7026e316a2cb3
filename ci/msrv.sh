#!/usr/bin/env bash
# MSRV: every publishable crate is checked with the toolchain its `rust-version` declares
# (installed with rustup, minimal profile), with default features and with
# `--no-default-features`. `cargo check` only: the claim is "it compiles on that Rust"; the
# tests run on stable in the other steps (their dev-dependencies need a newer Rust anyway).
# Called by .ci/run; runs from any directory.
set -euo pipefail
cd "$(dirname "$0")/.."

# "<rust-version> <name>" per publishable workspace member (as in ci/package.sh).
plan=$(cargo metadata --format-version 1 --no-deps | python3 -c '
import json, sys
m = json.load(sys.stdin)
members = set(m["workspace_members"])
missing = []
for p in m["packages"]:
    if p["id"] not in members or p.get("publish") == []:
        continue
    if not p.get("rust_version"):
        missing.append(p["name"])
    else:
        print(p["rust_version"], p["name"])
if missing:
    sys.exit("no rust-version declared: " + ", ".join(missing))
')

for version in $(cut -d' ' -f1 <<<"$plan" | sort -u); do
  pkgs=()
  while read -r v name; do
    [ "$v" = "$version" ] && pkgs+=(-p "$name")
  done <<<"$plan"
  echo "--- rust $version: ${pkgs[*]}"
  rustup toolchain install "$version" --profile minimal --no-self-update >/dev/null
  rustc "+$version" -V
  cargo "+$version" check "${pkgs[@]}"
  cargo "+$version" check "${pkgs[@]}" --no-default-features
done
