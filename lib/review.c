#include "ocigate/review.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ocigate/config.h"
#include "ocigate/json.h"
#include "ocigate/policy.h"
#include "ocigate/str.h"

#include "json_int.h"

/*
 * The decoder reads the body once, validating all of it, and copies out only the fields it
 * needs: the request path then costs one allocation instead of a cJSON tree (a node and a
 * string per member). It reads a copy of the body, `text`, made as the body's stops are found
 * (see struct scan), whose NUL after the end spares the scan a bound check per token; the
 * object's JSON text is a slice of it. Other copies live in `arena`, sized from the body so
 * that it cannot run out: unescaped strings are never longer than their JSON form.
 */
struct og_review {
    struct og_review_request req;
    const char **groups; /* the array behind req.groups */
    char *arena;
    size_t arena_len;
    size_t arena_cap;
};

#define MAX_DEPTH 1000

/* A JSON string token: its bytes between the quotes, still escaped when `escaped`. */
struct tok {
    const char *ptr;
    size_t len;
    bool escaped;
};

/*
 * The walk's position is one chain of dependent steps, and a vector scan for each string's end
 * (load, compare, mask, count) made most of its length. So the stop bytes of the body ('"',
 * '\\' and control characters) are found first, block by block as the body is copied
 * (find_stops()): `bits` holds a word per 64-byte block, bit k for byte 64 * n + k. The walk keeps
 * those of the block at `base` that are at or after `i` in `stops`: a string at `i` is the lowest
 * one, its end the next one, and both are dropped as it is read, two bit operations where a scan
 * was. Only strings and whitespace hold stops, and string() and peek_ws() keep `stops` so. 0 means
 * that the block's stops ran out: string() finds those of the block of `i` again in `bits`.
 */
struct scan {
    const char *p;
    size_t len;
    size_t i;
    const uint64_t *bits; /* len / 64 + 1 words */
    size_t base;          /* a multiple of 64, <= i */
    uint64_t stops;       /* of the block at `base`, from i; or 0 */
    unsigned depth;
    struct og_review *rv;
    struct og_diag *diag;
    enum og_err rc; /* the first error; OG_OK while scanning goes well */
};

static bool fail_at(struct scan *s, const char *what)
{
    if (s->rc == OG_OK)
        s->rc = og_diag_set(s->diag, OG_EPARSE, "malformed JSON at byte %zu: %s", s->i, what);
    return false;
}

/* A well-formed body whose shape is not an AdmissionReview's. */
static bool fail_shape(struct scan *s, const char *where, const char *msg)
{
    if (s->rc == OG_OK) {
        og_diag_where(s->diag, where);
        s->rc = og_diag_set(s->diag, OG_EPARSE, "%s %s", where, msg);
    }
    return false;
}

/* peek() past whitespace. */
static char peek_ws(struct scan *s)
{
    size_t k;

    while (s->i < s->len) {
        char c = s->p[s->i];

        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        s->i++;
    }
    /* Tabs and newlines are stops: those passed go (0 when past the block, see struct scan). */
    k = s->i - s->base;
    s->stops = k < 64 ? s->stops & (~0ull << k) : 0;
    return s->i < s->len ? s->p[s->i] : '\0';
}

/* The next byte after any whitespace, or '\0' at the end. */
static inline char peek(struct scan *s)
{
    /* The apiserver sends no whitespace between tokens: usually the next byte is the one. The
     * NUL after the text (s->i <= s->len) ends it too. */
    if ((unsigned char)s->p[s->i] > ' ')
        return s->p[s->i];
    return peek_ws(s);
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The index of the lowest set bit of `w` (not 0). */
static inline size_t low_bit(uint64_t w)
{
    return (unsigned)__builtin_ctzll(w);
}

static inline bool is_stop(unsigned char c)
{
    return c == '"' || c == '\\' || c < 0x20;
}

#if defined(__SSE2__)
/* The quotes and backslashes of `v`, a bit each. */
static inline uint64_t quote_mask(__m128i v)
{
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                                    _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
}
#endif

/*
 * Copies the body `p` (`len` bytes) to `text`, with a NUL after it, and fills `bits` (len / 64 +
 * 1 words) with its stop bytes (see struct scan). With SSE2, one pass copies the blocks and
 * finds their quotes and backslashes, and keeps the smallest byte of each lane: control
 * characters, which the apiserver never sends (not even as whitespace), cost a second pass
 * only when there are some.
 */
static void find_stops(const char *p, size_t len, char *text, uint64_t *bits)
{
    size_t n;
    uint64_t w = 0;
#if defined(__SSE2__)
    __m128i least = _mm_set1_epi8((char)0xff);
#endif

    for (n = 0; n < len / 64; n++) {
#if defined(__SSE2__)
        const __m128i *in = (const __m128i *)(const void *)(p + 64 * n);
        __m128i *out = (__m128i *)(void *)(text + 64 * n);
        __m128i v0 = _mm_loadu_si128(in), v1 = _mm_loadu_si128(in + 1);
        __m128i v2 = _mm_loadu_si128(in + 2), v3 = _mm_loadu_si128(in + 3);

        _mm_storeu_si128(out, v0);
        _mm_storeu_si128(out + 1, v1);
        _mm_storeu_si128(out + 2, v2);
        _mm_storeu_si128(out + 3, v3);
        least = _mm_min_epu8(least, _mm_min_epu8(_mm_min_epu8(v0, v1), _mm_min_epu8(v2, v3)));
        w = quote_mask(v0) | quote_mask(v1) << 16 | quote_mask(v2) << 32 | quote_mask(v3) << 48;
#else
        w = 0;
        for (unsigned k = 0; k < 64; k++) {
            text[64 * n + k] = p[64 * n + k];
            w |= (uint64_t)is_stop((unsigned char)p[64 * n + k]) << k;
        }
#endif
        bits[n] = w;
    }
#if defined(__SSE2__)
    if (_mm_movemask_epi8(
            _mm_cmpeq_epi8(_mm_max_epu8(least, _mm_set1_epi8(0x1f)), _mm_set1_epi8(0x1f))) != 0) {
        for (size_t k = 0; k < n; k++)
            bits[k] = (uint64_t)json_stop_mask16(text + 64 * k, false) |
                      (uint64_t)json_stop_mask16(text + 64 * k + 16, false) << 16 |
                      (uint64_t)json_stop_mask16(text + 64 * k + 32, false) << 32 |
                      (uint64_t)json_stop_mask16(text + 64 * k + 48, false) << 48;
    }
#endif
    /* The last block, shorter (empty when `len` is a multiple of 64): no read past `len`. */
    w = 0;
    for (size_t k = 64 * n; k < len; k++) {
        text[k] = p[k];
        w |= (uint64_t)is_stop((unsigned char)p[k]) << (k - 64 * n);
    }
    bits[n] = w;
    text[len] = '\0';
}

/* The stops of the block holding `k` (<= len), at `k` and after (see struct scan). */
static inline uint64_t stops_from(const uint64_t *bits, size_t k)
{
    return bits[k >> 6] & (~0ull << (k & 63));
}

/* Points s->stops at the block holding s->i. */
static inline void stops_at(struct scan *s)
{
    s->base = s->i & ~(size_t)63;
    s->stops = stops_from(s->bits, s->i);
}

/*
 * string() for a token that plain_end() does not take: one with escapes or a control
 * character, or one that runs past its block. The stops lead from one escape to the next; an
 * escaped quote or backslash is passed with its escape.
 */
static bool string_slow(struct scan *s, struct tok *t)
{
    const char *p = s->p;
    size_t len = s->len, base = s->base, k;
    uint64_t w = s->stops & (s->stops - 1); /* after the opening quote */
    bool escaped = false;

    for (;;) {
        size_t b;

        while (w == 0) {
            base += 64;
            if (base >= len) {
                s->i = len;
                return fail_at(s, "unterminated string");
            }
            w = s->bits[base >> 6];
        }
        b = low_bit(w);
        k = base + b;
        /* The common escapes first, \" and \\ (a string holding JSON has runs of them): a
         * backslash whose next byte is a stop of this block (bit b + 1; none when b is 63) and
         * no control character escapes a quote or a backslash, and both go. p[k + 1] is at most
         * the NUL after the text. */
        if (p[k] == '\\' && (w & 2ull << b) != 0 && (unsigned char)p[k + 1] >= 0x20) {
            escaped = true;
            do {
                w &= w - 1;
                w &= w - 1;
                if (w == 0)
                    break;
                b = low_bit(w);
                k = base + b;
            } while (p[k] == '\\' && (w & 2ull << b) != 0 && (unsigned char)p[k + 1] >= 0x20);
            continue;
        }
        if (p[k] == '"')
            break;
        if ((unsigned char)p[k] < 0x20) {
            s->i = k;
            return fail_at(s, "control character in a string");
        }
        escaped = true;
        w &= w - 1;         /* the backslash */
        switch (p[k + 1]) { /* at most the NUL after the text */
        case '"':
        case '\\':
            /* The byte escaped is a stop too: the next one, in this block or, when the
             * backslash ends it, first in the next (k + 1 < len: it is not the NUL). */
            if (w == 0) {
                base += 64;
                w = s->bits[base >> 6];
            }
            w &= w - 1; /* the byte escaped */
            break;
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            break;
        case 'u': /* its four hex digits are no stops */
            if (k + 5 >= len || !is_hex(p[k + 2]) || !is_hex(p[k + 3]) || !is_hex(p[k + 4]) ||
                !is_hex(p[k + 5])) {
                s->i = k;
                return fail_at(s, "bad \\u escape");
            }
            break;
        default:
            s->i = k;
            return fail_at(s, "bad escape");
        }
    }
    s->base = base;
    s->stops = w & (w - 1);
    t->ptr = p + s->i + 1;
    t->len = k - s->i - 1;
    t->escaped = escaped;
    s->i = k + 1;
    return true;
}

/*
 * The end of a string token from the stops (see struct scan) of the block at `base`, `*stops`,
 * whose lowest bit is its opening quote: the position of its closing quote when that is the
 * next stop, with both dropped from `*stops`. 0 when the token has an escape or a control
 * character, or runs past the block (or `*stops` is 0), leaving `*stops` as it is.
 */
static inline size_t plain_end(const char *p, size_t base, uint64_t *stops)
{
    uint64_t w = *stops & (*stops - 1);
    size_t end;

    if (w == 0)
        return 0;
    end = base + low_bit(w);
    if (p[end] != '"')
        return 0;
    *stops = w & (w - 1);
    return end;
}

/* Reads a string token at s->i (which holds '"'). */
static inline bool string(struct scan *s, struct tok *t)
{
    /* The position in locals, and stored before `t` is: the stores to `t` would otherwise
     * reload it from `s`. */
    const char *p = s->p;
    size_t i = s->i, end;

    if (s->stops == 0)
        stops_at(s);
    assert(s->stops != 0 && s->base + low_bit(s->stops) == i);
    end = plain_end(p, s->base, &s->stops);
    if (end == 0)
        return string_slow(s, t);
    s->i = end + 1;
    t->ptr = p + i + 1;
    t->len = end - i - 1;
    t->escaped = false;
    return true;
}

static bool number(struct scan *s)
{
    size_t k = s->i;
    const char *p = s->p;

    if (k < s->len && p[k] == '-')
        k++;
    if (k < s->len && p[k] == '0') {
        k++;
    } else if (k < s->len && p[k] >= '1' && p[k] <= '9') {
        while (k < s->len && p[k] >= '0' && p[k] <= '9')
            k++;
    } else {
        return fail_at(s, "unexpected character");
    }
    if (k < s->len && p[k] == '.') {
        if (++k >= s->len || p[k] < '0' || p[k] > '9') {
            s->i = k;
            return fail_at(s, "bad number");
        }
        while (k < s->len && p[k] >= '0' && p[k] <= '9')
            k++;
    }
    if (k < s->len && (p[k] == 'e' || p[k] == 'E')) {
        k++;
        if (k < s->len && (p[k] == '+' || p[k] == '-'))
            k++;
        if (k >= s->len || p[k] < '0' || p[k] > '9') {
            s->i = k;
            return fail_at(s, "bad number");
        }
        while (k < s->len && p[k] >= '0' && p[k] <= '9')
            k++;
    }
    s->i = k;
    return true;
}

static bool literal(struct scan *s, const char *word, size_t n)
{
    if (s->len - s->i < n || memcmp(s->p + s->i, word, n) != 0)
        return fail_at(s, "unexpected character");
    s->i += n;
    return true;
}

/*
 * Object and array iteration. object_next() reads the next member's key and its ':' and
 * returns 1, returns 0 after the closing '}', or -1 on an error; values are read by the
 * caller (with value() or skip()). Arrays work the same way with array_next().
 */
/* Enters the object or array at s->i. */
static bool open_container(struct scan *s)
{
    if (s->depth >= MAX_DEPTH)
        return fail_at(s, "nesting too deep");
    s->depth++;
    s->i++;
    return true;
}

static int next(struct scan *s, char close, bool *first)
{
    char c = peek(s);

    if (c == close) {
        s->i++;
        s->depth--;
        return 0;
    }
    if (!*first) {
        if (c != ',')
            return fail_at(s, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'") - 1;
        s->i++;
    }
    *first = false;
    return 1;
}

/* Reads a member's name and its ':'. */
static inline bool member_name(struct scan *s, struct tok *key)
{
    if (peek(s) != '"')
        return fail_at(s, "expected a member name");
    if (!string(s, key))
        return false;
    if (peek(s) != ':')
        return fail_at(s, "expected ':'");
    s->i++;
    return true;
}

static int object_next(struct scan *s, bool *first, struct tok *key)
{
    int r = next(s, '}', first);

    if (r != 1)
        return r;
    return member_name(s, key) ? 1 : -1;
}

static int array_next(struct scan *s, bool *first)
{
    int r = next(s, ']', first);

    if (r == 1 && peek(s) == '\0')
        return fail_at(s, "unexpected end") - 1;
    return r;
}

/* Validates and skips a value that is not an object or an array; `c` is its first byte. */
static bool skip_scalar(struct scan *s, char c)
{
    struct tok t;

    switch (c) {
    case '"':
        return string(s, &t);
    case 't':
        return literal(s, "true", 4);
    case 'f':
        return literal(s, "false", 5);
    case 'n':
        return literal(s, "null", 4);
    case '\0':
        return fail_at(s, "unexpected end");
    default:
        return number(s);
    }
}

/* peek() at a position and its stops kept outside `s` (`p` is s->p). */
static inline char peek_at(struct scan *s, const char *p, size_t *i, uint64_t *stops)
{
    char c;

    if ((unsigned char)p[*i] > ' ')
        return p[*i];
    s->i = *i;
    s->stops = *stops;
    c = peek_ws(s);
    *i = s->i;
    *stops = s->stops;
    return c;
}

/*
 * Validates and skips one value of any kind. Most of a review is passed over (managedFields, the
 * last-applied annotation, userInfo), so this is one loop, not a call per value, that keeps the
 * position in a register: the containers open inside the value are a stack of their closing
 * bytes, and a plain string is read from the stop bitmap (string()). It accepts and refuses what
 * object_next() and array_next() do, with the same messages at the same bytes.
 */
static bool skip(struct scan *s)
{
    char closer[MAX_DEPTH]; /* of the containers open here, innermost last: '}' or ']' */
    const char *const p = s->p;
    size_t i = s->i, base = s->base; /* s->base is kept; s->i and s->stops only on calls */
    uint64_t stops = s->stops;
    unsigned open = 0;
    bool want_key = false; /* a member name comes next (after '{' or an object's ',') */
    char c;

    for (;;) {
        c = peek_at(s, p, &i, &stops);
        if (want_key) {
            if (c != '"') {
                s->i = i;
                return fail_at(s, "expected a member name");
            }
        }
        if (c == '"') {
            size_t end;

            assert(stops == 0 || base + low_bit(stops) == i);
            end = plain_end(p, base, &stops);
            if (end != 0) {
                i = end + 1;
            } else {
                struct tok t;

                s->i = i;
                s->stops = stops;
                if (!string(s, &t))
                    return false;
                i = s->i;
                base = s->base;
                stops = s->stops;
            }
            if (want_key) {
                if (peek_at(s, p, &i, &stops) != ':') {
                    s->i = i;
                    return fail_at(s, "expected ':'");
                }
                i++;
                want_key = false;
                continue; /* to the member's value */
            }
        } else if (c == '{' || c == '[') {
            s->i = i;
            if (!open_container(s))
                return false;
            i = s->i;
            closer[open++] = c == '{' ? '}' : ']';
            if (peek_at(s, p, &i, &stops) != closer[open - 1]) {
                want_key = c == '{';
                continue; /* to its first member or element */
            }
            i++; /* empty */
            s->depth--;
            open--;
        } else {
            s->i = i;
            if (!skip_scalar(s, c))
                return false;
            i = s->i;
        }
        /* After a value: close the containers that end here, then go on past a ','. */
        for (;;) {
            if (open == 0) {
                s->i = i;
                s->stops = stops;
                return true;
            }
            c = peek_at(s, p, &i, &stops);
            if (c == ',') {
                i++;
                want_key = closer[open - 1] == '}';
                break;
            }
            if (c != closer[open - 1]) {
                s->i = i;
                return fail_at(s, closer[open - 1] == '}' ? "expected ',' or '}'"
                                                          : "expected ',' or ']'");
            }
            i++;
            s->depth--;
            open--;
        }
    }
}

/* Appends UTF-8 for code point `cp` at `o`; returns bytes written. */
static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static uint32_t hex4(const char *p)
{
    uint32_t v = 0;

    for (int i = 0; i < 4; i++) {
        char c = p[i];

        v = v << 4 | (uint32_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/*
 * Unescapes a (validated) string token into `o`, which has room for t->len + 1 bytes: an
 * escape is never shorter than what it stands for. Lone surrogates become U+FFFD, as in
 * Go's encoding/json. Returns the length written (NUL not counted).
 */
static size_t unescape(const struct tok *t, char *o)
{
    size_t n = 0;

    for (size_t k = 0; k < t->len; k++) {
        char c = t->ptr[k];
        uint32_t cp;

        if (c != '\\') {
            o[n++] = c;
            continue;
        }
        c = t->ptr[++k];
        switch (c) {
        case 'b':
            o[n++] = '\b';
            break;
        case 'f':
            o[n++] = '\f';
            break;
        case 'n':
            o[n++] = '\n';
            break;
        case 'r':
            o[n++] = '\r';
            break;
        case 't':
            o[n++] = '\t';
            break;
        case 'u':
            cp = hex4(t->ptr + k + 1);
            k += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && k + 6 < t->len && t->ptr[k + 1] == '\\' &&
                t->ptr[k + 2] == 'u') {
                uint32_t lo = hex4(t->ptr + k + 3);

                if (lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    k += 6;
                }
            }
            if (cp >= 0xD800 && cp < 0xE000)
                cp = 0xFFFD;
            n += put_utf8(o + n, cp);
            break;
        default: /* '"', '\\', '/' */
            o[n++] = c;
            break;
        }
    }
    o[n] = '\0';
    return n;
}

/* Copies a string token into the arena, unescaped and NUL-terminated; its length (NUL not
 * counted) in `*len` unless that is NULL. */
static const char *keep(struct scan *s, const struct tok *t, size_t *len)
{
    struct og_review *rv = s->rv;
    char *o = rv->arena + rv->arena_len;
    size_t n = t->len;

    /* The arena is sized so that this holds (see struct og_review). */
    assert(rv->arena_len + t->len + 1 <= rv->arena_cap);
    if (t->escaped) {
        n = unescape(t, o);
    } else {
        memcpy(o, t->ptr, n);
        o[n] = '\0';
    }
    rv->arena_len += n + 1;
    if (len != NULL)
        *len = n;
    return o;
}

/* key_is_n() for a key with escapes: compared unescaped. */
static bool escaped_key_is(const struct tok *key, const char *lit, size_t n)
{
    char buf[64];

    if (key->len >= sizeof(buf))
        return false;
    return unescape(key, buf) == n && memcmp(buf, lit, n) == 0;
}

/* True when the key token equals `lit` (keys with escapes are compared unescaped). Inline, as
 * each key is compared with every name its object reads. */
#define key_is(key, lit) key_is_n((key), (lit), sizeof(lit) - 1)

static inline bool key_is_n(const struct tok *key, const char *lit, size_t n)
{
    if (!key->escaped)
        return key->len == n && memcmp(key->ptr, lit, n) == 0;
    return escaped_key_is(key, lit, n);
}

/*
 * Reads an optional string member: a string is kept in `*out`, null leaves it as it is, any
 * other type is an error when `strict` (request fields) and ignored otherwise (object fields).
 */
static bool get_string(struct scan *s, const char *where, bool strict, const char **out)
{
    struct tok t;
    char c = peek(s);

    if (c == '"') {
        if (!string(s, &t))
            return false;
        *out = keep(s, &t, NULL);
        return true;
    }
    if (c == 'n' || !strict)
        return skip(s);
    if (!skip(s))
        return false;
    return fail_shape(s, where, "must be a string");
}

/*
 * True when the string token decodes to the same text in Go as in C: no NUL (our copy is a C
 * string), valid UTF-8, and no lone surrogate escape (Go turns both into U+FFFD, which ours
 * does too, but the apiserver compares the echo with what it sent, not with U+FFFD).
 */
static bool exact(const struct tok *t)
{
    struct og_str raw = {t->ptr, t->len};
    /* A run of ASCII without escapes, the usual uid, is exact: one vector scan. */
    size_t k = og__json_plain_prefix(t->ptr, t->len, true);

    while (k < t->len) {
        uint32_t cp;

        /* ASCII: the token holds no control character (string()). */
        if ((unsigned char)t->ptr[k] < 0x80 && t->ptr[k] != '\\') {
            k++;
            continue;
        }
        if (t->ptr[k] != '\\') {
            size_t n = og_utf8_char(raw, k, &cp);

            if (n == 0)
                return false;
            k += n;
            continue;
        }
        if (t->ptr[k + 1] != 'u') {
            k += 2;
            continue;
        }
        cp = hex4(t->ptr + k + 2);
        k += 6;
        if (cp == 0 || (cp >= 0xDC00 && cp < 0xE000))
            return false;
        if (cp >= 0xD800 && cp < 0xDC00) {
            /* A high surrogate counts only with the low one right after it. */
            if (k + 6 > t->len || t->ptr[k] != '\\' || t->ptr[k + 1] != 'u')
                return false;
            cp = hex4(t->ptr + k + 2);
            if (cp < 0xDC00 || cp >= 0xE000)
                return false;
            k += 6;
        }
    }
    return true;
}

/*
 * Reads a string member that the response echoes or that is compared whole (apiVersion, kind,
 * uid): it must come back exactly as sent (see exact()) and hold at most `max` bytes once
 * unescaped. null leaves `*out` as it is; another type is an error.
 */
static bool get_echoed(struct scan *s, const char *where, size_t max, const char **out)
{
    struct tok t;
    size_t len;
    char c = peek(s);

    if (c != '"')
        return get_string(s, where, true, out);
    if (!string(s, &t))
        return false;
    if (!exact(&t))
        return fail_shape(s, where,
                          "must be UTF-8 text without NUL characters or lone surrogates, as it "
                          "is echoed unchanged");
    /* exact() leaves no NUL in it: the length is that of the C string. */
    *out = keep(s, &t, &len);
    if (len > max) {
        if (s->rc == OG_OK) {
            og_diag_where(s->diag, where);
            s->rc = og_diag_set(s->diag, OG_EPARSE, "%s is longer than %zu bytes", where, max);
        }
        return false;
    }
    return true;
}

/* Starts an optional object member: true with *is_obj set, or false on error. */
static bool get_object(struct scan *s, const char *where, bool strict, bool *is_obj)
{
    char c = peek(s);

    *is_obj = c == '{';
    if (*is_obj)
        return open_container(s);
    if (c == 'n' || !strict)
        return skip(s);
    if (!skip(s))
        return false;
    return fail_shape(s, where, "must be an object");
}

/*
 * A member that the decoder reads may appear once per object. JSON leaves duplicates
 * undefined and decoders disagree on which one wins (Go's and ours: the last; cJSON, which
 * guidance uses: the first), so a review that repeats one is refused rather than read two
 * ways. The apiserver never sends one.
 */
static bool once(struct scan *s, unsigned *seen, unsigned bit, const char *where, const char *name)
{
    if ((*seen & bit) != 0) {
        if (s->rc == OG_OK) {
            og_diag_where(s->diag, where);
            s->rc = og_diag_set(s->diag, OG_EPARSE, "%s: member \"%s\" given twice", where, name);
        }
        return false;
    }
    *seen |= bit;
    return true;
}

/*
 * One object level being read: what its members fill in, and which of them were seen (a bit
 * per member, for once()).
 */
struct level {
    void *target;
    unsigned seen;
};

/* Reads the value of the member named `key` of a level. */
typedef bool (*member_fn)(struct scan *s, const struct tok *key, struct level *lv);

/*
 * Reads an optional object at s->i: null, or (unless `strict`) a value of another type, is
 * passed over; another type with `strict` is an error naming `where`. An object's members go
 * to `fn` one by one. `*is_obj` (may be NULL) tells whether there was an object.
 */
static bool members(struct scan *s, const char *where, bool strict, member_fn fn, void *target,
                    bool *is_obj)
{
    struct level lv = {target, 0};
    bool obj, first = true;
    struct tok key;
    int r;

    if (!get_object(s, where, strict, &obj))
        return false;
    if (is_obj != NULL)
        *is_obj = obj;
    if (!obj)
        return true;
    for (r = object_next(s, &first, &key); r == 1; r = object_next(s, &first, &key)) {
        if (!fn(s, &key, &lv))
            return false;
    }
    return r == 0;
}

#define META "/request/object/metadata"
#define SPEC "/request/object/spec"

static bool annotation_member(struct scan *s, const struct tok *key, struct level *lv)
{
    struct og_review_object *obj = lv->target;

    if (key_is(key, OG_MODE_ANNOTATION))
        return once(s, &lv->seen, 1, META "/annotations", OG_MODE_ANNOTATION) &&
               get_string(s, "", false, &obj->mode_annotation);
    return skip(s);
}

static bool metadata_member(struct scan *s, const struct tok *key, struct level *lv)
{
    struct og_review_object *obj = lv->target;

    if (key_is(key, "name"))
        return once(s, &lv->seen, 1, META, "name") && get_string(s, "", false, &obj->name);
    if (key_is(key, "namespace"))
        return once(s, &lv->seen, 2, META, "namespace") &&
               get_string(s, "", false, &obj->namespace_);
    if (key_is(key, "annotations"))
        return once(s, &lv->seen, 4, META, "annotations") &&
               members(s, "", false, annotation_member, obj, NULL);
    if (key_is(key, "deletionTimestamp")) {
        obj->deleting = peek(s) != 'n';
        return once(s, &lv->seen, 8, META, "deletionTimestamp") && skip(s);
    }
    return skip(s);
}

static bool spec_member(struct scan *s, const struct tok *key, struct level *lv)
{
    struct og_review_object *obj = lv->target;

    if (key_is(key, "url")) {
        obj->has_url = true;
        return once(s, &lv->seen, 1, SPEC, "url") && get_string(s, "", false, &obj->url);
    }
    if (key_is(key, "type")) {
        obj->has_type = true;
        return once(s, &lv->seen, 2, SPEC, "type") && get_string(s, "", false, &obj->type);
    }
    if (key_is(key, "passCredentials")) {
        obj->has_pass_credentials = true;
        return once(s, &lv->seen, 4, SPEC, "passCredentials") && skip(s);
    }
    if (key_is(key, "secretRef")) {
        obj->has_secret_ref = peek(s) == '{';
        return once(s, &lv->seen, 8, SPEC, "secretRef") && skip(s);
    }
    return skip(s);
}

#define OLD "/request/oldObject"

/* request.oldObject: only spec.url and spec.type, which the ratchet compares (policy.h). */
static bool old_spec_member(struct scan *s, const struct tok *key, struct level *lv)
{
    struct og_review_old_object *old = lv->target;

    if (key_is(key, "url"))
        return once(s, &lv->seen, 1, OLD "/spec", "url") && get_string(s, "", false, &old->url);
    if (key_is(key, "type"))
        return once(s, &lv->seen, 2, OLD "/spec", "type") && get_string(s, "", false, &old->type);
    return skip(s);
}

static bool old_object_member(struct scan *s, const struct tok *key, struct level *lv)
{
    if (key_is(key, "spec"))
        return once(s, &lv->seen, 1, OLD, "spec") &&
               members(s, "", false, old_spec_member, lv->target, NULL);
    return skip(s);
}

static bool object_member(struct scan *s, const struct tok *key, struct level *lv)
{
    struct og_review_object *obj = lv->target;

    if (key_is(key, "metadata"))
        return once(s, &lv->seen, 1, "/request/object", "metadata") &&
               members(s, "", false, metadata_member, obj, NULL);
    if (key_is(key, "spec"))
        return once(s, &lv->seen, 2, "/request/object", "spec") &&
               members(s, "", false, spec_member, obj, &obj->has_spec);
    return skip(s);
}

static bool read_object(struct scan *s, struct og_review_object *obj)
{
    size_t start;

    memset(obj, 0, sizeof(*obj));
    obj->name = "";
    obj->namespace_ = "";
    start = (peek(s), s->i);
    if (!members(s, "/request/object", true, object_member, obj, &obj->present))
        return false;
    if (!obj->present)
        return true;
    /* The object's text, for og_review_object_tree(): s->p is the review's copy. */
    obj->json.ptr = s->p + start;
    obj->json.len = s->i - start;
    return true;
}

static bool read_groups(struct scan *s)
{
    struct og_review *rv = s->rv;
    bool first = true;
    size_t cap = 0;
    int r;
    char c = peek(s);

    rv->req.n_groups = 0;
    if (c == 'n')
        return skip(s);
    if (c != '[') {
        if (!skip(s))
            return false;
        return fail_shape(s, "/request/userInfo/groups", "must be an array");
    }
    if (!open_container(s))
        return false;
    for (r = array_next(s, &first); r == 1; r = array_next(s, &first)) {
        const char **grown;
        struct tok t;

        if (peek(s) != '"') {
            if (!skip(s))
                return false;
            return fail_shape(s, "/request/userInfo/groups", "must hold strings");
        }
        if (!string(s, &t))
            return false;
        grown = og_array_grow(rv->groups, &cap, rv->req.n_groups, sizeof(*grown), 8, SIZE_MAX);
        if (grown == NULL) {
            s->rc = OG_ENOMEM;
            return false;
        }
        rv->groups = grown;
        rv->groups[rv->req.n_groups++] = keep(s, &t, NULL);
    }
    rv->req.groups = rv->groups;
    return r == 0;
}

static bool user_member(struct scan *s, const struct tok *key, struct level *lv)
{
    struct og_review_request *req = lv->target;

    if (key_is(key, "username"))
        return get_string(s, "/request/userInfo/username", true, &req->username);
    if (key_is(key, "groups"))
        return read_groups(s);
    return skip(s);
}

static bool kind_member(struct scan *s, const struct tok *key, struct level *lv)
{
    struct og_review_request *req = lv->target;

    if (key_is(key, "group"))
        return get_string(s, "/request/kind/group", true, &req->group);
    if (key_is(key, "version"))
        return get_string(s, "/request/kind/version", true, &req->version);
    if (key_is(key, "kind"))
        return get_string(s, "/request/kind/kind", true, &req->kind);
    return skip(s);
}

static bool request_member(struct scan *s, const struct tok *key, struct level *lv)
{
    struct og_review_request *req = lv->target;

    if (key_is(key, "uid"))
        return once(s, &lv->seen, 1, "/request", "uid") &&
               get_echoed(s, "/request/uid", OG_REVIEW_UID_MAX, &req->uid);
    if (key_is(key, "kind"))
        return once(s, &lv->seen, 2, "/request", "kind") &&
               members(s, "/request/kind", true, kind_member, req, NULL);
    if (key_is(key, "name"))
        return once(s, &lv->seen, 4, "/request", "name") &&
               get_string(s, "/request/name", true, &req->name);
    if (key_is(key, "namespace"))
        return once(s, &lv->seen, 8, "/request", "namespace") &&
               get_string(s, "/request/namespace", true, &req->namespace_);
    if (key_is(key, "operation"))
        return once(s, &lv->seen, 16, "/request", "operation") &&
               get_string(s, "/request/operation", true, &req->operation);
    if (key_is(key, "userInfo"))
        return once(s, &lv->seen, 32, "/request", "userInfo") &&
               members(s, "/request/userInfo", true, user_member, req, NULL);
    if (key_is(key, "object"))
        return once(s, &lv->seen, 64, "/request", "object") && read_object(s, &req->object);
    if (key_is(key, "oldObject"))
        return once(s, &lv->seen, 256, "/request", "oldObject") &&
               members(s, OLD, true, old_object_member, &req->old_object, &req->old_object.present);
    if (key_is(key, "dryRun")) {
        char c = peek(s);

        req->dry_run = c == 't';
        if (!once(s, &lv->seen, 128, "/request", "dryRun") || !skip(s))
            return false;
        return c == 't' || c == 'f' || c == 'n' ||
               fail_shape(s, "/request/dryRun", "must be a boolean");
    }
    return skip(s);
}

/* The top level: apiVersion, kind and request (`target` is a struct root_read). */
struct root_read {
    const char *review_kind;
    bool request;
};

static bool root_member(struct scan *s, const struct tok *key, struct level *lv)
{
    struct root_read *root = lv->target;
    bool is_obj;

    if (key_is(key, "apiVersion"))
        return get_echoed(s, "/apiVersion", SIZE_MAX, &s->rv->req.api_version);
    if (key_is(key, "kind"))
        return get_echoed(s, "/kind", SIZE_MAX, &root->review_kind);
    if (key_is(key, "request")) {
        if (!members(s, "/request", true, request_member, &s->rv->req, &is_obj))
            return false;
        if (is_obj && root->request)
            return fail_shape(s, "/", "member \"request\" given twice");
        root->request |= is_obj;
        return true;
    }
    return skip(s);
}

static enum og_operation parse_op(const char *op)
{
    static const char *const names[] = {"CREATE", "UPDATE", "DELETE", "CONNECT"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(op, names[i]) == 0)
            return (enum og_operation)i;
    }
    return OG_OP_OTHER;
}

static const char *const api_versions[] = {"admission.k8s.io/v1", "admission.k8s.io/v1beta1"};

/* Whether only whitespace is left: peek()'s '\0' is also a NUL byte in the body. */
static bool at_end(struct scan *s)
{
    return peek(s) == '\0' && s->i >= s->len;
}

/* Walks the whole body; then checks what an AdmissionReview must hold. */
static enum og_err decode(struct scan *s)
{
    struct og_review_request *req = &s->rv->req;
    struct root_read root = {"", false};

    if (peek(s) != '{') {
        if (s->i < s->len && skip(s) && at_end(s))
            return og_diag_set(s->diag, OG_EPARSE, "AdmissionReview must be a JSON object");
        fail_at(s, s->i >= s->len ? "no JSON value" : "unexpected character");
        return s->rc;
    }
    if (!members(s, "", true, root_member, &root, NULL))
        return s->rc;
    if (!at_end(s)) {
        fail_at(s, "trailing data");
        return s->rc;
    }
    if (req->api_version[0] == '\0') {
        req->api_version = api_versions[0];
    } else if (strcmp(req->api_version, api_versions[0]) != 0 &&
               strcmp(req->api_version, api_versions[1]) != 0) {
        og_diag_where(s->diag, "/apiVersion");
        return og_diag_set(s->diag, OG_EPARSE,
                           "unsupported apiVersion \"%.64s\" (want admission.k8s.io/v1 or v1beta1)",
                           req->api_version);
    }
    if (root.review_kind[0] != '\0' && strcmp(root.review_kind, "AdmissionReview") != 0) {
        og_diag_where(s->diag, "/kind");
        return og_diag_set(s->diag, OG_EPARSE, "kind \"%.64s\" is not AdmissionReview",
                           root.review_kind);
    }
    if (!root.request) {
        og_diag_where(s->diag, "/request");
        return og_diag_set(s->diag, OG_EPARSE, "AdmissionReview has no request");
    }
    if (req->uid[0] == '\0') {
        og_diag_where(s->diag, "/request/uid");
        return og_diag_set(s->diag, OG_EPARSE, "AdmissionReview request has no uid");
    }
    req->op = parse_op(req->operation);
    return OG_OK;
}

enum og_err og_review_decode(const char *body, size_t len, struct og_review **out,
                             struct og_diag *diag)
{
    struct og_review *rv = NULL;
    uint64_t *bits;
    char *text;
    size_t words = len / 64 + 1;
    struct scan s;
    enum og_err rc = OG_ENOMEM;

    _Static_assert(sizeof(*rv) % _Alignof(uint64_t) == 0, "the stops follow the review");
    if (len > (SIZE_MAX - sizeof(*rv) - 16) / 3)
        return og_diag_set(diag, OG_ETOOBIG, "request body too large");
    /* After the review: the body's stops (see struct scan), its copy and the arena, which
     * needs no zeroing: every string copied into it is NUL-terminated. */
    rv = malloc(sizeof(*rv) + words * sizeof(*bits) + (len + 1) + (len + 16));
    if (rv == NULL)
        goto out;
    memset(rv, 0, sizeof(*rv));
    bits = (uint64_t *)(void *)(rv + 1);
    text = (char *)(bits + words);
    find_stops(body, len, text, bits);
    rv->arena = text + len + 1;
    rv->arena_cap = len + 16;
    rv->req.api_version = rv->req.uid = rv->req.group = rv->req.version = rv->req.kind = "";
    rv->req.name = rv->req.namespace_ = rv->req.operation = rv->req.username = "";
    rv->req.object.name = rv->req.object.namespace_ = "";
    memset(&s, 0, sizeof(s));
    s.p = text;
    s.len = len;
    s.bits = bits;
    s.rv = rv;
    s.diag = diag;
    rc = decode(&s);
    if (rc != OG_OK)
        goto out;
    *out = rv;
    rv = NULL;
out:
    og_review_free(rv);
    return rc;
}

const struct og_review_request *og_review_get_request(const struct og_review *rv)
{
    return &rv->req;
}

enum og_err og_review_object_tree(const struct og_review *rv, cJSON **out)
{
    const struct og_review_object *obj = &rv->req.object;

    if (!obj->present)
        return OG_ENOTFOUND;
    /* The text was validated when decoded: NULL here can only mean out of memory. */
    *out = cJSON_ParseWithLength(obj->json.ptr, obj->json.len);
    return *out != NULL ? OG_OK : OG_ENOMEM;
}

/* og_policy_tree_fn for the review's object. */
static enum og_err object_tree(const void *arg, cJSON **out)
{
    return og_review_object_tree(arg, out);
}

bool og_review_policy_input(const struct og_review *rv, struct og_policy_object *obj,
                            struct og_admission_context *ctx)
{
    const struct og_review_request *req = &rv->req;
    const struct og_review_object *o = &req->object;

    memset(obj, 0, sizeof(*obj));
    ctx->op = req->op;
    ctx->username = req->username;
    ctx->groups = req->groups;
    ctx->n_groups = req->n_groups;
    ctx->dry_run = req->dry_run;
    ctx->has_old = req->old_object.present;
    ctx->old_url = req->old_object.url;
    ctx->old_type = req->old_object.type;
    if (!o->present)
        return false;
    obj->group = req->group;
    obj->version = req->version;
    obj->kind = req->kind;
    /* The apiserver names the object in the request; an object sent alone names itself. */
    obj->namespace_ = req->namespace_[0] != '\0' ? req->namespace_ : o->namespace_;
    obj->name = req->name[0] != '\0' ? req->name : o->name;
    obj->mode_annotation = o->mode_annotation;
    obj->deleting = o->deleting;
    obj->has_spec = o->has_spec;
    obj->url = o->url;
    obj->type = o->type;
    obj->has_type = o->has_type;
    obj->has_url = o->has_url;
    obj->has_pass_credentials = o->has_pass_credentials;
    obj->has_secret_ref = o->has_secret_ref;
    obj->tree_fn = object_tree;
    obj->tree_arg = rv;
    return true;
}

void og_review_free(struct og_review *rv)
{
    if (rv == NULL)
        return;
    free(rv->groups);
    free(rv);
}

/*
 * The usual response has strings that are plain ASCII only (nothing to escape): its length is
 * then known before a byte is written, so it is reserved once and written without a check per
 * part. layout() walks the response's shape for both steps: with `o` NULL it only counts, else
 * it writes at `o`; the strings come from `s`, in the order the response holds them
 * (response_strings()).
 */
struct emit {
    char *o;                /* where the response goes, or NULL while counting */
    size_t n;               /* bytes so far */
    const struct og_str *s; /* the next string */
};

/* Most strings the plain path takes: apiVersion, uid, reason, message, 4 warnings, and 4
 * annotations (what the policy gives at most); more go the general way. */
#define PLAIN_STRINGS 16

#define EMIT_LIT(e, lit) emit_bytes((e), (lit), sizeof(lit) - 1)

static inline __attribute__((always_inline)) void emit_bytes(struct emit *e, const char *p,
                                                             size_t len)
{
    if (e->o != NULL)
        memcpy(e->o + e->n, p, len);
    e->n += len;
}

static inline __attribute__((always_inline)) void emit_str(struct emit *e)
{
    struct og_str s = *e->s++;

    if (e->o != NULL) {
        char *o = e->o + e->n;

        *o++ = '"';
        o = og__json_copy(o, s.ptr, s.len);
        *o = '"';
    }
    e->n += s.len + 2;
}

static inline __attribute__((always_inline)) void
layout(struct emit *e, const struct og_decision *d, const char *num, size_t num_len)
{
    EMIT_LIT(e, "{\"apiVersion\":");
    emit_str(e);
    EMIT_LIT(e, ",\"kind\":\"AdmissionReview\",\"response\":{\"uid\":");
    emit_str(e);
    if (d->allowed) {
        EMIT_LIT(e, ",\"allowed\":true");
    } else {
        EMIT_LIT(e, ",\"allowed\":false,\"status\":{\"code\":");
        emit_bytes(e, num, num_len);
        EMIT_LIT(e, ",\"status\":\"Failure\"");
        if (d->reason != NULL) {
            EMIT_LIT(e, ",\"reason\":");
            emit_str(e);
        }
        if (d->message != NULL) {
            EMIT_LIT(e, ",\"message\":");
            emit_str(e);
        }
        EMIT_LIT(e, "}");
    }
    if (d->allowed && d->patch != NULL && d->patch_len > 0) {
        EMIT_LIT(e, ",\"patchType\":\"JSONPatch\",\"patch\":\"");
        if (e->o != NULL)
            (void)og__base64_write(e->o + e->n, d->patch, d->patch_len);
        e->n += og__base64_len(d->patch_len);
        EMIT_LIT(e, "\"");
    }
    if (d->n_warnings > 0) {
        EMIT_LIT(e, ",\"warnings\":[");
        for (size_t i = 0; i < d->n_warnings; i++) {
            if (i > 0)
                EMIT_LIT(e, ",");
            emit_str(e);
        }
        EMIT_LIT(e, "]");
    }
    if (d->n_annotations > 0) {
        EMIT_LIT(e, ",\"auditAnnotations\":{");
        for (size_t i = 0; i < d->n_annotations; i++) {
            if (i > 0)
                EMIT_LIT(e, ",");
            emit_str(e);
            EMIT_LIT(e, ":");
            emit_str(e);
        }
        EMIT_LIT(e, "}");
    }
    EMIT_LIT(e, "}}");
}

/* Writes the status code of the denial `d` (403 when it has none) to `num`; returns its length. */
static size_t status_code(const struct og_decision *d, char num[OG_JSON_UINT_MAX + 1])
{
    int64_t code = d->code != 0 ? d->code : 403;
    size_t n = 0;

    if (code < 0)
        num[n++] = '-';
    return n +
           og_json_format_uint(code < 0 ? (uint64_t)0 - (uint64_t)code : (uint64_t)code, num + n);
}

/* Adds `p` (`len` bytes) to the strings at `s` (room for PLAIN_STRINGS); false when it needs
 * escaping. */
static inline __attribute__((always_inline)) bool plain_string(struct og_str *s, size_t *n,
                                                               const char *p, size_t len)
{
    s[(*n)++] = (struct og_str){p, len};
    return og__json_is_plain_ascii(p, len);
}

/*
 * The plain path: true when it wrote the response or failed (`*rc`, with `out` as it was), false
 * when the response has a string to escape or more than PLAIN_STRINGS, for encode_escaped().
 */
static bool encode_plain(const struct og_review *rv, const struct og_decision *d,
                         struct og_buf *out, enum og_err *rc)
{
    struct og_str s[PLAIN_STRINGS];
    char num[OG_JSON_UINT_MAX + 1];
    struct emit e = {NULL, 0, s};
    size_t n = 0, num_len = 0;
    bool plain;

    if (2 + 2 + d->n_warnings + 2 * d->n_annotations > PLAIN_STRINGS ||
        (d->allowed && d->patch != NULL && d->patch_len > out->max))
        return false;
    plain = plain_string(s, &n, rv->req.api_version, strlen(rv->req.api_version));
    plain &= plain_string(s, &n, rv->req.uid, strlen(rv->req.uid));
    if (!d->allowed) {
        num_len = status_code(d, num);
        if (d->reason != NULL)
            plain &= plain_string(s, &n, d->reason, strlen(d->reason));
        if (d->message != NULL)
            plain &= plain_string(s, &n, d->message, strlen(d->message));
    }
    for (size_t i = 0; i < d->n_warnings; i++)
        plain &= plain_string(s, &n, d->warnings[i], d->warning_lens[i]);
    for (size_t i = 0; i < d->n_annotations; i++) {
        plain &= plain_string(s, &n, d->annotations[i].key, d->annotations[i].key_len);
        plain &= plain_string(s, &n, d->annotations[i].value, d->annotations[i].value_len);
    }
    if (!plain)
        return false;
    layout(&e, d, num, num_len);
    /* Past the cap, OG_ETOOBIG with `out` as it was: what the general way gives too. */
    *rc = og_buf_reserve(out, e.n);
    if (*rc != OG_OK)
        return true;
    e.o = out->ptr + out->len;
    e.n = 0;
    e.s = s;
    layout(&e, d, num, num_len);
    out->len += e.n;
    out->ptr[out->len] = '\0';
    return true;
}

#undef EMIT_LIT

/* The general way: strings escaped as the og_json writer escapes them. */
static enum og_err encode_escaped(const struct og_review *rv, const struct og_decision *d,
                                  struct og_buf *out)
{
/*
 * The response has a fixed shape, so its text is written as it is, with only the strings
 * escaped (og_json_append_string(), as the og_json writer escapes them): the literal `lit`, or
 * the string `s`, appended while nothing failed.
 */
#define LIT(lit) (rc = rc != OG_OK ? rc : og_buf_append(out, (lit), sizeof(lit) - 1))
#define STR(s) (rc = rc != OG_OK ? rc : og_json_append_string(out, (s)))
    size_t start = out->len, want;
    enum og_err rc;

    /* One allocation for the usual response: the patch in base64, and some room; no more than
     * the cap allows, so that an answer that fits is written, as encode_plain() writes one. */
    want = 1024 + d->patch_len * 2 + (d->message != NULL ? strlen(d->message) * 2 : 0);
    rc = og_buf_reserve(out, want < out->max - out->len ? want : out->max - out->len);
    if (rc != OG_OK)
        return rc;
    LIT("{\"apiVersion\":");
    STR(og_str_of(rv->req.api_version));
    LIT(",\"kind\":\"AdmissionReview\",\"response\":{\"uid\":");
    STR(og_str_of(rv->req.uid));
    if (d->allowed) {
        LIT(",\"allowed\":true");
    } else {
        char num[OG_JSON_UINT_MAX + 1];
        size_t n = status_code(d, num);

        LIT(",\"allowed\":false,\"status\":{\"code\":");
        if (rc == OG_OK)
            rc = og_buf_append(out, num, n);
        LIT(",\"status\":\"Failure\"");
        if (d->reason != NULL) {
            LIT(",\"reason\":");
            STR(og_str_of(d->reason));
        }
        if (d->message != NULL) {
            LIT(",\"message\":");
            STR(og_str_of(d->message));
        }
        LIT("}");
    }
    if (d->allowed && d->patch != NULL && d->patch_len > 0) {
        LIT(",\"patchType\":\"JSONPatch\",\"patch\":\"");
        if (rc == OG_OK)
            rc = og_base64_append(out, d->patch, d->patch_len);
        LIT("\"");
    }
    if (d->n_warnings > 0) {
        LIT(",\"warnings\":[");
        for (size_t i = 0; i < d->n_warnings; i++) {
            if (i > 0)
                LIT(",");
            STR(((struct og_str){d->warnings[i], d->warning_lens[i]}));
        }
        LIT("]");
    }
    if (d->n_annotations > 0) {
        LIT(",\"auditAnnotations\":{");
        for (size_t i = 0; i < d->n_annotations; i++) {
            if (i > 0)
                LIT(",");
            STR(((struct og_str){d->annotations[i].key, d->annotations[i].key_len}));
            LIT(":");
            STR(((struct og_str){d->annotations[i].value, d->annotations[i].value_len}));
        }
        LIT("}");
    }
    LIT("}}");
#undef LIT
#undef STR
    if (rc != OG_OK) {
        out->len = start;
        out->ptr[start] = '\0';
    }
    return rc;
}

enum og_err og_review_encode(const struct og_review *rv, const struct og_decision *d,
                             struct og_buf *out)
{
    enum og_err rc;

    if (encode_plain(rv, d, out, &rc))
        return rc;
    return encode_escaped(rv, d, out);
}
