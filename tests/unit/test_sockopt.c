#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sockopt.h"
#include "tlsio.h"

/*
 * The interposed setsockopt() (sockopt.h) on a real loopback TCP connection. Whether a call
 * reached the kernel shows by changing the option behind its back with the raw system call
 * first: a call that was made puts the value back, a skipped one leaves it.
 */

struct pair {
    int listener, client, server;
};

static struct pair connect_pair(void)
{
    struct pair p;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);

    p.listener = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(p.listener >= 0);
    ASSERT_EQ(bind(p.listener, (struct sockaddr *)&a, sizeof(a)), 0);
    ASSERT_EQ(listen(p.listener, 1), 0);
    ASSERT_EQ(getsockname(p.listener, (struct sockaddr *)&a, &len), 0);
    p.client = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(p.client >= 0);
    ASSERT_EQ(connect(p.client, (struct sockaddr *)&a, sizeof(a)), 0);
    p.server = accept(p.listener, NULL, NULL);
    ASSERT(p.server >= 0);
    return p;
}

static void close_pair(struct pair *p)
{
    srv_sockopt_untrack(p->server);
    close(p->server);
    close(p->client);
    close(p->listener);
}

static int get(int fd, int name)
{
    int v = -1;
    socklen_t len = sizeof(v);

    ASSERT_EQ(getsockopt(fd, IPPROTO_TCP, name, &v, &len), 0);
    return v;
}

/* Sets the option without the interposer. */
static void set_raw(int fd, int name, int v)
{
    ASSERT_EQ(syscall(SYS_setsockopt, fd, IPPROTO_TCP, name, &v, (socklen_t)sizeof(v)), 0);
}

static int set(int fd, int name, int v)
{
    return setsockopt(fd, IPPROTO_TCP, name, &v, sizeof(v));
}

/* Whether setsockopt(name, v) reached the kernel: the raw value was !v before it. */
static bool made(int fd, int name, int v)
{
    set_raw(fd, name, !v);
    ASSERT_EQ(set(fd, name, v), 0);
    return get(fd, name) == v;
}

/* A tracked connection whose server side has TCP_NODELAY on and TCP_CORK off, as recorded. */
static struct pair known_pair(void)
{
    struct pair p = connect_pair();

    srv_sockopt_track(p.server);
    ASSERT_EQ(set(p.server, TCP_NODELAY, 1), 0);
    ASSERT_EQ(set(p.server, TCP_CORK, 0), 0);
    ASSERT(srv_sockopt_push_known(p.server));
    return p;
}

OG_TEST(an_untracked_socket_gets_every_call)
{
    struct pair p = connect_pair();

    ASSERT_EQ(set(p.server, TCP_NODELAY, 1), 0);
    ASSERT_EQ(set(p.server, TCP_CORK, 0), 0);
    ASSERT(!srv_sockopt_push_known(p.server));
    ASSERT(made(p.server, TCP_NODELAY, 1));
    ASSERT(made(p.server, TCP_NODELAY, 1));
    close_pair(&p);
}

OG_TEST(a_redundant_push_is_skipped_once_nodelay_is_on_and_cork_off)
{
    struct pair p = connect_pair();

    srv_sockopt_track(p.server);
    /* libmicrohttpd's order: cork, push, then tlsio's uncork. */
    ASSERT_EQ(set(p.server, TCP_CORK, 1), 0);
    ASSERT_EQ(get(p.server, TCP_CORK), 1);
    ASSERT(made(p.server, TCP_NODELAY, 1)); /* corked: the push is needed */
    ASSERT(!srv_sockopt_push_known(p.server));
    ASSERT_EQ(set(p.server, TCP_CORK, 0), 0);
    ASSERT_EQ(get(p.server, TCP_CORK), 0);
    ASSERT(srv_sockopt_push_known(p.server));
    ASSERT(!made(p.server, TCP_NODELAY, 1)); /* skipped: nothing to push or change */
    set_raw(p.server, TCP_NODELAY, 1);
    ASSERT(!made(p.server, TCP_NODELAY, 1));
    close_pair(&p);
}

OG_TEST(a_cork_or_nodelay_off_brings_the_calls_back)
{
    struct pair p = known_pair();

    /* Corked again: a push must reach the kernel. */
    ASSERT_EQ(set(p.server, TCP_CORK, 1), 0);
    ASSERT(made(p.server, TCP_NODELAY, 1));
    ASSERT_EQ(set(p.server, TCP_CORK, 0), 0);
    ASSERT(srv_sockopt_push_known(p.server));
    /* TCP_NODELAY turned off: calls go through both ways. */
    ASSERT(made(p.server, TCP_NODELAY, 0));
    ASSERT(!srv_sockopt_push_known(p.server));
    ASSERT(made(p.server, TCP_NODELAY, 1));
    ASSERT(srv_sockopt_push_known(p.server));
    close_pair(&p);
}

OG_TEST(a_failed_call_changes_nothing)
{
    struct pair p = connect_pair();
    int v = 1;

    srv_sockopt_track(p.server);
    ASSERT_EQ(set(p.server, TCP_NODELAY, 1), 0);
    /* A short value fails in the kernel (EINVAL) and is not recorded as turning the cork off. */
    ASSERT_EQ(setsockopt(p.server, IPPROTO_TCP, TCP_CORK, &v, 1), -1);
    ASSERT_EQ(errno, EINVAL);
    ASSERT(!srv_sockopt_push_known(p.server));
    ASSERT(made(p.server, TCP_NODELAY, 1));
    /* Not a TCP socket (EOPNOTSUPP): nothing recorded either. */
    {
        int u[2];

        ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, u), 0);
        srv_sockopt_track(u[0]);
        ASSERT_EQ(set(u[0], TCP_NODELAY, 1), -1);
        ASSERT_EQ(set(u[0], TCP_CORK, 0), -1);
        ASSERT(!srv_sockopt_push_known(u[0]));
        srv_sockopt_untrack(u[0]);
        close(u[0]);
        close(u[1]);
    }
    /* A closed descriptor: the error comes back as from libc. */
    srv_sockopt_untrack(p.server);
    close(p.server);
    srv_sockopt_track(p.server);
    ASSERT_EQ(set(p.server, TCP_CORK, 0), -1);
    ASSERT_EQ(errno, EBADF);
    ASSERT(!srv_sockopt_push_known(p.server));
    srv_sockopt_untrack(p.server);
    close(p.client);
    close(p.listener);
}

OG_TEST(untracking_forgets_the_state)
{
    struct pair p = known_pair();

    srv_sockopt_untrack(p.server);
    ASSERT(!srv_sockopt_push_known(p.server));
    ASSERT(made(p.server, TCP_NODELAY, 1));
    /* Tracked again (a new connection on the same number): unknown until set. */
    srv_sockopt_track(p.server);
    ASSERT(!srv_sockopt_push_known(p.server));
    ASSERT(made(p.server, TCP_NODELAY, 1));
    close_pair(&p);
}

OG_TEST(other_options_and_levels_pass)
{
    struct pair p = known_pair();
    int v = 1;

    ASSERT_EQ(setsockopt(p.server, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof(v)), 0);
    ASSERT_EQ(set(p.server, TCP_KEEPIDLE, 30), 0);
    ASSERT_EQ(get(p.server, TCP_KEEPIDLE), 30);
    ASSERT(srv_sockopt_push_known(p.server));
    /* Out of the table: passed through, never skipped. */
    ASSERT(!srv_sockopt_push_known(SRV_SOCKOPT_FDS));
    srv_sockopt_track(-1);
    srv_sockopt_track(SRV_SOCKOPT_FDS);
    ASSERT(!srv_sockopt_push_known(-1));
    close_pair(&p);
}

OG_TEST(tlsio_tracks_its_socket_for_its_life)
{
    struct pair p = connect_pair();
    gnutls_session_t session;
    struct srv_tlsio io;

    ASSERT_EQ(gnutls_init(&session, GNUTLS_SERVER), 0);
    srv_tlsio_attach(&io, session, p.server, NULL, NULL);
    ASSERT_EQ(set(p.server, TCP_NODELAY, 1), 0);
    ASSERT_EQ(set(p.server, TCP_CORK, 0), 0);
    ASSERT(srv_sockopt_push_known(p.server));
    gnutls_deinit(session);
    srv_tlsio_cleanup(&io);
    /* Before the close: the number may go to another socket (libcurl's) next. */
    ASSERT(!srv_sockopt_push_known(p.server));
    ASSERT(made(p.server, TCP_NODELAY, 1));
    close_pair(&p);
}

OG_TEST_MAIN(OG_T(an_untracked_socket_gets_every_call),
             OG_T(a_redundant_push_is_skipped_once_nodelay_is_on_and_cork_off),
             OG_T(a_cork_or_nodelay_off_brings_the_calls_back), OG_T(a_failed_call_changes_nothing),
             OG_T(untracking_forgets_the_state), OG_T(other_options_and_levels_pass),
             OG_T(tlsio_tracks_its_socket_for_its_life))
