"""What `ocigate serve` echoes must come back exactly: a uid that cannot (a NUL, bytes that are
not UTF-8, a lone surrogate) or that is too long is the client's error (400, saying why),
never a 500 nor another uid; a huge spec.url is answered (without a fix), not a 500; and
warnings name a repository's index by the url the fetcher really uses (no `//index.yaml`, the
query after the path)."""

import json

import ogtest
from ogtest import Server, check, eq
from test_index_admission import ALLOW, IndexServer, helmrepo, review, wait_warm


def raw_review(uid_json):
    """An AdmissionReview whose uid is the JSON text `uid_json` (bytes, quotes included)."""
    return (b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":' +
            uid_json + b',"kind":{"group":"","version":"v1","kind":"ConfigMap"},'
            b'"operation":"CREATE","namespace":"default","name":"x","object":{"kind":"x"}}}')


def test_uids_that_cannot_be_echoed_are_400():
    with Server("--max-body", str(4 << 20)) as s:
        cases = [(b'"' + b"u" * (1 << 20) + b'"', "/request/uid is longer than 256 bytes"),
                 (b'"' + b"u" * 257 + b'"', "/request/uid is longer than 256 bytes"),
                 (b'"a\\u0000b"', "/request/uid must be UTF-8 text"),
                 (b'"a\xffb"', "/request/uid must be UTF-8 text"),
                 (b'"\\ud800"', "/request/uid must be UTF-8 text"),
                 (b'"x\\udc00\\ud800"', "/request/uid must be UTF-8 text")]
        for uid, msg in cases:
            r = s.review("/mutate", raw_review(uid))
            eq(r.status, 400, "status for uid %r" % uid[:20])
            body = r.json()
            check(msg in body.get("error", ""), "error says " + msg, body)
        # What can be echoed comes back byte for byte, escapes decoded.
        for uid, want in ((b'"' + b"u" * 256 + b'"', "u" * 256),
                          (b'"caf\\u00e9-\xc3\xa9-\\ud83d\\ude00"', "caf\u00e9-\u00e9-\U0001F600")):
            r = s.review("/mutate", raw_review(uid))
            eq(r.status, 200, "status for uid %r" % uid[:20])
            eq(r.json()["response"]["uid"], want, "uid echoed")
        eq(s.request("GET", "/healthz").status, 200, "healthz")


def test_log_lines_with_line_separators_in_names():
    # U+2028, U+2029 and U+0085 are valid unescaped in JSON: a log line holding them is still
    # one line, and the lines after it are read too.
    with Server() as s:
        for i, name in enumerate(("a\u2028b", "c\u2029d", "e\u0085f")):
            body = raw_review(b'"sep-%d"' % i).replace(b'"name":"x"', b'"name":' + json.dumps(
                name, ensure_ascii=False).encode())
            eq(s.review("/mutate", body).status, 200, "status for %r" % name)
        eq(s.request("GET", "/healthz").status, 200, "healthz")
        lines = s.stop()
        names = [l.get("name") for l in lines if l.get("msg") == "admission"]
        eq(names, ["a\u2028b", "c\u2029d", "e\u0085f"], "names logged")


def test_warning_names_the_index_url_fetched():
    with IndexServer() as ix, Server(*ALLOW, mode="mutate") as s:
        for url, index in ((ix.base + "/status/404/", ix.base + "/status/404/index.yaml"),
                           (ix.base + "/status/404?sig=a%2Fb",
                            ix.base + "/status/404/index.yaml?sig=a%2Fb")):
            resp, _, line = wait_warm(s, url)
            eq(line.get("index"), "unknown", "verdict for " + url)
            warnings = resp.get("warnings", [])
            want = "ocigate: %s could not be analyzed (HTTP 404); allowed" % index
            check(want in warnings, "warning names " + index, warnings)
            check(not any("//index.yaml" in w for w in warnings), "no //index.yaml", warnings)


def test_long_url_is_answered_not_500():
    # A fix would carry the 2 MiB url in the patch and an annotation, past the response cap.
    for mode in ("mutate", "audit", "enforce"):
        with Server("--max-body", str(4 << 20), mode=mode) as s:
            for url in ("oci://r.example/" + "a" * (2 << 20), "oci://r.example/" + "a" * (2 << 20) + "/"):
                r = s.review("/mutate", review(helmrepo(url), "long-1"))
                eq(r.status, 200, "%s: status for a %d-byte url" % (mode, len(url)))
                resp = r.json()["response"]
                eq(resp["uid"], "long-1", "uid")
                eq(resp["allowed"], mode == "audit", mode + ": allowed")
                check("patch" not in resp, mode + ": no patch", resp.keys())
                check(len(r.body) < 1 << 20, mode + ": response under 1 MiB", len(r.body))


if __name__ == "__main__":
    ogtest.run(globals())
