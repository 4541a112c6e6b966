/*
 * mem_reader.h - test support: an og_read_fn over memory, with an optional chunk size so that
 * tests can feed a stream consumer in pieces of any size.
 */
#ifndef OG_TEST_MEM_READER_H
#define OG_TEST_MEM_READER_H

#include <stddef.h>

#include "ocigate/reader.h"

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
