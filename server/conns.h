/*
 * conns.h - the daemon's connections: the cap, the request deadline, idle eviction.
 *
 * libmicrohttpd runs the connections; this table only watches them, from four places:
 *
 *   accept thread   srv_conns_wait_room() before accept(), srv_conns_add() after it, and
 *                   srv_conns_forget() when MHD_add_connection() refused the socket;
 *   worker threads  srv_conns_started() / srv_conns_closed() from libmicrohttpd's connection
 *                   notifications, and the request hooks srv_conn_request_begin(),
 *                   srv_conn_request_received() and srv_conn_request_done();
 *   watchdog        a thread that, every tick, shuts down a connection whose request is late.
 *
 * The cap. At most `max_conns` connections are in the table; srv_conns_wait_room() holds the
 * accept thread back while it is full, so further clients wait in the kernel's listen backlog
 * (and are refused by the kernel once that is full). While clients wait there, connections are
 * closed to make room, one per waiting client: idle keep-alive ones first (oldest idle first),
 * then stalled ones (no request's headers a second after accept: a TLS handshake or headers
 * trickling, a silent client; oldest first). With none of either, the clients wait for a
 * connection to end.
 *
 * The request deadline. From a request's first byte, its headers and its whole body must arrive
 * within `request_timeout_ms`, however slowly they trickle; for a new connection the clock
 * starts at accept, so it covers the TLS handshake too. Once the request is received (being
 * answered, or parked for the index) no deadline applies; an idle keep-alive connection is left
 * to libmicrohttpd's idle timeout. The next request's first bytes on an idle connection are seen
 * by the watchdog in the kernel's stamps (TCP_INFO: data received after the response was sent,
 * a clock tick of 1 to 10 ms apart), or at the latest when its headers are complete; bytes
 * that come in the tick of the response itself are seen with the next ones (conns.c). The
 * request path makes no system call for this.
 *
 * A late connection is cut with shutdown(2): libmicrohttpd then sees the end of the stream and
 * closes the connection on its own thread. That is safe because libmicrohttpd reports a close
 * (srv_conns_closed(), under the table's lock) before it closes the descriptor, so a descriptor
 * in the table is still the connection's. Only connections that libmicrohttpd reported started
 * are ever shut down.
 *
 * A connection libmicrohttpd drops without a notification (it cannot allocate the connection's
 * memory pool) is found out and removed: when accept() hands out its descriptor number again,
 * or when the watchdog sees its descriptor closed or holding another socket.
 */
#ifndef SRV_CONNS_H
#define SRV_CONNS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "ocigate/err.h"

/** The table. Opaque. */
struct srv_conns;

/** One connection's entry. Opaque; lent by srv_conns_started() until srv_conns_closed(). */
struct srv_conn;

/** Settings of a table. */
struct srv_conns_opts {
    unsigned max_conns;          /**< the cap, 1..65536 */
    uint64_t request_timeout_ms; /**< the request deadline, > 0 */
    /**
     * Watchdog period in milliseconds; 0 starts no watchdog thread (the caller then calls
     * srv_conns_tick() itself, as the unit tests do).
     */
    unsigned tick_ms;
};

/**
 * Makes a table and starts its watchdog. OG_EINVAL for settings out of range, OG_ENOMEM,
 * OG_EIO when the thread or the wakeup descriptor cannot be made; `*out` is then untouched.
 * The caller owns `*out` and ends it with srv_conns_free().
 */
OG_NODISCARD enum og_err srv_conns_new(const struct srv_conns_opts *opts, struct srv_conns **out);

/**
 * Stops the watchdog and frees the table. Call after libmicrohttpd has stopped (no
 * notification may come any more). NULL is a no-op.
 */
void srv_conns_free(struct srv_conns *c);

/**
 * Accept thread: returns true as soon as the table has room for one more connection. While it
 * is full, closes idle and stalled connections for clients waiting in `listen_fd`'s backlog, and
 * waits for connections to end. Returns false once `*stop` is set (check it after
 * srv_conns_wake()). Logs, at most every 10 s, that the cap was reached.
 */
bool srv_conns_wait_room(struct srv_conns *c, int listen_fd, const atomic_bool *stop);

/** Wakes srv_conns_wait_room() so that it looks at its stop flag. Thread-safe. */
void srv_conns_wake(struct srv_conns *c);

/**
 * Accept thread: enters the just accepted socket `fd` (call before handing it to
 * libmicrohttpd). Returns the entry's index for srv_conns_forget(), or -1 when the table is
 * full or out of memory: the caller then closes `fd` itself.
 */
int srv_conns_add(struct srv_conns *c, int fd);

/** Accept thread: removes entry `idx` of a socket that libmicrohttpd refused (and closed). */
void srv_conns_forget(struct srv_conns *c, int idx);

/**
 * Worker: libmicrohttpd started serving socket `fd` (MHD_CONNECTION_NOTIFY_STARTED). Returns
 * its entry, to be kept as the connection's socket context, or NULL for a socket that is not in
 * the table (the other functions accept NULL and do nothing).
 */
struct srv_conn *srv_conns_started(struct srv_conns *c, int fd);

/**
 * Worker: libmicrohttpd is about to close the connection of `conn`
 * (MHD_CONNECTION_NOTIFY_CLOSED); its entry is freed and `conn` must not be used any more.
 */
void srv_conns_closed(struct srv_conns *c, struct srv_conn *conn);

/**
 * Request hooks, called on the connection's worker without a lock. begin: the headers of a
 * request are complete (the deadline runs from accept on a new connection, else from the first
 * byte if it was seen, else from now; a new connection is no longer stalled).
 * received: the whole request has arrived (no deadline until the next request; reads no
 * clock). done: the request has ended and the connection is idle again, since `now`.
 * `now` is CLOCK_MONOTONIC read by the caller (saving a clock read per request): for begin,
 * just before it; for done, the request's last reading (when its answer was made: the order in
 * which idle connections are closed for room is all it decides), or NULL to read it here.
 */
void srv_conn_request_begin(struct srv_conn *conn, const struct timespec *now);
void srv_conn_request_received(struct srv_conn *conn);
void srv_conn_request_done(struct srv_conn *conn, const struct timespec *now);

/** Connections in the table. Thread-safe. */
unsigned srv_conns_count(struct srv_conns *c);

/**
 * One watchdog pass (the thread calls it every tick): cuts the late, notices first bytes on idle
 * connections (one getsockopt each), removes entries libmicrohttpd lost. Returns the connections
 * cut for the deadline. Thread-safe.
 */
unsigned srv_conns_tick(struct srv_conns *c);

/**
 * Closes up to `waiting` connections for clients waiting in the backlog (idle, then stalled; see
 * above), less those already being closed for earlier waiting clients; returns how many it closed
 * now. Thread-safe.
 */
unsigned srv_conns_make_room(struct srv_conns *c, unsigned waiting);

#endif
