/*
 * helm_index.h - streaming analysis of a Helm repository index (index.yaml or index.json).
 *
 * The analyzer is a pure function over a pull reader (og_read_fn): it parses the bytes with
 * libyaml's event API, never builds a document tree, and keeps one small record per chart, so
 * its memory is bounded by the number of charts and by the limits, not by the index size.
 * The same code serves the CLI (a file) and the server (a network transfer).
 *
 * What it reads, from the first YAML document only:
 *   apiVersion, generated                    top-level scalars, reported verbatim
 *   entries.<chart>[].urls / version / created
 * Every other field, including dependencies[].repository, is skipped without being copied.
 * YAML and JSON indexes are both accepted (libyaml reads JSON as flow YAML), in any key
 * order, with quoted or plain scalars, CRLF line ends, a BOM, anchors and aliases (an alias
 * may stand for a scalar, a version entry, a urls list or a chart's list of versions) and YAML
 * merge keys (`<<`) inside version entries.
 *
 * How a version's urls[0] is classified (later urls never decide, they are only noted):
 *   oci://host/path/<chart>:<tag>     oci; base oci://host/path
 *   oci://host/path/<chart>@<digest>  oci; base oci://host/path
 *   oci://host/path/<chart>-<v>.tgz   oci, malformed (no tag); base oci://host/path
 *   oci://host/path/<chart>           oci, malformed (no tag); base oci://host/path
 *   oci://host                        oci, malformed; no base
 *   http(s)://.../oci://host/path/... (Artifactory-style proxy urls) oci: the part after the
 *                                     embedded "oci://" is what a client ends up pulling, so
 *                                     the base is derived from it exactly as above
 *   http:// or https://               https
 *   anything else (relative "charts/x-1.0.0.tgz", file://, s3://, no urls) other
 * Schemes are compared without ASCII case; a base keeps the url's path as written but is
 * normalized (og_url_normalize()), so that bases that differ only in case are counted as one.
 * The rules live in url.h (og_url_chart()).
 */
#ifndef OG_HELM_INDEX_H
#define OG_HELM_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ocigate/buf.h"
#include "ocigate/config.h"
#include "ocigate/err.h"
#include "ocigate/reader.h"

/**
 * Bounds on what one analysis may consume. Going over any of them stops the analysis with
 * OG_ETOOBIG and a og_diag naming the limit. og_index_limits_init() sets the defaults given
 * with each field; a zero field means "the default" too.
 */
struct og_index_limits {
    uint32_t max_charts;  /**< distinct charts under `entries`; default 100000 */
    uint32_t max_bases;   /**< distinct OCI bases; default 256 */
    uint32_t max_depth;   /**< nesting of YAML collections; default 64 */
    size_t max_scalar;    /**< longest scalar (or run of bytes without an event); default 1 MiB */
    uint64_t max_bytes;   /**< bytes read from the reader; default 64 MiB */
    size_t max_anchored;  /**< bytes kept to replay anchored nodes; default 1 MiB */
    uint64_t max_aliased; /**< bytes replayed for aliases over the whole input; default 64 MiB */
    uint64_t hash_key[2]; /**< key of the name tables' hash (SipHash); default fixed: set a
                               random one for indexes an adversary may write */
};

/** Longest chart name accepted (longer is OG_ETOOBIG). */
#define OG_INDEX_MAX_CHART_NAME 255

/** Fills `limits` with the defaults documented on each field. */
void og_index_limits_init(struct og_index_limits *limits);

/** Flags for og_helm_index_analyze(). */
enum og_index_flags {
    OG_INDEX_DETAIL = 1u << 0 /**< keep per-chart records in og_index_summary.chart_list */
};

/** One OCI base and how many version entries use it. Owned by the summary or verdict. */
struct og_index_base {
    char *base;     /**< "oci://host/path", NUL-terminated */
    uint32_t count; /**< version entries whose urls[0] has this base */
};

/** Per-chart detail, kept only with OG_INDEX_DETAIL. Owned by the summary. */
struct og_index_chart {
    char *name;           /**< the key under `entries` */
    uint32_t versions;    /**< version entries (null entries are skipped, as Helm does) */
    uint32_t oci_entries; /**< of those, how many have an oci urls[0] */
    char *newest_version; /**< `version` of the newest entry, NULL when it has none */
    char *newest_created; /**< `created` of the newest entry as written, or NULL */
    bool newest_is_oci;   /**< the newest entry's urls[0] is oci */
    bool newest_is_https; /**< the newest entry's urls[0] is http:// or https:// */
    bool https_after_oci; /**< newest_is_https, and its `created` is later than the index's
                               first_oci_created */
};

/**
 * What an index holds. Filled by og_helm_index_analyze() and freed with
 * og_index_summary_cleanup(); only those two functions touch the fields. The counts of
 * version entries add up: versions == oci_entries + https_entries + other_entries.
 */
struct og_index_summary {
    char *api_version;              /**< top-level apiVersion, or NULL when absent */
    char *generated;                /**< top-level generated, as written, or NULL */
    uint32_t charts;                /**< keys under `entries` */
    uint32_t versions;              /**< version entries over all charts */
    uint32_t oci_entries;           /**< urls[0] is oci (including malformed and Artifactory) */
    uint32_t https_entries;         /**< urls[0] is http:// or https:// (and not Artifactory) */
    uint32_t other_entries;         /**< relative urls, other schemes, no urls at all */
    uint32_t malformed_oci_entries; /**< oci entries without a tag or digest (subset of oci) */
    uint32_t charts_newest_oci;     /**< charts whose newest version's urls[0] is oci */
    uint32_t multi_url_entries;     /**< version entries with more than one url */
    uint32_t secondary_oci_entries; /**< entries whose urls[0] is not oci but a later url is */
    struct og_index_base *bases;    /**< by count descending, then by name; owned */
    size_t n_bases;
    struct og_index_chart *chart_list; /**< in index order; only with OG_INDEX_DETAIL */
    size_t n_chart_list;

    /* When the index moved some charts (the `mixed` verdict, og_helm_index_decide()). */
    uint32_t charts_newest_https;    /**< charts whose newest version's urls[0] is http(s) */
    uint32_t charts_https_after_oci; /**< of those, how many have a newest version `created`
                                          later than first_oci_created (0 when either has none) */
    char *first_oci_created; /**< the earliest parseable `created` of an oci entry, as written,
                                  or NULL when no oci entry has one */
};

/**
 * Analyzes the index read through `read(ctx, ...)` until the end of its first YAML document
 * (later documents are never read) and fills `*out`, which the caller frees with
 * og_index_summary_cleanup(). `limits` may be NULL for the defaults; `flags` is a set of
 * enum og_index_flags.
 *
 * Newest version of a chart: the greatest entry under one total order, so that it never
 * depends on the order of the entries or of the charts (README "Index analysis"): the higher
 * semantic version (SemVer 2.0 precedence as Helm sorts an index, a leading "v" and missing
 * minor/patch allowed; a version that is not SemVer below every one that is); at equal
 * precedence the later `created` (an RFC 3339 timestamp, YAML timestamp forms accepted; none
 * below any); then the url first in byte order (so https:// before oci://); then the later
 * spelling of `version` and of `created` in byte order.
 *
 * Errors: OG_EPARSE when the bytes are not YAML or not a Helm index (the top level is not a
 * mapping, `entries` is not a mapping, a chart is not a list, a version is not a mapping,
 * `urls` is not a list of strings, an alias is undefined), with the line:column in `diag`;
 * OG_ETOOBIG when a limit is reached; OG_ENOMEM; any error `read` returns, unchanged. On
 * error `*out` is untouched. `diag` may be NULL. Reentrant: no global state.
 */
OG_NODISCARD enum og_err og_helm_index_analyze(og_read_fn read, void *ctx,
                                               const struct og_index_limits *limits, unsigned flags,
                                               struct og_index_summary *out, struct og_diag *diag);

/** Frees what `summary` owns and zeroes it. Safe on a zeroed summary. */
void og_index_summary_cleanup(struct og_index_summary *summary);

/**
 * Appends `summary` as one JSON object (no trailing newline) to `out`: apiVersion, generated,
 * charts, versions, ociEntries, httpsEntries, otherEntries, malformedOciEntries,
 * chartsNewestOci, chartsNewestHttps, chartsHttpsAfterOci, firstOciCreated, multiUrlEntries,
 * secondaryOciEntries, bases [{base, count}] and, when the summary has them, chartDetails
 * [{name, versions, ociEntries, newestVersion, newestCreated, newestIsOci, newestIsHttps,
 * httpsAfterOci}]. OG_ENOMEM, or OG_ETOOBIG past the buffer's cap; `out` unchanged on error.
 */
OG_NODISCARD enum og_err og_index_summary_format_json(const struct og_index_summary *summary,
                                                      struct og_buf *out);

/** Where an index stands for the admission path. */
enum og_index_state {
    OG_INDEX_STATE_NONE,    /**< not analyzed / not applicable */
    OG_INDEX_STATE_PENDING, /**< a fetch is in flight and the budget has passed */
    OG_INDEX_STATE_UNKNOWN, /**< the fetch failed (HTTP 401/403, network, parse error) */
    OG_INDEX_STATE_CLEAN,   /**< the index serves its charts over http(s) */
    OG_INDEX_STATE_OCI,     /**< the index points to OCI */
    OG_INDEX_STATE_MIXED    /**< it points to OCI for some charts, and still releases others
                                 over http(s): some chart's newest version is http(s) and
                                 `created` after the earliest oci:// entry */
};

/** "none", "pending", "unknown", "clean", "oci", "mixed". */
const char *og_index_state_name(enum og_index_state state);

/**
 * The decision about one index. Every pointer is owned by the verdict and freed by
 * og_index_verdict_cleanup(); a zeroed struct is a valid empty verdict (state NONE).
 */
struct og_index_verdict {
    enum og_index_state state;
    char *oci_base; /**< the single OCI base when fixable, else NULL */
    char **bases;   /**< all bases, for the message */
    size_t n_bases;
    uint32_t charts, versions, oci_entries, charts_newest_oci;
    char *detail;      /**< short human reason, e.g. "HTTP 401", or NULL */
    char **oci_charts; /**< names of charts that count as moved (newest version oci://, or
                            any oci:// entry with the `any` threshold): the first
                            OG_INDEX_VERDICT_MAX_CHARTS in byte order; only when the summary
                            was made with OG_INDEX_DETAIL */
    size_t n_oci_charts;
    uint32_t charts_https_after_oci; /**< og_index_summary.charts_https_after_oci */
    char **https_charts; /**< state MIXED: names of the charts that make it mixed (https_after_oci),
                              chosen as oci_charts are */
    size_t n_https_charts;
};

/** Most chart names a verdict keeps (enough for guidance and messages). */
#define OG_INDEX_VERDICT_MAX_CHARTS 16

/**
 * Decides from `summary` whether the index points to OCI under `threshold` (NEWEST: some
 * chart's newest version is oci; ANY: any entry is oci) and fills `*out` (caller cleans it up
 * with og_index_verdict_cleanup()). Pointing to OCI gives state OCI, with `oci_base` set when
 * exactly one base was derived (fixable) and NULL when there are several or none (not fixable;
 * `bases` lists them); otherwise state CLEAN. An index that points to OCI while some chart's
 * newest version is http(s) and released after its earliest oci:// entry (by `created`;
 * summary.charts_https_after_oci > 0) is MIXED instead, with every field an OCI verdict would
 * have: the policy decides with index.onMixed whether it counts as moved. Without `created`
 * on those entries the rule stays as it was (OCI). OG_EINVAL for a bad threshold, OG_ENOMEM;
 * `*out` untouched on error.
 */
OG_NODISCARD enum og_err og_helm_index_decide(const struct og_index_summary *summary,
                                              enum og_index_threshold threshold,
                                              struct og_index_verdict *out);

/**
 * Fills `*out` with a verdict of `state` (usually PENDING or UNKNOWN) and a copy of `detail`
 * (may be NULL), all counts zero, for the server when there is no summary. OG_ENOMEM; `*out`
 * untouched on error.
 */
OG_NODISCARD enum og_err og_index_verdict_init_state(struct og_index_verdict *out,
                                                     enum og_index_state state, const char *detail);

/** Frees what `v` owns and zeroes it (state NONE). Safe on a zeroed verdict. */
void og_index_verdict_cleanup(struct og_index_verdict *v);

/** Deep copy of `src` into `dst` (for the cache). OG_ENOMEM leaves `dst` zeroed. */
OG_NODISCARD enum og_err og_index_verdict_copy(const struct og_index_verdict *src,
                                               struct og_index_verdict *dst);

/**
 * Appends `v` as one JSON object to `out`: state, ociBase (or null), bases, charts, versions,
 * ociEntries, chartsNewestOci, ociCharts, chartsHttpsAfterOci, httpsCharts, detail. Errors as
 * og_index_summary_format_json().
 */
OG_NODISCARD enum og_err og_index_verdict_format_json(const struct og_index_verdict *v,
                                                      struct og_buf *out);

#endif
