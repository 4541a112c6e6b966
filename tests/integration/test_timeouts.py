#!/usr/bin/python3
"""index.budget against webhookTimeout (README, Timeouts): `ocigate config check` warns at one
millisecond over budget + margin == timeout and not at it (exit 0 both: the file is valid), and
`ocigate serve` logs the warning at start and on a reload that brings the contradiction."""

import glob
import os
import re
import signal
import subprocess
import tempfile

import ogtest
from ogtest import Server, check, eq

MARGIN_MS = 500  # OG_CONFIG_TIMEOUT_MARGIN_MS
MSG = "settings contradict each other"


def config_check(text):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    try:
        p = subprocess.run([ogtest.BIN, "config", "check", f.name], capture_output=True,
                           text=True, timeout=20)
    finally:
        os.unlink(f.name)
    eq(p.returncode, 0, "config check exit status: " + p.stderr)
    return p, f.name


def test_config_check_warns_past_the_boundary():
    for timeout_s in (3, 30):
        at = timeout_s * 1000 - MARGIN_MS
        if at > 25000:
            at = 25000  # index.budget's own maximum; 25s + margin fits 30s
        p, _ = config_check("webhookTimeout: %ds\nindex: {budget: %dms}\n" % (timeout_s, at))
        eq(p.stderr, "", "no warning at budget + margin <= timeout (%ds)" % timeout_s)
    p, name = config_check("index: {budget: %dms}\n" % (3000 - MARGIN_MS + 1))
    eq(p.stderr.count("\n"), 1, "one warning line")
    check(p.stderr.startswith("%s: warning: index.budget: 2501ms plus 500ms " % name),
          "the warning names the file and the key", p.stderr)
    check("webhookTimeout 3s" in p.stderr, "and the timeout", p.stderr)
    check("  budget: 2501ms\n" in p.stdout, "the effective config is still printed", p.stdout)
    # Without index analysis the budget is never spent: nothing to warn about.
    p, _ = config_check("index: {budget: 2501ms, enabled: false}\n")
    eq(p.stderr, "", "no warning with index analysis off")
    # The default file is consistent.
    d = subprocess.run([ogtest.BIN, "config", "default"], capture_output=True, text=True)
    p, _ = config_check(d.stdout)
    eq(p.stderr, "", "no warning for the default file")


def warnings(srv):
    return [l for l in srv.log_lines() if l.get("msg") == MSG]


def test_serve_warns_at_start_and_on_reload():
    # At start, from a flag.
    with Server("--index-budget", "2501ms", mode="mutate") as srv:
        w = warnings(srv)
        eq(len(w), 1, "one warning at start")
        eq(w[0]["level"], "warn", "level")
        check(w[0]["warning"].startswith("index.budget: 2501ms plus 500ms"), "text", w[0])
    with Server("--index-budget", "2500ms", mode="mutate") as srv:
        eq(warnings(srv), [], "no warning at the boundary")
    # On reload, from the file; and the flag --webhook-timeout settles it.
    with tempfile.TemporaryDirectory(prefix="ogtest-timeouts-") as d:
        path = os.path.join(d, "config.yaml")
        with open(path, "w") as f:
            f.write("index: {budget: 1s}\n")
        with Server("--config", path, mode=None) as srv:
            eq(warnings(srv), [], "no warning at start")
            with open(path, "w") as f:
                f.write("index: {budget: 2600ms}\n")
            srv.send_signal(signal.SIGHUP)
            line = srv.wait_log(MSG)
            eq(line.get("file"), path, "names the file")
            check("2600ms" in line.get("warning", ""), "the reloaded budget", line)
            srv.wait_log("config reloaded")
        with Server("--config", path, "--webhook-timeout", "4s", mode=None) as srv:
            eq(warnings(srv), [], "--webhook-timeout 4s: 2600ms + 500ms fits")


def test_manifests_state_the_default_timeout():
    """The shipped webhook configurations time out at the default webhookTimeout, which the
    default budget fits."""
    d = subprocess.run([ogtest.BIN, "config", "default"], capture_output=True, text=True)
    default_s = int(re.search(r"^webhookTimeout: (\d+)s$", d.stdout, re.M).group(1))
    budget_ms = int(re.search(r"^  budget: (\d+)ms$", d.stdout, re.M).group(1))
    check(budget_ms + MARGIN_MS <= default_s * 1000, "the default budget fits", budget_ms)
    found = 0
    for path in glob.glob(os.path.join(ogtest.SOURCE_DIR, "manifests", "**", "*.yaml"),
                          recursive=True):
        with open(path) as f:
            text = f.read()
        if "WebhookConfiguration" not in text:
            continue  # a Deployment's probes have their own timeoutSeconds
        for m in re.finditer(r"^\s*timeoutSeconds: (\d+)\s*$", text, re.M):
            eq(int(m.group(1)), default_s, "timeoutSeconds in " + path)
            found += 1
    check(found >= 2, "both webhook configurations state timeoutSeconds", found)


if __name__ == "__main__":
    ogtest.run(globals())
