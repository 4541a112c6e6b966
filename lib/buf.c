#include "ocigate/buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void og_buf_init(struct og_buf *buf, size_t max)
{
    og_buf_init_with(buf, max, NULL, 0);
}

/* Empty, on the caller's storage when there is some (else on nothing). */
static void use_storage(struct og_buf *buf)
{
    buf->ptr = buf->storage;
    buf->len = 0;
    buf->cap = buf->storage_size;
    if (buf->ptr != NULL)
        buf->ptr[0] = '\0';
}

void og_buf_init_with(struct og_buf *buf, size_t max, char *storage, size_t size)
{
    buf->max = max;
    buf->storage = size > 0 ? storage : NULL;
    buf->storage_size = buf->storage != NULL ? size : 0;
    use_storage(buf);
}

void og_buf_cleanup(struct og_buf *buf)
{
    if (buf->ptr != buf->storage)
        free(buf->ptr);
    use_storage(buf);
}

void og_buf_reset(struct og_buf *buf)
{
    buf->len = 0;
    if (buf->ptr != NULL)
        buf->ptr[0] = '\0';
}

size_t og_buf_capacity_for(const struct og_buf *buf, size_t extra)
{
    size_t need, cap;

    if (extra > buf->max - buf->len)
        return 0;
    need = buf->len + extra + 1;
    if (need <= buf->cap)
        return buf->cap;
    /* Grow geometrically so that appending n bytes costs O(n), but never beyond max + 1. */
    cap = buf->cap < 64 ? 64 : buf->cap;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (buf->max < SIZE_MAX && cap > buf->max + 1)
        cap = buf->max + 1;
    return cap;
}

enum og_err og_buf_reserve(struct og_buf *buf, size_t extra)
{
    size_t cap;
    char *ptr;

    /* The common case first: it fits (every append checks this). */
    if (extra <= buf->max - buf->len && buf->len + extra < buf->cap)
        return OG_OK;
    cap = og_buf_capacity_for(buf, extra);
    if (cap == 0)
        return OG_ETOOBIG;
    if (cap == buf->cap)
        return OG_OK;
    if (buf->ptr != NULL && buf->ptr == buf->storage) {
        /* Out of the caller's storage: its contents (and NUL) move to the heap. */
        ptr = malloc(cap);
        if (ptr == NULL)
            return OG_ENOMEM;
        memcpy(ptr, buf->ptr, buf->len);
        ptr[buf->len] = '\0';
    } else {
        ptr = realloc(buf->ptr, cap);
        if (ptr == NULL)
            return OG_ENOMEM;
    }
    buf->ptr = ptr;
    buf->cap = cap;
    return OG_OK;
}

enum og_err og__buf_append_grow(struct og_buf *buf, const void *data, size_t len)
{
    enum og_err rc = og_buf_reserve(buf, len);

    if (rc != OG_OK)
        return rc;
    if (len > 0)
        memcpy(buf->ptr + buf->len, data, len);
    buf->len += len;
    buf->ptr[buf->len] = '\0';
    return OG_OK;
}

enum og_err og_buf_appendf(struct og_buf *buf, const char *fmt, ...)
{
    size_t room = buf->cap > buf->len ? buf->cap - buf->len : 0;
    char small[256];
    va_list ap;
    int n;
    enum og_err rc;

    /*
     * Format straight into the spare room, or, when there is less of it than `small` holds (an
     * empty buffer has none), into `small`: only output that fits neither is formatted twice.
     */
    va_start(ap, fmt);
    if (room < sizeof(small))
        n = vsnprintf(small, sizeof(small), fmt, ap);
    else
        n = vsnprintf(buf->ptr + buf->len, room, fmt, ap);
    va_end(ap);
    if (n < 0) {
        if (room > 0)
            buf->ptr[buf->len] = '\0';
        return OG_EINVAL;
    }
    if (room < sizeof(small) && (size_t)n < sizeof(small))
        return og_buf_append(buf, small, (size_t)n);
    if ((size_t)n < room) {
        if ((size_t)n > buf->max - buf->len) {
            buf->ptr[buf->len] = '\0';
            return OG_ETOOBIG;
        }
        buf->len += (size_t)n;
        return OG_OK;
    }
    if (room > 0)
        buf->ptr[buf->len] = '\0';
    rc = og_buf_reserve(buf, (size_t)n);
    if (rc != OG_OK)
        return rc;
    va_start(ap, fmt);
    n = vsnprintf(buf->ptr + buf->len, buf->cap - buf->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        buf->ptr[buf->len] = '\0';
        return OG_EINVAL;
    }
    buf->len += (size_t)n;
    return OG_OK;
}

struct og_str og_buf_view(const struct og_buf *buf)
{
    struct og_str s = {buf->ptr, buf->len};
    return s;
}

char *og_buf_take(struct og_buf *buf, size_t *len)
{
    char *out = buf->ptr;

    /* Nothing on the heap yet: the caller frees what it gets, so it gets a copy. */
    if (out == NULL || out == buf->storage) {
        out = malloc(buf->len + 1);
        if (out != NULL) {
            if (buf->len > 0)
                memcpy(out, buf->ptr, buf->len);
            out[buf->len] = '\0';
        }
    }
    if (len != NULL)
        *len = out != NULL ? buf->len : 0;
    use_storage(buf);
    return out;
}

void *og_array_grow(void *arr, size_t *cap, size_t n, size_t size, size_t first, size_t max)
{
    size_t want;
    void *grown;

    if (n < *cap)
        return arr;
    if (n >= max)
        return NULL;
    want = *cap == 0 ? first : *cap > SIZE_MAX / 2 ? SIZE_MAX : *cap * 2;
    if (want > max)
        want = max;
    if (want <= n)
        want = n + 1;
    if (want > SIZE_MAX / size)
        return NULL;
    grown = realloc(arr, want * size);
    if (grown != NULL)
        *cap = want;
    return grown;
}
