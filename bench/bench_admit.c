/*
 * bench_admit.c - the library's share of one admission: decode the AdmissionReview, run the
 * policy (mutate mode, the patching path) and encode the response, on the captured Bitnami
 * CREATE. Prints nanoseconds per admission (best of several rounds) so that changes to the
 * request path in lib/ can be measured apart from TLS and HTTP. OG_BENCH_ITERATIONS sets the
 * admissions per round (default 20000), so that a run under callgrind stays short.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ocigate/buf.h"
#include "ocigate/config.h"
#include "ocigate/policy.h"
#include "ocigate/review.h"

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data;
    long size;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        perror(path);
        exit(1);
    }
    data = malloc((size_t)size);
    if (data == NULL || fread(data, 1, (size_t)size, f) != (size_t)size) {
        perror(path);
        exit(1);
    }
    fclose(f);
    *len = (size_t)size;
    return data;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : OG_SOURCE_DIR "/tests/data/review-bitnami-create.json";
    struct og_config *cfg = NULL;
    size_t len, n = 20000;
    char *body = slurp(path, &len);
    double best = 1e30;
    const char *iters = getenv("OG_BENCH_ITERATIONS");

    if (iters != NULL) {
        char *end;
        unsigned long long v = strtoull(iters, &end, 10);

        if (end == iters || *end != '\0' || v == 0 || v > 100000000) {
            fprintf(stderr, "bench_admit: OG_BENCH_ITERATIONS must be 1..100000000\n");
            return 2;
        }
        n = (size_t)v;
    }
    if (og_config_new(&cfg) != OG_OK)
        return 1;
    for (int round = 0; round < 7; round++) {
        double t0 = now_ns();

        for (size_t i = 0; i < n; i++) {
            struct og_review *rv = NULL;
            struct og_policy_object obj;
            struct og_admission_context ctx;
            struct og_decision d;
            struct og_buf out;

            og_buf_init(&out, 1u << 20);
            if (og_review_decode(body, len, &rv, NULL) != OG_OK ||
                og_policy_eval(cfg, og_review_policy_input(rv, &obj, &ctx) ? &obj : NULL, &ctx,
                               OG_ENDPOINT_MUTATE, &d) != OG_OK ||
                og_review_encode(rv, &d, &out) != OG_OK) {
                fprintf(stderr, "bench_admit: admission failed\n");
                return 1;
            }
            og_decision_cleanup(&d);
            og_review_free(rv);
            og_buf_cleanup(&out);
        }
        if ((now_ns() - t0) / (double)n < best)
            best = (now_ns() - t0) / (double)n;
    }
    printf("bench_admit: %zu-byte review, decode+policy+encode: %.0f ns per admission (best of "
           "7 x %zu)\n",
           len, best, n);
    og_config_unref(cfg);
    free(body);
    return 0;
}
