#!/usr/bin/env bash
# Builds sluice: `tools/build.sh` into build/, `tools/build.sh --sanitize` into
# build-asan/ with AddressSanitizer and UBSan, `tools/build.sh --fuzz` into
# build-fuzz/ with clang and the libFuzzer targets (tests/fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build
opts=()
if [[ "${1:-}" == "--sanitize" ]]; then
    dir=build-asan
    opts=(-DSLUICE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
elif [[ "${1:-}" == "--fuzz" ]]; then
    dir=build-fuzz
    # clang's warnings are not gcc's: -Werror stays with the gcc builds
    opts=(-DSLUICE_FUZZ=ON -DSLUICE_WERROR=OFF -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang)
fi
cmake -S . -B "$dir" "${opts[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc)"
