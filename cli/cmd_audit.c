/* cmd_audit.c -- `macx audit`: verify, show and export the broker's audit
 * log. Parsing only; reading and verifying live in audit/. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cli.h"
#include "json.h"

static const char s_usage[] =
    "usage: macx audit <command> [<args>]\n\n"
    "The broker's audit log: one entry per accept, refusal, delivery and purge,\n"
    "each chained to the one before by a BLAKE2b hash, with checkpoints of the\n"
    "chain head signed by the broker. Read-only: safe while the broker runs.\n";

static int
s_fail (const char *verb, const macx_error_t *err)
{
    fprintf (stderr, "macx audit %s: %s\n", verb, macx_error_text (err));
    return macx_exit_code (err->code);
}

static int
s_verify (int argc, char **argv)
{
    static const char usage[] =
        "usage: macx audit verify DATA_DIR --keys KEYDIR [--broker-id ID] [--json]\n\n"
        "Checks every entry of the audit log in DATA_DIR (the broker's --data\n"
        "directory): sequence numbers without gaps, each entry's link to the one\n"
        "before, each entry's hash against its contents, and each checkpoint's\n"
        "signature by the broker (agency ID, default `broker`, public key from\n"
        "KEYDIR) and its head against the stored chain.\n"
        "Entries after the last checkpoint are chained but not yet signed; the\n"
        "summary says how many.\n\n"
        "Exits 0 when intact; 65 when not, naming the first bad entry on stderr\n"
        "(\"audit log broken at entry N: ...\"); 66 if there is no store.\n";
    static const struct option opts[] = {
        { "keys", required_argument, NULL, 'k' }, { "broker-id", required_argument, NULL, 'b' },
        { "json", no_argument, NULL, 'j' },       { "help", no_argument, NULL, 'h' },
        { 0 }
    };
    const char *keydir = NULL, *broker_id = "broker";
    int json = 0, c;
    optind = 0;
    while ((c = getopt_long (argc, argv, "k:b:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'h': fputs (usage, stdout); return MACX_EX_OK;
        case 'k': keydir = optarg; break;
        case 'b': broker_id = optarg; break;
        case 'j': json = 1; break;
        default: fputs (usage, stderr); return MACX_EX_USAGE;
        }
    }
    if (argc - optind != 1 || !keydir) {
        fprintf (stderr, "macx audit verify: need DATA_DIR and --keys KEYDIR\n%s", usage);
        return MACX_EX_USAGE;
    }
    macx_error_t err = { 0 };
    macx_registry_t *reg = macx_registry_load (keydir, &err);
    if (!reg)
        return s_fail ("verify", &err);
    const macx_agency_t *broker = macx_registry_find (reg, broker_id);
    if (!broker) {
        fprintf (stderr, "macx audit verify: no agency '%s' in %s (see --broker-id)\n", broker_id,
                 keydir);
        macx_registry_destroy (&reg);
        return MACX_EX_NOINPUT;
    }
    if (broker->revoked)
        fprintf (stderr, "macx audit verify: note: '%s' is revoked (%s); checking its signatures "
                         "with its registered key all the same\n", broker->id,
                 broker->revoked_reason);
    macx_audit_reader_t *reader = macx_audit_reader_open (argv[optind], &err);
    if (!reader) {
        macx_registry_destroy (&reg);
        return s_fail ("verify", &err);
    }
    macx_audit_report_t r;
    int rc = macx_audit_verify (reader, broker, &r, &err);
    macx_audit_reader_destroy (&reader);
    macx_registry_destroy (&reg);
    int broken = rc != 0 && r.first_bad != 0;
    if (rc != 0 && !broken)
        return s_fail ("verify", &err);
    if (json) {
        printf ("{\"intact\":%s,\"entries\":%" PRIu64 ",\"checkpoints\":%" PRIu64
                ",\"last_checkpoint\":%" PRIu64 ",\"unsigned_tail\":%" PRIu64
                ",\"first_bad\":%" PRIu64 ",\"problem\":",
                broken ? "false" : "true", r.entries, r.checkpoints, r.last_checkpoint,
                r.unsigned_tail, r.first_bad);
        macx_json_str (stdout, broken ? r.problem : NULL);
        printf ("}\n");
    }
    if (broken) {
        fprintf (stderr, "audit log broken at entry %" PRIu64 ": %s\n", r.first_bad, r.problem);
        if (!json)
            fprintf (stderr, "(%" PRIu64 " entries and %" PRIu64 " checkpoints before it are "
                             "intact)\n", r.entries, r.checkpoints);
        return MACX_EX_DATAERR;
    }
    if (!json) {
        printf ("audit log intact: %" PRIu64 " entries, %" PRIu64 " signed checkpoints\n",
                r.entries, r.checkpoints);
        if (r.last_checkpoint)
            printf ("last checkpoint at entry %" PRIu64 "\n", r.last_checkpoint);
        else
            printf ("no checkpoint yet\n");
        printf ("unsigned tail: %" PRIu64 " entries after the last checkpoint (chained, not yet "
                "signed)\n", r.unsigned_tail);
    }
    return MACX_EX_OK;
}

typedef struct {
    int json;
} s_show_t;

static int
s_show_one (const Macx__AuditEntry *entry, void *arg)
{
    const s_show_t *show = arg;
    macx_audit_print_entry (stdout, entry, show->json);
    putchar ('\n');
    return 0;
}

static int
s_show (int argc, char **argv)
{
    static const char usage[] =
        "usage: macx audit show DATA_DIR [--case C] [--agency A] [--event E]\n"
        "                       [--since T] [--from SEQ] [--limit N] [--json]\n\n"
        "Prints the audit entries that match every filter given, in sequence order,\n"
        "one line each (JSON lines with --json). --agency matches the authenticated\n"
        "peer, the sender, any recipient, or the recipient of a delivery or purge.\n"
        "--event is accept, refuse, deliver, purge, start, stop, receipt_refused.\n"
        "T is a UTC date or date-time: 2026-11-27 or 2026-11-27T10:00:00Z.\n"
        "Does not verify the chain: run `macx audit verify` for that.\n";
    static const struct option opts[] = {
        { "case", required_argument, NULL, 'c' },  { "agency", required_argument, NULL, 'a' },
        { "event", required_argument, NULL, 'e' }, { "since", required_argument, NULL, 's' },
        { "from", required_argument, NULL, 'f' },  { "limit", required_argument, NULL, 'n' },
        { "json", no_argument, NULL, 'j' },        { "help", no_argument, NULL, 'h' },
        { 0 }
    };
    macx_audit_filter_t f = { 0 };
    s_show_t show = { 0 };
    char *end;
    int c;
    optind = 0;
    while ((c = getopt_long (argc, argv, "c:a:e:s:f:n:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'h': fputs (usage, stdout); return MACX_EX_OK;
        case 'c': f.case_id = optarg; break;
        case 'a': f.agency = optarg; break;
        case 'e': f.event = optarg; break;
        case 'j': show.json = 1; break;
        case 's':
            if (macx_audit_parse_time (optarg, &f.since_ms)) {
                fprintf (stderr, "macx audit show: --since '%s' is not a UTC date "
                                 "(2026-11-27) or date-time (2026-11-27T10:00:00Z)\n", optarg);
                return MACX_EX_USAGE;
            }
            break;
        case 'f':
        case 'n': {
            unsigned long long v = strtoull (optarg, &end, 10);
            if (*optarg < '0' || *optarg > '9' || *end) {
                fprintf (stderr, "macx audit show: --%s needs a number, not '%s'\n",
                         c == 'f' ? "from" : "limit", optarg);
                return MACX_EX_USAGE;
            }
            if (c == 'f')
                f.from_seq = v;
            else
                f.limit = v;
            break;
        }
        default: fputs (usage, stderr); return MACX_EX_USAGE;
        }
    }
    if (argc - optind != 1) {
        fputs (usage, stderr);
        return MACX_EX_USAGE;
    }
    macx_error_t err = { 0 };
    macx_audit_reader_t *reader = macx_audit_reader_open (argv[optind], &err);
    if (!reader)
        return s_fail ("show", &err);
    int rc = macx_audit_scan (reader, &f, s_show_one, &show, &err);
    macx_audit_reader_destroy (&reader);
    if (rc)
        return s_fail ("show", &err);
    return MACX_EX_OK;
}

static int
s_export (int argc, char **argv)
{
    static const char usage[] =
        "usage: macx audit export DATA_DIR [--json]\n\n"
        "Writes the whole audit log as JSON lines (the only format; --json is\n"
        "accepted for clarity), in sequence order, each checkpoint right after the\n"
        "entry it covers:\n"
        "  {\"type\":\"entry\",\"seq\":...,<every field>,\"prev_hash\":...,\"hash\":...,\"raw\":...}\n"
        "  {\"type\":\"checkpoint\",\"seq\":...,\"head\":...,\"time_ms\":...,\"broker\":...,"
        "\"signature\":...}\n"
        "\"raw\" is the serialised entry in hex, so the chain can be re-verified\n"
        "elsewhere. Does not verify: run `macx audit verify` for that.\n";
    int bad = macx_cli_positional (argc, argv, usage, 1, NULL);   /* always JSON lines */
    if (bad >= 0)
        return bad;
    macx_error_t err = { 0 };
    macx_audit_reader_t *reader = macx_audit_reader_open (argv[optind], &err);
    if (!reader)
        return s_fail ("export", &err);
    int rc = macx_audit_export (reader, stdout, &err);
    macx_audit_reader_destroy (&reader);
    return rc ? s_fail ("export", &err) : MACX_EX_OK;
}

static const macx_verb_t s_verbs[] = {
    { "verify", s_verify, "check every hash, link and checkpoint signature" },
    { "show",   s_show,   "print entries, filtered by case, agency, event, time" },
    { "export", s_export, "write the whole log and its checkpoints as JSON lines" },
};

int
macx_cmd_audit (int argc, char **argv)
{
    return macx_cli_dispatch ("audit", s_usage, s_verbs, (int) (sizeof s_verbs / sizeof s_verbs[0]),
                              argc, argv);
}
