/*
 * fuzz_helm_index.c - libFuzzer target for the streaming Helm index analyzer.
 *
 * The first byte picks the read chunk size (so that short reads get fuzzed too) and the
 * threshold; the rest is the index. Small limits keep each run fast and exercise the caps.
 * Every successful analysis is also decided, formatted and copied, as the server does.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mem_reader.h"
#include "ocigate/buf.h"
#include "ocigate/helm_index.h"
#include "ocigate/reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct og_index_limits lim;
    struct og_index_summary s;
    struct og_index_verdict v, copy;
    struct og_mem_reader r;
    struct og_diag diag;
    struct og_buf out;
    unsigned flags;
    enum og_index_threshold t;

    if (size < 1)
        return 0;
    r.ptr = (const char *)data + 1;
    r.len = size - 1;
    r.off = 0;
    r.chunk = data[0] & 0x0f;
    flags = data[0] & 0x10 ? OG_INDEX_DETAIL : 0;
    t = data[0] & 0x20 ? OG_INDEX_THRESHOLD_ANY : OG_INDEX_THRESHOLD_NEWEST;
    og_index_limits_init(&lim);
    lim.max_charts = 64;
    lim.max_bases = 8;
    lim.max_depth = 32;
    lim.max_scalar = 4096;
    lim.max_bytes = 1 << 20;
    lim.max_anchored = 16384;
    lim.max_aliased = 1 << 18;
    og_diag_clear(&diag);
    if (og_helm_index_analyze(og_mem_read, &r, &lim, flags, &s, &diag) != OG_OK)
        return 0;
    og_buf_init(&out, 1 << 20);
    if (og_index_summary_format_json(&s, &out) == OG_OK &&
        og_helm_index_decide(&s, t, &v) == OG_OK) {
        if (og_index_verdict_format_json(&v, &out) == OG_OK &&
            og_index_verdict_copy(&v, &copy) == OG_OK)
            og_index_verdict_cleanup(&copy);
        og_index_verdict_cleanup(&v);
    }
    og_buf_cleanup(&out);
    og_index_summary_cleanup(&s);
    return 0;
}
