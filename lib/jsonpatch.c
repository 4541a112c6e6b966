#include "ocigate/jsonpatch.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ocigate/json.h"

/*
 * The ops ocigate builds hold string values only (type, url) or none (remove), so a patch is
 * a flat array of small records.
 */
struct op {
    enum og_patch_op kind;
    char *path;  /* owned; `value` lives in the same allocation */
    char *value; /* NULL for remove */
};

struct og_patch {
    struct op *ops;
    size_t n;
    size_t cap;
};

static const char *const op_names[] = {"add", "replace", "remove"};

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
        free(patch->ops[i].path);
    }
    free(patch->ops);
    free(patch);
}

size_t og_patch_count(const struct og_patch *patch)
{
    return patch->n;
}

static enum og_err push(struct og_patch *p, enum og_patch_op kind, const char *path,
                        const char *value)
{
    struct op op = {kind, NULL, NULL};
    size_t plen, vlen;

    struct op *ops = og_array_grow(p->ops, &p->cap, p->n, sizeof(*ops), 4, SIZE_MAX);

    if (ops == NULL)
        return OG_ENOMEM;
    p->ops = ops;
    /* Path and value in one allocation: "path\0value\0". */
    plen = strlen(path);
    vlen = value != NULL ? strlen(value) + 1 : 0;
    op.path = malloc(plen + 1 + vlen);
    if (op.path == NULL)
        return OG_ENOMEM;
    memcpy(op.path, path, plen + 1);
    if (value != NULL) {
        op.value = op.path + plen + 1;
        memcpy(op.value, value, vlen);
    }
    p->ops[p->n++] = op;
    return OG_OK;
}

enum og_err og_patch_push(struct og_patch *patch, enum og_patch_op op, const char *path,
                          const char *value)
{
    if ((op != OG_PATCH_REMOVE) != (value != NULL) || path == NULL || path[0] != '/')
        return OG_EINVAL;
    return push(patch, op, path, value);
}

enum og_err og_patch_encode(const struct og_patch *patch, struct og_buf *out)
{
    struct og_json w;
    size_t need = 2;
    enum og_err rc;

    /* One reservation for the usual patch (no escapes; the writer grows the buffer else), never
     * past the cap: a patch that fits must not fail for the estimate. */
    for (size_t i = 0; i < patch->n; i++)
        need += 48 + strlen(patch->ops[i].path) +
                (patch->ops[i].value != NULL ? strlen(patch->ops[i].value) : 0);
    rc = og_buf_reserve(out, need < out->max - out->len ? need : out->max - out->len);
    if (rc != OG_OK)
        return rc;
    og_json_init(&w, out);
    og_json_array_begin(&w);
    for (size_t i = 0; i < patch->n; i++) {
        const struct op *op = &patch->ops[i];

        og_json_object_begin(&w);
        og_json_key(&w, "op");
        og_json_cstr(&w, op_names[op->kind]);
        og_json_key(&w, "path");
        og_json_string(&w, og_str_of(op->path));
        if (op->value != NULL) {
            og_json_key(&w, "value");
            og_json_string(&w, og_str_of(op->value));
        }
        og_json_object_end(&w);
    }
    og_json_array_end(&w);
    return og_json_finish(&w);
}
