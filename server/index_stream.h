/*
 * index_stream.h - the Helm index analyzer (og_helm_index_analyze(), a pull reader) fed
 * push-style: bytes are handed over as they arrive, and each call parses only those bytes.
 *
 * The analysis runs on a coroutine (coro.h): srv_index_stream_feed() switches to it, the
 * analyzer parses what was handed over until its reader finds nothing left, and control comes
 * back. So an event thread can feed hundreds of transfers' analyses, piece by piece, without
 * a thread per analysis and without holding a whole index in memory: memory is the
 * analyzer's own (bounded by its limits) plus the pages its stack touches.
 *
 * Thread safety: a stream is used by one thread at a time.
 */
#ifndef SRV_INDEX_STREAM_H
#define SRV_INDEX_STREAM_H

#include <stddef.h>

#include "ocigate/err.h"
#include "ocigate/helm_index.h"

struct srv_index_stream;

/**
 * Makes a stream for one analysis under `limits` (copied; NULL for the defaults) and `flags`
 * (enum og_index_flags). Nothing runs yet. OG_ENOMEM; on success `*out` is freed with
 * srv_index_stream_free().
 */
OG_NODISCARD enum og_err srv_index_stream_new(const struct og_index_limits *limits, unsigned flags,
                                              struct srv_index_stream **out);

/**
 * Hands `len` bytes at `p` (lent for the call only) to the analysis, which parses them before
 * this returns. OG_OK; or the error the analysis has ended with (a parse error, a limit, out
 * of memory), which every later call returns too - the transfer can stop there. Bytes after
 * the end of the first YAML document are ignored.
 */
OG_NODISCARD enum og_err srv_index_stream_feed(struct srv_index_stream *s, const char *p,
                                               size_t len);

/**
 * Ends the input and gives the analysis' result, as og_helm_index_analyze() would return it:
 * `end` OG_OK is the end of the body; another error (a transfer that failed midway) is what
 * the reader then returns. On OG_OK fills `*out` (the caller cleans it up); otherwise `diag`
 * (may be NULL) says why. Call once.
 */
OG_NODISCARD enum og_err srv_index_stream_finish(struct srv_index_stream *s, enum og_err end,
                                                 struct og_index_summary *out,
                                                 struct og_diag *diag);

/** True once the analysis has ended (an error, or the end of the first YAML document). */
bool srv_index_stream_ended(const struct srv_index_stream *s);

/** Ends an analysis still running (as a failed read) and frees everything. NULL is a no-op. */
void srv_index_stream_free(struct srv_index_stream *s);

#endif
