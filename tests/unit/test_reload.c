#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "key_flags.h"
#include "log.h"
#include "reload.h"
#include "snapshot.h"

#include "ocigate/config.h"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (f == NULL)
        OG_FAIL_("cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* Writes `text` to a temporary name and renames it over `path`, as editors and `sed -i` do. */
static void replace_file(const char *path, const char *text)
{
    char tmp[512];

    snprintf(tmp, sizeof(tmp), "%s.tmp~", path);
    write_file(tmp, text);
    if (rename(tmp, path) != 0)
        OG_FAIL_("rename %s", tmp);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Waits until the watcher has finished `want` attempts; false after 5 s. */
static bool wait_done(struct srv_reload *r, unsigned long want)
{
    for (int i = 0; i < 500; i++) {
        unsigned long done = 0;

        srv_reload_stats(r, &done, NULL);
        if (done >= want)
            return true;
        sleep_ms(10);
    }
    return false;
}

static enum og_mode current_mode(void)
{
    struct og_config *cfg = srv_snapshot_acquire();
    enum og_mode m = cfg->mode;

    og_config_unref(cfg);
    return m;
}

/*
 * What each test sets up for itself: a fresh directory for its files, and the log level (the
 * watcher logs every reload; the test output keeps to errors).
 */
static void setup(char dir[64])
{
    srv_log_set_level(SRV_LOG_ERROR);
    snprintf(dir, 64, "/tmp/og-test-reload-XXXXXX");
    if (mkdtemp(dir) == NULL)
        OG_FAIL_("mkdtemp");
}

static void remove_dir(const char *dir)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  could not remove %s\n", dir);
}

/* ---- Precedence: flags > file > defaults ---------------------------------------------------- */

OG_TEST(build_precedence)
{
    struct srv_key_flag_arg args[2];
    struct srv_config_flags flags = {0};
    struct og_config *cfg = NULL;
    struct og_diag diag;
    char path[128], line[512], dir[64];

    setup(dir);
    snprintf(path, sizeof(path), "%s/config.yaml", dir);
    write_file(path, "mode: audit\nmaxBodyBytes: 1Mi\n");

    ASSERT_EQ(srv_config_build(&flags, &cfg, &diag), OG_OK);
    ASSERT_EQ(cfg->mode, OG_MODE_MUTATE); /* default */
    og_config_unref(cfg);

    flags.path = path;
    ASSERT_EQ(srv_config_build(&flags, &cfg, &diag), OG_OK);
    ASSERT_EQ(cfg->mode, OG_MODE_AUDIT); /* file over default */
    ASSERT_EQ(cfg->max_body, 1u << 20);
    ASSERT_STR_EQ(cfg->source, path);
    og_config_unref(cfg);

    args[0] = (struct srv_key_flag_arg){srv_key_flag_find("mode"), "enforce"};
    args[1] = (struct srv_key_flag_arg){srv_key_flag_find("max-body"), "4096"};
    flags.args = args;
    flags.n_args = 2;
    ASSERT_EQ(srv_config_build(&flags, &cfg, &diag), OG_OK);
    ASSERT_EQ(cfg->mode, OG_MODE_ENFORCE); /* flag over file */
    ASSERT_EQ(cfg->max_body, 4096);
    og_config_unref(cfg);
    cfg = NULL;

    args[0].value = "strict";
    og_diag_clear(&diag);
    ASSERT_EQ(srv_config_build(&flags, &cfg, &diag), OG_EINVAL);
    ASSERT_STR_EQ(og_diag_format(&diag, line, sizeof(line)),
                  "--mode: invalid value \"strict\" (expected off, audit, mutate or enforce)");
    flags.n_args = 0;
    write_file(path, "mode: audit\nmode: off\n");
    ASSERT_EQ(srv_config_build(&flags, &cfg, &diag), OG_EINVAL);
    og_diag_format(&diag, line, sizeof(line));
    ASSERT_STR_CONTAINS(line, "config.yaml:2:1: mode: duplicate key (first at line 1)");
    ASSERT(cfg == NULL);
    remove_dir(dir);
}

/* ---- The watcher ------------------------------------------------------------------------------
 */

OG_TEST(reload_on_request_and_file_change)
{
    struct srv_config_flags flags = {0};
    struct srv_reload *r = NULL;
    struct og_config *cfg = NULL;
    struct og_diag diag;
    unsigned long done = 0, rejected = 0;
    char path[128], dir[64];

    setup(dir);
    snprintf(path, sizeof(path), "%s/config.yaml", dir);
    write_file(path, "mode: mutate\n");
    flags.path = path;
    ASSERT_EQ(srv_config_build(&flags, &cfg, &diag), OG_OK);
    srv_snapshot_init(cfg);
    ASSERT_EQ(srv_reload_start(&flags, NULL, &r), OG_OK);

    /* A request with nothing changed: an attempt, no swap. */
    srv_reload_request(r);
    ASSERT(wait_done(r, 1));
    ASSERT_EQ(current_mode(), OG_MODE_MUTATE);

    /* A good change written in place: picked up without any request. */
    write_file(path, "mode: enforce\n");
    ASSERT(wait_done(r, 2));
    ASSERT_EQ(current_mode(), OG_MODE_ENFORCE);

    /* A bad file: rejected, the running snapshot stays. */
    replace_file(path, "mode: enforce\nindex: {ttl: forever}\n");
    ASSERT(wait_done(r, 3));
    srv_reload_stats(r, &done, &rejected);
    ASSERT_EQ(rejected, 1);
    ASSERT_EQ(current_mode(), OG_MODE_ENFORCE);

    /* A rename-replace with a good file. */
    replace_file(path, "mode: audit\n");
    ASSERT(wait_done(r, 4));
    ASSERT_EQ(current_mode(), OG_MODE_AUDIT);

    /* Other files in the directory are none of its business. */
    write_file(path, "mode: audit\n");
    ASSERT(wait_done(r, 5));
    {
        char other[160];

        snprintf(other, sizeof(other), "%s/other.yaml", dir);
        write_file(other, "x");
        sleep_ms(400);
        srv_reload_stats(r, &done, NULL);
        ASSERT_EQ(done, 5);
    }

    /* An empty file (a file being replaced, most likely) is refused on reload. */
    write_file(path, "# nothing yet\n");
    ASSERT(wait_done(r, 6));
    srv_reload_stats(r, &done, &rejected);
    ASSERT_EQ(rejected, 2);
    ASSERT_EQ(current_mode(), OG_MODE_AUDIT);

    /* The file disappears: nothing happens until asked; then rejected (cannot open). */
    unlink(path);
    sleep_ms(400);
    srv_reload_stats(r, &done, NULL);
    ASSERT_EQ(done, 6);
    srv_reload_request(r);
    ASSERT(wait_done(r, 7));
    srv_reload_stats(r, &done, &rejected);
    ASSERT_EQ(rejected, 3);
    ASSERT_EQ(current_mode(), OG_MODE_AUDIT);

    srv_reload_stop(r);
    srv_snapshot_cleanup();
    remove_dir(dir);
}

/*
 * The directory goes away (the watch is lost) and comes back with a new file: the watcher
 * retries on its own (every second) and picks the file up, without a request.
 */
OG_TEST(reload_rewatches_a_directory_that_comes_back)
{
    struct srv_config_flags flags = {0};
    struct srv_reload *r = NULL;
    struct og_config *cfg = NULL;
    struct og_diag diag;
    char path[128], dir[64];
    bool back = false;

    setup(dir);
    snprintf(path, sizeof(path), "%s/config.yaml", dir);
    write_file(path, "mode: mutate\n");
    flags.path = path;
    ASSERT_EQ(srv_config_build(&flags, &cfg, &diag), OG_OK);
    srv_snapshot_init(cfg);
    ASSERT_EQ(srv_reload_start(&flags, NULL, &r), OG_OK);
    remove_dir(dir);
    sleep_ms(300);
    ASSERT_EQ(mkdir(dir, 0700), 0);
    write_file(path, "mode: enforce\n");
    for (int i = 0; i < 500 && !back; i++) {
        back = current_mode() == OG_MODE_ENFORCE;
        sleep_ms(10);
    }
    ASSERT(back);
    srv_reload_stop(r);
    srv_snapshot_cleanup();
    remove_dir(dir);
}

/* The layout a ConfigMap volume has, and the way kubelet publishes a new version. */
OG_TEST(reload_on_configmap_symlink_swap)
{
    struct srv_config_flags flags = {0};
    struct srv_reload *r = NULL;
    struct og_config *cfg = NULL;
    struct og_diag diag;
    char path[128], v1[128], v2[128], file[192], tmp[128], data[128], dir[64];

    setup(dir);
    snprintf(v1, sizeof(v1), "%s/..2026_01_01_00_00_00.1", dir);
    snprintf(v2, sizeof(v2), "%s/..2026_01_01_00_01_00.2", dir);
    snprintf(data, sizeof(data), "%s/..data", dir);
    snprintf(tmp, sizeof(tmp), "%s/..data_tmp", dir);
    snprintf(path, sizeof(path), "%s/config.yaml", dir);
    ASSERT_EQ(mkdir(v1, 0755), 0);
    snprintf(file, sizeof(file), "%s/config.yaml", v1);
    write_file(file, "mode: mutate\n");
    ASSERT_EQ(symlink("..2026_01_01_00_00_00.1", data), 0);
    ASSERT_EQ(symlink("..data/config.yaml", path), 0);

    flags.path = path;
    ASSERT_EQ(srv_config_build(&flags, &cfg, &diag), OG_OK);
    srv_snapshot_init(cfg);
    ASSERT_EQ(srv_reload_start(&flags, NULL, &r), OG_OK);
    ASSERT_EQ(current_mode(), OG_MODE_MUTATE);

    ASSERT_EQ(mkdir(v2, 0755), 0);
    snprintf(file, sizeof(file), "%s/config.yaml", v2);
    write_file(file, "mode: enforce\n");
    ASSERT_EQ(symlink("..2026_01_01_00_01_00.2", tmp), 0);
    ASSERT_EQ(rename(tmp, data), 0);
    ASSERT(wait_done(r, 1));
    ASSERT_EQ(current_mode(), OG_MODE_ENFORCE);

    srv_reload_stop(r);
    srv_snapshot_cleanup();
    remove_dir(dir);
}

/* Flags still win after a reload. */
OG_TEST(reload_keeps_flag_precedence)
{
    struct srv_key_flag_arg args[3] = {{srv_key_flag_find("mode"), "off"},
                                       {srv_key_flag_find("index-budget"), "250ms"},
                                       {srv_key_flag_find("index-allow-host"), "flag.example"}};
    struct srv_config_flags flags = {.args = args, .n_args = 3};
    struct srv_reload *r = NULL;
    struct og_config *cfg = NULL, *now;
    struct og_diag diag;
    char path[128], dir[64];

    setup(dir);
    snprintf(path, sizeof(path), "%s/config.yaml", dir);
    write_file(path, "mode: audit\n");
    flags.path = path;
    ASSERT_EQ(srv_config_build(&flags, &cfg, &diag), OG_OK);
    srv_snapshot_init(cfg);
    ASSERT_EQ(srv_reload_start(&flags, NULL, &r), OG_OK);
    replace_file(path, "mode: enforce\nindex: {ttl: 2h, budget: 2s, allowHosts: [file.example]}\n");
    ASSERT(wait_done(r, 1));
    now = srv_snapshot_acquire();
    ASSERT_EQ(now->mode, OG_MODE_OFF);
    ASSERT_EQ(now->index.ttl_s, 7200);
    ASSERT_EQ(now->index.budget_ms, 250);
    /* A list flag adds to the file's list once per build, never piling up over reloads. */
    ASSERT_EQ(now->index.n_allow_hosts, 2);
    ASSERT_STR_EQ(now->index.allow_hosts[0], "file.example");
    ASSERT_STR_EQ(now->index.allow_hosts[1], "flag.example");
    og_config_unref(now);
    srv_reload_request(r);
    ASSERT(wait_done(r, 2));
    now = srv_snapshot_acquire();
    ASSERT_EQ(now->index.n_allow_hosts, 2);
    og_config_unref(now);
    srv_reload_stop(r);
    srv_snapshot_cleanup();
    remove_dir(dir);
}

/* Readers acquire and release snapshots while reloads swap them (ASan/TSan find misuse). */
struct readers {
    atomic_bool stop;
    atomic_ulong reads;
};

static void *reader(void *arg)
{
    struct readers *rd = arg;

    while (!atomic_load(&rd->stop)) {
        struct og_config *cfg = srv_snapshot_acquire();
        const char *why = NULL;

        if (og_config_resolve_mode(cfg, "prod-a", "u", NULL, 0, NULL, &why) > OG_MODE_ENFORCE)
            abort();
        og_config_unref(cfg);
        atomic_fetch_add(&rd->reads, 1);
    }
    return NULL;
}

OG_TEST(reload_under_readers)
{
    struct srv_config_flags flags = {0};
    struct srv_reload *r = NULL;
    struct og_config *cfg = NULL;
    struct og_diag diag;
    pthread_t threads[4];
    struct readers rd;
    char path[128], dir[64];

    setup(dir);
    snprintf(path, sizeof(path), "%s/config.yaml", dir);
    write_file(path, "mode: mutate\n");
    flags.path = path;
    ASSERT_EQ(srv_config_build(&flags, &cfg, &diag), OG_OK);
    srv_snapshot_init(cfg);
    ASSERT_EQ(srv_reload_start(&flags, NULL, &r), OG_OK);
    atomic_init(&rd.stop, false);
    atomic_init(&rd.reads, 0);
    for (size_t i = 0; i < 4; i++)
        ASSERT_EQ(pthread_create(&threads[i], NULL, reader, &rd), 0);
    for (unsigned long i = 1; i <= 20; i++) {
        replace_file(path, i % 2 ? "mode: enforce\nnamespaces: [{match: \"prod-*\", mode: audit}]\n"
                                 : "mode: mutate\n");
        srv_reload_request(r);
        ASSERT(wait_done(r, i));
    }
    atomic_store(&rd.stop, true);
    for (size_t i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    ASSERT(atomic_load(&rd.reads) > 0);
    srv_reload_stop(r);
    srv_snapshot_cleanup();
    remove_dir(dir);
}

OG_TEST(start_fails_without_directory)
{
    struct srv_config_flags flags = {.path = "/nonexistent-og-dir/config.yaml"};
    struct srv_reload *r = NULL;

    srv_log_set_level(SRV_LOG_ERROR);
    ASSERT_EQ(srv_reload_start(&flags, NULL, &r), OG_EIO);
    ASSERT(r == NULL);
    srv_reload_stop(NULL);
}

OG_TEST_MAIN(OG_T(build_precedence), OG_T(reload_rewatches_a_directory_that_comes_back),
             OG_T(reload_on_request_and_file_change), OG_T(reload_on_configmap_symlink_swap),
             OG_T(reload_keeps_flag_precedence), OG_T(reload_under_readers),
             OG_T(start_fails_without_directory))
