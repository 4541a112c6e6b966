#include "reload.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config_file.h"
#include "key_flags.h"
#include "log.h"
#include "snapshot.h"
#include "tls.h"

#include "ocigate/buf.h"

/* A burst of events (an editor's save, a ConfigMap swap) settles within this. */
#define DEBOUNCE_MS 150
/* How often a lost directory watch (directory removed or renamed) is tried again. */
#define REWATCH_MS 1000
/*
 * Only events after which the file is whole: a write closed, or a file (or the ConfigMap's
 * ..data symlink) renamed into place. A creation or an attribute change may come while the
 * file is still being written, and a half-written file must never be taken for the new one.
 */
#define WATCH_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF)
/* How often the TLS credentials are looked at without an event (expiry warning, srv_tls_tick). */
#define TLS_TICK_MS 60000

/* What a changed file reloads. */
enum { WHAT_CONFIG = 1, WHAT_TLS = 2 };

/* The config file, the certificate, the key, the client CA. */
#define MAX_FILES 4

/*
 * A watched file: its directory is watched (files in the same directory share inotify's watch
 * descriptor, as inotify_add_watch() returns the same one for the same directory).
 */
struct watched {
    char *path;       /* owned copy */
    char *dir;        /* owned: the directory watched */
    const char *base; /* the file's name within `dir` (points into `path`) */
    int wd;           /* the directory watch, or -1 while it is lost */
    unsigned what;    /* WHAT_CONFIG or WHAT_TLS */
};

struct srv_reload {
    struct srv_config_flags flags; /* its path is `path`, an owned copy */
    char *path;                    /* the config file (files[0].path), or NULL */
    struct srv_tls *tls;           /* lent: the TLS credentials to reload, or NULL */
    struct watched files[MAX_FILES];
    size_t n_files;
    int wake_fd; /* eventfd: reload requests and stop */
    int ino_fd;  /* inotify, or -1 without a file to watch */
    pthread_t thread;
    bool started;
    atomic_bool stop;
    atomic_ulong done;
    atomic_ulong rejected;
};

enum og_err srv_config_build(const struct srv_config_flags *flags, struct og_config **out,
                             struct og_diag *diag)
{
    struct og_config *cfg = NULL;
    enum og_err rc;

    /* The flags go on the defaults first: without a file that is the snapshot, with one it
     * reports a bad flag even when the file is bad too. */
    rc = og_config_new(&cfg);
    if (rc == OG_OK)
        rc = srv_key_flags_apply(flags->args, flags->n_args, cfg, diag);
    if (rc == OG_OK && flags->path != NULL) {
        og_config_unref(cfg);
        cfg = NULL;
        rc = srv_config_load(flags->path, &cfg, diag);
        if (rc == OG_OK)
            rc = srv_key_flags_apply(flags->args, flags->n_args, cfg, diag);
    }
    if (rc != OG_OK) {
        og_config_unref(cfg);
        return rc;
    }
    *out = cfg;
    return OG_OK;
}

void srv_config_warn_conflicts(const struct og_config *cfg, const char *file)
{
    char msg[512];

    if (og_config_has_conflict(cfg, msg, sizeof(msg)))
        srv_log(SRV_LOG_WARN, "settings contradict each other", "file", file, "warning", msg, NULL);
}

/* True when both snapshots format to the same effective configuration. */
static bool same_config(const struct og_config *a, const struct og_config *b)
{
    struct og_buf ta, tb;
    bool same;

    og_buf_init(&ta, 64u << 20);
    og_buf_init(&tb, 64u << 20);
    same = og_config_format(a, &ta) == OG_OK && og_config_format(b, &tb) == OG_OK &&
           ta.len == tb.len && memcmp(ta.ptr, tb.ptr, ta.len) == 0;
    og_buf_cleanup(&ta);
    og_buf_cleanup(&tb);
    return same;
}

/* True when `path` is an empty file (or holds only whitespace and comments). */
static bool file_is_empty(const char *path)
{
    char buf[4096];
    bool empty = true, comment = false;
    size_t n;
    FILE *f = fopen(path, "rb");

    if (f == NULL)
        return false;
    for (n = fread(buf, 1, sizeof(buf), f); empty && n > 0; n = fread(buf, 1, sizeof(buf), f)) {
        for (size_t i = 0; i < n && empty; i++) {
            char c = buf[i];

            if (comment)
                comment = c != '\n';
            else if (c == '#')
                comment = true;
            else if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
                empty = false;
        }
    }
    fclose(f);
    return empty;
}

/*
 * The index cache's entry bound and fetch caps are read once, when the cache starts
 * (cmd_serve.c): a reload that changes one says so instead of seeming to apply it.
 */
static void warn_start_only(const struct og_config *cfg, const struct og_config *cur,
                            const char *path)
{
    const struct {
        const char *key;
        uint32_t now, was;
    } keys[] = {
        {"index.cacheEntries", cfg->index.cache_entries, cur->index.cache_entries},
        {"index.maxFetches", cfg->index.max_fetches, cur->index.max_fetches},
        {"index.maxFetchesPerHost", cfg->index.max_fetches_per_host,
         cur->index.max_fetches_per_host},
    };

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char value[24];

        if (keys[i].now == keys[i].was)
            continue;
        (void)snprintf(value, sizeof(value), "%" PRIu32, keys[i].now);
        srv_log(SRV_LOG_WARN, "a key read at start changed; it takes effect at the next start",
                "file", path, "key", keys[i].key, "value", value, NULL);
    }
}

static void reload(struct srv_reload *r, const char *trigger)
{
    struct og_config *cfg = NULL, *cur = NULL;
    struct og_diag diag;
    char line[1024];
    enum og_err rc;
    struct stat st;

    og_diag_clear(&diag);
    /* Only a regular file is reloaded: opening a FIFO in its place would wait for a writer,
     * blocking every later reload and SIGTERM (a pipe is fine at start, from a shell). */
    if (r->path != NULL && stat(r->path, &st) == 0 && !S_ISREG(st.st_mode))
        rc = og_diag_set(&diag, OG_EINVAL, "%s: not a regular file", r->path);
    else
        rc = srv_config_build(&r->flags, &cfg, &diag);
    if (rc == OG_OK && r->path != NULL && file_is_empty(r->path)) {
        /* Valid YAML (all defaults), but on a reload far more likely a file being replaced:
         * taking it would silently drop every exemption. */
        rc = og_diag_set(&diag, OG_EINVAL, "%s is empty; an empty file is only read at start",
                         r->path);
    }
    if (rc != OG_OK) {
        if (diag.msg[0] == '\0')
            og_diag_set(&diag, rc, "%s", og_strerror(rc));
        srv_log(SRV_LOG_ERROR, "config reload rejected; keeping the running config", "trigger",
                trigger, "file", r->path, "error", og_diag_format(&diag, line, sizeof(line)), NULL);
        atomic_fetch_add(&r->rejected, 1);
        goto out;
    }
    cur = srv_snapshot_acquire();
    if (same_config(cfg, cur)) {
        srv_log(strcmp(trigger, "SIGHUP") == 0 ? SRV_LOG_INFO : SRV_LOG_DEBUG, "config unchanged",
                "trigger", trigger, "file", r->path, NULL);
        goto out;
    }
    if (cfg->tls_min_version != cur->tls_min_version)
        srv_log(SRV_LOG_WARN, "tls.minVersion changed; it takes effect at the next start", "file",
                r->path, "minVersion", og_tls_version_name(cfg->tls_min_version), NULL);
    warn_start_only(cfg, cur, r->path);
    srv_config_warn_conflicts(cfg, r->path);
    srv_log(SRV_LOG_INFO, "config reloaded", "trigger", trigger, "file", r->path, "mode",
            og_mode_name(cfg->mode), NULL);
    srv_snapshot_swap(cfg);
    cfg = NULL;
out:
    og_config_unref(cur);
    og_config_unref(cfg);
    atomic_fetch_add(&r->done, 1);
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Watches the directory of every file whose watch is lost; returns what came back. */
static unsigned add_watches(struct srv_reload *r)
{
    unsigned back = 0;

    for (size_t i = 0; i < r->n_files; i++) {
        struct watched *w = &r->files[i];

        if (w->wd >= 0)
            continue;
        w->wd = inotify_add_watch(r->ino_fd, w->dir, WATCH_MASK);
        if (w->wd >= 0)
            back |= w->what;
    }
    return back;
}

static bool any_lost(const struct srv_reload *r)
{
    for (size_t i = 0; i < r->n_files; i++) {
        if (r->files[i].wd < 0)
            return true;
    }
    return false;
}

/* Marks every file watched through `wd` as lost. */
static void lose_watch(struct srv_reload *r, int wd)
{
    bool found = false;

    for (size_t i = 0; i < r->n_files; i++) {
        if (r->files[i].wd == wd) {
            if (!found)
                srv_log(SRV_LOG_WARN, "config watcher: directory watch lost; retrying", "dir",
                        r->files[i].dir, NULL);
            found = true;
            r->files[i].wd = -1;
        }
    }
    if (found)
        inotify_rm_watch(r->ino_fd, wd);
}

/*
 * Reads the pending inotify events; returns what they may change (WHAT_*): an event on a
 * watched file's own name, or on `..data` in its directory (the Kubernetes ConfigMap and
 * Secret volumes' symlink swap).
 */
static unsigned drain_events(struct srv_reload *r)
{
    /* Aligned as inotify(7) asks, room for many events per read. */
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    unsigned relevant = 0;

    for (;;) {
        ssize_t n = read(r->ino_fd, buf, sizeof(buf));

        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(void *)p;

            if (ev->mask & IN_Q_OVERFLOW) {
                relevant |= WHAT_CONFIG | WHAT_TLS; /* events were lost: check anyway */
            } else if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
                lose_watch(r, ev->wd);
            } else if (ev->len > 0) {
                for (size_t i = 0; i < r->n_files; i++) {
                    const struct watched *w = &r->files[i];

                    if (w->wd == ev->wd &&
                        (strcmp(ev->name, w->base) == 0 || strcmp(ev->name, "..data") == 0))
                        relevant |= w->what;
                }
            }
            p += sizeof(struct inotify_event) + ev->len;
        }
    }
    return relevant;
}

/* Reloads what `what` names. */
static void reload_what(struct srv_reload *r, unsigned what, const char *trigger)
{
    if (what & WHAT_CONFIG)
        reload(r, trigger);
    if ((what & WHAT_TLS) && r->tls != NULL)
        (void)srv_tls_reload(r->tls, trigger);
}

static void *watch(void *arg)
{
    struct srv_reload *r = arg;
    long due = -1;        /* when the debounced file reload runs, or -1 */
    unsigned pending = 0; /* what it reloads (WHAT_*) */
    long tick = now_ms() + TLS_TICK_MS;

    while (!atomic_load(&r->stop)) {
        struct pollfd fds[2] = {{.fd = r->wake_fd, .events = POLLIN},
                                {.fd = r->ino_fd, .events = POLLIN}};
        nfds_t nfds = r->ino_fd >= 0 ? 2 : 1;
        int timeout = -1;
        int n;

        if (due >= 0)
            timeout = (int)(due - now_ms() > 0 ? due - now_ms() : 0);
        else if (r->ino_fd >= 0 && any_lost(r))
            timeout = REWATCH_MS;
        if (r->tls != NULL) {
            long left = tick - now_ms() > 0 ? tick - now_ms() : 0;

            timeout = timeout < 0 || left < timeout ? (int)left : timeout;
        }
        n = poll(fds, nfds, timeout);
        if (n < 0 && errno != EINTR) {
            srv_logf(SRV_LOG_ERROR, "config watcher: poll failed: %s", strerror(errno));
            break;
        }
        if (atomic_load(&r->stop))
            break;
        if (n > 0 && (fds[0].revents & POLLIN)) {
            uint64_t count;

            if (read(r->wake_fd, &count, sizeof(count)) == (ssize_t)sizeof(count)) {
                reload_what(r, WHAT_CONFIG | WHAT_TLS, "SIGHUP");
                due = -1; /* that reload also covered any pending file change */
                pending = 0;
            }
        }
        if (n > 0 && nfds == 2 && (fds[1].revents & POLLIN)) {
            unsigned what = drain_events(r);

            if (what != 0) {
                due = now_ms() + DEBOUNCE_MS;
                pending |= what;
            }
        }
        if (r->ino_fd >= 0 && any_lost(r)) {
            unsigned back = add_watches(r);

            if (back != 0) {
                due = now_ms(); /* the directory came back: its files may be new */
                pending |= back;
            }
        }
        if (due >= 0 && now_ms() >= due) {
            due = -1;
            reload_what(r, pending, "file change");
            pending = 0;
        }
        if (r->tls != NULL && now_ms() >= tick) {
            tick = now_ms() + TLS_TICK_MS;
            srv_tls_tick(r->tls, (int64_t)time(NULL));
        }
    }
    return NULL;
}

static void reload_free(struct srv_reload *r)
{
    if (r->wake_fd >= 0)
        close(r->wake_fd);
    if (r->ino_fd >= 0)
        close(r->ino_fd);
    for (size_t i = 0; i < r->n_files; i++) {
        free(r->files[i].path);
        free(r->files[i].dir);
    }
    free(r);
}

/* Adds `path` to the watched files: a copy, its directory and its name in it. */
static bool watch_file(struct srv_reload *r, const char *path, unsigned what)
{
    struct watched *w = &r->files[r->n_files];
    const char *slash;

    w->wd = -1;
    w->what = what;
    w->path = strdup(path);
    if (w->path == NULL)
        return false;
    r->n_files++; /* freed with the others from here on */
    slash = strrchr(w->path, '/');
    if (slash == w->path) /* "/config.yaml" */
        w->dir = strdup("/");
    else if (slash == NULL)
        w->dir = strdup(".");
    else
        w->dir = og_str_dup((struct og_str){w->path, (size_t)(slash - w->path)});
    w->base = slash == NULL ? w->path : slash + 1;
    return w->dir != NULL;
}

enum og_err srv_reload_start(const struct srv_config_flags *flags, struct srv_tls *tls,
                             struct srv_reload **out)
{
    struct srv_reload *r = NULL;
    sigset_t all, old;
    enum og_err rc = OG_ENOMEM;
    int err;

    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return OG_ENOMEM;
    r->wake_fd = -1;
    r->ino_fd = -1;
    r->flags = *flags;
    r->tls = tls;
    if (flags->path != NULL) {
        if (!watch_file(r, flags->path, WHAT_CONFIG))
            goto out;
        r->path = r->files[0].path;
    }
    if (tls != NULL) {
        const struct srv_tls_paths *p = srv_tls_get_paths(tls);
        const char *names[] = {p->cert_file, p->key_file, p->client_ca_file};

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            if (names[i] != NULL && !watch_file(r, names[i], WHAT_TLS))
                goto out;
        }
    }
    r->flags.path = r->path;
    rc = OG_EIO;
    r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->wake_fd < 0) {
        srv_logf(SRV_LOG_ERROR, "config watcher: eventfd: %s", strerror(errno));
        goto out;
    }
    if (r->n_files > 0) {
        r->ino_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (r->ino_fd < 0) {
            srv_log(SRV_LOG_ERROR, "config watcher: inotify", "error", strerror(errno), NULL);
            goto out;
        }
        (void)add_watches(r);
        for (size_t i = 0; i < r->n_files; i++) {
            if (r->files[i].wd < 0) {
                srv_log(SRV_LOG_ERROR,
                        r->files[i].what == WHAT_CONFIG
                            ? "config watcher: cannot watch the config directory"
                            : "config watcher: cannot watch a TLS file's directory",
                        "dir", r->files[i].dir, "error", strerror(errno), NULL);
                goto out;
            }
        }
    }
    /* The thread starts with every signal blocked, so none is ever delivered to it. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(&r->thread, NULL, watch, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        srv_logf(SRV_LOG_ERROR, "config watcher: cannot start its thread: %s", strerror(err));
        goto out;
    }
    r->started = true;
    *out = r;
    r = NULL;
    rc = OG_OK;
out:
    if (r != NULL)
        reload_free(r);
    return rc;
}

void srv_reload_request(struct srv_reload *r)
{
    uint64_t one = 1;

    /* A full counter (never in practice) still wakes the thread, so the result is moot. */
    if (write(r->wake_fd, &one, sizeof(one)) < 0)
        return;
}

void srv_reload_stats(const struct srv_reload *r, unsigned long *done, unsigned long *rejected)
{
    if (done != NULL)
        *done = atomic_load(&r->done);
    if (rejected != NULL)
        *rejected = atomic_load(&r->rejected);
}

void srv_reload_stop(struct srv_reload *r)
{
    uint64_t one = 1;

    if (r == NULL)
        return;
    atomic_store(&r->stop, true);
    if (write(r->wake_fd, &one, sizeof(one)) < 0)
        srv_logf(SRV_LOG_WARN, "config watcher: cannot wake it: %s", strerror(errno));
    if (r->started)
        pthread_join(r->thread, NULL);
    reload_free(r);
}
