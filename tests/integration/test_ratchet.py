#!/usr/bin/python3
"""The ratchet through the real daemon: the server-side-apply UPDATE that a kube-apiserver sent
(../shared/data/k8s/captured/) replayed in enforce mode with its spec unchanged (allowed,
`decision: ratcheted`, audit mode's warnings, said in the admission log line) and changed
(denied as a CREATE is); `ratchet: false` from the file, a namespace rule and the flag; mutate
still patches; and an unchanged UPDATE left to the index does not wait for the fetch."""

import copy
import json
import os
import sys
import tempfile
import time

import ogtest
from ogtest import Server, check, eq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_index_admission import ALLOW, IndexServer, index_name  # noqa: E402

SSA = "helmrepository-v1-update-ssa.json"
SSA_DRY_RUN = "helmrepository-v1-update-ssa-dryrun.json"
INDEX_OFF = "index: {enabled: false}\n"


def post(s, body):
    """Posts an AdmissionReview (bytes or dict); returns (response, its admission log line)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    uid = json.loads(raw)["request"]["uid"]
    r = s.review("/mutate?timeout=5s", raw)
    eq(r.status, 200, "status")
    resp = r.json()["response"]
    eq(resp["uid"], uid, "uid echoed")
    line = None
    deadline = time.monotonic() + 5
    while line is None and time.monotonic() < deadline:
        line = next((l for l in s.log_lines() if l.get("uid") == uid and l.get("msg") == "admission"),
                    None)
        if line is None:
            time.sleep(0.02)
    check(line is not None, "an admission log line for " + uid)
    return resp, line


def check_ratcheted(resp, line, what):
    check(resp["allowed"], what + ": allowed", resp)
    check("patch" not in resp, what + ": no patch", resp)
    ann = resp.get("auditAnnotations", {})
    eq(ann.get("decision"), "ratcheted", what + ": decision annotation")
    eq(ann.get("rule"), "known-migration", what + ": rule annotation")
    eq(ann.get("mode"), "enforce", what + ": mode annotation")
    for k in ann:
        check("/" not in k and 0 < len(k) <= 63, what + ": audit annotation key", k)
    warnings = resp.get("warnings", [])
    check(any("moved its charts to OCI" in w for w in warnings), what + ": the problem", warnings)
    check(any("registry-1.docker.io/bitnamicharts" in w for w in warnings), what + ": the fix",
          warnings)
    check(any("unchanged (ratchet)" in w for w in warnings), what + ": why it is allowed",
          warnings)
    eq(line.get("allowed"), True, what + ": log allowed")
    eq(line.get("decision"), "ratcheted", what + ": the log line says so")
    eq(line.get("rule"), "known-migration", what + ": log rule")


def check_denied(resp, line, what):
    eq(resp["allowed"], False, what + ": denied")
    eq(resp["status"]["code"], 403, what + ": code")
    eq(resp.get("auditAnnotations", {}).get("decision"), "denied", what + ": decision")
    check("decision" not in line, what + ": not ratcheted in the log", line)


def test_captured_ssa_update_unchanged_is_ratcheted():
    """Flux's server-side apply of an unchanged Bitnami HelmRepository (spec.interval changed,
    url and type as they were), exactly as the apiserver sent it."""
    raw = ogtest.captured(SSA)
    dry = ogtest.captured(SSA_DRY_RUN)
    with Server(mode="enforce") as s:
        resp, line = post(s, raw)
        check_ratcheted(resp, line, "captured SSA update")
        resp, line = post(s, dry)
        check_ratcheted(resp, line, "captured SSA dry run")
        # The same object as a CREATE (no oldObject) is denied as before.
        rv = json.loads(raw)
        rv["request"]["operation"] = "CREATE"
        rv["request"]["oldObject"] = None
        rv["request"]["uid"] = "create-1"
        resp, line = post(s, rv)
        check_denied(resp, line, "the same object created")


def test_captured_ssa_update_changed_is_denied():
    rv = json.loads(ogtest.captured(SSA))
    cases = []
    # The url changes to a repository that moved (the old one was fine): denied.
    moved_to = copy.deepcopy(rv)
    moved_to["request"]["oldObject"]["spec"]["url"] = "https://charts.example.com/stable"
    cases.append(("url changed to a moved repository", moved_to))
    # The url changes to an OCI registry without type: oci: denied.
    oci = copy.deepcopy(rv)
    oci["request"]["object"]["spec"]["url"] = "oci://registry-1.docker.io/bitnamicharts"
    cases.append(("url changed to oci:// without type", oci))
    # The type changes (it was oci, which Flux rejects with this url; now it is missing).
    typed = copy.deepcopy(rv)
    typed["request"]["oldObject"]["spec"]["type"] = "oci"
    cases.append(("type changed", typed))
    with Server(mode="enforce") as s:
        for i, (what, body) in enumerate(cases):
            body["request"]["uid"] = "changed-%d" % i
            resp, line = post(s, body)
            check_denied(resp, line, what)


def test_ratchet_off_and_per_namespace():
    raw = ogtest.captured(SSA)
    with Server("--ratchet", "false", mode="enforce") as s:
        resp, line = post(s, raw)
        check_denied(resp, line, "--ratchet false")
    # The captured object lives in kube-system.
    files = [("mode: enforce\nratchet: true\nnamespaces:\n"
              "  - {match: \"kube-*\", mode: enforce, ratchet: false}\n",
              check_denied, "namespace rule ratchet: false"),
             ("mode: audit\nratchet: false\nnamespaces:\n"
              "  - {match: kube-system, mode: enforce, ratchet: true}\n",
              check_ratcheted, "namespace rule ratchet: true")]
    with tempfile.TemporaryDirectory(prefix="ogtest-ratchet-") as d:
        path = os.path.join(d, "config.yaml")
        for text, checker, what in files:
            with open(path, "w") as f:
                f.write(text + INDEX_OFF)
            with Server("--config", path, mode=None) as s:
                resp, line = post(s, raw)
                checker(resp, line, what)


def test_mutate_still_patches_an_unchanged_update():
    raw = ogtest.captured(SSA)
    with Server(mode="mutate") as s:
        resp, line = post(s, raw)
        check(resp["allowed"] and "patch" in resp, "patched", resp)
        eq(resp["auditAnnotations"].get("decision"), "mutated", "decision")
        check("decision" not in line, "not ratcheted", line)


def update(url, old_url, uid):
    obj = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
           "metadata": {"name": "repo", "namespace": "apps"},
           "spec": {"interval": "1h", "url": url}}
    old = copy.deepcopy(obj)
    old["spec"]["url"] = old_url
    old["spec"]["interval"] = "2h"
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": uid, "kind": {"group": "source.toolkit.fluxcd.io",
                                             "version": "v1", "kind": "HelmRepository"},
                        "name": "repo", "namespace": "apps", "operation": "UPDATE",
                        "userInfo": {"username": "flux", "groups": []},
                        "object": obj, "oldObject": old, "dryRun": False}}


def test_unchanged_update_does_not_wait_for_the_index():
    """Enforce mode allows an unchanged UPDATE whatever the index says, so it takes the verdict
    at hand (PENDING on a cold cache) instead of waiting up to the budget; the fetch it starts
    fills the cache, and the next one is ratcheted with the index's warnings. A changed UPDATE
    still waits, and is denied once the index says the repository moved."""
    budget = 2.0
    with IndexServer() as idx, \
            Server(*ALLOW, "--index-budget", "%gs" % budget, "--webhook-timeout", "3s",
                   "--index-on-unknown", "deny", mode="enforce") as s:
        url = "%s/delay/1000/%s" % (idx.base, index_name())
        t0 = time.monotonic()
        resp, line = post(s, update(url, url, "cold-same"))
        took = time.monotonic() - t0
        check(took < 0.9, "an unchanged UPDATE answers without waiting for the 1 s fetch", took)
        check(resp["allowed"], "allowed (onUnknown deny, ratcheted)", resp)
        eq(line.get("index"), "pending", "verdict at hand: pending")
        eq(line.get("decision"), "ratcheted", "ratcheted past onUnknown deny")
        # The fetch it started lands in the cache.
        deadline = time.monotonic() + 10
        while True:
            resp, line = post(s, update(url, url, "warm-%f" % time.monotonic()))
            if line.get("index") != "pending" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        eq(line.get("index"), "oci", "the cache holds the verdict")
        eq(line.get("rule"), "index-points-to-oci", "rule")
        eq(line.get("decision"), "ratcheted", "ratcheted")
        check(any("unchanged (ratchet)" in w for w in resp.get("warnings", [])), "warnings",
              resp)
        # A changed UPDATE of a cold url waits for the index and is denied.
        other = "%s/delay/300/%s?n=2" % (idx.base, index_name())
        t0 = time.monotonic()
        resp, line = post(s, update(other, "https://charts.example.com/x", "cold-changed"))
        took = time.monotonic() - t0
        check(took >= 0.25, "a changed UPDATE waits for the fetch", took)
        eq(line.get("index"), "oci", "with the verdict")
        eq(resp["allowed"], False, "denied")


if __name__ == "__main__":
    ogtest.run(globals())
