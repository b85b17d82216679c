#include "policy_int.h"
int macx_policy_diff (const macx_policy_t *a, const macx_policy_t *b, FILE *out, bool json) { return 0; }
