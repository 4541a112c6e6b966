/*
 * jsonpatch_apply.c - test support: the RFC 6902 application and RFC 6901 pointer helpers
 * that the tests use to check the patches ocigate writes (the server only builds and encodes
 * patches, lib/jsonpatch.c). Compiled into the unit tests, fuzz targets and benchmarks only.
 */
#include "jsonpatch_apply.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * Walks `ptr` one reference token at a time. `*node_out` gets the node the pointer names, or
 * NULL; with `parent_out` set, also the container holding it (or that would hold it, NULL
 * when even that is missing) and with `last_out` the last token, unescaped, for the caller to
 * free, so that "add" can tell a missing member from a missing parent. Only OG_ENOMEM fails.
 */
static enum og_err resolve(const cJSON *doc, const char *ptr, cJSON **node_out, cJSON **parent_out,
                           char **last_out)
{
    cJSON *node = (cJSON *)(uintptr_t)doc;
    cJSON *parent = NULL;
    char *tok = NULL;
    const char *p = ptr;

    *node_out = NULL;
    if (last_out != NULL)
        *last_out = NULL;
    if (parent_out != NULL)
        *parent_out = NULL;
    if (*p == '\0') {
        *node_out = node;
        return OG_OK;
    }
    if (*p != '/')
        return OG_OK;
    while (*p == '/') {
        const char *end = strchr(p + 1, '/');
        size_t raw = end != NULL ? (size_t)(end - p - 1) : strlen(p + 1);
        size_t n = 0;

        free(tok);
        tok = malloc(raw + 1);
        if (tok == NULL)
            return OG_ENOMEM;
        /* Unescape "~1" to "/" and "~0" to "~" (RFC 6901 section 4, in that order). */
        for (size_t i = 0; i < raw; i++) {
            char c = p[1 + i];

            if (c == '~') {
                if (i + 1 >= raw || (p[2 + i] != '0' && p[2 + i] != '1')) {
                    free(tok);
                    return OG_OK;
                }
                c = p[2 + i] == '0' ? '~' : '/';
                i++;
            }
            tok[n++] = c;
        }
        tok[n] = '\0';
        p += 1 + raw;
        parent = node;
        if (cJSON_IsObject(node)) {
            node = cJSON_GetObjectItemCaseSensitive(node, tok);
        } else if (cJSON_IsArray(node)) {
            char *end_num = NULL;
            long long idx;

            node = NULL;
            if (tok[0] >= '0' && tok[0] <= '9' && (tok[0] != '0' || tok[1] == '\0')) {
                errno = 0;
                idx = strtoll(tok, &end_num, 10);
                if (errno == 0 && *end_num == '\0' && idx <= (long long)INT32_MAX)
                    node = cJSON_GetArrayItem(parent, (int)idx);
            }
        } else {
            node = NULL;
        }
        if (*p == '/' && node == NULL) {
            parent = NULL;
            break;
        }
    }
    *node_out = node;
    if (parent_out != NULL)
        *parent_out = parent;
    if (last_out != NULL)
        *last_out = tok;
    else
        free(tok);
    return OG_OK;
}

cJSON *og_json_pointer_get(const cJSON *doc, const char *ptr)
{
    cJSON *node = NULL;

    return resolve(doc, ptr, &node, NULL, NULL) == OG_OK ? node : NULL;
}

enum og_err og_json_pointer_escape(struct og_str segment, struct og_buf *out)
{
    enum og_err rc = OG_OK;

    for (size_t i = 0; rc == OG_OK && i < segment.len; i++) {
        char c = segment.ptr[i];

        if (c == '~')
            rc = og_buf_append(out, "~0", 2);
        else if (c == '/')
            rc = og_buf_append(out, "~1", 2);
        else
            rc = og_buf_append(out, &c, 1);
    }
    return rc;
}

enum og_err og_patch_set_string(struct og_patch *patch, const cJSON *doc, const char *path,
                                const char *value)
{
    cJSON *parent = NULL, *node = NULL;
    enum og_err rc = resolve(doc, path, &node, &parent, NULL);

    if (rc != OG_OK)
        return rc;
    if (node != NULL && path[0] != '\0')
        return og_patch_push(patch, OG_PATCH_REPLACE, path, value);
    if (parent == NULL || !cJSON_IsObject(parent))
        return OG_ENOTFOUND;
    return og_patch_push(patch, OG_PATCH_ADD, path, value);
}

enum og_err og_patch_remove_if_present(struct og_patch *patch, const cJSON *doc, const char *path)
{
    cJSON *node = NULL;
    enum og_err rc = resolve(doc, path, &node, NULL, NULL);

    if (rc != OG_OK || path[0] == '\0' || node == NULL)
        return rc;
    return og_patch_push(patch, OG_PATCH_REMOVE, path, NULL);
}

/* ---- application (RFC 6902 section 4) ---- */

/* Index of `tok` in `arr` for add ("-" is the end) or other ops; -1 when invalid. */
static int array_index(const cJSON *arr, const char *tok, int for_add)
{
    int size = cJSON_GetArraySize(arr);
    char *end = NULL;
    long long idx;

    if (for_add && strcmp(tok, "-") == 0)
        return size;
    if (tok[0] < '0' || tok[0] > '9' || (tok[0] == '0' && tok[1] != '\0'))
        return -1;
    errno = 0;
    idx = strtoll(tok, &end, 10);
    if (errno != 0 || *end != '\0' || idx > size || (!for_add && idx == size))
        return -1;
    return (int)idx;
}

/* Detaches the node at `path` into `*out`; OG_ENOTFOUND when it does not exist or is the root. */
static enum og_err detach(cJSON *doc, const char *path, cJSON **out)
{
    cJSON *parent = NULL, *node = NULL;
    char *last = NULL;
    enum og_err rc;

    *out = NULL;
    rc = resolve(doc, path, &node, &parent, &last);
    if (rc == OG_OK && (node == NULL || parent == NULL || path[0] == '\0'))
        rc = OG_ENOTFOUND;
    if (rc == OG_OK && cJSON_IsObject(parent))
        *out = cJSON_DetachItemFromObjectCaseSensitive(parent, last);
    else if (rc == OG_OK)
        *out = cJSON_DetachItemFromArray(parent, array_index(parent, last, 0));
    free(last);
    return rc;
}

/*
 * Inserts `value` before item `idx` of `arr` (at the end when idx is the size). Debian's
 * cJSON 1.7.15 (with its CVE backports) refuses cJSON_InsertItemInArray in the middle of an
 * array, so the tail is moved out and appended back after the new item.
 */
static enum og_err array_insert(cJSON *arr, int idx, cJSON *value)
{
    cJSON *tail = NULL;
    int size = cJSON_GetArraySize(arr);

    if (idx < size) {
        tail = cJSON_CreateArray();
        if (tail == NULL)
            return OG_ENOMEM;
        for (int i = idx; i < size; i++)
            cJSON_AddItemToArray(tail, cJSON_DetachItemFromArray(arr, idx));
    }
    cJSON_AddItemToArray(arr, value);
    for (int i = idx; tail != NULL && i < size; i++)
        cJSON_AddItemToArray(arr, cJSON_DetachItemFromArray(tail, 0));
    cJSON_Delete(tail);
    return OG_OK;
}

/*
 * Puts `value` at `path` (taking it on success): an object member is added or replaced; an
 * array item is inserted before `path`'s index, or with `replace` takes that item's place.
 */
static enum og_err insert(cJSON *doc, const char *path, cJSON *value, bool replace)
{
    cJSON *parent = NULL, *node = NULL;
    char *last = NULL;
    enum og_err rc = resolve(doc, path, &node, &parent, &last);

    if (rc != OG_OK)
        goto out;
    rc = OG_ENOTFOUND;
    if (parent == NULL || last == NULL)
        goto out;
    if (cJSON_IsObject(parent)) {
        if (cJSON_GetObjectItemCaseSensitive(parent, last) != NULL)
            rc = cJSON_ReplaceItemInObjectCaseSensitive(parent, last, value) ? OG_OK : OG_ENOMEM;
        else
            rc = cJSON_AddItemToObject(parent, last, value) ? OG_OK : OG_ENOMEM;
    } else if (cJSON_IsArray(parent)) {
        int idx = array_index(parent, last, 1);

        if (idx < 0 || (replace && node == NULL))
            goto out;
        if (replace)
            cJSON_Delete(cJSON_DetachItemFromArray(parent, idx));
        rc = array_insert(parent, idx, value);
    }
out:
    free(last);
    return rc;
}

static enum og_err apply_op(cJSON *doc, const cJSON *op, size_t i, struct og_diag *diag)
{
    const cJSON *jop = cJSON_GetObjectItemCaseSensitive(op, "op");
    const cJSON *jpath = cJSON_GetObjectItemCaseSensitive(op, "path");
    const cJSON *jfrom = cJSON_GetObjectItemCaseSensitive(op, "from");
    const cJSON *jvalue = cJSON_GetObjectItemCaseSensitive(op, "value");
    const char *name, *path;
    cJSON *node = NULL;
    enum og_err rc;

    if (!cJSON_IsString(jop) || !cJSON_IsString(jpath))
        return og_diag_set(diag, OG_EPARSE, "operation %zu: needs string \"op\" and \"path\"", i);
    name = jop->valuestring;
    path = jpath->valuestring;
    if (path[0] != '\0' && path[0] != '/')
        return og_diag_set(diag, OG_EPARSE, "operation %zu: path \"%s\" is not a JSON Pointer", i,
                           path);
    if (strcmp(name, "add") == 0 || strcmp(name, "replace") == 0 || strcmp(name, "test") == 0) {
        if (jvalue == NULL)
            return og_diag_set(diag, OG_EPARSE, "operation %zu: %s needs \"value\"", i, name);
    } else if (strcmp(name, "move") == 0 || strcmp(name, "copy") == 0) {
        if (!cJSON_IsString(jfrom))
            return og_diag_set(diag, OG_EPARSE, "operation %zu: %s needs \"from\"", i, name);
    } else if (strcmp(name, "remove") != 0) {
        return og_diag_set(diag, OG_EPARSE, "operation %zu: unknown op \"%s\"", i, name);
    }
    if (path[0] == '\0' && strcmp(name, "test") != 0)
        return og_diag_set(diag, OG_EINVAL, "operation %zu: %s of the whole document", i, name);

    if (strcmp(name, "test") == 0 || strcmp(name, "remove") == 0 || strcmp(name, "replace") == 0) {
        rc = resolve(doc, path, &node, NULL, NULL);
        if (rc != OG_OK)
            return rc;
        if (node == NULL && strcmp(name, "test") != 0)
            return og_diag_set(diag, OG_ENOTFOUND, "operation %zu: \"%s\" does not exist", i, path);
        if (strcmp(name, "test") == 0) {
            if (node == NULL || !cJSON_Compare(node, jvalue, 1))
                return og_diag_set(diag, OG_EINVAL, "operation %zu: test of \"%s\" failed", i,
                                   path);
            return OG_OK;
        }
        if (strcmp(name, "remove") == 0) {
            rc = detach(doc, path, &node);
            cJSON_Delete(node);
            return rc;
        }
    }
    if (strcmp(name, "move") == 0) {
        size_t flen = strlen(jfrom->valuestring);

        if (strncmp(path, jfrom->valuestring, flen) == 0 && path[flen] == '/')
            return og_diag_set(diag, OG_EINVAL, "operation %zu: move into its own child", i);
        rc = detach(doc, jfrom->valuestring, &node);
        if (rc == OG_ENOMEM)
            return rc;
    } else if (strcmp(name, "copy") == 0) {
        cJSON *src = NULL;

        rc = resolve(doc, jfrom->valuestring, &src, NULL, NULL);
        if (rc != OG_OK)
            return rc;
        if (src == NULL)
            return og_diag_set(diag, OG_ENOTFOUND, "operation %zu: \"%s\" does not exist", i,
                               jfrom->valuestring);
        node = cJSON_Duplicate(src, 1);
        if (node == NULL)
            return OG_ENOMEM;
    } else {
        node = cJSON_Duplicate(jvalue, 1);
        if (node == NULL)
            return OG_ENOMEM;
    }
    if (node == NULL)
        return og_diag_set(diag, OG_ENOTFOUND, "operation %zu: \"%s\" does not exist", i,
                           jfrom->valuestring);
    rc = insert(doc, path, node, strcmp(name, "replace") == 0);
    if (rc != OG_OK) {
        cJSON_Delete(node);
        if (rc == OG_ENOTFOUND)
            og_diag_set(diag, rc, "operation %zu: parent of \"%s\" does not exist", i, path);
    }
    return rc;
}

enum og_err og_patch_apply(const char *patch, size_t len, cJSON *doc, struct og_diag *diag)
{
    cJSON *ops = cJSON_ParseWithLength(patch, len);
    const cJSON *op;
    size_t i = 0;
    enum og_err rc = OG_OK;

    if (ops == NULL || !cJSON_IsArray(ops)) {
        rc = og_diag_set(diag, OG_EPARSE, "patch is not a JSON array");
        goto out;
    }
    cJSON_ArrayForEach(op, ops)
    {
        if (!cJSON_IsObject(op)) {
            rc = og_diag_set(diag, OG_EPARSE, "operation %zu is not an object", i);
            goto out;
        }
        rc = apply_op(doc, op, i, diag);
        if (rc != OG_OK)
            goto out;
        i++;
    }
out:
    cJSON_Delete(ops);
    return rc;
}
