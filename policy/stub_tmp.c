#include "policy_int.h"
int macx_policy_explain (const macx_policy_t *self, const macx_policy_request_t *req, FILE *out, bool json) { macx_policy_result_t r; int rc = macx_policy_evaluate(self, req, &r); fprintf(out, "%s %d %s\n", macx_decision_name(r.decision), r.reason, r.message); for (size_t i=0;i<r.nfields;i++) fprintf(out," %s %d %s %s\n", r.fields[i].name, r.fields[i].disposition, r.fields[i].transform, r.fields[i].rule?r.fields[i].rule:""); return rc; }
int macx_policy_diff (const macx_policy_t *a, const macx_policy_t *b, FILE *out, bool json) { return 0; }
macx_policy_suite_t *macx_policy_suite_new (const macx_policy_t *policy, bool json, FILE *out) { return NULL; }
void macx_policy_suite_destroy (macx_policy_suite_t **self_p) {}
int macx_policy_suite_run_file (macx_policy_suite_t *self, const char *path, macx_error_t *err) { return 0; }
macx_policy_test_stats_t macx_policy_suite_finish (macx_policy_suite_t *self) { macx_policy_test_stats_t s = {0,0}; return s; }
