#!/usr/bin/env bash
# fuzz-run.sh BUILD_DIR SECONDS [TARGET...] - runs each libFuzzer target of BUILD_DIR (built by
# `make fuzz`) for SECONDS seconds and prints a table of executions per target.
#
# Each target fuzz_<name> starts from its corpus tests/fuzz/corpus/<name>/ and, when present,
# its dictionary tests/fuzz/<name>.dict. New inputs go to a scratch corpus under
# BUILD_DIR/fuzz-work/<name>/ (the repository's corpus is only read), unless MERGE=1, which
# afterwards minimizes the scratch inputs that add coverage into the repository's corpus.
# A finding (crash, leak, timeout, out of memory, sanitizer report) stays in
# BUILD_DIR/fuzz-work/<name>/artifacts/ and makes the script exit 1.
#
# Environment: MERGE=1 as above; NICE (default 10) for the niceness of the runs; FUZZ_ARGS for
# more libFuzzer flags (e.g. "-max_len=65536").
set -u
if [ $# -lt 2 ]; then
    echo "usage: $0 BUILD_DIR SECONDS [TARGET...]" >&2
    exit 2
fi
build=$1
secs=$2
shift 2
src=$(cd "$(dirname "$0")/.." && pwd)
case "$secs" in
'' | *[!0-9]*)
    echo "fuzz-run: SECONDS must be a whole number of seconds, not '$secs'" >&2
    exit 2
    ;;
esac
if [ $# -gt 0 ]; then
    bins=()
    for t in "$@"; do bins+=("$build/fuzz_${t#fuzz_}"); done
else
    bins=("$build"/fuzz_*)
fi
# UBSan reports that the build does not make fatal would otherwise pass unnoticed.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

rows=()
failed=0
for bin in "${bins[@]}"; do
    if [ ! -x "$bin" ] || [ -d "$bin" ]; then
        echo "fuzz-run: no fuzz target $bin (run 'make fuzz' first)" >&2
        exit 2
    fi
    name=$(basename "$bin")
    target=${name#fuzz_}
    corpus=$src/tests/fuzz/corpus/$target
    work=$build/fuzz-work/$target
    mkdir -p "$work/corpus" "$work/artifacts" "$corpus"
    log=$work/run.log
    args=(-max_total_time="$secs" -print_final_stats=1 -timeout=25 -rss_limit_mb=2048
        -artifact_prefix="$work/artifacts/")
    [ -f "$src/tests/fuzz/$target.dict" ] && args+=(-dict="$src/tests/fuzz/$target.dict")
    # shellcheck disable=SC2206
    [ -n "${FUZZ_ARGS:-}" ] && args+=(${FUZZ_ARGS})
    before=$(find "$work/artifacts" -type f | wc -l)
    echo "fuzz-run: $target for ${secs}s (log: $log)" >&2
    # The scratch corpus comes first: libFuzzer writes new inputs to the first directory.
    nice -n "${NICE:-10}" "$bin" "${args[@]}" "$work/corpus" "$corpus" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    new=$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    found=$(($(find "$work/artifacts" -type f | wc -l) - before))
    if [ "$rc" -ne 0 ] && [ "$found" -eq 0 ]; then
        found=1 # a sanitizer report or an abort that left no artifact: the log has it
    fi
    if [ "$found" -gt 0 ]; then
        failed=1
        echo "fuzz-run: $target: FINDING (exit $rc); see $log and $work/artifacts/" >&2
        grep -m 3 -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" >&2
    elif [ "${MERGE:-0}" = 1 ]; then
        nice -n "${NICE:-10}" "$bin" -merge=1 "$corpus" "$work/corpus" >"$work/merge.log" 2>&1 ||
            echo "fuzz-run: $target: merge failed, see $work/merge.log" >&2
    fi
    rows+=("$(printf '%-20s %14s %10s %8s %6s %8s' "$target" "${execs:-?}" "${rate:-?}" \
        "${new:-?}" "${cov:-?}" "$found")")
done
printf '%-20s %14s %10s %8s %6s %8s\n' target executions exec/s new_units cov findings
printf '%s\n' "${rows[@]}"
exit "$failed"
