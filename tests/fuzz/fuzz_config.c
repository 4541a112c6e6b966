/*
 * fuzz_config.c - the YAML configuration loader on arbitrary bytes. A configuration that loads
 * must format, and its formatted text must load back into the same configuration; mode
 * resolution runs on it with names taken from the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ocigate/buf.h"
#include "ocigate/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *format(const struct og_config *cfg)
{
    struct og_buf b;

    og_buf_init(&b, 4u << 20);
    if (og_config_format(cfg, &b) != OG_OK) {
        og_buf_cleanup(&b);
        return NULL;
    }
    return og_buf_take(&b, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct og_config *cfg = NULL, *again = NULL;
    struct og_diag diag;
    char *text = NULL, *text2 = NULL, name[32] = "", line[1024];
    const char *groups[2] = {name, "system:masters"};
    const char *why = NULL;
    enum og_err rc;

    og_diag_clear(&diag);
    rc = og_config_parse((const char *)data, size, "fuzz.yaml", &cfg, &diag);
    if (rc != OG_OK) {
        /* A failure always says what and where, on one line. */
        og_diag_format(&diag, line, sizeof(line));
        if (rc != OG_ENOMEM && (diag.msg[0] == '\0' || strchr(line, '\n') != NULL ||
                                strcmp(diag.file, "fuzz.yaml") != 0))
            abort();
        return 0;
    }
    text = format(cfg);
    if (text == NULL)
        abort();
    if (og_config_parse(text, strlen(text), "formatted", &again, &diag) != OG_OK)
        abort();
    text2 = format(again);
    if (text2 == NULL || strcmp(text, text2) != 0)
        abort();
    /* Use the first bytes of the input as namespace, user, group and annotation. */
    memcpy(name, data, size < sizeof(name) - 1 ? size : sizeof(name) - 1);
    for (int i = 0; i < 2; i++) {
        enum og_mode m =
            og_config_resolve_mode(cfg, name, name, groups, 2, i ? "audit" : name, &why);

        if ((size_t)m > OG_MODE_ENFORCE || why == NULL)
            abort();
    }
    free(text);
    free(text2);
    og_config_unref(again);
    og_config_unref(cfg);
    return 0;
}
