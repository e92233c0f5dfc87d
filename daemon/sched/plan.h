/* SPDX-License-Identifier: MIT */
#pragma once

/* What to do with a job's firings when the wall clock reads `now`: run the one that is due,
 * count the ones missed (downtime, a suspended machine, a clock stepped forward), apply
 * catch_up:, and log the excluded ones. Pure: the clock is a parameter, so the unit tests
 * drive it through late wakes and clock steps without touching the machine's clock. */

#include <stdbool.h>
#include <stdint.h>

#include "firing.h"

/* A firing up to this many seconds late still runs as scheduled (a busy loop, a slow
 * wake-up); older ones are "missed" and follow catch_up:. */
#define PLAN_LATE_TOLERANCE 60
/* Counting missed firings stops here (an every-second job after a year's clock jump). */
#define PLAN_MAX_STEPS 10000

typedef enum PlanKind {
        PLAN_RUN,               /* start a run for `firing` */
        PLAN_MISSED,            /* `n_missed` firings from `oldest` to `firing` were missed */
        PLAN_EXCLUDED,          /* `firing` is excluded by the table */
} PlanKind;

typedef struct PlanStep {
        PlanKind kind;
        JobFiring firing;       /* PLAN_MISSED: the newest missed */
        int64_t oldest;         /* PLAN_MISSED: the oldest missed */
        uint64_t n_missed;      /* PLAN_MISSED; at least, when the count was cut short */
        bool catch_up;          /* PLAN_RUN: a missed firing run late because of catch_up: */
} PlanStep;

typedef void (*plan_emit_cb)(const PlanStep *step, void *userdata);

typedef struct PlanNext {
        bool has;               /* false: the schedule has no further firing */
        JobFiring firing;
} PlanNext;

/* `next` holds the job's pending firing (due: next->firing.f.t <= now). Emits what to do
 * about every firing up to now, in order, and leaves in `next` the first firing after now. */
void plan_due(const JobConfig *cfg, int64_t now, PlanNext *next, plan_emit_cb emit, void *userdata);

/* At start-up (or when a job appears): the first pending firing after now. If the state
 * knows the job's last completed firing (`last`), firings in (last, now] were missed while
 * the daemon was down: the newest runs once when within catch_up:, the rest are reported. */
void plan_start(const JobConfig *cfg, int64_t now, const int64_t *last, PlanNext *next,
                plan_emit_cb emit, void *userdata);
