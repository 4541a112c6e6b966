/*
 * json.h - small writers for JSON text and base64, appending to an og_buf. The hot path
 * (encoding admission responses) writes JSON directly instead of building a cJSON tree.
 */
#ifndef OG_JSON_H
#define OG_JSON_H

#include "ocigate/buf.h"
#include "ocigate/err.h"
#include "ocigate/str.h"

/**
 * Length of the longest prefix of `p` (`len` bytes) that a JSON string holds as it is: no
 * '"', no '\\' and no control character. Reads eight bytes at a time.
 */
size_t og_json_plain_prefix(const char *p, size_t len);

/**
 * Appends `s` as a quoted JSON string: '"' and '\\' escaped, control characters as \uXXXX
 * (\n, \t and friends in their short forms), other bytes (UTF-8) copied as they are.
 */
OG_NODISCARD enum og_err og_json_append_string(struct og_buf *out, struct og_str s);

/** Appends the standard base64 (RFC 4648, with padding) of `len` bytes at `data`. */
OG_NODISCARD enum og_err og_base64_append(struct og_buf *out, const void *data, size_t len);

#endif
