/*
 * admission.h - one admission, without HTTP: decode the AdmissionReview, name the index the
 * policy wants a verdict on, decide, encode the answer and log the admission line.
 *
 *   srv_admission_decode()  the body into a review; SRV_ADMISSION_INDEX when the policy wants
 *                           a verdict on `index_url` (the caller may fill `verdict`);
 *   srv_admission_decide()  policy, encoding and the admission log line into a response;
 *   srv_admission_cleanup() frees it all.
 *
 * httpd.c runs it in libmicrohttpd's workers (the index hook between the two steps stays
 * there: it suspends the connection); tests/fuzz/fuzz_http.c runs it with no index cache.
 */
#ifndef SRV_ADMISSION_H
#define SRV_ADMISSION_H

#include <stdbool.h>
#include <stdint.h>

#include "request.h"

#include "ocigate/config.h"
#include "ocigate/helm_index.h"
#include "ocigate/policy.h"
#include "ocigate/review.h"

/**
 * One admission: caller-owned storage, zeroed by srv_admission_init(). `index_url` is read
 * and `verdict`/`have_verdict` are written by the index hook; the rest only by this API.
 */
struct srv_admission {
    const struct og_config *cfg; /* lent: the request's snapshot */
    enum og_endpoint ep;
    struct og_review *rv;
    struct og_policy_object obj; /* the policy's input, lent by `rv` */
    struct og_admission_context ctx;
    bool has_obj;
    struct og_decision dec;          /* the policy's first step, completed by decide */
    const char *index_url;           /**< the url the policy wants a verdict on, or NULL */
    struct og_index_verdict verdict; /**< the index verdict, when `have_verdict` */
    bool have_verdict;
};

enum srv_admission_next {
    SRV_ADMISSION_RESPOND, /**< the response is filled (a body that is no AdmissionReview) */
    SRV_ADMISSION_DECIDE,  /**< call srv_admission_decide() */
    SRV_ADMISSION_INDEX,   /**< `index_url` is set: get a verdict if you can, then decide */
    SRV_ADMISSION_DROP     /**< out of memory for even an error answer */
};

/** Starts an admission on `cfg` (lent for its life) through endpoint `ep`. */
void srv_admission_init(struct srv_admission *a, const struct og_config *cfg, enum og_endpoint ep);

/**
 * Decodes `len` bytes at `body` (not kept: the review holds what it needs) and asks the
 * policy which index it wants. A body that is no AdmissionReview is a 400 in `resp`.
 */
enum srv_admission_next srv_admission_decode(struct srv_admission *a, const char *body, size_t len,
                                             struct srv_response *resp);

/**
 * Evaluates the policy (with `verdict` when `have_verdict`), encodes the AdmissionReview
 * response into `resp` (200; 500 when the policy or encoder fails) and logs the admission
 * with `latency_us`. False when out of memory for any answer (drop the connection).
 */
bool srv_admission_decide(struct srv_admission *a, uint64_t latency_us, struct srv_response *resp);

/** Frees what `a` owns. Idempotent. */
void srv_admission_cleanup(struct srv_admission *a);

#endif
