#!/usr/bin/python3
"""The admission log when stderr is a pipe (a container's log): admissions never wait for its
reader. With nobody reading, info lines are dropped and counted (the request path keeps
answering at once); once the reader is back, a warning says how many were dropped, the metric
ocigate_log_lines_dropped_total agrees, and while the reader keeps up every admission has its
line (server/log.c)."""
import json
import re
import select
import signal
import ssl
import subprocess
import threading
import time

import ogtest
from ogtest import Load, Server, check, eq, fixture, run

STALLED = 1500  # admissions while nobody reads: ~0.5 MB of lines, far past the 64 KiB pipe
KEPT_UP = 600  # admissions while the reader keeps up


class PipeServer(Server):
    """The daemon with stderr on a pipe that this test reads only when it wants to."""

    def __init__(self):
        c = ogtest.certs()
        self.ca = c.ca
        self.proc = subprocess.Popen(
            [ogtest.BIN, "serve", "--listen", "127.0.0.1:0", "--tls-cert", c.cert, "--tls-key",
             c.key, "--drain", "0", "--mode", "mutate"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.lines = []
        self.port = None
        buf = b""
        deadline = time.monotonic() + 20
        while self.port is None and time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stderr], [], [], 0.5)
            if not ready:
                continue
            chunk = self.proc.stderr.read1(65536)
            check(chunk != b"", "ocigate exited before listening")
            buf += chunk
            *done, buf = buf.split(b"\n")
            for raw in done:
                line = json.loads(raw)
                self.lines.append(line)
                if line.get("msg") == "listening":
                    self.port = int(line["addr"].rpartition(":")[2])
        check(self.port is not None, "listening line")
        self.rest = buf
        self.reader = None
        self.lock = threading.Lock()
        self.ctx = ssl.create_default_context(cafile=self.ca)

    def resume_reading(self):
        def read():
            data = self.rest
            while True:
                chunk = self.proc.stderr.read1(65536)
                if not chunk:
                    break
                data += chunk
                *done, data = data.split(b"\n")
                with self.lock:
                    self.lines.extend(json.loads(raw) for raw in done)
            check(data == b"", "the log ends with a whole line", data[:200])

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()

    def snapshot(self):
        with self.lock:
            return list(self.lines)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def dropped_metric(s):
    r = s.request("GET", "/metrics")
    eq(r.status, 200, "GET /metrics")
    m = re.search(rb"^ocigate_log_lines_dropped_total (\d+)$", r.body, re.M)
    check(m is not None, "ocigate_log_lines_dropped_total in /metrics")
    return int(m.group(1))


def load(s, n):
    """`n` admissions on 4 keep-alive connections (bounded: 60 s); returns how many answered."""
    ld = Load(s, "/mutate", fixture("review-bitnami-create.json"), threads=4, max_requests=n)
    deadline = time.monotonic() + 60
    while any(t.is_alive() for t in ld.threads) and time.monotonic() < deadline:
        time.sleep(0.05)
    ok, failures = ld.stop()
    eq(failures, [], "admission failures")
    return ok


def test_stalled_log_reader_does_not_stall_admissions():
    s = PipeServer()
    try:
        eq(dropped_metric(s), 0, "nothing dropped at start")
        # Nobody reads stderr: the pipe fills, then the batch buffers; admissions go on.
        t0 = time.monotonic()
        ok1 = load(s, STALLED)
        took = time.monotonic() - t0
        t1 = time.monotonic()
        eq(s.review("/mutate", fixture("review-bitnami-create.json")).status, 200,
           "an admission with the log stalled")
        one = time.monotonic() - t1
        dropped = dropped_metric(s)
        print("  %d admissions in %.2fs with stderr unread; one more in %.3fs; %d lines dropped"
              % (ok1, took, one, dropped))
        check(one < 1.0, "an admission does not wait for the log's reader", one)
        check(dropped > 0, "lines were dropped", dropped)
        # The reader is back: the count is said, and nothing more is lost.
        s.resume_reading()
        deadline = time.monotonic() + 10
        said = 0
        while time.monotonic() < deadline:
            said = sum(l.get("dropped", 0) for l in s.snapshot()
                       if l.get("msg", "").startswith("log lines dropped"))
            if said >= dropped:
                break
            time.sleep(0.05)
        eq(said, dropped, "the dropped lines are counted in the log")
        mark = len(s.snapshot())
        ok2 = load(s, KEPT_UP)
        eq(dropped_metric(s), dropped, "nothing dropped while the reader keeps up")
        s.proc.send_signal(signal.SIGTERM)
        eq(s.proc.wait(timeout=20), 0, "exit status")
        s.reader.join(10)
        lines = s.snapshot()
        later = [l for l in lines[mark:] if l.get("msg") == "admission"]
        eq(len(later), ok2, "one line per admission while the reader keeps up")
        every = [l for l in lines if l.get("msg") == "admission"]
        eq(len(every) + dropped, ok1 + 1 + ok2, "every admission written or counted")
        check(any(l.get("msg") == "stopped" for l in lines), "a 'stopped' line")
    finally:
        s.kill()


if __name__ == "__main__":
    run(globals())
