#include "admission.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Largest admission response: a decision is a few kB; anything near this is a bug. */
#define RESPONSE_MAX (1024 * 1024)

static void log_admission(const struct srv_admission *a, const struct og_decision *d,
                          uint64_t latency_us)
{
    const struct og_review_request *r = og_review_get_request(a->rv);
    struct srv_log_fields f;

    if (!srv_log_enabled(SRV_LOG_INFO))
        return;
    srv_log_fields_init(&f);
    srv_log_field_str(&f, "uid", r->uid);
    srv_log_field_str(&f, "kind", r->kind);
    srv_log_field_str(&f, "namespace", r->namespace_);
    srv_log_field_str(&f, "name", r->name);
    srv_log_field_str(&f, "op", r->operation);
    srv_log_field_str(&f, "endpoint", a->ep == OG_ENDPOINT_MUTATE ? "mutate" : "validate");
    srv_log_field_str(&f, "mode", og_mode_name(d->mode));
    srv_log_field_bool(&f, "dry_run", r->dry_run);
    srv_log_field_milli(&f, "latency_ms", latency_us);
    srv_log_field_bool(&f, "allowed", d->allowed);
    srv_log_field_uint(&f, "patch_ops", d->patch_ops);
    srv_log_field_uint(&f, "warnings", d->n_warnings);
    srv_log_field_str(&f, "rule", og_rule_name(d->rule));
    srv_log_field_str(&f, "index_url", a->index_url);
    if (a->have_verdict) {
        srv_log_field_str(&f, "index", og_index_state_name(a->verdict.state));
        srv_log_field_str(&f, "index_detail", a->verdict.detail);
    }
    srv_log_write(SRV_LOG_INFO, "admission", &f);
}

void srv_admission_init(struct srv_admission *a, const struct og_config *cfg, enum og_endpoint ep)
{
    memset(a, 0, sizeof(*a));
    a->cfg = cfg;
    a->ep = ep;
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
    if (og_policy_index_target(a->cfg, a->rv, &a->index_url) != OG_OK)
        return srv_response_error(resp, 500, og_strerror(OG_ENOMEM)) ? SRV_ADMISSION_RESPOND
                                                                     : SRV_ADMISSION_DROP;
    return a->index_url != NULL ? SRV_ADMISSION_INDEX : SRV_ADMISSION_DECIDE;
}

bool srv_admission_decide(struct srv_admission *a, uint64_t latency_us, struct srv_response *resp)
{
    struct og_decision dec;
    struct og_buf out;
    enum og_err rc;
    char *body;
    size_t len;

    memset(&dec, 0, sizeof(dec));
    og_buf_init(&out, RESPONSE_MAX);
    rc = og_policy_eval(a->cfg, a->rv, a->ep, a->have_verdict ? &a->verdict : NULL, &dec);
    if (rc == OG_OK)
        rc = og_review_encode(a->rv, &dec, &out);
    if (rc != OG_OK) {
        og_buf_cleanup(&out);
        og_decision_cleanup(&dec);
        srv_logf(SRV_LOG_ERROR, "admission failed: %s", og_strerror(rc));
        return srv_response_error(resp, 500, og_strerror(rc));
    }
    body = og_buf_take(&out, &len);
    if (body == NULL) {
        og_decision_cleanup(&dec);
        return false;
    }
    log_admission(a, &dec, latency_us);
    og_decision_cleanup(&dec);
    memset(resp, 0, sizeof(*resp));
    resp->status = 200;
    resp->body = body;
    resp->len = len;
    resp->owned = true;
    return true;
}

void srv_admission_cleanup(struct srv_admission *a)
{
    og_review_free(a->rv);
    a->rv = NULL;
    free(a->index_url);
    a->index_url = NULL;
    og_index_verdict_cleanup(&a->verdict);
    a->have_verdict = false;
}
