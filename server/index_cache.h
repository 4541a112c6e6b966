/*
 * index_cache.h - the live index analysis cache: verdicts per normalized repository url,
 * fetched off the request path, all on one event thread (index_fetch.h, fetch.h: curl multi),
 * so that a slow repository never delays another's fetch.
 *
 * The one mutable shared structure of the server (docs/DESIGN.md). It has its own mutex, held
 * only to look up, insert and copy entries, never across I/O or a callback.
 *
 * Behaviour of srv_index_cache_lookup() for one url:
 *   fresh hit         the cached verdict, at once
 *   stale hit         (a positive verdict - CLEAN or OCI - past its TTL but within another
 *                     TTL: stale-while-revalidate) the cached verdict at once, and one
 *                     background refresh is started unless one is in flight
 *   miss / expired    one fetch per url (single flight: concurrent lookups join the fetch in
 *                     flight instead of starting another), then READY with a PENDING
 *                     verdict (wake == NULL or the deadline has passed) or WAIT
 * Verdicts live `ttl_s` (CLEAN, OCI) or `negative_ttl_s` (UNKNOWN: HTTP 401, refused
 * address, timeout, parse error) seconds from the end of their fetch. A refresh that fails
 * while a good verdict is within its stale window keeps that verdict (stale-if-error) and is
 * retried `negative_ttl_s` later; an expired UNKNOWN is never served stale. At most
 * `max_entries` urls are held; inserting one more evicts the least recently used entry that
 * has no fetch in flight. A fetch that is still running when its waiters' budget passes
 * completes into the cache for the next admission.
 *
 * Settings: the TTLs, the threshold and every fetch setting (timeouts, size cap, allow
 * lists) come from the configuration snapshot passed to each lookup - the snapshot of the
 * admission that starts a fetch is the one that fetch uses (it holds a reference until it
 * ends), and TTLs are applied from it when the fetch completes. So a reload applies to
 * fetches started after it; verdicts already cached keep their expiry, except that a cached
 * verdict drawn under another `threshold` counts as a miss. The entry bound and the fetch caps
 * are fixed when the cache is created.
 *
 * Conditional refresh: with a CLEAN, OCI or MIXED verdict an entry keeps the validators of the 200
 * it was drawn from (ETag, Last-Modified, and the url that sent them: bounded, see struct
 * srv_fetch_validators), and its next fetch - a refresh, or a fetch past the stale window -
 * sends them while the verdict would still be valid (same `threshold`). A `304 Not Modified`
 * from that same url renews the verdict (`ttl_s` again, a new stale window) without a body or
 * an analysis; a 200 replaces verdict and validators. Validators are never carried from one url
 * to another: an entry's are for its own url, dropped with an UNKNOWN verdict, and dropped when
 * a 304 came from elsewhere (a redirect that moved) or answered no validators.
 */
#ifndef SRV_INDEX_CACHE_H
#define SRV_INDEX_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "fetch.h"
#include "ocigate/config.h"
#include "ocigate/err.h"
#include "ocigate/helm_index.h"

/** Called once to end a wait (see srv_index_cache_lookup()); must not block. */
typedef void (*srv_index_wake_fn)(void *arg);

/** What srv_index_cache_lookup() gives. */
enum srv_index_lookup {
    SRV_INDEX_READY, /**< `*out` holds the verdict to decide with */
    SRV_INDEX_WAIT   /**< a fetch is running; wake(arg) will be called once */
};

/** What a fetch delivers. */
struct srv_index_result {
    /** CLEAN, OCI, MIXED or UNKNOWN with a detail; unset (zero) when `not_modified` */
    struct og_index_verdict verdict;
    /** The server answered the validators sent with `304 Not Modified`: the cached verdict
     * stands, renewed, without a body or an analysis. */
    bool not_modified;
    /** A 304 that renews nothing (no validators were sent, or it came from another url): the
     * cache stops sending the validators it holds. `verdict` is then UNKNOWN. */
    bool drop_validators;
    /** The validators of the 200 the verdict was drawn from (all NULL when none). */
    struct srv_fetch_validators validators;
};

/** Cleans up `r`'s verdict and validators. */
void srv_index_result_cleanup(struct srv_index_result *r);

/**
 * Where a fetch delivers: `r` is moved to the callee, which cleans it up (the struct itself
 * stays the caller's). Must not block.
 */
typedef void (*srv_index_done_fn)(void *arg, struct srv_index_result *r);

/**
 * Starts producing the verdict for the index at `<url>/index.yaml` under `cfg` without
 * blocking (`url` is lent for the call; take a reference to `cfg` to keep it). `val` (or NULL)
 * are the validators of the verdict the caller holds: the fetch is then conditional and may end
 * `not_modified`; they are lent until this returns or done() is called, whichever is first.
 * Calls done(done_arg, result) exactly once, from any thread, possibly before returning; a
 * failure of the fetch or the analysis is a verdict (state UNKNOWN, `detail` saying why).
 */
typedef void (*srv_index_fetch_fn)(void *arg, const char *url, struct og_config *cfg,
                                   const struct srv_fetch_validators *val, srv_index_done_fn done,
                                   void *done_arg);

/** A millisecond clock (default: CLOCK_MONOTONIC). Tests inject one to age entries. */
typedef uint64_t (*srv_index_clock_fn)(void *arg);

/** Creation options; srv_index_cache_opts_init() fills the defaults. */
struct srv_index_cache_opts {
    uint32_t max_entries;     /**< LRU bound, default cfg->index.cache_entries */
    unsigned max_fetches;     /**< fetches running at once, default cfg->index.max_fetches */
    unsigned max_per_host;    /**< of those to one host, default cfg->index.max_fetches_per_host */
    const char *ca_file;      /**< CA bundle for the built-in fetcher (tests), or NULL */
    srv_index_fetch_fn fetch; /**< NULL (default): the built-in fetcher, srv_index_fetcher_start()
                                   on a fetcher the cache owns with the caps above */
    void *fetch_arg;
    srv_index_clock_fn clock; /**< default srv_index_now_ms() */
    void *clock_arg;
};

/** Counters, for tests and metrics. */
struct srv_index_cache_stats {
    uint64_t hits;         /**< fresh hits */
    uint64_t stale;        /**< stale hits (each also counts a refresh unless one was running) */
    uint64_t misses;       /**< lookups without a usable verdict */
    uint64_t fetches;      /**< fetches started */
    uint64_t joined;       /**< lookups that joined a fetch in flight */
    uint64_t evictions;    /**< entries dropped for room */
    uint64_t timeouts;     /**< waits ended by their deadline */
    uint64_t kept;         /**< failed refreshes that kept the last good verdict */
    uint64_t not_modified; /**< fetches answered 304: the verdict renewed, nothing downloaded */
    uint32_t entries;      /**< entries held now */
    uint32_t in_flight;    /**< fetches started and not yet delivered */
};

struct srv_index_cache;

/** CLOCK_MONOTONIC in milliseconds: the clock of lookup deadlines by default. */
uint64_t srv_index_now_ms(void);

/**
 * Fills `o` with the defaults: the entry bound and the fetch caps from `cfg` (may be NULL: 1024,
 * SRV_FETCH_MAX_TOTAL, SRV_FETCH_MAX_PER_HOST), the built-in fetcher, the monotonic clock.
 */
void srv_index_cache_opts_init(struct srv_index_cache_opts *o, const struct og_config *cfg);

/**
 * Makes a cache and starts its fetcher (unless `fetch` is given) and its deadline timer
 * thread. OG_EINVAL when `max_entries` or a cap is 0, OG_ENOMEM, OG_EIO when a thread cannot
 * be started. On success `*out` is freed with srv_index_cache_free().
 */
OG_NODISCARD enum og_err srv_index_cache_new(const struct srv_index_cache_opts *o,
                                             struct srv_index_cache **out);

/**
 * Begins shutdown: cancels running fetches (the built-in fetcher's at once) and wakes every pending
 * waiter from the calling thread. From then on lookups answer READY with a PENDING verdict at
 * once and start nothing, so a server can resume its parked requests, let them finish, and
 * only then free the cache. Idempotent. Thread-safe.
 */
void srv_index_cache_stop(struct srv_index_cache *c);

/**
 * Stops the cache as srv_index_cache_stop() (if not done yet), waits for every fetch to have
 * delivered (an injected fetch function must deliver on its own), joins all threads and frees
 * everything. No lookup may run or follow; no wake function is called after it returns.
 * NULL is a no-op.
 */
void srv_index_cache_free(struct srv_index_cache *c);

/**
 * Looks up the verdict for the normalized `url` (og_decision.index_url of og_policy_eval())
 * under the snapshot `cfg` (a fetch started here takes its own reference).
 *
 * Fills `*out` (a deep copy the caller cleans up with og_index_verdict_cleanup()) and
 * returns SRV_INDEX_READY when the verdict can be given now: a fresh or stale hit; or, when
 * `wake` is NULL or `deadline_ms` has already passed, a verdict of state PENDING because a
 * fetch is in flight (started by this call if none was). Should a verdict be impossible
 * (out of memory, every entry busy with a fetch), READY comes with state UNKNOWN and a
 * detail.
 *
 * Otherwise it starts or joins the fetch of `url`, leaves `*out` zeroed and returns
 * SRV_INDEX_WAIT: wake(arg) is then called exactly once, from another thread (the fetcher's
 * thread, the timer thread, or the one calling srv_index_cache_stop()), when that fetch
 * completes or when `deadline_ms` (on the cache's clock, CLOCK_MONOTONIC milliseconds by
 * default) passes, whichever comes first; the wake may come before this function's caller
 * has acted on WAIT. The caller then calls lookup again with wake == NULL and gets READY.
 *
 * Thread-safe. Never blocks on I/O: the lock is held only for the table work.
 */
enum srv_index_lookup srv_index_cache_lookup(struct srv_index_cache *c, struct og_config *cfg,
                                             const char *url, uint64_t deadline_ms,
                                             struct og_index_verdict *out, srv_index_wake_fn wake,
                                             void *arg);

/** Copies the counters. Thread-safe. */
void srv_index_cache_get_stats(struct srv_index_cache *c, struct srv_index_cache_stats *out);

#endif
