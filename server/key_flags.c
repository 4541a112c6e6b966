#include "key_flags.h"

#include <string.h>

const struct srv_key_flag srv_key_flags[] = {
    {"mode", "mode"},
    {"ratchet", "ratchet"},
    {"max-body", "maxBodyBytes"},
    {"index-enabled", "index.enabled"},
    {"index-threshold", "index.threshold"},
    {"index-ttl", "index.ttl"},
    {"index-negative-ttl", "index.negativeTTL"},
    {"index-cache-entries", "index.cacheEntries"},
    {"index-max-fetches", "index.maxFetches"},
    {"index-max-fetches-per-host", "index.maxFetchesPerHost"},
    {"index-budget", "index.budget"},
    {"index-connect-timeout", "index.connectTimeout"},
    {"index-timeout", "index.fetchTimeout"},
    {"index-max-bytes", "index.maxBytes"},
    {"index-on-unknown", "index.onUnknown"},
    {"index-on-mixed", "index.onMixed"},
    {"index-allow-host", "index.allowHosts"},
    {"index-allow-cidr", "index.allowCIDRs"},
    {"webhook-timeout", "webhookTimeout"},
    {NULL, NULL},
};

/* The millisecond flags became durations ("1500ms", "3s"), so their unit left the name. */
const struct srv_key_flag_rename srv_key_flag_renames[] = {
    {"index-budget-ms", "index-budget"},
    {"index-connect-timeout-ms", "index-connect-timeout"},
    {"index-timeout-ms", "index-timeout"},
    {NULL, NULL},
};

const struct srv_key_flag *srv_key_flag_find(const char *name)
{
    for (const struct srv_key_flag *f = srv_key_flags; f->name != NULL; f++) {
        if (strcmp(f->name, name) == 0)
            return f;
    }
    return NULL;
}

enum og_err srv_key_flags_apply(const struct srv_key_flag_arg *args, size_t n,
                                struct og_config *cfg, struct og_diag *diag)
{
    for (size_t i = 0; i < n; i++) {
        char where[sizeof(diag->where)];
        enum og_err rc = og_config_set(cfg, args[i].flag->key, args[i].value, diag);

        if (rc == OG_OK)
            continue;
        /* The file's message for the key, located at the flag instead of a file line. */
        (void)snprintf(where, sizeof(where), "--%s", args[i].flag->name);
        og_diag_where(diag, where);
        return rc;
    }
    return OG_OK;
}

/* Help text columns: the flag and its syntax, then the text from DOC_COL to WIDTH. */
#define DOC_COL 32
#define WIDTH 80

/* Writes `text` word-wrapped from column DOC_COL, the cursor being at column `*col`. */
static void wrap(FILE *out, const char *text, size_t *col)
{
    while (*text != '\0') {
        size_t word = strcspn(text, " ");

        if (*col > DOC_COL && *col + 1 + word > WIDTH) {
            fprintf(out, "\n%*s", DOC_COL, "");
            *col = DOC_COL;
        } else if (*col > DOC_COL) {
            fputc(' ', out);
            (*col)++;
        }
        fprintf(out, "%.*s", (int)word, text);
        *col += word;
        text += word;
        text += strspn(text, " ");
    }
}

void srv_key_flags_usage(FILE *out, const struct srv_key_flag *table)
{
    for (const struct srv_key_flag *f = table; f->name != NULL; f++) {
        struct og_config_key_doc d;
        char tail[128];
        size_t col;
        int n;

        if (og_config_key_describe(f->key, &d) != OG_OK)
            continue; /* a row naming no key: test_key_flags fails on it */
        n = fprintf(out, "  --%s %s", f->name, d.syntax);
        col = n > 0 ? (size_t)n : 0;
        if (col + 1 > DOC_COL) {
            fprintf(out, "\n");
            col = 0;
        }
        fprintf(out, "%*s", (int)(DOC_COL - col), "");
        col = DOC_COL;
        wrap(out, d.doc, &col);
        if (d.list)
            (void)snprintf(tail, sizeof(tail), "(%s; repeatable)", f->key);
        else
            (void)snprintf(tail, sizeof(tail), "(%s; default: %s)", f->key, d.def);
        wrap(out, tail, &col);
        fputc('\n', out);
    }
}
