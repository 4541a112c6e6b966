"""manifests/: the webhook configurations as the apiserver requires them, and every overlay
rendered with `kubectl kustomize` (each mode component, with and without the ServiceMonitor)
and each rendered object checked: base objects (kube.check_base), webhook configurations, the
CA path (cert-manager: Issuers, Certificates and the inject annotation; self-signed: the Secret
and caBundle made by scripts/self-signed-overlay.sh, served by the real binary and verified
the way the apiserver verifies it). Rendering is skipped with a message when kubectl is
absent; the checks of the files themselves still run."""

import os
import shutil
import subprocess
import tempfile

import yaml

import kube
import ogtest
from ogtest import Skip, check, eq

SRC = ogtest.SOURCE_DIR
INJECT = "cert-manager.io/inject-ca-from"
COMPONENT_KINDS = {"mutating": "MutatingWebhookConfiguration",
                   "validating": "ValidatingWebhookConfiguration"}
# (overlay, components): each overlay with each mode, both modes, and the ServiceMonitor.
VARIANTS = [
    ("cert-manager", ["mutating"]),
    ("cert-manager", ["validating"]),
    ("cert-manager", ["mutating", "validating", "servicemonitor"]),
    ("self-signed", ["mutating"]),
    ("self-signed", ["validating", "servicemonitor"]),
    ("self-signed", ["validating", "mutating"]),
]


def check_timeout(objs, hook, what):
    """timeoutSeconds leaves at least half a second (TLS, the queue, the patch) after the
    longest wait for an index verdict, index.budget of the ConfigMap's config.yaml; and equals
    its webhookTimeout where the config has that key."""
    cm = kube.one(objs, "ConfigMap", "ocigate-config")
    cfg = yaml.safe_load(cm["data"]["config.yaml"])
    budget = kube.go_seconds(cfg["index"]["budget"])
    check(hook["timeoutSeconds"] >= budget + 0.5, what + ": timeoutSeconds vs index.budget",
          hook["timeoutSeconds"], budget)
    if "webhookTimeout" in cfg:
        eq(hook["timeoutSeconds"], kube.go_seconds(cfg["webhookTimeout"]),
           what + ": timeoutSeconds is the config's webhookTimeout")


def test_webhook_components():
    """The component files (no kubectl): fields, and no CA of their own (the overlay's)."""
    for comp, kind in COMPONENT_KINDS.items():
        objs = kube.kustomization_files("components/" + comp)
        eq([o["kind"] for o in objs], [kind], comp + " component objects")
        hook = kube.check_webhook(objs[0], kind)
        check("caBundle" not in hook["clientConfig"], comp + ": the overlay adds the caBundle")
        check(INJECT not in objs[0]["metadata"].get("annotations", {}),
              comp + ": the overlay adds the inject annotation")


def test_timeout_covers_index_budget():
    """The component files against the base's ConfigMap (check_timeout)."""
    base = kube.kustomization_files("base")
    for comp, kind in COMPONENT_KINDS.items():
        (hook,) = kube.one(kube.kustomization_files("components/" + comp), kind)["webhooks"]
        check_timeout(base, hook, comp)


def test_rules_cover_flux_versions():
    served = kube.flux_served_versions()
    if served is None:
        raise Skip("shared data ../shared/data/flux is absent")
    for comp, kind in COMPONENT_KINDS.items():
        (hook,) = kube.one(kube.kustomization_files("components/" + comp), kind)["webhooks"]
        (rule,) = hook["rules"]
        eq(set(rule["apiVersions"]), served, comp + ": rules name every served version")


def test_generated_files_ignored():
    """The self-signed overlay's generated/ (a private key) can never be committed."""
    if not os.path.isdir(os.path.join(SRC, ".git")) and not os.path.isfile(
            os.path.join(SRC, ".git")):
        raise Skip("not a git checkout")
    if shutil.which("git") is None:
        raise Skip("git is not installed")
    for f in ("tls.key", "tls.crt", "ca.crt", "ca.key"):
        p = subprocess.run(["git", "-C", SRC, "check-ignore", "-q",
                            "manifests/overlays/self-signed/generated/" + f])
        eq(p.returncode, 0, "generated/%s is git-ignored" % f)


class Tree:
    """A copy of manifests/ in a temporary directory (without any generated/), so that the
    overlays' components can be changed and certificates made without touching the source."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ogtest-manifests-")
        self.root = os.path.join(self.tmp.name, "manifests")
        shutil.copytree(os.path.join(SRC, "manifests"), self.root,
                        ignore=shutil.ignore_patterns("generated"))
        self.generated = None

    def overlay(self, name):
        return os.path.join(self.root, "overlays", name)

    def make_certs(self):
        """scripts/self-signed-overlay.sh into the copy's self-signed overlay, once."""
        if self.generated is None:
            if not ogtest.BIN:
                raise Skip("OCIGATE_BIN is not set: no certificates for the self-signed overlay")
            gen = os.path.join(self.overlay("self-signed"), "generated")
            p = subprocess.run([os.path.join(SRC, "scripts", "self-signed-overlay.sh"),
                                ogtest.BIN, gen], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=60)
            check(p.returncode == 0, "self-signed-overlay.sh", p.stderr)
            eq(sorted(f for f in os.listdir(gen) if not f.startswith(".")),
               ["ca.crt", "ca.key", "tls.crt", "tls.key"], "generated files (ca.key for --renew)")
            # A second run keeps what is there (a new CA would break the applied caBundle).
            with open(os.path.join(gen, "tls.key"), "rb") as f:
                key = f.read()
            p = subprocess.run([os.path.join(SRC, "scripts", "self-signed-overlay.sh"),
                                ogtest.BIN, gen], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=60)
            eq(p.returncode, 1, "a second self-signed-overlay.sh refuses")
            check(b"exists" in p.stderr, "and says why", p.stderr)
            with open(os.path.join(gen, "tls.key"), "rb") as f:
                eq(f.read(), key, "the key is kept")
            self.generated = gen
        return self.generated

    def set_components(self, overlay, comps):
        path = os.path.join(self.overlay(overlay), "kustomization.yaml")
        with open(path) as f:
            k = yaml.safe_load(f)
        k["components"] = ["../../components/" + c for c in comps]
        with open(path, "w") as f:
            yaml.safe_dump(k, f)


def committed_components(overlay):
    with open(os.path.join(SRC, "manifests", "overlays", overlay, "kustomization.yaml")) as f:
        return yaml.safe_load(f)["components"]


def check_webhooks(objs, comps):
    """The webhook configurations the components added, pointing at the Service."""
    kinds = {COMPONENT_KINDS[c] for c in comps if c in COMPONENT_KINDS}
    eq({o["kind"] for o in objs if o["kind"].endswith("WebhookConfiguration")}, kinds,
       "webhook configurations")
    svc = kube.one(objs, "Service", "ocigate")
    ns = kube.one(objs, "Namespace")["metadata"]["name"]
    hooks = []
    for kind in sorted(kinds):
        doc = kube.one(objs, kind)
        hook = kube.check_webhook(doc, kind)
        ref = hook["clientConfig"]["service"]
        eq((ref["name"], ref["namespace"], ref.get("port", 443)),
           (svc["metadata"]["name"], svc["metadata"]["namespace"], svc["spec"]["ports"][0]["port"]),
           kind + " calls the Service")
        check_timeout(objs, hook, kind)
        sel = hook["namespaceSelector"]["matchExpressions"]
        check(any(e["operator"] == "NotIn" and ns in e["values"] for e in sel),
              "the Namespace object's name is exempt", sel)
        hooks.append((doc, hook))
    # Namespace first, webhook configurations last: `kubectl apply -k` creates the namespace,
    # the Service and the pods before any admission is routed to them.
    eq(objs[0]["kind"], "Namespace", "first object")
    n = len(hooks)
    check(all(o["kind"].endswith("WebhookConfiguration") for o in objs[len(objs) - n:]),
          "webhook configurations come last")
    return hooks


def check_servicemonitor(objs, comps):
    dep, ctr = kube.container(objs)
    ann = dep["spec"]["template"]["metadata"]["annotations"]
    if "servicemonitor" not in comps:
        check(not [o for o in objs if o["kind"] == "ServiceMonitor"], "no ServiceMonitor")
        eq(ann["prometheus.io/scrape"], "true", "scrape annotation")
        return
    eq(ann["prometheus.io/scrape"], "false", "scraped once: by the ServiceMonitor")
    sm = kube.one(objs, "ServiceMonitor")
    ns = kube.one(objs, "Namespace")["metadata"]["name"]
    eq(sm["apiVersion"], "monitoring.coreos.com/v1", "ServiceMonitor apiVersion")
    eq(sm["spec"]["namespaceSelector"]["matchNames"], [ns], "ServiceMonitor namespaces")
    svcs = [o for o in objs if o["kind"] == "Service" and
            kube.match_labels(sm["spec"]["selector"]["matchLabels"], o["metadata"]["labels"])]
    eq([s["metadata"]["name"] for s in svcs], ["ocigate-metrics"], "ServiceMonitor selects")
    (svc,) = svcs
    check(kube.match_labels(svc["spec"]["selector"], dep["spec"]["template"]["metadata"]["labels"]),
          "the metrics Service selects the pods")
    (ep,) = sm["spec"]["endpoints"]
    eq((ep["scheme"], ep["path"]), ("http", "/metrics"), "ServiceMonitor endpoint")
    (port,) = [p for p in svc["spec"]["ports"] if p["name"] == ep["port"]]
    eq(kube.port_of(ctr, port["targetPort"]), kube.port_of(ctr, "metrics"),
       "the ServiceMonitor's port reaches the metrics listener")


def check_cert_manager(objs, hooks):
    ns = kube.one(objs, "Namespace")["metadata"]["name"]
    dep, _ = kube.container(objs)
    tls_secret = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}["tls"]
    tls_secret = tls_secret["secret"]["secretName"]
    check(not [o for o in objs if o["kind"] == "Secret"], "cert-manager makes the Secret")
    certs = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Certificate"}
    issuers = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Issuer"}
    for o in list(certs.values()) + list(issuers.values()):
        eq(o["apiVersion"], "cert-manager.io/v1", o["kind"] + " apiVersion")
    (serving,) = [c for c in certs.values() if c["spec"]["secretName"] == tls_secret]
    eq(tls_secret, "ocigate-tls", "serving secret")
    for doc, hook in hooks:
        check("caBundle" not in hook["clientConfig"], "cainjector fills the caBundle")
        eq(doc["metadata"]["annotations"][INJECT], "%s/%s" % (ns, serving["metadata"]["name"]),
           doc["kind"] + " inject-ca-from names the serving Certificate")
    svc = kube.one(objs, "Service", "ocigate")
    name = "%s.%s.svc" % (svc["metadata"]["name"], ns)
    eq(serving["spec"]["dnsNames"], [name, name + ".cluster.local"], "serving DNS names")
    check(not serving["spec"].get("isCA"), "serving certificate is no CA")
    check("server auth" in serving["spec"]["usages"], "server auth usage")
    # serving <- CA Issuer <- CA Certificate <- self-signed Issuer
    ca_issuer = issuers[serving["spec"]["issuerRef"]["name"]]
    eq(serving["spec"]["issuerRef"]["kind"], "Issuer", "serving issuer kind")
    (ca_cert,) = [c for c in certs.values()
                  if c["spec"]["secretName"] == ca_issuer["spec"]["ca"]["secretName"]]
    check(ca_cert["spec"]["isCA"] is True, "the CA Certificate is a CA")
    # A renewed CA that kept its key still verifies the serving certificate the pods have.
    eq(ca_cert["spec"]["privateKey"]["rotationPolicy"], "Never", "the CA keeps its key")
    root = issuers[ca_cert["spec"]["issuerRef"]["name"]]
    eq(root["spec"], {"selfSigned": {}}, "the CA is self-signed")
    eq(len(certs), 2, "Certificates")
    eq(len(issuers), 2, "Issuers")
    for c in certs.values():
        d = kube.go_seconds(c["spec"]["duration"])
        check(0 < kube.go_seconds(c["spec"]["renewBefore"]) < d, "renewBefore < duration", c)


def check_self_signed(objs, hooks, generated, tmp):
    check(not [o for o in objs if o["kind"] in ("Certificate", "Issuer")], "no cert-manager")
    secret = kube.one(objs, "Secret", "ocigate-tls")
    eq(secret["type"], "kubernetes.io/tls", "Secret type")
    eq(sorted(secret["data"]), ["ca.crt", "tls.crt", "tls.key"], "Secret keys (no CA key)")
    files = {}
    for k in ("ca.crt", "tls.crt", "tls.key"):
        with open(os.path.join(generated, k), "rb") as f:
            eq(kube.b64(secret["data"][k]), f.read(), "Secret " + k)
        files[k] = os.path.join(tmp, k)
        with open(files[k], "wb") as f:
            f.write(kube.b64(secret["data"][k]))
    for doc, hook in hooks:
        check(INJECT not in doc["metadata"].get("annotations", {}), "no inject annotation")
        eq(kube.b64(hook["clientConfig"]["caBundle"]), kube.b64(secret["data"]["ca.crt"]),
           doc["kind"] + " caBundle is the Secret's ca.crt")
    # The rendered pod serves the rendered Secret, and a client that trusts only the caBundle
    # and dials the Service's name (as the apiserver does) accepts it.
    ns = kube.one(objs, "Namespace")["metadata"]["name"]
    svc = kube.one(objs, "Service", "ocigate")
    dep, ctr = kube.container(objs)
    mounts = {m["name"]: m["mountPath"] for m in ctr["volumeMounts"]}
    cfg = kube.configmap_file(objs, "ocigate-config")
    try:
        kube.serve_with(ctr["args"][1:], mounts["tls"], cfg, mounts["config"],
                        tls=(files["tls.crt"], files["tls.key"], files["ca.crt"],
                             "%s.%s.svc" % (svc["metadata"]["name"], ns)))
    finally:
        os.unlink(cfg)


def test_committed_overlays_default_to_mutating():
    for overlay in ("cert-manager", "self-signed"):
        eq(committed_components(overlay), ["../../components/mutating"],
           overlay + " components")


def test_cert_manager_renders_as_committed():
    """The cert-manager overlay straight from the source tree."""
    objs = kube.render(os.path.join(SRC, "manifests", "overlays", "cert-manager"))
    kube.check_base(objs)
    check_cert_manager(objs, check_webhooks(objs, ["mutating"]))
    check_servicemonitor(objs, [])


def test_self_signed_without_certificates_fails():
    """Rendering the self-signed overlay before the script ran fails (no Secret without key)."""
    kube.need_kubectl()
    tree = Tree()
    p = subprocess.run([kube.KUBECTL, "kustomize", tree.overlay("self-signed")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    check(p.returncode != 0 and b"generated" in p.stderr, "fails naming generated/", p.stderr)


def test_overlay_variants():
    kube.need_kubectl()
    tree = Tree()
    skipped = []
    for overlay, comps in VARIANTS:
        what = "%s with %s" % (overlay, ", ".join(comps))
        try:
            tree.set_components(overlay, comps)
            if overlay == "self-signed":
                generated = tree.make_certs()
            objs = kube.render(tree.overlay(overlay))
            kube.check_base(objs)
            hooks = check_webhooks(objs, comps)
            check_servicemonitor(objs, comps)
            if overlay == "cert-manager":
                check_cert_manager(objs, hooks)
            else:
                check_self_signed(objs, hooks, generated, tree.tmp.name)
        except Skip as e:
            skipped.append("%s: %s" % (what, e))
            continue
        except AssertionError as e:
            raise AssertionError("%s: %s" % (what, e))
        print("  rendered and checked: %s (%d objects)" % (what, len(objs)), flush=True)
    try:
        kube.check_args_known(kube.container(objs)[1]["args"])
    except Skip as e:
        skipped.append("container flags: %s" % e)
    if skipped:
        raise Skip("; ".join(skipped))


if __name__ == "__main__":
    ogtest.run(globals())
