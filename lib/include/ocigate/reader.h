/*
 * reader.h - the pull interface through which lib reads a byte stream without doing I/O.
 */
#ifndef OG_READER_H
#define OG_READER_H

#include <stddef.h>

#include "ocigate/err.h"

/**
 * Fills `buf` (room for `cap` bytes) with the next bytes of a stream and stores how many in
 * `*n`; `*n == 0` means the end of the stream. Returns OG_OK, or an error that aborts the
 * reader's consumer (OG_EIO, OG_ETOOBIG, ...), which passes it on unchanged.
 *
 * The server implements it over a network transfer, the CLI over a file descriptor.
 */
typedef enum og_err (*og_read_fn)(void *ctx, char *buf, size_t cap, size_t *n);

#endif
