/*
 * waiter.h - wakes a parked socket's owner once the socket has something to read.
 *
 * httpd.c parks a TLS connection whose handshake waits for the client (tlsio.h says why): the
 * connection is suspended in libmicrohttpd, which then no longer watches its socket, and the
 * socket is handed to this waiter. One thread waits on one epoll set for all of them; when a
 * socket becomes readable, reaches its end or fails (a shutdown(2) by the connection watchdog,
 * conns.h, is all three), the waiter forgets the socket and calls the wake function with the
 * argument it was added with, on the waiter's thread. Each add is for one wake: after the call
 * the waiter holds nothing of the socket.
 *
 * Sockets are known by descriptor number; an entry also carries a generation, so that an event
 * of a descriptor removed and reused since is told from one of the new socket's.
 *
 * Thread safety: every function may be called from any thread, and the wake function runs with
 * no lock of the waiter held (it may call srv_waiter_add() again).
 */
#ifndef SRV_WAITER_H
#define SRV_WAITER_H

#include <stdbool.h>

#include "ocigate/err.h"

/** The waiter. Opaque. */
struct srv_waiter;

/** What the waiter calls, on its thread, for a socket that became readable. */
typedef void (*srv_waiter_fn)(void *arg);

/**
 * Makes a waiter whose thread calls `wake` for each socket that becomes readable. OG_ENOMEM,
 * or OG_EIO when the epoll set, its wakeup descriptor or the thread cannot be made; `*out` is
 * then untouched. The caller owns `*out`: srv_waiter_stop(), then srv_waiter_free().
 */
OG_NODISCARD enum og_err srv_waiter_new(srv_waiter_fn wake, struct srv_waiter **out);

/**
 * Watches socket `fd` (not watched yet) for one wake: `wake(arg)` is called once, on the
 * waiter's thread, when it is readable, at its end or in error, or by srv_waiter_stop().
 * Returns false when the waiter is stopped or out of memory, or epoll refuses the socket:
 * nothing is watched and `wake` is not called, so the caller must not wait for it.
 */
bool srv_waiter_add(struct srv_waiter *w, int fd, void *arg);

/**
 * Forgets `fd` if it is watched: no wake comes for it afterwards. Call before the socket is
 * closed when it may still be watched (its descriptor number could be reused). Returns whether
 * it was watched.
 */
bool srv_waiter_remove(struct srv_waiter *w, int fd);

/**
 * Stops the thread, then calls `wake` for every socket still watched, on the caller's thread,
 * before returning; srv_waiter_add() fails from then on. Idempotent. NULL is a no-op.
 */
void srv_waiter_stop(struct srv_waiter *w);

/** Frees a stopped waiter. NULL is a no-op. */
void srv_waiter_free(struct srv_waiter *w);

#endif
