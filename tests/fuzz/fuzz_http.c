/*
 * fuzz_http.c - one HTTP request through the daemon's request logic (server/request.h) and
 * admission (server/admission.h), exactly as httpd.c drives them, without sockets and
 * without an index cache.
 *
 * Input, line by line ("\n", a "\r" before it is dropped):
 *   METHOD SP PATH [SP VERSION]       the request line (VERSION defaults to HTTP/1.1)
 *   NAME: VALUE                       header fields, any number, until an empty line; the
 *                                     name is everything before the first ':' (spaces too),
 *                                     the value loses its leading spaces and tabs, as
 *                                     libmicrohttpd hands them over
 *   <empty line>
 *   BODY                              the rest, as the handler sees it (libmicrohttpd has
 *                                     undone chunked coding), fed in pieces of 1, 7, 64,
 *                                     4096, 1, 7, ...
 * The body cap is 16 KiB and the body budget 12 KiB, so that both limits are reachable; an
 * odd input length marks the server as draining. Checked on every input: the budget is whole
 * again after the request, a 405 carries Allow, a 503 from the budget carries Retry-After,
 * only framing answers (400, 501) close the connection.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admission.h"
#include "log.h"
#include "request.h"

#include "ocigate/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BODY_CAP (16u << 10)
#define BUDGET (12u << 10)
#define MAX_LINE 1024

static void fail(const char *what, unsigned status)
{
    fprintf(stderr, "fuzz_http: %s (status %u)\n", what, status);
    abort();
}

/* The next line of [*pos, end) into `out` (NUL-terminated, cut at MAX_LINE - 1 bytes). */
static bool next_line(const char *p, size_t size, size_t *pos, char *out, size_t *len)
{
    size_t start = *pos, n;
    const char *nl;

    if (start >= size)
        return false;
    nl = memchr(p + start, '\n', size - start);
    n = nl != NULL ? (size_t)(nl - (p + start)) : size - start;
    *pos = start + n + (nl != NULL ? 1 : 0);
    if (n > 0 && p[start + n - 1] == '\r')
        n--;
    if (n > MAX_LINE - 1)
        n = MAX_LINE - 1;
    memcpy(out, p + start, n);
    out[n] = '\0';
    *len = n;
    return true;
}

/* `src` into `dst`, cut to fit. */
static void copy_cut(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);

    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* What the glue does with a response: check it and free it. */
static void check_response(struct srv_response *resp)
{
    if (resp->status < 200 || resp->status > 599)
        fail("status out of range", resp->status);
    if (resp->status == 405 && resp->allow == NULL)
        fail("405 without Allow", resp->status);
    if (resp->close && resp->status != 400 && resp->status != 501)
        fail("Connection: close on a non-framing answer", resp->status);
    if (resp->retry_after != 0 && resp->status != 503)
        fail("Retry-After on a non-503", resp->status);
    if (resp->body == NULL && resp->len != 0)
        fail("body length without a body", resp->status);
    srv_response_cleanup(resp);
}

/* The admission as httpd.c runs it when there is no index cache: it never waits. */
static void admit(struct srv_req *r, struct og_config *cfg)
{
    struct og_str body = srv_req_body_view(r);
    struct srv_admission a;
    struct srv_response resp;

    srv_admission_init(&a, cfg, NULL,
                       r->route == SRV_ROUTE_MUTATE ? OG_ENDPOINT_MUTATE : OG_ENDPOINT_VALIDATE,
                       NULL, NULL);
    switch (srv_admission_decode(&a, body.ptr, body.len, &resp)) {
    case SRV_ADMISSION_RESPOND:
        check_response(&resp);
        break;
    case SRV_ADMISSION_CONTINUE:
        srv_req_release_body(r);
        switch (srv_admission_decide(&a, NULL, 0, &resp)) {
        case SRV_ADMISSION_RESPOND:
            check_response(&resp);
            break;
        case SRV_ADMISSION_CONTINUE:
        case SRV_ADMISSION_WAIT:
            fail("an admission without an index cache waits", 0);
            break;
        case SRV_ADMISSION_DROP:
            break;
        }
        break;
    case SRV_ADMISSION_WAIT:
    case SRV_ADMISSION_DROP:
        break;
    }
    srv_admission_cleanup(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t pieces[] = {1, 7, 64, 4096};
    static bool quiet;
    const char *p = (const char *)data;
    char line[MAX_LINE], method[32], path[256], version[32];
    char *names = NULL;
    struct og_config *cfg = NULL;
    struct srv_body_budget budget;
    struct srv_req r;
    struct srv_response resp;
    enum srv_req_next next;
    size_t pos = 0, len, n_fields = 0, i;
    char *sp, *sp2;

    if (!quiet) {
        srv_log_set_level(SRV_LOG_ERROR);
        quiet = true;
    }
    if (!next_line(p, size, &pos, line, &len))
        return 0;
    sp = strchr(line, ' ');
    if (sp == NULL)
        return 0;
    *sp = '\0';
    sp2 = strchr(sp + 1, ' ');
    if (sp2 != NULL)
        *sp2 = '\0';
    copy_cut(method, sizeof(method), line);
    copy_cut(path, sizeof(path), sp + 1);
    copy_cut(version, sizeof(version), sp2 != NULL ? sp2 + 1 : "HTTP/1.1");
    if (og_config_new(&cfg) != OG_OK)
        return 0;
    cfg->max_body = BODY_CAP;
    /* Header lines stay alive until srv_req_headers(), as libmicrohttpd's pool does. */
    names = malloc(size + 1);
    if (names == NULL)
        goto out;
    srv_body_budget_init(&budget, BUDGET);
    srv_req_begin(&r, cfg, &budget, method, path, version);
    while (next_line(p, size, &pos, line, &len) && len > 0) {
        char *field = names + n_fields;
        char *colon, *value;

        memcpy(field, line, len + 1);
        n_fields += len + 1;
        colon = strchr(field, ':');
        if (colon == NULL)
            continue; /* libmicrohttpd refuses such a line before the handler runs */
        value = colon + 1;
        while (*value == ' ' || *value == '\t')
            value++;
        srv_req_header(&r, field, (size_t)(colon - field), value, strlen(value));
    }
    next = srv_req_headers(&r, &resp);
    if (next == SRV_REQ_RESPOND) {
        check_response(&resp);
        goto done;
    }
    if (next == SRV_REQ_DROP)
        goto done;
    for (i = 0; pos < size; i++) {
        size_t piece = pieces[i % (sizeof(pieces) / sizeof(pieces[0]))];

        if (piece > size - pos)
            piece = size - pos;
        if (srv_req_body(&r, p + pos, piece) != SRV_REQ_CONTINUE)
            goto done;
        pos += piece;
        if (r.charged > BUDGET || srv_body_budget_used(&budget) != r.charged)
            fail("budget accounting", 0);
        if (r.charged != r.body.cap)
            fail("charged bytes differ from the buffer's capacity", 0);
    }
    next = srv_req_end(&r, (size & 1) != 0, &resp);
    if (next == SRV_REQ_RESPOND)
        check_response(&resp);
    else if (next == SRV_REQ_ADMIT)
        admit(&r, cfg);
done:
    srv_req_cleanup(&r);
    if (srv_body_budget_used(&budget) != 0)
        fail("budget not given back", 0);
out:
    free(names);
    og_config_unref(cfg);
    return 0;
}
