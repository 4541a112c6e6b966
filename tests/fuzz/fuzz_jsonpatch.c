/*
 * fuzz_jsonpatch.c - RFC 6902 application on arbitrary patches. The input is split at the
 * first NUL byte into a document and a patch (a document of {} when there is none).
 */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "jsonpatch_apply.h"
#include "ocigate/jsonpatch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    const char *nul = memchr(p, '\0', size);
    cJSON *doc;

    if (nul != NULL) {
        doc = cJSON_ParseWithLength(p, (size_t)(nul - p));
        size -= (size_t)(nul - p) + 1;
        p = nul + 1;
    } else {
        doc = cJSON_CreateObject();
    }
    if (doc != NULL) {
        /* Errors are expected: the target looks for crashes, leaks and UB. */
        enum og_err rc = og_patch_apply(p, size, doc, NULL);
        (void)rc;
    }
    cJSON_Delete(doc);
    return 0;
}
