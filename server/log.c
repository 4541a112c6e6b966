#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ocigate/json.h"

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

/* A literal and its length. */
struct lit {
    const char *text;
    size_t len;
};

#define LIT(s)                                                                                     \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }

/* What follows the milliseconds of "ts" up to the message, by level (as level_names). */
static const struct lit level_tail[] = {
    LIT("Z\",\"level\":\"error\",\"msg\":\""), LIT("Z\",\"level\":\"warn\",\"msg\":\""),
    LIT("Z\",\"level\":\"info\",\"msg\":\""), LIT("Z\",\"level\":\"debug\",\"msg\":\"")};

_Static_assert(sizeof(level_tail) / sizeof(level_tail[0]) ==
                   sizeof(level_names) / sizeof(level_names[0]),
               "a tail for every level");

/*
 * The start of every line of the current second, `{"ts":"YYYY-MM-DDTHH:MM:SS.`, formatted once
 * per second and thread (gmtime_r and snprintf for every line were a visible share of a busy
 * server's time); its length goes to `*len`.
 */
static const char *second_head(time_t sec, size_t *len)
{
    static _Thread_local time_t cached_sec = -1;
    static _Thread_local char text[64];
    static _Thread_local size_t text_len;
    struct tm tm;
    int n;

    if (sec != cached_sec) {
        gmtime_r(&sec, &tm);
        n = snprintf(text, sizeof(text), "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec);
        if (n < 0 || (size_t)n >= sizeof(text))
            n = snprintf(text, sizeof(text), "{\"ts\":\".");
        text_len = n > 0 ? (size_t)n : 0;
        cached_sec = sec;
    }
    *len = text_len;
    return text;
}

/*
 * Batching. Under load one write(2) per admission line is a good share of a request's cost,
 * so once srv_log_batch_start() has run, info and debug lines are gathered in BATCH_BUFS
 * buffers and written by a flusher thread: a line is copied into the active buffer under
 * `batch_lock` (never held across a write); a full buffer goes to the flusher's queue and the
 * next free one becomes active (the flusher is woken when the last one does); every BATCH_MS
 * the flusher also takes the active one. The request path so never writes and never waits for
 * the reader of stderr. With every buffer queued (stderr is read slower than lines come),
 * info and debug lines are dropped and counted; once the flusher gets through, it says how
 * many in a warning (and ocigate_log_lines_dropped_total counts them).
 *
 * Errors and warnings are written at once by their caller, after what is queued, so the
 * order holds: the writers of stderr (the flusher, and a thread with a warning) hold
 * `write_lock` and write the queue oldest first. Lines stay whole: each is appended whole,
 * and a buffer is written with whole lines only.
 */
#define BATCH_BYTES (64u << 10)
#define BATCH_BUFS 4
#define BATCH_MS 10

struct batch_buf {
    size_t len;
    char data[BATCH_BYTES];
};

static pthread_mutex_t batch_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER; /* taken before batch_lock */
static pthread_cond_t batch_cond = PTHREAD_COND_INITIALIZER;
static struct batch_buf bufs[BATCH_BUFS];
/* Under batch_lock: */
static struct batch_buf *active;            /* being filled; NULL when none was free */
static struct batch_buf *queue[BATCH_BUFS]; /* full, oldest first, waiting to be written */
static unsigned n_queued;
static struct batch_buf *spare[BATCH_BUFS]; /* free */
static unsigned n_spare;
static uint64_t dropped_unreported; /* lines dropped since the last warning about it */
static bool batching;
static bool batch_stopping;
static bool flusher_asleep;
static pthread_t batch_thread;

static atomic_uint_least64_t dropped_total;

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

/*
 * Queues the active buffer if it holds anything; batch_lock held. True when the caller must
 * signal `batch_cond` (once it has let go of batch_lock, or the flusher would wake only to wait
 * for the lock): it sleeps and the buffer now filling is the last free
 * one. While more are free its next tick is soon enough, so a busy server wakes it once per
 * few buffers, not per buffer: a wake costs the request path two context switches.
 */
static bool seal_locked(void)
{
    if (active == NULL || active->len == 0)
        return false;
    queue[n_queued++] = active;
    active = n_spare > 0 ? spare[--n_spare] : NULL;
    if (!flusher_asleep || n_spare > 0)
        return false;
    flusher_asleep = false;
    return true;
}

/* Writes the queued buffers, oldest first; write_lock held, batch_lock not. */
static void write_queue(void)
{
    for (;;) {
        struct batch_buf *b;

        pthread_mutex_lock(&batch_lock);
        b = n_queued > 0 ? queue[0] : NULL;
        pthread_mutex_unlock(&batch_lock);
        if (b == NULL)
            return;
        /* Only a holder of write_lock takes buffers off the queue: b stays its head. */
        write_all(b->data, b->len);
        pthread_mutex_lock(&batch_lock);
        memmove(queue, queue + 1, (n_queued - 1) * sizeof(queue[0]));
        n_queued--;
        b->len = 0;
        if (active == NULL)
            active = b;
        else
            spare[n_spare++] = b;
        pthread_mutex_unlock(&batch_lock);
    }
}

/* Writes a line at once, after everything batched before it. */
static void write_now(const char *line, size_t len)
{
    pthread_mutex_lock(&write_lock);
    pthread_mutex_lock(&batch_lock);
    (void)seal_locked(); /* this thread writes the queue itself */
    pthread_mutex_unlock(&batch_lock);
    write_queue();
    write_all(line, len);
    pthread_mutex_unlock(&write_lock);
}

/* Writes the warning about dropped lines, if any were. */
static void report_dropped(void)
{
    struct srv_log_fields f;
    uint64_t n;

    pthread_mutex_lock(&batch_lock);
    n = dropped_unreported;
    dropped_unreported = 0;
    pthread_mutex_unlock(&batch_lock);
    if (n == 0)
        return;
    srv_log_fields_init(&f);
    srv_log_field_uint(&f, "dropped", n);
    srv_log_write(SRV_LOG_WARN, "log lines dropped: stderr is read slower than they come", &f);
}

static void *batch_main(void *arg)
{
    bool stop = false;

    (void)arg;
    while (!stop) {
        pthread_mutex_lock(&batch_lock);
        if (n_queued == 0 && !batch_stopping) {
            struct timespec until;

            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += BATCH_MS * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            flusher_asleep = true;
            (void)pthread_cond_timedwait(&batch_cond, &batch_lock, &until);
            flusher_asleep = false;
        }
        stop = batch_stopping;
        /* Woken for full buffers, the active one keeps filling; on the tick it goes too. */
        if (n_queued == 0 || stop)
            (void)seal_locked(); /* this is the flusher */
        pthread_mutex_unlock(&batch_lock);
        pthread_mutex_lock(&write_lock);
        write_queue();
        pthread_mutex_unlock(&write_lock);
        report_dropped();
    }
    return NULL;
}

int srv_log_batch_start(void)
{
    pthread_mutex_lock(&batch_lock);
    if (active == NULL && n_queued == 0 && n_spare == 0) {
        active = &bufs[0];
        for (unsigned i = 1; i < BATCH_BUFS; i++)
            spare[n_spare++] = &bufs[i];
    }
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

uint64_t srv_log_dropped_total(void)
{
    return atomic_load_explicit(&dropped_total, memory_order_relaxed);
}

static void output(enum srv_log_level level, const char *line, size_t len)
{
    if (level >= SRV_LOG_INFO) {
        bool wake = false;

        pthread_mutex_lock(&batch_lock);
        if (batching) {
            if (active != NULL && active->len + len > sizeof(active->data))
                wake = seal_locked();
            if (active != NULL) {
                memcpy(active->data + active->len, line, len);
                active->len += len;
            } else {
                dropped_unreported++;
                atomic_fetch_add_explicit(&dropped_total, 1, memory_order_relaxed);
            }
            pthread_mutex_unlock(&batch_lock);
            if (wake)
                pthread_cond_signal(&batch_cond);
            return;
        }
        pthread_mutex_unlock(&batch_lock);
    }
    write_now(line, len);
}

/*
 * The wall clock at `mono`, a reading of CLOCK_MONOTONIC: CLOCK_REALTIME's offset from it is read
 * once per (monotonic) second and thread, so that a line stamped with a reading its caller took
 * anyway reads no clock of its own. A step of the wall clock shows in such lines within a second.
 */
static void wall_of(const struct timespec *mono, struct timespec *wall)
{
    static _Thread_local time_t cached_sec = -1;
    static _Thread_local int64_t offset_ns;
    int64_t ns;

    if (mono->tv_sec != cached_sec) {
        struct timespec r, m;

        clock_gettime(CLOCK_REALTIME, &r);
        clock_gettime(CLOCK_MONOTONIC, &m);
        offset_ns = (int64_t)(r.tv_sec - m.tv_sec) * 1000000000 + (r.tv_nsec - m.tv_nsec);
        cached_sec = mono->tv_sec;
    }
    ns = (int64_t)mono->tv_sec * 1000000000 + mono->tv_nsec + offset_ns;
    wall->tv_sec = (time_t)(ns / 1000000000);
    wall->tv_nsec = (long)(ns % 1000000000);
}

/*
 * Assembles the line in one buffer so that it is written whole, stamped with `mono` (a reading
 * of CLOCK_MONOTONIC) or, when NULL, the wall clock read now.
 */
static void emit(enum srv_log_level level, const char *msg, const struct srv_log_fields *f,
                 const struct timespec *mono)
{
    char line[4096];
    size_t off, used;
    struct timespec ts;
    const char *head;
    unsigned ms;

    if (mono != NULL)
        wall_of(mono, &ts);
    else
        clock_gettime(CLOCK_REALTIME, &ts);
    head = second_head(ts.tv_sec, &off);
    ms = (unsigned)(ts.tv_nsec / 1000000);
    /* These fit in any case: the line has room for far more. */
    memcpy(line, head, off);
    line[off++] = (char)('0' + ms / 100);
    line[off++] = (char)('0' + ms / 10 % 10);
    line[off++] = (char)('0' + ms % 10);
    memcpy(line + off, level_tail[level].text, level_tail[level].len);
    off += level_tail[level].len;
    off += og_json_escape(line + off, sizeof(line) - off - 3, og_str_of(msg), &used);
    line[off++] = '"';
    /* Extra fields go in whole or not at all, so that the line stays one JSON object. */
    if (f != NULL && f->len > 0 && off + 1 + f->len + 2 <= sizeof(line)) {
        line[off++] = ',';
        memcpy(line + off, f->buf, f->len);
        off += f->len;
    }
    line[off++] = '}';
    line[off++] = '\n';
    output(level, line, off);
}

void srv_log(enum srv_log_level level, const char *msg, ...)
{
    struct srv_log_fields f;
    va_list ap;
    const char *key;

    if (!srv_log_enabled(level))
        return;
    srv_log_fields_init(&f);
    va_start(ap, msg);
    for (key = va_arg(ap, const char *); key != NULL; key = va_arg(ap, const char *))
        srv_log_field_str(&f, key, va_arg(ap, const char *));
    va_end(ap);
    emit(level, msg, &f, NULL);
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
    emit(level, msg, NULL, NULL);
}

void srv_log_write(enum srv_log_level level, const char *msg, const struct srv_log_fields *f)
{
    if (srv_log_enabled(level))
        emit(level, msg, f, NULL);
}

void srv_log_write_at(enum srv_log_level level, const char *msg, const struct srv_log_fields *f,
                      const struct timespec *mono)
{
    if (srv_log_enabled(level))
        emit(level, msg, f, mono);
}

void srv_log_fields_init(struct srv_log_fields *f)
{
    f->len = 0;
    f->full = false;
    f->buf[0] = '\0';
}

void srv_log_fields_put_str(struct srv_log_fields *f, const char *val)
{
    size_t used;

    f->buf[f->len++] = '"';
    f->len += og_json_escape(f->buf + f->len, sizeof(f->buf) - f->len - 2, og_str_of(val), &used);
    f->buf[f->len++] = '"';
    f->buf[f->len] = '\0';
}

/* A field whose value is the `len` bytes of `lit`, known to need no escaping (a number). */
static void field_lit(struct srv_log_fields *f, const char *key, size_t klen, const char *lit,
                      size_t len)
{
    if (srv_log_fields_key(f, key, klen, len))
        srv_log_fields_put_lit(f, lit, len);
}

void srv_log_field_uint_n(struct srv_log_fields *f, const char *key, size_t klen, uint64_t v)
{
    char digits[OG_JSON_UINT_MAX];

    field_lit(f, key, klen, digits, og_json_format_uint(v, digits));
}

void srv_log_field_milli_n(struct srv_log_fields *f, const char *key, size_t klen,
                           uint64_t thousandths)
{
    char text[OG_JSON_UINT_MAX + 4];
    size_t n = og_json_format_uint(thousandths / 1000, text);
    unsigned frac = (unsigned)(thousandths % 1000);

    text[n++] = '.';
    text[n++] = (char)('0' + frac / 100);
    text[n++] = (char)('0' + frac / 10 % 10);
    text[n++] = (char)('0' + frac % 10);
    field_lit(f, key, klen, text, n);
}
