#!/usr/bin/python3
"""`ocigate migrate` over the fixture GitOps tree (tests/data/gitops/): the golden YAML stream
and plan, every object parsed back and checked field by field and against the Flux CRD
schemas (shared data), batches against dependsOn, --out directories (atomic files, refusal
over an earlier run, --force), the JSON plan, exit codes, bad input that writes nothing, and
inputs that stay untouched."""
import json
import os
import re
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.dirname(__file__))
from ogtest import DATA_DIR, SOURCE_DIR, Skip, check, crd_validate, eq, run, run_bin  # noqa: E402

TREE = os.path.join(SOURCE_DIR, "tests", "data", "gitops")
EXPECTED = os.path.join(SOURCE_DIR, "tests", "data", "gitops-expected")
CONFIG = os.path.join(SOURCE_DIR, "tests", "data", "gitops-ocigate.yaml")
# The tree without apps/sandbox (a broken file: with it nothing is written).
ROOTS = ["infrastructure", "apps/platform", "apps/team-a", "apps/cycle", "apps/podinfo",
         "clusters"]
MEDIA_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
BITNAMI = "oci://registry-1.docker.io/bitnamicharts"
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def ocigate(*args, cwd=TREE, stdin=None):
    return run_bin(*args, cwd=cwd, stdin=stdin)


def expected(name):
    with open(os.path.join(EXPECTED, name), encoding="utf-8") as f:
        return f.read()


def snapshot(root):
    out = {}
    for d, dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(d, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = (f.read(), os.stat(path).st_mode)
    return out


def batches_of_stream(text):
    """[(batch number, [docs])] from the stdout stream: a comment line opens each batch."""
    batches = []
    for chunk in re.split(r"^# ocigate migrate: batch ", text, flags=re.M)[1:]:
        head, _, body = chunk.partition("\n")
        batches.append((int(head.split(" ", 1)[0]),
                        [d for d in yaml.safe_load_all(body) if d is not None]))
    return batches


def validate_all(docs):
    """Every object valid under its CRD (when the shared data is there) and the CEL rule of
    HelmRelease v2 (chart xor chartRef), which a JSON-schema validator does not run."""
    validated = True
    for d in docs:
        eq(d["apiVersion"], {"OCIRepository": "source.toolkit.fluxcd.io/v1",
                             "HelmRelease": "helm.toolkit.fluxcd.io/v2"}[d["kind"]], "apiVersion")
        check(DNS_SUBDOMAIN.match(d["metadata"]["name"]) and len(d["metadata"]["name"]) <= 253,
              "metadata.name is a DNS subdomain", d["metadata"])
        if d["kind"] == "HelmRelease":
            check(("chart" in d["spec"]) != ("chartRef" in d["spec"]), "chart xor chartRef", d)
        validated = crd_validate(d) and validated
    return validated


def by_key(docs):
    return {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d
            for d in docs}


def check_depends_on(batches):
    """No release in an earlier batch than a migrated release it depends on."""
    where = {}
    for number, docs in batches:
        for d in docs:
            if d["kind"] == "HelmRelease":
                where[(d["metadata"]["namespace"], d["metadata"]["name"])] = number
    for number, docs in batches:
        for d in docs:
            if d["kind"] != "HelmRelease":
                continue
            ns = d["metadata"]["namespace"]
            for dep in d["spec"].get("dependsOn", []):
                key = (dep.get("namespace", ns), dep["name"])
                if key in where:
                    check(where[key] <= number, "dependency in an earlier or the same batch",
                          d["metadata"], key, where[key], number)
    return where


def check_objects(objs):
    """The fixture's objects, field by field."""
    oci = {k[2]: v for k, v in objs.items() if k[0] == "OCIRepository"}
    rel = {(k[1], k[2]): v for k, v in objs.items() if k[0] == "HelmRelease"}
    eq(sorted(oci), ["keycloak", "nginx", "podinfo", "postgresql", "redis-17-3-x", "redis-18-x",
                     "webapp"], "OCIRepositories")
    eq(sorted(rel), [("cycle", "d"), ("platform", "cache"), ("platform", "keycloak"),
                     ("platform", "postgresql"), ("platform", "redis"),
                     ("platform", "redis-legacy"), ("team-a", "webapp"), ("team-c", "podinfo")],
       "HelmReleases")
    for name, o in oci.items():
        eq(o["spec"]["layerSelector"], {"mediaType": MEDIA_TYPE, "operation": "copy"},
           "layerSelector of " + name)
        check("passCredentials" not in o["spec"], "no passCredentials", o)
    # The shared Bitnami repository: its namespace, interval and secret; the url per chart.
    redis18 = oci["redis-18-x"]
    eq(redis18["metadata"], {"name": "redis-18-x", "namespace": "flux-system"}, "metadata")
    eq(redis18["spec"], {"interval": "1h", "url": BITNAMI + "/redis", "ref": {"semver": "18.x"},
                         "layerSelector": {"mediaType": MEDIA_TYPE, "operation": "copy"},
                         "secretRef": {"name": "bitnami-auth"}}, "redis 18.x")
    eq(oci["redis-17-3-x"]["spec"]["ref"], {"semver": "17.3.x"}, "the other range")
    eq(oci["postgresql"]["spec"]["ref"], {"tag": "13.2.24"}, "an exact version is a tag")
    eq(oci["keycloak"]["spec"]["ref"], {"semver": ">=19.0.0 <20.0.0"}, "a range")
    eq(oci["nginx"]["spec"]["ref"], {"tag": "15.4.4_build.1"}, "'+' is '_' in a tag")
    eq(oci["webapp"]["spec"]["ref"], {"semver": "*"}, "no version: the latest")
    eq(oci["webapp"]["spec"]["url"], "oci://ghcr.io/example/charts/webapp", "oci-url-http-type")
    eq(oci["webapp"]["spec"]["interval"], "10m", "the repository's interval")
    eq(oci["podinfo"]["spec"]["url"], "oci://ghcr.io/stefanprodan/charts/podinfo",
       "the config's migrations table")

    # Releases: chartRef where chart stood, the namespace only across namespaces.
    redis = rel[("platform", "redis")]
    eq(list(redis["spec"]), ["interval", "releaseName", "chartRef", "values"], "key order")
    eq(redis["spec"]["chartRef"], {"kind": "OCIRepository", "name": "redis-18-x",
                                   "namespace": "flux-system"}, "chartRef")
    eq(redis["metadata"], {"name": "redis", "namespace": "platform", "labels": {"tier": "data"}},
       "metadata kept")
    eq(redis["spec"]["values"], {"replicas": 3, "maxmemory": 12345678901234567890, "mode": 31,
                                 "umask": "0022", "ratio": 1.5, "enabled": True, "empty": None,
                                 "config": "maxclients 1000\ntimeout 0\n"}, "values as written")
    eq(rel[("platform", "cache")]["spec"]["chartRef"], redis["spec"]["chartRef"],
       "same chart and range: one OCIRepository")
    eq(rel[("platform", "redis-legacy")]["spec"]["chartRef"]["name"], "redis-17-3-x", "legacy")
    pg = rel[("platform", "postgresql")]
    eq(pg["spec"]["dependsOn"], [{"name": "redis"}], "dependsOn kept")
    eq(pg["spec"]["install"], {"remediation": {"retries": 3}}, "install kept")
    kc = rel[("platform", "keycloak")]
    eq(kc["metadata"], {"name": "keycloak", "namespace": "platform",
                        "annotations": {"owner": "identity-team"}},
       "server fields and the last-applied annotation dropped")
    check("status" not in kc, "status dropped", kc)
    eq(kc["spec"]["valuesFrom"], [{"kind": "Secret", "name": "keycloak-admin",
                                   "valuesKey": "password", "targetPath": "auth.adminPassword"}],
       "valuesFrom kept")
    web = rel[("team-a", "webapp")]
    eq(web["spec"]["chartRef"], {"kind": "OCIRepository", "name": "webapp"}, "same namespace")
    kust = web["spec"]["postRenderers"][0]["kustomize"]
    eq(sorted(kust), ["images", "patches"], "v2 post-renderer fields only")
    eq(kust["images"], [{"name": "webapp", "newTag": "1.2.3"}], "images kept")
    eq(len(kust["patches"]), 2, "two patches")
    eq(json.loads(kust["patches"][0]["patch"]),
       {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "webapp"},
        "spec": {"replicas": 2}}, "strategic merge patch")
    check("target" not in kust["patches"][0], "a strategic merge patch names its target", kust)
    eq(json.loads(kust["patches"][1]["patch"]),
       [{"op": "add", "path": "/metadata/annotations/team", "value": "a"}], "JSON 6902 patch")
    eq(kust["patches"][1]["target"], {"version": "v1", "kind": "Service", "name": "webapp"},
       "target kept")
    eq(rel[("cycle", "d")]["spec"]["chartRef"]["namespace"], "flux-system", "cycle/d")


def test_stream_golden_and_fields():
    before = snapshot(TREE)
    rc, out, err = ocigate("migrate", "--config", CONFIG, "--batch-size", "3", *ROOTS)
    eq(out, expected("migrate.yaml"), "stdout")
    eq(err, expected("migrate.stderr"), "stderr")
    # Some releases cannot be migrated (the plan says why): 1.
    eq(rc, 1, "exit status")
    eq(snapshot(TREE), before, "inputs untouched")
    batches = batches_of_stream(out)
    eq([n for n, _ in batches], [1, 2, 3], "batch comments in order")
    eq([len(d) for _, d in batches], [5, 6, 4], "objects per batch")
    where = check_depends_on(batches)
    # The chain redis <- postgresql <- keycloak <- team-a/webapp across batches.
    check(where[("platform", "redis")] < where[("platform", "postgresql")] <=
          where[("platform", "keycloak")] < where[("team-a", "webapp")], "chain order", where)
    # Each batch's OCIRepositories come before its releases; each is in the first batch that
    # needs it.
    seen = set()
    for number, docs in batches:
        kinds = [d["kind"] for d in docs]
        eq(kinds, sorted(kinds, key=lambda k: k != "OCIRepository"), "sources first")
        for d in docs:
            if d["kind"] == "HelmRelease":
                ref = d["spec"]["chartRef"]
                key = (ref.get("namespace", d["metadata"]["namespace"]), ref["name"])
                check(key in seen or any(o["kind"] == "OCIRepository" and
                                         (o["metadata"]["namespace"], o["metadata"]["name"]) ==
                                         key for o in docs), "source in this or an earlier batch",
                      key)
            else:
                seen.add((d["metadata"]["namespace"], d["metadata"]["name"]))
    docs = [d for _, ds in batches for d in ds]
    check_objects(by_key(docs))
    if not validate_all(docs):
        raise Skip("Flux CRDs absent under %s: structure checked, schemas not" % DATA_DIR)


def test_plan_reasons():
    rc, out, err = ocigate("migrate", "--config", CONFIG, *ROOTS)
    reasons = dict(re.findall(r"^  \S+: HelmRelease (\S+): (.*)$",
                              err.split("ocigate migrate: not migrated\n")[1]
                              .split("ocigate migrate: notes\n")[0], flags=re.M))
    eq(sorted(reasons), ["cycle/a", "cycle/b", "cycle/c", "ingress-nginx/ingress-nginx",
                         "team-a/legacy", "team-a/orphan", "team-a/shouty", "team-a/with-files"],
       "not migrated")
    eq(reasons["cycle/a"], "in a dependsOn cycle: cycle/a -> cycle/b -> cycle/a", "cycle")
    check("not migrated (a dependsOn cycle)" in reasons["cycle/c"], "waits on a cycle", reasons)
    check("is not among the inputs" in reasons["team-a/orphan"], "missing repository", reasons)
    check("is not affected" in reasons["ingress-nginx/ingress-nginx"], "unaffected", reasons)
    check("no known OCI registry" in reasons["team-a/legacy"], "oci-type-http-url", reasons)
    check("valuesFiles" in reasons["team-a/with-files"], "values files", reasons)
    check("cannot form an OCI reference" in reasons["team-a/shouty"], "chart name", reasons)
    check("valuesFrom kept as is" in err and "converted to patches" in err and
          "reconcileStrategy dropped" in err and "dockerconfigjson" in err, "notes", err)
    check("from-git" not in err and "team-a/migrated" not in err, "not candidates", err)
    eq(rc, 1, "exit status")
    # The default batch size (10): one batch.
    check("batch 1 of 1 (batch-001): 7 OCIRepositories, 8 HelmReleases" in err, "one batch", err)


def test_exit_zero_when_everything_moves():
    rc, out, err = ocigate("migrate", "apps/platform", "infrastructure/sources/bitnami.yaml")
    eq(rc, 0, "exit status: " + err)
    check(err.endswith("5 HelmReleases in 1 batch, 4 OCIRepositories, 0 not migrated, "
                       "0 errors\n"), "summary", err)
    rc, out, err = ocigate("migrate", "clusters")
    eq((rc, out), (0, ""), "nothing to migrate")
    check(err.endswith("0 HelmReleases in 0 batches, 0 OCIRepositories, 0 not migrated, "
                       "0 errors\n"), "empty summary", err)


def test_stdin():
    data = b""
    for rel in ["infrastructure/sources/bitnami.yaml", "apps/platform/releases.yaml"]:
        with open(os.path.join(TREE, rel), "rb") as f:
            data += b"---\n" + f.read()
    rc, out, err = ocigate("migrate", "-", stdin=data)
    eq(rc, 0, "exit status: " + err)
    check("<stdin>:" in err, "positions name <stdin>", err)
    eq(len([d for d in yaml.safe_load_all(out) if d]), 9, "objects")


def test_out_dir_json_plan_and_force():
    with tempfile.TemporaryDirectory() as tmp:
        dst = os.path.join(tmp, "out")
        rc, out, err = ocigate("migrate", "--config", CONFIG, "--batch-size", "3", "--out", dst,
                               "--format", "json", *ROOTS)
        eq(rc, 1, "exit status: " + err)
        eq(err, "", "the plan goes to stdout with --format json")
        plan = json.loads(out)
        eq((plan["exitCode"], plan["written"], plan["errors"]), (1, True, []), "plan status")
        eq([b["dir"] for b in plan["batches"]], ["batch-001", "batch-002", "batch-003"], "dirs")
        eq(sorted(os.listdir(dst)), ["batch-001", "batch-002", "batch-003"], "written dirs")
        stream = batches_of_stream(expected("migrate.yaml"))
        for b, (number, docs) in zip(plan["batches"], stream):
            d = os.path.join(dst, b["dir"])
            eq(sorted(os.listdir(d)), ["01-ocirepositories.yaml", "02-helmreleases.yaml"],
               "files of " + b["dir"] + " (no temporary left)")
            files = []
            for name in sorted(os.listdir(d)):
                with open(os.path.join(d, name)) as f:
                    files += [x for x in yaml.safe_load_all(f) if x]
                eq(os.stat(os.path.join(d, name)).st_mode & 0o777, 0o644, "mode")
            eq(files, docs, "the files hold the stream's batch %d" % number)
            eq([(o["namespace"], o["name"]) for o in b["ociRepositories"]],
               [(x["metadata"]["namespace"], x["metadata"]["name"]) for x in docs
                if x["kind"] == "OCIRepository"], "plan's OCIRepositories")
            eq([(o["namespace"], o["name"]) for o in b["helmReleases"]],
               [(x["metadata"]["namespace"], x["metadata"]["name"]) for x in docs
                if x["kind"] == "HelmRelease"], "plan's HelmReleases")
        repos = {(r["namespace"], r["name"]): r for r in plan["repositories"]}
        eq(repos[("flux-system", "bitnami")]["releases"],
           [{"namespace": "cycle", "names": ["d"]},
            {"namespace": "platform", "names": ["cache", "keycloak", "postgresql", "redis",
                                                "redis-legacy"]}], "releases per namespace")
        eq(repos[("flux-system", "bitnami")]["ociBase"], BITNAMI, "ociBase")
        eq(len(plan["notMigrated"]), 8, "notMigrated")
        check(all(set(x) == {"file", "line", "column", "kind", "namespace", "name", "reason"}
                  for x in plan["notMigrated"]), "notMigrated fields", plan["notMigrated"])
        first = snapshot(dst)

        # A second run over the same DIR refuses before writing anything.
        rc, out, err = ocigate("migrate", "--config", CONFIG, "--out", dst, *ROOTS)
        eq(rc, 2, "refused")
        check("batch-001: error: holds files of an earlier run" in err, "says why", err)
        check("--force" in err, "names the flag", err)
        eq(snapshot(dst), first, "nothing written")
        # --force with the default batch size: one batch, the others named as left over.
        rc, out, err = ocigate("migrate", "--config", CONFIG, "--out", dst, "--force", *ROOTS)
        eq(rc, 1, "--force: " + err)
        check("batch-002: warning: left from an earlier run" in err and
              "batch-003: warning: left from an earlier run" in err, "stale batches", err)
        with open(os.path.join(dst, "batch-001", "02-helmreleases.yaml")) as f:
            eq(len([x for x in yaml.safe_load_all(f) if x]), 8, "all releases in batch 1")
        eq(sorted(os.listdir(os.path.join(dst, "batch-001"))),
           ["01-ocirepositories.yaml", "02-helmreleases.yaml"], "no temporary left")


def test_bad_input_writes_nothing():
    with tempfile.TemporaryDirectory() as tmp:
        dst = os.path.join(tmp, "out")
        # The whole tree holds a broken file: reported with its position, nothing written.
        rc, out, err = ocigate("migrate", "--config", CONFIG, "--out", dst, "--format", "json",
                               ".")
        eq(rc, 2, "exit status")
        plan = json.loads(out)
        eq((plan["written"], plan["exitCode"]), (False, 2), "plan")
        eq((plan["errors"][0]["file"], plan["errors"][0]["line"], plan["errors"][0]["column"]),
           ("./apps/sandbox/broken.yaml", 7, 11), "error position")
        check(err.startswith("./apps/sandbox/broken.yaml:7:11: error: invalid YAML"), err)
        check(not os.path.exists(dst), "no directory made")
        rc, out, err = ocigate("migrate", "--config", CONFIG, ".")
        eq((rc, out), (2, ""), "no stream either")
        check("nothing written" in err, "says so", err)

        cases = [
            (b"a: 1\na: 2\n", "t.yaml:2:1: error: "),
            (b"a: &x 1\nb: *x\n", "t.yaml:2:4: error: "),
            (b"a: [1\n", "t.yaml:2:1: error: "),
            (b"\xff\xfe\x00", "t.yaml:"),
        ]
        src = os.path.join(tmp, "src")
        os.makedirs(src)
        with open(os.path.join(src, "ok.yaml"), "wb") as f:
            f.write(open(os.path.join(TREE, "apps", "platform", "releases.yaml"), "rb").read())
        for data, want in cases:
            with open(os.path.join(src, "t.yaml"), "wb") as f:
                f.write(data)
            rc, out, err = ocigate("migrate", "--out", dst, "src", cwd=tmp)
            eq(rc, 2, "exit status for %r" % data)
            check(("src/" + want) in err, "position for %r" % data, err)
            check(not os.path.exists(dst), "nothing written for %r" % data)
        os.unlink(os.path.join(src, "t.yaml"))
        # Over the size cap, a symlink loop, a missing path.
        with open(os.path.join(src, "big.yaml"), "w") as f:
            f.write("# padding\n" * 300)
        os.symlink("..", os.path.join(src, "up"))
        rc, out, err = ocigate("migrate", "--max-bytes", "2Ki", "--out", dst, "src", "nope.yaml",
                               cwd=tmp)
        eq(rc, 2, "exit status")
        check("src/big.yaml: error: larger than --max-bytes 2Ki" in err, "cap", err)
        check("src/up/src: error: directory loop through symlinks" in err, "loop", err)
        check("nope.yaml: error: cannot read" in err, "missing", err)
        check(not os.path.exists(dst), "nothing written")
        # An output that cannot be written: a file where DIR should be.
        with open(dst, "w") as f:
            f.write("x")
        os.unlink(os.path.join(src, "big.yaml"))
        os.unlink(os.path.join(src, "up"))
        with open(os.path.join(src, "repo.yaml"), "wb") as f:
            f.write(open(os.path.join(TREE, "infrastructure", "sources", "bitnami.yaml"),
                         "rb").read())
        rc, out, err = ocigate("migrate", "--out", dst, "src", cwd=tmp)
        eq(rc, 2, "unwritable --out")
        check(dst + ": error: cannot read the directory" in err, "says why", err)


def test_usage_errors():
    for args, want in [
        ((), "no PATH given"),
        (("--format", "json", "."), "--format json needs --out"),
        (("--format", "sarif", "--out", "x", "."), "--format must be text or json"),
        (("--batch-size", "0", "."), "--batch-size must be a number from 1 to 100000"),
        (("--batch-size", "ten", "."), "--batch-size must be a number"),
        (("--batch-size", "-1", "."), "--batch-size must be a number"),
        (("--force", "."), "--force needs --out"),
        (("--online", "."), "unknown option '--online'"),
        (("--dry-run", "."), "unknown option '--dry-run'"),
        (("--out",), "--out needs a value"),
    ]:
        rc, out, err = ocigate("migrate", *args)
        eq(rc, 2, "exit status for %r" % (args,))
        check(want in err, "message for %r" % (args,), err)
        eq(out, "", "no stdout for %r" % (args,))
    rc, out, err = ocigate("migrate", "--help")
    eq(rc, 0, "--help")
    check("usage: ocigate migrate" in out, "help", out)


run(globals())
