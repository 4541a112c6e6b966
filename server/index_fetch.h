/*
 * index_fetch.h - the fetch-and-analyze step behind the index cache: downloads
 * `<url>/index.yaml` with the SSRF-guarded fetcher and streams it through the Helm index
 * analyzer as it arrives, turning every failure into an UNKNOWN verdict with a short detail
 * (HTTP 401, "address 10.0.0.1 is not allowed", "timed out (...)", "index larger than N
 * bytes", "not a Helm index: 3:7: ...").
 */
#ifndef SRV_INDEX_FETCH_H
#define SRV_INDEX_FETCH_H

#include <stdint.h>

#include "fetch.h"
#include "index_cache.h"
#include "ocigate/config.h"
#include "ocigate/err.h"
#include "ocigate/helm_index.h"

/**
 * The index cache's fetcher: every fetch on one srv_fetch_loop (one event thread), each body
 * analyzed as it arrives on that thread through a srv_index_stream, one piece at a time.
 */
struct srv_index_fetcher;

/** Options of srv_index_fetcher_new(). */
struct srv_index_fetcher_opts {
    struct srv_fetch_loop_opts loop; /**< the caps */
    const char *ca_file;             /**< CA bundle instead of the system's (tests), or NULL */
};

/** Starts a fetcher (its loop thread). Errors as srv_fetch_loop_new(). */
OG_NODISCARD enum og_err srv_index_fetcher_new(const struct srv_index_fetcher_opts *o,
                                               struct srv_index_fetcher **out);

/**
 * A srv_index_fetch_fn (`arg` is the struct srv_index_fetcher): fetches and decides the index of
 * the repository at `url` under `cfg->index` (timeouts, size cap, allow lists; SSRF guard on),
 * decides it under `cfg->index.threshold`, and logs one line per fetch ("index analyzed", or
 * "index not modified" with result "not-modified" for a 304 to `val`). It never blocks. done()
 * gets the verdict exactly once: from the loop thread, or from the calling thread before this
 * returns when the fetch cannot start (a bad url, out of memory, the fetcher stopping).
 */
void srv_index_fetcher_start(void *arg, const char *url, struct og_config *cfg,
                             const struct srv_fetch_validators *val, srv_index_done_fn done,
                             void *done_arg);

/** Cancels every fetch (each done() gets an UNKNOWN verdict); returns at once. Thread-safe. */
void srv_index_fetcher_stop(struct srv_index_fetcher *x);

/** Stops, waits for every done(), frees. NULL is a no-op. */
void srv_index_fetcher_free(struct srv_index_fetcher *x);

/**
 * Fills `key` with a random key for og_index_limits.hash_key (indexes come from tenants'
 * servers, so the analyzer's tables must not be open to chosen collisions). Thread-safe.
 */
void srv_index_hash_key(uint64_t key[2]);

/**
 * Builds the url of a repository's index as Flux's source-controller does (see
 * og_url_index_yaml(), the one join). Returns a new string the caller frees, or NULL when out
 * of memory.
 */
char *srv_index_url(const char *base);

#endif
