#!/usr/bin/env bash
# run.sh - every benchmark of bench/ in turn (make bench). Arguments go to each script.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
status=0
for b in "$here"/admission.sh "$here"/index.sh; do
    [ -x "$b" ] || continue
    echo "== $(basename "$b")"
    "$b" "$@" || status=1
done
exit $status
