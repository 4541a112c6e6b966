/*
 * Files written whole or not at all: the one temporary-file writer behind `ocigate certs`
 * (link or rename into place) and `ocigate fix` / `migrate --out` (rename over the old file).
 */
#ifndef OCIGATE_SERVER_FILE_H
#define OCIGATE_SERVER_FILE_H

#include <stddef.h>

#include "ocigate/err.h"

/*
 * Creates the file named by `tmpl` (a path ending in "XXXXXX", completed in place as
 * mkstemp(3) does: O_CREAT | O_EXCL, so it never follows a planted link) with permission bits
 * `mode`, writes the `len` bytes of `data` and flushes them to disk. The caller then links or
 * renames it into place. On failure the file is removed, `tmpl[0]` is set to '\0' and `diag`
 * names the step that failed: OG_EIO.
 */
OG_NODISCARD enum og_err srv_file_write_temp(char *tmpl, const void *data, size_t len,
                                             unsigned mode, struct og_diag *diag);

#endif
