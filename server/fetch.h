/*
 * fetch.h - bounded HTTP(S) download of a Helm repository index, pulled or pushed.
 *
 * Pull mode (srv_fetch_open()): one libcurl easy handle driven by its own multi handle.
 * Nothing runs until the consumer asks: srv_fetch_begin() pumps the transfer until the final
 * response's status is known, and srv_fetch_read() (an og_read_fn) pumps it again only when
 * the bytes already received are consumed. The body is never held whole: at most
 * SRV_FETCH_WINDOW decoded bytes sit in the fetch's window; when the consumer is behind, the
 * transfer is paused (CURL_WRITEFUNC_PAUSE) until the window drains. srv_fetch_read() blocks
 * the calling thread on the network: the CLI uses it, never an HTTP server worker.
 *
 * Push mode (srv_fetch_start(), below): every transfer on one loop thread; the body goes to a
 * sink as it arrives.
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
 * Two ways to run a fetch:
 *   pull  srv_fetch_open() + srv_fetch_begin() + srv_fetch_read(): one transfer on the
 *         calling thread, which blocks on the network (the CLI's `index analyze URL`).
 *   push  srv_fetch_start() on a struct srv_fetch_loop: one event thread drives every
 *         transfer on one curl multi handle and hands each body, decoded, to its sink as it
 *         arrives; a slow transfer holds nothing but its own socket and state, so hundreds run
 *         at once and none waits for another (the server's index cache).
 * The rules above hold for both, and so do the timeouts: each transfer has its own connect
 * and total timeouts and a low-speed limit (`low_speed_bytes` per second over
 * `low_speed_time_s` seconds) that cuts a drip-feeding server long before the total timeout.
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

/** Default low-speed limit: a transfer slower than this many bytes a second... */
#define SRV_FETCH_LOW_SPEED_BYTES 1024u
/** ...for this many seconds in a row is cut ("Operation too slow"). */
#define SRV_FETCH_LOW_SPEED_TIME_S 10u

/** Default cap on push-mode transfers running at once, in all. */
#define SRV_FETCH_MAX_TOTAL 256u
/** Default cap on push-mode transfers running at once to one scheme://host:port. */
#define SRV_FETCH_MAX_PER_HOST 64u

/** The User-Agent of every fetch. */
#define SRV_FETCH_USER_AGENT "ocigate/" OG_VERSION " (+https://github.com/ocigate/ocigate)"

/** Longest ETag kept, `W/` and quotes included; a longer one is dropped (not truncated). */
#define SRV_FETCH_ETAG_MAX 256u
/** Longest Last-Modified kept (an HTTP-date is 29 bytes); a longer one is dropped. */
#define SRV_FETCH_DATE_MAX 64u
/** Longest url validators are kept for; after a longer redirect none are kept. */
#define SRV_FETCH_VALIDATOR_URL_MAX 4096u

/**
 * The validators of a 200 response, for a conditional refresh (RFC 9110 13.1): `If-None-Match`
 * from `etag`, `If-Modified-Since` from `last_modified`. Each field is a NUL-terminated heap
 * string or NULL; srv_fetch_validators_cleanup() frees them.
 *
 * They belong to `url`, the url that answered with them - after redirects, the last one - and
 * are never good for another: a `304 Not Modified` counts only when the request that sent them
 * ends at that same url (see srv_fetch_opts.validators). A server's values are kept only when
 * they are well formed and short (an ETag is `[W/]"..."` of visible ASCII, at most
 * SRV_FETCH_ETAG_MAX bytes; a Last-Modified is an HTTP-date of at most SRV_FETCH_DATE_MAX
 * bytes; a header given twice is ambiguous): a hostile server can make us keep neither
 * control characters nor more than about 4.5 KiB.
 */
struct srv_fetch_validators {
    char *etag;          /**< as received, weak (`W/"x"`) or strong (`"x"`), or NULL */
    char *last_modified; /**< as received, or NULL */
    char *url;           /**< the url they belong to, NULL when there are none */
};

/** True when `v` has a validator to send. */
bool srv_fetch_validators_any(const struct srv_fetch_validators *v);

/** Frees the strings of `v` and sets them to NULL. */
void srv_fetch_validators_cleanup(struct srv_fetch_validators *v);

/** How a fetch may connect. Fill with srv_fetch_opts_init() and adjust; lent, not copied. */
struct srv_fetch_opts {
    uint32_t connect_timeout_ms;    /**< per connection, default 3000 */
    uint32_t timeout_ms;            /**< whole transfer, default 30000 */
    uint64_t max_bytes;             /**< decoded body cap, default 64 MiB */
    unsigned max_redirects;         /**< default 3 */
    uint32_t low_speed_bytes;       /**< see below; 0 turns the low-speed limit off */
    uint32_t low_speed_time_s;      /**< cut when slower than low_speed_bytes/s this long */
    bool guard;                     /**< SSRF guard, default true */
    const char *const *allow_hosts; /**< host names exempt from the guard, or NULL */
    size_t n_allow_hosts;
    const char *const *allow_cidrs; /**< CIDRs ("127.0.0.0/8") exempt from the guard, or NULL */
    size_t n_allow_cidrs;
    const atomic_bool *cancel; /**< pull mode: when true the transfer stops within ~100 ms */
    const char *ca_file;       /**< CA bundle instead of the system's (tests), or NULL */
    /**
     * Validators of the copy the caller holds, or NULL (default): when they have one, the
     * request is conditional and a `304 Not Modified` is an answer (srv_fetch_status() 304,
     * no body) - but only when it comes from `validators->url`; a 304 that ends at another
     * url (a redirect that moved) or that answers a request without validators is an error
     * ("HTTP 304 ..."). Copied by srv_fetch_open() / srv_fetch_start(): lent for the call.
     */
    const struct srv_fetch_validators *validators;
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
 * with srv_fetch_read(); 304 only as srv_fetch_opts.validators allows (else OG_EIO). Otherwise the
 * transfer failed (refused address, timeout, DNS, TLS, too many redirects, cancel: OG_EIO; cap
 * reached: OG_ETOOBIG) and srv_fetch_detail() says why. Blocks on the network. Call once.
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

/**
 * Fills `out` with the validators of the final 200 response: its ETag and Last-Modified when
 * well formed (see struct srv_fetch_validators; others are dropped), and the url that sent
 * them. All NULL for another status or when there are none. OG_ENOMEM (then `out` is all NULL).
 * Call after the status is known (in a sink's done(), or after srv_fetch_begin()).
 */
OG_NODISCARD enum og_err srv_fetch_get_validators(struct srv_fetch *f,
                                                  struct srv_fetch_validators *out);

/** Decoded body bytes received so far. */
uint64_t srv_fetch_bytes(const struct srv_fetch *f);

/** Connections the guard refused during this fetch. */
unsigned srv_fetch_refused(const struct srv_fetch *f);

/** Aborts the transfer if still running and frees everything. NULL is a no-op. Pull mode
 * only: a push-mode fetch is freed by its loop after its sink's done. */
void srv_fetch_free(struct srv_fetch *f);

/* ---- push mode ---- */

struct srv_fetch_loop;

/** Caps of a loop (the index cache defaults to SRV_FETCH_MAX_TOTAL, SRV_FETCH_MAX_PER_HOST). */
struct srv_fetch_loop_opts {
    unsigned max_total;    /**< transfers running at once */
    unsigned max_per_host; /**< of those, to one scheme://host:port (the url's, not a
                                redirect's) */
};

/** Counters of a loop, for tests and metrics. */
struct srv_fetch_loop_stats {
    unsigned peak_running; /**< most transfers that ran at once */
    unsigned queued;       /**< fetches waiting for a slot now */
};

/**
 * Where a push-mode fetch delivers. Both functions run on the loop thread and must not block
 * (a slow sink stalls every transfer).
 */
struct srv_fetch_sink {
    /**
     * The next `n` decoded body bytes of the final 200 response (lent for the call). Any
     * return but OG_OK stops the transfer; done() then gets that error.
     */
    enum og_err (*body)(void *arg, const char *p, size_t n);
    /**
     * Called exactly once, when the fetch ends: `rc` is OG_OK when the final response was
     * received whole (srv_fetch_status() tells which; a body was delivered only for a 200; a
     * 304 is OG_OK only as srv_fetch_opts.validators allows, else OG_EIO with a detail),
     * else as srv_fetch_read() would fail (OG_EIO, OG_ETOOBIG, or the error body() returned)
     * with srv_fetch_detail() saying why, except after a body() error. `f` is valid during
     * the call only.
     */
    void (*done)(void *arg, struct srv_fetch *f, enum og_err rc);
};

/**
 * Starts the loop thread. Fetches beyond the caps wait in a queue, oldest first (a fetch whose
 * host is at its cap does not hold back fetches to other hosts). OG_EINVAL for a zero cap,
 * OG_EIO when libcurl or the thread cannot start, OG_ENOMEM. Free with srv_fetch_loop_free().
 */
OG_NODISCARD enum og_err srv_fetch_loop_new(const struct srv_fetch_loop_opts *o,
                                            struct srv_fetch_loop **out);

/**
 * Starts fetching `url` on `loop` (thread-safe; any thread, the loop's own included). The
 * options are copied, but what they point to (allow lists, ca_file) must stay valid until
 * done(); the validators are copied. On OG_OK, sink->done(arg, ...) is called exactly once, from
 * the loop thread, maybe before this returns. Errors as srv_fetch_open(), and OG_EIO once the loop
 * is stopping; done() is then never called.
 */
OG_NODISCARD enum og_err srv_fetch_start(struct srv_fetch_loop *loop, const char *url,
                                         const struct srv_fetch_opts *o,
                                         const struct srv_fetch_sink *sink, void *arg,
                                         struct og_diag *diag);

/**
 * Stops the loop: every fetch still running or queued ends at once with OG_EIO ("fetch
 * cancelled"), its done() called from the loop thread, and srv_fetch_start() fails from now
 * on. Returns at once; srv_fetch_loop_free() waits. Idempotent, thread-safe.
 */
void srv_fetch_loop_stop(struct srv_fetch_loop *loop);

/** Stops the loop, waits until every done() has returned, and frees it. NULL is a no-op. */
void srv_fetch_loop_free(struct srv_fetch_loop *loop);

/** Copies the counters. Thread-safe. */
void srv_fetch_loop_get_stats(struct srv_fetch_loop *loop, struct srv_fetch_loop_stats *out);

#endif
