/*
 * cmd_index.c - `ocigate index analyze FILE|-`: analyzes a Helm repository index with the
 * same lib code the server runs over the network, and prints the summary and the verdict.
 *
 * Exit status: 0 the index was analyzed (whatever the verdict: it is in the output),
 * 1 the input could not be read or went over a limit, 2 bad usage or the input is not a Helm
 * index (YAML or structure error, reported as FILE:line:column).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "ocigate/buf.h"
#include "ocigate/err.h"
#include "ocigate/helm_index.h"
#include "ocigate/reader.h"

struct index_opts {
    bool human;                        /* --human: a short text form instead of JSON */
    bool charts;                       /* --charts: per-chart detail in the JSON */
    enum og_index_threshold threshold; /* --threshold newest|any */
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

/* Appends `prefix` and `s` as a JSON string. */
static enum og_err append_json_string(struct og_buf *out, const char *prefix, const char *s)
{
    cJSON *str = cJSON_CreateString(s);
    char *text = str != NULL ? cJSON_PrintUnformatted(str) : NULL;
    enum og_err rc = text != NULL ? og_buf_append_cstr(out, prefix) : OG_ENOMEM;

    if (rc == OG_OK)
        rc = og_buf_append_cstr(out, text);
    cJSON_free(text);
    cJSON_Delete(str);
    return rc;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: ocigate index analyze [--human] [--charts] [--threshold newest|any] "
                 "FILE|-\n"
                 "\n"
                 "Analyzes a Helm repository index (index.yaml or JSON) and tells whether it\n"
                 "points to OCI. Prints JSON {source, summary, verdict} by default.\n"
                 "\n"
                 "  --human           a short human-readable form\n"
                 "  --charts          include per-chart detail (newest version, oci count)\n"
                 "  --threshold T     newest (default): some chart's newest version is oci://\n"
                 "                    any: any version is oci://\n"
                 "\n"
                 "exit status: 0 analyzed (the verdict is in the output), 1 read error or\n"
                 "limit exceeded, 2 bad usage or not a Helm index\n");
}

static void print_human(const char *name, const struct og_index_summary *s,
                        const struct og_index_verdict *v)
{
    printf("index:      %s\n", name);
    printf("apiVersion: %s\n", s->api_version != NULL ? s->api_version : "(none)");
    printf("generated:  %s\n", s->generated != NULL ? s->generated : "(none)");
    printf("charts:     %u (%u with an oci:// newest version)\n", s->charts, s->charts_newest_oci);
    printf("versions:   %u: %u oci:// (%u malformed), %u http(s), %u other\n", s->versions,
           s->oci_entries, s->malformed_oci_entries, s->https_entries, s->other_entries);
    if (s->multi_url_entries > 0)
        printf("            %u with several urls, %u with a later oci:// url\n",
               s->multi_url_entries, s->secondary_oci_entries);
    for (size_t i = 0; i < s->n_bases; i++)
        printf("base:       %s (%u)\n", s->bases[i].base, s->bases[i].count);
    printf("verdict:    %s", og_index_state_name(v->state));
    if (v->state == OG_INDEX_STATE_OCI)
        printf(v->oci_base != NULL ? " (fixable: %s)" : " (not fixable: %s)",
               v->oci_base != NULL ? v->oci_base
               : v->n_bases > 1    ? "several OCI bases"
                                   : "no OCI base derivable");
    printf(": %s\n", v->detail != NULL ? v->detail : "");
}

/*
 * Analyzes the stream behind `read` and prints the result. Every source (a file, stdin and,
 * later, a URL fetched by the server's fetcher) goes through here.
 */
static int analyze_stream(og_read_fn read, void *ctx, const char *name, const struct index_opts *o)
{
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
    rc = og_helm_index_analyze(read, ctx, NULL, o->charts ? OG_INDEX_DETAIL : 0, &summary, &diag);
    if (rc != OG_OK) {
        (void)snprintf(diag.file, sizeof(diag.file), "%s", name);
        fprintf(stderr, "ocigate index analyze: %s (%s)\n", og_diag_format(&diag, msg, sizeof(msg)),
                og_strerror(rc));
        status = rc == OG_EPARSE ? 2 : 1;
        goto out;
    }
    rc = og_helm_index_decide(&summary, o->threshold, &verdict);
    if (rc != OG_OK) {
        fprintf(stderr, "ocigate index analyze: %s\n", og_strerror(rc));
        goto out;
    }
    if (o->human) {
        print_human(name, &summary, &verdict);
        status = 0;
        goto out;
    }
    rc = append_json_string(&out, "{\"source\":", name);
    if (rc == OG_OK)
        rc = og_buf_append_cstr(&out, ",\"summary\":");
    if (rc == OG_OK)
        rc = og_index_summary_format_json(&summary, &out);
    if (rc == OG_OK)
        rc = og_buf_append_cstr(&out, ",\"verdict\":");
    if (rc == OG_OK)
        rc = og_index_verdict_format_json(&verdict, &out);
    if (rc == OG_OK)
        rc = og_buf_append_cstr(&out, "}\n");
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

static bool is_url(const char *arg)
{
    const char *sep = strstr(arg, "://");

    return sep != NULL && sep > arg && strchr(arg, '/') > sep;
}

static int analyze_arg(const char *arg, const struct index_opts *o)
{
    struct fd_reader r;
    int status;

    if (is_url(arg)) {
        /* The network fetcher (server side) plugs in here with its own og_read_fn. */
        fprintf(stderr,
                "ocigate index analyze: %s: fetching an index by URL is not supported yet; "
                "download it and pass the file (or - for stdin)\n",
                arg);
        return 2;
    }
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

int srv_cmd_index(int argc, char **argv)
{
    struct index_opts o = {false, false, OG_INDEX_THRESHOLD_NEWEST};
    const char *file = NULL;

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

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--human") == 0) {
            o.human = true;
        } else if (strcmp(a, "--charts") == 0) {
            o.charts = true;
        } else if (strcmp(a, "--threshold") == 0 || strncmp(a, "--threshold=", 12) == 0) {
            const char *v = a[11] == '=' ? a + 12 : (i + 1 < argc ? argv[++i] : "");

            if (strcmp(v, "newest") == 0) {
                o.threshold = OG_INDEX_THRESHOLD_NEWEST;
            } else if (strcmp(v, "any") == 0) {
                o.threshold = OG_INDEX_THRESHOLD_ANY;
            } else {
                fprintf(stderr, "ocigate index analyze: --threshold takes newest or any\n");
                return 2;
            }
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "ocigate index analyze: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (file != NULL) {
            fprintf(stderr, "ocigate index analyze: one index at a time\n");
            return 2;
        } else {
            file = a;
        }
    }
    if (file == NULL) {
        usage(stderr);
        return 2;
    }
    return analyze_arg(file, &o);
}
