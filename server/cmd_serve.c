/*
 * cmd_serve.c - `ocigate serve`: flags, the configuration snapshot, signals, and the HTTPS
 * daemon's life cycle (start, ready, drain, stop).
 */
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "fetch.h"
#include "httpd.h"
#include "index_cache.h"
#include "key_flags.h"
#include "log.h"
#include "metrics.h"
#include "reload.h"
#include "snapshot.h"
#include "tls.h"

#include "ocigate/config.h"

#define DEFAULT_LISTEN ":8443"
#define DEFAULT_CONN_TIMEOUT_S 10
#define DEFAULT_DRAIN_S 5
#define DEFAULT_MAX_CONNS 1024
/*
 * libmicrohttpd's per-connection pool holds the request line, headers and the read buffer
 * (the body streams through it into the request's og_buf); it is zeroed for every request on
 * a keep-alive connection, so a larger pool costs CPU on every admission (64 KiB spent 8% of
 * the server's time in memset, 16 KiB 2%). Admission request headers are well under 2 KiB.
 */
#define CONN_MEMORY (16 * 1024)

/* getopt codes of the options that are not single letters. */
enum {
    OPT_VALUE = 500,     /* + the row of value_opts[] */
    OPT_KEY_FLAG = 1000, /* + the row of srv_key_flags[] */
    OPT_RENAMED = 2000,  /* + the row of srv_key_flag_renames[] */
};

/*
 * The server's own options that take a number, size or duration (not configuration keys):
 * their values go through the file's parsers (og_config_value_parse()), with these limits,
 * which the help text states.
 */
enum value_opt {
    OPT_THREADS,
    OPT_CONN_TIMEOUT,
    OPT_MAX_CONNS,
    OPT_REQUEST_TIMEOUT,
    OPT_BODY_BUDGET,
    OPT_DRAIN,
    N_VALUE_OPTS
};

static const struct {
    const char *name;
    enum og_config_unit unit;
    uint64_t min, max;
} value_opts[N_VALUE_OPTS] = {
    [OPT_THREADS] = {"threads", OG_CONFIG_NUMBER, 1, 256},
    [OPT_CONN_TIMEOUT] = {"conn-timeout", OG_CONFIG_NUMBER, 1, 3600},
    [OPT_MAX_CONNS] = {"max-conns", OG_CONFIG_NUMBER, 1, 65536},
    [OPT_REQUEST_TIMEOUT] = {"request-timeout", OG_CONFIG_MS, 100, 3600000},
    /* Below 1Mi no normal body fits next to a few others. */
    [OPT_BODY_BUDGET] = {"body-budget", OG_CONFIG_SIZE, 1u << 20, (uint64_t)64 << 30},
    [OPT_DRAIN] = {"drain", OG_CONFIG_NUMBER, 0, 3600},
};

struct serve_opts {
    struct srv_httpd_opts http;
    struct srv_tls_paths tls;
    const char *metrics_listen; /* --metrics-listen, or NULL: no plain metrics listener */
    const char *config;
    unsigned drain_s;
    int log_level;
    struct srv_key_flag_arg *keys; /* the key flags in order; room for argc */
    size_t n_keys;
};

/* "LO..HI" of a value option, in its own notation ("100ms..1h"). */
static const char *range(enum value_opt o, char *out, size_t size)
{
    char lo[32], hi[32];

    (void)snprintf(out, size, "%s..%s",
                   og_config_value_format(value_opts[o].unit, value_opts[o].min, lo, sizeof(lo)),
                   og_config_value_format(value_opts[o].unit, value_opts[o].max, hi, sizeof(hi)));
    return out;
}

static void usage(FILE *out)
{
    char r[N_VALUE_OPTS][80], budget[32], timeout[32];

    for (int i = 0; i < N_VALUE_OPTS; i++)
        range((enum value_opt)i, r[i], sizeof(r[i]));
    fprintf(out,
            "usage: ocigate serve --tls-cert FILE --tls-key FILE [options]\n"
            "\n"
            "Serves the admission webhook over HTTPS (TLS 1.2/1.3): POST /mutate,\n"
            "POST /validate, GET /healthz, GET /readyz, GET /metrics.\n"
            "\n"
            "options:\n"
            "  --listen ADDR:PORT   address to listen on; [V6ADDR]:PORT for IPv6, :PORT for\n"
            "                       every IPv4 address, port 0 for any free port\n"
            "                       (default: " DEFAULT_LISTEN ")\n"
            "  --metrics-listen ADDR:PORT\n"
            "                       also serve GET /metrics (and nothing else) over plain\n"
            "                       HTTP on this address, same syntax as --listen\n"
            "                       (default: off; /metrics is always on the HTTPS port)\n"
            "  --tls-cert FILE      PEM serving certificate (chain) (required)\n"
            "  --tls-key FILE       PEM private key of the certificate (required)\n"
            "                       (both reloaded on SIGHUP and when a file changes; a\n"
            "                       bad new pair is logged and the running one stays)\n"
            "  --client-ca FILE     PEM CA of client certificates: the TLS handshake asks\n"
            "                       for one, /mutate and /validate answer 401 without and\n"
            "                       403 with one that does not chain to it (reloaded too)\n"
            "  --config FILE        YAML configuration (see 'ocigate config default');\n"
            "                       reloaded on SIGHUP and when the file changes\n"
            "  --threads N          worker threads, %s (default: number of CPUs)\n"
            "  --conn-timeout S     seconds an idle or stalled connection is kept, %s\n"
            "                       (default: %d)\n"
            "  --max-conns N        concurrent connections, %s (default: %d); at the\n"
            "                       cap clients wait in the listen backlog, and idle keep-alive\n"
            "                       connections, then ones without a request 1 s (or a byte\n"
            "                       200 ms) after accept, are closed for them\n"
            "  --request-timeout D  longest a request's headers and body may take to arrive,\n"
            "                       from its first byte (on a new connection from accept,\n"
            "                       TLS handshake included), %s (default: %s)\n"
            "  --body-budget SIZE   bytes all request bodies in flight may hold together,\n"
            "                       %s, suffix Ki/Mi/Gi or k/M/G; over it: 503\n"
            "                       with Retry-After (default: %s)\n"
            "  --drain S            seconds between SIGTERM (readyz turns 503) and closing\n"
            "                       the listener, %s (default: %d)\n"
            "  --log-level LEVEL    error, warn, info or debug (default: info)\n"
            "  -h, --help           show this help\n"
            "\n"
            "configuration keys: each flag sets its key of the --config file (a repeatable\n"
            "one adds to the file's list), with the same values (--index-ttl 90m,\n"
            "--max-body 8Mi) and limits:\n",
            r[OPT_THREADS], r[OPT_CONN_TIMEOUT], DEFAULT_CONN_TIMEOUT_S, r[OPT_MAX_CONNS],
            DEFAULT_MAX_CONNS, r[OPT_REQUEST_TIMEOUT],
            og_config_value_format(OG_CONFIG_MS, SRV_HTTPD_REQUEST_TIMEOUT_MS, timeout,
                                   sizeof(timeout)),
            r[OPT_BODY_BUDGET],
            og_config_value_format(OG_CONFIG_SIZE, SRV_HTTPD_BODY_BUDGET, budget, sizeof(budget)),
            r[OPT_DRAIN], DEFAULT_DRAIN_S);
    srv_key_flags_usage(out, srv_key_flags);
    fprintf(out, "\n"
                 "precedence: flags > the --config file > built-in defaults, also on reload.\n"
                 "signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the config file and\n"
                 "the TLS files (a bad file is logged and the running one stays).\n");
}

/* Parses a value option into `*out`, or prints why not (the file's message for the value). */
static bool value_opt(enum value_opt o, const char *val, uint64_t *out)
{
    struct og_diag diag;

    og_diag_clear(&diag);
    if (og_config_value_parse(value_opts[o].unit, val, strlen(val), value_opts[o].min,
                              value_opts[o].max, out, &diag) != OG_OK) {
        fprintf(stderr, "ocigate serve: --%s: %s\n", value_opts[o].name, diag.msg);
        return false;
    }
    return true;
}

/* The long options: the server's own, then one per value option, key flag and renamed flag. */
static struct option *long_options(void)
{
    static const struct option own[] = {
        {"listen", required_argument, NULL, 'l'},
        {"tls-cert", required_argument, NULL, 'c'},
        {"tls-key", required_argument, NULL, 'k'},
        {"config", required_argument, NULL, 'f'},
        {"log-level", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {"metrics-listen", required_argument, NULL, 'm'},
        {"client-ca", required_argument, NULL, 'C'},
    };
    size_t n_own = sizeof(own) / sizeof(own[0]), n_keys = 0, n_renames = 0, o;
    struct option *opts;

    while (srv_key_flags[n_keys].name != NULL)
        n_keys++;
    while (srv_key_flag_renames[n_renames].old_name != NULL)
        n_renames++;
    opts = calloc(n_own + N_VALUE_OPTS + n_keys + n_renames + 1, sizeof(*opts));
    if (opts == NULL)
        return NULL;
    memcpy(opts, own, sizeof(own));
    o = n_own;
    for (int i = 0; i < N_VALUE_OPTS; i++)
        opts[o++] = (struct option){value_opts[i].name, required_argument, NULL, OPT_VALUE + i};
    for (size_t i = 0; i < n_keys; i++)
        opts[o++] =
            (struct option){srv_key_flags[i].name, required_argument, NULL, OPT_KEY_FLAG + (int)i};
    /* A renamed flag's value is optional, so that it gets its pointer even without one. */
    for (size_t i = 0; i < n_renames; i++)
        opts[o++] = (struct option){srv_key_flag_renames[i].old_name, optional_argument, NULL,
                                    OPT_RENAMED + (int)i};
    return opts;
}

/* Stores the checked value `v` of value option `opt`. */
static void set_value_opt(enum value_opt opt, uint64_t v, struct serve_opts *o)
{
    switch (opt) {
    case OPT_THREADS:
        o->http.threads = (unsigned)v;
        break;
    case OPT_CONN_TIMEOUT:
        o->http.conn_timeout_s = (unsigned)v;
        break;
    case OPT_MAX_CONNS:
        o->http.max_conns = (unsigned)v;
        break;
    case OPT_REQUEST_TIMEOUT:
        o->http.request_timeout_ms = v;
        break;
    case OPT_BODY_BUDGET:
        o->http.body_budget = (size_t)v;
        break;
    case OPT_DRAIN:
        o->drain_s = (unsigned)v;
        break;
    case N_VALUE_OPTS:
        break;
    }
}

/* Handles one option `c` with value `val`. Returns -1 to go on, else the exit status. */
static int take_option(int c, const char *val, struct serve_opts *o)
{
    uint64_t v;

    if (c >= OPT_VALUE && c < OPT_VALUE + N_VALUE_OPTS) {
        if (!value_opt((enum value_opt)(c - OPT_VALUE), val, &v))
            return 2;
        set_value_opt((enum value_opt)(c - OPT_VALUE), v, o);
        return -1;
    }
    switch (c) {
    case 'l':
        o->http.listen = val;
        return -1;
    case 'c':
        o->tls.cert_file = val;
        return -1;
    case 'k':
        o->tls.key_file = val;
        return -1;
    case 'C':
        o->tls.client_ca_file = val;
        return -1;
    case 'f':
        o->config = val;
        return -1;
    case 'm':
        o->metrics_listen = val;
        return -1;
    case 'L':
        o->log_level = srv_log_parse_level(val);
        if (o->log_level >= 0)
            return -1;
        fprintf(stderr, "ocigate serve: --log-level must be error, warn, info or debug, not '%s'\n",
                val);
        return 2;
    default:
        break;
    }
    if (c >= OPT_RENAMED) {
        const struct srv_key_flag_rename *r = &srv_key_flag_renames[c - OPT_RENAMED];
        struct og_config_key_doc d;
        const struct srv_key_flag *f = srv_key_flag_find(r->new_name);

        if (f != NULL && og_config_key_describe(f->key, &d) == OG_OK)
            fprintf(stderr,
                    "ocigate serve: --%s was renamed to --%s, which takes a %s as the file "
                    "does (e.g. --%s %s)\n",
                    r->old_name, r->new_name, d.syntax, r->new_name, d.def);
        return 2;
    }
    /* A key flag: checked and applied with the file (srv_config_build()). */
    o->keys[o->n_keys].flag = &srv_key_flags[c - OPT_KEY_FLAG];
    o->keys[o->n_keys].value = val;
    o->n_keys++;
    return -1;
}

/* Returns -1 to go on, else the exit status. */
static int parse_flags(int argc, char **argv, struct serve_opts *o)
{
    struct option *longopts = long_options();
    int c, status = -1;

    if (longopts == NULL) {
        fprintf(stderr, "ocigate serve: out of memory\n");
        return 1;
    }
    opterr = 0;
    optind = 1;
    while (status < 0) {
        c = getopt_long(argc, argv, ":h", longopts, NULL);
        if (c == -1)
            break;
        if (c == 'h') {
            usage(stdout);
            status = 0;
        } else if (c == ':') {
            fprintf(stderr, "ocigate serve: %s needs a value\n", argv[optind - 1]);
            status = 2;
        } else if (c == '?') {
            fprintf(stderr, "ocigate serve: unknown option '%s'\n", argv[optind - 1]);
            usage(stderr);
            status = 2;
        } else {
            status = take_option(c, optarg, o);
        }
    }
    free(longopts);
    if (status >= 0)
        return status;
    if (optind < argc) {
        fprintf(stderr, "ocigate serve: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (o->tls.cert_file == NULL || o->tls.key_file == NULL) {
        fprintf(stderr, "ocigate serve: --tls-cert and --tls-key are required\n");
        return 2;
    }
    return -1;
}

/* The first configuration snapshot. Returns -1 or an exit status. */
static int make_config(const struct srv_config_flags *flags, struct og_config **out)
{
    struct og_diag diag;
    char line[1024];
    enum og_err rc;

    og_diag_clear(&diag);
    rc = srv_config_build(flags, out, &diag);
    if (rc == OG_OK) {
        srv_config_warn_conflicts(*out, flags->path);
        return -1;
    }
    if (diag.msg[0] == '\0')
        og_diag_set(&diag, rc, "%s", og_strerror(rc));
    fprintf(stderr, "ocigate serve: %s\n", og_diag_format(&diag, line, sizeof(line)));
    return rc == OG_EINVAL || rc == OG_EPARSE || rc == OG_ETOOBIG ? 2 : 1;
}

/*
 * Waits up to `seconds` for the drain period to pass; a second SIGTERM/SIGINT cuts it short.
 * Other signals that arrive meanwhile are consumed.
 */
static void drain_wait(const sigset_t *set, unsigned seconds)
{
    struct timespec end, now, left;

    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += (time_t)seconds;
    for (;;) {
        int sig;

        clock_gettime(CLOCK_MONOTONIC, &now);
        left.tv_sec = end.tv_sec - now.tv_sec;
        left.tv_nsec = end.tv_nsec - now.tv_nsec;
        if (left.tv_nsec < 0) {
            left.tv_sec--;
            left.tv_nsec += 1000000000L;
        }
        if (left.tv_sec < 0)
            return;
        sig = sigtimedwait(set, NULL, &left);
        if (sig == SIGTERM || sig == SIGINT) {
            srv_log(SRV_LOG_WARN, "second stop signal: ending the drain period early", NULL);
            return;
        }
    }
}

/* Serves until SIGTERM or SIGINT; SIGHUP hands a reload to the watcher thread. */
static void signal_loop(const sigset_t *set, struct srv_reload *reload)
{
    for (;;) {
        int sig = 0;

        if (sigwait(set, &sig) != 0)
            continue;
        switch (sig) {
        case SIGTERM:
        case SIGINT:
            srv_log(SRV_LOG_INFO, "stop requested", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                    NULL);
            return;
        case SIGHUP:
            srv_log(SRV_LOG_INFO, "reload requested", NULL);
            srv_reload_request(reload);
            break;
        default:
            break; /* SIGPIPE: write errors are handled where they happen */
        }
    }
}

/*
 * Large buffers (request bodies, index reads) come from mmap and go back to the kernel when
 * freed. glibc otherwise raises its mmap threshold after each such free (up to 32 MiB), so the
 * next ones came from per-thread heaps that keep what they once held: rounds of 100 x 8 MiB
 * chunked bodies against the 64Mi body budget left 138 MB resident and peaked at 163 MB, past
 * the pod's limit. Setting the threshold fixes it (glibc stops adjusting it).
 */
static void malloc_tune(void)
{
#ifdef __GLIBC__
    (void)mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
}

/*
 * The plain-HTTP metrics listener of --metrics-listen: the same daemon set-up as the HTTPS
 * one (connection cap, timeouts, request deadline), without TLS, serving GET /metrics only,
 * on one worker thread with a smaller cap (a scraper keeps one or two connections).
 */
#define METRICS_MAX_CONNS 64u

static enum og_err start_metrics(const struct serve_opts *o, struct srv_httpd **out,
                                 struct og_diag *diag)
{
    struct srv_httpd_opts m = o->http;

    m.listen = o->metrics_listen;
    m.metrics_only = true;
    m.index_cache = NULL;
    m.tls = NULL;
    m.threads = 1;
    m.max_conns = o->http.max_conns < METRICS_MAX_CONNS ? o->http.max_conns : METRICS_MAX_CONNS;
    m.body_budget = (size_t)1 << 20; /* GET requests: no body is kept */
    return srv_httpd_start(&m, out, diag);
}

/* The serving certificate's figures for /metrics (a srv_metrics_cert_fn): tls.h's atomics. */
static bool cert_metrics(void *arg, struct srv_metrics_cert *out)
{
    struct srv_tls_stats s;

    (void)arg;
    srv_tls_stats_get(&s);
    if (s.not_after == 0)
        return false;
    out->not_after = s.not_after;
    out->reloads_ok = s.reloads_ok;
    out->reloads_failed = s.reloads_error;
    return true;
}

int srv_cmd_serve(int argc, char **argv)
{
    struct serve_opts o;
    struct og_config *cfg = NULL;
    struct srv_httpd *httpd = NULL, *metrics = NULL;
    struct srv_reload *reload = NULL;
    struct srv_index_cache *cache = NULL;
    struct srv_tls *tls = NULL;
    struct srv_index_cache_opts co;
    struct srv_config_flags flags;
    const char *mode_name;
    struct og_diag diag;
    sigset_t set;
    char threads[16], drain[16];
    long cpus;
    int status;

    memset(&o, 0, sizeof(o));
    o.http.listen = DEFAULT_LISTEN;
    o.http.conn_timeout_s = DEFAULT_CONN_TIMEOUT_S;
    o.http.max_conns = DEFAULT_MAX_CONNS;
    o.http.request_timeout_ms = SRV_HTTPD_REQUEST_TIMEOUT_MS;
    o.http.conn_memory = CONN_MEMORY;
    o.http.body_budget = SRV_HTTPD_BODY_BUDGET;
    o.drain_s = DEFAULT_DRAIN_S;
    o.log_level = SRV_LOG_INFO;
    /* Each key flag occurs at most argc times. */
    o.keys = calloc((size_t)argc + 1, sizeof(*o.keys));
    if (o.keys == NULL) {
        fprintf(stderr, "ocigate serve: out of memory\n");
        status = 1;
        goto out;
    }
    status = parse_flags(argc, argv, &o);
    if (status >= 0)
        goto out;
    srv_log_set_level((enum srv_log_level)o.log_level);
    srv_metrics_init();
    malloc_tune();
    if (o.http.threads == 0) {
        cpus = sysconf(_SC_NPROCESSORS_ONLN);
        o.http.threads = cpus > 0 && cpus <= 256 ? (unsigned)cpus : 1;
    }
    memset(&flags, 0, sizeof(flags));
    flags.path = o.config;
    flags.args = o.keys;
    flags.n_args = o.n_keys;
    status = make_config(&flags, &cfg);
    if (status >= 0)
        goto out;
    if (srv_fetch_global_init() != OG_OK) {
        srv_log(SRV_LOG_ERROR, "cannot start", "error", "libcurl initialization failed", NULL);
        og_config_unref(cfg);
        status = 1;
        goto out;
    }
    /* The entry bound and the fetch caps are fixed here; TTLs and fetch settings follow each
     * admission's snapshot, reloads included (index_cache.h). */
    srv_index_cache_opts_init(&co, cfg);
    /* The TLS floor is read once: the listener's credentials are set up at start. */
    o.http.tls13_only = cfg->tls_min_version == OG_TLS_1_3;
    /* Read before the watcher starts: from then on a reload may free `cfg`. */
    mode_name = og_mode_name(cfg->mode);
    srv_snapshot_init(cfg);
    cfg = NULL;

    /* Every thread libmicrohttpd and the index cache start inherit this mask; only sigwait()
     * sees them. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    /* The credentials are checked and logged before anything else starts. */
    og_diag_clear(&diag);
    if (srv_tls_new(&o.tls, &tls, &diag) != OG_OK) {
        srv_log(SRV_LOG_ERROR, "cannot start", "error", diag.msg, NULL);
        srv_snapshot_cleanup();
        status = 1;
        goto out;
    }
    o.http.tls = tls;
    if (srv_index_cache_new(&co, &cache) != OG_OK) {
        srv_log(SRV_LOG_ERROR, "cannot start", "error", "cannot start the index cache", NULL);
        srv_tls_free(tls);
        srv_snapshot_cleanup();
        status = 1;
        goto out;
    }
    o.http.index_cache = cache;
    if (srv_reload_start(&flags, tls, &reload) != OG_OK) {
        srv_index_cache_free(cache);
        srv_tls_free(tls);
        srv_snapshot_cleanup();
        status = 1;
        goto out;
    }
    srv_metrics_set_index_cache(cache);
    srv_metrics_set_reload(reload);
    srv_metrics_set_cert_source(cert_metrics, NULL);
    og_diag_clear(&diag);
    if (srv_httpd_start(&o.http, &httpd, &diag) != OG_OK ||
        (o.metrics_listen != NULL && start_metrics(&o, &metrics, &diag) != OG_OK)) {
        srv_log(SRV_LOG_ERROR, "cannot start", "error", diag.msg, NULL);
        srv_httpd_stop(httpd);
        srv_metrics_set_index_cache(NULL);
        srv_metrics_set_reload(NULL);
        srv_metrics_set_cert_source(NULL, NULL);
        srv_reload_stop(reload);
        srv_index_cache_free(cache);
        srv_tls_free(tls);
        srv_snapshot_cleanup();
        status = 1;
        goto out;
    }
    srv_metrics_set_httpd(httpd);
    if (metrics != NULL)
        srv_log(SRV_LOG_INFO, "metrics listening", "addr", srv_httpd_addr(metrics), NULL);
    (void)snprintf(threads, sizeof(threads), "%u", o.http.threads);
    (void)snprintf(drain, sizeof(drain), "%u", o.drain_s);
    srv_log(SRV_LOG_INFO, "listening", "addr", srv_httpd_addr(httpd), "mode", mode_name, "config",
            o.config, "threads", threads, "version", OG_VERSION, NULL);
    /* The admission log lines are batched from here on (one write per line costs as much
     * as a tenth of an admission under load). */
    if (srv_log_batch_start() != 0)
        srv_log(SRV_LOG_WARN, "log batching unavailable: writing line by line", NULL);

    signal_loop(&set, reload);

    srv_httpd_set_draining(httpd);
    srv_log(SRV_LOG_INFO, "draining", "seconds", drain, NULL);
    drain_wait(&set, o.drain_s);
    srv_httpd_quiesce(httpd);
    /* Resumes every admission parked on a fetch (they answer as past the budget) and cancels
     * the fetches; the cache is freed only once the daemon, which calls it, is gone. */
    srv_index_cache_stop(cache);
    /* A stalled client is cut by the connection timeout, so this wait is bounded too. */
    if (!srv_httpd_wait_idle(httpd, (o.http.conn_timeout_s + 1) * 1000u))
        srv_logf(SRV_LOG_WARN, "stopping with %u requests in flight", srv_httpd_inflight(httpd));
    /* The metrics listener serves through the drain; it goes with the HTTPS daemon, before
     * the sources it reads. */
    srv_metrics_set_httpd(NULL);
    srv_httpd_stop(httpd);
    srv_httpd_stop(metrics);
    srv_metrics_set_index_cache(NULL);
    srv_metrics_set_reload(NULL);
    srv_metrics_set_cert_source(NULL, NULL);
    srv_reload_stop(reload);
    srv_index_cache_free(cache);
    /* Every connection has let go of its credentials by now. */
    srv_tls_free(tls);
    srv_snapshot_cleanup();
    srv_log(SRV_LOG_INFO, "stopped", NULL);
    srv_log_batch_stop();
    status = 0;
out:
    free(o.keys);
    return status;
}
