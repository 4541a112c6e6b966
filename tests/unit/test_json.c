#include "harness.h"

#include "ocigate/json.h"

/* The word-at-a-time scan stops exactly where the byte-at-a-time definition says. */
OG_TEST(plain_prefix_matches_bytewise)
{
    static const char specials[] = {'"', '\\', '\0', '\n', 0x1f, 0x01};
    char buf[40];

    for (size_t len = 0; len <= sizeof(buf); len++) {
        for (size_t at = 0; at <= len; at++) {
            for (size_t k = 0; k < sizeof(specials); k++) {
                /* Plain ASCII and UTF-8 bytes (>= 0x80 never need escaping) around it. */
                for (size_t i = 0; i < len; i++)
                    buf[i] = (char)(i % 3 == 0 ? 0xC3 : i % 3 == 1 ? 0xA9 : 'a' + (int)(i % 26));
                if (at < len)
                    buf[at] = specials[k];
                ASSERT_EQ(og_json_plain_prefix(buf, len), at);
            }
        }
    }
}

OG_TEST(append_string_escapes)
{
    struct og_buf b;
    const char in[] = "a\"b\\c\nd\x01\xc3\xa9 0123456789abcdef";

    og_buf_init(&b, 1024);
    ASSERT_EQ(og_json_append_string(&b, (struct og_str){in, sizeof(in) - 1}), OG_OK);
    ASSERT_STR_EQ(b.ptr, "\"a\\\"b\\\\c\\nd\\u0001\xc3\xa9 0123456789abcdef\"");
    og_buf_reset(&b);
    ASSERT_EQ(og_base64_append(&b, "any carnal pleas", 16), OG_OK);
    ASSERT_STR_EQ(b.ptr, "YW55IGNhcm5hbCBwbGVhcw==");
    og_buf_reset(&b);
    ASSERT_EQ(og_base64_append(&b, "any carnal pleasu", 17), OG_OK);
    ASSERT_STR_EQ(b.ptr, "YW55IGNhcm5hbCBwbGVhc3U=");
    og_buf_cleanup(&b);
}

OG_TEST_MAIN(OG_T(plain_prefix_matches_bytewise), OG_T(append_string_escapes))
