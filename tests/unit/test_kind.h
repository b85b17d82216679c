/* test_kind.h -- the kind of the unit tests' usual agency ids. macx never
 * reads a kind from an id (keys.c takes it declared); the tests declare
 * theirs by this table. Test code only. */
#ifndef MACX_TEST_KIND_H
#define MACX_TEST_KIND_H

#include <string.h>

static inline const char *
test_kind (const char *id)
{
    static const struct { const char *prefix; const char *kind; } t[] = {
        { "broker", "broker" }, { "mi5", "mi5" }, { "ctp", "ctp" }, { "la-", "local_authority" }, { "ogd-", "ogd" },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strncmp (id, t[i].prefix, strlen (t[i].prefix)) == 0)
            return t[i].kind;
    return NULL;
}

#endif
