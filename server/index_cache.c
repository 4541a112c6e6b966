#include "index_cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index_fetch.h"

/* A caller waiting for a fetch, suspended until wake(). In the cache's one waiter list. */
struct waiter {
    struct waiter *prev, *next;
    struct entry *entry;
    uint64_t deadline;
    srv_index_wake_fn wake;
    void *arg;
};

struct entry {
    char *url;
    uint64_t hash;
    struct entry *hnext;               /* bucket chain */
    struct entry *lru_prev, *lru_next; /* lru_prev toward the most recently used */
    struct srv_index_cache *cache;     /* for the fetch's done */
    bool has_verdict;
    bool negative; /* the verdict is UNKNOWN: short TTL, never served stale */
    enum og_index_threshold threshold;
    uint64_t expires;
    uint64_t stale_until;
    struct og_index_verdict verdict;
    struct srv_fetch_validators validators; /* of the 200 behind a CLEAN, OCI or MIXED verdict */
    bool conditional;                       /* the fetch in flight sends `validators` */
    bool fetching;             /* started, not delivered; pins the entry against eviction */
    struct og_config *job_cfg; /* the snapshot of the fetch in flight (a reference) */
    struct entry *start_next;  /* fetches to start once the lock is released */
};

struct srv_index_cache {
    pthread_mutex_t lock;
    pthread_cond_t idle;  /* in_flight dropped to 0 */
    pthread_cond_t timer; /* the earliest deadline may have changed, or stopping */
    bool stopping;
    struct entry **buckets;
    size_t n_buckets; /* a power of two */
    struct entry *lru_head, *lru_tail;
    uint32_t n_entries, max_entries;
    uint32_t in_flight; /* fetches started, not delivered */
    struct waiter *waiters;
    srv_index_fetch_fn fetch;
    void *fetch_arg;
    struct srv_index_fetcher *fetcher; /* the built-in one, or NULL */
    srv_index_clock_fn clock;
    void *clock_arg;
    struct srv_index_cache_stats stats;
    pthread_t timer_thread;
    bool timer_started;
};

uint64_t srv_index_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t default_clock(void *arg)
{
    (void)arg;
    return srv_index_now_ms();
}

void srv_index_cache_opts_init(struct srv_index_cache_opts *o, const struct og_config *cfg)
{
    memset(o, 0, sizeof(*o));
    o->max_entries = cfg != NULL && cfg->index.cache_entries > 0 ? cfg->index.cache_entries : 1024;
    o->max_fetches =
        cfg != NULL && cfg->index.max_fetches > 0 ? cfg->index.max_fetches : SRV_FETCH_MAX_TOTAL;
    o->max_per_host = cfg != NULL && cfg->index.max_fetches_per_host > 0
                          ? cfg->index.max_fetches_per_host
                          : SRV_FETCH_MAX_PER_HOST;
    o->fetch = NULL; /* the built-in fetcher */
    o->clock = default_clock;
}

/* FNV-1a: urls are short and the table is small; no adversary controls the bucket count
 * beyond the entry bound, and chains stay short because the table is twice the bound. */
static uint64_t hash_url(const char *s)
{
    uint64_t h = 1469598103934665603u;

    for (; *s != '\0'; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211u;
    }
    return h;
}

static struct entry *find(struct srv_index_cache *c, const char *url, uint64_t h)
{
    for (struct entry *e = c->buckets[h & (c->n_buckets - 1)]; e != NULL; e = e->hnext) {
        if (e->hash == h && strcmp(e->url, url) == 0)
            return e;
    }
    return NULL;
}

static void lru_unlink(struct srv_index_cache *c, struct entry *e)
{
    if (e->lru_prev != NULL)
        e->lru_prev->lru_next = e->lru_next;
    else
        c->lru_head = e->lru_next;
    if (e->lru_next != NULL)
        e->lru_next->lru_prev = e->lru_prev;
    else
        c->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(struct srv_index_cache *c, struct entry *e)
{
    e->lru_prev = NULL;
    e->lru_next = c->lru_head;
    if (c->lru_head != NULL)
        c->lru_head->lru_prev = e;
    c->lru_head = e;
    if (c->lru_tail == NULL)
        c->lru_tail = e;
}

static void touch(struct srv_index_cache *c, struct entry *e)
{
    if (c->lru_head != e) {
        lru_unlink(c, e);
        lru_push_front(c, e);
    }
}

static void entry_free(struct entry *e)
{
    if (e == NULL)
        return;
    og_index_verdict_cleanup(&e->verdict);
    srv_fetch_validators_cleanup(&e->validators);
    og_config_unref(e->job_cfg);
    free(e->url);
    free(e);
}

/* Unlinks `e` from its bucket and the LRU list and frees it. `e` must not be fetching. */
static void remove_entry(struct srv_index_cache *c, struct entry *e)
{
    struct entry **pp = &c->buckets[e->hash & (c->n_buckets - 1)];

    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(c, e);
    c->n_entries--;
    entry_free(e);
}

/* Makes room for one entry: drops the least recently used entry that no fetch pins. */
static bool make_room(struct srv_index_cache *c)
{
    if (c->n_entries < c->max_entries)
        return true;
    for (struct entry *e = c->lru_tail; e != NULL; e = e->lru_prev) {
        if (!e->fetching) {
            remove_entry(c, e);
            c->stats.evictions++;
            return true;
        }
    }
    return false;
}

static struct entry *insert(struct srv_index_cache *c, const char *url, uint64_t h)
{
    struct entry *e = calloc(1, sizeof(*e));

    if (e == NULL)
        return NULL;
    e->url = strdup(url);
    if (e->url == NULL) {
        free(e);
        return NULL;
    }
    e->hash = h;
    e->cache = c;
    e->hnext = c->buckets[h & (c->n_buckets - 1)];
    c->buckets[h & (c->n_buckets - 1)] = e;
    lru_push_front(c, e);
    c->n_entries++;
    return e;
}

/* Marks `e` as fetching under `cfg` and adds it to `*starts`: the caller starts the fetch
 * with start_fetches() once the lock is released (a fetch may deliver before it returns). */
static void begin_fetch(struct srv_index_cache *c, struct entry *e, struct og_config *cfg,
                        struct entry **starts)
{
    e->fetching = true;
    e->job_cfg = og_config_ref(cfg);
    /* Only a verdict that would be served again can be renewed by a 304. */
    e->conditional = e->has_verdict && !e->negative && e->threshold == cfg->index.threshold &&
                     srv_fetch_validators_any(&e->validators);
    e->start_next = *starts;
    *starts = e;
    c->in_flight++;
    c->stats.fetches++;
}

static void waiter_unlink(struct srv_index_cache *c, struct waiter *w)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        c->waiters = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
}

/*
 * Moves waiters to the list `*out` (linked by `next`): all of them, or those of entry `e`, or
 * (`e` NULL) those whose deadline is at or before `now`.
 */
static void take_waiters(struct srv_index_cache *c, const struct entry *e, uint64_t now, bool all,
                         struct waiter **out)
{
    struct waiter *w = c->waiters, *next;

    for (; w != NULL; w = next) {
        next = w->next;
        if (all || (e != NULL && w->entry == e) || (e == NULL && w->deadline <= now)) {
            waiter_unlink(c, w);
            w->next = *out;
            *out = w;
        }
    }
}

/* Calls each wake function of `list` and frees the list; the lock must not be held. */
static void wake_list(struct waiter *list)
{
    while (list != NULL) {
        struct waiter *next = list->next;

        list->wake(list->arg);
        free(list);
        list = next;
    }
}

void srv_index_result_cleanup(struct srv_index_result *r)
{
    og_index_verdict_cleanup(&r->verdict);
    srv_fetch_validators_cleanup(&r->validators);
}

/* A fetch's verdict arrives (any thread; never with the lock held). */
static void fetch_done(void *arg, struct srv_index_result *r)
{
    struct entry *e = arg;
    struct srv_index_cache *c = e->cache;
    struct srv_index_result res = *r;
    struct og_index_verdict v = res.verdict;
    struct waiter *woken = NULL;
    struct og_config *cfg;

    memset(r, 0, sizeof(*r));
    memset(&res.verdict, 0, sizeof(res.verdict));
    if (v.state != OG_INDEX_STATE_CLEAN && v.state != OG_INDEX_STATE_OCI &&
        v.state != OG_INDEX_STATE_MIXED)
        v.state = OG_INDEX_STATE_UNKNOWN;

    pthread_mutex_lock(&c->lock);
    /* The entry is pinned (fetching) until here, so it is still the one this fetch is for. */
    cfg = e->job_cfg;
    e->job_cfg = NULL;
    uint64_t now = c->clock(c->clock_arg);
    if (res.not_modified && e->conditional) {
        /* The index is the one the verdict was drawn from: renewed as a 200 would have. */
        og_index_verdict_cleanup(&v);
        e->expires = now + (uint64_t)cfg->index.ttl_s * 1000u;
        e->stale_until = e->expires + (uint64_t)cfg->index.ttl_s * 1000u;
        c->stats.not_modified++;
        goto renewed;
    }
    if (res.not_modified) {
        /* Not a fetch this cache made conditional: nothing to renew. */
        og_index_verdict_cleanup(&v);
        if (og_index_verdict_init_state(&v, OG_INDEX_STATE_UNKNOWN,
                                        "HTTP 304 Not Modified to a request without validators") !=
            OG_OK)
            v.state = OG_INDEX_STATE_UNKNOWN;
        res.drop_validators = true;
    }
    if (res.drop_validators)
        srv_fetch_validators_cleanup(&e->validators);
    if (v.state == OG_INDEX_STATE_UNKNOWN && e->has_verdict && !e->negative &&
        e->threshold == cfg->index.threshold && now < e->stale_until) {
        /*
         * A failed refresh (a 503, a timeout) keeps the last good verdict until its stale
         * window ends (stale-if-error): a moved repository does not look unknown for a
         * blip. It is tried again after the negative TTL.
         */
        og_index_verdict_cleanup(&v);
        /* Never fresh past the end of its stale window. */
        e->expires = now + (uint64_t)cfg->index.negative_ttl_s * 1000u;
        if (e->expires > e->stale_until)
            e->expires = e->stale_until;
        c->stats.kept++;
    } else {
        og_index_verdict_cleanup(&e->verdict);
        e->verdict = v;
        e->has_verdict = true;
        e->negative = v.state == OG_INDEX_STATE_UNKNOWN;
        /* The validators go with the verdict: a new one brings its own, an UNKNOWN none. */
        srv_fetch_validators_cleanup(&e->validators);
        if (!e->negative) {
            e->validators = res.validators;
            memset(&res.validators, 0, sizeof(res.validators));
        }
        e->threshold = cfg->index.threshold;
        if (e->negative) {
            e->expires = now + (uint64_t)cfg->index.negative_ttl_s * 1000u;
            e->stale_until = e->expires;
        } else {
            e->expires = now + (uint64_t)cfg->index.ttl_s * 1000u;
            e->stale_until = e->expires + (uint64_t)cfg->index.ttl_s * 1000u;
        }
    }
renewed:
    e->fetching = false;
    e->conditional = false;
    take_waiters(c, e, now, false, &woken);
    pthread_mutex_unlock(&c->lock);
    srv_fetch_validators_cleanup(&res.validators);
    og_config_unref(cfg);
    wake_list(woken);
    /* Counted down only now, so that srv_index_cache_free() returns after every wake. */
    pthread_mutex_lock(&c->lock);
    if (--c->in_flight == 0)
        pthread_cond_broadcast(&c->idle);
    pthread_mutex_unlock(&c->lock);
}

/* Starts the fetches begin_fetch() listed; the lock must not be held. */
static void start_fetches(struct srv_index_cache *c, struct entry *starts)
{
    while (starts != NULL) {
        struct entry *e = starts;
        struct og_config *cfg;

        starts = e->start_next;
        e->start_next = NULL;
        /* Pinned until fetch_done(): its url and job_cfg stay as they are. */
        cfg = e->job_cfg;
        /* The validators too: only this fetch's done() changes them. */
        c->fetch(c->fetch_arg, e->url, cfg, e->conditional ? &e->validators : NULL, fetch_done, e);
    }
}

/* Wakes waiters whose deadline passed; sleeps until the earliest one otherwise. */
static void *timer_main(void *arg)
{
    struct srv_index_cache *c = arg;

    pthread_mutex_lock(&c->lock);
    while (!c->stopping) {
        uint64_t now = c->clock(c->clock_arg), earliest = UINT64_MAX;
        struct waiter *woken = NULL;

        for (struct waiter *w = c->waiters; w != NULL; w = w->next) {
            if (w->deadline < earliest)
                earliest = w->deadline;
        }
        if (earliest <= now) {
            take_waiters(c, NULL, now, false, &woken);
            for (struct waiter *w = woken; w != NULL; w = w->next)
                c->stats.timeouts++;
            pthread_mutex_unlock(&c->lock);
            wake_list(woken);
            pthread_mutex_lock(&c->lock);
            continue;
        }
        if (earliest == UINT64_MAX) {
            pthread_cond_wait(&c->timer, &c->lock);
        } else {
            /* The cache's clock may be injected: sleep its remaining span on the real one. */
            uint64_t span = earliest - now;
            struct timespec ts;

            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += (time_t)(span / 1000u);
            ts.tv_nsec += (long)(span % 1000u) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            (void)pthread_cond_timedwait(&c->timer, &c->lock, &ts);
        }
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

enum og_err srv_index_cache_new(const struct srv_index_cache_opts *o, struct srv_index_cache **out)
{
    struct srv_index_cache *c = NULL;
    pthread_condattr_t ca;
    size_t n = 16;

    if (o->max_entries == 0 || (o->fetch == NULL && (o->max_fetches == 0 || o->max_per_host == 0)))
        return OG_EINVAL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return OG_ENOMEM;
    while (n < (size_t)o->max_entries * 2)
        n *= 2;
    c->buckets = calloc(n, sizeof(*c->buckets));
    if (c->buckets == NULL) {
        free(c);
        return OG_ENOMEM;
    }
    c->n_buckets = n;
    c->max_entries = o->max_entries;
    c->fetch = o->fetch;
    c->fetch_arg = o->fetch_arg;
    c->clock = o->clock != NULL ? o->clock : default_clock;
    c->clock_arg = o->clock_arg;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->idle, NULL);
    /* The timer sleeps on absolute CLOCK_MONOTONIC times, immune to wall-clock steps. */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->timer, &ca);
    pthread_condattr_destroy(&ca);
    if (c->fetch == NULL) {
        struct srv_index_fetcher_opts fo;
        enum og_err rc;

        fo.loop.max_total = o->max_fetches;
        fo.loop.max_per_host = o->max_per_host;
        fo.ca_file = o->ca_file;
        rc = srv_index_fetcher_new(&fo, &c->fetcher);
        if (rc != OG_OK) {
            srv_index_cache_free(c);
            return rc;
        }
        c->fetch = srv_index_fetcher_start;
        c->fetch_arg = c->fetcher;
    }
    if (pthread_create(&c->timer_thread, NULL, timer_main, c) != 0) {
        srv_index_cache_free(c);
        return OG_EIO;
    }
    c->timer_started = true;
    *out = c;
    return OG_OK;
}

void srv_index_cache_stop(struct srv_index_cache *c)
{
    struct waiter *woken = NULL;

    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    take_waiters(c, NULL, 0, true, &woken);
    pthread_cond_broadcast(&c->timer);
    pthread_mutex_unlock(&c->lock);
    /* Fetches end at once; their verdicts land in entries nobody waits on any more. */
    if (c->fetcher != NULL)
        srv_index_fetcher_stop(c->fetcher);
    wake_list(woken);
}

void srv_index_cache_free(struct srv_index_cache *c)
{
    if (c == NULL)
        return;
    srv_index_cache_stop(c);
    /* Every done has run once the fetcher is gone; an injected fetch delivers on its own. */
    srv_index_fetcher_free(c->fetcher);
    pthread_mutex_lock(&c->lock);
    while (c->in_flight > 0)
        pthread_cond_wait(&c->idle, &c->lock);
    pthread_mutex_unlock(&c->lock);
    if (c->timer_started)
        pthread_join(c->timer_thread, NULL);
    while (c->lru_head != NULL) {
        struct entry *e = c->lru_head;

        lru_unlink(c, e);
        entry_free(e);
    }
    pthread_cond_destroy(&c->idle);
    pthread_cond_destroy(&c->timer);
    pthread_mutex_destroy(&c->lock);
    free(c->buckets);
    free(c);
}

/* A verdict with no summary behind it; on OOM the bare state still tells the policy. */
static void set_state(struct og_index_verdict *out, enum og_index_state state, const char *detail)
{
    memset(out, 0, sizeof(*out));
    if (og_index_verdict_init_state(out, state, detail) != OG_OK) {
        memset(out, 0, sizeof(*out));
        out->state = state;
    }
}

enum srv_index_lookup srv_index_cache_lookup(struct srv_index_cache *c, struct og_config *cfg,
                                             const char *url, uint64_t deadline_ms,
                                             struct og_index_verdict *out, srv_index_wake_fn wake,
                                             void *arg)
{
    uint64_t h = hash_url(url);
    struct waiter *w = NULL;
    struct entry *e, *starts = NULL;

    memset(out, 0, sizeof(*out));
    if (wake != NULL) {
        /* Allocated before the lock; freed unused on the paths that do not wait. */
        w = calloc(1, sizeof(*w));
    }
    pthread_mutex_lock(&c->lock);
    if (c->stopping) {
        pthread_mutex_unlock(&c->lock);
        free(w);
        set_state(out, OG_INDEX_STATE_PENDING, "index analysis stopped");
        return SRV_INDEX_READY;
    }
    uint64_t now = c->clock(c->clock_arg);
    e = find(c, url, h);
    if (e != NULL && e->has_verdict && e->threshold == cfg->index.threshold &&
        (now < e->expires || now < e->stale_until)) {
        bool fresh = now < e->expires;

        touch(c, e);
        if (og_index_verdict_copy(&e->verdict, out) != OG_OK)
            set_state(out, OG_INDEX_STATE_UNKNOWN, NULL);
        if (fresh) {
            c->stats.hits++;
        } else {
            c->stats.stale++;
            if (!e->fetching)
                begin_fetch(c, e, cfg, &starts);
        }
        pthread_mutex_unlock(&c->lock);
        free(w);
        start_fetches(c, starts);
        return SRV_INDEX_READY;
    }
    c->stats.misses++;
    if (e == NULL) {
        if (!make_room(c)) {
            pthread_mutex_unlock(&c->lock);
            free(w);
            set_state(out, OG_INDEX_STATE_UNKNOWN, "too many index fetches in flight");
            return SRV_INDEX_READY;
        }
        e = insert(c, url, h);
        if (e == NULL) {
            pthread_mutex_unlock(&c->lock);
            free(w);
            set_state(out, OG_INDEX_STATE_UNKNOWN, "out of memory");
            return SRV_INDEX_READY;
        }
    } else {
        touch(c, e);
    }
    if (e->fetching)
        c->stats.joined++;
    else
        begin_fetch(c, e, cfg, &starts);
    if (wake == NULL || w == NULL || deadline_ms <= now) {
        pthread_mutex_unlock(&c->lock);
        free(w);
        set_state(out, OG_INDEX_STATE_PENDING, "index analysis in progress");
        start_fetches(c, starts);
        return SRV_INDEX_READY;
    }
    w->entry = e;
    w->deadline = deadline_ms;
    w->wake = wake;
    w->arg = arg;
    w->next = c->waiters;
    if (c->waiters != NULL)
        c->waiters->prev = w;
    c->waiters = w;
    pthread_cond_signal(&c->timer);
    pthread_mutex_unlock(&c->lock);
    /* The fetch may deliver (and wake `arg`) before this returns, as the contract allows. */
    start_fetches(c, starts);
    return SRV_INDEX_WAIT;
}

void srv_index_cache_get_stats(struct srv_index_cache *c, struct srv_index_cache_stats *out)
{
    pthread_mutex_lock(&c->lock);
    *out = c->stats;
    out->entries = c->n_entries;
    out->in_flight = c->in_flight;
    pthread_mutex_unlock(&c->lock);
}
