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

static const char s_usage[] =
    "usage: macx keys <command> [<args>]\n\n"
    "Agency identities: per agency an Ed25519 signing key, an X25519 key for\n"
    "payload key wrapping and a CURVE key for ZeroMQ transport, in a key\n"
    "directory (ID.pub shareable, ID.secret mode 0600, `revoked` list).\n";

static int
s_fail (const macx_error_t *err)
{
    fprintf (stderr, "macx keys: %s\n", macx_error_text (err));
    return macx_exit_code (err->code);
}

static int
s_init (int argc, char **argv)
{
    static const char usage[] =
        "usage: macx keys init DIR --agency ID[:KIND] [--agency ID[:KIND] ...]\n\n"
        "Creates key pairs for each agency in DIR (created 0700 if missing).\n"
        "KIND (mi5, ctp, local_authority, ogd, broker) is derived from the id's\n"
        "prefix (mi5, ctp, la-*, ogd-*, broker) unless given.\n"
        "Exits 65 if an agency already has keys.\n";
    static const struct option opts[] = {
        { "agency", required_argument, NULL, 'a' }, { "help", no_argument, NULL, 'h' }, { 0 }
    };
    char *agencies[256];
    int n = 0, c;
    optind = 0;
    while ((c = getopt_long (argc, argv, "a:h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs (usage, stdout);
            return MACX_EX_OK;
        }
        if (c != 'a' || n == 256) {
            fputs (usage, stderr);
            return MACX_EX_USAGE;
        }
        agencies[n++] = optarg;
    }
    if (optind != argc - 1 || n == 0) {
        fprintf (stderr, "macx keys init: need a directory and at least one --agency\n%s", usage);
        return MACX_EX_USAGE;
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
s_dir_args (int argc, char **argv, const char *usage, int want_id, const char **dir,
            const char **id, int *json)
{
    bool j;
    int rc = macx_cli_positional (argc, argv, usage, 1 + want_id, &j);
    if (rc >= 0)
        return rc;
    *json = j;
    *dir = argv[optind];
    if (want_id)
        *id = argv[optind + 1];
    return -1;
}

static int
s_list (int argc, char **argv)
{
    static const char usage[] =
        "usage: macx keys list DIR [--json]\n\nLists the agencies registered in DIR.\n";
    const char *dir, *id = NULL;
    int json, rc = s_dir_args (argc, argv, usage, 0, &dir, &id, &json);
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
s_show (int argc, char **argv)
{
    static const char usage[] =
        "usage: macx keys show DIR ID [--json]\n\n"
        "Shows one agency's public keys, status and whether its secret file is\n"
        "present with safe permissions. Never prints a secret.\n";
    const char *dir, *id;
    int json, rc = s_dir_args (argc, argv, usage, 1, &dir, &id, &json);
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

static int
s_revoke (int argc, char **argv)
{
    static const char usage[] =
        "usage: macx keys revoke DIR ID [--reason TEXT]\n\n"
        "Adds ID to DIR/revoked. Every consumer of DIR refuses a revoked agency:\n"
        "the broker will not admit its transport key, and records it signed are\n"
        "refused from then on.\n";
    static const struct option opts[] = {
        { "reason", required_argument, NULL, 'r' }, { "help", no_argument, NULL, 'h' }, { 0 }
    };
    const char *reason = NULL;
    int c;
    optind = 0;
    while ((c = getopt_long (argc, argv, "r:h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs (usage, stdout);
            return MACX_EX_OK;
        }
        if (c != 'r') {
            fputs (usage, stderr);
            return MACX_EX_USAGE;
        }
        reason = optarg;
    }
    if (argc - optind != 2) {
        fputs (usage, stderr);
        return MACX_EX_USAGE;
    }
    macx_error_t err = { 0 };
    if (macx_keys_revoke (argv[optind], argv[optind + 1], reason, &err))
        return s_fail (&err);
    printf ("revoked %s\n", argv[optind + 1]);
    return MACX_EX_OK;
}

static const macx_verb_t s_verbs[] = {
    { "init",   s_init,   "create key pairs for agencies" },
    { "list",   s_list,   "list the agencies in a key directory" },
    { "show",   s_show,   "show one agency's public identity" },
    { "revoke", s_revoke, "revoke an agency" },
};

int
macx_cmd_keys (int argc, char **argv)
{
    return macx_cli_dispatch ("keys", s_usage, s_verbs, (int) (sizeof s_verbs / sizeof s_verbs[0]),
                              argc, argv);
}
