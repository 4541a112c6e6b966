#include "args.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The leading decimal digits of `s` into `*v`; `*end` points past them. */
static enum og_err parse_digits(const char *s, unsigned long long *v, const char **end)
{
    char *e = NULL;

    /* strtoull accepts leading spaces and a '-' (wrapping around); neither is a number here. */
    if (s == NULL || s[0] < '0' || s[0] > '9')
        return OG_EINVAL;
    errno = 0;
    *v = strtoull(s, &e, 10);
    if (errno != 0 || e == s)
        return OG_EINVAL;
    *end = e;
    return OG_OK;
}

enum og_err srv_args_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    unsigned long long v;
    const char *end;

    if (parse_digits(s, &v, &end) != OG_OK || *end != '\0' || v < min || v > max)
        return OG_EINVAL;
    *out = (uint64_t)v;
    return OG_OK;
}

enum og_err srv_args_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    static const struct {
        const char *suffix;
        uint64_t mult;
    } units[] = {{"", 1},        {"k", 1024},    {"K", 1024},    {"Ki", 1024},
                 {"m", 1 << 20}, {"M", 1 << 20}, {"Mi", 1 << 20}};
    unsigned long long v;
    const char *end;

    if (parse_digits(s, &v, &end) != OG_OK)
        return OG_EINVAL;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].suffix) != 0)
            continue;
        if (v > UINT64_MAX / units[i].mult)
            return OG_EINVAL;
        v *= units[i].mult;
        if (v < min || v > max)
            return OG_EINVAL;
        *out = (uint64_t)v;
        return OG_OK;
    }
    return OG_EINVAL;
}
