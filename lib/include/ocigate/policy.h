/*
 * policy.h - the policy engine: one AdmissionReview and one configuration snapshot in, one
 * decision out. Pure: no I/O, no globals, deterministic (same inputs, same bytes out), so the
 * webhook and the CLI gate run the very same rules.
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
 */
#ifndef OG_POLICY_H
#define OG_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ocigate/config.h"
#include "ocigate/err.h"
#include "ocigate/helm_index.h"
#include "ocigate/review.h"

/** Which rule decided. */
enum og_rule {
    OG_RULE_NONE,
    OG_RULE_OCI_URL_HTTP_TYPE,
    OG_RULE_KNOWN_MIGRATION,
    OG_RULE_OCI_TYPE_HTTP_URL,
    OG_RULE_INDEX_OCI,
    OG_RULE_INDEX_PENDING,
    OG_RULE_INDEX_UNKNOWN
};

/** The rule's stable name ("known-migration", ...); "none" for OG_RULE_NONE. */
const char *og_rule_name(enum og_rule rule);

/** Which endpoint asks: /mutate may patch, /validate never does. */
enum og_endpoint { OG_ENDPOINT_MUTATE, OG_ENDPOINT_VALIDATE };

/** An audit annotation (key without '/', at most 63 characters). */
struct og_annotation {
    char *key;
    char *value;
};

/**
 * The answer for one admission. Owns every string; release with og_decision_cleanup().
 * Only the policy engine fills it in; callers read it.
 */
struct og_decision {
    bool allowed;
    int32_t code;      /**< HTTP-style status code of a denial (403), 0 when allowed */
    char *reason;      /**< status.reason of a denial ("Forbidden"), or NULL */
    char *message;     /**< status.message of a denial, or NULL */
    enum og_rule rule; /**< the rule that decided, OG_RULE_NONE when nothing applied */
    enum og_mode mode; /**< the effective mode */
    char **warnings;   /**< one line each, <= 120 characters, no control characters */
    size_t n_warnings;
    struct og_annotation *annotations;
    size_t n_annotations;
    char *patch; /**< RFC 6902 patch text, or NULL */
    size_t patch_len;
    size_t patch_ops;    /**< operations in `patch` */
    char *suggested_url; /**< the OCI url ocigate recommends, or NULL */
};

/** Frees what `d` owns and zeroes it. */
void og_decision_cleanup(struct og_decision *d);

/**
 * Tells whether live index analysis is needed for `rv`: when it is an in-scope
 * HelmRepository with an http(s) url that no static rule decides, `*url` gets a new
 * normalized url (scheme and host in lower case, no trailing '/'; the index is at
 * `<url>/index.yaml`) that the caller frees; otherwise `*url` is set to NULL.
 * OG_ENOMEM on allocation failure.
 */
OG_NODISCARD enum og_err og_policy_index_target(const struct og_config *cfg,
                                                const struct og_review *rv, char **url);

/**
 * Decides `rv` under `cfg`, for endpoint `ep`, with the index verdict for the url that
 * og_policy_index_target() named (NULL when there is none). Fills `*out` (zeroed first).
 * OG_ENOMEM leaves `*out` zeroed.
 */
OG_NODISCARD enum og_err og_policy_eval(const struct og_config *cfg, const struct og_review *rv,
                                        enum og_endpoint ep, const struct og_index_verdict *verdict,
                                        struct og_decision *out);

#endif
