#!/usr/bin/python3
"""indexsrv.py - a tiny Helm index server for ocigate's fetch tests, on 127.0.0.1 only.

Prints "port N" (and "sentinel N" when --sentinel is given) on stdout, one line each, then
serves until killed or stdin closes. Paths (the last segment is normally index.yaml):

  /repo/NAME/index.yaml          the file NAME.yaml from tests/data/index or the shared data,
                                 with validators (ETag "<mtime>-<size>", Last-Modified) that
                                 it honours: If-None-Match (weak comparison, `*`), else
                                 If-Modified-Since, gives 304 Not Modified (so do /delay,
                                 /gzip - its ETag weak and "-gzip" - /flaky and /var)
  /ignore/NAME/index.yaml        as /repo, validators sent but ignored (always 200)
  /var/KEY/index.yaml            as /repo for the NAME that /_set/KEY/NAME chose
  /switch/KEY/index.yaml         302 to the path /_set/KEY/PATH-ESCAPED chose
  /hdr/ETAG/DATE/NAME/index.yaml as /ignore, with the given (urllib-unquoted) raw ETag and
                                 Last-Modified values (`-`: none); for hostile values
  /delay/MS/NAME/index.yaml      the same, after MS milliseconds
  /gzip/NAME/index.yaml          the same, Content-Encoding: gzip
  /status/CODE/index.yaml        an empty CODE response (404, 401, 503, ...)
  /drip/MS/index.yaml            a small valid index, one byte every MS milliseconds
  /endless/index.yaml            200, chunked, never ends (YAML comment lines)
  /garbage/index.yaml            200, bytes that are not YAML
  /bomb/index.yaml               200, gzip of 256 MiB of spaces (a few hundred KiB on the wire)
  /gzrepeat/N/index.yaml         200, gzip of a valid index with N identical versions of one
                                 chart (about 80 bytes each; a ratio of several hundred to 1)
  /huge/index.yaml               200 with Content-Length: 1 TB, then a few bytes and a stall
  /loop/index.yaml               302 to itself, forever
  /hops/N/NAME/index.yaml        N redirects, then /repo/NAME/index.yaml
  /to/URL-ESCAPED                302 to the given absolute url (urllib.parse.quote'd)
  /_stats                        JSON: {"requests": {path: n}, "connections": n,
                                        "sentinel_connections": n, "last_headers": {...},
                                        "active": n, "peak_active": n,
                                        "bytes_sent": {path: n}, "not_modified": n}
                                 (bytes_sent: response bytes on the wire, status line and
                                 headers included, per path)
                                 (connections leaves out the one asking; active: requests
                                 being answered now - for /delay, until the delay ends -
                                 peak_active: most at once, both outside /_ paths)
  /_reset                        zeroes the counters (peak_active to active)

A query string is ignored (distinct urls for one path: /drip/1000/index.yaml?n=7).
  /flaky/NAME/index.yaml         as /repo, or 503 while /_flaky/1 is in force (/_flaky/0 ends it)

--tls CERT KEY serves HTTPS instead of HTTP.
--sentinel ADDR also listens on ADDR (e.g. 127.0.0.2) and only counts connections there:
a redirect to it proves whether the fetcher ever connected to a refused address.
"""
import argparse
import email.utils
import gzip
import json
import os
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
_SHARED = os.environ.get("OG_SHARED_DATA") or os.path.join(HERE, "..", "..", "..", "shared", "data")
DATA_DIRS = [os.path.join(HERE, "..", "data", "index"), os.path.join(_SHARED, "index")]

LOCK = threading.Lock()
FLAKY = [False]
VARS = {}  # /_set/KEY/VALUE: for /var and /switch
STATS = {"requests": {}, "connections": 0, "sentinel_connections": 0, "last_headers": {},
         "active": 0, "peak_active": 0, "bytes_sent": {}, "not_modified": 0}

SMALL_INDEX = (b"apiVersion: v1\nentries:\n  demo:\n  - name: demo\n    version: 1.0.0\n"
               b"    urls:\n    - oci://registry.example.com/charts/demo:1.0.0\n"
               b"generated: '2025-01-01T00:00:00Z'\n")


def repeat_index(n):
    return (b"apiVersion: v1\nentries:\n  demo:\n" +
            b"  - version: 1.0.0\n    urls:\n    - oci://registry.example.com/charts/demo:1.0.0\n"
            * n)


def find_file(name):
    if "/" in name or name.startswith("."):
        return None
    for d in DATA_DIRS:
        p = os.path.join(d, name + ".yaml")
        if os.path.isfile(p):
            return p
    return None


def etag_list(header):
    """The entity-tags of an If-None-Match value, W/ removed (weak comparison)."""
    tags = []
    for t in header.split(","):
        t = t.strip()
        if t.startswith("W/"):
            t = t[2:]
        if t:
            tags.append(t)
    return tags


class CountingWriter:
    """Wraps a handler's wfile and counts what is written, per request path."""

    def __init__(self, handler, raw):
        self.handler = handler
        self.raw = raw

    def write(self, b):
        # Counted before the bytes leave: a client that has them all may ask for the count
        # at once, before this thread runs again.
        path = getattr(self.handler, "path", None)
        if path is not None and not path.startswith("/_"):
            with LOCK:
                STATS["bytes_sent"][path] = STATS["bytes_sent"].get(path, 0) + len(b)
        return self.raw.write(b)

    def flush(self):
        self.raw.flush()

    def __getattr__(self, name):
        return getattr(self.raw, name)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512  # hundreds of fetches connect at once in the load tests

    def handle_error(self, request, client_address):
        # Clients that give up midway (caps, timeouts, refusals) are the point of the tests.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def get_request(self):
        conn = super().get_request()
        with LOCK:
            STATS["connections"] += 1
        return conn


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "indexsrv/1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        self.wfile = CountingWriter(self, self.wfile)

    def count(self):
        with LOCK:
            STATS["requests"][self.path] = STATS["requests"].get(self.path, 0) + 1
            STATS["last_headers"] = {k.lower(): v for k, v in self.headers.items()}

    def send_body(self, code, body, ctype="application/x-yaml", extra=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def redirect(self, location):
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def not_modified(self, validators):
        """True when the request's validators match (then a 304 was sent)."""
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        if inm is not None:
            tags = etag_list(inm)
            etag = validators.get("ETag", "")
            match = "*" in tags or (etag.removeprefix("W/") in tags)
        elif ims is not None and "Last-Modified" in validators:
            try:
                match = (email.utils.parsedate_to_datetime(validators["Last-Modified"]) <=
                         email.utils.parsedate_to_datetime(ims))
            except (TypeError, ValueError):
                match = False
        else:
            match = False
        if match:
            with LOCK:
                STATS["not_modified"] += 1
            self.send_response(304)
            for k, v in validators.items():
                self.send_header(k, v)
            self.end_headers()
        return match

    def serve_file(self, name, gz=False, honour=True, validators=None):
        path = find_file(name)
        if path is None:
            self.send_body(404, b"not found\n", "text/plain")
            return
        st = os.stat(path)
        if validators is None:
            # As nginx makes them: mtime and size; a compressed variant is another entity.
            tag = '"%x-%x"' % (st.st_mtime_ns, st.st_size)
            validators = {"ETag": 'W/"%x-%x-gzip"' % (st.st_mtime_ns, st.st_size) if gz else tag,
                          "Last-Modified": email.utils.formatdate(st.st_mtime, usegmt=True)}
        if honour and self.not_modified(validators):
            return
        with open(path, "rb") as f:
            body = f.read()
        if gz:
            self.send_body(200, gzip.compress(body, 6),
                           extra=dict(validators, **{"Content-Encoding": "gzip"}))
        else:
            self.send_body(200, body, extra=validators)

    def do_GET(self):  # noqa: C901 (one dispatch table)
        counted = self.active = not self.path.startswith("/_")
        if counted:
            self.count()
            with LOCK:
                STATS["active"] += 1
                STATS["peak_active"] = max(STATS["peak_active"], STATS["active"])
        parts = [urllib.parse.unquote(p) for p in self.path.split("?")[0].split("/")[1:]]
        try:
            self.dispatch(parts)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            self.inactive()

    def inactive(self):
        """Ends this request's count in "active" (once)."""
        if self.active:
            self.active = False
            with LOCK:
                STATS["active"] -= 1

    def dispatch(self, p):
        if p == ["_stats"]:
            with LOCK:
                # Not counting the connection that asks.
                body = json.dumps(dict(STATS, connections=STATS["connections"] - 1)).encode()
            self.send_body(200, body, "application/json")
        elif p == ["_reset"]:
            with LOCK:
                STATS["requests"].clear()
                STATS["connections"] = 0
                STATS["sentinel_connections"] = 0
                STATS["peak_active"] = STATS["active"]
                STATS["bytes_sent"].clear()
                STATS["not_modified"] = 0
            self.send_body(200, b"{}", "application/json")
        elif len(p) == 3 and p[0] == "_set":
            VARS[p[1]] = p[2]
            self.send_body(200, b"{}", "application/json")
        elif len(p) == 3 and p[0] == "ignore":
            self.serve_file(p[1], honour=False)
        elif len(p) == 3 and p[0] == "var":
            self.serve_file(VARS.get(p[1], "-"))
        elif len(p) == 3 and p[0] == "switch":
            self.redirect(VARS.get(p[1], "/none"))
        elif len(p) == 5 and p[0] == "hdr":
            val = {}
            if p[1] != "-":
                val["ETag"] = p[1]
            if p[2] != "-":
                val["Last-Modified"] = p[2]
            self.serve_file(p[3], honour=False, validators=val)
        elif len(p) == 2 and p[0] == "_flaky":
            FLAKY[0] = p[1] == "1"
            self.send_body(200, b"{}", "application/json")
        elif len(p) == 3 and p[0] == "flaky":
            if FLAKY[0]:
                self.send_body(503, b"", "text/plain")
            else:
                self.serve_file(p[1])
        elif len(p) == 3 and p[0] == "repo":
            self.serve_file(p[1])
        elif len(p) == 4 and p[0] == "delay":
            time.sleep(int(p[1]) / 1000.0)
            # Counted out before the answer: the client can only start its next request
            # after this one, so peak_active is exact for the caps tests.
            self.inactive()
            self.serve_file(p[2])
        elif len(p) == 3 and p[0] == "gzip":
            self.serve_file(p[1], gz=True)
        elif len(p) == 3 and p[0] == "status":
            self.send_body(int(p[1]), b"", "text/plain")
        elif len(p) == 3 and p[0] == "drip":
            self.send_response(200)
            self.send_header("Content-Type", "application/x-yaml")
            self.send_header("Content-Length", str(len(SMALL_INDEX)))
            self.end_headers()
            for i in range(len(SMALL_INDEX)):
                self.wfile.write(SMALL_INDEX[i:i + 1])
                self.wfile.flush()
                time.sleep(int(p[1]) / 1000.0)
        elif p == ["endless", "index.yaml"]:
            self.send_response(200)
            self.send_header("Content-Type", "application/x-yaml")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            line = b"# " + b"x" * 1000 + b"\n"
            chunk = b"%x\r\n%s\r\n" % (len(line) * 64, line * 64)
            while True:
                self.wfile.write(chunk)
        elif p == ["garbage", "index.yaml"]:
            self.send_body(200, b"\x00\xff{{{[[[:::\n\t- - -\x01" * 100)
        elif p == ["bomb", "index.yaml"]:
            body = getattr(Handler, "_bomb", None)
            if body is None:
                body = gzip.compress(b" " * (256 << 20), 9)
                Handler._bomb = body
            self.send_body(200, body, extra={"Content-Encoding": "gzip"})
        elif len(p) == 3 and p[0] == "gzrepeat":
            self.send_body(200, gzip.compress(repeat_index(int(p[1])), 9),
                           extra={"Content-Encoding": "gzip"})
        elif p == ["huge", "index.yaml"]:
            self.send_response(200)
            self.send_header("Content-Type", "application/x-yaml")
            self.send_header("Content-Length", str(10**12))
            self.end_headers()
            self.wfile.write(b"apiVersion: v1\n")
            self.wfile.flush()
            time.sleep(5)
        elif p == ["loop", "index.yaml"]:
            self.redirect("/loop/index.yaml")
        elif len(p) == 4 and p[0] == "hops":
            n = int(p[1])
            self.redirect("/repo/%s/index.yaml" % p[2] if n <= 1 else
                          "/hops/%d/%s/index.yaml" % (n - 1, p[2]))
        elif len(p) >= 2 and p[0] == "to":
            self.redirect(urllib.parse.unquote("/".join(p[1:])))
        else:
            self.send_body(404, b"no such path\n", "text/plain")

    do_HEAD = do_GET


def sentinel_loop(sock):
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        with LOCK:
            STATS["sentinel_connections"] += 1
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--sentinel", default=None, help="second loopback address to watch")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve HTTPS")
    args = ap.parse_args()
    if not args.bind.startswith("127."):
        sys.exit("indexsrv: loopback only")
    srv = Server((args.bind, args.port), Handler)
    if args.tls:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls[0], args.tls[1])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("port %d" % srv.server_address[1], flush=True)
    if args.sentinel:
        if not args.sentinel.startswith("127."):
            sys.exit("indexsrv: loopback only")
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((args.sentinel, 0))
        s.listen(16)
        print("sentinel %d" % s.getsockname()[1], flush=True)
        threading.Thread(target=sentinel_loop, args=(s,), daemon=True).start()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    # Exit when the parent goes away (its end of our stdin closes).
    try:
        sys.stdin.read()
    except (KeyboardInterrupt, OSError):
        pass


if __name__ == "__main__":
    main()
