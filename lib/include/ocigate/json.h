/*
 * json.h - the one JSON writer of ocigate, and its base64 encoder. Every string that ocigate
 * writes as JSON (admission responses, JSON patches, log lines, `index analyze` output) is
 * escaped by og_json_escape(), here:
 *
 *   - '"' and '\\' get a backslash; \b \f \n \r \t their short forms; every other control
 *     character (below 0x20) is written as \u00XX (lowercase hex);
 *   - well-formed UTF-8 (RFC 3629: no overlong form, no surrogate, nothing above U+10FFFF) is
 *     copied as it is, DEL and U+2028/U+2029 included;
 *   - each byte that does not begin a well-formed UTF-8 sequence is written as \ufffd (as Go's
 *     encoding/json does), so the output is always valid UTF-8 and valid JSON (RFC 8259).
 *
 * The writer (struct og_json) appends to an og_buf and so inherits its hard cap.
 */
#ifndef OG_JSON_H
#define OG_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ocigate/buf.h"
#include "ocigate/err.h"
#include "ocigate/str.h"

/** Levels of nesting a writer holds; one more begin is OG_EINVAL. */
#define OG_JSON_MAX_DEPTH 32

/**
 * Length of the longest prefix of `p` (`len` bytes) that a JSON string holds as it is: no
 * '"', no '\\' and no control character (bytes >= 0x80 count as plain). Reads sixteen bytes
 * at a time with SSE2, else eight, and never past `len`. The review decoder scans string tokens
 * with it.
 */
size_t og_json_plain_prefix(const char *p, size_t len);

/**
 * Escapes `s` (as described above, without quotes) into `out`, which has room for `size`
 * bytes: as much of `s` as fits, never cutting an escape or a UTF-8 sequence. Returns the
 * bytes written (no NUL is added) and sets `*used` to the bytes of `s` they stand for
 * (s.len when all fitted). For fixed-size buffers such as a log line; an og_buf takes
 * og_json_string().
 */
size_t og_json_escape(char *out, size_t size, struct og_str s, size_t *used);

/**
 * Appends `s` to `out` as a JSON string (quoted, escaped as above): what og_json_string()
 * writes, for a caller that writes a fixed shape of JSON text itself. OG_ETOOBIG past the cap,
 * OG_ENOMEM; on failure what `out` holds past its old contents is unspecified (they stay).
 */
OG_NODISCARD enum og_err og_json_append_string(struct og_buf *out, struct og_str s);

/** Longest text og_json_format_uint() writes: 20 digits. */
#define OG_JSON_UINT_MAX 20

/** Writes the decimal digits of `v` (no NUL) to `out`, which has OG_JSON_UINT_MAX bytes; returns
 * how many. */
size_t og_json_format_uint(uint64_t v, char *out);

/**
 * A JSON writer over an og_buf, as yajl's generator: begin and end objects and arrays, and in
 * between keys and values; the writer puts the commas and colons. The first error (OG_ENOMEM,
 * OG_ETOOBIG from the buffer's cap, OG_EINVAL for a misuse: a value where a key is due, a key
 * outside an object, an end that does not match, nesting past OG_JSON_MAX_DEPTH) sticks: later
 * calls do nothing, and og_json_finish() returns it. What the buffer holds after an error is
 * unspecified (a caller that promises to leave it unchanged truncates it back).
 * Only the og_json_* functions touch the fields.
 */
struct og_json {
    struct og_buf *out; /**< where the text goes; not owned */
    enum og_err rc;     /**< the first error, or OG_OK */
    unsigned depth;     /**< open objects and arrays */
    uint32_t objects;   /**< bit d-1 set: level d is an object (else an array) */
    uint32_t nonempty;  /**< bit d-1 set: level d has a member already */
    bool key_written;   /**< a key was written, its value is due */
};

/** Starts a writer that appends to `out` (which keeps what it holds). Allocates nothing. */
void og_json_init(struct og_json *w, struct og_buf *out);

/** '{' ... '}'. */
void og_json_object_begin(struct og_json *w);
void og_json_object_end(struct og_json *w);

/** '[' ... ']'. */
void og_json_array_begin(struct og_json *w);
void og_json_array_end(struct og_json *w);

/** A member's key (NUL-terminated, escaped like any string); its value is written next. */
void og_json_key(struct og_json *w, const char *key);

/** A string value: `s` quoted and escaped. */
void og_json_string(struct og_json *w, struct og_str s);

/** A NUL-terminated string value, or null when `s` is NULL. */
void og_json_cstr(struct og_json *w, const char *s);

/** The standard base64 (RFC 4648, with padding) of `len` bytes at `data`, as a string value. */
void og_json_base64(struct og_json *w, const void *data, size_t len);

/** Number, boolean and null values. */
void og_json_uint(struct og_json *w, uint64_t v);
void og_json_int(struct og_json *w, int64_t v);
void og_json_bool(struct og_json *w, bool v);
void og_json_null(struct og_json *w);

/** A value that is JSON text already (e.g. another writer's output), copied as it is. */
void og_json_raw(struct og_json *w, struct og_str json);

/**
 * The writer's result: the first error, else OG_EINVAL when an object or array is still open
 * or a key has no value, else OG_OK.
 */
OG_NODISCARD enum og_err og_json_finish(const struct og_json *w);

/**
 * Appends the standard base64 (RFC 4648, with padding) of `len` bytes at `data` to `out`.
 * OG_ETOOBIG past the buffer's cap, OG_ENOMEM; `out` is unchanged on failure.
 */
OG_NODISCARD enum og_err og_base64_append(struct og_buf *out, const void *data, size_t len);

#endif
