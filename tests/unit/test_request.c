/*
 * test_request.c - the HTTP request logic without sockets (server/request.h): framing that
 * RFC 9112 forbids, the body cap, and the global body budget (charged by buffer capacity,
 * given back on every path).
 */
#include "harness.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "request.h"

#include "ocigate/config.h"

struct field {
    const char *name, *value;
};

/* Runs the header phase of a POST /mutate with `fields`; returns the status (0: read on). */
static unsigned headers_status(const char *version, const struct field *fields, bool *close)
{
    struct og_config *cfg = NULL;
    struct srv_body_budget budget;
    struct srv_response resp;
    struct srv_req r;
    unsigned status = 0;

    srv_log_set_level(SRV_LOG_ERROR);
    ASSERT_EQ(og_config_new(&cfg), OG_OK);
    srv_body_budget_init(&budget, 1u << 20);
    srv_req_begin(&r, cfg, &budget, "POST", "/mutate", version);
    for (const struct field *f = fields; f->name != NULL; f++)
        srv_req_header(&r, f->name, strlen(f->name), f->value, strlen(f->value));
    *close = false;
    if (srv_req_headers(&r, &resp) == SRV_REQ_RESPOND) {
        status = resp.status;
        *close = resp.close;
        srv_response_cleanup(&resp);
    }
    srv_req_cleanup(&r);
    ASSERT_EQ(srv_body_budget_used(&budget), 0);
    og_config_unref(cfg);
    return status;
}

#define CT                                                                                         \
    {                                                                                              \
        "Content-Type", "application/json"                                                         \
    }
#define END                                                                                        \
    {                                                                                              \
        NULL, NULL                                                                                 \
    }

OG_TEST(framing_table)
{
    static const struct {
        const char *version;
        struct field fields[4];
        unsigned status;
    } cases[] = {
        {"HTTP/1.1", {CT, {"Content-Length", "7"}, END}, 0},
        {"HTTP/1.1", {CT, {"Transfer-Encoding", "chunked"}, END}, 0},
        {"HTTP/1.1", {CT, {"transfer-encoding", "CHUNKED"}, END}, 0},
        {"HTTP/1.1", {CT, {"Content-Length", "7"}, {"Content-Length", "41"}}, 400},
        {"HTTP/1.1", {CT, {"Content-Length", "7"}, {"content-length", "7"}}, 400},
        {"HTTP/1.1", {CT, {"Content-Length", "7"}, {"Transfer-Encoding", "chunked"}}, 400},
        {"HTTP/1.1", {{"Transfer-Encoding", "chunked"}, {"Content-Length", "x"}, END}, 400},
        {"HTTP/1.1", {CT, {"Transfer-Encoding", "gzip, chunked"}, END}, 501},
        {"HTTP/1.1", {CT, {"Transfer-Encoding", "gzip,chunked"}, END}, 501},
        {"HTTP/1.1", {CT, {"Transfer-Encoding", "chunked, identity"}, END}, 400},
        {"HTTP/1.1", {CT, {"Transfer-Encoding", "identity"}, END}, 400},
        {"HTTP/1.1", {CT, {"Transfer-Encoding", "chunked "}, END}, 400},
        {"HTTP/1.1", {CT, {"Transfer-Encoding", ""}, END}, 400},
        {"HTTP/1.1", {CT, {"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}}, 400},
        {"HTTP/1.0", {CT, {"Transfer-Encoding", "chunked"}, END}, 400},
        {"HTTP/1.1", {CT, {"Content-Length ", "7"}, END}, 400},
        {"HTTP/1.1", {CT, {"X-A c", "b"}, END}, 400},
        {"HTTP/1.1", {CT, {"", "b"}, END}, 400},
        {"HTTP/1.1", {CT, {"Content-Length", "+7"}, END}, 400},
        /* A control character in a value (a bare CR another parser ends the line at). */
        {"HTTP/1.1", {CT, {"X-A", "a\rContent-Length: 7"}, END}, 400},
        {"HTTP/1.1", {CT, {"X-A", "a\x01b"}, END}, 400},
        {"HTTP/1.1", {CT, {"X-A", "a\x7f"}, END}, 400},
        {"HTTP/1.1", {CT, {"X-A", "a\tb \xc3\xa9"}, END}, 0},
        {"HTTP/1.1", {CT, {"Content-Length", "7, 7"}, END}, 400},
        {"HTTP/1.1", {CT, {"Content-Length", "18446744073709551616"}, END}, 400},
        /* Over the 8Mi cap: 413 at once, without Connection: close (libmicrohttpd closes). */
        {"HTTP/1.1", {CT, {"Content-Length", "9000000"}, END}, 413},
        /* At or over the 1 MiB budget: a body that never fits is a 413 too. */
        {"HTTP/1.1", {CT, {"Content-Length", "1048576"}, END}, 413},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool close;
        unsigned st = headers_status(cases[i].version, cases[i].fields, &close);

        if (st != cases[i].status)
            printf("case %zu\n", i);
        ASSERT_EQ(st, cases[i].status);
        ASSERT_EQ(close, st == 400 || st == 501);
    }
}

/* A body streamed in pieces against a small budget: charged by capacity, given back. */
OG_TEST(budget_charges_capacity_and_gives_back)
{
    static char piece[4096];
    struct og_config *cfg = NULL;
    struct srv_body_budget budget;
    struct srv_response resp;
    struct srv_req a, b;

    srv_log_set_level(SRV_LOG_ERROR);
    memset(piece, ' ', sizeof(piece));
    ASSERT_EQ(og_config_new(&cfg), OG_OK);
    srv_body_budget_init(&budget, 64u << 10);
    /* a: chunked (no Content-Length), grows to 32 KiB + 1 -> a 64 KiB buffer: the whole budget. */
    srv_req_begin(&a, cfg, &budget, "POST", "/mutate", "HTTP/1.1");
    srv_req_header(&a, "Content-Type", 12, "application/json", 16);
    srv_req_header(&a, "Transfer-Encoding", 17, "chunked", 7);
    ASSERT_EQ(srv_req_headers(&a, &resp), SRV_REQ_CONTINUE);
    for (int i = 0; i < 8; i++) {
        ASSERT_EQ(srv_req_body(&a, piece, sizeof(piece)), SRV_REQ_CONTINUE);
        ASSERT_EQ(srv_body_budget_used(&budget), a.body.cap);
    }
    ASSERT_EQ(srv_body_budget_used(&budget), (size_t)(64u << 10));
    /* b: announced 100 bytes, nothing left: 503 with Retry-After at once. */
    srv_req_begin(&b, cfg, &budget, "POST", "/validate", "HTTP/1.1");
    srv_req_header(&b, "Content-Type", 12, "application/json", 16);
    srv_req_header(&b, "Content-Length", 14, "100", 3);
    ASSERT_EQ(srv_req_headers(&b, &resp), SRV_REQ_RESPOND);
    ASSERT_EQ(resp.status, 503);
    ASSERT_EQ(resp.retry_after, SRV_BODY_BUDGET_RETRY_S);
    ASSERT_STR_CONTAINS(resp.body, "budget");
    srv_response_cleanup(&resp);
    srv_req_cleanup(&b);
    /* a grows past the budget mid-body (64 KiB of data needs a 128 KiB buffer): its buffer
     * goes at once, the rest is read and dropped, and the answer is a 503 after the body. */
    for (int i = 0; i < 7; i++)
        ASSERT_EQ(srv_req_body(&a, piece, sizeof(piece)), SRV_REQ_CONTINUE);
    ASSERT_EQ(srv_body_budget_used(&budget), (size_t)(64u << 10));
    ASSERT_EQ(srv_req_body(&a, piece, sizeof(piece)), SRV_REQ_CONTINUE);
    ASSERT_EQ(srv_body_budget_used(&budget), 0);
    ASSERT_EQ(srv_req_body(&a, piece, sizeof(piece)), SRV_REQ_CONTINUE);
    ASSERT_EQ(srv_req_end(&a, false, &resp), SRV_REQ_RESPOND);
    ASSERT_EQ(resp.status, 503);
    ASSERT_EQ(resp.retry_after, SRV_BODY_BUDGET_RETRY_S);
    srv_response_cleanup(&resp);
    srv_req_cleanup(&a);
    srv_req_cleanup(&a); /* idempotent */
    ASSERT_EQ(srv_body_budget_used(&budget), 0);
    /* The budget is whole again: a full admission body fits. */
    srv_req_begin(&b, cfg, &budget, "POST", "/mutate", "HTTP/1.1");
    srv_req_header(&b, "Content-Type", 12, "application/json", 16);
    srv_req_header(&b, "Content-Length", 14, "4096", 4);
    ASSERT_EQ(srv_req_headers(&b, &resp), SRV_REQ_CONTINUE);
    ASSERT_EQ(srv_req_body(&b, piece, sizeof(piece)), SRV_REQ_CONTINUE);
    ASSERT_EQ(srv_req_end(&b, false, &resp), SRV_REQ_ADMIT);
    ASSERT_EQ(srv_req_body_view(&b).len, sizeof(piece));
    ASSERT(srv_body_budget_used(&budget) > 0);
    srv_req_release_body(&b);
    ASSERT_EQ(srv_body_budget_used(&budget), 0);
    srv_req_cleanup(&b);
    og_config_unref(cfg);
}

OG_TEST(routes_and_methods)
{
    struct og_config *cfg = NULL;
    struct srv_body_budget budget;
    struct srv_response resp;
    struct srv_req r;

    srv_log_set_level(SRV_LOG_ERROR);
    ASSERT_EQ(og_config_new(&cfg), OG_OK);
    srv_body_budget_init(&budget, 1u << 20);
    srv_req_begin(&r, cfg, &budget, "PUT", "/healthz", "HTTP/1.1");
    ASSERT_EQ(srv_req_headers(&r, &resp), SRV_REQ_CONTINUE);
    ASSERT_EQ(srv_req_end(&r, false, &resp), SRV_REQ_RESPOND);
    ASSERT_EQ(resp.status, 405);
    ASSERT_STR_EQ(resp.allow, "GET, HEAD");
    srv_response_cleanup(&resp);
    srv_req_cleanup(&r);
    srv_req_begin(&r, cfg, &budget, "GET", "/readyz", "HTTP/1.1");
    ASSERT_EQ(srv_req_headers(&r, &resp), SRV_REQ_CONTINUE);
    ASSERT_EQ(srv_req_end(&r, true, &resp), SRV_REQ_RESPOND);
    ASSERT_EQ(resp.status, 503);
    ASSERT_EQ(resp.retry_after, 0);
    srv_response_cleanup(&resp);
    srv_req_cleanup(&r);
    srv_req_begin(&r, cfg, &budget, "POST", "/mutate", "HTTP/1.1");
    srv_req_header(&r, "content-type", 12, "text/plain", 10);
    srv_req_header(&r, "Content-Type", 12, "application/json", 16); /* the first one counts */
    ASSERT_EQ(srv_req_headers(&r, &resp), SRV_REQ_CONTINUE);
    ASSERT_EQ(srv_req_end(&r, false, &resp), SRV_REQ_RESPOND);
    ASSERT_EQ(resp.status, 415);
    srv_response_cleanup(&resp);
    srv_req_cleanup(&r);
    og_config_unref(cfg);
}

/* RFC 9110's tchar, spelled out as the RFC does (the reference for the bitmap in request.c). */
static bool ref_tchar(unsigned c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", (int)c) != NULL);
}

/* A value byte RFC 9110 section 5.5 allows: no control character but HTAB, no DEL. */
static bool ref_value_byte(unsigned c)
{
    return (c >= 0x20 || c == '\t') && c != 0x7f;
}

/*
 * Every byte value in a field name, and in a value at every position of values that are
 * shorter than, as long as, and longer than the eight-byte words that request.c checks at once
 * (the last word overlapping the one before it, a short value padded).
 */
OG_TEST(field_bytes_every_value_and_position)
{
    static const size_t lens[] = {1, 3, 7, 8, 9, 13, 16, 17, 23};
    struct og_config *cfg = NULL;
    struct srv_body_budget budget;
    struct srv_req r;
    char buf[32];

    ASSERT_EQ(og_config_new(&cfg), OG_OK);
    srv_body_budget_init(&budget, 1u << 20);
    for (unsigned c = 0; c < 256; c++) {
        /* The name "Ab?cd" with byte c in the middle. */
        memcpy(buf, "Ab?cd", 5);
        buf[2] = (char)c;
        srv_req_begin(&r, cfg, &budget, "POST", "/mutate", "HTTP/1.1");
        srv_req_header(&r, buf, 5, "v", 1);
        if (r.bad_name != !ref_tchar(c) || r.bad_value)
            printf("name byte 0x%02x\n", c);
        ASSERT_EQ(r.bad_name, !ref_tchar(c));
        ASSERT_EQ(r.bad_value, false);
        srv_req_cleanup(&r);
        /* Names of letters and dashes (the words request.c settles at once) with byte c. */
        for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
            for (size_t pos = 0; pos < lens[k]; pos++) {
                for (size_t i = 0; i < lens[k]; i++)
                    buf[i] = "Content-type"[i % 12];
                buf[pos] = (char)c;
                srv_req_begin(&r, cfg, &budget, "POST", "/mutate", "HTTP/1.1");
                srv_req_header(&r, buf, lens[k], "v", 1);
                if (r.bad_name != !ref_tchar(c))
                    printf("name byte 0x%02x at %zu of %zu\n", c, pos, lens[k]);
                ASSERT_EQ(r.bad_name, !ref_tchar(c));
                srv_req_cleanup(&r);
            }
        }
        for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
            for (size_t pos = 0; pos < lens[k]; pos++) {
                memset(buf, 'a', lens[k]);
                buf[pos] = (char)c;
                srv_req_begin(&r, cfg, &budget, "POST", "/mutate", "HTTP/1.1");
                srv_req_header(&r, "X-A", 3, buf, lens[k]);
                if (r.bad_value != !ref_value_byte(c))
                    printf("value byte 0x%02x at %zu of %zu\n", c, pos, lens[k]);
                ASSERT_EQ(r.bad_value, !ref_value_byte(c));
                ASSERT_EQ(r.bad_name, false);
                srv_req_cleanup(&r);
            }
        }
    }
    /* A tab early in a long value does not hide a control character later in it. */
    srv_req_begin(&r, cfg, &budget, "POST", "/mutate", "HTTP/1.1");
    srv_req_header(&r, "X-A", 3, "a\tbcdefghijklmno\x01q", 19);
    ASSERT_EQ(r.bad_value, true);
    srv_req_cleanup(&r);
    /* An empty name is no token; an empty value is fine. */
    srv_req_begin(&r, cfg, &budget, "POST", "/mutate", "HTTP/1.1");
    srv_req_header(&r, "X-A", 3, "", 0);
    ASSERT_EQ(r.bad_value, false);
    ASSERT_EQ(r.bad_name, false);
    srv_req_header(&r, "", 0, "v", 1);
    ASSERT_EQ(r.bad_name, true);
    srv_req_cleanup(&r);
    og_config_unref(cfg);
}

/* Which Content-Type values are JSON, and which field names are Content-Type. */
OG_TEST(content_type_table)
{
    static const struct {
        const char *name, *value;
        bool json;
    } cases[] = {
        {"Content-Type", "application/json", true},
        {"Content-Type", "application/json; charset=utf-8", true},
        {"Content-Type", "application/json;charset=utf-8", true},
        {"Content-Type", "application/json ", true},
        {"Content-Type", "application/json\t", true},
        {"Content-Type", " application/json", true},
        {"Content-Type", "Application/JSON", true},
        {"content-type", "application/json", true},
        {"CONTENT-TYPE", "APPLICATION/JSON; x", true},
        {"Content-Type", "application/jsonx", false},
        {"Content-Type", "application/json-patch+json", false},
        {"Content-Type", "application/jso", false},
        {"Content-Type", "text/plain", false},
        {"Content-Type", "", false},
        {"Content-Typf", "application/json", false},
        {"Xontent-Type", "application/json", false},
    };
    struct og_config *cfg = NULL;
    struct srv_body_budget budget;
    struct srv_req r;

    ASSERT_EQ(og_config_new(&cfg), OG_OK);
    srv_body_budget_init(&budget, 1u << 20);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        srv_req_begin(&r, cfg, &budget, "POST", "/mutate", "HTTP/1.1");
        srv_req_header(&r, cases[i].name, strlen(cases[i].name), cases[i].value,
                       strlen(cases[i].value));
        if (r.json != cases[i].json)
            printf("case %zu\n", i);
        ASSERT_EQ(r.json, cases[i].json);
        srv_req_cleanup(&r);
    }
    og_config_unref(cfg);
}

/* Starts POST /mutate with a Content-Length of `len`, reading its body into `spare` if given. */
static void spare_begin(struct srv_req *r, struct og_config *cfg, struct srv_body_budget *budget,
                        struct srv_req_spare *spare, const char *len)
{
    struct srv_response resp;

    srv_req_begin(r, cfg, budget, "POST", "/mutate", "HTTP/1.1");
    if (spare != NULL)
        srv_req_use_spare(r, spare);
    srv_req_header(r, "Content-Type", 12, "application/json", 16);
    srv_req_header(r, "Content-Length", 14, len, strlen(len));
    ASSERT_EQ(srv_req_headers(r, &resp), SRV_REQ_CONTINUE);
}

/*
 * A connection's spare: the first body stays as the spare once released, the next ones are read
 * into it (one whose body outgrows it leaves a larger one, one past SRV_REQ_SPARE_MAX none), and
 * the budget is charged at every step as for a request without a spare.
 */
OG_TEST(spare_keeps_a_body_block_and_the_budget_as_without)
{
    static char piece[20000];
    static const size_t sizes[] = {2059, 100, 5000, 2059, 12000, 40, 20000, 9000};
    struct og_config *cfg = NULL;
    struct srv_body_budget with, without;
    struct srv_req_spare spare = {NULL, 0};
    struct srv_response resp;
    struct srv_req a, b;
    char *kept;

    srv_log_set_level(SRV_LOG_ERROR);
    memset(piece, 'x', sizeof(piece));
    ASSERT_EQ(og_config_new(&cfg), OG_OK);
    srv_body_budget_init(&with, 1u << 20);
    srv_body_budget_init(&without, 1u << 20);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char len[16];
        size_t half = sizes[i] / 2;

        (void)snprintf(len, sizeof(len), "%zu", sizes[i]);
        kept = spare.ptr;
        spare_begin(&a, cfg, &with, &spare, len);
        spare_begin(&b, cfg, &without, NULL, len);
        ASSERT_EQ(srv_body_budget_used(&with), srv_body_budget_used(&without));
        ASSERT_EQ(srv_req_body(&a, piece, half), SRV_REQ_CONTINUE);
        ASSERT_EQ(srv_req_body(&b, piece, half), SRV_REQ_CONTINUE);
        ASSERT_EQ(srv_req_body(&a, piece + half, sizes[i] - half), SRV_REQ_CONTINUE);
        ASSERT_EQ(srv_req_body(&b, piece + half, sizes[i] - half), SRV_REQ_CONTINUE);
        ASSERT_EQ(srv_body_budget_used(&with), srv_body_budget_used(&without));
        ASSERT_EQ(srv_req_end(&a, false, &resp), SRV_REQ_ADMIT);
        ASSERT_EQ(srv_req_body_view(&a).len, sizes[i]);
        ASSERT(memcmp(srv_req_body_view(&a).ptr, piece, sizes[i]) == 0);
        /* A body that fits the spare is read into it. */
        if (kept != NULL && sizes[i] < spare.cap)
            ASSERT(srv_req_body_view(&a).ptr == kept);
        srv_req_release_body(&a);
        srv_req_release_body(&b);
        ASSERT_EQ(srv_body_budget_used(&with), 0);
        srv_req_cleanup(&a);
        srv_req_cleanup(&b);
        /* The spare is there after the first body, grows with a larger one up to the cap. */
        ASSERT(spare.ptr != NULL);
        ASSERT(spare.cap > sizes[i] || sizes[i] + 1 > SRV_REQ_SPARE_MAX);
        ASSERT(spare.cap <= SRV_REQ_SPARE_MAX);
        if (kept != NULL && sizes[i] < 4096)
            ASSERT(spare.ptr == kept);
    }
    /* A request that is no admission, or whose body is refused, leaves the spare alone. */
    kept = spare.ptr;
    srv_req_begin(&a, cfg, &with, "GET", "/healthz", "HTTP/1.1");
    srv_req_use_spare(&a, &spare);
    ASSERT_EQ(srv_req_body(&a, piece, 10), SRV_REQ_CONTINUE);
    srv_req_cleanup(&a);
    srv_req_begin(&a, cfg, &with, "GET", "/mutate", "HTTP/1.1");
    srv_req_use_spare(&a, &spare);
    ASSERT_EQ(srv_req_body(&a, piece, 10), SRV_REQ_CONTINUE);
    srv_req_cleanup(&a);
    ASSERT(spare.ptr == kept);
    ASSERT_EQ(srv_body_budget_used(&with), 0);
    srv_req_spare_cleanup(&spare);
    ASSERT(spare.ptr == NULL);
    ASSERT_EQ(spare.cap, 0);
    srv_req_spare_cleanup(&spare); /* idempotent */
    og_config_unref(cfg);
}

OG_TEST_MAIN(OG_T(framing_table), OG_T(budget_charges_capacity_and_gives_back),
             OG_T(routes_and_methods), OG_T(field_bytes_every_value_and_position),
             OG_T(content_type_table), OG_T(spare_keeps_a_body_block_and_the_budget_as_without))
