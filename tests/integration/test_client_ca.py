#!/usr/bin/python3
"""`--client-ca FILE`: the handshake requests (never requires) a client certificate; /mutate
and /validate answer 401 without one and 403 with one that does not chain to the CA (another
CA, or not for client authentication), and the admission never runs; /healthz and /readyz stay
reachable without one; the CA is reloaded with the certificate."""

import http.client
import os
import ssl
import subprocess
import tempfile
import time

import ogtest
import tlsutil
from ogtest import Server, check, eq, fixture

INDEX_OFF = "index: {enabled: false}\n"


def client(srv, cafile, cert=None, tls12=False):
    ctx = ssl.create_default_context(cafile=cafile)
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None:
        ctx.load_cert_chain(*cert)
    return http.client.HTTPSConnection("127.0.0.1", srv.port, context=ctx, timeout=10)


def post(conn, path="/validate"):
    conn.request("POST", path, body=fixture("review-bitnami-create.json"),
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    return r.status, r.read(), r.getheader("Connection")


def get(conn, path):
    conn.request("GET", path)
    r = conn.getresponse()
    r.read()
    return r.status


def admitted(srv):
    return [l for l in srv.log_lines() if "uid" in l]


def setup(d):
    ca = tlsutil.make_ca(d)
    tlsutil.make_leaf(d, "server")
    clients = tlsutil.make_ca(d, "clients")
    rogue = tlsutil.make_ca(d, "rogue")
    good = tlsutil.make_leaf(d, "apiserver", ca="clients", eku="clientAuth", sans=None)
    wrong_purpose = tlsutil.make_leaf(d, "serveronly", ca="clients", eku="serverAuth", sans=None)
    bad = tlsutil.make_leaf(d, "intruder", ca="rogue", eku="clientAuth", sans=None)
    cfg = os.path.join(d, "config.yaml")
    with open(cfg, "w") as f:
        f.write(INDEX_OFF)
    live_ca = os.path.join(d, "client-ca.crt")
    with open(clients, "rb") as f, open(live_ca, "wb") as g:
        g.write(f.read())
    return ca, cfg, live_ca, clients, rogue, good, wrong_purpose, bad


def test_client_certificates():
    with tempfile.TemporaryDirectory(prefix="ogtest-clientca-") as d:
        ca, cfg, live_ca, clients, rogue, good, wrong_purpose, bad = setup(d)
        with Server("--config", cfg, "--client-ca", live_ca, cert=os.path.join(d, "server.crt"),
                    key=os.path.join(d, "server.key"), ca=ca) as s:
            # No certificate: the probes work, the admission endpoints say 401.
            c = client(s, ca)
            eq(get(c, "/healthz"), 200, "healthz without a client certificate")
            eq(get(c, "/readyz"), 200, "readyz without a client certificate")
            status, body, conn_hdr = post(c, "/mutate")
            eq(status, 401, "mutate without a client certificate")
            check(b"no client certificate" in body, "401 says why", body)
            eq(conn_hdr, "close", "the connection is closed after a refusal")
            c.close()
            c = client(s, ca)
            eq(post(c, "/validate")[0], 401, "validate without a client certificate")
            c.close()
            # A certificate from another CA: the handshake succeeds (the certificate is only
            # requested), the admission endpoints say 403.
            c = client(s, ca, bad)
            eq(get(c, "/healthz"), 200, "healthz with a foreign certificate")
            status, body, _ = post(c, "/mutate")
            eq(status, 403, "mutate with a certificate from another CA")
            check(b"client certificate" in body, "403 says why", body)
            c.close()
            # The right CA but not for client authentication.
            c = client(s, ca, wrong_purpose)
            eq(post(c, "/validate")[0], 403, "a serverAuth-only certificate")
            c.close()
            # The CA's client: admitted, also on the same connection again.
            c = client(s, ca, good)
            status, body, _ = post(c, "/validate")
            eq(status, 200, "validate with the CA's client certificate: %r" % body[:200])
            check(b'"uid"' in body, "an AdmissionReview answer", body[:200])
            kept = c.sock
            eq(post(c, "/mutate")[0], 200, "a second admission on the same connection")
            check(c.sock is kept, "kept alive")
            # TLS 1.2 asks for the certificate in its own message order: the same results.
            for cert, want in ((good, 200), (bad, 403), (None, 401)):
                c12 = client(s, ca, cert, tls12=True)
                c12.connect()
                eq(c12.sock.version(), "TLSv1.2", "TLS version")
                status, body, hdr = post(c12, "/validate")
                eq(status, want, "TLS 1.2 with %r: %r %r" % (cert, body[:100], hdr))
                c12.close()
            # The admission never ran for the refused ones: only the two admitted were logged.
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and len(admitted(s)) < 3:
                time.sleep(0.02)
            time.sleep(0.1)  # info lines are written in batches
            eq(len(admitted(s)), 3, "admission log lines")
            # The client CA is reloaded with the certificate: swap in the rogue CA.
            tmp = live_ca + ".new"
            with open(rogue, "rb") as f, open(tmp, "wb") as g:
                g.write(f.read())
            os.rename(tmp, live_ca)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len(
                    [l for l in s.log_lines() if l.get("msg") == "tls certificate loaded"]) < 2:
                time.sleep(0.02)
            check(c.sock is not None and c.sock is kept, "still the same connection")
            eq(post(c, "/validate")[0], 403, "the open connection is checked against the new CA")
            c.close()
            c = client(s, ca, bad)
            eq(post(c, "/validate")[0], 200, "the new CA's client is admitted")
            c.close()


def test_client_ca_bad_file():
    with tempfile.TemporaryDirectory(prefix="ogtest-clientca-bad-") as d:
        ca, cfg, live_ca, clients, rogue, good, wrong_purpose, bad = setup(d)
        junk = os.path.join(d, "junk.pem")
        with open(junk, "w") as f:
            f.write("not a certificate\n")
        r = subprocess.run([ogtest.BIN, "serve", "--listen", "127.0.0.1:0", "--tls-cert",
                            os.path.join(d, "server.crt"), "--tls-key",
                            os.path.join(d, "server.key"), "--client-ca", junk],
                           capture_output=True, text=True, timeout=20)
        eq(r.returncode, 1, "exit status with a bad --client-ca")
        check("junk.pem" in r.stderr and "client CA" in r.stderr, "message names it", r.stderr)


if __name__ == "__main__":
    ogtest.run(globals())
