#!/usr/bin/python3
"""Hot reload of the serving certificate and key: rotation under concurrent load (a Kubernetes
Secret volume's `..data` symlink swap, then `mv` over the files) with zero failed requests and
the new certificate served to new handshakes while open connections carry on; bad new pairs of
several kinds refused with the old one kept; SIGHUP; the expiry warning."""

import calendar
import os
import signal
import tempfile
import time

import ogtest
import tlsutil
from ogtest import Server, check, eq, fixture

INDEX_OFF = "index: {enabled: false}\n"  # no network: the known-migration rule decides

LOAD_SECONDS = 10
LOAD_MAX_REQUESTS = 50000  # a bound on the loop, far above what 10 s give on loopback
REQUESTS_PER_CONN = 4       # then a new connection: handshakes run throughout


class SecretDir:
    """A directory laid out as kubelet lays out a Secret volume: tls.crt -> ..data/tls.crt,
    ..data -> ..<version>, each version a directory of real files."""

    def __init__(self, root, crt, key):
        self.dir = os.path.join(root, "secret")
        os.mkdir(self.dir)
        self.version = 0
        self.publish(crt, key)
        for name in ("tls.crt", "tls.key"):
            os.symlink(os.path.join("..data", name), os.path.join(self.dir, name))

    @property
    def cert(self):
        return os.path.join(self.dir, "tls.crt")

    @property
    def key(self):
        return os.path.join(self.dir, "tls.key")

    def publish(self, crt, key):
        """A new version directory, then a new `..data` symlink renamed over the old one, as
        kubelet's AtomicWriter does."""
        self.version += 1
        name = "..2026_12_01_00_00_%02d.%d" % (self.version, os.getpid())
        vdir = os.path.join(self.dir, name)
        os.mkdir(vdir)
        for src, dst in ((crt, "tls.crt"), (key, "tls.key")):
            with open(src, "rb") as f, open(os.path.join(vdir, dst), "wb") as g:
                g.write(f.read())
        tmp = os.path.join(self.dir, "..data_tmp")
        os.symlink(name, tmp)
        os.rename(tmp, os.path.join(self.dir, "..data"))


def replace_by_rename(dst_dir, crt, key):
    """New tls.key and tls.crt written beside the old ones, then renamed over them (`mv`)."""
    for src, name in ((key, "tls.key"), (crt, "tls.crt")):
        tmp = os.path.join(dst_dir, "." + name + ".new")
        with open(src, "rb") as f, open(tmp, "wb") as g:
            g.write(f.read())
    for name in ("tls.key", "tls.crt"):
        os.rename(os.path.join(dst_dir, "." + name + ".new"), os.path.join(dst_dir, name))


def config_file(d):
    path = os.path.join(d, "config.yaml")
    with open(path, "w") as f:
        f.write(INDEX_OFF)
    return path


class Load(ogtest.Load):
    """Threads POSTing an AdmissionReview to /validate, a new connection every few requests
    (handshakes run throughout), recording the serial each handshake got. Bounded in time
    (stop()) and count."""

    def __init__(self, srv):
        self.serials = {}
        super().__init__(srv, "/validate", fixture("review-bitnami-create.json"),
                         per_conn=REQUESTS_PER_CONN, max_requests=LOAD_MAX_REQUESTS,
                         classify=lambda r: r.json()["response"]["uid"] and "ok",
                         on_connect=self.handshake)

    def handshake(self, conn):
        serial = tlsutil.der_serial(conn.sock.getpeercert(binary_form=True))
        with self.lock:
            self.serials[serial] = self.serials.get(serial, 0) + 1

    @property
    def handshakes(self):
        return sum(self.serials.values())


def cert_metrics(srv):
    """The certificate families of GET /metrics: (not_after, reloads ok, reloads failed)."""
    text = srv.request("GET", "/metrics").body.decode()
    vals = {}
    for line in text.split("\n"):
        if line.startswith("ocigate_tls_cert_"):
            name, _, value = line.rpartition(" ")
            vals[name] = int(value)
    return (vals.get("ocigate_tls_cert_not_after_seconds"),
            vals.get('ocigate_tls_cert_reloads_total{result="success"}'),
            vals.get('ocigate_tls_cert_reloads_total{result="failure"}'))


def unix(iso):
    return calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ"))


def loaded_lines(srv, trigger=None):
    return [l for l in srv.log_lines() if l.get("msg") == "tls certificate loaded" and
            (trigger is None or l.get("trigger") == trigger)]


def wait_lines(srv, msg, n, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = [l for l in srv.log_lines() if l.get("msg") == msg]
        if len(got) >= n:
            return got
        time.sleep(0.02)
    raise AssertionError("fewer than %d %r lines: %s" % (n, msg, srv.log_text()[-3000:]))


def test_rotation_under_load_zero_failures():
    with tempfile.TemporaryDirectory(prefix="ogtest-tlsrot-") as d:
        ca = tlsutil.make_ca(d)
        a = tlsutil.make_leaf(d, "a")
        b = tlsutil.make_leaf(d, "b")
        c = tlsutil.make_leaf(d, "c")
        sa, sb, sc = (tlsutil.file_serial(x[0]) for x in (a, b, c))
        vol = SecretDir(d, *a)
        with Server("--config", config_file(d), cert=vol.cert, key=vol.key, ca=ca,
                    conn_timeout=60) as s:
            eq(tlsutil.served_serial(s.port, ca), sa, "serial served at start")
            start = loaded_lines(s)
            eq(len(start), 1, "one 'loaded' line at start")
            eq(int(start[0]["serial"], 16), sa, "logged serial")
            eq(start[0]["sans"], "DNS:localhost,IP:127.0.0.1", "logged SANs")
            check(start[0]["not_after"].endswith("Z"), "logged not_after", start[0])
            # A connection opened now keeps its certificate and works after both swaps.
            old = s.conn()
            eq(s.request("GET", "/healthz", conn=old).status, 200, "healthz on the old conn")
            t0 = time.monotonic()
            load = Load(s)
            time.sleep(LOAD_SECONDS * 0.3)
            vol.publish(*b)  # 1: the Secret volume's ..data swap
            tlsutil.wait_serial(s, ca, sb)
            eq(s.request("GET", "/healthz", conn=old).status, 200, "old conn after swap 1")
            time.sleep(max(0, t0 + LOAD_SECONDS * 0.6 - time.monotonic()))
            replace_by_rename(vol.dir, *c)  # 2: mv over the files (the symlinks)
            tlsutil.wait_serial(s, ca, sc)
            eq(s.request("GET", "/healthz", conn=old).status, 200, "old conn after swap 2")
            time.sleep(max(0, t0 + LOAD_SECONDS - time.monotonic()))
            ok, failures = load.stop()
            print("    %d requests ok over %d handshakes in %.1f s, %d failed; serials a=%d "
                  "b=%d c=%d" % (ok, load.handshakes, time.monotonic() - t0, len(failures),
                                 load.serials.get(sa, 0), load.serials.get(sb, 0),
                                 load.serials.get(sc, 0)))
            eq(failures, [], "failed requests during the rotations")
            check(ok >= 100, "enough requests to mean something", ok)
            eq(set(load.serials) - {sa, sb, sc}, set(), "only the three certificates served")
            for name, serial in (("a", sa), ("b", sb), ("c", sc)):
                check(load.serials.get(serial, 0) > 0, "handshakes under load got " + name,
                      load.serials)
            eq(tlsutil.served_serial(s.port, ca), sc, "the newest certificate served afterwards")
            eq(s.request("GET", "/healthz", conn=old).status, 200, "the old connection carries on")
            eq(tlsutil.der_serial(old.sock.getpeercert(binary_form=True)), sa,
               "the old connection kept its certificate")
            old.close()
            reloads = loaded_lines(s, "file change")
            eq([int(l["serial"], 16) for l in reloads], [sb, sc], "one reload per rotation")
            eq([l for l in s.log_lines() if "rejected" in l.get("msg", "")], [],
               "no rejected reload")
            eq(cert_metrics(s), (unix(reloads[-1]["not_after"]), 2, 0),
               "/metrics: not_after of the newest, 2 reloads ok")


def test_bad_pairs_keep_the_old_one():
    with tempfile.TemporaryDirectory(prefix="ogtest-tlsbad-") as d:
        ca = tlsutil.make_ca(d)
        other_ca = tlsutil.make_ca(d, "other")
        good = tlsutil.make_leaf(d, "good")
        other = tlsutil.make_leaf(d, "other_leaf")
        expired = tlsutil.make_leaf(d, "expired", days=-1)
        future = tlsutil.make_leaf(d, "future", start="20991201000000Z")
        newer = tlsutil.make_leaf(d, "newer")
        check(other_ca, "second CA")
        garbage = os.path.join(d, "garbage.pem")
        with open(garbage, "w") as f:
            f.write("this is not PEM\n")
        empty = os.path.join(d, "empty.pem")
        open(empty, "w").close()
        long_chain = os.path.join(d, "long-chain.pem")  # one more than the 16 a chain may have
        with open(good[0], "rb") as f, open(long_chain, "wb") as g:
            g.write(f.read() * 17)
        live = os.path.join(d, "live")
        os.mkdir(live)
        replace_by_rename(live, *good)
        crt, key = os.path.join(live, "tls.crt"), os.path.join(live, "tls.key")
        sgood = tlsutil.file_serial(good[0])
        kinds = [
            ("key does not match", good[0], other[1], "does not match"),
            ("certificate not PEM", garbage, good[1], "no PEM certificate"),
            ("key not PEM", good[0], garbage, "no PEM private key"),
            ("empty certificate", empty, good[1], "not a regular file of 1.."),
            ("expired", expired[0], expired[1], "expired at"),
            ("not yet valid", future[0], future[1], "not valid before 2099-12-01"),
            ("17 certificates", long_chain, good[1], "more than 16 certificates"),
        ]
        with Server("--config", config_file(d), cert=crt, key=key, ca=ca) as s:
            for i, (what, bad_crt, bad_key, why) in enumerate(kinds):
                replace_by_rename(live, bad_crt, bad_key)
                lines = wait_lines(s, "tls certificate reload rejected; keeping the running "
                                   "certificate", i + 1)
                check(why in lines[i]["error"], "reason for %s" % what, lines[i])
                eq(tlsutil.served_serial(s.port, ca), sgood, "old pair kept after " + what)
                eq(s.request("GET", "/healthz").status, 200, "serving after " + what)
            # Unreadable: the certificate's name now points nowhere.
            os.symlink(os.path.join(d, "nonexistent.crt"), os.path.join(live, ".dangling"))
            os.rename(os.path.join(live, ".dangling"), crt)
            lines = wait_lines(s, "tls certificate reload rejected; keeping the running "
                               "certificate", len(kinds) + 1)
            check("cannot open" in lines[-1]["error"], "reason for unreadable", lines[-1])
            eq(tlsutil.served_serial(s.port, ca), sgood, "old pair kept after unreadable")
            # SIGHUP with the bad files: refused again, the old pair stays.
            s.send_signal(signal.SIGHUP)
            lines = wait_lines(s, "tls certificate reload rejected; keeping the running "
                               "certificate", len(kinds) + 2)
            eq(lines[-1]["trigger"], "SIGHUP", "SIGHUP trigger")
            eq(tlsutil.served_serial(s.port, ca), sgood, "old pair kept after SIGHUP")
            # A good pair is taken again afterwards.
            replace_by_rename(live, *newer)
            tlsutil.wait_serial(s, ca, tlsutil.file_serial(newer[0]))
            eq(len(loaded_lines(s, "file change")), 1, "only the good pair was loaded")
            eq(cert_metrics(s), (unix(loaded_lines(s)[-1]["not_after"]), 1, len(kinds) + 2),
               "/metrics: reloads by result")


def test_sighup_reloads_in_place_edit():
    """A change the directory watch cannot see (the files rewritten in place inside a version
    directory) is picked up by SIGHUP; a SIGHUP with nothing changed logs 'unchanged'."""
    with tempfile.TemporaryDirectory(prefix="ogtest-tlshup-") as d:
        ca = tlsutil.make_ca(d)
        a = tlsutil.make_leaf(d, "a")
        b = tlsutil.make_leaf(d, "b")
        vol = SecretDir(d, *a)
        with Server("--config", config_file(d), cert=vol.cert, key=vol.key, ca=ca) as s:
            s.send_signal(signal.SIGHUP)
            wait_lines(s, "tls certificate unchanged", 1)
            target = os.path.realpath(vol.cert)
            for src, dst in ((b[0], target), (b[1], os.path.realpath(vol.key))):
                with open(src, "rb") as f:
                    data = f.read()
                # Written through a descriptor opened before (no close-write on the watched
                # directory's names): only SIGHUP tells.
                with open(dst, "r+b") as g:
                    g.truncate(0)
                    g.write(data)
            eq(tlsutil.served_serial(s.port, ca), tlsutil.file_serial(a[0]), "still a")
            s.send_signal(signal.SIGHUP)
            tlsutil.wait_serial(s, ca, tlsutil.file_serial(b[0]))
            eq(len(loaded_lines(s, "SIGHUP")), 1, "one SIGHUP reload")


def test_special_files_never_block():
    """A FIFO or a device in the certificate's place is refused at once: opening a FIFO
    without a writer would block the reload for good (and SIGTERM with it)."""
    with tempfile.TemporaryDirectory(prefix="ogtest-tlsfifo-") as d:
        ca = tlsutil.make_ca(d)
        good = tlsutil.make_leaf(d, "good")
        live = os.path.join(d, "live")
        os.mkdir(live)
        replace_by_rename(live, *good)
        crt, key = os.path.join(live, "tls.crt"), os.path.join(live, "tls.key")
        rejected = "tls certificate reload rejected; keeping the running certificate"
        with Server("--config", config_file(d), cert=crt, key=key, ca=ca) as s:
            fifo = os.path.join(live, ".fifo")
            os.mkfifo(fifo)
            os.rename(fifo, crt)
            s.send_signal(signal.SIGHUP)
            lines = wait_lines(s, rejected, 1)
            check("not a regular file" in lines[-1]["error"], "reason for a FIFO", lines[-1])
            os.symlink("/dev/zero", os.path.join(live, ".zero"))
            os.rename(os.path.join(live, ".zero"), crt)
            s.send_signal(signal.SIGHUP)
            lines = wait_lines(s, rejected, 2)
            check("not a regular file" in lines[-1]["error"], "reason for /dev/zero", lines[-1])
            eq(tlsutil.served_serial(s.port, ca), tlsutil.file_serial(good[0]), "old pair kept")
            s.stop(timeout=15)


def test_expiry_warning():
    with tempfile.TemporaryDirectory(prefix="ogtest-tlsexp-") as d:
        ca = tlsutil.make_ca(d)
        soon = tlsutil.make_leaf(d, "soon", days=3)
        later = tlsutil.make_leaf(d, "later", days=30)
        with Server("--config", config_file(d), cert=later[0], key=later[1], ca=ca) as s:
            eq([l for l in s.log_lines() if l.get("msg") == "tls certificate expires soon"], [],
               "no warning for 30 days")
        with Server("--config", config_file(d), cert=soon[0], key=soon[1], ca=ca) as s:
            w = wait_lines(s, "tls certificate expires soon", 1)[0]
            eq(w["level"], "warn", "level")
            days = float(w["days_left"])
            check(2.9 < days <= 3.0, "days left", w)


if __name__ == "__main__":
    ogtest.run(globals())
