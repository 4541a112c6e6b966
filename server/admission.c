#include "admission.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Largest admission response: a decision is a few kB; anything near this is a bug. */
#define RESPONSE_MAX (1024 * 1024)

/*
 * A bounded appender for the fields of a log line, without printf: this runs for every
 * admission, and formatting was a visible share of the server's time. A field that does not
 * fit ends the line, which stays valid JSON.
 */
struct fields {
    char buf[2048];
    size_t len;
    bool full;
};

/* Appends `,"key":` (no comma first); false when the key and `extra` more bytes do not fit. */
static bool field_key(struct fields *f, const char *key, size_t extra)
{
    size_t klen = strlen(key);

    if (f->full || f->len + klen + 4 + extra >= sizeof(f->buf)) {
        f->full = true;
        return false;
    }
    if (f->len > 0)
        f->buf[f->len++] = ',';
    f->buf[f->len++] = '"';
    memcpy(f->buf + f->len, key, klen);
    f->len += klen;
    f->buf[f->len++] = '"';
    f->buf[f->len++] = ':';
    f->buf[f->len] = '\0';
    return true;
}

static void field_str(struct fields *f, const char *key, const char *val)
{
    /* Room for the quotes and one byte: the value is cut (on an escape boundary) if long. */
    if (!field_key(f, key, 3))
        return;
    f->buf[f->len++] = '"';
    f->len += srv_log_escape(f->buf + f->len, sizeof(f->buf) - f->len - 1, val);
    f->buf[f->len++] = '"';
    f->buf[f->len] = '\0';
}

/* A JSON literal known to need no escaping: true, false, a number. */
static void field_lit(struct fields *f, const char *key, const char *lit)
{
    size_t len = strlen(lit);

    if (!field_key(f, key, len))
        return;
    memcpy(f->buf + f->len, lit, len + 1);
    f->len += len;
}

/* Decimal digits of `v` into the end of `tmp` (24 bytes); returns the first digit. */
static char *u64_digits(uint64_t v, char tmp[24])
{
    char *p = tmp + 23;

    *p = '\0';
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return p;
}

static void field_uint(struct fields *f, const char *key, uint64_t v)
{
    char tmp[24];

    field_lit(f, key, u64_digits(v, tmp));
}

/* Microseconds as milliseconds with three decimals ("0.036"). */
static void field_ms(struct fields *f, const char *key, uint64_t us)
{
    char tmp[32];
    char digits[24];
    const char *ms = u64_digits(us / 1000, digits);
    size_t n = strlen(ms);
    unsigned frac = (unsigned)(us % 1000);

    memcpy(tmp, ms, n);
    tmp[n++] = '.';
    tmp[n++] = (char)('0' + frac / 100);
    tmp[n++] = (char)('0' + frac / 10 % 10);
    tmp[n++] = (char)('0' + frac % 10);
    tmp[n] = '\0';
    field_lit(f, key, tmp);
}

static void log_admission(const struct srv_admission *a, const struct og_decision *d,
                          uint64_t latency_us)
{
    const struct og_review_request *r = og_review_get_request(a->rv);
    struct fields f;

    if (!srv_log_enabled(SRV_LOG_INFO))
        return;
    f.len = 0;
    f.full = false;
    f.buf[0] = '\0';
    field_str(&f, "uid", r->uid);
    field_str(&f, "kind", r->kind);
    field_str(&f, "namespace", r->namespace_);
    field_str(&f, "name", r->name);
    field_str(&f, "op", r->operation);
    field_str(&f, "endpoint", a->ep == OG_ENDPOINT_MUTATE ? "mutate" : "validate");
    field_str(&f, "mode", og_mode_name(d->mode));
    field_lit(&f, "dry_run", r->dry_run ? "true" : "false");
    field_ms(&f, "latency_ms", latency_us);
    field_lit(&f, "allowed", d->allowed ? "true" : "false");
    field_uint(&f, "patch_ops", d->patch_ops);
    field_uint(&f, "warnings", d->n_warnings);
    field_str(&f, "rule", og_rule_name(d->rule));
    if (d->index_url != NULL)
        field_str(&f, "index_url", d->index_url);
    if (a->have_verdict) {
        field_str(&f, "index", og_index_state_name(a->verdict.state));
        if (a->verdict.detail != NULL)
            field_str(&f, "index_detail", a->verdict.detail);
    }
    srv_log_raw(SRV_LOG_INFO, "admission", f.buf);
}

/* How a wait stands: set by the caller (WAITING, SUSPENDED) and the cache's wake (WOKEN). */
enum { PARK_NONE, PARK_WAITING, PARK_SUSPENDED, PARK_WOKEN };

void srv_admission_init(struct srv_admission *a, struct og_config *cfg,
                        struct srv_index_cache *cache, enum og_endpoint ep,
                        srv_admission_resume_fn resume, void *arg)
{
    memset(a, 0, sizeof(*a));
    a->cfg = cfg;
    a->cache = cache;
    a->ep = ep;
    a->resume = resume;
    a->resume_arg = arg;
    atomic_init(&a->park, PARK_NONE);
}

enum srv_admission_next srv_admission_decode(struct srv_admission *a, const char *body, size_t len,
                                             struct srv_response *resp)
{
    struct og_diag diag;
    char where[512];
    enum og_err rc;

    og_diag_clear(&diag);
    rc = og_review_decode(body, len, &a->rv, &diag);
    if (rc == OG_ENOMEM)
        return srv_response_error(resp, 500, og_strerror(rc)) ? SRV_ADMISSION_RESPOND
                                                              : SRV_ADMISSION_DROP;
    if (rc != OG_OK) {
        char msg[600];

        og_diag_format(&diag, where, sizeof(where));
        (void)snprintf(msg, sizeof(msg), "invalid AdmissionReview: %s",
                       where[0] != '\0' ? where : og_strerror(rc));
        return srv_response_error(resp, 400, msg) ? SRV_ADMISSION_RESPOND : SRV_ADMISSION_DROP;
    }
    a->has_obj = og_review_policy_input(a->rv, &a->obj, &a->ctx);
    return SRV_ADMISSION_CONTINUE;
}

/*
 * The cache's wake (srv_index_wake_fn): resumes the caller if it is parked already, else
 * leaves WOKEN for srv_admission_parked() to find. `resume` is read first: once resumed, the
 * caller may free `a` at any moment.
 */
static void index_wake(void *arg)
{
    struct srv_admission *a = arg;
    srv_admission_resume_fn resume = a->resume;
    void *resume_arg = a->resume_arg;

    if (atomic_exchange(&a->park, PARK_WOKEN) == PARK_SUSPENDED)
        resume(resume_arg);
}

bool srv_admission_parked(struct srv_admission *a)
{
    int expected = PARK_WAITING;

    return atomic_compare_exchange_strong(&a->park, &expected, PARK_SUSPENDED);
}

/*
 * Gets the verdict for the url the policy named into `a->verdict`: true when it is there,
 * false when the admission has to wait for the wake. After a wait (PARK_WOKEN), the lookup
 * does not wait again: the verdict, or PENDING once the budget is spent.
 */
static bool index_verdict(struct srv_admission *a)
{
    const char *url = a->dec.index_url;
    uint64_t budget = a->cfg->index.budget_ms;
    bool may_wait = budget > 0 && atomic_load(&a->park) == PARK_NONE;

    if (may_wait)
        atomic_store(&a->park, PARK_WAITING);
    /* The wake may come from another thread before the lookup even returns. */
    if (srv_index_cache_lookup(a->cache, a->cfg, url, may_wait ? srv_index_now_ms() + budget : 0,
                               &a->verdict, may_wait ? index_wake : NULL, a) == SRV_INDEX_WAIT)
        return false;
    a->have_verdict = true;
    return true;
}

enum srv_admission_next srv_admission_decide(struct srv_admission *a, uint64_t latency_us,
                                             struct srv_response *resp)
{
    struct og_buf out;
    enum og_err rc = OG_OK;
    char *body;
    size_t len;

    if (!a->evaluated) {
        rc = og_policy_eval(a->cfg, a->has_obj ? &a->obj : NULL, &a->ctx, a->ep, &a->dec);
        a->evaluated = rc == OG_OK;
    }
    if (rc == OG_OK && a->dec.index_url != NULL && a->cache != NULL && !a->have_verdict) {
        if (!index_verdict(a))
            return SRV_ADMISSION_WAIT;
        rc = og_policy_eval_index(a->cfg, &a->obj, a->ep, &a->verdict, &a->dec);
    }
    og_buf_init(&out, RESPONSE_MAX);
    if (rc == OG_OK)
        rc = og_review_encode(a->rv, &a->dec, &out);
    if (rc != OG_OK) {
        og_buf_cleanup(&out);
        srv_logf(SRV_LOG_ERROR, "admission failed: %s", og_strerror(rc));
        return srv_response_error(resp, 500, og_strerror(rc)) ? SRV_ADMISSION_RESPOND
                                                              : SRV_ADMISSION_DROP;
    }
    body = og_buf_take(&out, &len);
    if (body == NULL)
        return SRV_ADMISSION_DROP;
    log_admission(a, &a->dec, latency_us);
    memset(resp, 0, sizeof(*resp));
    resp->status = 200;
    resp->body = body;
    resp->len = len;
    resp->owned = true;
    return SRV_ADMISSION_RESPOND;
}

void srv_admission_cleanup(struct srv_admission *a)
{
    og_decision_cleanup(&a->dec);
    a->evaluated = false;
    og_review_free(a->rv);
    a->rv = NULL;
    og_index_verdict_cleanup(&a->verdict);
    a->have_verdict = false;
}
