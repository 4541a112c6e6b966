#include "sockopt.h"

#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A tracked descriptor's state: what the last successful calls set (sockopt.h). */
enum {
    TRACKED = 1u << 0,
    NODELAY_ON = 1u << 1, /* TCP_NODELAY was set to 1 */
    CORK_OFF = 1u << 2,   /* TCP_CORK was set to 0 */
};

/*
 * One byte per descriptor. A descriptor's entry changes only on the thread that uses the socket
 * (libmicrohttpd's worker); other threads read their own sockets' entries, which are 0.
 */
static _Atomic unsigned char state[SRV_SOCKOPT_FDS];

static bool in_table(int fd)
{
    return fd >= 0 && fd < SRV_SOCKOPT_FDS;
}

void srv_sockopt_track(int fd)
{
    if (in_table(fd))
        atomic_store_explicit(&state[fd], TRACKED, memory_order_relaxed);
}

void srv_sockopt_untrack(int fd)
{
    /* Release: the descriptor's close, and its reuse by another thread, come after. */
    if (in_table(fd))
        atomic_store_explicit(&state[fd], 0, memory_order_release);
}

static unsigned state_of(int fd)
{
    return in_table(fd) ? atomic_load_explicit(&state[fd], memory_order_acquire) : 0;
}

bool srv_sockopt_push_known(int fd)
{
    return state_of(fd) == (TRACKED | NODELAY_ON | CORK_OFF);
}

typedef int (*setsockopt_fn)(int, int, int, const void *, socklen_t);

static int raw_setsockopt(int fd, int level, int name, const void *value, socklen_t len)
{
    return (int)syscall(SYS_setsockopt, fd, level, name, value, len);
}

/*
 * The next setsockopt() after this one: libc's, which may do more than the system call (32-bit
 * builds convert SO_RCVTIMEO to the kernel's layout). Found once; racing first calls find the
 * same one.
 */
static setsockopt_fn next_setsockopt(void)
{
    static _Atomic(setsockopt_fn) next;
    setsockopt_fn f = atomic_load_explicit(&next, memory_order_relaxed);

    if (f == NULL) {
        void *sym = dlsym(RTLD_NEXT, "setsockopt");

        f = raw_setsockopt;
        if (sym != NULL)
            memcpy(&f, &sym, sizeof(f)); /* POSIX: a function's address, as dlsym() gives it */
        atomic_store_explicit(&next, f, memory_order_relaxed);
    }
    return f;
}

int setsockopt(int fd, int level, int name, const void *value, socklen_t len)
{
    unsigned s = state_of(fd);
    int on, rc;

    if (!(s & TRACKED) || level != IPPROTO_TCP || (name != TCP_NODELAY && name != TCP_CORK) ||
        value == NULL || len != sizeof(int))
        return next_setsockopt()(fd, level, name, value, len);
    on = *(const int *)value != 0;
    if (name == TCP_NODELAY && on && s == (TRACKED | NODELAY_ON | CORK_OFF))
        return 0; /* nothing held to push, nothing to change */
    rc = next_setsockopt()(fd, level, name, value, len);
    if (rc == 0) {
        if (name == TCP_NODELAY)
            s = on ? s | NODELAY_ON : s & ~(unsigned)NODELAY_ON;
        else
            s = on ? s & ~(unsigned)CORK_OFF : s | CORK_OFF;
        atomic_store_explicit(&state[fd], (unsigned char)s, memory_order_relaxed);
    }
    return rc;
}
