/*
 * cmd_config.c - `ocigate config check FILE` and `ocigate config default`.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "config_file.h"
#include "ocigate/buf.h"
#include "ocigate/config.h"

/* Output of either command stays far below this; it only bounds a runaway. */
#define OUTPUT_MAX (64u << 20)

static void usage(FILE *out)
{
    fprintf(out, "usage: ocigate config check FILE   validate FILE, print the effective config\n"
                 "       ocigate config default      print the default config file\n"
                 "\n"
                 "check exits 0 when FILE is valid, 2 when it is not (one line on stderr:\n"
                 "file:line:column: key.path: message), 1 when it cannot be read. Valid\n"
                 "settings that contradict each other (index.budget over webhookTimeout)\n"
                 "get a line 'file: warning: key.path: message' on stderr; still exit 0.\n");
}

static int write_all(const struct og_buf *buf)
{
    if (buf->len > 0 && fwrite(buf->ptr, 1, buf->len, stdout) != buf->len)
        return 1;
    return fflush(stdout) == 0 ? 0 : 1;
}

static int check(const char *path)
{
    struct og_config *cfg = NULL;
    struct og_diag diag;
    struct og_buf buf;
    char line[1024];
    enum og_err rc;
    int status = 1;

    og_buf_init(&buf, OUTPUT_MAX);
    og_diag_clear(&diag);
    rc = srv_config_load(path, &cfg, &diag);
    if (rc != OG_OK) {
        fprintf(stderr, "%s\n", og_diag_format(&diag, line, sizeof(line)));
        status = rc == OG_EINVAL || rc == OG_EPARSE || rc == OG_ETOOBIG ? 2 : 1;
        goto out;
    }
    /* Valid, so exit 0; but a contradiction is said (stderr keeps stdout a config file). */
    if (og_config_has_conflict(cfg, line, sizeof(line)))
        fprintf(stderr, "%s: warning: %s\n", path, line);
    rc = og_config_format(cfg, &buf);
    if (rc != OG_OK) {
        fprintf(stderr, "ocigate: cannot format the configuration: %s\n", og_strerror(rc));
        goto out;
    }
    status = write_all(&buf);
out:
    og_buf_cleanup(&buf);
    og_config_unref(cfg);
    return status;
}

static int print_default(void)
{
    struct og_buf buf;
    enum og_err rc;
    int status = 1;

    og_buf_init(&buf, OUTPUT_MAX);
    rc = og_config_format_default(&buf);
    if (rc != OG_OK)
        fprintf(stderr, "ocigate: cannot format the default configuration: %s\n", og_strerror(rc));
    else
        status = write_all(&buf);
    og_buf_cleanup(&buf);
    return status;
}

int srv_cmd_config(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "check") == 0)
        return check(argv[2]);
    if (argc == 2 && strcmp(argv[1], "default") == 0)
        return print_default();
    usage(stderr);
    return 2;
}
