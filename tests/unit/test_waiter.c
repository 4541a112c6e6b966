#include "harness.h"

#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "waiter.h"

/*
 * The waiter over real socket pairs: `fd[0]` is watched, `fd[1]` is the peer that writes or
 * goes away. Each watched socket's argument is a probe that counts its wakes.
 */

struct probe {
    atomic_int wakes;
};

static void on_wake(void *arg)
{
    struct probe *p = arg;

    atomic_fetch_add(&p->wakes, 1);
}

static void sleep_ms(long ms)
{
    const struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Waits up to `ms` for `p` to reach `n` wakes; returns the count. */
static int wait_wakes(struct probe *p, int n, long ms)
{
    for (long waited = 0; atomic_load(&p->wakes) < n && waited < ms; waited += 5)
        sleep_ms(5);
    return atomic_load(&p->wakes);
}

static struct srv_waiter *new_waiter(void)
{
    struct srv_waiter *w = NULL;

    if (srv_waiter_new(on_wake, &w) != OG_OK)
        return NULL;
    return w;
}

OG_TEST(wakes_once_when_bytes_come)
{
    struct srv_waiter *w = new_waiter();
    struct probe p = {0};
    int fd[2];

    ASSERT(w != NULL);
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd), 0);
    ASSERT(srv_waiter_add(w, fd[0], &p));
    ASSERT(!srv_waiter_add(w, fd[0], &p)); /* watched already */
    sleep_ms(50);
    ASSERT_EQ(atomic_load(&p.wakes), 0);
    ASSERT_EQ(write(fd[1], "x", 1), 1);
    ASSERT_EQ(wait_wakes(&p, 1, 2000), 1);
    /* One wake per add: the socket is forgotten, more bytes wake nobody. */
    ASSERT_EQ(write(fd[1], "y", 1), 1);
    sleep_ms(50);
    ASSERT_EQ(atomic_load(&p.wakes), 1);
    ASSERT(!srv_waiter_remove(w, fd[0]));
    /* ... and it can be added again: unread bytes wake it at once. */
    ASSERT(srv_waiter_add(w, fd[0], &p));
    ASSERT_EQ(wait_wakes(&p, 2, 2000), 2);
    srv_waiter_stop(w);
    srv_waiter_free(w);
    close(fd[0]);
    close(fd[1]);
}

OG_TEST(wakes_on_the_end_and_on_a_shutdown)
{
    struct srv_waiter *w = new_waiter();
    struct probe a = {0}, b = {0};
    int x[2], y[2];

    ASSERT(w != NULL);
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, x), 0);
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, y), 0);
    ASSERT(srv_waiter_add(w, x[0], &a));
    ASSERT(srv_waiter_add(w, y[0], &b));
    close(x[1]); /* the client goes away */
    x[1] = -1;
    ASSERT_EQ(wait_wakes(&a, 1, 2000), 1);
    ASSERT_EQ(shutdown(y[0], SHUT_RDWR), 0); /* what the connection watchdog does */
    ASSERT_EQ(wait_wakes(&b, 1, 2000), 1);
    srv_waiter_stop(w);
    srv_waiter_free(w);
    close(x[0]);
    close(y[0]);
    close(y[1]);
}

OG_TEST(a_removed_socket_never_wakes)
{
    struct srv_waiter *w = new_waiter();
    struct probe p = {0}, q = {0};
    int fd[2], again[2];

    ASSERT(w != NULL);
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd), 0);
    ASSERT(srv_waiter_add(w, fd[0], &p));
    ASSERT(srv_waiter_remove(w, fd[0]));
    ASSERT(!srv_waiter_remove(w, fd[0]));
    ASSERT_EQ(write(fd[1], "x", 1), 1);
    sleep_ms(50);
    ASSERT_EQ(atomic_load(&p.wakes), 0);
    /* Its number, reused by another socket, is a new entry. */
    close(fd[0]);
    close(fd[1]);
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, again), 0);
    ASSERT(srv_waiter_add(w, again[0], &q));
    ASSERT_EQ(write(again[1], "x", 1), 1);
    ASSERT_EQ(wait_wakes(&q, 1, 2000), 1);
    ASSERT_EQ(atomic_load(&p.wakes), 0);
    srv_waiter_stop(w);
    srv_waiter_free(w);
    close(again[0]);
    close(again[1]);
}

OG_TEST(stop_wakes_every_watched_socket_and_refuses_more)
{
    struct srv_waiter *w = new_waiter();
    struct probe p[3] = {{0}, {0}, {0}}, late = {0};
    int fd[3][2];

    ASSERT(w != NULL);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd[i]), 0);
        ASSERT(srv_waiter_add(w, fd[i][0], &p[i]));
    }
    ASSERT(srv_waiter_remove(w, fd[1][0]));
    srv_waiter_stop(w);
    /* Before stop returns, on this thread: the removed one not at all. */
    ASSERT_EQ(atomic_load(&p[0].wakes), 1);
    ASSERT_EQ(atomic_load(&p[1].wakes), 0);
    ASSERT_EQ(atomic_load(&p[2].wakes), 1);
    ASSERT(!srv_waiter_add(w, fd[1][0], &late));
    srv_waiter_stop(w); /* idempotent */
    ASSERT_EQ(atomic_load(&p[0].wakes), 1);
    srv_waiter_free(w);
    ASSERT_EQ(atomic_load(&late.wakes), 0);
    for (int i = 0; i < 3; i++) {
        close(fd[i][0]);
        close(fd[i][1]);
    }
}

OG_TEST(bad_arguments_are_refused)
{
    struct srv_waiter *w = new_waiter();
    struct probe p = {0};

    ASSERT(w != NULL);
    ASSERT(!srv_waiter_add(w, -1, &p));
    ASSERT(!srv_waiter_add(w, 0, NULL));
    ASSERT(!srv_waiter_remove(w, -1));
    srv_waiter_stop(NULL);
    srv_waiter_free(w);
    srv_waiter_free(NULL);
}

OG_TEST_MAIN(OG_T(wakes_once_when_bytes_come), OG_T(wakes_on_the_end_and_on_a_shutdown),
             OG_T(a_removed_socket_never_wakes),
             OG_T(stop_wakes_every_watched_socket_and_refuses_more),
             OG_T(bad_arguments_are_refused))
