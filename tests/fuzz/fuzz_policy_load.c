/* fuzz_policy_load.c -- the policy loader on arbitrary bytes: the input is
 * split on a line "---8<---" into schema, forbid and agreement texts and
 * loaded from memory; then, if it loads, one request is evaluated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size > (1u << 16))
        return 0;
    char *text = malloc (size + 1);
    if (!text)
        return 0;
    memcpy (text, data, size);
    text[size] = 0;
    const char *parts[8];
    size_t n = 0;
    char *cur = text;
    parts[n++] = cur;
    while (n < 8 && (cur = strstr (cur, "\n---8<---\n"))) {
        *cur = 0;
        cur += 10;
        parts[n++] = cur;
    }
    macx_error_t err = { 0 };
    macx_policy_t *p = macx_policy_load_texts (parts[0], n > 1 ? parts[1] : NULL,
                                               n > 2 ? parts + 2 : NULL, n > 2 ? n - 2 : 0, &err);
    if (p) {
        macx_policy_field_t f[] = { { "subject_name", "" }, { "dob", "year_only" } };
        macx_policy_request_t req = { .sender = "mi5", .recipient = "la-london",
                                      .record_type = "share", .purpose = "mac_case_management",
                                      .phase = 2, .case_phase = 2, .fields = f, .nfields = 2,
                                      .date = 20600 };
        macx_policy_result_t r;
        macx_policy_evaluate (p, &req, &r);
        if (r.decision != MACX_DECISION_DENY && r.flow_index < 0)
            abort ();   /* a permit always names its flow */
        macx_policy_destroy (&p);
    }
    else if (err.code == 0)
        abort ();       /* a failure always says why */
    free (text);
    return 0;
}
