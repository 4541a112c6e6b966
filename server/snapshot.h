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

#include "ocigate/config.h"

/** Publishes `cfg` as the first snapshot, taking over the caller's reference. */
void srv_snapshot_init(struct og_config *cfg);

/** Returns the current snapshot with a new reference; release it with og_config_unref(). */
struct og_config *srv_snapshot_acquire(void);

/**
 * Publishes `cfg` (taking over the caller's reference) and drops the holder's reference to
 * the previous one, which lives on until its last in-flight reader ends. Serialized
 * internally: safe to call from several threads.
 */
void srv_snapshot_swap(struct og_config *cfg);

/** Drops the holder's reference at shutdown. */
void srv_snapshot_cleanup(void);

#endif
