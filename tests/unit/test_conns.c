#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conns.h"

/*
 * The table is driven the way httpd.c drives it, over real loopback TCP sockets: the "server"
 * end of each pair is what accept() handed out, the "client" end shows whether the table shut
 * the connection down. The watchdog is run by hand (tick_ms 0) so that the tests do not race it.
 */

struct pair {
    int client;
    int server;
};

static int listener(void)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 16) != 0)
        return -1;
    return fd;
}

/* Connects a client to `lfd`; accepts it unless `accept_it` is false (then server is -1). */
static struct pair connect_pair(int lfd, bool accept_it)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    struct pair p = {-1, -1};

    if (getsockname(lfd, (struct sockaddr *)&sa, &len) != 0)
        return p;
    p.client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (p.client < 0 || connect(p.client, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        return p;
    if (accept_it)
        p.server = accept(lfd, NULL, NULL);
    return p;
}

static void close_pair(struct pair *p)
{
    if (p->client >= 0)
        close(p->client);
    if (p->server >= 0)
        close(p->server);
    p->client = p->server = -1;
}

/* 1: the server end was shut down (the client reads EOF); 0: still open; -1: error. */
static int was_cut(const struct pair *p)
{
    char c;
    ssize_t n = recv(p->client, &c, 1, MSG_DONTWAIT);

    if (n == 0)
        return 1;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    return -1;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static struct srv_conns *table(unsigned max, uint64_t timeout_ms)
{
    struct srv_conns_opts o = {max, timeout_ms, 0};
    struct srv_conns *c = NULL;

    if (srv_conns_new(&o, &c) != OG_OK)
        return NULL;
    return c;
}

/* Connects, accepts, enters and starts a connection in `c`: its entry, or NULL. */
static struct srv_conn *open_started(struct srv_conns *c, int lfd, struct pair *p)
{
    *p = connect_pair(lfd, true);
    if (p->server < 0 || srv_conns_add(c, p->server) < 0)
        return NULL;
    return srv_conns_started(c, p->server);
}

OG_TEST(rejects_bad_settings)
{
    struct srv_conns_opts o = {0, 1000, 0};
    struct srv_conns *c = NULL;

    ASSERT_EQ(srv_conns_new(&o, &c), OG_EINVAL);
    o.max_conns = 65537;
    ASSERT_EQ(srv_conns_new(&o, &c), OG_EINVAL);
    o.max_conns = 1;
    o.request_timeout_ms = 0;
    ASSERT_EQ(srv_conns_new(&o, &c), OG_EINVAL);
    ASSERT(c == NULL);
    o.request_timeout_ms = 1;
    o.tick_ms = 10; /* with a watchdog thread: starts and stops */
    ASSERT_EQ(srv_conns_new(&o, &c), OG_OK);
    sleep_ms(30);
    srv_conns_free(c);
    srv_conns_free(NULL);
}

OG_TEST(counts_up_to_the_cap)
{
    int lfd = listener();
    struct srv_conns *c = table(2, 1000);
    struct pair a = connect_pair(lfd, true), b = connect_pair(lfd, true),
                d = connect_pair(lfd, true);
    int ia, ib;
    struct srv_conn *ca;

    ASSERT(c != NULL && a.server >= 0 && b.server >= 0 && d.server >= 0);
    ia = srv_conns_add(c, a.server);
    ib = srv_conns_add(c, b.server);
    ASSERT(ia >= 0 && ib >= 0 && ia != ib);
    ASSERT_EQ(srv_conns_add(c, d.server), -1);
    ASSERT_EQ(srv_conns_count(c), 2);
    /* Refused by libmicrohttpd: the entry goes. */
    srv_conns_forget(c, ib);
    ASSERT_EQ(srv_conns_count(c), 1);
    ca = srv_conns_started(c, a.server);
    ASSERT(ca != NULL);
    ASSERT(srv_conns_started(c, a.server) == NULL); /* one start per socket */
    ASSERT(srv_conns_started(c, b.server) == NULL); /* not in the table */
    srv_conns_forget(c, ia);                        /* started: forget does nothing */
    ASSERT_EQ(srv_conns_count(c), 1);
    srv_conns_closed(c, ca);
    srv_conns_closed(c, NULL);
    ASSERT_EQ(srv_conns_count(c), 0);
    srv_conn_request_begin(NULL, NULL);
    srv_conn_request_received(NULL);
    srv_conn_request_done(NULL, NULL);
    srv_conns_free(c);
    close_pair(&a);
    close_pair(&b);
    close_pair(&d);
    close(lfd);
}

OG_TEST(lost_entry_dropped_when_its_number_comes_back)
{
    int lfd = listener();
    struct srv_conns *c = table(1, 1000);
    struct pair a = connect_pair(lfd, true), b = connect_pair(lfd, true);
    int num;

    ASSERT(c != NULL && a.server >= 0 && b.server >= 0);
    num = a.server;
    ASSERT(srv_conns_add(c, num) >= 0);
    /*
     * libmicrohttpd closes the socket without a notification; accept() then hands out the same
     * number for another client. The table is full, yet the new socket gets in.
     */
    ASSERT_EQ(dup2(b.server, num), num);
    close(b.server);
    b.server = -1;
    a.server = num;
    ASSERT(srv_conns_add(c, num) >= 0);
    ASSERT_EQ(srv_conns_count(c), 1);
    srv_conns_free(c);
    close_pair(&a);
    close_pair(&b);
    close(lfd);
}

OG_TEST(lost_entry_found_by_the_watchdog)
{
    int lfd = listener();
    struct srv_conns *c = table(4, 60000);
    struct pair a = connect_pair(lfd, true), b = connect_pair(lfd, true);

    ASSERT(c != NULL && a.server >= 0 && b.server >= 0);
    ASSERT(srv_conns_add(c, a.server) >= 0);
    ASSERT(srv_conns_add(c, b.server) >= 0);
    close(a.server); /* lost: closed without a notification */
    a.server = -1;
    ASSERT_EQ(srv_conns_tick(c), 0);
    ASSERT_EQ(srv_conns_count(c), 2); /* checked only after a while */
    sleep_ms(1100);
    ASSERT_EQ(srv_conns_tick(c), 0);
    ASSERT_EQ(srv_conns_count(c), 1); /* b, still its socket, stays */
    srv_conns_free(c);
    close_pair(&a);
    close_pair(&b);
    close(lfd);
}

OG_TEST(deadline_cuts_started_connections_only)
{
    int lfd = listener();
    struct srv_conns *c = table(4, 200);
    struct pair a = connect_pair(lfd, true), b = connect_pair(lfd, true);

    ASSERT(c != NULL && a.server >= 0 && b.server >= 0);
    ASSERT(srv_conns_add(c, a.server) >= 0);
    ASSERT(srv_conns_add(c, b.server) >= 0);
    ASSERT(srv_conns_started(c, a.server) != NULL);
    ASSERT_EQ(srv_conns_tick(c), 0);
    ASSERT_EQ(was_cut(&a), 0);
    sleep_ms(300);
    /* b never started: its descriptor might not be its own any more; it is never shut down. */
    ASSERT_EQ(srv_conns_tick(c), 1);
    ASSERT_EQ(was_cut(&a), 1);
    ASSERT_EQ(was_cut(&b), 0);
    ASSERT_EQ(srv_conns_tick(c), 0); /* once */
    srv_conns_free(c);
    close_pair(&a);
    close_pair(&b);
    close(lfd);
}

OG_TEST(no_deadline_once_received_or_idle)
{
    int lfd = listener();
    struct srv_conns *c = table(4, 200);
    struct pair a;
    struct srv_conn *ca;

    ASSERT(c != NULL);
    ca = open_started(c, lfd, &a);
    ASSERT(ca != NULL);
    srv_conn_request_begin(ca, NULL);
    srv_conn_request_received(ca); /* answered, or parked for the index */
    sleep_ms(300);
    ASSERT_EQ(srv_conns_tick(c), 0);
    srv_conn_request_done(ca, NULL); /* idle keep-alive */
    sleep_ms(300);
    ASSERT_EQ(srv_conns_tick(c), 0);
    ASSERT_EQ(was_cut(&a), 0);
    /* The next request's first byte starts the clock, seen in the kernel's counter. */
    ASSERT_EQ(send(a.client, "G", 1, 0), 1);
    sleep_ms(20);
    ASSERT_EQ(srv_conns_tick(c), 0);
    sleep_ms(100);
    ASSERT_EQ(srv_conns_tick(c), 0);
    sleep_ms(200);
    ASSERT_EQ(srv_conns_tick(c), 1);
    ASSERT_EQ(was_cut(&a), 1);
    srv_conns_free(c);
    close_pair(&a);
    close(lfd);
}

/* The server's response on pair `p`, read by the client. */
static bool respond(const struct pair *p)
{
    char buf[8];

    return send(p->server, "200", 3, 0) == 3 && recv(p->client, buf, sizeof(buf), 0) == 3;
}

OG_TEST(data_after_the_response_starts_the_clock)
{
    int lfd = listener();
    struct srv_conns *c = table(4, 200);
    struct pair a;
    struct srv_conn *ca;
    char buf[8];

    ASSERT(c != NULL);
    ca = open_started(c, lfd, &a);
    ASSERT(ca != NULL);
    /* A request answered at once: its bytes and the response share a tick of the kernel's clock. */
    ASSERT_EQ(send(a.client, "GET", 3, 0), 3);
    ASSERT_EQ(recv(a.server, buf, sizeof(buf), 0), 3);
    srv_conn_request_begin(ca, NULL);
    srv_conn_request_received(ca);
    ASSERT(respond(&a));
    srv_conn_request_done(ca, NULL);
    sleep_ms(100);
    ASSERT_EQ(srv_conns_tick(c), 0); /* the request's own bytes are no new request... */
    sleep_ms(250);
    ASSERT_EQ(srv_conns_tick(c), 0); /* ... so no deadline runs */
    ASSERT_EQ(was_cut(&a), 0);
    /* The next request's first bytes, ticks after the response, and then nothing. */
    ASSERT_EQ(send(a.client, "GE", 2, 0), 2);
    sleep_ms(30);
    ASSERT_EQ(srv_conns_tick(c), 0);
    sleep_ms(250);
    ASSERT_EQ(srv_conns_tick(c), 1);
    ASSERT_EQ(was_cut(&a), 1);
    srv_conns_free(c);
    close_pair(&a);
    close(lfd);
}

/* Bytes in the send queue of `fd` that the kernel has not sent yet. */
static unsigned notsent(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);

    memset(&ti, 0, sizeof(ti));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
        return 0;
    return ti.tcpi_notsent_bytes;
}

OG_TEST(a_response_still_held_by_the_kernel_is_not_a_new_request)
{
    int lfd = listener();
    struct srv_conns *c = table(4, 200);
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    struct pair a = {-1, -1};
    struct srv_conn *ca;
    static char chunk[65536];
    int small = 2048;

    ASSERT(c != NULL && getsockname(lfd, (struct sockaddr *)&sa, &len) == 0);
    /* A client with a small window that does not read: the response stays in our queue. */
    a.client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT(a.client >= 0);
    ASSERT(setsockopt(a.client, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) == 0);
    ASSERT(connect(a.client, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    a.server = accept(lfd, NULL, NULL);
    ASSERT(a.server >= 0 && srv_conns_add(c, a.server) >= 0);
    ca = srv_conns_started(c, a.server);
    ASSERT(ca != NULL);
    for (int i = 0, refused = 0; i < 5000 && refused < 50; i++) {
        if (send(a.server, chunk, sizeof(chunk), MSG_DONTWAIT) > 0) {
            refused = 0;
        } else {
            refused++;
            sleep_ms(1);
        }
    }
    sleep_ms(30);
    ASSERT(notsent(a.server) > 0);
    /* Bytes that arrive now are after the last segment sent, yet the response is not out. */
    ASSERT_EQ(send(a.client, "G", 1, 0), 1);
    srv_conn_request_done(ca, NULL);
    sleep_ms(300);
    ASSERT_EQ(srv_conns_tick(c), 0);
    sleep_ms(250);
    ASSERT_EQ(srv_conns_tick(c), 0);
    srv_conns_free(c);
    close_pair(&a);
    close(lfd);
}

OG_TEST(headers_on_an_idle_connection_start_the_clock)
{
    int lfd = listener();
    struct srv_conns *c = table(4, 200);
    struct pair a;
    struct srv_conn *ca;

    ASSERT(c != NULL);
    ca = open_started(c, lfd, &a);
    ASSERT(ca != NULL);
    srv_conn_request_received(ca);
    srv_conn_request_done(ca, NULL);
    sleep_ms(300);
    srv_conn_request_begin(ca, NULL); /* a whole header block arrived between two ticks */
    ASSERT_EQ(srv_conns_tick(c), 0);
    sleep_ms(300);
    ASSERT_EQ(srv_conns_tick(c), 1);
    srv_conns_free(c);
    close_pair(&a);
    close(lfd);
}

OG_TEST(make_room_closes_the_oldest_idle_first)
{
    int lfd = listener();
    struct srv_conns *c = table(4, 60000);
    struct pair p[4];
    struct srv_conn *e[4];

    ASSERT(c != NULL);
    for (int i = 0; i < 4; i++) {
        e[i] = open_started(c, lfd, &p[i]);
        ASSERT(e[i] != NULL);
    }
    /* Idle in the order 2, 0, 1; 3 is busy with a request. */
    srv_conn_request_done(e[2], NULL);
    sleep_ms(20);
    srv_conn_request_done(e[0], NULL);
    sleep_ms(20);
    srv_conn_request_done(e[1], NULL);
    srv_conn_request_received(e[3]);
    ASSERT_EQ(srv_conns_make_room(c, 1), 1);
    ASSERT_EQ(was_cut(&p[2]), 1);
    ASSERT_EQ(was_cut(&p[0]), 0);
    /* The same waiting client: p[2] is still being closed. */
    ASSERT_EQ(srv_conns_make_room(c, 1), 0);
    srv_conns_closed(c, e[2]);
    ASSERT_EQ(srv_conns_make_room(c, 1), 1);
    ASSERT_EQ(was_cut(&p[0]), 1);
    /* An idle one whose next request has begun is left alone; a busy one always. */
    ASSERT_EQ(send(p[1].client, "G", 1, 0), 1);
    sleep_ms(20);
    ASSERT_EQ(srv_conns_make_room(c, 5), 0);
    ASSERT_EQ(was_cut(&p[1]), 0);
    ASSERT_EQ(was_cut(&p[3]), 0);
    srv_conns_free(c);
    for (int i = 0; i < 4; i++)
        close_pair(&p[i]);
    close(lfd);
}

/*
 * done takes the request's own reading (its answer's time): the idle order follows those
 * readings, not the order of the calls.
 */
OG_TEST(done_at_the_callers_time)
{
    int lfd = listener();
    struct srv_conns *c = table(4, 60000);
    struct timespec now, earlier;
    struct pair p[2];
    struct srv_conn *e[2];

    ASSERT(c != NULL);
    for (int i = 0; i < 2; i++) {
        e[i] = open_started(c, lfd, &p[i]);
        ASSERT(e[i] != NULL);
        srv_conn_request_begin(e[i], NULL);
        srv_conn_request_received(e[i]);
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    earlier = now;
    earlier.tv_sec -= 5;
    /* p[0] answered now, p[1] five seconds ago, told in that order: p[1] is the older idle. */
    srv_conn_request_done(e[0], &now);
    srv_conn_request_done(e[1], &earlier);
    ASSERT_EQ(srv_conns_make_room(c, 1), 1);
    ASSERT_EQ(was_cut(&p[1]), 1);
    ASSERT_EQ(was_cut(&p[0]), 0);
    srv_conns_free(c);
    for (int i = 0; i < 2; i++)
        close_pair(&p[i]);
    close(lfd);
}

OG_TEST(make_room_then_closes_stalled_new_connections)
{
    int lfd = listener();
    struct srv_conns *c = table(4, 60000);
    struct pair p[3];
    struct srv_conn *e[3];

    ASSERT(c != NULL);
    for (int i = 0; i < 3; i++) {
        e[i] = open_started(c, lfd, &p[i]);
        ASSERT(e[i] != NULL);
        if (i == 0)
            sleep_ms(1100); /* p[0]: no request a second after accept, stalled */
    }
    srv_conn_request_received(e[1]);
    srv_conn_request_done(e[1], NULL); /* p[1]: idle keep-alive; p[2]: new, still young */
    ASSERT_EQ(srv_conns_make_room(c, 1), 1);
    ASSERT_EQ(was_cut(&p[1]), 1); /* idle first */
    ASSERT_EQ(was_cut(&p[0]), 0);
    ASSERT_EQ(srv_conns_make_room(c, 3), 1);
    ASSERT_EQ(was_cut(&p[0]), 1); /* then stalled */
    ASSERT_EQ(was_cut(&p[2]), 0); /* a young one never */
    srv_conns_free(c);
    for (int i = 0; i < 3; i++)
        close_pair(&p[i]);
    close(lfd);
}

OG_TEST(make_room_spares_a_first_request_whose_body_arrives)
{
    int lfd = listener();
    struct srv_conns *c = table(4, 60000);
    struct pair a;
    struct srv_conn *ca;

    ASSERT(c != NULL);
    ca = open_started(c, lfd, &a);
    ASSERT(ca != NULL);
    /* The first request's headers are in; its body is still arriving a second later. */
    srv_conn_request_begin(ca, NULL);
    sleep_ms(1100);
    ASSERT_EQ(srv_conns_make_room(c, 1), 0);
    ASSERT_EQ(was_cut(&a), 0);
    srv_conns_free(c);
    close_pair(&a);
    close(lfd);
}

struct hammer {
    struct srv_conn *conn;
    atomic_bool stop;
};

/* A keep-alive client at full speed: a request begins, ends, the next begins... */
static void *hammer_main(void *arg)
{
    struct hammer *h = arg;

    while (!atomic_load(&h->stop)) {
        srv_conn_request_begin(h->conn, NULL);
        srv_conn_request_done(h->conn, NULL);
    }
    return NULL;
}

OG_TEST(a_request_beginning_during_a_tick_is_not_late)
{
    enum { IDLE = 32 };
    int lfd = listener();
    struct srv_conns *c = table(IDLE + 1, 60000);
    struct pair p[IDLE + 1];
    struct hammer h;
    unsigned cut = 0;
    pthread_t t;

    ASSERT(c != NULL);
    for (int i = 0; i <= IDLE; i++) {
        p[i] = connect_pair(lfd, true);
        ASSERT(p[i].server >= 0);
        ASSERT(srv_conns_add(c, p[i].server) >= 0);
        h.conn = srv_conns_started(c, p[i].server);
        ASSERT(h.conn != NULL);
        srv_conn_request_done(h.conn, NULL); /* idle: each tick reads its byte counter */
    }
    atomic_init(&h.stop, false);
    ASSERT(pthread_create(&t, NULL, hammer_main, &h) == 0);
    /*
     * A request that begins after a tick read the clock has a start later than the tick's
     * "now": it is not a minute late (the deadline here), however the subtraction wraps.
     */
    for (int i = 0; i < 20000 && cut == 0; i++)
        cut += srv_conns_tick(c);
    atomic_store(&h.stop, true);
    pthread_join(t, NULL);
    ASSERT_EQ(cut, 0);
    srv_conns_free(c);
    for (int i = 0; i <= IDLE; i++)
        close_pair(&p[i]);
    close(lfd);
}

struct waiter {
    struct srv_conns *c;
    int lfd;
    atomic_bool stop;
    atomic_int result; /* -1 while waiting */
};

static void *wait_main(void *arg)
{
    struct waiter *w = arg;

    atomic_store(&w->result, srv_conns_wait_room(w->c, w->lfd, &w->stop) ? 1 : 0);
    return NULL;
}

/* Waits up to `ms` for the waiter to return; its result or -1. */
static int wait_result(struct waiter *w, unsigned ms)
{
    for (unsigned t = 0; t < ms && atomic_load(&w->result) < 0; t += 10)
        sleep_ms(10);
    return atomic_load(&w->result);
}

OG_TEST(wait_room_until_a_close_or_the_stop)
{
    int lfd = listener();
    struct waiter w;
    struct pair a = connect_pair(lfd, true);
    struct srv_conn *ca;
    pthread_t t;

    w.c = table(1, 60000);
    w.lfd = lfd;
    atomic_init(&w.stop, false);
    atomic_init(&w.result, -1);
    ASSERT(w.c != NULL && a.server >= 0);
    ASSERT(srv_conns_wait_room(w.c, lfd, &w.stop)); /* room */
    ASSERT(srv_conns_add(w.c, a.server) >= 0);
    ca = srv_conns_started(w.c, a.server);
    ASSERT(pthread_create(&t, NULL, wait_main, &w) == 0);
    ASSERT_EQ(wait_result(&w, 200), -1); /* full: waits */
    srv_conns_closed(w.c, ca);
    ASSERT_EQ(wait_result(&w, 2000), 1);
    pthread_join(t, NULL);
    /* Full again, then stopped. */
    ASSERT(srv_conns_add(w.c, a.server) >= 0);
    atomic_store(&w.result, -1);
    ASSERT(pthread_create(&t, NULL, wait_main, &w) == 0);
    ASSERT_EQ(wait_result(&w, 200), -1);
    atomic_store(&w.stop, true);
    srv_conns_wake(w.c);
    ASSERT_EQ(wait_result(&w, 2000), 0);
    pthread_join(t, NULL);
    srv_conns_free(w.c);
    close_pair(&a);
    close(lfd);
}

OG_TEST(wait_room_evicts_an_idle_connection_for_a_waiting_client)
{
    int lfd = listener();
    struct waiter w;
    struct pair a = connect_pair(lfd, true), waiting;
    struct srv_conn *ca;
    pthread_t t;

    w.c = table(1, 60000);
    w.lfd = lfd;
    atomic_init(&w.stop, false);
    atomic_init(&w.result, -1);
    ASSERT(w.c != NULL && a.server >= 0);
    ASSERT(srv_conns_add(w.c, a.server) >= 0);
    ca = srv_conns_started(w.c, a.server);
    srv_conn_request_done(ca, NULL);
    ASSERT(pthread_create(&t, NULL, wait_main, &w) == 0);
    ASSERT_EQ(wait_result(&w, 200), -1); /* nobody waits: the idle one stays */
    ASSERT_EQ(was_cut(&a), 0);
    waiting = connect_pair(lfd, false); /* in the backlog */
    for (int i = 0; i < 200 && was_cut(&a) == 0; i++)
        sleep_ms(10);
    ASSERT_EQ(was_cut(&a), 1);
    srv_conns_closed(w.c, ca); /* what libmicrohttpd does on the end of the stream */
    ASSERT_EQ(wait_result(&w, 2000), 1);
    pthread_join(t, NULL);
    srv_conns_free(w.c);
    close_pair(&a);
    close_pair(&waiting);
    close(lfd);
}

/* The deadline of a request runs from the time its caller read (httpd.c reads it anyway). */
OG_TEST(begin_at_the_callers_time)
{
    int lfd = listener();
    struct srv_conns *c = table(4, 200);
    struct timespec past;
    struct pair a;
    struct srv_conn *ca;

    ASSERT(c != NULL);
    ca = open_started(c, lfd, &a);
    ASSERT(ca != NULL);
    srv_conn_request_begin(ca, NULL);
    srv_conn_request_received(ca);
    srv_conn_request_done(ca, NULL); /* idle keep-alive: the next request's clock starts at begin */
    srv_conn_request_begin(ca, NULL);
    ASSERT_EQ(srv_conns_tick(c), 0); /* now: not late */
    srv_conn_request_received(ca);
    srv_conn_request_done(ca, NULL);
    clock_gettime(CLOCK_MONOTONIC, &past);
    past.tv_sec -= 1;
    srv_conn_request_begin(ca, &past); /* a second ago: late at the next tick */
    ASSERT_EQ(srv_conns_tick(c), 1);
    ASSERT_EQ(was_cut(&a), 1);
    srv_conns_free(c);
    close_pair(&a);
    close(lfd);
}

OG_TEST_MAIN(OG_T(begin_at_the_callers_time), OG_T(rejects_bad_settings),
             OG_T(counts_up_to_the_cap), OG_T(lost_entry_dropped_when_its_number_comes_back),
             OG_T(lost_entry_found_by_the_watchdog), OG_T(deadline_cuts_started_connections_only),
             OG_T(no_deadline_once_received_or_idle),
             OG_T(data_after_the_response_starts_the_clock),
             OG_T(a_response_still_held_by_the_kernel_is_not_a_new_request),
             OG_T(headers_on_an_idle_connection_start_the_clock),
             OG_T(make_room_closes_the_oldest_idle_first), OG_T(done_at_the_callers_time),
             OG_T(make_room_then_closes_stalled_new_connections),
             OG_T(make_room_spares_a_first_request_whose_body_arrives),
             OG_T(a_request_beginning_during_a_tick_is_not_late),
             OG_T(wait_room_until_a_close_or_the_stop),
             OG_T(wait_room_evicts_an_idle_connection_for_a_waiting_client))
