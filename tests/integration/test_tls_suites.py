"""TLS cipher suites of `ocigate serve`: on TLS 1.2 only ECDHE with AES-GCM or
ChaCha20-Poly1305 (Mozilla "intermediate"), never a CBC or SHA-1 MAC suite; TLS 1.3 as is.
Checked with the ECDSA P-256 certificate `ocigate certs` makes and with an RSA one."""

import os
import socket
import ssl
import subprocess
import tempfile

import ogtest
from ogtest import Server, check, eq

# OpenSSL names of TLS 1.2 suites, per certificate key type.
AEAD = {"ec": ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
               "ECDHE-ECDSA-CHACHA20-POLY1305"],
        "rsa": ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
                "ECDHE-RSA-CHACHA20-POLY1305"]}
REFUSED = {"ec": ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA",
                  "ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES128-CCM"],
           "rsa": ["ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA", "AES128-GCM-SHA256",
                   "AES128-SHA", "DHE-RSA-AES128-GCM-SHA256"]}


def handshake(port, version, cipher=None):
    """The negotiated (version, cipher) with only `cipher` offered, or the SSLError."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the suites are under test here, not the chain
    ctx.minimum_version = version
    ctx.maximum_version = version
    if cipher is not None:
        ctx.set_ciphers(cipher + ":@SECLEVEL=0")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                head = tls.recv(64)
                check(head.startswith(b"HTTP/1.1 200"), "healthz over " + str(cipher), head)
                return tls.version(), tls.cipher()[0]
        except ssl.SSLError as e:
            return e


def check_suites(s, kind):
    for cipher in AEAD[kind]:
        got = handshake(s.port, ssl.TLSVersion.TLSv1_2, cipher)
        eq(got, ("TLSv1.2", cipher), "TLS 1.2 with " + cipher)
    for cipher in REFUSED[kind]:
        got = handshake(s.port, ssl.TLSVersion.TLSv1_2, cipher)
        check(isinstance(got, ssl.SSLError), "TLS 1.2 with %s must fail" % cipher, got)
    version, _ = handshake(s.port, ssl.TLSVersion.TLSv1_3)
    eq(version, "TLSv1.3", "TLS 1.3")
    # Whatever the client offers first, the server picks an AEAD suite.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(":".join(REFUSED[kind] + AEAD[kind]) + ":@SECLEVEL=0")
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            check(tls.cipher()[0] in AEAD[kind], "server's choice is AEAD", tls.cipher())
    eq(s.request("GET", "/healthz").status, 200, "healthz after refused handshakes")


def test_ecdsa_certificate_aead_only():
    with Server() as s:
        check_suites(s, "ec")


def test_rsa_certificate_aead_only():
    with tempfile.TemporaryDirectory(prefix="ogtest-rsa-") as d:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        "rsa.key", "-out", "rsa.crt", "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], cwd=d, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with Server(cert=os.path.join(d, "rsa.crt"), key=os.path.join(d, "rsa.key"),
                    ca=os.path.join(d, "rsa.crt")) as s:
            check_suites(s, "rsa")


if __name__ == "__main__":
    ogtest.run(globals())
