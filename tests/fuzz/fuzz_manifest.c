/*
 * fuzz_manifest.c - the manifest reader on arbitrary bytes. A stream that parses must give a
 * consistent tree: every node inside the input with its start before its end, its body where
 * its own text begins (a quote, a bracket, a block indicator or the value's first byte),
 * links that agree with counts, objects that are mappings, and every object and document
 * convertible to JSON. A failure always says what and where.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ocigate/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_node(const char *d, size_t size, const struct og_manifest_node *n,
                       const struct og_manifest_node *parent, unsigned depth)
{
    size_t count = 0;

    if (depth > 200 || n->parent != parent)
        abort();
    if (n->start.offset > n->body || n->body > n->end.offset || n->end.offset > size ||
        n->start.line == 0 || n->start.column == 0 || n->end.line < n->start.line)
        abort();
    if (n->type == OG_MANIFEST_SCALAR) {
        char first = n->body < size ? d[n->body] : '\0';

        if (n->value == NULL || n->value[n->len] != '\0')
            abort();
        if ((n->style == OG_MANIFEST_SINGLE_QUOTED &&
             (first != '\'' || d[n->end.offset - 1] != '\'')) ||
            (n->style == OG_MANIFEST_DOUBLE_QUOTED &&
             (first != '"' || d[n->end.offset - 1] != '"')) ||
            (n->style == OG_MANIFEST_LITERAL && first != '|') ||
            (n->style == OG_MANIFEST_FOLDED && first != '>') ||
            (n->style == OG_MANIFEST_PLAIN && n->len > 0 && n->tag == NULL && first != n->value[0]))
            abort();
        if (n->child != NULL || n->count != 0)
            abort();
        return;
    }
    /* A flow collection sits in its brackets, except a single pair in a flow sequence. */
    if (n->style == OG_MANIFEST_FLOW && n->type == OG_MANIFEST_MAPPING && d[n->body] != '{' &&
        (n->count != 1 || parent == NULL || parent->type != OG_MANIFEST_SEQUENCE ||
         parent->style != OG_MANIFEST_FLOW))
        abort();
    if (n->style == OG_MANIFEST_FLOW && (n->type == OG_MANIFEST_SEQUENCE || d[n->body] == '{') &&
        (d[n->body] != (n->type == OG_MANIFEST_MAPPING ? '{' : '[') ||
         d[n->end.offset - 1] != (n->type == OG_MANIFEST_MAPPING ? '}' : ']')))
        abort();
    for (const struct og_manifest_node *c = n->child; c != NULL; c = c->next) {
        count++;
        check_node(d, size, c, n, depth + 1);
        if (n->type == OG_MANIFEST_MAPPING) {
            if (c->type != OG_MANIFEST_SCALAR || c->val == NULL ||
                og_manifest_key(n, (struct og_str){c->value, c->len}) != c)
                abort();
            check_node(d, size, c->val, n, depth + 1);
        } else if (c->val != NULL) {
            abort();
        }
    }
    if (count != n->count)
        abort();
}

static void check_json(const struct og_manifest_node *n)
{
    cJSON *j = NULL;
    char *text;

    if (og_manifest_to_json(n, &j) != OG_OK)
        return; /* only out of memory */
    text = cJSON_PrintUnformatted(j);
    if (text == NULL)
        abort();
    cJSON_free(text);
    cJSON_Delete(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct og_manifest_limits lim = {.max_bytes = 1 << 20, .max_nodes = 20000, .max_depth = 64};
    const char *d = (const char *)data;
    struct og_manifest *m = NULL;
    struct og_diag diag;
    enum og_err rc;

    og_diag_clear(&diag);
    rc = og_manifest_parse(d, size, "fuzz.yaml", &lim, &m, &diag);
    if (rc != OG_OK) {
        if (m != NULL || (rc != OG_ENOMEM && (diag.msg[0] == '\0' || diag.line == 0)))
            abort();
        return 0;
    }
    for (size_t i = 0; i < og_manifest_doc_count(m); i++) {
        const struct og_manifest_doc *doc = og_manifest_doc(m, i);

        if (doc->start.offset > doc->end.offset || doc->end.offset > size)
            abort();
        if (doc->root != NULL) {
            check_node(d, size, doc->root, NULL, 0);
            check_json(doc->root);
        }
    }
    for (size_t i = 0; i < og_manifest_object_count(m); i++) {
        const struct og_manifest_object *o = og_manifest_object(m, i);

        size_t av = o->version.ptr == o->api_version.ptr ? o->version.len
                                                         : o->group.len + 1 + o->version.len;

        if (o->root->type != OG_MANIFEST_MAPPING || o->doc >= og_manifest_doc_count(m) ||
            o->kind.ptr == NULL || av != o->api_version.len)
            abort();
        check_json(o->root);
    }
    og_manifest_free(m);
    return 0;
}
