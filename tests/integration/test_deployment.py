"""manifests/base and the Dockerfile: structure, consistency with the webhook configurations,
and the container arguments actually accepted by the real binary. Reads the files as they are
(no kubectl); test_manifests.py renders the overlays."""

import json
import os
import re

import kube
import ogtest
from ogtest import check, eq

SRC = ogtest.SOURCE_DIR


def test_base_objects():
    objs = kube.kustomization_files("base")
    eq(sorted(kube.by_kind(objs)), ["ConfigMap", "Deployment", "Namespace", "NetworkPolicy",
                                    "PodDisruptionBudget", "Service", "ServiceAccount"], "kinds")
    args, tls_dir, cfg_dir = kube.check_base(objs)
    kube.check_args_known(args)
    cfg = kube.configmap_file(objs, "ocigate-config")
    try:
        kube.serve_with(args[1:], tls_dir, cfg, cfg_dir)
    finally:
        os.unlink(cfg)


def test_service_matches_webhook_configurations():
    svc = kube.one(kube.kustomization_files("base"), "Service", "ocigate")
    for kind, comp in (("MutatingWebhookConfiguration", "mutating"),
                       ("ValidatingWebhookConfiguration", "validating")):
        doc = kube.one(kube.kustomization_files("components/" + comp), kind)
        for hook in doc["webhooks"]:
            ref = hook["clientConfig"]["service"]
            eq(ref["name"], svc["metadata"]["name"], comp + " service name")
            eq(ref["namespace"], svc["metadata"]["namespace"], comp + " service namespace")
            eq(ref.get("port", 443), svc["spec"]["ports"][0]["port"], comp + " service port")


def test_dockerfile():
    with open(os.path.join(SRC, "Dockerfile")) as f:
        text = f.read()
    stages = re.findall(r"^FROM\s+(\S+)", text, re.M)
    eq(stages, ["debian:bookworm-slim", "debian:bookworm-slim"], "two bookworm-slim stages")
    runtime = text[text.rindex("\nFROM "):]
    check("-dev" not in runtime, "no -dev packages in the runtime stage")
    check(re.search(r"^USER 65532", runtime, re.M), "runs as 65532")
    m = re.search(r"^ENTRYPOINT (\[.*\])$", runtime, re.M)
    eq(json.loads(m.group(1)), ["/usr/local/bin/ocigate"], "ENTRYPOINT")
    m = re.search(r"^CMD (\[.*?\])$", runtime.replace("\\\n", ""), re.M | re.S)
    cmd = json.loads(m.group(1))
    eq(cmd[0], "serve", "CMD runs serve")
    # The CMD's flags are accepted by the binary (its --tls files stand in for the test ones).
    flags = []
    it = iter(cmd[1:])
    for a in it:
        flags.append(a + "=" + next(it) if not a.startswith("--") or "=" not in a else a)
    kube.serve_with(flags, "/etc/ocigate/tls")


if __name__ == "__main__":
    ogtest.run(globals())
