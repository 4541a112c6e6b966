/*
 * test_fetch.c - the index fetcher against tests/integration/indexsrv.py on 127.0.0.1.
 */
#include "harness.h"
#include "indexsrv.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "fetch.h"
#include "ocigate/buf.h"

static const char *const loopback_cidrs[] = {"127.0.0.0/8"};

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * What each test sets up for itself: an index server of its own (so that no test sees another's
 * slow answers or counters) and the lock under which its push fetches report.
 */
struct fixture {
    struct og_indexsrv srv;
    pthread_mutex_t m;
    pthread_cond_t cv;
};

static void start_server(struct og_indexsrv *s)
{
    if (og_indexsrv_start(s, "127.0.0.2") != 0)
        OG_FAIL_("cannot start indexsrv.py");
}

static void setup(struct fixture *fx)
{
    memset(fx, 0, sizeof(*fx));
    pthread_mutex_init(&fx->m, NULL);
    pthread_cond_init(&fx->cv, NULL);
    start_server(&fx->srv);
}

static void teardown(struct fixture *fx)
{
    og_indexsrv_stop(&fx->srv);
    pthread_cond_destroy(&fx->cv);
    pthread_mutex_destroy(&fx->m);
}

/* Options that let tests reach the loopback server. */
static void loopback_opts(struct srv_fetch_opts *o)
{
    srv_fetch_opts_init(o);
    o->allow_cidrs = loopback_cidrs;
    o->n_allow_cidrs = 1;
}

struct result {
    enum og_err begin, read;
    long status;
    char detail[256];
    struct og_buf body;
    unsigned refused;
    size_t max_read; /* largest chunk one read returned */
};

/* Opens, begins and reads `path` on the test server in reads of `chunk` bytes. */
static void fetch_path(const struct og_indexsrv *srv, const char *path,
                       const struct srv_fetch_opts *o, size_t chunk, struct result *r)
{
    char url[512], buf[4096];
    struct srv_fetch *f = NULL;
    struct og_diag d;

    memset(r, 0, sizeof(*r));
    og_buf_init(&r->body, 512u << 20);
    snprintf(url, sizeof(url), "%s%s", srv->base, path);
    og_diag_clear(&d);
    if (srv_fetch_open(url, o, &f, &d) != OG_OK)
        OG_FAIL_("open %s: %s", url, d.msg);
    r->begin = srv_fetch_begin(f);
    r->status = srv_fetch_status(f);
    if (r->begin == OG_OK && r->status == 200) {
        for (;;) {
            size_t n = 0;
            r->read = srv_fetch_read(f, buf, chunk < sizeof(buf) ? chunk : sizeof(buf), &n);
            if (r->read != OG_OK || n == 0)
                break;
            if (n > r->max_read)
                r->max_read = n;
            if (og_buf_append(&r->body, buf, n) != OG_OK)
                OG_FAIL_("body too large for the test");
        }
    }
    snprintf(r->detail, sizeof(r->detail), "%s",
             srv_fetch_detail(f) != NULL ? srv_fetch_detail(f) : "");
    r->refused = srv_fetch_refused(f);
    srv_fetch_free(f);
}

OG_TEST(fetch_200_streams_the_file)
{
    struct fixture fx;
    struct srv_fetch_opts o;
    struct result r;
    size_t len = 0;
    char *want = og_test_read_file(OG_SOURCE_DIR "/tests/data/index/oci-small.yaml", &len);

    setup(&fx);
    ASSERT(want != NULL);
    loopback_opts(&o);
    fetch_path(&fx.srv, "/repo/oci-small/index.yaml", &o, 7, &r);
    ASSERT_EQ(r.begin, OG_OK);
    ASSERT_EQ(r.read, OG_OK);
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(r.detail, "");
    ASSERT_EQ(r.body.len, len);
    ASSERT(memcmp(r.body.ptr, want, len) == 0);
    ASSERT(r.max_read <= 7);
    og_buf_cleanup(&r.body);
    free(want);

    char *ua = og_indexsrv_last_header(&fx.srv, "user-agent");
    char *ae = og_indexsrv_last_header(&fx.srv, "accept-encoding");
    char *auth = og_indexsrv_last_header(&fx.srv, "authorization");
    ASSERT_STR_EQ(ua, "ocigate/" OG_VERSION " (+https://github.com/ocigate/ocigate)");
    ASSERT_STR_CONTAINS(ae, "gzip");
    ASSERT(auth == NULL);
    free(ua);
    free(ae);
    teardown(&fx);
}

OG_TEST(fetch_gzip_is_decoded)
{
    struct fixture fx;
    struct srv_fetch_opts o;
    struct result r;
    size_t len = 0;
    char *want = og_test_read_file(OG_SOURCE_DIR "/tests/data/index/http-small.yaml", &len);

    setup(&fx);
    loopback_opts(&o);
    fetch_path(&fx.srv, "/gzip/http-small/index.yaml", &o, 4096, &r);
    ASSERT_EQ(r.begin, OG_OK);
    ASSERT_EQ(r.read, OG_OK);
    ASSERT_EQ(r.body.len, len);
    ASSERT(memcmp(r.body.ptr, want, len) == 0);
    og_buf_cleanup(&r.body);
    free(want);
    teardown(&fx);
}

OG_TEST(fetch_large_index_in_small_reads)
{
    struct fixture fx;
    char path[512];
    size_t len = 0;
    struct srv_fetch_opts o;
    struct result r;

    snprintf(path, sizeof(path), "%s/index/bitnami-index-2023-03-01.yaml", og_test_shared_data());
    char *want = og_test_read_file(path, &len);
    if (want == NULL)
        OG_SKIP("%s is absent", path);
    setup(&fx);
    loopback_opts(&o);
    fetch_path(&fx.srv, "/gzip/bitnami-index-2023-03-01/index.yaml", &o, 1000, &r);
    ASSERT_EQ(r.begin, OG_OK);
    ASSERT_EQ(r.read, OG_OK);
    ASSERT_EQ(r.body.len, len);
    ASSERT(memcmp(r.body.ptr, want, len) == 0);
    og_buf_cleanup(&r.body);
    free(want);
    teardown(&fx);
}

OG_TEST(fetch_http_errors_are_statuses)
{
    struct fixture fx;
    static const struct {
        const char *path;
        long status;
        const char *detail;
    } rows[] = {
        {"/status/404/index.yaml", 404, "HTTP 404"}, {"/status/401/index.yaml", 401, "HTTP 401"},
        {"/status/403/index.yaml", 403, "HTTP 403"}, {"/status/503/index.yaml", 503, "HTTP 503"},
        {"/status/204/index.yaml", 204, "HTTP 204"}, {"/no/such/path", 404, "HTTP 404"},
    };
    struct srv_fetch_opts o;

    setup(&fx);
    loopback_opts(&o);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct result r;

        fetch_path(&fx.srv, rows[i].path, &o, 4096, &r);
        ASSERT_EQ(r.begin, OG_OK);
        ASSERT_EQ(r.status, rows[i].status);
        ASSERT_STR_EQ(r.detail, rows[i].detail);
        og_buf_cleanup(&r.body);
    }
    teardown(&fx);
}

/*
 * Pull mode: the validators of a 200 are taken from it; sent back, they get a 304 that counts
 * only from their own url; a 304 to a request without validators is an error.
 */
OG_TEST(conditional_fetch_and_not_modified)
{
    struct fixture fx;
    struct srv_fetch_validators val = {NULL, NULL, NULL}, other;
    struct srv_fetch_opts o;
    struct srv_fetch *f = NULL;
    struct result r;
    char url[256], *moved = NULL;

    setup(&fx);
    loopback_opts(&o);
    snprintf(url, sizeof(url), "%s/repo/oci-small/index.yaml", fx.srv.base);
    ASSERT_EQ(srv_fetch_open(url, &o, &f, NULL), OG_OK);
    ASSERT_EQ(srv_fetch_begin(f), OG_OK);
    ASSERT_EQ(srv_fetch_status(f), 200);
    ASSERT_EQ(srv_fetch_get_validators(f, &val), OG_OK);
    srv_fetch_free(f);
    ASSERT(val.etag != NULL && val.etag[0] == '"');
    ASSERT(val.last_modified != NULL);
    ASSERT_STR_EQ(val.url, url);

    o.validators = &val;
    fetch_path(&fx.srv, "/repo/oci-small/index.yaml", &o, 4096, &r);
    ASSERT_EQ(r.begin, OG_OK);
    ASSERT_EQ(r.status, 304);
    ASSERT_STR_EQ(r.detail, "");
    ASSERT_EQ(r.body.len, 0);
    og_buf_cleanup(&r.body);

    /* The same ETag from another url is not an answer to ours. */
    moved = strdup(url);
    ASSERT(moved != NULL);
    other = val;
    other.url = moved;
    moved[strlen(moved) - 1] = 'X';
    o.validators = &other;
    fetch_path(&fx.srv, "/repo/oci-small/index.yaml", &o, 4096, &r);
    ASSERT_EQ(r.begin, OG_EIO);
    ASSERT_EQ(r.status, 304);
    ASSERT_STR_EQ(r.detail, "HTTP 304 Not Modified from another url than the validators'");
    og_buf_cleanup(&r.body);
    free(moved);

    o.validators = NULL;
    fetch_path(&fx.srv, "/status/304/index.yaml", &o, 4096, &r);
    ASSERT_EQ(r.begin, OG_EIO);
    ASSERT_STR_EQ(r.detail, "HTTP 304 Not Modified to a request without validators");
    og_buf_cleanup(&r.body);
    srv_fetch_validators_cleanup(&val);
    ASSERT(val.etag == NULL && val.url == NULL);
    teardown(&fx);
}

/* Only well-formed, short validators are kept from a 200: others are NULL (not stored). */
OG_TEST(hostile_validators_are_not_kept)
{
    struct fixture fx;
    static const struct {
        const char *etag, *date;           /* url-escaped, "-" for none */
        const char *kept_etag, *kept_date; /* NULL: dropped */
    } rows[] = {
        {"%22ok%22", "Mon,%2001%20Jan%202024%2000:00:00%20GMT", "\"ok\"",
         "Mon, 01 Jan 2024 00:00:00 GMT"},
        {"W%2F%22w1%22", "-", "W/\"w1\"", NULL},
        {"%22a%01b%22", "-", NULL, NULL},
        {"%22a%7Fb%22", "-", NULL, NULL},
        {"%22a%20b%22", "-", NULL, NULL},
        {"%22a%22b%22", "-", NULL, NULL},
        {"%22a%C3%A9%22", "-", NULL, NULL}, /* obs-text */
        {"unquoted", "-", NULL, NULL},
        {"w%2F%22lower%22", "-", NULL, NULL},
        {"%22", "-", NULL, NULL},
        {"-", "Mon,%2001%20Jan%202024%2000:00:00%20GMT%01", NULL, NULL},
        {"-", "yesterday", NULL, NULL},
        {"%22ok%22", "not%20a%20date", "\"ok\"", NULL},
    };
    struct srv_fetch_opts o;
    char url[9000], big[8400];
    size_t n;

    setup(&fx);
    loopback_opts(&o);
    for (size_t i = 0; i <= sizeof(rows) / sizeof(rows[0]); i++) {
        struct srv_fetch_validators val;
        struct srv_fetch *f = NULL;
        bool last = i == sizeof(rows) / sizeof(rows[0]);

        if (last) {
            /* An 8 KiB entity-tag, well formed but past SRV_FETCH_ETAG_MAX. */
            n = (size_t)snprintf(big, sizeof(big), "%%22");
            while (n + 3 < 8195)
                big[n++] = 'x';
            memcpy(big + n, "%22", 4);
            snprintf(url, sizeof(url), "%s/hdr/%s/-/oci-small/index.yaml", fx.srv.base, big);
        } else {
            snprintf(url, sizeof(url), "%s/hdr/%s/%s/oci-small/index.yaml", fx.srv.base,
                     rows[i].etag, rows[i].date);
        }
        ASSERT_EQ(srv_fetch_open(url, &o, &f, NULL), OG_OK);
        ASSERT_EQ(srv_fetch_begin(f), OG_OK);
        ASSERT_EQ(srv_fetch_status(f), 200);
        ASSERT_EQ(srv_fetch_get_validators(f, &val), OG_OK);
        srv_fetch_free(f);
        if (last || rows[i].kept_etag == NULL)
            ASSERT(val.etag == NULL);
        else
            ASSERT_STR_EQ(val.etag, rows[i].kept_etag);
        if (last || rows[i].kept_date == NULL)
            ASSERT(val.last_modified == NULL);
        else
            ASSERT_STR_EQ(val.last_modified, rows[i].kept_date);
        ASSERT_EQ(val.url != NULL, val.etag != NULL || val.last_modified != NULL);
        srv_fetch_validators_cleanup(&val);
    }
    teardown(&fx);
}

OG_TEST(guard_refuses_loopback_by_default)
{
    struct fixture fx;
    struct srv_fetch_opts o;
    struct result r;

    setup(&fx);
    srv_fetch_opts_init(&o);
    og_indexsrv_reset(&fx.srv);
    fetch_path(&fx.srv, "/repo/oci-small/index.yaml", &o, 4096, &r);
    ASSERT_EQ(r.begin, OG_EIO);
    ASSERT_STR_EQ(r.detail, "address 127.0.0.1 is not allowed");
    ASSERT(r.refused >= 1);
    ASSERT_EQ(og_indexsrv_count(&fx.srv, "connections"), 0);
    og_buf_cleanup(&r.body);
    teardown(&fx);
}

/* With the guard off (opts.guard false) the same fetch goes through. */
OG_TEST(guard_off_lets_loopback_through)
{
    struct fixture fx;
    struct srv_fetch_opts o;
    struct result r;

    setup(&fx);
    srv_fetch_opts_init(&o);
    o.guard = false;
    og_indexsrv_reset(&fx.srv);
    fetch_path(&fx.srv, "/repo/oci-small/index.yaml", &o, 1u << 20, &r);
    ASSERT_EQ(r.begin, OG_OK);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(r.refused, 0);
    ASSERT(r.body.len > 0);
    og_buf_cleanup(&r.body);
    teardown(&fx);
}

OG_TEST(guard_allow_hosts_by_name)
{
    struct fixture fx;
    const char *const hosts[] = {"LocalHost"};
    char url[256];
    struct srv_fetch_opts o;
    struct srv_fetch *f = NULL;

    setup(&fx);
    srv_fetch_opts_init(&o);
    o.allow_hosts = hosts;
    o.n_allow_hosts = 1;
    snprintf(url, sizeof(url), "http://localhost:%d/repo/oci-small/index.yaml", fx.srv.port);
    ASSERT_EQ(srv_fetch_open(url, &o, &f, NULL), OG_OK);
    ASSERT_EQ(srv_fetch_begin(f), OG_OK);
    ASSERT_EQ(srv_fetch_status(f), 200);
    srv_fetch_free(f);

    /* The same server by address is not the allowed name. */
    struct result r;
    fetch_path(&fx.srv, "/repo/oci-small/index.yaml", &o, 4096, &r);
    ASSERT_EQ(r.begin, OG_EIO);
    ASSERT_STR_EQ(r.detail, "address 127.0.0.1 is not allowed");
    og_buf_cleanup(&r.body);

    /* An allowed name that redirects to an address the guard refuses. */
    snprintf(url, sizeof(url), "http://localhost:%d/to/http%%3A%%2F%%2F127.0.0.2%%3A%d%%2Fx",
             fx.srv.port, fx.srv.sentinel_port);
    f = NULL;
    ASSERT_EQ(srv_fetch_open(url, &o, &f, NULL), OG_OK);
    ASSERT_EQ(srv_fetch_begin(f), OG_EIO);
    ASSERT_STR_EQ(srv_fetch_detail(f), "address 127.0.0.2 is not allowed");
    srv_fetch_free(f);
    ASSERT_EQ(og_indexsrv_count(&fx.srv, "sentinel_connections"), 0);
    teardown(&fx);
}

OG_TEST(guard_checks_every_redirect)
{
    struct fixture fx;
    const char *const only_one[] = {"127.0.0.1/32"};
    char path[256];
    struct srv_fetch_opts o;
    struct result r;

    setup(&fx);
    srv_fetch_opts_init(&o);
    o.allow_cidrs = only_one;
    o.n_allow_cidrs = 1;
    og_indexsrv_reset(&fx.srv);

    /* 127.0.0.2 is loopback too and listens, but is not in the allowed CIDR. */
    snprintf(path, sizeof(path), "/to/http%%3A%%2F%%2F127.0.0.2%%3A%d%%2Findex.yaml",
             fx.srv.sentinel_port);
    fetch_path(&fx.srv, path, &o, 4096, &r);
    ASSERT_EQ(r.begin, OG_EIO);
    ASSERT_STR_EQ(r.detail, "address 127.0.0.2 is not allowed");
    og_buf_cleanup(&r.body);
    ASSERT_EQ(og_indexsrv_count(&fx.srv, "sentinel_connections"), 0);

    fetch_path(&fx.srv, "/to/http%3A%2F%2F10.0.0.1%2Findex.yaml", &o, 4096, &r);
    ASSERT_STR_EQ(r.detail, "address 10.0.0.1 is not allowed");
    og_buf_cleanup(&r.body);
    fetch_path(&fx.srv, "/to/http%3A%2F%2F169.254.169.254%2Flatest%2Fmeta-data%2F", &o, 4096, &r);
    ASSERT_STR_EQ(r.detail, "address 169.254.169.254 is not allowed");
    og_buf_cleanup(&r.body);
    fetch_path(&fx.srv, "/to/http%3A%2F%2F%5B%3A%3Affff%3A127.0.0.2%5D%3A1%2F", &o, 4096, &r);
    ASSERT_STR_EQ(r.detail, "address ::ffff:127.0.0.2 is not allowed");
    og_buf_cleanup(&r.body);
    fetch_path(&fx.srv, "/to/http%3A%2F%2F%5B%3A%3A1%5D%3A1%2F", &o, 4096, &r);
    ASSERT_STR_EQ(r.detail, "address ::1 is not allowed");
    og_buf_cleanup(&r.body);
    /* Decimal host forms resolve to the same address, which is what is checked. */
    fetch_path(&fx.srv, "/to/http%3A%2F%2F2130706434%3A1%2F", &o, 4096, &r);
    ASSERT_STR_EQ(r.detail, "address 127.0.0.2 is not allowed");
    og_buf_cleanup(&r.body);
    teardown(&fx);
}

OG_TEST(redirect_rules)
{
    struct fixture fx;
    struct srv_fetch_opts o;
    struct result r;

    setup(&fx);
    loopback_opts(&o);
    fetch_path(&fx.srv, "/hops/3/oci-small/index.yaml", &o, 4096, &r);
    ASSERT_EQ(r.begin, OG_OK);
    ASSERT_EQ(r.status, 200);
    ASSERT(r.body.len > 100);
    og_buf_cleanup(&r.body);

    fetch_path(&fx.srv, "/hops/4/oci-small/index.yaml", &o, 4096, &r);
    ASSERT_EQ(r.begin, OG_EIO);
    ASSERT_STR_EQ(r.detail, "more than 3 redirects");
    og_buf_cleanup(&r.body);

    fetch_path(&fx.srv, "/loop/index.yaml", &o, 4096, &r);
    ASSERT_EQ(r.begin, OG_EIO);
    ASSERT_STR_EQ(r.detail, "more than 3 redirects");
    og_buf_cleanup(&r.body);

    fetch_path(&fx.srv, "/to/file%3A%2F%2F%2Fetc%2Fpasswd", &o, 4096, &r);
    ASSERT_EQ(r.begin, OG_EIO);
    ASSERT_STR_EQ(r.detail, "redirect to a url that is not http(s)");
    og_buf_cleanup(&r.body);

    fetch_path(&fx.srv, "/to/gopher%3A%2F%2F127.0.0.1%3A70%2F", &o, 4096, &r);
    ASSERT_EQ(r.begin, OG_EIO);
    ASSERT_STR_EQ(r.detail, "redirect to a url that is not http(s)");
    og_buf_cleanup(&r.body);
    teardown(&fx);
}

OG_TEST(open_refuses_bad_urls)
{
    static const struct {
        const char *url, *msg;
    } rows[] = {
        {"ftp://127.0.0.1/index.yaml", "scheme 'ftp' is not fetched"},
        {"file:///etc/passwd", "scheme 'file' is not fetched"},
        {"oci://registry-1.docker.io/bitnamicharts", "scheme 'oci' is not fetched"},
        {"http://user:secret@127.0.0.1/index.yaml", "credentials"},
        {"http://user@127.0.0.1/index.yaml", "credentials"},
        {"not a url", "is not an absolute url"},
        {"/relative/index.yaml", "is not an absolute url"},
        /* Malformed: url.h says what is wrong. */
        {"http://127.0.0.1:99999/index.yaml", "has an invalid port"},
        {"http://[::1/index.yaml", "has an unclosed '['"},
        {"http:///index.yaml", "has no host"},
        {"http://127.0.0.1/a b", "contains whitespace"},
    };
    const char *const bad_cidr[] = {"10.0.0.0/40"};
    struct srv_fetch_opts o;
    struct srv_fetch *f = NULL;
    struct og_diag d;

    srv_fetch_opts_init(&o);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        og_diag_clear(&d);
        ASSERT_EQ(srv_fetch_open(rows[i].url, &o, &f, &d), OG_EINVAL);
        ASSERT(f == NULL);
        ASSERT_STR_CONTAINS(d.msg, rows[i].msg);
    }
    o.allow_cidrs = bad_cidr;
    o.n_allow_cidrs = 1;
    og_diag_clear(&d);
    ASSERT_EQ(srv_fetch_open("http://127.0.0.1/index.yaml", &o, &f, &d), OG_EINVAL);
    ASSERT_STR_CONTAINS(d.msg, "prefix length");
    ASSERT(f == NULL);
}

OG_TEST(size_caps)
{
    struct fixture fx;
    struct srv_fetch_opts o;
    struct result r;

    setup(&fx);
    loopback_opts(&o);
    /* Announced by Content-Length: refused before any body byte. */
    o.max_bytes = 100;
    fetch_path(&fx.srv, "/repo/oci-small/index.yaml", &o, 4096, &r);
    ASSERT_EQ(r.begin, OG_ETOOBIG);
    ASSERT_STR_EQ(r.detail, "index larger than 100 bytes");
    og_buf_cleanup(&r.body);

    /* Compressed size under the cap, decoded size over it. */
    o.max_bytes = 300;
    fetch_path(&fx.srv, "/gzip/oci-small/index.yaml", &o, 4096, &r);
    ASSERT_EQ(r.begin, OG_OK);
    ASSERT_EQ(r.read, OG_ETOOBIG);
    ASSERT_STR_EQ(r.detail, "index larger than 300 bytes");
    ASSERT(r.body.len <= 300);
    og_buf_cleanup(&r.body);

    /* A gzip bomb stops at the cap on decoded bytes. */
    o.max_bytes = 8u << 20;
    fetch_path(&fx.srv, "/bomb/index.yaml", &o, 4096, &r);
    ASSERT_EQ(r.read, OG_ETOOBIG);
    ASSERT(r.body.len <= 8u << 20);
    ASSERT_STR_EQ(r.detail, "index larger than 8388608 bytes");
    og_buf_cleanup(&r.body);

    /* Content-Length of a terabyte against the default 64 MiB cap. */
    loopback_opts(&o);
    uint64_t t0 = now_ms();
    fetch_path(&fx.srv, "/huge/index.yaml", &o, 4096, &r);
    ASSERT_EQ(r.begin, OG_ETOOBIG);
    ASSERT(now_ms() - t0 < 2000);
    og_buf_cleanup(&r.body);

    /* An endless body ends at the cap. */
    o.max_bytes = 2u << 20;
    fetch_path(&fx.srv, "/endless/index.yaml", &o, 4096, &r);
    ASSERT_EQ(r.begin, OG_OK);
    ASSERT_EQ(r.read, OG_ETOOBIG);
    ASSERT(r.body.len <= 2u << 20 && r.body.len > (2u << 20) - SRV_FETCH_WINDOW);
    og_buf_cleanup(&r.body);
    teardown(&fx);
}

OG_TEST(timeouts_and_down)
{
    struct fixture fx;
    struct srv_fetch_opts o;
    struct result r;
    char url[128];
    struct srv_fetch *f = NULL;

    setup(&fx);
    loopback_opts(&o);
    o.timeout_ms = 400;
    uint64_t t0 = now_ms();
    fetch_path(&fx.srv, "/drip/100/index.yaml", &o, 4096, &r);
    uint64_t took = now_ms() - t0;
    ASSERT_EQ(r.begin, OG_OK);
    ASSERT_EQ(r.read, OG_EIO);
    ASSERT_STR_CONTAINS(r.detail, "timed out");
    ASSERT(took >= 350 && took < 2500);
    og_buf_cleanup(&r.body);

    /* Endless and uncapped: the total timeout ends it. */
    o.max_bytes = UINT64_MAX;
    snprintf(url, sizeof(url), "%s/endless/index.yaml", fx.srv.base);
    ASSERT_EQ(srv_fetch_open(url, &o, &f, NULL), OG_OK);
    t0 = now_ms();
    enum og_err rc;
    size_t n;
    char buf[16384];
    do {
        rc = srv_fetch_read(f, buf, sizeof(buf), &n);
    } while (rc == OG_OK && n > 0);
    ASSERT_EQ(rc, OG_EIO);
    ASSERT_STR_CONTAINS(srv_fetch_detail(f), "timed out");
    ASSERT(now_ms() - t0 < 2500);
    ASSERT(srv_fetch_bytes(f) > 16384);
    srv_fetch_free(f);
    f = NULL;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/index.yaml", og_closed_port());
    ASSERT_EQ(srv_fetch_open(url, &o, &f, NULL), OG_OK);
    ASSERT_EQ(srv_fetch_begin(f), OG_EIO);
    ASSERT_STR_CONTAINS(srv_fetch_detail(f), "fetch failed");
    ASSERT_EQ(srv_fetch_refused(f), 0);
    srv_fetch_free(f);
    teardown(&fx);
}

OG_TEST(cancel_stops_quickly)
{
    struct fixture fx;
    atomic_bool cancel;
    struct srv_fetch_opts o;
    struct srv_fetch *f = NULL;
    char url[256], buf[64];
    size_t n = 0;
    enum og_err rc;

    setup(&fx);
    loopback_opts(&o);
    atomic_init(&cancel, false);
    o.cancel = &cancel;
    snprintf(url, sizeof(url), "%s/drip/100/index.yaml", fx.srv.base);
    ASSERT_EQ(srv_fetch_open(url, &o, &f, NULL), OG_OK);
    ASSERT_EQ(srv_fetch_begin(f), OG_OK);
    ASSERT_EQ(srv_fetch_read(f, buf, sizeof(buf), &n), OG_OK);
    ASSERT(n >= 1);
    atomic_store(&cancel, true);
    uint64_t t0 = now_ms();
    do {
        rc = srv_fetch_read(f, buf, sizeof(buf), &n);
    } while (rc == OG_OK && n > 0);
    ASSERT_EQ(rc, OG_EIO);
    ASSERT(now_ms() - t0 < 1000);
    ASSERT_STR_EQ(srv_fetch_detail(f), "fetch cancelled");
    srv_fetch_free(f);
    teardown(&fx);
}

OG_TEST(garbage_is_passed_through)
{
    struct fixture fx;
    struct srv_fetch_opts o;
    struct result r;

    setup(&fx);
    loopback_opts(&o);
    fetch_path(&fx.srv, "/garbage/index.yaml", &o, 4096, &r);
    ASSERT_EQ(r.begin, OG_OK);
    ASSERT_EQ(r.read, OG_OK);
    ASSERT_EQ(r.body.len, 1900);
    og_buf_cleanup(&r.body);
    teardown(&fx);
}

OG_TEST(https_verifies_the_peer)
{
    char dir[] = "/tmp/og-fetch-tls-XXXXXX", script[2048], ca[256], cert[256], key[256];
    char url[256];
    struct og_indexsrv tls_srv;
    struct srv_fetch_opts o;
    struct srv_fetch *f = NULL;

    if (mkdtemp(dir) == NULL)
        OG_FAIL_("mkdtemp");
    /* A throwaway CA and a certificate for 127.0.0.1, made by the openssl CLI. */
    snprintf(script, sizeof(script),
             "cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout ca.key -out ca.crt -days 2 -subj '/CN=og test CA' "
             "-addext basicConstraints=critical,CA:TRUE 2>/dev/null && "
             "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout tls.key -out tls.csr -subj /CN=127.0.0.1 2>/dev/null && "
             "printf 'subjectAltName=IP:127.0.0.1\\n' > ext.cnf && "
             "openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
             "-extfile ext.cnf -out tls.crt 2>/dev/null",
             dir);
    if (og_sh(script) != 0)
        OG_SKIP("openssl CLI could not make a test certificate");
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    snprintf(cert, sizeof(cert), "%s/tls.crt", dir);
    snprintf(key, sizeof(key), "%s/tls.key", dir);
    if (og_indexsrv_start_tls(&tls_srv, NULL, cert, key) != 0)
        OG_FAIL_("cannot start indexsrv.py with TLS");
    snprintf(url, sizeof(url), "%s/repo/oci-small/index.yaml", tls_srv.base);

    /* Trusting the test CA: a normal 200. */
    loopback_opts(&o);
    o.ca_file = ca;
    ASSERT_EQ(srv_fetch_open(url, &o, &f, NULL), OG_OK);
    ASSERT_EQ(srv_fetch_begin(f), OG_OK);
    ASSERT_EQ(srv_fetch_status(f), 200);
    srv_fetch_free(f);
    f = NULL;

    /* The system CAs do not know it: the peer is verified, never trusted blindly. */
    o.ca_file = NULL;
    ASSERT_EQ(srv_fetch_open(url, &o, &f, NULL), OG_OK);
    ASSERT_EQ(srv_fetch_begin(f), OG_EIO);
    ASSERT_STR_CONTAINS(srv_fetch_detail(f), "fetch failed");
    ASSERT_STR_CONTAINS(srv_fetch_detail(f), "certificate");
    srv_fetch_free(f);
    og_indexsrv_stop(&tls_srv);
    snprintf(script, sizeof(script), "rm -rf %s", dir);
    (void)og_sh(script);
}

OG_TEST(proxy_environment_is_ignored)
{
    struct fixture fx;
    char proxy[64];
    struct srv_fetch_opts o;
    struct result r;

    setup(&fx);
    og_indexsrv_reset(&fx.srv);
    /* A proxy would connect on our behalf, after the guard: it must never be used. */
    snprintf(proxy, sizeof(proxy), "http://127.0.0.2:%d", fx.srv.sentinel_port);
    setenv("http_proxy", proxy, 1);
    setenv("HTTPS_PROXY", proxy, 1);
    setenv("ALL_PROXY", proxy, 1);
    loopback_opts(&o);
    fetch_path(&fx.srv, "/repo/oci-small/index.yaml", &o, 4096, &r);
    unsetenv("http_proxy");
    unsetenv("HTTPS_PROXY");
    unsetenv("ALL_PROXY");
    ASSERT_EQ(r.begin, OG_OK);
    ASSERT_EQ(r.status, 200);
    og_buf_cleanup(&r.body);
    ASSERT_EQ(og_indexsrv_count(&fx.srv, "sentinel_connections"), 0);
    ASSERT_EQ(og_indexsrv_count(&fx.srv, "/repo/oci-small/index.yaml"), 1);
    teardown(&fx);
}

/* ---- push mode (srv_fetch_loop) ---- */

/* What one push-mode fetch delivered; `done` is set last, under the lock. */
struct pushed {
    pthread_mutex_t *m;
    pthread_cond_t *cv;
    struct og_buf body;
    bool done;
    int done_calls;
    enum og_err rc;
    long status;
    char detail[256];
    unsigned refused;
    uint64_t t_done;
};

static enum og_err push_body_cb(void *arg, const char *p, size_t n)
{
    struct pushed *r = arg;

    return og_buf_append(&r->body, p, n);
}

static void push_done_cb(void *arg, struct srv_fetch *f, enum og_err rc)
{
    struct pushed *r = arg;

    pthread_mutex_lock(r->m);
    r->rc = rc;
    r->status = srv_fetch_status(f);
    snprintf(r->detail, sizeof(r->detail), "%s",
             srv_fetch_detail(f) != NULL ? srv_fetch_detail(f) : "");
    r->refused = srv_fetch_refused(f);
    r->t_done = now_ms();
    r->done_calls++;
    r->done = true;
    pthread_cond_broadcast(r->cv);
    pthread_mutex_unlock(r->m);
}

static const struct srv_fetch_sink push_sink = {push_body_cb, push_done_cb};

static struct srv_fetch_loop *new_loop(unsigned total, unsigned per_host)
{
    struct srv_fetch_loop_opts lo = {SRV_FETCH_MAX_TOTAL, SRV_FETCH_MAX_PER_HOST};
    struct srv_fetch_loop *loop = NULL;

    if (total > 0)
        lo.max_total = total;
    if (per_host > 0)
        lo.max_per_host = per_host;
    if (srv_fetch_loop_new(&lo, &loop) != OG_OK)
        OG_FAIL_("srv_fetch_loop_new");
    return loop;
}

/* Starts a push fetch of `path` on `on`, reporting under the lock of `fx`. */
static void push_start(struct fixture *fx, const struct og_indexsrv *on,
                       struct srv_fetch_loop *loop, const char *path,
                       const struct srv_fetch_opts *o, struct pushed *r)
{
    char url[512];
    struct og_diag d;

    memset(r, 0, sizeof(*r));
    r->m = &fx->m;
    r->cv = &fx->cv;
    og_buf_init(&r->body, 512u << 20);
    snprintf(url, sizeof(url), "%s%s", on->base, path);
    og_diag_clear(&d);
    if (srv_fetch_start(loop, url, o, &push_sink, r, &d) != OG_OK)
        OG_FAIL_("start %s: %s", url, d.msg);
}

/*
 * Waits until every one of `r[0..n)` (started by one test, under one lock) is done, at most
 * `ms`; true when they all are.
 */
static bool push_wait(struct pushed *r, size_t n, uint64_t ms)
{
    uint64_t end = now_ms() + ms;
    bool all = false;

    pthread_mutex_lock(r[0].m);
    while (!all && now_ms() < end) {
        struct timespec ts;

        all = true;
        for (size_t i = 0; i < n && all; i++)
            all = r[i].done;
        if (all)
            break;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        (void)pthread_cond_timedwait(r[0].cv, r[0].m, &ts);
    }
    pthread_mutex_unlock(r[0].m);
    return all;
}

OG_TEST(push_delivers_bodies_statuses_and_refusals)
{
    struct fixture fx;
    struct srv_fetch_loop *loop = new_loop(0, 0);
    static const char *const only_one[] = {"127.0.0.1/32"};
    struct srv_fetch_opts o, guarded, one;
    struct pushed r[6];
    size_t len1 = 0, len2 = 0;
    char *want1 = og_test_read_file(OG_SOURCE_DIR "/tests/data/index/oci-small.yaml", &len1);
    char *want2 = og_test_read_file(OG_SOURCE_DIR "/tests/data/index/http-small.yaml", &len2);
    char path[160];

    setup(&fx);
    loopback_opts(&o);
    srv_fetch_opts_init(&guarded);
    srv_fetch_opts_init(&one);
    one.allow_cidrs = only_one;
    one.n_allow_cidrs = 1;
    og_indexsrv_reset(&fx.srv);
    push_start(&fx, &fx.srv, loop, "/repo/oci-small/index.yaml", &o, &r[0]);
    push_start(&fx, &fx.srv, loop, "/gzip/http-small/index.yaml", &o, &r[1]);
    push_start(&fx, &fx.srv, loop, "/status/404/index.yaml", &o, &r[2]);
    push_start(&fx, &fx.srv, loop, "/repo/oci-small/index.yaml", &guarded, &r[3]);
    snprintf(path, sizeof(path), "/to/http%%3A%%2F%%2F127.0.0.2%%3A%d%%2F", fx.srv.sentinel_port);
    push_start(&fx, &fx.srv, loop, path, &one, &r[4]); /* 127.0.0.2 listens, but is not allowed */
    push_start(&fx, &fx.srv, loop, "/bomb/index.yaml", &o, &r[5]);
    ASSERT(push_wait(r, 6, 20000));
    ASSERT_EQ(r[0].rc, OG_OK);
    ASSERT_EQ(r[0].status, 200);
    ASSERT_EQ(r[0].body.len, len1);
    ASSERT(memcmp(r[0].body.ptr, want1, len1) == 0);
    ASSERT_EQ(r[1].rc, OG_OK);
    ASSERT_EQ(r[1].body.len, len2);
    ASSERT(memcmp(r[1].body.ptr, want2, len2) == 0);
    ASSERT_EQ(r[2].rc, OG_OK);
    ASSERT_EQ(r[2].status, 404);
    ASSERT_STR_EQ(r[2].detail, "HTTP 404");
    ASSERT_EQ(r[2].body.len, 0);
    ASSERT_EQ(r[3].rc, OG_EIO);
    ASSERT_STR_EQ(r[3].detail, "address 127.0.0.1 is not allowed");
    ASSERT_EQ(r[4].rc, OG_EIO);
    ASSERT_STR_EQ(r[4].detail, "address 127.0.0.2 is not allowed");
    ASSERT_EQ(og_indexsrv_count(&fx.srv, "sentinel_connections"), 0);
    /* The cap counts inflated bytes: 256 MiB of spaces stops at 64 MiB. */
    ASSERT_EQ(r[5].rc, OG_ETOOBIG);
    ASSERT_STR_CONTAINS(r[5].detail, "index larger than");
    ASSERT(r[5].body.len <= o.max_bytes);
    srv_fetch_loop_free(loop);
    for (size_t i = 0; i < 6; i++) {
        ASSERT_EQ(r[i].done_calls, 1);
        og_buf_cleanup(&r[i].body);
    }
    free(want1);
    free(want2);
    teardown(&fx);
}

OG_TEST(push_gzip_past_the_inflate_budget_is_whole)
{
    struct fixture fx;
    static const char head[] = "apiVersion: v1\nentries:\n  demo:\n",
                      entry[] = "  - version: 1.0.0\n    urls:\n"
                                "    - oci://registry.example.com/charts/demo:1.0.0\n";
    enum { N = 200000 }; /* 15 MiB inflated from about 40 KiB: several budgets per chunk */
    struct srv_fetch_loop *loop = new_loop(0, 0);
    struct srv_fetch_opts o;
    struct pushed r[2];
    char path[64];
    bool same = true;

    setup(&fx);
    loopback_opts(&o);
    snprintf(path, sizeof(path), "/gzrepeat/%d/index.yaml", N);
    push_start(&fx, &fx.srv, loop, path, &o, &r[0]);
    push_start(&fx, &fx.srv, loop, "/gzip/http-small/index.yaml", &o, &r[1]);
    ASSERT(push_wait(r, 2, 20000));
    ASSERT_STR_EQ(r[0].detail, "");
    ASSERT_EQ(r[0].rc, OG_OK);
    ASSERT_EQ(r[0].status, 200);
    ASSERT_EQ(r[0].body.len, sizeof(head) - 1 + (size_t)N * (sizeof(entry) - 1));
    ASSERT(memcmp(r[0].body.ptr, head, sizeof(head) - 1) == 0);
    for (size_t off = sizeof(head) - 1; off < r[0].body.len && same; off += sizeof(entry) - 1)
        same = memcmp(r[0].body.ptr + off, entry, sizeof(entry) - 1) == 0;
    ASSERT(same);
    ASSERT_EQ(r[1].rc, OG_OK);
    /* The small one never waited for the large one's inflating. */
    ASSERT(r[1].t_done <= r[0].t_done);
    srv_fetch_loop_free(loop);
    og_buf_cleanup(&r[0].body);
    og_buf_cleanup(&r[1].body);
    teardown(&fx);
}

OG_TEST(push_gzip_cap_reached_anywhere_says_too_big)
{
    struct fixture fx;
    enum { N = 16 };
    struct srv_fetch_loop *loop = new_loop(0, 0);
    struct srv_fetch_opts o[N];
    struct pushed r[N];

    setup(&fx);
    /*
     * 15 MiB inflated from about 40 KiB, capped at points spread over it: some caps are
     * crossed while a backlog drains, some while the chunk libcurl held back is delivered
     * on resuming the transfer. Each is the cap, never "transfer cannot resume".
     */
    for (size_t i = 0; i < N; i++) {
        loopback_opts(&o[i]);
        o[i].max_bytes = (1u << 20) + i * (700u << 10) + i * 4099u;
        push_start(&fx, &fx.srv, loop, "/gzrepeat/200000/index.yaml", &o[i], &r[i]);
    }
    ASSERT(push_wait(r, N, 60000));
    for (size_t i = 0; i < N; i++) {
        ASSERT_EQ(r[i].rc, OG_ETOOBIG);
        ASSERT_STR_CONTAINS(r[i].detail, "index larger than");
        ASSERT(r[i].body.len <= o[i].max_bytes);
    }
    srv_fetch_loop_free(loop);
    for (size_t i = 0; i < N; i++)
        og_buf_cleanup(&r[i].body);
    teardown(&fx);
}

OG_TEST(push_per_host_and_total_caps)
{
    struct fixture fx;
    enum { N = 16 };
    struct srv_fetch_loop *loop = new_loop(64, 4);
    struct srv_fetch_loop_stats st;
    struct srv_fetch_opts o;
    struct pushed r[N], other;
    struct og_indexsrv other_srv;
    char path[128];

    setup(&fx);
    loopback_opts(&o);
    og_indexsrv_reset(&fx.srv);
    for (int i = 0; i < N; i++) {
        snprintf(path, sizeof(path), "/delay/300/oci-small/index.yaml?n=%d", i);
        push_start(&fx, &fx.srv, loop, path, &o, &r[i]);
    }
    /* A host at its cap holds back only its own fetches: another host's starts at once. */
    start_server(&other_srv);
    push_start(&fx, &other_srv, loop, "/repo/oci-small/index.yaml", &o, &other);
    ASSERT(push_wait(&other, 1, 20000));
    ASSERT(push_wait(r, N, 20000));
    ASSERT_EQ(other.rc, OG_OK);
    ASSERT(other.t_done < r[N - 1].t_done);
    og_buf_cleanup(&other.body);
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(r[i].rc, OG_OK);
        ASSERT_EQ(r[i].status, 200);
        og_buf_cleanup(&r[i].body);
    }
    /* Measured where it matters, at the server: never more than 4 at once, and 4 in use. */
    ASSERT_EQ(og_indexsrv_count(&fx.srv, "peak_active"), 4);
    srv_fetch_loop_get_stats(loop, &st);
    ASSERT_EQ(st.peak_running, 5); /* 4 to the capped host, 1 to the other */
    ASSERT_EQ(st.queued, 0);
    srv_fetch_loop_free(loop);

    /* The total cap, with each host far from its own. */
    loop = new_loop(3, 64);
    for (int i = 0; i < 250 && og_indexsrv_count(&fx.srv, "active") > 0; i++)
        usleep(20000); /* the server may still be closing the last answers */
    og_indexsrv_reset(&fx.srv);
    for (int i = 0; i < 9; i++) {
        snprintf(path, sizeof(path), "/delay/300/oci-small/index.yaml?t=%d", i);
        push_start(&fx, &fx.srv, loop, path, &o, &r[i]);
    }
    ASSERT(push_wait(r, 9, 20000));
    for (int i = 0; i < 9; i++) {
        ASSERT_EQ(r[i].rc, OG_OK);
        og_buf_cleanup(&r[i].body);
    }
    ASSERT_EQ(og_indexsrv_count(&fx.srv, "peak_active"), 3);
    srv_fetch_loop_free(loop);
    og_indexsrv_stop(&other_srv);
    teardown(&fx);
}

OG_TEST(push_low_speed_limit_cuts_a_drip)
{
    struct fixture fx;
    struct srv_fetch_loop *loop = new_loop(0, 0);
    struct srv_fetch_opts o;
    struct pushed r;

    setup(&fx);
    loopback_opts(&o);
    ASSERT_EQ(o.low_speed_bytes, SRV_FETCH_LOW_SPEED_BYTES);
    ASSERT_EQ(o.low_speed_time_s, SRV_FETCH_LOW_SPEED_TIME_S);
    o.timeout_ms = 60000;
    o.low_speed_time_s = 1;
    uint64_t t0 = now_ms();
    push_start(&fx, &fx.srv, loop, "/drip/200/index.yaml", &o, &r);
    ASSERT(push_wait(&r, 1, 10000));
    uint64_t took = r.t_done - t0;
    ASSERT_EQ(r.rc, OG_EIO);
    ASSERT_STR_CONTAINS(r.detail, "timed out");
    ASSERT_STR_CONTAINS(r.detail, "too slow");
    ASSERT(took >= 900 && took < 5000);
    ASSERT(r.body.len > 0 && r.body.len < 40);
    og_buf_cleanup(&r.body);
    srv_fetch_loop_free(loop);
    teardown(&fx);
}

OG_TEST(push_drips_never_delay_a_healthy_fetch)
{
    struct fixture fx;
    enum { N = 100 };
    struct srv_fetch_loop *loop = new_loop(0, 256);
    struct srv_fetch_opts o;
    static struct pushed r[N + 1];
    char path[128];

    setup(&fx);
    loopback_opts(&o);
    og_indexsrv_reset(&fx.srv);
    for (int i = 0; i < N; i++) {
        snprintf(path, sizeof(path), "/drip/1000/index.yaml?d=%d", i);
        push_start(&fx, &fx.srv, loop, path, &o, &r[i]);
    }
    for (int i = 0; i < 250 && og_indexsrv_count(&fx.srv, "active") < N; i++)
        usleep(20000);
    /* (The previous test's drip may still be answered at the server.) */
    ASSERT(og_indexsrv_count(&fx.srv, "active") >= N);
    uint64_t t0 = now_ms();
    push_start(&fx, &fx.srv, loop, "/repo/oci-small/index.yaml", &o, &r[N]);
    ASSERT(push_wait(&r[N], 1, 5000));
    ASSERT_EQ(r[N].rc, OG_OK);
    ASSERT(r[N].t_done - t0 < 1000);
    /* Stopping ends every drip at once, each done called once. */
    t0 = now_ms();
    srv_fetch_loop_stop(loop);
    ASSERT(push_wait(r, N, 5000));
    ASSERT(now_ms() - t0 < 2000);
    srv_fetch_loop_free(loop);
    for (int i = 0; i <= N; i++) {
        ASSERT_EQ(r[i].done_calls, 1);
        if (i < N) {
            ASSERT_EQ(r[i].rc, OG_EIO);
            ASSERT_STR_EQ(r[i].detail, "fetch cancelled");
        }
        og_buf_cleanup(&r[i].body);
    }
    teardown(&fx);
}

OG_TEST(push_start_after_stop_fails)
{
    struct fixture fx;
    struct srv_fetch_loop *loop = new_loop(0, 0);
    struct srv_fetch_opts o;
    struct og_diag d;
    char url[256];
    struct pushed r;

    setup(&fx);
    loopback_opts(&o);
    srv_fetch_loop_stop(loop);
    memset(&r, 0, sizeof(r));
    snprintf(url, sizeof(url), "%s/repo/oci-small/index.yaml", fx.srv.base);
    og_diag_clear(&d);
    ASSERT_EQ(srv_fetch_start(loop, url, &o, &push_sink, &r, &d), OG_EIO);
    ASSERT_EQ(srv_fetch_start(loop, "ftp://x/", &o, &push_sink, &r, &d), OG_EINVAL);
    srv_fetch_loop_free(loop);
    ASSERT_EQ(r.done_calls, 0);
    teardown(&fx);
}

OG_TEST_MAIN(OG_T(fetch_200_streams_the_file), OG_T(fetch_gzip_is_decoded),
             OG_T(fetch_large_index_in_small_reads), OG_T(fetch_http_errors_are_statuses),
             OG_T(conditional_fetch_and_not_modified), OG_T(hostile_validators_are_not_kept),
             OG_T(guard_refuses_loopback_by_default), OG_T(guard_allow_hosts_by_name),
             OG_T(guard_checks_every_redirect), OG_T(redirect_rules), OG_T(open_refuses_bad_urls),
             OG_T(size_caps), OG_T(timeouts_and_down), OG_T(cancel_stops_quickly),
             OG_T(garbage_is_passed_through), OG_T(https_verifies_the_peer),
             OG_T(proxy_environment_is_ignored), OG_T(push_delivers_bodies_statuses_and_refusals),
             OG_T(guard_off_lets_loopback_through),
             OG_T(push_gzip_past_the_inflate_budget_is_whole),
             OG_T(push_gzip_cap_reached_anywhere_says_too_big), OG_T(push_per_host_and_total_caps),
             OG_T(push_low_speed_limit_cuts_a_drip), OG_T(push_drips_never_delay_a_healthy_fetch),
             OG_T(push_start_after_stop_fails))
