/*
 * fuzz_review.c - AdmissionReview decoding, policy evaluation and response encoding on
 * arbitrary bytes, in every mode and through both endpoints.
 */
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

    if (og_review_decode((const char *)data, size, &rv, NULL) != OG_OK)
        return 0;
    if (og_config_new(&cfg) == OG_OK) {
        for (int mode = OG_MODE_OFF; mode <= OG_MODE_ENFORCE; mode++) {
            for (int ep = OG_ENDPOINT_MUTATE; ep <= OG_ENDPOINT_VALIDATE; ep++) {
                struct og_decision d;
                struct og_buf out;
                char *url = NULL;

                cfg->mode = (enum og_mode)mode;
                if (og_policy_index_target(cfg, rv, &url) == OG_OK)
                    free(url);
                if (og_policy_eval(cfg, rv, (enum og_endpoint)ep, NULL, &d) != OG_OK)
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
