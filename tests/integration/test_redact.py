#!/usr/bin/python3
"""Credentials in a HelmRepository's spec.url (its userinfo) never leave the real daemon in
what is stored or shown to people: the answer's warnings, audit annotations and denial message
(its ready-to-apply YAML included) and the daemon's log (at debug level) show the url redacted
("user:xxxxx@", a lone user name as "xxxxx@"), in audit, enforce and mutate mode, for a static
rule, for the index path (the fetcher refuses such urls) and for a url that does not parse.
What the apiserver applies keeps them: the mutate patch sets the url with its credentials."""
import base64
import json
import os
import tempfile

from ogtest import Server, check, eq, run

# (spec, the secret that must never be shown, what the url is shown as, or None)
CASES = [
    # rule oci-url-http-type: fixable, the patch carries the url (with its credentials)
    ({"url": "oci://robot:S3CRET-A@registry.example.com/charts/", "type": "default"},
     "S3CRET-A", "oci://robot:xxxxx@registry.example.com/charts"),
    # rule oci-url-http-type with a token as the user name
    ({"url": "oci://TOKEN-B@registry.example.com/charts"}, "TOKEN-B",
     "oci://xxxxx@registry.example.com/charts"),
    # rule oci-type-http-url: the denial's YAML keeps the user's url, redacted
    ({"url": "https://u:S3CRET-C@charts.example.com/x", "type": "oci"}, "S3CRET-C",
     "https://u:xxxxx@charts.example.com/x"),
    # the index path: the url is normalized, cached, handed to the fetcher (which refuses it)
    ({"url": "https://ghp_TOKEN-D@127.0.0.1:9/charts"}, "ghp_TOKEN-D",
     "https://xxxxx@127.0.0.1:9/charts"),
    # percent-encoded '@' and ':' in the password
    ({"url": "https://u:p%40S3CRET%3AE@127.0.0.1:9/charts"}, "S3CRET", None),
    # a password with a raw '/': the url does not parse (the fetcher says so, quoting it)
    ({"url": "https://u:S3CRET/F@127.0.0.1:9/charts"}, "S3CRET", None),
]


def review(spec, uid):
    obj = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
           "metadata": {"name": "repo", "namespace": "apps"}, "spec": dict(spec, interval="1h")}
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": uid, "kind": {"group": "source.toolkit.fluxcd.io", "version": "v1",
                                             "kind": "HelmRepository"},
                        "name": "repo", "namespace": "apps", "operation": "CREATE",
                        "userInfo": {"username": "alice"}, "object": obj}}


def shown_parts(resp):
    """Everything of an answer that is stored or shown: warnings, annotations, status."""
    return {"warnings": resp.get("warnings", []),
            "auditAnnotations": resp.get("auditAnnotations", {}),
            "status": resp.get("status", {})}


def run_mode(mode, path):
    """Sends every case to `path` of a daemon in `mode`; returns the answers and the log."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        # Index failures deny in enforce mode, so that the index path builds a message too.
        f.write("index:\n  onUnknown: deny\n  budget: 2s\n")
        config = f.name
    try:
        with Server("--config", config, "--log-level", "debug", mode=mode) as s:
            answers = []
            for i, (spec, secret, shown) in enumerate(CASES):
                r = s.review(path, review(spec, "u-%s-%d" % (mode, i)))
                eq(r.status, 200, "HTTP status")
                answers.append(r.json()["response"])
            s.stop()
            log = s.log_text()
    finally:
        os.unlink(config)
    return answers, log


def check_answers(mode, answers, log):
    for (spec, secret, shown), resp in zip(CASES, answers):
        what = "%s %s" % (mode, spec["url"])
        parts = json.dumps(shown_parts(resp))
        check(secret not in parts, what + ": the secret is not shown", parts)
        check(shown_parts(resp)["warnings"] or not resp["allowed"],
              what + ": the rule or the index spoke", resp)
        if shown is not None:
            check(shown in parts, what + ": the url is shown redacted", parts)
    check("S3CRET" not in log and "TOKEN" not in log, mode + ": no secret in the log", log)
    check("xxxxx@" in log, mode + ": the log shows the urls redacted", log)


def test_audit_mode():
    answers, log = run_mode("audit", "/validate")
    check_answers("audit", answers, log)
    for resp in answers:
        eq(resp["allowed"], True, "audit allows")
        check("patch" not in resp, "audit never patches", resp)


def test_enforce_mode():
    answers, log = run_mode("enforce", "/validate")
    check_answers("enforce", answers, log)
    for (spec, secret, shown), resp in zip(CASES, answers):
        eq(resp["allowed"], False, "enforce denies " + spec["url"])
        msg = resp["status"]["message"]
        if "\n\n" in msg:
            # The YAML shows the url redacted and says where the credentials belong.
            check("# spec.url holds credentials, shown as xxxxx: move them to the Secret that "
                  "spec.secretRef names\n" in msg, "the YAML says where they belong", msg)


def test_mutate_mode_keeps_them_in_the_patch():
    answers, log = run_mode("mutate", "/mutate")
    check_answers("mutate", answers, log)
    patched = 0
    for (spec, secret, shown), resp in zip(CASES, answers):
        if "patch" not in resp:
            continue
        ops = json.loads(base64.b64decode(resp["patch"]))
        urls = [op["value"] for op in ops if op["path"] == "/spec/url"]
        # The patch is applied, never shown: a url it sets keeps its credentials, or Flux
        # fails (one already an OCI base is left as it is).
        want = spec["url"].rstrip("/")
        eq(urls, [want] if want != spec["url"] else [], "patched url of " + spec["url"])
        check(all(secret in u for u in urls), "the patch keeps the credentials", urls)
        patched += len(urls)
    eq(patched, 1, "the url the fix changes was patched")


if __name__ == "__main__":
    run(globals())
