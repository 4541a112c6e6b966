"""`ocigate certs`: the CA, the serving certificate, file modes, refusal to overwrite, and a
server running on them with full hostname verification."""

import base64
import os
import stat
import subprocess
import tempfile

import ogtest
import tlsutil
from ogtest import Server, check, eq


def certs_cmd(*args):
    return subprocess.run([ogtest.BIN, "certs"] + list(args), capture_output=True, text=True)


def x509_text(path):
    return subprocess.run(["openssl", "x509", "-in", path, "-noout", "-text"], check=True,
                          capture_output=True, text=True).stdout


def test_certs_default_hosts_and_files():
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "a", "b")
        r = certs_cmd("--out", out)
        eq(r.returncode, 0, "exit status: " + r.stderr)
        eq(stat.S_IMODE(os.stat(out).st_mode), 0o700, "mode of the created directory")
        eq(sorted(os.listdir(out)), ["ca.crt", "ca.key", "tls.crt", "tls.key"], "files")
        eq(stat.S_IMODE(os.stat(os.path.join(out, "tls.key")).st_mode), 0o600, "key mode")
        eq(stat.S_IMODE(os.stat(os.path.join(out, "ca.key")).st_mode), 0o600, "CA key mode")
        with open(os.path.join(out, "ca.crt"), "rb") as f:
            ca_pem = f.read()
        eq(base64.b64decode(r.stdout.strip()), ca_pem, "caBundle is base64 of ca.crt")
        eq(r.stdout.count("\n"), 1, "stdout holds only the caBundle")
        ca = x509_text(os.path.join(out, "ca.crt"))
        check("CA:TRUE" in ca and "Certificate Sign, CRL Sign" in ca, "CA extensions", ca)
        check("prime256v1" in ca or "P-256" in ca, "P-256 key", ca)
        check("Subject Key Identifier" in ca, "CA SKI", ca)
        leaf = x509_text(os.path.join(out, "tls.crt"))
        check("DNS:localhost, IP Address:127.0.0.1" in leaf, "default SANs", leaf)
        check("TLS Web Server Authentication" in leaf, "serverAuth", leaf)
        check("Authority Key Identifier" in leaf, "AKI", leaf)
        check("CN = localhost" in leaf, "CN is the first host", leaf)
        check("CA:FALSE" in leaf, "leaf is not a CA", leaf)
        v = subprocess.run(["openssl", "verify", "-purpose", "sslserver", "-CAfile",
                            os.path.join(out, "ca.crt"), os.path.join(out, "tls.crt")],
                           capture_output=True, text=True)
        eq(v.returncode, 0, "openssl verify: " + v.stdout + v.stderr)
        # Two runs never share serials.
        r2 = certs_cmd("--out", os.path.join(tmp, "c"))
        eq(r2.returncode, 0, "second run")
        s1 = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in",
                             os.path.join(out, "tls.crt")], capture_output=True, text=True).stdout
        s2 = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in",
                             os.path.join(tmp, "c", "tls.crt")], capture_output=True,
                            text=True).stdout
        check(s1 != s2, "random serials", s1, s2)


def test_certs_hosts_days_and_server_verification():
    with tempfile.TemporaryDirectory() as tmp:
        r = certs_cmd("--out", tmp, "--host", "ocigate.ocigate-system.svc", "--host",
                      "localhost", "--host", "127.0.0.1", "--host", "::1", "--days", "30")
        eq(r.returncode, 0, "exit status: " + r.stderr)
        leaf = x509_text(os.path.join(tmp, "tls.crt"))
        check("DNS:ocigate.ocigate-system.svc, DNS:localhost, IP Address:127.0.0.1, "
              "IP Address:0:0:0:0:0:0:0:1" in leaf, "SANs", leaf)
        check("CN = ocigate.ocigate-system.svc" in leaf, "CN", leaf)
        end = subprocess.run(["openssl", "x509", "-noout", "-checkend", str(29 * 86400), "-in",
                              os.path.join(tmp, "tls.crt")], capture_output=True)
        eq(end.returncode, 0, "valid for 29 more days")
        end = subprocess.run(["openssl", "x509", "-noout", "-checkend", str(31 * 86400), "-in",
                              os.path.join(tmp, "tls.crt")], capture_output=True)
        eq(end.returncode, 1, "expired within 31 days")
        # The daemon serves with them; the client verifies the name "localhost".
        with Server(cert=os.path.join(tmp, "tls.crt"), key=os.path.join(tmp, "tls.key"),
                    ca=os.path.join(tmp, "ca.crt")) as s:
            import http.client
            c = http.client.HTTPSConnection("localhost", s.port, context=s.ctx, timeout=10)
            c.request("GET", "/healthz")
            eq(c.getresponse().status, 200, "healthz over verified TLS")
            c.close()


def test_certs_refuses_to_overwrite():
    with tempfile.TemporaryDirectory() as tmp:
        eq(certs_cmd("--out", tmp).returncode, 0, "first run")
        before = {n: open(os.path.join(tmp, n), "rb").read() for n in os.listdir(tmp)}
        r = certs_cmd("--out", tmp)
        eq(r.returncode, 1, "second run into the same directory")
        check("refusing to overwrite" in r.stderr, "clear message", r.stderr)
        eq(r.stdout, "", "no caBundle on failure")
        after = {n: open(os.path.join(tmp, n), "rb").read() for n in os.listdir(tmp)}
        eq(after, before, "files untouched, no temporaries left")
    with tempfile.TemporaryDirectory() as tmp:
        # Only one of the three exists: nothing is written at all.
        with open(os.path.join(tmp, "tls.key"), "w") as f:
            f.write("mine")
        r = certs_cmd("--out", tmp)
        eq(r.returncode, 1, "exit status with tls.key present")
        eq(sorted(os.listdir(tmp)), ["tls.key"], "nothing half-written")
        eq(open(os.path.join(tmp, "tls.key")).read(), "mine", "tls.key untouched")


def modes(d):
    return {n: stat.S_IMODE(os.stat(os.path.join(d, n)).st_mode) for n in os.listdir(d)}


def test_certs_renew_keeps_the_ca():
    """--renew: a new key and certificate from the same CA, the same SANs, modes as before,
    written atomically; a client that trusts the old caBundle accepts the new certificate, and
    a running server picks it up."""
    with tempfile.TemporaryDirectory() as tmp:
        d = os.path.join(tmp, "certs")
        r = certs_cmd("--out", d, "--host", "localhost", "--host", "127.0.0.1", "--host",
                      "ocigate.ocigate-system.svc")
        eq(r.returncode, 0, "certs: " + r.stderr)
        bundle = os.path.join(tmp, "bundle.pem")
        with open(bundle, "wb") as f:
            f.write(base64.b64decode(r.stdout.strip()))
        before = {n: open(os.path.join(d, n), "rb").read() for n in os.listdir(d)}
        modes_before = modes(d)
        old_serial = tlsutil.file_serial(os.path.join(d, "tls.crt"))
        with Server(cert=os.path.join(d, "tls.crt"), key=os.path.join(d, "tls.key"),
                    ca=bundle) as s:
            eq(tlsutil.served_serial(s.port, bundle), old_serial, "serial before renewal")
            r2 = certs_cmd("--renew", d, "--days", "20")
            eq(r2.returncode, 0, "renew: " + r2.stderr)
            eq(r2.stdout, r.stdout, "the caBundle printed is the same")
            check("renewed" in r2.stderr and "valid 20 days" in r2.stderr, "renew message",
                  r2.stderr)
            after = {n: open(os.path.join(d, n), "rb").read() for n in os.listdir(d)}
            eq(sorted(after), ["ca.crt", "ca.key", "tls.crt", "tls.key"], "no temporaries left")
            eq(after["ca.crt"], before["ca.crt"], "CA certificate untouched")
            eq(after["ca.key"], before["ca.key"], "CA key untouched")
            check(after["tls.key"] != before["tls.key"], "a new key")
            eq(modes(d), modes_before, "modes kept")
            leaf = x509_text(os.path.join(d, "tls.crt"))
            check("DNS:localhost, IP Address:127.0.0.1, DNS:ocigate.ocigate-system.svc" in leaf,
                  "the same SANs in the same order", leaf)
            new_serial = tlsutil.file_serial(os.path.join(d, "tls.crt"))
            check(new_serial != old_serial, "a new serial")
            v = subprocess.run(["openssl", "verify", "-purpose", "sslserver", "-CAfile", bundle,
                                os.path.join(d, "tls.crt")], capture_output=True, text=True)
            eq(v.returncode, 0, "old caBundle verifies the new certificate: " + v.stdout)
            # The running server swaps to it; a client that trusts only the old caBundle
            # verifies the new certificate and the host name in a real handshake.
            tlsutil.wait_serial(s, bundle, new_serial)
            import http.client
            c = http.client.HTTPSConnection("localhost", s.port, context=s.ctx, timeout=10)
            c.request("GET", "/healthz")
            eq(c.getresponse().status, 200, "healthz over the renewed certificate")
            eq(tlsutil.der_serial(c.sock.getpeercert(binary_form=True)), new_serial,
               "the renewed certificate was served")
            c.close()
        # --host overrides the SANs.
        r3 = certs_cmd("--renew", d, "--host", "other.example")
        eq(r3.returncode, 0, "renew --host: " + r3.stderr)
        leaf = x509_text(os.path.join(d, "tls.crt"))
        check("DNS:other.example" in leaf and "localhost" not in leaf, "overridden SANs", leaf)
        # The validity never passes the CA's.
        r4 = certs_cmd("--renew", d, "--days", "36500")
        eq(r4.returncode, 0, "renew --days 36500: " + r4.stderr)
        check("valid 36500 days" not in r4.stderr, "cut to the CA's life", r4.stderr)
        end = subprocess.run(["openssl", "x509", "-noout", "-checkend", str(400 * 86400), "-in",
                              os.path.join(d, "tls.crt")], capture_output=True)
        eq(end.returncode, 1, "the leaf expires with the CA (365 days)")


def test_certs_renew_refusals():
    with tempfile.TemporaryDirectory() as tmp:
        d = os.path.join(tmp, "c")
        eq(certs_cmd("--out", d).returncode, 0, "certs")
        before = {n: open(os.path.join(d, n), "rb").read() for n in os.listdir(d)}
        for args, status, why in ((["--renew", d, "--out", d], 2, "either"),
                                  (["--renew", d, "--host", "bad host"], 1, "neither"),
                                  (["--renew", os.path.join(tmp, "none")], 1, "ca.crt")):
            r = certs_cmd(*args)
            eq(r.returncode, status, "exit status of %r: %s" % (args, r.stderr))
            check(why in r.stderr, "message for %r" % args, r.stderr)
        after = {n: open(os.path.join(d, n), "rb").read() for n in os.listdir(d)}
        eq(after, before, "nothing changed by refused renewals")
        # A directory from an older `ocigate certs` has no ca.key: a clear refusal.
        os.unlink(os.path.join(d, "ca.key"))
        r = certs_cmd("--renew", d)
        eq(r.returncode, 1, "renew without ca.key")
        check("ca.key is missing" in r.stderr, "says ca.key is missing", r.stderr)
        # A ca.key that is not the CA's.
        other = os.path.join(tmp, "o")
        eq(certs_cmd("--out", other).returncode, 0, "second certs")
        with open(os.path.join(other, "ca.key"), "rb") as f, \
                open(os.path.join(d, "ca.key"), "wb") as g:
            g.write(f.read())
        r = certs_cmd("--renew", d)
        eq(r.returncode, 1, "renew with a foreign ca.key")
        check("not a CA pair" in r.stderr, "says so", r.stderr)
        eq(open(os.path.join(d, "tls.crt"), "rb").read(), before["tls.crt"], "tls.crt kept")


def test_certs_bad_input():
    with tempfile.TemporaryDirectory() as tmp:
        for args, status in ((["--out", tmp, "--host", "bad host"], 1),
                             (["--out", tmp, "--host", "a,DNS:evil"], 1),
                             (["--out", tmp, "--host", ""], 1),
                             # DNS labels: 1 to 63 characters, none empty.
                             (["--out", tmp, "--host", "a" * 64 + ".example"], 1),
                             (["--out", tmp, "--host", "a..example"], 1),
                             (["--out", tmp, "--host", ".example"], 1),
                             (["--out", tmp, "--days", "0"], 2),
                             (["--out", tmp, "--days", "x"], 2),
                             (["--days", "3"], 2),
                             (["--out"], 2),
                             (["--out", tmp, "--bogus"], 2)):
            r = certs_cmd(*args)
            eq(r.returncode, status, "exit status of %r: %s" % (args, r.stderr))
            check(r.stderr.strip(), "a message for %r" % args)
        eq(os.listdir(tmp), [], "nothing written on bad input")
    with tempfile.TemporaryDirectory() as tmp:
        r = certs_cmd("--out", tmp, "--host", "a" * 63 + ".example")
        eq(r.returncode, 0, "a 63-character label is fine: " + r.stderr)
    r = certs_cmd("--help")
    eq(r.returncode, 0, "--help")
    for flag in ("--out", "--host", "--days"):
        check(flag in r.stdout, "help mentions " + flag)


if __name__ == "__main__":
    ogtest.run(globals())
