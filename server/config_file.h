/*
 * config_file.h - reading the configuration file: the I/O half of og_config_parse(), kept
 * out of lib/ (which is given bytes and never reads files).
 */
#ifndef SRV_CONFIG_FILE_H
#define SRV_CONFIG_FILE_H

#include "ocigate/config.h"
#include "ocigate/err.h"

/**
 * Reads the file at `path` (at most OG_CONFIG_MAX_FILE bytes) and parses it as
 * og_config_parse() with `path` as the name. Extra errors: OG_EIO when the file cannot be
 * read, OG_ETOOBIG when it is larger than the cap (diag names the file and says why).
 * On success the caller owns one reference to `*out`.
 */
OG_NODISCARD enum og_err srv_config_load(const char *path, struct og_config **out,
                                         struct og_diag *diag);

#endif
