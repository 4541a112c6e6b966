/*
 * manifest_int.h - the YAML rules of manifest.c that lib/'s YAML writers and editor share
 * (private to lib/).
 */
#ifndef OG_MANIFEST_INT_H
#define OG_MANIFEST_INT_H

#include <stdbool.h>

#include "ocigate/str.h"

/** True for a character of anchor names and tag handles (libyaml's IS_ALPHA). */
bool og__manifest_is_anchor_char(char c);

/**
 * True when the string `s`, written as a plain scalar, could read back as something other
 * than a string: by Kubernetes' rules (og_manifest_resolve_plain()), or by a YAML 1.1 reader
 * such as PyYAML, which also reads `1:20` (sexagesimal) and `.inf`, `-.Inf` or `.NaN` as
 * numbers. The YAML that ocigate writes (the effective configuration, the suggested
 * OCIRepository) double-quotes such strings, so that every reader sees a string.
 */
bool og__manifest_needs_quotes(struct og_str s);

#endif
