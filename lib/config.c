#include "ocigate/config.h"

#include <stdlib.h>
#include <string.h>

/*
 * Repositories known to have moved their charts to an OCI registry. Bitnami switched its
 * index.yaml to oci:// urls in late 2024 (bitnami/charts PR #30402).
 */
const struct og_migration_def og_builtin_migrations[] = {
    {"https://charts.bitnami.com/bitnami", "oci://registry-1.docker.io/bitnamicharts"},
    {NULL, NULL},
};

static const char *const mode_names[] = {"off", "audit", "mutate", "enforce"};

const char *og_mode_name(enum og_mode mode)
{
    if ((size_t)mode < sizeof(mode_names) / sizeof(mode_names[0]))
        return mode_names[mode];
    return "unknown";
}

enum og_err og_mode_parse(const char *name, enum og_mode *out)
{
    for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++) {
        if (strcmp(name, mode_names[i]) == 0) {
            *out = (enum og_mode)i;
            return OG_OK;
        }
    }
    return OG_EINVAL;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void config_free(struct og_config *cfg)
{
    for (size_t i = 0; i < cfg->n_ns_rules; i++)
        free(cfg->ns_rules[i].pattern);
    free(cfg->ns_rules);
    free_strv(cfg->exempt_namespaces, cfg->n_exempt_namespaces);
    free_strv(cfg->exempt_users, cfg->n_exempt_users);
    free_strv(cfg->exempt_groups, cfg->n_exempt_groups);
    for (size_t i = 0; i < cfg->n_migrations; i++) {
        free(cfg->migrations[i].from);
        free(cfg->migrations[i].to);
    }
    free(cfg->migrations);
    free_strv(cfg->index.allow_hosts, cfg->index.n_allow_hosts);
    free_strv(cfg->index.allow_cidrs, cfg->index.n_allow_cidrs);
    free(cfg->source);
    free(cfg);
}

enum og_err og_config_new(struct og_config **out)
{
    struct og_config *cfg = NULL;
    size_t n = 0;
    enum og_err rc = OG_ENOMEM;

    cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL)
        goto out;
    atomic_init(&cfg->refs, 1);
    cfg->mode = OG_MODE_MUTATE;
    cfg->max_body = 8u << 20;
    cfg->index.enabled = true;
    cfg->index.threshold = OG_INDEX_THRESHOLD_NEWEST;
    cfg->index.ttl_s = 3600;
    cfg->index.negative_ttl_s = 300;
    cfg->index.cache_entries = 1024;
    cfg->index.budget_ms = 1500;
    cfg->index.connect_timeout_ms = 3000;
    cfg->index.fetch_timeout_ms = 30000;
    cfg->index.max_bytes = 64u << 20;
    cfg->index.on_unknown = OG_ON_UNKNOWN_ALLOW;

    while (og_builtin_migrations[n].from != NULL)
        n++;
    cfg->migrations = calloc(n, sizeof(*cfg->migrations));
    if (cfg->migrations == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        struct og_migration *m = &cfg->migrations[cfg->n_migrations];

        m->from = strdup(og_builtin_migrations[i].from);
        m->to = strdup(og_builtin_migrations[i].to);
        m->enabled = true;
        cfg->n_migrations++;
        if (m->from == NULL || m->to == NULL)
            goto out;
    }
    *out = cfg;
    cfg = NULL;
    rc = OG_OK;
out:
    if (cfg != NULL)
        config_free(cfg);
    return rc;
}

struct og_config *og_config_ref(struct og_config *cfg)
{
    atomic_fetch_add_explicit(&cfg->refs, 1, memory_order_relaxed);
    return cfg;
}

void og_config_unref(struct og_config *cfg)
{
    if (cfg == NULL)
        return;
    if (atomic_fetch_sub_explicit(&cfg->refs, 1, memory_order_acq_rel) == 1)
        config_free(cfg);
}
