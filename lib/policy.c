#include "ocigate/policy.h"

#include <cjson/cJSON.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocigate/buf.h"
#include "ocigate/guidance.h"
#include "ocigate/jsonpatch.h"
#include "ocigate/str.h"
#include "ocigate/url.h"

#include "json_int.h"

/* Limits the apiserver places on what a webhook returns (and that kubectl prints). */
#define WARNING_MAX_RUNES 120
#define WARNINGS_MAX 4
#define MESSAGE_MAX (64u << 10)
/* Urls are as long as the request body allows; this only guards against runaway growth. */
#define URL_MAX ((size_t)1 << 30)
/*
 * Longest url a fix carries (in the patch, base64, and the suggested-url annotation): even
 * escaped six times over, both fit the server's 1 MiB response with room to spare. A longer
 * one leaves the rule without a fix, rather than the answer over its cap (a 500).
 */
#define FIX_URL_MAX ((size_t)64 << 10)
/*
 * Stack storage for the request path's short-lived buffers (og_buf_init_with()): room for what
 * a usual url, problem line, patch or denial holds, so that these allocate nothing; longer
 * contents move to the heap.
 */
#define SHORT_TEXT 256
#define LONG_TEXT 2048

static const char *const rule_names[] = {"none",
                                         "oci-url-http-type",
                                         "known-migration",
                                         "oci-type-http-url",
                                         "index-points-to-oci",
                                         "index-pending",
                                         "index-unknown",
                                         "index-mixed"};

const char *og_rule_name(enum og_rule rule)
{
    if ((size_t)rule < sizeof(rule_names) / sizeof(rule_names[0]))
        return rule_names[rule];
    return "unknown";
}

void og_decision_cleanup(struct og_decision *d)
{
    /* reason, message, warnings, annotations, patch, problem and suggested_url: all in the
     * block (finish()). */
    free(d->block);
    free(d->index_url);
    memset(d, 0, sizeof(*d));
}

/* ---- the HelmRepository as the rules see it ---- */

struct repo {
    const struct og_policy_object *obj;
    const char *ns;
    const char *name;
    struct og_str url;
    enum og_url_kind kind;
    const char *type; /* "" when absent */
    bool has_pass_credentials;
    bool has_secret_ref;
};

static bool in_scope(const struct og_policy_object *obj, const struct og_admission_context *ctx)
{
    return obj != NULL && strcmp(obj->group, "source.toolkit.fluxcd.io") == 0 &&
           strcmp(obj->kind, "HelmRepository") == 0 &&
           (strcmp(obj->version, "v1") == 0 || strcmp(obj->version, "v1beta2") == 0 ||
            strcmp(obj->version, "v1beta1") == 0) &&
           (ctx->op == OG_OP_CREATE || ctx->op == OG_OP_UPDATE) &&
           /* Finalizers are being removed: blocking that would leave it Terminating. */
           !obj->deleting;
}

/* Fills `r` from the object; false when it has no spec.url to judge. */
static bool read_repo(const struct og_policy_object *obj, struct repo *r)
{
    memset(r, 0, sizeof(*r));
    if (!obj->has_spec || obj->url == NULL)
        return false;
    r->obj = obj;
    r->ns = obj->namespace_;
    r->name = obj->name;
    r->url = og_str_of(obj->url);
    r->type = obj->type != NULL ? obj->type : "";
    r->has_pass_credentials = obj->has_pass_credentials;
    r->has_secret_ref = obj->has_secret_ref;
    r->kind = og_url_kind(r->url);
    return true;
}

/*
 * The enabled migration whose `from` matches `norm`, the request's http(s) url in
 * og_url_normalize() form (the config stores `from` so too), or NULL. A url that does not
 * parse (`norm.ptr` NULL) names no repository of the table.
 */
static const struct og_migration *find_migration(const struct og_config *cfg, struct og_str norm)
{
    if (norm.ptr == NULL)
        return NULL;
    /* Later rows win, so that a configured row overrides (or disables) a built-in one. */
    for (size_t i = cfg->n_migrations; i > 0; i--) {
        const struct og_migration *m = &cfg->migrations[i - 1];

        if (og_url_same_repo(norm, og_str_of(m->from)))
            return m->enabled ? m : NULL;
    }
    return NULL;
}

/* spec.type as the rules read it: missing (or not a string) is Flux's default. */
static const char *type_or_default(const char *type)
{
    return type != NULL && type[0] != '\0' ? type : "default";
}

/* True when og_url_normalize() gives the same text for both urls. */
static enum og_err same_normalized(struct og_str a, struct og_str b, bool *same)
{
    char na_storage[SHORT_TEXT], nb_storage[SHORT_TEXT];
    struct og_buf na, nb;
    enum og_err rc;

    og_buf_init_with(&na, URL_MAX, na_storage, sizeof(na_storage));
    og_buf_init_with(&nb, URL_MAX, nb_storage, sizeof(nb_storage));
    *same = false;
    rc = og_url_normalize(a, &na, NULL);
    if (rc == OG_OK)
        rc = og_url_normalize(b, &nb, NULL);
    if (rc == OG_OK)
        *same = og_str_eq(og_buf_view(&na), og_buf_view(&nb));
    og_buf_cleanup(&na);
    og_buf_cleanup(&nb);
    /* A url that does not parse is compared by its bytes only. */
    return rc == OG_EINVAL ? OG_OK : rc;
}

/*
 * Whether the UPDATE leaves spec.url and spec.type as the old object had them, compared as the
 * rules read them: types with a missing one as "default", urls by their bytes or, failing
 * that, by their normalized form (the form the migration table and the index cache use), so
 * that every rule sees the very same repository before and after. A url that changes only in
 * what normalizing drops (a trailing '/', the host's case, a default port) is not a change.
 */
static enum og_err unchanged(const struct repo *r, const struct og_admission_context *ctx,
                             bool *out)
{
    *out = false;
    if (ctx->op != OG_OP_UPDATE || !ctx->has_old || ctx->old_url == NULL ||
        strcmp(type_or_default(r->type), type_or_default(ctx->old_type)) != 0)
        return OG_OK;
    if (og_str_eq(r->url, og_str_of(ctx->old_url))) {
        *out = true;
        return OG_OK;
    }
    return same_normalized(r->url, og_str_of(ctx->old_url), out);
}

/* ---- findings: what is wrong, and the fix when there is one ---- */

struct finding {
    enum og_rule rule;
    bool fixable;
    const char *chart;     /* a chart known to have moved (lent by the verdict), or NULL */
    struct og_buf new_url; /* the url the fix sets (empty: url unchanged) */
    struct og_buf shown;   /* new_url as it may be shown (og_url_redact()): new_url is data */
    struct og_buf problem; /* one line: what is wrong */

    /* Rule index-mixed: its verdict (lent), for the warnings; else NULL. */
    const struct og_index_verdict *mixed;
};

/* Appends `prefix` and "a, b, c, +N more": up to three of the `n` names, of `total` in all. */
static enum og_err append_names(struct og_buf *out, const char *prefix, char *const *names,
                                size_t n, uint32_t total)
{
    size_t shown = n < 3 ? n : 3;
    enum og_err rc = OG_OK;

    if (total < n)
        total = (uint32_t)n;
    for (size_t i = 0; rc == OG_OK && i < shown; i++)
        rc = og_buf_appendf(out, "%s%s", i == 0 ? prefix : ", ", names[i]);
    if (rc == OG_OK && shown > 0 && total > shown)
        rc = og_buf_appendf(out, ", +%u more", (unsigned)(total - shown));
    return rc;
}

/* Appends "; charts on OCI: a, b, c, +N more": the charts the verdict names as moved. */
static enum og_err append_charts(struct og_buf *out, const struct og_index_verdict *v)
{
    return append_names(out, "; charts on OCI: ", v->oci_charts, v->n_oci_charts,
                        v->charts_newest_oci);
}

/*
 * Appends `before`, then `url` as it may be shown. A url in a problem, warning, annotation or
 * message goes through here: those are stored and shown to more people than the object (the
 * apiserver's audit log, a GitOps tool's events and alerts), so its credentials never do.
 */
static enum og_err append_url(struct og_buf *out, const char *before, struct og_str url)
{
    enum og_err rc = og_buf_append_cstr(out, before);

    return rc == OG_OK ? og_url_redact(url, out) : rc;
}

/*
 * The static rules: what the object alone says. Leaves `f->rule` at OG_RULE_NONE when none
 * applies; for an http(s) url the index verdict may still (find_index()). `norm` is the
 * http(s) url normalized, or a NULL view when it does not parse (find_migration()).
 */
static enum og_err find_static(const struct og_config *cfg, const struct repo *r,
                               struct og_str norm, struct finding *f)
{
    const struct og_migration *m;
    enum og_err rc = OG_OK;
    bool typed_oci = strcmp(r->type, "oci") == 0;

    if (r->kind == OG_URL_OCI) {
        if (typed_oci || (r->type[0] != '\0' && strcmp(r->type, "default") != 0))
            return OG_OK;
        f->rule = OG_RULE_OCI_URL_HTTP_TYPE;
        f->fixable = true;
        rc = og_buf_append_str(&f->new_url, og_url_oci_base(r->url));
        if (rc == OG_OK)
            rc = append_url(&f->problem, "spec.url is an OCI registry (", r->url);
        if (rc == OG_OK)
            rc = og_buf_appendf(&f->problem,
                                ") but spec.type is %s; Flux fetches it over HTTP and fails",
                                r->type[0] ? r->type : "not set");
        return rc;
    }
    if (!og_url_kind_is_http(r->kind))
        return OG_OK;
    m = find_migration(cfg, norm);
    if (m != NULL) {
        f->rule = OG_RULE_KNOWN_MIGRATION;
        f->fixable = true;
        rc = og_buf_append_cstr(&f->new_url, m->to);
        if (rc == OG_OK)
            rc = append_url(&f->problem, "", r->url);
        if (rc == OG_OK)
            rc = og_buf_append_cstr(&f->problem, " moved its charts to OCI (");
        if (rc == OG_OK)
            rc = og_buf_append_cstr(&f->problem, m->to);
        if (rc == OG_OK)
            rc = og_buf_append_cstr(&f->problem, ")");
        return rc;
    }
    if (typed_oci) {
        f->rule = OG_RULE_OCI_TYPE_HTTP_URL;
        rc = append_url(&f->problem, "spec.type is oci but spec.url ", r->url);
        if (rc == OG_OK)
            rc = og_buf_append_cstr(&f->problem, " is not an oci:// url; Flux rejects it");
        return rc;
    }
    return OG_OK;
}

/* The index rules, for an http(s) url that no static rule decided; `index_url` is the url
 * og_policy_eval() named, the one the fetcher fetches. */
static enum og_err find_index(const struct repo *r, const char *index_url,
                              const struct og_index_verdict *verdict, struct finding *f)
{
    enum og_err rc = OG_OK;

    /* A verdict on the index's contents names it by the repository's url. */
    if (verdict->state == OG_INDEX_STATE_OCI || verdict->state == OG_INDEX_STATE_MIXED) {
        rc = append_url(&f->problem, "index.yaml of ", r->url);
        if (rc != OG_OK)
            return rc;
    }
    switch (verdict->state) {
    case OG_INDEX_STATE_OCI:
        f->rule = OG_RULE_INDEX_OCI;
        f->fixable = verdict->oci_base != NULL;
        f->chart = verdict->n_oci_charts > 0 ? verdict->oci_charts[0] : NULL;
        if (f->fixable) {
            rc = og_buf_append_cstr(&f->new_url, verdict->oci_base);
            if (rc == OG_OK)
                rc = og_buf_appendf(&f->problem,
                                    " lists oci:// charts (%s); Flux's HTTP getter cannot fetch "
                                    "them",
                                    verdict->oci_base);
            if (rc == OG_OK)
                rc = append_charts(&f->problem, verdict);
        } else {
            rc = og_buf_appendf(&f->problem, " lists oci:// charts in %zu registries",
                                verdict->n_bases);
            for (size_t i = 0; rc == OG_OK && i < verdict->n_bases && i < 4; i++)
                rc = og_buf_appendf(&f->problem, "%s%s", i == 0 ? " (" : ", ", verdict->bases[i]);
            if (rc == OG_OK && verdict->n_bases > 0)
                rc = og_buf_append_cstr(&f->problem, verdict->n_bases > 4 ? ", ...)" : ")");
            if (rc == OG_OK)
                rc = append_charts(&f->problem, verdict);
            if (rc == OG_OK)
                rc = og_buf_append_cstr(&f->problem, "; move each chart to an OCIRepository");
        }
        return rc;
    case OG_INDEX_STATE_MIXED:
        f->rule = OG_RULE_INDEX_MIXED;
        f->mixed = verdict;
        f->chart = verdict->n_oci_charts > 0 ? verdict->oci_charts[0] : NULL;
        rc = og_buf_appendf(&f->problem,
                            " lists charts moved to oci:// and %u still released over http(s) "
                            "after the first oci:// entry",
                            verdict->charts_https_after_oci);
        if (rc == OG_OK)
            rc = append_charts(&f->problem, verdict);
        if (rc == OG_OK)
            rc = append_names(&f->problem, "; still http(s): ", verdict->https_charts,
                              verdict->n_https_charts, verdict->charts_https_after_oci);
        return rc;
    case OG_INDEX_STATE_PENDING:
    case OG_INDEX_STATE_UNKNOWN: {
        char joined_storage[SHORT_TEXT];
        struct og_buf joined;

        f->rule = verdict->state == OG_INDEX_STATE_PENDING ? OG_RULE_INDEX_PENDING
                                                           : OG_RULE_INDEX_UNKNOWN;
        /* The index's url as the fetcher joined it, not `<url>/index.yaml`. */
        og_buf_init_with(&joined, URL_MAX, joined_storage, sizeof(joined_storage));
        rc = og_url_index_yaml(og_str_of(index_url), &joined);
        if (rc == OG_OK)
            rc = append_url(&f->problem,
                            verdict->state == OG_INDEX_STATE_PENDING ? "analysis of " : "",
                            og_buf_view(&joined));
        og_buf_cleanup(&joined);
        if (rc != OG_OK)
            return rc;
        if (verdict->state == OG_INDEX_STATE_PENDING)
            return og_buf_append_cstr(&f->problem, " is pending");
        return og_buf_appendf(&f->problem, " could not be analyzed (%s)",
                              verdict->detail != NULL ? verdict->detail : "unknown error");
    }
    case OG_INDEX_STATE_NONE:
    case OG_INDEX_STATE_CLEAN:
        break;
    }
    return OG_OK;
}

/* ---- building the decision ---- */

/* Counts UTF-8 code points, as the apiserver counts warning length. */
static size_t runes(const char *s, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* Most audit annotations a decision has: decision, rule, suggested-url and mode. */
#define ANNOTATIONS_MAX 4
/* A warning is formatted into this much (NUL included) before it is cleaned and cut. */
#define WARNING_LINE 1024
/* Bounds what one decision holds; a denial message is capped below it, a patch is far below. */
#define DRAFT_MAX ((size_t)4 << 20)
/* No string there (an offset in struct draft). */
#define NONE SIZE_MAX

/*
 * What apply() writes into the decision, gathered first so that it moves there in one
 * allocation (og_decision.block): every string with its NUL, one after the other in `text`
 * (on the stack while they fit), and the offset where each starts.
 */
struct draft {
    struct og_decision *d;
    struct og_buf text;
    size_t warnings[WARNINGS_MAX];
    size_t warning_lens[WARNINGS_MAX];
    size_t n_warnings;
    size_t annotations[ANNOTATIONS_MAX][2]; /* key, value */
    size_t annotation_lens[ANNOTATIONS_MAX][2];
    size_t n_annotations;
    size_t reason, message, patch, problem, suggested_url; /* NONE when absent */
    size_t patch_len;
};

/*
 * Makes room for `n` more bytes of the draft's text and the buffer's NUL after them: where they
 * go, or NULL with the error in `*rc`. The test is og_buf_reserve()'s own, inline: the text is
 * on the stack while it fits.
 */
static inline char *text_room(struct draft *dr, size_t n, enum og_err *rc)
{
    struct og_buf *t = &dr->text;

    if (n > t->max - t->len || t->len + n >= t->cap) {
        *rc = og_buf_reserve(t, n);
        if (*rc != OG_OK)
            return NULL;
    }
    return t->ptr + t->len;
}

/* Appends `len` bytes at `s` and a NUL to the draft; where they start goes to `*at`. */
static enum og_err put_text(struct draft *dr, const char *s, size_t len, size_t *at)
{
    enum og_err rc;
    /* The string's NUL is one byte of the text; the buffer's own NUL follows it. */
    char *o = text_room(dr, len + 1, &rc);

    if (o == NULL)
        return rc;
    o = og__json_copy(o, s, len);
    o[0] = '\0';
    o[1] = '\0';
    *at = dr->text.len;
    dr->text.len += len + 1;
    return OG_OK;
}

/*
 * True when the `len` bytes at `line` are all printable ASCII (0x20 to 0x7e), which
 * og_str_sanitize_line() leaves as they are: 16 bytes per step (the last 16 again, never past
 * `len`). A line under 16 bytes, or one without SSE2, is said not to be (sanitized then).
 */
static bool printable_ascii(const char *line, size_t len)
{
#if defined(__SSE2__)
    const __m128i low = _mm_set1_epi8(0x1f), high = _mm_set1_epi8(0x7f);
    __m128i bad = _mm_setzero_si128();

    if (len < 16)
        return false;
    for (size_t k = 0;; k = k + 32 <= len ? k + 16 : len - 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(line + k));

        /* Unsigned: v <= 0x1f when max(v, 0x1f) is 0x1f, v >= 0x7f when min(v, 0x7f) is 0x7f. */
        bad = _mm_or_si128(bad, _mm_or_si128(_mm_cmpeq_epi8(_mm_max_epu8(v, low), low),
                                             _mm_cmpeq_epi8(_mm_min_epu8(v, high), high)));
        if (k + 16 == len)
            break;
    }
    return _mm_movemask_epi8(bad) == 0;
#else
    (void)line;
    (void)len;
    return false;
#endif
}

/*
 * Adds the warning `line` (`len` bytes, NUL-terminated, in a WARNING_LINE buffer it may change):
 * control characters replaced by spaces, cut to WARNING_MAX_RUNES on a character boundary (with
 * "..."), duplicates and any past WARNINGS_MAX dropped.
 */
static enum og_err add_line(struct draft *dr, char *line, size_t len)
{
    enum og_err rc;

    if (!printable_ascii(line, len))
        len = og_str_sanitize_line(line, len);
    /* A line has no more characters than bytes: most need no count. */
    if (len > WARNING_MAX_RUNES && runes(line, len) > WARNING_MAX_RUNES) {
        size_t keep = 0, count = 0;

        while (keep < len && count < WARNING_MAX_RUNES - 3) {
            keep++;
            while (keep < len && ((unsigned char)line[keep] & 0xC0) == 0x80)
                keep++;
            count++;
        }
        memcpy(line + keep, "...", 4);
        len = keep + 3;
    }
    for (size_t i = 0; i < dr->n_warnings; i++) {
        if (strcmp(dr->text.ptr + dr->warnings[i], line) == 0)
            return OG_OK;
    }
    if (dr->n_warnings >= WARNINGS_MAX)
        return OG_OK;
    rc = put_text(dr, line, len, &dr->warnings[dr->n_warnings]);
    if (rc == OG_OK)
        dr->warning_lens[dr->n_warnings++] = len;
    return rc;
}

/* Adds a warning from printf output (as add_line(); longer output is cut to fit the line). */
static enum og_err add_warning(struct draft *dr, const char *fmt, ...) OG_PRINTF(2, 3);
static enum og_err add_warning(struct draft *dr, const char *fmt, ...)
{
    char line[WARNING_LINE];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return OG_EINVAL;
    return add_line(dr, line, strlen(line));
}

/*
 * Adds a warning that is the strings at `parts` (up to one with a NULL ptr) one after the
 * other: what add_warning() makes of "%s%s..." with them, without printf on the request path.
 */
static enum og_err add_warning_parts(struct draft *dr, const struct og_str *parts)
{
    char line[WARNING_LINE];
    size_t len = 0;

    for (; parts->ptr != NULL; parts++) {
        size_t n = parts->len, room = sizeof(line) - 1 - len;

        if (n > room)
            n = room;
        (void)og__json_copy(line + len, parts->ptr, n);
        len += n;
    }
    line[len] = '\0';
    return add_line(dr, line, len);
}

/* add_warning_parts() of the views given (the lengths of literals are known at compile time). */
#define add_warning_strs(dr, ...)                                                                  \
    add_warning_parts((dr), (const struct og_str[]){__VA_ARGS__, OG_STR_NULL})

/* Adds an annotation: its key and value, each with its NUL, written at once. */
static enum og_err add_annotation(struct draft *dr, struct og_str key, struct og_str value)
{
    size_t i = dr->n_annotations;
    enum og_err rc;
    char *o;

    if (i >= ANNOTATIONS_MAX)
        return OG_EINVAL;
    o = text_room(dr, key.len + 1 + value.len + 1, &rc);
    if (o == NULL)
        return rc;
    o = og__json_copy(o, key.ptr, key.len);
    *o++ = '\0';
    o = og__json_copy(o, value.ptr, value.len);
    o[0] = '\0';
    o[1] = '\0';
    dr->annotations[i][0] = dr->text.len;
    dr->annotations[i][1] = dr->text.len + key.len + 1;
    dr->text.len += key.len + 1 + value.len + 1;
    dr->annotation_lens[i][0] = key.len;
    dr->annotation_lens[i][1] = value.len;
    dr->n_annotations = i + 1;
    return OG_OK;
}

static enum og_err annotate(struct draft *dr, const struct finding *f, struct og_str decision)
{
    enum og_err rc = add_annotation(dr, OG_STR_LIT("decision"), decision);

    if (rc == OG_OK)
        rc = add_annotation(dr, OG_STR_LIT("rule"), og_str_of(og_rule_name(f->rule)));
    if (rc == OG_OK && dr->suggested_url != NONE)
        rc = add_annotation(dr, OG_STR_LIT("suggested-url"), og_buf_view(&f->shown));
    return rc;
}

/*
 * Moves the draft into the decision, as one block: the annotations, then the warnings' lengths
 * and pointers (arrays of words, as malloc aligns them), then the text they point into.
 */
static enum og_err finish(struct draft *dr)
{
    struct og_decision *d = dr->d;
    size_t head = dr->n_annotations * sizeof(struct og_annotation) +
                  dr->n_warnings * (sizeof(size_t) + sizeof(char *));
    struct og_annotation *annotations;
    size_t *warning_lens;
    char **warnings;
    char *block, *text;

    block = malloc(head + dr->text.len);
    if (block == NULL)
        return OG_ENOMEM;
    annotations = (struct og_annotation *)(void *)block;
    warning_lens = (size_t *)(void *)(annotations + dr->n_annotations);
    warnings = (char **)(void *)(warning_lens + dr->n_warnings);
    text = block + head;
    if (dr->text.len > 0)
        memcpy(text, dr->text.ptr, dr->text.len);
    for (size_t i = 0; i < dr->n_annotations; i++) {
        annotations[i].key = text + dr->annotations[i][0];
        annotations[i].value = text + dr->annotations[i][1];
        annotations[i].key_len = dr->annotation_lens[i][0];
        annotations[i].value_len = dr->annotation_lens[i][1];
    }
    for (size_t i = 0; i < dr->n_warnings; i++) {
        warnings[i] = text + dr->warnings[i];
        warning_lens[i] = dr->warning_lens[i];
    }
    d->annotations = dr->n_annotations > 0 ? annotations : NULL;
    d->n_annotations = dr->n_annotations;
    d->warnings = dr->n_warnings > 0 ? warnings : NULL;
    d->warning_lens = dr->n_warnings > 0 ? warning_lens : NULL;
    d->n_warnings = dr->n_warnings;
    d->reason = dr->reason != NONE ? text + dr->reason : NULL;
    d->message = dr->message != NONE ? text + dr->message : NULL;
    d->problem = dr->problem != NONE ? text + dr->problem : NULL;
    d->suggested_url = dr->suggested_url != NONE ? text + dr->suggested_url : NULL;
    d->patch = dr->patch != NONE ? text + dr->patch : NULL;
    d->patch_len = dr->patch != NONE ? dr->patch_len : 0;
    d->block = block;
    return OG_OK;
}

/* The JSON patch that applies the fix to the object as sent. */
static enum og_err build_patch(const struct repo *r, const struct finding *f, struct draft *dr)
{
    struct og_patch_item items[3];
    size_t n = 0, start = dr->text.len;
    enum og_err rc;

    /* spec exists (it holds the url): "replace" for members present, "add" for the others. */
    if (strcmp(r->type, "oci") != 0)
        items[n++] = (struct og_patch_item){r->obj->has_type ? OG_PATCH_REPLACE : OG_PATCH_ADD,
                                            "/spec/type", "oci"};
    if (f->new_url.len > 0 && !og_str_eq(og_buf_view(&f->new_url), r->url))
        items[n++] = (struct og_patch_item){OG_PATCH_REPLACE, "/spec/url", f->new_url.ptr};
    if (r->has_pass_credentials)
        items[n++] = (struct og_patch_item){OG_PATCH_REMOVE, "/spec/passCredentials", NULL};
    if (n == 0)
        return OG_OK;
    /* Written where it stays, in the draft. */
    rc = og_patch_write(items, n, &dr->text);
    if (rc == OG_OK)
        rc = og_buf_append(&dr->text, "", 1);
    if (rc != OG_OK)
        return rc;
    dr->patch = start;
    dr->patch_len = dr->text.len - 1 - start;
    dr->d->patch_ops = n;
    return OG_OK;
}

/* The first line of a denial: the problem and the fix, in words. */
static enum og_err first_line(const struct repo *r, const struct finding *f, struct og_buf *msg)
{
    enum og_err rc =
        og_buf_appendf(msg, "ocigate: HelmRepository %s/%s: %s. ", r->ns, r->name, f->problem.ptr);

    if (rc != OG_OK)
        return rc;
    switch (f->rule) {
    case OG_RULE_OCI_TYPE_HTTP_URL:
        return og_buf_append_cstr(msg, "Fix: set spec.url to the chart registry (oci://host/path), "
                                       "or remove spec.type for an HTTP repository.");
    case OG_RULE_INDEX_PENDING:
    case OG_RULE_INDEX_UNKNOWN:
        return og_buf_append_cstr(msg, "Denied because index.onUnknown is deny: retry once the "
                                       "index can be read, or ask for a known-migrations entry.");
    default:
        break;
    }
    if (f->fixable)
        return og_buf_appendf(msg,
                              "Fix: set spec.type: oci and spec.url: %s, or (recommended since "
                              "Flux 2.8) use an OCIRepository per chart with "
                              "HelmRelease.spec.chartRef.",
                              f->shown.ptr);
    return og_buf_append_cstr(msg, "Fix: use one OCIRepository per chart with "
                                   "HelmRelease.spec.chartRef.");
}

/*
 * The ready-to-apply YAML after the first line; built from the user's whole object. It is part
 * of the denial message, which the apiserver's audit log and a GitOps tool's events and alerts
 * keep: a url there is shown as og_url_redact() shows it, and a comment says where the
 * credentials belong instead (the user, who wrote them, has them).
 */
static enum og_err guidance_yaml(const struct repo *r, const struct finding *f, bool suggested,
                                 struct og_buf *out)
{
    struct og_guidance g = {r->obj->tree, NULL, f->chart, false, NULL};
    cJSON *object = NULL;
    char storage[SHORT_TEXT];
    struct og_buf url;
    enum og_err rc;

    og_buf_init_with(&url, URL_MAX, storage, sizeof(storage));
    rc = og_url_redact(r->url, &url);
    if (rc != OG_OK)
        goto out;
    /* The one place the request path needs the object as a tree. */
    if (g.object == NULL) {
        rc = OG_ENOTFOUND;
        if (r->obj->tree_fn != NULL)
            rc = r->obj->tree_fn(r->obj->tree_arg, &object);
        if (rc != OG_OK)
            goto out;
        g.object = object;
    }
    g.oci_base = f->new_url.len > 0 ? f->shown.ptr : NULL;
    rc = og_buf_append_cstr(out, "\n\n");
    if (rc == OG_OK && !og_str_eq(og_buf_view(&url), r->url)) {
        g.url = url.ptr;
        rc = og_buf_append_cstr(out, "# spec.url holds credentials, shown as " OG_URL_REDACTED
                                     ": move them to the Secret that spec.secretRef names\n");
    }
    if (rc != OG_OK)
        goto out;
    if (f->rule == OG_RULE_OCI_TYPE_HTTP_URL) {
        g.drop_type = true;
        rc = og_buf_append_cstr(out, "# The HelmRepository as an HTTP repository:\n");
        if (rc == OG_OK)
            rc = og_guidance_helmrepository(&g, out);
    } else if (f->fixable) {
        rc = og_buf_append_cstr(out, "# The fixed HelmRepository:\n");
        if (rc == OG_OK)
            rc = og_guidance_helmrepository(&g, out);
        if (rc == OG_OK)
            rc = og_buf_append_cstr(out, "# Or, per chart, an OCIRepository and the HelmRelease "
                                         "that uses it:\n");
        if (rc == OG_OK)
            rc = og_guidance_ocirepository(&g, out);
    } else {
        if (f->rule == OG_RULE_INDEX_OCI && !suggested)
            g.oci_base = NULL;
        rc = og_buf_append_cstr(out, "# One OCIRepository per chart, and the HelmRelease "
                                     "that uses it:\n");
        if (rc == OG_OK)
            rc = og_guidance_ocirepository(&g, out);
    }
out:
    cJSON_Delete(object);
    og_buf_cleanup(&url);
    return rc;
}

/*
 * The denial message: one line with the problem and the fix, then ready-to-apply YAML. The
 * YAML is best effort: when the object cannot be turned into it (a form cJSON refuses, or a
 * message past MESSAGE_MAX), the first line stands alone rather than the request failing.
 */
static enum og_err build_message(const struct repo *r, const struct finding *f, struct draft *dr)
{
    char msg_storage[LONG_TEXT], yaml_storage[LONG_TEXT];
    struct og_buf msg, yaml;
    enum og_err rc;

    og_buf_init_with(&msg, MESSAGE_MAX, msg_storage, sizeof(msg_storage));
    og_buf_init_with(&yaml, MESSAGE_MAX, yaml_storage, sizeof(yaml_storage));
    rc = first_line(r, f, &msg);
    if (rc == OG_ETOOBIG) {
        /* Only a huge url gets here: say it without the url. */
        og_buf_reset(&msg);
        rc = og_buf_appendf(&msg, "ocigate: HelmRepository %s/%s: rule %s applies.", r->ns, r->name,
                            og_rule_name(f->rule));
    }
    if (rc != OG_OK)
        goto out;
    if (f->rule != OG_RULE_INDEX_PENDING && f->rule != OG_RULE_INDEX_UNKNOWN &&
        guidance_yaml(r, f, dr->suggested_url != NONE, &yaml) == OG_OK)
        rc = og_buf_append_str(&msg, og_buf_view(&yaml));
    if (rc == OG_ETOOBIG)
        rc = OG_OK;
    if (rc == OG_OK)
        rc = put_text(dr, msg.ptr, msg.len, &dr->message);
out:
    og_buf_cleanup(&msg);
    og_buf_cleanup(&yaml);
    return rc;
}

static enum og_err deny(const struct repo *r, const struct finding *f, struct draft *dr)
{
    enum og_err rc;

    dr->d->allowed = false;
    dr->d->code = 403;
    rc = put_text(dr, "Forbidden", strlen("Forbidden"), &dr->reason);
    if (rc == OG_OK)
        rc = build_message(r, f, dr);
    if (rc == OG_OK)
        rc = annotate(dr, f, OG_STR_LIT("denied"));
    return rc;
}

/* A warning saying what the mutation changed (one line). */
static enum og_err warn_mutated(const struct repo *r, const struct finding *f, struct draft *dr)
{
    struct og_str extra =
        r->has_pass_credentials ? OG_STR_LIT(", removed passCredentials") : OG_STR_LIT("");

    if (f->new_url.len > 0 && !og_str_eq(og_buf_view(&f->new_url), r->url))
        return add_warning_strs(dr, OG_STR_LIT("ocigate: set spec.type to oci and spec.url to "),
                                og_buf_view(&f->shown), extra);
    return add_warning_strs(
        dr, OG_STR_LIT("ocigate: set spec.type to oci (spec.url is an OCI registry)"), extra);
}

/*
 * A `mixed` index: allowed in every mode, never patched (the charts still on http(s) would stop
 * resolving), with warnings that name the moved charts, the ones that keep the repository on
 * HTTP, and the per-chart fix. Each warning stands alone within the apiserver's limits.
 */
static enum og_err allow_mixed(const struct finding *f, struct draft *dr)
{
    const struct og_index_verdict *v = f->mixed;
    char storage[SHORT_TEXT];
    struct og_buf line;
    enum og_err rc;

    og_buf_init_with(&line, 4096, storage, sizeof(storage));
    rc = append_names(&line, "", v->oci_charts, v->n_oci_charts, v->charts_newest_oci);
    if (rc == OG_OK && v->n_oci_charts == 0)
        rc = og_buf_appendf(&line, "%u charts", v->charts_newest_oci);
    if (rc == OG_OK)
        rc = add_warning(dr, "ocigate: moved to OCI: %s", line.ptr);
    og_buf_reset(&line);
    if (rc == OG_OK)
        rc = append_names(&line, "", v->https_charts, v->n_https_charts, v->charts_https_after_oci);
    if (rc == OG_OK && v->n_https_charts == 0)
        rc = og_buf_appendf(&line, "%u charts", v->charts_https_after_oci);
    if (rc == OG_OK)
        rc = add_warning(dr, "ocigate: not patched: released over http(s) after the move: %s",
                         line.ptr);
    og_buf_reset(&line);
    if (rc == OG_OK && v->oci_base != NULL)
        rc = add_warning(dr,
                         "ocigate: per moved chart: OCIRepository %s/<chart> + "
                         "HelmRelease.spec.chartRef",
                         v->oci_base);
    else if (rc == OG_OK)
        rc = add_warning(dr, "ocigate: per moved chart: an OCIRepository in its registry + "
                             "HelmRelease.spec.chartRef");
    if (rc == OG_OK)
        rc = annotate(dr, f, OG_STR_LIT("allowed"));
    og_buf_cleanup(&line);
    return rc;
}

/* The mode for this request: exemptions, namespace rules, then the annotation. */
static enum og_mode effective_mode(const struct og_config *cfg, const struct og_policy_object *obj,
                                   const struct og_admission_context *ctx, const char **why)
{
    return og_config_resolve_mode(cfg, obj->namespace_, ctx->username, ctx->groups, ctx->n_groups,
                                  obj->mode_annotation, why);
}

/*
 * Allows with warnings and audit annotations (`decision` "allowed", "warned" or "ratcheted"):
 * audit mode's answer, which the ratchet gives too, saying why.
 */
static enum og_err warn(const struct finding *f, struct draft *dr, struct og_str decision)
{
    enum og_err rc;

    if (f->rule == OG_RULE_INDEX_PENDING || f->rule == OG_RULE_INDEX_UNKNOWN) {
        rc = add_warning_strs(dr, OG_STR_LIT("ocigate: "), og_buf_view(&f->problem),
                              OG_STR_LIT("; allowed"));
    } else {
        rc = add_warning_strs(dr, OG_STR_LIT("ocigate: "), og_buf_view(&f->problem));
        if (rc == OG_OK && dr->suggested_url != NONE)
            rc = add_warning_strs(dr, OG_STR_LIT("ocigate: fix: set spec.type: oci and spec.url: "),
                                  og_buf_view(&f->shown));
    }
    if (rc == OG_OK && dr->d->ratcheted)
        rc = add_warning_strs(dr, OG_STR_LIT("ocigate: allowed as this update leaves spec.url and "
                                             "spec.type unchanged (ratchet); changing them needs "
                                             "the fix"));
    if (rc == OG_OK)
        rc = annotate(dr, f, decision);
    return rc;
}

/* A denial, unless the ratchet holds: then audit mode's answer (og_decision.ratchet). */
static enum og_err refuse(const struct repo *r, const struct finding *f, struct draft *dr)
{
    if (!dr->d->ratchet)
        return deny(r, f, dr);
    dr->d->ratcheted = true;
    return warn(f, dr, OG_STR_LIT("ratcheted"));
}

static enum og_err decide(const struct og_config *cfg, const struct repo *r, enum og_endpoint ep,
                          const struct finding *f, struct draft *dr)
{
    struct og_decision *d = dr->d;
    enum og_mode mode = d->mode;
    enum og_err rc;

    if (f->fixable && f->new_url.len > 0) {
        rc = put_text(dr, f->new_url.ptr, f->new_url.len, &dr->suggested_url);
        if (rc != OG_OK)
            return rc;
    }
    if (f->rule == OG_RULE_INDEX_PENDING || f->rule == OG_RULE_INDEX_UNKNOWN) {
        if (mode == OG_MODE_ENFORCE && cfg->index.on_unknown == OG_ON_UNKNOWN_DENY)
            return refuse(r, f, dr);
        return warn(f, dr, OG_STR_LIT("allowed"));
    }
    if (f->rule == OG_RULE_INDEX_MIXED)
        return allow_mixed(f, dr);
    if (mode == OG_MODE_ENFORCE || (mode == OG_MODE_MUTATE && !f->fixable))
        return refuse(r, f, dr);
    if (mode == OG_MODE_MUTATE && ep == OG_ENDPOINT_MUTATE) {
        rc = build_patch(r, f, dr);
        if (rc == OG_OK)
            rc = warn_mutated(r, f, dr);
        if (rc == OG_OK && r->has_secret_ref)
            rc = add_warning_strs(dr, OG_STR_LIT("ocigate: check spec.secretRef: OCI registries "
                                                 "need a dockerconfigjson or username/password "
                                                 "secret"));
        if (rc == OG_OK)
            rc = annotate(dr, f, OG_STR_LIT("mutated"));
        return rc;
    }
    /* audit, or mutate asked through /validate (which never patches): warn. */
    return warn(f, dr, OG_STR_LIT("warned"));
}

/*
 * Turns the finding into the decision `d` (which holds the mode, and nothing that a rule
 * writes yet): the end of either step.
 */
static enum og_err apply(const struct og_config *cfg, const struct repo *r, enum og_endpoint ep,
                         struct finding *f, struct og_decision *d)
{
    char storage[LONG_TEXT];
    struct draft dr;
    enum og_err rc;

    if (d->block != NULL)
        return OG_EINVAL; /* decided already: a second apply() is a bug */
    if (f->new_url.len > FIX_URL_MAX)
        f->fixable = false;
    if (f->new_url.len > 0) {
        rc = og_url_redact(og_buf_view(&f->new_url), &f->shown);
        if (rc != OG_OK)
            return rc;
    }
    /* Field by field: the arrays are written before they are read (up to n_*). */
    dr.d = d;
    dr.n_warnings = dr.n_annotations = dr.patch_len = 0;
    dr.reason = dr.message = dr.patch = dr.suggested_url = dr.problem = NONE;
    og_buf_init_with(&dr.text, DRAFT_MAX, storage, sizeof(storage));
    d->rule = f->rule;
    rc = put_text(&dr, f->problem.ptr != NULL ? f->problem.ptr : "", f->problem.len, &dr.problem);
    if (rc == OG_OK)
        rc = decide(cfg, r, ep, f, &dr);
    if (rc == OG_OK)
        rc = add_annotation(&dr, OG_STR_LIT("mode"), og_str_of(og_mode_name(d->mode)));
    /* An opt-out that did not apply is worth saying, since the user expected it to. */
    if (rc == OG_OK && og_mode_why_annotation_ignored(d->mode_why))
        rc = add_warning(&dr, "ocigate: annotation %s ignored (%s mode; %s)", OG_MODE_ANNOTATION,
                         og_mode_name(d->mode),
                         cfg->allow_annotation_override ? "only audit may be asked for"
                                                        : "overrides are not allowed");
    if (rc == OG_OK)
        rc = finish(&dr);
    og_buf_cleanup(&dr.text);
    return rc;
}

enum og_err og_policy_eval(const struct og_config *cfg, const struct og_policy_object *obj,
                           const struct og_admission_context *ctx, enum og_endpoint ep,
                           struct og_decision *out)
{
    char new_url[SHORT_TEXT], shown[SHORT_TEXT], problem[SHORT_TEXT], norm_storage[SHORT_TEXT];
    struct og_decision d;
    struct finding f;
    struct repo r;
    struct og_buf norm;
    struct og_str parsed = {NULL, 0};
    enum og_err rc = OG_OK;

    memset(&d, 0, sizeof(d));
    memset(&f, 0, sizeof(f));
    og_buf_init_with(&f.new_url, URL_MAX, new_url, sizeof(new_url));
    og_buf_init_with(&f.shown, URL_MAX, shown, sizeof(shown));
    og_buf_init_with(&f.problem, URL_MAX, problem, sizeof(problem));
    og_buf_init_with(&norm, URL_MAX, norm_storage, sizeof(norm_storage));
    d.allowed = true;
    d.mode = OG_MODE_OFF;
    if (!in_scope(obj, ctx))
        goto out;
    d.mode = effective_mode(cfg, obj, ctx, &d.mode_why);
    if (d.mode == OG_MODE_OFF || !read_repo(obj, &r))
        goto out;
    /* Only enforce and mutate deny: the ratchet is not looked for in audit mode. */
    if ((d.mode == OG_MODE_ENFORCE || d.mode == OG_MODE_MUTATE) &&
        og_config_resolve_ratchet(cfg, obj->namespace_)) {
        rc = unchanged(&r, ctx, &d.ratchet);
        if (rc != OG_OK)
            goto out;
    }
    if (og_url_kind_is_http(r.kind)) {
        /* Normalized once: for the migration table, and as the name of the index. A url that
         * does not parse names no migration and is fetched as written: the fetcher refuses it
         * and says why, and the verdict (unknown) follows index.onUnknown like any failed
         * fetch. */
        rc = og_url_normalize(r.url, &norm, NULL);
        if (rc == OG_OK)
            parsed = og_buf_view(&norm);
        else if (rc == OG_EINVAL)
            rc = og_buf_append_str(&norm, r.url);
        if (rc != OG_OK)
            goto out;
    }
    rc = find_static(cfg, &r, parsed, &f);
    if (rc == OG_OK && f.rule == OG_RULE_NONE && og_url_kind_is_http(r.kind) &&
        cfg->index.enabled) {
        /* Only the index can still decide: say which one, rather than deciding. */
        d.index_url = og_buf_take(&norm, NULL);
        if (d.index_url == NULL)
            rc = OG_ENOMEM;
        /* Where nothing can be patched, the ratchet leaves the verdict only the warnings. */
        d.index_advisory = d.ratchet && (d.mode == OG_MODE_ENFORCE || ep == OG_ENDPOINT_VALIDATE);
        goto out;
    }
    if (rc != OG_OK || f.rule == OG_RULE_NONE)
        goto out;
    rc = apply(cfg, &r, ep, &f, &d);
out:
    og_buf_cleanup(&f.new_url);
    og_buf_cleanup(&f.shown);
    og_buf_cleanup(&f.problem);
    og_buf_cleanup(&norm);
    if (rc != OG_OK) {
        og_decision_cleanup(&d);
        memset(out, 0, sizeof(*out));
        return rc;
    }
    *out = d;
    return OG_OK;
}

enum og_err og_policy_eval_index(const struct og_config *cfg, const struct og_policy_object *obj,
                                 enum og_endpoint ep, const struct og_index_verdict *verdict,
                                 struct og_decision *d)
{
    char new_url[SHORT_TEXT], shown[SHORT_TEXT], problem[SHORT_TEXT];
    struct og_index_verdict as_moved;
    struct finding f;
    struct repo r;
    enum og_err rc;

    /* The first step set index_url only for an in-scope object with an http(s) spec.url. */
    if (d->index_url == NULL || d->rule != OG_RULE_NONE || !read_repo(obj, &r))
        return OG_EINVAL;
    if (verdict->state == OG_INDEX_STATE_MIXED && cfg->index.on_mixed == OG_ON_MIXED_MOVED) {
        /* A view of the same verdict (nothing copied, nothing to free): every field an oci
         * one has, a mixed one has too. */
        as_moved = *verdict;
        as_moved.state = OG_INDEX_STATE_OCI;
        verdict = &as_moved;
    }
    memset(&f, 0, sizeof(f));
    og_buf_init_with(&f.new_url, URL_MAX, new_url, sizeof(new_url));
    og_buf_init_with(&f.shown, URL_MAX, shown, sizeof(shown));
    og_buf_init_with(&f.problem, URL_MAX, problem, sizeof(problem));
    rc = find_index(&r, d->index_url, verdict, &f);
    if (rc == OG_OK && f.rule != OG_RULE_NONE)
        rc = apply(cfg, &r, ep, &f, d);
    og_buf_cleanup(&f.new_url);
    og_buf_cleanup(&f.shown);
    og_buf_cleanup(&f.problem);
    if (rc != OG_OK)
        og_decision_cleanup(d);
    return rc;
}
