/*
 * request.h - the HTTP request logic of the webhook, without sockets (sans-I/O).
 *
 * httpd.c turns libmicrohttpd's calls into calls of this module and queues what it answers;
 * tests/fuzz/fuzz_http.c drives the very same functions with plain data. A request goes:
 *
 *   srv_req_begin()    method and path (route, 404, 405);
 *   srv_req_header()   once per received header field, duplicates included, in order;
 *   srv_req_headers()  framing (RFC 9112 sections 6.1 and 6.3), media type, Content-Length
 *                      against the body cap and the global body budget: may answer at once;
 *   srv_req_body()     each piece of the body: kept in a capped og_buf charged to the budget,
 *                      or counted and dropped once an answer is known;
 *   srv_req_end()      the answer of an error, /healthz or /readyz, or SRV_REQ_ADMIT: the
 *                      body is an AdmissionReview for server/admission.h;
 *   srv_req_cleanup()  frees the body and gives its bytes back to the budget (every path).
 *
 * Framing that RFC 9112 forbids is answered at once (before any body byte is read) with
 * "Connection: close", so that no byte after the headers is ever read as another request:
 * more than one Content-Length field (even equal ones), Content-Length together with
 * Transfer-Encoding, more than one Transfer-Encoding field, a Transfer-Encoding other than
 * exactly "chunked" (400 when chunked is not the final coding, 501 when another coding comes
 * before it), Transfer-Encoding in HTTP/1.0, a Content-Length that is not all digits, a
 * field name that is not a token (whitespace before the colon), a field value with a control
 * character other than HTAB (a bare CR, which another parser may end a line at), and a field
 * continued by an obs-fold line (libmicrohttpd 0.9.75 appends the continuation to the field's
 * *name*: `Content-Length: 7` + ` 0` became `Content-Length0: 7`, no framing for us, while a
 * proxy may have read 7 body bytes that we then read as the next request). (libmicrohttpd
 * 0.9.75 also ends a connection after any answer queued at the headers; the explicit close
 * does not rely on that.) libmicrohttpd itself already refuses a Content-Length that is not
 * all digits (`7, 7`, `7 `).
 */
#ifndef SRV_REQUEST_H
#define SRV_REQUEST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ocigate/buf.h"
#include "ocigate/config.h"

/**
 * The bytes that request bodies may hold across all connections. Shared by every worker
 * thread (atomic, no lock); only srv_body_budget_* touch the fields.
 */
struct srv_body_budget {
    atomic_size_t used; /**< bytes charged now */
    size_t max;         /**< most bytes that may be charged at once */
};

/** Makes the budget empty with room for `max` bytes. */
void srv_body_budget_init(struct srv_body_budget *b, size_t max);

/** Bytes charged now. Thread-safe. */
size_t srv_body_budget_used(const struct srv_body_budget *b);

/** Seconds a client is told to wait (Retry-After) when the budget is spent. */
#define SRV_BODY_BUDGET_RETRY_S 1

enum srv_route {
    SRV_ROUTE_NONE,
    SRV_ROUTE_MUTATE,
    SRV_ROUTE_VALIDATE,
    SRV_ROUTE_HEALTHZ,
    SRV_ROUTE_READYZ,
    SRV_ROUTE_METRICS
};

/**
 * An answer: status, JSON body and the headers beyond Content-Type. The glue queues it and
 * frees `body` with free() when `owned`; a body that is not owned is static.
 */
struct srv_response {
    unsigned status;
    char *body;
    size_t len;
    bool owned;
    const char *allow;        /**< the Allow header (405), or NULL */
    unsigned retry_after;     /**< the Retry-After header in seconds (503), or 0 for none */
    bool close;               /**< "Connection: close": the connection ends after the answer */
    const char *content_type; /**< the Content-Type (static), or NULL for application/json */
};

/** Frees what `resp` owns and zeroes it. */
void srv_response_cleanup(struct srv_response *resp);

/**
 * Fills `resp` with {"error":"<msg>"} and `status` (and the headers that status implies),
 * and logs the rejection at info. `msg` is escaped. Returns false when out of memory (`resp`
 * is then empty and the connection should be dropped).
 */
bool srv_response_error(struct srv_response *resp, unsigned status, const char *msg);

/** What the caller does next. */
enum srv_req_next {
    SRV_REQ_CONTINUE, /**< read on: more header/body calls follow */
    SRV_REQ_RESPOND,  /**< queue the response that was filled in */
    SRV_REQ_ADMIT,    /**< run the admission on srv_req_body_view() */
    SRV_REQ_DROP      /**< drop the connection without an answer */
};

/**
 * A block that a connection keeps for the bodies of its admissions, one request at a time
 * (srv_req_use_spare()): the first body that fits in SRV_REQ_SPARE_MAX bytes stays once the
 * request is done with it, and the next bodies are read into it instead of a new allocation.
 * Zeroed storage is an empty spare; srv_req_spare_cleanup() frees it.
 */
struct srv_req_spare {
    char *ptr; /* heap, or NULL */
    size_t cap;
};

/**
 * Largest block a spare keeps (per connection, and not charged to the body budget): the
 * apiserver's reviews of a HelmRepository are 2-4 kB (captured: a create, an SSA update). With
 * its response storage (httpd.c RESPONSE_KEEP_MAX), an idle connection holds up to 24 KiB: 24 MiB
 * at 1024 connections.
 */
#define SRV_REQ_SPARE_MAX (8u * 1024u)

/** Frees the block of `spare` and empties it. */
void srv_req_spare_cleanup(struct srv_req_spare *spare);

/**
 * One HTTP request: caller-owned storage, set up by srv_req_begin() and ended by
 * srv_req_cleanup(). Only the srv_req_* API touches the fields.
 */
struct srv_req {
    const struct og_config *cfg;    /* lent: the snapshot of the request */
    struct srv_body_budget *budget; /* lent: shared by all requests */
    enum srv_route route;
    bool http10;
    bool bad_name;  /* a field name that is not a token */
    bool bad_value; /* a field value with a control character (CR, NUL, ...) */
    bool folded;    /* a field continued by an obs-fold line (srv_req_obs_fold()) */
    unsigned n_ct;  /* Content-Type fields seen */
    unsigned n_cl;  /* Content-Length fields seen */
    unsigned n_te;  /* Transfer-Encoding fields seen */
    const char *cl; /* the first Content-Length value (lent until headers()) */
    size_t cl_len;
    const char *te; /* the first Transfer-Encoding value (lent until headers()) */
    size_t te_len;
    bool json;       /* the first Content-Type is application/json */
    unsigned status; /* an answer decided before the body ended, or 0 */
    unsigned retry_after;
    char error[192];    /* its message */
    struct og_buf body; /* an admission's body; its capacity is charged to the budget */
    size_t charged;     /* bytes of `budget` this request holds: body.cap as if on the heap */
    struct srv_req_spare *spare; /* lent: the connection's spare (srv_req_use_spare()), or NULL */
    uint64_t discarded;          /* body bytes dropped because an answer was already known */
};

/**
 * Starts a request for `method` and `path` (NUL-terminated; the path without its query) in
 * `version` ("HTTP/1.1"), running on `cfg` with bodies charged to `budget` (both lent for the
 * life of `r`). Cannot fail; a wrong method or path is answered after the body, which is
 * dropped.
 */
void srv_req_begin(struct srv_req *r, const struct og_config *cfg, struct srv_body_budget *budget,
                   const char *method, const char *path, const char *version);

/**
 * Restricts `r` to GET/HEAD /metrics (the plain-HTTP metrics listener): any other path is
 * answered 404. Call right after srv_req_begin().
 */
void srv_req_metrics_only(struct srv_req *r);

/**
 * Reads the body of `r` (an admission) into `spare` when it fits, and leaves a body that was
 * allocated (and fits SRV_REQ_SPARE_MAX) there for the next request: `spare` is lent until
 * srv_req_cleanup() and must serve one request at a time. The budget is charged as without it.
 * Call right after srv_req_begin() (and srv_req_metrics_only()).
 */
void srv_req_use_spare(struct srv_req *r, struct srv_req_spare *spare);

/**
 * One received header field, in the order received, duplicates included. `name` and `value`
 * (lengths given, not necessarily NUL-terminated) must stay valid until srv_req_headers().
 */
void srv_req_header(struct srv_req *r, const char *name, size_t name_len, const char *value,
                    size_t value_len);

/**
 * libmicrohttpd joined an obs-fold continuation line into a field of the request (httpd.c
 * tells): it is refused with 400 and the connection closed (RFC 9112 section 5.2).
 */
void srv_req_obs_fold(struct srv_req *r);

/**
 * All header fields are in. SRV_REQ_RESPOND: `resp` holds an answer to send now (forbidden
 * framing, a Content-Length over the cap or the budget); SRV_REQ_CONTINUE: read the body;
 * SRV_REQ_DROP: out of memory.
 */
enum srv_req_next srv_req_headers(struct srv_req *r, struct srv_response *resp);

/**
 * `size` more body bytes. SRV_REQ_CONTINUE or SRV_REQ_DROP (a client that streams far past
 * the cap). Never answers: libmicrohttpd cannot queue a response while a body arrives.
 */
enum srv_req_next srv_req_body(struct srv_req *r, const char *data, size_t size);

/**
 * The body is complete. SRV_REQ_RESPOND with `resp` filled (an error known earlier,
 * /healthz, /readyz: 503 when `draining`, /metrics: the text format, metrics.h), SRV_REQ_ADMIT for
 * an admission to run on srv_req_body_view(), SRV_REQ_DROP when out of memory.
 */
enum srv_req_next srv_req_end(struct srv_req *r, bool draining, struct srv_response *resp);

/** The body of an admission (SRV_REQ_ADMIT), lent until srv_req_release_body(). */
struct og_str srv_req_body_view(const struct srv_req *r);

/** Frees the body and gives its bytes back to the budget now (the review holds a copy). */
void srv_req_release_body(struct srv_req *r);

/** Ends `r`: frees the body and gives its budget back. Idempotent. */
void srv_req_cleanup(struct srv_req *r);

#endif
