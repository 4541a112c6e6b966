#include "metrics.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>

#include "httpd.h"
#include "index_cache.h"
#include "log.h"
#include "prom.h"
#include "reload.h"

/*
 * Shards of the lock-free counters. A thread takes one on its first update (round-robin),
 * so the libmicrohttpd workers (one per CPU) and the fetch thread each add to their own
 * shard until there are more threads than shards; the adds are atomic all the same, so
 * threads that do share a shard stay exact.
 */
#define SHARDS 16

#define N_ENDPOINTS 2
#define N_MODES (OG_MODE_ENFORCE + 1)
/* Room for the policy's rule ids (og_rule_name() names those that exist). */
#define MAX_RULES 16
#define N_DECISIONS 4
#define N_CLASSES 5                          /* 1xx .. 5xx */
#define N_FETCH_STATES 4                     /* the verdicts below */
#define N_FETCH_RESULTS (N_FETCH_STATES + 1) /* and not_modified */

_Static_assert(OG_RULE_INDEX_MIXED < MAX_RULES, "MAX_RULES holds every rule id");

/* Admission latency: 100 us to 2.5 s (upper bounds in microseconds). */
static const uint64_t adm_bounds[] = {100,   250,   500,    1000,   2500,   5000,    10000,
                                      25000, 50000, 100000, 250000, 500000, 1000000, 2500000};
#define N_ADM_BOUNDS (sizeof(adm_bounds) / sizeof(adm_bounds[0]))

/* Index fetch latency: 5 ms to 30 s (a fetch is capped by index.fetchTimeout). */
static const uint64_t fetch_bounds[] = {5000,   10000,   25000,   50000,   100000,   250000,
                                        500000, 1000000, 2500000, 5000000, 10000000, 30000000};
#define N_FETCH_BOUNDS (sizeof(fetch_bounds) / sizeof(fetch_bounds[0]))

/* The counters of a shard, and of the totals a scrape sums the shards into (of type T). */
#define COUNTERS(T)                                                                                \
    T admissions[N_ENDPOINTS][N_MODES][MAX_RULES][N_DECISIONS];                                    \
    T adm_buckets[N_ENDPOINTS][N_ADM_BOUNDS + 1];                                                  \
    T adm_sum_us[N_ENDPOINTS];                                                                     \
    T http[N_CLASSES];                                                                             \
    T fetches[N_FETCH_RESULTS];                                                                    \
    T fetch_buckets[N_FETCH_BOUNDS + 1];                                                           \
    T fetch_sum_us[1]

/*
 * One shard. Its first member is aligned to a cache line, so the struct's size is a whole
 * number of lines and no two shards share one (no false sharing between threads).
 */
struct shard {
    alignas(64) COUNTERS(atomic_uint_least64_t);
};
_Static_assert(sizeof(struct shard) % 64 == 0, "shards fill whole cache lines");

/* Zero-initialized static atomics are valid (C11 7.17.2.1): no set-up is needed. */
static struct shard shards[SHARDS];
static atomic_uint next_shard;
static _Thread_local struct shard *my_shard;

static atomic_uint_least64_t start_us; /* process start, Unix microseconds */

/* The sources read at scrape time, under `src_lock` (scrapes are rare; updates never lock). */
static pthread_mutex_t src_lock = PTHREAD_MUTEX_INITIALIZER;
static struct srv_index_cache *src_cache;
static const struct srv_reload *src_reload;
static const struct srv_httpd *src_httpd;
static srv_metrics_cert_fn src_cert_fn;
static void *src_cert_arg;

static const char *const decision_names[N_DECISIONS] = {"allowed", "patched", "denied", "error"};
static const char *const endpoint_names[N_ENDPOINTS] = {"mutate", "validate"};
static const char *const class_names[N_CLASSES] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
/* The index verdicts of a finished fetch; UNKNOWN is a fetch or analysis that failed. */
static const enum og_index_state fetch_states[N_FETCH_STATES] = {
    OG_INDEX_STATE_CLEAN, OG_INDEX_STATE_OCI, OG_INDEX_STATE_MIXED, OG_INDEX_STATE_UNKNOWN};

/* The `result` label of fetch counter `i`: a verdict, or a 304 that renewed one. */
static const char *fetch_result_name(unsigned i)
{
    return i < N_FETCH_STATES ? og_index_state_name(fetch_states[i]) : "not_modified";
}

static struct shard *shard(void)
{
    if (my_shard == NULL)
        my_shard =
            &shards[atomic_fetch_add_explicit(&next_shard, 1, memory_order_relaxed) % SHARDS];
    return my_shard;
}

static void add(atomic_uint_least64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t get(const atomic_uint_least64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* The bucket of `v`: the first bound at or above it, or the +Inf one. */
static size_t bucket(const uint64_t *bounds, size_t n, uint64_t v)
{
    size_t i = 0;

    while (i < n && v > bounds[i])
        i++;
    return i;
}

void srv_metrics_init(void)
{
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    atomic_store(&start_us, (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u);
}

void srv_metrics_admission(enum og_endpoint ep, enum og_mode mode, enum og_rule rule,
                           enum srv_metrics_decision decision, bool timed, uint64_t latency_us)
{
    struct shard *s = shard();
    unsigned e = ep == OG_ENDPOINT_VALIDATE ? 1 : 0;

    if ((unsigned)mode >= N_MODES || (unsigned)rule >= MAX_RULES ||
        (unsigned)decision >= N_DECISIONS)
        return; /* not a value the policy gives: nothing to count it under */
    add(&s->admissions[e][mode][rule][decision], 1);
    if (!timed)
        return;
    add(&s->adm_buckets[e][bucket(adm_bounds, N_ADM_BOUNDS, latency_us)], 1);
    add(&s->adm_sum_us[e], latency_us);
}

void srv_metrics_http_response(unsigned status)
{
    if (status >= 100 && status < 600)
        add(&shard()->http[status / 100 - 1], 1);
}

/* Counts fetch result `i` (N_FETCH_RESULTS: none) and its latency. */
static void count_fetch(size_t i, uint64_t latency_us)
{
    struct shard *s = shard();

    if (i < N_FETCH_RESULTS)
        add(&s->fetches[i], 1);
    add(&s->fetch_buckets[bucket(fetch_bounds, N_FETCH_BOUNDS, latency_us)], 1);
    add(&s->fetch_sum_us[0], latency_us);
}

void srv_metrics_index_fetch(enum og_index_state state, uint64_t latency_us)
{
    size_t i = 0;

    while (i < N_FETCH_STATES && fetch_states[i] != state)
        i++;
    count_fetch(i < N_FETCH_STATES ? i : N_FETCH_RESULTS, latency_us);
}

void srv_metrics_index_not_modified(uint64_t latency_us)
{
    count_fetch(N_FETCH_STATES, latency_us);
}

void srv_metrics_set_index_cache(struct srv_index_cache *cache)
{
    pthread_mutex_lock(&src_lock);
    src_cache = cache;
    pthread_mutex_unlock(&src_lock);
}

void srv_metrics_set_reload(const struct srv_reload *reload)
{
    pthread_mutex_lock(&src_lock);
    src_reload = reload;
    pthread_mutex_unlock(&src_lock);
}

void srv_metrics_set_httpd(const struct srv_httpd *httpd)
{
    pthread_mutex_lock(&src_lock);
    src_httpd = httpd;
    pthread_mutex_unlock(&src_lock);
}

void srv_metrics_set_cert_source(srv_metrics_cert_fn fn, void *arg)
{
    pthread_mutex_lock(&src_lock);
    src_cert_fn = fn;
    src_cert_arg = arg;
    pthread_mutex_unlock(&src_lock);
}

/* The shards summed: what one scrape shows. */
struct totals {
    COUNTERS(uint64_t);
};

/* Adds the `n` counters at `c` to `sum` (the shard and the totals lay them out alike). */
static void sum_into(uint64_t *sum, const atomic_uint_least64_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sum[i] += get(&c[i]);
}

#define SUM(field)                                                                                 \
    sum_into((uint64_t *)t->field, (const atomic_uint_least64_t *)s->field,                        \
             sizeof(t->field) / sizeof(uint64_t))

static void sum_shards(struct totals *t)
{
    memset(t, 0, sizeof(*t));
    for (size_t i = 0; i < SHARDS; i++) {
        const struct shard *s = &shards[i];

        SUM(admissions);
        SUM(adm_buckets);
        SUM(adm_sum_us);
        SUM(http);
        SUM(fetches);
        SUM(fetch_buckets);
        SUM(fetch_sum_us);
    }
}

static void format_admissions(struct srv_prom *p, const struct totals *t)
{
    srv_prom_family(p, "ocigate_admissions_total", "counter",
                    "Admission requests answered, by endpoint, mode, deciding rule and decision.");
    for (unsigned e = 0; e < N_ENDPOINTS; e++) {
        for (unsigned m = 0; m < N_MODES; m++) {
            for (unsigned r = 0; r < MAX_RULES; r++) {
                for (unsigned d = 0; d < N_DECISIONS; d++) {
                    struct srv_prom_label l[4] = {{"endpoint", endpoint_names[e]},
                                                  {"mode", og_mode_name((enum og_mode)m)},
                                                  {"rule", og_rule_name((enum og_rule)r)},
                                                  {"decision", decision_names[d]}};

                    /* Only series that happened: 2 x 4 x rules x 4 would be mostly zeros. */
                    if (t->admissions[e][m][r][d] != 0)
                        srv_prom_u64(p, "ocigate_admissions_total", l, 4,
                                     t->admissions[e][m][r][d]);
                }
            }
        }
    }
    srv_prom_family(p, "ocigate_admission_duration_seconds", "histogram",
                    "Time from an admission request's arrival to its decision (index wait "
                    "included), by endpoint.");
    for (unsigned e = 0; e < N_ENDPOINTS; e++) {
        struct srv_prom_label l = {"endpoint", endpoint_names[e]};

        srv_prom_histogram(p, "ocigate_admission_duration_seconds", &l, 1, adm_bounds, N_ADM_BOUNDS,
                           t->adm_buckets[e], t->adm_sum_us[e]);
    }
}

static void format_http(struct srv_prom *p, const struct totals *t, const struct srv_httpd *h)
{
    srv_prom_family(p, "ocigate_http_responses_total", "counter",
                    "HTTP responses sent, by status code class.");
    for (unsigned c = 0; c < N_CLASSES; c++) {
        struct srv_prom_label l = {"code", class_names[c]};

        /* 2xx, 4xx and 5xx always; the others only once sent (ocigate sends none). */
        if (c == 1 || c == 3 || c == 4 || t->http[c] != 0)
            srv_prom_u64(p, "ocigate_http_responses_total", &l, 1, t->http[c]);
    }
    srv_prom_family(p, "ocigate_http_requests_in_flight", "gauge",
                    "HTTPS requests started and not yet completed (parked admissions included).");
    srv_prom_u64(p, "ocigate_http_requests_in_flight", NULL, 0,
                 h != NULL ? srv_httpd_inflight(h) : 0);
}

static void format_index(struct srv_prom *p, const struct totals *t, struct srv_index_cache *c)
{
    struct srv_index_cache_stats st;

    srv_prom_family(p, "ocigate_index_fetches_total", "counter",
                    "Helm index fetches finished, by result: the verdict (clean, oci), "
                    "unknown when the fetch or the analysis failed, or not_modified when a "
                    "304 renewed the cached verdict.");
    for (unsigned i = 0; i < N_FETCH_RESULTS; i++) {
        struct srv_prom_label l = {"result", fetch_result_name(i)};

        srv_prom_u64(p, "ocigate_index_fetches_total", &l, 1, t->fetches[i]);
    }
    srv_prom_family(p, "ocigate_index_fetch_duration_seconds", "histogram",
                    "Time a Helm index fetch took, analysis included.");
    srv_prom_histogram(p, "ocigate_index_fetch_duration_seconds", NULL, 0, fetch_bounds,
                       N_FETCH_BOUNDS, t->fetch_buckets, t->fetch_sum_us[0]);
    memset(&st, 0, sizeof(st));
    if (c != NULL)
        srv_index_cache_get_stats(c, &st);
    {
        const struct {
            const char *name, *type, *help;
            uint64_t v;
        } rows[] = {
            {"ocigate_index_fetches_in_flight", "gauge",
             "Helm index fetches started and not yet finished.", st.in_flight},
            {"ocigate_index_cache_entries", "gauge", "Index verdicts held in the cache.",
             st.entries},
            {"ocigate_index_cache_hits_total", "counter",
             "Index cache lookups answered by a fresh verdict.", st.hits},
            {"ocigate_index_cache_stale_serves_total", "counter",
             "Index cache lookups answered by a stale verdict (a refresh follows).", st.stale},
            {"ocigate_index_cache_misses_total", "counter",
             "Index cache lookups without a usable verdict.", st.misses},
            {"ocigate_index_cache_evictions_total", "counter",
             "Index verdicts dropped from the full cache for room.", st.evictions},
        };

        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
            srv_prom_family(p, rows[i].name, rows[i].type, rows[i].help);
            srv_prom_u64(p, rows[i].name, NULL, 0, rows[i].v);
        }
    }
}

static void format_reloads(struct srv_prom *p, const struct srv_reload *r)
{
    unsigned long done = 0, rejected = 0;
    struct srv_prom_label ok = {"result", "success"}, bad = {"result", "failure"};

    if (r != NULL)
        srv_reload_stats(r, &done, &rejected);
    srv_prom_family(p, "ocigate_config_reloads_total", "counter",
                    "Configuration reloads, by result (failure: the running config stayed).");
    srv_prom_u64(p, "ocigate_config_reloads_total", &ok, 1, done - rejected);
    srv_prom_u64(p, "ocigate_config_reloads_total", &bad, 1, rejected);
}

static void format_cert(struct srv_prom *p, srv_metrics_cert_fn fn, void *arg)
{
    struct srv_metrics_cert c;
    struct srv_prom_label ok = {"result", "success"}, bad = {"result", "failure"};

    memset(&c, 0, sizeof(c));
    if (fn == NULL || !fn(arg, &c))
        return;
    srv_prom_family(p, "ocigate_tls_cert_not_after_seconds", "gauge",
                    "The serving certificate's notAfter time (Unix seconds).");
    srv_prom_u64(p, "ocigate_tls_cert_not_after_seconds", NULL, 0,
                 c.not_after > 0 ? (uint64_t)c.not_after : 0);
    srv_prom_family(p, "ocigate_tls_cert_reloads_total", "counter",
                    "Serving certificate reloads, by result (failure: the old pair stayed).");
    srv_prom_u64(p, "ocigate_tls_cert_reloads_total", &ok, 1, c.reloads_ok);
    srv_prom_u64(p, "ocigate_tls_cert_reloads_total", &bad, 1, c.reloads_failed);
}

enum og_err srv_metrics_format(struct og_buf *out)
{
    struct srv_prom_label version = {"version", OG_VERSION};
    struct totals *t = calloc(1, sizeof(*t));
    struct srv_prom p;

    if (t == NULL)
        return OG_ENOMEM;
    sum_shards(t);
    srv_prom_init(&p, out);
    srv_prom_family(&p, "ocigate_build_info", "gauge", "Always 1; the version is a label.");
    srv_prom_u64(&p, "ocigate_build_info", &version, 1, 1);
    srv_prom_family(&p, "process_start_time_seconds", "gauge",
                    "Start time of the process since the Unix epoch in seconds.");
    srv_prom_micro(&p, "process_start_time_seconds", NULL, 0, atomic_load(&start_us));
    format_admissions(&p, t);
    pthread_mutex_lock(&src_lock);
    format_http(&p, t, src_httpd);
    format_index(&p, t, src_cache);
    format_reloads(&p, src_reload);
    format_cert(&p, src_cert_fn, src_cert_arg);
    pthread_mutex_unlock(&src_lock);
    srv_prom_family(&p, "ocigate_log_lines_dropped_total", "counter",
                    "Info and debug log lines dropped because stderr was read slower than they "
                    "came.");
    srv_prom_u64(&p, "ocigate_log_lines_dropped_total", NULL, 0, srv_log_dropped_total());
    free(t);
    return srv_prom_finish(&p);
}
