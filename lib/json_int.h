/*
 * json_int.h - the plain-run scan of json.c, inline for lib/'s JSON scanners (private to lib/).
 */
#ifndef OG_JSON_INT_H
#define OG_JSON_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Nonzero when a byte of `w` is zero (the classic SWAR test; a borrow may flag a byte above
 * a real hit, never a word without one). */
static inline uint64_t json_has_zero(uint64_t w)
{
    return (w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull;
}

/*
 * Nonzero when one of the bytes of `w` ends a plain run ('"', '\\', a control character, or
 * one >= 0x80 when `high` is 0x80 in each byte). Tells only whether there is one, not where.
 */
static inline uint64_t json_word_stops(uint64_t w, uint64_t high)
{
    /* Bytes below 0x20 borrow like zero bytes do after subtracting 0x20; >= 0x80 never. */
    return json_has_zero(w ^ 0x2222222222222222ull) | json_has_zero(w ^ 0x5c5c5c5c5c5c5c5cull) |
           ((w - 0x2020202020202020ull) & ~w & 0x8080808080808080ull) | (w & high);
}

#if defined(__SSE2__)
/*
 * The bytes of `v` that end a plain run, one bit each (bit i for byte i): '"', '\\', a
 * control character and, with `ascii`, a byte >= 0x80.
 */
static inline unsigned json_stop_mask(__m128i v, bool ascii)
{
    const __m128i ctl = _mm_set1_epi8(0x1f);
    /* An unsigned byte is <= 0x1f exactly when its maximum with 0x1f is 0x1f. */
    __m128i stop = _mm_or_si128(_mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl),
                                _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                             _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));

    if (ascii)
        stop = _mm_or_si128(stop, v); /* the movemask takes each byte's top bit */
    return (unsigned)_mm_movemask_epi8(stop);
}

/* json_stop_mask() of the 16 bytes at `p`. */
static inline unsigned json_stop_mask16(const char *p, bool ascii)
{
    return json_stop_mask(_mm_loadu_si128((const __m128i *)(const void *)p), ascii);
}
#endif

/*
 * Whether all of the `len` (< 16) bytes at `p` are plain, in one test of two words (16 bytes
 * with SSE2): the words are made of overlapping loads that cover every byte and read none past
 * `len` (the same byte twice changes nothing), padded with plain 'a's for the shortest.
 */
static inline bool json_short_is_plain(const char *p, size_t len, uint64_t high)
{
    const unsigned char *u = (const unsigned char *)p;
    uint64_t w, w2 = 0x6161616161616161ull;
    uint32_t lo, hi;

    if (len >= 8) {
        memcpy(&w, p, 8);
        memcpy(&w2, p + len - 8, 8);
    } else if (len >= 4) {
        memcpy(&lo, p, 4);
        memcpy(&hi, p + len - 4, 4);
        w = (uint64_t)hi << 32 | lo;
    } else if (len > 0) {
        w = 0x6161616161000000ull | (uint64_t)u[len - 1] << 16 | (uint64_t)u[len / 2] << 8 | u[0];
    } else {
        return true;
    }
#if defined(__SSE2__)
    return json_stop_mask(_mm_set_epi64x((long long)w2, (long long)w), high != 0) == 0;
#else
    return (json_word_stops(w, high) | json_word_stops(w2, high)) == 0;
#endif
}

/**
 * Length of the longest prefix of `p` (`len` bytes) with no '"', no '\\' and no control
 * character; with `ascii`, no byte >= 0x80 either (the writer looks at those one sequence at
 * a time). og_json_plain_prefix() without `ascii`; inline here for the scanners of json.c and
 * review.c, which call it once per string. Never reads past `len`.
 */
static inline size_t og__json_plain_prefix(const char *p, size_t len, bool ascii)
{
    const uint64_t high = ascii ? 0x8080808080808080ull : 0;
    const unsigned limit = ascii ? 0x80 : 0x100;
    size_t k = 0;

    if (len < 16) {
        /* Most keys and values the writer writes: one test for all of it, and the byte loop
         * below only to find where a stop is. (The decoder scans the rest of the body, under
         * 16 bytes only at its very end: it goes without, keeping its scan small.) */
        if (ascii && json_short_is_plain(p, len, high))
            return len;
    } else {
#if defined(__SSE2__)
        /* 16 bytes per step. The last step, when `len` is not a multiple of 16, looks at the
         * last 16 bytes again: those it shares with the steps before are plain, so its first
         * stop is the run's end, and nothing past `len` is read. */
        unsigned mask;

        for (; k + 16 <= len; k += 16) {
            mask = json_stop_mask16(p + k, ascii);
            if (mask != 0)
                return k + (size_t)__builtin_ctz(mask);
        }
        if (k == len)
            return len;
        mask = json_stop_mask16(p + len - 16, ascii);
        return mask != 0 ? len - 16 + (size_t)__builtin_ctz(mask) : len;
#else
        for (uint64_t w; k + 8 <= len; k += 8) {
            memcpy(&w, p + k, 8);
            if (json_word_stops(w, high) != 0)
                break;
        }
#endif
    }
    while (k < len && p[k] != '"' && p[k] != '\\' && (unsigned char)p[k] >= 0x20 &&
           (unsigned char)p[k] < limit)
        k++;
    return k;
}

/*
 * Whether all of the `len` bytes at `p` are plain ASCII (og__json_plain_prefix(p, len, true) ==
 * len), for a writer that only needs to know whether to escape: without looking for where the
 * run ends, 16 bytes cost a few instructions, and the test is inline wherever it is used.
 */
static inline __attribute__((always_inline)) bool og__json_is_plain_ascii(const char *p, size_t len)
{
    const uint64_t high = 0x8080808080808080ull;

    if (len < 16)
        return json_short_is_plain(p, len, high);
#if defined(__SSE2__)
    {
        const __m128i ctl = _mm_set1_epi8(0x1f), quote = _mm_set1_epi8('"'),
                      backslash = _mm_set1_epi8('\\');
        __m128i acc = _mm_setzero_si128(), v;
        size_t k = 0;

        /* The last 16 bytes are looked at whole, the same bytes twice where they overlap. */
        for (;;) {
            v = _mm_loadu_si128((const __m128i *)(const void *)(p + k));
            acc = _mm_or_si128(acc, _mm_or_si128(v, _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl)));
            acc = _mm_or_si128(
                acc, _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
            if (k + 16 == len)
                break;
            k = k + 32 <= len ? k + 16 : len - 16;
        }
        return _mm_movemask_epi8(acc) == 0;
    }
#else
    return og__json_plain_prefix(p, len, true) == len;
#endif
}

/*
 * Copies `n` bytes from `s` to `o` and returns the end, without a call to the library for a
 * short string (most keys and values a response holds): two overlapping moves cover 4 to 32
 * bytes; longer ones go to memcpy(). The areas do not overlap.
 */
static inline char *og__json_copy(char *o, const char *s, size_t n)
{
    if (n > 32) {
        memcpy(o, s, n);
    } else if (n >= 16) {
#if defined(__SSE2__)
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)s);
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(s + n - 16));

        _mm_storeu_si128((__m128i *)(void *)o, a);
        _mm_storeu_si128((__m128i *)(void *)(o + n - 16), b);
#else
        memcpy(o, s, n);
#endif
    } else if (n >= 8) {
        uint64_t a, b;

        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(o, &a, 8);
        memcpy(o + n - 8, &b, 8);
    } else if (n >= 4) {
        uint32_t a, b;

        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(o, &a, 4);
        memcpy(o + n - 4, &b, 4);
    } else {
        for (size_t i = 0; i < n; i++)
            o[i] = s[i];
    }
    return o + n;
}

/** Bytes of the base64 (with padding) of `len` bytes; `len` at most (SIZE_MAX / 4) * 3 - 3. */
static inline size_t og__base64_len(size_t len)
{
    return (len + 2) / 3 * 4;
}

/**
 * Writes the base64 of og_base64_append() for `len` bytes at `data` to `o`, which has room for
 * og__base64_len(len) bytes (no NUL is written); returns the end.
 */
char *og__base64_write(char *o, const void *data, size_t len);

#endif
