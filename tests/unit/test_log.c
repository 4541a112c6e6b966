#include "harness.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <unistd.h>

#include "log.h"

/* Runs `fn` with stderr sent to a temporary file and returns what it wrote (freed by caller). */
static char *capture(void (*fn)(void))
{
    char path[] = "/tmp/og-test-log-XXXXXX";
    int fd = mkstemp(path), saved = dup(STDERR_FILENO);
    static char buf[1 << 16];
    ssize_t n;

    if (fd < 0 || saved < 0)
        return NULL;
    unlink(path);
    dup2(fd, STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return strdup(buf);
}

/* Every line is one JSON object with ts (RFC 3339, milliseconds, Z), level and msg. */
static int check_lines(const char *text, int *count)
{
    const char *p = text;

    *count = 0;
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        cJSON *obj, *ts;

        if (nl == NULL)
            return 0;
        obj = cJSON_ParseWithLength(p, (size_t)(nl - p));
        if (obj == NULL)
            return 0;
        ts = cJSON_GetObjectItemCaseSensitive(obj, "ts");
        if (!cJSON_IsString(ts) || strlen(ts->valuestring) != 24 || ts->valuestring[23] != 'Z' ||
            ts->valuestring[10] != 'T' || ts->valuestring[19] != '.' ||
            !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(obj, "level")) ||
            !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(obj, "msg"))) {
            cJSON_Delete(obj);
            return 0;
        }
        cJSON_Delete(obj);
        (*count)++;
        p = nl + 1;
    }
    return 1;
}

static void write_lines(void)
{
    char big[6000];
    struct srv_log_fields f;

    /* A value longer than a line can hold. */
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    srv_log_set_level(SRV_LOG_DEBUG);
    srv_log(SRV_LOG_INFO, "plain", "key", "value", "skipped", NULL, "quote", "a\"b\\c\n\x01",
            "utf8", "\xc3\xa9\xff", NULL);
    srv_logf(SRV_LOG_WARN, "formatted %d %s", 42, "x");
    srv_log_fields_init(&f);
    srv_log_field_str(&f, "uid", "u");
    srv_log_field_bool(&f, "allowed", true);
    srv_log_field_uint(&f, "n", 18446744073709551615u);
    srv_log_field_milli(&f, "ms", 1036);
    srv_log_write(SRV_LOG_ERROR, "raw", &f);
    srv_log(SRV_LOG_INFO, "too long for the line", "k", big, NULL); /* value cut, line valid */
    srv_log(SRV_LOG_INFO, big, "k", "v", NULL); /* message cut, fields dropped, line valid */
    srv_log(SRV_LOG_DEBUG, "msg with \"quotes\" and \t tab", NULL);
    srv_log_set_level(SRV_LOG_WARN);
    srv_log(SRV_LOG_INFO, "filtered out", NULL);
    srv_log_set_level(SRV_LOG_INFO);
}

OG_TEST(log_lines_are_json)
{
    char *text = capture(write_lines);
    int count = 0;

    ASSERT(text != NULL);
    ASSERT_EQ(check_lines(text, &count), 1);
    ASSERT_EQ(count, 6);
    ASSERT_STR_CONTAINS(text, "\"key\":\"value\"");
    ASSERT_STR_CONTAINS(text, "\"quote\":\"a\\\"b\\\\c\\n\\u0001\"");
    /* Bytes that are not UTF-8 become U+FFFD, as in every JSON that ocigate writes. */
    ASSERT_STR_CONTAINS(text, "\"utf8\":\"\xc3\xa9\\ufffd\"");
    ASSERT_STR_CONTAINS(text, "\"msg\":\"formatted 42 x\"");
    ASSERT_STR_CONTAINS(text, "\"level\":\"error\",\"msg\":\"raw\",\"uid\":\"u\",\"allowed\":true,"
                              "\"n\":18446744073709551615,\"ms\":1.036}");
    ASSERT_STR_CONTAINS(text, "\"msg\":\"too long for the line\",\"k\":\"aaaa");
    ASSERT(strstr(text, "filtered out") == NULL);
    ASSERT(strstr(text, "skipped") == NULL);
    free(text);
}

OG_TEST(log_levels_parse)
{
    ASSERT_EQ(srv_log_parse_level("error"), SRV_LOG_ERROR);
    ASSERT_EQ(srv_log_parse_level("debug"), SRV_LOG_DEBUG);
    ASSERT_EQ(srv_log_parse_level("verbose"), -1);
}

OG_TEST_MAIN(OG_T(log_lines_are_json), OG_T(log_levels_parse))
