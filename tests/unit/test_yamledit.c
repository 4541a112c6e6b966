/*
 * test_yamledit.c - in-place YAML edits: the HelmRepository fix on fixture files compared byte
 * for byte with expected files, idempotency, re-parse checks, and each primitive (set,
 * insert, remove) on block and flow mappings, quoting choices, CR LF, refusals and overlap.
 */
#include "harness.h"

#include "ocigate/buf.h"
#include "ocigate/manifest.h"
#include "ocigate/yamledit.h"

#define DIR OG_SOURCE_DIR "/tests/data/manifests/"
#define OCI_URL "oci://registry-1.docker.io/bitnamicharts"

/* Parses `data`, fixes every HelmRepository object with OCI_URL, and returns the result
 * (NUL-terminated, caller frees) and the number of edits through `n_edits`. */
static char *fix_all(const char *data, size_t len, size_t *out_len, size_t *n_edits)
{
    struct og_manifest *m = NULL;
    struct og_yamledit e;
    struct og_buf out;
    struct og_diag diag;

    ASSERT_EQ(og_manifest_parse(data, len, "in", NULL, &m, &diag), OG_OK);
    og_yamledit_init(&e);
    for (size_t i = 0; i < og_manifest_object_count(m); i++) {
        const struct og_manifest_object *o = og_manifest_object(m, i);

        if (!og_str_eq_lit(o->kind, "HelmRepository"))
            continue;
        if (og_yamledit_fix_helmrepo(&e, data, len, o, OG_STR_LIT(OCI_URL)) != OG_OK)
            OG_FAIL_("fix refused: %s", e.msg);
    }
    *n_edits = e.n;
    og_buf_init(&out, 1 << 24);
    ASSERT_EQ(og_yamledit_apply(&e, data, len, &out), OG_OK);
    og_yamledit_cleanup(&e);
    og_manifest_free(m);
    return og_buf_take(&out, out_len);
}

/* The fixed file reads back with the new values and nothing else changed in the objects. */
static void check_reparse(const char *before, size_t blen, const char *after, size_t alen)
{
    struct og_manifest *a = NULL, *b = NULL;
    struct og_diag diag;

    ASSERT_EQ(og_manifest_parse(before, blen, "before", NULL, &a, &diag), OG_OK);
    if (og_manifest_parse(after, alen, "after", NULL, &b, &diag) != OG_OK)
        OG_FAIL_("fixed file does not parse: %u:%u %s", diag.line, diag.column, diag.msg);
    ASSERT_EQ(og_manifest_doc_count(a), og_manifest_doc_count(b));
    ASSERT_EQ(og_manifest_object_count(a), og_manifest_object_count(b));
    for (size_t i = 0; i < og_manifest_object_count(a); i++) {
        const struct og_manifest_object *oa = og_manifest_object(a, i);
        const struct og_manifest_object *ob = og_manifest_object(b, i);
        cJSON *ja = NULL, *jb = NULL, *spec;

        ASSERT_EQ(og_manifest_to_json(oa->root, &ja), OG_OK);
        ASSERT_EQ(og_manifest_to_json(ob->root, &jb), OG_OK);
        if (og_str_eq_lit(oa->kind, "HelmRepository")) {
            spec = cJSON_GetObjectItemCaseSensitive(ja, "spec");
            cJSON_DeleteItemFromObjectCaseSensitive(spec, "passCredentials");
            cJSON_DeleteItemFromObjectCaseSensitive(spec, "url");
            cJSON_DeleteItemFromObjectCaseSensitive(spec, "type");
            cJSON_AddStringToObject(spec, "url", OCI_URL);
            cJSON_AddStringToObject(spec, "type", "oci");
        }
        ASSERT(cJSON_Compare(ja, jb, true));
        cJSON_Delete(ja);
        cJSON_Delete(jb);
    }
    og_manifest_free(a);
    og_manifest_free(b);
}

/* Fixes `file`, compares with `file.fixed.yaml`, re-parses, and fixes again: no edits. */
static void golden(const char *name)
{
    char path[512];
    size_t len = 0, wlen = 0, glen, again_len, n;
    char *data, *want, *got, *again;

    snprintf(path, sizeof(path), DIR "%s.yaml", name);
    data = og_test_read_file(path, &len);
    snprintf(path, sizeof(path), DIR "%s.fixed.yaml", name);
    want = og_test_read_file(path, &wlen);
    ASSERT(data != NULL && want != NULL);
    got = fix_all(data, len, &glen, &n);
    ASSERT(n > 0);
    ASSERT_MEM_EQ(got, glen, want);
    check_reparse(data, len, got, glen);
    again = fix_all(got, glen, &again_len, &n);
    ASSERT_EQ(n, 0);
    ASSERT_MEM_EQ(again, again_len, want);
    free(again);
    free(got);
    free(want);
    free(data);
}

OG_TEST(fix_block)
{
    golden("block");
}

OG_TEST(fix_crlf)
{
    golden("crlf");
}

OG_TEST(fix_flow)
{
    golden("flow");
}

OG_TEST(fix_tabs_and_odd_indentation)
{
    golden("tabs");
}

OG_TEST(fix_no_final_newline)
{
    golden("noeol");
}

OG_TEST(fix_list_and_multi_doc_keep_other_bytes)
{
    static const char *const files[] = {"list.yaml", "multi.yaml", "styles.yaml", "bom.yaml"};

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[512];
        size_t len = 0, glen, n;
        char *data, *got;

        snprintf(path, sizeof(path), DIR "%s", files[i]);
        data = og_test_read_file(path, &len);
        ASSERT(data != NULL);
        got = fix_all(data, len, &glen, &n);
        check_reparse(data, len, got, glen);
        if (i > 0)
            ASSERT_MEM_EQ(got, glen, data);
        free(got);
        free(data);
    }
}

OG_TEST(fix_list_golden)
{
    size_t len = 0, glen, n;
    char *data = og_test_read_file(DIR "list.yaml", &len);
    char *got = fix_all(data, len, &glen, &n);

    ASSERT_EQ(n, 4); /* a: url set, type inserted; b: url and type set */
    ASSERT_MEM_EQ(got, glen,
                  "apiVersion: v1\nkind: List\nitems:\n"
                  "- apiVersion: source.toolkit.fluxcd.io/v1\n  kind: HelmRepository\n"
                  "  metadata:\n    name: a\n    namespace: ns1\n"
                  "    deletionTimestamp: \"2024-01-01T00:00:00Z\"\n"
                  "  spec:\n    url: " OCI_URL "\n    type: oci\n"
                  "- not an object\n"
                  "- apiVersion: source.toolkit.fluxcd.io/v1\n  kind: HelmRepository\n"
                  "  metadata: {name: b, namespace: ns2}\n"
                  "  spec:\n    url: " OCI_URL "\n    type: oci\n");
    free(got);
    free(data);
}

/* Runs one primitive on the first object's `spec` of `text` and returns the result. */
enum prim { SET, INSERT, REMOVE };

static enum og_err edit(const char *text, enum prim p, const char *key, const char *after,
                        const char *value, struct og_buf *out, struct og_yamledit *e)
{
    struct og_manifest *m = NULL;
    struct og_diag diag;
    const struct og_manifest_node *spec;
    size_t len = strlen(text);
    enum og_err rc;

    ASSERT_EQ(og_manifest_parse(text, len, "t", NULL, &m, &diag), OG_OK);
    spec = og_manifest_get(og_manifest_doc(m, 0)->root, OG_STR_LIT("spec"));
    og_yamledit_init(e);
    switch (p) {
    case SET:
        rc = og_yamledit_set(e, text, len, og_manifest_get(spec, og_str_of(key)), og_str_of(value));
        break;
    case INSERT:
        rc = og_yamledit_insert(e, text, len, spec,
                                after != NULL ? og_manifest_key(spec, og_str_of(after)) : NULL,
                                og_str_of(key), og_str_of(value));
        break;
    default:
        rc = og_yamledit_remove(e, text, len, spec, og_manifest_key(spec, og_str_of(key)));
        break;
    }
    og_buf_init(out, 1 << 20);
    if (rc == OG_OK)
        rc = og_yamledit_apply(e, text, len, out);
    og_manifest_free(m);
    return rc;
}

static void expect(const char *text, enum prim p, const char *key, const char *after,
                   const char *value, const char *want)
{
    struct og_buf out;
    struct og_yamledit e;
    struct og_manifest *m = NULL;
    struct og_diag diag;

    if (edit(text, p, key, after, value, &out, &e) != OG_OK)
        OG_FAIL_("edit refused: %s", e.msg);
    og_yamledit_cleanup(&e);
    ASSERT_MEM_EQ(out.ptr, out.len, want);
    /* The result parses. */
    if (og_manifest_parse(out.ptr, out.len, "t", NULL, &m, &diag) != OG_OK)
        OG_FAIL_("result does not parse: %s", diag.msg);
    og_manifest_free(m);
    og_buf_cleanup(&out);
}

OG_TEST(set_keeps_or_changes_quoting)
{
    /* Plain stays plain; a value that would read as a bool or hold ": " gets quoted. */
    expect("spec:\n  a: x # c\n", SET, "a", NULL, "y1", "spec:\n  a: y1 # c\n");
    expect("spec:\n  a: x\n", SET, "a", NULL, "true", "spec:\n  a: \"true\"\n");
    expect("spec:\n  a: x\n", SET, "a", NULL, "a: b", "spec:\n  a: \"a: b\"\n");
    expect("spec:\n  a: x\n", SET, "a", NULL, "", "spec:\n  a: \"\"\n");
    expect("spec:\n  a: 'x'\n", SET, "a", NULL, "it's", "spec:\n  a: 'it''s'\n");
    expect("spec:\n  a: 'x'\n", SET, "a", NULL, "l1\nl2", "spec:\n  a: \"l1\\nl2\"\n");
    expect("spec:\n  a: \"x\"\n", SET, "a", NULL, "q\"\\\x01\xc2\x85",
           "spec:\n  a: \"q\\\"\\\\\\x01\\x85\"\n");
    expect("spec:\n  a: \"x\"\n", SET, "a", NULL, "caf\xc3\xa9", "spec:\n  a: \"caf\xc3\xa9\"\n");
    /* A value that starts like a document marker is quoted, "..." as well as "---". */
    expect("spec:\n  a: x\n", SET, "a", NULL, "---x", "spec:\n  a: \"---x\"\n");
    expect("spec:\n  a: x\n", SET, "a", NULL, "...", "spec:\n  a: \"...\"\n");
    expect("spec:\n  a: x\n", SET, "a", NULL, "..x", "spec:\n  a: ..x\n");
    /* In flow, flow indicators need quotes. */
    expect("spec: {a: x, b: y}\n", SET, "a", NULL, "p,q", "spec: {a: \"p,q\", b: y}\n");
}

OG_TEST(set_block_scalar_and_empty)
{
    expect("spec:\n  a: |\n    one\n    two\n  b: 1\n", SET, "a", NULL, "z",
           "spec:\n  a: \"z\"\n  b: 1\n");
    expect("spec:\r\n  a: >-\r\n    one\r\n  b: 1\r\n", SET, "a", NULL, "z",
           "spec:\r\n  a: \"z\"\r\n  b: 1\r\n");
    expect("spec:\n  a:\n  b: 1\n", SET, "a", NULL, "v", "spec:\n  a: v\n  b: 1\n");
    /* A block scalar on its own line at its key's column (fuzz): quoted, it must move in. */
    expect("spec:\n  a:\n  >\n   t\n  b: 1\n", SET, "a", NULL, "v",
           "spec:\n  a:\n   \"v\"\n  b: 1\n");
    expect("spec:\n  a:\n\xe2\x80\xa8  >\n   t\n  b: 1\n", SET, "a", NULL, "v",
           "spec:\n  a:\n\xe2\x80\xa8   \"v\"\n  b: 1\n");
    /* A block scalar that ends at an LS (a line break to libyaml; found by the fuzzer). */
    expect("spec:\n  a: >\n   t\xe2\x80\xa8"
           "b: 1\n",
           SET, "a", NULL, "v", "spec:\n  a: \"v\"\nb: 1\n");
    expect("spec: {a: , b: 1}\n", SET, "a", NULL, "v", "spec: {a: v, b: 1}\n");
    expect("spec:\n  a: x\n", SET, "a", NULL, "x", "spec:\n  a: x\n");
    /* An anchor glued to its value (`&oci://r` is the anchor `oci` and the value `://r`,
     * found by the fuzzer): the new value must not join the anchor's name. */
    expect("spec:\r\n  a: &oci://r\teg\r\n", SET, "a", NULL, "v", "spec:\r\n  a: &oci v\r\n");
    expect("spec:\n  a: &x\n    y\n", SET, "a", NULL, "v", "spec:\n  a: &x\n    v\n");
}

OG_TEST(insert_block_and_flow)
{
    expect("spec:\n  a: 1 # one\n  b: 2\n", INSERT, "k", "a", "v",
           "spec:\n  a: 1 # one\n  k: v\n  b: 2\n");
    expect("spec:\n  a: 1\n  b:\n    c: 2\n  # tail comment\nnext: 1\n", INSERT, "k", NULL, "v",
           "spec:\n  a: 1\n  b:\n    c: 2\n  k: v\n  # tail comment\nnext: 1\n");
    expect("spec:\n  a: |\n    text\n\n  b: 1\n", INSERT, "k", "a", "v",
           "spec:\n  a: |\n    text\n\n  k: v\n  b: 1\n");
    expect("spec:\r\n    a: 1\r\n", INSERT, "k", NULL, "v: w",
           "spec:\r\n    a: 1\r\n    k: \"v: w\"\r\n");
    expect("spec: {a: 1}\n", INSERT, "k", NULL, "v", "spec: {a: 1, k: v}\n");
    expect("spec: {a: 1, b: 2}\n", INSERT, "k", "a", "[v]", "spec: {a: 1, k: \"[v]\", b: 2}\n");
    expect("spec: {}\n", INSERT, "k", NULL, "v", "spec: {k: v}\n");
    expect("spec: {\n  a: 1\n}\n", INSERT, "k", NULL, "v", "spec: {\n  a: 1, k: v\n}\n");
}

OG_TEST(remove_block_and_flow)
{
    expect("spec:\n  a: 1\n  b: 2 # gone\n  c: 3\n", REMOVE, "b", NULL, NULL,
           "spec:\n  a: 1\n  c: 3\n");
    expect("spec:\n  a: 1\n  b:\n    - x\n    - y\n  # kept\n  c: 3\n", REMOVE, "b", NULL, NULL,
           "spec:\n  a: 1\n  # kept\n  c: 3\n");
    expect("spec:\n  a: 1\n  b: 2", REMOVE, "b", NULL, NULL, "spec:\n  a: 1\n");
    expect("spec:\n  only: 1 # c\n", REMOVE, "only", NULL, NULL, "spec:\n  {} # c\n");
    expect("spec: {a: 1, b: 2, c: 3}\n", REMOVE, "b", NULL, NULL, "spec: {a: 1, c: 3}\n");
    expect("spec: {a: 1, b: 2}\n", REMOVE, "b", NULL, NULL, "spec: {a: 1}\n");
    expect("spec: {a: 1, b: 2,}\n", REMOVE, "b", NULL, NULL, "spec: {a: 1,}\n");
    expect("spec: { a: 1 }\n", REMOVE, "a", NULL, NULL, "spec: { }\n");
    expect("spec: {a: 1, b: 2}\n", REMOVE, "a", NULL, NULL, "spec: {b: 2}\n");
    /* A tag alone must not meet the '}' (found by the fuzzer). */
    expect("spec: {a: !t, b: 2}\n", REMOVE, "b", NULL, NULL, "spec: {a: !t }\n");
    expect("spec: {a: 1, !t, b: 2}\n", REMOVE, "b", NULL, NULL, "spec: {a: 1, !t }\n");
}

OG_TEST(remove_first_key_of_sequence_item)
{
    const char *text = "items:\n- a: 1\n  b: 2\n";
    struct og_manifest *m = NULL;
    struct og_diag diag;
    struct og_yamledit e;
    struct og_buf out;
    const struct og_manifest_node *item;

    ASSERT_EQ(og_manifest_parse(text, strlen(text), "t", NULL, &m, &diag), OG_OK);
    item = og_manifest_path(og_manifest_doc(m, 0)->root, "items")->child;
    og_yamledit_init(&e);
    ASSERT_EQ(og_yamledit_remove(&e, text, strlen(text), item, item->child), OG_OK);
    og_buf_init(&out, 1 << 20);
    ASSERT_EQ(og_yamledit_apply(&e, text, strlen(text), &out), OG_OK);
    ASSERT_STR_EQ(out.ptr, "items:\n- b: 2\n");
    og_buf_cleanup(&out);
    og_yamledit_cleanup(&e);
    og_manifest_free(m);
}

/* The edit is refused with a message that holds `why`, and adds nothing. */
static void refused(const char *text, enum prim p, const char *key, const char *value,
                    const char *why)
{
    struct og_buf out;
    struct og_yamledit e;

    ASSERT_EQ(edit(text, p, key, NULL, value, &out, &e), OG_EINVAL);
    ASSERT_STR_CONTAINS(e.msg, why);
    ASSERT_EQ(e.n, 0);
    og_yamledit_cleanup(&e);
    og_buf_cleanup(&out);
}

OG_TEST(refusals)
{
    struct og_yamledit e;

    refused("spec:\n  a: !!str x\n", SET, "a", "v", "tagged");
    refused("spec:\n  a: {x: 1}\n", SET, "a", "v", "not a scalar");
    /* A flow key without a colon has an empty value right after it and a blank (fuzz). */
    refused("spec: {a , b}\n", SET, "a", "v", "without a value");
    refused("spec:\n  a: x\n", SET, "a", "\xff", "UTF-8");
    refused("spec:\n  ? a\n  : 1\n  b: 2\n", REMOVE, "a", NULL, "explicit key");
    refused("spec:\n  ?\n    a\n  : 1\n  b: 2\n", REMOVE, "a", NULL, "explicit key");
    /* After an explicit key without a value, a new line would continue the key (fuzz). */
    refused("spec:\n  a: 1\n  ? b\n", INSERT, "k", "v", "layout");
    refused("spec:\n     ?  ", INSERT, "k", "v", "layout");
    /* A block scalar at the end of a file without a line break would gain one (fuzz). */
    refused("spec:\n  a:\n    b: >\n      t", INSERT, "k", "v", "block scalar");
    /* Its last line may be blanks that are content: nothing goes in before them (fuzz). */
    refused("spec:\n  a: >-\n    x\n     \t", INSERT, "k", "v", "block scalar");
    refused("spec: {? a : 1, b: 2}\n", REMOVE, "a", NULL, "explicit key");
    /* Removing up to an explicit next key would leave its `?` behind (fuzz). */
    refused("spec: {a: 1, ? , b: 2}\n", REMOVE, "a", NULL, "explicit key");
    refused("spec: [a]\n", INSERT, "k", "v", "not a mapping");
    {
        /* A single pair in a flow sequence has no braces to take a second pair (fuzz). */
        const char *t = "x: [a: 1]\n";
        struct og_manifest *m = NULL;
        struct og_diag diag;
        const struct og_manifest_node *pair;

        ASSERT_EQ(og_manifest_parse(t, strlen(t), "t", NULL, &m, &diag), OG_OK);
        pair = og_manifest_path(og_manifest_doc(m, 0)->root, "x")->child;
        ASSERT_EQ(pair->style, OG_MANIFEST_FLOW);
        og_yamledit_init(&e);
        ASSERT_EQ(
            og_yamledit_insert(&e, t, strlen(t), pair, NULL, OG_STR_LIT("k"), OG_STR_LIT("v")),
            OG_EINVAL);
        ASSERT_EQ(e.n, 0);
        og_manifest_free(m);
        t = "x: [a: {b: 1}]\n";
        ASSERT_EQ(og_manifest_parse(t, strlen(t), "t", NULL, &m, &diag), OG_OK);
        pair = og_manifest_path(og_manifest_doc(m, 0)->root, "x")->child;
        ASSERT_EQ(og_yamledit_remove(&e, t, strlen(t), pair, pair->child), OG_EINVAL);
        ASSERT_EQ(e.n, 0);
        og_manifest_free(m);
    }
    og_yamledit_cleanup(&e);
}

OG_TEST(apply_checks_overlap)
{
    const char *y = "spec:\n  a: 1\n  b: 2\n";
    struct og_manifest *m = NULL;
    struct og_diag diag;
    const struct og_manifest_node *spec;
    struct og_yamledit e;
    struct og_buf out;

    ASSERT_EQ(og_manifest_parse(y, strlen(y), "t", NULL, &m, &diag), OG_OK);
    spec = og_manifest_get(og_manifest_doc(m, 0)->root, OG_STR_LIT("spec"));
    og_yamledit_init(&e);
    og_buf_init(&out, 100);
    /* Setting a value inside a key that is removed: the two edits overlap. */
    ASSERT_EQ(og_yamledit_remove(&e, y, strlen(y), spec, spec->child), OG_OK);
    ASSERT_EQ(og_yamledit_set(&e, y, strlen(y), spec->child->val, OG_STR_LIT("9")), OG_OK);
    ASSERT_EQ(og_yamledit_apply(&e, y, strlen(y), &out), OG_EINVAL);
    ASSERT_STR_CONTAINS(e.msg, "overlap");
    og_yamledit_cleanup(&e);
    og_buf_reset(&out);
    /* No edits: the input as it is. */
    ASSERT_EQ(og_yamledit_apply(&e, y, strlen(y), &out), OG_OK);
    ASSERT_STR_EQ(out.ptr, y);
    og_buf_cleanup(&out);
    og_manifest_free(m);
}

OG_TEST(fix_empty_value_at_end_of_file)
{
    /* The url goes in after `type:`, whose new value lands at the same place (fuzz). */
    const char *text = "apiVersion: v1\nkind: HelmRepository\nspec:\n  a: 1\n  type:";
    size_t glen, n;
    char *got = fix_all(text, strlen(text), &glen, &n);

    ASSERT_EQ(n, 2);
    ASSERT_MEM_EQ(got, glen,
                  "apiVersion: v1\nkind: HelmRepository\nspec:\n  a: 1\n  type: oci\n"
                  "  url: " OCI_URL);
    free(got);
}

OG_TEST(fix_refusals_leave_edits_unchanged)
{
    const char *text = "apiVersion: v1\nkind: HelmRepository\nspec:\n  passCredentials: true\n"
                       "---\napiVersion: v1\nkind: HelmRepository\nspec: {}\n"
                       "---\napiVersion: v1\nkind: HelmRepository\nspec:\n  url: !!str x\n";
    struct og_manifest *m = NULL;
    struct og_diag diag;
    struct og_yamledit e;

    ASSERT_EQ(og_manifest_parse(text, strlen(text), "t", NULL, &m, &diag), OG_OK);
    og_yamledit_init(&e);
    for (size_t i = 0; i < 3; i++) {
        ASSERT_EQ(og_yamledit_fix_helmrepo(&e, text, strlen(text), og_manifest_object(m, i),
                                           OG_STR_LIT(OCI_URL)),
                  OG_EINVAL);
        ASSERT(e.msg[0] != '\0');
        ASSERT_EQ(e.n, 0);
    }
    og_yamledit_cleanup(&e);
    og_manifest_free(m);
}

/* Adds a raw edit (the diff is a function of the edits; this reaches every shape of them). */
static void add_raw(struct og_yamledit *e, size_t start, size_t end, const char *text)
{
    struct og_yamledit_op *ops = realloc(e->ops, (e->n + 1) * sizeof(*ops));

    ASSERT(ops != NULL);
    e->ops = ops;
    e->cap = e->n + 1;
    e->ops[e->n].start = start;
    e->ops[e->n].end = end;
    e->ops[e->n].len = strlen(text);
    e->ops[e->n].text = strdup(text);
    ASSERT(e->ops[e->n].text != NULL);
    e->n++;
}

OG_TEST(diff_shapes)
{
    static const struct {
        const char *data;
        size_t start, end;
        const char *text;
        size_t start2, end2; /* a second edit when end2 > 0 */
        const char *text2;
        const char *want;
    } cases[] = {
        /* a line replaced */
        {"x\ny\nz\n", 2, 4, "Y\n", 0, 0, NULL, "@@ -1,3 +1,3 @@\n x\n-y\n+Y\n z\n"},
        /* a line's break removed: it joins the next one */
        {"x\ny\nz\n", 2, 4, "Y", 0, 0, NULL, "@@ -1,3 +1,2 @@\n x\n-y\n-z\n+Yz\n"},
        /* a line inserted at a line start; a line removed */
        {"x\ny\n", 2, 2, "i\n", 0, 0, NULL, "@@ -1,2 +1,3 @@\n x\n+i\n y\n"},
        {"x\ny\nz\n", 2, 4, "", 0, 0, NULL, "@@ -1,3 +1,2 @@\n x\n-y\n z\n"},
        /* inside a line, at the end of a file without a final line break */
        {"a\nb", 3, 3, "\nc", 0, 0, NULL,
         "@@ -1,2 +1,3 @@\n a\n-b\n\\ No newline at end of file\n+b\n+c\n"
         "\\ No newline at end of file\n"},
        /* CR LF lines keep their CR */
        {"a\r\nb\r\n", 0, 1, "A", 0, 0, NULL, "@@ -1,2 +1,2 @@\n-a\r\n+A\r\n b\r\n"},
        /* two edits on one line: one change (the first one's new end must not be taken
         * before the second shortens the line: found by fuzz_yamledit) */
        {"ab, cdef}\n---\nx\n", 1, 1, "Q", 2, 8, "",
         "@@ -1,3 +1,3 @@\n-ab, cdef}\n+aQb}\n ---\n x\n"},
        {"abc\n", 0, 1, "A", 2, 3, "C", "@@ -1 +1 @@\n-abc\n+AbC\n"},
        /* edits far apart: two hunks; near: one */
        {"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n", 0, 1, "one", 24, 26, "twelve",
         "@@ -1,4 +1,4 @@\n-1\n+one\n 2\n 3\n 4\n@@ -9,4 +9,4 @@\n 9\n 10\n 11\n-12\n+twelve\n"},
        {"1\n2\n3\n4\n5\n6\n7\n8\n", 0, 1, "one", 14, 15, "eight",
         "@@ -1,8 +1,8 @@\n-1\n+one\n 2\n 3\n 4\n 5\n 6\n 7\n-8\n+eight\n"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *data = cases[i].data;
        struct og_buf fixed, diff;
        struct og_yamledit e;

        og_yamledit_init(&e);
        og_buf_init(&fixed, 1 << 16);
        og_buf_init(&diff, 1 << 16);
        add_raw(&e, cases[i].start, cases[i].end, cases[i].text);
        if (cases[i].end2 > 0)
            add_raw(&e, cases[i].start2, cases[i].end2, cases[i].text2);
        ASSERT_EQ(og_yamledit_apply(&e, data, strlen(data), &fixed), OG_OK);
        ASSERT_EQ(og_yamledit_diff(&e, data, strlen(data), fixed.ptr, fixed.len, "f", &diff),
                  OG_OK);
        ASSERT_EQ(og_buf_append(&diff, "", 1), OG_OK);
        ASSERT_EQ(strncmp(diff.ptr, "--- f\n+++ f\n", 12), 0);
        ASSERT_STR_EQ(diff.ptr + 12, cases[i].want);
        /* A result that is not the edits' gives OG_EINVAL. */
        og_buf_reset(&diff);
        ASSERT_EQ(og_yamledit_diff(&e, data, strlen(data), fixed.ptr, fixed.len + 1, "f", &diff),
                  OG_EINVAL);
        og_buf_cleanup(&fixed);
        og_buf_cleanup(&diff);
        og_yamledit_cleanup(&e);
    }
}

OG_TEST_MAIN(OG_T(fix_block), OG_T(fix_crlf), OG_T(fix_flow), OG_T(fix_tabs_and_odd_indentation),
             OG_T(fix_no_final_newline), OG_T(fix_list_and_multi_doc_keep_other_bytes),
             OG_T(fix_list_golden), OG_T(set_keeps_or_changes_quoting),
             OG_T(set_block_scalar_and_empty), OG_T(insert_block_and_flow),
             OG_T(remove_block_and_flow), OG_T(remove_first_key_of_sequence_item), OG_T(refusals),
             OG_T(apply_checks_overlap), OG_T(fix_empty_value_at_end_of_file),
             OG_T(fix_refusals_leave_edits_unchanged), OG_T(diff_shapes))
