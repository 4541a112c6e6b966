#include "args.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ocigate/config.h"

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
    uint64_t v;

    /* The file's quantity parser, so that a size means the same in a flag as in the file. */
    if (s == NULL || og_config_parse_size(s, strlen(s), &v, NULL) != OG_OK || v < min || v > max)
        return OG_EINVAL;
    *out = v;
    return OG_OK;
}
