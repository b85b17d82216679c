/* test_sim.c -- the pilot report, on a run directory built by hand: a broker
 * store written with the audit writer, agencies' outcomes.jsonl and run.json,
 * with planted latencies the report must find exactly: phase starts at the
 * least stamp whatever the audit order, the panel's end at the latest
 * arrival of CTP's panel records, skipped phases, stalled and open cases,
 * the CSV rows, report.json against docs/report.schema.json, the same
 * report byte for byte from the same entries in another order, an old
 * wall-clock run.json refused, the HTML's charts and escaping, and
 * compare's deltas. Also the JSON reader's edge cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <lmdb.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "clock.h"
#include "file.h"
#include "jsonl.h"
#include "keys.h"
#include "report.h"
#include "test_kind.h"

#define DAY    86400000.0
#define SCALE  50.0                      /* fake wall ms per simulated day, for time_ms */
#define T0     1800000000000LL           /* fake wall ms at simulated time 0 */
#define OFF_CLOCK (-1e6)                 /* a spec's day: stamped 0, outside the simulated clock */

static int64_t s_start_ms;               /* 2026-01-05 */

/* ---- building a run directory ---------------------------------------------- */

static void
s_rmrf (const char *dir)
{
    DIR *d = opendir (dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir (d))) {
        if (strcmp (e->d_name, ".") == 0 || strcmp (e->d_name, "..") == 0)
            continue;
        char path[1024];
        snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat (path, &st) == 0 && S_ISDIR (st.st_mode))
            s_rmrf (path);
        else
            unlink (path);
    }
    closedir (d);
    rmdir (dir);
}

static void
s_write (const char *path, const char *text)
{
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs (text, f);
    assert_int_equal (fclose (f), 0);
}

static char *
s_slurp (const char *path)
{
    char *data = NULL;
    size_t len = 0;
    macx_error_t err = { 0 };
    assert_int_equal (macx_file_read (path, 16u << 20, &data, &len, &err), 0);
    return data;
}

typedef struct {
    macx_audit_t *audit;
    MDB_txn *txn;
    MDB_env *env;
    macx_identity_t *broker;
} s_store_t;

/* One audit entry to plant. accept/refuse: stamped at simulated day `day`
 * (clock_ms, and the sender's sim_ms claim), taken by the broker at a wall
 * time derived from it (time_ms), created `overhead` wall ms before.
 * deliver: of a record stamped at `day`, reaching its recipient at
 * `arrive`. recips is a ';'-separated list (deliver: the one recipient).
 * day OFF_CLOCK: stamped 0. wall, when not 0, overrides the wall time (to
 * show it is not used). */
typedef struct {
    const char *event, *sender, *recips;
    int phase;
    const char *case_id, *subject;
    double day, arrive;
    int overhead;
    uint64_t seq;
    int64_t wall;
} s_spec_t;

static void
s_append (s_store_t *st, const s_spec_t *sp)
{
    char buf[256], *list[8], *save = NULL;
    size_t n = 0;
    snprintf (buf, sizeof buf, "%s", sp->recips ? sp->recips : "");
    for (char *t = strtok_r (buf, ";", &save); t && n < 8; t = strtok_r (NULL, ";", &save))
        list[n++] = t;
    Macx__AuditEntry e = MACX__AUDIT_ENTRY__INIT;
    bool deliver = strcmp (sp->event, "deliver") == 0;
    e.event = (char *) sp->event;
    e.sender = (char *) sp->sender;
    e.phase = (Macx__Phase) sp->phase;
    e.case_id = (char *) sp->case_id;
    e.subject = (char *) sp->subject;
    e.sequence = sp->seq;
    e.sim_ms = s_start_ms + (int64_t) llround (sp->day * DAY);
    e.clock_ms = e.sim_ms;
    if (sp->day == OFF_CLOCK)
        e.sim_ms = e.clock_ms = 0;
    if (deliver) {
        e.peer = n ? list[0] : "";
        e.recipient = e.peer;
        e.record_type = "plan";
        e.arrive_ms = s_start_ms + (int64_t) llround (sp->arrive * DAY);
        e.time_ms = T0 + (int64_t) llround (sp->arrive * SCALE);
        e.created_ms = e.arrive_ms;      /* the recipient's receipt time, as the broker logs it */
    }
    else {
        e.peer = (char *) sp->sender;
        e.recipients = list;
        e.n_recipients = n;
        e.record_type = "share";
        e.time_ms = T0 + (int64_t) llround (sp->day * SCALE);
        e.created_ms = e.time_ms - sp->overhead;
    }
    if (sp->wall)
        e.time_ms = sp->wall;
    if (strcmp (sp->event, "refuse") == 0) {
        e.decision = "deny";
        e.reason = MACX__REASON__AGREEMENT_NOT_IN_FORCE;
        e.agreement = "isa-la-birmingham";
    }
    uint64_t seq;
    macx_error_t err = { 0 };
    assert_int_equal (macx_audit_append (st->audit, st->txn, &e, &seq, &err), 0);
}

/* Appends one accept or refuse entry stamped at simulated day `day`. */
static void
s_entry (s_store_t *st, const char *event, const char *sender, const char *recips, int phase,
         const char *case_id, const char *subject, double day, int overhead)
{
    s_spec_t sp = { event, sender, recips, phase, case_id, subject, day, 0, overhead, 0, 0 };
    s_append (st, &sp);
}

/* A deliver of a record stamped at record_day, reaching recipient at day. */
static void
s_deliver (s_store_t *st, const char *sender, const char *recipient, int phase, const char *case_id,
           double record_day, double day)
{
    s_spec_t sp = { "deliver", sender, recipient, phase, case_id, NULL, record_day, day, 0, 0, 0 };
    s_append (st, &sp);
}

/* Opens RUN/broker/data (creating RUN, its keys and the store) for appends. */
static void
s_store_open (s_store_t *st, const char *run)
{
    char path[1024], keys[1024];
    assert_int_equal (mkdir (run, 0700), 0);
    snprintf (path, sizeof path, "%s/broker", run);
    assert_int_equal (mkdir (path, 0700), 0);
    snprintf (path, sizeof path, "%s/broker/data", run);
    assert_int_equal (mkdir (path, 0700), 0);
    snprintf (keys, sizeof keys, "%s/keys", run);
    macx_error_t err = { 0 };
    assert_int_equal (macx_keys_generate (keys, "broker", test_kind ("broker"), &err), 0);
    st->broker = macx_identity_load (keys, "broker", &err);
    assert_non_null (st->broker);
    assert_int_equal (mdb_env_create (&st->env), 0);
    assert_int_equal (mdb_env_set_maxdbs (st->env, MACX_AUDIT_MAXDBS), 0);
    assert_int_equal (mdb_env_set_mapsize (st->env, 16u << 20), 0);
    assert_int_equal (mdb_env_open (st->env, path, MDB_NOSYNC, 0600), 0);
    assert_int_equal (mdb_txn_begin (st->env, NULL, 0, &st->txn), 0);
    st->audit = macx_audit_attach (st->env, st->txn, &err);
    assert_non_null (st->audit);
}

static void
s_store_close (s_store_t *st)
{
    macx_error_t err = { 0 };
    assert_int_equal (macx_audit_checkpoint (st->audit, st->txn, st->broker, &err), 0);
    assert_int_equal (mdb_txn_commit (st->txn), 0);
    macx_audit_committed (st->audit);
    macx_audit_destroy (&st->audit);
    mdb_env_close (st->env);
    macx_identity_destroy (&st->broker);
}

/* RUN/run.json as `macx pilot run` writes it; the wall fields are fixed. */
static void
s_run_json (const char *run, const char *name)
{
    char path[1024], text[4096];
    snprintf (path, sizeof path, "%s/run.json", run);
    snprintf (text, sizeof text,
              "{\"name\": \"%s\", \"scenario\": \"scenarios/test/pilot.yaml\", \"seed\": 7, \"subjects\": 4,\n"
              " \"start_date\": \"2026-01-05\", \"end_date\": \"2026-07-04\", \"wall_pace_ms\": 0,\n"
              " \"wall_started_ms\": %lld, \"wall_finished_ms\": %lld,\n"
              " \"policy_dir\": \"scenarios/test/policy\", \"policy_hash\": \"abc123\", \"exit\": \"ok\",\n"
              " \"agencies\": [{\"id\": \"mi5\", \"kind\": \"mi5\", \"region\": \"national\"},\n"
              "   {\"id\": \"ctp\", \"kind\": \"ctp\", \"region\": \"national\"},\n"
              "   {\"id\": \"la-london\", \"kind\": \"local_authority\", \"region\": \"london\"}],\n"
              " \"macs\": [{\"id\": \"nmac\", \"name\": \"National MAC\", \"regions\": [\"london\"],"
              " \"members\": [\"la-london\"]}]}\n", name, (long long) T0, (long long) T0 + 2000);
    s_write (path, text);
}

enum { ID = 1, SH = 2, EN = 3, PR = 4, PA = 5 };

/* Builds RUN under root: x extra days before enrichment starts for C1, C2
 * and C4 (0 for the baseline run). Planted latencies (days), x = 0:
 *   C1  identification 2, sharing 3.5, enrichment 3.5, profiling 3, panel 3.5
 *       (panel ends at the later of two ctp deliveries, day 15.5)
 *   C2  identification 1, sharing 2, enrichment 6 (profiling skipped), panel 1
 *   C3  identification 1, then sharing open: refused twice, mi5 gave up
 *   C4  identification 1, sharing 1, enrichment open, nobody gave up */
static void
s_make_run (const char *run, const char *name, double x)
{
    char path[1024];
    s_store_t st;
    s_store_open (&st, run);

    /* C1: full workflow; a second identification record later must not count */
    s_entry (&st, "accept", "mi5", "ctp", ID, "C-2026-000001", "S-000001", 0.0, 3);
    s_entry (&st, "accept", "mi5", "ctp", ID, "C-2026-000001", "S-000001", 0.5, 3);
    s_entry (&st, "accept", "mi5", "la-london;ogd-dwp", SH, "C-2026-000001", "S-000001", 2.0, 3);
    s_entry (&st, "refuse", "mi5", "ogd-dwp", SH, "C-2026-000001", "S-000001", 2.0, 0);
    s_entry (&st, "accept", "la-london", "ctp", EN, "C-2026-000001", "S-000001", 5.5 + x, 3);
    s_deliver (&st, "la-london", "ctp", EN, "C-2026-000001", 5.5 + x, 5.6 + x);
    s_entry (&st, "accept", "ctp", "la-london;ogd-dwp", PR, "C-2026-000001", "S-000001", 9.0 + x, 3);
    s_entry (&st, "accept", "ctp", "la-london;ogd-dwp;mi5", PA, "C-2026-000001", "S-000001", 12.0 + x, 10);
    s_deliver (&st, "ctp", "la-london", PA, "C-2026-000001", 12.0 + x, 14.0 + x);
    s_deliver (&st, "ctp", "mi5", PA, "C-2026-000001", 12.0 + x, 15.5 + x);
    /* a partner's panel answer delivered later is not the plan */
    s_deliver (&st, "la-london", "ctp", PA, "C-2026-000001", 16.0 + x, 20.0 + x);
    /* C2: abbreviated, no profiling */
    s_entry (&st, "accept", "mi5", "ctp", ID, "C-2026-000002", "S-000002", 1.0, 3);
    s_entry (&st, "accept", "ctp", "la-manchester", SH, "C-2026-000002", "S-000002", 2.0, 3);
    s_entry (&st, "accept", "la-manchester", "ctp", EN, "C-2026-000002", "S-000002", 4.0 + x, 3);
    s_entry (&st, "accept", "ctp", "la-manchester;mi5", PA, "C-2026-000002", "S-000002", 10.0 + x, 3);
    s_deliver (&st, "ctp", "la-manchester", PA, "C-2026-000002", 10.0 + x, 11.0 + x);
    /* C3: stalled at sharing; the subject is hostile markup */
    const char *evil = "<script>alert(1)</script>";
    s_entry (&st, "accept", "mi5", "ctp", ID, "C-2026-000003", evil, 3.0, 3);
    s_entry (&st, "accept", "mi5", "la-birmingham", SH, "C-2026-000003", evil, 4.0, 3);
    s_entry (&st, "refuse", "mi5", "la-birmingham", SH, "C-2026-000003", evil, 4.0, 0);
    s_entry (&st, "refuse", "mi5", "la-birmingham", SH, "C-2026-000003", evil, 30.0, 0);
    /* C4: still open in enrichment */
    s_entry (&st, "accept", "mi5", "ctp", ID, "C-2026-000004", "S-000004", 0.0, 3);
    s_entry (&st, "accept", "mi5", "la-london", SH, "C-2026-000004", "S-000004", 1.0, 3);
    s_entry (&st, "accept", "la-london", "ctp", EN, "C-2026-000004", "S-000004", 2.0 + x, 3);

    s_store_close (&st);
    s_run_json (run, name);

    char text[4096];
    snprintf (path, sizeof path, "%s/agents", run);
    assert_int_equal (mkdir (path, 0700), 0);
    const char *dirs[] = { "mi5", "ctp", "la-london" };
    for (int i = 0; i < 3; i++) {
        snprintf (path, sizeof path, "%s/agents/%s", run, dirs[i]);
        assert_int_equal (mkdir (path, 0700), 0);
    }
    long long d = (long long) DAY, s0 = (long long) s_start_ms;
    snprintf (path, sizeof path, "%s/agents/mi5/outcomes.jsonl", run);
    snprintf (text, sizeof text,
              "{\"subject\":\"S-000001\",\"case\":\"C-2026-000001\",\"event\":\"closed\",\"sim_ms\":%lld,"
              "\"region\":\"london\",\"mac\":\"nmac\"}\n"
              "{\"subject\":\"S-000002\",\"case\":\"C-2026-000002\",\"event\":\"closed\",\"sim_ms\":%lld,"
              "\"region\":\"north_west\",\"mac\":\"rmac-nw\"}\n"
              "{\"subject\":\"<script>alert(1)</script>\",\"case\":\"C-2026-000003\",\"event\":\"closed\","
              "\"sim_ms\":%lld,\"region\":\"west_midlands\",\"mac\":\"rmac-wm\"}\n"
              "{\"subject\":\"S-000004\",\"case\":\"C-2026-000004\",\"event\":\"closed\",\"sim_ms\":%lld,"
              "\"region\":\"london\",\"mac\":\"nmac\"}\n"
              "{\"subject\":\"<script>alert(1)</script>\",\"case\":\"C-2026-000003\",\"event\":\"refused\","
              "\"sim_ms\":%lld,\"phase\":\"sharing\",\"to\":\"la-birmingham\",\"reason\":\"AGREEMENT_NOT_IN_FORCE\","
              "\"agreement\":\"isa-la-birmingham\",\"retry_sim_ms\":0}\n"
              "{\"subject\":\"<script>alert(1)</script>\",\"case\":\"C-2026-000003\",\"event\":\"stalled\","
              "\"sim_ms\":%lld,\"phase\":\"sharing\",\"reason\":\"AGREEMENT_NOT_IN_FORCE\","
              "\"agreement\":\"isa-la-birmingham\",\"why\":\"isa-la-birmingham not in force by the deadline\"}\n"
              "{\"subject\":\"S-0000",    /* a torn last line: skipped */
              s0, s0 + d, s0 + 3 * d, s0, s0 + 4 * d, s0 + 34 * d);
    s_write (path, text);
    snprintf (path, sizeof path, "%s/agents/ctp/outcomes.jsonl", run);
    snprintf (text, sizeof text,
              "{\"subject\":\"S-000001\",\"case\":\"C-2026-000001\",\"event\":\"level\",\"sim_ms\":%lld,"
              "\"level\":1,\"score\":0.4}\n"
              "{\"subject\":\"S-000001\",\"case\":\"C-2026-000001\",\"event\":\"disposal\",\"sim_ms\":%lld,"
              "\"level\":1,\"disposals\":[\"no_further_action\"],\"back_to_investigation\":false}\n"
              "\n"
              "{\"subject\":\"S-000002\",\"case\":\"C-2026-000002\",\"event\":\"level\",\"sim_ms\":%lld,"
              "\"level\":3,\"score\":2.75}\n"
              "{\"subject\":\"S-000002\",\"case\":\"C-2026-000002\",\"event\":\"disposal\",\"sim_ms\":%lld,"
              "\"level\":3,\"disposals\":[\"referral_back_to_investigation\",\"mental_health_support\"],"
              "\"back_to_investigation\":true}\n",
              s0 + 9 * d, s0 + 12 * d, s0 + 9 * d, s0 + 10 * d);
    s_write (path, text);
    snprintf (path, sizeof path, "%s/agents/la-london/outcomes.jsonl", run);
    snprintf (text, sizeof text,
              "{\"subject\":\"S-000001\",\"case\":\"C-2026-000001\",\"event\":\"work\",\"phase\":\"enrichment\","
              "\"agency\":\"la-london\",\"queued_sim_ms\":%lld,\"start_sim_ms\":%lld,\"end_sim_ms\":%lld}\n"
              "{\"subject\":\"S-000004\",\"case\":\"C-2026-000004\",\"event\":\"work\",\"phase\":\"enrichment\","
              "\"agency\":\"la-london\",\"queued_sim_ms\":%lld,\"start_sim_ms\":%lld,\"end_sim_ms\":%lld}\n"
              /* records held back for a daily cap: two of one case, one of another */
              "{\"subject\":\"S-000004\",\"case\":\"C-2026-000004\",\"event\":\"held\",\"sim_ms\":%lld,"
              "\"phase\":\"enrichment\",\"to\":\"ctp\",\"record_type\":\"enrichment\",\"reason\":\"RATE_LIMITED\","
              "\"agreement\":\"isa-ogd-dwp\",\"until_sim_ms\":%lld,\"why\":\"at most 1 a day\"}\n"
              "{\"subject\":\"S-000001\",\"case\":\"C-2026-000001\",\"event\":\"held\",\"sim_ms\":%lld,"
              "\"phase\":\"enrichment\",\"to\":\"ctp\",\"record_type\":\"enrichment\",\"reason\":\"RATE_LIMITED\","
              "\"agreement\":\"isa-ogd-dwp\",\"until_sim_ms\":%lld,\"why\":\"at most 1 a day\"}\n"
              "{\"subject\":\"S-000004\",\"case\":\"C-2026-000004\",\"event\":\"held\",\"sim_ms\":%lld,"
              "\"phase\":\"enrichment\",\"to\":\"mi5\",\"record_type\":\"enrichment\",\"reason\":\"RATE_LIMITED\","
              "\"agreement\":\"isa-ogd-dwp\",\"until_sim_ms\":%lld,\"why\":\"at most 1 a day\"}\n",
              s0 + 2 * d, s0 + 3 * d, s0 + 11 * d / 2, s0 + 2 * d, s0 + 2 * d, s0 + 4 * d,
              s0 + 4 * d, s0 + 5 * d, s0 + 4 * d, s0 + 5 * d, s0 + 4 * d, s0 + 6 * d);
    s_write (path, text);
}

typedef struct {
    char root[64];
    char run_a[128];
    char run_b[128];
} s_fix_t;

static int
s_setup (void **state)
{
    s_fix_t *f = calloc (1, sizeof *f);
    assert_non_null (f);
    snprintf (f->root, sizeof f->root, "/tmp/macx-test-sim-XXXXXX");
    assert_non_null (mkdtemp (f->root));
    snprintf (f->run_a, sizeof f->run_a, "%s/a", f->root);
    snprintf (f->run_b, sizeof f->run_b, "%s/b", f->root);
    s_start_ms = (int64_t) macx_date_from_ymd (2026, 1, 5) * 86400000;
    s_make_run (f->run_a, "baseline", 0);
    *state = f;
    return 0;
}

static int
s_teardown (void **state)
{
    s_fix_t *f = *state;
    s_rmrf (f->root);
    free (f);
    return 0;
}

static macx_report_t *
s_build (const char *run)
{
    macx_report_t *r = NULL;
    macx_error_t err = { 0 };
    int rc = macx_report_build (run, &r, &err);
    if (rc)
        fprintf (stderr, "build: %s\n", macx_error_text (&err));
    assert_int_equal (rc, 0);
    assert_non_null (r);
    return r;
}

#define assert_days(a, b) assert_true (fabs ((double) (a) - (double) (b)) < 1e-9)

static const macx_report_case_t *
s_find (const macx_report_t *r, const char *case_id)
{
    for (size_t i = 0; i < r->ncases; i++)
        if (strcmp (r->cases[i].case_id, case_id) == 0)
            return &r->cases[i];
    fail_msg ("no case %s", case_id);
    return NULL;
}

/* ---- tests ------------------------------------------------------------------ */

static void
test_latencies (void **state)
{
    s_fix_t *f = *state;
    macx_report_t *r = s_build (f->run_a);
    assert_int_equal (r->ncases, 4);
    assert_int_equal (r->skipped_lines, 1);
    assert_string_equal (r->name, "baseline");
    assert_int_equal (r->seed, 7);

    /* identification: 2, 1, 1, 1 */
    const macx_report_phase_t *ph = &r->phases[ID];
    assert_int_equal (ph->entered, 4);
    assert_int_equal (ph->done, 4);
    assert_int_equal (ph->open, 0);
    assert_days (ph->days.p50, 1.0);
    assert_days (ph->days.p90, 2.0);
    assert_days (ph->days.max, 2.0);
    assert_days (ph->days.mean, 1.25);
    /* sharing: 3.5, 2, 1 and C3 open */
    ph = &r->phases[SH];
    assert_int_equal (ph->entered, 4);
    assert_int_equal (ph->done, 3);
    assert_int_equal (ph->open, 1);
    assert_days (ph->days.p50, 2.0);
    assert_days (ph->days.p90, 3.5);
    assert_days (ph->days.p99, 3.5);
    /* enrichment: 3.5 and 6 (C2 runs to its panel: profiling skipped); C4 open */
    ph = &r->phases[EN];
    assert_int_equal (ph->entered, 3);
    assert_int_equal (ph->done, 2);
    assert_int_equal (ph->open, 1);
    assert_days (ph->days.p50, 3.5);
    assert_days (ph->days.max, 6.0);
    /* profiling: C1 only */
    ph = &r->phases[PR];
    assert_int_equal (ph->entered, 1);
    assert_days (ph->days.p50, 3.0);
    /* panel: ends at the later ctp delivery (15.5 for C1, 11 for C2) */
    ph = &r->phases[PA];
    assert_int_equal (ph->done, 2);
    assert_days (ph->days.p50, 1.0);
    assert_days (ph->days.max, 3.5);
    const macx_report_case_t *c1 = s_find (r, "C-2026-000001");
    assert_int_equal (c1->end_ms[PA], s_start_ms + (int64_t) (15.5 * DAY));
    assert_string_equal (c1->held_by[SH], "la-london");
    assert_string_equal (c1->region, "london");
    assert_days (r->end_to_end.p50, 10.0);
    assert_days (r->end_to_end.max, 15.5);

    /* outcomes */
    assert_int_equal (r->outcomes[MACX_OUTCOME_DISPOSED], 2);
    assert_int_equal (r->outcomes[MACX_OUTCOME_STALLED], 1);
    assert_int_equal (r->outcomes[MACX_OUTCOME_OPEN], 1);
    const macx_report_case_t *c3 = s_find (r, "C-2026-000003");
    assert_int_equal (c3->outcome, MACX_OUTCOME_STALLED);
    assert_int_equal (c3->open_phase, SH);
    assert_string_equal (c3->stalled_reason, "AGREEMENT_NOT_IN_FORCE");
    assert_string_equal (c3->stalled_agency, "mi5");
    assert_string_equal (c3->held_by[SH], "la-birmingham");
    const macx_report_case_t *c4 = s_find (r, "C-2026-000004");
    assert_int_equal (c4->outcome, MACX_OUTCOME_OPEN);
    assert_int_equal (c4->open_phase, EN);

    /* levels, disposals, refusals */
    assert_int_equal (r->levels[1], 1);
    assert_int_equal (r->levels[2], 0);
    assert_int_equal (r->levels[3], 1);
    assert_int_equal (r->levels[0], 2);
    assert_int_equal (r->back_to_investigation, 1);
    assert_int_equal (r->ndisposals, 3);
    assert_int_equal (r->refusals, 3);
    assert_string_equal (r->refusal_agreements[0].key, "isa-la-birmingham");
    assert_int_equal (r->refusal_agreements[0].count, 3);
    assert_int_equal (r->refusal_agreements[0].cases, 2);
    assert_string_equal (r->refusal_reasons[0].key, "AGREEMENT_NOT_IN_FORCE");

    /* broker time per record (wall): 3 ms on every accept but C1's panel plan (10) */
    assert_int_equal (r->broker_wall_ms.n, 15);
    assert_days (r->broker_wall_ms.p50, 3);
    assert_days (r->broker_wall_ms.max, 10);
    /* the audit log's counts; simulated time runs to the last arrival (la-london's
     * panel answer, day 20), not to the last refusal (day 30) */
    assert_int_equal (r->accepted, 15);
    assert_int_equal (r->delivered, 5);
    assert_int_equal (r->audit_entries, 23);
    assert_days (r->simulated_days, 20.0);
    assert_days (r->wall_seconds, 2.0);
    assert_days (r->wall_records_per_second, 7.5);
    assert_days (r->wall_ms_per_subject, 500.0);
    assert_string_equal (r->end_date, "2026-07-04");

    /* agencies: la-london queued 1 + 0 days, worked 2.5 + 2 */
    const macx_report_agency_t *la = NULL;
    for (size_t i = 0; i < r->nagencies; i++)
        if (strcmp (r->agencies[i].id, "la-london") == 0)
            la = &r->agencies[i];
    assert_non_null (la);
    assert_string_equal (la->kind, "local_authority");
    assert_int_equal (la->units, 2);
    assert_days (la->queue_days, 1.0);
    assert_days (la->work_days, 4.5);
    assert_int_equal (la->sent, 2);
    assert_int_equal (la->received, 1);
    /* ... all of it in enrichment: C1's unit waited a day, C4's none */
    const macx_report_work_t *w = &la->phases[EN];
    assert_int_equal (w->units, 2);
    assert_int_equal (w->queued, 1);
    assert_days (w->queue_days, 1.0);
    assert_days (w->max_queue_days, 1.0);
    assert_days (w->work_days, 4.5);
    assert_int_equal (la->phases[SH].units, 0);

    /* the funnel: each entered case once, stalled and open before an
     * agreement's wait (a refusal or a hold), before a worker's */
    static const macx_report_funnel_t funnel[] = {
        [ID] = { .through = 4 },
        [SH] = { .through = 2, .agreement = 1, .stalled = 1 },   /* C1 refused; C3 stalled */
        [EN] = { .through = 1, .agreement = 1, .waiting = 1 },   /* C1 held and queued; C4 open */
        [PR] = { .through = 1 },
        [PA] = { .through = 2 },
    };
    for (int p = ID; p <= PA; p++) {
        const macx_report_funnel_t *got = &r->phases[p].funnel;
        assert_int_equal (got->through, funnel[p].through);
        assert_int_equal (got->worker, funnel[p].worker);
        assert_int_equal (got->agreement, funnel[p].agreement);
        assert_int_equal (got->stalled, funnel[p].stalled);
        assert_int_equal (got->waiting, funnel[p].waiting);
        assert_int_equal (got->through + got->worker + got->agreement, r->phases[p].done);
        assert_int_equal (got->stalled + got->waiting, r->phases[p].open);
        /* C2 skips profiling, but C1 does not: no phase is skipped */
        assert_false (r->phases[p].skipped);
    }
    assert_int_equal (c1->waited[EN], MACX_REPORT_WAIT_WORKER | MACX_REPORT_WAIT_AGREEMENT);

    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream (&text, &len);
    macx_report_print_summary (r, mem);
    fclose (mem);
    assert_non_null (strstr (text, "sharing               3      1     2.00     3.50"));
    assert_non_null (strstr (text, "stalled:  1 cases"));
    /* held records are not refusals: their own line, by agreement, with distinct cases */
    assert_non_null (strstr (text, "held back for daily caps: 3; isa-ogd-dwp 3 (2 cases)"));
    assert_int_equal (r->held, 3);
    assert_int_equal (r->nheld_agreements, 1);
    assert_int_equal (r->held_agreements[0].cases, 2);
    const char *head = "baseline: 4 cases of 4 subjects, seed 7, start 2026-01-05, 20.0 simulated days\n\n";
    assert_memory_equal (text, head, strlen (head));
    assert_null (strstr (text, "ms per simulated day"));
    /* the wall clock last, on its own labelled line */
    assert_string_equal (strstr (text, "\nperformance"), "\nperformance (wall clock): 2.0 s, 15 records, "
                         "8 records/s, 500.0 ms per subject; broker 3.0 ms per record p50, 10.0 ms p99\n");
    free (text);
    macx_report_destroy (&r);
    macx_report_destroy (&r);
}

static void
test_csv (void **state)
{
    s_fix_t *f = *state;
    macx_report_t *r = s_build (f->run_a);
    macx_error_t err = { 0 };
    assert_int_equal (macx_report_write (r, f->run_a, &err), 0);
    char path[256];
    snprintf (path, sizeof path, "%s/phases.csv", f->run_a);
    char *csv = s_slurp (path);
    assert_memory_equal (csv, "subject,case,region,mac,phase,start_day,end_day,days,held_by,status,ended_how,partners\n", 87);
    assert_non_null (strstr (csv, "\nS-000001,C-2026-000001,london,nmac,panel,12.00000,15.50000,3.50000,ctp,done,record,\n"));
    assert_non_null (strstr (csv, "\nS-000002,C-2026-000002,north_west,rmac-nw,enrichment,4.00000,10.00000,6.00000,ctp,done,record,\n"));
    assert_non_null (strstr (csv, "\n<script>alert(1)</script>,C-2026-000003,west_midlands,rmac-wm,sharing,4.00000,,,la-birmingham,open,,\n"));
    assert_non_null (strstr (csv, "\nS-000004,C-2026-000004,london,nmac,enrichment,2.00000,,,ctp,open,,\n"));
    assert_null (strstr (csv, "S-000002,C-2026-000002,north_west,rmac-nw,profiling"));
    int rows = 0;
    for (char *p = csv; *p; p++)
        rows += *p == '\n';
    assert_int_equal (rows, 1 + 5 + 4 + 2 + 3);
    free (csv);
    macx_report_destroy (&r);
}

/* Checks v against schema's "type", "required", "properties", "items" and
 * "$ref" (into root's $defs), recursively; fails naming the JSON path. */
static bool
s_type_ok (const macx_jv_t *v, const char *type)
{
    if (strcmp (type, "object") == 0)  return v->type == MACX_JV_OBJECT;
    if (strcmp (type, "array") == 0)   return v->type == MACX_JV_ARRAY;
    if (strcmp (type, "string") == 0)  return v->type == MACX_JV_STRING;
    if (strcmp (type, "boolean") == 0) return v->type == MACX_JV_BOOL;
    if (strcmp (type, "null") == 0)    return v->type == MACX_JV_NULL;
    if (strcmp (type, "number") == 0)  return v->type == MACX_JV_NUMBER;
    if (strcmp (type, "integer") == 0) return v->type == MACX_JV_NUMBER && v->number == floor (v->number);
    fail_msg ("schema uses unknown type %s", type);
    return false;
}

static int s_checked;

static void
s_check (const macx_jv_t *root, const macx_jv_t *schema, const macx_jv_t *v, const char *where)
{
    const char *ref = macx_jv_str (schema, "$ref", NULL);
    if (ref) {
        assert_memory_equal (ref, "#/$defs/", 8);
        const macx_jv_t *def = macx_jv_get (macx_jv_get (root, "$defs"), ref + 8);
        if (!def)
            fail_msg ("%s: unresolved $ref %s", where, ref);
        s_check (root, def, v, where);
    }
    const macx_jv_t *type = macx_jv_get (schema, "type");
    if (type && type->type == MACX_JV_STRING && !s_type_ok (v, type->string))
        fail_msg ("%s: not of type %s", where, type->string);
    if (type && type->type == MACX_JV_ARRAY) {
        bool ok = false;
        for (size_t i = 0; i < type->count; i++)
            ok = ok || s_type_ok (v, type->items[i].string);
        if (!ok)
            fail_msg ("%s: not of any of its types", where);
    }
    s_checked++;
    const macx_jv_t *req = macx_jv_get (schema, "required");
    for (size_t i = 0; req && i < req->count; i++)
        if (!macx_jv_get (v, req->items[i].string))
            fail_msg ("%s: required member \"%s\" missing", where, req->items[i].string);
    const macx_jv_t *props = macx_jv_get (schema, "properties");
    for (size_t i = 0; props && v->type == MACX_JV_OBJECT && i < props->count; i++) {
        const macx_jv_t *member = macx_jv_get (v, props->keys[i]);
        char sub[512];
        snprintf (sub, sizeof sub, "%s.%s", where, props->keys[i]);
        if (member)
            s_check (root, &props->items[i], member, sub);
    }
    const macx_jv_t *items = macx_jv_get (schema, "items");
    for (size_t i = 0; items && v->type == MACX_JV_ARRAY && i < v->count; i++) {
        char sub[512];
        snprintf (sub, sizeof sub, "%s[%zu]", where, i);
        s_check (root, items, &v->items[i], sub);
    }
}

static void
test_json_schema (void **state)
{
    s_fix_t *f = *state;
    macx_report_t *r = s_build (f->run_a);
    macx_error_t err = { 0 };
    assert_int_equal (macx_report_write (r, f->run_a, &err), 0);
    macx_report_destroy (&r);

    char path[1024];
    snprintf (path, sizeof path, "%s/report.json", f->run_a);
    char *text = s_slurp (path);
    macx_jv_t report, schema;
    assert_int_equal (macx_jv_parse (text, strlen (text), &report, &err), 0);
    free (text);
    snprintf (path, sizeof path, "%s/docs/report.schema.json", MACX_SOURCE_DIR);
    text = s_slurp (path);
    assert_int_equal (macx_jv_parse (text, strlen (text), &schema, &err), 0);
    free (text);
    assert_string_equal (macx_jv_str (&schema, "$schema", ""), "https://json-schema.org/draft/2020-12/schema");
    s_checked = 0;
    s_check (&schema, &schema, &report, "$");
    assert_true (s_checked > 60);

    /* the planted figures survive into the document */
    const macx_jv_t *phases = macx_jv_get (&report, "phases");
    assert_int_equal (phases->count, 5);
    assert_string_equal (macx_jv_str (&phases->items[1], "phase", ""), "sharing");
    const macx_jv_t *days = macx_jv_get (&phases->items[1], "days");
    assert_days (macx_jv_num (days, "p50", -1), 2.0);
    assert_days (macx_jv_num (days, "p90", -1), 3.5);
    assert_days (macx_jv_num (macx_jv_get (&report, "outcomes"), "stalled", -1), 1);
    const macx_jv_t *list = macx_jv_get (macx_jv_get (&report, "stalled"), "list");
    assert_int_equal (list->count, 1);
    assert_string_equal (macx_jv_str (&list->items[0], "subject", ""), "<script>alert(1)</script>");
    assert_days (macx_jv_num (&list->items[0], "sim_day", -1), 34.0);
    macx_jv_free (&report);
    macx_jv_free (&schema);

    /* and a second opinion on well-formedness when python3 is around */
    if (system ("command -v python3 >/dev/null 2>&1") == 0) {
        char cmd[1200];
        snprintf (cmd, sizeof cmd, "python3 -c 'import json,sys; json.load(open(sys.argv[1]))' %s/report.json",
                  f->run_a);
        assert_int_equal (system (cmd), 0);
    }
}

static int
s_count (const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr (hay, needle); p; p = strstr (p + 1, needle))
        n++;
    return n;
}

static void
test_html (void **state)
{
    s_fix_t *f = *state;
    macx_report_t *r = s_build (f->run_a);
    macx_error_t err = { 0 };
    assert_int_equal (macx_report_write (r, f->run_a, &err), 0);
    macx_report_destroy (&r);
    char path[256];
    snprintf (path, sizeof path, "%s/report.html", f->run_a);
    char *html = s_slurp (path);
    /* latency, funnel, levels, disposals, refusals, agencies */
    assert_int_equal (s_count (html, "<svg"), 6);
    assert_int_equal (s_count (html, "</svg>"), 6);
    const char *ids[] = { "id=\"latency\"", "id=\"funnel\"", "id=\"levels\"", "id=\"refusals\"",
                          "id=\"agencies\"" };
    for (int i = 0; i < 5; i++) {
        const char *sec = strstr (html, ids[i]);
        assert_non_null (sec);
        const char *next = strstr (sec, "</section>");
        const char *svg = strstr (sec, "<svg");
        assert_true (svg && svg < next);
        assert_true (strstr (sec, "class=\"caption\"") < next);
    }
    assert_null (strstr (html, "<script"));
    assert_non_null (strstr (html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    /* self-contained: nothing to fetch */
    assert_null (strstr (html, "src="));
    assert_null (strstr (html, "href="));
    assert_null (strstr (html, "<link"));
    assert_non_null (strstr (html, "isa-la-birmingham"));
    assert_non_null (strstr (html, "</html>"));
    /* disposals in words; p99 drawn (the legend's, and one per phase with figures) */
    assert_non_null (strstr (html, ">No further action</text>"));
    assert_non_null (strstr (html, ">Referral back to investigation</text>"));
    assert_null (strstr (html, ">no_further_action<"));
    assert_int_equal (s_count (html, "class=\"p99\""), 6);
    assert_null (strstr (html, "d per case"));
    assert_non_null (strstr (html, "<h3>Refusals by reason</h3>"));
    assert_non_null (strstr (html, "<h3>Stalled subjects (1)</h3>"));
    /* the wall clock in its own labelled section, after every chart and table */
    const char *perf = strstr (html, "<section id=\"performance\">\n<h2>Performance (wall clock)</h2>");
    assert_non_null (perf);
    assert_true (perf > strstr (html, "id=\"data\""));
    assert_non_null (strstr (perf, "2.0 s, as fast as the machine allowed"));
    assert_null (strstr (html, "ms per simulated day"));
    assert_non_null (strstr (html, "<td>20.0 days, from the start date to the last record&#39;s arrival</td>"));
    free (html);
}

static void
test_compare (void **state)
{
    s_fix_t *f = *state;
    /* B: every case waits 10 more days before enrichment starts */
    s_make_run (f->run_b, "late-isa", 10);
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream (&text, &len);
    macx_error_t err = { 0 };
    assert_int_equal (macx_report_compare (f->run_a, f->run_b, mem, false, &err), 0);
    fclose (mem);
    assert_non_null (strstr (text, "sharing p50 rose from 2.00 to 12.00 days (+10.00, +500.0%)"));
    assert_non_null (strstr (text, "sharing p90 rose from 3.50 to 13.50 days (+10.00, +285.7%)"));
    assert_non_null (strstr (text, "  sharing              3     3     2.00    12.00   +10.00"));
    assert_null (strstr (text, "enrichment p50 rose"));
    free (text);

    mem = open_memstream (&text, &len);
    assert_int_equal (macx_report_compare (f->run_a, f->run_b, mem, true, &err), 0);
    fclose (mem);
    macx_jv_t v;
    assert_int_equal (macx_jv_parse (text, len, &v, &err), 0);
    const macx_jv_t *sharing = &macx_jv_get (&v, "phases")->items[1];
    const macx_jv_t *p50 = macx_jv_get (sharing, "p50");
    assert_days (macx_jv_num (p50, "a", -1), 2.0);
    assert_days (macx_jv_num (p50, "b", -1), 12.0);
    assert_days (macx_jv_num (p50, "delta", -1), 10.0);
    assert_days (macx_jv_num (p50, "percent", -1), 500.0);
    const macx_jv_t *changes = macx_jv_get (&v, "changes");
    assert_true (changes && changes->count >= 2);
    assert_string_equal (macx_jv_str (macx_jv_get (&v, "b"), "name", ""), "late-isa");
    macx_jv_free (&v);
    free (text);

    /* a run directory that is not one */
    assert_int_equal (macx_report_compare (f->run_a, f->root, stdout, false, &err), MACX_ENOTFOUND);
    assert_non_null (strstr (err.msg, "run.json"));
}

static void
test_missing_store (void **state)
{
    s_fix_t *f = *state;
    char run[256], path[300];
    snprintf (run, sizeof run, "%s/empty", f->root);
    assert_int_equal (mkdir (run, 0700), 0);
    snprintf (path, sizeof path, "%s/run.json", run);
    s_write (path, "{\"start_date\": \"2026-01-05\", \"end_date\": \"2026-07-04\", \"wall_started_ms\": 1}");
    macx_report_t *r = NULL;
    macx_error_t err = { 0 };
    assert_int_equal (macx_report_build (run, &r, &err), MACX_ENOTFOUND);
    assert_null (r);
    s_write (path, "{\"start_date\": \"2026-02-30\", \"end_date\": \"2026-07-04\", \"wall_started_ms\": 1}");
    assert_int_equal (macx_report_build (run, &r, &err), MACX_EFORMAT);
    assert_non_null (strstr (err.msg, "start_date"));
    s_write (path, "{\"start_date\": \"2026-01-05\", \"wall_started_ms\": 1}");
    assert_int_equal (macx_report_build (run, &r, &err), MACX_EFORMAT);
    assert_non_null (strstr (err.msg, "end_date"));
    s_write (path, "{\"start_date\": \"2026-01-05\", \"end_date\": \"2026-07-04\"}");
    assert_int_equal (macx_report_build (run, &r, &err), MACX_EFORMAT);
    assert_non_null (strstr (err.msg, "wall_started_ms"));
    s_write (path, "{\"start_date\": ");
    assert_int_equal (macx_report_build (run, &r, &err), MACX_EFORMAT);
    assert_null (r);
}

/* A run.json from the wall-clock pilots is refused, not misread. */
static void
test_old_run_json (void **state)
{
    s_fix_t *f = *state;
    char path[300], want[400];
    snprintf (path, sizeof path, "%s/run.json", f->run_a);
    s_write (path, "{\"name\": \"baseline\", \"seed\": 7, \"subjects\": 4, \"start_date\": \"2026-01-05\",\n"
             " \"clock_scale_ms\": 50.0, \"t0_ms\": 1800000000000, \"finished_ms\": 1800000002000,\n"
             " \"policy_hash\": \"abc123\", \"exit\": \"ok\", \"agencies\": []}\n");
    macx_report_t *r = NULL;
    macx_error_t err = { 0 };
    assert_int_equal (macx_report_build (f->run_a, &r, &err), MACX_EFORMAT);
    assert_null (r);
    snprintf (want, sizeof want, "%s/run.json was written by an older macx (wall-clock pilots); "
              "run the pilot again", f->run_a);
    assert_string_equal (err.msg, want);
    /* compare names the run at fault the same way */
    assert_int_equal (macx_report_compare (f->run_a, f->run_a, stdout, false, &err), MACX_EFORMAT);
    assert_non_null (strstr (err.msg, "older macx"));
}

/* ---- order independence ---------------------------------------------------- */

/* C-9: identification's first record in the audit log is stamped day 3, but
 * three are stamped day 1 (mi5 seq 8, ctp seq 2, ctp seq 1) and one is
 * off the clock: the phase starts at day 1, started by ctp's seq 1 (to
 * la-london). Sharing at day 4 (mi5), enrichment at day 6, then the panel:
 * CTP's plan (stamped day 10) reaches la-london at day 13 and mi5 at 12.5;
 * la-london's answer arriving at 30 and CTP's enrichment record arriving
 * at 40 are not the plan. Wall times are scrambled where it would matter.
 * C-8: refused twice, then open in sharing; agencies run.json does not
 * list (ogd-x, zz-ogd, aaa) come in the audit log's order. */
static const s_spec_t s_specs[] = {
    { "accept", "mi5", "ctp", ID, "C-9", "S-9", 3.0, 0, 4, 5, 0 },
    { "accept", "zz-ogd", "ctp", ID, "C-8", "S-8", 2.0, 0, 1, 1, 0 },
    { "accept", "mi5", "ctp;la-london", ID, "C-9", "S-9", 1.0, 0, 2, 8, 0 },
    { "accept", "ctp", "mi5", ID, "C-9", "S-9", 1.0, 0, 3, 2, 0 },
    { "refuse", "ogd-x", "la-london", SH, "C-8", "S-8", 5.0, 0, 0, 3, 0 },
    { "accept", "ctp", "la-london", ID, "C-9", "S-9", 1.0, 0, 1, 1, 0 },
    { "accept", "aaa", "mi5", ID, "C-9", "S-9", OFF_CLOCK, 0, 0, 1, 0 },
    { "accept", "mi5", "la-london", SH, "C-9", "S-9", 4.0, 0, 6, 9, 0 },
    { "accept", "ogd-x", "la-london;mi5", SH, "C-8", "S-8", 5.0, 0, 1, 4, 0 },
    { "accept", "la-london", "ctp", EN, "C-9", "S-9", 6.0, 0, 2, 3, 0 },
    { "deliver", "ctp", "mi5", EN, "C-9", NULL, 6.5, 40.0, 0, 7, 0 },
    { "accept", "ctp", "mi5;la-london", PA, "C-9", "S-9", 10.0, 0, 7, 20, 0 },
    { "deliver", "ctp", "la-london", PA, "C-9", NULL, 10.0, 13.0, 0, 20, T0 + 1 },
    { "refuse", "ogd-x", "la-london", SH, "C-8", "S-8", 7.0, 0, 0, 5, 0 },
    { "deliver", "ctp", "mi5", PA, "C-9", NULL, 10.0, 12.5, 0, 20, T0 + 999999 },
    { "deliver", "la-london", "ctp", PA, "C-9", NULL, 11.0, 30.0, 0, 4, 0 },
};
#define S_NSPECS (sizeof s_specs / sizeof *s_specs)

/* Builds run from s_specs, appended in order[] (NULL: as listed). */
static void
s_make_spec_run (const char *run, const size_t *order)
{
    s_store_t st;
    s_store_open (&st, run);
    for (size_t i = 0; i < S_NSPECS; i++)
        s_append (&st, &s_specs[order ? order[i] : i]);
    s_store_close (&st);
    s_run_json (run, "order");
}

/* The report of the spec entries in their written order. */
static macx_report_t *
s_spec_report (const s_fix_t *f)
{
    char run[256];
    snprintf (run, sizeof run, "%s/specs", f->root);
    s_make_spec_run (run, NULL);
    return s_build (run);
}

static void
test_phase_start (void **state)
{
    macx_report_t *r = s_spec_report (*state);
    const macx_report_case_t *c = s_find (r, "C-9");
    assert_int_equal (c->start_ms[ID], s_start_ms + (int64_t) DAY);
    assert_string_equal (c->starter[ID], "ctp");
    assert_int_equal (c->start_seq[ID], 1);
    assert_string_equal (c->holders[ID], "la-london");
    assert_int_equal (c->end_ms[ID], s_start_ms + 4 * (int64_t) DAY);
    assert_string_equal (c->held_by[ID], "mi5");
    assert_days (r->phases[ID].days.max, 3.0);
    const macx_report_case_t *c8 = s_find (r, "C-8");
    assert_int_equal (c8->start_ms[SH], s_start_ms + 5 * (int64_t) DAY);
    assert_string_equal (c8->held_by[SH], "la-london;mi5");
    assert_int_equal (c8->open_phase, SH);
    macx_report_destroy (&r);
}

static void
test_panel_end (void **state)
{
    macx_report_t *r = s_spec_report (*state);
    const macx_report_case_t *c = s_find (r, "C-9");
    assert_int_equal (c->panel_end_ms, s_start_ms + 13 * (int64_t) DAY);
    assert_int_equal (c->end_ms[PA], s_start_ms + 13 * (int64_t) DAY);
    assert_string_equal (c->held_by[PA], "ctp");
    assert_int_equal (r->phases[PA].done, 1);
    assert_days (r->phases[PA].days.p50, 3.0);
    assert_days (r->end_to_end.max, 12.0);
    /* the latest arrival of anything, CTP's enrichment record, ends simulated time */
    assert_days (r->simulated_days, 40.0);
    assert_int_equal (r->accepted, 10);
    assert_int_equal (r->refusals, 2);
    assert_int_equal (r->delivered, 4);
    /* run.json's agencies first, then the others by id */
    const char *ids[] = { "mi5", "ctp", "la-london", "aaa", "ogd-x", "zz-ogd" };
    assert_int_equal (r->nagencies, 6);
    for (int i = 0; i < 6; i++)
        assert_string_equal (r->agencies[i].id, ids[i]);
    macx_report_destroy (&r);
}

typedef struct {
    char *json, *csv, *html;
    size_t njson, ncsv, nhtml;
} s_docs_t;

static void
s_docs (const char *run, s_docs_t *d)
{
    macx_report_t *r = s_build (run);
    FILE *mem = open_memstream (&d->json, &d->njson);
    macx_report_json (r, mem);
    fclose (mem);
    mem = open_memstream (&d->csv, &d->ncsv);
    macx_report_csv (r, mem);
    fclose (mem);
    mem = open_memstream (&d->html, &d->nhtml);
    macx_report_html (r, mem);
    fclose (mem);
    macx_report_destroy (&r);
}

static void
test_order_independent (void **state)
{
    s_fix_t *f = *state;
    size_t reversed[S_NSPECS], shuffled[S_NSPECS];
    for (size_t i = 0; i < S_NSPECS; i++) {
        reversed[i] = S_NSPECS - 1 - i;
        shuffled[i] = (i * 7 + 3) % S_NSPECS;   /* 7 is prime to 16: a permutation */
    }
    const size_t *orders[] = { NULL, reversed, shuffled };
    s_docs_t docs[3] = { 0 };
    for (int k = 0; k < 3; k++) {
        char run[256];
        snprintf (run, sizeof run, "%s/order-%d", f->root, k);
        s_make_spec_run (run, orders[k]);
        s_docs (run, &docs[k]);
    }
    for (int k = 1; k < 3; k++) {
        assert_int_equal (docs[k].njson, docs[0].njson);
        assert_string_equal (docs[k].json, docs[0].json);
        assert_int_equal (docs[k].ncsv, docs[0].ncsv);
        assert_string_equal (docs[k].csv, docs[0].csv);
        assert_string_equal (docs[k].html, docs[0].html);
    }
    /* and they are the planted figures, not the same wrong ones */
    assert_non_null (strstr (docs[0].csv, "\nS-9,C-9,,,identification,1.00000,4.00000,3.00000,mi5,done,record,\n"));
    assert_non_null (strstr (docs[0].csv, "\nS-9,C-9,,,panel,10.00000,13.00000,3.00000,ctp,done,record,\n"));
    assert_non_null (strstr (docs[0].csv, "\nS-8,C-8,,,sharing,5.00000,,,la-london;mi5,open,,\n"));
    for (int k = 0; k < 3; k++) {
        free (docs[k].json);
        free (docs[k].csv);
        free (docs[k].html);
    }
}

static int
s_count_lines (const macx_jv_t *obj, int line, void *arg)
{
    (*(int *) arg)++;
    return 0;
}

static void
test_jsonl (void **state)
{
    macx_jv_t v;
    macx_error_t err = { 0 };
    const char *text = " {\"a\": \"x\\\"y\\\\z\\n\\u00e9\\ud83d\\ude00\", \"b\": [1, -2.5e1, true, null],"
                       " \"c\": {\"d\": false}, \"a\": \"dup\"} ";
    assert_int_equal (macx_jv_parse (text, strlen (text), &v, &err), 0);
    assert_string_equal (macx_jv_str (&v, "a", ""), "x\"y\\z\n\xc3\xa9\xf0\x9f\x98\x80");
    const macx_jv_t *b = macx_jv_get (&v, "b");
    assert_int_equal (b->count, 4);
    assert_days (b->items[1].number, -25);
    assert_true (b->items[2].boolean);
    assert_int_equal (b->items[3].type, MACX_JV_NULL);
    assert_false (macx_jv_bool (macx_jv_get (&v, "c"), "d", true));
    assert_days (macx_jv_num (&v, "missing", 42), 42);
    macx_jv_free (&v);
    macx_jv_free (&v);

    const char *bad[] = { "", "{", "{\"a\" 1}", "[1,]", "{\"a\":1} x", "\"\\q\"", "\"abc", "tru", "[01x]",
                          "\"\\u12\"", "{\"a\":\"\x01\"}" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal (macx_jv_parse (bad[i], strlen (bad[i]), &v, &err), MACX_EFORMAT);
        assert_int_equal (v.type, MACX_JV_NULL);
    }
    char deep[200];
    memset (deep, '[', sizeof deep);
    assert_int_equal (macx_jv_parse (deep, sizeof deep, &v, &err), MACX_EFORMAT);
    assert_non_null (strstr (err.msg, "too deep"));

    char path[] = "/tmp/macx-test-jsonl-XXXXXX";
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    close (fd);
    s_write (path, "{\"a\":1}\n\n  \n[1,2]\n{\"b\":2}\r\n{\"c\":");
    int lines = 0, skipped = 0;
    assert_int_equal (macx_jsonl_read (path, s_count_lines, &lines, &skipped, &err), 0);
    assert_int_equal (lines, 2);
    assert_int_equal (skipped, 2);
    unlink (path);
    assert_int_equal (macx_jsonl_read (path, s_count_lines, &lines, NULL, &err), MACX_ENOTFOUND);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_latencies, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_csv, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_json_schema, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_html, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_compare, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_missing_store, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_old_run_json, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_phase_start, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_panel_end, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_order_independent, s_setup, s_teardown),
        cmocka_unit_test (test_jsonl),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
