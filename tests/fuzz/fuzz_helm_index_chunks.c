/*
 * fuzz_helm_index_chunks.c - the Helm index analyzer fed in chunks of fuzzed sizes, checked
 * against an analysis of the same bytes read whole (a differential oracle).
 *
 * Input: byte 0 holds the number of chunk sizes (low 3 bits, plus one); the next bytes are the
 * sizes, each turned into 1..32 bytes (most) or up to ~16 KiB (a few), used in turn and
 * cycled; the rest is the index. The reader contract (reader.h) makes a 0-byte read the end of
 * the stream, so a chunk is never empty before the end.
 *
 * How the bytes arrive must not change the analysis: same error code and message (with the
 * same line and column), and on success the same summary and verdicts. A difference aborts.
 * The limits that count bytes as they are read (max_bytes, and max_scalar's run of bytes
 * without an event) are set above any input this target accepts.
 *
 * One difference is libyaml's and is let through: its reader decodes (and checks for bad
 * UTF-8 and control characters) all the bytes it holds whenever it needs more, so a bad byte
 * further on is found before, or instead of, a syntax error or the end of the first document,
 * depending on how many bytes the last read returned. When either side stopped at such a
 * reader error (no line:column), the other may have stopped elsewhere; two reader errors must
 * still agree.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem_reader.h"
#include "ocigate/buf.h"
#include "ocigate/helm_index.h"
#include "ocigate/reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT (48u * 1024)

struct chunked {
    const char *ptr;
    size_t len;
    size_t off;
    size_t sizes[8];
    size_t n_sizes;
    size_t next;
    size_t calls;
};

static enum og_err chunked_read(void *ctx, char *buf, size_t cap, size_t *n)
{
    struct chunked *r = ctx;
    size_t take = r->len - r->off;

    if (take > cap)
        take = cap;
    if (take > r->sizes[r->next])
        take = r->sizes[r->next];
    r->next = (r->next + 1) % r->n_sizes;
    memcpy(buf, r->ptr + r->off, take);
    r->off += take;
    r->calls++;
    *n = take;
    return OG_OK;
}

/* What one analysis gave, as comparable text. */
struct result {
    enum og_err rc;
    struct og_diag diag;
    struct og_buf text; /* summary and both verdicts as JSON, on success */
};

static void analyze(og_read_fn read, void *ctx, struct result *res)
{
    static const enum og_index_threshold thresholds[] = {OG_INDEX_THRESHOLD_NEWEST,
                                                         OG_INDEX_THRESHOLD_ANY};
    struct og_index_limits lim;
    struct og_index_summary s;

    og_index_limits_init(&lim);
    lim.max_charts = 64;
    lim.max_bases = 8;
    lim.max_depth = 32;
    lim.max_scalar = 4096;
    lim.max_bytes = 1u << 20;
    lim.max_anchored = 16384;
    lim.max_aliased = 1u << 18;
    og_diag_clear(&res->diag);
    og_buf_init(&res->text, 1u << 20);
    res->rc = og_helm_index_analyze(read, ctx, &lim, OG_INDEX_DETAIL, &s, &res->diag);
    if (res->rc != OG_OK)
        return;
    if (og_index_summary_format_json(&s, &res->text) != OG_OK)
        abort(); /* 1 MiB holds any summary of a 48 KiB input */
    for (size_t i = 0; i < sizeof(thresholds) / sizeof(thresholds[0]); i++) {
        struct og_index_verdict v;

        if (og_helm_index_decide(&s, thresholds[i], &v) != OG_OK)
            abort();
        if (og_index_verdict_format_json(&v, &res->text) != OG_OK)
            abort();
        og_index_verdict_cleanup(&v);
    }
    og_index_summary_cleanup(&s);
}

/* libyaml's reader refused a byte (bad UTF-8, a control character): see above. */
static bool reader_error(const struct result *r)
{
    return r->rc == OG_EPARSE && r->diag.line == 0 &&
           strncmp(r->diag.msg, "not a YAML document: ", 21) == 0;
}

static void mismatch(const char *what, const struct result *whole, const struct result *parts)
{
    fprintf(stderr,
            "chunked analysis differs (%s):\n whole: %s %u:%u %s\n       %.*s\n"
            " parts: %s %u:%u %s\n       %.*s\n",
            what, og_strerror(whole->rc), whole->diag.line, whole->diag.column, whole->diag.msg,
            (int)whole->text.len, whole->text.ptr != NULL ? whole->text.ptr : "",
            og_strerror(parts->rc), parts->diag.line, parts->diag.column, parts->diag.msg,
            (int)parts->text.len, parts->text.ptr != NULL ? parts->text.ptr : "");
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct og_mem_reader whole_reader;
    struct chunked parts_reader;
    struct result whole, parts;
    size_t head;

    if (size < 1)
        return 0;
    memset(&parts_reader, 0, sizeof(parts_reader));
    parts_reader.n_sizes = (data[0] & 7u) + 1;
    head = 1 + parts_reader.n_sizes;
    if (size < head || size - head > MAX_INPUT)
        return 0;
    for (size_t i = 0; i < parts_reader.n_sizes; i++) {
        uint8_t b = data[1 + i];

        parts_reader.sizes[i] = b < 0xF0 ? (size_t)(b % 32) + 1 : (size_t)(b - 0xEF) * 1024 - 1;
    }
    parts_reader.ptr = (const char *)data + head;
    parts_reader.len = size - head;
    whole_reader.ptr = parts_reader.ptr;
    whole_reader.len = parts_reader.len;
    whole_reader.off = 0;
    whole_reader.chunk = 0;

    analyze(og_mem_read, &whole_reader, &whole);
    analyze(chunked_read, &parts_reader, &parts);
    if (reader_error(&whole) != reader_error(&parts))
        goto out;
    if (whole.rc != parts.rc)
        mismatch("error code", &whole, &parts);
    if (strcmp(whole.diag.msg, parts.diag.msg) != 0 || whole.diag.line != parts.diag.line ||
        whole.diag.column != parts.diag.column)
        mismatch("diagnostic", &whole, &parts);
    if (whole.text.len != parts.text.len ||
        (whole.text.len > 0 && memcmp(whole.text.ptr, parts.text.ptr, whole.text.len) != 0))
        mismatch("summary", &whole, &parts);
out:
    og_buf_cleanup(&whole.text);
    og_buf_cleanup(&parts.text);
    return 0;
}
