/* cmd_keys.c -- `macx keys`: init, list, show, revoke. Parsing only. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "file.h"
#include "json.h"
#include "keys.h"

static int
s_fail (const macx_error_t *err)
{
    fprintf (stderr, "macx keys: %s\n", macx_error_text (err));
    return macx_exit_code (err->code);
}

static const struct option s_init_opts[] = { { "agency", required_argument, NULL, 'a' }, { 0 } };

static int
s_init (const macx_cmd_t *self, int argc, char **argv)
{
    char *agencies[256];
    int n = 0, c, bad;
    while ((c = macx_cli_getopt (self, argc, argv)) != -1) {
        if (c == 'a' && n == 256)
            return macx_cli_usage (self, "more than 256 --agency options");
        agencies[n++] = optarg;
    }
    if ((bad = macx_cli_args (self, argc, argv, "DIR")) >= 0)
        return bad;
    if (n == 0)
        return macx_cli_usage (self, "name at least one --agency ID:KIND");
    /* every kind declared before anything is created */
    for (int i = 0; i < n; i++) {
        const char *kind = strchr (agencies[i], ':');
        if (!kind || !kind[1])
            return macx_cli_usage (self, "--agency %.64s has no kind: write %.*s:KIND (mi5, ctp, local_authority, "
                                   "ogd, provider, broker)", agencies[i], (int) (kind ? kind - agencies[i] : 64), agencies[i]);
    }
    const char *dir = argv[optind];
    macx_harden_process ();   /* no core dump may hold a key being generated */
    for (int i = 0; i < n; i++) {
        char id[64];
        snprintf (id, sizeof id, "%s", agencies[i]);
        char *kind = strchr (id, ':');
        if (kind)
            *kind++ = '\0';
        macx_error_t err = { 0 };
        if (macx_keys_generate (dir, id, kind, &err))
            return s_fail (&err);
        printf ("created %s/%s.pub and %s/%s.secret (0600)\n", dir, id, dir, id);
    }
    return MACX_EX_OK;
}

static void
s_agency_json (const macx_agency_t *a)
{
    char h1[65], h2[65];
    macx_hex_encode (a->sign_pk, 32, h1);
    macx_hex_encode (a->box_pk, 32, h2);
    printf ("{\"agency\":");
    macx_json_str (stdout, a->id);
    printf (",\"kind\":\"%s\",\"sign_public\":\"%s\",\"box_public\":\"%s\",\"curve_public\":",
            a->kind, h1, h2);
    macx_json_str (stdout, a->curve_z85);
    printf (",\"revoked\":%s", a->revoked ? "true" : "false");
    if (a->revoked) {
        printf (",\"revoked_reason\":");
        macx_json_str (stdout, a->revoked_reason);
    }
    printf ("}");
}

/* Parses `DIR [ID] [--json]`; returns the exit code on usage error or -1. */
static int
s_dir_args (const macx_cmd_t *self, int argc, char **argv, const char **dir, const char **id,
            int *json)
{
    int c;
    *json = 0;
    while ((c = macx_cli_getopt (self, argc, argv)) != -1)
        *json = 1;   /* --json, the only option */
    int bad = macx_cli_args (self, argc, argv, id ? "DIR ID" : "DIR");
    if (bad >= 0)
        return bad;
    *dir = argv[optind];
    if (id)
        *id = argv[optind + 1];
    return -1;
}

static int
s_list (const macx_cmd_t *self, int argc, char **argv)
{
    const char *dir;
    int json, rc = s_dir_args (self, argc, argv, &dir, NULL, &json);
    if (rc >= 0)
        return rc;
    macx_error_t err = { 0 };
    macx_registry_t *reg = macx_registry_load (dir, &err);
    if (!reg)
        return s_fail (&err);
    size_t n = macx_registry_size (reg);
    if (json)
        printf ("[");
    else
        printf ("%-20s %-16s %-8s %s\n", "AGENCY", "KIND", "STATUS", "CURVE PUBLIC KEY");
    for (size_t i = 0; i < n; i++) {
        const macx_agency_t *a = macx_registry_at (reg, i);
        if (json) {
            printf (i ? "," : "");
            s_agency_json (a);
        }
        else
            printf ("%-20s %-16s %-8s %s\n", a->id, a->kind, a->revoked ? "revoked" : "active",
                    a->curve_z85);
    }
    if (json)
        printf ("]\n");
    macx_registry_destroy (&reg);
    return MACX_EX_OK;
}

static int
s_show (const macx_cmd_t *self, int argc, char **argv)
{
    const char *dir, *id;
    int json, rc = s_dir_args (self, argc, argv, &dir, &id, &json);
    if (rc >= 0)
        return rc;
    macx_error_t err = { 0 };
    macx_registry_t *reg = macx_registry_load (dir, &err);
    if (!reg)
        return s_fail (&err);
    const macx_agency_t *a = macx_registry_find (reg, id);
    if (!a) {
        fprintf (stderr, "macx keys: no agency '%s' in %s\n", id, dir);
        macx_registry_destroy (&reg);
        return MACX_EX_NOINPUT;
    }
    char path[4096], secret[64];
    struct stat st;
    snprintf (path, sizeof path, "%s/%s.secret", dir, id);
    if (stat (path, &st) != 0)
        snprintf (secret, sizeof secret, "absent");
    else
        snprintf (secret, sizeof secret, "present, mode %04o%s", (unsigned) (st.st_mode & 07777),
                  st.st_mode & 077 ? " (TOO OPEN: chmod 600)" : "");
    if (json) {
        s_agency_json (a);
        printf ("\n");
    }
    else {
        char h[65];
        printf ("agency       %s\nkind         %s\nstatus       %s%s%s\n", a->id, a->kind,
                a->revoked ? "revoked" : "active", a->revoked ? ": " : "",
                a->revoked ? a->revoked_reason : "");
        macx_hex_encode (a->sign_pk, 32, h);
        printf ("sign public  %s (Ed25519)\n", h);
        macx_hex_encode (a->box_pk, 32, h);
        printf ("box public   %s (X25519)\ncurve public %s (Z85)\nsecret file  %s\n", h,
                a->curve_z85, secret);
    }
    macx_registry_destroy (&reg);
    return MACX_EX_OK;
}

static const struct option s_revoke_opts[] = { { "reason", required_argument, NULL, 'r' }, { 0 } };

static int
s_revoke (const macx_cmd_t *self, int argc, char **argv)
{
    const char *reason = NULL;
    int c, bad;
    while ((c = macx_cli_getopt (self, argc, argv)) != -1)
        reason = optarg;   /* --reason, the only option */
    if ((bad = macx_cli_args (self, argc, argv, "DIR ID")) >= 0)
        return bad;
    macx_error_t err = { 0 };
    if (macx_keys_revoke (argv[optind], argv[optind + 1], reason, &err))
        return s_fail (&err);
    printf ("revoked %s\n", argv[optind + 1]);
    return MACX_EX_OK;
}

static const struct option s_json_opts[] = { { "json", no_argument, NULL, 'j' }, { 0 } };

static const macx_cmd_t s_verbs[] = {
    { .name = "keys init", .fn = s_init, .summary = "create key pairs for agencies",
      .opts = s_init_opts, .shortopts = "a:",
      .synopsis = "macx keys init DIR --agency ID:KIND [--agency ID:KIND ...]",
      .description =
          "Creates key pairs for each agency in DIR (created 0700 if missing): an\n"
          "Ed25519 signing key, an X25519 key for payload key wrapping and a CURVE key\n"
          "for ZeroMQ transport, in ID.pub (shareable) and ID.secret (mode 0600).\n"
          "KIND (mi5, ctp, local_authority, ogd, provider, broker) is required and recorded\n"
          "in ID.pub: an agency's kind is declared, never read from its id.\n",
      .examples = "macx keys init demo/keys --agency broker:broker --agency mi5:mi5 --agency ctp:ctp\n"
                  "macx keys init demo/keys --agency ogd-dwp:ogd --agency council-x:local_authority\n",
      .exits = "0 created\n64 usage error\n65 an agency already has keys, or a bad id or kind\n"
               "74 DIR cannot be written\n" },
    { .name = "keys list", .fn = s_list, .summary = "list the agencies in a key directory",
      .opts = s_json_opts, .synopsis = "macx keys list DIR [--json]",
      .description = "Lists the agencies registered in DIR: id, kind, status (active or\n"
                     "revoked) and CURVE public key.\n",
      .examples = "macx keys list demo/keys\n",
      .exits = "0 listed\n64 usage error\n65 a key file is malformed\n66 DIR does not exist\n" },
    { .name = "keys show", .fn = s_show, .summary = "show one agency's public identity",
      .opts = s_json_opts, .synopsis = "macx keys show DIR ID [--json]",
      .description = "Shows one agency's public keys, status and whether its secret file is\n"
                     "present with safe permissions. Never prints a secret.\n",
      .examples = "macx keys show demo/keys mi5\n",
      .exits = "0 shown\n64 usage error\n65 a key file is malformed\n"
               "66 DIR does not exist, or has no agency ID\n" },
    { .name = "keys revoke", .fn = s_revoke, .summary = "revoke an agency",
      .opts = s_revoke_opts, .shortopts = "r:",
      .synopsis = "macx keys revoke DIR ID [--reason TEXT]",
      .description = "Adds ID to DIR/revoked. Every consumer of DIR refuses a revoked agency:\n"
                     "the broker will not admit its transport key, and records it signed are\n"
                     "refused from then on. A broker running on DIR sees it within a second,\n"
                     "without a restart: it closes the agency's open connections and audits\n"
                     "the revocation (docs/operations.md, \"Reloading keys and policy\").\n",
      .examples = "macx keys revoke demo/keys la-london --reason \"key lost\"\n",
      .exits = "0 revoked\n64 usage error\n66 DIR does not exist, or has no agency ID\n"
               "74 DIR/revoked cannot be written\n" },
};

const macx_cmd_t macx_cmd_keys = {
    .name = "keys", .summary = "create, list, show and revoke agency identities",
    .synopsis = "macx keys <command> [<args>]",
    .description =
        "Agency identities: per agency an Ed25519 signing key, an X25519 key for\n"
        "payload key wrapping and a CURVE key for ZeroMQ transport, in a key\n"
        "directory (ID.pub shareable, ID.secret mode 0600, `revoked` list).\n",
    .examples = "macx keys init demo/keys --agency broker:broker --agency mi5:mi5\nmacx keys list demo/keys\n",
    .exits = "0 done\n64 no command, or an unknown one (each command's page lists its own)\n",
    .verbs = s_verbs, .nverbs = (int) (sizeof s_verbs / sizeof s_verbs[0]),
};
