#include "harness.h"

#include "ocigate/json.h"

/*
 * A copy of `len` bytes in a heap block of exactly that size, so that AddressSanitizer sees a
 * scan that reads past the end (a stack array would hide it).
 */
static char *exact_copy(const char *p, size_t len)
{
    char *c = malloc(len > 0 ? len : 1);

    ASSERT(c != NULL);
    memcpy(c, p, len);
    return c;
}

/*
 * The 16- and 8-byte-at-a-time scans stop exactly where the byte-at-a-time definition says:
 * a stop byte at each offset of strings of every length up to 40 (so within a first 16-byte
 * step, a later one, the overlapping last step, and the 8-byte and byte tails), a second stop
 * byte after the first, and bytes >= 0x80 (plain here) all around.
 */
OG_TEST(plain_prefix_matches_bytewise)
{
    static const char specials[] = {'"', '\\', '\0', '\n', 0x1f, 0x01};
    char buf[40];

    for (size_t len = 0; len <= sizeof(buf); len++) {
        for (size_t at = 0; at <= len; at++) {
            for (size_t k = 0; k < sizeof(specials); k++) {
                char *c;

                /* Plain ASCII and UTF-8 bytes (>= 0x80 never need escaping) around it. */
                for (size_t i = 0; i < len; i++)
                    buf[i] = (char)(i % 3 == 0 ? 0xC3 : i % 3 == 1 ? 0xA9 : 'a' + (int)(i % 26));
                if (at < len)
                    buf[at] = specials[k];
                if (at + 5 < len)
                    buf[at + 5] = '"';
                c = exact_copy(buf, len);
                ASSERT_EQ(og_json_plain_prefix(c, len), at);
                free(c);
            }
        }
    }
    /* Bytes 0x20..0xff are plain, 0x00..0x1f are not, whatever their place. */
    for (unsigned b = 0; b < 256; b++) {
        for (size_t at = 0; at < 33; at++) {
            memset(buf, 'x', 33);
            buf[at] = (char)b;
            ASSERT_EQ(og_json_plain_prefix(buf, 33), b < 0x20 || b == '"' || b == '\\' ? at : 33);
        }
    }
}

/*
 * The writer's scan (bytes >= 0x80 stop it too) at the same edges: one byte that needs a look
 * at each offset of plain ASCII strings of every length up to 40, in a block of exactly their
 * size, is written as the byte-at-a-time escaper writes it and the rest copied around it.
 */
OG_TEST(escape_stops_at_every_offset)
{
    static const struct {
        char in;
        const char *out;
    } stops[] = {{'"', "\\\""},           {'\\', "\\\\"},    {'\n', "\\n"},
                 {0x01, "\\u0001"},       {0x1f, "\\u001f"}, {(char)0x80, "\\ufffd"},
                 {(char)0xff, "\\ufffd"}, {0x7f, "\x7f"},    {' ', " "}};
    char buf[40], want[64], out[64];

    for (size_t len = 0; len <= sizeof(buf); len++) {
        for (size_t at = 0; at <= len; at++) {
            for (size_t k = 0; k < sizeof(stops) / sizeof(stops[0]); k++) {
                size_t n = 0, used = 0, got;
                char *c;

                for (size_t i = 0; i < len; i++)
                    buf[i] = (char)('a' + (int)(i % 26));
                if (at < len)
                    buf[at] = stops[k].in;
                for (size_t i = 0; i < len; i++) {
                    if (i == at) {
                        memcpy(want + n, stops[k].out, strlen(stops[k].out));
                        n += strlen(stops[k].out);
                    } else {
                        want[n++] = buf[i];
                    }
                }
                want[n] = '\0';
                c = exact_copy(buf, len);
                got = og_json_escape(out, sizeof(out), (struct og_str){c, len}, &used);
                free(c);
                ASSERT_EQ(used, len);
                ASSERT_MEM_EQ(out, got, want);
                ASSERT_EQ(got, n);
            }
        }
    }
}

/* `in` (`len` bytes) written as one JSON string value into a fresh buffer capped at `max`. */
static enum og_err write_string(const char *in, size_t len, size_t max, struct og_buf *b)
{
    struct og_json w;

    og_buf_init(b, max);
    og_json_init(&w, b);
    og_json_string(&w, (struct og_str){in, len});
    return og_json_finish(&w);
}

OG_TEST(string_escapes)
{
    static const struct {
        const char *in;
        size_t len;
        const char *out;
    } cases[] = {
        {"a\"b\\c\nd\x01\xc3\xa9 0123456789abcdef", 27,
         "\"a\\\"b\\\\c\\nd\\u0001\xc3\xa9 0123456789abcdef\""},
        {"\b\f\r\t", 4, "\"\\b\\f\\r\\t\""},
        {"\x00\x1f\x7f", 3, "\"\\u0000\\u001f\x7f\""},
        {"", 0, "\"\""},
        /* A long plain run with one escape near the end (the word-at-a-time path). */
        {"abcdefghijklmnopqrstuvwxyz/\"", 28, "\"abcdefghijklmnopqrstuvwxyz/\\\"\""},
    };
    struct og_buf b;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ASSERT_EQ(write_string(cases[i].in, cases[i].len, 1024, &b), OG_OK);
        ASSERT_STR_EQ(b.ptr, cases[i].out);
        og_buf_cleanup(&b);
    }
}

/* Well-formed UTF-8 is copied; every byte that begins no well-formed sequence is \ufffd. */
OG_TEST(string_utf8_edges)
{
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        {"\xc2\x80", "\"\xc2\x80\""},                  /* U+0080, the first 2-byte */
        {"\xdf\xbf", "\"\xdf\xbf\""},                  /* U+07FF */
        {"\xe0\xa0\x80", "\"\xe0\xa0\x80\""},          /* U+0800 */
        {"\xe2\x80\xa8", "\"\xe2\x80\xa8\""},          /* U+2028 is valid JSON as it is */
        {"\xed\x9f\xbf", "\"\xed\x9f\xbf\""},          /* U+D7FF, below the surrogates */
        {"\xef\xbf\xbf", "\"\xef\xbf\xbf\""},          /* U+FFFF */
        {"\xf0\x90\x80\x80", "\"\xf0\x90\x80\x80\""},  /* U+10000 */
        {"\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\""},  /* U+10FFFF, the last */
        {"\x80", "\"\\ufffd\""},                       /* a lone continuation byte */
        {"\xc0\xaf", "\"\\ufffd\\ufffd\""},            /* overlong '/' */
        {"\xc1\xbf", "\"\\ufffd\\ufffd\""},            /* overlong */
        {"\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\""}, /* overlong 3-byte */
        {"\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""}, /* U+D800, a surrogate */
        {"\xf0\x80\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""}, /* overlong 4-byte */
        {"\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""}, /* past U+10FFFF */
        {"\xf5\xff", "\"\\ufffd\\ufffd\""},                       /* never in UTF-8 */
        {"a\xe2\x82", "\"a\\ufffd\\ufffd\""},                     /* cut at the end */
        {"\xe2\x82z\xc3\xa9", "\"\\ufffd\\ufffdz\xc3\xa9\""},     /* cut, then more */
        /* A later byte outside 80..BF ends the sequence (each byte then stands alone). */
        {"\xe2\x82\xc0", "\"\\ufffd\\ufffd\\ufffd\""},
        {"\xf0\x90\x80\xc0", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""},
        {"\xe2\x82\xbf", "\"\xe2\x82\xbf\""}, /* U+20BF: BF is still a continuation */
    };
    struct og_buf b;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ASSERT_EQ(write_string(cases[i].in, strlen(cases[i].in), 1024, &b), OG_OK);
        ASSERT_STR_EQ(b.ptr, cases[i].out);
        og_buf_cleanup(&b);
    }
}

/* The escape of one ASCII byte, written out from RFC 8259 section 7. */
static size_t ref_ascii(unsigned c, char *out)
{
    static const char shorts[] = {'\b', 'b',  '\f', 'f', '\n', 'n',  '\r',
                                  'r',  '\t', 't',  '"', '"',  '\\', '\\'};

    for (size_t i = 0; i < sizeof(shorts); i += 2) {
        if ((unsigned)shorts[i] == c) {
            out[0] = '\\';
            out[1] = shorts[i + 1];
            return 2;
        }
    }
    if (c < 0x20)
        return (size_t)snprintf(out, 7, "\\u%04x", c);
    out[0] = (char)c;
    return 1;
}

/* Every two-byte input against a decoder written from the code point ranges of RFC 3629. */
OG_TEST(string_utf8_all_pairs)
{
    struct og_buf b;

    for (unsigned x = 0; x < 0x100; x++) {
        for (unsigned y = 0; y < 0x100; y++) {
            char in[2] = {(char)x, (char)y};
            unsigned cp = (x & 0x1f) << 6 | (y & 0x3f);
            char want[32];
            size_t n = 0;

            want[n++] = '"';
            if ((x & 0xe0) == 0xc0 && (y & 0xc0) == 0x80 && cp >= 0x80) {
                memcpy(want + n, in, 2);
                n += 2;
            } else {
                /* Each byte alone: ASCII as RFC 8259 says, any other byte begins no sequence. */
                for (int k = 0; k < 2; k++) {
                    unsigned c = k == 0 ? x : y;

                    if (c < 0x80) {
                        n += ref_ascii(c, want + n);
                    } else {
                        memcpy(want + n, "\\ufffd", 6);
                        n += 6;
                    }
                }
            }
            want[n++] = '"';
            want[n] = '\0';
            ASSERT_EQ(write_string(in, 2, 64, &b), OG_OK);
            ASSERT_STR_EQ(b.ptr, want);
            og_buf_cleanup(&b);
        }
    }
}

/* The fixed-buffer escaper never cuts an escape or a UTF-8 sequence, and says what it used. */
OG_TEST(escape_fixed_buffer_cuts_on_units)
{
    static const char in[] = "ab\n\xc3\xa9\x80z";
    /* Output of each prefix of whole units: a, b, \n, é, \ufffd, z. */
    static const size_t ends_out[] = {0, 1, 2, 4, 6, 12, 13};
    static const size_t ends_in[] = {0, 1, 2, 3, 5, 6, 7};
    char out[32];

    for (size_t size = 0; size <= 14; size++) {
        size_t used = 99, n = og_json_escape(out, size, (struct og_str){in, sizeof(in) - 1}, &used);
        size_t k = 0;

        while (k + 1 < sizeof(ends_out) / sizeof(ends_out[0]) && ends_out[k + 1] <= size)
            k++;
        ASSERT_EQ(n, ends_out[k]);
        ASSERT_EQ(used, ends_in[k]);
    }
    ASSERT_MEM_EQ(out, 13, "ab\\n\xc3\xa9\\ufffdz");
}

/*
 * A string fits exactly when the buffer's cap holds its escaped form, never one byte less,
 * whatever the buffer holds before it (the escaped form may need the buffer to grow again).
 */
OG_TEST(string_caps_are_exact)
{
    static const size_t prefixes[] = {0, 1, 30, 61, 62, 63, 100, 200};
    char inputs[8][160];
    struct og_buf b;

    memcpy(inputs[0], "plain text", 11);
    memcpy(inputs[1], "\x01\x02\x03\x04\x05\x06\x07\x08\x0b", 10);
    memcpy(inputs[2], "a\xffz\x80\x80\x80", 7);
    memcpy(inputs[3], "\xe2\x82\xac\xe2\x82\xac\x01x", 9);
    /* Long ones, whose escaped form outgrows the first reservation. */
    memset(inputs[4], 0x01, 60);
    inputs[4][60] = '\0';
    memset(inputs[5], 0xff, 40);
    inputs[5][40] = '\0';
    for (size_t i = 0; i < 150; i++)
        inputs[6][i] = "a\x1f\xc3\xa9\"\xf0"[i % 6];
    inputs[6][150] = '\0';
    /* Escapes first, then plain text: the growth must ask for no more than the plain rest. */
    memset(inputs[7], 0x01, 10);
    memset(inputs[7] + 10, 'a', 60);
    inputs[7][70] = '\0';
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        size_t len = strlen(inputs[i]), need;

        ASSERT_EQ(write_string(inputs[i], len, 4096, &b), OG_OK);
        need = b.len;
        og_buf_cleanup(&b);
        for (size_t k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]); k++) {
            for (size_t max = prefixes[k]; max <= prefixes[k] + need + 2; max++) {
                struct og_json w;
                char pre[256];

                memset(pre, 'p', prefixes[k]);
                og_buf_init(&b, max);
                ASSERT_EQ(og_buf_append(&b, pre, prefixes[k]), OG_OK);
                og_json_init(&w, &b);
                og_json_string(&w, (struct og_str){inputs[i], len});
                ASSERT_EQ(og_json_finish(&w), max - prefixes[k] >= need ? OG_OK : OG_ETOOBIG);
                og_buf_cleanup(&b);
            }
        }
    }
}

OG_TEST(writer_builds_documents)
{
    struct og_buf b;
    struct og_json w;

    og_buf_init(&b, 4096);
    og_json_init(&w, &b);
    og_json_object_begin(&w);
    og_json_key(&w, "k\"ey");
    og_json_cstr(&w, "v");
    og_json_key(&w, "none");
    og_json_cstr(&w, NULL);
    og_json_key(&w, "n");
    og_json_array_begin(&w);
    og_json_uint(&w, 0);
    og_json_uint(&w, UINT64_MAX);
    og_json_int(&w, INT64_MIN);
    og_json_int(&w, -1);
    og_json_bool(&w, true);
    og_json_bool(&w, false);
    og_json_null(&w);
    og_json_array_begin(&w);
    og_json_array_end(&w);
    og_json_object_begin(&w);
    og_json_object_end(&w);
    og_json_raw(&w, og_str_of("{\"x\":1}"));
    og_json_array_end(&w);
    og_json_key(&w, "b64");
    og_json_base64(&w, "foobar", 6);
    og_json_object_end(&w);
    ASSERT_EQ(og_json_finish(&w), OG_OK);
    ASSERT_STR_EQ(b.ptr, "{\"k\\\"ey\":\"v\",\"none\":null,\"n\":[0,18446744073709551615,"
                         "-9223372036854775808,-1,true,false,null,[],{},{\"x\":1}],"
                         "\"b64\":\"Zm9vYmFy\"}");
    og_buf_cleanup(&b);
}

/* Misuse is OG_EINVAL, the first error sticks, and nothing more is written after it. */
OG_TEST(writer_refuses_misuse)
{
    struct og_buf b;
    struct og_json w;
    size_t len;

    og_buf_init(&b, 4096);
    og_json_init(&w, &b);
    og_json_object_begin(&w);
    og_json_uint(&w, 1); /* a value where a key is due */
    len = b.len;
    og_json_key(&w, "k");
    og_json_uint(&w, 2);
    og_json_object_end(&w);
    ASSERT_EQ(og_json_finish(&w), OG_EINVAL);
    ASSERT_EQ(b.len, len);

    og_buf_reset(&b);
    og_json_init(&w, &b);
    og_json_array_begin(&w);
    og_json_key(&w, "k"); /* a key in an array */
    ASSERT_EQ(og_json_finish(&w), OG_EINVAL);

    og_json_init(&w, &b);
    og_json_array_begin(&w);
    og_json_object_end(&w); /* the wrong end */
    ASSERT_EQ(og_json_finish(&w), OG_EINVAL);

    og_json_init(&w, &b);
    og_json_object_begin(&w);
    og_json_key(&w, "k");
    og_json_object_end(&w); /* a key without its value */
    ASSERT_EQ(og_json_finish(&w), OG_EINVAL);

    og_json_init(&w, &b);
    og_json_array_end(&w); /* nothing open */
    ASSERT_EQ(og_json_finish(&w), OG_EINVAL);

    og_json_init(&w, &b);
    og_json_array_begin(&w); /* still open */
    ASSERT_EQ(og_json_finish(&w), OG_EINVAL);

    og_json_init(&w, &b);
    for (int i = 0; i < OG_JSON_MAX_DEPTH; i++)
        og_json_array_begin(&w);
    ASSERT_EQ(w.rc, OG_OK);
    og_json_array_begin(&w); /* one level too deep: refused at once */
    ASSERT_EQ(w.rc, OG_EINVAL);
    ASSERT_EQ(og_json_finish(&w), OG_EINVAL);

    /* Exactly the limit opens and closes cleanly. */
    og_buf_reset(&b);
    og_json_init(&w, &b);
    for (int i = 0; i < OG_JSON_MAX_DEPTH; i++)
        og_json_array_begin(&w);
    for (int i = 0; i < OG_JSON_MAX_DEPTH; i++)
        og_json_array_end(&w);
    ASSERT_EQ(og_json_finish(&w), OG_OK);
    ASSERT_EQ(b.len, 2 * OG_JSON_MAX_DEPTH);
    og_buf_cleanup(&b);

    /* The cap: the first OG_ETOOBIG sticks too. */
    og_buf_init(&b, 8);
    og_json_init(&w, &b);
    og_json_array_begin(&w);
    og_json_cstr(&w, "123456");
    og_json_uint(&w, 1);
    ASSERT_EQ(og_json_finish(&w), OG_ETOOBIG);
    og_buf_cleanup(&b);
}

OG_TEST(base64_vectors)
{
    /* RFC 4648 section 10, and two longer ones. */
    static const char *const out[] = {"",
                                      "Zg==",
                                      "Zm8=",
                                      "Zm9v",
                                      "Zm9vYg==",
                                      "Zm9vYmE=",
                                      "Zm9vYmFy",
                                      "YW55IGNhcm5hbCBwbGVhcw==",
                                      "YW55IGNhcm5hbCBwbGVhc3U="};
    static const char *const in[] = {
        "", "f", "fo", "foo", "foob", "fooba", "foobar", "any carnal pleas", "any carnal pleasu"};
    struct og_buf b;

    og_buf_init(&b, 1024);
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        og_buf_reset(&b);
        ASSERT_EQ(og_base64_append(&b, in[i], strlen(in[i])), OG_OK);
        ASSERT_MEM_EQ(b.ptr != NULL ? b.ptr : "", b.len, out[i]);
    }
    og_buf_cleanup(&b);
    /* The cap is exact, and a failure leaves the buffer as it was. */
    og_buf_init(&b, 8);
    ASSERT_EQ(og_base64_append(&b, "foobar", 6), OG_OK);
    og_buf_reset(&b);
    ASSERT_EQ(og_buf_append(&b, "x", 1), OG_OK);
    ASSERT_EQ(og_base64_append(&b, "foobar", 6), OG_ETOOBIG);
    ASSERT_STR_EQ(b.ptr, "x");
    og_buf_cleanup(&b);
}

/*
 * og_json_append_string() writes what the writer writes, in place while the buffer's storage
 * holds it (NUL included) and moved to the heap from one byte less, and fails past the cap.
 */
OG_TEST(append_string_at_the_edges)
{
    static const char *const inputs[] = {"", "plain text", "a\"b", "\xc3\xa9t\xc3\xa9\x01",
                                         "seventeen bytes!!"};

    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        struct og_str in = og_str_of(inputs[i]);
        struct og_buf want, b;
        char st[64];

        ASSERT_EQ(write_string(in.ptr, in.len, 4096, &want), OG_OK);
        for (size_t size = 1; size <= want.len + 3; size++) {
            og_buf_init_with(&b, 4096, st, size);
            ASSERT_EQ(og_json_append_string(&b, in), OG_OK);
            ASSERT_MEM_EQ(b.ptr, b.len, want.ptr);
            ASSERT_EQ(b.ptr[b.len], '\0');
            ASSERT_EQ(b.ptr == st, want.len + 1 <= size);
            og_buf_cleanup(&b);
        }
        for (size_t max = 0; max <= want.len + 1; max++) {
            og_buf_init(&b, max);
            ASSERT_EQ(og_json_append_string(&b, in), max >= want.len ? OG_OK : OG_ETOOBIG);
            og_buf_cleanup(&b);
            /* Storage larger than the cap: the cap still decides. */
            og_buf_init_with(&b, max, st, sizeof(st));
            ASSERT_EQ(og_json_append_string(&b, in), max >= want.len ? OG_OK : OG_ETOOBIG);
            og_buf_cleanup(&b);
        }
        og_buf_cleanup(&want);
    }
}

/* og_base64_append() at every length up to 300 (its twelve-byte vector steps, its six-byte
 * steps, its three-byte steps and the padding), every byte value among the inputs: as a plain
 * encoder three bytes at a time. */
OG_TEST(base64_matches_bytewise)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char in[300];
    char want[404];
    struct og_buf b;
    uint32_t x = 7;

    for (size_t i = 0; i < sizeof(in); i++) {
        x = x * 1103515245u + 12345u;
        in[i] = i < 256 ? (unsigned char)(i * 151 + 7) : (unsigned char)(x >> 16);
    }
    og_buf_init(&b, 1024);
    for (size_t len = 0; len <= sizeof(in); len++) {
        size_t o = 0;

        for (size_t i = 0; i < len; i += 3) {
            uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) |
                         (i + 2 < len ? in[i + 2] : 0);

            want[o++] = tab[v >> 18];
            want[o++] = tab[(v >> 12) & 63];
            want[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
            want[o++] = i + 2 < len ? tab[v & 63] : '=';
        }
        want[o] = '\0';
        og_buf_reset(&b);
        ASSERT_EQ(og_base64_append(&b, in, len), OG_OK);
        ASSERT_MEM_EQ(b.ptr != NULL ? b.ptr : "", b.len, want);
    }
    og_buf_cleanup(&b);
}

OG_TEST_MAIN(OG_T(plain_prefix_matches_bytewise), OG_T(escape_stops_at_every_offset),
             OG_T(string_escapes), OG_T(string_utf8_edges), OG_T(string_utf8_all_pairs),
             OG_T(escape_fixed_buffer_cuts_on_units), OG_T(string_caps_are_exact),
             OG_T(writer_builds_documents), OG_T(writer_refuses_misuse), OG_T(base64_vectors),
             OG_T(append_string_at_the_edges), OG_T(base64_matches_bytewise))
