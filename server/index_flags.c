#include "index_flags.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "ocigate/netaddr.h"

const char srv_index_flags_usage[] =
    "live index analysis (HelmRepository urls no static rule decides):\n"
    "  --index-enabled BOOL          true or false (default: true)\n"
    "  --index-threshold T           newest (some chart's newest version is oci://) or\n"
    "                                any (any entry is) (default: newest)\n"
    "  --index-ttl S                 seconds a verdict is fresh, 1..604800 (default: 3600);\n"
    "                                a stale one serves one more TTL while it is refreshed\n"
    "  --index-negative-ttl S        seconds a failure is kept, 1..86400 (default: 300)\n"
    "  --index-cache-entries N       urls cached, 1..1048576 (default: 1024; read at start)\n"
    "  --index-max-fetches N         fetches running at once, 1..4096 (default: 256; read at\n"
    "                                start); more wait their turn\n"
    "  --index-max-fetches-per-host N\n"
    "                                of those, to one host and port, 1..4096 (default: 64;\n"
    "                                read at start)\n"
    "  --index-budget-ms MS          longest an admission waits, 0..25000 (default: 1500);\n"
    "                                past it --index-on-unknown applies\n"
    "  --index-connect-timeout-ms MS 100..60000 (default: 3000)\n"
    "  --index-timeout-ms MS         whole fetch, 1000..600000 (default: 30000)\n"
    "  --index-max-bytes N           index size cap, 1Ki..1Gi, e.g. 64Mi (default: 64Mi)\n"
    "  --index-on-unknown A          allow (with a warning) or deny (enforce mode only)\n"
    "                                (default: allow)\n"
    "  --index-allow-host HOST       fetch from HOST even when it resolves to a private,\n"
    "                                loopback or link-local address (repeatable)\n"
    "  --index-allow-cidr CIDR       let fetches connect to addresses in CIDR (repeatable)\n";

/* A number flag in [min, max] into `*out` (untouched when not given). */
static enum og_err num(const char *flag, const char *val, uint64_t min, uint64_t max, uint32_t *out,
                       struct og_diag *diag)
{
    uint64_t v;

    if (val == NULL)
        return OG_OK;
    if (srv_args_parse_u64(val, min, max, &v) != OG_OK)
        return og_diag_set(diag, OG_EINVAL, "%s must be a number within %llu..%llu, not '%s'", flag,
                           (unsigned long long)min, (unsigned long long)max, val);
    *out = (uint32_t)v;
    return OG_OK;
}

/* A word flag: `*out` = the index of `val` in `words` (two of them). */
static enum og_err word(const char *flag, const char *val, const char *const words[2], int *out,
                        struct og_diag *diag)
{
    if (val == NULL)
        return OG_OK;
    for (int i = 0; i < 2; i++) {
        if (strcmp(val, words[i]) == 0) {
            *out = i;
            return OG_OK;
        }
    }
    return og_diag_set(diag, OG_EINVAL, "%s must be %s or %s, not '%s'", flag, words[0], words[1],
                       val);
}

/* Appends copies of `vals` to the list `*list` of `*n` strings. */
static enum og_err append(char ***list, size_t *n, const char *const *vals, size_t n_vals)
{
    char **grown;

    if (n_vals == 0)
        return OG_OK;
    if (n_vals > SIZE_MAX / sizeof(*grown) - *n)
        return OG_ENOMEM;
    grown = realloc(*list, (*n + n_vals) * sizeof(*grown));
    if (grown == NULL)
        return OG_ENOMEM;
    *list = grown;
    for (size_t i = 0; i < n_vals; i++) {
        grown[*n] = strdup(vals[i]);
        if (grown[*n] == NULL)
            return OG_ENOMEM;
        (*n)++;
    }
    return OG_OK;
}

/* Parses every flag into `s` (a scratch copy in check, the real one in apply). */
static enum og_err parse_into(const struct srv_index_flags *f, struct og_index_settings *s,
                              struct og_diag *diag)
{
    static const char *const bools[2] = {"true", "false"};
    static const char *const thresholds[2] = {"newest", "any"};
    static const char *const unknowns[2] = {"allow", "deny"};
    int w = 0;

    if (word("--index-enabled", f->enabled, bools, &w, diag) != OG_OK)
        return OG_EINVAL;
    if (f->enabled != NULL)
        s->enabled = w == 0;
    if (word("--index-threshold", f->threshold, thresholds, &w, diag) != OG_OK)
        return OG_EINVAL;
    if (f->threshold != NULL)
        s->threshold = w == 0 ? OG_INDEX_THRESHOLD_NEWEST : OG_INDEX_THRESHOLD_ANY;
    if (word("--index-on-unknown", f->on_unknown, unknowns, &w, diag) != OG_OK)
        return OG_EINVAL;
    if (f->on_unknown != NULL)
        s->on_unknown = w == 0 ? OG_ON_UNKNOWN_ALLOW : OG_ON_UNKNOWN_DENY;
    if (num("--index-ttl", f->ttl, 1, 604800, &s->ttl_s, diag) != OG_OK ||
        num("--index-negative-ttl", f->negative_ttl, 1, 86400, &s->negative_ttl_s, diag) != OG_OK ||
        num("--index-cache-entries", f->entries, 1, 1048576, &s->cache_entries, diag) != OG_OK ||
        num("--index-max-fetches", f->max_fetches, 1, 4096, &s->max_fetches, diag) != OG_OK ||
        num("--index-max-fetches-per-host", f->max_fetches_per_host, 1, 4096,
            &s->max_fetches_per_host, diag) != OG_OK ||
        num("--index-budget-ms", f->budget, 0, 25000, &s->budget_ms, diag) != OG_OK ||
        num("--index-connect-timeout-ms", f->connect_timeout, 100, 60000, &s->connect_timeout_ms,
            diag) != OG_OK ||
        num("--index-timeout-ms", f->timeout, 1000, 600000, &s->fetch_timeout_ms, diag) != OG_OK)
        return OG_EINVAL;
    if (f->max_bytes != NULL) {
        uint64_t bytes;

        if (srv_args_parse_size(f->max_bytes, 1024, (uint64_t)1 << 30, &bytes) != OG_OK)
            return og_diag_set(diag, OG_EINVAL,
                               "--index-max-bytes must be a size within 1Ki..1Gi bytes (suffix "
                               "Ki, Mi, Gi or k, M, G), not '%s'",
                               f->max_bytes);
        s->max_bytes = bytes;
    }
    for (size_t i = 0; i < f->n_hosts; i++) {
        const char *h = f->hosts[i];

        if (h[0] == '\0' || strpbrk(h, "/:@ \t[]") != NULL)
            return og_diag_set(diag, OG_EINVAL, "--index-allow-host takes a host name, not '%s'",
                               h);
    }
    for (size_t i = 0; i < f->n_cidrs; i++) {
        struct og_cidr cidr;
        struct og_diag why;

        og_diag_clear(&why);
        if (og_netaddr_cidr_parse(f->cidrs[i], &cidr, &why) != OG_OK)
            return og_diag_set(diag, OG_EINVAL, "--index-allow-cidr: %s", why.msg);
    }
    return OG_OK;
}

enum og_err srv_index_flags_check(const struct srv_index_flags *f, struct og_diag *diag)
{
    struct og_index_settings scratch;

    memset(&scratch, 0, sizeof(scratch));
    return parse_into(f, &scratch, diag);
}

enum og_err srv_index_flags_apply(const struct srv_index_flags *f, struct og_index_settings *s,
                                  struct og_diag *diag)
{
    enum og_err rc = parse_into(f, s, diag);

    if (rc == OG_OK)
        rc = append(&s->allow_hosts, &s->n_allow_hosts, f->hosts, f->n_hosts);
    if (rc == OG_OK)
        rc = append(&s->allow_cidrs, &s->n_allow_cidrs, f->cidrs, f->n_cidrs);
    return rc;
}
