/*
 * index_fetch.h - the fetch-and-analyze step behind the index cache: downloads
 * `<url>/index.yaml` with the SSRF-guarded fetcher and streams it through the Helm index
 * analyzer, turning every failure into an UNKNOWN verdict with a short detail.
 */
#ifndef SRV_INDEX_FETCH_H
#define SRV_INDEX_FETCH_H

#include <stdatomic.h>
#include <stdint.h>

#include "fetch.h"
#include "ocigate/config.h"
#include "ocigate/err.h"
#include "ocigate/helm_index.h"

/** Extra fetch options for srv_index_fetch_verdict() (its `arg`); NULL means none. */
struct srv_index_fetch_extra {
    const char *ca_file; /**< CA bundle instead of the system's (tests), or NULL */
};

/**
 * Fills `key` with a random key for og_index_limits.hash_key (indexes come from tenants'
 * servers, so the analyzer's tables must not be open to chosen collisions). Thread-safe.
 */
void srv_index_hash_key(uint64_t key[2]);

/**
 * Builds the url of a repository's index as Flux's source-controller does (see
 * og_helm_index_url(), the one join). Returns a new string the caller frees, or NULL when out
 * of memory.
 */
char *srv_index_url(const char *base);

/**
 * A srv_index_fetch_fn: fetches the index of the repository at `url` under `cfg->index`
 * (timeouts, size cap, allow lists; SSRF guard on) and decides it under
 * `cfg->index.threshold`. `arg` is a `const struct srv_index_fetch_extra *` or NULL.
 * Fills `*out` (cleaned up by the caller): CLEAN or OCI from the analysis, or UNKNOWN with a
 * detail ("HTTP 401", "address 10.0.0.1 is not allowed", "timed out (...)", "index larger
 * than N bytes", "not a Helm index: 3:7: ..."). Returns OG_OK, or OG_ENOMEM with `*out`
 * zeroed. Blocks on the network: fetch threads only. Thread-safe.
 */
OG_NODISCARD enum og_err srv_index_fetch_verdict(void *arg, const char *url,
                                                 const struct og_config *cfg,
                                                 const atomic_bool *cancel,
                                                 struct og_index_verdict *out);

#endif
