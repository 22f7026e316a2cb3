#!/usr/bin/env bash
# Builds the C firmware (main.c + fixtures) with arm-none-eabi-gcc, links it with the
# thumbv7em-none-eabihf staticlib of itc-device-ffi (profile release-size: opt-level z, LTO,
# panic = "abort", no std), runs it under QEMU mps2-an386 like firmware/check.sh, checks its
# verdicts (semihosting SYS_WRITE0 prints on QEMU's stderr), prints flash / static RAM / peak stack /
# instruction counts (written to <target>/firmware-c/figures.txt) and fails if one exceeds its
# limit in budget.txt (peak stack: the device's 16 KiB).
# Needs: arm-none-eabi-gcc (gcc-arm-none-eabi, libnewlib-arm-none-eabi), qemu-system-arm.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v arm-none-eabi-gcc >/dev/null || ! command -v qemu-system-arm >/dev/null; then
  apt-get update -qq && apt-get install -y -qq gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm >/dev/null
fi
rustup target add thumbv7em-none-eabihf >/dev/null 2>&1 || true

target_dir=$(cargo metadata --format-version 1 --no-deps --manifest-path ../Cargo.toml |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
cargo build --manifest-path ../Cargo.toml -p itc-device-ffi --lib \
  --target thumbv7em-none-eabihf --no-default-features --profile release-size
lib="$target_dir/thumbv7em-none-eabihf/release-size/libitc_device_ffi.a"
out="$target_dir/firmware-c"
mkdir -p "$out"

cflags=(-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -Os -g
  -ffunction-sections -fdata-sections -std=c11 -Wall -Wextra -Werror -ffreestanding)
arm-none-eabi-gcc "${cflags[@]}" -I ../itc-device-ffi/include -c main.c -o "$out/main.o"
arm-none-eabi-gcc "${cflags[@]}" -Wa,-I,../firmware/fixtures -c fixtures.S -o "$out/fixtures.o"
# No C library: memcpy & co. come from the staticlib's compiler_builtins.
arm-none-eabi-gcc "${cflags[@]}" -nostdlib -T link.ld -Wl,--gc-sections \
  "$out/main.o" "$out/fixtures.o" "$lib" -lgcc -o "$out/firmware-c.elf"

qemu=(qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -nographic
  -semihosting-config enable=on,target=native -icount shift=0 -kernel "$out/firmware-c.elf")
run=$(timeout 300 "${qemu[@]}" 2>&1 | tr -d "\r"; exit "${PIPESTATUS[0]}") || { echo "$run"; echo "C firmware exited non-zero"; exit 1; }
echo "$run"
grep -q '^result=PASS$' <<<"$run" || { echo "C firmware verdicts wrong"; exit 1; }

read -r text data bss _ < <(arm-none-eabi-size "$out/firmware-c.elf" | tail -1)
instr() { sed -n "s/^op=$1 .* instructions=\([0-9]*\) .*/\1/p" <<<"$run"; }
handle=$(grep -o 'ITC_DEVICE_SIZE=[0-9]*' <<<"$run" | cut -d= -f2)
declare -A got=(
  [flash_bytes]=$text
  [static_ram_bytes]=$((data + bss))
  [peak_stack_bytes]=$(sed -n 's/^peak_stack=//p' <<<"$run")
  [command_fresh_header_instr]=$(( $(instr header) + $(instr ownership_proof) + $(instr cmd_owner) ))
  [command_cached_instr]=$(instr cmd_owner_cached)
)
declare -A limit=()
while read -r name max _; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  [[ -n "${got[$name]:-}" ]] || { echo "budget.txt: no measurement for $name"; exit 1; }
  limit[$name]=$max
done < budget.txt

status=0
: > "$out/figures.txt"
for name in flash_bytes static_ram_bytes peak_stack_bytes command_fresh_header_instr \
  command_cached_instr; do
  v=${got[$name]:?"no measurement for $name"}
  if [[ -n "${limit[$name]:-}" ]]; then
    verdict=ok; (( v <= limit[$name] )) || { verdict=OVER; status=1; }
    line=$(printf '%-28s %10s / %-10s %s' "$name" "$v" "${limit[$name]}" "$verdict")
  else
    line=$(printf '%-28s %10s' "$name" "$v")
    [[ $name == static_ram_bytes ]] && line+="   (of which device handle $handle)"
  fi
  echo "$line" | tee -a "$out/figures.txt"
done
(( status == 0 )) || echo "C firmware over budget (budget.txt)"
exit $status
