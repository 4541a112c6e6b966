#!/usr/bin/env bash
# run.sh - runs every benchmark: the programs of bench/ (bench_<name>.c, built by CMake into
# $BUILD, default ./build) and the scripts bench/admission.sh, bench/index.sh and
# bench/index_admission.py, and prints their figures. `make bench` builds first and calls this.
# OG_BENCH_DURATION sets the seconds of each load run of admission.sh (default 10).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=${BUILD:-$top/build}
found=0
status=0
for b in "$build"/bench_* "$here"/admission.sh "$here"/index.sh "$here"/index_admission.py; do
    [ -x "$b" ] || continue
    found=1
    echo "== $(basename "$b")"
    OCIGATE_BIN=${OCIGATE_BIN:-$build/ocigate} "$b" || status=1
done
if [ $found -eq 0 ]; then
    echo "run.sh: no benchmarks found (run 'make build' first)" >&2
    exit 1
fi
exit $status
