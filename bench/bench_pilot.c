/* bench_pilot.c -- how a pilot scales: `macx pilot run` at 500, 5,000 and
 * 20,000 subjects (about the public figure for closed subjects of interest)
 * of bench/scale/pilot.yaml (the default pilot with unlimited capacity, so
 * that a case costs the same at any size), beside bench_broker's full-path
 * rate measured in the same run, on the same machine. Prints a table: the wall
 * time of the whole command and of the simulation alone (from the agencies'
 * start to the broker's end: keys, synthetic data and the report excluded),
 * the records the broker accepted, records per wall second of simulation,
 * wall ms per subject, and the pilot's rate as a share of the broker's
 * full path. Figures, not a test: `--smoke` is the test (50 subjects).
 *
 * Usage: bench_pilot [--subjects N,N,...] [--scenario FILE] [--seed N]
 *                    [--keep DIR] [--smoke] */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "file.h"
#include "jsonl.h"

typedef struct {
    int subjects;
    double wall_s, sim_wall_s;
    double records, refused;
    double e2e_p50;
    bool ok;
} s_row_t;

/* Runs argv with stdout into out (may be NULL: /dev/null), stderr kept.
 * Returns the exit status (or -1). */
static int
s_run (char *const argv[], const char *out)
{
    pid_t pid = fork ();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        FILE *f = freopen (out ? out : "/dev/null", "w", stdout);
        (void) f;
        execv (argv[0], argv);
        fprintf (stderr, "bench_pilot: cannot run %s: %s\n", argv[0], strerror (errno));
        _exit (127);
    }
    int status;
    if (waitpid (pid, &status, 0) != pid)
        return -1;
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

/* bench_broker's full-path rate, from its output ("full path, saturated ...
 * N rec/s"). */
static double
s_broker_rate (const char *dir, bool smoke)
{
    char out[1200], *text = NULL;
    size_t len = 0;
    snprintf (out, sizeof out, "%s/bench_broker.out", dir);
    char *argv[] = { MACX_BENCH_BROKER, smoke ? "--smoke" : "--records", smoke ? NULL : "60000",
                     NULL };
    fprintf (stderr, "bench_pilot: bench_broker %s (its full path, for the ratio)\n",
             smoke ? "--smoke" : "--records 60000");
    if (s_run (argv, out) != 0 || macx_file_read (out, 1 << 20, &text, &len, NULL))
        return 0;
    double rate = 0;
    const char *p = strstr (text, "full path, saturated");
    if (p)
        p = strpbrk (p, "0123456789");
    if (p)
        rate = strtod (p, NULL);
    free (text);
    return rate;
}

static int
s_json (const char *path, macx_jv_t *v)
{
    char *text = NULL;
    size_t len = 0;
    macx_error_t err = { 0 };
    int rc = macx_file_read (path, 64u << 20, &text, &len, &err);
    if (rc == 0)
        rc = macx_jv_parse (text, len, v, &err);
    if (rc)
        fprintf (stderr, "bench_pilot: %s\n", macx_error_text (&err));
    free (text);
    return rc;
}

static s_row_t
s_pilot (const char *scenario, const char *dir, int subjects, const char *seed)
{
    s_row_t row = { .subjects = subjects };
    char run[1200], n[32], path[1300];
    snprintf (run, sizeof run, "%s/pilot-%d", dir, subjects);
    snprintf (n, sizeof n, "%d", subjects);
    char *argv[] = { MACX_BINARY, "pilot", "run", (char *) scenario, "--out", run, "--subjects", n,
                     "--seed", (char *) seed, "--quiet", NULL };
    fprintf (stderr, "bench_pilot: %d subjects ...\n", subjects);
    uint64_t t0 = macx_clock_mono_ns ();
    int rc = s_run (argv, NULL);
    row.wall_s = (double) (macx_clock_mono_ns () - t0) / 1e9;
    if (rc != 0) {
        fprintf (stderr, "bench_pilot: the %d-subject pilot exited %d (see %s)\n", subjects, rc, run);
        return row;
    }
    macx_jv_t runj, rep;
    snprintf (path, sizeof path, "%s/run.json", run);
    if (s_json (path, &runj))
        return row;
    row.sim_wall_s = (macx_jv_num (&runj, "wall_finished_ms", 0)
                      - macx_jv_num (&runj, "wall_started_ms", 0)) / 1000.0;
    macx_jv_free (&runj);
    snprintf (path, sizeof path, "%s/report.json", run);
    if (s_json (path, &rep))
        return row;
    const macx_jv_t *records = macx_jv_get (&rep, "records");
    row.records = records ? macx_jv_num (records, "accepted", 0) : 0;
    row.refused = records ? macx_jv_num (records, "refused", 0) : 0;
    const macx_jv_t *e2e = macx_jv_get (&rep, "end_to_end_days");
    row.e2e_p50 = e2e ? macx_jv_num (e2e, "p50", 0) : 0;
    macx_jv_free (&rep);
    row.ok = row.records > 0 && row.sim_wall_s > 0;
    return row;
}

int
main (int argc, char **argv)
{
    char list[256] = "500,5000,20000", scenario[1024], keep[1024] = "", seed[32] = "2019";
    bool smoke = false;
    snprintf (scenario, sizeof scenario, "%s/bench/scale/pilot.yaml", MACX_SOURCE_DIR);
    for (int i = 1; i < argc; i++) {
        bool more = i + 1 < argc;
        if (strcmp (argv[i], "--smoke") == 0) {
            smoke = true;
            snprintf (list, sizeof list, "50");
        }
        else if (strcmp (argv[i], "--subjects") == 0 && more)
            snprintf (list, sizeof list, "%s", argv[++i]);
        else if (strcmp (argv[i], "--scenario") == 0 && more)
            snprintf (scenario, sizeof scenario, "%s", argv[++i]);
        else if (strcmp (argv[i], "--seed") == 0 && more)
            snprintf (seed, sizeof seed, "%s", argv[++i]);
        else if (strcmp (argv[i], "--keep") == 0 && more)
            snprintf (keep, sizeof keep, "%s", argv[++i]);
        else {
            bool help = strcmp (argv[i], "--help") == 0;
            fprintf (help ? stdout : stderr, "usage: bench_pilot [--subjects N,N,...] "
                     "[--scenario FILE] [--seed N] [--keep DIR] [--smoke]\n");
            return help ? 0 : 64;
        }
    }
    char dir[1024] = "/tmp/macx-bench-pilot-XXXXXX";
    if (keep[0])
        snprintf (dir, sizeof dir, "%s", keep);
    else if (!mkdtemp (dir))
        return 74;
    double broker = s_broker_rate (dir, smoke);
    s_row_t rows[16];
    int nrows = 0;
    char copy[256];
    snprintf (copy, sizeof copy, "%s", list);
    for (char *tok = strtok (copy, ","); tok && nrows < 16; tok = strtok (NULL, ","))
        rows[nrows++] = s_pilot (scenario, dir, atoi (tok), seed);

    printf ("macx pilot scale benchmark: %s, seed %s, %ld cores\n", scenario, seed,
            sysconf (_SC_NPROCESSORS_ONLN));
    printf ("bench_broker full path, saturated, in this run: %.0f records/s\n\n", broker);
    printf ("%9s %9s %9s %10s %10s %11s %9s %9s\n", "subjects", "wall s", "sim s", "records",
            "records/s", "ms/subject", "vs full", "e2e p50");
    int ok = 1;
    for (int i = 0; i < nrows; i++) {
        const s_row_t *r = &rows[i];
        if (!r->ok) {
            printf ("%9d %9.1f   (failed)\n", r->subjects, r->wall_s);
            ok = 0;
            continue;
        }
        double rate = r->records / r->sim_wall_s;
        printf ("%9d %9.2f %9.2f %10.0f %10.0f %11.2f %8.0f%% %8.1fd\n", r->subjects, r->wall_s,
                r->sim_wall_s, r->records, rate, 1000.0 * r->wall_s / r->subjects,
                broker > 0 ? 100.0 * rate / broker : 0, r->e2e_p50);
    }
    if (nrows > 1 && rows[0].ok && rows[nrows - 1].ok) {
        double a = rows[0].wall_s / rows[0].subjects, b = rows[nrows - 1].wall_s / rows[nrows - 1].subjects;
        printf ("\nwall ms per subject, %d against %d subjects: %+.0f%%\n", rows[nrows - 1].subjects,
                rows[0].subjects, 100.0 * (b - a) / a);
    }
    printf ("(wall s: the whole `macx pilot run`; sim s: agencies' start to the broker's end;\n"
            " records/s and vs full: accepted records per second of sim s, against bench_broker)\n");
    if (!keep[0]) {
        char cmd[1200];
        snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system (cmd) != 0)
            fprintf (stderr, "bench_pilot: could not remove %s\n", dir);
    }
    return ok ? 0 : 1;
}
