#!/usr/bin/python3
"""Clients that are slow on purpose, and large bodies that are wrong for another reason."""
import json
import time

from ogtest import Server, check, eq, run


def test_drip_fed_body_is_cut():
    """A body that keeps trickling in (never idle long enough for the idle timeout) is cut
    once --request-timeout has passed since the request began."""
    with Server("--request-timeout", "2s", conn_timeout=10) as s:
        sock = s.tls_socket(timeout=15)
        sock.sendall(b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100000\r\n\r\n")
        t0 = time.monotonic()
        closed = False
        try:
            while time.monotonic() - t0 < 12:
                sock.sendall(b" ")
                time.sleep(0.5)
        except (BrokenPipeError, ConnectionResetError, OSError):
            closed = True
        if not closed:
            sock.settimeout(3)
            try:
                closed = sock.recv(1) == b""
            except OSError:
                closed = True
        took = time.monotonic() - t0
        sock.close()
        check(closed, "the dripping connection was closed")
        check(took < 4, "closed soon after the 2 s request timeout", took)
        # The daemon serves others as before.
        eq(s.request("GET", "/healthz").status, 200, "healthz after the slow client")


def test_large_body_keeps_its_first_error():
    """A 9 MiB body with the wrong media type is a 415, not a 413."""
    with Server() as s:
        r = s.request("POST", "/mutate", b"x" * (9 << 20), {"Content-Type": "text/plain"})
        eq(r.status, 415, "status")
        check("application/json" in json.loads(r.body)["error"], "error names the media type")


if __name__ == "__main__":
    run(globals())
