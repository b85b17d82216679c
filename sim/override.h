/* override.h -- `macx pilot run --set PATH=VALUE` and `--policy DIR`: a
 * scenario with fields replaced by their YAML paths, written as one file
 * that every process of the run reads, and validated as the file itself
 * is, with errors that name the option at fault. */
#ifndef MACX_OVERRIDE_H
#define MACX_OVERRIDE_H

#include <stdio.h>

#include "error.h"
#include "scenario.h"

#define MACX_OVERRIDE_MAX 64

typedef struct {
    const char *sets[MACX_OVERRIDE_MAX];   /* "PATH=VALUE", borrowed */
    int nsets;
    const char *policy;                    /* a policy directory, or NULL */
} macx_override_t;

/* Checks the form of one --set argument (PATH=VALUE, PATH a dotted path
 * of keys, ids or indexes): 0, or MACX_EINVAL with err naming it. */
int macx_override_check (const char *set, macx_error_t *err);

/* Reads the scenario at path (a file, or a directory holding pilot.yaml),
 * applies ov and writes the result to out (its policy an absolute path, so
 * the file can live anywhere). A path through a sequence picks the item
 * whose id (or kind) is the component, or the component as a 0-based
 * index; a missing last key (or a missing mapping on the way) is added.
 * Then loads out as `pilot run` would into scn: an error in a value an
 * option set names the option ("--set PATH=VALUE: ..."), any other names
 * the options in force. source (sizeof scn->path bytes) receives the file
 * read (a directory's pilot.yaml); scn->path is out. Returns 0 or an
 * error (EFORMAT: exit 65). */
int macx_override_write (const char *path, const macx_override_t *ov, const char *out,
                         macx_scenario_t *scn, char *source, macx_error_t *err);

/* Writes ov as a JSON array of strings ("--set X=Y", "--policy D"). */
void macx_override_json (const macx_override_t *ov, FILE *f);

#endif
