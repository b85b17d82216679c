/* sweep.c -- a sweep file (base scenario, variants, seeds) and the two
 * executors that run its pilots: local (child processes, as many at a time
 * as there are cores, each `macx pilot run` with its own ports and run
 * directory) and Slurm (one job array of the same commands). What the runs
 * found is summarised by sweep_report.c. */
#include "sweep.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "file.h"
#include "scenario.h"
#include "yamldoc.h"

/* Slurm is not there: exit 69 (EX_UNAVAILABLE), as a service that does not answer. */
#define S_EUNAVAILABLE MACX_ETIMEOUT
/* A run failed: exit 1, the sweep did not complete (its message names the run). */
#define S_EFAILED MACX_EDENIED

/* ---- the sweep file ------------------------------------------------------------ */

static struct fy_node *
s_get (struct fy_node *map, const char *key)
{
    return fy_node_mapping_lookup_by_string (map, key, FY_NT);
}

/* A path in the sweep file, resolved against its directory. */
static void
s_resolve (const char *file, const char *p, char *out, size_t size)
{
    char copy[1024];
    snprintf (copy, sizeof copy, "%s", file);
    if (p[0] == '/')
        snprintf (out, size, "%s", p);
    else
        snprintf (out, size, "%s/%s", dirname (copy), p);
}

static int
s_seeds (macx_yaml_reader_t *r, struct fy_node *n, macx_sweep_t *sw)
{
    if (n && fy_node_get_type (n) == FYNT_SEQUENCE) {
        void *it = NULL;
        struct fy_node *e;
        while ((e = fy_node_sequence_iterate (n, &it))) {
            const char *v = fy_node_get_type (e) == FYNT_SCALAR ? fy_node_get_scalar0 (e) : NULL;
            char *end;
            long long s = v ? strtoll (v, &end, 10) : -1;
            if (!v || *end || end == v || s < 0)
                return macx_yaml_error (r, e, "a seed must be a whole number from 0");
            if (sw->nseeds == MACX_SWEEP_MAX_SEEDS)
                return macx_yaml_error (r, e, "more than %d seeds", MACX_SWEEP_MAX_SEEDS);
            for (int i = 0; i < sw->nseeds; i++)
                if (sw->seeds[i] == s)
                    return macx_yaml_error (r, e, "seed %lld is listed twice", s);
            sw->seeds[sw->nseeds++] = s;
        }
        if (sw->nseeds == 0)
            return macx_yaml_error (r, n, "'seeds' is empty");
        return 0;
    }
    static const char *const keys[] = { "from", "count", NULL };
    if (!n || macx_yaml_keys (r, n, "'seeds' (a list, or {from: N, count: K})", keys, keys))
        return n ? -1 : macx_yaml_error (r, NULL, "the sweep has no 'seeds'");
    int64_t from;
    int count;
    const char *fv = fy_node_get_scalar0 (s_get (n, "from")), *cv = fy_node_get_scalar0 (s_get (n, "count"));
    char *e1, *e2;
    long long a = fv ? strtoll (fv, &e1, 10) : -1, k = cv ? strtoll (cv, &e2, 10) : 0;
    if (!fv || *e1 || a < 0)
        return macx_yaml_error (r, s_get (n, "from"), "'from' must be a whole number from 0");
    if (!cv || *e2 || k < 1 || k > MACX_SWEEP_MAX_SEEDS)
        return macx_yaml_error (r, s_get (n, "count"), "'count' must be a whole number from 1 to %d",
                                MACX_SWEEP_MAX_SEEDS);
    if (a > INT64_MAX - k)
        return macx_yaml_error (r, s_get (n, "from"), "'from' + 'count' is past the largest seed");
    from = a;
    count = (int) k;
    for (int i = 0; i < count; i++)
        sw->seeds[sw->nseeds++] = from + i;
    return 0;
}

static int
s_variant (macx_yaml_reader_t *r, struct fy_node *n, macx_sweep_variant_t *v)
{
    static const char *const keys[] = { "name", "set", "policy", NULL };
    static const char *const need[] = { "name", NULL };
    if (macx_yaml_keys (r, n, "a variant", keys, need)
        || macx_yaml_scalar (r, s_get (n, "name"), "a variant's 'name'", v->name, sizeof v->name))
        return -1;
    for (const char *p = v->name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            return macx_yaml_error (r, s_get (n, "name"), "variant '%s': a name is a-z, 0-9, '-' "
                                    "and '_' (it names a directory)", v->name);
    struct fy_node *set = s_get (n, "set");
    if (set) {
        if (fy_node_get_type (set) != FYNT_MAPPING)
            return macx_yaml_error (r, set, "variant '%s': 'set' maps scenario paths to values "
                                    "(agencies.ogd-health.capacity.sharing: 120)", v->name);
        void *it = NULL;
        struct fy_node_pair *p;
        while ((p = fy_node_mapping_iterate (set, &it))) {
            if (v->ov.nsets == MACX_OVERRIDE_MAX)
                return macx_yaml_error (r, set, "more than %d overrides", MACX_OVERRIDE_MAX);
            const char *k = fy_node_get_scalar0 (fy_node_pair_key (p));
            char *val = fy_emit_node_to_string (fy_node_pair_value (p),
                                                FYECF_MODE_FLOW_ONELINE | FYECF_WIDTH_INF);
            char *slot = v->sets[v->ov.nsets];
            int len = k && val ? snprintf (slot, sizeof v->sets[0], "%s=%s", k, val) : -1;
            free (val);
            /* a trailing newline from the emitter is not part of the value */
            while (len > 0 && (slot[len - 1] == '\n' || slot[len - 1] == ' '))
                slot[--len] = '\0';
            macx_error_t e = { 0 };
            if (len < 0 || len >= (int) sizeof v->sets[0])
                return macx_yaml_error (r, fy_node_pair_key (p), "an override is too long");
            if (macx_override_check (slot, &e))
                return macx_yaml_error (r, fy_node_pair_key (p), "%s", e.msg);
            v->ov.sets[v->ov.nsets++] = slot;
        }
    }
    if (s_get (n, "policy")) {
        char p[1024];
        if (macx_yaml_scalar (r, s_get (n, "policy"), "a variant's 'policy'", p, sizeof p))
            return -1;
        s_resolve (r->file, p, v->policy, sizeof v->policy);
        v->ov.policy = v->policy;
    }
    return 0;
}

int
macx_sweep_load (const char *path, macx_sweep_t *sw, macx_error_t *err)
{
    memset (sw, 0, sizeof *sw);
    snprintf (sw->path, sizeof sw->path, "%s", path);
    char *text = NULL;
    struct fy_document *doc = macx_yaml_load (path, &text, MACX_EFORMAT, err);
    if (!doc)
        return err && err->code ? err->code : MACX_EFORMAT;
    macx_yaml_reader_t r = { .file = path, .err = err, .code = MACX_EFORMAT };
    struct fy_node *root = fy_document_root (doc);
    static const char *const keys[] = { "name", "scenario", "subjects", "seeds", "variants", NULL };
    static const char *const need[] = { "name", "scenario", "seeds", "variants", NULL };
    int rc = -1;
    if (macx_yaml_keys (&r, root, "the sweep", keys, need)
        || macx_yaml_scalar (&r, s_get (root, "name"), "'name'", sw->name, sizeof sw->name)
        || macx_yaml_scalar (&r, s_get (root, "scenario"), "'scenario'", sw->scenario_given,
                             sizeof sw->scenario_given))
        goto done;
    char scn[1024];
    s_resolve (path, sw->scenario_given, scn, sizeof scn);
    if (!realpath (scn, sw->scenario)) {
        rc = macx_error_set (err, MACX_ENOTFOUND, "%s: the scenario %s: %s", path, scn,
                             strerror (errno));
        goto done;
    }
    if (s_get (root, "subjects")) {
        const char *v = fy_node_get_scalar0 (s_get (root, "subjects"));
        char *end;
        long n = v ? strtol (v, &end, 10) : 0;
        if (!v || *end || n < 1 || n > 1000000) {
            macx_yaml_error (&r, s_get (root, "subjects"), "'subjects' must be a whole number from 1 "
                             "to 1000000");
            goto done;
        }
        sw->subjects = (int) n;
    }
    if (s_seeds (&r, s_get (root, "seeds"), sw))
        goto done;
    struct fy_node *vs = s_get (root, "variants");
    if (fy_node_get_type (vs) != FYNT_SEQUENCE || fy_node_sequence_item_count (vs) == 0) {
        macx_yaml_error (&r, vs, "'variants' must be a list, its first the base: "
                         "[{name: base}, {name: ..., set: {...}}]");
        goto done;
    }
    void *it = NULL;
    struct fy_node *e;
    while ((e = fy_node_sequence_iterate (vs, &it))) {
        if (sw->nvariants == MACX_SWEEP_MAX_VARIANTS) {
            macx_yaml_error (&r, e, "more than %d variants", MACX_SWEEP_MAX_VARIANTS);
            goto done;
        }
        macx_sweep_variant_t *v = &sw->variants[sw->nvariants];
        if (s_variant (&r, e, v))
            goto done;
        for (int i = 0; i < sw->nvariants; i++)
            if (strcmp (sw->variants[i].name, v->name) == 0) {
                macx_yaml_error (&r, s_get (e, "name"), "variant '%s' is listed twice", v->name);
                goto done;
            }
        sw->nvariants++;
    }
    rc = 0;
done:
    fy_document_destroy (doc);
    free (text);
    if (rc)
        return err && err->code ? err->code : MACX_EFORMAT;
    /* Every variant's scenario as its runs will read it: a bad override
     * fails here, before anything runs. */
    macx_scenario_t *s = malloc (sizeof *s);
    if (!s)
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    char tmp[64] = "/tmp/macx-sweep-XXXXXX.yaml", src[1024];
    int fd = mkstemps (tmp, 5);
    if (fd < 0) {
        free (s);
        return macx_error_set (err, MACX_EIO, "/tmp: %s", strerror (errno));
    }
    close (fd);
    for (int i = 0; i < sw->nvariants && rc == 0; i++)
        if ((rc = macx_override_write (sw->scenario, &sw->variants[i].ov, tmp, s, src, err)))
            macx_error_prefix (err, "%s: variant '%s'", path, sw->variants[i].name);
    unlink (tmp);
    free (s);
    return rc;
}

/* ---- the runs ------------------------------------------------------------------ */

typedef struct {
    int variant;
    int64_t seed;
    char dir[1400];              /* absolute */
    char rel[200];               /* under the sweep's directory */
    pid_t pid;
    bool done, failed;
    char args[4096];             /* s_args_text: what the run is made with */
} s_job_t;

static void
s_job_dir (const macx_sweep_t *sw, const char *out, int v, int64_t seed, s_job_t *j)
{
    j->variant = v;
    j->seed = seed;
    snprintf (j->rel, sizeof j->rel, "runs/%s/seed-%" PRId64, sw->variants[v].name, seed);
    snprintf (j->dir, sizeof j->dir, "%s/%s", out, j->rel);
}

/* The argv of one run: the same `macx pilot run` whatever executes it. */
static int
s_argv (const macx_sweep_t *sw, const macx_sweep_opts_t *o, const s_job_t *j, char **av,
        char store[][1500], int max)
{
    int n = 0, k = 0;
#define S_ARG(...) (snprintf (store[k], sizeof store[0], __VA_ARGS__), av[n++] = store[k++])
    S_ARG ("%s", o->self_exe);
    S_ARG ("pilot");
    S_ARG ("run");
    S_ARG ("%s", sw->scenario);
    S_ARG ("--out");
    S_ARG ("%s", j->dir);
    S_ARG ("--seed");
    S_ARG ("%" PRId64, j->seed);
    if (sw->subjects) {
        S_ARG ("--subjects");
        S_ARG ("%d", sw->subjects);
    }
    const macx_sweep_variant_t *v = &sw->variants[j->variant];
    if (v->ov.policy) {
        S_ARG ("--policy");
        S_ARG ("%s", v->policy);
    }
    for (int i = 0; i < v->ov.nsets && n + 3 < max; i++) {
        S_ARG ("--set");
        S_ARG ("%s", v->sets[i]);
    }
    S_ARG ("--quiet");
#undef S_ARG
    av[n] = NULL;
    return n;
}

/* The arguments of j's run after the binary, one a line: what a finished
 * run directory must have been made with to be kept. */
static void
s_args_text (const macx_sweep_t *sw, const macx_sweep_opts_t *o, const s_job_t *j, char *buf,
             size_t size)
{
    char store[16 + 2 * MACX_OVERRIDE_MAX][1500];
    char *av[16 + 2 * MACX_OVERRIDE_MAX + 1];
    int n = s_argv (sw, o, j, av, store, 16 + 2 * MACX_OVERRIDE_MAX);
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 1; k < n && len < size; k++)
        len += (size_t) snprintf (buf + len, size - len, "%s\n", av[k]);
}

/* A run is complete when it has its report and was made with exactly the
 * arguments this sweep would give it (RUN.args): a variant edited since is
 * run again, never reused. */
static bool
s_complete (const s_job_t *j)
{
    char p[1500], *data = NULL;
    size_t len = 0;
    snprintf (p, sizeof p, "%s/report.json", j->dir);
    if (access (p, F_OK) != 0)
        return false;
    snprintf (p, sizeof p, "%s.args", j->dir);
    bool same = macx_file_read (p, 1u << 20, &data, &len, NULL) == MACX_OK && len == strlen (j->args)
                && memcmp (data, j->args, len) == 0;
    free (data);
    return same;
}

/* Records what j's run is made with, before it starts. */
static int
s_write_args (const s_job_t *j, macx_error_t *err)
{
    char p[1500];
    snprintf (p, sizeof p, "%s.args", j->dir);
    return macx_file_write (p, j->args, strlen (j->args), 0644, 0, err);
}

static void
s_progress (const macx_sweep_opts_t *o, int total, int done, int running, int failed,
            int64_t started_ms, bool last)
{
    if (o->quiet)
        return;
    int64_t el = macx_clock_wall_ms () - started_ms;
    char eta[32] = "--";
    if (done > 0 && done < total) {
        int64_t s = el * (total - done) / done / 1000;
        snprintf (eta, sizeof eta, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
    } else if (done == total)
        snprintf (eta, sizeof eta, "0s");
    bool tty = isatty (STDERR_FILENO);
    if (!tty && !last && done % 10 != 0)
        return;
    fprintf (stderr, "%ssweep: %d/%d runs done, %d %s, %d failed, %.0f s elapsed, ETA %s%s",
             tty ? "\r" : "", done, total, running, o->slurm ? "queued or running" : "running", failed,
             (double) el / 1000.0, eta,
             tty && !last ? "\033[K" : "\n");
}

static volatile sig_atomic_t s_stop;
static void s_on_signal (int sig) { (void) sig; s_stop = 1; }

static int
s_run_local (const macx_sweep_t *sw, const macx_sweep_opts_t *o, s_job_t *jobs, int njobs,
             macx_error_t *err)
{
    int par = o->jobs > 0 ? o->jobs : (int) sysconf (_SC_NPROCESSORS_ONLN);
    if (par < 1)
        par = 1;
    int next = 0, running = 0, done = 0, failed = 0, total = njobs;
    for (int i = 0; i < njobs; i++)
        done += jobs[i].done;
    int64_t t0 = macx_clock_wall_ms ();
    int first_failed = -1;
    while ((next < njobs || running > 0)) {
        while (!s_stop && running < par && next < njobs) {
            s_job_t *j = &jobs[next++];
            if (j->done)
                continue;
            char store[16 + 2 * MACX_OVERRIDE_MAX][1500];
            char *av[16 + 2 * MACX_OVERRIDE_MAX + 1];
            s_argv (sw, o, j, av, store, 16 + 2 * MACX_OVERRIDE_MAX);
            char log[1500];
            snprintf (log, sizeof log, "%s.log", j->dir);
            int wrc = s_write_args (j, err);
            if (wrc)
                return wrc;
            pid_t pid = fork ();
            if (pid == 0) {
                int fd = open (log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (fd >= 0) {
                    dup2 (fd, STDOUT_FILENO);
                    dup2 (fd, STDERR_FILENO);
                }
                execv (av[0], av);
                _exit (127);
            }
            if (pid < 0)
                return macx_error_set (err, MACX_EIO, "cannot start a run: %s", strerror (errno));
            j->pid = pid;
            running++;
        }
        s_progress (o, total, done, running, failed, t0, false);
        if (running == 0)
            break;
        int status;
        pid_t pid = waitpid (-1, &status, 0);
        if (pid < 0 && errno == EINTR) {
            if (s_stop)
                for (int i = 0; i < njobs; i++)
                    if (jobs[i].pid > 0)
                        kill (jobs[i].pid, SIGTERM);
            continue;
        }
        if (pid < 0)
            break;
        for (int i = 0; i < njobs; i++)
            if (jobs[i].pid == pid) {
                jobs[i].pid = 0;
                running--;
                if (WIFEXITED (status) && WEXITSTATUS (status) == 0 && s_complete (&jobs[i])) {
                    jobs[i].done = true;
                    done++;
                } else {
                    jobs[i].failed = true;
                    failed++;
                    if (first_failed < 0)
                        first_failed = i;
                }
            }
    }
    s_progress (o, total, done, running, failed, t0, true);
    if (s_stop)
        return macx_error_set (err, MACX_EINTERNAL, "interrupted: %d of %d runs done (run the "
                               "sweep again to finish it)", done, total);
    if (first_failed >= 0)
        return macx_error_set (err, S_EFAILED, "%d run(s) failed; the first: %s (see %s.log)",
                               failed, jobs[first_failed].rel, jobs[first_failed].dir);
    return MACX_OK;
}

/* One word of a shell command line, single-quoted. */
static void
s_quote (FILE *f, const char *s)
{
    fputc ('\'', f);
    for (; *s; s++)
        if (*s == '\'')
            fputs ("'\\''", f);
        else
            fputc (*s, f);
    fputc ('\'', f);
}

/* Runs cmd (a shell command line) and returns its first line of output in
 * buf; the exit status. */
static int
s_shell (const char *cmd, char *buf, size_t size)
{
    FILE *p = popen (cmd, "r");
    if (!p)
        return -1;
    buf[0] = '\0';
    if (!fgets (buf, (int) size, p))
        buf[0] = '\0';
    char rest[256];
    while (fgets (rest, sizeof rest, p))
        ;
    buf[strcspn (buf, "\r\n")] = '\0';
    int st = pclose (p);
    return WIFEXITED (st) ? WEXITSTATUS (st) : -1;
}

static int
s_run_slurm (const macx_sweep_t *sw, const macx_sweep_opts_t *o, s_job_t *jobs, int njobs,
             macx_error_t *err)
{
    char path[1500], line[512];
    if (s_shell ("command -v sbatch && command -v squeue", line, sizeof line) != 0)
        return macx_error_set (err, S_EUNAVAILABLE, "--executor slurm: sbatch and squeue "
                               "are not on PATH (install Slurm's client, or use the local executor)");
    /* runs.txt: one command a line; the array's task N runs line N + 1 */
    snprintf (path, sizeof path, "%s/slurm/runs.txt", o->out);
    char dir[1500];
    snprintf (dir, sizeof dir, "%s/slurm", o->out);
    int rc = macx_file_mkdirs (dir, err);
    if (rc)
        return rc;
    FILE *f = fopen (path, "w");
    if (!f)
        return macx_error_set (err, MACX_EIO, "%s: %s", path, strerror (errno));
    int ntasks = 0;
    for (int i = 0; i < njobs; i++) {
        if (jobs[i].done)
            continue;
        char store[16 + 2 * MACX_OVERRIDE_MAX][1500];
        char *av[16 + 2 * MACX_OVERRIDE_MAX + 1];
        int n = s_argv (sw, o, &jobs[i], av, store, 16 + 2 * MACX_OVERRIDE_MAX);
        if ((rc = s_write_args (&jobs[i], err))) {
            fclose (f);
            return rc;
        }
        for (int k = 0; k < n; k++) {
            if (k)
                fputc (' ', f);
            s_quote (f, av[k]);
        }
        fputs (" > ", f);
        char log[1500];
        snprintf (log, sizeof log, "%s.log", jobs[i].dir);
        s_quote (f, log);
        fputs (" 2>&1\n", f);
        ntasks++;
    }
    fclose (f);
    if (ntasks == 0)
        return MACX_OK;
    snprintf (path, sizeof path, "%s/slurm/sweep.sbatch", o->out);
    if (!(f = fopen (path, "w")))
        return macx_error_set (err, MACX_EIO, "%s: %s", path, strerror (errno));
    fprintf (f, "#!/bin/sh\n# macx pilot sweep %s: task N runs line N+1 of runs.txt\n"
             "#SBATCH --job-name=macx-sweep\n#SBATCH --output=%s/slurm/task-%%a.log\n"
             "#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=1\n"
             "line=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" %s/slurm/runs.txt)\n"
             "eval \"$line\"\n", sw->name, o->out, o->out);
    fclose (f);
    char cmd[4096];
    snprintf (cmd, sizeof cmd, "sbatch --parsable --array=0-%d %s '%s' 2>&1", ntasks - 1,
              o->sbatch_args, path);
    char jobid[256];
    if (s_shell (cmd, jobid, sizeof jobid) != 0 || !jobid[0] || jobid[0] < '0' || jobid[0] > '9')
        return macx_error_set (err, S_EUNAVAILABLE, "sbatch refused the job array: %s",
                               jobid[0] ? jobid : "(no output)");
    jobid[strcspn (jobid, ";")] = '\0';   /* "ID;cluster" on a multi-cluster setup */
    if (!o->quiet)
        fprintf (stderr, "sweep: Slurm job array %s, %d tasks (logs in %s/slurm)\n", jobid, ntasks,
                 o->out);
    int64_t t0 = macx_clock_wall_ms ();
    int total = njobs;
    for (;;) {
        char q[256];
        snprintf (cmd, sizeof cmd, "squeue -h -j %s -o %%i 2>/dev/null | wc -l", jobid);
        int qs = s_shell (cmd, q, sizeof q);
        int queued = qs == 0 ? atoi (q) : -1;
        int done = 0;
        for (int i = 0; i < njobs; i++)
            done += s_complete (&jobs[i]);
        s_progress (o, total, done, queued > 0 ? queued : 0, 0, t0, queued == 0);
        if (queued == 0)
            break;
        if (s_stop) {
            snprintf (cmd, sizeof cmd, "scancel %s", jobid);
            s_shell (cmd, q, sizeof q);
            return macx_error_set (err, MACX_EINTERNAL, "interrupted: job %s cancelled", jobid);
        }
        usleep (500000);
    }
    int failed = 0, first = -1;
    for (int i = 0; i < njobs; i++)
        if (!(jobs[i].done = s_complete (&jobs[i]))) {
            failed++;
            if (first < 0)
                first = i;
        }
    if (failed)
        return macx_error_set (err, S_EFAILED, "%d run(s) of job %s failed; the first: %s "
                               "(see %s.log and %s/slurm)", failed, jobid, jobs[first].rel,
                               jobs[first].dir, o->out);
    return MACX_OK;
}

int
macx_sweep_run (const macx_sweep_t *sw, const macx_sweep_opts_t *opts, macx_error_t *err)
{
    macx_sweep_opts_t o = *opts;
    int rc = macx_file_mkdirs (o.out, err);
    if (rc)
        return rc;
    char abs[PATH_MAX];
    if (!realpath (o.out, abs))
        return macx_error_set (err, MACX_EIO, "%s: %s", o.out, strerror (errno));
    snprintf (o.out, sizeof o.out, "%s", abs);
    int njobs = sw->nvariants * sw->nseeds;
    s_job_t *jobs = calloc ((size_t) njobs, sizeof *jobs);
    if (!jobs)
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    for (int v = 0; v < sw->nvariants && rc == 0; v++) {
        char d[1400];
        snprintf (d, sizeof d, "%s/runs/%s", o.out, sw->variants[v].name);
        rc = macx_file_mkdirs (d, err);
        for (int s = 0; s < sw->nseeds; s++) {
            /* seed-major: the first seeds of every variant finish first */
            s_job_t *j = &jobs[s * sw->nvariants + v];
            s_job_dir (sw, o.out, v, sw->seeds[s], j);
            s_args_text (sw, &o, j, j->args, sizeof j->args);
            j->done = s_complete (j);
        }
    }
    struct sigaction sa = { 0 }, old_int, old_term;
    sa.sa_handler = s_on_signal;
    sigaction (SIGINT, &sa, &old_int);
    sigaction (SIGTERM, &sa, &old_term);
    if (rc == 0 && !o.quiet)
        fprintf (stderr, "sweep %s: %d variants x %d seeds = %d runs (%s executor), in %s\n",
                 sw->name, sw->nvariants, sw->nseeds, njobs, o.slurm ? "slurm" : "local", o.out);
    if (rc == 0)
        rc = o.slurm ? s_run_slurm (sw, &o, jobs, njobs, err) : s_run_local (sw, &o, jobs, njobs, err);
    sigaction (SIGINT, &old_int, NULL);
    sigaction (SIGTERM, &old_term, NULL);
    free (jobs);
    if (rc == 0)
        rc = macx_sweep_gather (sw, o.out, err);
    return rc;
}
