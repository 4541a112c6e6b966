#include "harness.h"

#include <stddef.h>
#include <unistd.h>
#include <yaml.h>

#include "config_file.h"
#include "config_int.h"
#include "ocigate/buf.h"
#include "ocigate/config.h"

/* Parses `yaml` as "t.yaml"; returns the rc and fills `line` with the one-line diag. */
static enum og_err parse(const char *yaml, struct og_config **cfg, char *line, size_t size)
{
    struct og_diag diag;
    enum og_err rc;

    og_diag_clear(&diag);
    rc = og_config_parse(yaml, strlen(yaml), "t.yaml", cfg, &diag);
    og_diag_format(rc == OG_OK ? NULL : &diag, line, size);
    return rc;
}

/* ---- Defaults ----------------------------------------------------------------------------- */

OG_TEST(defaults)
{
    struct og_config *cfg = NULL;

    ASSERT_EQ(og_config_new(&cfg), OG_OK);
    ASSERT_EQ(cfg->mode, OG_MODE_MUTATE);
    ASSERT_EQ(cfg->n_ns_rules, 0);
    ASSERT_EQ(cfg->n_exempt_namespaces, 0);
    ASSERT_EQ(cfg->n_exempt_users, 0);
    ASSERT_EQ(cfg->n_exempt_groups, 0);
    ASSERT_EQ(cfg->allow_annotation_override, false);
    ASSERT_EQ(cfg->n_migrations, 1);
    ASSERT_STR_EQ(cfg->migrations[0].from, "https://charts.bitnami.com/bitnami");
    ASSERT_STR_EQ(cfg->migrations[0].to, "oci://registry-1.docker.io/bitnamicharts");
    ASSERT_EQ(cfg->migrations[0].enabled, true);
    ASSERT_EQ(cfg->migrations[0].line, 0);
    ASSERT_EQ(cfg->index.enabled, true);
    ASSERT_EQ(cfg->index.threshold, OG_INDEX_THRESHOLD_NEWEST);
    ASSERT_EQ(cfg->index.ttl_s, 3600);
    ASSERT_EQ(cfg->index.negative_ttl_s, 300);
    ASSERT_EQ(cfg->index.cache_entries, 1024);
    ASSERT_EQ(cfg->index.max_fetches, 256);
    ASSERT_EQ(cfg->index.max_fetches_per_host, 64);
    ASSERT_EQ(cfg->index.budget_ms, 1500);
    ASSERT_EQ(cfg->index.connect_timeout_ms, 3000);
    ASSERT_EQ(cfg->index.fetch_timeout_ms, 30000);
    ASSERT_EQ(cfg->index.max_bytes, 64u << 20);
    ASSERT_EQ(cfg->index.on_unknown, OG_ON_UNKNOWN_ALLOW);
    ASSERT_EQ(cfg->index.on_mixed, OG_ON_MIXED_WARN);
    ASSERT_EQ(cfg->index.n_allow_hosts, 0);
    ASSERT_EQ(cfg->index.n_allow_cidrs, 0);
    ASSERT_EQ(cfg->max_body, 8u << 20);
    ASSERT_EQ(cfg->tls_min_version, OG_TLS_1_2);
    ASSERT_EQ(cfg->ratchet, true);
    ASSERT_EQ(cfg->webhook_timeout_s, 3);
    ASSERT(cfg->source == NULL);
    og_config_unref(cfg);
}

/* An empty file, comments only, `---` alone or `~` alone: all mean "the defaults". */
OG_TEST(empty_documents_are_defaults)
{
    static const char *const docs[] = {"", "# nothing\n", "---\n", "~\n", "--- \n...\n", "\n\n"};
    struct og_buf want, got;
    struct og_config *def = NULL;

    og_buf_init(&want, 1 << 16);
    og_buf_init(&got, 1 << 16);
    ASSERT_EQ(og_config_new(&def), OG_OK);
    ASSERT_EQ(og_config_format(def, &want), OG_OK);
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        struct og_config *cfg = NULL;
        char line[512];

        og_buf_reset(&got);
        ASSERT_EQ(parse(docs[i], &cfg, line, sizeof(line)), OG_OK);
        ASSERT_STR_EQ(cfg->source, "t.yaml");
        ASSERT_EQ(og_config_format(cfg, &got), OG_OK);
        ASSERT_STR_EQ(got.ptr, want.ptr);
        og_config_unref(cfg);
    }
    og_config_unref(def);
    og_buf_cleanup(&want);
    og_buf_cleanup(&got);
}

/* ---- Good values: every scalar key, a value other than its default ------------------------- */

struct good_case {
    const char *yaml;
    size_t off;  /* field in struct og_config */
    size_t size; /* sizeof the field: 1 bool, 4 enum/uint32, 8 uint64 */
    uint64_t want;
};

#define F(field) offsetof(struct og_config, field), sizeof(((struct og_config *)0)->field)

static const struct good_case good_cases[] = {
    {"mode: enforce", F(mode), OG_MODE_ENFORCE},
    {"mode: audit", F(mode), OG_MODE_AUDIT},
    {"mode: \"off\"", F(mode), OG_MODE_OFF},
    {"mode: off", F(mode), OG_MODE_OFF},
    {"mode: mutate", F(mode), OG_MODE_MUTATE},
    {"allowAnnotationOverride: true", F(allow_annotation_override), 1},
    {"allowAnnotationOverride: false", F(allow_annotation_override), 0},
    {"index: {enabled: false}", F(index.enabled), 0},
    {"index: {threshold: any}", F(index.threshold), OG_INDEX_THRESHOLD_ANY},
    {"index: {ttl: 90m}", F(index.ttl_s), 5400},
    {"index: {ttl: 1h30m}", F(index.ttl_s), 5400},
    {"index: {ttl: 1.5h}", F(index.ttl_s), 5400},
    {"index: {ttl: 1s}", F(index.ttl_s), 1},
    {"index: {ttl: 168h}", F(index.ttl_s), 604800},
    {"index: {ttl: 2000ms}", F(index.ttl_s), 2},
    {"index: {negativeTTL: 30s}", F(index.negative_ttl_s), 30},
    {"index: {negativeTTL: 24h}", F(index.negative_ttl_s), 86400},
    {"index: {cacheEntries: 1}", F(index.cache_entries), 1},
    {"index: {cacheEntries: 1048576}", F(index.cache_entries), 1048576},
    {"index: {maxFetches: 4096}", F(index.max_fetches), 4096},
    {"index: {maxFetchesPerHost: 1}", F(index.max_fetches_per_host), 1},
    {"index: {budget: 0}", F(index.budget_ms), 0},
    {"index: {budget: 0s}", F(index.budget_ms), 0},
    {"index: {budget: 250ms}", F(index.budget_ms), 250},
    {"index: {budget: 2.5s}", F(index.budget_ms), 2500},
    {"index: {budget: 25s}", F(index.budget_ms), 25000},
    {"index: {connectTimeout: 100ms}", F(index.connect_timeout_ms), 100},
    {"index: {connectTimeout: 1m}", F(index.connect_timeout_ms), 60000},
    {"index: {fetchTimeout: 10m}", F(index.fetch_timeout_ms), 600000},
    {"index: {fetchTimeout: 1s}", F(index.fetch_timeout_ms), 1000},
    {"index: {maxBytes: 1Ki}", F(index.max_bytes), 1024},
    {"index: {maxBytes: 1Gi}", F(index.max_bytes), 1u << 30},
    {"index: {maxBytes: 2M}", F(index.max_bytes), 2000000},
    {"index: {maxBytes: 4096}", F(index.max_bytes), 4096},
    {"index: {maxBytes: \"16Mi\"}", F(index.max_bytes), 16u << 20},
    {"index: {onUnknown: deny}", F(index.on_unknown), OG_ON_UNKNOWN_DENY},
    {"index: {onMixed: moved}", F(index.on_mixed), OG_ON_MIXED_MOVED},
    {"index: {onMixed: warn}", F(index.on_mixed), OG_ON_MIXED_WARN},
    {"maxBodyBytes: 1Ki", F(max_body), 1024},
    {"maxBodyBytes: 64Mi", F(max_body), 64u << 20},
    {"maxBodyBytes: 100k", F(max_body), 100000},
    {"tls: {minVersion: \"1.3\"}", F(tls_min_version), OG_TLS_1_3},
    {"tls: {minVersion: 1.3}", F(tls_min_version), OG_TLS_1_3},
    {"tls:\n  minVersion: '1.2'", F(tls_min_version), OG_TLS_1_2},
    {"index: &i {ttl: 2h}\ntls: {minVersion: \"1.3\"}\n", F(index.ttl_s), 7200},
    {"namespaces: [{match: a, mode: &m audit}]\nmode: *m\n", F(mode), OG_MODE_AUDIT},
    {"index:\n  ttl: 2h\n  budget: 1s\n", F(index.budget_ms), 1000},
    {"ratchet: false", F(ratchet), 0},
    {"ratchet: true", F(ratchet), 1},
    {"webhookTimeout: 1s", F(webhook_timeout_s), 1},
    {"webhookTimeout: 30s", F(webhook_timeout_s), 30},
    {"webhookTimeout: 10000ms", F(webhook_timeout_s), 10},
};

static uint64_t field(const struct og_config *cfg, size_t off, size_t size)
{
    const char *p = (const char *)cfg + off;

    if (size == 1)
        return *(const bool *)(const void *)p;
    if (size == 4) {
        uint32_t v;

        memcpy(&v, p, sizeof(v));
        return v;
    }
    {
        uint64_t v;

        memcpy(&v, p, sizeof(v));
        return v;
    }
}

OG_TEST(good_values)
{
    for (size_t i = 0; i < sizeof(good_cases) / sizeof(good_cases[0]); i++) {
        const struct good_case *c = &good_cases[i];
        struct og_config *cfg = NULL;
        char line[512];
        enum og_err rc = parse(c->yaml, &cfg, line, sizeof(line));

        if (rc != OG_OK)
            OG_FAIL_("case %zu \"%s\": %s", i, c->yaml, line);
        if (field(cfg, c->off, c->size) != c->want)
            OG_FAIL_("case %zu \"%s\": got %ju, want %ju", i, c->yaml,
                     (uintmax_t)field(cfg, c->off, c->size), (uintmax_t)c->want);
        og_config_unref(cfg);
    }
}

/* ---- Bad values: exact messages and positions ---------------------------------------------- */

struct bad_case {
    const char *yaml;
    enum og_err rc;
    const char *diag; /* og_diag_format() of the error */
};

static const struct bad_case bad_cases[] = {
    /* Not YAML, or not one mapping. */
    {"{{{", OG_EPARSE,
     "t.yaml:2:1: invalid YAML: did not find expected node content while parsing a flow node"},
    {"mode: [a", OG_EPARSE,
     "t.yaml:2:1: invalid YAML: did not find expected ',' or ']' while parsing a flow sequence"},
    {"a: b\n c: d\n", OG_EPARSE,
     "t.yaml:2:3: invalid YAML: mapping values are not allowed in this context"},
    {"mode: \"x\n", OG_EPARSE,
     "t.yaml:2:1: invalid YAML: found unexpected end of stream while scanning a quoted scalar"},
    {"mode: \t@x\n", OG_EPARSE,
     "t.yaml:1:8: invalid YAML: found character that cannot start any token while scanning "
     "for the next token"},
    {"mode: \xff\n", OG_EPARSE, "t.yaml:1:7: invalid YAML: invalid leading UTF-8 octet"},
    {"mode: audit\n---\nmode: off\n", OG_EPARSE, "t.yaml:2:1: more than one YAML document"},
    {"mode: *m\n", OG_EPARSE, "t.yaml:1:7: invalid YAML: undefined alias \"m\""},
    {"a: &m audit\nmode: *m\n", OG_EINVAL, "t.yaml:1:1: a: unknown key"},
    {"- mode\n", OG_EINVAL, "t.yaml:1:1: expected a mapping at the top level, got a list"},
    {"hello\n", OG_EINVAL, "t.yaml:1:1: expected a mapping at the top level, got a scalar"},
    /* Keys. */
    {"foo: 1\n", OG_EINVAL, "t.yaml:1:1: foo: unknown key"},
    {"mode: audit\nindex:\n  ttl: 1h\n  tll: 2h\n", OG_EINVAL,
     "t.yaml:4:3: index.tll: unknown key"},
    {"Mode: audit\n", OG_EINVAL, "t.yaml:1:1: Mode: unknown key (did you mean \"mode\"?)"},
    {"index:\n  negative_ttl: 1s\n", OG_EINVAL,
     "t.yaml:2:3: index.negative_ttl: unknown key (did you mean \"negativeTTL\"?)"},
    {"max-body-bytes: 1Ki\n", OG_EINVAL,
     "t.yaml:1:1: max-body-bytes: unknown key (did you mean \"maxBodyBytes\"?)"},
    {"exempt: {namespace: [a]}\n", OG_EINVAL, "t.yaml:1:10: exempt.namespace: unknown key"},
    {"namespaces:\n  - {match: a, mode: audit, extra: 1}\n", OG_EINVAL,
     "t.yaml:2:29: namespaces[0].extra: unknown key"},
    {"mode: audit\nmode: enforce\n", OG_EINVAL,
     "t.yaml:2:1: mode: duplicate key (first at line 1)"},
    {"index:\n  ttl: 1h\n\n  ttl: 2h\n", OG_EINVAL,
     "t.yaml:4:3: index.ttl: duplicate key (first at line 2)"},
    {"index: {}\nindex: {}\n", OG_EINVAL, "t.yaml:2:1: index: duplicate key (first at line 1)"},
    {"namespaces:\n  - {match: a, mode: audit, match: b}\n", OG_EINVAL,
     "t.yaml:2:29: namespaces[0].match: duplicate key (first at line 2)"},
    {"? [a]\n: b\n", OG_EINVAL, "t.yaml:1:3: expected a key name, got a list"},
    {"<<: {mode: audit}\n", OG_EINVAL, "t.yaml:1:1: <<: unknown key"},
    /* Wrong types. */
    {"mode: [audit]\n", OG_EINVAL, "t.yaml:1:7: mode: expected a string, got a list"},
    {"mode: {a: b}\n", OG_EINVAL, "t.yaml:1:7: mode: expected a string, got a mapping"},
    {"mode:\n", OG_EINVAL, "t.yaml:1:6: mode: expected a string, got nothing (null)"},
    {"mode: ~\n", OG_EINVAL, "t.yaml:1:7: mode: expected a string, got nothing (null)"},
    {"index: 5\n", OG_EINVAL, "t.yaml:1:8: index: expected a mapping, got a scalar"},
    {"index: [ttl]\n", OG_EINVAL, "t.yaml:1:8: index: expected a mapping, got a list"},
    {"tls: \"1.3\"\n", OG_EINVAL, "t.yaml:1:6: tls: expected a mapping, got a scalar"},
    {"exempt: {users: admin}\n", OG_EINVAL,
     "t.yaml:1:17: exempt.users: expected a list, got a scalar"},
    {"exempt: {groups: [[a]]}\n", OG_EINVAL,
     "t.yaml:1:19: exempt.groups[0]: expected a string, got a list"},
    {"namespaces: {match: a}\n", OG_EINVAL,
     "t.yaml:1:13: namespaces: expected a list, got a mapping"},
    {"namespaces: [a]\n", OG_EINVAL,
     "t.yaml:1:14: namespaces[0]: expected a mapping, got a scalar"},
    {"migrations:\n  - [a]\n", OG_EINVAL,
     "t.yaml:2:5: migrations[0]: expected a mapping, got a list"},
    {"allowAnnotationOverride: \"true\"\n", OG_EINVAL,
     "t.yaml:1:26: allowAnnotationOverride: expected a boolean, got a quoted string"},
    {"allowAnnotationOverride: [true]\n", OG_EINVAL,
     "t.yaml:1:26: allowAnnotationOverride: expected a boolean, got a list"},
    {"index: {cacheEntries: '10'}\n", OG_EINVAL,
     "t.yaml:1:23: index.cacheEntries: expected a number, got a quoted string"},
    {"index: {ttl: {h: 1}}\n", OG_EINVAL,
     "t.yaml:1:14: index.ttl: expected a duration, got a mapping"},
    {"maxBodyBytes: []\n", OG_EINVAL, "t.yaml:1:15: maxBodyBytes: expected a size, got a list"},
    /* Malformed values, per key. */
    {"mode: block\n", OG_EINVAL,
     "t.yaml:1:7: mode: invalid value \"block\" (expected off, audit, mutate or enforce)"},
    {"mode: Audit\n", OG_EINVAL,
     "t.yaml:1:7: mode: invalid value \"Audit\" (expected off, audit, mutate or enforce)"},
    {"allowAnnotationOverride: yes\n", OG_EINVAL,
     "t.yaml:1:26: allowAnnotationOverride: invalid boolean \"yes\" (expected true or false)"},
    {"allowAnnotationOverride: 1\n", OG_EINVAL,
     "t.yaml:1:26: allowAnnotationOverride: invalid boolean \"1\" (expected true or false)"},
    {"index: {enabled: on}\n", OG_EINVAL,
     "t.yaml:1:18: index.enabled: invalid boolean \"on\" (expected true or false)"},
    {"index: {threshold: oldest}\n", OG_EINVAL,
     "t.yaml:1:20: index.threshold: invalid value \"oldest\" (expected newest or any)"},
    {"index: {ttl: 30d}\n", OG_EINVAL,
     "t.yaml:1:14: index.ttl: invalid duration \"30d\" (expected a number with a unit h, m, s "
     "or ms, e.g. \"1h30m\" or \"1500ms\")"},
    {"index: {ttl: 3600}\n", OG_EINVAL,
     "t.yaml:1:14: index.ttl: invalid duration \"3600\" (expected a number with a unit h, m, s "
     "or ms, e.g. \"1h30m\" or \"1500ms\")"},
    {"index: {ttl: -1h}\n", OG_EINVAL,
     "t.yaml:1:14: index.ttl: invalid duration \"-1h\" (expected a number with a unit h, m, s "
     "or ms, e.g. \"1h30m\" or \"1500ms\")"},
    {"index: {ttl: 1h 30m}\n", OG_EINVAL,
     "t.yaml:1:14: index.ttl: invalid duration \"1h 30m\" (expected a number with a unit h, m, "
     "s or ms, e.g. \"1h30m\" or \"1500ms\")"},
    {"index: {ttl: 1500ms}\n", OG_EINVAL,
     "t.yaml:1:14: index.ttl: invalid duration \"1500ms\" (not a whole number of seconds)"},
    {"index: {ttl: 0.0001s}\n", OG_EINVAL,
     "t.yaml:1:14: index.ttl: invalid duration \"0.0001s\" (finer than a millisecond)"},
    {"index: {ttl: 99999999999999999999h}\n", OG_EINVAL,
     "t.yaml:1:14: index.ttl: invalid duration \"99999999999999999999h\" (expected a number "
     "with a unit h, m, s or ms, e.g. \"1h30m\" or \"1500ms\")"},
    {"index: {ttl: 9999999999999999h}\n", OG_EINVAL,
     "t.yaml:1:14: index.ttl: invalid duration \"9999999999999999h\" (too large)"},
    {"index: {negativeTTL: 1x}\n", OG_EINVAL,
     "t.yaml:1:22: index.negativeTTL: invalid duration \"1x\" (expected a number with a unit h, "
     "m, s or ms, e.g. \"1h30m\" or \"1500ms\")"},
    {"index: {cacheEntries: ten}\n", OG_EINVAL,
     "t.yaml:1:23: index.cacheEntries: invalid number \"ten\" (expected a decimal integer)"},
    {"index: {cacheEntries: -1}\n", OG_EINVAL,
     "t.yaml:1:23: index.cacheEntries: invalid number \"-1\" (expected a decimal integer)"},
    {"index: {cacheEntries: 1e3}\n", OG_EINVAL,
     "t.yaml:1:23: index.cacheEntries: invalid number \"1e3\" (expected a decimal integer)"},
    {"index: {budget: 1h}\n", OG_EINVAL,
     "t.yaml:1:17: index.budget: duration \"1h\" is out of range (0s to 25s)"},
    {"index: {maxBytes: 64MB}\n", OG_EINVAL,
     "t.yaml:1:19: index.maxBytes: invalid size \"64MB\" (expected bytes, or a number with Ki, "
     "Mi or Gi, e.g. \"64Mi\")"},
    {"index: {maxBytes: 1.5Gi}\n", OG_EINVAL,
     "t.yaml:1:19: index.maxBytes: invalid size \"1.5Gi\" (expected bytes, or a number with Ki, "
     "Mi or Gi, e.g. \"64Mi\")"},
    {"index: {maxBytes: 99999999999Gi}\n", OG_EINVAL,
     "t.yaml:1:19: index.maxBytes: invalid size \"99999999999Gi\" (too large)"},
    {"index: {onUnknown: warn}\n", OG_EINVAL,
     "t.yaml:1:20: index.onUnknown: invalid value \"warn\" (expected allow or deny)"},
    {"index: {onMixed: oci}\n", OG_EINVAL,
     "t.yaml:1:18: index.onMixed: invalid value \"oci\" (expected warn or moved)"},
    {"index: {allowHosts: [\"http://x\"]}\n", OG_EINVAL,
     "t.yaml:1:22: index.allowHosts[0]: invalid host \"http://x\" (expected a host name or IP "
     "address, without scheme or port)"},
    {"index: {allowHosts: [ok.example, \"a b\"]}\n", OG_EINVAL,
     "t.yaml:1:34: index.allowHosts[1]: invalid host \"a b\" (expected a host name or IP "
     "address, without scheme or port)"},
    {"index: {allowHosts: [\"\"]}\n", OG_EINVAL,
     "t.yaml:1:22: index.allowHosts[0]: invalid host \"\" (expected a host name or IP address, "
     "without scheme or port)"},
    {"index: {allowCIDRs: [10.0.0.0]}\n", OG_EINVAL,
     "t.yaml:1:22: index.allowCIDRs[0]: invalid CIDR \"10.0.0.0\" (expected address/prefix, "
     "e.g. 10.0.0.0/8)"},
    {"index: {allowCIDRs: [10.0.0.0/33]}\n", OG_EINVAL,
     "t.yaml:1:22: index.allowCIDRs[0]: invalid CIDR \"10.0.0.0/33\" (prefix length over 32)"},
    {"index: {allowCIDRs: [\"fd00::/129\"]}\n", OG_EINVAL,
     "t.yaml:1:22: index.allowCIDRs[0]: invalid CIDR \"fd00::/129\" (prefix length over 128)"},
    {"index: {allowCIDRs: [10.1.2.3/8]}\n", OG_EINVAL,
     "t.yaml:1:22: index.allowCIDRs[0]: invalid CIDR \"10.1.2.3/8\" (host bits set; did you "
     "mean 10.0.0.0/8?)"},
    {"index: {allowCIDRs: [\"fd00::1/8\"]}\n", OG_EINVAL,
     "t.yaml:1:22: index.allowCIDRs[0]: invalid CIDR \"fd00::1/8\" (host bits set; did you mean "
     "fd00::/8?)"},
    {"index: {allowCIDRs: [300.0.0.0/8]}\n", OG_EINVAL,
     "t.yaml:1:22: index.allowCIDRs[0]: invalid CIDR \"300.0.0.0/8\" (\"300.0.0.0\" is not an "
     "IPv4 or IPv6 address)"},
    {"index: {allowCIDRs: [10.0.0.0/x]}\n", OG_EINVAL,
     "t.yaml:1:22: index.allowCIDRs[0]: invalid CIDR \"10.0.0.0/x\" (bad prefix length)"},
    /* What the fetcher refuses (og_netaddr_cidr_parse()) the file refuses too. */
    {"index: {allowCIDRs: [10.0.0.0/08]}\n", OG_EINVAL,
     "t.yaml:1:22: index.allowCIDRs[0]: invalid CIDR \"10.0.0.0/08\" (bad prefix length)"},
    {"index: {allowCIDRs: [10.0.0.1]}\n", OG_EINVAL,
     "t.yaml:1:22: index.allowCIDRs[0]: invalid CIDR \"10.0.0.1\" (expected address/prefix, "
     "e.g. 10.0.0.0/8)"},
    {"maxBodyBytes: 1023\n", OG_EINVAL,
     "t.yaml:1:15: maxBodyBytes: size \"1023\" is out of range (1Ki to 64Mi)"},
    {"maxBodyBytes: 65Mi\n", OG_EINVAL,
     "t.yaml:1:15: maxBodyBytes: size \"65Mi\" is out of range (1Ki to 64Mi)"},
    {"tls: {minVersion: 1.1}\n", OG_EINVAL,
     "t.yaml:1:19: tls.minVersion: invalid value \"1.1\" (expected 1.2 or 1.3)"},
    {"tls: {minVersion: TLSv1.3}\n", OG_EINVAL,
     "t.yaml:1:19: tls.minVersion: invalid value \"TLSv1.3\" (expected 1.2 or 1.3)"},
    /* Out of range, per limited key. */
    {"index: {ttl: 0s}\n", OG_EINVAL,
     "t.yaml:1:14: index.ttl: duration \"0s\" is out of range (1s to 168h)"},
    {"index: {ttl: 169h}\n", OG_EINVAL,
     "t.yaml:1:14: index.ttl: duration \"169h\" is out of range (1s to 168h)"},
    {"index: {negativeTTL: 25h}\n", OG_EINVAL,
     "t.yaml:1:22: index.negativeTTL: duration \"25h\" is out of range (1s to 24h)"},
    {"index: {cacheEntries: 0}\n", OG_EINVAL,
     "t.yaml:1:23: index.cacheEntries: number \"0\" is out of range (1 to 1048576)"},
    {"index: {cacheEntries: 1048577}\n", OG_EINVAL,
     "t.yaml:1:23: index.cacheEntries: number \"1048577\" is out of range (1 to 1048576)"},
    {"index: {maxFetches: 0}\n", OG_EINVAL,
     "t.yaml:1:21: index.maxFetches: number \"0\" is out of range (1 to 4096)"},
    {"index: {maxFetchesPerHost: 4097}\n", OG_EINVAL,
     "t.yaml:1:28: index.maxFetchesPerHost: number \"4097\" is out of range (1 to 4096)"},
    {"index: {budget: 26s}\n", OG_EINVAL,
     "t.yaml:1:17: index.budget: duration \"26s\" is out of range (0s to 25s)"},
    {"index: {connectTimeout: 99ms}\n", OG_EINVAL,
     "t.yaml:1:25: index.connectTimeout: duration \"99ms\" is out of range (100ms to 1m)"},
    {"index: {connectTimeout: 61s}\n", OG_EINVAL,
     "t.yaml:1:25: index.connectTimeout: duration \"61s\" is out of range (100ms to 1m)"},
    {"index: {fetchTimeout: 999ms}\n", OG_EINVAL,
     "t.yaml:1:23: index.fetchTimeout: duration \"999ms\" is out of range (1s to 10m)"},
    {"index: {fetchTimeout: 1h}\n", OG_EINVAL,
     "t.yaml:1:23: index.fetchTimeout: duration \"1h\" is out of range (1s to 10m)"},
    {"index: {maxBytes: 1000}\n", OG_EINVAL,
     "t.yaml:1:19: index.maxBytes: size \"1000\" is out of range (1Ki to 1Gi)"},
    {"index: {maxBytes: 2Gi}\n", OG_EINVAL,
     "t.yaml:1:19: index.maxBytes: size \"2Gi\" is out of range (1Ki to 1Gi)"},
    /* Namespace rules. */
    {"namespaces:\n  - match: a\n", OG_EINVAL, "t.yaml:2:5: namespaces[0]: missing key \"mode\""},
    {"namespaces: [{match: a, mode: audit, ratchet: yes}]\n", OG_EINVAL,
     "t.yaml:1:47: namespaces[0].ratchet: invalid value \"yes\" (expected inherit, false or "
     "true)"},
    {"ratchet: inherit\n", OG_EINVAL,
     "t.yaml:1:10: ratchet: invalid boolean \"inherit\" (expected true or false)"},
    {"webhookTimeout: 31s\n", OG_EINVAL,
     "t.yaml:1:17: webhookTimeout: duration \"31s\" is out of range (1s to 30s)"},
    {"webhookTimeout: 0s\n", OG_EINVAL,
     "t.yaml:1:17: webhookTimeout: duration \"0s\" is out of range (1s to 30s)"},
    {"webhookTimeout: 2500ms\n", OG_EINVAL,
     "t.yaml:1:17: webhookTimeout: invalid duration \"2500ms\" (not a whole number of seconds)"},
    {"namespaces:\n  - mode: audit\n", OG_EINVAL,
     "t.yaml:2:5: namespaces[0]: missing key \"match\""},
    {"namespaces:\n  - {match: a, mode: audit}\n  - {match: \"\", mode: audit}\n", OG_EINVAL,
     "t.yaml:3:13: namespaces[1].match: empty pattern"},
    {"namespaces:\n  - {match: \"a b\", mode: audit}\n", OG_EINVAL,
     "t.yaml:2:13: namespaces[0].match: pattern \"a b\" contains whitespace or control "
     "characters"},
    {"namespaces:\n  - {match: a, mode: strict}\n", OG_EINVAL,
     "t.yaml:2:22: namespaces[0].mode: invalid value \"strict\" (expected off, audit, mutate or "
     "enforce)"},
    {"namespaces:\n  - {match: \"t-*\", mode: audit}\n  - {match: \"t-*\", mode: \"off\"}\n",
     OG_EINVAL, "t.yaml:3:5: namespaces[1]: duplicate rule for \"t-*\" (first at line 2)"},
    {"exempt: {namespaces: [\"\"]}\n", OG_EINVAL,
     "t.yaml:1:23: exempt.namespaces[0]: empty pattern"},
    {"exempt: {users: [\"a\\0b\"]}\n", OG_EINVAL,
     "t.yaml:1:18: exempt.users[0]: value contains a NUL byte"},
    /* Migrations. */
    {"migrations:\n  - {to: \"oci://r.io/c\"}\n", OG_EINVAL,
     "t.yaml:2:5: migrations[0]: missing key \"from\""},
    {"migrations:\n  - {from: \"https://x.io/c\"}\n", OG_EINVAL,
     "t.yaml:2:5: migrations[0]: missing key \"to\" (only an entry that switches off a built-in "
     "migration may leave it out)"},
    {"migrations:\n  - {from: \"oci://x.io/c\", to: \"oci://r.io/c\"}\n", OG_EINVAL,
     "t.yaml:2:12: migrations[0].from: \"oci://x.io/c\" is not an http:// or https:// url"},
    {"migrations:\n  - {from: \"ftp://x.io\", to: \"oci://r.io/c\"}\n", OG_EINVAL,
     "t.yaml:2:12: migrations[0].from: \"ftp://x.io\" is not an http:// or https:// url"},
    {"migrations:\n  - {from: \"https:///c\", to: \"oci://r.io/c\"}\n", OG_EINVAL,
     "t.yaml:2:12: migrations[0].from: url \"https:///c\" has no host"},
    {"migrations:\n  - {from: \"https://u:p@x.io/c\", to: \"oci://r.io/c\"}\n", OG_EINVAL,
     "t.yaml:2:12: migrations[0].from: url \"https://u:xxxxx@x.io/c\" must not hold credentials"},
    {"migrations:\n  - {from: \"https://x.io/c?a=1\", to: \"oci://r.io/c\"}\n", OG_EINVAL,
     "t.yaml:2:12: migrations[0].from: url \"https://x.io/c?a=1\" must not have a query or "
     "fragment"},
    {"migrations:\n  - {from: \"https://x.io/a b\", to: \"oci://r.io/c\"}\n", OG_EINVAL,
     "t.yaml:2:12: migrations[0].from: url \"https://x.io/a b\" contains whitespace or control "
     "characters"},
    {"migrations:\n  - {from: \"https://x.io\", to: \"https://r.io/c\"}\n", OG_EINVAL,
     "t.yaml:2:32: migrations[0].to: \"https://r.io/c\" is not an oci:// url"},
    {"migrations:\n  - {from: \"https://x.io\", to: \"oci://r.io\"}\n", OG_EINVAL,
     "t.yaml:2:32: migrations[0].to: url \"oci://r.io\" has no repository path (expected "
     "oci://host/path)"},
    {"migrations:\n  - {from: \"https://x.io\", to: \"oci://r.io/\"}\n", OG_EINVAL,
     "t.yaml:2:32: migrations[0].to: url \"oci://r.io/\" has no repository path (expected "
     "oci://host/path)"},
    {"migrations:\n  - {from: \"https://x.io\", to: \"oci:///c\"}\n", OG_EINVAL,
     "t.yaml:2:32: migrations[0].to: url \"oci:///c\" has no host"},
    {"migrations:\n  - {from: \"https://x.io\", to: \"oci://r.io/c:1.0\"}\n", OG_EINVAL,
     "t.yaml:2:32: migrations[0].to: url \"oci://r.io/c:1.0\" must not have a tag or digest"},
    {"migrations:\n  - {from: \"https://x.io\", to: \"oci://r.io/c@sha256:ab\"}\n", OG_EINVAL,
     "t.yaml:2:32: migrations[0].to: url \"oci://r.io/c@sha256:ab\" must not have a tag or "
     "digest"},
    {"migrations:\n  - {from: \"https://x.io\", to: \"oci://r.io//c\"}\n", OG_EINVAL,
     "t.yaml:2:32: migrations[0].to: url \"oci://r.io//c\" has an empty path segment"},
    {"migrations:\n  - {from: \"https://x.io\", to: \"oci://r.io/Charts\"}\n", OG_EINVAL,
     "t.yaml:2:32: migrations[0].to: url \"oci://r.io/Charts\" has a repository path that is "
     "not lower case (a-z, 0-9, '.', '_', '-', '/')"},
    {"migrations:\n  - {from: \"https://x.io\", to: \"oci://r_x.io/c\"}\n", OG_EINVAL,
     "t.yaml:2:32: migrations[0].to: url \"oci://r_x.io/c\" has an invalid host"},
    /* Parsed by url.h: the old checks let these through. */
    {"migrations:\n  - {from: \"https://x.io:abc/c\", to: \"oci://r.io/c\"}\n", OG_EINVAL,
     "t.yaml:2:12: migrations[0].from: url \"https://x.io:abc/c\" has an invalid port"},
    {"migrations:\n  - {from: \"https://x.io\", to: \"oci://u@r.io/c\"}\n", OG_EINVAL,
     "t.yaml:2:32: migrations[0].to: url \"oci://xxxxx@r.io/c\" must not hold credentials"},
    {"migrations:\n  - {from: \"https://x.io\", to: \"oci://r.io/c?x=1\"}\n", OG_EINVAL,
     "t.yaml:2:32: migrations[0].to: url \"oci://r.io/c?x=1\" must not have a query or "
     "fragment"},
    {"migrations:\n  - {from: \"https://x.io\", to: \"oci://r.io/c\", enabled: no}\n", OG_EINVAL,
     "t.yaml:2:57: migrations[0].enabled: invalid boolean \"no\" (expected true or false)"},
    {"migrations:\n  - {from: \"https://x.io\", to: \"oci://r.io/c\"}\n"
     "  - {from: \"https://X.io/\", to: \"oci://r.io/d\"}\n",
     OG_EINVAL,
     "t.yaml:3:5: migrations[1]: duplicate migration for \"https://x.io\" (first at "
     "line 2)"},
    {"migrations:\n  - {from: \"https://charts.bitnami.com/bitnami\", enabled: false}\n"
     "  - {from: \"https://charts.bitnami.com/bitnami\", enabled: true}\n",
     OG_EINVAL,
     "t.yaml:3:5: migrations[1]: duplicate migration for "
     "\"https://charts.bitnami.com/bitnami\" (first at line 2)"},
};

OG_TEST(bad_values)
{
    int failed = 0;

    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];
        struct og_config *cfg = NULL;
        char line[512];
        enum og_err rc = parse(c->yaml, &cfg, line, sizeof(line));

        if (rc != c->rc)
            OG_FAIL_("case %zu \"%s\": rc %d (%s), want %d", i, c->yaml, rc, line, c->rc);
        if (cfg != NULL)
            OG_FAIL_("case %zu: *out set on failure", i);
        /* Every mismatch is listed before the test fails, to see them all at once. */
        if (strcmp(line, c->diag) != 0) {
            fprintf(stderr, "  case %zu \"%s\":\n    got  \"%s\"\n    want \"%s\"\n", i, c->yaml,
                    line, c->diag);
            failed++;
        }
    }
    ASSERT_EQ(failed, 0);
}

OG_TEST(parse_size_public)
{
    static const struct {
        const char *text;
        uint64_t want; /* 0: an error */
    } cases[] = {{"64Mi", 64ull << 20},
                 {"8M", 8000000},
                 {"1k", 1000},
                 {"2Gi", 2ull << 30},
                 {"512", 512},
                 {"1m", 0},
                 {"8MB", 0},
                 {"", 0},
                 {"-1", 0},
                 {" 1", 0},
                 {"99999999999999999999", 0}};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct og_diag d;
        uint64_t v = 7;
        enum og_err rc;

        og_diag_clear(&d);
        rc = og_config_value_parse(OG_CONFIG_SIZE, cases[i].text, strlen(cases[i].text), 0,
                                   UINT64_MAX, &v, &d);
        if (cases[i].want == 0) {
            ASSERT_EQ(rc, OG_EINVAL);
            ASSERT_EQ(v, 7);
            ASSERT_STR_CONTAINS(d.msg, "invalid size");
        } else {
            ASSERT_EQ(rc, OG_OK);
            ASSERT_EQ(v, cases[i].want);
        }
    }
}

OG_TEST(no_diag_is_fine)
{
    struct og_config *cfg = NULL;

    ASSERT_EQ(og_config_parse("mode: x", 7, NULL, &cfg, NULL), OG_EINVAL);
    ASSERT_EQ(og_config_parse("{", 1, NULL, &cfg, NULL), OG_EPARSE);
    ASSERT(cfg == NULL);
}

/* The data need not end in NUL: a view into a larger buffer parses only its bytes. */
OG_TEST(parse_is_length_bounded)
{
    static const char data[] = "mode: audit\nmode: enforce\n";
    struct og_config *cfg = NULL;

    ASSERT_EQ(og_config_parse(data, 12, NULL, &cfg, NULL), OG_OK);
    ASSERT_EQ(cfg->mode, OG_MODE_AUDIT);
    og_config_unref(cfg);
}

/* ---- Lists ------------------------------------------------------------------------------------
 */

OG_TEST(lists_and_rules)
{
    static const char yaml[] = "mode: enforce\n"
                               "namespaces:\n"
                               "  - match: legacy\n"
                               "    mode: audit\n"
                               "  - {match: \"team-*\", mode: \"off\"}\n"
                               "exempt:\n"
                               "  namespaces: [kube-system, \"sandbox-*\"]\n"
                               "  users: [\"system:serviceaccount:flux-system:*\"]\n"
                               "  groups:\n"
                               "    - system:masters\n"
                               "index:\n"
                               "  allowHosts: [charts.internal, \"10.1.2.3\", \"fd00::1\"]\n"
                               "  allowCIDRs: [10.0.0.0/8, \"fd00::/8\", 192.168.1.7/32]\n";
    struct og_config *cfg = NULL;
    char line[512];

    ASSERT_EQ(parse(yaml, &cfg, line, sizeof(line)), OG_OK);
    ASSERT_EQ(cfg->mode, OG_MODE_ENFORCE);
    ASSERT_EQ(cfg->n_ns_rules, 2);
    ASSERT_STR_EQ(cfg->ns_rules[0].pattern, "legacy");
    ASSERT_EQ(cfg->ns_rules[0].mode, OG_MODE_AUDIT);
    ASSERT_EQ(cfg->ns_rules[0].line, 3);
    ASSERT_STR_EQ(cfg->ns_rules[1].pattern, "team-*");
    ASSERT_EQ(cfg->ns_rules[1].mode, OG_MODE_OFF);
    ASSERT_EQ(cfg->ns_rules[1].line, 5);
    ASSERT_EQ(cfg->n_exempt_namespaces, 2);
    ASSERT_STR_EQ(cfg->exempt_namespaces[1], "sandbox-*");
    ASSERT_EQ(cfg->n_exempt_users, 1);
    ASSERT_STR_EQ(cfg->exempt_users[0], "system:serviceaccount:flux-system:*");
    ASSERT_EQ(cfg->n_exempt_groups, 1);
    ASSERT_STR_EQ(cfg->exempt_groups[0], "system:masters");
    ASSERT_EQ(cfg->index.n_allow_hosts, 3);
    ASSERT_STR_EQ(cfg->index.allow_hosts[2], "fd00::1");
    ASSERT_EQ(cfg->index.n_allow_cidrs, 3);
    ASSERT_STR_EQ(cfg->index.allow_cidrs[2], "192.168.1.7/32");
    og_config_unref(cfg);
}

OG_TEST(null_lists_and_sections_are_empty)
{
    static const char yaml[] = "namespaces:\nexempt:\n  users: ~\nindex:\nmigrations: []\ntls:\n";
    struct og_config *cfg = NULL;
    char line[512];

    ASSERT_EQ(parse(yaml, &cfg, line, sizeof(line)), OG_OK);
    ASSERT_EQ(cfg->n_ns_rules, 0);
    ASSERT_EQ(cfg->n_exempt_users, 0);
    ASSERT_EQ(cfg->n_migrations, 1);
    og_config_unref(cfg);
}

OG_TEST(too_many_items)
{
    struct og_buf b;
    struct og_config *cfg = NULL;
    char line[512];

    og_buf_init(&b, 1 << 20);
    ASSERT_EQ(og_buf_append_cstr(&b, "exempt:\n  users:\n"), OG_OK);
    for (int i = 0; i < 1025; i++)
        ASSERT_EQ(og_buf_appendf(&b, "    - u%d\n", i), OG_OK);
    ASSERT_EQ(parse(b.ptr, &cfg, line, sizeof(line)), OG_EINVAL);
    ASSERT_STR_EQ(line, "t.yaml:3:5: exempt.users: too many items (1025, at most 1024)");
    og_buf_cleanup(&b);
}

OG_TEST(migrations_extend_override_disable)
{
    static const char yaml[] = "migrations:\n"
                               "  - from: \"HTTPS://Charts.Example.COM/stable/\"\n"
                               "    to: \"oci://Registry.Example.com/charts/\"\n"
                               "  - from: https://charts.bitnami.com/bitnami/\n"
                               "    enabled: false\n"
                               "  - from: http://old.example/repo\n"
                               "    to: oci://ghcr.io/old/repo\n"
                               "    enabled: true\n";
    struct og_config *cfg = NULL;
    char line[512];

    ASSERT_EQ(parse(yaml, &cfg, line, sizeof(line)), OG_OK);
    ASSERT_EQ(cfg->n_migrations, 3);
    /* The built-in row keeps its place and its target, switched off. */
    ASSERT_STR_EQ(cfg->migrations[0].from, "https://charts.bitnami.com/bitnami");
    ASSERT_STR_EQ(cfg->migrations[0].to, "oci://registry-1.docker.io/bitnamicharts");
    ASSERT_EQ(cfg->migrations[0].enabled, false);
    ASSERT_EQ(cfg->migrations[0].line, 4);
    /* Scheme and host are lower-cased and one trailing '/' dropped; the path keeps its case. */
    ASSERT_STR_EQ(cfg->migrations[1].from, "https://charts.example.com/stable");
    ASSERT_STR_EQ(cfg->migrations[1].to, "oci://registry.example.com/charts");
    ASSERT_EQ(cfg->migrations[1].enabled, true);
    ASSERT_EQ(cfg->migrations[1].line, 2);
    ASSERT_STR_EQ(cfg->migrations[2].from, "http://old.example/repo");
    og_config_unref(cfg);

    /* Normalizing is idempotent: every trailing slash goes (found by fuzz_config). */
    ASSERT_EQ(parse("migrations:\n  - {from: \"HTTPS://X.io/a///\", to: \"oci://r.io/c//\"}\n",
                    &cfg, line, sizeof(line)),
              OG_OK);
    ASSERT_STR_EQ(cfg->migrations[1].from, "https://x.io/a");
    ASSERT_STR_EQ(cfg->migrations[1].to, "oci://r.io/c");
    og_config_unref(cfg);

    /* Overriding the built-in target, also as written with the default port (no part of the
     * comparable form, url.h): the row replaces the built-in one, never stands beside it. */
    for (size_t i = 0; i < 2; i++) {
        char text[160];

        ASSERT(snprintf(text, sizeof(text), "migrations:\n  - {from: \"%s\", to: %s}\n",
                        i == 0 ? "https://charts.bitnami.com/bitnami"
                               : "HTTPS://Charts.Bitnami.com:443/bitnami/",
                        "\"oci://mirror.example/bitnamicharts\"") > 0);
        ASSERT_EQ(parse(text, &cfg, line, sizeof(line)), OG_OK);
        ASSERT_EQ(cfg->n_migrations, 1);
        ASSERT_STR_EQ(cfg->migrations[0].from, "https://charts.bitnami.com/bitnami");
        ASSERT_STR_EQ(cfg->migrations[0].to, "oci://mirror.example/bitnamicharts");
        ASSERT_EQ(cfg->migrations[0].enabled, true);
        og_config_unref(cfg);
    }
}

/* ---- Output: effective config round trip, default file, manifest ------------------------- */

static char *format(const struct og_config *cfg)
{
    struct og_buf b;

    og_buf_init(&b, 1 << 20);
    if (og_config_format(cfg, &b) != OG_OK) {
        og_buf_cleanup(&b);
        return NULL;
    }
    return og_buf_take(&b, NULL);
}

OG_TEST(format_round_trips)
{
    static const char yaml[] =
        "mode: \"off\"\n"
        "namespaces: [{match: \"*\", mode: enforce}, {match: \"on\", mode: audit}]\n"
        "exempt: {namespaces: [\"yes\", \"1.5\", \"*-system\"], users: [\"a:b\"],\n"
        "         groups: [g, \"0x1f\", \"-.Inf\", \"1:20\"]}\n"
        "allowAnnotationOverride: true\n"
        "migrations: [{from: \"https://x.io/a\", to: \"oci://r.io/a\", enabled: false}]\n"
        "index: {enabled: false, threshold: any, ttl: 1h30m5s, negativeTTL: 61s,\n"
        "        cacheEntries: 7, budget: 1001ms, connectTimeout: 100ms, fetchTimeout: 2m,\n"
        "        maxBytes: 1025, onUnknown: deny, allowHosts: [h.io], allowCIDRs: [\"::/0\"]}\n"
        "maxBodyBytes: 3Mi\n"
        "tls: {minVersion: \"1.3\"}\n";
    struct og_config *a = NULL, *b = NULL;
    char line[512], *ta = NULL, *tb = NULL;

    ASSERT_EQ(parse(yaml, &a, line, sizeof(line)), OG_OK);
    ta = format(a);
    ASSERT(ta != NULL);
    ASSERT_STR_CONTAINS(ta, "mode: \"off\"\n");
    ASSERT_STR_CONTAINS(ta, "ttl: 1h30m5s\n");
    ASSERT_STR_CONTAINS(ta, "budget: 1001ms\n");
    ASSERT_STR_CONTAINS(ta, "maxBytes: 1025\n");
    ASSERT_STR_CONTAINS(ta, "minVersion: \"1.3\"\n");
    ASSERT_STR_CONTAINS(ta, "- \"yes\"\n");
    /* Strings that some YAML reader takes for numbers stay strings. */
    ASSERT_STR_CONTAINS(ta, "- \"0x1f\"\n");
    ASSERT_STR_CONTAINS(ta, "- \"-.Inf\"\n");
    ASSERT_STR_CONTAINS(ta, "- \"1:20\"\n");
    ASSERT_EQ(og_config_parse(ta, strlen(ta), "round", &b, NULL), OG_OK);
    tb = format(b);
    ASSERT(tb != NULL);
    ASSERT_STR_EQ(tb, ta);
    ASSERT_EQ(b->index.ttl_s, 5405);
    ASSERT_EQ(b->n_migrations, 2);
    free(ta);
    free(tb);
    og_config_unref(a);
    og_config_unref(b);
}

OG_TEST(format_hits_buffer_cap)
{
    struct og_config *cfg = NULL;
    struct og_buf b;

    ASSERT_EQ(og_config_new(&cfg), OG_OK);
    og_buf_init(&b, 64);
    ASSERT_EQ(og_config_format(cfg, &b), OG_ETOOBIG);
    og_buf_cleanup(&b);
    og_config_unref(cfg);
}

static char *default_text(void)
{
    struct og_buf b;

    og_buf_init(&b, 1 << 20);
    if (og_config_format_default(&b) != OG_OK) {
        og_buf_cleanup(&b);
        return NULL;
    }
    return og_buf_take(&b, NULL);
}

OG_TEST(default_file_is_the_defaults)
{
    struct og_config *def = NULL, *cfg = NULL;
    char *text = default_text(), *want = NULL, *got = NULL;
    struct og_diag diag;
    char line[512];
    size_t n = 0;

    ASSERT(text != NULL);
    og_diag_clear(&diag);
    if (og_config_parse(text, strlen(text), "default", &cfg, &diag) != OG_OK)
        OG_FAIL_("default file does not parse: %s", og_diag_format(&diag, line, sizeof(line)));
    ASSERT_EQ(og_config_new(&def), OG_OK);
    want = format(def);
    got = format(cfg);
    ASSERT_STR_EQ(got, want);
    /* Every line fits the 100 columns of the style, and every top-level key is documented. */
    for (const char *p = text; *p != '\0'; n++) {
        const char *nl = strchr(p, '\n');

        ASSERT(nl != NULL);
        if (nl - p > 100)
            OG_FAIL_("line %zu is %td columns: %.*s", n + 1, nl - p, (int)(nl - p), p);
        p = nl + 1;
    }
    ASSERT_STR_CONTAINS(text, "\n# Default mode");
    ASSERT_STR_CONTAINS(text, "\nmode: mutate\n");
    ASSERT_STR_CONTAINS(text, "\n  ttl: 1h\n");
    ASSERT_STR_CONTAINS(text, "\n  minVersion: \"1.2\"\n");
    ASSERT_STR_CONTAINS(text, "#   https://charts.bitnami.com/bitnami -> "
                              "oci://registry-1.docker.io/bitnamicharts\n");
    free(text);
    free(want);
    free(got);
    og_config_unref(def);
    og_config_unref(cfg);
}

/* Finds data."config.yaml" in the ConfigMap; returns a copy or NULL. */
static char *configmap_data(const char *yaml, size_t len)
{
    yaml_parser_t p;
    yaml_document_t doc;
    yaml_node_t *root, *data = NULL;
    char *out = NULL;

    if (!yaml_parser_initialize(&p))
        return NULL;
    yaml_parser_set_input_string(&p, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&p, &doc)) {
        yaml_parser_delete(&p);
        return NULL;
    }
    root = yaml_document_get_root_node(&doc);
    for (int pass = 0; pass < 2 && root != NULL && root->type == YAML_MAPPING_NODE; pass++) {
        const char *want = pass == 0 ? "data" : "config.yaml";
        yaml_node_t *found = NULL;

        for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
             pr < root->data.mapping.pairs.top; pr++) {
            yaml_node_t *k = yaml_document_get_node(&doc, pr->key);

            if (k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, want) == 0)
                found = yaml_document_get_node(&doc, pr->value);
        }
        root = found;
        data = found;
    }
    if (data != NULL && data->type == YAML_SCALAR_NODE) {
        out = malloc(data->data.scalar.length + 1);
        if (out != NULL) {
            memcpy(out, data->data.scalar.value, data->data.scalar.length);
            out[data->data.scalar.length] = '\0';
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    return out;
}

OG_TEST(configmap_manifest_matches_default)
{
    size_t len = 0;
    char *yaml = og_test_read_file(OG_SOURCE_DIR "/manifests/base/configmap.yaml", &len);
    char *data, *text = default_text();

    ASSERT(yaml != NULL);
    data = configmap_data(yaml, len);
    ASSERT(data != NULL);
    if (strcmp(data, text) != 0)
        OG_FAIL_("manifests/base/configmap.yaml is stale; regenerate it with "
                 "scripts/gen-configmap.sh build/ocigate > manifests/base/configmap.yaml");
    free(data);
    free(text);
    free(yaml);
}

/* ---- Loading files ------------------------------------------------------------------------ */

OG_TEST(load_files)
{
    char dir[] = "/tmp/og-test-config-XXXXXX", path[128], line[512];
    struct og_config *cfg = NULL;
    struct og_diag diag;
    FILE *f;

    ASSERT(mkdtemp(dir) != NULL);
    og_diag_clear(&diag);
    snprintf(path, sizeof(path), "%s/missing.yaml", dir);
    ASSERT_EQ(srv_config_load(path, &cfg, &diag), OG_EIO);
    og_diag_format(&diag, line, sizeof(line));
    ASSERT_STR_CONTAINS(line, "missing.yaml: cannot open: No such file or directory");

    snprintf(path, sizeof(path), "%s/ok.yaml", dir);
    f = fopen(path, "w");
    ASSERT(f != NULL);
    fputs("mode: audit\nindex:\n  ttl: 2h\n", f);
    fclose(f);
    ASSERT_EQ(srv_config_load(path, &cfg, &diag), OG_OK);
    ASSERT_EQ(cfg->mode, OG_MODE_AUDIT);
    ASSERT_EQ(cfg->index.ttl_s, 7200);
    ASSERT_STR_EQ(cfg->source, path);
    og_config_unref(cfg);
    cfg = NULL;

    f = fopen(path, "w");
    ASSERT(f != NULL);
    fputs("mode: audit\nindex:\n  ttl: 2d\n", f);
    fclose(f);
    ASSERT_EQ(srv_config_load(path, &cfg, &diag), OG_EINVAL);
    og_diag_format(&diag, line, sizeof(line));
    ASSERT_STR_CONTAINS(line, "/ok.yaml:3:8: index.ttl: invalid duration \"2d\"");
    unlink(path);

    snprintf(path, sizeof(path), "%s/big.yaml", dir);
    f = fopen(path, "w");
    ASSERT(f != NULL);
    for (unsigned i = 0; i <= OG_CONFIG_MAX_FILE / 16; i++)
        fputs("# padding line.\n", f); /* 16 bytes */
    fclose(f);
    og_diag_clear(&diag);
    ASSERT_EQ(srv_config_load(path, &cfg, &diag), OG_ETOOBIG);
    og_diag_format(&diag, line, sizeof(line));
    ASSERT_STR_CONTAINS(line, "big.yaml: file is larger than 1048576 bytes");
    unlink(path);

    og_diag_clear(&diag);
    ASSERT_EQ(srv_config_load(dir, &cfg, &diag), OG_EIO);
    og_diag_format(&diag, line, sizeof(line));
    ASSERT_STR_CONTAINS(line, "cannot read: Is a directory");
    ASSERT(cfg == NULL);
    rmdir(dir);
}

/* ---- Globs and mode resolution --------------------------------------------------------------- */

OG_TEST(glob_match)
{
    static const struct {
        const char *pattern, *s;
        bool want;
    } cases[] = {
        {"", "", true},
        {"", "a", false},
        {"a", "a", true},
        {"a", "ab", false},
        {"ab", "a", false},
        {"*", "", true},
        {"*", "anything", true},
        {"team-*", "team-a", true},
        {"team-*", "team-", true},
        {"team-*", "team", false},
        {"*-system", "kube-system", true},
        {"*-system", "system", false},
        {"a*b*c", "abc", true},
        {"a*b*c", "aXbYc", true},
        {"a*b*c", "aXbYcZ", false},
        {"a*b*c", "acbc", true},
        {"**", "x", true},
        {"a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaa", false},
        {"*a", "bbba", true},
        {"?", "a", false},
        {"a.b", "aXb", false},
        {"system:serviceaccount:flux-system:*", "system:serviceaccount:flux-system:helm", true},
        {"Kube-*", "kube-system", false},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (og_config_glob_match(cases[i].pattern, cases[i].s) != cases[i].want)
            OG_FAIL_("case %zu: glob \"%s\" on \"%s\" should be %s", i, cases[i].pattern,
                     cases[i].s, cases[i].want ? "true" : "false");
    }
}

struct mode_case {
    const char *ns, *user, *group, *annotation;
    enum og_mode want;
    const char *why;
};

static const char mode_yaml[] = "mode: mutate\n"
                                "namespaces:\n"
                                "  - {match: \"prod-*\", mode: enforce}\n"
                                "  - {match: \"prod-legacy\", mode: audit}\n"
                                "  - {match: \"*-sandbox\", mode: \"off\"}\n"
                                "  - {match: quiet, mode: audit}\n"
                                "exempt:\n"
                                "  namespaces: [kube-system, \"flux-*\"]\n"
                                "  users: [\"system:serviceaccount:ci:*\", admin]\n"
                                "  groups: [\"system:masters\"]\n";

static const struct mode_case mode_cases[] = {
    {"default", "alice", NULL, NULL, OG_MODE_MUTATE, OG_MODE_WHY_DEFAULT},
    {NULL, NULL, NULL, NULL, OG_MODE_MUTATE, OG_MODE_WHY_DEFAULT},
    {"prod-a", "alice", NULL, NULL, OG_MODE_ENFORCE, OG_MODE_WHY_NAMESPACE_RULE},
    /* First match wins: prod-legacy is caught by prod-* before its own rule. */
    {"prod-legacy", "alice", NULL, NULL, OG_MODE_ENFORCE, OG_MODE_WHY_NAMESPACE_RULE},
    {"team-sandbox", "alice", NULL, NULL, OG_MODE_OFF, OG_MODE_WHY_NAMESPACE_RULE},
    {"quiet", "alice", NULL, NULL, OG_MODE_AUDIT, OG_MODE_WHY_NAMESPACE_RULE},
    {"kube-system", "alice", NULL, NULL, OG_MODE_OFF, OG_MODE_WHY_EXEMPT_NAMESPACE},
    {"flux-system", "alice", NULL, NULL, OG_MODE_OFF, OG_MODE_WHY_EXEMPT_NAMESPACE},
    /* Exemptions beat rules. */
    {"prod-a", "admin", NULL, NULL, OG_MODE_OFF, OG_MODE_WHY_EXEMPT_USER},
    {"prod-a", "system:serviceaccount:ci:deployer", NULL, NULL, OG_MODE_OFF,
     OG_MODE_WHY_EXEMPT_USER},
    {"prod-a", "system:serviceaccount:other:deployer", NULL, NULL, OG_MODE_ENFORCE,
     OG_MODE_WHY_NAMESPACE_RULE},
    {"prod-a", "bob", "system:masters", NULL, OG_MODE_OFF, OG_MODE_WHY_EXEMPT_GROUP},
    {"prod-a", "bob", "system:authenticated", NULL, OG_MODE_ENFORCE, OG_MODE_WHY_NAMESPACE_RULE},
    /* Annotation not allowed (allowAnnotationOverride false): ignored, and said so. */
    {"prod-a", "bob", NULL, "audit", OG_MODE_ENFORCE,
     OG_MODE_WHY_NAMESPACE_RULE_ANNOTATION_IGNORED},
    {"default", "bob", NULL, "audit", OG_MODE_MUTATE, OG_MODE_WHY_DEFAULT_ANNOTATION_IGNORED},
    /* Already audit: the annotation changes nothing, so it is not "ignored". */
    {"quiet", "bob", NULL, "audit", OG_MODE_AUDIT, OG_MODE_WHY_NAMESPACE_RULE},
    /* Off or exempt: nothing to lower. */
    {"team-sandbox", "bob", NULL, "audit", OG_MODE_OFF, OG_MODE_WHY_NAMESPACE_RULE},
    {"kube-system", "bob", NULL, "enforce", OG_MODE_OFF, OG_MODE_WHY_EXEMPT_NAMESPACE},
};

/* Same namespaces, allowAnnotationOverride: true. */
static const struct mode_case mode_cases_allowed[] = {
    {"prod-a", "bob", NULL, "audit", OG_MODE_AUDIT, OG_MODE_WHY_ANNOTATION},
    {"default", "bob", NULL, "audit", OG_MODE_AUDIT, OG_MODE_WHY_ANNOTATION},
    {"default", "bob", NULL, NULL, OG_MODE_MUTATE, OG_MODE_WHY_DEFAULT},
    /* It only lowers, and only to audit. */
    {"default", "bob", NULL, "off", OG_MODE_MUTATE, OG_MODE_WHY_DEFAULT_ANNOTATION_IGNORED},
    {"default", "bob", NULL, "enforce", OG_MODE_MUTATE, OG_MODE_WHY_DEFAULT_ANNOTATION_IGNORED},
    {"quiet", "bob", NULL, "enforce", OG_MODE_AUDIT, OG_MODE_WHY_NAMESPACE_RULE_ANNOTATION_IGNORED},
    {"prod-a", "bob", NULL, "Audit", OG_MODE_ENFORCE,
     OG_MODE_WHY_NAMESPACE_RULE_ANNOTATION_IGNORED},
    {"prod-a", "bob", NULL, "", OG_MODE_ENFORCE, OG_MODE_WHY_NAMESPACE_RULE_ANNOTATION_IGNORED},
    {"prod-a", "admin", NULL, "audit", OG_MODE_OFF, OG_MODE_WHY_EXEMPT_USER},
};

static void run_mode_cases(const char *yaml, const struct mode_case *cases, size_t n)
{
    struct og_config *cfg = NULL;
    char line[512];

    if (parse(yaml, &cfg, line, sizeof(line)) != OG_OK)
        OG_FAIL_("%s", line);
    for (size_t i = 0; i < n; i++) {
        const struct mode_case *c = &cases[i];
        const char *groups[] = {"system:authenticated", c->group};
        const char *why = NULL;
        enum og_mode m = og_config_resolve_mode(cfg, c->ns, c->user, groups,
                                                c->group != NULL ? 2 : 1, c->annotation, &why);

        if (m != c->want || why == NULL || strcmp(why, c->why) != 0)
            OG_FAIL_("case %zu (ns %s, user %s, group %s, annotation %s): got %s \"%s\", want "
                     "%s \"%s\"",
                     i, c->ns ? c->ns : "(null)", c->user ? c->user : "(null)",
                     c->group ? c->group : "(null)", c->annotation ? c->annotation : "(null)",
                     og_mode_name(m), why ? why : "(null)", og_mode_name(c->want), c->why);
        ASSERT_EQ(og_mode_why_annotation_ignored(why), strstr(c->why, "ignored") != NULL);
    }
    /* why may be NULL, groups may be NULL when there are none. */
    ASSERT_EQ(og_config_resolve_mode(cfg, "prod-x", NULL, NULL, 0, NULL, NULL), OG_MODE_ENFORCE);
    og_config_unref(cfg);
}

OG_TEST(resolve_mode)
{
    run_mode_cases(mode_yaml, mode_cases, sizeof(mode_cases) / sizeof(mode_cases[0]));
}

OG_TEST(resolve_mode_annotation_allowed)
{
    char yaml[sizeof(mode_yaml) + 64];

    snprintf(yaml, sizeof(yaml), "%sallowAnnotationOverride: true\n", mode_yaml);
    run_mode_cases(yaml, mode_cases_allowed,
                   sizeof(mode_cases_allowed) / sizeof(mode_cases_allowed[0]));
}

OG_TEST(mode_names)
{
    struct og_config *cfg = NULL;

    /* Mode names are read by the key table ("mode"), as the file and --mode give them. */
    ASSERT_EQ(og_config_new(&cfg), OG_OK);
    ASSERT_EQ(og_config_set(cfg, "mode", "enforce", NULL), OG_OK);
    ASSERT_EQ(cfg->mode, OG_MODE_ENFORCE);
    ASSERT_EQ(og_config_set(cfg, "mode", "ENFORCE", NULL), OG_EINVAL);
    ASSERT_EQ(cfg->mode, OG_MODE_ENFORCE);
    og_config_unref(cfg);
    ASSERT_STR_EQ(og_mode_name(OG_MODE_AUDIT), "audit");
    ASSERT_STR_EQ(og_mode_name((enum og_mode)42), "unknown");
    ASSERT_STR_EQ(og_tls_version_name(OG_TLS_1_3), "1.3");
}

/* The duration parser behind the file's durations, as the serve flags use it. */
OG_TEST(parse_duration)
{
    static const struct {
        const char *text;
        uint64_t ms;
    } good[] = {{"0", 0},           {"5s", 5000},   {"1500ms", 1500}, {"1.5s", 1500},
                {"1h30m", 5400000}, {"2m", 120000}, {".5s", 500},     {"1m0.25s", 60250}};
    static const char *const bad[] = {"", "5", "s", "-1s", "1.0005s", "5 s", "5x", "1sm", "1.s5"};
    struct og_diag diag;
    uint64_t ms;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ms = 1;
        ASSERT_EQ(og_config_value_parse(OG_CONFIG_MS, good[i].text, strlen(good[i].text), 0,
                                        UINT64_MAX, &ms, NULL),
                  OG_OK);
        ASSERT_EQ(ms, good[i].ms);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        og_diag_clear(&diag);
        ms = 7;
        ASSERT_EQ(
            og_config_value_parse(OG_CONFIG_MS, bad[i], strlen(bad[i]), 0, UINT64_MAX, &ms, &diag),
            OG_EINVAL);
        ASSERT_EQ(ms, 7);
        ASSERT_STR_CONTAINS(diag.msg, "invalid duration");
    }
    /* Length-bounded: the bytes after `len` are not read. */
    ASSERT_EQ(og_config_value_parse(OG_CONFIG_MS, "2sXX", 2, 0, UINT64_MAX, &ms, NULL), OG_OK);
    ASSERT_EQ(ms, 2000);
}

/* The typed parser the server's own options use: the key rows' parser and range check. */
OG_TEST(value_parse_numbers_sizes_durations)
{
    static const struct {
        enum og_config_unit unit;
        const char *text;
        uint64_t min, max;
        uint64_t want; /* when msg is NULL */
        const char *msg;
    } rows[] = {
        {OG_CONFIG_NUMBER, "42", 0, 100, 42, NULL},
        {OG_CONFIG_NUMBER, "101", 0, 100, 0, "number \"101\" is out of range (0 to 100)"},
        {OG_CONFIG_NUMBER, "-1", 0, 100, 0, "invalid number \"-1\" (expected a decimal integer)"},
        {OG_CONFIG_NUMBER, " 1", 0, 100, 0, "invalid number"},
        {OG_CONFIG_NUMBER, "1x", 0, 100, 0, "invalid number"},
        {OG_CONFIG_NUMBER, "", 0, 100, 0, "invalid number"},
        {OG_CONFIG_NUMBER, "99999999999999999999999", 0, UINT64_MAX, 0, "invalid number"},
        /* Kubernetes quantities, as in the file: M is 10^6, Mi 2^20. */
        {OG_CONFIG_SIZE, "8M", 1, 1u << 30, 8000000, NULL},
        {OG_CONFIG_SIZE, "8Mi", 1, 1u << 30, 8u << 20, NULL},
        {OG_CONFIG_SIZE, "64k", 1, 1u << 30, 64000, NULL},
        {OG_CONFIG_SIZE, "64Ki", 1, 1u << 30, 64u << 10, NULL},
        {OG_CONFIG_SIZE, "512", 1, 1u << 30, 512, NULL},
        {OG_CONFIG_SIZE, "1Gi", 1, 1u << 30, 1u << 30, NULL},
        {OG_CONFIG_SIZE, "2G", 1u << 20, 1u << 30, 0, "size \"2G\" is out of range (1Mi to 1Gi)"},
        {OG_CONFIG_SIZE, "2Mb", 1, 1u << 30, 0, "invalid size \"2Mb\""},
        {OG_CONFIG_SIZE, "18446744073709551615M", 1, UINT64_MAX, 0, "(too large)"},
        {OG_CONFIG_MS, "1h", 100, 3600000, 3600000, NULL},
        {OG_CONFIG_MS, "99ms", 100, 3600000, 0, "duration \"99ms\" is out of range (100ms to 1h)"},
        {OG_CONFIG_SECONDS, "90m", 1, 86400, 5400, NULL},
        {OG_CONFIG_SECONDS, "1500ms", 1, 86400, 0, "(not a whole number of seconds)"},
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct og_diag d;
        uint64_t v = 7;
        enum og_err rc;

        og_diag_clear(&d);
        rc = og_config_value_parse(rows[i].unit, rows[i].text, strlen(rows[i].text), rows[i].min,
                                   rows[i].max, &v, &d);
        if (rows[i].msg == NULL) {
            ASSERT_EQ(rc, OG_OK);
            ASSERT_EQ(v, rows[i].want);
        } else {
            ASSERT_EQ(rc, OG_EINVAL);
            ASSERT_EQ(v, 7);
            ASSERT_STR_CONTAINS(d.msg, rows[i].msg);
        }
    }
}

/* og_config_set() is the file's parser for one key: same values, limits and messages. */
OG_TEST(set_one_key_as_the_file_does)
{
    struct og_config *cfg = NULL, *file = NULL;
    struct og_diag d, fd;
    static const char yaml[] = "index: {ttl: 0s}\n";

    ASSERT_EQ(og_config_new(&cfg), OG_OK);
    ASSERT_EQ(og_config_set(cfg, "index.ttl", "90m", NULL), OG_OK);
    ASSERT_EQ(cfg->index.ttl_s, 5400);
    ASSERT_EQ(og_config_set(cfg, "maxBodyBytes", "8M", NULL), OG_OK);
    ASSERT_EQ(cfg->max_body, 8000000);
    ASSERT_EQ(og_config_set(cfg, "mode", "enforce", NULL), OG_OK);
    ASSERT_EQ(cfg->mode, OG_MODE_ENFORCE);
    /* Lists take one item per call. */
    ASSERT_EQ(og_config_set(cfg, "index.allowHosts", "fd00::5", NULL), OG_OK);
    ASSERT_EQ(og_config_set(cfg, "exempt.users", "system:*", NULL), OG_OK);
    ASSERT_EQ(og_config_set(cfg, "index.allowHosts", "charts.example.com", NULL), OG_OK);
    ASSERT_EQ(cfg->index.n_allow_hosts, 2);
    ASSERT_STR_EQ(cfg->index.allow_hosts[0], "fd00::5");
    ASSERT_STR_EQ(cfg->index.allow_hosts[1], "charts.example.com");
    ASSERT_EQ(cfg->n_exempt_users, 1);

    /* A bad value: the file's message, the key in `where`, nothing changed. */
    og_diag_clear(&d);
    ASSERT_EQ(og_config_set(cfg, "index.ttl", "0s", &d), OG_EINVAL);
    ASSERT_EQ(cfg->index.ttl_s, 5400);
    og_diag_clear(&fd);
    ASSERT_EQ(og_config_parse(yaml, strlen(yaml), NULL, &file, &fd), OG_EINVAL);
    ASSERT_STR_EQ(d.msg, fd.msg);
    ASSERT_STR_EQ(d.where, "index.ttl");
    ASSERT_EQ(og_config_set(cfg, "index.allowHosts", "[fd00::5]", &d), OG_EINVAL);
    ASSERT_STR_CONTAINS(d.msg, "invalid host \"[fd00::5]\"");
    ASSERT_EQ(cfg->index.n_allow_hosts, 2);

    /* Only scalar and list keys can be set. */
    ASSERT_EQ(og_config_set(cfg, "index", "x", &d), OG_ENOTFOUND);
    ASSERT_EQ(og_config_set(cfg, "namespaces", "x", &d), OG_ENOTFOUND);
    ASSERT_EQ(og_config_set(cfg, "namespaces[].mode", "off", &d), OG_ENOTFOUND);
    ASSERT_EQ(og_config_set(cfg, "index.nope", "1", &d), OG_ENOTFOUND);
    og_config_unref(cfg);
}

/*
 * index.budget plus the margin over webhookTimeout is a conflict (config check and serve warn);
 * at exactly the timeout it is not, nor with index analysis off. The defaults are consistent.
 */
OG_TEST(budget_fits_the_webhook_timeout)
{
    static const struct {
        const char *yaml;
        bool conflict;
    } cases[] = {
        {"", false},
        {"index: {budget: 2500ms}", false},
        {"index: {budget: 2501ms}", true},
        {"index: {budget: 2501ms, enabled: false}", false},
        {"index: {budget: 3s}\nwebhookTimeout: 4s", false},
        {"index: {budget: 3501ms}\nwebhookTimeout: 4s", true},
        {"index: {budget: 25s}\nwebhookTimeout: 30s", false},
        {"index: {budget: 0s}\nwebhookTimeout: 1s", false},
        {"index: {budget: 501ms}\nwebhookTimeout: 1s", true},
    };
    char msg[512];

    ASSERT_EQ(OG_CONFIG_TIMEOUT_MARGIN_MS, 500);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct og_config *cfg = NULL;

        ASSERT_EQ(og_config_parse(cases[i].yaml, strlen(cases[i].yaml), NULL, &cfg, NULL), OG_OK);
        memcpy(msg, "untouched", sizeof("untouched"));
        if (og_config_has_conflict(cfg, msg, sizeof(msg)) != cases[i].conflict)
            OG_FAIL_("case %zu \"%s\": conflict %d", i, cases[i].yaml, !cases[i].conflict);
        if (!cases[i].conflict)
            ASSERT_STR_EQ(msg, "untouched");
        og_config_unref(cfg);
    }
    {
        static const char yaml[] = "index: {budget: 2501ms}";
        struct og_config *cfg = NULL;

        ASSERT_EQ(og_config_parse(yaml, strlen(yaml), NULL, &cfg, NULL), OG_OK);
        ASSERT(og_config_has_conflict(cfg, msg, sizeof(msg)));
        ASSERT_STR_CONTAINS(msg, "index.budget: 2501ms plus 500ms ");
        ASSERT_STR_CONTAINS(msg, "exceeds webhookTimeout 3s");
        ASSERT_STR_CONTAINS(msg, "index.onUnknown");
        /* A flag sets the key as the file does, and the check sees the result. */
        ASSERT_EQ(og_config_set(cfg, "webhookTimeout", "4s", NULL), OG_OK);
        ASSERT(!og_config_has_conflict(cfg, msg, sizeof(msg)));
        ASSERT_EQ(og_config_set(cfg, "ratchet", "false", NULL), OG_OK);
        ASSERT_EQ(cfg->ratchet, false);
        og_config_unref(cfg);
    }
}

OG_TEST(set_list_limit)
{
    struct og_config *cfg = NULL;
    struct og_diag d;
    size_t n = 0;

    ASSERT_EQ(og_config_new(&cfg), OG_OK);
    while (og_config_set(cfg, "exempt.groups", "g", &d) == OG_OK)
        n++;
    ASSERT_EQ(n, 1024);
    ASSERT_STR_EQ(d.msg, "too many items (1025, at most 1024)");
    ASSERT_EQ(cfg->n_exempt_groups, 1024);
    og_config_unref(cfg);
}

OG_TEST(describe_keys)
{
    struct og_config_key_doc d;

    ASSERT_EQ(og_config_key_describe("index.threshold", &d), OG_OK);
    ASSERT_STR_EQ(d.syntax, "newest|any");
    ASSERT_STR_EQ(d.def, "newest");
    ASSERT_EQ(d.list, false);
    ASSERT_EQ(og_config_key_describe("index.ttl", &d), OG_OK);
    ASSERT_STR_EQ(d.syntax, "DURATION");
    ASSERT_EQ(og_config_key_describe("index.allowCIDRs", &d), OG_OK);
    ASSERT_STR_EQ(d.syntax, "CIDR");
    ASSERT(d.def == NULL);
    ASSERT_EQ(d.list, true);
    ASSERT_EQ(og_config_key_describe("migrations", &d), OG_ENOTFOUND);
}

/* The documented limits of a number row are its real limits (the help text shows the doc). */
OG_TEST(docs_state_the_limits)
{
    for (const struct og__key *k = og__config_keys; k->path != NULL; k++) {
        char lo[32], hi[32], range[80];

        if (k->type != OG__KEY_UINT && k->type != OG__KEY_SIZE && k->type != OG__KEY_DURATION)
            continue;
        snprintf(range, sizeof(range), "(%s to %s",
                 og__config_num_format(k, k->min, lo, sizeof(lo)),
                 og__config_num_format(k, k->max, hi, sizeof(hi)));
        if (strstr(k->doc, range) == NULL) {
            fprintf(stderr, "  %s: doc \"%s\" does not say %s)\n", k->path, k->doc, range);
            ASSERT(false);
        }
    }
}

/* A value of exactly OG_CONFIG_MAX_VALUE bytes is read; one byte more is refused as too long. */
OG_TEST(value_length_cap_edge)
{
    static char text[OG_CONFIG_MAX_VALUE + 2];
    struct og_config *cfg = NULL;
    struct og_diag diag;

    ASSERT_EQ(og_config_new(&cfg), OG_OK);
    /* 2048 digits: leading zeros, then 5. */
    memset(text, '0', OG_CONFIG_MAX_VALUE + 1);
    text[OG_CONFIG_MAX_VALUE - 1] = '5';
    text[OG_CONFIG_MAX_VALUE] = '\0';
    og_diag_clear(&diag);
    ASSERT_EQ(og_config_set(cfg, "index.cacheEntries", text, &diag), OG_OK);
    ASSERT_EQ(cfg->index.cache_entries, 5);
    text[OG_CONFIG_MAX_VALUE - 1] = '0';
    text[OG_CONFIG_MAX_VALUE] = '6';
    text[OG_CONFIG_MAX_VALUE + 1] = '\0';
    og_diag_clear(&diag);
    ASSERT_EQ(og_config_set(cfg, "index.cacheEntries", text, &diag), OG_EINVAL);
    ASSERT_STR_CONTAINS(diag.msg, "longer than 2048 bytes");

    /* Durations: a millisecond is the finest unit, whatever the remainder. */
    ASSERT_EQ(og_config_set(cfg, "index.budget", "0.001s", &diag), OG_OK);
    ASSERT_EQ(cfg->index.budget_ms, 1);
    static const char *const finer[] = {"1.1ms", "1.5ms", "0.0011s", "1.9ms"};
    for (size_t i = 0; i < sizeof(finer) / sizeof(finer[0]); i++) {
        og_diag_clear(&diag);
        ASSERT_EQ(og_config_set(cfg, "index.budget", finer[i], &diag), OG_EINVAL);
        ASSERT_STR_CONTAINS(diag.msg, "finer than a millisecond");
    }
    og_config_unref(cfg);
}

OG_TEST_MAIN(OG_T(defaults), OG_T(value_length_cap_edge), OG_T(empty_documents_are_defaults),
             OG_T(good_values), OG_T(bad_values), OG_T(parse_size_public),
             OG_T(value_parse_numbers_sizes_durations), OG_T(set_one_key_as_the_file_does),
             OG_T(budget_fits_the_webhook_timeout), OG_T(set_list_limit), OG_T(describe_keys),
             OG_T(docs_state_the_limits), OG_T(no_diag_is_fine), OG_T(parse_is_length_bounded),
             OG_T(lists_and_rules), OG_T(null_lists_and_sections_are_empty), OG_T(too_many_items),
             OG_T(migrations_extend_override_disable), OG_T(format_round_trips),
             OG_T(format_hits_buffer_cap), OG_T(default_file_is_the_defaults),
             OG_T(configmap_manifest_matches_default), OG_T(load_files), OG_T(glob_match),
             OG_T(resolve_mode), OG_T(resolve_mode_annotation_allowed), OG_T(mode_names),
             OG_T(parse_duration))
