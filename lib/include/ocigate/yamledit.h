/*
 * yamledit.h - byte-precise in-place edits of a YAML file, at the positions the manifest
 * reader reports (`ocigate fix`). The file is never re-emitted: each edit replaces a range of
 * bytes, and every byte outside the edited ranges stays as it was (comments, key order,
 * quoting, indentation, flow style, other documents, CR LF line ends).
 *
 * Use: parse the file with og_manifest_parse(), collect edits into a struct og_yamledit with
 * the og_yamledit_* calls below (each call adds zero or more byte edits, computed against the
 * original bytes), then og_yamledit_apply() writes the edited file in one pass. An edit that
 * cannot be made safely in place is refused with OG_EINVAL and a message in `msg`, and adds
 * nothing; the caller then leaves the file alone. Refused: a tagged value; explicit keys
 * (`? key`) where a line or item would be cut around them; a key on a line with other text
 * before it (but a `- ` dash); the brace-less pair of a flow sequence (`[a: b]`); a block
 * mapping whose lines hold NEL, LS or PS (line breaks to libyaml, not here); an insertion
 * after a block scalar that ends the file without a line break (the new break would join its
 * value). Every refusal and every result was checked by fuzzing: the edited file parses and
 * reads back with exactly the intended changes.
 *
 * Every function takes `data`/`len`, the bytes the nodes were parsed from.
 */
#ifndef OG_YAMLEDIT_H
#define OG_YAMLEDIT_H

#include <stddef.h>

#include "ocigate/buf.h"
#include "ocigate/err.h"
#include "ocigate/manifest.h"
#include "ocigate/str.h"

/** One byte edit: the bytes [start, end) of the original become `text` (owned, `len` bytes). */
struct og_yamledit_op {
    size_t start;
    size_t end;
    char *text;
    size_t len;
};

/**
 * A list of byte edits against one input. Caller-owned storage: og_yamledit_init() before use,
 * og_yamledit_cleanup() after. Only the API touches the fields; `ops` may be read.
 */
struct og_yamledit {
    struct og_yamledit_op *ops;
    size_t n;
    size_t cap;
    char msg[160]; /**< why the last call failed with OG_EINVAL ("" otherwise) */
};

/** Makes `e` empty. Allocates nothing. */
void og_yamledit_init(struct og_yamledit *e);

/** Frees every edit of `e` and leaves it empty. */
void og_yamledit_cleanup(struct og_yamledit *e);

/**
 * Sets the scalar `node` to `value`. The node keeps its quoting style when that style can
 * hold the new value (a plain scalar stays plain when the value would still read as the same
 * string, and in a flow collection holds no flow indicator; single quotes when the value has
 * no line break or control character); otherwise the value is written double-quoted with
 * escapes. A block scalar (`|`, `>`) becomes a double-quoted one on the same line. A value
 * equal to the current one adds no edit.
 *
 * Errors: OG_EINVAL (not a scalar, a tagged scalar, `value` not valid UTF-8), OG_ENOMEM.
 */
OG_NODISCARD enum og_err og_yamledit_set(struct og_yamledit *e, const char *data, size_t len,
                                         const struct og_manifest_node *node, struct og_str value);

/**
 * Inserts `key: value` (both written plain when they read back as the same strings, else
 * double-quoted) into the mapping `map`, after the key node `after` (a key of `map`) or after
 * the last key when `after` is NULL. A block mapping gets a new line indented as its keys,
 * after the line where the previous value ends (its trailing comment stays on its line); the
 * line ends with CR LF when that line does. A flow mapping gets `, key: value` after the
 * previous value (`key: value` into `{}`). A key that already exists is not checked here.
 *
 * Errors: OG_EINVAL (not a mapping, `after` not its key, bytes not valid UTF-8), OG_ENOMEM.
 */
OG_NODISCARD enum og_err og_yamledit_insert(struct og_yamledit *e, const char *data, size_t len,
                                            const struct og_manifest_node *map,
                                            const struct og_manifest_node *after, struct og_str key,
                                            struct og_str value);

/**
 * Removes the key node `key` and its value from the mapping `map`. In a block mapping the
 * key's lines go, from the key's indentation to the end of the line where its value ends
 * (that line's comment included); the first key of a `- ` sequence item gives its place to
 * the next key; the only key becomes `{}`. In a flow mapping the item and one comma go.
 *
 * Errors: OG_EINVAL (not a key of `map`, an explicit `? ` key), OG_ENOMEM.
 */
OG_NODISCARD enum og_err og_yamledit_remove(struct og_yamledit *e, const char *data, size_t len,
                                            const struct og_manifest_node *map,
                                            const struct og_manifest_node *key);

/**
 * Appends `data` with every edit of `e` applied to `out` (whose cap bounds the result). The
 * edits are sorted by position (an insertion at the point where a replacement starts comes
 * first; edits at the same place keep the order they were added in) and must not overlap.
 *
 * Errors: OG_EINVAL (overlapping edits, or one outside `data`; `e->msg` says which),
 * OG_ETOOBIG, OG_ENOMEM. `out` may hold a part of the result on failure.
 */
OG_NODISCARD enum og_err og_yamledit_apply(struct og_yamledit *e, const char *data, size_t len,
                                           struct og_buf *out);

/**
 * Appends to `out` a unified diff (`diff -u` form, three lines of context, `patch -p0` applies
 * it) from `data` to `edited`, the result of og_yamledit_apply() on `data` with `e`, which that
 * call sorted and checked: the changed lines are found from the edits (no text comparison),
 * so hunks cover exactly the lines the edits touch. `name` heads both sides (`--- name`,
 * `+++ name`). No edit: nothing is appended. Line ends are kept as they are (a CR stays on its
 * line); a last line without a line break is marked `\ No newline at end of file`.
 *
 * Errors: OG_EINVAL (`e` not as og_yamledit_apply() left it for `data`, or `edited` not its
 * result), OG_ETOOBIG, OG_ENOMEM.
 */
OG_NODISCARD enum og_err og_yamledit_diff(const struct og_yamledit *e, const char *data, size_t len,
                                          const char *edited, size_t edited_len, const char *name,
                                          struct og_buf *out);

/**
 * Adds the edits that fix a HelmRepository object `obj` (a reader object of `data`) for an
 * OCI registry: `spec.type` becomes `oci` (inserted after `spec.url` when absent),
 * `spec.url` becomes `url`, and `spec.passCredentials` goes. An object that already reads
 * so adds no edit, so a second fix changes nothing.
 *
 * Errors: OG_EINVAL (no `spec` mapping, or an edit refused as above; `e->msg` says why),
 * OG_ENOMEM. On failure `e` holds the edits it held before the call.
 */
OG_NODISCARD enum og_err og_yamledit_fix_helmrepo(struct og_yamledit *e, const char *data,
                                                  size_t len, const struct og_manifest_object *obj,
                                                  struct og_str url);

#endif
