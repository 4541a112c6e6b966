#!/usr/bin/env bash
# run.sh - runs every benchmark program of bench/ (bench_<name>.c, built by CMake into
# $BUILD, default ./build) and prints its figures. `make bench` builds first and calls this.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
found=0
for b in "$build"/bench_*; do
    [ -x "$b" ] || continue
    found=1
    echo "== $(basename "$b")"
    "$b"
done
if [ $found -eq 0 ]; then
    echo "run.sh: no bench_* programs in $build (run 'make build' first)" >&2
    exit 1
fi
