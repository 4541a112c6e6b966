/*
 * test_index_stream.c - the Helm index analyzer fed push-style (server/index_stream.c, on a
 * coroutine) gives exactly what the pull analyzer gives over the same bytes, whatever the
 * piece sizes, and ends cleanly on errors, early ends and frees midway.
 */
#include "harness.h"

#include "index_stream.h"
#include "mem_reader.h"
#include "ocigate/buf.h"
#include "ocigate/reader.h"

static const char *const files[] = {"anchors.yaml",  "artifactory.yaml",   "bom.yaml",
                                    "crlf.yaml",     "dependencies.yaml",  "http-small.yaml",
                                    "json.json",     "malformed-oci.yaml", "multi-urls.yaml",
                                    "multidoc.yaml", "oci-small.yaml",     "quoted.yaml",
                                    "relative.yaml", "semver.yaml",        "urls-first.yaml"};

/* The summary as JSON, or the error name with the diagnostic. */
static char *describe(enum og_err rc, const struct og_index_summary *s, const struct og_diag *d)
{
    struct og_buf out;
    char where[400];

    og_buf_init(&out, 64u << 20);
    if (rc == OG_OK) {
        if (og_index_summary_format_json(s, &out) != OG_OK)
            OG_FAIL_("format");
    } else {
        char line[700];
        snprintf(line, sizeof(line), "%s: %s", og_strerror(rc),
                 og_diag_format(d, where, sizeof(where)));
        if (og_buf_append(&out, line, strlen(line)) != OG_OK)
            OG_FAIL_("append");
    }
    if (og_buf_append(&out, "", 1) != OG_OK)
        OG_FAIL_("append");
    return og_buf_take(&out, NULL);
}

static char *pull(const char *data, size_t len)
{
    struct og_mem_reader r = {data, len, 0, 0};
    struct og_index_summary s;
    struct og_diag d;
    enum og_err rc;
    char *out;

    memset(&s, 0, sizeof(s));
    og_diag_clear(&d);
    rc = og_helm_index_analyze(og_mem_read, &r, NULL, OG_INDEX_DETAIL, &s, &d);
    out = describe(rc, &s, &d);
    og_index_summary_cleanup(&s);
    return out;
}

/* Feeds `data` in pieces of `piece` bytes (0: pseudo-random sizes from 1 to 5000). */
static char *push(const char *data, size_t len, size_t piece, unsigned seed)
{
    struct srv_index_stream *st = NULL;
    struct og_index_summary s;
    struct og_diag d;
    enum og_err rc = OG_OK;
    size_t off = 0;
    char *out;

    memset(&s, 0, sizeof(s));
    og_diag_clear(&d);
    ASSERT_EQ(srv_index_stream_new(NULL, OG_INDEX_DETAIL, &st), OG_OK);
    while (off < len && rc == OG_OK) {
        size_t n = piece;

        if (n == 0) {
            seed = seed * 1103515245u + 12345u;
            n = 1 + (seed >> 8) % 5000;
        }
        if (n > len - off)
            n = len - off;
        rc = srv_index_stream_feed(st, data + off, n);
        off += n;
    }
    rc = srv_index_stream_finish(st, OG_OK, &s, &d);
    out = describe(rc, &s, &d);
    og_index_summary_cleanup(&s);
    srv_index_stream_free(st);
    return out;
}

OG_TEST(same_result_as_the_pull_analyzer_in_any_pieces)
{
    static const size_t pieces[] = {1, 2, 7, 64, 4096, 16384, 0};

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[512];
        size_t len = 0;

        snprintf(path, sizeof(path), "%s/tests/data/index/%s", OG_SOURCE_DIR, files[i]);
        char *data = og_test_read_file(path, &len);
        ASSERT(data != NULL);
        char *want = pull(data, len);
        for (size_t p = 0; p < sizeof(pieces) / sizeof(pieces[0]); p++) {
            char *got = push(data, len, pieces[p], (unsigned)(i * 31 + p));
            ASSERT_STR_EQ(got, want);
            free(got);
        }
        free(want);
        free(data);
    }
}

OG_TEST(large_index_in_random_pieces)
{
    char path[512];
    size_t len = 0;

    snprintf(path, sizeof(path), "%s/index/bitnami-subset-redis-2025-01-13.yaml",
             og_test_shared_data());
    char *data = og_test_read_file(path, &len);
    if (data == NULL)
        OG_SKIP("%s is absent", path);
    char *want = pull(data, len);
    char *got = push(data, len, 0, 7);
    ASSERT_STR_EQ(got, want);
    ASSERT_STR_CONTAINS(got, "\"charts\"");
    free(got);
    free(want);
    free(data);
}

OG_TEST(errors_end_the_analysis_early)
{
    static const char bad[] = "apiVersion: v1\nentries:\n  x: [1, 2\n  y: {]\n";
    struct srv_index_stream *st = NULL;
    struct og_index_summary s;
    struct og_diag d;
    enum og_err rc = OG_OK;
    size_t off = 0;

    memset(&s, 0, sizeof(s));
    og_diag_clear(&d);
    ASSERT_EQ(srv_index_stream_new(NULL, 0, &st), OG_OK);
    while (off < sizeof(bad) - 1 && rc == OG_OK) {
        rc = srv_index_stream_feed(st, bad + off++, 1);
        /* The feed that ends the analysis says so, not only the next one. */
        ASSERT_EQ(srv_index_stream_ended(st), rc != OG_OK);
    }
    ASSERT_EQ(rc, OG_EPARSE);
    ASSERT(srv_index_stream_ended(st));
    /* Later bytes change nothing: the same error, and the transfer can stop. */
    ASSERT_EQ(srv_index_stream_feed(st, "more", 4), OG_EPARSE);
    ASSERT_EQ(srv_index_stream_finish(st, OG_OK, &s, &d), OG_EPARSE);
    ASSERT_STR_EQ(d.msg, "a chart version is not a mapping");
    ASSERT_EQ(s.charts, 0);
    srv_index_stream_free(st);

    /* A limit is an error too (max_bytes). */
    struct og_index_limits lim;
    og_index_limits_init(&lim);
    lim.max_bytes = 16;
    ASSERT_EQ(srv_index_stream_new(&lim, 0, &st), OG_OK);
    rc = srv_index_stream_feed(st, "apiVersion: v1\nentries: {}\n# padding\n", 37);
    ASSERT(rc == OG_OK || rc == OG_ETOOBIG);
    ASSERT_EQ(srv_index_stream_finish(st, OG_OK, &s, &d), OG_ETOOBIG);
    srv_index_stream_free(st);
}

OG_TEST(a_transfer_failing_midway_is_the_readers_error)
{
    static const char part[] = "apiVersion: v1\nentries:\n  demo:\n  - version: 1.0.0\n";
    struct srv_index_stream *st = NULL;
    struct og_index_summary s;
    struct og_diag d;

    memset(&s, 0, sizeof(s));
    og_diag_clear(&d);
    ASSERT_EQ(srv_index_stream_new(NULL, 0, &st), OG_OK);
    ASSERT_EQ(srv_index_stream_feed(st, part, sizeof(part) - 1), OG_OK);
    ASSERT(!srv_index_stream_ended(st));
    ASSERT_EQ(srv_index_stream_finish(st, OG_EIO, &s, &d), OG_EIO);
    srv_index_stream_free(st);

    /* Nothing fed at all: an empty body is not an index. */
    ASSERT_EQ(srv_index_stream_new(NULL, 0, &st), OG_OK);
    ASSERT_EQ(srv_index_stream_finish(st, OG_OK, &s, &d), OG_EPARSE);
    srv_index_stream_free(st);

    /* Freed midway, never finished: the suspended analysis unwinds (ASan sees no leak). */
    ASSERT_EQ(srv_index_stream_new(NULL, OG_INDEX_DETAIL, &st), OG_OK);
    ASSERT_EQ(srv_index_stream_feed(st, part, sizeof(part) - 1), OG_OK);
    srv_index_stream_free(st);
    srv_index_stream_free(NULL);
}

OG_TEST(hundreds_of_analyses_interleaved)
{
    enum { N = 300 };
    static struct srv_index_stream *st[N];
    char path[512];
    size_t len = 0;

    snprintf(path, sizeof(path), "%s/tests/data/index/oci-small.yaml", OG_SOURCE_DIR);
    char *data = og_test_read_file(path, &len);
    ASSERT(data != NULL);
    char *want = pull(data, len);
    for (int i = 0; i < N; i++)
        ASSERT_EQ(srv_index_stream_new(NULL, OG_INDEX_DETAIL, &st[i]), OG_OK);
    /* Byte by byte, round robin: each analysis is suspended N times per byte. */
    for (size_t off = 0; off < len; off++) {
        for (int i = 0; i < N; i++)
            ASSERT_EQ(srv_index_stream_feed(st[i], data + off, 1), OG_OK);
    }
    for (int i = 0; i < N; i++) {
        struct og_index_summary s;
        struct og_diag d;

        memset(&s, 0, sizeof(s));
        og_diag_clear(&d);
        enum og_err rc = srv_index_stream_finish(st[i], OG_OK, &s, &d);
        char *got = describe(rc, &s, &d);
        ASSERT_STR_EQ(got, want);
        free(got);
        og_index_summary_cleanup(&s);
        srv_index_stream_free(st[i]);
    }
    free(want);
    free(data);
}

OG_TEST_MAIN(OG_T(same_result_as_the_pull_analyzer_in_any_pieces),
             OG_T(large_index_in_random_pieces), OG_T(errors_end_the_analysis_early),
             OG_T(a_transfer_failing_midway_is_the_readers_error),
             OG_T(hundreds_of_analyses_interleaved))
