#!/usr/bin/env bash
# Regenerates the C header into a temp file and fails if the committed
# include/itc_device.h differs (the header is the API: review its diff like code).
# Needs cbindgen (installed with `cargo install cbindgen --locked` if missing).
set -euo pipefail
cd "$(dirname "$0")"
command -v cbindgen >/dev/null || cargo install cbindgen --locked
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
cbindgen -q --config cbindgen.toml --crate itc-device-ffi --output "$tmp"
if ! diff -u include/itc_device.h "$tmp"; then
  echo "itc-device-ffi/include/itc_device.h is out of date; regenerate with:"
  echo "  (cd itc-device-ffi && cbindgen --config cbindgen.toml --crate itc-device-ffi --output include/itc_device.h)"
  exit 1
fi
echo "itc_device.h is up to date"
