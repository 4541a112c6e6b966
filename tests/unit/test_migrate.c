/*
 * test_migrate.c - the migration planner: batches against dependsOn (chains, ties, batch
 * sizes, cross-namespace), cycles (reported once, never looped on, and what waits on them),
 * OCIRepository sharing and names (ranges that collide, repositories that collide, names
 * taken by the inputs), version -> ref rules, what is not migrated and why, and the objects
 * (chartRef, metadata, postRenderers, numbers as written).
 */
#include "harness.h"

#include <cjson/cJSON.h>

#include "ocigate/buf.h"
#include "ocigate/config.h"
#include "ocigate/manifest.h"
#include "ocigate/migrate.h"

#define BITNAMI                                                                                    \
    "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\n"                         \
    "metadata: {name: bitnami, namespace: flux-system}\n"                                          \
    "spec: {url: 'https://charts.bitnami.com/bitnami', interval: 2h, secretRef: {name: s}}\n"

/* A plan over the objects of one YAML stream, under the default configuration. */
struct fixture {
    struct og_config *cfg;
    struct og_manifest *m;
    struct og_migrate_input *in;
    size_t n;
    struct og_migrate_plan plan;
};

static void plan_of(struct fixture *f, const char *yaml, size_t batch_size)
{
    struct og_diag diag;

    memset(f, 0, sizeof(*f));
    og_diag_clear(&diag);
    ASSERT_EQ(og_config_new(&f->cfg), OG_OK);
    ASSERT_EQ(og_manifest_parse(yaml, strlen(yaml), "t.yaml", NULL, &f->m, &diag), OG_OK);
    f->n = og_manifest_object_count(f->m);
    f->in = calloc(f->n + 1, sizeof(*f->in));
    ASSERT(f->in != NULL);
    for (size_t i = 0; i < f->n; i++) {
        f->in[i].obj = og_manifest_object(f->m, i);
        f->in[i].file = "t.yaml";
    }
    ASSERT_EQ(og_migrate_plan_build(f->cfg, f->in, f->n, batch_size, &f->plan), OG_OK);
}

static void fixture_cleanup(struct fixture *f)
{
    og_migrate_plan_cleanup(&f->plan);
    free(f->in);
    og_manifest_free(f->m);
    og_config_unref(f->cfg);
}

/* Appends a v2 release of chart `chart` (version `version`, NULL: none) from flux-system/bitnami,
 * depending on `deps` (a flow sequence, or NULL). */
static void release(struct og_buf *b, const char *ns, const char *name, const char *chart,
                    const char *version, const char *deps)
{
    ASSERT_EQ(og_buf_appendf(b,
                             "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n"
                             "metadata: {name: %s, namespace: %s}\nspec:\n  interval: 5m\n"
                             "  dependsOn: %s\n  chart:\n    spec:\n      chart: %s\n%s%s%s"
                             "      sourceRef: {kind: HelmRepository, name: bitnami, namespace: "
                             "flux-system}\n",
                             name, ns, deps != NULL ? deps : "[]", chart,
                             version != NULL ? "      version: \"" : "",
                             version != NULL ? version : "", version != NULL ? "\"\n" : ""),
              OG_OK);
}

/* "ns/name" of release i of the plan, in batch order. */
static const char *rel_name(const struct og_migrate_plan *p, size_t i, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", p->releases[i].at.ns, p->releases[i].at.name);
    return buf;
}

/* The batch (1-based) of release ns/name, 0 when it is not migrated. */
static size_t batch_of(const struct og_migrate_plan *p, const char *ns, const char *name)
{
    for (size_t i = 0; i < p->n_releases; i++) {
        if (strcmp(p->releases[i].at.ns, ns) == 0 && strcmp(p->releases[i].at.name, name) == 0)
            return p->releases[i].batch + 1;
    }
    return 0;
}

/* The text of the issue about `name` (migrated: a note), or NULL. */
static const char *issue_of(const struct og_migrate_plan *p, const char *name, bool migrated)
{
    for (size_t i = 0; i < p->n_issues; i++) {
        if (strcmp(p->issues[i].at.name, name) == 0 && p->issues[i].migrated == migrated)
            return p->issues[i].text;
    }
    return NULL;
}

static const struct og_migrate_source *source_of(const struct og_migrate_plan *p, const char *ns,
                                                 const char *name)
{
    for (size_t i = 0; i < p->n_releases; i++) {
        if (strcmp(p->releases[i].at.ns, ns) == 0 && strcmp(p->releases[i].at.name, name) == 0)
            return &p->sources[p->releases[i].source];
    }
    return NULL;
}

OG_TEST(batches_follow_depends_on)
{
    struct og_buf b;
    struct fixture f;
    char name[128];

    og_buf_init(&b, 1 << 20);
    ASSERT_EQ(og_buf_append_cstr(&b, BITNAMI), OG_OK);
    /* a -> b -> c (a chain against name order), w and x free, z in another namespace -> a. */
    release(&b, "apps", "a", "redis", NULL, "[{name: b}]");
    release(&b, "apps", "b", "redis", NULL, "[{name: c, namespace: apps}]");
    release(&b, "apps", "c", "redis", NULL, NULL);
    release(&b, "apps", "w", "redis", NULL, NULL);
    release(&b, "apps", "x", "redis", NULL, "[{name: not-there}]");
    release(&b, "web", "z", "redis", NULL, "[{name: a, namespace: apps}]");
    plan_of(&f, b.ptr, 2);
    ASSERT_EQ(f.plan.n_releases, 6);
    ASSERT_EQ(f.plan.n_not_migrated, 0);
    /* The smallest ready release first: c, then b and a as they become ready, w, x, z. */
    ASSERT_STR_EQ(rel_name(&f.plan, 0, name, sizeof(name)), "apps/c");
    ASSERT_STR_EQ(rel_name(&f.plan, 1, name, sizeof(name)), "apps/b");
    ASSERT_STR_EQ(rel_name(&f.plan, 2, name, sizeof(name)), "apps/a");
    ASSERT_STR_EQ(rel_name(&f.plan, 3, name, sizeof(name)), "apps/w");
    ASSERT_STR_EQ(rel_name(&f.plan, 4, name, sizeof(name)), "apps/x");
    ASSERT_STR_EQ(rel_name(&f.plan, 5, name, sizeof(name)), "web/z");
    ASSERT_EQ(f.plan.n_batches, 3);
    for (size_t i = 0; i < f.plan.n_batches; i++) {
        ASSERT_EQ(f.plan.batches[i].first_release, 2 * i);
        ASSERT_EQ(f.plan.batches[i].n_releases, 2);
    }
    /* One OCIRepository for all six, in the first batch. */
    ASSERT_EQ(f.plan.n_sources, 1);
    ASSERT_EQ(f.plan.sources[0].batch, 0);
    ASSERT_EQ(f.plan.sources[0].n_releases, 6);
    ASSERT_EQ(f.plan.batches[0].n_sources, 1);
    ASSERT_EQ(f.plan.batches[1].n_sources, 0);
    ASSERT(batch_of(&f.plan, "apps", "a") >= batch_of(&f.plan, "apps", "b"));
    ASSERT(batch_of(&f.plan, "web", "z") >= batch_of(&f.plan, "apps", "a"));
    fixture_cleanup(&f);

    /* Batch size 1: every dependency in a strictly earlier batch. */
    plan_of(&f, b.ptr, 1);
    ASSERT_EQ(f.plan.n_batches, 6);
    ASSERT_EQ(batch_of(&f.plan, "apps", "c"), 1);
    ASSERT_EQ(batch_of(&f.plan, "apps", "b"), 2);
    ASSERT_EQ(batch_of(&f.plan, "apps", "a"), 3);
    ASSERT_EQ(batch_of(&f.plan, "web", "z"), 6);
    fixture_cleanup(&f);
    og_buf_cleanup(&b);
}

OG_TEST(same_plan_whatever_the_input_order)
{
    struct og_buf b1, b2;
    struct fixture f1, f2;
    char n1[128], n2[128];

    og_buf_init(&b1, 1 << 20);
    og_buf_init(&b2, 1 << 20);
    ASSERT_EQ(og_buf_append_cstr(&b1, BITNAMI), OG_OK);
    release(&b1, "apps", "q", "redis", "1.x", "[{name: p}]");
    release(&b1, "apps", "p", "nginx", NULL, NULL);
    release(&b1, "apps", "r", "redis", "2.x", NULL);
    release(&b2, "apps", "r", "redis", "2.x", NULL);
    release(&b2, "apps", "p", "nginx", NULL, NULL);
    release(&b2, "apps", "q", "redis", "1.x", "[{name: p}]");
    ASSERT_EQ(og_buf_append_cstr(&b2, BITNAMI), OG_OK);
    plan_of(&f1, b1.ptr, 2);
    plan_of(&f2, b2.ptr, 2);
    ASSERT_EQ(f1.plan.n_releases, f2.plan.n_releases);
    ASSERT_EQ(f1.plan.n_sources, f2.plan.n_sources);
    for (size_t i = 0; i < f1.plan.n_releases; i++)
        ASSERT_STR_EQ(rel_name(&f1.plan, i, n1, sizeof(n1)), rel_name(&f2.plan, i, n2, sizeof(n2)));
    for (size_t i = 0; i < f1.plan.n_sources; i++)
        ASSERT_STR_EQ(f1.plan.sources[i].name, f2.plan.sources[i].name);
    fixture_cleanup(&f1);
    fixture_cleanup(&f2);
    og_buf_cleanup(&b1);
    og_buf_cleanup(&b2);
}

OG_TEST(cycles_are_reported_not_looped_on)
{
    struct og_buf b;
    struct fixture f;

    og_buf_init(&b, 1 << 20);
    ASSERT_EQ(og_buf_append_cstr(&b, BITNAMI), OG_OK);
    release(&b, "ns", "a", "redis", NULL, "[{name: b}]");
    release(&b, "ns", "b", "redis", NULL, "[{name: c}]");
    release(&b, "ns", "c", "redis", NULL, "[{name: a}]");
    release(&b, "ns", "self", "redis", NULL, "[{name: self}]");
    release(&b, "ns", "waits", "redis", NULL, "[{name: free}, {name: b}]");
    release(&b, "ns", "waits2", "redis", NULL, "[{name: waits}]");
    release(&b, "ns", "free", "redis", NULL, NULL);
    plan_of(&f, b.ptr, 10);
    ASSERT_EQ(f.plan.n_releases, 1);
    ASSERT_EQ(batch_of(&f.plan, "ns", "free"), 1);
    ASSERT_EQ(f.plan.n_not_migrated, 6);
    ASSERT_STR_EQ(issue_of(&f.plan, "a", false),
                  "in a dependsOn cycle: ns/a -> ns/b -> ns/c -> ns/a");
    ASSERT_STR_EQ(issue_of(&f.plan, "b", false),
                  "in a dependsOn cycle: ns/a -> ns/b -> ns/c -> ns/a");
    ASSERT_STR_EQ(issue_of(&f.plan, "c", false),
                  "in a dependsOn cycle: ns/a -> ns/b -> ns/c -> ns/a");
    ASSERT_STR_EQ(issue_of(&f.plan, "self", false), "in a dependsOn cycle: ns/self -> ns/self");
    ASSERT_STR_EQ(issue_of(&f.plan, "waits", false),
                  "depends on ns/b, which is not migrated (a dependsOn cycle)");
    ASSERT_STR_EQ(issue_of(&f.plan, "waits2", false),
                  "depends on ns/waits, which is not migrated (a dependsOn cycle)");
    /* Each release is reported once. */
    for (size_t i = 0; i < f.plan.n_issues; i++) {
        for (size_t k = i + 1; k < f.plan.n_issues; k++)
            ASSERT(f.plan.issues[i].migrated ||
                   strcmp(f.plan.issues[i].at.name, f.plan.issues[k].at.name) != 0);
    }
    fixture_cleanup(&f);
    og_buf_cleanup(&b);
}

OG_TEST(sharing_and_names)
{
    struct og_buf b;
    struct fixture f;

    og_buf_init(&b, 1 << 20);
    ASSERT_EQ(og_buf_append_cstr(&b, BITNAMI), OG_OK);
    /* A second affected repository in flux-system with a chart of the same name. */
    ASSERT_EQ(og_buf_append_cstr(
                  &b, "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\n"
                      "metadata: {name: mirror, namespace: flux-system}\n"
                      "spec: {url: 'oci://mirror.example.com/charts'}\n"
                      "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\n"
                      "metadata: {name: nginx, namespace: flux-system}\n"
                      "spec: {url: 'oci://elsewhere/nginx', interval: 1h}\n"),
              OG_OK);
    release(&b, "a", "r1", "redis", "18.x", NULL);
    release(&b, "b", "r2", "redis", "18.x", NULL); /* shares r1's */
    release(&b, "a", "r3", "redis", "17.X", NULL);
    release(&b, "a", "r4", "redis", "17.x", NULL); /* the same suffix as 17.X */
    release(&b, "a", "r5", "redis", NULL, NULL);   /* latest */
    release(&b, "a", "n1", "nginx", NULL, NULL);   /* nginx is taken by the inputs */
    release(&b, "a", "u1", "my_chart", "1.0.0", NULL);
    ASSERT_EQ(og_buf_append_cstr(&b, "---\napiVersion: helm.toolkit.fluxcd.io/v2\n"
                                     "kind: HelmRelease\nmetadata: {name: m1, namespace: a}\n"
                                     "spec:\n  interval: 5m\n  chart:\n    spec:\n"
                                     "      chart: redis\n      version: 18.x\n"
                                     "      sourceRef: {kind: HelmRepository, name: mirror, "
                                     "namespace: flux-system}\n"),
              OG_OK);
    plan_of(&f, b.ptr, 10);
    ASSERT_EQ(f.plan.n_not_migrated, 0);
    ASSERT_EQ(f.plan.n_releases, 8);
    ASSERT_EQ(source_of(&f.plan, "a", "r1"), source_of(&f.plan, "b", "r2"));
    ASSERT_STR_EQ(source_of(&f.plan, "a", "r1")->name, "redis-18-x");
    ASSERT_STR_EQ(source_of(&f.plan, "a", "r1")->ns, "flux-system");
    ASSERT_STR_EQ(source_of(&f.plan, "a", "r3")->name, "redis-17-x");
    ASSERT_STR_EQ(source_of(&f.plan, "a", "r4")->name, "redis-17-x-2");
    ASSERT_STR_EQ(source_of(&f.plan, "a", "r5")->name, "redis-latest");
    /* The mirror's redis 18.x: another repository, the same range: a number. */
    ASSERT_STR_EQ(source_of(&f.plan, "a", "m1")->name, "redis-18-x-2");
    ASSERT_STR_EQ(source_of(&f.plan, "a", "m1")->url, "oci://mirror.example.com/charts/redis");
    ASSERT_STR_EQ(source_of(&f.plan, "a", "n1")->name, "nginx-2");
    ASSERT_STR_EQ(source_of(&f.plan, "a", "u1")->name, "my-chart");
    ASSERT_STR_EQ(source_of(&f.plan, "a", "u1")->url,
                  "oci://registry-1.docker.io/bitnamicharts/my_chart");
    ASSERT_EQ(f.plan.n_sources, 7);
    /* Every name unique in its namespace. */
    for (size_t i = 0; i < f.plan.n_sources; i++) {
        for (size_t k = i + 1; k < f.plan.n_sources; k++)
            ASSERT(strcmp(f.plan.sources[i].name, f.plan.sources[k].name) != 0 ||
                   strcmp(f.plan.sources[i].ns, f.plan.sources[k].ns) != 0);
    }
    fixture_cleanup(&f);
    og_buf_cleanup(&b);
}

OG_TEST(version_to_ref)
{
    static const struct {
        const char *version; /* NULL: no version */
        bool tag;
        const char *ref;
    } cases[] = {
        {NULL, false, "*"},
        {"", false, "*"},
        {"*", false, "*"},
        {"1.2.3", true, "1.2.3"},
        {"0.0.0", true, "0.0.0"},
        {"1.2.3-rc.1", true, "1.2.3-rc.1"},
        {"1.2.3+build.7", true, "1.2.3_build.7"},
        {"1.2.3-rc.1+b", true, "1.2.3-rc.1_b"},
        {"v1.2.3", false, "v1.2.3"},
        {"=1.2.3", false, "=1.2.3"},
        {"1.2", false, "1.2"},
        {"01.2.3", false, "01.2.3"},
        {"1.2.3-", false, "1.2.3-"},
        {"1.2.3 ", false, "1.2.3 "},
        {"1.x", false, "1.x"},
        {"^1.2.0", false, "^1.2.0"},
        {">=1.0.0 <2.0.0", false, ">=1.0.0 <2.0.0"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct og_buf b;
        struct fixture f;

        og_buf_init(&b, 1 << 20);
        ASSERT_EQ(og_buf_append_cstr(&b, BITNAMI), OG_OK);
        release(&b, "a", "r", "redis", cases[i].version, NULL);
        plan_of(&f, b.ptr, 10);
        ASSERT_EQ(f.plan.n_sources, 1);
        ASSERT_EQ(f.plan.sources[0].tag, cases[i].tag);
        ASSERT_STR_EQ(f.plan.sources[0].ref, cases[i].ref);
        fixture_cleanup(&f);
        og_buf_cleanup(&b);
    }
}

OG_TEST(what_is_not_migrated)
{
    static const char yaml[] = BITNAMI
        "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\n"
        "metadata: {name: fine, namespace: flux-system}\n"
        "spec: {url: 'oci://ghcr.io/x', type: oci}\n"
        "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\n"
        "metadata: {name: bitnami, namespace: flux-system}\nspec: {url: 'https://x.io'}\n"
        "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n"
        "metadata: {name: missing, namespace: a}\n"
        "spec: {chart: {spec: {chart: x, sourceRef: {kind: HelmRepository, name: nope}}}}\n"
        "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n"
        "metadata: {name: clean, namespace: a}\n"
        "spec: {chart: {spec: {chart: x, sourceRef: {kind: HelmRepository, name: fine, "
        "namespace: flux-system}}}}\n"
        "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n"
        "metadata: {name: files, namespace: a}\n"
        "spec: {chart: {spec: {chart: x, valuesFile: v.yaml, sourceRef: {kind: HelmRepository, "
        "name: bitnami, namespace: flux-system}}}}\n"
        "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n"
        "metadata: {name: number, namespace: a}\n"
        "spec: {chart: {spec: {chart: x, version: 1.2, sourceRef: {kind: HelmRepository, "
        "name: bitnami, namespace: flux-system}}}}\n"
        "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n"
        "metadata: {name: bad-chart, namespace: a}\n"
        "spec: {chart: {spec: {chart: 'x..y', sourceRef: {kind: HelmRepository, "
        "name: bitnami, namespace: flux-system}}}}\n"
        "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n"
        "metadata: {name: twice, namespace: a}\n"
        "spec: {chart: {spec: {chart: x, sourceRef: {kind: HelmRepository, "
        "name: bitnami, namespace: flux-system}}}}\n"
        "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n"
        "metadata: {name: twice, namespace: a}\n"
        "spec: {chart: {spec: {chart: yy, sourceRef: {kind: HelmRepository, "
        "name: bitnami, namespace: flux-system}}}}\n"
        "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n"
        "metadata: {name: both, namespace: a}\n"
        "spec: {chartRef: {kind: OCIRepository, name: x}, chart: {spec: {chart: x, sourceRef: "
        "{kind: HelmRepository, name: bitnami, namespace: flux-system}}}}\n"
        /* Passed over silently: */
        "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n"
        "metadata: {name: git, namespace: a}\n"
        "spec: {chart: {spec: {chart: ./c, sourceRef: {kind: GitRepository, name: g}}}}\n"
        "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n"
        "metadata: {name: done, namespace: a}\n"
        "spec: {chartRef: {kind: OCIRepository, name: x}}\n"
        "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n"
        "metadata: {name: going, namespace: a, deletionTimestamp: '2026-01-01T00:00:00Z'}\n"
        "spec: {chart: {spec: {chart: x, sourceRef: {kind: HelmRepository, "
        "name: bitnami, namespace: flux-system}}}}\n"
        "---\napiVersion: helm.toolkit.fluxcd.io/v2beta3\nkind: HelmRelease\n"
        "metadata: {name: future, namespace: a}\n"
        "spec: {chart: {spec: {chart: x, sourceRef: {kind: HelmRepository, "
        "name: bitnami, namespace: flux-system}}}}\n";
    struct fixture f;

    plan_of(&f, yaml, 10);
    ASSERT_EQ(f.plan.n_releases, 1);
    ASSERT_EQ(batch_of(&f.plan, "a", "twice"), 1);
    ASSERT_STR_EQ(issue_of(&f.plan, "missing", false),
                  "HelmRepository a/nope is not among the inputs");
    ASSERT_STR_EQ(issue_of(&f.plan, "clean", false),
                  "HelmRepository flux-system/fine is not affected: the policy finds nothing "
                  "to migrate");
    ASSERT_STR_CONTAINS(issue_of(&f.plan, "files", false), "valuesFiles");
    ASSERT_STR_CONTAINS(issue_of(&f.plan, "number", false), "version is not a string");
    ASSERT_STR_CONTAINS(issue_of(&f.plan, "bad-chart", false), "cannot form an OCI reference");
    ASSERT_STR_CONTAINS(issue_of(&f.plan, "twice", false), "a second HelmRelease a/twice");
    ASSERT_STR_CONTAINS(issue_of(&f.plan, "bitnami", false), "a second HelmRepository");
    ASSERT_STR_CONTAINS(issue_of(&f.plan, "both", false), "both set");
    ASSERT(issue_of(&f.plan, "git", false) == NULL);
    ASSERT(issue_of(&f.plan, "done", false) == NULL);
    ASSERT(issue_of(&f.plan, "going", false) == NULL);
    ASSERT(issue_of(&f.plan, "future", false) == NULL);
    ASSERT_EQ(f.plan.n_not_migrated, 8);
    /* The HelmRepository's secretRef is carried over: a note on it. */
    ASSERT_STR_CONTAINS(issue_of(&f.plan, "bitnami", true), "dockerconfigjson");
    /* Issues in input order. */
    for (size_t i = 1; i < f.plan.n_issues; i++)
        ASSERT(f.plan.issues[i - 1].at.line <= f.plan.issues[i].at.line);
    fixture_cleanup(&f);
}

OG_TEST(objects)
{
    static const char yaml[] =
        "apiVersion: helm.toolkit.fluxcd.io/v2beta1\nkind: HelmRelease\n"
        "metadata:\n  name: web\n  namespace: apps\n  uid: u-1\n  resourceVersion: '9'\n"
        "  annotations: {kubectl.kubernetes.io/last-applied-configuration: '{}'}\n"
        "  labels: {team: a}\n"
        "spec:\n"
        "  interval: 5m\n"
        "  chart:\n    spec:\n      chart: nginx\n      version: '15.0.1'\n"
        "      verify: {provider: cosign, secretRef: {name: keys}}\n"
        "      sourceRef: {kind: HelmRepository, name: bitnami, namespace: flux-system}\n"
        "  values: {big: 123456789012345678901, hex: 0x10, s: '007', f: 1.0e3}\n"
        "  postRenderers:\n"
        "    - kustomize:\n"
        "        patches: [{patch: 'x', target: {kind: Pod}}]\n"
        "        patchesStrategicMerge: [{kind: Deployment, metadata: {name: web}}]\n"
        "        patchesJson6902:\n"
        "          - target: {kind: Service, name: web}\n"
        "            patch: [{op: remove, path: /spec/x}]\n"
        "status: {observedGeneration: 2}\n" BITNAMI
        "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n"
        "metadata: {name: local, namespace: flux-system}\n"
        "spec: {interval: 1m, chart: {spec: {chart: nginx, version: '15.0.1', "
        "verify: {provider: cosign, secretRef: {name: keys}}, "
        "sourceRef: {kind: HelmRepository, name: bitnami}}}}\n";
    struct fixture f;
    const cJSON *o, *spec, *meta, *k, *patches;
    struct og_buf out;

    plan_of(&f, yaml, 10);
    ASSERT_EQ(f.plan.n_releases, 2);
    ASSERT_EQ(f.plan.n_sources, 1);
    /* The OCIRepository: url, tag, layerSelector, the repository's interval and secret, verify. */
    o = f.plan.sources[0].object;
    spec = cJSON_GetObjectItemCaseSensitive(o, "spec");
    ASSERT_STR_EQ(cJSON_GetObjectItemCaseSensitive(o, "apiVersion")->valuestring,
                  "source.toolkit.fluxcd.io/v1");
    ASSERT_STR_EQ(cJSON_GetObjectItemCaseSensitive(spec, "url")->valuestring,
                  "oci://registry-1.docker.io/bitnamicharts/nginx");
    ASSERT_STR_EQ(cJSON_GetObjectItemCaseSensitive(spec, "interval")->valuestring, "2h");
    ASSERT_STR_EQ(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(spec, "ref"), "tag")
            ->valuestring,
        "15.0.1");
    ASSERT(cJSON_GetObjectItemCaseSensitive(spec, "verify") != NULL);
    ASSERT(cJSON_GetObjectItemCaseSensitive(spec, "secretRef") != NULL);
    ASSERT(cJSON_GetObjectItemCaseSensitive(spec, "passCredentials") == NULL);
    /* The release from another namespace: chartRef names the namespace, where chart stood. */
    o = f.plan.releases[0].object;
    ASSERT_STR_EQ(f.plan.releases[0].at.name, "web");
    ASSERT_STR_EQ(cJSON_GetObjectItemCaseSensitive(o, "apiVersion")->valuestring,
                  "helm.toolkit.fluxcd.io/v2");
    ASSERT(cJSON_GetObjectItemCaseSensitive(o, "status") == NULL);
    meta = cJSON_GetObjectItemCaseSensitive(o, "metadata");
    ASSERT(cJSON_GetObjectItemCaseSensitive(meta, "uid") == NULL);
    ASSERT(cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion") == NULL);
    ASSERT(cJSON_GetObjectItemCaseSensitive(meta, "annotations") == NULL);
    ASSERT(cJSON_GetObjectItemCaseSensitive(meta, "labels") != NULL);
    spec = cJSON_GetObjectItemCaseSensitive(o, "spec");
    ASSERT(cJSON_GetObjectItemCaseSensitive(spec, "chart") == NULL);
    k = spec->child->next;
    ASSERT_STR_EQ(k->string, "chartRef");
    ASSERT_STR_EQ(cJSON_GetObjectItemCaseSensitive(k, "kind")->valuestring, "OCIRepository");
    ASSERT_STR_EQ(cJSON_GetObjectItemCaseSensitive(k, "name")->valuestring, "nginx");
    ASSERT_STR_EQ(cJSON_GetObjectItemCaseSensitive(k, "namespace")->valuestring, "flux-system");
    patches = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(
            cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(spec, "postRenderers"), 0),
            "kustomize"),
        "patches");
    ASSERT_EQ(cJSON_GetArraySize(patches), 3);
    ASSERT_STR_EQ(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(patches, 1), "patch")->valuestring,
        "{\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\"}}");
    ASSERT_STR_EQ(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(patches, 2), "patch")->valuestring,
        "[{\"op\":\"remove\",\"path\":\"/spec/x\"}]");
    ASSERT_STR_EQ(
        cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(patches, 2), "target"), "name")
            ->valuestring,
        "web");
    ASSERT_STR_CONTAINS(issue_of(&f.plan, "web", true), "converted to patches");
    /* The release in the repository's namespace: no namespace in chartRef. */
    k = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(f.plan.releases[1].object, "spec"), "chartRef");
    ASSERT(cJSON_GetObjectItemCaseSensitive(k, "namespace") == NULL);
    /* The YAML keeps every digit and every string a string. */
    og_buf_init(&out, 1 << 20);
    ASSERT_EQ(og_migrate_format_batch(&f.plan, 0, OG_MIGRATE_RELEASES, &out), OG_OK);
    ASSERT_STR_CONTAINS(out.ptr, "    big: 123456789012345678901\n");
    ASSERT_STR_CONTAINS(out.ptr, "    hex: 0x10\n");
    ASSERT_STR_CONTAINS(out.ptr, "    s: \"007\"\n");
    ASSERT_STR_CONTAINS(out.ptr, "    f: 1.0e3\n");
    ASSERT(strstr(out.ptr, "OCIRepository\n  name: nginx") == NULL);
    og_buf_reset(&out);
    ASSERT_EQ(og_migrate_format_batch(&f.plan, 0, OG_MIGRATE_SOURCES, &out), OG_OK);
    ASSERT_STR_CONTAINS(out.ptr, "kind: OCIRepository\n");
    ASSERT(strstr(out.ptr, "HelmRelease") == NULL);
    ASSERT_EQ(og_migrate_format_batch(&f.plan, 1, OG_MIGRATE_SOURCES, &out), OG_EINVAL);
    og_buf_cleanup(&out);
    fixture_cleanup(&f);
}

OG_TEST(nothing_to_migrate)
{
    struct fixture f;

    plan_of(&f, "a: b\n", 0);
    ASSERT_EQ(f.plan.n_batches, 0);
    ASSERT_EQ(f.plan.n_releases, 0);
    ASSERT_EQ(f.plan.n_issues, 0);
    fixture_cleanup(&f);
}

OG_TEST_MAIN(OG_T(batches_follow_depends_on), OG_T(same_plan_whatever_the_input_order),
             OG_T(cycles_are_reported_not_looped_on), OG_T(sharing_and_names), OG_T(version_to_ref),
             OG_T(what_is_not_migrated), OG_T(objects), OG_T(nothing_to_migrate))
