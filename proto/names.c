/* names.c -- phase and reason spellings over protobuf-c enum descriptors, and
 * which reasons are transient. */
#include "names.h"

#include <string.h>

static const char *s_phases[] = {
    "unspecified", "identification", "sharing", "enrichment", "profiling", "panel"
};

const char *
macx_phase_name (int phase)
{
    return phase >= 1 && phase <= MACX_PHASE_COUNT ? s_phases[phase] : s_phases[0];
}

const char *
macx_phase_article (int phase)
{
    return strchr ("aeiou", macx_phase_name (phase)[0]) ? "an" : "a";
}

int
macx_phase_parse (const char *name)
{
    for (int i = 1; i <= MACX_PHASE_COUNT; i++)
        if (strcmp (name, s_phases[i]) == 0)
            return i;
    return 0;
}

const char *
macx_reason_name (int reason)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value (&macx__reason__descriptor, reason);
    return v ? v->name : "UNKNOWN_REASON";
}

int
macx_reason_parse (const char *name)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value_by_name (&macx__reason__descriptor, name);
    return v ? v->value : -1;
}

/* The transient reasons. Not RATE_LIMITED (a daily cap: the same bytes are
 * judged by the day of the broker's stamp, so a retry within the backoff is
 * refused again; an agency holds such records itself until the next day),
 * not CLOCK_SKEW (the claim is in the signed header and does not change) and
 * not INTERNAL_ERROR (a policy that cannot decide is not fixed by waiting). */
static const int s_transient[] = {
    MACX__REASON__STORE_UNAVAILABLE,   /* store full or failed: nothing of the batch written */
    MACX__REASON__SHUTTING_DOWN,       /* reserved: the broker stopped before judging it */
};

bool
macx_reason_transient (int reason)
{
    for (size_t i = 0; i < sizeof s_transient / sizeof s_transient[0]; i++)
        if (s_transient[i] == reason)
            return true;
    return false;
}
