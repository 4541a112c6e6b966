#include "config_file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ocigate/buf.h"

/* Names `path` as the diag's file, with no position. */
static void diag_file(struct og_diag *diag, const char *path)
{
    og_diag_clear(diag);
    if (diag != NULL)
        (void)snprintf(diag->file, sizeof(diag->file), "%s", path);
}

static enum og_err io_error(struct og_diag *diag, const char *path, int err, const char *what)
{
    char text[128];

    diag_file(diag, path);
    if (strerror_r(err, text, sizeof(text)) != 0)
        (void)snprintf(text, sizeof(text), "error %d", err);
    return og_diag_set(diag, OG_EIO, "%s: %s", what, text);
}

enum og_err srv_config_load(const char *path, struct og_config **out, struct og_diag *diag)
{
    struct og_buf buf;
    FILE *f = NULL;
    char chunk[8192];
    enum og_err rc = OG_OK;
    size_t n;

    og_buf_init(&buf, OG_CONFIG_MAX_FILE);
    f = fopen(path, "rb");
    if (f == NULL) {
        rc = io_error(diag, path, errno, "cannot open");
        goto out;
    }
    for (;;) {
        n = fread(chunk, 1, sizeof(chunk), f);
        if (n == 0)
            break;
        rc = og_buf_append(&buf, chunk, n);
        if (rc == OG_ETOOBIG) {
            diag_file(diag, path);
            rc = og_diag_set(diag, OG_ETOOBIG, "file is larger than %u bytes", OG_CONFIG_MAX_FILE);
        }
        if (rc != OG_OK)
            goto out;
    }
    if (ferror(f)) {
        rc = io_error(diag, path, errno, "cannot read");
        goto out;
    }
    rc = og_config_parse(buf.ptr != NULL ? buf.ptr : "", buf.len, path, out, diag);
out:
    if (f != NULL)
        fclose(f);
    og_buf_cleanup(&buf);
    return rc;
}
