/*
 * The server's metrics (server/metrics.h): what a scrape shows after counted events, and
 * exact totals from threads that count while another scrapes (run under TSan too).
 */
#include "harness.h"

#include <pthread.h>

#include "metrics.h"

/* The value of the sample line that starts with `series` + " ", or -1. */
static long long sample(const char *text, const char *series)
{
    size_t n = strlen(series);

    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');

        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtoll(line + n + 1, NULL, 10);
        line = end != NULL ? end + 1 : NULL;
    }
    return -1;
}

static char *scrape(void)
{
    struct og_buf b;
    size_t len;

    og_buf_init(&b, SRV_METRICS_MAX_BYTES);
    if (srv_metrics_format(&b) != OG_OK) {
        og_buf_cleanup(&b);
        return NULL;
    }
    return og_buf_take(&b, &len);
}

#define ADM_PATCHED                                                                                \
    "ocigate_admissions_total{endpoint=\"mutate\",mode=\"mutate\",rule=\"known-migration\","       \
    "decision=\"patched\"}"

OG_TEST(metrics_count_and_show)
{
    char *before = scrape(), *after;
    long long n0, inf0;

    ASSERT(before != NULL);
    n0 = sample(before, ADM_PATCHED);
    inf0 = sample(before,
                  "ocigate_admission_duration_seconds_bucket{endpoint=\"mutate\",le=\"+Inf\"}");
    srv_metrics_admission(OG_ENDPOINT_MUTATE, OG_MODE_MUTATE, OG_RULE_KNOWN_MIGRATION,
                          SRV_METRICS_PATCHED, true, 150);
    srv_metrics_admission(OG_ENDPOINT_MUTATE, OG_MODE_MUTATE, OG_RULE_KNOWN_MIGRATION,
                          SRV_METRICS_PATCHED, false, 0);
    srv_metrics_http_response(200);
    srv_metrics_http_response(503);
    srv_metrics_index_fetch(OG_INDEX_STATE_OCI, 7000);
    srv_metrics_index_fetch(OG_INDEX_STATE_MIXED, 70000);
    srv_metrics_index_not_modified(7000);
    after = scrape();
    ASSERT(after != NULL);
    ASSERT_EQ(sample(after, ADM_PATCHED), (n0 < 0 ? 0 : n0) + 2);
    /* Only the timed one is observed: 150 us falls in le=0.00025 and above. */
    ASSERT_EQ(
        sample(after, "ocigate_admission_duration_seconds_bucket{endpoint=\"mutate\",le=\"+Inf\"}"),
        inf0 + 1);
    ASSERT_EQ(
        sample(after,
               "ocigate_admission_duration_seconds_bucket{endpoint=\"mutate\",le=\"0.0001\"}"),
        sample(before,
               "ocigate_admission_duration_seconds_bucket{endpoint=\"mutate\",le=\"0.0001\"}"));
    ASSERT(sample(after, "ocigate_http_responses_total{code=\"2xx\"}") >= 1);
    ASSERT(sample(after, "ocigate_http_responses_total{code=\"5xx\"}") >= 1);
    /* 2xx, 4xx and 5xx are shown even at zero (nothing here sent a 4xx); 1xx and 3xx not. */
    ASSERT_EQ(sample(before, "ocigate_http_responses_total{code=\"4xx\"}"), 0);
    ASSERT_EQ(sample(after, "ocigate_http_responses_total{code=\"4xx\"}"), 0);
    ASSERT_EQ(sample(after, "ocigate_http_responses_total{code=\"3xx\"}"), -1);
    ASSERT_EQ(sample(after, "ocigate_http_responses_total{code=\"1xx\"}"), -1);
    ASSERT_EQ(sample(after, "ocigate_index_fetches_total{result=\"oci\"}"), 1);
    ASSERT_EQ(sample(after, "ocigate_index_fetches_total{result=\"mixed\"}"), 1);
    ASSERT_EQ(sample(after, "ocigate_index_fetches_total{result=\"not_modified\"}"), 1);
    ASSERT_EQ(sample(after, "ocigate_index_fetch_duration_seconds_bucket{le=\"0.005\"}"), 0);
    ASSERT_EQ(sample(after, "ocigate_index_fetch_duration_seconds_bucket{le=\"0.01\"}"), 2);
    ASSERT(strstr(after, "ocigate_build_info{version=\"" OG_VERSION "\"} 1\n") != NULL);
    /* No certificate source: its families are left out. */
    ASSERT(strstr(after, "ocigate_tls_cert") == NULL);
    free(before);
    free(after);
}

static bool cert_source(void *arg, struct srv_metrics_cert *out)
{
    out->not_after = *(const int64_t *)arg;
    out->reloads_ok = 2;
    out->reloads_failed = 1;
    return true;
}

OG_TEST(metrics_cert_hook)
{
    int64_t not_after = 1800000000;
    char *text;

    srv_metrics_set_cert_source(cert_source, &not_after);
    text = scrape();
    srv_metrics_set_cert_source(NULL, NULL);
    ASSERT(text != NULL);
    ASSERT_EQ(sample(text, "ocigate_tls_cert_not_after_seconds"), 1800000000);
    ASSERT_EQ(sample(text, "ocigate_tls_cert_reloads_total{result=\"success\"}"), 2);
    ASSERT_EQ(sample(text, "ocigate_tls_cert_reloads_total{result=\"failure\"}"), 1);
    free(text);
}

#define THREADS 6
#define PER_THREAD 20000

static void *counter_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < PER_THREAD; i++)
        srv_metrics_admission(OG_ENDPOINT_VALIDATE, OG_MODE_AUDIT, OG_RULE_INDEX_OCI,
                              SRV_METRICS_ALLOWED, true, (uint64_t)i);
    return NULL;
}

#define ADM_VALIDATE                                                                               \
    "ocigate_admissions_total{endpoint=\"validate\",mode=\"audit\",rule=\"index-points-to-oci\","  \
    "decision=\"allowed\"}"

OG_TEST(metrics_exact_under_concurrency)
{
    pthread_t t[THREADS];
    char *text;

    for (int i = 0; i < THREADS; i++)
        ASSERT_EQ(pthread_create(&t[i], NULL, counter_main, NULL), 0);
    /* Scrapes while they count: each sees monotonic, internally consistent totals. */
    for (long long last = 0, k = 0; k < 20; k++) {
        long long now, inf, count;

        text = scrape();
        ASSERT(text != NULL);
        now = sample(text, ADM_VALIDATE);
        inf = sample(
            text, "ocigate_admission_duration_seconds_bucket{endpoint=\"validate\",le=\"+Inf\"}");
        count = sample(text, "ocigate_admission_duration_seconds_count{endpoint=\"validate\"}");
        ASSERT(now >= last || now == -1);
        ASSERT_EQ(inf, count);
        last = now;
        free(text);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    text = scrape();
    ASSERT(text != NULL);
    ASSERT_EQ(sample(text, ADM_VALIDATE), (long long)THREADS * PER_THREAD);
    ASSERT_EQ(sample(text, "ocigate_admission_duration_seconds_count{endpoint=\"validate\"}"),
              (long long)THREADS * PER_THREAD);
    free(text);
}

OG_TEST_MAIN(OG_T(metrics_count_and_show), OG_T(metrics_cert_hook),
             OG_T(metrics_exact_under_concurrency))
