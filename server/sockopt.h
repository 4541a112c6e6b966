/*
 * sockopt.h - setsockopt(2) for the whole process, without libmicrohttpd's redundant pushes.
 *
 * libmicrohttpd 0.9.75 corks a TLS connection's socket (TCP_CORK) for its first response and,
 * believing it corked from then on, pushes every response with setsockopt(TCP_NODELAY, 1)
 * (mhd_send.c post_send_setopt()): one system call per keep-alive request, about 3 % of the
 * server's CPU under load, that changes nothing once the socket has TCP_NODELAY and no cork
 * (tlsio.h turns TCP_CORK off after the first response). Linux pushes held data when
 * TCP_NODELAY is set, even to its current value, so the call matters only while the socket is
 * corked or its state is unknown.
 *
 * This file defines setsockopt() in the executable, which the dynamic linker binds before libc's
 * for every library (libmicrohttpd's calls included). On a socket registered with
 * srv_sockopt_track(), it records what TCP_NODELAY and TCP_CORK were set to, and a
 * TCP_NODELAY = 1 on a socket known to have TCP_NODELAY on and TCP_CORK off returns 0 without
 * a system call; every other call (other sockets, other options, any other value) goes to
 * libc's setsockopt() as it is. Registration ends before the descriptor is closed
 * (srv_sockopt_untrack()), so a descriptor number reused by another socket (libcurl's, say)
 * starts unknown.
 */
#ifndef SRV_SOCKOPT_H
#define SRV_SOCKOPT_H

#include <stdbool.h>

/* Descriptors below this are tracked; a larger one is always passed through (only slower). */
#define SRV_SOCKOPT_FDS 65536

/** Starts tracking the TCP socket `fd`, of unknown TCP_NODELAY and TCP_CORK state. */
void srv_sockopt_track(int fd);

/** Stops tracking `fd`: call before it is closed. */
void srv_sockopt_untrack(int fd);

/** Whether a TCP_NODELAY = 1 on `fd` would return without a system call (for tests). */
bool srv_sockopt_push_known(int fd);

#endif
