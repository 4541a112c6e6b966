#include "harness.h"

#include <cjson/cJSON.h>

#include "jsonpatch_apply.h"
#include "ocigate/jsonpatch.h"

/* RFC 6902 appendix A examples and error cases, applied to a document. */
OG_TEST(apply_table)
{
    static const struct {
        const char *doc;
        const char *patch;
        enum og_err rc;
        const char *want; /* compact JSON after the patch, when rc == OG_OK */
    } cases[] = {
        {"{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]", OG_OK,
         "{\"foo\":\"bar\",\"baz\":\"qux\"}"},
        {"{\"foo\":[\"bar\",\"baz\"]}", "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
         OG_OK, "{\"foo\":[\"bar\",\"qux\",\"baz\"]}"},
        {"{\"foo\":[1]}", "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":2}]", OG_OK,
         "{\"foo\":[1,2]}"},
        {"{\"baz\":\"qux\",\"foo\":\"bar\"}", "[{\"op\":\"remove\",\"path\":\"/baz\"}]", OG_OK,
         "{\"foo\":\"bar\"}"},
        {"{\"baz\":\"qux\"}", "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]", OG_OK,
         "{\"baz\":\"boo\"}"},
        /* replace of an array item takes its place (it is not an insert). */
        {"{\"a\":[1,2,3]}", "[{\"op\":\"replace\",\"path\":\"/a/0\",\"value\":9}]", OG_OK,
         "{\"a\":[9,2,3]}"},
        {"{\"a\":[1,2,3]}", "[{\"op\":\"replace\",\"path\":\"/a/2\",\"value\":9}]", OG_OK,
         "{\"a\":[1,2,9]}"},
        {"{\"a\":[1]}", "[{\"op\":\"replace\",\"path\":\"/a/-\",\"value\":9}]", OG_ENOTFOUND, NULL},
        {"{\"a\":{\"b\":1},\"c\":{}}", "[{\"op\":\"move\",\"from\":\"/a/b\",\"path\":\"/c/d\"}]",
         OG_OK, "{\"a\":{},\"c\":{\"d\":1}}"},
        {"{\"a\":[1,2]}", "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/b\"}]", OG_OK,
         "{\"a\":[1,2],\"b\":[1,2]}"},
        {"{\"a/b\":1,\"m~n\":2}",
         "[{\"op\":\"test\",\"path\":\"/a~1b\",\"value\":1},"
         "{\"op\":\"replace\",\"path\":\"/m~0n\",\"value\":3}]",
         OG_OK, "{\"a/b\":1,\"m~n\":3}"},
        /* An add under a missing parent fails: the apiserver would fail the request. */
        {"{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/spec/type\",\"value\":\"oci\"}]",
         OG_ENOTFOUND, NULL},
        {"{\"foo\":\"bar\"}", "[{\"op\":\"replace\",\"path\":\"/nope\",\"value\":1}]", OG_ENOTFOUND,
         NULL},
        {"{\"foo\":\"bar\"}", "[{\"op\":\"remove\",\"path\":\"/nope\"}]", OG_ENOTFOUND, NULL},
        {"{\"foo\":\"bar\"}", "[{\"op\":\"test\",\"path\":\"/foo\",\"value\":\"baz\"}]", OG_EINVAL,
         NULL},
        {"{\"a\":{\"b\":1}}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/c\"}]", OG_EINVAL,
         NULL},
        {"{\"foo\":[1]}", "[{\"op\":\"add\",\"path\":\"/foo/01\",\"value\":2}]", OG_ENOTFOUND,
         NULL},
        {"{\"foo\":[1]}", "[{\"op\":\"add\",\"path\":\"/foo/2\",\"value\":2}]", OG_ENOTFOUND, NULL},
        {"{}", "{\"op\":\"add\"}", OG_EPARSE, NULL},
        {"{}", "[{\"op\":\"frob\",\"path\":\"/a\"}]", OG_EPARSE, NULL},
        {"{}", "[{\"op\":\"add\",\"path\":\"a\",\"value\":1}]", OG_EPARSE, NULL},
        {"{}", "[{\"op\":\"add\",\"path\":\"/a\"}]", OG_EPARSE, NULL},
        {"{}", "[{\"op\":\"add\",\"path\":\"/a~2\",\"value\":1}]", OG_ENOTFOUND, NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cJSON *doc = cJSON_Parse(cases[i].doc);
        struct og_diag diag;
        char *got;

        fprintf(stderr, "  case %zu\n", i);
        og_diag_clear(&diag);
        ASSERT(doc != NULL);
        ASSERT_EQ(og_patch_apply(cases[i].patch, strlen(cases[i].patch), doc, &diag), cases[i].rc);
        if (cases[i].rc == OG_OK) {
            got = cJSON_PrintUnformatted(doc);
            ASSERT_STR_EQ(got, cases[i].want);
            cJSON_free(got);
        } else {
            ASSERT(diag.msg[0] != '\0');
        }
        cJSON_Delete(doc);
    }
}

/* Builders pick add or replace from the document, and refuse a missing parent. */
OG_TEST(build_against_document)
{
    cJSON *doc = cJSON_Parse("{\"spec\":{\"url\":\"https://x\",\"passCredentials\":true}}");
    struct og_patch *p = NULL;
    struct og_buf out;

    og_buf_init(&out, 4096);
    ASSERT_EQ(og_patch_new(&p), OG_OK);
    ASSERT_EQ(og_patch_set_string(p, doc, "/spec/type", "oci"), OG_OK);
    ASSERT_EQ(og_patch_set_string(p, doc, "/spec/url", "oci://r/p"), OG_OK);
    ASSERT_EQ(og_patch_remove_if_present(p, doc, "/spec/passCredentials"), OG_OK);
    ASSERT_EQ(og_patch_remove_if_present(p, doc, "/spec/nothing"), OG_OK);
    ASSERT_EQ(og_patch_set_string(p, doc, "/status/x", "y"), OG_ENOTFOUND);
    ASSERT_EQ(og_patch_count(p), 3);
    ASSERT_EQ(og_patch_encode(p, &out), OG_OK);
    ASSERT_STR_EQ(out.ptr, "[{\"op\":\"add\",\"path\":\"/spec/type\",\"value\":\"oci\"},"
                           "{\"op\":\"replace\",\"path\":\"/spec/url\",\"value\":\"oci://r/p\"},"
                           "{\"op\":\"remove\",\"path\":\"/spec/passCredentials\"}]");
    ASSERT_EQ(og_patch_apply(out.ptr, out.len, doc, NULL), OG_OK);
    ASSERT_STR_EQ(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "spec"), "type")->valuestring,
                  "oci");
    og_patch_free(p);
    og_buf_cleanup(&out);
    cJSON_Delete(doc);
}

/*
 * og_patch_encode() reserves room for the whole patch up front: a patch fits a buffer capped
 * at exactly its length, after what the buffer holds, and one byte less is OG_ETOOBIG.
 */
OG_TEST(encode_fits_cap_exactly)
{
    struct og_patch *p = NULL;
    struct og_buf out;
    size_t need;

    ASSERT_EQ(og_patch_new(&p), OG_OK);
    ASSERT_EQ(og_patch_push(p, OG_PATCH_REPLACE, "/spec/type", "oci"), OG_OK);
    ASSERT_EQ(og_patch_push(p, OG_PATCH_REMOVE, "/spec/passCredentials", NULL), OG_OK);
    ASSERT_EQ(og_patch_push(p, OG_PATCH_ADD, "/spec/url", "oci://r/\x01\"p"), OG_OK);
    og_buf_init(&out, 4096);
    ASSERT_EQ(og_patch_encode(p, &out), OG_OK);
    need = out.len;
    og_buf_cleanup(&out);
    for (size_t before = 0; before < 3; before++) {
        for (size_t max = before + need - 2; max <= before + need + 1; max++) {
            og_buf_init(&out, max);
            ASSERT_EQ(og_buf_append(&out, "xx", before), OG_OK);
            ASSERT_EQ(og_patch_encode(p, &out), max >= before + need ? OG_OK : OG_ETOOBIG);
            if (max < before + need) {
                /* Nothing of it stays. */
                ASSERT_EQ(out.len, before);
                ASSERT_EQ(out.ptr[before], '\0');
            }
            og_buf_cleanup(&out);
        }
    }
    og_patch_free(p);
}

OG_TEST(pointer_escape)
{
    struct og_buf out;

    og_buf_init(&out, 64);
    ASSERT_EQ(og_json_pointer_escape(OG_STR_LIT("a/b~c"), &out), OG_OK);
    ASSERT_STR_EQ(out.ptr, "a~1b~0c");
    og_buf_cleanup(&out);
}

/* og_patch_push refuses a path that is no JSON Pointer, and a value that does not fit the op. */
OG_TEST(push_refuses_misuse)
{
    struct og_patch *p = NULL;

    ASSERT_EQ(og_patch_new(&p), OG_OK);
    ASSERT_EQ(og_patch_push(p, OG_PATCH_ADD, "spec/type", "\"oci\""), OG_EINVAL);
    ASSERT_EQ(og_patch_push(p, OG_PATCH_ADD, "", "\"oci\""), OG_EINVAL);
    ASSERT_EQ(og_patch_push(p, OG_PATCH_ADD, NULL, "\"oci\""), OG_EINVAL);
    ASSERT_EQ(og_patch_push(p, OG_PATCH_ADD, "/spec/type", NULL), OG_EINVAL);
    ASSERT_EQ(og_patch_push(p, OG_PATCH_REPLACE, "/spec/type", NULL), OG_EINVAL);
    ASSERT_EQ(og_patch_push(p, OG_PATCH_REMOVE, "/spec/type", "1"), OG_EINVAL);
    ASSERT_EQ(og_patch_count(p), 0);
    ASSERT_EQ(og_patch_push(p, OG_PATCH_REMOVE, "/spec/passCredentials", NULL), OG_OK);
    ASSERT_EQ(og_patch_push(p, OG_PATCH_ADD, "/spec/type", "\"oci\""), OG_OK);
    ASSERT_EQ(og_patch_count(p), 2);
    og_patch_free(p);
}

/* og_patch_write() writes what og_patch_encode() writes for the same operations, and refuses
 * what og_patch_push() refuses, leaving the buffer as it was. */
OG_TEST(write_items)
{
    static const struct og_patch_item items[] = {
        {OG_PATCH_REPLACE, "/spec/type", "oci"},
        {OG_PATCH_ADD, "/spec/url", "oci://r/\x01\"p"},
        {OG_PATCH_REMOVE, "/spec/passCredentials", NULL},
    };
    static const struct og_patch_item bad[][1] = {
        {{OG_PATCH_ADD, "spec/type", "oci"}},
        {{OG_PATCH_ADD, "", "oci"}},
        {{OG_PATCH_ADD, NULL, "oci"}},
        {{OG_PATCH_ADD, "/spec/type", NULL}},
        {{OG_PATCH_REPLACE, "/spec/type", NULL}},
        {{OG_PATCH_REMOVE, "/spec/type", "1"}},
        {{(enum og_patch_op)3, "/spec/type", "oci"}}, /* no such operation */
    };
    /* What the first n items make, written out. */
    static const char *const want[] = {
        "[]",
        "[{\"op\":\"replace\",\"path\":\"/spec/type\",\"value\":\"oci\"}]",
        "[{\"op\":\"replace\",\"path\":\"/spec/type\",\"value\":\"oci\"},"
        "{\"op\":\"add\",\"path\":\"/spec/url\",\"value\":\"oci://r/\\u0001\\\"p\"}]",
        "[{\"op\":\"replace\",\"path\":\"/spec/type\",\"value\":\"oci\"},"
        "{\"op\":\"add\",\"path\":\"/spec/url\",\"value\":\"oci://r/\\u0001\\\"p\"},"
        "{\"op\":\"remove\",\"path\":\"/spec/passCredentials\"}]",
    };
    struct og_patch *p = NULL;
    struct og_buf a, b;

    ASSERT_EQ(og_patch_new(&p), OG_OK);
    og_buf_init(&a, 4096);
    og_buf_init(&b, 4096);
    for (size_t n = 0; n <= 3; n++) {
        if (n > 0)
            ASSERT_EQ(og_patch_push(p, items[n - 1].op, items[n - 1].path, items[n - 1].value),
                      OG_OK);
        og_buf_reset(&a);
        og_buf_reset(&b);
        ASSERT_EQ(og_patch_encode(p, &a), OG_OK);
        ASSERT_EQ(og_patch_write(items, n, &b), OG_OK);
        ASSERT_STR_EQ(b.ptr, want[n]);
        ASSERT_STR_EQ(a.ptr, want[n]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        og_buf_reset(&b);
        ASSERT_EQ(og_buf_append_cstr(&b, "x"), OG_OK);
        ASSERT_EQ(og_patch_write(bad[i], 1, &b), OG_EINVAL);
        ASSERT_STR_EQ(b.ptr, "x");
    }
    og_patch_free(p);
    og_buf_cleanup(&a);
    og_buf_cleanup(&b);
}

/*
 * og_patch_write() of up to 9 operations (the plain way takes 8), with strings of every length
 * up to 40, plain or with a byte to escape at each place: byte for byte the text built here,
 * in a buffer it just fits (and OG_ETOOBIG, the buffer as it was, in one a byte shorter).
 */
OG_TEST(write_plain_and_escaped)
{
    static const enum og_patch_op ops[] = {OG_PATCH_ADD, OG_PATCH_REPLACE, OG_PATCH_REMOVE};
    static const char *const heads[] = {"{\"op\":\"add\",\"path\":\"",
                                        "{\"op\":\"replace\",\"path\":\"",
                                        "{\"op\":\"remove\",\"path\":\""};
    char paths[9][48], values[9][48];
    struct og_patch_item items[9];
    struct og_buf want, out;

    og_buf_init(&want, 1u << 20);
    for (size_t len = 1; len <= 40; len++) {
        for (size_t at = 0; at <= len; at++) {
            for (size_t n = 1; n <= 9; n++) {
                og_buf_reset(&want);
                ASSERT_EQ(og_buf_append_cstr(&want, "keep["), OG_OK);
                for (size_t i = 0; i < n; i++) {
                    /* Paths of `len` bytes, values a little shorter; the first value holds a
                     * '"' at `at` (none when at == len). */
                    memset(paths[i], 'p', len);
                    paths[i][0] = '/';
                    paths[i][len] = '\0';
                    memset(values[i], 'v', len - 1);
                    values[i][len - 1] = '\0';
                    if (i == 0 && at + 1 < len)
                        values[i][at] = '"';
                    items[i] = (struct og_patch_item){
                        ops[i % 3], paths[i], ops[i % 3] == OG_PATCH_REMOVE ? NULL : values[i]};
                    ASSERT_EQ(og_buf_append_cstr(&want, i > 0 ? "," : ""), OG_OK);
                    ASSERT_EQ(og_buf_append_cstr(&want, heads[i % 3]), OG_OK);
                    ASSERT_EQ(og_buf_append_cstr(&want, paths[i]), OG_OK);
                    ASSERT_EQ(og_buf_append_cstr(&want, "\""), OG_OK);
                    if (items[i].value != NULL) {
                        ASSERT_EQ(og_buf_append_cstr(&want, ",\"value\":\""), OG_OK);
                        for (const char *v = values[i]; *v != '\0'; v++) {
                            if (*v == '"')
                                ASSERT_EQ(og_buf_append_cstr(&want, "\\"), OG_OK);
                            ASSERT_EQ(og_buf_append(&want, v, 1), OG_OK);
                        }
                        ASSERT_EQ(og_buf_append_cstr(&want, "\""), OG_OK);
                    }
                    ASSERT_EQ(og_buf_append_cstr(&want, "}"), OG_OK);
                }
                ASSERT_EQ(og_buf_append_cstr(&want, "]"), OG_OK);
                og_buf_init(&out, want.len);
                ASSERT_EQ(og_buf_append_cstr(&out, "keep"), OG_OK);
                ASSERT_EQ(og_patch_write(items, n, &out), OG_OK);
                ASSERT_MEM_EQ(out.ptr, out.len, want.ptr);
                ASSERT_EQ(out.ptr[out.len], '\0');
                og_buf_cleanup(&out);
                og_buf_init(&out, want.len - 1);
                ASSERT_EQ(og_buf_append_cstr(&out, "keep"), OG_OK);
                ASSERT_EQ(og_patch_write(items, n, &out), OG_ETOOBIG);
                ASSERT_STR_EQ(out.ptr, "keep");
                og_buf_cleanup(&out);
            }
        }
    }
    og_buf_cleanup(&want);
}

OG_TEST_MAIN(OG_T(encode_fits_cap_exactly), OG_T(apply_table), OG_T(build_against_document),
             OG_T(pointer_escape), OG_T(push_refuses_misuse), OG_T(write_items),
             OG_T(write_plain_and_escaped))
