#include "harness.h"

#include "ocigate/buf.h"
#include "ocigate/err.h"
#include "ocigate/str.h"

OG_TEST(buf_append_and_cap)
{
    struct og_buf b;

    og_buf_init(&b, 8);
    ASSERT_EQ(og_buf_append_cstr(&b, "abcd"), OG_OK);
    ASSERT_EQ(og_buf_appendf(&b, "%d", 123), OG_OK);
    ASSERT_MEM_EQ(b.ptr, b.len, "abcd123");
    /* Exactly at the cap is fine, one past is refused and leaves the buffer as it was. */
    ASSERT_EQ(og_buf_append(&b, "x", 1), OG_OK);
    ASSERT_EQ(og_buf_append(&b, "y", 1), OG_ETOOBIG);
    ASSERT_EQ(og_buf_appendf(&b, "%s", "zz"), OG_ETOOBIG);
    ASSERT_MEM_EQ(b.ptr, b.len, "abcd123x");
    ASSERT_EQ(b.ptr[b.len], '\0');
    og_buf_cleanup(&b);
    ASSERT(b.ptr == NULL);
}

OG_TEST(buf_capacity_for_predicts_reserve)
{
    struct og_buf b;

    og_buf_init(&b, 1000);
    ASSERT_EQ(og_buf_capacity_for(&b, 0), 64);
    ASSERT_EQ(og_buf_capacity_for(&b, 200), 256);
    ASSERT_EQ(og_buf_capacity_for(&b, 1000), 1001); /* never past max + 1 */
    ASSERT_EQ(og_buf_capacity_for(&b, 1001), 0);    /* og_buf_reserve() would say ETOOBIG */
    for (size_t extra = 1; extra <= 1000; extra += 37) {
        size_t want = og_buf_capacity_for(&b, extra);

        ASSERT_EQ(og_buf_reserve(&b, extra), OG_OK);
        ASSERT_EQ(b.cap, want);
        ASSERT_EQ(og_buf_capacity_for(&b, extra), b.cap); /* nothing more to grow */
    }
    og_buf_cleanup(&b);
}

OG_TEST(buf_take_moves_storage)
{
    struct og_buf b;
    size_t len = 99;
    char *s;

    og_buf_init(&b, 1024);
    s = og_buf_take(&b, &len);
    ASSERT(s != NULL);
    ASSERT_EQ(len, 0);
    ASSERT_STR_EQ(s, "");
    free(s);
    for (int i = 0; i < 100; i++)
        ASSERT_EQ(og_buf_append(&b, "0123456789", 10), OG_OK);
    s = og_buf_take(&b, &len);
    ASSERT_EQ(len, 1000);
    ASSERT_EQ(strlen(s), 1000);
    ASSERT(b.ptr == NULL && b.len == 0);
    free(s);
}

OG_TEST(str_helpers)
{
    struct og_str s = OG_STR_LIT("  HTTPS://Charts.Example/x/  ");
    struct og_str t = og_str_trim(s);

    ASSERT_MEM_EQ(t.ptr, t.len, "HTTPS://Charts.Example/x/");
    ASSERT(og_str_has_prefix(t, OG_STR_LIT("https://"), true));
    ASSERT(!og_str_has_prefix(t, OG_STR_LIT("https://"), false));
    ASSERT(og_str_has_suffix(t, OG_STR_LIT("/")));
    ASSERT(og_str_ieq(OG_STR_LIT("ABC"), OG_STR_LIT("abc")));
    ASSERT(!og_str_eq(OG_STR_LIT("ABC"), OG_STR_LIT("abc")));
    ASSERT_EQ(og_str_find_char(t, 0, ':'), 5);
    ASSERT_EQ(og_str_rfind_char(OG_STR_LIT("a/b/c"), '/'), 3);
    ASSERT_EQ(og_str_rfind_char(OG_STR_LIT("abc"), '/'), 3);
    ASSERT_EQ(og_str_from(OG_STR_LIT("abc"), 5).len, 0);
}

OG_TEST(diag_format)
{
    struct og_diag d;
    char line[512];

    og_diag_clear(&d);
    ASSERT_EQ(og_diag_set(&d, OG_EPARSE, "unknown key '%s'", "modee"), OG_EPARSE);
    og_diag_at(&d, 3, 7);
    og_diag_where(&d, "policy.modee");
    snprintf(d.file, sizeof(d.file), "%s", "ocigate.yaml");
    ASSERT_STR_EQ(og_diag_format(&d, line, sizeof(line)),
                  "ocigate.yaml:3:7: policy.modee: unknown key 'modee'");
    og_diag_clear(&d);
    ASSERT_STR_EQ(og_diag_format(&d, line, sizeof(line)), "error");
    ASSERT_STR_EQ(og_strerror(OG_ETOOBIG), "size limit exceeded");
}

/* Arrays double from `first`, stop at `max`, and a refusal leaves the array as it was. */
OG_TEST(array_grow)
{
    size_t cap = 0, n = 0;
    int *a = NULL, *g;

    for (; n < 100; n++) {
        g = og_array_grow(a, &cap, n, sizeof(*a), 4, 40);
        if (n >= 40) {
            ASSERT(g == NULL);
            break;
        }
        ASSERT(g != NULL);
        a = g;
        ASSERT(cap > n);
        ASSERT(cap == 4 || cap == 8 || cap == 16 || cap == 32 || cap == 40);
        a[n] = (int)n;
    }
    ASSERT_EQ(n, 40);
    ASSERT_EQ(cap, 40);
    for (size_t i = 0; i < 40; i++)
        ASSERT_EQ(a[i], (int)i);
    /* While there is room the array comes back as it is. */
    ASSERT(og_array_grow(a, &cap, 39, sizeof(*a), 4, 40) == a);
    /* A size past size_t is refused, not wrapped around. */
    cap = 40;
    ASSERT(og_array_grow(a, &cap, 40, SIZE_MAX / 8, 4, SIZE_MAX) == NULL);
    ASSERT_EQ(cap, 40);
    free(a);
}

/*
 * og_buf_appendf() gives what og_buf_append() of the formatted text gives (result, contents,
 * NUL), whether the text fits the spare room, the small stack buffer (255 bytes), neither,
 * or the cap: every length up to 600 after several amounts already in the buffer.
 */
OG_TEST(buf_appendf_as_append)
{
    static const size_t before[] = {0, 10, 63, 64, 100, 300};
    char text[601];

    for (size_t i = 0; i < sizeof(text); i++)
        text[i] = (char)('a' + (int)(i % 26));
    for (size_t k = 0; k < sizeof(before) / sizeof(before[0]); k++) {
        for (size_t n = 0; n < sizeof(text); n++) {
            size_t total = before[k] + n;
            const size_t maxes[] = {total - (total > 0), total, total + 1, SIZE_MAX};

            for (size_t m = 0; m < sizeof(maxes) / sizeof(maxes[0]); m++) {
                struct og_buf a, b;
                char pad[300];
                enum og_err ra, rb;

                memset(pad, 'p', sizeof(pad));
                og_buf_init(&a, maxes[m]);
                og_buf_init(&b, maxes[m]);
                ASSERT_EQ(og_buf_append(&a, pad, before[k]), og_buf_append(&b, pad, before[k]));
                ra = og_buf_appendf(&a, "%.*s", (int)n, text);
                rb = og_buf_append(&b, text, n);
                ASSERT_EQ(ra, rb);
                ASSERT_EQ(a.len, b.len);
                if (b.len > 0) {
                    ASSERT(memcmp(a.ptr, b.ptr, b.len) == 0);
                    ASSERT_EQ(a.ptr[a.len], '\0');
                }
                og_buf_cleanup(&a);
                og_buf_cleanup(&b);
            }
        }
    }
}

/*
 * A buffer on caller storage of 8 bytes holds up to 7 bytes and the NUL there; the 8th byte
 * moves the contents to the heap, and a refused append (the cap, or a max smaller than the
 * storage) leaves the buffer as it was, wherever it is.
 */
OG_TEST(buf_storage_edges)
{
    char st[8];
    struct og_buf b;

    memset(st, 'z', sizeof(st));
    og_buf_init_with(&b, 100, st, sizeof(st));
    ASSERT(b.ptr == st);
    ASSERT_EQ(b.len, 0);
    ASSERT_EQ(b.ptr[0], '\0');
    ASSERT_EQ(og_buf_append(&b, "abcdef", 6), OG_OK);
    ASSERT_EQ(og_buf_appendf(&b, "%d", 7), OG_OK); /* exactly the storage: 7 bytes + NUL */
    ASSERT(b.ptr == st);
    ASSERT_MEM_EQ(b.ptr, b.len, "abcdef7");
    ASSERT_EQ(st[7], '\0');
    ASSERT_EQ(og_buf_append(&b, "8", 1), OG_OK); /* one past: to the heap */
    ASSERT(b.ptr != st);
    ASSERT_MEM_EQ(b.ptr, b.len, "abcdef78");
    ASSERT_EQ(b.ptr[b.len], '\0');
    ASSERT_MEM_EQ(st, 7, "abcdef7");
    og_buf_reset(&b); /* keeps the heap storage */
    ASSERT(b.ptr != st && b.len == 0);
    ASSERT_EQ(og_buf_append_cstr(&b, "x"), OG_OK);
    ASSERT_STR_EQ(b.ptr, "x");
    og_buf_cleanup(&b); /* back on the storage */
    ASSERT(b.ptr == st && b.len == 0 && b.cap == sizeof(st));
    ASSERT_EQ(st[0], '\0');
    ASSERT_EQ(og_buf_append_cstr(&b, "again"), OG_OK);
    ASSERT(b.ptr == st);
    og_buf_reset(&b);
    ASSERT(b.ptr == st && b.len == 0);
    ASSERT_EQ(st[0], '\0');
    og_buf_cleanup(&b);

    /* A max smaller than the storage still bounds the contents, and failing leaves them. */
    og_buf_init_with(&b, 3, st, sizeof(st));
    ASSERT_EQ(og_buf_append(&b, "abc", 3), OG_OK);
    ASSERT_EQ(og_buf_append(&b, "d", 1), OG_ETOOBIG);
    ASSERT_EQ(og_buf_appendf(&b, "%s", "de"), OG_ETOOBIG);
    ASSERT(b.ptr == st);
    ASSERT_MEM_EQ(b.ptr, b.len, "abc");
    ASSERT_EQ(b.ptr[b.len], '\0');
    ASSERT_EQ(og_buf_reserve(&b, 1), OG_ETOOBIG);
    og_buf_cleanup(&b);

    /* No storage (or none of any size) is og_buf_init(). */
    og_buf_init_with(&b, 10, st, 0);
    ASSERT(b.ptr == NULL && b.cap == 0);
    ASSERT_EQ(og_buf_append_cstr(&b, "abc"), OG_OK);
    ASSERT(b.ptr != st);
    og_buf_cleanup(&b);
    ASSERT(b.ptr == NULL);
}

/* og_buf_take() gives heap memory the caller frees, from storage or heap, empty or not. */
OG_TEST(buf_storage_take)
{
    char st[8];
    struct og_buf b;
    size_t len = 99;
    char *s;

    og_buf_init_with(&b, 100, st, sizeof(st));
    s = og_buf_take(&b, &len); /* empty */
    ASSERT(s != NULL && s != st);
    ASSERT_EQ(len, 0);
    ASSERT_STR_EQ(s, "");
    free(s);
    ASSERT(b.ptr == st && b.len == 0);
    ASSERT_EQ(og_buf_append_cstr(&b, "abcdefg"), OG_OK); /* full storage */
    s = og_buf_take(&b, &len);
    ASSERT(s != st);
    ASSERT_EQ(len, 7);
    ASSERT_STR_EQ(s, "abcdefg");
    free(s);
    ASSERT(b.ptr == st && b.len == 0 && b.cap == sizeof(st));
    ASSERT_EQ(st[0], '\0');
    ASSERT_EQ(og_buf_append_cstr(&b, "abcdefgh"), OG_OK); /* on the heap */
    s = og_buf_take(&b, &len);
    ASSERT(s != st);
    ASSERT_EQ(len, 8);
    ASSERT_STR_EQ(s, "abcdefgh");
    free(s);
    ASSERT(b.ptr == st && b.len == 0 && b.cap == sizeof(st));
    ASSERT_EQ(og_buf_append_cstr(&b, "ab"), OG_OK); /* and on the storage again */
    ASSERT(b.ptr == st);
    ASSERT_STR_EQ(st, "ab");
    og_buf_cleanup(&b);
}

/* Appends on storage give what they give on the heap, across the move, for many sizes. */
OG_TEST(buf_storage_as_heap)
{
    char text[300];

    for (size_t i = 0; i < sizeof(text); i++)
        text[i] = (char)('a' + (int)(i % 26));
    for (size_t size = 1; size <= 70; size += 3) {
        for (size_t step = 1; step <= 40; step += 13) {
            char st[80];
            struct og_buf a, b;
            size_t at = 0;

            og_buf_init_with(&a, 200, st, size);
            og_buf_init(&b, 200);
            while (at < sizeof(text)) {
                size_t n = sizeof(text) - at < step ? sizeof(text) - at : step;
                enum og_err rb = og_buf_append(&b, text + at, n);

                ASSERT_EQ(at % 2 ? og_buf_appendf(&a, "%.*s", (int)n, text + at)
                                 : og_buf_append(&a, text + at, n),
                          rb);
                ASSERT_EQ(a.len, b.len);
                ASSERT(memcmp(a.ptr, b.ptr, b.len) == 0);
                ASSERT_EQ(a.ptr[a.len], '\0');
                ASSERT(a.len < size ? a.ptr == st : a.ptr != st);
                at += n;
            }
            og_buf_cleanup(&a);
            og_buf_cleanup(&b);
        }
    }
}

OG_TEST_MAIN(OG_T(buf_appendf_as_append), OG_T(buf_storage_edges), OG_T(buf_storage_take),
             OG_T(buf_storage_as_heap), OG_T(array_grow), OG_T(buf_append_and_cap),
             OG_T(buf_capacity_for_predicts_reserve), OG_T(buf_take_moves_storage),
             OG_T(str_helpers), OG_T(diag_format))
