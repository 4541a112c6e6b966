/*
 * index_flags.h - the `ocigate serve --index-*` flags: checked once at start, applied on top
 * of every configuration snapshot (at start and on each reload), so that a flag beats the
 * config file as for every other flag (reload.h).
 */
#ifndef SRV_INDEX_FLAGS_H
#define SRV_INDEX_FLAGS_H

#include <stdbool.h>
#include <stddef.h>

#include "ocigate/config.h"
#include "ocigate/err.h"

/**
 * The --index-* flags as given on the command line (NULL: not given). The strings are
 * borrowed (argv), as are the arrays; they must outlive every srv_index_flags_apply().
 */
struct srv_index_flags {
    const char *enabled;              /**< --index-enabled true|false */
    const char *threshold;            /**< --index-threshold newest|any */
    const char *ttl;                  /**< --index-ttl S */
    const char *negative_ttl;         /**< --index-negative-ttl S */
    const char *entries;              /**< --index-cache-entries N */
    const char *max_fetches;          /**< --index-max-fetches N */
    const char *max_fetches_per_host; /**< --index-max-fetches-per-host N */
    const char *budget;               /**< --index-budget-ms MS */
    const char *connect_timeout;      /**< --index-connect-timeout-ms MS */
    const char *timeout;              /**< --index-timeout-ms MS */
    const char *max_bytes;            /**< --index-max-bytes N (suffix K or M) */
    const char *on_unknown;           /**< --index-on-unknown allow|deny */
    const char **hosts;               /**< --index-allow-host, each occurrence */
    size_t n_hosts;
    const char **cidrs; /**< --index-allow-cidr, each occurrence */
    size_t n_cidrs;
};

/** The usage lines of the flags, for `ocigate serve --help`. */
extern const char srv_index_flags_usage[];

/**
 * Checks every given flag. OG_EINVAL with a message naming the flag in `diag` for a bad value
 * (a number out of range, a word not in its list, an invalid CIDR, a host that is not a
 * name); nothing is changed.
 */
OG_NODISCARD enum og_err srv_index_flags_check(const struct srv_index_flags *f,
                                               struct og_diag *diag);

/**
 * Sets the fields of `s` whose flag was given; allow-host and allow-cidr values are added to
 * the lists `s` already holds (the config file's). The flags must have passed
 * srv_index_flags_check(). OG_ENOMEM (then `s` may hold part of the additions, all owned by
 * it); OG_EINVAL if an unchecked flag is bad.
 */
OG_NODISCARD enum og_err srv_index_flags_apply(const struct srv_index_flags *f,
                                               struct og_index_settings *s, struct og_diag *diag);

#endif
