#include "prom.h"

#include <stdbool.h>
#include <string.h>

#include "ocigate/json.h"

void srv_prom_init(struct srv_prom *p, struct og_buf *out)
{
    p->out = out;
    p->rc = OG_OK;
}

enum og_err srv_prom_finish(const struct srv_prom *p)
{
    return p->rc;
}

static void put(struct srv_prom *p, const char *s, size_t len)
{
    if (p->rc == OG_OK)
        p->rc = og_buf_append(p->out, s, len);
}

static void put_cstr(struct srv_prom *p, const char *s)
{
    put(p, s, strlen(s));
}

/*
 * `s` with `\` and newline escaped, and `"` too when `quote` (a label value; HELP text keeps
 * its quotes, as the format says). Runs of plain bytes go in one append.
 */
static void put_escaped(struct srv_prom *p, const char *s, bool quote)
{
    const char *run = s;

    for (; *s != '\0'; s++) {
        const char *esc = *s == '\\'           ? "\\\\"
                          : *s == '\n'         ? "\\n"
                          : *s == '"' && quote ? "\\\""
                                               : NULL;

        if (esc == NULL)
            continue;
        put(p, run, (size_t)(s - run));
        put(p, esc, 2);
        run = s + 1;
    }
    put(p, run, (size_t)(s - run));
}

void srv_prom_family(struct srv_prom *p, const char *name, const char *type, const char *help)
{
    put(p, "# HELP ", 7);
    put_cstr(p, name);
    put(p, " ", 1);
    put_escaped(p, help, false);
    put(p, "\n# TYPE ", 8);
    put_cstr(p, name);
    put(p, " ", 1);
    put_cstr(p, type);
    put(p, "\n", 1);
}

/*
 * `name` + `suffix`, the labels and, when `le` is not NULL, an `le` label last; then the
 * space before the value.
 */
static void series(struct srv_prom *p, const char *name, const char *suffix,
                   const struct srv_prom_label *labels, size_t n, const char *le)
{
    put_cstr(p, name);
    put_cstr(p, suffix);
    if (n > 0 || le != NULL) {
        put(p, "{", 1);
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                put(p, ",", 1);
            put_cstr(p, labels[i].name);
            put(p, "=\"", 2);
            put_escaped(p, labels[i].value, true);
            put(p, "\"", 1);
        }
        if (le != NULL) {
            put(p, n > 0 ? ",le=\"" : "le=\"", n > 0 ? 5 : 4);
            put_cstr(p, le);
            put(p, "\"", 1);
        }
        put(p, "}", 1);
    }
    put(p, " ", 1);
}

static void value_u64(struct srv_prom *p, uint64_t v)
{
    char digits[OG_JSON_UINT_MAX + 1];
    size_t len = og_json_format_uint(v, digits);

    digits[len++] = '\n';
    put(p, digits, len);
}

static void value_micro(struct srv_prom *p, uint64_t micro)
{
    char text[SRV_PROM_MICRO_MAX + 1];
    size_t len = srv_prom_format_micro(micro, text);

    text[len++] = '\n';
    put(p, text, len);
}

size_t srv_prom_format_micro(uint64_t micro, char *out)
{
    size_t len = og_json_format_uint(micro / 1000000u, out);
    uint64_t frac = micro % 1000000u;
    unsigned digits = 6;

    if (frac == 0)
        return len;
    while (frac % 10 == 0) {
        frac /= 10;
        digits--;
    }
    out[len++] = '.';
    for (unsigned i = digits; i > 0; i--) {
        out[len + i - 1] = (char)('0' + frac % 10);
        frac /= 10;
    }
    return len + digits;
}

void srv_prom_u64(struct srv_prom *p, const char *name, const struct srv_prom_label *labels,
                  size_t n, uint64_t v)
{
    series(p, name, "", labels, n, NULL);
    value_u64(p, v);
}

void srv_prom_micro(struct srv_prom *p, const char *name, const struct srv_prom_label *labels,
                    size_t n, uint64_t micro)
{
    series(p, name, "", labels, n, NULL);
    value_micro(p, micro);
}

void srv_prom_histogram(struct srv_prom *p, const char *name, const struct srv_prom_label *labels,
                        size_t n, const uint64_t *bounds, size_t n_bounds, const uint64_t *counts,
                        uint64_t sum)
{
    uint64_t total = 0;

    for (size_t i = 0; i <= n_bounds; i++) {
        char le[SRV_PROM_MICRO_MAX + 1];

        total += counts[i];
        if (i < n_bounds)
            le[srv_prom_format_micro(bounds[i], le)] = '\0';
        series(p, name, "_bucket", labels, n, i < n_bounds ? le : "+Inf");
        value_u64(p, total);
    }
    series(p, name, "_sum", labels, n, NULL);
    value_micro(p, sum);
    series(p, name, "_count", labels, n, NULL);
    value_u64(p, total);
}
