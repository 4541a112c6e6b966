/*
 * test_oom.c - allocation failure torture (curl's "torture" runs): the request path is run
 * again and again with the Nth allocation failing, for every N, and must report OG_ENOMEM
 * (or succeed when the failed allocation had a fallback), never crash, and never leak.
 *
 * The test replaces malloc and friends for the whole process (glibc supports that, and its
 * own internal calls, cJSON's and libyaml's go through the replacement too). Sanitizer builds
 * have their own allocator, so the test skips there.
 */
#include "harness.h"

#include "mem_reader.h"
#include "ocigate/config.h"
#include "ocigate/helm_index.h"
#include "ocigate/manifest.h"
#include "ocigate/migrate.h"
#include "ocigate/policy.h"
#include "ocigate/review.h"
#include "ocigate/yamledit.h"

#include "log.h"
#include "request.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define OG_OOM_SKIP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define OG_OOM_SKIP 1
#endif
#endif

#ifndef OG_OOM_SKIP
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void __libc_free(void *ptr);

/*
 * The replacement allocator's state. It is process-wide because malloc() takes no context; it
 * is not state the tests share: each test sets `calls` and `fail_at` before every run, resets
 * `fail_at` before every check, and compares `live` with what it read itself.
 */
static long fail_at = -1; /* index of the allocation to fail, -1: none */
static long calls;
static long live;

void *malloc(size_t size);
void *calloc(size_t n, size_t size);
void *realloc(void *ptr, size_t size);
void free(void *ptr);

static int should_fail(void)
{
    return fail_at >= 0 && calls++ == fail_at;
}

void *malloc(size_t size)
{
    void *p = should_fail() ? NULL : __libc_malloc(size);

    live += p != NULL;
    return p;
}

void *calloc(size_t n, size_t size)
{
    void *p = should_fail() ? NULL : __libc_calloc(n, size);

    live += p != NULL;
    return p;
}

void *realloc(void *ptr, size_t size)
{
    void *p;

    if (should_fail())
        return NULL;
    p = __libc_realloc(ptr, size);
    if (ptr == NULL && p != NULL)
        live++;
    return p;
}

void free(void *ptr)
{
    live -= ptr != NULL;
    __libc_free(ptr);
}
#endif

#ifndef OG_OOM_SKIP
static const char review[] =
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":"
    "\"u\",\"kind\":{\"group\":\"source.toolkit.fluxcd.io\",\"version\":\"v1\",\"kind\":"
    "\"HelmRepository\"},\"name\":\"bitnami\",\"namespace\":\"apps\",\"operation\":\"CREATE\","
    "\"userInfo\":{\"username\":\"a\",\"groups\":[\"g1\",\"g2\"]},\"object\":{\"apiVersion\":"
    "\"source.toolkit.fluxcd.io/v1\",\"kind\":\"HelmRepository\",\"metadata\":{\"name\":"
    "\"bitnami\",\"namespace\":\"apps\",\"labels\":{\"a\":\"b\"}},\"spec\":{\"url\":"
    "\"https://charts.bitnami.com/bitnami\",\"interval\":\"1h\",\"passCredentials\":true,"
    "\"secretRef\":{\"name\":\"s\"}}}}}";

/* An UPDATE that leaves the url as it was (written another way: compared normalized). */
static const char review_update[] =
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":"
    "\"u\",\"kind\":{\"group\":\"source.toolkit.fluxcd.io\",\"version\":\"v1\",\"kind\":"
    "\"HelmRepository\"},\"name\":\"bitnami\",\"namespace\":\"apps\",\"operation\":\"UPDATE\","
    "\"object\":{\"metadata\":{\"name\":\"bitnami\"},\"spec\":{\"url\":"
    "\"https://charts.bitnami.com/bitnami\"}},\"oldObject\":{\"spec\":{\"url\":"
    "\"HTTPS://Charts.Bitnami.com/bitnami/\",\"type\":\"default\"}}}}";

static const char config_yaml[] =
    "mode: enforce\n"
    "namespaces: [{match: \"prod-*\", mode: audit}, {match: b, mode: \"off\"}]\n"
    "exempt: {namespaces: [kube-system], users: [\"system:serviceaccount:ci:*\"], groups: [g]}\n"
    "migrations:\n"
    "  - {from: \"https://charts.bitnami.com/bitnami\", enabled: false}\n"
    "  - {from: \"https://X.io/a/\", to: \"oci://r.io/a\"}\n"
    "index: {ttl: 2h, allowHosts: [h.io], allowCIDRs: [10.0.0.0/8]}\n"
    "tls: {minVersion: \"1.3\"}\n";

/*
 * One admission, start to end, in `mode`: under the default configuration (a known
 * migration decides), or under config_yaml with `verdict` (which turns the migration off, so
 * that the policy asks for the index verdict and decides with it).
 */
static enum og_err admit_with(enum og_mode mode, const struct og_index_verdict *verdict,
                              const char *body, size_t len)
{
    struct og_config *cfg = NULL;
    struct og_review *rv = NULL;
    struct og_policy_object obj;
    struct og_admission_context ctx;
    struct og_decision d;
    struct og_buf out;
    enum og_err rc;

    og_buf_init(&out, 1u << 20);
    memset(&d, 0, sizeof(d));
    if (verdict != NULL)
        rc = og_config_parse(config_yaml, sizeof(config_yaml) - 1, "oom.yaml", &cfg, NULL);
    else
        rc = og_config_new(&cfg);
    if (rc != OG_OK)
        goto out;
    cfg->mode = mode;
    rc = og_review_decode(body, len, &rv, NULL);
    if (rc != OG_OK)
        goto out;
    rc = og_policy_eval(cfg, og_review_policy_input(rv, &obj, &ctx) ? &obj : NULL, &ctx,
                        OG_ENDPOINT_MUTATE, &d);
    if (rc == OG_OK && verdict != NULL)
        rc = d.index_url != NULL ? og_policy_eval_index(cfg, &obj, OG_ENDPOINT_MUTATE, verdict, &d)
                                 : OG_EINVAL;
    if (rc != OG_OK)
        goto out;
    rc = og_review_encode(rv, &d, &out);
out:
    og_buf_cleanup(&out);
    og_decision_cleanup(&d);
    og_review_free(rv);
    og_config_unref(cfg);
    return rc;
}

static enum og_err admit(enum og_mode mode)
{
    return admit_with(mode, NULL, review, sizeof(review) - 1);
}

/* An unchanged UPDATE that the ratchet allows (the url compared normalized). */
static enum og_err admit_ratchet(enum og_mode mode)
{
    return admit_with(mode, NULL, review_update, sizeof(review_update) - 1);
}

/* The same through the index step, with a verdict that names moved charts. */
static enum og_err admit_index(enum og_mode mode)
{
    static char base[] = "oci://registry-1.docker.io/bitnamicharts";
    static char c1[] = "redis", c2[] = "nginx";
    static char *bases[] = {base};
    static char *charts[] = {c1, c2};
    const struct og_index_verdict oci = {
        OG_INDEX_STATE_OCI, base, bases, 1, 14, 3312, 30, 2, NULL, charts, 2, 0, NULL, 0};

    return admit_with(mode, &oci, review, sizeof(review) - 1);
}

/* The same with a `mixed` verdict: allowed with warnings that name charts. */
static enum og_err admit_index_mixed(enum og_mode mode)
{
    static char base[] = "oci://registry-1.docker.io/bitnamicharts";
    static char c1[] = "redis", c2[] = "nginx", h1[] = "legacy";
    static char *bases[] = {base};
    static char *charts[] = {c1, c2}, *kept[] = {h1};
    const struct og_index_verdict mixed = {
        OG_INDEX_STATE_MIXED, base, bases, 1, 14, 3312, 30, 2, NULL, charts, 2, 1, kept, 1};

    return admit_with(mode, &mixed, review, sizeof(review) - 1);
}

/* One configuration load, keys set as the serve flags set them, formatted back, and the
 * default file, start to end. */
static enum og_err load_config(enum og_mode unused)
{
    struct og_config *cfg = NULL;
    struct og_buf out;
    enum og_err rc;

    (void)unused;
    og_buf_init(&out, 1u << 20);
    rc = og_config_parse(config_yaml, sizeof(config_yaml) - 1, "oom.yaml", &cfg, NULL);
    if (rc == OG_OK)
        rc = og_config_set(cfg, "index.allowHosts", "fd00::5", NULL);
    if (rc == OG_OK)
        rc = og_config_set(cfg, "exempt.users", "system:serviceaccount:*", NULL);
    if (rc == OG_OK)
        rc = og_config_set(cfg, "index.ttl", "90m", NULL);
    if (rc == OG_OK)
        rc = og_config_format(cfg, &out);
    if (rc == OG_OK)
        rc = og_config_format_default(&out);
    og_buf_cleanup(&out);
    og_config_unref(cfg);
    return rc;
}

/* Anchors, a merge key, aliases of a version and of a chart, several bases, JSON flow. */
static const char index_yaml[] =
    "apiVersion: v1\n"
    "t: &t {description: d, urls: [oci://r.io/a/x:0]}\n"
    "entries:\n"
    "  x:\n"
    "  - &v {version: 2.0.0, created: \"2024-01-01T00:00:00Z\", urls: [oci://r.io/a/x:2.0.0]}\n"
    "  - {<<: *t, version: 1.0.0, urls: [https://h.io/x-1.0.0.tgz, oci://r.io/a/x:1]}\n"
    "  y: &y [*v, {\"version\": \"0.1\", \"urls\": [\"oci://R.io/b/y-0.1.tgz\"]}]\n"
    "  z: *y\n"
    "  w: [{version: 1.0.0, created: \"2024-06-01T00:00:00Z\", urls: [https://h.io/w.tgz]}]\n"
    "generated: \"2024-01-02T00:00:00Z\"\n";

/* One index analysis with chart detail, decided, formatted and copied, start to end. */
static enum og_err analyze_index(enum og_mode unused)
{
    struct og_mem_reader r = {index_yaml, sizeof(index_yaml) - 1, 0, 5};
    struct og_index_summary s;
    struct og_index_verdict v, copy;
    struct og_buf out;
    enum og_err rc;

    (void)unused;
    og_buf_init(&out, 1u << 20);
    rc = og_helm_index_analyze(og_mem_read, &r, NULL, OG_INDEX_DETAIL, &s, NULL);
    if (rc != OG_OK)
        goto out;
    rc = og_index_summary_format_json(&s, &out);
    if (rc == OG_OK)
        rc = og_helm_index_decide(&s, OG_INDEX_THRESHOLD_NEWEST, &v);
    /* The index is mixed (w is released over https after the first oci entry). */
    if (rc == OG_OK && v.state != OG_INDEX_STATE_MIXED) {
        og_index_verdict_cleanup(&v);
        rc = OG_EINVAL;
    }
    if (rc == OG_OK) {
        rc = og_index_verdict_format_json(&v, &out);
        if (rc == OG_OK)
            rc = og_index_verdict_copy(&v, &copy);
        if (rc == OG_OK)
            og_index_verdict_cleanup(&copy);
        og_index_verdict_cleanup(&v);
    }
    og_index_summary_cleanup(&s);
out:
    og_buf_cleanup(&out);
    return rc;
}

/* Two documents, a List, flow and block mappings, an anchor, quoting, enough keys for the
 * hashed duplicate check. */
static const char manifest_yaml[] =
    "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\n"
    "metadata: {name: a, namespace: n, annotations: {ocigate.io/mode: audit}}\n"
    "spec:\n  url: https://charts.bitnami.com/bitnami # c\n  passCredentials: true\n"
    "  k1: 1\n  k2: 2\n  k3: 3\n  k4: 4\n  k5: 5\n  k6: 6\n  k7: 7\n  k8: 8\n"
    "---\napiVersion: v1\nkind: List\nitems:\n"
    "- apiVersion: source.toolkit.fluxcd.io/v1\n  kind: HelmRepository\n"
    "  metadata: &m {name: \"b\"}\n  spec: {url: 'https://h.io/x', type: default}\n";

/* One manifest read, every object as JSON, every HelmRepository fixed, start to end. */
static enum og_err fix_manifest(enum og_mode unused)
{
    struct og_manifest *m = NULL;
    struct og_yamledit e;
    struct og_buf out;
    enum og_err rc;

    (void)unused;
    og_yamledit_init(&e);
    og_buf_init(&out, 1u << 20);
    rc = og_manifest_parse(manifest_yaml, sizeof(manifest_yaml) - 1, "oom.yaml", NULL, &m, NULL);
    for (size_t i = 0; rc == OG_OK && i < og_manifest_object_count(m); i++) {
        const struct og_manifest_object *o = og_manifest_object(m, i);
        cJSON *j = NULL;

        rc = og_manifest_to_json(o->root, &j);
        cJSON_Delete(j);
        if (rc == OG_OK)
            rc = og_yamledit_fix_helmrepo(&e, manifest_yaml, sizeof(manifest_yaml) - 1, o,
                                          OG_STR_LIT("oci://r.io/a b"));
    }
    if (rc == OG_OK)
        rc = og_yamledit_apply(&e, manifest_yaml, sizeof(manifest_yaml) - 1, &out);
    og_buf_cleanup(&out);
    og_yamledit_cleanup(&e);
    og_manifest_free(m);
    return rc;
}

#endif

#ifndef OG_OOM_SKIP
/* Releases sharing an OCIRepository, a dependsOn chain, a cycle, a v2beta1 postRenderer to
 * convert, a release that is not migrated, notes. */
static const char migrate_yaml[] =
    "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\n"
    "metadata: {name: b, namespace: f}\n"
    "spec: {url: 'https://charts.bitnami.com/bitnami', secretRef: {name: s}, insecure: true}\n"
    "---\napiVersion: helm.toolkit.fluxcd.io/v2beta1\nkind: HelmRelease\n"
    "metadata: {name: r1, namespace: a, uid: x, annotations: {k: v}}\n"
    "spec: {dependsOn: [{name: r2}], chart: {spec: {chart: redis, version: 1.2.3, interval: 1m, "
    "verify: {provider: cosign}, sourceRef: {kind: HelmRepository, name: b, namespace: f}}}, "
    "values: {n: 0x10}, valuesFrom: [{kind: Secret, name: s}], postRenderers: [{kustomize: "
    "{patchesStrategicMerge: [{kind: D}], patchesJson6902: [{target: {kind: S}, patch: "
    "[{op: remove, path: /a}]}]}}]}\n"
    "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: r2, "
    "namespace: a}\nspec: {chart: {spec: {chart: redis, version: 2.x, sourceRef: {kind: "
    "HelmRepository, name: b, namespace: f}}}}\n"
    "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: r3, "
    "namespace: a}\nspec: {chart: {spec: {chart: redis, version: 2.x, sourceRef: {kind: "
    "HelmRepository, name: b, namespace: f}}}}\n"
    "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: c1, "
    "namespace: a}\nspec: {dependsOn: [{name: c2}], chart: {spec: {chart: x, sourceRef: "
    "{kind: HelmRepository, name: b, namespace: f}}}}\n"
    "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: c2, "
    "namespace: a}\nspec: {dependsOn: [{name: c1}], chart: {spec: {chart: x, sourceRef: "
    "{kind: HelmRepository, name: b, namespace: f}}}}\n"
    "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: o, "
    "namespace: a}\nspec: {chart: {spec: {chart: x, sourceRef: {kind: HelmRepository, "
    "name: gone}}}}\n";

/* One migration plan from a manifest, and its YAML, start to end. */
static enum og_err plan_migration(enum og_mode unused)
{
    struct og_migrate_input in[8];
    struct og_migrate_plan plan;
    struct og_config *cfg = NULL;
    struct og_manifest *m = NULL;
    struct og_buf out;
    enum og_err rc;
    size_t n = 0;

    (void)unused;
    og_buf_init(&out, 1u << 20);
    memset(&plan, 0, sizeof(plan));
    rc = og_config_new(&cfg);
    if (rc == OG_OK)
        rc = og_manifest_parse(migrate_yaml, sizeof(migrate_yaml) - 1, "oom.yaml", NULL, &m, NULL);
    for (size_t i = 0; rc == OG_OK && i < og_manifest_object_count(m) && n < 8; i++) {
        in[n].obj = og_manifest_object(m, i);
        in[n++].file = "oom.yaml";
    }
    if (rc == OG_OK)
        rc = og_migrate_plan_build(cfg, in, n, 1, &plan);
    for (size_t b = 0; rc == OG_OK && b < plan.n_batches; b++)
        rc = og_migrate_format_batch(&plan, b, OG_MIGRATE_SOURCES | OG_MIGRATE_RELEASES, &out);
    /* Only a complete run checks the result: a failed one returns OG_ENOMEM above. */
    if (rc == OG_OK && (plan.n_releases != 3 || plan.n_sources != 2 || plan.n_not_migrated != 3))
        rc = OG_EINVAL;
    og_migrate_plan_cleanup(&plan);
    og_buf_cleanup(&out);
    og_manifest_free(m);
    og_config_unref(cfg);
    return rc;
}
#endif

#ifndef OG_OOM_SKIP
/*
 * An admission body (the review, sent BODY_REPEAT times over) received by the request module
 * (server/request.h), with every allocation it makes failing in turn: first in 64-byte pieces
 * without a Content-Length (the buffer doubles as it grows), then announced by a
 * Content-Length (one allocation up front). The body budget is
 * charged before each allocation; when the allocation fails, the charge must be given back
 * (a budget that leaks a little on every failure ends up refusing every request with 503).
 */
#define BODY_REPEAT 8

static enum og_err receive_one(const struct og_config *cfg, struct srv_body_budget *budget,
                               bool chunked)
{
    struct srv_response resp;
    struct srv_req r;
    enum srv_req_next next;
    enum og_err rc = OG_OK;
    const size_t one = sizeof(review) - 1, total = BODY_REPEAT * one;
    char len[24];

    (void)snprintf(len, sizeof(len), "%zu", total);
    srv_req_begin(&r, cfg, budget, "POST", "/mutate", "HTTP/1.1");
    srv_req_header(&r, "Content-Type", 12, "application/json", 16);
    if (chunked)
        srv_req_header(&r, "Transfer-Encoding", 17, "chunked", 7);
    else
        srv_req_header(&r, "Content-Length", 14, len, strlen(len));
    next = srv_req_headers(&r, &resp);
    if (next == SRV_REQ_RESPOND)
        srv_response_cleanup(&resp);
    if (next != SRV_REQ_CONTINUE) {
        rc = next == SRV_REQ_DROP ? OG_ENOMEM : OG_EINVAL;
        goto out;
    }
    for (size_t off = 0, n; off < total; off += n) {
        n = one - off % one < 64 ? one - off % one : 64;
        if (srv_req_body(&r, review + off % one, n) != SRV_REQ_CONTINUE) {
            rc = OG_EINVAL;
            goto out;
        }
    }
    next = srv_req_end(&r, false, &resp);
    if (next == SRV_REQ_ADMIT)
        rc = srv_req_body_view(&r).len == total ? OG_OK : OG_EINVAL;
    else if (next == SRV_REQ_RESPOND) {
        /* The only answer an allocation failure may give is a 500. */
        rc = resp.status == 500 ? OG_ENOMEM : OG_EINVAL;
        srv_response_cleanup(&resp);
    } else
        rc = OG_ENOMEM;
out:
    srv_req_cleanup(&r);
    if (srv_body_budget_used(budget) != 0) {
        fprintf(stderr, "  %s body: %zu bytes of the budget still charged\n",
                chunked ? "chunked" : "announced", srv_body_budget_used(budget));
        rc = OG_EINVAL;
    }
    return rc;
}

static enum og_err receive_body(enum og_mode unused)
{
    struct og_config *cfg = NULL;
    struct srv_body_budget budget;
    enum og_err rc, rc2;

    (void)unused;
    srv_log_set_level(SRV_LOG_ERROR);
    rc = og_config_new(&cfg);
    if (rc != OG_OK)
        return rc;
    srv_body_budget_init(&budget, 1u << 20);
    rc = receive_one(cfg, &budget, true);
    rc2 = receive_one(cfg, &budget, false);
    og_config_unref(cfg);
    /* Each part fails alone: report the worse of the two. */
    return rc == OG_OK || rc == OG_ENOMEM ? (rc2 == OG_OK ? rc : rc2) : rc;
}
#endif

/* Runs `fn` with every allocation failing in turn; OG_OK or OG_ENOMEM, never a leak. */
#ifndef OG_OOM_SKIP
static void torture(enum og_err (*fn)(enum og_mode), enum og_mode mode, const char *what)
{
    long total, base;

    fail_at = -1;
    base = live;
    ASSERT_EQ(fn(mode), OG_OK);
    ASSERT_EQ(live, base);
    calls = 0;
    fail_at = 1L << 40;
    ASSERT_EQ(fn(mode), OG_OK);
    total = calls;
    ASSERT(total > 2); /* the hook sees the allocations (an admission has a few) */
    for (long n = 0; n < total; n++) {
        enum og_err rc;

        calls = 0;
        fail_at = n;
        base = live;
        rc = fn(mode);
        fail_at = -1;
        if (rc != OG_OK && rc != OG_ENOMEM)
            fprintf(stderr, "  %s, allocation %ld: %s\n", what, n, og_strerror(rc));
        ASSERT(rc == OG_OK || rc == OG_ENOMEM);
        if (live != base)
            fprintf(stderr, "  %s, allocation %ld failed: %ld blocks leaked\n", what, n,
                    live - base);
        ASSERT_EQ(live, base);
    }
    printf("# %s: %ld allocations, each failed once\n", what, total);
}
#endif

OG_TEST(config_every_allocation_may_fail)
{
#ifdef OG_OOM_SKIP
    OG_SKIP("sanitizer builds use their own allocator");
#else
    torture(load_config, OG_MODE_OFF, "config load and format");
#endif
}

OG_TEST(manifest_every_allocation_may_fail)
{
#ifdef OG_OOM_SKIP
    OG_SKIP("sanitizer builds use their own allocator");
#else
    torture(fix_manifest, OG_MODE_OFF, "manifest read, JSON and fix");
#endif
}

OG_TEST(every_allocation_may_fail)
{
#ifdef OG_OOM_SKIP
    OG_SKIP("sanitizer builds use their own allocator");
#else
    static const enum og_mode modes[] = {OG_MODE_MUTATE, OG_MODE_ENFORCE, OG_MODE_AUDIT};

    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
        long total, base;

        /* Count the allocations of a clean run. */
        fail_at = -1;
        base = live;
        ASSERT_EQ(admit(modes[m]), OG_OK);
        ASSERT_EQ(live, base);
        calls = 0;
        fail_at = 1L << 40;
        ASSERT_EQ(admit(modes[m]), OG_OK);
        total = calls;
        ASSERT(total > 2); /* the hook sees the allocations (an admission has a few) */
        for (long n = 0; n < total; n++) {
            enum og_err rc;

            calls = 0;
            fail_at = n;
            base = live;
            rc = admit(modes[m]);
            fail_at = -1;
            if (rc != OG_OK && rc != OG_ENOMEM)
                fprintf(stderr, "  mode %s, allocation %ld: %s\n", og_mode_name(modes[m]), n,
                        og_strerror(rc));
            ASSERT(rc == OG_OK || rc == OG_ENOMEM);
            if (live != base)
                fprintf(stderr, "  mode %s, allocation %ld failed: %ld blocks leaked\n",
                        og_mode_name(modes[m]), n, live - base);
            ASSERT_EQ(live, base);
        }
        printf("# mode %s: %ld allocations, each failed once\n", og_mode_name(modes[m]), total);
    }
#endif
}

OG_TEST(index_every_allocation_may_fail)
{
#ifdef OG_OOM_SKIP
    OG_SKIP("sanitizer builds use their own allocator");
#else
    torture(analyze_index, OG_MODE_OFF, "index analysis");
#endif
}

OG_TEST(index_step_every_allocation_may_fail)
{
#ifdef OG_OOM_SKIP
    OG_SKIP("sanitizer builds use their own allocator");
#else
    torture(admit_index, OG_MODE_MUTATE, "admission through the index step, mutate");
    torture(admit_index, OG_MODE_ENFORCE, "admission through the index step, enforce");
    torture(admit_index_mixed, OG_MODE_ENFORCE, "admission with a mixed verdict, enforce");
#endif
}

OG_TEST(ratchet_every_allocation_may_fail)
{
#ifdef OG_OOM_SKIP
    OG_SKIP("sanitizer builds use their own allocator");
#else
    torture(admit_ratchet, OG_MODE_ENFORCE, "an UPDATE the ratchet allows, enforce");
#endif
}

OG_TEST(request_body_every_allocation_may_fail)
{
#ifdef OG_OOM_SKIP
    OG_SKIP("sanitizer builds use their own allocator");
#else
    torture(receive_body, OG_MODE_OFF, "request body and its budget");
#endif
}

OG_TEST(migrate_every_allocation_may_fail)
{
#ifdef OG_OOM_SKIP
    OG_SKIP("sanitizer builds use their own allocator");
#else
    torture(plan_migration, OG_MODE_OFF, "migration plan and its YAML");
#endif
}

OG_TEST_MAIN(OG_T(every_allocation_may_fail), OG_T(ratchet_every_allocation_may_fail),
             OG_T(config_every_allocation_may_fail), OG_T(manifest_every_allocation_may_fail),
             OG_T(index_every_allocation_may_fail), OG_T(index_step_every_allocation_may_fail),
             OG_T(migrate_every_allocation_may_fail), OG_T(request_body_every_allocation_may_fail))
