"""ogtest - shared helpers of the integration tests (Debian python3 stdlib only).

A test module defines functions named test_*; run(globals()) calls each in order, prints one
line per test, ends with "N passed, N failed, N skipped" and exits non-zero on a failure.

Server(...) starts `$OCIGATE_BIN serve --listen 127.0.0.1:0` with a throwaway CA and serving
certificate made by the `openssl` CLI, finds the bound port in the "listening" log line, and
talks HTTPS to it with a client that verifies the CA. stop() sends SIGTERM and checks the
exit status (0).
"""

import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback

BIN = os.environ.get("OCIGATE_BIN", "")
SOURCE_DIR = os.environ.get("OG_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
# The shared real-world data: $OG_SHARED_DATA, else ../shared/data beside the source tree.
DATA_DIR = os.environ.get("OG_SHARED_DATA") or os.path.join(SOURCE_DIR, "..", "shared", "data")
CAPTURED = os.path.join(DATA_DIR, "k8s", "captured")


class Skip(Exception):
    """Raised by a test that cannot run here (say why)."""


def check(cond, what, *values):
    """Fails the test with `what` and the values when `cond` is false."""
    if not cond:
        raise AssertionError(what + (": " + " | ".join(repr(v) for v in values) if values else ""))


def eq(got, want, what="value"):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def captured(name):
    """The bytes of a captured AdmissionReview, or Skip when the shared data is absent."""
    path = os.path.join(CAPTURED, name)
    if not os.path.exists(path):
        raise Skip("shared data %s is absent" % path)
    with open(path, "rb") as f:
        return f.read()


FLUX_CRDS = {
    "HelmRepository": "source.toolkit.fluxcd.io_helmrepositories.yaml",
    "OCIRepository": "source.toolkit.fluxcd.io_ocirepositories.yaml",
    "HelmRelease": "helm.toolkit.fluxcd.io_helmreleases.yaml",
}


def crd_schema(kind, api_version):
    """The openAPIV3Schema of the served version of `kind`'s Flux CRD in the shared data, or
    None when the data or python3-jsonschema (and python3-yaml) is absent."""
    path = os.path.join(DATA_DIR, "flux", FLUX_CRDS[kind])
    try:
        import jsonschema  # noqa: F401
        import yaml
    except ImportError:
        return None
    if not os.path.exists(path):
        return None
    with open(path) as f:
        crd = yaml.safe_load(f)
    version = api_version.rpartition("/")[2]
    for v in crd["spec"]["versions"]:
        if v["name"] == version and v.get("served"):
            return v["schema"]["openAPIV3Schema"]
    raise AssertionError("%s %s is not served by %s" % (kind, api_version, path))


def crd_pruned(schema, value, path=""):
    """The fields of `value` the apiserver would prune: members of an object whose structural
    schema lists `properties` and neither `additionalProperties` nor
    `x-kubernetes-preserve-unknown-fields` (a field v2 dropped vanishes without an error)."""
    out = []
    if isinstance(value, dict) and not schema.get("x-kubernetes-preserve-unknown-fields"):
        props = schema.get("properties")
        for k, v in value.items():
            if props is not None and k in props:
                out += crd_pruned(props[k], v, path + "/" + k)
            elif props is not None and "additionalProperties" not in schema:
                out.append(path + "/" + k)
            elif isinstance(schema.get("additionalProperties"), dict):
                out += crd_pruned(schema["additionalProperties"], v, path + "/" + k)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(value):
            out += crd_pruned(schema["items"], v, "%s/%d" % (path, i))
    return out


def crd_validate(doc):
    """Checks `doc` against its Flux CRD schema (python3-jsonschema, Draft 7: type, properties,
    required, enum, pattern, items, min/max; x-kubernetes-validations are not run) and that
    the apiserver would prune none of its fields. False when the schema cannot be had (the
    caller says so); an invalid doc fails the test."""
    s = crd_schema(doc["kind"], doc["apiVersion"])
    if s is None:
        return False
    import jsonschema
    pruned = crd_pruned(s, doc)
    check(not pruned, "%s has fields its CRD does not know (pruned)" % doc["kind"], pruned)
    errors = sorted(jsonschema.Draft7Validator(s).iter_errors(doc), key=str)
    check(not errors, "%s is not valid under its CRD" % doc["kind"],
          ["%s: %s" % ("/".join(map(str, e.absolute_path)), e.message) for e in errors])
    return True


def run_bin(*args, cwd, stdin=None, timeout=60):
    """Runs $OCIGATE_BIN with `args` in `cwd`: (exit status, stdout text, stderr text)."""
    p = subprocess.run([BIN, *args], cwd=cwd, input=stdin, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def fixture(name):
    with open(os.path.join(SOURCE_DIR, "tests", "data", name), "rb") as f:
        return f.read()


def _openssl(*args, cwd):
    subprocess.run(("openssl",) + args, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


class Certs:
    """A throwaway CA and a serving certificate for localhost/127.0.0.1, by the openssl CLI."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ogtest-")
        d = self.dir = self.tmp.name
        ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
        _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
                 "-subj", "/CN=ogtest CA", "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
        _openssl("req", "-new", *ec, "-keyout", "tls.key", "-out", "tls.csr",
                 "-subj", "/CN=localhost", cwd=d)
        with open(os.path.join(d, "ext.cnf"), "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                    "extendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n")
        _openssl("x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "tls.crt", cwd=d)
        self.ca = os.path.join(d, "ca.crt")
        self.cert = os.path.join(d, "tls.crt")
        self.key = os.path.join(d, "tls.key")


_CERTS = None


def certs():
    """One set of certificates per test process."""
    global _CERTS
    if _CERTS is None:
        _CERTS = Certs()
    return _CERTS


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        ctype = self.header("content-type")
        check(ctype == "application/json", "Content-Type of the response", ctype)
        return json.loads(self.body)

    def __repr__(self):
        return "Response(%d, %r)" % (self.status, self.body[:300])


def _collect(resp):
    body = resp.read()
    return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)


class Server:
    """The real daemon on 127.0.0.1:0. Use as a context manager or call stop()."""

    def __init__(self, *extra, mode="mutate", drain=0, conn_timeout=None, cert=None, key=None,
                 ca=None, wrapper=()):
        if not BIN:
            raise Skip("OCIGATE_BIN is not set")
        c = certs()
        self.ca = ca or c.ca
        self.logfile = tempfile.NamedTemporaryFile(prefix="ogtest-log-", delete=False)
        argv = [BIN, "serve", "--listen", "127.0.0.1:0", "--tls-cert", cert or c.cert,
                "--tls-key", key or c.key, "--drain", str(drain)]
        if mode is not None:  # None: no --mode flag, the --config file decides
            argv += ["--mode", mode]
        if conn_timeout is not None:
            argv += ["--conn-timeout", str(conn_timeout)]
        argv += list(extra)
        self.argv = argv
        # `wrapper` runs the daemon under another program (e.g. strace -f -o FILE).
        self.proc = subprocess.Popen(list(wrapper) + argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.logfile)
        self.port = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for line in self.log_lines():
                if line.get("msg") == "listening":
                    host, _, port = line["addr"].rpartition(":")
                    eq(host, "127.0.0.1", "listening host")
                    self.port = int(port)
            if self.port is not None:
                break
            if self.proc.poll() is not None:
                raise AssertionError("ocigate exited with %d: %s" % (self.proc.returncode,
                                                                     self.log_text()))
            time.sleep(0.02)
        if self.port is None:
            self.proc.kill()
            raise AssertionError("no listening line: " + self.log_text())
        self.ctx = ssl.create_default_context(cafile=self.ca)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.proc.poll() is None:
            if exc_type is None:
                self.stop()
            else:
                self.proc.kill()
                self.proc.wait()
        os.unlink(self.logfile.name)
        return False

    def log_text(self):
        with open(self.logfile.name, "r", errors="replace") as f:
            return f.read()

    def log_lines(self):
        """Every complete log line, parsed: each must be one JSON object."""
        out = []
        # Lines end at "\n" only: str.splitlines() also breaks at U+2028, U+2029 and U+0085,
        # which a JSON string may hold unescaped (a name echoed in a log line).
        # The part after the last "\n" is a line still being written: it waits for next time.
        for raw in self.log_text().split("\n")[:-1]:
            try:
                obj = json.loads(raw)
            except ValueError:
                raise AssertionError("log line is not JSON: %r" % raw)
            check(isinstance(obj, dict) and {"ts", "level", "msg"} <= set(obj),
                  "log line fields", raw)
            out.append(obj)
        return out

    def wait_log(self, msg, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log_lines():
                if line.get("msg") == msg:
                    return line
            time.sleep(0.02)
        raise AssertionError("no %r log line: %s" % (msg, self.log_text()))

    def conn(self, timeout=10):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx,
                                           timeout=timeout)

    def tls_socket(self, timeout=10):
        """A raw TLS socket to the server, for requests http.client will not send."""
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        return self.ctx.wrap_socket(raw, server_hostname="127.0.0.1")

    def request(self, method, path, body=None, headers=None, conn=None):
        """One request; on a new connection unless `conn` is given. Returns a Response."""
        own = conn is None
        c = conn or self.conn()
        try:
            c.request(method, path, body=body, headers=headers or {})
            return _collect(c.getresponse())
        finally:
            if own:
                c.close()

    def review(self, path, body, conn=None, content_type="application/json"):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        return self.request("POST", path, body, {"Content-Type": content_type}, conn=conn)

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, expect=0, timeout=20):
        """Sends `sig`, waits for the exit, and checks the status and the log."""
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("ocigate did not stop within %ds" % timeout)
        lines = self.log_lines()
        check(rc == expect, "exit status %d, want %d" % (rc, expect), self.log_text()[-3000:])
        if expect == 0:
            check(any(l.get("msg") == "stopped" for l in lines), "a 'stopped' log line")
        return lines


class Load:
    """Threads POSTing `body` (JSON) to `path` of the Server `srv` in a loop until stop(), or
    until `max_requests` (0: no bound) answers: each thread on a keep-alive connection, replaced
    after `per_conn` requests (0: only after a failure). An answer must be a 200;
    `classify(response)` (optional) names it, counted in `kinds`, and may raise to fail it.
    `on_connect(conn)` (optional) runs after each new connection's handshake. Every failure is
    recorded in `failures`, none stops the loop."""

    def __init__(self, srv, path, body, threads=4, per_conn=0, max_requests=0, classify=None,
                 on_connect=None):
        import threading
        self.srv, self.path, self.body = srv, path, body
        self.per_conn, self.max_requests = per_conn, max_requests
        self.classify, self.on_connect = classify, on_connect
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.failures = []
        self.kinds = {}
        self.threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _bounded(self):
        with self.lock:
            return self.max_requests and self.ok + len(self.failures) >= self.max_requests

    def worker(self):
        conn, used = None, 0
        while not self.stop_flag.is_set() and not self._bounded():
            try:
                if conn is None:
                    conn, used = self.srv.conn(timeout=10), 0
                    if self.on_connect is not None:
                        conn.connect()
                        self.on_connect(conn)
                r = self.srv.review(self.path, self.body, conn=conn)
                if r.status != 200:
                    raise AssertionError("status %d: %r" % (r.status, r.body[:200]))
                kind = self.classify(r) if self.classify is not None else None
                used += 1
                with self.lock:
                    self.ok += 1
                    self.kinds[kind] = self.kinds.get(kind, 0) + 1
                if self.per_conn and used >= self.per_conn:
                    conn.close()
                    conn = None
            except Exception as e:  # every failure is recorded, none stops the loop
                with self.lock:
                    self.failures.append(repr(e))
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(30)
        return self.ok, self.failures


def run(namespace):
    """Runs every test_* function of `namespace` in definition order."""
    tests = [(n, f) for n, f in namespace.items() if n.startswith("test_") and callable(f)]
    passed = failed = skipped = 0
    only = sys.argv[1:]
    for name, fn in tests:
        if only and name not in only:
            continue
        start = time.monotonic()
        try:
            fn()
        except Skip as e:
            skipped += 1
            print("SKIP %s: %s" % (name, e), flush=True)
            continue
        except Exception:
            failed += 1
            print("FAIL %s" % name, flush=True)
            traceback.print_exc()
            continue
        passed += 1
        print("ok   %s (%.2fs)" % (name, time.monotonic() - start), flush=True)
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    sys.exit(1 if failed else 0)
