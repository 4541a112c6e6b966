#!/usr/bin/env bash
# index.sh [INDEX_FILE] - benchmark of `ocigate index analyze` against its floor and PyYAML.
#
# In one run, on the same bytes (default: the 29 MB scale index of the shared data):
#   (a) ocigate index analyze FILE            the streaming analyzer, as the CLI runs it
#   (b) bench/yaml_events FILE                a bare libyaml event loop: the floor for any
#                                             libyaml reader (same read(2) handler, no work)
#   (c) PyYAML CSafeLoader full load          /usr/bin/python3 + python3-yaml (timed inside
#                                             Python, so interpreter start-up is not counted)
# and prints best-of-N wall times, the ratios ocigate/raw (goal <= 1.25) and
# CSafeLoader/ocigate (goal >= 5), and ocigate's peak RSS on FILE against a baseline run on an
# empty index (goal: at most 8 MiB above). Exits 1 when a goal is missed.
#
# Environment: OCIGATE_BIN (default build/ocigate, built with `make build` when absent),
# RUNS (best of, default 5), CC (default cc), OG_SHARED_DATA (the shared data directory).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
shared=${OG_SHARED_DATA:-$top/../shared/data}
file=${1:-$shared/index/bitnami-scale-2024-oci.yaml}
runs=${RUNS:-5}
bin=${OCIGATE_BIN:-$top/build/ocigate}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ ! -r "$file" ]; then
    echo "index.sh: cannot read $file (pass an index file or set OG_SHARED_DATA)" >&2
    exit 2
fi
if [ ! -x "$bin" ]; then
    make -C "$top" build >&2
fi
# The floor is built with the same optimization level as ocigate's default build (-O2).
${CC:-cc} -O2 -o "$work/yaml_events" "$top/bench/yaml_events.c" \
    $(pkg-config --cflags --libs yaml-0.1)
printf 'apiVersion: v1\nentries: {}\n' >"$work/empty.yaml"

# once CMD...: the wall time of one run, in nanoseconds.
once() {
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null
    t1=$(date +%s%N)
    echo $((t1 - t0))
}

# best_pair: runs (a) and (b) alternately $runs times, so that both see the same machine
# load, and sets t_og and t_raw to their best times in seconds.
best_pair() {
    local a b best_a="" best_b=""
    for _ in $(seq "$runs"); do
        a=$(once "$bin" index analyze "$file")
        b=$(once "$work/yaml_events" "$file")
        if [ -z "$best_a" ] || [ "$a" -lt "$best_a" ]; then best_a=$a; fi
        if [ -z "$best_b" ] || [ "$b" -lt "$best_b" ]; then best_b=$b; fi
    done
    t_og=$(awk -v ns="$best_a" 'BEGIN { printf "%.4f", ns / 1e9 }')
    t_raw=$(awk -v ns="$best_b" 'BEGIN { printf "%.4f", ns / 1e9 }')
}

# Peak RSS in KiB of one run.
peak_rss() {
    /usr/bin/time -f %M -o "$work/rss" "$@" >/dev/null
    cat "$work/rss"
}

python_load() {
    /usr/bin/python3 - "$file" "$runs" <<'EOF'
import sys, time, yaml
path, runs = sys.argv[1], int(sys.argv[2])
best = None
for _ in range(runs):
    with open(path, "rb") as f:
        t0 = time.perf_counter()
        yaml.load(f, Loader=yaml.CSafeLoader)
        dt = time.perf_counter() - t0
    best = dt if best is None else min(best, dt)
print("%.4f" % best)
EOF
}

size=$(stat -c %s "$file")
echo "index:  $file ($size bytes), best of $runs"
"$bin" index analyze --human "$file" | sed 's/^/        /'

# Warm the page cache so that every contender reads from memory.
cat "$file" >/dev/null
best_pair
t_py=$(python_load)
rss_og=$(peak_rss "$bin" index analyze "$file")
rss_base=$(peak_rss "$bin" index analyze "$work/empty.yaml")
rss_raw=$(peak_rss "$work/yaml_events" "$file")

awk -v og="$t_og" -v raw="$t_raw" -v py="$t_py" -v r_og="$rss_og" -v r_base="$rss_base" \
    -v r_raw="$rss_raw" -v size="$size" 'BEGIN {
    ratio_raw = og / raw; ratio_py = py / og; delta = (r_og - r_base) / 1024
    printf "(a) ocigate index analyze   %8.4f s  %7.1f MB/s\n", og, size / og / 1e6
    printf "(b) raw libyaml event loop  %8.4f s  %7.1f MB/s\n", raw, size / raw / 1e6
    printf "(c) PyYAML CSafeLoader      %8.4f s  %7.1f MB/s\n", py, size / py / 1e6
    printf "ocigate / raw           %6.3f  (goal <= 1.25) %s\n", ratio_raw, (ratio_raw <= 1.25 ? "ok" : "MISSED")
    printf "CSafeLoader / ocigate   %6.2f  (goal >= 5)    %s\n", ratio_py, (ratio_py >= 5 ? "ok" : "MISSED")
    printf "peak RSS ocigate        %6d KiB on the index, %d KiB on an empty index: +%.2f MiB (goal <= 8) %s\n",
        r_og, r_base, delta, (delta <= 8 ? "ok" : "MISSED")
    printf "peak RSS raw loop       %6d KiB\n", r_raw
    ok = (ratio_raw <= 1.25 && ratio_py >= 5 && delta <= 8)
    exit(ok ? 0 : 1)
}'
