/*
 * gate.h - what `ocigate check`, `fix` and `migrate` share: their common options, the walk over
 * the PATH arguments (files, directories, stdin), reading each input under the size cap, and
 * the lib policy run on each object of a manifest.
 */
#ifndef CLI_GATE_H
#define CLI_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ocigate/buf.h"
#include "ocigate/config.h"
#include "ocigate/err.h"
#include "ocigate/manifest.h"
#include "ocigate/policy.h"

/** Default cap on one input (--max-bytes), as a Kubernetes quantity. */
#define CLI_MAX_BYTES_DEFAULT "4Mi"

/** The options both commands take. Filled by cli_options_parse(); cli_options_cleanup(). */
struct srv_index_cache;

struct cli_options {
    struct og_config *cfg;         /* --config FILE, else the defaults; --mode applied; owned */
    struct srv_index_cache *cache; /* --online: the server's index cache and fetcher; owned */
    uint64_t max_bytes;            /* --max-bytes SIZE: cap on one input */
    const char *format;            /* --format text|json|sarif (check) */
    bool online;                   /* --online (check) */
    bool dry_run;                  /* --dry-run (fix) */
    size_t batch_size;             /* --batch-size N (migrate) */
    const char *out_dir;           /* --out DIR (migrate), or NULL: stdout */
    bool force;                    /* --force: write over earlier batches (migrate) */
    char **paths;                  /* the PATH arguments (lent from argv) */
    size_t n_paths;
};

/** Which options a command takes. */
enum cli_command { CLI_CHECK, CLI_FIX, CLI_MIGRATE };

/**
 * Parses argv (argv[0] is the command) into `o`. Returns 0 to go on, or the exit status to
 * end with (0 after --help, 2 after a usage error, which is printed to stderr).
 */
int cli_options_parse(enum cli_command cmd, int argc, char **argv, struct cli_options *o);

/** Frees what `o` owns. */
void cli_options_cleanup(struct cli_options *o);

/** One input of the walk: a file to read, or an error found while walking. */
struct cli_input {
    char *path;  /* the path as given or joined ("-" for stdin); owned */
    char *error; /* why it could not be walked (a loop, an unreadable directory), or NULL */
};

/** The inputs of every PATH in order; directories walked recursively in sorted order. */
struct cli_inputs {
    struct cli_input *items;
    size_t n;
    size_t cap;
};

/**
 * Walks the PATH arguments: a file is taken as it is (whatever its name), "-" is stdin, a
 * directory gives its *.yaml and *.yml files (symlinks followed), its subdirectories in
 * byte order of their names; a directory met again below itself (a symlink loop) is an error
 * input. OG_ENOMEM; a PATH that does not exist is an error input.
 */
OG_NODISCARD enum og_err cli_inputs_walk(char *const *paths, size_t n, struct cli_inputs *out);

void cli_inputs_cleanup(struct cli_inputs *in);

/**
 * Reads the input `path` ("-": stdin) into a new heap buffer (`*data`, `*len`; NUL added
 * after the bytes), at most `max` bytes. Errors: OG_EIO (message in diag), OG_ETOOBIG (the
 * cap), OG_ENOMEM. Also reports the file's permission bits in `*mode` (0644 for stdin).
 */
OG_NODISCARD enum og_err cli_read_input(const char *path, uint64_t max, char **data, size_t *len,
                                        unsigned *mode, struct og_diag *diag);

/**
 * Replaces or creates the file at `path` (a symlink: the file it names) with `len` bytes at
 * `data`, with permission bits `mode`, through a temporary file beside it, fsync and
 * rename(2): readers see the old file or the whole new one, never a part. On failure nothing
 * is left behind and `msg` says why. OG_EIO, OG_ENOMEM.
 */
OG_NODISCARD enum og_err cli_write_file(const char *path, const char *data, size_t len,
                                        unsigned mode, char *msg, size_t size);

/** An input that could not be walked, read or parsed; `line` 0 when there is no position. */
struct cli_error {
    char *file;
    unsigned line, column;
    char *message;
};

/** The errors of a run, in the order met. */
struct cli_errors {
    struct cli_error *items;
    size_t n, cap;
};

/** Adds an error (the strings are copied). OG_ENOMEM. */
OG_NODISCARD enum og_err cli_errors_add(struct cli_errors *e, const char *file, unsigned line,
                                        unsigned column, const char *message);

void cli_errors_cleanup(struct cli_errors *e);

/**
 * Reads and parses the input `in` (under o->max_bytes) into `*data` (NUL-terminated, `*len`
 * bytes, its permission bits in `*mode`) and the reader `*m`; the caller frees both. An input
 * that the walk, the read or the parser refuses is added to `errors` with its position and
 * `*m` stays NULL (`*data` is kept when it was read). OG_ENOMEM only.
 */
OG_NODISCARD enum og_err cli_load(const struct cli_options *o, const struct cli_input *in,
                                  char **data, size_t *len, unsigned *mode, struct og_manifest **m,
                                  struct cli_errors *errors);

/** Prints an input's error to stderr: "name:line:column: error: msg" (no position: "name: ..."). */
void cli_report_error(const char *name, unsigned line, unsigned column, const char *msg);

/*
 * Text output that carries manifest data (names, urls, paths, parser messages) is made of
 * lines that og_str_sanitize_line() has cleaned: a name holding LF, ESC or bytes that are not
 * UTF-8 can neither start a line of its own in a CI log (where "::" lines are commands) nor
 * send a terminal escape sequence.
 */

/** Prints one formatted line to stderr, cleaned and cut at 4 KiB, then "\n". */
void cli_eprintf(const char *fmt, ...) OG_PRINTF(1, 2);

/** Cleans the line that started at byte `start` of `out` in place and ends it with "\n". */
OG_NODISCARD enum og_err cli_line_end(struct og_buf *out, size_t start);

/**
 * `url` as output shows it (og_url_redact(): credentials as "xxxxx"), in `tmp`, which is reset
 * first and which the caller cleans up; valid until `tmp` next changes. Out of memory gives
 * "xxxxx" alone rather than the url whole. What a command writes into manifests (fix, migrate)
 * keeps the url as it is; what it reports to a terminal, a CI log or a report file shows this.
 */
const char *cli_url_shown(const char *url, struct og_buf *tmp);

/** The display name of an input: "<stdin>" for "-", else the path. */
const char *cli_input_name(const char *path);

/**
 * Runs the webhook's policy (endpoint validate, so no patch) on object `mo` under `o->cfg`;
 * with `o->cache` (--online), an object the index can decide waits for the index verdict
 * (fetched through the server's cache and guarded fetcher, within the fetch timeouts) and
 * gets the second step, og_policy_eval_index(). Fills `*d` (og_decision_cleanup() it).
 * OG_ENOMEM.
 */
OG_NODISCARD enum og_err cli_eval(const struct cli_options *o, const struct og_manifest_object *mo,
                                  struct og_decision *d);

/** True when `d` is a finding that enforce would deny in its effective mode (exit status 1). */
bool cli_decision_fails(const struct og_decision *d);

#endif
