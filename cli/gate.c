/*
 * gate.c - the options, the input walk, the policy call and the atomic file write that
 * `ocigate check`, `fix` and `migrate` share (gate.h).
 */
#include "gate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_file.h"
#include "file.h"
#include "index_cache.h"
#include "log.h"
#include "ocigate/buf.h"
#include "ocigate/migrate.h"
#include "ocigate/str.h"
#include "ocigate/url.h"

/* Largest --max-bytes: the manifest reader's offsets and counts stay far from any limit. */
#define MAX_BYTES_CEILING (1ull << 30)
#define MAX_BYTES_FLOOR 1024u

static void usage(enum cli_command cmd, FILE *out)
{
    if (cmd == CLI_CHECK)
        fprintf(out,
                "usage: ocigate check [--config FILE] [--mode enforce|audit] [--online]\n"
                "                     [--format text|json|sarif] [--max-bytes SIZE] PATH...\n"
                "\n"
                "Runs the webhook's policy on every Kubernetes object of the manifests at PATH\n"
                "(files; directories, recursively, their *.yaml and *.yml files; '-' for stdin)\n"
                "and lists the findings with their position and fix. Writes nothing.\n"
                "\n"
                "  --config FILE     the serve configuration (modes, exemptions, migrations)\n"
                "  --mode MODE       the default mode instead of the file's (enforce|audit)\n"
                "  --format FORMAT   text (default), json (one document) or sarif (2.1.0)\n"
                "  --max-bytes SIZE  largest input read (default %s)\n"
                "  --online          analyze each http(s) repository's index.yaml (the\n"
                "                    server's fetcher: SSRF guard, caps, the index.* keys)\n"
                "\n"
                "exit status: 0 nothing that enforce would deny, 1 findings that enforce\n"
                "would deny, 2 bad usage or an input that cannot be read or parsed\n",
                CLI_MAX_BYTES_DEFAULT);
    else if (cmd == CLI_MIGRATE)
        fprintf(
            out,
            "usage: ocigate migrate [--batch-size N] [--out DIR [--force]] [--format text|json]\n"
            "                       [--config FILE] [--max-bytes SIZE] PATH...\n"
            "\n"
            "Plans the move of the HelmReleases whose HelmRepository the policy finds\n"
            "affected to one OCIRepository per chart and spec.chartRef, in batches that\n"
            "respect spec.dependsOn. Writes the new objects; never changes an input.\n"
            "\n"
            "  --batch-size N    releases per batch (default %u)\n"
            "  --out DIR         write DIR/batch-001/, batch-002/, ... (default: one YAML\n"
            "                    stream on stdout, a comment before each batch)\n"
            "  --force           with --out, write over the files of an earlier run\n"
            "  --format FORMAT   the plan: text on stderr (default), or json on stdout\n"
            "                    (needs --out)\n"
            "  --config FILE     the serve configuration (modes, migrations table)\n"
            "  --max-bytes SIZE  largest input read (default %s)\n"
            "\n"
            "exit status: 0 every release found was planned, 1 some could not be\n"
            "migrated (the plan says why), 2 bad usage, an input that cannot be read or\n"
            "parsed (nothing is written), or an output that cannot be written\n",
            OG_MIGRATE_BATCH_SIZE, CLI_MAX_BYTES_DEFAULT);
    else
        fprintf(out,
                "usage: ocigate fix [--dry-run] [--config FILE] [--max-bytes SIZE] PATH...\n"
                "\n"
                "Rewrites the HelmRepository objects that ocigate check reports as fixable in\n"
                "place (type: oci, url: the OCI base, passCredentials removed), changing no\n"
                "other byte. A file that does not parse completely is never touched.\n"
                "\n"
                "  --dry-run         print a unified diff instead of writing\n"
                "  --config FILE     the serve configuration (exemptions, migrations)\n"
                "  --max-bytes SIZE  largest input read (default %s)\n"
                "\n"
                "exit status: 0 everything found was fixed, 1 findings left that enforce\n"
                "would deny, 2 bad usage or an input that cannot be read or parsed\n",
                CLI_MAX_BYTES_DEFAULT);
}

/*
 * Takes option `name` at argv[*i] ("--name VALUE" or "--name=VALUE") into `*value`: true
 * when argv[*i] is that option (a missing value sets `*bad` and says so).
 */
static bool option_value(int argc, char **argv, int *i, const char *name, const char **value,
                         bool *bad)
{
    size_t n = strlen(name);

    if (strncmp(argv[*i], name, n) != 0 || (argv[*i][n] != '=' && argv[*i][n] != '\0'))
        return false;
    if (argv[*i][n] == '=') {
        *value = argv[*i] + n + 1;
        return true;
    }
    if (*i + 1 >= argc) {
        fprintf(stderr, "ocigate: %s needs a value\n", name);
        *bad = true;
        return true;
    }
    *i += 1;
    *value = argv[*i];
    return true;
}

/* The checks of migrate's own options; false after saying what is wrong. */
static bool migrate_options(struct cli_options *o, const char *batch_size)
{
    o->batch_size = OG_MIGRATE_BATCH_SIZE;
    if (batch_size != NULL) {
        char *end = NULL;
        unsigned long long v;

        errno = 0;
        v = strtoull(batch_size, &end, 10);
        if (errno != 0 || end == batch_size || *end != '\0' || batch_size[0] == '-' || v < 1 ||
            v > 100000) {
            fprintf(stderr, "ocigate: --batch-size must be a number from 1 to 100000, not '%s'\n",
                    batch_size);
            return false;
        }
        o->batch_size = (size_t)v;
    }
    if (strcmp(o->format, "sarif") == 0) {
        fprintf(stderr, "ocigate: --format must be text or json, not 'sarif'\n");
        return false;
    }
    if (strcmp(o->format, "json") == 0 && o->out_dir == NULL) {
        fprintf(stderr, "ocigate: --format json needs --out (stdout carries the YAML)\n");
        return false;
    }
    if (o->force && o->out_dir == NULL) {
        fprintf(stderr, "ocigate: --force needs --out\n");
        return false;
    }
    if (o->out_dir != NULL && o->out_dir[0] == '\0') {
        fprintf(stderr, "ocigate: --out needs a directory\n");
        return false;
    }
    return true;
}

int cli_options_parse(enum cli_command cmd, int argc, char **argv, struct cli_options *o)
{
    const char *config = NULL, *mode = NULL, *max_bytes = CLI_MAX_BYTES_DEFAULT;
    const char *batch_size = NULL;
    struct og_diag diag;
    char line[1024];
    bool bad = false, dashdash = false;
    enum og_err rc;
    int i;

    memset(o, 0, sizeof(*o));
    o->format = "text";
    o->paths = calloc((size_t)argc + 1, sizeof(*o->paths));
    if (o->paths == NULL) {
        fprintf(stderr, "ocigate: out of memory\n");
        return 2;
    }
    for (i = 1; i < argc && !bad; i++) {
        const char *a = argv[i];

        if (dashdash || a[0] != '-' || strcmp(a, "-") == 0) {
            o->paths[o->n_paths++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            dashdash = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(cmd, stdout);
            return 0;
        } else if (option_value(argc, argv, &i, "--config", &config, &bad) ||
                   option_value(argc, argv, &i, "--max-bytes", &max_bytes, &bad)) {
            /* taken */
        } else if (cmd == CLI_CHECK &&
                   (option_value(argc, argv, &i, "--mode", &mode, &bad) ||
                    option_value(argc, argv, &i, "--format", &o->format, &bad))) {
            /* taken */
        } else if (cmd == CLI_CHECK && strcmp(a, "--online") == 0) {
            o->online = true;
        } else if (cmd == CLI_FIX && strcmp(a, "--dry-run") == 0) {
            o->dry_run = true;
        } else if (cmd == CLI_MIGRATE &&
                   (option_value(argc, argv, &i, "--batch-size", &batch_size, &bad) ||
                    option_value(argc, argv, &i, "--out", &o->out_dir, &bad) ||
                    option_value(argc, argv, &i, "--format", &o->format, &bad))) {
            /* taken */
        } else if (cmd == CLI_MIGRATE && strcmp(a, "--force") == 0) {
            o->force = true;
        } else if (!bad) {
            fprintf(stderr, "ocigate: unknown option '%s'\n", a);
            bad = true;
        }
    }
    if (!bad && o->n_paths == 0) {
        fprintf(stderr, "ocigate: no PATH given\n");
        bad = true;
    }
    if (!bad && strcmp(o->format, "text") != 0 && strcmp(o->format, "json") != 0 &&
        strcmp(o->format, "sarif") != 0) {
        fprintf(stderr, "ocigate: --format must be text, json or sarif, not '%s'\n", o->format);
        bad = true;
    }
    if (!bad && cmd == CLI_MIGRATE)
        bad = !migrate_options(o, batch_size);
    if (!bad && mode != NULL && strcmp(mode, "enforce") != 0 && strcmp(mode, "audit") != 0) {
        fprintf(stderr, "ocigate: --mode must be enforce or audit, not '%s'\n", mode);
        bad = true;
    }
    og_diag_clear(&diag);
    if (!bad && og_config_value_parse(OG_CONFIG_SIZE, max_bytes, strlen(max_bytes), MAX_BYTES_FLOOR,
                                      MAX_BYTES_CEILING, &o->max_bytes, &diag) != OG_OK) {
        fprintf(stderr, "ocigate: --max-bytes: %s\n", diag.msg);
        bad = true;
    }
    if (bad) {
        usage(cmd, stderr);
        return 2;
    }
    rc = config != NULL ? srv_config_load(config, &o->cfg, &diag) : og_config_new(&o->cfg);
    if (rc != OG_OK) {
        if (config != NULL)
            fprintf(stderr, "%s\n", og_diag_format(&diag, line, sizeof(line)));
        else
            fprintf(stderr, "ocigate: %s\n", og_strerror(rc));
        return 2;
    }
    /* --mode sets the file's `mode` key: namespace rules and exemptions still apply. */
    if (mode != NULL && og_config_set(o->cfg, "mode", mode, &diag) != OG_OK) {
        fprintf(stderr, "ocigate: --mode: %s\n", diag.msg);
        return 2;
    }
    if (o->online) {
        struct og_index_settings *ix = &o->cfg->index;
        struct srv_index_cache_opts co;

        if (!ix->enabled) {
            fprintf(stderr, "ocigate: --online: index analysis is disabled in the config\n");
            return 2;
        }
        /* The fetcher's one line per fetch is for a server's log, not a gate's output. */
        srv_log_set_level(SRV_LOG_WARN);
        srv_index_cache_opts_init(&co, o->cfg);
        rc = srv_index_cache_new(&co, &o->cache);
        if (rc != OG_OK) {
            fprintf(stderr, "ocigate: --online: %s\n", og_strerror(rc));
            return 2;
        }
    }
    return 0;
}

void cli_options_cleanup(struct cli_options *o)
{
    srv_index_cache_free(o->cache);
    og_config_unref(o->cfg);
    free(o->paths);
    memset(o, 0, sizeof(*o));
}

/* ---- the walk ---- */

void cli_report_error(const char *name, unsigned line, unsigned column, const char *msg)
{
    if (line > 0)
        cli_eprintf("%s:%u:%u: error: %s", name, line, column, msg);
    else
        cli_eprintf("%s: error: %s", name, msg);
}

void cli_eprintf(const char *fmt, ...)
{
    char line[4096];
    size_t len;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    len = og_str_sanitize_line(line, strlen(line));
    line[len] = '\n'; /* len < sizeof(line): vsnprintf left room for its NUL */
    (void)fwrite(line, 1, len + 1, stderr);
}

enum og_err cli_line_end(struct og_buf *out, size_t start)
{
    if (out->len > start)
        out->len = start + og_str_sanitize_line(out->ptr + start, out->len - start);
    return og_buf_append(out, "\n", 1);
}

static enum og_err add_input(struct cli_inputs *in, const char *path, const char *error)
{
    struct cli_input *items =
        og_array_grow(in->items, &in->cap, in->n, sizeof(*items), 16, SIZE_MAX);
    char *p = NULL, *e = NULL;

    if (items == NULL)
        return OG_ENOMEM;
    in->items = items;
    p = strdup(path);
    if (error != NULL)
        e = strdup(error);
    if (p == NULL || (error != NULL && e == NULL)) {
        free(p);
        free(e);
        return OG_ENOMEM;
    }
    in->items[in->n].path = p;
    in->items[in->n].error = e;
    in->n++;
    return OG_OK;
}

static bool yaml_name(const char *name)
{
    size_t n = strlen(name);

    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The directories from the root of the walk down to the one being read (a loop check). */
struct ancestors {
    dev_t dev[64];
    ino_t ino[64];
    size_t n;
};

static enum og_err walk_dir(const char *path, struct ancestors *up, struct cli_inputs *out);

/* Takes `path` found in a directory walk (or given, when `given`). */
static enum og_err walk_path(const char *path, bool given, struct ancestors *up,
                             struct cli_inputs *out)
{
    char msg[512];
    struct stat st;

    if (strcmp(path, "-") == 0 && given)
        return add_input(out, path, NULL);
    if (stat(path, &st) != 0) {
        snprintf(msg, sizeof(msg), "cannot read: %s", strerror(errno));
        return add_input(out, path, msg);
    }
    if (!S_ISDIR(st.st_mode)) {
        if (given || (S_ISREG(st.st_mode) && yaml_name(path)))
            return add_input(out, path, NULL);
        return OG_OK;
    }
    for (size_t i = 0; i < up->n; i++) {
        if (up->dev[i] == st.st_dev && up->ino[i] == st.st_ino)
            return add_input(out, path, "directory loop through symlinks (a directory above it)");
    }
    if (up->n == sizeof(up->dev) / sizeof(up->dev[0]))
        return add_input(out, path, "directories nested too deep");
    up->dev[up->n] = st.st_dev;
    up->ino[up->n] = st.st_ino;
    up->n++;
    enum og_err rc = walk_dir(path, up, out);
    up->n--;
    return rc;
}

static enum og_err walk_dir(const char *path, struct ancestors *up, struct cli_inputs *out)
{
    struct dirent *de;
    char **names = NULL, **more, msg[512];
    size_t n = 0, cap = 0;
    enum og_err rc = OG_OK;
    struct og_buf child;
    DIR *dir;

    og_buf_init(&child, 4096);
    dir = opendir(path);
    if (dir == NULL) {
        snprintf(msg, sizeof(msg), "cannot read the directory: %s", strerror(errno));
        return add_input(out, path, msg);
    }
    for (;;) {
        de = readdir(dir);
        if (de == NULL)
            break;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        more = og_array_grow(names, &cap, n, sizeof(*names), 32, SIZE_MAX);
        if (more == NULL) {
            rc = OG_ENOMEM;
            goto out;
        }
        names = more;
        names[n] = strdup(de->d_name);
        if (names[n] == NULL) {
            rc = OG_ENOMEM;
            goto out;
        }
        n++;
    }
    /* Sorted, so that the output is the same on every file system. */
    if (n > 0)
        qsort(names, n, sizeof(*names), name_cmp);
    for (size_t i = 0; rc == OG_OK && i < n; i++) {
        size_t plen = strlen(path);

        og_buf_reset(&child);
        rc = og_buf_append(&child, path, plen);
        if (rc == OG_OK && (plen == 0 || path[plen - 1] != '/'))
            rc = og_buf_append(&child, "/", 1);
        if (rc == OG_OK)
            rc = og_buf_append(&child, names[i], strlen(names[i]) + 1);
        if (rc == OG_ETOOBIG)
            rc = add_input(out, path, "a path in it is too long");
        else if (rc == OG_OK)
            rc = walk_path(child.ptr, false, up, out);
    }
out:
    closedir(dir);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    og_buf_cleanup(&child);
    return rc;
}

enum og_err cli_inputs_walk(char *const *paths, size_t n, struct cli_inputs *out)
{
    struct ancestors up;
    enum og_err rc = OG_OK;

    for (size_t i = 0; rc == OG_OK && i < n; i++) {
        up.n = 0;
        rc = walk_path(paths[i], true, &up, out);
    }
    return rc;
}

void cli_inputs_cleanup(struct cli_inputs *in)
{
    for (size_t i = 0; i < in->n; i++) {
        free(in->items[i].path);
        free(in->items[i].error);
    }
    free(in->items);
    memset(in, 0, sizeof(*in));
}

enum og_err cli_errors_add(struct cli_errors *e, const char *file, unsigned line, unsigned column,
                           const char *message)
{
    struct cli_error *items = og_array_grow(e->items, &e->cap, e->n, sizeof(*items), 8, SIZE_MAX);
    struct cli_error *x;

    if (items == NULL)
        return OG_ENOMEM;
    e->items = items;
    x = &e->items[e->n];
    x->file = strdup(file);
    x->message = strdup(message);
    x->line = line;
    x->column = column;
    if (x->file == NULL || x->message == NULL) {
        free(x->file);
        free(x->message);
        return OG_ENOMEM;
    }
    e->n++;
    return OG_OK;
}

void cli_errors_cleanup(struct cli_errors *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->items[i].file);
        free(e->items[i].message);
    }
    free(e->items);
    memset(e, 0, sizeof(*e));
}

enum og_err cli_load(const struct cli_options *o, const struct cli_input *in, char **data,
                     size_t *len, unsigned *mode, struct og_manifest **m, struct cli_errors *errors)
{
    const char *name = cli_input_name(in->path);
    struct og_manifest_limits limits = {0};
    struct og_diag diag;
    enum og_err rc;

    *data = NULL;
    *m = NULL;
    if (in->error != NULL)
        return cli_errors_add(errors, name, 0, 0, in->error);
    og_diag_clear(&diag);
    rc = cli_read_input(in->path, o->max_bytes, data, len, mode, &diag);
    if (rc == OG_EIO || rc == OG_ETOOBIG)
        return cli_errors_add(errors, name, 0, 0, diag.msg);
    if (rc != OG_OK)
        return rc;
    limits.max_bytes = (size_t)o->max_bytes;
    rc = og_manifest_parse(*data, *len, name, &limits, m, &diag);
    if (rc == OG_EPARSE || rc == OG_ETOOBIG || rc == OG_EINVAL)
        return cli_errors_add(errors, name, diag.line, diag.column, diag.msg);
    return rc;
}

const char *cli_url_shown(const char *url, struct og_buf *tmp)
{
    og_buf_reset(tmp);
    if (og_url_redact(og_str_of(url), tmp) != OG_OK)
        return OG_URL_REDACTED;
    return tmp->ptr;
}

const char *cli_input_name(const char *path)
{
    return strcmp(path, "-") == 0 ? "<stdin>" : path;
}

enum og_err cli_read_input(const char *path, uint64_t max, char **data, size_t *len, unsigned *mode,
                           struct og_diag *diag)
{
    bool is_stdin = strcmp(path, "-") == 0;
    struct og_buf buf;
    enum og_err rc = OG_OK;
    struct stat st;
    char chunk[65536];
    int fd;

    og_buf_init(&buf, (size_t)max + 1);
    fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        og_diag_set(diag, OG_EIO, "cannot read: %s", strerror(errno));
        return OG_EIO;
    }
    *mode = 0644;
    if (!is_stdin && fstat(fd, &st) == 0)
        *mode = (unsigned)(st.st_mode & 07777);
    for (;;) {
        ssize_t got = read(fd, chunk, sizeof(chunk));

        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = og_diag_set(diag, OG_EIO, "cannot read: %s", strerror(errno));
            break;
        }
        if (got == 0)
            break;
        rc = og_buf_append(&buf, chunk, (size_t)got);
        if (rc == OG_OK && buf.len > max)
            rc = OG_ETOOBIG;
        if (rc == OG_ETOOBIG) {
            char size[32];

            og_diag_set(diag, rc, "larger than --max-bytes %s",
                        og_config_value_format(OG_CONFIG_SIZE, max, size, sizeof(size)));
        }
        if (rc != OG_OK)
            break;
    }
    if (!is_stdin)
        close(fd);
    if (rc == OG_OK)
        rc = og_buf_append(&buf, "", 1);
    if (rc != OG_OK) {
        og_buf_cleanup(&buf);
        return rc;
    }
    *len = buf.len - 1;
    *data = og_buf_take(&buf, NULL);
    return *data != NULL ? OG_OK : OG_ENOMEM;
}

enum og_err cli_write_file(const char *path, const char *data, size_t len, unsigned mode, char *msg,
                           size_t size)
{
    char *real = NULL, *tmp = NULL;
    struct og_diag diag;
    const char *slash;
    enum og_err rc = OG_EIO;
    size_t dirlen, tlen;

    real = realpath(path, NULL);
    /* A new file: its name as given (the directory must exist). */
    if (real == NULL && errno == ENOENT)
        real = strdup(path);
    if (real == NULL) {
        snprintf(msg, size, "cannot resolve the path: %s", strerror(errno));
        goto out;
    }
    slash = strrchr(real, '/');
    dirlen = slash != NULL ? (size_t)(slash - real) + 1 : 0;
    tlen = strlen(real) + sizeof("/.ocigate-fix-XXXXXX");
    tmp = malloc(tlen);
    if (tmp == NULL) {
        rc = OG_ENOMEM;
        snprintf(msg, size, "out of memory");
        goto out;
    }
    if (snprintf(tmp, tlen, "%.*s.%s.ocigate-XXXXXX", (int)dirlen, real, real + dirlen) < 0)
        goto out;
    if (srv_file_write_temp(tmp, data, len, mode, &diag) != OG_OK) {
        snprintf(msg, size, "cannot write a temporary file beside it: %s", diag.msg);
        goto out;
    }
    if (rename(tmp, real) != 0) {
        snprintf(msg, size, "cannot rename the temporary file over it: %s", strerror(errno));
        goto out;
    }
    rc = OG_OK;
out:
    if (rc != OG_OK && tmp != NULL && tmp[0] != '\0')
        unlink(tmp);
    free(tmp);
    free(real);
    return rc;
}

/* A lookup's wait: the cache wakes it from one of its threads. */
struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool woken;
};

static void wake(void *arg)
{
    struct waiter *w = arg;

    pthread_mutex_lock(&w->mu);
    w->woken = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* The index verdict for `url` from the cache, waiting for its fetch to end. */
static void index_verdict(const struct cli_options *o, const char *url, struct og_index_verdict *v)
{
    const struct og_index_settings *ix = &o->cfg->index;
    /* A gate has time: the whole fetch, not an admission's budget (a margin for the loop). */
    uint64_t deadline = srv_index_now_ms() + ix->connect_timeout_ms + ix->fetch_timeout_ms + 1000;
    struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};

    if (srv_index_cache_lookup(o->cache, o->cfg, url, deadline, v, wake, &w) == SRV_INDEX_WAIT) {
        pthread_mutex_lock(&w.mu);
        while (!w.woken)
            pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        (void)srv_index_cache_lookup(o->cache, o->cfg, url, deadline, v, NULL, NULL);
    }
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
}

enum og_err cli_eval(const struct cli_options *o, const struct og_manifest_object *mo,
                     struct og_decision *d)
{
    struct og_manifest_policy_input in;
    struct og_index_verdict v;
    enum og_err rc;

    if (!og_manifest_policy_input(mo, &in)) {
        memset(d, 0, sizeof(*d));
        return OG_OK;
    }
    rc = og_policy_eval(o->cfg, &in.obj, &in.ctx, OG_ENDPOINT_VALIDATE, d);
    if (rc != OG_OK || d->index_url == NULL || o->cache == NULL)
        return rc;
    memset(&v, 0, sizeof(v));
    index_verdict(o, d->index_url, &v);
    rc = og_policy_eval_index(o->cfg, &in.obj, OG_ENDPOINT_VALIDATE, &v, d);
    og_index_verdict_cleanup(&v);
    /* OG_EINVAL: the verdict did not apply (a clean index); the first step's answer stands. */
    return rc == OG_EINVAL ? OG_OK : rc;
}

bool cli_decision_fails(const struct og_decision *d)
{
    if (d->rule == OG_RULE_NONE)
        return false;
    if (!d->allowed)
        return true;
    /* Mutate would patch it, enforce would deny it; index-pending (and unknown, and mixed)
     * is allowed in both. */
    return (d->mode == OG_MODE_MUTATE || d->mode == OG_MODE_ENFORCE) &&
           d->rule != OG_RULE_INDEX_PENDING && d->rule != OG_RULE_INDEX_UNKNOWN &&
           d->rule != OG_RULE_INDEX_MIXED;
}
