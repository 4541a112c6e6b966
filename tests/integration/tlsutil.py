"""tlsutil - certificates for the TLS integration tests, made by the `openssl` CLI, and the
serial number of what a real handshake served (Debian python3 stdlib only)."""

import os
import socket
import ssl
import subprocess
import time

EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")


def openssl(*args, cwd, stdin=None):
    r = subprocess.run(("openssl",) + args, cwd=cwd, input=stdin, capture_output=True)
    if r.returncode != 0:
        raise AssertionError("openssl %s: %s" % (" ".join(args), r.stderr.decode(errors="replace")))
    return r.stdout


def make_ca(d, name="ca"):
    """A CA in d/<name>.crt, d/<name>.key."""
    openssl("req", "-x509", *EC, "-keyout", name + ".key", "-out", name + ".crt", "-days", "2",
            "-subj", "/CN=ogtest %s" % name, "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    return os.path.join(d, name + ".crt")


def make_leaf(d, name, ca="ca", days=2, eku="serverAuth", sans="DNS:localhost,IP:127.0.0.1",
              start=None):
    """A key d/<name>.key and a certificate d/<name>.crt signed by CA `ca`. `days` may be -1
    (already expired); `start` ("YYYYMMDDHHMMSSZ") makes a certificate not valid before then."""
    openssl("req", "-new", *EC, "-keyout", name + ".key", "-out", name + ".csr", "-subj",
            "/CN=" + name, cwd=d)
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write("extendedKeyUsage=%s\nbasicConstraints=critical,CA:FALSE\n" % eku)
        if sans:
            f.write("subjectAltName=%s\n" % sans)
    if start is None:
        openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
                "-CAcreateserial", "-days", str(days), "-extfile", name + ".ext", "-out",
                name + ".crt", cwd=d)
    else:
        db = os.path.join(d, name + ".db")
        os.mkdir(db)
        open(os.path.join(db, "index.txt"), "w").close()
        with open(os.path.join(db, "serial"), "w") as f:
            f.write("1000\n")
        with open(os.path.join(d, name + ".cnf"), "w") as f:
            f.write("[ca]\ndefault_ca=c\n[c]\ndatabase=%s/index.txt\nnew_certs_dir=%s\n"
                    "serial=%s/serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\n"
                    "[p]\ncommonName=supplied\n" % (db, db, db))
        openssl("ca", "-batch", "-config", name + ".cnf", "-cert", ca + ".crt", "-keyfile",
                ca + ".key", "-in", name + ".csr", "-startdate", start, "-enddate",
                "21001201000000Z", "-extfile", name + ".ext", "-out", name + ".crt", cwd=d)
    return os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")


def _der_item(b, i):
    """(tag, length, start of content) of the DER item at b[i]."""
    tag, n = b[i], b[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(b[i:i + k], "big")
        i += k
    return tag, n, i


def der_serial(der):
    """The serial number (an int) of a DER certificate."""
    _, _, i = _der_item(der, 0)        # Certificate
    _, _, i = _der_item(der, i)        # tbsCertificate
    tag, n, j = _der_item(der, i)
    if tag == 0xA0:                    # [0] version
        tag, n, j = _der_item(der, j + n)
    if tag != 0x02:
        raise AssertionError("no serial INTEGER in the certificate")
    return int.from_bytes(der[j:j + n], "big")


def file_serial(path):
    out = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", path], check=True,
                         capture_output=True, text=True).stdout
    return int(out.strip().split("=", 1)[1], 16)


def served_serial(port, cafile, timeout=10):
    """The serial of the certificate a new handshake with 127.0.0.1:port gets (verified)."""
    ctx = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return der_serial(s.getpeercert(binary_form=True))


def wait_serial(srv, cafile, serial, timeout=10):
    """Waits until a new handshake with the ogtest.Server `srv` gets `serial`."""
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = served_serial(srv.port, cafile)
        if got == serial:
            return
        time.sleep(0.05)
    raise AssertionError("served serial %x, want %x: %s" % (got, serial, srv.log_text()[-2000:]))
