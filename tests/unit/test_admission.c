/*
 * test_admission.c - one admission without HTTP (server/admission.h) over the real index
 * cache, with the cache's fetch function injected so that each test decides when a verdict
 * arrives: how often the cache is consulted, and the wait's hand-off (parked, wake, resume).
 */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>

#include "admission.h"
#include "index_cache.h"
#include "log.h"

#include "ocigate/str.h"

/* The injected fetch: delivers at once, or keeps the delivery for the test to make. */
struct fetcher {
    bool hold;                 /* keep the delivery for deliver() */
    enum og_index_state state; /* what is delivered: CLEAN or OCI */
    atomic_int fetches;        /* fetches started */
    srv_index_done_fn done;    /* a held delivery */
    void *done_arg;
};

static void give(struct fetcher *f, srv_index_done_fn done, void *done_arg)
{
    struct srv_index_result r;

    memset(&r, 0, sizeof(r));
    r.verdict.state = f->state;
    if (f->state == OG_INDEX_STATE_OCI) {
        r.verdict.oci_base = strdup("oci://r.example/charts");
        if (r.verdict.oci_base == NULL)
            abort();
    }
    done(done_arg, &r);
}

static void fetch(void *arg, const char *url, struct og_config *cfg,
                  const struct srv_fetch_validators *val, srv_index_done_fn done, void *done_arg)
{
    struct fetcher *f = arg;

    (void)url;
    (void)val;
    (void)cfg;
    atomic_fetch_add(&f->fetches, 1);
    if (f->hold) {
        f->done = done;
        f->done_arg = done_arg;
        return;
    }
    give(f, done, done_arg);
}

/* Delivers the held fetch, from the calling thread (the cache's wake runs on it). */
static void deliver(struct fetcher *f)
{
    srv_index_done_fn done = f->done;

    ASSERT(done != NULL);
    f->done = NULL;
    give(f, done, f->done_arg);
}

static struct srv_index_cache *new_cache(struct fetcher *f)
{
    struct srv_index_cache_opts o;
    struct srv_index_cache *c = NULL;

    srv_index_cache_opts_init(&o, NULL);
    o.fetch = fetch;
    o.fetch_arg = f;
    if (srv_index_cache_new(&o, &c) != OG_OK)
        OG_FAIL_("srv_index_cache_new");
    return c;
}

/* Cache consultations so far: every lookup counts one hit, stale hit or miss. */
static uint64_t lookups(struct srv_index_cache *c)
{
    struct srv_index_cache_stats st;

    srv_index_cache_get_stats(c, &st);
    return st.hits + st.stale + st.misses;
}

/* An AdmissionReview of a HelmRepository `op` with spec.url `url`. */
static char *review(const char *op, const char *url)
{
    struct og_buf b;

    og_buf_init(&b, 1u << 16);
    if (og_buf_appendf(&b,
                       "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
                       "\"request\":{\"uid\":\"u-1\",\"kind\":{\"group\":"
                       "\"source.toolkit.fluxcd.io\",\"version\":\"v1\",\"kind\":"
                       "\"HelmRepository\"},\"name\":\"r\",\"namespace\":\"apps\","
                       "\"operation\":\"%s\",\"object\":{\"metadata\":{\"name\":\"r\"},"
                       "\"spec\":{\"url\":\"%s\"}}}}",
                       op, url) != OG_OK)
        abort();
    return og_buf_take(&b, NULL);
}

/* What each test sets up: a cache over the injected fetch, a snapshot, one admission. */
struct fix {
    struct fetcher f;
    struct srv_index_cache *c; /* NULL: the admission runs without a cache */
    struct og_config *cfg;
    atomic_int resumed; /* calls of the admission's resume */
    struct srv_admission a;
    struct srv_response resp;
};

static void fix_init(struct fix *x, bool cache, bool hold, enum og_index_state state)
{
    memset(x, 0, sizeof(*x));
    x->f.hold = hold;
    x->f.state = state;
    atomic_init(&x->f.fetches, 0);
    atomic_init(&x->resumed, 0);
    x->c = cache ? new_cache(&x->f) : NULL;
    if (og_config_new(&x->cfg) != OG_OK)
        abort();
    x->cfg->mode = OG_MODE_MUTATE;
    x->cfg->index.budget_ms = 60000;  /* longer than any test: only deliver() ends a wait */
    srv_log_set_level(SRV_LOG_ERROR); /* no admission lines in the test output */
}

static void fix_done(struct fix *x)
{
    if (x->f.done != NULL)
        deliver(&x->f); /* the cache waits for its fetches when freed */
    srv_index_cache_free(x->c);
    og_config_unref(x->cfg);
}

/* The resume callback: counts its calls. */
static void count_resume(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
}

/* Starts an admission of `op` on spec.url `url`: decodes it and makes the first decide call. */
static enum srv_admission_next start(struct fix *x, const char *op, const char *url)
{
    char *body = review(op, url);
    enum srv_admission_next next;

    srv_admission_init(&x->a, x->cfg, x->c, OG_ENDPOINT_MUTATE, count_resume, &x->resumed);
    next = srv_admission_decode(&x->a, body, strlen(body), &x->resp);
    free(body);
    ASSERT_EQ(next, SRV_ADMISSION_CONTINUE);
    return srv_admission_decide(&x->a, NULL, 0, &x->resp);
}

/* As start(), with the response encoded into `out` (srv_admission_use_buffer()). */
static enum srv_admission_next start_with(struct fix *x, const char *op, const char *url,
                                          struct og_buf *out)
{
    char *body = review(op, url);
    enum srv_admission_next next;

    srv_admission_init(&x->a, x->cfg, x->c, OG_ENDPOINT_MUTATE, count_resume, &x->resumed);
    srv_admission_use_buffer(&x->a, out);
    next = srv_admission_decode(&x->a, body, strlen(body), &x->resp);
    free(body);
    ASSERT_EQ(next, SRV_ADMISSION_CONTINUE);
    return srv_admission_decide(&x->a, NULL, 0, &x->resp);
}

/* The admission answered 200 with a body that says `want` (a rule's annotation, a warning). */
static void expect_answer(struct fix *x, const char *want)
{
    char *body;
    bool found;

    ASSERT_EQ(x->resp.status, 200);
    body = og_str_dup((struct og_str){x->resp.body, x->resp.len});
    ASSERT(body != NULL);
    found = strstr(body, want) != NULL;
    if (!found)
        fprintf(stderr, "  no \"%s\" in %s\n", want, body);
    free(body);
    srv_response_cleanup(&x->resp);
    srv_admission_cleanup(&x->a);
    ASSERT(found);
}

/* An admission whose policy names no index url never consults the cache. */
OG_TEST(no_url_no_lookup)
{
    static const struct {
        const char *op, *url, *want;
    } cases[] = {
        {"CREATE", "https://charts.bitnami.com/bitnami", "known-migration"},
        {"CREATE", "oci://ghcr.io/org/charts", "oci-url-http-type"},
        {"CREATE", "ftp://x.example/charts", "\"allowed\":true"},
        {"DELETE", "https://example.com/charts", "\"allowed\":true"},
    };
    struct fix x;

    fix_init(&x, true, false, OG_INDEX_STATE_CLEAN);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ASSERT_EQ(start(&x, cases[i].op, cases[i].url), SRV_ADMISSION_RESPOND);
        expect_answer(&x, cases[i].want);
    }
    /* Nor does one that would need it when analysis is off. */
    x.cfg->index.enabled = false;
    ASSERT_EQ(start(&x, "CREATE", "https://example.com/charts"), SRV_ADMISSION_RESPOND);
    expect_answer(&x, "\"allowed\":true");
    ASSERT_EQ(lookups(x.c), 0);
    ASSERT_EQ(atomic_load(&x.f.fetches), 0);
    ASSERT_EQ(atomic_load(&x.resumed), 0);
    fix_done(&x);
}

/*
 * A cached verdict: one lookup, no wait. The admission that filled the cache looked twice:
 * once to start the fetch (which delivered before the lookup returned: the wake came before
 * the admission was parked, so it resumes itself) and once to read the verdict.
 */
OG_TEST(cached_verdict_one_lookup)
{
    struct fix x;

    fix_init(&x, true, false, OG_INDEX_STATE_OCI);
    ASSERT_EQ(start(&x, "CREATE", "https://Example.com/charts/"), SRV_ADMISSION_WAIT);
    ASSERT_EQ(srv_admission_parked(&x.a), false);
    ASSERT_EQ(srv_admission_decide(&x.a, NULL, 0, &x.resp), SRV_ADMISSION_RESPOND);
    expect_answer(&x, "index-points-to-oci");
    ASSERT_EQ(lookups(x.c), 2);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(start(&x, "CREATE", "https://Example.com/charts/"), SRV_ADMISSION_RESPOND);
        expect_answer(&x, "index-points-to-oci");
        ASSERT_EQ(lookups(x.c), 3 + (uint64_t)i);
    }
    ASSERT_EQ(atomic_load(&x.f.fetches), 1);
    ASSERT_EQ(atomic_load(&x.resumed), 0);
    fix_done(&x);
}

/* A fetch in flight: the admission parks, the delivery resumes it once, it decides. */
OG_TEST(wait_parks_and_resumes_once)
{
    struct fix x;

    fix_init(&x, true, true, OG_INDEX_STATE_OCI);
    ASSERT_EQ(start(&x, "CREATE", "https://example.com/charts"), SRV_ADMISSION_WAIT);
    ASSERT_EQ(lookups(x.c), 1);
    ASSERT_EQ(srv_admission_parked(&x.a), true);
    ASSERT_EQ(atomic_load(&x.resumed), 0);
    deliver(&x.f);
    ASSERT_EQ(atomic_load(&x.resumed), 1);
    ASSERT_EQ(srv_admission_decide(&x.a, NULL, 0, &x.resp), SRV_ADMISSION_RESPOND);
    expect_answer(&x, "index-points-to-oci");
    ASSERT_EQ(lookups(x.c), 2);
    ASSERT_EQ(atomic_load(&x.f.fetches), 1);
    ASSERT_EQ(atomic_load(&x.resumed), 1);
    fix_done(&x);
}

/* No budget: one lookup, and the policy decides with the fetch still running (pending). */
OG_TEST(no_budget_no_wait)
{
    struct fix x;

    fix_init(&x, true, true, OG_INDEX_STATE_CLEAN);
    x.cfg->index.budget_ms = 0;
    ASSERT_EQ(start(&x, "CREATE", "https://example.com/charts"), SRV_ADMISSION_RESPOND);
    expect_answer(&x, "is pending; allowed");
    ASSERT_EQ(lookups(x.c), 1);
    ASSERT_EQ(atomic_load(&x.resumed), 0);
    fix_done(&x);
}

/* Without a cache (as fuzz_http.c runs it) a url the index could judge is simply allowed. */
OG_TEST(no_cache_no_verdict)
{
    struct fix x;

    fix_init(&x, false, false, OG_INDEX_STATE_CLEAN);
    ASSERT_EQ(start(&x, "CREATE", "https://example.com/charts"), SRV_ADMISSION_RESPOND);
    expect_answer(&x, "\"allowed\":true");
    ASSERT_EQ(atomic_load(&x.resumed), 0);
    fix_done(&x);
}

/*
 * A caller's buffer (srv_admission_use_buffer()): the response is encoded into it and lent,
 * emptied first each time, with the very bytes an admission of its own allocates.
 */
OG_TEST(callers_buffer_holds_the_response)
{
    static const char *const urls[] = {"https://charts.bitnami.com/bitnami",
                                       "oci://ghcr.io/org/charts", "ftp://x.example/charts"};
    struct og_buf out;
    struct fix x;

    fix_init(&x, false, false, OG_INDEX_STATE_CLEAN);
    og_buf_init(&out, SRV_ADMISSION_RESPONSE_MAX);
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
            char *own;
            size_t own_len;

            ASSERT_EQ(start(&x, "CREATE", urls[i]), SRV_ADMISSION_RESPOND);
            ASSERT_EQ(x.resp.status, 200);
            ASSERT(x.resp.owned);
            own = og_str_dup((struct og_str){x.resp.body, x.resp.len});
            own_len = x.resp.len;
            ASSERT(own != NULL);
            srv_response_cleanup(&x.resp);
            srv_admission_cleanup(&x.a);

            ASSERT_EQ(start_with(&x, "CREATE", urls[i], &out), SRV_ADMISSION_RESPOND);
            ASSERT_EQ(x.resp.status, 200);
            ASSERT(!x.resp.owned);
            ASSERT(x.resp.body == out.ptr);
            ASSERT_EQ(x.resp.len, out.len);
            ASSERT_EQ(x.resp.len, own_len);
            ASSERT(memcmp(x.resp.body, own, own_len) == 0);
            srv_response_cleanup(&x.resp); /* frees nothing: lent */
            srv_admission_cleanup(&x.a);
            free(own);
        }
    }
    og_buf_cleanup(&out);
    fix_done(&x);
}

/* A body that is no AdmissionReview: 400, with the decoder's diagnostic in the message. */
OG_TEST(bad_review_says_why)
{
    static const struct {
        const char *body, *want;
    } cases[] = {
        {"{}", "invalid AdmissionReview: "},
        {"{}", "request"},
        {"{\"request\":{\"uid\":\"x\"", "invalid AdmissionReview: "},
    };
    struct fix x;

    fix_init(&x, false, false, OG_INDEX_STATE_CLEAN);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *msg;

        srv_admission_init(&x.a, x.cfg, NULL, OG_ENDPOINT_MUTATE, count_resume, &x.resumed);
        ASSERT_EQ(srv_admission_decode(&x.a, cases[i].body, strlen(cases[i].body), &x.resp),
                  SRV_ADMISSION_RESPOND);
        ASSERT_EQ(x.resp.status, 400);
        msg = og_str_dup((struct og_str){x.resp.body, x.resp.len});
        ASSERT(msg != NULL);
        if (strstr(msg, cases[i].want) == NULL)
            fprintf(stderr, "  no \"%s\" in %s\n", cases[i].want, msg);
        ASSERT(strstr(msg, cases[i].want) != NULL);
        /* More than the error's name: what the diagnostic says follows the prefix. */
        ASSERT(strlen(msg) > strlen("{\"error\":\"invalid AdmissionReview: parse error\"}"));
        free(msg);
        srv_response_cleanup(&x.resp);
        srv_admission_cleanup(&x.a);
    }
    fix_done(&x);
}

OG_TEST_MAIN(OG_T(no_url_no_lookup), OG_T(cached_verdict_one_lookup),
             OG_T(wait_parks_and_resumes_once), OG_T(no_budget_no_wait), OG_T(no_cache_no_verdict),
             OG_T(callers_buffer_holds_the_response), OG_T(bad_review_says_why))
