/*
 * review.h - the AdmissionReview codec (admission.k8s.io/v1 and v1beta1).
 *
 * og_review_decode() parses a request body into a struct og_review that owns its cJSON tree
 * and lends views into it; og_review_encode() writes the response the apiserver expects:
 * the request's apiVersion and kind echoed, response.uid = request.uid, the decision, and a
 * base64 JSON patch with patchType "JSONPatch" exactly when there is a patch.
 */
#ifndef OG_REVIEW_H
#define OG_REVIEW_H

#include <stdbool.h>
#include <stddef.h>

#include "ocigate/buf.h"
#include "ocigate/err.h"

struct cJSON;
struct og_decision;

/** The admission operation. */
enum og_operation { OG_OP_CREATE, OG_OP_UPDATE, OG_OP_DELETE, OG_OP_CONNECT, OG_OP_OTHER };

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
    const struct cJSON *object; /**< request.object, NULL when absent or null */
};

/** A decoded AdmissionReview. Opaque. */
struct og_review;

/**
 * Parses `len` bytes of JSON (no NUL needed) into a new review. Tolerates unknown fields.
 * Errors: OG_EPARSE for malformed JSON or a body that is not an AdmissionReview (not an
 * object, no `request`, no `request.uid`, a wrong apiVersion/kind, a wrongly typed field),
 * with `diag` naming the problem and, for JSON errors, the byte offset; OG_ENOMEM.
 * On success the caller owns `*out` and frees it with og_review_free().
 */
OG_NODISCARD enum og_err og_review_decode(const char *body, size_t len, struct og_review **out,
                                          struct og_diag *diag);

/** Lends the request fields; valid until og_review_free(). */
const struct og_review_request *og_review_get_request(const struct og_review *rv);

/** Frees `rv` and everything it lent. NULL is a no-op. */
void og_review_free(struct og_review *rv);

/**
 * Appends the AdmissionReview response for `decision` to `out` (compact JSON). Errors:
 * OG_ENOMEM, OG_ETOOBIG (buffer cap). Thread-safe for distinct `out`.
 */
OG_NODISCARD enum og_err og_review_encode(const struct og_review *rv,
                                          const struct og_decision *decision, struct og_buf *out);

#endif
