/*
 * cmd_index.c - `ocigate index analyze FILE|-|URL`: analyzes a Helm repository index with the
 * same lib code the server runs over the network, and prints the summary and the verdict. A
 * URL is fetched with the server's fetcher, SSRF guard included (fetch.h).
 *
 * Exit status: 0 the index was analyzed (whatever the verdict: it is in the output),
 * 1 the input could not be read or went over a limit, 2 bad usage or the input is not a Helm
 * index (YAML or structure error, reported as FILE:line:column).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "fetch.h"
#include "index_fetch.h"
#include "key_flags.h"
#include "ocigate/buf.h"
#include "ocigate/config.h"
#include "ocigate/err.h"
#include "ocigate/helm_index.h"
#include "ocigate/json.h"
#include "ocigate/reader.h"
#include "ocigate/url.h"

struct index_opts {
    bool human;                  /* --human: a short text form instead of JSON */
    bool charts;                 /* --charts: per-chart detail in the JSON */
    struct og_config *cfg;       /* defaults, and the index keys the options set */
    struct srv_fetch_opts fetch; /* for a URL: from cfg's index keys */
};

/* An og_read_fn over a file descriptor. */
struct fd_reader {
    int fd;
};

static enum og_err fd_read(void *ctx, char *buf, size_t cap, size_t *n)
{
    struct fd_reader *r = ctx;
    ssize_t got;

    do {
        got = read(r->fd, buf, cap);
    } while (got < 0 && errno == EINTR);
    if (got < 0)
        return OG_EIO;
    *n = (size_t)got;
    return OG_OK;
}

/* Writes {"source":NAME,"summary":{...},"verdict":{...}} and a newline to `out`. */
static enum og_err format_json(const char *name, const struct og_index_summary *s,
                               const struct og_index_verdict *v, struct og_buf *out)
{
    struct og_buf part;
    struct og_json w;
    enum og_err rc;

    og_buf_init(&part, out->max);
    og_json_init(&w, out);
    og_json_object_begin(&w);
    og_json_key(&w, "source");
    og_json_cstr(&w, name);
    og_json_key(&w, "summary");
    rc = og_index_summary_format_json(s, &part);
    if (rc == OG_OK)
        og_json_raw(&w, og_buf_view(&part));
    og_buf_reset(&part);
    og_json_key(&w, "verdict");
    if (rc == OG_OK)
        rc = og_index_verdict_format_json(v, &part);
    if (rc == OG_OK)
        og_json_raw(&w, og_buf_view(&part));
    og_json_object_end(&w);
    if (rc == OG_OK)
        rc = og_json_finish(&w);
    if (rc == OG_OK)
        rc = og_buf_append(out, "\n", 1);
    og_buf_cleanup(&part);
    return rc;
}

/*
 * The options that set an index key go through the key's own parser, as the serve flags do
 * (key_flags.h): the file's syntax, limits and messages.
 */
static const struct srv_key_flag analyze_keys[] = {
    {"threshold", "index.threshold"},
    {"allow-host", "index.allowHosts"},
    {"allow-cidr", "index.allowCIDRs"},
    {"timeout", "index.fetchTimeout"},
    {NULL, NULL},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: ocigate index analyze [--human] [--charts] [--threshold newest|any] "
                 "FILE|-|URL\n"
                 "\n"
                 "Analyzes a Helm repository index (index.yaml or JSON) and tells whether it\n"
                 "points to OCI. Prints JSON {source, summary, verdict} by default.\n"
                 "A repository URL (http or https) is fetched as URL/index.yaml (a URL ending\n"
                 "in .yaml or .json as it is) with the server's fetcher and SSRF guard.\n"
                 "The verdict's state is clean, oci, or mixed: oci, but some chart's http(s)\n"
                 "newest version is newer than the first oci:// entry (index.onMixed decides).\n"
                 "\n"
                 "  --human           a short human-readable form\n"
                 "  --charts          include per-chart detail (newest version, oci count)\n"
                 "\n"
                 "configuration keys, with the values and limits of the config file:\n");
    srv_key_flags_usage(out, analyze_keys);
    fprintf(out, "\n"
                 "exit status: 0 analyzed (the verdict is in the output), 1 read error or\n"
                 "limit exceeded, 2 bad usage or not a Helm index\n");
}

/* One line "label a, b, c (+N more)" of the charts a verdict names; nothing when none. */
static void print_names(const char *label, char *const *names, size_t n, uint32_t total)
{
    if (n == 0)
        return;
    printf("%s", label);
    for (size_t i = 0; i < n; i++)
        printf("%s%s", i > 0 ? ", " : " ", names[i]);
    if (total > n)
        printf(" (+%u more)", (unsigned)(total - n));
    printf("\n");
}

static void print_human(const char *name, const struct og_index_summary *s,
                        const struct og_index_verdict *v)
{
    printf("index:      %s\n", name);
    printf("apiVersion: %s\n", s->api_version != NULL ? s->api_version : "(none)");
    printf("generated:  %s\n", s->generated != NULL ? s->generated : "(none)");
    printf("charts:     %u (%u with an oci:// newest version, %u with an http(s) one)\n", s->charts,
           s->charts_newest_oci, s->charts_newest_https);
    if (s->first_oci_created != NULL)
        printf("first oci:  %s (later http(s) newest versions: %u)\n", s->first_oci_created,
               s->charts_https_after_oci);
    printf("versions:   %u: %u oci:// (%u malformed), %u http(s), %u other\n", s->versions,
           s->oci_entries, s->malformed_oci_entries, s->https_entries, s->other_entries);
    if (s->multi_url_entries > 0)
        printf("            %u with several urls, %u with a later oci:// url\n",
               s->multi_url_entries, s->secondary_oci_entries);
    for (size_t i = 0; i < s->n_bases; i++)
        printf("base:       %s (%u)\n", s->bases[i].base, s->bases[i].count);
    printf("verdict:    %s", og_index_state_name(v->state));
    if (v->state == OG_INDEX_STATE_MIXED)
        printf(" (never patched unless index.onMixed is moved)");
    else if (v->state == OG_INDEX_STATE_OCI)
        printf(v->oci_base != NULL ? " (fixable: %s)" : " (not fixable: %s)",
               v->oci_base != NULL ? v->oci_base
               : v->n_bases > 1    ? "several OCI bases"
                                   : "no OCI base derivable");
    printf(": %s\n", v->detail != NULL ? v->detail : "");
    print_names("moved:     ", v->oci_charts, v->n_oci_charts, v->charts_newest_oci);
    print_names("http(s):   ", v->https_charts, v->n_https_charts, v->charts_https_after_oci);
}

/*
 * Analyzes the stream behind `read` and prints the result. Every source (a file, stdin, a URL
 * fetched by the server's fetcher) goes through here.
 */
static int analyze_stream(og_read_fn read, void *ctx, const char *name, const struct index_opts *o)
{
    struct og_index_limits limits;
    struct og_index_summary summary;
    struct og_index_verdict verdict;
    struct og_diag diag;
    struct og_buf out;
    char msg[1024];
    enum og_err rc;
    int status = 1;

    memset(&summary, 0, sizeof(summary));
    memset(&verdict, 0, sizeof(verdict));
    og_buf_init(&out, (size_t)64 << 20);
    og_diag_clear(&diag);
    og_index_limits_init(&limits);
    srv_index_hash_key(limits.hash_key);
    rc =
        og_helm_index_analyze(read, ctx, &limits, o->charts ? OG_INDEX_DETAIL : 0, &summary, &diag);
    if (rc != OG_OK) {
        (void)snprintf(diag.file, sizeof(diag.file), "%s", name);
        fprintf(stderr, "ocigate index analyze: %s (%s)\n", og_diag_format(&diag, msg, sizeof(msg)),
                og_strerror(rc));
        status = rc == OG_EPARSE ? 2 : 1;
        goto out;
    }
    rc = og_helm_index_decide(&summary, o->cfg->index.threshold, &verdict);
    if (rc != OG_OK) {
        fprintf(stderr, "ocigate index analyze: %s\n", og_strerror(rc));
        goto out;
    }
    if (o->human) {
        print_human(name, &summary, &verdict);
        status = 0;
        goto out;
    }
    rc = format_json(name, &summary, &verdict, &out);
    if (rc == OG_OK && fwrite(out.ptr, 1, out.len, stdout) != out.len)
        rc = OG_EIO;
    if (rc != OG_OK) {
        fprintf(stderr, "ocigate index analyze: %s\n", og_strerror(rc));
        goto out;
    }
    status = 0;
out:
    og_buf_cleanup(&out);
    og_index_verdict_cleanup(&verdict);
    og_index_summary_cleanup(&summary);
    return status;
}

/* Fetches the index of the repository at `arg` and analyzes it as it arrives. */
static int analyze_url(const char *arg, const struct index_opts *o)
{
    struct srv_fetch *f = NULL;
    struct og_diag diag;
    struct og_url u;
    /* A url that already names the index file is fetched as it is; a repository's gets
     * /index.yaml as Flux would add it. One that does not parse goes as it is too, for the
     * fetcher to refuse with its reason. */
    bool literal = og_url_parse(og_str_of(arg), &u, NULL) != OG_OK ||
                   og_str_has_suffix(u.path, OG_STR_LIT(".yaml")) ||
                   og_str_has_suffix(u.path, OG_STR_LIT(".json"));
    char *url = literal ? strdup(arg) : srv_index_url(arg);
    /* What is printed shows the urls as og_url_redact() does: output lands in CI logs. */
    struct og_buf shown_arg, shown_url;
    enum og_err rc;
    int status = 1;

    og_buf_init(&shown_arg, SIZE_MAX / 2);
    og_buf_init(&shown_url, SIZE_MAX / 2);
    if (url == NULL || og_url_redact(og_str_of(arg), &shown_arg) != OG_OK ||
        og_url_redact(og_str_of(url), &shown_url) != OG_OK) {
        fprintf(stderr, "ocigate index analyze: out of memory\n");
        goto out;
    }
    og_diag_clear(&diag);
    rc = srv_fetch_open(url, &o->fetch, &f, &diag);
    if (rc != OG_OK) {
        fprintf(stderr, "ocigate index analyze: %s: %s\n", shown_arg.ptr, diag.msg);
        status = rc == OG_EINVAL ? 2 : 1;
        goto out;
    }
    rc = srv_fetch_begin(f);
    if (rc != OG_OK || srv_fetch_status(f) != 200) {
        fprintf(stderr, "ocigate index analyze: %s: %s\n", shown_url.ptr,
                srv_fetch_detail(f) != NULL ? srv_fetch_detail(f) : og_strerror(rc));
        goto out;
    }
    status = analyze_stream(srv_fetch_read, f, shown_url.ptr, o);
    if (status != 0 && srv_fetch_detail(f) != NULL)
        fprintf(stderr, "ocigate index analyze: %s: %s\n", shown_url.ptr, srv_fetch_detail(f));
out:
    srv_fetch_free(f);
    free(url);
    og_buf_cleanup(&shown_arg);
    og_buf_cleanup(&shown_url);
    return status;
}

static int analyze_arg(const char *arg, const struct index_opts *o)
{
    struct fd_reader r;
    int status;

    if (og_url_kind(og_str_of(arg)) != OG_URL_NONE)
        return analyze_url(arg, o);
    if (strcmp(arg, "-") == 0) {
        r.fd = STDIN_FILENO;
        return analyze_stream(fd_read, &r, "<stdin>", o);
    }
    r.fd = open(arg, O_RDONLY | O_CLOEXEC);
    if (r.fd < 0) {
        fprintf(stderr, "ocigate index analyze: %s: %s\n", arg, strerror(errno));
        return 1;
    }
    status = analyze_stream(fd_read, &r, arg, o);
    close(r.fd);
    return status;
}

/* The value of option `a` (argv[*i]): after '=' or the next argument; NULL when missing. */
static const char *option_value(const char *a, size_t name_len, int argc, char **argv, int *i)
{
    if (a[name_len] == '=')
        return a + name_len + 1;
    return *i + 1 < argc ? argv[++*i] : NULL;
}

/* True when `a` is option `name`, alone or as name=value. */
static bool is_option(const char *a, const char *name)
{
    size_t n = strlen(name);

    return strncmp(a, name, n) == 0 && (a[n] == '\0' || a[n] == '=');
}

/* Sets the key of option `a` (argv[*i], "--name" or "--name=value"). Returns -1 or a status. */
static int key_option(const struct srv_key_flag *k, const char *a, int argc, char **argv, int *i,
                      struct og_config *cfg)
{
    struct srv_key_flag_arg arg = {k, option_value(a, strlen(k->name) + 2, argc, argv, i)};
    struct og_diag diag;
    char line[512];

    if (arg.value == NULL || arg.value[0] == '\0') {
        fprintf(stderr, "ocigate index analyze: --%s needs a value\n", k->name);
        return 2;
    }
    og_diag_clear(&diag);
    if (srv_key_flags_apply(&arg, 1, cfg, &diag) == OG_OK)
        return -1;
    fprintf(stderr, "ocigate index analyze: %s\n", og_diag_format(&diag, line, sizeof(line)));
    return 2;
}

/* Parses the arguments into `o` (key options into `o->cfg`) and `*file`. Returns -1 to go on,
 * else the exit status. */
static int parse_args(int argc, char **argv, struct index_opts *o, const char **file)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "analyze") != 0) {
        fprintf(stderr, "ocigate index: unknown subcommand '%s'\n", argv[1]);
        usage(stderr);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const struct srv_key_flag *k = analyze_keys;
        char name[32];

        while (k->name != NULL &&
               (snprintf(name, sizeof(name), "--%s", k->name) < 0 || !is_option(a, name)))
            k++;
        if (k->name != NULL) {
            int status = key_option(k, a, argc, argv, &i, o->cfg);

            if (status >= 0)
                return status;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--human") == 0) {
            o->human = true;
        } else if (strcmp(a, "--charts") == 0) {
            o->charts = true;
        } else if (is_option(a, "--timeout-ms")) {
            fprintf(stderr, "ocigate index analyze: --timeout-ms was renamed to --timeout, which "
                            "takes a duration as the file does (e.g. --timeout 30s)\n");
            return 2;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "ocigate index analyze: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (*file != NULL) {
            fprintf(stderr, "ocigate index analyze: one index at a time\n");
            return 2;
        } else {
            *file = a;
        }
    }
    if (*file == NULL) {
        usage(stderr);
        return 2;
    }
    /* The fetch follows the index keys, as the server's fetches do. */
    srv_fetch_opts_from_settings(&o->fetch, &o->cfg->index);
    return -1;
}

int srv_cmd_index(int argc, char **argv)
{
    struct index_opts o = {false, false, NULL, {0}};
    const char *file = NULL;
    int status;

    srv_fetch_opts_init(&o.fetch);
    if (og_config_new(&o.cfg) != OG_OK) {
        fprintf(stderr, "ocigate index analyze: out of memory\n");
        return 1;
    }
    status = parse_args(argc, argv, &o, &file);
    if (status < 0)
        status = analyze_arg(file, &o);
    og_config_unref(o.cfg);
    return status;
}
