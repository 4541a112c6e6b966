#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void srv_tls_wipe_free(char *p, size_t len)
{
    if (p == NULL)
        return;
    explicit_bzero(p, len + 1);
    free(p);
}

enum og_err srv_tls_read_pem(const char *path, char **out, size_t *len, struct og_diag *diag)
{
    char *buf = NULL;
    size_t cap = 0, n = 0;
    enum og_err rc = OG_OK;
    struct stat st;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return og_diag_set(diag, OG_EIO, "cannot open %s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0) {
        rc = og_diag_set(diag, OG_EIO, "cannot stat %s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > SRV_TLS_PEM_MAX) {
        rc = og_diag_set(diag, OG_EINVAL, "%s: not a regular file of 1..%d bytes", path,
                         SRV_TLS_PEM_MAX);
        goto out;
    }
    /*
     * Read to the end rather than trusting st_size, as the file may change underneath: one
     * spare byte shows growth, one more holds the NUL.
     */
    cap = (size_t)st.st_size + 2;
    buf = malloc(cap);
    if (buf == NULL) {
        rc = og_diag_set(diag, OG_ENOMEM, "out of memory reading %s", path);
        goto out;
    }
    for (;;) {
        ssize_t r;

        if (n == cap - 1) {
            rc = og_diag_set(diag, OG_EINVAL, "%s changed while being read", path);
            goto out;
        }
        r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = og_diag_set(diag, OG_EIO, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    if (n == 0 || memchr(buf, '\0', n) != NULL) {
        rc = og_diag_set(diag, OG_EINVAL, "%s: not a PEM file", path);
        goto out;
    }
    *out = buf;
    *len = n;
    buf = NULL;
out:
    if (buf != NULL)
        srv_tls_wipe_free(buf, cap - 1);
    close(fd);
    return rc;
}
