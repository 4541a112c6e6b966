/*
 * review.h - the AdmissionReview codec (admission.k8s.io/v1 and v1beta1).
 *
 * og_review_decode() reads a request body in one pass, without building a tree, into a
 * struct og_review that owns copies of the fields ocigate reads (one allocation);
 * og_review_encode() writes the response the apiserver expects:
 * the request's apiVersion and kind echoed, response.uid = request.uid, the decision, and a
 * base64 JSON patch with patchType "JSONPatch" exactly when there is a patch.
 */
#ifndef OG_REVIEW_H
#define OG_REVIEW_H

#include <stdbool.h>
#include <stddef.h>

#include "ocigate/buf.h"
#include "ocigate/err.h"
#include "ocigate/policy.h"

struct cJSON;

/**
 * What the codec reads of `request.object` for the HelmRepository rules, in the same pass.
 * Strings are NUL-terminated and lent by the review; members of another JSON type than the
 * one named count as absent (the object's schema is the apiserver's business).
 */
struct og_review_object {
    bool present;                /**< request.object is a JSON object */
    struct og_str json;          /**< its JSON text (a copy owned by the review) */
    const char *name;            /**< metadata.name, "" when absent */
    const char *namespace_;      /**< metadata.namespace, "" when absent */
    const char *mode_annotation; /**< metadata.annotations["ocigate.io/mode"], or NULL */
    bool deleting;               /**< metadata.deletionTimestamp is set (finalizers running) */
    bool has_spec;               /**< spec is an object */
    const char *url;             /**< spec.url when a string, else NULL */
    const char *type;            /**< spec.type when a string, else NULL */
    bool has_type;               /**< spec holds a "type" member, whatever its value */
    bool has_url;                /**< spec holds a "url" member, whatever its value */
    bool has_pass_credentials;   /**< spec holds a "passCredentials" member */
    bool has_secret_ref;         /**< spec.secretRef is an object */
};

/**
 * What the codec reads of `request.oldObject` (the object before an UPDATE): only what the
 * ratchet compares (og_admission_context in policy.h). Strings as in og_review_object.
 */
struct og_review_old_object {
    bool present;     /**< request.oldObject is a JSON object */
    const char *url;  /**< spec.url when a string, else NULL */
    const char *type; /**< spec.type when a string, else NULL */
};

/**
 * The fields of `request` that ocigate reads. Every string is NUL-terminated, never NULL
 * ("" when absent), and lent by the struct og_review: valid until og_review_free().
 */
struct og_review_request {
    const char *api_version;   /**< the review's apiVersion, echoed in the response */
    const char *uid;           /**< request.uid, never empty after a successful decode */
    const char *group;         /**< request.kind.group */
    const char *version;       /**< request.kind.version */
    const char *kind;          /**< request.kind.kind */
    const char *name;          /**< request.name */
    const char *namespace_;    /**< request.namespace */
    const char *operation;     /**< request.operation as sent */
    enum og_operation op;      /**< request.operation parsed */
    bool dry_run;              /**< request.dryRun */
    const char *username;      /**< request.userInfo.username */
    const char *const *groups; /**< request.userInfo.groups */
    size_t n_groups;
    struct og_review_object object; /**< request.object (`present` false when absent/null) */
    struct og_review_old_object old_object; /**< request.oldObject (likewise) */
};

/**
 * Longest request.uid accepted, in bytes. The apiserver sends a UUID (36 bytes); the cap
 * keeps the echoed uid from growing the response past its own cap.
 */
#define OG_REVIEW_UID_MAX 256

/** A decoded AdmissionReview. Opaque. */
struct og_review;

/**
 * Parses `len` bytes of JSON (no NUL needed; `body` is not kept) into a new review. The
 * whole body is validated (RFC 8259; nesting at most 1000 deep); unknown fields are
 * tolerated; a member that ocigate reads may not be given twice in its object (decoders
 * disagree on which copy wins, so such a body is refused).
 * The strings the response echoes or that are compared as a whole (apiVersion, kind,
 * request.uid) must come back exactly as the apiserver, which decodes them with Go, sent them:
 * a NUL (which would end the C string), bytes that are not UTF-8 or a lone surrogate escape
 * (which Go decodes to U+FFFD) in one of them is refused, and so is a uid over
 * OG_REVIEW_UID_MAX bytes.
 * Errors: OG_EPARSE for malformed JSON or a body that is not an AdmissionReview (not an
 * object, no `request`, no `request.uid`, a wrong apiVersion/kind, a wrongly typed field, an
 * echoed string that would not come back unchanged), with `diag` naming the problem and, for
 * JSON errors, the byte offset; OG_ENOMEM.
 * On success the caller owns `*out` and frees it with og_review_free().
 */
OG_NODISCARD enum og_err og_review_decode(const char *body, size_t len, struct og_review **out,
                                          struct og_diag *diag);

/** Lends the request fields; valid until og_review_free(). */
const struct og_review_request *og_review_get_request(const struct og_review *rv);

/**
 * Parses request.object into a new cJSON tree (for guidance, which needs all of it; the
 * request path does not). OG_ENOTFOUND when there is no object; OG_ENOMEM when cJSON fails,
 * which is out of memory or a form cJSON refuses although it is valid JSON (a lone UTF-16
 * surrogate escape, numbers over 63 characters). The caller frees `*out` with cJSON_Delete().
 */
OG_NODISCARD enum og_err og_review_object_tree(const struct og_review *rv, struct cJSON **out);

/**
 * Fills the policy's input from the review: `ctx` from request.operation, userInfo, dryRun and
 * request.oldObject (what the ratchet compares);
 * `obj` from request.kind (group, version, kind) and request.object, with the request's name
 * and namespace where given (else the object's metadata), and a `tree_fn` that parses the
 * object for guidance. Everything is lent by `rv` until og_review_free(). Returns false when
 * the request carries no object (absent or null, as for DELETE): pass NULL as the object to
 * og_policy_eval() then (`obj` is zeroed).
 */
bool og_review_policy_input(const struct og_review *rv, struct og_policy_object *obj,
                            struct og_admission_context *ctx);

/** Frees `rv` and everything it lent. NULL is a no-op. */
void og_review_free(struct og_review *rv);

/**
 * Appends the AdmissionReview response for `decision` to `out` (compact JSON); the warnings
 * and audit annotations are as long as the decision says (warning_lens, key_len, value_len).
 * Errors:
 * OG_ENOMEM, OG_ETOOBIG (buffer cap), with `out` holding what it held. Thread-safe for
 * distinct `out`.
 */
OG_NODISCARD enum og_err og_review_encode(const struct og_review *rv,
                                          const struct og_decision *decision, struct og_buf *out);

#endif
