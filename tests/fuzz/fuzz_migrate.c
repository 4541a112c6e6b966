/*
 * fuzz_migrate.c - the migration planner on arbitrary manifests (the first byte picks the
 * batch size). A plan must hold together: batches that cover the releases in order, each
 * release after the batch of its OCIRepository, and each batch's YAML must read back (the
 * manifest reader, no aliases, no duplicate keys) as exactly the batch's objects, by kind and
 * name. A failure always says what.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocigate/buf.h"
#include "ocigate/config.h"
#include "ocigate/manifest.h"
#include "ocigate/migrate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_migrate: %s\n", what);
    abort();
}

static void check_name(const struct og_manifest_object *o, const char *kind, const char *ns,
                       const char *name)
{
    if (!og_str_eq_lit(o->kind, kind) || !og_str_eq_lit(o->name, name))
        fail("an object of the YAML is not the plan's");
    if (ns[0] != '\0' ? !og_str_eq_lit(o->ns, ns) : o->ns.ptr != NULL)
        fail("an object of the YAML is in another namespace");
}

static void check_batch(const struct og_migrate_plan *p, size_t b)
{
    const struct og_migrate_batch *bt = &p->batches[b];
    struct og_manifest *m = NULL;
    struct og_buf out;
    size_t n;

    og_buf_init(&out, 1u << 30);
    if (og_migrate_format_batch(p, b, OG_MIGRATE_SOURCES | OG_MIGRATE_RELEASES, &out) != OG_OK)
        fail("a batch cannot be written");
    if (og_manifest_parse(out.ptr, out.len, "batch", NULL, &m, NULL) != OG_OK)
        fail("a batch's YAML does not read back");
    n = og_manifest_object_count(m);
    if (n != bt->n_sources + bt->n_releases)
        fail("a batch's YAML holds another number of objects");
    for (size_t i = 0; i < bt->n_sources; i++) {
        const struct og_migrate_source *s = &p->sources[bt->first_source + i];

        check_name(og_manifest_object(m, i), "OCIRepository", s->ns, s->name);
    }
    for (size_t i = 0; i < bt->n_releases; i++) {
        const struct og_migrate_release *r = &p->releases[bt->first_release + i];

        check_name(og_manifest_object(m, bt->n_sources + i), "HelmRelease", r->at.ns, r->at.name);
    }
    og_manifest_free(m);
    og_buf_cleanup(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* One configuration for every run: the built-in migrations table. */
    static struct og_config *cfg;
    struct og_migrate_input *in = NULL;
    struct og_manifest *m = NULL;
    struct og_migrate_plan plan;
    size_t batch_size, n, at = 0, issues = 0;

    if (size < 1)
        return 0;
    if (cfg == NULL && og_config_new(&cfg) != OG_OK)
        fail("no configuration");
    batch_size = data[0] % 4 + 1;
    if (og_manifest_parse((const char *)data + 1, size - 1, "fuzz", NULL, &m, NULL) != OG_OK)
        return 0;
    n = og_manifest_object_count(m);
    in = calloc(n + 1, sizeof(*in));
    if (in == NULL)
        fail("out of memory");
    for (size_t i = 0; i < n; i++) {
        in[i].obj = og_manifest_object(m, i);
        in[i].file = "fuzz";
    }
    if (og_migrate_plan_build(cfg, in, n, batch_size, &plan) != OG_OK)
        fail("no plan");
    for (size_t b = 0; b < plan.n_batches; b++) {
        const struct og_migrate_batch *bt = &plan.batches[b];

        if (bt->first_release != at || bt->n_releases == 0 || bt->n_releases > batch_size)
            fail("batches do not cover the releases in order");
        at += bt->n_releases;
        for (size_t i = 0; i < bt->n_sources; i++) {
            if (plan.sources[bt->first_source + i].batch != b)
                fail("an OCIRepository in another batch's range");
        }
        check_batch(&plan, b);
    }
    if (at != plan.n_releases)
        fail("releases outside every batch");
    for (size_t i = 0; i < plan.n_releases; i++) {
        const struct og_migrate_release *r = &plan.releases[i];

        if (r->source >= plan.n_sources || plan.sources[r->source].batch > r->batch ||
            r->repo >= plan.n_repos || plan.sources[r->source].repo != r->repo)
            fail("a release before its OCIRepository, or from another repository");
    }
    for (size_t i = 0; i < plan.n_issues; i++)
        issues += !plan.issues[i].migrated;
    if (issues != plan.n_not_migrated)
        fail("n_not_migrated");
    og_migrate_plan_cleanup(&plan);
    free(in);
    og_manifest_free(m);
    return 0;
}
