/*
 * config_int.h - the configuration key table and its value codecs, private to lib/.
 *
 * Every configuration key is one row of og__config_keys[] (redis config.c style): its dotted
 * path, type, where it lives in struct og_config, default, limits and documentation. The
 * loader (config_load.c), the effective-config emitter and the default file generator
 * (config_format.c), og_config_new() and og_config_set() (config_set.c, which the server's
 * flags go through) all walk this one table and its one scalar parser, so that a value means
 * the same, and fails with the same message, wherever it is written.
 */
#ifndef OG_CONFIG_INT_H
#define OG_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ocigate/config.h"

/** What a row holds. Scalars are stored at `off`; lists keep their count at `n_off`. */
enum og__key_type {
    OG__KEY_SECTION,  /**< a mapping of further rows ("index") */
    OG__KEY_ENUM,     /**< one of `names`, stored as an int-sized enum */
    OG__KEY_BOOL,     /**< true or false, stored as bool */
    OG__KEY_UINT,     /**< a plain decimal integer, stored in `size` bytes */
    OG__KEY_SIZE,     /**< bytes, or an integer with Ki, Mi, Gi, k, M, G; stored in `size` bytes */
    OG__KEY_DURATION, /**< a Go-style duration ("1h30m", "1500ms"), stored in units of `unit_ms` */
    OG__KEY_GLOB,     /**< one exact name or '*' glob, stored as an owned char * */
    OG__KEY_HTTP_URL, /**< an http(s) url, stored normalized as an owned char * */
    OG__KEY_OCI_URL,  /**< an oci://host/path base without tag, stored as an owned char * */
    OG__KEY_HOST,     /**< a host name or IP address (list items only) */
    OG__KEY_CIDR,     /**< an IPv4 or IPv6 CIDR block (list items only) */
    OG__KEY_LIST,     /**< a list of `item` scalars: char ** at `off`, size_t count at `n_off` */
    OG__KEY_OBJLIST   /**< a list of mappings: items of `size` bytes at `off`, count at `n_off`;
                         their keys are the rows "<path>[].<key>" */
};

struct og__key;

/**
 * Called after a list-of-mappings item (the last one, at index `idx`, from config file line
 * `line`) was read, to merge or check it against the earlier ones; returns OG_OK, or an error
 * with `msg` filled (the item is then still owned by the configuration, which frees it).
 */
typedef enum og_err (*og__item_fn)(struct og_config *cfg, size_t idx, unsigned line, char *msg,
                                   size_t size);

/** One configuration key. */
struct og__key {
    const char *path;         /**< "mode", "index.ttl", "namespaces[].match" */
    enum og__key_type type;   /**< what the value is */
    enum og__key_type item;   /**< OG__KEY_LIST: the type of each item */
    size_t off;               /**< offset in struct og_config, or in the list item */
    size_t size;              /**< scalar field size; OG__KEY_OBJLIST: item size */
    size_t n_off;             /**< lists: offset of the size_t count */
    const char *const *names; /**< OG__KEY_ENUM: the value names, NULL-terminated */
    uint64_t min, max;        /**< numbers: limits in the stored unit; lists: max is max items */
    uint32_t unit_ms;         /**< OG__KEY_DURATION: 1 (stored in ms) or 1000 (seconds) */
    const char *def;          /**< the default as scalar text; NULL: empty list or none */
    bool required;            /**< list-of-mappings keys that must be given */
    og__item_fn item_done;    /**< OG__KEY_OBJLIST: merge/check hook, or NULL */
    const char *doc;          /**< one line of documentation */
    const char *example;      /**< lists: an example value (YAML), for the default file */
};

/** The key table, ended by a row with a NULL path. */
extern const struct og__key og__config_keys[];

/** The row for `path` (a table path such as "index.ttl"), or NULL. */
const struct og__key *og__config_key(const char *path);

/** The last component of a row's path ("ttl" for "index.ttl", "match" for "namespaces[].match"). */
const char *og__config_key_name(const struct og__key *key);

/** True when `key` is a direct child of the table path `parent` ("" for the top level). */
bool og__config_key_is_child(const struct og__key *key, const char *parent);

/**
 * Parses a scalar `text` of `len` bytes of type `type` (the row's type, or its item type for
 * lists) for `key`, at most OG_CONFIG_MAX_VALUE bytes. Numeric types (enum, bool, numbers)
 * go to `*v` in the stored unit, within the row's limits; string types are validated and
 * stored normalized in a new string at `*str` (the caller frees it).
 * OG_EINVAL with a message in `msg` (of `size` bytes) when the text is malformed or out of
 * range, OG_ENOMEM; the out-parameters are untouched then.
 */
OG_NODISCARD enum og_err og__config_scalar_parse(const struct og__key *key, enum og__key_type type,
                                                 const char *text, size_t len, uint64_t *v,
                                                 char **str, char *msg, size_t size);

/**
 * OG_OK when a list of `key` may hold `n` items, else OG_EINVAL with the message the file
 * and og_config_set() give ("too many items") in `msg` of `size` bytes.
 */
OG_NODISCARD enum og_err og__config_list_limit(const struct og__key *key, size_t n, char *msg,
                                               size_t size);

/** True for the types stored as owned strings. */
bool og__config_type_is_string(enum og__key_type type);

/** Reads the numeric value (enum, bool, number) of a scalar row from `base`. */
uint64_t og__config_get_num(const struct og__key *key, const void *base);

/** Stores a numeric value of a scalar row into `base`. */
void og__config_set_num(const struct og__key *key, void *base, uint64_t v);

/**
 * Formats the numeric value `v` of a scalar row as the text the parser accepts ("1h", "64Mi",
 * "true", "mutate") into `out` of `size` bytes. Returns `out`.
 */
const char *og__config_num_format(const struct og__key *key, uint64_t v, char *out, size_t size);

/** Frees a list of `n` owned strings (NULL `v` is a no-op). */
void og__config_free_strv(char **v, size_t n);

#endif
