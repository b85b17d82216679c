/* cmd_record.c -- `macx record`: seal a record by hand, inspect or open one.
 * Parsing only; sealing and opening live in record/. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "file.h"
#include "names.h"
#include "record.h"

static int
s_fail (const char *verb, const macx_error_t *err)
{
    fprintf (stderr, "macx record %s: %s\n", verb, macx_error_text (err));
    return macx_exit_code (err->code);
}

static const struct option s_inspect_opts[] = {
    { "keys", required_argument, NULL, 'k' }, { "as", required_argument, NULL, 'a' },
    { "json", no_argument, NULL, 'j' }, { 0 }
};

static int
s_inspect (const macx_cmd_t *self, int argc, char **argv)
{
    const char *keys = NULL, *as = NULL;
    int json = 0, c, bad;
    while ((c = macx_cli_getopt (self, argc, argv)) != -1) {
        switch (c) {
        case 'k': keys = optarg; break;
        case 'a': as = optarg; break;
        case 'j': json = 1; break;
        }
    }
    if ((bad = macx_cli_args (self, argc, argv, "FILE")) >= 0)
        return bad;
    if (as && !keys)
        return macx_cli_usage (self, "--as needs --keys DIR (where AGENCY's secret key is)");
    macx_error_t err = { 0 };
    char *data = NULL;
    size_t len;
    macx_registry_t *reg = NULL;
    macx_identity_t *me = NULL;
    macx_record_t *rec = NULL;
    int rc = macx_file_read (argv[optind], MACX_RECORD_MAX + 1, &data, &len, &err);
    if (rc == MACX_OK && keys && !(reg = macx_registry_load (keys, &err)))
        rc = err.code;
    if (rc == MACX_OK && as) {
        macx_harden_process ();
        if (!(me = macx_identity_load (keys, as, &err)))
            rc = err.code;
    }
    if (rc == MACX_OK) {
        if (me)
            rc = macx_record_open (me, reg, (uint8_t *) data, len, &rec, &err);
        else if (reg)
            rc = macx_record_verify (reg, (uint8_t *) data, len, &rec, &err);
        else
            rc = macx_record_decode ((uint8_t *) data, len, &rec, &err);
    }
    int exit_code = MACX_EX_OK;
    if (rc)
        exit_code = s_fail ("inspect", &err);
    else
        macx_record_print (stdout, rec, json);
    macx_record_destroy (&rec);
    macx_identity_destroy (&me);
    macx_registry_destroy (&reg);
    free (data);
    return exit_code;
}

static const struct option s_seal_opts[] = {
    MACX_CLI_RECORD_OPTIONS,
    { "keys", required_argument, NULL, 'k' },     { "as", required_argument, NULL, 'a' },
    { "sequence", required_argument, NULL, 'n' }, { "out", required_argument, NULL, 'o' },
    { "forge-manifest", required_argument, NULL, 'F' },
    { 0 }
};

/* --forge-manifest LIST (a test forgery): "NAME[:TRANSFORM],..." into the
 * entries, pointing into list (which it modifies); "" declares no field.
 * Returns -1, or 64 after a usage error. The header check names a bad
 * field name or transform when the record is sealed. */
static int
s_forged_manifest (const macx_cmd_t *self, char *list, Macx__FieldEntry *entries,
                   Macx__FieldEntry **ptrs, size_t *n)
{
    *n = 0;
    for (char *save = NULL, *f = strtok_r (list, ",", &save); f; f = strtok_r (NULL, ",", &save)) {
        if (*n == MACX_MANIFEST_MAX)
            return macx_cli_usage (self, "--forge-manifest lists more than %d fields",
                                   MACX_MANIFEST_MAX);
        macx__field_entry__init (&entries[*n]);
        char *colon = strchr (f, ':');
        if (colon)
            *colon = '\0';
        entries[*n].name = f;
        entries[*n].transform = colon ? colon + 1 : "";
        ptrs[*n] = &entries[*n];
        (*n)++;
    }
    return -1;
}

static int
s_seal (const macx_cmd_t *self, int argc, char **argv)
{
    const char *keys = NULL, *as = NULL, *out = NULL;
    char *forge = NULL;
    long long sequence = 1;
    macx_cli_record_t *r = calloc (1, sizeof *r);
    if (!r)
        return MACX_EX_SOFTWARE;
    macx_error_t err = { 0 };
    int c, bad = -1;
    while (bad < 0 && (c = macx_cli_getopt (self, argc, argv)) != -1) {
        if (macx_cli_record_opt (self, r, c, optarg, &bad))
            continue;
        switch (c) {
        case 'k': keys = optarg; break;
        case 'a': as = optarg; break;
        case 'o': out = optarg; break;
        case 'F': forge = optarg; break;
        case 'n': bad = macx_cli_long (self, "sequence", optarg, 1, LLONG_MAX, &sequence); break;
        }
    }
    if (bad < 0)
        bad = macx_cli_args (self, argc, argv, "");
    if (bad < 0 && (!keys || !as))
        bad = macx_cli_usage (self, "%s is required", !keys ? "--keys" : "--as");
    if (bad < 0)
        bad = macx_cli_record_check (self, r, NULL);
    if (bad < 0 && !out)
        bad = macx_cli_usage (self, "--out is required");
    Macx__FieldEntry forged[MACX_MANIFEST_MAX], *forged_ptrs[MACX_MANIFEST_MAX];
    size_t nforged = 0;
    if (bad < 0 && forge)
        bad = s_forged_manifest (self, forge, forged, forged_ptrs, &nforged);
    if (bad >= 0) {
        free (r);
        return bad;
    }
    macx_harden_process ();
    macx_registry_t *reg = macx_registry_load (keys, &err);
    macx_identity_t *me = reg ? macx_identity_load (keys, as, &err) : NULL;
    Macx__Payload *payload = NULL;
    Macx__FieldEntry **manifest = NULL;
    size_t nmanifest = 0;
    uint8_t *sealed = NULL, record_id[MACX_RECORD_ID_BYTES];
    size_t sealed_len = 0;
    int rc = me ? MACX_OK : err.code;
    if (rc == MACX_OK)
        rc = macx_record_build (r->type, r->fields, r->nfields, &payload, &manifest, &nmanifest,
                                &err);
    if (rc == MACX_OK) {
        Macx__Header h = MACX__HEADER__INIT;
        macx_record_new_id (record_id);
        h.record_id = (ProtobufCBinaryData) { sizeof record_id, record_id };
        macx_cli_record_header (r, &h);
        h.sequence = (uint64_t) sequence;
        h.manifest = manifest;
        h.n_manifest = nmanifest;
        if (forge) {
            h.manifest = forged_ptrs;
            h.n_manifest = nforged;
            rc = macx_record_seal_forged (me, reg, &h, payload, &sealed, &sealed_len, &err);
        }
        else
            rc = macx_record_seal (me, reg, &h, payload, &sealed, &sealed_len, &err);
    }
    if (rc == MACX_OK)
        rc = macx_file_write (out, sealed, sealed_len, 0644, 0, &err);
    int exit_code = MACX_EX_OK;
    if (rc)
        exit_code = s_fail ("seal", &err);
    else {
        char hex[2 * MACX_RECORD_ID_BYTES + 1];
        macx_hex_encode (record_id, sizeof record_id, hex);
        printf ("sealed record %s (%zu bytes) to %s\n", hex, sealed_len, out);
        if (forge)
            fprintf (stderr, "macx record seal: warning: a forgery (--forge-manifest, for "
                     "tests): its manifest does not describe its payload\n");
    }
    free (sealed);
    free (r);
    macx_record_build_free (&payload, &manifest, nmanifest);
    macx_identity_destroy (&me);
    macx_registry_destroy (&reg);
    return exit_code;
}

static const macx_cmd_t s_verbs[] = {
    { .name = "record inspect", .fn = s_inspect,
      .summary = "print a sealed record's header (payload only with the recipient's key)",
      .opts = s_inspect_opts, .synopsis = "macx record inspect FILE [--keys DIR [--as AGENCY]] [--json]",
      .description =
          "Prints a sealed record's header. With --keys the sender's signature is\n"
          "checked against DIR; with --as as well, the record is opened with that\n"
          "recipient's secret key and its payload printed (checked against the\n"
          "header's field manifest). Never prints a payload otherwise.\n",
      .examples = "macx record inspect record.bin\n"
                  "macx record inspect record.bin --keys demo/keys --as la-london --json\n",
      .exits = "0 printed\n64 usage error\n65 the record is malformed, forged or not for AGENCY\n"
               "66 FILE does not exist\n" },
    { .name = "record seal", .fn = s_seal, .summary = "seal one record to a file",
      .opts = s_seal_opts,
      .synopsis = "macx record seal --keys DIR --as AGENCY --to AGENCY[,AGENCY...]\n"
                  "                        --type T --phase P --purpose U --case C --subject S\n"
                  "                        [--case-phase P] [--legal-basis L] [--sequence N]\n"
                  "                        [--field NAME[:TRANSFORM]=VALUE ...] --out FILE\n"
                  "                        [--forge-manifest NAME[:TRANSFORM],...]",
      .description =
          "Seals one record offline (what `macx send` sends): the header in clear, the\n"
          "payload encrypted to each recipient, one Ed25519 signature by AGENCY. Typed\n"
          "record types (case_file, share, enrichment, profile, panel_plan) take their\n"
          "payload fields by name; any other type carries NAME=VALUE pairs. A TRANSFORM\n"
          "(year_only, postcode_district, initials, region_only, redacted) is applied to\n"
          "VALUE and declared in the manifest.\n"
          "Phases: identification, sharing, enrichment, profiling, panel.\n\n"
          "--forge-manifest LIST is a forgery tool, for tests only: the header declares\n"
          "LIST (NAME[:TRANSFORM],... ; \"\" for no field) as its manifest instead of the\n"
          "fields the payload carries, and the record is sealed and signed all the same.\n"
          "The broker judges the header (it cannot read the payload); a recipient finds\n"
          "the payload does not match, refuses it and sends the broker a signed complaint\n"
          "(docs/audit.md, \"Complaints\"). Never use it to share anything.\n",
      .examples = "macx record seal --keys demo/keys --as mi5 --to la-london --type share \\\n"
                  "    --phase sharing --purpose mac_case_management --case C-1 --subject S-1 \\\n"
                  "    --field subject_name=\"Ada Quill\" --field dob:year_only=1990-04-12 \\\n"
                  "    --out record.bin\n"
                  "# a test forgery: declares subject_name only, carries an address too\n"
                  "macx record seal --keys demo/keys --as mi5 --to ctp --type case_file \\\n"
                  "    --phase identification --purpose mac_case_management --case C-1 \\\n"
                  "    --subject S-1 --field subject_name=\"Ada Quill\" \\\n"
                  "    --field address=\"1 Test Row, Leeds\" --forge-manifest subject_name \\\n"
                  "    --out lying.bin\n",
      .exits = "0 sealed\n64 usage error\n65 bad keys, record type or field\n"
               "66 DIR or AGENCY's key does not exist\n74 FILE cannot be written\n" },
};

const macx_cmd_t macx_cmd_record = {
    .name = "record", .summary = "seal a record by hand; inspect sealed records",
    .synopsis = "macx record <command> [<args>]",
    .description = "Sealed records: a header in clear, the payload encrypted to each\n"
                   "recipient, one Ed25519 signature by the sender.\n",
    .examples = "macx record inspect record.bin --keys demo/keys\n",
    .exits = "0 done\n64 no command, or an unknown one (each command's page lists its own)\n",
    .verbs = s_verbs, .nverbs = (int) (sizeof s_verbs / sizeof s_verbs[0]),
};
