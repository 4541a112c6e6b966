/*
 * helm_index_fields.c - the field-level rules of index analysis: SemVer precedence and RFC 3339
 * timestamps (urls are url.c's). Pure functions over (ptr, len) views.
 */
#include "helm_index_int.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* SemVer parsing: numbers are compared as digit strings so that no value overflows. */
struct semver {
    struct og_str num[3];
    struct og_str pre; /* without the '-'; empty when none */
    bool valid;
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static struct og_str strip_zeros(struct og_str s)
{
    while (s.len > 1 && s.ptr[0] == '0') {
        s.ptr++;
        s.len--;
    }
    return s;
}

/* Compares two digit strings numerically. */
static int num_cmp(struct og_str a, struct og_str b)
{
    int c;

    a = strip_zeros(a);
    b = strip_zeros(b);
    if (a.len != b.len)
        return a.len < b.len ? -1 : 1;
    c = a.len > 0 ? memcmp(a.ptr, b.ptr, a.len) : 0;
    return c < 0 ? -1 : c > 0;
}

static void semver_parse(struct og_str s, struct semver *v)
{
    size_t i = 0, part = 0, end;

    memset(v, 0, sizeof(*v));
    s = og_str_trim(s);
    if (s.len > 0 && (s.ptr[0] == 'v' || s.ptr[0] == 'V'))
        i = 1;
    /* Build metadata never affects precedence. */
    end = og_str_find_char(s, i, '+');
    for (;;) {
        size_t start = i;

        while (i < end && is_digit(s.ptr[i]))
            i++;
        if (i == start)
            return;
        v->num[part++] = (struct og_str){s.ptr + start, i - start};
        if (i == end || s.ptr[i] != '.' || part == 3)
            break;
        i++;
    }
    for (size_t k = part; k < 3; k++)
        v->num[k] = OG_STR_LIT("0");
    if (i < end) {
        if (s.ptr[i] != '-' || i + 1 == end)
            return;
        v->pre = (struct og_str){s.ptr + i + 1, end - i - 1};
    }
    v->valid = true;
}

static bool all_digits(struct og_str s)
{
    for (size_t i = 0; i < s.len; i++) {
        if (!is_digit(s.ptr[i]))
            return false;
    }
    return s.len > 0;
}

/* Compares dot-separated prerelease identifiers by SemVer 2.0 rule 11. */
static int pre_cmp(struct og_str a, struct og_str b)
{
    size_t ia = 0, ib = 0;

    for (;;) {
        size_t ea, eb;
        struct og_str x, y;
        int c;

        if (ia > a.len || ib > b.len)
            return ia > a.len ? (ib > b.len ? 0 : -1) : 1;
        ea = og_str_find_char(a, ia, '.');
        eb = og_str_find_char(b, ib, '.');
        x = (struct og_str){a.ptr + ia, ea - ia};
        y = (struct og_str){b.ptr + ib, eb - ib};
        if (all_digits(x) && all_digits(y)) {
            c = num_cmp(x, y);
        } else if (all_digits(x) != all_digits(y)) {
            c = all_digits(x) ? -1 : 1;
        } else {
            c = og_str_cmp(x, y);
        }
        if (c != 0)
            return c < 0 ? -1 : 1;
        ia = ea + 1;
        ib = eb + 1;
    }
}

int og__helm_index_semver_cmp(struct og_str a, struct og_str b)
{
    struct semver x, y;
    int c;

    semver_parse(a, &x);
    semver_parse(b, &y);
    if (!x.valid || !y.valid)
        return x.valid == y.valid ? 0 : (x.valid ? 1 : -1);
    for (int i = 0; i < 3; i++) {
        c = num_cmp(x.num[i], y.num[i]);
        if (c != 0)
            return c;
    }
    /* A version without a prerelease ranks above the same version with one. */
    if (x.pre.len == 0 || y.pre.len == 0)
        return x.pre.len == y.pre.len ? 0 : (x.pre.len == 0 ? 1 : -1);
    return pre_cmp(x.pre, y.pre);
}

int og__helm_index_time_cmp(int64_t sec_a, int32_t nsec_a, int64_t sec_b, int32_t nsec_b)
{
    if (sec_a != sec_b)
        return sec_a > sec_b ? 1 : -1;
    return (nsec_a > nsec_b) - (nsec_a < nsec_b);
}

int og__helm_index_entry_cmp(const struct og__index_entry *a, const struct og__index_entry *b)
{
    int c = og__helm_index_semver_cmp(a->version, b->version);

    if (c != 0)
        return c;
    if (a->has_time != b->has_time)
        return a->has_time ? 1 : -1;
    c = a->has_time ? og__helm_index_time_cmp(a->sec, a->nsec, b->sec, b->nsec) : 0;
    if (c != 0)
        return c;
    /* The url that sorts first wins: the comparison is the other way round. */
    c = og_str_cmp(b->url, a->url);
    if (c != 0)
        return c;
    if (a->is_oci != b->is_oci)
        return a->is_oci ? -1 : 1;
    c = og_str_cmp(a->version, b->version);
    return c != 0 ? c : og_str_cmp(a->created, b->created);
}

/* Reads exactly `n` digits at s[*i]. */
static bool digits(struct og_str s, size_t *i, size_t n, int *out)
{
    int v = 0;

    if (*i + n > s.len)
        return false;
    for (size_t k = 0; k < n; k++) {
        char c = s.ptr[*i + k];

        if (!is_digit(c))
            return false;
        v = v * 10 + (c - '0');
    }
    *i += n;
    *out = v;
    return true;
}

static bool expect(struct og_str s, size_t *i, char c)
{
    if (*i >= s.len || s.ptr[*i] != c)
        return false;
    (*i)++;
    return true;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

bool og__helm_index_parse_time(struct og_str s, int64_t *sec, int32_t *nsec)
{
    size_t i = 0;
    int y, mo, d, h, mi, se, zh = 0, zm = 0, sign = 0;
    int32_t ns = 0;

    s = og_str_trim(s);
    if (!digits(s, &i, 4, &y) || !expect(s, &i, '-') || !digits(s, &i, 2, &mo) ||
        !expect(s, &i, '-') || !digits(s, &i, 2, &d))
        return false;
    if (i >= s.len || (s.ptr[i] != 'T' && s.ptr[i] != 't' && s.ptr[i] != ' '))
        return false;
    while (i < s.len && (s.ptr[i] == 'T' || s.ptr[i] == 't' || s.ptr[i] == ' '))
        i++;
    if (!digits(s, &i, 2, &h) || !expect(s, &i, ':') || !digits(s, &i, 2, &mi) ||
        !expect(s, &i, ':') || !digits(s, &i, 2, &se))
        return false;
    if (i < s.len && s.ptr[i] == '.') {
        int32_t scale = 100000000;

        i++;
        if (i >= s.len || !is_digit(s.ptr[i]))
            return false;
        for (; i < s.len && is_digit(s.ptr[i]); i++) {
            ns += (int32_t)(s.ptr[i] - '0') * scale;
            scale /= 10;
        }
    }
    while (i < s.len && s.ptr[i] == ' ')
        i++;
    if (i < s.len && (s.ptr[i] == 'Z' || s.ptr[i] == 'z')) {
        i++;
    } else if (i < s.len && (s.ptr[i] == '+' || s.ptr[i] == '-')) {
        sign = s.ptr[i] == '-' ? -1 : 1;
        i++;
        if (i + 1 < s.len && is_digit(s.ptr[i + 1])) {
            if (!digits(s, &i, 2, &zh))
                return false;
        } else if (!digits(s, &i, 1, &zh)) {
            return false;
        }
        if (i < s.len && s.ptr[i] == ':')
            i++;
        if (i < s.len && !digits(s, &i, 2, &zm))
            return false;
    }
    if (i != s.len || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 ||
        zh > 23 || zm > 59)
        return false;
    *sec = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se -
           (int64_t)sign * (zh * 3600 + zm * 60);
    *nsec = ns;
    return true;
}
