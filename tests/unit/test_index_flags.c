#include "harness.h"

#include <stddef.h>

#include "index_flags.h"
#include "ocigate/config.h"

OG_TEST(flags_apply_over_the_file)
{
    const char *hosts[] = {"charts.internal"}, *cidrs[] = {"10.20.0.0/16", "fd00::/8"};
    struct srv_index_flags f = {0};
    struct og_config *cfg = NULL;
    struct og_diag d;

    ASSERT_EQ(og_config_new(&cfg), OG_OK);
    /* What a config file could have set: the flags add to its lists. */
    cfg->index.allow_hosts = calloc(1, sizeof(char *));
    ASSERT(cfg->index.allow_hosts != NULL);
    cfg->index.allow_hosts[0] = strdup("from.file");
    cfg->index.n_allow_hosts = 1;
    f.enabled = "false";
    f.threshold = "any";
    f.ttl = "60";
    f.negative_ttl = "5";
    f.entries = "16";
    f.max_fetches = "4096";
    f.max_fetches_per_host = "1";
    f.budget = "0";
    f.connect_timeout = "100";
    f.timeout = "1000";
    f.max_bytes = "2M";
    f.on_unknown = "deny";
    f.hosts = hosts;
    f.n_hosts = 1;
    f.cidrs = cidrs;
    f.n_cidrs = 2;
    og_diag_clear(&d);
    ASSERT_EQ(srv_index_flags_check(&f, &d), OG_OK);
    ASSERT_EQ(srv_index_flags_apply(&f, &cfg->index, &d), OG_OK);
    ASSERT_EQ(cfg->index.enabled, false);
    ASSERT_EQ(cfg->index.threshold, OG_INDEX_THRESHOLD_ANY);
    ASSERT_EQ(cfg->index.ttl_s, 60);
    ASSERT_EQ(cfg->index.negative_ttl_s, 5);
    ASSERT_EQ(cfg->index.cache_entries, 16);
    ASSERT_EQ(cfg->index.max_fetches, 4096);
    ASSERT_EQ(cfg->index.max_fetches_per_host, 1);
    ASSERT_EQ(cfg->index.budget_ms, 0);
    ASSERT_EQ(cfg->index.connect_timeout_ms, 100);
    ASSERT_EQ(cfg->index.fetch_timeout_ms, 1000);
    ASSERT_EQ(cfg->index.max_bytes, 2000000u);
    ASSERT_EQ(cfg->index.on_unknown, OG_ON_UNKNOWN_DENY);
    ASSERT_EQ(cfg->index.n_allow_hosts, 2);
    ASSERT_STR_EQ(cfg->index.allow_hosts[0], "from.file");
    ASSERT_STR_EQ(cfg->index.allow_hosts[1], "charts.internal");
    ASSERT_EQ(cfg->index.n_allow_cidrs, 2);
    ASSERT_STR_EQ(cfg->index.allow_cidrs[1], "fd00::/8");
    og_config_unref(cfg);
}

OG_TEST(no_flags_change_nothing)
{
    struct srv_index_flags f = {0};
    struct og_config *cfg = NULL, *ref = NULL;

    ASSERT_EQ(og_config_new(&cfg), OG_OK);
    ASSERT_EQ(og_config_new(&ref), OG_OK);
    ASSERT_EQ(srv_index_flags_apply(&f, &cfg->index, NULL), OG_OK);
    ASSERT(memcmp(&cfg->index, &ref->index, sizeof(cfg->index)) == 0);
    og_config_unref(cfg);
    og_config_unref(ref);
}

OG_TEST(bad_flags_are_named)
{
    static const struct {
        size_t field; /* offset of the string in struct srv_index_flags */
        const char *value, *msg;
    } rows[] = {
        {offsetof(struct srv_index_flags, enabled), "yes", "--index-enabled must be true or false"},
        {offsetof(struct srv_index_flags, threshold), "most", "--index-threshold must be newest"},
        {offsetof(struct srv_index_flags, on_unknown), "maybe", "--index-on-unknown must be"},
        {offsetof(struct srv_index_flags, ttl), "0", "--index-ttl must be a number within 1.."},
        {offsetof(struct srv_index_flags, negative_ttl), "86401", "--index-negative-ttl"},
        {offsetof(struct srv_index_flags, entries), "-1", "--index-cache-entries"},
        {offsetof(struct srv_index_flags, max_fetches), "0",
         "--index-max-fetches must be a number "
         "within 1..4096"},
        {offsetof(struct srv_index_flags, max_fetches_per_host), "4097",
         "--index-max-fetches-per-host must be a number within 1..4096"},
        {offsetof(struct srv_index_flags, budget), "25001", "0..25000"},
        {offsetof(struct srv_index_flags, connect_timeout), "99", "100..60000"},
        {offsetof(struct srv_index_flags, timeout), "1s", "--index-timeout-ms"},
        {offsetof(struct srv_index_flags, max_bytes), "2G", "--index-max-bytes"},
        {offsetof(struct srv_index_flags, max_bytes), "1000", "--index-max-bytes"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct srv_index_flags f = {0};
        struct og_diag d;

        memcpy((char *)&f + rows[i].field, &rows[i].value, sizeof(rows[i].value));
        og_diag_clear(&d);
        ASSERT_EQ(srv_index_flags_check(&f, &d), OG_EINVAL);
        ASSERT_STR_CONTAINS(d.msg, rows[i].msg);
    }

    const char *bad_host[] = {"http://x"}, *bad_cidr[] = {"10.0.0.0/40"};
    struct srv_index_flags f = {0};
    struct og_diag d;

    f.hosts = bad_host;
    f.n_hosts = 1;
    og_diag_clear(&d);
    ASSERT_EQ(srv_index_flags_check(&f, &d), OG_EINVAL);
    ASSERT_STR_CONTAINS(d.msg, "--index-allow-host takes a host name");
    f.n_hosts = 0;
    f.cidrs = bad_cidr;
    f.n_cidrs = 1;
    ASSERT_EQ(srv_index_flags_check(&f, &d), OG_EINVAL);
    ASSERT_STR_CONTAINS(d.msg, "--index-allow-cidr: '10.0.0.0/40': prefix length must be 0..32");
}

OG_TEST_MAIN(OG_T(flags_apply_over_the_file), OG_T(no_flags_change_nothing),
             OG_T(bad_flags_are_named))
