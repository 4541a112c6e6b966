#include "admission.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "ocigate/url.h"

static void log_admission(const struct srv_admission *a, const struct og_decision *d,
                          const struct timespec *now, uint64_t latency_us)
{
    const struct og_review_request *r = og_review_get_request(a->rv);
    struct srv_log_fields f;
    struct og_buf url;
    char url_storage[256];
    const char *shown = NULL;

    if (!srv_log_enabled(SRV_LOG_INFO))
        return;
    /* The url as it may be shown (og_url_redact()): a log is no place for its credentials.
     * Whole, not a prefix: a cut could end before the '@' that marks them. Left out when out of
     * memory. A usual url fits on the stack. */
    if (d->index_url != NULL) {
        og_buf_init_with(&url, SIZE_MAX / 2, url_storage, sizeof(url_storage));
        if (og_url_redact(og_str_of(d->index_url), &url) == OG_OK)
            shown = url.ptr;
    }
    srv_log_fields_init(&f);
    srv_log_field_str(&f, "uid", r->uid);
    srv_log_field_str(&f, "kind", r->kind);
    srv_log_field_str(&f, "namespace", r->namespace_);
    srv_log_field_str(&f, "name", r->name);
    srv_log_field_str(&f, "op", r->operation);
    srv_log_field_name(&f, "endpoint", a->ep == OG_ENDPOINT_MUTATE ? "mutate" : "validate");
    srv_log_field_name(&f, "mode", og_mode_name(d->mode));
    srv_log_field_bool(&f, "dry_run", r->dry_run);
    srv_log_field_milli(&f, "latency_ms", latency_us);
    srv_log_field_bool(&f, "allowed", d->allowed);
    srv_log_field_uint(&f, "patch_ops", d->patch_ops);
    srv_log_field_uint(&f, "warnings", d->n_warnings);
    srv_log_field_name(&f, "rule", og_rule_name(d->rule));
    if (d->ratcheted)
        srv_log_field_name(&f, "decision", "ratcheted");
    srv_log_field_str(&f, "index_url", shown);
    if (a->have_verdict) {
        srv_log_field_name(&f, "index", og_index_state_name(a->verdict.state));
        srv_log_field_str(&f, "index_detail", a->verdict.detail);
    }
    srv_log_write_at(SRV_LOG_INFO, "admission", &f, now);
    if (d->index_url != NULL)
        og_buf_cleanup(&url);
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

void srv_admission_use_buffer(struct srv_admission *a, struct og_buf *out)
{
    a->out = out;
}

enum srv_admission_next srv_admission_decode(struct srv_admission *a, const char *body, size_t len,
                                             struct srv_response *resp)
{
    struct og_diag diag;
    char where[512];
    enum og_err rc;

    /*
     * Without a diagnostic, whose clearing (776 bytes) was a visible share of the call: a body
     * that is no AdmissionReview, which is rare, is decoded again with one to say why.
     */
    rc = og_review_decode(body, len, &a->rv, NULL);
    if (rc != OG_OK && rc != OG_ENOMEM) {
        og_diag_clear(&diag);
        rc = og_review_decode(body, len, &a->rv, &diag);
    }
    if (rc == OG_ENOMEM)
        return srv_response_error(resp, 500, og_strerror(rc)) ? SRV_ADMISSION_RESPOND
                                                              : SRV_ADMISSION_DROP;
    if (rc != OG_OK) {
        char msg[600];

        srv_metrics_admission(a->ep, a->cfg->mode, OG_RULE_NONE, SRV_METRICS_ERROR, false, 0);
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
 * does not wait again: the verdict, or PENDING once the budget is spent. Nor does an
 * admission whose verdict can change only its warnings (og_decision.index_advisory: an
 * unchanged UPDATE under the ratchet): it takes a cached verdict or PENDING at once, and the
 * fetch it starts fills the cache for the next one.
 */
static bool index_verdict(struct srv_admission *a)
{
    const char *url = a->dec.index_url;
    uint64_t budget = a->cfg->index.budget_ms;
    bool may_wait = budget > 0 && !a->dec.index_advisory && atomic_load(&a->park) == PARK_NONE;

    if (may_wait)
        atomic_store(&a->park, PARK_WAITING);
    /* The wake may come from another thread before the lookup even returns. */
    if (srv_index_cache_lookup(a->cache, a->cfg, url, may_wait ? srv_index_now_ms() + budget : 0,
                               &a->verdict, may_wait ? index_wake : NULL, a) == SRV_INDEX_WAIT)
        return false;
    a->have_verdict = true;
    return true;
}

enum srv_admission_next srv_admission_decide(struct srv_admission *a, const struct timespec *now,
                                             uint64_t latency_us, struct srv_response *resp)
{
    struct og_buf own, *out;
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
    /* The caller's buffer keeps its storage from one admission to the next. */
    out = a->out != NULL ? a->out : &own;
    if (out == &own)
        og_buf_init(&own, SRV_ADMISSION_RESPONSE_MAX);
    else
        og_buf_reset(out);
    if (rc == OG_OK)
        rc = og_review_encode(a->rv, &a->dec, out);
    if (rc != OG_OK) {
        if (out == &own)
            og_buf_cleanup(&own);
        srv_metrics_admission(a->ep, a->evaluated ? a->dec.mode : a->cfg->mode,
                              a->evaluated ? a->dec.rule : OG_RULE_NONE, SRV_METRICS_ERROR, true,
                              latency_us);
        srv_logf(SRV_LOG_ERROR, "admission failed: %s", og_strerror(rc));
        return srv_response_error(resp, 500, og_strerror(rc)) ? SRV_ADMISSION_RESPOND
                                                              : SRV_ADMISSION_DROP;
    }
    if (out == &own) {
        body = og_buf_take(&own, &len);
    } else {
        body = out->ptr;
        len = out->len;
    }
    if (body == NULL)
        return SRV_ADMISSION_DROP;
    log_admission(a, &a->dec, now, latency_us);
    srv_metrics_admission(a->ep, a->dec.mode, a->dec.rule,
                          !a->dec.allowed        ? SRV_METRICS_DENIED
                          : a->dec.patch_ops > 0 ? SRV_METRICS_PATCHED
                                                 : SRV_METRICS_ALLOWED,
                          true, latency_us);
    memset(resp, 0, sizeof(*resp));
    resp->status = 200;
    resp->body = body;
    resp->len = len;
    resp->owned = out == &own;
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
