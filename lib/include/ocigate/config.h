/*
 * config.h - the immutable policy configuration snapshot (docs/DESIGN.md).
 *
 * A struct og_config is built once (defaults, then a YAML file, then command-line flags
 * through og_config_set()), published, and never changed again: a reload builds a new one and
 * swaps it in. Readers take a reference with og_config_ref() and drop it with
 * og_config_unref(); the last unref frees it.
 *
 * Fields are public so that policy code can read them directly; only the functions below
 * write them, and only before the snapshot is published. Every key is a row of one table
 * (lib/config_int.h): the file, og_config_set() and the defaults read values with its one
 * parser, so a value means the same and fails with the same message wherever it is written.
 */
#ifndef OG_CONFIG_H
#define OG_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ocigate/buf.h"
#include "ocigate/err.h"

/** What the webhook does with an affected HelmRepository. */
enum og_mode {
    OG_MODE_OFF,    /**< allow everything, no warning */
    OG_MODE_AUDIT,  /**< allow, with warnings and audit annotations */
    OG_MODE_MUTATE, /**< patch what can be fixed, deny what cannot */
    OG_MODE_ENFORCE /**< deny with guidance */
};

/** "off", "audit", "mutate", "enforce" (the key table reads them: og_config_set("mode")). */
const char *og_mode_name(enum og_mode mode);

/**
 * A known migration: HelmRepository urls equal to `from` (an http(s) url; the host compared
 * without case, the default port and trailing '/' ignored) moved to the OCI base `to`
 * (oci://host/path). Every row, built in or loaded, holds both urls in og_url_normalize()
 * form (url.h): scheme and host in lower case, no default port, no trailing '/'.
 */
struct og_migration {
    char *from;
    char *to;
    bool enabled;  /**< false: an entry that switches a built-in one off */
    unsigned line; /**< config file line that set or overrode it; 0 for a built-in row */
};

/** A namespace rule's `ratchet`: the top-level key's value, or its own. */
enum og_ratchet {
    OG_RATCHET_INHERIT, /**< not given: the top-level `ratchet` applies (default) */
    OG_RATCHET_OFF,     /**< false */
    OG_RATCHET_ON       /**< true */
};

/** A per-namespace mode: `pattern` is an exact name or a glob with '*' (first match wins). */
struct og_ns_rule {
    char *pattern;
    enum og_mode mode;
    enum og_ratchet ratchet; /**< the ratchet in matching namespaces */
    unsigned line;           /**< config file line of the rule */
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

/** What an admission does when the index verdict is `mixed` (helm_index.h). */
enum og_on_mixed {
    OG_ON_MIXED_WARN, /**< allow with a warning naming the moved charts, never patch (default) */
    OG_ON_MIXED_MOVED /**< treat it as moved (state oci): patch in mutate, deny in enforce */
};

/** Live index analysis settings (issue: live index analysis). */
struct og_index_settings {
    bool enabled;                      /**< default true */
    enum og_index_threshold threshold; /**< default OG_INDEX_THRESHOLD_NEWEST */
    uint32_t ttl_s;                    /**< positive cache TTL, default 3600 */
    uint32_t negative_ttl_s;           /**< cache TTL of failures, default 300 */
    uint32_t cache_entries;            /**< LRU bound, default 1024 */
    uint32_t max_fetches;              /**< fetches running at once, default 256 */
    uint32_t max_fetches_per_host;     /**< of those, to one host, default 64 */
    uint32_t budget_ms;                /**< longest an admission waits, default 1500 */
    uint32_t connect_timeout_ms;       /**< default 3000 */
    uint32_t fetch_timeout_ms;         /**< whole transfer, default 30000 */
    uint64_t max_bytes;                /**< index size cap, default 64 MiB */
    enum og_on_unknown on_unknown;     /**< default OG_ON_UNKNOWN_ALLOW */
    enum og_on_mixed on_mixed;         /**< default OG_ON_MIXED_WARN */
    char **allow_hosts;                /**< hosts exempt from the SSRF guard */
    size_t n_allow_hosts;
    char **allow_cidrs; /**< CIDRs exempt from the SSRF guard ("127.0.0.0/8") */
    size_t n_allow_cidrs;
};

/** Lowest TLS protocol version the webhook accepts. */
enum og_tls_version {
    OG_TLS_1_2, /**< TLS 1.2 and 1.3 (default) */
    OG_TLS_1_3  /**< TLS 1.3 only */
};

/** The whole configuration snapshot. */
struct og_config {
    atomic_uint refs;  /**< managed by og_config_ref/unref only */
    enum og_mode mode; /**< default mode, default OG_MODE_MUTATE */
    bool ratchet; /**< default ratchet (policy.h: unchanged UPDATEs are not denied), default true */
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
    /** The webhook configurations' timeoutSeconds, default 3 (og_config_has_conflict()) */
    uint32_t webhook_timeout_s;
    uint64_t max_body;                   /**< request body cap, default 8 MiB */
    enum og_tls_version tls_min_version; /**< default OG_TLS_1_2 */
    char *source;                        /**< file it was loaded from, or NULL */
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

/** Longest value a configuration key takes (a url, a glob, a host). */
#define OG_CONFIG_MAX_VALUE 2048u

/** Largest configuration file ocigate reads (the server's srv_config_load()). */
#define OG_CONFIG_MAX_FILE (1u << 20)

/**
 * Parses a YAML configuration of `len` bytes at `data` (not necessarily
 * NUL-terminated) into a new snapshot: every key of the key table (see `ocigate config
 * default`) starts at its default and takes the file's value when present; `migrations`
 * entries extend, override or switch off the built-in table. An empty document gives the
 * defaults. `name` (may be NULL) is recorded as `source` and used as the diag file name.
 *
 * Errors: OG_EPARSE when the bytes are not YAML (or hold more than one document),
 * OG_EINVAL for unknown or duplicate keys, wrong types, out-of-range or malformed values,
 * OG_ENOMEM. On failure `diag` (may be NULL) holds file, 1-based line and column, the key
 * path in `where` ("index.ttl", "namespaces[2].mode") and a message; `*out` is untouched.
 * On success the caller owns one reference to `*out`. Pure and thread-safe.
 */
OG_NODISCARD enum og_err og_config_parse(const char *data, size_t len, const char *name,
                                         struct og_config **out, struct og_diag *diag);

/**
 * Formats the effective configuration `cfg` as a YAML document (libyaml's emitter), every key
 * in table order with its value, the effective migrations table included. The output parses
 * back into an equal configuration. Appends to `out`; errors OG_ENOMEM, OG_ETOOBIG (the
 * buffer's cap), OG_EINVAL (emitter failure); on failure `out` may hold a partial document.
 */
OG_NODISCARD enum og_err og_config_format(const struct og_config *cfg, struct og_buf *out);

/**
 * Appends the commented default configuration file (`ocigate config default`), generated from
 * the key table: one comment per key and its default value. og_config_parse() of it gives a
 * configuration equal to og_config_new(). Errors as og_buf_append().
 */
OG_NODISCARD enum og_err og_config_format_default(struct og_buf *out);

/**
 * Sets the key `key` of `cfg` from the text `text` (NUL-terminated), the way the file sets it
 * and with the same limits and messages (the redis CONFIG SET of the key table): `key` is a
 * table path as the file nests it ("mode", "index.ttl", "maxBodyBytes"); `text` is the value
 * as a plain YAML scalar would hold it ("90m", "64Mi", "true", "deny"). For the list keys
 * ("exempt.namespaces", "index.allowHosts", "index.allowCIDRs", ...) it appends one item,
 * within the list's item limit. The keys of list-of-mappings entries ("namespaces",
 * "migrations") and sections are not settable.
 *
 * Only for a snapshot that is not published yet (one reference, not shared with any reader).
 * Errors: OG_ENOTFOUND for a path that is not a settable key, OG_EINVAL for a bad value
 * (with the message the file gives for that key in `diag->msg` and the key in `diag->where`;
 * `diag` may be NULL), OG_ENOMEM; `cfg` is unchanged then. Pure.
 */
OG_NODISCARD enum og_err og_config_set(struct og_config *cfg, const char *key, const char *text,
                                       struct og_diag *diag);

/** How a key's value is written, for a front end's help text (og_config_key_describe()). */
struct og_config_key_doc {
    char syntax[64]; /**< "DURATION", "SIZE", "N", "HOST", "CIDR", "GLOB", "URL", or the words
                          of an enum or boolean ("true|false", "allow|deny") */
    const char *def; /**< the default as the file writes it; NULL for lists (empty) */
    const char *doc; /**< one sentence from the key table, limits included */
    bool list;       /**< og_config_set() appends one item */
};

/**
 * Describes the settable key `key` (as og_config_set() takes it) into `*out`; the strings it
 * points to are static. OG_ENOTFOUND for anything else (`*out` untouched). Pure.
 */
OG_NODISCARD enum og_err og_config_key_describe(const char *key, struct og_config_key_doc *out);

/** The value kinds og_config_value_parse() reads, as the file's scalar keys write them. */
enum og_config_unit {
    OG_CONFIG_NUMBER, /**< a decimal integer: digits only ("64") */
    OG_CONFIG_SIZE,   /**< bytes: digits, optionally with Ki, Mi, Gi, Ti (powers of 1024) or
                           k, M, G (powers of 1000), as Kubernetes quantities: "8M" is 8000000 */
    OG_CONFIG_MS,     /**< a Go-style duration ("1h30m", "1.5s", "1500ms", "0"; units h, m, s,
                           ms; no sign, no spaces), in milliseconds */
    OG_CONFIG_SECONDS /**< such a duration in whole seconds, in seconds */
};

/**
 * Parses `len` bytes at `text` (not necessarily NUL-terminated) as a value of kind `unit`
 * within [min, max] (in that unit) into `*out`: the very parser and range check of the file's
 * keys, for options that are not configuration keys (the server's --threads, --drain, ...),
 * so that a number, size or duration means the same and fails with the same message
 * everywhere. OG_EINVAL with the reason in `diag` (may be NULL), e.g. `size "2Gi" is out of
 * range (1Ki to 64Mi)`; `*out` is then untouched. Pure and thread-safe.
 */
OG_NODISCARD enum og_err og_config_value_parse(enum og_config_unit unit, const char *text,
                                               size_t len, uint64_t min, uint64_t max,
                                               uint64_t *out, struct og_diag *diag);

/**
 * Formats `v` of kind `unit` as og_config_value_parse() reads it back ("1h", "64Mi", "1500ms",
 * "256") into `out` of `size` bytes (cut short when it does not fit); returns `out`. For help
 * texts that state a default or a range. Pure.
 */
const char *og_config_value_format(enum og_config_unit unit, uint64_t v, char *out, size_t size);

/**
 * True when `s` matches `pattern`, where '*' matches any run of characters (also none) and
 * every other byte matches itself. No other wildcards. Linear in practice; never recursive.
 */
bool og_config_glob_match(const char *pattern, const char *s);

/* Reasons og_config_resolve_mode() gives, as static strings (compare by value or pointer). */
#define OG_MODE_WHY_EXEMPT_NAMESPACE "exempt namespace"
#define OG_MODE_WHY_EXEMPT_USER "exempt user"
#define OG_MODE_WHY_EXEMPT_GROUP "exempt group"
#define OG_MODE_WHY_NAMESPACE_RULE "namespace rule"
#define OG_MODE_WHY_ANNOTATION "annotation"
#define OG_MODE_WHY_DEFAULT "default"
/** The rule decided and an `ocigate.io/mode` annotation was present but ignored. */
#define OG_MODE_WHY_NAMESPACE_RULE_ANNOTATION_IGNORED "namespace rule; annotation ignored"
/** The default decided and an `ocigate.io/mode` annotation was present but ignored. */
#define OG_MODE_WHY_DEFAULT_ANNOTATION_IGNORED "default; annotation ignored"

/** The object annotation that may lower the mode to audit. */
#define OG_MODE_ANNOTATION "ocigate.io/mode"

/**
 * Decides the mode for an object in namespace `ns` (NULL counts as "") requested by `user`
 * (may be NULL) in `groups` (`n_groups` strings; NULL when 0), whose `ocigate.io/mode`
 * annotation value is `annotation_mode` (NULL when absent). In order:
 *   1. an exempt namespace, user or group gives OG_MODE_OFF;
 *   2. the first `namespaces` rule whose glob matches `ns` gives its mode, else the default;
 *   3. an annotation "audit" lowers enforce or mutate to audit, only when
 *      allowAnnotationOverride is true. Any other annotation (a different value, or not
 *      allowed) is ignored and the reason says so (og_mode_why_annotation_ignored()), so that
 *      the policy engine can warn; an annotation that changes nothing is not "ignored".
 * `why` (may be NULL) receives one of the static OG_MODE_WHY_* strings. Pure, thread-safe.
 */
enum og_mode og_config_resolve_mode(const struct og_config *cfg, const char *ns, const char *user,
                                    const char *const *groups, size_t n_groups,
                                    const char *annotation_mode, const char **why);

/**
 * Whether the ratchet is on for an object in namespace `ns` (NULL counts as ""): the
 * `ratchet` of the first `namespaces` rule that matches `ns` (the rule that gives the mode),
 * unless it inherits, else the top-level `ratchet`. Pure, thread-safe.
 */
bool og_config_resolve_ratchet(const struct og_config *cfg, const char *ns);

/**
 * What an admission needs beyond `index.budget` within `webhookTimeout`, in milliseconds: the
 * apiserver's timeout runs from its call (connection and TLS handshake when not reused, the
 * request body, decoding) to the end of the answer (encoding, sending), and the budget's
 * deadline is met by a timer thread on a node that may be CPU-throttled. See the README,
 * "Timeouts".
 */
#define OG_CONFIG_TIMEOUT_MARGIN_MS 500

/**
 * Finds settings that are valid one by one but contradict each other. Today one: with index
 * analysis enabled, `index.budget` plus OG_CONFIG_TIMEOUT_MARGIN_MS over `webhookTimeout`, so
 * that a cold admission would time out at the apiserver (which then applies the webhook's
 * failurePolicy) instead of following `index.onUnknown`. Returns true and writes one line
 * (starting with the key path, "index.budget: ...") into `msg` of `size` bytes when one is
 * found; false (and `msg` untouched) when none. Pure, thread-safe.
 */
bool og_config_has_conflict(const struct og_config *cfg, char *msg, size_t size);

/** True when `why` (from og_config_resolve_mode()) says an annotation was ignored. */
bool og_mode_why_annotation_ignored(const char *why);

/** "1.2" or "1.3". */
const char *og_tls_version_name(enum og_tls_version v);

#endif
