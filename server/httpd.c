#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <pthread.h>

#include "admission.h"
#include "conns.h"
#include "log.h"
#include "metrics.h"
#include "request.h"
#include "snapshot.h"
#include "tls.h"
#include "tlsio.h"
#include "waiter.h"

#include "ocigate/config.h"
#include "ocigate/str.h"

/*
 * TLS 1.2 and 1.3 only (GnuTLS priority string), with Mozilla's "intermediate" choice for 1.2:
 * ECDHE key exchange (ECDSA or RSA certificates) and AEAD ciphers only (AES-GCM,
 * ChaCha20-Poly1305), so no CBC or SHA-1 MAC suite; the server's cipher order wins.
 */
#define TLS_PRIORITIES                                                                             \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:"            \
    "+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE"
/* The same with TLS 1.3 only (config tls.minVersion "1.3"). */
#define TLS13_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:%SERVER_PRECEDENCE"

/* The connection watchdog's period: how late past its deadline a slow request is cut. */
#define CONNS_TICK_MS 100u

/* Most libmicrohttpd log lines written per second (on_mhd_log()). */
#define MHD_LOG_PER_S 10u

struct srv_httpd {
    struct MHD_Daemon *daemon;
    atomic_bool draining;
    atomic_bool quiesced;
    atomic_uint inflight;
    int listen_fd;                       /* ours: libmicrohttpd gets each accepted connection */
    struct srv_conns *conns;             /* the cap and the request deadline (conns.h) */
    atomic_uint_least64_t mhd_log_sec;   /* on_mhd_log()'s rate limit: the current second, */
    atomic_uint mhd_log_n;               /* the lines of that second, */
    atomic_uint mhd_log_suppressed;      /* and those not written since the last one */
    pthread_t accept_thread;             /* accept_main() */
    bool accepting;                      /* accept_thread runs */
    struct srv_index_cache *index_cache; /* lent by the caller; NULL: no live analysis */
    struct srv_tls *tls;                 /* lent by the caller: the credentials, or NULL */
    struct srv_waiter *hs_waiter;        /* parked handshakes (on_handshake_wait()); TLS only */
    bool metrics_only;                   /* plain HTTP, GET /metrics only (httpd.h) */
    struct srv_body_budget budget;       /* bytes of request bodies across all connections */
    char addr[INET6_ADDRSTRLEN + 16];
};

enum phase {
    PHASE_RECV,       /* headers and body arriving */
    PHASE_INDEX_WAIT, /* the admission waits for the index, the connection suspended */
    PHASE_DONE        /* a response is queued */
};

/*
 * libmicrohttpd's side of a request: the HTTP logic is in `http` (request.h), the admission
 * in `adm` (admission.h); this file only turns handler calls into theirs and queues answers.
 */
struct srv_request {
    struct srv_httpd *httpd;
    struct MHD_Connection *conn;
    struct conn_ctx *ctx;  /* its connection's (on_connection()), looked up once; or NULL */
    struct og_config *cfg; /* the snapshot this request runs on, taken at its start: lent by
                            * its connection's `snap` when in_conn_storage(), else a reference */
    enum phase phase;
    bool head; /* a HEAD request: its answer has no body */
    /*
     * CLOCK_MONOTONIC when its headers were complete, and its latest reading: `start` until the
     * admission decides, then the decision's. One reading at each end serves the deadline
     * (conns.h), the latency, the log line's time and the connection's idle stamp.
     */
    struct timespec start;
    struct timespec now;
    bool admitted; /* `adm` was started (admit()) */
    struct srv_req http;
    struct srv_admission adm;
};

/*
 * A connection keeps the storage of its admission responses from one request to the next up to
 * this many bytes (a response is a few kB); a larger one is freed once sent.
 */
#define RESPONSE_KEEP_MAX (16u * 1024u)

/*
 * What ocigate keeps per connection, as libmicrohttpd's socket context (on_connection()): its
 * entry in the connection table (conns.h), NULL for one the table does not know, and its TLS
 * state (the credentials its handshake took, tls.h) and its transport (tlsio.h).
 */
struct conn_ctx {
    struct srv_conn *entry;
    struct srv_tls *tls;
    struct srv_tls_conn tls_conn;
    struct srv_httpd *httpd;
    struct MHD_Connection *conn;
    int fd;
    bool parked; /* its handshake was parked at least once (on_handshake_wait()) */
    bool tlsio;  /* `io` carries the connection's TLS records (tlsio.h) */
    struct srv_tlsio io;
    /*
     * libmicrohttpd runs a connection's requests one after the other, each from its first
     * handler call to its completion (on_completed()), so one request's state and one response
     * buffer serve them all: `req` while `req_busy`, and `out`, which holds the admission
     * response that libmicrohttpd sends (MHD_RESPMEM_PERSISTENT) until the request completes.
     */
    bool req_busy;
    struct srv_request req;
    struct og_buf out;
    struct srv_req_spare body_spare; /* the admissions' bodies, one request at a time too */
    /* The response object of its last plain answer, for that body and length (queue()). */
    struct MHD_Response *resp;
    const char *resp_body;
    size_t resp_len;
    struct srv_snapshot_cache snap; /* the snapshot of its last request (snapshot.h) */
};

static struct conn_ctx *ctx_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci != NULL ? ci->socket_context : NULL;
}

static struct srv_conn *entry_of(const struct conn_ctx *ctx)
{
    return ctx != NULL ? ctx->entry : NULL;
}

/* Microseconds from `start` to `end`, two readings of the monotonic clock. */
static uint64_t between_us(const struct timespec *start, const struct timespec *end)
{
    int64_t us =
        (int64_t)(end->tv_sec - start->tv_sec) * 1000000 + (end->tv_nsec - start->tv_nsec) / 1000;

    return us > 0 ? (uint64_t)us : 0;
}

/* Microseconds since `start`, on the monotonic clock. */
static uint64_t elapsed_us(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return between_us(start, &now);
}

/* Whether `req` is its connection's own request storage (request_new()), with what it lends. */
static bool in_conn_storage(const struct srv_request *req)
{
    return req->ctx != NULL && req == &req->ctx->req;
}

/*
 * A new request on `conn`: its connection's request storage and snapshot, or a heap block and a
 * new reference when there is no context (out of memory when the connection started) or it is
 * taken. The caller fills in `start` and `http` (on_headers()); NULL when out of memory.
 */
static struct srv_request *request_new(struct srv_httpd *h, struct MHD_Connection *conn)
{
    struct conn_ctx *ctx = ctx_of(conn);
    struct srv_request *req;

    if (ctx != NULL && !ctx->req_busy) {
        req = &ctx->req;
        ctx->req_busy = true;
    } else {
        req = malloc(sizeof(*req));
        if (req == NULL)
            return NULL;
    }
    req->httpd = h;
    req->conn = conn;
    req->ctx = ctx;
    req->phase = PHASE_RECV;
    req->head = false;
    req->admitted = false;
    /* The connection's snapshot serves one request at a time: only the one in `ctx->req`. */
    req->cfg = in_conn_storage(req) ? srv_snapshot_cached(&ctx->snap) : srv_snapshot_acquire();
    return req;
}

static void request_free(struct srv_request *req)
{
    struct conn_ctx *ctx = req->ctx;

    srv_req_cleanup(&req->http);
    if (req->admitted)
        srv_admission_cleanup(&req->adm);
    if (!in_conn_storage(req))
        og_config_unref(req->cfg);
    if (in_conn_storage(req)) {
        /* The response has been sent (or never will be): its buffer is free again. */
        if (ctx->out.cap > RESPONSE_KEEP_MAX)
            og_buf_cleanup(&ctx->out);
        ctx->req_busy = false;
    } else {
        free(req);
    }
}

/*
 * An answer of up to this many body bytes leaves as one TLS record (tlsio.h). The socket takes
 * it whole: two of them fit in the smallest send buffer TCP starts with (16 KiB), even with
 * the one before still unacknowledged. A larger one (metrics, a long denial) is sent the plain
 * way, which waits for the socket when it must.
 */
#define CORK_MAX 4096

/* An answer leaves as one TLS record, with one write (tlsio.h): gathered from here... */
static void cork_response(struct srv_request *req, const struct srv_response *resp)
{
    if (resp->len <= CORK_MAX && req->ctx != NULL && req->ctx->tlsio)
        srv_tlsio_cork(&req->ctx->io);
}

/*
 * ... to its end (or a failed queue). A socket that does not take the record whole at once
 * belongs to a client that sends requests without reading the answers: the connection is cut,
 * as nothing would send the rest.
 */
static void uncork_response(struct srv_request *req)
{
    struct conn_ctx *ctx = req->ctx;

    if (ctx != NULL && ctx->tlsio && !srv_tlsio_uncork(&ctx->io)) {
        srv_logf(SRV_LOG_DEBUG, "closing a connection whose client does not read its answers");
        (void)shutdown(ctx->fd, SHUT_RDWR);
    }
}

/*
 * libmicrohttpd's response for `resp` (taking what it owns), with its headers; "Connection:
 * close" when `close`. NULL when out of memory (what `resp` owned is freed).
 */
static struct MHD_Response *make_response(struct srv_response *resp, bool close)
{
    struct MHD_Response *r;

    if (resp->owned)
        r = MHD_create_response_from_buffer_with_free_callback(resp->len, resp->body, free);
    else
        r = MHD_create_response_from_buffer(resp->len, resp->body, MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        srv_response_cleanup(resp);
        return NULL;
    }
    resp->owned = false; /* libmicrohttpd frees it now */
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                resp->content_type != NULL ? resp->content_type
                                                           : "application/json") != MHD_YES)
        goto fail;
    if (resp->allow != NULL &&
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, resp->allow) != MHD_YES)
        goto fail;
    if (resp->retry_after > 0) {
        char secs[16];

        (void)snprintf(secs, sizeof(secs), "%u", resp->retry_after);
        if (MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, secs) != MHD_YES)
            goto fail;
    }
    if (close && MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES)
        goto fail;
    return r;
fail:
    MHD_destroy_response(r);
    return NULL;
}

/*
 * Queues `resp` (taking what it owns). A connection keeps the response object of its last plain
 * answer (no header but Content-Type: application/json, a body it does not own: its `out`
 * buffer or a static one): the next answer with the same body address and length is that
 * response again. libmicrohttpd reads a buffer response's bytes only while sending it and never
 * changes it (0.9.75 changes only responses made from a callback), so the object stands for
 * whatever the buffer holds then; a new one costs an allocation, a mutex, and three allocations
 * for the header. Any other answer gets a response of its own, destroyed at once (libmicrohttpd
 * holds its reference until the answer is sent).
 */
static enum MHD_Result queue(struct srv_request *req, struct srv_response *resp)
{
    struct conn_ctx *ctx = req->ctx;
    /* While draining, clients are told to reconnect (to another replica). */
    bool close = resp->close || atomic_load(&req->httpd->draining);
    bool keep = in_conn_storage(req) && !resp->owned && resp->content_type == NULL &&
                resp->allow == NULL && resp->retry_after == 0 && !close;
    struct MHD_Response *r;
    enum MHD_Result ret;

    if (keep && ctx->resp != NULL && ctx->resp_body == resp->body && ctx->resp_len == resp->len)
        r = ctx->resp;
    else
        r = make_response(resp, close);
    if (r == NULL)
        return MHD_NO; /* out of memory: dropping the connection is all that is left */
    req->phase = PHASE_DONE;
    if (keep && r != ctx->resp) {
        MHD_destroy_response(ctx->resp);
        ctx->resp = r;
        ctx->resp_body = resp->body;
        ctx->resp_len = resp->len;
    }
    cork_response(req, resp);
    ret = MHD_queue_response(req->conn, resp->status, r);
    if (!keep)
        MHD_destroy_response(r);
    if (ret == MHD_YES)
        srv_metrics_http_response(resp->status);
    else
        uncork_response(req);
    return ret;
}

/* What request.h decided, in libmicrohttpd's terms. */
static enum MHD_Result respond(struct srv_request *req, enum srv_req_next next,
                               struct srv_response *resp)
{
    switch (next) {
    case SRV_REQ_CONTINUE:
    case SRV_REQ_ADMIT:
        return MHD_YES;
    case SRV_REQ_RESPOND:
        return queue(req, resp);
    case SRV_REQ_DROP:
        break;
    }
    return MHD_NO;
}

/*
 * The admission's resume (srv_admission_resume_fn), from the index cache's threads: `arg` is
 * the parked request. libmicrohttpd then calls the handler again for it (PHASE_INDEX_WAIT).
 * MHD_resume_connection() takes the daemon's lock, which orders what the admission wrote
 * before the worker's next handler call.
 */
static void resume_request(void *arg)
{
    struct srv_request *req = arg;

    MHD_resume_connection(req->conn);
}

/* The waiter's wake (waiter.h), on its thread: the socket of a parked handshake has bytes. */
static void resume_handshake(void *arg)
{
    MHD_resume_connection(arg);
}

/*
 * A handshake waits for the client (tlsio.h): called on the worker from our pull, inside
 * gnutls_handshake() inside MHD_connection_handle_read() or _handle_write(). Suspending there is
 * as legal as in the request handler (libmicrohttpd 0.9.75 read for it): the worker's epoll loop
 * holds no lock around call_handlers(), and internal_suspend_connection_() takes the cleanup
 * mutex itself; it takes the connection out of the ready list, the timeout lists and the epoll
 * set. The handshake then returns GNUTLS_E_AGAIN, and MHD_connection_handle_idle() leaves a
 * suspended connection alone (no state change, no timeout check, no epoll update); the epoll
 * loop skips it. Suspend first, then hand the socket over: the waiter's resume can then only
 * come after the suspension (as decide() does for parked admissions). When the waiter takes no
 * more (stopped: the daemon is stopping) the connection is resumed at once, as before.
 *
 * While parked, libmicrohttpd's own timeout does not run; the request deadline still does
 * (conns.h): the watchdog's shutdown(2) makes the socket readable, the waiter resumes the
 * connection, the handshake fails on the end of the stream and libmicrohttpd closes it.
 */
static void on_handshake_wait(void *arg)
{
    struct conn_ctx *ctx = arg;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(ctx->conn, MHD_CONNECTION_INFO_CONNECTION_SUSPENDED);

    if (ci == NULL || ci->suspended != MHD_NO)
        return; /* cannot be: a suspended connection is not processed */
    MHD_suspend_connection(ctx->conn);
    ctx->parked = true;
    if (!srv_waiter_add(ctx->httpd->hs_waiter, ctx->fd, ctx->conn))
        MHD_resume_connection(ctx->conn);
}

/*
 * What srv_admission_decide() says, in libmicrohttpd's terms. A wait suspends the connection
 * before the admission is told it is parked: libmicrohttpd can only resume a connection that
 * is already suspended (a resume that came first would be lost, leaving the connection parked
 * until its timeout).
 */
static enum MHD_Result decide(struct srv_request *req)
{
    struct srv_response resp;

    clock_gettime(CLOCK_MONOTONIC, &req->now);
    switch (srv_admission_decide(&req->adm, &req->now, between_us(&req->start, &req->now), &resp)) {
    case SRV_ADMISSION_RESPOND:
        return queue(req, &resp);
    case SRV_ADMISSION_WAIT:
        req->phase = PHASE_INDEX_WAIT;
        MHD_suspend_connection(req->conn);
        if (!srv_admission_parked(&req->adm))
            MHD_resume_connection(req->conn); /* the wake came already */
        return MHD_YES;
    case SRV_ADMISSION_CONTINUE:
    case SRV_ADMISSION_DROP:
        break;
    }
    return MHD_NO;
}

/* The final call of an admission: decode, then decide. */
static enum MHD_Result admit(struct srv_request *req)
{
    struct og_str body = srv_req_body_view(&req->http);
    struct srv_response resp;

    srv_admission_init(&req->adm, req->cfg, req->httpd->index_cache,
                       req->http.route == SRV_ROUTE_MUTATE ? OG_ENDPOINT_MUTATE
                                                           : OG_ENDPOINT_VALIDATE,
                       resume_request, req);
    req->admitted = true;
    /* Only the connection's own request storage lends its response buffer: one response at a
     * time may use it (a heap request, see request_new(), writes a buffer of its own). */
    if (in_conn_storage(req))
        srv_admission_use_buffer(&req->adm, &req->ctx->out);
    switch (srv_admission_decode(&req->adm, body.ptr, body.len, &resp)) {
    case SRV_ADMISSION_RESPOND:
        return queue(req, &resp);
    case SRV_ADMISSION_CONTINUE:
        break;
    case SRV_ADMISSION_WAIT:
    case SRV_ADMISSION_DROP:
        return MHD_NO;
    }
    /* The review owns a parsed copy: the raw body and its share of the budget go now. */
    srv_req_release_body(&req->http);
    return decide(req);
}

/*
 * libmicrohttpd 0.9.75 keeps a received field in its read buffer as "name\0", the whitespace
 * after the colon, then the value, and hands out pointers into it; but when an obs-fold line
 * follows, process_broken_line() appends that line to a copy of the *name* made elsewhere in
 * the pool, leaving the value where it was. A value that does not follow its name so marks
 * such a fold. (Only addresses are compared, and only bytes up to the value are read.)
 */
static bool is_folded(const char *key, size_t key_size, const char *value)
{
    uintptr_t p = (uintptr_t)(key + key_size), v = (uintptr_t)value;

    if (v <= p || key[key_size] != '\0')
        return true;
    for (const char *c = key + key_size + 1; (uintptr_t)c < v; c++) {
        if (*c != ' ' && *c != '\t')
            return true;
    }
    return false;
}

/* Hands every received header field, in order and with duplicates, to request.h. */
static enum MHD_Result on_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                 size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    if (is_folded(key, key_size, value))
        srv_req_obs_fold(cls);
    srv_req_header(cls, key, key_size, value, value_size);
    return MHD_YES;
}

/*
 * GnuTLS's certificate retrieval (gnutls_certificate_retrieve_function2, installed by
 * libmicrohttpd for MHD_OPTION_HTTPS_CERT_CALLBACK), on the connection's worker while it
 * processes the ClientHello: libmicrohttpd sets the session's pointer to its connection.
 */
static int on_cert(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int n_req,
                   const gnutls_pk_algorithm_t *pk_algos, int n_algos, gnutls_pcert_st **pcert,
                   unsigned int *n_pcert, gnutls_privkey_t *key)
{
    struct MHD_Connection *conn = gnutls_session_get_ptr(session);
    struct conn_ctx *ctx = conn != NULL ? ctx_of(conn) : NULL;

    (void)req_ca_dn;
    (void)n_req;
    (void)pk_algos;
    (void)n_algos;
    if (ctx == NULL)
        return -1; /* no room for its reference (out of memory): no handshake */
    return srv_tls_select(ctx->tls, &ctx->tls_conn, session, pcert, n_pcert, key);
}

/*
 * With client authentication on, an admission needs a verified client certificate: 401
 * without one, 403 with one that does not chain to the client CA, answered at once (the body
 * is not read) and the connection closed.
 */
static bool client_refused(struct srv_request *req, struct srv_response *resp)
{
    const union MHD_ConnectionInfo *ci;
    struct conn_ctx *ctx = req->ctx;
    enum srv_tls_client v;
    char why[256];

    if (req->http.route != SRV_ROUTE_MUTATE && req->http.route != SRV_ROUTE_VALIDATE)
        return false;
    if (req->httpd->tls == NULL || !srv_tls_client_auth(req->httpd->tls))
        return false;
    ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (ctx == NULL || ci == NULL) {
        v = SRV_TLS_CLIENT_NONE;
        (void)snprintf(why, sizeof(why), "no client certificate");
    } else {
        v = srv_tls_client_check(req->httpd->tls, &ctx->tls_conn, ci->tls_session, why,
                                 sizeof(why));
    }
    if (v == SRV_TLS_CLIENT_OK)
        return false;
    if (!srv_response_error(resp, v == SRV_TLS_CLIENT_NONE ? 401 : 403, why))
        memset(resp, 0, sizeof(*resp));
    resp->close = true;
    return true;
}

/* The first call: the request line and the headers are in. */
static enum MHD_Result on_headers(struct srv_request *req, const char *url, const char *method,
                                  const char *version)
{
    struct srv_response resp;
    enum srv_req_next next;

    req->head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    srv_req_begin(&req->http, req->cfg, &req->httpd->budget, method, url, version);
    if (req->httpd->metrics_only)
        srv_req_metrics_only(&req->http);
    /* Only the connection's own request storage lends its spare, as with `out` (admit()). */
    if (in_conn_storage(req))
        srv_req_use_spare(&req->http, &req->ctx->body_spare);
    (void)MHD_get_connection_values_n(req->conn, MHD_HEADER_KIND, on_header, &req->http);
    next = srv_req_headers(&req->http, &resp);
    if (next == SRV_REQ_CONTINUE && client_refused(req, &resp))
        return resp.body != NULL ? queue(req, &resp) : MHD_NO;
    return respond(req, next, &resp);
}

static enum MHD_Result on_body(struct srv_request *req, const char *data, size_t size)
{
    return srv_req_body(&req->http, data, size) == SRV_REQ_CONTINUE ? MHD_YES : MHD_NO;
}

static enum MHD_Result finish(struct srv_request *req)
{
    struct srv_response resp;
    enum srv_req_next next;

    if (req->phase == PHASE_INDEX_WAIT)
        return decide(req);
    if (req->phase == PHASE_DONE)
        return MHD_YES;
    next = srv_req_end(&req->http, atomic_load(&req->httpd->draining), &resp);
    if (next == SRV_REQ_ADMIT)
        return admit(req);
    return respond(req, next, &resp);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct srv_httpd *h = cls;
    struct srv_request *req = *con_cls;

    if (req == NULL) {
        req = request_new(h, conn);
        if (req == NULL)
            return MHD_NO;
        clock_gettime(CLOCK_MONOTONIC, &req->start);
        req->now = req->start;
        *con_cls = req;
        atomic_fetch_add(&h->inflight, 1);
        srv_conn_request_begin(entry_of(req->ctx), &req->start);
        return on_headers(req, url, method, version);
    }
    if (*upload_data_size != 0) {
        size_t size = *upload_data_size;

        /* Never queue a response here: libmicrohttpd refuses one while the body arrives. */
        *upload_data_size = 0;
        return on_body(req, upload_data, size);
    }
    srv_conn_request_received(entry_of(req->ctx));
    return finish(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct srv_httpd *h = cls;
    struct srv_request *req = *con_cls;

    /* The answer leaves first: once the request is done, the connection counts as idle, and
     * the acceptor may close it to make room for a new one (conns.h). */
    if (req != NULL)
        uncork_response(req);
    srv_conn_request_done(entry_of(req != NULL ? req->ctx : ctx_of(conn)),
                          req != NULL ? &req->now : NULL);
    if (req == NULL)
        return;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && srv_log_enabled(SRV_LOG_DEBUG))
        srv_logf(SRV_LOG_DEBUG, "request ended early (%s)",
                 toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED   ? "timeout"
                 : toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT    ? "client abort"
                 : toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "shutdown"
                 : toe == MHD_REQUEST_TERMINATED_READ_ERROR      ? "read error"
                 : toe == MHD_REQUEST_TERMINATED_WITH_ERROR      ? "error"
                                                                 : "other");
    request_free(req);
    *con_cls = NULL;
    atomic_fetch_sub(&h->inflight, 1);
}

/*
 * libmicrohttpd logs a line for every TLS handshake that fails, and every connection cut in its
 * handshake (conns.h) is one: under a flood that would be thousands of lines a second. At most
 * MHD_LOG_PER_S lines are written each second; the next line written says how many were not.
 */
static bool mhd_log_admit(struct srv_httpd *h, unsigned *suppressed)
{
    struct timespec now;
    uint_least64_t sec, seen;

    clock_gettime(CLOCK_MONOTONIC, &now);
    sec = (uint_least64_t)now.tv_sec;
    seen = atomic_load(&h->mhd_log_sec);
    if (seen != sec && atomic_compare_exchange_strong(&h->mhd_log_sec, &seen, sec))
        atomic_store(&h->mhd_log_n, 0);
    if (atomic_fetch_add(&h->mhd_log_n, 1) >= MHD_LOG_PER_S) {
        atomic_fetch_add(&h->mhd_log_suppressed, 1);
        return false;
    }
    *suppressed = atomic_exchange(&h->mhd_log_suppressed, 0);
    return true;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) OG_PRINTF(2, 0);

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512], count[16];
    unsigned suppressed;
    int n;

    if (!mhd_log_admit(cls, &suppressed))
        return;
    (void)snprintf(count, sizeof(count), "%u", suppressed);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (n < 0)
        return;
    n = (size_t)n < sizeof(msg) ? n : (int)sizeof(msg) - 1;
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    srv_log(SRV_LOG_WARN, msg, "source", "libmicrohttpd", "suppressed",
            suppressed > 0 ? count : NULL, NULL);
}

/*
 * libmicrohttpd's connection notifications: the table learns which connections libmicrohttpd
 * serves and when it is about to close one (before it closes the descriptor); the connection's
 * context (struct conn_ctx) lives from one to the other.
 */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct srv_httpd *h = cls;
    const union MHD_ConnectionInfo *ci;
    struct conn_ctx *ctx = *socket_context;

    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        /* libmicrohttpd has deinitialized the TLS session by now (MHD_cleanup_connections()). */
        if (ctx != NULL) {
            /* Never still parked (only a resumed connection closes); its number is reused. */
            if (ctx->parked)
                (void)srv_waiter_remove(h->hs_waiter, ctx->fd);
            srv_conns_closed(h->conns, ctx->entry);
            srv_tls_conn_cleanup(&ctx->tls_conn);
            if (ctx->tlsio)
                srv_tlsio_cleanup(&ctx->io);
            og_buf_cleanup(&ctx->out);
            srv_req_spare_cleanup(&ctx->body_spare);
            MHD_destroy_response(ctx->resp);
            srv_snapshot_cache_cleanup(&ctx->snap);
            free(ctx);
        }
        *socket_context = NULL;
        return;
    }
    ctx = malloc(sizeof(*ctx));
    *socket_context = ctx;
    if (ctx == NULL)
        return; /* its handshake fails (on_cert()), and the table drops it as lost */
    ctx->tls = h->tls;
    srv_tls_conn_init(&ctx->tls_conn);
    ctx->httpd = h;
    ctx->conn = conn;
    ctx->parked = false;
    ctx->req_busy = false;
    og_buf_init(&ctx->out, SRV_ADMISSION_RESPONSE_MAX);
    ctx->body_spare = (struct srv_req_spare){NULL, 0};
    ctx->resp = NULL;
    ctx->resp_body = NULL;
    ctx->resp_len = 0;
    ctx->snap = (struct srv_snapshot_cache){0};
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    ctx->fd = ci != NULL ? ci->connect_fd : -1;
    ctx->entry = ci != NULL ? srv_conns_started(h->conns, ci->connect_fd) : NULL;
    ctx->tlsio = false;
    if (h->tls != NULL && ci != NULL) {
        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        if (ci != NULL && ci->tls_session != NULL) {
            srv_tlsio_attach(&ctx->io, ci->tls_session, ctx->fd,
                             h->hs_waiter != NULL ? on_handshake_wait : NULL, ctx);
            ctx->tlsio = true;
        }
    }
}

/*
 * Accepts connections and hands each to libmicrohttpd. The connection cap is enforced here,
 * not by libmicrohttpd (see start_daemon()): while the table is full nothing is accepted, so
 * clients wait in the listen backlog. srv_httpd_quiesce() ends the loop by shutting the socket
 * down, which wakes a blocked accept(), and by waking srv_conns_wait_room().
 */
static void *accept_main(void *arg)
{
    struct srv_httpd *h = arg;

    while (srv_conns_wait_room(h->conns, h->listen_fd, &h->quiesced)) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int fd = accept(h->listen_fd, (struct sockaddr *)&peer, &len);
        int idx;

        if (fd < 0) {
            const struct timespec pause = {0, 50 * 1000 * 1000};

            /* Out of descriptors or memory: wait for connections to end rather than spin. */
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                nanosleep(&pause, NULL);
            continue;
        }
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        idx = srv_conns_add(h->conns, fd);
        if (idx < 0) {
            close(fd);
            continue;
        }
        /* On failure libmicrohttpd has closed the socket, and tells nobody else. */
        if (MHD_add_connection(h->daemon, fd, (const struct sockaddr *)&peer, len) != MHD_YES)
            srv_conns_forget(h->conns, idx);
    }
    return NULL;
}

/* Binds and listens on `sa`; the socket or -1 with `diag` set. */
static int open_listener(const struct sockaddr *sa, struct og_diag *diag)
{
    socklen_t len =
        sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int one = 1;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        og_diag_set(diag, OG_EIO, "socket: %s", strerror(errno));
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        (sa->sa_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
        bind(fd, sa, len) != 0 || listen(fd, 1024) != 0) {
        og_diag_set(diag, OG_EIO, "cannot listen: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * libmicrohttpd's connection limit, set so high that it is never reached. In 0.9.75 a worker
 * that reaches its share of the limit (the limit divided by the pool size) while taking over an
 * added connection returns with its cleanup mutex still locked (new_connection_process_(),
 * "Server reached connection limit"): every worker then blocks for good, and so does
 * MHD_stop_daemon(). Connections handed over with MHD_add_connection() are counted by a worker
 * only when it takes them over, so a burst passes the unlocked check in MHD_add_connection() and
 * trips the locked one. Hence ocigate caps connections itself (conns.h) and gives each worker a
 * share above its whole cap: a worker never holds more than the cap, plus the one connection it
 * still counts for a moment after reporting it closed. (The per-IP limit, the other way into
 * that branch, stays off.)
 */
static unsigned mhd_conn_limit(unsigned max_conns, unsigned threads)
{
    return (max_conns + 16u) * (threads > 1 ? threads : 1u);
}

/*
 * Every libmicrohttpd option in one place, each value cast to the exact type that
 * microhttpd.h documents for it (the options are read back with va_arg).
 */
static struct MHD_Daemon *start_daemon(struct srv_httpd *h, const struct srv_httpd_opts *o,
                                       const struct sockaddr *sa)
{
    /*
     * The listen socket is ours (see accept_main): libmicrohttpd's MHD_quiesce_daemon() races
     * with its own epoll workers in 0.9.75 (both remove the listen FD from the epoll set and
     * the loser aborts the process with "Failed to remove listen FD from epoll set").
     */
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                         MHD_ALLOW_SUSPEND_RESUME | MHD_USE_NO_LISTEN_SOCKET;
    /* One worker is the polling thread itself: libmicrohttpd warns about a pool of size 1. */
    struct MHD_OptionItem pool[] = {
        {o->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, (intptr_t)o->threads, NULL},
        {MHD_OPTION_END, 0, NULL}};
    /*
     * The credentials come from on_cert() in each handshake, unless this is the plain metrics
     * listener (no TLS options at all). An option item holds a pointer as `void *`, which
     * libmicrohttpd hands on as the option's one pointer argument (daemon.c parse_options_va()).
     */
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_CERT_CALLBACK, 0, (void *)(uintptr_t)on_cert},
        {MHD_OPTION_HTTPS_PRIORITIES, 0,
         (void *)(uintptr_t)(o->tls13_only ? TLS13_PRIORITIES : TLS_PRIORITIES)},
        {MHD_OPTION_END, 0, NULL}};

    if (o->metrics_only)
        tls[0].option = MHD_OPTION_END;
    else
        flags |= MHD_USE_TLS;
    if (sa->sa_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* clang-format off */
    /* The logger goes first so that libmicrohttpd routes even option errors through it. */
    return MHD_start_daemon(
        flags, (uint16_t)0, NULL, NULL, on_request, (void *)h,
        MHD_OPTION_EXTERNAL_LOGGER, (MHD_LogCallback)on_mhd_log, (void *)h,
        MHD_OPTION_ARRAY, (struct MHD_OptionItem *)tls,
        MHD_OPTION_ARRAY, (struct MHD_OptionItem *)pool,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)o->conn_timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)mhd_conn_limit(o->max_conns, o->threads),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)o->conn_memory,
        MHD_OPTION_NOTIFY_COMPLETED, (MHD_RequestCompletedCallback)on_completed, (void *)h,
        MHD_OPTION_NOTIFY_CONNECTION, (MHD_NotifyConnectionCallback)on_connection, (void *)h,
        MHD_OPTION_END);
    /* clang-format on */
}

/* "HOST:PORT", "[V6]:PORT" or ":PORT" into a socket address. */
static enum og_err parse_listen(const char *listen, struct sockaddr_storage *ss,
                                struct og_diag *diag)
{
    char host[256];
    const char *port_s, *colon;
    struct addrinfo hints, *res = NULL;
    uint64_t port;
    size_t hlen;
    int gai;

    const char *hstart;

    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');

        if (close == NULL || close[1] != ':')
            return og_diag_set(diag, OG_EINVAL, "bad listen address '%s' (want [V6ADDR]:PORT)",
                               listen);
        hstart = listen + 1;
        hlen = (size_t)(close - hstart);
        port_s = close + 2;
    } else {
        colon = strrchr(listen, ':');
        if (colon == NULL)
            return og_diag_set(diag, OG_EINVAL, "bad listen address '%s' (want ADDR:PORT)", listen);
        hstart = listen;
        hlen = (size_t)(colon - listen);
        port_s = colon + 1;
    }
    if (hlen >= sizeof(host))
        return og_diag_set(diag, OG_EINVAL, "listen address too long");
    memcpy(host, hstart, hlen);
    host[hlen] = '\0';
    if (og_config_value_parse(OG_CONFIG_NUMBER, port_s, strlen(port_s), 0, 65535, &port, NULL) !=
        OG_OK)
        return og_diag_set(diag, OG_EINVAL, "bad port in listen address '%s'", listen);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = listen[0] == '[' ? AF_INET6 : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    gai = getaddrinfo(hlen > 0 ? host : "0.0.0.0", NULL, &hints, &res);
    if (gai != 0)
        return og_diag_set(diag, OG_EINVAL, "cannot resolve listen host '%s': %s", host,
                           gai_strerror(gai));
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, res->ai_addr, res->ai_addrlen < sizeof(*ss) ? res->ai_addrlen : sizeof(*ss));
    freeaddrinfo(res);
    if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    else if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    else
        return og_diag_set(diag, OG_EINVAL, "listen host '%s' is not an IP address", host);
    return OG_OK;
}

enum og_err srv_httpd_start(const struct srv_httpd_opts *opts, struct srv_httpd **out,
                            struct og_diag *diag)
{
    struct srv_httpd *h = NULL;
    struct sockaddr_storage ss;
    unsigned port;
    char ip[INET6_ADDRSTRLEN];
    enum og_err rc;

    rc = parse_listen(opts->listen, &ss, diag);
    if (rc != OG_OK)
        goto out;
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        rc = og_diag_set(diag, OG_ENOMEM, "out of memory");
        goto out;
    }
    h->listen_fd = -1;
    h->index_cache = opts->metrics_only ? NULL : opts->index_cache;
    h->tls = opts->metrics_only ? NULL : opts->tls;
    h->metrics_only = opts->metrics_only;
    srv_body_budget_init(&h->budget,
                         opts->body_budget > 0 ? opts->body_budget : SRV_HTTPD_BODY_BUDGET);
    atomic_init(&h->draining, false);
    atomic_init(&h->quiesced, false);
    atomic_init(&h->inflight, 0);
    atomic_init(&h->mhd_log_sec, 0);
    atomic_init(&h->mhd_log_n, 0);
    atomic_init(&h->mhd_log_suppressed, 0);
    h->listen_fd = open_listener((const struct sockaddr *)&ss, diag);
    if (h->listen_fd < 0) {
        char why[256];

        (void)snprintf(why, sizeof(why), "%s", diag != NULL ? diag->msg : "");
        rc = og_diag_set(diag, OG_EIO, "cannot start the %s server on %s: %s",
                         opts->metrics_only ? "metrics" : "HTTPS", opts->listen, why);
        goto out;
    }
    {
        struct srv_conns_opts co = {opts->max_conns,
                                    opts->request_timeout_ms > 0 ? opts->request_timeout_ms
                                                                 : SRV_HTTPD_REQUEST_TIMEOUT_MS,
                                    CONNS_TICK_MS};

        rc = srv_conns_new(&co, &h->conns);
        if (rc != OG_OK) {
            og_diag_set(diag, rc, "cannot set up the connection table: %s", og_strerror(rc));
            goto out;
        }
    }
    if (h->tls != NULL) {
        rc = srv_waiter_new(resume_handshake, &h->hs_waiter);
        if (rc != OG_OK) {
            og_diag_set(diag, rc, "cannot start the handshake waiter: %s", og_strerror(rc));
            goto out;
        }
    }
    h->daemon = start_daemon(h, opts, (const struct sockaddr *)&ss);
    if (h->daemon == NULL) {
        rc = og_diag_set(diag, OG_EIO,
                         opts->metrics_only ? "cannot start the metrics server on %s (see the "
                                              "libmicrohttpd message above)"
                                            : "cannot start the HTTPS server on %s (see the "
                                              "libmicrohttpd message above)",
                         opts->listen);
        goto out;
    }
    if (pthread_create(&h->accept_thread, NULL, accept_main, h) != 0) {
        rc = og_diag_set(diag, OG_EIO, "cannot start the accept thread");
        goto out;
    }
    h->accepting = true;
    {
        struct sockaddr_storage bound;
        socklen_t blen = sizeof(bound);

        if (getsockname(h->listen_fd, (struct sockaddr *)&bound, &blen) == 0)
            ss = bound;
    }
    port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                    : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof(ip));
    else
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof(ip));
    (void)snprintf(h->addr, sizeof(h->addr), ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip,
                   port);
    *out = h;
    h = NULL;
out:
    /* No connection was handed over (the accept thread did not start): none is parked. */
    if (h != NULL && h->daemon != NULL)
        MHD_stop_daemon(h->daemon);
    if (h != NULL)
        srv_waiter_free(h->hs_waiter);
    if (h != NULL && h->listen_fd >= 0)
        close(h->listen_fd);
    if (h != NULL)
        srv_conns_free(h->conns);
    free(h);
    return rc;
}

const char *srv_httpd_addr(const struct srv_httpd *h)
{
    return h->addr;
}

void srv_httpd_set_draining(struct srv_httpd *h)
{
    atomic_store(&h->draining, true);
}

void srv_httpd_quiesce(struct srv_httpd *h)
{
    if (atomic_exchange(&h->quiesced, true))
        return;
    /*
     * shutdown(2) of a listening socket wakes the blocked accept() and makes the kernel refuse
     * new clients at once, instead of completing handshakes into a backlog nobody reads.
     */
    (void)shutdown(h->listen_fd, SHUT_RDWR);
    srv_conns_wake(h->conns);
    if (h->accepting)
        pthread_join(h->accept_thread, NULL);
    h->accepting = false;
    close(h->listen_fd);
    h->listen_fd = -1;
}

unsigned srv_httpd_inflight(const struct srv_httpd *h)
{
    return atomic_load(&h->inflight);
}

bool srv_httpd_wait_idle(const struct srv_httpd *h, unsigned timeout_ms)
{
    const struct timespec tick = {0, 10 * 1000 * 1000};
    struct timespec start;

    clock_gettime(CLOCK_MONOTONIC, &start);
    while (atomic_load(&h->inflight) != 0) {
        if (elapsed_us(&start) >= (uint64_t)timeout_ms * 1000)
            return false;
        nanosleep(&tick, NULL);
    }
    return true;
}

void srv_httpd_stop(struct srv_httpd *h)
{
    if (h == NULL)
        return;
    srv_httpd_quiesce(h);
    /*
     * libmicrohttpd must not stop with a connection suspended: parked handshakes are resumed
     * first (a handshake parked from now on is resumed at once, as the waiter takes no more).
     */
    srv_waiter_stop(h->hs_waiter);
    MHD_stop_daemon(h->daemon);
    srv_waiter_free(h->hs_waiter);
    srv_conns_free(h->conns);
    free(h);
}
