/*
 * jsonpatch.h - RFC 6902 JSON patches: building them against the document they will be
 * applied to, encoding them, and applying them (RFC 6901 JSON Pointers throughout).
 */
#ifndef OG_JSONPATCH_H
#define OG_JSONPATCH_H

#include <stddef.h>

#include "ocigate/buf.h"
#include "ocigate/err.h"

struct cJSON;

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
 * Appends an operation that makes `path` hold a string `value` in `doc`: "replace" when
 * the member exists, "add" when only its parent does. OG_ENOTFOUND when the parent does not
 * exist or is not an object (an add there would fail the whole admission). `path` is a JSON
 * Pointer; `doc` is the object the patch will be applied to.
 */
OG_NODISCARD enum og_err og_patch_set_string(struct og_patch *patch, const struct cJSON *doc,
                                             const char *path, const char *value);

/** Appends a "remove" of `path` when `doc` holds it; nothing otherwise. */
OG_NODISCARD enum og_err og_patch_remove_if_present(struct og_patch *patch, const struct cJSON *doc,
                                                    const char *path);

/** Appends the JSON text of the patch (an array, compact, in operation order) to `out`. */
OG_NODISCARD enum og_err og_patch_encode(const struct og_patch *patch, struct og_buf *out);

/**
 * Applies the RFC 6902 patch text (`len` bytes) to `doc` in place: add, remove, replace,
 * move, copy and test. Errors: OG_EPARSE for a malformed patch, OG_ENOTFOUND for a path
 * that does not resolve, OG_EINVAL for a failed test; `diag` names the operation index.
 * On error `doc` may be partly patched (RFC 6902 makes the whole patch fail; callers that
 * need atomicity apply to a copy).
 */
OG_NODISCARD enum og_err og_patch_apply(const char *patch, size_t len, struct cJSON *doc,
                                        struct og_diag *diag);

/**
 * Resolves the RFC 6901 pointer `ptr` (NUL-terminated, "" = the whole document) in `doc`.
 * Returns the lent node or NULL.
 */
struct cJSON *og_json_pointer_get(const struct cJSON *doc, const char *ptr);

/** Appends `segment` escaped for a JSON Pointer ("~" → "~0", "/" → "~1") to `out`. */
OG_NODISCARD enum og_err og_json_pointer_escape(struct og_str segment, struct og_buf *out);

#endif
