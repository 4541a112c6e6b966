#!/usr/bin/env bash
# checksrc.sh SRCDIR - the project's source checks (docs/STYLE.md, "Build and format"), as curl's
# checksrc: banned functions, variable-length arrays, assignment inside conditions, and
# clang-format conformance. Exits non-zero and names each offending line.
set -u
top=${1:-.}
cd "$top" || exit 2
mapfile -t files < <(git ls-files -co --exclude-standard -- 'lib/*.[ch]' 'server/*.[ch]' 'cli/*.[ch]' 'tests/*.[ch]' 2>/dev/null ||
    find lib server cli tests -name '*.[ch]')
status=0
prod=()
for f in "${files[@]}"; do
    [ -f "$f" ] || continue
    case "$f" in tests/*) ;; *) prod+=("$f") ;; esac
done
if [ ${#prod[@]} -gt 0 ]; then
    if grep -HnE '\b(sprintf|vsprintf|strcpy|strcat|strncpy|strtok|atoi|atol|atof|sscanf|gets|alloca)[[:space:]]*\(' "${prod[@]}" |
        grep -vE '(snprintf|vsnprintf)[[:space:]]*\(' ; then
        echo "checksrc: banned function (docs/STYLE.md, \"Build and format\")"
        status=1
    fi
    if grep -HnE '\b(if|while)[[:space:]]*\(.*[^=!<>]=[^=].*\)[[:space:]]*(\{|$)' "${prod[@]}" |
        grep -vE '\b(if|while)[[:space:]]*\(.*(==|!=|<=|>=)' | grep -vE '"[^"]*=[^"]*"'; then
        echo "checksrc: assignment inside a condition"
        status=1
    fi
    # The parenthesized form, `while ((c = next()) != -1)`, hidden from the check above.
    if grep -HnE '\b(if|while)[[:space:]]*\(.*\([[:space:]]*[A-Za-z_][A-Za-z0-9_.>-]*[[:space:]]*=[^=]' "${prod[@]}"; then
        echo "checksrc: assignment inside a condition"
        status=1
    fi
fi
if command -v clang-format >/dev/null 2>&1; then
    for f in "${files[@]}"; do
        [ -f "$f" ] || continue
        if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
            echo "checksrc: $f is not clang-formatted (run: clang-format -i $f)"
            status=1
        fi
    done
else
    echo "checksrc: clang-format not installed; formatting not checked"
fi
[ $status -eq 0 ] && echo "checksrc: ${#files[@]} files clean"
exit $status
