/*
 * config_set.c - setting one configuration key from text, as the file would (redis CONFIG SET
 * over the same static_configs[] table), and the typed value parser the key rows use, for
 * the options that are not keys.
 */
#include "ocigate/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

/* A settable key: a scalar or a list of scalars, not a section or a list of mappings. */
static const struct og__key *settable(const char *key)
{
    const struct og__key *k = og__config_key(key);

    if (k == NULL || strchr(k->path, '[') != NULL || k->type == OG__KEY_SECTION ||
        k->type == OG__KEY_OBJLIST)
        return NULL;
    return k;
}

static enum og_err fail(struct og_diag *diag, const char *key, enum og_err rc, const char *msg)
{
    og_diag_clear(diag);
    og_diag_where(diag, key);
    return og_diag_set(diag, rc, "%s", msg);
}

/* Appends the owned string `item` to the list row `k` of `cfg`; takes it on success only. */
static enum og_err list_append(struct og_config *cfg, const struct og__key *k, char *item,
                               char *msg, size_t size)
{
    char ***slot = (char ***)(void *)((char *)cfg + k->off);
    size_t *count = (size_t *)(void *)((char *)cfg + k->n_off);
    char **grown;
    enum og_err rc = og__config_list_limit(k, *count + 1, msg, size);

    if (rc != OG_OK)
        return rc;
    grown = realloc(*slot, (*count + 1) * sizeof(*grown));
    if (grown == NULL)
        return OG_ENOMEM;
    *slot = grown;
    grown[(*count)++] = item;
    return OG_OK;
}

enum og_err og_config_set(struct og_config *cfg, const char *key, const char *text,
                          struct og_diag *diag)
{
    const struct og__key *k = settable(key);
    char msg[sizeof(((struct og_diag *)0)->msg)];
    enum og__key_type type;
    uint64_t v = 0;
    char *str = NULL;
    enum og_err rc;

    if (k == NULL)
        return fail(diag, key, OG_ENOTFOUND, "unknown key");
    type = k->type == OG__KEY_LIST ? k->item : k->type;
    rc = og__config_scalar_parse(k, type, text, strlen(text), &v, &str, msg, sizeof(msg));
    if (rc == OG_OK && k->type == OG__KEY_LIST) {
        rc = list_append(cfg, k, str, msg, sizeof(msg));
        if (rc == OG_OK)
            str = NULL;
    } else if (rc == OG_OK && og__config_type_is_string(type)) {
        char **slot = (char **)(void *)((char *)cfg + k->off);

        free(*slot);
        *slot = str;
        str = NULL;
    } else if (rc == OG_OK) {
        og__config_set_num(k, cfg, v);
    }
    free(str);
    if (rc == OG_EINVAL)
        return fail(diag, key, rc, msg);
    return rc;
}

enum og_err og_config_key_describe(const char *key, struct og_config_key_doc *out)
{
    static const struct {
        enum og__key_type type;
        const char *syntax;
    } syntaxes[] = {
        {OG__KEY_UINT, "N"},    {OG__KEY_SIZE, "SIZE"},    {OG__KEY_DURATION, "DURATION"},
        {OG__KEY_GLOB, "GLOB"}, {OG__KEY_HTTP_URL, "URL"}, {OG__KEY_OCI_URL, "URL"},
        {OG__KEY_HOST, "HOST"}, {OG__KEY_CIDR, "CIDR"},    {OG__KEY_BOOL, "true|false"}};
    const struct og__key *k = settable(key);
    struct og_config_key_doc d;
    enum og__key_type type;
    size_t off = 0;

    if (k == NULL)
        return OG_ENOTFOUND;
    memset(&d, 0, sizeof(d));
    type = k->type == OG__KEY_LIST ? k->item : k->type;
    for (size_t i = 0; i < sizeof(syntaxes) / sizeof(syntaxes[0]); i++) {
        if (syntaxes[i].type == type)
            (void)snprintf(d.syntax, sizeof(d.syntax), "%s", syntaxes[i].syntax);
    }
    /* An enum's words, as "newest|any"; a list cut short still reads right. */
    for (size_t i = 0; type == OG__KEY_ENUM && k->names[i] != NULL; i++) {
        int w =
            snprintf(d.syntax + off, sizeof(d.syntax) - off, "%s%s", i > 0 ? "|" : "", k->names[i]);

        if (w < 0 || (size_t)w >= sizeof(d.syntax) - off)
            break;
        off += (size_t)w;
    }
    d.def = k->type == OG__KEY_LIST ? NULL : k->def;
    d.doc = k->doc;
    d.list = k->type == OG__KEY_LIST;
    *out = d;
    return OG_OK;
}

/* The row a value kind stands for: og_config_value_*() share the key rows' code this way. */
static struct og__key unit_key(enum og_config_unit unit, uint64_t min, uint64_t max)
{
    struct og__key k = {.path = "", .min = min, .max = max, .size = sizeof(uint64_t), .unit_ms = 1};

    switch (unit) {
    case OG_CONFIG_NUMBER:
        k.type = OG__KEY_UINT;
        break;
    case OG_CONFIG_SIZE:
        k.type = OG__KEY_SIZE;
        break;
    case OG_CONFIG_MS:
        k.type = OG__KEY_DURATION;
        break;
    case OG_CONFIG_SECONDS:
        k.type = OG__KEY_DURATION;
        k.unit_ms = 1000;
        break;
    }
    return k;
}

enum og_err og_config_value_parse(enum og_config_unit unit, const char *text, size_t len,
                                  uint64_t min, uint64_t max, uint64_t *out, struct og_diag *diag)
{
    struct og__key k = unit_key(unit, min, max);
    char msg[sizeof(((struct og_diag *)0)->msg)];
    uint64_t v = 0;
    enum og_err rc = og__config_scalar_parse(&k, k.type, text, len, &v, NULL, msg, sizeof(msg));

    if (rc != OG_OK)
        return og_diag_set(diag, rc, "%s", msg);
    *out = v;
    return OG_OK;
}

const char *og_config_value_format(enum og_config_unit unit, uint64_t v, char *out, size_t size)
{
    struct og__key k = unit_key(unit, 0, UINT64_MAX);

    return og__config_num_format(&k, v, out, size);
}
