/*
 * cmd_migrate.c - `ocigate migrate`: reads every manifest the PATH arguments name (gate.h),
 * hands all their objects to the lib planner (og_migrate_plan_build(): which releases move to
 * which OCIRepository, in which batch, and what cannot move and why) and writes the result:
 *
 * - without --out, one YAML stream on stdout, a comment line before each batch;
 * - with --out DIR, DIR/batch-001/01-ocirepositories.yaml and 02-helmreleases.yaml, ... (the
 *   number as wide as the count needs, so names sort in order), each file written through a
 *   temporary file and rename. A batch directory that holds anything already stops the run
 *   before the first write, unless --force: then the two files are replaced, and a batch
 *   directory past the new count is named on stderr (it is never removed).
 *
 * The plan goes to stderr as text, or with --format json (which needs --out) to stdout as one
 * document. An input that cannot be read or parsed is reported with its position and nothing
 * is written (a plan over part of the inputs could miss a dependency): exit status 2.
 * Otherwise 1 when a release could not be migrated, else 0. Inputs are never changed.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "gate.h"
#include "ocigate/buf.h"
#include "ocigate/json.h"
#include "ocigate/migrate.h"

/* The whole output stays far below this; it only bounds a runaway. */
#define OUTPUT_MAX (256u << 20)

#define SOURCES_FILE "01-ocirepositories.yaml"
#define RELEASES_FILE "02-helmreleases.yaml"

/* Everything read: the bytes and readers stay alive as long as the plan that lends them. */
struct run {
    char **data;
    struct og_manifest **manifests;
    char **names;
    size_t n_files, cap_data, cap_manifests, cap_names;
    struct og_migrate_input *objects;
    size_t n_objects, cap_objects;
    struct cli_errors errors;
    int width; /* digits of a batch number */
};

/*
 * Keeps one parsed input (its bytes, reader and name; `r` owns them from here, also when this
 * fails) and lists its objects.
 */
static enum og_err keep(struct run *r, char *data, struct og_manifest *m, const char *name)
{
    char **d = og_array_grow(r->data, &r->cap_data, r->n_files, sizeof(*d), 16, SIZE_MAX);
    struct og_manifest **ms = NULL;
    char **names = NULL, *copy = NULL;

    if (d != NULL)
        r->data = d;
    if (d != NULL)
        ms = og_array_grow(r->manifests, &r->cap_manifests, r->n_files, sizeof(*ms), 16, SIZE_MAX);
    if (ms != NULL)
        r->manifests = ms;
    if (ms != NULL)
        names = og_array_grow(r->names, &r->cap_names, r->n_files, sizeof(*names), 16, SIZE_MAX);
    if (names != NULL) {
        r->names = names;
        copy = strdup(name);
    }
    if (copy == NULL) {
        og_manifest_free(m);
        free(data);
        return OG_ENOMEM;
    }
    r->names[r->n_files] = copy;
    r->data[r->n_files] = data;
    r->manifests[r->n_files] = m;
    name = r->names[r->n_files];
    r->n_files++;
    for (size_t i = 0; i < og_manifest_object_count(m); i++) {
        struct og_migrate_input *o =
            og_array_grow(r->objects, &r->cap_objects, r->n_objects, sizeof(*o), 64, SIZE_MAX);

        if (o == NULL)
            return OG_ENOMEM;
        r->objects = o;
        r->objects[r->n_objects].obj = og_manifest_object(m, i);
        r->objects[r->n_objects].file = name;
        r->n_objects++;
    }
    return OG_OK;
}

static enum og_err read_one(const struct cli_options *o, const struct cli_input *in, struct run *r)
{
    struct og_manifest *m = NULL;
    size_t len = 0, errors = r->errors.n;
    char *data = NULL;
    unsigned mode;
    enum og_err rc;

    rc = cli_load(o, in, &data, &len, &mode, &m, &r->errors);
    for (size_t i = errors; i < r->errors.n; i++)
        cli_report_error(r->errors.items[i].file, r->errors.items[i].line,
                         r->errors.items[i].column, r->errors.items[i].message);
    if (rc == OG_OK && m != NULL)
        return keep(r, data, m, cli_input_name(in->path));
    og_manifest_free(m);
    free(data);
    return rc;
}

static void run_cleanup(struct run *r)
{
    for (size_t i = 0; i < r->n_files; i++) {
        og_manifest_free(r->manifests[i]);
        free(r->data[i]);
        free(r->names[i]);
    }
    free(r->manifests);
    free(r->data);
    free(r->names);
    free(r->objects);
    cli_errors_cleanup(&r->errors);
}

/* ---- the plan as text (stderr) ---- */

static const char *plural(size_t n)
{
    return n == 1 ? "" : "s";
}

static int cmp_release_ptr(const void *x, const void *y)
{
    const struct og_migrate_release *a = *(const struct og_migrate_release *const *)x;
    const struct og_migrate_release *b = *(const struct og_migrate_release *const *)y;
    int c = strcmp(a->at.ns, b->at.ns);

    return c != 0 ? c : strcmp(a->at.name, b->at.name);
}

/* Releases of repository `repo`, by namespace then name (free() the array). */
static const struct og_migrate_release **releases_of(const struct og_migrate_plan *p, size_t repo,
                                                     size_t *n)
{
    const struct og_migrate_release **out = calloc(p->n_releases + 1, sizeof(*out));

    *n = 0;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < p->n_releases; i++) {
        if (p->releases[i].repo == repo)
            out[(*n)++] = &p->releases[i];
    }
    if (*n > 1)
        qsort(out, *n, sizeof(*out), cmp_release_ptr);
    return out;
}

/*
 * The plan's report (text or JSON) shows urls as cli_url_shown() does: it goes to a terminal,
 * a CI log or a file beside the batches. The batches' YAML, which is applied, keeps them.
 */
static enum og_err text_repos(const struct og_migrate_plan *p, struct og_buf *out)
{
    enum og_err rc = og_buf_appendf(out, "ocigate migrate: %zu affected HelmRepositor%s\n",
                                    p->n_repos, p->n_repos == 1 ? "y" : "ies");
    struct og_buf shown;

    og_buf_init(&shown, SIZE_MAX / 2);

    for (size_t i = 0; rc == OG_OK && i < p->n_repos; i++) {
        const struct og_migrate_repo *r = &p->repos[i];
        size_t n = 0, start = 0;
        const struct og_migrate_release **rel = releases_of(p, i, &n);

        if (rel == NULL) {
            rc = OG_ENOMEM;
            break;
        }
        start = out->len;
        rc = og_buf_appendf(out, "  %s:%u:%u: HelmRepository %s/%s [%s] -> %s: %zu release%s",
                            r->at.file, r->at.line, r->at.column, r->at.ns, r->at.name,
                            og_rule_name(r->rule), cli_url_shown(r->oci_base, &shown),
                            r->n_releases, plural(r->n_releases));
        if (rc == OG_OK)
            rc = cli_line_end(out, start);
        for (size_t k = 0; rc == OG_OK && k < n; k++) {
            const struct og_migrate_where *w = &rel[k]->at;
            bool first = k == 0 || strcmp(rel[k - 1]->at.ns, w->ns) != 0;
            bool last = k + 1 == n || strcmp(rel[k + 1]->at.ns, w->ns) != 0;

            if (first) {
                start = out->len;
                rc =
                    og_buf_appendf(out, "    in %s: ", w->ns[0] != '\0' ? w->ns : "(no namespace)");
            }
            if (rc == OG_OK)
                rc = og_buf_appendf(out, "%s%s", w->name, last ? "" : ", ");
            if (rc == OG_OK && last)
                rc = cli_line_end(out, start);
        }
        free(rel);
    }
    og_buf_cleanup(&shown);
    return rc;
}

static void batch_dir(const struct run *r, size_t batch, char *out, size_t size)
{
    snprintf(out, size, "batch-%0*zu", r->width, batch + 1);
}

static enum og_err text_batches(const struct run *run, const struct og_migrate_plan *p,
                                struct og_buf *out)
{
    enum og_err rc = OG_OK;
    struct og_buf shown;
    char dir[64];

    og_buf_init(&shown, SIZE_MAX / 2);
    for (size_t b = 0; rc == OG_OK && b < p->n_batches; b++) {
        const struct og_migrate_batch *bt = &p->batches[b];

        batch_dir(run, b, dir, sizeof(dir));
        rc = og_buf_appendf(out,
                            "ocigate migrate: batch %zu of %zu (%s): %zu OCIRepositor%s, %zu "
                            "HelmRelease%s\n",
                            b + 1, p->n_batches, dir, bt->n_sources,
                            bt->n_sources == 1 ? "y" : "ies", bt->n_releases,
                            plural(bt->n_releases));
        for (size_t i = 0; rc == OG_OK && i < bt->n_sources; i++) {
            const struct og_migrate_source *s = &p->sources[bt->first_source + i];
            size_t start = out->len;

            rc = og_buf_appendf(out, "  OCIRepository %s/%s: %s, ref.%s %s", s->ns, s->name,
                                cli_url_shown(s->url, &shown), s->tag ? "tag" : "semver", s->ref);
            if (rc == OG_OK)
                rc = cli_line_end(out, start);
        }
        for (size_t i = 0; rc == OG_OK && i < bt->n_releases; i++) {
            const struct og_migrate_release *rel = &p->releases[bt->first_release + i];
            const struct og_migrate_source *s = &p->sources[rel->source];
            size_t start = out->len;

            rc = og_buf_appendf(out, "  HelmRelease %s/%s (%s:%u:%u) -> OCIRepository %s/%s",
                                rel->at.ns, rel->at.name, rel->at.file, rel->at.line,
                                rel->at.column, s->ns, s->name);
            if (rc == OG_OK)
                rc = cli_line_end(out, start);
        }
    }
    og_buf_cleanup(&shown);
    return rc;
}

static enum og_err text_issues(const struct og_migrate_plan *p, bool migrated, struct og_buf *out)
{
    size_t n = migrated ? p->n_issues - p->n_not_migrated : p->n_not_migrated;
    enum og_err rc = OG_OK;

    if (n == 0)
        return OG_OK;
    rc = og_buf_appendf(out, "ocigate migrate: %s\n", migrated ? "notes" : "not migrated");
    for (size_t i = 0; rc == OG_OK && i < p->n_issues; i++) {
        const struct og_migrate_issue *is = &p->issues[i];
        size_t start = out->len;

        if (is->migrated != migrated)
            continue;
        rc = og_buf_appendf(out, "  %s:%u:%u: %s %s/%s: %s", is->at.file, is->at.line,
                            is->at.column, is->at.kind, is->at.ns, is->at.name, is->text);
        if (rc == OG_OK)
            rc = cli_line_end(out, start);
    }
    return rc;
}

static enum og_err format_text(const struct run *run, const struct og_migrate_plan *p, bool written,
                               struct og_buf *out)
{
    enum og_err rc = text_repos(p, out);

    if (rc == OG_OK)
        rc = text_batches(run, p, out);
    if (rc == OG_OK)
        rc = text_issues(p, false, out);
    if (rc == OG_OK)
        rc = text_issues(p, true, out);
    if (rc == OG_OK)
        rc = og_buf_appendf(out,
                            "ocigate migrate: %zu HelmRelease%s in %zu batch%s, %zu "
                            "OCIRepositor%s, %zu not migrated, %zu error%s%s\n",
                            p->n_releases, plural(p->n_releases), p->n_batches,
                            p->n_batches == 1 ? "" : "es", p->n_sources,
                            p->n_sources == 1 ? "y" : "ies", p->n_not_migrated, run->errors.n,
                            plural(run->errors.n), written ? "" : "; nothing written");
    return rc;
}

/* ---- the plan as JSON (stdout, with --out) ---- */

static void json_names(struct og_json *w, const char *ns, const char *name)
{
    og_json_key(w, "namespace");
    og_json_cstr(w, ns);
    og_json_key(w, "name");
    og_json_cstr(w, name);
}

static void json_where(struct og_json *w, const struct og_migrate_where *at, bool kind)
{
    og_json_key(w, "file");
    og_json_cstr(w, at->file);
    og_json_key(w, "line");
    og_json_uint(w, at->line);
    og_json_key(w, "column");
    og_json_uint(w, at->column);
    if (kind) {
        og_json_key(w, "kind");
        og_json_cstr(w, at->kind);
    }
    json_names(w, at->ns, at->name);
}

static void json_ref(struct og_json *w, const char *key, const char *ns, const char *name)
{
    og_json_key(w, key);
    og_json_object_begin(w);
    json_names(w, ns, name);
    og_json_object_end(w);
}

static enum og_err json_repos(struct og_json *w, const struct og_migrate_plan *p)
{
    struct og_buf shown;

    og_buf_init(&shown, SIZE_MAX / 2);
    og_json_key(w, "repositories");
    og_json_array_begin(w);
    for (size_t i = 0; i < p->n_repos; i++) {
        const struct og_migrate_repo *r = &p->repos[i];
        size_t n = 0;
        const struct og_migrate_release **rel = releases_of(p, i, &n);

        if (rel == NULL) {
            og_buf_cleanup(&shown);
            return OG_ENOMEM;
        }
        og_json_object_begin(w);
        json_where(w, &r->at, false);
        og_json_key(w, "rule");
        og_json_cstr(w, og_rule_name(r->rule));
        og_json_key(w, "ociBase");
        og_json_cstr(w, cli_url_shown(r->oci_base, &shown));
        og_json_key(w, "releases");
        og_json_array_begin(w);
        for (size_t k = 0; k < n; k++) {
            const struct og_migrate_where *at = &rel[k]->at;

            if (k == 0 || strcmp(rel[k - 1]->at.ns, at->ns) != 0) {
                if (k > 0) {
                    og_json_array_end(w);
                    og_json_object_end(w);
                }
                og_json_object_begin(w);
                og_json_key(w, "namespace");
                og_json_cstr(w, at->ns);
                og_json_key(w, "names");
                og_json_array_begin(w);
            }
            og_json_cstr(w, at->name);
        }
        if (n > 0) {
            og_json_array_end(w);
            og_json_object_end(w);
        }
        og_json_array_end(w);
        og_json_object_end(w);
        free(rel);
    }
    og_json_array_end(w);
    og_buf_cleanup(&shown);
    return OG_OK;
}

static void json_batches(struct og_json *w, const struct run *run, const struct og_migrate_plan *p)
{
    struct og_buf shown;
    char dir[64];

    og_buf_init(&shown, SIZE_MAX / 2);
    og_json_key(w, "batches");
    og_json_array_begin(w);
    for (size_t b = 0; b < p->n_batches; b++) {
        const struct og_migrate_batch *bt = &p->batches[b];

        batch_dir(run, b, dir, sizeof(dir));
        og_json_object_begin(w);
        og_json_key(w, "batch");
        og_json_uint(w, b + 1);
        og_json_key(w, "dir");
        og_json_cstr(w, dir);
        og_json_key(w, "ociRepositories");
        og_json_array_begin(w);
        for (size_t i = 0; i < bt->n_sources; i++) {
            const struct og_migrate_source *s = &p->sources[bt->first_source + i];

            og_json_object_begin(w);
            json_names(w, s->ns, s->name);
            og_json_key(w, "url");
            og_json_cstr(w, cli_url_shown(s->url, &shown));
            og_json_key(w, "ref");
            og_json_object_begin(w);
            og_json_key(w, s->tag ? "tag" : "semver");
            og_json_cstr(w, s->ref);
            og_json_object_end(w);
            json_ref(w, "helmRepository", p->repos[s->repo].at.ns, p->repos[s->repo].at.name);
            og_json_key(w, "releases");
            og_json_uint(w, s->n_releases);
            og_json_object_end(w);
        }
        og_json_array_end(w);
        og_json_key(w, "helmReleases");
        og_json_array_begin(w);
        for (size_t i = 0; i < bt->n_releases; i++) {
            const struct og_migrate_release *rel = &p->releases[bt->first_release + i];
            const struct og_migrate_source *s = &p->sources[rel->source];

            og_json_object_begin(w);
            json_where(w, &rel->at, false);
            json_ref(w, "ociRepository", s->ns, s->name);
            og_json_object_end(w);
        }
        og_json_array_end(w);
        og_json_object_end(w);
    }
    og_json_array_end(w);
    og_buf_cleanup(&shown);
}

static void json_issues(struct og_json *w, const struct og_migrate_plan *p, bool migrated)
{
    og_json_key(w, migrated ? "notes" : "notMigrated");
    og_json_array_begin(w);
    for (size_t i = 0; i < p->n_issues; i++) {
        if (p->issues[i].migrated != migrated)
            continue;
        og_json_object_begin(w);
        json_where(w, &p->issues[i].at, true);
        og_json_key(w, migrated ? "note" : "reason");
        og_json_cstr(w, p->issues[i].text);
        og_json_object_end(w);
    }
    og_json_array_end(w);
}

static enum og_err format_json(const struct run *run, const struct og_migrate_plan *p, bool written,
                               int status, struct og_buf *out)
{
    struct og_json w;
    enum og_err rc;

    og_json_init(&w, out);
    og_json_object_begin(&w);
    rc = json_repos(&w, p);
    if (rc != OG_OK)
        return rc;
    json_batches(&w, run, p);
    json_issues(&w, p, false);
    json_issues(&w, p, true);
    og_json_key(&w, "errors");
    og_json_array_begin(&w);
    for (size_t i = 0; i < run->errors.n; i++) {
        og_json_object_begin(&w);
        og_json_key(&w, "file");
        og_json_cstr(&w, run->errors.items[i].file);
        if (run->errors.items[i].line > 0) {
            og_json_key(&w, "line");
            og_json_uint(&w, run->errors.items[i].line);
            og_json_key(&w, "column");
            og_json_uint(&w, run->errors.items[i].column);
        }
        og_json_key(&w, "message");
        og_json_cstr(&w, run->errors.items[i].message);
        og_json_object_end(&w);
    }
    og_json_array_end(&w);
    og_json_key(&w, "written");
    og_json_bool(&w, written);
    og_json_key(&w, "exitCode");
    og_json_int(&w, status);
    og_json_object_end(&w);
    rc = og_json_finish(&w);
    if (rc == OG_OK)
        rc = og_buf_append(out, "\n", 1);
    return rc;
}

/* ---- the objects ---- */

static enum og_err stdout_stream(const struct og_migrate_plan *p, const struct run *run,
                                 struct og_buf *out)
{
    enum og_err rc = OG_OK;
    char dir[64];

    for (size_t b = 0; rc == OG_OK && b < p->n_batches; b++) {
        batch_dir(run, b, dir, sizeof(dir));
        rc = og_buf_appendf(out,
                            "# ocigate migrate: batch %zu of %zu (%s): %zu OCIRepositor%s, %zu "
                            "HelmRelease%s\n",
                            b + 1, p->n_batches, dir, p->batches[b].n_sources,
                            p->batches[b].n_sources == 1 ? "y" : "ies", p->batches[b].n_releases,
                            plural(p->batches[b].n_releases));
        if (rc == OG_OK)
            rc = og_migrate_format_batch(p, b, OG_MIGRATE_SOURCES | OG_MIGRATE_RELEASES, out);
    }
    return rc;
}

/* True when `path` is a directory holding anything. */
static bool dir_in_use(const char *path)
{
    struct dirent *de;
    bool used = false;
    DIR *d = opendir(path);

    if (d == NULL)
        return errno != ENOENT;
    while (!used) {
        de = readdir(d);
        if (de == NULL)
            break;
        used = strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    }
    closedir(d);
    return used;
}

/* True for "batch-" and digits only. */
static bool batch_name(const char *name, size_t *number)
{
    char *end = NULL;

    if (strncmp(name, "batch-", 6) != 0 || name[6] < '0' || name[6] > '9')
        return false;
    *number = (size_t)strtoull(name + 6, &end, 10);
    return *end == '\0';
}

/*
 * Checks DIR before the first write: without --force no batch directory in it may hold
 * anything (an earlier run's batches, perhaps applied already). With --force, names the batch
 * directories the new plan leaves alone.
 */
static bool out_dir_ready(const struct cli_options *o, const struct og_migrate_plan *p)
{
    struct dirent *de;
    struct og_buf path;
    bool ok = true;
    DIR *d;

    if (mkdir(o->out_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "%s: error: cannot create the directory: %s\n", o->out_dir,
                strerror(errno));
        return false;
    }
    d = opendir(o->out_dir);
    if (d == NULL) {
        fprintf(stderr, "%s: error: cannot read the directory: %s\n", o->out_dir, strerror(errno));
        return false;
    }
    og_buf_init(&path, 8192);
    for (;;) {
        size_t number = 0;

        de = readdir(d);
        if (de == NULL)
            break;
        if (!batch_name(de->d_name, &number))
            continue;
        og_buf_reset(&path);
        if (og_buf_appendf(&path, "%s/%s", o->out_dir, de->d_name) != OG_OK ||
            !dir_in_use(path.ptr))
            continue;
        if (!o->force) {
            fprintf(stderr,
                    "%s: error: holds files of an earlier run; use another --out, remove it, or "
                    "pass --force to write over it\n",
                    path.ptr);
            ok = false;
        } else if (number > p->n_batches || number == 0) {
            fprintf(stderr, "%s: warning: left from an earlier run (this plan has %zu batch%s)\n",
                    path.ptr, p->n_batches, p->n_batches == 1 ? "" : "es");
        }
    }
    closedir(d);
    og_buf_cleanup(&path);
    return ok;
}

/* Writes (or with nothing to write, removes an earlier run's) DIR/<batch>/<file>. */
static bool put_file(const char *path, const struct og_buf *text, size_t objects)
{
    char msg[512];

    if (objects == 0) {
        if (unlink(path) != 0 && errno != ENOENT) {
            fprintf(stderr, "%s: error: cannot remove an earlier run's file: %s\n", path,
                    strerror(errno));
            return false;
        }
        return true;
    }
    if (cli_write_file(path, text->ptr, text->len, 0644, msg, sizeof(msg)) != OG_OK) {
        cli_report_error(path, 0, 0, msg);
        return false;
    }
    return true;
}

/* Writes every batch directory; false after reporting what failed. */
static enum og_err write_batches(const struct cli_options *o, const struct run *run,
                                 const struct og_migrate_plan *p, bool *ok)
{
    struct og_buf path, text;
    enum og_err rc = OG_OK;
    char dir[64];

    og_buf_init(&path, 8192);
    og_buf_init(&text, OUTPUT_MAX);
    for (size_t b = 0; rc == OG_OK && *ok && b < p->n_batches; b++) {
        const struct og_migrate_batch *bt = &p->batches[b];

        batch_dir(run, b, dir, sizeof(dir));
        og_buf_reset(&path);
        rc = og_buf_appendf(&path, "%s/%s", o->out_dir, dir);
        if (rc != OG_OK)
            break;
        if (mkdir(path.ptr, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "%s: error: cannot create the directory: %s\n", path.ptr,
                    strerror(errno));
            *ok = false;
            break;
        }
        for (int f = 0; rc == OG_OK && *ok && f < 2; f++) {
            size_t dirlen = path.len;
            size_t objects = f == 0 ? bt->n_sources : bt->n_releases;

            og_buf_reset(&text);
            rc = og_buf_appendf(&text, "# ocigate migrate: batch %zu of %zu, %s\n", b + 1,
                                p->n_batches,
                                f == 0 ? "the OCIRepositories (apply before the HelmReleases)"
                                       : "the HelmReleases");
            if (rc == OG_OK)
                rc = og_migrate_format_batch(
                    p, b, f == 0 ? OG_MIGRATE_SOURCES : OG_MIGRATE_RELEASES, &text);
            if (rc == OG_OK)
                rc = og_buf_appendf(&path, "/%s", f == 0 ? SOURCES_FILE : RELEASES_FILE);
            if (rc == OG_OK)
                *ok = put_file(path.ptr, &text, objects);
            path.len = dirlen;
            path.ptr[dirlen] = '\0';
        }
    }
    og_buf_cleanup(&path);
    og_buf_cleanup(&text);
    return rc;
}

int srv_cmd_migrate(int argc, char **argv)
{
    struct cli_inputs inputs = {0};
    struct og_migrate_plan plan;
    struct cli_options o;
    struct og_buf out, text;
    struct run run;
    enum og_err rc = OG_OK;
    bool written = false, ok = true;
    int status;

    memset(&plan, 0, sizeof(plan));
    memset(&run, 0, sizeof(run));
    og_buf_init(&out, OUTPUT_MAX);
    og_buf_init(&text, OUTPUT_MAX);
    status = cli_options_parse(CLI_MIGRATE, argc, argv, &o);
    if (status != 0 || o.cfg == NULL)
        goto out;
    rc = cli_inputs_walk(o.paths, o.n_paths, &inputs);
    for (size_t i = 0; rc == OG_OK && i < inputs.n; i++)
        rc = read_one(&o, &inputs.items[i], &run);
    if (rc == OG_OK)
        rc = og_migrate_plan_build(o.cfg, run.objects, run.n_objects, o.batch_size, &plan);
    if (rc != OG_OK)
        goto fail;
    run.width = 3;
    for (size_t n = plan.n_batches; n >= 1000; n /= 10)
        run.width++;
    status = run.errors.n > 0 ? 2 : plan.n_not_migrated > 0 ? 1 : 0;
    /* Nothing is written over partial inputs: the plan could miss a dependency. */
    if (run.errors.n == 0 && o.out_dir == NULL) {
        rc = stdout_stream(&plan, &run, &out);
        written = rc == OG_OK;
    } else if (run.errors.n == 0 && plan.n_batches == 0) {
        written = true; /* nothing to write: DIR is not even made */
    } else if (run.errors.n == 0) {
        ok = out_dir_ready(&o, &plan);
        if (ok)
            rc = write_batches(&o, &run, &plan, &ok);
        written = ok && rc == OG_OK;
        if (!ok)
            status = 2;
    }
    if (rc != OG_OK)
        goto fail;
    if (strcmp(o.format, "json") == 0)
        rc = format_json(&run, &plan, written, status, &out);
    else
        rc = format_text(&run, &plan, written, &text);
    if (rc == OG_OK && out.len > 0 && fwrite(out.ptr, 1, out.len, stdout) != out.len)
        rc = OG_EIO;
    if (rc == OG_OK && fflush(stdout) != 0)
        rc = OG_EIO;
    if (rc == OG_OK && text.len > 0)
        (void)fwrite(text.ptr, 1, text.len, stderr);
    if (rc == OG_OK)
        goto out;
fail:
    fprintf(stderr, "ocigate migrate: %s\n", og_strerror(rc));
    status = 2;
out:
    og_migrate_plan_cleanup(&plan);
    og_buf_cleanup(&out);
    og_buf_cleanup(&text);
    run_cleanup(&run);
    cli_inputs_cleanup(&inputs);
    cli_options_cleanup(&o);
    return status;
}
