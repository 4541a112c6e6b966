#include "snapshot.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

static _Atomic(struct og_config *) current;
/* Readers between loading `current` and taking their reference. */
static atomic_uint entering;
static pthread_mutex_t swap_lock = PTHREAD_MUTEX_INITIALIZER;

void srv_snapshot_init(struct og_config *cfg)
{
    atomic_store(&current, cfg);
}

struct og_config *srv_snapshot_acquire(void)
{
    struct og_config *cfg;

    atomic_fetch_add(&entering, 1);
    cfg = og_config_ref(atomic_load(&current));
    atomic_fetch_sub(&entering, 1);
    return cfg;
}

void srv_snapshot_swap(struct og_config *cfg)
{
    struct og_config *old;

    pthread_mutex_lock(&swap_lock);
    old = atomic_exchange(&current, cfg);
    /*
     * A reader that loaded `old` before the exchange is still counted in `entering` until it
     * holds its own reference. Once the count has been zero after the exchange, every reader
     * either holds a reference to `old` or will load `cfg`, so dropping ours is safe.
     */
    while (atomic_load(&entering) != 0)
        sched_yield();
    og_config_unref(old);
    pthread_mutex_unlock(&swap_lock);
}

void srv_snapshot_cleanup(void)
{
    og_config_unref(atomic_exchange(&current, NULL));
}
