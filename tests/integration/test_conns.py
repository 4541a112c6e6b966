#!/usr/bin/python3
"""Connections under pressure: a burst past --max-conns, slowloris headers and handshakes,
idle keep-alive connections at the cap (server/conns.h)."""
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

import ogtest
from ogtest import Server, check, eq, fixture, run


def wait_closed(sock, limit):
    """Seconds until the server closes `sock` (EOF or reset), or None after `limit` seconds."""
    t0 = time.monotonic()
    sock.settimeout(0.05)
    while time.monotonic() - t0 < limit:
        try:
            if sock.recv(1) == b"":
                return time.monotonic() - t0
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        except (OSError, ssl.SSLError):
            return time.monotonic() - t0
    return None


def trickle_until_closed(sock, data, every, limit):
    """Sends `data` a byte every `every` seconds until the server closes the connection;
    returns (seconds from the first byte to the close, or None after `limit`; bytes sent)."""
    t0 = time.monotonic()
    sent = 0
    sock.settimeout(every)
    while time.monotonic() - t0 < limit:
        try:
            sock.sendall(data[sent % len(data):sent % len(data) + 1])
            sent += 1
        except OSError:
            return time.monotonic() - t0, sent
        try:
            if sock.recv(1) == b"":
                return time.monotonic() - t0, sent
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        except (OSError, ssl.SSLError):
            return time.monotonic() - t0, sent
    return None, sent


def client_hello(port):
    """The bytes of a real TLS ClientHello, made without a connection."""
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def healthz_latency(s, timeout=30):
    """Seconds one GET /healthz on a new connection takes (raises on failure)."""
    t0 = time.monotonic()
    c = s.conn(timeout=timeout)
    try:
        c.request("GET", "/healthz")
        resp = c.getresponse()
        resp.read()
        eq(resp.status, 200, "healthz status")
    finally:
        c.close()
    return time.monotonic() - t0


def test_burst_past_max_conns_keeps_serving():
    """600 plain TCP connections at once against --max-conns 64, with admissions running:
    every connection is taken in turn (none hangs), admissions and /healthz are answered, and
    SIGTERM ends the daemon promptly. libmicrohttpd 0.9.75 used to deadlock here for good."""
    body = fixture("review-bitnami-create.json")
    with Server("--max-conns", "64", "--threads", "2", "--request-timeout", "1s",
                conn_timeout=10) as s:
        results = {"ok": 0, "fail": [], "worst": 0.0}
        lock = threading.Lock()
        until = time.monotonic() + 4

        def load():
            while time.monotonic() < until:
                t0 = time.monotonic()
                try:
                    c = s.conn(timeout=30)
                    r = s.review("/validate", body, conn=c)
                    c.close()
                    good = r.status == 200
                except Exception as e:  # noqa: BLE001 - any failure is reported
                    good, r = False, e
                with lock:
                    if good:
                        results["ok"] += 1
                    else:
                        results["fail"].append(repr(r))
                    results["worst"] = max(results["worst"], time.monotonic() - t0)

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        socks = []
        try:
            for _ in range(600):
                k = socket.socket()
                k.setblocking(False)
                try:
                    k.connect(("127.0.0.1", s.port))
                except BlockingIOError:
                    pass
                socks.append(k)
            for t in threads:
                t.join(60)
            check(not any(t.is_alive() for t in threads), "the admission load finished")
            check(not results["fail"], "no admission failed during the burst",
                  len(results["fail"]), results["fail"][:3])
            check(results["ok"] > 0, "admissions answered during the burst", results)
            lat = healthz_latency(s)
            # Every connection of the burst is accepted and, silent, cut at its deadline.
            t0 = time.monotonic()
            closed = 0
            for k in socks:
                k.setblocking(True)
                if wait_closed(k, max(0.1, 30 - (time.monotonic() - t0))) is not None:
                    closed += 1
            took = time.monotonic() - t0
            print("  burst: %d admissions (slowest %.2fs), healthz %.3fs, %d/600 cut by %.1fs"
                  % (results["ok"], results["worst"], lat, closed, took))
            eq(closed, 600, "burst connections taken and cut")
            lines = s.log_lines()
            check(any(l.get("msg", "").startswith("connection cap reached") for l in lines),
                  "the cap is logged")
            # ocigate's cap holds them back, never libmicrohttpd's limit (its path that hangs).
            check(not any("connection limit" in l.get("msg", "") for l in lines),
                  "libmicrohttpd never reaches its connection limit")
        finally:
            for k in socks:
                k.close()
        t0 = time.monotonic()
        s.stop(timeout=15)
        check(time.monotonic() - t0 < 10, "SIGTERM ends the daemon promptly")


def test_stop_while_waiting_at_the_cap():
    """SIGTERM while the accept thread is held back at the cap (clients in the backlog)."""
    with Server("--max-conns", "4", "--request-timeout", "60s", conn_timeout=60) as s:
        socks = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(12)]
        try:
            s.wait_log("connection cap reached: new clients wait for a free slot")
            t0 = time.monotonic()
            s.stop(timeout=15)
            check(time.monotonic() - t0 < 5, "stopped promptly", time.monotonic() - t0)
        finally:
            for k in socks:
                k.close()


def test_cap_warning_is_rate_limited():
    """Held at the cap for seconds with clients waiting, the accept thread looks again about
    every 100 ms; the "connection cap reached" warning is written once per 10 s (LOG_EVERY_MS
    in server/conns.c), not at every look."""
    cap_msg = "connection cap reached: new clients wait for a free slot"
    with Server("--max-conns", "4", "--threads", "2", "--request-timeout", "60s",
                conn_timeout=60) as s:
        holders, waiting = [], []
        try:
            # Admissions whose body is still arriving hold the 4 slots: a received request is
            # never closed to make room, so the cap stays reached.
            for _ in range(4):
                k = s.tls_socket(timeout=10)
                k.sendall(b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
                holders.append(k)
            waiting = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(6)]
            s.wait_log(cap_msg)
            time.sleep(3)
            lines = [l for l in s.log_lines() if l.get("msg") == cap_msg]
            print("  %d cap warning(s) in 3 s at the cap: %r" % (len(lines), lines[:3]))
            eq(len(lines), 1, "cap warnings while held at the cap for 3 s")
            eq(lines[0].get("max_conns"), "4", "max_conns in the warning")
            eq(lines[0].get("closed_for_waiting"), "0", "none of the holders closed")
            check(all(wait_closed(k, 0.05) is None for k in holders), "the holders stay open")
        finally:
            for k in holders + waiting:
                k.close()


def test_libmicrohttpd_log_is_rate_limited():
    """libmicrohttpd logs a line for every failed TLS handshake; a burst of 150 connections
    that send plain HTTP to the TLS port gives at most MHD_LOG_PER_S (10) of those lines a
    second (server/httpd.c), and the next line written after the burst says how many were not."""
    n = 150
    with Server() as s:
        socks = []
        t0 = time.monotonic()
        try:
            for _ in range(n):
                k = socket.create_connection(("127.0.0.1", s.port), timeout=10)
                k.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                socks.append(k)
            # Each is closed after its error line is written.
            for k in socks:
                check(wait_closed(k, 10) is not None, "the plain-HTTP connection was closed")
        finally:
            for k in socks:
                k.close()
        took = time.monotonic() - t0
        burst = [l for l in s.log_lines() if l.get("source") == "libmicrohttpd"]
        # The burst spans at most int(took) + 2 of the limiter's (monotonic) seconds.
        bound = 10 * (int(took) + 2)
        print("  %d handshake failures in %.2fs: %d libmicrohttpd lines (at most %d)"
              % (n, took, len(burst), bound))
        check(0 < len(burst) <= bound, "libmicrohttpd lines in the burst", len(burst), bound)
        check(not any("suppressed" in l for l in burst[:10]), "the first lines suppress nothing")
        time.sleep(1.2)  # a new second: the next line is written, with the count
        k = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        k.sendall(b"GET /healthz HTTP/1.1\r\n\r\n")
        wait_closed(k, 10)
        k.close()
        deadline = time.monotonic() + 10
        while True:
            lines = [l for l in s.log_lines() if l.get("source") == "libmicrohttpd"]
            if len(lines) > len(burst) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        check(len(lines) > len(burst), "a line after the burst", lines[-3:])
        after = lines[len(burst)]
        check("suppressed" in after, "the line after the burst counts the dropped ones", after)
        # One line per failed handshake: written or counted.
        check(len(burst) + int(after["suppressed"]) >= n, "lines written and dropped",
              len(burst), after)


def test_slow_headers_cut_at_request_timeout():
    """Headers trickled a byte every 0.25 s (never idle long enough for --conn-timeout) are cut
    --request-timeout after accept, which also counts the TLS handshake."""
    with Server("--request-timeout", "2s", conn_timeout=10) as s:
        t0 = time.monotonic()
        sock = s.tls_socket(timeout=10)
        took, sent = trickle_until_closed(sock, b"GET /healthz HTTP/1.1\r\nX-Slow: ", 0.25, 15)
        sock.close()
        check(took is not None, "the trickling connection was closed")
        total = time.monotonic() - t0
        print("  slow headers: cut %.2fs after connecting (%d bytes)" % (total, sent))
        check(total >= 1.9, "not cut before the request timeout", total)
        check(total < 3.5, "cut soon after the 2 s request timeout", total)
        s.wait_log("closed connections whose request did not arrive in time")
        eq(s.request("GET", "/healthz").status, 200, "healthz after the slow client")


def test_slow_headers_on_a_keepalive_connection():
    """On a keep-alive connection the deadline runs from the next request's first byte: the
    idle time before it does not count, the trickle after it does."""
    with Server("--request-timeout", "2s", conn_timeout=10) as s:
        c = s.conn(timeout=10)
        eq(s.request("GET", "/healthz", conn=c).status, 200, "first request")
        time.sleep(2.5)  # idle, longer than the request timeout: must not count
        took, sent = trickle_until_closed(c.sock, b"GET /healthz HTTP/1.1\r\nX-Slow: ", 0.25, 15)
        c.close()
        check(took is not None, "the trickling connection was closed")
        print("  keep-alive slow headers: cut %.2fs after the first byte" % took)
        check(took >= 1.9, "deadline from the first byte, not from the idle start", took)
        check(took < 3.5, "cut soon after the 2 s request timeout", took)


def first_bytes_then_silence(pause):
    """Seconds from the next request's first bytes, sent `pause` s after a response on a
    keep-alive connection and followed by nothing, to the server's close (None: not in 15 s)."""
    with Server("--request-timeout", "2s", conn_timeout=10) as s:
        c = s.conn(timeout=10)
        eq(s.request("GET", "/healthz", conn=c).status, 200, "first request")
        time.sleep(pause)
        c.sock.sendall(b"GET /healthz HTTP/1.1\r\nX-Stalled: ")
        took = wait_closed(c.sock, 15)
        c.close()
        return took


def test_first_bytes_then_silence_on_a_keepalive_connection():
    """The next request's first bytes, a while after the response and then nothing more (no
    trickle that would show up later), start the request deadline: the connection is cut at
    --request-timeout, not left to the idle timeout (--conn-timeout 10 s)."""
    took = first_bytes_then_silence(0.3)
    print("  first bytes then silence: cut %s s after them" % took)
    check(took is not None and 1.9 <= took < 3.5, "cut at the request timeout", took)


def test_keepalive_requests_cost_the_table_no_system_call():
    """The request hooks make no system call: on a keep-alive connection, getsockopt (TCP_INFO)
    is the watchdog's, at most once per idle connection and 100 ms tick, not one per request."""
    strace = shutil.which("strace")
    if strace is None:
        raise ogtest.Skip("strace is not installed (Debian package strace)")
    n = 300
    body = fixture("review-bitnami-create.json")
    with Server() as s, tempfile.TemporaryDirectory(prefix="ogtest-strace-") as tmp:
        out = os.path.join(tmp, "counts")
        c = s.conn(timeout=10)
        eq(s.review("/mutate", body, conn=c).status, 200, "first admission")
        tracer = subprocess.Popen([strace, "-f", "-c", "-o", out, "-e", "trace=getsockopt",
                                   "-p", str(s.proc.pid)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1)  # attached to every thread
        if tracer.poll() is not None:
            raise ogtest.Skip("strace cannot attach here: %r" % tracer.stderr.read()[:200])
        t0 = time.monotonic()
        for _ in range(n):
            eq(s.review("/mutate", body, conn=c).status, 200, "admission")
        traced = time.monotonic() - t0 + 1.5
        tracer.send_signal(signal.SIGINT)
        tracer.wait(20)
        c.close()
        with open(out) as f:
            m = re.search(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?getsockopt$", f.read(),
                          re.M)
        calls = int(m.group(1)) if m else 0
        ticks = int(traced * 10) + 10
        print("  %d admissions in %.2fs: %d getsockopt (watchdog bound %d)"
              % (n, traced - 1.5, calls, ticks))
        check(calls <= ticks, "no getsockopt per request", calls, ticks)


def test_slow_tls_handshake_is_cut():
    """A ClientHello trickled a byte every 0.25 s, and a client that connects and sends
    nothing, are both cut at --request-timeout after accept."""
    with Server("--request-timeout", "2s", conn_timeout=10) as s:
        hello = client_hello(s.port)
        t0 = time.monotonic()
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        took, sent = trickle_until_closed(sock, hello, 0.25, 15)
        sock.close()
        check(took is not None and sent < len(hello), "the handshake was cut", took, sent)
        total = time.monotonic() - t0
        check(1.9 <= total < 3.5, "trickled handshake cut at the request timeout", total)
        t0 = time.monotonic()
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        took = wait_closed(sock, 15)
        sock.close()
        print("  trickled handshake cut after %.2fs, silent one after %.2fs" % (total, took or -1))
        check(took is not None and 1.9 <= took < 3.5, "silent connection cut", took)


def test_slowloris_at_the_cap_healthz_still_answers():
    """As many header tricklers as --max-conns, reconnecting whenever cut: /healthz waits
    at most about one request timeout."""
    with Server("--max-conns", "16", "--threads", "2", "--request-timeout", "2s",
                conn_timeout=10) as s:
        stop = threading.Event()
        cuts = []

        def attacker():
            while not stop.is_set():
                try:
                    sock = s.tls_socket(timeout=15)
                except OSError:
                    continue
                took, _ = trickle_until_closed(sock, b"GET /healthz HTTP/1.1\r\nX-A: ", 0.3, 8)
                sock.close()
                if took is not None:
                    cuts.append(took)

        threads = [threading.Thread(target=attacker) for _ in range(16)]
        for t in threads:
            t.start()
        lats = []
        try:
            time.sleep(1)
            until = time.monotonic() + 8
            while time.monotonic() < until:
                lats.append(healthz_latency(s, timeout=15))
                time.sleep(0.3)
        finally:
            stop.set()
            for t in threads:
                t.join(20)
        print("  slowloris at cap: %d healthz, worst %.2fs, median %.2fs; %d attacker cuts"
              % (len(lats), max(lats), sorted(lats)[len(lats) // 2], len(cuts)))
        check(len(cuts) >= 16, "the tricklers were cut", len(cuts))
        check(max(lats) < 3.5, "healthz waits at most about the request timeout", lats)


def test_idle_keepalive_closed_for_a_new_client_at_the_cap():
    """With the cap reached by idle keep-alive TLS connections, a new client is served at once
    and the connection idle the longest is the one closed."""
    with Server("--max-conns", "8", "--threads", "2", conn_timeout=60) as s:
        conns = []
        for _ in range(8):
            c = s.conn(timeout=10)
            eq(s.request("GET", "/healthz", conn=c).status, 200, "keep-alive request")
            conns.append(c)
            time.sleep(0.05)
        try:
            lat = healthz_latency(s, timeout=10)
            print("  new client at a cap of idle connections served in %.3fs" % lat)
            check(lat < 1.5, "served without waiting for an idle timeout", lat)
            check(wait_closed(conns[0].sock, 3) is not None, "the oldest idle one was closed")
            check(wait_closed(conns[7].sock, 0.5) is None, "the newest idle one stays open")
            eq(s.request("GET", "/healthz", conn=conns[7]).status, 200, "newest still serves")
        finally:
            for c in conns:
                c.close()


def test_stalled_connections_make_room_for_a_new_client():
    """With the cap held by connections that never send a request, a new client does not wait
    for their (long) request timeout: the oldest stalled one is closed for it."""
    with Server("--max-conns", "16", "--threads", "2", "--request-timeout", "30s",
                conn_timeout=60) as s:
        socks = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(16)]
        try:
            time.sleep(1.3)
            lat = healthz_latency(s, timeout=10)
            print("  new client at a cap of stalled connections served in %.3fs" % lat)
            check(lat < 1.5, "served without waiting for the request timeout", lat)
            eq(sum(1 for k in socks if wait_closed(k, 0.2) is not None), 1,
               "stalled connections closed for it")
        finally:
            for k in socks:
                k.close()


def test_flood_of_silent_connections_drains_fast():
    """Far more connections than --max-conns that never send a byte, all queued in the listen
    backlog ahead of /healthz: at the cap, one that has received nothing 200 ms after accept is
    closed for the waiting clients (was: only after 1 s, so 500 silent connections at a cap of
    32 held /healthz about 15 s)."""
    with Server("--max-conns", "32", "--threads", "2", "--request-timeout", "30s",
                conn_timeout=60) as s:
        socks = []
        try:
            for _ in range(500):
                k = socket.socket()
                k.setblocking(False)
                k.connect_ex(("127.0.0.1", s.port))
                socks.append(k)
            time.sleep(0.2)
            lat = healthz_latency(s, timeout=30)
            print("  /healthz behind 500 silent connections at a cap of 32: %.2fs" % lat)
            check(lat < 9, "served without waiting a second per cap's worth of them", lat)
        finally:
            for k in socks:
                k.close()


def test_parked_admission_outlives_the_request_timeout():
    """An admission parked for its index verdict (here 2.5 s) is not subject to the request
    deadline (1 s): once received, a request has no deadline."""
    from test_index_admission import ALLOW, IndexServer, admit
    with IndexServer() as ix, Server(*ALLOW, "--index-budget", "4s", "--request-timeout",
                                     "1s", mode="mutate") as s:
        resp, took, line = admit(s, ix.base + "/delay/2500/oci-small")
        check(took >= 2.0, "parked for the slow index", took)
        check(line.get("index") not in (None, "pending"), "the verdict arrived", line)
        check(not any(l.get("msg", "").startswith("closed connections whose request")
                      for l in s.log_lines()), "nothing cut for the deadline")


def test_request_timeout_flag():
    out = subprocess.run([ogtest.BIN, "serve", "--help"], capture_output=True, text=True)
    check("--request-timeout" in out.stdout, "help mentions --request-timeout", out.stdout)
    for val, why in (("50ms", "out of range (100ms to 1h)"),
                     ("2h", "out of range (100ms to 1h)"), ("5", "invalid duration"), ("", "invalid duration"),
                     ("1.0001s", "finer than a millisecond")):
        bad = subprocess.run([ogtest.BIN, "serve", "--request-timeout", val, "--tls-cert", "x",
                              "--tls-key", "y"], capture_output=True, text=True)
        eq(bad.returncode, 2, "exit status for --request-timeout %r" % val)
        check("--request-timeout" in bad.stderr and why in bad.stderr, "message", bad.stderr)


if __name__ == "__main__":
    run(globals())
