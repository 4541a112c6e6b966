/*
 * manifest.c - the Kubernetes manifest reader: libyaml parser events into a node tree with
 * byte positions, then the objects found in its documents.
 */
#include "ocigate/manifest.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "manifest_int.h"
#include "ocigate/buf.h"

/* Nodes live in blocks that never move, so that the tree can link them with pointers. */
#define NODES_PER_BLOCK 256

struct block {
    struct block *next;
    size_t used;
    struct og_manifest_node nodes[NODES_PER_BLOCK];
};

/* Arrays of documents and objects grow in og_bufs (malloc keeps them aligned). */
struct og_manifest {
    struct block *blocks; /* newest first */
    size_t n_nodes;
    struct og_buf docs;    /* struct og_manifest_doc[] */
    struct og_buf objects; /* struct og_manifest_object[] */
};

#define DOCS(m) ((struct og_manifest_doc *)(m)->docs.ptr)
#define OBJECTS(m) ((struct og_manifest_object *)(m)->objects.ptr)
#define FRAMES(b) ((struct frame *)(b)->frames.ptr)

/* An open collection while the events of its children arrive. */
struct frame {
    struct og_manifest_node *node;
    struct og_manifest_node *last; /* last key or item, for linking */
    struct og_manifest_node *key;  /* a key waiting for its value */
};

struct builder {
    struct og_manifest *m;
    const char *data; /* the input, after a byte order mark */
    size_t len;
    size_t bom;    /* bytes of the skipped byte order mark */
    bool ascii;    /* no byte >= 0x80: libyaml's character index is the byte offset */
    size_t ci, bi; /* a character index and its byte offset, where the last lookup ended */
    struct og_manifest_limits lim;
    struct og_buf frames; /* struct frame[] */
    size_t n_frames;
    struct og_manifest_node *root; /* of the document being read */
    const char *name;
    struct og_diag *diag;
};

static void free_nodes(struct og_manifest *m)
{
    struct block *b = m->blocks;

    while (b != NULL) {
        struct block *next = b->next;

        for (size_t i = 0; i < b->used; i++) {
            /* The node owns what it took from libyaml's events. */
            free((void *)(uintptr_t)b->nodes[i].value);
            free((void *)(uintptr_t)b->nodes[i].tag);
        }
        free(b);
        b = next;
    }
    m->blocks = NULL;
}

void og_manifest_free(struct og_manifest *m)
{
    if (m == NULL)
        return;
    free_nodes(m);
    og_buf_cleanup(&m->docs);
    og_buf_cleanup(&m->objects);
    free(m);
}

static enum og_err fail(struct builder *b, enum og_err rc, unsigned line, unsigned column,
                        const char *fmt, ...) OG_PRINTF(5, 6);

static enum og_err fail(struct builder *b, enum og_err rc, unsigned line, unsigned column,
                        const char *fmt, ...)
{
    va_list ap;

    if (b->diag == NULL)
        return rc;
    og_diag_clear(b->diag);
    if (b->name != NULL)
        (void)snprintf(b->diag->file, sizeof(b->diag->file), "%s", b->name);
    og_diag_at(b->diag, line, column);
    va_start(ap, fmt);
    /* A truncated message is still a useful message. */
    (void)vsnprintf(b->diag->msg, sizeof(b->diag->msg), fmt, ap);
    va_end(ap);
    return rc;
}

#define FAIL_AT(b, rc, mark, ...)                                                                  \
    fail((b), (rc), (unsigned)(mark)->line + 1, (unsigned)(mark)->column + 1, __VA_ARGS__)

/*
 * The byte offset of libyaml's character index `index`. libyaml counts characters (CR LF as
 * two), so the two agree on ASCII input; otherwise the cursor walks the UTF-8 from where the
 * previous lookup ended, which events visit nearly in order. libyaml has checked the UTF-8.
 */
static size_t byte_of(struct builder *b, size_t index)
{
    const unsigned char *p = (const unsigned char *)b->data;

    if (b->ascii)
        return b->bom + (index < b->len ? index : b->len);
    while (b->ci < index && b->bi < b->len) {
        b->bi++;
        while (b->bi < b->len && (p[b->bi] & 0xc0) == 0x80)
            b->bi++;
        b->ci++;
    }
    while (b->ci > index && b->bi > 0) {
        b->bi--;
        while (b->bi > 0 && (p[b->bi] & 0xc0) == 0x80)
            b->bi--;
        b->ci--;
    }
    return b->bom + b->bi;
}

static struct og_manifest_mark mark_of(struct builder *b, const yaml_mark_t *y)
{
    struct og_manifest_mark mk;

    mk.offset = byte_of(b, y->index);
    mk.line = (unsigned)y->line + 1;
    mk.column = (unsigned)y->column + 1;
    return mk;
}

bool og__manifest_is_anchor_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           c == '-';
}

/* Length of a NEL, LS or PS (YAML 1.1 line breaks for libyaml) at `off`, else 0. */
static size_t unicode_break(const char *p, size_t end, size_t off)
{
    if (off + 1 < end && p[off] == '\xc2' && p[off + 1] == '\x85')
        return 2;
    if (off + 2 < end && p[off] == '\xe2' && p[off + 1] == '\x80' &&
        (p[off + 2] == '\xa8' || p[off + 2] == '\xa9'))
        return 3;
    return 0;
}

static bool is_break(const char *p, size_t end, size_t off)
{
    return p[off] == '\n' || p[off] == '\r' || unicode_break(p, end, off) > 0;
}

/*
 * Where a node's own text begins: past its properties, an anchor `&name` (name characters as
 * libyaml scans them, so `&a:x` is the anchor `a`) and a tag (`!<...>`, or up to a blank or a
 * ','), each followed by what libyaml skips between tokens: blanks, line breaks (NEL, LS and
 * PS included), comments, and a byte order mark at the start of a line.
 */
static size_t skip_properties(const struct builder *b, size_t off, size_t end)
{
    const char *p = b->data - b->bom;
    size_t stop = b->bom + b->len;

    if (end > stop)
        end = stop;
    while (off < end && (p[off] == '&' || p[off] == '!')) {
        bool bol = false;

        if (p[off] == '&') {
            off++;
            while (off < end && og__manifest_is_anchor_char(p[off]))
                off++;
        } else if (off + 1 < end && p[off + 1] == '<') {
            while (off < end && p[off] != '>')
                off++;
            off++;
        } else {
            while (off < end && p[off] != ' ' && p[off] != '\t' && p[off] != ',' &&
                   !is_break(p, end, off))
                off++;
        }
        while (off < end) {
            size_t n = unicode_break(p, end, off);

            if (p[off] == '\n' || p[off] == '\r' || n > 0) {
                off += n > 0 ? n : 1;
                bol = true;
            } else if (bol && off + 2 < end && memcmp(p + off, "\xef\xbb\xbf", 3) == 0) {
                off += 3;
                bol = false;
            } else if (p[off] == ' ' || p[off] == '\t') {
                off++;
                bol = false;
            } else if (p[off] == '#') {
                while (off < end && !is_break(p, end, off))
                    off++;
            } else {
                break;
            }
        }
    }
    return off < end ? off : end;
}

static struct og_manifest_node *new_node(struct builder *b)
{
    struct og_manifest *m = b->m;
    struct block *blk = m->blocks;

    if (blk == NULL || blk->used == NODES_PER_BLOCK) {
        blk = calloc(1, sizeof(*blk));
        if (blk == NULL)
            return NULL;
        blk->next = m->blocks;
        m->blocks = blk;
    }
    m->n_nodes++;
    return &blk->nodes[blk->used++];
}

/* Links `node` into the open collection (or makes it the document's root). */
static enum og_err attach(struct builder *b, struct og_manifest_node *node, const yaml_event_t *ev)
{
    struct frame *top;

    if (b->n_frames == 0) {
        b->root = node;
        return OG_OK;
    }
    top = &FRAMES(b)[b->n_frames - 1];
    node->parent = top->node;
    if (top->node->type == OG_MANIFEST_MAPPING && top->key != NULL) {
        top->key->val = node;
        top->key = NULL;
        return OG_OK;
    }
    if (top->node->type == OG_MANIFEST_MAPPING) {
        if (node->type != OG_MANIFEST_SCALAR)
            return FAIL_AT(b, OG_EPARSE, &ev->start_mark, "%s",
                           "a mapping key must be a scalar, not a collection");
        top->key = node;
    }
    if (top->last == NULL)
        top->node->child = node;
    else
        top->last->next = node;
    top->last = node;
    top->node->count++;
    return OG_OK;
}

/* libyaml's scalar styles in ours. */
static const enum og_manifest_style scalar_styles[] = {
    [YAML_ANY_SCALAR_STYLE] = OG_MANIFEST_PLAIN,
    [YAML_PLAIN_SCALAR_STYLE] = OG_MANIFEST_PLAIN,
    [YAML_SINGLE_QUOTED_SCALAR_STYLE] = OG_MANIFEST_SINGLE_QUOTED,
    [YAML_DOUBLE_QUOTED_SCALAR_STYLE] = OG_MANIFEST_DOUBLE_QUOTED,
    [YAML_LITERAL_SCALAR_STYLE] = OG_MANIFEST_LITERAL,
    [YAML_FOLDED_SCALAR_STYLE] = OG_MANIFEST_FOLDED,
};

static enum og_err add_node(struct builder *b, yaml_event_t *ev, struct og_manifest_node **out)
{
    struct og_manifest_node *node;
    const yaml_char_t *anchor = NULL, *tag = NULL;
    enum og_err rc;

    if (b->m->n_nodes >= b->lim.max_nodes)
        return FAIL_AT(b, OG_ETOOBIG, &ev->start_mark, "more than %zu nodes", b->lim.max_nodes);
    node = new_node(b);
    if (node == NULL)
        return OG_ENOMEM;
    node->start = mark_of(b, &ev->start_mark);
    node->end = mark_of(b, &ev->end_mark);
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        node->type = OG_MANIFEST_SCALAR;
        node->style =
            (size_t)ev->data.scalar.style < sizeof(scalar_styles) / sizeof(scalar_styles[0])
                ? scalar_styles[ev->data.scalar.style]
                : OG_MANIFEST_PLAIN;
        anchor = ev->data.scalar.anchor;
        tag = ev->data.scalar.tag;
        /* The node takes the value libyaml allocated (with malloc, NUL-terminated). */
        node->value = (const char *)ev->data.scalar.value;
        node->len = ev->data.scalar.length;
        ev->data.scalar.value = NULL;
        break;
    case YAML_SEQUENCE_START_EVENT:
        node->type = OG_MANIFEST_SEQUENCE;
        node->style = ev->data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE ? OG_MANIFEST_FLOW
                                                                                : OG_MANIFEST_BLOCK;
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
        break;
    default:
        node->type = OG_MANIFEST_MAPPING;
        node->style = ev->data.mapping_start.style == YAML_FLOW_MAPPING_STYLE ? OG_MANIFEST_FLOW
                                                                              : OG_MANIFEST_BLOCK;
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
        break;
    }
    if (tag != NULL) {
        /* The node takes the tag as well; the event must not free it then. */
        node->tag = (const char *)tag;
        if (ev->type == YAML_SCALAR_EVENT)
            ev->data.scalar.tag = NULL;
        else if (ev->type == YAML_SEQUENCE_START_EVENT)
            ev->data.sequence_start.tag = NULL;
        else
            ev->data.mapping_start.tag = NULL;
    }
    node->body = node->start.offset;
    if (anchor != NULL || tag != NULL)
        node->body = skip_properties(b, node->start.offset, node->end.offset);
    rc = attach(b, node, ev);
    if (rc != OG_OK)
        return rc;
    *out = node;
    return OG_OK;
}

/* Hash of a key's value (FNV-1a), for the duplicate check. */
static uint64_t hash_key(const struct og_manifest_node *k)
{
    uint64_t h = 1469598103934665603u;

    for (size_t i = 0; i < k->len; i++) {
        h ^= (unsigned char)k->value[i];
        h *= 1099511628211u;
    }
    return h;
}

/*
 * Finds the first key of `map`, in document order, that repeats an earlier one, with an open
 * addressing table of twice the keys so that a mapping of many keys costs linear time.
 */
static enum og_err check_duplicates(struct builder *b, const struct og_manifest_node *map)
{
    const struct og_manifest_node **slots;
    size_t n, mask;
    enum og_err rc = OG_OK;

    if (map->count < 2)
        return OG_OK;
    if (map->count <= 8) {
        for (const struct og_manifest_node *k = map->child->next; k != NULL; k = k->next) {
            for (const struct og_manifest_node *p = map->child; p != k; p = p->next) {
                if (p->len == k->len && memcmp(p->value, k->value, k->len) == 0)
                    return fail(b, OG_EPARSE, k->start.line, k->start.column,
                                "duplicate key \"%.64s\" in a mapping", k->value);
            }
        }
        return OG_OK;
    }
    for (n = 16; n < map->count * 2; n *= 2)
        ;
    slots = calloc(n, sizeof(*slots));
    if (slots == NULL)
        return OG_ENOMEM;
    mask = n - 1;
    for (const struct og_manifest_node *k = map->child; k != NULL && rc == OG_OK; k = k->next) {
        size_t i = (size_t)hash_key(k) & mask;

        while (slots[i] != NULL) {
            if (slots[i]->len == k->len && memcmp(slots[i]->value, k->value, k->len) == 0) {
                rc = fail(b, OG_EPARSE, k->start.line, k->start.column,
                          "duplicate key \"%.64s\" in a mapping", k->value);
                break;
            }
            i = (i + 1) & mask;
        }
        slots[i] = k;
    }
    free(slots);
    return rc;
}

static struct og_str view(const struct og_manifest_node *n)
{
    return og_manifest_is_string(n) ? (struct og_str){n->value, n->len} : OG_STR_NULL;
}

static enum og_err add_object(struct builder *b, const struct og_manifest_node *root, size_t doc,
                              size_t item)
{
    struct og_manifest *m = b->m;
    struct og_manifest_object *o;
    const struct og_manifest_node *meta, *ts;
    struct og_str av = view(og_manifest_get(root, OG_STR_LIT("apiVersion")));
    struct og_str kind = view(og_manifest_get(root, OG_STR_LIT("kind")));
    size_t slash;
    enum og_err rc;

    if (av.ptr == NULL || kind.ptr == NULL)
        return OG_OK;
    rc = og_buf_reserve(&m->objects, sizeof(*o));
    if (rc != OG_OK)
        return rc;
    o = (struct og_manifest_object *)(m->objects.ptr + m->objects.len);
    m->objects.len += sizeof(*o);
    memset(o, 0, sizeof(*o));
    o->root = root;
    o->doc = doc;
    o->item = item;
    o->api_version = av;
    o->kind = kind;
    slash = og_str_rfind_char(av, '/');
    if (slash == av.len) {
        o->group = (struct og_str){av.ptr, 0};
        o->version = av;
    } else {
        o->group = (struct og_str){av.ptr, slash};
        o->version = og_str_from(av, slash + 1);
    }
    meta = og_manifest_get(root, OG_STR_LIT("metadata"));
    o->ns = view(og_manifest_get(meta, OG_STR_LIT("namespace")));
    o->name = view(og_manifest_get(meta, OG_STR_LIT("name")));
    o->mode = view(og_manifest_get(og_manifest_get(meta, OG_STR_LIT("annotations")),
                                   OG_STR_LIT("ocigate.io/mode")));
    ts = og_manifest_get(meta, OG_STR_LIT("deletionTimestamp"));
    o->deleting = ts != NULL && og_manifest_resolve(ts, NULL) != OG_MANIFEST_NULL;
    return OG_OK;
}

/* The objects of a finished document: its root, or the items of a List. */
static enum og_err add_objects(struct builder *b, size_t doc)
{
    const struct og_manifest_node *root = DOCS(b->m)[doc].root;
    const struct og_manifest_node *items;
    struct og_str kind;
    size_t i = 0;
    enum og_err rc;

    if (root == NULL || root->type != OG_MANIFEST_MAPPING)
        return OG_OK;
    kind = view(og_manifest_get(root, OG_STR_LIT("kind")));
    items = og_manifest_get(root, OG_STR_LIT("items"));
    if (kind.ptr != NULL && og_str_has_suffix(kind, OG_STR_LIT("List")) && items != NULL &&
        items->type == OG_MANIFEST_SEQUENCE) {
        for (const struct og_manifest_node *it = items->child; it != NULL; it = it->next, i++) {
            if (it->type != OG_MANIFEST_MAPPING)
                continue;
            rc = add_object(b, it, doc, i);
            if (rc != OG_OK)
                return rc;
        }
        return OG_OK;
    }
    return add_object(b, root, doc, SIZE_MAX);
}

static enum og_err on_event(struct builder *b, yaml_event_t *ev)
{
    struct og_manifest *m = b->m;
    struct og_manifest_node *node = NULL;
    struct og_manifest_doc *doc;
    enum og_err rc;

    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        rc = og_buf_reserve(&m->docs, sizeof(*doc));
        if (rc != OG_OK)
            return rc;
        doc = (struct og_manifest_doc *)(m->docs.ptr + m->docs.len);
        memset(doc, 0, sizeof(*doc));
        doc->start = mark_of(b, &ev->start_mark);
        doc->explicit_start = !ev->data.document_start.implicit;
        b->root = NULL;
        return OG_OK;
    case YAML_DOCUMENT_END_EVENT:
        doc = (struct og_manifest_doc *)(m->docs.ptr + m->docs.len);
        m->docs.len += sizeof(*doc);
        doc->end = mark_of(b, &ev->end_mark);
        doc->root = b->root;
        return add_objects(b, m->docs.len / sizeof(*doc) - 1);
    case YAML_ALIAS_EVENT:
        return FAIL_AT(b, OG_EPARSE, &ev->start_mark,
                       "alias \"*%.64s\" not allowed (manifests must not use aliases)",
                       (const char *)ev->data.alias.anchor);
    case YAML_SCALAR_EVENT:
        return add_node(b, ev, &node);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (b->n_frames >= b->lim.max_depth)
            return FAIL_AT(b, OG_ETOOBIG, &ev->start_mark, "%s", "collections nested too deep");
        rc = og_buf_reserve(&b->frames, sizeof(struct frame));
        if (rc != OG_OK)
            return rc;
        rc = add_node(b, ev, &node);
        if (rc != OG_OK)
            return rc;
        FRAMES(b)[b->n_frames++] = (struct frame){.node = node};
        b->frames.len += sizeof(struct frame);
        return OG_OK;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        node = FRAMES(b)[--b->n_frames].node;
        b->frames.len -= sizeof(struct frame);
        node->end = mark_of(b, &ev->end_mark);
        return node->type == OG_MANIFEST_MAPPING ? check_duplicates(b, node) : OG_OK;
    default:
        return OG_OK;
    }
}

enum og_err og__manifest_parser_error(const yaml_parser_t *p, struct og_str data, unsigned *line,
                                      unsigned *column, char *msg, size_t size)
{
    *line = (unsigned)p->problem_mark.line + 1;
    *column = (unsigned)p->problem_mark.column + 1;
    if (p->error == YAML_MEMORY_ERROR || p->error == YAML_NO_ERROR)
        return OG_ENOMEM;
    if (p->error == YAML_READER_ERROR)
        og_str_line_column(data, p->problem_offset, line, column);
    (void)snprintf(msg, size, "invalid YAML: %s%s%s",
                   p->problem != NULL ? p->problem : "syntax error", p->context != NULL ? " " : "",
                   p->context != NULL ? p->context : "");
    return OG_EPARSE;
}

static enum og_err parser_error(struct builder *b, const yaml_parser_t *p)
{
    unsigned line, column;
    char msg[200];
    enum og_err rc = og__manifest_parser_error(p, (struct og_str){b->data, b->len}, &line, &column,
                                               msg, sizeof(msg));

    if (rc != OG_EPARSE)
        return rc;
    return fail(b, rc, line, column, "%s", msg);
}

static enum og_err build(struct builder *b)
{
    yaml_parser_t parser;
    enum og_err rc = OG_OK;

    if (!yaml_parser_initialize(&parser))
        return OG_ENOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)b->data, b->len);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    while (rc == OG_OK) {
        yaml_event_t ev;
        bool end;

        if (!yaml_parser_parse(&parser, &ev)) {
            rc = parser_error(b, &parser);
            break;
        }
        end = ev.type == YAML_STREAM_END_EVENT;
        rc = on_event(b, &ev);
        yaml_event_delete(&ev);
        if (end)
            break;
    }
    yaml_parser_delete(&parser);
    return rc;
}

enum og_err og_manifest_parse(const char *data, size_t len, const char *name,
                              const struct og_manifest_limits *limits, struct og_manifest **out,
                              struct og_diag *diag)
{
    struct builder b = {.data = data, .len = len, .name = name, .diag = diag, .ascii = true};
    enum og_err rc;

    if (limits != NULL)
        b.lim = *limits;
    if (b.lim.max_bytes == 0)
        b.lim.max_bytes = OG_MANIFEST_MAX_BYTES;
    if (b.lim.max_nodes == 0)
        b.lim.max_nodes = OG_MANIFEST_MAX_NODES;
    if (b.lim.max_depth == 0)
        b.lim.max_depth = OG_MANIFEST_MAX_DEPTH;
    /* og_manifest_to_json recurses once per level. */
    if (b.lim.max_depth > OG_MANIFEST_DEPTH_CEILING)
        b.lim.max_depth = OG_MANIFEST_DEPTH_CEILING;
    if (len > b.lim.max_bytes)
        return fail(&b, OG_ETOOBIG, 0, 0, "input is larger than %zu bytes", b.lim.max_bytes);
    if (len >= 2 &&
        ((data[0] == '\xff' && data[1] == '\xfe') || (data[0] == '\xfe' && data[1] == '\xff')))
        return fail(&b, OG_EPARSE, 1, 1, "%s", "UTF-16 input is not supported; use UTF-8");
    if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
        b.bom = 3;
        b.data += 3;
        b.len -= 3;
    }
    for (size_t i = 0; i < b.len && b.ascii; i++)
        b.ascii = (unsigned char)b.data[i] < 0x80;
    b.m = calloc(1, sizeof(*b.m));
    if (b.m == NULL)
        return OG_ENOMEM;
    og_buf_init(&b.m->docs, SIZE_MAX - 1);
    og_buf_init(&b.m->objects, SIZE_MAX - 1);
    og_buf_init(&b.frames, SIZE_MAX - 1);
    rc = build(&b);
    og_buf_cleanup(&b.frames);
    if (rc != OG_OK) {
        og_manifest_free(b.m);
        return rc;
    }
    *out = b.m;
    return OG_OK;
}

size_t og_manifest_doc_count(const struct og_manifest *m)
{
    return m->docs.len / sizeof(struct og_manifest_doc);
}

const struct og_manifest_doc *og_manifest_doc(const struct og_manifest *m, size_t i)
{
    return i < og_manifest_doc_count(m) ? &DOCS(m)[i] : NULL;
}

size_t og_manifest_object_count(const struct og_manifest *m)
{
    return m->objects.len / sizeof(struct og_manifest_object);
}

const struct og_manifest_object *og_manifest_object(const struct og_manifest *m, size_t i)
{
    return i < og_manifest_object_count(m) ? &OBJECTS(m)[i] : NULL;
}

const struct og_manifest_node *og_manifest_key(const struct og_manifest_node *map,
                                               struct og_str key)
{
    if (map == NULL || map->type != OG_MANIFEST_MAPPING)
        return NULL;
    for (const struct og_manifest_node *k = map->child; k != NULL; k = k->next) {
        if (k->len == key.len && (key.len == 0 || memcmp(k->value, key.ptr, key.len) == 0))
            return k;
    }
    return NULL;
}

const struct og_manifest_node *og_manifest_get(const struct og_manifest_node *map,
                                               struct og_str key)
{
    const struct og_manifest_node *k = og_manifest_key(map, key);

    return k != NULL ? k->val : NULL;
}

const struct og_manifest_node *og_manifest_path(const struct og_manifest_node *node,
                                                const char *path)
{
    struct og_str rest = og_str_of(path);

    while (node != NULL && rest.len > 0) {
        size_t dot = og_str_find_char(rest, 0, '.');

        node = og_manifest_get(node, (struct og_str){rest.ptr, dot});
        rest = og_str_from(rest, dot + 1);
    }
    return node;
}

const struct og_manifest_node *og_manifest_item(const struct og_manifest_node *seq, size_t i)
{
    const struct og_manifest_node *it;

    if (seq == NULL || seq->type != OG_MANIFEST_SEQUENCE)
        return NULL;
    for (it = seq->child; it != NULL && i > 0; it = it->next)
        i--;
    return it;
}

/* One of the three case forms go-yaml accepts: lower, Capitalized, UPPER. */
static bool word_is(struct og_str s, const char *lower)
{
    size_t n = strlen(lower);
    bool low = true, cap = true, up = true;

    if (s.len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char u = (char)(lower[i] - 'a' + 'A');

        low = low && s.ptr[i] == lower[i];
        cap = cap && s.ptr[i] == (i == 0 ? u : lower[i]);
        up = up && s.ptr[i] == u;
    }
    return low || cap || up;
}

/* Digits of `base` with single `_` between them, at least one digit; into `*v`. */
static bool parse_digits(struct og_str s, unsigned base, uint64_t *v, bool *overflow)
{
    bool any = false;

    *v = 0;
    *overflow = false;
    for (size_t i = 0; i < s.len; i++) {
        unsigned d;
        char c = s.ptr[i];

        if (c == '_')
            continue;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return false;
        if (d >= base)
            return false;
        if (*v > (UINT64_MAX - d) / base)
            *overflow = true;
        *v = *v * base + d;
        any = true;
    }
    return any;
}

/* go-yaml's float pattern: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool is_float(struct og_str s)
{
    size_t i = 0, digits = 0, frac = 0;

    if (i < s.len && (s.ptr[i] == '-' || s.ptr[i] == '+'))
        i++;
    while (i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9') {
        i++;
        digits++;
    }
    if (i < s.len && s.ptr[i] == '.') {
        i++;
        while (i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9') {
            i++;
            frac++;
        }
        if (digits == 0 && frac == 0)
            return false;
    } else if (digits == 0) {
        return false;
    }
    if (i < s.len && (s.ptr[i] == 'e' || s.ptr[i] == 'E')) {
        size_t exp = 0;

        i++;
        if (i < s.len && (s.ptr[i] == '-' || s.ptr[i] == '+'))
            i++;
        while (i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9') {
            i++;
            exp++;
        }
        if (exp == 0)
            return false;
    }
    return i == s.len;
}

static double to_double(struct og_str s)
{
    char tmp[128];
    size_t n = 0;

    /* Digits past what a double holds change nothing: a bounded copy for strtod. */
    for (size_t i = 0; i < s.len && n + 1 < sizeof(tmp); i++) {
        if (s.ptr[i] != '_')
            tmp[n++] = s.ptr[i];
    }
    tmp[n] = '\0';
    return strtod(tmp, NULL);
}

static enum og_manifest_scalar resolve_int(struct og_str s, double *number)
{
    struct og_str d = s;
    bool neg = false, overflow;
    unsigned base = 10;
    uint64_t v;

    if (d.len > 0 && (d.ptr[0] == '-' || d.ptr[0] == '+')) {
        neg = d.ptr[0] == '-';
        d = og_str_from(d, 1);
    }
    if (d.len == 0 || d.ptr[0] == '_')
        return OG_MANIFEST_STRING;
    if (d.len > 2 && d.ptr[0] == '0' && (d.ptr[1] == 'x' || d.ptr[1] == 'X')) {
        base = 16;
        d = og_str_from(d, 2);
    } else if (d.len > 2 && d.ptr[0] == '0' && (d.ptr[1] == 'b' || d.ptr[1] == 'B')) {
        base = 2;
        d = og_str_from(d, 2);
    } else if (d.len > 2 && d.ptr[0] == '0' && (d.ptr[1] == 'o' || d.ptr[1] == 'O')) {
        base = 8;
        d = og_str_from(d, 2);
    } else if (d.len > 1 && d.ptr[0] == '0') {
        base = 8;
    }
    if (!parse_digits(d, base, &v, &overflow))
        return OG_MANIFEST_STRING;
    if (overflow || (neg && v > (uint64_t)INT64_MAX + 1)) {
        /* Past 64 bits go-yaml reads decimal digits as a float; other bases stay strings. */
        if (base != 10 || !is_float(s) || !isfinite(to_double(s)))
            return OG_MANIFEST_STRING;
        if (number != NULL)
            *number = to_double(s);
        return OG_MANIFEST_FLOAT;
    }
    if (number != NULL)
        *number = neg ? -(double)v : (double)v;
    return OG_MANIFEST_INT;
}

enum og_manifest_scalar og_manifest_resolve_plain(struct og_str s, double *number)
{
    static const char *const trues[] = {"true", "yes", "on", "y"};
    static const char *const falses[] = {"false", "no", "off", "n"};

    if (s.len == 0 || og_str_eq_lit(s, "~") || word_is(s, "null"))
        return OG_MANIFEST_NULL;
    for (size_t i = 0; i < 4; i++) {
        if (word_is(s, trues[i]) || word_is(s, falses[i])) {
            if (number != NULL)
                *number = word_is(s, trues[i]) ? 1 : 0;
            return OG_MANIFEST_BOOL;
        }
    }
    if (memchr(s.ptr, '\0', s.len) != NULL)
        return OG_MANIFEST_STRING;
    if (resolve_int(s, number) == OG_MANIFEST_INT)
        return OG_MANIFEST_INT;
    /* go-yaml keeps a float out of range (1e999) as a string: JSON could not hold it. */
    if (!is_float(s) || !isfinite(to_double(s)))
        return OG_MANIFEST_STRING;
    if (number != NULL)
        *number = to_double(s);
    return OG_MANIFEST_FLOAT;
}

bool og__manifest_needs_quotes(struct og_str s)
{
    /* YAML's .inf and .nan in any case, and strtod()'s inf, infinity and nan. */
    static const char *const special[] = {"inf", "infinity", "nan"};
    struct og_str p = s, word;

    if (og_manifest_resolve_plain(s, NULL) != OG_MANIFEST_STRING)
        return true;
    if (p.len > 0 && (p.ptr[0] == '-' || p.ptr[0] == '+'))
        p = og_str_from(p, 1);
    word = p.len > 0 && p.ptr[0] == '.' ? og_str_from(p, 1) : p;
    for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++) {
        if (og_str_ieq(word, og_str_of(special[i])))
            return true;
    }
    /*
     * What starts like a number and holds only the characters of YAML 1.1 number forms
     * (1:20, 1e3, 0x1f, 1_000, .5) might read as one somewhere; "10m" or "1h" cannot.
     */
    if (p.len == 0 || !((p.ptr[0] >= '0' && p.ptr[0] <= '9') || p.ptr[0] == '.'))
        return false;
    for (size_t i = 0; i < p.len; i++) {
        if (strchr("0123456789._:eE+-xXoObBabcdefABCDEF", p.ptr[i]) == NULL || p.ptr[i] == '\0')
            return false;
    }
    return true;
}

enum og_manifest_scalar og_manifest_resolve(const struct og_manifest_node *node, double *number)
{
    if (node == NULL || node->type != OG_MANIFEST_SCALAR)
        return OG_MANIFEST_STRING;
    if (node->tag != NULL) {
        static const char *const core[] = {"null", "bool", "int", "float"};
        struct og_str t = og_str_of(node->tag);
        struct og_str prefix = OG_STR_LIT("tag:yaml.org,2002:");
        enum og_manifest_scalar r;

        /* A core tag types the value when the value fits it; anything else is a string. */
        if (!og_str_has_prefix(t, prefix, false))
            return OG_MANIFEST_STRING;
        t = og_str_from(t, prefix.len);
        r = og_manifest_resolve_plain((struct og_str){node->value, node->len}, number);
        if (r == OG_MANIFEST_INT && og_str_eq_lit(t, "float"))
            return OG_MANIFEST_FLOAT;
        return r != OG_MANIFEST_STRING && og_str_eq_lit(t, core[r - 1]) ? r : OG_MANIFEST_STRING;
    }
    if (node->style != OG_MANIFEST_PLAIN)
        return OG_MANIFEST_STRING;
    return og_manifest_resolve_plain((struct og_str){node->value, node->len}, number);
}

bool og_manifest_is_string(const struct og_manifest_node *node)
{
    return node != NULL && node->type == OG_MANIFEST_SCALAR &&
           og_manifest_resolve(node, NULL) == OG_MANIFEST_STRING;
}

static cJSON *scalar_json(const struct og_manifest_node *node, bool exact)
{
    double v = 0;

    switch (og_manifest_resolve(node, &v)) {
    case OG_MANIFEST_NULL:
        return cJSON_CreateNull();
    case OG_MANIFEST_BOOL:
        return cJSON_CreateBool(v != 0);
    case OG_MANIFEST_INT:
    case OG_MANIFEST_FLOAT:
        /* A double holds 53 bits: the text as written keeps every digit. */
        return exact ? cJSON_CreateRaw(node->value) : cJSON_CreateNumber(v);
    case OG_MANIFEST_STRING:
        break;
    }
    return cJSON_CreateString(node->value);
}

static cJSON *to_json(const struct og_manifest_node *node, bool exact)
{
    cJSON *out, *item;

    if (node->type == OG_MANIFEST_SCALAR)
        return scalar_json(node, exact);
    out = node->type == OG_MANIFEST_MAPPING ? cJSON_CreateObject() : cJSON_CreateArray();
    if (out == NULL)
        return NULL;
    for (const struct og_manifest_node *c = node->child; c != NULL; c = c->next) {
        bool ok;

        item = to_json(node->type == OG_MANIFEST_MAPPING ? c->val : c, exact);
        if (item == NULL) {
            cJSON_Delete(out);
            return NULL;
        }
        ok = node->type == OG_MANIFEST_MAPPING ? cJSON_AddItemToObject(out, c->value, item)
                                               : cJSON_AddItemToArray(out, item);
        if (!ok) {
            cJSON_Delete(item);
            cJSON_Delete(out);
            return NULL;
        }
    }
    return out;
}

enum og_err og_manifest_to_json(const struct og_manifest_node *node, cJSON **out)
{
    cJSON *j = to_json(node, false);

    if (j == NULL)
        return OG_ENOMEM;
    *out = j;
    return OG_OK;
}

enum og_err og__manifest_to_json_exact(const struct og_manifest_node *node, cJSON **out)
{
    cJSON *j = to_json(node, true);

    if (j == NULL)
        return OG_ENOMEM;
    *out = j;
    return OG_OK;
}

/* og_policy_tree_fn over a reader object's mapping. */
static enum og_err object_tree(const void *arg, cJSON **out)
{
    return og_manifest_to_json(arg, out);
}

/* The text of a string scalar, or NULL for any other node (absent, another type). */
static const char *string_of(const struct og_manifest_node *node)
{
    return og_manifest_is_string(node) ? node->value : NULL;
}

static bool is_mapping(const struct og_manifest_node *node)
{
    return node != NULL && node->type == OG_MANIFEST_MAPPING;
}

bool og_manifest_policy_input(const struct og_manifest_object *mo,
                              struct og_manifest_policy_input *in)
{
    const struct og_manifest_node *spec = og_manifest_get(mo->root, og_str_of("spec"));
    struct og_admission_context *ctx = &in->ctx;
    struct og_policy_object *obj = &in->obj;

    memset(in, 0, sizeof(*in));
    if (mo->group.len >= sizeof(in->group))
        return false;
    if (mo->group.len > 0)
        memcpy(in->group, mo->group.ptr, mo->group.len);
    ctx->op = OG_OP_CREATE;
    ctx->username = "";
    obj->group = in->group;
    obj->version = mo->version.ptr != NULL ? mo->version.ptr : "";
    obj->kind = mo->kind.ptr != NULL ? mo->kind.ptr : "";
    obj->namespace_ = mo->ns.ptr != NULL ? mo->ns.ptr : "";
    obj->name = mo->name.ptr != NULL ? mo->name.ptr : "";
    obj->mode_annotation = mo->mode.ptr;
    obj->deleting = mo->deleting;
    obj->has_spec = is_mapping(spec);
    if (obj->has_spec) {
        obj->url = string_of(og_manifest_get(spec, og_str_of("url")));
        obj->type = string_of(og_manifest_get(spec, og_str_of("type")));
        obj->has_url = og_manifest_key(spec, og_str_of("url")) != NULL;
        obj->has_type = og_manifest_key(spec, og_str_of("type")) != NULL;
        obj->has_pass_credentials = og_manifest_key(spec, og_str_of("passCredentials")) != NULL;
        obj->has_secret_ref = is_mapping(og_manifest_get(spec, og_str_of("secretRef")));
    }
    obj->tree_fn = object_tree;
    obj->tree_arg = mo->root;
    return true;
}
