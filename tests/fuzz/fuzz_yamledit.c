/*
 * fuzz_yamledit.c - the in-place editor on arbitrary manifests. Every object with a `spec`
 * mapping gets the HelmRepository fix (one of a few URLs, some of which need quoting) and a
 * new metadata.name where it has one, and a metadata mapping of three keys or more loses its
 * last key and gets a new one after its first; the edits applied in one pass must give a file that
 * parses, holds the same documents and objects, reads back with exactly the intended changes
 * (objects compared as JSON), keeps the bytes before the first and after the last edit, and
 * needs no edit when fixed again; and the unified diff of the edits (og_yamledit_diff()),
 * applied to the input as patch(1) would, gives the edited file.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ocigate/buf.h"
#include "ocigate/manifest.h"
#include "ocigate/yamledit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const urls[] = {
    "oci://registry.example.com/charts",
    "oci://r.example.com/a,b [x]: #y",
    "oci://h\xc3\xa9/\"q\" 'n'\x01",
    "true",
};
static const char *const names[] = {"renamed", "new: name", "", "l1\nl2"};

#define ADDED_KEY "ocigate.io/added"
#define ADDED_VALUE "x: [y]"

static const struct og_manifest_limits lim = {
    .max_bytes = 1 << 20, .max_nodes = 20000, .max_depth = 64};

/* What an object should read as after the edits: `fixed` and `renamed` say which applied,
 * `removed` names the metadata key that went, `added` says whether ADDED_KEY came. */
static cJSON *expected(const struct og_manifest_object *o, bool fixed, bool renamed,
                       const char *url, const char *name, const char *removed, bool added)
{
    cJSON *j = NULL, *spec, *meta;

    if (og_manifest_to_json(o->root, &j) != OG_OK)
        return NULL;
    if (fixed) {
        spec = cJSON_GetObjectItemCaseSensitive(j, "spec");
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "passCredentials");
        if (cJSON_GetObjectItemCaseSensitive(spec, "url") != NULL)
            cJSON_ReplaceItemInObjectCaseSensitive(spec, "url", cJSON_CreateString(url));
        else
            cJSON_AddStringToObject(spec, "url", url);
        if (cJSON_GetObjectItemCaseSensitive(spec, "type") != NULL)
            cJSON_ReplaceItemInObjectCaseSensitive(spec, "type", cJSON_CreateString("oci"));
        else
            cJSON_AddStringToObject(spec, "type", "oci");
    }
    meta = cJSON_GetObjectItemCaseSensitive(j, "metadata");
    if (renamed)
        cJSON_ReplaceItemInObjectCaseSensitive(meta, "name", cJSON_CreateString(name));
    if (removed != NULL)
        cJSON_DeleteItemFromObjectCaseSensitive(meta, removed);
    if (added)
        cJSON_AddStringToObject(meta, ADDED_KEY, ADDED_VALUE);
    return j;
}

/*
 * In a metadata mapping of three keys or more: removes the last key unless it is the name,
 * and inserts ADDED_KEY after the first key unless the mapping holds it already.
 */
static void meta_edits(struct og_yamledit *e, const char *d, size_t size,
                       const struct og_manifest_node *meta, const char **removed, bool *added)
{
    const struct og_manifest_node *last;
    size_t before = e->n;

    if (meta == NULL || meta->type != OG_MANIFEST_MAPPING || meta->count < 3 ||
        og_manifest_key(meta, OG_STR_LIT(ADDED_KEY)) != NULL)
        return;
    for (last = meta->child; last->next != NULL; last = last->next)
        ;
    if (!og_str_eq_lit((struct og_str){last->value, last->len}, "name") &&
        memchr(last->value, '\0', last->len) == NULL) {
        if (og_yamledit_remove(e, d, size, meta, last) == OG_OK)
            *removed = last->value;
        else if (e->n != before)
            abort();
    }
    before = e->n;
    *added = og_yamledit_insert(e, d, size, meta, meta->child, OG_STR_LIT(ADDED_KEY),
                                OG_STR_LIT(ADDED_VALUE)) == OG_OK;
    if (!*added && e->n != before)
        abort();
}

/* The next line of [*p, end) with its line break, or NULL at the end. */
static const char *next_line(const char **p, const char *end, size_t *len)
{
    const char *start = *p, *nl;

    if (start >= end)
        return NULL;
    nl = memchr(start, '\n', (size_t)(end - start));
    *p = nl != NULL ? nl + 1 : end;
    *len = (size_t)(*p - start);
    return start;
}

/* Reads "-a,b" or "-a" at *p into the 0-based index of the first line and the count. */
static int hunk_range(const char **p, size_t *first, size_t *count)
{
    char *end;
    unsigned long long a = strtoull(*p + 1, &end, 10), b = 1;

    if (*end == ',')
        b = strtoull(end + 1, &end, 10);
    *p = end;
    *first = b == 0 ? (size_t)a : (size_t)a - 1;
    *count = (size_t)b;
    return 0;
}

/* Applies the unified diff `diff` to `old` into `out` (patch(1) on one file); aborts on a
 * line that does not match or a hunk count that is wrong. */
static void apply_diff(const char *old, size_t old_len, const struct og_buf *diff,
                       struct og_buf *out)
{
    const char *p = diff->ptr, *end = diff->ptr + diff->len, *op = old, *oend = old + old_len;
    const char *line, *ol = NULL;
    size_t len, olen = 0, at = 0;

    /* Two header lines. */
    if (next_line(&p, end, &len) == NULL || next_line(&p, end, &len) == NULL)
        abort();
    line = next_line(&p, end, &len);
    while (line != NULL) {
        size_t first, n_old, n_new, seen_old = 0, seen_new = 0;
        const char *h = line + 3;

        if (len < 4 || memcmp(line, "@@ -", 4) != 0)
            abort();
        hunk_range(&h, &first, &n_old);
        h++;
        hunk_range(&h, &(size_t){0}, &n_new);
        for (; at < first; at++) {
            ol = next_line(&op, oend, &olen);
            if (ol == NULL || og_buf_append(out, ol, olen) != OG_OK)
                abort();
        }
        line = next_line(&p, end, &len);
        while (line != NULL && line[0] != '@') {
            char kind = line[0];
            const char *text = line + 1;
            size_t tlen = len - 1;
            const char *peek = p;
            size_t plen;
            const char *mark = next_line(&peek, end, &plen);

            /* "\ No newline at end of file": the line had no break. */
            if (mark != NULL && mark[0] == '\\') {
                tlen--;
                p = peek;
            }
            if (kind == ' ' || kind == '-') {
                ol = next_line(&op, oend, &olen);
                if (ol == NULL || olen != tlen || memcmp(ol, text, tlen) != 0)
                    abort();
                at++;
                seen_old++;
            }
            if (kind == ' ' || kind == '+') {
                if (og_buf_append(out, text, tlen) != OG_OK)
                    abort();
                seen_new++;
            }
            if (kind != ' ' && kind != '-' && kind != '+')
                abort();
            line = next_line(&p, end, &len);
        }
        if (seen_old != n_old || seen_new != n_new)
            abort();
    }
    if (og_buf_append(out, op, (size_t)(oend - op)) != OG_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *d = (const char *)data, *url, *name;
    struct og_manifest *m = NULL, *m2 = NULL;
    struct og_yamledit e, e2;
    struct og_diag diag;
    struct og_buf out;
    bool *fixed = NULL, *renamed = NULL, *added = NULL;
    const char **removed = NULL;
    size_t n;

    if (size < 1)
        return 0;
    url = urls[data[0] & 3];
    name = names[(data[0] >> 2) & 3];
    if (og_manifest_parse(d, size, "fuzz.yaml", &lim, &m, &diag) != OG_OK)
        return 0;
    n = og_manifest_object_count(m);
    fixed = calloc(n + 1, sizeof(*fixed));
    renamed = calloc(n + 1, sizeof(*renamed));
    added = calloc(n + 1, sizeof(*added));
    removed = calloc(n + 1, sizeof(*removed));
    og_yamledit_init(&e);
    og_yamledit_init(&e2);
    og_buf_init(&out, 4u << 20);
    if (fixed == NULL || renamed == NULL || added == NULL || removed == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const struct og_manifest_object *o = og_manifest_object(m, i);
        const struct og_manifest_node *nm = og_manifest_path(o->root, "metadata.name");
        size_t before = e.n;

        fixed[i] = og_yamledit_fix_helmrepo(&e, d, size, o, og_str_of(url)) == OG_OK;
        if (!fixed[i] && e.n != before)
            abort();
        /* A name inside a flow mapping whose spec was edited could share bytes: skip. */
        if (nm != NULL && nm->type == OG_MANIFEST_SCALAR) {
            before = e.n;
            renamed[i] = og_yamledit_set(&e, d, size, nm, og_str_of(name)) == OG_OK;
            if (!renamed[i] && e.n != before)
                abort();
        }
        meta_edits(&e, d, size, og_manifest_get(o->root, OG_STR_LIT("metadata")), &removed[i],
                   &added[i]);
    }
    if (og_yamledit_apply(&e, d, size, &out) != OG_OK) {
        /* Only out of memory; edits never overlap. */
        if (e.msg[0] != '\0')
            abort();
        goto out;
    }
    if (e.n > 0 && (memcmp(out.ptr, d, e.ops[0].start) != 0 ||
                    memcmp(out.ptr + out.len - (size - e.ops[e.n - 1].end), d + e.ops[e.n - 1].end,
                           size - e.ops[e.n - 1].end) != 0))
        abort();
    if (e.n > 0) {
        struct og_buf diff, patched;

        og_buf_init(&diff, 64u << 20);
        og_buf_init(&patched, 4u << 20);
        if (og_yamledit_diff(&e, d, size, out.ptr, out.len, "f", &diff) == OG_OK) {
            apply_diff(d, size, &diff, &patched);
            if (patched.len != out.len || memcmp(patched.ptr, out.ptr, out.len) != 0)
                abort();
        }
        og_buf_cleanup(&diff);
        og_buf_cleanup(&patched);
    }
    if (og_manifest_parse(out.ptr, out.len, "fixed.yaml", &lim, &m2, &diag) != OG_OK) {
        if (diag.msg[0] == '\0')
            goto out; /* out of memory */
        abort();
    }
    if (og_manifest_doc_count(m2) != og_manifest_doc_count(m) || og_manifest_object_count(m2) != n)
        abort();
    for (size_t i = 0; i < n; i++) {
        const struct og_manifest_object *o2 = og_manifest_object(m2, i);
        cJSON *want = expected(og_manifest_object(m, i), fixed[i], renamed[i], url, name,
                               removed[i], added[i]);
        cJSON *got = NULL;
        size_t before = e2.n;

        if (want != NULL && og_manifest_to_json(o2->root, &got) == OG_OK &&
            !cJSON_Compare(want, got, true))
            abort();
        cJSON_Delete(want);
        cJSON_Delete(got);
        if (fixed[i] &&
            (og_yamledit_fix_helmrepo(&e2, out.ptr, out.len, o2, og_str_of(url)) != OG_OK ||
             e2.n != before))
            abort();
    }
out:
    og_buf_cleanup(&out);
    og_yamledit_cleanup(&e);
    og_yamledit_cleanup(&e2);
    og_manifest_free(m);
    og_manifest_free(m2);
    free(fixed);
    free(renamed);
    free(added);
    free(removed);
    return 0;
}
