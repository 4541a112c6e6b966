#!/usr/bin/python3
"""The TLS transport (server/tlsio.c): GnuTLS reads ahead of what it asks for, and a response's
header and body records leave in one write. What must hold whatever the transport does: bytes
read ahead are served without waiting for the socket (pipelined requests in one write, a
request split over many records), a response with no body is never held back (HEAD), and a
keep-alive admission costs one receive and one send (counted with strace when it can trace)."""
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

from ogtest import Server, Skip, check, eq, fixture, run

REVIEW = fixture("review-bitnami-create.json")
PIPELINED = 16


def post(body, path="/mutate?timeout=10s"):
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def read_responses(sock, n, timeout=5.0):
    """Reads `n` HTTP responses (Content-Length framed) from `sock`; returns [(status, body)]."""
    buf, out = b"", []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        m = re.match(rb"HTTP/1\.1 (\d+) [^\r]*\r\n(.*?)\r\n\r\n", buf, re.S)
        if m:
            length = int(re.search(rb"(?i)content-length: *(\d+)", m.group(2)).group(1))
            end = m.end() + length
            if len(buf) >= end:
                out.append((int(m.group(1)), buf[m.end():end]))
                buf = buf[end:]
                continue
        check(time.monotonic() < deadline, "%d of %d responses within %.0fs" % (len(out), n,
              timeout), buf[:300])
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            d = sock.recv(65536)
        except socket.timeout:
            continue
        check(d, "the server closed after %d of %d responses" % (len(out), n))
        buf += d
    return out


def uid_of(body):
    return json.loads(body)["response"]["uid"]


def test_pipelined_requests_in_one_write():
    # Three admissions in one write: the first receive takes them all, and the two behind the
    # first must be served from the read-ahead, not waited for on the socket.
    with Server() as s:
        sock = s.tls_socket()
        try:
            sock.sendall(post(REVIEW) * 3)
            got = read_responses(sock, 3)
        finally:
            sock.close()
        eq([st for st, _ in got], [200, 200, 200], "statuses")
        want = json.loads(REVIEW)["request"]["uid"]
        eq([uid_of(b) for _, b in got], [want] * 3, "uids")


def test_pipelined_connections_share_a_thread():
    # One worker thread, eight connections each writing sixteen admissions at once: a receive
    # brings more than one request, and the rest waits in the thread's buffer while the other
    # connections are served. Bytes given to the wrong connection would fail its TLS records.
    import threading
    doc = json.loads(REVIEW)
    results, errors = {}, []

    def client(s, k):
        try:
            sock = s.tls_socket()
            reqs, uids = b"", []
            for i in range(PIPELINED):
                doc["request"]["uid"] = "conn-%d-req-%d" % (k, i)
                uids.append(doc["request"]["uid"])
                reqs += post(json.dumps(doc).encode())
            sock.sendall(reqs)
            got = read_responses(sock, PIPELINED, timeout=10)
            sock.close()
            results[k] = ([st for st, _ in got], [uid_of(b) for _, b in got], uids)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append("connection %d: %r" % (k, e))

    with Server("--threads", "1") as s:
        for _ in range(3):
            threads = [threading.Thread(target=client, args=(s, k)) for k in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            check(not errors, "every connection answered", errors)
            for k, (statuses, got, want) in sorted(results.items()):
                eq(statuses, [200] * PIPELINED, "statuses of connection %d" % k)
                eq(got, want, "uids of connection %d, in order" % k)


def test_request_split_over_many_records():
    # A request written a few bytes per TLS record, with pauses: every pull finds the buffer
    # drained and the socket empty in turn.
    with Server() as s:
        sock = s.tls_socket()
        try:
            data = post(REVIEW)
            for i in range(0, len(data), 97):
                sock.sendall(data[i:i + 97])
                if i % 970 == 0:
                    time.sleep(0.02)
            (status, body), = read_responses(sock, 1)
        finally:
            sock.close()
        eq(status, 200, "status")
        check(b'"patchType":"JSONPatch"' in body, "the admission was patched", body[:200])


def test_large_body_over_many_records():
    # A 600 kB review: dozens of full records, each larger than one read-ahead's worth of data.
    doc = json.loads(REVIEW)
    doc["request"]["object"]["metadata"]["annotations"]["pad"] = "x" * 600000
    body = json.dumps(doc).encode()
    with Server() as s:
        sock = s.tls_socket()
        try:
            sock.sendall(post(body) + post(REVIEW))
            got = read_responses(sock, 2, timeout=10)
        finally:
            sock.close()
        eq([st for st, _ in got], [200, 200], "statuses")


def test_head_is_answered_at_once():
    # A HEAD answer has no body: a header record held for a body that never comes would wait
    # for the next response.
    with Server() as s:
        sock = s.tls_socket()
        try:
            sock.settimeout(3)
            start = time.monotonic()
            sock.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            data = sock.recv(65536)
            elapsed = time.monotonic() - start
        finally:
            sock.close()
        check(data.startswith(b"HTTP/1.1 "), "a HEAD answer", data[:100])
        check(elapsed < 1.0, "the HEAD answer came in %.2fs" % elapsed)


def test_keep_alive_answers_leave_at_once():
    # libmicrohttpd corks the socket (TCP_CORK) before a connection's first answer and pushes
    # each with TCP_NODELAY before ocigate writes the answer's record (tlsio.h): left corked,
    # every answer after the first waited 200 ms for the kernel's cork timer.
    n = 20
    with Server() as s:
        sock = s.tls_socket()
        try:
            start = time.monotonic()
            for _ in range(n):
                sock.sendall(post(REVIEW))
                (status, _), = read_responses(sock, 1)
                eq(status, 200, "status")
            elapsed = time.monotonic() - start
        finally:
            sock.close()
    check(elapsed < 2.0, "%d keep-alive admissions took %.2fs (want well under 2s)" % (n, elapsed))


def test_keep_alive_large_answers_leave_at_once():
    # A connection whose first answers are too large to be corked into one record (httpd.c,
    # CORK_MAX) keeps libmicrohttpd's TCP_CORK: each of its pushes must then reach the kernel
    # (sockopt.h), or every answer waits 200 ms for the cork timer. Admissions after them turn
    # the cork off; larger answers after those are pushed as well.
    with Server() as s:
        sock = s.tls_socket()
        try:
            start = time.monotonic()
            for path in ["/metrics"] * 8 + ["/mutate"] * 4 + ["/metrics"] * 4:
                if path == "/mutate":
                    sock.sendall(post(REVIEW))
                else:
                    sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                (status, body), = read_responses(sock, 1)
                eq(status, 200, path)
                check(path != "/metrics" or len(body) > 4096, "a metrics page larger than a "
                      "corked answer", len(body))
            elapsed = time.monotonic() - start
        finally:
            sock.close()
    check(elapsed < 1.0, "16 keep-alive answers took %.2fs (want well under 1s)" % elapsed)


def records_per_answer(s, n):
    """Sends `n` admissions one by one over TLS 1.2 (whose tickets travel in the handshake, so
    that after it every application-data record is an answer's) through memory BIOs, counting
    the server's records on the wire; returns (records, answers)."""
    ctx = ssl.create_default_context(cafile=s.ca)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    raw = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inc, out, server_hostname="127.0.0.1")
    stream, records, answers = b"", 0, 0
    try:
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                raw.sendall(out.read())
                data = raw.recv(65536)
                check(data, "the server closed in the handshake")
                inc.write(data)
        raw.sendall(out.read())
        for _ in range(n):
            tls.write(post(REVIEW))
            raw.sendall(out.read())
            got = b""
            while not re.search(rb"\r\n\r\n.*\}\}\}$", got, re.S):
                data = raw.recv(65536)
                check(data, "the server closed after %d answers" % answers)
                stream += data
                inc.write(data)
                while len(stream) >= 5 and len(stream) >= 5 + int.from_bytes(stream[3:5], "big"):
                    if stream[0] == 23:
                        records += 1
                    stream = stream[5 + int.from_bytes(stream[3:5], "big"):]
                while True:
                    try:
                        got += tls.read(65536)
                    except ssl.SSLWantReadError:
                        break
            answers += 1
    finally:
        raw.close()
    return records, answers


def test_an_answer_is_one_record():
    # The header and the body that libmicrohttpd sends one after the other are gathered into
    # one TLS record (gnutls_record_cork(), tlsio.h): one encryption and 22 bytes fewer.
    with Server() as s:
        records, answers = records_per_answer(s, 10)
    eq(answers, 10, "answers")
    eq(records, 10, "application-data records for 10 answers")


def test_a_client_that_does_not_read_is_cut_not_left_hanging():
    # A client that pipelines thousands of admissions without reading: once the socket takes
    # no more, an answer's record cannot be kept for later (nothing would send it), so the
    # connection is cut; the client then reads what was sent, to its end, and never waits for
    # an answer that would not come. Other clients are served meanwhile.
    import threading
    n = 5000
    with Server() as s:
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.settimeout(10)
        raw.connect(("127.0.0.1", s.port))
        sock = s.ctx.wrap_socket(raw, server_hostname="127.0.0.1")

        def flood():
            try:
                sock.sendall(post(REVIEW) * n)
            except OSError:
                pass  # cut while sending: expected

        sender = threading.Thread(target=flood)
        sender.start()
        time.sleep(1.0)
        eq(s.request("GET", "/healthz").status, 200, "another client's /healthz meanwhile")
        # The answers keep coming until they end or the connection does: never a pause near
        # the connection's idle timeout (10 s), which would end a stalled one too. (A slow
        # build may still be answering when the client starts reading: progress, not a total
        # time, is what counts.)
        got, last = b"", time.monotonic()
        reading = last
        while True:
            check(time.monotonic() - last < 4, "answers stalled for 4s after %d"
                  % got.count(b"HTTP/1.1 200"))
            sock.settimeout(0.2)
            try:
                d = sock.recv(65536)
            except socket.timeout:
                continue
            except (OSError, ssl.SSLError):
                break
            if not d:
                break
            got += d
            last = time.monotonic()
            if got.count(b"HTTP/1.1 200") == n:
                break
        sock.close()
        sender.join(10)
        answers = got.count(b"HTTP/1.1 200")
        check(answers > 0, "answers before the cut", answers)
        # Cut, it ends at once: the answers kept for later, which would never have left, would
        # have left the connection open until its idle timeout.
        check(answers == n or time.monotonic() - reading < 3,
              "%d of %d answers, the end %.1fs after the client began to read"
              % (answers, n, time.monotonic() - reading))


def test_large_answers_wait_for_a_slow_reader():
    # Answers larger than one corked record may take (httpd.c, CORK_MAX) are sent the plain way,
    # waiting for the socket: 400 pipelined /metrics pages (some 7 kB each, more than the
    # socket's send buffer holds) to a client with a small receive buffer that starts reading
    # late all arrive whole.
    n = 400
    with Server() as s:
        for _ in range(3):
            s.request("POST", "/mutate?timeout=10s", body=REVIEW,
                      headers={"Content-Type": "application/json"})
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.settimeout(10)
        raw.connect(("127.0.0.1", s.port))
        sock = s.ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        try:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * n)
            time.sleep(0.5)
            got = read_responses(sock, n, timeout=20)
        finally:
            sock.close()
    eq([st for st, _ in got], [200] * n, "statuses")
    check(all(len(b) > 4096 for _, b in got), "metrics pages larger than one corked answer",
          [len(b) for _, b in got])


def strace_counts(path):
    """strace -c's table: {syscall: (calls, errors)}."""
    out = {}
    for line in open(path):
        f = line.split()
        if len(f) >= 5 and f[0].replace(".", "").isdigit() and f[-1].isidentifier():
            calls = int(f[3])
            errors = int(f[4]) if len(f) == 6 else 0
            out[f[-1]] = (calls, errors)
    return out


def strace_run(session, trace="trace=recvfrom,recvmsg,sendto,sendmsg"):
    """Runs the daemon under `strace -f -c`, calls session(server), stops the daemon, and
    returns strace's table; skips when strace is missing or cannot trace here."""
    strace = shutil.which("strace")
    if strace is None:
        raise Skip("strace is not installed (Debian package strace)")
    probe = subprocess.run([strace, "-f", "-o", "/dev/null", "true"], capture_output=True)
    if probe.returncode != 0:
        raise Skip("strace cannot trace here: %s" % probe.stderr.decode(errors="replace")[:200])
    with tempfile.TemporaryDirectory(prefix="ogtest-strace-") as tmp:
        out = os.path.join(tmp, "counts")
        # LeakSanitizer cannot run under ptrace (an ASan build would exit 1 at the end).
        asan = os.environ.get("ASAN_OPTIONS", "")
        env = ["env", "ASAN_OPTIONS=" + (asan + ":" if asan else "") + "detect_leaks=0"]
        with Server(wrapper=env + [strace, "-f", "-c", "-o", out, "-e", trace]) as s:
            session(s)
            # The signal goes to the daemon, strace's child; strace writes its table at the end.
            children = open("/proc/%d/task/%d/children" % (s.proc.pid, s.proc.pid)).read()
            os.kill(int(children.split()[0]), signal.SIGTERM)
            eq(s.proc.wait(timeout=20), 0, "exit status")
        return strace_counts(out)


def successful(counts, *names):
    return sum(counts.get(n, (0, 0))[0] - counts.get(n, (0, 0))[1] for n in names)


def test_one_receive_and_one_send_per_admission():
    n = 300

    def admissions(s):
        # Each request in one write (one record), as the apiserver's Go client sends it.
        sock = s.tls_socket()
        for _ in range(n):
            sock.sendall(post(REVIEW))
            (status, _), = read_responses(sock, 1)
            eq(status, 200, "status")
        sock.close()

    counts = strace_run(admissions, trace="trace=recvfrom,recvmsg,sendto,sendmsg,setsockopt")
    received = successful(counts, "recvfrom", "recvmsg")
    sent = successful(counts, "sendto", "sendmsg")
    # The margin covers the handshake and the start-up probe's connection.
    check(received <= n + 40, "%d successful receives for %d admissions (want about one each)"
          % (received, n), counts)
    check(sent <= n + 40, "%d sends for %d admissions (want one each)" % (sent, n), counts)
    # libmicrohttpd pushes every answer with setsockopt(TCP_NODELAY), which changes nothing
    # once the socket has it and no cork (sockopt.h): a few calls per connection, none per answer.
    options = counts.get("setsockopt", (0, 0))[0]
    check(options <= 20, "%d setsockopt calls for %d admissions (want a few per connection)"
          % (options, n), counts)


def test_a_handshake_flight_leaves_in_one_write():
    # The server's flight (ServerHello to Finished in TLS 1.3; ServerHello to ServerHelloDone in
    # 1.2) is several records: written one by one, Nagle's algorithm held the second back for
    # the client's delayed ACK, 40 ms a handshake. One write per flight: with the TLS 1.3
    # session tickets and the close_notify, three or four sends a handshake, where record by
    # record took seven or eight.
    n = 30

    def handshakes(s):
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            ctx = ssl.create_default_context(cafile=s.ca)
            ctx.minimum_version = ctx.maximum_version = version
            for _ in range(n):
                raw = socket.create_connection(("127.0.0.1", s.port), timeout=10)
                tls = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
                tls.close()

    counts = strace_run(handshakes)
    sent = successful(counts, "sendto", "sendmsg")
    check(sent <= 4 * 2 * n + 10, "%d sends for %d handshakes (want at most 4 each)"
          % (sent, 2 * n), counts)


if __name__ == "__main__":
    run(globals())
