/*
 * test_index_cache.c - the index cache over the real fetcher and analyzer, against
 * tests/integration/indexsrv.py on 127.0.0.1, with an injected clock to age entries.
 */
#include "harness.h"
#include "indexsrv.h"

#include <pthread.h>
#include <stdatomic.h>

#include "index_cache.h"
#include "index_fetch.h"
#include "log.h"

/* What each test sets up for itself: an index server of its own and a clock to age entries. */
struct fixture {
    struct og_indexsrv srv;
    _Atomic uint64_t now; /* the fake clock, in ms */
};

static uint64_t fake_clock(void *arg)
{
    _Atomic uint64_t *now = arg;

    return atomic_load(now);
}

static void advance(struct fixture *fx, uint64_t ms)
{
    atomic_fetch_add(&fx->now, ms);
}

static void setup(struct fixture *fx)
{
    srv_log_set_level(SRV_LOG_ERROR); /* the per-fetch lines are for operators, not tests */
    memset(&fx->srv, 0, sizeof(fx->srv));
    atomic_init(&fx->now, 1000000);
    if (og_indexsrv_start(&fx->srv, "127.0.0.2") != 0)
        OG_FAIL_("cannot start indexsrv.py");
}

static void teardown(struct fixture *fx)
{
    og_indexsrv_stop(&fx->srv);
}

/* A config whose SSRF guard lets the loopback test server through. */
static struct og_config *test_config(void)
{
    struct og_config *cfg = NULL;

    if (og_config_new(&cfg) != OG_OK)
        OG_FAIL_("og_config_new");
    cfg->index.allow_cidrs = calloc(1, sizeof(char *));
    if (cfg->index.allow_cidrs == NULL)
        OG_FAIL_("out of memory");
    cfg->index.allow_cidrs[0] = strdup("127.0.0.1/32");
    cfg->index.n_allow_cidrs = 1;
    cfg->index.connect_timeout_ms = 1000;
    cfg->index.fetch_timeout_ms = 5000;
    return cfg;
}

static struct srv_index_cache *new_cache(struct fixture *fx, uint32_t entries, bool fake)
{
    struct srv_index_cache_opts o;
    struct srv_index_cache *c = NULL;

    srv_index_cache_opts_init(&o, NULL);
    ASSERT_EQ(o.max_entries, 1024);
    ASSERT(o.fetch == NULL); /* the built-in fetcher */
    ASSERT_EQ(o.max_fetches, SRV_FETCH_MAX_TOTAL);
    ASSERT_EQ(o.max_per_host, SRV_FETCH_MAX_PER_HOST);
    o.max_entries = entries;
    if (fake) {
        o.clock = fake_clock;
        o.clock_arg = &fx->now;
    }
    if (srv_index_cache_new(&o, &c) != OG_OK)
        OG_FAIL_("srv_index_cache_new");
    return c;
}

/* Where wake() lands: counts calls and lets the test wait for one. */
struct box {
    pthread_mutex_t m;
    pthread_cond_t cv;
    int wakes;
};

static void box_init(struct box *b)
{
    pthread_mutex_init(&b->m, NULL);
    pthread_cond_init(&b->cv, NULL);
    b->wakes = 0;
}

static void box_wake(void *arg)
{
    struct box *b = arg;

    pthread_mutex_lock(&b->m);
    b->wakes++;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->m);
}

static void box_wait(struct box *b)
{
    pthread_mutex_lock(&b->m);
    while (b->wakes == 0)
        pthread_cond_wait(&b->cv, &b->m);
    pthread_mutex_unlock(&b->m);
}

static void base_url(const struct fixture *fx, char *url, size_t size, const char *path)
{
    snprintf(url, size, "%s%s", fx->srv.base, path);
}

/* Looks `url` up as the HTTP server does: wait for the wake, then ask again. The deadline
 * is on the real clock (`budget_ms` from now) unless the cache runs on the fake one. */
static void lookup_wait(struct srv_index_cache *c, struct og_config *cfg, const char *url,
                        uint64_t deadline, struct og_index_verdict *v)
{
    struct box b;

    box_init(&b);
    if (srv_index_cache_lookup(c, cfg, url, deadline, v, box_wake, &b) == SRV_INDEX_WAIT) {
        box_wait(&b);
        ASSERT_EQ(srv_index_cache_lookup(c, cfg, url, 0, v, NULL, NULL), SRV_INDEX_READY);
    }
    ASSERT_EQ(b.wakes <= 1, 1);
}

OG_TEST(miss_fetches_then_hits)
{
    struct fixture fx;

    setup(&fx);
    struct og_config *cfg;
    struct srv_index_cache *c;
    struct srv_index_cache_stats st;
    struct og_index_verdict v;
    char url[256];

    cfg = test_config();
    c = new_cache(&fx, 16, true);
    og_indexsrv_reset(&fx.srv);
    base_url(&fx, url, sizeof(url), "/repo/oci-small");
    lookup_wait(c, cfg, url, fake_clock(&fx.now) + 10000, &v);
    ASSERT_EQ(v.state, OG_INDEX_STATE_OCI);
    ASSERT_STR_EQ(v.oci_base, "oci://registry-1.docker.io/bitnamicharts");
    og_index_verdict_cleanup(&v);

    /* Warm: answered from the cache, no request, even without a wake function. */
    ASSERT_EQ(srv_index_cache_lookup(c, cfg, url, 0, &v, NULL, NULL), SRV_INDEX_READY);
    ASSERT_EQ(v.state, OG_INDEX_STATE_OCI);
    og_index_verdict_cleanup(&v);
    ASSERT_EQ(srv_index_cache_lookup(c, cfg, url, fake_clock(&fx.now) + 1000, &v, box_wake, NULL),
              SRV_INDEX_READY);
    og_index_verdict_cleanup(&v);
    ASSERT_EQ(og_indexsrv_count(&fx.srv, "/repo/oci-small/index.yaml"), 1);
    srv_index_cache_get_stats(c, &st);
    ASSERT_EQ(st.hits, 3); /* lookup_wait's second lookup, and the two above */
    ASSERT_EQ(st.misses, 1);
    ASSERT_EQ(st.fetches, 1);
    ASSERT_EQ(st.entries, 1);

    base_url(&fx, url, sizeof(url), "/repo/http-small/");
    lookup_wait(c, cfg, url, fake_clock(&fx.now) + 10000, &v);
    ASSERT_EQ(v.state, OG_INDEX_STATE_CLEAN);
    og_index_verdict_cleanup(&v);
    srv_index_cache_free(c);
    og_config_unref(cfg);
    teardown(&fx);
}

OG_TEST(wake_null_gives_pending)
{
    struct fixture fx;

    setup(&fx);
    struct og_config *cfg = test_config();
    struct srv_index_cache *c = new_cache(&fx, 16, false);
    struct og_index_verdict v;
    char url[256];

    base_url(&fx, url, sizeof(url), "/delay/300/oci-small");
    ASSERT_EQ(srv_index_cache_lookup(c, cfg, url, 0, &v, NULL, NULL), SRV_INDEX_READY);
    ASSERT_EQ(v.state, OG_INDEX_STATE_PENDING);
    og_index_verdict_cleanup(&v);
    /* A deadline already past gives PENDING too, and joins the same fetch. */
    ASSERT_EQ(srv_index_cache_lookup(c, cfg, url, srv_index_now_ms() - 1, &v, box_wake, NULL),
              SRV_INDEX_READY);
    ASSERT_EQ(v.state, OG_INDEX_STATE_PENDING);
    og_index_verdict_cleanup(&v);
    lookup_wait(c, cfg, url, srv_index_now_ms() + 5000, &v);
    ASSERT_EQ(v.state, OG_INDEX_STATE_OCI);
    og_index_verdict_cleanup(&v);
    struct srv_index_cache_stats st;
    srv_index_cache_get_stats(c, &st);
    ASSERT_EQ(st.fetches, 1);
    ASSERT_EQ(st.joined, 2);
    srv_index_cache_free(c);
    og_config_unref(cfg);
    teardown(&fx);
}

struct racer {
    struct srv_index_cache *c;
    struct og_config *cfg;
    const char *url;
    enum og_index_state state;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    struct og_index_verdict v;
    struct box b;

    box_init(&b);
    if (srv_index_cache_lookup(r->c, r->cfg, r->url, srv_index_now_ms() + 10000, &v, box_wake,
                               &b) == SRV_INDEX_WAIT) {
        box_wait(&b);
        (void)srv_index_cache_lookup(r->c, r->cfg, r->url, 0, &v, NULL, NULL);
    }
    r->state = v.state;
    og_index_verdict_cleanup(&v);
    return NULL;
}

OG_TEST(single_flight)
{
    struct fixture fx;

    setup(&fx);
    enum { N = 12 };
    struct og_config *cfg = test_config();
    struct srv_index_cache *c = new_cache(&fx, 16, false);
    struct racer r[N];
    pthread_t t[N];
    char url[256];

    og_indexsrv_reset(&fx.srv);
    base_url(&fx, url, sizeof(url), "/delay/400/oci-small");
    for (int i = 0; i < N; i++) {
        r[i] = (struct racer){c, cfg, url, OG_INDEX_STATE_NONE};
        ASSERT_EQ(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++)
        ASSERT_EQ(r[i].state, OG_INDEX_STATE_OCI);
    ASSERT_EQ(og_indexsrv_count(&fx.srv, "/delay/400/oci-small/index.yaml"), 1);
    struct srv_index_cache_stats st;
    srv_index_cache_get_stats(c, &st);
    ASSERT_EQ(st.fetches, 1);
    ASSERT(st.joined <= N - 1);
    srv_index_cache_free(c);
    og_config_unref(cfg);
    teardown(&fx);
}

/* Polls the server until `path` was requested `n` times (at most ~5 s). */
static long await_count(struct fixture *fx, const char *path, long n)
{
    long got = -1;

    for (int i = 0; i < 250; i++) {
        got = og_indexsrv_count(&fx->srv, path);
        if (got >= n)
            break;
        usleep(20000);
    }
    return got;
}

OG_TEST(ttl_and_stale_while_revalidate)
{
    struct fixture fx;

    setup(&fx);
    struct og_config *cfg = test_config();
    struct srv_index_cache *c = new_cache(&fx, 16, true);
    struct srv_index_cache_stats st;
    struct og_index_verdict v;
    char url[256];

    og_indexsrv_reset(&fx.srv);
    cfg->index.ttl_s = 60;
    base_url(&fx, url, sizeof(url), "/repo/oci-small");
    lookup_wait(c, cfg, url, fake_clock(&fx.now) + 10000, &v);
    ASSERT_EQ(v.state, OG_INDEX_STATE_OCI);
    og_index_verdict_cleanup(&v);

    advance(&fx, 59 * 1000);
    ASSERT_EQ(srv_index_cache_lookup(c, cfg, url, 0, &v, NULL, NULL), SRV_INDEX_READY);
    ASSERT_EQ(v.state, OG_INDEX_STATE_OCI);
    og_index_verdict_cleanup(&v);
    srv_index_cache_get_stats(c, &st);
    ASSERT_EQ(st.hits, 2);
    ASSERT_EQ(st.stale, 0);

    /* Past the TTL: served stale at once, one refresh in the background. */
    advance(&fx, 2 * 1000);
    ASSERT_EQ(srv_index_cache_lookup(c, cfg, url, fake_clock(&fx.now) + 1000, &v, box_wake, NULL),
              SRV_INDEX_READY);
    ASSERT_EQ(v.state, OG_INDEX_STATE_OCI);
    og_index_verdict_cleanup(&v);
    ASSERT_EQ(srv_index_cache_lookup(c, cfg, url, 0, &v, NULL, NULL), SRV_INDEX_READY);
    ASSERT(v.state == OG_INDEX_STATE_OCI);
    og_index_verdict_cleanup(&v);
    ASSERT_EQ(await_count(&fx, "/repo/oci-small/index.yaml", 2), 2);
    for (int i = 0; i < 100; i++) {
        srv_index_cache_get_stats(c, &st);
        if (st.fetches == 2)
            break;
        usleep(10000);
    }
    srv_index_cache_get_stats(c, &st);
    ASSERT_EQ(st.fetches, 2);
    ASSERT(st.stale >= 1);

    /* The refresh reset the TTL: fresh again (once it has landed). */
    for (int i = 0; i < 100; i++) {
        struct srv_index_cache_stats before, after;
        srv_index_cache_get_stats(c, &before);
        ASSERT_EQ(srv_index_cache_lookup(c, cfg, url, 0, &v, NULL, NULL), SRV_INDEX_READY);
        og_index_verdict_cleanup(&v);
        srv_index_cache_get_stats(c, &after);
        if (after.hits > before.hits)
            break;
        usleep(10000);
    }
    ASSERT_EQ(og_indexsrv_count(&fx.srv, "/repo/oci-small/index.yaml"), 2);

    /* Past the stale window (another TTL) a verdict is not served any more. */
    advance(&fx, 121 * 1000);
    ASSERT_EQ(srv_index_cache_lookup(c, cfg, url, 0, &v, NULL, NULL), SRV_INDEX_READY);
    ASSERT_EQ(v.state, OG_INDEX_STATE_PENDING);
    og_index_verdict_cleanup(&v);
    ASSERT_EQ(await_count(&fx, "/repo/oci-small/index.yaml", 3), 3);
    srv_index_cache_free(c);
    og_config_unref(cfg);
    teardown(&fx);
}

OG_TEST(failed_refresh_keeps_the_good_verdict)
{
    struct fixture fx;

    setup(&fx);
    struct og_config *cfg = test_config();
    struct srv_index_cache *c = new_cache(&fx, 16, true);
    struct srv_index_cache_stats st;
    struct og_index_verdict v;
    char url[256];

    og_indexsrv_reset(&fx.srv);
    cJSON_Delete(og_indexsrv_get_json(&fx.srv, "/_flaky/0"));
    cfg->index.ttl_s = 60;
    cfg->index.negative_ttl_s = 10;
    base_url(&fx, url, sizeof(url), "/flaky/oci-small");
    lookup_wait(c, cfg, url, fake_clock(&fx.now) + 10000, &v);
    ASSERT_EQ(v.state, OG_INDEX_STATE_OCI);
    og_index_verdict_cleanup(&v);

    /* Stale, and the refresh fails: the OCI verdict stays. */
    cJSON_Delete(og_indexsrv_get_json(&fx.srv, "/_flaky/1"));
    advance(&fx, 61 * 1000);
    ASSERT_EQ(srv_index_cache_lookup(c, cfg, url, 0, &v, NULL, NULL), SRV_INDEX_READY);
    ASSERT_EQ(v.state, OG_INDEX_STATE_OCI);
    og_index_verdict_cleanup(&v);
    for (int i = 0; i < 200; i++) {
        srv_index_cache_get_stats(c, &st);
        if (st.kept == 1)
            break;
        usleep(10000);
    }
    ASSERT_EQ(st.kept, 1);
    ASSERT_EQ(srv_index_cache_lookup(c, cfg, url, 0, &v, NULL, NULL), SRV_INDEX_READY);
    ASSERT_EQ(v.state, OG_INDEX_STATE_OCI);
    og_index_verdict_cleanup(&v);
    srv_index_cache_get_stats(c, &st);
    ASSERT_EQ(st.fetches, 2); /* served as fresh until the negative TTL: no new fetch */

    /* Past the stale window the failure shows. */
    advance(&fx, 120 * 1000);
    lookup_wait(c, cfg, url, fake_clock(&fx.now) + 10000, &v);
    ASSERT_EQ(v.state, OG_INDEX_STATE_UNKNOWN);
    ASSERT_STR_EQ(v.detail, "HTTP 503");
    og_index_verdict_cleanup(&v);
    cJSON_Delete(og_indexsrv_get_json(&fx.srv, "/_flaky/0"));
    srv_index_cache_free(c);
    og_config_unref(cfg);
    teardown(&fx);
}

OG_TEST(negative_ttl)
{
    struct fixture fx;

    setup(&fx);
    struct og_config *cfg = test_config();
    struct srv_index_cache *c = new_cache(&fx, 16, true);
    struct og_index_verdict v;
    char url[256];

    og_indexsrv_reset(&fx.srv);
    cfg->index.negative_ttl_s = 300;
    base_url(&fx, url, sizeof(url), "/status/401");
    lookup_wait(c, cfg, url, fake_clock(&fx.now) + 10000, &v);
    ASSERT_EQ(v.state, OG_INDEX_STATE_UNKNOWN);
    ASSERT_STR_EQ(v.detail, "HTTP 401");
    og_index_verdict_cleanup(&v);
    advance(&fx, 299 * 1000);
    ASSERT_EQ(srv_index_cache_lookup(c, cfg, url, 0, &v, NULL, NULL), SRV_INDEX_READY);
    ASSERT_EQ(v.state, OG_INDEX_STATE_UNKNOWN);
    og_index_verdict_cleanup(&v);
    ASSERT_EQ(og_indexsrv_count(&fx.srv, "/status/401/index.yaml"), 1);
    /* Expired failures are not served stale: the next admission waits for a new fetch. */
    advance(&fx, 2 * 1000);
    ASSERT_EQ(srv_index_cache_lookup(c, cfg, url, 0, &v, NULL, NULL), SRV_INDEX_READY);
    ASSERT_EQ(v.state, OG_INDEX_STATE_PENDING);
    og_index_verdict_cleanup(&v);
    ASSERT_EQ(await_count(&fx, "/status/401/index.yaml", 2), 2);

    static const struct {
        const char *path, *detail;
    } rows[] = {
        {"/status/404", "HTTP 404"},
        {"/status/503", "HTTP 503"},
        {"/garbage", "not a Helm index"},
        {"/loop", "more than 3 redirects"},
        {"/to/http%3A%2F%2F10.0.0.1%2F", "address 10.0.0.1 is not allowed"},
        {"/to/http%3A%2F%2F169.254.169.254%2F", "address 169.254.169.254 is not allowed"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        base_url(&fx, url, sizeof(url), rows[i].path);
        lookup_wait(c, cfg, url, fake_clock(&fx.now) + 10000, &v);
        ASSERT_EQ(v.state, OG_INDEX_STATE_UNKNOWN);
        ASSERT_STR_CONTAINS(v.detail, rows[i].detail);
        og_index_verdict_cleanup(&v);
    }
    srv_index_cache_free(c);
    og_config_unref(cfg);
    teardown(&fx);
}

OG_TEST(guard_never_connects_to_refused_addresses)
{
    struct fixture fx;

    setup(&fx);
    struct og_config *cfg = test_config();
    struct srv_index_cache *c = new_cache(&fx, 16, true);
    struct og_index_verdict v;
    char url[256], path[160];

    og_indexsrv_reset(&fx.srv);
    snprintf(path, sizeof(path), "/to/http%%3A%%2F%%2F127.0.0.2%%3A%d%%2F", fx.srv.sentinel_port);
    base_url(&fx, url, sizeof(url), path);
    lookup_wait(c, cfg, url, fake_clock(&fx.now) + 10000, &v);
    ASSERT_EQ(v.state, OG_INDEX_STATE_UNKNOWN);
    ASSERT_STR_EQ(v.detail, "address 127.0.0.2 is not allowed");
    og_index_verdict_cleanup(&v);
    snprintf(url, sizeof(url), "http://127.0.0.2:%d", fx.srv.sentinel_port);
    lookup_wait(c, cfg, url, fake_clock(&fx.now) + 10000, &v);
    ASSERT_STR_EQ(v.detail, "address 127.0.0.2 is not allowed");
    og_index_verdict_cleanup(&v);
    ASSERT_EQ(og_indexsrv_count(&fx.srv, "sentinel_connections"), 0);
    srv_index_cache_free(c);
    og_config_unref(cfg);
    teardown(&fx);
}

OG_TEST(lru_eviction)
{
    struct fixture fx;

    setup(&fx);
    struct og_config *cfg = test_config();
    struct srv_index_cache *c = new_cache(&fx, 2, true);
    struct srv_index_cache_stats st;
    struct og_index_verdict v;
    char a[256], b[256], d[256];

    og_indexsrv_reset(&fx.srv);
    base_url(&fx, a, sizeof(a), "/repo/oci-small");
    base_url(&fx, b, sizeof(b), "/repo/http-small");
    base_url(&fx, d, sizeof(d), "/gzip/oci-small");
    lookup_wait(c, cfg, a, fake_clock(&fx.now) + 10000, &v);
    og_index_verdict_cleanup(&v);
    lookup_wait(c, cfg, b, fake_clock(&fx.now) + 10000, &v);
    og_index_verdict_cleanup(&v);
    /* Touch a, so b is the least recently used when d comes in. */
    ASSERT_EQ(srv_index_cache_lookup(c, cfg, a, 0, &v, NULL, NULL), SRV_INDEX_READY);
    ASSERT_EQ(v.state, OG_INDEX_STATE_OCI);
    og_index_verdict_cleanup(&v);
    lookup_wait(c, cfg, d, fake_clock(&fx.now) + 10000, &v);
    ASSERT_EQ(v.state, OG_INDEX_STATE_OCI);
    og_index_verdict_cleanup(&v);
    srv_index_cache_get_stats(c, &st);
    ASSERT_EQ(st.evictions, 1);
    ASSERT_EQ(st.entries, 2);
    ASSERT_EQ(srv_index_cache_lookup(c, cfg, a, 0, &v, NULL, NULL), SRV_INDEX_READY);
    ASSERT_EQ(v.state, OG_INDEX_STATE_OCI);
    og_index_verdict_cleanup(&v);
    ASSERT_EQ(srv_index_cache_lookup(c, cfg, b, 0, &v, NULL, NULL), SRV_INDEX_READY);
    ASSERT_EQ(v.state, OG_INDEX_STATE_PENDING); /* evicted: fetched again */
    og_index_verdict_cleanup(&v);
    ASSERT_EQ(await_count(&fx, "/repo/http-small/index.yaml", 2), 2);
    srv_index_cache_free(c);
    og_config_unref(cfg);
    teardown(&fx);
}

/* Asks for `url` without waiting (every 50 ms, at most `tries` times) until it is no longer
 * pending; the last verdict is left in `v`. */
static void poll_settled(struct srv_index_cache *c, struct og_config *cfg, const char *url,
                         int tries, struct og_index_verdict *v)
{
    for (int i = 0; i < tries; i++) {
        ASSERT_EQ(srv_index_cache_lookup(c, cfg, url, 0, v, NULL, NULL), SRV_INDEX_READY);
        if (v->state != OG_INDEX_STATE_PENDING || i + 1 == tries)
            return;
        og_index_verdict_cleanup(v);
        usleep(50 * 1000);
    }
}

/*
 * A full cache whose every entry is fetching evicts nothing (the fetch thread still holds the
 * entry): a lookup for another url answers unknown, "too many index fetches in flight", and
 * the pinned entry gets its verdict once its fetch lands. Only then can it make room.
 */
OG_TEST(full_cache_never_evicts_a_fetching_entry)
{
    struct fixture fx;

    setup(&fx);
    struct og_config *cfg = test_config();
    struct srv_index_cache *c = new_cache(&fx, 1, false);
    struct srv_index_cache_stats st;
    struct og_index_verdict v;
    char held[256], other[256];

    base_url(&fx, held, sizeof(held), "/delay/1500/oci-small");
    base_url(&fx, other, sizeof(other), "/repo/http-small");
    ASSERT_EQ(srv_index_cache_lookup(c, cfg, held, 0, &v, NULL, NULL), SRV_INDEX_READY);
    ASSERT_EQ(v.state, OG_INDEX_STATE_PENDING);
    og_index_verdict_cleanup(&v);
    /* The fetch of `held` is open (the server holds it 1.5 s): the one entry is pinned. */
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ(srv_index_cache_lookup(c, cfg, other, 0, &v, NULL, NULL), SRV_INDEX_READY);
        ASSERT_EQ(v.state, OG_INDEX_STATE_UNKNOWN);
        ASSERT(v.detail != NULL);
        ASSERT_STR_EQ(v.detail, "too many index fetches in flight");
        og_index_verdict_cleanup(&v);
    }
    srv_index_cache_get_stats(c, &st);
    ASSERT_EQ(st.evictions, 0);
    ASSERT_EQ(st.entries, 1);
    ASSERT_EQ(og_indexsrv_count(&fx.srv, "/repo/http-small/index.yaml"), 0);

    /* The held fetch lands in its (still cached) entry. */
    poll_settled(c, cfg, held, 200, &v);
    ASSERT_EQ(v.state, OG_INDEX_STATE_OCI);
    og_index_verdict_cleanup(&v);

    /* Delivered, it is no longer pinned: the other url now takes its place. */
    lookup_wait(c, cfg, other, srv_index_now_ms() + 10000, &v);
    ASSERT_EQ(v.state, OG_INDEX_STATE_CLEAN);
    og_index_verdict_cleanup(&v);
    srv_index_cache_get_stats(c, &st);
    ASSERT_EQ(st.evictions, 1);
    ASSERT_EQ(st.entries, 1);
    srv_index_cache_free(c);
    og_config_unref(cfg);
    teardown(&fx);
}

/* An empty 200 is analyzed like any body: not a Helm index, rather than "fetch failed". */
OG_TEST(empty_body_is_not_an_index)
{
    struct fixture fx;

    setup(&fx);
    struct og_config *cfg = test_config();
    struct srv_index_cache *c = new_cache(&fx, 4, false);
    struct og_index_verdict v;
    char url[256];

    base_url(&fx, url, sizeof(url), "/status/200");
    lookup_wait(c, cfg, url, srv_index_now_ms() + 10000, &v);
    ASSERT_EQ(v.state, OG_INDEX_STATE_UNKNOWN);
    ASSERT(v.detail != NULL);
    ASSERT_STR_CONTAINS(v.detail, "not a Helm index");
    og_index_verdict_cleanup(&v);
    srv_index_cache_free(c);
    og_config_unref(cfg);
    teardown(&fx);
}

OG_TEST(threshold_change_is_a_miss)
{
    struct fixture fx;

    setup(&fx);
    struct og_config *cfg = test_config();
    struct srv_index_cache *c = new_cache(&fx, 16, true);
    struct og_index_verdict v;
    char url[256];

    base_url(&fx, url, sizeof(url), "/repo/oci-small");
    lookup_wait(c, cfg, url, fake_clock(&fx.now) + 10000, &v);
    ASSERT_EQ(v.state, OG_INDEX_STATE_OCI);
    og_index_verdict_cleanup(&v);
    cfg->index.threshold = OG_INDEX_THRESHOLD_ANY;
    ASSERT_EQ(srv_index_cache_lookup(c, cfg, url, 0, &v, NULL, NULL), SRV_INDEX_READY);
    ASSERT_EQ(v.state, OG_INDEX_STATE_PENDING);
    og_index_verdict_cleanup(&v);
    srv_index_cache_free(c);
    og_config_unref(cfg);
    teardown(&fx);
}

OG_TEST(deadline_wakes_and_fetch_completes_later)
{
    struct fixture fx;

    setup(&fx);
    struct og_config *cfg = test_config();
    struct srv_index_cache *c = new_cache(&fx, 16, false);
    struct srv_index_cache_stats st;
    struct og_index_verdict v;
    struct box b;
    char url[256];

    box_init(&b);
    base_url(&fx, url, sizeof(url), "/delay/1200/oci-small");
    uint64_t t0 = srv_index_now_ms();
    ASSERT_EQ(srv_index_cache_lookup(c, cfg, url, t0 + 200, &v, box_wake, &b), SRV_INDEX_WAIT);
    box_wait(&b);
    uint64_t took = srv_index_now_ms() - t0;
    ASSERT(took >= 190 && took < 1200);
    ASSERT_EQ(srv_index_cache_lookup(c, cfg, url, 0, &v, NULL, NULL), SRV_INDEX_READY);
    ASSERT_EQ(v.state, OG_INDEX_STATE_PENDING);
    og_index_verdict_cleanup(&v);
    srv_index_cache_get_stats(c, &st);
    ASSERT_EQ(st.timeouts, 1);

    /* The fetch goes on and lands for the next admission. */
    poll_settled(c, cfg, url, 100, &v);
    ASSERT_EQ(v.state, OG_INDEX_STATE_OCI);
    og_index_verdict_cleanup(&v);
    pthread_mutex_lock(&b.m);
    ASSERT_EQ(b.wakes, 1); /* exactly once, even though the fetch completed later */
    pthread_mutex_unlock(&b.m);
    srv_index_cache_free(c);
    og_config_unref(cfg);
    teardown(&fx);
}

OG_TEST(free_wakes_waiters_and_cancels)
{
    struct fixture fx;

    setup(&fx);
    struct og_config *cfg = test_config();
    struct srv_index_cache *c = new_cache(&fx, 16, false);
    struct og_index_verdict v;
    struct box b1, b2;
    char url[256], url2[256];

    box_init(&b1);
    box_init(&b2);
    base_url(&fx, url, sizeof(url), "/drip/100");
    base_url(&fx, url2, sizeof(url2), "/endless");
    cfg->index.fetch_timeout_ms = 60000;
    cfg->index.max_bytes = UINT64_MAX / 4;
    ASSERT_EQ(srv_index_cache_lookup(c, cfg, url, srv_index_now_ms() + 60000, &v, box_wake, &b1),
              SRV_INDEX_WAIT);
    ASSERT_EQ(srv_index_cache_lookup(c, cfg, url2, srv_index_now_ms() + 60000, &v, box_wake, &b2),
              SRV_INDEX_WAIT);
    usleep(300 * 1000);
    uint64_t t0 = srv_index_now_ms();
    srv_index_cache_free(c);
    ASSERT(srv_index_now_ms() - t0 < 2000);
    ASSERT_EQ(b1.wakes, 1);
    ASSERT_EQ(b2.wakes, 1);
    og_config_unref(cfg);
    teardown(&fx);
}

OG_TEST(large_real_index)
{
    struct fixture fx;

    setup(&fx);
    struct og_config *cfg = test_config();
    struct srv_index_cache *c = new_cache(&fx, 16, false);
    struct og_index_verdict v;
    char url[256], path[512];

    snprintf(path, sizeof(path), "%s/index/bitnami-subset-redis-2025-01-13.yaml",
             og_test_shared_data());
    if (access(path, R_OK) != 0) {
        srv_index_cache_free(c);
        og_config_unref(cfg);
        OG_SKIP("%s is absent", path);
    }
    base_url(&fx, url, sizeof(url), "/gzip/bitnami-subset-redis-2025-01-13");
    lookup_wait(c, cfg, url, srv_index_now_ms() + 10000, &v);
    ASSERT_EQ(v.state, OG_INDEX_STATE_OCI);
    ASSERT_STR_EQ(v.oci_base, "oci://registry-1.docker.io/bitnamicharts");
    og_index_verdict_cleanup(&v);
    base_url(&fx, url, sizeof(url), "/repo/bitnami-index-2023-03-01");
    lookup_wait(c, cfg, url, srv_index_now_ms() + 10000, &v);
    ASSERT_EQ(v.state, OG_INDEX_STATE_CLEAN);
    og_index_verdict_cleanup(&v);
    srv_index_cache_free(c);
    og_config_unref(cfg);
    teardown(&fx);
}

/* ---- conditional refresh (ETag / Last-Modified, 304) ---- */

/* Waits for the verdict of `url` (up to `ms` on the fake clock) and gives its state. */
static enum og_index_state verdict_of(struct fixture *fx, struct srv_index_cache *c,
                                      struct og_config *cfg, const char *url, uint64_t ms)
{
    struct og_index_verdict v;
    enum og_index_state state;

    lookup_wait(c, cfg, url, fake_clock(&fx->now) + ms, &v);
    state = v.state;
    og_index_verdict_cleanup(&v);
    return state;
}

/* Waits until `n` fetches were started and none is in flight (at most ~10 s). */
static void await_settled(struct srv_index_cache *c, uint64_t n)
{
    struct srv_index_cache_stats st;

    for (int i = 0; i < 1000; i++) {
        srv_index_cache_get_stats(c, &st);
        if (st.fetches >= n && st.in_flight == 0)
            break;
        usleep(10000);
    }
    srv_index_cache_get_stats(c, &st);
    ASSERT_EQ(st.fetches, n);
    ASSERT_EQ(st.in_flight, 0);
}

/* Ages the entry of `url` past its TTL, serves it stale and waits for its refresh (the
 * `n`th fetch) to land; the verdict served is `want`. */
static void stale_refresh(struct fixture *fx, struct srv_index_cache *c, struct og_config *cfg,
                          const char *url, enum og_index_state want, uint64_t n)
{
    struct og_index_verdict v;

    advance(fx, ((uint64_t)cfg->index.ttl_s + 1) * 1000u);
    ASSERT_EQ(srv_index_cache_lookup(c, cfg, url, 0, &v, NULL, NULL), SRV_INDEX_READY);
    ASSERT_EQ(v.state, want);
    og_index_verdict_cleanup(&v);
    await_settled(c, n);
}

/* The verdict of `url` now, which must be a fresh hit. */
static enum og_index_state fresh_state(struct srv_index_cache *c, struct og_config *cfg,
                                       const char *url)
{
    struct srv_index_cache_stats before, after;
    struct og_index_verdict v;
    enum og_index_state state;

    srv_index_cache_get_stats(c, &before);
    ASSERT_EQ(srv_index_cache_lookup(c, cfg, url, 0, &v, NULL, NULL), SRV_INDEX_READY);
    state = v.state;
    og_index_verdict_cleanup(&v);
    srv_index_cache_get_stats(c, &after);
    ASSERT_EQ(after.hits, before.hits + 1);
    return state;
}

/* The request header `name` of the server's last request is `want` (NULL: absent). */
static void last_header_is(struct fixture *fx, const char *name, const char *want)
{
    char *got = og_indexsrv_last_header(&fx->srv, name);

    if (want == NULL)
        ASSERT(got == NULL);
    else
        ASSERT_STR_EQ(got, want);
    free(got);
}

/* True when the server's last request had header `name`. */
static bool last_header_sent(struct fixture *fx, const char *name)
{
    char *got = og_indexsrv_last_header(&fx->srv, name);
    bool sent = got != NULL;

    free(got);
    return sent;
}

/*
 * A refresh of an unchanged index is a 304: the verdict is renewed (fresh again) without a
 * body, and costs under 1 KiB on the wire. Past the stale window too, the validators are sent.
 */
OG_TEST(unchanged_index_refresh_is_not_modified)
{
    struct fixture fx;

    setup(&fx);
    struct og_config *cfg = test_config();
    struct srv_index_cache *c = new_cache(&fx, 16, true);
    struct srv_index_cache_stats st;
    const char *path = "/repo/oci-small/index.yaml";
    char url[256], *etag;
    long first;

    og_indexsrv_reset(&fx.srv);
    cfg->index.ttl_s = 60;
    base_url(&fx, url, sizeof(url), "/repo/oci-small");
    ASSERT_EQ(verdict_of(&fx, c, cfg, url, 10000), OG_INDEX_STATE_OCI);
    last_header_is(&fx, "if-none-match", NULL);
    first = og_indexsrv_bytes_sent(&fx.srv, path);

    stale_refresh(&fx, c, cfg, url, OG_INDEX_STATE_OCI, 2);
    ASSERT_EQ(og_indexsrv_count(&fx.srv, path), 2);
    ASSERT_EQ(og_indexsrv_count(&fx.srv, "not_modified"), 1);
    etag = og_indexsrv_last_header(&fx.srv, "if-none-match");
    ASSERT(etag != NULL && etag[0] == '"');
    free(etag);
    ASSERT(last_header_sent(&fx, "if-modified-since"));
    ASSERT(og_indexsrv_bytes_sent(&fx.srv, path) - first < 1024);
    srv_index_cache_get_stats(c, &st);
    ASSERT_EQ(st.not_modified, 1);
    ASSERT_EQ(fresh_state(c, cfg, url), OG_INDEX_STATE_OCI);

    /* Past the TTL and the stale window: a miss, and still a 304 that renews the verdict. */
    advance(&fx, 200 * 1000);
    ASSERT_EQ(verdict_of(&fx, c, cfg, url, 10000), OG_INDEX_STATE_OCI);
    ASSERT_EQ(og_indexsrv_count(&fx.srv, "not_modified"), 2);
    srv_index_cache_get_stats(c, &st);
    ASSERT_EQ(st.not_modified, 2);
    ASSERT_EQ(fresh_state(c, cfg, url), OG_INDEX_STATE_OCI);
    srv_index_cache_free(c);
    og_config_unref(cfg);
    teardown(&fx);
}

/* A changed index (a new ETag) gives a 200 and a new verdict; the refresh after that sends the
 * new ETag. */
OG_TEST(changed_index_gives_a_new_verdict)
{
    struct fixture fx;

    setup(&fx);
    struct og_config *cfg = test_config();
    struct srv_index_cache *c = new_cache(&fx, 16, true);
    struct srv_index_cache_stats st;
    char url[256], *etag1, *etag2;

    og_indexsrv_reset(&fx.srv);
    cfg->index.ttl_s = 60;
    cJSON_Delete(og_indexsrv_get_json(&fx.srv, "/_set/k/oci-small"));
    base_url(&fx, url, sizeof(url), "/var/k");
    ASSERT_EQ(verdict_of(&fx, c, cfg, url, 10000), OG_INDEX_STATE_OCI);

    cJSON_Delete(og_indexsrv_get_json(&fx.srv, "/_set/k/http-small"));
    stale_refresh(&fx, c, cfg, url, OG_INDEX_STATE_OCI, 2);
    etag1 = og_indexsrv_last_header(&fx.srv, "if-none-match");
    ASSERT(etag1 != NULL); /* sent, and it did not match */
    ASSERT_EQ(og_indexsrv_count(&fx.srv, "not_modified"), 0);
    ASSERT_EQ(fresh_state(c, cfg, url), OG_INDEX_STATE_CLEAN);

    stale_refresh(&fx, c, cfg, url, OG_INDEX_STATE_CLEAN, 3);
    etag2 = og_indexsrv_last_header(&fx.srv, "if-none-match");
    ASSERT(etag2 != NULL && strcmp(etag1, etag2) != 0); /* the new index's */
    ASSERT_EQ(og_indexsrv_count(&fx.srv, "not_modified"), 1);
    ASSERT_EQ(fresh_state(c, cfg, url), OG_INDEX_STATE_CLEAN);
    srv_index_cache_get_stats(c, &st);
    ASSERT_EQ(st.not_modified, 1);
    free(etag1);
    free(etag2);
    srv_index_cache_free(c);
    og_config_unref(cfg);
    teardown(&fx);
}

/* A server that ignores the validators answers 200 each time: the refresh works as before. */
OG_TEST(server_ignoring_validators_still_works)
{
    struct fixture fx;

    setup(&fx);
    struct og_config *cfg = test_config();
    struct srv_index_cache *c = new_cache(&fx, 16, true);
    struct srv_index_cache_stats st;
    char url[256];

    og_indexsrv_reset(&fx.srv);
    cfg->index.ttl_s = 60;
    base_url(&fx, url, sizeof(url), "/ignore/oci-small");
    ASSERT_EQ(verdict_of(&fx, c, cfg, url, 10000), OG_INDEX_STATE_OCI);
    stale_refresh(&fx, c, cfg, url, OG_INDEX_STATE_OCI, 2);
    ASSERT(last_header_sent(&fx, "if-none-match"));
    ASSERT_EQ(og_indexsrv_count(&fx.srv, "/ignore/oci-small/index.yaml"), 2);
    ASSERT_EQ(fresh_state(c, cfg, url), OG_INDEX_STATE_OCI);
    srv_index_cache_get_stats(c, &st);
    ASSERT_EQ(st.not_modified, 0);
    srv_index_cache_free(c);
    og_config_unref(cfg);
    teardown(&fx);
}

/* A 304 to a first fetch (no validators sent) is an error, never a verdict. */
OG_TEST(not_modified_without_validators_is_an_error)
{
    struct fixture fx;

    setup(&fx);
    struct og_config *cfg = test_config();
    struct srv_index_cache *c = new_cache(&fx, 16, true);
    struct srv_index_cache_stats st;
    struct og_index_verdict v;
    char url[256];

    base_url(&fx, url, sizeof(url), "/status/304");
    lookup_wait(c, cfg, url, fake_clock(&fx.now) + 10000, &v);
    ASSERT_EQ(v.state, OG_INDEX_STATE_UNKNOWN);
    ASSERT_STR_EQ(v.detail, "HTTP 304 Not Modified to a request without validators");
    og_index_verdict_cleanup(&v);
    srv_index_cache_get_stats(c, &st);
    ASSERT_EQ(st.not_modified, 0);
    srv_index_cache_free(c);
    og_config_unref(cfg);
    teardown(&fx);
}

/* Validators a server gets wrong or makes hostile are dropped: the refresh sends none of
 * them (and a well-formed weak ETag is sent back as it came). */
OG_TEST(hostile_validators_are_dropped)
{
    struct fixture fx;

    setup(&fx);
    static const struct {
        const char *etag, *date; /* url-escaped, "-" for none */
        const char *sent_etag, *sent_date;
    } cases[] = {
        {"%22ok%22", "-", "\"ok\"", NULL},
        {"W%2F%22w1%22", "-", "W/\"w1\"", NULL},
        {"-", "Mon,%2001%20Jan%202024%2000:00:00%20GMT", NULL, "Mon, 01 Jan 2024 00:00:00 GMT"},
        {"%22a%01b%22", "-", NULL, NULL},                                /* a control character */
        {"%22a%7Fb%22", "-", NULL, NULL},                                /* DEL */
        {"%22a%20b%22", "-", NULL, NULL},                                /* a space */
        {"unquoted", "-", NULL, NULL},                                   /* not an entity-tag */
        {"%22", "-", NULL, NULL},                                        /* one quote */
        {"-", "Mon,%2001%20Jan%202024%2000:00:00%20GMT%01", NULL, NULL}, /* control char */
        {"-", "yesterday%20or%20so", NULL, NULL},                        /* not a date */
        {"%22ok%22", "not%20a%20date", "\"ok\"", NULL},                  /* the good one is kept */
    };
    struct og_config *cfg = test_config();
    struct srv_index_cache *c = new_cache(&fx, 64, true);
    struct og_index_verdict v;
    char url[9000], big[8400];
    size_t n = 0;

    cfg->index.ttl_s = 60;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(url, sizeof(url), "%s/hdr/%s/%s/oci-small?case=%zu", fx.srv.base, cases[i].etag,
                 cases[i].date, i);
        lookup_wait(c, cfg, url, fake_clock(&fx.now) + 10000, &v);
        ASSERT_EQ(v.state, OG_INDEX_STATE_OCI);
        og_index_verdict_cleanup(&v);
        stale_refresh(&fx, c, cfg, url, OG_INDEX_STATE_OCI, 2 * i + 2);
        last_header_is(&fx, "if-none-match", cases[i].sent_etag);
        last_header_is(&fx, "if-modified-since", cases[i].sent_date);
    }
    /* An 8 KiB entity-tag, well formed but past SRV_FETCH_ETAG_MAX (libcurl itself refuses
     * header lines past 100 KiB: such a fetch fails). */
    n = (size_t)snprintf(big, sizeof(big), "%%22");
    while (n + 3 < 8195)
        big[n++] = 'x';
    memcpy(big + n, "%22", 4);
    snprintf(url, sizeof(url), "%s/hdr/%s/-/oci-small", fx.srv.base, big);
    ASSERT_EQ(verdict_of(&fx, c, cfg, url, 10000), OG_INDEX_STATE_OCI);
    uint64_t fetches = 2 * (sizeof(cases) / sizeof(cases[0])) + 2;
    stale_refresh(&fx, c, cfg, url, OG_INDEX_STATE_OCI, fetches);
    last_header_is(&fx, "if-none-match", NULL);
    srv_index_cache_free(c);
    og_config_unref(cfg);
    teardown(&fx);
}

/*
 * Validators belong to the url that answered with them. Through a redirect that stays, a 304
 * renews; once the redirect points elsewhere, that url's 304 (same ETag) is refused: the
 * verdict is kept as for a failed refresh, and the next refresh sends no validators.
 */
OG_TEST(validators_never_cross_urls)
{
    struct fixture fx;

    setup(&fx);
    struct og_config *cfg = test_config();
    struct srv_index_cache *c = new_cache(&fx, 16, true);
    struct srv_index_cache_stats st;
    struct og_index_verdict v;
    char url[256];

    og_indexsrv_reset(&fx.srv);
    cfg->index.ttl_s = 60;
    cfg->index.negative_ttl_s = 10;
    cJSON_Delete(og_indexsrv_get_json(&fx.srv, "/_set/s/%2Frepo%2Foci-small%2Findex.yaml"));
    base_url(&fx, url, sizeof(url), "/switch/s");
    ASSERT_EQ(verdict_of(&fx, c, cfg, url, 10000), OG_INDEX_STATE_OCI);
    stale_refresh(&fx, c, cfg, url, OG_INDEX_STATE_OCI, 2);
    srv_index_cache_get_stats(c, &st);
    ASSERT_EQ(st.not_modified, 1);

    cJSON_Delete(
        og_indexsrv_get_json(&fx.srv, "/_set/s/%2Frepo%2Foci-small%2Findex.yaml%3Fmoved%3D1"));
    stale_refresh(&fx, c, cfg, url, OG_INDEX_STATE_OCI, 3);
    ASSERT_EQ(og_indexsrv_count(&fx.srv, "/repo/oci-small/index.yaml?moved=1"), 1);
    ASSERT_EQ(og_indexsrv_count(&fx.srv, "not_modified"), 2); /* the server said 304 */
    srv_index_cache_get_stats(c, &st);
    ASSERT_EQ(st.not_modified, 1); /* the cache did not take it */
    ASSERT_EQ(st.kept, 1);

    advance(&fx, 11 * 1000); /* the retry after the negative TTL is unconditional */
    ASSERT_EQ(srv_index_cache_lookup(c, cfg, url, 0, &v, NULL, NULL), SRV_INDEX_READY);
    ASSERT_EQ(v.state, OG_INDEX_STATE_OCI);
    og_index_verdict_cleanup(&v);
    await_settled(c, 4);
    last_header_is(&fx, "if-none-match", NULL);
    ASSERT_EQ(og_indexsrv_count(&fx.srv, "/repo/oci-small/index.yaml?moved=1"), 2);
    ASSERT_EQ(fresh_state(c, cfg, url), OG_INDEX_STATE_OCI);
    srv_index_cache_free(c);
    og_config_unref(cfg);
    teardown(&fx);
}

/*
 * The goal of the conditional refresh, measured at the server: the refresh of an unchanged
 * ~29 MB index (identity and gzip) transfers under 1 KiB.
 */
OG_TEST(unchanged_large_index_refresh_under_1_kib)
{
    struct fixture fx;

    setup(&fx);
    static const char *const paths[] = {"/repo/bitnami-scale-2024-oci",
                                        "/gzip/bitnami-scale-2024-oci"};
    struct og_config *cfg = test_config();
    struct srv_index_cache *c = new_cache(&fx, 16, true);
    struct og_index_verdict v;
    char url[256], path[512];

    snprintf(path, sizeof(path), "%s/index/bitnami-scale-2024-oci.yaml", og_test_shared_data());
    if (access(path, R_OK) != 0) {
        srv_index_cache_free(c);
        og_config_unref(cfg);
        teardown(&fx);
        OG_SKIP("%s is absent", path);
    }
    cfg->index.ttl_s = 60;
    cfg->index.fetch_timeout_ms = 300000; /* 29 MB analyzed under sanitizers */
    og_indexsrv_reset(&fx.srv);
    for (size_t i = 0; i < 2; i++) {
        char key[300];
        long first, second;

        snprintf(key, sizeof(key), "%s/index.yaml", paths[i]);
        base_url(&fx, url, sizeof(url), paths[i]);
        lookup_wait(c, cfg, url, fake_clock(&fx.now) + 600000, &v);
        ASSERT_EQ(v.state, OG_INDEX_STATE_OCI);
        og_index_verdict_cleanup(&v);
        first = og_indexsrv_bytes_sent(&fx.srv, key);
        stale_refresh(&fx, c, cfg, url, OG_INDEX_STATE_OCI, 2 * i + 2);
        second = og_indexsrv_bytes_sent(&fx.srv, key) - first;
        fprintf(stderr, "# %s: first fetch %ld bytes, refresh %ld bytes\n", key, first, second);
        ASSERT(first > 1000000);
        ASSERT(second > 0 && second < 1024);
        ASSERT_EQ(fresh_state(c, cfg, url), OG_INDEX_STATE_OCI);
    }
    ASSERT_EQ(og_indexsrv_count(&fx.srv, "not_modified"), 2);
    srv_index_cache_free(c);
    og_config_unref(cfg);
    teardown(&fx);
}

/* The fetcher's url is og_url_index_yaml()'s join (its cases are in test_url.c). */
OG_TEST(index_url_building)
{
    char *u = srv_index_url("https://h/charts/?sig=x#frag");

    ASSERT_STR_EQ(u, "https://h/charts/index.yaml?sig=x");
    free(u);
}

/* Resident memory of this process in KiB, from /proc/self/status (0 when unreadable). */
static long rss_kib(void)
{
    char line[256];
    long kib = 0;
    FILE *f = fopen("/proc/self/status", "r");

    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

/*
 * Slow repositories must never delay another's fetch. 200 repositories drip
 * their index (a byte a second) and stay in flight; a healthy repository on another host then
 * gets its real verdict within the default admission budget (1500 ms), not PENDING. With a
 * pool of 16 fetch threads the drips held every thread and this lookup timed out.
 */
OG_TEST(two_hundred_drips_do_not_delay_a_healthy_repository)
{
    struct fixture fx;

    setup(&fx);
    enum { N = 200 };
    struct og_config *cfg = test_config();
    struct srv_index_cache_opts o;
    struct srv_index_cache *c = NULL;
    struct srv_index_cache_stats st;
    struct og_indexsrv healthy;
    struct og_index_verdict v;
    char url[256];
    long rss0, rss1;

    if (og_indexsrv_start(&healthy, NULL) != 0)
        OG_FAIL_("cannot start a second indexsrv.py");
    cfg->index.fetch_timeout_ms = 60000; /* the drips stay in flight for the whole test */
    srv_index_cache_opts_init(&o, NULL);
    o.max_per_host = 256; /* all 200 drips at once (the default, 64, would queue 136) */
    if (srv_index_cache_new(&o, &c) != OG_OK)
        OG_FAIL_("srv_index_cache_new");
    og_indexsrv_reset(&fx.srv);
    rss0 = rss_kib();
    for (int i = 0; i < N; i++) {
        snprintf(url, sizeof(url), "%s/drip/1000?repo=%d", fx.srv.base, i);
        ASSERT_EQ(srv_index_cache_lookup(c, cfg, url, 0, &v, NULL, NULL), SRV_INDEX_READY);
        ASSERT_EQ(v.state, OG_INDEX_STATE_PENDING);
        og_index_verdict_cleanup(&v);
    }
    /* Every drip is being answered at once (measured at the server). */
    for (int i = 0; i < 500 && og_indexsrv_count(&fx.srv, "active") < N; i++)
        usleep(20000);
    ASSERT(og_indexsrv_count(&fx.srv, "active") >= N);
    rss1 = rss_kib();

    uint64_t t0 = srv_index_now_ms();
    snprintf(url, sizeof(url), "%s/repo/oci-small", healthy.base);
    lookup_wait(c, cfg, url, t0 + 1500, &v);
    uint64_t took = srv_index_now_ms() - t0;
    ASSERT_EQ(v.state, OG_INDEX_STATE_OCI);
    ASSERT(took < 1500);
    og_index_verdict_cleanup(&v);
    srv_index_cache_get_stats(c, &st);
    ASSERT(st.in_flight >= N); /* (the healthy one counts until just after its wake) */
    ASSERT_EQ(st.timeouts, 0);
    fprintf(stderr, "# healthy verdict after %llu ms with %d drips in flight; RSS %ld -> %ld KiB\n",
            (unsigned long long)took, N, rss0, rss1);

    t0 = srv_index_now_ms();
    srv_index_cache_free(c);
    ASSERT(srv_index_now_ms() - t0 < 3000);
    og_indexsrv_stop(&healthy);
    og_config_unref(cfg);
    teardown(&fx);
}

/* A `mixed` verdict is a verdict like oci and clean: cached with its charts, served warm. */
OG_TEST(mixed_verdict_is_cached)
{
    struct fixture fx;

    setup(&fx);
    struct og_config *cfg = test_config();
    struct srv_index_cache *c = new_cache(&fx, 16, true);
    struct og_index_verdict v;
    char url[256];

    base_url(&fx, url, sizeof(url), "/repo/mixed-small");
    lookup_wait(c, cfg, url, fake_clock(&fx.now) + 10000, &v);
    ASSERT_EQ(v.state, OG_INDEX_STATE_MIXED);
    og_index_verdict_cleanup(&v);
    ASSERT_EQ(srv_index_cache_lookup(c, cfg, url, 0, &v, NULL, NULL), SRV_INDEX_READY);
    ASSERT_EQ(v.state, OG_INDEX_STATE_MIXED);
    ASSERT_STR_EQ(v.oci_base, "oci://registry-1.docker.io/bitnamicharts");
    ASSERT_EQ(v.n_https_charts, 1);
    ASSERT_STR_EQ(v.https_charts[0], "legacy-app");
    ASSERT_EQ(v.charts_https_after_oci, 1);
    og_index_verdict_cleanup(&v);
    ASSERT_EQ(og_indexsrv_count(&fx.srv, "/repo/mixed-small/index.yaml"), 1);
    srv_index_cache_free(c);
    og_config_unref(cfg);
    teardown(&fx);
}

OG_TEST_MAIN(OG_T(full_cache_never_evicts_a_fetching_entry), OG_T(empty_body_is_not_an_index),
             OG_T(miss_fetches_then_hits), OG_T(wake_null_gives_pending), OG_T(single_flight),
             OG_T(ttl_and_stale_while_revalidate), OG_T(failed_refresh_keeps_the_good_verdict),
             OG_T(negative_ttl), OG_T(guard_never_connects_to_refused_addresses),
             OG_T(lru_eviction), OG_T(threshold_change_is_a_miss),
             OG_T(deadline_wakes_and_fetch_completes_later), OG_T(free_wakes_waiters_and_cancels),
             OG_T(large_real_index), OG_T(index_url_building),
             OG_T(two_hundred_drips_do_not_delay_a_healthy_repository),
             OG_T(mixed_verdict_is_cached), OG_T(unchanged_index_refresh_is_not_modified),
             OG_T(changed_index_gives_a_new_verdict), OG_T(server_ignoring_validators_still_works),
             OG_T(not_modified_without_validators_is_an_error),
             OG_T(hostile_validators_are_dropped), OG_T(validators_never_cross_urls),
             OG_T(unchanged_large_index_refresh_under_1_kib))
