#!/usr/bin/env bash
# Every crate that can be published is packaged and verified, in dependency order. Called by
# .ci/run; runs from any directory.
#
# "Publishable" = every workspace member without `publish = false` (today the seven library
# crates; a new crate is included automatically and must bring the same files). For each:
#   1. its metadata is real: description, license, readme, keywords, categories, and no
#      repository/documentation/homepage on a placeholder host;
#   2. `cargo package` builds the .crate and *verifies* it: the tarball is unpacked and
#      compiled on its own, with its path dependencies replaced by the sibling tarballs (cargo
#      puts them in a temporary local registry, so dependency order is handled for us);
#   3. the tarball carries README.md, CHANGELOG.md, LICENSE-MIT and LICENSE-APACHE.
# `--allow-dirty`: CI may run in a working tree with uncommitted edits (a developer's run of
# .ci/run); what is packaged is what is on disk, which is what the other steps tested.
set -euo pipefail
cd "$(dirname "$0")/.."

meta=$(cargo metadata --format-version 1 --no-deps)
# Prints "<target_dir>" then one "<name> <version>" line per publishable member; fails with a
# list of problems if any member's metadata is missing or fake.
plan=$(python3 -c '
import json, sys
m = json.loads(sys.argv[1])
members = set(m["workspace_members"])
problems, out = [], [m["target_directory"]]
for p in m["packages"]:
    if p["id"] not in members:
        continue
    if p.get("publish") == []:
        continue  # publish = false: examples, benches
    name = p["name"]
    for field in ("description", "license", "readme"):
        if not p.get(field):
            problems.append(f"{name}: no {field}")
    for field in ("keywords", "categories"):
        if not p.get(field):
            problems.append(f"{name}: no {field}")
    for field in ("repository", "documentation", "homepage"):
        v = p.get(field) or ""
        if "example.invalid" in v or "example.com" in v:
            problems.append(f"{name}: {field} points at a placeholder host ({v})")
    if len(p.get("description") or "") < 40:
        problems.append(f"{name}: description too short to say what the crate is for")
    version = p["version"]
    out.append(f"{name} {version}")
if problems:
    sys.exit("package metadata:\n  " + "\n  ".join(problems))
print("\n".join(out))
' "$meta")

target_dir=$(head -n1 <<<"$plan")
crates=()
pkgs=()
while read -r name version; do
  crates+=("$name-$version")
  pkgs+=(-p "$name")
done < <(tail -n +2 <<<"$plan")
echo "packaging: ${crates[*]}"

cargo package "${pkgs[@]}" --allow-dirty

status=0
for c in "${crates[@]}"; do
  list=$(tar tzf "$target_dir/package/$c.crate")
  for f in README.md CHANGELOG.md LICENSE-MIT LICENSE-APACHE; do
    if ! grep -qx "$c/$f" <<<"$list"; then
      echo "$c.crate: missing $f"
      status=1
    fi
  done
done
exit $status
