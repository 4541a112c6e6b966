/*
 * migrate.h - the batch migration planner of `ocigate migrate`: from the Kubernetes objects of
 * a set of manifests to OCIRepositories, HelmReleases that use them through spec.chartRef,
 * and batches that respect spec.dependsOn. Pure: objects and a configuration in, a plan out;
 * no I/O, no globals, deterministic (the same inputs in the same order give the same plan).
 *
 * What is migrated. A HelmRelease (helm.toolkit.fluxcd.io v2, v2beta2 or v2beta1) whose
 * spec.chart.spec.sourceRef names a HelmRepository (namespace: the release's when not given)
 * that is among the inputs and that the policy finds affected: og_policy_eval() gives it a
 * rule and a suggested OCI url (the static rules and the known-migrations table; no index
 * analysis). Releases with another source kind, with spec.chartRef already, or being deleted
 * are not candidates and are passed over silently.
 *
 * For each migrated release:
 * - an OCIRepository (source.toolkit.fluxcd.io/v1) in the HelmRepository's namespace (its
 *   secrets live there): url `<oci base>/<chart>`; ref.tag for an exact version
 *   (MAJOR.MINOR.PATCH[-pre][+build], '+' written '_' as Helm tags it), else ref.semver with
 *   the version as written, "*" without one; layerSelector copying the Helm chart layer;
 *   interval (else "1h"), secretRef, certSecretRef, provider and timeout from the
 *   HelmRepository; spec.chart.spec.verify as spec.verify. Not carried: passCredentials (no
 *   meaning for OCI), insecure, suspend and accessFrom (a note says so when set).
 *   One OCIRepository serves every release of the same HelmRepository, chart, version range
 *   and verify settings. Its name is the chart's (with '_' as '-'). When one namespace needs
 *   several OCIRepositories for one chart (other ranges, repositories or verify settings),
 *   each is named `<chart>-<range>` (the range in lower case, every run of other characters
 *   as one '-', "latest" for "*"), and a name still taken (by another of them, or by an
 *   OCIRepository among the inputs) gets "-2", "-3", ... in the order of (repository name,
 *   range, verify).
 * - the release as helm.toolkit.fluxcd.io/v2: spec.chart replaced, where it stood, by
 *   spec.chartRef {kind: OCIRepository, name, namespace when not the release's}; every other
 *   field kept, numbers as written; metadata without the fields the server sets (uid,
 *   resourceVersion, generation, creationTimestamp, managedFields, selfLink, deletion*, the
 *   last-applied annotation); status dropped. Fields v2 removed: postRenderers[].kustomize
 *   patchesStrategicMerge and patchesJson6902 become `patches` entries (the patch as JSON
 *   text, the target kept). spec.chart.spec.interval, reconcileStrategy,
 *   ignoreMissingValuesFiles and spec.chart.metadata have no place with chartRef: dropped,
 *   with a note.
 *
 * What is not migrated, each with its reason (og_migrate_issue, `migrated` false): the
 * HelmRepository is not among the inputs, or not affected, or has no known OCI registry; the
 * chart name cannot be an OCI repository name ([a-z0-9]+ separated by '.', '_', '__' or
 * '-'); the version is not a string; values files (spec.chart.spec.valuesFiles/valuesFile:
 * chartRef takes the chart's own values only); a second HelmRelease of the same namespace and
 * name (the first counts); spec.chart and spec.chartRef both set; a release in a dependsOn cycle,
 * or depending on one. A second HelmRepository of the same namespace and name is reported too
 * (releases use the first).
 *
 * Batches. Releases are ordered by dependsOn (namespace: the release's when not given; only
 * dependencies that are migrated too count), ties broken by namespace then name, and cut into
 * batches of `batch_size`: a release is never in an earlier batch than one it depends on. An
 * OCIRepository goes into the first batch that uses it.
 */
#ifndef OG_MIGRATE_H
#define OG_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

#include "ocigate/buf.h"
#include "ocigate/config.h"
#include "ocigate/err.h"
#include "ocigate/manifest.h"
#include "ocigate/policy.h"

struct cJSON;

/** Default releases per batch. */
#define OG_MIGRATE_BATCH_SIZE 10u

/** One object of the inputs, with the display name of its file. Lent by the caller. */
struct og_migrate_input {
    const struct og_manifest_object *obj;
    const char *file;
};

/** Where an input object is, and what it is called: lent by the inputs. */
struct og_migrate_where {
    const char *file;
    unsigned line, column; /**< the object's mapping */
    const char *kind;
    const char *ns;   /**< metadata.namespace, "" when absent */
    const char *name; /**< metadata.name, "" when absent */
};

/** An affected HelmRepository. */
struct og_migrate_repo {
    struct og_migrate_where at;
    enum og_rule rule; /**< the policy's rule */
    char *oci_base;    /**< the OCI url the policy suggests; owned by the plan */
    size_t n_releases; /**< releases migrated from it */
};

/** An OCIRepository to create. Strings owned by the plan, `ns` lent by the inputs. */
struct og_migrate_source {
    char *name;
    const char *ns; /**< the HelmRepository's namespace ("" when it has none) */
    char *chart;
    char *url;
    bool tag;          /**< ref.tag (an exact version), else ref.semver */
    char *ref;         /**< the tag or the semver range */
    size_t repo;       /**< index in og_migrate_plan.repos */
    size_t batch;      /**< 0-based batch that creates it */
    size_t n_releases; /**< releases using it */
    struct cJSON *object;
};

/** A migrated HelmRelease. */
struct og_migrate_release {
    struct og_migrate_where at;
    size_t repo;   /**< index in og_migrate_plan.repos */
    size_t source; /**< index in og_migrate_plan.sources */
    size_t batch;  /**< 0-based */
    struct cJSON *object;
};

/**
 * What could not be migrated and why (`migrated` false), or a note on what was migrated
 * (true: a field dropped or converted, valuesFrom kept, a secret to check).
 */
struct og_migrate_issue {
    struct og_migrate_where at;
    bool migrated;
    char *text; /**< one line; owned by the plan */
};

/** A batch: ranges of og_migrate_plan.releases and .sources. */
struct og_migrate_batch {
    size_t first_release, n_releases;
    size_t first_source, n_sources;
};

/**
 * The plan. Filled by og_migrate_plan_build() only; callers read it. The `at` strings and
 * source namespaces are lent by the inputs (their readers must outlive the plan); everything
 * else is owned and freed by og_migrate_plan_cleanup(). Releases and sources are in batch
 * order; issues in input order.
 */
struct og_migrate_plan {
    struct og_migrate_repo *repos; /**< in input order */
    size_t n_repos;
    struct og_migrate_source *sources;
    size_t n_sources;
    struct og_migrate_release *releases;
    size_t n_releases;
    struct og_migrate_batch *batches;
    size_t n_batches;
    struct og_migrate_issue *issues;
    size_t n_issues;
    size_t n_not_migrated; /**< issues with `migrated` false */
};

/**
 * Plans the migration of the `n` objects `in` (every object of every input, in input order)
 * under `cfg` into `*plan` (zeroed first), with `batch_size` releases per batch (0: the
 * default). OG_ENOMEM leaves `*plan` zeroed. Thread-safe for distinct plans.
 */
OG_NODISCARD enum og_err og_migrate_plan_build(const struct og_config *cfg,
                                               const struct og_migrate_input *in, size_t n,
                                               size_t batch_size, struct og_migrate_plan *plan);

/** Frees what `plan` owns and zeroes it. */
void og_migrate_plan_cleanup(struct og_migrate_plan *plan);

/** What og_migrate_format_batch() writes. */
enum og_migrate_objects {
    OG_MIGRATE_SOURCES = 1,  /**< the batch's OCIRepositories */
    OG_MIGRATE_RELEASES = 2, /**< its HelmReleases */
};

/**
 * Appends the objects of batch `batch` that `what` (OG_MIGRATE_* or'ed) names to `out` as
 * YAML documents (each starting with "---"), OCIRepositories first, through libyaml's
 * emitter. OG_EINVAL for a batch out of range; OG_ENOMEM, OG_ETOOBIG past `out`'s cap.
 */
OG_NODISCARD enum og_err og_migrate_format_batch(const struct og_migrate_plan *plan, size_t batch,
                                                 unsigned what, struct og_buf *out);

#endif
