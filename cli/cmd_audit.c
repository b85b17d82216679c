/* cmd_audit.c -- `macx audit`: verify, show and export the broker's audit
 * log. Parsing only; reading and verifying live in audit/. */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cli.h"
#include "json.h"

static int
s_fail (const char *verb, const macx_error_t *err)
{
    fprintf (stderr, "macx audit %s: %s\n", verb, macx_error_text (err));
    return macx_exit_code (err->code);
}

static const struct option s_verify_opts[] = {
    { "keys", required_argument, NULL, 'k' }, { "broker-id", required_argument, NULL, 'b' },
    { "json", no_argument, NULL, 'j' }, { 0 }
};

static int
s_verify (const macx_cmd_t *self, int argc, char **argv)
{
    const char *keydir = NULL, *broker_id = "broker";
    int json = 0, c, bad;
    while ((c = macx_cli_getopt (self, argc, argv)) != -1) {
        switch (c) {
        case 'k': keydir = optarg; break;
        case 'b': broker_id = optarg; break;
        case 'j': json = 1; break;
        }
    }
    if ((bad = macx_cli_args (self, argc, argv, "DATA_DIR")) >= 0)
        return bad;
    if (!keydir)
        return macx_cli_usage (self, "--keys KEYDIR is required (the broker's public key is there)");
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

/* What a filter's value must name: one of the events the broker writes,
 * and an agency or case the log holds (a typo would otherwise match
 * nothing, silently). */
static const char *const s_events[] = { "accept", "refuse", "deliver", "purge",
                                        "receipt_refused", "disconnect", "complaint",
                                        "complaint_refused", "start", "stop" };
#define S_NEVENTS (sizeof s_events / sizeof s_events[0])

typedef struct {
    const char *want;            /* the agency or case looked for */
    bool agency;
    bool found;
    char seen[1024];             /* the first few distinct values, comma-separated */
    int nseen;
} s_known_t;

static void
s_known_add (s_known_t *k, const char *v)
{
    if (!v || !*v)
        return;
    if (strcmp (v, k->want) == 0)
        k->found = true;
    char padded[300];
    snprintf (padded, sizeof padded, ", %s,", v);
    char list[1030];
    snprintf (list, sizeof list, ", %s,", k->seen);
    if (strstr (list, padded) || k->nseen >= 12 || strlen (k->seen) + strlen (v) + 3 >= sizeof k->seen)
        return;
    snprintf (k->seen + strlen (k->seen), sizeof k->seen - strlen (k->seen), "%s%s",
              k->nseen++ ? ", " : "", v);
}

static int
s_known_one (const Macx__AuditEntry *e, void *arg)
{
    s_known_t *k = arg;
    if (k->agency) {
        s_known_add (k, e->peer);
        s_known_add (k, e->sender);
        s_known_add (k, e->recipient);
        for (size_t i = 0; i < e->n_recipients; i++)
            s_known_add (k, e->recipients[i]);
    }
    else
        s_known_add (k, e->case_id);
    return k->found;   /* stop at the first entry that names it */
}

/* Returns -1 when the log names `want` (an agency, or a case), else 64
 * after saying what the log does name. */
static int
s_check_known (const macx_cmd_t *self, macx_audit_reader_t *reader, const char *dir,
               const char *want, bool agency)
{
    s_known_t k = { .want = want, .agency = agency };
    macx_error_t err = { 0 };
    if (macx_audit_scan (reader, NULL, s_known_one, &k, &err) < 0 || k.found)
        return -1;
    return macx_cli_usage (self, "no entry in %s names %s '%s'; %s %s%s", dir,
                           agency ? "agency" : "case", want,
                           k.nseen ? (agency ? "its agencies are" : "its cases include")
                                   : "the log has no",
                           k.nseen ? k.seen : (agency ? "agencies yet" : "cases yet"),
                           k.nseen == 12 ? ", ..." : "");
}

static const struct option s_show_opts[] = {
    { "case", required_argument, NULL, 'c' },  { "agency", required_argument, NULL, 'a' },
    { "event", required_argument, NULL, 'e' }, { "since", required_argument, NULL, 's' },
    { "from", required_argument, NULL, 'f' },  { "limit", required_argument, NULL, 'n' },
    { "json", no_argument, NULL, 'j' }, { 0 }
};

static int
s_show (const macx_cmd_t *self, int argc, char **argv)
{
    macx_audit_filter_t f = { 0 };
    s_show_t show = { 0 };
    long long v;
    int c, bad = -1;
    while (bad < 0 && (c = macx_cli_getopt (self, argc, argv)) != -1) {
        switch (c) {
        case 'c': f.case_id = optarg; break;
        case 'a': f.agency = optarg; break;
        case 'j': show.json = 1; break;
        case 'e': {
            f.event = optarg;
            size_t i = 0;
            while (i < S_NEVENTS && strcmp (optarg, s_events[i]) != 0)
                i++;
            if (i == S_NEVENTS) {
                const char *near = NULL;
                for (i = 0; i < S_NEVENTS && !near; i++)
                    if (strncmp (optarg, s_events[i], strlen (s_events[i])) == 0
                        || strncmp (optarg, s_events[i], strlen (optarg)) == 0)
                        near = s_events[i];
                char hint[64] = "", list[256] = "";
                if (near)
                    snprintf (hint, sizeof hint, "did you mean '%s'? ", near);
                for (i = 0; i < S_NEVENTS; i++)   /* "a, b and c", from the table */
                    snprintf (list + strlen (list), sizeof list - strlen (list), "%s%s",
                              i == 0 ? "" : i + 1 == S_NEVENTS ? " and " : ", ", s_events[i]);
                bad = macx_cli_usage (self, "unknown event '%s' (%sevents are %s)", optarg, hint,
                                      list);
            }
            break;
        }
        case 's':
            if (macx_audit_parse_time (optarg, &f.since_ms))
                bad = macx_cli_usage (self, "--since must be a UTC date (2026-11-27) or "
                                      "date-time (2026-11-27T10:00:00Z), not '%s'", optarg);
            break;
        case 'f':
            if ((bad = macx_cli_long (self, "from", optarg, 0, LLONG_MAX, &v)) < 0)
                f.from_seq = (uint64_t) v;
            break;
        case 'n':
            if ((bad = macx_cli_long (self, "limit", optarg, 0, LLONG_MAX, &v)) < 0)
                f.limit = (uint64_t) v;
            break;
        }
    }
    if (bad >= 0 || (bad = macx_cli_args (self, argc, argv, "DATA_DIR")) >= 0)
        return bad;
    const char *dir = argv[optind];
    macx_error_t err = { 0 };
    macx_audit_reader_t *reader = macx_audit_reader_open (dir, &err);
    if (!reader)
        return s_fail ("show", &err);
    int rc = 0;
    if (f.agency)
        bad = s_check_known (self, reader, dir, f.agency, true);
    if (bad < 0 && f.case_id)
        bad = s_check_known (self, reader, dir, f.case_id, false);
    if (bad < 0)
        rc = macx_audit_scan (reader, &f, s_show_one, &show, &err);
    macx_audit_reader_destroy (&reader);
    if (bad >= 0)
        return bad;
    if (rc)
        return s_fail ("show", &err);
    return MACX_EX_OK;
}

static const struct option s_json_opts[] = { { "json", no_argument, NULL, 'j' }, { 0 } };

static int
s_export (const macx_cmd_t *self, int argc, char **argv)
{
    while (macx_cli_getopt (self, argc, argv) != -1)
        ;   /* --json: JSON lines are the only format */
    int bad = macx_cli_args (self, argc, argv, "DATA_DIR");
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

static const macx_cmd_t s_verbs[] = {
    { .name = "audit verify", .fn = s_verify,
      .summary = "check every hash, link and checkpoint signature", .opts = s_verify_opts,
      .shortopts = "k:b:j", .synopsis = "macx audit verify DATA_DIR --keys KEYDIR [--broker-id ID] [--json]",
      .description =
          "Checks every entry of the audit log in DATA_DIR (the broker's --data\n"
          "directory): sequence numbers without gaps, each entry's link to the one\n"
          "before, each entry's hash against its contents, and each checkpoint's\n"
          "signature by the broker (agency ID, default `broker`, public key from\n"
          "KEYDIR) and its head against the stored chain. Entries after the last\n"
          "checkpoint are chained but not yet signed; the summary says how many. A\n"
          "broken log is named on stderr: \"audit log broken at entry N: ...\".\n",
      .examples = "macx audit verify out/baseline/broker/data --keys out/baseline/keys\n",
      .exits = "0 intact\n64 usage error\n65 broken: the first bad entry is named on stderr\n"
               "66 no store in DATA_DIR, or no agency ID in KEYDIR\n" },
    { .name = "audit show", .fn = s_show,
      .summary = "print entries, filtered by case, agency, event, time", .opts = s_show_opts,
      .shortopts = "c:a:e:s:f:n:j",
      .synopsis = "macx audit show DATA_DIR [--case C] [--agency A] [--event E]\n"
                  "                       [--since T] [--from SEQ] [--limit N] [--json]",
      .description =
          "Prints the audit entries that match every filter given, in sequence order,\n"
          "one line each (JSON lines with --json). --agency matches the authenticated\n"
          "peer, the sender, any recipient, or the recipient of a delivery or purge.\n"
          "--event is accept, refuse, deliver, purge, receipt_refused, disconnect (a\n"
          "peer cut off for a limit), complaint (a recipient's manifest complaint the\n"
          "broker upheld against the record's sender, with what differs),\n"
          "complaint_refused (one whose evidence did not hold, with its reason), start\n"
          "or stop.\n"
          "T is a UTC date or date-time: 2026-11-27 or 2026-11-27T10:00:00Z (the wall\n"
          "time of the entry). An agency or case that no entry names is refused, with\n"
          "the ones the log does name, rather than matching nothing. Does not verify\n"
          "the chain: run `macx audit verify` for that.\n",
      .examples = "macx audit show out/baseline/broker/data --event refuse\n"
                  "macx audit show out/baseline/broker/data --event complaint --agency mi5 --json\n"
                  "macx audit show out/baseline/broker/data --agency ogd-dwp --limit 20 --json\n",
      .exits = "0 printed (possibly nothing, when the filters together match no entry)\n"
               "64 usage error, an unknown event, or an agency or case no entry names\n"
               "66 no store in DATA_DIR\n" },
    { .name = "audit export", .fn = s_export,
      .summary = "write the whole log and its checkpoints as JSON lines", .opts = s_json_opts,
      .synopsis = "macx audit export DATA_DIR [--json]",
      .description =
          "Writes the whole audit log as JSON lines (the only format; --json is\n"
          "accepted for clarity), in sequence order, each checkpoint right after the\n"
          "entry it covers:\n"
          "  {\"type\":\"entry\",\"seq\":...,<every field>,\"prev_hash\":...,\"hash\":...,\"raw\":...}\n"
          "  {\"type\":\"checkpoint\",\"seq\":...,\"head\":...,\"time_ms\":...,\"broker\":...,\n"
          "   \"signature\":...}\n"
          "\"raw\" is the serialised entry in hex, so the chain can be re-verified\n"
          "elsewhere. Does not verify: run `macx audit verify` for that.\n",
      .examples = "macx audit export out/baseline/broker/data > audit.jsonl\n",
      .exits = "0 written\n64 usage error\n66 no store in DATA_DIR\n74 write error\n" },
};

const macx_cmd_t macx_cmd_audit = {
    .name = "audit", .summary = "verify, show and export the broker's audit log",
    .synopsis = "macx audit <command> [<args>]",
    .description =
        "The broker's audit log: one entry per accept, refusal, delivery and purge,\n"
        "each chained to the one before by a BLAKE2b hash, with checkpoints of the\n"
        "chain head signed by the broker. Read-only: safe while the broker runs.\n",
    .examples = "macx audit verify out/baseline/broker/data --keys out/baseline/keys\n",
    .exits = "0 done\n64 no command, or an unknown one (each command's page lists its own)\n",
    .verbs = s_verbs, .nverbs = (int) (sizeof s_verbs / sizeof s_verbs[0]),
};
