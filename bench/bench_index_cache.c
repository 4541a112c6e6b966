/*
 * bench_index_cache.c - the added latency of a warm index cache lookup on the admission path.
 *
 * Fills a cache with `urls` verdicts (each analyzed once from an in-memory Bitnami-like
 * index, no network), then times srv_index_cache_lookup() + og_index_verdict_cleanup() - all
 * the admission path adds for a warm url - from 1 and 2 threads, and prints the mean and the
 * p50/p99/max of per-call times in nanoseconds. Goal: <= 10 us per lookup.
 *
 * usage: bench_index_cache [iterations [urls]]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index_cache.h"
#include "mem_reader.h"
#include "ocigate/helm_index.h"
#include "ocigate/reader.h"

static const char index_yaml[] =
    "apiVersion: v1\nentries:\n"
    "  redis:\n"
    "  - name: redis\n    version: 20.6.2\n    created: '2025-01-08T09:33:29Z'\n"
    "    urls:\n    - oci://registry-1.docker.io/bitnamicharts/redis:20.6.2\n"
    "  - name: redis\n    version: 20.0.0\n    created: '2024-08-08T09:33:29Z'\n"
    "    urls:\n    - https://charts.bitnami.com/bitnami/redis-20.0.0.tgz\n"
    "  minio:\n"
    "  - name: minio\n    version: 14.8.6\n    created: '2024-12-04T09:33:29Z'\n"
    "    urls:\n    - oci://registry-1.docker.io/bitnamicharts/minio:14.8.6\n"
    "generated: '2025-01-13T20:33:05Z'\n";

/* A srv_index_fetch_fn that analyzes the index above at once and delivers synchronously. */
static void analyze_memory(void *arg, const char *url, struct og_config *cfg,
                           const struct srv_fetch_validators *val, srv_index_done_fn done,
                           void *done_arg)
{
    struct og_mem_reader r = {index_yaml, sizeof(index_yaml) - 1, 0, 0};
    struct og_index_summary s;
    struct srv_index_result res;

    (void)arg;
    (void)url;
    (void)val;
    memset(&s, 0, sizeof(s));
    memset(&res, 0, sizeof(res));
    if (og_helm_index_analyze(og_mem_read, &r, NULL, 0, &s, NULL) != OG_OK ||
        og_helm_index_decide(&s, cfg->index.threshold, &res.verdict) != OG_OK)
        res.verdict.state = OG_INDEX_STATE_UNKNOWN;
    og_index_summary_cleanup(&s);
    done(done_arg, &res);
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct job {
    struct srv_index_cache *c;
    struct og_config *cfg;
    char (*urls)[96];
    unsigned n_urls;
    unsigned iters;
    uint64_t *samples;
    unsigned bad;
};

static void *run(void *arg)
{
    struct job *j = arg;

    for (unsigned i = 0; i < j->iters; i++) {
        struct og_index_verdict v;
        uint64_t t0 = now_ns();

        srv_index_cache_lookup(j->c, j->cfg, j->urls[i % j->n_urls], 0, &v, NULL, NULL);
        if (v.state != OG_INDEX_STATE_OCI)
            j->bad++;
        og_index_verdict_cleanup(&v);
        j->samples[i] = now_ns() - t0;
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static void report(const char *what, uint64_t *s, size_t n, double wall_ns)
{
    uint64_t sum = 0;

    for (size_t i = 0; i < n; i++)
        sum += s[i];
    qsort(s, n, sizeof(*s), cmp_u64);
    printf("%-22s n=%zu mean=%.0f ns p50=%llu ns p99=%llu ns max=%llu ns throughput=%.2f M/s\n",
           what, n, (double)sum / (double)n, (unsigned long long)s[n / 2],
           (unsigned long long)s[n * 99 / 100], (unsigned long long)s[n - 1],
           (double)n / wall_ns * 1000.0);
}

int main(int argc, char **argv)
{
    unsigned iters = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1000000;
    unsigned n_urls = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 512;
    struct srv_index_cache_opts o;
    struct srv_index_cache *c = NULL;
    struct og_config *cfg = NULL;
    char(*urls)[96] = NULL;
    struct job jobs[2];
    pthread_t t[2];
    int status = 1;

    if (iters == 0 || n_urls == 0 || og_config_new(&cfg) != OG_OK)
        return 2;
    srv_index_cache_opts_init(&o, cfg);
    o.fetch = analyze_memory;
    urls = calloc(n_urls, sizeof(*urls));
    jobs[0].samples = calloc(iters, sizeof(uint64_t));
    jobs[1].samples = calloc(iters, sizeof(uint64_t));
    if (urls == NULL || jobs[0].samples == NULL || jobs[1].samples == NULL ||
        srv_index_cache_new(&o, &c) != OG_OK)
        goto out;
    /* Warm every url: the first lookup starts its fetch, wait until all are cached. */
    for (unsigned i = 0; i < n_urls; i++) {
        struct og_index_verdict v;

        snprintf(urls[i], sizeof(urls[i]), "https://charts%u.example.com/bitnami", i);
        srv_index_cache_lookup(c, cfg, urls[i], 0, &v, NULL, NULL);
        og_index_verdict_cleanup(&v);
    }
    for (unsigned i = 0; i < n_urls; i++) {
        for (;;) {
            struct og_index_verdict v;
            enum og_index_state st;

            srv_index_cache_lookup(c, cfg, urls[i], 0, &v, NULL, NULL);
            st = v.state;
            og_index_verdict_cleanup(&v);
            if (st == OG_INDEX_STATE_OCI)
                break;
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    for (int k = 0; k < 2; k++)
        jobs[k] = (struct job){c, cfg, urls, n_urls, iters, jobs[k].samples, 0};

    uint64_t t0 = now_ns();
    run(&jobs[0]);
    report("warm lookup, 1 thread", jobs[0].samples, iters, (double)(now_ns() - t0));

    t0 = now_ns();
    for (int k = 0; k < 2; k++)
        pthread_create(&t[k], NULL, run, &jobs[k]);
    for (int k = 0; k < 2; k++)
        pthread_join(t[k], NULL);
    double wall = (double)(now_ns() - t0);
    report("warm lookup, 2 threads", jobs[0].samples, iters, wall / 2);
    if (jobs[0].bad + jobs[1].bad > 0) {
        fprintf(stderr, "bench: %u lookups were not warm\n", jobs[0].bad + jobs[1].bad);
        goto out;
    }
    status = 0;
out:
    srv_index_cache_free(c);
    og_config_unref(cfg);
    free(urls);
    free(jobs[0].samples);
    free(jobs[1].samples);
    return status;
}
