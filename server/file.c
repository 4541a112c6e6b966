#include "file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum og_err srv_file_write_temp(char *tmpl, const void *data, size_t len, unsigned mode,
                                struct og_diag *diag)
{
    const char *p = data;
    enum og_err rc = OG_OK;
    int fd = mkstemp(tmpl); /* mode 0600 until the fchmod */

    if (fd < 0) {
        rc = og_diag_set(diag, OG_EIO, "cannot create %s: %s", tmpl, strerror(errno));
        tmpl[0] = '\0';
        return rc;
    }
    if (fchmod(fd, (mode_t)mode) != 0)
        rc = og_diag_set(diag, OG_EIO, "chmod %s: %s", tmpl, strerror(errno));
    while (rc == OG_OK && len > 0) {
        ssize_t w = write(fd, p, len);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = og_diag_set(diag, OG_EIO, "write %s: %s", tmpl, w < 0 ? strerror(errno) : "short");
            break;
        }
        p += w;
        len -= (size_t)w;
    }
    if (rc == OG_OK && fsync(fd) != 0)
        rc = og_diag_set(diag, OG_EIO, "fsync %s: %s", tmpl, strerror(errno));
    if (close(fd) != 0 && rc == OG_OK)
        rc = og_diag_set(diag, OG_EIO, "close %s: %s", tmpl, strerror(errno));
    if (rc != OG_OK) {
        (void)unlink(tmpl);
        tmpl[0] = '\0';
    }
    return rc;
}
