/*
 * cmd_fix.c - `ocigate fix`: rewrites, in place, the HelmRepository objects that the policy
 * finds fixable (the same findings `ocigate check` lists), with the byte-precise YAML editor
 * (og_yamledit_fix_helmrepo()): every other byte of the file stays as it was.
 *
 * A file is written only when all of it parsed, every edit could be made in place, and the
 * edited bytes parse again with no fixable finding left; it is written to a temporary file
 * in the same directory (mode kept), synced and renamed over the original, so a failure never
 * leaves a half-written file. `--dry-run` prints the unified diff instead. Standard input
 * ("-") gives the fixed stream (or the diff) on standard output.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "gate.h"
#include "ocigate/buf.h"
#include "ocigate/yamledit.h"

/* The counts of a run, for the summary and the exit status. */
struct tally {
    size_t fixed;  /* objects fixed (or that would be, with --dry-run) */
    size_t left;   /* findings that enforce would deny and that were not fixed */
    size_t errors; /* inputs that could not be read, parsed, fixed or written */
    size_t files;  /* files changed */
};

static void report_error(struct tally *t, const char *name, unsigned line, unsigned column,
                         const char *msg)
{
    t->errors++;
    cli_report_error(name, line, column, msg);
}

/*
 * Checks the edited bytes before they replace anything: they must parse, with as many
 * objects as before, and no object may still have a fixable finding.
 */
static bool verify(const struct cli_options *o, const char *name, const struct og_buf *fixed,
                   size_t objects, char *msg, size_t size)
{
    struct og_manifest_limits limits = {0};
    struct og_manifest *m = NULL;
    struct og_diag diag;
    bool ok = true;

    og_diag_clear(&diag);
    limits.max_bytes = fixed->len;
    if (og_manifest_parse(fixed->ptr, fixed->len, name, &limits, &m, &diag) != OG_OK) {
        snprintf(msg, size, "the fixed text would not parse (%u:%u: %s)", diag.line, diag.column,
                 diag.msg);
        return false;
    }
    if (og_manifest_object_count(m) != objects) {
        snprintf(msg, size, "the fixed text would hold another number of objects");
        ok = false;
    }
    for (size_t i = 0; ok && i < og_manifest_object_count(m); i++) {
        struct og_decision d;

        if (cli_eval(o, og_manifest_object(m, i), &d) != OG_OK) {
            snprintf(msg, size, "out of memory");
            ok = false;
            break;
        }
        if (d.suggested_url != NULL) {
            snprintf(msg, size, "the fixed object at line %u would still be reported",
                     og_manifest_object(m, i)->root->start.line);
            ok = false;
        }
        og_decision_cleanup(&d);
    }
    og_manifest_free(m);
    return ok;
}

/* Fixes one input (or says why not). OG_ENOMEM and output errors only; the rest is tallied. */
static enum og_err fix_input(const struct cli_options *o, const struct cli_input *in,
                             struct tally *t, struct og_buf *diff)
{
    const char *name = cli_input_name(in->path);
    struct cli_errors errors = {0};
    struct og_manifest *m = NULL;
    struct og_yamledit e;
    struct og_buf fixed, shown;
    char *data = NULL, msg[512];
    size_t len = 0, fixed_here = 0, left_here = 0;
    bool is_stdin = strcmp(in->path, "-") == 0, refused = false;
    unsigned mode = 0;
    enum og_err rc;

    og_yamledit_init(&e);
    og_buf_init(&fixed, (size_t)o->max_bytes * 2 + 4096);
    og_buf_init(&shown, SIZE_MAX / 2);
    rc = cli_load(o, in, &data, &len, &mode, &m, &errors);
    for (size_t i = 0; i < errors.n; i++)
        report_error(t, errors.items[i].file, errors.items[i].line, errors.items[i].column,
                     errors.items[i].message);
    if (rc != OG_OK || m == NULL)
        goto out;
    for (size_t i = 0; rc == OG_OK && i < og_manifest_object_count(m); i++) {
        const struct og_manifest_object *mo = og_manifest_object(m, i);
        struct og_decision d;

        rc = cli_eval(o, mo, &d);
        if (rc != OG_OK)
            break;
        if (d.suggested_url != NULL) {
            rc = og_yamledit_fix_helmrepo(&e, data, len, mo, og_str_of(d.suggested_url));
            if (rc == OG_EINVAL) {
                snprintf(msg, sizeof(msg), "HelmRepository %s/%s cannot be fixed in place: %s",
                         mo->ns.ptr != NULL ? mo->ns.ptr : "",
                         mo->name.ptr != NULL ? mo->name.ptr : "", e.msg);
                report_error(t, name, mo->root->start.line, mo->root->start.column, msg);
                refused = true;
                rc = OG_OK;
            } else if (rc == OG_OK) {
                /* The file gets the url as it is; the line shows it without credentials. */
                fixed_here++;
                cli_eprintf("%s:%u:%u: %s HelmRepository %s/%s: spec.type: oci, spec.url: %s", name,
                            mo->root->start.line, mo->root->start.column,
                            o->dry_run ? "would fix" : "fixing",
                            mo->ns.ptr != NULL ? mo->ns.ptr : "",
                            mo->name.ptr != NULL ? mo->name.ptr : "",
                            cli_url_shown(d.suggested_url, &shown));
            }
        } else if (cli_decision_fails(&d)) {
            left_here++;
            cli_eprintf("%s:%u:%u: error: [%s] %s %s/%s: %s (no automatic fix)", name,
                        mo->root->start.line, mo->root->start.column, og_rule_name(d.rule),
                        mo->kind.ptr, mo->ns.ptr != NULL ? mo->ns.ptr : "",
                        mo->name.ptr != NULL ? mo->name.ptr : "",
                        d.problem != NULL ? d.problem : "");
        }
        og_decision_cleanup(&d);
    }
    if (rc != OG_OK)
        goto out;
    t->left += left_here;
    /* A file is fixed whole or not at all. */
    if (refused || e.n == 0) {
        if (refused)
            t->left += fixed_here;
        if (is_stdin && !o->dry_run && fwrite(data, 1, len, stdout) != len)
            rc = OG_EIO;
        goto out;
    }
    rc = og_yamledit_apply(&e, data, len, &fixed);
    if (rc == OG_EINVAL || rc == OG_ETOOBIG) {
        snprintf(msg, sizeof(msg), "cannot apply the fix: %s", rc == OG_EINVAL ? e.msg : "too big");
        report_error(t, name, 0, 0, msg);
        rc = OG_OK;
        goto out;
    }
    if (rc != OG_OK)
        goto out;
    if (!verify(o, name, &fixed, og_manifest_object_count(m), msg, sizeof(msg))) {
        report_error(t, name, 0, 0, msg);
        goto out;
    }
    if (o->dry_run) {
        rc = og_yamledit_diff(&e, data, len, fixed.ptr, fixed.len, name, diff);
    } else if (is_stdin) {
        if (fwrite(fixed.ptr, 1, fixed.len, stdout) != fixed.len)
            rc = OG_EIO;
    } else if (cli_write_file(in->path, fixed.ptr, fixed.len, mode, msg, sizeof(msg)) != OG_OK) {
        report_error(t, name, 0, 0, msg);
        goto out;
    }
    if (rc == OG_OK) {
        t->fixed += fixed_here;
        t->files++;
    }
out:
    cli_errors_cleanup(&errors);
    og_buf_cleanup(&fixed);
    og_buf_cleanup(&shown);
    og_yamledit_cleanup(&e);
    og_manifest_free(m);
    free(data);
    return rc;
}

int srv_cmd_fix(int argc, char **argv)
{
    struct cli_inputs inputs = {0};
    struct tally t = {0, 0, 0, 0};
    struct cli_options o;
    struct og_buf diff;
    enum og_err rc = OG_OK;
    int status;

    og_buf_init(&diff, (size_t)1 << 30);
    status = cli_options_parse(CLI_FIX, argc, argv, &o);
    if (status != 0 || o.cfg == NULL)
        goto out;
    rc = cli_inputs_walk(o.paths, o.n_paths, &inputs);
    for (size_t i = 0; rc == OG_OK && i < inputs.n; i++) {
        rc = fix_input(&o, &inputs.items[i], &t, &diff);
        /* The diff goes out file by file, so a long run shows progress. */
        if (rc == OG_OK && diff.len > 0 && fwrite(diff.ptr, 1, diff.len, stdout) != diff.len)
            rc = OG_EIO;
        og_buf_reset(&diff);
    }
    if (rc == OG_OK && fflush(stdout) != 0)
        rc = OG_EIO;
    if (rc != OG_OK) {
        fprintf(stderr, "ocigate fix: %s\n", og_strerror(rc));
        status = 2;
        goto out;
    }
    fprintf(stderr, "ocigate fix: %zu object%s %s in %zu file%s, %zu finding%s left, %zu error%s\n",
            t.fixed, t.fixed == 1 ? "" : "s", o.dry_run ? "would be fixed" : "fixed", t.files,
            t.files == 1 ? "" : "s", t.left, t.left == 1 ? "" : "s", t.errors,
            t.errors == 1 ? "" : "s");
    status = t.errors > 0 ? 2 : t.left > 0 ? 1 : 0;
out:
    og_buf_cleanup(&diff);
    cli_inputs_cleanup(&inputs);
    cli_options_cleanup(&o);
    return status;
}
