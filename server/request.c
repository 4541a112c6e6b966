#include "request.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "prom.h"

#include "ocigate/json.h"
#include "ocigate/str.h"

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

void srv_body_budget_init(struct srv_body_budget *b, size_t max)
{
    atomic_init(&b->used, 0);
    b->max = max;
}

size_t srv_body_budget_used(const struct srv_body_budget *b)
{
    return atomic_load_explicit(&b->used, memory_order_relaxed);
}

/* Charges `n` bytes; false (nothing charged) when they do not fit. */
static bool budget_take(struct srv_body_budget *b, size_t n)
{
    size_t cur = atomic_load_explicit(&b->used, memory_order_relaxed);

    do {
        if (n > b->max - cur)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&b->used, &cur, cur + n, memory_order_relaxed,
                                                    memory_order_relaxed));
    return true;
}

static void budget_give(struct srv_body_budget *b, size_t n)
{
    if (n > 0)
        atomic_fetch_sub_explicit(&b->used, n, memory_order_relaxed);
}

void srv_response_cleanup(struct srv_response *resp)
{
    if (resp->owned)
        free(resp->body);
    memset(resp, 0, sizeof(*resp));
}

bool srv_response_error(struct srv_response *resp, unsigned status, const char *msg)
{
    char scratch[ERROR_MAX / 2];
    struct og_buf body;
    struct og_json w;
    size_t used;

    memset(resp, 0, sizeof(*resp));
    if (srv_log_enabled(SRV_LOG_INFO)) {
        struct srv_log_fields f;

        srv_log_fields_init(&f);
        srv_log_field_uint(&f, "status", status);
        srv_log_field_str(&f, "error", msg);
        srv_log_write(SRV_LOG_INFO, "request rejected", &f);
    }
    /* The body always fits: a message whose escaped form is longer than half of it is cut
     * (on an escape boundary), as a log line cuts it. */
    (void)og_json_escape(scratch, sizeof(scratch), og_str_of(msg), &used);
    og_buf_init(&body, ERROR_MAX);
    og_json_init(&w, &body);
    og_json_object_begin(&w);
    og_json_key(&w, "error");
    og_json_string(&w, (struct og_str){msg, used});
    og_json_object_end(&w);
    if (og_json_finish(&w) != OG_OK) {
        og_buf_cleanup(&body);
        return false;
    }
    resp->status = status;
    resp->body = og_buf_take(&body, &resp->len);
    resp->owned = true;
    return resp->body != NULL;
}

static void set_error(struct srv_req *r, unsigned status, const char *fmt, ...) OG_PRINTF(3, 4);

static void set_error(struct srv_req *r, unsigned status, const char *fmt, ...)
{
    va_list ap;

    r->status = status;
    va_start(ap, fmt);
    (void)vsnprintf(r->error, sizeof(r->error), fmt, ap);
    va_end(ap);
}

/* The answer to the error in `r`, with the headers that its status implies. */
static enum srv_req_next answer_error(const struct srv_req *r, struct srv_response *resp)
{
    if (!srv_response_error(resp, r->status, r->error))
        return SRV_REQ_DROP;
    if (r->status == 405)
        resp->allow =
            r->route == SRV_ROUTE_MUTATE || r->route == SRV_ROUTE_VALIDATE ? "POST" : "GET, HEAD";
    resp->retry_after = r->retry_after;
    return SRV_REQ_RESPOND;
}

/* An answer to framing RFC 9112 forbids: sent at once, then the connection is closed. */
static enum srv_req_next answer_framing(struct srv_req *r, unsigned status, const char *msg,
                                        struct srv_response *resp)
{
    set_error(r, status, "%s", msg);
    if (answer_error(r, resp) != SRV_REQ_RESPOND)
        return SRV_REQ_DROP;
    resp->close = true;
    return SRV_REQ_RESPOND;
}

static enum srv_route route_of(const char *path)
{
    /* libmicrohttpd hands over the path without the query string. */
    if (strcmp(path, "/mutate") == 0)
        return SRV_ROUTE_MUTATE;
    if (strcmp(path, "/validate") == 0)
        return SRV_ROUTE_VALIDATE;
    if (strcmp(path, "/healthz") == 0)
        return SRV_ROUTE_HEALTHZ;
    if (strcmp(path, "/readyz") == 0)
        return SRV_ROUTE_READYZ;
    if (strcmp(path, "/metrics") == 0)
        return SRV_ROUTE_METRICS;
    return SRV_ROUTE_NONE;
}

static bool is_admission(const struct srv_req *r)
{
    return r->route == SRV_ROUTE_MUTATE || r->route == SRV_ROUTE_VALIDATE;
}

void srv_req_begin(struct srv_req *r, const struct og_config *cfg, struct srv_body_budget *budget,
                   const char *method, const char *path, const char *version)
{
    memset(r, 0, sizeof(*r));
    r->cfg = cfg;
    r->budget = budget;
    r->route = route_of(path);
    r->http10 = strcmp(version, "HTTP/1.0") == 0;
    og_buf_init(&r->body, 0);
    if (r->route == SRV_ROUTE_NONE) {
        set_error(r, 404, "no such endpoint");
    } else if (r->route == SRV_ROUTE_HEALTHZ || r->route == SRV_ROUTE_READYZ ||
               r->route == SRV_ROUTE_METRICS) {
        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
            set_error(r, 405, "method %.16s not allowed", method);
    } else if (strcmp(method, "POST") != 0) {
        set_error(r, 405, "method %.16s not allowed", method);
    } else {
        og_buf_init(&r->body, (size_t)cfg->max_body);
    }
}

void srv_req_metrics_only(struct srv_req *r)
{
    if (r->route != SRV_ROUTE_METRICS) {
        r->route = SRV_ROUTE_NONE;
        set_error(r, 404, "no such endpoint (this listener serves /metrics only)");
    }
}

/*
 * RFC 9110 section 5.6.2: tchar, as a bitmap of the 256 byte values (bit c % 64 of word c / 64):
 * digits, letters and !#$%&'*+-.^_`|~. Every request runs each byte of its field names through
 * this, so it is one load rather than a chain of range tests and a strchr().
 */
static const uint64_t tchar_map[4] = {0x03ff6cfa00000000u, 0x57ffffffc7fffffeu, 0, 0};

static bool is_tchar(unsigned char c)
{
    return (tchar_map[c >> 6] >> (c & 63u) & 1u) != 0;
}

/*
 * Whether each of the eight bytes of `w` is an ASCII letter or '-', the bytes of the usual field
 * name, without a loop (each is a tchar). For a byte below 0x80, adding 0x1f sets its top bit
 * from 0x61 ('a') up and adding 0x05 from 0x7b up, without a carry into the next byte; with
 * 0x20 set first, so are the capitals. '-' is compared as it is: 0x0d (CR) | 0x20 is 0x2d too.
 * A byte from 0x80 up passes neither test in its own lane, whatever a carry brings in, so a
 * word with one fails (only such a byte carries into the next lane).
 */
static bool word_is_letters(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t low = w | ones * 0x20, dash = w ^ ones * 0x2d;
    uint64_t letter = (low + ones * 0x1f) & ~(low + ones * 0x05);
    uint64_t is_dash = ~((dash + ones * 0x7f) | dash);

    return ((letter | is_dash) & highs) == highs;
}

/*
 * Whether `word_ok` holds for every eight bytes of the `len` at `p`, read as words: eight at a
 * time, the last word overlapping the one before, and a run shorter than a word padded with the
 * bytes of `pad` (a word that passes). Inlined with its predicate.
 */
static inline bool all_words(const char *p, size_t len, uint64_t pad, bool (*word_ok)(uint64_t))
{
    uint64_t w = pad;

    if (len < 8) {
        memcpy(&w, p, len);
        return word_ok(w);
    }
    for (size_t i = 0; i + 8 <= len; i += 8) {
        memcpy(&w, p + i, 8);
        if (!word_ok(w))
            return false;
    }
    memcpy(&w, p + len - 8, 8);
    return word_ok(w);
}

/*
 * Whether the `len` bytes of `name` are all tchars: words of letters or dashes (all_words(), a
 * short name padded with letters) settle the usual name at once; any other name is looked at
 * byte by byte.
 */
static bool name_is_token(const char *name, size_t len)
{
    if (all_words(name, len, 0x6161616161616161u, word_is_letters))
        return len > 0;
    for (size_t i = 0; i < len; i++) {
        if (!is_tchar((unsigned char)name[i]))
            return false;
    }
    return len > 0;
}

/* A byte allowed in a field value: not a control character (RFC 9110 section 5.5) but HTAB. */
static bool ctl_ok(unsigned char c)
{
    return (c >= 0x20 || c == '\t') && c != 0x7f;
}

/*
 * Whether none of the eight bytes of `w` is below 0x20 or is 0x7f (HTAB included), without a
 * loop: subtracting 0x20 from every byte borrows into the top bit of a byte only for a byte
 * below 0x20 (or one that a lower byte's borrow reaches, and there is one then), and a byte
 * with its top bit set is none of them (the "hasless" and "haszero" bit tricks).
 */
static bool word_has_no_ctl(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t del = w ^ (ones * 0x7f);

    return ((((w - ones * 0x20) & ~w) | ((del - ones) & ~del)) & highs) == 0;
}

/*
 * Whether the `len` bytes at `v` hold a byte that ctl_ok() refuses. Words without a control
 * character (all_words(), a short value padded with spaces) clear the usual value at once; only
 * one with a control character (HTAB, say) is looked at byte by byte.
 */
static bool value_has_ctl(const char *v, size_t len)
{
    if (all_words(v, len, 0x2020202020202020u, word_has_no_ctl))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!ctl_ok((unsigned char)v[i]))
            return true;
    }
    return false;
}

/*
 * Whether the `len` bytes of `name` are `want`, in any case. Clients send the usual spelling,
 * which a plain comparison finds at once.
 */
static bool name_is(const char *name, size_t len, struct og_str want)
{
    struct og_str s = {name, len};

    return len == want.len && (memcmp(name, want.ptr, len) == 0 || og_str_ieq(s, want));
}

/* application/json, any case, optionally followed by parameters (`; charset=utf-8`). */
static bool is_json_media_type(const char *value, size_t len)
{
    const struct og_str json = OG_STR_LIT("application/json");
    struct og_str s;
    char c;

    /* The usual spelling, which needs neither trimming nor case folding. */
    if (len >= json.len && memcmp(value, json.ptr, json.len) == 0) {
        c = len == json.len ? ';' : value[json.len];
        if (c == ';' || c == ' ' || c == '\t')
            return true;
    }
    s = og_str_trim((struct og_str){value, len});
    if (!og_str_has_prefix(s, json, true))
        return false;
    if (s.len == json.len)
        return true;
    c = s.ptr[json.len];
    return c == ';' || c == ' ' || c == '\t';
}

void srv_req_header(struct srv_req *r, const char *name, size_t name_len, const char *value,
                    size_t value_len)
{
    bool name_ok = name_is_token(name, name_len), value_ok;

    /* RFC 9110 section 5.5: no CR, LF or NUL in a value; other controls but HTAB neither. */
    value_ok = !value_has_ctl(value, value_len);
    r->bad_name |= !name_ok;
    r->bad_value |= !value_ok;
    /* Compared by length first: most fields are none of these. */
    switch (name_len) {
    case 12:
        if (name_is(name, name_len, OG_STR_LIT("Content-Type")) && r->n_ct++ == 0)
            r->json = is_json_media_type(value, value_len);
        break;
    case 14:
        if (name_is(name, name_len, OG_STR_LIT("Content-Length")) && r->n_cl++ == 0) {
            r->cl = value;
            r->cl_len = value_len;
        }
        break;
    case 17:
        if (name_is(name, name_len, OG_STR_LIT("Transfer-Encoding")) && r->n_te++ == 0) {
            r->te = value;
            r->te_len = value_len;
        }
        break;
    default:
        break;
    }
}

void srv_req_obs_fold(struct srv_req *r)
{
    r->folded = true;
}

/*
 * RFC 9112 section 6.1: the codings of a Transfer-Encoding field. 0 when it is exactly
 * "chunked" (what libmicrohttpd de-chunks: any other spelling, even with trailing whitespace,
 * makes it read the body until the connection closes), else the status to answer: 501 for
 * another coding before a final chunked, 400 when chunked is not the final coding.
 */
static unsigned te_status(const char *te, size_t len)
{
    const struct og_str chunked = OG_STR_LIT("chunked");
    struct og_str s = {te, len};
    size_t comma;

    if (og_str_ieq(s, chunked))
        return 0;
    comma = og_str_rfind_char(s, ',');
    if (comma < s.len && og_str_ieq(og_str_trim(og_str_from(s, comma + 1)), chunked))
        return 501;
    return 400;
}

/* Content-Length: 1*DIGIT and nothing else (RFC 9110 section 8.6). */
static bool parse_length(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned)(s[i] - '0');

        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

enum grow_result { GROW_OK, GROW_TOOBIG, GROW_BUDGET, GROW_NOMEM };

/*
 * Makes room for `extra` more body bytes, charging the budget for what the buffer will really
 * allocate (its new capacity) before it is allocated. A body in the connection's spare is
 * charged as if it were on the heap: for the capacity the buffer would have without it
 * (`charged`), so that the budget says the same with a spare or without.
 */
static enum grow_result grow(struct srv_req *r, size_t extra)
{
    struct og_buf as_heap = r->body;
    size_t cap, delta;

    as_heap.cap = r->charged;
    cap = og_buf_capacity_for(&as_heap, extra);
    if (cap == 0)
        return GROW_TOOBIG;
    if (cap == r->charged)
        return GROW_OK;
    delta = cap - r->charged;
    if (!budget_take(r->budget, delta))
        return GROW_BUDGET;
    if (og_buf_reserve(&r->body, extra) != OG_OK) {
        budget_give(r->budget, delta);
        return GROW_NOMEM;
    }
    r->charged += delta;
    return GROW_OK;
}

void srv_req_spare_cleanup(struct srv_req_spare *spare)
{
    free(spare->ptr);
    spare->ptr = NULL;
    spare->cap = 0;
}

void srv_req_use_spare(struct srv_req *r, struct srv_req_spare *spare)
{
    if (!is_admission(r) || r->status != 0)
        return; /* its body is not kept */
    r->spare = spare;
    if (spare->ptr != NULL)
        og_buf_init_with(&r->body, (size_t)r->cfg->max_body, spare->ptr, spare->cap);
}

void srv_req_release_body(struct srv_req *r)
{
    struct srv_req_spare *spare = r->spare;
    size_t cap = r->body.cap;

    /* A body the heap holds becomes the spare, if it is small enough (the old spare goes). */
    if (spare != NULL && r->body.ptr != NULL && r->body.ptr != spare->ptr &&
        cap <= SRV_REQ_SPARE_MAX) {
        char *block = og_buf_take(&r->body, NULL); /* the block itself: it is on the heap */

        og_buf_init(&r->body, (size_t)r->cfg->max_body); /* off the old spare */
        free(spare->ptr);
        spare->ptr = block;
        spare->cap = cap;
    }
    og_buf_cleanup(&r->body);
    budget_give(r->budget, r->charged);
    r->charged = 0;
}

/* The error for a body that cannot be kept, from grow(). */
static void grow_error(struct srv_req *r, enum grow_result g)
{
    switch (g) {
    case GROW_OK:
        break;
    case GROW_TOOBIG:
        set_error(r, 413, "request body exceeds %llu bytes", (unsigned long long)r->cfg->max_body);
        break;
    case GROW_BUDGET:
        set_error(r, 503, "server busy: request bodies in flight use the whole body budget");
        r->retry_after = SRV_BODY_BUDGET_RETRY_S;
        break;
    case GROW_NOMEM:
        set_error(r, 500, "%s", og_strerror(OG_ENOMEM));
        break;
    }
}

enum srv_req_next srv_req_headers(struct srv_req *r, struct srv_response *resp)
{
    uint64_t len = 0;
    enum grow_result g;

    /*
     * Framing first, whatever the route: it decides where the next request on the connection
     * would start, so a request whose framing is in doubt ends the connection.
     */
    if (r->bad_name)
        return answer_framing(r, 400, "malformed header field name", resp);
    if (r->folded)
        return answer_framing(r, 400, "obsolete line folding in a header field", resp);
    if (r->bad_value)
        return answer_framing(r, 400, "control character in a header field value", resp);
    if (r->n_te > 0) {
        unsigned st;

        if (r->n_cl > 0)
            return answer_framing(r, 400, "Content-Length together with Transfer-Encoding", resp);
        if (r->http10)
            return answer_framing(r, 400, "Transfer-Encoding in an HTTP/1.0 request", resp);
        if (r->n_te > 1)
            return answer_framing(r, 400, "more than one Transfer-Encoding field", resp);
        st = te_status(r->te, r->te_len);
        if (st == 501)
            return answer_framing(r, 501, "only the chunked transfer coding is supported", resp);
        if (st != 0)
            return answer_framing(r, 400, "Transfer-Encoding must end with chunked", resp);
    }
    if (r->n_cl > 1)
        return answer_framing(r, 400, "more than one Content-Length field", resp);
    if (r->n_cl == 1 && !parse_length(r->cl, r->cl_len, &len))
        return answer_framing(r, 400, "malformed Content-Length", resp);
    r->cl = r->te = NULL;
    if (r->status != 0 || !is_admission(r))
        return SRV_REQ_CONTINUE;
    if (!r->json) {
        set_error(r, 415, "Content-Type must be application/json");
        return SRV_REQ_CONTINUE;
    }
    if (r->n_cl == 0)
        return SRV_REQ_CONTINUE; /* chunked: the accumulated size is checked as it arrives */
    /* Answered before the body is read: the client need not send it at all. */
    if (len > r->cfg->max_body) {
        set_error(r, 413, "request body exceeds %llu bytes", (unsigned long long)r->cfg->max_body);
        return answer_error(r, resp);
    }
    if (len >= r->budget->max) {
        set_error(r, 413, "request body exceeds the %zu-byte body budget", r->budget->max);
        return answer_error(r, resp);
    }
    /*
     * A body that cannot fit now is refused before it is sent. Only what is allocated is
     * charged (below, and as the body grows), so a body that passes here may still meet a
     * spent budget later: it is then read and dropped, and answered 503 at its end.
     */
    if (len + 1 > r->budget->max - srv_body_budget_used(r->budget)) {
        grow_error(r, GROW_BUDGET);
        return answer_error(r, resp);
    }
    /*
     * One allocation of the announced size instead of repeated doubling, up to a point: the
     * header alone must not make every connection hold the whole cap before any byte.
     */
    if (len > BODY_PRERESERVE)
        len = BODY_PRERESERVE;
    if (len == 0)
        return SRV_REQ_CONTINUE;
    g = grow(r, (size_t)len);
    grow_error(r, g);
    /* Over the budget: answered at once (and closed); other errors after the body. */
    return g == GROW_BUDGET ? answer_error(r, resp) : SRV_REQ_CONTINUE;
}

enum srv_req_next srv_req_body(struct srv_req *r, const char *data, size_t size)
{
    uint64_t cap = r->cfg->max_body;

    /* Only an admission whose headers passed keeps its body; other bodies are dropped. */
    if (r->status == 0 && is_admission(r)) {
        enum grow_result g = grow(r, size);

        if (g == GROW_OK && og_buf_append(&r->body, data, size) == OG_OK)
            return SRV_REQ_CONTINUE;
        r->discarded = r->body.len;
        srv_req_release_body(r);
        grow_error(r, g == GROW_OK ? GROW_NOMEM : g);
    }
    r->discarded += size;
    /* 413 only when nothing else was wrong first: a 415 stays a 415 however large. */
    if (r->discarded > cap && r->status == 0)
        set_error(r, 413, "request body exceeds %llu bytes", (unsigned long long)cap);
    if (r->discarded > 2 * cap + DISCARD_SLACK) {
        srv_log(SRV_LOG_WARN, "dropping a connection streaming an oversized body", NULL);
        return SRV_REQ_DROP;
    }
    return SRV_REQ_CONTINUE;
}

/* The scrape: every metric in the text format. */
static enum srv_req_next metrics(struct srv_response *resp)
{
    struct og_buf out;
    enum og_err rc;

    og_buf_init(&out, SRV_METRICS_MAX_BYTES);
    rc = srv_metrics_format(&out);
    if (rc == OG_OK) {
        resp->body = og_buf_take(&out, &resp->len);
        if (resp->body == NULL)
            return SRV_REQ_DROP;
        resp->status = 200;
        resp->owned = true;
        resp->content_type = SRV_PROM_CONTENT_TYPE;
        return SRV_REQ_RESPOND;
    }
    og_buf_cleanup(&out);
    return srv_response_error(resp, 500, og_strerror(rc)) ? SRV_REQ_RESPOND : SRV_REQ_DROP;
}

enum srv_req_next srv_req_end(struct srv_req *r, bool draining, struct srv_response *resp)
{
    static char ok[] = "{\"status\":\"ok\"}";
    static char busy[] = "{\"status\":\"draining\"}";

    memset(resp, 0, sizeof(*resp));
    if (r->status != 0)
        return answer_error(r, resp);
    switch (r->route) {
    case SRV_ROUTE_HEALTHZ:
    case SRV_ROUTE_READYZ:
        resp->status = 200;
        resp->body = ok;
        resp->len = sizeof(ok) - 1;
        if (r->route == SRV_ROUTE_READYZ && draining) {
            resp->status = 503;
            resp->body = busy;
            resp->len = sizeof(busy) - 1;
        }
        return SRV_REQ_RESPOND;
    case SRV_ROUTE_METRICS:
        return metrics(resp);
    case SRV_ROUTE_MUTATE:
    case SRV_ROUTE_VALIDATE:
        if (r->body.len == 0) {
            set_error(r, 400, "empty request body");
            return answer_error(r, resp);
        }
        return SRV_REQ_ADMIT;
    case SRV_ROUTE_NONE:
        break;
    }
    set_error(r, 404, "no such endpoint");
    return answer_error(r, resp);
}

struct og_str srv_req_body_view(const struct srv_req *r)
{
    return og_buf_view(&r->body);
}

void srv_req_cleanup(struct srv_req *r)
{
    srv_req_release_body(r);
}
