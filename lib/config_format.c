/*
 * config_format.c - the configuration as text: the effective configuration through libyaml's
 * emitter (`ocigate config check`), and the commented default file (`ocigate config default`),
 * both generated from the key table of config.c.
 */
#include "ocigate/config.h"

#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "config_int.h"
#include "manifest_int.h"

/* ---- The effective configuration, through libyaml's emitter ------------------------------- */

struct emit {
    yaml_emitter_t em;
    struct og_buf *out;
    enum og_err rc; /* why the write handler failed */
};

static int write_out(void *data, unsigned char *buffer, size_t size)
{
    struct emit *e = data;

    e->rc = og_buf_append(e->out, buffer, size);
    return e->rc == OG_OK;
}

/* Emits `ev` (which the emitter always consumes); false when the emitter failed. */
static bool emit_event(struct emit *e, yaml_event_t *ev, int made)
{
    if (!made) {
        e->rc = OG_ENOMEM;
        return false;
    }
    if (!yaml_emitter_emit(&e->em, ev)) {
        if (e->rc == OG_OK)
            e->rc = e->em.error == YAML_MEMORY_ERROR || e->em.error == YAML_NO_ERROR ? OG_ENOMEM
                                                                                     : OG_EINVAL;
        return false;
    }
    return true;
}

static bool emit_scalar(struct emit *e, const char *s, bool quote)
{
    yaml_event_t ev;
    int made = yaml_scalar_event_initialize(
        &ev, NULL, NULL, (const yaml_char_t *)s, (int)strlen(s), 1, 1,
        quote ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE);

    return emit_event(e, &ev, made);
}

static bool emit_start(struct emit *e, bool mapping)
{
    yaml_event_t ev;
    int made =
        mapping
            ? yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE)
            : yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);

    return emit_event(e, &ev, made);
}

static bool emit_end(struct emit *e, bool mapping)
{
    yaml_event_t ev;
    int made =
        mapping ? yaml_mapping_end_event_initialize(&ev) : yaml_sequence_end_event_initialize(&ev);

    return emit_event(e, &ev, made);
}

static bool emit_string(struct emit *e, const char *s)
{
    return emit_scalar(e, s, og__manifest_needs_quotes(og_str_of(s)));
}

static bool emit_rows(struct emit *e, const char *parent, const void *base);

static bool emit_row(struct emit *e, const struct og__key *k, const void *base)
{
    const char *p = (const char *)base + k->off;
    char text[64], tparent[64];

    switch (k->type) {
    case OG__KEY_SECTION:
        return emit_start(e, true) && emit_rows(e, k->path, base) && emit_end(e, true);
    case OG__KEY_LIST: {
        char *const *items;
        size_t n;

        memcpy(&items, p, sizeof(items));
        memcpy(&n, (const char *)base + k->n_off, sizeof(n));
        if (!emit_start(e, false))
            return false;
        for (size_t i = 0; i < n; i++) {
            if (!emit_string(e, items[i]))
                return false;
        }
        return emit_end(e, false);
    }
    case OG__KEY_OBJLIST: {
        const char *items;
        size_t n;
        int w = snprintf(tparent, sizeof(tparent), "%s[]", k->path);

        (void)w; /* table paths are short */
        memcpy(&items, p, sizeof(items));
        memcpy(&n, (const char *)base + k->n_off, sizeof(n));
        if (!emit_start(e, false))
            return false;
        for (size_t i = 0; i < n; i++) {
            if (!emit_start(e, true) || !emit_rows(e, tparent, items + i * k->size) ||
                !emit_end(e, true))
                return false;
        }
        return emit_end(e, false);
    }
    default:
        break;
    }
    if (og__config_type_is_string(k->type)) {
        const char *s;

        memcpy(&s, p, sizeof(s));
        return emit_string(e, s != NULL ? s : "");
    }
    og__config_num_format(k, og__config_get_num(k, base), text, sizeof(text));
    return emit_scalar(e, text,
                       k->type == OG__KEY_ENUM && og__manifest_needs_quotes(og_str_of(text)));
}

static bool emit_rows(struct emit *e, const char *parent, const void *base)
{
    for (const struct og__key *k = og__config_keys; k->path != NULL; k++) {
        if (!og__config_key_is_child(k, parent))
            continue;
        /* A string member left unset (none today) is left out rather than emitted empty. */
        if (og__config_type_is_string(k->type)) {
            const char *s;

            memcpy(&s, (const char *)base + k->off, sizeof(s));
            if (s == NULL)
                continue;
        }
        if (!emit_scalar(e, og__config_key_name(k), false) || !emit_row(e, k, base))
            return false;
    }
    return true;
}

enum og_err og_config_format(const struct og_config *cfg, struct og_buf *out)
{
    struct emit e = {.out = out, .rc = OG_OK};
    yaml_event_t ev;
    bool ok;

    if (!yaml_emitter_initialize(&e.em))
        return OG_ENOMEM;
    yaml_emitter_set_output(&e.em, write_out, &e);
    yaml_emitter_set_unicode(&e.em, 1);
    yaml_emitter_set_width(&e.em, 100);
    ok = emit_event(&e, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING)) &&
         emit_event(&e, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1)) &&
         emit_start(&e, true) && emit_rows(&e, "", cfg) && emit_end(&e, true) &&
         emit_event(&e, &ev, yaml_document_end_event_initialize(&ev, 1)) &&
         emit_event(&e, &ev, yaml_stream_end_event_initialize(&ev));
    if (ok && !yaml_emitter_flush(&e.em))
        ok = false;
    if (!ok && e.rc == OG_OK)
        e.rc = OG_EINVAL;
    yaml_emitter_delete(&e.em);
    return e.rc;
}

/* ---- The commented default file ----------------------------------------------------------- */

#define WRAP 96

/* Appends `text` as '#' comment lines indented by `indent`, wrapped at WRAP columns. */
static enum og_err comment(struct og_buf *out, int indent, const char *prefix, const char *text)
{
    size_t len = strlen(text), off = 0, width = WRAP - (size_t)indent - 2;
    bool first = true;
    enum og_err rc = OG_OK;

    while (rc == OG_OK && off < len) {
        size_t plen = first ? strlen(prefix) : 2;
        size_t take = len - off, room = width > plen + 20 ? width - plen : 20;

        if (take > room) {
            take = room;
            while (take > 0 && text[off + take] != ' ')
                take--;
            if (take == 0)
                take = room;
        }
        rc = og_buf_appendf(out, "%*s# %s%.*s\n", indent, "", first ? prefix : "  ", (int)take,
                            text + off);
        off += take;
        while (off < len && text[off] == ' ')
            off++;
        first = false;
    }
    return rc;
}

static enum og_err default_rows(struct og_buf *out, const char *parent, int indent);

/* The example and the empty default of a list. */
static enum og_err default_list(struct og_buf *out, const struct og__key *k, int indent)
{
    const char *name = og__config_key_name(k);
    enum og_err rc = OG_OK;
    char prefix[64];
    int w = snprintf(prefix, sizeof(prefix), "Example: %s: ", name);

    (void)w; /* table names are short */
    if (k->example != NULL)
        rc = comment(out, indent, prefix, k->example);
    if (rc == OG_OK)
        rc = og_buf_appendf(out, "%*s%s: []\n", indent, "", name);
    return rc;
}

static enum og_err default_row(struct og_buf *out, const struct og__key *k, int indent)
{
    const char *name = og__config_key_name(k);
    char tparent[64], prefix[64];
    enum og_err rc;
    int w;

    /* Top-level keys are set apart by a blank line; keys inside a section follow closely. */
    rc = indent == 0 ? og_buf_append_cstr(out, "\n") : OG_OK;
    if (rc == OG_OK)
        rc = comment(out, indent, "", k->doc);
    switch (k->type) {
    case OG__KEY_SECTION:
        if (rc == OG_OK)
            rc = og_buf_appendf(out, "%*s%s:\n", indent, "", name);
        if (rc == OG_OK)
            rc = default_rows(out, k->path, indent + 2);
        return rc;
    case OG__KEY_OBJLIST:
        w = snprintf(tparent, sizeof(tparent), "%s[]", k->path);
        (void)w; /* table paths are short */
        for (const struct og__key *c = og__config_keys; rc == OG_OK && c->path != NULL; c++) {
            if (!og__config_key_is_child(c, tparent))
                continue;
            w = snprintf(prefix, sizeof(prefix), "  %s: ", og__config_key_name(c));
            (void)w;
            rc = comment(out, indent, prefix, c->doc);
        }
        if (rc == OG_OK && k->off == offsetof(struct og_config, migrations)) {
            rc = comment(out, indent, "", "Built-in:");
            for (size_t i = 0; rc == OG_OK && og_builtin_migrations[i].from != NULL; i++)
                rc = og_buf_appendf(out, "%*s#   %s -> %s\n", indent, "",
                                    og_builtin_migrations[i].from, og_builtin_migrations[i].to);
        }
        return rc == OG_OK ? default_list(out, k, indent) : rc;
    case OG__KEY_LIST:
        return rc == OG_OK ? default_list(out, k, indent) : rc;
    default:
        break;
    }
    if (rc == OG_OK) {
        bool quote = (k->type == OG__KEY_ENUM || k->type == OG__KEY_DURATION) &&
                     og__manifest_needs_quotes(og_str_of(k->def));

        rc = og_buf_appendf(out, "%*s%s: %s%s%s\n", indent, "", name, quote ? "\"" : "", k->def,
                            quote ? "\"" : "");
    }
    return rc;
}

static enum og_err default_rows(struct og_buf *out, const char *parent, int indent)
{
    enum og_err rc = OG_OK;

    for (const struct og__key *k = og__config_keys; rc == OG_OK && k->path != NULL; k++) {
        if (og__config_key_is_child(k, parent))
            rc = default_row(out, k, indent);
    }
    return rc;
}

enum og_err og_config_format_default(struct og_buf *out)
{
    enum og_err rc;

    rc = og_buf_append_cstr(
        out, "# ocigate configuration (config.yaml), as printed by `ocigate config default`:\n"
             "# every key with its default value. `ocigate config check FILE` validates a file\n"
             "# and prints the effective configuration; unknown keys are errors.\n"
             "# Durations are Go-style (\"1h30m\", \"1500ms\"); sizes are bytes or a number with\n"
             "# Ki, Mi or Gi (\"64Mi\"). Command-line flags (--mode, --listen, certificate\n"
             "# paths) take precedence over this file, which takes precedence over defaults.\n");
    if (rc == OG_OK)
        rc = default_rows(out, "", 0);
    return rc;
}
