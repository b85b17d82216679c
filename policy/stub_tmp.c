#include "policy_int.h"
int macx_policy_diff (const macx_policy_t *a, const macx_policy_t *b, FILE *out, bool json) { return 0; }
macx_policy_suite_t *macx_policy_suite_new (const macx_policy_t *policy, bool json, FILE *out) { return NULL; }
void macx_policy_suite_destroy (macx_policy_suite_t **self_p) {}
int macx_policy_suite_run_file (macx_policy_suite_t *self, const char *path, macx_error_t *err) { return 0; }
macx_policy_test_stats_t macx_policy_suite_finish (macx_policy_suite_t *self) { macx_policy_test_stats_t s = {0,0}; return s; }
