/*
 * jsonpatch_apply.h - test support: applying RFC 6902 patches and resolving RFC 6901 JSON
 * Pointers on a cJSON tree, so that tests can check that the patches ocigate writes do what
 * they say. Not part of libocigate: the server never applies a patch.
 */
#ifndef OG_TEST_JSONPATCH_APPLY_H
#define OG_TEST_JSONPATCH_APPLY_H

#include <stddef.h>

#include "ocigate/buf.h"
#include "ocigate/err.h"
#include "ocigate/jsonpatch.h"
#include "ocigate/str.h"

struct cJSON;

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
