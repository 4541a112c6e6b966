/*
 * helm_index.h - analysis of a Helm repository index (index.yaml) and its verdict.
 */
#ifndef OG_HELM_INDEX_H
#define OG_HELM_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "ocigate/config.h"
#include "ocigate/err.h"

/** What is known of a repository's index when an admission is decided. */
enum og_index_state {
    OG_INDEX_STATE_NONE,    /**< not analyzed / not applicable */
    OG_INDEX_STATE_PENDING, /**< a fetch is in flight and the budget has passed */
    OG_INDEX_STATE_UNKNOWN, /**< the fetch failed (HTTP 401/403, network, parse error) */
    OG_INDEX_STATE_CLEAN,   /**< the index serves its charts over http(s) */
    OG_INDEX_STATE_OCI      /**< the index points to OCI */
};

/** The decision drawn from an index summary. Owns its strings. */
struct og_index_verdict {
    enum og_index_state state;
    char *oci_base; /**< the single OCI base when fixable, else NULL */
    char **bases;   /**< every OCI base seen, for messages */
    size_t n_bases;
    uint32_t charts;
    uint32_t versions;
    uint32_t oci_entries;
    uint32_t charts_newest_oci;
    char *detail; /**< short human reason, e.g. "HTTP 401", or NULL */
};

/** Frees what `v` owns and zeroes it. */
void og_index_verdict_cleanup(struct og_index_verdict *v);

/** Deep copy of `src` into `dst` (for the cache). OG_ENOMEM leaves `dst` zeroed. */
OG_NODISCARD enum og_err og_index_verdict_copy(const struct og_index_verdict *src,
                                               struct og_index_verdict *dst);

#endif
