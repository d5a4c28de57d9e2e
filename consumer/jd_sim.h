/*
 * jd_sim: deterministic synthetic customer telemetry for demos, tests and
 * the bench.
 *
 * N accounts across three segments (enterprise, mid-market, smb), each on
 * one journey archetype:
 *   healthy    steady usage by ~70% of seats, first value in the first weeks;
 *   drifting   good start, then usage collapses (low utilization risk);
 *   expanding  more users than seats (utilization >= 0.9: expansion);
 *   stalled    little usage and never a first value (no-first-value risk).
 * Every account is created with an account_updated carrying segment, seats,
 * plan, arr and a renewal date, some within 90 days of the end of the run.
 * Events are emitted day by day in event-time order over [end - days, end),
 * with logins, feature use, first_value, NPS answers, support cases and a
 * few events of a type journeyd does not know. The same seed gives the same
 * events, byte for byte.
 *
 * Pure: no I/O. Ownership: jd_sim_new returns an object freed by
 * jd_sim_destroy; event strings point into the arena passed to jd_sim_next.
 */
#ifndef JD_SIM_H
#define JD_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "jd_arena.h"
#include "jd_event.h"

typedef struct jd_sim_conf {
    int      sm_accounts;  /* default 150 */
    int      sm_days;      /* default 60 */
    int64_t  sm_end_ms;    /* end of the simulated period (exclusive) */
    uint64_t sm_seed;      /* default 42 */
} jd_sim_conf_t;

void jd_sim_conf_default(jd_sim_conf_t *sm);

typedef struct jd_sim jd_sim_t;

jd_sim_t *jd_sim_new(const jd_sim_conf_t *sm);
void jd_sim_destroy(jd_sim_t *sim);

/* Writes the next event into *ev (strings in `ar`). Returns 1, or 0 when
 * the simulation is over, or -1 when out of memory. */
int jd_sim_next(jd_sim_t *sim, jd_event_t *ev, jd_arena_t *ar);

/* Events emitted so far. */
uint64_t jd_sim_count(const jd_sim_t *sim);

#endif
