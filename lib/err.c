#include "ocigate/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *og_strerror(enum og_err err)
{
    switch (err) {
    case OG_OK:
        return "success";
    case OG_ENOMEM:
        return "out of memory";
    case OG_EINVAL:
        return "invalid argument";
    case OG_EPARSE:
        return "malformed input";
    case OG_ETOOBIG:
        return "size limit exceeded";
    case OG_EIO:
        return "input/output error";
    case OG_ENOTFOUND:
        return "not found";
    }
    return "unknown error";
}

void og_diag_clear(struct og_diag *diag)
{
    if (diag != NULL)
        memset(diag, 0, sizeof(*diag));
}

enum og_err og_diag_set(struct og_diag *diag, enum og_err err, const char *fmt, ...)
{
    va_list ap;

    if (diag == NULL)
        return err;
    va_start(ap, fmt);
    /* A truncated message is still a useful message, so the result is not checked. */
    (void)vsnprintf(diag->msg, sizeof(diag->msg), fmt, ap);
    va_end(ap);
    return err;
}

void og_diag_at(struct og_diag *diag, unsigned line, unsigned column)
{
    if (diag == NULL)
        return;
    diag->line = line;
    diag->column = column;
}

void og_diag_where(struct og_diag *diag, const char *where)
{
    size_t len;

    if (diag == NULL || where == NULL)
        return;
    len = strlen(where);
    if (len >= sizeof(diag->where))
        len = sizeof(diag->where) - 1;
    memcpy(diag->where, where, len);
    diag->where[len] = '\0';
}

const char *og_diag_format(const struct og_diag *diag, char *out, size_t size)
{
    size_t off = 0;
    int n;

    if (size == 0)
        return out;
    out[0] = '\0';
    if (diag == NULL)
        return out;
#define OG_APPEND(...)                                                                             \
    do {                                                                                           \
        n = snprintf(out + off, size - off, __VA_ARGS__);                                          \
        if (n < 0 || (size_t)n >= size - off)                                                      \
            return out;                                                                            \
        off += (size_t)n;                                                                          \
    } while (0)
    if (diag->file[0] != '\0')
        OG_APPEND("%s:", diag->file);
    if (diag->line > 0)
        OG_APPEND("%u:%u:", diag->line, diag->column);
    if (off > 0)
        OG_APPEND(" ");
    if (diag->where[0] != '\0')
        OG_APPEND("%s: ", diag->where);
    OG_APPEND("%s", diag->msg[0] != '\0' ? diag->msg : "error");
#undef OG_APPEND
    return out;
}
