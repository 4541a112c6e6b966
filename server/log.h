/*
 * log.h - structured logging: one JSON object per line on stderr, each written whole.
 */
#ifndef SRV_LOG_H
#define SRV_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ocigate/err.h"

enum srv_log_level { SRV_LOG_ERROR, SRV_LOG_WARN, SRV_LOG_INFO, SRV_LOG_DEBUG };

/** Sets the most verbose level that is written (default SRV_LOG_INFO). Thread-safe. */
void srv_log_set_level(enum srv_log_level level);

/** Parses "error", "warn", "info" or "debug". Returns -1 for anything else. */
int srv_log_parse_level(const char *name);

/** True when `level` would be written. */
int srv_log_enabled(enum srv_log_level level);

/**
 * Writes {"ts":...,"level":...,"msg":...} followed by the extra fields given as alternating
 * key and value C strings, ended by NULL: srv_log(SRV_LOG_INFO, "listening", "addr", a, NULL).
 * Values are JSON-escaped (og_json_escape()). A value given as NULL is skipped.
 */
void srv_log(enum srv_log_level level, const char *msg, ...);

/**
 * Like srv_log(), with the message printf-formatted and no extra fields.
 */
void srv_logf(enum srv_log_level level, const char *fmt, ...) OG_PRINTF(2, 3);

/** Most bytes of the extra fields of one line. */
#define SRV_LOG_FIELDS_MAX 2048

/**
 * The extra fields of one line, gathered in a fixed buffer without printf (the admission line
 * is written for every request): the inside of a JSON object, `"uid":"x","allowed":true`.
 * A field that does not fit ends the set, which stays valid JSON; a string value that is too
 * long is cut on an escape boundary. Strings are escaped by og_json_escape(). Only the
 * srv_log_field* functions touch the members.
 */
struct srv_log_fields {
    char buf[SRV_LOG_FIELDS_MAX];
    size_t len;
    bool full;
};

/** Makes `f` empty. */
void srv_log_fields_init(struct srv_log_fields *f);

/** Adds a string field; a NULL `val` adds nothing. `key` is a literal that needs no escaping. */
void srv_log_field_str(struct srv_log_fields *f, const char *key, const char *val);

/** Adds true or false. */
void srv_log_field_bool(struct srv_log_fields *f, const char *key, bool v);

/** Adds a number. */
void srv_log_field_uint(struct srv_log_fields *f, const char *key, uint64_t v);

/** Adds `thousandths` / 1000 as a number with three decimals (microseconds as "0.036" ms). */
void srv_log_field_milli(struct srv_log_fields *f, const char *key, uint64_t thousandths);

/** Writes {"ts":...,"level":...,"msg":...} with the fields of `f`. */
void srv_log_write(enum srv_log_level level, const char *msg, const struct srv_log_fields *f);

/**
 * From now on info and debug lines are written in batches (every 10 ms, or when 32 KiB have
 * gathered) by a background thread, and the thread that logs them never writes or waits for
 * stderr's reader; errors and warnings still go out at once, in order. When stderr is read
 * slower than lines come (128 KiB are waiting), info and debug lines are dropped and counted,
 * and a warning says how many once the writes get through.
 * Returns 0, or -1 when the thread cannot start (lines are then written one by one).
 */
int srv_log_batch_start(void);

/** Writes what is batched and goes back to one write per line. Call before exit. */
void srv_log_batch_stop(void);

/** Info and debug lines dropped so far because stderr was not read fast enough. Lock-free. */
uint64_t srv_log_dropped_total(void);

#endif
