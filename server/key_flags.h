/*
 * key_flags.h - the `ocigate serve` flags that set a configuration key (--mode, --max-body,
 * --index-*): one table row per flag, naming its key. A flag's value goes through
 * og_config_set(), the config file's own parser, so that it takes the key's syntax, limits
 * and messages (`--index-ttl 90m`, `--max-body 8Mi`). The flags are applied on top of every
 * snapshot, at start and on each reload, so that a flag beats the file, which beats the
 * defaults (reload.h).
 */
#ifndef SRV_KEY_FLAGS_H
#define SRV_KEY_FLAGS_H

#include <stddef.h>
#include <stdio.h>

#include "ocigate/config.h"
#include "ocigate/err.h"

/** A flag that sets a configuration key. */
struct srv_key_flag {
    const char *name; /**< the flag without its dashes: "index-ttl" */
    const char *key;  /**< the configuration key it sets: "index.ttl" */
};

/** Every such flag, in the order of the help text, ended by a row with a NULL name. */
extern const struct srv_key_flag srv_key_flags[];

/** A flag that was renamed: the old name is refused with a pointer to the new one. */
struct srv_key_flag_rename {
    const char *old_name; /**< "index-budget-ms" */
    const char *new_name; /**< "index-budget" */
};

/** The renamed flags, ended by a row with a NULL old name. */
extern const struct srv_key_flag_rename srv_key_flag_renames[];

/** One key flag as given on the command line. */
struct srv_key_flag_arg {
    const struct srv_key_flag *flag; /**< a row of srv_key_flags[] */
    const char *value;               /**< borrowed (argv) */
};

/** The row of the flag `name` (without dashes), or NULL. */
const struct srv_key_flag *srv_key_flag_find(const char *name);

/**
 * Sets the keys of the `n` flags at `args` in `cfg` (an unpublished snapshot), in order: a
 * later scalar flag beats an earlier one, list flags (--index-allow-host, --index-allow-cidr)
 * add to what the list holds (the file's items). On a bad value OG_EINVAL with the flag in
 * `diag->where` ("--index-ttl") and the message the file gives for the key in `diag->msg`;
 * OG_ENOMEM. On failure `cfg` may hold the flags before the bad one: drop it.
 */
OG_NODISCARD enum og_err srv_key_flags_apply(const struct srv_key_flag_arg *args, size_t n,
                                             struct og_config *cfg, struct og_diag *diag);

/**
 * Writes the help lines of the key flags of `table` (srv_key_flags, or another command's table
 * ended by a NULL name) to `out`: each flag with its value syntax, its key's documentation and
 * default, generated from the key table.
 */
void srv_key_flags_usage(FILE *out, const struct srv_key_flag *table);

#endif
