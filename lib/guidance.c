#include "ocigate/guidance.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <yaml.h>

#include "guidance_int.h"
#include "manifest_int.h"

/*
 * An emitter session: libyaml writes into `out` through write_handler, and the first error
 * (ours or the emitter's) sticks so that each helper can be called without checking.
 */
struct emit {
    yaml_emitter_t emitter;
    struct og_buf *out;
    enum og_err rc;
};

static int write_handler(void *data, unsigned char *buffer, size_t size)
{
    struct emit *e = data;

    if (e->rc == OG_OK)
        e->rc = og_buf_append(e->out, buffer, size);
    return e->rc == OG_OK;
}

static void event(struct emit *e, yaml_event_t *ev, int made)
{
    if (e->rc != OG_OK) {
        if (made)
            yaml_event_delete(ev);
        return;
    }
    if (!made) {
        e->rc = OG_ENOMEM;
        return;
    }
    /* yaml_emitter_emit takes the event, also when it fails. */
    if (!yaml_emitter_emit(&e->emitter, ev) && e->rc == OG_OK)
        e->rc = e->emitter.error == YAML_MEMORY_ERROR ? OG_ENOMEM : OG_EINVAL;
}

static void scalar(struct emit *e, const char *s, bool is_string)
{
    yaml_event_t ev;
    bool quote = is_string && og__manifest_needs_quotes(og_str_of(s));
    /* Lines stay lines (a literal block; libyaml falls back where one cannot hold them). */
    bool lines = is_string && !quote && strchr(s, '\n') != NULL;

    event(e, &ev,
          yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)(uintptr_t)s, -1, !quote,
                                       is_string,
                                       quote   ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
                                       : lines ? YAML_LITERAL_SCALAR_STYLE
                                               : YAML_ANY_SCALAR_STYLE));
}

static void str(struct emit *e, const char *s)
{
    scalar(e, s, true);
}

static void map_start(struct emit *e)
{
    yaml_event_t ev;

    event(e, &ev,
          yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE));
}

static void map_end(struct emit *e)
{
    yaml_event_t ev;

    event(e, &ev, yaml_mapping_end_event_initialize(&ev));
}

static void value(struct emit *e, const cJSON *v)
{
    yaml_event_t ev;
    const cJSON *item;
    char num[64];

    if (cJSON_IsObject(v)) {
        map_start(e);
        cJSON_ArrayForEach(item, v)
        {
            str(e, item->string);
            value(e, item);
        }
        map_end(e);
    } else if (cJSON_IsArray(v)) {
        event(e, &ev,
              yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE));
        cJSON_ArrayForEach(item, v)
        {
            value(e, item);
        }
        event(e, &ev, yaml_sequence_end_event_initialize(&ev));
    } else if (cJSON_IsString(v)) {
        str(e, v->valuestring);
    } else if (cJSON_IsRaw(v)) {
        /* A number as its YAML text (og__manifest_to_json_exact()). */
        scalar(e, v->valuestring, false);
    } else if (cJSON_IsBool(v)) {
        scalar(e, cJSON_IsTrue(v) ? "true" : "false", false);
    } else if (cJSON_IsNumber(v)) {
        /* Only a double within 2^53 converts to long long (past it the cast is undefined). */
        if (v->valuedouble >= -9007199254740992.0 && v->valuedouble <= 9007199254740992.0 &&
            v->valuedouble == (double)(long long)v->valuedouble)
            (void)snprintf(num, sizeof(num), "%lld", (long long)v->valuedouble);
        else
            (void)snprintf(num, sizeof(num), "%.17g", v->valuedouble);
        scalar(e, num, false);
    } else {
        scalar(e, "null", false);
    }
}

/* Key and string value. */
static void kv(struct emit *e, const char *key, const char *val)
{
    str(e, key);
    str(e, val);
}

static void doc_start(struct emit *e, struct og_buf *out)
{
    yaml_event_t ev;

    memset(e, 0, sizeof(*e));
    e->out = out;
    if (!yaml_emitter_initialize(&e->emitter)) {
        e->rc = OG_ENOMEM;
        return;
    }
    yaml_emitter_set_output(&e->emitter, write_handler, e);
    yaml_emitter_set_unicode(&e->emitter, 1);
    yaml_emitter_set_width(&e->emitter, -1);
    event(e, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
    event(e, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 0));
}

static enum og_err doc_end(struct emit *e)
{
    yaml_event_t ev;

    event(e, &ev, yaml_document_end_event_initialize(&ev, 1));
    event(e, &ev, yaml_stream_end_event_initialize(&ev));
    if (e->rc == OG_OK && !yaml_emitter_flush(&e->emitter))
        e->rc = OG_ENOMEM;
    yaml_emitter_delete(&e->emitter);
    return e->rc;
}

static const char *get_str(const cJSON *obj, const char *key, const char *fallback)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    return cJSON_IsString(v) ? v->valuestring : fallback;
}

/* metadata: name, namespace, labels (labels only when `with_labels`). */
static void metadata(struct emit *e, const cJSON *object, const char *name, bool with_labels)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(object, "metadata");
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(meta, "labels");
    const char *ns = get_str(meta, "namespace", NULL);

    str(e, "metadata");
    map_start(e);
    kv(e, "name", name != NULL ? name : get_str(meta, "name", "<name>"));
    if (ns != NULL && ns[0] != '\0')
        kv(e, "namespace", ns);
    if (with_labels && cJSON_IsObject(labels) && labels->child != NULL) {
        str(e, "labels");
        value(e, labels);
    }
    map_end(e);
}

enum og_err og_guidance_helmrepository(const struct og_guidance *g, struct og_buf *out)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(g->object, "spec");
    const cJSON *item;
    struct emit e;
    bool wrote_type = false, wrote_url = false;

    doc_start(&e, out);
    map_start(&e);
    kv(&e, "apiVersion", "source.toolkit.fluxcd.io/v1");
    kv(&e, "kind", "HelmRepository");
    metadata(&e, g->object, NULL, true);
    str(&e, "spec");
    map_start(&e);
    /* Keep the user's field order; replace type and url where they stand. */
    if (!cJSON_IsObject(spec))
        spec = NULL;
    cJSON_ArrayForEach(item, spec)
    {
        if (item->string == NULL)
            continue;
        if (strcmp(item->string, "passCredentials") == 0)
            continue;
        if (strcmp(item->string, "type") == 0) {
            if (!g->drop_type)
                kv(&e, "type", "oci");
            wrote_type = true;
            continue;
        }
        if (strcmp(item->string, "url") == 0 && g->oci_base != NULL && !g->drop_type) {
            kv(&e, "url", g->oci_base);
            wrote_url = true;
            continue;
        }
        if (strcmp(item->string, "url") == 0) {
            wrote_url = true;
            if (g->url != NULL) {
                kv(&e, "url", g->url);
                continue;
            }
        }
        str(&e, item->string);
        value(&e, item);
    }
    if (!wrote_url && g->oci_base != NULL)
        kv(&e, "url", g->oci_base);
    if (!wrote_type && !g->drop_type)
        kv(&e, "type", "oci");
    map_end(&e);
    map_end(&e);
    return doc_end(&e);
}

enum og_err og_guidance_ocirepository(const struct og_guidance *g, struct og_buf *out)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(g->object, "spec");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(g->object, "metadata");
    const char *chart = g->chart != NULL ? g->chart : "<chart>";
    const char *ns = get_str(meta, "namespace", NULL);
    const char *provider = get_str(spec, "provider", NULL);
    static const char *const carried[] = {"secretRef", "certSecretRef", "serviceAccountName",
                                          "insecure",  "timeout",       "suspend"};
    char storage[256];
    struct og_buf url;
    struct emit e;
    enum og_err rc;

    og_buf_init_with(&url, 4096, storage, sizeof(storage));
    rc = og_buf_appendf(&url, "%s/%s",
                        g->oci_base != NULL ? g->oci_base : "oci://<registry>/<path>", chart);
    if (rc != OG_OK)
        goto out;
    doc_start(&e, out);
    map_start(&e);
    kv(&e, "apiVersion", "source.toolkit.fluxcd.io/v1");
    kv(&e, "kind", "OCIRepository");
    metadata(&e, g->object, chart, false);
    str(&e, "spec");
    map_start(&e);
    kv(&e, "interval", get_str(spec, "interval", "1h"));
    kv(&e, "url", url.ptr);
    str(&e, "ref");
    map_start(&e);
    kv(&e, "semver", "*");
    map_end(&e);
    str(&e, "layerSelector");
    map_start(&e);
    kv(&e, "mediaType", OG_HELM_CHART_MEDIA_TYPE);
    kv(&e, "operation", "copy");
    map_end(&e);
    if (provider != NULL && provider[0] != '\0')
        kv(&e, "provider", provider);
    for (size_t i = 0; i < sizeof(carried) / sizeof(carried[0]); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, carried[i]);

        if (v != NULL && !cJSON_IsNull(v)) {
            str(&e, carried[i]);
            value(&e, v);
        }
    }
    map_end(&e);
    map_end(&e);
    rc = doc_end(&e);
    if (rc != OG_OK)
        goto out;

    doc_start(&e, out);
    map_start(&e);
    kv(&e, "apiVersion", "helm.toolkit.fluxcd.io/v2");
    kv(&e, "kind", "HelmRelease");
    metadata(&e, g->object, chart, false);
    str(&e, "spec");
    map_start(&e);
    kv(&e, "interval", get_str(spec, "interval", "1h"));
    str(&e, "chartRef");
    map_start(&e);
    kv(&e, "kind", "OCIRepository");
    kv(&e, "name", chart);
    if (ns != NULL && ns[0] != '\0')
        kv(&e, "namespace", ns);
    map_end(&e);
    map_end(&e);
    map_end(&e);
    rc = doc_end(&e);
out:
    og_buf_cleanup(&url);
    return rc;
}

enum og_err og__yaml_emit_document(const cJSON *doc, struct og_buf *out)
{
    struct emit e;

    doc_start(&e, out);
    value(&e, doc);
    return doc_end(&e);
}
