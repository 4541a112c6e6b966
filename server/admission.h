/*
 * admission.h - one admission, without HTTP: decode the AdmissionReview, run the policy,
 * get the index verdict it asks for, encode the answer and log the admission line.
 *
 *   srv_admission_init()    the snapshot, the index cache and how to resume the caller;
 *   srv_admission_decode()  the body into a review (a 400 when it is none);
 *   srv_admission_decide()  the policy (og_policy_eval()); when it names an index url, the
 *                           index cache: its verdict at once (og_policy_eval_index()), or
 *                           SRV_ADMISSION_WAIT while a fetch runs; then the encoded response;
 *   srv_admission_parked()  the caller has suspended itself for a wait;
 *   srv_admission_cleanup() frees it all.
 *
 * A wait, step by step (httpd.c suspends and resumes the libmicrohttpd connection):
 *   1. srv_admission_decide() registers a wake with the cache (deadline: now + the
 *      snapshot's index budget) and returns SRV_ADMISSION_WAIT;
 *   2. the caller suspends, then calls srv_admission_parked(): true, and `resume(arg)` will
 *      be called exactly once, from the cache's threads, when the fetch ends or the budget is
 *      spent; false, and the wake came already: the caller resumes itself (no call comes);
 *   3. once resumed, the caller calls srv_admission_decide() again, which looks the url up
 *      once more without waiting (the verdict, or PENDING past the budget) and answers.
 * So the cache is consulted once for an admission whose verdict is cached (or that may not
 * wait: budget 0, or a verdict that can only change the warnings, og_decision.index_advisory),
 * twice for one that waits, and never when the policy names no url or there is no cache
 * (tests/fuzz/fuzz_http.c runs admissions so). No thread ever blocks on the network here.
 */
#ifndef SRV_ADMISSION_H
#define SRV_ADMISSION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "index_cache.h"
#include "request.h"

#include "ocigate/buf.h"
#include "ocigate/config.h"
#include "ocigate/helm_index.h"
#include "ocigate/policy.h"
#include "ocigate/review.h"

/** Resumes the caller of a parked admission (see above); must not block. */
typedef void (*srv_admission_resume_fn)(void *arg);

/**
 * One admission: caller-owned storage, set up by srv_admission_init(). Only this API touches
 * the fields; they are visible for embedding, not for reading.
 */
struct srv_admission {
    struct og_config *cfg;         /* lent: the request's snapshot */
    struct srv_index_cache *cache; /* lent; NULL: no live analysis */
    srv_admission_resume_fn resume;
    void *resume_arg;
    enum og_endpoint ep;
    struct og_review *rv;
    struct og_policy_object obj; /* the policy's input, lent by `rv` */
    struct og_admission_context ctx;
    bool has_obj;
    bool evaluated;                  /* `dec` holds og_policy_eval()'s step */
    struct og_decision dec;          /* the decision, completed with the verdict */
    struct og_index_verdict verdict; /* the index verdict, when `have_verdict` */
    bool have_verdict;
    atomic_int park;    /* a wait's hand-off between the caller and the cache's wake */
    struct og_buf *out; /* lent: where the response is encoded (srv_admission_use_buffer()) */
};

/** Largest admission response: a decision is a few kB; anything near this is a bug. */
#define SRV_ADMISSION_RESPONSE_MAX (1024 * 1024)

enum srv_admission_next {
    SRV_ADMISSION_RESPOND,  /**< `resp` is filled: send it */
    SRV_ADMISSION_CONTINUE, /**< (decode) call srv_admission_decide() */
    SRV_ADMISSION_WAIT,     /**< (decide) suspend, then call srv_admission_parked() */
    SRV_ADMISSION_DROP      /**< out of memory for even an error answer */
};

/**
 * Starts an admission on `cfg` through endpoint `ep`, with the index cache `cache` (NULL:
 * none) and `resume(arg)` to end a wait. `cfg` and `cache` are lent for the admission's life.
 */
void srv_admission_init(struct srv_admission *a, struct og_config *cfg,
                        struct srv_index_cache *cache, enum og_endpoint ep,
                        srv_admission_resume_fn resume, void *arg);

/**
 * Has srv_admission_decide() encode its 200 response into `out` (emptied first; its cap should
 * be SRV_ADMISSION_RESPONSE_MAX) and lend it in `resp` (not owned) instead of a new allocation:
 * a buffer the caller keeps for its next admission saves an allocation, its growth and a free
 * per request. `out` must stay until the response is sent. Error answers still own theirs.
 */
void srv_admission_use_buffer(struct srv_admission *a, struct og_buf *out);

/**
 * Decodes `len` bytes at `body` (not kept: the review holds what it needs). CONTINUE, or a
 * body that is no AdmissionReview answered 400 in `resp` (RESPOND), or DROP.
 */
enum srv_admission_next srv_admission_decode(struct srv_admission *a, const char *body, size_t len,
                                             struct srv_response *resp);

/**
 * Decides (see above): RESPOND with the AdmissionReview response in `resp` (200; 500 when
 * the policy or the encoder fails) and the admission logged with `latency_us` at `now` (the
 * CLOCK_MONOTONIC reading the latency ends at, srv_log_write_at(); NULL: the time of the
 * write), or WAIT, or DROP when out of memory for any answer. Call again after a wait has been
 * resumed.
 */
enum srv_admission_next srv_admission_decide(struct srv_admission *a, const struct timespec *now,
                                             uint64_t latency_us, struct srv_response *resp);

/**
 * After WAIT, once the caller can be resumed: true when `resume(arg)` will come, false when
 * the wake came already (resume yourself; no call comes). Thread-safe against the wake.
 */
bool srv_admission_parked(struct srv_admission *a);

/** Frees what `a` owns. Idempotent. Not during a wait (after `resume` is fine). */
void srv_admission_cleanup(struct srv_admission *a);

#endif
