#!/usr/bin/python3
"""`ocigate index analyze`: output, exit codes, stdin, URL refusal, and the real indexes."""
import json
import os
import subprocess
import sys

BIN = os.environ["OCIGATE_BIN"]
SRC = os.environ["OG_SOURCE_DIR"]
FIX = os.path.join(SRC, "tests", "data", "index")
SHARED = os.environ.get("OG_SHARED_DATA") or os.path.join(SRC, "..", "shared", "data")

failed = 0


def run(*args, stdin=None):
    p = subprocess.run([BIN, "index", *args], input=stdin, capture_output=True, timeout=120)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def check(name, cond, detail=""):
    global failed
    if cond:
        print("ok - " + name)
    else:
        failed += 1
        print("not ok - %s %s" % (name, detail))


rc, out, err = run("analyze", os.path.join(FIX, "malformed-oci.yaml"))
doc = json.loads(out) if rc == 0 else {}
check("json exit 0", rc == 0, err)
check("json summary", doc.get("summary", {}).get("malformedOciEntries") == 3, out)
check("json verdict", doc.get("verdict", {}).get("state") == "oci", out)
check("json source", doc.get("source", "").endswith("malformed-oci.yaml"), out)
check("no chart detail by default", "chartDetails" not in doc.get("summary", {}), out)

rc, out, err = run("analyze", "--charts", "--threshold", "any", os.path.join(FIX, "multi-urls.yaml"))
doc = json.loads(out) if rc == 0 else {}
check("--threshold any", doc.get("verdict", {}).get("state") == "oci", out)
check("--charts", doc.get("summary", {}).get("chartDetails", [{}])[0].get("name") == "mirror", out)
rc, out, err = run("analyze", "--threshold=newest", os.path.join(FIX, "multi-urls.yaml"))
check("--threshold=newest", rc == 0 and json.loads(out)["verdict"]["state"] == "clean", out)

with open(os.path.join(FIX, "json.json"), "rb") as f:
    rc, out, err = run("analyze", "--human", "-", stdin=f.read())
check("stdin --human", rc == 0 and "verdict:    oci (fixable: oci://registry-1.docker.io/bitnamicharts)"
      in out and "<stdin>" in out, out + err)

# The JSON is valid UTF-8 whatever the file name holds: a byte that is not UTF-8 is \ufffd,
# a control character \u00XX (the one JSON writer, lib/json.c).
import shutil
import tempfile
with tempfile.TemporaryDirectory() as tmp:
    odd = os.path.join(os.fsencode(tmp), b"idx-\xff-\x01.yaml")
    shutil.copy(os.path.join(FIX, "http-small.yaml"), odd)
    p = subprocess.run([BIN, "index", "analyze", odd], capture_output=True, timeout=120)
    try:
        src = json.loads(p.stdout.decode("utf-8"))["source"]
    except (ValueError, KeyError) as e:
        src = repr(e)
    check("source name escaped to valid JSON", p.returncode == 0 and
          src.endswith("idx-\ufffd-\x01.yaml") and b"\\u0001" in p.stdout, repr(p.stdout[:200]))

# An index that moved some charts and still releases others over https: state mixed.
rc, out, err = run("analyze", "--charts", os.path.join(FIX, "mixed-small.yaml"))
doc = json.loads(out) if rc == 0 else {}
v, s = doc.get("verdict", {}), doc.get("summary", {})
check("mixed: state", v.get("state") == "mixed" and v.get("ociCharts") == ["redis"] and
      v.get("httpsCharts") == ["legacy-app"] and v.get("chartsHttpsAfterOci") == 1, out)
check("mixed: summary", s.get("firstOciCreated") == "2024-12-02T10:00:00Z" and
      s.get("chartsNewestHttps") == 2 and s.get("chartsHttpsAfterOci") == 1, out)
rc, out, err = run("analyze", "--human", os.path.join(FIX, "mixed-small.yaml"))
check("mixed: --human", rc == 0 and "verdict:    mixed (never patched unless index.onMixed" in out
      and "first oci:  2024-12-02T10:00:00Z" in out, out)

rc, out, err = run("analyze", os.path.join(SRC, "CMakeLists.txt"))
check("not an index: exit 2", rc == 2 and "CMakeLists.txt:" in err, err)
rc, out, err = run("analyze", "-", stdin=b"apiVersion: v1\nentries: [1]\n")
check("parse error: exit 2 with location", rc == 2 and "<stdin>:2:10:" in err, err)
rc, out, err = run("analyze", "/nonexistent/index.yaml")
check("missing file: exit 1", rc == 1 and "No such file" in err, err)
# A URL goes through the server's fetcher and its SSRF guard (no network needed to see it;
# test_index_admission.py covers fetching for real from a local index server).
rc, out, err = run("analyze", "http://127.0.0.1:1/charts")
check("url: guarded fetch", rc == 1 and "address 127.0.0.1 is not allowed" in err, err)
rc, out, err = run("analyze")
check("no file: usage", rc == 2 and "usage:" in err, err)
rc, out, err = run("analyze", "--threshold", "most", "x")
check("bad threshold", rc == 2 and "newest or any" in err, err)
rc, out, err = run("frobnicate")
check("unknown subcommand", rc == 2, err)
rc, out, err = run("--help")
check("help", rc == 0 and "usage:" in out, out)

kubeshop = os.path.join(SHARED, "index", "kubeshop-helm-charts-index-2025-10-09.yaml")
if os.path.exists(kubeshop):
    rc, out, err = run("analyze", kubeshop)
    doc = json.loads(out) if rc == 0 else {}
    s = doc.get("summary", {})
    check("kubeshop figures", (s.get("charts"), s.get("versions"), s.get("ociEntries"),
                               s.get("httpsEntries"), s.get("malformedOciEntries"),
                               len(s.get("bases", []))) == (14, 3312, 30, 3282, 2, 2), out)
    check("kubeshop not fixable", doc.get("verdict", {}).get("ociBase", 1) is None, out)
else:
    print("skip - kubeshop figures: %s is absent" % kubeshop)

print("%d failed" % failed)
sys.exit(1 if failed else 0)
