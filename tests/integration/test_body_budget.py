#!/usr/bin/python3
"""Memory held by request bodies is bounded across all connections (--body-budget): many
connections streaming large bodies at once keep the server's peak RSS near baseline + budget,
the bodies over the budget are answered 503 with Retry-After, and the server is healthy (and
its budget whole again) afterwards.

OG_BUDGET_CONNS (default 32) and OG_BUDGET_FLAG (default 24Mi) size the run;
OG_BUDGET_REPORT=1 prints the figures (used for the 100 x 8 MiB measurement)."""
import json
import os
import select
import threading
import time

from ogtest import BIN, Server, check, eq, fixture, run

MIB = 1 << 20
BODY = 8 * MIB  # the default maxBodyBytes (8Mi)


def run_threads(n, one):
    """Runs one(i) for i in 0..n-1 on n threads at once and waits for them (300 s each)."""
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)


def sanitized():
    """True when the daemon is built with AddressSanitizer or ThreadSanitizer."""
    with open(BIN, "rb") as f:
        data = f.read()
    return b"__asan_init" in data or b"__tsan_init" in data


def status_kb(pid):
    """VmHWM and VmRSS of `pid` in kB."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, val = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(val.split()[0])
    return out


def padded_review(size):
    """A real AdmissionReview padded with whitespace (still valid JSON) to `size` bytes."""
    base = fixture("review-bitnami-create.json").rstrip()
    check(base.endswith(b"}"), "review ends with }")
    return base[:-1] + b" " * (size - len(base)) + b"}"


def read_response(sock):
    """Reads one whole response; returns (status, headers dict, body)."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        d = sock.recv(65536)
        if not d:
            raise AssertionError("connection closed before a response: %r" % raw[:200])
        raw += d
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    want = int(headers.get("content-length", "0"))
    while len(body) < want:
        d = sock.recv(65536)
        if not d:
            break
        body += d
    return int(lines[0].split()[1]), headers, body


def stream_all(s, n, body):
    """n connections send their headers, then all stream `body` at once. Returns answers."""
    results = [None] * n
    start = threading.Barrier(n)
    head = (b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    view = memoryview(body)

    def one(i):
        # As an HTTP client should: an answer that comes while the body is sent (a 503 at the
        # headers, after which the server closes) is read instead of sending on.
        try:
            sock = s.tls_socket(timeout=120)
        except OSError as e:
            results[i] = ("connect", str(e))
            return
        try:
            start.wait(60)
            try:
                sock.sendall(head)
                poll = select.poll()
                poll.register(sock, select.POLLIN)
                for off in range(0, len(body), 256 << 10):
                    if sock.pending() or poll.poll(0):
                        break
                    sock.sendall(view[off:off + (256 << 10)])
            except OSError:
                pass
            results[i] = read_response(sock)
        except (OSError, AssertionError, threading.BrokenBarrierError) as e:
            results[i] = ("error", str(e))
        finally:
            sock.close()

    run_threads(n, one)
    return results


def test_many_large_bodies_stay_within_budget():
    n = int(os.environ.get("OG_BUDGET_CONNS", "32"))
    budget = os.environ.get("OG_BUDGET_FLAG", "24Mi")
    budget_bytes = int(budget[:-2]) * MIB if budget != "none" else 64 * MIB
    body = padded_review(BODY)
    # OG_BUDGET_FLAG=none: no flag, to measure a build without one. The request deadline
    # (default 5s from accept, handshake included) is not under test here: n handshakes and
    # 8 MiB uploads from one Python process under TSan on a loaded machine outlast it, and a
    # cut connection reads as "closed before a response".
    flags = ("--request-timeout", "60s") + (("--body-budget", budget) if budget != "none" else ())
    with Server(*flags) as s:
        pid = s.proc.pid
        # Warm up (TLS, allocator), then take the baseline.
        eq(s.review("/mutate", padded_review(64 << 10)).status, 200, "warm-up admission")
        before = status_kb(pid)
        t0 = time.monotonic()
        results = stream_all(s, n, body)
        took = time.monotonic() - t0
        after = status_kb(pid)
        statuses = [r[0] for r in results]
        ok = statuses.count(200)
        busy = [r for r in results if r[0] == 503]
        if os.environ.get("OG_BUDGET_REPORT"):
            print("conns=%d body=%d budget=%s: 200=%d 503=%d other=%r in %.1fs; VmHWM %d -> %d"
                  " kB, VmRSS %d -> %d kB" %
                  (n, len(body), budget, ok, len(busy),
                   [x for x in statuses if x not in (200, 503)], took, before["VmHWM"],
                   after["VmHWM"], before["VmRSS"], after["VmRSS"]), flush=True)
        check(ok >= 1, "some bodies fit the budget", statuses)
        check(len(busy) >= 1, "bodies over the budget are answered 503", statuses)
        for st, hdrs, b in busy:
            eq(hdrs.get("retry-after"), "1", "Retry-After of a 503")
            check(b"budget" in b, "the 503 names the budget", b)
        for r in results:
            check(r[0] in (200, 503), "every answer is 200 or 503", r[:2])
        # Peak: the baseline, the budget, libmicrohttpd's pools and TLS state for n
        # connections, and allocator slack; without the budget n x 8 MiB (and more) was held.
        # (Sanitizer builds hold freed memory in quarantine and shadow it: no bound there.)
        bound_kb = before["VmHWM"] + budget_bytes // 1024 + n * 256 + 24 * 1024
        if not sanitized():
            check(after["VmHWM"] < bound_kb, "peak RSS %d kB within %d kB" % (after["VmHWM"],
                                                                              bound_kb))
        # Healthy after, with the whole budget back: a body of the full cap fits again.
        eq(s.request("GET", "/healthz").status, 200, "healthz after the burst")
        r = s.review("/mutate", body)
        eq(r.status, 200, "a full-size body after the burst")
        check(r.json()["response"]["allowed"] is True, "allowed", r.body[:200])


def stream_chunked(s, n, size, cut_at=None):
    """n connections send chunked bodies of `size` bytes (256 KiB chunks) at once, or stop and
    close after `cut_at` bytes. Returns the statuses ("cut" for a closed one)."""
    results = [None] * n
    start = threading.Barrier(n)
    head = (b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (256 << 10, b" " * (256 << 10))

    def one(i):
        try:
            sock = s.tls_socket(timeout=120)
        except OSError as e:
            results[i] = ("connect", str(e))
            return
        try:
            start.wait(60)
            try:
                sock.sendall(head + b"1\r\n[\r\n")
                poll = select.poll()
                poll.register(sock, select.POLLIN)
                for off in range(0, size, 256 << 10):
                    if cut_at is not None and off >= cut_at:
                        results[i] = "cut"
                        return
                    if sock.pending() or poll.poll(0):
                        break
                    sock.sendall(chunk)
                sock.sendall(b"1\r\n]\r\n0\r\n\r\n")
            except OSError:
                pass
            results[i] = read_response(sock)[0]
        except (OSError, AssertionError, threading.BrokenBarrierError) as e:
            results[i] = ("error", str(e))
        finally:
            sock.close()

    run_threads(n, one)
    return results


def test_growing_bodies_return_their_memory():
    """Chunked bodies grow by reallocation on several worker threads: round after round (some
    clients leaving midway), the peak stays near baseline + budget and the memory is returned
    afterwards. (With glibc's default, a freed large buffer raised the mmap threshold, so the
    next ones came from per-thread heaps: 100 x 8 MiB chunked bodies against the 64Mi budget
    peaked at 163 MB after 6 rounds, with 138 MB still resident when idle.)"""
    n = int(os.environ.get("OG_BUDGET_CONNS", "32"))
    budget_bytes = 24 * MIB
    with Server("--body-budget", "24Mi", "--threads", "4", "--request-timeout", "60s") as s:
        pid = s.proc.pid
        eq(s.review("/mutate", padded_review(64 << 10)).status, 200, "warm-up admission")
        before = status_kb(pid)
        for rnd in range(4):
            results = stream_chunked(s, n, BODY - MIB, cut_at=BODY // 2 if rnd % 2 else None)
            for r in results:
                check(r in (200, 400, 503, "cut"), "every answer is 200, 400, 503 or a cut", r)
        time.sleep(0.5)
        after = status_kb(pid)
        if os.environ.get("OG_BUDGET_REPORT"):
            print("chunked rounds: VmHWM %d -> %d kB, VmRSS %d -> %d kB" %
                  (before["VmHWM"], after["VmHWM"], before["VmRSS"], after["VmRSS"]), flush=True)
        if not sanitized():
            bound_kb = before["VmHWM"] + budget_bytes // 1024 + n * 256 + 24 * 1024
            check(after["VmHWM"] < bound_kb, "peak RSS %d kB within %d kB" % (after["VmHWM"],
                                                                              bound_kb))
            check(after["VmRSS"] < before["VmRSS"] + 16 * 1024,
                  "RSS %d kB back near %d kB when idle" % (after["VmRSS"], before["VmRSS"]))
        eq(s.request("GET", "/healthz").status, 200, "healthz after the rounds")
        # The cut connections give their share back once the server has seen them go, which a
        # sanitizer build may take a while to do: the whole budget is back within seconds.
        full = padded_review(BODY)
        deadline = time.monotonic() + 20
        while True:
            try:
                st = s.review("/mutate", full).status
            except OSError as e:  # a 503 at the headers closes while the body is sent
                st = e
            if st == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        eq(st, 200, "a full-size body after them")


def test_content_length_over_budget_is_413():
    """A body that could never fit the budget is a 413 at once, not a 503 for ever."""
    with Server("--body-budget", "1Mi", "--max-body", "4M") as s:
        sock = s.tls_socket()
        sock.sendall(b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % (2 * MIB))
        st, hdrs, body = read_response(sock)
        sock.close()
        eq(st, 413, "status")
        check(b"budget" in body, "names the budget", body)


def test_flag_uses_quantity_syntax():
    """--body-budget takes the config file's sizes: M is 10^6, Mi 2^20; bad values exit 2."""
    import subprocess
    from ogtest import certs
    c = certs()
    for bad in ("64MB", "1m", "-1Mi", "999k", "65Gi", ""):
        p = subprocess.run([BIN, "serve", "--tls-cert", c.cert, "--tls-key", c.key,
                            "--listen", "127.0.0.1:0", "--body-budget", bad],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
        eq(p.returncode, 2, "exit status for --body-budget %r" % bad)
        check(b"--body-budget" in p.stderr, "message names the flag", p.stderr)
    # 2M is 2000000 bytes and 2Mi 2097152: a 2000000-byte body never fits the first (413),
    # and fits the second.
    with Server("--body-budget", "2M", "--max-body", "3M") as s:
        sock = s.tls_socket()
        sock.sendall(b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nContent-Length: 2000000\r\n\r\n")
        st, _, body = read_response(sock)
        sock.close()
        eq(st, 413, "2000000 bytes against a 2M budget")
    with Server("--body-budget", "2Mi", "--max-body", "3M") as s:
        eq(s.review("/mutate", padded_review(2000000)).status, 200,
           "2000000 bytes against a 2Mi budget")

if __name__ == "__main__":
    run(globals())
