/*
 * metrics.h - the server's metrics, scraped as GET /metrics (Prometheus text format 0.0.4).
 *
 * Counters and histograms are process-wide. The request path updates them without a lock:
 * each thread adds with relaxed atomics to one of a few shards (given out round-robin on a
 * thread's first update), each shard on cache lines of its own, and a scrape sums the
 * shards. A scrape may so see one admission's counter before its histogram observation; every
 * value it shows is monotonic between scrapes (counters never go back), and a histogram's
 * `_count` is the sum of its buckets.
 *
 * Values that another module keeps (the index cache's stats, the reload counts, the serving
 * certificate) are read at scrape time from the sources registered with srv_metrics_set_*().
 * A source must stay valid until it is unregistered (set to NULL), which must happen before
 * it is freed; the daemons that scrape should be stopped first anyway.
 *
 * Every label has a fixed, small set of values (endpoints, modes, rule ids, decisions,
 * status classes, fetch results): none comes from request data.
 */
#ifndef SRV_METRICS_H
#define SRV_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "ocigate/buf.h"
#include "ocigate/config.h"
#include "ocigate/err.h"
#include "ocigate/helm_index.h"
#include "ocigate/policy.h"

struct srv_httpd;
struct srv_index_cache;
struct srv_reload;

/** How an admission ended (the `decision` label). */
enum srv_metrics_decision {
    SRV_METRICS_ALLOWED, /**< allowed without a patch */
    SRV_METRICS_PATCHED, /**< allowed with a JSON patch */
    SRV_METRICS_DENIED,  /**< denied */
    SRV_METRICS_ERROR    /**< no decision: not an AdmissionReview (400), or a failure (500) */
};

/** Largest body of a scrape; far above what the bounded label sets can produce. */
#define SRV_METRICS_MAX_BYTES ((size_t)1 << 20)

/**
 * Notes the process start time (process_start_time_seconds). Call once at start, before any
 * thread that updates metrics; the counters themselves need no set-up.
 */
void srv_metrics_init(void);

/**
 * Counts one admission through endpoint `ep` in mode `mode`, decided by rule `rule` (OG_RULE_NONE
 * when none applied or none was reached) as `decision`; `latency_us` is observed in the latency
 * histogram unless `timed` is false. Lock-free; thread-safe.
 */
void srv_metrics_admission(enum og_endpoint ep, enum og_mode mode, enum og_rule rule,
                           enum srv_metrics_decision decision, bool timed, uint64_t latency_us);

/** Counts one HTTP response with status `status` (by class). Lock-free; thread-safe. */
void srv_metrics_http_response(unsigned status);

/**
 * Counts one index fetch that ended in `state` (CLEAN, OCI, or UNKNOWN for a fetch or an
 * analysis that failed) after `latency_us`. Lock-free; thread-safe.
 */
void srv_metrics_index_fetch(enum og_index_state state, uint64_t latency_us);

/** Registers the index cache whose stats are shown (NULL: none, zeros are shown). */
void srv_metrics_set_index_cache(struct srv_index_cache *cache);

/** Registers the config watcher whose reload counts are shown (NULL: none). */
void srv_metrics_set_reload(const struct srv_reload *reload);

/** Registers the HTTPS daemon whose requests in flight are shown (NULL: none). */
void srv_metrics_set_httpd(const struct srv_httpd *httpd);

/** The serving certificate as the TLS side knows it (filled by a srv_metrics_cert_fn). */
struct srv_metrics_cert {
    int64_t not_after;       /**< the certificate's notAfter, Unix seconds */
    uint64_t reloads_ok;     /**< reloads that installed a new pair */
    uint64_t reloads_failed; /**< reloads refused (the old pair stayed) */
};

/**
 * Fills `out` for a scrape; returns false when there is nothing to show (no certificate
 * known). Called from a scrape thread with the metrics' source lock held: it must not block
 * long and must not call srv_metrics_set_*().
 */
typedef bool (*srv_metrics_cert_fn)(void *arg, struct srv_metrics_cert *out);

/**
 * The hook for the serving certificate's metrics (ocigate_tls_cert_not_after_seconds,
 * ocigate_tls_cert_reloads_total{result}): the TLS module registers `fn(arg)`; NULL
 * unregisters. Without one these families are left out.
 */
void srv_metrics_set_cert_source(srv_metrics_cert_fn fn, void *arg);

/**
 * Appends every metric to `out` in the text format (prom.h). Errors: OG_ENOMEM, OG_ETOOBIG
 * past the buffer's cap. Thread-safe.
 */
OG_NODISCARD enum og_err srv_metrics_format(struct og_buf *out);

#endif
