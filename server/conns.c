#include "conns.h"

#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/*
 * An entry's state and the time it entered it share one atomic word (`since << 3 | state`),
 * so that the worker's request hooks and the watchdog can move it without a lock and without
 * tearing the pair apart.
 */
enum state {
    ST_NEW = 1, /* accepted; no request yet (TLS handshake, first request): deadline from since */
    ST_RECV,    /* a request is arriving: deadline from since (its first byte) */
    ST_BUSY,    /* the request has arrived: it is answered or parked; no deadline */
    ST_IDLE     /* keep-alive between requests: libmicrohttpd's idle timeout; may be evicted */
};

#define STATE_BITS 3u
#define STATE_MASK ((1u << STATE_BITS) - 1u)

/* The byte counter of a socket that has none (getsockopt failed). */
#define RX_UNKNOWN UINT64_MAX

/* How often an entry that libmicrohttpd never reported started is checked for being lost. */
#define LOST_CHECK_MS 1000u

/* A warning of each kind is written at most this often; the lines between are counted. */
#define LOG_EVERY_MS 10000u

/*
 * Idle connections whose TCP_INFO one tick reads (one getsockopt each, about a microsecond):
 * with more idle connections than this, they are read in turns.
 */
#define SAMPLE_BUDGET 4096u

/*
 * A new connection that has not delivered a request's headers this long after accept is
 * stalled: at the cap, with clients waiting, it is closed (after the idle ones) rather than
 * left to its deadline. A client in good faith needs a round trip and a TLS handshake; a flood
 * of silent connections would otherwise hold every slot for a whole request timeout per round.
 */
#define STALLED_MS 1000u

/*
 * ... and one that has not received a single byte this long after accept is silent: a client
 * in good faith sends its TLS ClientHello right behind the TCP handshake, so by the time we
 * accept its connection the hello is there or a fraction of a round trip away. At the cap,
 * with clients waiting, silent ones go as stalled ones do: a flood of silent connections
 * (4000 at the default cap of 1024) otherwise drained at one cap's worth a second, and a
 * /healthz queued behind it waited 19 s.
 */
#define SILENT_MS 200u

/* TCP_LISTEN of the kernel's tcp_states.h, which <linux/tcp.h> does not export. */
#define KERNEL_TCP_LISTEN 10

/* The accept thread's longest sleep while the table is full and no client waits. */
#define WAIT_MS 100

struct srv_conn {
    atomic_uint_least64_t word; /* state and since (above) */
    /* The rest is guarded by the table's lock; `fd` is also read by the connection's worker. */
    int fd;
    bool used;
    bool started; /* libmicrohttpd reported it started: only then may it be shut down */
    bool cut;     /* shut down by us; waiting for libmicrohttpd to close it */
    bool evicted; /* ... to make room at the cap (counted in `evicting`) */
    dev_t dev;    /* the socket's identity, to tell a lost entry from a live one */
    ino_t ino;
    uint64_t check_ms; /* next lost check of a never started entry */
};

/* A warning written at most every LOG_EVERY_MS, with what happened in between counted. */
struct ratelog {
    uint64_t last_ms;
    unsigned pending;
};

/* A connection that srv_conns_make_room() may close: idle ones (rank 0) before stalled ones. */
struct candidate {
    unsigned rank;
    uint64_t since;
    int idx;
};

struct srv_conns {
    pthread_mutex_t mu;
    pthread_cond_t cond; /* the watchdog's sleep; signalled to stop it */
    unsigned max_conns;
    uint64_t timeout_ms;
    unsigned tick_ms;
    struct srv_conn *slots; /* max_conns entries */
    int *free_idx;          /* a stack of the unused entries */
    unsigned n_free;
    int *by_fd; /* descriptor -> entry or -1; grows to the largest descriptor seen */
    size_t by_fd_len;
    struct candidate *scratch; /* max_conns, for srv_conns_make_room() */
    unsigned count;
    unsigned evicting; /* evicted entries that libmicrohttpd has not closed yet */
    unsigned cursor;   /* where the next tick's sampling of idle counters starts */
    bool waiting;      /* the accept thread sleeps in srv_conns_wait_room() */
    int wake_fd;       /* eventfd that wakes it */
    bool stopping;
    bool running; /* the watchdog thread runs */
    pthread_t thread;
    struct ratelog cut_log;  /* guarded by mu */
    struct ratelog lost_log; /* guarded by mu */
    struct ratelog cap_log;  /* accept thread only */
    unsigned cap_evicted;    /* connections closed for waiting clients since the last line */
};

static uint64_t ms_of(const struct timespec *ts)
{
    return (uint64_t)ts->tv_sec * 1000u + (uint64_t)ts->tv_nsec / 1000000u;
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ms_of(&ts);
}

static uint64_t pack(enum state st, uint64_t since)
{
    return since << STATE_BITS | (uint64_t)st;
}

static enum state state_of(uint64_t word)
{
    return (enum state)(word & STATE_MASK);
}

static uint64_t since_of(uint64_t word)
{
    return word >> STATE_BITS;
}

/*
 * Milliseconds the entry has been in its state at `now`. The request hooks stamp the word
 * without the lock, so it may be younger than a `now` read before it: that is no time at all,
 * not an unsigned wrap to "very late".
 */
static uint64_t age(uint64_t word, uint64_t now)
{
    uint64_t since = since_of(word);

    return now > since ? now - since : 0;
}

/* TCP_INFO of `fd`, or false (not TCP, or a kernel without the field we need). */
static bool tcp_info(int fd, struct tcp_info *ti, size_t need)
{
    socklen_t len = sizeof(*ti);

    memset(ti, 0, sizeof(*ti));
    return getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, &len) == 0 && (size_t)len >= need;
}

/* Bytes the kernel has received on `fd` since it was opened, or RX_UNKNOWN. */
static uint64_t rx_bytes(int fd)
{
    struct tcp_info ti;

    if (!tcp_info(fd, &ti,
                  offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received)))
        return RX_UNKNOWN;
    return ti.tcpi_bytes_received;
}

/* Connections waiting in the accept queue of the listening socket `fd` (0 when unknown). */
static unsigned listen_backlog(int fd)
{
    struct tcp_info ti;

    /* For a listener the kernel reports its accept queue's length in tcpi_unacked. */
    if (!tcp_info(fd, &ti, offsetof(struct tcp_info, tcpi_unacked) + sizeof(ti.tcpi_unacked)) ||
        ti.tcpi_state != KERNEL_TCP_LISTEN) {
        struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};

        return poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0 ? 1 : 0;
    }
    return ti.tcpi_unacked;
}

/* Counts `n` events; returns what to report (0: not now). */
static unsigned ratelog_note(struct ratelog *r, unsigned n, uint64_t now)
{
    unsigned due;

    r->pending += n;
    if (r->pending == 0 || (r->last_ms != 0 && now - r->last_ms < LOG_EVERY_MS))
        return 0;
    due = r->pending;
    r->pending = 0;
    r->last_ms = now;
    return due;
}

static void wake(struct srv_conns *c)
{
    uint64_t one = 1;

    /* Fails only when the counter is full, and then a wakeup is pending anyway. */
    if (write(c->wake_fd, &one, sizeof(one)) < 0)
        return;
}

/* Frees entry `idx`. Under mu. */
static void remove_entry(struct srv_conns *c, int idx)
{
    struct srv_conn *s = &c->slots[idx];

    if (s->evicted)
        c->evicting--;
    if ((size_t)s->fd < c->by_fd_len && c->by_fd[s->fd] == idx)
        c->by_fd[s->fd] = -1;
    s->used = false;
    s->fd = -1;
    c->free_idx[c->n_free++] = idx;
    c->count--;
    if (c->waiting)
        wake(c);
}

/* True when the descriptor of never started entry `s` no longer holds its socket. Under mu. */
static bool is_lost(const struct srv_conn *s)
{
    struct stat st;

    return fstat(s->fd, &st) != 0 || st.st_dev != s->dev || st.st_ino != s->ino;
}

/* Makes by_fd cover descriptor `fd`. Under mu. */
static enum og_err grow_by_fd(struct srv_conns *c, int fd)
{
    size_t want = (size_t)fd + 1, len = c->by_fd_len;
    int *grown;

    if (want <= len)
        return OG_OK;
    len = len < 256 ? 256 : len;
    while (len < want)
        len *= 2;
    grown = realloc(c->by_fd, len * sizeof(*grown));
    if (grown == NULL)
        return OG_ENOMEM;
    for (size_t i = c->by_fd_len; i < len; i++)
        grown[i] = -1;
    c->by_fd = grown;
    c->by_fd_len = len;
    return OG_OK;
}

static void *watchdog_main(void *arg)
{
    struct srv_conns *c = arg;

    pthread_mutex_lock(&c->mu);
    while (!c->stopping) {
        struct timespec until;

        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (long)(c->tick_ms % 1000u) * 1000000L;
        until.tv_sec += (time_t)(c->tick_ms / 1000u) + until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        (void)pthread_cond_timedwait(&c->cond, &c->mu, &until);
        if (c->stopping)
            break;
        pthread_mutex_unlock(&c->mu);
        (void)srv_conns_tick(c);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

enum og_err srv_conns_new(const struct srv_conns_opts *opts, struct srv_conns **out)
{
    struct srv_conns *c;
    pthread_condattr_t attr;
    enum og_err rc = OG_ENOMEM;

    if (opts->max_conns < 1 || opts->max_conns > 65536 || opts->request_timeout_ms == 0)
        return OG_EINVAL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return OG_ENOMEM;
    c->wake_fd = -1;
    c->max_conns = opts->max_conns;
    c->timeout_ms = opts->request_timeout_ms;
    c->tick_ms = opts->tick_ms;
    c->slots = calloc(c->max_conns, sizeof(*c->slots));
    c->free_idx = calloc(c->max_conns, sizeof(*c->free_idx));
    c->scratch = calloc(c->max_conns, sizeof(*c->scratch));
    if (c->slots == NULL || c->free_idx == NULL || c->scratch == NULL)
        goto fail;
    /* The stack hands out entry 0 first. */
    for (unsigned i = 0; i < c->max_conns; i++) {
        c->slots[i].fd = -1;
        c->free_idx[i] = (int)(c->max_conns - 1 - i);
    }
    c->n_free = c->max_conns;
    rc = OG_EIO;
    c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (c->wake_fd < 0)
        goto fail;
    if (pthread_mutex_init(&c->mu, NULL) != 0)
        goto fail;
    if (pthread_condattr_init(&attr) != 0)
        goto fail_mu;
    if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&c->cond, &attr) != 0) {
        pthread_condattr_destroy(&attr);
        goto fail_mu;
    }
    pthread_condattr_destroy(&attr);
    if (c->tick_ms > 0) {
        if (pthread_create(&c->thread, NULL, watchdog_main, c) != 0) {
            pthread_cond_destroy(&c->cond);
            goto fail_mu;
        }
        c->running = true;
    }
    *out = c;
    return OG_OK;
fail_mu:
    pthread_mutex_destroy(&c->mu);
fail:
    if (c->wake_fd >= 0)
        close(c->wake_fd);
    free(c->slots);
    free(c->free_idx);
    free(c->scratch);
    free(c);
    return rc;
}

void srv_conns_free(struct srv_conns *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->mu);
    if (c->running)
        pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->mu);
    close(c->wake_fd);
    free(c->slots);
    free(c->free_idx);
    free(c->scratch);
    free(c->by_fd);
    free(c);
}

int srv_conns_add(struct srv_conns *c, int fd)
{
    struct stat st;
    struct srv_conn *s;
    uint64_t now = now_ms();
    unsigned lost = 0;
    int idx = -1;

    if (fd < 0 || fstat(fd, &st) != 0)
        return -1;
    pthread_mutex_lock(&c->mu);
    if (grow_by_fd(c, fd) != OG_OK)
        goto out;
    /*
     * accept() handed out a descriptor number that an entry still holds: that socket was closed
     * without a notification (libmicrohttpd could not set the connection up), so the entry is
     * stale. (A started entry cannot be: libmicrohttpd reports the close of every connection it
     * started before it closes the descriptor.)
     */
    if (c->by_fd[fd] >= 0) {
        remove_entry(c, c->by_fd[fd]);
        lost = ratelog_note(&c->lost_log, 1, now);
    }
    if (c->count >= c->max_conns)
        goto out;
    idx = c->free_idx[--c->n_free];
    s = &c->slots[idx];
    s->fd = fd;
    s->used = true;
    s->started = false;
    s->cut = false;
    s->evicted = false;
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->check_ms = now + LOST_CHECK_MS;
    atomic_store(&s->word, pack(ST_NEW, now));
    c->by_fd[fd] = idx;
    c->count++;
out:
    pthread_mutex_unlock(&c->mu);
    if (lost > 0)
        srv_logf(SRV_LOG_WARN, "libmicrohttpd dropped %u connections without notice", lost);
    return idx;
}

void srv_conns_forget(struct srv_conns *c, int idx)
{
    if (idx < 0 || (unsigned)idx >= c->max_conns)
        return;
    pthread_mutex_lock(&c->mu);
    if (c->slots[idx].used && !c->slots[idx].started)
        remove_entry(c, idx);
    pthread_mutex_unlock(&c->mu);
}

struct srv_conn *srv_conns_started(struct srv_conns *c, int fd)
{
    struct srv_conn *s = NULL;

    pthread_mutex_lock(&c->mu);
    if (fd >= 0 && (size_t)fd < c->by_fd_len && c->by_fd[fd] >= 0) {
        s = &c->slots[c->by_fd[fd]];
        if (s->started)
            s = NULL; /* cannot happen: one socket, one start */
        else
            s->started = true;
    }
    pthread_mutex_unlock(&c->mu);
    return s;
}

void srv_conns_closed(struct srv_conns *c, struct srv_conn *conn)
{
    if (conn == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    if (conn->used && conn->started)
        remove_entry(c, (int)(conn - c->slots));
    pthread_mutex_unlock(&c->mu);
}

void srv_conn_request_begin(struct srv_conn *conn, const struct timespec *now)
{
    uint64_t w, next, since;

    if (conn == NULL)
        return;
    w = atomic_load(&conn->word);
    do {
        /* Already seen arriving: the deadline runs from then. */
        if (state_of(w) == ST_RECV)
            return;
        /*
         * A new connection keeps its clock from accept, but with its headers in it is no longer
         * stalled: srv_conns_make_room() must not close it while its body arrives.
         */
        if (state_of(w) == ST_NEW)
            since = since_of(w);
        else
            since = now != NULL ? ms_of(now) : now_ms();
        next = pack(ST_RECV, since);
    } while (!atomic_compare_exchange_weak(&conn->word, &w, next));
}

void srv_conn_request_received(struct srv_conn *conn)
{
    /*
     * No clock: a busy entry's time is never read (no deadline, never closed for room), so it
     * keeps the one it has. Only this worker moves an entry out of ST_RECV (the watchdog moves
     * idle ones only), so the load and the store need no exchange. A release store, a plain
     * one on x86 (a sequentially consistent one is an xchg, ~0.5 % of the server's CPU): no
     * load of this thread's depends on the watchdog seeing it first.
     */
    if (conn != NULL)
        atomic_store_explicit(
            &conn->word,
            pack(ST_BUSY, since_of(atomic_load_explicit(&conn->word, memory_order_relaxed))),
            memory_order_release);
}

void srv_conn_request_done(struct srv_conn *conn, const struct timespec *now)
{
    /* No system call: the watchdog tells a new request from the kernel's stamps (idle_woke()).
     * A release store, as in srv_conn_request_received(). */
    if (conn != NULL)
        atomic_store_explicit(&conn->word, pack(ST_IDLE, now != NULL ? ms_of(now) : now_ms()),
                              memory_order_release);
}

unsigned srv_conns_count(struct srv_conns *c)
{
    unsigned n;

    pthread_mutex_lock(&c->mu);
    n = c->count;
    pthread_mutex_unlock(&c->mu);
    return n;
}

/*
 * Whether idle entry `s` (state word `w`) has received data since its response went out: the
 * next request has begun, so it moves to ST_RECV and its deadline runs from now. Under mu.
 *
 * The kernel stamps a socket, in clock ticks (jiffies, 1 to 10 ms), with the last data segment
 * received and the last new data segment sent; TCP_INFO gives both as milliseconds before one
 * and the same reading of that clock, so they compare exactly, tick for tick. The response is
 * the last data an idle connection sent (the whole request had arrived before it: a response
 * queued earlier makes libmicrohttpd close the connection), so data received in a later tick
 * is the next request's. Pure ACKs and keep-alive probes are not data and change neither stamp.
 *
 * What this cannot see: data that arrived in the very tick the response went out (a request
 * of its own arrives then too). A client that sends the next request's first bytes that fast
 * and then nothing more stays idle here: libmicrohttpd's idle timeout ends it, it is the first
 * to go at the cap, and its next byte, a tick later, is seen. A response that the kernel still
 * holds (the client does not read: tcpi_notsent_bytes) leaves the send stamp behind the
 * request; such a connection stays idle too rather than being taken for a new request.
 */
static bool idle_woke(struct srv_conn *s, uint64_t w, uint64_t now)
{
    struct tcp_info ti;

    if (!tcp_info(s->fd, &ti,
                  offsetof(struct tcp_info, tcpi_notsent_bytes) + sizeof(ti.tcpi_notsent_bytes)) ||
        ti.tcpi_notsent_bytes != 0 || ti.tcpi_last_data_recv >= ti.tcpi_last_data_sent)
        return false;
    /* A failed exchange means the worker moved it first, which is as good. */
    (void)atomic_compare_exchange_strong(&s->word, &w, pack(ST_RECV, now));
    return true;
}

unsigned srv_conns_tick(struct srv_conns *c)
{
    uint64_t now = now_ms();
    unsigned cut = 0, lost = 0, sampled = 0, report_cut, report_lost, i;

    pthread_mutex_lock(&c->mu);
    for (unsigned k = 0; k < c->max_conns; k++) {
        struct srv_conn *s;
        uint64_t w;

        i = (c->cursor + k) % c->max_conns;
        s = &c->slots[i];
        if (!s->used || s->cut)
            continue;
        if (!s->started) {
            if (now >= s->check_ms) {
                if (is_lost(s)) {
                    remove_entry(c, (int)i);
                    lost++;
                } else {
                    s->check_ms = now + LOST_CHECK_MS;
                }
            }
            continue;
        }
        w = atomic_load(&s->word);
        switch (state_of(w)) {
        case ST_NEW:
        case ST_RECV:
            if (age(w, now) >= c->timeout_ms) {
                (void)shutdown(s->fd, SHUT_RDWR);
                s->cut = true;
                cut++;
            }
            break;
        case ST_IDLE:
            if (sampled < SAMPLE_BUDGET) {
                sampled++;
                (void)idle_woke(s, w, now);
                if (sampled == SAMPLE_BUDGET)
                    c->cursor = (i + 1) % c->max_conns;
            }
            break;
        case ST_BUSY:
            break;
        }
    }
    report_cut = ratelog_note(&c->cut_log, cut, now);
    report_lost = ratelog_note(&c->lost_log, lost, now);
    pthread_mutex_unlock(&c->mu);
    if (report_cut > 0) {
        char n[16], ms[24];

        (void)snprintf(n, sizeof(n), "%u", report_cut);
        (void)snprintf(ms, sizeof(ms), "%llu", (unsigned long long)c->timeout_ms);
        srv_log(SRV_LOG_WARN, "closed connections whose request did not arrive in time",
                "connections", n, "request_timeout_ms", ms, NULL);
    }
    if (report_lost > 0)
        srv_logf(SRV_LOG_WARN, "libmicrohttpd dropped %u connections without notice", report_lost);
    return cut;
}

/* Whether new entry `s` (state word `w`) is stalled or silent (above). Under mu. */
static bool new_evictable(const struct srv_conn *s, uint64_t w, uint64_t now)
{
    uint64_t a = age(w, now);

    return a >= STALLED_MS || (a >= SILENT_MS && rx_bytes(s->fd) == 0);
}

static int by_rank_since(const void *a, const void *b)
{
    const struct candidate *x = a, *y = b;

    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return x->since < y->since ? -1 : x->since > y->since;
}

unsigned srv_conns_make_room(struct srv_conns *c, unsigned waiting)
{
    uint64_t now = now_ms();
    unsigned n = 0, closed = 0, want;

    pthread_mutex_lock(&c->mu);
    if (c->evicting >= waiting)
        goto out;
    want = waiting - c->evicting;
    for (unsigned i = 0; i < c->max_conns; i++) {
        const struct srv_conn *s = &c->slots[i];
        uint64_t w;

        if (!s->used || !s->started || s->cut)
            continue;
        w = atomic_load(&s->word);
        if (state_of(w) == ST_IDLE || (state_of(w) == ST_NEW && new_evictable(s, w, now))) {
            c->scratch[n].rank = state_of(w) == ST_IDLE ? 0 : 1;
            c->scratch[n].since = since_of(w);
            c->scratch[n].idx = (int)i;
            n++;
        }
    }
    qsort(c->scratch, n, sizeof(*c->scratch), by_rank_since);
    for (unsigned k = 0; k < n && closed < want; k++) {
        struct srv_conn *s = &c->slots[c->scratch[k].idx];
        uint64_t w = atomic_load(&s->word);

        /*
         * Skip one that moved on meanwhile, and an idle one whose next request has just begun:
         * closing it would lose that request.
         */
        if (state_of(w) != (c->scratch[k].rank == 0 ? ST_IDLE : ST_NEW) ||
            (state_of(w) == ST_IDLE && idle_woke(s, w, now)))
            continue;
        (void)shutdown(s->fd, SHUT_RDWR);
        s->cut = true;
        s->evicted = true;
        c->evicting++;
        closed++;
    }
out:
    pthread_mutex_unlock(&c->mu);
    return closed;
}

void srv_conns_wake(struct srv_conns *c)
{
    wake(c);
}

bool srv_conns_wait_room(struct srv_conns *c, int listen_fd, const atomic_bool *stop)
{
    for (;;) {
        struct pollfd pfd[2];
        unsigned backlog, closed = 0;
        nfds_t n = 1;

        if (atomic_load(stop))
            return false;
        pthread_mutex_lock(&c->mu);
        if (c->count < c->max_conns) {
            c->waiting = false;
            pthread_mutex_unlock(&c->mu);
            return true;
        }
        c->waiting = true;
        pthread_mutex_unlock(&c->mu);
        backlog = listen_backlog(listen_fd);
        if (backlog > 0)
            closed = srv_conns_make_room(c, backlog);
        c->cap_evicted += closed;
        if (ratelog_note(&c->cap_log, 1, now_ms()) > 0) {
            char max[16], wait[16], evicted[16];

            (void)snprintf(max, sizeof(max), "%u", c->max_conns);
            (void)snprintf(wait, sizeof(wait), "%u", backlog);
            (void)snprintf(evicted, sizeof(evicted), "%u", c->cap_evicted);
            c->cap_evicted = 0;
            srv_log(SRV_LOG_WARN, "connection cap reached: new clients wait for a free slot",
                    "max_conns", max, "waiting", wait, "closed_for_waiting", evicted, NULL);
        }
        pfd[0].fd = c->wake_fd;
        pfd[0].events = POLLIN;
        pfd[0].revents = 0;
        /*
         * With no client waiting, the listener wakes us when one comes, to make room for it at
         * once. With clients waiting, only a close (or the stop) can change anything: the
         * listener would keep poll() returning at once.
         */
        if (backlog == 0) {
            pfd[1].fd = listen_fd;
            pfd[1].events = POLLIN;
            pfd[1].revents = 0;
            n = 2;
        }
        if (poll(pfd, n, WAIT_MS) > 0 && (pfd[0].revents & POLLIN) != 0) {
            uint64_t v;

            if (read(c->wake_fd, &v, sizeof(v)) < 0)
                continue;
        }
    }
}
