"""`ocigate certs`: the CA, the serving certificate, file modes, refusal to overwrite, and a
server running on them with full hostname verification."""

import base64
import os
import stat
import subprocess
import tempfile

import ogtest
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
        eq(sorted(os.listdir(out)), ["ca.crt", "tls.crt", "tls.key"], "files")
        eq(stat.S_IMODE(os.stat(os.path.join(out, "tls.key")).st_mode), 0o600, "key mode")
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
