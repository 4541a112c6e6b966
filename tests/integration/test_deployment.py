"""manifests/deployment.yaml and the Dockerfile: structure, consistency with the webhook
configurations, and the container arguments actually accepted by the real binary."""

import json
import os
import re
import tempfile

import yaml

import ogtest
from ogtest import Server, check, eq

SRC = ogtest.SOURCE_DIR


def docs(name):
    with open(os.path.join(SRC, "manifests", name)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def by_kind(items):
    out = {}
    for d in items:
        out.setdefault(d["kind"], []).append(d)
    return out


def configmap_file():
    """The ConfigMap's config.yaml written to a temporary file, or None without the manifest."""
    path = os.path.join(SRC, "manifests", "configmap.yaml")
    if not os.path.exists(path):
        return None
    (cm,) = docs("configmap.yaml")
    f = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    f.write(cm["data"]["config.yaml"])
    f.close()
    return f.name


def serve_with(args, mount, config_mount=None):
    """Starts the binary with container `args` (after `serve`), test certificates standing in
    for the files under `mount` and the ConfigMap's file for the one under `config_mount`, and
    checks it serves and stops cleanly."""
    c = ogtest.certs()
    cfg = configmap_file() if config_mount else None
    fixed = []
    for a in args:
        a = a.replace(mount + "/tls.crt", c.cert).replace(mount + "/tls.key", c.key)
        if cfg:
            a = a.replace(config_mount + "/config.yaml", cfg)
        if a.startswith("--listen"):
            continue
        fixed.append(a)
    check(c.cert in " ".join(fixed) and c.key in " ".join(fixed), "args name the TLS files", args)
    # Server() puts its own --listen/--tls-*/--drain first; later flags win, so drop ours.
    fixed = [a for a in fixed if not a.startswith("--tls-") and not a.startswith("--drain")]
    try:
        with Server(*fixed) as s:
            eq(s.request("GET", "/healthz").status, 200, "healthz with the container args")
            eq(s.request("GET", "/readyz").status, 200, "readyz with the container args")
            if cfg:
                line = s.wait_log("listening")
                eq(line.get("config"), cfg, "serving with the ConfigMap's file")
    finally:
        if cfg:
            os.unlink(cfg)


def test_deployment_objects():
    k = by_kind(docs("deployment.yaml"))
    eq(sorted(k), ["Deployment", "Namespace", "PodDisruptionBudget", "Service", "ServiceAccount"],
       "kinds")
    eq(k["Namespace"][0]["metadata"]["name"], "ocigate-system", "namespace")
    for kind in ("ServiceAccount", "Deployment", "Service", "PodDisruptionBudget"):
        eq(k[kind][0]["metadata"]["namespace"], "ocigate-system", kind + " namespace")
    dep = k["Deployment"][0]
    pod = dep["spec"]["template"]
    labels = pod["metadata"]["labels"]
    eq(dep["spec"]["selector"]["matchLabels"], labels, "Deployment selector")
    eq(k["Service"][0]["spec"]["selector"], labels, "Service selector")
    eq(k["PodDisruptionBudget"][0]["spec"]["selector"]["matchLabels"], labels, "PDB selector")
    check(dep["spec"]["replicas"] >= 2, "at least two replicas for the PDB")
    eq(pod["spec"]["serviceAccountName"], k["ServiceAccount"][0]["metadata"]["name"], "SA")

    psc = pod["spec"]["securityContext"]
    check(psc["runAsNonRoot"] and psc["runAsUser"] != 0, "pod runs as non-root", psc)
    (ctr,) = pod["spec"]["containers"]
    sc = ctr["securityContext"]
    check(sc["readOnlyRootFilesystem"], "read-only root filesystem")
    check(sc["allowPrivilegeEscalation"] is False, "no privilege escalation")
    eq(sc["capabilities"]["drop"], ["ALL"], "capabilities dropped")

    (port,) = ctr["ports"]
    eq(port["containerPort"], 8443, "container port")
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = ctr[probe]["httpGet"]
        eq(get["scheme"], "HTTPS", probe + " scheme")
        eq(get["path"], path, probe + " path")
        check(get["port"] in (port["name"], port["containerPort"]), probe + " port", get)

    (svc_port,) = k["Service"][0]["spec"]["ports"]
    eq(svc_port["port"], 443, "Service port")
    check(svc_port["targetPort"] in (port["name"], 8443), "Service targetPort", svc_port)

    mounts = {m["name"]: m for m in ctr["volumeMounts"]}
    vols = {v["name"]: v for v in pod["spec"]["volumes"]}
    eq(vols["tls"]["secret"]["secretName"], "ocigate-tls", "TLS secret")
    tls_dir = mounts["tls"]["mountPath"]
    check(mounts["tls"]["readOnly"], "TLS mount read-only")
    args = ctr["args"]
    eq(args[0], "serve", "subcommand")
    check("--tls-cert=%s/tls.crt" % tls_dir in args and "--tls-key=%s/tls.key" % tls_dir in args,
          "certificate paths in the secret mount", args)
    check("--listen=:8443" in args, "listens on the container port", args)
    cfg_dir = mounts["config"]["mountPath"]
    eq(vols["config"]["configMap"]["name"], "ocigate-config", "config volume")
    check("--config=%s/config.yaml" % cfg_dir in args, "--config names the ConfigMap file", args)
    serve_with(args[1:], tls_dir, cfg_dir)


def test_service_matches_webhook_configurations():
    svc = by_kind(docs("deployment.yaml"))["Service"][0]
    for name in ("webhook-mutating.yaml", "webhook-validating.yaml"):
        path = os.path.join(SRC, "manifests", name)
        if not os.path.exists(path):
            continue
        for hook in docs(name)[0]["webhooks"]:
            ref = hook["clientConfig"]["service"]
            eq(ref["name"], svc["metadata"]["name"], name + " service name")
            eq(ref["namespace"], svc["metadata"]["namespace"], name + " service namespace")
            eq(ref.get("port", 443), svc["spec"]["ports"][0]["port"], name + " service port")


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
    serve_with(flags, "/etc/ocigate/tls")


if __name__ == "__main__":
    ogtest.run(globals())
