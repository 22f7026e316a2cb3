#!/usr/bin/env bash
# Builds the firmware, runs it under QEMU (-icount shift=0), checks its verdicts and exit status,
# and compares flash, static RAM, stack and instruction counts with the budget. Writes the
# measurements to <target dir>/figures<suffix>.txt (cargo's target directory: $CARGO_TARGET_DIR
# if set, else firmware/target).
# FIRMWARE_ARCH picks the core (the same firmware, one copy of the ops, see src/arch/):
#   arm     (default) Cortex-M4F, QEMU mps2-an386: budget.txt, figures.txt. Needs qemu-system-arm,
#           binutils-arm-none-eabi, the thumbv7em-none-eabihf target.
#   riscv32 RV32IMC (ESP32-C3 class), QEMU virt: budget-riscv32.txt, figures-riscv32.txt. Needs
#           qemu-system-misc, binutils-riscv64-unknown-elf, the riscv32imc-unknown-none-elf target.
# FIRMWARE_PROFILE=release-speed measures the speed profile (crypto at opt-level 3) against
# budget[-riscv32]-release-speed.txt instead (figures in figures[-riscv32]-release-speed.txt).
set -euo pipefail
cd "$(dirname "$0")"
profile=${FIRMWARE_PROFILE:-release}
arch=${FIRMWARE_ARCH:-arm}
case "$arch" in
  arm) target=thumbv7em-none-eabihf; tools=arm-none-eabi; suffix= ;;
  riscv32) target=riscv32imc-unknown-none-elf; tools=riscv64-unknown-elf; suffix=-riscv32 ;;
  *) echo "FIRMWARE_ARCH must be arm or riscv32, not $arch"; exit 2 ;;
esac
[[ "$profile" == release ]] || suffix=$suffix-$profile
budget=budget$suffix.txt
tdir=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
elf=$tdir/$target/$profile/itc-firmware

cargo build --profile "$profile" --target "$target" -j 1
out=$(cargo run --profile "$profile" --target "$target" -j 1 2>/dev/null) || { echo "$out"; echo "firmware exited non-zero"; exit 1; }
echo "$out"
grep -q '^result=PASS$' <<<"$out" || { echo "firmware verdicts wrong"; exit 1; }
grep -q '^calibration .* ok=true$' <<<"$out" || { echo "SysTick calibration failed"; exit 1; }

TOOLS=$tools ./check_panics.py "$elf"

# Flash: code and read-only data plus the load image of .data; static RAM: .data + .bss
# (+ .uninit). The stack and heap sections riscv-rt reserves are not statics.
read -r flash ram < <("$tools-size" -A "$elf" | awk '
  $1 ~ /^\.(vector_table|text|init\.rust|rodata)$/ { f += $2 }
  $1 == ".data" { f += $2; r += $2 }
  $1 ~ /^\.(bss|uninit)$/ { r += $2 }
  END { print f, r }')
instr() { sed -n "s/^op=$1 .* instructions=\([0-9]*\) .*/\1/p" <<<"$out"; }
fresh=$(( $(instr header) + $(instr ownership_proof) + $(instr cmd_owner) ))
declare -A got=(
  [flash_bytes]=$flash
  [static_ram_bytes]=$ram
  [peak_stack_bytes]=$(sed -n 's/^peak_stack=//p' <<<"$out")
  [command_fresh_header_instr]=$fresh
  [command_cached_instr]=$(instr cmd_owner_cached)
  [boot_instr]=$(( $(instr boot_light_client) + $(instr boot_identity) ))
  [session_open_instr]=$(instr session_open)
  [session_command_instr]=$(( $(instr session_cmd) > $(instr session_cmd_bad_tag) ? $(instr session_cmd) : $(instr session_cmd_bad_tag) ))
)

status=0
figures=$tdir/figures$suffix.txt
: > "$figures"
while read -r name limit _; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  v=${got[$name]:?"no measurement for $name"}
  verdict=ok; (( v <= limit )) || { verdict=OVER; status=1; }
  printf '%-28s %10s / %-10s %s\n' "$name" "$v" "$limit" "$verdict" | tee -a "$figures"
done < "$budget"
exit $status
