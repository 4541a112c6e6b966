/*
 * args.h - small helpers shared by the subcommands' flag parsers.
 */
#ifndef SRV_ARGS_H
#define SRV_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "ocigate/err.h"

/**
 * Parses the whole of `s` as a decimal unsigned integer in [min, max] into `*out`.
 * OG_EINVAL for anything else (sign, spaces, trailing bytes, out of range); `*out` is then
 * untouched. Never reads past the NUL.
 */
OG_NODISCARD enum og_err srv_args_parse_u64(const char *s, uint64_t min, uint64_t max,
                                            uint64_t *out);

/**
 * Parses a byte size in [min, max] with the file's quantity syntax (og_config_parse_size():
 * Ki, Mi, Gi are powers of 1024, k, M, G powers of 1000). OG_EINVAL otherwise; `*out`
 * untouched then.
 */
OG_NODISCARD enum og_err srv_args_parse_size(const char *s, uint64_t min, uint64_t max,
                                             uint64_t *out);

#endif
