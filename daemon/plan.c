/* SPDX-License-Identifier: MIT */
#include "plan.h"

static void plan_set_next(const JobConfig *cfg, int64_t after, PlanNext *next) {
        next->has = job_next_firing(cfg, after, &next->firing) == 0;
}

/* Walk the firings in [from.f.t, now]: excluded ones are emitted as such, the others are
 * collected; the newest runnable one is returned in *ret_last with the count of the others.
 * Stops after PLAN_MAX_STEPS and jumps ahead, counting what it skipped as at least one. */
static bool walk(const JobConfig *cfg, int64_t now, JobFiring from, uint64_t *ret_count,
                 JobFiring *ret_last, PlanNext *next, plan_emit_cb emit, void *userdata) {
        JobFiring f = from;
        uint64_t count = 0;
        bool have = false, more = true;

        for (unsigned steps = 0; more && f.f.t <= now; steps++) {
                if (steps == PLAN_MAX_STEPS) {
                        /* Too many to count one by one: skip to the catch-up window's start. */
                        int64_t window = cfg->catch_up / 1000000 + PLAN_LATE_TOLERANCE;

                        count++;
                        more = job_next_firing(cfg, now - window - 1, &f) == 0;
                        if (!more || f.f.t > now)
                                break;
                }
                if (f.excluded)
                        emit(userdata, &(PlanStep) { .kind = PLAN_EXCLUDED, .firing = f });
                else {
                        if (have)
                                count++;
                        *ret_last = f;
                        have = true;
                }
                more = job_next_firing(cfg, f.f.t, &f) == 0;
        }
        next->has = more;
        if (more)
                next->firing = f;
        *ret_count = count;
        return have;
}

/* Decide about the newest due firing `last` (with `older` runnable ones before it). */
static void decide(const JobConfig *cfg, int64_t now, const JobFiring *last, uint64_t older,
                   JobFiring *first_missed, plan_emit_cb emit, void *userdata) {
        int64_t late = now - last->f.t;

        if (late <= PLAN_LATE_TOLERANCE) {
                if (older > 0)
                        emit(userdata, &(PlanStep) { .kind = PLAN_MISSED, .firing = *first_missed,
                                                     .n_missed = older });
                emit(userdata, &(PlanStep) { .kind = PLAN_RUN, .firing = *last });
                return;
        }
        if (cfg->catch_up > 0 && (uint64_t) late <= cfg->catch_up / 1000000) {
                if (older > 0)
                        emit(userdata, &(PlanStep) { .kind = PLAN_MISSED, .firing = *first_missed,
                                                     .n_missed = older });
                emit(userdata, &(PlanStep) { .kind = PLAN_RUN, .firing = *last, .catch_up = true });
                return;
        }
        emit(userdata, &(PlanStep) { .kind = PLAN_MISSED, .firing = *last, .n_missed = older + 1 });
}

void plan_due(const JobConfig *cfg, int64_t now, PlanNext *next, plan_emit_cb emit, void *userdata) {
        JobFiring first = next->firing, last;
        uint64_t older;

        if (!next->has || first.f.t > now)
                return;
        if (walk(cfg, now, first, &older, &last, next, emit, userdata))
                decide(cfg, now, &last, older, &first, emit, userdata);
}

void plan_start(const JobConfig *cfg, int64_t now, const int64_t *last, PlanNext *next,
                plan_emit_cb emit, void *userdata) {
        JobFiring first, newest;
        uint64_t older;

        if (!last || *last >= now) {
                plan_set_next(cfg, now, next);
                return;
        }
        if (job_next_firing(cfg, *last, &first) < 0) {
                next->has = false;
                return;
        }
        if (first.f.t > now) {
                next->has = true;
                next->firing = first;
                return;
        }
        if (walk(cfg, now, first, &older, &newest, next, emit, userdata))
                decide(cfg, now, &newest, older, &first, emit, userdata);
}
