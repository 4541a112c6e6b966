#!/usr/bin/python3
"""Request framing that RFC 9112 forbids (request smuggling): each request carries a second
request (GET /healthz) in the bytes that a different reading of its framing would take as the
start of the next request. The server must answer the first one 400 or 501 with
"Connection: close", close the connection, and never answer the smuggled one."""
import re
import socket
import time

from ogtest import Server, check, eq, run

SMUGGLED = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
JSON7 = b'{"a":1}'  # 7 bytes
CHUNKED7 = b"7\r\n" + JSON7 + b"\r\n0\r\n\r\n"


def exchange(s, data, wait=3.0):
    """Sends `data` on a fresh TLS connection; returns (bytes read, closed by the server)."""
    sock = s.tls_socket(timeout=wait)
    got = b""
    closed = False
    try:
        sock.sendall(data)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                d = sock.recv(65536)
            except socket.timeout:
                break
            if not d:
                closed = True
                break
            got += d
    except (ConnectionResetError, BrokenPipeError):
        closed = True
    finally:
        sock.close()
    return got, closed


def responses(raw):
    """The statuses of the responses in `raw`, in order (a body runs into the next one)."""
    return [int(m) for m in re.findall(rb"HTTP/1\.[01] (\d{3}) ", raw)]


def head(headers):
    return (b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
            headers + b"\r\n")


def expect_rejected(s, data, status, what):
    raw, closed = exchange(s, data)
    eq(responses(raw), [status], what + ": one answer, and not to the smuggled request")
    check(b"\r\nConnection: close\r\n" in raw, what + ": Connection: close", raw[:400])
    check(closed, what + ": the connection is closed")


def test_conflicting_content_length():
    """Content-Length 7 and 41: the 34 bytes after the first 7 are a whole request."""
    body = JSON7 + SMUGGLED
    eq(len(body), 41, "body length")
    with Server() as s:
        expect_rejected(s, head(b"Content-Length: 7\r\nContent-Length: 41\r\n") + body, 400,
                        "two Content-Length")
        expect_rejected(s, head(b"Content-Length: 41\r\nContent-Length: 7\r\n") + body, 400,
                        "two Content-Length, the longer first")
        # Equal duplicates are refused too (RFC 9110 section 8.6 allows either).
        expect_rejected(s, head(b"Content-Length: 7\r\nContent-Length: 7\r\n") + body, 400,
                        "two equal Content-Length")
        # Nothing left to read after the headers, and still closed (libmicrohttpd 0.9.75 ends
        # the connection after any answer queued at the headers; the answer says
        # "Connection: close" itself so that this does not hang on that).
        expect_rejected(s, head(b"Content-Length: 0\r\nContent-Length: 0\r\n") + SMUGGLED, 400,
                        "two Content-Length 0")
        # A list in one field is already refused by libmicrohttpd itself (0.9.75 writes its
        # error's header block twice).
        raw, closed = exchange(s, head(b"Content-Length: 7, 7\r\n") + body)
        check(set(responses(raw)) == {400}, "Content-Length list: 400 only", raw[:400])
        check(closed, "Content-Length list: closed")
        eq(s.request("GET", "/healthz").status, 200, "healthz afterwards")


def test_content_length_with_transfer_encoding():
    with Server() as s:
        for hdrs in (b"Content-Length: 7\r\nTransfer-Encoding: chunked\r\n",
                     b"Transfer-Encoding: chunked\r\nContent-Length: 7\r\n",
                     b"Content-Length: 41\r\nTransfer-Encoding: chunked\r\n"):
            expect_rejected(s, head(hdrs) + CHUNKED7 + SMUGGLED, 400, repr(hdrs))


def test_transfer_encoding_other_than_chunked():
    """libmicrohttpd de-chunks only a Transfer-Encoding of exactly "chunked"; for any other it
    reads the body until the connection closes."""
    cases = [(b"gzip, chunked", 501), (b"chunked, identity", 400), (b"identity", 400),
             (b"gzip", 400), (b"chunked ", 400), (b"", 400)]
    with Server() as s:
        for te, status in cases:
            expect_rejected(s, head(b"Transfer-Encoding: " + te + b"\r\n") + CHUNKED7 + SMUGGLED,
                            status, "Transfer-Encoding %r" % te)
        expect_rejected(s, head(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n") +
                        CHUNKED7 + SMUGGLED, 400, "two Transfer-Encoding")
        expect_rejected(s, head(b"Transfer-Encoding: chunked\r\n").replace(b"HTTP/1.1", b"HTTP/1.0")
                        + CHUNKED7 + SMUGGLED, 400, "Transfer-Encoding in HTTP/1.0")


def test_whitespace_before_colon():
    """RFC 9112 section 5.1: a server MUST reject whitespace between field name and colon."""
    with Server() as s:
        expect_rejected(s, head(b"Content-Length : 7\r\n") + JSON7 + SMUGGLED, 400,
                        "space before colon")
        expect_rejected(s, head(b"Content-Length\t: 7\r\n") + JSON7 + SMUGGLED, 400,
                        "tab before colon")


def test_obs_fold_and_control_characters():
    """RFC 9112 section 5.2: an obs-fold in a request is rejected (libmicrohttpd 0.9.75 appended
    the continuation to the field's name: `Content-Length: 7` + ` 0` framed nothing, and the 7
    body bytes that a proxy reading the first line forwards were read as the next request).
    RFC 9110 section 5.5: a value with a bare CR (where another parser ends the line) or
    another control character is rejected too."""
    with Server() as s:
        expect_rejected(s, head(b"Content-Length: 7\r\n 0\r\n") + JSON7 + SMUGGLED, 400,
                        "obs-fold of Content-Length")
        expect_rejected(s, head(b"Transfer-Encoding: x\r\n\tchunked\r\n") + CHUNKED7 + SMUGGLED,
                        400, "obs-fold of Transfer-Encoding")
        expect_rejected(s, head(b"Content-Length: 7\r\nX-A: a\r\n b\r\n") + JSON7 + SMUGGLED, 400,
                        "obs-fold of another field")
        expect_rejected(s, head(b"X-A: a\rContent-Length: 7\r\n") + JSON7 + SMUGGLED, 400,
                        "bare CR in a value")
        expect_rejected(s, head(b"Content-Length: 7\r\nX-A: a\x01b\r\n") + JSON7 + SMUGGLED, 400,
                        "control character in a value")
        # Controls: whitespace after the colon, an empty value and a tab inside one still pass.
        raw, closed = exchange(s, head(b"Content-Length:\t  7\r\nX-E:\r\nX-T: a\tb\r\n") +
                               JSON7 + SMUGGLED)
        check(not closed, "a clean request keeps the connection", raw[:300])
        eq(responses(raw)[1:], [200], "the pipelined request after a clean one")


def test_valid_framing_still_pipelines():
    """Controls: chunked alone, and one Content-Length, keep the connection and answer the
    pipelined request after them."""
    with Server() as s:
        for hdrs, body in ((b"Transfer-Encoding: chunked\r\n", CHUNKED7),
                           (b"Transfer-Encoding: Chunked\r\n", CHUNKED7),
                           (b"Content-Length: 7\r\n", JSON7)):
            raw, _ = exchange(s, head(hdrs) + body + SMUGGLED, wait=1.5)
            eq(responses(raw), [400, 200], "%r: the body's 400, then healthz" % hdrs)
            check(b"invalid AdmissionReview" in raw, "%r: the body was read" % hdrs, raw[:300])


if __name__ == "__main__":
    run(globals())
