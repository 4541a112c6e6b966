/*
 * policy.h - the policy engine: one object (a HelmRepository as the apiserver or a manifest
 * gives it), its admission context and one configuration snapshot in, one decision out.
 * Pure: no I/O, no globals, deterministic (same inputs, same bytes out), so the webhook and
 * the CLI gate run the very same rules. The webhook fills the input from an AdmissionReview
 * (og_review_policy_input() in review.h); a manifest reader fills the same two structs.
 *
 * Rules, for source.toolkit.fluxcd.io HelmRepository (v1, v1beta2, v1beta1) on CREATE and
 * UPDATE (DELETE and CONNECT are always allowed untouched):
 *   oci-url-http-type    url oci://... with spec.type missing or "default": needs type: oci
 *   known-migration      url in the known-migrations table: url -> OCI base and type: oci
 *   oci-type-http-url    type: oci with an http(s) url not in the table: invalid, not fixable
 *   index-points-to-oci  the live index analysis verdict says the index serves oci:// charts
 *   index-pending / index-unknown  no verdict within the budget / the analysis failed:
 *                        allowed with a warning, or denied in enforce mode when on_unknown
 *                        is deny
 *   index-mixed          the verdict is `mixed` (some charts moved to oci://, others still
 *                        released over http(s)): allowed in every mode with warnings naming
 *                        the moved charts and the per-chart OCIRepository fix, never patched;
 *                        with index.onMixed: moved it counts as index-points-to-oci instead
 * Ratchet (as Kubernetes ratchets CRD validation, KEP-4008): an UPDATE that leaves spec.url
 * and spec.type as they were is never denied when `ratchet` is on for its namespace; it gets
 * audit mode's warnings instead (og_decision.ratchet). CREATE, and an UPDATE that changes
 * either, are judged as above.
 *
 * One admission is one or two steps. og_policy_eval() applies the static rules; when none
 * decides and the index verdict can, it says so (og_decision.index_url) instead of deciding,
 * and the caller, once it has the verdict for that url, completes the same decision with
 * og_policy_eval_index(), which applies only the index rules (the static ones are not
 * searched again). A caller without index analysis uses the first step's decision as it is.
 */
#ifndef OG_POLICY_H
#define OG_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ocigate/config.h"
#include "ocigate/err.h"
#include "ocigate/helm_index.h"

struct cJSON;

/** Which rule decided. */
enum og_rule {
    OG_RULE_NONE,
    OG_RULE_OCI_URL_HTTP_TYPE,
    OG_RULE_KNOWN_MIGRATION,
    OG_RULE_OCI_TYPE_HTTP_URL,
    OG_RULE_INDEX_OCI,
    OG_RULE_INDEX_PENDING,
    OG_RULE_INDEX_UNKNOWN,
    OG_RULE_INDEX_MIXED
};

/** The rule's stable name ("known-migration", ...); "none" for OG_RULE_NONE. */
const char *og_rule_name(enum og_rule rule);

/** Which endpoint asks: /mutate may patch, /validate never does. */
enum og_endpoint { OG_ENDPOINT_MUTATE, OG_ENDPOINT_VALIDATE };

/** The admission operation. */
enum og_operation { OG_OP_CREATE, OG_OP_UPDATE, OG_OP_DELETE, OG_OP_CONNECT, OG_OP_OTHER };

/**
 * Builds the whole object as a new cJSON tree, which the caller frees with cJSON_Delete().
 * `arg` is og_policy_object.tree_arg. Errors: OG_ENOMEM, or any other code when no tree can
 * be had (the denial message then goes without its YAML).
 */
typedef enum og_err (*og_policy_tree_fn)(const void *arg, struct cJSON **out);

/**
 * The object the rules judge, as its producer read it: the AdmissionReview decoder
 * (request.kind and request.object) or a manifest reader (apiVersion, kind and the document).
 * Every pointer is lent by the producer for the duration of the policy calls; strings are
 * NUL-terminated. Members of another JSON/YAML type than the one named count as absent.
 */
struct og_policy_object {
    const char *group;      /**< API group ("source.toolkit.fluxcd.io"), never NULL ("" core) */
    const char *version;    /**< API version ("v1"), never NULL */
    const char *kind;       /**< "HelmRepository", never NULL */
    const char *namespace_; /**< the object's namespace (the mode rules use it), or "" */
    const char *name;       /**< the object's name (used in messages), or "" */
    const char *mode_annotation; /**< metadata.annotations["ocigate.io/mode"], or NULL */
    bool deleting;               /**< metadata.deletionTimestamp is set (finalizers running) */
    bool has_spec;               /**< spec is an object (mapping) */
    const char *url;             /**< spec.url when a string, else NULL */
    const char *type;            /**< spec.type when a string, else NULL */
    bool has_type;               /**< spec holds a "type" member, whatever its value */
    bool has_url;                /**< spec holds a "url" member, whatever its value */
    bool has_pass_credentials;   /**< spec holds a "passCredentials" member */
    bool has_secret_ref;         /**< spec.secretRef is an object (mapping) */
    /**
     * The whole object for the guidance YAML of a denial (metadata and every spec field),
     * lent; or NULL to have it built by `tree_fn`. Only read when a message is built.
     */
    const struct cJSON *tree;
    og_policy_tree_fn tree_fn; /**< builds the tree when `tree` is NULL; NULL: no YAML */
    const void *tree_arg;      /**< passed to `tree_fn` */
};

/**
 * Who asks and how: the parts of an admission request that are not the object. Lent like
 * the object. A manifest check fills it as the user it checks for (op OG_OP_CREATE).
 */
struct og_admission_context {
    enum og_operation op;      /**< the operation; only CREATE and UPDATE are judged */
    const char *username;      /**< the requesting user ("" when unknown), never NULL */
    const char *const *groups; /**< the user's groups (`n_groups` strings) */
    size_t n_groups;
    bool dry_run; /**< the request persists nothing (does not change the decision) */
    /**
     * The object before this UPDATE (request.oldObject), as far as the ratchet compares it:
     * `has_old` false when there is none (CREATE, a manifest check). `old_url` and `old_type`
     * are its spec.url and spec.type when strings, else NULL.
     */
    bool has_old;
    const char *old_url;
    const char *old_type;
};

/**
 * An audit annotation (key without '/', at most 63 characters). Both strings live in the
 * decision's `block`; their lengths are given (the response encoder needs no strlen()).
 */
struct og_annotation {
    char *key;
    char *value;
    size_t key_len;   /**< strlen(key) */
    size_t value_len; /**< strlen(value) */
};

/**
 * The answer for one admission. Owns every string; release with og_decision_cleanup().
 * Only the policy engine fills it in; callers read it.
 */
struct og_decision {
    bool allowed;
    int32_t code;         /**< HTTP-style status code of a denial (403), 0 when allowed */
    char *reason;         /**< status.reason of a denial ("Forbidden"), or NULL */
    char *message;        /**< status.message of a denial, or NULL */
    enum og_rule rule;    /**< the rule that decided, OG_RULE_NONE when nothing applied */
    enum og_mode mode;    /**< the effective mode */
    char **warnings;      /**< one line each, <= 120 characters, no control characters */
    size_t *warning_lens; /**< strlen() of each warning (in `block` too), NULL when none */
    size_t n_warnings;
    struct og_annotation *annotations;
    size_t n_annotations;
    char *patch; /**< RFC 6902 patch text, or NULL */
    size_t patch_len;
    size_t patch_ops;    /**< operations in `patch` */
    char *suggested_url; /**< the OCI url ocigate recommends, or NULL */
    /**
     * What the deciding rule found, in one line without a prefix ("<url> moved its charts
     * to OCI (...)"), or NULL when no rule decided. For front ends that list findings
     * (`ocigate check`); the webhook's texts already hold it.
     */
    char *problem;
    /**
     * Why the mode is `mode`: one of the static OG_MODE_WHY_* strings of
     * og_config_resolve_mode() (not owned), or NULL when the object is out of scope.
     */
    const char *mode_why;
    /**
     * The ratchet holds (set by og_policy_eval(), looked for only in enforce and mutate mode,
     * the ones that deny): an UPDATE that leaves spec.url and spec.type as the old object had
     * them (compared as the rules read them: a missing type is "default", urls equal once
     * normalized) in a namespace where `ratchet` is on. A denial that either step would give
     * is then an allow with the warnings and audit annotations audit mode gives, `decision:
     * ratcheted` and `ratcheted` set. A patch is still a patch.
     */
    bool ratchet;
    bool ratcheted; /**< a denial was turned into an allow by the ratchet */
    /**
     * Set with `index_url` when the ratchet holds in a mode that cannot patch here (enforce,
     * or mutate through /validate): whatever the verdict, the request is allowed and only
     * the warnings differ, so a caller may complete the decision with the verdict it has at
     * hand (a cached one, or PENDING) instead of waiting for a fetch.
     */
    bool index_advisory;
    /**
     * Set (owned) by og_policy_eval() when no static rule decided and the index verdict for
     * this url can: the url normalized (scheme and host in lower case, no trailing '/' on the
     * path, the query as written; the index is at `<url>/index.yaml`), which is also the
     * index cache's key. The decision as it stands (allowed, OG_RULE_NONE) is the answer when
     * no verdict can be had; og_policy_eval_index() completes it with one and leaves the url
     * in place. NULL when the index cannot change the decision (or analysis is disabled).
     */
    char *index_url;
    /**
     * One allocation that holds what the deciding rule wrote: `reason`, `message`, `warnings`
     * and `annotations` (the arrays and their strings), `patch`, `suggested_url` and `problem`
     * point into it, so that an admission allocates once for all of them. Only
     * og_decision_cleanup() frees it; a caller never frees, nor takes, those fields one by one
     * (it copies what it keeps).
     */
    void *block;
};

/** Frees what `d` owns and zeroes it. */
void og_decision_cleanup(struct og_decision *d);

/**
 * The first step: decides `obj` (NULL when the request carries no object, as for a DELETE)
 * in `ctx` under `cfg`, for endpoint `ep`, with the static rules. Fills `*out` (zeroed
 * first); when no static rule decides and live index analysis is enabled for an http(s)
 * url, sets `out->index_url` (see there) for og_policy_eval_index(). Reads `obj->tree` (or
 * calls `obj->tree_fn`) only to build a denial message. OG_ENOMEM leaves `*out` zeroed.
 * Thread-safe for distinct `out`.
 */
OG_NODISCARD enum og_err og_policy_eval(const struct og_config *cfg,
                                        const struct og_policy_object *obj,
                                        const struct og_admission_context *ctx, enum og_endpoint ep,
                                        struct og_decision *out);

/**
 * The second step: completes `d`, a decision that og_policy_eval() gave for the same `cfg`,
 * `obj` and `ep` with `index_url` set, with `verdict`, the index verdict for that url (lent;
 * state PENDING when none came within the budget). Only the index rules run; the static
 * ones were searched by the first step. OG_EINVAL, `d` unchanged, when `d` has no
 * `index_url` or was completed already with a verdict that applied; OG_ENOMEM cleans `d` up
 * (zeroed).
 */
OG_NODISCARD enum og_err og_policy_eval_index(const struct og_config *cfg,
                                              const struct og_policy_object *obj,
                                              enum og_endpoint ep,
                                              const struct og_index_verdict *verdict,
                                              struct og_decision *d);

#endif
