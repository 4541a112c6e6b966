/*
 * test_review_scan.c - the decoder's scan of the values it passes over (skip()), against a plain
 * recursive-descent validator written here from RFC 8259. Random values, many of them broken
 * (a byte dropped, changed or added, the text cut), are put where the decoder skips them
 * (request.options); the decoder must accept exactly the valid ones and refuse the others at
 * the same byte, with the same message. Long strings with escapes at every offset exercise the
 * vector scan's block edges.
 */
#include "harness.h"

#include "ocigate/review.h"

/* ---- the reference: one function per grammar rule ------------------------------------------ */

struct ref {
    const char *p;
    size_t len, i;
    unsigned depth;
    const char *msg; /* the first error */
    size_t at;
};

static bool ref_fail(struct ref *r, size_t at, const char *msg)
{
    if (r->msg == NULL) {
        r->msg = msg;
        r->at = at;
    }
    return false;
}

static char ref_peek(struct ref *r)
{
    while (r->i < r->len &&
           (r->p[r->i] == ' ' || r->p[r->i] == '\t' || r->p[r->i] == '\n' || r->p[r->i] == '\r'))
        r->i++;
    return r->i < r->len ? r->p[r->i] : '\0';
}

static bool ref_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool ref_string(struct ref *r)
{
    size_t k = r->i + 1;

    for (;;) {
        unsigned char c;

        if (k >= r->len)
            return ref_fail(r, k, "unterminated string");
        c = (unsigned char)r->p[k];
        if (c == '"')
            break;
        if (c < 0x20)
            return ref_fail(r, k, "control character in a string");
        if (c != '\\') {
            k++;
            continue;
        }
        c = k + 1 < r->len ? (unsigned char)r->p[k + 1] : 0;
        if (c == 'u') {
            if (k + 5 >= r->len || !ref_hex(r->p[k + 2]) || !ref_hex(r->p[k + 3]) ||
                !ref_hex(r->p[k + 4]) || !ref_hex(r->p[k + 5]))
                return ref_fail(r, k, "bad \\u escape");
            k += 6;
        } else if (c != 0 && strchr("\"\\/bfnrt", c) != NULL) {
            k += 2;
        } else {
            return ref_fail(r, k, "bad escape");
        }
    }
    r->i = k + 1;
    return true;
}

static size_t ref_digits(struct ref *r, size_t k)
{
    while (k < r->len && r->p[k] >= '0' && r->p[k] <= '9')
        k++;
    return k;
}

static bool ref_number(struct ref *r)
{
    size_t k = r->i;

    if (k < r->len && r->p[k] == '-')
        k++;
    if (k < r->len && r->p[k] == '0')
        k++;
    else if (k < r->len && r->p[k] >= '1' && r->p[k] <= '9')
        k = ref_digits(r, k);
    else
        return ref_fail(r, r->i, "unexpected character");
    if (k < r->len && r->p[k] == '.') {
        k++;
        if (ref_digits(r, k) == k)
            return ref_fail(r, k, "bad number");
        k = ref_digits(r, k);
    }
    if (k < r->len && (r->p[k] == 'e' || r->p[k] == 'E')) {
        k++;
        if (k < r->len && (r->p[k] == '+' || r->p[k] == '-'))
            k++;
        if (ref_digits(r, k) == k)
            return ref_fail(r, k, "bad number");
        k = ref_digits(r, k);
    }
    r->i = k;
    return true;
}

static bool ref_value(struct ref *r);

/* '{' or '[' at r->i: its members or elements and the closing byte. */
static bool ref_container(struct ref *r, bool obj)
{
    const char close = obj ? '}' : ']';

    if (r->depth >= 1000)
        return ref_fail(r, r->i, "nesting too deep");
    r->depth++;
    r->i++;
    if (ref_peek(r) == close) {
        r->i++;
        r->depth--;
        return true;
    }
    for (;;) {
        if (obj) {
            if (ref_peek(r) != '"')
                return ref_fail(r, r->i, "expected a member name");
            if (!ref_string(r))
                return false;
            if (ref_peek(r) != ':')
                return ref_fail(r, r->i, "expected ':'");
            r->i++;
        }
        if (!ref_value(r))
            return false;
        if (ref_peek(r) == close)
            break;
        if (r->i >= r->len || r->p[r->i] != ',')
            return ref_fail(r, r->i, obj ? "expected ',' or '}'" : "expected ',' or ']'");
        r->i++;
    }
    r->i++;
    r->depth--;
    return true;
}

static bool ref_literal(struct ref *r, const char *word)
{
    size_t n = strlen(word);

    if (r->len - r->i < n || memcmp(r->p + r->i, word, n) != 0)
        return ref_fail(r, r->i, "unexpected character");
    r->i += n;
    return true;
}

static bool ref_value(struct ref *r)
{
    switch (ref_peek(r)) {
    case '{':
        return ref_container(r, true);
    case '[':
        return ref_container(r, false);
    case '"':
        return ref_string(r);
    case 't':
        return ref_literal(r, "true");
    case 'f':
        return ref_literal(r, "false");
    case 'n':
        return ref_literal(r, "null");
    case '\0':
        return ref_fail(r, r->i, "unexpected end");
    default:
        return ref_number(r);
    }
}

/* ---- random values ----------------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

struct text {
    char buf[8192];
    size_t len;
};

static void put(struct text *t, const char *s, size_t n)
{
    if (t->len + n < sizeof(t->buf)) {
        memcpy(t->buf + t->len, s, n);
        t->len += n;
    }
}

static void put_ws(struct text *t)
{
    static const char ws[] = " \t\n\r";

    if (rnd(6) == 0)
        put(t, ws + rnd(4), 1);
}

/* A string token of 0 to ~80 bytes: plain runs, every kind of escape, UTF-8. */
static void gen_string(struct text *t)
{
    static const char *const escapes[] = {"\\\"",   "\\\\", "\\/", "\\b",     "\\f",
                                          "\\n",    "\\r",  "\\t", "\\u00e9", "\\uD83D\\uDE00",
                                          "\\u0000"};
    unsigned n = rnd(4) == 0 ? rnd(80) : rnd(20);

    put(t, "\"", 1);
    for (unsigned k = 0; k < n; k++) {
        unsigned what = rnd(10);

        if (what == 0) {
            const char *e = escapes[rnd(sizeof(escapes) / sizeof(escapes[0]))];

            put(t, e, strlen(e));
        } else if (what == 1) {
            put(t, "\xc3\xa9", 2);
        } else {
            char c = (char)('a' + rnd(26));

            put(t, &c, 1);
        }
    }
    put(t, "\"", 1);
}

static void gen_value(struct text *t, unsigned depth)
{
    static const char *const scalars[] = {"true",    "false", "null",  "0",  "-1",
                                          "12.5e-3", "1E+9",  "-0.25", "3e7"};
    unsigned what = depth > 6 ? 2 + rnd(2) : rnd(4);

    put_ws(t);
    if (what == 0 || what == 1) {
        unsigned n = rnd(5);

        put(t, what == 0 ? "{" : "[", 1);
        for (unsigned k = 0; k < n; k++) {
            if (k > 0)
                put(t, ",", 1);
            put_ws(t);
            if (what == 0) {
                gen_string(t);
                put_ws(t);
                put(t, ":", 1);
            }
            gen_value(t, depth + 1);
        }
        put_ws(t);
        put(t, what == 0 ? "}" : "]", 1);
    } else if (what == 2) {
        gen_string(t);
    } else {
        const char *s = scalars[rnd(sizeof(scalars) / sizeof(scalars[0]))];

        put(t, s, strlen(s));
    }
    put_ws(t);
}

/* Breaks the text at random, as a truncated or garbled body would be. */
static void garble(struct text *t)
{
    static const char bytes[] = "{}[]\",:\\ tfnu0-.eE\x01\x1f\x7f\x80\xff";
    size_t at;

    if (t->len == 0)
        return;
    at = rnd((unsigned)t->len);
    switch (rnd(4)) {
    case 0: /* drop a byte */
        memmove(t->buf + at, t->buf + at + 1, t->len - at - 1);
        t->len--;
        break;
    case 1: /* change one */
        t->buf[at] = bytes[rnd(sizeof(bytes) - 1)];
        break;
    case 2: /* add one */
        if (t->len + 1 < sizeof(t->buf)) {
            memmove(t->buf + at + 1, t->buf + at, t->len - at);
            t->buf[at] = bytes[rnd(sizeof(bytes) - 1)];
            t->len++;
        }
        break;
    default: /* cut the text */
        t->len = at;
        break;
    }
}

/* ---- the comparison ---------------------------------------------------------------------- */

static const char head[] = "{\"request\":{\"uid\":\"u\",\"options\":";
static const char tail[] = ",\"dryRun\":true}}";

/* Decodes head + value + tail and checks the result against the reference. */
static void check_value(const char *value, size_t n)
{
    char body[sizeof(head) + sizeof(struct text) + sizeof(tail)];
    size_t len = 0;
    struct ref r = {body, 0, 0, 2, NULL, 0};
    struct og_review *rv = NULL;
    struct og_diag diag;
    enum og_err rc;
    bool valid;

    memcpy(body, head, sizeof(head) - 1);
    len = sizeof(head) - 1;
    memcpy(body + len, value, n);
    len += n;
    memcpy(body + len, tail, sizeof(tail) - 1);
    len += sizeof(tail) - 1;
    r.len = len;
    r.i = sizeof(head) - 1;
    valid = ref_value(&r);
    og_diag_clear(&diag);
    rc = og_review_decode(body, len, &rv, &diag);
    og_review_free(rv);
    {
        /* The same from a block of exactly `len` bytes, where AddressSanitizer sees a read
         * past the end: the same result. */
        char *exact = malloc(len);
        struct og_diag exact_diag;

        ASSERT(exact != NULL);
        memcpy(exact, body, len);
        og_diag_clear(&exact_diag);
        rv = NULL;
        ASSERT_EQ(og_review_decode(exact, len, &rv, &exact_diag), rc);
        og_review_free(rv);
        free(exact);
        ASSERT_STR_EQ(exact_diag.msg, diag.msg);
    }
    if (valid) {
        /* Accepted whole, the value leaves the request to go on; a value that ends early
         * leaves the rest of it to the request object, which reads it with other rules. */
        if (ref_peek(&r) != ',' || r.i != sizeof(head) - 1 + n)
            return;
        if (rc != OG_OK)
            fprintf(stderr, "  refused a valid value: %.*s\n  %s\n", (int)n, value, diag.msg);
        ASSERT_EQ(rc, OG_OK);
        return;
    }
    {
        char want[256];

        (void)snprintf(want, sizeof(want), "malformed JSON at byte %zu: %s", r.at, r.msg);
        if (rc != OG_EPARSE || strcmp(diag.msg, want) != 0)
            fprintf(stderr, "  value: %.*s\n  want: %s\n  got:  %s\n", (int)n, value, want,
                    rc == OG_OK ? "(accepted)" : diag.msg);
        ASSERT_EQ(rc, OG_EPARSE);
        ASSERT_STR_EQ(diag.msg, want);
    }
}

OG_TEST(skip_matches_reference_on_random_values)
{
    unsigned broken = 0;

    for (unsigned round = 0; round < 30000; round++) {
        struct text t = {.len = 0};

        gen_value(&t, 0);
        if (round % 3 != 0) {
            garble(&t);
            broken++;
        }
        check_value(t.buf, t.len);
    }
    ASSERT(broken > 10000);
}

/*
 * Escapes at every offset of long strings, so that an escape (a quote or a backslash escaped,
 * a \u) sits on each edge of the 16-byte blocks the scan reads, with the string's end anywhere.
 */
OG_TEST(skip_long_strings_escapes_at_every_offset)
{
    static const char *const escapes[] = {"\\\"", "\\\\", "\\u0041", "\\n", "\\\"\\\""};

    for (size_t e = 0; e < sizeof(escapes) / sizeof(escapes[0]); e++) {
        for (size_t before = 0; before < 40; before++) {
            for (size_t after = 0; after < 40; after += 3) {
                struct text t = {.len = 0};

                put(&t, "[\"", 2);
                for (size_t k = 0; k < before; k++)
                    put(&t, "x", 1);
                put(&t, escapes[e], strlen(escapes[e]));
                for (size_t k = 0; k < after; k++)
                    put(&t, k % 7 == 6 ? "\\\\" : "y", k % 7 == 6 ? 2 : 1);
                put(&t, "\",\"k\"]", 6);
                check_value(t.buf, t.len);
                /* The same without its closing quote: the string runs into the next token. */
                t.len = 2 + before + strlen(escapes[e]);
                put(&t, "\",1]", 1);
                check_value(t.buf, t.len);
            }
        }
    }
}

/* An escaped quote must never end a string, whatever the block it falls in. */
OG_TEST(skip_escaped_quote_does_not_end_string)
{
    for (size_t before = 0; before < 48; before++) {
        struct text t = {.len = 0};
        struct og_review *rv = NULL;
        char body[256];
        int n;

        for (size_t k = 0; k < before; k++)
            put(&t, "a", 1);
        /* Valid only if \" is read as an escape: otherwise `],"x` follows a closed string. */
        n = snprintf(body, sizeof(body), "%s[\"%.*s\\\"],\\\"x\"]%s", head, (int)t.len, t.buf,
                     tail);
        ASSERT(n > 0 && (size_t)n < sizeof(body));
        ASSERT_EQ(og_review_decode(body, (size_t)n, &rv, NULL), OG_OK);
        og_review_free(rv);
    }
}

/*
 * The decoder finds the stops of a string ('"', '\\', control characters) in 64-byte blocks:
 * strings of 0 to 130 bytes starting at every offset of a block, plain, with an escape or a
 * control character at every offset (so at the last byte of a block and the first of the next),
 * after whitespace (tabs and newlines are stops too), and bodies of every length modulo 64.
 */
OG_TEST(skip_strings_across_block_edges)
{
    static const char *const inner[] = {
        "\\\"", "\\\\", "\\u0041", "\x01", "\\q",
        /* Runs of escaped quotes and backslashes (one on a block's last byte, or across it),
         * with other escapes between them and a quote or a control character after them. */
        "\\\"\\\"\\\\\\\"", "\\\"a\\\\\\n\\\"b\\\"", "\\\"\\\"\x01", "\\\\\\\x01", "\\\x01",
        "\\\"\\\\\\", "\\n\\\"\\/\\\"\\t\\\\"};

    for (size_t shift = 0; shift < 64; shift++) {
        for (size_t n = 0; n <= 130; n++) {
            for (size_t kind = 0; kind < 2 + sizeof(inner) / sizeof(inner[0]); kind++) {
                struct text t = {.len = 0};

                /* A first string or whitespace moves the second one `shift` bytes on. */
                put(&t, "[", 1);
                if (kind == 1) {
                    for (size_t k = 0; k < shift; k++)
                        put(&t, &" \t\n\r"[k % 4], 1);
                } else {
                    put(&t, "\"", 1);
                    for (size_t k = 0; k < shift; k++)
                        put(&t, "s", 1);
                    put(&t, "\",", 2);
                }
                put(&t, "\"", 1);
                for (size_t k = 0; k < n; k++) {
                    /* The escape or control character moves with `shift` too. */
                    if (kind >= 2 && k == n / 2)
                        put(&t, inner[kind - 2], strlen(inner[kind - 2]));
                    else
                        put(&t, "abcdefgh" + k % 8, 1);
                }
                put(&t, "\"]", 2);
                check_value(t.buf, t.len);
            }
        }
    }
}

/* A body that ends inside a string, at every offset of a block, read from a block of exactly
 * its size: the error is at its end, and nothing past it is read. */
OG_TEST(skip_string_cut_at_body_end)
{
    static const char *const ends[] = {"", "\\", "\\u00", "\\\""};

    for (size_t n = 0; n <= 130; n++) {
        for (size_t e = 0; e < sizeof(ends) / sizeof(ends[0]); e++) {
            struct text t = {.len = 0};
            struct og_review *rv = NULL;
            struct og_diag diag;
            char want[96], *exact;

            put(&t, head, sizeof(head) - 1);
            put(&t, "[\"", 2);
            for (size_t k = 0; k < n; k++)
                put(&t, "z", 1);
            put(&t, ends[e], strlen(ends[e]));
            if (e == 0 || e == 3)
                snprintf(want, sizeof(want), "malformed JSON at byte %zu: unterminated string",
                         t.len);
            else
                snprintf(want, sizeof(want), "malformed JSON at byte %zu: %s",
                         t.len - strlen(ends[e]), e == 1 ? "bad escape" : "bad \\u escape");
            exact = malloc(t.len);
            ASSERT(exact != NULL);
            memcpy(exact, t.buf, t.len);
            og_diag_clear(&diag);
            ASSERT_EQ(og_review_decode(exact, t.len, &rv, &diag), OG_EPARSE);
            ASSERT_STR_EQ(diag.msg, want);
            free(exact);
        }
    }
}

/* Containers closed inside a skipped value give their nesting back: many of them, each far
 * below the limit, never add up to it. */
OG_TEST(skip_many_empty_containers)
{
    static char value[8192];
    struct og_review *rv = NULL;
    struct text t = {.len = 0};
    size_t n = 0;

    value[n++] = '[';
    for (int k = 0; k < 1500; k++) {
        memcpy(value + n, k % 2 ? "[]," : "{},", 3);
        n += 3;
    }
    value[n - 1] = ']';
    put(&t, head, sizeof(head) - 1);
    put(&t, value, n);
    put(&t, tail, sizeof(tail) - 1);
    ASSERT_EQ(og_review_decode(t.buf, t.len, &rv, NULL), OG_OK);
    og_review_free(rv);
}

OG_TEST_MAIN(OG_T(skip_matches_reference_on_random_values), OG_T(skip_many_empty_containers),
             OG_T(skip_long_strings_escapes_at_every_offset),
             OG_T(skip_escaped_quote_does_not_end_string), OG_T(skip_strings_across_block_edges),
             OG_T(skip_string_cut_at_body_end))
