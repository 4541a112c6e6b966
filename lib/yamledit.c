/*
 * yamledit.c - in-place edits of YAML bytes at the positions of the manifest reader.
 *
 * Line logic here knows LF, CR LF and a lone CR as line breaks. libyaml (YAML 1.1) also
 * breaks lines at NEL, LS and PS; a region that holds one of those is refused, because its
 * columns would not match the lines seen here.
 */
#include "ocigate/yamledit.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest_int.h"

void og_yamledit_init(struct og_yamledit *e)
{
    memset(e, 0, sizeof(*e));
}

static void truncate_ops(struct og_yamledit *e, size_t n)
{
    while (e->n > n)
        free(e->ops[--e->n].text);
}

void og_yamledit_cleanup(struct og_yamledit *e)
{
    truncate_ops(e, 0);
    free(e->ops);
    og_yamledit_init(e);
}

static enum og_err refuse(struct og_yamledit *e, const char *fmt, ...) OG_PRINTF(2, 3);

static enum og_err refuse(struct og_yamledit *e, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    /* A truncated message is still a useful message. */
    (void)vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return OG_EINVAL;
}

/* Adds the edit [start, end) -> the contents of `text`, which it takes. */
static enum og_err add_op(struct og_yamledit *e, size_t start, size_t end, struct og_buf *text)
{
    struct og_yamledit_op *op, *ops;
    size_t n;
    char *t;

    ops = og_array_grow(e->ops, &e->cap, e->n, sizeof(*ops), 8, SIZE_MAX);
    if (ops == NULL)
        return OG_ENOMEM;
    e->ops = ops;
    t = og_buf_take(text, &n);
    if (t == NULL)
        return OG_ENOMEM;
    op = &e->ops[e->n++];
    op->start = start;
    op->end = end;
    op->text = t;
    op->len = n;
    return OG_OK;
}

/* Length of the line break at `i` (LF, CR LF or a lone CR), 0 when there is none. */
static size_t break_at(const char *data, size_t len, size_t i)
{
    if (data[i] == '\n')
        return 1;
    if (data[i] == '\r')
        return i + 1 < len && data[i + 1] == '\n' ? 2 : 1;
    return 0;
}

/* True when [from, to) holds a NEL, LS or PS, which libyaml counts as line breaks. */
static bool has_unicode_break(const char *data, size_t from, size_t to)
{
    for (size_t i = from; i + 1 < to; i++) {
        if (data[i] == '\xc2' && data[i + 1] == '\x85')
            return true;
        if (i + 2 < to && data[i] == '\xe2' && data[i + 1] == '\x80' &&
            (data[i + 2] == '\xa8' || data[i + 2] == '\xa9'))
            return true;
    }
    return false;
}

/* True when [start, end) ends in a line break, NEL, LS and PS included (a block scalar). */
static bool ends_in_break(const char *data, size_t start, size_t end)
{
    if (data[end - 1] == '\n' || data[end - 1] == '\r')
        return true;
    return (end - start >= 2 && has_unicode_break(data, end - 2, end)) ||
           (end - start >= 3 && has_unicode_break(data, end - 3, end));
}

static size_t line_start(const char *data, size_t off)
{
    while (off > 0 && data[off - 1] != '\n' && data[off - 1] != '\r')
        off--;
    return off;
}

/* True when only spaces stand between the start of its line (after any line break libyaml
 * knows, NEL, LS and PS included) and `off`. */
static bool first_on_line(const char *data, size_t off)
{
    while (off > 0 && data[off - 1] == ' ')
        off--;
    return off == 0 || data[off - 1] == '\n' || data[off - 1] == '\r' ||
           (off >= 2 && has_unicode_break(data, off - 2, off)) ||
           (off >= 3 && has_unicode_break(data, off - 3, off));
}

/*
 * The start of the line after the one holding `off` (or `len`), provided the rest of that line
 * is only blanks and a comment; SIZE_MAX otherwise. `off` at a line start is its own answer.
 */
static size_t next_line(const char *data, size_t len, size_t off)
{
    size_t i = off;

    if (off > 0 && (data[off - 1] == '\n' || data[off - 1] == '\r'))
        return off;
    while (i < len && (data[i] == ' ' || data[i] == '\t'))
        i++;
    if (i < len && data[i] == '#')
        while (i < len && break_at(data, len, i) == 0)
            i++;
    if (i == len)
        return len;
    if (break_at(data, len, i) == 0)
        return SIZE_MAX;
    return i + break_at(data, len, i);
}

/* The line break to write at `off`: the one that ends the line before it, else the file's
 * first, else LF. */
static const char *eol_at(const char *data, size_t len, size_t off)
{
    if (off >= 2 && data[off - 1] == '\n' && data[off - 2] == '\r')
        return "\r\n";
    if (off >= 1 && data[off - 1] == '\n')
        return "\n";
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\n')
            return i > 0 && data[i - 1] == '\r' ? "\r\n" : "\n";
    }
    return "\n";
}

/*
 * Where the text of `node` really ends. A block scalar's end mark lies after its last line
 * break and possibly after the next line's indentation: those spaces go back. A block
 * collection ends with its last value (its own end mark lies past trailing comments).
 */
static size_t content_end(const char *data, size_t len, const struct og_manifest_node *node)
{
    size_t end;

    for (;;) {
        if (node->type != OG_MANIFEST_SCALAR && node->style == OG_MANIFEST_BLOCK &&
            node->child != NULL) {
            const struct og_manifest_node *last = node->child;

            while (last->next != NULL)
                last = last->next;
            if (node->type == OG_MANIFEST_MAPPING) {
                size_t k = last->end.offset, v = content_end(data, len, last->val);

                return k > v ? k : v;
            }
            node = last;
            continue;
        }
        break;
    }
    end = node->end.offset;
    if (node->type == OG_MANIFEST_SCALAR &&
        (node->style == OG_MANIFEST_LITERAL || node->style == OG_MANIFEST_FOLDED) && end < len) {
        /* Before the next token, the spaces are that line's indentation. At the end of the
         * file they may be content (`|+`), so they stay. */
        while (end > node->body && data[end - 1] == ' ')
            end--;
    }
    return end;
}

/* True when some collection around `node` is a flow one. */
static bool in_flow(const struct og_manifest_node *node)
{
    for (const struct og_manifest_node *p = node->parent; p != NULL; p = p->parent) {
        if (p->style == OG_MANIFEST_FLOW)
            return true;
    }
    return false;
}

/* Code points libyaml does not take as they are in quoted text (or at all). */
static bool needs_escape(uint32_t cp)
{
    return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0xfeff || cp == 0xfffe || cp == 0xffff;
}

static bool valid_utf8(struct og_str s)
{
    for (size_t i = 0; i < s.len;) {
        uint32_t cp;
        size_t n = og_utf8_char(s, i, &cp);

        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

/* True when `s` written plain reads back as the string `s`. */
static bool can_plain(struct og_str s, bool flow)
{
    static const char first_bad[] = "-?:,[]{}#&*!|>'\"%@`";

    if (s.len == 0 || memchr(first_bad, s.ptr[0], sizeof(first_bad) - 1) != NULL ||
        s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == ':')
        return false;
    if (s.len >= 3 && (memcmp(s.ptr, "---", 3) == 0 || memcmp(s.ptr, "...", 3) == 0))
        return false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];

        if (c < 0x20 || c > 0x7e)
            return false;
        if (flow && strchr(",[]{}", c) != NULL)
            return false;
        if (c == ':' && i + 1 < s.len && s.ptr[i + 1] == ' ')
            return false;
        if (c == '#' && s.ptr[i - 1] == ' ')
            return false;
    }
    return og_manifest_resolve_plain(s, NULL) == OG_MANIFEST_STRING;
}

/* True when `s` fits in single quotes on one line. */
static bool can_single(struct og_str s)
{
    for (size_t i = 0; i < s.len;) {
        uint32_t cp;
        size_t n = og_utf8_char(s, i, &cp);

        if (n == 0 || needs_escape(cp))
            return false;
        i += n;
    }
    return true;
}

static enum og_err put_single(struct og_buf *out, struct og_str s)
{
    enum og_err rc = og_buf_append(out, "'", 1);

    for (size_t i = 0; i < s.len && rc == OG_OK; i++)
        rc = og_buf_append(out, s.ptr[i] == '\'' ? "''" : &s.ptr[i], s.ptr[i] == '\'' ? 2 : 1);
    return rc == OG_OK ? og_buf_append(out, "'", 1) : rc;
}

static enum og_err put_double(struct og_buf *out, struct og_str s)
{
    enum og_err rc = og_buf_append(out, "\"", 1);

    for (size_t i = 0; i < s.len && rc == OG_OK;) {
        uint32_t cp;
        size_t n = og_utf8_char(s, i, &cp);

        if (n == 0)
            return OG_EINVAL;
        if (cp == '"' || cp == '\\')
            rc = og_buf_appendf(out, "\\%c", (char)cp);
        else if (cp == '\n')
            rc = og_buf_append(out, "\\n", 2);
        else if (cp == '\t')
            rc = og_buf_append(out, "\\t", 2);
        else if (cp == '\r')
            rc = og_buf_append(out, "\\r", 2);
        else if (cp < 0x100 && needs_escape(cp))
            rc = og_buf_appendf(out, "\\x%02X", (unsigned)cp);
        else if (needs_escape(cp))
            rc = og_buf_appendf(out, "\\u%04X", (unsigned)cp);
        else
            rc = og_buf_append(out, s.ptr + i, n);
        i += n;
    }
    return rc == OG_OK ? og_buf_append(out, "\"", 1) : rc;
}

/* Writes `s` in `style` when that style can hold it, else double-quoted. */
static enum og_err put_scalar(struct og_buf *out, struct og_str s, enum og_manifest_style style,
                              bool flow)
{
    if (style == OG_MANIFEST_PLAIN && can_plain(s, flow))
        return og_buf_append(out, s.ptr, s.len);
    if (style == OG_MANIFEST_SINGLE_QUOTED && can_single(s))
        return put_single(out, s);
    return put_double(out, s);
}

/* True when a ':' stands before `off`, with only blanks between (an empty value's place). */
static bool after_colon(const char *data, size_t off)
{
    while (off > 0 && (data[off - 1] == ' ' || data[off - 1] == '\t'))
        off--;
    return off > 0 && data[off - 1] == ':';
}

enum og_err og_yamledit_set(struct og_yamledit *e, const char *data, size_t len,
                            const struct og_manifest_node *node, struct og_str value)
{
    struct og_buf text;
    size_t start, end;
    enum og_err rc;

    e->msg[0] = '\0';
    if (node == NULL || node->type != OG_MANIFEST_SCALAR)
        return refuse(e, "not a scalar");
    if (node->tag != NULL)
        return refuse(e, "line %u: a tagged value is not edited in place", node->start.line);
    if (!valid_utf8(value))
        return refuse(e, "the new value is not valid UTF-8");
    if (og_manifest_is_string(node) && node->len == value.len &&
        memcmp(node->value, value.ptr, value.len) == 0)
        return OG_OK;
    start = node->body;
    end = content_end(data, len, node);
    if (end > len || start > end)
        return refuse(e, "the node lies outside the input");
    if (start == end && !after_colon(data, start))
        return refuse(e, "line %u: a key without a value is not edited in place", node->start.line);
    og_buf_init(&text, SIZE_MAX - 1);
    rc = put_scalar(&text, value, node->style, in_flow(node));
    if (rc == OG_OK && start > 0 &&
        (((start == end || start > node->start.offset) &&
          (data[start - 1] == ':' || data[start - 1] == '!' ||
           og__manifest_is_anchor_char(data[start - 1]))) ||
         ((node->style == OG_MANIFEST_LITERAL || node->style == OG_MANIFEST_FOLDED) &&
          first_on_line(data, start)))) {
        /* A new value right after its colon (an empty value) or glued to an anchor (`&a:x`)
         * needs a space before it. So does one that starts its own line (a block scalar may
         * stand at its key's column; a quoted one there would read as a key). */
        struct og_buf spaced;

        og_buf_init(&spaced, SIZE_MAX - 1);
        rc = og_buf_append(&spaced, " ", 1);
        if (rc == OG_OK)
            rc = og_buf_append_str(&spaced, og_buf_view(&text));
        og_buf_cleanup(&text);
        text = spaced;
    }
    if (rc == OG_OK && end > start && ends_in_break(data, start, end))
        rc = og_buf_append_cstr(&text, eol_at(data, len, end));
    if (rc == OG_OK)
        rc = add_op(e, start, end, &text);
    og_buf_cleanup(&text);
    return rc;
}

/* True when the last text of `node` (its last value, deep down) is a block scalar. */
static bool ends_in_block_scalar(const struct og_manifest_node *node)
{
    while (node->type != OG_MANIFEST_SCALAR && node->child != NULL) {
        const struct og_manifest_node *last = node->child;

        while (last->next != NULL)
            last = last->next;
        node = node->type == OG_MANIFEST_MAPPING ? last->val : last;
    }
    return node->style == OG_MANIFEST_LITERAL || node->style == OG_MANIFEST_FOLDED;
}

/* The position right after the key `k` and its value. */
static size_t pair_end(const char *data, size_t len, const struct og_manifest_node *k)
{
    size_t v = content_end(data, len, k->val);

    return v > k->end.offset ? v : k->end.offset;
}

/*
 * True when the block mapping key `k` is an implicit one (`key: value`): nothing but blanks
 * and dashes before it on its line, and its ':' after it on the same line. An explicit key
 * (`? key`, possibly with its value on a later line) gives no line to insert after or remove.
 */
static bool implicit_key(const char *data, size_t len, const struct og_manifest_node *k)
{
    size_t i = k->end.offset;

    while (i < len && (data[i] == ' ' || data[i] == '\t'))
        i++;
    if (i >= len || data[i] != ':')
        return false;
    for (i = line_start(data, k->start.offset); i < k->start.offset; i++) {
        if (data[i] != ' ' && data[i] != '\t' && data[i] != '-')
            return false;
    }
    return true;
}

enum og_err og_yamledit_insert(struct og_yamledit *e, const char *data, size_t len,
                               const struct og_manifest_node *map,
                               const struct og_manifest_node *after, struct og_str key,
                               struct og_str value)
{
    const struct og_manifest_node *prev = after;
    const char *eol = "";
    bool flow;
    struct og_buf text;
    size_t at;
    enum og_err rc;

    e->msg[0] = '\0';
    if (map == NULL || map->type != OG_MANIFEST_MAPPING)
        return refuse(e, "not a mapping");
    if (after != NULL && after->parent != map)
        return refuse(e, "the key to insert after is not in the mapping");
    if (!valid_utf8(key) || !valid_utf8(value))
        return refuse(e, "the new key or value is not valid UTF-8");
    if (prev == NULL && map->child != NULL)
        for (prev = map->child; prev->next != NULL; prev = prev->next)
            ;
    flow = map->style == OG_MANIFEST_FLOW;
    og_buf_init(&text, SIZE_MAX - 1);
    rc = OG_OK;
    /* A single pair in a flow sequence (`[a: b]`) is a mapping without braces: a second
     * pair would become a second item. */
    if (flow && (map->body >= len || data[map->body] != '{'))
        return refuse(e, "line %u: a mapping without braces takes no second pair", map->start.line);
    if (flow && prev == NULL) {
        at = map->body + 1;
    } else if (flow) {
        at = pair_end(data, len, prev);
        rc = og_buf_append(&text, ", ", 2);
    } else {
        size_t from = line_start(data, map->child->start.offset);

        at = next_line(data, len, pair_end(data, len, prev));
        if (at == SIZE_MAX || has_unicode_break(data, from, at < len ? at : len) ||
            !implicit_key(data, len, prev) || !implicit_key(data, len, map->child))
            return refuse(e, "line %u: the mapping's layout is not edited in place",
                          prev->start.line);
        eol = eol_at(data, len, at);
        /* At the end of a file without a final line break, the break comes first; a block
         * scalar that ends there would take it into its value. */
        if (at == len && (len == 0 || break_at(data, len, len - 1) == 0)) {
            if (ends_in_block_scalar(prev->val))
                return refuse(e, "line %u: a block scalar ends the file without a line break",
                              prev->start.line);
            rc = og_buf_append_cstr(&text, eol);
            eol = "";
        }
        for (unsigned i = 1; i < map->child->start.column && rc == OG_OK; i++)
            rc = og_buf_append(&text, " ", 1);
    }
    if (rc == OG_OK)
        rc = put_scalar(&text, key, OG_MANIFEST_PLAIN, flow);
    if (rc == OG_OK)
        rc = og_buf_append(&text, ": ", 2);
    if (rc == OG_OK)
        rc = put_scalar(&text, value, OG_MANIFEST_PLAIN, flow);
    if (rc == OG_OK)
        rc = og_buf_append_cstr(&text, eol);
    if (rc == OG_OK)
        rc = add_op(e, at, at, &text);
    og_buf_cleanup(&text);
    return rc;
}

/* Adds a deletion of [start, end), or a replacement by the NUL-terminated `with`. */
static enum og_err replace(struct og_yamledit *e, size_t start, size_t end, const char *with)
{
    struct og_buf text;
    enum og_err rc;

    og_buf_init(&text, SIZE_MAX - 1);
    rc = og_buf_append_cstr(&text, with);
    if (rc == OG_OK)
        rc = add_op(e, start, end, &text);
    og_buf_cleanup(&text);
    return rc;
}

/* True when only blanks and line breaks stand between a '{' or ',' and `off`: the key there
 * is not an explicit one (`? key`). */
static bool after_separator(const char *data, size_t off)
{
    while (off > 0 && (data[off - 1] == ' ' || data[off - 1] == '\t' || data[off - 1] == '\n' ||
                       data[off - 1] == '\r'))
        off--;
    return off > 0 && (data[off - 1] == '{' || data[off - 1] == ',');
}

static enum og_err remove_flow(struct og_yamledit *e, const char *data, size_t len,
                               const struct og_manifest_node *map,
                               const struct og_manifest_node *key,
                               const struct og_manifest_node *prev)
{
    if (map->body >= len || data[map->body] != '{')
        return refuse(e, "line %u: a mapping without braces is not edited in place",
                      map->start.line);
    if (!after_separator(data, key->start.offset) ||
        (key->next != NULL && !after_separator(data, key->next->start.offset)))
        return refuse(e, "line %u: an explicit key is not edited in place", key->start.line);
    if (key->next != NULL)
        return replace(e, key->start.offset, key->next->start.offset, "");
    if (prev != NULL) {
        /* A tag must not meet the '}' (`a: !t, b: 1`, `!t, b: 1`): with one in the previous
         * pair, a blank stays. */
        size_t from = pair_end(data, len, prev);
        bool tagged = prev->tag != NULL || prev->val->tag != NULL;

        return replace(e, from, pair_end(data, len, key),
                       tagged && from > 0 && data[from - 1] != ' ' ? " " : "");
    }
    if (map->end.offset == 0 || map->end.offset > len || data[map->end.offset - 1] != '}')
        return refuse(e, "line %u: no '}' where the mapping ends", map->start.line);
    return replace(e, key->start.offset, map->end.offset - 1, "");
}

enum og_err og_yamledit_remove(struct og_yamledit *e, const char *data, size_t len,
                               const struct og_manifest_node *map,
                               const struct og_manifest_node *key)
{
    const struct og_manifest_node *prev = NULL, *k;
    size_t from, to;
    bool dash = false;

    e->msg[0] = '\0';
    if (map == NULL || map->type != OG_MANIFEST_MAPPING || key == NULL)
        return refuse(e, "not a mapping");
    for (k = map->child; k != NULL && k != key; k = k->next)
        prev = k;
    if (k == NULL)
        return refuse(e, "the key is not in the mapping");
    if (map->style == OG_MANIFEST_FLOW)
        return remove_flow(e, data, len, map, key, prev);
    from = line_start(data, key->start.offset);
    if (!implicit_key(data, len, key))
        return refuse(e, "line %u: an explicit key is not edited in place", key->start.line);
    for (size_t i = from; i < key->start.offset; i++) {
        if (data[i] == '-')
            dash = true;
        else if (data[i] != ' ' && !(dash && data[i] == '\t'))
            return refuse(e, "line %u: a key after other text is not edited in place",
                          key->start.line);
    }
    to = next_line(data, len, pair_end(data, len, key));
    if (to == SIZE_MAX || has_unicode_break(data, from, to < len ? to : len))
        return refuse(e, "line %u: the mapping's layout is not edited in place", key->start.line);
    if (map->count == 1)
        return replace(e, key->start.offset, pair_end(data, len, key), "{}");
    if (dash && key->next != NULL)
        return replace(e, key->start.offset, key->next->start.offset, "");
    return replace(e, from, to, "");
}

enum og_err og_yamledit_apply(struct og_yamledit *e, const char *data, size_t len,
                              struct og_buf *out)
{
    size_t pos = 0;
    enum og_err rc;

    e->msg[0] = '\0';
    /* Insertion sort keeps edits at the same place in the order they were added; the edits
     * of a file arrive nearly sorted, so it runs in about linear time. */
    for (size_t i = 1; i < e->n; i++) {
        struct og_yamledit_op op = e->ops[i];
        size_t j = i;

        while (j > 0 && (e->ops[j - 1].start > op.start ||
                         (e->ops[j - 1].start == op.start && e->ops[j - 1].end > op.end))) {
            e->ops[j] = e->ops[j - 1];
            j--;
        }
        e->ops[j] = op;
    }
    for (size_t i = 0; i < e->n; i++) {
        const struct og_yamledit_op *op = &e->ops[i];

        if (op->start > op->end || op->end > len)
            return refuse(e, "an edit lies outside the input");
        if (op->start < pos)
            return refuse(e, "edits overlap at byte %zu", op->start);
        rc = og_buf_append(out, data + pos, op->start - pos);
        if (rc == OG_OK)
            rc = og_buf_append(out, op->text, op->len);
        if (rc != OG_OK)
            return rc;
        pos = op->end;
    }
    return og_buf_append(out, data + pos, len - pos);
}

/* True when `node` reads as the string `s`. */
static bool reads_as(const struct og_manifest_node *node, struct og_str s)
{
    return og_manifest_is_string(node) && node->len == s.len &&
           memcmp(node->value, s.ptr, s.len) == 0;
}

enum og_err og_yamledit_fix_helmrepo(struct og_yamledit *e, const char *data, size_t len,
                                     const struct og_manifest_object *obj, struct og_str url)
{
    const struct og_manifest_node *spec = og_manifest_get(obj->root, OG_STR_LIT("spec"));
    const struct og_manifest_node *urlk, *typek, *pck;
    size_t before = e->n;
    enum og_err rc = OG_OK;

    e->msg[0] = '\0';
    if (spec == NULL || spec->type != OG_MANIFEST_MAPPING || spec->count == 0)
        return refuse(e, "line %u: the object has no spec to fix", obj->root->start.line);
    urlk = og_manifest_key(spec, OG_STR_LIT("url"));
    typek = og_manifest_key(spec, OG_STR_LIT("type"));
    pck = og_manifest_key(spec, OG_STR_LIT("passCredentials"));
    if (pck != NULL && spec->count == 1)
        return refuse(e, "line %u: spec holds nothing but passCredentials", pck->start.line);
    /* Values first: an insertion after an empty value at the end of the file lands where
     * that value's new text goes, and edits at one place apply in the order they came. */
    if (urlk != NULL && !reads_as(urlk->val, url))
        rc = og_yamledit_set(e, data, len, urlk->val, url);
    if (rc == OG_OK && typek != NULL && !reads_as(typek->val, OG_STR_LIT("oci")))
        rc = og_yamledit_set(e, data, len, typek->val, OG_STR_LIT("oci"));
    if (rc == OG_OK && urlk == NULL)
        rc = og_yamledit_insert(e, data, len, spec, NULL, OG_STR_LIT("url"), url);
    if (rc == OG_OK && typek == NULL)
        rc = og_yamledit_insert(e, data, len, spec, urlk, OG_STR_LIT("type"), OG_STR_LIT("oci"));
    if (rc == OG_OK && pck != NULL)
        rc = og_yamledit_remove(e, data, len, spec, pck);
    if (rc != OG_OK)
        truncate_ops(e, before);
    return rc;
}

/* ---- the unified diff of the edits ---- */

#define DIFF_CONTEXT 3

/* The starts of the lines of `data`: line i is [starts[i], starts[i + 1]) (or to the end). */
struct lines {
    size_t *starts;
    size_t n;
};

static enum og_err lines_index(const char *data, size_t len, struct lines *l)
{
    size_t n = 0, k = 0;

    for (size_t i = 0; i < len; i++)
        n += data[i] == '\n';
    if (len > 0 && data[len - 1] != '\n')
        n++;
    l->n = n;
    l->starts = malloc((n + 1) * sizeof(*l->starts));
    if (l->starts == NULL)
        return OG_ENOMEM;
    if (len > 0)
        l->starts[k++] = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (data[i] == '\n')
            l->starts[k++] = i + 1;
    }
    l->starts[n] = len;
    return OG_OK;
}

/* The index of the line that starts at or after `off` (the line count for the end). */
static size_t line_at(const struct lines *l, size_t off)
{
    size_t lo = 0, hi = l->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (l->starts[mid] < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* A run of changed lines: old lines [oa, ob) became new lines [na, nb). */
struct change {
    size_t oa, ob, na, nb;
};

static enum og_err diff_lines(struct og_buf *out, const char *data, const struct lines *l,
                              size_t from, size_t to, char prefix)
{
    enum og_err rc = OG_OK;

    for (size_t i = from; rc == OG_OK && i < to; i++) {
        size_t a = l->starts[i], b = l->starts[i + 1];

        rc = og_buf_append(out, &prefix, 1);
        if (rc == OG_OK)
            rc = og_buf_append(out, data + a, b - a);
        if (rc == OG_OK && (b == a || data[b - 1] != '\n'))
            rc = og_buf_append_cstr(out, "\n\\ No newline at end of file\n");
    }
    return rc;
}

static enum og_err diff_range(struct og_buf *out, char side, size_t start, size_t count)
{
    /* As diff -u: an empty range names the line before it; a count of one is left out. */
    if (count == 1)
        return og_buf_appendf(out, "%c%zu", side, start + 1);
    return og_buf_appendf(out, "%c%zu,%zu", side, count == 0 ? start : start + 1, count);
}

/* Turns the edits into runs of changed lines, merged where they touch. */
static enum og_err diff_changes(const struct og_yamledit *e, const char *data, size_t len,
                                const struct lines *ol, const struct lines *nl, struct change *ch,
                                size_t *n_ch)
{
    size_t n = 0;
    size_t delta_pos = 0, delta_neg = 0; /* new offset = old offset + delta_pos - delta_neg */

    for (size_t i = 0; i < e->n; i++) {
        const struct og_yamledit_op *op = &e->ops[i];
        size_t s, end, ns, ne;
        bool at_line;
        struct change c;

        if (op->start > op->end || op->end > len || (i > 0 && op->start < e->ops[i - 1].end))
            return OG_EINVAL;
        /* The changed bytes spread to whole lines: from the start of the line of the edit's
         * start, to the end of the line of its end, unless both sides are at a line start
         * there (then the next line is untouched). */
        s = op->start;
        while (s > 0 && data[s - 1] != '\n')
            s--;
        if (op->len > 0)
            at_line = op->text[op->len - 1] == '\n';
        else
            at_line = op->start == 0 || data[op->start - 1] == '\n';
        end = op->end;
        if (!((op->end == 0 || data[op->end - 1] == '\n') && at_line)) {
            while (end < len && data[end] != '\n')
                end++;
            end += end < len;
        }
        /* Bytes before `s` moved by the earlier edits (when `s` lies in an earlier edit's
         * lines, this change merges with that one and `na` is not used). */
        ns = s + delta_pos >= delta_neg ? s + delta_pos - delta_neg : 0;
        delta_pos += op->len;
        delta_neg += op->end - op->start;
        ne = end + delta_pos - delta_neg;
        c.oa = line_at(ol, s);
        c.ob = line_at(ol, end);
        c.na = line_at(nl, ns);
        c.nb = line_at(nl, ne);
        if (n > 0 && (s < e->ops[i - 1].end || c.oa <= ch[n - 1].ob)) {
            /* The later edit's end is the run's end: it lies at or past the earlier one's,
             * and only its new offset counts every edit up to it (the earlier edit's own
             * new end did not see a later edit on the same line). */
            ch[n - 1].ob = c.ob;
            ch[n - 1].nb = c.nb;
        } else {
            ch[n++] = c;
        }
    }
    *n_ch = n;
    return OG_OK;
}

enum og_err og_yamledit_diff(const struct og_yamledit *e, const char *data, size_t len,
                             const char *edited, size_t edited_len, const char *name,
                             struct og_buf *out)
{
    struct lines ol = {NULL, 0}, nl = {NULL, 0};
    struct change *ch = NULL;
    size_t n_ch = 0, total = 0;
    enum og_err rc;

    if (e->n == 0)
        return OG_OK;
    for (size_t i = 0; i < e->n; i++)
        total += e->ops[i].len;
    for (size_t i = 0; i < e->n; i++)
        total -= e->ops[i].end - e->ops[i].start;
    if (len + total != edited_len)
        return OG_EINVAL;
    ch = malloc(e->n * sizeof(*ch));
    rc = ch != NULL ? lines_index(data, len, &ol) : OG_ENOMEM;
    if (rc == OG_OK)
        rc = lines_index(edited, edited_len, &nl);
    if (rc == OG_OK)
        rc = diff_changes(e, data, len, &ol, &nl, ch, &n_ch);
    if (rc == OG_OK)
        rc = og_buf_appendf(out, "--- %s\n+++ %s\n", name, name);
    for (size_t i = 0; rc == OG_OK && i < n_ch;) {
        size_t j = i, oa, ob, na, nb;

        /* One hunk for the runs whose context would touch. */
        while (j + 1 < n_ch && ch[j + 1].oa - ch[j].ob <= 2 * DIFF_CONTEXT)
            j++;
        oa = ch[i].oa > DIFF_CONTEXT ? ch[i].oa - DIFF_CONTEXT : 0;
        ob = ch[j].ob + DIFF_CONTEXT < ol.n ? ch[j].ob + DIFF_CONTEXT : ol.n;
        na = ch[i].na - (ch[i].oa - oa);
        nb = ch[j].nb + (ob - ch[j].ob);
        rc = og_buf_append_cstr(out, "@@ ");
        if (rc == OG_OK)
            rc = diff_range(out, '-', oa, ob - oa);
        if (rc == OG_OK)
            rc = og_buf_append_cstr(out, " ");
        if (rc == OG_OK)
            rc = diff_range(out, '+', na, nb - na);
        if (rc == OG_OK)
            rc = og_buf_append_cstr(out, " @@\n");
        if (rc == OG_OK)
            rc = diff_lines(out, data, &ol, oa, ch[i].oa, ' ');
        for (size_t k = i; rc == OG_OK && k <= j; k++) {
            rc = diff_lines(out, data, &ol, ch[k].oa, ch[k].ob, '-');
            if (rc == OG_OK)
                rc = diff_lines(out, edited, &nl, ch[k].na, ch[k].nb, '+');
            if (rc == OG_OK)
                rc = diff_lines(out, data, &ol, ch[k].ob, k < j ? ch[k + 1].oa : ob, ' ');
        }
        i = j + 1;
    }
    free(ch);
    free(ol.starts);
    free(nl.starts);
    return rc;
}
