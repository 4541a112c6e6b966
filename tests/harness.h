/*
 * harness.h - the in-tree unit test harness (libuv-style checks, curl-style tables).
 *
 * A test file defines its tests with OG_TEST(name), lists them in OG_TEST_MAIN(...), and
 * gets a main() that runs each, prints one line per failed check with both values, and ends
 * with "N passed, N failed". A failed check ends its test (longjmp) and the next test runs.
 * Tests that need ../shared/data call OG_SKIP("why") when it is absent.
 */
#ifndef OG_TEST_HARNESS_H
#define OG_TEST_HARNESS_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct og_test {
    const char *name;
    void (*fn)(void);
};

static jmp_buf og_test_jmp;
static int og_test_skipped;

#define OG_TEST(name) static void name(void)

#define OG_FAIL_(...)                                                                              \
    do {                                                                                           \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                                          \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        longjmp(og_test_jmp, 1);                                                                   \
    } while (0)

#define ASSERT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond))                                                                               \
            OG_FAIL_("assertion failed: %s", #cond);                                               \
    } while (0)

#define ASSERT_EQ(a, b)                                                                            \
    do {                                                                                           \
        intmax_t og_a_ = (intmax_t)(a), og_b_ = (intmax_t)(b);                                     \
        if (og_a_ != og_b_)                                                                        \
            OG_FAIL_("%s == %s: %jd != %jd", #a, #b, og_a_, og_b_);                                \
    } while (0)

#define ASSERT_NE(a, b)                                                                            \
    do {                                                                                           \
        intmax_t og_a_ = (intmax_t)(a), og_b_ = (intmax_t)(b);                                     \
        if (og_a_ == og_b_)                                                                        \
            OG_FAIL_("%s != %s: both %jd", #a, #b, og_a_);                                         \
    } while (0)

#define ASSERT_STR_EQ(a, b)                                                                        \
    do {                                                                                           \
        const char *og_a_ = (a), *og_b_ = (b);                                                     \
        if (og_a_ == NULL || og_b_ == NULL || strcmp(og_a_, og_b_) != 0)                           \
            OG_FAIL_("%s == %s:\n    \"%s\"\n != \"%s\"", #a, #b, og_a_ ? og_a_ : "(null)",        \
                     og_b_ ? og_b_ : "(null)");                                                    \
    } while (0)

/* Compares a (ptr,len) view with a NUL-terminated expectation. */
#define ASSERT_MEM_EQ(ptr, len, lit)                                                               \
    do {                                                                                           \
        const char *og_p_ = (ptr), *og_l_ = (lit);                                                 \
        size_t og_n_ = (len);                                                                      \
        if (og_n_ != strlen(og_l_) || (og_n_ > 0 && memcmp(og_p_, og_l_, og_n_) != 0))             \
            OG_FAIL_("%s == %s:\n    \"%.*s\"\n != \"%s\"", #ptr, #lit, (int)og_n_,                \
                     og_p_ ? og_p_ : "", og_l_);                                                   \
    } while (0)

#define ASSERT_STR_CONTAINS(hay, needle)                                                           \
    do {                                                                                           \
        const char *og_h_ = (hay), *og_n_ = (needle);                                              \
        if (og_h_ == NULL || strstr(og_h_, og_n_) == NULL)                                         \
            OG_FAIL_("%s contains %s:\n    \"%s\"\n lacks \"%s\"", #hay, #needle,                  \
                     og_h_ ? og_h_ : "(null)", og_n_);                                             \
    } while (0)

#define OG_SKIP(...)                                                                               \
    do {                                                                                           \
        fprintf(stderr, "  skipped: ");                                                            \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        og_test_skipped = 1;                                                                       \
        longjmp(og_test_jmp, 2);                                                                   \
    } while (0)

/* The shared data directory: $OG_SHARED_DATA, else ../shared/data from the source tree. */
static inline const char *og_test_shared_data(void)
{
    const char *dir = getenv("OG_SHARED_DATA");
    return dir != NULL && dir[0] != '\0' ? dir : OG_SOURCE_DIR "/../shared/data";
}

/* Reads a whole file into a new NUL-terminated buffer; NULL when it cannot be read. */
static inline char *og_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    long size;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        data = malloc((size_t)size + 1);
        if (data != NULL && fread(data, 1, (size_t)size, f) != (size_t)size) {
            free(data);
            data = NULL;
        }
        if (data != NULL) {
            data[size] = '\0';
            if (len != NULL)
                *len = (size_t)size;
        }
    }
    fclose(f);
    return data;
}

/* Runs one test; 0 passed, 1 failed, 2 skipped. setjmp lives here so no caller local is
 * live across the longjmp. */
static inline int og_test_run_one(const struct og_test *t)
{
    int rc;

    og_test_skipped = 0;
    rc = setjmp(og_test_jmp);
    if (rc == 0)
        t->fn();
    return rc;
}

static inline int og_test_run(const struct og_test *tests, size_t n, int argc, char **argv)
{
    int passed = 0, failed = 0, skipped = 0;

    for (size_t i = 0; i < n; i++) {
        int rc;

        if (argc > 1 && strcmp(argv[1], tests[i].name) != 0)
            continue;
        rc = og_test_run_one(&tests[i]);
        if (rc == 0) {
            passed++;
            printf("ok - %s\n", tests[i].name);
        } else if (rc == 2) {
            skipped++;
            printf("skip - %s\n", tests[i].name);
        } else {
            failed++;
            printf("not ok - %s\n", tests[i].name);
        }
        fflush(stdout);
    }
    if (skipped > 0)
        printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    else
        printf("%d passed, %d failed\n", passed, failed);
    return failed > 0 ? 1 : 0;
}

#define OG_T(fn)                                                                                   \
    {                                                                                              \
#fn, fn                                                                                    \
    }
#define OG_TEST_MAIN(...)                                                                          \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        static const struct og_test og_tests_[] = {__VA_ARGS__};                                   \
        return og_test_run(og_tests_, sizeof(og_tests_) / sizeof(og_tests_[0]), argc, argv);       \
    }

#endif
