#include "index_stream.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "coro.h"

/*
 * The analyzer's deepest stack is libyaml's parser under our event handlers and a
 * snprintf() for a diagnostic: tens of KiB. The sanitizers' frames are several times larger.
 * Only touched pages count, so the margin costs address space, not memory.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define STACK_SIZE (1024u * 1024u)
#else
#define STACK_SIZE (256u * 1024u)
#endif

struct srv_index_stream {
    struct srv_coro *co;
    struct og_index_limits limits;
    bool has_limits;
    unsigned flags;
    const char *p; /* bytes handed over and not read yet */
    size_t len;
    bool eof;        /* no more bytes will come */
    enum og_err end; /* what the reader returns at eof */
    bool ended;      /* the analysis returned */
    bool finished;   /* srv_index_stream_finish() was called */
    enum og_err rc;  /* its result, valid when ended */
    struct og_index_summary summary;
    struct og_diag diag;
};

/* og_read_fn on the coroutine: hands over what was fed; waits (yields) for more. */
static enum og_err stream_read(void *ctx, char *buf, size_t cap, size_t *n)
{
    struct srv_index_stream *s = ctx;
    size_t take;

    *n = 0;
    while (s->len == 0 && !s->eof)
        srv_coro_yield(s->co);
    if (s->len == 0)
        return s->end;
    take = s->len < cap ? s->len : cap;
    memcpy(buf, s->p, take);
    s->p += take;
    s->len -= take;
    *n = take;
    return OG_OK;
}

static void run(struct srv_coro *co, void *arg)
{
    struct srv_index_stream *s = arg;

    (void)co;
    s->rc = og_helm_index_analyze(stream_read, s, s->has_limits ? &s->limits : NULL, s->flags,
                                  &s->summary, &s->diag);
    s->ended = true;
}

enum og_err srv_index_stream_new(const struct og_index_limits *limits, unsigned flags,
                                 struct srv_index_stream **out)
{
    struct srv_index_stream *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return OG_ENOMEM;
    if (limits != NULL) {
        s->limits = *limits;
        s->has_limits = true;
    }
    s->flags = flags;
    og_diag_clear(&s->diag);
    if (srv_coro_new(STACK_SIZE, run, s, &s->co) != OG_OK) {
        free(s);
        return OG_ENOMEM;
    }
    *out = s;
    return OG_OK;
}

enum og_err srv_index_stream_feed(struct srv_index_stream *s, const char *p, size_t len)
{
    if (s->ended)
        return s->rc;
    if (len == 0)
        return OG_OK;
    s->p = p;
    s->len = len;
    /* The reader yields only once every byte is taken, or the analysis ends. */
    (void)srv_coro_resume(s->co);
    s->p = NULL;
    s->len = 0;
    return s->ended ? s->rc : OG_OK;
}

enum og_err srv_index_stream_finish(struct srv_index_stream *s, enum og_err end,
                                    struct og_index_summary *out, struct og_diag *diag)
{
    s->finished = true;
    s->eof = true;
    s->end = end;
    while (!s->ended)
        (void)srv_coro_resume(s->co);
    if (s->rc == OG_OK) {
        *out = s->summary;
        memset(&s->summary, 0, sizeof(s->summary));
    } else if (diag != NULL) {
        *diag = s->diag;
    }
    return s->rc;
}

bool srv_index_stream_ended(const struct srv_index_stream *s)
{
    return s->ended;
}

void srv_index_stream_free(struct srv_index_stream *s)
{
    if (s == NULL)
        return;
    /* A suspended analysis owns a parser and tables on its stack: let it unwind first. */
    if (!s->ended) {
        s->eof = true;
        s->end = OG_EIO;
        while (!s->ended)
            (void)srv_coro_resume(s->co);
    }
    og_index_summary_cleanup(&s->summary);
    srv_coro_free(s->co);
    free(s);
}
