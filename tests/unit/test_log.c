#include "harness.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#include "ocigate/config.h"
#include "ocigate/helm_index.h"
#include "ocigate/json.h"
#include "ocigate/policy.h"

/* Runs `fn` with stderr sent to a temporary file and returns what it wrote (freed by caller). */
static char *capture(void (*fn)(void))
{
    char path[] = "/tmp/og-test-log-XXXXXX";
    int fd = mkstemp(path), saved = dup(STDERR_FILENO);
    char *buf;
    off_t size;
    ssize_t n;

    if (fd < 0 || saved < 0)
        return NULL;
    unlink(path);
    dup2(fd, STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    size = lseek(fd, 0, SEEK_END);
    buf = size >= 0 ? malloc((size_t)size + 1) : NULL;
    n = buf != NULL ? pread(fd, buf, (size_t)size, 0) : -1;
    close(fd);
    if (buf != NULL)
        buf[n > 0 ? n : 0] = '\0';
    return buf;
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
    srv_log_field_uint(&f, "d0", 0);
    srv_log_field_uint(&f, "d9", 9);
    srv_log_field_uint(&f, "d10", 10);
    srv_log_field_milli(&f, "m10", 10036);
    srv_log_field_milli(&f, "m0", 7);
    srv_log_field_milli(&f, "m9", 9999);
    srv_log_field_milli(&f, "m10k", 10000);
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
    ASSERT_STR_CONTAINS(text,
                        "\"level\":\"error\",\"msg\":\"raw\",\"uid\":\"u\",\"allowed\":true,"
                        "\"n\":18446744073709551615,\"ms\":1.036,\"d0\":0,\"d9\":9,"
                        "\"d10\":10,\"m10\":10.036,\"m0\":0.007,\"m9\":9.999,\"m10k\":10.000}");
    ASSERT_STR_CONTAINS(text, "\"msg\":\"too long for the line\",\"k\":\"aaaa");
    ASSERT(strstr(text, "filtered out") == NULL);
    ASSERT(strstr(text, "skipped") == NULL);
    free(text);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static void info_line(unsigned k)
{
    struct srv_log_fields f;

    srv_log_fields_init(&f);
    srv_log_field_uint(&f, "k", k);
    srv_log_write(SRV_LOG_INFO, "line", &f);
}

/*
 * What a batched log holds: the info lines' "k" must ascend; a warning "after N" must follow
 * every k <= N and come before every k > N; "log lines dropped" warnings add up `dropped`.
 */
struct tally {
    long info;
    long dropped;
    int ordered;
};

static struct tally tally(const char *text)
{
    struct tally t = {0, 0, 1};
    long last = -1, warned = -1;

    for (const char *p = text; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        cJSON *obj, *k, *msg, *d;

        if (nl == NULL)
            break;
        obj = cJSON_ParseWithLength(p, (size_t)(nl - p));
        k = cJSON_GetObjectItemCaseSensitive(obj, "k");
        msg = cJSON_GetObjectItemCaseSensitive(obj, "msg");
        d = cJSON_GetObjectItemCaseSensitive(obj, "dropped");
        if (cJSON_IsNumber(k)) {
            if ((long)k->valuedouble <= last || (long)k->valuedouble <= warned)
                t.ordered = 0;
            last = (long)k->valuedouble;
            t.info++;
        } else if (cJSON_IsString(msg) && strncmp(msg->valuestring, "after ", 6) == 0) {
            warned = strtol(msg->valuestring + 6, NULL, 10);
            if (last > warned)
                t.ordered = 0;
        } else if (cJSON_IsNumber(d)) {
            t.dropped += (long)d->valuedouble;
        }
        cJSON_Delete(obj);
        p = nl + 1;
    }
    return t;
}

#define KEPT_UP_LINES 4000

static void batch_kept_up(void)
{
    ASSERT_EQ(srv_log_batch_start(), 0);
    for (unsigned i = 0; i < KEPT_UP_LINES; i++) {
        info_line(i);
        if (i % 1000 == 999)
            srv_logf(SRV_LOG_WARN, "after %u", i);
        if (i % 100 == 99)
            sleep_ms(1); /* a pace that a file keeps up with */
    }
    srv_log_batch_stop();
}

OG_TEST(batch_writes_every_line_in_order)
{
    uint64_t before = srv_log_dropped_total();
    char *text = capture(batch_kept_up);
    struct tally t;
    int count = 0;

    ASSERT(text != NULL);
    ASSERT_EQ(check_lines(text, &count), 1);
    t = tally(text);
    ASSERT_EQ(srv_log_dropped_total() - before, 0);
    ASSERT_EQ(t.info, KEPT_UP_LINES);
    ASSERT_EQ(count, KEPT_UP_LINES + KEPT_UP_LINES / 1000);
    ASSERT_EQ(t.ordered, 1);
    free(text);
}

/* The reader of a pipe that starts reading late: all of it, up to the end. */
struct late_reader {
    int fd;
    unsigned delay_ms;
    char *text;
    size_t len;
};

static void *late_reader_main(void *arg)
{
    struct late_reader *r = arg;
    size_t cap = 1 << 16;
    ssize_t n;

    sleep_ms(r->delay_ms);
    r->text = malloc(cap);
    r->len = 0;
    while (r->text != NULL) {
        if (r->len + 4096 + 1 > cap) {
            char *grown = realloc(r->text, cap * 2);

            if (grown == NULL)
                break;
            r->text = grown;
            cap *= 2;
        }
        n = read(r->fd, r->text + r->len, 4096);
        if (n <= 0)
            break;
        r->len += (size_t)n;
    }
    if (r->text != NULL)
        r->text[r->len] = '\0';
    return NULL;
}

#define STALLED_LINES 20000

OG_TEST(batch_drops_lines_while_stderr_is_not_read)
{
    struct late_reader r = {-1, 1500, NULL, 0};
    int p[2], saved = dup(STDERR_FILENO), count = 0;
    uint64_t before = srv_log_dropped_total(), dropped;
    double t0, took;
    pthread_t thr;
    struct tally t;

    ASSERT(saved >= 0 && pipe(p) == 0);
    r.fd = p[0];
    ASSERT(pthread_create(&thr, NULL, late_reader_main, &r) == 0);
    dup2(p[1], STDERR_FILENO);
    close(p[1]);
    ASSERT_EQ(srv_log_batch_start(), 0);
    /* Far more than the pipe and the buffers hold: the logger must neither block nor wait. */
    t0 = now_s();
    for (unsigned i = 0; i < STALLED_LINES; i++)
        info_line(i);
    took = now_s() - t0;
    dropped = srv_log_dropped_total() - before;
    srv_log_batch_stop(); /* waits for the reader, then writes what is left */
    dup2(saved, STDERR_FILENO);
    close(saved);
    pthread_join(thr, NULL);
    close(p[0]);
    fprintf(stderr, "  %u lines in %.3f s with stderr stalled; %llu dropped\n", STALLED_LINES, took,
            (unsigned long long)dropped);
    ASSERT(took < 1.0);
    ASSERT(dropped > 0);
    ASSERT(r.text != NULL);
    ASSERT_EQ(check_lines(r.text, &count), 1);
    t = tally(r.text);
    ASSERT_EQ(t.ordered, 1);
    /* Each line is written or counted, and the count is said once the reader is back. */
    ASSERT_EQ(t.info + (long)dropped, STALLED_LINES);
    ASSERT_EQ(t.dropped, (long)dropped);
    ASSERT_STR_CONTAINS(r.text, "\"msg\":\"log lines dropped");
    free(r.text);
}

/* Lines of about 1 KiB, 32 per millisecond: 32 MB/s, more than the buffers hold between two
 * of the flusher's ticks (BATCH_MS), so that only a wake keeps up. */
#define BURST_LINES 640

static void burst(void)
{
    char pad[1001];

    memset(pad, 'x', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    ASSERT_EQ(srv_log_batch_start(), 0);
    for (unsigned i = 0; i < BURST_LINES; i++) {
        struct srv_log_fields f;

        srv_log_fields_init(&f);
        srv_log_field_uint(&f, "k", i);
        srv_log_field_str(&f, "pad", pad);
        srv_log_write(SRV_LOG_INFO, "line", &f);
        if (i % 32 == 31)
            sleep_ms(1);
    }
    srv_log_batch_stop();
}

/*
 * A burst that fills the buffers faster than the flusher's tick empties them: the flusher is
 * woken when the last free buffer starts to fill, and writes before it is full. A busy machine
 * may be slow to run the woken flusher, so one clean run of three is enough; a flusher left to
 * its tick drops lines in every run.
 */
OG_TEST(batch_wakes_the_flusher_before_the_buffers_run_out)
{
    uint64_t dropped[3];
    bool clean = false;

    for (int run = 0; run < 3 && !clean; run++) {
        uint64_t before = srv_log_dropped_total();
        char *text = capture(burst);
        struct tally t;

        ASSERT(text != NULL);
        dropped[run] = srv_log_dropped_total() - before;
        t = tally(text);
        ASSERT_EQ(t.info + (long)dropped[run], BURST_LINES);
        clean = dropped[run] == 0;
        if (!clean)
            fprintf(stderr, "  run %d: %llu of %d lines dropped\n", run + 1,
                    (unsigned long long)dropped[run], BURST_LINES);
        free(text);
    }
    ASSERT(clean);
}

OG_TEST(log_levels_parse)
{
    ASSERT_EQ(srv_log_parse_level("error"), SRV_LOG_ERROR);
    ASSERT_EQ(srv_log_parse_level("debug"), SRV_LOG_DEBUG);
    ASSERT_EQ(srv_log_parse_level("verbose"), -1);
}

static void one_line_per_level(void)
{
    struct srv_log_fields f;

    srv_log_set_level(SRV_LOG_DEBUG);
    srv_log_fields_init(&f);
    srv_log_field_str(&f, "uid", "u-1");
    srv_log_field_str(&f, "skipped", NULL);
    srv_log_field_bool(&f, "no", false);
    srv_log_field_uint(&f, "zero", 0);
    srv_log_field_milli(&f, "ms", 7);
    srv_log_write(SRV_LOG_ERROR, "m-error", &f);
    srv_log_write(SRV_LOG_WARN, "m-warn", NULL);
    srv_log_write(SRV_LOG_INFO, "m-info", NULL);
    srv_log_write(SRV_LOG_DEBUG, "m-debug", NULL);
    srv_log_set_level(SRV_LOG_INFO);
}

/*
 * The start of each line, byte for byte: the time of now in UTC to the millisecond (cached per
 * second in log.c), the level's name, the message, then the fields.
 */
OG_TEST(line_start_per_level)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    time_t before = time(NULL), after;
    char *text = capture(one_line_per_level);
    const char *p = text;

    after = time(NULL);
    ASSERT(text != NULL);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char want[64], stamp[32];
        struct tm tm;
        bool in_time = false;

        ASSERT(strncmp(p, "{\"ts\":\"", 7) == 0);
        /* YYYY-MM-DDTHH:MM:SS.mmmZ of a second between before and after. */
        memcpy(stamp, p + 7, 24);
        stamp[24] = '\0';
        for (time_t t = before; t <= after; t++) {
            char sec[32];

            gmtime_r(&t, &tm);
            strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S.", &tm);
            in_time |= strncmp(stamp, sec, 20) == 0;
        }
        if (!in_time)
            fprintf(stderr, "  ts %s\n", stamp);
        ASSERT(in_time);
        ASSERT(stamp[20] >= '0' && stamp[20] <= '9' && stamp[21] >= '0' && stamp[21] <= '9' &&
               stamp[22] >= '0' && stamp[22] <= '9');
        (void)snprintf(want, sizeof(want), "Z\",\"level\":\"%s\",\"msg\":\"m-%s\"", names[i],
                       names[i]);
        ASSERT(strncmp(p + 7 + 23, want, strlen(want)) == 0);
        p += 7 + 23 + strlen(want);
        if (i == 0) {
            const char *fields = ",\"uid\":\"u-1\",\"no\":false,\"zero\":0,\"ms\":0.007";

            ASSERT(strncmp(p, fields, strlen(fields)) == 0);
            p += strlen(fields);
        }
        ASSERT(strncmp(p, "}\n", 2) == 0);
        p += 2;
    }
    ASSERT_EQ(*p, '\0');
    free(text);
}

/* Whether `name` is its own JSON escape (what srv_log_field_name() relies on). */
static bool needs_no_escape(const char *name)
{
    char out[64];
    size_t used, n;

    if (name == NULL || strlen(name) >= sizeof(out) / 2)
        return false;
    n = og_json_escape(out, sizeof(out), og_str_of(name), &used);
    return n == strlen(name) && memcmp(out, name, n) == 0;
}

/*
 * srv_log_field_name() copies its value unescaped: every name the admission line gives it
 * (rules, modes, index states, and its literals) must be its own escape; and the field is
 * written as a string, or not at all.
 */
OG_TEST(names_need_no_escaping)
{
    static const char *const literals[] = {"mutate", "validate", "ratcheted"};
    struct srv_log_fields f;

    for (int r = OG_RULE_NONE; r <= OG_RULE_INDEX_MIXED; r++)
        ASSERT(needs_no_escape(og_rule_name((enum og_rule)r)));
    for (int m = OG_MODE_OFF; m <= OG_MODE_ENFORCE; m++)
        ASSERT(needs_no_escape(og_mode_name((enum og_mode)m)));
    for (int st = OG_INDEX_STATE_NONE; st <= OG_INDEX_STATE_MIXED; st++)
        ASSERT(needs_no_escape(og_index_state_name((enum og_index_state)st)));
    for (size_t i = 0; i < sizeof(literals) / sizeof(literals[0]); i++)
        ASSERT(needs_no_escape(literals[i]));
    ASSERT(!needs_no_escape("a\"b")); /* the check itself */
    srv_log_fields_init(&f);
    srv_log_field_name(&f, "rule", og_rule_name(OG_RULE_KNOWN_MIGRATION));
    srv_log_field_name(&f, "none", NULL);
    srv_log_field_name(&f, "mode", "audit");
    ASSERT_MEM_EQ(f.buf, f.len, "\"rule\":\"known-migration\",\"mode\":\"audit\"");
}

/*
 * A string value is written as og_json_escape() writes it, for every byte value at every
 * position of strings shorter than, as long as, and longer than the eight-byte words that
 * log.c copies at once when nothing needs escaping; and cut as it cuts when the set is near
 * full.
 */
OG_TEST(string_values_as_the_escaper_writes_them)
{
    static const size_t lens[] = {1, 3, 7, 8, 9, 13, 16, 17, 23, 36};
    struct srv_log_fields f;
    char val[64], want[512];
    size_t used, n;

    for (unsigned c = 1; c < 256; c++) {
        for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
            for (size_t pos = 0; pos < lens[k]; pos++) {
                memset(val, 'a', lens[k]);
                val[lens[k]] = '\0';
                val[pos] = (char)c;
                want[0] = '"';
                n = 1 + og_json_escape(want + 1, sizeof(want) - 3, og_str_of(val), &used);
                want[n++] = '"';
                want[n] = '\0';
                srv_log_fields_init(&f);
                srv_log_fields_put_str(&f, val);
                if (f.len != n || memcmp(f.buf, want, n) != 0)
                    printf("byte 0x%02x at %zu of %zu\n", c, pos, lens[k]);
                ASSERT_MEM_EQ(f.buf, f.len, want);
            }
        }
    }
    /* A plain value longer than the room left is cut to the room, as the escaper cuts it. */
    srv_log_fields_init(&f);
    memset(f.buf, 'x', SRV_LOG_FIELDS_MAX - 20);
    f.len = SRV_LOG_FIELDS_MAX - 20;
    memset(val, 'b', 40);
    val[40] = '\0';
    srv_log_fields_put_str(&f, val);
    ASSERT_EQ(f.len, SRV_LOG_FIELDS_MAX - 1);
    ASSERT_EQ(f.buf[SRV_LOG_FIELDS_MAX - 20], '"');
    ASSERT_EQ(f.buf[SRV_LOG_FIELDS_MAX - 3], 'b');
    ASSERT_EQ(f.buf[SRV_LOG_FIELDS_MAX - 2], '"');
}

/* Seconds since the epoch of the "ts" of the first line whose msg is `msg`, or -1. */
static long line_ts(const char *text, const char *msg)
{
    char want[64];
    const char *p;
    struct tm tm;

    (void)snprintf(want, sizeof(want), "\"msg\":\"%s\"", msg);
    p = strstr(text, want);
    if (p == NULL)
        return -1;
    while (p > text && p[-1] != '\n')
        p--;
    memset(&tm, 0, sizeof(tm));
    if (sscanf(p, "{\"ts\":\"%d-%d-%dT%d:%d:%d.", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (long)timegm(&tm);
}

static long at_real;

static void write_at_lines(void)
{
    struct timespec mono, real;

    srv_log_set_level(SRV_LOG_INFO);
    clock_gettime(CLOCK_REALTIME, &real);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    at_real = (long)real.tv_sec;
    srv_log_write_at(SRV_LOG_INFO, "at-now", NULL, &mono);
    mono.tv_sec -= 90;
    srv_log_write_at(SRV_LOG_INFO, "at-past", NULL, &mono);
    /* The same second of the monotonic clock again: the offset read for it serves. */
    mono.tv_nsec = mono.tv_nsec >= 500000000 ? mono.tv_nsec - 500000000 : mono.tv_nsec + 500000000;
    srv_log_write_at(SRV_LOG_INFO, "at-past-again", NULL, &mono);
    srv_log_write_at(SRV_LOG_INFO, "at-read", NULL, NULL);
}

/* A line stamped from a monotonic reading gets the wall-clock time of that reading. */
OG_TEST(write_at_stamps_the_wall_time_of_a_monotonic_reading)
{
    char *text = capture(write_at_lines);
    int count = 0;
    long now, past, again, read;

    ASSERT(text != NULL);
    ASSERT_EQ(check_lines(text, &count), 1);
    ASSERT_EQ(count, 4);
    now = line_ts(text, "at-now");
    past = line_ts(text, "at-past");
    again = line_ts(text, "at-past-again");
    read = line_ts(text, "at-read");
    if (now < at_real - 1 || now > at_real + 2 || past < at_real - 92 || past > at_real - 88 ||
        again < past - 1 || again > past + 1 || read < at_real - 1 || read > at_real + 2)
        printf("real %ld: now %ld past %ld again %ld read %ld\n%s", at_real, now, past, again, read,
               text);
    ASSERT(now >= at_real - 1 && now <= at_real + 2);
    ASSERT(past >= at_real - 92 && past <= at_real - 88);
    ASSERT(again >= past - 1 && again <= past + 1);
    ASSERT(read >= at_real - 1 && read <= at_real + 2);
    free(text);
}

OG_TEST_MAIN(OG_T(log_lines_are_json), OG_T(batch_writes_every_line_in_order),
             OG_T(batch_drops_lines_while_stderr_is_not_read),
             OG_T(batch_wakes_the_flusher_before_the_buffers_run_out), OG_T(log_levels_parse),
             OG_T(line_start_per_level), OG_T(names_need_no_escaping),
             OG_T(write_at_stamps_the_wall_time_of_a_monotonic_reading),
             OG_T(string_values_as_the_escaper_writes_them))
