/* SPDX-License-Identifier: MIT */
#include "plan.h"

static void plan_set_next(const JobConfig *cfg, int64_t after, PlanNext *next) {
        next->has = firing_next(cfg, after, &next->firing) == 0;
}

/* The runnable firings a walk found: the newest, the one before it, the oldest, and how
 * many there were before the newest. */
typedef struct Walked {
        JobFiring last, before_last, first;
        uint64_t older;
} Walked;

/* Walk the firings in [from.f.t, now]: excluded ones are emitted as such, the runnable ones
 * are collected in *w. Stops after PLAN_MAX_STEPS and jumps ahead, counting what it skipped
 * as at least one. */
static bool walk(const JobConfig *cfg, int64_t now, JobFiring from, Walked *w, PlanNext *next,
                 plan_emit_cb emit, void *userdata) {
        JobFiring f = from;
        uint64_t count = 0;
        bool have = false, more = true;

        for (unsigned steps = 0; more && f.f.t <= now; steps++) {
                if (steps == PLAN_MAX_STEPS) {
                        /* Too many to count one by one: skip to the catch-up window's start. */
                        int64_t window = cfg->policy->catch_up / 1000000 + PLAN_LATE_TOLERANCE;

                        count++;
                        more = firing_next(cfg, now - window - 1, &f) == 0;
                        if (!more || f.f.t > now)
                                break;
                }
                if (f.excluded)
                        emit(&(PlanStep) { .kind = PLAN_EXCLUDED, .firing = f }, userdata);
                else {
                        if (have) {
                                count++;
                                w->before_last = w->last;
                        } else
                                w->first = f;
                        w->last = f;
                        have = true;
                }
                more = firing_next(cfg, f.f.t, &f) == 0;
        }
        next->has = more;
        if (more)
                next->firing = f;
        w->older = count;
        return have;
}

/* Decide about the newest due firing w->last (with w->older runnable ones before it). */
static void decide(const JobConfig *cfg, int64_t now, const Walked *w, plan_emit_cb emit,
                   void *userdata) {
        int64_t late = now - w->last.f.t;
        bool catch_up = late > PLAN_LATE_TOLERANCE;

        if (!catch_up || (cfg->policy->catch_up > 0 && (uint64_t) late <= cfg->policy->catch_up / 1000000)) {
                if (w->older > 0)
                        emit(&(PlanStep) { .kind = PLAN_MISSED, .firing = w->before_last,
                                                     .oldest = w->first.f.t, .n_missed = w->older }, userdata);
                emit(&(PlanStep) { .kind = PLAN_RUN, .firing = w->last,
                                             .catch_up = catch_up }, userdata);
                return;
        }
        emit(&(PlanStep) { .kind = PLAN_MISSED, .firing = w->last, .oldest = w->first.f.t,
                                     .n_missed = w->older + 1 }, userdata);
}

void plan_due(const JobConfig *cfg, int64_t now, PlanNext *next, plan_emit_cb emit, void *userdata) {
        Walked w;

        if (!next->has || next->firing.f.t > now)
                return;
        if (walk(cfg, now, next->firing, &w, next, emit, userdata))
                decide(cfg, now, &w, emit, userdata);
}

void plan_start(const JobConfig *cfg, int64_t now, const int64_t *last, PlanNext *next,
                plan_emit_cb emit, void *userdata) {
        JobFiring first;
        Walked w;

        if (!last || *last >= now) {
                plan_set_next(cfg, now, next);
                return;
        }
        if (firing_next(cfg, *last, &first) < 0) {
                next->has = false;
                return;
        }
        if (first.f.t > now) {
                next->has = true;
                next->firing = first;
                return;
        }
        if (walk(cfg, now, first, &w, next, emit, userdata))
                decide(cfg, now, &w, emit, userdata);
}
