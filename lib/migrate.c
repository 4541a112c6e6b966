#include "ocigate/migrate.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guidance_int.h"
#include "manifest_int.h"
#include "ocigate/guidance.h"
#include "ocigate/str.h"

/* A chart name longer than this is no OCI repository name anyone pushes. */
#define CHART_MAX 128
/* The longest range kept in a name suffix. */
#define SUFFIX_MAX 40
/* One issue line; longer ones are cut. */
#define TEXT_MAX 1024

/* A HelmRepository of the inputs. */
struct repo_in {
    struct og_migrate_where at;
    const struct og_manifest_node *root;
    size_t input;
    size_t affected; /* index in plan->repos, SIZE_MAX when not affected */
    enum og_rule rule;
    char *problem; /* the policy's problem line, or NULL */
    bool used;     /* an OCIRepository is made from it */
};

/* A release that passed every check of its own: it is migrated unless dependsOn stops it. */
struct cand {
    struct og_migrate_where at;
    const struct og_manifest_node *root;
    size_t input;
    size_t repo_in;                  /* index in the repo_in array */
    const char *repo_ns, *repo_name; /* its HelmRepository's */
    const char *chart;
    char *ref; /* owned: the tag or the range */
    bool tag;
    const struct og_manifest_node *verify;
    char *verify_key; /* owned: verify as JSON text, or NULL */
    size_t *deps;     /* owned: indices of candidates (by rank) it depends on */
    size_t n_deps;
    size_t order;   /* position in the batch order, SIZE_MAX while not placed */
    size_t variant; /* index of its OCIRepository */
    bool stuck;     /* classified as not migrated (a cycle) */
};

struct issue_tmp {
    struct og_migrate_issue is;
    size_t input, seq;
};

struct planner {
    const struct og_config *cfg;
    const struct og_migrate_input *in;
    size_t n_in;
    size_t batch_size;
    struct og_migrate_plan *plan;
    struct repo_in *repos;
    size_t n_repos, cap_repos;
    struct cand *cands;
    size_t n_cands, cap_cands;
    struct issue_tmp *issues;
    size_t n_issues, cap_issues;
    const struct og_migrate_input **ocirepos; /* OCIRepositories among the inputs */
    size_t n_ocirepos, cap_ocirepos;
    size_t cap_plan_repos;
};

/* ---- small helpers ---- */

static const char *string_at(const struct og_manifest_node *node, const char *path)
{
    const struct og_manifest_node *n = og_manifest_path(node, path);

    return og_manifest_is_string(n) ? n->value : NULL;
}

static const char *or_empty(struct og_str s)
{
    return s.ptr != NULL ? s.ptr : "";
}

static void where_of(const struct og_migrate_input *in, struct og_migrate_where *w)
{
    w->file = in->file;
    w->line = in->obj->root->start.line;
    w->column = in->obj->root->start.column;
    w->kind = or_empty(in->obj->kind);
    w->ns = or_empty(in->obj->ns);
    w->name = or_empty(in->obj->name);
}

static bool is_kind(const struct og_manifest_object *o, const char *group, const char *kind)
{
    return og_str_eq_lit(o->group, group) && og_str_eq_lit(o->kind, kind);
}

static int cmp_str(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

static int cmp_names(const char *ns_a, const char *a, const char *ns_b, const char *b)
{
    int c = strcmp(ns_a, ns_b);

    return c != 0 ? c : strcmp(a, b);
}

static enum og_err add_issue(struct planner *p, const struct og_migrate_where *at, size_t input,
                             bool migrated, const char *fmt, ...) OG_PRINTF(5, 6);
static enum og_err add_issue(struct planner *p, const struct og_migrate_where *at, size_t input,
                             bool migrated, const char *fmt, ...)
{
    struct issue_tmp *items =
        og_array_grow(p->issues, &p->cap_issues, p->n_issues, sizeof(*items), 16, SIZE_MAX);
    char text[TEXT_MAX];
    va_list ap;

    if (items == NULL)
        return OG_ENOMEM;
    p->issues = items;
    va_start(ap, fmt);
    (void)vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    items[p->n_issues].is.at = *at;
    items[p->n_issues].is.migrated = migrated;
    items[p->n_issues].input = input;
    items[p->n_issues].seq = p->n_issues;
    items[p->n_issues].is.text = strdup(text);
    if (items[p->n_issues].is.text == NULL)
        return OG_ENOMEM;
    p->n_issues++;
    return OG_OK;
}

/* True for a name OCI accepts as a repository path component: [a-z0-9]+ joined by '.', '_',
 * '__' or runs of '-'. */
static bool oci_component(const char *s)
{
    size_t i = 0, n = strlen(s);

    if (n == 0 || n > CHART_MAX)
        return false;
    for (;;) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
            return false;
        while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
            i++;
        if (i == n)
            return true;
        if (s[i] == '.') {
            i++;
        } else if (s[i] == '_') {
            i += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
        } else if (s[i] == '-') {
            while (i < n && s[i] == '-')
                i++;
        } else {
            return false;
        }
        if (i == n)
            return false;
    }
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Digits without a leading zero (but "0"); advances `*i`. */
static bool numeric(const char *s, size_t *i)
{
    size_t start = *i;

    while (is_digit(s[*i]))
        (*i)++;
    return *i > start && !(s[start] == '0' && *i - start > 1);
}

/* Dot-separated identifiers of [0-9A-Za-z-]; advances `*i`. */
static bool identifiers(const char *s, size_t *i)
{
    for (;;) {
        size_t start = *i;

        while ((s[*i] >= '0' && s[*i] <= '9') || (s[*i] >= 'a' && s[*i] <= 'z') ||
               (s[*i] >= 'A' && s[*i] <= 'Z') || s[*i] == '-')
            (*i)++;
        if (*i == start)
            return false;
        if (s[*i] != '.')
            return true;
        (*i)++;
    }
}

/* True for an exact semantic version: MAJOR.MINOR.PATCH[-pre][+build], nothing else. */
static bool exact_version(const char *v)
{
    size_t i = 0;

    if (!numeric(v, &i) || v[i++] != '.' || !numeric(v, &i) || v[i++] != '.' || !numeric(v, &i))
        return false;
    if (v[i] == '-' && (++i, !identifiers(v, &i)))
        return false;
    if (v[i] == '+' && (++i, !identifiers(v, &i)))
        return false;
    return v[i] == '\0';
}

/*
 * The OCI ref of a chart version, as a new string (NULL: out of memory): an exact version is a
 * tag (`*tag`), '+' written '_' as Helm pushes it; anything else is the semver range as
 * written, "*" for none.
 */
static char *ref_of(const char *v, bool *tag)
{
    char *ref;

    *tag = exact_version(v);
    if (v[0] == '\0')
        return strdup("*");
    ref = strdup(v);
    for (char *q = ref; *tag && q != NULL && *q != '\0'; q++) {
        if (*q == '+')
            *q = '_';
    }
    return ref;
}

/* ---- reading the inputs ---- */

static size_t find_repo(const struct planner *p, const char *ns, const char *name)
{
    for (size_t i = 0; i < p->n_repos; i++) {
        if (strcmp(p->repos[i].at.ns, ns) == 0 && strcmp(p->repos[i].at.name, name) == 0)
            return i;
    }
    return SIZE_MAX;
}

static enum og_err read_repo(struct planner *p, size_t i)
{
    const struct og_migrate_input *in = &p->in[i];
    struct og_manifest_policy_input pin;
    struct og_migrate_where at;
    struct og_decision d;
    struct repo_in *r;
    size_t dup;
    enum og_err rc;

    where_of(in, &at);
    dup = find_repo(p, at.ns, at.name);
    if (dup != SIZE_MAX)
        return add_issue(p, &at, i, false,
                         "a second HelmRepository %s/%s (the first, which releases use: %s:%u:%u)",
                         at.ns, at.name, p->repos[dup].at.file, p->repos[dup].at.line,
                         p->repos[dup].at.column);
    r = og_array_grow(p->repos, &p->cap_repos, p->n_repos, sizeof(*r), 16, SIZE_MAX);
    if (r == NULL)
        return OG_ENOMEM;
    p->repos = r;
    r = &p->repos[p->n_repos];
    memset(r, 0, sizeof(*r));
    r->at = at;
    r->root = in->obj->root;
    r->input = i;
    r->affected = SIZE_MAX;
    if (!og_manifest_policy_input(in->obj, &pin)) {
        p->n_repos++;
        return OG_OK;
    }
    /* The webhook's rules on the object: affected is what they would fix. */
    rc = og_policy_eval(p->cfg, &pin.obj, &pin.ctx, OG_ENDPOINT_VALIDATE, &d);
    if (rc != OG_OK)
        return rc;
    r->rule = d.rule;
    if (d.problem != NULL) {
        r->problem = strdup(d.problem);
        if (r->problem == NULL)
            rc = OG_ENOMEM;
    }
    if (rc == OG_OK && d.rule != OG_RULE_NONE && d.suggested_url != NULL) {
        struct og_migrate_plan *plan = p->plan;
        /* A copy: the decision's strings go with it (og_decision.block). */
        char *base = strdup(d.suggested_url);
        struct og_migrate_repo *pr = base == NULL
                                         ? NULL
                                         : og_array_grow(plan->repos, &p->cap_plan_repos,
                                                         plan->n_repos, sizeof(*pr), 16, SIZE_MAX);

        if (pr == NULL) {
            free(base);
            rc = OG_ENOMEM;
        } else {
            plan->repos = pr;
            pr = &plan->repos[plan->n_repos];
            memset(pr, 0, sizeof(*pr));
            pr->at = r->at;
            pr->rule = d.rule;
            /* The policy gives the OCI base without a trailing '/'. */
            pr->oci_base = base;
            r->affected = plan->n_repos++;
        }
    }
    og_decision_cleanup(&d);
    if (rc == OG_OK)
        p->n_repos++;
    else
        free(r->problem);
    return rc;
}

static bool nonempty_seq(const struct og_manifest_node *n)
{
    return n != NULL && n->type == OG_MANIFEST_SEQUENCE && n->count > 0;
}

/* The release's own checks; a release that passes them becomes a candidate. */
static enum og_err read_release(struct planner *p, size_t i)
{
    const struct og_migrate_input *in = &p->in[i];
    const struct og_manifest_node *root = in->obj->root;
    const struct og_manifest_node *spec = og_manifest_get(root, og_str_of("spec"));
    const struct og_manifest_node *chart = og_manifest_get(spec, og_str_of("chart"));
    const struct og_manifest_node *cs = og_manifest_get(chart, og_str_of("spec"));
    const struct og_manifest_node *version = og_manifest_get(cs, og_str_of("version"));
    const char *src_kind = string_at(cs, "sourceRef.kind");
    const char *src_name = string_at(cs, "sourceRef.name");
    const char *src_ns = string_at(cs, "sourceRef.namespace");
    const char *chart_name = string_at(cs, "chart");
    const char *values_file = string_at(cs, "valuesFile");
    struct og_migrate_where at;
    struct cand *c;
    size_t r;

    where_of(in, &at);
    if (in->obj->deleting || chart == NULL || src_kind == NULL ||
        strcmp(src_kind, "HelmRepository") != 0)
        return OG_OK;
    if (src_ns == NULL || src_ns[0] == '\0')
        src_ns = at.ns;
    if (og_manifest_get(spec, og_str_of("chartRef")) != NULL)
        return add_issue(p, &at, i, false,
                         "spec.chart and spec.chartRef are both set (Flux takes one or the other)");
    if (src_name == NULL)
        return add_issue(p, &at, i, false, "spec.chart.spec.sourceRef has no name");
    r = find_repo(p, src_ns, src_name);
    if (r == SIZE_MAX)
        return add_issue(p, &at, i, false, "HelmRepository %s/%s is not among the inputs", src_ns,
                         src_name);
    if (p->repos[r].affected == SIZE_MAX) {
        if (p->repos[r].rule != OG_RULE_NONE)
            return add_issue(p, &at, i, false,
                             "HelmRepository %s/%s has no known OCI registry to move to (%s: %s)",
                             src_ns, src_name, og_rule_name(p->repos[r].rule),
                             p->repos[r].problem != NULL ? p->repos[r].problem : "");
        return add_issue(p, &at, i, false,
                         "HelmRepository %s/%s is not affected: the policy finds nothing to "
                         "migrate",
                         src_ns, src_name);
    }
    if (chart_name == NULL)
        return add_issue(p, &at, i, false, "spec.chart.spec.chart is not a string");
    if (!oci_component(chart_name))
        return add_issue(p, &at, i, false,
                         "chart name '%s' cannot form an OCI reference (lower-case letters and "
                         "digits joined by '.', '_' or '-')",
                         chart_name);
    if (version != NULL && !og_manifest_is_string(version) &&
        og_manifest_resolve(version, NULL) != OG_MANIFEST_NULL)
        return add_issue(p, &at, i, false, "spec.chart.spec.version is not a string (quote it)");
    if (nonempty_seq(og_manifest_get(cs, og_str_of("valuesFiles"))) ||
        (values_file != NULL && values_file[0] != '\0'))
        return add_issue(p, &at, i, false,
                         "spec.chart.spec.valuesFiles: chartRef takes only the chart's own "
                         "values; merge those files into spec.values or valuesFrom first");

    c = og_array_grow(p->cands, &p->cap_cands, p->n_cands, sizeof(*c), 16, SIZE_MAX);
    if (c == NULL)
        return OG_ENOMEM;
    p->cands = c;
    c = &p->cands[p->n_cands];
    memset(c, 0, sizeof(*c));
    c->at = at;
    c->root = root;
    c->input = i;
    c->repo_in = r;
    c->repo_ns = p->repos[r].at.ns;
    c->repo_name = p->repos[r].at.name;
    c->chart = chart_name;
    c->order = SIZE_MAX;
    c->ref = ref_of(og_manifest_is_string(version) ? version->value : "", &c->tag);
    if (c->ref == NULL)
        return OG_ENOMEM;
    /* verify is a mapping (anything else was not valid in the HelmRelease either). */
    c->verify = og_manifest_get(cs, og_str_of("verify"));
    if (c->verify != NULL && c->verify->type != OG_MANIFEST_MAPPING)
        c->verify = NULL;
    if (c->verify != NULL) {
        cJSON *j = NULL;

        if (og_manifest_to_json(c->verify, &j) != OG_OK) {
            free(c->ref);
            return OG_ENOMEM;
        }
        c->verify_key = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        if (c->verify_key == NULL) {
            free(c->ref);
            return OG_ENOMEM;
        }
    }
    p->n_cands++;
    return OG_OK;
}

/* ---- dependsOn: the batch order ---- */

static int cmp_cand(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    int c = cmp_names(x->at.ns, x->at.name, y->at.ns, y->at.name);

    return c != 0 ? c : (x->input > y->input) - (x->input < y->input);
}

/*
 * After the sort by (namespace, name, input order): a release met again is reported and
 * dropped, the first one stays.
 */
static enum og_err drop_duplicates(struct planner *p)
{
    size_t kept = 0;
    enum og_err rc = OG_OK;

    for (size_t i = 0; i < p->n_cands; i++) {
        struct cand *c = &p->cands[i];
        const struct cand *first = kept > 0 ? &p->cands[kept - 1] : NULL;

        if (first != NULL && strcmp(first->at.ns, c->at.ns) == 0 &&
            strcmp(first->at.name, c->at.name) == 0) {
            if (rc == OG_OK)
                rc = add_issue(p, &c->at, c->input, false,
                               "a second HelmRelease %s/%s (the first: %s:%u:%u)", c->at.ns,
                               c->at.name, first->at.file, first->at.line, first->at.column);
            free(c->ref);
            free(c->verify_key);
            continue;
        }
        p->cands[kept++] = *c;
    }
    p->n_cands = kept;
    return rc;
}

static size_t find_cand(const struct planner *p, const char *ns, const char *name)
{
    size_t lo = 0, hi = p->n_cands;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_names(p->cands[mid].at.ns, p->cands[mid].at.name, ns, name);

        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return SIZE_MAX;
}

/* The edges: each candidate's dependsOn entries that name another candidate. */
static enum og_err read_deps(struct planner *p)
{
    for (size_t i = 0; i < p->n_cands; i++) {
        struct cand *c = &p->cands[i];
        const struct og_manifest_node *deps = og_manifest_path(c->root, "spec.dependsOn");
        size_t n = 0;

        if (deps == NULL || deps->type != OG_MANIFEST_SEQUENCE || deps->count == 0)
            continue;
        c->deps = calloc(deps->count, sizeof(*c->deps));
        if (c->deps == NULL)
            return OG_ENOMEM;
        for (const struct og_manifest_node *d = deps->child; d != NULL; d = d->next) {
            const char *name = string_at(d, "name");
            const char *ns = string_at(d, "namespace");
            size_t k;

            if (name == NULL)
                continue;
            k = find_cand(p, ns != NULL && ns[0] != '\0' ? ns : c->at.ns, name);
            if (k != SIZE_MAX)
                c->deps[n++] = k;
        }
        c->n_deps = n;
    }
    return OG_OK;
}

/* A binary min-heap of candidate indices (the index is the (namespace, name) rank). */
struct heap {
    size_t *v;
    size_t n;
};

static void heap_push(struct heap *h, size_t x)
{
    size_t i = h->n++;

    h->v[i] = x;
    while (i > 0 && h->v[(i - 1) / 2] > h->v[i]) {
        size_t up = (i - 1) / 2, t = h->v[up];

        h->v[up] = h->v[i];
        h->v[i] = t;
        i = up;
    }
}

static size_t heap_pop(struct heap *h)
{
    size_t top = h->v[0], i = 0;

    h->v[0] = h->v[--h->n];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i, t;

        if (l < h->n && h->v[l] < h->v[m])
            m = l;
        if (r < h->n && h->v[r] < h->v[m])
            m = r;
        if (m == i)
            break;
        t = h->v[m];
        h->v[m] = h->v[i];
        h->v[i] = t;
        i = m;
    }
    return top;
}

/*
 * Kahn's algorithm, the smallest (namespace, name) first among the ready ones: a release comes
 * after everything it depends on. Returns the number placed; `order` gets them in order.
 */
static enum og_err topo_order(struct planner *p, size_t *order, size_t *placed)
{
    size_t *indeg = calloc(p->n_cands + 1, sizeof(size_t));
    size_t *start = calloc(p->n_cands + 1, sizeof(size_t));
    size_t *users = NULL, *fill = NULL, total = 0, n = 0;
    struct heap h = {NULL, 0};
    enum og_err rc = OG_ENOMEM;

    if (indeg == NULL || start == NULL)
        goto out;
    for (size_t i = 0; i < p->n_cands; i++) {
        indeg[i] = p->cands[i].n_deps;
        total += p->cands[i].n_deps;
        for (size_t k = 0; k < p->cands[i].n_deps; k++)
            start[p->cands[i].deps[k] + 1]++;
    }
    for (size_t i = 0; i < p->n_cands; i++)
        start[i + 1] += start[i];
    users = calloc(total + 1, sizeof(size_t));
    fill = calloc(p->n_cands + 1, sizeof(size_t));
    h.v = calloc(p->n_cands + 1, sizeof(size_t));
    if (users == NULL || fill == NULL || h.v == NULL)
        goto out;
    for (size_t i = 0; i < p->n_cands; i++) {
        for (size_t k = 0; k < p->cands[i].n_deps; k++) {
            size_t d = p->cands[i].deps[k];

            users[start[d] + fill[d]++] = i;
        }
    }
    for (size_t i = 0; i < p->n_cands; i++) {
        if (indeg[i] == 0)
            heap_push(&h, i);
    }
    while (h.n > 0) {
        size_t c = heap_pop(&h);

        p->cands[c].order = n;
        order[n++] = c;
        for (size_t k = start[c]; k < start[c + 1]; k++) {
            if (--indeg[users[k]] == 0)
                heap_push(&h, users[k]);
        }
    }
    *placed = n;
    rc = OG_OK;
out:
    free(indeg);
    free(start);
    free(users);
    free(fill);
    free(h.v);
    return rc;
}

/* The dependency of `c` to follow toward a cycle: the smallest one not placed. */
static size_t next_unplaced(const struct planner *p, const struct cand *c)
{
    size_t best = SIZE_MAX;

    for (size_t k = 0; k < c->n_deps; k++) {
        size_t d = c->deps[k];

        if (p->cands[d].order == SIZE_MAX && d < best)
            best = d;
    }
    return best;
}

/*
 * What Kahn could not place is in a cycle or waits on one. Each is reported once: a cycle
 * with its members in order, the others with the release they wait on. Never loops: a walk
 * stops at a release met before.
 */
static enum og_err report_cycles(struct planner *p)
{
    size_t *path = calloc(p->n_cands + 1, sizeof(size_t));
    char *on_path = calloc(p->n_cands + 1, 1);
    struct og_buf text;
    enum og_err rc = OG_OK;

    og_buf_init(&text, TEXT_MAX);
    if (path == NULL || on_path == NULL) {
        rc = OG_ENOMEM;
        goto out;
    }
    for (size_t i = 0; rc == OG_OK && i < p->n_cands; i++) {
        size_t n = 0, cur = i, loop = SIZE_MAX;

        if (p->cands[i].order != SIZE_MAX || p->cands[i].stuck)
            continue;
        while (cur != SIZE_MAX && !p->cands[cur].stuck && !on_path[cur]) {
            on_path[cur] = 1;
            path[n++] = cur;
            cur = next_unplaced(p, &p->cands[cur]);
        }
        if (cur != SIZE_MAX && on_path[cur])
            loop = cur;
        for (size_t k = 0; k < n; k++)
            on_path[path[k]] = 0;
        /* The cycle: from `loop` to the end of the path, and back. */
        og_buf_reset(&text);
        if (loop != SIZE_MAX) {
            size_t first = 0;

            while (path[first] != loop)
                first++;
            for (size_t k = first; rc == OG_OK && k < n; k++)
                rc = og_buf_appendf(&text, "%s/%s -> ", p->cands[path[k]].at.ns,
                                    p->cands[path[k]].at.name);
            if (rc == OG_OK)
                rc = og_buf_appendf(&text, "%s/%s", p->cands[loop].at.ns, p->cands[loop].at.name);
            if (rc == OG_ETOOBIG)
                rc = OG_OK;
            for (size_t k = first; rc == OG_OK && k < n; k++) {
                p->cands[path[k]].stuck = true;
                rc = add_issue(p, &p->cands[path[k]].at, p->cands[path[k]].input, false,
                               "in a dependsOn cycle: %s", text.ptr != NULL ? text.ptr : "");
            }
            /* path[first - 1] waits on path[first], the cycle's entry. */
            n = first;
        }
        /* The rest of the path waits on the next release along it. */
        for (size_t k = 0; rc == OG_OK && k < n; k++) {
            const struct cand *c = &p->cands[path[k]];
            /* (An unplaced release always has an unplaced dependency: `cur` is one.) */
            size_t to = k + 1 < n || loop != SIZE_MAX ? path[k + 1] : cur;
            const struct cand *next = &p->cands[to != SIZE_MAX ? to : path[k]];

            p->cands[path[k]].stuck = true;
            rc = add_issue(p, &c->at, c->input, false,
                           "depends on %s/%s, which is not migrated (a dependsOn cycle)",
                           next->at.ns, next->at.name);
        }
    }
out:
    og_buf_cleanup(&text);
    free(path);
    free(on_path);
    return rc;
}

/* ---- OCIRepositories: one per repository, chart, range and verify ---- */

static int cmp_variant(const struct cand *x, const struct cand *y)
{
    int c = strcmp(x->repo_ns, y->repo_ns);

    if (c == 0)
        c = strcmp(x->chart, y->chart);
    if (c == 0)
        c = strcmp(x->repo_name, y->repo_name);
    if (c == 0)
        c = strcmp(x->ref, y->ref);
    if (c == 0)
        c = (int)x->tag - (int)y->tag;
    if (c == 0)
        c = cmp_str(x->verify_key, y->verify_key);
    return c;
}

/* qsort() over candidate pointers: by variant, then by rank (the candidates are in rank
 * order), so the order is total. */
static int cmp_variant_ptr(const void *a, const void *b)
{
    const struct cand *x = *(const struct cand *const *)a, *y = *(const struct cand *const *)b;
    int c = cmp_variant(x, y);

    return c != 0 ? c : (x > y) - (x < y);
}

/* The range as a name suffix: lower case, each run of other characters one '-'. */
static enum og_err suffix_of(const char *ref, struct og_buf *out)
{
    size_t start = out->len;
    bool dash = false;
    enum og_err rc = OG_OK;

    if (strcmp(ref, "*") == 0)
        return og_buf_append_cstr(out, "latest");
    for (const char *q = ref; rc == OG_OK && *q != '\0' && out->len - start < SUFFIX_MAX; q++) {
        char ch = og_ascii_lower(*q);

        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
            if (dash && out->len > start)
                rc = og_buf_append(out, "-", 1);
            dash = false;
            if (rc == OG_OK)
                rc = og_buf_append(out, &ch, 1);
        } else {
            dash = true;
        }
    }
    if (rc == OG_OK && out->len == start)
        rc = og_buf_append_cstr(out, "range");
    return rc;
}

static bool name_taken(const struct planner *p, size_t n_sources, const char *ns, const char *name)
{
    for (size_t i = 0; i < n_sources; i++) {
        if (strcmp(p->plan->sources[i].ns, ns) == 0 && strcmp(p->plan->sources[i].name, name) == 0)
            return true;
    }
    for (size_t i = 0; i < p->n_ocirepos; i++) {
        const struct og_manifest_object *o = p->ocirepos[i]->obj;

        if (strcmp(or_empty(o->ns), ns) == 0 && strcmp(or_empty(o->name), name) == 0)
            return true;
    }
    return false;
}

/* Names source `s` (the chart, or chart-range when `suffixed`), unique in its namespace. */
static enum og_err name_source(struct planner *p, size_t s, bool suffixed)
{
    struct og_migrate_source *src = &p->plan->sources[s];
    struct og_buf name;
    enum og_err rc;
    size_t base;

    og_buf_init(&name, 512);
    rc = og_buf_append_cstr(&name, src->chart);
    for (size_t i = 0; rc == OG_OK && i < name.len; i++) {
        if (name.ptr[i] == '_')
            name.ptr[i] = '-';
    }
    if (rc == OG_OK && suffixed)
        rc = og_buf_append(&name, "-", 1);
    if (rc == OG_OK && suffixed)
        rc = suffix_of(src->ref, &name);
    base = name.len;
    for (unsigned k = 2; rc == OG_OK && name_taken(p, s, src->ns, name.ptr); k++) {
        name.len = base;
        rc = og_buf_appendf(&name, "-%u", k);
    }
    if (rc == OG_OK) {
        src->name = og_buf_take(&name, NULL);
        if (src->name == NULL)
            rc = OG_ENOMEM;
    }
    og_buf_cleanup(&name);
    return rc;
}

static enum og_err make_sources(struct planner *p, const size_t *order, size_t placed)
{
    struct og_migrate_plan *plan = p->plan;
    struct cand **idx = malloc((placed + 1) * sizeof(*idx));
    enum og_err rc = OG_OK;

    if (idx == NULL)
        return OG_ENOMEM;
    for (size_t i = 0; i < placed; i++)
        idx[i] = &p->cands[order[i]];
    if (placed > 1)
        qsort(idx, placed, sizeof(*idx), cmp_variant_ptr);
    plan->sources = calloc(placed + 1, sizeof(*plan->sources));
    if (plan->sources == NULL) {
        free(idx);
        return OG_ENOMEM;
    }
    for (size_t i = 0; rc == OG_OK && i < placed; i++) {
        struct cand *c = idx[i];
        struct og_migrate_source *s;
        const struct repo_in *r = &p->repos[c->repo_in];
        const char *base;
        size_t blen;

        if (i > 0 && cmp_variant(idx[i - 1], c) == 0) {
            c->variant = plan->n_sources - 1;
            continue;
        }
        s = &plan->sources[plan->n_sources];
        s->ns = r->at.ns;
        s->repo = r->affected;
        s->tag = c->tag;
        s->batch = SIZE_MAX;
        s->chart = strdup(c->chart);
        s->ref = strdup(c->ref);
        base = plan->repos[r->affected].oci_base;
        blen = strlen(base);
        while (blen > 0 && base[blen - 1] == '/')
            blen--;
        s->url = malloc(blen + strlen(c->chart) + 2);
        c->variant = plan->n_sources++;
        if (s->chart == NULL || s->ref == NULL || s->url == NULL) {
            rc = OG_ENOMEM;
            break;
        }
        memcpy(s->url, base, blen);
        s->url[blen] = '/';
        memcpy(s->url + blen + 1, c->chart, strlen(c->chart) + 1);
    }
    /* Names: a chart alone in its namespace keeps its name; several get the range. */
    for (size_t i = 0; rc == OG_OK && i < plan->n_sources; i++) {
        size_t j = i;

        while (j < plan->n_sources && strcmp(plan->sources[j].ns, plan->sources[i].ns) == 0 &&
               strcmp(plan->sources[j].chart, plan->sources[i].chart) == 0)
            j++;
        for (size_t k = i; rc == OG_OK && k < j; k++)
            rc = name_source(p, k, j - i > 1);
        i = j - 1;
    }
    free(idx);
    return rc;
}

/* ---- the objects ---- */

static bool add_str(cJSON *obj, const char *key, const char *value)
{
    return cJSON_AddStringToObject(obj, key, value) != NULL;
}

/* Adds an exact copy of `node` under `key`, when `node` is there. */
static bool add_copy(cJSON *obj, const char *key, const struct og_manifest_node *node)
{
    cJSON *j = NULL;

    if (node == NULL)
        return true;
    if (og__manifest_to_json_exact(node, &j) != OG_OK)
        return false;
    if (!cJSON_AddItemToObject(obj, key, j)) {
        cJSON_Delete(j);
        return false;
    }
    return true;
}

static enum og_err build_source(struct planner *p, size_t s, const struct cand *c)
{
    struct og_migrate_source *src = &p->plan->sources[s];
    const struct og_manifest_node *rspec =
        og_manifest_get(p->repos[c->repo_in].root, og_str_of("spec"));
    const char *interval = string_at(rspec, "interval");
    const char *provider = string_at(rspec, "provider");
    const char *timeout = string_at(rspec, "timeout");
    const struct og_manifest_node *secret = og_manifest_get(rspec, og_str_of("secretRef"));
    const struct og_manifest_node *cert = og_manifest_get(rspec, og_str_of("certSecretRef"));
    cJSON *o = cJSON_CreateObject(), *meta, *spec, *ref, *layer;
    bool ok;

    src->object = o;
    ok = o != NULL && add_str(o, "apiVersion", "source.toolkit.fluxcd.io/v1") &&
         add_str(o, "kind", "OCIRepository");
    meta = ok ? cJSON_AddObjectToObject(o, "metadata") : NULL;
    ok = meta != NULL && add_str(meta, "name", src->name) &&
         (src->ns[0] == '\0' || add_str(meta, "namespace", src->ns));
    spec = ok ? cJSON_AddObjectToObject(o, "spec") : NULL;
    ok = spec != NULL && add_str(spec, "interval", interval != NULL ? interval : "1h") &&
         add_str(spec, "url", src->url);
    ref = ok ? cJSON_AddObjectToObject(spec, "ref") : NULL;
    ok = ref != NULL && add_str(ref, src->tag ? "tag" : "semver", src->ref);
    layer = ok ? cJSON_AddObjectToObject(spec, "layerSelector") : NULL;
    ok = layer != NULL && add_str(layer, "mediaType", OG_HELM_CHART_MEDIA_TYPE) &&
         add_str(layer, "operation", "copy");
    ok = ok && (provider == NULL || add_str(spec, "provider", provider));
    ok = ok && (secret == NULL || secret->type != OG_MANIFEST_MAPPING ||
                add_copy(spec, "secretRef", secret));
    ok = ok && (cert == NULL || cert->type != OG_MANIFEST_MAPPING ||
                add_copy(spec, "certSecretRef", cert));
    ok = ok && (timeout == NULL || add_str(spec, "timeout", timeout));
    ok = ok && (c->verify == NULL || add_copy(spec, "verify", c->verify));
    return ok ? OG_OK : OG_ENOMEM;
}

static bool server_field(const char *key)
{
    static const char *const set_by_server[] = {"uid",
                                                "resourceVersion",
                                                "generation",
                                                "creationTimestamp",
                                                "selfLink",
                                                "deletionTimestamp",
                                                "deletionGracePeriodSeconds",
                                                "managedFields"};

    for (size_t i = 0; i < sizeof(set_by_server) / sizeof(set_by_server[0]); i++) {
        if (strcmp(key, set_by_server[i]) == 0)
            return true;
    }
    return false;
}

/* Drops what the server sets from a copied metadata: a manifest to apply has none of it. */
static void strip_metadata(cJSON *meta)
{
    cJSON *item = meta != NULL ? meta->child : NULL, *annotations;

    while (item != NULL) {
        cJSON *next = item->next;

        if (item->string != NULL && server_field(item->string))
            cJSON_Delete(cJSON_DetachItemViaPointer(meta, item));
        item = next;
    }
    annotations = cJSON_GetObjectItemCaseSensitive(meta, "annotations");
    if (cJSON_IsObject(annotations)) {
        cJSON_DeleteItemFromObjectCaseSensitive(annotations,
                                                "kubectl.kubernetes.io/last-applied-configuration");
        if (annotations->child == NULL)
            cJSON_DeleteItemFromObjectCaseSensitive(meta, "annotations");
    }
}

/* A patch as the JSON text a v2 `patches` entry holds. */
static cJSON *patch_entry(cJSON *target, const cJSON *patch)
{
    cJSON *e = cJSON_CreateObject();
    char *text = cJSON_PrintUnformatted(patch);
    bool ok = e != NULL && text != NULL && add_str(e, "patch", text);

    if (ok && target != NULL) {
        ok = cJSON_AddItemToObject(e, "target", target);
        if (ok)
            target = NULL;
    }
    cJSON_Delete(target);
    cJSON_free(text);
    if (!ok) {
        cJSON_Delete(e);
        return NULL;
    }
    return e;
}

/*
 * postRenderers[].kustomize: patchesStrategicMerge and patchesJson6902 (v2beta1/v2beta2, gone
 * from v2) become `patches` entries. Sets `*converted` when one did.
 */
static enum og_err convert_post_renderers(cJSON *renderers, bool *converted)
{
    cJSON *pr;

    cJSON_ArrayForEach(pr, renderers)
    {
        cJSON *k = cJSON_GetObjectItemCaseSensitive(pr, "kustomize");
        cJSON *smp = cJSON_DetachItemFromObjectCaseSensitive(k, "patchesStrategicMerge");
        cJSON *j6902 = cJSON_DetachItemFromObjectCaseSensitive(k, "patchesJson6902");
        cJSON *patches, *item;
        bool ok = true;

        if (smp == NULL && j6902 == NULL)
            continue;
        *converted = true;
        patches = cJSON_GetObjectItemCaseSensitive(k, "patches");
        if (!cJSON_IsArray(patches)) {
            cJSON_DeleteItemFromObjectCaseSensitive(k, "patches");
            patches = cJSON_AddArrayToObject(k, "patches");
        }
        ok = patches != NULL;
        cJSON_ArrayForEach(item, smp)
        {
            cJSON *e = ok ? patch_entry(NULL, item) : NULL;

            ok = e != NULL && cJSON_AddItemToArray(patches, e);
            if (!ok)
                cJSON_Delete(e);
        }
        cJSON_ArrayForEach(item, j6902)
        {
            cJSON *target = cJSON_DetachItemFromObjectCaseSensitive(item, "target");
            const cJSON *patch = cJSON_GetObjectItemCaseSensitive(item, "patch");
            cJSON *e = ok ? patch_entry(target, patch != NULL ? patch : item) : NULL;

            if (!ok)
                cJSON_Delete(target);
            ok = e != NULL && cJSON_AddItemToArray(patches, e);
            if (!ok)
                cJSON_Delete(e);
        }
        cJSON_Delete(smp);
        cJSON_Delete(j6902);
        if (!ok)
            return OG_ENOMEM;
    }
    return OG_OK;
}

static enum og_err release_notes(struct planner *p, const struct cand *c)
{
    static const char *const dropped[] = {"interval", "reconcileStrategy",
                                          "ignoreMissingValuesFiles"};
    const struct og_manifest_node *chart = og_manifest_path(c->root, "spec.chart");
    const struct og_manifest_node *cs = og_manifest_get(chart, og_str_of("spec"));
    enum og_err rc = OG_OK;

    for (size_t i = 0; rc == OG_OK && i < sizeof(dropped) / sizeof(dropped[0]); i++) {
        if (og_manifest_get(cs, og_str_of(dropped[i])) != NULL)
            rc = add_issue(p, &c->at, c->input, true,
                           "spec.chart.spec.%s dropped: chartRef has no such field", dropped[i]);
    }
    if (rc == OG_OK && og_manifest_get(chart, og_str_of("metadata")) != NULL)
        rc = add_issue(p, &c->at, c->input, true,
                       "spec.chart.metadata dropped: chartRef creates no HelmChart to label");
    if (rc == OG_OK && nonempty_seq(og_manifest_path(c->root, "spec.valuesFrom")))
        rc = add_issue(p, &c->at, c->input, true,
                       "valuesFrom kept as is: its ConfigMaps and Secrets stay where they are");
    return rc;
}

static enum og_err build_release(struct planner *p, struct og_migrate_release *rel,
                                 const struct cand *c)
{
    const struct og_migrate_source *src = &p->plan->sources[c->variant];
    cJSON *whole = NULL, *o = NULL, *item, *spec, *newspec = NULL, *chartref;
    bool ok, converted = false;
    enum og_err rc;

    rc = og__manifest_to_json_exact(c->root, &whole);
    if (rc != OG_OK)
        return rc;
    o = cJSON_CreateObject();
    ok = o != NULL && add_str(o, "apiVersion", "helm.toolkit.fluxcd.io/v2") &&
         add_str(o, "kind", "HelmRelease");
    item = cJSON_DetachItemFromObjectCaseSensitive(whole, "metadata");
    strip_metadata(item);
    if (item != NULL && !(ok && cJSON_AddItemToObject(o, "metadata", item))) {
        cJSON_Delete(item);
        ok = false;
    }
    spec = cJSON_GetObjectItemCaseSensitive(whole, "spec");
    newspec = ok ? cJSON_AddObjectToObject(o, "spec") : NULL;
    ok = newspec != NULL;
    /* Every field where it stood; chart becomes chartRef in its place. */
    item = spec != NULL ? spec->child : NULL;
    while (ok && item != NULL) {
        cJSON *next = item->next;

        if (strcmp(item->string, "chart") == 0) {
            chartref = cJSON_AddObjectToObject(newspec, "chartRef");
            ok = chartref != NULL && add_str(chartref, "kind", "OCIRepository") &&
                 add_str(chartref, "name", src->name) &&
                 (strcmp(src->ns, c->at.ns) == 0 || src->ns[0] == '\0' ||
                  add_str(chartref, "namespace", src->ns));
        } else {
            const char *key = item->string;

            item = cJSON_DetachItemViaPointer(spec, item);
            if (strcmp(key, "postRenderers") == 0 &&
                convert_post_renderers(item, &converted) != OG_OK)
                ok = false;
            /* cJSON copies the key before it frees the detached item's own. */
            ok = ok && cJSON_AddItemToObject(newspec, item->string, item);
            if (!ok)
                cJSON_Delete(item);
        }
        item = next;
    }
    cJSON_Delete(whole);
    if (!ok) {
        cJSON_Delete(o);
        return OG_ENOMEM;
    }
    rel->object = o;
    if (converted)
        rc = add_issue(p, &c->at, c->input, true,
                       "postRenderers: patchesStrategicMerge and patchesJson6902 converted to "
                       "patches (v2 has no other form)");
    if (rc == OG_OK)
        rc = release_notes(p, c);
    return rc;
}

static enum og_err repo_notes(struct planner *p)
{
    enum og_err rc = OG_OK;

    for (size_t i = 0; rc == OG_OK && i < p->n_repos; i++) {
        const struct repo_in *r = &p->repos[i];
        const struct og_manifest_node *spec = og_manifest_get(r->root, og_str_of("spec"));
        static const char *const not_carried[] = {"insecure", "suspend", "accessFrom"};

        if (!r->used)
            continue;
        if (og_manifest_get(spec, og_str_of("secretRef")) != NULL)
            rc = add_issue(p, &r->at, r->input, true,
                           "spec.secretRef carried over: an OCIRepository reads a "
                           "kubernetes.io/dockerconfigjson secret");
        for (size_t k = 0; rc == OG_OK && k < sizeof(not_carried) / sizeof(not_carried[0]); k++) {
            if (og_manifest_get(spec, og_str_of(not_carried[k])) != NULL)
                rc = add_issue(p, &r->at, r->input, true,
                               "spec.%s not carried over to the OCIRepositories", not_carried[k]);
        }
    }
    return rc;
}

/* ---- the plan ---- */

static int cmp_issue(const void *a, const void *b)
{
    const struct issue_tmp *x = a, *y = b;

    if (x->input != y->input)
        return x->input < y->input ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_source_ptr(const void *x, const void *y)
{
    const struct og_migrate_source *a = *(struct og_migrate_source *const *)x;
    const struct og_migrate_source *b = *(struct og_migrate_source *const *)y;

    if (a->batch != b->batch)
        return a->batch < b->batch ? -1 : 1;
    /* Names are unique in a namespace: the order is total. */
    return cmp_names(a->ns, a->name, b->ns, b->name);
}

/* Sources in batch order, then by namespace and name; `remap` gets old -> new. */
static enum og_err order_sources(struct og_migrate_plan *plan, size_t *remap)
{
    struct og_migrate_source *sorted = calloc(plan->n_sources + 1, sizeof(*sorted));
    struct og_migrate_source **idx = calloc(plan->n_sources + 1, sizeof(*idx));

    if (sorted == NULL || idx == NULL) {
        free(sorted);
        free(idx);
        return OG_ENOMEM;
    }
    for (size_t i = 0; i < plan->n_sources; i++)
        idx[i] = &plan->sources[i];
    if (plan->n_sources > 1)
        qsort(idx, plan->n_sources, sizeof(*idx), cmp_source_ptr);
    for (size_t i = 0; i < plan->n_sources; i++) {
        sorted[i] = *idx[i];
        remap[idx[i] - plan->sources] = i;
    }
    free(plan->sources);
    plan->sources = sorted;
    free(idx);
    return OG_OK;
}

void og_migrate_plan_cleanup(struct og_migrate_plan *plan)
{
    for (size_t i = 0; i < plan->n_repos; i++)
        free(plan->repos[i].oci_base);
    free(plan->repos);
    for (size_t i = 0; i < plan->n_sources; i++) {
        free(plan->sources[i].name);
        free(plan->sources[i].chart);
        free(plan->sources[i].url);
        free(plan->sources[i].ref);
        cJSON_Delete(plan->sources[i].object);
    }
    free(plan->sources);
    for (size_t i = 0; i < plan->n_releases; i++)
        cJSON_Delete(plan->releases[i].object);
    free(plan->releases);
    free(plan->batches);
    for (size_t i = 0; i < plan->n_issues; i++)
        free(plan->issues[i].text);
    free(plan->issues);
    memset(plan, 0, sizeof(*plan));
}

static enum og_err place(struct planner *p, const size_t *order, size_t placed)
{
    struct og_migrate_plan *plan = p->plan;
    size_t *remap = NULL;
    enum og_err rc;

    rc = make_sources(p, order, placed);
    if (rc != OG_OK)
        return rc;
    plan->releases = calloc(placed + 1, sizeof(*plan->releases));
    plan->n_batches = (placed + p->batch_size - 1) / p->batch_size;
    plan->batches = calloc(plan->n_batches + 1, sizeof(*plan->batches));
    remap = calloc(plan->n_sources + 1, sizeof(size_t));
    if (plan->releases == NULL || plan->batches == NULL || remap == NULL) {
        rc = OG_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < placed; i++) {
        const struct cand *c = &p->cands[order[i]];
        struct og_migrate_source *s = &plan->sources[c->variant];
        size_t b = i / p->batch_size;

        if (s->batch == SIZE_MAX) {
            s->batch = b;
            /* Built from its first release: the verify settings are the same for all. */
            rc = build_source(p, c->variant, c);
            if (rc != OG_OK)
                goto out;
        }
        s->n_releases++;
        plan->repos[s->repo].n_releases++;
        p->repos[c->repo_in].used = true;
        if (plan->batches[b].n_releases == 0)
            plan->batches[b].first_release = i;
        plan->batches[b].n_releases++;
    }
    rc = order_sources(plan, remap);
    for (size_t i = 0; rc == OG_OK && i < placed; i++) {
        struct cand *c = &p->cands[order[i]];
        struct og_migrate_release *rel = &plan->releases[i];

        c->variant = remap[c->variant];
        rel->at = c->at;
        rel->repo = p->repos[c->repo_in].affected;
        rel->source = c->variant;
        rel->batch = i / p->batch_size;
        plan->n_releases++;
        rc = build_release(p, rel, c);
    }
    for (size_t i = 0; rc == OG_OK && i < plan->n_sources; i++) {
        struct og_migrate_batch *b = &plan->batches[plan->sources[i].batch];

        if (b->n_sources == 0)
            b->first_source = i;
        b->n_sources++;
    }
out:
    free(remap);
    return rc;
}

enum og_err og_migrate_plan_build(const struct og_config *cfg, const struct og_migrate_input *in,
                                  size_t n, size_t batch_size, struct og_migrate_plan *plan)
{
    struct planner p;
    size_t *order = NULL, placed = 0;
    enum og_err rc = OG_OK;

    memset(plan, 0, sizeof(*plan));
    memset(&p, 0, sizeof(p));
    p.cfg = cfg;
    p.in = in;
    p.n_in = n;
    p.batch_size = batch_size > 0 ? batch_size : OG_MIGRATE_BATCH_SIZE;
    p.plan = plan;
    /* The sources first: a release may come before its HelmRepository in the inputs. */
    for (size_t i = 0; rc == OG_OK && i < n; i++) {
        const struct og_manifest_object *o = in[i].obj;

        if (is_kind(o, "source.toolkit.fluxcd.io", "HelmRepository")) {
            rc = read_repo(&p, i);
        } else if (is_kind(o, "source.toolkit.fluxcd.io", "OCIRepository")) {
            const struct og_migrate_input **more = og_array_grow(
                p.ocirepos, &p.cap_ocirepos, p.n_ocirepos, sizeof(*more), 16, SIZE_MAX);

            if (more == NULL)
                rc = OG_ENOMEM;
            else
                (p.ocirepos = more)[p.n_ocirepos++] = &in[i];
        }
    }
    for (size_t i = 0; rc == OG_OK && i < n; i++) {
        const struct og_manifest_object *o = in[i].obj;

        if (is_kind(o, "helm.toolkit.fluxcd.io", "HelmRelease") &&
            (og_str_eq_lit(o->version, "v2") || og_str_eq_lit(o->version, "v2beta2") ||
             og_str_eq_lit(o->version, "v2beta1")))
            rc = read_release(&p, i);
    }
    if (rc != OG_OK)
        goto out;
    /* Candidates by (namespace, name): the rank that breaks ties, and the dependsOn lookup. */
    if (p.n_cands > 1)
        qsort(p.cands, p.n_cands, sizeof(*p.cands), cmp_cand);
    rc = drop_duplicates(&p);
    order = rc == OG_OK ? calloc(p.n_cands + 1, sizeof(size_t)) : NULL;
    if (rc == OG_OK)
        rc = order == NULL ? OG_ENOMEM : read_deps(&p);
    if (rc == OG_OK)
        rc = topo_order(&p, order, &placed);
    if (rc == OG_OK && placed < p.n_cands)
        rc = report_cycles(&p);
    if (rc == OG_OK)
        rc = place(&p, order, placed);
    if (rc == OG_OK)
        rc = repo_notes(&p);
    if (rc != OG_OK)
        goto out;
    if (p.n_issues > 1)
        qsort(p.issues, p.n_issues, sizeof(*p.issues), cmp_issue);
    plan->issues = calloc(p.n_issues + 1, sizeof(*plan->issues));
    if (plan->issues == NULL) {
        rc = OG_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < p.n_issues; i++) {
        plan->issues[i] = p.issues[i].is;
        plan->n_not_migrated += !p.issues[i].is.migrated;
        p.issues[i].is.text = NULL;
    }
    plan->n_issues = p.n_issues;
out:
    for (size_t i = 0; i < p.n_repos; i++)
        free(p.repos[i].problem);
    free(p.repos);
    for (size_t i = 0; i < p.n_cands; i++) {
        free(p.cands[i].ref);
        free(p.cands[i].verify_key);
        free(p.cands[i].deps);
    }
    free(p.cands);
    for (size_t i = 0; i < p.n_issues; i++)
        free(p.issues[i].is.text);
    free(p.issues);
    free(p.ocirepos);
    free(order);
    if (rc != OG_OK)
        og_migrate_plan_cleanup(plan);
    return rc;
}

enum og_err og_migrate_format_batch(const struct og_migrate_plan *plan, size_t batch, unsigned what,
                                    struct og_buf *out)
{
    const struct og_migrate_batch *b;
    enum og_err rc = OG_OK;

    if (batch >= plan->n_batches)
        return OG_EINVAL;
    b = &plan->batches[batch];
    for (size_t i = 0; rc == OG_OK && (what & OG_MIGRATE_SOURCES) && i < b->n_sources; i++)
        rc = og__yaml_emit_document(plan->sources[b->first_source + i].object, out);
    for (size_t i = 0; rc == OG_OK && (what & OG_MIGRATE_RELEASES) && i < b->n_releases; i++)
        rc = og__yaml_emit_document(plan->releases[b->first_release + i].object, out);
    return rc;
}
