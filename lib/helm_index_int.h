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

/**
 * Parses an RFC 3339 timestamp (also the YAML 1.1 forms: 't' or spaces as separator, an
 * optional zone as Z, +HH, +HH:MM or +HHMM, none meaning UTC) into seconds since the epoch
 * and nanoseconds. False when `s` is not such a timestamp.
 */
bool og__helm_index_parse_time(struct og_str s, int64_t *sec, int32_t *nsec);

#endif
