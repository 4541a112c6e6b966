#include "snapshot.h"

#include <pthread.h>
#include <stdatomic.h>

/*
 * `current` is read and written only under `lock`, which is held for the pointer load and the
 * reference count increment in srv_snapshot_acquire() and for the pointer exchange in
 * srv_snapshot_swap(): a few instructions, once per request, and uncontended but for the rare
 * swap. The holder's reference to a replaced snapshot is dropped after the lock is released.
 *
 * A lock-free scheme (an atomic pointer, and readers counting themselves while they hold the
 * pointer without a reference) needs the swapper to wait for that count, and a mistake in it
 * is a use after free in a window a few instructions wide that no test hits reliably. Under
 * the lock, a reader that skipped it would race on `current` itself, which ThreadSanitizer
 * reports on every run of tests/unit/test_snapshot.c.
 */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct og_config *current; /* guarded by lock */

/*
 * The number of swaps so far, written under `lock` with each swap and read without it by
 * srv_snapshot_cached(): a cache that took its reference (under the lock) at the count it reads
 * now still holds the current snapshot. Only the count is read without the lock, never
 * `current`; the reference the cache took keeps its snapshot alive.
 */
static atomic_uint_least64_t generation;

/* Publishes `cfg` and returns the snapshot it replaces, with the holder's reference. */
static struct og_config *exchange(struct og_config *cfg)
{
    struct og_config *old;

    pthread_mutex_lock(&lock);
    old = current;
    current = cfg;
    atomic_fetch_add_explicit(&generation, 1, memory_order_release);
    pthread_mutex_unlock(&lock);
    return old;
}

void srv_snapshot_init(struct og_config *cfg)
{
    srv_snapshot_swap(cfg);
}

struct og_config *srv_snapshot_acquire(void)
{
    struct og_config *cfg;

    pthread_mutex_lock(&lock);
    cfg = og_config_ref(current);
    pthread_mutex_unlock(&lock);
    return cfg;
}

struct og_config *srv_snapshot_cached(struct srv_snapshot_cache *c)
{
    uint_least64_t gen = atomic_load_explicit(&generation, memory_order_acquire);
    struct og_config *taken;

    if (c->cfg != NULL && c->gen == gen)
        return c->cfg;
    og_config_unref(c->cfg);
    pthread_mutex_lock(&lock);
    taken = og_config_ref(current);
    c->gen = atomic_load_explicit(&generation, memory_order_relaxed);
    pthread_mutex_unlock(&lock);
    c->cfg = taken;
    return taken;
}

void srv_snapshot_cache_cleanup(struct srv_snapshot_cache *c)
{
    og_config_unref(c->cfg);
    c->cfg = NULL;
}

void srv_snapshot_swap(struct og_config *cfg)
{
    og_config_unref(exchange(cfg));
}

void srv_snapshot_cleanup(void)
{
    og_config_unref(exchange(NULL));
}
