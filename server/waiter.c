#include "waiter.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"

#include "ocigate/buf.h"

/* The event data of the wakeup descriptor: no socket's (a socket's has a descriptor < 2^31). */
#define WAKE_TAG UINT64_MAX

/* Events taken from the epoll set per call. */
#define BATCH 64

/* A descriptor's entry: whether it is watched, for what, and its generation. */
struct slot {
    void *arg;
    uint32_t gen;
    bool armed;
};

struct srv_waiter {
    pthread_mutex_t mu;
    srv_waiter_fn wake;
    int epfd;
    int wake_fd;        /* eventfd that ends the thread */
    struct slot *slots; /* by descriptor; grows to the largest one added (guarded by mu) */
    size_t n_slots;
    uint32_t next_gen; /* guarded by mu */
    bool stopped;      /* guarded by mu */
    bool running;      /* the thread runs (the owner's thread only) */
    pthread_t thread;
};

/* An event's data: the descriptor in the low half, its entry's generation in the high one. */
static uint64_t tag(int fd, uint32_t gen)
{
    return (uint64_t)gen << 32 | (uint32_t)fd;
}

/*
 * Disarms the entry of `fd` and takes the socket out of the epoll set; returns its argument.
 * Under mu, with the entry armed.
 */
static void *disarm(struct srv_waiter *w, int fd)
{
    w->slots[fd].armed = false;
    /* Fails only for a socket already closed, which left the set with its last descriptor. */
    (void)epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL);
    return w->slots[fd].arg;
}

/*
 * Stops adds and wakes every socket still watched, on the calling thread: the thread has ended
 * (or is the caller), so no event is taken any more.
 */
static void wake_all(struct srv_waiter *w)
{
    pthread_mutex_lock(&w->mu);
    w->stopped = true;
    pthread_mutex_unlock(&w->mu);
    for (size_t fd = 0;; fd++) {
        void *arg = NULL;
        bool end;

        pthread_mutex_lock(&w->mu);
        end = fd >= w->n_slots;
        if (!end && w->slots[fd].armed)
            arg = disarm(w, (int)fd);
        pthread_mutex_unlock(&w->mu);
        if (end)
            return;
        if (arg != NULL)
            w->wake(arg);
    }
}

static void *waiter_main(void *p)
{
    struct srv_waiter *w = p;
    struct epoll_event ev[BATCH];

    for (;;) {
        int n = epoll_wait(w->epfd, ev, BATCH, -1);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* Cannot happen with a valid set; parked sockets must not be left waiting. */
            srv_logf(SRV_LOG_ERROR, "the handshake waiter's epoll_wait failed: %s",
                     strerror(errno));
            wake_all(w);
            return NULL;
        }
        for (int i = 0; i < n; i++) {
            uint64_t t = ev[i].data.u64;
            int fd = (int)(uint32_t)t;
            void *arg = NULL;

            if (t == WAKE_TAG)
                return NULL;
            pthread_mutex_lock(&w->mu);
            /* An event of a socket removed meanwhile, perhaps with its number reused, is none. */
            if ((size_t)fd < w->n_slots && w->slots[fd].armed &&
                w->slots[fd].gen == (uint32_t)(t >> 32))
                arg = disarm(w, fd);
            pthread_mutex_unlock(&w->mu);
            if (arg != NULL)
                w->wake(arg);
        }
    }
}

enum og_err srv_waiter_new(srv_waiter_fn wake, struct srv_waiter **out)
{
    struct srv_waiter *w = calloc(1, sizeof(*w));
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = WAKE_TAG};

    if (w == NULL)
        return OG_ENOMEM;
    w->wake = wake;
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->epfd < 0 || w->wake_fd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake_fd, &ev) != 0)
        goto fail;
    if (pthread_mutex_init(&w->mu, NULL) != 0)
        goto fail;
    if (pthread_create(&w->thread, NULL, waiter_main, w) != 0) {
        pthread_mutex_destroy(&w->mu);
        goto fail;
    }
    w->running = true;
    *out = w;
    return OG_OK;
fail:
    if (w->epfd >= 0)
        close(w->epfd);
    if (w->wake_fd >= 0)
        close(w->wake_fd);
    free(w);
    return OG_EIO;
}

/* Makes the table cover descriptor `fd`. Under mu. */
static bool grow(struct srv_waiter *w, int fd)
{
    while (w->n_slots <= (size_t)fd) {
        size_t cap = w->n_slots;
        struct slot *grown =
            og_array_grow(w->slots, &cap, w->n_slots, sizeof(*grown), 256, SIZE_MAX);

        if (grown == NULL)
            return false;
        memset(grown + w->n_slots, 0, (cap - w->n_slots) * sizeof(*grown)); /* not armed */
        w->slots = grown;
        w->n_slots = cap;
    }
    return true;
}

bool srv_waiter_add(struct srv_waiter *w, int fd, void *arg)
{
    struct epoll_event ev;
    bool ok = false;

    if (fd < 0 || arg == NULL)
        return false;
    pthread_mutex_lock(&w->mu);
    if (w->stopped || !grow(w, fd) || w->slots[fd].armed)
        goto out;
    w->slots[fd].gen = w->next_gen++;
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
    ev.data.u64 = tag(fd, w->slots[fd].gen);
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        goto out;
    w->slots[fd].arg = arg;
    w->slots[fd].armed = true;
    ok = true;
out:
    pthread_mutex_unlock(&w->mu);
    return ok;
}

bool srv_waiter_remove(struct srv_waiter *w, int fd)
{
    bool was = false;

    if (fd < 0)
        return false;
    pthread_mutex_lock(&w->mu);
    if ((size_t)fd < w->n_slots && w->slots[fd].armed) {
        (void)disarm(w, fd);
        was = true;
    }
    pthread_mutex_unlock(&w->mu);
    return was;
}

void srv_waiter_stop(struct srv_waiter *w)
{
    const uint64_t one = 1;

    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopped = true;
    pthread_mutex_unlock(&w->mu);
    if (w->running) {
        /* Fails only when the counter is full, and then the thread is woken anyway. */
        if (write(w->wake_fd, &one, sizeof(one)) < 0)
            srv_logf(SRV_LOG_DEBUG, "the handshake waiter's wakeup failed: %s", strerror(errno));
        pthread_join(w->thread, NULL);
        w->running = false;
    }
    wake_all(w);
}

void srv_waiter_free(struct srv_waiter *w)
{
    if (w == NULL)
        return;
    srv_waiter_stop(w);
    pthread_mutex_destroy(&w->mu);
    close(w->epfd);
    close(w->wake_fd);
    free(w->slots);
    free(w);
}
