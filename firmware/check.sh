#!/usr/bin/env bash
# Builds the firmware, runs it under QEMU (mps2-an386, Cortex-M4, -icount shift=0), checks its
# verdicts and exit status, and compares flash, static RAM, stack and instruction counts with
# budget.txt. Writes the measurements to <target dir>/figures.txt (cargo's target directory:
# $CARGO_TARGET_DIR if set, else firmware/target). Needs: qemu-system-arm,
# arm-none-eabi-size, the thumbv7em-none-eabihf target.
# FIRMWARE_PROFILE=release-speed measures the speed profile (crypto at opt-level 3) against
# budget-release-speed.txt instead (figures in figures-release-speed.txt).
set -euo pipefail
cd "$(dirname "$0")"
profile=${FIRMWARE_PROFILE:-release}
budget=budget.txt
[[ "$profile" == release ]] || budget=budget-$profile.txt
tdir=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
elf=$tdir/thumbv7em-none-eabihf/$profile/itc-firmware

cargo build --profile "$profile" -j 1
out=$(cargo run --profile "$profile" -j 1 2>/dev/null) || { echo "$out"; echo "firmware exited non-zero"; exit 1; }
echo "$out"
grep -q '^result=PASS$' <<<"$out" || { echo "firmware verdicts wrong"; exit 1; }
grep -q '^calibration .* ok=true$' <<<"$out" || { echo "SysTick calibration failed"; exit 1; }

./check_panics.py "$elf"

read -r text data bss _ < <(arm-none-eabi-size "$elf" | tail -1)
instr() { sed -n "s/^op=$1 .* instructions=\([0-9]*\) .*/\1/p" <<<"$out"; }
fresh=$(( $(instr header) + $(instr ownership_proof) + $(instr cmd_owner) ))
declare -A got=(
  [flash_bytes]=$text
  [static_ram_bytes]=$((data + bss))
  [peak_stack_bytes]=$(sed -n 's/^peak_stack=//p' <<<"$out")
  [command_fresh_header_instr]=$fresh
  [command_cached_instr]=$(instr cmd_owner_cached)
  [boot_instr]=$(( $(instr boot_light_client) + $(instr boot_identity) ))
  [session_open_instr]=$(instr session_open)
  [session_command_instr]=$(( $(instr session_cmd) > $(instr session_cmd_bad_tag) ? $(instr session_cmd) : $(instr session_cmd_bad_tag) ))
)

status=0
figures=$tdir/figures.txt
[[ "$profile" == release ]] || figures=$tdir/figures-$profile.txt
: > "$figures"
while read -r name limit _; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  v=${got[$name]:?"no measurement for $name"}
  verdict=ok; (( v <= limit )) || { verdict=OVER; status=1; }
  printf '%-28s %10s / %-10s %s\n' "$name" "$v" "$limit" "$verdict" | tee -a "$figures"
done < "$budget"
exit $status
