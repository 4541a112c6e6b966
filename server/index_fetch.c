#include "index_fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "index_cache.h"
#include "index_stream.h"
#include "log.h"
#include "metrics.h"
#include "ocigate/buf.h"
#include "ocigate/helm_index.h"
#include "ocigate/url.h"

void srv_index_hash_key(uint64_t key[2])
{
    struct timespec ts;

    /* The kernel's randomness; should it fail, the clock still keeps the key unguessable
     * enough to defeat tables of precomputed collisions. */
    if (getrandom(key, 2 * sizeof(uint64_t), GRND_NONBLOCK) == (ssize_t)(2 * sizeof(uint64_t)))
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    key[0] ^= (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull;
    key[1] ^= (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&ts;
}

char *srv_index_url(const char *base)
{
    struct og_buf url;

    og_buf_init(&url, SIZE_MAX / 2);
    if (og_url_index_yaml(og_str_of(base), &url) != OG_OK) {
        og_buf_cleanup(&url);
        return NULL;
    }
    return og_buf_take(&url, NULL);
}

/* Makes `*out` an UNKNOWN verdict saying `detail`. */
static enum og_err unknown(struct og_index_verdict *out, const char *detail)
{
    memset(out, 0, sizeof(*out));
    return og_index_verdict_init_state(out, OG_INDEX_STATE_UNKNOWN, detail);
}

/* ---- the cache's fetcher: push mode on one loop ---- */

struct srv_index_fetcher {
    struct srv_fetch_loop *loop;
    const char *ca_file;
};

/* One fetch-and-analysis in flight. */
struct job {
    char *url; /* the repository's as it may be shown (og_url_redact()), for the log lines */
    struct og_config *cfg;
    struct og_index_limits limits;
    struct srv_index_stream *stream; /* made when the body begins */
    srv_index_done_fn done;
    void *done_arg;
    uint64_t t0;
};

enum og_err srv_index_fetcher_new(const struct srv_index_fetcher_opts *o,
                                  struct srv_index_fetcher **out)
{
    struct srv_index_fetcher *x = calloc(1, sizeof(*x));
    enum og_err rc;

    if (x == NULL)
        return OG_ENOMEM;
    x->ca_file = o->ca_file;
    rc = srv_fetch_loop_new(&o->loop, &x->loop);
    if (rc != OG_OK) {
        free(x);
        return rc;
    }
    *out = x;
    return OG_OK;
}

void srv_index_fetcher_stop(struct srv_index_fetcher *x)
{
    srv_fetch_loop_stop(x->loop);
}

void srv_index_fetcher_free(struct srv_index_fetcher *x)
{
    if (x == NULL)
        return;
    srv_fetch_loop_free(x->loop);
    free(x);
}

/* The one log line per fetch (not per admission): what operators need to see a repository
 * move, a private one (HTTP 401), or the guard at work. `url` is the job's (shown), or NULL. */
static void log_fetch(const char *url, const struct og_index_verdict *v, uint64_t got, uint64_t t0)
{
    char bytes[24], ms[24];

    (void)snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)got);
    (void)snprintf(ms, sizeof(ms), "%llu", (unsigned long long)(srv_index_now_ms() - t0));
    srv_log(v->state == OG_INDEX_STATE_UNKNOWN ? SRV_LOG_WARN : SRV_LOG_INFO, "index analyzed",
            "url", url, "verdict", og_index_state_name(v->state), "oci_base", v->oci_base, "detail",
            v->detail, "bytes", bytes, "ms", ms, NULL);
}

/* Hands the result over and frees the job. */
static void job_end(struct job *j, struct srv_index_result *r, uint64_t got)
{
    struct og_index_verdict *v = &r->verdict;

    if (r->not_modified) {
        /* Nothing was analyzed: the cache renews the verdict it holds. */
        char ms[24];

        uint64_t took = srv_index_now_ms() - j->t0;

        /* Counted before it is logged: a scrape that follows the line sees it. */
        srv_metrics_index_not_modified(took * 1000u);
        (void)snprintf(ms, sizeof(ms), "%llu", (unsigned long long)took);
        srv_log(SRV_LOG_INFO, "index not modified", "url", j->url, "result", "not-modified", "ms",
                ms, NULL);
        goto out;
    }
    if (v->state == OG_INDEX_STATE_NONE) {
        /* Out of memory on the way: the bare state still tells the policy. */
        v->state = OG_INDEX_STATE_UNKNOWN;
    }
    log_fetch(j->url, v, got, j->t0);
    srv_metrics_index_fetch(v->state, (srv_index_now_ms() - j->t0) * 1000u);
out:
    j->done(j->done_arg, r);
    srv_index_stream_free(j->stream);
    og_config_unref(j->cfg);
    free(j->url);
    free(j);
}

static enum og_err job_body(void *arg, const char *p, size_t n)
{
    struct job *j = arg;

    if (j->stream == NULL) {
        enum og_err rc = srv_index_stream_new(&j->limits, OG_INDEX_DETAIL, &j->stream);
        if (rc != OG_OK)
            return rc;
    }
    /* Parses just these bytes, here on the loop thread: a piece of at most a 64 KiB (one
     * libcurl chunk, or one inflate step) takes well under a millisecond, so one large index
     * never holds up the other transfers for long. */
    return srv_index_stream_feed(j->stream, p, n);
}

static void job_done(void *arg, struct srv_fetch *f, enum og_err rc)
{
    struct job *j = arg;
    struct og_index_summary summary;
    struct srv_index_result r;
    struct og_index_verdict *vp = &r.verdict;
    struct og_diag diag;
    enum og_err arc;

    memset(&summary, 0, sizeof(summary));
    memset(&r, 0, sizeof(r));
    og_diag_clear(&diag);
    if (srv_fetch_status(f) == 304) {
        /* The fetcher let it through only as an answer to our validators, from their url. */
        r.not_modified = rc == OG_OK;
        r.drop_validators = rc != OG_OK;
        if (rc != OG_OK)
            (void)unknown(vp, srv_fetch_detail(f) != NULL ? srv_fetch_detail(f) : "HTTP 304");
        goto out;
    }
    if (j->stream == NULL && rc == OG_OK && srv_fetch_status(f) == 200) {
        /* An empty body: the analyzer says what that is. */
        if (srv_index_stream_new(&j->limits, OG_INDEX_DETAIL, &j->stream) != OG_OK) {
            (void)unknown(vp, "out of memory");
            goto out;
        }
    }
    if (j->stream != NULL && (srv_index_stream_ended(j->stream) || rc == OG_OK) &&
        srv_fetch_status(f) == 200) {
        arc = srv_index_stream_finish(j->stream, rc, &summary, &diag);
        if (arc == OG_OK) {
            if (og_helm_index_decide(&summary, j->cfg->index.threshold, vp) != OG_OK)
                (void)unknown(vp, "out of memory");
            else if (srv_fetch_get_validators(f, &r.validators) != OG_OK)
                memset(&r.validators, 0, sizeof(r.validators)); /* the next refresh is whole */
            goto out;
        }
        if (arc != rc || srv_fetch_detail(f) == NULL) {
            /* The analysis' own failure (not the transfer's): not an index, a limit. */
            char where[400], detail[512];

            snprintf(detail, sizeof(detail), "%s: %s",
                     arc == OG_EPARSE ? "not a Helm index" : og_strerror(arc),
                     og_diag_format(&diag, where, sizeof(where)));
            (void)unknown(vp, detail);
            goto out;
        }
    }
    /* 401/403 (a private repository), 404, 5xx, refused address, timeout, cap, ... */
    (void)unknown(vp, srv_fetch_detail(f) != NULL ? srv_fetch_detail(f) : "fetch failed");
out:
    og_index_summary_cleanup(&summary);
    job_end(j, &r, srv_fetch_bytes(f));
}

static const struct srv_fetch_sink job_sink = {job_body, job_done};

void srv_index_fetcher_start(void *arg, const char *url, struct og_config *cfg,
                             const struct srv_fetch_validators *val, srv_index_done_fn done,
                             void *done_arg)
{
    struct srv_index_fetcher *x = arg;
    struct srv_index_result r;
    struct og_index_verdict *vp = &r.verdict;
    struct srv_fetch_opts o;
    struct og_diag diag;
    struct og_buf shown;
    char *index_url = NULL;
    struct job *j = calloc(1, sizeof(*j));
    enum og_err rc = OG_ENOMEM;

    memset(&r, 0, sizeof(r));
    og_diag_clear(&diag);
    if (j == NULL) {
        (void)unknown(vp, "out of memory");
        log_fetch(NULL, vp, 0, srv_index_now_ms());
        done(done_arg, &r);
        return;
    }
    j->t0 = srv_index_now_ms();
    j->done = done;
    j->done_arg = done_arg;
    /* The job's own reference: the allow lists the fetch is lent live in this snapshot. */
    j->cfg = og_config_ref(cfg);
    og_buf_init(&shown, SIZE_MAX / 2);
    if (og_url_redact(og_str_of(url), &shown) == OG_OK)
        j->url = og_buf_take(&shown, NULL);
    index_url = srv_index_url(url);
    if (j->url == NULL || index_url == NULL)
        goto fail;
    og_index_limits_init(&j->limits);
    j->limits.max_bytes = cfg->index.max_bytes;
    srv_index_hash_key(j->limits.hash_key);
    srv_fetch_opts_init(&o);
    srv_fetch_opts_from_settings(&o, &cfg->index);
    o.ca_file = x->ca_file;
    o.validators = val;
    rc = srv_fetch_start(x->loop, index_url, &o, &job_sink, j, &diag);
    if (rc == OG_OK) {
        free(index_url);
        return;
    }
fail:
    free(index_url);
    if (j->url == NULL) {
        (void)unknown(vp, "out of memory");
        log_fetch(NULL, vp, 0, j->t0);
        done(done_arg, &r);
        og_config_unref(j->cfg);
        free(j);
        return;
    }
    (void)unknown(vp, rc == OG_ENOMEM || diag.msg[0] == '\0' ? "out of memory" : diag.msg);
    job_end(j, &r, 0);
}
