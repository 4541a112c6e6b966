/*
 * prom.h - a writer of the Prometheus text exposition format, version 0.0.4, over an og_buf.
 *
 *   # HELP <name> <help, with \ and newline escaped>
 *   # TYPE <name> counter|gauge|histogram
 *   <name>{<label>="<value, with \ " and newline escaped>",...} <value>
 *
 * Values are written without printf: unsigned integers, and fixed-point numbers with six
 * decimals (micro-units, e.g. microseconds written as seconds: 1500 -> "0.0015"), trailing
 * zeros dropped. A histogram is written from its bucket counts (not cumulative) as the format
 * wants it: `_bucket` lines with ascending `le` bounds, cumulative, ending with le="+Inf",
 * then `_sum` and `_count`, where `_count` is the +Inf bucket by construction.
 *
 * Metric and label names are the caller's constants and are not checked; label values are
 * escaped. The writer keeps its first error: later calls do nothing and srv_prom_finish()
 * returns it (like og_json).
 */
#ifndef SRV_PROM_H
#define SRV_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "ocigate/buf.h"
#include "ocigate/err.h"

/** The Content-Type of the text format. */
#define SRV_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/** The writer: caller-owned storage; only srv_prom_* touch the fields. */
struct srv_prom {
    struct og_buf *out; /**< not owned */
    enum og_err rc;     /**< the first error, or OG_OK */
};

/** One label; `value` is escaped when written. */
struct srv_prom_label {
    const char *name;
    const char *value;
};

/** Starts writing to `out` (appending; `out` is lent until the last call). */
void srv_prom_init(struct srv_prom *p, struct og_buf *out);

/**
 * The HELP and TYPE lines of family `name`; `type` is "counter", "gauge" or "histogram".
 * Write them once per family, before its samples.
 */
void srv_prom_family(struct srv_prom *p, const char *name, const char *type, const char *help);

/** One sample `name{labels} v` (no braces when `n` is 0). */
void srv_prom_u64(struct srv_prom *p, const char *name, const struct srv_prom_label *labels,
                  size_t n, uint64_t v);

/** One sample whose value is `micro` millionths, written as a decimal ("2.5", "0.0001"). */
void srv_prom_micro(struct srv_prom *p, const char *name, const struct srv_prom_label *labels,
                    size_t n, uint64_t micro);

/**
 * The samples of histogram `name`: for each of the `n_bounds` ascending upper bounds (in
 * micro-units) a `_bucket` line with the cumulative count, then le="+Inf", `_sum` (`sum`
 * micro-units) and `_count`. `counts` has n_bounds + 1 entries, not cumulative: counts[i]
 * observations fell in (bounds[i-1], bounds[i]], counts[n_bounds] above the last bound.
 */
void srv_prom_histogram(struct srv_prom *p, const char *name, const struct srv_prom_label *labels,
                        size_t n, const uint64_t *bounds, size_t n_bounds, const uint64_t *counts,
                        uint64_t sum);

/** OG_OK, or the first error (OG_ENOMEM, OG_ETOOBIG past the buffer's cap). */
OG_NODISCARD enum og_err srv_prom_finish(const struct srv_prom *p);

/**
 * Writes `micro` millionths as a decimal into `out` (room for SRV_PROM_MICRO_MAX bytes, no
 * NUL): the integer part, then a point and up to six digits when the fraction is not zero.
 * Returns the bytes written.
 */
size_t srv_prom_format_micro(uint64_t micro, char *out);

/** Longest text srv_prom_format_micro() writes. */
#define SRV_PROM_MICRO_MAX 28

#endif
