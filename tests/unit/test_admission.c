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
    struct og_index_verdict v;

    memset(&v, 0, sizeof(v));
    v.state = f->state;
    if (f->state == OG_INDEX_STATE_OCI) {
        v.oci_base = strdup("oci://r.example/charts");
        if (v.oci_base == NULL)
            abort();
    }
    done(done_arg, &v);
}

static void fetch(void *arg, const char *url, struct og_config *cfg, srv_index_done_fn done,
                  void *done_arg)
{
    struct fetcher *f = arg;

    (void)url;
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

static struct og_config *config(void)
{
    struct og_config *cfg = NULL;

    if (og_config_new(&cfg) != OG_OK)
        abort();
    cfg->mode = OG_MODE_MUTATE;
    cfg->index.budget_ms = 60000;     /* longer than any test: only deliver() ends a wait */
    srv_log_set_level(SRV_LOG_ERROR); /* no admission lines in the test output */
    return cfg;
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

/* The resume callback: counts its calls. */
static void count_resume(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
}

/* Decodes `body` into `a` (initialized here) and makes the first decide call. */
static enum srv_admission_next start(struct srv_admission *a, struct og_config *cfg,
                                     struct srv_index_cache *c, atomic_int *resumed,
                                     const char *body, struct srv_response *resp)
{
    srv_admission_init(a, cfg, c, OG_ENDPOINT_MUTATE, count_resume, resumed);
    ASSERT_EQ(srv_admission_decode(a, body, strlen(body), resp), SRV_ADMISSION_CONTINUE);
    return srv_admission_decide(a, 0, resp);
}

/* A 200 whose body says `want` (the rule's annotation, a warning). */
static void expect_answer(struct srv_response *resp, const char *want)
{
    char *body;
    bool found;

    ASSERT_EQ(resp->status, 200);
    body = og_str_dup((struct og_str){resp->body, resp->len});
    ASSERT(body != NULL);
    found = strstr(body, want) != NULL;
    if (!found)
        fprintf(stderr, "  no \"%s\" in %s\n", want, body);
    free(body);
    srv_response_cleanup(resp);
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
    struct fetcher f = {false, OG_INDEX_STATE_CLEAN, 0, NULL, NULL};
    struct srv_index_cache *c = new_cache(&f);
    struct og_config *cfg = config();
    atomic_int resumed = 0;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *body = review(cases[i].op, cases[i].url);
        struct srv_admission a;
        struct srv_response resp;

        ASSERT_EQ(start(&a, cfg, c, &resumed, body, &resp), SRV_ADMISSION_RESPOND);
        expect_answer(&resp, cases[i].want);
        srv_admission_cleanup(&a);
        free(body);
    }
    /* Nor does one that would need it when analysis is off. */
    cfg->index.enabled = false;
    {
        char *body = review("CREATE", "https://example.com/charts");
        struct srv_admission a;
        struct srv_response resp;

        ASSERT_EQ(start(&a, cfg, c, &resumed, body, &resp), SRV_ADMISSION_RESPOND);
        expect_answer(&resp, "\"allowed\":true");
        srv_admission_cleanup(&a);
        free(body);
    }
    ASSERT_EQ(lookups(c), 0);
    ASSERT_EQ(atomic_load(&f.fetches), 0);
    ASSERT_EQ(atomic_load(&resumed), 0);
    srv_index_cache_free(c);
    og_config_unref(cfg);
}

/*
 * A cached verdict: one lookup, no wait. The admission that filled the cache looked twice:
 * once to start the fetch (which delivered before the lookup returned: the wake came before
 * the admission was parked, so it resumes itself) and once to read the verdict.
 */
OG_TEST(cached_verdict_one_lookup)
{
    struct fetcher f = {false, OG_INDEX_STATE_OCI, 0, NULL, NULL};
    struct srv_index_cache *c = new_cache(&f);
    struct og_config *cfg = config();
    char *body = review("CREATE", "https://Example.com/charts/");
    atomic_int resumed = 0;
    struct srv_admission a;
    struct srv_response resp;

    ASSERT_EQ(start(&a, cfg, c, &resumed, body, &resp), SRV_ADMISSION_WAIT);
    ASSERT_EQ(srv_admission_parked(&a), false);
    ASSERT_EQ(srv_admission_decide(&a, 0, &resp), SRV_ADMISSION_RESPOND);
    expect_answer(&resp, "index-points-to-oci");
    srv_admission_cleanup(&a);
    ASSERT_EQ(lookups(c), 2);

    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(start(&a, cfg, c, &resumed, body, &resp), SRV_ADMISSION_RESPOND);
        expect_answer(&resp, "index-points-to-oci");
        srv_admission_cleanup(&a);
        ASSERT_EQ(lookups(c), 3 + (uint64_t)i);
    }
    ASSERT_EQ(atomic_load(&f.fetches), 1);
    ASSERT_EQ(atomic_load(&resumed), 0);
    srv_index_cache_free(c);
    og_config_unref(cfg);
    free(body);
}

/* A fetch in flight: the admission parks, the delivery resumes it once, it decides. */
OG_TEST(wait_parks_and_resumes_once)
{
    struct fetcher f = {true, OG_INDEX_STATE_OCI, 0, NULL, NULL};
    struct srv_index_cache *c = new_cache(&f);
    struct og_config *cfg = config();
    char *body = review("CREATE", "https://example.com/charts");
    atomic_int resumed = 0;
    struct srv_admission a;
    struct srv_response resp;

    ASSERT_EQ(start(&a, cfg, c, &resumed, body, &resp), SRV_ADMISSION_WAIT);
    ASSERT_EQ(lookups(c), 1);
    ASSERT_EQ(srv_admission_parked(&a), true);
    ASSERT_EQ(atomic_load(&resumed), 0);
    deliver(&f);
    ASSERT_EQ(atomic_load(&resumed), 1);
    ASSERT_EQ(srv_admission_decide(&a, 0, &resp), SRV_ADMISSION_RESPOND);
    expect_answer(&resp, "index-points-to-oci");
    srv_admission_cleanup(&a);
    ASSERT_EQ(lookups(c), 2);
    ASSERT_EQ(atomic_load(&f.fetches), 1);
    ASSERT_EQ(atomic_load(&resumed), 1);
    srv_index_cache_free(c);
    og_config_unref(cfg);
    free(body);
}

/* No budget: one lookup, and the policy decides with the fetch still running (pending). */
OG_TEST(no_budget_no_wait)
{
    struct fetcher f = {true, OG_INDEX_STATE_CLEAN, 0, NULL, NULL};
    struct srv_index_cache *c = new_cache(&f);
    struct og_config *cfg = config();
    char *body = review("CREATE", "https://example.com/charts");
    atomic_int resumed = 0;
    struct srv_admission a;
    struct srv_response resp;

    cfg->index.budget_ms = 0;
    ASSERT_EQ(start(&a, cfg, c, &resumed, body, &resp), SRV_ADMISSION_RESPOND);
    expect_answer(&resp, "is pending; allowed");
    srv_admission_cleanup(&a);
    ASSERT_EQ(lookups(c), 1);
    ASSERT_EQ(atomic_load(&resumed), 0);
    deliver(&f); /* the cache waits for its fetches when freed */
    srv_index_cache_free(c);
    og_config_unref(cfg);
    free(body);
}

/* Without a cache (as fuzz_http.c runs it) a url the index could judge is simply allowed. */
OG_TEST(no_cache_no_verdict)
{
    struct og_config *cfg = config();
    char *body = review("CREATE", "https://example.com/charts");
    atomic_int resumed = 0;
    struct srv_admission a;
    struct srv_response resp;

    ASSERT_EQ(start(&a, cfg, NULL, &resumed, body, &resp), SRV_ADMISSION_RESPOND);
    expect_answer(&resp, "\"allowed\":true");
    srv_admission_cleanup(&a);
    og_config_unref(cfg);
    free(body);
}

OG_TEST_MAIN(OG_T(no_url_no_lookup), OG_T(cached_verdict_one_lookup),
             OG_T(wait_parks_and_resumes_once), OG_T(no_budget_no_wait), OG_T(no_cache_no_verdict))
