#include "fetch.h"

#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <zlib.h>

#include "ocigate/netaddr.h"
#include "ocigate/url.h"

/* How long one curl_multi_poll() may sleep, so that a cancel request is seen quickly. */
#define POLL_SLICE_MS 100

/* Decoded bytes handed to a sink at a time when inflating. */
#define INFLATE_STEP (64u * 1024u)
/* Decoded bytes one transfer may produce (and have analyzed) in one turn of the loop: about
 * 10 ms of analysis. */
#define INFLATE_BUDGET (1024u * 1024u)

/*
 * The fetch loop: one thread, one multi handle, every push-mode transfer. Fetches arrive on
 * `incoming` from any thread (under `lock`, then curl_multi_wakeup()); everything else is
 * touched by the loop thread only.
 */
struct srv_fetch_loop {
    CURLM *multi;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    struct srv_fetch *incoming;                  /* (lock) newest first */
    bool stopping;                               /* (lock) */
    struct srv_fetch *queued_head, *queued_tail; /* waiting for a slot, oldest first */
    struct srv_fetch *running;
    unsigned n_running, max_total, max_per_host;
    _Atomic unsigned peak_running, n_queued;
    bool backlogged; /* some running transfer has a backlog */
    bool reschedule; /* a fetch arrived or one ended: schedule() may start queued ones */
    char inflate_buf[INFLATE_STEP];
};

struct srv_fetch {
    CURL *easy;
    CURLM *multi;
    struct srv_fetch_opts opts;
    struct og_cidr *cidrs; /* parsed opts.allow_cidrs */
    size_t n_cidrs;
    bool attached; /* easy is inside multi */
    bool begun;
    bool done;       /* the transfer ended (result holds how) */
    CURLcode result; /* valid when done */
    bool paused;     /* the write callback paused the transfer */
    bool too_big;    /* the body passed max_bytes */
    bool cancelled;
    bool location_seen; /* the current header block has a Location */
    long final_code;    /* status of the response whose body we keep, 0 until known */
    uint64_t total;     /* decoded body bytes accepted */
    uint64_t received;  /* body bytes as they came (compressed or not) */
    unsigned refused;
    char refused_addr[OG_IPADDR_STRLEN];
    char detail[256];
    char errbuf[CURL_ERROR_SIZE];
    struct curl_slist *headers; /* Accept-Encoding, and the validators of a conditional fetch */
    char *cond_url;             /* conditional: the url a 304 must come from, else NULL */
    bool inflating;             /* the body is gzip or deflate: srv_fetch_read inflates */
    bool inflate_end;           /* the compressed stream ended */
    z_stream zs;                /* valid while inflating */
    size_t off, len;            /* unread bytes are window[off..len) */
    char *window;               /* SRV_FETCH_WINDOW bytes, pull mode only */
    char *host_key;             /* "scheme://host:port" of the url, for the per-host cap */

    /* Push mode (srv_fetch_start()): driven by a loop, body handed to a sink. */
    struct srv_fetch_loop *loop;
    const struct srv_fetch_sink *sink;
    void *sink_arg;
    enum og_err sink_err; /* the sink stopped the transfer with this */
    bool decoding_set;    /* setup_decoding() ran for the body */
    bool early_end;       /* the final response is not a 200: its body is not read */
    char *backlog;        /* compressed bytes taken but not inflated yet: [boff, blen) */
    size_t boff, blen;
    bool held;                     /* on_write paused the transfer until the backlog drains */
    bool ended;                    /* the transfer is over, the backlog not yet: finish after it */
    CURLcode end_result;           /* valid when ended */
    struct srv_fetch *next, *prev; /* in the loop's incoming, queued or running list */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init_once(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

enum og_err srv_fetch_global_init(void)
{
    pthread_once(&global_once, global_init_once);
    return global_rc == CURLE_OK ? OG_OK : OG_EIO;
}

void srv_fetch_opts_init(struct srv_fetch_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->connect_timeout_ms = 3000;
    o->timeout_ms = 30000;
    o->max_bytes = 64u * 1024u * 1024u;
    o->max_redirects = 3;
    o->low_speed_bytes = SRV_FETCH_LOW_SPEED_BYTES;
    o->low_speed_time_s = SRV_FETCH_LOW_SPEED_TIME_S;
    o->guard = true;
}

void srv_fetch_opts_from_settings(struct srv_fetch_opts *o, const struct og_index_settings *s)
{
    o->connect_timeout_ms = s->connect_timeout_ms;
    o->timeout_ms = s->fetch_timeout_ms;
    o->max_bytes = s->max_bytes;
    o->allow_hosts = (const char *const *)s->allow_hosts;
    o->n_allow_hosts = s->n_allow_hosts;
    o->allow_cidrs = (const char *const *)s->allow_cidrs;
    o->n_allow_cidrs = s->n_allow_cidrs;
    o->guard = true;
}

/* True when the host of the url libcurl is connecting for is in allow_hosts. */
static bool host_allowed(struct srv_fetch *f)
{
    char *url = NULL;
    struct og_url u;
    bool ok = false;

    if (f->opts.n_allow_hosts == 0)
        return false;
    /* During a redirect the effective url is already the new one when its connection opens.
     * One that does not parse matches nothing: the guard then stays shut. */
    if (curl_easy_getinfo(f->easy, CURLINFO_EFFECTIVE_URL, &url) != CURLE_OK || url == NULL ||
        og_url_parse(og_str_of(url), &u, NULL) != OG_OK)
        return false;
    for (size_t i = 0; i < f->opts.n_allow_hosts && !ok; i++)
        ok = og_url_host_eq(u.host, og_str_of(f->opts.allow_hosts[i]));
    return ok;
}

static bool addr_allowed(struct srv_fetch *f, const struct og_ipaddr *a)
{
    if (!f->opts.guard || !og_netaddr_is_forbidden(a))
        return true;
    for (size_t i = 0; i < f->n_cidrs; i++) {
        if (og_netaddr_cidr_match(&f->cidrs[i], a))
            return true;
    }
    return host_allowed(f);
}

/*
 * CURLOPT_OPENSOCKETFUNCTION: the one place every outgoing connection passes, after name
 * resolution and before connect(). Refusing here (CURL_SOCKET_BAD) means the peer never
 * sees a packet from us.
 */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *sa)
{
    struct srv_fetch *f = clientp;
    struct og_ipaddr a;

    if (purpose != CURLSOCKTYPE_IPCXN)
        return CURL_SOCKET_BAD;
    if (sa->family == AF_INET && sa->addrlen >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)&sa->addr;
        og_netaddr_from_v4((const uint8_t *)&sin->sin_addr, &a);
    } else if (sa->family == AF_INET6 && sa->addrlen >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)&sa->addr;
        og_netaddr_from_v6(sin6->sin6_addr.s6_addr, &a);
    } else {
        f->refused++;
        snprintf(f->refused_addr, sizeof(f->refused_addr), "%s", "(non-IP)");
        return CURL_SOCKET_BAD;
    }
    if (!addr_allowed(f, &a)) {
        f->refused++;
        og_netaddr_format(&a, f->refused_addr, sizeof(f->refused_addr));
        return CURL_SOCKET_BAD;
    }
    return socket(sa->family, sa->socktype, sa->protocol);
}

/* Tracks header blocks to learn when the final response (not 1xx, not a followed 3xx)
 * has arrived, so that a 404 or 401 is known without reading its body. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    struct srv_fetch *f = ud;
    size_t n = size * nmemb;

    if (n >= 5 && strncasecmp(data, "HTTP/", 5) == 0) {
        f->location_seen = false;
    } else if (n >= 9 && strncasecmp(data, "location:", 9) == 0) {
        f->location_seen = true;
    } else if ((n == 2 && data[0] == '\r' && data[1] == '\n') || (n == 1 && data[0] == '\n')) {
        long code = 0;

        if (curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
            code = 0;
        if (code >= 200 && !(code >= 300 && code < 400 && f->location_seen))
            f->final_code = code;
    }
    return n;
}

static size_t push_body(struct srv_fetch *f, const char *data, size_t n);
static enum og_err setup_decoding(struct srv_fetch *f);

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    struct srv_fetch *f = ud;
    size_t n = size * nmemb;

    if (f->final_code != 200) {
        if (f->loop != NULL && f->final_code != 0) {
            /* The status says it all: no need to read an error page to its end. */
            f->early_end = true;
            return 0;
        }
        return n; /* a redirect's or an error's body: not the index */
    }
    if (n > f->opts.max_bytes - f->received) {
        f->too_big = true;
        return 0; /* CURLE_WRITE_ERROR */
    }
    if (f->off == f->len)
        f->off = f->len = 0;
    if (f->loop != NULL)
        return push_body(f, data, n);
    if (n > SRV_FETCH_WINDOW - f->len && f->off > 0) {
        memmove(f->window, f->window + f->off, f->len - f->off);
        f->len -= f->off;
        f->off = 0;
    }
    if (n > SRV_FETCH_WINDOW - f->len) {
        if (f->len > 0) {
            /* The consumer is behind: hold the transfer until the window drains. */
            f->paused = true;
            return CURL_WRITEFUNC_PAUSE;
        }
        snprintf(f->detail, sizeof(f->detail), "libcurl delivered a %zu byte chunk", n);
        return 0;
    }
    memcpy(f->window + f->len, data, n);
    f->len += n;
    f->received += n;
    if (!f->inflating)
        f->total += n;
    return n;
}

bool srv_fetch_validators_any(const struct srv_fetch_validators *v)
{
    return v != NULL && v->url != NULL && (v->etag != NULL || v->last_modified != NULL);
}

void srv_fetch_validators_cleanup(struct srv_fetch_validators *v)
{
    free(v->etag);
    free(v->last_modified);
    free(v->url);
    v->etag = v->last_modified = v->url = NULL;
}

/* An entity-tag as RFC 9110 8.8.3 writes it: [W/] DQUOTE *etagc DQUOTE, here with visible
 * ASCII only (no obs-text), and short. Whatever else a server sends is not kept, so nothing
 * but such a value is ever put in a request header. */
static bool etag_ok(const char *v)
{
    size_t len = strlen(v), i = 0;

    if (len > SRV_FETCH_ETAG_MAX)
        return false;
    if (len >= 2 && v[0] == 'W' && v[1] == '/')
        i = 2;
    if (len - i < 2 || v[i] != '"' || v[len - 1] != '"')
        return false;
    for (i++; i < len - 1; i++) {
        unsigned char c = (unsigned char)v[i];

        if (c < 0x21 || c > 0x7e || c == '"')
            return false;
    }
    return true;
}

/* An HTTP-date: printable ASCII that libcurl reads as a date, and short. */
static bool date_ok(const char *v)
{
    size_t len = strlen(v);

    if (len == 0 || len > SRV_FETCH_DATE_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
            return false;
    }
    return curl_getdate(v, NULL) != -1;
}

/* Adds the conditional headers of `v` to the request (none unless some validator is good). */
static bool add_conditional(struct srv_fetch *f, const struct srv_fetch_validators *v)
{
    /* The ETag weak or strong, as received: If-None-Match compares weakly (RFC 9110 13.1.2). */
    const struct {
        const char *name, *value;
        bool ok;
    } h[] = {
        {"If-None-Match", v->etag, v->etag != NULL && etag_ok(v->etag)},
        {"If-Modified-Since", v->last_modified,
         v->last_modified != NULL && date_ok(v->last_modified)},
    };
    char line[SRV_FETCH_ETAG_MAX + 32];

    if (v->url == NULL || (!h[0].ok && !h[1].ok))
        return true;
    for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++) {
        struct curl_slist *l;

        if (!h[i].ok)
            continue;
        snprintf(line, sizeof(line), "%s: %s", h[i].name, h[i].value);
        l = curl_slist_append(f->headers, line);
        if (l == NULL)
            return false;
        f->headers = l;
    }
    f->cond_url = strdup(v->url);
    return f->cond_url != NULL;
}

/* The part of a fetch both modes share: checks the url and sets up the easy handle. */
static enum og_err fetch_new(const char *url, const struct srv_fetch_opts *o,
                             struct srv_fetch **out, struct og_diag *diag)
{
    struct srv_fetch *f = NULL;
    struct og_url u;
    struct og_diag why;
    struct og_buf key, shown;
    enum og_err rc = OG_ENOMEM;
    bool ok = true;

    og_buf_init(&key, SIZE_MAX / 2);
    og_buf_init(&shown, SIZE_MAX / 2);
    if (srv_fetch_global_init() != OG_OK) {
        rc = og_diag_set(diag, OG_EIO, "libcurl cannot be initialized");
        goto out;
    }
    /* The messages show the url as og_url_redact() does: they reach logs and warnings. */
    if (og_url_redact(og_str_of(url), &shown) != OG_OK)
        goto out;
    /* The scheme first: "file:///etc/passwd" is refused for what it is, not for its form. */
    switch (og_url_kind(og_str_of(url))) {
    case OG_URL_NONE:
        rc = og_diag_set(diag, OG_EINVAL, "'%s' is not an absolute url", shown.ptr);
        goto out;
    case OG_URL_HTTP:
    case OG_URL_HTTPS:
        break;
    case OG_URL_OCI:
    case OG_URL_OTHER:
        rc = og_diag_set(diag, OG_EINVAL, "scheme '%.*s' is not fetched (http and https only)",
                         (int)og_url_scheme(og_str_of(url)).len, url);
        goto out;
    }
    if (og_url_parse(og_str_of(url), &u, &why) != OG_OK) {
        rc = og_diag_set(diag, OG_EINVAL, "url '%s' %s", shown.ptr, why.msg);
        goto out;
    }
    if (u.userinfo.ptr != NULL) {
        rc = og_diag_set(diag, OG_EINVAL, "urls with credentials are not fetched");
        goto out;
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        goto out;
    f->opts = *o;
    /* The per-host cap counts by scheme, host (in lower case) and port, as connections go. */
    if (og_url_origin(&u, &key) != OG_OK)
        goto out;
    f->host_key = og_buf_take(&key, NULL);
    if (f->host_key == NULL)
        goto out;
    if (o->n_allow_cidrs > 0) {
        f->cidrs = calloc(o->n_allow_cidrs, sizeof(*f->cidrs));
        if (f->cidrs == NULL)
            goto out;
        for (size_t i = 0; i < o->n_allow_cidrs; i++) {
            rc = og_netaddr_cidr_parse(o->allow_cidrs[i], &f->cidrs[i], diag);
            if (rc != OG_OK) {
                rc = OG_EINVAL;
                goto out;
            }
        }
        f->n_cidrs = o->n_allow_cidrs;
    }
    rc = OG_ENOMEM;
    f->easy = curl_easy_init();
    if (f->easy == NULL)
        goto out;

    CURL *e = f->easy;
    ok &= curl_easy_setopt(e, CURLOPT_URL, url) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)o->max_redirects) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms) == CURLE_OK;
    if (o->low_speed_bytes > 0 && o->low_speed_time_s > 0) {
        /* A drip (a byte a second) is cut long before the total timeout. */
        ok &= curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, (long)o->low_speed_bytes) == CURLE_OK;
        ok &= curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)o->low_speed_time_s) == CURLE_OK;
    }
    if (o->max_bytes <= (uint64_t)INT64_MAX)
        ok &= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_bytes) == CURLE_OK;
    /*
     * gzip and deflate are asked for, but decoded here, not by libcurl: libcurl keeps
     * everything it decodes while a transfer is paused, so a small compressed body would sit
     * decompressed in memory, up to 64 MiB, past our window and our cap.
     */
    f->headers = curl_slist_append(NULL, "Accept-Encoding: gzip, deflate");
    ok &= f->headers != NULL;
    /*
     * A conditional refresh. The validators are those of the url that answered last time;
     * should this request be redirected elsewhere, libcurl sends them there too (harmless:
     * they are not secrets), but check_not_modified() then refuses that url's 304.
     */
    if (ok && o->validators != NULL && !add_conditional(f, o->validators))
        goto out;
    ok &= curl_easy_setopt(e, CURLOPT_HTTPHEADER, f->headers) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_HTTP_CONTENT_DECODING, 0L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_USERAGENT, SRV_FETCH_USER_AGENT) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_UNRESTRICTED_AUTH, 0L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_PROXY, "") == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    /*
     * No connection outlives its transfer. In push mode every transfer shares the loop's
     * connection cache, and a reused connection never passes open_socket(): a fetch under a
     * reloaded, stricter allow list must not ride on a connection another fetch's guard let
     * through. (Fetches of one url are an hour apart: reuse would save nothing.)
     */
    ok &= curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
    if (o->ca_file != NULL)
        ok &= curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file) == CURLE_OK;
    /*
     * The CA bundle file only, not also the hashed directory Debian's libcurl adds by default:
     * with a directory libcurl does not cache the parsed CA store, and every connection would
     * parse the whole bundle again (about 250 KiB and milliseconds of CPU each, times hundreds
     * of transfers at once). Without it the store is parsed once per loop and shared.
     */
    ok &= curl_easy_setopt(e, CURLOPT_CAPATH, NULL) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, f->errbuf) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, f) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_HEADERDATA, f) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_WRITEDATA, f) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_PRIVATE, f) == CURLE_OK;
    if (!ok) {
        rc = og_diag_set(diag, OG_EINVAL, "libcurl refused an option (built without http?)");
        goto out;
    }
    *out = f;
    f = NULL;
    rc = OG_OK;
out:
    og_buf_cleanup(&key);
    og_buf_cleanup(&shown);
    srv_fetch_free(f);
    return rc;
}

enum og_err srv_fetch_open(const char *url, const struct srv_fetch_opts *o, struct srv_fetch **out,
                           struct og_diag *diag)
{
    struct srv_fetch *f = NULL;
    enum og_err rc = fetch_new(url, o, &f, diag);

    if (rc != OG_OK)
        return rc;
    f->window = malloc(SRV_FETCH_WINDOW);
    f->multi = curl_multi_init();
    if (f->window == NULL || f->multi == NULL ||
        curl_multi_add_handle(f->multi, f->easy) != CURLM_OK) {
        srv_fetch_free(f);
        return OG_ENOMEM;
    }
    f->attached = true;
    *out = f;
    return OG_OK;
}

/* Turns the end of a failed transfer into a short reason. */
static void set_failure_detail(struct srv_fetch *f)
{
    if (f->detail[0] != '\0')
        return;
    if (f->cancelled) {
        snprintf(f->detail, sizeof(f->detail), "fetch cancelled");
    } else if (f->too_big || f->result == CURLE_FILESIZE_EXCEEDED) {
        snprintf(f->detail, sizeof(f->detail), "index larger than %llu bytes",
                 (unsigned long long)f->opts.max_bytes);
    } else if (f->refused > 0 && f->result == CURLE_COULDNT_CONNECT) {
        snprintf(f->detail, sizeof(f->detail), "address %s is not allowed", f->refused_addr);
    } else if (f->result == CURLE_OPERATION_TIMEDOUT) {
        snprintf(f->detail, sizeof(f->detail), "timed out (%.200s)",
                 f->errbuf[0] != '\0' ? f->errbuf : curl_easy_strerror(f->result));
    } else if (f->result == CURLE_TOO_MANY_REDIRECTS) {
        snprintf(f->detail, sizeof(f->detail), "more than %u redirects", f->opts.max_redirects);
    } else if (f->result == CURLE_UNSUPPORTED_PROTOCOL) {
        snprintf(f->detail, sizeof(f->detail), "redirect to a url that is not http(s)");
    } else {
        snprintf(f->detail, sizeof(f->detail), "fetch failed: %.200s",
                 f->errbuf[0] != '\0' ? f->errbuf : curl_easy_strerror(f->result));
    }
}

/*
 * A 304 renews the copy the caller holds: only an answer to the validators we sent, and only
 * from the url they belong to. A 304 to an unconditional request has nothing to renew, and one
 * from another url (the redirect moved) speaks of another resource, whose entity-tags need not
 * mean what ours do. Both are errors, with a detail saying which.
 */
static enum og_err check_not_modified(struct srv_fetch *f)
{
    char *url = NULL;

    if (f->cond_url == NULL) {
        snprintf(f->detail, sizeof(f->detail),
                 "HTTP 304 Not Modified to a request without validators");
        return OG_EIO;
    }
    if (curl_easy_getinfo(f->easy, CURLINFO_EFFECTIVE_URL, &url) != CURLE_OK || url == NULL ||
        strcmp(url, f->cond_url) != 0) {
        snprintf(f->detail, sizeof(f->detail),
                 "HTTP 304 Not Modified from another url than the validators'");
        return OG_EIO;
    }
    return OG_OK;
}

static enum og_err failure(struct srv_fetch *f)
{
    set_failure_detail(f);
    return (f->too_big || f->result == CURLE_FILESIZE_EXCEEDED) ? OG_ETOOBIG : OG_EIO;
}

/* Drives the transfer until `until_body` is satisfied (final status known) or, otherwise,
 * unread bytes are in the window; or until the transfer ends. */
static void pump(struct srv_fetch *f, bool until_headers)
{
    for (;;) {
        int running = 0, queued = 0;
        CURLMsg *msg;

        if (f->done)
            return;
        if (until_headers ? f->final_code != 0 : f->off < f->len)
            return;
        if (f->opts.cancel != NULL && atomic_load(f->opts.cancel)) {
            f->cancelled = true;
            f->done = true;
            f->result = CURLE_ABORTED_BY_CALLBACK;
            return;
        }
        if (f->paused && f->off == f->len) {
            /* Unpausing may deliver held bytes to on_write at once (and pause again). */
            f->paused = false;
            if (curl_easy_pause(f->easy, CURLPAUSE_CONT) != CURLE_OK) {
                f->done = true;
                f->result = CURLE_RECV_ERROR;
                return;
            }
            continue;
        }
        if (curl_multi_perform(f->multi, &running) != CURLM_OK) {
            f->done = true;
            f->result = CURLE_OUT_OF_MEMORY;
            return;
        }
        for (msg = curl_multi_info_read(f->multi, &queued); msg != NULL;
             msg = curl_multi_info_read(f->multi, &queued)) {
            if (msg->msg == CURLMSG_DONE) {
                f->done = true;
                f->result = msg->data.result;
            }
        }
        if (f->done || (until_headers ? f->final_code != 0 : f->off < f->len))
            return;
        if (f->paused)
            continue;
        if (curl_multi_poll(f->multi, NULL, 0, POLL_SLICE_MS, NULL) != CURLM_OK) {
            f->done = true;
            f->result = CURLE_RECV_ERROR;
            return;
        }
    }
}

/* Reads the final response's Content-Encoding: none or identity as is, gzip and deflate
 * through zlib (which tells the gzip and zlib wrappers apart), anything else refused. */
static enum og_err setup_decoding(struct srv_fetch *f)
{
    struct curl_header *h = NULL;
    const char *v;

    if (curl_easy_header(f->easy, "Content-Encoding", 0, CURLH_HEADER, -1, &h) != CURLHE_OK ||
        h == NULL)
        return OG_OK;
    v = h->value;
    while (*v == ' ' || *v == '\t')
        v++;
    if (*v == '\0' || strcasecmp(v, "identity") == 0)
        return OG_OK;
    if (strcasecmp(v, "gzip") != 0 && strcasecmp(v, "x-gzip") != 0 &&
        strcasecmp(v, "deflate") != 0) {
        snprintf(f->detail, sizeof(f->detail), "unsupported Content-Encoding \"%.64s\"", v);
        return OG_EIO;
    }
    memset(&f->zs, 0, sizeof(f->zs));
    /* 15 + 32: a window of 32 KiB, gzip or zlib header detected from the data. */
    if (inflateInit2(&f->zs, 15 + 32) != Z_OK) {
        snprintf(f->detail, sizeof(f->detail), "cannot start decompression");
        return OG_ENOMEM;
    }
    f->inflating = true;
    /* What the window already holds was counted as it came; from now on, as inflated. */
    f->total = 0;
    return OG_OK;
}

/* srv_fetch_read for a compressed body: inflates from the window into `buf`. */
static enum og_err read_inflated(struct srv_fetch *f, char *buf, size_t cap, size_t *n)
{
    for (;;) {
        size_t avail = f->len - f->off, used, made;
        int zr;

        if (f->inflate_end)
            return OG_OK;
        if (avail == 0) {
            pump(f, false);
            avail = f->len - f->off;
            if (avail == 0) {
                if (!f->done) {
                    snprintf(f->detail, sizeof(f->detail), "transfer stalled");
                    return OG_EIO;
                }
                if (f->result != CURLE_OK)
                    return failure(f);
                snprintf(f->detail, sizeof(f->detail), "compressed body ends early");
                return OG_EIO;
            }
        }
        f->zs.next_in = (Bytef *)(f->window + f->off);
        f->zs.avail_in = (uInt)(avail < UINT32_MAX ? avail : UINT32_MAX);
        f->zs.next_out = (Bytef *)buf;
        f->zs.avail_out = (uInt)(cap < UINT32_MAX ? cap : UINT32_MAX);
        zr = inflate(&f->zs, Z_NO_FLUSH);
        used = (avail < UINT32_MAX ? avail : UINT32_MAX) - f->zs.avail_in;
        made = (cap < UINT32_MAX ? cap : UINT32_MAX) - f->zs.avail_out;
        f->off += used;
        if (zr == Z_STREAM_END)
            f->inflate_end = true;
        else if (zr != Z_OK && zr != Z_BUF_ERROR) {
            snprintf(f->detail, sizeof(f->detail), "corrupt compressed body");
            return OG_EIO;
        }
        if (made > 0) {
            /* The cap holds for what the analyzer sees: a small gzip bomb stops here. */
            if (made > f->opts.max_bytes - f->total) {
                f->too_big = true;
                snprintf(f->detail, sizeof(f->detail), "index larger than %llu bytes",
                         (unsigned long long)f->opts.max_bytes);
                return OG_ETOOBIG;
            }
            f->total += made;
            *n = made;
            return OG_OK;
        }
    }
}

/* Hands `n` decoded bytes to the sink; false stops the transfer. */
static bool to_sink(struct srv_fetch *f, const char *p, size_t n)
{
    enum og_err rc;

    if (n > f->opts.max_bytes - f->total) {
        f->too_big = true;
        return false;
    }
    f->total += n;
    rc = f->sink->body(f->sink_arg, p, n);
    if (rc != OG_OK) {
        f->sink_err = rc;
        return false;
    }
    return true;
}

/*
 * Inflates from `data` (`n` bytes) into the sink until the input is used up, the stream
 * ends, or `budget` decoded bytes were handed over. Returns the bytes of `data` consumed, or
 * SIZE_MAX on an error (sink_err or too_big set).
 */
static size_t inflate_some(struct srv_fetch *f, const char *data, size_t n, size_t budget)
{
    size_t made_total = 0;

    f->zs.next_in = (Bytef *)(uintptr_t)data;
    f->zs.avail_in = (uInt)n; /* at most CURL_MAX_WRITE_SIZE or a backlog of one chunk */
    while (f->zs.avail_in > 0 && !f->inflate_end && made_total < budget) {
        char *out = f->loop->inflate_buf;
        size_t made;
        int zr;

        f->zs.next_out = (Bytef *)out;
        f->zs.avail_out = INFLATE_STEP;
        zr = inflate(&f->zs, Z_NO_FLUSH);
        if (zr == Z_STREAM_END) {
            f->inflate_end = true;
        } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
            snprintf(f->detail, sizeof(f->detail), "corrupt compressed body");
            f->sink_err = OG_EIO;
            return SIZE_MAX;
        }
        made = INFLATE_STEP - f->zs.avail_out;
        if (made > 0 && !to_sink(f, out, made))
            return SIZE_MAX;
        made_total += made;
        if (zr == Z_BUF_ERROR)
            break;
    }
    /* Bytes after the end of the compressed stream are ignored. */
    return f->inflate_end ? n : n - f->zs.avail_in;
}

/*
 * on_write in push mode (on the loop thread): decodes the bytes and hands them to the sink at
 * once, so nothing is kept between calls but zlib's window. The cap holds for the inflated
 * bytes: a gzip bomb stops there.
 *
 * The analysis runs in the sink, on this thread, so the work of one call is bounded: an
 * identity chunk is at most CURL_MAX_WRITE_SIZE (16 KiB), and a compressed one is inflated
 * only up to INFLATE_BUDGET (a bomb inflates 1000 to 1); its rest waits in `backlog`, the
 * transfer paused, and the loop inflates it a budget at a time between other transfers' work.
 */
static size_t push_body(struct srv_fetch *f, const char *data, size_t n)
{
    size_t used;

    if (f->boff < f->blen) {
        /* Still inflating the last chunk: libcurl keeps this one until unpaused. */
        f->held = true;
        return CURL_WRITEFUNC_PAUSE;
    }
    f->received += n;
    if (!f->decoding_set) {
        enum og_err rc;

        f->decoding_set = true;
        rc = setup_decoding(f);
        if (rc != OG_OK) {
            f->sink_err = rc;
            return 0;
        }
    }
    if (!f->inflating)
        return to_sink(f, data, n) ? n : 0;
    used = inflate_some(f, data, n, INFLATE_BUDGET);
    if (used == SIZE_MAX)
        return 0;
    if (used < n) {
        if (f->backlog == NULL) {
            f->backlog = malloc(CURL_MAX_WRITE_SIZE);
            if (f->backlog == NULL) {
                f->sink_err = OG_ENOMEM;
                return 0;
            }
        }
        if (n - used > CURL_MAX_WRITE_SIZE) {
            snprintf(f->detail, sizeof(f->detail), "libcurl delivered a %zu byte chunk", n);
            f->sink_err = OG_EIO;
            return 0;
        }
        memcpy(f->backlog, data + used, n - used);
        f->boff = 0;
        f->blen = n - used;
        f->loop->backlogged = true;
    }
    return n;
}

/* Ends a running transfer from the loop (not from a callback) as `result` says. */
static void end_running(struct srv_fetch_loop *loop, struct srv_fetch *f, CURLcode result);

/* Ends a running transfer from the loop with the error set in `f`. */
static void abort_running(struct srv_fetch_loop *loop, struct srv_fetch *f)
{
    end_running(loop, f, CURLE_WRITE_ERROR);
}

/*
 * Inflates every transfer's backlog by one budget; unpauses those drained. Returns true while
 * some backlog remains (the loop then polls without sleeping).
 */
static bool drain_backlogs(struct srv_fetch_loop *loop)
{
    struct srv_fetch *f = loop->running, *next;
    bool more = false;

    if (!loop->backlogged)
        return false;
    for (; f != NULL; f = next) {
        size_t used;

        next = f->next;
        if (f->boff >= f->blen)
            continue;
        used = inflate_some(f, f->backlog + f->boff, f->blen - f->boff, INFLATE_BUDGET);
        if (used == SIZE_MAX) {
            abort_running(loop, f);
            continue;
        }
        f->boff += used;
        if (f->boff < f->blen) {
            more = true;
            continue;
        }
        f->boff = f->blen = 0;
        if (f->ended) {
            end_running(loop, f, f->end_result);
            continue;
        }
        if (f->held) {
            /* Delivers the chunk libcurl held at once (on_write may backlog again). */
            f->held = false;
            if (curl_easy_pause(f->easy, CURLPAUSE_CONT) != CURLE_OK) {
                /* It fails too when the held chunk was refused: then that reason stands. */
                if (f->sink_err == OG_OK && !f->too_big) {
                    snprintf(f->detail, sizeof(f->detail), "transfer cannot resume");
                    f->sink_err = OG_EIO;
                }
                abort_running(loop, f);
                continue;
            }
            more |= f->boff < f->blen;
        }
    }
    loop->backlogged = more;
    return more;
}

enum og_err srv_fetch_begin(struct srv_fetch *f)
{
    f->begun = true;
    pump(f, true);
    if (f->final_code != 0) {
        if (f->final_code == 304)
            return check_not_modified(f);
        if (f->final_code != 200)
            snprintf(f->detail, sizeof(f->detail), "HTTP %ld", f->final_code);
        return f->final_code == 200 ? setup_decoding(f) : OG_OK;
    }
    if (f->done && f->result == CURLE_OK) {
        /* Ended without a final header block we recognized (HTTP/0.9, odd server). */
        long code = 0;

        if (curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
            code = 0;
        f->final_code = code;
        if (code == 304)
            return check_not_modified(f);
        if (code != 200)
            snprintf(f->detail, sizeof(f->detail), "HTTP %ld", code);
        return OG_OK;
    }
    return failure(f);
}

enum og_err srv_fetch_read(void *ctx, char *buf, size_t cap, size_t *n)
{
    struct srv_fetch *f = ctx;
    size_t take;

    *n = 0;
    if (!f->begun) {
        enum og_err rc = srv_fetch_begin(f);
        if (rc != OG_OK)
            return rc;
    }
    if (f->final_code != 200)
        return OG_OK;
    if (f->inflating)
        return read_inflated(f, buf, cap, n);
    pump(f, false);
    take = f->len - f->off;
    if (take == 0) {
        if (!f->done) {
            /* pump() returns only with bytes or at the end; never report a false end. */
            snprintf(f->detail, sizeof(f->detail), "transfer stalled");
            return OG_EIO;
        }
        return f->result == CURLE_OK ? OG_OK : failure(f);
    }
    if (take > cap)
        take = cap;
    memcpy(buf, f->window + f->off, take);
    f->off += take;
    *n = take;
    return OG_OK;
}

long srv_fetch_status(const struct srv_fetch *f)
{
    return f->final_code;
}

const char *srv_fetch_detail(const struct srv_fetch *f)
{
    return f->detail[0] != '\0' ? f->detail : NULL;
}

/* The value of response header `name` of the final response as a new string, when it is
 * there exactly once and `ok` accepts it; NULL otherwise. */
static enum og_err take_header(struct srv_fetch *f, const char *name, bool (*ok)(const char *),
                               char **out)
{
    struct curl_header *h = NULL;

    *out = NULL;
    if (curl_easy_header(f->easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK || h == NULL ||
        h->amount != 1 || !ok(h->value))
        return OG_OK;
    *out = strdup(h->value);
    return *out != NULL ? OG_OK : OG_ENOMEM;
}

enum og_err srv_fetch_get_validators(struct srv_fetch *f, struct srv_fetch_validators *out)
{
    struct srv_fetch_validators v = {NULL, NULL, NULL};
    char *url = NULL;
    enum og_err rc = OG_OK;

    memset(out, 0, sizeof(*out));
    if (f->final_code != 200)
        return OG_OK;
    if (curl_easy_getinfo(f->easy, CURLINFO_EFFECTIVE_URL, &url) != CURLE_OK || url == NULL ||
        strlen(url) > SRV_FETCH_VALIDATOR_URL_MAX)
        return OG_OK;
    rc = take_header(f, "ETag", etag_ok, &v.etag);
    if (rc == OG_OK)
        rc = take_header(f, "Last-Modified", date_ok, &v.last_modified);
    if (rc == OG_OK && (v.etag != NULL || v.last_modified != NULL)) {
        v.url = strdup(url);
        if (v.url == NULL)
            rc = OG_ENOMEM;
    }
    if (rc != OG_OK) {
        srv_fetch_validators_cleanup(&v);
        return rc;
    }
    *out = v;
    return OG_OK;
}

uint64_t srv_fetch_bytes(const struct srv_fetch *f)
{
    return f->total;
}

unsigned srv_fetch_refused(const struct srv_fetch *f)
{
    return f->refused;
}

void srv_fetch_free(struct srv_fetch *f)
{
    if (f == NULL)
        return;
    if (f->attached)
        (void)curl_multi_remove_handle(f->multi, f->easy);
    curl_easy_cleanup(f->easy);
    if (f->loop == NULL)
        curl_multi_cleanup(f->multi);
    free(f->window);
    free(f->backlog);
    free(f->host_key);
    curl_slist_free_all(f->headers);
    free(f->cond_url);
    if (f->inflating)
        inflateEnd(&f->zs);
    free(f->cidrs);
    free(f);
}

/* ---- push mode: the fetch loop ---- */

static void list_push(struct srv_fetch **head, struct srv_fetch *f)
{
    f->prev = NULL;
    f->next = *head;
    if (*head != NULL)
        (*head)->prev = f;
    *head = f;
}

static void list_unlink(struct srv_fetch **head, struct srv_fetch *f)
{
    if (f->prev != NULL)
        f->prev->next = f->next;
    else
        *head = f->next;
    if (f->next != NULL)
        f->next->prev = f->prev;
    f->next = f->prev = NULL;
}

/* Calls the sink's done with how the transfer ended, then frees the fetch. */
static void finish(struct srv_fetch_loop *loop, struct srv_fetch *f, bool ran, CURLcode result)
{
    enum og_err rc = OG_OK;

    if (f->attached) {
        (void)curl_multi_remove_handle(loop->multi, f->easy);
        f->attached = false;
    }
    f->done = true;
    f->result = result;
    if (!ran) {
        f->cancelled = true;
        f->result = CURLE_ABORTED_BY_CALLBACK;
        rc = failure(f);
    } else if (f->sink_err != OG_OK) {
        /* The sink (or the decoder) stopped it: its reason stands. */
        rc = f->sink_err;
    } else if (f->early_end || (result == CURLE_OK && f->final_code != 200)) {
        long code = f->final_code;

        if (code == 0 && curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
            code = 0;
        f->final_code = code;
        if (code == 304)
            rc = check_not_modified(f);
        else if (code != 200)
            snprintf(f->detail, sizeof(f->detail), "HTTP %ld", code);
    } else if (result != CURLE_OK) {
        rc = failure(f);
    } else if (f->inflating && !f->inflate_end) {
        snprintf(f->detail, sizeof(f->detail), "compressed body ends early");
        rc = OG_EIO;
    }
    f->sink->done(f->sink_arg, f, rc);
    srv_fetch_free(f);
    loop->reschedule = true;
}

static void end_running(struct srv_fetch_loop *loop, struct srv_fetch *f, CURLcode result)
{
    list_unlink(&loop->running, f);
    loop->n_running--;
    finish(loop, f, true, result);
}

/* Running transfers to the host of `f`. */
static unsigned host_running(const struct srv_fetch_loop *loop, const struct srv_fetch *f)
{
    unsigned n = 0;

    for (const struct srv_fetch *r = loop->running; r != NULL; r = r->next)
        n += strcmp(r->host_key, f->host_key) == 0;
    return n;
}

/* Starts queued fetches, oldest first, while the caps allow; a fetch whose host is at its cap
 * waits without holding back fetches to other hosts. */
static void schedule(struct srv_fetch_loop *loop)
{
    struct srv_fetch *f = loop->queued_head, *next;

    for (; f != NULL && loop->n_running < loop->max_total; f = next) {
        next = f->next;
        if (host_running(loop, f) >= loop->max_per_host)
            continue;
        /* Unlink from the queue (a list with a tail pointer). */
        if (f->prev != NULL)
            f->prev->next = f->next;
        else
            loop->queued_head = f->next;
        if (f->next != NULL)
            f->next->prev = f->prev;
        else
            loop->queued_tail = f->prev;
        f->next = f->prev = NULL;
        atomic_fetch_sub(&loop->n_queued, 1);
        if (curl_multi_add_handle(loop->multi, f->easy) != CURLM_OK) {
            finish(loop, f, true, CURLE_OUT_OF_MEMORY);
            continue;
        }
        f->attached = true;
        list_push(&loop->running, f);
        loop->n_running++;
        if (loop->n_running > atomic_load(&loop->peak_running))
            atomic_store(&loop->peak_running, loop->n_running);
    }
}

/* Moves what other threads handed over to the end of the queue, in the order it came. */
static bool take_incoming(struct srv_fetch_loop *loop)
{
    struct srv_fetch *list, *rev = NULL;
    bool stopping;

    pthread_mutex_lock(&loop->lock);
    list = loop->incoming;
    loop->incoming = NULL;
    stopping = loop->stopping;
    pthread_mutex_unlock(&loop->lock);
    while (list != NULL) {
        struct srv_fetch *next = list->next;

        list->next = rev;
        rev = list;
        list = next;
    }
    while (rev != NULL) {
        struct srv_fetch *next = rev->next;

        rev->next = NULL;
        loop->reschedule = true;
        rev->prev = loop->queued_tail;
        if (loop->queued_tail != NULL)
            loop->queued_tail->next = rev;
        else
            loop->queued_head = rev;
        loop->queued_tail = rev;
        atomic_fetch_add(&loop->n_queued, 1);
        rev = next;
    }
    return stopping;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0) {
    }
}

static void *loop_main(void *arg)
{
    struct srv_fetch_loop *loop = arg;

    while (!take_incoming(loop)) {
        int running = 0, queued = 0, timeout = 1000;
        CURLMsg *msg;

        /* Only when something changed: a queue waiting on busy hosts costs nothing per event. */
        if (loop->reschedule) {
            loop->reschedule = false;
            schedule(loop);
        }
        /*
         * Neither call fails but for lack of memory: try again a little later rather than
         * stop fetching for good (each transfer's own timeouts still end it).
         */
        if (curl_multi_perform(loop->multi, &running) != CURLM_OK) {
            nap_ms(100);
            continue;
        }
        for (msg = curl_multi_info_read(loop->multi, &queued); msg != NULL;
             msg = curl_multi_info_read(loop->multi, &queued)) {
            struct srv_fetch *f = NULL;

            if (msg->msg != CURLMSG_DONE)
                continue;
            if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&f) != CURLE_OK ||
                f == NULL)
                continue;
            if (f->boff < f->blen && msg->data.result == CURLE_OK) {
                /* All received, not all inflated: it ends once drain_backlogs() is done. */
                (void)curl_multi_remove_handle(loop->multi, f->easy);
                f->attached = false;
                f->ended = true;
                f->end_result = msg->data.result;
                continue;
            }
            list_unlink(&loop->running, f);
            loop->n_running--;
            finish(loop, f, true, msg->data.result);
            timeout = 0; /* a slot is free: start the next without sleeping */
        }
        if (drain_backlogs(loop))
            timeout = 0;
        if (timeout != 0 && curl_multi_poll(loop->multi, NULL, 0, timeout, NULL) != CURLM_OK)
            nap_ms(100);
    }
    /* Stopping: every fetch still here ends as cancelled, each done called once. */
    pthread_mutex_lock(&loop->lock);
    loop->stopping = true;
    pthread_mutex_unlock(&loop->lock);
    (void)take_incoming(loop);
    while (loop->running != NULL) {
        struct srv_fetch *f = loop->running;

        list_unlink(&loop->running, f);
        loop->n_running--;
        finish(loop, f, false, CURLE_ABORTED_BY_CALLBACK);
    }
    while (loop->queued_head != NULL) {
        struct srv_fetch *f = loop->queued_head;

        loop->queued_head = f->next;
        atomic_fetch_sub(&loop->n_queued, 1);
        finish(loop, f, false, CURLE_ABORTED_BY_CALLBACK);
    }
    loop->queued_tail = NULL;
    return NULL;
}

enum og_err srv_fetch_loop_new(const struct srv_fetch_loop_opts *o, struct srv_fetch_loop **out)
{
    struct srv_fetch_loop *loop;

    if (o->max_total == 0 || o->max_per_host == 0)
        return OG_EINVAL;
    if (srv_fetch_global_init() != OG_OK)
        return OG_EIO;
    loop = calloc(1, sizeof(*loop));
    if (loop == NULL)
        return OG_ENOMEM;
    loop->max_total = o->max_total;
    loop->max_per_host = o->max_per_host;
    loop->multi = curl_multi_init();
    if (loop->multi == NULL) {
        free(loop);
        return OG_ENOMEM;
    }
    /*
     * No connection is reused (CURLOPT_FORBID_REUSE, see fetch_new()): the cache never holds
     * one past its transfer. Its bound only matches the running transfers our queue allows.
     */
    (void)curl_multi_setopt(loop->multi, CURLMOPT_MAXCONNECTS, (long)o->max_total);
    pthread_mutex_init(&loop->lock, NULL);
    if (pthread_create(&loop->thread, NULL, loop_main, loop) != 0) {
        pthread_mutex_destroy(&loop->lock);
        curl_multi_cleanup(loop->multi);
        free(loop);
        return OG_EIO;
    }
    loop->started = true;
    *out = loop;
    return OG_OK;
}

void srv_fetch_loop_stop(struct srv_fetch_loop *loop)
{
    pthread_mutex_lock(&loop->lock);
    loop->stopping = true;
    pthread_mutex_unlock(&loop->lock);
    (void)curl_multi_wakeup(loop->multi);
}

void srv_fetch_loop_free(struct srv_fetch_loop *loop)
{
    if (loop == NULL)
        return;
    srv_fetch_loop_stop(loop);
    if (loop->started)
        pthread_join(loop->thread, NULL);
    curl_multi_cleanup(loop->multi);
    pthread_mutex_destroy(&loop->lock);
    free(loop);
}

void srv_fetch_loop_get_stats(struct srv_fetch_loop *loop, struct srv_fetch_loop_stats *out)
{
    out->peak_running = atomic_load(&loop->peak_running);
    out->queued = atomic_load(&loop->n_queued);
}

enum og_err srv_fetch_start(struct srv_fetch_loop *loop, const char *url,
                            const struct srv_fetch_opts *o, const struct srv_fetch_sink *sink,
                            void *arg, struct og_diag *diag)
{
    struct srv_fetch *f = NULL;
    enum og_err rc = fetch_new(url, o, &f, diag);
    bool stopping;

    if (rc != OG_OK)
        return rc;
    f->loop = loop;
    f->multi = loop->multi;
    f->sink = sink;
    f->sink_arg = arg;
    f->begun = true;
    pthread_mutex_lock(&loop->lock);
    stopping = loop->stopping;
    if (!stopping)
        list_push(&loop->incoming, f);
    pthread_mutex_unlock(&loop->lock);
    if (stopping) {
        srv_fetch_free(f);
        return og_diag_set(diag, OG_EIO, "fetch cancelled");
    }
    (void)curl_multi_wakeup(loop->multi);
    return OG_OK;
}
