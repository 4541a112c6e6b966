/*
 * str.h - borrowed byte strings: (ptr, len) views that are never assumed to end in NUL.
 */
#ifndef OG_STR_H
#define OG_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/**
 * A borrowed view of `len` bytes at `ptr`. The view owns nothing; it stays valid as long as
 * the bytes it points into. An empty view may have a NULL `ptr`.
 */
struct og_str {
    const char *ptr;
    size_t len;
};

/** A view of a string literal. */
#define OG_STR_LIT(s) ((struct og_str){(s), sizeof(s) - 1})
/** The empty view. */
#define OG_STR_NULL ((struct og_str){NULL, 0})

/**
 * A view of the NUL-terminated `s` (NULL gives the empty view). Inline, so that the length of a
 * literal is known at compile time.
 */
static inline struct og_str og_str_of(const char *s)
{
    return (struct og_str){s, s != NULL ? strlen(s) : 0};
}

/** True when `a` and `b` hold the same bytes. */
bool og_str_eq(struct og_str a, struct og_str b);
/** Byte order of `a` and `b` (-1, 0, 1); a proper prefix sorts first (memcmp, then length). */
int og_str_cmp(struct og_str a, struct og_str b);
/** True when `a` and `b` are equal ignoring ASCII case. */
bool og_str_ieq(struct og_str a, struct og_str b);
/** True when `s` equals the NUL-terminated `lit`. */
bool og_str_eq_lit(struct og_str s, const char *lit);
/** True when `s` starts with `prefix`, ASCII case ignored when `icase`. */
bool og_str_has_prefix(struct og_str s, struct og_str prefix, bool icase);
/** True when `s` ends with `suffix` (exact bytes). */
bool og_str_has_suffix(struct og_str s, struct og_str suffix);
/** The bytes of `s` from `off` on (empty when `off` >= len). */
struct og_str og_str_from(struct og_str s, size_t off);
/** `s` without leading and trailing ASCII spaces and tabs. */
struct og_str og_str_trim(struct og_str s);
/** Offset of the first `c` in `s` at or after `from`, or `s.len` when there is none. */
size_t og_str_find_char(struct og_str s, size_t from, char c);
/** Offset of the last `c` in `s`, or `s.len` when there is none. */
size_t og_str_rfind_char(struct og_str s, char c);

/**
 * Copies `s` into a new NUL-terminated heap string. The caller frees it with free().
 * Returns NULL when out of memory.
 */
char *og_str_dup(struct og_str s);

/**
 * Length (1 to 4) of the UTF-8 character at `off` in `s`, with its code point in `*cp`; 0 when
 * the bytes there are not valid UTF-8 (a stray continuation byte, an overlong form, a
 * surrogate, past U+10FFFF, or cut short by the end of `s`), as Go's utf8.DecodeRune judges.
 * `off` must be below `s.len`.
 */
size_t og_utf8_char(struct og_str s, size_t off, uint32_t *cp);

/**
 * Rewrites `s` (`len` bytes, room for one more) in place as one line of plain text: valid
 * UTF-8 with no control character (Go's unicode.IsControl: C0 including LF and ESC, DEL, C1).
 * Controls become spaces, bytes that are not valid UTF-8 become '?'. The result is never
 * longer; returns its length and NUL-terminates it. Apiserver warnings and every line of text
 * the CLI prints from manifest data go through it (a name cannot start a line of its own or
 * send a terminal escape sequence).
 */
size_t og_str_sanitize_line(char *s, size_t len);

/**
 * The 1-based line and column of byte `off` of `s` (LF ends a line; columns count UTF-8
 * characters, as libyaml does), for errors that carry only a byte offset.
 */
void og_str_line_column(struct og_str s, size_t off, unsigned *line, unsigned *column);

/** ASCII lower case of `c`; other bytes unchanged. */
static inline char og_ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

#endif
