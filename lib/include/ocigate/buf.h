/*
 * buf.h - growable byte buffers with a hard maximum, as curl's dynbuf.
 */
#ifndef OG_BUF_H
#define OG_BUF_H

#include <stddef.h>
#include <string.h>

#include "ocigate/err.h"
#include "ocigate/str.h"

/**
 * A growable buffer that never holds more than `max` bytes. Only the og_buf_* API touches the
 * fields. The contents are always NUL-terminated once anything was appended (the NUL is not
 * counted in `len` nor in `max`), so they can be handed to C string APIs.
 */
struct og_buf {
    char *ptr;           /**< `storage`, heap storage owned by the buffer, or NULL */
    size_t len;          /**< bytes in use */
    size_t cap;          /**< bytes at `ptr` */
    size_t max;          /**< hard cap on `len` */
    char *storage;       /**< the caller's storage (og_buf_init_with()), or NULL */
    size_t storage_size; /**< bytes at `storage` */
};

/**
 * Room for one more element in the array `arr` of `n` elements of `size` bytes, `*cap`
 * allocated: returns `arr` itself while n < *cap, else `arr` reallocated to twice its capacity
 * (`first` elements when it has none yet), never past `max` elements (SIZE_MAX for no limit),
 * and `*cap` updated. NULL when out of memory, when the bytes would overflow a size_t, or when
 * `n` already reached `max`: `arr` is then still valid and `*cap` unchanged. The one growth
 * rule for the arrays of lib/ (byte buffers use og_buf).
 */
void *og_array_grow(void *arr, size_t *cap, size_t n, size_t size, size_t first, size_t max);

/** Makes `buf` empty with a cap of `max` bytes. Allocates nothing. */
void og_buf_init(struct og_buf *buf, size_t max);

/**
 * As og_buf_init(), but the contents start in the caller's `storage` of `size` bytes (NUL
 * included), so that a short-lived buffer whose contents fit allocates nothing: appends use
 * `storage` until it is full, then move the contents to the heap. `storage` must outlive every
 * use of `buf`; `max` still bounds the contents whatever `size` is. Cleanup, reset and take
 * work as for any buffer (og_buf_take() returns a heap copy of what is in `storage`), and leave
 * `buf` on `storage` again.
 */
void og_buf_init_with(struct og_buf *buf, size_t max, char *storage, size_t size);

/** Frees the storage and leaves `buf` empty, with the same cap. */
void og_buf_cleanup(struct og_buf *buf);

/** Drops the contents but keeps the storage. */
void og_buf_reset(struct og_buf *buf);

/**
 * Makes room for `extra` more bytes (plus the NUL). OG_ETOOBIG past `max`, OG_ENOMEM when
 * out of memory; `buf` is unchanged on failure.
 */
OG_NODISCARD enum og_err og_buf_reserve(struct og_buf *buf, size_t extra);

/**
 * The capacity og_buf_reserve(buf, extra) would leave `buf` with (its `cap` when nothing needs
 * to grow), or 0 when that call would fail with OG_ETOOBIG. Lets a caller charge a memory
 * budget for an allocation before it happens.
 */
size_t og_buf_capacity_for(const struct og_buf *buf, size_t extra);

/** og_buf_append() when the bytes do not fit as the buffer is: grows it first. Not for callers. */
OG_NODISCARD enum og_err og__buf_append_grow(struct og_buf *buf, const void *data, size_t len);

/*
 * GCC's -Wstringop-overflow cannot follow the test on `cap` below once the function is inlined
 * where the storage is a small array it knows (a caller that checked `ptr` against it), and
 * warns of a copy that the test rules out: not a warning for this function's callers.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
/**
 * Appends `len` bytes. Errors as og_buf_reserve(); on failure nothing is appended. Inline, as
 * most appends are short and fit: a constant `len` (a literal's) makes the copy a few moves.
 */
OG_NODISCARD static inline enum og_err og_buf_append(struct og_buf *buf, const void *data,
                                                     size_t len)
{
    /* og_buf_reserve()'s test that the room is there, `max` included. */
    if (len <= buf->max - buf->len && buf->len + len < buf->cap) {
        if (len > 0)
            memcpy(buf->ptr + buf->len, data, len);
        buf->len += len;
        buf->ptr[buf->len] = '\0';
        return OG_OK;
    }
    return og__buf_append_grow(buf, data, len);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/** Appends a view. */
OG_NODISCARD static inline enum og_err og_buf_append_str(struct og_buf *buf, struct og_str s)
{
    return og_buf_append(buf, s.ptr, s.len);
}

/** Appends a NUL-terminated string (a literal's length is known at compile time). */
OG_NODISCARD static inline enum og_err og_buf_append_cstr(struct og_buf *buf, const char *s)
{
    return og_buf_append(buf, s, strlen(s));
}

/** Appends printf output. Errors as og_buf_reserve(); on failure nothing is appended. */
OG_NODISCARD enum og_err og_buf_appendf(struct og_buf *buf, const char *fmt, ...) OG_PRINTF(2, 3);

/** A view of the contents, valid until the buffer next changes. */
struct og_str og_buf_view(const struct og_buf *buf);

/**
 * Moves the storage out: returns the NUL-terminated contents (never NULL: an empty buffer
 * gives a fresh "" or NULL on OOM) and its length through `len`; the caller frees it with
 * free(). The buffer is left empty.
 */
char *og_buf_take(struct og_buf *buf, size_t *len);

#endif
