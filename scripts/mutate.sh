#!/usr/bin/env bash
# mutate.sh - mutation testing: plants each single-line bug of a list (tests/mutations.txt)
# one at a time, rebuilds, runs the tests, and says whether the suite noticed (killed) or not
# (survived).
#
# Usage: scripts/mutate.sh [--list FILE] [--only REGEX] [--jobs N] [--timeout S] [--full]
#                          [--no-baseline] [--check]
#   --list FILE    the mutation list (default tests/mutations.txt)
#   --only REGEX   run only the entries whose id or file matches REGEX (grep -E)
#   --jobs N       parallel compile jobs and tests (default 1: the machine is shared)
#   --timeout S    per test (ctest --timeout; default 120); a mutation's whole run gets 10x
#   --full         for a mutation the targeted tests miss, run the integration tests too
#                  (default: the entry's `tests:` (unit and integration), then every unit test)
#   --no-baseline  skip the unmutated run that checks the tests pass before mutating
#   --check        only check the list (each pattern matches exactly one line); build nothing
#
# The working tree is never written: the sources are copied to build-mutate/src (only files
# whose content changed are copied, so rebuilds stay incremental), the mutation is made there
# and undone after each run, also on an error or Ctrl-C. build-mutate/build is the build dir
# (build-mutate/build-tsan and build-mutate/build-asan for entries with `build:`).
# At the end the script checks that `git status` and `git diff` of the tree are as they were.
#
# List format: entries separated by blank lines; '#' starts a comment line.
#   id: policy-migration-enabled     optional; default <file basename>:<entry number>
#   file: lib/policy.c               path in the repository
#   find: return m->enabled ? m : NULL;
#                                    a literal text that must occur on exactly one line
#   replace: return m;               what that text becomes (empty: deleted)
#   tests: policy                    ctest -R regex of the tests to run first (optional)
#   build: tsan                      build it under ThreadSanitizer (tsan) or ASan+UBSan
#                                    (asan) instead of RelWithDebInfo (optional; for bugs
#                                    only a sanitizer sees, such as a lock that is skipped)
#   equivalent: reason               the mutation cannot change behaviour (optional)
#
# Output: one line per mutation (KILLED / SURVIVED / ERROR), then the kill rate over the
# non-equivalent entries. Exits 1 when a non-equivalent mutation survives or an entry is
# broken (pattern not matching exactly one line, mutated code not building), else 0.
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LIST=$ROOT/tests/mutations.txt
ONLY=
JOBS=1
TIMEOUT=120
FULL=0
BASELINE=1
CHECK=0

die() {
    echo "mutate.sh: $*" >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case $1 in
    --list) LIST=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --full) FULL=1; shift ;;
    --no-baseline) BASELINE=0; shift ;;
    --check) CHECK=1; shift ;;
    -h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
done
[ -f "$LIST" ] || die "no list $LIST"
case $JOBS in '' | *[!0-9]* | 0) die "--jobs wants a positive number" ;; esac
case $TIMEOUT in '' | *[!0-9]* | 0) die "--timeout wants a positive number of seconds" ;; esac

# The tests look for the shared real-world data beside the source tree; the scratch copy has
# none beside it, so point them at the tree's.
if [ -z "${OG_SHARED_DATA:-}" ] && [ -d "$ROOT/../shared/data" ]; then
    export OG_SHARED_DATA=$(cd "$ROOT/../shared/data" && pwd)
fi

WORK=$ROOT/build-mutate
SRC=$WORK/src
BUILD=$WORK/build # the build of the entry at hand (build_dir)
LOG=$WORK/log
mkdir -p "$SRC" "$BUILD" "$LOG" || die "cannot create $WORK"

# --- The list -------------------------------------------------------------------------------
ids=() files=() finds=() repls=() tests=() equivs=() lines=() kinds=()
parse_list() {
    local n=0 line key val have=0 id= file= find= repl= hasrepl=0 tst= eqv= kind= at=0 lineno=0
    flush() {
        if [ $have -eq 1 ]; then
            n=$((n + 1))
            [ -n "$file" ] || die "$LIST:$at: entry without file:"
            [ -n "$find" ] || die "$LIST:$at: entry without find:"
            [ $hasrepl -eq 1 ] || die "$LIST:$at: entry without replace:"
            [ "$find" != "$repl" ] || die "$LIST:$at: replace: is the same as find:"
            case $kind in
            '' | tsan | asan) ;;
            *) die "$LIST:$at: build: is tsan or asan, not '$kind'" ;;
            esac
            [ -n "$id" ] || id="$(basename "$file"):$n"
            ids+=("$id") files+=("$file") finds+=("$find") repls+=("$repl") tests+=("$tst")
            equivs+=("$eqv") lines+=("$at") kinds+=("$kind")
        fi
        have=0 id= file= find= repl= hasrepl=0 tst= eqv= kind=
    }
    while IFS= read -r line || [ -n "$line" ]; do
        lineno=$((lineno + 1))
        case $line in '#'*) continue ;; esac
        if [ -z "${line//[[:space:]]/}" ]; then
            flush
            continue
        fi
        key=${line%%:*}
        [ "$key" != "$line" ] || die "$LIST:$lineno: expected 'key: value'"
        val=${line#*:}
        val=${val# }
        [ $have -eq 1 ] || at=$lineno
        have=1
        case $key in
        id) id=$val ;;
        file) file=$val ;;
        find) find=$val ;;
        replace) repl=$val; hasrepl=1 ;;
        tests) tst=$val ;;
        equivalent) eqv=$val ;;
        build) kind=$val ;;
        *) die "$LIST:$lineno: unknown key '$key'" ;;
        esac
    done <"$LIST"
    flush
}
parse_list
[ ${#ids[@]} -gt 0 ] || die "$LIST holds no mutations"
declare -A seen
for id in "${ids[@]}"; do
    [ -z "${seen[$id]:-}" ] || die "$LIST: id '$id' appears twice"
    seen[$id]=1
done

# The 1-based line of `find` in `path`, or an error text when it is not on exactly one line.
locate() {
    local path=$1 find=$2
    [ -f "$path" ] || { echo "no such file"; return 1; }
    FIND=$find awk 'index($0, ENVIRON["FIND"]) { n++; at = NR }
        END { if (n == 1) print at; else { printf "pattern matches %d lines\n", n; exit 1 } }' "$path"
}

# Rewrites line `at` of `path`: the first `find` on it becomes `repl`.
apply() {
    local path=$1 at=$2 find=$3 repl=$4
    FIND=$find REPL=$repl AT=$at awk 'NR == ENVIRON["AT"] + 0 {
            i = index($0, ENVIRON["FIND"])
            $0 = substr($0, 1, i - 1) ENVIRON["REPL"] substr($0, i + length(ENVIRON["FIND"]))
        } { print }' "$path" >"$path.mutant" && cat "$path.mutant" >"$path" && rm -f "$path.mutant"
}

sel=()
for i in "${!ids[@]}"; do
    if [ -z "$ONLY" ] || printf '%s\n%s\n' "${ids[$i]}" "${files[$i]}" | grep -Eq -- "$ONLY"; then
        sel+=("$i")
    fi
done
[ ${#sel[@]} -gt 0 ] || die "--only '$ONLY' selects nothing"

bad=0
for i in "${sel[@]}"; do
    if ! where=$(locate "$ROOT/${files[$i]}" "${finds[$i]}"); then
        echo "ERROR  ${ids[$i]}  ${files[$i]} ($LIST:${lines[$i]}): $where: ${finds[$i]}"
        bad=$((bad + 1))
    fi
done
if [ $CHECK -eq 1 ]; then
    echo "mutate.sh: ${#sel[@]} entries checked, $bad broken"
    [ $bad -eq 0 ]
    exit
fi

# --- Scratch copy, restore and the tree check -----------------------------------------------
tree_state() {
    { git -C "$ROOT" status --porcelain=v1 --untracked-files=all; git -C "$ROOT" diff; } |
        sha256sum
}
STATE0=$(tree_state)
CUR=       # the scratch file being mutated, while it is
CUR_ORIG=  # its unmutated copy
restore() {
    if [ -n "$CUR" ]; then
        cat "$CUR_ORIG" >"$CUR"
        rm -f "$CUR.mutant"
        CUR=
    fi
}
finish() {
    restore
    if [ "$(tree_state)" != "$STATE0" ]; then
        echo "mutate.sh: WARNING: git status/diff of $ROOT changed during the run" >&2
    fi
}
trap finish EXIT
trap 'echo; echo "mutate.sh: interrupted"; exit 130' INT TERM

# Copies the tracked and untracked (not ignored) files into $SRC, only those that differ. A
# copy gets the current time (not the source's, as `cp -p` would give it): a file edited before
# the last build, but copied after it, must still look newer than its objects to make.
sync_src() {
    local f
    (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard) |
        while IFS= read -r -d '' f; do
            [ -f "$ROOT/$f" ] || continue
            if ! cmp -s "$ROOT/$f" "$SRC/$f"; then
                mkdir -p "$SRC/$(dirname "$f")" && cp --preserve=mode "$ROOT/$f" "$SRC/$f"
            fi
        done
}

# The build directory for an entry's `build:` kind (empty: the default build).
build_dir() {
    echo "$WORK/build${1:+-$1}"
}

# Configures (once) the scratch copy's build dir for `kind`; sets BUILD.
setup_build() {
    local kind=$1 flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DOG_WERROR=ON)
    BUILD=$(build_dir "$kind")
    case $kind in
    tsan) flags=(-DCMAKE_BUILD_TYPE=Debug -DOG_WERROR=ON -DOG_SANITIZE=thread) ;;
    asan) flags=(-DCMAKE_BUILD_TYPE=Debug -DOG_WERROR=ON -DOG_SANITIZE=address,undefined) ;;
    esac
    if [ ! -f "$BUILD/CMakeCache.txt" ]; then
        cmake -S "$SRC" -B "$BUILD" "${flags[@]}" >"$LOG/configure${kind:+-$kind}.txt" 2>&1 ||
            die "configure failed (see $LOG/configure${kind:+-$kind}.txt)"
    fi
}

build() {
    cmake --build "$BUILD" -j "$JOBS" >"$LOG/build.txt" 2>&1
}

# Runs ctest with `args`; 0 when every test passed. The failing tests go to $LOG/failed.txt.
run_tests() {
    local out=$LOG/ctest.txt
    # --foreground keeps ctest in our process group, so that Ctrl-C reaches it at once (the
    # restore then runs); ctest's own --timeout ends hung tests.
    (cd "$BUILD" && timeout --foreground --kill-after=10 $((TIMEOUT * 10)) \
        ctest -j "$JOBS" --timeout "$TIMEOUT" "$@" >"$out" 2>&1)
    local rc=$?
    if [ $rc -eq 130 ]; then # ctest was interrupted (Ctrl-C): stop; the EXIT trap restores
        echo
        echo "mutate.sh: interrupted"
        exit 130
    fi
    grep -E '^\s+[0-9]+ - .* \((Failed|Timeout|SEGFAULT|Subprocess aborted|Child aborted|Exception)' \
        "$out" | sed -E 's/^\s+[0-9]+ - //' >"$LOG/failed.txt"
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        echo "(whole run timed out)" >>"$LOG/failed.txt"
    fi
    grep -q 'No tests were found' "$out" && return 0
    return $rc
}

echo "mutate.sh: ${#sel[@]} mutations from $LIST; scratch copy in $SRC"
sync_src
# The builds the selected entries need (the default one first), each built and checked once.
used_kinds=()
for kind in '' tsan asan; do
    for i in "${sel[@]}"; do
        if [ "${kinds[$i]}" = "$kind" ]; then
            used_kinds+=("$kind")
            break
        fi
    done
done
for kind in "${used_kinds[@]}"; do
    setup_build "$kind"
    build || die "the unmutated tree does not build${kind:+ ($kind)} (see $LOG/build.txt)"
    [ $BASELINE -eq 1 ] || continue
    regex=
    for i in "${sel[@]}"; do
        [ "${kinds[$i]}" = "$kind" ] && [ -n "${tests[$i]}" ] &&
            regex="${regex:+$regex|}(${tests[$i]})"
    done
    run_tests -L unit ||
        die "unit tests fail unmutated${kind:+ ($kind)}: $(tr '\n' ' ' <"$LOG/failed.txt")"
    if [ -n "$regex" ]; then
        run_tests -R "$regex" -LE unit ||
            die "tests fail unmutated${kind:+ ($kind)}: $(tr '\n' ' ' <"$LOG/failed.txt")"
    fi
    echo "mutate.sh: baseline passes${kind:+ ($kind)}"
done

killed=0 survived=0 eq_survived=0 eq_killed=0 errors=$bad
survivors=() eq_wrong=()
n=0
for i in "${sel[@]}"; do
    n=$((n + 1))
    id=${ids[$i]} file=${files[$i]}
    tag="[$n/${#sel[@]}] $id${kinds[$i]:+ (${kinds[$i]})}"
    BUILD=$(build_dir "${kinds[$i]}")
    if ! at=$(locate "$SRC/$file" "${finds[$i]}"); then
        continue # reported above
    fi
    t0=$SECONDS
    CUR_ORIG=$LOG/orig
    cp -p "$SRC/$file" "$CUR_ORIG"
    CUR=$SRC/$file
    apply "$CUR" "$at" "${finds[$i]}" "${repls[$i]}"
    status= why=
    excl=()
    [ -n "${tests[$i]}" ] && excl=(-E "${tests[$i]}")
    if ! build; then
        status=ERROR why="does not build (see $LOG/build-${id//\//_}.txt)"
        cp "$LOG/build.txt" "$LOG/build-${id//\//_}.txt"
    elif [ -n "${tests[$i]}" ] && ! run_tests -R "${tests[$i]}"; then
        status=KILLED
    elif ! run_tests -L unit "${excl[@]}"; then
        status=KILLED
    elif [ $FULL -eq 1 ] && ! run_tests -L integration "${excl[@]}"; then
        status=KILLED
    else
        status=SURVIVED
    fi
    [ $status = KILLED ] && why="by $(head -3 "$LOG/failed.txt" | tr '\n' ' ')"
    restore
    if [ -n "${equivs[$i]}" ]; then
        case $status in
        SURVIVED) eq_survived=$((eq_survived + 1)); why="(equivalent: ${equivs[$i]})" ;;
        KILLED) eq_killed=$((eq_killed + 1)); eq_wrong+=("$id"); why="$why (marked equivalent!)" ;;
        esac
    else
        case $status in
        SURVIVED) survived=$((survived + 1)); survivors+=("$id ($file:$at)") ;;
        KILLED) killed=$((killed + 1)) ;;
        esac
    fi
    [ $status = ERROR ] && errors=$((errors + 1))
    echo "$status  $tag  $file:$at  $((SECONDS - t0))s  $why"
done
# Rebuild unmutated, so that each build dir used matches the sources again.
for kind in "${used_kinds[@]}"; do
    BUILD=$(build_dir "$kind")
    build || true
done

total=$((killed + survived))
echo
if [ $total -gt 0 ]; then
    echo "mutate.sh: killed $killed of $total non-equivalent mutations" \
        "($(awk -v k=$killed -v t=$total 'BEGIN { printf "%.1f", 100 * k / t }')%);" \
        "$((eq_survived + eq_killed)) marked equivalent; $errors broken entries"
else
    echo "mutate.sh: no non-equivalent mutation ran; $errors broken entries"
fi
for s in ${survivors[@]+"${survivors[@]}"}; do echo "  survived: $s"; done
for s in ${eq_wrong[@]+"${eq_wrong[@]}"}; do echo "  killed but marked equivalent: $s"; done
[ $survived -eq 0 ] && [ $errors -eq 0 ] && [ $eq_killed -eq 0 ]
