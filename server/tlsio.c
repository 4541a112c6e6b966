#include "tlsio.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "sockopt.h"

/*
 * Receives land in one buffer per thread, not per connection: libmicrohttpd runs a connection's
 * whole life on one worker thread (its reads, its writes and NOTIFY_CLOSED; close_all_connections
 * too, at stop), and GnuTLS takes what one receive brought within the same gnutls_record_recv()
 * nearly always. The bytes not taken yet belong to their connection (`owner`); when another
 * connection of the thread needs the buffer first (libmicrohttpd stopped reading the owner, its
 * buffer full, with a pipelined request behind), the owner's bytes move to a heap block of its
 * own. A per-connection buffer allocated for each request cost a large malloc and a
 * malloc_consolidate() each time; one kept per connection, 16.5 KiB on every idle connection.
 */
struct scratch {
    struct srv_tlsio *owner;
    char buf[SRV_TLSIO_READ_AHEAD];
};

static _Thread_local struct scratch scratch;

/* The owner's bytes leave the thread's buffer for a block of their own; false without memory. */
static bool evict(void)
{
    struct srv_tlsio *o = scratch.owner;
    char *copy = malloc(o->in_len);

    if (copy == NULL)
        return false;
    memcpy(copy, o->in + o->in_off, o->in_len);
    o->in = copy;
    o->in_off = 0;
    o->in_heap = true;
    scratch.owner = NULL;
    return true;
}

/* Lets go of what `io` holds: its heap block, or its claim on the thread's buffer. */
static void release(struct srv_tlsio *io)
{
    if (io->in_heap)
        free(io->in);
    else if (io->in != NULL && scratch.owner == io)
        scratch.owner = NULL;
    io->in = NULL;
    io->in_len = 0;
    io->in_heap = false;
}

/* Gives GnuTLS up to `size` buffered bytes. */
static size_t take(struct srv_tlsio *io, void *data, size_t size)
{
    size_t n = size < io->in_len ? size : io->in_len;

    memcpy(data, io->in + io->in_off, n);
    io->in_off += n;
    io->in_len -= n;
    if (io->in_len == 0)
        release(io);
    return n;
}

/*
 * After a failed receive (errno set, and kept): an empty socket while the handshake waits for
 * the client is a handshake wait (tlsio.h).
 */
static void received_none(struct srv_tlsio *io)
{
    int saved = errno;

    if ((saved == EAGAIN || saved == EWOULDBLOCK) && !io->handshaken && io->wait != NULL)
        io->wait(io->wait_arg);
    errno = saved;
}

static ssize_t pull(gnutls_transport_ptr_t ptr, void *data, size_t size)
{
    struct srv_tlsio *io = ptr;
    ssize_t n;

    if (io->in_len > 0)
        return (ssize_t)take(io, data, size);
    /* A read as large as ours gains nothing from a copy; without memory, read what is asked. */
    if (size >= SRV_TLSIO_READ_AHEAD || (scratch.owner != NULL && !evict())) {
        n = recv(io->fd, data, size, 0);
        if (n < 0)
            received_none(io);
        return n;
    }
    n = recv(io->fd, scratch.buf, sizeof(scratch.buf), 0);
    if (n <= 0) {
        if (n < 0)
            received_none(io);
        return n;
    }
    scratch.owner = io;
    io->in = scratch.buf;
    io->in_off = 0;
    io->in_len = (size_t)n;
    io->in_heap = false;
    return (ssize_t)take(io, data, size);
}

/* GnuTLS's wait for data (used only with timeouts; libmicrohttpd's sessions are non-blocking). */
static int pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
    struct srv_tlsio *io = ptr;
    struct pollfd p = {.fd = io->fd, .events = POLLIN};

    if (io->in != NULL)
        return 1;
    return poll(&p, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
}

/* The most pieces one write takes: GnuTLS's queued records (a handshake flight). */
#define IOV_MAX_OURS 32

/*
 * GnuTLS's writes: one call per record of application data, and one for each flight of the
 * handshake (all its records, so that they leave in one write and Nagle's algorithm does not
 * hold the second back for the client's delayed ACK). A partial write is allowed: GnuTLS keeps
 * the rest and offers it again.
 */
static ssize_t vec_push(gnutls_transport_ptr_t ptr, const giovec_t *pieces, int cnt)
{
    struct srv_tlsio *io = ptr;
    struct iovec iov[IOV_MAX_OURS];
    struct msghdr msg = {.msg_iov = iov};
    size_t n_iov = 0;

    /* More pieces than fit are sent by the next call. */
    for (int i = 0; i < cnt && n_iov < IOV_MAX_OURS; i++)
        iov[n_iov++] = (struct iovec){pieces[i].iov_base, pieces[i].iov_len};
    msg.msg_iovlen = n_iov;
    return sendmsg(io->fd, &msg, MSG_NOSIGNAL);
}

/*
 * The handshake hook: the client's Finished, the last message a server reads in every
 * handshake (TLS 1.2 full or resumed, TLS 1.3 with or without a HelloRetryRequest), has been
 * processed. Whatever the server still sends (its Finished in TLS 1.2, TLS 1.3 session tickets)
 * waits for no read.
 */
static int on_handshake_msg(gnutls_session_t session, unsigned int htype, unsigned when,
                            unsigned int incoming, const gnutls_datum_t *msg)
{
    struct srv_tlsio *io = gnutls_transport_get_ptr(session);

    (void)when;
    (void)msg;
    if (htype == GNUTLS_HANDSHAKE_FINISHED && incoming && io != NULL)
        io->handshaken = true;
    return 0;
}

void srv_tlsio_attach(struct srv_tlsio *io, gnutls_session_t session, int fd,
                      srv_tlsio_wait_fn wait, void *wait_arg)
{
    memset(io, 0, sizeof(*io));
    io->session = session;
    io->fd = fd;
    io->wait = wait;
    io->wait_arg = wait_arg;
    gnutls_handshake_set_hook_function(session, GNUTLS_HANDSHAKE_FINISHED, GNUTLS_HOOK_POST,
                                       on_handshake_msg);
    gnutls_transport_set_ptr(session, io);
    gnutls_transport_set_pull_function(session, pull);
    gnutls_transport_set_pull_timeout_function(session, pull_timeout);
    gnutls_transport_set_vec_push_function(session, vec_push);
    srv_sockopt_track(fd);
}

void srv_tlsio_cork(struct srv_tlsio *io)
{
    gnutls_record_cork(io->session);
    io->corked = true;
}

bool srv_tlsio_uncork(struct srv_tlsio *io)
{
    static const int off = 0;

    if (!io->corked)
        return true;
    io->corked = false;
    if (!io->tcp_uncorked) {
        /* libmicrohttpd's TCP_CORK would hold the record that follows its push (tlsio.h). */
        (void)setsockopt(io->fd, IPPROTO_TCP, TCP_CORK, &off, sizeof(off));
        io->tcp_uncorked = true;
    }
    return gnutls_record_uncork(io->session, 0) >= 0 &&
           gnutls_record_check_corked(io->session) == 0;
}

void srv_tlsio_cleanup(struct srv_tlsio *io)
{
    release(io);
    io->corked = false;
    srv_sockopt_untrack(io->fd);
}
