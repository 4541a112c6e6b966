/*
 * reload.h - builds the configuration snapshot from the file and the flags, and reloads it off
 * the request path on SIGHUP and when the file changes.
 *
 * Precedence, at start and on every reload: a command-line flag that sets a key (--mode,
 * --max-body, --index-*: key_flags.h) beats the config file (--config FILE), which beats the
 * built-in defaults. Paths and the listen address exist only as flags. A reload that fails
 * (unreadable file, invalid YAML, a bad value) is logged as an error and the running snapshot
 * stays; the process never exits over it.
 *
 * File changes are watched with inotify on the file's DIRECTORY, not the file: Kubernetes
 * ConfigMap volumes publish a new version by swapping the `..data` symlink atomically, and
 * editors replace a file by renaming a new one over it; both leave a watch on the old inode
 * blind. Events are debounced (a burst gives one reload) and a reload that yields the same
 * effective configuration as the running one swaps nothing.
 *
 * The TLS credentials (tls.h) go the same way: their files' directories are watched too (a
 * Secret volume's `..data` swap, cert-manager's renewal, `mv` over a file), SIGHUP reloads
 * them with the config, and about every minute srv_tls_tick() runs (the expiry warning).
 */
#ifndef SRV_RELOAD_H
#define SRV_RELOAD_H

#include <stddef.h>

#include "ocigate/config.h"
#include "ocigate/err.h"

struct srv_key_flag_arg;
struct srv_tls;

/** What the command line says about the configuration. */
struct srv_config_flags {
    const char *path; /**< --config FILE, or NULL for the built-in defaults; copied by the
                           watcher */
    /** The flags that set a key (key_flags.h), in command-line order; the array and its
     * strings are lent: they must outlive the watcher. */
    const struct srv_key_flag_arg *args;
    size_t n_args;
};

/**
 * Builds a snapshot: the file at `flags->path` (or the defaults), then the flags on top. The
 * flags are checked first, so that a bad flag is reported even when the file is bad too.
 * On failure `diag` explains (file:line:column for the file, "--mode" in `where` for a flag)
 * and the srv_config_load() or srv_key_flags_apply() error is returned; `*out` is untouched. The
 * caller owns the reference in `*out`. Thread-safe.
 */
OG_NODISCARD enum og_err srv_config_build(const struct srv_config_flags *flags,
                                          struct og_config **out, struct og_diag *diag);

/**
 * Logs a warning for settings of `cfg` that contradict each other (og_config_has_conflict()),
 * naming `file` (NULL: none); nothing when there is none. At start and for each reloaded
 * snapshot: they are valid, so they are used, but the operator should know.
 */
void srv_config_warn_conflicts(const struct og_config *cfg, const char *file);

/** The reload watcher (opaque). */
struct srv_reload;

/**
 * Starts the watcher thread, which swaps new snapshots in with srv_snapshot_swap() (so
 * srv_snapshot_init() must have run). `flags` and its path are copied, the flags' args lent. The
 * thread blocks every signal, so signals keep going to the process's sigwait() loop. With a `path`,
 * its directory is watched; OG_EIO when that watch cannot be set up. OG_ENOMEM. `tls` (lent, may
 * be NULL) is reloaded too (srv_tls_reload()), its files' directories watched; it must outlive
 * the watcher. The caller stops and frees the watcher with srv_reload_stop().
 */
OG_NODISCARD enum og_err srv_reload_start(const struct srv_config_flags *flags, struct srv_tls *tls,
                                          struct srv_reload **out);

/**
 * Asks for a reload now (the SIGHUP path); returns at once, the watcher thread does the work.
 * Async-signal-safe (one write(2)).
 */
void srv_reload_request(struct srv_reload *r);

/**
 * Reload attempts finished so far: `done` counts every attempt (accepted, unchanged or
 * rejected), `rejected` those that failed. Either pointer may be NULL. Thread-safe.
 */
void srv_reload_stats(const struct srv_reload *r, unsigned long *done, unsigned long *rejected);

/** Stops the watcher thread, waits for it, and frees `r`. NULL is a no-op. */
void srv_reload_stop(struct srv_reload *r);

#endif
