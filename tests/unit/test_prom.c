/* The Prometheus text format writer (server/prom.h). */
#include "harness.h"

#include "prom.h"

/* A fresh writer `p` over a buffer `b` that holds up to `cap` bytes. */
#define WRITER(b, p, cap)                                                                          \
    struct og_buf b;                                                                               \
    struct srv_prom p;                                                                             \
    og_buf_init(&b, cap);                                                                          \
    srv_prom_init(&p, &b)

/* The writer ended without error with exactly `want` written; frees the buffer. */
#define EXPECT_TEXT(b, p, want)                                                                    \
    do {                                                                                           \
        ASSERT_EQ(srv_prom_finish(&p), OG_OK);                                                     \
        ASSERT_MEM_EQ(b.ptr, b.len, want);                                                         \
        og_buf_cleanup(&b);                                                                        \
    } while (0)

OG_TEST(prom_micro_formatting)
{
    static const struct {
        uint64_t micro;
        const char *text;
    } cases[] = {
        {0, "0"},
        {1, "0.000001"},
        {100, "0.0001"},
        {250, "0.00025"},
        {1000, "0.001"},
        {1500, "0.0015"},
        {999999, "0.999999"},
        {1000000, "1"},
        {2500000, "2.5"},
        {30000000, "30"},
        {1796092909055874, "1796092909.055874"},
        {UINT64_MAX, "18446744073709.551615"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[SRV_PROM_MICRO_MAX + 1];
        size_t n = srv_prom_format_micro(cases[i].micro, out);

        ASSERT(n <= SRV_PROM_MICRO_MAX);
        out[n] = '\0';
        ASSERT_STR_EQ(out, cases[i].text);
    }
}

OG_TEST(prom_family_and_samples)
{
    WRITER(b, p, 4096);
    struct srv_prom_label l[2] = {{"endpoint", "mutate"}, {"decision", "allowed"}};

    srv_prom_family(&p, "og_x_total", "counter", "Things, by kind.");
    srv_prom_u64(&p, "og_x_total", l, 2, 18446744073709551615u);
    srv_prom_u64(&p, "og_x_total", NULL, 0, 0);
    srv_prom_micro(&p, "og_y_seconds", NULL, 0, 1500);
    EXPECT_TEXT(b, p,
                "# HELP og_x_total Things, by kind.\n"
                "# TYPE og_x_total counter\n"
                "og_x_total{endpoint=\"mutate\",decision=\"allowed\"} 18446744073709551615\n"
                "og_x_total 0\n"
                "og_y_seconds 0.0015\n");
}

OG_TEST(prom_escaping)
{
    WRITER(b, p, 4096);
    struct srv_prom_label l = {"v", "a\\b\"c\nd"};

    /* HELP escapes backslash and newline only; a label value also the double quote. */
    srv_prom_family(&p, "og_e", "gauge", "back\\slash \"quoted\"\nnext");
    srv_prom_u64(&p, "og_e", &l, 1, 1);
    EXPECT_TEXT(b, p,
                "# HELP og_e back\\\\slash \"quoted\"\\nnext\n"
                "# TYPE og_e gauge\n"
                "og_e{v=\"a\\\\b\\\"c\\nd\"} 1\n");
}

OG_TEST(prom_histogram_cumulative_with_inf)
{
    WRITER(b, p, 4096);
    static const uint64_t bounds[] = {100, 2500000};
    static const uint64_t counts[] = {2, 3, 4}; /* per bucket, the last above 2.5 s */
    struct srv_prom_label l = {"endpoint", "validate"};

    srv_prom_histogram(&p, "og_h_seconds", &l, 1, bounds, 2, counts, 12500050);
    srv_prom_histogram(&p, "og_n_seconds", NULL, 0, bounds, 2, counts, 0);
    EXPECT_TEXT(b, p,
                "og_h_seconds_bucket{endpoint=\"validate\",le=\"0.0001\"} 2\n"
                "og_h_seconds_bucket{endpoint=\"validate\",le=\"2.5\"} 5\n"
                "og_h_seconds_bucket{endpoint=\"validate\",le=\"+Inf\"} 9\n"
                "og_h_seconds_sum{endpoint=\"validate\"} 12.50005\n"
                "og_h_seconds_count{endpoint=\"validate\"} 9\n"
                "og_n_seconds_bucket{le=\"0.0001\"} 2\n"
                "og_n_seconds_bucket{le=\"2.5\"} 5\n"
                "og_n_seconds_bucket{le=\"+Inf\"} 9\n"
                "og_n_seconds_sum 0\n"
                "og_n_seconds_count 9\n");
}

OG_TEST(prom_keeps_first_error)
{
    WRITER(b, p, 16);

    srv_prom_u64(&p, "og_a_long_metric_name", NULL, 0, 1);
    ASSERT_EQ(srv_prom_finish(&p), OG_ETOOBIG);
    srv_prom_u64(&p, "x", NULL, 0, 1); /* ignored once failed */
    ASSERT_EQ(srv_prom_finish(&p), OG_ETOOBIG);
    og_buf_cleanup(&b);
}

OG_TEST_MAIN(OG_T(prom_micro_formatting), OG_T(prom_family_and_samples), OG_T(prom_escaping),
             OG_T(prom_histogram_cumulative_with_inf), OG_T(prom_keeps_first_error))
