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
#include <time.h>
#include <unistd.h>

#include "config_file.h"
#include "key_flags.h"
#include "log.h"
#include "snapshot.h"

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

struct srv_reload {
    struct srv_config_flags flags; /* its path is `path`, an owned copy */
    char *path;
    char *dir;        /* the watched directory */
    const char *base; /* the file's name within `dir` (points into `path`) */
    int wake_fd;      /* eventfd: reload requests and stop */
    int ino_fd;       /* inotify, or -1 without a path */
    int wd;           /* the directory watch, or -1 while it is lost */
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

    og_diag_clear(&diag);
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

static void add_watch(struct srv_reload *r)
{
    r->wd = inotify_add_watch(r->ino_fd, r->dir, WATCH_MASK);
}

/*
 * Reads the pending inotify events; returns true when one of them may change what `path`
 * reads: an event on the file's own name, or on `..data` (the ConfigMap symlink swap).
 */
static bool drain_events(struct srv_reload *r, bool *lost)
{
    /* Aligned as inotify(7) asks, room for many events per read. */
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool relevant = false;

    for (;;) {
        ssize_t n = read(r->ino_fd, buf, sizeof(buf));

        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(void *)p;

            if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_Q_OVERFLOW)) {
                if (ev->mask & IN_Q_OVERFLOW)
                    relevant = true; /* events were lost: check anyway */
                else
                    *lost = true;
            } else if (ev->len > 0 &&
                       (strcmp(ev->name, r->base) == 0 || strcmp(ev->name, "..data") == 0)) {
                relevant = true;
            }
            p += sizeof(struct inotify_event) + ev->len;
        }
    }
    return relevant;
}

static void *watch(void *arg)
{
    struct srv_reload *r = arg;
    long due = -1; /* when the debounced file reload runs, or -1 */

    while (!atomic_load(&r->stop)) {
        struct pollfd fds[2] = {{.fd = r->wake_fd, .events = POLLIN},
                                {.fd = r->ino_fd, .events = POLLIN}};
        nfds_t nfds = r->ino_fd >= 0 && r->wd >= 0 ? 2 : 1;
        int timeout = -1;
        int n;

        if (due >= 0)
            timeout = (int)(due - now_ms() > 0 ? due - now_ms() : 0);
        else if (r->ino_fd >= 0 && r->wd < 0)
            timeout = REWATCH_MS;
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
                reload(r, "SIGHUP");
                due = -1; /* that reload also covered any pending file change */
            }
        }
        if (n > 0 && nfds == 2 && (fds[1].revents & POLLIN)) {
            bool lost = false;

            if (drain_events(r, &lost))
                due = now_ms() + DEBOUNCE_MS;
            if (lost) {
                srv_log(SRV_LOG_WARN, "config watcher: directory watch lost; retrying", "dir",
                        r->dir, NULL);
                inotify_rm_watch(r->ino_fd, r->wd);
                r->wd = -1;
            }
        }
        if (r->ino_fd >= 0 && r->wd < 0) {
            add_watch(r);
            if (r->wd >= 0)
                due = now_ms(); /* the directory came back: its file may be new */
        }
        if (due >= 0 && now_ms() >= due) {
            due = -1;
            reload(r, "file change");
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
    free(r->path);
    free(r->dir);
    free(r);
}

enum og_err srv_reload_start(const struct srv_config_flags *flags, struct srv_reload **out)
{
    struct srv_reload *r = NULL;
    sigset_t all, old;
    enum og_err rc = OG_ENOMEM;
    const char *slash;
    int err;

    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return OG_ENOMEM;
    r->wake_fd = -1;
    r->ino_fd = -1;
    r->wd = -1;
    r->flags = *flags;
    if (flags->path != NULL) {
        r->path = strdup(flags->path);
        if (r->path == NULL)
            goto out;
        slash = strrchr(r->path, '/');
        r->dir = slash == NULL ? strdup(".")
                               : og_str_dup((struct og_str){r->path, (size_t)(slash - r->path)});
        if (r->dir == NULL)
            goto out;
        if (r->dir[0] == '\0') { /* "/config.yaml" */
            free(r->dir);
            r->dir = strdup("/");
            if (r->dir == NULL)
                goto out;
        }
        r->base = slash == NULL ? r->path : slash + 1;
    }
    r->flags.path = r->path;
    rc = OG_EIO;
    r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->wake_fd < 0) {
        srv_logf(SRV_LOG_ERROR, "config watcher: eventfd: %s", strerror(errno));
        goto out;
    }
    if (r->path != NULL) {
        r->ino_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (r->ino_fd >= 0)
            add_watch(r);
        if (r->ino_fd < 0 || r->wd < 0) {
            srv_log(SRV_LOG_ERROR, "config watcher: cannot watch the config directory", "dir",
                    r->dir, "error", strerror(errno), NULL);
            goto out;
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
