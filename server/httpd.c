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

#include "args.h"
#include "index_cache.h"
#include "log.h"
#include "snapshot.h"
#include "tls.h"

#include "ocigate/buf.h"
#include "ocigate/config.h"
#include "ocigate/policy.h"
#include "ocigate/review.h"
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

/* Largest admission response: a decision is a few kB; anything near this is a bug. */
#define RESPONSE_MAX (1024 * 1024)

/* Most body bytes reserved from Content-Length before they arrive. */
#define BODY_PRERESERVE (256u << 10)

/* Largest error body. */
#define ERROR_MAX 1024

/*
 * Bytes of a rejected request body that are read and dropped before the connection is cut:
 * draining keeps the connection usable and lets the client read the error, but a client
 * streaming without end gets dropped.
 */
#define DISCARD_SLACK ((uint64_t)1 << 20)

struct srv_httpd {
    struct MHD_Daemon *daemon;
    atomic_bool draining;
    atomic_bool quiesced;
    atomic_uint inflight;
    int listen_fd;                       /* ours: libmicrohttpd gets each accepted connection */
    unsigned conn_timeout_s;             /* also the longest a request body may take to arrive */
    pthread_t accept_thread;             /* accept_main() */
    bool accepting;                      /* accept_thread runs */
    struct srv_index_cache *index_cache; /* lent by the caller; NULL: no live analysis */
    char addr[INET6_ADDRSTRLEN + 16];
};

enum route { ROUTE_NONE, ROUTE_MUTATE, ROUTE_VALIDATE, ROUTE_HEALTHZ, ROUTE_READYZ };

enum phase {
    PHASE_RECV,       /* headers and body arriving */
    PHASE_INDEX_WAIT, /* parked at the index hook, the connection suspended */
    PHASE_DONE        /* a response is queued */
};

struct srv_request {
    struct srv_httpd *httpd;
    struct MHD_Connection *conn;
    struct og_config *cfg; /* the snapshot this request runs on, acquired at its start */
    enum route route;
    enum phase phase;
    unsigned status; /* an error answer decided before the body ended, or 0 */
    char error[192]; /* its message */
    struct og_buf body;
    uint64_t discarded; /* body bytes dropped because an error was already known */
    struct timespec start;
    struct og_review *rv;
    char *index_url; /* what og_policy_index_target() named, or NULL */
    struct og_index_verdict verdict;
    bool have_verdict;
};

/* Microseconds since `start`, on the monotonic clock. */
static uint64_t elapsed_us(const struct timespec *start)
{
    struct timespec now;
    int64_t us;

    clock_gettime(CLOCK_MONOTONIC, &now);
    us = (int64_t)(now.tv_sec - start->tv_sec) * 1000000 + (now.tv_nsec - start->tv_nsec) / 1000;
    return us > 0 ? (uint64_t)us : 0;
}

static void request_free(struct srv_request *req)
{
    og_buf_cleanup(&req->body);
    og_review_free(req->rv);
    free(req->index_url);
    og_index_verdict_cleanup(&req->verdict);
    og_config_unref(req->cfg);
    free(req);
}

static void set_error(struct srv_request *req, unsigned status, const char *fmt, ...)
    OG_PRINTF(3, 4);

static void set_error(struct srv_request *req, unsigned status, const char *fmt, ...)
{
    va_list ap;

    req->status = status;
    va_start(ap, fmt);
    (void)vsnprintf(req->error, sizeof(req->error), fmt, ap);
    va_end(ap);
}

/* Queues `body` (`len` bytes; freed by libmicrohttpd with free() when `owned`). */
static enum MHD_Result queue(struct srv_request *req, unsigned status, char *body, size_t len,
                             bool owned)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (owned) {
        resp = MHD_create_response_from_buffer_with_free_callback(len, body, free);
        if (resp == NULL)
            free(body);
    } else {
        resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_PERSISTENT);
    }
    if (resp == NULL)
        return MHD_NO; /* out of memory: dropping the connection is all that is left */
    req->phase = PHASE_DONE;
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") != MHD_YES)
        goto fail;
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED &&
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
                                req->route == ROUTE_MUTATE || req->route == ROUTE_VALIDATE
                                    ? "POST"
                                    : "GET, HEAD") != MHD_YES)
        goto fail;
    /* While draining, clients are told to reconnect (to another replica). */
    if (atomic_load(&req->httpd->draining) &&
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES)
        goto fail;
    ret = MHD_queue_response(req->conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
fail:
    MHD_destroy_response(resp);
    return MHD_NO;
}

/* Queues {"error":"<msg>"} with `status`, and logs the rejection. */
static enum MHD_Result queue_error(struct srv_request *req, unsigned status, const char *msg)
{
    char esc[ERROR_MAX / 2];
    char *body = malloc(ERROR_MAX);
    int n;

    srv_log_escape(esc, sizeof(esc), msg);
    if (srv_log_enabled(SRV_LOG_INFO)) {
        char fields[ERROR_MAX];

        n = snprintf(fields, sizeof(fields), "\"status\":%u,\"error\":\"%s\"", status, esc);
        if (n > 0 && (size_t)n < sizeof(fields))
            srv_log_raw(SRV_LOG_INFO, "request rejected", fields);
    }
    if (body == NULL)
        return MHD_NO;
    n = snprintf(body, ERROR_MAX, "{\"error\":\"%s\"}", esc);
    if (n < 0 || (size_t)n >= ERROR_MAX) {
        free(body);
        return MHD_NO;
    }
    return queue(req, status, body, (size_t)n, true);
}

/*
 * A bounded appender for the fields of a log line, without printf: this runs for every
 * admission, and formatting was a visible share of the server's time. A field that does not
 * fit ends the line, which stays valid JSON.
 */
struct fields {
    char buf[2048];
    size_t len;
    bool full;
};

/* Appends `,"key":` (no comma first); false when the key and `extra` more bytes do not fit. */
static bool field_key(struct fields *f, const char *key, size_t extra)
{
    size_t klen = strlen(key);

    if (f->full || f->len + klen + 4 + extra >= sizeof(f->buf)) {
        f->full = true;
        return false;
    }
    if (f->len > 0)
        f->buf[f->len++] = ',';
    f->buf[f->len++] = '"';
    memcpy(f->buf + f->len, key, klen);
    f->len += klen;
    f->buf[f->len++] = '"';
    f->buf[f->len++] = ':';
    f->buf[f->len] = '\0';
    return true;
}

static void field_str(struct fields *f, const char *key, const char *val)
{
    /* Room for the quotes and one byte: the value is cut (on an escape boundary) if long. */
    if (!field_key(f, key, 3))
        return;
    f->buf[f->len++] = '"';
    f->len += srv_log_escape(f->buf + f->len, sizeof(f->buf) - f->len - 1, val);
    f->buf[f->len++] = '"';
    f->buf[f->len] = '\0';
}

/* A JSON literal known to need no escaping: true, false, a number. */
static void field_lit(struct fields *f, const char *key, const char *lit)
{
    size_t len = strlen(lit);

    if (!field_key(f, key, len))
        return;
    memcpy(f->buf + f->len, lit, len + 1);
    f->len += len;
}

/* Decimal digits of `v` into the end of `tmp` (24 bytes); returns the first digit. */
static char *u64_digits(uint64_t v, char tmp[24])
{
    char *p = tmp + 23;

    *p = '\0';
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return p;
}

static void field_uint(struct fields *f, const char *key, uint64_t v)
{
    char tmp[24];

    field_lit(f, key, u64_digits(v, tmp));
}

/* Microseconds as milliseconds with three decimals ("0.036"). */
static void field_ms(struct fields *f, const char *key, uint64_t us)
{
    char tmp[32];
    char digits[24];
    const char *ms = u64_digits(us / 1000, digits);
    size_t n = strlen(ms);
    unsigned frac = (unsigned)(us % 1000);

    memcpy(tmp, ms, n);
    tmp[n++] = '.';
    tmp[n++] = (char)('0' + frac / 100);
    tmp[n++] = (char)('0' + frac / 10 % 10);
    tmp[n++] = (char)('0' + frac % 10);
    tmp[n] = '\0';
    field_lit(f, key, tmp);
}

static void log_admission(const struct srv_request *req, const struct og_decision *d,
                          uint64_t latency_us)
{
    const struct og_review_request *r = og_review_get_request(req->rv);
    struct fields f;

    if (!srv_log_enabled(SRV_LOG_INFO))
        return;
    f.len = 0;
    f.full = false;
    f.buf[0] = '\0';
    field_str(&f, "uid", r->uid);
    field_str(&f, "kind", r->kind);
    field_str(&f, "namespace", r->namespace_);
    field_str(&f, "name", r->name);
    field_str(&f, "op", r->operation);
    field_str(&f, "endpoint", req->route == ROUTE_MUTATE ? "mutate" : "validate");
    field_str(&f, "mode", og_mode_name(d->mode));
    field_lit(&f, "dry_run", r->dry_run ? "true" : "false");
    field_ms(&f, "latency_ms", latency_us);
    field_lit(&f, "allowed", d->allowed ? "true" : "false");
    field_uint(&f, "patch_ops", d->patch_ops);
    field_uint(&f, "warnings", d->n_warnings);
    field_str(&f, "rule", og_rule_name(d->rule));
    if (req->index_url != NULL)
        field_str(&f, "index_url", req->index_url);
    if (req->have_verdict) {
        field_str(&f, "index", og_index_state_name(req->verdict.state));
        if (req->verdict.detail != NULL)
            field_str(&f, "index_detail", req->verdict.detail);
    }
    srv_log_raw(SRV_LOG_INFO, "admission", f.buf);
}

/* Policy, encoding and queueing: the end of every admission. */
static enum MHD_Result decide(struct srv_request *req)
{
    enum og_endpoint ep = req->route == ROUTE_MUTATE ? OG_ENDPOINT_MUTATE : OG_ENDPOINT_VALIDATE;
    struct og_decision dec;
    struct og_buf out;
    enum MHD_Result ret;
    enum og_err rc;
    char *body;
    size_t len;

    memset(&dec, 0, sizeof(dec));
    og_buf_init(&out, RESPONSE_MAX);
    rc = og_policy_eval(req->cfg, req->rv, ep, req->have_verdict ? &req->verdict : NULL, &dec);
    if (rc == OG_OK)
        rc = og_review_encode(req->rv, &dec, &out);
    if (rc != OG_OK) {
        og_buf_cleanup(&out);
        og_decision_cleanup(&dec);
        srv_logf(SRV_LOG_ERROR, "admission failed: %s", og_strerror(rc));
        return queue_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, og_strerror(rc));
    }
    body = og_buf_take(&out, &len);
    if (body == NULL) {
        og_decision_cleanup(&dec);
        return MHD_NO;
    }
    log_admission(req, &dec, elapsed_us(&req->start));
    og_decision_cleanup(&dec);
    ret = queue(req, MHD_HTTP_OK, body, len, true);
    return ret;
}

enum hook_result { HOOK_READY, HOOK_SUSPENDED, HOOK_ENOMEM };

/*
 * ======================== INDEX ANALYSIS HOOK ========================
 * The one place where live index analysis joins the request path (see httpd.h).
 * og_policy_index_target() names the normalized repository url when no static rule decides;
 * req->index_url keeps it for the lifetime of the request. Then the index cache:
 *   warm url:  its verdict at once (a plain lookup without a wake: no waiting, no I/O);
 *   cold url:  the lookup starts (or joins) the fetch and gives PENDING; the connection is
 *              suspended and a second lookup registers index_wake(). When the fetch ends or
 *              the budget passes, a cache thread calls index_wake() -> srv_request_resume(),
 *              and the handler's next call (PHASE_INDEX_WAIT) looks up once more without a
 *              wake: the verdict, or PENDING past the budget (the policy then follows
 *              on_unknown). The fetch itself goes on into the cache for later admissions.
 * No worker thread ever waits on the network: fetches run on the cache's own threads.
 */

/* The cache's wake callback: `arg` is the parked request. Called exactly once per wait. */
static void index_wake(void *arg)
{
    srv_request_resume(arg, NULL);
}

static enum hook_result index_hook(struct srv_request *req)
{
    struct srv_index_cache *cache = req->httpd->index_cache;
    uint64_t deadline;

    if (og_policy_index_target(req->cfg, req->rv, &req->index_url) != OG_OK)
        return HOOK_ENOMEM;
    if (req->index_url == NULL || cache == NULL)
        return HOOK_READY;
    /* --- begin: index cache lookup (branch fetch) --- */
    (void)srv_index_cache_lookup(cache, req->cfg, req->index_url, 0, &req->verdict, NULL, NULL);
    req->have_verdict = true;
    deadline = srv_index_now_ms() + req->cfg->index.budget_ms;
    if (req->verdict.state != OG_INDEX_STATE_PENDING || req->cfg->index.budget_ms == 0)
        return HOOK_READY;
    og_index_verdict_cleanup(&req->verdict);
    req->have_verdict = false;
    /*
     * Suspend before the waiter is registered: its wake may come from another thread at once,
     * and libmicrohttpd can only resume a connection that is already suspended (a resume that
     * comes first is lost, leaving the connection parked until its timeout).
     */
    req->phase = PHASE_INDEX_WAIT;
    MHD_suspend_connection(req->conn);
    if (srv_index_cache_lookup(cache, req->cfg, req->index_url, deadline, &req->verdict, index_wake,
                               req) == SRV_INDEX_READY) {
        /* It completed meanwhile: resume at once; the next call decides. */
        req->have_verdict = true;
        MHD_resume_connection(req->conn);
    }
    /* --- end: index cache lookup --- */
    return HOOK_SUSPENDED;
}

/* The handler's call after a resume: the verdict now, or PENDING when the budget passed. */
static void index_after_wait(struct srv_request *req)
{
    struct srv_index_cache *cache = req->httpd->index_cache;

    if (req->have_verdict || cache == NULL || req->index_url == NULL)
        return;
    (void)srv_index_cache_lookup(cache, req->cfg, req->index_url, 0, &req->verdict, NULL, NULL);
    req->have_verdict = true;
}

void srv_request_resume(struct srv_request *req, struct og_index_verdict *verdict)
{
    if (verdict != NULL) {
        req->verdict = *verdict;
        memset(verdict, 0, sizeof(*verdict));
        req->have_verdict = true;
    }
    /* MHD_resume_connection() takes the daemon's lock, which orders the writes above before
     * the worker's next handler call. */
    MHD_resume_connection(req->conn);
}

/* The final call of an admission: decode, consult the index, decide. */
static enum MHD_Result admit(struct srv_request *req)
{
    struct og_diag diag;
    char where[512];
    enum og_err rc;

    if (req->body.len == 0)
        return queue_error(req, MHD_HTTP_BAD_REQUEST, "empty request body");
    og_diag_clear(&diag);
    rc = og_review_decode(req->body.ptr, req->body.len, &req->rv, &diag);
    if (rc == OG_ENOMEM)
        return queue_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, og_strerror(rc));
    if (rc != OG_OK) {
        char msg[600];

        og_diag_format(&diag, where, sizeof(where));
        (void)snprintf(msg, sizeof(msg), "invalid AdmissionReview: %s",
                       where[0] != '\0' ? where : og_strerror(rc));
        return queue_error(req, MHD_HTTP_BAD_REQUEST, msg);
    }
    /* The review owns a parsed copy; the raw body is not needed any more. */
    og_buf_cleanup(&req->body);
    switch (index_hook(req)) {
    case HOOK_READY:
        break;
    case HOOK_SUSPENDED:
        return MHD_YES;
    case HOOK_ENOMEM:
        return queue_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, og_strerror(OG_ENOMEM));
    }
    return decide(req);
}

static enum route route_of(const char *url)
{
    /* libmicrohttpd hands over the path without the query string. */
    if (strcmp(url, "/mutate") == 0)
        return ROUTE_MUTATE;
    if (strcmp(url, "/validate") == 0)
        return ROUTE_VALIDATE;
    if (strcmp(url, "/healthz") == 0)
        return ROUTE_HEALTHZ;
    if (strcmp(url, "/readyz") == 0)
        return ROUTE_READYZ;
    return ROUTE_NONE;
}

/* application/json, any case, optionally followed by parameters (`; charset=utf-8`). */
static bool is_json_media_type(const char *value)
{
    const struct og_str json = OG_STR_LIT("application/json");
    struct og_str s = og_str_trim(og_str_of(value));
    char c;

    if (!og_str_has_prefix(s, json, true))
        return false;
    if (s.len == json.len)
        return true;
    c = s.ptr[json.len];
    return c == ';' || c == ' ' || c == '\t';
}

/* Checks what the headers allow; may answer 413 at once. */
static enum MHD_Result check_headers(struct srv_request *req, const char *method)
{
    struct MHD_Connection *conn = req->conn;
    const char *ct, *cl;
    uint64_t len = 0;

    if (req->route == ROUTE_NONE) {
        set_error(req, MHD_HTTP_NOT_FOUND, "no such endpoint");
        return MHD_YES;
    }
    if (req->route == ROUTE_HEALTHZ || req->route == ROUTE_READYZ) {
        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
            set_error(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method %.16s not allowed", method);
        return MHD_YES;
    }
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
        set_error(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method %.16s not allowed", method);
        return MHD_YES;
    }
    og_buf_init(&req->body, (size_t)req->cfg->max_body);
    ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (ct == NULL || !is_json_media_type(ct)) {
        set_error(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json");
        return MHD_YES;
    }
    cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl == NULL || srv_args_parse_u64(cl, 0, UINT64_MAX, &len) != OG_OK)
        return MHD_YES; /* chunked: the accumulated size is checked as it arrives */
    if (len > req->cfg->max_body) {
        char msg[96];

        /* Answered before the body is read: the client need not send it at all. */
        (void)snprintf(msg, sizeof(msg), "request body exceeds %llu bytes",
                       (unsigned long long)req->cfg->max_body);
        return queue_error(req, MHD_HTTP_CONTENT_TOO_LARGE, msg);
    }
    /*
     * One allocation of the announced size instead of repeated doubling, up to a point: the
     * header alone must not make every connection hold the whole cap before any byte.
     */
    if (len > BODY_PRERESERVE)
        len = BODY_PRERESERVE;
    if (len > 0 && og_buf_reserve(&req->body, (size_t)len) != OG_OK)
        set_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", og_strerror(OG_ENOMEM));
    return MHD_YES;
}

static enum MHD_Result on_body(struct srv_request *req, const char *data, size_t size)
{
    uint64_t cap = req->cfg->max_body;

    /*
     * libmicrohttpd's connection timeout counts idle time only: a client that drips a byte at
     * a time would hold its connection (and a connection slot) for ever. The whole body must
     * arrive within the same number of seconds.
     */
    if (elapsed_us(&req->start) > (uint64_t)req->httpd->conn_timeout_s * 1000000u) {
        srv_log(SRV_LOG_WARN, "dropping a connection whose body arrives too slowly", NULL);
        return MHD_NO;
    }
    /* Only an admission whose headers passed keeps its body; other bodies are dropped. */
    if (req->status == 0 && (req->route == ROUTE_MUTATE || req->route == ROUTE_VALIDATE)) {
        enum og_err rc = og_buf_append(&req->body, data, size);

        if (rc == OG_OK)
            return MHD_YES;
        req->discarded = req->body.len;
        og_buf_cleanup(&req->body);
        if (rc == OG_ETOOBIG)
            set_error(req, MHD_HTTP_CONTENT_TOO_LARGE, "request body exceeds %llu bytes",
                      (unsigned long long)cap);
        else
            set_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", og_strerror(rc));
    }
    req->discarded += size;
    /* 413 only when nothing else was wrong first: a 415 stays a 415 however large. */
    if (req->discarded > cap && req->status == 0)
        set_error(req, MHD_HTTP_CONTENT_TOO_LARGE, "request body exceeds %llu bytes",
                  (unsigned long long)cap);
    if (req->discarded > 2 * cap + DISCARD_SLACK) {
        srv_log(SRV_LOG_WARN, "dropping a connection streaming an oversized body", NULL);
        return MHD_NO;
    }
    return MHD_YES;
}

static enum MHD_Result finish(struct srv_request *req)
{
    static char ok[] = "{\"status\":\"ok\"}";
    static char draining[] = "{\"status\":\"draining\"}";

    if (req->phase == PHASE_INDEX_WAIT) {
        index_after_wait(req);
        return decide(req);
    }
    if (req->phase == PHASE_DONE)
        return MHD_YES;
    if (req->status != 0)
        return queue_error(req, req->status, req->error);
    switch (req->route) {
    case ROUTE_HEALTHZ:
        return queue(req, MHD_HTTP_OK, ok, sizeof(ok) - 1, false);
    case ROUTE_READYZ:
        if (atomic_load(&req->httpd->draining))
            return queue(req, MHD_HTTP_SERVICE_UNAVAILABLE, draining, sizeof(draining) - 1, false);
        return queue(req, MHD_HTTP_OK, ok, sizeof(ok) - 1, false);
    case ROUTE_MUTATE:
    case ROUTE_VALIDATE:
        return admit(req);
    case ROUTE_NONE:
        break;
    }
    return queue_error(req, MHD_HTTP_NOT_FOUND, "no such endpoint");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct srv_httpd *h = cls;
    struct srv_request *req = *con_cls;

    (void)version;
    if (req == NULL) {
        req = calloc(1, sizeof(*req));
        if (req == NULL)
            return MHD_NO;
        req->httpd = h;
        req->conn = conn;
        clock_gettime(CLOCK_MONOTONIC, &req->start);
        req->route = route_of(url);
        req->cfg = srv_snapshot_acquire();
        og_buf_init(&req->body, 0);
        *con_cls = req;
        atomic_fetch_add(&h->inflight, 1);
        return check_headers(req, method);
    }
    if (*upload_data_size != 0) {
        size_t size = *upload_data_size;

        /* Never queue a response here: libmicrohttpd refuses one while the body arrives. */
        *upload_data_size = 0;
        return on_body(req, upload_data, size);
    }
    return finish(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct srv_httpd *h = cls;
    struct srv_request *req = *con_cls;

    (void)conn;
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

static void on_mhd_log(void *cls, const char *fmt, va_list ap) OG_PRINTF(2, 0);

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    int n;

    (void)cls;
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (n < 0)
        return;
    n = (size_t)n < sizeof(msg) ? n : (int)sizeof(msg) - 1;
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    srv_log(SRV_LOG_WARN, msg, "source", "libmicrohttpd", NULL);
}

/*
 * Every libmicrohttpd option in one place, each value cast to the exact type that
 * microhttpd.h documents for it (the options are read back with va_arg).
 */
/*
 * Accepts connections and hands each to libmicrohttpd (which spreads them over its workers
 * and closes a socket it cannot take). srv_httpd_quiesce() ends the loop by shutting the
 * socket down, which wakes the blocked accept().
 */
static void *accept_main(void *arg)
{
    struct srv_httpd *h = arg;

    while (!atomic_load(&h->quiesced)) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int fd = accept(h->listen_fd, (struct sockaddr *)&peer, &len);

        if (fd < 0) {
            const struct timespec pause = {0, 50 * 1000 * 1000};

            if (atomic_load(&h->quiesced))
                break;
            /* Out of descriptors or memory: wait for connections to end rather than spin. */
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                nanosleep(&pause, NULL);
            continue;
        }
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        (void)MHD_add_connection(h->daemon, fd, (const struct sockaddr *)&peer, len);
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

static struct MHD_Daemon *start_daemon(struct srv_httpd *h, const struct srv_httpd_opts *o,
                                       const struct sockaddr *sa, const char *cert, const char *key)
{
    /*
     * The listen socket is ours (see accept_main): libmicrohttpd's MHD_quiesce_daemon() races
     * with its own epoll workers in 0.9.75 (both remove the listen FD from the epoll set and
     * the loser aborts the process with "Failed to remove listen FD from epoll set").
     */
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TLS |
                         MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_NO_LISTEN_SOCKET;
    /* One worker is the polling thread itself: libmicrohttpd warns about a pool of size 1. */
    struct MHD_OptionItem pool[] = {
        {o->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, (intptr_t)o->threads, NULL},
        {MHD_OPTION_END, 0, NULL}};

    if (sa->sa_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* clang-format off */
    /* The logger goes first so that libmicrohttpd routes even option errors through it. */
    return MHD_start_daemon(
        flags, (uint16_t)0, NULL, NULL, on_request, (void *)h,
        MHD_OPTION_EXTERNAL_LOGGER, (MHD_LogCallback)on_mhd_log, (void *)h,
        MHD_OPTION_HTTPS_MEM_CERT, (const char *)cert,
        MHD_OPTION_HTTPS_MEM_KEY, (const char *)key,
        MHD_OPTION_HTTPS_PRIORITIES,
            (const char *)(o->tls13_only ? TLS13_PRIORITIES : TLS_PRIORITIES),
        MHD_OPTION_ARRAY, (struct MHD_OptionItem *)pool,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)o->conn_timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)o->max_conns,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)o->conn_memory,
        MHD_OPTION_NOTIFY_COMPLETED, (MHD_RequestCompletedCallback)on_completed, (void *)h,
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
    if (srv_args_parse_u64(port_s, 0, 65535, &port) != OG_OK)
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
    char *cert = NULL, *key = NULL;
    size_t cert_len = 0, key_len = 0;
    struct sockaddr_storage ss;
    unsigned port;
    char ip[INET6_ADDRSTRLEN];
    enum og_err rc;

    rc = parse_listen(opts->listen, &ss, diag);
    if (rc != OG_OK)
        goto out;
    rc = srv_tls_read_pem(opts->cert_file, &cert, &cert_len, diag);
    if (rc != OG_OK)
        goto out;
    rc = srv_tls_read_pem(opts->key_file, &key, &key_len, diag);
    if (rc != OG_OK)
        goto out;
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        rc = og_diag_set(diag, OG_ENOMEM, "out of memory");
        goto out;
    }
    h->listen_fd = -1;
    h->conn_timeout_s = opts->conn_timeout_s > 0 ? opts->conn_timeout_s : 10;
    h->index_cache = opts->index_cache;
    atomic_init(&h->draining, false);
    atomic_init(&h->quiesced, false);
    atomic_init(&h->inflight, 0);
    h->listen_fd = open_listener((const struct sockaddr *)&ss, diag);
    if (h->listen_fd < 0) {
        char why[256];

        (void)snprintf(why, sizeof(why), "%s", diag != NULL ? diag->msg : "");
        rc =
            og_diag_set(diag, OG_EIO, "cannot start the HTTPS server on %s: %s", opts->listen, why);
        goto out;
    }
    h->daemon = start_daemon(h, opts, (const struct sockaddr *)&ss, cert, key);
    if (h->daemon == NULL) {
        rc = og_diag_set(diag, OG_EIO,
                         "cannot start the HTTPS server on %s (a bad certificate or key; see "
                         "the libmicrohttpd message above)",
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
    /* libmicrohttpd has parsed the credentials into GnuTLS; our copies go now. */
    srv_tls_wipe_free(cert, cert_len);
    srv_tls_wipe_free(key, key_len);
    if (h != NULL && h->daemon != NULL)
        MHD_stop_daemon(h->daemon);
    if (h != NULL && h->listen_fd >= 0)
        close(h->listen_fd);
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
    MHD_stop_daemon(h->daemon);
    free(h);
}
