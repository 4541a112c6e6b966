/*
 * test_snapshot.c - the published configuration snapshot (server/snapshot.h): who holds which
 * reference after a swap, what a reader's cache holds, and readers acquiring (or caching) and
 * releasing snapshots while another thread swaps them. The concurrent test is meant for the
 * sanitizer builds: ThreadSanitizer reports a reader or a swap that skips the lock (a race on the
 * published pointer) on every run, and ASan a snapshot freed while a reader still uses it.
 */
#include "harness.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "snapshot.h"

#include "ocigate/config.h"

static unsigned refs_of(struct og_config *cfg)
{
    return atomic_load(&cfg->refs);
}

static struct og_config *config_with_mode(enum og_mode mode)
{
    struct og_config *cfg = NULL;

    ASSERT_EQ(og_config_new(&cfg), OG_OK);
    cfg->mode = mode;
    return cfg;
}

/* The holder keeps one reference to the current snapshot and drops it at the swap. */
OG_TEST(swap_moves_the_holders_reference)
{
    struct og_config *a = config_with_mode(OG_MODE_AUDIT), *b = config_with_mode(OG_MODE_ENFORCE);
    struct og_config *got;

    srv_snapshot_init(og_config_ref(a)); /* the test keeps its own reference to a */
    ASSERT_EQ(refs_of(a), 2);
    got = srv_snapshot_acquire();
    ASSERT(got == a);
    ASSERT_EQ(refs_of(a), 3);
    srv_snapshot_swap(b);
    ASSERT_EQ(refs_of(a), 2); /* the test's and the in-flight reader's */
    ASSERT_EQ(refs_of(b), 1);
    og_config_unref(got);
    ASSERT_EQ(refs_of(a), 1);
    got = srv_snapshot_acquire();
    ASSERT(got == b);
    ASSERT_EQ(refs_of(b), 2);
    og_config_unref(got);
    srv_snapshot_cleanup();
    ASSERT_EQ(refs_of(a), 1);
    og_config_unref(a);
}

/*
 * Readers and a swapper share nothing but the snapshot: no other synchronization between
 * them may hide a reader that reads the published pointer outside the lock (the swapper only
 * waits until every reader has started, and looks at how many readers saw both modes, once
 * per reader). The swapper goes on past SWAPS until each reader has seen both, for at most
 * SWAP_SECONDS: on a loaded machine a reader may be descheduled through many swaps.
 */
#define READERS 2
#define SWAPS 2000
#define SWAP_SECONDS 20

struct shared {
    atomic_bool stop;
    atomic_uint started;
    atomic_uint bad;  /* snapshots that were neither of the two modes */
    atomic_uint both; /* readers that have seen both modes */
};

/* A reader: `cached` ones keep their snapshot in a cache (srv_snapshot_cached()). */
struct reader_arg {
    struct shared *sh;
    bool cached;
};

static void *reader(void *arg)
{
    struct reader_arg *ra = arg;
    struct shared *sh = ra->sh;
    struct srv_snapshot_cache cache = {0};
    bool seen_audit = false, seen_enforce = false, counted = false;

    atomic_fetch_add(&sh->started, 1);
    while (!atomic_load(&sh->stop)) {
        struct og_config *cfg = ra->cached ? srv_snapshot_cached(&cache) : srv_snapshot_acquire();
        enum og_mode m = cfg->mode;

        seen_audit |= m == OG_MODE_AUDIT;
        seen_enforce |= m == OG_MODE_ENFORCE;
        /* Read it again after a while: it must still be the same live snapshot. */
        for (volatile int spin = 0; spin < 50; spin++)
            ;
        if ((m != OG_MODE_AUDIT && m != OG_MODE_ENFORCE) || cfg->mode != m)
            atomic_fetch_add(&sh->bad, 1);
        if (!ra->cached)
            og_config_unref(cfg);
        if (seen_audit && seen_enforce && !counted) {
            atomic_fetch_add(&sh->both, 1);
            counted = true;
        }
    }
    srv_snapshot_cache_cleanup(&cache);
    return NULL;
}

static void *swapper(void *arg)
{
    struct shared *sh = arg;
    time_t until;

    while (atomic_load(&sh->started) < READERS)
        sched_yield();
    until = time(NULL) + SWAP_SECONDS;
    for (int i = 0; i < SWAPS || (atomic_load(&sh->both) < READERS && time(NULL) < until); i++) {
        struct og_config *cfg = NULL;

        if (og_config_new(&cfg) != OG_OK) {
            atomic_fetch_add(&sh->bad, 1);
            break;
        }
        cfg->mode = i % 2 ? OG_MODE_AUDIT : OG_MODE_ENFORCE;
        srv_snapshot_swap(cfg);
    }
    return NULL;
}

OG_TEST(readers_while_swapping)
{
    pthread_t readers[READERS], sw;
    struct reader_arg args[READERS];
    struct shared sh;

    atomic_init(&sh.stop, false);
    atomic_init(&sh.started, 0);
    atomic_init(&sh.bad, 0);
    atomic_init(&sh.both, 0);
    srv_snapshot_init(config_with_mode(OG_MODE_AUDIT));
    for (int i = 0; i < READERS; i++) {
        args[i].sh = &sh;
        args[i].cached = i % 2 == 1;
        ASSERT_EQ(pthread_create(&readers[i], NULL, reader, &args[i]), 0);
    }
    ASSERT_EQ(pthread_create(&sw, NULL, swapper, &sh), 0);
    pthread_join(sw, NULL);
    atomic_store(&sh.stop, true);
    for (int i = 0; i < READERS; i++)
        pthread_join(readers[i], NULL);
    srv_snapshot_cleanup();
    ASSERT_EQ(atomic_load(&sh.bad), 0);
    /* The readers ran while the swaps did (else the test proved nothing). */
    ASSERT_EQ(atomic_load(&sh.both), READERS);
}

/*
 * A cache keeps one reference and hands out the same snapshot, with no new reference, until a
 * swap; then it takes the new one and drops the old.
 */
OG_TEST(cache_holds_one_reference_until_a_swap)
{
    struct og_config *a = config_with_mode(OG_MODE_AUDIT), *b = config_with_mode(OG_MODE_ENFORCE);
    struct srv_snapshot_cache c = {0}, d = {0};

    srv_snapshot_init(og_config_ref(a)); /* the test keeps its own reference to a */
    ASSERT(srv_snapshot_cached(&c) == a);
    ASSERT_EQ(refs_of(a), 3);
    for (int i = 0; i < 3; i++) {
        ASSERT(srv_snapshot_cached(&c) == a);
        ASSERT_EQ(refs_of(a), 3);
    }
    ASSERT(srv_snapshot_cached(&d) == a); /* a second cache holds a reference of its own */
    ASSERT_EQ(refs_of(a), 4);
    srv_snapshot_swap(b);
    ASSERT_EQ(refs_of(a), 3); /* the test's and the caches' */
    ASSERT(srv_snapshot_cached(&c) == b);
    ASSERT_EQ(refs_of(a), 2);
    ASSERT_EQ(refs_of(b), 2);
    ASSERT(srv_snapshot_cached(&c) == b);
    ASSERT_EQ(refs_of(b), 2);
    srv_snapshot_cache_cleanup(&c);
    ASSERT_EQ(refs_of(b), 1);
    og_config_ref(b);
    srv_snapshot_cache_cleanup(&c); /* idempotent */
    ASSERT_EQ(refs_of(b), 2);
    og_config_unref(b);
    ASSERT(srv_snapshot_cached(&d) == b);
    ASSERT_EQ(refs_of(a), 1);
    srv_snapshot_cache_cleanup(&d);
    srv_snapshot_cleanup();
    og_config_unref(a);
}

OG_TEST_MAIN(OG_T(swap_moves_the_holders_reference), OG_T(readers_while_swapping),
             OG_T(cache_holds_one_reference_until_a_swap))
