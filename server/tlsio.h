/*
 * tlsio.h - the transport under each TLS session: reads ahead, and writes a response whole.
 *
 * libmicrohttpd 0.9.75 gives GnuTLS the bare socket, and GnuTLS reads a record in two
 * recv(2)s (its 5-byte header, then the rest) while libmicrohttpd sends a response in two
 * records, each with its own sendmsg(2): the header's, then the body's. One keep-alive
 * admission took four socket calls where one read and one write do. The functions installed
 * here on each session (gnutls_transport_set_pull_function and _vec_push_function) make it one of
 * each:
 *
 * - Reads. A pull with nothing buffered receives up to SRV_TLSIO_READ_AHEAD bytes and serves
 *   GnuTLS's reads from them. Bytes held here must never be waited for: libmicrohttpd's epoll
 *   mode (which httpd.c runs) keeps a TLS connection read-ready until gnutls_record_recv()
 *   reports GNUTLS_E_AGAIN (connection_https.c recv_tls_adapter()), and a pull reports EAGAIN
 *   only with its buffer empty and the socket drained. (libmicrohttpd's select and poll modes
 *   ask gnutls_record_check_pending() instead, which cannot see these bytes: this transport is
 *   not for them.) Receives land in a buffer of the worker thread's (tlsio.c), so a
 *   connection holds no buffer of its own unless another one needs its thread's first.
 *
 * - Writes. A response is one record: srv_tlsio_cork(), called just before a response is queued,
 *   corks the session (gnutls_record_cork()), so that libmicrohttpd's two sends, the header's
 *   and then at once the body's (MHD_send_hdr_and_body_() on a non-blocking socket), are only
 *   gathered; srv_tlsio_uncork(), when the request completes (libmicrohttpd has "sent" both,
 *   in the same pass of its loop), makes them one record and sends it with one sendmsg(2).
 *   libmicrohttpd corks the TCP socket before a connection's first response and from then on
 *   pushes each one with TCP_NODELAY, which comes before our write: the first uncork turns
 *   TCP_CORK off for good (libmicrohttpd, which believes it on, never sets it again), so that
 *   the write leaves at once, and its pushes from then on cost no system call (sockopt.h).
 *   A response whose record the socket does not take whole at once (a client that sends
 *   requests without reading the answers: httpd.c corks only answers of up to 4 KiB, and a
 *   client that reads keeps the socket's buffer empty) is not kept for later, as nothing would
 *   send it: srv_tlsio_uncork() returns false and the connection is cut. GnuTLS hands a
 *   handshake flight over whole (a vector push), so its records leave in one write too: sent
 *   one by one, the second waited for the client's delayed ACK (Nagle's algorithm), some 40 ms
 *   per handshake.
 *
 * - Handshake waits. libmicrohttpd 0.9.75 clears a TLS connection's read-ready mark only in
 *   recv_tls_adapter() (above), which runs once the handshake is done: while gnutls_handshake()
 *   waits for the client's next flight, MHD_run_tls_handshake_() takes its GNUTLS_E_AGAIN and
 *   clears nothing, so the connection stays in the epoll loop's ready list and the worker calls
 *   the handshake again and again with a zero epoll timeout (recvfrom EAGAIN, epoll_wait 0, ...)
 *   until the client goes on: a client that sends its ClientHello and stops held a core at 100 %
 *   until its deadline. So a pull that finds the socket empty while the handshake still waits
 *   for the client (the client's Finished not yet processed: a GnuTLS handshake hook tells) calls
 *   the `wait` function given to srv_tlsio_attach() before it returns EAGAIN; httpd.c suspends
 *   the connection there and hands its socket to a waiter (waiter.h) that resumes it when bytes
 *   come. After the handshake the pull never calls it: an idle keep-alive connection is left
 *   to libmicrohttpd, which handles it well.
 *
 * All calls for one connection come from the thread that processes it (libmicrohttpd's
 * worker), so nothing here is locked.
 */
#ifndef SRV_TLSIO_H
#define SRV_TLSIO_H

#include <stdbool.h>
#include <stddef.h>

#include <gnutls/gnutls.h>

/* One receive's size: a whole TLS record (16 KiB of data and its header and expansion). */
#define SRV_TLSIO_READ_AHEAD (16 * 1024 + 512)

/**
 * Called by the pull, on the connection's worker inside gnutls_handshake(), when the handshake
 * must wait for the client (see above); the pull then returns EAGAIN (errno is kept).
 */
typedef void (*srv_tlsio_wait_fn)(void *arg);

struct srv_tlsio {
    gnutls_session_t session;
    int fd;
    bool handshaken;        /* the client's Finished is processed: no more handshake waits */
    srv_tlsio_wait_fn wait; /* see above, or NULL */
    void *wait_arg;
    char *in;      /* received bytes GnuTLS has not read yet, or NULL when there are none */
    size_t in_off; /* ... from in + in_off, in_len of them, */
    size_t in_len;
    bool in_heap;      /* in a block of the connection's own (else in its thread's buffer) */
    bool corked;       /* srv_tlsio_cork() gathers a response */
    bool tcp_uncorked; /* TCP_CORK was turned off (above) */
};

/**
 * Installs the transport on `session`, whose socket is `fd`, and a handshake hook (the session's
 * only one), and tracks the socket's options (sockopt.h); `io` must outlive the session's last use
 * (libmicrohttpd's gnutls_deinit()). Call before the handshake. `wait(wait_arg)` is called for each
 * handshake wait (above); NULL: none.
 */
void srv_tlsio_attach(struct srv_tlsio *io, gnutls_session_t session, int fd,
                      srv_tlsio_wait_fn wait, void *wait_arg);

/** Gathers what is sent from now on until srv_tlsio_uncork(): call just before a response. */
void srv_tlsio_cork(struct srv_tlsio *io);

/**
 * After a response: sends what was gathered since srv_tlsio_cork() as one record, with one write.
 * Returns false when the socket did not take all of it; the connection must then be cut (the
 * rest stays in the session, where nothing would send it). True when nothing was gathered.
 */
bool srv_tlsio_uncork(struct srv_tlsio *io);

/**
 * Frees what `io` holds and ends its socket's tracking (sockopt.h); the session must be gone and
 * the socket not yet closed. On the connection's worker thread.
 */
void srv_tlsio_cleanup(struct srv_tlsio *io);

#endif
