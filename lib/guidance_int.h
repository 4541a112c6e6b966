/*
 * guidance_int.h - the YAML writer of guidance.c, for lib/'s other writers (private to lib/).
 */
#ifndef OG_GUIDANCE_INT_H
#define OG_GUIDANCE_INT_H

#include "ocigate/buf.h"
#include "ocigate/err.h"

struct cJSON;

/**
 * Appends `doc` as one YAML document ("---" first) through libyaml's emitter: objects as block
 * mappings (member order kept), arrays as block sequences, strings double-quoted when they
 * could read back as anything else (og__manifest_needs_quotes()), raw items
 * (og__manifest_to_json_exact()) plain as written. OG_ENOMEM, OG_ETOOBIG past `out`'s cap,
 * OG_EINVAL when the emitter refuses; `out` may then hold part of the document.
 */
OG_NODISCARD enum og_err og__yaml_emit_document(const struct cJSON *doc, struct og_buf *out);

#endif
