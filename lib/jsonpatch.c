#include "ocigate/jsonpatch.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ocigate/json.h"

#include "json_int.h"

/*
 * The ops ocigate builds hold string values only (type, url) or none (remove), so a patch is
 * a flat array of small records: each item's path is owned, and its value lives in the same
 * allocation.
 */
struct og_patch {
    struct og_patch_item *ops;
    size_t n;
    size_t cap;
};

/* What an operation's text starts with, up to its path. */
#define HEAD(op)                                                                                   \
    {                                                                                              \
        "{\"op\":\"" op "\",\"path\":", sizeof("{\"op\":\"" op "\",\"path\":") - 1                 \
    }
static const struct og_str op_heads[] = {HEAD("add"), HEAD("replace"), HEAD("remove")};
#undef HEAD

enum og_err og_patch_new(struct og_patch **out)
{
    struct og_patch *p = calloc(1, sizeof(*p));

    if (p == NULL)
        return OG_ENOMEM;
    *out = p;
    return OG_OK;
}

void og_patch_free(struct og_patch *patch)
{
    if (patch == NULL)
        return;
    for (size_t i = 0; i < patch->n; i++) {
        free((void *)(uintptr_t)patch->ops[i].path); /* ours: push() copied it */
    }
    free(patch->ops);
    free(patch);
}

size_t og_patch_count(const struct og_patch *patch)
{
    return patch->n;
}

/* The one rule for an operation: a value exactly for add and replace, a JSON Pointer path. */
static bool item_ok(enum og_patch_op op, const char *path, const char *value)
{
    return (op == OG_PATCH_ADD || op == OG_PATCH_REPLACE || op == OG_PATCH_REMOVE) &&
           (op != OG_PATCH_REMOVE) == (value != NULL) && path != NULL && path[0] == '/';
}

static enum og_err push(struct og_patch *p, enum og_patch_op kind, const char *path,
                        const char *value)
{
    struct og_patch_item item = {kind, NULL, NULL};
    size_t plen, vlen;
    char *copy;

    struct og_patch_item *ops = og_array_grow(p->ops, &p->cap, p->n, sizeof(*ops), 4, SIZE_MAX);

    if (ops == NULL)
        return OG_ENOMEM;
    p->ops = ops;
    /* Path and value in one allocation: "path\0value\0". */
    plen = strlen(path);
    vlen = value != NULL ? strlen(value) + 1 : 0;
    copy = malloc(plen + 1 + vlen);
    if (copy == NULL)
        return OG_ENOMEM;
    memcpy(copy, path, plen + 1);
    if (value != NULL)
        memcpy(copy + plen + 1, value, vlen);
    item.path = copy;
    item.value = value != NULL ? copy + plen + 1 : NULL;
    p->ops[p->n++] = item;
    return OG_OK;
}

enum og_err og_patch_push(struct og_patch *patch, enum og_patch_op op, const char *path,
                          const char *value)
{
    if (!item_ok(op, path, value))
        return OG_EINVAL;
    return push(patch, op, path, value);
}

/* Appends the literal `lit` (a string constant) to `out`. */
#define PUT_LIT(out, lit) og_buf_append((out), (lit), sizeof(lit) - 1)

/* Most operations og_patch_write() writes the plain way (ocigate's own patches have three). */
#define PLAIN_ITEMS 8

/*
 * The usual patch, whose paths and values are plain ASCII (nothing to escape): its length is
 * known before a byte is written, so it is reserved once and written without a check per part.
 * `plen` and `vlen` are the items' lengths (vlen 0 for no value). Errors as og_patch_write().
 */
static enum og_err write_plain(const struct og_patch_item *items, size_t n, const size_t *plen,
                               const size_t *vlen, struct og_buf *out)
{
    size_t need = 2 + (n - 1);
    enum og_err rc;
    char *o;

    for (size_t i = 0; i < n; i++)
        need += op_heads[items[i].op].len + plen[i] + 3 +
                (items[i].value != NULL ? sizeof(",\"value\":") - 1 + vlen[i] + 2 : 0);
    /* Past the cap, OG_ETOOBIG with `out` as it was: what the general way gives too. */
    rc = og_buf_reserve(out, need);
    if (rc != OG_OK)
        return rc;
    o = out->ptr + out->len;
    *o++ = '[';
    for (size_t i = 0; i < n; i++) {
        const struct og_patch_item *op = &items[i];

        if (i > 0)
            *o++ = ',';
        o = og__json_copy(o, op_heads[op->op].ptr, op_heads[op->op].len);
        *o++ = '"';
        o = og__json_copy(o, op->path, plen[i]);
        *o++ = '"';
        if (op->value != NULL) {
            memcpy(o, ",\"value\":\"", sizeof(",\"value\":\"") - 1);
            o += sizeof(",\"value\":\"") - 1;
            o = og__json_copy(o, op->value, vlen[i]);
            *o++ = '"';
        }
        *o++ = '}';
    }
    *o++ = ']';
    *o = '\0';
    out->len += need;
    return OG_OK;
}

enum og_err og_patch_write(const struct og_patch_item *items, size_t n, struct og_buf *out)
{
    size_t need = 2, start = out->len, plen[PLAIN_ITEMS], vlen[PLAIN_ITEMS];
    bool plain = n > 0 && n <= PLAIN_ITEMS;
    enum og_err rc;

    /* One reservation for the usual patch (no escapes; the appends grow the buffer else), never
     * past the cap: a patch that fits must not fail for the estimate. */
    for (size_t i = 0; i < n; i++) {
        size_t pl, vl;

        if (!item_ok(items[i].op, items[i].path, items[i].value))
            return OG_EINVAL;
        pl = strlen(items[i].path);
        vl = items[i].value != NULL ? strlen(items[i].value) : 0;
        need += 48 + pl + vl;
        if (plain) {
            plen[i] = pl;
            vlen[i] = vl;
            plain = og__json_is_plain_ascii(items[i].path, pl) &&
                    og__json_is_plain_ascii(items[i].value != NULL ? items[i].value : "", vl);
        }
    }
    if (plain)
        return write_plain(items, n, plen, vlen, out);
    rc = og_buf_reserve(out, need < out->max - out->len ? need : out->max - out->len);
    if (rc != OG_OK)
        return rc;
    /* The shape is fixed, so the text is written as it is, with only the strings escaped (as
     * the og_json writer writes it). */
    rc = PUT_LIT(out, "[");
    for (size_t i = 0; rc == OG_OK && i < n; i++) {
        const struct og_patch_item *op = &items[i];

        if (i > 0)
            rc = PUT_LIT(out, ",");
        if (rc == OG_OK)
            rc = og_buf_append_str(out, op_heads[op->op]);
        if (rc == OG_OK)
            rc = og_json_append_string(out, og_str_of(op->path));
        if (rc == OG_OK && op->value != NULL) {
            rc = PUT_LIT(out, ",\"value\":");
            if (rc == OG_OK)
                rc = og_json_append_string(out, og_str_of(op->value));
        }
        if (rc == OG_OK)
            rc = PUT_LIT(out, "}");
    }
    if (rc == OG_OK)
        rc = PUT_LIT(out, "]");
    if (rc != OG_OK) {
        out->len = start;
        out->ptr[start] = '\0';
    }
    return rc;
}

enum og_err og_patch_encode(const struct og_patch *patch, struct og_buf *out)
{
    return og_patch_write(patch->ops, patch->n, out);
}
