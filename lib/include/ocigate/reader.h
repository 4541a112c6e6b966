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
 * A server implements it over a network transfer, the CLI over a file, tests over memory.
 */
typedef enum og_err (*og_read_fn)(void *ctx, char *buf, size_t cap, size_t *n);

/** A reader over memory: `ctx` is a struct og_mem_reader. */
struct og_mem_reader {
    const char *ptr;
    size_t len;
    size_t off;
    size_t chunk; /**< most bytes per call (0: as many as fit), to exercise short reads */
};

/** og_read_fn over a struct og_mem_reader. */
enum og_err og_mem_read(void *ctx, char *buf, size_t cap, size_t *n);

#endif
