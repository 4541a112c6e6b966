/*
 * test_manifest.c - the manifest reader: documents and objects of multi-document streams and
 * Lists, positions (line, column, byte offsets) of every kind of node, styles, bad input with
 * its position, caps, and the JSON typing of scalars.
 */
#include "harness.h"

#include "manifest_int.h"
#include "ocigate/buf.h"
#include "ocigate/manifest.h"

#define DIR OG_SOURCE_DIR "/tests/data/manifests/"

static struct og_manifest *parse_file(const char *file, char **data, size_t *len)
{
    struct og_manifest *m = NULL;
    struct og_diag diag;
    char path[512];

    snprintf(path, sizeof(path), DIR "%s", file);
    *data = og_test_read_file(path, len);
    ASSERT(*data != NULL);
    og_diag_clear(&diag);
    ASSERT_EQ(og_manifest_parse(*data, *len, file, NULL, &m, &diag), OG_OK);
    return m;
}

static enum og_err parse_str(const char *text, const struct og_manifest_limits *lim,
                             struct og_manifest **m, struct og_diag *diag)
{
    og_diag_clear(diag);
    return og_manifest_parse(text, strlen(text), "t.yaml", lim, m, diag);
}

/* The bytes a node covers, from its body to its end. */
static void assert_text(const char *data, const struct og_manifest_node *n, const char *want)
{
    ASSERT(n != NULL);
    ASSERT_MEM_EQ(data + n->body, n->end.offset - n->body, want);
}

OG_TEST(block_object_fields_and_positions)
{
    size_t len;
    char *data;
    struct og_manifest *m = parse_file("block.yaml", &data, &len);
    const struct og_manifest_object *o;
    const struct og_manifest_node *spec, *k;

    ASSERT_EQ(og_manifest_doc_count(m), 1);
    ASSERT_EQ(og_manifest_object_count(m), 1);
    o = og_manifest_object(m, 0);
    ASSERT_MEM_EQ(o->api_version.ptr, o->api_version.len, "source.toolkit.fluxcd.io/v1");
    ASSERT_MEM_EQ(o->group.ptr, o->group.len, "source.toolkit.fluxcd.io");
    ASSERT_MEM_EQ(o->version.ptr, o->version.len, "v1");
    ASSERT_MEM_EQ(o->kind.ptr, o->kind.len, "HelmRepository");
    ASSERT_MEM_EQ(o->ns.ptr, o->ns.len, "flux-system");
    ASSERT_MEM_EQ(o->name.ptr, o->name.len, "bitnami");
    ASSERT_MEM_EQ(o->mode.ptr, o->mode.len, "enforce");
    ASSERT(!o->deleting);
    ASSERT_EQ(o->item, SIZE_MAX);
    /* The object's mapping starts at its first key, line 2 after the comment. */
    ASSERT_EQ(o->root->start.line, 2);
    ASSERT_EQ(o->root->start.column, 1);
    ASSERT_EQ(o->root->style, OG_MANIFEST_BLOCK);
    spec = og_manifest_path(o->root, "spec");
    ASSERT_EQ(spec->count, 4);
    k = og_manifest_key(spec, OG_STR_LIT("url"));
    ASSERT_EQ(k->start.line, 11);
    ASSERT_EQ(k->start.column, 3);
    assert_text(data, k, "url");
    ASSERT_EQ(k->val->start.line, 11);
    ASSERT_EQ(k->val->start.column, 8);
    assert_text(data, k->val, "https://charts.bitnami.com/bitnami");
    ASSERT_EQ(k->val->end.column, 8 + 34);
    ASSERT(og_manifest_is_string(k->val));
    k = og_manifest_key(spec, OG_STR_LIT("passCredentials"));
    ASSERT_EQ(og_manifest_resolve(k->val, NULL), OG_MANIFEST_BOOL);
    ASSERT_EQ(og_manifest_path(o->root, "spec.secretRef")->type, OG_MANIFEST_MAPPING);
    ASSERT_STR_EQ(og_manifest_path(o->root, "spec.secretRef.name")->value, "creds");
    ASSERT(og_manifest_path(o->root, "spec.nothing.here") == NULL);
    ASSERT(og_manifest_path(o->root, "spec.url.deeper") == NULL);
    og_manifest_free(m);
    free(data);
}

OG_TEST(multi_documents_and_helmrelease_paths)
{
    size_t len;
    char *data;
    struct og_manifest *m = parse_file("multi.yaml", &data, &len);
    const struct og_manifest_object *o;
    const struct og_manifest_node *deps;

    /* A scalar, an empty document, a ConfigMap ending in `...`, a HelmRelease, a mapping
     * without kind: two objects. */
    ASSERT_EQ(og_manifest_doc_count(m), 5);
    ASSERT_EQ(og_manifest_object_count(m), 2);
    ASSERT(og_manifest_doc(m, 0)->explicit_start);
    ASSERT_EQ(og_manifest_doc(m, 0)->root->type, OG_MANIFEST_SCALAR);
    ASSERT_EQ(og_manifest_doc(m, 1)->root->len, 0);
    ASSERT_EQ(og_manifest_doc(m, 2)->start.line, 5);
    assert_text(data, og_manifest_doc(m, 2)->root,
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                "  name: cm\ndata:\n  enabled: \"true\"\n");
    /* The document ends after its `...`. */
    ASSERT_MEM_EQ(data + og_manifest_doc(m, 2)->end.offset - 3, 3, "...");
    o = og_manifest_object(m, 0);
    ASSERT_EQ(o->doc, 2);
    ASSERT_EQ(o->group.len, 0);
    ASSERT_MEM_EQ(o->version.ptr, o->version.len, "v1");
    ASSERT_EQ(o->ns.ptr, NULL);
    o = og_manifest_object(m, 1);
    ASSERT_EQ(o->doc, 3);
    ASSERT_STR_EQ(og_manifest_path(o->root, "spec.chart.spec.chart")->value, "redis");
    ASSERT_STR_EQ(og_manifest_path(o->root, "spec.chart.spec.version")->value, ">=17.0.0");
    ASSERT_STR_EQ(og_manifest_path(o->root, "spec.chart.spec.sourceRef.namespace")->value,
                  "flux-system");
    ASSERT_STR_EQ(og_manifest_path(o->root, "spec.interval")->value, "10m");
    ASSERT(og_manifest_path(o->root, "spec.valuesFrom") != NULL);
    deps = og_manifest_path(o->root, "spec.dependsOn");
    ASSERT_EQ(deps->count, 2);
    ASSERT_EQ(deps->style, OG_MANIFEST_BLOCK);
    ASSERT_STR_EQ(og_manifest_get(og_manifest_item(deps, 1), OG_STR_LIT("namespace"))->value,
                  "data");
    ASSERT(og_manifest_item(deps, 2) == NULL);
    ASSERT_EQ(og_manifest_item(deps, 1)->start.line, 31);
    og_manifest_free(m);
    free(data);
}

OG_TEST(list_items_are_objects)
{
    size_t len;
    char *data;
    struct og_manifest *m = parse_file("list.yaml", &data, &len);
    const struct og_manifest_object *a, *b;

    ASSERT_EQ(og_manifest_doc_count(m), 1);
    ASSERT_EQ(og_manifest_object_count(m), 2);
    a = og_manifest_object(m, 0);
    b = og_manifest_object(m, 1);
    ASSERT_EQ(a->item, 0);
    ASSERT_EQ(b->item, 2);
    ASSERT_MEM_EQ(a->name.ptr, a->name.len, "a");
    ASSERT(a->deleting);
    ASSERT_MEM_EQ(b->ns.ptr, b->ns.len, "ns2");
    ASSERT(!b->deleting);
    ASSERT_EQ(a->root->start.line, 4);
    ASSERT_EQ(a->root->start.column, 3);
    ASSERT_EQ(og_manifest_get(b->root, OG_STR_LIT("metadata"))->style, OG_MANIFEST_FLOW);
    og_manifest_free(m);
    free(data);
}

OG_TEST(flow_and_quoted_styles)
{
    size_t len;
    char *data;
    struct og_manifest *m = parse_file("flow.yaml", &data, &len);
    const struct og_manifest_node *spec = og_manifest_path(og_manifest_object(m, 0)->root, "spec");
    const struct og_manifest_node *url = og_manifest_get(spec, OG_STR_LIT("url"));

    ASSERT_EQ(spec->style, OG_MANIFEST_FLOW);
    assert_text(data, spec,
                "{url: 'https://charts.bitnami.com/bitnami', passCredentials: true, "
                "interval: 1h}");
    ASSERT_EQ(spec->start.column, 7);
    ASSERT_EQ(url->style, OG_MANIFEST_SINGLE_QUOTED);
    assert_text(data, url, "'https://charts.bitnami.com/bitnami'");
    ASSERT_STR_EQ(url->value, "https://charts.bitnami.com/bitnami");
    ASSERT_EQ(og_manifest_object(m, 1)->doc, 1);
    ASSERT_EQ(og_manifest_doc(m, 1)->start.line, 5);
    og_manifest_free(m);
    free(data);
}

OG_TEST(crlf_offsets)
{
    size_t len;
    char *data;
    struct og_manifest *m = parse_file("crlf.yaml", &data, &len);
    const struct og_manifest_node *url =
        og_manifest_path(og_manifest_object(m, 0)->root, "spec.url");

    ASSERT_EQ(url->start.line, 6);
    ASSERT_EQ(url->style, OG_MANIFEST_DOUBLE_QUOTED);
    assert_text(data, url, "\"https://charts.bitnami.com/bitnami\"");
    og_manifest_free(m);
    free(data);
}

OG_TEST(bom_and_utf8_offsets)
{
    size_t len;
    char *data;
    struct og_manifest *m = parse_file("bom.yaml", &data, &len);
    const struct og_manifest_object *o = og_manifest_object(m, 0);
    const struct og_manifest_node *ns = og_manifest_path(o->root, "metadata.namespace");

    /* Byte offsets count the BOM and both bytes of each é; columns count characters. */
    ASSERT_EQ(o->root->start.offset, 3);
    ASSERT_EQ(o->root->start.column, 1);
    ASSERT_MEM_EQ(o->name.ptr, o->name.len, "h\xc3\xa9llo");
    assert_text(data, og_manifest_path(o->root, "metadata.name"), "\"h\xc3\xa9llo\"");
    assert_text(data, ns, "caf\xc3\xa9");
    ASSERT_EQ(ns->end.offset, len - 1);
    ASSERT_EQ(ns->end.column, 18);
    og_manifest_free(m);
    free(data);
}

OG_TEST(scalar_styles_and_json_typing)
{
    size_t len;
    char *data;
    struct og_manifest *m = parse_file("styles.yaml", &data, &len);
    const struct og_manifest_node *root = og_manifest_object(m, 0)->root;
    const struct og_manifest_node *d = og_manifest_get(root, OG_STR_LIT("data"));
    cJSON *j = NULL;
    char *text;

    ASSERT_STR_EQ(og_manifest_object(m, 0)->name.ptr, "single 'quoted'");
    ASSERT_EQ(og_manifest_get(d, OG_STR_LIT("literal"))->style, OG_MANIFEST_LITERAL);
    ASSERT_EQ(og_manifest_get(d, OG_STR_LIT("folded"))->style, OG_MANIFEST_FOLDED);
    assert_text(data, og_manifest_get(d, OG_STR_LIT("literal")), "|\n    line one\n    line two\n");
    assert_text(data, og_manifest_get(d, OG_STR_LIT("tagged")), "\"42\"");
    ASSERT_STR_EQ(og_manifest_get(d, OG_STR_LIT("tagged"))->tag, "tag:yaml.org,2002:int");
    ASSERT_EQ(og_manifest_to_json(d, &j), OG_OK);
    text = cJSON_PrintUnformatted(j);
    ASSERT_STR_EQ(text, "{\"double\":\"tab\\there\",\"literal\":\"line one\\nline two\\n\","
                        "\"folded\":\"folded text\",\"bool\":true,\"int\":31,\"oct\":493,"
                        "\"float\":1500,\"null1\":null,\"null2\":null,\"str\":\"true\","
                        "\"ts\":\"2024-01-01\",\"big\":1.2345678901234569e+23,"
                        "\"inf\":\".inf\",\"tagged\":42}");
    cJSON_free(text);
    cJSON_Delete(j);
    og_manifest_free(m);
    free(data);
}

OG_TEST(plain_resolution_table)
{
    static const struct {
        const char *in;
        enum og_manifest_scalar want;
        double num;
    } cases[] = {
        {"", OG_MANIFEST_NULL, 0},
        {"~", OG_MANIFEST_NULL, 0},
        {"NULL", OG_MANIFEST_NULL, 0},
        {"nUll", OG_MANIFEST_STRING, 0},
        {"True", OG_MANIFEST_BOOL, 1},
        {"OFF", OG_MANIFEST_BOOL, 0},
        {"y", OG_MANIFEST_BOOL, 1},
        {"N", OG_MANIFEST_BOOL, 0},
        {"oN", OG_MANIFEST_STRING, 0},
        {"-12", OG_MANIFEST_INT, -12},
        {"+1_000", OG_MANIFEST_INT, 1000},
        {"0b101", OG_MANIFEST_INT, 5},
        {"0o17", OG_MANIFEST_INT, 15},
        {"017", OG_MANIFEST_INT, 15},
        {"09", OG_MANIFEST_FLOAT, 9},
        {"0x", OG_MANIFEST_STRING, 0},
        {".5", OG_MANIFEST_FLOAT, 0.5},
        {"1.", OG_MANIFEST_FLOAT, 1},
        {"1e3", OG_MANIFEST_FLOAT, 1000},
        {"1e", OG_MANIFEST_STRING, 0},
        {".", OG_MANIFEST_STRING, 0},
        {"-", OG_MANIFEST_STRING, 0},
        {"_1", OG_MANIFEST_STRING, 0},
        {"1h", OG_MANIFEST_STRING, 0},
        {"v1", OG_MANIFEST_STRING, 0},
        {"1.2.3", OG_MANIFEST_STRING, 0},
        {"-9223372036854775808", OG_MANIFEST_INT, -9223372036854775808.0},
        {"18446744073709551615", OG_MANIFEST_INT, 18446744073709551615.0},
        {"18446744073709551616", OG_MANIFEST_FLOAT, 18446744073709551616.0},
        {"0xFFFFFFFFFFFFFFFFF", OG_MANIFEST_STRING, 0},
        {"1e999", OG_MANIFEST_STRING, 0},
        {"-1e308", OG_MANIFEST_FLOAT, -1e308},
        {"123456781e378901234", OG_MANIFEST_STRING, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double num = 0;
        enum og_manifest_scalar got = og_manifest_resolve_plain(og_str_of(cases[i].in), &num);

        if (got != cases[i].want)
            fprintf(stderr, "  case \"%s\"\n", cases[i].in);
        ASSERT_EQ(got, cases[i].want);
        if (got == OG_MANIFEST_INT || got == OG_MANIFEST_FLOAT || got == OG_MANIFEST_BOOL)
            ASSERT(num == cases[i].num);
    }
}

OG_TEST(alias_is_refused_with_position)
{
    size_t len;
    char *data = og_test_read_file(DIR "anchors.yaml", &len);
    struct og_manifest *m = NULL;
    struct og_diag diag;

    ASSERT(data != NULL);
    ASSERT_EQ(og_manifest_parse(data, len, "anchors.yaml", NULL, &m, &diag), OG_EPARSE);
    ASSERT(m == NULL);
    ASSERT_EQ(diag.line, 6);
    ASSERT_EQ(diag.column, 9);
    ASSERT_STR_CONTAINS(diag.msg, "alias \"*n\"");
    ASSERT_STR_EQ(diag.file, "anchors.yaml");
    free(data);
    /* Anchors alone are fine; the body skips them (and a tag). */
    m = parse_file("anchor-only.yaml", &data, &len);
    assert_text(data, og_manifest_path(og_manifest_object(m, 0)->root, "data.key"), "123");
    ASSERT_EQ(
        og_manifest_resolve(og_manifest_path(og_manifest_object(m, 0)->root, "data.key"), NULL),
        OG_MANIFEST_STRING);
    ASSERT_EQ(og_manifest_path(og_manifest_object(m, 0)->root, "metadata")->body,
              og_manifest_path(og_manifest_object(m, 0)->root, "metadata")->child->start.offset);
    og_manifest_free(m);
    free(data);
    /* An anchor name ends where libyaml's name characters end. */
    ASSERT_EQ(parse_str("a: &oci://r\n", NULL, &m, &diag), OG_OK);
    assert_text("a: &oci://r\n", og_manifest_doc(m, 0)->root->child->val, "://r");
    og_manifest_free(m);
    /* libyaml (YAML 1.1) takes LS as a line break between an anchor and its value (fuzz). */
    ASSERT_EQ(parse_str("a: &meta\n \xe2\x80\xa8 v\n", NULL, &m, &diag), OG_OK);
    assert_text("a: &meta\n \xe2\x80\xa8 v\n", og_manifest_doc(m, 0)->root->child->val, "v");
    og_manifest_free(m);
}

OG_TEST(duplicate_key_at_second)
{
    size_t len;
    char *data = og_test_read_file(DIR "dupkey.yaml", &len);
    struct og_manifest *m = NULL;
    struct og_diag diag;
    struct og_buf big;

    ASSERT(data != NULL);
    ASSERT_EQ(og_manifest_parse(data, len, "dupkey.yaml", NULL, &m, &diag), OG_EPARSE);
    ASSERT_EQ(diag.line, 6);
    ASSERT_EQ(diag.column, 3);
    ASSERT_STR_CONTAINS(diag.msg, "duplicate key \"name\"");
    free(data);
    /* In a large mapping (the hashed check), and with keys that differ only in quoting. */
    og_buf_init(&big, 1 << 20);
    for (int i = 0; i < 500; i++)
        ASSERT_EQ(og_buf_appendf(&big, "k%d: v\n", i), OG_OK);
    ASSERT_EQ(og_buf_append_cstr(&big, "\"k250\": again\n"), OG_OK);
    ASSERT_EQ(parse_str(big.ptr, NULL, &m, &diag), OG_EPARSE);
    ASSERT_EQ(diag.line, 501);
    og_buf_cleanup(&big);
    ASSERT_EQ(parse_str("{1: a, \"1\": b}", NULL, &m, &diag), OG_EPARSE);
    ASSERT_EQ(diag.column, 8);
}

OG_TEST(bad_input_positions)
{
    static const struct {
        const char *in;
        enum og_err rc;
        unsigned line, column;
        const char *msg;
    } cases[] = {
        {"a: [unclosed\n", OG_EPARSE, 2, 1, "invalid YAML"},
        {"a: b\n c: d\n", OG_EPARSE, 2, 3, "invalid YAML"},
        {"a: \"x\x01\"\n", OG_EPARSE, 1, 6, "invalid YAML"},
        {"x: 1\n\xff\n", OG_EPARSE, 2, 1, "invalid YAML"},
        {"? [a]\n: b\n", OG_EPARSE, 1, 3, "must be a scalar"},
        {"\xff\xfe"
         "a\0:\0",
         OG_EPARSE, 1, 1, "UTF-16"},
        {"- *x\n", OG_EPARSE, 1, 3, "alias"},
        {"a:\n\t- b\n", OG_EPARSE, 2, 1, "invalid YAML"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct og_manifest *m = NULL;
        struct og_diag diag;
        size_t n = i == 5 ? 6 : strlen(cases[i].in);

        og_diag_clear(&diag);
        if (og_manifest_parse(cases[i].in, n, "bad.yaml", NULL, &m, &diag) != cases[i].rc)
            fprintf(stderr, "  case %zu: %s\n", i, diag.msg);
        ASSERT(m == NULL);
        ASSERT_EQ(diag.line, cases[i].line);
        ASSERT_EQ(diag.column, cases[i].column);
        ASSERT_STR_CONTAINS(diag.msg, cases[i].msg);
    }
}

OG_TEST(caps)
{
    struct og_manifest_limits lim = {.max_bytes = 10};
    struct og_manifest *m = NULL;
    struct og_diag diag;

    ASSERT_EQ(parse_str("a: 0123456789", &lim, &m, &diag), OG_ETOOBIG);
    ASSERT_STR_CONTAINS(diag.msg, "larger than 10 bytes");
    lim = (struct og_manifest_limits){.max_nodes = 4};
    ASSERT_EQ(parse_str("a: b\nc: d\n", &lim, &m, &diag), OG_ETOOBIG);
    ASSERT_EQ(diag.line, 2);
    ASSERT_EQ(diag.column, 4);
    ASSERT_EQ(parse_str("a: b\nc:\n", &lim, &m, &diag), OG_ETOOBIG);
    lim.max_nodes = 5;
    ASSERT_EQ(parse_str("a: b\nc: d\n", &lim, &m, &diag), OG_OK);
    og_manifest_free(m);
    lim = (struct og_manifest_limits){.max_depth = 3};
    ASSERT_EQ(parse_str("a: [[1]]\n", &lim, &m, &diag), OG_OK);
    og_manifest_free(m);
    ASSERT_EQ(parse_str("a: [[[1]]]\n", &lim, &m, &diag), OG_ETOOBIG);
    ASSERT_EQ(diag.column, 6);
    ASSERT_STR_CONTAINS(diag.msg, "nested too deep");
}

OG_TEST(non_objects_are_skipped)
{
    struct og_manifest *m = NULL;
    struct og_diag diag;

    ASSERT_EQ(parse_str("", NULL, &m, &diag), OG_OK);
    ASSERT_EQ(og_manifest_doc_count(m), 0);
    og_manifest_free(m);
    ASSERT_EQ(parse_str("--- 1\n--- [a]\n--- {kind: X}\n--- {apiVersion: 1, kind: X}\n"
                        "--- {apiVersion: v1, kind: [X]}\n--- {kind: List, apiVersion: v1}\n"
                        "--- {kind: FooList, apiVersion: v1, items: [1, {kind: K, apiVersion: "
                        "v1}]}\n",
                        NULL, &m, &diag),
              OG_OK);
    ASSERT_EQ(og_manifest_doc_count(m), 7);
    /* A List without items is an object of its own; FooList yields its one object item. */
    ASSERT_EQ(og_manifest_object_count(m), 2);
    ASSERT_MEM_EQ(og_manifest_object(m, 0)->kind.ptr, og_manifest_object(m, 0)->kind.len, "List");
    ASSERT_EQ(og_manifest_object(m, 1)->item, 1);
    og_manifest_free(m);
}

OG_TEST(document_markers_positions)
{
    const char *text = "a: 1\n...\n--- # two\nb: 2\n";
    struct og_manifest *m = NULL;
    struct og_diag diag;

    ASSERT_EQ(parse_str(text, NULL, &m, &diag), OG_OK);
    ASSERT_EQ(og_manifest_doc_count(m), 2);
    ASSERT(!og_manifest_doc(m, 0)->explicit_start);
    ASSERT_EQ(og_manifest_doc(m, 0)->end.offset, 8);
    ASSERT(og_manifest_doc(m, 1)->explicit_start);
    ASSERT_EQ(og_manifest_doc(m, 1)->start.offset, 9);
    ASSERT_EQ(og_manifest_doc(m, 1)->start.line, 3);
    ASSERT_EQ(og_manifest_doc(m, 1)->root->start.offset, 19);
    og_manifest_free(m);
}

/* The one rule of lib/'s YAML writers for quoting a string: every reader must see a string. */
OG_TEST(needs_quotes_for_every_reader)
{
    static const struct {
        const char *s;
        bool quote;
    } cases[] = {
        {"", true},
        {"~", true},
        {"null", true},
        {"Off", true},
        {"Y", true},
        {"1.5", true},
        {"0x1f", true},
        {"0o17", true},
        {"-12", true},
        {"1e3", true},
        {".5", true},
        {"1_000", true},
        {"1:20", true},
        {".inf", true},
        {"-.Inf", true},
        {"+.INF", true},
        {".NaN", true},
        {"abc", false},
        {"10m", false},
        {"1h", false},
        {"yEs", false},
        {"e", false},
        {"-", false},
        {"*-system", false},
        {"a:b", false},
        {"v1.2.3", false},
        {"oci://r.io/x", false},
        /* Negative numbers in every form, and what strtod() reads as one. */
        {"-1", true},
        {"-0x1f", true},
        {"-.5", true},
        {"-0", true},
        {"-1e3", true},
        {"-1_000", true},
        {"-inf", true},
        {"+Inf", true},
        {"-Infinity", true},
        {"inf", true},
        {"NaN", true},
        {"-nan", true},
        {"-x", false},
        {"-in", false},
        {"infra", false},
        {"-", false},
        {"--1", false},
        {"nano", false},
        /* YAML 1.1 floats (PyYAML) that Kubernetes reads as strings. */
        {".1_0", true},
        {"-.1_0", true},
        {"1_0.5", true},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (og__manifest_needs_quotes(og_str_of(cases[i].s)) != cases[i].quote)
            OG_FAIL_("\"%s\": needs quotes should be %d", cases[i].s, cases[i].quote);
    }
}

/* The policy's input: NUL-terminated group, the members by type, and the rules' decision. */
OG_TEST(policy_input)
{
    const char *text =
        "apiVersion: source.toolkit.fluxcd.io/v1\n"
        "kind: HelmRepository\n"
        "metadata: {name: b, namespace: ns1, annotations: {ocigate.io/mode: audit}}\n"
        "spec: {url: https://charts.bitnami.com/bitnami, type: 1, passCredentials: "
        "~, secretRef: x}\n"
        "---\n"
        "apiVersion: v1\nkind: ConfigMap\nspec: [a]\n";
    struct og_manifest_policy_input in;
    struct og_manifest *m = NULL;
    struct og_config *cfg = NULL;
    struct og_decision d;
    struct og_diag diag;

    ASSERT_EQ(parse_str(text, NULL, &m, &diag), OG_OK);
    ASSERT(og_manifest_policy_input(og_manifest_object(m, 0), &in));
    ASSERT_STR_EQ(in.obj.group, "source.toolkit.fluxcd.io");
    ASSERT_STR_EQ(in.obj.version, "v1");
    ASSERT_STR_EQ(in.obj.kind, "HelmRepository");
    ASSERT_STR_EQ(in.obj.namespace_, "ns1");
    ASSERT_STR_EQ(in.obj.name, "b");
    ASSERT_STR_EQ(in.obj.mode_annotation, "audit");
    ASSERT_STR_EQ(in.obj.url, "https://charts.bitnami.com/bitnami");
    ASSERT(in.obj.has_spec && in.obj.has_url && in.obj.has_type && in.obj.has_pass_credentials);
    ASSERT(in.obj.type == NULL); /* an int is no string */
    ASSERT(!in.obj.has_secret_ref);
    ASSERT_EQ(in.ctx.op, OG_OP_CREATE);
    ASSERT_STR_EQ(in.ctx.username, "");
    ASSERT_EQ(og_config_new(&cfg), OG_OK);
    ASSERT_EQ(og_policy_eval(cfg, &in.obj, &in.ctx, OG_ENDPOINT_VALIDATE, &d), OG_OK);
    ASSERT_EQ(d.rule, OG_RULE_KNOWN_MIGRATION);
    ASSERT_STR_EQ(d.suggested_url, "oci://registry-1.docker.io/bitnamicharts");
    ASSERT_STR_EQ(d.problem, "https://charts.bitnami.com/bitnami moved its charts to OCI "
                             "(oci://registry-1.docker.io/bitnamicharts)");
    ASSERT(d.patch == NULL);
    og_decision_cleanup(&d);
    ASSERT(og_manifest_policy_input(og_manifest_object(m, 1), &in));
    ASSERT_STR_EQ(in.obj.group, "");
    ASSERT(!in.obj.has_spec);
    ASSERT_EQ(og_policy_eval(cfg, &in.obj, &in.ctx, OG_ENDPOINT_VALIDATE, &d), OG_OK);
    ASSERT_EQ(d.rule, OG_RULE_NONE);
    og_decision_cleanup(&d);
    og_config_unref(cfg);
    og_manifest_free(m);
}

OG_TEST_MAIN(OG_T(block_object_fields_and_positions), OG_T(multi_documents_and_helmrelease_paths),
             OG_T(list_items_are_objects), OG_T(flow_and_quoted_styles), OG_T(crlf_offsets),
             OG_T(bom_and_utf8_offsets), OG_T(scalar_styles_and_json_typing),
             OG_T(plain_resolution_table), OG_T(alias_is_refused_with_position),
             OG_T(duplicate_key_at_second), OG_T(bad_input_positions), OG_T(caps),
             OG_T(non_objects_are_skipped), OG_T(document_markers_positions),
             OG_T(needs_quotes_for_every_reader), OG_T(policy_input))
