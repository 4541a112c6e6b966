#include "harness.h"

#include <cjson/cJSON.h>

#include "jsonpatch_apply.h"
#include "ocigate/config.h"
#include "ocigate/jsonpatch.h"
#include "ocigate/policy.h"
#include "ocigate/review.h"

/* Builds an AdmissionReview for a HelmRepository with the given spec (JSON text). */
static char *review_json(const char *api, const char *op, const char *version, const char *spec)
{
    struct og_buf b;

    og_buf_init(&b, 4u << 20);
    if (og_buf_appendf(&b,
                       "{\"apiVersion\":\"%s\",\"kind\":\"AdmissionReview\",\"request\":{"
                       "\"uid\":\"u-1\",\"kind\":{\"group\":\"source.toolkit.fluxcd.io\","
                       "\"version\":\"%s\",\"kind\":\"HelmRepository\"},\"name\":\"bitnami\","
                       "\"namespace\":\"apps\",\"operation\":\"%s\",\"userInfo\":{\"username\":"
                       "\"alice\",\"groups\":[\"dev\"]},\"object\":{\"apiVersion\":"
                       "\"source.toolkit.fluxcd.io/%s\",\"kind\":\"HelmRepository\",\"metadata\":"
                       "{\"name\":\"bitnami\",\"namespace\":\"apps\",\"labels\":{\"team\":\"a\"}},"
                       "\"spec\":%s},\"dryRun\":false}}",
                       api, version, op, version, spec) != OG_OK)
        abort();
    return og_buf_take(&b, NULL);
}

struct eval {
    struct og_review *rv;
    struct og_decision d;
};

/* The lengths a decision gives for its warnings and annotations are those of their text. */
static void check_lengths(const struct og_decision *d)
{
    ASSERT((d->warning_lens != NULL) == (d->n_warnings > 0));
    for (size_t i = 0; i < d->n_warnings; i++)
        ASSERT_EQ(d->warning_lens[i], strlen(d->warnings[i]));
    for (size_t i = 0; i < d->n_annotations; i++) {
        ASSERT_EQ(d->annotations[i].key_len, strlen(d->annotations[i].key));
        ASSERT_EQ(d->annotations[i].value_len, strlen(d->annotations[i].value));
    }
}

/*
 * Both steps of the policy on a review, as the server runs them: the static rules, then,
 * when they leave it to the index and `verdict` is given, the index rules.
 */
static enum og_err eval_review(const struct og_config *cfg, const struct og_review *rv,
                               enum og_endpoint ep, const struct og_index_verdict *verdict,
                               struct og_decision *d)
{
    struct og_policy_object obj;
    struct og_admission_context ctx;
    bool has = og_review_policy_input(rv, &obj, &ctx);
    enum og_err rc = og_policy_eval(cfg, has ? &obj : NULL, &ctx, ep, d);

    if (rc == OG_OK && verdict != NULL && d->index_url != NULL)
        rc = og_policy_eval_index(cfg, &obj, ep, verdict, d);
    if (rc == OG_OK)
        check_lengths(d);
    return rc;
}

static void eval_spec(const struct og_config *cfg, const char *spec, enum og_endpoint ep,
                      const struct og_index_verdict *verdict, struct eval *e)
{
    char *body = review_json("admission.k8s.io/v1", "CREATE", "v1", spec);
    struct og_diag diag;

    og_diag_clear(&diag);
    ASSERT_EQ(og_review_decode(body, strlen(body), &e->rv, &diag), OG_OK);
    free(body);
    ASSERT_EQ(eval_review(cfg, e->rv, ep, verdict, &e->d), OG_OK);
}

static void eval_done(struct eval *e)
{
    og_decision_cleanup(&e->d);
    og_review_free(e->rv);
}

/* Applies the decision's patch to a copy of the object; returns the patched spec's JSON. */
static char *patched_spec(const struct eval *e)
{
    cJSON *obj = NULL;
    struct og_diag diag;
    char *out;

    if (og_review_object_tree(e->rv, &obj) != OG_OK)
        return NULL;
    og_diag_clear(&diag);
    if (og_patch_apply(e->d.patch, e->d.patch_len, obj, &diag) != OG_OK) {
        fprintf(stderr, "patch does not apply: %s\n", diag.msg);
        cJSON_Delete(obj);
        return NULL;
    }
    out = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(obj, "spec"));
    cJSON_Delete(obj);
    return out;
}

static struct og_config *config(enum og_mode mode)
{
    struct og_config *cfg = NULL;

    if (og_config_new(&cfg) != OG_OK)
        abort();
    cfg->mode = mode;
    return cfg;
}

/* Every static rule, in mutate mode through /mutate: patch and resulting spec. */
OG_TEST(mutate_rules)
{
    static const struct {
        const char *spec;
        enum og_rule rule;
        const char *want_spec; /* NULL: no patch */
        bool allowed;
    } cases[] = {
        {"{\"url\":\"oci://ghcr.io/org/charts\"}", OG_RULE_OCI_URL_HTTP_TYPE,
         "{\"url\":\"oci://ghcr.io/org/charts\",\"type\":\"oci\"}", true},
        {"{\"url\":\"oci://ghcr.io/org/charts\",\"type\":\"default\",\"interval\":\"5m\"}",
         OG_RULE_OCI_URL_HTTP_TYPE,
         "{\"url\":\"oci://ghcr.io/org/charts\",\"type\":\"oci\",\"interval\":\"5m\"}", true},
        /* A url naming a chart version is cut back to the registry path. */
        {"{\"url\":\"oci://registry-1.docker.io/bitnamicharts/redis:20.4.0\"}",
         OG_RULE_OCI_URL_HTTP_TYPE,
         "{\"url\":\"oci://registry-1.docker.io/bitnamicharts\",\"type\":\"oci\"}", true},
        {"{\"url\":\"https://charts.bitnami.com/bitnami\",\"provider\":\"generic\","
         "\"passCredentials\":true,\"interval\":\"1h\"}",
         OG_RULE_KNOWN_MIGRATION,
         "{\"url\":\"oci://registry-1.docker.io/bitnamicharts\",\"provider\":\"generic\","
         "\"interval\":\"1h\",\"type\":\"oci\"}",
         true},
        {"{\"url\":\"HTTPS://Charts.Bitnami.COM/bitnami/\",\"type\":\"default\"}",
         OG_RULE_KNOWN_MIGRATION,
         "{\"url\":\"oci://registry-1.docker.io/bitnamicharts\",\"type\":\"oci\"}", true},
        {"{\"url\":\"http://charts.bitnami.com/bitnami//\"}", OG_RULE_KNOWN_MIGRATION,
         "{\"url\":\"oci://registry-1.docker.io/bitnamicharts\",\"type\":\"oci\"}", true},
        {"{\"url\":\"https://charts.bitnami.com/bitnami\",\"type\":\"oci\"}",
         OG_RULE_KNOWN_MIGRATION,
         "{\"url\":\"oci://registry-1.docker.io/bitnamicharts\",\"type\":\"oci\"}", true},
        {"{\"url\":\"https://example.com/charts\",\"type\":\"oci\"}", OG_RULE_OCI_TYPE_HTTP_URL,
         NULL, false},
        {"{\"url\":\"https://example.com/charts\"}", OG_RULE_NONE, NULL, true},
        {"{\"url\":\"oci://ghcr.io/org/charts\",\"type\":\"oci\"}", OG_RULE_NONE, NULL, true},
        /* The path differs from the table's: not the known repository. */
        {"{\"url\":\"https://charts.bitnami.com/bitnami/sub\"}", OG_RULE_NONE, NULL, true},
    };
    struct og_config *cfg = config(OG_MODE_MUTATE);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct eval e;
        char *spec;

        fprintf(stderr, "  case %zu: %s\n", i, cases[i].spec);
        eval_spec(cfg, cases[i].spec, OG_ENDPOINT_MUTATE, NULL, &e);
        ASSERT_EQ(e.d.rule, cases[i].rule);
        ASSERT_EQ(e.d.allowed, cases[i].allowed);
        if (cases[i].want_spec == NULL) {
            ASSERT(e.d.patch == NULL);
        } else {
            ASSERT(e.d.patch != NULL);
            ASSERT_EQ(e.d.n_warnings >= 1, 1);
            spec = patched_spec(&e);
            ASSERT_STR_EQ(spec, cases[i].want_spec);
            cJSON_free(spec);
        }
        if (cases[i].rule == OG_RULE_NONE)
            ASSERT_EQ(e.d.n_warnings + e.d.n_annotations, 0);
        if (!cases[i].allowed) {
            ASSERT_EQ(e.d.code, 403);
            ASSERT_STR_CONTAINS(e.d.message, "spec.type is oci");
        }
        eval_done(&e);
    }
    og_config_unref(cfg);
}

/* The patched object is not patched again, and the same input gives the same bytes. */
OG_TEST(mutate_is_idempotent_and_deterministic)
{
    static const char *const specs[] = {
        "{\"url\":\"https://charts.bitnami.com/bitnami\",\"passCredentials\":false}",
        "{\"url\":\"oci://ghcr.io/org/charts/\"}",
        "{\"url\":\"oci://reg.example/x/chart-1.2.3.tgz\",\"type\":\"default\"}",
    };
    struct og_config *cfg = config(OG_MODE_MUTATE);

    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        struct eval a, b, again;
        char *spec = NULL;

        eval_spec(cfg, specs[i], OG_ENDPOINT_MUTATE, NULL, &a);
        eval_spec(cfg, specs[i], OG_ENDPOINT_MUTATE, NULL, &b);
        ASSERT(a.d.patch != NULL);
        ASSERT_EQ(a.d.patch_len, b.d.patch_len);
        ASSERT_MEM_EQ(a.d.patch, a.d.patch_len, b.d.patch);
        spec = patched_spec(&a);
        ASSERT(spec != NULL);
        eval_spec(cfg, spec, OG_ENDPOINT_MUTATE, NULL, &again);
        ASSERT(again.d.patch == NULL);
        ASSERT_EQ(again.d.rule, OG_RULE_NONE);
        ASSERT_EQ(again.d.allowed, 1);
        cJSON_free(spec);
        eval_done(&a);
        eval_done(&b);
        eval_done(&again);
    }
    og_config_unref(cfg);
}

OG_TEST(enforce_denies_with_guidance)
{
    struct og_config *cfg = config(OG_MODE_ENFORCE);
    struct eval e;

    eval_spec(cfg,
              "{\"url\":\"https://charts.bitnami.com/bitnami\",\"interval\":\"10m\","
              "\"secretRef\":{\"name\":\"creds\"}}",
              OG_ENDPOINT_MUTATE, NULL, &e);
    ASSERT_EQ(e.d.allowed, 0);
    ASSERT_EQ(e.d.code, 403);
    ASSERT_STR_EQ(e.d.reason, "Forbidden");
    ASSERT(e.d.patch == NULL);
    ASSERT_STR_CONTAINS(e.d.message, "ocigate: HelmRepository apps/bitnami: "
                                     "https://charts.bitnami.com/bitnami moved its charts to OCI");
    ASSERT_STR_CONTAINS(e.d.message, "kind: HelmRepository");
    ASSERT_STR_CONTAINS(e.d.message, "type: oci");
    ASSERT_STR_CONTAINS(e.d.message, "url: oci://registry-1.docker.io/bitnamicharts\n");
    ASSERT_STR_CONTAINS(e.d.message, "kind: OCIRepository");
    ASSERT_STR_CONTAINS(e.d.message,
                        "mediaType: application/vnd.cncf.helm.chart.content.v1.tar+gzip");
    ASSERT_STR_CONTAINS(e.d.message, "operation: copy");
    ASSERT_STR_CONTAINS(e.d.message, "semver: '*'");
    ASSERT_STR_CONTAINS(e.d.message, "chartRef:");
    ASSERT_STR_CONTAINS(e.d.message, "team: a");
    /* The first line states the problem and the fix. */
    ASSERT(strchr(e.d.message, '\n') != NULL);
    ASSERT(strstr(e.d.message, "Fix: set spec.type: oci") < strchr(e.d.message, '\n'));
    eval_done(&e);

    /* In enforce mode, /validate denies the same way. */
    eval_spec(cfg, "{\"url\":\"oci://ghcr.io/org/charts\"}", OG_ENDPOINT_VALIDATE, NULL, &e);
    ASSERT_EQ(e.d.allowed, 0);
    ASSERT_EQ(e.d.rule, OG_RULE_OCI_URL_HTTP_TYPE);
    eval_done(&e);
    og_config_unref(cfg);
}

/* Guidance that cannot be made never turns a denial into an error. */
OG_TEST(enforce_without_guidance_still_denies)
{
    struct og_config *cfg = config(OG_MODE_ENFORCE);
    struct og_buf spec;
    struct eval e;

    /* cJSON refuses a lone surrogate that JSON allows: the first line stands alone. */
    eval_spec(cfg, "{\"url\":\"https://charts.bitnami.com/bitnami\",\"x\":\"\\ud800\"}",
              OG_ENDPOINT_MUTATE, NULL, &e);
    ASSERT_EQ(e.d.allowed, 0);
    ASSERT_EQ(e.d.code, 403);
    ASSERT_STR_CONTAINS(e.d.message, "Fix: set spec.type: oci");
    ASSERT(strchr(e.d.message, '\n') == NULL);
    eval_done(&e);

    /* Guidance past the message cap is left out the same way. */
    og_buf_init(&spec, 1u << 22);
    ASSERT_EQ(og_buf_append_cstr(&spec, "{\"url\":\"https://charts.bitnami.com/bitnami\""), OG_OK);
    for (int i = 0; i < 3000; i++)
        ASSERT_EQ(og_buf_appendf(&spec, ",\"k%d\":\"value-value-value-%d\"", i, i), OG_OK);
    ASSERT_EQ(og_buf_append_cstr(&spec, "}"), OG_OK);
    eval_spec(cfg, spec.ptr, OG_ENDPOINT_MUTATE, NULL, &e);
    ASSERT_EQ(e.d.allowed, 0);
    ASSERT_STR_CONTAINS(e.d.message, "Fix: set spec.type: oci");
    eval_done(&e);
    og_buf_cleanup(&spec);
    og_config_unref(cfg);
}

OG_TEST(audit_warns_and_annotates)
{
    struct og_config *cfg = config(OG_MODE_AUDIT);
    static const char *const specs[] = {
        "{\"url\":\"https://charts.bitnami.com/bitnami\"}",
        "{\"url\":\"oci://ghcr.io/org/charts\"}",
        "{\"url\":\"https://example.com/charts\",\"type\":\"oci\"}",
    };

    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        struct eval e;

        eval_spec(cfg, specs[i], OG_ENDPOINT_MUTATE, NULL, &e);
        ASSERT_EQ(e.d.allowed, 1);
        ASSERT(e.d.patch == NULL);
        ASSERT(e.d.n_warnings >= 1);
        ASSERT(e.d.n_annotations >= 2);
        for (size_t w = 0; w < e.d.n_warnings; w++) {
            ASSERT(strlen(e.d.warnings[w]) <= 120);
            for (const char *p = e.d.warnings[w]; *p; p++)
                ASSERT((unsigned char)*p >= 0x20);
        }
        for (size_t a = 0; a < e.d.n_annotations; a++) {
            ASSERT(strchr(e.d.annotations[a].key, '/') == NULL);
            ASSERT(strlen(e.d.annotations[a].key) <= 63);
        }
        ASSERT_STR_EQ(e.d.annotations[0].key, "decision");
        ASSERT_STR_EQ(e.d.annotations[0].value, "warned");
        eval_done(&e);
    }
    og_config_unref(cfg);
}

/* mutate mode through /validate never patches; it warns on what /mutate would fix. */
OG_TEST(validate_never_patches)
{
    struct og_config *cfg = config(OG_MODE_MUTATE);
    struct eval e;

    eval_spec(cfg, "{\"url\":\"https://charts.bitnami.com/bitnami\"}", OG_ENDPOINT_VALIDATE, NULL,
              &e);
    ASSERT_EQ(e.d.allowed, 1);
    ASSERT(e.d.patch == NULL);
    ASSERT(e.d.n_warnings >= 1);
    eval_done(&e);
    eval_spec(cfg, "{\"url\":\"https://example.com/x\",\"type\":\"oci\"}", OG_ENDPOINT_VALIDATE,
              NULL, &e);
    ASSERT_EQ(e.d.allowed, 0);
    eval_done(&e);
    og_config_unref(cfg);
}

/* Long urls and control characters never make a warning over 120 runes or unprintable. */
OG_TEST(warnings_are_bounded)
{
    struct og_config *cfg = config(OG_MODE_AUDIT);
    struct og_buf spec;
    struct eval e;

    og_buf_init(&spec, 1u << 16);
    /* é, a newline, NEL (U+0085, a C1 control Go refuses in warnings) and U+FFFD. */
    ASSERT_EQ(
        og_buf_append_cstr(&spec, "{\"url\":\"oci://r\\u00e9gistry.example/\\n\\u0085\\ufffd"),
        OG_OK);
    for (int i = 0; i < 100; i++)
        ASSERT_EQ(og_buf_append_cstr(&spec, "\\u00e9abc"), OG_OK);
    ASSERT_EQ(og_buf_append_cstr(&spec, "\"}"), OG_OK);
    eval_spec(cfg, spec.ptr, OG_ENDPOINT_MUTATE, NULL, &e);
    ASSERT(e.d.n_warnings >= 1);
    for (size_t w = 0; w < e.d.n_warnings; w++) {
        size_t runes = 0;

        for (const char *p = e.d.warnings[w]; *p; p++) {
            ASSERT((unsigned char)*p >= 0x20);
            /* No C1 control: U+0080..U+009F is encoded as C2 80..C2 9F. */
            ASSERT(!((unsigned char)p[0] == 0xC2 && (unsigned char)p[1] >= 0x80 &&
                     (unsigned char)p[1] <= 0x9F));
            runes += ((unsigned char)*p & 0xC0) != 0x80;
        }
        ASSERT(runes <= 120);
    }
    eval_done(&e);
    og_buf_cleanup(&spec);
    og_config_unref(cfg);
}

OG_TEST(out_of_scope_is_untouched)
{
    struct og_config *cfg = config(OG_MODE_ENFORCE);
    const char *body =
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
        "\"uid\":\"x\",\"kind\":{\"group\":\"source.toolkit.fluxcd.io\",\"version\":\"v1\","
        "\"kind\":\"HelmRepository\"},\"operation\":\"DELETE\",\"object\":null,\"oldObject\":"
        "{\"spec\":{\"url\":\"oci://x/y\"}}}}";
    struct og_review *rv = NULL;
    struct og_decision d;

    ASSERT_EQ(og_review_decode(body, strlen(body), &rv, NULL), OG_OK);
    ASSERT_EQ(eval_review(cfg, rv, OG_ENDPOINT_MUTATE, NULL, &d), OG_OK);
    ASSERT_EQ(d.allowed, 1);
    ASSERT_EQ(d.rule, OG_RULE_NONE);
    ASSERT_EQ(d.n_warnings, 0);
    og_decision_cleanup(&d);
    og_review_free(rv);

    /* An UPDATE that removes finalizers of an object being deleted is never blocked. */
    {
        const char *deleting =
            "{\"request\":{\"uid\":\"x\",\"kind\":{\"group\":\"source.toolkit.fluxcd.io\","
            "\"version\":\"v1\",\"kind\":\"HelmRepository\"},\"operation\":\"UPDATE\","
            "\"object\":{\"metadata\":{\"name\":\"r\",\"deletionTimestamp\":"
            "\"2026-11-27T10:00:00Z\",\"finalizers\":[]},\"spec\":{\"url\":"
            "\"https://charts.bitnami.com/bitnami\"}}}}";

        ASSERT_EQ(og_review_decode(deleting, strlen(deleting), &rv, NULL), OG_OK);
        ASSERT_EQ(eval_review(cfg, rv, OG_ENDPOINT_MUTATE, NULL, &d), OG_OK);
        ASSERT_EQ(d.allowed, 1);
        ASSERT(d.patch == NULL);
        ASSERT_EQ(d.n_warnings, 0);
        og_decision_cleanup(&d);
        og_review_free(rv);
    }

    cfg->mode = OG_MODE_OFF;
    {
        struct eval e;

        eval_spec(cfg, "{\"url\":\"oci://ghcr.io/org/charts\"}", OG_ENDPOINT_MUTATE, NULL, &e);
        ASSERT_EQ(e.d.allowed, 1);
        ASSERT(e.d.patch == NULL);
        ASSERT_EQ(e.d.n_warnings, 0);
        eval_done(&e);
    }
    og_config_unref(cfg);
}

OG_TEST(index_verdicts)
{
    struct og_config *cfg = config(OG_MODE_MUTATE);
    char base[] = "oci://registry-1.docker.io/kubeshop";
    char other[] = "oci://us-east1-docker.pkg.dev/x/y";
    char *bases[] = {base, other};
    char detail[] = "HTTP 401";
    char c1[] = "testkube", c2[] = "testkube-api";
    char *charts[] = {c1, c2};
    struct og_index_verdict oci = {
        OG_INDEX_STATE_OCI, base, bases, 1, 14, 3312, 30, 2, NULL, charts, 2, 0, NULL, 0};
    struct og_index_verdict multi = {
        OG_INDEX_STATE_OCI, NULL, bases, 2, 14, 3312, 30, 2, NULL, NULL, 0, 0, NULL, 0};
    struct og_index_verdict pending = {
        OG_INDEX_STATE_PENDING, NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, 0, 0, NULL, 0};
    struct og_index_verdict unknown = {
        OG_INDEX_STATE_UNKNOWN, NULL, NULL, 0, 0, 0, 0, 0, detail, NULL, 0, 0, NULL, 0};
    struct og_index_verdict clean = {
        OG_INDEX_STATE_CLEAN, NULL, NULL, 0, 1, 3, 0, 0, NULL, NULL, 0, 0, NULL, 0};
    const char *spec = "{\"url\":\"https://kubeshop.github.io/helm-charts\"}";
    struct og_review *rv = NULL;
    char *body = review_json("admission.k8s.io/v1", "CREATE", "v1", spec);
    struct og_decision d;
    struct eval e;
    char *patched;

    ASSERT_EQ(og_review_decode(body, strlen(body), &rv, NULL), OG_OK);
    ASSERT_EQ(eval_review(cfg, rv, OG_ENDPOINT_MUTATE, NULL, &d), OG_OK);
    ASSERT_STR_EQ(d.index_url, "https://kubeshop.github.io/helm-charts");
    ASSERT_EQ(d.rule, OG_RULE_NONE);
    ASSERT_EQ(d.allowed, 1);
    og_decision_cleanup(&d);
    og_review_free(rv);
    free(body);
    /* Scheme and host fold; the path's trailing '/' goes; the query stays as written. */
    body = review_json("admission.k8s.io/v1", "CREATE", "v1",
                       "{\"url\":\"HTTPS://Blob.Example?SIG=AbC\"}");
    ASSERT_EQ(og_review_decode(body, strlen(body), &rv, NULL), OG_OK);
    ASSERT_EQ(eval_review(cfg, rv, OG_ENDPOINT_MUTATE, NULL, &d), OG_OK);
    ASSERT_STR_EQ(d.index_url, "https://blob.example?SIG=AbC");
    ASSERT_EQ(d.rule, OG_RULE_NONE);
    ASSERT_EQ(d.allowed, 1);
    og_decision_cleanup(&d);
    og_review_free(rv);
    free(body);
    body = review_json("admission.k8s.io/v1", "CREATE", "v1",
                       "{\"url\":\"https://h.example/charts/?sig=x\"}");
    ASSERT_EQ(og_review_decode(body, strlen(body), &rv, NULL), OG_OK);
    ASSERT_EQ(eval_review(cfg, rv, OG_ENDPOINT_MUTATE, NULL, &d), OG_OK);
    ASSERT_STR_EQ(d.index_url, "https://h.example/charts?sig=x");
    ASSERT_EQ(d.rule, OG_RULE_NONE);
    ASSERT_EQ(d.allowed, 1);
    og_decision_cleanup(&d);
    og_review_free(rv);
    free(body);

    eval_spec(cfg, spec, OG_ENDPOINT_MUTATE, &oci, &e);
    ASSERT_EQ(e.d.rule, OG_RULE_INDEX_OCI);
    patched = patched_spec(&e);
    ASSERT_STR_EQ(patched, "{\"url\":\"oci://registry-1.docker.io/kubeshop\",\"type\":\"oci\"}");
    cJSON_free(patched);
    eval_done(&e);

    /* Enforce names the charts that moved and makes the guidance concrete for the first. */
    cfg->mode = OG_MODE_ENFORCE;
    eval_spec(cfg, spec, OG_ENDPOINT_MUTATE, &oci, &e);
    ASSERT_EQ(e.d.allowed, 0);
    ASSERT_STR_CONTAINS(e.d.message, "; charts on OCI: testkube, testkube-api");
    ASSERT_STR_CONTAINS(e.d.message, "url: oci://registry-1.docker.io/kubeshop/testkube\n");
    ASSERT_STR_CONTAINS(e.d.message, "  name: testkube\n");
    eval_done(&e);
    cfg->mode = OG_MODE_MUTATE;

    eval_spec(cfg, spec, OG_ENDPOINT_MUTATE, &multi, &e);
    ASSERT_EQ(e.d.allowed, 0);
    ASSERT_STR_CONTAINS(e.d.message, "2 registries");
    ASSERT_STR_CONTAINS(e.d.message, other);
    eval_done(&e);

    eval_spec(cfg, spec, OG_ENDPOINT_MUTATE, &pending, &e);
    ASSERT_EQ(e.d.allowed, 1);
    ASSERT_EQ(e.d.rule, OG_RULE_INDEX_PENDING);
    ASSERT_STR_CONTAINS(e.d.warnings[0], "pending");
    eval_done(&e);

    eval_spec(cfg, spec, OG_ENDPOINT_MUTATE, &unknown, &e);
    ASSERT_EQ(e.d.allowed, 1);
    ASSERT_STR_CONTAINS(e.d.warnings[0], "HTTP 401");
    eval_done(&e);

    cfg->mode = OG_MODE_ENFORCE;
    cfg->index.on_unknown = OG_ON_UNKNOWN_DENY;
    eval_spec(cfg, spec, OG_ENDPOINT_MUTATE, &pending, &e);
    ASSERT_EQ(e.d.allowed, 0);
    eval_done(&e);

    eval_spec(cfg, spec, OG_ENDPOINT_MUTATE, &clean, &e);
    ASSERT_EQ(e.d.allowed, 1);
    ASSERT_EQ(e.d.rule, OG_RULE_NONE);
    eval_done(&e);
    og_config_unref(cfg);
}

/* The value of annotation `key` of `d`, or NULL. */
static const char *annotation(const struct og_decision *d, const char *key)
{
    for (size_t i = 0; i < d->n_annotations; i++) {
        if (strcmp(d->annotations[i].key, key) == 0)
            return d->annotations[i].value;
    }
    return NULL;
}

/* Checks the apiserver's limits on warnings: at most 4, each <= 120 runes, no controls. */
static void check_warning_limits(const struct og_decision *d)
{
    size_t total = 0;

    ASSERT(d->n_warnings <= 4);
    for (size_t i = 0; i < d->n_warnings; i++) {
        size_t runes = 0;

        for (const unsigned char *p = (const unsigned char *)d->warnings[i]; *p != '\0'; p++) {
            ASSERT(*p >= 0x20 && *p != 0x7f);
            runes += (*p & 0xC0) != 0x80;
        }
        ASSERT(runes <= 120);
        total += runes;
    }
    ASSERT(total <= 4096);
}

/*
 * A `mixed` verdict: never patched and never denied by the index rule, in any mode and at
 * either endpoint, with warnings that name the moved charts and give the per-chart fix;
 * index.onMixed: moved treats it as oci (patch in mutate, deny in enforce).
 */
OG_TEST(index_mixed)
{
    struct og_config *cfg = config(OG_MODE_MUTATE);
    char base[] = "oci://registry-1.docker.io/bitnamicharts";
    char other[] = "oci://ghcr.io/acme/charts";
    char *bases[] = {base, other};
    char m1[] = "minio", m2[] = "nginx", m3[] = "redis", m4[] = "zookeeper", h1[] = "legacy";
    char *moved[] = {m1, m2, m3, m4}, *kept[] = {h1};
    char long_name[300], ctl[] = "bad\nname\x1b[31m";
    char *odd[] = {long_name, ctl};
    struct og_index_verdict mixed = {
        OG_INDEX_STATE_MIXED, base, bases, 1, 756, 24136, 2303, 700, NULL, moved, 4, 1, kept, 1};
    struct og_index_verdict multi = mixed;
    const char *spec = "{\"url\":\"https://charts.example.com/stable\"}";
    struct eval e;
    char *patched;

    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    multi.oci_base = NULL;
    multi.n_bases = 2;
    for (int mode = OG_MODE_AUDIT; mode <= OG_MODE_ENFORCE; mode++) {
        for (int ep = OG_ENDPOINT_MUTATE; ep <= OG_ENDPOINT_VALIDATE; ep++) {
            cfg->mode = (enum og_mode)mode;
            cfg->index.on_mixed = OG_ON_MIXED_WARN;
            fprintf(stderr, "  mode %s, endpoint %d\n", og_mode_name(cfg->mode), ep);
            eval_spec(cfg, spec, (enum og_endpoint)ep, &mixed, &e);
            ASSERT_EQ(e.d.allowed, 1);
            ASSERT(e.d.patch == NULL);
            ASSERT_EQ(e.d.rule, OG_RULE_INDEX_MIXED);
            ASSERT_STR_EQ(og_rule_name(e.d.rule), "index-mixed");
            ASSERT_EQ(e.d.n_warnings, 3);
            ASSERT_STR_EQ(e.d.warnings[0], "ocigate: moved to OCI: minio, nginx, redis, +697 more");
            ASSERT_STR_EQ(e.d.warnings[1],
                          "ocigate: not patched: released over http(s) after the move: legacy");
            ASSERT_STR_EQ(e.d.warnings[2], "ocigate: per moved chart: OCIRepository "
                                           "oci://registry-1.docker.io/bitnamicharts/<chart> + "
                                           "HelmRelease.spec.chartRef");
            check_warning_limits(&e.d);
            ASSERT_STR_EQ(annotation(&e.d, "decision"), "allowed");
            ASSERT_STR_EQ(annotation(&e.d, "rule"), "index-mixed");
            ASSERT(annotation(&e.d, "suggested-url") == NULL);
            ASSERT_STR_CONTAINS(e.d.problem, "https://charts.example.com/stable");
            ASSERT_STR_CONTAINS(e.d.problem, "; still http(s): legacy");
            eval_done(&e);

            /* Several registries: no single base to name. */
            eval_spec(cfg, spec, (enum og_endpoint)ep, &multi, &e);
            ASSERT_EQ(e.d.allowed, 1);
            ASSERT(e.d.patch == NULL);
            ASSERT_STR_EQ(e.d.warnings[2], "ocigate: per moved chart: an OCIRepository in its "
                                           "registry + HelmRelease.spec.chartRef");
            eval_done(&e);

            /* Index text: names cut and cleaned, within the limits. */
            mixed.oci_charts = odd;
            mixed.n_oci_charts = 2;
            mixed.https_charts = odd;
            mixed.n_https_charts = 2;
            eval_spec(cfg, spec, (enum og_endpoint)ep, &mixed, &e);
            ASSERT_EQ(e.d.allowed, 1);
            check_warning_limits(&e.d);
            ASSERT_STR_CONTAINS(e.d.warnings[0], "...");
            eval_done(&e);
            mixed.oci_charts = moved;
            mixed.n_oci_charts = 4;
            mixed.https_charts = kept;
            mixed.n_https_charts = 1;

            cfg->index.on_mixed = OG_ON_MIXED_MOVED;
            eval_spec(cfg, spec, (enum og_endpoint)ep, &mixed, &e);
            ASSERT_EQ(e.d.rule, OG_RULE_INDEX_OCI);
            if (mode == OG_MODE_ENFORCE) {
                ASSERT_EQ(e.d.allowed, 0);
                ASSERT_EQ(e.d.code, 403);
                ASSERT_STR_CONTAINS(e.d.message, "charts on OCI: minio, nginx, redis");
            } else if (mode == OG_MODE_MUTATE && ep == OG_ENDPOINT_MUTATE) {
                ASSERT_EQ(e.d.allowed, 1);
                patched = patched_spec(&e);
                ASSERT_STR_EQ(patched, "{\"url\":\"oci://registry-1.docker.io/bitnamicharts\","
                                       "\"type\":\"oci\"}");
                cJSON_free(patched);
            } else {
                /* audit, or mutate through /validate: warned, as for an oci verdict. */
                ASSERT_EQ(e.d.allowed, 1);
                ASSERT(e.d.patch == NULL);
                ASSERT_STR_EQ(annotation(&e.d, "decision"), "warned");
            }
            eval_done(&e);
        }
    }
    og_config_unref(cfg);
}

/*
 * Warnings and messages name the index by the url the fetcher used (Flux's join): never
 * `<url>//index.yaml` for a url ending in '/', nor the query before the path.
 */
OG_TEST(index_url_in_text)
{
    static const struct {
        const char *url;
        const char *index;
    } cases[] = {
        {"https://example.com/charts/", "https://example.com/charts/index.yaml"},
        {"https://example.com/charts//", "https://example.com/charts/index.yaml"},
        {"https://example.com/charts", "https://example.com/charts/index.yaml"},
        {"https://example.com/charts?sig=a%2Fb", "https://example.com/charts/index.yaml?sig=a%2Fb"},
        {"https://example.com/charts/?sig=x#top", "https://example.com/charts/index.yaml?sig=x"},
        /* The url normalized as it is fetched (and cached), not as written. */
        {"HTTPS://Example.COM:443/charts", "https://example.com/charts/index.yaml"},
    };
    struct og_config *cfg = config(OG_MODE_MUTATE);
    char detail[] = "HTTP 404";
    struct og_index_verdict pending = {
        OG_INDEX_STATE_PENDING, NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, 0, 0, NULL, 0};
    struct og_index_verdict unknown = {
        OG_INDEX_STATE_UNKNOWN, NULL, NULL, 0, 0, 0, 0, 0, detail, NULL, 0, 0, NULL, 0};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char spec[256], want[512];
        struct eval e;

        snprintf(spec, sizeof(spec), "{\"url\":\"%s\"}", cases[i].url);
        cfg->mode = OG_MODE_MUTATE;
        cfg->index.on_unknown = OG_ON_UNKNOWN_ALLOW;
        eval_spec(cfg, spec, OG_ENDPOINT_MUTATE, &unknown, &e);
        snprintf(want, sizeof(want), "ocigate: %s could not be analyzed (HTTP 404); allowed",
                 cases[i].index);
        ASSERT_EQ(e.d.n_warnings, 1);
        ASSERT_STR_EQ(e.d.warnings[0], want);
        eval_done(&e);
        eval_spec(cfg, spec, OG_ENDPOINT_MUTATE, &pending, &e);
        snprintf(want, sizeof(want), "ocigate: analysis of %s is pending; allowed", cases[i].index);
        ASSERT_STR_EQ(e.d.warnings[0], want);
        eval_done(&e);
        /* The denial says it the same way. */
        cfg->mode = OG_MODE_ENFORCE;
        cfg->index.on_unknown = OG_ON_UNKNOWN_DENY;
        eval_spec(cfg, spec, OG_ENDPOINT_MUTATE, &unknown, &e);
        snprintf(want, sizeof(want), ": %s could not be analyzed (HTTP 404). ", cases[i].index);
        ASSERT_EQ(e.d.allowed, 0);
        ASSERT_STR_CONTAINS(e.d.message, want);
        eval_done(&e);
    }
    og_config_unref(cfg);
}

/*
 * A fix carries its url in the patch (base64) and the suggested-url annotation: up to 64 KiB
 * (even all control characters, escaped six times over) the answer fits the server's 1 MiB
 * response; past that the rule applies without a fix instead of the answer failing (a 500).
 */
OG_TEST(long_urls_fit_the_response)
{
    static const struct {
        size_t n;  /* characters after "oci://r.example/" (a trailing '/' follows) */
        bool ctrl; /* \u0001 rather than 'a' */
        bool fixed;
    } cases[] = {{65536 - 16, true, true}, {65536 - 15, true, false}, {2u << 20, false, false}};
    struct og_config *cfg = config(OG_MODE_MUTATE);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int mode = OG_MODE_AUDIT; mode <= OG_MODE_ENFORCE; mode++) {
            struct og_buf spec, out;
            struct eval e;
            bool suggested = false;

            og_buf_init(&spec, 16u << 20);
            ASSERT_EQ(og_buf_append_cstr(&spec, "{\"url\":\"oci://r.example/"), OG_OK);
            for (size_t k = 0; k < cases[i].n; k++)
                ASSERT_EQ(og_buf_append_cstr(&spec, cases[i].ctrl ? "\\u0001" : "a"), OG_OK);
            ASSERT_EQ(og_buf_append_cstr(&spec, "/\"}"), OG_OK);
            cfg->mode = (enum og_mode)mode;
            eval_spec(cfg, spec.ptr, OG_ENDPOINT_MUTATE, NULL, &e);
            ASSERT_EQ(e.d.rule, OG_RULE_OCI_URL_HTTP_TYPE);
            for (size_t a = 0; a < e.d.n_annotations; a++)
                suggested |= strcmp(e.d.annotations[a].key, "suggested-url") == 0;
            ASSERT_EQ(suggested, cases[i].fixed);
            if (mode == OG_MODE_MUTATE) {
                ASSERT_EQ(e.d.allowed, cases[i].fixed);
                ASSERT_EQ(e.d.patch != NULL, cases[i].fixed);
            }
            if (mode == OG_MODE_AUDIT) {
                /* The problem, far past a warning's line, is cut to 117 runes and "...". */
                ASSERT(e.d.n_warnings >= 1);
                ASSERT_EQ(strlen(e.d.warnings[0]), 120);
                ASSERT(strncmp(e.d.warnings[0], "ocigate: spec.url is an OCI registry (oci://",
                               44) == 0);
                ASSERT_STR_EQ(e.d.warnings[0] + 117, "...");
            }
            og_buf_init(&out, 1u << 20); /* the server's response cap */
            ASSERT_EQ(og_review_encode(e.rv, &e.d, &out), OG_OK);
            og_buf_cleanup(&out);
            og_buf_cleanup(&spec);
            eval_done(&e);
        }
    }
    og_config_unref(cfg);
}

static struct og_config *config_yaml(const char *yaml)
{
    struct og_config *cfg = NULL;
    struct og_diag diag;

    og_diag_clear(&diag);
    if (og_config_parse(yaml, strlen(yaml), "test.yaml", &cfg, &diag) != OG_OK) {
        fprintf(stderr, "config: %s\n", diag.msg);
        abort();
    }
    return cfg;
}

/* Namespace rules, exemptions and the opt-out annotation decide the mode per request. */
OG_TEST(mode_resolution)
{
    static const struct {
        const char *yaml;
        const char *ns;
        const char *annotation; /* NULL: none */
        enum og_mode mode;
        bool allowed;
        bool warns_ignored;
    } cases[] = {
        {"mode: mutate\nnamespaces: [{match: \"prod-*\", mode: enforce}]\n", "prod-eu", NULL,
         OG_MODE_ENFORCE, false, false},
        {"mode: mutate\nnamespaces: [{match: \"prod-*\", mode: enforce}]\n", "apps", NULL,
         OG_MODE_MUTATE, true, false},
        {"mode: enforce\nexempt: {namespaces: [apps]}\n", "apps", NULL, OG_MODE_OFF, true, false},
        {"mode: enforce\nexempt: {users: [alice]}\n", "apps", NULL, OG_MODE_OFF, true, false},
        {"mode: enforce\nexempt: {groups: [dev]}\n", "apps", NULL, OG_MODE_OFF, true, false},
        /* The annotation is a bypass: ignored (with a warning) unless allowed... */
        {"mode: enforce\n", "apps", "audit", OG_MODE_ENFORCE, false, true},
        /* ...and when allowed, it can only lower the mode to audit. */
        {"mode: enforce\nallowAnnotationOverride: true\n", "apps", "audit", OG_MODE_AUDIT, true,
         false},
        {"mode: enforce\nallowAnnotationOverride: true\n", "apps", "off", OG_MODE_ENFORCE, false,
         true},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct og_config *cfg = config_yaml(cases[i].yaml);
        struct og_buf body;
        struct og_review *rv = NULL;
        struct og_decision d;
        bool warned = false;

        fprintf(stderr, "  case %zu\n", i);
        og_buf_init(&body, 1u << 16);
        ASSERT_EQ(
            og_buf_appendf(
                &body,
                "{\"request\":{\"uid\":\"u\",\"kind\":{\"group\":\"source.toolkit.fluxcd.io\","
                "\"version\":\"v1\",\"kind\":\"HelmRepository\"},\"namespace\":\"%s\","
                "\"operation\":\"CREATE\",\"userInfo\":{\"username\":\"alice\",\"groups\":"
                "[\"dev\"]},\"object\":{\"metadata\":{\"name\":\"r\",\"annotations\":{%s%s%s}},"
                "\"spec\":{\"url\":\"oci://ghcr.io/o/c\"}}}}",
                cases[i].ns, cases[i].annotation ? "\"ocigate.io/mode\":\"" : "",
                cases[i].annotation ? cases[i].annotation : "", cases[i].annotation ? "\"" : ""),
            OG_OK);
        ASSERT_EQ(og_review_decode(body.ptr, body.len, &rv, NULL), OG_OK);
        ASSERT_EQ(eval_review(cfg, rv, OG_ENDPOINT_MUTATE, NULL, &d), OG_OK);
        ASSERT_EQ(d.mode, cases[i].mode);
        ASSERT_EQ(d.allowed, cases[i].allowed);
        for (size_t w = 0; w < d.n_warnings; w++)
            warned |= strstr(d.warnings[w], "ocigate.io/mode ignored") != NULL;
        ASSERT_EQ(warned, cases[i].warns_ignored);
        if (cases[i].mode == OG_MODE_OFF)
            ASSERT_EQ(d.n_warnings + d.n_annotations, 0);
        og_decision_cleanup(&d);
        og_review_free(rv);
        og_buf_cleanup(&body);
        og_config_unref(cfg);
    }
}

/* `a` and `b` say the same in every field that the encoder, the log or a gate reads. */
static void same_decision(const struct og_decision *a, const struct og_decision *b)
{
    ASSERT_EQ(a->allowed, b->allowed);
    ASSERT_EQ(a->code, b->code);
    ASSERT_STR_EQ(a->reason != NULL ? a->reason : "(null)",
                  b->reason != NULL ? b->reason : "(null)");
    ASSERT_STR_EQ(a->message != NULL ? a->message : "(null)",
                  b->message != NULL ? b->message : "(null)");
    ASSERT_EQ(a->rule, b->rule);
    ASSERT_EQ(a->mode, b->mode);
    ASSERT(a->mode_why == b->mode_why);
    ASSERT_EQ(a->n_warnings, b->n_warnings);
    for (size_t i = 0; i < a->n_warnings; i++)
        ASSERT_STR_EQ(a->warnings[i], b->warnings[i]);
    ASSERT_EQ(a->n_annotations, b->n_annotations);
    for (size_t i = 0; i < a->n_annotations; i++) {
        ASSERT_STR_EQ(a->annotations[i].key, b->annotations[i].key);
        ASSERT_STR_EQ(a->annotations[i].value, b->annotations[i].value);
    }
    ASSERT_EQ(a->patch_len, b->patch_len);
    ASSERT(a->patch_len == 0 || memcmp(a->patch, b->patch, a->patch_len) == 0);
    ASSERT_EQ(a->patch_ops, b->patch_ops);
    ASSERT_STR_EQ(a->suggested_url != NULL ? a->suggested_url : "(null)",
                  b->suggested_url != NULL ? b->suggested_url : "(null)");
    ASSERT_STR_EQ(a->index_url != NULL ? a->index_url : "(null)",
                  b->index_url != NULL ? b->index_url : "(null)");
}

/* A string member of `o`, or NULL when it is absent or not a string. */
static const char *member(const cJSON *o, const char *name)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);

    return cJSON_IsString(m) ? m->valuestring : NULL;
}

/*
 * The policy on an object as a manifest reader gives it (its fields and the whole tree,
 * with a context of its own) decides exactly as on the AdmissionReview that carries the
 * same object, in every mode and for every rule, index rules included.
 */
OG_TEST(object_decides_as_review)
{
    static const char *const specs[] = {
        ("{\"url\":\"https://charts.bitnami.com/bitnami\",\"passCredentials\":true,"
         "\"secretRef\":{\"name\":\"creds\"},\"type\":\"default\"}"),
        "{\"url\":\"oci://ghcr.io/org/charts/app:1.0\"}",
        "{\"url\":\"https://example.com/charts\",\"type\":\"oci\"}",
        "{\"url\":\"https://Kubeshop.github.io/helm-charts/\",\"interval\":\"5m\"}",
        "{\"url\":\"oci://ghcr.io/org/charts\",\"type\":\"oci\"}",
    };
    static const char *const groups[] = {"dev"};
    char base[] = "oci://registry-1.docker.io/kubeshop";
    char *bases[] = {base};
    struct og_index_verdict oci = {
        OG_INDEX_STATE_OCI, base, bases, 1, 14, 3312, 30, 2, NULL, NULL, 0, 0, NULL, 0};
    struct og_config *cfg = config(OG_MODE_AUDIT);

    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        for (int mode = OG_MODE_AUDIT; mode <= OG_MODE_ENFORCE; mode++) {
            struct og_admission_context ctx = {OG_OP_CREATE, "alice", groups, 1,
                                               false,        false,   NULL,   NULL};
            struct og_policy_object obj;
            const cJSON *spec;
            cJSON *tree = NULL;
            struct og_decision d;
            struct eval e;

            cfg->mode = (enum og_mode)mode;
            eval_spec(cfg, specs[i], OG_ENDPOINT_MUTATE, &oci, &e);
            ASSERT_EQ(og_review_object_tree(e.rv, &tree), OG_OK);
            spec = cJSON_GetObjectItemCaseSensitive(tree, "spec");
            memset(&obj, 0, sizeof(obj));
            obj.group = "source.toolkit.fluxcd.io";
            obj.version = "v1";
            obj.kind = "HelmRepository";
            obj.namespace_ = "apps";
            obj.name = "bitnami";
            obj.has_spec = cJSON_IsObject(spec);
            obj.url = member(spec, "url");
            obj.type = member(spec, "type");
            obj.has_type = cJSON_HasObjectItem(spec, "type");
            obj.has_url = cJSON_HasObjectItem(spec, "url");
            obj.has_pass_credentials = cJSON_HasObjectItem(spec, "passCredentials");
            obj.has_secret_ref =
                cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(spec, "secretRef"));
            obj.tree = tree;
            ASSERT_EQ(og_policy_eval(cfg, &obj, &ctx, OG_ENDPOINT_MUTATE, &d), OG_OK);
            if (d.index_url != NULL)
                ASSERT_EQ(og_policy_eval_index(cfg, &obj, OG_ENDPOINT_MUTATE, &oci, &d), OG_OK);
            same_decision(&d, &e.d);
            og_decision_cleanup(&d);
            cJSON_Delete(tree);
            eval_done(&e);
        }
    }
    og_config_unref(cfg);
}

/*
 * Urls are compared in their normal form (url.h): the default port and the fragment do not
 * make another repository. The old copy in policy.c kept both, so "https://h:443/x" missed the
 * known-migrations table and got a second index cache entry.
 */
OG_TEST(urls_compare_normalized)
{
    static const struct {
        const char *spec;
        enum og_rule rule;
    } cases[] = {
        {"{\"url\":\"https://charts.bitnami.com:443/bitnami\"}", OG_RULE_KNOWN_MIGRATION},
        {"{\"url\":\"http://Charts.Bitnami.com:80/bitnami/\"}", OG_RULE_KNOWN_MIGRATION},
        {"{\"url\":\"https://charts.bitnami.com/bitnami#readme\"}", OG_RULE_KNOWN_MIGRATION},
        {"{\"url\":\"https://charts.bitnami.com:8443/bitnami\"}", OG_RULE_NONE},
        {"{\"url\":\"https://charts.bitnami.com/bitnami?x=1\"}", OG_RULE_NONE},
        /* Does not parse: names no repository of the table, and is no error. */
        {"{\"url\":\"https://charts.bitnami.com:99999/bitnami\"}", OG_RULE_NONE},
    };
    static const struct {
        const char *url, *target;
    } targets[] = {
        {"https://H.example:443/charts/#top", "https://h.example/charts"},
        {"http://h.example:80/c?sig=x#y", "http://h.example/c?sig=x"},
        {"https://h.example:8443/c/", "https://h.example:8443/c"},
        /* Does not parse: the fetcher gets it as written, refuses it and says why. */
        {"https://h.example:99999/c", "https://h.example:99999/c"},
    };
    struct og_config *cfg = config(OG_MODE_MUTATE);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct eval e;

        fprintf(stderr, "  case %zu: %s\n", i, cases[i].spec);
        eval_spec(cfg, cases[i].spec, OG_ENDPOINT_MUTATE, NULL, &e);
        ASSERT_EQ(e.d.rule, cases[i].rule);
        eval_done(&e);
    }
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        char spec[256];
        struct eval e;

        fprintf(stderr, "  target %s\n", targets[i].url);
        ASSERT(snprintf(spec, sizeof(spec), "{\"url\":\"%s\"}", targets[i].url) > 0);
        eval_spec(cfg, spec, OG_ENDPOINT_MUTATE, NULL, &e);
        ASSERT_STR_EQ(e.d.index_url, targets[i].target);
        eval_done(&e);
    }
    og_config_unref(cfg);
}

/* The second step completes a decision that the first left to the index, once. */
OG_TEST(eval_index_completes_once)
{
    char base[] = "oci://registry-1.docker.io/kubeshop";
    char *bases[] = {base};
    struct og_index_verdict oci = {
        OG_INDEX_STATE_OCI, base, bases, 1, 14, 3312, 30, 2, NULL, NULL, 0, 0, NULL, 0};
    struct og_config *cfg = config(OG_MODE_MUTATE);
    struct og_policy_object obj;
    struct og_admission_context ctx;
    const char *patch;
    struct eval e;

    /* A static rule decided: nothing to complete, and the decision stays as it is. */
    eval_spec(cfg, "{\"url\":\"https://charts.bitnami.com/bitnami\"}", OG_ENDPOINT_MUTATE, NULL,
              &e);
    ASSERT(og_review_policy_input(e.rv, &obj, &ctx));
    ASSERT(e.d.index_url == NULL);
    patch = e.d.patch;
    ASSERT_EQ(og_policy_eval_index(cfg, &obj, OG_ENDPOINT_MUTATE, &oci, &e.d), OG_EINVAL);
    ASSERT_EQ(e.d.rule, OG_RULE_KNOWN_MIGRATION);
    ASSERT(e.d.patch == patch);
    eval_done(&e);

    /* Left to the index: completed with the verdict, the url kept; not a second time. */
    eval_spec(cfg, "{\"url\":\"https://kubeshop.github.io/helm-charts\"}", OG_ENDPOINT_MUTATE, NULL,
              &e);
    ASSERT(og_review_policy_input(e.rv, &obj, &ctx));
    ASSERT_STR_EQ(e.d.index_url, "https://kubeshop.github.io/helm-charts");
    ASSERT_EQ(e.d.n_annotations, 0);
    ASSERT_EQ(og_policy_eval_index(cfg, &obj, OG_ENDPOINT_MUTATE, &oci, &e.d), OG_OK);
    ASSERT_EQ(e.d.rule, OG_RULE_INDEX_OCI);
    ASSERT_STR_EQ(e.d.index_url, "https://kubeshop.github.io/helm-charts");
    ASSERT_EQ(e.d.patch_ops, 2);
    ASSERT_EQ(og_policy_eval_index(cfg, &obj, OG_ENDPOINT_MUTATE, &oci, &e.d), OG_EINVAL);
    ASSERT_EQ(e.d.patch_ops, 2);
    eval_done(&e);

    /* Index analysis off: the first step is the answer. */
    cfg->index.enabled = false;
    eval_spec(cfg, "{\"url\":\"https://kubeshop.github.io/helm-charts\"}", OG_ENDPOINT_MUTATE, NULL,
              &e);
    ASSERT(e.d.index_url == NULL);
    ASSERT_EQ(e.d.allowed, 1);
    ASSERT_EQ(e.d.rule, OG_RULE_NONE);
    eval_done(&e);
    og_config_unref(cfg);
}

/* ---- the ratchet: an UPDATE that leaves spec.url and spec.type as they were ---- */

/*
 * An AdmissionReview for `op` with spec `spec` (request.object, null for DELETE as the
 * apiserver sends it) and `old` (request.oldObject's spec; NULL: no oldObject).
 */
static void eval_op(const struct og_config *cfg, const char *op, const char *spec, const char *old,
                    enum og_endpoint ep, const struct og_index_verdict *verdict, struct eval *e)
{
    bool del = strcmp(op, "DELETE") == 0;
    struct og_buf b;
    char *body;

    og_buf_init(&b, 1u << 20);
    ASSERT_EQ(og_buf_appendf(&b,
                             "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
                             "\"request\":{\"uid\":\"u-1\",\"kind\":{\"group\":"
                             "\"source.toolkit.fluxcd.io\",\"version\":\"v1\",\"kind\":"
                             "\"HelmRepository\"},\"name\":\"r\",\"namespace\":\"apps\","
                             "\"operation\":\"%s\",\"userInfo\":{\"username\":\"flux\"},"
                             "\"object\":%s%s%s",
                             op, del ? "null" : "{\"metadata\":{\"name\":\"r\"},\"spec\":",
                             del ? "" : spec, del ? "" : "}"),
              OG_OK);
    if (old != NULL)
        ASSERT_EQ(
            og_buf_appendf(&b, ",\"oldObject\":{\"metadata\":{\"name\":\"r\"},\"spec\":%s}", old),
            OG_OK);
    ASSERT_EQ(og_buf_append_cstr(&b, "}}"), OG_OK);
    body = og_buf_take(&b, NULL);
    ASSERT_EQ(og_review_decode(body, strlen(body), &e->rv, NULL), OG_OK);
    free(body);
    ASSERT_EQ(eval_review(cfg, e->rv, ep, verdict, &e->d), OG_OK);
}

enum outcome { UNTOUCHED, DENIED, PATCHED, WARNED, RATCHETED };

/* Checks `got` against `want`; for RATCHETED, against audit mode's answer `audit` too. */
static void check_outcome(const struct og_decision *got, enum outcome want,
                          const struct og_decision *audit)
{
    switch (want) {
    case UNTOUCHED:
        ASSERT_EQ(got->allowed, 1);
        ASSERT_EQ(got->n_warnings, 0);
        ASSERT_EQ(got->n_annotations, 0);
        break;
    case DENIED:
        ASSERT_EQ(got->allowed, 0);
        ASSERT_EQ(got->code, 403);
        ASSERT_STR_EQ(annotation(got, "decision"), "denied");
        break;
    case PATCHED:
        ASSERT_EQ(got->allowed, 1);
        ASSERT(got->patch_ops > 0);
        ASSERT_STR_EQ(annotation(got, "decision"), "mutated");
        break;
    case WARNED:
        ASSERT_EQ(got->allowed, 1);
        ASSERT(got->patch == NULL);
        ASSERT(got->n_warnings > 0);
        ASSERT_STR_EQ(annotation(got, "decision"), "warned");
        break;
    case RATCHETED:
        ASSERT_EQ(got->allowed, 1);
        ASSERT(got->patch == NULL);
        ASSERT(got->message == NULL);
        /* Audit mode's warnings and annotations, then the line that says why. */
        ASSERT_EQ(got->n_warnings, audit->n_warnings + 1);
        for (size_t i = 0; i < audit->n_warnings; i++)
            ASSERT_STR_EQ(got->warnings[i], audit->warnings[i]);
        ASSERT_STR_CONTAINS(got->warnings[audit->n_warnings], "unchanged (ratchet)");
        ASSERT_EQ(got->n_annotations, audit->n_annotations);
        for (size_t i = 0; i < audit->n_annotations; i++) {
            const char *key = audit->annotations[i].key;

            ASSERT_STR_EQ(got->annotations[i].key, key);
            if (strcmp(key, "decision") == 0)
                ASSERT_STR_EQ(got->annotations[i].value, "ratcheted");
            else if (strcmp(key, "mode") != 0)
                ASSERT_STR_EQ(got->annotations[i].value, audit->annotations[i].value);
        }
        break;
    }
    ASSERT_EQ(got->ratcheted, want == RATCHETED);
}

/*
 * The decision table: operation x old/new url and type x mode x ratchet x endpoint, for a
 * repository a rule flags that mutate can fix (a known migration) and one it cannot.
 */
OG_TEST(ratchet_decision_table)
{
#define bitnami "{\"url\":\"https://charts.bitnami.com/bitnami\"}"
#define typed "{\"url\":\"https://example.com/charts\",\"type\":\"oci\"}"
    static const struct {
        const char *op, *spec, *old; /* old: oldObject's spec, NULL for none */
        bool fixable, same;          /* same: url and type unchanged as the rules read them */
    } cases[] = {
        {"CREATE", bitnami, NULL, true, false},
        {"CREATE", typed, NULL, false, false},
        /* An UPDATE without an oldObject is judged as a CREATE. */
        {"UPDATE", bitnami, NULL, true, false},
        {"UPDATE", bitnami, "{\"url\":\"https://charts.bitnami.com/bitnami\",\"interval\":\"5m\"}",
         true, true},
        {"UPDATE", typed, typed, false, true},
        /* A missing type is "default"; the url compares normalized (host case, '/', port). */
        {"UPDATE", "{\"url\":\"https://charts.bitnami.com/bitnami\",\"type\":\"default\"}",
         "{\"url\":\"HTTPS://Charts.Bitnami.COM:443/bitnami/\"}", true, true},
        {"UPDATE", "{\"url\":\"https://charts.bitnami.com/bitnami\"}",
         "{\"url\":\"https://charts.bitnami.com/bitnami\",\"type\":\"\"}", true, true},
        /* The url changes to one a rule flags: judged. */
        {"UPDATE", bitnami, "{\"url\":\"https://example.com/charts\"}", true, false},
        {"UPDATE", typed, "{\"url\":\"https://example.com/other\",\"type\":\"oci\"}", false, false},
        /* http -> https is another index to fetch: a change. */
        {"UPDATE", bitnami, "{\"url\":\"http://charts.bitnami.com/bitnami\"}", true, false},
        /* The type changes. */
        {"UPDATE", bitnami, "{\"url\":\"https://charts.bitnami.com/bitnami\",\"type\":\"oci\"}",
         true, false},
        {"UPDATE", typed, "{\"url\":\"https://example.com/charts\"}", false, false},
        /* The old object had no url (or not a string), or no spec. */
        {"UPDATE", bitnami, "{\"url\":7}", true, false},
        {"UPDATE", bitnami, "null", true, false},
        {"DELETE", bitnami, bitnami, true, true},
    };
    static const enum og_mode modes[] = {OG_MODE_ENFORCE, OG_MODE_MUTATE, OG_MODE_AUDIT};
    struct og_config *cfg = config(OG_MODE_AUDIT);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
            for (int ratchet = 0; ratchet <= 1; ratchet++) {
                for (int ep = OG_ENDPOINT_MUTATE; ep <= OG_ENDPOINT_VALIDATE; ep++) {
                    bool del = strcmp(cases[i].op, "DELETE") == 0;
                    bool holds = ratchet && cases[i].same && !del;
                    enum outcome want;
                    struct eval e, audit;

                    if (del)
                        want = UNTOUCHED;
                    else if (modes[m] == OG_MODE_AUDIT)
                        want = WARNED;
                    else if (modes[m] == OG_MODE_MUTATE && cases[i].fixable)
                        want = ep == OG_ENDPOINT_MUTATE ? PATCHED : WARNED;
                    else
                        want = holds ? RATCHETED : DENIED;
                    cfg->ratchet = ratchet;
                    cfg->mode = OG_MODE_AUDIT;
                    eval_op(cfg, cases[i].op, cases[i].spec, cases[i].old, (enum og_endpoint)ep,
                            NULL, &audit);
                    cfg->mode = modes[m];
                    eval_op(cfg, cases[i].op, cases[i].spec, cases[i].old, (enum og_endpoint)ep,
                            NULL, &e);
                    if (e.d.ratcheted != (want == RATCHETED) || e.d.allowed != (want != DENIED))
                        fprintf(stderr, "  case %zu, %s, ratchet %d, endpoint %d\n", i,
                                og_mode_name(modes[m]), ratchet, ep);
                    check_outcome(&e.d, want, &audit.d);
                    /* The ratchet is looked for only where something could be denied. */
                    ASSERT_EQ(e.d.ratchet, holds && modes[m] != OG_MODE_AUDIT);
                    eval_done(&e);
                    eval_done(&audit);
                }
            }
        }
    }
    og_config_unref(cfg);
#undef bitnami
#undef typed
}

/* A namespace rule's ratchet beats the top-level one; "inherit" (the default) takes it. */
OG_TEST(ratchet_per_namespace)
{
    static const char yaml[] = "mode: enforce\n"
                               "ratchet: false\n"
                               "namespaces:\n"
                               "  - {match: apps, mode: enforce, ratchet: true}\n"
                               "  - {match: \"team-*\", mode: enforce}\n"
                               "  - {match: \"*\", mode: mutate, ratchet: inherit}\n";
    const char *same = "{\"url\":\"https://example.com/charts\",\"type\":\"oci\"}";
    struct og_config *cfg = NULL;
    struct eval e;

    ASSERT_EQ(og_config_parse(yaml, strlen(yaml), NULL, &cfg, NULL), OG_OK);
    ASSERT_EQ(og_config_resolve_ratchet(cfg, "apps"), 1);
    ASSERT_EQ(og_config_resolve_ratchet(cfg, "team-a"), 0);
    ASSERT_EQ(og_config_resolve_ratchet(cfg, "other"), 0);
    ASSERT_EQ(og_config_resolve_ratchet(cfg, NULL), 0);
    /* The namespace of eval_op() is "apps". */
    eval_op(cfg, "UPDATE", same, same, OG_ENDPOINT_MUTATE, NULL, &e);
    ASSERT_EQ(e.d.allowed, 1);
    ASSERT_EQ(e.d.ratcheted, 1);
    eval_done(&e);
    cfg->ns_rules[0].ratchet = OG_RATCHET_OFF;
    cfg->ratchet = true;
    ASSERT_EQ(og_config_resolve_ratchet(cfg, "apps"), 0);
    ASSERT_EQ(og_config_resolve_ratchet(cfg, "team-a"), 1);
    ASSERT_EQ(og_config_resolve_ratchet(cfg, "other"), 1);
    eval_op(cfg, "UPDATE", same, same, OG_ENDPOINT_MUTATE, NULL, &e);
    ASSERT_EQ(e.d.allowed, 0);
    eval_done(&e);
    og_config_unref(cfg);
}

/*
 * The index rules ratchet too, and an unchanged UPDATE that can only be allowed says so
 * (index_advisory), so that the server need not wait for the index.
 */
OG_TEST(ratchet_index_verdicts)
{
    char base[] = "oci://registry-1.docker.io/kubeshop";
    char other_base[] = "oci://us-east1-docker.pkg.dev/x/y";
    char *bases[] = {base, other_base};
    struct og_index_verdict oci = {
        OG_INDEX_STATE_OCI, base, bases, 1, 14, 3312, 30, 2, NULL, NULL, 0, 0, NULL, 0};
    struct og_index_verdict pending = {
        OG_INDEX_STATE_PENDING, NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, 0, 0, NULL, 0};
    struct og_index_verdict multi = {
        OG_INDEX_STATE_OCI, NULL, bases, 2, 14, 3312, 30, 2, NULL, NULL, 0, 0, NULL, 0};
    const char *url = "{\"url\":\"https://kubeshop.github.io/helm-charts\"}";
    const char *other = "{\"url\":\"https://kubeshop.github.io/other\"}";
    const struct {
        enum og_mode mode;
        enum og_endpoint ep;
        bool on_unknown_deny;
        bool changed;
        const struct og_index_verdict *verdict;
        bool advisory;
        enum outcome want;
    } cases[] = {
        {OG_MODE_ENFORCE, OG_ENDPOINT_MUTATE, false, false, &oci, true, RATCHETED},
        {OG_MODE_ENFORCE, OG_ENDPOINT_VALIDATE, false, false, &oci, true, RATCHETED},
        {OG_MODE_ENFORCE, OG_ENDPOINT_MUTATE, false, true, &oci, false, DENIED},
        /* Pending: allowed anyway with onUnknown allow; ratcheted past a deny. */
        {OG_MODE_ENFORCE, OG_ENDPOINT_MUTATE, false, false, &pending, true, UNTOUCHED},
        {OG_MODE_ENFORCE, OG_ENDPOINT_MUTATE, true, false, &pending, true, RATCHETED},
        {OG_MODE_ENFORCE, OG_ENDPOINT_MUTATE, true, true, &pending, false, DENIED},
        /* Mutate still patches, so it waits; what it cannot patch is ratcheted. */
        {OG_MODE_MUTATE, OG_ENDPOINT_MUTATE, false, false, &oci, false, PATCHED},
        {OG_MODE_MUTATE, OG_ENDPOINT_MUTATE, false, false, &multi, false, RATCHETED},
        {OG_MODE_MUTATE, OG_ENDPOINT_MUTATE, false, true, &multi, false, DENIED},
        {OG_MODE_MUTATE, OG_ENDPOINT_VALIDATE, false, false, &multi, true, RATCHETED},
        {OG_MODE_AUDIT, OG_ENDPOINT_MUTATE, false, false, &oci, false, WARNED},
    };
    struct og_config *cfg = config(OG_MODE_ENFORCE);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct og_policy_object obj;
        struct og_admission_context ctx;
        struct eval e, audit;
        const char *old = cases[i].changed ? other : url;

        cfg->index.on_unknown = cases[i].on_unknown_deny ? OG_ON_UNKNOWN_DENY : OG_ON_UNKNOWN_ALLOW;
        cfg->mode = OG_MODE_AUDIT;
        eval_op(cfg, "UPDATE", url, old, cases[i].ep, cases[i].verdict, &audit);
        cfg->mode = cases[i].mode;
        eval_op(cfg, "UPDATE", url, old, cases[i].ep, NULL, &e);
        ASSERT_STR_EQ(e.d.index_url, "https://kubeshop.github.io/helm-charts");
        if (e.d.index_advisory != cases[i].advisory)
            fprintf(stderr, "  case %zu\n", i);
        ASSERT_EQ(e.d.index_advisory, cases[i].advisory);
        ASSERT(og_review_policy_input(e.rv, &obj, &ctx));
        ASSERT_EQ(og_policy_eval_index(cfg, &obj, cases[i].ep, cases[i].verdict, &e.d), OG_OK);
        if (cases[i].want == UNTOUCHED) {
            /* index-pending with onUnknown allow: allowed with its warning, not ratcheted. */
            ASSERT_EQ(e.d.allowed, 1);
            ASSERT_EQ(e.d.ratcheted, 0);
            ASSERT_STR_EQ(annotation(&e.d, "decision"), "allowed");
        } else {
            if (e.d.ratcheted != (cases[i].want == RATCHETED))
                fprintf(stderr, "  case %zu\n", i);
            check_outcome(&e.d, cases[i].want, &audit.d);
        }
        eval_done(&e);
        eval_done(&audit);
    }
    og_config_unref(cfg);
}

/*
 * A built-in migration switched off in the config no longer fires: the bitnami url is then
 * left to the index (no static rule, no patch), where the default config patches it.
 */
OG_TEST(disabled_migration_does_not_fire)
{
    static const char *const yamls[] = {
        "mode: mutate\n",
        "mode: mutate\nmigrations: [{from: \"https://charts.bitnami.com/bitnami\", enabled: "
        "false}]\n",
        /* The row matches as og_url_normalize() does: case and a trailing slash. */
        "mode: mutate\nmigrations: [{from: \"HTTPS://Charts.Bitnami.com/bitnami/\", enabled: "
        "false}]\n",
    };
    static const bool fires[] = {true, false, false};

    for (size_t i = 0; i < sizeof(yamls) / sizeof(yamls[0]); i++) {
        struct og_config *cfg = config_yaml(yamls[i]);
        struct eval e;

        fprintf(stderr, "  case %zu\n", i);
        eval_spec(cfg, "{\"url\":\"https://charts.bitnami.com/bitnami\"}", OG_ENDPOINT_MUTATE, NULL,
                  &e);
        ASSERT_EQ(e.d.allowed, 1);
        if (fires[i]) {
            ASSERT_EQ(e.d.rule, OG_RULE_KNOWN_MIGRATION);
            ASSERT(e.d.patch != NULL);
            ASSERT(e.d.index_url == NULL);
        } else {
            ASSERT_EQ(e.d.rule, OG_RULE_NONE);
            ASSERT(e.d.patch == NULL);
            ASSERT_EQ(e.d.n_warnings, 0);
            /* Left to the index, under the url it fetches. */
            ASSERT_STR_EQ(e.d.index_url, "https://charts.bitnami.com/bitnami");
        }
        eval_done(&e);
        og_config_unref(cfg);
    }
}

/* Only a mapping is a secret reference: null, a string, a list or a number are not. */
OG_TEST(secret_ref_must_be_a_mapping)
{
    static const struct {
        const char *ref;
        bool warns;
    } cases[] = {
        {"{\"name\":\"creds\"}", true},
        {"{}", true},
        {"null", false},
        {"\"creds\"", false},
        {"[]", false},
        {"1", false},
        {"true", false},
        {"\"{\"", false},
    };
    struct og_config *cfg = config(OG_MODE_MUTATE);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char spec[256];
        bool warned = false;
        struct eval e;

        fprintf(stderr, "  secretRef %s\n", cases[i].ref);
        snprintf(spec, sizeof(spec), "{\"url\":\"oci://ghcr.io/o/c\",\"secretRef\":%s}",
                 cases[i].ref);
        eval_spec(cfg, spec, OG_ENDPOINT_MUTATE, NULL, &e);
        /* The fix is made either way; only the secret's warning depends on the field. */
        ASSERT_EQ(e.d.rule, OG_RULE_OCI_URL_HTTP_TYPE);
        ASSERT(e.d.patch != NULL);
        for (size_t w = 0; w < e.d.n_warnings; w++)
            warned |= strstr(e.d.warnings[w], "check spec.secretRef") != NULL;
        ASSERT_EQ(warned, cases[i].warns);
        eval_done(&e);
    }
    og_config_unref(cfg);
}

/*
 * The most warnings one decision makes: the problem, the fix, the ratchet and an ignored
 * opt-out annotation, which is exactly the cap (4); each is one line of at most 120 runes and
 * all of them together far under the apiserver's 4096.
 */
OG_TEST(warnings_reach_the_cap_exactly)
{
    struct og_config *cfg = config_yaml("mode: enforce\n");
    struct og_buf b;
    struct og_review *rv = NULL;
    struct og_decision d;
    size_t total = 0;
    static const char *const want[] = {"moved its charts to OCI", "ocigate: fix: set spec.type",
                                       "(ratchet)", "ocigate.io/mode ignored"};

    og_buf_init(&b, 1u << 16);
    ASSERT_EQ(og_buf_append_cstr(
                  &b,
                  "{\"request\":{\"uid\":\"u\",\"kind\":{\"group\":\"source.toolkit.fluxcd.io\","
                  "\"version\":\"v1\",\"kind\":\"HelmRepository\"},\"namespace\":\"apps\","
                  "\"operation\":\"UPDATE\",\"userInfo\":{\"username\":\"alice\"},"
                  "\"object\":{\"metadata\":{\"name\":\"r\",\"annotations\":"
                  "{\"ocigate.io/mode\":\"audit\"}},\"spec\":{\"url\":"
                  "\"https://charts.bitnami.com/bitnami\"}},\"oldObject\":{\"metadata\":"
                  "{\"name\":\"r\"},\"spec\":{\"url\":\"https://charts.bitnami.com/bitnami\"}}"
                  "}}"),
              OG_OK);
    ASSERT_EQ(og_review_decode(b.ptr, b.len, &rv, NULL), OG_OK);
    ASSERT_EQ(eval_review(cfg, rv, OG_ENDPOINT_MUTATE, NULL, &d), OG_OK);
    ASSERT_EQ(d.allowed, 1);
    ASSERT(d.ratcheted);
    ASSERT_EQ(d.n_warnings, 4);
    for (size_t w = 0; w < d.n_warnings; w++) {
        size_t runes = 0;

        ASSERT_STR_CONTAINS(d.warnings[w], want[w]);
        for (const char *p = d.warnings[w]; *p; p++)
            runes += ((unsigned char)*p & 0xC0) != 0x80;
        ASSERT(runes <= 120);
        total += runes;
    }
    ASSERT(total <= 4096);
    og_decision_cleanup(&d);
    og_review_free(rv);
    og_buf_cleanup(&b);
    og_config_unref(cfg);
}

/* Runes (code points) of the UTF-8 text `s`. */
static size_t count_runes(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/*
 * A warning of exactly 120 runes is kept whole; one of 121 is cut to 117 and "...". The
 * warning is "ocigate: " and the problem, which the decision also holds uncut. Runes, not
 * bytes: the url is padded with ASCII, then with a two-byte character (more bytes than runes).
 */
OG_TEST(warning_length_edge)
{
    static const char *const pads[] = {"a", "\xc3\xa9"};
    struct og_config *cfg = config(OG_MODE_AUDIT);

    for (size_t k = 0; k < sizeof(pads) / sizeof(pads[0]); k++) {
        bool saw120 = false, saw121 = false;

        for (size_t pad = 1; pad < 80; pad++) {
            char spec[512], url[256], full[1024];
            size_t n = 0, w = strlen(pads[k]);
            struct eval e;

            for (size_t i = 0; i < pad; i++, n += w)
                memcpy(url + n, pads[k], w);
            url[n] = '\0';
            snprintf(spec, sizeof(spec), "{\"url\":\"oci://ghcr.io/%s\"}", url);
            eval_spec(cfg, spec, OG_ENDPOINT_MUTATE, NULL, &e);
            ASSERT(e.d.n_warnings >= 1);
            snprintf(full, sizeof(full), "ocigate: %s", e.d.problem);
            n = count_runes(full);
            if (n <= 120) {
                ASSERT_STR_EQ(e.d.warnings[0], full);
            } else {
                size_t cut = strlen(e.d.warnings[0]) - 3;

                ASSERT_EQ(count_runes(e.d.warnings[0]), 120);
                ASSERT(memcmp(e.d.warnings[0], full, cut) == 0);
                ASSERT_STR_EQ(e.d.warnings[0] + cut, "...");
            }
            saw120 |= n == 120;
            saw121 |= n == 121;
            eval_done(&e);
        }
        ASSERT(saw120 && saw121);
    }
    og_config_unref(cfg);
}

/*
 * User strings that look like numbers (here label values, which the guidance carries over to
 * the suggested OCIRepository) stay strings: double-quoted in the YAML of the message.
 */
OG_TEST(guidance_quotes_number_like_strings)
{
    static const struct {
        const char *value;
        const char *line;
    } cases[] = {
        {"-1", "team: \"-1\"\n"},     {"-0x1f", "team: \"-0x1f\"\n"}, {"-.5", "team: \"-.5\"\n"},
        {"-inf", "team: \"-inf\"\n"}, {"-x", "team: -x\n"},           {"a", "team: a\n"},
    };
    struct og_config *cfg = config(OG_MODE_ENFORCE);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *body = review_json("admission.k8s.io/v1", "CREATE", "v1",
                                 "{\"url\":\"https://charts.bitnami.com/bitnami\"}");
        char *at = strstr(body, "\"team\":\"a\"");
        struct og_buf b;
        struct eval e;

        fprintf(stderr, "  label %s\n", cases[i].value);
        ASSERT(at != NULL);
        og_buf_init(&b, 1u << 20);
        ASSERT_EQ(og_buf_appendf(&b, "%.*s\"team\":\"%s\"%s", (int)(at - body), body,
                                 cases[i].value, at + strlen("\"team\":\"a\"")),
                  OG_OK);
        free(body);
        ASSERT_EQ(og_review_decode(b.ptr, b.len, &e.rv, NULL), OG_OK);
        ASSERT_EQ(eval_review(cfg, e.rv, OG_ENDPOINT_MUTATE, NULL, &e.d), OG_OK);
        ASSERT_EQ(e.d.allowed, 0);
        ASSERT_STR_CONTAINS(e.d.message, cases[i].line);
        eval_done(&e);
        og_buf_cleanup(&b);
    }
    og_config_unref(cfg);
}

/* The suggested OCIRepository carries secretRef, timeout, ... only when they hold a value. */
OG_TEST(guidance_carries_only_set_fields)
{
    struct og_config *cfg = config(OG_MODE_ENFORCE);
    struct eval e;
    const char *oci;

    eval_spec(cfg,
              "{\"url\":\"https://charts.bitnami.com/bitnami\",\"secretRef\":null,"
              "\"timeout\":\"60s\",\"suspend\":null,\"insecure\":false}",
              OG_ENDPOINT_MUTATE, NULL, &e);
    ASSERT_EQ(e.d.allowed, 0);
    oci = strstr(e.d.message, "kind: OCIRepository");
    ASSERT(oci != NULL);
    ASSERT_STR_CONTAINS(oci, "timeout: 60s\n");
    ASSERT_STR_CONTAINS(oci, "insecure: false\n");
    ASSERT(strstr(oci, "secretRef") == NULL);
    ASSERT(strstr(oci, "suspend") == NULL);
    eval_done(&e);
    og_config_unref(cfg);
}

/* `secret` is in none of what the decision shows: warnings, annotations, message, problem. */
static void secret_not_shown(const struct og_decision *d, const char *secret)
{
    for (size_t i = 0; i < d->n_warnings; i++) {
        fprintf(stderr, "  warning %s\n", d->warnings[i]);
        ASSERT(strstr(d->warnings[i], secret) == NULL);
    }
    for (size_t i = 0; i < d->n_annotations; i++) {
        fprintf(stderr, "  annotation %s=%s\n", d->annotations[i].key, d->annotations[i].value);
        ASSERT(strstr(d->annotations[i].value, secret) == NULL);
    }
    ASSERT(d->message == NULL || strstr(d->message, secret) == NULL);
    ASSERT(d->problem == NULL || strstr(d->problem, secret) == NULL);
}

/*
 * Credentials in spec.url (userinfo) are never shown, by any rule in any mode: the problem,
 * warnings, audit annotations and the denial message (its YAML included, which says where
 * they belong) show the url redacted. What is applied keeps them: the patch, and
 * suggested_url, which `fix` and `migrate` write into manifests.
 */
OG_TEST(credentials_in_the_url_are_not_shown)
{
    static const enum og_mode modes[] = {OG_MODE_AUDIT, OG_MODE_ENFORCE, OG_MODE_MUTATE};
    char base[] = "oci://registry.example.com/charts", other[] = "oci://ghcr.io/acme/charts";
    char *bases[] = {base, other};
    char c1[] = "redis", h1[] = "legacy", detail[] = "urls with credentials are not fetched";
    char *moved[] = {c1}, *kept[] = {h1};
    const struct og_index_verdict verdicts[] = {
        {OG_INDEX_STATE_OCI, base, bases, 1, 2, 2, 1, 0, NULL, moved, 1, 0, NULL, 0},
        {OG_INDEX_STATE_OCI, NULL, bases, 2, 2, 2, 1, 0, NULL, moved, 1, 0, NULL, 0},
        {OG_INDEX_STATE_MIXED, base, bases, 1, 2, 4, 1, 1, NULL, moved, 1, 1, kept, 1},
        {OG_INDEX_STATE_PENDING, NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, 0, 0, NULL, 0},
        {OG_INDEX_STATE_UNKNOWN, NULL, NULL, 0, 0, 0, 0, 0, detail, NULL, 0, 0, NULL, 0},
    };
    static const struct {
        const char *spec, *secret;
        bool index;
    } cases[] = {
        {"{\"url\":\"oci://robot:S3CRET-1@registry.example.com/charts/\"}", "S3CRET-1", false},
        {"{\"url\":\"oci://TOKEN-2@registry.example.com/charts\",\"type\":\"default\"}", "TOKEN-2",
         false},
        {"{\"url\":\"https://u:S3CRET-3@charts.example.com/x\",\"type\":\"oci\"}", "S3CRET-3",
         false},
        {"{\"url\":\"https://TOKEN-4@charts.example.com/x\",\"secretRef\":{\"name\":\"c\"}}",
         "TOKEN-4", true},
        {"{\"url\":\"https://u:p%40S3CRET-5@charts.example.com/x\"}", "S3CRET-5", true},
        {"{\"url\":\"https://u:S3CRET/6@charts.example.com/x\"}", "S3CRET/6", true},
    };
    struct og_config *cfg = config(OG_MODE_AUDIT);

    cfg->index.on_unknown = OG_ON_UNKNOWN_DENY;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t nv = cases[i].index ? sizeof(verdicts) / sizeof(verdicts[0]) : 1;

        for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
            for (size_t v = 0; v < nv; v++) {
                struct eval e;
                char *patched;

                fprintf(stderr, "  spec %s mode %s verdict %zu\n", cases[i].spec,
                        og_mode_name(modes[m]), v);
                cfg->mode = modes[m];
                eval_spec(cfg, cases[i].spec, OG_ENDPOINT_MUTATE,
                          cases[i].index ? &verdicts[v] : NULL, &e);
                ASSERT_NE(e.d.rule, OG_RULE_NONE);
                secret_not_shown(&e.d, cases[i].secret);
                if (e.d.message != NULL && strstr(e.d.message, "\n\n") != NULL)
                    ASSERT_STR_CONTAINS(e.d.message, "# spec.url holds credentials, shown as "
                                                     "xxxxx: move them to the Secret that "
                                                     "spec.secretRef names\n");
                if (e.d.suggested_url != NULL && !cases[i].index)
                    ASSERT(strstr(e.d.suggested_url, cases[i].secret) != NULL);
                if (e.d.patch != NULL && !cases[i].index) {
                    patched = patched_spec(&e);
                    ASSERT(patched != NULL);
                    ASSERT(strstr(patched, cases[i].secret) != NULL);
                    free(patched);
                }
                eval_done(&e);
            }
        }
    }
    /* The shown form itself: the user name kept before a password, a lone one hidden. */
    cfg->mode = OG_MODE_ENFORCE;
    {
        struct eval e;

        eval_spec(cfg, cases[0].spec, OG_ENDPOINT_MUTATE, NULL, &e);
        ASSERT_STR_EQ(annotation(&e.d, "suggested-url"),
                      "oci://robot:xxxxx@registry.example.com/charts");
        ASSERT_STR_CONTAINS(e.d.message, "url: oci://robot:xxxxx@registry.example.com/charts\n");
        eval_done(&e);
        eval_spec(cfg, cases[2].spec, OG_ENDPOINT_MUTATE, NULL, &e);
        ASSERT_STR_CONTAINS(e.d.message, "url: https://u:xxxxx@charts.example.com/x\n");
        eval_done(&e);
        eval_spec(cfg, cases[3].spec, OG_ENDPOINT_MUTATE, &verdicts[4], &e);
        ASSERT_STR_CONTAINS(e.d.message, "https://xxxxx@charts.example.com/x/index.yaml could not");
        eval_done(&e);
    }
    og_config_unref(cfg);
}

/*
 * A control character or DEL at every place of a url a warning shows (the printable lines skip
 * sanitizing, 16 bytes at a time): a space in its place, and nothing else changed.
 */
OG_TEST(warnings_sanitized_at_every_place)
{
    static const struct {
        const char *json;
        char byte;
    } bad[] = {{"\\u0001", 0x01}, {"\\t", '\t'}, {"\\u007f", 0x7f}, {"\\u001f", 0x1f}};
    struct og_config *cfg = config(OG_MODE_AUDIT);

    for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
        for (size_t at = 0; at < 40; at++) {
            char path[48], spec[160], want[64];
            struct eval e;
            const char *hit;

            memset(path, 'a', 40);
            path[40] = '\0';
            snprintf(spec, sizeof(spec), "{\"url\":\"oci://r.example/%.*s%s%s\"}", (int)at, path,
                     bad[b].json, path + at + 1);
            memcpy(want, "oci://r.example/", 16);
            memcpy(want + 16, path, 41);
            want[16 + at] = ' ';
            eval_spec(cfg, spec, OG_ENDPOINT_MUTATE, NULL, &e);
            ASSERT(e.d.n_warnings >= 1);
            hit = strstr(e.d.warnings[0], want);
            ASSERT(hit != NULL);
            for (const char *p = e.d.warnings[0]; *p; p++)
                ASSERT((unsigned char)*p >= 0x20 && (unsigned char)*p != 0x7f);
            eval_done(&e);
        }
    }
    og_config_unref(cfg);
}

OG_TEST_MAIN(OG_T(mode_resolution), OG_T(mutate_rules),
             OG_T(mutate_is_idempotent_and_deterministic), OG_T(enforce_denies_with_guidance),
             OG_T(enforce_without_guidance_still_denies), OG_T(audit_warns_and_annotates),
             OG_T(validate_never_patches), OG_T(warnings_are_bounded),
             OG_T(warnings_sanitized_at_every_place), OG_T(out_of_scope_is_untouched),
             OG_T(index_verdicts), OG_T(index_url_in_text), OG_T(long_urls_fit_the_response),
             OG_T(object_decides_as_review), OG_T(eval_index_completes_once),
             OG_T(urls_compare_normalized), OG_T(ratchet_decision_table),
             OG_T(ratchet_per_namespace), OG_T(ratchet_index_verdicts), OG_T(index_mixed),
             OG_T(disabled_migration_does_not_fire), OG_T(secret_ref_must_be_a_mapping),
             OG_T(warnings_reach_the_cap_exactly), OG_T(warning_length_edge),
             OG_T(guidance_quotes_number_like_strings), OG_T(guidance_carries_only_set_fields),
             OG_T(credentials_in_the_url_are_not_shown))
