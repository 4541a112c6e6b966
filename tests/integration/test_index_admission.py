"""Live index analysis through the real daemon: a HelmRepository whose url no static rule
decides is analyzed by fetching <url>/index.yaml from tests/integration/indexsrv.py (on
127.0.0.1 only). Cold and warm cache, every mode, the admission budget under every fault
(slow drip, endless body, port closed, slow server), the SSRF guard (a refused address is
never connected to), SIGTERM with parked admissions, and the --index-* flags."""

import base64
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import ogtest
from ogtest import Server, Skip, check, eq

HERE = os.path.dirname(os.path.abspath(__file__))
BITNAMI_OCI = "oci://registry-1.docker.io/bitnamicharts"
ALLOW = ("--index-allow-cidr", "127.0.0.1/32")


class IndexServer:
    """tests/integration/indexsrv.py with a sentinel listener on 127.0.0.2."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "indexsrv.py"),
                                      "--sentinel", "127.0.0.2"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.port = int(self.proc.stdout.readline().split()[1])
        self.sentinel = int(self.proc.stdout.readline().split()[1])
        self.base = "http://127.0.0.1:%d" % self.port

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.stdin.close()
        self.proc.terminate()
        self.proc.wait()
        return False

    def stats(self):
        with urllib.request.urlopen(self.base + "/_stats", timeout=5) as r:
            return json.loads(r.read())

    def count(self, path):
        return self.stats()["requests"].get(path, 0)


def helmrepo(url, name="repo"):
    return {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": name, "namespace": "apps"},
            "spec": {"interval": "1h", "url": url}}


def review(obj, uid):
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": uid, "kind": {"group": "source.toolkit.fluxcd.io",
                                             "version": "v1", "kind": "HelmRepository"},
                        "resource": {"group": "source.toolkit.fluxcd.io", "version": "v1",
                                     "resource": "helmrepositories"},
                        "name": obj["metadata"]["name"], "namespace": "apps",
                        "operation": "CREATE",
                        "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
                        "object": obj, "oldObject": None, "dryRun": False}}


_UID = [0]


def admit(s, url, path="/mutate"):
    """Posts one admission for `url`; returns (response, seconds it took, its log line)."""
    _UID[0] += 1
    uid = "idx-%d" % _UID[0]
    t0 = time.monotonic()
    r = s.review(path, review(helmrepo(url), uid))
    took = time.monotonic() - t0
    eq(r.status, 200, "status of %s" % path)
    resp = r.json()["response"]
    eq(resp["uid"], uid, "uid echoed")
    line = None
    deadline = time.monotonic() + 5
    while line is None and time.monotonic() < deadline:
        line = next((l for l in s.log_lines() if l.get("uid") == uid), None)
        if line is None:
            time.sleep(0.02)
    check(line is not None, "an admission log line for " + uid)
    return resp, took, line


def patched(resp):
    ops = json.loads(base64.b64decode(resp["patch"]))
    return {op["path"]: op.get("value") for op in ops}


def index_name():
    """The affected index to serve: a real Bitnami subset when the shared data has it."""
    if os.path.exists(os.path.join(ogtest.DATA_DIR, "index",
                                   "bitnami-subset-redis-2025-01-13.yaml")):
        return "bitnami-subset-redis-2025-01-13"
    return "oci-small"


def wait_warm(s, url, timeout=10):
    """Admits `url` until its verdict is no longer pending; returns the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        resp, took, line = admit(s, url)
        if line.get("index") != "pending" or time.monotonic() > deadline:
            return resp, took, line
        time.sleep(0.1)


def test_cold_then_warm_mutate():
    with IndexServer() as ix, Server(*ALLOW, "--index-budget", "3s", mode="mutate") as s:
        name = index_name()
        url = "%s/repo/%s" % (ix.base, name)
        resp, took, line = admit(s, url)
        check(took < 3.0 + 1.0, "cold admission within the budget", took)
        eq(line.get("index_url"), url, "index_url logged")
        check(line.get("index") in ("oci", "pending"), "cold verdict", line)
        resp, took, line = wait_warm(s, url)
        eq(line.get("index"), "oci", "warm verdict")
        check(resp["allowed"], "allowed", resp)
        p = patched(resp)
        eq(p.get("/spec/url"), BITNAMI_OCI, "patched url")
        eq(p.get("/spec/type"), "oci", "patched type")
        eq(line.get("rule"), "index-points-to-oci", "rule")
        check(took < 1.0, "a warm admission is fast", took)
        # One fetch for all of it (single flight, then the cache).
        eq(ix.count("/repo/%s/index.yaml" % name), 1, "index fetched once")
        fetched = [l for l in s.log_lines() if l.get("msg") == "index analyzed"]
        eq(len(fetched), 1, "one 'index analyzed' line")
        eq(fetched[0].get("verdict"), "oci", "logged verdict")
        eq(fetched[0].get("oci_base"), BITNAMI_OCI, "logged base")


def check_mode_answer(mode, resp, line, what):
    """The answer an OCI verdict gets in `mode` (a PENDING one: allowed with a warning)."""
    if line.get("index") == "pending":
        check(resp["allowed"] and "patch" not in resp and resp.get("warnings"),
              what + ": pending is allowed with a warning", resp)
        return
    eq(line.get("index"), "oci", what + ": verdict")
    if mode == "mutate":
        check(resp["allowed"], what + ": allowed", resp)
        eq(patched(resp).get("/spec/url"), BITNAMI_OCI, what + ": patched url")
    elif mode == "audit":
        check(resp["allowed"] and "patch" not in resp, what + ": audit allows untouched", resp)
        check(resp.get("warnings") and resp.get("auditAnnotations"), what + ": audit warns",
              resp)
    elif mode == "enforce":
        eq(resp["allowed"], False, what + ": enforce denies")
        check(BITNAMI_OCI in resp["status"]["message"], what + ": denial names the OCI base",
              resp["status"]["message"][:300])


def test_every_mode_cold_then_warm():
    budget_ms = 1500
    with IndexServer() as ix:
        name = index_name()
        for mode in ("mutate", "audit", "enforce"):
            # A slow index makes the cold answer the pending one; a fast one may give OCI.
            for url in ("%s/delay/2500/%s" % (ix.base, name), "%s/repo/%s" % (ix.base, name)):
                with Server(*ALLOW, "--index-budget", "%dms" % budget_ms, mode=mode) as s:
                    resp, took, line = admit(s, url)
                    check(took < budget_ms / 1000.0 + 1.0, mode + ": cold within the budget",
                          took)
                    if "/delay/" in url:
                        eq(line.get("index"), "pending", mode + ": slow cold verdict")
                    check_mode_answer(mode, resp, line, mode + " cold")
                    resp, took, line = wait_warm(s, url)
                    eq(line.get("index"), "oci", mode + ": warm verdict")
                    check_mode_answer(mode, resp, line, mode + " warm")
        with Server(*ALLOW, mode="mutate") as s:
            url = "%s/repo/oci-small" % ix.base
            wait_warm(s, url)
            resp, _, line = admit(s, url, "/validate")
            check("patch" not in resp, "/validate never patches", resp)
        with Server(*ALLOW, mode="off") as s:
            resp, _, line = admit(s, url)
            check(resp["allowed"] and "patch" not in resp, "off allows", resp)
            check(line.get("index") is None, "off mode does not analyze", line)


def test_clean_index_is_left_alone():
    with IndexServer() as ix, Server(*ALLOW, mode="mutate") as s:
        resp, _, line = wait_warm(s, "%s/repo/http-small" % ix.base)
        eq(line.get("index"), "clean", "verdict")
        check(resp["allowed"] and "patch" not in resp, "allowed untouched", resp)


def test_mixed_index_is_never_patched():
    """An index that moved one chart to OCI and still releases another over https after it
    (tests/data/index/mixed-small.yaml): allowed untouched with warnings in every mode, unless
    --index-on-mixed moved treats it as moved."""
    with IndexServer() as ix:
        url = "%s/repo/mixed-small" % ix.base
        for mode in ("mutate", "audit", "enforce"):
            with Server(*ALLOW, mode=mode) as s:
                resp, _, line = wait_warm(s, url)
                eq(line.get("index"), "mixed", mode + ": verdict")
                eq(line.get("rule"), "index-mixed", mode + ": rule")
                check(resp["allowed"] and "patch" not in resp, mode + ": allowed untouched", resp)
                warnings = resp.get("warnings", [])
                eq(warnings[:3], ["ocigate: moved to OCI: redis",
                                  "ocigate: not patched: released over http(s) after the move: "
                                  "legacy-app",
                                  "ocigate: per moved chart: OCIRepository %s/<chart> + "
                                  "HelmRelease.spec.chartRef" % BITNAMI_OCI], mode + ": warnings")
                check(all(len(w) <= 120 for w in warnings), "warnings within 120", warnings)
                fetched = [l for l in s.log_lines() if l.get("msg") == "index analyzed"]
                eq(fetched[0].get("verdict"), "mixed", mode + ": logged verdict")
                check("yet 1 released over http(s)" in fetched[0].get("detail", ""),
                      mode + ": logged detail", fetched[0])
        with Server(*ALLOW, "--index-on-mixed", "moved", mode="mutate") as s:
            resp, _, line = wait_warm(s, url)
            eq(line.get("index"), "mixed", "moved: verdict")
            eq(line.get("rule"), "index-points-to-oci", "moved: rule")
            eq(patched(resp).get("/spec/url"), BITNAMI_OCI, "moved: patched url")
        with Server(*ALLOW, "--index-on-mixed", "moved", mode="enforce") as s:
            resp, _, line = wait_warm(s, url)
            eq(resp["allowed"], False, "moved: enforce denies")


def test_budget_is_kept_in_every_fault():
    budget_ms = 400
    with IndexServer() as ix, Server(*ALLOW, "--index-budget", "%dms" % budget_ms,
                                     "--index-timeout", "20s", mode="mutate") as s:
        down = "http://127.0.0.1:%d" % closed_port()
        faults = {"slow drip": ix.base + "/drip/100", "endless": ix.base + "/endless",
                  "slow server": ix.base + "/delay/3000/oci-small", "down": down,
                  "huge": ix.base + "/huge"}
        for what, url in faults.items():
            resp, took, line = admit(s, url)
            check(took < budget_ms / 1000.0 + 1.0, what + ": answered within the budget", took)
            check(resp["allowed"], what + ": allowed (on_unknown allow)", resp)
            check("patch" not in resp, what + ": not patched", resp)
            check(line.get("index") in ("pending", "unknown"), what + ": verdict", line)
            if line.get("index") == "pending":
                check(resp.get("warnings"), what + ": pending warns", resp)
        # The slow fetch completes into the cache for the next admission.
        time.sleep(3.0)
        resp, took, line = wait_warm(s, faults["slow server"])
        eq(line.get("index"), "oci", "verdict once the slow fetch landed")
        eq(patched(resp).get("/spec/url"), BITNAMI_OCI, "patched after the slow fetch")


def test_on_unknown_deny_in_enforce():
    with IndexServer() as ix, Server(*ALLOW, "--index-budget", "200ms",
                                     "--index-on-unknown", "deny", mode="enforce") as s:
        resp, took, line = admit(s, ix.base + "/delay/2000/http-small")
        check(took < 1.2, "within the budget", took)
        eq(line.get("index"), "pending", "verdict")
        eq(resp["allowed"], False, "denied while unknown")


def test_failures_are_unknown_with_detail():
    with IndexServer() as ix, Server(*ALLOW, mode="mutate") as s:
        for path, detail in (("/status/401", "HTTP 401"), ("/status/404", "HTTP 404"),
                             ("/status/503", "HTTP 503"), ("/garbage", "not a Helm index"),
                             ("/loop", "more than 3 redirects"),
                             ("/to/http%3A%2F%2F169.254.169.254%2Flatest%2F",
                              "address 169.254.169.254 is not allowed"),
                             ("/to/http%3A%2F%2F10.0.0.1%2F", "address 10.0.0.1 is not allowed")):
            resp, _, line = wait_warm(s, ix.base + path)
            eq(line.get("index"), "unknown", path + " verdict")
            check(detail in line.get("index_detail", ""), path + " detail", line)
            check(resp["allowed"] and "patch" not in resp, path + " allowed", resp)


def test_refused_addresses_are_never_connected():
    with IndexServer() as ix, Server(*ALLOW, mode="mutate") as s:
        direct = "http://127.0.0.2:%d" % ix.sentinel
        redirect = ix.base + "/to/" + urllib.parse.quote(direct + "/index.yaml", safe="")
        for url in (direct, redirect):
            resp, _, line = wait_warm(s, url)
            eq(line.get("index"), "unknown", "verdict for " + url)
            eq(line.get("index_detail"), "address 127.0.0.2 is not allowed", "detail")
        eq(ix.stats()["sentinel_connections"], 0, "connections to the refused address")
    # Without an allowed CIDR even the loopback test server is refused by default.
    with IndexServer() as ix, Server(mode="mutate") as s:
        resp, _, line = wait_warm(s, ix.base + "/repo/oci-small")
        eq(line.get("index_detail"), "address 127.0.0.1 is not allowed", "default guard")
        eq(ix.stats()["connections"], 0, "connections with the default guard")


def test_allow_host_by_name():
    with IndexServer() as ix, Server("--index-allow-host", "LOCALHOST", mode="mutate") as s:
        resp, _, line = wait_warm(s, "http://localhost:%d/repo/oci-small" % ix.port)
        eq(line.get("index"), "oci", "allowed by host name")


def test_index_disabled():
    with IndexServer() as ix, Server(*ALLOW, "--index-enabled", "false", mode="mutate") as s:
        resp, _, line = admit(s, ix.base + "/repo/oci-small")
        check(resp["allowed"] and "patch" not in resp, "allowed untouched", resp)
        time.sleep(0.3)
        eq(ix.stats()["connections"], 0, "no fetch when disabled")


def test_sigterm_resumes_parked_admissions():
    with IndexServer() as ix:
        s = Server(*ALLOW, "--index-budget", "20s", mode="mutate", drain=0)
        out = {}

        def slow():
            out["r"] = admit(s, ix.base + "/delay/15000/oci-small")

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        s.stop()
        t.join(10)
        check(not t.is_alive(), "the parked admission was answered")
        resp, took, line = out["r"]
        check(time.monotonic() - t0 < 3, "stopped promptly")
        eq(line.get("index"), "pending", "answered as pending")
        s.__exit__(None, None, None)


def test_ipv6_allow_host_flag_like_the_file():
    """--index-allow-host fd00::5 is accepted, as index.allowHosts: ["fd00::5"] is."""
    with Server("--index-allow-host", "fd00::5", "--index-allow-host", "charts.example.com",
                mode="mutate") as s:
        eq(s.request("GET", "/healthz").status, 200, "serving with an IPv6 allow-host")


def test_flag_errors():
    bin_ = os.environ.get("OCIGATE_BIN")
    if not bin_:
        raise Skip("OCIGATE_BIN is not set")
    c = ogtest.certs()
    for flags, msg in ((["--index-allow-cidr", "10.0.0.0/33"], "prefix length"),
                       (["--index-allow-cidr", "10.1.0.0/8"], "host bits"),
                       (["--index-threshold", "most"], "newest or any"),
                       (["--index-on-unknown", "maybe"], "allow or deny"),
                       (["--index-enabled", "yes"], "true or false"),
                       (["--index-budget", "25001ms"],
                        "--index-budget: duration \"25001ms\" is out of range (0s to 25s)"),
                       (["--index-connect-timeout", "99ms"], "(100ms to 1m)"),
                       (["--index-max-bytes", "2G"], "--index-max-bytes: size \"2G\""),
                       (["--index-max-fetches", "0"], "(1 to 4096)"),
                       (["--index-max-fetches-per-host", "x"], "--index-max-fetches-per-host"),
                       (["--index-allow-host", "http://x"], "host name"),
                       (["--index-allow-host", "[fd00::5]"],
                        "--index-allow-host: invalid host \"[fd00::5]\""),
                       (["--index-ttl", "60"], "--index-ttl: invalid duration \"60\""),
                       (["--index-budget-ms", "1500"], "renamed to --index-budget"),
                       (["--index-timeout-ms", "1500"], "renamed to --index-timeout"),
                       # Without a value too (it used to say only "needs a value").
                       (["--index-budget-ms"], "renamed to --index-budget"),
                       (["--index-connect-timeout-ms=3000"], "renamed to --index-connect-timeout"),
                       (["--max-body", "1G"], "--max-body: size \"1G\" is out of range"),
                       (["--index-ttl"], "needs a value")):
        p = subprocess.run([bin_, "serve", "--tls-cert", c.cert, "--tls-key", c.key] + flags,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        eq(p.returncode, 2, "exit status for %r" % flags)
        check(msg in p.stderr.decode(), "message for %r" % flags, p.stderr.decode())


def test_config_file_settings_and_reload():
    with IndexServer() as ix:
        import tempfile
        d = tempfile.TemporaryDirectory(prefix="ogidx-")
        path = os.path.join(d.name, "ocigate.yaml")
        with open(path, "w") as f:
            f.write("index:\n  allowCIDRs: [\"127.0.0.1/32\"]\n  budget: 3s\n")
        # A reload applies the new file to fetches started after it; flags stay on top.
        with Server("--config", path, "--index-threshold", "any", mode="mutate") as s:
            resp, _, line = wait_warm(s, ix.base + "/repo/oci-small")
            eq(line.get("index"), "oci", "allowed by the file's allowCIDRs")
            with open(path + ".new", "w") as f:
                f.write("index:\n  allowCIDRs: []\n")
            os.rename(path + ".new", path)
            deadline = time.monotonic() + 10
            n = 0
            while True:
                n += 1
                # A new url each time (cached failures would hide the change): a 404 until
                # the reload, then refused by the guard.
                resp, _, line = wait_warm(s, ix.base + "/repo/missing%d" % n)
                if line.get("index_detail") == "address 127.0.0.1 is not allowed":
                    break
                check(time.monotonic() < deadline, "the reload took effect", line)
                time.sleep(0.2)
        d.cleanup()


def test_cli_analyze_url():
    bin_ = os.environ.get("OCIGATE_BIN")
    if not bin_:
        raise Skip("OCIGATE_BIN is not set")

    def analyze(*args):
        p = subprocess.run([bin_, "index", "analyze"] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    with IndexServer() as ix:
        rc, out, err = analyze("--allow-cidr", "127.0.0.1/32", ix.base + "/repo/oci-small")
        eq(rc, 0, "exit status: " + err)
        doc = json.loads(out)
        eq(doc["source"], ix.base + "/repo/oci-small/index.yaml", "source")
        eq(doc["verdict"]["state"], "oci", "verdict")
        eq(doc["verdict"]["ociBase"], BITNAMI_OCI, "base")
        rc, out, err = analyze("--human", "--allow-cidr=127.0.0.0/8",
                               ix.base + "/gzip/http-small/index.yaml")
        eq(rc, 0, "exit status: " + err)
        check("clean" in out.lower(), "human verdict", out)
        rc, out, err = analyze("--allow-host", "localhost",
                               "http://localhost:%d/repo/oci-small" % ix.port)
        eq(rc, 0, "allowed by name: " + err)
        for args, want_rc, msg in (
                ([ix.base + "/repo/oci-small"], 1, "address 127.0.0.1 is not allowed"),
                (["--allow-cidr", "127.0.0.1/32", ix.base + "/status/404"], 1, "HTTP 404"),
                (["--allow-cidr", "127.0.0.1/32", ix.base + "/garbage"], 2, "index.yaml"),
                (["--allow-cidr", "127.0.0.1/32", "--timeout", "1s", ix.base + "/drip/100"],
                 1, "timed out"),
                (["--allow-cidr", "127.0.0.1/33", ix.base + "/repo/oci-small"], 2, "prefix"),
                (["--allow-cidr"], 2, "needs a value"),
                (["--timeout", "5ms", ix.base], 2, "--timeout: duration \"5ms\" is out of range"),
                (["--timeout-ms", "1000", ix.base], 2, "renamed to --timeout"),
                (["--allow-host", "[::1]", ix.base], 2, "--allow-host: invalid host"),
                (["ftp://127.0.0.1/x"], 2, "scheme 'ftp' is not fetched"),
                (["http://user:pw@127.0.0.1/x"], 2, "credentials")):
            rc, out, err = analyze(*args)
            eq(rc, want_rc, "exit status of %r: %s" % (args, err))
            check(msg in err, "message of %r" % (args,), err)
        eq(ix.stats()["sentinel_connections"], 0, "sentinel untouched")


def test_two_hundred_slow_repositories_do_not_delay_a_healthy_one():
    """200 repositories drip their index (a byte a second) on 4 hosts (50
    each, under the default per-host cap) and all stay in flight; a healthy repository's
    first admission, with the default budget, then still gets the real verdict. With 16
    fetch threads the drips held them all and the healthy one was allowed unanalyzed."""
    import concurrent.futures
    drips = [IndexServer() for _ in range(4)]
    try:
        # A generous request deadline: 100 client threads handshaking at once on a loaded
        # machine (sanitizer builds) must not be cut; this test is about the fetches.
        with IndexServer() as hx, Server(*ALLOW, "--request-timeout", "60s",
                                         mode="mutate") as s:
            def drip_admission(i):
                url = "%s/drip/1000?repo=%d" % (drips[i % 4].base, i)
                r = s.review("/mutate", review(helmrepo(url, "drip%d" % i), "drip-%d" % i))
                return r.status
            t0 = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(max_workers=100) as pool:
                statuses = list(pool.map(drip_admission, range(200)))
            eq(statuses, [200] * 200, "every drip admission answered")
            active = sum(d.stats()["active"] for d in drips)
            check(active >= 190, "the drips are in flight at once", active)
            rss = "?"
            with open("/proc/%d/status" % s.proc.pid) as f:
                for l in f:
                    if l.startswith("VmRSS:"):
                        rss = l.split()[1]
            resp, took, line = admit(s, hx.base + "/repo/oci-small")
            eq(line.get("index"), "oci", "the healthy repository's first verdict")
            check(took < 1.5 + 0.5, "within the default budget", took)
            eq(patched(resp).get("/spec/url"), BITNAMI_OCI, "patched from the real verdict")
            print("# 200 drips in flight (%d at the servers, %.1fs after the first, ocigate RSS "
                  "%s KiB); healthy verdict in %.3fs" % (active, time.monotonic() - t0, rss, took),
                  flush=True)
    finally:
        for d in drips:
            d.__exit__(None, None, None)


def closed_port():
    import socket
    so = socket.socket()
    so.bind(("127.0.0.1", 0))
    port = so.getsockname()[1]
    so.close()
    return port


if __name__ == "__main__":
    ogtest.run(globals())
