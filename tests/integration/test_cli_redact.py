#!/usr/bin/python3
"""Credentials in a url never reach what the CLI reports (a terminal, a CI log, a SARIF or JSON
report): `check` (text, json, sarif), `fix` (its lines), `migrate` (its plan), `index analyze`
and `config check` show the url redacted. What they write for the user to apply keeps it:
the file `fix` rewrites (and its --dry-run patch, the user's own lines) and migrate's YAML."""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from ogtest import check, eq, run, run_bin  # noqa: E402

SECRET = "S3CRET-tok"
URL = "oci://robot:%s@registry.example.com/charts/" % SECRET
SHOWN = "oci://robot:xxxxx@registry.example.com/charts"
TOKEN_URL = "https://ghp_%s@charts.example.com/x" % SECRET

MANIFEST = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: private
  namespace: apps
spec:
  interval: 1h
  url: %s
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: typed
  namespace: apps
spec:
  interval: 1h
  type: oci
  url: %s
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: redis
  namespace: apps
spec:
  interval: 1h
  chart:
    spec:
      chart: redis
      version: "1.2.3"
      sourceRef:
        kind: HelmRepository
        name: private
""" % (URL, TOKEN_URL)


class workdir(tempfile.TemporaryDirectory):
    """A directory holding repo.yaml, removed afterwards."""

    def __enter__(self):
        d = super().__enter__()
        with open(os.path.join(d, "repo.yaml"), "w") as f:
            f.write(MANIFEST)
        return d


def no_secret(what, *texts):
    for t in texts:
        check(SECRET not in t, what + ": the secret is not shown", t)


def test_check_every_format():
    with workdir() as d:
        for fmt in ("text", "json", "sarif"):
            rc, out, err = run_bin("check", "--format", fmt, "repo.yaml", cwd=d)
            eq(rc, 1, "check %s exit status" % fmt)
            no_secret("check " + fmt, out, err)
            check(SHOWN in out, "check %s shows the url redacted" % fmt, out)
            check("https://xxxxx@charts.example.com/x" in out, "a lone token is hidden", out)
        rc, out, err = run_bin("check", "--format", "json", "repo.yaml", cwd=d)
        fixes = [f["fix"] for f in json.loads(out)["findings"] if f.get("fix")]
        eq([f["spec"]["url"] for f in fixes], [SHOWN], "json fix url, redacted")


def test_fix_writes_them_and_does_not_show_them():
    with workdir() as d:
        rc, out, err = run_bin("fix", "--dry-run", "repo.yaml", cwd=d)
        no_secret("fix --dry-run stderr", err)
        check("spec.url: " + SHOWN in err, "fix --dry-run says the url redacted", err)
        # The patch on stdout is made of the user's own lines, for `patch -p0`: it keeps them.
        check("+  url: " + URL.rstrip("/") in out, "the dry-run patch keeps the url", out)
        rc, out, err = run_bin("fix", "repo.yaml", cwd=d)
        no_secret("fix", out, err)
        check("spec.url: " + SHOWN in err, "fix says the url redacted", err)
        with open(os.path.join(d, "repo.yaml")) as f:
            fixed = f.read()
        # The file is applied as it is: the url keeps the credentials the user wrote.
        check("  url: " + URL.rstrip("/") + "\n" in fixed, "the fixed file keeps the url", fixed)
        check("  type: oci\n" in fixed, "the fixed file sets the type", fixed)


def test_migrate_plan_is_redacted_and_yaml_is_not():
    with workdir() as d:
        rc, out, err = run_bin("migrate", "repo.yaml", cwd=d)
        no_secret("migrate report", err)
        check(SHOWN + "/redis" in err, "the plan shows the OCIRepository url redacted", err)
        check("url: " + URL.rstrip("/") + "/redis" in out, "the YAML keeps the url", out)
        dst = os.path.join(d, "out")
        rc, plan, err = run_bin("migrate", "--format", "json", "--out", dst, "repo.yaml", cwd=d)
        eq(rc, 0, "migrate --out exit status: " + err)
        no_secret("migrate --format json plan", plan, err)
        check(SHOWN in plan, "the JSON plan shows the urls redacted", plan)
        batch = ""
        for name in sorted(os.listdir(os.path.join(dst, "batch-001"))):
            with open(os.path.join(dst, "batch-001", name)) as f:
                batch += f.read()
        check(URL.rstrip("/") + "/redis" in batch, "the batch's YAML keeps the url", batch)


def test_index_analyze_and_config_check():
    with workdir() as d:
        rc, out, err = run_bin("index", "analyze", TOKEN_URL, cwd=d)
        eq(rc, 2, "index analyze of a url with credentials: exit status")
        no_secret("index analyze", out, err)
        check("https://xxxxx@charts.example.com/x" in err, "says which url, redacted", err)
        rc, out, err = run_bin("index", "analyze", "https://u:%s/x@127.0.0.1:9/c" % SECRET, cwd=d)
        no_secret("index analyze of a url that does not parse", out, err)
        # An index whose entries hold credentials: none of them is a base, nor shown.
        with open(os.path.join(d, "index.yaml"), "w") as f:
            f.write("apiVersion: v1\nentries:\n  redis:\n  - version: 1.0.0\n    created: "
                    "'2024-01-01T00:00:00Z'\n    urls: ['%s/redis:1.0.0']\n" % URL.rstrip("/"))
        for extra in ([], ["--human"], ["--charts"]):
            rc, out, err = run_bin("index", "analyze", *extra, "index.yaml", cwd=d)
            eq(rc, 0, "index analyze of a file: " + err)
            no_secret("index analyze of an index " + " ".join(extra), out, err)
        with open(os.path.join(d, "ocigate.yaml"), "w") as f:
            f.write("migrations:\n  - {from: \"https://u:%s@x.io/c\", to: \"oci://r.io/c\"}\n" % SECRET)
        rc, out, err = run_bin("config", "check", "ocigate.yaml", cwd=d)
        check(rc != 0, "config check refuses a url with credentials", rc, err)
        no_secret("config check", out, err)
        check("https://u:xxxxx@x.io/c" in err and "must not hold credentials" in err,
              "config check says which url, redacted", err)


if __name__ == "__main__":
    run(globals())
