/*
 * test_str.c - lib/str.c and lib/err.c at their edges: UTF-8 decoding (the shortest and
 * longest form of each length, overlong forms, surrogates, U+10FFFF) and og_diag_where's cut.
 */
#include "harness.h"

#include "ocigate/err.h"
#include "ocigate/str.h"

OG_TEST(utf8_char_edges)
{
    static const struct {
        const char *bytes;
        size_t len;
        size_t want; /* 0: invalid */
        uint32_t cp;
    } cases[] = {
        {"\x7f", 1, 1, 0x7f},
        {"\xc2\x80", 2, 2, 0x80},       /* shortest 2-byte */
        {"\xdf\xbf", 2, 2, 0x7ff},      /* longest 2-byte */
        {"\xc1\xbf", 2, 0, 0},          /* overlong U+007F */
        {"\xc1\x80", 2, 0, 0},          /* overlong U+0040 */
        {"\xc0\x80", 2, 0, 0},          /* overlong NUL */
        {"\xe0\xa0\x80", 3, 3, 0x800},  /* shortest 3-byte */
        {"\xe0\x9f\xbf", 3, 0, 0},      /* overlong U+07FF */
        {"\xed\x9f\xbf", 3, 3, 0xd7ff}, /* just below the surrogates */
        {"\xed\xa0\x80", 3, 0, 0},      /* U+D800 */
        {"\xed\xbf\xbf", 3, 0, 0},      /* U+DFFF */
        {"\xee\x80\x80", 3, 3, 0xe000}, /* just above */
        {"\xf0\x90\x80\x80", 4, 4, 0x10000},
        {"\xf0\x8f\xbf\xbf", 4, 0, 0}, /* overlong U+FFFF */
        {"\xf4\x8f\xbf\xbf", 4, 4, 0x10ffff},
        {"\xf4\x90\x80\x80", 4, 0, 0}, /* U+110000 */
        {"\x80", 1, 0, 0},             /* stray continuation */
        {"\xc2", 1, 0, 0},             /* cut short */
        {"\xe2\x82", 2, 0, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint32_t cp = 0;
        size_t n = og_utf8_char((struct og_str){cases[i].bytes, cases[i].len}, 0, &cp);

        if (n != cases[i].want || (n > 0 && cp != cases[i].cp))
            OG_FAIL_("case %zu: got %zu (U+%04X), want %zu (U+%04X)", i, n, (unsigned)cp,
                     cases[i].want, (unsigned)cases[i].cp);
    }
}

/* `where` keeps at most 255 bytes and its NUL, and never writes past its field. */
OG_TEST(diag_where_cut)
{
    char text[300];
    struct og_diag diag;

    for (size_t len = 254; len <= 257; len++) {
        memset(text, 'w', len);
        text[len] = '\0';
        og_diag_clear(&diag);
        memset(diag.file, 'f', sizeof(diag.file) - 1);
        og_diag_where(&diag, text);
        ASSERT_EQ(strlen(diag.where), len < 256 ? len : 255);
        ASSERT_EQ(diag.file[0], 'f');
    }
}

/*
 * og_str_sanitize_line: printable ASCII (the fast path) kept, C0 controls, DEL and C1 controls
 * a space each, well-formed UTF-8 kept, each byte of a malformed sequence a '?'; every single
 * byte at the start, middle and end of a line.
 */
OG_TEST(sanitize_line)
{
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        {"plain text", "plain text"},
        {"a\tb\nc\rd\x1b[0m", "a b c d [0m"},
        {"\x7f"
         "x\x7f",
         " x "},
        {"\xc2\x85"
         "nel \xc2\x9f"
         "x",
         " nel  x"},
        {"nbsp\xc2\xa0"
         "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
         "nbsp\xc2\xa0"
         "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
        {"cut \xe2\x82", "cut ??"},
        {"overlong \xc0\xaf", "overlong ??"},
        {"surrogate \xed\xa0\x80.", "surrogate ???."},
        {"", ""},
    };
    char line[64];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].in);

        memcpy(line, cases[i].in, len + 1);
        ASSERT_EQ(og_str_sanitize_line(line, len), strlen(cases[i].out));
        ASSERT_STR_EQ(line, cases[i].out);
    }
    /* Every byte at each place of a 20-byte line (in the 8-byte steps and the tail). */
    for (unsigned b = 1; b < 256; b++) {
        char want = b < 0x20 || b == 0x7f ? ' ' : b >= 0x80 ? '?' : (char)b;

        for (size_t at = 0; at < 20; at++) {
            memcpy(line, "abcdefghijklmnopqrs~", 21);
            line[at] = (char)b;
            ASSERT_EQ(og_str_sanitize_line(line, 20), 20);
            for (size_t k = 0; k < 20; k++)
                ASSERT_EQ(line[k], k == at ? want : "abcdefghijklmnopqrs~"[k]);
            ASSERT_EQ(line[20], '\0');
        }
    }
    /* A C1 control (two bytes, one space) after an 8-byte step moves the rest down. */
    memcpy(line, "abcdefgh\xc2\x85ijklmnopq", 20);
    ASSERT_EQ(og_str_sanitize_line(line, 19), 18);
    ASSERT_STR_EQ(line, "abcdefgh ijklmnopq");
}

/* og_str_of() (inline): the length of a literal or of a runtime string, and NULL's empty view. */
OG_TEST(str_of)
{
    const char *none = NULL;
    char text[8] = "abc";
    struct og_str s = og_str_of("four");

    ASSERT_EQ(s.len, 4);
    ASSERT_MEM_EQ(s.ptr, s.len, "four");
    s = og_str_of(text);
    ASSERT_EQ(s.len, 3);
    ASSERT(s.ptr == text);
    s = og_str_of(none);
    ASSERT(s.ptr == NULL);
    ASSERT_EQ(s.len, 0);
    s = og_str_of("");
    ASSERT_EQ(s.len, 0);
    ASSERT(s.ptr != NULL);
}

OG_TEST_MAIN(OG_T(utf8_char_edges), OG_T(diag_where_cut), OG_T(sanitize_line), OG_T(str_of))
