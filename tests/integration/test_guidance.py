#!/usr/bin/python3
"""Enforce-mode guidance is something a user can apply as is: the denial's first line states
the problem and the fix, and the YAML after it parses back (PyYAML, over libyaml) into a
HelmRepository, an OCIRepository and a HelmRelease that keep the user's fields and are
valid under the real Flux CRD schemas (python3-jsonschema), when the shared data is present."""
import json

import yaml

from ogtest import DATA_DIR, Server, Skip, check, crd_validate, eq, run

MEDIA_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
validate = crd_validate


def review(spec, name="bitnami", ns="apps", labels=None):
    obj = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
           "metadata": {"name": name, "namespace": ns, "labels": labels or {}}, "spec": spec}
    return json.dumps({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "g-1", "kind": {"group": "source.toolkit.fluxcd.io", "version": "v1",
                                           "kind": "HelmRepository"},
                    "name": name, "namespace": ns, "operation": "CREATE",
                    "userInfo": {"username": "alice"}, "object": obj}}).encode()


def denial(server, spec, **kw):
    r = server.review("/validate", review(spec, **kw))
    eq(r.status, 200, "HTTP status")
    resp = r.json()["response"]
    eq(resp["allowed"], False, "allowed")
    eq(resp["status"]["code"], 403, "status.code")
    eq(resp["status"]["reason"], "Forbidden", "status.reason")
    return resp["status"]["message"]


def documents(message):
    first, _, rest = message.partition("\n")
    docs = [d for d in yaml.safe_load_all(rest) if d]
    return first, {d["kind"]: d for d in docs}


def test_known_migration_guidance():
    spec = {"url": "https://charts.bitnami.com/bitnami", "interval": "10m", "timeout": "2m",
            "provider": "generic", "passCredentials": True, "suspend": False,
            "secretRef": {"name": "bitnami-creds"}, "certSecretRef": {"name": "ca"}}
    labels = {"team": "payments", "kustomize.toolkit.fluxcd.io/name": "infra"}
    with Server(mode="enforce") as s:
        first, docs = documents(denial(s, spec, labels=labels))
    check("https://charts.bitnami.com/bitnami" in first, "first line names the url", first)
    check("Fix:" in first and "oci://registry-1.docker.io/bitnamicharts" in first,
          "first line states the fix", first)
    eq(sorted(docs), ["HelmRelease", "HelmRepository", "OCIRepository"], "documents")

    repo = docs["HelmRepository"]
    eq(repo["metadata"], {"name": "bitnami", "namespace": "apps", "labels": labels}, "metadata")
    want = dict(spec, type="oci", url="oci://registry-1.docker.io/bitnamicharts")
    del want["passCredentials"]
    eq(repo["spec"], want, "fixed HelmRepository spec")

    oci = docs["OCIRepository"]
    eq(oci["spec"]["url"], "oci://registry-1.docker.io/bitnamicharts/<chart>", "OCIRepository url")
    eq(oci["spec"]["layerSelector"], {"mediaType": MEDIA_TYPE, "operation": "copy"}, "layerSelector")
    check("semver" in oci["spec"]["ref"], "ref.semver", oci["spec"])
    eq(oci["spec"]["secretRef"], {"name": "bitnami-creds"}, "secretRef carried over")
    eq(oci["spec"]["certSecretRef"], {"name": "ca"}, "certSecretRef carried over")
    eq(oci["spec"]["interval"], "10m", "interval carried over")

    rel = docs["HelmRelease"]
    eq(rel["spec"]["chartRef"], {"kind": "OCIRepository", "name": oci["metadata"]["name"],
                                 "namespace": "apps"}, "chartRef")
    validated = [validate(d) for d in docs.values()]
    if not all(validated):
        raise Skip("Flux CRDs absent under %s: structure checked, schemas not" % DATA_DIR)


def test_oci_url_guidance():
    with Server(mode="enforce") as s:
        first, docs = documents(denial(s, {"url": "oci://ghcr.io/org/charts/", "type": "default"}))
    check("spec.type" in first, "first line says what is wrong", first)
    eq(docs["HelmRepository"]["spec"], {"url": "oci://ghcr.io/org/charts", "type": "oci"}, "spec")
    for d in docs.values():
        validate(d)


def test_unfixable_guidance():
    with Server(mode="enforce") as s:
        first, docs = documents(denial(s, {"url": "https://example.com/charts", "type": "oci"}))
    check("not an oci:// url" in first, "first line", first)
    # The one applicable fix without knowing the registry: an HTTP repository again.
    eq(docs["HelmRepository"]["spec"], {"url": "https://example.com/charts"}, "spec")
    validate(docs["HelmRepository"])


if __name__ == "__main__":
    run(globals())
