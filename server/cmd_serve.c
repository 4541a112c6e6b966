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

#include "args.h"
#include "cmd.h"
#include "fetch.h"
#include "httpd.h"
#include "index_cache.h"
#include "index_flags.h"
#include "log.h"
#include "reload.h"
#include "snapshot.h"

#include "ocigate/config.h"

#define DEFAULT_LISTEN ":8443"
#define DEFAULT_CONN_TIMEOUT_S 10
#define DEFAULT_DRAIN_S 5
#define DEFAULT_MAX_CONNS 1024
#define REQUEST_TIMEOUT_MIN_MS 100u
#define REQUEST_TIMEOUT_MAX_MS 3600000u
/*
 * libmicrohttpd's per-connection pool holds the request line, headers and the read buffer
 * (the body streams through it into the request's og_buf); it is zeroed for every request on
 * a keep-alive connection, so a larger pool costs CPU on every admission (64 KiB spent 8% of
 * the server's time in memset, 16 KiB 2%). Admission request headers are well under 2 KiB.
 */
#define CONN_MEMORY (16 * 1024)
/* --body-budget bounds: below 1Mi no normal body fits next to a few others. */
#define BODY_BUDGET_MIN ((uint64_t)1 << 20)
#define BODY_BUDGET_MAX ((uint64_t)64 << 30)

struct serve_opts {
    struct srv_httpd_opts http;
    const char *config;
    const char *mode;
    const char *max_body;
    unsigned drain_s;
    int log_level;
    struct srv_index_flags index; /* --index-*; hosts and cidrs have room for argc */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ocigate serve --tls-cert FILE --tls-key FILE [options]\n"
            "\n"
            "Serves the admission webhook over HTTPS (TLS 1.2/1.3): POST /mutate,\n"
            "POST /validate, GET /healthz, GET /readyz.\n"
            "\n"
            "options:\n"
            "  --listen ADDR:PORT   address to listen on; [V6ADDR]:PORT for IPv6, :PORT for\n"
            "                       every IPv4 address, port 0 for any free port\n"
            "                       (default: " DEFAULT_LISTEN ")\n"
            "  --tls-cert FILE      PEM serving certificate (chain) (required)\n"
            "  --tls-key FILE       PEM private key of the certificate (required)\n"
            "  --config FILE        YAML configuration (see 'ocigate config default');\n"
            "                       reloaded on SIGHUP and when the file changes\n"
            "  --mode MODE          mutate, enforce, audit or off; overrides the file\n"
            "                       (default: the file's mode, else mutate)\n"
            "  --max-body SIZE      largest request body, a size as in the file (8Mi, 8M);\n"
            "                       overrides the file's maxBodyBytes (default: 8Mi)\n"
            "  --threads N          worker threads, 1..256 (default: number of CPUs)\n"
            "  --conn-timeout S     seconds an idle or stalled connection is kept, 1..3600\n"
            "                       (default: %d)\n"
            "  --max-conns N        concurrent connections, 1..65536 (default: %d); at the\n"
            "                       cap clients wait in the listen backlog, and idle keep-alive\n"
            "                       connections, then ones without a request 1 s (or a byte\n"
            "                       200 ms) after accept, are closed for them\n"
            "  --request-timeout D  longest a request's headers and body may take to arrive,\n"
            "                       from its first byte (on a new connection from accept,\n"
            "                       TLS handshake included), 100ms..1h (default: 5s)\n"
            "  --body-budget SIZE   bytes all request bodies in flight may hold together,\n"
            "                       1Mi..64Gi, suffix Ki/Mi/Gi or k/M/G; over it: 503\n"
            "                       with Retry-After (default: 64Mi)\n"
            "  --drain S            seconds between SIGTERM (readyz turns 503) and closing\n"
            "                       the listener, 0..3600 (default: %d)\n"
            "  --log-level LEVEL    error, warn, info or debug (default: info)\n"
            "  -h, --help           show this help\n"
            "\n"
            "%s"
            "\n"
            "precedence: flags > the --config file > built-in defaults, also on reload.\n"
            "signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the config file (a bad\n"
            "file is logged and the running config stays).\n",
            DEFAULT_CONN_TIMEOUT_S, DEFAULT_MAX_CONNS, DEFAULT_DRAIN_S, srv_index_flags_usage);
}

/* Parses a flag's number into `*out`, or prints why not. */
static bool flag_uint(const char *flag, const char *val, uint64_t min, uint64_t max, unsigned *out)
{
    uint64_t v;

    if (srv_args_parse_u64(val, min, max, &v) != OG_OK) {
        fprintf(stderr, "ocigate serve: %s must be a number within %llu..%llu, not '%s'\n", flag,
                (unsigned long long)min, (unsigned long long)max, val);
        return false;
    }
    *out = (unsigned)v;
    return true;
}

/* Parses a flag's duration ("5s", "1500ms") into `*ms`, or prints why not. */
static bool flag_duration(const char *flag, const char *val, uint64_t min_ms, uint64_t max_ms,
                          uint64_t *ms)
{
    struct og_diag diag;
    uint64_t v;

    og_diag_clear(&diag);
    if (og_config_parse_duration(val, strlen(val), &v, &diag) != OG_OK) {
        fprintf(stderr, "ocigate serve: %s: %s\n", flag, diag.msg);
        return false;
    }
    if (v < min_ms || v > max_ms) {
        fprintf(stderr, "ocigate serve: %s must be within %llums..%llus, not '%s'\n", flag,
                (unsigned long long)min_ms, (unsigned long long)max_ms / 1000, val);
        return false;
    }
    *ms = v;
    return true;
}

/* Parses a flag's size (the config file's quantity syntax) into `*out`, or prints why not. */
static bool flag_size(const char *flag, const char *val, uint64_t min, uint64_t max, size_t *out)
{
    struct og_diag diag;
    uint64_t v = 0;

    og_diag_clear(&diag);
    if (og_config_parse_size(val, strlen(val), &v, &diag) != OG_OK) {
        fprintf(stderr, "ocigate serve: %s: %s\n", flag, diag.msg);
        return false;
    }
    if (v < min || v > max || v > SIZE_MAX) {
        fprintf(stderr, "ocigate serve: %s must be within %llu..%llu bytes, not '%s'\n", flag,
                (unsigned long long)min, (unsigned long long)max, val);
        return false;
    }
    *out = (size_t)v;
    return true;
}

/* Returns -1 to go on, else the exit status. */
static int parse_flags(int argc, char **argv, struct serve_opts *o)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"tls-cert", required_argument, NULL, 'c'},
        {"tls-key", required_argument, NULL, 'k'},
        {"config", required_argument, NULL, 'f'},
        {"mode", required_argument, NULL, 'm'},
        {"max-body", required_argument, NULL, 'b'},
        {"threads", required_argument, NULL, 't'},
        {"conn-timeout", required_argument, NULL, 'T'},
        {"max-conns", required_argument, NULL, 'C'},
        {"request-timeout", required_argument, NULL, 'R'},
        {"body-budget", required_argument, NULL, 'B'},
        {"drain", required_argument, NULL, 'd'},
        {"log-level", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {"index-enabled", required_argument, NULL, 1000},
        {"index-threshold", required_argument, NULL, 1001},
        {"index-ttl", required_argument, NULL, 1002},
        {"index-negative-ttl", required_argument, NULL, 1003},
        {"index-cache-entries", required_argument, NULL, 1004},
        {"index-budget-ms", required_argument, NULL, 1005},
        {"index-connect-timeout-ms", required_argument, NULL, 1006},
        {"index-timeout-ms", required_argument, NULL, 1007},
        {"index-max-bytes", required_argument, NULL, 1008},
        {"index-on-unknown", required_argument, NULL, 1009},
        {"index-allow-host", required_argument, NULL, 1010},
        {"index-allow-cidr", required_argument, NULL, 1011},
        {"index-max-fetches", required_argument, NULL, 1012},
        {"index-max-fetches-per-host", required_argument, NULL, 1013},
        {NULL, 0, NULL, 0}};
    int c;

    opterr = 0;
    optind = 1;
    for (c = getopt_long(argc, argv, ":h", longopts, NULL); c != -1;
         c = getopt_long(argc, argv, ":h", longopts, NULL)) {
        switch (c) {
        case 'l':
            o->http.listen = optarg;
            break;
        case 'c':
            o->http.cert_file = optarg;
            break;
        case 'k':
            o->http.key_file = optarg;
            break;
        case 'f':
            o->config = optarg;
            break;
        case 'm':
            o->mode = optarg;
            break;
        case 'b':
            o->max_body = optarg;
            break;
        case 't':
            if (!flag_uint("--threads", optarg, 1, 256, &o->http.threads))
                return 2;
            break;
        case 'T':
            if (!flag_uint("--conn-timeout", optarg, 1, 3600, &o->http.conn_timeout_s))
                return 2;
            break;
        case 'C':
            if (!flag_uint("--max-conns", optarg, 1, 65536, &o->http.max_conns))
                return 2;
            break;
        case 'R':
            if (!flag_duration("--request-timeout", optarg, REQUEST_TIMEOUT_MIN_MS,
                               REQUEST_TIMEOUT_MAX_MS, &o->http.request_timeout_ms))
                return 2;
            break;
        case 'B':
            if (!flag_size("--body-budget", optarg, BODY_BUDGET_MIN, BODY_BUDGET_MAX,
                           &o->http.body_budget))
                return 2;
            break;
        case 'd':
            if (!flag_uint("--drain", optarg, 0, 3600, &o->drain_s))
                return 2;
            break;
        case 'L':
            o->log_level = srv_log_parse_level(optarg);
            if (o->log_level < 0) {
                fprintf(stderr,
                        "ocigate serve: --log-level must be error, warn, info or debug, not "
                        "'%s'\n",
                        optarg);
                return 2;
            }
            break;
        case 1000:
            o->index.enabled = optarg;
            break;
        case 1001:
            o->index.threshold = optarg;
            break;
        case 1002:
            o->index.ttl = optarg;
            break;
        case 1003:
            o->index.negative_ttl = optarg;
            break;
        case 1004:
            o->index.entries = optarg;
            break;
        case 1005:
            o->index.budget = optarg;
            break;
        case 1006:
            o->index.connect_timeout = optarg;
            break;
        case 1007:
            o->index.timeout = optarg;
            break;
        case 1008:
            o->index.max_bytes = optarg;
            break;
        case 1009:
            o->index.on_unknown = optarg;
            break;
        case 1010:
            o->index.hosts[o->index.n_hosts++] = optarg;
            break;
        case 1011:
            o->index.cidrs[o->index.n_cidrs++] = optarg;
            break;
        case 1012:
            o->index.max_fetches = optarg;
            break;
        case 1013:
            o->index.max_fetches_per_host = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            fprintf(stderr, "ocigate serve: %s needs a value\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "ocigate serve: unknown option '%s'\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ocigate serve: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (o->http.cert_file == NULL || o->http.key_file == NULL) {
        fprintf(stderr, "ocigate serve: --tls-cert and --tls-key are required\n");
        return 2;
    }
    return -1;
}

/*
 * The flags that shape the configuration, checked. Precedence: a flag beats the --config
 * file, which beats the defaults (reload.h). Returns -1 or an exit status.
 */
static int config_flags(const struct serve_opts *o, struct srv_config_flags *flags)
{
    struct og_diag diag;

    memset(flags, 0, sizeof(*flags));
    flags->path = o->config;
    flags->mode = o->mode;
    if (o->max_body != NULL) {
        if (srv_args_parse_size(o->max_body, 1, (uint64_t)1 << 30, &flags->max_body) != OG_OK) {
            fprintf(stderr,
                    "ocigate serve: --max-body must be a size within 1..1Gi bytes (suffix "
                    "Ki, Mi, Gi or k, M, G), not '%s'\n",
                    o->max_body);
            return 2;
        }
        flags->has_max_body = true;
    }
    og_diag_clear(&diag);
    if (srv_index_flags_check(&o->index, &diag) != OG_OK) {
        fprintf(stderr, "ocigate serve: %s\n", diag.msg);
        return 2;
    }
    flags->index = &o->index;
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
    if (rc == OG_OK)
        return -1;
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

int srv_cmd_serve(int argc, char **argv)
{
    struct serve_opts o;
    struct og_config *cfg = NULL;
    struct srv_httpd *httpd = NULL;
    struct srv_reload *reload = NULL;
    struct srv_index_cache *cache = NULL;
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
    /* Each repeatable flag occurs at most argc times. */
    o.index.hosts = calloc((size_t)argc + 1, sizeof(*o.index.hosts));
    o.index.cidrs = calloc((size_t)argc + 1, sizeof(*o.index.cidrs));
    if (o.index.hosts == NULL || o.index.cidrs == NULL) {
        fprintf(stderr, "ocigate serve: out of memory\n");
        status = 1;
        goto out;
    }
    status = parse_flags(argc, argv, &o);
    if (status >= 0)
        goto out;
    srv_log_set_level((enum srv_log_level)o.log_level);
    malloc_tune();
    if (o.http.threads == 0) {
        cpus = sysconf(_SC_NPROCESSORS_ONLN);
        o.http.threads = cpus > 0 && cpus <= 256 ? (unsigned)cpus : 1;
    }
    status = config_flags(&o, &flags);
    if (status >= 0)
        goto out;
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

    if (srv_index_cache_new(&co, &cache) != OG_OK) {
        srv_log(SRV_LOG_ERROR, "cannot start", "error", "cannot start the index cache", NULL);
        srv_snapshot_cleanup();
        status = 1;
        goto out;
    }
    o.http.index_cache = cache;
    if (srv_reload_start(&flags, &reload) != OG_OK) {
        srv_index_cache_free(cache);
        srv_snapshot_cleanup();
        status = 1;
        goto out;
    }
    og_diag_clear(&diag);
    if (srv_httpd_start(&o.http, &httpd, &diag) != OG_OK) {
        srv_log(SRV_LOG_ERROR, "cannot start", "error", diag.msg, NULL);
        srv_reload_stop(reload);
        srv_index_cache_free(cache);
        srv_snapshot_cleanup();
        status = 1;
        goto out;
    }
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
    srv_httpd_stop(httpd);
    srv_reload_stop(reload);
    srv_index_cache_free(cache);
    srv_snapshot_cleanup();
    srv_log(SRV_LOG_INFO, "stopped", NULL);
    srv_log_batch_stop();
    status = 0;
out:
    free(o.index.hosts);
    free(o.index.cidrs);
    return status;
}
