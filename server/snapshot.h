/*
 * snapshot.h - the published configuration snapshot, swapped atomically on reload.
 *
 * Readers (request handlers) call srv_snapshot_acquire() at the start of a request and
 * og_config_unref() at its end, so an in-flight request finishes on the config it started
 * with. A lock is held only while a reader takes the pointer and its reference, and while a
 * swap exchanges the pointer: neither ever waits for more than those few instructions of
 * another thread, and the previous snapshot is released outside the lock.
 */
#ifndef SRV_SNAPSHOT_H
#define SRV_SNAPSHOT_H

#include <stdint.h>

#include "ocigate/config.h"

/** Publishes `cfg` as the first snapshot, taking over the caller's reference. */
void srv_snapshot_init(struct og_config *cfg);

/** Returns the current snapshot with a new reference; release it with og_config_unref(). */
struct og_config *srv_snapshot_acquire(void);

/**
 * A reference to the current snapshot kept from one request to the next (one per connection):
 * taking it again costs the lock and two reference count changes, seeing that it is still
 * current one atomic load. Caller-owned storage, zeroed to start (`{0}`); used by one thread at
 * a time. Only the srv_snapshot_cache* functions touch the members.
 */
struct srv_snapshot_cache {
    struct og_config *cfg; /* its reference, or NULL */
    uint_least64_t gen;    /* the swap count when it was taken */
};

/**
 * Returns the current snapshot, lent by `c` until the next call with `c` or
 * srv_snapshot_cache_cleanup(): the one `c` holds if no swap has happened since it took it, else
 * a new reference that replaces it (the old one is released). Lock-free while nothing changes;
 * a swap that returned before the call is always seen.
 */
struct og_config *srv_snapshot_cached(struct srv_snapshot_cache *c);

/** Releases the reference `c` holds, if any; `c` can be used again. */
void srv_snapshot_cache_cleanup(struct srv_snapshot_cache *c);

/**
 * Publishes `cfg` (taking over the caller's reference) and drops the holder's reference to
 * the previous one, which lives on until its last in-flight reader ends. Serialized
 * internally: safe to call from several threads.
 */
void srv_snapshot_swap(struct og_config *cfg);

/** Drops the holder's reference at shutdown. */
void srv_snapshot_cleanup(void);

#endif
