"""GET /metrics through the real daemon: the Prometheus text format 0.0.4 checked line by line
against its grammar (names, labels and escaping, HELP/TYPE once per family before its samples,
histograms with ascending cumulative buckets ending at +Inf, +Inf == _count), on the HTTPS port
and on the plain-HTTP --metrics-listen listener (which serves nothing else); counters and
histogram counts move as admissions are allowed, patched, denied or fail, as index fetches run
(tests/integration/indexsrv.py) and as the config reloads; and scrapes stay exact while
admissions run in parallel."""

import http.client
import math
import os
import re
import signal
import socket
import sys
import tempfile
import threading
import time

import ogtest
from ogtest import Server, check, eq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_index_admission import ALLOW, IndexServer, index_name, wait_warm  # noqa: E402

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)( -?[0-9]+)?\Z")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def parse_labels(text, where):
    """'{a="x",b="y\\"z"}' -> (("a", "x"), ("b", 'y"z')), checking the escapes."""
    check(text[0] == "{" and text[-1] == "}", "label braces", where)
    body, i, out = text[1:-1], 0, []
    while i < len(body):
        eqpos = body.index("=", i)
        name = body[i:eqpos]
        check(LABEL_NAME.match(name) and not name.startswith("__"), "label name", name, where)
        check(body[eqpos + 1] == '"', "label value quoted", where)
        j, value = eqpos + 2, []
        while body[j] != '"':
            if body[j] == "\\":
                esc = body[j + 1]
                check(esc in '\\"n', "label value escape", esc, where)
                value.append("\n" if esc == "n" else esc)
                j += 2
            else:
                check(body[j] != "\n", "raw newline in a label value", where)
                value.append(body[j])
                j += 1
        out.append((name, "".join(value)))
        i = j + 1
        if i < len(body):
            check(body[i] == ",", "label separator", where)
            i += 1
    names = [n for n, _ in out]
    check(len(names) == len(set(names)), "label names unique", where)
    return tuple(out)


def parse_value(text, where):
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    check(re.match(r"[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?\Z", text),
          "sample value", text, where)
    return float(text)


def family_of(name, types):
    """The family a sample name belongs to (histogram suffixes stripped when declared so)."""
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[:-len(suffix)] if name.endswith(suffix) else None
        if base and types.get(base) == "histogram":
            return base
    return name


def parse(text):
    """Checks `text` against the text format 0.0.4; returns ({family: type},
    {(name, labels): value})."""
    check(text.endswith("\n"), "text ends with a newline")
    types, helps, samples, seen_samples, done = {}, set(), {}, set(), set()
    current = None
    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = "line %d: %r" % (n, line)
        check(line != "" and line == line.strip(), "no blank or padded lines", where)
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                fam = parts[2]
                check(NAME.match(fam), "family name", where)
                check(fam not in seen_samples, "HELP/TYPE before the family's samples", where)
                if parts[1] == "HELP":
                    check(fam not in helps, "one HELP per family", where)
                    helps.add(fam)
                    help_text = parts[3] if len(parts) > 3 else ""
                    check(not re.search(r"\\[^\\n]", help_text.replace("\\\\", "")),
                          "HELP escapes", where)
                else:
                    check(fam not in types, "one TYPE per family", where)
                    check(len(parts) == 4 and parts[3] in TYPES, "TYPE value", where)
                    types[fam] = parts[3]
            continue
        m = SAMPLE.match(line)
        check(m, "sample line syntax", where)
        name, labels = m.group(1), parse_labels(m.group(2), where) if m.group(2) else ()
        fam = family_of(name, types)
        check(fam in types, "TYPE declared before samples", where)
        check(fam not in done, "a family's samples are contiguous", where)
        if current not in (None, fam):
            done.add(current)
        current = fam
        seen_samples.add(fam)
        if types[fam] == "counter":
            check(name.endswith("_total"), "counter name ends in _total", where)
        key = (name, labels)
        check(key not in samples, "no duplicate series", where)
        samples[key] = parse_value(m.group(3), where)
        check(not math.isnan(samples[key]) and samples[key] >= 0, "value >= 0", where)
    for fam, typ in types.items():
        check(fam in helps, "every family has HELP", fam)
        if typ == "histogram":
            check_histogram(fam, samples)
    return types, samples


def check_histogram(fam, samples):
    series = {}
    for (name, labels), v in samples.items():
        if name == fam + "_bucket":
            le = dict(labels).get("le")
            check(le is not None, "a bucket has le", labels)
            rest = tuple(l for l in labels if l[0] != "le")
            series.setdefault(rest, []).append((le, v))
    check(series, "histogram %s has buckets" % fam)
    for rest, buckets in series.items():
        les = [float(le.replace("+Inf", "inf")) for le, _ in buckets]
        check(les == sorted(les) and len(set(les)) == len(les), "le ascending", fam, les)
        eq(buckets[-1][0], "+Inf", "%s last bucket" % fam)
        counts = [v for _, v in buckets]
        check(counts == sorted(counts), "buckets cumulative", fam, counts)
        eq(samples.get((fam + "_count", rest)), counts[-1], "%s +Inf == _count" % fam)
        check((fam + "_sum", rest) in samples, "%s has _sum" % fam)


def scrape(s):
    r = s.request("GET", "/metrics")
    eq(r.status, 200, "GET /metrics status")
    eq(r.header("content-type"), CONTENT_TYPE, "Content-Type")
    return parse(r.body.decode("utf-8"))[1]


def plain(port, method, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, r.getheader("content-type"), r.read()
    finally:
        c.close()


def adm(endpoint, mode, rule, decision):
    return ("ocigate_admissions_total", (("endpoint", endpoint), ("mode", mode), ("rule", rule),
                                         ("decision", decision)))


def hist_count(samples, fam, **labels):
    return samples.get((fam + "_count", tuple(labels.items())), 0)


def helmrepo(url, rtype=None):
    spec = {"interval": "1h", "url": url}
    if rtype:
        spec["type"] = rtype
    return {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": "repo", "namespace": "apps"}, "spec": spec}


def review(obj, uid="m-1"):
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": uid, "kind": {"group": "source.toolkit.fluxcd.io", "version": "v1",
                                             "kind": "HelmRepository"},
                        "resource": {"group": "source.toolkit.fluxcd.io", "version": "v1",
                                     "resource": "helmrepositories"},
                        "name": "repo", "namespace": "apps", "operation": "CREATE",
                        "userInfo": {"username": "alice"}, "object": obj, "dryRun": False}}


ALLOWED = helmrepo("oci://ghcr.io/stefanprodan/charts", "oci")
PATCHED = helmrepo("https://charts.bitnami.com/bitnami")
DENIED = helmrepo("https://charts.example.com/stable", "oci")


def delta(after, before, key):
    return after.get(key, 0) - before.get(key, 0)


def test_https_scrape_moves_with_admissions():
    with Server(mode="mutate") as s:
        m0 = scrape(s)
        info = [(labels, v) for (name, labels), v in m0.items() if name == "ocigate_build_info"]
        eq(len(info), 1, "one build_info series")
        eq(info[0][1], 1.0, "build_info value")
        check(re.match(r"[0-9]+\.[0-9]+\.[0-9]+", dict(info[0][0])["version"]), "version", info)
        start = m0[("process_start_time_seconds", ())]
        check(abs(start - time.time()) < 120, "process start time is now-ish", start)
        for obj, want in ((ALLOWED, True), (PATCHED, True), (DENIED, False)):
            r = s.review("/mutate", review(obj))
            eq(r.status, 200, "admission status")
            eq(r.json()["response"]["allowed"], want, "allowed")
        eq(s.review("/validate", review(PATCHED)).status, 200, "validate status")
        eq(s.review("/mutate", b"{not json").status, 400, "bad review")
        eq(s.request("GET", "/nope").status, 404, "unknown path")
        m1 = scrape(s)
        eq(delta(m1, m0, adm("mutate", "mutate", "none", "allowed")), 1, "allowed")
        eq(delta(m1, m0, adm("mutate", "mutate", "known-migration", "patched")), 1, "patched")
        eq(delta(m1, m0, adm("mutate", "mutate", "oci-type-http-url", "denied")), 1, "denied")
        # /validate never patches: the same repository is allowed there (with a warning).
        eq(delta(m1, m0, adm("validate", "mutate", "known-migration", "allowed")), 1, "validate")
        eq(delta(m1, m0, adm("mutate", "mutate", "none", "error")), 1, "error (400)")
        fam = "ocigate_admission_duration_seconds"
        eq(hist_count(m1, fam, endpoint="mutate") - hist_count(m0, fam, endpoint="mutate"), 3,
           "mutate latency observations (decided admissions)")
        eq(hist_count(m1, fam, endpoint="validate") - hist_count(m0, fam, endpoint="validate"),
           1, "validate latency observations")
        code = "ocigate_http_responses_total"
        # The first scrape's own 200 was counted after it was written.
        eq(delta(m1, m0, (code, (("code", "2xx"),))), 5, "2xx responses")
        eq(delta(m1, m0, (code, (("code", "4xx"),))), 2, "4xx responses")
        eq(delta(m1, m0, (code, (("code", "5xx"),))), 0, "5xx responses")
        for name, _ in m1:
            check(name.startswith("ocigate_") or name.startswith("process_"), "prefix", name)
        r = s.request("HEAD", "/metrics")
        eq(r.status, 200, "HEAD /metrics")
        eq(s.request("POST", "/metrics").status, 405, "POST /metrics")


def test_plain_listener_serves_only_metrics():
    with Server("--metrics-listen", "127.0.0.1:0", mode="mutate") as s:
        host, _, port = s.wait_log("metrics listening")["addr"].rpartition(":")
        eq(host, "127.0.0.1", "metrics host")
        port = int(port)
        status, ctype, body = plain(port, "GET", "/metrics")
        eq(status, 200, "plain /metrics")
        eq(ctype, CONTENT_TYPE, "plain Content-Type")
        before = parse(body.decode())[1]
        s.review("/mutate", review(PATCHED))
        status, _, body = plain(port, "GET", "/metrics?x=1")
        eq(status, 200, "plain /metrics with a query")
        after = parse(body.decode())[1]
        eq(delta(after, before, adm("mutate", "mutate", "known-migration", "patched")), 1,
           "an HTTPS admission shows on the plain listener")
        for path in ("/healthz", "/readyz", "/mutate", "/validate", "/", "/metricsx"):
            eq(plain(port, "GET", path)[0], 404, "plain GET " + path)
        eq(plain(port, "POST", "/mutate")[0], 404, "plain POST /mutate")
        eq(plain(port, "POST", "/metrics")[0], 405, "plain POST /metrics")
        # TLS on the plain port is not served (the bytes are not HTTP): no answer but a close.
        try:
            s.ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5),
                              server_hostname="127.0.0.1").close()
            handshake = True
        except (OSError, ValueError):
            handshake = False
        check(not handshake, "no TLS handshake on the plain listener")
        # And the HTTPS port still serves /metrics too.
        eq(s.request("GET", "/metrics").status, 200, "HTTPS /metrics with a plain listener")


def test_bad_metrics_listen_refused():
    argv_bad = ("--metrics-listen", "127.0.0.1:notaport")
    try:
        Server(*argv_bad)
    except AssertionError as e:
        check("metrics" in str(e) or "port" in str(e), "a clear error", str(e)[:400])
    else:
        raise AssertionError("a bad --metrics-listen was accepted")


def test_index_fetch_metrics_move():
    with IndexServer() as ix, Server(*ALLOW, "--index-budget", "3s", mode="mutate") as s:
        m0 = scrape(s)
        url = "%s/repo/%s" % (ix.base, index_name())
        wait_warm(s, url)
        bad = "%s/status/404" % ix.base
        wait_warm(s, bad)
        m1 = scrape(s)
        eq(delta(m1, m0, ("ocigate_index_fetches_total", (("result", "oci"),))), 1, "oci fetch")
        eq(delta(m1, m0, ("ocigate_index_fetches_total", (("result", "unknown"),))), 1,
           "failed fetch")
        eq(hist_count(m1, "ocigate_index_fetch_duration_seconds"), 2, "fetch latency count")
        eq(m1[("ocigate_index_cache_entries", ())], 2, "cache entries")
        check(delta(m1, m0, ("ocigate_index_cache_misses_total", ())) >= 2, "misses")
        hits = m1[("ocigate_index_cache_hits_total", ())]
        s.review("/mutate", review(helmrepo(url), uid="again"))
        m2 = scrape(s)
        eq(m2[("ocigate_index_cache_hits_total", ())] - hits, 1, "a warm admission is a hit")
        eq(delta(m2, m1, adm("mutate", "mutate", "index-points-to-oci", "patched")), 1,
           "index rule in the admissions counter")


def test_config_reloads_counted():
    with tempfile.TemporaryDirectory(prefix="ogmetrics-") as d:
        cfg = os.path.join(d, "ocigate.yaml")
        with open(cfg, "w") as f:
            f.write("mode: audit\n")
        with Server("--config", cfg, mode=None) as s:
            m0 = scrape(s)
            ok = ("ocigate_config_reloads_total", (("result", "success"),))
            bad = ("ocigate_config_reloads_total", (("result", "failure"),))
            with open(cfg, "w") as f:
                f.write("mode: [not a mode\n")
            s.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while scrape(s).get(bad, 0) - m0.get(bad, 0) < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            with open(cfg, "w") as f:
                f.write("mode: enforce\n")
            s.send_signal(signal.SIGHUP)
            while scrape(s).get(ok, 0) - m0.get(ok, 0) < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            m1 = scrape(s)
            check(delta(m1, m0, bad) >= 1, "failed reload counted", m1.get(bad))
            check(delta(m1, m0, ok) >= 1, "successful reload counted", m1.get(ok))
            r = s.review("/mutate", review(PATCHED))
            eq(r.json()["response"]["allowed"], False, "enforce after the reload")
            eq(delta(scrape(s), m1, adm("mutate", "enforce", "known-migration", "denied")), 1,
               "the new mode shows as a label")


def test_scrapes_exact_under_parallel_admissions():
    """Bounded: 4 clients x 40 admissions on keep-alive connections, scraping meanwhile."""
    clients, per_client = 4, 40
    with Server("--metrics-listen", "127.0.0.1:0", mode="mutate") as s:
        port = int(s.wait_log("metrics listening")["addr"].rpartition(":")[2])
        key = adm("mutate", "mutate", "known-migration", "patched")
        m0 = scrape(s)
        errors = []

        def client():
            c = s.conn()
            try:
                for i in range(per_client):
                    r = s.review("/mutate", review(PATCHED, uid="p-%d" % i), conn=c)
                    if r.status != 200:
                        errors.append(r.status)
            except Exception as e:  # reported below
                errors.append(repr(e))
            finally:
                c.close()

        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        last, scrapes = m0.get(key, 0), 0
        while any(t.is_alive() for t in threads) or scrapes < 3:
            status, _, body = plain(port, "GET", "/metrics")
            eq(status, 200, "scrape during load")
            now = parse(body.decode())[1]
            check(now.get(key, 0) >= last, "counter monotonic", now.get(key, 0), last)
            last = now.get(key, 0)
            scrapes += 1
        for t in threads:
            t.join(timeout=60)
        eq(errors, [], "admission errors")
        m1 = scrape(s)
        eq(delta(m1, m0, key), clients * per_client, "every admission counted once")
        fam = "ocigate_admission_duration_seconds"
        eq(hist_count(m1, fam, endpoint="mutate") - hist_count(m0, fam, endpoint="mutate"),
           clients * per_client, "every admission observed once")


if __name__ == "__main__":
    ogtest.run(globals())
