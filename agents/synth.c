/* synth.c -- the synthetic data of a pilot: generated subjects and partner
 * records in one LMDB env per agency, partner lookups and intervention
 * proposals. Every draw is macx_rand_* of (seed, stream, index), so an
 * agency's data does not depend on the order agencies are generated in.
 * Owns the envs it opens; names and places come from invented tables. */
#include "synth.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define S_MAPSIZE ((size_t) 1 << 30)   /* sparse; a 5,000-subject agency uses a few MB */

/* ---- tables: invented syllables, so no generated name or place is meant
 * to be real ---------------------------------------------------------------- */

static const char *const s_given_a[] = {
    "A", "Be", "Ca", "Da", "E", "Fa", "Ga", "Ha", "I", "Jo", "Ka", "La", "Ma",
    "Na", "O", "Pe", "Ra", "Sa", "Ta", "Va", "Wi", "Ze", "Lu", "Mi", "Ro", "Ti",
};
static const char *const s_given_b[] = {
    "da", "lin", "ren", "mon", "sel", "ven", "rik", "na", "lo", "wen", "dor",
    "mi", "ria", "nes", "bel", "tan", "ryn", "sha", "vi", "zan",
};
static const char *const s_family_a[] = {
    "Quill", "Lark", "Thorn", "Brack", "Fenn", "Marl", "Hollo", "Wick", "Ashe", "Bram",
    "Corv", "Dunn", "Ever", "Fal", "Gorm", "Hess", "Ivel", "Kest", "Lom", "Morr",
    "Nant", "Orr", "Pell", "Rook", "Sedge", "Tarn", "Umber", "Vell", "Wren", "Yarr",
};
static const char *const s_family_b[] = {
    "", "by", "ton", "well", "more", "ridge", "stead", "wick", "ford", "ley",
    "den", "mere", "croft", "holt", "wood", "shaw",
};
static const char *const s_town_a[] = {
    "Quen", "Zel", "Vorn", "Yarl", "Brisk", "Cwen", "Dral", "Emb", "Fyn", "Glim",
    "Hov", "Iss", "Jur", "Kev", "Lum", "Mox", "Nyr", "Ost", "Pryl", "Quar",
    "Rusk", "Sov", "Tyv", "Ulb", "Vax", "Wyth", "Xel", "Yev", "Zorn", "Ashen",
};
static const char *const s_town_b[] = {
    "mere", "holt", "by", "wick", "stead", "thorpe", "combe", "ley", "ham", "well",
};
static const char *const s_street_a[] = {
    "Larkspur", "Tansy", "Brindle", "Copperleaf", "Hazelmoor", "Quillon", "Sorrel",
    "Veldt", "Wyvern", "Marrow", "Juniper", "Gallow", "Pennon", "Rushlight", "Tallow",
    "Emberly", "Fallow", "Grisel", "Harrow", "Kindle",
};
static const char *const s_street_b[] = {
    "Row", "Lane", "Close", "Way", "Street", "Road", "Court", "Walk", "Gardens", "Terrace",
};
/* Postcode areas that are not UK postcode areas. */
static const char *const s_areas[] = { "QX", "ZQ", "XJ", "JQ", "QZ", "ZX" };
static const char s_inward[] = "ABDEFGHJLNPQRSTUWXYZ";   /* as real inward codes: no CIKMOV */

static const char *const s_indicators[] = {
    "online_extremist_content", "travel_interest", "isolation", "grievance",
    "weapons_interest", "associates_of_concern", "fixated_ideation", "financial_difficulty",
    "substance_misuse", "recent_bereavement", "unemployment", "mental_health_history",
};
#define S_NINDICATORS (sizeof s_indicators / sizeof s_indicators[0])

/* KIS summaries: "<lead>; N indicators on file; <tail> M months." */
static const char *const s_kis_leads[] = {
    "Closed after a period with no new reporting", "Closed following a routine review",
    "Closed at the closure gateway", "Closed after investigative activity concluded",
};
static const char *const s_kis_tails[] = {
    "last reviewed", "no current investigative interest for", "no contact with associates seen for",
    "file dormant for",
};

/* What a partner's record can hold, with the chance each source is present
 * on a record and the sentences it is written in (plain, concerning). */
typedef struct {
    const char *source;
    double present;
    const char *plain[3];
    const char *concern[3];
} s_source_t;

static const s_source_t s_sources[] = {
    { "housing", 0.8,
      { "Social housing tenancy, rent account up to date.", "Private rented tenancy registered; no issues recorded.",
        "On the housing register, no priority need." },
      { "Tenancy at risk after repeated rent arrears and a notice seeking possession.",
        "Presented as homeless twice in the last year; in temporary accommodation.",
        "Neighbour complaints about shouting and threats; tenancy warning issued." } },
    { "social_care", 0.35,
      { "Historic contact as a child; case closed.", "Carer's assessment completed for a parent.",
        "Single adult social care enquiry, no further action." },
      { "Open adult safeguarding enquiry: self-neglect and isolation.",
        "Referral by a relative worried about changed behaviour and withdrawal.",
        "Looked-after child history; care leaver with no current support." } },
    { "education", 0.3,
      { "Completed a college course; attendance satisfactory.", "Enrolled on an adult learning course.",
        "School records show no exclusions." },
      { "Excluded from college after an altercation with staff.",
        "Stopped attending a course; tutors noted hostile remarks.",
        "School records show repeated fixed-term exclusions." } },
    { "community_safety", 0.3,
      { "Named as a witness in a neighbourhood dispute.", "Attended a community meeting; no concerns.",
        "Reported noise nuisance as a complainant." },
      { "Subject of a community protection warning for harassment.",
        "Reported by a community group for distributing hostile leaflets.",
        "Linked to anti-social behaviour near a place of worship." } },
    { "benefits", 0.85,
      { "Claims universal credit; conditions met.", "In receipt of a disability benefit; award reviewed.",
        "Previous claim closed on finding work." },
      { "Claim sanctioned repeatedly for missed appointments; reported financial hardship.",
        "Claim stopped; told a work coach of debts and feeling cut off.",
        "Advance payments outstanding; disclosed recent eviction." } },
    { "employment", 0.5,
      { "Employed part-time in retail, PAYE records current.", "Self-employed courier, returns filed.",
        "Recently started an apprenticeship." },
      { "Dismissed from work after a conflict with colleagues; long-term unemployed since.",
        "Repeated short jobs ended early; referred to a work coach for support.",
        "Left employment after disciplinary action for remarks to customers." } },
    { "probation", 1.0,
      { "Completed a community order without breach.", "Past licence period completed; no current supervision.",
        "Pre-sentence report prepared; conditional discharge." },
      { "Currently on licence; missed two appointments.",
        "Community order with a rehabilitation requirement; engagement poor.",
        "Recalled on licence after a breach." } },
    { "health_contact", 1.0,
      { "Registered with a GP; routine contact only.", "Attended A&E once for a minor injury.",
        "Short course of talking therapy completed." },
      { "Referred to community mental health team; did not attend.",
        "Repeated crisis contacts in the last six months.",
        "Discharged from a mental health ward with a follow-up plan not taken up." } },
    { "police_index", 0.9,
      { "Recorded as a witness to a road traffic collision.", "Named as a victim of a theft.",
        "Intelligence report: no further action." },
      { "Several intelligence reports of association with persons of concern.",
        "Stop and search record; item of concern recovered.",
        "Intelligence report of expressed support for violence." } },
    { "local_crime", 0.35,
      { "Caution for a minor public order offence years ago.", "Fixed penalty notice for a driving offence.",
        "Arrested, no further action." },
      { "Convicted of a public order offence with a hostility aggravation.",
        "Convicted of possession of a bladed article.",
        "Charged with assault; case pending." } },
    { "prior_intervention", 0.2,
      { "Prevent referral assessed as not suitable for Channel.", "Community support offered and declined.",
        "Previous safeguarding contact closed." },
      { "Channel intervention ended early when the subject disengaged.",
        "Prevent referral reopened after renewed online activity.",
        "Prior mentoring stopped after threats to the mentor." } },
};
#define S_NSOURCES (sizeof s_sources / sizeof s_sources[0])

/* Which sources an agency holds, by kind and (for an OGD) the sector the
 * scenario declares: never by its id. */
typedef struct {
    const char *kind;
    const char *sector;    /* "": the kind's agencies without a sector */
    const char *sources[4];
} s_holder_t;

static const s_holder_t s_holders[] = {
    { "ctp",             "",          { "police_index", "local_crime", "prior_intervention" } },
    { "local_authority", "",          { "housing", "social_care", "education", "community_safety" } },
    { "ogd",             "benefits",  { "benefits", "employment" } },
    { "ogd",             "probation", { "probation" } },
    { "ogd",             "health",    { "health_contact" } },
};

/* What a concerning holding leads a partner to propose. */
static const struct {
    const char *source;
    const char *kind;
} s_proposals[] = {
    { "housing",            "housing_support" },
    { "social_care",        "safeguarding_referral" },
    { "education",          "education_support" },
    { "community_safety",   "safeguarding_referral" },
    { "benefits",           "employment_support" },
    { "employment",         "employment_support" },
    { "probation",          "probation_supervision" },
    { "health_contact",     "mental_health_support" },
    { "police_index",       "prevent_channel_referral" },
    { "local_crime",        "prevent_channel_referral" },
    { "prior_intervention", "prevent_channel_referral" },
};

#define S_COUNT(a) (sizeof (a) / sizeof (a)[0])

/* ---- records as stored ---------------------------------------------------- */

/* A partner's record on one person: fixed header, then nholdings holdings.
 * Stored as raw bytes (zeroed first, so the bytes are deterministic); the
 * files are only ever read by this build of this module. */
typedef struct {
    char source[32];
    char detail[200];
    uint8_t concern;
} s_hold_t;

typedef struct {
    char name[64];
    char dob[11];
    char region[64];
    char postcode[10];
    uint8_t nholdings;
    s_hold_t h[MACX_SYNTH_MAX_HOLDINGS];
} s_rec_t;

#define S_REC_HEAD offsetof (s_rec_t, h)

/* One record's key in the index: the keys in the store's order, so that a
 * lookup visits its candidates in the order a scan of the store would. */
typedef struct {
    char *key;                       /* "normalised name|dob|tag", NUL-terminated */
    uint32_t len;
    uint32_t nlen;                   /* the normalised name's length */
    char dob[16];                    /* as filed ("" when unknown) */
    char year[5];                    /* its first four characters */
    char init[20];                   /* the name's initials */
} s_ix_t;

struct macx_synth_db_t {
    MDB_env *env;
    MDB_dbi records;
    MDB_dbi cohort;
    bool has_records, has_cohort;
    char path[1024];
    /* the lookup index, built on the first lookup: every key in the
     * store's order, and its positions ordered by date of birth, by (year,
     * name length) and by (year, initials): a lookup reads the keys that can
     * match, not the whole store */
    s_ix_t *ix;
    size_t nix;
    uint32_t *by_dob, *by_year_len, *by_year_init;
    bool indexed;
};

/* ---- deterministic draws ---------------------------------------------------- */

static double
s_u (uint64_t seed, const char *stream, uint64_t index, unsigned k)
{
    return macx_rand_unit (seed, stream, (index << 8) | k);
}

static size_t
s_pick (size_t n, double u)
{
    size_t i = (size_t) (u * (double) n);
    return i < n ? i : n - 1;
}

/* ---- dates (proleptic Gregorian, days since 1970-01-01) -------------------- */

static int64_t
s_days_from_civil (int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned) (y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t) doe - 719468;
}

static void
s_civil_from_days (int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned) (z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = (int) (doy - (153 * mp + 2) / 5 + 1);
    *m = (int) (mp < 10 ? mp + 3 : mp - 9);
    *y = (int) ((int64_t) yoe + era * 400 + (*m <= 2));
}

static void
s_format_day (int64_t day, char out[11])
{
    int y, m, d;
    s_civil_from_days (day, &y, &m, &d);
    snprintf (out, 11, "%04d-%02d-%02d", y, m, d);
}

/* A dob for someone aged exactly `age` years on day `start`. */
static int64_t
s_dob_for_age (int32_t start, int age, double u)
{
    int y, m, d;
    s_civil_from_days (start, &y, &m, &d);
    if (m == 2 && d == 29)
        d = 28;
    int64_t birthday = s_days_from_civil (y - age, (unsigned) m, (unsigned) d);
    return birthday - (int64_t) s_pick (364, u);
}

/* ---- names ------------------------------------------------------------------ */

static void
s_gen_given (uint64_t seed, const char *stream, uint64_t i, unsigned k, char *out, size_t size)
{
    snprintf (out, size, "%s%s", s_given_a[s_pick (S_COUNT (s_given_a), s_u (seed, stream, i, k))],
              s_given_b[s_pick (S_COUNT (s_given_b), s_u (seed, stream, i, k + 1))]);
}

static void
s_gen_family (uint64_t seed, const char *stream, uint64_t i, unsigned k, char *out, size_t size)
{
    snprintf (out, size, "%s%s", s_family_a[s_pick (S_COUNT (s_family_a), s_u (seed, stream, i, k))],
              s_family_b[s_pick (S_COUNT (s_family_b), s_u (seed, stream, i, k + 1))]);
}

/* Lower-case letters and single spaces: the key a partner files under. */
static void
s_normalise (const char *in, char *out, size_t size)
{
    size_t o = 0;
    bool space = false;
    for (const char *p = in; *p && o + 1 < size; p++) {
        if (isalpha ((unsigned char) *p)) {
            if (space && o > 0 && o + 2 < size)
                out[o++] = ' ';
            out[o++] = (char) tolower ((unsigned char) *p);
            space = false;
        }
        else if (*p == ' ' || *p == '-')
            space = true;
    }
    out[o] = '\0';
}

/* Upper-case initials without dots ("AQ"), as the initials transform leaves them. */
static void
s_initials (const char *in, char *out, size_t size)
{
    size_t o = 0;
    bool start = true;
    for (const char *p = in; *p && o + 1 < size; p++) {
        if (isalpha ((unsigned char) *p) && start)
            out[o++] = (char) toupper ((unsigned char) *p);
        start = *p == ' ' || *p == '-';
    }
    out[o] = '\0';
}

/* Exactly one insertion, deletion or substitution apart. */
static bool
s_edit1 (const char *a, const char *b)
{
    size_t na = strlen (a), nb = strlen (b);
    if (na < nb) {
        const char *t = a; a = b; b = t;
        size_t tn = na; na = nb; nb = tn;
    }
    if (na - nb > 1)
        return false;
    size_t i = 0;
    while (i < nb && a[i] == b[i])
        i++;
    if (na == nb)
        return i < na && strcmp (a + i + 1, b + i + 1) == 0;
    return strcmp (a + i + 1, b + i) == 0;
}

/* A name one letter from name: a vowel changed in the family name. */
static void
s_similar_name (const char *name, double u, char *out, size_t size)
{
    snprintf (out, size, "%s", name);
    char *family = strrchr (out, ' ');
    family = family ? family + 1 : out;
    static const char vowels[] = "aeiou";
    size_t n = strlen (family), vcount = 0;
    for (size_t i = 1; i < n; i++)
        vcount += strchr (vowels, family[i]) != NULL;
    if (vcount == 0) {   /* no vowel after the first letter: double the last one */
        if (strlen (out) + 1 < size) {
            family[n] = family[n - 1];
            family[n + 1] = '\0';
        }
        return;
    }
    size_t want = s_pick (vcount, u), seen = 0;
    for (size_t i = 1; i < n; i++)
        if (strchr (vowels, family[i]) && seen++ == want) {
            const char *v = strchr (vowels, family[i]);
            family[i] = vowels[((size_t) (v - vowels) + 1 + s_pick (4, u * 7 - floor (u * 7))) % 5];
            return;
        }
}

/* ---- subjects ----------------------------------------------------------------- */

static const char *
s_region_by_share (const macx_scenario_t *scn, double u)
{
    double acc = 0;
    for (int r = 0; r < scn->nregions; r++) {
        acc += scn->region_share[r];
        if (u < acc)
            return scn->regions[r];
    }
    return scn->nregions ? scn->regions[scn->nregions - 1] : "national";
}

static int
s_region_index (const macx_scenario_t *scn, const char *region)
{
    for (int r = 0; r < scn->nregions; r++)
        if (strcmp (scn->regions[r], region) == 0)
            return r;
    return 0;
}

/* Address and postcode of someone living in region; draws k..k+8. */
static void
s_gen_place (const macx_scenario_t *scn, const char *stream, uint64_t i, unsigned k, const char *region,
             char *address, size_t asize, char postcode[10])
{
    uint64_t seed = scn->seed;
    char town[32];
    snprintf (town, sizeof town, "%s%s", s_town_a[s_pick (S_COUNT (s_town_a), s_u (seed, stream, i, k))],
              s_town_b[s_pick (S_COUNT (s_town_b), s_u (seed, stream, i, k + 1))]);
    snprintf (address, asize, "%d %s %s, %s, %s", 1 + (int) s_pick (198, s_u (seed, stream, i, k + 2)),
              s_street_a[s_pick (S_COUNT (s_street_a), s_u (seed, stream, i, k + 3))],
              s_street_b[s_pick (S_COUNT (s_street_b), s_u (seed, stream, i, k + 4))], town, region);
    /* the area follows the region, so a district says roughly where */
    const char *area = s_areas[(size_t) s_region_index (scn, region) % S_COUNT (s_areas)];
    int district = 1 + (int) s_pick (19, s_u (seed, stream, i, k + 5));
    size_t in = s_pick (10 * 400, s_u (seed, stream, i, k + 6));
    snprintf (postcode, 10, "%s%d %d%c%c", area, district, (int) (in / 400),
              s_inward[(in / 20) % 20], s_inward[in % 20]);
}

void
macx_synth_subject (const macx_scenario_t *scn, int index, macx_subject_t *s)
{
    memset (s, 0, sizeof *s);
    uint64_t seed = scn->seed, i = (uint64_t) index;
    const char *st = "synth/subject";
    int y, m, d;
    s_civil_from_days (scn->start_day, &y, &m, &d);
    snprintf (s->id, sizeof s->id, "S-%06d", index);
    snprintf (s->case_id, sizeof s->case_id, "C-%04d-%06d", y, index);

    char given[32], family[32];
    s_gen_given (seed, st, i, 0, given, sizeof given);
    s_gen_family (seed, st, i, 2, family, sizeof family);
    snprintf (s->name, sizeof s->name, "%s %s", given, family);

    int age = 18 + (int) s_pick (43, s_u (seed, st, i, 4));
    s_format_day (s_dob_for_age (scn->start_day, age, s_u (seed, st, i, 5)), s->dob);

    snprintf (s->region, sizeof s->region, "%s", s_region_by_share (scn, s_u (seed, st, i, 6)));
    s_gen_place (scn, st, i, 10, s->region, s->address, sizeof s->address, s->postcode);

    /* latent risk skews low: most closed subjects have moved on */
    double u = s_u (seed, st, i, 20);
    s->latent_risk = u * u;
    double cat = s->latent_risk + 0.12 * (s_u (seed, st, i, 21) - 0.5);
    snprintf (s->closure_category, sizeof s->closure_category, "%s",
              cat > 0.75 ? "CAT-A" : cat > 0.4 ? "CAT-B" : "CAT-C");
    int window = scn->closure_window_days > 0 ? scn->closure_window_days : 1;
    s->closure_day = (int) s_pick ((size_t) window, s_u (seed, st, i, 22));

    /* indicators: one, plus each further one with a chance rising with risk;
     * which ones by a partial shuffle of the table */
    int n = 1;
    for (unsigned k = 0; k < MACX_SYNTH_MAX_INDICATORS - 1; k++)
        n += s_u (seed, st, i, 30 + k) < 0.04 + 0.45 * s->latent_risk;
    size_t order[S_NINDICATORS];
    for (size_t k = 0; k < S_NINDICATORS; k++)
        order[k] = k;
    for (int k = 0; k < n; k++) {
        size_t j = (size_t) k + s_pick (S_NINDICATORS - (size_t) k, s_u (seed, st, i, 40 + (unsigned) k));
        size_t t = order[k]; order[k] = order[j]; order[j] = t;
        snprintf (s->indicators[k], sizeof s->indicators[k], "%s", s_indicators[order[k]]);
    }
    s->nindicators = n;

    snprintf (s->kis_ref, sizeof s->kis_ref, "KIS-%06" PRIX64,
              macx_rand_u64 (seed, "synth/kis", i) & 0xFFFFFF);
    snprintf (s->kis_summary, sizeof s->kis_summary, "%s; %d indicator%s on file; %s %d months.",
              s_kis_leads[s_pick (S_COUNT (s_kis_leads), s_u (seed, st, i, 50))], n, n == 1 ? "" : "s",
              s_kis_tails[s_pick (S_COUNT (s_kis_tails), s_u (seed, st, i, 51))],
              3 + (int) s_pick (30, s_u (seed, st, i, 52)));
}

/* ---- generation ------------------------------------------------------------------ */

static const s_holder_t *
s_holder (const char *kind, const char *sector)
{
    for (size_t i = 0; i < S_COUNT (s_holders); i++)
        if (strcmp (s_holders[i].kind, kind) == 0 && strcmp (s_holders[i].sector, sector) == 0)
            return &s_holders[i];
    return NULL;
}

size_t
macx_synth_offers (const macx_scn_agency_t *agency, const char **out, size_t max)
{
    const s_holder_t *h = s_holder (agency->kind, agency->sector);
    size_t k = 0;
    for (size_t s = 0; h && s < S_COUNT (h->sources) && h->sources[s]; s++)
        for (size_t p = 0; p < S_COUNT (s_proposals); p++) {
            if (strcmp (s_proposals[p].source, h->sources[s]) != 0)
                continue;
            bool dup = false;
            for (size_t j = 0; j < k; j++)
                dup |= strcmp (out[j], s_proposals[p].kind) == 0;
            if (!dup && k < max)
                out[k++] = s_proposals[p].kind;
        }
    return k;
}

bool
macx_synth_sector_known (const char *kind, const char *sector)
{
    return *sector && s_holder (kind, sector) != NULL;
}

const char *
macx_synth_sectors (void)
{
    return "benefits, probation, health";
}

static const s_source_t *
s_source (const char *name)
{
    for (size_t i = 0; i < S_NSOURCES; i++)
        if (strcmp (s_sources[i].source, name) == 0)
            return &s_sources[i];
    return NULL;
}

/* Which of the holder's sources a record has (at least one), and whether
 * each raises concern: more often the higher the risk. Draws k..k+40. */
static void
s_fill_holdings (uint64_t seed, const char *stream, uint64_t i, const s_holder_t *h, double risk,
                 s_rec_t *r)
{
    size_t nsrc = 0;
    while (nsrc < S_COUNT (h->sources) && h->sources[nsrc])
        nsrc++;
    bool present[S_COUNT (h->sources)] = { false };
    bool any = false;
    for (size_t k = 0; k < nsrc; k++) {
        present[k] = s_u (seed, stream, i, 100 + 4 * (unsigned) k) < s_source (h->sources[k])->present;
        any |= present[k];
    }
    if (!any)
        present[s_pick (nsrc, s_u (seed, stream, i, 99))] = true;
    r->nholdings = 0;
    for (size_t k = 0; k < nsrc; k++) {
        if (!present[k])
            continue;
        const s_source_t *src = s_source (h->sources[k]);
        s_hold_t *o = &r->h[r->nholdings++];
        o->concern = s_u (seed, stream, i, 101 + 4 * (unsigned) k) < 0.06 + 0.6 * risk;
        const char *const *texts = o->concern ? src->concern : src->plain;
        snprintf (o->source, sizeof o->source, "%s", src->source);
        snprintf (o->detail, sizeof o->detail, "%s", texts[s_pick (3, s_u (seed, stream, i, 102 + 4 * (unsigned) k))]);
    }
}

static int
s_put (MDB_txn *txn, MDB_dbi dbi, const s_rec_t *r, char tag, uint64_t i, const char *path, macx_error_t *err)
{
    char norm[64], key[128];
    s_normalise (r->name, norm, sizeof norm);
    int klen = snprintf (key, sizeof key, "%s|%s|%c%06" PRIu64, norm, r->dob, tag, i);
    MDB_val k = { (size_t) klen, key };
    MDB_val v = { S_REC_HEAD + r->nholdings * sizeof (s_hold_t), (void *) r };
    int rc = mdb_put (txn, dbi, &k, &v, 0);
    if (rc)
        return macx_error_set (err, MACX_ESTORE, "%s: %s", path, mdb_strerror (rc));
    return MACX_OK;
}

/* A partner's records: subjects it holds (some as near-matches) and noise. */
static int
s_gen_partner (const macx_scenario_t *scn, const macx_scn_agency_t *a, const macx_subject_t *cohort,
               MDB_txn *txn, MDB_dbi dbi, const char *path, macx_error_t *err)
{
    const s_holder_t *h = s_holder (a->kind, a->sector);
    if (!h)
        return MACX_OK;
    uint64_t seed = scn->seed;
    bool local = strcmp (a->kind, "local_authority") == 0;
    char st[96], nst[96];
    snprintf (st, sizeof st, "synth/hold/%s", a->id);
    snprintf (nst, sizeof nst, "synth/noise/%s", a->id);
    int rc, served = 0;
    for (int s = 0; s < scn->subjects; s++) {
        const macx_subject_t *sub = &cohort[s];
        uint64_t i = (uint64_t) s + 1;
        if (local && strcmp (sub->region, a->region) != 0)
            continue;
        served++;
        double p = a->coverage * (0.9 + 0.3 * sub->latent_risk);   /* mean risk is 1/3 */
        if (s_u (seed, st, i, 0) >= p)
            continue;
        s_rec_t r;
        memset (&r, 0, sizeof r);
        snprintf (r.name, sizeof r.name, "%s", sub->name);
        snprintf (r.dob, sizeof r.dob, "%s", sub->dob);
        snprintf (r.region, sizeof r.region, "%s", sub->region);
        snprintf (r.postcode, sizeof r.postcode, "%s", sub->postcode);
        if (s_u (seed, st, i, 1) < a->near_match) {
            if (s_u (seed, st, i, 2) < 0.5) {   /* same name, another dob */
                int y, m, d;
                sscanf (sub->dob, "%d-%d-%d", &y, &m, &d);
                int64_t shift = 30 + (int64_t) s_pick (3000, s_u (seed, st, i, 3));
                int64_t day = s_days_from_civil (y, (unsigned) m, (unsigned) d);
                s_format_day (s_u (seed, st, i, 4) < 0.5 ? day - shift : day + shift, r.dob);
            }
            else   /* a name one letter away, same dob */
                s_similar_name (sub->name, s_u (seed, st, i, 5), r.name, sizeof r.name);
        }
        s_fill_holdings (seed, st, i, h, sub->latent_risk, &r);
        if ((rc = s_put (txn, dbi, &r, 's', i, path, err)))
            return rc;
    }
    /* people who are not subjects: some share a subject's family name */
    int nnoise = local ? served : (int) (0.8 * scn->subjects);
    for (int j = 1; j <= nnoise; j++) {
        uint64_t i = (uint64_t) j;
        s_rec_t r;
        memset (&r, 0, sizeof r);
        char given[32], family[32];
        s_gen_given (seed, nst, i, 0, given, sizeof given);
        if (scn->subjects > 0 && s_u (seed, nst, i, 2) < 0.25) {
            const macx_subject_t *rel = &cohort[s_pick ((size_t) scn->subjects, s_u (seed, nst, i, 3))];
            const char *sp = strrchr (rel->name, ' ');
            snprintf (family, sizeof family, "%s", sp ? sp + 1 : rel->name);
        }
        else
            s_gen_family (seed, nst, i, 4, family, sizeof family);
        snprintf (r.name, sizeof r.name, "%s %s", given, family);
        int age = 16 + (int) s_pick (65, s_u (seed, nst, i, 6));
        s_format_day (s_dob_for_age (scn->start_day, age, s_u (seed, nst, i, 7)), r.dob);
        snprintf (r.region, sizeof r.region, "%s",
                  local ? a->region : s_region_by_share (scn, s_u (seed, nst, i, 8)));
        char address[128];
        s_gen_place (scn, nst, i, 10, r.region, address, sizeof address, r.postcode);
        s_fill_holdings (seed, nst, i, h, 0.3 * s_u (seed, nst, i, 9), &r);
        if ((rc = s_put (txn, dbi, &r, 'n', i, path, err)))
            return rc;
    }
    return MACX_OK;
}

static int
s_mkdir (const char *path, macx_error_t *err)
{
    if (mkdir (path, 0700) != 0 && errno != EEXIST)
        return macx_error_set (err, MACX_EIO, "%s: cannot create directory: %s", path, strerror (errno));
    return MACX_OK;
}

static int
s_gen_agency (const macx_scenario_t *scn, const macx_scn_agency_t *a, const macx_subject_t *cohort,
              const char *dir, macx_error_t *err)
{
    char path[1024];
    int rc;
    snprintf (path, sizeof path, "%s/%s", dir, a->id);
    if ((rc = s_mkdir (path, err)))
        return rc;
    if (snprintf (path, sizeof path, "%s/%s/data", dir, a->id) >= (int) sizeof path)
        return macx_error_set (err, MACX_EINVAL, "%s/%s/data: path too long", dir, a->id);
    if ((rc = s_mkdir (path, err)))
        return rc;
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    if ((rc = mdb_env_create (&env)) || (rc = mdb_env_set_maxdbs (env, 4))
        || (rc = mdb_env_set_mapsize (env, S_MAPSIZE))
        || (rc = mdb_env_open (env, path, MDB_NOSYNC | MDB_NOTLS, 0600))
        || (rc = mdb_txn_begin (env, NULL, 0, &txn)))
        goto fail;
    bool mi5 = strcmp (a->kind, "mi5") == 0;
    if ((rc = mdb_dbi_open (txn, mi5 ? "cohort" : "records", MDB_CREATE, &dbi))
        || (rc = mdb_drop (txn, dbi, 0)))
        goto fail;
    if (mi5) {
        for (int s = 0; s < scn->subjects; s++) {
            char key[32];
            int klen = snprintf (key, sizeof key, "%06d|%s", cohort[s].closure_day, cohort[s].id);
            MDB_val k = { (size_t) klen, key }, v = { sizeof cohort[s], (void *) &cohort[s] };
            if ((rc = mdb_put (txn, dbi, &k, &v, 0)))
                goto fail;
        }
    }
    else if ((rc = s_gen_partner (scn, a, cohort, txn, dbi, path, err))) {
        mdb_txn_abort (txn);
        mdb_env_close (env);
        return rc;
    }
    rc = mdb_txn_commit (txn);
    txn = NULL;
    if (rc || (rc = mdb_env_sync (env, 1)))
        goto fail;
    mdb_env_close (env);
    return MACX_OK;
fail:
    if (txn)
        mdb_txn_abort (txn);
    if (env)
        mdb_env_close (env);
    return macx_error_set (err, MACX_ESTORE, "%s: %s", path, mdb_strerror (rc));
}

int
macx_synth_generate (const macx_scenario_t *scn, const char *dir, macx_error_t *err)
{
    if (!scn || !dir || scn->subjects < 0)
        return macx_error_set (err, MACX_EINVAL, "synthetic data: no scenario or directory");
    int rc = s_mkdir (dir, err);
    if (rc)
        return rc;
    macx_subject_t *cohort = calloc ((size_t) scn->subjects + 1, sizeof *cohort);
    if (!cohort)
        return macx_error_set (err, MACX_ENOMEM, "synthetic data: out of memory for %d subjects",
                               scn->subjects);
    for (int s = 0; s < scn->subjects; s++)
        macx_synth_subject (scn, s + 1, &cohort[s]);
    for (int i = 0; i < scn->nagencies && !rc; i++)
        rc = s_gen_agency (scn, &scn->agencies[i], cohort, dir, err);
    free (cohort);
    return rc;
}

/* ---- reading ---------------------------------------------------------------------- */

macx_synth_db_t *
macx_synth_open (const char *dir, const char *agency, macx_error_t *err)
{
    macx_synth_db_t *self = calloc (1, sizeof *self);
    if (!self) {
        macx_error_set (err, MACX_ENOMEM, "out of memory");
        return NULL;
    }
    snprintf (self->path, sizeof self->path, "%s/%s/data", dir, agency);
    MDB_txn *txn = NULL;
    int rc;
    if ((rc = mdb_env_create (&self->env)) || (rc = mdb_env_set_maxdbs (self->env, 4))
        || (rc = mdb_env_open (self->env, self->path, MDB_RDONLY | MDB_NOTLS, 0600))
        || (rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn)))
        goto fail;
    self->has_records = mdb_dbi_open (txn, "records", 0, &self->records) == 0;
    self->has_cohort = mdb_dbi_open (txn, "cohort", 0, &self->cohort) == 0;
    if ((rc = mdb_txn_commit (txn)))   /* commit, not abort: keeps the handles */
        goto fail;
    return self;
fail:
    macx_error_set (err, rc == ENOENT ? MACX_ENOTFOUND : MACX_ESTORE,
                    "%s: cannot open synthetic data: %s", self->path, mdb_strerror (rc));
    if (self->env)
        mdb_env_close (self->env);
    free (self);
    return NULL;
}

void
macx_synth_close (macx_synth_db_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    macx_synth_db_t *self = *self_p;
    mdb_env_close (self->env);
    for (size_t i = 0; i < self->nix; i++)
        free (self->ix[i].key);
    free (self->ix);
    free (self->by_dob);
    free (self->by_year_len);
    free (self->by_year_init);
    free (self);
    *self_p = NULL;
}

int
macx_synth_subjects (macx_synth_db_t *db, macx_subject_t **out, size_t *n, macx_error_t *err)
{
    *out = NULL;
    *n = 0;
    if (!db->has_cohort)
        return macx_error_set (err, MACX_ENOTFOUND, "%s: holds no cohort (not MI5's data)", db->path);
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_stat stat;
    int rc;
    if ((rc = mdb_txn_begin (db->env, NULL, MDB_RDONLY, &txn))
        || (rc = mdb_stat (txn, db->cohort, &stat))
        || (rc = mdb_cursor_open (txn, db->cohort, &cur)))
        goto fail;
    if (stat.ms_entries > 0 && !(*out = malloc (stat.ms_entries * sizeof **out))) {
        mdb_cursor_close (cur);
        mdb_txn_abort (txn);
        return macx_error_set (err, MACX_ENOMEM, "out of memory for %zu subjects", stat.ms_entries);
    }
    /* keys are "closure_day|id", zero-padded: cursor order is the contract's */
    MDB_val k, v;
    for (rc = mdb_cursor_get (cur, &k, &v, MDB_FIRST); rc == 0 && *n < stat.ms_entries;
         rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
        if (v.mv_size != sizeof **out) {
            mdb_cursor_close (cur);
            mdb_txn_abort (txn);
            free (*out);
            *out = NULL;
            *n = 0;
            return macx_error_set (err, MACX_EFORMAT, "%s: a subject of %zu bytes, not %zu (another build?)",
                                   db->path, v.mv_size, sizeof **out);
        }
        memcpy (&(*out)[(*n)++], v.mv_data, sizeof **out);
    }
    mdb_cursor_close (cur);
    mdb_txn_abort (txn);
    return MACX_OK;
fail:
    if (cur)
        mdb_cursor_close (cur);
    if (txn)
        mdb_txn_abort (txn);
    return macx_error_set (err, MACX_ESTORE, "%s: %s", db->path, mdb_strerror (rc));
}

/* "A.Q." or "A Q": only single letters. */
static bool
s_is_initials (const char *name)
{
    if (strchr (name, '.'))
        return true;
    size_t run = 0;
    for (const char *p = name;; p++) {
        if (isalpha ((unsigned char) *p))
            run++;
        else {
            if (run > 1)
                return false;
            run = 0;
            if (!*p)
                break;
        }
    }
    return true;
}

typedef enum { S_NONE, S_NEAR, S_EXACT } s_match_t;

/* The store's key order (LMDB's default: bytes, then length). */
static int
s_key_cmp (const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp (a, b, alen < blen ? alen : blen);
    return c ? c : alen < blen ? -1 : alen > blen;
}

static const s_ix_t *s_sort_ix;   /* qsort has no context argument */

static int
s_pos_cmp (const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *) x, b = *(const uint32_t *) y;
    return a < b ? -1 : a > b;
}

/* The orders of the index: a key's date of birth, its (year, name length)
 * and its (year, initials); the same comparisons find a run (s_run) and,
 * with the position to break ties, sort the index. */
static int
s_dob_eq (const s_ix_t *a, const s_ix_t *b)
{
    return strcmp (a->dob, b->dob);
}

static int
s_year_len_eq (const s_ix_t *a, const s_ix_t *b)
{
    int c = strcmp (a->year, b->year);
    return c ? c : a->nlen < b->nlen ? -1 : a->nlen > b->nlen;
}

static int
s_year_init_eq (const s_ix_t *a, const s_ix_t *b)
{
    int c = strcmp (a->year, b->year);
    return c ? c : strcmp (a->init, b->init);
}

static int (*s_sort_by) (const s_ix_t *, const s_ix_t *);

static int
s_sort_cmp (const void *x, const void *y)
{
    int c = s_sort_by (&s_sort_ix[*(const uint32_t *) x], &s_sort_ix[*(const uint32_t *) y]);
    return c ? c : s_pos_cmp (x, y);
}

/* Reads every key once (the store is read-only for the run). */
static int
s_index (macx_synth_db_t *db, MDB_txn *txn)
{
    MDB_stat st;
    MDB_cursor *cur;
    if (mdb_stat (txn, db->records, &st) || mdb_cursor_open (txn, db->records, &cur))
        return -1;
    size_t cap = st.ms_entries ? st.ms_entries : 1;
    db->ix = calloc (cap, sizeof *db->ix);
    db->by_dob = calloc (cap, sizeof (uint32_t));
    db->by_year_len = calloc (cap, sizeof (uint32_t));
    db->by_year_init = calloc (cap, sizeof (uint32_t));
    if (!db->ix || !db->by_dob || !db->by_year_len || !db->by_year_init) {
        mdb_cursor_close (cur);
        return -1;
    }
    MDB_val k, v;
    for (int rc = mdb_cursor_get (cur, &k, &v, MDB_FIRST); rc == 0 && db->nix < st.ms_entries;
         rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size >= 128)
            continue;   /* not a key we file under (see the match) */
        s_ix_t *e = &db->ix[db->nix];
        if (!(e->key = malloc (k.mv_size + 1)))
            break;
        memcpy (e->key, k.mv_data, k.mv_size);
        e->key[k.mv_size] = '\0';
        e->len = (uint32_t) k.mv_size;
        const char *bar = strchr (e->key, '|'), *end = bar ? strchr (bar + 1, '|') : NULL;
        e->nlen = (uint32_t) (bar ? bar - e->key : e->len);
        if (bar && end)
            snprintf (e->dob, sizeof e->dob, "%.*s", (int) (end - bar - 1), bar + 1);
        snprintf (e->year, sizeof e->year, "%.4s", e->dob);
        char name[128];
        snprintf (name, sizeof name, "%.*s", (int) e->nlen, e->key);
        s_initials (name, e->init, sizeof e->init);
        db->by_dob[db->nix] = db->by_year_len[db->nix] = db->by_year_init[db->nix]
            = (uint32_t) db->nix;
        db->nix++;
    }
    mdb_cursor_close (cur);
    s_sort_ix = db->ix;
    uint32_t *orders[3] = { db->by_dob, db->by_year_len, db->by_year_init };
    int (*by[3]) (const s_ix_t *, const s_ix_t *) = { s_dob_eq, s_year_len_eq, s_year_init_eq };
    for (int i = 0; i < 3; i++) {
        s_sort_by = by[i];
        qsort (orders[i], db->nix, sizeof (uint32_t), s_sort_cmp);
    }
    db->indexed = true;
    return 0;
}

/* A run of positions of one order: [lo, hi) of order. */
typedef struct {
    const uint32_t *order;
    size_t lo, hi;
} s_span_t;

/* The run of order (sorted with cmp) whose keys compare equal to probe. */
static s_span_t
s_run (const macx_synth_db_t *db, const uint32_t *order, int (*cmp) (const s_ix_t *, const s_ix_t *),
       const s_ix_t *probe)
{
    size_t lo = 0, hi = db->nix;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cmp (&db->ix[order[mid]], probe) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    s_span_t r = { order, lo, lo };
    while (r.hi < db->nix && cmp (&db->ix[order[r.hi]], probe) == 0)
        r.hi++;
    return r;
}

/* The positions a query can match, in the store's order: every key of the
 * same normalised name (any date of birth); with a full date of birth, the
 * keys of that date (a near match by one edit or by initials needs it);
 * with only a year, the keys of that year whose name is one letter longer
 * or shorter at most (an edit of one changes no more), or, for initials,
 * those of that year with the same initials. *out is malloc'd. */
static size_t
s_candidates (const macx_synth_db_t *db, const char *qnorm, const char *qinit, const char *dob,
              bool full, bool year, bool initials, uint32_t **out)
{
    char prefix[80];
    int plen = snprintf (prefix, sizeof prefix, "%s|", qnorm);
    size_t lo = 0, hi = db->nix;
    while (lo < hi) {   /* the first key not before the prefix */
        size_t mid = (lo + hi) / 2;
        if (s_key_cmp (db->ix[mid].key, db->ix[mid].len, prefix, (size_t) plen) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t name0 = lo, name1 = lo;
    while (name1 < db->nix && db->ix[name1].len >= (uint32_t) plen
           && memcmp (db->ix[name1].key, prefix, (size_t) plen) == 0)
        name1++;
    s_ix_t probe = { .nlen = (uint32_t) strlen (qnorm) };
    snprintf (probe.dob, sizeof probe.dob, "%s", dob);
    snprintf (probe.year, sizeof probe.year, "%.4s", dob);
    snprintf (probe.init, sizeof probe.init, "%s", initials ? qinit : "");
    s_span_t runs[3];
    int nruns = 0;
    if (full)
        runs[nruns++] = s_run (db, db->by_dob, s_dob_eq, &probe);
    else if (year && initials)
        runs[nruns++] = s_run (db, db->by_year_init, s_year_init_eq, &probe);
    else if (year)
        for (int d = -1; d <= 1; d++) {
            if (d < 0 && probe.nlen == 0)
                continue;
            s_ix_t p = probe;
            p.nlen = probe.nlen + (uint32_t) d;
            runs[nruns++] = s_run (db, db->by_year_len, s_year_len_eq, &p);
        }
    size_t total = name1 - name0;
    for (int r = 0; r < nruns; r++)
        total += runs[r].hi - runs[r].lo;
    *out = malloc ((total ? total : 1) * sizeof **out);
    if (!*out)
        return 0;
    size_t k = 0;
    for (size_t i = name0; i < name1; i++)
        (*out)[k++] = (uint32_t) i;
    for (int r = 0; r < nruns; r++)
        for (size_t i = runs[r].lo; i < runs[r].hi; i++)
            (*out)[k++] = runs[r].order[i];
    qsort (*out, k, sizeof **out, s_pos_cmp);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (!u || (*out)[u - 1] != (*out)[i])
            (*out)[u++] = (*out)[i];
    return u;
}

int
macx_synth_lookup (macx_synth_db_t *db, const char *name, const char *dob, const char *region,
                   macx_holding_t *out, size_t max, size_t *n)
{
    *n = 0;
    if (!db || !name || (!out && max))
        return MACX_EINVAL;
    if (!db->has_records || !*name)
        return MACX_OK;
    dob = dob ? dob : "";
    region = region ? region : "";
    bool initials = s_is_initials (name);
    char qnorm[64], qinit[20];
    s_normalise (name, qnorm, sizeof qnorm);
    if (initials) {   /* the letters, in order */
        size_t o = 0;
        for (const char *p = name; *p && o + 1 < sizeof qinit; p++)
            if (isalpha ((unsigned char) *p))
                qinit[o++] = (char) toupper ((unsigned char) *p);
        qinit[o] = '\0';
    }
    size_t dlen = strlen (dob);
    bool full = dlen == 10, year = dlen >= 4;
    if (!*qnorm || (initials && !year))
        return MACX_OK;   /* too little to search on */

    MDB_txn *txn = NULL;
    if (mdb_txn_begin (db->env, NULL, MDB_RDONLY, &txn))
        return MACX_ESTORE;
    if (!db->indexed && s_index (db, txn)) {
        mdb_txn_abort (txn);
        return MACX_ESTORE;
    }
    /* As a fuzzy search of the whole store would, but over the candidates
     * only: the key ("normalised name|dob|tag") decides, the value only when
     * it matches. */
    uint32_t *cand = NULL;
    size_t ncand = s_candidates (db, qnorm, initials ? qinit : "", dob, full, year, initials, &cand);
    int rc = 0, nrec = 0;
    for (size_t c = 0; c < ncand; c++) {
        const s_ix_t *e = &db->ix[cand[c]];
        char key[128];
        memcpy (key, e->key, (size_t) e->len + 1);
        char *rnorm = key, *rdob = strchr (key, '|'), *tag;
        if (!rdob || !(tag = strchr (rdob + 1, '|')))
            continue;
        *rdob++ = '\0';
        *tag = '\0';
        bool dob_eq = full && strcmp (dob, rdob) == 0;
        bool year_eq = year && strncmp (dob, rdob, 4) == 0;
        s_match_t m = S_NONE;
        if (initials) {
            char rinit[20];
            s_initials (rnorm, rinit, sizeof rinit);
            if ((full ? dob_eq : year_eq) && strcmp (rinit, qinit) == 0)
                m = S_NEAR;
        }
        else if (strcmp (rnorm, qnorm) == 0)
            m = dob_eq ? S_EXACT : S_NEAR;
        else if ((dob_eq || (!full && year_eq)) && s_edit1 (rnorm, qnorm))
            m = S_NEAR;
        if (m == S_NONE)
            continue;
        MDB_val k = { e->len, e->key }, v;
        if ((rc = mdb_get (txn, db->records, &k, &v)))
            break;
        if (v.mv_size < S_REC_HEAD || v.mv_size > sizeof (s_rec_t)
            || (v.mv_size - S_REC_HEAD) % sizeof (s_hold_t))
            continue;
        s_rec_t r;
        memcpy (&r, v.mv_data, v.mv_size);
        r.region[sizeof r.region - 1] = '\0';
        if (*region && strcmp (region, r.region) != 0)
            continue;
        size_t nh = (v.mv_size - S_REC_HEAD) / sizeof (s_hold_t);
        /* the key's tag: 's' and the cohort index for a subject's record */
        int subject = tag[1] == 's' ? atoi (tag + 2) : 0;
        for (size_t i = 0; i < nh && i < r.nholdings && *n < max; i++) {
            macx_holding_t *h = &out[(*n)++];
            memset (h, 0, sizeof *h);
            snprintf (h->source, sizeof h->source, "%.31s", r.h[i].source);
            snprintf (h->match, sizeof h->match, "%s", m == S_EXACT ? "exact" : "near");
            snprintf (h->detail, sizeof h->detail, "%.199s", r.h[i].detail);
            h->concern = r.h[i].concern != 0;
            h->record = nrec;
            h->subject = subject;
            snprintf (h->dob, sizeof h->dob, "%.10s", rdob);
            h->same_name = strcmp (rnorm, qnorm) == 0;
        }
        nrec++;
    }
    free (cand);
    mdb_txn_abort (txn);
    return rc ? MACX_ESTORE : MACX_OK;
}

/* ---- proposals ------------------------------------------------------------------- */

size_t
macx_synth_interventions (const macx_scn_agency_t *agency, const macx_holding_t *holdings,
                          size_t n, Macx__Intervention *out, char storage[][3][200], size_t max)
{
    const s_holder_t *holder = s_holder (agency->kind, agency->sector);
    size_t k = 0;
    for (size_t i = 0; i < n && k < max; i++) {
        const macx_holding_t *h = &holdings[i];
        if (!h->concern)
            continue;
        /* a partner proposes only from what its own systems hold */
        bool ours = false;
        for (size_t s = 0; holder && s < S_COUNT (holder->sources) && holder->sources[s]; s++)
            ours |= strcmp (holder->sources[s], h->source) == 0;
        const char *kind = NULL;
        for (size_t p = 0; p < S_COUNT (s_proposals); p++)
            if (strcmp (s_proposals[p].source, h->source) == 0)
                kind = s_proposals[p].kind;
        if (!ours || !kind)
            continue;
        bool dup = false;
        for (size_t j = 0; j < k; j++)
            dup |= strcmp (storage[j][0], kind) == 0;
        if (dup)
            continue;
        snprintf (storage[k][0], 200, "%s", kind);
        snprintf (storage[k][1], 200, "%s", agency->id);
        snprintf (storage[k][2], 200, "%s (%s match%s): %s", h->source, h->match,
                  strcmp (h->match, "exact") == 0 ? "" : ", identity to confirm", h->detail);
        macx__intervention__init (&out[k]);
        out[k].kind = storage[k][0];
        out[k].provider = storage[k][1];
        out[k].rationale = storage[k][2];
        k++;
    }
    return k;
}
