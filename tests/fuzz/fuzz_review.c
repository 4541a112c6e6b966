/*
 * fuzz_review.c - AdmissionReview decoding, policy evaluation and response encoding on
 * arbitrary bytes, in every mode and through both endpoints.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ocigate/config.h"
#include "ocigate/policy.h"
#include "ocigate/review.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct og_review *rv = NULL;
    struct og_config *cfg = NULL;
    struct og_policy_object obj;
    struct og_admission_context ctx;
    bool has;

    if (og_review_decode((const char *)data, size, &rv, NULL) != OG_OK)
        return 0;
    has = og_review_policy_input(rv, &obj, &ctx);
    if (og_config_new(&cfg) == OG_OK) {
        for (int mode = OG_MODE_OFF; mode <= OG_MODE_ENFORCE; mode++) {
            for (int ep = OG_ENDPOINT_MUTATE; ep <= OG_ENDPOINT_VALIDATE; ep++) {
                struct og_index_verdict pending = {
                    OG_INDEX_STATE_PENDING, NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, 0, 0, NULL, 0};
                struct og_decision d;
                struct og_buf out;

                cfg->mode = (enum og_mode)mode;
                if (og_policy_eval(cfg, has ? &obj : NULL, &ctx, (enum og_endpoint)ep, &d) != OG_OK)
                    continue;
                /* Half the rounds as without a verdict, half with a budget spent. */
                if (d.index_url != NULL && mode % 2 == 0 &&
                    og_policy_eval_index(cfg, &obj, (enum og_endpoint)ep, &pending, &d) != OG_OK)
                    continue;
                og_buf_init(&out, 1u << 20);
                if (og_review_encode(rv, &d, &out) != OG_OK)
                    out.len = 0;
                og_buf_cleanup(&out);
                og_decision_cleanup(&d);
            }
        }
        og_config_unref(cfg);
    }
    og_review_free(rv);
    return 0;
}
