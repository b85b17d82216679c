/* bench_policy.c -- evaluations per second and p50/p99 latency of
 * macx_policy_evaluate on the baseline policy, over a mix of permitted,
 * changed and denied requests. --smoke runs a few thousand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hist.h"
#include "names.h"
#include "policy.h"

static const macx_policy_field_t s_share[] = {
    { "subject_name", "" }, { "dob", "year_only" }, { "postcode", "postcode_district" },
    { "address", "region_only" }, { "region", "" }, { "closure_category", "" },
    { "summary", "" }, { "request", "" },
};
static const macx_policy_field_t s_share_raw[] = {
    { "subject_name", "" }, { "dob", "" }, { "kis_ref", "" }, { "summary", "" },
};
static const macx_policy_field_t s_enrich[] = {
    { "subject_name", "" }, { "holdings", "" }, { "interventions", "" }, { "notes", "" },
};

int
main (int argc, char **argv)
{
    long n = 2000000;
    const char *dir = MACX_SOURCE_DIR "/scenarios/baseline/policy";
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--smoke") == 0)
            n = 5000;
        else if (strcmp (argv[i], "--count") == 0 && i + 1 < argc)
            n = atol (argv[++i]);
        else if (strcmp (argv[i], "--policy") == 0 && i + 1 < argc)
            dir = argv[++i];
        else {
            fprintf (stderr, "usage: bench_policy [--smoke] [--count N] [--policy DIR]\n");
            return 64;
        }
    }
    macx_error_t err = { 0 };
    macx_policy_t *p = macx_policy_load (dir, &err);
    if (!p) {
        fprintf (stderr, "bench_policy: %s\n", macx_error_text (&err));
        return 65;
    }
    int32_t day;
    macx_date_parse ("2026-06-01", &day);
    macx_policy_request_t reqs[] = {
        { "ctp", "ogd-dwp", "share", "mac_case_management", 2, 2, s_share, 8, day, NULL, NULL,
          false, 0 },
        { "mi5", "la-birmingham", "share", "mac_case_management", 2, 2, s_share_raw, 4, day, NULL,
          NULL, false, 0 },
        { "la-manchester", "ctp", "enrichment", "mac_case_management", 3, 3, s_enrich, 4, day,
          NULL, NULL, false, 0 },
        { "mi5", "la-london", "share", "mac_case_management", 1, 1, s_share, 8, day, NULL, NULL,
          false, 0 },
        { "la-london", "la-birmingham", "share", "mac_case_management", 2, 2, s_share, 8, day,
          NULL, NULL, false, 0 },
    };
    const size_t nreq = sizeof reqs / sizeof reqs[0];
    macx_hist_t *h = calloc (1, sizeof *h);
    macx_hist_reset (h);
    macx_policy_result_t r;
    long permits = 0;
    uint64_t start = macx_clock_mono_ns ();
    for (long i = 0; i < n; i++) {
        uint64_t t0 = macx_clock_mono_ns ();
        macx_policy_evaluate (p, &reqs[(size_t) i % nreq], &r);
        uint64_t t1 = macx_clock_mono_ns ();
        macx_hist_add (h, t1 - t0);
        permits += r.decision != MACX_DECISION_DENY;
    }
    double secs = (double) (macx_clock_mono_ns () - start) / 1e9;
    printf ("bench_policy: %ld evaluations on %s (%zu request kinds, %ld permitted)\n", n,
            macx_policy_hash (p), nreq, permits);
    printf ("  %.0f evaluations/s (including clock reads)\n", (double) n / secs);
    printf ("  latency p50 %llu ns, p99 %llu ns, p99.9 %llu ns, max %llu ns, mean %.0f ns\n",
            (unsigned long long) macx_hist_quantile (h, 0.50),
            (unsigned long long) macx_hist_quantile (h, 0.99),
            (unsigned long long) macx_hist_quantile (h, 0.999), (unsigned long long) h->max,
            macx_hist_mean (h));
    free (h);
    macx_policy_destroy (&p);
    return 0;
}
