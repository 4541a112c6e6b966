/*
 * config_load.c - the YAML configuration loader: one walk over a libyaml document, driven by
 * the key table of config.c. Every error names file, line, column and the key path.
 */
#include "ocigate/config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config_int.h"
#include "manifest_int.h"

struct loader {
    yaml_document_t *doc;
    struct og_diag *diag;
    const char *name;
    struct og_config *cfg;
};

static enum og_err fail_at(struct loader *ld, const yaml_node_t *node, const char *where,
                           enum og_err rc, const char *fmt, ...) OG_PRINTF(5, 6);

static void diag_begin(struct og_diag *diag, const char *name, unsigned line, unsigned column,
                       const char *where)
{
    size_t len;

    og_diag_clear(diag);
    if (diag == NULL)
        return;
    if (name != NULL) {
        len = strlen(name);
        if (len >= sizeof(diag->file))
            len = sizeof(diag->file) - 1;
        memcpy(diag->file, name, len);
        diag->file[len] = '\0';
    }
    og_diag_at(diag, line, column);
    og_diag_where(diag, where);
}

static enum og_err fail_at(struct loader *ld, const yaml_node_t *node, const char *where,
                           enum og_err rc, const char *fmt, ...)
{
    va_list ap;

    diag_begin(ld->diag, ld->name, node != NULL ? (unsigned)node->start_mark.line + 1 : 0,
               node != NULL ? (unsigned)node->start_mark.column + 1 : 0, where);
    if (ld->diag != NULL) {
        va_start(ap, fmt);
        /* A truncated message is still a useful message. */
        (void)vsnprintf(ld->diag->msg, sizeof(ld->diag->msg), fmt, ap);
        va_end(ap);
    }
    return rc;
}

static const char *kind_name(const yaml_node_t *node)
{
    switch (node->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_SCALAR_NODE:
        return "a scalar";
    case YAML_NO_NODE:
        break;
    }
    return "nothing";
}

static const char *type_name(enum og__key_type type)
{
    switch (type) {
    case OG__KEY_SECTION:
    case OG__KEY_OBJLIST:
        return "a mapping";
    case OG__KEY_LIST:
        return "a list";
    case OG__KEY_BOOL:
        return "a boolean";
    case OG__KEY_UINT:
        return "a number";
    case OG__KEY_SIZE:
        return "a size";
    case OG__KEY_DURATION:
        return "a duration";
    case OG__KEY_ENUM:
    case OG__KEY_GLOB:
    case OG__KEY_HTTP_URL:
    case OG__KEY_OCI_URL:
    case OG__KEY_HOST:
    case OG__KEY_CIDR:
        break;
    }
    return "a string";
}

/* A plain "", "~" or "null" is YAML's null: `key:` with nothing after it. */
static bool is_null(const yaml_node_t *node)
{
    const char *v;
    size_t len;

    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    v = (const char *)node->data.scalar.value;
    len = node->data.scalar.length;
    return len == 0 || (len == 1 && v[0] == '~') ||
           (len == 4 &&
            (memcmp(v, "null", 4) == 0 || memcmp(v, "Null", 4) == 0 || memcmp(v, "NULL", 4) == 0));
}

static void path_join(char *out, size_t size, const char *prefix, const char *key, size_t len)
{
    size_t o = 0;
    int n = snprintf(out, size, "%s%s", prefix, prefix[0] != '\0' ? "." : "");

    if (n < 0 || (size_t)n >= size)
        return;
    o = (size_t)n;
    /* Keys come from the file: keep the path one printable line. */
    for (size_t i = 0; i < len && o + 1 < size; i++) {
        unsigned char c = (unsigned char)key[i];
        out[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    out[o] = '\0';
}

/* Keys that differ only in case, '-' or '_' from a known key get a "did you mean". */
static bool loosely_equal(const char *a, const char *b, size_t blen)
{
    size_t i = 0, j = 0;

    for (;;) {
        while (a[i] == '-' || a[i] == '_')
            i++;
        while (j < blen && (b[j] == '-' || b[j] == '_'))
            j++;
        if (a[i] == '\0' || j == blen)
            return a[i] == '\0' && j == blen;
        if (og_ascii_lower(a[i]) != og_ascii_lower(b[j]))
            return false;
        i++;
        j++;
    }
}

static const struct og__key *find_child(const char *parent, const char *name, size_t len,
                                        const struct og__key **near)
{
    for (const struct og__key *k = og__config_keys; k->path != NULL; k++) {
        const char *kn;

        if (!og__config_key_is_child(k, parent))
            continue;
        kn = og__config_key_name(k);
        if (strlen(kn) == len && memcmp(kn, name, len) == 0)
            return k;
        if (*near == NULL && loosely_equal(kn, name, len))
            *near = k;
    }
    return NULL;
}

static enum og_err walk_map(struct loader *ld, const yaml_node_t *map, const char *tparent,
                            const char *dparent, void *base);

/* "namespaces[2]": the path of a list item. A path cut short still locates the error. */
static void index_path(char *out, size_t size, const char *where, size_t i)
{
    int n = snprintf(out, size, "%s[%zu]", where, i);

    if (n < 0 || (size_t)n >= size)
        out[size - 1] = '\0';
}

static enum og_err scalar_value(struct loader *ld, const struct og__key *key,
                                enum og__key_type type, const yaml_node_t *node, const char *where,
                                uint64_t *v, char **str)
{
    char msg[sizeof(((struct og_diag *)0)->msg)];
    enum og_err rc;

    if (node->type != YAML_SCALAR_NODE)
        return fail_at(ld, node, where, OG_EINVAL, "expected %s, got %s", type_name(type),
                       kind_name(node));
    if (is_null(node))
        return fail_at(ld, node, where, OG_EINVAL, "expected %s, got nothing (null)",
                       type_name(type));
    if ((type == OG__KEY_BOOL || type == OG__KEY_UINT) &&
        node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return fail_at(ld, node, where, OG_EINVAL, "expected %s, got a quoted string",
                       type_name(type));
    rc = og__config_scalar_parse(key, type, (const char *)node->data.scalar.value,
                                 node->data.scalar.length, v, str, msg, sizeof(msg));
    if (rc == OG_EINVAL)
        return fail_at(ld, node, where, rc, "%s", msg);
    return rc;
}

static enum og_err set_scalar(struct loader *ld, const struct og__key *key, const yaml_node_t *node,
                              const char *where, void *base)
{
    uint64_t v = 0;
    char *str = NULL;
    enum og_err rc = scalar_value(ld, key, key->type, node, where, &v, &str);

    if (rc != OG_OK)
        return rc;
    if (og__config_type_is_string(key->type)) {
        char **slot = (char **)((char *)base + key->off);

        free(*slot);
        *slot = str;
    } else {
        og__config_set_num(key, base, v);
    }
    return OG_OK;
}

/* The number of items of a list value, within the row's limit. */
static enum og_err list_length(struct loader *ld, const struct og__key *key,
                               const yaml_node_t *node, const char *where, size_t *n)
{
    char msg[sizeof(((struct og_diag *)0)->msg)];

    if (node->type != YAML_SEQUENCE_NODE)
        return fail_at(ld, node, where, OG_EINVAL, "expected a list, got %s", kind_name(node));
    *n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    if (og__config_list_limit(key, *n, msg, sizeof(msg)) != OG_OK)
        return fail_at(ld, node, where, OG_EINVAL, "%s", msg);
    return OG_OK;
}

static enum og_err set_list(struct loader *ld, const struct og__key *key, const yaml_node_t *node,
                            const char *where, void *base)
{
    char ***slot = (char ***)((char *)base + key->off);
    size_t *count = (size_t *)((char *)base + key->n_off);
    char **items = NULL;
    size_t n = 0, want = 0;
    enum og_err rc = OG_OK;

    if (!is_null(node)) {
        rc = list_length(ld, key, node, where, &want);
        if (rc != OG_OK)
            return rc;
        items = calloc(want > 0 ? want : 1, sizeof(*items));
        if (items == NULL)
            return OG_ENOMEM;
        for (; n < want; n++) {
            const yaml_node_t *item =
                yaml_document_get_node(ld->doc, node->data.sequence.items.start[n]);
            char iwhere[sizeof(((struct og_diag *)0)->where)];
            uint64_t unused;

            index_path(iwhere, sizeof(iwhere), where, n);
            rc = scalar_value(ld, key, key->item, item, iwhere, &unused, &items[n]);
            if (rc != OG_OK)
                goto out;
        }
    }
    og__config_free_strv(*slot, *count);
    *slot = items;
    *count = n;
    items = NULL;
out:
    og__config_free_strv(items, n);
    return rc;
}

static bool map_has(struct loader *ld, const yaml_node_t *map, const char *name)
{
    size_t len = strlen(name);

    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);

        if (k != NULL && k->type == YAML_SCALAR_NODE && k->data.scalar.length == len &&
            memcmp(k->data.scalar.value, name, len) == 0)
            return true;
    }
    return false;
}

static enum og_err set_objlist(struct loader *ld, const struct og__key *key,
                               const yaml_node_t *node, const char *where, void *base)
{
    char **slot = (char **)((char *)base + key->off);
    size_t *count = (size_t *)((char *)base + key->n_off);
    char tparent[64];
    size_t want = 0, have = *count;
    enum og_err rc;
    char *arr;
    int w;

    if (is_null(node))
        return OG_OK;
    rc = list_length(ld, key, node, where, &want);
    if (rc != OG_OK || want == 0)
        return rc;
    /* Items are appended after what is there (the built-in migrations); hooks merge them. */
    arr = realloc(*slot, (have + want) * key->size);
    if (arr == NULL)
        return OG_ENOMEM;
    *slot = arr;
    w = snprintf(tparent, sizeof(tparent), "%s[]", key->path);
    (void)w; /* table paths are short */
    for (size_t i = 0; i < want; i++) {
        const yaml_node_t *item =
            yaml_document_get_node(ld->doc, node->data.sequence.items.start[i]);
        char iwhere[sizeof(((struct og_diag *)0)->where)];
        char msg[sizeof(((struct og_diag *)0)->msg)];
        void *elem = arr + *count * key->size;

        index_path(iwhere, sizeof(iwhere), where, i);
        if (item->type != YAML_MAPPING_NODE)
            return fail_at(ld, item, iwhere, OG_EINVAL, "expected a mapping, got %s",
                           kind_name(item));
        /* Counted before it is filled, so that a failure frees what it holds so far. */
        memset(elem, 0, key->size);
        (*count)++;
        for (const struct og__key *k = og__config_keys; k->path != NULL; k++) {
            uint64_t v = 0;

            if (!og__config_key_is_child(k, tparent))
                continue;
            if (k->required && !map_has(ld, item, og__config_key_name(k)))
                return fail_at(ld, item, iwhere, OG_EINVAL, "missing key \"%s\"",
                               og__config_key_name(k));
            if (k->def == NULL)
                continue;
            rc = og__config_scalar_parse(k, k->type, k->def, strlen(k->def), &v, NULL, msg,
                                         sizeof(msg));
            if (rc != OG_OK)
                return rc;
            og__config_set_num(k, elem, v);
        }
        rc = walk_map(ld, item, tparent, iwhere, elem);
        if (rc != OG_OK)
            return rc;
        if (key->item_done != NULL) {
            rc = key->item_done(ld->cfg, *count - 1, (unsigned)item->start_mark.line + 1, msg,
                                sizeof(msg));
            if (rc == OG_EINVAL)
                return fail_at(ld, item, iwhere, rc, "%s", msg);
            if (rc != OG_OK)
                return rc;
        }
    }
    return OG_OK;
}

static enum og_err set_value(struct loader *ld, const struct og__key *key, const yaml_node_t *node,
                             const char *where, void *base)
{
    switch (key->type) {
    case OG__KEY_SECTION:
        if (is_null(node))
            return OG_OK;
        if (node->type != YAML_MAPPING_NODE)
            return fail_at(ld, node, where, OG_EINVAL, "expected a mapping, got %s",
                           kind_name(node));
        return walk_map(ld, node, key->path, where, base);
    case OG__KEY_LIST:
        return set_list(ld, key, node, where, base);
    case OG__KEY_OBJLIST:
        return set_objlist(ld, key, node, where, base);
    default:
        return set_scalar(ld, key, node, where, base);
    }
}

static enum og_err walk_map(struct loader *ld, const yaml_node_t *map, const char *tparent,
                            const char *dparent, void *base)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(ld->doc, p->value);
        const struct og__key *key, *near = NULL;
        char where[sizeof(((struct og_diag *)0)->where)];
        const char *name;
        size_t len;
        enum og_err rc;

        if (k->type != YAML_SCALAR_NODE)
            return fail_at(ld, k, dparent, OG_EINVAL, "expected a key name, got %s", kind_name(k));
        name = (const char *)k->data.scalar.value;
        len = k->data.scalar.length;
        path_join(where, sizeof(where), dparent, name, len);
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            const yaml_node_t *prev = yaml_document_get_node(ld->doc, q->key);

            if (prev->type == YAML_SCALAR_NODE && prev->data.scalar.length == len &&
                memcmp(prev->data.scalar.value, name, len) == 0)
                return fail_at(ld, k, where, OG_EINVAL, "duplicate key (first at line %u)",
                               (unsigned)prev->start_mark.line + 1);
        }
        key = memchr(name, '\0', len) == NULL ? find_child(tparent, name, len, &near) : NULL;
        if (key == NULL && near != NULL)
            return fail_at(ld, k, where, OG_EINVAL, "unknown key (did you mean \"%s\"?)",
                           og__config_key_name(near));
        if (key == NULL)
            return fail_at(ld, k, where, OG_EINVAL, "unknown key");
        rc = set_value(ld, key, v, where, base);
        if (rc != OG_OK)
            return rc;
    }
    return OG_OK;
}

static enum og_err parser_error(struct loader *ld, const yaml_parser_t *parser, const char *data,
                                size_t len)
{
    unsigned line, column;
    char msg[sizeof(ld->diag->msg)];
    enum og_err rc = og__manifest_parser_error(parser, (struct og_str){data, len}, &line, &column,
                                               msg, sizeof(msg));

    if (rc != OG_EPARSE)
        return rc;
    diag_begin(ld->diag, ld->name, line, column, NULL);
    return og_diag_set(ld->diag, rc, "%s", msg);
}

/*
 * Building the document from parser events. libyaml's own loader (yaml_parser_load) leaks
 * when an allocation fails midway, so the tree is built here with the document API's
 * add/append calls, which clean up after themselves, and the nodes get the events' marks.
 */
struct frame {
    int id;  /* the open sequence or mapping */
    int key; /* a mapping's key waiting for its value, or 0 */
};

struct anchor {
    char *name;
    int id;
};

struct builder {
    yaml_document_t *doc;
    struct frame *frames;
    size_t n_frames, cap_frames;
    struct anchor *anchors;
    size_t n_anchors, cap_anchors;
};

/* Puts node `id` in its parent: the open sequence, or the open mapping as key or value. */
static bool attach(struct builder *b, int id)
{
    struct frame *top;

    if (b->n_frames == 0)
        return true; /* the root: the first node added */
    top = &b->frames[b->n_frames - 1];
    if (yaml_document_get_node(b->doc, top->id)->type == YAML_SEQUENCE_NODE)
        return yaml_document_append_sequence_item(b->doc, top->id, id) != 0;
    if (top->key == 0) {
        top->key = id;
        return true;
    }
    if (!yaml_document_append_mapping_pair(b->doc, top->id, top->key, id))
        return false;
    top->key = 0;
    return true;
}

/* Records the anchor of a new node; the event keeps its own copy of the name. */
static bool add_anchor(struct builder *b, const yaml_char_t *name, int id)
{
    struct anchor *arr;
    char *copy;

    if (name == NULL)
        return true;
    arr =
        og_array_grow(b->anchors, &b->cap_anchors, b->n_anchors, sizeof(*b->anchors), 16, SIZE_MAX);
    if (arr == NULL)
        return false;
    b->anchors = arr;
    copy = strdup((const char *)name);
    if (copy == NULL)
        return false;
    b->anchors[b->n_anchors].name = copy;
    b->anchors[b->n_anchors].id = id;
    b->n_anchors++;
    return true;
}

/* Adds the node an event opens or is; returns its id, 0 when out of memory. */
static int add_node(struct builder *b, const yaml_event_t *ev)
{
    const yaml_char_t *anchor = NULL;
    int id = 0;

    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        id = yaml_document_add_scalar(b->doc, NULL, ev->data.scalar.value,
                                      (int)ev->data.scalar.length, ev->data.scalar.style);
        anchor = ev->data.scalar.anchor;
        break;
    case YAML_SEQUENCE_START_EVENT:
        id = yaml_document_add_sequence(b->doc, NULL, ev->data.sequence_start.style);
        anchor = ev->data.sequence_start.anchor;
        break;
    case YAML_MAPPING_START_EVENT:
        id = yaml_document_add_mapping(b->doc, NULL, ev->data.mapping_start.style);
        anchor = ev->data.mapping_start.anchor;
        break;
    default:
        break;
    }
    if (id == 0)
        return 0;
    yaml_document_get_node(b->doc, id)->start_mark = ev->start_mark;
    if (!add_anchor(b, anchor, id) || !attach(b, id))
        return 0;
    return id;
}

/* The node of the latest anchor named `name` (YAML lets later anchors shadow), or 0. */
static int find_anchor(const struct builder *b, const yaml_char_t *name)
{
    for (size_t i = b->n_anchors; i > 0; i--) {
        if (strcmp(b->anchors[i - 1].name, (const char *)name) == 0)
            return b->anchors[i - 1].id;
    }
    return 0;
}

/* Handles one event; OG_OK, OG_ENOMEM, or OG_EPARSE (a second document, an unknown alias). */
static enum og_err build_event(struct loader *ld, struct builder *b, const yaml_event_t *ev,
                               unsigned *docs)
{
    struct frame *frames;
    int id;

    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++*docs > 1) {
            diag_begin(ld->diag, ld->name, (unsigned)ev->start_mark.line + 1,
                       (unsigned)ev->start_mark.column + 1, NULL);
            return og_diag_set(ld->diag, OG_EPARSE, "more than one YAML document");
        }
        return OG_OK;
    case YAML_SCALAR_EVENT:
        return add_node(b, ev) != 0 ? OG_OK : OG_ENOMEM;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        frames =
            og_array_grow(b->frames, &b->cap_frames, b->n_frames, sizeof(*b->frames), 16, SIZE_MAX);
        if (frames == NULL)
            return OG_ENOMEM;
        b->frames = frames;
        id = add_node(b, ev);
        if (id == 0)
            return OG_ENOMEM;
        b->frames[b->n_frames].id = id;
        b->frames[b->n_frames].key = 0;
        b->n_frames++;
        return OG_OK;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        b->n_frames--;
        return OG_OK;
    case YAML_ALIAS_EVENT:
        id = find_anchor(b, ev->data.alias.anchor);
        if (id == 0) {
            diag_begin(ld->diag, ld->name, (unsigned)ev->start_mark.line + 1,
                       (unsigned)ev->start_mark.column + 1, NULL);
            return og_diag_set(ld->diag, OG_EPARSE, "invalid YAML: undefined alias \"%.64s\"",
                               (const char *)ev->data.alias.anchor);
        }
        return attach(b, id) ? OG_OK : OG_ENOMEM;
    default:
        return OG_OK;
    }
}

/* Parses the whole stream into `doc` (initialized by the caller). */
static enum og_err build_document(struct loader *ld, yaml_parser_t *parser, yaml_document_t *doc,
                                  const char *data, size_t len)
{
    struct builder b = {.doc = doc};
    unsigned docs = 0;
    enum og_err rc = OG_OK;

    while (rc == OG_OK) {
        yaml_event_t ev;
        bool end;

        if (!yaml_parser_parse(parser, &ev)) {
            rc = parser_error(ld, parser, data, len);
            break;
        }
        end = ev.type == YAML_STREAM_END_EVENT;
        rc = build_event(ld, &b, &ev, &docs);
        yaml_event_delete(&ev);
        if (end)
            break;
    }
    for (size_t i = 0; i < b.n_anchors; i++)
        free(b.anchors[i].name);
    free(b.anchors);
    free(b.frames);
    return rc;
}

enum og_err og_config_parse(const char *data, size_t len, const char *name, struct og_config **out,
                            struct og_diag *diag)
{
    struct loader ld = {.diag = diag, .name = name};
    yaml_parser_t parser;
    yaml_document_t doc;
    bool have_parser = false, have_doc = false;
    const yaml_node_t *root;
    enum og_err rc;

    rc = og_config_new(&ld.cfg);
    if (rc != OG_OK)
        return rc;
    rc = OG_ENOMEM;
    if (!yaml_parser_initialize(&parser))
        goto out;
    have_parser = true;
    if (!yaml_document_initialize(&doc, NULL, NULL, NULL, 1, 1))
        goto out;
    have_doc = true;
    ld.doc = &doc;
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    rc = build_document(&ld, &parser, &doc, data, len);
    if (rc != OG_OK)
        goto out;
    root = yaml_document_get_root_node(&doc);
    if (root != NULL && !is_null(root)) {
        if (root->type != YAML_MAPPING_NODE) {
            rc = fail_at(&ld, root, "", OG_EINVAL, "expected a mapping at the top level, got %s",
                         kind_name(root));
            goto out;
        }
        rc = walk_map(&ld, root, "", "", ld.cfg);
        if (rc != OG_OK)
            goto out;
    }
    if (name != NULL) {
        ld.cfg->source = strdup(name);
        if (ld.cfg->source == NULL) {
            rc = OG_ENOMEM;
            goto out;
        }
    }
    *out = ld.cfg;
    ld.cfg = NULL;
    rc = OG_OK;
out:
    if (have_doc)
        yaml_document_delete(&doc);
    if (have_parser)
        yaml_parser_delete(&parser);
    og_config_unref(ld.cfg);
    return rc;
}
