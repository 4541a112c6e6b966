/*
 * err.h - error codes and parser diagnostics shared by every libocigate module.
 */
#ifndef OG_ERR_H
#define OG_ERR_H

#include <stddef.h>

#if defined(__GNUC__) || defined(__clang__)
#define OG_NODISCARD __attribute__((warn_unused_result))
#define OG_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define OG_NODISCARD
#define OG_PRINTF(fmt, args)
#endif

/** Result of every libocigate function that can fail. OG_OK is zero. */
enum og_err {
    OG_OK = 0,
    OG_ENOMEM,   /**< an allocation failed */
    OG_EINVAL,   /**< an argument or value is out of its domain */
    OG_EPARSE,   /**< input bytes are not well-formed (JSON, YAML, URL) */
    OG_ETOOBIG,  /**< a size cap was reached */
    OG_EIO,      /**< a read or write failed */
    OG_ENOTFOUND /**< a looked-up item does not exist */
};

/** Returns a static, human-readable name for `err` ("out of memory", ...). Never NULL. */
const char *og_strerror(enum og_err err);

/**
 * Where and why a parser gave up, as h2o reports configuration errors. Callers own the
 * storage; parsers fill it in only on failure. `line` and `column` are 1-based and zero when
 * unknown; `where` holds a JSON Pointer or a key path when one applies.
 */
struct og_diag {
    char msg[256];
    char where[256];
    char file[256];
    unsigned line;
    unsigned column;
};

/** Clears `diag` (NULL is allowed). */
void og_diag_clear(struct og_diag *diag);

/**
 * Formats a message into `diag->msg` (NULL `diag` is allowed and ignored) and returns `err`,
 * so that a parser can write `return og_diag_set(diag, OG_EPARSE, "...")`.
 */
enum og_err og_diag_set(struct og_diag *diag, enum og_err err, const char *fmt, ...)
    OG_PRINTF(3, 4);

/** Sets the 1-based location of `diag` (NULL allowed). */
void og_diag_at(struct og_diag *diag, unsigned line, unsigned column);

/** Copies a NUL-terminated location path (JSON Pointer, key path) into `diag` (NULL allowed). */
void og_diag_where(struct og_diag *diag, const char *where);

/**
 * Renders `diag` as one line: "file:line:column: where: msg", leaving out the parts that are
 * empty. Always NUL-terminates `out` when `size` > 0. Returns `out`.
 */
const char *og_diag_format(const struct og_diag *diag, char *out, size_t size);

#endif
