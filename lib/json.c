#include "ocigate/json.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "json_int.h"

size_t og_json_plain_prefix(const char *p, size_t len)
{
    return og__json_plain_prefix(p, len, false);
}

/* Bytes of the well-formed UTF-8 sequence (RFC 3629 table) at `p`, or 0 when there is none. */
static size_t utf8_len(const unsigned char *p, size_t len)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xbf;
    size_t n;

    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4;
    else
        return 0;
    /* The second byte's range excludes overlong forms, surrogates and code points past
     * U+10FFFF. */
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (len < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    }
    return n;
}

/*
 * The output for the unit at `p` (one ASCII byte, escaped or not, or one UTF-8 sequence, or
 * one byte that begins none): written to `esc` (6 bytes), its length returned, and the input bytes
 * it stands for in `*in`.
 */
static size_t escape_unit(const char *p, size_t len, char esc[6], size_t *in)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char c = (unsigned char)p[0];
    size_t n;

    *in = 1;
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
        esc[0] = (char)c;
        return 1;
    }
    esc[0] = '\\';
    switch (c) {
    case '"':
    case '\\':
        esc[1] = (char)c;
        return 2;
    case '\b':
        esc[1] = 'b';
        return 2;
    case '\f':
        esc[1] = 'f';
        return 2;
    case '\n':
        esc[1] = 'n';
        return 2;
    case '\r':
        esc[1] = 'r';
        return 2;
    case '\t':
        esc[1] = 't';
        return 2;
    default:
        break;
    }
    if (c < 0x20) {
        memcpy(esc, "\\u00", 4);
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 15];
        return 6;
    }
    n = utf8_len((const unsigned char *)p, len);
    if (n == 0) {
        memcpy(esc, "\\ufffd", 6);
        return 6;
    }
    memcpy(esc, p, n);
    *in = n;
    return n;
}

size_t og_json_escape(char *out, size_t size, struct og_str s, size_t *used)
{
    size_t i = 0, o = 0;

    /* Copies runs of plain ASCII at once; only the other bytes are looked at one unit at a time. */
    while (i < s.len) {
        size_t run = og__json_plain_prefix(s.ptr + i, s.len - i, true), in, n;
        char esc[6];

        if (run > size - o)
            run = size - o;
        memcpy(out + o, s.ptr + i, run);
        o += run;
        i += run;
        if (i == s.len || o == size)
            break;
        n = escape_unit(s.ptr + i, s.len - i, esc, &in);
        if (n > size - o)
            break;
        memcpy(out + o, esc, n);
        o += n;
        i += in;
    }
    *used = i;
    return o;
}

/* og_json_append_string() for a string that needs escaping, or room first: out of line, so
 * that the usual case stays small. */
static __attribute__((noinline)) enum og_err append_escaped(struct og_buf *out, struct og_str s)
{
    /* The output is at least as long as the input: one reservation is the usual case. */
    enum og_err rc = og_buf_reserve(out, s.len + 2);

    if (rc != OG_OK)
        return rc;
    out->ptr[out->len++] = '"';
    for (;;) {
        size_t used, in, need, limit = out->cap - out->len - 1;
        char esc[6];

        /* Storage larger than the cap (og_buf_init_with()) does not lift it. */
        if (limit > out->max - out->len)
            limit = out->max - out->len;
        out->len += og_json_escape(out->ptr + out->len, limit, s, &used);
        s.ptr += used;
        s.len -= used;
        if (s.len == 0)
            break;
        /* The next unit did not fit: ask for it and, at least, one byte per byte after it. */
        need = escape_unit(s.ptr, s.len, esc, &in) + (s.len - in);
        rc = og_buf_reserve(out, need);
        if (rc != OG_OK) {
            out->ptr[out->len] = '\0';
            return rc;
        }
    }
    out->ptr[out->len] = '\0';
    return og_buf_append(out, "\"", 1);
}

enum og_err og_json_append_string(struct og_buf *out, struct og_str s)
{
    size_t room = out->cap > out->len ? out->cap - out->len : 0, left = out->max - out->len;
    char *d;

    /* Plain ASCII that fits as the buffer is (len + s.len + 2 below cap, and not past max), the
     * usual string, is copied at once; the rest goes through the escaper, which grows the
     * buffer. */
    if (room <= 2 || s.len >= room - 2 || left < 2 || s.len > left - 2 ||
        og__json_plain_prefix(s.ptr, s.len, true) != s.len)
        return append_escaped(out, s);
    d = out->ptr + out->len;
    *d++ = '"';
    if (s.len > 0)
        memcpy(d, s.ptr, s.len);
    d += s.len;
    *d++ = '"';
    *d = '\0';
    out->len += s.len + 2;
    return OG_OK;
}

size_t og_json_format_uint(uint64_t v, char *out)
{
    char tmp[OG_JSON_UINT_MAX];
    size_t n = 0;

    do {
        tmp[sizeof(tmp) - ++n] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    memcpy(out, tmp + sizeof(tmp) - n, n);
    return n;
}

void og_json_init(struct og_json *w, struct og_buf *out)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
    w->rc = OG_OK;
}

static void fail(struct og_json *w, enum og_err rc)
{
    if (w->rc == OG_OK)
        w->rc = rc;
}

/*
 * Room for `n` more bytes at the end of the buffer (its NUL kept), grown when needed; NULL, with
 * the error recorded, when it cannot be. The writer asks for a few bytes at a time, so the check
 * that it fits already is inline.
 */
static inline char *room(struct og_json *w, size_t n)
{
    struct og_buf *b = w->out;
    enum og_err rc;

    if (w->rc != OG_OK)
        return NULL;
    if (n <= b->max - b->len && b->len + n < b->cap)
        return b->ptr + b->len;
    rc = og_buf_reserve(b, n);
    if (rc != OG_OK) {
        fail(w, rc);
        return NULL;
    }
    return b->ptr + b->len;
}

/* Ends the text at `end`, inside the room just asked for. */
static inline void advance_to(struct og_json *w, char *end)
{
    w->out->len = (size_t)(end - w->out->ptr);
    *end = '\0';
}

static void put(struct og_json *w, const char *p, size_t len)
{
    char *d = room(w, len);

    if (d == NULL)
        return;
    memcpy(d, p, len);
    advance_to(w, d + len);
}

/* put_string() through the escaper: out of line, so that the usual case stays small. */
static void put_escaped(struct og_json *w, const char *prefix, struct og_str s, const char *suffix)
{
    enum og_err rc;

    put(w, prefix, prefix[0] != '\0');
    rc = w->rc == OG_OK ? og_json_append_string(w->out, s) : w->rc;
    if (rc != OG_OK) {
        fail(w, rc);
        return;
    }
    put(w, suffix, suffix[0] != '\0');
}

/*
 * Writes `s` quoted (with `prefix`, "" or ",", before it and `suffix`, "" or ":", after it):
 * at once when it holds only plain ASCII, the usual case, else through the escaper.
 */
static inline void put_string(struct og_json *w, const char *prefix, struct og_str s,
                              const char *suffix)
{
    size_t pre = prefix[0] != '\0', suf = suffix[0] != '\0';
    char *d;

    if (og__json_plain_prefix(s.ptr, s.len, true) != s.len) {
        put_escaped(w, prefix, s, suffix);
        return;
    }
    d = room(w, pre + s.len + 2 + suf);
    if (d == NULL)
        return;
    if (pre)
        *d++ = prefix[0];
    *d++ = '"';
    if (s.len > 0)
        memcpy(d, s.ptr, s.len);
    d += s.len;
    *d++ = '"';
    if (suf)
        *d++ = suffix[0];
    advance_to(w, d);
}

/* Before a value: the comma in an array, the check for a key in an object. False on error. */
static bool value_start(struct og_json *w)
{
    uint32_t bit;

    if (w->rc != OG_OK)
        return false;
    if (w->depth == 0)
        return true;
    bit = (uint32_t)1 << (w->depth - 1);
    if (w->objects & bit) {
        if (!w->key_written) {
            fail(w, OG_EINVAL);
            return false;
        }
        w->key_written = false;
        return true;
    }
    if (w->nonempty & bit)
        put(w, ",", 1);
    w->nonempty |= bit;
    return w->rc == OG_OK;
}

static void open_level(struct og_json *w, bool object)
{
    uint32_t bit;

    if (!value_start(w))
        return;
    if (w->depth == OG_JSON_MAX_DEPTH) {
        fail(w, OG_EINVAL);
        return;
    }
    bit = (uint32_t)1 << w->depth++;
    w->objects = object ? w->objects | bit : w->objects & ~bit;
    w->nonempty &= ~bit;
    put(w, object ? "{" : "[", 1);
}

static void close_level(struct og_json *w, bool object)
{
    uint32_t bit;

    if (w->rc != OG_OK)
        return;
    bit = w->depth > 0 ? (uint32_t)1 << (w->depth - 1) : 0;
    if (bit == 0 || ((w->objects & bit) != 0) != object || w->key_written) {
        fail(w, OG_EINVAL);
        return;
    }
    w->depth--;
    put(w, object ? "}" : "]", 1);
}

void og_json_object_begin(struct og_json *w)
{
    open_level(w, true);
}

void og_json_object_end(struct og_json *w)
{
    close_level(w, true);
}

void og_json_array_begin(struct og_json *w)
{
    open_level(w, false);
}

void og_json_array_end(struct og_json *w)
{
    close_level(w, false);
}

void og_json_key(struct og_json *w, const char *key)
{
    uint32_t bit;

    if (w->rc != OG_OK)
        return;
    bit = w->depth > 0 ? (uint32_t)1 << (w->depth - 1) : 0;
    if ((w->objects & bit) == 0 || w->key_written) {
        fail(w, OG_EINVAL);
        return;
    }
    put_string(w, (w->nonempty & bit) != 0 ? "," : "", og_str_of(key), ":");
    w->nonempty |= bit;
    w->key_written = w->rc == OG_OK;
}

void og_json_string(struct og_json *w, struct og_str s)
{
    if (value_start(w))
        put_string(w, "", s, "");
}

void og_json_cstr(struct og_json *w, const char *s)
{
    if (s == NULL)
        og_json_null(w);
    else
        og_json_string(w, og_str_of(s));
}

void og_json_base64(struct og_json *w, const void *data, size_t len)
{
    enum og_err rc;

    if (!value_start(w))
        return;
    put(w, "\"", 1);
    rc = w->rc == OG_OK ? og_base64_append(w->out, data, len) : w->rc;
    if (rc != OG_OK) {
        fail(w, rc);
        return;
    }
    put(w, "\"", 1);
}

void og_json_uint(struct og_json *w, uint64_t v)
{
    char digits[OG_JSON_UINT_MAX];

    if (value_start(w))
        put(w, digits, og_json_format_uint(v, digits));
}

void og_json_int(struct og_json *w, int64_t v)
{
    char text[OG_JSON_UINT_MAX + 1];
    /* The magnitude without overflow, INT64_MIN included. */
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    size_t n = 0;

    if (!value_start(w))
        return;
    if (v < 0)
        text[n++] = '-';
    n += og_json_format_uint(mag, text + n);
    put(w, text, n);
}

void og_json_bool(struct og_json *w, bool v)
{
    if (value_start(w))
        put(w, v ? "true" : "false", v ? 4 : 5);
}

void og_json_null(struct og_json *w)
{
    if (value_start(w))
        put(w, "null", 4);
}

void og_json_raw(struct og_json *w, struct og_str json)
{
    if (value_start(w))
        put(w, json.ptr, json.len);
}

enum og_err og_json_finish(const struct og_json *w)
{
    if (w->rc != OG_OK)
        return w->rc;
    return w->depth != 0 || w->key_written ? OG_EINVAL : OG_OK;
}

#if defined(__SSE2__)
/*
 * The eight sextets of the top 48 bits of `v`, one per byte, the first in the lowest: the two
 * 24-bit halves go to 32-bit lanes, and each sextet is moved to its byte in both at once (the
 * masks keep one lane's bits out of the other).
 */
static inline uint64_t sextets(uint64_t v)
{
    uint64_t w = ((v >> 40) & 0xffffff) | ((v >> 16) & 0xffffff) << 32;

    return ((w >> 18) & 0x0000003f0000003full) | ((w >> 4) & 0x00003f0000003f00ull) |
           ((w << 10) & 0x003f0000003f0000ull) | ((w << 24) & 0x3f0000003f000000ull);
}

/* The base64 alphabet for 16 sextets at once: 'A' + x, plus an offset for each range above. */
static inline __m128i base64_chars(__m128i x)
{
    __m128i c = _mm_add_epi8(x, _mm_set1_epi8('A'));

    c = _mm_add_epi8(c, _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8(25)), _mm_set1_epi8(6)));
    c = _mm_add_epi8(c, _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8(51)), _mm_set1_epi8(-75)));
    c = _mm_add_epi8(c, _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8(61)), _mm_set1_epi8(-15)));
    return _mm_add_epi8(c, _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8(62)), _mm_set1_epi8(3)));
}
#endif

/* The 8 bytes at `p` as a big-endian word. */
static inline uint64_t load_be64(const unsigned char *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

char *og__base64_write(char *o, const void *data, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    size_t i = 0;

#if defined(__SSE2__)
    /* Twelve bytes at a time while fourteen can be read: sixteen characters mapped at once. */
    for (; i + 14 <= len; i += 12) {
        __m128i x = _mm_set_epi64x((long long)sextets(load_be64(p + i + 6)),
                                   (long long)sextets(load_be64(p + i)));

        _mm_storeu_si128((__m128i *)(void *)o, base64_chars(x));
        o += 16;
    }
#endif
    /* Six bytes at a time while eight can be read: one load, as a big-endian word, and eight
     * sextets off its top 48 bits. */
    for (; i + 8 <= len; i += 6) {
        uint64_t v = load_be64(p + i);

        o[0] = tab[v >> 58];
        o[1] = tab[(v >> 52) & 63];
        o[2] = tab[(v >> 46) & 63];
        o[3] = tab[(v >> 40) & 63];
        o[4] = tab[(v >> 34) & 63];
        o[5] = tab[(v >> 28) & 63];
        o[6] = tab[(v >> 22) & 63];
        o[7] = tab[(v >> 16) & 63];
        o += 8;
    }
    for (; i + 2 < len; i += 3) {
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
    return o;
}

enum og_err og_base64_append(struct og_buf *out, const void *data, size_t len)
{
    size_t olen;
    enum og_err rc;

    if (len > (SIZE_MAX / 4) * 3 - 3)
        return OG_ETOOBIG;
    olen = og__base64_len(len);
    rc = og_buf_reserve(out, olen);
    if (rc != OG_OK)
        return rc;
    (void)og__base64_write(out->ptr + out->len, data, len);
    out->len += olen;
    out->ptr[out->len] = '\0';
    return OG_OK;
}
