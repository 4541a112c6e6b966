#include "mem_reader.h"

#include <string.h>

enum og_err og_mem_read(void *ctx, char *buf, size_t cap, size_t *n)
{
    struct og_mem_reader *r = ctx;
    size_t left = r->len - r->off;
    size_t take = left < cap ? left : cap;

    if (r->chunk > 0 && take > r->chunk)
        take = r->chunk;
    if (take > 0)
        memcpy(buf, r->ptr + r->off, take);
    r->off += take;
    *n = take;
    return OG_OK;
}
