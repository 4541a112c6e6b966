/*
 * manifest.h - the Kubernetes manifest reader: a YAML byte stream (one file, or stdin) read
 * from libyaml's parser events into a small node tree in which every node keeps its position,
 * and the Kubernetes objects found in it (`ocigate check`, `fix`, `migrate`).
 *
 * What it accepts. A multi-document stream of UTF-8 YAML (an optional UTF-8 byte order mark
 * is skipped; UTF-16 is refused). Each document whose root is a mapping with string
 * `apiVersion` and `kind` is an object; a document whose kind is `List` or ends in `List` and
 * that holds an `items` sequence yields each item that is such a mapping as an object instead.
 * Every other document (scalars, empty documents, mappings without apiVersion or kind) is
 * kept in the tree but is no object: callers skip it silently.
 *
 * What it refuses, with the position in the og_diag (1-based line and column as libyaml
 * counts them: characters, CR LF one line break): broken YAML; a key that appears twice in
 * one mapping (the position of the second; keys are compared by value, so `1` and `"1"`
 * collide, as they would in JSON); aliases (`*name`: Kubernetes objects never need
 * them and they let a small file stand for a huge tree, so they are bad input; anchors alone
 * are accepted and have no effect); keys that are not scalars; input over `max_bytes`, more
 * than `max_nodes` nodes, or collections nested deeper than `max_depth`.
 *
 * Positions. Each node has a start and an end (byte offsets into the input given to
 * og_manifest_parse, [start, end), plus line and column of the start and of the end). A
 * node's start includes its anchor and tag; `body` is where its own text begins (the first
 * byte of a scalar, its quote, its `|` or `>`, a flow collection's bracket, a block
 * collection's first key or dash). A scalar ends after its last character (after the closing
 * quote; a block scalar after its last line break, possibly past the next line's
 * indentation); a flow collection after its closing bracket; a block collection where the
 * next token begins (after trailing comments). An empty value (`key:`) is a plain scalar of
 * length zero whose start and end are equal.
 */
#ifndef OG_MANIFEST_H
#define OG_MANIFEST_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "ocigate/err.h"
#include "ocigate/policy.h"
#include "ocigate/str.h"

/** Default caps of og_manifest_parse (a field of zero in struct og_manifest_limits). */
#define OG_MANIFEST_MAX_BYTES (8u << 20)
#define OG_MANIFEST_MAX_NODES 1000000u
#define OG_MANIFEST_MAX_DEPTH 100u
/** The deepest nesting a caller may ask for (larger values are lowered to it). */
#define OG_MANIFEST_DEPTH_CEILING 1000u

/** Caps for og_manifest_parse; a zero field takes the default above. */
struct og_manifest_limits {
    size_t max_bytes;   /**< input longer than this: OG_ETOOBIG */
    size_t max_nodes;   /**< more nodes in the whole stream: OG_ETOOBIG */
    unsigned max_depth; /**< collections nested deeper (the root is depth 1): OG_ETOOBIG */
};

/** What a node is. */
enum og_manifest_type {
    OG_MANIFEST_SCALAR = 1,
    OG_MANIFEST_MAPPING,
    OG_MANIFEST_SEQUENCE,
};

/** How a node is written. Scalars use the first five, collections the last two. */
enum og_manifest_style {
    OG_MANIFEST_PLAIN,
    OG_MANIFEST_SINGLE_QUOTED,
    OG_MANIFEST_DOUBLE_QUOTED,
    OG_MANIFEST_LITERAL, /**< `|` block scalar */
    OG_MANIFEST_FOLDED,  /**< `>` block scalar */
    OG_MANIFEST_BLOCK,   /**< indentation-based mapping or sequence */
    OG_MANIFEST_FLOW,    /**< `{...}` or `[...]`; also the brace-less pair `[a: b]` */
};

/** A place in the input: a byte offset and the 1-based line and column libyaml reports. */
struct og_manifest_mark {
    size_t offset;
    unsigned line;
    unsigned column;
};

/**
 * One node of the tree. The reader owns it; it stays valid until og_manifest_free(). Only
 * read the fields. A mapping's children are its keys (scalars), each key's `value` is its
 * value; a sequence's children are its items. Siblings are linked through `next`.
 */
struct og_manifest_node {
    enum og_manifest_type type;
    enum og_manifest_style style;
    struct og_manifest_mark start; /**< first byte, anchor and tag included */
    struct og_manifest_mark end;   /**< one past the last byte */
    size_t body;                   /**< offset of the node's own text, after anchor and tag */
    const char *tag;   /**< its explicit tag, resolved ("tag:yaml.org,2002:str"), or NULL */
    const char *value; /**< scalars: the value (quotes and escapes resolved), NUL-terminated */
    size_t len;        /**< length of `value` (it may hold NUL bytes from escapes) */
    size_t count;      /**< collections: number of keys or items */
    const struct og_manifest_node *child;  /**< first key or item, NULL when empty */
    const struct og_manifest_node *next;   /**< next key or item of the same parent */
    const struct og_manifest_node *val;    /**< a mapping key: its value (never NULL) */
    const struct og_manifest_node *parent; /**< the mapping or sequence holding this node */
};

/** One document of the stream. */
struct og_manifest_doc {
    struct og_manifest_mark start;       /**< its `---`, or its first token */
    struct og_manifest_mark end;         /**< after its `...`, or where the next token starts */
    bool explicit_start;                 /**< begins with `---` */
    const struct og_manifest_node *root; /**< its root node (an empty document: an empty scalar) */
};

/**
 * One Kubernetes object. The strings are views into the tree, valid until og_manifest_free();
 * absent ones are empty views with a NULL `ptr`. All are NUL-terminated but `group`, the
 * first part of `api_version`.
 */
struct og_manifest_object {
    const struct og_manifest_node *root; /**< the object's mapping */
    size_t doc;                          /**< index of its document */
    size_t item;               /**< index in the List's `items`, or SIZE_MAX for a document */
    struct og_str api_version; /**< "source.toolkit.fluxcd.io/v1" */
    struct og_str group;       /**< "source.toolkit.fluxcd.io"; empty for the core group ("v1") */
    struct og_str version;     /**< "v1" */
    struct og_str kind;
    struct og_str ns;   /**< metadata.namespace, when a string */
    struct og_str name; /**< metadata.name, when a string */
    struct og_str mode; /**< metadata.annotations["ocigate.io/mode"], when a string */
    bool deleting;      /**< metadata.deletionTimestamp is present (and not null) */
};

/** A parsed stream: documents, their trees and the objects in them. Opaque. */
struct og_manifest;

/**
 * Reads the YAML stream `data` (`len` bytes, need not end in NUL) into a new reader stored in
 * `*out`, which the caller frees with og_manifest_free(). `limits` may be NULL (defaults).
 * `name` (may be NULL) goes into `diag->file` on failure.
 *
 * Errors: OG_EPARSE (broken YAML, a UTF-16 stream, a duplicate key, an alias, a key that is
 * a collection), OG_ETOOBIG (a cap), OG_ENOMEM; `diag` (may be NULL) then says what and where
 * and `*out` is unchanged. Node offsets are offsets into `data`, which the reader does not
 * keep. Thread-safe: no shared state; a reader may be read from many threads.
 */
OG_NODISCARD enum og_err og_manifest_parse(const char *data, size_t len, const char *name,
                                           const struct og_manifest_limits *limits,
                                           struct og_manifest **out, struct og_diag *diag);

/** Frees the reader and every node, document and object of it. NULL is a no-op. */
void og_manifest_free(struct og_manifest *m);

/** Number of documents in the stream. */
size_t og_manifest_doc_count(const struct og_manifest *m);
/** Document `i` (below og_manifest_doc_count()), lent until og_manifest_free(). */
const struct og_manifest_doc *og_manifest_doc(const struct og_manifest *m, size_t i);

/** Number of Kubernetes objects in the stream, in document order (List items in order). */
size_t og_manifest_object_count(const struct og_manifest *m);
/** Object `i` (below og_manifest_object_count()), lent until og_manifest_free(). */
const struct og_manifest_object *og_manifest_object(const struct og_manifest *m, size_t i);

/**
 * The key node named `key` (exact bytes) in the mapping `map`, or NULL when `map` is NULL,
 * not a mapping, or has no such key. Its value is `->val`.
 */
const struct og_manifest_node *og_manifest_key(const struct og_manifest_node *map,
                                               struct og_str key);

/** The value of `key` in `map` (og_manifest_key()->val), or NULL. */
const struct og_manifest_node *og_manifest_get(const struct og_manifest_node *map,
                                               struct og_str key);

/**
 * The value at a dotted path of mapping keys below `node` ("spec.chart.spec.sourceRef"), or
 * NULL when any step is missing or not a mapping. For keys that hold dots, chain
 * og_manifest_get() instead.
 */
const struct og_manifest_node *og_manifest_path(const struct og_manifest_node *node,
                                                const char *path);

/** Item `i` of the sequence `seq`, or NULL (walks the items: use `child`/`next` in loops). */
const struct og_manifest_node *og_manifest_item(const struct og_manifest_node *seq, size_t i);

/**
 * How a scalar reads as JSON, by the rules sigs.k8s.io/yaml applies when Kubernetes turns
 * YAML into JSON (go-yaml v2, YAML 1.1 resolution):
 * - quoted and block scalars are strings; a scalar tagged `!!null`, `!!bool`, `!!int` or
 *   `!!float` reads as its value would plain when that fits the tag (an int fits `!!float`),
 *   and every other tagged scalar is a string;
 * - null: empty, `~`, `null`, `Null`, `NULL`;
 * - bool: `true false yes no on off y n` in lower case, Capitalized or UPPER case;
 * - int: optional sign, then decimal, `0x` hex, `0o` or leading-`0` octal, or `0b` binary
 *   digits, `_` allowed between digits, within 64 bits (signed or unsigned);
 * - float: `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, and ints past 64 bits;
 *   `.inf` and `.nan` (which JSON cannot hold) stay strings;
 * - anything else (timestamps included, as go-yaml keeps them for interface{}) is a string.
 */
enum og_manifest_scalar {
    OG_MANIFEST_STRING,
    OG_MANIFEST_NULL,
    OG_MANIFEST_BOOL,
    OG_MANIFEST_INT,
    OG_MANIFEST_FLOAT,
};

/**
 * The JSON type of the scalar `node` under the rules above; `*number` (may be NULL) gets the
 * numeric value of an INT or FLOAT (and 1 or 0 for a BOOL).
 */
enum og_manifest_scalar og_manifest_resolve(const struct og_manifest_node *node, double *number);

/**
 * The same rules for a value not in a tree: how `s`, written as a plain scalar, would read.
 * The editor uses it to tell whether a new value can be written plain.
 */
enum og_manifest_scalar og_manifest_resolve_plain(struct og_str s, double *number);

/** True when `node` is a scalar that reads as a string; its text is `value`/`len`. */
bool og_manifest_is_string(const struct og_manifest_node *node);

/**
 * Turns `node` and everything below it into a new cJSON tree in `*out` (scalars typed by
 * og_manifest_resolve(); mapping keys become member names as written; key order kept). The
 * caller frees it with cJSON_Delete(). OG_ENOMEM; `*out` unchanged on failure.
 */
OG_NODISCARD enum og_err og_manifest_to_json(const struct og_manifest_node *node, cJSON **out);

/** The policy's input for one reader object (og_manifest_policy_input()). */
struct og_manifest_policy_input {
    struct og_policy_object obj;     /**< lent by the reader, `group` by this struct */
    struct og_admission_context ctx; /**< a CREATE by an unknown user */
    char group[254];                 /**< the API group, NUL-terminated (a DNS subdomain) */
};

/**
 * Fills the policy's input from the reader object `mo`, as og_review_policy_input() does from
 * an AdmissionReview, so that `ocigate check` runs the webhook's rules on a manifest:
 * `in->obj` from the object's group, version, kind, metadata and spec (members of another
 * type than the policy names count as absent, as in JSON), with a `tree_fn` that builds the
 * object's tree (og_manifest_to_json()) for guidance; `in->ctx` as a CREATE by an unknown
 * user ("", no groups), not a dry run. The strings are lent by the reader until
 * og_manifest_free() and by `in` (the group). Returns false when the API group is longer
 * than a DNS subdomain may be (no Kubernetes object: nothing to judge).
 */
bool og_manifest_policy_input(const struct og_manifest_object *mo,
                              struct og_manifest_policy_input *in);

#endif
