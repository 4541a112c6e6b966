/*
 * config.h - the immutable policy configuration snapshot (STYLE.md section 7).
 *
 * A struct og_config is built once (defaults, then flags or a YAML file), published, and
 * never changed again: a reload builds a new one and swaps it in. Readers take a reference
 * with og_config_ref() and drop it with og_config_unref(); the last unref frees it.
 *
 * Fields are public so that policy code can read them directly; only config.c writes them,
 * and only before the snapshot is published.
 */
#ifndef OG_CONFIG_H
#define OG_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ocigate/err.h"

/** What the webhook does with an affected HelmRepository. */
enum og_mode {
    OG_MODE_OFF,    /**< allow everything, no warning */
    OG_MODE_AUDIT,  /**< allow, with warnings and audit annotations */
    OG_MODE_MUTATE, /**< patch what can be fixed, deny what cannot */
    OG_MODE_ENFORCE /**< deny with guidance */
};

/** "off", "audit", "mutate", "enforce". */
const char *og_mode_name(enum og_mode mode);
/** Parses a mode name (exact, lower case). OG_EINVAL for anything else; `*out` untouched then. */
OG_NODISCARD enum og_err og_mode_parse(const char *name, enum og_mode *out);

/**
 * A known migration: HelmRepository urls equal to `from` (an http(s) url; the host compared
 * without case, one trailing '/' ignored) moved to the OCI base `to` (oci://host/path).
 */
struct og_migration {
    char *from;
    char *to;
    bool enabled; /**< false: an entry that switches a built-in one off */
};

/** A per-namespace mode: `pattern` is an exact name or a glob with '*' (first match wins). */
struct og_ns_rule {
    char *pattern;
    enum og_mode mode;
};

/** When an index counts as pointing to OCI. */
enum og_index_threshold {
    OG_INDEX_THRESHOLD_NEWEST, /**< some chart's newest version is an oci:// url (default) */
    OG_INDEX_THRESHOLD_ANY     /**< any entry is an oci:// url */
};

/** What an admission answers when the index verdict is not known within the budget. */
enum og_on_unknown {
    OG_ON_UNKNOWN_ALLOW, /**< allow with a warning that analysis is pending (default) */
    OG_ON_UNKNOWN_DENY   /**< deny (only in enforce mode) */
};

/** Live index analysis settings (issue: live index analysis). */
struct og_index_settings {
    bool enabled;                      /**< default true */
    enum og_index_threshold threshold; /**< default OG_INDEX_THRESHOLD_NEWEST */
    uint32_t ttl_s;                    /**< positive cache TTL, default 3600 */
    uint32_t negative_ttl_s;           /**< cache TTL of failures, default 300 */
    uint32_t cache_entries;            /**< LRU bound, default 1024 */
    uint32_t budget_ms;                /**< longest an admission waits, default 1500 */
    uint32_t connect_timeout_ms;       /**< default 3000 */
    uint32_t fetch_timeout_ms;         /**< whole transfer, default 30000 */
    uint64_t max_bytes;                /**< index size cap, default 64 MiB */
    enum og_on_unknown on_unknown;     /**< default OG_ON_UNKNOWN_ALLOW */
    char **allow_hosts;                /**< hosts exempt from the SSRF guard */
    size_t n_allow_hosts;
    char **allow_cidrs; /**< CIDRs exempt from the SSRF guard ("127.0.0.0/8") */
    size_t n_allow_cidrs;
};

/** The whole configuration snapshot. */
struct og_config {
    atomic_uint refs;            /**< managed by og_config_ref/unref only */
    enum og_mode mode;           /**< default mode, default OG_MODE_MUTATE */
    struct og_ns_rule *ns_rules; /**< per-namespace overrides, in order */
    size_t n_ns_rules;
    char **exempt_namespaces; /**< exact names or globs */
    size_t n_exempt_namespaces;
    char **exempt_users;
    size_t n_exempt_users;
    char **exempt_groups;
    size_t n_exempt_groups;
    bool allow_annotation_override;  /**< the object annotation may lower the mode to audit */
    struct og_migration *migrations; /**< effective table: built-in, then the config's */
    size_t n_migrations;
    struct og_index_settings index;
    uint64_t max_body; /**< request body cap, default 8 MiB */
    char *source;      /**< file it was loaded from, or NULL */
};

/** A row of the built-in known-migrations table. */
struct og_migration_def {
    const char *from;
    const char *to;
};

/** The built-in known-migrations table, ended by a {NULL, NULL} row. */
extern const struct og_migration_def og_builtin_migrations[];

/**
 * Makes a configuration holding every default, with one reference held by the caller.
 * OG_ENOMEM when out of memory (`*out` untouched).
 */
OG_NODISCARD enum og_err og_config_new(struct og_config **out);

/** Takes one more reference; returns `cfg`. Thread-safe. */
struct og_config *og_config_ref(struct og_config *cfg);

/** Drops a reference; the last one frees the snapshot. NULL is a no-op. Thread-safe. */
void og_config_unref(struct og_config *cfg);

#endif
