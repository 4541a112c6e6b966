/*
 * log.h - structured logging: one JSON object per line on stderr, each written whole.
 */
#ifndef SRV_LOG_H
#define SRV_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

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

/*
 * The admission line has thirteen fields, and writing their keys was a visible share of its
 * cost: the srv_log_field_*() functions are inline, so that the length of a literal key is
 * known when they are compiled and its copy is a few moves. Their values are written by the
 * srv_log_fields_put_*() functions.
 */

/**
 * Appends `"key":` (after a comma unless it is the first field) when the `klen` bytes of `key`
 * and `extra` more bytes fit; else marks the set full and returns false. For the srv_log_field*
 * functions only.
 */
static inline bool srv_log_fields_key(struct srv_log_fields *f, const char *key, size_t klen,
                                      size_t extra)
{
    char *p;

    if (f->full || f->len + klen + 4 + extra >= sizeof(f->buf)) {
        f->full = true;
        return false;
    }
    p = f->buf + f->len;
    *p = ',';
    p += f->len > 0;
    *p++ = '"';
    memcpy(p, key, klen);
    p += klen;
    *p++ = '"';
    *p++ = ':';
    f->len = (size_t)(p - f->buf);
    return true;
}

/** Appends `val` as a JSON string, cut (on an escape boundary) to what fits. After a key. */
void srv_log_fields_put_str(struct srv_log_fields *f, const char *val);

/** Appends the `len` bytes of `lit`, which need no escaping (true, 42). After a key. */
static inline void srv_log_fields_put_lit(struct srv_log_fields *f, const char *lit, size_t len)
{
    memcpy(f->buf + f->len, lit, len);
    f->len += len;
    f->buf[f->len] = '\0';
}

/** Adds a number under the `klen` bytes of `key`. */
void srv_log_field_uint_n(struct srv_log_fields *f, const char *key, size_t klen, uint64_t v);

/** Adds `thousandths` / 1000 with three decimals under the `klen` bytes of `key`. */
void srv_log_field_milli_n(struct srv_log_fields *f, const char *key, size_t klen,
                           uint64_t thousandths);

/** Adds a string field; a NULL `val` adds nothing. `key` is a literal that needs no escaping. */
static inline void srv_log_field_str(struct srv_log_fields *f, const char *key, const char *val)
{
    /* Room for the quotes and one byte of the value. */
    if (val != NULL && srv_log_fields_key(f, key, strlen(key), 3))
        srv_log_fields_put_str(f, val);
}

/**
 * Adds a string field whose value needs no escaping: a name from a fixed set, such as
 * og_rule_name() or og_mode_name() return (tests check each of them), copied as it is. A NULL
 * `name` adds nothing; one that does not fit ends the set.
 */
static inline void srv_log_field_name(struct srv_log_fields *f, const char *key, const char *name)
{
    size_t len;
    char *p;

    if (name == NULL)
        return;
    len = strlen(name);
    if (!srv_log_fields_key(f, key, strlen(key), len + 2))
        return;
    p = f->buf + f->len;
    *p++ = '"';
    memcpy(p, name, len);
    p += len;
    *p++ = '"';
    *p = '\0';
    f->len = (size_t)(p - f->buf);
}

/** Adds true or false. */
static inline void srv_log_field_bool(struct srv_log_fields *f, const char *key, bool v)
{
    if (srv_log_fields_key(f, key, strlen(key), v ? 4 : 5))
        srv_log_fields_put_lit(f, v ? "true" : "false", v ? 4 : 5);
}

/** Adds a number. A single digit (the usual count) is written here, without a call. */
static inline void srv_log_field_uint(struct srv_log_fields *f, const char *key, uint64_t v)
{
    if (v < 10) {
        if (srv_log_fields_key(f, key, strlen(key), 1)) {
            f->buf[f->len++] = (char)('0' + v);
            f->buf[f->len] = '\0';
        }
        return;
    }
    srv_log_field_uint_n(f, key, strlen(key), v);
}

/**
 * Adds `thousandths` / 1000 as a number with three decimals (microseconds as "0.036" ms). One
 * below 10 (the usual latency) is written here, without a call.
 */
static inline void srv_log_field_milli(struct srv_log_fields *f, const char *key,
                                       uint64_t thousandths)
{
    unsigned t = (unsigned)thousandths;
    char *p;

    if (thousandths < 10000) {
        if (srv_log_fields_key(f, key, strlen(key), 5)) {
            p = f->buf + f->len;
            p[0] = (char)('0' + t / 1000);
            p[1] = '.';
            p[2] = (char)('0' + t / 100 % 10);
            p[3] = (char)('0' + t / 10 % 10);
            p[4] = (char)('0' + t % 10);
            p[5] = '\0';
            f->len += 5;
        }
        return;
    }
    srv_log_field_milli_n(f, key, strlen(key), thousandths);
}

/** Writes {"ts":...,"level":...,"msg":...} with the fields of `f`. */
void srv_log_write(enum srv_log_level level, const char *msg, const struct srv_log_fields *f);

/**
 * srv_log_write() with "ts" at `mono`, a reading of CLOCK_MONOTONIC the caller took anyway
 * (NULL: now): its wall-clock time is derived from an offset read once per second, so the line
 * reads no clock. A step of the wall clock shows in these lines within a second.
 */
void srv_log_write_at(enum srv_log_level level, const char *msg, const struct srv_log_fields *f,
                      const struct timespec *mono);

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
