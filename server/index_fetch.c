#include "index_fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "index_cache.h"
#include "log.h"
#include "ocigate/buf.h"
#include "ocigate/helm_index.h"

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
    if (og_helm_index_url(og_str_of(base), &url) != OG_OK) {
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

enum og_err srv_index_fetch_verdict(void *arg, const char *url, const struct og_config *cfg,
                                    const atomic_bool *cancel, struct og_index_verdict *out)
{
    const struct srv_index_fetch_extra *extra = arg;
    struct og_index_summary summary;
    struct og_index_limits limits;
    struct srv_fetch_opts o;
    struct srv_fetch *f = NULL;
    struct og_diag diag;
    char *index_url = NULL;
    char detail[512], bytes[24], ms[24];
    uint64_t t0 = srv_index_now_ms(), got = 0;
    enum og_err rc;

    memset(out, 0, sizeof(*out));
    memset(&summary, 0, sizeof(summary));
    og_diag_clear(&diag);
    index_url = srv_index_url(url);
    if (index_url == NULL) {
        rc = OG_ENOMEM;
        goto out;
    }
    srv_fetch_opts_init(&o);
    srv_fetch_opts_from_settings(&o, &cfg->index);
    o.cancel = cancel;
    if (extra != NULL)
        o.ca_file = extra->ca_file;
    rc = srv_fetch_open(index_url, &o, &f, &diag);
    if (rc != OG_OK) {
        rc = rc == OG_ENOMEM ? OG_ENOMEM : unknown(out, diag.msg);
        goto out;
    }
    rc = srv_fetch_begin(f);
    if (rc != OG_OK || srv_fetch_status(f) != 200) {
        /* 401/403 (a private repository), 404, 5xx, refused address, timeout, ... */
        rc = unknown(out, srv_fetch_detail(f) != NULL ? srv_fetch_detail(f) : "fetch failed");
        goto out;
    }
    og_index_limits_init(&limits);
    limits.max_bytes = cfg->index.max_bytes;
    srv_index_hash_key(limits.hash_key);
    /* With per-chart detail, so that the verdict can name the charts that moved. */
    rc = og_helm_index_analyze(srv_fetch_read, f, &limits, OG_INDEX_DETAIL, &summary, &diag);
    if (rc == OG_ENOMEM)
        goto out;
    if (rc != OG_OK) {
        char where[400];

        if (srv_fetch_detail(f) != NULL)
            snprintf(detail, sizeof(detail), "%s", srv_fetch_detail(f));
        else
            snprintf(detail, sizeof(detail), "%s: %s",
                     rc == OG_EPARSE ? "not a Helm index" : og_strerror(rc),
                     og_diag_format(&diag, where, sizeof(where)));
        rc = unknown(out, detail);
        goto out;
    }
    rc = og_helm_index_decide(&summary, cfg->index.threshold, out);
out:
    if (f != NULL)
        got = srv_fetch_bytes(f);
    if (rc != OG_OK) {
        og_index_verdict_cleanup(out);
    } else {
        /* One line per fetch (not per admission): what operators need to see a repository
         * move, a private one (HTTP 401), or the guard at work. */
        (void)snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)got);
        (void)snprintf(ms, sizeof(ms), "%llu", (unsigned long long)(srv_index_now_ms() - t0));
        srv_log(out->state == OG_INDEX_STATE_UNKNOWN ? SRV_LOG_WARN : SRV_LOG_INFO,
                "index analyzed", "url", url, "verdict", og_index_state_name(out->state),
                "oci_base", out->oci_base, "detail", out->detail, "bytes", bytes, "ms", ms, NULL);
    }
    og_index_summary_cleanup(&summary);
    srv_fetch_free(f);
    free(index_url);
    return rc;
}
