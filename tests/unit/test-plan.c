/* SPDX-License-Identifier: MIT */
/* The scheduler's decisions under an injected clock: on-time and late wakes, the clock
 * stepped forwards and backwards, catch-up windows, excluded firings. */
#include "plan.h"
#include "tests.h"
#include "tz.h"

#define T0 INT64_C(1795392000)  /* 2026-11-23T00:00:00Z */

typedef struct Recorder {
        PlanStep steps[16];
        int n;
} Recorder;

static void record(const PlanStep *s, void *userdata) {
        Recorder *r = userdata;

        if (r->n < 16)
                r->steps[r->n++] = *s;
}

/* The policies of the jobs below (a JobConfig borrows its policy). */
static JobPolicy policies[32];
static size_t n_policies;

static JobConfig job(const char *expr, usec_t catch_up) {
        JobPolicy *p = &policies[n_policies++ % 32];
        JobConfig j = { .name = (char *) "j", .tz = tz_utc(), .policy = p, .enabled = true };
        const char *msg;
        unsigned col;

        *p = (JobPolicy) { .catch_up = catch_up };
        ASSERT_OK(cronexpr_parse(expr, "j", &j.schedule, &col, &msg));
        return j;
}

/* The pending firing after `after`, as the daemon keeps it. */
static PlanNext pending(const JobConfig *j, int64_t after) {
        PlanNext n = {};

        n.has = firing_next(j, after, &n.firing) == 0;
        return n;
}

TEST(on_time_runs_and_moves_on) {
        JobConfig j = job("0 * * * *", 0);
        PlanNext n = pending(&j, T0 - 1);
        Recorder r = {};

        ASSERT_EQ(n.firing.f.t, T0);
        plan_due(&j, T0, &n, record, &r);
        ASSERT_EQ(r.n, 1);
        ASSERT_EQ(r.steps[0].kind, PLAN_RUN);
        ASSERT_EQ(r.steps[0].firing.f.t, T0);
        ASSERT_TRUE(!r.steps[0].catch_up);
        ASSERT_EQ(n.firing.f.t, T0 + 3600);
}

TEST(late_wake_within_tolerance_still_runs) {
        JobConfig j = job("0 * * * *", 0);
        PlanNext n = pending(&j, T0 - 1);
        Recorder r = {};

        plan_due(&j, T0 + PLAN_LATE_TOLERANCE, &n, record, &r);
        ASSERT_EQ(r.n, 1);
        ASSERT_EQ(r.steps[0].kind, PLAN_RUN);
}

TEST(not_due_does_nothing) {
        JobConfig j = job("0 * * * *", 0);
        PlanNext n = pending(&j, T0 - 1);
        Recorder r = {};

        plan_due(&j, T0 - 1, &n, record, &r);
        ASSERT_EQ(r.n, 0);
        ASSERT_EQ(n.firing.f.t, T0);
}

TEST(forward_jump_without_catch_up_is_missed) {
        JobConfig j = job("0 * * * *", 0);
        PlanNext n = pending(&j, T0 - 1);
        Recorder r = {};

        /* The clock jumps from before T0 to T0 + 5h30m: firings at T0 … T0+5h are missed. */
        plan_due(&j, T0 + 5 * 3600 + 1800, &n, record, &r);
        ASSERT_EQ(r.n, 1);
        ASSERT_EQ(r.steps[0].kind, PLAN_MISSED);
        ASSERT_EQ(r.steps[0].n_missed, 6);
        ASSERT_EQ(r.steps[0].oldest, T0);
        ASSERT_EQ(r.steps[0].firing.f.t, T0 + 5 * 3600);
        ASSERT_EQ(n.firing.f.t, T0 + 6 * 3600);
}

TEST(forward_jump_with_catch_up_runs_newest_once) {
        JobConfig j = job("0 * * * *", 6 * 3600 * USEC_PER_SEC);
        PlanNext n = pending(&j, T0 - 1);
        Recorder r = {};

        plan_due(&j, T0 + 5 * 3600 + 1800, &n, record, &r);
        ASSERT_EQ(r.n, 2);
        ASSERT_EQ(r.steps[0].kind, PLAN_MISSED);
        ASSERT_EQ(r.steps[0].n_missed, 5);
        ASSERT_EQ(r.steps[0].oldest, T0);               /* the missed ones: T0 … T0+4h */
        ASSERT_EQ(r.steps[0].firing.f.t, T0 + 4 * 3600);
        ASSERT_EQ(r.steps[1].kind, PLAN_RUN);
        ASSERT_TRUE(r.steps[1].catch_up);
        ASSERT_EQ(r.steps[1].firing.f.t, T0 + 5 * 3600);
}

TEST(catch_up_window_too_short) {
        JobConfig j = job("0 0 * * *", 3600 * USEC_PER_SEC);
        PlanNext n = pending(&j, T0 - 1);
        Recorder r = {};

        plan_due(&j, T0 + 2 * 3600, &n, record, &r);
        ASSERT_EQ(r.n, 1);
        ASSERT_EQ(r.steps[0].kind, PLAN_MISSED);
        ASSERT_EQ(r.steps[0].n_missed, 1);
}

TEST(backward_step_does_not_rerun) {
        JobConfig j = job("0 * * * *", 0);
        PlanNext n = pending(&j, T0 - 1);
        Recorder r = {};

        plan_due(&j, T0, &n, record, &r);               /* runs T0 */
        ASSERT_EQ(r.n, 1);
        /* The clock is set back two hours: nothing is due until T0 + 1h comes round. */
        for (int64_t now = T0 - 7200; now < T0 + 3600; now += 600)
                plan_due(&j, now, &n, record, &r);
        ASSERT_EQ(r.n, 1);
        plan_due(&j, T0 + 3600, &n, record, &r);
        ASSERT_EQ(r.n, 2);
        ASSERT_EQ(r.steps[1].firing.f.t, T0 + 3600);
}

TEST(huge_jump_is_bounded) {
        JobConfig j = job("* * * * * *", 0);
        PlanNext n = pending(&j, T0 - 1);
        Recorder r = {};

        /* A year of every-second firings is not walked one by one. */
        plan_due(&j, T0 + 365 * 86400, &n, record, &r);
        ASSERT_EQ(r.n, 2);
        ASSERT_EQ(r.steps[0].kind, PLAN_MISSED);
        ASSERT_TRUE(r.steps[0].n_missed >= PLAN_MAX_STEPS);
        ASSERT_EQ(r.steps[1].kind, PLAN_RUN);
        ASSERT_EQ(r.steps[1].firing.f.t, T0 + 365 * 86400);
        ASSERT_EQ(n.firing.f.t, T0 + 365 * 86400 + 1);
}

TEST(excluded_firings_are_reported_not_run) {
        Exclude x = { .text = (char *) "2026-11-23", .is_date = true, .year = 2026, .month = 11, .day = 23 };
        JobConfig j = job("0 12 * * *", 0);
        PlanNext n;
        Recorder r = {};

        j.excludes = &x;
        j.n_excludes = 1;
        n = pending(&j, T0);
        plan_due(&j, T0 + 12 * 3600, &n, record, &r);
        ASSERT_EQ(r.n, 1);
        ASSERT_EQ(r.steps[0].kind, PLAN_EXCLUDED);
        ASSERT_EQ(n.firing.f.t, T0 + 86400 + 12 * 3600);
}

TEST(start_with_history) {
        JobConfig j = job("0 * * * *", 6 * 3600 * USEC_PER_SEC);
        int64_t last = T0 - 3 * 3600;
        PlanNext n = {};
        Recorder r = {};

        plan_start(&j, T0 + 600, &last, &n, record, &r);
        ASSERT_EQ(r.n, 2);
        ASSERT_EQ(r.steps[0].kind, PLAN_MISSED);
        ASSERT_EQ(r.steps[0].n_missed, 2);
        ASSERT_EQ(r.steps[1].kind, PLAN_RUN);
        ASSERT_TRUE(r.steps[1].catch_up);
        ASSERT_EQ(r.steps[1].firing.f.t, T0);
        ASSERT_EQ(n.firing.f.t, T0 + 3600);

        /* No history: nothing missed, next firing after now. */
        r.n = 0;
        plan_start(&j, T0 + 600, NULL, &n, record, &r);
        ASSERT_EQ(r.n, 0);
        ASSERT_EQ(n.firing.f.t, T0 + 3600);
}

TESTS_MAIN
