/*
 * httpd.h - the HTTPS front of the webhook, on libmicrohttpd.
 *
 * Endpoints:
 *   POST /mutate    AdmissionReview in, AdmissionReview out (may carry a JSON patch)
 *   POST /validate  the same policy, never a patch
 *   GET  /healthz   200 while the process serves
 *   GET  /readyz    200, or 503 once draining has begun
 *   GET  /metrics   the Prometheus text format (metrics.h); also alone on a plain-HTTP
 *                   listener (srv_httpd_opts.metrics_only)
 * A query string (`/mutate?timeout=10s`) is ignored. Bad input gets a JSON body
 * {"error":"..."}: 404 unknown path, 405 wrong method (with Allow), 415 a Content-Type other
 * than application/json (parameters allowed), 413 a body over the snapshot's max_body, 503
 * with Retry-After when the bodies in flight hold the whole body budget, 400 a body that is
 * not an AdmissionReview, 400 or 501 with "Connection: close" for framing that RFC 9112
 * forbids (request.h).
 *
 * Request life cycle (all in libmicrohttpd's worker threads). httpd.c is the glue between
 * libmicrohttpd and two modules without sockets: request.h (the HTTP request logic) and
 * admission.h (decode, policy, encode, log).
 *   1. first call: a struct srv_request is made; every header field goes through
 *      srv_req_header() in one pass over libmicrohttpd's list, then srv_req_headers() checks
 *      framing, method, path, media type and Content-Length; forbidden framing, a
 *      Content-Length over the cap or the budget are answered at once (and the connection
 *      closed), other early errors are remembered and answered after the body;
 *   2. body calls: srv_req_body() appends to the request's capped og_buf, charged to the
 *      budget (or counts and drops the bytes when an error is already known);
 *   3. final call: the review is decoded (the body and its budget share are released) and
 *      the admission decides, or waits for the index: the connection is then suspended, and
 *      resumed by the index cache's wake (admission.h says how); libmicrohttpd calls the
 *      handler again for the same connection with the same context, and the admission
 *      answers; the encoded response is queued;
 *   4. completion callback: the request is freed (only there), its budget share returned.
 *
 * A suspended connection never times out: the index cache wakes every wait within its
 * budget, and srv_index_cache_stop() wakes them all, which must come before srv_httpd_stop()
 * (libmicrohttpd forbids stopping with suspended connections).
 *
 * A connection is also suspended while its TLS handshake waits for the client (tlsio.h): its
 * socket is parked with the handshake waiter (waiter.h), which resumes it when bytes come; the
 * request deadline still cuts it (conns.h), and srv_httpd_stop() resumes the rest itself.
 */
#ifndef SRV_HTTPD_H
#define SRV_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ocigate/err.h"

struct srv_index_cache;
struct srv_tls;

/** The default body budget: 64 MiB. */
#define SRV_HTTPD_BODY_BUDGET ((size_t)64 << 20)

/** The default request deadline (srv_httpd_opts.request_timeout_ms): 5 s. */
#define SRV_HTTPD_REQUEST_TIMEOUT_MS 5000u

/** How to run the daemon. The caller owns the strings; nothing is kept after start. */
struct srv_httpd_opts {
    const char *listen; /**< "ADDR:PORT", "[V6ADDR]:PORT" or ":PORT" (all IPv4); PORT 0 = any */
    /**
     * The serving certificate and key, and the client CA (tls.h), lent: it must outlive the
     * daemon. Each handshake takes the set current at that moment; with a client CA, /mutate
     * and /validate answer 401 without a client certificate and 403 with one that does not
     * verify (and close the connection), before the body is read.
     */
    struct srv_tls *tls;
    unsigned threads;        /**< worker threads; 0 = number of online CPUs */
    unsigned conn_timeout_s; /**< idle seconds before a connection is closed (slow clients) */
    unsigned max_conns;      /**< concurrent connections (see conns.h) */
    size_t conn_memory;      /**< per-connection memory pool (headers, read buffer) */
    /**
     * Bytes that request bodies may hold across all connections (the capacity of their
     * buffers); 0 = SRV_HTTPD_BODY_BUDGET. A body that does not fit now is answered 503 with
     * Retry-After; one that could never fit (Content-Length at or over it) 413.
     */
    size_t body_budget;
    bool tls13_only; /**< accept TLS 1.3 only (config tls.minVersion "1.3"); else 1.2 and 1.3 */
    /**
     * A request's headers and body must arrive within this many milliseconds of its first byte
     * (for a new connection: of accept, TLS handshake included); 0 = SRV_HTTPD_REQUEST_TIMEOUT_MS
     * (see conns.h).
     */
    uint64_t request_timeout_ms;
    /**
     * The live index analysis cache (server/index_cache.h), lent: it must outlive the daemon
     * and be stopped (srv_index_cache_stop(), which resumes every parked request) before
     * srv_httpd_stop(). NULL: no live analysis (the policy gets no verdict).
     */
    struct srv_index_cache *index_cache;
    /**
     * The plain-HTTP metrics listener (--metrics-listen): no TLS (tls, tls13_only and
     * index_cache are not used), and only GET/HEAD /metrics is served (404 for
     * any other path), with the same connection cap, timeouts and request deadline.
     */
    bool metrics_only;
};

/** The running daemon. Opaque. */
struct srv_httpd;

/**
 * Binds and starts the worker threads, serving the credentials of `opts->tls`. Block the
 * process signals before calling: the workers inherit the mask. Errors: OG_EINVAL (bad
 * address), OG_EIO (bind or TLS set-up failed; libmicrohttpd logs the detail), OG_ENOMEM;
 * `diag` says why. On success the caller owns `*out` and ends it with srv_httpd_stop().
 */
OG_NODISCARD enum og_err srv_httpd_start(const struct srv_httpd_opts *opts, struct srv_httpd **out,
                                         struct og_diag *diag);

/** The bound address as "HOST:PORT" (the real port when 0 was asked). Lent until stop. */
const char *srv_httpd_addr(const struct srv_httpd *h);

/** From now on /readyz answers 503 and responses carry "Connection: close". Thread-safe. */
void srv_httpd_set_draining(struct srv_httpd *h);

/** Stops accepting new connections; established ones carry on. Idempotent. */
void srv_httpd_quiesce(struct srv_httpd *h);

/** Requests started and not yet completed. Thread-safe. */
unsigned srv_httpd_inflight(const struct srv_httpd *h);

/**
 * Waits until no request is in flight or `timeout_ms` has passed; returns true when idle.
 */
bool srv_httpd_wait_idle(const struct srv_httpd *h, unsigned timeout_ms);

/** Stops the daemon (closing remaining connections) and frees `h`. NULL is a no-op. */
void srv_httpd_stop(struct srv_httpd *h);

#endif
