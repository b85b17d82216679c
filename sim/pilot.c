/* pilot.c -- the pilot orchestrator: creates keys and synthetic data,
 * writes the broker's configuration (its simulated clock: the federates,
 * the transit of every route, the run's limit), starts the broker and one
 * process per agency (this same binary), shows progress from the agencies'
 * outcomes and the audit log, and once the broker has ended the simulation
 * and every agency has stopped, stops the broker and reports. Before it
 * creates or starts anything it checks what the run will use (the scenario
 * with its policy, the broker's configuration with the broker's own
 * parser). It reads the broker's store read-only and never reaches into
 * the broker. */
#include "pilot.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attribution.h"
#include "audit.h"
#include "broker.h"
#include "clock.h"
#include "file.h"
#include "json.h"
#include "keys.h"
#include "log.h"
#include "names.h"
#include "policy.h"
#include "report.h"
#include "scenario.h"
#include "synth.h"

#define S_DAY_MS ((int64_t) 86400000)

typedef struct {
    char id[MACX_AGENCY_ID_MAX + 1];
    pid_t pid;
    char log[2048];
    long offset;                 /* read so far in its outcomes.jsonl */
    bool stopped;                /* exited cleanly (the simulation ended) */
} s_child_t;

typedef struct {
    macx_pilot_opts_t o;
    macx_scenario_t scn;
    char source[1024];           /* the scenario file named, for run.json */
    char derived[64];            /* with overrides: the file every process reads; "" none */
    char run[1024];
    char endpoint[64];
    int64_t wall_started_ms;
    int32_t end_day;             /* the simulated clock stops there */
    s_child_t broker;
    s_child_t agents[MACX_SCN_MAX_AGENCIES];
    int nagents;
    /* progress */
    int closed, disposed, stalled, refusals;
    int levels[4];
    char *final;                 /* per subject: 0 open, 1 disposed, 2 stalled */
    int8_t *phase_of;            /* per subject: highest phase with an accepted record */
    uint64_t audit_seq;
    int64_t clock_ms;            /* the latest stamp in the audit: the simulated clock */
    macx_audit_reader_t *audit;
} s_pilot_t;

static volatile sig_atomic_t s_interrupted;
static void s_on_signal (int sig) { (void) sig; s_interrupted = 1; }

static int
s_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind (fd, (struct sockaddr *) &a, sizeof a) == 0
        && getsockname (fd, (struct sockaddr *) &a, &len) == 0)
        port = ntohs (a.sin_port);
    if (fd >= 0)
        close (fd);
    return port;
}

/* True when process pid holds a socket listening on 127.0.0.1:port: the
 * port's LISTEN entry in /proc/net/tcp, and that socket's inode among the
 * process's file descriptors. Another process that took the same port in
 * the meantime (s_free_port's port is free only until someone binds it;
 * sweeps start pilots in parallel) does not count. */
static bool
s_listening (pid_t pid, int port)
{
    FILE *f = fopen ("/proc/net/tcp", "r");
    if (!f)
        return false;
    char line[512];
    unsigned long inode = 0;
    while (!inode && fgets (line, sizeof line, f)) {
        unsigned addr, lport, st;
        unsigned long ino;
        if (sscanf (line, " %*d: %8X:%4X %*8X:%*4X %2X %*8X:%*8X %*2X:%*8X %*8X %*d %*d %lu", &addr, &lport,
                    &st, &ino) == 4
            && (int) lport == port && st == 0x0A && addr == htonl (INADDR_LOOPBACK) && ino)
            inode = ino;
    }
    fclose (f);
    if (!inode)
        return false;
    char dir[64], want[64];
    snprintf (dir, sizeof dir, "/proc/%ld/fd", (long) pid);
    snprintf (want, sizeof want, "socket:[%lu]", inode);
    DIR *d = opendir (dir);
    if (!d)
        return false;
    bool found = false;
    for (struct dirent *e; !found && (e = readdir (d));) {
        char path[320], target[64];
        snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
        ssize_t n = readlink (path, target, sizeof target - 1);
        if (n > 0) {
            target[n] = 0;
            found = strcmp (target, want) == 0;
        }
    }
    closedir (d);
    return found;
}

/* Starts this binary with argv, stderr (and stdout) to log. */
static pid_t
s_spawn (const char *exe, char *const argv[], const char *log)
{
    pid_t pid = fork ();
    if (pid != 0)
        return pid;
    int fd = open (log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
        dup2 (fd, STDOUT_FILENO);
        dup2 (fd, STDERR_FILENO);
    }
    int null = open ("/dev/null", O_RDONLY);
    if (null >= 0)
        dup2 (null, STDIN_FILENO);
    execv (exe, argv);
    fprintf (stderr, "cannot start %s: %s\n", exe, strerror (errno));
    _exit (127);
}

static void
s_describe_exit (int status, char *buf, size_t size)
{
    if (WIFSIGNALED (status))
        snprintf (buf, size, "was killed by signal %d (%s)", WTERMSIG (status),
                  strsignal (WTERMSIG (status)));
    else
        snprintf (buf, size, "exited with status %d", WEXITSTATUS (status));
}

/* Stops children: SIGTERM, then SIGKILL after grace_ms. Returns 0, or an
 * error naming the first child that did not stop cleanly (a non-zero exit,
 * a signal, or the need to kill it): a process that fails on its way out
 * (a sanitizer's report, say) fails the run too. */
static int
s_stop_all (s_child_t *children, int n, int grace_ms, macx_error_t *err)
{
    int rc = MACX_OK;
    for (int i = 0; i < n; i++)
        if (children[i].pid > 0)
            kill (children[i].pid, SIGTERM);
    int64_t until = macx_clock_wall_ms () + grace_ms;
    for (;;) {
        int alive = 0;
        for (int i = 0; i < n; i++) {
            if (children[i].pid <= 0)
                continue;
            int status;
            if (waitpid (children[i].pid, &status, WNOHANG) != children[i].pid) {
                alive++;
                continue;
            }
            if ((!WIFEXITED (status) || WEXITSTATUS (status) != 0) && rc == MACX_OK) {
                char how[128];
                s_describe_exit (status, how, sizeof how);
                rc = macx_error_set (err, MACX_EINTERNAL, "%s %s %s while stopping; see %s",
                                     strcmp (children[i].id, "broker") == 0 ? "the" : "agent",
                                     children[i].id, how, children[i].log);
            }
            children[i].pid = 0;
        }
        if (!alive)
            return rc;
        if (macx_clock_wall_ms () > until) {
            for (int i = 0; i < n; i++)
                if (children[i].pid > 0) {
                    kill (children[i].pid, SIGKILL);
                    waitpid (children[i].pid, NULL, 0);
                    if (rc == MACX_OK)
                        rc = macx_error_set (err, MACX_EINTERNAL, "%s did not stop within %d ms "
                                             "and was killed; see %s", children[i].id, grace_ms,
                                             children[i].log);
                    children[i].pid = 0;
                }
            return rc;
        }
        usleep (2000);
    }
}

/* ---- progress ---------------------------------------------------------------- */

static int
s_subject_index (const s_pilot_t *self, const char *id)
{
    if (!id || strncmp (id, "S-", 2) != 0)
        return -1;
    long n = strtol (id + 2, NULL, 10);
    return n >= 1 && n <= self->scn.subjects ? (int) n : -1;
}

/* Returns the value of "key":"..." or "key":N in a JSON line, into buf. */
static bool
s_json_get (const char *line, const char *key, char *buf, size_t size)
{
    char pat[64];
    snprintf (pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr (line, pat);
    if (!p)
        return false;
    p += strlen (pat);
    size_t n = 0;
    if (*p == '"') {
        p++;
        while (*p && *p != '"' && n + 1 < size)
            buf[n++] = *p++;
    }
    else
        while (*p && *p != ',' && *p != '}' && n + 1 < size)
            buf[n++] = *p++;
    buf[n] = '\0';
    return true;
}

static void
s_read_outcomes (s_pilot_t *self, s_child_t *c)
{
    char path[2048];
    snprintf (path, sizeof path, "%s/agents/%s/outcomes.jsonl", self->run, c->id);
    FILE *f = fopen (path, "r");
    if (!f)
        return;
    fseek (f, c->offset, SEEK_SET);
    char line[4096];
    while (fgets (line, sizeof line, f)) {
        size_t len = strlen (line);
        if (len == 0 || line[len - 1] != '\n')
            break;   /* a line still being written */
        c->offset += (long) len;
        char event[32], subject[32], level[8];
        if (!s_json_get (line, "event", event, sizeof event)
            || !s_json_get (line, "subject", subject, sizeof subject))
            continue;
        int idx = s_subject_index (self, subject);
        if (idx < 0)
            continue;
        if (strcmp (event, "closed") == 0)
            self->closed++;
        else if (strcmp (event, "refused") == 0)
            self->refusals++;
        else if (strcmp (event, "level") == 0 && s_json_get (line, "level", level, sizeof level)) {
            int l = atoi (level);
            if (l >= 1 && l <= 3)
                self->levels[l]++;
        }
        else if (strcmp (event, "disposal") == 0 && !self->final[idx]) {
            self->final[idx] = 1;
            self->disposed++;
        }
        else if (strcmp (event, "stalled") == 0 && !self->final[idx]) {
            self->final[idx] = 2;
            self->stalled++;
        }
    }
    fclose (f);
}

static int
s_on_accept (const Macx__AuditEntry *e, void *arg)
{
    s_pilot_t *self = arg;
    self->audit_seq = e->seq;
    if (strcmp (e->event, "accept") != 0)
        return 0;
    if (e->clock_ms > self->clock_ms)
        self->clock_ms = e->clock_ms;
    int idx = s_subject_index (self, e->subject);
    if (idx > 0 && (int) e->phase > self->phase_of[idx])
        self->phase_of[idx] = (int8_t) e->phase;
    return 0;
}

/* The simulated day the audit has reached: its latest stamp from the start. */
static double
s_sim_day (const s_pilot_t *self)
{
    return self->clock_ms ? (double) (self->clock_ms - (int64_t) self->scn.start_day * S_DAY_MS)
                                / S_DAY_MS
                          : 0;
}

static void
s_progress (s_pilot_t *self, bool final_line)
{
    if (!self->audit) {
        char data[2048];
        snprintf (data, sizeof data, "%s/broker/data", self->run);
        self->audit = macx_audit_reader_open (data, NULL);
    }
    if (self->audit) {
        macx_audit_filter_t f = { .from_seq = self->audit_seq + 1 };
        macx_audit_scan (self->audit, &f, s_on_accept, self, NULL);
    }
    int in_phase[6] = { 0 };
    for (int i = 1; i <= self->scn.subjects; i++)
        if (!self->final[i] && self->phase_of[i] > 0)
            in_phase[(int) self->phase_of[i]]++;
    double day = s_sim_day (self);
    if (self->o.quiet)
        return;
    bool tty = isatty (STDERR_FILENO);
    fprintf (stderr, "%sday %5.1f  closed %4d/%d  in identification %3d sharing %3d enrichment %3d "
             "profiling %3d panel %3d  disposed %4d  stalled %3d  refusals %d%s",
             tty ? "\r" : "", day < 0 ? 0 : day, self->closed, self->scn.subjects, in_phase[1],
             in_phase[2], in_phase[3], in_phase[4], in_phase[5], self->disposed, self->stalled,
             self->refusals, tty && !final_line ? "\033[K" : "\n");
    if (tty && final_line)
        fputc ('\n', stderr);
}

/* ---- run ------------------------------------------------------------------------ */

static int
s_write_run_json (s_pilot_t *self, const char *outcome, macx_error_t *err)
{
    char path[2048], *buf = NULL, date[11];
    size_t len = 0;
    FILE *f = open_memstream (&buf, &len);
    if (!f)
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    fprintf (f, "{\"name\":");
    macx_json_str (f, self->scn.name);
    fprintf (f, ",\"scenario\":");
    macx_json_str (f, self->source);
    fprintf (f, ",\"overrides\":");
    macx_override_json (&self->o.ov, f);
    char end[11];
    fprintf (f, ",\"seed\":%" PRIu64 ",\"subjects\":%d,\"start_date\":\"%s\",\"end_date\":\"%s\","
             "\"wall_pace_ms\":%g,\"wall_started_ms\":%" PRId64 ",\"wall_finished_ms\":%" PRId64
             ",\"policy_dir\":", self->scn.seed, self->scn.subjects,
             macx_date_format (self->scn.start_day, date), macx_date_format (self->end_day, end),
             self->o.pace_ms, self->wall_started_ms, macx_clock_wall_ms ());
    macx_json_str (f, self->scn.policy_dir);
    macx_policy_t *policy = macx_policy_load (self->scn.policy_dir, NULL);
    fprintf (f, ",\"policy_hash\":");
    macx_json_str (f, policy ? macx_policy_hash (policy) : "");
    macx_policy_destroy (&policy);
    fprintf (f, ",\"exit\":");
    macx_json_str (f, outcome);
    fprintf (f, ",\"agencies\":[");
    for (int i = 0; i < self->scn.nagencies; i++) {
        const macx_scn_agency_t *a = &self->scn.agencies[i];
        fprintf (f, "%s{\"id\":\"%s\",\"kind\":\"%s\",\"sector\":\"%s\",\"region\":", i ? "," : "",
                 a->id, a->kind, a->sector);
        macx_json_str (f, a->region);
        fputc ('}', f);
    }
    fprintf (f, "],\"macs\":[");
    for (int i = 0; i < self->scn.nmacs; i++) {
        const macx_scn_mac_t *m = &self->scn.macs[i];
        fprintf (f, "%s{\"id\":", i ? "," : "");
        macx_json_str (f, m->id);
        fprintf (f, ",\"name\":");
        macx_json_str (f, m->name);
        fprintf (f, ",\"national\":%s,\"regions\":[", m->national ? "true" : "false");
        for (int r = 0; r < m->nregions; r++) {
            fputs (r ? "," : "", f);
            macx_json_str (f, m->regions[r]);
        }
        fprintf (f, "],\"members\":[");
        for (int r = 0; r < m->nmembers; r++) {
            fputs (r ? "," : "", f);
            macx_json_str (f, m->members[r]);
        }
        fprintf (f, "],\"chair\":");
        macx_json_str (f, m->chair);
        fprintf (f, ",\"overflow_load\":%d}", m->overflow_load);
    }
    fprintf (f, "]}\n");
    fclose (f);
    snprintf (path, sizeof path, "%s/run.json", self->run);
    int rc = macx_file_write (path, buf, len, 0644, 0, err);
    free (buf);
    return rc;
}

static int
s_copy_file (const char *from, const char *to, macx_error_t *err)
{
    char *data;
    size_t len;
    int rc = macx_file_read (from, 16u << 20, &data, &len, err);
    if (rc == MACX_OK)
        rc = macx_file_write (to, data, len, 0644, 0, err);
    free (data);
    return rc;
}

static int
s_prepare (s_pilot_t *self, macx_error_t *err)
{
    int rc;
    char path[2048];
    /* A previous run in the same directory is replaced, also one that
     * failed before writing run.json (it left scenario.yaml and keys). */
    char copy[2048], broker_key[2048];
    snprintf (path, sizeof path, "%s/run.json", self->run);
    snprintf (copy, sizeof copy, "%s/scenario.yaml", self->run);
    snprintf (broker_key, sizeof broker_key, "%s/keys/broker.pub", self->run);
    if (access (path, F_OK) == 0 || (access (copy, F_OK) == 0 && access (broker_key, F_OK) == 0)) {
        char cmd[2200];
        snprintf (cmd, sizeof cmd, "rm -rf '%s/keys' '%s/agents' '%s/broker' '%s/run.json' "
                  "'%s/report.json' '%s/report.html' '%s/phases.csv' '%s/attribution.json'", self->run,
                  self->run, self->run, self->run, self->run, self->run, self->run, self->run);
        if (strchr (self->run, '\'') || system (cmd) != 0)
            return macx_error_set (err, MACX_EIO, "%s: cannot clear the previous run", self->run);
    }
    if ((rc = macx_file_mkdirs (self->run, err)))
        return rc;
    snprintf (path, sizeof path, "%s/scenario.yaml", self->run);
    if ((rc = s_copy_file (self->o.scenario, path, err)))
        return rc;
    /* identities: the agencies' in RUN/keys, the broker's in RUN/broker/keys
     * beside every agency's public key and no other secret; its public key
     * in RUN/keys too, for the agencies and `audit verify` */
    snprintf (path, sizeof path, "%s/keys", self->run);
    for (int i = 0; i < self->scn.nagencies; i++)
        if ((rc = macx_keys_generate (path, self->scn.agencies[i].id, self->scn.agencies[i].kind, err)))
            return rc;
    char bkeys[2048], from[2200], to[2200];
    snprintf (bkeys, sizeof bkeys, "%s/broker/keys", self->run);
    if ((rc = macx_keys_generate (bkeys, "broker", "broker", err)))
        return rc;
    snprintf (from, sizeof from, "%s/broker.pub", bkeys);
    snprintf (to, sizeof to, "%s/broker.pub", path);
    if ((rc = s_copy_file (from, to, err)))
        return rc;
    for (int i = 0; i < self->scn.nagencies; i++) {
        snprintf (from, sizeof from, "%s/%s.pub", path, self->scn.agencies[i].id);
        snprintf (to, sizeof to, "%s/%s.pub", bkeys, self->scn.agencies[i].id);
        if ((rc = s_copy_file (from, to, err)))
            return rc;
    }
    /* synthetic databases, and the broker's directory */
    snprintf (path, sizeof path, "%s/agents", self->run);
    if ((rc = macx_file_mkdirs (path, err)))
        return rc;
    for (int i = 0; i < self->scn.nagencies; i++) {
        snprintf (path, sizeof path, "%s/agents/%s", self->run, self->scn.agencies[i].id);
        if ((rc = macx_file_mkdirs (path, err)))
            return rc;
    }
    snprintf (path, sizeof path, "%s/agents", self->run);
    if ((rc = macx_synth_generate (&self->scn, path, err)))
        return rc;
    snprintf (path, sizeof path, "%s/broker", self->run);
    if ((rc = macx_file_mkdirs (path, err)))
        return rc;
    return MACX_OK;
}

/* The broker's configuration: its simulated clock (every agency a
 * federate; the scenario's transits; the run's limit) and no fsync per
 * commit: a pilot's broker cannot resume a simulation after a crash of the
 * machine, and a crash of the process (kill -9) loses nothing without it.
 * *buf is new (the caller frees it). */
static int
s_broker_config (s_pilot_t *self, char **buf, size_t *len, macx_error_t *err)
{
    char date[11], dist[200];
    *buf = NULL;
    *len = 0;
    FILE *f = open_memstream (buf, len);
    if (!f)
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    fprintf (f, "# Written by macx pilot run for %s: the broker of this run.\n"
             "sync: false\nclock:\n  mode: simulated\n", self->scn.name);
    fprintf (f, "  start: %s\n", macx_date_format (self->scn.start_day, date));
    fprintf (f, "  end: %s\n", macx_date_format (self->end_day, date));
    fprintf (f, "  seed: %" PRIu64 "\n  verdict_hours: %.17g\n  pace_ms: %.17g\n  federates: [",
             self->scn.seed, self->scn.transit.verdict_hours, self->o.pace_ms);
    for (int i = 0; i < self->scn.nagencies; i++)
        fprintf (f, "%s%s", i ? ", " : "", self->scn.agencies[i].id);
    macx_dist_format (&self->scn.transit.fallback, "hours", dist, sizeof dist);
    fprintf (f, "]\n  transit:\n    default: %s\n", dist);
    if (self->scn.transit.nroutes)
        fputs ("    routes:\n", f);
    for (int i = 0; i < self->scn.transit.nroutes; i++) {
        const macx_scn_route_t *r = &self->scn.transit.routes[i];
        macx_dist_format (&r->hours, "hours", dist, sizeof dist);
        fprintf (f, "      - {from: \"%s\", to: \"%s\", transit: %s}\n", r->from, r->to, dist);
    }
    fclose (f);
    return MACX_OK;
}

static int
s_write_broker_config (s_pilot_t *self, const char *path, macx_error_t *err)
{
    char *buf;
    size_t len;
    int rc = s_broker_config (self, &buf, &len, err);
    if (rc == MACX_OK)
        rc = macx_file_write (path, buf, len, 0644, 0, err);
    free (buf);
    return rc;
}

/* The agreements' effective dates the broker is given (--effective). */
static void
s_effective (const s_pilot_t *self, int i, char *buf, size_t size)
{
    const macx_scn_override_t *o = &self->scn.overrides[i];
    char date[11];
    snprintf (buf, size, "%s=%s", o->agreement,
              macx_date_format (self->scn.start_day + (o->missing ? 36500 : o->effective_day),
                                date));
}

/* Everything the run will use is checked before anything is created or
 * started: the scenario and its policy were (macx_scenario_load, with the
 * broker's policy loader); here the broker's configuration and options
 * this run would give it, through the broker's own parser and checks. The
 * scenario's checks cover what they depend on, so a refusal here is a bug
 * in the pilot, not in the scenario. */
static int
s_validate (s_pilot_t *self, macx_error_t *err)
{
    char *buf, path[2048];
    size_t len;
    int rc = s_broker_config (self, &buf, &len, err);
    if (rc)
        return rc;
    snprintf (path, sizeof path, "%s/broker/broker.yaml", self->run);
    macx_broker_config_t *cfg = calloc (1, sizeof *cfg);
    macx_error_t e = { 0 };
    if (!cfg)
        rc = macx_error_set (&e, MACX_ENOMEM, "out of memory");
    else {
        macx_broker_config_defaults (cfg);
        rc = macx_broker_config_parse (path, buf, len, cfg, &e);
    }
    for (int i = 0; rc == MACX_OK && i < self->scn.noverrides; i++) {
        char effective[128];
        s_effective (self, i, effective, sizeof effective);
        rc = macx_broker_config_effective (cfg, effective, &e);
    }
    if (rc == MACX_OK && !cfg->clock.simulated)
        rc = macx_error_set (&e, MACX_EINTERNAL, "%s: the clock is not simulated", path);
    if (rc && rc != MACX_ENOMEM)
        rc = macx_error_set (err, MACX_EINTERNAL, "the broker would refuse the configuration "
                             "this scenario gives it (a bug in macx pilot): %s",
                             macx_error_text (&e));
    else if (rc)
        *err = e;
    free (cfg);
    free (buf);
    return rc;
}

/* The last line a child wrote to its log (its error, if it failed at
 * start), into buf; "" if none. */
static void
s_last_line (const char *log, char *buf, size_t size)
{
    buf[0] = '\0';
    FILE *f = fopen (log, "r");
    if (!f)
        return;
    char line[512];
    while (fgets (line, sizeof line, f)) {
        line[strcspn (line, "\n")] = '\0';
        if (line[0])
            snprintf (buf, size, "%s", line);
    }
    fclose (f);
}

static int
s_start (s_pilot_t *self, macx_error_t *err)
{
    char keys[2048], data[2048], config[2048], seed[32], subjects[32], map[32];
    snprintf (keys, sizeof keys, "%s/broker/keys", self->run);
    snprintf (data, sizeof data, "%s/broker/data", self->run);
    snprintf (config, sizeof config, "%s/broker/broker.yaml", self->run);
    snprintf (self->broker.log, sizeof self->broker.log, "%s/broker/broker.log", self->run);
    snprintf (self->broker.id, sizeof self->broker.id, "broker");
    int rc = s_write_broker_config (self, config, err);
    if (rc)
        return rc;
    /* The audit keeps every record: room for them all (the map is sparse). */
    snprintf (map, sizeof map, "%dM", 1024 + self->scn.subjects / 10);
    char effective[MACX_SCN_MAX_OVERRIDES][128];
    char *argv[64 + 2 * MACX_SCN_MAX_OVERRIDES];
    int n = 0;
    argv[n++] = self->o.self_exe;
    argv[n++] = "broker";
    argv[n++] = "--config";
    argv[n++] = config;
    argv[n++] = "--keys";
    argv[n++] = keys;
    argv[n++] = "--policy";
    argv[n++] = self->scn.policy_dir;
    argv[n++] = "--data";
    argv[n++] = data;
    argv[n++] = "--bind";
    argv[n++] = self->endpoint;
    argv[n++] = "--map-size";
    argv[n++] = map;
    argv[n++] = "--log-level";
    argv[n++] = "warn";
    for (int i = 0; i < self->scn.noverrides; i++) {
        s_effective (self, i, effective[i], sizeof effective[i]);
        argv[n++] = "--effective";
        argv[n++] = effective[i];
    }
    argv[n] = NULL;
    /* A free port is free only until somebody binds it: a broker that finds
     * it taken is started again on another, a few times. */
    for (int attempt = 1;; attempt++) {
        /* MACX_TEST_FIRST_PORT: the first attempt's port, for the test
         * that takes it first (tests/integration/pilot_cli.sh) */
        const char *first = attempt == 1 ? getenv ("MACX_TEST_FIRST_PORT") : NULL;
        int port = first && atoi (first) > 0 ? atoi (first) : s_free_port ();
        if (port < 0)
            return macx_error_set (err, MACX_EIO, "no free loopback port");
        snprintf (self->endpoint, sizeof self->endpoint, "tcp://127.0.0.1:%d", port);
        self->broker.pid = s_spawn (self->o.self_exe, argv, self->broker.log);
        int64_t until = macx_clock_wall_ms () + 10000;
        bool retry = false;
        while (!s_listening (self->broker.pid, port)) {
            int status;
            if (waitpid (self->broker.pid, &status, WNOHANG) == self->broker.pid) {
                char how[128], last[400];
                s_describe_exit (status, how, sizeof how);
                s_last_line (self->broker.log, last, sizeof last);
                self->broker.pid = 0;
                if (attempt < 5 && strstr (last, "in use")) {
                    macx_log (MACX_LOG_WARN, "the broker's port was taken before it could bind it: "
                              "starting it on another", "endpoint=%s attempt=%d", self->endpoint, attempt);
                    retry = true;
                    break;
                }
                return macx_error_set (err, MACX_EINTERNAL, "the broker %s at start%s%s; see %s", how,
                                       last[0] ? ": " : "", last, self->broker.log);
            }
            if (macx_clock_wall_ms () > until)
                return macx_error_set (err, MACX_ETIMEOUT, "the broker did not start listening on %s "
                                       "within 10 s; see %s", self->endpoint, self->broker.log);
            usleep (2000);
        }
        if (!retry)
            break;
    }
    /* Simulated time starts when every agency has joined the broker's clock. */
    self->wall_started_ms = macx_clock_wall_ms ();
    snprintf (seed, sizeof seed, "%" PRIu64, self->scn.seed);
    snprintf (subjects, sizeof subjects, "%d", self->scn.subjects);
    for (int i = 0; i < self->scn.nagencies; i++) {
        s_child_t *c = &self->agents[self->nagents++];
        snprintf (c->id, sizeof c->id, "%s", self->scn.agencies[i].id);
        char id[MACX_AGENCY_ID_MAX + 1];
        snprintf (id, sizeof id, "%s", c->id);
        snprintf (c->log, sizeof c->log, "%s/agents/%s/agent.log", self->run, id);
        char *av[] = { self->o.self_exe, "agent", "--agency", c->id, "--scenario", self->o.scenario,
                       "--run", self->run, "--broker", self->endpoint, "--seed", seed,
                       "--subjects", subjects, NULL };
        c->pid = s_spawn (self->o.self_exe, av, c->log);
    }
    return MACX_OK;
}

/* Returns 0 once every agency has stopped cleanly (the broker ended the
 * simulation), an error if a process died or failed, or if nothing moved
 * for a long while (the clock would be stuck). */
static int
s_watch (s_pilot_t *self, macx_error_t *err)
{
    int64_t last_progress = 0, last_move = macx_clock_wall_ms ();
    int64_t stuck_ms = 60000 + (int64_t) (3 * self->o.pace_ms);
    uint64_t seen_seq = 0;
    for (;;) {
        if (s_interrupted)
            return macx_error_set (err, MACX_EINTERNAL, "interrupted");
        int status;
        if (self->broker.pid > 0 && waitpid (self->broker.pid, &status, WNOHANG) == self->broker.pid) {
            char how[128];
            s_describe_exit (status, how, sizeof how);
            pid_t pid = self->broker.pid;
            self->broker.pid = 0;
            return macx_error_set (err, MACX_EINTERNAL, "the broker (pid %ld) %s; see %s",
                                   (long) pid, how, self->broker.log);
        }
        int stopped = 0;
        for (int i = 0; i < self->nagents; i++) {
            s_child_t *c = &self->agents[i];
            if (c->pid > 0 && waitpid (c->pid, &status, WNOHANG) == c->pid) {
                pid_t pid = c->pid;
                c->pid = 0;
                if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
                    char how[128];
                    s_describe_exit (status, how, sizeof how);
                    return macx_error_set (err, MACX_EINTERNAL, "agent %s (pid %ld) %s; see %s",
                                           c->id, (long) pid, how, c->log);
                }
                c->stopped = true;
                last_move = macx_clock_wall_ms ();
            }
            stopped += c->stopped;
        }
        for (int i = 0; i < self->nagents; i++)
            s_read_outcomes (self, &self->agents[i]);
        int64_t now = macx_clock_wall_ms ();
        bool done = stopped == self->nagents;
        if (done || now - last_progress >= (isatty (STDERR_FILENO) ? 250 : 5000)) {
            s_progress (self, done);
            last_progress = now;
            if (self->audit_seq != seen_seq) {
                seen_seq = self->audit_seq;
                last_move = now;
            }
        }
        if (done) {
            int open = self->scn.subjects - self->disposed - self->stalled;
            if (open > 0 && !self->o.quiet)
                fprintf (stderr, "macx pilot: the simulation reached the run's limit (%d days) "
                         "with %d subject(s) still open\n", self->end_day - self->scn.start_day,
                         open);
            return MACX_OK;
        }
        if (now - last_move > stuck_ms)
            return macx_error_set (err, MACX_EINTERNAL, "nothing happened for %" PRId64 " s: the "
                                   "simulated clock is stuck at day %.1f; see %s and the agents' "
                                   "logs", stuck_ms / 1000, s_sim_day (self), self->broker.log);
        usleep (5000);
    }
}

int
macx_pilot_run (const macx_pilot_opts_t *opts, macx_error_t *err)
{
    s_pilot_t *self = calloc (1, sizeof *self);
    if (!self)
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    self->o = *opts;
    int rc;
    if (opts->ov.nsets || opts->ov.policy) {
        /* every process reads the scenario with its overrides from one file */
        snprintf (self->derived, sizeof self->derived, "/tmp/macx-scenario-XXXXXX.yaml");
        int fd = mkstemps (self->derived, 5);
        if (fd < 0)
            rc = macx_error_set (err, MACX_EIO, "/tmp: cannot create a scenario file: %s",
                                 strerror (errno));
        else {
            close (fd);
            rc = macx_override_write (opts->scenario, &opts->ov, self->derived, &self->scn,
                                      self->source, err);
        }
    } else if ((rc = macx_scenario_load (opts->scenario, &self->scn, err)) == MACX_OK)
        snprintf (self->source, sizeof self->source, "%s", self->scn.path);
    if (rc) {
        if (self->derived[0])
            unlink (self->derived);   /* if mkstemps failed, nothing there by that name */
        free (self);
        return rc;
    }
    /* The file read (a scenario directory's pilot.yaml), for the agencies. */
    snprintf (self->o.scenario, sizeof self->o.scenario, "%s", self->scn.path);
    macx_scenario_override (&self->scn, opts->seed, opts->subjects);
    /* The run's limit: long enough for every deadline and wait in a row. */
    self->end_day = self->scn.start_day + self->scn.closure_window_days
                    + 6 * self->scn.deadline_days + 4 * self->scn.enrichment_wait_days;
    if (opts->out[0])
        snprintf (self->run, sizeof self->run, "%s", opts->out);
    else
        snprintf (self->run, sizeof self->run, "out/%s", self->scn.name);
    self->final = calloc ((size_t) self->scn.subjects + 1, 1);
    self->phase_of = calloc ((size_t) self->scn.subjects + 1, 1);
    struct sigaction sa = { 0 }, old_int, old_term;
    sa.sa_handler = s_on_signal;
    sigaction (SIGINT, &sa, &old_int);
    sigaction (SIGTERM, &sa, &old_term);
    if (!self->final || !self->phase_of)
        rc = macx_error_set (err, MACX_ENOMEM, "out of memory");
    if (rc == MACX_OK)
        rc = s_validate (self, err);
    if (rc == MACX_OK) {
        if (!opts->quiet)
        {
            char pace[64] = "as fast as the broker allows";
            if (opts->pace_ms > 0)
                snprintf (pace, sizeof pace, "paced at %g ms per simulated day", opts->pace_ms);
            fprintf (stderr, "macx pilot: %s: %d subjects, seed %" PRIu64 ", simulated time %s, "
                     "run directory %s\n", self->scn.name, self->scn.subjects, self->scn.seed,
                     pace, self->run);
        }
        rc = s_prepare (self, err);
    }
    if (rc == MACX_OK)
        rc = s_start (self, err);
    if (rc == MACX_OK)
        rc = s_watch (self, err);
    /* Agencies first (they flush receipts), then the broker (final checkpoint). */
    macx_error_t stop_err = { 0 };
    int stop_rc = s_stop_all (self->agents, self->nagents, 10000, &stop_err);
    int broker_rc = s_stop_all (&self->broker, 1, 15000, stop_rc ? NULL : &stop_err);
    if (rc == MACX_OK && (stop_rc || broker_rc)) {
        rc = stop_rc ? stop_rc : broker_rc;
        *err = stop_err;
    }
    macx_audit_reader_destroy (&self->audit);
    char outcome[600];
    snprintf (outcome, sizeof outcome, "%s%s", rc ? "failed: " : "ok", rc ? macx_error_text (err) : "");
    macx_error_t e2 = { 0 };
    if (self->wall_started_ms && s_write_run_json (self, outcome, &e2) && rc == MACX_OK)
        rc = e2.code, *err = e2;
    if (rc == MACX_OK) {
        macx_report_t *report = NULL;
        rc = macx_report_build (self->run, &report, err);
        if (rc == MACX_OK)
            rc = macx_report_write (report, self->run, err);
        if (rc == MACX_OK)
            rc = macx_attribution_write (self->run, err);
        if (rc == MACX_OK) {
            /* the summary's wall time is the report's: no second figure here */
            macx_report_print_summary (report, stdout);
            printf ("\nreport: %s/report.html (also report.json, phases.csv)\n", self->run);
        }
        macx_report_destroy (&report);
    }
    sigaction (SIGINT, &old_int, NULL);
    sigaction (SIGTERM, &old_term, NULL);
    if (self->derived[0])
        unlink (self->derived);
    free (self->final);
    free (self->phase_of);
    free (self);
    return rc;
}
