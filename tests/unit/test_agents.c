/* test_agents.c -- the synthetic data of a pilot (agents/synth.c): the same
 * seed gives the same cohort and the same lookups; coverage and near-match
 * rates as configured; exact vs near classification; initials and years
 * never give "exact"; a local authority holds only its own region; postcodes
 * and addresses fit the record transforms; the cohort's order; interventions
 * follow holdings; generation speed. The scenario is filled by hand.
 * And the copies an agency holds (agents/held.c): deleted, anonymised to
 * the fields the baseline schema classes operational (typed and generic
 * bodies), put under review, and a copy with no retention left alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "held.h"
#include "policy.h"
#include "record.h"
#include "scenario.h"
#include "synth.h"

#define S_START_DAY 20514   /* 2026-03-02 */

/* ---- helpers ------------------------------------------------------------ */

static void
s_agency (macx_scenario_t *scn, const char *id, const char *kind, const char *region, double coverage,
          double near_match)
{
    macx_scn_agency_t *a = &scn->agencies[scn->nagencies++];
    snprintf (a->id, sizeof a->id, "%s", id);
    snprintf (a->kind, sizeof a->kind, "%s", kind);
    snprintf (a->region, sizeof a->region, "%s", region);
    a->coverage = coverage;
    a->near_match = near_match;
}

static void
s_scenario (macx_scenario_t *scn, uint64_t seed, int subjects)
{
    memset (scn, 0, sizeof *scn);
    snprintf (scn->name, sizeof scn->name, "test");
    scn->seed = seed;
    scn->subjects = subjects;
    scn->start_day = S_START_DAY;
    scn->closure_window_days = 60;
    static const char *const regions[] = { "london", "west-midlands", "north-west", "east-anglia" };
    static const double shares[] = { 0.4, 0.25, 0.2, 0.15 };
    for (int r = 0; r < 4; r++) {
        snprintf (scn->regions[r], sizeof scn->regions[r], "%s", regions[r]);
        scn->region_share[r] = shares[r];
    }
    scn->nregions = 4;
    s_agency (scn, "mi5", "mi5", "national", 0.5, 0.1);
    s_agency (scn, "ctp", "ctp", "national", 0.5, 0.05);
    s_agency (scn, "la-london", "local_authority", "london", 0.6, 0.12);
    s_agency (scn, "la-birmingham", "local_authority", "west-midlands", 0.55, 0.12);
    s_agency (scn, "ogd-dwp", "ogd", "national", 0.7, 0.08);
    snprintf (scn->agencies[scn->nagencies - 1].sector, sizeof scn->agencies[0].sector, "benefits");
    s_agency (scn, "ogd-probation", "ogd", "national", 0.25, 0.05);
    snprintf (scn->agencies[scn->nagencies - 1].sector, sizeof scn->agencies[0].sector, "probation");
    s_agency (scn, "ogd-health", "ogd", "national", 0.45, 0.1);
    snprintf (scn->agencies[scn->nagencies - 1].sector, sizeof scn->agencies[0].sector, "health");
}

static char *
s_tmpdir (void)
{
    char tmpl[] = "/tmp/macx-test-agents-XXXXXX";
    char *dir = mkdtemp (tmpl);
    assert_non_null (dir);
    return strdup (dir);
}

static void
s_rmrf (const char *path)
{
    struct stat st;
    if (lstat (path, &st) != 0)
        return;
    if (S_ISDIR (st.st_mode)) {
        DIR *d = opendir (path);
        struct dirent *e;
        while (d && (e = readdir (d))) {
            if (strcmp (e->d_name, ".") == 0 || strcmp (e->d_name, "..") == 0)
                continue;
            char sub[4096];
            snprintf (sub, sizeof sub, "%s/%s", path, e->d_name);
            s_rmrf (sub);
        }
        if (d)
            closedir (d);
        rmdir (path);
    }
    else
        unlink (path);
}

/* One generated world, shared by the tests that only read it. */
typedef struct {
    macx_scenario_t scn;
    char *dir;
    macx_subject_t *cohort;   /* sorted as MI5 returns it */
    size_t n;
    macx_subject_t *by_index; /* by_index[i - 1] is S-i */
} s_world_t;

static s_world_t *s_w;

static int
s_setup (void **state)
{
    s_w = calloc (1, sizeof *s_w);
    s_scenario (&s_w->scn, 2019, 2000);
    s_w->dir = s_tmpdir ();
    macx_error_t err = { 0 };
    if (macx_synth_generate (&s_w->scn, s_w->dir, &err)) {
        fprintf (stderr, "generate: %s\n", err.msg);
        return -1;
    }
    macx_synth_db_t *db = macx_synth_open (s_w->dir, "mi5", &err);
    if (!db || macx_synth_subjects (db, &s_w->cohort, &s_w->n, &err))
        return -1;
    macx_synth_close (&db);
    s_w->by_index = calloc (s_w->n, sizeof *s_w->by_index);
    for (size_t i = 0; i < s_w->n; i++) {
        int idx = atoi (s_w->cohort[i].id + 2);
        if (idx < 1 || (size_t) idx > s_w->n)
            return -1;
        s_w->by_index[idx - 1] = s_w->cohort[i];
    }
    return 0;
}

static int
s_teardown (void **state)
{
    s_rmrf (s_w->dir);
    free (s_w->dir);
    free (s_w->cohort);
    free (s_w->by_index);
    free (s_w);
    return 0;
}

static macx_synth_db_t *
s_open (const char *dir, const char *agency)
{
    macx_error_t err = { 0 };
    macx_synth_db_t *db = macx_synth_open (dir, agency, &err);
    if (!db)
        fprintf (stderr, "open %s: %s\n", agency, err.msg);
    assert_non_null (db);
    return db;
}

static const char *const s_partners[] = { "ctp", "la-london", "la-birmingham", "ogd-dwp",
                                          "ogd-probation", "ogd-health" };
#define S_NPARTNERS 6

/* ---- tests -------------------------------------------------------------- */

static void
test_determinism (void **state)
{
    macx_scenario_t scn;
    s_scenario (&scn, 77, 300);
    char *a = s_tmpdir (), *b = s_tmpdir ();
    macx_error_t err = { 0 };
    assert_int_equal (macx_synth_generate (&scn, a, &err), 0);
    /* the other order of agencies: each agency's data must not depend on it */
    macx_scenario_t rev = scn;
    for (int i = 0; i < scn.nagencies; i++)
        rev.agencies[i] = scn.agencies[scn.nagencies - 1 - i];
    assert_int_equal (macx_synth_generate (&rev, b, &err), 0);

    macx_synth_db_t *da = s_open (a, "mi5"), *dbb = s_open (b, "mi5");
    macx_subject_t *ca = NULL, *cb = NULL;
    size_t na = 0, nb = 0;
    assert_int_equal (macx_synth_subjects (da, &ca, &na, &err), 0);
    assert_int_equal (macx_synth_subjects (dbb, &cb, &nb, &err), 0);
    assert_int_equal (na, 300);
    assert_int_equal (nb, 300);
    assert_memory_equal (ca, cb, na * sizeof *ca);
    macx_synth_close (&da);
    macx_synth_close (&dbb);
    assert_null (da);
    macx_synth_close (&da);   /* twice is fine */

    /* a different seed gives a different cohort */
    macx_subject_t other;
    scn.seed = 78;
    macx_synth_subject (&scn, 1, &other);
    macx_subject_t first;
    scn.seed = 77;
    macx_synth_subject (&scn, 1, &first);
    assert_true (strcmp (first.name, other.name) != 0 || strcmp (first.dob, other.dob) != 0);

    for (int p = 0; p < S_NPARTNERS; p++) {
        da = s_open (a, s_partners[p]);
        dbb = s_open (b, s_partners[p]);
        for (size_t i = 0; i < na; i++) {
            macx_holding_t ha[16], hb[16];
            size_t n1 = 0, n2 = 0;
            memset (ha, 0, sizeof ha);
            memset (hb, 0, sizeof hb);
            assert_int_equal (macx_synth_lookup (da, ca[i].name, ca[i].dob, "", ha, 16, &n1), 0);
            assert_int_equal (macx_synth_lookup (dbb, ca[i].name, ca[i].dob, "", hb, 16, &n2), 0);
            assert_int_equal (n1, n2);
            assert_memory_equal (ha, hb, sizeof ha);
        }
        macx_synth_close (&da);
        macx_synth_close (&dbb);
    }
    free (ca);
    free (cb);
    s_rmrf (a);
    s_rmrf (b);
    free (a);
    free (b);
}

static void
test_cohort (void **state)
{
    assert_int_equal (s_w->n, 2000);
    for (size_t i = 0; i < s_w->n; i++) {
        const macx_subject_t *s = &s_w->cohort[i];
        if (i > 0) {   /* by closure day, then id */
            const macx_subject_t *p = &s_w->cohort[i - 1];
            assert_true (p->closure_day < s->closure_day
                         || (p->closure_day == s->closure_day && strcmp (p->id, s->id) < 0));
        }
        assert_true (s->closure_day >= 0 && s->closure_day < 60);
        assert_true (strlen (s->name) >= 3);
        assert_non_null (strchr (s->name, ' '));
        assert_int_equal (strlen (s->id), 8);
        assert_memory_equal (s->id, "S-", 2);
        assert_memory_equal (s->case_id, "C-2026-", 7);
        assert_string_equal (s->case_id + 7, s->id + 2);
        int y, m, d;
        assert_int_equal (sscanf (s->dob, "%4d-%2d-%2d", &y, &m, &d), 3);
        assert_int_equal (strlen (s->dob), 10);
        int age = 2026 - y - (m > 3 || (m == 3 && d > 2));
        assert_true (age >= 18 && age <= 60);
        assert_true (m >= 1 && m <= 12 && d >= 1 && d <= 31);
        assert_true (s->nindicators >= 1 && s->nindicators <= MACX_SYNTH_MAX_INDICATORS);
        for (int k = 0; k < s->nindicators; k++) {
            assert_true (strlen (s->indicators[k]) > 0);
            for (int j = 0; j < k; j++)
                assert_string_not_equal (s->indicators[j], s->indicators[k]);
        }
        assert_true (strcmp (s->closure_category, "CAT-A") == 0 || strcmp (s->closure_category, "CAT-B") == 0
                     || strcmp (s->closure_category, "CAT-C") == 0);
        assert_true (s->latent_risk >= 0 && s->latent_risk <= 1);
        assert_int_equal (strlen (s->kis_ref), 10);
        assert_true (strlen (s->kis_summary) > 20);
        bool known = false;
        for (int r = 0; r < s_w->scn.nregions; r++)
            known |= strcmp (s_w->scn.regions[r], s->region) == 0;
        assert_true (known);
    }
    /* regions roughly by share */
    size_t london = 0;
    for (size_t i = 0; i < s_w->n; i++)
        london += strcmp (s_w->cohort[i].region, "london") == 0;
    assert_in_range (london, 700, 900);
}

/* [A-Z]{1,2}[0-9][0-9A-Z]? [0-9][A-Z]{2}, in made-up areas, and the record
 * transforms apply to it and to the address. */
static void
test_postcodes_addresses (void **state)
{
    static const char *const areas[] = { "QX", "ZQ", "XJ", "JQ", "QZ", "ZX" };
    for (size_t i = 0; i < s_w->n; i++) {
        const macx_subject_t *s = &s_w->cohort[i];
        const char *p = s->postcode;
        size_t k = 0;
        while (k < 2 && p[k] >= 'A' && p[k] <= 'Z')
            k++;
        assert_true (k >= 1);
        assert_true (p[k] >= '0' && p[k] <= '9');
        k++;
        if (p[k] != ' ')
            k++;
        assert_int_equal (p[k], ' ');
        assert_true (p[k + 1] >= '0' && p[k + 1] <= '9');
        assert_true (p[k + 2] >= 'A' && p[k + 2] <= 'Z' && p[k + 3] >= 'A' && p[k + 3] <= 'Z');
        assert_int_equal (p[k + 4], '\0');
        bool made_up = false;
        for (size_t a = 0; a < 6; a++)
            made_up |= strncmp (p, areas[a], 2) == 0;
        assert_true (made_up);

        char out[64];
        assert_int_equal (macx_record_transform_apply ("postcode_district", p, out, sizeof out), 0);
        assert_int_equal (strncmp (out, p, strlen (out)), 0);
        assert_int_equal (macx_record_transform_apply ("region_only", s->address, out, sizeof out), 0);
        assert_string_equal (out, s->region);
        assert_int_equal (macx_record_transform_apply ("initials", s->name, out, sizeof out), 0);
        assert_int_equal (strlen (out), 4);
        assert_int_equal (macx_record_transform_apply ("year_only", s->dob, out, sizeof out), 0);
    }
}

/* The share of subjects a partner finds anything on, and of near-matches
 * among them, are near what the scenario configures (loose bounds). */
static void
test_coverage (void **state)
{
    for (int p = 0; p < S_NPARTNERS; p++) {
        const macx_scn_agency_t *a = macx_scenario_agency (&s_w->scn, s_partners[p]);
        assert_non_null (a);
        bool local = strcmp (a->kind, "local_authority") == 0;
        macx_synth_db_t *db = s_open (s_w->dir, a->id);
        size_t eligible = 0, found = 0, near = 0;
        for (size_t i = 0; i < s_w->n; i++) {
            const macx_subject_t *s = &s_w->cohort[i];
            if (local && strcmp (s->region, a->region) != 0)
                continue;
            eligible++;
            macx_holding_t h[16];
            size_t n = 0;
            assert_int_equal (macx_synth_lookup (db, s->name, s->dob, s->region, h, 16, &n), 0);
            if (n == 0)
                continue;
            found++;
            bool exact = false;
            for (size_t k = 0; k < n; k++)
                exact |= strcmp (h[k].match, "exact") == 0;
            near += !exact;
        }
        double cov = (double) found / (double) eligible, nm = found ? (double) near / (double) found : 0;
        print_message ("%-14s eligible %4zu found %.3f (coverage %.2f) near %.3f (near_match %.2f)\n",
                       a->id, eligible, cov, a->coverage, nm, a->near_match);
        assert_true (cov > 0.8 * a->coverage && cov < 1.2 * a->coverage + 0.03);
        assert_true (nm > 0.4 * a->near_match && nm < 1.8 * a->near_match + 0.03);
        macx_synth_close (&db);
    }
}

static void
test_exact_near (void **state)
{
    macx_synth_db_t *db = s_open (s_w->dir, "ogd-dwp");
    size_t exact_seen = 0;
    for (size_t i = 0; i < s_w->n; i++) {
        const macx_subject_t *s = &s_w->cohort[i];
        macx_holding_t h[16];
        size_t n = 0;
        assert_int_equal (macx_synth_lookup (db, s->name, s->dob, "", h, 16, &n), 0);
        bool exact = false;
        for (size_t k = 0; k < n; k++) {
            assert_true (strcmp (h[k].match, "exact") == 0 || strcmp (h[k].match, "near") == 0);
            assert_true (strcmp (h[k].source, "benefits") == 0 || strcmp (h[k].source, "employment") == 0);
            assert_true (strlen (h[k].detail) > 0);
            exact |= strcmp (h[k].match, "exact") == 0;
        }
        exact_seen += exact;
        if (!exact)
            continue;
        /* the same person with another dob, or a name one letter away: near at best */
        char dob[11];
        snprintf (dob, sizeof dob, "%s", s->dob);
        dob[2] = dob[2] == '9' ? '8' : '9';   /* another decade */
        assert_int_equal (macx_synth_lookup (db, s->name, dob, "", h, 16, &n), 0);
        assert_true (n > 0);
        for (size_t k = 0; k < n; k++)
            assert_string_equal (h[k].match, "near");
        char name[64];
        snprintf (name, sizeof name, "%sx", s->name);
        assert_int_equal (macx_synth_lookup (db, name, s->dob, "", h, 16, &n), 0);
        assert_true (n > 0);
        for (size_t k = 0; k < n; k++)
            assert_string_equal (h[k].match, "near");
        /* case and spacing do not matter for an exact match */
        for (char *c = name; *c; c++)
            *c = (char) toupper ((unsigned char) *c);
        name[strlen (name) - 1] = '\0';
        assert_int_equal (macx_synth_lookup (db, name, s->dob, "", h, 16, &n), 0);
        bool again = false;
        for (size_t k = 0; k < n; k++)
            again |= strcmp (h[k].match, "exact") == 0;
        assert_true (again);
        /* a wrong region finds nothing */
        assert_int_equal (macx_synth_lookup (db, s->name, s->dob, "nowhere", h, 16, &n), 0);
        assert_int_equal (n, 0);
        /* max bounds what is written */
        assert_int_equal (macx_synth_lookup (db, s->name, s->dob, "", h, 1, &n), 0);
        assert_int_equal (n, 1);
    }
    assert_true (exact_seen > 1000);
    /* someone nobody generated */
    macx_holding_t h[16];
    size_t n = 99;
    assert_int_equal (macx_synth_lookup (db, "Nobody Attall", "1970-01-01", "", h, 16, &n), 0);
    assert_int_equal (n, 0);
    macx_synth_close (&db);
}

/* Noise: partners hold people who are not subjects (some with a subject's
 * family name), so the number of records exceeds the subjects held, yet a
 * subject's lookup never returns a relative's record. */
static void
test_noise (void **state)
{
    macx_synth_db_t *db = s_open (s_w->dir, "ogd-dwp");
    size_t hits = 0;
    /* initials + year match many more people than initials + full dob */
    for (size_t i = 0; i < 200; i++) {
        const macx_subject_t *s = &s_w->cohort[i];
        char ini[32], year[8];
        assert_int_equal (macx_record_transform_apply ("initials", s->name, ini, sizeof ini), 0);
        assert_int_equal (macx_record_transform_apply ("year_only", s->dob, year, sizeof year), 0);
        macx_holding_t h[64];
        size_t n1 = 0, n2 = 0;
        assert_int_equal (macx_synth_lookup (db, ini, year, "", h, 64, &n1), 0);
        assert_int_equal (macx_synth_lookup (db, ini, s->dob, "", h, 64, &n2), 0);
        assert_true (n1 >= n2);
        hits += n1 > n2;
    }
    assert_true (hits > 0);   /* others share initials and a year: lookups must discriminate */
    macx_synth_close (&db);
}

static void
test_initials_year (void **state)
{
    for (int p = 0; p < S_NPARTNERS; p++) {
        macx_synth_db_t *db = s_open (s_w->dir, s_partners[p]);
        for (size_t i = 0; i < s_w->n; i += 4) {
            const macx_subject_t *s = &s_w->cohort[i];
            char ini[32], year[8];
            assert_int_equal (macx_record_transform_apply ("initials", s->name, ini, sizeof ini), 0);
            assert_int_equal (macx_record_transform_apply ("year_only", s->dob, year, sizeof year), 0);
            const char *q[][2] = { { ini, s->dob }, { ini, year }, { s->name, year }, { s->name, "" } };
            for (size_t k = 0; k < 4; k++) {
                macx_holding_t h[32];
                size_t n = 0;
                assert_int_equal (macx_synth_lookup (db, q[k][0], q[k][1], s->region, h, 32, &n), 0);
                for (size_t j = 0; j < n; j++)
                    assert_string_equal (h[j].match, "near");
            }
            macx_holding_t h[32];
            size_t n = 99;
            assert_int_equal (macx_synth_lookup (db, ini, "", "", h, 32, &n), 0);
            assert_int_equal (n, 0);
        }
        macx_synth_close (&db);
    }
}

/* A local authority holds records on its own region only. */
static void
test_la_regions (void **state)
{
    static const char *const las[][2] = { { "la-london", "london" }, { "la-birmingham", "west-midlands" } };
    for (size_t l = 0; l < 2; l++) {
        macx_synth_db_t *db = s_open (s_w->dir, las[l][0]);
        for (size_t i = 0; i < s_w->n; i++) {
            const macx_subject_t *s = &s_w->cohort[i];
            macx_holding_t h[16];
            size_t n = 0;
            for (int r = 0; r < s_w->scn.nregions; r++) {
                if (strcmp (s_w->scn.regions[r], las[l][1]) == 0)
                    continue;
                assert_int_equal (macx_synth_lookup (db, s->name, s->dob, s_w->scn.regions[r], h, 16, &n), 0);
                assert_int_equal (n, 0);
            }
            if (strcmp (s->region, las[l][1]) != 0) {
                assert_int_equal (macx_synth_lookup (db, s->name, s->dob, "", h, 16, &n), 0);
                for (size_t k = 0; k < n; k++)
                    assert_string_not_equal (h[k].match, "exact");
            }
            for (size_t k = 0; k < n; k++)
                assert_true (strcmp (h[k].source, "housing") == 0 || strcmp (h[k].source, "social_care") == 0
                             || strcmp (h[k].source, "education") == 0
                             || strcmp (h[k].source, "community_safety") == 0);
        }
        macx_synth_close (&db);
    }
}

/* Partners' concerning findings rise with latent risk. */
static void
test_concern_follows_risk (void **state)
{
    macx_synth_db_t *db = s_open (s_w->dir, "la-london");
    size_t lo_h = 0, lo_c = 0, hi_h = 0, hi_c = 0;
    for (size_t i = 0; i < s_w->n; i++) {
        const macx_subject_t *s = &s_w->cohort[i];
        macx_holding_t h[16];
        size_t n = 0;
        assert_int_equal (macx_synth_lookup (db, s->name, s->dob, s->region, h, 16, &n), 0);
        for (size_t k = 0; k < n; k++) {
            if (s->latent_risk < 0.2) {
                lo_h++;
                lo_c += h[k].concern;
            }
            else if (s->latent_risk > 0.6) {
                hi_h++;
                hi_c += h[k].concern;
            }
        }
    }
    assert_true (lo_h > 50 && hi_h > 50);
    assert_true ((double) hi_c / (double) hi_h > 2.0 * (double) lo_c / (double) lo_h);
    macx_synth_close (&db);
}

static void
test_open_errors (void **state)
{
    macx_error_t err = { 0 };
    assert_null (macx_synth_open (s_w->dir, "no-such-agency", &err));
    assert_int_equal (err.code, MACX_ENOTFOUND);
    assert_non_null (strstr (err.msg, "no-such-agency"));
    /* a partner holds no cohort; MI5 answers no lookup */
    macx_synth_db_t *db = s_open (s_w->dir, "ogd-health");
    macx_subject_t *c = NULL;
    size_t n = 0;
    assert_int_equal (macx_synth_subjects (db, &c, &n, &err), MACX_ENOTFOUND);
    assert_null (c);
    macx_synth_close (&db);
    db = s_open (s_w->dir, "mi5");
    macx_holding_t h[4];
    assert_int_equal (macx_synth_lookup (db, s_w->cohort[0].name, s_w->cohort[0].dob, "", h, 4, &n), 0);
    assert_int_equal (n, 0);
    macx_synth_close (&db);
    /* a directory that cannot be created */
    assert_int_not_equal (macx_synth_generate (&s_w->scn, "/proc/macx-no", &err), 0);
    assert_non_null (strstr (err.msg, "/proc/macx-no"));
}

static void
test_interventions (void **state)
{
    macx_holding_t h[6];
    memset (h, 0, sizeof h);
    static const struct { const char *source, *match; bool concern; } in[] = {
        { "housing", "exact", true },       { "housing", "near", true }, { "education", "exact", false },
        { "social_care", "near", true },    { "health_contact", "exact", true },
        { "community_safety", "exact", true },
    };
    for (size_t i = 0; i < 6; i++) {
        snprintf (h[i].source, sizeof h[i].source, "%s", in[i].source);
        snprintf (h[i].match, sizeof h[i].match, "%s", in[i].match);
        snprintf (h[i].detail, sizeof h[i].detail, "Detail %zu.", i);
        h[i].concern = in[i].concern;
    }
    Macx__Intervention out[8];
    char storage[8][3][200];
    macx_scn_agency_t la = { .id = "la-london", .kind = "local_authority" };
    macx_scn_agency_t health = { .id = "health-x", .kind = "ogd", .sector = "health" };
    macx_scn_agency_t benefits = { .id = "ogd-dwp", .kind = "ogd", .sector = "benefits" };
    size_t n = macx_synth_interventions (&la, h, 6, out, storage, 8);
    /* housing once, no education (no concern), safeguarding once (social care
     * and community safety), no health (not a local authority's) */
    assert_int_equal (n, 2);
    assert_string_equal (out[0].kind, "housing_support");
    assert_string_equal (out[0].provider, "la-london");
    assert_non_null (strstr (out[0].rationale, "housing"));
    assert_non_null (strstr (out[0].rationale, "Detail 0."));
    assert_string_equal (out[1].kind, "safeguarding_referral");
    assert_non_null (strstr (out[1].rationale, "identity to confirm"));
    assert_ptr_equal (out[1].kind, storage[1][0]);

    /* what an OGD holds follows from its sector, whatever its id */
    n = macx_synth_interventions (&health, h, 6, out, storage, 8);
    assert_int_equal (n, 1);
    assert_string_equal (out[0].kind, "mental_health_support");
    assert_string_equal (out[0].provider, "health-x");

    assert_int_equal (macx_synth_interventions (&la, h, 6, out, storage, 1), 1);
    assert_int_equal (macx_synth_interventions (&la, h, 0, out, storage, 8), 0);

    /* from real lookups: every proposal comes from a concerning holding */
    macx_synth_db_t *db = s_open (s_w->dir, "ogd-dwp");
    size_t proposed = 0;
    for (size_t i = 0; i < s_w->n; i++) {
        macx_holding_t got[16];
        size_t ng = 0;
        assert_int_equal (macx_synth_lookup (db, s_w->cohort[i].name, s_w->cohort[i].dob, "", got, 16, &ng), 0);
        size_t concerns = 0;
        for (size_t k = 0; k < ng; k++)
            concerns += got[k].concern;
        n = macx_synth_interventions (&benefits, got, ng, out, storage, 8);
        assert_true (n <= concerns);
        assert_true ((n > 0) == (concerns > 0));
        for (size_t k = 0; k < n; k++)
            assert_string_equal (out[k].kind, "employment_support");
        proposed += n;
    }
    assert_true (proposed > 0);
    macx_synth_close (&db);
}

/* 5,000 subjects for every agency well under two seconds; lookups cheap. */
static void
test_speed (void **state)
{
    macx_scenario_t scn;
    s_scenario (&scn, 2019, 5000);
    char *dir = s_tmpdir ();
    macx_error_t err = { 0 };
    struct timespec t0, t1;
    clock_gettime (CLOCK_MONOTONIC, &t0);
    assert_int_equal (macx_synth_generate (&scn, dir, &err), 0);
    clock_gettime (CLOCK_MONOTONIC, &t1);
    double s = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
    /* A figure, not a bound: a timed assertion fails on a busy machine
     * (bench_pilot measures the pilot's speed). */
    print_message ("generated 5000 subjects for %d agencies in %.3f s (%.0f subjects/s)\n", scn.nagencies, s,
                   5000 / s);

    macx_synth_db_t *db = s_open (dir, "ogd-dwp");
    clock_gettime (CLOCK_MONOTONIC, &t0);
    for (int i = 1; i <= 500; i++) {
        macx_subject_t sub;
        macx_synth_subject (&scn, i, &sub);
        macx_holding_t h[16];
        size_t n;
        macx_synth_lookup (db, sub.name, sub.dob, sub.region, h, 16, &n);
    }
    clock_gettime (CLOCK_MONOTONIC, &t1);
    s = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message ("500 lookups in ogd-dwp (5000 subjects) in %.3f s\n", s);
    macx_synth_close (&db);
    s_rmrf (dir);
    free (dir);
}

/* ---- held copies -------------------------------------------------------- */

typedef struct {
    Macx__Header h;
    Macx__Payload *p;
    Macx__FieldEntry **manifest;
    size_t nmanifest;
    uint8_t id[MACX_RECORD_ID_BYTES];
} s_rec_t;

static void
s_rec (s_rec_t *r, const char *type, const macx_record_field_t *fields, size_t n, uint8_t tag)
{
    macx_error_t err = { 0 };
    memset (r, 0, sizeof *r);
    assert_int_equal (macx_record_build (type, fields, n, &r->p, &r->manifest, &r->nmanifest,
                                         &err), 0);
    macx__header__init (&r->h);
    memset (r->id, tag, sizeof r->id);
    r->h.record_id = (ProtobufCBinaryData) { sizeof r->id, r->id };
    r->h.sender = "mi5";
    r->h.subject = "S-000042";
    r->h.case_id = "C-2026-000042";
    r->h.record_type = (char *) type;
}

static void
s_rec_free (s_rec_t *r)
{
    macx_record_build_free (&r->p, &r->manifest, r->nmanifest);
}

static macx_agent_terms_t
s_terms (const char *on_expiry, int64_t expires_ms)
{
    macx_agent_terms_t t = { .retention_days = expires_ms ? 30 : 0, .expires_ms = expires_ms };
    snprintf (t.agreement, sizeof t.agreement, "ISA-NMAC-LA-LONDON");
    snprintf (t.flow, sizeof t.flow, "S1");
    snprintf (t.on_expiry, sizeof t.on_expiry, "%s", on_expiry);
    return t;
}

static void
test_held (void **state)
{
    (void) state;
    macx_error_t err = { 0 };
    char dir[2048];
    snprintf (dir, sizeof dir, "%s/scenarios/baseline/policy", MACX_SOURCE_DIR);
    macx_policy_t *policy = macx_policy_load (dir, &err);
    assert_non_null (policy);
    macx_held_t *held = macx_held_new (policy);
    assert_non_null (held);
    const macx_record_field_t share[] = {
        { "subject_name", NULL, "Ada Quill" }, { "dob", NULL, "1990-04-12" },
        { "address", NULL, "1 High St, Leeds" }, { "region", NULL, "london" },
        { "closure_category", NULL, "C2" }, { "risk_indicators", NULL, "travel" },
        { "summary", NULL, "closed in 2025" }, { "kis_ref", NULL, "KIS-1" },
    };
    s_rec_t a, b, c, d, g;
    s_rec (&a, "share", share, 8, 1);
    s_rec (&b, "share", share, 8, 2);
    s_rec (&c, "share", share, 8, 3);
    s_rec (&d, "share", share, 8, 4);
    const macx_record_field_t trip[] = { { "event", NULL, "vehicle_hire" },
                                         { "occurred_on", NULL, "2026-03-04" } };
    s_rec (&g, "tripwire", trip, 2, 5);
    macx_agent_terms_t tdel = s_terms ("delete", 1000), tanon = s_terms ("anonymise", 1000),
                       trev = s_terms ("review", 1000), tnone = s_terms ("", 0);
    macx_held_copy_t *ca = macx_held_add (held, &a.h, a.p, &tdel, 10, &err);
    macx_held_copy_t *cb = macx_held_add (held, &b.h, b.p, &tanon, 10, &err);
    macx_held_copy_t *cc = macx_held_add (held, &c.h, c.p, &trev, 10, &err);
    macx_held_copy_t *cd = macx_held_add (held, &d.h, d.p, &tnone, 10, &err);
    macx_held_copy_t *cg = macx_held_add (held, &g.h, g.p, &tanon, 10, &err);
    assert_true (ca && cb && cc && cd && cg);
    assert_string_equal (cb->subject, "S-000042");
    assert_string_equal (cb->terms.agreement, "ISA-NMAC-LA-LONDON");
    macx_held_counts_t n;
    macx_held_counts (held, &n);
    assert_int_equal (n.held, 5);

    /* delete: the copy is gone */
    const char *action = NULL;
    assert_int_equal (macx_held_expire (held, ca, &action, &err), 0);
    assert_string_equal (action, "deleted");
    macx_held_counts (held, &n);
    assert_int_equal (n.held, 4);
    assert_int_equal (n.deleted, 1);

    /* anonymise: operational fields only (region, closure_category, summary), no subject */
    assert_int_equal (macx_held_expire (held, cb, &action, &err), 0);
    assert_string_equal (action, "anonymised");
    assert_int_equal (cb->state, MACX_HELD_ANONYMISED);
    assert_string_equal (cb->subject, "");
    assert_string_equal (cb->case_id, "");
    Macx__Payload *p = macx_held_payload (cb);
    assert_non_null (p);
    assert_non_null (p->share);
    assert_string_equal (p->share->subject_name, "");
    assert_string_equal (p->share->dob, "");
    assert_string_equal (p->share->address, "");
    assert_string_equal (p->share->kis_ref, "");
    assert_int_equal (p->share->n_risk_indicators, 0);
    assert_string_equal (p->share->region, "london");
    assert_string_equal (p->share->closure_category, "C2");
    assert_string_equal (p->share->summary, "closed in 2025");
    macx__payload__free_unpacked (p, NULL);

    /* a generic body too: tripwire's event is operational, occurred_on personal */
    assert_int_equal (macx_held_expire (held, cg, &action, &err), 0);
    p = macx_held_payload (cg);
    assert_non_null (p);
    assert_int_equal (p->body_case, MACX__PAYLOAD__BODY_GENERIC);
    assert_int_equal (p->generic->n_fields, 1);
    assert_string_equal (p->generic->fields[0]->name, "event");
    assert_string_equal (p->generic->fields[0]->value, "vehicle_hire");
    macx__payload__free_unpacked (p, NULL);

    /* review: kept as it was, flagged */
    assert_int_equal (macx_held_expire (held, cc, &action, &err), 0);
    assert_string_equal (action, "review");
    assert_int_equal (cc->state, MACX_HELD_REVIEW);
    p = macx_held_payload (cc);
    assert_string_equal (p->share->subject_name, "Ada Quill");
    macx__payload__free_unpacked (p, NULL);

    /* no retention stated: nothing to do, and it says so */
    assert_int_equal (macx_held_expire (held, cd, &action, &err), MACX_EINVAL);
    assert_non_null (strstr (err.msg, "states no retention"));
    macx_held_counts (held, &n);
    assert_int_equal (n.held, 4);
    assert_int_equal (n.anonymised, 2);
    assert_int_equal (n.review, 1);
    assert_int_equal (n.deleted, 1);

    macx_held_destroy (&held);
    macx_held_destroy (&held);   /* safe twice */
    assert_null (held);
    s_rec_free (&a);
    s_rec_free (&b);
    s_rec_free (&c);
    s_rec_free (&d);
    s_rec_free (&g);
    macx_policy_destroy (&policy);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_determinism),
        cmocka_unit_test (test_cohort),
        cmocka_unit_test (test_postcodes_addresses),
        cmocka_unit_test (test_coverage),
        cmocka_unit_test (test_exact_near),
        cmocka_unit_test (test_noise),
        cmocka_unit_test (test_initials_year),
        cmocka_unit_test (test_la_regions),
        cmocka_unit_test (test_concern_follows_risk),
        cmocka_unit_test (test_open_errors),
        cmocka_unit_test (test_interventions),
        cmocka_unit_test (test_speed),
        cmocka_unit_test (test_held),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
