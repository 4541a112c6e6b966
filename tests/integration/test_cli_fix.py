#!/usr/bin/python3
"""`ocigate fix` over a copy of the fixture GitOps tree (tests/data/gitops/): byte-for-byte
expected files, every other file untouched, idempotence, the --dry-run diff (golden, and
`patch` applies it), file modes, symlinks, refusals that leave a file alone, exit codes."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from ogtest import BIN, SOURCE_DIR, Skip, check, eq, run  # noqa: E402

TREE = os.path.join(SOURCE_DIR, "tests", "data", "gitops")
EXPECTED = os.path.join(SOURCE_DIR, "tests", "data", "gitops-expected")
CONFIG = os.path.join(SOURCE_DIR, "tests", "data", "gitops-ocigate.yaml")
FIXED = ["bitnami.yaml", "crlf.yaml", "flow.yaml", "list.yaml", "multi.yaml"]


def ocigate(*args, cwd, stdin=None):
    p = subprocess.run([BIN, *args], cwd=cwd, input=stdin, capture_output=True, timeout=60)
    return p.returncode, p.stdout, p.stderr.decode()


def snapshot(root):
    """Every file under root: relative path -> (bytes, mode); symlinks as their target."""
    out = {}
    for d, dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(d, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                out[rel] = ("link", os.readlink(path))
            else:
                with open(path, "rb") as f:
                    out[rel] = (f.read(), os.stat(path).st_mode)
    return out


def read(path):
    with open(path, "rb") as f:
        return f.read()


def copy_tree(tmp):
    dst = os.path.join(tmp, "gitops")
    shutil.copytree(TREE, dst, symlinks=True)
    return dst


def test_fix_byte_for_byte_and_idempotent():
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_tree(tmp)
        os.chmod(os.path.join(root, "infrastructure", "sources", "flow.yaml"), 0o600)
        before = snapshot(root)
        rc, out, err = ocigate("fix", "--config", CONFIG, ".", cwd=root)
        # The broken file (2) and the unfixable oci-type-http-url (1) remain: 2 wins.
        eq(rc, 2, "exit status")
        eq(out, b"", "nothing on stdout")
        check("summary", err.endswith("ocigate fix: 6 objects fixed in 5 files, 1 finding left, "
                                      "1 error\n"), err)
        after = snapshot(root)
        eq(sorted(after), sorted(before), "no file added or removed (no temporary left)")
        for rel, (data, mode) in before.items():
            name = os.path.basename(rel)
            if rel.startswith("infrastructure/sources/") and name in FIXED:
                eq(after[rel][0], read(os.path.join(EXPECTED, "fixed", name)), rel)
                eq(after[rel][1], mode, "mode of " + rel)
            else:
                eq(after[rel], (data, mode), "untouched " + rel)
        eq(after["infrastructure/sources/flow.yaml"][1] & 0o777, 0o600, "mode 0600 kept")
        # A second run changes nothing.
        rc2, out2, err2 = ocigate("fix", "--config", CONFIG, ".", cwd=root)
        eq(rc2, 2, "second exit status")
        check("second summary", "0 objects fixed in 0 files" in err2, err2)
        eq(snapshot(root), after, "second fix changes nothing")
        # check agrees: only the unfixable finding and the broken file are left.
        rc3, out3, err3 = ocigate("check", "--config", CONFIG, ".", cwd=root)
        eq(rc3, 2, "check after fix")
        eq(out3.decode().count(": error: ["), 1, "one finding left")


def test_dry_run_diff():
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_tree(tmp)
        before = snapshot(root)
        rc, out, err = ocigate("fix", "--dry-run", "--config", CONFIG, ".", cwd=root)
        eq(rc, 2, "exit status")
        eq(out, read(os.path.join(EXPECTED, "fix.diff")), "diff")
        eq(snapshot(root), before, "--dry-run writes nothing")
        check("would fix", "6 objects would be fixed in 5 files" in err, err)
        if shutil.which("patch") is None:
            raise Skip("no patch(1)")
        p = subprocess.run(["patch", "-p0", "--quiet", "--binary"], cwd=root, input=out,
                           capture_output=True, timeout=60)
        eq(p.returncode, 0, "patch applies: " + p.stderr.decode() + p.stdout.decode())
        for name in FIXED:
            eq(read(os.path.join(root, "infrastructure", "sources", name)),
               read(os.path.join(EXPECTED, "fixed", name)), "patched " + name)


def test_dry_run_matches_gnu_diff():
    if shutil.which("diff") is None:
        raise Skip("no diff(1)")
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_tree(tmp)
        rc, out, err = ocigate("fix", "--dry-run", "--config", CONFIG, "infrastructure", cwd=root)
        eq(rc, 1, "the unfixable finding is left")
        want = b""
        for name in FIXED:
            rel = "infrastructure/sources/" + name
            p = subprocess.run(["diff", "-u", "--label", rel, "--label", rel,
                                os.path.join(root, rel), os.path.join(EXPECTED, "fixed", name)],
                               capture_output=True, timeout=60)
            want += p.stdout
        eq(out, want, "the same text as diff -u")


def test_exit_zero_when_everything_fixed_and_stdin():
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_tree(tmp)
        src = os.path.join(root, "infrastructure", "sources")
        rc, out, err = ocigate("fix", "--config", CONFIG, "bitnami.yaml", "flow.yaml", cwd=src)
        eq(rc, 0, "everything found was fixed: " + err)
        rc, out, err = ocigate("fix", "--config", CONFIG, "-", cwd=src,
                               stdin=read(os.path.join(TREE, "infrastructure", "sources",
                                                       "crlf.yaml")))
        eq(rc, 0, "stdin")
        eq(out, read(os.path.join(EXPECTED, "fixed", "crlf.yaml")), "stdin: the fixed stream")


def test_symlinked_file_is_written_through():
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_tree(tmp)
        src = os.path.join(root, "infrastructure", "sources")
        os.makedirs(os.path.join(tmp, "elsewhere"))
        os.rename(os.path.join(src, "flow.yaml"), os.path.join(tmp, "elsewhere", "flow.yaml"))
        os.symlink(os.path.join(tmp, "elsewhere", "flow.yaml"), os.path.join(src, "flow.yaml"))
        rc, out, err = ocigate("fix", "--config", CONFIG, "flow.yaml", cwd=src)
        eq(rc, 0, "exit status: " + err)
        check("still a symlink", os.path.islink(os.path.join(src, "flow.yaml")))
        eq(read(os.path.join(tmp, "elsewhere", "flow.yaml")),
           read(os.path.join(EXPECTED, "fixed", "flow.yaml")), "the target is fixed")
        eq(sorted(os.listdir(os.path.join(tmp, "elsewhere"))), ["flow.yaml"], "no temporary")


def test_refused_edit_leaves_the_whole_file():
    # The second object's url is tagged: the editor refuses it, so the first (fixable) object
    # in the same file is not fixed either; the file is never half-fixed.
    text = (b"apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\n"
            b"metadata: {name: a, namespace: x}\nspec: {url: https://charts.bitnami.com/bitnami}\n"
            b"---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\n"
            b"metadata: {name: b, namespace: x}\n"
            b"spec:\n  url: !!str https://charts.bitnami.com/bitnami\n")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "r.yaml")
        with open(path, "wb") as f:
            f.write(text)
        rc, out, err = ocigate("fix", "r.yaml", cwd=tmp)
        eq(rc, 2, "exit status")
        check("says why, with the position", "r.yaml:6:1: error: HelmRepository x/b cannot be "
              "fixed in place: " in err, err)
        eq(err.count(": error:"), 1, "one error: the refusal, nothing tried after it")
        eq(read(path), text, "untouched")
        eq(os.listdir(tmp), ["r.yaml"], "no temporary")


def test_broken_and_unreadable_are_never_touched():
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_tree(tmp)
        path = os.path.join(root, "apps", "sandbox", "broken.yaml")
        before = read(path)
        rc, out, err = ocigate("fix", "apps", cwd=root)
        eq(rc, 2, "exit status")
        check("position", "apps/sandbox/broken.yaml:7:11: error: invalid YAML" in err, err)
        eq(read(path), before, "broken file untouched")
        big = os.path.join(root, "infrastructure/sources/list.yaml")
        with open(big, "ab") as f:
            f.write(b"# padding\n" * 100)
        before = read(big)
        rc, out, err = ocigate("fix", "--max-bytes", "1Ki", big, cwd=root)
        eq(rc, 2, "over the cap")
        check("cap message", "larger than --max-bytes 1Ki" in err, err)
        eq(read(big), before, "capped file untouched")


def test_usage():
    for args, want in [((), "no PATH given"), (("--format", "json", "."), "unknown option"),
                       (("--bogus",), "unknown option '--bogus'")]:
        rc, out, err = ocigate("fix", *args, cwd=TREE)
        eq(rc, 2, "exit status for %r" % (args,))
        check("message for %r" % (args,), want in err, err)
    rc, out, err = ocigate("fix", "--help", cwd=TREE)
    eq(rc, 0, "--help")
    check("help", b"usage: ocigate fix" in out, out)


run(globals())
