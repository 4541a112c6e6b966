#!/usr/bin/python3
"""Differential test of `ocigate index analyze` against PyYAML plus a Python reference.

Generates random Helm indexes from a fixed seed (random key order, YAML block or flow or JSON,
CRLF, BOM, anchors and aliases from shared objects, every url form of helm_index.h, extra
fields and dependencies with oci:// repositories, created in several zone forms, missing or
equal, SemVer versions with prereleases), loads each with PyYAML's CSafeLoader, computes the
summary with the rules documented in lib/include/ocigate/helm_index.h, and compares it with
the analyzer's JSON, figure by figure and chart by chart, and the verdict's state (clean, oci,
or mixed). The newest version of a chart follows the one order of lib/helm_index_int.h.
"""
import datetime
import json
import os
import random
import re
import subprocess
import sys
import tempfile

import yaml

BIN = os.environ["OCIGATE_BIN"]
CASES = int(os.environ.get("OG_DIFF_CASES", "150"))
SEED = int(os.environ.get("OG_DIFF_SEED", "20261127"))


# ---- the reference rules -------------------------------------------------------------------

def classify(url):
    s = url.strip(" \t")
    lo = s.lower()
    if lo.startswith("oci://"):
        oci = s
    elif lo.startswith("https://") or lo.startswith("http://"):
        i = lo.find("/oci://")
        if i < 0:
            return "https", False, ""
        oci = s[i + 1:]
    else:
        return "other", False, ""
    ref = oci[6:]
    host_end = ref.find("/")
    slash = ref.rfind("/")
    if ref == "" or host_end == 0 or slash < 0:
        return "oci", True, ""
    base = oci[:6 + slash]
    last = ref[slash + 1:]
    at = last.find("@")
    if at >= 0:
        return "oci", at == 0 or at + 1 == len(last), base
    colon = last.rfind(":")
    return "oci", colon <= 0 or colon + 1 == len(last), base


def norm_base(base):
    rest = base[6:]
    h = rest.find("/")
    h = len(rest) if h < 0 else h
    return "oci://" + rest[:h].lower() + rest[h:]


TIME_RE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)[Tt ]+(\d\d):(\d\d):(\d\d)(?:\.(\d+))?\s*"
                     r"(Z|z|[+-]\d\d?(?::?\d\d)?)?$")


def parse_time(s):
    if not isinstance(s, str):
        return None
    m = TIME_RE.match(s.strip(" \t"))
    if not m:
        return None
    y, mo, d, h, mi, se = map(int, m.groups()[:6])
    frac = (m.group(7) or "")[:9].ljust(9, "0")
    off = 0
    z = m.group(8)
    if z and z not in ("Z", "z"):
        sign = -1 if z[0] == "-" else 1
        body = z[1:]
        if ":" in body:
            zh, zm = body.split(":")
        elif len(body) > 2:
            zh, zm = body[:2], body[2:]
        else:
            zh, zm = body, "0"
        off = sign * (int(zh) * 3600 + int(zm) * 60)
    dt = datetime.datetime(y, mo, d, h, mi, se, tzinfo=datetime.timezone.utc)
    return (int(dt.timestamp()) - off, int(frac))


SEMVER_RE = re.compile(r"^[vV]?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([^+]+))?(?:\+.*)?$")


def semver_key(v):
    m = SEMVER_RE.match(v.strip(" \t")) if isinstance(v, str) else None
    if not m:
        return None
    pre = m.group(4)
    if pre is None:
        pk = (1,)
    else:
        pk = (0, [(0, int(x), "") if x.isdigit() else (1, 0, x) for x in pre.split(".")])
    return (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0)), pk


def semver_cmp(a, b):
    x, y = semver_key(a), semver_key(b)
    if x is None or y is None:
        return 0 if (x is None) == (y is None) else (1 if x else -1)
    return (x > y) - (x < y)


def text(v):
    return None if v is None else str(v)


def cmp(a, b):
    return (a > b) - (a < b)


def entry_cmp(a, b):
    """The one order of a chart's versions (lib/helm_index_int.h): >0 when `a` is newer."""
    c = semver_cmp(a["version"], b["version"])
    if c == 0 and (a["time"] is None) != (b["time"] is None):
        c = 1 if a["time"] is not None else -1
    if c == 0 and a["time"] is not None:
        c = cmp(a["time"], b["time"])
    if c == 0:
        c = cmp(b["url"], a["url"])  # the url first in byte order is newer
    if c == 0:
        c = cmp(b["oci"], a["oci"])
    if c == 0:
        c = cmp(a["version"].encode(), b["version"].encode())
    if c == 0:
        c = cmp(a["created"].encode(), b["created"].encode())
    return c


def reference(doc):
    out = {"charts": 0, "versions": 0, "ociEntries": 0, "httpsEntries": 0, "otherEntries": 0,
           "malformedOciEntries": 0, "chartsNewestOci": 0, "multiUrlEntries": 0,
           "secondaryOciEntries": 0, "chartsNewestHttps": 0, "chartsHttpsAfterOci": 0,
           "firstOciCreated": None}
    first_oci = None
    newest = []
    bases = {}
    charts = []
    for name, versions in (doc.get("entries") or {}).items():
        out["charts"] += 1
        c = {"name": name, "versions": 0, "ociEntries": 0, "newestVersion": None,
             "newestIsOci": False}
        best = None
        for v in versions or []:
            if v is None:
                continue
            urls = v.get("urls") or []
            kind, malformed, base = classify(text(urls[0]) or "") if urls else ("other", False, "")
            out["versions"] += 1
            c["versions"] += 1
            if len(urls) > 1:
                out["multiUrlEntries"] += 1
            if kind == "oci":
                out["ociEntries"] += 1
                c["ociEntries"] += 1
                out["malformedOciEntries"] += malformed
                if base:
                    b = norm_base(base)
                    bases[b] = bases.get(b, 0) + 1
            else:
                out["httpsEntries" if kind == "https" else "otherEntries"] += 1
                if any(classify(text(u) or "")[0] == "oci" for u in urls[1:]):
                    out["secondaryOciEntries"] += 1
            created = text(v.get("created")) or ""
            e = {"version": text(v.get("version")) or "", "created": created,
                 "time": parse_time(created), "oci": kind == "oci", "https": kind == "https",
                 "url": (text(urls[0]) or "").encode()[:256] if urls else b""}
            if e["oci"] and e["time"] is not None:
                key = (e["time"], created.encode())
                first_oci = key if first_oci is None or key < first_oci else first_oci
            if best is None or entry_cmp(e, best) > 0:
                best = e
        if best is not None:
            c["newestVersion"] = best["version"] if best["version"] else None
            c["newestIsOci"] = best["oci"]
            out["chartsNewestOci"] += best["oci"]
            out["chartsNewestHttps"] += best["https"]
            newest.append(best)
        charts.append(c)
    if first_oci is not None:
        out["firstOciCreated"] = first_oci[1].decode()
        out["chartsHttpsAfterOci"] = sum(1 for b in newest if b["https"] and
                                         b["time"] is not None and b["time"] > first_oci[0])
    out["bases"] = sorted(({"base": b, "count": n} for b, n in bases.items()),
                          key=lambda x: (-x["count"], x["base"]))
    return out, charts


# ---- the generator -------------------------------------------------------------------------

HOSTS = ["registry-1.docker.io", "ghcr.io", "Registry.Example:5000", "us-east1-docker.pkg.dev"]
PATHS = ["bitnamicharts", "acme/charts", "team/a/b"]


def rand_version(r):
    v = "%d.%d.%d" % (r.randint(0, 3), r.randint(0, 12), r.randint(0, 12))
    if r.random() < 0.25:
        v += "-" + r.choice(["rc.1", "rc.2", "beta.2", "beta.11", "alpha", "preview.1"])
    if r.random() < 0.1:
        v = "v" + v
    if r.random() < 0.05:
        v = v.split(".")[0]
    return v


def rand_created(r):
    if r.random() < 0.12:
        return None
    base = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    dt = base + datetime.timedelta(seconds=r.choice([0, 3600, 86400 * 30]) * r.randint(0, 40))
    form = r.randint(0, 3)
    if form == 0:
        return dt.strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % r.choice([0, 5, 123456789])
    if form == 1:
        return dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    if form == 2:
        local = dt + datetime.timedelta(hours=2)
        return local.strftime("%Y-%m-%dT%H:%M:%S") + "+02:00"
    local = dt - datetime.timedelta(hours=5)
    return local.strftime("%Y-%m-%d %H:%M:%S") + " -05:00"


def rand_url(r, chart, ver):
    host, path = r.choice(HOSTS), r.choice(PATHS)
    form = r.randint(0, 11)
    if form <= 3:
        return "https://charts.example/%s-%s.tgz" % (chart, ver)
    if form <= 6:
        return "oci://%s/%s/%s:%s" % (host, path, chart, ver)
    if form == 7:
        return "oci://%s/%s/%s-%s.tgz" % (host, path, chart, ver)
    if form == 8:
        return r.choice(["oci://%s/%s/%s" % (host, path, chart), "oci://%s" % host,
                         "oci://%s/%s/%s@sha256:ab12" % (host, path, chart)])
    if form == 9:
        return "https://acme.jfrog.io/artifactory/api/helm/r/oci://%s/%s/%s:%s" % (
            host, path, chart, ver)
    if form == 10:
        return r.choice(["charts/%s-%s.tgz" % (chart, ver), "file:///x/%s.tgz" % chart])
    return "HTTP://Charts.Example/%s-%s.tgz" % (chart, ver)


def gen_index(r):
    shared_urls = [rand_url(r, "shared", "1.0.0")]
    shared_entry = {"version": "0.0.1", "urls": ["oci://ghcr.io/acme/charts/shared:0.0.1"]}
    entries = {}
    for ci in range(r.randint(0, 6)):
        chart = "chart-%d" % ci
        versions = []
        for _ in range(r.randint(0, 8)):
            ver = rand_version(r)
            e = {}
            fields = ["version", "urls", "created", "name", "digest", "dependencies", "extra"]
            r.shuffle(fields)
            for f in fields:
                if f == "version" and r.random() < 0.95:
                    e["version"] = ver
                elif f == "urls":
                    pick = r.random()
                    if pick < 0.08:
                        e["urls"] = shared_urls
                    elif pick < 0.12:
                        continue
                    else:
                        e["urls"] = [rand_url(r, chart, ver) for _ in range(r.choice([1, 1, 1, 2, 3]))]
                elif f == "created":
                    c = rand_created(r)
                    if c is not None:
                        e["created"] = c
                elif f == "name":
                    e["name"] = chart
                elif f == "digest" and r.random() < 0.5:
                    e["digest"] = "%064x" % r.getrandbits(256)
                elif f == "dependencies" and r.random() < 0.3:
                    e["dependencies"] = [{"name": "common",
                                          "repository": "oci://registry-1.docker.io/bitnamicharts",
                                          "version": "2.x.x"}]
                elif f == "extra" and r.random() < 0.2:
                    e["annotations"] = {"urls": "oci://not/counted:1", "x": [1, {"y": None}]}
            versions.append(e)
        if r.random() < 0.1:
            versions.append(shared_entry)
        if r.random() < 0.05:
            versions.append(None)
        entries[chart] = versions if versions or r.random() < 0.5 else None
    doc = {"apiVersion": "v1", "entries": entries, "generated": "2024-01-01T00:00:00Z"}
    keys = list(doc)
    r.shuffle(keys)
    doc = {k: doc[k] for k in keys}
    form = r.randint(0, 3)
    if form == 0:
        body = json.dumps(doc, indent=r.choice([None, 1]))
    else:
        body = yaml.dump(doc, Dumper=yaml.SafeDumper, sort_keys=False,
                         default_flow_style=(form == 3), width=r.choice([80, 10000]))
    if r.random() < 0.2:
        body = body.replace("\n", "\r\n")
    data = body.encode()
    if r.random() < 0.1:
        data = b"\xef\xbb\xbf" + data
    return data


def main():
    r = random.Random(SEED)
    failed = 0
    states = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(CASES):
            data = gen_index(r)
            path = os.path.join(tmp, "index-%d.yaml" % i)
            with open(path, "wb") as f:
                f.write(data)
            doc = yaml.load(data, Loader=yaml.CSafeLoader)
            want, want_charts = reference(doc)
            p = subprocess.run([BIN, "index", "analyze", "--charts", path], capture_output=True,
                               timeout=60)
            if p.returncode != 0:
                failed += 1
                print("not ok - case %d: exit %d: %s" % (i, p.returncode, p.stderr.decode()))
                continue
            got = json.loads(p.stdout)["summary"]
            got_charts = [{k: c[k] for k in ("name", "versions", "ociEntries", "newestVersion",
                                              "newestIsOci")} for c in got.get("chartDetails", [])]
            diffs = [k for k in want if got.get(k) != want[k]]
            if got_charts != want_charts:
                diffs.append("chartDetails")
            state = ("clean" if want["chartsNewestOci"] == 0 else
                     "mixed" if want["chartsHttpsAfterOci"] > 0 else "oci")
            states[state] = states.get(state, 0) + 1
            if json.loads(p.stdout)["verdict"]["state"] != state:
                diffs.append("verdict state %s" % state)
            if diffs:
                failed += 1
                keep = os.path.join(tempfile.gettempdir(), "og-diff-%d-%d.yaml" % (SEED, i))
                with open(keep, "wb") as f:
                    f.write(data)
                print("not ok - case %d (kept as %s): %s" % (i, keep, ", ".join(diffs)))
                for k in (k for k in diffs if k in want or k == "chartDetails"):
                    w = want_charts if k == "chartDetails" else want[k]
                    g = got_charts if k == "chartDetails" else got.get(k)
                    print("    %s: want %s\n    %s  got  %s" % (k, w, " " * len(k), g))
    print("%d cases (seed %d), %d failed; verdicts %s" % (CASES, SEED, failed, sorted(states.items())))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
