/* dist.h -- counter-based deterministic randomness and the distributions
 * pilots draw from (service times, transit times). Shared by the scenario
 * (agents/) and the broker's simulated clock, so both draw alike. Pure: no
 * I/O; the YAML reader takes a node of a document the caller owns. */
#ifndef MACX_DIST_H
#define MACX_DIST_H

#include <libfyaml.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A counter-based generator: the same (seed, stream, index) always gives
 * the same number, whatever order processes ask in. stream is any string
 * naming what is drawn (e.g. "service/la-london/S-000042/3"). */
uint64_t macx_rand_u64 (uint64_t seed, const char *stream, uint64_t index);
/* Uniform in (0, 1). */
double macx_rand_unit (uint64_t seed, const char *stream, uint64_t index);

typedef enum { MACX_DIST_FIXED, MACX_DIST_UNIFORM, MACX_DIST_TRIANGULAR, MACX_DIST_LOGNORMAL } macx_dist_kind_t;

/* A distribution in the caller's unit (days for service times, hours for
 * transit). fixed: a; uniform: [a,b]; triangular: min a, mode b, max c;
 * lognormal: median a, sigma b (of the log), cap c (0: none). */
typedef struct {
    macx_dist_kind_t kind;
    double a, b, c;
    bool set;
} macx_dist_t;

/* A pilot's defaults (the scenario's and the broker's alike): a record
 * reaches its recipient 6 to 24 hours after it was sent, with the
 * recipient's caseworker within the day; a sender learns the broker's
 * verdict 6 hours after sending. */
#define MACX_TRANSIT_DEFAULT ((macx_dist_t) { MACX_DIST_UNIFORM, 6, 24, 0, true })
#define MACX_VERDICT_DEFAULT_HOURS 6.0

/* Draws a value from d with the uniforms u1, u2 in (0,1); never negative. */
double macx_dist_sample (const macx_dist_t *d, double u1, double u2);

/* The least value d can give (0 for a lognormal). */
double macx_dist_min (const macx_dist_t *d);

/* Reads a distribution mapping: {dist: fixed, <fixed_key>: V},
 * {dist: uniform, min, max}, {dist: triangular, min, mode, max} or, when
 * lognormal is allowed, {dist: lognormal, median, sigma, cap}; values from
 * 0 to max. Returns 0, or -1 with *at the node at fault and why a sentence
 * (the caller adds file:line:column). what names it ("a service time"). */
int macx_dist_read (struct fy_node *n, const char *what, const char *fixed_key, double max,
                    bool lognormal, macx_dist_t *d, struct fy_node **at, char *why, size_t size);

/* Writes d as a YAML flow mapping that macx_dist_read reads back. */
void macx_dist_format (const macx_dist_t *d, const char *fixed_key, char *buf, size_t size);

#endif
