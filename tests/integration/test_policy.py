"""The policy through the real daemon, per mode: response shape, JSON patches that apply
(python3-jsonpatch) and give a spec valid under the Flux HelmRepository CRD schema
(python3-jsonschema), idempotence, denials, warnings and audit annotations."""

import base64
import copy
import json
import os
import re

import ogtest
from ogtest import Server, Skip, check, eq

try:
    import jsonpatch
except ImportError:  # pragma: no cover - scripts/deps.sh installs it
    jsonpatch = None
try:
    import jsonschema
    import yaml
except ImportError:  # pragma: no cover
    jsonschema = None

CRD = os.path.join(ogtest.DATA_DIR, "flux", "source.toolkit.fluxcd.io_helmrepositories.yaml")
BITNAMI_OCI = "oci://registry-1.docker.io/bitnamicharts"

_SCHEMA = None


def spec_schema():
    """The openAPIV3Schema of spec in the served HelmRepository version, or None."""
    global _SCHEMA
    if _SCHEMA is None:
        if jsonschema is None or not os.path.exists(CRD):
            return None
        with open(CRD) as f:
            crd = yaml.safe_load(f)
        served = [v for v in crd["spec"]["versions"] if v.get("served") and v.get("storage")]
        _SCHEMA = served[0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return _SCHEMA


def helmrepo(url, rtype=None, name="repo", ns="flux-system", version="v1", extra=None):
    spec = {"interval": "1h", "url": url, "provider": "generic"}
    if rtype is not None:
        spec["type"] = rtype
    spec.update(extra or {})
    return {"apiVersion": "source.toolkit.fluxcd.io/" + version, "kind": "HelmRepository",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def review(obj, uid="uid-1", op="CREATE", dry_run=False, kind=None, old=None,
           api="admission.k8s.io/v1"):
    group, _, version = (obj or old)["apiVersion"].rpartition("/")
    k = kind or {"group": group, "version": version, "kind": (obj or old)["kind"]}
    meta = (obj or old)["metadata"]
    return {"apiVersion": api, "kind": "AdmissionReview",
            "request": {"uid": uid, "kind": k, "resource": {"group": group, "version": version,
                                                          "resource": "helmrepositories"},
                        "name": meta["name"], "namespace": meta["namespace"], "operation": op,
                        "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
                        "object": obj, "oldObject": old, "dryRun": dry_run}}


# name -> (object, the OCI url a fix sets, or None when not fixable)
FIXABLE = {
    "oci-url-no-type": (helmrepo("oci://ghcr.io/stefanprodan/charts"),
                        "oci://ghcr.io/stefanprodan/charts"),
    "oci-url-default-type": (helmrepo("oci://ghcr.io/stefanprodan/charts", "default"),
                             "oci://ghcr.io/stefanprodan/charts"),
    "bitnami": (helmrepo("https://charts.bitnami.com/bitnami"), BITNAMI_OCI),
    "bitnami-slash": (helmrepo("https://charts.bitnami.com/bitnami/"), BITNAMI_OCI),
    "bitnami-upper-host": (helmrepo("https://CHARTS.Bitnami.COM/bitnami"), BITNAMI_OCI),
    "bitnami-v1beta2": (helmrepo("https://charts.bitnami.com/bitnami", version="v1beta2"),
                        BITNAMI_OCI),
}
UNFIXABLE = {
    "oci-type-https-url": helmrepo("https://charts.example.com/stable", "oci"),
}
HEALTHY = {
    "oci-typed-oci-url": helmrepo("oci://ghcr.io/stefanprodan/charts", "oci"),
}


def check_shape(rv_in, out):
    """Echoed apiVersion/kind/uid; patchType exactly when patch; warnings and annotations."""
    eq(out["apiVersion"], rv_in["apiVersion"], "apiVersion echoed")
    eq(out["kind"], "AdmissionReview", "kind")
    resp = out["response"]
    eq(resp["uid"], rv_in["request"]["uid"], "uid echoed")
    check(isinstance(resp["allowed"], bool), "allowed is a bool", resp)
    eq("patch" in resp, "patchType" in resp, "patchType iff patch")
    if "patch" in resp:
        eq(resp["patchType"], "JSONPatch", "patchType")
    for w in resp.get("warnings", []):
        check(len(w) <= 120, "warning <= 120 characters", w)
        check(not re.search(r"[\x00-\x1f\x7f]", w), "no control characters in a warning", w)
    for k, v in resp.get("auditAnnotations", {}).items():
        check("/" not in k and 0 < len(k) <= 63, "audit annotation key", k)
        check(isinstance(v, str), "audit annotation value is a string", v)
    if not resp["allowed"]:
        st = resp.get("status", {})
        eq(st.get("code"), 403, "status.code of a denial")
        check(isinstance(st.get("message"), str) and st["message"], "denial message", st)
    return resp


def apply_patch(obj, resp):
    if jsonpatch is None:
        raise Skip("python3-jsonpatch is not installed")
    ops = json.loads(base64.b64decode(resp["patch"]))
    check(isinstance(ops, list) and ops, "the patch is a non-empty JSON array", ops)
    return jsonpatch.apply_patch(copy.deepcopy(obj), ops)


def check_spec_valid(spec):
    schema = spec_schema()
    if schema is None:
        return False
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(spec), key=str)
    eq([e.message for e in errors], [], "spec validates against the HelmRepository CRD")
    return True


def post(s, path, rv):
    r = s.review(path, rv)
    eq(r.status, 200, "status of %s: %r" % (path, r))
    return check_shape(rv, r.json())


def test_mutate_mode_patches_fixable():
    validated = 0
    with Server(mode="mutate") as s:
        for name, (obj, want_url) in FIXABLE.items():
            rv = review(obj, uid="m-" + name)
            resp = post(s, "/mutate", rv)
            check(resp["allowed"], name + " allowed", resp)
            check("patch" in resp, name + " patched", resp)
            fixed = apply_patch(obj, resp)
            eq(fixed["spec"]["type"], "oci", name + " spec.type")
            eq(fixed["spec"]["url"], want_url, name + " spec.url")
            eq(fixed["metadata"], obj["metadata"], name + " metadata untouched")
            validated += check_spec_valid(fixed["spec"])
            check(resp.get("warnings"), name + " warns about the mutation", resp)
            # Idempotent: the patched object needs no further patch.
            again = post(s, "/mutate", review(fixed, uid="m2-" + name))
            check(again["allowed"] and "patch" not in again, name + " re-submit", again)
            check(not again.get("warnings"), name + " re-submit has no warning", again)
            # /validate never patches.
            v = post(s, "/validate", review(obj, uid="v-" + name))
            check("patch" not in v, name + " /validate patch", v)
            # dryRun gets the same answer.
            d = post(s, "/mutate", review(obj, uid="m-" + name, dry_run=True))
            eq(d, resp, name + " dryRun answer")
    if validated == 0:
        print("note: CRD schema check skipped (%s or python3-jsonschema absent)" % CRD)


def test_mutate_mode_denies_unfixable():
    with Server(mode="mutate") as s:
        for name, obj in UNFIXABLE.items():
            for path in ("/mutate", "/validate"):
                resp = post(s, path, review(obj, uid="u-" + name))
                eq(resp["allowed"], False, name + " denied on " + path)
                check("patch" not in resp, name + " no patch", resp)
                check("oci" in resp["status"]["message"], name + " message gives guidance",
                      resp["status"]["message"][:300])


def test_enforce_mode_denies():
    with Server(mode="enforce") as s:
        for name, obj in list(UNFIXABLE.items()) + [(n, o) for n, (o, _) in FIXABLE.items()]:
            for path in ("/mutate", "/validate"):
                resp = post(s, path, review(obj, uid="e-" + name))
                eq(resp["allowed"], False, name + " denied in enforce mode on " + path)
                check("patch" not in resp, name + " no patch in enforce mode", resp)
        # The message of a fixable repository names the OCI url to use.
        obj, want = FIXABLE["bitnami"]
        resp = post(s, "/mutate", review(obj))
        check(want in resp["status"]["message"], "enforce message names " + want,
              resp["status"]["message"][:400])


def test_audit_mode_warns_and_annotates():
    with Server(mode="audit") as s:
        for name, obj in list(UNFIXABLE.items()) + [(n, o) for n, (o, _) in FIXABLE.items()]:
            for path in ("/mutate", "/validate"):
                resp = post(s, path, review(obj, uid="a-" + name))
                eq(resp["allowed"], True, name + " allowed in audit mode")
                check("patch" not in resp, name + " no patch in audit mode", resp)
                check(resp.get("warnings"), name + " warnings in audit mode", resp)
                check(resp.get("auditAnnotations"), name + " audit annotations", resp)


def test_off_mode_allows_everything():
    with Server(mode="off") as s:
        for name, obj in list(UNFIXABLE.items()) + [(n, o) for n, (o, _) in FIXABLE.items()]:
            resp = post(s, "/mutate", review(obj, uid="o-" + name))
            check(resp["allowed"] and "patch" not in resp and not resp.get("warnings"),
                  name + " untouched in off mode", resp)


def test_untouched_in_every_mode():
    """DELETE, other kinds and healthy repositories: allowed, no patch, no warning."""
    bad = helmrepo("oci://ghcr.io/stefanprodan/charts")
    configmap = {"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": "cm", "namespace": "default"},
                 "spec": {"url": "oci://ghcr.io/x", "type": "default"}}
    kustomization = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                     "metadata": {"name": "k", "namespace": "flux-system"},
                     "spec": {"url": "https://charts.bitnami.com/bitnami"}}
    cases = [("delete", review(None, op="DELETE", old=bad)),
             ("configmap", review(configmap)),
             ("kustomization", review(kustomization))]
    cases += [("healthy-" + n, review(o)) for n, o in HEALTHY.items()]
    for mode in ("mutate", "enforce", "audit"):
        with Server(mode=mode) as s:
            for name, rv in cases:
                for path in ("/mutate", "/validate"):
                    resp = post(s, path, rv)
                    check(resp["allowed"] and "patch" not in resp and not resp.get("warnings"),
                          "%s untouched in %s mode on %s" % (name, mode, path), resp)


def test_captured_bitnami_create_and_v1beta1():
    for name in ("helmrepository-v1-create.json", "helmrepository-v1beta1-create.json"):
        raw = ogtest.captured(name)
        rv = json.loads(raw)
        with Server(mode="mutate") as s:
            r = s.review("/mutate?timeout=5s", raw)
            eq(r.status, 200, name)
            resp = check_shape(rv, r.json())
            fixed = apply_patch(rv["request"]["object"], resp)
            eq(fixed["spec"]["type"], "oci", name + " spec.type")
            eq(fixed["spec"]["url"], BITNAMI_OCI, name + " spec.url")
            check_spec_valid(fixed["spec"])


if __name__ == "__main__":
    ogtest.run(globals())
