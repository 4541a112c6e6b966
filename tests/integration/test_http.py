"""HTTP front of `ocigate serve`: endpoints, bad input, TLS versions, keep-alive, timeouts,
concurrency. The policy itself is covered by test_policy.py."""

import atexit
import http.client
import json
import os
import socket
import ssl
import subprocess
import threading
import time

import ogtest
from ogtest import Server, Skip, captured, check, eq, fixture

SRV = None


def _kill_shared():
    """Never leaves the shared daemon behind (a failed test, or a run of selected tests)."""
    if SRV is not None and SRV.proc.poll() is None:
        SRV.proc.kill()
        SRV.proc.wait()


def server():
    """One daemon shared by the tests that do not need special flags."""
    global SRV
    if SRV is None:
        SRV = Server("--max-body", "4096", conn_timeout=3)
        atexit.register(_kill_shared)
    return SRV


def review_bytes():
    return fixture("review-bitnami-create.json")


def small_review(uid="u-1"):
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                       "request": {"uid": uid, "kind": {"group": "", "version": "v1",
                                                        "kind": "ConfigMap"},
                                   "operation": "CREATE", "namespace": "default", "name": "x",
                                   "object": {"apiVersion": "v1", "kind": "ConfigMap"}}}).encode()


def assert_error(resp, status, contains=None):
    eq(resp.status, status, "status of %r" % resp)
    body = resp.json()
    check(isinstance(body.get("error"), str) and body["error"], "error message", body)
    if contains:
        check(contains in body["error"], "error mentions %r" % contains, body)
    return body


def test_healthz_and_readyz():
    s = server()
    for path in ("/healthz", "/readyz", "/healthz?verbose=1"):
        r = s.request("GET", path)
        eq(r.status, 200, path)
        eq(r.json(), {"status": "ok"}, path)
    r = s.request("HEAD", "/healthz")
    eq(r.status, 200, "HEAD /healthz")
    eq(r.body, b"", "HEAD body")


def test_help_documents_every_flag():
    out = subprocess.run([ogtest.BIN, "serve", "--help"], capture_output=True, text=True)
    eq(out.returncode, 0, "serve --help exit status")
    for flag in ("--listen", "--tls-cert", "--tls-key", "--mode", "--max-body", "--threads",
                 "--conn-timeout", "--drain", "--log-level", "--max-conns"):
        check(flag in out.stdout, "help mentions " + flag, out.stdout)
    check("default" in out.stdout, "help gives defaults")
    bad = subprocess.run([ogtest.BIN, "serve", "--mode", "loud", "--tls-cert", "x",
                          "--tls-key", "y"], capture_output=True, text=True)
    eq(bad.returncode, 2, "bad --mode exit status")
    check("--mode" in bad.stderr, "bad --mode message", bad.stderr)
    bad = subprocess.run([ogtest.BIN, "serve", "--threads", "-1", "--tls-cert", "x",
                          "--tls-key", "y"], capture_output=True, text=True)
    eq(bad.returncode, 2, "bad --threads exit status")
    missing = subprocess.run([ogtest.BIN, "serve", "--listen", "127.0.0.1:0", "--tls-cert",
                              "/nonexistent.crt", "--tls-key", "/nonexistent.key"],
                             capture_output=True, text=True)
    eq(missing.returncode, 1, "missing certificate exit status")
    check("nonexistent.crt" in missing.stderr, "missing certificate named", missing.stderr)


def test_unknown_path_404():
    s = server()
    for path in ("/", "/mutate/", "/Mutate", "/validate/x", "/index.yaml"):
        assert_error(s.request("GET", path), 404)
    assert_error(s.review("/nope", review_bytes()), 404)


def test_wrong_method_405_with_allow():
    s = server()
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        r = s.request(method, "/mutate")
        assert_error(r, 405)
        eq(r.header("allow"), "POST", "Allow of /mutate")
    r = s.request("POST", "/healthz", b"{}", {"Content-Type": "application/json"})
    assert_error(r, 405)
    eq(r.header("allow"), "GET, HEAD", "Allow of /healthz")
    assert_error(s.request("DELETE", "/readyz"), 405)


def test_media_type_415():
    s = server()
    for ctype in ("text/plain", "application/jsonx", "text/json", "application/x-www-form-urlencoded",
                  "application/yaml", ""):
        r = s.review("/mutate", small_review(), content_type=ctype)
        assert_error(r, 415, "application/json")
    r = s.request("POST", "/validate", small_review())  # no Content-Type at all
    assert_error(r, 415)
    for ctype in ("application/json", "application/json; charset=utf-8", "APPLICATION/JSON",
                  "Application/Json;charset=UTF-8", " application/json "):
        r = s.review("/validate", small_review(), content_type=ctype)
        eq(r.status, 200, "status for Content-Type %r: %r" % (ctype, r))


def test_bad_review_400():
    s = server()
    cases = [b"{not json", b"", b"[]", b"{}", b'{"request":{}}', b'{"request":null}',
             b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":""}}',
             b"null", b"\xff\xfe", b'{"request":{"uid":"x"', b"0" * 100]
    for body in cases:
        for path in ("/mutate", "/validate"):
            r = s.review(path, body)
            err = assert_error(r, 400)
            check(len(err["error"]) < 600, "short error", err)
    # The diagnostic names the problem.
    assert_error(s.review("/mutate", b"{}"), 400, "request")


def test_body_cap_413():
    s = server()  # --max-body 4096
    # Announced too big: answered from the headers alone, before any body byte.
    sock = s.tls_socket()
    sock.sendall(b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 999999999\r\n\r\n")
    resp = http.client.HTTPResponse(sock)
    resp.begin()
    eq(resp.status, 413, "status for a large Content-Length")
    check(b"4096" in resp.read(), "413 names the cap")
    sock.close()
    # Announced size over the cap, body sent anyway.
    assert_error(s.review("/mutate", b" " * 5000), 413, "4096")
    # Chunked: the accumulated size is what counts.
    c = s.conn()
    c.request("POST", "/mutate", body=iter([b"{" + b" " * 2000, b" " * 2000, b" " * 2000 + b"}"]),
              headers={"Content-Type": "application/json"}, encode_chunked=True)
    r = ogtest._collect(c.getresponse())
    assert_error(r, 413)
    c.close()
    # Exactly at the cap is fine.
    body = small_review()
    body = body[:-1] + b" " * (4096 - len(body)) + b"}"
    eq(len(body), 4096, "padded size")
    eq(s.review("/mutate", body).status, 200, "a body of exactly --max-body")


def test_max_body_is_a_quantity_in_flag_and_file():
    """--max-body 8M and maxBodyBytes: 8M both mean 8000000 bytes (M is 10^6, Mi 2^20)."""
    import tempfile
    d = tempfile.TemporaryDirectory(prefix="ogcfg-")
    path = os.path.join(d.name, "ocigate.yaml")
    with open(path, "w") as f:
        f.write("maxBodyBytes: 8M\n")
    for args in (("--max-body", "8M"), ("--config", path)):
        with Server(*args) as s:
            for length, want in ((8000001, 413), (8 << 20, 413)):
                sock = s.tls_socket()
                sock.sendall(b"POST /mutate HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % length)
                resp = http.client.HTTPResponse(sock)
                resp.begin()
                eq(resp.status, want, "%r: status for Content-Length %d" % (args, length))
                check(b"8000000" in resp.read(), "%r: 413 names the cap" % (args,))
                sock.close()
    d.cleanup()


def test_large_body_streams_through_small_pool():
    """A 1 MiB review streams through libmicrohttpd's 16 KiB connection pool and TLS records."""
    with Server("--max-body", "2M", conn_timeout=5) as s:
        body = small_review("big-1")
        body = body[:-1] + b" " * (1 << 20) + b"}"
        c = s.conn(timeout=20)
        for _ in range(3):  # keep-alive after a large body too
            r = s.review("/mutate", body, conn=c)
            eq(r.status, 200, "status of a 1 MiB review")
            eq(r.json()["response"]["uid"], "big-1", "uid")
        c.close()


def test_query_string_ignored():
    s = server()
    r = s.review("/mutate?timeout=10s", small_review("q-1"))
    eq(r.status, 200, "status with a query")
    eq(r.json()["response"]["uid"], "q-1", "uid")
    eq(s.request("GET", "/readyz?x=1&y").status, 200, "readyz with a query")


def test_keep_alive_many_requests_one_connection():
    s = server()
    c = s.conn()
    seen = set()
    statuses = []
    for i in range(6):
        for method, path, body, ctype in (("GET", "/healthz", None, None),
                                          ("POST", "/mutate", small_review("k-%d" % i), "application/json"),
                                          ("POST", "/validate", review_bytes(), "application/json"),
                                          ("POST", "/nope", b"{}", "application/json"),
                                          ("POST", "/mutate", b"{}", "text/plain"),
                                          ("POST", "/mutate", b"{bad", "application/json"),
                                          ("PUT", "/mutate", b"x", "application/json")):
            headers = {"Content-Type": ctype} if ctype else {}
            r = s.request(method, path, body, headers, conn=c)
            statuses.append(r.status)
            if r.status == 200 and ctype is not None:  # each answer is its own request's
                eq(r.json()["response"]["uid"], json.loads(body)["request"]["uid"], "uid")
            check(r.header("connection") != "close", "connection kept open after %d" % r.status)
            seen.add(c.sock.getsockname())
    eq(len(seen), 1, "one TCP connection for every request")
    eq(sorted(set(statuses)), [200, 400, 404, 405, 415], "statuses")
    c.close()


def _long_name_review(uid, n):
    """A review of a HelmRepository with an oci:// url and no type: its denial (enforce mode)
    quotes the name of `n` bytes, so the answer is that large."""
    rv = json.loads(review_bytes())
    rv["request"]["uid"] = uid
    rv["request"]["name"] = rv["request"]["object"]["metadata"]["name"] = "n" * n
    rv["request"]["object"]["spec"]["url"] = "oci://ghcr.io/x/charts"
    return json.dumps(rv).encode()


def test_answers_on_one_connection_are_each_their_own():
    """A connection reuses libmicrohttpd's response object for an answer of the same address
    and length as the one before (httpd.c queue()): every answer still carries its own bytes,
    whether the length repeats or changes, and after answers too large for the connection to
    keep their buffer (the next one is written elsewhere, at the same length)."""
    with Server("--max-body", "1M", mode="enforce") as s:
        c = s.conn(timeout=20)
        for between in (False, True):
            for uid, body, denied in (("a-1", small_review("a-1"), False),
                                      ("a-2", small_review("a-2"), False),
                                      ("b-33", small_review("b-33"), False),
                                      ("big-1", _long_name_review("big-1", 30000), True),
                                      ("big-2", _long_name_review("big-2", 30000), True),
                                      ("big-3", _long_name_review("big-3", 29999), True),
                                      ("a-3", small_review("a-3"), False)):
                r = s.review("/mutate", body, conn=c)
                eq(r.status, 200, "status of " + uid)
                out = r.json()["response"]
                eq(out["uid"], uid, "uid")
                eq(out["allowed"], not denied, "allowed of " + uid)
                if denied:
                    check(("n" * 29999) in out["status"]["message"], "the name quoted", uid)
                if between:  # a static answer between two admissions
                    r = s.request("GET", "/healthz", conn=c)
                    eq(r.json(), {"status": "ok"}, "healthz between")
        c.close()


def test_captured_v1_and_v1beta1_reviews():
    s = server()
    for name in ("helmrepository-v1-create.json", "helmrepository-v1beta1-create.json",
                 "helmrepository-v1-update-ssa.json", "helmrepository-v1-update-ssa-dryrun.json",
                 "helmrepository-v1-delete.json"):
        raw = captured(name)
        req = json.loads(raw)
        for path in ("/mutate?timeout=5s", "/validate?timeout=5s"):
            r = s.review(path, raw)
            eq(r.status, 200, "%s %s: %r" % (name, path, r))
            out = r.json()
            eq(out["apiVersion"], req["apiVersion"], name + " apiVersion echoed")
            eq(out["kind"], "AdmissionReview", name + " kind")
            eq(out["response"]["uid"], req["request"]["uid"], name + " uid")
            check(isinstance(out["response"]["allowed"], bool), "allowed is a bool", out)


def test_tls_1_1_refused_1_2_and_1_3_accepted():
    s = server()
    # openssl s_client fails the handshake when only TLS 1.1 is offered.
    out = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % s.port, "-tls1_1",
                          "-cipher", "DEFAULT@SECLEVEL=0", "-CAfile", s.ca],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
    check(out.returncode != 0, "s_client -tls1_1 must fail", out.stdout[-500:])
    check("Cipher is (NONE)" in out.stdout or "Cipher    : 0000" in out.stdout
          or "no peer certificate" in out.stdout, "no TLS 1.1 session", out.stdout[-800:])
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = ssl.create_default_context(cafile=s.ca)
        ctx.minimum_version = version
        ctx.maximum_version = version
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                eq(tls.version(), version.name.replace("v", "v").replace("_", "."), "version")
    # The server still serves after the refused handshake.
    eq(s.request("GET", "/healthz").status, 200, "healthz after a bad handshake")


def _wait_closed(sock, limit):
    """Seconds until the server closes `sock` (EOF or reset), or None after `limit`."""
    start = time.monotonic()
    sock.settimeout(limit)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                break
    except (ConnectionError, ssl.SSLError, OSError) as e:
        if isinstance(e, socket.timeout):
            return None
    return time.monotonic() - start


def test_slow_client_timed_out():
    s = server()  # --conn-timeout 3
    stalls = [b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 100\r\n\r\n{\"a\":",                      # body stalls
              b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Ty",          # headers stall
              b""]                                                          # idle after TLS
    socks = []
    for data in stalls:
        sock = s.tls_socket()
        if data:
            sock.sendall(data)
        socks.append(sock)
    for sock, data in zip(socks, stalls):
        took = _wait_closed(sock, 10)
        check(took is not None, "stalled connection closed within 10 s", data)
        check(took <= 6, "closed near --conn-timeout 3 (took %.1fs)" % took, data)
        sock.close()
    eq(s.request("GET", "/healthz").status, 200, "healthz after slow clients")


def _raw_exchange(s, data, limit=8):
    """Sends `data` on a new TLS connection; returns (status or None, seconds until done)."""
    start = time.monotonic()
    sock = s.tls_socket(timeout=limit)
    try:
        sock.sendall(data)
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        resp.read()
        return resp.status, time.monotonic() - start
    except (http.client.HTTPException, ConnectionError, ssl.SSLError, OSError):
        return None, time.monotonic() - start
    finally:
        sock.close()


def test_malformed_http_never_hangs_or_kills():
    s = server()  # --conn-timeout 3
    body = small_review("mal-1")
    cases = [
        b"\x00\x01\x02 garbage\r\n\r\n",
        b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: abc\r\n\r\n{}",
        b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: -5\r\n\r\n{}",
        b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + b"X-Pad: " + b"a" * 40000 + b"\r\n\r\n",
        b"GET /" + b"a" * 40000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /mutate HTTP/9.9\r\nHost: x\r\n\r\n",
        b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 10\r\n\r\n",  # then the client half-closes (below)
    ]
    for data in cases:
        status, took = _raw_exchange(s, data)
        check(status is None or 400 <= status < 600, "an error status or a close", data[:80],
              status)
        check(took < 6, "answered or closed within the connection timeout", data[:80], took)
    # HTTP/1.0 is served.
    status, _ = _raw_exchange(s, b"POST /mutate HTTP/1.0\r\nContent-Type: application/json\r\n"
                              b"Content-Length: %d\r\n\r\n" % len(body) + body)
    eq(status, 200, "HTTP/1.0 admission")
    # Plain HTTP on the TLS port, and a client that leaves mid-body.
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as raw:
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            raw.recv(100)
        except OSError:
            pass
    sock = s.tls_socket()
    sock.sendall(b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n{\"a\":")
    sock.close()
    check(s.proc.poll() is None, "still running")
    eq(s.request("GET", "/healthz").status, 200, "healthz after malformed requests")
    eq(s.review("/mutate", body).status, 200, "admission after malformed requests")


def test_concurrent_clients():
    s = server()
    errors = []

    def worker(n):
        try:
            c = s.conn()
            for i in range(15):
                uid = "c-%d-%d" % (n, i)
                r = s.review("/mutate" if i % 2 else "/validate", small_review(uid), conn=c)
                if r.status != 200 or r.json()["response"]["uid"] != uid:
                    errors.append((uid, r))
            c.close()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append((n, repr(e)))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    eq(errors, [], "errors from concurrent clients")


def test_admission_log_line():
    s = server()
    r = s.review("/mutate", review_bytes())
    eq(r.status, 200, "status")
    uid = json.loads(review_bytes())["request"]["uid"]
    deadline = time.monotonic() + 5
    line = None
    while line is None and time.monotonic() < deadline:
        line = next((l for l in s.log_lines() if l.get("msg") == "admission" and
                     l.get("uid") == uid), None)
        time.sleep(0.02)
    check(line is not None, "an admission log line for " + uid, s.log_text()[-2000:])
    for key in ("uid", "kind", "namespace", "name", "op", "latency_ms", "allowed", "patch_ops",
                "rule"):
        check(key in line, "log field " + key, line)
    eq(line["kind"], "HelmRepository", "kind")
    eq(line["namespace"], "kube-system", "namespace")
    eq(line["name"], "bitnami", "name")
    eq(line["op"], "CREATE", "op")
    check(isinstance(line["latency_ms"], float), "latency_ms is a number", line)


def test_log_lines_stay_json_with_hostile_fields():
    with Server() as s:
        _hostile(s)


def _hostile(s):
    nasty = 'x"\\\n\t\u0001\u00e9' * 400  # quotes, backslashes, control and non-ASCII characters
    rv = json.loads(small_review("hostile-" + nasty[:50]))
    rv["request"]["name"] = nasty
    rv["request"]["namespace"] = nasty
    rv["request"]["kind"]["kind"] = nasty
    r = s.review("/mutate", json.dumps(rv).encode())
    eq(r.status, 200, "status")
    time.sleep(0.2)
    lines = s.log_lines()  # each line must parse as one JSON object
    check(any(l.get("msg") == "admission" and l.get("uid", "").startswith("hostile-")
              for l in lines), "the admission was logged")


def test_stop_exit_zero():
    global SRV
    s = server()
    SRV = None
    lines = s.stop()
    check(any(l["msg"] == "draining" for l in lines), "draining logged")


if __name__ == "__main__":
    ogtest.run(globals())
