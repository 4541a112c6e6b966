#include "ocigate/str.h"

#include <stdlib.h>
#include <string.h>

bool og_str_eq(struct og_str a, struct og_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

int og_str_cmp(struct og_str a, struct og_str b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n > 0 ? memcmp(a.ptr, b.ptr, n) : 0;

    if (c != 0)
        return c < 0 ? -1 : 1;
    return (a.len > b.len) - (a.len < b.len);
}

static bool ieq_n(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (og_ascii_lower(a[i]) != og_ascii_lower(b[i]))
            return false;
    }
    return true;
}

bool og_str_ieq(struct og_str a, struct og_str b)
{
    return a.len == b.len && ieq_n(a.ptr, b.ptr, a.len);
}

bool og_str_eq_lit(struct og_str s, const char *lit)
{
    return og_str_eq(s, og_str_of(lit));
}

bool og_str_has_prefix(struct og_str s, struct og_str prefix, bool icase)
{
    if (s.len < prefix.len)
        return false;
    if (prefix.len == 0)
        return true;
    return icase ? ieq_n(s.ptr, prefix.ptr, prefix.len)
                 : memcmp(s.ptr, prefix.ptr, prefix.len) == 0;
}

bool og_str_has_suffix(struct og_str s, struct og_str suffix)
{
    if (s.len < suffix.len)
        return false;
    return suffix.len == 0 || memcmp(s.ptr + s.len - suffix.len, suffix.ptr, suffix.len) == 0;
}

struct og_str og_str_from(struct og_str s, size_t off)
{
    if (off >= s.len)
        return (struct og_str){s.ptr != NULL ? s.ptr + s.len : NULL, 0};
    return (struct og_str){s.ptr + off, s.len - off};
}

struct og_str og_str_trim(struct og_str s)
{
    while (s.len > 0 && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) {
        s.ptr++;
        s.len--;
    }
    while (s.len > 0 && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}

size_t og_str_find_char(struct og_str s, size_t from, char c)
{
    const char *hit;

    if (from >= s.len)
        return s.len;
    hit = memchr(s.ptr + from, c, s.len - from);
    return hit != NULL ? (size_t)(hit - s.ptr) : s.len;
}

size_t og_str_rfind_char(struct og_str s, char c)
{
    for (size_t i = s.len; i > 0; i--) {
        if (s.ptr[i - 1] == c)
            return i - 1;
    }
    return s.len;
}

char *og_str_dup(struct og_str s)
{
    char *out = malloc(s.len + 1);

    if (out == NULL)
        return NULL;
    if (s.len > 0)
        memcpy(out, s.ptr, s.len);
    out[s.len] = '\0';
    return out;
}

size_t og_utf8_char(struct og_str s, size_t off, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s.ptr + off;
    size_t left = s.len - off;

    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    if ((p[0] & 0xE0) == 0xC0 && left >= 2 && (p[1] & 0xC0) == 0x80) {
        *cp = (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F);
        return *cp >= 0x80 ? 2 : 0;
    }
    if ((p[0] & 0xF0) == 0xE0 && left >= 3 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80) {
        *cp = (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
        return *cp >= 0x800 && (*cp < 0xD800 || *cp > 0xDFFF) ? 3 : 0;
    }
    if ((p[0] & 0xF8) == 0xF0 && left >= 4 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80 &&
        (p[3] & 0xC0) == 0x80) {
        *cp = (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 |
              (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
        return *cp >= 0x10000 && *cp <= 0x10FFFF ? 4 : 0;
    }
    return 0;
}

void og_str_line_column(struct og_str s, size_t off, unsigned *line, unsigned *column)
{
    *line = 1;
    *column = 1;
    for (size_t i = 0; i < off && i < s.len; i++) {
        if (s.ptr[i] == '\n') {
            (*line)++;
            *column = 1;
        } else if (((unsigned char)s.ptr[i] & 0xc0) != 0x80) {
            (*column)++;
        }
    }
}

size_t og_str_sanitize_line(char *s, size_t len)
{
    size_t i = 0, o;

    /* The printable ASCII at the start, usually all of the line, stays where it is: 8 bytes
     * per step. A byte below 0x20 borrows, one >= 0x80 has its top bit, and 0x7F gets it
     * when 1 is added: any of them stops the step (a carry only flags a byte above one). */
    while (i + 8 <= len) {
        uint64_t w;

        memcpy(&w, s + i, 8);
        if ((((w - 0x2020202020202020ull) & ~w) | w | (w + 0x0101010101010101ull)) &
            0x8080808080808080ull)
            break;
        i += 8;
    }
    o = i;
    while (i < len) {
        uint32_t cp = 0;
        size_t n;

        /* Printable ASCII, nearly all of a line, stays as it is. */
        if ((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7F) {
            s[o++] = s[i++];
            continue;
        }
        n = og_utf8_char((struct og_str){s, len}, i, &cp);
        if (n == 0) {
            s[o++] = '?';
            i++;
        } else if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
            s[o++] = ' ';
            i += n;
        } else {
            memmove(s + o, s + i, n);
            o += n;
            i += n;
        }
    }
    s[o] = '\0';
    return o;
}
