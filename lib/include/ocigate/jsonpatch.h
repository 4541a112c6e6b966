/*
 * jsonpatch.h - RFC 6902 JSON patches as ocigate writes them: an ordered list of add, replace
 * and remove operations on RFC 6901 JSON Pointers, with string values, encoded as JSON text.
 */
#ifndef OG_JSONPATCH_H
#define OG_JSONPATCH_H

#include <stddef.h>

#include "ocigate/buf.h"
#include "ocigate/err.h"

/** An ordered list of patch operations. Opaque. */
struct og_patch;

/** Makes an empty patch. The caller frees it with og_patch_free(). */
OG_NODISCARD enum og_err og_patch_new(struct og_patch **out);

/** Frees the patch and its values. NULL is a no-op. */
void og_patch_free(struct og_patch *patch);

/** Number of operations. */
size_t og_patch_count(const struct og_patch *patch);

/** Operations og_patch_push() appends. */
enum og_patch_op { OG_PATCH_ADD, OG_PATCH_REPLACE, OG_PATCH_REMOVE };

/**
 * Appends an operation on `path` (a JSON Pointer) with a string `value` (NULL for remove),
 * for callers that already know what the document holds. OG_EINVAL when `value` is missing
 * for add/replace; OG_ENOMEM.
 */
OG_NODISCARD enum og_err og_patch_push(struct og_patch *patch, enum og_patch_op op,
                                       const char *path, const char *value);

/**
 * Appends the JSON text of the patch (an array, compact, in operation order) to `out`.
 * OG_ETOOBIG past the cap, OG_ENOMEM; on failure `out` holds what it held.
 */
OG_NODISCARD enum og_err og_patch_encode(const struct og_patch *patch, struct og_buf *out);

/**
 * One operation as og_patch_write() takes it: the caller's strings, lent for the call. `value`
 * is NULL for remove. Only the API reads the fields.
 */
struct og_patch_item {
    enum og_patch_op op;
    const char *path;
    const char *value;
};

/**
 * Appends the JSON text of the `n` operations at `items` to `out`, as og_patch_encode() would
 * for a patch that held them: for a caller that has its few operations at hand and needs no
 * patch object (nothing is allocated but what `out` grows by). OG_EINVAL when an item is not
 * one og_patch_push() would take; else as og_patch_encode(). On failure `out` holds what it
 * held.
 */
OG_NODISCARD enum og_err og_patch_write(const struct og_patch_item *items, size_t n,
                                        struct og_buf *out);

#endif
