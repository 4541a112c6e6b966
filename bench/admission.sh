#!/usr/bin/env bash
# admission.sh [--duration SECONDS] [--rounds N] [--connections N] [--body FILE]
# (defaults: $OG_BENCH_DURATION or 10 s per run, $OG_BENCH_ROUNDS or 5 rounds, 32 connections,
# tests/data/review-bitnami-create.json)
#
# Admission throughput of ocigate against an nginx baseline on loopback. Both serve HTTPS with
# the same fresh certificate (made by `ocigate certs`); ocigate runs in mutate mode with one
# worker thread, nginx with one worker returning a canned AdmissionReview response (the very
# bytes ocigate answers). Each server is pinned to CPU 0 and wrk to CPU 1 with taskset; wrk
# POSTs a real AdmissionReview (the captured Bitnami CREATE, which ocigate patches) over 32
# keep-alive connections. Both servers stay up and are driven in turns, round after round, so
# that a noisy neighbour hits both alike. Prints req/s, p50, p99 and server CPU per request for
# every run, the median ratios ocigate/nginx over the rounds and ocigate's peak RSS (VmHWM),
# and checks them against the goals: >= 0.8x nginx's req/s and CPU cost, p99 <= 2x nginx's,
# RSS <= 16 MiB (OG_GLIBC_TUNABLES, when set, is passed to ocigate). CPU per request is the
# steadier figure on a shared machine; a machine's speed can drift by a third within minutes, so
# the ratios are taken per round (both runs of a round share its speed) and their median over five
# rounds by default.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
bin=${OCIGATE_BIN:-$top/build/ocigate}
duration=${OG_BENCH_DURATION:-10}
rounds=${OG_BENCH_ROUNDS:-5}
conns=32
body=$top/tests/data/review-bitnami-create.json
while [ $# -gt 0 ]; do
    case "$1" in
    --duration) duration=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --body) body=$2; shift 2 ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "admission.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
for tool in wrk nginx taskset curl python3; do
    command -v "$tool" >/dev/null || { echo "admission.sh: $tool is missing (scripts/deps.sh bench)" >&2; exit 1; }
done
[ -x "$bin" ] || { echo "admission.sh: $bin is not built (make build)" >&2; exit 1; }

work=$(mktemp -d /tmp/ocigate-bench.XXXXXX)
og_pid=
ngx_pid=
cleanup() {
    [ -n "$og_pid" ] && kill -TERM "$og_pid" 2>/dev/null && wait "$og_pid" 2>/dev/null
    [ -n "$ngx_pid" ] && kill -QUIT "$ngx_pid" 2>/dev/null && wait "$ngx_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# CPU 0 serves, CPU 1 drives; on a single CPU nothing is pinned.
if [ "$(nproc)" -ge 2 ]; then
    pin_srv=(taskset -c 0)
    pin_wrk=(taskset -c 1)
else
    pin_srv=()
    pin_wrk=()
    echo "note: one CPU only; nothing pinned" >&2
fi

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

"$bin" certs --out "$work/certs" >/dev/null 2>&1

# wrk's summary -> "req/s p50_ms p99_ms non2xx".
parse_wrk() {
    python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    n, unit = float(m.group(1)), m.group(2)
    return n / 1000 if unit == "us" else n * 1000 if unit == "s" else n
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p50 = ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
p99 = ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
errs = re.search(r"Socket errors: (.*)", text)
print("%.1f %.3f %.3f %d %s" % (rps, p50, p99, int(bad.group(1)) if bad else 0,
                                 "errors:" + errs.group(1).replace(" ", "") if errs else "-"))
PY
}

# CPU ticks (user + system) used so far by a process and its children (nginx's worker).
cpu_ticks() {
    local total=0 p
    for p in "$1" $(ps -o pid= --ppid "$1"); do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    echo "$total"
}

# Server CPU microseconds per request: ticks spent during the wrk run over requests served.
cpu_per_req() { # ticks_before ticks_after wrk_file
    python3 - "$@" <<'PY'
import os, re, sys
before, after, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
n = int(re.search(r"(\d+) requests in", open(path).read()).group(1))
print("%.1f" % ((after - before) * 1e6 / os.sysconf("SC_CLK_TCK") / max(n, 1)))
PY
}

run_wrk() { # name url
    OG_BENCH_BODY=$body "${pin_wrk[@]}" wrk -t1 -c"$conns" -d"${duration}s" --latency \
        -s "$here/admission.lua" "$2" >"$work/wrk-$1.txt" 2>&1
    parse_wrk "$work/wrk-$1.txt"
}

# --- ocigate ---
og_port=$(free_port)
# OG_GLIBC_TUNABLES, when set, is passed on (e.g. to compare malloc settings).
GLIBC_TUNABLES=${OG_GLIBC_TUNABLES-} \
    "${pin_srv[@]}" "$bin" serve --listen "127.0.0.1:$og_port" --tls-cert "$work/certs/tls.crt" \
    --tls-key "$work/certs/tls.key" --mode mutate --threads 1 --drain 0 \
    2>"$work/ocigate.log" &
og_pid=$!
for _ in $(seq 100); do
    curl -sf --cacert "$work/certs/ca.crt" "https://127.0.0.1:$og_port/healthz" >/dev/null && break
    sleep 0.05
done
url_og="https://127.0.0.1:$og_port/mutate?timeout=10s"
curl -sf --cacert "$work/certs/ca.crt" -H 'Content-Type: application/json' --data-binary "@$body" \
    "$url_og" >"$work/response.json"
grep -q '"patchType":"JSONPatch"' "$work/response.json" ||
    { echo "admission.sh: ocigate did not patch the sample: $(cat "$work/response.json")" >&2; exit 1; }

# --- nginx, answering the bytes ocigate answered ---
case "$(cat "$work/response.json")" in
*\'* | *\$* | *\\*) echo "admission.sh: response has characters nginx's return cannot hold" >&2; exit 1 ;;
esac
ngx_port=$(free_port)
mkdir -p "$work/nginx-body"
python3 - "$here/nginx.conf.in" "$work/nginx.conf" "$work" "$ngx_port" "$work/response.json" <<'PY'
import sys
src, dst, work, port, resp = sys.argv[1:]
text = open(src).read().replace("@WORK@", work).replace("@PORT@", port)
text = text.replace("@BODY@", open(resp).read().strip())
open(dst, "w").write(text)
PY
"${pin_srv[@]}" nginx -p "$work" -e "$work/nginx-error.log" -c "$work/nginx.conf" &
ngx_pid=$!
for _ in $(seq 100); do
    curl -sf --cacert "$work/certs/ca.crt" -H 'Content-Type: application/json' \
        --data-binary "@$body" "https://127.0.0.1:$ngx_port/mutate" >/dev/null && break
    sleep 0.05
done
url_ngx="https://127.0.0.1:$ngx_port/mutate?timeout=10s"

# --- the runs: ocigate and nginx in turns, so that a noisy neighbour hits both alike ---
: >"$work/runs.txt"
for round in $(seq "$rounds"); do
    for who in ocigate nginx; do
        if [ "$who" = ocigate ]; then pid=$og_pid url=$url_og; else pid=$ngx_pid url=$url_ngx; fi
        t0=$(cpu_ticks "$pid")
        read -r rps p50 p99 bad err < <(run_wrk "$who-$round" "$url")
        cpu=$(cpu_per_req "$t0" "$(cpu_ticks "$pid")" "$work/wrk-$who-$round.txt")
        echo "$who $round $rps $p50 $p99 $cpu $bad $err" >>"$work/runs.txt"
    done
done
og_hwm_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$og_pid/status")
kill -TERM "$og_pid"
wait "$og_pid" || { echo "admission.sh: ocigate exited non-zero" >&2; exit 1; }
og_pid=
og_lines=$(grep -c '"msg":"admission"' "$work/ocigate.log" || true)
kill -QUIT "$ngx_pid"
wait "$ngx_pid" 2>/dev/null || true
ngx_pid=

python3 - "$work/runs.txt" "$og_hwm_kb" "$og_lines" "$duration" "$conns" <<'PY'
import statistics, sys
runs_path, hwm_kb, lines, duration, conns = sys.argv[1:]
runs = {"ocigate": [], "nginx": []}
for line in open(runs_path):
    who, rnd, rps, p50, p99, cpu, bad, err = line.split()
    runs[who].append(dict(rps=float(rps), p50=float(p50), p99=float(p99), cpu=float(cpu),
                          bad=int(bad), err=err))
print("%-8s %6s %10s %8s %8s %12s %7s  %s" % ("server", "round", "req/s", "p50_ms", "p99_ms",
                                             "cpu_us/req", "non200", "socket"))
for i in range(len(runs["ocigate"])):
    for who in ("ocigate", "nginx"):
        r = runs[who][i]
        print("%-8s %6d %10.1f %8.3f %8.3f %12.1f %7d  %s" % (who, i + 1, r["rps"], r["p50"],
                                                              r["p99"], r["cpu"], r["bad"], r["err"]))
# Ratios per round (the two runs of a round share the machine's mood), then their median.
med = lambda xs: statistics.median(xs)
rps_ratio = med([o["rps"] / n["rps"] for o, n in zip(runs["ocigate"], runs["nginx"])])
cpu_ratio = med([n["cpu"] / o["cpu"] for o, n in zip(runs["ocigate"], runs["nginx"])])
p99_ratio = med([o["p99"] / n["p99"] for o, n in zip(runs["ocigate"], runs["nginx"])])
for who in ("ocigate", "nginx"):
    rs = runs[who]
    print("%-8s median %10.1f %8.3f %8.3f %12.1f" % (who, med([r["rps"] for r in rs]),
          med([r["p50"] for r in rs]), med([r["p99"] for r in rs]), med([r["cpu"] for r in rs])))
rss = int(hwm_kb) / 1024
print("ratio ocigate/nginx (median of %d rounds): %.2f req/s; %.2f by CPU cost (nginx cpu/req "
      "over ocigate's); p99 %.2fx nginx's" % (len(runs["ocigate"]), rps_ratio, cpu_ratio, p99_ratio))
print("ocigate VmHWM: %.1f MiB; %s admission log lines; %ss per run, %s connections; load "
      "average %s" % (rss, lines, duration, conns, open("/proc/loadavg").read().split()[0]))
bad = sum(r["bad"] for rs in runs.values() for r in rs)
goals = [("req/s >= 0.8x", rps_ratio >= 0.8), ("CPU/req ratio >= 0.8", cpu_ratio >= 0.8),
         ("p99 <= 2x nginx's", p99_ratio <= 2.0), ("RSS <= 16 MiB", rss <= 16),
         ("all 200", bad == 0)]
print("goals: " + ", ".join("%s %s" % (n, "ok" if ok else "MISSED") for n, ok in goals))
PY
