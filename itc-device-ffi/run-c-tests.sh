#!/usr/bin/env bash
# Builds the host static library (release profile) and tests/c/test_device.c with gcc and
# -fsanitize=address,undefined, then runs it on the firmware fixtures: the C program must
# reach the Rust firmware's verdicts. Respects CARGO_TARGET_DIR (found via cargo metadata).
# Prints the size of the staticlib. Needs gcc and python3.
set -euo pipefail
cd "$(dirname "$0")"
command -v gcc >/dev/null || { apt-get update -qq && apt-get install -y -qq gcc >/dev/null; }

target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
cargo build -p itc-device-ffi --release --lib
lib="$target_dir/release/libitc_device_ffi.a"
out="$target_dir/c-tests"
mkdir -p "$out"

gcc -std=c11 -Wall -Wextra -Werror -O1 -g -fno-omit-frame-pointer \
  -fsanitize=address,undefined -fno-sanitize-recover=undefined \
  -I include tests/c/test_device.c "$lib" -lpthread -ldl -lm -o "$out/test_device"

# The header also compiles as C++ (extern "C", typed enum).
g++ -fsyntax-only -Wall -Wextra -Werror -x c++ include/itc_device.h

ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$out/test_device" ../firmware/fixtures
echo "host staticlib $(basename "$lib"): $(stat -c %s "$lib") bytes (release, with std)"
