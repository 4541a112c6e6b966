"""The verdict and summary of an index do not depend on the order of its entries (issue 11).

Shuffles the real indexes of ../shared/data/index (SOURCES.md) at the text level, keeping
Helm's serialization: the charts under `entries` and the versions of each chart are permuted
with fixed seeds, byte for byte otherwise. Each shuffled file goes through `ocigate index
analyze --charts` and must give the same summary (per-chart details compared by name, since
they list the charts in index order) and the same verdict as the file as published.

Every real index carries `created` on every entry, and its dates follow the versions (a later
release has a later date), where no rule makes the newest version depend on the order. So
each file also runs in two derived forms: `created` removed from a seeded share of the
entries, and, on top of that, the remaining dates permuted among each chart's versions (as a
re-stamped index has them). The old rule (created compared only when both sides had it, else
SemVer) was no order there: 1.0.0 beat 2.0.0 by date, 1.5.0 without a date beat 1.0.0 and
lost to 2.0.0, so the answer was whichever came last.

Also pins issue 11's figures: the http(s) charts left behind are all older than the first
oci:// entry (Bitnami, the scale file: 56 of 756 charts; kubeshop: 12 of 14), so the verdict
stays oci. The 29 MB scale file runs as published and re-stamped, one shuffle each.
"""
import json
import os
import random
import subprocess
import tempfile
import time

import ogtest
from ogtest import Skip, check, eq

BIN = ogtest.BIN
INDEX_DIR = os.path.join(ogtest.DATA_DIR, "index")
SEED = int(os.environ.get("OG_ORDER_SEED", "20261201"))
SHUFFLES = int(os.environ.get("OG_ORDER_SHUFFLES", "3"))

# The OCI-era Bitnami subsets, kubeshop (mixed https and oci://), grafana, ingress-nginx.
FILES = ["bitnami-subset-redis-2025-01-13.yaml", "bitnami-subset-minio-2025-01-13.yaml",
         "bitnami-subset-kube-state-metrics-2025-01-13.yaml",
         "kubeshop-helm-charts-index-2025-10-09.yaml", "grafana-helm-charts-index-2026-08-20.yaml",
         "ingress-nginx-index-2026-03-19.yaml"]
SCALE = "bitnami-scale-2024-oci.yaml"
PUBLISHED = {}  # file name -> its analysis as published


def path_of(name):
    p = os.path.join(INDEX_DIR, name)
    if not os.path.exists(p):
        raise Skip("shared data %s is absent (set OG_SHARED_DATA)" % p)
    return p


def split(data):
    """Splits a Helm-serialized index into (head, charts, tail): each chart is (key line,
    [version items]), each item a list of lines. Entries are `  name:` lines at indent 2,
    items start with `  - ` under them."""
    lines = data.split(b"\n")
    i = lines.index(b"entries:") + 1
    head, charts = lines[:i], []
    while i < len(lines) and (lines[i].startswith(b" ") or lines[i] == b""):
        line = lines[i]
        if line.startswith(b"  - ") or line == b"  -":
            charts[-1][1].append([line])
        elif line.startswith(b"  ") and not line.startswith(b"   "):
            charts.append((line, []))
        else:
            charts[-1][1][-1].append(line)
        i += 1
    return head, charts, lines[i:]


def join(head, charts, tail):
    out = list(head)
    for key, items in charts:
        out.append(key)
        for item in items:
            out.extend(item)
    return b"\n".join(out + tail)


def shuffled(parts, r):
    head, charts, tail = parts
    charts = [(key, r.sample(items, len(items))) for key, items in charts]
    return join(head, r.sample(charts, len(charts)), tail)


def strip_created(parts, r, share=0.4):
    """Drops the `created` line of about `share` of the versions (never the item's first)."""
    head, charts, tail = parts
    out, dropped = [], 0
    for key, items in charts:
        kept = []
        for item in items:
            if r.random() < share:
                rest = [l for l in item[1:] if not l.startswith(b"    created: ")]
                dropped += len(item) - 1 - len(rest)
                item = item[:1] + rest
            kept.append(item)
        out.append((key, kept))
    return (head, out, tail), dropped


def restamp(parts, r):
    """Permutes the `created` lines among the versions of each chart that have one."""
    head, charts, tail = parts
    out = []
    for key, items in charts:
        where = [(i, j) for i, item in enumerate(items) for j, l in enumerate(item)
                 if j > 0 and l.startswith(b"    created: ")]
        values = r.sample([items[i][j] for i, j in where], len(where))
        items = [list(item) for item in items]
        for (i, j), v in zip(where, values):
            items[i][j] = v
        out.append((key, items))
    return head, out, tail


def analyze(tmp, data, n):
    path = os.path.join(tmp, "index-%d.yaml" % n)
    with open(path, "wb") as f:
        f.write(data)
    p = subprocess.run([BIN, "index", "analyze", "--charts", path], capture_output=True,
                       timeout=120)
    eq(p.returncode, 0, "exit status (%s)" % p.stderr.decode()[:300])
    doc = json.loads(p.stdout)
    doc["summary"]["chartDetails"].sort(key=lambda c: c["name"])
    del doc["source"]
    return doc


def first_difference(a, b, where=""):
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        for k in a:
            d = first_difference(a[k], b[k], where + "." + k)
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, "%s[%d]" % (where, i))
            if d:
                return d
        return None
    return None if a == b else "%s: %r != %r" % (where, a, b)


def same_every_time(name, shuffles, variants=("as published", "created partly removed",
                                              "created partly removed and re-stamped")):
    """The file in each of `variants`, shuffled `shuffles` times each. Returns the verdicts."""
    with open(path_of(name), "rb") as f:
        data = f.read()
    parts = split(data)
    eq(join(*parts), data, name + ": split and join give the file back")
    r = random.Random("%d/%s" % (SEED, name))
    stripped, dropped = strip_created(parts, r)
    check(dropped > 0, name + ": some created removed")
    restamped = restamp(stripped, r)
    forms = {"as published": parts, "created partly removed": stripped,
             "created partly removed and re-stamped": restamped}
    verdicts = []
    with tempfile.TemporaryDirectory(prefix="og-order-") as tmp:
        for variant in variants:
            p = forms[variant]
            want = analyze(tmp, join(*p), 0)
            if p is parts:
                PUBLISHED[name] = want
            verdicts.append(want["verdict"]["state"])
            for k in range(shuffles):
                got = analyze(tmp, shuffled(p, r), k + 1)
                d = first_difference(want, got)
                check(d is None, "%s, %s, shuffle %d (seed %d): same summary and verdict"
                      % (name, variant, k + 1, SEED), d)
    return verdicts


def test_shuffled_real_indexes():
    for name in FILES:
        verdicts = same_every_time(name, SHUFFLES)
        print("# %s: 3 forms x %d shuffles, verdicts %s" % (name, SHUFFLES, "/".join(verdicts)))


def test_shuffled_scale_file():
    """The 29 MB file: as published and re-stamped, one shuffle each."""
    t0 = time.monotonic()
    verdicts = same_every_time(SCALE, 1, ("as published", "created partly removed and re-stamped"))
    print("# %s: verdicts %s in %.1fs" % (SCALE, "/".join(verdicts), time.monotonic() - t0))


def figures(name):
    if name in PUBLISHED:
        return PUBLISHED[name]
    with tempfile.TemporaryDirectory(prefix="og-order-") as tmp:
        with open(path_of(name), "rb") as f:
            return analyze(tmp, f.read(), 0)


def test_https_charts_left_behind_are_older():
    """Issue 11: Bitnami 56 of 756 https charts, kubeshop 12 of 14, all older than the first
    oci:// entry: the verdict stays oci, never mixed."""
    for name, charts, https, first in (
            (SCALE, 756, 56, "2023-02-01T02:36:28.066484927Z"),
            ("kubeshop-helm-charts-index-2025-10-09.yaml", 14, 12,
             "2025-07-15T08:53:38.606178249Z")):
        doc = figures(name)
        s, v = doc["summary"], doc["verdict"]
        eq((s["charts"], s["chartsNewestHttps"], s["chartsHttpsAfterOci"], s["firstOciCreated"]),
           (charts, https, 0, first), name + ": charts, https newest, after the first oci")
        left = [c for c in s["chartDetails"] if c["newestIsHttps"]]
        eq(len(left), https, name + ": charts whose newest version is https")
        check(all(c["newestCreated"] is not None and not c["httpsAfterOci"] for c in left),
              name + ": every one released before the first oci:// entry")
        eq(v["state"], "oci", name + ": verdict")
        eq(v["httpsCharts"], [], name + ": no chart named as still released over https")


if __name__ == "__main__":
    ogtest.run(globals())
