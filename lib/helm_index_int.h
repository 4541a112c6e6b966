/*
 * helm_index_int.h - helm_index internals shared with the unit tests (private to lib/).
 */
#ifndef OG_HELM_INDEX_INT_H
#define OG_HELM_INDEX_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "ocigate/str.h"

/**
 * SemVer 2.0 precedence of `a` and `b` (<0, 0, >0). A leading "v" and missing minor or patch
 * are allowed (as Helm's semver library does); build metadata is ignored. A valid version is
 * greater than an invalid or empty one; two invalid ones compare equal.
 */
int og__helm_index_semver_cmp(struct og_str a, struct og_str b);

/** Order of two instants (seconds since the epoch, nanoseconds): -1, 0 or 1. */
int og__helm_index_time_cmp(int64_t sec_a, int32_t nsec_a, int64_t sec_b, int32_t nsec_b);

/** A version entry as the order of a chart's versions sees it; views lent by the caller. */
struct og__index_entry {
    struct og_str version; /**< `version` as written; empty when absent */
    struct og_str created; /**< `created` as written; empty when absent */
    struct og_str url;     /**< urls[0] as written (its first bytes when long); empty when none */
    bool has_time;         /**< `created` parsed (og__helm_index_parse_time()) into sec, nsec */
    int64_t sec;
    int32_t nsec;
    bool is_oci; /**< urls[0] is oci (og_url_chart()) */
};

/**
 * The one total order of a chart's version entries: >0 when `a` is newer than `b`, <0 when
 * older, 0 only when nothing the analysis reports can tell them apart. Keys, in turn:
 *   1. SemVer precedence (og__helm_index_semver_cmp()), as Helm's index sort orders versions; a
 *      version that is not SemVer (or is absent) is older than every SemVer one, as Helm's sort
 *      puts a failed parse last;
 *   2. `created`: the later instant is newer; an entry without a parseable `created` is older
 *      than one with it;
 *   3. the url: the one first in byte order is newer, which puts "https://" before "oci://",
 *      the side that never rewrites a repository; then a non-oci url before an oci one (urls
 *      that share their first bytes);
 *   4. the spelling: the later `version` text in byte order, then the later `created` text.
 * So the newest entry of a chart never depends on the order of the entries.
 */
int og__helm_index_entry_cmp(const struct og__index_entry *a, const struct og__index_entry *b);

/**
 * Parses an RFC 3339 timestamp (also the YAML 1.1 forms: 't' or spaces as separator, an
 * optional zone as Z, +HH, +HH:MM or +HHMM, none meaning UTC) into seconds since the epoch
 * and nanoseconds. False when `s` is not such a timestamp.
 */
bool og__helm_index_parse_time(struct og_str s, int64_t *sec, int32_t *nsec);

#endif
