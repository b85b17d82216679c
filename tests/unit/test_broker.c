/* test_broker.c -- broker/: the simulated clock's grants (simtime.c),
 * including a randomised run of many asynchronous federates that must
 * never receive anything in their past and must end; the clock section of
 * the configuration and durations; which refusal reasons are transient. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker.h"
#include "names.h"
#include "simtime.h"

#define H ((int64_t) 3600000)
#define NEVER MACX_SIMTIME_NEVER

static macx_simtime_t *
s_clock (int n, int64_t lookahead, int64_t verdict, int64_t end)
{
    int64_t L[64 * 64];
    for (int i = 0; i < n * n; i++)
        L[i] = lookahead;
    return macx_simtime_new (n, L, verdict, end);
}

static void
test_simtime_rejects_bad_arguments (void **state)
{
    (void) state;
    int64_t zero[4] = { 1, 0, 1, 1 };   /* a route with no transit: no lookahead */
    assert_null (macx_simtime_new (2, zero, H, NEVER));
    int64_t ok[4] = { 1, H, H, 1 };
    assert_null (macx_simtime_new (2, ok, 0, NEVER));   /* verdicts take time too */
    assert_null (macx_simtime_new (0, ok, H, NEVER));
}

static void
test_simtime_waits_for_everyone (void **state)
{
    (void) state;
    macx_simtime_t *t = s_clock (3, H, 2 * H, NEVER);
    assert_int_equal (macx_simtime_request (t, 0, 10 * H), 0);
    assert_int_equal (macx_simtime_request (t, 1, NEVER), 0);
    assert_false (macx_simtime_joined (t));
    assert_int_equal (macx_simtime_bound (t, 0), 0);   /* federate 2 has not joined */
    assert_false (macx_simtime_ended (t));
    assert_int_equal (macx_simtime_request (t, 2, NEVER), 0);
    assert_true (macx_simtime_joined (t));
    /* Nobody else has anything: 0 is bounded by its own verdicts (10h + 2h)
     * and by what it might cause: 0 -> x -> 0 takes two transits (12h). */
    assert_int_equal (macx_simtime_bound (t, 0), 12 * H);
    assert_int_equal (macx_simtime_bound (t, 1), 0);   /* nothing to do */
    assert_int_equal (macx_simtime_now (t), 10 * H);
    macx_simtime_destroy (&t);
    assert_null (t);
}

static void
test_simtime_bounds (void **state)
{
    (void) state;
    macx_simtime_t *t = s_clock (2, H, 5 * H, NEVER);
    macx_simtime_request (t, 0, 10 * H);
    macx_simtime_request (t, 1, 30 * H);
    /* 0 can reach 1 at 11h, so 1 may not pass 11h; 1 can reach 0 at 31h,
     * and 0 -> 1 -> 0 at 12h: 0 is granted 12h (its own verdicts at 15h). */
    assert_int_equal (macx_simtime_bound (t, 0), 12 * H);
    assert_int_equal (macx_simtime_bound (t, 1), 0);   /* 11h is not past its 30h */
    int64_t all[2];
    macx_simtime_bounds (t, all);
    assert_int_equal (all[0], 12 * H);
    assert_int_equal (all[1], 0);
    /* Running, 0 promises nothing before 10h: 1 still waits. */
    macx_simtime_grant (t, 0, macx_simtime_promise (t, 0), 12 * H);
    assert_false (macx_simtime_idle (t, 0));
    int64_t lo, hi;
    assert_true (macx_simtime_window (t, 0, &lo, &hi));
    assert_int_equal (lo, 10 * H);
    assert_int_equal (hi, 12 * H);
    assert_int_equal (macx_simtime_bound (t, 0), 0);   /* not idle */
    /* 0 sent a record to 1 at 10.5h arriving 11.5h: 1 now has an event. */
    assert_int_equal (macx_simtime_arrival (t, 1, 11 * H + H / 2, 7), 0);
    assert_int_equal (macx_simtime_next_arrival (t, 1), 11 * H + H / 2);
    assert_int_equal (macx_simtime_bound (t, 1), 0);   /* 0 may still send for 11h */
    /* 0 asks again with its next event at 20h. */
    assert_int_equal (macx_simtime_request (t, 0, 20 * H), 0);
    /* 1 may now go to 0's 20h + 1h, less its own echo: 11.5h + 2h. */
    assert_int_equal (macx_simtime_bound (t, 1), 13 * H + H / 2);
    uint64_t tag;
    int64_t at;
    lo = macx_simtime_promise (t, 1);
    assert_int_equal (lo, 11 * H + H / 2);
    assert_true (macx_simtime_take (t, 1, 13 * H + H / 2, &tag, &at));
    assert_int_equal (tag, 7);
    assert_int_equal (at, 11 * H + H / 2);
    assert_false (macx_simtime_take (t, 1, 13 * H + H / 2, &tag, &at));
    macx_simtime_grant (t, 1, lo, 13 * H + H / 2);
    assert_int_equal (macx_simtime_frontier (t), 13 * H + H / 2);
    assert_int_equal (macx_simtime_grants (t), 2);
    macx_simtime_destroy (&t);
}

static void
test_simtime_counts_violations (void **state)
{
    (void) state;
    macx_simtime_t *t = s_clock (2, H, H, NEVER);
    macx_simtime_request (t, 0, 10 * H);
    macx_simtime_request (t, 1, NEVER);
    macx_simtime_grant (t, 0, 10 * H, 11 * H);
    /* A record that would reach 0 inside what it was granted. */
    assert_int_equal (macx_simtime_arrival (t, 0, 10 * H + 1, 1), -1);
    /* A request with an event before its grant: events left unhandled. */
    assert_int_equal (macx_simtime_request (t, 0, 10 * H), -1);
    assert_int_equal (macx_simtime_violations (t), 2);
    /* Restoring after a reconnect is no violation. */
    assert_int_equal (macx_simtime_restore (t, 0, 10 * H + 1, 2), 0);
    assert_int_equal (macx_simtime_violations (t), 2);
    macx_simtime_destroy (&t);
}

static void
test_simtime_ends (void **state)
{
    (void) state;
    macx_simtime_t *t = s_clock (2, H, H, 100 * H);
    macx_simtime_request (t, 0, 150 * H);   /* after the end */
    macx_simtime_request (t, 1, NEVER);
    assert_true (macx_simtime_ended (t));
    assert_int_equal (macx_simtime_bound (t, 0), 0);
    macx_simtime_destroy (&t);
    t = s_clock (2, H, H, NEVER);
    macx_simtime_request (t, 0, NEVER);
    macx_simtime_request (t, 1, NEVER);
    assert_true (macx_simtime_ended (t));
    assert_int_equal (macx_simtime_now (t), NEVER);
    macx_simtime_destroy (&t);
}

/* ---- a randomised run ------------------------------------------------------- */

/* A toy federation driven through the clock as the broker drives it: any
 * number of federates run at once, in any order; each handles the events of
 * its window in time order and may send records (arriving after a random
 * transit of at least the route's lookahead), set timers and receive the
 * verdicts on what it sent. Nothing may ever reach a federate before what it
 * has been granted, no federate's time may go backwards, and the run must
 * end with every event handled. */
typedef struct {
    int64_t *ev;
    size_t n, cap;
    int64_t verdicts[4096];             /* on what it sent in this window: they come back
                                           with the broker's answers, after the window */
    size_t nverdicts;
    int64_t last;                       /* the last event handled */
    int64_t hi;                         /* its grant */
    bool running;
} s_toy_t;

static uint64_t s_rng = 88172645463325252ull;

static uint64_t
s_next (void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return s_rng;
}

static void
s_toy_add (s_toy_t *f, int64_t at)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 64;
        f->ev = realloc (f->ev, f->cap * sizeof *f->ev);
        assert_non_null (f->ev);
    }
    f->ev[f->n++] = at;
}

static int64_t
s_toy_min (const s_toy_t *f, size_t *at)
{
    int64_t m = NEVER;
    for (size_t i = 0; i < f->n; i++)
        if (f->ev[i] < m) {
            m = f->ev[i];
            if (at)
                *at = i;
        }
    return m;
}

static void
s_random_run (int n, int64_t verdict, int budget)
{
    int64_t L[64 * 64];
    for (int k = 0; k < n; k++)
        for (int j = 0; j < n; j++)
            L[k * n + j] = H / 2 * (1 + (int64_t) (s_next () % 16));
    macx_simtime_t *t = macx_simtime_new (n, L, verdict, NEVER);
    assert_non_null (t);
    static s_toy_t fed[16];
    memset (fed, 0, sizeof fed);
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 3; k++)
            s_toy_add (&fed[i], (int64_t) (s_next () % (20 * H)));
        assert_int_equal (macx_simtime_request (t, i, s_toy_min (&fed[i], NULL)), 0);
    }
    int handled = 0, steps = 0;
    uint64_t tag = 0;
    while (!macx_simtime_ended (t)) {
        assert_true (++steps < 1000000);
        int i = (int) (s_next () % (uint64_t) n);
        s_toy_t *f = &fed[i];
        if (!f->running) {
            int64_t bound = macx_simtime_bound (t, i);
            if (!bound)
                continue;
            /* Cut some windows short, as a pace or a credit would. */
            if (s_next () % 3 == 0) {
                int64_t lo = macx_simtime_promise (t, i);
                bound = lo + 1 + (int64_t) (s_next () % (uint64_t) (bound - lo));
            }
            int64_t lo = macx_simtime_promise (t, i), at;
            uint64_t tg;
            while (macx_simtime_take (t, i, bound, &tg, &at)) {
                assert_true (at >= f->hi);   /* nothing in its past */
                s_toy_add (f, at);
            }
            macx_simtime_grant (t, i, lo, bound);
            f->hi = bound;
            f->running = true;
            continue;
        }
        /* Run i's window to its end, then ask again. */
        size_t k = 0;
        int64_t e;
        while ((e = s_toy_min (f, &k)) < f->hi) {
            f->ev[k] = f->ev[--f->n];
            assert_true (e >= f->last);   /* its time never goes back */
            f->last = e;
            handled++;
            if (handled < budget && s_next () % 3 != 0) {
                int j = (i + 1 + (int) (s_next () % (uint64_t) (n - 1))) % n;
                int64_t arrive = e + L[i * n + j] + (int64_t) (s_next () % (3 * H));
                assert_int_equal (macx_simtime_arrival (t, j, arrive, ++tag), 0);
                assert_true (f->nverdicts < 4096);
                f->verdicts[f->nverdicts++] = e + verdict;
            }
            if (handled < budget && s_next () % 4 == 0)
                s_toy_add (f, e + (int64_t) (s_next () % (5 * H)));
        }
        /* The verdicts come after the window: none may fall inside it. */
        for (size_t v = 0; v < f->nverdicts; v++) {
            assert_true (f->verdicts[v] >= f->hi);
            s_toy_add (f, f->verdicts[v]);
        }
        f->nverdicts = 0;
        f->running = false;
        assert_int_equal (macx_simtime_request (t, i, s_toy_min (f, NULL)), 0);
    }
    assert_int_equal (macx_simtime_violations (t), 0);
    for (int i = 0; i < n; i++) {
        assert_int_equal (fed[i].n, 0);
        assert_int_equal (macx_simtime_next_arrival (t, i), NEVER);
        free (fed[i].ev);
    }
    assert_true (handled >= budget);
    macx_simtime_destroy (&t);
}

static void
test_simtime_random_runs (void **state)
{
    (void) state;
    for (int round = 0; round < 200; round++)
        s_random_run (2 + round % 12, H / 2 * (1 + round % 5), 3000);
}

/* ---- configuration ------------------------------------------------------------- */

static void
test_durations (void **state)
{
    (void) state;
    int64_t v;
    assert_int_equal (macx_broker_config_duration ("300000", &v), 0);
    assert_int_equal (v, 300000);
    assert_int_equal (macx_broker_config_duration ("5m", &v), 0);
    assert_int_equal (v, 300000);
    assert_int_equal (macx_broker_config_duration ("30d", &v), 0);
    assert_int_equal (v, 30 * 86400000LL);
    assert_int_equal (macx_broker_config_duration ("1.5h", &v), 0);
    assert_int_equal (v, 5400000);
    assert_int_equal (macx_broker_config_duration ("250ms", &v), 0);
    assert_int_equal (v, 250);
    assert_int_equal (macx_broker_config_duration ("5 m", &v), -1);
    assert_int_equal (macx_broker_config_duration ("-1", &v), -1);
    assert_int_equal (macx_broker_config_duration ("fast", &v), -1);
    assert_int_equal (macx_broker_config_duration ("3w", &v), -1);
}

/* Loads text as a config file; returns the code and fills msg. */
static int
s_load (const char *text, macx_broker_config_t *cfg, char *msg, size_t size)
{
    char path[] = "/tmp/macx-test-broker-XXXXXX";
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, text, strlen (text)), (ssize_t) strlen (text));
    close (fd);
    macx_broker_config_defaults (cfg);
    macx_error_t err = { 0 };
    int rc = macx_broker_config_load (path, cfg, &err);
    snprintf (msg, size, "%s", macx_error_text (&err));
    unlink (path);
    return rc;
}

static void
test_clock_config (void **state)
{
    (void) state;
    macx_broker_config_t cfg;
    char msg[600];
    assert_int_equal (s_load ("sync: false\n"
                              "clock:\n"
                              "  mode: simulated\n"
                              "  start: 2026-03-02\n"
                              "  end: 2027-03-02\n"
                              "  seed: 7\n"
                              "  verdict_hours: 1.5\n"
                              "  pace_ms: 20\n"
                              "  federates: [mi5, ctp]\n"
                              "  transit:\n"
                              "    default: {dist: uniform, min: 2, max: 12}\n"
                              "    routes:\n"
                              "      - {from: mi5, to: ctp, transit: {dist: fixed, hours: 1}}\n"
                              "      - {from: '*', to: ctp, transit: {dist: triangular, min: 1, mode: 2, max: 3}}\n",
                              &cfg, msg, sizeof msg), 0);
    assert_false (cfg.sync);
    assert_true (cfg.clock.simulated);
    assert_int_equal (cfg.clock.start_ms, 20514LL * 86400000);
    assert_int_equal (cfg.clock.seed, 7);
    assert_int_equal (cfg.clock.nfederates, 2);
    assert_string_equal (cfg.clock.federates[1], "ctp");
    assert_true (cfg.clock.pace_ms == 20);
    assert_true (cfg.clock.verdict_hours == 1.5);
    assert_int_equal (cfg.clock.nroutes, 2);
    /* the most specific route wins */
    assert_true (macx_broker_clock_transit (&cfg.clock, "mi5", "ctp")->a == 1);
    assert_int_equal (macx_broker_clock_transit (&cfg.clock, "ctp", "ctp")->kind, MACX_DIST_TRIANGULAR);
    assert_true (macx_broker_clock_transit (&cfg.clock, "ctp", "mi5")->b == 12);

    struct { const char *text, *want; } bad[] = {
        { "clock:\n  mode: simulated\n  federates: [mi5]\n", "needs a 'start' date" },
        { "clock:\n  mode: simulated\n  start: 2026-03-02\n", "needs its 'federates'" },
        { "clock:\n  mode: simulated\n  start: 2026-03-02\n  federates: [mi5]\n"
          "  transit:\n    default: {dist: fixed, hours: 0}\n", "must take some time" },
        { "clock:\n  mode: simulated\n  start: 2026-03-02\n  federates: [mi5]\n"
          "  transit:\n    default: {dist: lognormal, median: 2, sigma: 1}\n", "unknown distribution 'lognormal'" },
        { "clock:\n  mode: simulated\n  start: 2026-03-02\n  federates: [mi5]\n"
          "  transit:\n    routes:\n      - {from: mi5, to: ogd-dwp, transit: {dist: fixed, hours: 1}}\n",
          "'ogd-dwp' is not a federate" },
        { "clock:\n  mode: sundial\n", ":2:9: clock 'mode' must be wall or simulated" },
        { "clock:\n  tick: 1\n", ":2:3: unknown key 'tick' in clock" },
        { "clock:\n  start: 2026-02-30\n", "must be a date" },
        { "clock:\n  federates: [mi5, mi5]\n", "listed twice" },
        { "clock:\n  mode: simulated\n  start: 2026-03-02\n  federates: [mi5]\n  verdict_hours: 0\n",
          "'verdict_hours' must be above 0" },
        { "sync: maybe\n", "'sync' must be true or false" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = s_load (bad[i].text, &cfg, msg, sizeof msg);
        if (rc == 0 || !strstr (msg, bad[i].want))
            fail_msg ("config %zu: rc %d, message '%s', want '%s'", i, rc, msg, bad[i].want);
    }
}

/* The limits, and every other option, from the one table: set in the
 * config file under limits:, range-checked with file:line:column. */
static void
test_limits_config (void **state)
{
    (void) state;
    macx_broker_config_t cfg;
    char msg[600];
    assert_int_equal (s_load ("workers: 2\nmap_size: 4G\nlimits:\n  max_peers: 16\n  max_credit: 64\n"
                              "  max_inflight_bytes: 1M\n  peer_queue_frames: 32\n"
                              "  peer_queue_bytes: 64K\n  peer_out_frames: 16\n  verify_inflight: 0\n",
                              &cfg, msg, sizeof msg), 0);
    assert_int_equal (cfg.workers, 2);
    assert_int_equal (cfg.map_size, 4ULL << 30);
    assert_int_equal (cfg.limits.max_peers, 16);
    assert_int_equal (cfg.limits.max_credit, 64);
    assert_int_equal (cfg.limits.max_inflight_bytes, 1 << 20);
    assert_int_equal (cfg.limits.peer_queue_frames, 32);
    assert_int_equal (cfg.limits.peer_queue_bytes, 64 << 10);
    assert_int_equal (cfg.limits.peer_out_frames, 16);
    /* a limit not given keeps its default */
    assert_int_equal (s_load ("limits: {max_credit: 8}\n", &cfg, msg, sizeof msg), 0);
    assert_int_equal (cfg.limits.max_credit, 8);
    assert_int_equal (cfg.limits.peer_out_frames, 4096);
    assert_int_equal (s_load ("limits: {peer_queue_bytes: 2G}\n", &cfg, msg, sizeof msg), MACX_EFORMAT);
    assert_non_null (strstr (msg, ":1:28: 'peer_queue_bytes' must be bytes, or a number with K, "
                             "M, G or T, from 64K to 1G, not '2G'"));
    assert_int_equal (s_load ("limits: {max_credit: 0}\n", &cfg, msg, sizeof msg), MACX_EFORMAT);
    assert_non_null (strstr (msg, ":1:22: 'max_credit' must be a whole number from 1 to 1048576, "
                             "not '0'"));

    /* every option the command line reads is in the table, once; the
     * command line sets it with the same check */
    for (size_t i = 0; i < macx_broker_noptions; i++) {
        const macx_broker_option_t *o = &macx_broker_options[i];
        assert_ptr_equal (macx_broker_option_find (o->section, o->key), o);
        assert_non_null (o->help);
    }
    macx_error_t err = { 0 };
    macx_broker_config_defaults (&cfg);
    const macx_broker_option_t *o = macx_broker_option_find ("limits", "peer_out_frames");
    assert_int_equal (macx_broker_option_set (&cfg, o, "--limit peer_out_frames", "15", &err),
                      MACX_EINVAL);
    assert_string_equal (macx_error_text (&err), "--limit peer_out_frames must be a whole number "
                         "from 16 to 1048576, not '15'");
    assert_int_equal (macx_broker_option_set (&cfg, o, "--limit peer_out_frames", "16", &err), 0);
    assert_int_equal (cfg.limits.peer_out_frames, 16);
    char text[64];
    macx_broker_config_defaults (&cfg);
    macx_broker_option_format (&cfg, macx_broker_option_find ("limits", "max_inflight_bytes"), text,
                               sizeof text);
    assert_string_equal (text, "16M");
    macx_broker_option_bounds (macx_broker_option_find (NULL, "map_size"), text, sizeof text);
    assert_string_equal (text, "64K to 16T");
}

/* The retry rule's table: exactly the reasons under which the broker stored
 * nothing and judged nothing of the record are transient. */
static void
test_transient_reasons (void **state)
{
    (void) state;
    assert_true (macx_reason_transient (MACX__REASON__STORE_UNAVAILABLE));
    assert_true (macx_reason_transient (MACX__REASON__SHUTTING_DOWN));
    int transient = 0;
    for (unsigned i = 0; i < macx__reason__descriptor.n_values; i++)
        transient += macx_reason_transient (macx__reason__descriptor.values[i].value);
    assert_int_equal (transient, 2);
    /* the same bytes would be refused the same way */
    assert_false (macx_reason_transient (MACX__REASON__SEQUENCE_REGRESSION));
    assert_false (macx_reason_transient (MACX__REASON__REPLAY));
    assert_false (macx_reason_transient (MACX__REASON__RATE_LIMITED));
    assert_false (macx_reason_transient (MACX__REASON__CLOCK_SKEW));
    assert_false (macx_reason_transient (MACX__REASON__INTERNAL_ERROR));
    assert_false (macx_reason_transient (MACX__REASON__REASON_NONE));
    assert_false (macx_reason_transient (-1));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_simtime_rejects_bad_arguments),
        cmocka_unit_test (test_simtime_waits_for_everyone),
        cmocka_unit_test (test_simtime_bounds),
        cmocka_unit_test (test_simtime_counts_violations),
        cmocka_unit_test (test_simtime_ends),
        cmocka_unit_test (test_simtime_random_runs),
        cmocka_unit_test (test_durations),
        cmocka_unit_test (test_clock_config),
        cmocka_unit_test (test_limits_config),
        cmocka_unit_test (test_transient_reasons),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
