#include "ocigate/review.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "ocigate/json.h"
#include "ocigate/policy.h"

struct og_review {
    cJSON *root;
    struct og_review_request req;
    const char **groups; /* the array behind req.groups; the strings are the tree's */
};

/*
 * JSON syntax check (RFC 8259, with cJSON's nesting limit and number length) that allocates
 * nothing. cJSON returns NULL both for malformed input and when out of memory; when it fails,
 * this tells the two apart, and gives the offset of the first bad byte. Returns true when
 * the text is well-formed, else false with `*bad` set.
 */
#define JSON_MAX_DEPTH 1000

static size_t skip_ws(const char *p, size_t i, size_t len)
{
    while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    return i;
}

static bool scan_string(const char *p, size_t *i, size_t len)
{
    size_t k = *i + 1;

    while (k < len && p[k] != '"') {
        unsigned char c = (unsigned char)p[k];

        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (++k >= len)
                return false;
            if (p[k] == 'u') {
                for (int h = 0; h < 4; h++) {
                    char x = ++k < len ? p[k] : '\0';

                    if (!((x >= '0' && x <= '9') || (x >= 'a' && x <= 'f') ||
                          (x >= 'A' && x <= 'F')))
                        return false;
                }
            } else if (strchr("\"\\/bfnrt", p[k]) == NULL || p[k] == '\0') {
                return false;
            }
        }
        k++;
    }
    if (k >= len)
        return false;
    *i = k + 1;
    return true;
}

static bool scan_number(const char *p, size_t *i, size_t len)
{
    size_t k = *i, start = *i;

    if (k < len && p[k] == '-')
        k++;
    if (k < len && p[k] == '0') {
        k++;
    } else if (k < len && p[k] >= '1' && p[k] <= '9') {
        while (k < len && p[k] >= '0' && p[k] <= '9')
            k++;
    } else {
        return false;
    }
    if (k < len && p[k] == '.') {
        if (++k >= len || p[k] < '0' || p[k] > '9')
            return false;
        while (k < len && p[k] >= '0' && p[k] <= '9')
            k++;
    }
    if (k < len && (p[k] == 'e' || p[k] == 'E')) {
        k++;
        if (k < len && (p[k] == '+' || p[k] == '-'))
            k++;
        if (k >= len || p[k] < '0' || p[k] > '9')
            return false;
        while (k < len && p[k] >= '0' && p[k] <= '9')
            k++;
    }
    *i = k;
    return k - start < 64; /* cJSON reads numbers of at most 63 bytes */
}

static bool json_well_formed(const char *p, size_t len, size_t *bad)
{
    unsigned char is_obj[JSON_MAX_DEPTH / 8 + 1];
    size_t depth = 0, i = skip_ws(p, 0, len);
    bool want_value = true;

    for (;;) {
        if (want_value) {
            if (i >= len)
                goto fail;
            if (p[i] == '{' || p[i] == '[') {
                bool obj = p[i] == '{';

                if (depth >= JSON_MAX_DEPTH)
                    goto fail;
                is_obj[depth / 8] = (unsigned char)((is_obj[depth / 8] & ~(1u << (depth % 8))) |
                                                    (unsigned)obj << (depth % 8));
                depth++;
                i = skip_ws(p, i + 1, len);
                if (i < len && p[i] == (obj ? '}' : ']')) {
                    depth--;
                    i++;
                    want_value = false;
                    continue;
                }
                if (obj) {
                    if (i >= len || p[i] != '"' || !scan_string(p, &i, len))
                        goto fail;
                    i = skip_ws(p, i, len);
                    if (i >= len || p[i] != ':')
                        goto fail;
                    i = skip_ws(p, i + 1, len);
                }
                continue;
            }
            if (p[i] == '"') {
                if (!scan_string(p, &i, len))
                    goto fail;
            } else if (len - i >= 4 && memcmp(p + i, "true", 4) == 0) {
                i += 4;
            } else if (len - i >= 5 && memcmp(p + i, "false", 5) == 0) {
                i += 5;
            } else if (len - i >= 4 && memcmp(p + i, "null", 4) == 0) {
                i += 4;
            } else if (!scan_number(p, &i, len)) {
                goto fail;
            }
            want_value = false;
        }
        i = skip_ws(p, i, len);
        if (depth == 0)
            break;
        if (i >= len)
            goto fail;
        {
            bool obj = (is_obj[(depth - 1) / 8] >> ((depth - 1) % 8)) & 1;

            if (p[i] == (obj ? '}' : ']')) {
                depth--;
                i++;
                continue;
            }
            if (p[i] != ',')
                goto fail;
            i = skip_ws(p, i + 1, len);
            if (obj) {
                if (i >= len || p[i] != '"' || !scan_string(p, &i, len))
                    goto fail;
                i = skip_ws(p, i, len);
                if (i >= len || p[i] != ':')
                    goto fail;
                i = skip_ws(p, i + 1, len);
            }
            want_value = true;
        }
    }
    if (i == len)
        return true;
fail:
    *bad = i;
    return false;
}

static const char *const api_versions[] = {"admission.k8s.io/v1", "admission.k8s.io/v1beta1"};

/*
 * Reads the optional string member `key` of `obj` into `*out` ("" when absent or null).
 * A member of another type is an error: the apiserver never sends one, so the body is not
 * an AdmissionReview.
 */
static enum og_err get_string(const cJSON *obj, const char *key, const char *where,
                              const char **out, struct og_diag *diag)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

    *out = "";
    if (item == NULL || cJSON_IsNull(item))
        return OG_OK;
    if (!cJSON_IsString(item) || item->valuestring == NULL) {
        og_diag_where(diag, where);
        return og_diag_set(diag, OG_EPARSE, "%s must be a string", where);
    }
    *out = item->valuestring;
    return OG_OK;
}

/* Returns the optional object member `key`, NULL when absent or null; OG_EPARSE otherwise. */
static enum og_err get_object(const cJSON *obj, const char *key, const char *where,
                              const cJSON **out, struct og_diag *diag)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

    *out = NULL;
    if (item == NULL || cJSON_IsNull(item))
        return OG_OK;
    if (!cJSON_IsObject(item)) {
        og_diag_where(diag, where);
        return og_diag_set(diag, OG_EPARSE, "%s must be an object", where);
    }
    *out = item;
    return OG_OK;
}

static enum og_operation parse_op(const char *s)
{
    static const char *const names[] = {"CREATE", "UPDATE", "DELETE", "CONNECT"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i]) == 0)
            return (enum og_operation)i;
    }
    return OG_OP_OTHER;
}

static enum og_err decode_groups(struct og_review *rv, const cJSON *user, struct og_diag *diag)
{
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(user, "groups");
    const cJSON *g;
    size_t n = 0;

    rv->req.groups = NULL;
    rv->req.n_groups = 0;
    if (groups == NULL || cJSON_IsNull(groups))
        return OG_OK;
    if (!cJSON_IsArray(groups)) {
        og_diag_where(diag, "/request/userInfo/groups");
        return og_diag_set(diag, OG_EPARSE, "/request/userInfo/groups must be an array");
    }
    rv->groups = calloc((size_t)cJSON_GetArraySize(groups) + 1, sizeof(*rv->groups));
    if (rv->groups == NULL)
        return OG_ENOMEM;
    cJSON_ArrayForEach(g, groups)
    {
        if (!cJSON_IsString(g)) {
            og_diag_where(diag, "/request/userInfo/groups");
            return og_diag_set(diag, OG_EPARSE, "/request/userInfo/groups must hold strings");
        }
        rv->groups[n++] = g->valuestring;
    }
    rv->req.groups = rv->groups;
    rv->req.n_groups = n;
    return OG_OK;
}

static enum og_err decode_request(struct og_review *rv, struct og_diag *diag)
{
    struct og_review_request *req = &rv->req;
    const cJSON *request = NULL, *kind = NULL, *user = NULL, *object = NULL, *dry;
    const char *review_kind;
    enum og_err rc;

    rc = get_string(rv->root, "apiVersion", "/apiVersion", &req->api_version, diag);
    if (rc != OG_OK)
        return rc;
    if (req->api_version[0] == '\0') {
        req->api_version = api_versions[0];
    } else if (strcmp(req->api_version, api_versions[0]) != 0 &&
               strcmp(req->api_version, api_versions[1]) != 0) {
        og_diag_where(diag, "/apiVersion");
        return og_diag_set(diag, OG_EPARSE,
                           "unsupported apiVersion \"%.64s\" (want admission.k8s.io/v1 or v1beta1)",
                           req->api_version);
    }
    rc = get_string(rv->root, "kind", "/kind", &review_kind, diag);
    if (rc != OG_OK)
        return rc;
    if (review_kind[0] != '\0' && strcmp(review_kind, "AdmissionReview") != 0) {
        og_diag_where(diag, "/kind");
        return og_diag_set(diag, OG_EPARSE, "kind \"%.64s\" is not AdmissionReview", review_kind);
    }
    rc = get_object(rv->root, "request", "/request", &request, diag);
    if (rc != OG_OK)
        return rc;
    if (request == NULL) {
        og_diag_where(diag, "/request");
        return og_diag_set(diag, OG_EPARSE, "AdmissionReview has no request");
    }
    rc = get_string(request, "uid", "/request/uid", &req->uid, diag);
    if (rc != OG_OK)
        return rc;
    if (req->uid[0] == '\0') {
        og_diag_where(diag, "/request/uid");
        return og_diag_set(diag, OG_EPARSE, "AdmissionReview request has no uid");
    }
    rc = get_object(request, "kind", "/request/kind", &kind, diag);
    if (rc == OG_OK)
        rc = get_object(request, "userInfo", "/request/userInfo", &user, diag);
    if (rc == OG_OK)
        rc = get_object(request, "object", "/request/object", &object, diag);
    if (rc != OG_OK)
        return rc;
    {
        const struct {
            const cJSON *parent;
            const char *key;
            const char *where;
            const char **out;
        } fields[] = {
            {kind, "group", "/request/kind/group", &req->group},
            {kind, "version", "/request/kind/version", &req->version},
            {kind, "kind", "/request/kind/kind", &req->kind},
            {request, "name", "/request/name", &req->name},
            {request, "namespace", "/request/namespace", &req->namespace_},
            {request, "operation", "/request/operation", &req->operation},
            {user, "username", "/request/userInfo/username", &req->username},
        };

        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
            rc = get_string(fields[i].parent, fields[i].key, fields[i].where, fields[i].out, diag);
            if (rc != OG_OK)
                return rc;
        }
    }
    rc = decode_groups(rv, user, diag);
    if (rc != OG_OK)
        return rc;
    req->op = parse_op(req->operation);
    req->object = object;
    dry = cJSON_GetObjectItemCaseSensitive(request, "dryRun");
    if (dry != NULL && !cJSON_IsNull(dry) && !cJSON_IsBool(dry)) {
        og_diag_where(diag, "/request/dryRun");
        return og_diag_set(diag, OG_EPARSE, "/request/dryRun must be a boolean");
    }
    req->dry_run = cJSON_IsTrue(dry);
    return OG_OK;
}

enum og_err og_review_decode(const char *body, size_t len, struct og_review **out,
                             struct og_diag *diag)
{
    struct og_review *rv = NULL;
    const char *end = NULL;
    enum og_err rc = OG_ENOMEM;

    rv = calloc(1, sizeof(*rv));
    if (rv == NULL)
        goto out;
    rv->root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (rv->root == NULL) {
        size_t off = 0;

        rc = OG_ENOMEM;
        if (!json_well_formed(body, len, &off))
            rc = og_diag_set(diag, OG_EPARSE, "malformed JSON at byte %zu", off);
        goto out;
    }
    /* cJSON stops after the first value; anything but whitespace after it is not JSON. */
    while (end < body + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    if (end != body + len) {
        rc = og_diag_set(diag, OG_EPARSE, "malformed JSON: trailing data at byte %zu",
                         (size_t)(end - body));
        goto out;
    }
    if (!cJSON_IsObject(rv->root)) {
        og_diag_where(diag, "");
        rc = og_diag_set(diag, OG_EPARSE, "AdmissionReview must be a JSON object");
        goto out;
    }
    rc = decode_request(rv, diag);
    if (rc != OG_OK)
        goto out;
    *out = rv;
    rv = NULL;
out:
    og_review_free(rv);
    return rc;
}

const struct og_review_request *og_review_get_request(const struct og_review *rv)
{
    return &rv->req;
}

void og_review_free(struct og_review *rv)
{
    if (rv == NULL)
        return;
    cJSON_Delete(rv->root);
    free(rv->groups);
    free(rv);
}

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        rc = (expr);                                                                               \
        if (rc != OG_OK)                                                                           \
            return rc;                                                                             \
    } while (0)

enum og_err og_review_encode(const struct og_review *rv, const struct og_decision *d,
                             struct og_buf *out)
{
    enum og_err rc;

    TRY(og_buf_append_cstr(out, "{\"apiVersion\":"));
    TRY(og_json_append_string(out, og_str_of(rv->req.api_version)));
    TRY(og_buf_append_cstr(out, ",\"kind\":\"AdmissionReview\",\"response\":{\"uid\":"));
    TRY(og_json_append_string(out, og_str_of(rv->req.uid)));
    TRY(og_buf_append_cstr(out, d->allowed ? ",\"allowed\":true" : ",\"allowed\":false"));
    if (!d->allowed) {
        TRY(og_buf_appendf(out, ",\"status\":{\"code\":%d", (int)(d->code != 0 ? d->code : 403)));
        TRY(og_buf_append_cstr(out, ",\"status\":\"Failure\""));
        if (d->reason != NULL) {
            TRY(og_buf_append_cstr(out, ",\"reason\":"));
            TRY(og_json_append_string(out, og_str_of(d->reason)));
        }
        if (d->message != NULL) {
            TRY(og_buf_append_cstr(out, ",\"message\":"));
            TRY(og_json_append_string(out, og_str_of(d->message)));
        }
        TRY(og_buf_append_cstr(out, "}"));
    }
    if (d->allowed && d->patch != NULL && d->patch_len > 0) {
        TRY(og_buf_append_cstr(out, ",\"patchType\":\"JSONPatch\",\"patch\":\""));
        TRY(og_base64_append(out, d->patch, d->patch_len));
        TRY(og_buf_append_cstr(out, "\""));
    }
    if (d->n_warnings > 0) {
        TRY(og_buf_append_cstr(out, ",\"warnings\":["));
        for (size_t i = 0; i < d->n_warnings; i++) {
            if (i > 0)
                TRY(og_buf_append_cstr(out, ","));
            TRY(og_json_append_string(out, og_str_of(d->warnings[i])));
        }
        TRY(og_buf_append_cstr(out, "]"));
    }
    if (d->n_annotations > 0) {
        TRY(og_buf_append_cstr(out, ",\"auditAnnotations\":{"));
        for (size_t i = 0; i < d->n_annotations; i++) {
            if (i > 0)
                TRY(og_buf_append_cstr(out, ","));
            TRY(og_json_append_string(out, og_str_of(d->annotations[i].key)));
            TRY(og_buf_append_cstr(out, ":"));
            TRY(og_json_append_string(out, og_str_of(d->annotations[i].value)));
        }
        TRY(og_buf_append_cstr(out, "}"));
    }
    return og_buf_append_cstr(out, "}}");
}
