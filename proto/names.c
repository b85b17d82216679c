/* names.c -- phase and reason spellings over protobuf-c enum descriptors. */
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
