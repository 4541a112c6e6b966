#include "ocigate/config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "ocigate/netaddr.h"
#include "ocigate/url.h"

/*
 * Repositories known to have moved their charts to an OCI registry. Bitnami switched its
 * index.yaml to oci:// urls in late 2024 (bitnami/charts PR #30402).
 */
const struct og_migration_def og_builtin_migrations[] = {
    {"https://charts.bitnami.com/bitnami", "oci://registry-1.docker.io/bitnamicharts"},
    {NULL, NULL},
};

/* The enum rows store their value as an int-sized enum; these make sure that holds. */
_Static_assert(sizeof(enum og_mode) == sizeof(int), "enum og_mode is int-sized");
_Static_assert(sizeof(enum og_index_threshold) == sizeof(int), "threshold is int-sized");
_Static_assert(sizeof(enum og_on_unknown) == sizeof(int), "on_unknown is int-sized");
_Static_assert(sizeof(enum og_on_mixed) == sizeof(int), "on_mixed is int-sized");
_Static_assert(sizeof(enum og_tls_version) == sizeof(int), "tls version is int-sized");
_Static_assert(sizeof(enum og_ratchet) == sizeof(int), "ratchet is int-sized");

static const char *const mode_names[] = {"off", "audit", "mutate", "enforce", NULL};
static const char *const threshold_names[] = {"newest", "any", NULL};
static const char *const on_unknown_names[] = {"allow", "deny", NULL};
static const char *const on_mixed_names[] = {"warn", "moved", NULL};
static const char *const tls_names[] = {"1.2", "1.3", NULL};
/* In the order of enum og_ratchet. */
static const char *const ratchet_names[] = {"inherit", "false", "true", NULL};

#define N_MODES (sizeof(mode_names) / sizeof(mode_names[0]) - 1)

const char *og_mode_name(enum og_mode mode)
{
    if ((size_t)mode < N_MODES)
        return mode_names[mode];
    return "unknown";
}

const char *og_tls_version_name(enum og_tls_version v)
{
    if ((size_t)v < sizeof(tls_names) / sizeof(tls_names[0]) - 1)
        return tls_names[v];
    return "unknown";
}

/* ---- The key table ---------------------------------------------------------------------- */

static enum og_err ns_rule_done(struct og_config *cfg, size_t idx, unsigned line, char *msg,
                                size_t size);
static enum og_err migration_done(struct og_config *cfg, size_t idx, unsigned line, char *msg,
                                  size_t size);

#define CFG_OFF(field) offsetof(struct og_config, field)
#define CFG_SIZE(field) sizeof(((struct og_config *)0)->field)
#define SCALAR(p, t, field) .path = (p), .type = (t), .off = CFG_OFF(field), .size = CFG_SIZE(field)
#define LIST(p, it, field, count)                                                                  \
    .path = (p), .type = OG__KEY_LIST, .item = (it), .off = CFG_OFF(field),                        \
    .n_off = CFG_OFF(count), .max = 1024
#define SEC_MS 1000u
#define MIN_MS (60u * SEC_MS)
#define HOUR_S 3600u

/*
 * One row per key, in the order of the default file. Durations name their stored unit:
 * unit_ms 1000 stores seconds (limits in seconds), 1 stores milliseconds (limits in ms).
 */
const struct og__key og__config_keys[] = {
    {SCALAR("mode", OG__KEY_ENUM, mode), .names = mode_names, .def = "mutate",
     .doc = "Default mode for affected HelmRepository objects: enforce (deny with guidance), "
            "mutate (patch to type: oci), audit (allow with warnings) or off."},
    {SCALAR("ratchet", OG__KEY_BOOL, ratchet), .def = "true",
     .doc = "Ratchet: in enforce mode (and for what mutate cannot patch) an UPDATE that leaves "
            "spec.url and spec.type unchanged is allowed with warnings instead of denied, so "
            "objects that predate ocigate keep reconciling; false denies every touch."},
    {.path = "namespaces",
     .type = OG__KEY_OBJLIST,
     .off = CFG_OFF(ns_rules),
     .size = sizeof(struct og_ns_rule),
     .n_off = CFG_OFF(n_ns_rules),
     .max = 1024,
     .item_done = ns_rule_done,
     .doc = "Per-namespace modes; the first rule whose match fits the namespace wins.",
     .example = "[{match: \"team-*\", mode: enforce, ratchet: false}, {match: legacy, mode: "
                "audit}]"},
    {.path = "namespaces[].match",
     .type = OG__KEY_GLOB,
     .off = offsetof(struct og_ns_rule, pattern),
     .required = true,
     .doc = "An exact namespace name, or a glob where '*' matches any run of characters."},
    {.path = "namespaces[].mode",
     .type = OG__KEY_ENUM,
     .off = offsetof(struct og_ns_rule, mode),
     .size = sizeof(enum og_mode),
     .names = mode_names,
     .required = true,
     .doc = "The mode for matching namespaces: enforce, mutate, audit or off."},
    {.path = "namespaces[].ratchet",
     .type = OG__KEY_ENUM,
     .off = offsetof(struct og_ns_rule, ratchet),
     .size = sizeof(enum og_ratchet),
     .names = ratchet_names,
     .def = "inherit",
     .doc = "The ratchet for matching namespaces: true, false, or inherit (the top-level "
            "ratchet; the default)."},
    {.path = "exempt",
     .type = OG__KEY_SECTION,
     .doc = "Requests that are never checked (mode off), matched with '*' globs."},
    {LIST("exempt.namespaces", OG__KEY_GLOB, exempt_namespaces, n_exempt_namespaces),
     .doc = "Namespaces never checked.", .example = "[kube-system, \"sandbox-*\"]"},
    {LIST("exempt.users", OG__KEY_GLOB, exempt_users, n_exempt_users),
     .doc = "Users never checked (userInfo.username).",
     .example = "[\"system:serviceaccount:flux-system:*\"]"},
    {LIST("exempt.groups", OG__KEY_GLOB, exempt_groups, n_exempt_groups),
     .doc = "Groups never checked (userInfo.groups).", .example = "[\"system:masters\"]"},
    {SCALAR("allowAnnotationOverride", OG__KEY_BOOL, allow_annotation_override), .def = "false",
     .doc = "Let the object annotation ocigate.io/mode: audit lower enforce or mutate to audit."},
    {.path = "migrations",
     .type = OG__KEY_OBJLIST,
     .off = CFG_OFF(migrations),
     .size = sizeof(struct og_migration),
     .n_off = CFG_OFF(n_migrations),
     .max = 1024,
     .item_done = migration_done,
     .doc = "Known moves from Helm repositories to OCI registries; entries extend the built-in "
            "table, override a built-in row with the same from, or switch it off.",
     .example = "[{from: \"https://charts.example.com/stable\", "
                "to: \"oci://registry.example.com/charts\"}]"},
    {.path = "migrations[].from",
     .type = OG__KEY_HTTP_URL,
     .off = offsetof(struct og_migration, from),
     .required = true,
     .doc = "The Helm repository url (http:// or https://)."},
    {.path = "migrations[].to",
     .type = OG__KEY_OCI_URL,
     .off = offsetof(struct og_migration, to),
     .doc = "The OCI base it moved to (oci://host/path, no tag); required unless the entry only "
            "switches a built-in row off."},
    {.path = "migrations[].enabled",
     .type = OG__KEY_BOOL,
     .off = offsetof(struct og_migration, enabled),
     .size = sizeof(bool),
     .def = "true",
     .doc = "false switches the migration off."},
    {.path = "index",
     .type = OG__KEY_SECTION,
     .doc = "Live analysis of a repository's index.yaml when no known migration decides."},
    {SCALAR("index.enabled", OG__KEY_BOOL, index.enabled), .def = "true",
     .doc = "Fetch and analyze index.yaml files."},
    {SCALAR("index.threshold", OG__KEY_ENUM, index.threshold), .names = threshold_names,
     .def = "newest",
     .doc = "An index counts as moved when some chart's newest version (newest) or any entry "
            "(any) is an oci:// url."},
    {SCALAR("index.ttl", OG__KEY_DURATION, index.ttl_s), .unit_ms = SEC_MS, .def = "1h", .min = 1,
     .max = 168 * HOUR_S, .doc = "How long an analysis stays fresh (1s to 168h)."},
    {SCALAR("index.negativeTTL", OG__KEY_DURATION, index.negative_ttl_s), .unit_ms = SEC_MS,
     .def = "5m", .min = 1, .max = 24 * HOUR_S,
     .doc = "How long a failed fetch is remembered (1s to 24h)."},
    {SCALAR("index.cacheEntries", OG__KEY_UINT, index.cache_entries), .def = "1024", .min = 1,
     .max = 1u << 20, .doc = "Most index verdicts kept (1 to 1048576; read at start)."},
    {SCALAR("index.maxFetches", OG__KEY_UINT, index.max_fetches), .def = "256", .min = 1,
     .max = 4096, .doc = "Index fetches running at once, in all (1 to 4096; read at start)."},
    {SCALAR("index.maxFetchesPerHost", OG__KEY_UINT, index.max_fetches_per_host), .def = "64",
     .min = 1, .max = 4096,
     .doc = "Index fetches running at once to one host and port (1 to 4096; read at start)."},
    {SCALAR("index.budget", OG__KEY_DURATION, index.budget_ms), .unit_ms = 1, .def = "1500ms",
     .min = 0, .max = 25 * SEC_MS,
     .doc = "Longest an admission waits for an analysis (0s to 25s); then onUnknown applies. "
            "It must fit in webhookTimeout (README, Timeouts)."},
    {SCALAR("index.connectTimeout", OG__KEY_DURATION, index.connect_timeout_ms), .unit_ms = 1,
     .def = "3s", .min = 100, .max = MIN_MS, .doc = "TCP and TLS connect timeout (100ms to 1m)."},
    {SCALAR("index.fetchTimeout", OG__KEY_DURATION, index.fetch_timeout_ms), .unit_ms = 1,
     .def = "30s", .min = SEC_MS, .max = 10 * MIN_MS,
     .doc = "Whole index transfer timeout (1s to 10m)."},
    {SCALAR("index.maxBytes", OG__KEY_SIZE, index.max_bytes), .def = "64Mi", .min = 1u << 10,
     .max = 1u << 30, .doc = "Largest index.yaml read (1Ki to 1Gi)."},
    {SCALAR("index.onUnknown", OG__KEY_ENUM, index.on_unknown), .names = on_unknown_names,
     .def = "allow",
     .doc = "Answer when no verdict is ready within the budget: allow (with a warning) or deny "
            "(enforce mode only)."},
    {SCALAR("index.onMixed", OG__KEY_ENUM, index.on_mixed), .names = on_mixed_names, .def = "warn",
     .doc = "An index that moved some charts to oci:// while it still releases others over "
            "http(s): warn (allow, never patch) or moved (treat it as moved)."},
    {LIST("index.allowHosts", OG__KEY_HOST, index.allow_hosts, index.n_allow_hosts),
     .doc = "Hosts the fetcher may reach even on private addresses (SSRF guard exemptions).",
     .example = "[charts.internal.example.com]"},
    {LIST("index.allowCIDRs", OG__KEY_CIDR, index.allow_cidrs, index.n_allow_cidrs),
     .doc = "Address blocks the fetcher may reach even when private.",
     .example = "[\"10.20.0.0/16\", \"fd00::/8\"]"},
    {SCALAR("webhookTimeout", OG__KEY_DURATION, webhook_timeout_s), .unit_ms = SEC_MS, .def = "3s",
     .min = 1, .max = 30,
     .doc = "The webhook configurations' timeoutSeconds (1s to 30s, the apiserver's maximum): "
            "index.budget plus a safety margin must fit in it (README, Timeouts)."},
    {SCALAR("maxBodyBytes", OG__KEY_SIZE, max_body), .def = "8Mi", .min = 1u << 10,
     .max = 64u << 20, .doc = "Largest AdmissionReview request body accepted (1Ki to 64Mi)."},
    {.path = "tls", .type = OG__KEY_SECTION, .doc = "TLS settings of the webhook server."},
    {SCALAR("tls.minVersion", OG__KEY_ENUM, tls_min_version), .names = tls_names, .def = "1.2",
     .doc = "Lowest TLS version accepted: \"1.2\" or \"1.3\"."},
    {.path = NULL},
};

const struct og__key *og__config_key(const char *path)
{
    for (const struct og__key *k = og__config_keys; k->path != NULL; k++) {
        if (strcmp(k->path, path) == 0)
            return k;
    }
    return NULL;
}

const char *og__config_key_name(const struct og__key *key)
{
    const char *dot = strrchr(key->path, '.');

    return dot != NULL ? dot + 1 : key->path;
}

bool og__config_key_is_child(const struct og__key *key, const char *parent)
{
    size_t plen = strlen(parent);
    const char *rest = key->path;

    if (plen > 0) {
        if (strncmp(key->path, parent, plen) != 0 || key->path[plen] != '.')
            return false;
        rest = key->path + plen + 1;
    }
    return strchr(rest, '.') == NULL && strchr(rest, '[') == NULL;
}

bool og__config_type_is_string(enum og__key_type type)
{
    return type == OG__KEY_GLOB || type == OG__KEY_HTTP_URL || type == OG__KEY_OCI_URL ||
           type == OG__KEY_HOST || type == OG__KEY_CIDR;
}

/* ---- Scalar values ------------------------------------------------------------------------ */

static enum og_err failf(char *msg, size_t size, const char *fmt, ...) OG_PRINTF(3, 4);

static enum og_err failf(char *msg, size_t size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    /* A truncated message is still a useful message. */
    (void)vsnprintf(msg, size, fmt, ap);
    va_end(ap);
    return OG_EINVAL;
}

/*
 * Renders user text for a message: at most 64 bytes, control bytes and quotes replaced by '?',
 * so that a message stays one printable line whatever the file holds.
 */
static const char *show(const char *text, size_t len, char out[72])
{
    size_t n = len > 64 ? 64 : len, o = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        out[o++] = (c < 0x20 || c == 0x7f || c == '"' || c == '\\') ? '?' : (char)c;
    }
    if (n < len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Parses leading decimal digits of text[*i..len); false on none or overflow of uint64. */
static bool digits(const char *text, size_t len, size_t *i, uint64_t *v)
{
    uint64_t n = 0;
    size_t start = *i;

    while (*i < len && is_digit(text[*i])) {
        unsigned d = (unsigned)(text[*i] - '0');

        if (n > (UINT64_MAX - d) / 10)
            return false;
        n = n * 10 + d;
        (*i)++;
    }
    *v = n;
    return *i > start;
}

static bool mul_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    if (b != 0 && a > UINT64_MAX / b)
        return false;
    *out = a * b;
    return true;
}

static const struct {
    const char *name;
    uint64_t ms;
} duration_units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};

/* Go-style duration ("1h30m", "1.5s", "1500ms", "0") to milliseconds. */
static enum og_err parse_duration(const char *text, size_t len, uint64_t *ms, char *msg,
                                  size_t size)
{
    char shown[72];
    uint64_t total = 0;
    size_t i = 0;

    if (len == 1 && text[0] == '0') {
        *ms = 0;
        return OG_OK;
    }
    if (len == 0)
        goto bad;
    while (i < len) {
        uint64_t whole = 0, frac = 0, scale = 1, unit = 0, part;
        bool have_whole, have_frac = false;
        size_t u;

        have_whole = digits(text, len, &i, &whole);
        if (i < len && text[i] == '.') {
            i++;
            while (i < len && is_digit(text[i])) {
                if (scale >= 1000000000u)
                    goto bad;
                frac = frac * 10 + (uint64_t)(text[i] - '0');
                scale *= 10;
                have_frac = true;
                i++;
            }
        }
        if (!have_whole && !have_frac)
            goto bad;
        for (u = 0; u < sizeof(duration_units) / sizeof(duration_units[0]); u++) {
            size_t ulen = strlen(duration_units[u].name);

            if (len - i >= ulen && memcmp(text + i, duration_units[u].name, ulen) == 0 &&
                !(ulen == 1 && len - i >= 2 && text[i] == 'm' && text[i + 1] == 's')) {
                unit = duration_units[u].ms;
                i += ulen;
                break;
            }
        }
        if (unit == 0)
            goto bad;
        if (!mul_ok(whole, unit, &part) || UINT64_MAX - total < part)
            goto range;
        total += part;
        /* frac < scale <= 1e9 and unit <= 3.6e6, so the product fits easily. */
        if ((frac * unit) % scale != 0)
            return failf(msg, size, "invalid duration \"%s\" (finer than a millisecond)",
                         show(text, len, shown));
        total += frac * unit / scale;
    }
    if (total > UINT64_MAX / 2)
        goto range;
    *ms = total;
    return OG_OK;
range:
    return failf(msg, size, "invalid duration \"%s\" (too large)", show(text, len, shown));
bad:
    return failf(msg, size,
                 "invalid duration \"%s\" (expected a number with a unit h, m, s or ms, "
                 "e.g. \"1h30m\" or \"1500ms\")",
                 show(text, len, shown));
}

static const struct {
    const char *name;
    uint64_t mult;
} size_units[] = {{"Ki", 1ull << 10}, {"Mi", 1ull << 20}, {"Gi", 1ull << 30},  {"Ti", 1ull << 40},
                  {"k", 1000ull},     {"M", 1000000ull},  {"G", 1000000000ull}};

static enum og_err parse_size(const char *text, size_t len, uint64_t *v, char *msg, size_t size)
{
    char shown[72];
    uint64_t n, mult = 1;
    size_t i = 0;

    if (!digits(text, len, &i, &n))
        goto bad;
    if (i < len) {
        size_t u;

        for (u = 0; u < sizeof(size_units) / sizeof(size_units[0]); u++) {
            size_t ulen = strlen(size_units[u].name);

            if (len - i == ulen && memcmp(text + i, size_units[u].name, ulen) == 0)
                break;
        }
        if (u == sizeof(size_units) / sizeof(size_units[0]))
            goto bad;
        mult = size_units[u].mult;
    }
    if (!mul_ok(n, mult, v))
        return failf(msg, size, "invalid size \"%s\" (too large)", show(text, len, shown));
    return OG_OK;
bad:
    return failf(msg, size,
                 "invalid size \"%s\" (expected bytes, or a number with Ki, Mi or Gi, "
                 "e.g. \"64Mi\")",
                 show(text, len, shown));
}

static bool has_ctl_or_space(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];

        if (c <= 0x20 || c == 0x7f)
            return true;
    }
    return false;
}

static enum og_err check_glob(const char *text, size_t len, char *msg, size_t size)
{
    char shown[72];

    if (len == 0)
        return failf(msg, size, "empty pattern");
    if (len > 253)
        return failf(msg, size, "pattern \"%s\" is longer than 253 characters",
                     show(text, len, shown));
    if (has_ctl_or_space(text, len))
        return failf(msg, size, "pattern \"%s\" contains whitespace or control characters",
                     show(text, len, shown));
    return OG_OK;
}

static enum og_err check_host(const char *text, size_t len, char *msg, size_t size)
{
    char shown[72];

    if (!og_url_host_valid((struct og_str){text, len}))
        return failf(msg, size,
                     "invalid host \"%s\" (expected a host name or IP address, without scheme "
                     "or port)",
                     show(text, len, shown));
    return OG_OK;
}

/* A CIDR as the fetcher reads it (og_netaddr_cidr_parse(), whose messages these are), with
 * the prefix length written out: a bare address is refused here. */
static enum og_err check_cidr(const char *text, size_t len, char *msg, size_t size)
{
    char shown[72], tmp[64];
    struct og_diag why;
    struct og_cidr cidr;

    if (memchr(text, '/', len) == NULL || len >= sizeof(tmp) || has_ctl_or_space(text, len) ||
        memchr(text, '"', len) != NULL || memchr(text, '\\', len) != NULL)
        return failf(msg, size, "invalid CIDR \"%s\" (expected address/prefix, e.g. 10.0.0.0/8)",
                     show(text, len, shown));
    memcpy(tmp, text, len);
    tmp[len] = '\0';
    og_diag_clear(&why);
    if (og_netaddr_cidr_parse(tmp, &cidr, &why) != OG_OK)
        return failf(msg, size, "%s", why.msg);
    return OG_OK;
}

/* Longest url a migration row may hold: real ones are short, and aliases must not let a
 * small file expand into a huge configuration. */
#define URL_MAX_LEN 2048

/*
 * show() of the url `text` as og_url_redact() shows it: a configuration error is printed and
 * logged, never with the credentials the url holds ("<url>" when out of memory).
 */
static const char *show_url(const char *text, size_t len, char out[72])
{
    struct og_buf b;

    og_buf_init(&b, len + sizeof(OG_URL_REDACTED));
    if (og_url_redact((struct og_str){text, len}, &b) == OG_OK)
        show(b.ptr, b.len, out);
    else
        memcpy(out, "<url>", sizeof("<url>"));
    og_buf_cleanup(&b);
    return out;
}

/* An http(s) url (`want` OG_URL_HTTP) or an oci:// repository base (OG_URL_OCI). */
static enum og_err check_url(const char *text, size_t len, enum og_url_kind want, char *msg,
                             size_t size)
{
    char shown[72];
    struct og_diag diag;
    enum og_url_kind kind = og_url_kind((struct og_str){text, len});

    if (len > URL_MAX_LEN)
        return failf(msg, size, "url is longer than %d bytes", URL_MAX_LEN);
    if (want == OG_URL_OCI && kind != OG_URL_OCI)
        return failf(msg, size, "\"%s\" is not an oci:// url", show_url(text, len, shown));
    if (has_ctl_or_space(text, len))
        return failf(msg, size, "url \"%s\" contains whitespace or control characters",
                     show_url(text, len, shown));
    if (want != OG_URL_OCI && !og_url_kind_is_http(kind))
        return failf(msg, size, "\"%s\" is not an http:// or https:// url",
                     show_url(text, len, shown));
    if (og_url_check_repo((struct og_str){text, len}, &diag) != OG_OK)
        return failf(msg, size, "url \"%s\" %s", show_url(text, len, shown), diag.msg);
    return OG_OK;
}

/* Formats limits for range messages in the key's own notation. */
static enum og_err out_of_range(const struct og__key *key, const char *text, size_t len, char *msg,
                                size_t size)
{
    char shown[72], lo[32], hi[32];

    return failf(msg, size, "%s \"%s\" is out of range (%s to %s)",
                 key->type == OG__KEY_DURATION ? "duration"
                 : key->type == OG__KEY_SIZE   ? "size"
                                               : "number",
                 show(text, len, shown), og__config_num_format(key, key->min, lo, sizeof(lo)),
                 og__config_num_format(key, key->max, hi, sizeof(hi)));
}

static enum og_err parse_enum(const struct og__key *key, const char *text, size_t len, uint64_t *v,
                              char *msg, size_t size)
{
    char shown[72], expected[128];
    size_t off = 0, n = 0;

    for (size_t i = 0; key->names[i] != NULL; i++) {
        if (strlen(key->names[i]) == len && memcmp(key->names[i], text, len) == 0) {
            *v = i;
            return OG_OK;
        }
        n++;
    }
    expected[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(expected + off, sizeof(expected) - off, "%s%s",
                         i == 0 ? "" : (i + 1 == n ? " or " : ", "), key->names[i]);

        if (w < 0 || (size_t)w >= sizeof(expected) - off)
            break;
        off += (size_t)w;
    }
    return failf(msg, size, "invalid value \"%s\" (expected %s)", show(text, len, shown), expected);
}

enum og_err og__config_list_limit(const struct og__key *key, size_t n, char *msg, size_t size)
{
    if (n > key->max)
        return failf(msg, size, "too many items (%zu, at most %" PRIu64 ")", n, key->max);
    return OG_OK;
}

enum og_err og__config_scalar_parse(const struct og__key *key, enum og__key_type type,
                                    const char *text, size_t len, uint64_t *v, char **str,
                                    char *msg, size_t size)
{
    char shown[72];
    uint64_t n = 0;
    enum og_err rc = OG_OK;
    char *s;

    /* No value of the table is long; the cap also keeps YAML aliases from multiplying a small
     * file into a huge configuration. */
    if (len > OG_CONFIG_MAX_VALUE)
        return failf(msg, size, "value is longer than %u bytes", OG_CONFIG_MAX_VALUE);
    if (memchr(text, '\0', len) != NULL)
        return failf(msg, size, "value contains a NUL byte");
    switch (type) {
    case OG__KEY_ENUM:
        return parse_enum(key, text, len, v, msg, size);
    case OG__KEY_BOOL:
        if ((len == 4 && memcmp(text, "true", 4) == 0) ||
            (len == 5 && memcmp(text, "false", 5) == 0)) {
            *v = len == 4;
            return OG_OK;
        }
        return failf(msg, size, "invalid boolean \"%s\" (expected true or false)",
                     show(text, len, shown));
    case OG__KEY_UINT: {
        size_t i = 0;

        if (!digits(text, len, &i, &n) || i != len)
            return failf(msg, size, "invalid number \"%s\" (expected a decimal integer)",
                         show(text, len, shown));
        break;
    }
    case OG__KEY_SIZE:
        rc = parse_size(text, len, &n, msg, size);
        break;
    case OG__KEY_DURATION:
        rc = parse_duration(text, len, &n, msg, size);
        if (rc == OG_OK && n % key->unit_ms != 0)
            return failf(msg, size, "invalid duration \"%s\" (not a whole number of seconds)",
                         show(text, len, shown));
        n /= key->unit_ms;
        break;
    case OG__KEY_GLOB:
        rc = check_glob(text, len, msg, size);
        break;
    case OG__KEY_HOST:
        rc = check_host(text, len, msg, size);
        break;
    case OG__KEY_CIDR:
        rc = check_cidr(text, len, msg, size);
        break;
    case OG__KEY_HTTP_URL:
        rc = check_url(text, len, OG_URL_HTTP, msg, size);
        break;
    case OG__KEY_OCI_URL:
        rc = check_url(text, len, OG_URL_OCI, msg, size);
        break;
    case OG__KEY_SECTION:
    case OG__KEY_LIST:
    case OG__KEY_OBJLIST:
        return failf(msg, size, "not a scalar key");
    }
    if (rc != OG_OK)
        return rc;
    if (og__config_type_is_string(type)) {
        if (type == OG__KEY_HTTP_URL || type == OG__KEY_OCI_URL) {
            struct og_buf norm;

            og_buf_init(&norm, len);
            s = og_url_normalize((struct og_str){text, len}, &norm, NULL) == OG_OK
                    ? og_buf_take(&norm, NULL)
                    : NULL;
            og_buf_cleanup(&norm);
        } else {
            s = og_str_dup((struct og_str){text, len});
        }
        if (s == NULL)
            return OG_ENOMEM;
        *str = s;
        return OG_OK;
    }
    if (n < key->min || n > key->max)
        return out_of_range(key, text, len, msg, size);
    *v = n;
    return OG_OK;
}

uint64_t og__config_get_num(const struct og__key *key, const void *base)
{
    const char *p = (const char *)base + key->off;

    switch (key->type) {
    case OG__KEY_ENUM: {
        int e;

        memcpy(&e, p, sizeof(e));
        return (uint64_t)e;
    }
    case OG__KEY_BOOL: {
        bool b;

        memcpy(&b, p, sizeof(b));
        return b;
    }
    default:
        break;
    }
    if (key->size == sizeof(uint32_t)) {
        uint32_t u;

        memcpy(&u, p, sizeof(u));
        return u;
    }
    {
        uint64_t u;

        memcpy(&u, p, sizeof(u));
        return u;
    }
}

void og__config_set_num(const struct og__key *key, void *base, uint64_t v)
{
    char *p = (char *)base + key->off;

    if (key->type == OG__KEY_ENUM) {
        int e = (int)v;

        memcpy(p, &e, sizeof(e));
    } else if (key->type == OG__KEY_BOOL) {
        bool b = v != 0;

        memcpy(p, &b, sizeof(b));
    } else if (key->size == sizeof(uint32_t)) {
        uint32_t u = (uint32_t)v;

        memcpy(p, &u, sizeof(u));
    } else {
        memcpy(p, &v, sizeof(v));
    }
}

const char *og__config_num_format(const struct og__key *key, uint64_t v, char *out, size_t size)
{
    size_t off = 0;
    int n = 0;

    if (size == 0)
        return out;
    out[0] = '\0';
    switch (key->type) {
    case OG__KEY_ENUM: {
        size_t i = 0;

        while (key->names[i] != NULL && i < v)
            i++;
        n = snprintf(out, size, "%s", key->names[i] != NULL ? key->names[i] : "?");
        break;
    }
    case OG__KEY_BOOL:
        n = snprintf(out, size, "%s", v ? "true" : "false");
        break;
    case OG__KEY_SIZE:
        if (v != 0 && v % (1ull << 30) == 0)
            n = snprintf(out, size, "%" PRIu64 "Gi", v >> 30);
        else if (v != 0 && v % (1ull << 20) == 0)
            n = snprintf(out, size, "%" PRIu64 "Mi", v >> 20);
        else if (v != 0 && v % (1ull << 10) == 0)
            n = snprintf(out, size, "%" PRIu64 "Ki", v >> 10);
        else
            n = snprintf(out, size, "%" PRIu64, v);
        break;
    case OG__KEY_DURATION: {
        uint64_t ms = v * key->unit_ms;

        if (ms == 0) {
            n = snprintf(out, size, "0s");
        } else if (ms % 1000 != 0) {
            n = snprintf(out, size, "%" PRIu64 "ms", ms);
        } else {
            uint64_t s = ms / 1000;

            if (s / 3600 > 0) {
                n = snprintf(out + off, size - off, "%" PRIu64 "h", s / 3600);
                off += n > 0 && (size_t)n < size - off ? (size_t)n : 0;
            }
            if (s % 3600 / 60 > 0) {
                n = snprintf(out + off, size - off, "%" PRIu64 "m", s % 3600 / 60);
                off += n > 0 && (size_t)n < size - off ? (size_t)n : 0;
            }
            if (s % 60 > 0)
                n = snprintf(out + off, size - off, "%" PRIu64 "s", s % 60);
        }
        break;
    }
    default:
        n = snprintf(out, size, "%" PRIu64, v);
        break;
    }
    (void)n; /* truncation only shortens a message or output the caller sized generously */
    return out;
}

/* ---- List-of-mappings hooks ---------------------------------------------------------------- */

static enum og_err ns_rule_done(struct og_config *cfg, size_t idx, unsigned line, char *msg,
                                size_t size)
{
    struct og_ns_rule *r = &cfg->ns_rules[idx];
    char shown[72];

    r->line = line;
    for (size_t i = 0; i < idx; i++) {
        if (strcmp(cfg->ns_rules[i].pattern, r->pattern) == 0)
            return failf(msg, size, "duplicate rule for \"%s\" (first at line %u)",
                         show(r->pattern, strlen(r->pattern), shown), cfg->ns_rules[i].line);
    }
    return OG_OK;
}

static void migration_clear(struct og_migration *m)
{
    free(m->from);
    free(m->to);
    m->from = NULL;
    m->to = NULL;
}

static enum og_err migration_done(struct og_config *cfg, size_t idx, unsigned line, char *msg,
                                  size_t size)
{
    struct og_migration *m = &cfg->migrations[idx];
    char shown[72];

    m->line = line;
    for (size_t i = 0; i < idx; i++) {
        struct og_migration *old = &cfg->migrations[i];

        if (strcmp(old->from, m->from) != 0)
            continue;
        if (old->line != 0)
            return failf(msg, size, "duplicate migration for \"%s\" (first at line %u)",
                         show(m->from, strlen(m->from), shown), old->line);
        /* Overriding a built-in row: it keeps its place, takes the new values. */
        if (m->to != NULL) {
            free(old->to);
            old->to = m->to;
            m->to = NULL;
        }
        old->enabled = m->enabled;
        old->line = line;
        migration_clear(m);
        cfg->n_migrations--;
        return OG_OK;
    }
    if (m->to == NULL)
        return failf(msg, size,
                     "missing key \"to\" (only an entry that switches off a built-in "
                     "migration may leave it out)");
    return OG_OK;
}

/* ---- Snapshot lifetime --------------------------------------------------------------------- */

void og__config_free_strv(char **v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void config_free(struct og_config *cfg)
{
    for (size_t i = 0; i < cfg->n_ns_rules; i++)
        free(cfg->ns_rules[i].pattern);
    free(cfg->ns_rules);
    og__config_free_strv(cfg->exempt_namespaces, cfg->n_exempt_namespaces);
    og__config_free_strv(cfg->exempt_users, cfg->n_exempt_users);
    og__config_free_strv(cfg->exempt_groups, cfg->n_exempt_groups);
    for (size_t i = 0; i < cfg->n_migrations; i++)
        migration_clear(&cfg->migrations[i]);
    free(cfg->migrations);
    og__config_free_strv(cfg->index.allow_hosts, cfg->index.n_allow_hosts);
    og__config_free_strv(cfg->index.allow_cidrs, cfg->index.n_allow_cidrs);
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
    /* Every default comes from the key table, parsed by the loader's own value parser. */
    for (const struct og__key *k = og__config_keys; k->path != NULL; k++) {
        char msg[128];
        uint64_t v = 0;

        if (k->def == NULL || strchr(k->path, '[') != NULL)
            continue;
        rc =
            og__config_scalar_parse(k, k->type, k->def, strlen(k->def), &v, NULL, msg, sizeof(msg));
        if (rc != OG_OK)
            goto out; /* a bad table default; test_config catches it */
        og__config_set_num(k, cfg, v);
    }
    rc = OG_ENOMEM;

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

/* ---- Mode resolution ----------------------------------------------------------------------- */

bool og_config_glob_match(const char *pattern, const char *s)
{
    const char *p = pattern, *star = NULL, *resume = NULL;

    /*
     * Greedy matching with one backtrack point: on a mismatch after a '*', let that star
     * swallow one more character. Later stars supersede earlier ones, which is enough for
     * '*' as the only wildcard, and keeps the worst case at O(len(p) * len(s)).
     */
    while (*s != '\0') {
        if (*p == '*') {
            star = p++;
            resume = s;
        } else if (*p == *s) {
            p++;
            s++;
        } else if (star != NULL) {
            p = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

static bool match_any(char *const *globs, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++) {
        if (og_config_glob_match(globs[i], s))
            return true;
    }
    return false;
}

/* The first namespace rule whose glob matches `ns`, or NULL: it gives the mode and the ratchet. */
static const struct og_ns_rule *ns_rule(const struct og_config *cfg, const char *ns)
{
    for (size_t i = 0; i < cfg->n_ns_rules; i++) {
        if (og_config_glob_match(cfg->ns_rules[i].pattern, ns))
            return &cfg->ns_rules[i];
    }
    return NULL;
}

enum og_mode og_config_resolve_mode(const struct og_config *cfg, const char *ns, const char *user,
                                    const char *const *groups, size_t n_groups,
                                    const char *annotation_mode, const char **why)
{
    const char *reason = OG_MODE_WHY_DEFAULT;
    const struct og_ns_rule *rule;
    enum og_mode mode = cfg->mode;
    bool by_rule = false;

    if (ns == NULL)
        ns = "";
    if (match_any(cfg->exempt_namespaces, cfg->n_exempt_namespaces, ns)) {
        reason = OG_MODE_WHY_EXEMPT_NAMESPACE;
        mode = OG_MODE_OFF;
        goto out;
    }
    if (user != NULL && match_any(cfg->exempt_users, cfg->n_exempt_users, user)) {
        reason = OG_MODE_WHY_EXEMPT_USER;
        mode = OG_MODE_OFF;
        goto out;
    }
    for (size_t i = 0; i < n_groups; i++) {
        if (groups[i] != NULL && match_any(cfg->exempt_groups, cfg->n_exempt_groups, groups[i])) {
            reason = OG_MODE_WHY_EXEMPT_GROUP;
            mode = OG_MODE_OFF;
            goto out;
        }
    }
    rule = ns_rule(cfg, ns);
    if (rule != NULL) {
        mode = rule->mode;
        reason = OG_MODE_WHY_NAMESPACE_RULE;
        by_rule = true;
    }
    /* Nothing is checked in mode off, so an annotation there has nothing to lower. */
    if (annotation_mode == NULL || mode == OG_MODE_OFF)
        goto out;
    if (strcmp(annotation_mode, "audit") == 0 && mode == OG_MODE_AUDIT)
        goto out;
    if (strcmp(annotation_mode, "audit") == 0 && cfg->allow_annotation_override) {
        mode = OG_MODE_AUDIT;
        reason = OG_MODE_WHY_ANNOTATION;
        goto out;
    }
    reason = by_rule ? OG_MODE_WHY_NAMESPACE_RULE_ANNOTATION_IGNORED
                     : OG_MODE_WHY_DEFAULT_ANNOTATION_IGNORED;
out:
    if (why != NULL)
        *why = reason;
    return mode;
}

bool og_config_resolve_ratchet(const struct og_config *cfg, const char *ns)
{
    const struct og_ns_rule *rule = ns_rule(cfg, ns != NULL ? ns : "");

    if (rule == NULL || rule->ratchet == OG_RATCHET_INHERIT)
        return cfg->ratchet;
    return rule->ratchet == OG_RATCHET_ON;
}

bool og_config_has_conflict(const struct og_config *cfg, char *msg, size_t size)
{
    uint64_t need = (uint64_t)cfg->index.budget_ms + OG_CONFIG_TIMEOUT_MARGIN_MS;
    const struct og__key *budget = og__config_key("index.budget");
    const struct og__key *timeout = og__config_key("webhookTimeout");
    char b[32], t[32];

    if (!cfg->index.enabled || need <= (uint64_t)cfg->webhook_timeout_s * 1000)
        return false;
    (void)failf(msg, size,
                "index.budget: %s plus %dms for the rest of the call exceeds webhookTimeout %s: "
                "a cold admission would time out at the apiserver (failurePolicy) instead of "
                "following index.onUnknown; lower index.budget, or raise webhookTimeout with "
                "the webhooks' timeoutSeconds (README, Timeouts)",
                og__config_num_format(budget, cfg->index.budget_ms, b, sizeof(b)),
                OG_CONFIG_TIMEOUT_MARGIN_MS,
                og__config_num_format(timeout, cfg->webhook_timeout_s, t, sizeof(t)));
    return true;
}

bool og_mode_why_annotation_ignored(const char *why)
{
    return why != NULL && strstr(why, "annotation ignored") != NULL;
}
