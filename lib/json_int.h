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

#if defined(__SSE2__)
/*
 * The bytes of the 16 at `p` that end a plain run, one bit each (bit i for p[i]): '"', '\\',
 * a control character and, with `ascii`, a byte >= 0x80.
 */
static inline unsigned json_stop_mask16(const char *p, bool ascii)
{
    const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    const __m128i ctl = _mm_set1_epi8(0x1f);
    /* An unsigned byte is <= 0x1f exactly when its maximum with 0x1f is 0x1f. */
    __m128i stop = _mm_or_si128(_mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl),
                                _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                             _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));

    if (ascii)
        stop = _mm_or_si128(stop, v); /* the movemask takes each byte's top bit */
    return (unsigned)_mm_movemask_epi8(stop);
}
#endif

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

#if defined(__SSE2__)
    /* 16 bytes per step. The last step, when `len` is not a multiple of 16, looks at the last
     * 16 bytes again: those it shares with the steps before are plain, so its first stop is
     * the run's end, and nothing past `len` is read. */
    if (len >= 16) {
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
    }
#endif
    while (k + 8 <= len) {
        uint64_t w;

        memcpy(&w, p + k, 8);
        /* Bytes below 0x20 borrow like zero bytes do after subtracting 0x20; >= 0x80 never. */
        if ((json_has_zero(w ^ 0x2222222222222222ull) | json_has_zero(w ^ 0x5c5c5c5c5c5c5c5cull) |
             ((w - 0x2020202020202020ull) & ~w & 0x8080808080808080ull) | (w & high)) != 0)
            break;
        k += 8;
    }
    while (k < len && p[k] != '"' && p[k] != '\\' && (unsigned char)p[k] >= 0x20 &&
           (unsigned char)p[k] < limit)
        k++;
    return k;
}

#endif
