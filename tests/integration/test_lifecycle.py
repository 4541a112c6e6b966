"""Life cycle of `ocigate serve`: SIGTERM drain, in-flight requests, SIGHUP, exit status."""

import http.client
import json
import signal
import socket
import time

import ogtest
from ogtest import Server, check, eq, fixture


def partial_request(s):
    """A TLS socket with the headers and half of the body of a review already sent."""
    body = fixture("review-bitnami-create.json")
    sock = s.tls_socket()
    sock.sendall(b"POST /mutate?timeout=10s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
    half = len(body) // 2
    sock.sendall(body[:half])
    return sock, body[half:], json.loads(body)["request"]["uid"]


def finish_request(sock, rest, uid):
    sock.sendall(rest)
    resp = http.client.HTTPResponse(sock)
    resp.begin()
    eq(resp.status, 200, "in-flight request status")
    out = json.loads(resp.read())
    eq(out["response"]["uid"], uid, "in-flight response uid")
    sock.close()


def test_sigterm_drain_readyz_503_and_inflight_completes():
    with Server(drain=2, conn_timeout=10) as s:
        eq(s.request("GET", "/readyz").status, 200, "ready before SIGTERM")
        # A connection that had the same answer before: it is not sent again without the close.
        kept = s.conn()
        r = s.request("GET", "/healthz", conn=kept)
        check(r.header("connection") != "close", "open before SIGTERM")
        sock, rest, uid = partial_request(s)
        time.sleep(0.2)
        start = time.monotonic()
        s.send_signal(signal.SIGTERM)
        s.wait_log("draining")
        r = s.request("GET", "/readyz")
        eq(r.status, 503, "readyz while draining")
        eq(r.json(), {"status": "draining"}, "readyz body while draining")
        eq(r.header("connection"), "close", "draining responses close the connection")
        eq(s.request("GET", "/healthz").status, 200, "healthz while draining")
        r = s.request("GET", "/healthz", conn=kept)
        eq(r.header("connection"), "close", "an answer sent before, now while draining")
        kept.close()
        # Admissions are still served during the drain period.
        r = s.review("/mutate", fixture("review-bitnami-create.json"))
        eq(r.status, 200, "admission while draining")
        finish_request(sock, rest, uid)
        rc = s.proc.wait(timeout=20)
        took = time.monotonic() - start
        eq(rc, 0, "exit status after SIGTERM")
        check(took >= 1.8, "waited the drain period (%.2fs)" % took)
        check(took < 8, "stopped soon after the drain period (%.2fs)" % took)
        msgs = [l["msg"] for l in s.log_lines()]
        check("stopped" in msgs, "stopped logged", msgs)


def test_inflight_request_finishes_after_listener_closed():
    with Server(drain=0, conn_timeout=10) as s:
        sock, rest, uid = partial_request(s)
        time.sleep(0.2)
        s.send_signal(signal.SIGTERM)
        s.wait_log("draining")
        time.sleep(0.3)
        check(s.proc.poll() is None, "still running while a request is in flight")
        # The listener is closed: new connections are refused.
        refused = False
        try:
            socket.create_connection(("127.0.0.1", s.port), timeout=2).close()
        except OSError:
            refused = True
        check(refused, "new connections refused after the drain period")
        finish_request(sock, rest, uid)
        eq(s.proc.wait(timeout=20), 0, "exit status")


def test_sigint_stops_and_sighup_logs_reload():
    with Server() as s:
        s.send_signal(signal.SIGHUP)
        s.wait_log("reload requested")
        eq(s.request("GET", "/healthz").status, 200, "serving after SIGHUP")
        s.stop(signal.SIGINT)


def test_second_sigterm_cuts_drain_short():
    with Server(drain=30) as s:
        start = time.monotonic()
        s.send_signal(signal.SIGTERM)
        s.wait_log("draining")
        s.send_signal(signal.SIGTERM)
        eq(s.proc.wait(timeout=10), 0, "exit status")
        check(time.monotonic() - start < 5, "second SIGTERM ends the drain early")


def test_idle_keepalive_connection_does_not_block_stop():
    with Server(drain=0, conn_timeout=30) as s:
        c = s.conn()
        eq(s.request("GET", "/healthz", conn=c).status, 200, "healthz")
        start = time.monotonic()
        s.send_signal(signal.SIGTERM)
        eq(s.proc.wait(timeout=10), 0, "exit status")
        check(time.monotonic() - start < 3, "an idle keep-alive connection does not delay stop")
        c.close()


if __name__ == "__main__":
    ogtest.run(globals())
