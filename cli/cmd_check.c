/*
 * cmd_check.c - `ocigate check`: the webhook's policy as a gate before merge. Reads every
 * manifest the PATH arguments name (gate.h), runs the lib policy on each Kubernetes object
 * (og_manifest_policy_input(), og_policy_eval(): the very rules of the webhook) and lists
 * the findings as text, one JSON document, or SARIF 2.1.0. Writes no file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "gate.h"
#include "ocigate/buf.h"
#include "ocigate/json.h"

/* The whole report stays far below this; it only bounds a runaway. */
#define OUTPUT_MAX (256u << 20)

/* One finding: an object a rule decided on. Strings owned, except `file` (the input's). */
struct finding {
    const char *file;
    unsigned line, column;         /* the object's mapping */
    unsigned url_line, url_column; /* spec.url's value, 0 when the object has none */
    char *kind, *ns, *name;        /* ns and name may be NULL */
    enum og_rule rule;
    enum og_mode mode;
    bool fails; /* enforce would deny it (exit status 1) */
    char *message;
    char *fix_url; /* the suggested url as shown (cli_url_shown()), or NULL: a report is no
                      place for credentials; `fix` writes the url itself */
};

struct report {
    struct finding *findings;
    size_t n_findings, cap_findings;
    struct cli_errors errors;
    size_t files, objects;
};

/* A view's copy, or NULL for an absent view (check `ptr` to tell it from out of memory). */
static char *dup_str(struct og_str s)
{
    return s.ptr != NULL ? og_str_dup(s) : NULL;
}

static void finding_cleanup(struct finding *f)
{
    free(f->kind);
    free(f->ns);
    free(f->name);
    free(f->message);
    free(f->fix_url);
}

static enum og_err add_finding(struct report *r, const char *file,
                               const struct og_manifest_object *mo, const struct og_decision *d)
{
    const struct og_manifest_node *spec = og_manifest_get(mo->root, og_str_of("spec"));
    const struct og_manifest_node *url = og_manifest_get(spec, og_str_of("url"));
    struct finding *items =
        og_array_grow(r->findings, &r->cap_findings, r->n_findings, sizeof(*items), 16, SIZE_MAX);
    struct finding f;
    struct og_buf shown;

    if (items == NULL)
        return OG_ENOMEM;
    r->findings = items;
    memset(&f, 0, sizeof(f));
    f.file = file;
    f.line = mo->root->start.line;
    f.column = mo->root->start.column;
    if (url != NULL) {
        f.url_line = url->start.line;
        f.url_column = url->start.column;
    }
    f.rule = d->rule;
    f.mode = d->mode;
    f.fails = cli_decision_fails(d);
    f.kind = dup_str(mo->kind);
    f.ns = dup_str(mo->ns);
    f.name = dup_str(mo->name);
    f.message = strdup(d->problem != NULL ? d->problem : og_rule_name(d->rule));
    og_buf_init(&shown, SIZE_MAX / 2);
    f.fix_url = d->suggested_url != NULL ? strdup(cli_url_shown(d->suggested_url, &shown)) : NULL;
    og_buf_cleanup(&shown);
    if (f.kind == NULL || (mo->ns.ptr != NULL && f.ns == NULL) ||
        (mo->name.ptr != NULL && f.name == NULL) || f.message == NULL ||
        (d->suggested_url != NULL && f.fix_url == NULL)) {
        finding_cleanup(&f);
        return OG_ENOMEM;
    }
    r->findings[r->n_findings++] = f;
    return OG_OK;
}

static void report_cleanup(struct report *r)
{
    for (size_t i = 0; i < r->n_findings; i++)
        finding_cleanup(&r->findings[i]);
    free(r->findings);
    cli_errors_cleanup(&r->errors);
}

/* Checks one input; what cannot be read or parsed becomes an error of the report. */
static enum og_err check_input(const struct cli_options *o, const struct cli_input *in,
                               struct report *r)
{
    struct og_manifest *m = NULL;
    char *data = NULL;
    size_t len = 0;
    unsigned mode;
    enum og_err rc;

    rc = cli_load(o, in, &data, &len, &mode, &m, &r->errors);
    if (data != NULL)
        r->files++;
    for (size_t i = 0; rc == OG_OK && m != NULL && i < og_manifest_object_count(m); i++) {
        const struct og_manifest_object *mo = og_manifest_object(m, i);
        struct og_decision d;

        r->objects++;
        rc = cli_eval(o, mo, &d);
        if (rc != OG_OK)
            break;
        if (d.rule != OG_RULE_NONE)
            rc = add_finding(r, in->path, mo, &d);
        og_decision_cleanup(&d);
    }
    og_manifest_free(m);
    free(data);
    return rc;
}

static size_t count_failing(const struct report *r)
{
    size_t n = 0;

    for (size_t i = 0; i < r->n_findings; i++)
        n += r->findings[i].fails;
    return n;
}

static const char *level(const struct finding *f)
{
    return f->fails ? "error" : "warning";
}

static enum og_err format_text(const struct report *r, struct og_buf *out)
{
    enum og_err rc = OG_OK;

    for (size_t i = 0; rc == OG_OK && i < r->n_findings; i++) {
        const struct finding *f = &r->findings[i];
        size_t start = out->len;

        rc = og_buf_appendf(out, "%s:%u:%u: %s: [%s] %s %s/%s", cli_input_name(f->file), f->line,
                            f->column, level(f), og_rule_name(f->rule), f->kind,
                            f->ns != NULL ? f->ns : "", f->name != NULL ? f->name : "");
        if (rc == OG_OK && f->url_line > 0)
            rc = og_buf_appendf(out, " (spec.url at %u:%u)", f->url_line, f->url_column);
        if (rc == OG_OK)
            rc = og_buf_appendf(out, ": %s", f->message);
        if (rc == OG_OK && f->fix_url != NULL)
            rc = og_buf_appendf(out, "; fix: spec.type: oci, spec.url: %s", f->fix_url);
        if (rc == OG_OK)
            rc = cli_line_end(out, start);
    }
    if (rc == OG_OK)
        rc = og_buf_appendf(out,
                            "ocigate check: %zu finding%s (%zu that enforce denies) in %zu "
                            "object%s, %zu file%s, %zu error%s\n",
                            r->n_findings, r->n_findings == 1 ? "" : "s", count_failing(r),
                            r->objects, r->objects == 1 ? "" : "s", r->files,
                            r->files == 1 ? "" : "s", r->errors.n, r->errors.n == 1 ? "" : "s");
    return rc;
}

static void json_position(struct og_json *w, unsigned line, unsigned column)
{
    og_json_key(w, "line");
    og_json_uint(w, line);
    og_json_key(w, "column");
    og_json_uint(w, column);
}

/*
 * The "fix" member: what `ocigate fix` changes, as a JSON merge patch (RFC 7386; null
 * removes), ready for `kubectl patch --type merge`; null when the finding has no fix.
 */
static void json_fix(struct og_json *w, const struct finding *f)
{
    og_json_key(w, "fix");
    if (f->fix_url == NULL) {
        og_json_null(w);
        return;
    }
    og_json_object_begin(w);
    og_json_key(w, "spec");
    og_json_object_begin(w);
    og_json_key(w, "type");
    og_json_cstr(w, "oci");
    og_json_key(w, "url");
    og_json_cstr(w, f->fix_url);
    og_json_key(w, "passCredentials");
    og_json_null(w);
    og_json_object_end(w);
    og_json_object_end(w);
}

static int exit_status(const struct report *r)
{
    if (r->errors.n > 0)
        return 2;
    return count_failing(r) > 0 ? 1 : 0;
}

static enum og_err format_json(const struct report *r, struct og_buf *out)
{
    struct og_json w;

    og_json_init(&w, out);
    og_json_object_begin(&w);
    og_json_key(&w, "findings");
    og_json_array_begin(&w);
    for (size_t i = 0; i < r->n_findings; i++) {
        const struct finding *f = &r->findings[i];

        og_json_object_begin(&w);
        og_json_key(&w, "file");
        og_json_cstr(&w, cli_input_name(f->file));
        json_position(&w, f->line, f->column);
        og_json_key(&w, "field");
        if (f->url_line > 0) {
            og_json_object_begin(&w);
            og_json_key(&w, "path");
            og_json_cstr(&w, "spec.url");
            json_position(&w, f->url_line, f->url_column);
            og_json_object_end(&w);
        } else {
            og_json_null(&w);
        }
        og_json_key(&w, "kind");
        og_json_cstr(&w, f->kind);
        og_json_key(&w, "namespace");
        og_json_cstr(&w, f->ns);
        og_json_key(&w, "name");
        og_json_cstr(&w, f->name);
        og_json_key(&w, "rule");
        og_json_cstr(&w, og_rule_name(f->rule));
        og_json_key(&w, "mode");
        og_json_cstr(&w, og_mode_name(f->mode));
        og_json_key(&w, "level");
        og_json_cstr(&w, level(f));
        og_json_key(&w, "message");
        og_json_cstr(&w, f->message);
        json_fix(&w, f);
        og_json_object_end(&w);
    }
    og_json_array_end(&w);
    og_json_key(&w, "errors");
    og_json_array_begin(&w);
    for (size_t i = 0; i < r->errors.n; i++) {
        og_json_object_begin(&w);
        og_json_key(&w, "file");
        og_json_cstr(&w, r->errors.items[i].file);
        if (r->errors.items[i].line > 0)
            json_position(&w, r->errors.items[i].line, r->errors.items[i].column);
        og_json_key(&w, "message");
        og_json_cstr(&w, r->errors.items[i].message);
        og_json_object_end(&w);
    }
    og_json_array_end(&w);
    og_json_key(&w, "files");
    og_json_uint(&w, r->files);
    og_json_key(&w, "objects");
    og_json_uint(&w, r->objects);
    og_json_key(&w, "denied");
    og_json_uint(&w, count_failing(r));
    og_json_key(&w, "exitCode");
    og_json_int(&w, exit_status(r));
    og_json_object_end(&w);
    if (og_json_finish(&w) != OG_OK)
        return og_json_finish(&w);
    return og_buf_append(out, "\n", 1);
}

/* The rules a SARIF run declares (the order gives ruleIndex), with one line each. */
static const struct {
    enum og_rule rule;
    const char *text;
} sarif_rules[] = {
    {OG_RULE_OCI_URL_HTTP_TYPE, "HelmRepository with an oci:// url needs spec.type: oci"},
    {OG_RULE_KNOWN_MIGRATION, "HelmRepository url whose charts moved to an OCI registry"},
    {OG_RULE_OCI_TYPE_HTTP_URL, "HelmRepository of type oci with an http(s) url"},
    {OG_RULE_INDEX_OCI, "HelmRepository whose index serves oci:// charts"},
    {OG_RULE_INDEX_PENDING, "HelmRepository index analysis pending"},
    {OG_RULE_INDEX_UNKNOWN, "HelmRepository index could not be analyzed"},
    {OG_RULE_INDEX_MIXED, "HelmRepository whose index moved some charts to oci:// and still "
                          "releases others over http(s)"},
};

#define N_SARIF_RULES (sizeof(sarif_rules) / sizeof(sarif_rules[0]))

/* A SARIF artifact uri: the path as given, without a leading "./". */
static const char *sarif_uri(const char *file)
{
    if (strcmp(file, "-") == 0)
        return "stdin";
    while (file[0] == '.' && file[1] == '/')
        file += 2;
    return file;
}

static void sarif_location(struct og_json *w, const char *file, unsigned line, unsigned column)
{
    og_json_object_begin(w);
    og_json_key(w, "physicalLocation");
    og_json_object_begin(w);
    og_json_key(w, "artifactLocation");
    og_json_object_begin(w);
    og_json_key(w, "uri");
    og_json_cstr(w, sarif_uri(file));
    og_json_object_end(w);
    if (line > 0) {
        og_json_key(w, "region");
        og_json_object_begin(w);
        og_json_key(w, "startLine");
        og_json_uint(w, line);
        og_json_key(w, "startColumn");
        og_json_uint(w, column);
        og_json_object_end(w);
    }
    og_json_object_end(w);
    og_json_object_end(w);
}

static void sarif_result(struct og_json *w, const struct finding *f, struct og_buf *text)
{
    size_t index = 0;
    enum og_err rc;

    for (size_t k = 0; k < N_SARIF_RULES; k++) {
        if (sarif_rules[k].rule == f->rule)
            index = k;
    }
    og_buf_reset(text);
    rc = og_buf_appendf(text, "%s %s/%s: %s", f->kind, f->ns != NULL ? f->ns : "",
                        f->name != NULL ? f->name : "", f->message);
    if (rc == OG_OK && f->fix_url != NULL)
        rc = og_buf_appendf(text, "; fix: spec.type: oci, spec.url: %s", f->fix_url);
    if (rc != OG_OK)
        og_buf_reset(text);
    og_json_object_begin(w);
    og_json_key(w, "ruleId");
    og_json_cstr(w, og_rule_name(f->rule));
    og_json_key(w, "ruleIndex");
    og_json_uint(w, index);
    og_json_key(w, "level");
    og_json_cstr(w, level(f));
    og_json_key(w, "message");
    og_json_object_begin(w);
    og_json_key(w, "text");
    og_json_string(w, og_buf_view(text));
    og_json_object_end(w);
    og_json_key(w, "locations");
    og_json_array_begin(w);
    /* The url's line first: that is the line a fix changes, where CI shows the result. */
    if (f->url_line > 0)
        sarif_location(w, f->file, f->url_line, f->url_column);
    else
        sarif_location(w, f->file, f->line, f->column);
    og_json_array_end(w);
    og_json_key(w, "properties");
    og_json_object_begin(w);
    og_json_key(w, "kind");
    og_json_cstr(w, f->kind);
    og_json_key(w, "namespace");
    og_json_cstr(w, f->ns);
    og_json_key(w, "name");
    og_json_cstr(w, f->name);
    og_json_key(w, "objectLine");
    og_json_uint(w, f->line);
    og_json_key(w, "objectColumn");
    og_json_uint(w, f->column);
    json_fix(w, f);
    og_json_object_end(w);
    og_json_object_end(w);
}

static enum og_err format_sarif(const struct report *r, struct og_buf *out)
{
    struct og_buf text;
    struct og_json w;
    enum og_err rc;

    og_buf_init(&text, 1u << 20);
    og_json_init(&w, out);
    og_json_object_begin(&w);
    og_json_key(&w, "$schema");
    og_json_cstr(&w, "https://json.schemastore.org/sarif-2.1.0.json");
    og_json_key(&w, "version");
    og_json_cstr(&w, "2.1.0");
    og_json_key(&w, "runs");
    og_json_array_begin(&w);
    og_json_object_begin(&w);
    og_json_key(&w, "tool");
    og_json_object_begin(&w);
    og_json_key(&w, "driver");
    og_json_object_begin(&w);
    og_json_key(&w, "name");
    og_json_cstr(&w, "ocigate");
    og_json_key(&w, "version");
    og_json_cstr(&w, OG_VERSION);
    og_json_key(&w, "rules");
    og_json_array_begin(&w);
    for (size_t k = 0; k < N_SARIF_RULES; k++) {
        og_json_object_begin(&w);
        og_json_key(&w, "id");
        og_json_cstr(&w, og_rule_name(sarif_rules[k].rule));
        og_json_key(&w, "shortDescription");
        og_json_object_begin(&w);
        og_json_key(&w, "text");
        og_json_cstr(&w, sarif_rules[k].text);
        og_json_object_end(&w);
        og_json_object_end(&w);
    }
    og_json_array_end(&w);
    og_json_object_end(&w);
    og_json_object_end(&w);
    /* libyaml counts columns in characters. */
    og_json_key(&w, "columnKind");
    og_json_cstr(&w, "unicodeCodePoints");
    og_json_key(&w, "results");
    og_json_array_begin(&w);
    for (size_t i = 0; i < r->n_findings; i++)
        sarif_result(&w, &r->findings[i], &text);
    og_json_array_end(&w);
    og_json_key(&w, "invocations");
    og_json_array_begin(&w);
    og_json_object_begin(&w);
    og_json_key(&w, "executionSuccessful");
    og_json_bool(&w, r->errors.n == 0);
    og_json_key(&w, "exitCode");
    og_json_int(&w, exit_status(r));
    og_json_key(&w, "toolExecutionNotifications");
    og_json_array_begin(&w);
    for (size_t i = 0; i < r->errors.n; i++) {
        og_json_object_begin(&w);
        og_json_key(&w, "level");
        og_json_cstr(&w, "error");
        og_json_key(&w, "message");
        og_json_object_begin(&w);
        og_json_key(&w, "text");
        og_json_cstr(&w, r->errors.items[i].message);
        og_json_object_end(&w);
        og_json_key(&w, "locations");
        og_json_array_begin(&w);
        sarif_location(&w, r->errors.items[i].file, r->errors.items[i].line,
                       r->errors.items[i].column);
        og_json_array_end(&w);
        og_json_object_end(&w);
    }
    og_json_array_end(&w);
    og_json_object_end(&w);
    og_json_array_end(&w);
    og_json_object_end(&w);
    og_json_array_end(&w);
    og_json_object_end(&w);
    rc = og_json_finish(&w);
    if (rc == OG_OK)
        rc = og_buf_append(out, "\n", 1);
    og_buf_cleanup(&text);
    return rc;
}

int srv_cmd_check(int argc, char **argv)
{
    struct cli_inputs inputs = {0};
    struct cli_options o;
    struct report r;
    struct og_buf out;
    enum og_err rc = OG_OK;
    int status;

    memset(&r, 0, sizeof(r));
    og_buf_init(&out, OUTPUT_MAX);
    status = cli_options_parse(CLI_CHECK, argc, argv, &o);
    if (status != 0 || o.cfg == NULL)
        goto out;
    rc = cli_inputs_walk(o.paths, o.n_paths, &inputs);
    for (size_t i = 0; rc == OG_OK && i < inputs.n; i++)
        rc = check_input(&o, &inputs.items[i], &r);
    /* Errors go to stderr whatever the format, so that a CI log shows them. */
    for (size_t i = 0; rc == OG_OK && i < r.errors.n; i++)
        cli_report_error(r.errors.items[i].file, r.errors.items[i].line, r.errors.items[i].column,
                         r.errors.items[i].message);
    if (rc == OG_OK) {
        if (strcmp(o.format, "json") == 0)
            rc = format_json(&r, &out);
        else if (strcmp(o.format, "sarif") == 0)
            rc = format_sarif(&r, &out);
        else
            rc = format_text(&r, &out);
    }
    if (rc == OG_OK && out.len > 0 && fwrite(out.ptr, 1, out.len, stdout) != out.len)
        rc = OG_EIO;
    if (rc == OG_OK && fflush(stdout) != 0)
        rc = OG_EIO;
    if (rc != OG_OK) {
        fprintf(stderr, "ocigate check: %s\n", og_strerror(rc));
        status = 2;
        goto out;
    }
    status = exit_status(&r);
out:
    og_buf_cleanup(&out);
    report_cleanup(&r);
    cli_inputs_cleanup(&inputs);
    cli_options_cleanup(&o);
    return status;
}
