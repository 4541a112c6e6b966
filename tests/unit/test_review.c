#include "harness.h"

#include <cjson/cJSON.h>

#include "ocigate/config.h"
#include "ocigate/policy.h"
#include "ocigate/review.h"

OG_TEST(decode_bad_input)
{
    static const struct {
        const char *body;
        const char *msg;
    } cases[] = {
        {"", "malformed JSON"},
        {"{\"request\":", "malformed JSON"},
        {"[1,2]", "must be a JSON object"},
        {"{\"a\":1,}", "malformed JSON at byte 7"},
        {"{\"a\" 1}", "malformed JSON at byte 5"},
        {"[1 2]", "malformed JSON"},
        {"{\"a\":\"\\x\"}", "malformed JSON"},
        {"{\"a\":tru}", "malformed JSON"},
        /* Each literal to its last letter. */
        {"{\"a\":trux}", "malformed JSON"},
        {"{\"a\":falsy}", "malformed JSON"},
        {"{\"a\":nulL}", "malformed JSON"},
        {"{\"request\":{\"uid\":\"x\",\"dryRun\":truE}}", "malformed JSON"},
        {"{}", "has no request"},
        {"{\"request\":null}", "has no request"},
        {"{\"request\":{}}", "has no uid"},
        {"{\"request\":{\"uid\":\"\"}}", "has no uid"},
        {"{\"request\":{\"uid\":7}}", "/request/uid must be a string"},
        {"{\"request\":[]}", "/request must be an object"},
        {"{\"apiVersion\":\"admission.k8s.io/v2\",\"request\":{\"uid\":\"x\"}}",
         "unsupported apiVersion"},
        {"{\"kind\":\"Pod\",\"request\":{\"uid\":\"x\"}}", "is not AdmissionReview"},
        {"{\"request\":{\"uid\":\"x\",\"object\":\"str\"}}", "/request/object must be an object"},
        {"{\"request\":{\"uid\":\"x\",\"dryRun\":\"yes\"}}", "dryRun must be a boolean"},
        {"{\"request\":{\"uid\":\"x\",\"userInfo\":{\"groups\":[1]}}}", "must hold strings"},
        /* A member given twice could be read two ways (the decoder and cJSON's tree for the
         * denial's YAML): refused. */
        {"{\"request\":{\"uid\":\"x\",\"object\":{\"spec\":[1],\"spec\":{\"url\":\"oci://a/b\"}}}}",
         "member \"spec\" given twice"},
        {"{\"request\":{\"uid\":\"x\",\"object\":{\"spec\":{\"url\":\"a\",\"url\":\"b\"}}}}",
         "member \"url\" given twice"},
        {"{\"request\":{\"uid\":\"x\"},\"request\":{\"uid\":\"y\"}}",
         "member \"request\" given twice"},
        {"{\"request\":{\"uid\":\"x\",\"uid\":\"y\"}}", "member \"uid\" given twice"},
        /* oldObject is read with the same strictness (the ratchet compares its spec). */
        {"{\"request\":{\"uid\":\"x\",\"oldObject\":7}}", "/request/oldObject must be an object"},
        {"{\"request\":{\"uid\":\"x\",\"oldObject\":{},\"oldObject\":{}}}",
         "member \"oldObject\" given twice"},
        {"{\"request\":{\"uid\":\"x\",\"oldObject\":{\"spec\":{},\"spec\":{}}}}",
         "/request/oldObject: member \"spec\" given twice"},
        {"{\"request\":{\"uid\":\"x\",\"oldObject\":{\"spec\":{\"url\":\"a\",\"url\":\"b\"}}}}",
         "/request/oldObject/spec: member \"url\" given twice"},
        {"{\"request\":{\"uid\":\"x\",\"oldObject\":{\"spec\":{\"type\":1,\"type\":\"oci\"}}}}",
         "/request/oldObject/spec: member \"type\" given twice"},
        {"{\"request\":{\"uid\":\"x\",\"oldObject\":{\"spec\":{\"url\":\"a}}}}}", "malformed JSON"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct og_review *rv = NULL;
        struct og_diag diag;

        og_diag_clear(&diag);
        ASSERT_EQ(og_review_decode(cases[i].body, strlen(cases[i].body), &rv, &diag), OG_EPARSE);
        ASSERT(rv == NULL);
        ASSERT_STR_CONTAINS(diag.msg, cases[i].msg);
    }
}

/* Escapes are decoded as Go's encoding/json does (lone surrogates become U+FFFD). */
OG_TEST(decode_unescapes_strings)
{
    static const struct {
        const char *json_uid;
        const char *want;
    } cases[] = {
        {"plain", "plain"},
        {"a\\\"b\\/c", "a\"b/c"},
        {"\\b\\f\\n\\r\\t", "\b\f\n\r\t"},
        {"caf\\u00e9", "caf\xc3\xa9"},
        {"\\u20ac", "\xe2\x82\xac"},
        {"\\ud83d\\ude00!", "\xf0\x9f\x98\x80!"},
        {"\\ud800x", "\xef\xbf\xbdx"},
        {"\\udc00", "\xef\xbf\xbd"},
        {"\\ud800\\u0041", "\xef\xbf\xbd"
                           "A"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[256];
        struct og_review *rv = NULL;
        int n = snprintf(body, sizeof(body), "{\"request\":{\"uid\":\"u\",\"name\":\"%s\"}}",
                         cases[i].json_uid);

        ASSERT(n > 0 && (size_t)n < sizeof(body));
        ASSERT_EQ(og_review_decode(body, (size_t)n, &rv, NULL), OG_OK);
        ASSERT_STR_EQ(og_review_get_request(rv)->name, cases[i].want);
        og_review_free(rv);
    }
}

/*
 * The uid is echoed and the apiserver compares the echo with what it sent (after decoding it
 * with Go): one that cannot come back byte for byte, or that would make the response too
 * large, is the client's error (OG_EPARSE, a 400), never another uid or a 500. apiVersion and
 * kind are compared whole, so a NUL must not cut them short either.
 */
OG_TEST(decode_refuses_uids_it_cannot_echo)
{
    static const struct {
        const char *api_version;
        const char *kind;
        const char *uid;
        const char *msg;
    } cases[] = {
        {"admission.k8s.io/v1", "AdmissionReview", "a\\u0000b", "/request/uid must be UTF-8"},
        {"admission.k8s.io/v1", "AdmissionReview", "a\xff", "/request/uid must be UTF-8"},
        {"admission.k8s.io/v1", "AdmissionReview", "ab\x80", "/request/uid must be UTF-8"},
        {"admission.k8s.io/v1", "AdmissionReview", "\x7f\x80", "/request/uid must be UTF-8"},
        {"admission.k8s.io/v1", "AdmissionReview", "a\xc3", "/request/uid must be UTF-8"},
        {"admission.k8s.io/v1", "AdmissionReview", "\xc0\xaf", "/request/uid must be UTF-8"},
        {"admission.k8s.io/v1", "AdmissionReview", "\xed\xa0\x80", "/request/uid must be UTF-8"},
        {"admission.k8s.io/v1", "AdmissionReview", "\xf4\x90\x80\x80", "/request/uid must be"},
        {"admission.k8s.io/v1", "AdmissionReview", "\\ud800", "/request/uid must be UTF-8"},
        {"admission.k8s.io/v1", "AdmissionReview", "x\\udc00", "/request/uid must be UTF-8"},
        {"admission.k8s.io/v1", "AdmissionReview", "\\ud800\\u0041", "/request/uid must be"},
        {"admission.k8s.io/v1", "AdmissionReview", "\\ud800\\ud800", "/request/uid must be"},
        {"admission.k8s.io/v1\\u0000x", "AdmissionReview", "u", "/apiVersion must be UTF-8"},
        {"admission.k8s.io/v1", "AdmissionReview\\u0000", "u", "/kind must be UTF-8"},
    };
    static const size_t lens[] = {OG_REVIEW_UID_MAX, OG_REVIEW_UID_MAX + 1, 1u << 20};
    struct og_buf b;
    struct og_diag diag;
    struct og_review *rv = NULL;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[256];
        int n = snprintf(body, sizeof(body),
                         "{\"apiVersion\":\"%s\",\"kind\":\"%s\",\"request\":{\"uid\":\"%s\"}}",
                         cases[i].api_version, cases[i].kind, cases[i].uid);

        ASSERT(n > 0 && (size_t)n < sizeof(body));
        og_diag_clear(&diag);
        ASSERT_EQ(og_review_decode(body, (size_t)n, &rv, &diag), OG_EPARSE);
        ASSERT(rv == NULL);
        ASSERT_STR_CONTAINS(diag.msg, cases[i].msg);
    }
    /* 256 bytes are fine; 257 (or 1 MiB) are refused with a message saying why. */
    for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
        size_t len = lens[j];

        og_buf_init(&b, 2u << 20);
        ASSERT_EQ(og_buf_append_cstr(&b, "{\"request\":{\"uid\":\""), OG_OK);
        for (size_t k = 0; k < len; k++)
            ASSERT_EQ(og_buf_append(&b, "u", 1), OG_OK);
        ASSERT_EQ(og_buf_append_cstr(&b, "\"}}"), OG_OK);
        og_diag_clear(&diag);
        if (len == OG_REVIEW_UID_MAX) {
            ASSERT_EQ(og_review_decode(b.ptr, b.len, &rv, &diag), OG_OK);
            ASSERT_EQ(strlen(og_review_get_request(rv)->uid), len);
            og_review_free(rv);
            rv = NULL;
        } else {
            ASSERT_EQ(og_review_decode(b.ptr, b.len, &rv, &diag), OG_EPARSE);
            ASSERT_STR_CONTAINS(diag.msg, "/request/uid is longer than 256 bytes");
        }
        og_buf_cleanup(&b);
    }
}

/*
 * `body` with `ws` (a NUL-terminated run) inserted before the first token and after every
 * token and structural byte (the places JSON allows whitespace), or only at the place numbered
 * `only` (0 is before the first token) unless that is SIZE_MAX. `*places` counts them.
 */
static char *spaced(const char *body, size_t len, const char *ws, size_t only, size_t *places,
                    size_t *out_len)
{
    size_t n = 0, wl = strlen(ws), place = 0;
    char *o = malloc(len * (1 + wl) + wl + 1);
    bool in_string = false;

    ASSERT(o != NULL);
    for (size_t i = 0; i <= len; i++) {
        /* Before the first token, after a closing quote or a structural byte, and after the
         * last byte of a literal or number. */
        bool boundary =
            i == 0 || (!in_string && (body[i - 1] == '"' || strchr("{}[]:,", body[i - 1]) != NULL ||
                                      (i < len && strchr("{}[]:,", body[i]) != NULL)));

        if (boundary && (only == SIZE_MAX || only == place)) {
            memcpy(o + n, ws, wl);
            n += wl;
        }
        place += boundary;
        if (i == len)
            break;
        o[n++] = body[i];
        if (in_string && body[i] == '\\') {
            o[n++] = body[++i];
            continue;
        }
        if (body[i] == '"')
            in_string = !in_string;
    }
    *places = place;
    *out_len = n;
    return o;
}

/* The response to `body` (decoded, run through the default policy in mutate mode). */
static char *answer(const char *body, size_t len, enum og_err *rc)
{
    struct og_review *rv = NULL;
    struct og_config *cfg = NULL;
    struct og_policy_object obj;
    struct og_admission_context ctx;
    struct og_decision d;
    struct og_buf out;

    og_buf_init(&out, 1u << 20);
    *rc = og_review_decode(body, len, &rv, NULL);
    if (*rc != OG_OK)
        return NULL;
    ASSERT_EQ(og_config_new(&cfg), OG_OK);
    cfg->mode = OG_MODE_MUTATE;
    ASSERT_EQ(og_policy_eval(cfg, og_review_policy_input(rv, &obj, &ctx) ? &obj : NULL, &ctx,
                             OG_ENDPOINT_MUTATE, &d),
              OG_OK);
    ASSERT_EQ(og_review_encode(rv, &d, &out), OG_OK);
    og_decision_cleanup(&d);
    og_config_unref(cfg);
    og_review_free(rv);
    return og_buf_take(&out, NULL);
}

/*
 * The apiserver sends no whitespace, and the decoder looks for none first; whitespace of each
 * kind wherever JSON allows it still gives the very same answer, and a control byte that is
 * not whitespace there is malformed.
 */
OG_TEST(decode_whitespace_anywhere)
{
    static const char *const runs[] = {" ", "\t", "\n", "\r", " \r\n\t "};
    size_t len = 0;
    char *body = og_test_read_file(OG_SOURCE_DIR "/tests/data/review-bitnami-create.json", &len);
    char *want, *got, *sp;
    enum og_err rc;

    ASSERT(body != NULL);
    want = answer(body, len, &rc);
    ASSERT_EQ(rc, OG_OK);
    ASSERT_STR_CONTAINS(want, "\"patch\":");
    for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
        size_t n, places;

        sp = spaced(body, len, runs[i], SIZE_MAX, &places, &n);
        ASSERT(places > 300);
        got = answer(sp, n, &rc);
        ASSERT_EQ(rc, OG_OK);
        ASSERT_STR_EQ(got, want);
        free(got);
        free(sp);
    }
    for (size_t place = 0;; place++) {
        size_t n, places;

        sp = spaced(body, len, "\x0b", place, &places, &n);
        if (place == places) {
            free(sp);
            break;
        }
        ASSERT(answer(sp, n, &rc) == NULL);
        ASSERT_EQ(rc, OG_EPARSE);
        free(sp);
    }
    free(want);
    free(body);
}

/*
 * String tokens of every length up to 40, with an escape, a control byte or the end of the
 * body at each place, and 0..17 bytes of body after them: the same tokens, errors and offsets as
 * the byte-at-a-time definition.
 */
OG_TEST(decode_string_tokens_at_every_length)
{
    char body[128], uid[48];
    struct og_diag diag;

    for (size_t n = 0; n <= 40; n++) {
        for (size_t pad = 0; pad <= 17; pad++) {
            for (size_t at = 0; at <= n; at++) {
                for (int kind = 0; kind < 4; kind++) {
                    struct og_review *rv = NULL;
                    size_t len;
                    char want[96];
                    enum og_err rc;

                    memset(uid, 'u', n);
                    uid[n] = '\0';
                    len = (size_t)snprintf(body, sizeof(body), "{\"request\":{\"uid\":\"%s", uid);
                    if (kind == 1 && at < n)
                        body[len - n + at] = '\x01'; /* a control byte */
                    if (kind == 2 && at + 1 < n) {
                        body[len - n + at] = '\\'; /* an escape: \u, with four digits after */
                        body[len - n + at + 1] = 'n';
                    }
                    if (kind == 3) {
                        /* The body ends inside the token, `at` bytes into it. */
                        len = len - n + at;
                    } else {
                        memcpy(body + len, "\"}}", 3);
                        len += 3;
                        memset(body + len, ' ', pad);
                        len += pad;
                    }
                    /* A scan that reads past the end would find a closing quote there; in a
                     * block of exactly `len` bytes, AddressSanitizer sees the read itself. */
                    body[len] = '"';
                    {
                        struct og_review *exact_rv = NULL;
                        char *exact = malloc(len > 0 ? len : 1);

                        ASSERT(exact != NULL);
                        memcpy(exact, body, len);
                        rc = og_review_decode(exact, len, &exact_rv, NULL);
                        og_review_free(exact_rv);
                        free(exact);
                    }
                    og_diag_clear(&diag);
                    ASSERT_EQ(og_review_decode(body, len, &rv, &diag), rc);
                    if (kind == 0 || (kind == 1 && at == n) || (kind == 2 && at + 1 >= n)) {
                        ASSERT_EQ(rc, n == 0 ? OG_EPARSE : OG_OK);
                        if (n > 0)
                            ASSERT_STR_EQ(og_review_get_request(rv)->uid, uid);
                    } else if (kind == 1) {
                        ASSERT_EQ(rc, OG_EPARSE);
                        snprintf(want, sizeof(want), "at byte %zu: control character in a string",
                                 19 + at);
                        ASSERT_STR_CONTAINS(diag.msg, want);
                    } else if (kind == 2) {
                        ASSERT_EQ(rc, OG_OK);
                        ASSERT_EQ(strlen(og_review_get_request(rv)->uid), n - 1);
                        ASSERT_EQ(og_review_get_request(rv)->uid[at], '\n');
                    } else {
                        ASSERT_EQ(rc, OG_EPARSE);
                        snprintf(want, sizeof(want), "at byte %zu: unterminated string", 19 + at);
                        ASSERT_STR_CONTAINS(diag.msg, want);
                    }
                    og_review_free(rv);
                }
            }
        }
    }
}

/*
 * Strings that the decoder reads (keys and values), of 1 to 130 bytes, starting at every offset
 * of the 64-byte blocks in which it finds their stops, plain, with an escape at every offset or
 * after whitespace, read from a block of exactly the body's size: the same text, and the strings
 * after them read right.
 */
OG_TEST(decode_read_strings_across_block_edges)
{
    static const char *const escapes[] = {"", "\\\"", "\\u00e9", "\\\\"};
    static const char *const unescaped[] = {"", "\"", "\xc3\xa9", "\\"};

    for (size_t shift = 0; shift < 64; shift++) {
        for (size_t n = 1; n <= 130; n++) {
            for (size_t e = 0; e < 2 * (sizeof(escapes) / sizeof(escapes[0])); e++) {
                struct og_buf b;
                struct og_review *rv = NULL;
                char want[160], *exact;
                size_t w = 0;

                og_buf_init(&b, 1u << 16);
                ASSERT_EQ(og_buf_append_cstr(&b, "{\"request\":{\"name\":\""), OG_OK);
                for (size_t k = 0; k < shift; k++)
                    ASSERT_EQ(og_buf_append(&b, "n", 1), OG_OK);
                /* Half of them with whitespace (stops too) before the uid's value. */
                ASSERT_EQ(og_buf_append_cstr(&b, e % 2 ? "\",\"uid\":\n\t \"" : "\",\"uid\":\""),
                          OG_OK);
                for (size_t k = 0; k < n; k++) {
                    if (k == n / 2 && e / 2 > 0) {
                        ASSERT_EQ(og_buf_append_cstr(&b, escapes[e / 2]), OG_OK);
                        memcpy(want + w, unescaped[e / 2], strlen(unescaped[e / 2]));
                        w += strlen(unescaped[e / 2]);
                    } else {
                        ASSERT_EQ(og_buf_append(&b, "0123456789abcdef" + k % 16, 1), OG_OK);
                        want[w++] = "0123456789abcdef"[k % 16];
                    }
                }
                want[w] = '\0';
                ASSERT_EQ(og_buf_append_cstr(&b, "\",\"namespace\":\"ns\"}}"), OG_OK);
                exact = malloc(b.len);
                ASSERT(exact != NULL);
                memcpy(exact, b.ptr, b.len);
                ASSERT_EQ(og_review_decode(exact, b.len, &rv, NULL), OG_OK);
                ASSERT_STR_EQ(og_review_get_request(rv)->uid, want);
                ASSERT_EQ(strlen(og_review_get_request(rv)->name), shift);
                ASSERT_STR_EQ(og_review_get_request(rv)->namespace_, "ns");
                og_review_free(rv);
                free(exact);
                og_buf_cleanup(&b);
            }
        }
    }
}

static cJSON *encode(const struct og_review *rv, const struct og_decision *d);

/* What can be echoed is echoed byte for byte, escapes and UTF-8 included. */
OG_TEST(encode_echoes_uid_exactly)
{
    static const struct {
        const char *json_uid;
        const char *want;
    } cases[] = {
        {"705ab4f5-6393-11e8-b7cc-42010a800002", "705ab4f5-6393-11e8-b7cc-42010a800002"},
        {"caf\xc3\xa9-\\u00e9", "caf\xc3\xa9-\xc3\xa9"},
        {"\\ud83d\\ude00\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80\xf0\x9f\x98\x80"},
        {"q\\\"\\\\\\/\\t\\u0001", "q\"\\/\t\x01"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[256];
        struct og_review *rv = NULL;
        struct og_decision d = {0};
        cJSON *resp;
        int n = snprintf(body, sizeof(body), "{\"request\":{\"uid\":\"%s\"}}", cases[i].json_uid);

        ASSERT(n > 0 && (size_t)n < sizeof(body));
        ASSERT_EQ(og_review_decode(body, (size_t)n, &rv, NULL), OG_OK);
        ASSERT_STR_EQ(og_review_get_request(rv)->uid, cases[i].want);
        d.allowed = true;
        resp = encode(rv, &d);
        ASSERT(resp != NULL);
        ASSERT_STR_EQ(
            cJSON_GetObjectItem(cJSON_GetObjectItem(resp, "response"), "uid")->valuestring,
            cases[i].want);
        cJSON_Delete(resp);
        og_review_free(rv);
    }
}

/* Nesting past the decoder's limit (1000 levels) is malformed input, not an allocation failure. */
OG_TEST(decode_deep_nesting)
{
    struct og_buf b;
    struct og_diag diag;
    struct og_review *rv = NULL;

    og_buf_init(&b, 1u << 20);
    ASSERT_EQ(og_buf_append_cstr(&b, "{\"request\":{\"uid\":\"x\",\"object\":{\"a\":"), OG_OK);
    for (int i = 0; i < 1200; i++)
        ASSERT_EQ(og_buf_append(&b, "[", 1), OG_OK);
    for (int i = 0; i < 1200; i++)
        ASSERT_EQ(og_buf_append(&b, "]", 1), OG_OK);
    ASSERT_EQ(og_buf_append_cstr(&b, "}}}"), OG_OK);
    og_diag_clear(&diag);
    ASSERT_EQ(og_review_decode(b.ptr, b.len, &rv, &diag), OG_EPARSE);
    ASSERT_STR_CONTAINS(diag.msg, "malformed JSON");
    og_buf_cleanup(&b);
}

/*
 * The same at the edge: the two objects around `object` and `object` itself are three levels,
 * so 997 arrays inside it make exactly 1000 (accepted) and 998 make 1001 (refused).
 */
static enum og_err decode_nested(int arrays, struct og_diag *diag)
{
    struct og_buf b;
    struct og_review *rv = NULL;
    enum og_err rc;

    og_buf_init(&b, 1u << 20);
    rc = og_buf_append_cstr(&b, "{\"request\":{\"uid\":\"x\",\"object\":{\"a\":");
    for (int i = 0; rc == OG_OK && i < arrays; i++)
        rc = og_buf_append(&b, "[", 1);
    for (int i = 0; rc == OG_OK && i < arrays; i++)
        rc = og_buf_append(&b, "]", 1);
    if (rc == OG_OK)
        rc = og_buf_append_cstr(&b, "}}}");
    og_diag_clear(diag);
    if (rc == OG_OK)
        rc = og_review_decode(b.ptr, b.len, &rv, diag);
    og_review_free(rv);
    og_buf_cleanup(&b);
    return rc;
}

OG_TEST(decode_nesting_limit_edge)
{
    struct og_diag diag;

    ASSERT_EQ(decode_nested(997, &diag), OG_OK);
    ASSERT_EQ(decode_nested(998, &diag), OG_EPARSE);
    ASSERT_STR_CONTAINS(diag.msg, "nesting too deep");
}

OG_TEST(decode_respects_length)
{
    const char *full = "{\"request\":{\"uid\":\"abc\"}}GARBAGE";
    struct og_review *rv = NULL;

    ASSERT_EQ(og_review_decode(full, strlen(full) - 7, &rv, NULL), OG_OK);
    ASSERT_STR_EQ(og_review_get_request(rv)->uid, "abc");
    ASSERT_STR_EQ(og_review_get_request(rv)->api_version, "admission.k8s.io/v1");
    og_review_free(rv);
    ASSERT_EQ(og_review_decode(full, strlen(full), &rv, NULL), OG_EPARSE);
}

/* A NUL byte is no end of the body: what follows one is trailing data, as is the NUL itself. */
OG_TEST(decode_refuses_data_after_a_nul)
{
    static const char review[] = "{\"request\":{\"uid\":\"abc\"}} \0 {garbage";
    static const char scalar[] = "7\0x";
    struct og_review *rv = NULL;
    struct og_diag diag;

    og_diag_clear(&diag);
    ASSERT_EQ(og_review_decode(review, sizeof(review) - 1, &rv, &diag), OG_EPARSE);
    ASSERT_STR_CONTAINS(diag.msg, "trailing data");
    ASSERT_STR_CONTAINS(diag.msg, "byte 26");
    ASSERT_EQ(og_review_decode(review, 27, &rv, NULL), OG_EPARSE); /* the NUL alone */
    ASSERT_EQ(og_review_decode(review, 26, &rv, NULL), OG_OK);
    og_review_free(rv);
    og_diag_clear(&diag);
    ASSERT_EQ(og_review_decode(scalar, sizeof(scalar) - 1, &rv, &diag), OG_EPARSE);
    ASSERT_STR_CONTAINS(diag.msg, "malformed JSON");
}

static cJSON *encode(const struct og_review *rv, const struct og_decision *d)
{
    struct og_buf out;
    cJSON *json;

    og_buf_init(&out, 1u << 20);
    if (og_review_encode(rv, d, &out) != OG_OK)
        return NULL;
    json = cJSON_ParseWithLength(out.ptr, out.len);
    og_buf_cleanup(&out);
    return json;
}

OG_TEST(captured_requests)
{
    static const struct {
        const char *file;
        const char *api;
        const char *op;
        int dry_run;
        int has_object;
    } cases[] = {
        {"helmrepository-v1-create.json", "admission.k8s.io/v1", "CREATE", 0, 1},
        {"helmrepository-v1-update-ssa-dryrun.json", "admission.k8s.io/v1", "UPDATE", 1, 1},
        {"helmrepository-v1-update-ssa.json", "admission.k8s.io/v1", "UPDATE", 0, 1},
        {"helmrepository-v1-delete.json", "admission.k8s.io/v1", "DELETE", 0, 0},
        {"helmrepository-v1beta1-create.json", "admission.k8s.io/v1beta1", "CREATE", 0, 1},
    };
    char path[1024];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct og_review *rv = NULL;
        const struct og_review_request *req;
        struct og_decision d = {0};
        struct og_diag diag;
        size_t len = 0;
        char *body;
        cJSON *resp, *r;

        snprintf(path, sizeof(path), "%s/k8s/captured/%s", og_test_shared_data(), cases[i].file);
        body = og_test_read_file(path, &len);
        if (body == NULL)
            OG_SKIP("%s is absent (shared data not available)", path);
        og_diag_clear(&diag);
        ASSERT_EQ(og_review_decode(body, len, &rv, &diag), OG_OK);
        req = og_review_get_request(rv);
        ASSERT_STR_EQ(req->api_version, cases[i].api);
        ASSERT_STR_EQ(req->operation, cases[i].op);
        ASSERT_STR_EQ(req->kind, "HelmRepository");
        ASSERT_STR_EQ(req->group, "source.toolkit.fluxcd.io");
        ASSERT_STR_EQ(req->namespace_, "kube-system");
        ASSERT_EQ(req->dry_run, cases[i].dry_run);
        ASSERT_EQ(req->object.present, cases[i].has_object);
        /* Every UPDATE and DELETE carries the object as it was: the ratchet compares it. */
        ASSERT_EQ(req->old_object.present, req->op == OG_OP_UPDATE || req->op == OG_OP_DELETE);
        if (req->old_object.present)
            ASSERT_STR_EQ(req->old_object.url, "https://charts.bitnami.com/bitnami");
        ASSERT(req->n_groups >= 1);

        d.allowed = true;
        resp = encode(rv, &d);
        ASSERT(resp != NULL);
        ASSERT_STR_EQ(cJSON_GetObjectItem(resp, "apiVersion")->valuestring, cases[i].api);
        ASSERT_STR_EQ(cJSON_GetObjectItem(resp, "kind")->valuestring, "AdmissionReview");
        r = cJSON_GetObjectItem(resp, "response");
        ASSERT_STR_EQ(cJSON_GetObjectItem(r, "uid")->valuestring, req->uid);
        ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(r, "allowed")));
        ASSERT(cJSON_GetObjectItem(r, "patchType") == NULL);
        ASSERT(cJSON_GetObjectItem(r, "patch") == NULL);
        cJSON_Delete(resp);
        og_review_free(rv);
        free(body);
    }
}

/* oldObject: spec.url and spec.type (unescaped) into the policy's context, nothing else. */
OG_TEST(decode_old_object)
{
    static const struct {
        const char *old; /* the value of request.oldObject, or NULL: no member */
        bool present;
        const char *url, *type; /* NULL: absent */
    } cases[] = {
        {NULL, false, NULL, NULL},
        {"null", false, NULL, NULL},
        {"{}", true, NULL, NULL},
        {"{\"spec\":null}", true, NULL, NULL},
        {"{\"spec\":[1]}", true, NULL, NULL},
        {"{\"metadata\":{\"name\":\"r\"},\"spec\":{\"interval\":\"1h\",\"url\":"
         "\"https:\\/\\/charts.bitnami.com\\/bitnami\",\"type\":\"\\u006fci\"},\"status\":{}}",
         true, "https://charts.bitnami.com/bitnami", "oci"},
        /* Members of another type count as absent, as in request.object. */
        {"{\"spec\":{\"url\":5,\"type\":null}}", true, NULL, NULL},
        /* Only spec's own members: a nested "url" is not spec.url. */
        {"{\"spec\":{\"secretRef\":{\"url\":\"x\"}},\"url\":\"y\"}", true, NULL, NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct og_review *rv = NULL;
        struct og_policy_object obj;
        struct og_admission_context ctx;
        struct og_diag diag;
        struct og_buf b;
        char *body;

        og_buf_init(&b, 1u << 16);
        ASSERT_EQ(og_buf_appendf(&b,
                                 "{\"request\":{\"uid\":\"u\",\"operation\":\"UPDATE\","
                                 "\"object\":{\"spec\":{\"url\":\"oci://a/b\"}}%s%s}}",
                                 cases[i].old != NULL ? ",\"oldObject\":" : "",
                                 cases[i].old != NULL ? cases[i].old : ""),
                  OG_OK);
        body = og_buf_take(&b, NULL);
        og_diag_clear(&diag);
        ASSERT_EQ(og_review_decode(body, strlen(body), &rv, &diag), OG_OK);
        ASSERT_EQ(og_review_get_request(rv)->old_object.present, cases[i].present);
        ASSERT(og_review_policy_input(rv, &obj, &ctx));
        ASSERT_EQ(ctx.op, OG_OP_UPDATE);
        ASSERT_EQ(ctx.has_old, cases[i].present);
        if (cases[i].url != NULL)
            ASSERT_STR_EQ(ctx.old_url, cases[i].url);
        else
            ASSERT(ctx.old_url == NULL);
        if (cases[i].type != NULL)
            ASSERT_STR_EQ(ctx.old_type, cases[i].type);
        else
            ASSERT(ctx.old_type == NULL);
        /* The new object is read as before. */
        ASSERT_STR_EQ(obj.url, "oci://a/b");
        og_review_free(rv);
        free(body);
    }
}

OG_TEST(encode_denial_patch_warnings)
{
    const char *body = "{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":\"AdmissionReview\","
                       "\"request\":{\"uid\":\"q\\\"1\"}}";
    struct og_review *rv = NULL;
    char w0[] = "line \"one\"";
    char *warnings[] = {w0};
    size_t warning_lens[] = {sizeof(w0) - 1};
    char k[] = "decision", v[] = "denied";
    struct og_annotation ann[] = {{k, v, sizeof(k) - 1, sizeof(v) - 1}};
    char patch[] = "[{\"op\":\"add\",\"path\":\"/spec/type\",\"value\":\"oci\"}]";
    char reason[] = "Forbidden", message[] = "no\nway";
    struct og_decision d = {0};
    cJSON *resp, *r, *st;

    ASSERT_EQ(og_review_decode(body, strlen(body), &rv, NULL), OG_OK);
    d.allowed = false;
    d.code = 403;
    d.reason = reason;
    d.message = message;
    d.warnings = warnings;
    d.warning_lens = warning_lens;
    d.n_warnings = 1;
    d.annotations = ann;
    d.n_annotations = 1;
    resp = encode(rv, &d);
    ASSERT(resp != NULL);
    ASSERT_STR_EQ(cJSON_GetObjectItem(resp, "apiVersion")->valuestring, "admission.k8s.io/v1beta1");
    r = cJSON_GetObjectItem(resp, "response");
    ASSERT_STR_EQ(cJSON_GetObjectItem(r, "uid")->valuestring, "q\"1");
    ASSERT(cJSON_IsFalse(cJSON_GetObjectItem(r, "allowed")));
    st = cJSON_GetObjectItem(r, "status");
    ASSERT_EQ(cJSON_GetObjectItem(st, "code")->valueint, 403);
    ASSERT_STR_EQ(cJSON_GetObjectItem(st, "message")->valuestring, "no\nway");
    ASSERT_STR_EQ(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "warnings"), 0)->valuestring, w0);
    ASSERT_STR_EQ(
        cJSON_GetObjectItem(cJSON_GetObjectItem(r, "auditAnnotations"), "decision")->valuestring,
        "denied");
    /* A denial never carries a patch. */
    d.patch = patch;
    d.patch_len = strlen(patch);
    cJSON_Delete(resp);
    resp = encode(rv, &d);
    ASSERT(cJSON_GetObjectItem(cJSON_GetObjectItem(resp, "response"), "patch") == NULL);
    cJSON_Delete(resp);

    d.allowed = true;
    resp = encode(rv, &d);
    r = cJSON_GetObjectItem(resp, "response");
    ASSERT(cJSON_GetObjectItem(r, "status") == NULL);
    ASSERT_STR_EQ(cJSON_GetObjectItem(r, "patchType")->valuestring, "JSONPatch");
    ASSERT_STR_EQ(cJSON_GetObjectItem(r, "patch")->valuestring,
                  "W3sib3AiOiJhZGQiLCJwYXRoIjoiL3NwZWMvdHlwZSIsInZhbHVlIjoib2NpIn1d");
    cJSON_Delete(resp);
    og_review_free(rv);
}

/*
 * The response text byte for byte: key order, escapes in every string (a key's too), a denial
 * without a code (403) and with a negative one, and over the buffer's cap: OG_ETOOBIG with the
 * buffer as it was.
 */
OG_TEST(encode_exact_bytes)
{
    const char *body = "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
                       "\"request\":{\"uid\":\"u\\u00e9\\\\1\"}}";
    struct og_review *rv = NULL;
    char w0[] = "one \"1\"", w1[] = "two\x01";
    char *warnings[] = {w0, w1};
    size_t warning_lens[] = {sizeof(w0) - 1, sizeof(w1) - 1};
    char k0[] = "decision", v0[] = "mutated", k1[] = "k\"ey", v1[] = "v\\al";
    struct og_annotation ann[] = {{k0, v0, sizeof(k0) - 1, sizeof(v0) - 1},
                                  {k1, v1, sizeof(k1) - 1, sizeof(v1) - 1}};
    char patch[] = "[]";
    char reason[] = "Forbidden", message[] = "no\nway", big[3000];
    struct og_decision d = {0};
    struct og_buf out;
    size_t full;

    ASSERT_EQ(og_review_decode(body, strlen(body), &rv, NULL), OG_OK);
    d.allowed = true;
    d.patch = patch;
    d.patch_len = 2;
    d.warnings = warnings;
    d.warning_lens = warning_lens;
    d.n_warnings = 2;
    d.annotations = ann;
    d.n_annotations = 2;
    og_buf_init(&out, 1u << 20);
    ASSERT_EQ(og_review_encode(rv, &d, &out), OG_OK);
    ASSERT_STR_EQ(out.ptr,
                  "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
                  "\"response\":{\"uid\":\"u\xc3\xa9\\\\1\",\"allowed\":true,"
                  "\"patchType\":\"JSONPatch\",\"patch\":\"W10=\","
                  "\"warnings\":[\"one \\\"1\\\"\",\"two\\u0001\"],"
                  "\"auditAnnotations\":{\"decision\":\"mutated\",\"k\\\"ey\":\"v\\\\al\"}}}");
    og_buf_cleanup(&out);

    d.allowed = false;
    d.reason = reason;
    d.message = message;
    d.n_warnings = 0;
    d.n_annotations = 0;
    og_buf_init(&out, 1u << 20);
    ASSERT_EQ(og_review_encode(rv, &d, &out), OG_OK);
    ASSERT_STR_EQ(out.ptr, "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
                           "\"response\":{\"uid\":\"u\xc3\xa9\\\\1\",\"allowed\":false,"
                           "\"status\":{\"code\":403,\"status\":\"Failure\",\"reason\":"
                           "\"Forbidden\",\"message\":\"no\\nway\"}}}");
    og_buf_reset(&out);
    d.code = -12;
    d.reason = NULL;
    d.message = NULL;
    ASSERT_EQ(og_review_encode(rv, &d, &out), OG_OK);
    ASSERT_STR_EQ(out.ptr, "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
                           "\"response\":{\"uid\":\"u\xc3\xa9\\\\1\",\"allowed\":false,"
                           "\"status\":{\"code\":-12,\"status\":\"Failure\"}}}");
    og_buf_cleanup(&out);

    /* Past the cap, wherever the response stops fitting (a long value makes it longer than
     * the first reservation, 1024 bytes): an error, and the buffer as it was. */
    d.allowed = true;
    d.n_warnings = 2;
    d.n_annotations = 2;
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ann[1].value = big;
    ann[1].value_len = sizeof(big) - 1;
    og_buf_init(&out, 1u << 20);
    ASSERT_EQ(og_review_encode(rv, &d, &out), OG_OK);
    full = out.len;
    og_buf_cleanup(&out);
    for (size_t max = 4 + 1028; max <= 4 + full; max += 7) {
        og_buf_init(&out, max);
        ASSERT_EQ(og_buf_append(&out, "keep", 4), OG_OK);
        ASSERT_EQ(og_review_encode(rv, &d, &out), max >= 4 + full ? OG_OK : OG_ETOOBIG);
        if (max < 4 + full) {
            ASSERT_EQ(out.len, 4);
            ASSERT_STR_EQ(out.ptr, "keep");
        }
        og_buf_cleanup(&out);
    }
    og_buf_init(&out, 4 + full);
    ASSERT_EQ(og_buf_append(&out, "keep", 4), OG_OK);
    ASSERT_EQ(og_review_encode(rv, &d, &out), OG_OK);
    og_buf_cleanup(&out);
    og_review_free(rv);
}

/* Appends `s` to `out` as a JSON string, escaping the few bytes the tests below put in. */
static void want_string(struct og_buf *out, const char *s)
{
    ASSERT_EQ(og_buf_append_cstr(out, "\""), OG_OK);
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\')
            ASSERT_EQ(og_buf_append(out, "\\", 1), OG_OK);
        if (*s == '\x01')
            ASSERT_EQ(og_buf_append_cstr(out, "\\u0001"), OG_OK);
        else
            ASSERT_EQ(og_buf_append(out, s, 1), OG_OK);
    }
    ASSERT_EQ(og_buf_append_cstr(out, "\""), OG_OK);
}

/*
 * The response as the encoder must write it for `d` (allowed, or denied with code 403) with
 * the review's uid "u" and the patch "[]" when there is one: built here part by part.
 */
static void want_response(const struct og_decision *d, struct og_buf *out)
{
    ASSERT_EQ(og_buf_append_cstr(out, "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":"
                                      "\"AdmissionReview\",\"response\":{\"uid\":\"u\""),
              OG_OK);
    if (d->allowed) {
        ASSERT_EQ(og_buf_append_cstr(out, ",\"allowed\":true"), OG_OK);
    } else {
        ASSERT_EQ(og_buf_append_cstr(out, ",\"allowed\":false,\"status\":{\"code\":403,"
                                          "\"status\":\"Failure\""),
                  OG_OK);
        if (d->reason != NULL) {
            ASSERT_EQ(og_buf_append_cstr(out, ",\"reason\":"), OG_OK);
            want_string(out, d->reason);
        }
        if (d->message != NULL) {
            ASSERT_EQ(og_buf_append_cstr(out, ",\"message\":"), OG_OK);
            want_string(out, d->message);
        }
        ASSERT_EQ(og_buf_append_cstr(out, "}"), OG_OK);
    }
    if (d->allowed && d->patch != NULL)
        ASSERT_EQ(og_buf_append_cstr(out, ",\"patchType\":\"JSONPatch\",\"patch\":\"W10=\""),
                  OG_OK);
    for (size_t i = 0; i < d->n_warnings; i++) {
        ASSERT_EQ(og_buf_append_cstr(out, i == 0 ? ",\"warnings\":[" : ","), OG_OK);
        want_string(out, d->warnings[i]);
    }
    if (d->n_warnings > 0)
        ASSERT_EQ(og_buf_append_cstr(out, "]"), OG_OK);
    for (size_t i = 0; i < d->n_annotations; i++) {
        ASSERT_EQ(og_buf_append_cstr(out, i == 0 ? ",\"auditAnnotations\":{" : ","), OG_OK);
        want_string(out, d->annotations[i].key);
        ASSERT_EQ(og_buf_append_cstr(out, ":"), OG_OK);
        want_string(out, d->annotations[i].value);
    }
    if (d->n_annotations > 0)
        ASSERT_EQ(og_buf_append_cstr(out, "}"), OG_OK);
    ASSERT_EQ(og_buf_append_cstr(out, "}}"), OG_OK);
}

/*
 * og_review_encode() of `d` after "keep" equals want_response() under a cap it just fits, the
 * plain way and the general way alike; over the cap by a byte, OG_ETOOBIG with "keep" left
 * alone. The lengths of the warnings and annotations are set from their text first.
 */
static void check_encode(const struct og_review *rv, struct og_decision *d)
{
    struct og_buf out, want;

    for (size_t i = 0; i < d->n_warnings; i++)
        d->warning_lens[i] = strlen(d->warnings[i]);
    for (size_t i = 0; i < d->n_annotations; i++) {
        d->annotations[i].key_len = strlen(d->annotations[i].key);
        d->annotations[i].value_len = strlen(d->annotations[i].value);
    }

    og_buf_init(&want, 1u << 20);
    ASSERT_EQ(og_buf_append_cstr(&want, "keep"), OG_OK);
    want_response(d, &want);
    og_buf_init(&out, want.len);
    ASSERT_EQ(og_buf_append_cstr(&out, "keep"), OG_OK);
    ASSERT_EQ(og_review_encode(rv, d, &out), OG_OK);
    ASSERT_MEM_EQ(out.ptr, out.len, want.ptr);
    ASSERT_EQ(out.ptr[out.len], '\0');
    og_buf_cleanup(&out);
    og_buf_init(&out, want.len - 1);
    ASSERT_EQ(og_buf_append_cstr(&out, "keep"), OG_OK);
    ASSERT_EQ(og_review_encode(rv, d, &out), OG_ETOOBIG);
    ASSERT_STR_EQ(out.ptr, "keep");
    og_buf_cleanup(&out);
    og_buf_cleanup(&want);
}

/*
 * Strings of every length up to 40, plain or with a byte to escape at each place (the plain
 * way copies them in steps of 4, 8, 16 and 32 bytes and tests 16 at a time; an escape sends
 * the response the general way), and responses with up to 7 warnings and 6 annotations (more
 * strings than the plain way takes): byte for byte what want_response() builds.
 */
OG_TEST(encode_plain_and_escaped_strings)
{
    const char *body = "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
                       "\"request\":{\"uid\":\"u\"}}";
    static const char escapes[] = {'"', '\\', '\x01', (char)0xc3};
    struct og_review *rv = NULL;
    char text[8][48], k[6][8], patch[] = "[]", reason[] = "Forbidden";
    char *warnings[8];
    size_t warning_lens[8];
    struct og_annotation ann[6];
    struct og_decision d = {0};

    ASSERT_EQ(og_review_decode(body, strlen(body), &rv, NULL), OG_OK);
    for (size_t i = 0; i < 8; i++) {
        snprintf(text[i], sizeof(text[i]), "warning number %zu", i);
        warnings[i] = text[i];
    }
    for (size_t i = 0; i < 6; i++) {
        snprintf(k[i], sizeof(k[i]), "k%zu", i);
        ann[i].key = k[i];
        ann[i].value = text[7 - i];
    }
    d.warnings = warnings;
    d.warning_lens = warning_lens;
    d.annotations = ann;
    for (int allowed = 0; allowed < 2; allowed++) {
        d.allowed = allowed;
        d.patch = allowed ? patch : NULL;
        d.patch_len = allowed ? 2 : 0;
        d.reason = allowed ? NULL : reason;
        d.message = allowed ? NULL : text[1];
        for (size_t nw = 0; nw <= 7; nw++) {
            for (size_t na = 0; na <= 6; na++) {
                d.n_warnings = nw;
                d.n_annotations = na;
                check_encode(rv, &d);
            }
        }
    }
    /* One warning of every length, then with each escape at every place. */
    d.allowed = true;
    d.n_warnings = 1;
    d.n_annotations = 1;
    for (size_t len = 0; len <= 40; len++) {
        memset(text[0], 'a', len);
        text[0][len] = '\0';
        memset(text[7], 'b', len);
        text[7][len] = '\0';
        check_encode(rv, &d);
        for (size_t e = 0; e < sizeof(escapes) && len > 0; e++) {
            for (size_t at = 0; at < len; at++) {
                text[0][at] = escapes[e];
                if (escapes[e] == (char)0xc3) {
                    /* A two-byte UTF-8 character: written as it is, but not the plain way. */
                    if (at + 1 == len)
                        continue;
                    text[0][at + 1] = (char)0xa9;
                }
                check_encode(rv, &d);
                memset(text[0], 'a', len);
            }
        }
    }
    og_review_free(rv);
}

OG_TEST_MAIN(OG_T(decode_bad_input), OG_T(encode_plain_and_escaped_strings),
             OG_T(decode_old_object), OG_T(decode_unescapes_strings), OG_T(decode_deep_nesting),
             OG_T(decode_nesting_limit_edge), OG_T(decode_respects_length),
             OG_T(decode_refuses_data_after_a_nul), OG_T(decode_refuses_uids_it_cannot_echo),
             OG_T(encode_echoes_uid_exactly), OG_T(captured_requests),
             OG_T(encode_denial_patch_warnings), OG_T(decode_whitespace_anywhere),
             OG_T(decode_string_tokens_at_every_length), OG_T(encode_exact_bytes),
             OG_T(decode_read_strings_across_block_edges))
