#!/usr/bin/python3
"""`ocigate check` over the fixture GitOps tree (tests/data/gitops/): exact output and exit
status for each format, SARIF 2.1.0 structure, stdin, Lists, symlink loops, the size cap,
usage errors, and that check writes nothing."""
import hashlib
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from ogtest import BIN, SOURCE_DIR, check, eq, run  # noqa: E402

TREE = os.path.join(SOURCE_DIR, "tests", "data", "gitops")
EXPECTED = os.path.join(SOURCE_DIR, "tests", "data", "gitops-expected")
CONFIG = os.path.join(SOURCE_DIR, "tests", "data", "gitops-ocigate.yaml")


def ocigate(*args, cwd=TREE, stdin=None):
    p = subprocess.run([BIN, *args], cwd=cwd, input=stdin, capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def expected(name):
    with open(os.path.join(EXPECTED, name), encoding="utf-8") as f:
        return f.read()


def tree_digest():
    h = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(TREE)):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            st = os.stat(path)
            h.update(path.encode() + b"\0" + str(st.st_mode).encode())
            with open(path, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def test_text_golden_whole_tree():
    before = tree_digest()
    rc, out, err = ocigate("check", "--config", CONFIG, ".")
    eq(out, expected("check.txt"), "stdout")
    eq(err, expected("check.stderr"), "stderr")
    # The broken file gives 2, which wins over the findings; every other file was checked.
    eq(rc, 2, "exit status")
    check("findings after the broken file too", "multi.yaml:33:1" in out, out)
    eq(tree_digest(), before, "check writes nothing")


def test_json_golden():
    rc, out, err = ocigate("check", "--config", CONFIG, "--format", "json", ".")
    eq(rc, 2, "exit status")
    eq(out, expected("check.json"), "stdout")
    doc = json.loads(out)
    eq(doc["exitCode"], 2, "exitCode")
    eq(len(doc["errors"]), 1, "errors")
    eq((doc["errors"][0]["file"], doc["errors"][0]["line"]), ("./apps/sandbox/broken.yaml", 7),
       "error position")
    rules = sorted(f["rule"] for f in doc["findings"])
    eq(rules, ["known-migration"] * 5 + ["oci-type-http-url", "oci-url-http-type"], "rules")
    by_name = {(f["namespace"], f["name"]): f for f in doc["findings"]}
    flow = by_name[("team-b", "bitnami-flow")]
    eq((flow["line"], flow["column"], flow["field"]["line"], flow["field"]["column"]),
       (1, 1, 4, 13), "flow positions")
    eq(flow["fix"], {"spec": {"type": "oci", "url": "oci://registry-1.docker.io/bitnamicharts",
                              "passCredentials": None}}, "fix as data")
    # A List's items are objects of their own; the sandbox namespace is audit in the config.
    sandbox = by_name[("sandbox", "bitnami")]
    eq((sandbox["mode"], sandbox["level"], sandbox["line"]), ("audit", "warning", 7), "List item")
    eq(by_name[("team-c", "podinfo")]["fix"]["spec"]["url"], "oci://ghcr.io/stefanprodan/charts",
       "the config's migrations table")
    eq(by_name[("team-a", "broken-type")]["fix"], None, "no fix for oci-type-http-url")
    check("deleting objects are not judged", ("team-c", "gone") not in by_name)
    eq(doc["denied"], 6, "denied")


def test_sarif_golden_and_structure():
    rc, out, err = ocigate("check", "--config", CONFIG, "--format", "sarif", ".")
    eq(rc, 2, "exit status")
    eq(out, expected("check.sarif"), "stdout")
    doc = json.loads(out)
    eq(doc["version"], "2.1.0", "version")
    check("$schema", doc["$schema"].endswith("sarif-2.1.0.json"), doc["$schema"])
    eq(len(doc["runs"]), 1, "runs")
    run_ = doc["runs"][0]
    driver = run_["tool"]["driver"]
    eq(driver["name"], "ocigate", "driver name")
    ids = [r["id"] for r in driver["rules"]]
    eq(len(ids), len(set(ids)), "rule ids unique")
    for r in driver["rules"]:
        check("rule shortDescription", isinstance(r["shortDescription"]["text"], str) and
              r["shortDescription"]["text"], r)
    check("results", len(run_["results"]) == 7, run_["results"])
    for res in run_["results"]:
        check("ruleId declared", res["ruleId"] in ids, res)
        eq(ids[res["ruleIndex"]], res["ruleId"], "ruleIndex")
        check("level", res["level"] in ("none", "note", "warning", "error"), res)
        check("message.text", isinstance(res["message"]["text"], str) and res["message"]["text"])
        check("locations", len(res["locations"]) >= 1, res)
        for loc in res["locations"]:
            pl = loc["physicalLocation"]
            uri = pl["artifactLocation"]["uri"]
            check("relative uri", not uri.startswith("/") and not uri.startswith("./"), uri)
            check("uri exists", os.path.isfile(os.path.join(TREE, uri)), uri)
            region = pl["region"]
            check("startLine", isinstance(region["startLine"], int) and region["startLine"] >= 1)
            check("startColumn", isinstance(region["startColumn"], int) and
                  region["startColumn"] >= 1)
            # The region is the spec.url value: the line a fix changes.
            with open(os.path.join(TREE, uri), "rb") as f:
                line = f.read().split(b"\n")[region["startLine"] - 1].decode()
            check("region points at the url", line[region["startColumn"] - 1:].lstrip("'\"")
                  .startswith(("https://", "oci://")), line, region)
    inv = run_["invocations"][0]
    eq(inv["executionSuccessful"], False, "executionSuccessful")
    eq(len(inv["toolExecutionNotifications"]), 1, "notifications")
    eq(inv["toolExecutionNotifications"][0]["locations"][0]["physicalLocation"]["region"],
       {"startLine": 7, "startColumn": 11}, "error region")


def test_exit_status_per_subtree():
    rc, out, err = ocigate("check", "--config", CONFIG, "clusters")
    eq((rc, err), (0, ""), "clusters: clean")
    eq(out, "ocigate check: 0 findings (0 that enforce denies) in 4 objects, 3 files, 0 errors\n",
       "clusters summary")
    rc, out, err = ocigate("check", "--config", CONFIG, "infrastructure")
    eq((rc, err), (1, ""), "infrastructure: findings enforce denies")
    rc, out, err = ocigate("check", "--config", CONFIG, "--mode", "audit", "infrastructure")
    eq(rc, 0, "--mode audit: always 0")
    check("audit still lists", out.count(": warning: [") == 7 and ": error: " not in out, out)
    # Without --config: the built-in table (bitnami only) in the default mode (mutate, which
    # patches what enforce denies: still a failure of the gate).
    rc, out, err = ocigate("check", "infrastructure")
    eq(rc, 1, "defaults")
    eq(out.count("\n"), 7, "six findings and the summary")
    check("podinfo unknown without the config", "podinfo" not in out, out)
    rc, out, err = ocigate("check", "--mode=enforce", "clusters/prod/flux-system/oci-ok.yml")
    eq((rc, out.count("0 findings")), (0, 1), "a migrated repository")


def test_stdin_and_list():
    with open(os.path.join(TREE, "infrastructure", "sources", "list.yaml"), "rb") as f:
        data = f.read()
    rc, out, err = ocigate("check", "--config", CONFIG, "-", stdin=data)
    eq(rc, 1, "exit status")
    eq(out.splitlines()[0],
       "<stdin>:7:3: warning: [known-migration] HelmRepository sandbox/bitnami (spec.url at "
       "14:10): https://charts.bitnami.com/bitnami moved its charts to OCI "
       "(oci://registry-1.docker.io/bitnamicharts); fix: spec.type: oci, spec.url: "
       "oci://registry-1.docker.io/bitnamicharts", "first line")
    rc, out, err = ocigate("check", "--format", "sarif", "-", stdin=data)
    eq(json.loads(out)["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
       ["artifactLocation"]["uri"], "stdin", "stdin uri")


def test_explicit_files_any_name_and_ignored_files():
    # A file named on the command line is read whatever its name; in a directory only
    # *.yaml and *.yml are (README.md there holds an apiVersion line).
    rc, out, err = ocigate("check", "apps/podinfo")
    eq((rc, err), (0, ""), "directory")
    check("one file read", "1 object, 1 file," in out, out)
    rc, out, err = ocigate("check", "apps/podinfo/README.md")
    eq(rc, 0, "README.md is YAML to libyaml: a scalar document, no object")
    rc, out, err = ocigate("check", "apps/podinfo/values.json")
    eq(rc, 0, "JSON is YAML")


def test_symlink_loop_and_unreadable():
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "a", "b"))
        os.symlink("..", os.path.join(tmp, "a", "b", "up"))
        with open(os.path.join(tmp, "a", "b", "repo.yaml"), "w") as f:
            f.write("apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\n"
                    "metadata: {name: x, namespace: y}\n"
                    "spec: {url: https://charts.bitnami.com/bitnami}\n")
        rc, out, err = ocigate("check", "a", os.path.join(tmp, "missing.yaml"), cwd=tmp)
        eq(rc, 2, "exit status")
        lines = err.splitlines()
        eq(lines[0], "a/b/up: error: directory loop through symlinks (a directory above it)",
           "loop")
        check("missing file", lines[1].startswith(os.path.join(tmp, "missing.yaml") +
                                                  ": error: cannot read: "), lines)
        check("the other file is still checked", "a/b/repo.yaml:1:1: error: [known-migration]"
              in out, out)
        if os.geteuid() != 0:
            path = os.path.join(tmp, "a", "b", "repo.yaml")
            os.chmod(path, 0)
            rc, out, err = ocigate("check", path)
            eq(rc, 2, "unreadable")


def test_size_cap():
    with tempfile.TemporaryDirectory() as tmp:
        big = os.path.join(tmp, "big.yaml")
        with open(big, "w") as f:
            f.write("# padding\n" * 300)
        rc, out, err = ocigate("check", "--max-bytes", "2Ki", big)
        eq(rc, 2, "over the cap")
        eq(err, big + ": error: larger than --max-bytes 2Ki\n", "message")
        rc, out, err = ocigate("check", "--max-bytes", "4Ki", big)
        eq(rc, 0, "under the cap")
        rc, out, err = ocigate("check", "--max-bytes", "2Gi", big)
        eq(rc, 2, "cap out of range")
        check("the value parser's message", "out of range (1Ki to 1Gi)" in err, err)
        rc, out, err = ocigate("check", "--max-bytes", "lots", big)
        eq(rc, 2, "bad size")


def test_bad_yaml_kinds():
    cases = [
        (b"a: 1\na: 2\n", "t.yaml:2:1: error: "),
        (b"a: &x 1\nb: *x\n", "t.yaml:2:4: error: "),
        (b"a: [1\n", "t.yaml:2:1: error: "),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for data, want in cases:
            with open(os.path.join(tmp, "t.yaml"), "wb") as f:
                f.write(data)
            rc, out, err = ocigate("check", "t.yaml", cwd=tmp)
            eq(rc, 2, "exit status for %r" % data)
            check("position for %r" % data, err.startswith(want), err)


def test_usage_errors():
    for args, want in [
        ((), "no PATH given"),
        (("--format", "xml", "."), "--format must be text, json or sarif"),
        (("--mode", "mutate", "."), "--mode must be enforce or audit"),
        (("--bogus", "."), "unknown option '--bogus'"),
        (("--config",), "--config needs a value"),
        (("--online", "--config", os.path.join(SOURCE_DIR, "tests", "data", "gitops-ocigate.yaml"),
          "."), "--online: index analysis is disabled in the config"),
        (("--config", "/nonexistent/ocigate.yaml", "."), "/nonexistent/ocigate.yaml"),
    ]:
        rc, out, err = ocigate("check", *args)
        eq(rc, 2, "exit status for %r" % (args,))
        check("message for %r" % (args,), want in err, err)
        eq(out, "", "no stdout for %r" % (args,))
    rc, out, err = ocigate("check", "--help")
    eq(rc, 0, "--help")
    check("help", "usage: ocigate check" in out, out)


def test_online_index_analysis():
    """--online: the index verdict through the server's cache and guarded fetcher."""
    srv = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "indexsrv.py")],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        port = int(srv.stdout.readline().split()[1])
        base = "http://127.0.0.1:%d" % port
        repos = "".join(
            "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\n"
            "metadata: {name: %s, namespace: ns}\nspec: {url: '%s'}\n" % (name, url)
            for name, url in [("moved", base + "/repo/oci-small"), ("clean", base + "/repo/http-small"),
                              ("again", base + "/repo/oci-small/"),
                              ("missing", base + "/status/404"),
                              ("mixed", base + "/repo/mixed-small")])
        with tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "ocigate.yaml")
            with open(cfg, "w") as f:
                f.write("mode: enforce\nindex:\n  allowCIDRs: [127.0.0.0/8]\n  fetchTimeout: 20s\n")
            rc, out, err = ocigate("check", "--config", cfg, "--online", "--format", "json", "-",
                                   cwd=tmp, stdin=repos.encode())
            doc = json.loads(out)
            by_name = {f["name"]: f for f in doc["findings"]}
            eq(sorted(by_name), ["again", "missing", "mixed", "moved"], "findings: " + out + err)
            eq(by_name["moved"]["rule"], "index-points-to-oci", "moved")
            eq(by_name["moved"]["fix"]["spec"]["url"], by_name["again"]["fix"]["spec"]["url"],
               "one verdict per normalized url")
            eq(by_name["missing"]["rule"], "index-unknown", "404")
            eq(by_name["missing"]["level"], "warning", "unknown is allowed (onUnknown: allow)")
            eq(by_name["mixed"]["rule"], "index-mixed", "mixed")
            eq(by_name["mixed"]["level"], "warning", "mixed is allowed (onMixed: warn)")
            eq(rc, 1, "exit status")
            with open(cfg, "w") as f:
                f.write("mode: enforce\n")
            # Without the allow list the SSRF guard refuses 127.0.0.1: unknown, never oci.
            rc, out, err = ocigate("check", "--config", cfg, "--online", "--format", "json", "-",
                                   cwd=tmp, stdin=repos.encode())
            rules = sorted(f["rule"] for f in json.loads(out)["findings"])
            eq(rules, ["index-unknown"] * 5, "guarded: " + out)
            eq(rc, 0, "exit status")
            # Offline (the default) nothing is fetched: no finding for an http(s) url alone.
            rc, out, err = ocigate("check", "--config", cfg, "-", cwd=tmp, stdin=repos.encode())
            eq((rc, out.count("[")), (0, 0), "offline: " + out)
    finally:
        srv.stdin.close()
        srv.kill()
        srv.wait()


# A name is manifest data: LF, ESC, C1 or bytes that are not UTF-8 in it must neither start a
# line of their own in a CI log (where "::error::" lines are commands) nor reach a terminal.
HOSTILE = (b'apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n'
           b'  name: "x\\n::error::owned\\e[31m\\x9b\\u202e"\n  namespace: "ns\\r\\a"\n'
           b'spec:\n  url: https://charts.bitnami.com/bitnami\n  interval: 1h\n')


def plain_lines(text, what):
    for line in text.splitlines():
        check(not line.startswith("::"), what + ": a name started a line", line)
        check(all(c in "\t" or (ord(c) >= 0x20 and not 0x7F <= ord(c) <= 0x9F) for c in line),
              what + ": a control character reached the output", repr(line))


def test_names_cannot_inject_lines_or_escapes():
    rc, out, err = ocigate("check", "-", stdin=HOSTILE)
    eq(rc, 1, "exit status")
    check("x ::error::owned" in out, "the name is printed, cleaned", out)
    plain_lines(out + err, "check")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "repo.yaml")
        with open(path, "wb") as f:
            f.write(HOSTILE)
        rc, out, err = ocigate("fix", "--dry-run", path)
        eq(rc, 0, "fix exit status")
        check("x ::error::owned" in err, "fix names the object, cleaned", err)
        plain_lines(err, "fix")
        release = (b"---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n"
                   b'  name: "r\\n::warning::y\\e]0;t\\a"\n  namespace: "ns\\r\\a"\nspec:\n'
                   b"  interval: 1h\n  chart:\n    spec:\n      chart: redis\n"
                   b"      sourceRef:\n        kind: HelmRepository\n"
                   b'        name: "x\\n::error::owned\\e[31m\\x9b\\u202e"\n')
        with open(path, "ab") as f:
            f.write(release)
        rc, out, err = ocigate("migrate", path)
        check("r ::warning::y" in err, "migrate names the release, cleaned", err)
        plain_lines(err, "migrate")


run(globals())
