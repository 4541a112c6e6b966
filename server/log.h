/*
 * log.h - structured logging: one JSON object per line on stderr, one write(2) each.
 */
#ifndef SRV_LOG_H
#define SRV_LOG_H

#include <stdarg.h>

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
 * Values are JSON-escaped. A value given as NULL is skipped.
 */
void srv_log(enum srv_log_level level, const char *msg, ...);

/**
 * Like srv_log(), with the message printf-formatted and no extra fields.
 */
void srv_logf(enum srv_log_level level, const char *fmt, ...) OG_PRINTF(2, 3);

/**
 * Writes a pre-assembled set of fields: `fields_json` is the inside of a JSON object without
 * braces (`"uid":"x","allowed":true`), appended after ts, level and msg.
 */
void srv_log_raw(enum srv_log_level level, const char *msg, const char *fields_json);

/**
 * From now on info and debug lines are written in batches (every 10 ms, or when 32 KiB have
 * gathered) by a background thread; errors and warnings still go out at once, in order.
 * Returns 0, or -1 when the thread cannot start (lines are then written one by one).
 */
int srv_log_batch_start(void);

/** Writes what is batched and goes back to one write per line. Call before exit. */
void srv_log_batch_stop(void);

/** Appends `s` JSON-escaped (without quotes) to `out`, which has `size` bytes; returns len. */
size_t srv_log_escape(char *out, size_t size, const char *s);

#endif
