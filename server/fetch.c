#include "fetch.h"

#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <zlib.h>

#include "ocigate/netaddr.h"

/* How long one curl_multi_poll() may sleep, so that a cancel request is seen quickly. */
#define POLL_SLICE_MS 100

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
    struct curl_slist *headers; /* Accept-Encoding */
    bool inflating;             /* the body is gzip or deflate: srv_fetch_read inflates */
    bool inflate_end;           /* the compressed stream ended */
    z_stream zs;                /* valid while inflating */
    size_t off, len;            /* unread bytes are window[off..len) */
    char window[SRV_FETCH_WINDOW];
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
    char *url = NULL, *host = NULL;
    CURLU *u = NULL;
    bool ok = false;

    if (f->opts.n_allow_hosts == 0)
        return false;
    /* During a redirect the effective url is already the new one when its connection opens. */
    if (curl_easy_getinfo(f->easy, CURLINFO_EFFECTIVE_URL, &url) != CURLE_OK || url == NULL)
        goto out;
    u = curl_url();
    if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto out;
    for (size_t i = 0; i < f->opts.n_allow_hosts && !ok; i++) {
        const char *want = f->opts.allow_hosts[i];
        size_t hlen = strlen(host);

        /* libcurl gives an IPv6 literal in brackets; the allow list may hold it either way. */
        if (host[0] == '[' && hlen >= 2 && want[0] != '[')
            ok = strlen(want) == hlen - 2 && strncasecmp(host + 1, want, hlen - 2) == 0;
        else
            ok = strcasecmp(host, want) == 0;
    }
out:
    curl_free(host);
    curl_url_cleanup(u);
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

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    struct srv_fetch *f = ud;
    size_t n = size * nmemb;

    if (f->final_code != 200)
        return n; /* a redirect's or an error's body: not the index */
    if (n > f->opts.max_bytes - f->received) {
        f->too_big = true;
        return 0; /* CURLE_WRITE_ERROR */
    }
    if (f->off == f->len)
        f->off = f->len = 0;
    if (n > sizeof(f->window) - f->len && f->off > 0) {
        memmove(f->window, f->window + f->off, f->len - f->off);
        f->len -= f->off;
        f->off = 0;
    }
    if (n > sizeof(f->window) - f->len) {
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

enum og_err srv_fetch_open(const char *url, const struct srv_fetch_opts *o, struct srv_fetch **out,
                           struct og_diag *diag)
{
    struct srv_fetch *f = NULL;
    CURLU *u = NULL;
    char *scheme = NULL, *user = NULL, *password = NULL;
    enum og_err rc = OG_ENOMEM;
    bool ok = true;

    if (srv_fetch_global_init() != OG_OK) {
        rc = og_diag_set(diag, OG_EIO, "libcurl cannot be initialized");
        goto out;
    }
    u = curl_url();
    if (u == NULL)
        goto out;
    /* Parse as libcurl will, so that what we check is what it fetches. */
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
        rc = og_diag_set(diag, OG_EINVAL, "'%s' is not an absolute url", url);
        goto out;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        rc = og_diag_set(diag, OG_EINVAL, "scheme '%s' is not fetched (http and https only)",
                         scheme);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_PASSWORD, &password, 0) == CURLUE_OK) {
        rc = og_diag_set(diag, OG_EINVAL, "urls with credentials are not fetched");
        goto out;
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        goto out;
    f->opts = *o;
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
    f->multi = curl_multi_init();
    if (f->easy == NULL || f->multi == NULL)
        goto out;

    CURL *e = f->easy;
    ok &= curl_easy_setopt(e, CURLOPT_URL, url) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)o->max_redirects) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms) == CURLE_OK;
    if (o->max_bytes <= (uint64_t)INT64_MAX)
        ok &= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_bytes) == CURLE_OK;
    /*
     * gzip and deflate are asked for, but decoded here (srv_fetch_read), not by libcurl:
     * libcurl keeps everything it decodes while a transfer is paused, so a small compressed
     * body would sit decompressed in memory, up to 64 MiB, past our window and our cap.
     */
    f->headers = curl_slist_append(NULL, "Accept-Encoding: gzip, deflate");
    ok &= f->headers != NULL;
    ok &= curl_easy_setopt(e, CURLOPT_HTTPHEADER, f->headers) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_HTTP_CONTENT_DECODING, 0L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_USERAGENT, SRV_FETCH_USER_AGENT) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_UNRESTRICTED_AUTH, 0L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_PROXY, "") == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
    if (o->ca_file != NULL)
        ok &= curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, f->errbuf) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, f) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_HEADERDATA, f) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_WRITEDATA, f) == CURLE_OK;
    if (!ok) {
        rc = og_diag_set(diag, OG_EINVAL, "libcurl refused an option (built without http?)");
        goto out;
    }
    if (curl_multi_add_handle(f->multi, f->easy) != CURLM_OK)
        goto out;
    f->attached = true;
    *out = f;
    f = NULL;
    rc = OG_OK;
out:
    curl_free(scheme);
    curl_free(user);
    curl_free(password);
    curl_url_cleanup(u);
    srv_fetch_free(f);
    return rc;
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

enum og_err srv_fetch_begin(struct srv_fetch *f)
{
    f->begun = true;
    pump(f, true);
    if (f->final_code != 0) {
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
    curl_multi_cleanup(f->multi);
    curl_slist_free_all(f->headers);
    if (f->inflating)
        inflateEnd(&f->zs);
    free(f->cidrs);
    free(f);
}
