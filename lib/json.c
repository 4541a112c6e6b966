#include "ocigate/json.h"

#include <stdint.h>
#include <string.h>

/* Nonzero when a byte of `w` is zero (the classic SWAR test; a borrow may flag a byte above
 * a real hit, never a word without one). */
static inline uint64_t has_zero(uint64_t w)
{
    return (w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull;
}

size_t og_json_plain_prefix(const char *p, size_t len)
{
    size_t k = 0;

    while (k + 8 <= len) {
        uint64_t w;

        memcpy(&w, p + k, 8);
        /* Bytes below 0x20 borrow like zero bytes do after subtracting 0x20; >= 0x80 never. */
        if ((has_zero(w ^ 0x2222222222222222ull) | has_zero(w ^ 0x5c5c5c5c5c5c5c5cull) |
             ((w - 0x2020202020202020ull) & ~w & 0x8080808080808080ull)) != 0)
            break;
        k += 8;
    }
    while (k < len && p[k] != '"' && p[k] != '\\' && (unsigned char)p[k] >= 0x20)
        k++;
    return k;
}

enum og_err og_json_append_string(struct og_buf *out, struct og_str s)
{
    static const char hex[] = "0123456789abcdef";
    enum og_err rc;
    size_t run = 0;

    rc = og_buf_append(out, "\"", 1);
    /* Copies runs of plain bytes at once; only the bytes that need escaping are handled alone. */
    for (size_t i = 0; rc == OG_OK && i < s.len; i++) {
        unsigned char c;
        char esc[6] = {'\\', 'u', '0', '0', 0, 0};
        size_t n = 2;

        i += og_json_plain_prefix(s.ptr + i, s.len - i);
        if (i >= s.len)
            break;
        c = (unsigned char)s.ptr[i];
        rc = og_buf_append(out, s.ptr + run, i - run);
        run = i + 1;
        switch (c) {
        case '"':
        case '\\':
            esc[1] = (char)c;
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
            break;
        }
        if (rc == OG_OK)
            rc = og_buf_append(out, esc, n);
    }
    if (rc == OG_OK)
        rc = og_buf_append(out, s.ptr + run, s.len - run);
    if (rc == OG_OK)
        rc = og_buf_append(out, "\"", 1);
    return rc;
}

enum og_err og_base64_append(struct og_buf *out, const void *data, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    size_t olen, i;
    char *o;
    enum og_err rc;

    if (len > (SIZE_MAX / 4) * 3 - 3)
        return OG_ETOOBIG;
    olen = (len + 2) / 3 * 4;
    rc = og_buf_reserve(out, olen);
    if (rc != OG_OK)
        return rc;
    o = out->ptr + out->len;
    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = tab[(v >> 6) & 63];
        *o++ = tab[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);

        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    out->len += olen;
    out->ptr[out->len] = '\0';
    return OG_OK;
}
