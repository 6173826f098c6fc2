#!/usr/bin/env bash
# Builds sluice: `tools/build.sh` into build/, `tools/build.sh --sanitize` into
# build-asan/ with AddressSanitizer and UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build
opts=()
if [[ "${1:-}" == "--sanitize" ]]; then
    dir=build-asan
    opts=(-DSLUICE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
fi
cmake -S . -B "$dir" "${opts[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc)"
