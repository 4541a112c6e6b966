#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = SRV_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void srv_log_set_level(enum srv_log_level level)
{
    atomic_store(&log_level, (int)level);
}

int srv_log_parse_level(const char *name)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0)
            return (int)i;
    }
    return -1;
}

int srv_log_enabled(enum srv_log_level level)
{
    return (int)level <= atomic_load(&log_level);
}

size_t srv_log_escape(char *out, size_t size, const char *s)
{
    size_t o = 0;

    if (size == 0)
        return 0;
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        char tmp[8];
        size_t n;

        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            n = 2;
        } else if (c < 0x20) {
            n = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04x", c);
        } else {
            tmp[0] = (char)c;
            n = 1;
        }
        if (o + n >= size)
            break;
        memcpy(out + o, tmp, n);
        o += n;
    }
    out[o] = '\0';
    return o;
}

/* Appends the NUL-terminated `s` at `*off` when it fits (keeping `reserve` bytes free). */
static bool put(char *line, size_t size, size_t *off, const char *s, size_t reserve)
{
    size_t len = strlen(s);

    if (*off + len + reserve > size)
        return false;
    memcpy(line + *off, s, len);
    *off += len;
    return true;
}

/*
 * The date and time of the current second, formatted once per second and thread: gmtime_r
 * and snprintf for every line were a visible share of a busy server's time.
 */
static const char *second_text(time_t sec)
{
    static _Thread_local time_t cached_sec = -1;
    static _Thread_local char text[32];
    struct tm tm;

    if (sec != cached_sec) {
        gmtime_r(&sec, &tm);
        if (snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec) < 0)
            text[0] = '\0';
        cached_sec = sec;
    }
    return text;
}

/*
 * Batching. Under load one write(2) per admission line is a good share of a request's cost,
 * so once srv_log_batch_start() has run, info and debug lines are gathered in `batch` and
 * written together, by a flusher thread every BATCH_MS or at once when the batch is full.
 * Errors and warnings are written at once, after what is batched, so the order holds. Lines
 * stay whole: each is appended whole, and the batch is written with whole lines only.
 */
#define BATCH_BYTES (32u << 10)
#define BATCH_MS 10

static pthread_mutex_t batch_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t batch_cond = PTHREAD_COND_INITIALIZER;
static char batch[BATCH_BYTES];
static size_t batch_len;
static bool batching;
static bool batch_stopping;
static pthread_t batch_thread;

static void write_all(const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, p, len);

        /* Logging must never take the process down; a failed write is dropped. */
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return;
        }
        p += n;
        len -= (size_t)n;
    }
}

/* Writes the batch; batch_lock held. */
static void flush_locked(void)
{
    write_all(batch, batch_len);
    batch_len = 0;
}

static void *batch_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&batch_lock);
    while (!batch_stopping) {
        struct timespec until;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += BATCH_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        (void)pthread_cond_timedwait(&batch_cond, &batch_lock, &until);
        if (batch_len > 0)
            flush_locked();
    }
    flush_locked();
    pthread_mutex_unlock(&batch_lock);
    return NULL;
}

int srv_log_batch_start(void)
{
    pthread_mutex_lock(&batch_lock);
    batch_stopping = false;
    batching = pthread_create(&batch_thread, NULL, batch_main, NULL) == 0;
    pthread_mutex_unlock(&batch_lock);
    return batching ? 0 : -1;
}

void srv_log_batch_stop(void)
{
    bool joined;

    pthread_mutex_lock(&batch_lock);
    joined = batching;
    batching = false;
    batch_stopping = true;
    pthread_cond_signal(&batch_cond);
    pthread_mutex_unlock(&batch_lock);
    if (joined)
        pthread_join(batch_thread, NULL);
}

static void output(enum srv_log_level level, const char *line, size_t len)
{
    pthread_mutex_lock(&batch_lock);
    if (batching && level >= SRV_LOG_INFO) {
        if (batch_len + len > sizeof(batch))
            flush_locked();
        memcpy(batch + batch_len, line, len);
        batch_len += len;
    } else {
        if (batch_len > 0)
            flush_locked();
        write_all(line, len);
    }
    pthread_mutex_unlock(&batch_lock);
}

/* Assembles the line in one buffer so that it is written whole. */
static void emit(enum srv_log_level level, const char *msg, const char *fields)
{
    char line[4096];
    char millis[8];
    size_t off = 0;
    struct timespec ts;
    long ms;

    clock_gettime(CLOCK_REALTIME, &ts);
    ms = ts.tv_nsec / 1000000;
    millis[0] = '.';
    millis[1] = (char)('0' + ms / 100);
    millis[2] = (char)('0' + ms / 10 % 10);
    millis[3] = (char)('0' + ms % 10);
    millis[4] = '\0';
    /* These fit in any case: the line has room for far more. */
    (void)put(line, sizeof(line), &off, "{\"ts\":\"", 0);
    (void)put(line, sizeof(line), &off, second_text(ts.tv_sec), 0);
    (void)put(line, sizeof(line), &off, millis, 0);
    (void)put(line, sizeof(line), &off, "Z\",\"level\":\"", 0);
    (void)put(line, sizeof(line), &off, level_names[level], 0);
    (void)put(line, sizeof(line), &off, "\",\"msg\":\"", 0);
    off += srv_log_escape(line + off, sizeof(line) - off - 3, msg);
    line[off++] = '"';
    /* Extra fields go in whole or not at all, so that the line stays one JSON object. */
    if (fields != NULL && fields[0] != '\0' && off + 1 + strlen(fields) + 2 <= sizeof(line)) {
        line[off++] = ',';
        (void)put(line, sizeof(line), &off, fields, 2);
    }
    line[off++] = '}';
    line[off++] = '\n';
    output(level, line, off);
}

void srv_log(enum srv_log_level level, const char *msg, ...)
{
    char fields[3072];
    size_t off = 0;
    va_list ap;
    const char *key;

    if (!srv_log_enabled(level))
        return;
    fields[0] = '\0';
    va_start(ap, msg);
    for (key = va_arg(ap, const char *); key != NULL; key = va_arg(ap, const char *)) {
        const char *val = va_arg(ap, const char *);
        char esc[1024];
        int n;

        if (val == NULL)
            continue;
        srv_log_escape(esc, sizeof(esc), val);
        n = snprintf(fields + off, sizeof(fields) - off, "%s\"%s\":\"%s\"", off > 0 ? "," : "", key,
                     esc);
        if (n < 0 || (size_t)n >= sizeof(fields) - off)
            break;
        off += (size_t)n;
    }
    va_end(ap);
    fields[off] = '\0';
    emit(level, msg, fields);
}

void srv_logf(enum srv_log_level level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (!srv_log_enabled(level))
        return;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    emit(level, msg, NULL);
}

void srv_log_raw(enum srv_log_level level, const char *msg, const char *fields_json)
{
    if (srv_log_enabled(level))
        emit(level, msg, fields_json);
}
