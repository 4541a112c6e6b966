/*
 * fetch.h - bounded HTTP(S) download of a Helm repository index, read as a pull stream.
 *
 * A fetch is one libcurl easy handle driven by its own multi handle. Nothing runs until the
 * consumer asks: srv_fetch_begin() pumps the transfer until the final response's status is
 * known, and srv_fetch_read() (an og_read_fn) pumps it again only when the bytes already
 * received are consumed. The body is never held whole: at most SRV_FETCH_WINDOW decoded bytes
 * sit in the fetch's window; when the consumer is behind, the transfer is paused
 * (CURL_WRITEFUNC_PAUSE) until the window drains. This keeps memory bounded whatever the
 * size of the index, and makes srv_fetch_read() block the calling thread on the network: call
 * it on a fetch thread, never on an HTTP server worker.
 *
 * Transfer rules, always on: http and https only (also for redirects), at most
 * `max_redirects` redirects, connect and total timeouts, a cap on the decoded body (also
 * refused up front when Content-Length announces more), gzip/deflate accepted, system CA
 * certificates, no proxy (a proxy would connect on our behalf and bypass the guard), no
 * credentials (no .netrc, no authentication, urls with user:password are refused), no cookies.
 *
 * The SSRF guard (opts.guard, default on) judges the peer address of every connection libcurl
 * opens - the first one, each one after a redirect, each happy-eyeballs attempt - in
 * CURLOPT_OPENSOCKETFUNCTION, before the socket exists. This is what defeats DNS rebinding:
 * the address checked is the very sockaddr libcurl then connects to, taken after name
 * resolution, so no later DNS answer can swap it, and a name that resolved to a public
 * address for a first check and to 169.254.169.254 for the connect cannot slip through the
 * way a check on the resolved name before the transfer would. A refused address is never
 * connected to; the fetch then fails with the detail "address 10.0.0.1 is not allowed".
 * Exceptions come only from the options: `allow_cidrs` (the connected address lies inside
 * one) and `allow_hosts` (the host of the url being connected, exact and case-insensitive).
 *
 * Thread safety: a struct srv_fetch is used by one thread at a time. Different fetches run
 * in parallel on different threads; srv_fetch_global_init() must have returned first.
 */
#ifndef SRV_FETCH_H
#define SRV_FETCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ocigate/config.h"
#include "ocigate/err.h"

/** Most decoded body bytes a fetch buffers ahead of its consumer. */
#define SRV_FETCH_WINDOW (128u * 1024u)

/** The User-Agent of every fetch. */
#define SRV_FETCH_USER_AGENT "ocigate/" OG_VERSION " (+https://github.com/ocigate/ocigate)"

/** How a fetch may connect. Fill with srv_fetch_opts_init() and adjust; lent, not copied. */
struct srv_fetch_opts {
    uint32_t connect_timeout_ms;    /**< per connection, default 3000 */
    uint32_t timeout_ms;            /**< whole transfer, default 30000 */
    uint64_t max_bytes;             /**< decoded body cap, default 64 MiB */
    unsigned max_redirects;         /**< default 3 */
    bool guard;                     /**< SSRF guard, default true */
    const char *const *allow_hosts; /**< host names exempt from the guard, or NULL */
    size_t n_allow_hosts;
    const char *const *allow_cidrs; /**< CIDRs ("127.0.0.0/8") exempt from the guard, or NULL */
    size_t n_allow_cidrs;
    const atomic_bool *cancel; /**< when set to true the transfer stops within ~100 ms */
    const char *ca_file;       /**< CA bundle instead of the system's (tests), or NULL */
};

struct srv_fetch;

/**
 * Initializes libcurl once for the process (srv_fetch_open() also calls it; calling it before
 * starting threads keeps that first call off the request path). Idempotent, thread-safe.
 */
OG_NODISCARD enum og_err srv_fetch_global_init(void);

/** Sets the defaults listed in struct srv_fetch_opts. */
void srv_fetch_opts_init(struct srv_fetch_opts *o);

/**
 * Sets the options of `o` from index settings `s` (timeouts, cap, allow lists; the lists are
 * lent from `s`, which must outlive the fetch). The guard stays on.
 */
void srv_fetch_opts_from_settings(struct srv_fetch_opts *o, const struct og_index_settings *s);

/**
 * Prepares a fetch of `url` (the file itself). Nothing is sent yet. OG_EINVAL with a message
 * in `diag` (may be NULL) for a url that is not absolute http(s), carries credentials, or
 * for an invalid CIDR in the options; OG_EIO when libcurl cannot be initialized; OG_ENOMEM. On
 * success `*out` is a new fetch that the caller frees with srv_fetch_free(); on failure `*out` is
 * untouched.
 */
OG_NODISCARD enum og_err srv_fetch_open(const char *url, const struct srv_fetch_opts *o,
                                        struct srv_fetch **out, struct og_diag *diag);

/**
 * Runs the transfer until the final response's headers arrived (redirects followed) or the
 * transfer ended. OG_OK: srv_fetch_status() gives the status; when it is 200 the body is read
 * with srv_fetch_read(). Otherwise the transfer failed (refused address, timeout, DNS, TLS,
 * too many redirects, cancel: OG_EIO; cap reached: OG_ETOOBIG) and srv_fetch_detail() says
 * why. Blocks on the network. Call once.
 */
OG_NODISCARD enum og_err srv_fetch_begin(struct srv_fetch *f);

/**
 * og_read_fn over the body of a 200 response (`ctx` is the struct srv_fetch): fills `buf`
 * with up to `cap` decoded bytes, `*n == 0` at the end. OG_EIO / OG_ETOOBIG when the transfer
 * fails midway (srv_fetch_detail() says why). Reading a non-200 response gives its end at
 * once. Blocks on the network.
 */
enum og_err srv_fetch_read(void *ctx, char *buf, size_t cap, size_t *n);

/** HTTP status of the final response, 0 when none arrived. */
long srv_fetch_status(const struct srv_fetch *f);

/**
 * A short reason when the fetch failed or the status is not 200 ("HTTP 404", "address
 * 10.0.0.1 is not allowed", "timed out after 30000 ms", ...), else NULL. Lent until the
 * fetch is freed or next pumped.
 */
const char *srv_fetch_detail(const struct srv_fetch *f);

/** Decoded body bytes received so far. */
uint64_t srv_fetch_bytes(const struct srv_fetch *f);

/** Connections the guard refused during this fetch. */
unsigned srv_fetch_refused(const struct srv_fetch *f);

/** Aborts the transfer if still running and frees everything. NULL is a no-op. */
void srv_fetch_free(struct srv_fetch *f);

#endif
