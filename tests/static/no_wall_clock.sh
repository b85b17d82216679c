#!/usr/bin/env bash
# no_wall_clock.sh -- no simulated decision reads the wall clock: the object
# files of the agencies' logic (agency.c), their synthetic data (synth.c)
# and the scenario (scenario.c) may not call any clock but the agent
# runtime's (macx_agent_now, macx_agent_timer): no time(), gettimeofday,
# clock_gettime, or macx's wall or monotonic clocks, today's date, sleeps
# or rand(). Checked on the compiled objects (nm -u), so a call hidden
# behind a macro or a helper of the same file is caught too.
# Usage: no_wall_clock.sh OBJECT...
set -u
forbidden='^(time|gettimeofday|clock_gettime|clock|ftime|localtime|localtime_r|gmtime|gmtime_r|mktime|timespec_get|usleep|nanosleep|sleep|rand|rand_r|random|srand|drand48|macx_clock_wall_ms|macx_clock_mono_ns|macx_date_today)$'
bad=0
checked=0
for o in "$@"; do
    case $(basename "$o") in agency.c.o | synth.c.o | scenario.c.o) ;; *) continue ;; esac
    checked=$((checked + 1))
    hits=$(nm -u "$o" | awk '{print $2}' | sed 's/@.*//' | grep -E "$forbidden" || true)
    if [ -n "$hits" ]; then
        echo "FAIL: $(basename "$o") calls $(echo $hits | tr ' ' ','): a simulated decision must take its time from the agent runtime's clock" >&2
        bad=1
    fi
done
if [ "$checked" != 3 ]; then
    echo "FAIL: expected agency.c.o, synth.c.o and scenario.c.o among the objects, found $checked" >&2
    exit 1
fi
[ "$bad" = 0 ] && echo "no_wall_clock: ok (agency, synth, scenario call no clock of their own)"
exit $bad
