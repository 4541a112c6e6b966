#!/usr/bin/python3
"""Configuration reloads of `ocigate serve --config` under load: SIGHUP with a good change, a
bad file (rejected, the running config stays), and a Kubernetes ConfigMap `..data` symlink
swap picked up by the directory watch. Requests run concurrently throughout; none may fail."""

import json
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import ogtest
from ogtest import Server, check, eq, fixture

INDEX_OFF = "index: {enabled: false}\n"  # no network: the known-migration rule decides


class ConfigMapDir:
    """A directory laid out as kubelet lays out a ConfigMap volume."""

    def __init__(self, text):
        self.tmp = tempfile.TemporaryDirectory(prefix="ogtest-reload-")
        self.dir = self.tmp.name
        self.version = 0
        self.publish(text, swap=False)
        os.symlink("..data/config.yaml", self.path)

    @property
    def path(self):
        return os.path.join(self.dir, "config.yaml")

    def current(self):
        return os.path.join(self.dir, "..v%d" % self.version, "config.yaml")

    def publish(self, text, swap=True):
        """A new version directory, then an atomic rename of a new `..data` symlink over the
        old one, as kubelet's AtomicWriter does."""
        self.version += 1
        vdir = os.path.join(self.dir, "..v%d" % self.version)
        os.mkdir(vdir)
        with open(os.path.join(vdir, "config.yaml"), "w") as f:
            f.write(text)
        tmp = os.path.join(self.dir, "..data_tmp")
        os.symlink("..v%d" % self.version, tmp)
        os.rename(tmp, os.path.join(self.dir, "..data"))

    def edit_in_place(self, text):
        """Changes the current version's file inside its version directory, which the watch on
        the top directory does not see: only a SIGHUP picks this up."""
        with open(self.current(), "w") as f:
            f.write(text)


def Load(srv):
    """Threads POSTing the Bitnami AdmissionReview to /mutate in a loop; every answer must be
    a 200 with a well-formed AdmissionReview."""
    return ogtest.Load(srv, "/mutate?timeout=10s", fixture("review-bitnami-create.json"),
                       classify=lambda r: answer_kind(r.json()))


def answer_kind(review):
    resp = review["response"]
    if resp["allowed"] and "patch" in resp:
        return "patch"
    if not resp["allowed"]:
        return "deny"
    return "allow"


def answer(srv):
    return answer_kind(srv.review("/mutate", fixture("review-bitnami-create.json")).json())


def wait_answer(srv, want, timeout=10):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = answer(srv)
        if got == want:
            return
        time.sleep(0.05)
    raise AssertionError("answer is %r, want %r; log: %s" % (got, want, srv.log_text()[-2000:]))


def count(srv, msg, **fields):
    return sum(1 for l in srv.log_lines()
               if l.get("msg") == msg and all(l.get(k) == v for k, v in fields.items()))


def wait_count(srv, msg, n, timeout=10, **fields):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if count(srv, msg, **fields) >= n:
            return
        time.sleep(0.02)
    raise AssertionError("fewer than %d %r lines %r: %s" % (n, msg, fields, srv.log_text()))


def test_reload_under_load():
    cm = ConfigMapDir("mode: mutate\n" + INDEX_OFF)
    with Server("--config", cm.path, mode=None) as srv:
        eq(answer(srv), "patch", "mutate mode from the file")
        load = Load(srv)
        time.sleep(0.3)

        # 1. SIGHUP with a good change: mutate -> enforce. The edit alone is not seen.
        cm.edit_in_place("mode: enforce\n" + INDEX_OFF)
        time.sleep(0.5)
        eq(answer(srv), "patch", "an unseen edit changes nothing before SIGHUP")
        srv.send_signal(signal.SIGHUP)
        wait_count(srv, "config reloaded", 1, trigger="SIGHUP")
        wait_answer(srv, "deny")

        # 2. A bad file: rejected and logged, the running config (enforce) stays.
        cm.edit_in_place("mode: enforce\nindex: {enabled: false, ttl: forever}\n")
        srv.send_signal(signal.SIGHUP)
        wait_count(srv, "config reload rejected; keeping the running config", 1)
        (line,) = [l for l in srv.log_lines()
                   if l.get("msg") == "config reload rejected; keeping the running config"]
        eq(line["level"], "error", "level of the rejection")
        check("config.yaml:2:" in line["error"] and "index.ttl" in line["error"],
              "the rejection names file, line and key", line)
        time.sleep(0.3)
        eq(answer(srv), "deny", "still enforce after the bad file")
        check(srv.proc.poll() is None, "daemon alive after a bad config")

        # 3. ConfigMap-style swap of `..data`, no signal: back to mutate.
        cm.publish("mode: mutate\n" + INDEX_OFF)
        wait_count(srv, "config reloaded", 1, trigger="file change")
        wait_answer(srv, "patch")
        time.sleep(0.3)

        ok, failures = load.stop()
        print("# %d requests during the reloads, answers %r" % (ok, load.kinds), flush=True)
        check(not failures, "no failed request during reloads (%d ok)" % ok, failures[:5])
        check(ok > 50, "the load ran", ok, load.kinds)
        check(load.kinds.get("patch", 0) > 0 and load.kinds.get("deny", 0) > 0,
              "answers of both configs were seen under load", load.kinds)
        lines = srv.stop()
        check(any(l.get("msg") == "listening" and l.get("config") == cm.path for l in lines),
              "the listening line names the config file")


def test_flag_overrides_file():
    cm = ConfigMapDir("mode: enforce\n" + INDEX_OFF)
    with Server("--config", cm.path, "--log-level", "debug", mode="mutate") as srv:
        eq(answer(srv), "patch", "--mode mutate beats the file's enforce")
        cm.publish("mode: audit\n" + INDEX_OFF)
        wait_count(srv, "config unchanged", 1, trigger="file change")
        eq(answer(srv), "patch", "--mode still wins after a reload")
        srv.stop()


def test_tls_min_version_from_config():
    cm = ConfigMapDir('tls: {minVersion: "1.3"}\n' + INDEX_OFF)
    with Server("--config", cm.path, mode=None) as srv:
        eq(srv.request("GET", "/healthz").status, 200, "TLS 1.3 client")
        ctx = ssl.create_default_context(cafile=srv.ca)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        try:
            ctx.wrap_socket(raw, server_hostname="127.0.0.1")
            raise AssertionError("a TLS 1.2 handshake succeeded with minVersion 1.3")
        except ssl.SSLError:
            pass
        finally:
            raw.close()
        srv.stop()


def test_keys_read_at_start_warn_on_reload():
    # The index cache's bounds are read once: a reload that changes one says so (it used to
    # be taken silently, the cache keeping its old bound).
    cm = ConfigMapDir(INDEX_OFF)
    with Server("--config", cm.path, "--index-max-fetches", "9", mode=None) as srv:
        cm.publish("index: {enabled: false, cacheEntries: 10, maxFetchesPerHost: 5, "
                   "maxFetches: 300}\n")
        line = srv.wait_log("config reloaded")
        warned = {l.get("key"): l.get("value") for l in srv.log_lines()
                  if l.get("msg") == "a key read at start changed; it takes effect at the next start"}
        # --index-max-fetches beats the file's maxFetches: unchanged, no warning for it.
        eq(warned, {"index.cacheEntries": "10", "index.maxFetchesPerHost": "5"}, "warned keys")
        eq(line.get("trigger"), "file change", "trigger")
        TLS_MSG = "tls.minVersion changed; it takes effect at the next start"
        eq([l for l in srv.log_lines() if l.get("msg") == TLS_MSG], [], "minVersion unchanged")
        cm.publish("index: {enabled: false, cacheEntries: 10, maxFetchesPerHost: 5, "
                   "maxFetches: 300}\ntls: {minVersion: \"1.3\"}\n")
        line = srv.wait_log(TLS_MSG)
        eq(line.get("minVersion"), "1.3", "the new minVersion")
        srv.stop()


def test_fifo_config_is_refused_not_waited_for():
    # A FIFO in the config file's place is refused at once: opening it without a writer used
    # to block the reload for good, and SIGTERM with it.
    cm = ConfigMapDir(INDEX_OFF)
    with Server("--config", cm.path, mode=None) as srv:
        fifo = os.path.join(cm.dir, ".fifo")
        os.mkfifo(fifo)
        os.rename(fifo, cm.path)
        srv.send_signal(signal.SIGHUP)
        wait_count(srv, "config reload rejected; keeping the running config", 1)
        line = [l for l in srv.log_lines()
                if l.get("msg") == "config reload rejected; keeping the running config"][-1]
        check("not a regular file" in json.dumps(line), "reason for a FIFO", line)
        srv.stop(timeout=15)


def test_bad_config_at_start_exits_2():
    cm = ConfigMapDir("mode: enforce\nmode: audit\n")
    c = ogtest.certs()
    p = subprocess.run([ogtest.BIN, "serve", "--listen", "127.0.0.1:0", "--tls-cert", c.cert,
                        "--tls-key", c.key, "--config", cm.path], capture_output=True, text=True,
                       timeout=20)
    eq(p.returncode, 2, "exit status with a bad config")
    check("config.yaml:2:1: mode: duplicate key (first at line 1)" in p.stderr,
          "the diag names file, line, column and key", p.stderr)
    p = subprocess.run([ogtest.BIN, "serve", "--listen", "127.0.0.1:0", "--tls-cert", c.cert,
                        "--tls-key", c.key, "--config", cm.path + ".missing"],
                       capture_output=True, text=True, timeout=20)
    eq(p.returncode, 1, "exit status with a missing config file")
    check("cannot open" in p.stderr, "says why", p.stderr)


def test_config_check_cli():
    out = subprocess.run([ogtest.BIN, "config", "default"], capture_output=True, text=True)
    eq(out.returncode, 0, "config default exit status")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(out.stdout)
    try:
        chk = subprocess.run([ogtest.BIN, "config", "check", f.name], capture_output=True,
                             text=True)
        eq(chk.returncode, 0, "config check of the default file: " + chk.stderr)
        check("mode: mutate\n" in chk.stdout, "effective config printed", chk.stdout)
        with open(f.name, "a") as g:
            g.write("bogus: 1\n")
        chk = subprocess.run([ogtest.BIN, "config", "check", f.name], capture_output=True,
                             text=True)
        eq(chk.returncode, 2, "config check of a bad file")
        eq(chk.stdout, "", "nothing on stdout for a bad file")
        lineno = out.stdout.count("\n") + 1
        eq(chk.stderr, "%s:%d:1: bogus: unknown key\n" % (f.name, lineno), "the one-line diag")
    finally:
        os.unlink(f.name)


if __name__ == "__main__":
    ogtest.run(globals())
