/*
 * manifest_int.h - the YAML rules of manifest.c that lib/'s other YAML readers, writers and
 * editor share (private to lib/).
 */
#ifndef OG_MANIFEST_INT_H
#define OG_MANIFEST_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "ocigate/err.h"

#include "ocigate/str.h"

/** True for a character of anchor names and tag handles (libyaml's IS_ALPHA). */
bool og__manifest_is_anchor_char(char c);

/**
 * True when the string `s`, written as a plain scalar, could read back as something other
 * than a string: by Kubernetes' rules (og_manifest_resolve_plain()), or by a YAML 1.1 reader
 * such as PyYAML, which also reads `1:20` (sexagesimal) and `.inf`, `-.Inf` or `.NaN` as
 * numbers, or by a reader that hands plain scalars to strtod() (`-inf`, `nan`, `Infinity`,
 * in any case). The YAML that ocigate writes (the effective configuration, the suggested
 * OCIRepository) double-quotes such strings, so that every reader sees a string.
 */
bool og__manifest_needs_quotes(struct og_str s);

struct og_manifest_node;
struct cJSON;

/**
 * og_manifest_to_json(), but an int or float scalar becomes a cJSON raw item holding its text
 * as written (a double would lose digits past 2^53): for a tree that is written back as YAML
 * (og__yaml_emit_document()), never printed as JSON.
 */
OG_NODISCARD enum og_err og__manifest_to_json_exact(const struct og_manifest_node *node,
                                                    struct cJSON **out);

/**
 * libyaml's parse error for `data` (the parser's whole input) as ocigate reports it: OG_ENOMEM
 * when libyaml ran out of memory (its loader fails some allocations without saying so), else
 * OG_EPARSE with the 1-based `*line` and `*column` (for a reader error, of the bad byte in
 * `data`) and "invalid YAML: <problem> <context>" in `msg` (truncated to `size`).
 */
enum og_err og__manifest_parser_error(const yaml_parser_t *p, struct og_str data, unsigned *line,
                                      unsigned *column, char *msg, size_t size);

#endif
