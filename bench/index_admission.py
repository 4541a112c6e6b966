#!/usr/bin/python3
"""index_admission.py - what a warm index cache adds to an admission, end to end.

Starts tests/integration/indexsrv.py and `ocigate serve` (the built binary: $OCIGATE_BIN or
build/ocigate) on 127.0.0.1, warms the cache with one affected repository, then sends N
admissions over one keep-alive HTTPS connection for each of:
  warm-index   an http url decided by the cached index verdict (patched to OCI)
  static-rule  the Bitnami url, decided by the known-migrations table (no index lookup)
  index-off    the same http url with --index-enabled false (no lookup at all)
and prints the server-side latency (the admission log's latency_ms: decode, policy, encode,
plus the cache lookup for warm-index) and the client round trip, median and p99.

usage: bench/index_admission.py [N]
"""
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
os.environ.setdefault("OCIGATE_BIN", os.path.join(HERE, "..", "build", "ocigate"))

import ogtest  # noqa: E402
import test_index_admission as tia  # noqa: E402


def run(server, url, n):
    conn = server.conn()
    rtts = []
    uids = []
    for i in range(n):
        uid = "b-%s-%d" % (abs(hash(url)) % 10000, i)
        body = json.dumps(tia.review(tia.helmrepo(url), uid)).encode()
        t0 = time.perf_counter()
        r = server.review("/mutate", body, conn=conn)
        rtts.append((time.perf_counter() - t0) * 1e6)
        assert r.status == 200, r
        uids.append(uid)
    conn.close()
    time.sleep(0.3)
    lat = {l["uid"]: l for l in server.log_lines() if l.get("uid") in set(uids)}
    srv = [lat[u]["latency_ms"] * 1000 for u in uids if u in lat]
    kinds = {lat[u].get("index", "-") for u in uids if u in lat}
    return srv, rtts, kinds


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def report(name, srv, rtt, kinds):
    print("%-12s n=%d server median=%6.1f us p99=%7.1f us | round trip median=%6.1f us "
          "p99=%7.1f us | index=%s" % (name, len(srv), statistics.median(srv), pct(srv, 0.99),
                                       statistics.median(rtt), pct(rtt, 0.99),
                                       ",".join(sorted(kinds))))
    return statistics.median(srv)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tia.IndexServer() as ix:
        url = ix.base + "/repo/oci-small"
        with ogtest.Server(*tia.ALLOW, "--log-level", "info", mode="mutate") as s:
            tia.wait_warm(s, url)
            run(s, url, 200)  # warm the connection path too
            warm = report("warm-index", *run(s, url, n))
            static = report("static-rule", *run(s, "https://charts.bitnami.com/bitnami", n))
        with ogtest.Server(*tia.ALLOW, "--index-enabled", "false", mode="mutate") as s:
            run(s, url, 200)
            off = report("index-off", *run(s, url, n))
    # warm-index and static-rule give the same patch and warnings; index-off gives neither.
    print("server median: warm index vs static rule (same answer) %+.1f us; "
          "vs index off (no patch) %+.1f us" % (warm - static, warm - off))


if __name__ == "__main__":
    main()
