#!/usr/bin/env bash
# Installs what is missing, builds sluice twice (plain, and with ASan+UBSan), and
# runs the whole suite (cmocka unit tests and integration tests) on both builds;
# then builds the libFuzzer targets with clang and gives each a short fixed run.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
tools/build.sh
tools/build.sh --sanitize
tools/build.sh --fuzz

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
status=0
for dir in build build-asan; do
    echo "=== tests on $dir"
    (cd "$dir" && ctest --output-on-failure -j 2 --timeout 300) || status=1
done
echo "=== fuzz targets on build-fuzz"
(cd build-fuzz && ctest --output-on-failure -j 2 -L fuzz) || status=1
exit $status
